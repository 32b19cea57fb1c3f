"""The per-shard step: the heavy work happens where a shard's bytes are written, in pieces when
shards are few.

    shards (sorted items) -> PrepareShards: skip if committed | cut into pieces
      -> SpreadPieces (Reshuffle: pieces over the workers)
      -> BuildPieces: decode -> segment -> ... -> FLAC -> tar; a one-piece shard is committed here
      -> GroupByKey(shard) -> JoinPieces: the parts, in order, joined into the tar -> failures -> marker

Why pieces: a job with few shards for its workers (a small corpus, a test set, the benchmark's 6
shards for 2 workers) would keep one worker busy with the last big shard while the others idle:
the runner never splits an element, and the local runner deals elements to its workers in turn,
blind to their cost. With fewer than ``SHARDS_PER_WORKER`` shards a worker, shards are cut into
pieces of at most one batch (``batch_items``), all of a size within one item (:func:`even_runs`),
so whichever comes last costs little. Each piece's members go to a part file; the shard's tar is
the parts in key order plus the tar's end: the bytes one writer gives (the stages' output does not
depend on how items are batched: ``batch_items`` is a run-only setting). With enough shards every
shard is one piece and nothing is copied.

Everything an item can become is a sample in a shard or a failure record: a piece whose step
raised makes its items ``shard_error`` failures, and its shard is not committed (the items of its
other pieces become failures too; a rerun builds the shard again).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines import commit, sink
from pipelines.card import StatsAccumulator
from pipelines.options import output_shaping
from pipelines.plan import ShardRef, marker_path, shard_fingerprint, tar_path
from pipelines.stages import build_chain
from pipelines.tar_writer import TarShardWriter, join_parts
from schemas import Failure, ShardStats, SourceItem
from transforms import storage
from transforms.stage import Encoded, Sample, Stage

NAMESPACE = "clara"
SHARDS_PER_WORKER = 16
"""With at least this many shards per worker, shards are built whole; with fewer, in pieces."""

ShardKey = tuple[str, int, int]


def piece_items(shards: int, workers: int, batch_items: int, given: int = 0) -> int:
    """Items per piece in a job of ``shards`` shards (0: whole shards): one batch when shards are
    few for the workers, so that pieces are all of a size and whichever comes last costs little."""
    if given > 0:
        return given
    return batch_items if shards < SHARDS_PER_WORKER * max(1, workers) else 0


def even_runs(total: int, count: int) -> list[tuple[int, int]]:
    """``count`` contiguous runs covering ``range(total)`` whose lengths differ by at most one.

    Pieces of one size rather than full pieces and a short last one: the local runner hands
    pieces to its workers round-robin, a job's pieces are then the same work per worker (a shard
    of 120 in pieces of at most 32 is four pieces of 30, not 32, 32, 32 and 24), and the tail where
    one worker waits for the other is at most one piece. The shard's bytes are the same.
    """
    base, extra = divmod(total, count)
    runs, start = [], 0
    for index in range(count):
        stop = start + base + (1 if index < extra else 0)
        runs.append((start, stop))
        start = stop
    return runs


@dataclass(frozen=True)
class Piece:
    """A run of a shard's sorted items that one worker builds: the shard itself when ``count`` is 1."""

    index: int
    count: int
    items: tuple[SourceItem, ...]
    shard_items: int
    fingerprint: str


@dataclass
class BuiltPiece:
    """What a piece of a many-piece shard left for the join: its part file and its figures."""

    index: int
    count: int
    part: str
    stats: StatsAccumulator
    failures: list[Failure]
    items: tuple[tuple[str, str], ...]
    """(key, dataset) of its items: their failure records if the shard can't be committed."""
    shard_items: int
    fingerprint: str
    seconds: float


