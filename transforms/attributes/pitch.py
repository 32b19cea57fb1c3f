"""Pitch of a voice: the median F0 over voiced frames and its spread in semitones.

Two methods, chosen by measurement (``bench/attributes.py``; espeak-ng speech held at known
pitch, one core):

- ``pyin`` (default): probabilistic YIN (Mauch & Dixon, ICASSP 2014) from ``librosa``, on the
  signal resampled to 8 kHz, 20 ms hop, 96 ms frames, F0 searched over 40..500 Hz. Within 0.5 % of the
  espeak-ng voice's F0 from 54 to 285 Hz, about 35x real time on one core.
- ``crepe``: the ``tiny`` CREPE network (Kim et al., ICASSP 2018) from ``torchcrepe`` (its
  weights install with the package), 16 kHz, 20 ms hop, frames with periodicity > 0.5. As
  accurate, about 6x real time on one core.

Only the first ``max_seconds`` of a clip are analysed (the cost then has a ceiling per sample).
The spread is robust to the odd octave error: 1.4826 x the median absolute deviation of the
voiced frames' F0 in semitones around their median (a normal distribution's standard deviation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("pyin", "crepe")
FMIN_HZ = 40.0
FMAX_HZ = 500.0
HOP_S = 0.02
_PYIN_RATE = 8_000
_PYIN_FRAME = 768
_PYIN_BETA = (2, 8)
"""pYIN's prior on the YIN threshold (mean 0.2; librosa's default (2, 18), mean 0.1, found no voiced
frame in espeak-ng's low male voices, en+m1 at 70-90 Hz, on some sentences; white noise stays unvoiced)."""
_CREPE_RATE = 16_000
_CREPE_PERIODICITY = 0.5
_MAD_TO_STD = 1.4826


@dataclass(frozen=True)
class PitchEstimate:
    """A clip's pitch: ``median_hz`` is None when no frame is voiced."""

    median_hz: float | None
    spread_semitones: float | None
    voiced_share: float
    method: str


def estimate_pitch(audio: np.ndarray, sr: int, method: str = "pyin", max_seconds: float = 10.0) -> PitchEstimate:
    """The median F0 (Hz), its spread (semitones) and the voiced share of ``audio`` (mono float)."""
    if method not in METHODS:
        raise ValueError(f"unknown pitch method {method!r}; expected one of {METHODS}")
    clip = np.asarray(audio, dtype=np.float32)[: int(max_seconds * sr)]
    if len(clip) < int(0.1 * sr) or not np.any(clip):
        return PitchEstimate(None, None, 0.0, method)
    f0, voiced = _pyin(clip, sr) if method == "pyin" else _crepe(clip, sr)
    return summarize(f0, voiced, method)


def summarize(f0: np.ndarray, voiced: np.ndarray, method: str) -> PitchEstimate:
    """The estimate from per-frame F0 values and their voicing flags."""
    voiced = np.asarray(voiced, dtype=bool) & np.isfinite(f0) & (f0 > 0)
    share = round(float(voiced.mean()), 4) if len(voiced) else 0.0
    if not voiced.any():
        return PitchEstimate(None, None, share, method)
    hz = f0[voiced].astype(np.float64)
    median = float(np.median(hz))
    semitones = 12.0 * np.log2(hz / median)
    spread = _MAD_TO_STD * float(np.median(np.abs(semitones)))
    return PitchEstimate(round(median, 2), round(spread, 3), share, method)


def _resample(audio: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target:
        return audio
    import soxr

    return soxr.resample(audio, sr, target, quality="MQ").astype(np.float32)


def _pyin(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    signal = _resample(audio, sr, _PYIN_RATE)
    hop = int(HOP_S * _PYIN_RATE)
    if len(signal) < _PYIN_FRAME:
        signal = np.pad(signal, (0, _PYIN_FRAME - len(signal)))
    f0, voiced, _ = librosa.pyin(
        signal,
        fmin=FMIN_HZ,
        fmax=FMAX_HZ,
        sr=_PYIN_RATE,
        frame_length=_PYIN_FRAME,
        hop_length=hop,
        resolution=0.2,
        beta_parameters=_PYIN_BETA,
    )
    return np.nan_to_num(f0, nan=0.0), voiced


def _crepe(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    import torch
    import torchcrepe

    signal = torch.from_numpy(_resample(audio, sr, _CREPE_RATE))[None]
    with torch.inference_mode():
        f0, periodicity = torchcrepe.predict(
            signal,
            _CREPE_RATE,
            hop_length=int(HOP_S * _CREPE_RATE),
            fmin=FMIN_HZ,
            fmax=FMAX_HZ,
            model="tiny",
            return_periodicity=True,
            batch_size=512,
            device="cpu",
        )
    f0, periodicity = f0[0].numpy(), periodicity[0].numpy()
    return f0, periodicity > _CREPE_PERIODICITY
