"""Long items carried on disk: the decode parent spills past ``spill_after_s``, segments
are lazy views of the file, the samples are the array's own, and a worker's memory stays bounded."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from schemas import SAMPLE_RATE, WordAlignment
from tests.segment.speech import make_sample
from transforms.decode import DecodeStage
from transforms.segment.stage import SegmentStage
from transforms.spooled import SpooledAudio, span_of

ROOT = Path(__file__).resolve().parents[2]


def _bursts(seconds: float, rate: int, seed: int = 0) -> tuple[np.ndarray, tuple[WordAlignment, ...]]:
    """Noise "words" of 0.35 s with 0.15-s pauses (a 0.8-s pause every 12 words), and their timings."""
    rng = np.random.default_rng(seed)
    audio = np.zeros(int(seconds * rate), dtype=np.float32)
    words, at, i = [], 0.05, 0
    while at + 0.4 < seconds:
        a = int(at * rate)
        audio[a : a + int(0.35 * rate)] = rng.uniform(-0.3, 0.3, int(0.35 * rate))
        words.append(WordAlignment(f"w{i}", round(at, 3), 0.35))
        at += 0.35 + (0.8 if i % 12 == 11 else 0.15)
        i += 1
    return audio, tuple(words)


def _flac(audio: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def test_spooled_audio_stands_in_for_its_array():
    audio = np.random.default_rng(1).standard_normal(100_003).astype(np.float32)
    spooled = SpooledAudio.from_array(audio)
    assert len(spooled) == spooled.size == len(audio) and spooled.shape == audio.shape
    assert spooled.dtype == np.float32 and spooled.nbytes == audio.nbytes
    for part in (slice(0, 10), slice(-50, None), slice(99_990, 200_000), slice(7, 3), slice(None), slice(1, 99, 7)):
        assert np.array_equal(spooled[part], audio[part])
    assert spooled[5] == audio[5] and spooled[-1] == audio[-1]
    view = spooled.span(1000, 60_000)
    assert isinstance(view, SpooledAudio) and len(view) == 59_000
    assert np.array_equal(np.asarray(view), audio[1000:60_000])
    assert np.array_equal(view.span(10, 20)[:], audio[1010:1020])
    assert np.array_equal(np.clip(view, -0.5, 0.5), np.clip(audio[1000:60_000], -0.5, 0.5))
    assert np.array_equal(view * 2, audio[1000:60_000] * 2) and float(view.mean()) == float(audio[1000:60_000].mean())
    assert np.asarray(view, dtype=np.float64).dtype == np.float64
    assert np.array_equal(pickle.loads(pickle.dumps(view)), audio[1000:60_000])  # a pickled copy is an array
    assert np.array_equal(span_of(audio, 3, 9), audio[3:9]) and isinstance(span_of(audio, 3, 9), np.ndarray)


def test_the_decode_parent_spills_a_long_item_to_disk_with_the_same_samples():
    audio, _ = _bursts(75.0, 44_100)
    data = _flac(audio, 44_100)
    whole = DecodeStage(spill_after_s=0)
    spilling = DecodeStage(spill_after_s=20.0)
    for stage in (whole, spilling):
        stage.setup()
    try:
        expected, _ = whole.decode_file(data)
        got, _ = spilling.decode_file(data)
        assert isinstance(expected, np.ndarray) and isinstance(got, SpooledAudio)
        assert np.array_equal(np.asarray(got), expected)
        short_data = _flac(audio[: 10 * 44_100], 44_100)
        short, _ = spilling.decode_file(short_data)  # under the spill point: an array, as before
        assert isinstance(short, np.ndarray) and np.array_equal(short, whole.decode_file(short_data)[0])
    finally:
        for stage in (whole, spilling):
            stage.teardown()


def test_segments_of_a_spooled_recording_are_lazy_views_with_the_arrays_bytes():
    audio, words = _bursts(95.0, SAMPLE_RATE, seed=2)
    stage = SegmentStage(aligner="given")
    stage.setup()
    from_array, failed_a = stage.process([make_sample("rec", audio, words=words)])
    from_disk, failed_d = stage.process([make_sample("rec", SpooledAudio.from_array(audio), words=words)])
    assert not failed_a and not failed_d and len(from_array) == len(from_disk) >= 9
    for a, d in zip(from_array, from_disk):
        assert isinstance(d.audio, SpooledAudio) and isinstance(a.audio, np.ndarray)
        assert a.segment == d.segment and a.original_data == d.original_data
        assert np.asarray(d.audio).tobytes() == a.audio.tobytes()


_BOUNDED = """
import json, sys
import numpy as np
from schemas import SAMPLE_RATE
from tests.robust.test_spooled import _bursts
from tests.segment.speech import make_sample
from transforms.decode import DecodeStage
from transforms.segment.stage import SegmentStage

def status(field):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(field)) / 1024

audio, words = _bursts(MINUTES * 60, 16_000, seed=3)
pcm = (audio * 32767).astype("<i2").tobytes()
del audio
header = b"RIFF" + (36 + len(pcm)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
header += np.array([1, 1], "<u2").tobytes() + np.array([16_000, 32_000], "<u4").tobytes()
header += np.array([2, 16], "<u2").tobytes() + b"data" + len(pcm).to_bytes(4, "little")
data = header + pcm
del pcm
decode, segment = DecodeStage(), SegmentStage(aligner="given")
decode.setup(); segment.setup()
decode.decode_file(data[: 44 + 2 * 16_000 * 20])  # the decode child started, everything imported
import transforms.segment.longform
segment.process([make_sample("warm", np.zeros(30 * SAMPLE_RATE, np.float32), words=words[:50])])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) starts again from here
base = status("VmRSS")
audio, _ = decode.decode_file(data)
out, failed = segment.process([make_sample("long", audio, words=words)])
grew = status("VmHWM") - base
decode.teardown()
print(json.dumps({"grew_mib": grew, "whole_mib": len(audio) * 4 / 2**20, "carrier": type(audio).__name__,
                  "segments": len(out), "failed": len(failed), "longest": max(s.duration_s for s in out)}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_long_recording_goes_through_segmentation_without_a_whole_float32_copy():
    """30 min (a 16-kHz WAV) through decode and the segment stage (given word timings: no model): the
    worker's peak grows by far less than the 48 kHz float32 recording (330 MiB), let alone that plus
    its segments (held whole before, the growth was both)."""
    script = _BOUNDED.replace("MINUTES", "30")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    f = json.loads(done.stdout.strip().splitlines()[-1])
    assert f["carrier"] == "SpooledAudio" and not f["failed"] and f["segments"] >= 180 and f["longest"] <= 10.001
    assert f["grew_mib"] < 0.5 * f["whole_mib"], f