class PrepareShardFn(beam.DoFn):
    """A planned shard -> its pieces, or (tagged ``done``) its stats when it is already committed."""

    def __init__(self, out: str, config: Any, storage_options: dict[str, Any] | None = None) -> None:
        self.out = out
        self.config = config
        self.storage_options = storage_options
        self.shaping = output_shaping(config)

    def setup(self) -> None:
        storage.configure(self.storage_options)

    def process(self, element: tuple[ShardKey, Iterable[SourceItem]], shards: int) -> Iterator[Any]:
        shard_key, grouped = element
        shard = ShardRef(*shard_key)
        items = sorted(grouped, key=lambda it: it.key)
        fingerprint = shard_fingerprint(items, self.shaping)
        marker = marker_path(self.out, shard)
        if not self.config.run.overwrite and storage.exists(marker):
            previous = ShardStats.from_dict(json.loads(storage.read_text(marker)))
            problem = commit.mismatch(previous, tar_path(self.out, shard))
            if previous.fingerprint == fingerprint and problem is None:
                Metrics.counter(NAMESPACE, "shards_skipped").inc()
                yield beam.pvalue.TaggedOutput("done", previous)
                return
            Metrics.counter(NAMESPACE, "shards_rebuilt_stale").inc()
            why = "inputs or settings changed" if previous.fingerprint != fingerprint else problem
            print(f"[clara] shard {shard.split}/{shard.name}: {why}, rebuilding", file=sys.stderr)
        run = self.config.run
        size = piece_items(shards, run.workers, run.batch_items, run.piece_items) or len(items)
        count = max(1, math.ceil(len(items) / size))
        for index, (start, stop) in enumerate(even_runs(len(items), count)):
            yield shard_key, Piece(index, count, tuple(items[start:stop]), len(items), fingerprint)


class BuildShardFn(beam.DoFn):
    """Builds one piece of a shard (a whole shard when it is one piece) through the stage chain of
    the registry (decode, the stages the config turns on, encode) into its tar. A whole shard is
    committed here; a piece's part goes (tagged ``pieces``) to the join."""

    def __init__(self, out: str, config: Any, storage_options: dict[str, Any] | None = None) -> None:
        self.out = out
        self.config = config
        self.storage_options = storage_options
        self.stages: list[Stage] = []

    def setup(self) -> None:
        storage.configure(self.storage_options)
        self.stages = build_chain(self.config)
        self.decode, self.chain = self.stages[0], self.stages[1:]
        for stage in self.stages:
            stage.setup()
        self.batch_items = Metrics.distribution(NAMESPACE, "batch_items")

    def teardown(self) -> None:
        for stage in self.stages:
            stage.teardown()

    def process(self, element: tuple[ShardKey, Piece]) -> Iterator[Any]:
        shard_key, piece = element
        try:
            yield self._build(shard_key, piece)
        except Exception as exc:
            if "://" not in self.out or not (storage.transient(exc) or isinstance(exc, storage.StorageError)):
                raise  # a local disk's write error is not transient: its items are shard_error failures
            # an object store that failed in the middle of the tar's stream (an upload, beyond the
            # per-call retries): the piece is built again, to new temporary names; the same bytes come out
            shard = ShardRef(*shard_key)
            print(f"[clara] shard {shard.split}/{shard.name}: storage fault while writing ({exc}), building again",
                  file=sys.stderr)  # fmt: skip
            try:
                yield self._build(shard_key, piece)
            except Exception as again:
                if not storage.transient(again):
                    raise
                raise storage.StorageError(
                    f"writing shard {shard.split}/{shard.name}: {again} (built twice)"
                ) from again

    def _build(self, shard_key: ShardKey, piece: Piece) -> Any:  # stats, or a tagged piece
        shard = ShardRef(*shard_key)
        started = time.monotonic()
        stats = StatsAccumulator(shard, len(piece.items))
        failures: list[Failure] = []
        writer = TarShardWriter(self.out, shard, None if piece.count == 1 else piece.index)
        try:
            for batch in self._decoded_batches(list(piece.items), failures, stats):
                for encoded in self._run_chain(batch, failures, stats):
                    writer.add(encoded.meta.key, encoded.flac, sink.record_json(encoded.meta))
                    stats.add_sample(encoded.meta, encoded.sample.item.key)
            size = writer.commit()
        except BaseException:
            writer.abort()
            raise
        if piece.count == 1:
            seconds = time.monotonic() - started
            return commit_shard(self.out, stats, failures, size, writer.sha256, piece.fingerprint, seconds)
        keys = tuple((it.key, it.dataset) for it in piece.items)
        built = BuiltPiece(
            piece.index, piece.count, writer.tmp, stats, failures, keys, piece.shard_items, piece.fingerprint,
            time.monotonic() - started,
        )  # fmt: skip
        return beam.pvalue.TaggedOutput("pieces", (shard_key, built))

    def _decoded_batches(
        self, items: list[SourceItem], failures: list[Failure], stats: StatsAccumulator
    ) -> Iterator[list[Sample]]:
        """Decoded samples in batches of at most ``batch_items`` items that close once their audio
        passes ``batch_audio_s``: a shard step's memory follows the budget, not what its items are."""
        max_items = self.config.run.batch_items
        max_seconds = self.config.run.batch_audio_s
        batch: list[Sample] = []
        count, seconds, spent = 0, 0.0, 0.0
        for index, item in enumerate(items):
            started = time.perf_counter()
            samples, failed = self.decode.process([item])
            spent += time.perf_counter() - started
            _record(failed, failures, stats)
            for sample in samples:
                sample.split = stats.shard.split
            batch += samples
            count += 1
            seconds += sum(sample.duration_s for sample in samples)
            if count >= max_items or seconds >= max_seconds or index == len(items) - 1:
                self.batch_items.update(count)
                _stage_metrics(self.decode.name, count, len(batch), time.perf_counter() - spent)
                yield batch
                batch, count, seconds, spent = [], 0, 0.0, 0.0

    def _run_chain(
        self, samples: list[Sample], failures: list[Failure], stats: StatsAccumulator, first: int = 0
    ) -> Iterator[Encoded]:
        """The samples through the chain after decode, encode last: each one's shard members, in order."""
        for position in range(first, len(self.chain)):
            if not samples:
                break
            stage = self.chain[position]
            started, count_in = time.perf_counter(), len(samples)
            try:
                samples, failed = stage.process(samples)
            except Exception as exc:  # a stage bug costs its batch, not the job
                failed = [s.fail(stage.name, "stage_error", f"{type(exc).__name__}: {exc}") for s in samples]
                samples = []
            _stage_metrics(stage.name, count_in, len(samples), started)
            _record(failed, failures, stats)
            if position + 1 < len(self.chain) and len(samples) > count_in:
                # A stage that multiplied the batch (segmentation of a long recording: one item, a
                # thousand segments, lazy views of a spooled file) hands the rest of the chain
                # pieces within the batch budget, written before the next is made: augmented copies
                # and other materialised audio never pile up past the budget. Same samples, same order.
                chunks = list(_chunks_by_seconds(samples, self.config.run.batch_audio_s))
                if len(chunks) > 1:
                    samples = []
                    for chunk in chunks:
                        yield from self._run_chain(chunk, failures, stats, position + 1)
                    return
        yield from samples


