"""Every use of another library's private API, in one room: opt-in, and checked against its shape.

Four places reach past a library's public API, each for a measured reason; nothing here runs on
import, each is applied by the one call that needs it:

- ``local_bundles`` (Apache Beam, :func:`bound_local_bundles`): Beam's FnApiRunner gives each
  worker its whole share of a stage in one bundle (a grouped share as one byte string), so a local
  worker holds its whole share at once; the patch replaces ``GroupingBuffer.partition`` and
  ``ParallelBundleManager.process_bundle`` so a share goes in bundles of about ``max_bytes``, as
  Dataflow and Flink give them (``pipelines/local_shuffle.py`` applies it to local worker processes).
- ``element_flushes`` (Apache Beam, :func:`element_aligned_flushes`): with threaded local workers
  (``--direct_running_mode=multi_threading``) Beam's FnApiRunner starts its SDK workers with a
  1-s time-based flush of their output streams, which fires from a timer thread, also in the middle
  of an element being encoded, while the runner decodes each flushed piece on its own (a
  ``GroupByKey``'s ``GroupingBuffer.append``): the rest of the element is read as a new one. Elements
  arrive corrupted (a value read as ``None``), or a garbage window count makes the runner append
  billions of windows (a shard build grew to 18 GB and was OOM-killed). The patch sets the handler's
  default limit to 0, which gives the size-based stream that flushes between elements only (what
  Beam's worker processes and portable workers use by default).
- ``s3_clients`` (Apache Beam's S3 filesystem and boto3, :func:`share_s3_clients`): Beam builds a
  new boto3 session and client for every S3 call; the patch replaces ``boto3_client.Client.__init__``
  so a process shares one thread-safe boto3 client per S3 settings (``transforms.storage.configure``).
- ``soundfile_reader`` (soundfile, :func:`soundfile_reader`): ``SoundFile.read`` seeks, which fails
  on streams of unknown length; libsndfile's ``sf_readf_float`` through soundfile's private
  ``_snd``/``_ffi`` reads on into a reused buffer (``transforms/decode_stream.py``).

:data:`TESTED_WITH` names the library versions whose shapes these rely on, and :func:`problems` checks
those shapes (attributes, signatures, the instance attributes their sources set, one real read); the
test ``tests/robust/test_internals.py`` fails naming the patch when an upgrade changes either. The
module imports only the standard library at load time (the decode child imports it too).
"""

from __future__ import annotations

import inspect
import itertools
import re
import threading
from collections.abc import Callable
from importlib import metadata
from typing import Any

TESTED_WITH = {"apache-beam": "2.77.0", "boto3": "1.44.18", "soundfile": "0.14.0"}
"""The installed versions whose private shapes :func:`problems` was written against."""
PATCHES = {
    "local_bundles": ("apache-beam",),
    "element_flushes": ("apache-beam",),
    "s3_clients": ("apache-beam", "boto3"),
    "soundfile_reader": ("soundfile",),
}
"""Each patch and the distributions whose internals it relies on."""

# ----------------------------------------------------------------------------- local_bundles (Beam)

DEFAULT_MAX_BYTES = 32 << 20
"""A bundle's encoded input, and a piece of grouped data, at most (about)."""

_LIMIT = [DEFAULT_MAX_BYTES]
_ORIGINALS: dict[str, Any] = {}


def bound_local_bundles(max_bytes: int = DEFAULT_MAX_BYTES) -> bool:
    """Give this process's FnApiRunner bounded bundles of about ``max_bytes`` of input each: a
    worker's share of a stage goes in bundles one after another on that worker, and grouped data is
    cut at group boundaries into pieces of at most ``max_bytes`` (one group bigger than that stays
    whole). The elements, groups, their order and which worker gets them are unchanged. A stage
    with timers, or with windows other than the global one, keeps Beam's own way.

    Returns False (changing nothing) when this Beam's runner is not shaped as expected."""
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


def restore_local_bundles() -> None:
    """Beam's own bundles again."""
    from apache_beam.runners.portability.fn_api_runner import execution, fn_runner

    if _ORIGINALS:
        execution.GroupingBuffer.partition = _ORIGINALS.pop("partition")
        fn_runner.ParallelBundleManager.process_bundle = _ORIGINALS.pop("process_bundle")


