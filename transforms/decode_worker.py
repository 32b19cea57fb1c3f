"""Decoding in a child process: a memory limit, a real kill on timeout, a crash costs one item.

Each worker process starts one child (``python -m transforms.decode_worker``, a fresh
interpreter: forking a Beam worker after its gRPC threads start can abort, see
``transforms/tts/server.py``) and reuses it for every item. The child caps its own address
space (``RLIMIT_AS``) and streams each item's 48 kHz blocks back over a pipe as raw float32
as they are produced (:mod:`transforms.decode_stream`), so it never holds a whole recording.
The parent reads the blocks straight into one growing array; an item longer than
``spill_after_s`` goes on into a temporary file instead (spliced from the pipe, no copy through
Python) and is returned as a :class:`transforms.spooled.SpooledAudio`, so the parent never holds
more than that much of any item, long or hostile.

The same child runs the other decoders of outside bytes as *jobs* (:class:`ChildJob`, named by
``"module:attribute"`` under ``transforms.``): the visual stage's frame scan
(:mod:`transforms.visual.frames`) is one. A job's module is imported, and its ``prepare()`` run,
before the memory limit is set, so the budget is the decoder's own; the job then sends its results
as ``F`` messages and ends with ``D`` (its summary) like a decode.

What can go wrong becomes a reason, and the next item gets a fresh child:
``decode_timeout`` (no result in time: the child is SIGKILLed), ``decode_memory`` (the child
hit its limit), ``decode_crash`` (it died any other way). No thread is ever abandoned; the
child exits when its stdin closes or its parent disappears, so process exit never waits.

Wire format, both ways: a 1-byte kind, an 8-byte big-endian length, the payload.
Parent -> child: ``R`` (JSON: the decode limits, or ``{"job", "params", "path"}``) followed by
``B`` (the encoded bytes; empty when a job reads ``path`` itself).
Child -> parent: any number of ``A`` (float32 samples) or ``F`` (a job's parts), then ``D`` (JSON:
stream info, a job's summary) or ``E`` (JSON: reason, detail).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from schemas import SAMPLE_RATE
from transforms.audio import AudioError
from transforms.pcm_wav import read_pcm16_wav
from transforms.spooled import Spool, SpooledAudio

_HEADER = struct.Struct(">cQ")
_PIPE_BYTES = 1 << 20
_SEND_SAMPLES = 1 << 20
"""Samples per audio message (4 MiB, ~22 s at 48 kHz): an ordinary file crosses in one."""
_F_SETPIPE_SZ = 1031
_MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(64 << 20),
    "MALLOC_ARENA_MAX": "2",
}
"""Keep freed blocks in the child's heap: without this, glibc handed every item's buffers back to
the kernel and faulted them in again (~1,000 page faults an item, a quarter of its CPU time). Two
malloc arenas: each arena reserves 64 MB of address space, which the memory limit counts, and a
video decoder's threads would otherwise each get one."""
_PART_BYTES = 64 << 20
"""The largest ``F`` message a job may send (a frame, its pixels at the job's own bounded size)."""
_MAX_PARTS = 1 << 14
_JOB_PREFIX = "transforms."
_MEMORY_WORDS = ("MemoryError", "Cannot allocate memory", "bad_alloc", "out of memory", "ENOMEM")


@dataclass(frozen=True)
class ChildJob:
    """A decoder of outside bytes that runs in the decode child.

    ``prepare()`` imports what the job needs (counted outside the memory budget); ``run(source,
    params, send)`` decodes ``source`` (the bytes sent, or a local path) and calls
    ``send(payload)`` for each result part; it returns the summary (JSON-able) or raises an
    exception with ``reason`` and ``detail`` attributes (:class:`transforms.audio.AudioError`, or
    the job's own error type), which the parent receives as :class:`AudioError` with that reason.
    """

    prepare: Callable[[], None]
    run: Callable[[bytes | bytearray | str, dict, Callable[[bytes], None]], dict]


# -- child side --------------------------------------------------------------------------------
def _read_exact(fd: int, n: int) -> bytearray:
    buf = bytearray(n)
    view, done = memoryview(buf), 0
    while done < n:
        got = os.readv(fd, [view[done:]])
        if not got:
            raise EOFError
        done += got
    return buf


