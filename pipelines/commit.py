"""The commit protocol of a corpus folder, on every store (local disks, gs://, s3://).

A shard is visible only through its marker. Its tar is written to a unique temporary name
(``.NNNNNN.tar.tmp-<run>-<unique>``), moved to ``NNNNNN.tar`` once complete (``storage.replace``:
an atomic rename locally, a copy that overwrites in one request on object stores; the old object
is never deleted first), then its failures file, and last its marker ``NNNNNN.stats.json``, a
``ShardStats`` that names the tar's size (``bytes``) and SHA-256 (``sha256``). A reader trusts a
tar only when its marker names exactly that size and digest (:func:`verified`): a tar without a
marker is unfinished, a marker that does not match its tar is a shard being replaced (or a
corruption) and is treated as absent. A rebuild whose tar differs from the committed one first
withdraws the old marker, so no reader pairs the old marker with the new bytes.

Two attempts at one shard (a retried bundle, a zombie worker) each write their own temporary
file and end with the same bytes under the final name: the build is deterministic, so whichever
rename lands last leaves one valid shard, and the marker both write is the same.

A build holds a lease on its corpus folder (:func:`output_lease`: ``.clara-lease.json`` naming
its run id, host, process and a heartbeat); a second build into the same folder is refused while
the lease is fresh; of builds that take it at once (also over an expired lease) exactly one gets it
(locally its read, judgement and write are one step under an ``flock``; on S3 conditional puts).
Clean-up removes a temporary file only when it is provably stale
(:func:`remove_stale_temps`): its name carries this run's id, or the id of a run whose lease was
taken over (expired, or its launcher's process gone from this host), or it is older than
``--stale-temp-s``.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from schemas import ShardStats
from transforms import storage

MARKER_SUFFIX = ".stats.json"
LEASE_NAME = ".clara-lease.json"
LOCK_NAME = ".clara-lease.lock"
TEMP_PATTERNS = ("*/.*.tmp-*", ".*.tmp-*")
"""Where temporary files of a corpus folder lie: its subfolders (splits, failures/) and itself."""


# ----------------------------------------------------------------------------- digests and markers


def digest(path: str) -> tuple[int, str]:
    """(size in bytes, SHA-256 hex) of a stored file, read in blocks (the read retried whole)."""

    def read() -> tuple[int, str]:
        sha, size = hashlib.sha256(), 0
        with storage.open_read(path) as f:
            while block := f.read(storage.CHUNK_BYTES):
                sha.update(block)
                size += len(block)
        return size, sha.hexdigest()

    return storage.retrying("read", path, read)


def marker_of(tar: str) -> str:
    """The marker path of a tar (``NNNNNN.tar`` -> ``NNNNNN.stats.json``)."""
    return tar[: -len(".tar")] + MARKER_SUFFIX


def read_marker(marker: str) -> ShardStats | None:
    """The marker's stats; None when there is none. Raises ValueError for one that does not parse."""
    try:
        data = json.loads(storage.read_bytes(marker))
    except FileNotFoundError:
        return None
    try:
        return ShardStats.from_dict(data)
    except (TypeError, AttributeError, KeyError) as exc:
        raise ValueError(f"not a shard marker ({exc})") from None


def mismatch(stats: ShardStats, tar: str) -> str | None:
    """Why ``stats`` does not commit ``tar`` (None when it names the tar's size and SHA-256)."""
    if not stats.sha256:
        return "the marker names no SHA-256 (written before the commit protocol): the shard is not trusted"
    try:
        size = storage.size(tar)
    except FileNotFoundError:
        return "the marker's tar does not exist"
    if size != stats.bytes:
        return f"the marker names {stats.bytes} bytes, the tar has {size}"
    _, sha = digest(tar)
    if sha != stats.sha256:
        return f"the marker names SHA-256 {stats.sha256[:12]}..., the tar's is {sha[:12]}..."
    return None


def verified(tar: str) -> ShardStats | None:
    """The marker of ``tar`` when it commits exactly this tar; None otherwise (no marker, an
    unreadable one, or one naming other bytes)."""
    try:
        stats = read_marker(marker_of(tar))
    except ValueError:
        return None
    if stats is None or mismatch(stats, tar) is not None:
        return None
    return stats


