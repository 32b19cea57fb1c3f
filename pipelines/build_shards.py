"""The shard build, as a Beam pipeline that reads like ARCHITECTURE.md's diagram.

    source -> plan shards (count per split, key hash mod n) -> group small records by shard
           -> per shard: skip if committed | decode -> segment -> describe -> ... -> FLAC
              -> tar (temp + rename) -> failures -> marker   (pipelines/shard_step.py; a shard
                 in pieces over the workers when shards are few, its tar joined from their parts)
           -> sizes.json, failures, dataset card

Only small records (keys, metadata) cross shuffles; audio is read, transformed and written
inside the per-shard step (ARCHITECTURE.md: shuffling audio bytes cost more than the work).
Everything an item can become is a sample in a shard or a failure record with its reason.

Opt-in, before the plan: ``--dedupe-audio`` / ``--exclude-eval`` screen the items by fingerprint
and source id (``pipelines/dedupe.py``); ``--retry-failures`` takes up only the items a previous
build failed, into new shards (``pipelines/retry.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from pipelines import retry, sink
from pipelines.dedupe import ScreenItems, parse_eval_sets
from pipelines.options import card_settings
from pipelines.plan import PlanShards, drop_duplicates
from pipelines.shard_step import BuildShards
from schemas import Failure, ShardStats, SourceItem
from transforms import storage


def _split_records(record: SourceItem | Failure) -> Iterator[Any]:
    if isinstance(record, Failure):
        yield beam.pvalue.TaggedOutput("failures", record)
    else:
        yield record


def build_pipeline(
    pipeline: beam.Pipeline,
    records: beam.PCollection,
    out: str,
    name: str,
    config: Any,
) -> tuple[beam.PCollection, beam.PCollection]:
    """Add the shard build to ``pipeline``; ``records`` is a PCollection of SourceItem | Failure.

    Returns the PCollections of per-shard stats and of failures outside shards (source rows,
    duplicate keys, shards whose step raised), for tests and callers that want them.
    """
    fractions = config.plan.split_fractions
    shard_size = config.plan.shard_size
    max_seconds = config.plan.shard_max_s

    storage_options = {**_storage_options(pipeline), **config.storage.options()}
    storage.configure(config.storage.options())  # the launcher's own calls keep the same retry budget
    retrying = config.run.retry_failures
    if retrying:  # only the items in failures/, into new shards after the existing ones
        selected = records | "SelectRetried" >> retry.SelectRetried(out)
        records = selected.records
    split_records = records | "SplitSourceFailures" >> beam.FlatMap(_split_records).with_outputs(
        "failures", main="items"
    )
    items = split_records.items
    screened_out: list[beam.PCollection] = []
    eval_sets = parse_eval_sets(config.screen.exclude_eval)
    if config.screen.active:  # duplicate audio, eval overlap: (key, fingerprint) records only
        screen = config.screen
        screened = items | "Screen" >> ScreenItems(
            config.decode, screen.dedupe_audio, eval_sets, storage_options, screen.dedupe_max_distance
        )
        items, screened_out = screened.items, [screened.failures]
    placed = items | "PlanShards" >> PlanShards(fractions, shard_size, max_seconds)
    if retrying:
        placed |= "AfterExistingShards" >> beam.Map(retry.offset_shard, offsets=retry.index_offsets(out))
    planned = (
        placed
        | "GroupByShard" >> beam.GroupByKey()
        | "DropDuplicates" >> beam.FlatMap(drop_duplicates).with_outputs("failures", main="shards")
    )
    stats, shard_failures = planned.shards | "BuildShards" >> BuildShards(out, config, storage_options)
    other_failures = (
        split_records.failures,
        planned.failures,
        *screened_out,
        shard_failures,
    ) | "AllOtherFailures" >> beam.Flatten()
    card = card_settings(config)
    if config.screen.active:
        card["screen"] = {"dedupe_audio": config.screen.dedupe_audio, "eval_sets": {e.name: e.path for e in eval_sets}}
    if retrying:  # what finalize needs: the keys retried, the failures files naming them, the old markers
        keys = retry.retried_keys(records)
        files = selected.files | "DistinctFailureFiles" >> beam.Distinct()
        old = (
            pipeline
            | "PreviousMarkers" >> beam.Create(retry.previous_markers(out))
            | "SpreadMarkers" >> beam.Reshuffle()
            | "ReadMarkers" >> beam.FlatMap(retry.read_marker, storage_options)
        )
    else:
        keys = files = old = pipeline | "NoRetry" >> beam.Create([])
    overwrite = config.run.overwrite
    _ = (
        pipeline
        | "FinalizeTrigger" >> beam.Create([None])
        | "Finalize"
        >> beam.Map(
            lambda _, stats, failures, keys, files, old: _finalize(
                out,
                name,
                list(stats),
                list(failures),
                card,
                storage_options,
                (list(keys), list(old), list(files)) if retrying else None,
                overwrite,
            ),
            stats=beam.pvalue.AsList(stats),
            failures=beam.pvalue.AsList(other_failures),
            keys=beam.pvalue.AsList(keys),
            files=beam.pvalue.AsList(files),
            old=beam.pvalue.AsList(old),
        )
    )
    return stats, other_failures


def _storage_options(pipeline: beam.Pipeline) -> dict[str, Any]:
    """The options a worker needs to reach storage (the pipeline's own, as the launcher was given them)."""
    return pipeline.options.get_all_options(drop_default=True) if pipeline.options else {}


def _finalize(
    out: str,
    name: str,
    stats: list,
    failures: list,
    card: dict,
    storage_options: dict,
    retried: tuple[list[str], list[ShardStats], list[str]] | None = None,
    overwrite: bool = False,
) -> Any:
    """sizes.json, failures and the card; with ``retried`` (a --retry-failures run: the keys retried,
    the old markers, the failures files naming the keys) over old and new shards."""
    storage.configure(storage_options)
    if retried is not None:
        keys, old, files = retried
        stats, failures, runs = retry.finalize_retry(out, stats, failures, keys, old, files)
    else:
        runs = retry.keep_retried_shards(out, stats, drop=overwrite)
        stats = stats + retry.ledger_stats(out, runs, exclude={(s.split, s.shard) for s in stats})
    return sink.finalize(out, name, stats, failures, card, retries=runs)