def local_bundles_bound() -> bool:
    """Whether :func:`bound_local_bundles` is in effect."""
    from apache_beam.runners.portability.fn_api_runner import execution

    return execution.GroupingBuffer.partition is _grouped_partition


def _grouped_partition(self: Any, n: int) -> list[list[bytes]]:
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
    self: Any,
    inputs: Any,
    expected_outputs: Any,
    fired_timers: Any,
    expected_output_timers: Any,
    dry_run: bool = False,
) -> Any:
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


def _merge(a: Any, b: Any) -> Any:
    """Two bundles' ``InstructionResponse``s as one: their metrics consolidated, the first error kept."""
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


def _global_window_value() -> Callable[[Any], Any]:
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


# ----------------------------------------------------------------------------- element_flushes (Beam)


_FLUSH_ORIGINAL: dict[str, int] = {}
"""Beam's own ``DATA_BUFFER_TIME_LIMIT_MS`` while :func:`element_aligned_flushes` is in effect (apart from
``_ORIGINALS``, whose emptiness says local_bundles is off)."""


def element_aligned_flushes() -> bool:
    """This process's threaded FnApiRunner workers flush their output between elements only (module
    docstring: Beam's 1-s timer flush splits elements). Returns False (changing nothing) when this
    Beam's worker handler is not shaped as expected."""
    try:
        from apache_beam.runners.portability.fn_api_runner import worker_handlers
    except ImportError:  # pragma: no cover - a Beam without the FnApiRunner
        return False
    if not isinstance(getattr(worker_handlers, "DATA_BUFFER_TIME_LIMIT_MS", None), int):
        return False
    _FLUSH_ORIGINAL.setdefault("data_buffer_time_limit_ms", worker_handlers.DATA_BUFFER_TIME_LIMIT_MS)
    worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 0
    return True


def restore_element_flushes() -> None:
    """Beam's own 1-s time-based flush again."""
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    if "data_buffer_time_limit_ms" in _FLUSH_ORIGINAL:
        worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = _FLUSH_ORIGINAL.pop("data_buffer_time_limit_ms")


def _element_flushes_shape() -> list[str]:
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    from apache_beam.runners.worker import data_plane

    found: list[str] = []
    if not isinstance(getattr(worker_handlers, "DATA_BUFFER_TIME_LIMIT_MS", None), int):
        found.append("worker_handlers.DATA_BUFFER_TIME_LIMIT_MS is gone")
    handler = getattr(worker_handlers, "EmbeddedGrpcWorkerHandler", None)
    if handler is None or "DATA_BUFFER_TIME_LIMIT_MS" not in inspect.getsource(handler.__init__):
        found.append("EmbeddedGrpcWorkerHandler.__init__ no longer reads DATA_BUFFER_TIME_LIMIT_MS")
    create = getattr(getattr(data_plane, "ClosableOutputStream", None), "create", None)
    if create is None or not re.search(r"data_buffer_time_limit_ms\s*>\s*0", inspect.getsource(create)):
        found.append("ClosableOutputStream.create no longer gives the size-based stream for a limit of 0")
    return found


# ----------------------------------------------------------------------------- s3_clients (Beam + boto3)

_S3_CLIENTS: dict[tuple, Any] = {}
_S3_LOCK = threading.Lock()
_CLIENT_INIT: list[Callable[..., None]] = []
"""Beam's own ``Client.__init__``, once :func:`share_s3_clients` has replaced it."""
_S3_SETTINGS = (
    "s3_access_key_id",
    "s3_secret_access_key",
    "s3_session_token",
    "s3_endpoint_url",
    "s3_disable_ssl",
    "s3_region_name",
    "s3_api_version",
    "s3_verify",
)