def withdraw_other(tar: str, size: int, sha256: str) -> None:
    """Before ``tar`` is replaced by bytes of ``size`` and ``sha256``: delete its marker when it
    names other bytes (a rebuild with other inputs or settings), so that no reader pairs the old
    marker with the new tar. A marker naming these bytes (another attempt's) stays."""
    marker = marker_of(tar)
    try:
        stats = read_marker(marker)
    except ValueError:
        stats = None
        storage.delete([marker])
    if stats is not None and (stats.bytes != size or stats.sha256 != sha256):
        storage.delete([marker])


# ----------------------------------------------------------------------------- stale temporaries


def remove_stale_temps(out: str, now: float | None = None, dead_runs: tuple[str, ...] = ()) -> list[str]:
    """Remove the temporary files under ``out`` that no live writer can own: those whose name
    carries this run's id (every step of the run is done when it finalizes) or the id of a run
    known dead (``dead_runs``: a run whose lease was taken over), and those older than
    ``--stale-temp-s`` (any run's). A younger temporary of another run (a concurrent attempt, a
    second build) is left alone. Returns what was removed."""
    now = time.time() if now is None else now
    owners, max_age = {storage.run_id(), *dead_runs}, storage.policy().stale_temp_s
    stale: set[str] = set()
    for pattern in TEMP_PATTERNS:
        for path, (_, modified) in storage.list_sized(storage.join(out, pattern)).items():
            if storage.temp_run_id(path) in owners or (modified and now - modified > max_age):
                stale.add(path)
    storage.delete(sorted(stale))
    return sorted(stale)


# ----------------------------------------------------------------------------- the build's lease


class LeaseHeld(RuntimeError):
    """Another build holds a fresh lease on the corpus folder."""


