"""Where a shard's build lands: its failures, then its marker (the commit), and the run's own files.

A shard's tar is written by :mod:`pipelines.tar_writer` to a temporary name and renamed; then
:func:`commit_shard` writes its failures file and, last, its ``NNNNNN.stats.json`` marker: a shard
without a marker is not done, the marker names the tar's size and SHA-256 (``pipelines/commit.py``:
a reader trusts a tar only through a marker that matches it), and a rerun skips a shard whose
marker holds the same fingerprint and matches its tar.
:func:`finalize` writes ``sizes.json`` per split, the failures outside shards and the dataset card
(:mod:`pipelines.card`). Every file is canonical JSON (:func:`dumps`), written atomically through
:mod:`transforms.storage` (local, gs://, s3://).
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from typing import Any

from pipelines import commit
from pipelines.card import StatsAccumulator, build_card, card_markdown, eval_removals
from pipelines.plan import failures_path, marker_path, sizes_path
from schemas import SPLITS, Failure, ShardStats
from schemas.convert import to_plain
from transforms import storage
from transforms.storage import join, write_atomic


def dumps(data: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces that vary): part of byte-identical shards."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def record_json(record: Any) -> bytes:  # any (nested) dataclass record
    """``dumps(record.to_json_dict())``, the same bytes (a tuple is a JSON array like a list)."""
    return dumps(to_plain(record))


def commit_shard(
    out: str, stats: StatsAccumulator, failures: list[Failure], size: int, sha256: str, fingerprint: str
) -> ShardStats:
    """After its tar is in place: the shard's failures, then its marker, written last (the commit),
    naming the tar's size and SHA-256 (``pipelines/commit.py``)."""
    shard = stats.shard
    result = dataclasses.replace(stats.result(size, fingerprint), sha256=sha256)
    write_failures(failures_path(out, f"{shard.split}-{shard.name}"), failures, stats.ok_items)
    write_atomic(marker_path(out, shard), dumps(result.to_dict()))
    return result


def write_failures(path: str, failures: list[Failure], written_items: set[str] | None = None) -> None:
    """One JSON line per failure. ``written_items``: the source keys with samples in the shard; a
    sample-level record then says whether its item has samples (``item_written``), so that
    ``--retry-failures`` never rebuilds an item whose other segments landed."""
    if failures:
        write_atomic(path, b"".join(dumps(_failure_record(f, written_items)) + b"\n" for f in failures))
    else:
        storage.delete([path])


def _failure_record(failure: Failure, written_items: set[str] | None) -> dict[str, Any]:
    record = failure.to_dict()
    if written_items is not None and failure.key != failure.source_key:
        record["item_written"] = failure.source_key in written_items
    return record


def finalize(
    out: str,
    name: str,
    stats: list[ShardStats],
    other_failures: list[Failure],
    settings: dict[str, Any],
    retries: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write sizes.json per split, the run-level failures and the dataset card; clean temp files.

    ``retries``: the ``--retry-failures`` runs so far (``pipelines/retry.py``'s ledger), for the card.
    """
    for split in SPLITS:
        mine = sorted((s for s in stats if s.split == split), key=lambda s: s.shard)
        if mine:
            write_atomic(sizes_path(out, split), dumps({f"{s.shard}.tar": s.samples for s in mine}))
    by_stage: dict[str, list[Failure]] = defaultdict(list)
    for f in sorted(other_failures, key=lambda f: (f.stage, f.key)):
        by_stage["source" if f.stage == "source" else "pipeline"].append(f)
    for file_name in ("source", "pipeline"):
        write_failures(failures_path(out, file_name), by_stage.get(file_name, []))
    card = build_card(name, stats, other_failures, settings)
    card["eval_decontamination"] = eval_removals(other_failures, settings.get("screen", {}).get("eval_sets", {}))
    if retries:
        card["retries"] = retries
    write_atomic(join(out, "dataset_card.json"), json.dumps(card, indent=2, sort_keys=True).encode() + b"\n")
    write_atomic(join(out, "dataset_card.md"), card_markdown(card).encode())
    commit.remove_stale_temps(out)  # this run's and old ones only: never a live writer's
    return card
