"""Training on a corpus manifest samples its datasets by the recipe's weights, reproducibly."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from model.corpus_mix import choices, corpus_datasets, manifest_record, mix


def manifest(tmp_path):
    shard = {"split": "train", "samples": 3, "seconds": 1.0, "bytes": 10}
    datasets = [
        {"name": "speech", "status": "built", "weight": 3.0, "shards": [{**shard, "path": "speech/train/000000.tar"}]},
        {"name": "sounds", "status": "built", "weight": 1.0, "shards": [{**shard, "path": "sounds/train/000000.tar"}]},
        {"name": "tiny", "status": "built", "weight": 1.0, "shards": [{**shard, "path": "tiny/train/000000.tar"}]},
        {"name": "broken", "status": "failed", "weight": 9.0},
    ]
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps({"corpus": "c", "datasets": datasets}))
    return path


def test_datasets_are_drawn_within_two_percent_of_their_weights_over_10000_samples(tmp_path):
    datasets = corpus_datasets(manifest(tmp_path), "train")
    assert [d.name for d in datasets] == ["speech", "sounds", "tiny"]  # a failed dataset is left out
    weights = {d.name: d.weight for d in datasets}
    streams = {d.name: (lambda p, d=d: iter([f"{d.name}-{p}-{i}" for i in range(d.samples)])) for d in datasets}
    drawn = [pair for _, pair in zip(range(10_000), mix(streams, weights, seed=7), strict=False)]
    counts = Counter(name for name, _ in drawn)
    for name, weight in weights.items():
        assert counts[name] / 10_000 == pytest.approx(weight / 5.0, abs=0.02)


def test_the_same_seed_draws_the_same_sequence_and_another_seed_another():
    weights = {"a": 2.0, "b": 1.0}
    first = [n for _, n in zip(range(500), choices(weights, 3), strict=False)]
    assert first == [n for _, n in zip(range(500), choices(weights, 3), strict=False)]
    assert first != [n for _, n in zip(range(500), choices(weights, 4), strict=False)]


def test_a_small_dataset_is_started_again_with_the_next_pass(tmp_path):
    streams = {"one": lambda p: iter([f"pass{p}"])}
    assert [pair for _, pair in zip(range(3), mix(streams, {"one": 1.0}, 0), strict=False)] == [
        ("one", "pass0"),
        ("one", "pass1"),
        ("one", "pass2"),
    ]


def test_a_run_records_the_manifest_it_read_and_the_normalised_weights(tmp_path):
    record = manifest_record(manifest(tmp_path))
    assert record["weights"] == {"speech": 0.6, "sounds": 0.2, "tiny": 0.2}
    assert record["manifest"].endswith("corpus.json") and len(record["sha256"]) == 64
