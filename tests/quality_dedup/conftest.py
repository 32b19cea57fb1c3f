"""Tiny recordings and their copies (resampled, quieter, re-encoded) for the dedupe tests."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from scipy.signal import resample_poly


def recording(seed: int, seconds: float = 2.0, rate: int = 44_100) -> np.ndarray:
    """A sound with structure in time and frequency: tone bursts over noise, different per seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    audio = 0.02 * rng.standard_normal(t.size)
    for _ in range(8):
        start, length = rng.uniform(0, seconds - 0.3), rng.uniform(0.1, 0.3)
        burst = (t >= start) & (t < start + length)
        freq = rng.uniform(300, 2500)
        audio[burst] += 0.2 * np.sin(2 * np.pi * freq * t[burst]) * np.hanning(burst.sum())
    return audio.astype(np.float32)


def mp3_bytes(audio: np.ndarray, rate: int, bit_rate: int = 64_000) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate)
        stream.bit_rate = bit_rate
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(audio[None, :].astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


def save_copies(folder: Path, audio: np.ndarray, rate: int, stem: str) -> list[Path]:
    """The same recording three ways: WAV as is, FLAC resampled to 16 kHz 3 dB quieter, MP3 64 kbit/s."""
    folder.mkdir(parents=True, exist_ok=True)
    wav, flac, mp3 = folder / f"{stem}_a.wav", folder / f"{stem}_b.flac", folder / f"{stem}_c.mp3"
    sf.write(wav, audio, rate, subtype="PCM_16")
    quieter = resample_poly(audio, 160, 441) * 10 ** (-3 / 20)
    sf.write(flac, quieter.astype(np.float32), 16_000, format="FLAC")
    mp3.write_bytes(mp3_bytes(audio, rate))
    return [wav, flac, mp3]
