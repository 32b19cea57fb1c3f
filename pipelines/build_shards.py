"""The shard build, as a Beam pipeline that reads like ARCHITECTURE.md's diagram.

    source -> plan shards (count per split, key hash mod n) -> group small records by shard
           -> per shard: skip if committed | decode -> segment -> describe -> ... -> FLAC
              -> tar (temp + rename) -> failures -> marker
           -> sizes.json, failures, dataset card

Only small records (keys, metadata) cross shuffles; audio is read, transformed and written
inside the per-shard step (ARCHITECTURE.md: shuffling audio bytes cost more than the work).
Everything an item can become is a sample in a shard or a failure record with its reason.

Opt-in, before the plan: ``--dedupe-audio`` / ``--exclude-eval`` screen the items by fingerprint
and source id (``pipelines/dedupe.py``); ``--retry-failures`` takes up only the items a previous
build failed, into new shards (``pipelines/retry.py``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines import retry, sink
from pipelines.dedupe import ScreenItems, parse_eval_sets
from pipelines.options import card_settings, output_shaping
from pipelines.plan import PlanShards, drop_duplicates
from pipelines.sink import ShardRef, StatsAccumulator, TarShardWriter
from pipelines.stages import build_chain, build_decode
from schemas import Failure, ShardStats, SourceItem
from transforms import storage
from transforms.encode import encode
from transforms.stage import Sample

log = logging.getLogger("clara")
NAMESPACE = "clara"


BATCH_AUDIO_S = 600.0
"""Audio seconds after which an in-shard batch closes (with ``batch_items``, whichever comes first)."""


class BuildShardFn(beam.DoFn):
    """Writes one planned shard: all its heavy work happens here, where its bytes are written."""

    def __init__(self, out: str, config: Any, storage_options: dict[str, Any] | None = None) -> None:
        self.out = out
        self.config = config
        self.storage_options = storage_options
        self.shaping = output_shaping(config)

    def setup(self) -> None:
        storage.configure(self.storage_options)
        self.decode = build_decode(self.config)
        self.decode.setup()
        self.chain = build_chain(self.config)
        for stage in self.chain:
            stage.setup()
        self.items_in = Metrics.counter(NAMESPACE, "items_in")
        self.samples_written = Metrics.counter(NAMESPACE, "samples_written")
        self.shards_written = Metrics.counter(NAMESPACE, "shards_written")
        self.shards_skipped = Metrics.counter(NAMESPACE, "shards_skipped")
        self.shards_stale = Metrics.counter(NAMESPACE, "shards_rebuilt_stale")
        self.items_failed = Metrics.counter(NAMESPACE, "items_failed")
        self.audio_seconds = Metrics.counter(NAMESPACE, "audio_ms_written")
        self.batch_items = Metrics.distribution(NAMESPACE, "batch_items")

    def process(self, element: tuple[tuple[str, int, int], Iterable[SourceItem]]) -> Iterator[ShardStats]:
        shard_key, grouped = element
        shard = ShardRef(*shard_key)
        marker = sink.marker_path(self.out, shard)
        items = sorted(grouped, key=lambda it: it.key)
        fingerprint = sink.shard_fingerprint(items, self.shaping)
        if not self.config.run.overwrite and sink.exists(marker):
            previous = ShardStats.from_dict(json.loads(sink.read_text(marker)))
            if previous.fingerprint == fingerprint:
                self.shards_skipped.inc()
                yield previous
                return
            self.shards_stale.inc()
            print(f"[clara] shard {shard.split}/{shard.name}: inputs or settings changed, rebuilding", file=sys.stderr)
        started = time.monotonic()
        stats = StatsAccumulator(shard, len(items))
        failures: list[Failure] = []
        writer = TarShardWriter(self.out, shard)
        try:
            for batch in self._decoded_batches(items, failures, stats):
                for sample, meta, flac in self._run_chain(batch, failures, stats):
                    writer.add(meta.key, flac, sink.dumps(meta.to_json_dict()))
                    stats.add_sample(meta, sample.item.key)
            size = writer.commit()
        except BaseException:
            writer.abort()
            raise
        for failure in failures:
            Metrics.counter("failures", f"{failure.stage}/{failure.reason}").inc()
        result = stats.result(size, fingerprint)
        sink.write_failures(sink.failures_path(self.out, f"{shard.split}-{shard.name}"), failures, stats.ok_items)
        sink.write_atomic(marker, sink.dumps(result.to_dict()))
        self.items_in.inc(result.items_in)
        self.items_failed.inc(result.items_failed)
        self.samples_written.inc(result.samples)
        self.audio_seconds.inc(int(result.duration_s * 1000))
        self.shards_written.inc()
        print(
            f"[clara] shard {shard.split}/{shard.name} ({shard.index + 1}/{shard.total}): "
            f"{result.samples} samples, {result.duration_s / 60:.1f} min audio, {result.items_failed} items failed, "
            f"{time.monotonic() - started:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        yield result

    def _decoded_batches(
        self, items: list[SourceItem], failures: list[Failure], stats: StatsAccumulator
    ) -> Iterator[list[Sample]]:
        """Decoded samples in batches of at most ``batch_items`` items that close once their audio
        passes ``batch_audio_s``: a shard step's memory follows the budget, not what its items are."""
        max_items = self.config.run.batch_items
        max_seconds = float(getattr(self.config.run, "batch_audio_s", BATCH_AUDIO_S))
        batch: list[Sample] = []
        count, seconds, spent = 0, 0.0, 0.0
        for index, item in enumerate(items):
            started = time.perf_counter()
            samples, failed = self.decode.process_items([item])
            spent += time.perf_counter() - started
            self._record(failed, failures, stats)
            batch += samples
            count += 1
            seconds += sum(sample.duration_s for sample in samples)
            if count >= max_items or seconds >= max_seconds or index == len(items) - 1:
                self.batch_items.update(count)
                _stage_metrics("decode", count, len(batch), time.perf_counter() - spent)
                yield batch
                batch, count, seconds, spent = [], 0, 0.0, 0.0

    def _run_chain(
        self, samples: list[Sample], failures: list[Failure], stats: StatsAccumulator
    ) -> Iterator[tuple[Sample, Any, bytes]]:
        for stage in self.chain:
            if not samples:
                break
            started, count_in = time.perf_counter(), len(samples)
            try:
                samples, failed = stage.process(samples)
            except Exception as exc:  # noqa: BLE001 - a stage bug costs its batch, not the job
                failed = [s.fail(stage.name, "stage_error", f"{type(exc).__name__}: {exc}") for s in samples]
                samples = []
            _stage_metrics(stage.name, count_in, len(samples), started)
            self._record(failed, failures, stats)
        for sample in samples:
            try:
                meta, flac = encode(sample, stats.shard.split)
            except Exception as exc:  # noqa: BLE001
                self._record([sample.fail("encode", "encode_error", f"{type(exc).__name__}: {exc}")], failures, stats)
                continue
            yield sample, meta, flac

    @staticmethod
    def _record(failed: list[Failure], failures: list[Failure], stats: StatsAccumulator) -> None:
        for failure in failed:
            stats.add_failure(failure)
            failures.append(failure)


