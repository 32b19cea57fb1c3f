"""Bounded bundles on the local runner, as a cluster's runner gives them.

Beam's FnApiRunner (behind ``DirectRunner`` and the embedded job service of ``PortableRunner``)
runs each stage as **one bundle per worker**, holding that worker's whole share of the stage's
input, and sends that input over before the bundle starts (``fn_runner.BundleManager``: inputs
first, then the ``process_bundle`` request). A grouped input is even one byte string per worker
(``execution.GroupingBuffer.partition``). A worker therefore holds its whole share of every stage
at once, however small each element or group is: on ``bench/plan_scale.py`` (2 worker processes)
a worker's peak RSS followed the input, ~0.45 GB at 200 k items, ~1 GB at 1 M, 2.4 GB at 5 M,
although no step holds more than one shard's ~512 records. The launcher holds every shuffle too;
that part is the local runner's shuffle service (Dataflow's and Flink's live outside the workers).

Dataflow and Flink give workers bounded bundles and read a group's values in bounded chunks.
:func:`bound_local_bundles` makes this process's FnApiRunner do the same: a worker's share of a
stage goes in bundles of about ``max_bytes`` of encoded input, one after another on that worker,
and grouped data is cut at group boundaries into pieces of at most ``max_bytes`` (one group bigger
than that stays whole). The elements, groups, their order and which worker gets them are
unchanged; only how many go in one bundle. A stage with timers keeps Beam's own way.
:func:`prepare_local_workers` applies it, with glibc settings, to ``clara shards`` on the
DirectRunner with worker processes (more than 4 workers); threads share the launcher's memory.
"""

from __future__ import annotations

import itertools
from typing import Any

DEFAULT_MAX_BYTES = 32 << 20
"""A bundle's encoded input, and a piece of grouped data, at most (about)."""

ALLOCATOR = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "262144", "MALLOC_TRIM_THRESHOLD_": "262144"}
"""glibc settings for local worker processes (inherited from the launcher's environment): freed
data-plane buffers go back to the system instead of staying in per-thread arenas (a worker held
~1 GB at 1 M planned items without them, bounded bundles or not)."""

_LIMIT = [DEFAULT_MAX_BYTES]
_ORIGINALS: dict[str, Any] = {}


def bound_local_bundles(max_bytes: int = DEFAULT_MAX_BYTES) -> bool:
    """Give this process's FnApiRunner bounded bundles of about ``max_bytes`` of input each.

    Returns False (changing nothing) when this Beam's runner is not shaped as expected; its
    bundles are then its own."""
    try:
        from apache_beam.runners.portability.fn_api_runner import execution, fn_runner
    except ImportError:  # pragma: no cover - a Beam without the FnApiRunner
        return False
    grouping = getattr(execution, "GroupingBuffer", None)
    parallel = getattr(fn_runner, "ParallelBundleManager", None)
    if grouping is None or parallel is None or not hasattr(fn_runner, "BundleManager"):
        return False
    _LIMIT[0] = max(1, int(max_bytes))
    if not _ORIGINALS:
        _ORIGINALS["partition"] = grouping.partition
        _ORIGINALS["process_bundle"] = parallel.process_bundle
        grouping.partition = _grouped_partition
        parallel.process_bundle = _process_bundle
    return True


def prepare_local_workers(options: Any) -> bool:  # noqa: ANN401 - PipelineOptions
    """For a DirectRunner with worker processes: bounded bundles, and :data:`ALLOCATOR` in the
    environment the workers inherit (a value already set wins). Threads and other runners: nothing.
    Returns whether it applied."""
    values = options.get_all_options()
    if values.get("runner") != "DirectRunner" or values.get("direct_running_mode") != "multi_processing":
        return False
    import os

    for name, value in ALLOCATOR.items():
        os.environ.setdefault(name, value)
    return bound_local_bundles()


def restore() -> None:
    """Beam's own bundles again (tests)."""
    from apache_beam.runners.portability.fn_api_runner import execution, fn_runner

    if _ORIGINALS:
        execution.GroupingBuffer.partition = _ORIGINALS.pop("partition")
        fn_runner.ParallelBundleManager.process_bundle = _ORIGINALS.pop("process_bundle")


