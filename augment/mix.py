"""Pub-noise mixing: speech layered over an environmental sound (paper §III-A2, Eq. 1, Fig. 2).

Eq. 1 writes â = λ·a_i + (1−λ)·a_j with a_i the speech and a_j the background, but the text
says λ (drawn in [0.01, 0.8]) "controls the contribution of environmental sounds". The two
disagree; we follow the text, so **λ is the noise's weight**:

    â = (1 − λ)·a_speech + λ·a_noise'

where a_noise' is the noise cropped or looped to the speech's length and level-matched to the
speech's RMS before weighting. With equal RMS the signal-to-noise ratio is a function of λ alone,

    SNR_dB = 20·log10((1 − λ) / λ)

so λ = 0.01 gives +39.9 dB (barely audible noise), λ = 0.5 gives 0 dB and λ = 0.8 gives −12 dB
(noise dominates). The SNR actually measured on the two weighted parts is recorded beside λ.
A mix whose peak would exceed full scale is scaled down as a whole, which keeps the SNR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOISE_WEIGHT_RANGE: tuple[float, float] = (0.01, 0.8)
"""λ's range as the paper states it."""

PEAK_LIMIT = 0.99
SILENCE_RMS = 1e-5
REFERENCE_RMS = 0.05
"""Level the noise takes when the speech is silent (about −26 dBFS)."""


@dataclass(frozen=True)
class MixResult:
    """A mixed signal and every number needed to describe (and redo) the mix."""

    audio: np.ndarray
    noise_weight: float
    """λ, the noise's weight in Eq. 1 as the paper's text reads it."""
    snr_db: float | None
    """SNR measured between the weighted speech and the weighted, level-matched noise (None if the speech is silent)."""
    noise_offset: int
    """Sample of the noise where the mix starts (the noise loops from there when shorter)."""
    looped: bool
    peak_scale: float
    """Factor applied to the whole mix to keep it below full scale (1.0 when not needed)."""


def rms(audio: np.ndarray) -> float:
    """Root mean square of a signal (0.0 for an empty one)."""
    if audio.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def snr_db_for_weight(noise_weight: float) -> float:
    """The SNR in dB that a level-matched mix at noise weight λ has."""
    if not 0.0 < noise_weight < 1.0:
        raise ValueError(f"noise weight must lie in (0, 1), got {noise_weight}")
    return float(20.0 * np.log10((1.0 - noise_weight) / noise_weight))


def weight_for_snr_db(snr_db: float) -> float:
    """Inverse of :func:`snr_db_for_weight`: the λ giving a wanted SNR."""
    return float(1.0 / (1.0 + 10.0 ** (snr_db / 20.0)))


def draw_noise_weight(
    rng: np.random.Generator, low: float = NOISE_WEIGHT_RANGE[0], high: float = NOISE_WEIGHT_RANGE[1]
) -> float:
    """Draw λ uniformly in ``[low, high]`` (the paper's [0.01, 0.8] by default)."""
    if not 0.0 < low <= high < 1.0:
        raise ValueError(f"invalid noise weight range [{low}, {high}]")
    return round(float(rng.uniform(low, high)), 4)


def fit_length(noise: np.ndarray, length: int, offset: int = 0) -> tuple[np.ndarray, bool]:
    """Crop ``noise`` to ``length`` samples from ``offset``, looping it when it is too short.

    Returns the fitted noise and whether it had to loop.
    """
    if noise.size == 0:
        raise ValueError("empty noise")
    offset = offset % noise.size
    if offset + length <= noise.size:
        return noise[offset : offset + length], False
    repeats = int(np.ceil((offset + length) / noise.size))
    return np.tile(noise, repeats)[offset : offset + length], True


def mix_noise(speech: np.ndarray, noise: np.ndarray, noise_weight: float, noise_offset: int = 0) -> MixResult:
    """Mix ``noise`` under ``speech`` with λ = ``noise_weight`` (see the module docstring).

    Both signals are float mono at the same sample rate; the result has the speech's length.
    """
    if not 0.0 < noise_weight < 1.0:
        raise ValueError(f"noise weight must lie in (0, 1), got {noise_weight}")
    speech = np.asarray(speech, dtype=np.float32)
    noise = np.asarray(noise, dtype=np.float32)
    if noise.size == 0:
        raise ValueError("empty noise")
    noise_offset = int(noise_offset) % noise.size
    fitted, looped = fit_length(noise, speech.size, noise_offset)
    speech_rms, noise_rms = rms(speech), rms(fitted)
    if noise_rms < SILENCE_RMS:
        raise ValueError("noise is silent over the mixed span")
    target_rms = speech_rms if speech_rms >= SILENCE_RMS else REFERENCE_RMS
    speech_part = (1.0 - noise_weight) * speech.astype(np.float64)
    noise_part = noise_weight * fitted.astype(np.float64) * (target_rms / noise_rms)
    mixed = speech_part + noise_part
    peak = float(np.max(np.abs(mixed))) if mixed.size else 0.0
    peak_scale = PEAK_LIMIT / peak if peak > PEAK_LIMIT else 1.0
    speech_level = rms(speech_part)
    # silent speech has no SNR (None keeps the sample JSON standard: no -Infinity)
    snr = round(float(20.0 * np.log10(speech_level / rms(noise_part))), 3) if speech_level >= SILENCE_RMS else None
    return MixResult(
        audio=(mixed * peak_scale).astype(np.float32),
        noise_weight=float(noise_weight),
        snr_db=snr,
        noise_offset=noise_offset,
        looped=looped,
        peak_scale=round(peak_scale, 6),
    )
