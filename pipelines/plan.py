"""The shard plan, without a hot key (tfds' BeamWriter way).

    items -> (split, item)            split: the dataset's own, else a stable hash of the source id
          -> per split: count, seconds  a combiner: a few small numbers per split, not its keys
          -> shard = stable_hash(key) mod n_shards(split)   n_shards from the count and --shard-size
          -> group by shard -> duplicates out -> sorted by key inside the shard step

No worker ever holds more than the records of the shards it builds: a split's keys are counted by a
combiner, never gathered onto one worker. The plan is deterministic for the same input set and
settings; the records that cross the shuffle are the small ``SourceItem``s.

The plan's concepts live here too: :func:`split_of`, :class:`ShardRef`, what a shard's bytes depend
on (:func:`shard_fingerprint`) and where a shard's files go (:func:`tar_path`, :func:`marker_path`,
:func:`failures_path`, :func:`sizes_path`).

``shard_size`` is the mean number of items per shard (hashing makes shard sizes binomial around
it, a few percent either side for 512); ``shard_max_seconds``, when given, also raises the number
of shards so that the *mean* audio per shard stays under it (by the items' duration hints).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from schemas import Failure, SourceItem
from transforms.storage import join

STAGE = "plan"
"""The stage its failures name (``duplicate_key``: a second item under one key)."""
DEFAULT_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def split_of(item: SourceItem, fractions: tuple[float, float, float] = DEFAULT_SPLIT_FRACTIONS) -> str:
    """The dataset's own split if it has one, else a stable hash of the source id.

    Hashing the *source id* (not the sample key) keeps every segment and augmented copy of a
    recording in the same split.
    """
    if item.split:
        return item.split
    digest = hashlib.sha256(f"{item.dataset}/{item.source_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "valid" if u < fractions[0] + fractions[1] else "test"


@dataclass(frozen=True, order=True)
class ShardRef:
    """A planned shard: its split, its index, and how many shards its split has."""

    split: str
    index: int
    total: int = 0

    @property
    def name(self) -> str:
        return f"{self.index:06d}"


def shard_fingerprint(items: list[SourceItem], shaping: dict[str, Any]) -> str:
    """What a shard's bytes depend on: its items (sorted) and the output-shaping settings.

    ``shaping`` holds only the settings fields marked as shaping output
    (``pipelines.options.output_shaping``): a run-only setting (runner, workers, device,
    concurrency, timeouts) never invalidates a finished shard.
    """
    digest = hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode())
    for item in sorted(items, key=lambda it: it.key):
        fields = item.to_dict()
        if not fields.get("origin"):  # an item without an origin hashes as it did before items had one
            fields.pop("origin", None)
        digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def tar_path(out: str, shard: ShardRef) -> str:
    return join(out, shard.split, f"{shard.name}.tar")


def marker_path(out: str, shard: ShardRef) -> str:
    """``<split>/NNNNNN.stats.json``: the shard's ``ShardStats``, written last (its commit)."""
    return join(out, shard.split, f"{shard.name}.stats.json")


def failures_path(out: str, name: str) -> str:
    """``failures/<name>.jsonl``: a shard's (``<split>-NNNNNN``) or the run's (``source``, ``pipeline``)."""
    return join(out, "failures", f"{name}.jsonl")


def sizes_path(out: str, split: str) -> str:
    """``<split>/sizes.json``: samples per shard of the split (WebDataset's own file)."""
    return join(out, split, "sizes.json")


def stable_hash(key: str) -> int:
    """A 64-bit hash of a key that is the same on every machine and Python process."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def shard_count(items: int, seconds: float, shard_size: int, shard_max_seconds: float | None = None) -> int:
    """How many shards a split of ``items`` items (``seconds`` of audio by their hints) gets."""
    if items <= 0:
        return 0
    count = math.ceil(items / shard_size)
    if shard_max_seconds:
        count = max(count, math.ceil(seconds / shard_max_seconds))
    return min(count, items)


def shard_of(key: str, total: int) -> int:
    return stable_hash(key) % total


class _SumCountSeconds(beam.CombineFn):
    """(items, seconds) of a split; lifted by the runner, so no worker sees the split's keys."""

    def create_accumulator(self) -> tuple[int, float]:
        return 0, 0.0

    def add_input(self, acc: tuple[int, float], seconds: float) -> tuple[int, float]:
        return acc[0] + 1, acc[1] + seconds

    def merge_accumulators(self, accs: Iterable[tuple[int, float]]) -> tuple[int, float]:
        items, seconds = 0, 0.0
        for n, s in accs:
            items, seconds = items + n, seconds + s
        return items, seconds

    def extract_output(self, acc: tuple[int, float]) -> tuple[int, float]:
        return acc


class PlanShards(beam.PTransform):
    """SourceItems -> ((split, index, total), SourceItem), ready for one GroupByKey by shard."""

    def __init__(
        self, fractions: tuple[float, float, float], shard_size: int, shard_max_seconds: float | None = None
    ) -> None:
        super().__init__()
        self.fractions = tuple(fractions)
        self.shard_size = int(shard_size)
        self.shard_max_seconds = shard_max_seconds

    def expand(self, items: beam.PCollection) -> beam.PCollection:
        fractions, size, max_s = self.fractions, self.shard_size, self.shard_max_seconds
        by_split = items | "KeyBySplit" >> beam.Map(lambda it: (split_of(it, fractions), it))
        totals = (
            by_split
            | "SecondsBySplit" >> beam.Map(lambda kv: (kv[0], float(kv[1].duration_hint_s or 0.0)))
            | "CountSplit" >> beam.CombinePerKey(_SumCountSeconds())
            | "ShardsPerSplit" >> beam.MapTuple(lambda split, acc: (split, shard_count(acc[0], acc[1], size, max_s)))
        )

        def assign(kv: tuple[str, SourceItem], shards: dict[str, int]) -> tuple[tuple[str, int, int], SourceItem]:
            split, item = kv
            total = shards[split]
            return (split, shard_of(item.key, total), total), item  # a tuple key: Beam's deterministic coder

        return by_split | "AssignShard" >> beam.Map(assign, shards=beam.pvalue.AsDict(totals))


def drop_duplicates(element: tuple[Any, Iterable[SourceItem]]) -> Iterator[Any]:
    """One shard's items, sorted by key; extra items under one key are ``duplicate_key`` failures.

    Items with the same key hash to the same shard, so duplicates meet here without a shuffle of
    their own. The first by URI is kept, whatever order the runner delivered them in.
    """
    shard_key, grouped = element
    items = sorted(grouped, key=lambda it: (it.key, it.uri))
    kept: list[SourceItem] = []
    for item in items:
        if kept and kept[-1].key == item.key:
            shard = ShardRef(*shard_key)
            yield beam.pvalue.TaggedOutput(
                "failures",
                Failure(
                    key=item.key,
                    source=item.dataset,
                    stage=STAGE,
                    reason="duplicate_key",
                    detail=item.uri[:300],
                    shard=f"{shard.split}/{shard.name}",
                ),
            )
        else:
            kept.append(item)
    yield shard_key, kept
