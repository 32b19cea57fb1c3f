"""The pitch of every speech window: what separates voices the speaker embedding confuses.

espeak-ng's variants sit 0.12-0.15 apart in Resemblyzer's cosine distance, about as far as two
sentences of one voice, but their F0 differs: m1 ~94 Hz, m3 ~103, m7 ~108, f4 ~178, f1 ~180, f2
~193 (median over 1.6-s windows, ``bench/diarize.py``'s dev recordings). Each speech region's F0
track comes from the house's pYIN estimator (:mod:`transforms.attributes.pitch`, 8 kHz, 20-ms hop,
40-500 Hz), 30 s of a region at a time; a window's pitch is the median of its voiced frames in
semitones above 100 Hz (NaN where fewer than ``MIN_VOICED`` frames are voiced), a region's the
median of all of its voiced frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FRAME_S = 0.02
"""pYIN's hop (``transforms.attributes.pitch.HOP_S``)."""
MIN_VOICED = 5
_PIECE_S = 30.0
_REFERENCE_HZ = 100.0


def region_f0(audio16: Any, start: int, end: int, sample_rate: int = 16_000) -> np.ndarray:
    """F0 (Hz, 0 where unvoiced) of every 20-ms frame of ``audio16[start:end]``."""
    from transforms.attributes.pitch import f0_track

    piece = int(_PIECE_S * sample_rate)
    frames_per_piece = int(round(_PIECE_S / FRAME_S))
    out = []
    for a in range(start, end, piece):
        b = min(end, a + piece)
        f0, voiced = f0_track(np.asarray(audio16[a:b], dtype=np.float32), sample_rate, "pyin")
        n = min(len(f0), max(1, int(round((b - a) / sample_rate / FRAME_S))), frames_per_piece)
        out.append(np.where(np.asarray(voiced[:n], dtype=bool), f0[:n], 0.0).astype(np.float32))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def semitones(hz: np.ndarray) -> float:
    """The median of the voiced frames in semitones above 100 Hz; NaN when too few are voiced."""
    voiced = hz[hz > 0]
    if len(voiced) < MIN_VOICED:
        return float("nan")
    return float(12.0 * np.log2(np.median(voiced) / _REFERENCE_HZ))


def window_semitones(f0: np.ndarray, starts_s: list[float] | np.ndarray, window_s: float) -> np.ndarray:
    """Each window's pitch (``starts_s`` from its region's start)."""
    width = int(round(window_s / FRAME_S))
    return np.array([semitones(f0[int(round(s / FRAME_S)) : int(round(s / FRAME_S)) + width]) for s in starts_s])


@dataclass(frozen=True)
class PitchTerm:
    """What a pitch difference adds to a cosine distance: ``weight`` per semitone beyond ``tolerance``
    (one voice's sentences differ by up to about a semitone), at most ``cap`` semitones' worth
    (octave errors, expressive speech)."""

    weight: float
    cap: float = 3.0
    tolerance: float = 0.0

    def distance(self, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        """The added distance; 0 where either pitch is unknown (no evidence either way)."""
        gap = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
        return self.weight * np.where(np.isfinite(gap), np.clip(gap - self.tolerance, 0.0, self.cap), 0.0)