def new_run_id() -> str:
    """A run id: UTC time and a random part (``20261206T051500-1a2b3c4d``)."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def _lease_record(run_id: str) -> bytes:
    record = {"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}
    return json.dumps(record, sort_keys=True).encode()


def read_lease(out: str) -> dict[str, Any] | None:
    """The lease on ``out`` as written (None when there is none or it does not parse)."""
    try:
        lease = json.loads(storage.read_bytes(storage.join(out, LEASE_NAME)))
    except (FileNotFoundError, ValueError):
        return None
    return lease if isinstance(lease, dict) else None


def _local(out: str) -> bool:
    return "://" not in out


@contextlib.contextmanager
def _lease_lock(out: str, remove: bool = False) -> Iterator[None]:
    """Hold ``<out>/.clara-lease.lock`` exclusively (``flock``) around a read, judgement and write of
    a local lease, so that of builds acting on the same lease record one at a time acts: reading an
    expired lease and replacing it are one step. The kernel drops the lock when its process dies, so
    a killed build never leaves the folder locked (a lock *file* left by a crash is reused). With
    ``remove`` the lock file is deleted before it is let go (the build's end); a waiter that then gets
    the deleted file's lock sees the path name another file (or none) and locks again."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, LOCK_NAME)
    fd = _locked(path)
    try:
        yield
        if remove and fd is not None:
            os.unlink(path)
    finally:
        if fd is not None:
            os.close(fd)  # lets the lock go


def _locked(path: str) -> int | None:
    """A descriptor of ``path`` holding its exclusive lock; None where the file system has no locks."""
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:  # a file system without locks (some network mounts): O_EXCL alone
            os.close(fd)
            print(f"[clara] cannot lock {path} ({exc}); the lease is taken without the lock", file=sys.stderr)
            return None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the file was deleted (a build ended) while this one waited: lock the new one


def _take_local(out: str, run_id: str, lease_s: float) -> dict[str, Any] | None:
    """:func:`_take` on a local disk, under :func:`_lease_lock`: no lease, created exclusively
    (``O_EXCL``); an expired one (or this run's own), replaced by an atomic rename, so the lease is
    never absent for a moment in which a build that does not lock could create it."""
    path = storage.join(out, LEASE_NAME)
    held = read_lease(out)
    if held and held.get("run_id") != run_id and _alive(held, lease_s):
        raise LeaseHeld(_held_message(out, held))
    if held:  # expired, or this run's own
        storage.write_atomic(path, _lease_record(run_id))
        return held
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise LeaseHeld(_held_message(out, read_lease(out) or {})) from None
    with os.fdopen(fd, "wb") as f:
        f.write(_lease_record(run_id))
    return held


def _take(out: str, run_id: str, lease_s: float, settle_s: float, s3: _S3Lease | None = None) -> dict[str, Any] | None:
    """Write this run's lease unless a fresh one of another run is there; returns the lease it
    replaced (an expired one) or None. Of two builds that try at once, one gets it:

    - a local disk: reading the lease, judging it and writing this run's are one step under an
      exclusive lock (:func:`_lease_lock`), so two builds cannot both read an expired lease and
      both take it over; a new lease is created exclusively (``O_EXCL``) besides;
    - S3: a conditional put, ``If-None-Match: *`` when there is no lease, ``If-Match: <ETag>`` of
      the expired lease it replaces (:class:`_S3Lease`), so two take-overs cannot both succeed;
    - another object store (``gs://``...): no create-if-absent through Beam's filesystems, so the
      lease is written, then read back after ``settle_s``; of two builds that wrote at once the one
      whose record is not there gives way (two builds whose write and read-back straddle each
      other by more than ``settle_s`` are not excluded there)."""
    path = storage.join(out, LEASE_NAME)
    if s3 is not None:
        return s3.take(run_id, lease_s)
    if _local(out):
        with _lease_lock(out):
            return _take_local(out, run_id, lease_s)
    held = read_lease(out)
    if held and held.get("run_id") != run_id and _alive(held, lease_s):
        raise LeaseHeld(_held_message(out, held))
    storage.write_atomic(path, _lease_record(run_id))
    time.sleep(settle_s)
    now = read_lease(out)
    if not now or now.get("run_id") != run_id:
        raise LeaseHeld(_held_message(out, now or {}))
    return held


class _S3Lease:
    """The lease object on S3, written by conditional puts (S3's conditional writes; moto has them):
    created with ``If-None-Match: *``, taken over from an expired run and refreshed with
    ``If-Match`` on the ETag last read or written. A put refused with 412 means another build got
    there first. Every call is retried as a storage call; a retried put whose first try landed
    finds its own record and counts as done."""

    def __init__(self, path: str) -> None:
        from apache_beam.io.aws.clients.s3 import boto3_client
        from apache_beam.io.filesystems import FileSystems

        self.path = path
        self.bucket, _, self.key = path[len("s3://") :].partition("/")
        self.client = boto3_client.Client(options=FileSystems.get_filesystem(path)._options).client
        self.etag: str | None = None

    def read(self) -> tuple[dict[str, Any] | None, str | None]:
        """(the lease record or None, its ETag or None)."""

        def get() -> tuple[bytes | None, str | None]:
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self.key)
            except self.client.exceptions.NoSuchKey:
                return None, None
            return answer["Body"].read(), answer["ETag"]

        body, etag = storage.retrying("read", self.path, get)
        try:
            record = json.loads(body) if body is not None else None
        except ValueError:
            record = None
        return (record if isinstance(record, dict) else None), etag

    def put(self, run_id: str, if_match: str | None) -> bool:
        """Write this run's record if the lease is still the one with ETag ``if_match`` (absent when
        None); False when S3 refused it for another build's record."""
        condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}

        def put() -> str | None:
            try:
                answer = self.client.put_object(
                    Bucket=self.bucket, Key=self.key, Body=_lease_record(run_id), **condition
                )
            except self.client.exceptions.ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
                    return None
                raise
            return answer["ETag"]

        etag = storage.retrying("write", self.path, put)
        if etag is None:
            record, etag = self.read()
            if not record or record.get("run_id") != run_id:
                return False
        self.etag = etag
        return True

    def take(self, run_id: str, lease_s: float) -> dict[str, Any] | None:
        held, etag = self.read()
        if held and held.get("run_id") != run_id and _alive(held, lease_s):
            raise LeaseHeld(_held_message(self.path.rsplit("/", 1)[0], held))
        if not self.put(run_id, etag):
            raise LeaseHeld(_held_message(self.path.rsplit("/", 1)[0], self.read()[0] or {}))
        return held

    def refresh(self, run_id: str) -> bool:
        """The heartbeat: False when another build has taken the lease over."""
        return self.put(run_id, self.etag)


