"""Storage I/O: every read, listing, existence check and atomic write goes through here.

Paths are anything Beam's ``FileSystems`` knows (local paths, ``gs://``, ``s3://``, ...), so a
stage or an adapter never asks which store it is talking to. The module sits in ``transforms/``
so both the stages and ``pipelines/`` (sources, sink, report) can import it.

- Reads are streamed in :data:`CHUNK_BYTES` blocks; a byte cap (``max_bytes``) stops a read as
  soon as the file proves larger and never reserves the cap up front (``f.read(cap + 1)``
  would ask the allocator for the whole cap, e.g. 2 GiB, for every file).
- Writes that must never be seen half done go to a unique temporary sibling that is renamed
  over the target (:func:`write_atomic`; :func:`temp_sibling` + :func:`replace` for streams).
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import uuid
from collections.abc import Iterable
from typing import Any, BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

CHUNK_BYTES = 4 << 20
"""Read block size: large enough for object stores, small enough never to matter in memory."""

_RAW = CompressionTypes.UNCOMPRESSED  # never guess a compression from the file name


class FileTooLarge(OSError):
    """A file that holds more than the reader's byte cap."""

    def __init__(self, path: str, max_bytes: int) -> None:
        super().__init__(f"{path}: more than {max_bytes} bytes")
        self.path = path
        self.max_bytes = max_bytes


def join(base: str, *parts: str) -> str:
    """``base`` joined with ``parts`` the way its store spells paths."""
    return FileSystems.join(base, *parts) if parts else base


def exists(path: str) -> bool:
    if _local(path):  # what Beam's LocalFileSystem does, without its per-call filesystem lookup
        return os.path.exists(path)
    return FileSystems.exists(path)


def size(path: str) -> int:
    """A local or remote file's size in bytes."""
    if _local(path):
        return os.path.getsize(path)
    return FileSystems.match([path])[0].metadata_list[0].size_in_bytes


def list_files(pattern: str) -> list[str]:
    """Paths of the files matching a glob (``**`` crosses folders), sorted; [] when none."""
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def open_read(path: str) -> BinaryIO:
    """A binary reader for ``path`` (seekable on local disks and the object stores Beam supports)."""
    return FileSystems.open(path, compression_type=_RAW)


def read_bytes(path: str, max_bytes: int | None = None) -> bytes:
    """The file's bytes, read in blocks; :class:`FileTooLarge` once more than ``max_bytes`` arrive."""
    if _local(path):
        return _read_local(path, max_bytes)
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
    """Copy ``path`` to the local file ``local_path`` block by block (renamed into place when complete)."""
    tmp = f"{local_path}.{os.getpid()}.tmp"
    try:
        with open_read(path) as src, open(tmp, "wb") as dst:
            while chunk := src.read(CHUNK_BYTES):
                dst.write(chunk)
        os.replace(tmp, local_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def create(path: str) -> BinaryIO:
    """A binary writer for ``path`` (local parent folders are created)."""
    return FileSystems.create(path, compression_type=_RAW)


def temp_sibling(path: str) -> str:
    """A unique hidden name next to ``path``, for writing before :func:`replace`."""
    directory, name = path.rsplit("/", 1) if "/" in path else (".", path)
    return f"{directory}/.{name}.tmp-{uuid.uuid4().hex[:12]}"


def replace(src: str, dst: str) -> None:
    """Rename ``src`` over ``dst`` (object stores refuse to rename onto an existing object)."""
    if FileSystems.exists(dst):
        FileSystems.delete([dst])
    FileSystems.rename([src], [dst])


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary sibling, then rename it over ``path``."""
    tmp = temp_sibling(path)
    try:
        with create(tmp) as f:
            f.write(data)
        replace(tmp, path)
    except BaseException:
        if FileSystems.exists(tmp):
            FileSystems.delete([tmp])
        raise


def delete(paths: Iterable[str]) -> None:
    """Delete the files that exist among ``paths``."""
    remote = []
    for path in paths:
        if not _local(path):
            remote.append(path)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except IsADirectoryError:  # as Beam's local filesystem does
                shutil.rmtree(path)
    present = [p for p in remote if FileSystems.exists(p)]
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
    share_s3_clients()
    if options:
        from apache_beam.options.pipeline_options import PipelineOptions

        given = PipelineOptions(options) if isinstance(options, list) else PipelineOptions.from_dictionary(options)
        FileSystems.set_options(given)


_S3_CLIENTS: dict[tuple, Any] = {}
_S3_LOCK = threading.Lock()


def share_s3_clients() -> None:
    """One boto3 client per process and S3 settings. Beam's S3 filesystem builds a new boto3
    session and client for every call (open, exists, rename, delete: ~50-250 ms each, measured),
    more than decoding and encoding a clip; boto3's clients are thread-safe, so every call of a
    process shares one. Beam's per-call wrapper (its download position) stays per call."""
    try:
        from apache_beam.io.aws.clients.s3 import boto3_client
    except ImportError:  # no apache-beam[aws]: nothing to share
        return
    init = boto3_client.Client.__init__
    if getattr(init, "_clara_shared", False) or boto3_client.boto3 is None:
        return

    def shared_init(self: Any, options: Any) -> None:  # noqa: ANN401
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
    boto3_client.Client.__init__ = shared_init


def _s3_settings(options: Any) -> tuple:  # noqa: ANN401 - PipelineOptions or a dict
    names = ("s3_access_key_id", "s3_secret_access_key", "s3_session_token", "s3_endpoint_url")
    names += ("s3_disable_ssl", "s3_region_name", "s3_api_version", "s3_verify")
    if hasattr(options, "view_as"):  # PipelineOptions, as Beam's own Client reads them
        from apache_beam.options.pipeline_options import S3Options

        view = options.view_as(S3Options)
        return tuple(str(getattr(view, name, None)) for name in names)
    return tuple(str(options.get(name)) for name in names)
