"""The private-API uses (transforms/internals.py) are pinned: the installed apache-beam, boto3 and
soundfile are the versions the patches were checked against, every shape a patch relies on is there,
and a changed shape is reported with the name of the patch that relies on it."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from transforms import internals, storage


def test_the_installed_libraries_are_the_versions_the_patches_were_checked_against():
    installed = internals.installed_versions()
    changed = {
        name: f"{internals.TESTED_WITH[name]} -> {v}"
        for name, v in installed.items()
        if v != internals.TESTED_WITH[name]
    }
    patches = sorted(p for p, needs in internals.PATCHES.items() if set(needs) & set(changed))
    assert not changed, (
        f"upgraded {changed}: the patches {patches} of transforms/internals.py use these libraries' private API; "
        f"check them (this file's other tests: {internals.problems() or 'no shape problem found'}), then update TESTED_WITH"
    )


def test_every_patch_finds_the_shapes_it_relies_on():
    assert internals.problems() == []


def test_a_changed_beam_signature_is_reported_for_local_bundles(monkeypatch):
    from apache_beam.runners.portability.fn_api_runner import execution

    internals.restore_local_bundles()
    monkeypatch.setattr(execution.GroupingBuffer, "partition", lambda self, n, window_size: [])
    [problem] = internals.problems()
    assert problem.startswith("local_bundles: GroupingBuffer.partition takes ['self', 'n', 'window_size']")


def test_a_client_that_no_longer_sets_its_download_state_is_reported_for_s3_clients(monkeypatch):
    from apache_beam.io.aws.clients.s3 import boto3_client

    def new_init(self, options):
        self.client = None

    monkeypatch.setattr(internals, "_CLIENT_INIT", [])
    monkeypatch.setattr(boto3_client.Client, "__init__", new_init)
    problems = internals.problems()
    assert problems and all(p.startswith("s3_clients: ") for p in problems)
    assert "no longer sets self._download_pos" in problems[-1]


def test_soundfile_without_its_private_reader_is_reported(monkeypatch):
    monkeypatch.setattr(sf, "_snd", object())
    assert internals.problems() == ["soundfile_reader: soundfile._snd.sf_readf_float is gone"]


def test_storage_configure_shares_one_boto3_client_per_s3_settings():
    from apache_beam.io.aws.clients.s3 import boto3_client

    storage.configure(None)
    options = {"s3_endpoint_url": "http://127.0.0.1:9", "s3_region_name": "us-east-1"}
    options |= {"s3_access_key_id": "k", "s3_secret_access_key": "s"}
    first, second = boto3_client.Client(options), boto3_client.Client(options)
    other = boto3_client.Client({**options, "s3_region_name": "eu-west-1"})
    assert first.client is second.client and other.client is not first.client
    assert (second._download_request, second._download_stream, second._download_pos) == (None, None, 0)


@pytest.mark.parametrize("frames", [1, 4096, 10_000])
def test_the_soundfile_reader_reads_what_soundfile_reads(frames):
    audio = np.sin(np.arange(frames * 2, dtype=np.float32) / 7).reshape(frames, 2) * 0.5
    buffer = io.BytesIO()
    sf.write(buffer, audio, 48_000, format="FLAC", subtype="PCM_16")
    expected = sf.read(io.BytesIO(buffer.getvalue()), dtype="float32")[0]
    block = np.empty((3000, 2), dtype=np.float32)
    pieces = []
    with sf.SoundFile(io.BytesIO(buffer.getvalue())) as sound:
        read = internals.soundfile_reader(sound, block)
        while (got := read(3000)) > 0:
            pieces.append(block[:got].copy())
    assert np.array_equal(np.concatenate(pieces), expected)