def _write_all(fd: int, *parts: bytes | memoryview) -> None:
    """All ``parts`` in as few ``writev`` calls as the pipe allows (one wake-up of the reader, not one a part)."""
    views = [v for v in (memoryview(p).cast("B") for p in parts) if v.nbytes]
    while views:
        written = os.writev(fd, views)
        while views and written >= views[0].nbytes:
            written -= views.pop(0).nbytes
        if views and written:
            views[0] = views[0][written:]


def _message(kind: bytes, payload: bytes | memoryview = b"") -> tuple[bytes, bytes | memoryview]:
    return _HEADER.pack(kind, memoryview(payload).nbytes), payload


def _send(fd: int, kind: bytes, payload: bytes | memoryview = b"") -> None:
    _write_all(fd, *_message(kind, payload))


def _limit_memory(limit_mb: int) -> None:
    """Let decoding add at most ``limit_mb`` to the address space in use now (imports, the input).

    Only the soft limit moves: it is lifted before each request is read (the input may be large,
    up to the parent's byte cap) and set again once it is in, so the budget is the decoder's own.
    """
    import resource

    if limit_mb <= 0:
        return
    with open("/proc/self/statm") as f:
        in_use = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    soft = in_use + (limit_mb << 20)
    resource.setrlimit(resource.RLIMIT_AS, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _lift_memory_limit() -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_AS)[1]  # whatever limit the worker itself runs under
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def _exit_with_parent(parent: int) -> None:
    """A daemon thread: the child never outlives the worker that started it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _joined(blocks: list[np.ndarray]) -> np.ndarray:
    """One message's samples; a single block (an ordinary file) goes out as it is, not copied."""
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def _job(name: str, loaded: dict[str, ChildJob]) -> ChildJob:
    """The job ``"module:attribute"`` (a module under ``transforms.``), imported and prepared once."""
    job = loaded.get(name)
    if job is None:
        import importlib

        module, _, attribute = name.partition(":")
        if not module.startswith(_JOB_PREFIX) or not attribute:
            raise ValueError(f"not a decode job: {name!r}")
        job = getattr(importlib.import_module(module), attribute)
        job.prepare()
        loaded[name] = job
    return job


def _decode_audio(data: bytearray, limits: Any, out_fd: int) -> None:  # DecodeLimits
    from transforms.decode_stream import AudioStream

    stream = AudioStream(data, limits)
    pending: list[np.ndarray] = []  # blocks go out in messages of up to _SEND_SAMPLES: fewer wake-ups
    waiting = 0
    for block in stream.blocks_48k():
        pending.append(block)
        waiting += len(block)
        if waiting >= _SEND_SAMPLES:
            _send(out_fd, b"A", _joined(pending))
            pending, waiting = [], 0
    last = _message(b"A", _joined(pending)) if pending else ()
    # the last audio and the stream info in one write: the parent wakes once for both
    _write_all(out_fd, *last, *_message(b"D", json.dumps(dataclasses.asdict(stream.info)).encode()))


def serve(in_fd: int, out_fd: int, memory_limit_mb: int, parent: int) -> None:
    """Decode requests (and run jobs) until stdin closes."""
    from transforms.decode_stream import DecodeLimits

    _exit_with_parent(parent)
    jobs: dict[str, ChildJob] = {}
    while True:
        try:
            _lift_memory_limit()
            kind, size = _HEADER.unpack(_read_exact(in_fd, _HEADER.size))
            request = json.loads(_read_exact(in_fd, size))
            kind, size = _HEADER.unpack(_read_exact(in_fd, _HEADER.size))
            data = _read_exact(in_fd, size)  # a bytearray, read in place and never copied
        except EOFError:
            return
        try:
            if "job" in request:
                job = _job(request["job"], jobs)
                _limit_memory(memory_limit_mb)
                summary = job.run(
                    request.get("path") or data, request["params"], lambda part: _send(out_fd, b"F", part)
                )
                _send(out_fd, b"D", json.dumps(summary).encode())
            else:
                _limit_memory(memory_limit_mb)
                _decode_audio(data, DecodeLimits(**request), out_fd)
        except MemoryError as exc:
            detail = f"MemoryError past the {memory_limit_mb} MB limit: {exc}"[:300]
            _send(out_fd, b"E", json.dumps({"reason": "decode_memory", "detail": detail}).encode())
            os._exit(3)  # a fresh child for the next item: the heap may be in any state
        except Exception as exc:  # any decoder error is this item's failure
            reason, detail = getattr(exc, "reason", None), getattr(exc, "detail", None)
            if not isinstance(reason, str) or not isinstance(detail, str):
                reason, detail = "decode_error", f"{type(exc).__name__}: {exc}"
            _send(out_fd, b"E", json.dumps({"reason": reason, "detail": detail[:300]}).encode())
        del data