def _chunks_by_seconds(samples: list[Sample], max_seconds: float) -> Iterator[list[Sample]]:
    """``samples`` in order, cut into runs that close once their audio reaches ``max_seconds``."""
    chunk: list[Sample] = []
    seconds = 0.0
    for sample in samples:
        chunk.append(sample)
        seconds += sample.duration_s
        if seconds >= max_seconds:
            yield chunk
            chunk, seconds = [], 0.0
    if chunk:
        yield chunk


class JoinPiecesFn(beam.DoFn):
    """A many-piece shard's parts -> its tar (joined in order), failures and marker."""

    def __init__(self, out: str, storage_options: dict[str, Any] | None = None) -> None:
        self.out = out
        self.storage_options = storage_options

    def setup(self) -> None:
        storage.configure(self.storage_options)

    def process(self, element: tuple[ShardKey, Iterable[BuiltPiece]]) -> Iterator[ShardStats]:
        shard_key, built = element
        pieces = sorted(built, key=lambda p: p.index)
        count = pieces[0].count
        missing = sorted(set(range(count)) - {p.index for p in pieces})
        if missing:  # their items are failures already (their own dead letters); no partial shard
            storage.delete([p.part for p in pieces])
            raise RuntimeError(f"piece(s) {missing} of {count} of this shard failed; the shard is not written")
        started = time.monotonic()
        shard = ShardRef(*shard_key)
        parts = [p.part for p in pieces]
        done = self._committed(shard, pieces[0].fingerprint)
        if done is None:
            try:
                size, sha256 = join_parts(self.out, shard, parts)
            except FileNotFoundError:  # another attempt joined the parts and removed them
                done = self._committed(shard, pieces[0].fingerprint)
                if done is None:
                    raise
        if done is not None:  # another attempt committed this shard (the same bytes): its marker stands
            storage.delete(parts)
            yield done
            return
        stats = StatsAccumulator(shard, pieces[0].shard_items)
        stats.add_pieces(p.stats for p in pieces)
        failures = [f for p in pieces for f in p.failures]
        seconds = sum(p.seconds for p in pieces) + time.monotonic() - started
        result = commit_shard(self.out, stats, failures, size, sha256, pieces[0].fingerprint, seconds, count)
        storage.delete(parts)  # once committed: a retry of this join before here still finds them
        yield result

    def _committed(self, shard: ShardRef, fingerprint: str) -> ShardStats | None:
        """The shard's marker when it commits the shard's tar for these items and settings."""
        stats = commit.verified(tar_path(self.out, shard))
        return stats if stats is not None and stats.fingerprint == fingerprint else None


