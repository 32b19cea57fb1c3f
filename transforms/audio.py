"""Decode any input audio to mono float32 at 48 kHz, and encode 16-bit FLAC (paper §III-A1).

soundfile (libsndfile) reads WAV/FLAC/OGG/MP3 fast; PyAV (FFmpeg) reads what it can't
(opus in mp4/webm, m4a/aac, video containers). soxr resamples. Every way an input can be
bad raises :class:`AudioError` with a short machine-readable ``reason``, which the
pipeline turns into a failure record; decoding runs under a timeout so a decoder that
hangs costs one item, not the job.
"""

from __future__ import annotations

import concurrent.futures
import io
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


def decode_bytes(data: bytes, max_duration_s: float = 3600.0) -> Decoded:
    """Decode an encoded audio (or video) file's bytes to float32 mono at its own rate."""
    if not data:
        raise AudioError("empty_file", "0 bytes")
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            if f.frames > max_duration_s * f.samplerate:
                raise AudioError("too_long", f"{f.frames / f.samplerate:.0f} s > {max_duration_s:.0f} s")
            audio = f.read(dtype="float32", always_2d=True)
            rate = f.samplerate
    except AudioError:
        raise
    except Exception:  # noqa: BLE001 - libsndfile can't read it: try FFmpeg
        audio, rate = _decode_with_pyav(data, max_duration_s)
    return Decoded(audio=_to_mono(audio), sample_rate=int(rate))


def _decode_with_pyav(data: bytes, max_duration_s: float) -> tuple[np.ndarray, int]:
    import av

    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001
        raise AudioError("not_audio", f"{type(exc).__name__}: {exc}"[:200]) from None
    with container:
        if not container.streams.audio:
            raise AudioError("no_audio_stream", f"streams: {[s.type for s in container.streams]}")
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        rate = stream.rate or stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        total = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += len(chunk)
                if total > max_duration_s * rate:
                    raise AudioError("too_long", f"> {max_duration_s:.0f} s")
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except AudioError:
            raise
        except Exception as exc:  # noqa: BLE001 - truncated/corrupt stream
            if not chunks:
                raise AudioError("corrupt_audio", f"{type(exc).__name__}: {exc}"[:200]) from None
    if not chunks:
        raise AudioError("no_audio_frames")
    return np.concatenate(chunks).astype(np.float32)[:, None], int(rate)


def _to_mono(audio: np.ndarray) -> np.ndarray:
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    return np.ascontiguousarray(mono, dtype=np.float32)


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


def encode_flac(audio: np.ndarray) -> bytes:
    """16-bit mono FLAC at 48 kHz; peaks above full scale are clipped, not wrapped."""
    pcm = np.clip(audio, -1.0, 1.0 - 1.0 / 32768)
    buf = io.BytesIO()
    sf.write(buf, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


class TimeoutRunner:
    """Run a call in a helper thread and give up after ``timeout_s``.

    A hung decoder thread cannot be killed from Python; it is abandoned (daemon) and a
    fresh thread serves the next call, so one bad file costs one item.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def __call__(self, fn, *args):  # noqa: ANN001, ANN204
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode")
        future = self._pool.submit(fn, *args)
        try:
            return future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            raise AudioError("decode_timeout", f"no result after {self.timeout_s:.0f} s") from None
