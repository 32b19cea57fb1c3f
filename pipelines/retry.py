"""``--retry-failures``: rebuild exactly the items a previous build recorded as failed.

    failures/*.jsonl ─(retryable records: their source keys)─┐
    the source, enumerated again ───────────────────────────┴─ join by key ─> the plan, as usual,
          -> new shards after the last one of each split in sizes.json (000012.tar, ...)
          -> finalize: sizes.json over old + new shards; the old failure records of retried items
             move to failures/resolved/; retries.json (the ledger) and the card reconcile both runs

A failure is retried unless it is a decision about the item rather than an error (a duplicate key,
duplicate audio, an eval overlap, a quality filter: they would be decided the same way again) or it
belongs to an item that also has samples in the corpus (``item_written``: one of several segments
failed; rebuilding the item would write its other segments twice). Items that fail again are
recorded again by the new shards. The old shard gives the retried items up (its failures file and
its marker's counts lose them), so the reconciliation counts each item once, where it was built last,
and the card, ``clara validate`` and the report add up markers exactly as for a first build.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import apache_beam as beam

from pipelines import commit, dedupe, plan, sink
from pipelines.stages import DECIDING_STAGES
from schemas import SPLITS, Failure, ShardStats, SourceItem
from transforms import storage

LEDGER = "retries.json"
RESOLVED = "resolved"
DECISION_STAGES = (plan.STAGE, dedupe.STAGE, *DECIDING_STAGES)
"""Stages whose failures are decisions (the same inputs decide the same way): never retried. Before
the plan, its duplicate keys and the screen; in the shard, the stages whose spec ``decides``."""
RUN_LEVEL_FILES = ("source", "pipeline")
"""failures/<name>.jsonl written by finalize itself (failures outside shards)."""


ERROR_REASONS = ("error", "stage_error")
"""Reasons that are errors even in a deciding stage (its code raised): retried."""


def retryable(record: dict[str, Any]) -> bool:
    """Whether a failure record (a failures/*.jsonl line) names an item worth building again."""
    decided = record.get("stage") in DECISION_STAGES and record.get("reason") not in ERROR_REASONS
    if decided or record.get("reason") == "duplicate_key":
        return False
    if record.get("item_written"):
        return False
    sample_level = record.get("key") != (record.get("source_key") or record.get("key"))
    return not sample_level or record.get("item_written") is False  # older builds did not say: skip


def failure_files(out: str) -> list[str]:
    """The active failure files of a corpus (not failures/resolved/)."""
    return [p for p in storage.list_files(storage.join(out, "failures", "*.jsonl")) if f"/{RESOLVED}/" not in p]


def retry_keys(path_and_line: tuple[str, str]) -> Iterator[tuple[str, str]]:
    """(source key, the failures file it is in) of a retryable record."""
    path, line = path_and_line
    if line.strip():
        record = json.loads(line)
        if retryable(record):
            yield record.get("source_key") or record["key"], path


def _retried(element: tuple[str, dict[str, list]]) -> Iterator[Any]:
    _, joined = element
    if joined["failed"] and joined["record"]:
        yield from joined["record"]
        for path in sorted(set(joined["failed"])):
            yield beam.pvalue.TaggedOutput("files", path)


# ----------------------------------------------------------------------------- shard names


def shard_names(out: str, split: str) -> list[str]:
    """Shard names (``000012``) of a split in its sizes.json; [] when none."""
    path = storage.join(out, split, "sizes.json")
    if not storage.exists(path):
        return []
    return sorted(name.removesuffix(".tar") for name in json.loads(storage.read_text(path)))


def index_offsets(out: str) -> dict[str, int]:
    """Per split, the index the first new shard takes: after the last shard in sizes.json.

    From sizes.json, not from the files present: a retry that stopped half way and runs again
    plans the same names and skips the shards it had finished.
    """
    offsets = {}
    for split in SPLITS:
        numbers = [int(n) for n in shard_names(out, split) if re.fullmatch(r"\d+", n)]
        offsets[split] = max(numbers) + 1 if numbers else 0
    return offsets


def offset_shard(element: tuple[tuple[str, int, int], SourceItem], offsets: dict[str, int]) -> Any:
    (split, index, total), item = element
    start = offsets.get(split, 0)
    return (split, start + index, start + total), item


# ----------------------------------------------------------------------------- the ledger


def read_ledger(out: str) -> list[dict[str, Any]]:
    path = storage.join(out, LEDGER)
    return json.loads(storage.read_text(path))["runs"] if storage.exists(path) else []


def ledger_stats(out: str, runs: list[dict[str, Any]], exclude: Iterable[tuple[str, str]] = ()) -> list[ShardStats]:
    """The markers of the shards earlier retries wrote (those still committed)."""
    skip = set(exclude)
    stats = []
    for run in runs:
        for ref in run["shards"]:
            split, name = ref.split("/")
            committed = None if (split, name) in skip else commit.verified(storage.join(out, split, f"{name}.tar"))
            if committed is not None:
                stats.append(committed)
    return stats


def keep_retried_shards(out: str, stats: list[ShardStats], drop: bool) -> list[dict[str, Any]]:
    """A plain build after retries: the retries' shards stay in the corpus, unless it rebuilt
    everything (``--overwrite``: its own shards now hold those items), then they go."""
    runs = read_ledger(out)
    if not drop or not runs:
        return runs
    mine = {(s.split, s.shard) for s in stats}
    for run in runs:
        for ref in run["shards"]:
            split, name = ref.split("/")
            if (split, name) not in mine:
                storage.delete(
                    [
                        storage.join(out, split, f"{name}.tar"),
                        storage.join(out, split, f"{name}.stats.json"),
                        storage.join(out, "failures", f"{split}-{name}.jsonl"),
                    ]
                )
    storage.delete([storage.join(out, LEDGER)])
    return []


def previous_markers(out: str) -> list[str]:
    """The marker paths of every shard in the corpus's sizes.json files (read by the pipeline, in parallel)."""
    return [storage.join(out, split, f"{name}.stats.json") for split in SPLITS for name in shard_names(out, split)]


def read_marker(path: str, storage_options: dict | None = None) -> list[ShardStats]:
    """A shard's marker, when it commits its tar; a retry refuses a shard whose marker does not."""
    storage.configure(storage_options)
    stats = commit.read_marker(path)
    if stats is None:
        return []
    tar = path[: -len(commit.MARKER_SUFFIX)] + ".tar"
    problem = commit.mismatch(stats, tar)
    if problem:
        raise ValueError(
            f"{tar}: {problem}; rebuild the corpus (clara shards without --retry-failures) before retrying"
        )
    return [stats]


def _read_records(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in storage.read_text(path).splitlines() if line.strip()]


def _key(record: dict[str, Any]) -> str:
    return record.get("source_key") or record["key"]


def resolve_retried(
    out: str, retried: set[str], written_now: set[str], files: Iterable[str]
) -> tuple[list[Failure], dict[tuple[str, str], ShardStats]]:
    """Move the old failure records of the retried items to failures/resolved/.

    An old shard gives its retried items up: its failures file loses their records and its
    marker their counts (``items_in``, ``items_failed``, ``failures_by_reason``), so that the
    corpus counts each item once, in the shard that last built it; the card, ``clara validate``
    and the report then add up the markers as for any build. ``written_now``: this run's own
    failure files; ``files``: those that name a retried item. Returns the failures outside shards
    (failures/source.jsonl, pipeline.jsonl) that stand, and the old shards' updated stats.
    """
    kept_run_level: list[Failure] = []
    updated: dict[tuple[str, str], ShardStats] = {}
    run_level = [storage.join(out, "failures", f"{name}.jsonl") for name in RUN_LEVEL_FILES]
    for path in sorted(set(files) | {p for p in run_level if storage.exists(p)}):
        name = path.rsplit("/", 1)[-1].removesuffix(".jsonl")
        if name in written_now:
            continue
        records = _read_records(path)
        moved = [r for r in records if _key(r) in retried]
        stay = [r for r in records if _key(r) not in retried]
        if name in RUN_LEVEL_FILES:
            kept_run_level += [Failure.from_dict(r) for r in stay]
        if not moved:
            continue
        resolved = storage.join(out, "failures", RESOLVED, f"{name}.jsonl")
        before = storage.read_text(resolved).encode() if storage.exists(resolved) else b""
        storage.write_atomic(resolved, before + b"".join(sink.dumps(r) + b"\n" for r in moved))
        if name not in RUN_LEVEL_FILES:  # finalize rewrites the run-level files itself
            stats = _give_up(out, name, moved)
            if stats is not None:
                updated[(stats.split, stats.shard)] = stats
            if stay:
                storage.write_atomic(path, b"".join(sink.dumps(r) + b"\n" for r in stay))
            else:
                storage.delete([path])
    return kept_run_level, updated


def _give_up(out: str, failures_name: str, moved: list[dict[str, Any]]) -> ShardStats | None:
    """Take the moved records' items out of their shard's marker."""
    split, _, shard = failures_name.partition("-")
    marker = storage.join(out, split, f"{shard}.stats.json")
    if not storage.exists(marker):
        return None
    stats = ShardStats.from_dict(json.loads(storage.read_text(marker)))
    items = len({_key(r) for r in moved})
    reasons = Counter(stats.failures_by_reason)
    reasons.subtract(f"{r['stage']}/{r['reason']}" for r in moved)
    updated = replace(
        stats,
        items_in=stats.items_in - items,
        items_failed=stats.items_failed - items,
        failures_by_reason={k: v for k, v in sorted(reasons.items()) if v > 0},
    )
    storage.write_atomic(marker, sink.dumps(updated.to_dict()))
    return updated


def finalize_retry(
    out: str,
    stats: list[ShardStats],
    other_failures: list[Failure],
    retried: list[str],
    old_stats: list[ShardStats],
    files: list[str],
) -> tuple[list[ShardStats], list[Failure], list[dict[str, Any]]]:
    """Old + new shards, the failures outside shards that stand, and the updated ledger.

    ``old_stats``: the markers in sizes.json as the run found them; ``files``: the failures files
    that name a retried item.
    """
    new_refs = {(s.split, s.shard) for s in stats}
    written_now = {f"{split}-{name}" for split, name in new_refs}
    kept, updated = resolve_retried(out, set(retried), written_now, files)
    old = [updated.get((s.split, s.shard), s) for s in old_stats if (s.split, s.shard) not in new_refs]
    runs = read_ledger(out)
    if retried:
        recovered = sum(s.items_ok for s in stats)
        runs.append(
            {
                "run": len(runs) + 1,
                "shards": sorted(f"{split}/{name}" for split, name in new_refs),
                "retried": len(set(retried)),
                "recovered": recovered,
                "failed_again": len(set(retried)) - recovered,
            }
        )
        storage.write_atomic(storage.join(out, LEDGER), json.dumps({"runs": runs}, indent=2).encode() + b"\n")
    return old + list(stats), kept + list(other_failures), runs


# ----------------------------------------------------------------------------- the object the pipeline holds


class _SelectRetried(beam.PTransform):
    """Records of the source (SourceItem | Failure) whose key has a retryable failure in ``out``
    (main output), and the failures files that name them (``files``)."""

    def __init__(self, out: str) -> None:
        super().__init__()
        self.out = out

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        pattern = storage.join(self.out, "failures", "*.jsonl")  # not failures/resolved/*: one level only
        keys = (
            records.pipeline
            | "ReadFailures" >> beam.io.ReadFromTextWithFilename(pattern)
            | "RetryableKeys" >> beam.FlatMap(retry_keys)
        )
        by_key = records | "RecordsByKey" >> beam.Map(lambda r: (r.key, r))
        return (
            {"record": by_key, "failed": keys}
            | "JoinFailed" >> beam.CoGroupByKey()
            | "Retried" >> beam.FlatMap(_retried).with_outputs("files", main="records")
        )


@dataclass(frozen=True)
class Retry:
    """``--retry-failures`` (``enabled``) or a plain build, as the pipeline sees it:

    - :meth:`select`: the source records to build (those with a retryable failure, when retrying)
      and what finalize will need to reconcile old and new shards;
    - :meth:`offset`: the planned shards, moved after the last shard of each split when retrying;
    - :meth:`finalize`: the stats and failures the card adds up, and the ledger of retry runs.

    A plain build keeps the shards earlier retries wrote (unless ``overwrite`` rebuilt everything).
    """

    out: str
    enabled: bool
    overwrite: bool = False

    def select(
        self, records: beam.PCollection, storage_options: dict[str, Any] | None = None
    ) -> tuple[beam.PCollection, dict[str, beam.PCollection]]:
        """(the records to build, ``{"keys", "files", "old"}`` for :meth:`finalize` as side inputs):
        the keys retried, the failures files naming them, the markers of the shards already there."""
        pipeline = records.pipeline
        if not self.enabled:
            nothing = pipeline | "NoRetry" >> beam.Create([])
            return records, {"keys": nothing, "files": nothing, "old": nothing}
        selected = records | "SelectRetried" >> _SelectRetried(self.out)
        keys = selected.records | "RetriedKeys" >> beam.Map(lambda r: r.key) | "DistinctRetried" >> beam.Distinct()
        old = (
            pipeline
            | "PreviousMarkers" >> beam.Create(previous_markers(self.out))
            | "SpreadMarkers" >> beam.Reshuffle()
            | "ReadMarkers" >> beam.FlatMap(read_marker, storage_options)
        )
        files = selected.files | "DistinctFailureFiles" >> beam.Distinct()
        return selected.records, {"keys": keys, "files": files, "old": old}

    def offset(self, placed: beam.PCollection) -> beam.PCollection:
        """Planned ``(shard key, item)`` pairs; when retrying, new shards go after the existing ones."""
        if not self.enabled:
            return placed
        return placed | "AfterExistingShards" >> beam.Map(offset_shard, offsets=index_offsets(self.out))

    def finalize(
        self,
        stats: list[ShardStats],
        failures: list[Failure],
        keys: list[str],
        files: list[str],
        old: list[ShardStats],
    ) -> tuple[list[ShardStats], list[Failure], list[dict[str, Any]]]:
        """(every shard's stats, the failures outside shards that stand, the retry runs so far)."""
        if self.enabled:
            return finalize_retry(self.out, stats, failures, keys, old, files)
        runs = keep_retried_shards(self.out, stats, drop=self.overwrite)
        stats = stats + ledger_stats(self.out, runs, exclude={(s.split, s.shard) for s in stats})
        return stats, failures, runs
