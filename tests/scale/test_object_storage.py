"""Shards written to and read from an S3-compatible server (moto), through Beam's FileSystems."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

pytest.importorskip("moto.server")


def test_shards_are_built_from_and_into_a_bucket_and_validate_there(s3, bad_and_good_files):
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.cli import run_build
    from pipelines.options import config_from
    from pipelines.validate import main as validate
    from tests.conftest import FilesSource

    client, flags = s3
    FileSystems.set_options(PipelineOptions(flags))
    uris = []
    for name in ("good_a", "good_b", "not_audio"):
        path = bad_and_good_files[name]
        client.put_object(Bucket="corpus", Key=f"in/{path.name}", Body=path.read_bytes())
        uris.append(f"s3://corpus/in/{path.name}")

    class S3Files(FilesSource):
        def items(self):
            for item, uri in zip(super().items(), uris):
                yield item.__class__(**{**item.__dict__, "uri": uri})

    config = config_from({"source": "s3", "split_fractions": (1.0, 0.0, 0.0), "batch_items": 8, "workers": 1})
    out = "s3://corpus/shards/s3test"
    files = S3Files([bad_and_good_files[n] for n in ("good_a", "good_b", "not_audio")])
    assert run_build(files, out, "s3test", config, flags) == 0

    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="corpus", Prefix="shards/")["Contents"])
    assert "shards/s3test/train/000000.tar" in keys and "shards/s3test/train/000000.stats.json" in keys
    assert "shards/s3test/dataset_card.json" in keys and not any(".tmp-" in k for k in keys)
    body = client.get_object(Bucket="corpus", Key="shards/s3test/train/000000.tar")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert len(tar.getnames()) == 4  # two good files, flac + json each
    failures = client.get_object(Bucket="corpus", Key="shards/s3test/failures/train-000000.jsonl")["Body"].read()
    assert json.loads(failures.splitlines()[0])["reason"] == "not_audio"
    assert validate([out, *flags]) == 0


def test_a_process_builds_one_s3_client_for_all_its_storage_calls(s3, monkeypatch):
    """Beam's S3 filesystem built a boto3 session and client on every call (~50-250 ms each, more
    than converting a clip); transforms.storage shares one per process and settings."""
    import boto3

    from transforms import storage

    client, flags = s3
    for i in range(5):
        client.put_object(Bucket="corpus", Key=f"in/{i}.bin", Body=bytes([i]) * 1000)
    made = []
    real = boto3.session.Session.client
    monkeypatch.setattr(boto3.session.Session, "client", lambda self, *a, **k: made.append(1) or real(self, *a, **k))
    storage.configure(flags)
    for i in range(5):
        assert storage.read_bytes(f"s3://corpus/in/{i}.bin") == bytes([i]) * 1000
        assert storage.exists(f"s3://corpus/in/{i}.bin")
    storage.write_atomic("s3://corpus/out/x.json", b"{}")
    assert storage.read_text("s3://corpus/out/x.json") == "{}"
    assert len(made) == 1


def test_an_object_withdrawn_while_read_reads_as_a_missing_local_file(s3, monkeypatch):
    """On S3 a key deleted between opening and reading it (a marker withdrawn while a reader polls
    the build) raised Beam's S3ClientError (404) from the read, which callers catching
    ``FileNotFoundError`` (an ``OSError``) as on local disk let through: the polling reader died."""
    from transforms import storage

    client, flags = s3
    storage.configure(flags)
    client.put_object(Bucket="corpus", Key="out/m.stats.json", Body=b"{}")
    opened = storage.open_read

    def open_then_withdraw(path):
        reader = opened(path)
        client.delete_object(Bucket="corpus", Key="out/m.stats.json")
        return reader

    monkeypatch.setattr(storage, "open_read", open_then_withdraw)
    with pytest.raises(FileNotFoundError):
        storage.read_bytes("s3://corpus/out/m.stats.json")
    with pytest.raises(FileNotFoundError):  # and one never written, as before
        storage.read_bytes("s3://corpus/out/never.json")