def share_s3_clients() -> None:
    """One boto3 client per process and S3 settings. Beam's S3 filesystem builds a new boto3
    session and client for every call (open, exists, rename, delete), which costs more than
    decoding and encoding a clip; boto3's clients are thread-safe, so every call of a process
    shares one. Beam's per-call wrapper (its download position) stays per call. Without
    ``apache-beam[aws]`` (or boto3) nothing changes."""
    try:
        from apache_beam.io.aws.clients.s3 import boto3_client
    except ImportError:  # no apache-beam[aws]: nothing to share
        return
    init = boto3_client.Client.__init__
    if getattr(init, "_clara_shared", False) or boto3_client.boto3 is None:
        return

    def shared_init(self: Any, options: Any) -> None:
        key = _s3_settings(options)
        with _S3_LOCK:
            client = _S3_CLIENTS.get(key)
        if client is None:
            init(self, options)
            with _S3_LOCK:
                self.client = _S3_CLIENTS.setdefault(key, self.client)
            return
        self.client = client
        self._download_request = None
        self._download_stream = None
        self._download_pos = 0

    shared_init._clara_shared = True  # type: ignore[attr-defined]
    _CLIENT_INIT.append(init)
    boto3_client.Client.__init__ = shared_init


def _s3_settings(options: Any) -> tuple:
    """The S3 settings a Beam ``Client`` reads, from ``PipelineOptions`` or a dict (the sharing key)."""
    if hasattr(options, "view_as"):  # PipelineOptions, as Beam's own Client reads them
        from apache_beam.options.pipeline_options import S3Options

        view = options.view_as(S3Options)
        return tuple(str(getattr(view, name, None)) for name in _S3_SETTINGS)
    return tuple(str(options.get(name)) for name in _S3_SETTINGS)


# ----------------------------------------------------------------------------- soundfile_reader (soundfile)


def soundfile_reader(sound: Any, block: Any) -> Callable[[int], int]:
    """``read(frames)``: libsndfile's ``sf_readf_float`` from an open ``soundfile.SoundFile`` into
    ``block`` (a C-contiguous float32 array of shape (frames, channels)), without the seek that
    ``SoundFile.read`` makes; returns the frames read (0 at the end)."""
    import soundfile as sf

    pointer = sf._ffi.cast("float *", block.ctypes.data)
    readf = sf._snd.sf_readf_float
    handle = sound._file
    return lambda frames: readf(handle, pointer, frames)


# ----------------------------------------------------------------------------- shape checks


def installed_versions() -> dict[str, str | None]:
    """The installed version of each distribution in :data:`TESTED_WITH` (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in TESTED_WITH:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def problems() -> list[str]:
    """What each patch relies on and the installed libraries no longer provide, one line each,
    starting with the patch's name; [] when every shape holds."""
    found: list[str] = []
    for patch, check in (
        ("local_bundles", _local_bundles_shape),
        ("element_flushes", _element_flushes_shape),
        ("s3_clients", _s3_clients_shape),
        ("soundfile_reader", _soundfile_reader_shape),
    ):
        try:
            found += [f"{patch}: {problem}" for problem in check()]
        except Exception as exc:  # an import or attribute gone is itself the finding
            found.append(f"{patch}: {type(exc).__name__}: {exc}")
    return found


def _parameters(function: Any) -> list[str]:
    """The parameter names a call must fill: every one without a default (and any before them)."""
    params = list(inspect.signature(function).parameters.values())
    optional = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    required = [i for i, p in enumerate(params) if p.default is inspect.Parameter.empty and p.kind not in optional]
    return [p.name for p in params[: max(required, default=-1) + 1]]


def _sets(function: Any, names: tuple[str, ...]) -> list[str]:
    """The instance attributes of ``names`` that ``function``'s source (an ``__init__``) no longer assigns."""
    source = inspect.getsource(function)
    missing = [n for n in names if not re.search(rf"self\.{n}\s*(:[^=]*)?=", source)]
    return [f"{function.__qualname__} no longer sets self.{n}" for n in missing]


def _expect(found: list[str], what: str, function: Any, expected: list[str]) -> None:
    """A problem when ``function`` does not take ``expected`` first, or needs more than them."""
    names = list(inspect.signature(function).parameters)
    if names[: len(expected)] != expected or len(_parameters(function)) > len(expected):
        found.append(f"{what} takes {names}, the patch expects {expected}")


