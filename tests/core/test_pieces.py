"""A shard built in pieces by several workers is the shard one worker builds; a failed piece
fails its whole shard, with every item accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines import tar_writer
from pipelines.build_shards import build_pipeline
from pipelines.options import config_from
from pipelines.shard_step import even_runs, piece_items
from tests.conftest import FilesSource, write_wav

SETTINGS = {"split_fractions": (1.0, 0.0, 0.0), "shard_size": 512, "batch_items": 2, "source": "test", "workers": 2}


def _files(folder: Path, count: int) -> list[Path]:
    return [write_wav(folder / f"clip_{i:02d}.wav", 0.3 + 0.05 * i, freq=200.0 + 40 * i) for i in range(count)]


def _build(paths: list[Path], out: Path, **overrides) -> None:
    config = config_from({**SETTINGS, **overrides})
    pipeline = TestPipeline(options=beam.options.pipeline_options.PipelineOptions(["--runner=DirectRunner"]))
    build_pipeline(pipeline, FilesSource(paths).expand(pipeline), str(out), "t", config)
    pipeline.run().wait_until_finish()


def _corpus_files(out: Path) -> dict[str, bytes]:
    """Every file of a built corpus but the card (it states the run-only settings, pieces among them)."""
    return {
        str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and "card" not in p.name
    }


def test_pieces_are_cut_only_when_shards_are_few_for_the_workers() -> None:
    assert piece_items(shards=6, workers=2, batch_items=32) == 32  # 4-h benchmark, 512-item shards: one batch
    assert piece_items(shards=32, workers=2, batch_items=32) == 0  # 16 a worker: whole shards
    assert piece_items(shards=100, workers=2, batch_items=4, given=3) == 3  # the user's number


def test_a_shard_is_cut_into_pieces_of_one_size() -> None:
    assert even_runs(120, 4) == [(0, 30), (30, 60), (60, 90), (90, 120)]  # was 32, 32, 32, 24
    assert [b - a for a, b in even_runs(490, 16)] == [31] * 10 + [30] * 6
    for total in range(1, 60):
        for count in range(1, total + 1):
            runs = even_runs(total, count)
            sizes = [b - a for a, b in runs]
            assert runs[0][0] == 0 and runs[-1][1] == total and all(a[1] == b[0] for a, b in zip(runs, runs[1:]))
            assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


def test_a_shard_built_in_pieces_is_byte_identical_to_one_built_whole(tmp_path: Path) -> None:
    paths = _files(tmp_path / "in", 9)
    _build(paths, tmp_path / "whole", piece_items=1000)
    _build(paths, tmp_path / "pieces", piece_items=2)
    whole, pieces = _corpus_files(tmp_path / "whole"), _corpus_files(tmp_path / "pieces")
    assert "train/000000.tar" in whole and not any(".tmp-" in name for name in pieces)
    assert pieces == whole
    card = json.loads((tmp_path / "pieces" / "dataset_card.json").read_text())
    assert card["totals"]["samples"] == 9 and card["totals"]["reconciled"]


def test_a_failed_piece_fails_its_whole_shard_and_leaves_no_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _files(tmp_path / "in", 6)
    add = tar_writer.TarShardWriter.add

    def add_or_fail(self, key: str, flac: bytes, meta: bytes) -> None:
        if key.startswith("files-clip_04"):
            raise OSError("disk full")
        add(self, key, flac, meta)

    monkeypatch.setattr(tar_writer.TarShardWriter, "add", add_or_fail)
    out = tmp_path / "out"
    _build(paths, out, piece_items=2)
    failures = [json.loads(line) for f in (out / "failures").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert sorted(f["key"] for f in failures) == sorted(f"files-{p.stem}" for p in paths)
    assert {f["reason"] for f in failures} == {"shard_error"}
    assert not list(out.rglob("*.tar")) and not list(out.rglob("*.stats.json"))
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    totals = json.loads((out / "dataset_card.json").read_text())["totals"]
    assert totals["reconciled"] and totals["items_failed"] == 6 and totals["samples"] == 0
