"""Storage I/O: every read, listing, existence check and atomic write goes through here.

Paths are anything Beam's ``FileSystems`` knows (local paths, ``gs://``, ``s3://``, ...), so a
stage or an adapter never asks which store it is talking to. The module sits in ``transforms/``
so both the stages and ``pipelines/`` (sources, sink, report) can import it.

- Reads are streamed in :data:`CHUNK_BYTES` blocks; a byte cap (``max_bytes``) stops a read as
  soon as the file proves larger and never reserves the cap up front (``f.read(cap + 1)``
  would ask the allocator for the whole cap, e.g. 2 GiB, for every file).
- Writes that must never be seen half done go to a unique temporary sibling that is renamed
  over the target (:func:`write_atomic`; :func:`temp_sibling` + :func:`replace` for streams).
  :func:`replace` never deletes the target first: a reader sees the old object or the new one.
- Every call to the store (exists, size, listing, read, write, rename, delete) is retried on a
  transient fault, with exponential backoff and full jitter, under the budget of
  :class:`StorageSettings` (the ``storage`` section of the build config, handed to the workers
  with the storage options). A fault that outlasts the budget raises :class:`StorageError`; a
  permanent answer (not found, a file over the byte cap, a 4xx other than 408/429) is not retried.
"""

from __future__ import annotations

import errno
import io
import os
import random
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, BinaryIO, TypeVar

from apache_beam.io.filesystem import BeamIOError, CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas.settings import setting
from transforms import internals

CHUNK_BYTES = 4 << 20
"""Read block size: large enough for object stores, small enough never to matter in memory."""

_RAW = CompressionTypes.UNCOMPRESSED  # never guess a compression from the file name


class FileTooLarge(OSError):
    """A file that holds more than the reader's byte cap."""

    def __init__(self, path: str, max_bytes: int) -> None:
        super().__init__(f"{path}: more than {max_bytes} bytes")
        self.path = path
        self.max_bytes = max_bytes


class StorageError(OSError):
    """A storage call that kept failing after its retries (the store unreachable, throttling, 5xx)."""


@dataclass(frozen=True)
class StorageSettings:
    """Storage: how calls to the store are retried, and when a temporary file counts as stale."""

    retries: int = setting(
        6, "retries of a failed storage call before it counts as failed", shapes_output=False, flag="--storage-retries"
    )
    retry_base_s: float = setting(
        0.2,
        "first backoff before a storage retry (s); doubled each time, with full jitter",
        shapes_output=False,
        flag="--storage-retry-base-s",
    )
    retry_max_s: float = setting(
        10.0, "longest backoff between storage retries (s)", shapes_output=False, flag="--storage-retry-max-s"
    )
    stale_temp_s: float = setting(
        6 * 3600.0,
        "a temporary file under the output older than this belongs to no live writer and is removed",
        shapes_output=False,
    )
    lease_s: float = setting(
        120.0,
        "a build's lease on its corpus folder expires this long after its last heartbeat (s); "
        "a second build into the folder is refused while it is fresh",
        shapes_output=False,
    )

    def __post_init__(self) -> None:
        if self.retries < 0 or self.retry_base_s < 0 or self.retry_max_s < 0:
            raise ValueError("--storage-retries, --storage-retry-base-s and --storage-retry-max-s must be >= 0")
        if self.stale_temp_s <= 0 or self.lease_s <= 0:
            raise ValueError("--stale-temp-s and --lease-s must be positive")

    def options(self) -> dict[str, Any]:
        """These settings and this process's run id as an entry of the storage options the workers
        get (:func:`configure`), so their retries and temporary names follow the launcher's."""
        return {OPTIONS_KEY: {"run_id": _run_id, **{f.name: getattr(self, f.name) for f in fields(self)}}}


OPTIONS_KEY = "clara_storage"
"""The storage options' entry that holds :class:`StorageSettings` (not a Beam option)."""

_policy = StorageSettings()
_T = TypeVar("_T")


def policy() -> StorageSettings:
    """The retry budget and stale-temp age this process applies."""
    return _policy