# -- parent side -------------------------------------------------------------------------------
class _Growing:
    """A float32 array that grows by doubling; large blocks are remapped, not copied (realloc/mremap)."""

    def __init__(self) -> None:
        self.array = np.empty(0, dtype=np.float32)
        self.size = 0

    def tail(self, n: int, cap: int = 0) -> memoryview:
        """Room for ``n`` more samples (growth stops at ``cap`` samples when given: the spill point)."""
        if not self.size:  # the first message is sized exactly (most items are one), never zero-filled
            self.array = np.empty(n, dtype=np.float32)
        elif self.size + n > len(self.array):
            grown = 2 * len(self.array)
            self.array.resize(max(min(grown, cap) if cap else grown, self.size + n), refcheck=False)
        return memoryview(self.array[self.size : self.size + n]).cast("B")

    def result(self) -> np.ndarray:
        self.array.resize(self.size, refcheck=False)
        return self.array


class DecodeWorker:
    """The parent's handle on its decode child: ``decode(bytes)`` -> (48 kHz audio, stream info)."""

    def __init__(self, timeout_s: float = 120.0, memory_limit_mb: int = 1024, spill_after_s: float = 0.0) -> None:
        self.timeout_s = timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.spill_samples = int(spill_after_s * SAMPLE_RATE)
        """Past this many samples an item goes to a temporary file (:mod:`transforms.spooled`); 0: never."""
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._killed = False
        self.started = 0
        self._requests: dict[Any, bytes] = {}

    def _child(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._reap()
            self._stderr = tempfile.TemporaryFile()
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "transforms.decode_worker", str(self.memory_limit_mb), str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                bufsize=0,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **_MALLOC_ENV},
            )
            for pipe in (self._proc.stdin, self._proc.stdout):
                try:
                    fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
                except OSError:
                    pass  # the default 64 KiB pipe works, a little slower
            os.set_blocking(self._proc.stdout.fileno(), False)
            self._killed = False
            self.started += 1
        return self._proc

    def decode(self, data: bytes, limits: Any) -> tuple[np.ndarray, dict]:
        """``limits``: a :class:`transforms.decode_stream.DecodeLimits`. Raises :class:`AudioError`.

        An ordinary 16-bit PCM WAV is read here by numpy (:mod:`transforms.pcm_wav`: no native
        decoder runs, every chunk header is checked, anything else goes to the child), with the
        child's samples and stream info.
        """
        ordinary = read_pcm16_wav(data, limits)
        if ordinary is not None:
            audio, info = ordinary
            return audio, dataclasses.asdict(info)
        request = self._requests.get(limits)
        if request is None:  # the same limits every item: encoded once
            request = self._requests[limits] = json.dumps(dataclasses.asdict(limits)).encode()
        audio, info, _ = self._exchange(request, data)
        return audio, info

    def run_job(
        self, job: str, params: dict, data: bytes = b"", path: str | None = None
    ) -> tuple[list[bytearray], dict]:
        """Run the :class:`ChildJob` ``job`` (``"module:attribute"``) on ``data`` or the local file
        ``path`` in the child, under the same memory limit and timeout: (its parts, its summary).
        Raises :class:`AudioError` (the job's own reason, or ``decode_timeout`` / ``decode_memory``
        / ``decode_crash``)."""
        request = json.dumps({"job": job, "params": params, "path": path}).encode()
        _, summary, parts = self._exchange(request, data)
        return parts, summary

    def _exchange(self, request: bytes, data: bytes) -> tuple[np.ndarray | SpooledAudio, dict, list[bytearray]]:
        for attempt in (1, 2):  # a child that died between items is replaced, not blamed on this one
            proc = self._child()
            try:  # the request and the bytes in one write: the child wakes once
                _write_all(proc.stdin.fileno(), *_message(b"R", request), *_message(b"B", data))
                break
            except BrokenPipeError:
                if attempt == 2:
                    raise self._died() from None
                self._reap()
        try:
            return self._receive(proc.stdout.fileno(), time.monotonic() + self.timeout_s)
        except AudioError:
            raise
        except BaseException:  # interrupted mid-answer: the rest of it must not reach the next item
            self._kill()
            raise

    def _receive(self, fd: int, deadline: float) -> tuple[np.ndarray | SpooledAudio, dict, list[bytearray]]:
        audio = _Growing()
        spool: Spool | None = None
        parts: list[bytearray] = []
        while True:
            kind, size = _HEADER.unpack(self._read(fd, _HEADER.size, deadline))
            if kind not in (b"A", b"D", b"E", b"F") or (kind in b"DE" and size > 1 << 20):
                raise self._lost(f"message {kind!r} of {size} bytes")
            if kind == b"A":
                if size % 4:
                    raise self._lost(f"audio block of {size} bytes")
                if spool is None and self.spill_samples and audio.size + size // 4 > self.spill_samples:
                    spool = Spool()  # a long item: what came so far, and the rest, go to a file
                    spool.append(audio.array[: audio.size])
                    audio = _Growing()
                if spool is not None:
                    self._splice_into(spool, fd, size, deadline)
                    continue
                self._read_into(fd, audio.tail(size // 4, self.spill_samples), deadline)
                audio.size += size // 4
            elif kind == b"F":
                if size > _PART_BYTES or len(parts) >= _MAX_PARTS:
                    raise self._lost(f"part {len(parts) + 1} of {size} bytes")
                parts.append(self._read(fd, size, deadline))
            elif kind == b"D":
                info = json.loads(self._read(fd, size, deadline))
                return (audio.result() if spool is None else SpooledAudio(spool)), info, parts
            else:
                error = json.loads(self._read(fd, size, deadline))
                if error["reason"] == "decode_memory":
                    self._reap()  # it exits after saying so; the next item gets a fresh child
                raise AudioError(error["reason"], error["detail"])

    def _read(self, fd: int, n: int, deadline: float) -> bytearray:
        buf = bytearray(n)
        self._read_into(fd, memoryview(buf), deadline)
        return buf

    def _read_into(self, fd: int, view: memoryview, deadline: float) -> None:
        done = 0
        while done < len(view):
            try:  # the pipe is non-blocking: read what is there, wait (select) only when nothing is
                got = os.readv(fd, [view[done:]])
            except BlockingIOError:
                self._wait(fd, deadline)
                continue
            if not got:
                raise self._died()
            done += got

    def _splice_into(self, spool: Spool, fd: int, size: int, deadline: float) -> None:
        while size:
            try:
                moved = spool.splice(fd, size)
            except BlockingIOError:
                self._wait(fd, deadline)
                continue
            if not moved:
                raise self._died()
            size -= moved

    def _wait(self, fd: int, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            self._kill()
            raise AudioError("decode_timeout", f"no result after {self.timeout_s:.0f} s (decoder killed)") from None

    def _lost(self, what: str) -> AudioError:
        self._kill()
        return AudioError("decode_crash", f"decoder sent an unexpected {what}; killed")

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._killed = True
        self._reap()

    def _died(self) -> AudioError:
        """The child's death as a reason: its memory limit, or a crash (with its last words)."""
        proc = self._proc
        status = proc.wait() if proc is not None else 0
        last = b""
        if self._stderr is not None:
            self._stderr.seek(max(0, self._stderr.seek(0, os.SEEK_END) - 2000))
            last = self._stderr.read()
        self._reap()
        text = last.decode("utf-8", "replace")
        how = f"signal {-status}" if status < 0 else f"exit code {status}"
        if status < 0 and -status in signal.valid_signals():
            how = f"signal {signal.Signals(-status).name}"
        words = text.strip().splitlines()[-1:] or [""]
        if any(w in text for w in _MEMORY_WORDS) or (status == -signal.SIGKILL and not self._killed):
            return AudioError(
                "decode_memory", f"decoder died ({how}) at its {self.memory_limit_mb} MB limit: {words[0]}"[:300]
            )
        return AudioError("decode_crash", f"decoder died ({how}): {words[0]}"[:300])

    def _reap(self) -> None:
        if self._proc is not None:
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe:
                    pipe.close()
            self._proc.wait()
            self._proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def close(self) -> None:
        """End the child (it also ends by itself when this process goes)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._reap()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which ends the child
    serve(0, 1, int(sys.argv[1]), int(sys.argv[2]))