def _grouped_partition(self: Any, n: int) -> list[list[bytes]]:  # noqa: ANN401 - a GroupingBuffer
    """``GroupingBuffer.partition``: the same groups for the same worker (``index % n``), in the
    same order, each worker's share in byte strings of at most ~``_LIMIT`` instead of one."""
    if self._grouped_output:
        return self._grouped_output
    if not self._windowing.is_default():  # windows and triggers: Beam's own way, unchanged
        return _ORIGINALS["partition"](self, n)
    from apache_beam.coders.coder_impl import create_OutputStream

    windowed = _global_window_value()
    coder = self._post_grouped_coder.get_impl()
    key_coder = self._key_coder.get_impl()
    shares: list[list[bytes]] = [[] for _ in range(n)]
    streams = [create_OutputStream() for _ in range(n)]
    for index, (encoded_key, values) in enumerate(self._table.items()):
        stream = streams[index % n]
        coder.encode_to_stream(windowed((key_coder.decode(encoded_key), values)), stream, True)
        if stream.size() >= _LIMIT[0]:
            shares[index % n].append(stream.get())
            streams[index % n] = create_OutputStream()
    for share, stream in zip(shares, streams, strict=True):
        if stream.size() or not share:
            share.append(stream.get())
    self._grouped_output = shares
    self._table.clear()
    return shares


def sub_bundles(part: dict[str, list[bytes]], max_bytes: int) -> list[dict[str, list[bytes]]]:
    """A worker's share of a stage's inputs (input name -> encoded chunks) in bundles of at most
    ~``max_bytes`` each, the chunks in their order (a chunk bigger than that is a bundle alone)."""
    bundles: list[dict[str, list[bytes]]] = []
    current: dict[str, list[bytes]] = {}
    size = 0
    for name, chunks in part.items():
        for chunk in chunks:
            if current and size + len(chunk) > max_bytes:
                bundles.append(current)
                current, size = {}, 0
            current.setdefault(name, []).append(chunk)
            size += len(chunk)
    bundles.append(current)
    for bundle in bundles:  # every bundle names every input (an empty one reads as no elements)
        for name in part:
            bundle.setdefault(name, [])
    return bundles


def _process_bundle(
    self: Any,  # noqa: ANN401 - a ParallelBundleManager
    inputs: Any,  # noqa: ANN401
    expected_outputs: Any,  # noqa: ANN401
    fired_timers: Any,  # noqa: ANN401
    expected_output_timers: Any,  # noqa: ANN401
    dry_run: bool = False,
) -> Any:  # noqa: ANN401
    """``ParallelBundleManager.process_bundle`` with each worker's share in bounded bundles."""
    if fired_timers or expected_output_timers or dry_run:
        return _ORIGINALS["process_bundle"](
            self, inputs, expected_outputs, fired_timers, expected_output_timers, dry_run
        )
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.worker import bundle_processor  # noqa: F401 - Beam's own import order
    from apache_beam.utils import thread_pool_executor

    workers = self._num_workers
    parts: list[dict[str, list[bytes]]] = [{} for _ in range(workers)]
    for name, buffer in inputs.items():
        for index, chunks in enumerate(buffer.partition(workers)):
            parts[index][name] = list(chunks)

    def execute(part: dict[str, list[bytes]]) -> list[Any]:
        results = []
        for bundle in sub_bundles(part, _LIMIT[0]):
            manager = fn_runner.BundleManager(
                self.bundle_context_manager, self._progress_frequency, cache_token_generator=self._cache_token_generator
            )
            results.append(manager.process_bundle(bundle, expected_outputs, {}, expected_output_timers, dry_run))
        return results

    merged = None
    splits: list[Any] = []
    with thread_pool_executor.shared_unbounded_instance() as executor:
        for result, split in itertools.chain.from_iterable(executor.map(execute, parts)):
            splits += split
            merged = result if merged is None else _merge(merged, result)
    return merged, splits


def _merge(a: Any, b: Any) -> Any:  # noqa: ANN401 - InstructionResponses
    from apache_beam.metrics import monitoring_infos
    from apache_beam.portability.api import beam_fn_api_pb2

    return beam_fn_api_pb2.InstructionResponse(
        process_bundle=beam_fn_api_pb2.ProcessBundleResponse(
            monitoring_infos=monitoring_infos.consolidate(
                itertools.chain(b.process_bundle.monitoring_infos, a.process_bundle.monitoring_infos)
            )
        ),
        error=b.error or a.error,
    )


def _global_window_value() -> Any:  # noqa: ANN401 - WindowedValue's with_value
    """What Beam's partition wraps each (key, values) in: the global window, one on-time pane."""
    from apache_beam.transforms.window import GlobalWindow, GlobalWindows
    from apache_beam.utils import windowed_value

    return GlobalWindows.windowed_value(
        None,
        timestamp=GlobalWindow().max_timestamp(),
        pane_info=windowed_value.PaneInfo(
            is_first=True, is_last=True, timing=windowed_value.PaneInfoTiming.ON_TIME, index=0, nonspeculative_index=0
        ),
    ).with_value
