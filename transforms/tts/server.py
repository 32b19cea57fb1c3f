"""Deterministic espeak-ng synthesis: a small single-threaded server that forks per utterance.

Why: espeak-ng carries state from one utterance to the next (wave-generator phase, flutter
counters), draws noise from libc's ``rand()`` and reads some heap memory before writing it,
so the same text came out differently depending on what the process did before. Forking a
Beam worker directly is not safe either (its gRPC threads made forked children abort).

So each worker process starts this server once (``python -m transforms.tts``, a fresh
interpreter with no threads of ours). For every request it forks a child that seeds
``rand()``, makes glibc fill new allocations with a fixed byte, synthesises, and sends the
result back: an utterance depends only on its text, voice and style.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
from typing import Any

from transforms.tts.engine import Engine

_HEADER = struct.Struct(">Q")


def _read_exact(fd: int, n: int) -> bytes:
    chunks, remaining = [], n
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _write_frame(fd: int, payload: bytes) -> None:
    data = _HEADER.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _speak_in_child(request: tuple) -> bytes:
    """Fork; the child synthesises ``request`` and pipes the pickled result back."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            payload = pickle.dumps(("ok", Engine.speak(*request)))
        except BaseException as exc:
            payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
        _write_frame(write_fd, payload)
        os._exit(0)
    os.close(write_fd)
    try:
        size = _HEADER.unpack(_read_exact(read_fd, _HEADER.size))[0]
        return _read_exact(read_fd, size)
    except EOFError:
        _, status = os.waitpid(pid, 0)
        pid = 0
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.WEXITSTATUS(status)}"
        return pickle.dumps(("error", f"espeak-ng child died ({how})"))
    finally:
        os.close(read_fd)
        if pid:
            os.waitpid(pid, 0)


def serve(in_fd: int = 0, out_fd: int = 1) -> None:
    """Answer length-prefixed pickled requests until stdin closes."""
    while True:
        try:
            size = _HEADER.unpack(_read_exact(in_fd, _HEADER.size))[0]
            request = pickle.loads(_read_exact(in_fd, size))
        except EOFError:
            return
        _write_frame(out_fd, _speak_in_child(request))


class SynthesisClient:
    """One server per worker process, started on first use, restarted if it dies."""

    _lock = threading.Lock()
    _proc: subprocess.Popen | None = None

    @classmethod
    def _server(cls) -> subprocess.Popen:
        if cls._proc is None or cls._proc.poll() is not None:
            cls._proc = subprocess.Popen(
                [sys.executable, "-m", "transforms.tts"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
            )
        return cls._proc

    @classmethod
    def call(cls, request: tuple, timeout_s: float = 120.0) -> Any:
        with cls._lock:
            proc = cls._server()
            try:
                _write_frame(proc.stdin.fileno(), pickle.dumps(request))
                out = proc.stdout.fileno()
                if not select.select([out], [], [], timeout_s)[0]:
                    raise TimeoutError(f"espeak-ng gave no answer in {timeout_s:.0f} s")
                size = _HEADER.unpack(_read_exact(out, _HEADER.size))[0]
                status, value = pickle.loads(_read_exact(out, size))
            except (EOFError, BrokenPipeError, TimeoutError) as exc:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                cls._proc = None
                raise RuntimeError(f"the espeak-ng server failed: {type(exc).__name__}: {exc}") from None
        if status != "ok":
            raise RuntimeError(f"espeak-ng failed: {value}")
        return value
