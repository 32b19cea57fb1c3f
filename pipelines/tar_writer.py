"""A shard's tar, written block by block: byte for byte what ``tarfile``'s ``w|`` mode writes.

Members are ``<key>.flac`` then ``<key>.json`` with fixed mtime, uid, gid and mode (GNU headers,
NUL padding to 512 bytes, two NUL blocks and padding to the 10,240-byte record at the end), so
the same samples give the same bytes. A shard is written to a unique temporary name beside its
tar (each attempt its own) and moved into place on :meth:`TarShardWriter.commit`; a shard built in
pieces writes one part per piece and :func:`join_parts` copies them in order into a new temporary
tar, the bytes one writer gives, and moves it into place. Both compute the tar's SHA-256 as they
write it, for the marker that commits the shard (``pipelines/commit.py``); a marker naming other
bytes is withdrawn before the tar is replaced. Parts are never modified, so two attempts at one
join can run at once. Every path goes through :mod:`transforms.storage` (local, gs://, s3://).
"""

from __future__ import annotations

import hashlib
import tarfile
from typing import Any

from pipelines import commit
from pipelines.plan import ShardRef, tar_path
from transforms import storage


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _header(name: str, size: int) -> bytes:
    """A member's header blocks, as ``tarfile`` writes them (GNU format, long names included).

    A name of at most 100 bytes and a size under 8 GiB (every sample's) take one block filled in
    from a template, the same bytes as ``tarfile`` (tests/scale/test_tar_header.py) without
    building a ``TarInfo``; anything else goes through ``tarfile`` itself."""
    raw = name.encode(tarfile.ENCODING, "surrogateescape")
    if len(raw) > tarfile.LENGTH_NAME or not 0 <= size < _MAX_OCTAL_SIZE:
        return _tarfile_header(name, size)
    block = bytearray(_TEMPLATE)
    block[: len(raw)] = raw
    block[124:136] = b"%011o\0" % size
    checksum = 256 + sum(block) - sum(block[148:156])  # tarfile: the checksum field counted as spaces
    block[148:155] = b"%06o\0" % checksum
    return bytes(block)


def _tarfile_header(name: str, size: int) -> bytes:
    return _member(name, size).tobuf(tarfile.GNU_FORMAT, tarfile.ENCODING, "surrogateescape")


_MAX_OCTAL_SIZE = 8**11
"""Sizes ``tarfile`` writes as 11 octal digits (larger ones in base 256)."""
_TEMPLATE = bytearray(_tarfile_header("", 0))
_TEMPLATE[148:156] = b" " * 8


def _padding(size: int) -> bytes:
    return bytes(-size % tarfile.BLOCKSIZE)


class TarShardWriter:
    """Streams samples into ``<split>/.NNNNNN.tar.tmp-*`` and renames it on ``commit``.

    Writes the tar's blocks itself rather than through ``tarfile``'s stream buffer, which copies
    every member again. With ``part``, it writes one piece of a shard: its members only, to a
    temporary file that :func:`join_parts` later joins with the other pieces' into the shard's tar.
    """

    def __init__(self, out: str, shard: ShardRef, part: int | None = None) -> None:
        self.final = tar_path(out, shard)
        self.part = part
        self.tmp = storage.temp_sibling(self.final if part is None else f"{self.final}.part{part:05d}")
        self._file = storage.create(self.tmp)
        self._size = 0
        self._sha = hashlib.sha256()
        self.sha256 = ""
        """The tar's SHA-256 once committed (a part: its own bytes')."""
        self._keys: set[str] = set()

    def add(self, key: str, flac: bytes, meta: bytes) -> None:
        if key in self._keys:
            raise ValueError(f"duplicate key {key!r} in shard {self.final}")
        self._keys.add(key)
        head = _header(f"{key}.flac", len(flac))
        tail = b"".join((_padding(len(flac)), _header(f"{key}.json", len(meta)), meta, _padding(len(meta))))
        for part in (head, flac, tail):  # the audio is handed over as is, never copied into a buffer
            self._file.write(part)
            self._sha.update(part)
        self._size += len(head) + len(flac) + len(tail)

    def commit(self) -> int:
        """Close and move into place (a part: close only); returns the bytes written. A marker of
        the shard that names other bytes is withdrawn first."""
        if self.part is None:
            self._size += _write_end(self._file, self._size, self._sha)
        self._file.close()
        self.sha256 = self._sha.hexdigest()
        if self.part is None:
            commit.withdraw_other(self.final, self._size, self.sha256)
            storage.replace(self.tmp, self.final)
        return self._size

    def abort(self) -> None:
        """Drop the temporary file, best effort: the error that made the caller abort is the one it
        raises (on an object store, closing an upload that failed raises an error of its own)."""
        for step in (self._file.close, lambda: storage.delete([self.tmp])):
            try:
                step()
            except Exception:  # a temporary left behind is removed as stale
                pass


def _write_end(file: Any, size: int, sha: Any) -> int:  # a writable file, a hashlib hash
    """The end of a tar of ``size`` bytes so far: two NUL blocks, then NULs to the record."""
    end = 2 * tarfile.BLOCKSIZE
    end += -(size + end) % tarfile.RECORDSIZE
    file.write(bytes(end))
    sha.update(bytes(end))
    return end


def join_parts(out: str, shard: ShardRef, parts: list[str]) -> tuple[int, str]:
    """The shard's tar from its pieces' parts, in order, then the end; returns (size, SHA-256).

    Each part holds whole members in key order, so the tar is the same bytes one writer gives.
    The parts are copied (and hashed) into a new temporary tar, which is moved into place. They
    are never modified, and the caller deletes them once the shard is committed: a second attempt
    at the same join, or a retry after a crash, finds them whole.
    """
    final = tar_path(out, shard)
    tmp = storage.temp_sibling(final)
    size, sha = 0, hashlib.sha256()
    try:
        with storage.create(tmp) as joined:
            for part in parts:
                with storage.open_read(part) as f:
                    while block := f.read(1 << 20):
                        joined.write(block)
                        sha.update(block)
                        size += len(block)
            size += _write_end(joined, size, sha)
        commit.withdraw_other(final, size, sha.hexdigest())
        storage.replace(tmp, final)
    except BaseException:
        storage.delete([tmp])
        raise
    return size, sha.hexdigest()