def _stage_metrics(name: str, count_in: int, count_out: int, started: float) -> None:
    """Per-stage Beam metrics: samples in/out, batch size and batch latency (models included)."""
    Metrics.counter("stage", f"{name}/in").inc(count_in)
    Metrics.counter("stage", f"{name}/out").inc(count_out)
    Metrics.distribution("stage", f"{name}/batch_size").update(count_in)
    Metrics.distribution("stage", f"{name}/batch_ms").update(int((time.perf_counter() - started) * 1000))


def _dead_letter_to_failures(bad: Any) -> Iterator[Failure]:
    """A shard whose step raised: every item of it becomes a failure record with the error."""
    element, error = bad if isinstance(bad, tuple) and len(bad) == 2 else (bad, ("", "unknown", ""))
    shard_key, items = element
    shard = ShardRef(*shard_key)
    detail = str(error[1] if isinstance(error, tuple) and len(error) > 1 else error)[:500]
    for item in items:
        yield Failure(
            key=item.key,
            source=item.dataset,
            stage="write",
            reason="shard_error",
            detail=detail,
            shard=f"{shard.split}/{shard.name}",
        )


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

    storage_options = _storage_options(pipeline)
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
    build = beam.ParDo(BuildShardFn(out, config, storage_options))
    if config.run.accelerator:  # Whisper / CoCa stages on GPU workers (Dataflow resource hints)
        build = build.with_resource_hints(accelerator=config.run.accelerator)
    stats, dead = planned.shards | "BuildShards" >> build.with_exception_handling()
    other_failures = (
        split_records.failures,
        planned.failures,
        *screened_out,
        dead | "DeadShards" >> beam.FlatMap(_dead_letter_to_failures),
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