def commit_shard(
    out: str,
    stats: StatsAccumulator,
    failures: list[Failure],
    size: int,
    sha256: str,
    fingerprint: str,
    seconds: float,
    pieces: int = 1,
) -> ShardStats:
    """After its tar: the shard's failures and marker (:func:`pipelines.sink.commit_shard`), its metrics and log line."""
    shard = stats.shard
    for failure in failures:
        Metrics.counter("failures", f"{failure.stage}/{failure.reason}").inc()
    result = sink.commit_shard(out, stats, failures, size, sha256, fingerprint)
    Metrics.counter(NAMESPACE, "items_in").inc(result.items_in)
    Metrics.counter(NAMESPACE, "items_failed").inc(result.items_failed)
    Metrics.counter(NAMESPACE, "samples_written").inc(result.samples)
    Metrics.counter(NAMESPACE, "audio_ms_written").inc(int(result.duration_s * 1000))
    Metrics.counter(NAMESPACE, "shards_written").inc()
    print(
        f"[clara] shard {shard.split}/{shard.name} ({shard.index + 1}/{shard.total}): "
        f"{result.samples} samples, {result.duration_s / 60:.1f} min audio, {result.items_failed} items failed, "
        f"{seconds:.1f} s" + (f" in {pieces} pieces" if pieces > 1 else ""),
        file=sys.stderr,
        flush=True,
    )
    return result


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


def _items_of(value: Any) -> list[tuple[str, str]]:  # a dead letter's payload
    """(key, dataset) of every item in a failed step's element, whichever step it came from."""
    if isinstance(value, Piece):
        return [(it.key, it.dataset) for it in value.items]
    values = list(value)
    if values and isinstance(values[0], BuiltPiece):
        return [ref for piece in values for ref in piece.items]
    return [(it.key, it.dataset) for it in values]


def dead_letter_to_failures(bad: Any) -> Iterator[Failure]:
    """A shard or piece whose step raised: every item of it becomes a failure record with the error
    (reason ``storage_error`` when the store kept failing past its retries, else ``shard_error``)."""
    element, error = bad if isinstance(bad, tuple) and len(bad) == 2 else (bad, ("", "unknown", ""))
    shard_key, value = element
    shard = ShardRef(*shard_key)
    detail = str(error[1] if isinstance(error, tuple) and len(error) > 1 else error)[:500]
    kind = error[0] if isinstance(error, tuple) and error else None
    reason = "storage_error" if isinstance(kind, type) and issubclass(kind, storage.StorageError) else "shard_error"
    for key, dataset in _items_of(value):
        yield Failure(
            key=key, source=dataset, stage="write", reason=reason, detail=detail,
            shard=f"{shard.split}/{shard.name}",
        )  # fmt: skip


class BuildShards(beam.PTransform):
    """(shard key, items) -> (per-shard stats, failure records of the shards or pieces that raised)."""

    def __init__(self, out: str, config: Any, storage_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.out = out
        self.config = config
        self.storage_options = storage_options

    def expand(self, shards: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        out, config, options = self.out, self.config, self.storage_options
        count = shards | "CountShards" >> beam.combiners.Count.Globally()
        prepared = shards | "PrepareShards" >> beam.ParDo(
            PrepareShardFn(out, config, options), shards=beam.pvalue.AsSingleton(count)
        ).with_output_types(Any, done=Any).with_exception_handling().with_outputs("done", main="pieces")
        build = beam.ParDo(BuildShardFn(out, config, options)).with_output_types(Any, pieces=Any)
        if config.run.accelerator:  # Whisper / CoCa stages on GPU workers (Dataflow resource hints)
            build = build.with_resource_hints(accelerator=config.run.accelerator)
        built = (
            prepared.pieces
            | "SpreadPieces" >> beam.Reshuffle()
            | "BuildPieces" >> build.with_exception_handling().with_outputs("pieces", main="shards")
        )
        joined, join_failed = (
            built.pieces
            | "GroupPieces" >> beam.GroupByKey()
            | "JoinPieces" >> beam.ParDo(JoinPiecesFn(out, options)).with_exception_handling()
        )
        stats = (prepared.done, built.shards, joined) | "ShardStats" >> beam.Flatten()
        dead = (prepared.bad, built.bad, join_failed) | "FailedSteps" >> beam.Flatten()
        return stats, dead | "StepFailures" >> beam.FlatMap(dead_letter_to_failures)
