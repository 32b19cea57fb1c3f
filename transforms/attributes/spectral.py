"""The stationary noise floor of a clip and its removal: minimum statistics on a short-time spectrum.

Speech is sparse in time and frequency: in each frequency bin some frames hold (almost) nothing
but the noise, even in a clip without a pause. So the noise power of a bin is a low quantile
(:data:`QUANTILE`) of its power over time, after averaging :data:`SMOOTH_FRAMES` frames, divided by
that quantile of a chi-squared noise of the same degrees of freedom so that it estimates the mean
(after Martin, "Noise power spectral density estimation based on optimal smoothing and minimum
statistics", IEEE TSA 2001, much simplified: one quantile over the whole clip).

:func:`denoise` subtracts that floor (a Wiener-like gain, spectral floor :data:`GAIN_FLOOR`): the
pitch tracker then reads the voice, not a hum or a rumble, and the room's decays are not flattened
by the noise (:mod:`transforms.attributes.pitch`, :mod:`transforms.attributes.room`).
"""

from __future__ import annotations

from functools import cache

import numpy as np

QUANTILE = 0.1
SMOOTH_FRAMES = 8
GAIN_FLOOR = 0.05


@cache
def _quantile_bias(quantile: float, frames: float) -> float:
    """The ``quantile`` of the mean of ``frames`` exponential variables with mean 1 (a gamma)."""
    from scipy.stats import gamma

    return float(gamma.ppf(quantile, frames, scale=1.0 / frames))


def power_spectrogram(audio: np.ndarray, window: int, hop: int) -> np.ndarray:
    """|STFT|^2 of ``audio`` (frames x bins), Hann window, no padding; empty when shorter than a window."""
    x = np.asarray(audio, dtype=np.float64)
    if x.size < window:
        return np.zeros((0, window // 2 + 1))
    frames = np.lib.stride_tricks.sliding_window_view(x, window)[::hop] * np.hanning(window)
    return np.abs(np.fft.rfft(frames, axis=1)) ** 2


def smoothed(power: np.ndarray, frames: int = SMOOTH_FRAMES, bins: int = 1) -> np.ndarray:
    """Power averaged over ``frames`` frames and ``bins`` neighbouring bins (moving means)."""
    from scipy.ndimage import uniform_filter1d

    out = uniform_filter1d(power, frames, axis=0, mode="nearest")
    return uniform_filter1d(out, bins, axis=1, mode="nearest") if bins > 1 else out


def noise_floor(power_smoothed: np.ndarray, quantile: float = QUANTILE, cells: float = SMOOTH_FRAMES) -> np.ndarray:
    """The noise power per bin of a power spectrogram smoothed over ``cells`` cells: its low quantile over time,
    divided by that quantile of a stationary noise's smoothed power (so it estimates the noise's mean)."""
    return np.quantile(power_smoothed, quantile, axis=0) / _quantile_bias(quantile, cells)


WINDOW_S = 0.032


def denoise(audio: np.ndarray, sr: int) -> np.ndarray:
    """``audio`` with its stationary noise floor subtracted (32 ms frames, half overlapping; same length, float32)."""
    x = np.asarray(audio, dtype=np.float64)
    window = int(WINDOW_S * sr)
    hop = window // 2
    padded = np.pad(x, (window, window + hop))
    root_hann = np.sqrt(np.hanning(window + 1)[:-1])  # analysis x synthesis = Hann: overlap-add at hop w/2 is flat
    frames = np.lib.stride_tricks.sliding_window_view(padded, window)[::hop] * root_hann
    spectrum = np.fft.rfft(frames, axis=1)
    power = smoothed(np.abs(spectrum) ** 2)
    gain = np.maximum(1.0 - noise_floor(power) / np.maximum(power, 1e-20), GAIN_FLOOR)
    out_frames = np.fft.irfft(spectrum * gain, window, axis=1) * root_hann
    out = np.zeros(padded.size)
    for i, frame in enumerate(out_frames):
        out[i * hop : i * hop + window] += frame
    return out[window : window + x.size].astype(np.float32)