def _refresh(out: str, run_id: str, s3: _S3Lease | None) -> bool:
    """The heartbeat: write a new heartbeat into this run's lease; False when another build has
    taken it over (then it is left alone). Locally under the lease lock, so a heartbeat cannot land
    between another build's read of the expired lease and its take-over, nor overwrite it after."""
    if s3 is not None:
        return s3.refresh(run_id)
    with _lease_lock(out) if _local(out) else contextlib.nullcontext():
        held = read_lease(out)
        if not held or held.get("run_id") != run_id:
            return False
        storage.write_atomic(storage.join(out, LEASE_NAME), _lease_record(run_id))
        return True


def _release(out: str, run_id: str) -> None:
    """Remove this run's lease at the build's end (not another's that took it over); locally, under
    the lease lock, whose file goes with it."""
    with _lease_lock(out, remove=True) if _local(out) else contextlib.nullcontext():
        held = read_lease(out)
        if held and held.get("run_id") == run_id:
            storage.delete([storage.join(out, LEASE_NAME)])


def _alive(held: dict[str, Any], lease_s: float) -> bool:
    """Whether a lease's build may still run: its heartbeat is fresh, unless it ran on this host
    in a process that is gone (a killed build, rerun here, need not wait for its lease to expire)."""
    if time.time() - float(held.get("heartbeat", 0)) >= lease_s:
        return False
    if held.get("host") == socket.gethostname() and isinstance(held.get("pid"), int):
        try:
            os.kill(held["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's live process
            return True
    return True


def _held_message(out: str, held: dict[str, Any]) -> str:
    age = time.time() - float(held.get("heartbeat", 0))
    return (
        f"{out} is being built by run {held.get('run_id')} (host {held.get('host')}, process {held.get('pid')}, "
        f"last heartbeat {age:.0f} s ago); wait for it to finish, or build into another --output/--name "
        f"(a lease whose run died expires {storage.policy().lease_s:.0f} s after its last heartbeat)"
    )


@contextlib.contextmanager
def output_lease(out: str, run_id: str | None = None, settle_s: float = 1.0) -> Iterator[str]:
    """Hold the build's lease on ``out`` for the ``with`` block; yields the run id, which this
    process's temporary names carry from then on. Raises :class:`LeaseHeld` when another build's
    lease is fresh. The lease is refreshed every quarter of ``--lease-s`` and removed at the end."""
    run_id = run_id or new_run_id()
    lease_s = storage.policy().lease_s
    s3 = _S3Lease(storage.join(out, LEASE_NAME)) if out.startswith("s3://") else None
    replaced = _take(out, run_id, lease_s, settle_s, s3)
    storage.set_run_id(run_id)
    if replaced and replaced.get("run_id") != run_id:
        dead = str(replaced.get("run_id"))
        removed = remove_stale_temps(out, dead_runs=(dead,)) if "run_id" in replaced else []
        print(
            f"[clara] took over the lease of run {dead} on {out} (expired, or its process is gone); "
            f"removed its {len(removed)} temporary file(s)",
            file=sys.stderr,
        )
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(lease_s / 4):
            try:
                if not _refresh(out, run_id, s3):
                    print(f"[clara] the lease on {out} was taken over by another build", file=sys.stderr)
            except OSError as exc:  # a missed heartbeat: the next one may land
                print(f"[clara] lease heartbeat on {out} failed: {exc}", file=sys.stderr)

    beat = threading.Thread(target=heartbeat, name="clara-lease", daemon=True)
    beat.start()
    try:
        yield run_id
    finally:
        stop.set()
        beat.join()
        _release(out, run_id)
