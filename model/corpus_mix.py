"""Training on a multi-dataset corpus: its datasets sampled by the recipe's weights.

``clara corpus build RECIPE`` writes ``<output>/corpus.json`` (``pipelines/corpus_manifest.py``): per
dataset its folder, status, sampling weight and shards. :func:`corpus_datasets` reads the built
datasets' shards of one split from it; :func:`mix` interleaves one sample stream per dataset,
choosing the dataset of every next sample with a seeded weighted draw (``random.Random(seed)``):
each dataset's share of the samples converges to ``weight / sum(weights)`` whatever its size, and
the same seed gives the same sequence. A dataset whose stream ends is started again (its factory is
called with the pass number, so it can reshuffle), so a small dataset repeats as often as its weight
asks. :func:`manifest_record` is what a run records about the manifest it read.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.records import SPLITS


@dataclass(frozen=True)
class CorpusDataset:
    """One built dataset of a corpus: its name, sampling weight and the shard paths of a split
    (with each shard's SHA-256 and samples as the manifest lists them)."""

    name: str
    weight: float
    urls: tuple[str, ...]
    samples: int
    sha256: tuple[str, ...] = ()
    sizes: tuple[int, ...] = ()


def corpus_datasets(manifest: str | Path, split: str) -> list[CorpusDataset]:
    """The built datasets of ``manifest`` with shards in ``split``, in recipe order."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} not in {SPLITS}")
    path = Path(manifest)
    data = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for entry in data.get("datasets", []):
        if entry.get("status") != "built":
            continue
        shards = [s for s in entry.get("shards", []) if s.get("split") == split]
        if shards:
            found.append(
                CorpusDataset(
                    name=entry["name"],
                    weight=float(entry.get("weight", 1.0)),
                    urls=tuple(str(path.parent / s["path"]) for s in shards),
                    samples=sum(int(s["samples"]) for s in shards),
                    sha256=tuple(str(s.get("sha256", "")) for s in shards),
                    sizes=tuple(int(s["samples"]) for s in shards),
                )
            )
    return found


def choices(weights: dict[str, float], seed: int) -> Iterator[str]:
    """An endless, seeded sequence of dataset names, each drawn with probability weight / total."""
    names = sorted(weights)
    if not names or any(weights[n] <= 0 for n in names):
        raise ValueError(f"weights must be positive: {weights}")
    cumulative, total = [], 0.0
    for name in names:
        total += weights[name]
        cumulative.append(total)
    rng = random.Random(seed)
    while True:
        yield from rng.choices(names, cum_weights=cumulative, k=1024)


def mix(
    streams: dict[str, Callable[[int], Iterator[Any]]], weights: dict[str, float], seed: int, skip: int = 0
) -> Iterator[tuple[str, Any]]:
    """(dataset, sample) pairs drawn by weight from per-dataset streams; ``streams[name](pass)``
    starts pass ``pass`` of that dataset's samples. Ends only if a dataset yields nothing at all.
    ``skip``: the number of draws already made (a resumed stream: each dataset's stream then starts
    where that many draws left it, and the draws go on from the same point of the sequence)."""
    passes = dict.fromkeys(streams, 0)
    current = {name: streams[name](0) for name in streams}
    drawn = choices({n: weights[n] for n in streams}, seed)
    for _ in range(skip):
        next(drawn)
    for name in drawn:
        sample = next(current[name], _END)
        if sample is _END:
            passes[name] += 1
            current[name] = streams[name](passes[name])
            sample = next(current[name], _END)
            if sample is _END:
                raise RuntimeError(f"dataset {name} has no samples")
        yield name, sample


_END = object()


def manifest_record(manifest: str | Path, split: str = "train") -> dict[str, Any]:
    """What a training run records about the corpus it read: the manifest, its hash and the weights."""
    path = Path(manifest)
    datasets = corpus_datasets(path, split)
    total = sum(d.weight for d in datasets) or 1.0
    return {
        "manifest": str(path.resolve()),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "weights": {d.name: round(d.weight / total, 6) for d in datasets},
    }
