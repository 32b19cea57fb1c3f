"""Decode any input audio to mono float32 at 48 kHz, and encode 16-bit FLAC (paper §III-A1).

soundfile (libsndfile) reads WAV/FLAC/OGG/MP3 fast; PyAV (FFmpeg) reads what it can't
(opus in mp4/webm, m4a/aac, video containers). soxr resamples. Every way an input can be
bad raises :class:`AudioError` with a short machine-readable ``reason``, which the
pipeline turns into a failure record. The streaming decoder itself lives in
:mod:`transforms.decode_stream`; the pipeline runs it in a child process
(:mod:`transforms.decode_worker`) so a decoder that hangs, crashes or balloons costs one
item, not the job.
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from schemas import SAMPLE_RATE, WordAlignment


class AudioError(Exception):
    """An input that cannot become a sample; ``reason`` names the failure kind."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Decoded:
    """Audio as read from the source: float32 mono at its native rate, plus known word timings."""

    audio: np.ndarray
    sample_rate: int
    words: tuple[WordAlignment, ...] = ()


def to_48k(decoded: Decoded, min_duration_s: float = 0.1) -> np.ndarray:
    """Resample to 48 kHz and check the result is usable audio."""
    audio = decoded.audio
    if audio.size == 0:
        raise AudioError("no_samples", "decoded to 0 samples")
    if not np.isfinite(audio.sum(dtype=np.float64)):  # one pass, no boolean array: NaN/inf poison the sum
        raise AudioError("non_finite_samples")
    if decoded.sample_rate != SAMPLE_RATE:
        audio = soxr.resample(audio, decoded.sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)
    if len(audio) < min_duration_s * SAMPLE_RATE:
        raise AudioError("too_short", f"{len(audio) / SAMPLE_RATE:.3f} s < {min_duration_s} s")
    return audio


_SCRATCH = threading.local()


def encode_flac(audio: np.ndarray) -> bytes:
    """16-bit mono FLAC at 48 kHz; peaks above full scale are clipped, not wrapped.

    Encoded into a per-thread in-memory file (``memfd``, Linux): libsndfile writing to a Python
    file object calls back into Python ~150 times a clip, each call waiting for the GIL, so with
    worker threads one thread's encoding stalled behind the other's Python work. Into a file
    descriptor it runs without the GIL; the bytes are the same (:func:`encode_flac_buffered`).
    """
    fd = getattr(_SCRATCH, "fd", None)
    if fd is None:
        if not hasattr(os, "memfd_create"):  # not Linux: through a Python file object
            return encode_flac_buffered(audio)
        fd = _SCRATCH.fd = os.memfd_create("clara-flac", os.MFD_CLOEXEC)
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    with sf.SoundFile(fd, "w", SAMPLE_RATE, 1, "PCM_16", format="FLAC", closefd=False) as f:
        f.write(_pcm16(audio))
    return os.pread(fd, os.lseek(fd, 0, os.SEEK_END), 0)


def encode_flac_buffered(audio: np.ndarray) -> bytes:
    """:func:`encode_flac` through a Python file object (where there is no ``memfd``)."""
    buf = io.BytesIO()
    sf.write(buf, _clipped(audio), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def _pcm16(audio: np.ndarray) -> np.ndarray:
    """The 16-bit samples libsndfile makes of float audio (x 32768, rounded half to even: its
    ``lrintf``), made by numpy in a few array passes instead of libsndfile's per-sample loop. The
    FLAC bytes are the same (:func:`encode_flac_buffered` writes the float samples; a test compares
    the two)."""
    scaled = np.asarray(audio) * np.float32(32768)  # exact (a power of two); float64 stays float64
    np.clip(scaled, -32768, 32767, out=scaled)  # = clipping to [-1, 1 - 1/32768] first
    return np.rint(scaled, out=scaled).astype(np.int16)


def _clipped(audio: np.ndarray) -> np.ndarray:
    return np.clip(audio, -1.0, 1.0 - 1.0 / 32768)