def _call(what: str, path: str, fn: Callable[[], _T]) -> _T:
    """One attempt of a storage call; every call to the store goes through here (one seam)."""
    return fn()


def retrying(what: str, path: str, fn: Callable[[], _T]) -> _T:
    """``fn()`` through :func:`_call`, retried on transient faults under the budget; then StorageError."""
    budget = _policy
    for attempt in range(budget.retries + 1):
        try:
            return _call(what, path, fn)
        except Exception as exc:
            if not transient(exc):
                if missing(exc) and not isinstance(exc, FileNotFoundError):
                    # an object store's 404 reads as a local disk's: callers catch one error
                    raise FileNotFoundError(errno.ENOENT, f"{what} {path}: no such file", path) from exc
                raise
            if attempt == budget.retries:
                raise StorageError(
                    f"{what} {path}: {type(exc).__name__}: {exc} (still failing after {budget.retries} retries)"
                ) from exc
            _count_retry(what)
            time.sleep(random.uniform(0, min(budget.retry_max_s, budget.retry_base_s * 2**attempt)))
    raise AssertionError("unreachable")


def _count_retry(what: str) -> None:
    try:
        from apache_beam.metrics import Metrics

        Metrics.counter("storage", f"retries/{what}").inc()
    except Exception:  # outside a pipeline there is no metrics container
        pass


_PERMANENT = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)
_TRANSIENT_MODULES = ("botocore", "urllib3", "requests", "http", "google", "apache_beam.io", "socket", "ssl")


def missing(exc: BaseException) -> bool:
    """Whether a failed storage call says the file is not there (a local ``FileNotFoundError``, an
    object store's 404 / ``NoSuchKey``, Beam's wrapper around either)."""
    if isinstance(exc, FileNotFoundError):
        return True
    if isinstance(exc, BeamIOError) and exc.exception_details:
        details = [e for e in exc.exception_details.values() if isinstance(e, BaseException)]
        return bool(details) and all(missing(e) for e in details)
    code = getattr(exc, "code", None) or getattr(exc, "status", None)
    text = str(exc).lower()
    return code == 404 or "nosuchkey" in text or "no such file" in text or "not found" in text


def transient(exc: BaseException) -> bool:
    """Whether a failed storage call may succeed if tried again: an I/O or network error, throttling,
    a 5xx; not a missing file, a file where a folder should be (or the reverse), a refused permission, a file over the cap, or a bug (TypeError...)."""
    if isinstance(exc, StorageError):
        return False  # a nested call already spent its budget
    if isinstance(exc, _PERMANENT + (FileTooLarge,)):
        return False
    if isinstance(exc, BeamIOError) and exc.exception_details:
        return any(transient(e) for e in exc.exception_details.values() if isinstance(e, BaseException))
    code = getattr(exc, "code", None) or getattr(exc, "status", None)
    if isinstance(code, int) and 400 <= code < 600:
        return code in (408, 429) or code >= 500
    if missing(exc):
        return False
    if isinstance(exc, OSError | ConnectionError | TimeoutError):
        return True
    return type(exc).__module__.startswith(_TRANSIENT_MODULES)


def join(base: str, *parts: str) -> str:
    """``base`` joined with ``parts`` the way its store spells paths."""
    return FileSystems.join(base, *parts) if parts else base


def exists(path: str) -> bool:
    """Whether ``path`` exists; :class:`StorageError` when the store cannot say (never "absent")."""
    if _local(path):  # what Beam's LocalFileSystem does, without its per-call filesystem lookup
        return retrying("exists", path, lambda: _local_exists(path))
    return retrying("exists", path, lambda: FileSystems.exists(path))


def _local_exists(path: str) -> bool:
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True  # any other OSError propagates: "cannot tell" is not "absent"


def size(path: str) -> int:
    """A local or remote file's size in bytes."""
    if _local(path):
        return retrying("size", path, lambda: os.path.getsize(path))
    return retrying("size", path, lambda: _remote_size(path))


def _remote_size(path: str) -> int:
    found = FileSystems.match([path])[0].metadata_list
    if not found:
        raise FileNotFoundError(f"{path}: not found")
    return found[0].size_in_bytes


