"""Every stage at once — Whisper segmentation, description, video scenes + CoCa captions, noise
mixing and reverb, label translation — gives byte-identical shards on DirectRunner and on the
portable runner with a 2-process SDK worker pool, and both report Beam metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.visual.conftest import TINY_COCA

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_coca_files(tmp_path_factory) -> tuple[str, str]:
    import open_clip
    import torch

    folder = tmp_path_factory.mktemp("coca")
    config = folder / "coca_tiny_runner.json"
    config.write_text(json.dumps(TINY_COCA))
    open_clip.add_model_config(str(config))
    torch.manual_seed(0)
    model = open_clip.create_model("coca_tiny_runner")
    with torch.no_grad():
        projection = model.text_decoder.text_projection
        torch.nn.init.normal_(projection, std=projection.shape[0] ** -0.5)
    checkpoint = folder / "coca_tiny_runner.pt"
    torch.save(model.state_dict(), checkpoint)
    return str(config), str(checkpoint)


@pytest.mark.slow
def test_every_stage_gives_identical_shards_on_direct_and_portable_runners(tmp_path, tiny_coca_files):
    config, checkpoint = tiny_coca_files
    common = [
        "shards", "--lang", "en", "--demo-items", "8", "--demo-videos", "1", "--shard-size", "3", "--workers", "2",
        "--aligner", "whisper", "--whisper-model", "bundled:tiny.en",
        "--visual", "--coca-model", config, "--coca-pretrained", checkpoint, "--coca-decoding", "greedy",
        "--augment", "noise,reverb", "--translate-to", "fr,de",
    ]  # fmt: skip
    runs = {}
    for runner in ("direct", "portable"):
        out = tmp_path / runner
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", *common, "--output", str(out), "--runner", runner],
            cwd=ROOT, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert "reconciled       yes: 9 in = 9 written + 0 failed" in done.stdout
        for stage in ("segment", "describe", "visual", "augment", "translate"):
            assert f"    {stage} " in done.stdout  # per-stage metrics came back from this runner
        runs[runner] = out
    tars = sorted(runs["direct"].rglob("*.tar"))
    assert len(tars) >= 3
    for tar in tars:
        twin = runs["portable"] / tar.relative_to(runs["direct"])
        assert tar.read_bytes() == twin.read_bytes(), tar.name
    metas = [json.loads(p.read_text()) for p in runs["direct"].rglob("dataset_card.json")]
    assert metas and metas[0]["totals"]["samples"] > 9
    # the video's samples carry visual captions and the paragraphs were cut by Whisper
    import tarfile

    origins, aligners = set(), set()
    for tar in tars:
        with tarfile.open(tar) as t:
            for member in t.getmembers():
                if member.name.endswith(".json"):
                    meta = json.loads(t.extractfile(member).read())
                    origins.update(c["origin"] for c in meta["captions"])
                    aligners.add((meta["original_data"].get("segmentation") or {}).get("aligner"))
    assert {"template", "transcript", "visual", "translation"} <= origins
    assert "whisper" in aligners
