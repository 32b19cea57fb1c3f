"""The shard build, as a Beam pipeline that reads like the diagram in docs/design.md.

    source -> plan shards (count per split, key hash mod n) -> group small records by shard
           -> per shard: skip if committed | decode -> segment -> describe -> ... -> FLAC
              -> tar (temp + rename) -> failures -> marker   (pipelines/shard_step.py; a shard
                 in pieces over the workers when shards are few, its tar joined from their parts)
           -> sizes.json, failures, dataset card

Only small records (keys, metadata) cross shuffles; audio is read, transformed and written
inside the per-shard step (docs/design.md: shuffling audio bytes cost more than the work).
Everything an item can become is a sample in a shard or a failure record with its reason.

Opt-in, before the plan: ``--dedupe-audio`` / ``--exclude-eval`` screen the items by fingerprint
and source id (``pipelines/dedupe.py``); ``--retry-failures`` takes up only the items a previous
build failed, into new shards (``pipelines/retry.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from pipelines import sink
from pipelines.dedupe import ScreenItems, parse_eval_sets
from pipelines.options import card_settings
from pipelines.plan import PlanShards, drop_duplicates
from pipelines.retry import Retry
from pipelines.shard_step import BuildShards
from schemas import Failure, SourceItem
from transforms import storage
from transforms.augment import noise_file_failures


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
    storage_options = {**_storage_options(pipeline), **config.storage.options()}
    storage.configure(config.storage.options())  # the launcher's own calls keep the same retry budget
    retry = Retry(out, config.run.retry_failures, config.run.overwrite)
    records, ledger = retry.select(records, storage_options)
    split = records | "SplitSourceFailures" >> beam.FlatMap(_split_records).with_outputs("failures", main="items")
    items, screened_out = _screen(split.items, config, storage_options)
    plan = config.plan
    placed = items | "PlanShards" >> PlanShards(plan.split_fractions, plan.shard_size, plan.shard_max_s)
    planned = (
        retry.offset(placed)
        | "GroupByShard" >> beam.GroupByKey()
        | "DropDuplicates" >> beam.FlatMap(drop_duplicates).with_outputs("failures", main="shards")
    )
    stats, shard_failures = planned.shards | "BuildShards" >> BuildShards(out, config, storage_options)
    other_failures = (
        split.failures,
        planned.failures,
        *screened_out,
        shard_failures,
        *noise_file_failures(pipeline, config, storage_options),
    ) | "AllOtherFailures" >> beam.Flatten()
    finalize = _Finalize(out, name, _card_settings(config), retry, storage_options)
    side = {key: beam.pvalue.AsList(pcoll) for key, pcoll in ledger.items()}
    _ = (
        pipeline
        | "FinalizeTrigger" >> beam.Create([None])
        | "Finalize"
        >> beam.Map(finalize, stats=beam.pvalue.AsList(stats), failures=beam.pvalue.AsList(other_failures), **side)
    )
    return stats, other_failures


def _split_records(record: SourceItem | Failure) -> Iterator[Any]:
    if isinstance(record, Failure):
        yield beam.pvalue.TaggedOutput("failures", record)
    else:
        yield record


def _screen(items: beam.PCollection, config: Any, storage_options: dict[str, Any]) -> tuple[Any, list]:
    """The items past the opt-in screen (duplicate audio, eval overlap) and its failures."""
    if not config.screen.active:
        return items, []
    screen = config.screen
    screened = items | "Screen" >> ScreenItems(
        config.decode,
        screen.dedupe_audio,
        parse_eval_sets(screen.exclude_eval),
        storage_options,
        screen.dedupe_max_distance,
    )
    return screened.items, [screened.failures]


def _card_settings(config: Any) -> dict[str, Any]:
    card = card_settings(config)
    if config.screen.active:
        eval_sets = parse_eval_sets(config.screen.exclude_eval)
        card["screen"] = {"dedupe_audio": config.screen.dedupe_audio, "eval_sets": {e.name: e.path for e in eval_sets}}
    return card


def _storage_options(pipeline: beam.Pipeline) -> dict[str, Any]:
    """The options a worker needs to reach storage (the pipeline's own, as the launcher was given them)."""
    return pipeline.options.get_all_options(drop_default=True) if pipeline.options else {}


class _Finalize:
    """The last step, once every shard is done: sizes.json, failures and the card over old and new shards."""

    def __init__(self, out: str, name: str, card: dict[str, Any], retry: Retry, storage_options: dict) -> None:
        self.out, self.name, self.card, self.retry, self.storage_options = out, name, card, retry, storage_options

    def __call__(self, _: None, stats: list, failures: list, keys: list, files: list, old: list) -> dict[str, Any]:
        storage.configure(self.storage_options)
        stats, failures, runs = self.retry.finalize(list(stats), list(failures), list(keys), list(files), list(old))
        return sink.finalize(self.out, self.name, stats, failures, self.card, retries=runs)