def list_files(pattern: str) -> list[str]:
    """Paths of the files matching a glob (``**`` crosses folders), sorted; [] when none match.
    A listing the store does not answer raises :class:`StorageError` (never an empty list)."""
    return sorted(m.path for m in retrying("list", pattern, lambda: FileSystems.match([pattern])[0].metadata_list))


def list_sized(pattern: str) -> dict[str, tuple[int, float]]:
    """``{path: (size in bytes, last modified as a Unix time)}`` of the files matching a glob."""
    found = retrying("list", pattern, lambda: FileSystems.match([pattern])[0].metadata_list)
    return {m.path: (m.size_in_bytes, float(m.last_updated_in_seconds or 0.0)) for m in found}


def open_read(path: str) -> BinaryIO:
    """A binary reader for ``path`` (seekable on local disks and the object stores Beam supports);
    opening is retried, a read that fails later is the caller's to redo."""
    return retrying("open", path, lambda: FileSystems.open(path, compression_type=_RAW))


def read_bytes(path: str, max_bytes: int | None = None) -> bytes:
    """The file's bytes, read in blocks; :class:`FileTooLarge` once more than ``max_bytes`` arrive.
    The whole read is retried on a transient fault."""
    if _local(path):
        return retrying("read", path, lambda: _read_local(path, max_bytes))
    return retrying("read", path, lambda: _read_remote(path, max_bytes))


def _read_remote(path: str, max_bytes: int | None) -> bytes:
    buffer = io.BytesIO()
    with open_read(path) as f:
        while True:
            want = CHUNK_BYTES if max_bytes is None else min(CHUNK_BYTES, max_bytes + 1 - buffer.tell())
            chunk = f.read(want)
            if not chunk:
                break
            buffer.write(chunk)
            if max_bytes is not None and buffer.tell() > max_bytes:
                raise FileTooLarge(path, max_bytes)
    return buffer.getvalue()


def _local(path: str) -> bool:
    return "://" not in path


def _read_local(path: str, max_bytes: int | None) -> bytes:
    """A local file in one read of the size it states (no second copy through a buffer); a file
    that grows, or states no size (a pipe), goes on in blocks. Same cap as the block reader."""
    limit = (1 << 62) if max_bytes is None else max_bytes
    parts, size = [], 0
    with open(path, "rb", buffering=0) as f:
        stated = os.fstat(f.fileno()).st_size
        if stated > limit:  # refused before anything is allocated
            raise FileTooLarge(path, limit)
        want = stated + 1 if stated else CHUNK_BYTES
        while chunk := f.read(min(want, limit + 1 - size)):
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                raise FileTooLarge(path, limit)
            want = CHUNK_BYTES
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_text(path: str, encoding: str = "utf-8", errors: str = "strict", max_bytes: int | None = None) -> str:
    return read_bytes(path, max_bytes).decode(encoding, errors=errors)


