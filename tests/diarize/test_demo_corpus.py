"""The demo corpus (one voice per item) through ``--diarize``: the same samples, cut at the same
bounds, with the same audio; only the diarization record is added."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from pipelines.cli import main

FLAGS = ["--lang", "en", "--demo-items", "6", "--workers", "1", "--split-fractions", "1,0,0"]
FLAGS += ["--augment", "none", "--translate-to", "none", "--attributes", "none"]


def _samples(root: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for tar in sorted(root.rglob("*.tar")):
        with tarfile.open(tar) as tf:
            for member in tf.getmembers():
                key, ext = member.name.split(".", 1)
                data = tf.extractfile(member).read()
                out.setdefault(key, {})[ext] = json.load(io.BytesIO(data)) if ext == "json" else data
    return out


@pytest.mark.slow
def test_single_voice_items_keep_their_samples_bounds_and_audio_under_diarize(tmp_path: Path) -> None:
    assert main(["shards", *FLAGS, "--output", str(tmp_path / "off")]) == 0
    assert main(["shards", *FLAGS, "--output", str(tmp_path / "on"), "--diarize", "--diarize-min-s", "0"]) == 0
    off, on = _samples(tmp_path / "off"), _samples(tmp_path / "on")
    assert off and on.keys() == off.keys()
    diarized = 0
    for key, sample in off.items():
        twin = on[key]
        assert twin["flac"] == sample["flac"], key  # same cut, same audio
        assert twin["json"]["segment"] == sample["json"]["segment"], key
        record = twin["json"]["original_data"].get("diarization")
        if record is not None:
            diarized += 1
            assert record["num_speakers"] == 1, (key, record)
        assert "diarization" not in sample["json"]["original_data"]
    assert diarized > 0  # the stage ran on the cut items