def _local_bundles_shape() -> list[str]:
    from apache_beam.coders import coder_impl
    from apache_beam.metrics import monitoring_infos
    from apache_beam.portability.api import beam_fn_api_pb2
    from apache_beam.runners.portability.fn_api_runner import execution, fn_runner
    from apache_beam.utils import thread_pool_executor, windowed_value

    found: list[str] = []
    grouping, parallel, manager = execution.GroupingBuffer, fn_runner.ParallelBundleManager, fn_runner.BundleManager
    process = ["self", "inputs", "expected_outputs", "fired_timers", "expected_output_timers", "dry_run"]
    original_partition = _ORIGINALS.get("partition", grouping.partition)
    original_process = _ORIGINALS.get("process_bundle", parallel.process_bundle)
    _expect(found, "GroupingBuffer.partition", original_partition, ["self", "n"])
    _expect(found, "ParallelBundleManager.process_bundle", original_process, process)
    _expect(found, "BundleManager.process_bundle", manager.process_bundle, process)
    _expect(
        found,
        "BundleManager.__init__",
        manager.__init__,
        ["self", "bundle_context_manager", "progress_frequency", "cache_token_generator"],
    )
    found += _sets(grouping.__init__, ("_table", "_windowing", "_post_grouped_coder", "_key_coder", "_grouped_output"))
    found += _sets(manager.__init__, ("bundle_context_manager", "_progress_frequency", "_cache_token_generator"))
    found += _sets(parallel.__init__, ("_num_workers",))
    if not issubclass(parallel, manager):
        found.append("ParallelBundleManager is no longer a BundleManager")
    if not callable(getattr(execution.ListBuffer, "partition", None)):
        found.append("ListBuffer has no partition(n)")
    for owner, name in (
        (coder_impl, "create_OutputStream"),
        (thread_pool_executor, "shared_unbounded_instance"),
        (monitoring_infos, "consolidate"),
        (beam_fn_api_pb2, "InstructionResponse"),
        (beam_fn_api_pb2, "ProcessBundleResponse"),
        (windowed_value, "PaneInfo"),
        (windowed_value, "PaneInfoTiming"),
    ):
        if not hasattr(owner, name):
            found.append(f"{owner.__name__}.{name} is gone")
    if not callable(_global_window_value()):
        found.append("GlobalWindows.windowed_value(...).with_value is not callable")
    return found


def _s3_clients_shape() -> list[str]:
    from apache_beam.io.aws.clients.s3 import boto3_client
    from apache_beam.options.pipeline_options import PipelineOptions, S3Options

    found: list[str] = []
    if getattr(boto3_client, "boto3", None) is None:
        found.append("apache_beam.io.aws.clients.s3.boto3_client.boto3 is missing (boto3 not installed?)")
    init = _CLIENT_INIT[0] if _CLIENT_INIT else boto3_client.Client.__init__
    _expect(found, "boto3_client.Client.__init__", init, ["self", "options"])
    found += _sets(init, ("client", "_download_request", "_download_stream", "_download_pos"))
    view = PipelineOptions([]).view_as(S3Options)
    found += [f"S3Options has no {name}" for name in _S3_SETTINGS if not hasattr(view, name)]
    return found


def _soundfile_reader_shape() -> list[str]:
    import io

    import numpy as np
    import soundfile as sf

    found: list[str] = []
    if not callable(getattr(getattr(sf, "_ffi", None), "cast", None)):
        found.append("soundfile._ffi.cast is gone")
    if not hasattr(getattr(sf, "_snd", None), "sf_readf_float"):
        found.append("soundfile._snd.sf_readf_float is gone")
    if found:
        return found
    expected = (np.arange(1000, dtype=np.float32).reshape(500, 2) % 7 - 3) / 8
    buffer = io.BytesIO()
    sf.write(buffer, expected, 8000, format="WAV", subtype="FLOAT")
    buffer.seek(0)
    with sf.SoundFile(buffer) as sound:
        if not hasattr(sound, "_file"):
            return ["SoundFile has no _file handle"]
        block = np.zeros((300, 2), dtype=np.float32)
        read = soundfile_reader(sound, block)
        first = read(300)
        head = block.copy()
        second = read(300)
        tail = block[:second].copy()
        end = read(300)
    if (first, second, end) != (300, 200, 0) or not np.array_equal(np.concatenate([head, tail]), expected):
        found.append(f"sf_readf_float read {first}, {second}, {end} frames, not 300, 200, 0 of the written audio")
    return found
