"""TimeoutRunner (still used by the visual stage): giving up on a hung call never blocks process exit."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from transforms.audio import AudioError, TimeoutRunner


def test_a_call_past_its_timeout_is_a_decode_timeout_and_the_next_call_runs():
    runner = TimeoutRunner(0.05)
    with pytest.raises(AudioError) as caught:
        runner(time.sleep, 5)
    assert caught.value.reason == "decode_timeout"
    assert runner(lambda x: x + 1, 1) == 2


def test_errors_of_the_call_reach_the_caller():
    with pytest.raises(ZeroDivisionError):
        TimeoutRunner(5)(lambda: 1 / 0)


def test_a_process_that_gave_up_on_a_hung_call_exits_at_once():
    script = (
        "import time\n"
        "from transforms.audio import TimeoutRunner\n"
        "try:\n    TimeoutRunner(0.05)(time.sleep, 60)\nexcept Exception as e:\n    print(e.reason)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=50)
    assert done.stdout.strip() == "decode_timeout" and time.monotonic() - started < 30