def download(path: str, local_path: str) -> None:
    """Copy ``path`` to the local file ``local_path`` block by block (renamed into place when complete;
    the whole copy is retried on a transient fault)."""
    tmp = f"{local_path}.{os.getpid()}.{threading.get_ident()}.tmp"

    def copy() -> None:
        with open_read(path) as src, open(tmp, "wb") as dst:
            while chunk := src.read(CHUNK_BYTES):
                dst.write(chunk)

    try:
        retrying("read", path, copy)
        os.replace(tmp, local_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def create(path: str) -> BinaryIO:
    """A binary writer for ``path`` (local parent folders are created); opening is retried, a
    stream that fails later is the caller's to write again (to a new temporary name)."""
    return retrying("create", path, lambda: FileSystems.create(path, compression_type=_RAW))


TEMP_MARK = ".tmp-"
"""What every temporary name holds: ``.<name>.tmp-<run>-<unique>``."""

_run_id = uuid.uuid4().hex[:12]


def set_run_id(run_id: str) -> None:
    """The id that this process's temporary names carry (a build's workers carry the build's)."""
    global _run_id
    if not run_id.replace("-", "").isalnum():
        raise ValueError(f"run id {run_id!r}: letters, digits and '-' only")
    _run_id = run_id


def run_id() -> str:
    return _run_id


def temp_sibling(path: str) -> str:
    """A unique hidden name next to ``path`` that names this process's run, for writing before
    :func:`replace` (``.NAME.tmp-<run id>-<unique>``)."""
    directory, name = path.rsplit("/", 1) if "/" in path else (".", path)
    return f"{directory}/.{name}{TEMP_MARK}{_run_id}-{uuid.uuid4().hex[:12]}"


def temp_run_id(path: str) -> str | None:
    """The run id a temporary name carries (None for another name, or one from before run ids)."""
    tail = path.rsplit(TEMP_MARK, 1)[-1] if TEMP_MARK in path else ""
    run, _, unique = tail.rpartition("-")
    return run or None


def replace(src: str, dst: str) -> None:
    """Move the complete object ``src`` to ``dst``; ``dst`` is never deleted first: a reader sees the
    old object or the new one. Locally an atomic rename; on object stores a copy that overwrites
    ``dst`` in one request, then ``src`` deleted. Retried; a retry that finds ``src`` already moved
    and ``dst`` there counts as done."""
    if _local(src) and _local(dst):
        retrying("rename", dst, lambda: os.replace(src, dst))
        return
    attempts = [0]

    def move() -> None:
        attempts[0] += 1
        try:
            FileSystems.rename([src], [dst])
        except Exception as exc:
            if attempts[0] > 1 and not transient(exc) and FileSystems.exists(dst) and not FileSystems.exists(src):
                return  # the last attempt moved it and lost only its answer
            raise

    retrying("rename", dst, move)


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary sibling, then :func:`replace` it over ``path`` (the write is
    retried whole, to a new temporary name each time)."""

    def write() -> str:
        tmp = temp_sibling(path)
        try:
            with FileSystems.create(tmp, compression_type=_RAW) as f:
                f.write(data)
        except BaseException:
            _discard(tmp)
            raise
        return tmp

    tmp = retrying("write", path, write)
    try:
        replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def _discard(path: str) -> None:
    """Best-effort removal of a temporary file (an unreachable store leaves it for clean-up)."""
    try:
        delete([path])
    except Exception:  # stale-temp clean-up removes what is left
        pass


def delete(paths: Iterable[str]) -> None:
    """Delete the files that exist among ``paths`` (each deletion retried)."""
    remote = []
    for path in paths:
        if not _local(path):
            remote.append(path)
        else:
            retrying("delete", path, lambda path=path: _delete_local(path))
    if remote:
        retrying("delete", remote[0], lambda: _delete_remote(remote))


def _delete_local(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:  # as Beam's local filesystem does
        shutil.rmtree(path)


def _delete_remote(paths: list[str]) -> None:
    present = [p for p in paths if FileSystems.exists(p)]
    if present:
        FileSystems.delete(present)


def configure(options: dict[str, Any] | list[str] | None) -> None:
    """Give this process's ``FileSystems`` the pipeline's storage options (S3 endpoint, keys...):
    a dict of option values, or the command line's Beam flags (``--s3_endpoint_url=...``).

    The launcher calls it with its flags; on workers, the steps that read or write storage call it
    in their setup, because a worker started by a bare SDK worker pool (``worker_pool_main``,
    Flink's sidecar) runs the harness without the pipeline options, so ``s3://`` would have
    neither endpoint nor credentials there.
    """
    global _policy
    internals.share_s3_clients()  # one boto3 client per process and S3 settings
    if isinstance(options, dict) and OPTIONS_KEY in options:
        options = dict(options)
        given = dict(options.pop(OPTIONS_KEY))
        if given.get("run_id"):
            set_run_id(given.pop("run_id"))
        given.pop("run_id", None)
        _policy = StorageSettings(**given)
    if options:
        from apache_beam.options.pipeline_options import PipelineOptions

        given = PipelineOptions(options) if isinstance(options, list) else PipelineOptions.from_dictionary(options)
        FileSystems.set_options(given)
