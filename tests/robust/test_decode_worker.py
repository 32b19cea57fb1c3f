"""Decoding in a child process: timeout, crash and memory limit cost one item."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tests.robust import hostile
from transforms.audio import AudioError
from transforms.decode_stream import DecodeLimits, decode_to_48k
from transforms.decode_worker import DecodeWorker

GOOD = hostile.encoded(hostile.speech_like(2.0, 44_100), 44_100, "FLAC")
"""A FLAC: decoded in the child (an ordinary 16-bit WAV is the numpy fast path's, in the parent)."""
LONG = hostile.encoded(hostile.speech_like(300.0, 44_100), 44_100, "FLAC")
"""Five minutes: long enough to still be decoding when a test interrupts it."""


@pytest.fixture
def worker():
    worker = DecodeWorker(timeout_s=30.0)
    yield worker
    worker.close()


def reason_of(call) -> str:
    with pytest.raises(AudioError) as caught:
        call()
    return caught.value.reason


def test_the_child_returns_exactly_what_decoding_in_process_gives_and_is_reused(worker):
    for _ in range(3):
        audio, info = worker.decode(GOOD, DecodeLimits())
    reference, _ = decode_to_48k(GOOD)
    assert np.array_equal(audio, reference) and audio.dtype == np.float32
    assert info["sample_rate"] == 44_100 and info["decoded_frames"] == 2 * 44_100
    assert worker.started == 1


def test_a_failure_reason_from_the_child_keeps_the_child(worker):
    assert reason_of(lambda: worker.decode(hostile.wav_with_rate(8), DecodeLimits())) == "bad_sample_rate"
    worker.decode(GOOD, DecodeLimits())
    assert worker.started == 1


def test_a_decode_past_its_timeout_is_killed_and_the_next_item_gets_a_fresh_child(worker):
    worker.timeout_s = 0.05
    assert reason_of(lambda: worker.decode(LONG, DecodeLimits())) == "decode_timeout"
    worker.timeout_s = 30.0
    audio, _ = worker.decode(GOOD, DecodeLimits())
    assert len(audio) == 2 * 48_000 and worker.started == 2


def test_a_child_that_dies_mid_decode_is_a_decode_crash_and_is_replaced(worker):
    worker.decode(GOOD, DecodeLimits())
    pid = worker._proc.pid
    killer = threading.Timer(0.05, os.kill, (pid, signal.SIGSEGV))
    killer.start()
    assert reason_of(lambda: worker.decode(LONG, DecodeLimits())) == "decode_crash"
    killer.join()
    audio, _ = worker.decode(GOOD, DecodeLimits())
    assert len(audio) == 2 * 48_000 and worker.started == 2


def test_a_decode_past_the_memory_limit_is_decode_memory_and_the_next_item_lands():
    worker = DecodeWorker(timeout_s=30.0, memory_limit_mb=16)
    try:
        greedy = DecodeLimits(block_frames=1 << 25)  # a 32 MiB block buffer: past the 16 MiB limit
        assert reason_of(lambda: worker.decode(GOOD, greedy)) == "decode_memory"
        audio, _ = worker.decode(GOOD, DecodeLimits())
        assert len(audio) == 2 * 48_000 and worker.started == 2
    finally:
        worker.close()


def test_a_child_that_died_between_items_is_replaced_without_failing_the_next_item(worker):
    worker.decode(GOOD, DecodeLimits())
    os.kill(worker._proc.pid, signal.SIGKILL)
    worker._proc.wait()
    audio, _ = worker.decode(GOOD, DecodeLimits())
    assert len(audio) == 2 * 48_000


def test_a_process_that_gives_up_on_a_hung_decode_exits_at_once_and_takes_its_child_along(tmp_path):
    script = (
        "from transforms.decode_worker import DecodeWorker\n"
        "from transforms.decode_stream import DecodeLimits\n"
        "w = DecodeWorker(timeout_s=0.05)\n"
        f"data = open({str(tmp_path / 'long.flac')!r}, 'rb').read()\n"
        "try:\n    w.decode(data, DecodeLimits())\nexcept Exception as e:\n    print(e.reason)\n"
        "w.timeout_s = 30\n"
        "w._child()\n"
        "print(w._proc.pid, flush=True)\n"
    )
    (tmp_path / "long.flac").write_bytes(LONG)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=os.getcwd())
    assert done.returncode == 0, done.stderr
    reason, pid = done.stdout.split()
    assert reason == "decode_timeout" and time.monotonic() - started < 30
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}") and _state(pid) != "Z":
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}") or _state(pid) == "Z", "the child outlived its parent"


def _state(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"
