"""Signal-to-noise ratio from the clip's stationary noise floor, with the room's late reverberation
taken out first.

WADA-SNR (the quality stage's) models speech as gamma-distributed and noise as Gaussian: it reads a
room's reverberation as noise (every reverberant, noise-free demo sample was "noisy") and hum, rain
or babble off by up to 12 dB. Here the noise is what every frequency bin holds all the time:

1. the 16 kHz clip's power spectrogram (32 ms Hann windows, 16 ms hop), averaged over
   :data:`SMOOTH_FRAMES` frames and :data:`SMOOTH_BINS` bins;
2. the room's late reverberation predicted from the past (Lebart et al., "A new method based on
   spectral subtraction for speech dereverberation", Acta Acustica 2001): :data:`DELAY_FRAMES`
   frames later a room at RT60 ``T`` has let the power fall by ``k = 10^(-6 D/T)``; that much of the
   earlier power is subtracted (and the rest scaled back, so a stationary noise keeps its power);
   ``T`` is :func:`reverb_rt60`: the :data:`REVERB_QUANTILE` of the decay times of every loud
   :data:`REVERB_WINDOW_S` window of :mod:`transforms.attributes.room` (not the RT60's own, falling
   windows: a higher ``T`` subtracts too much; none: no subtraction);
3. the noise power per bin is a low quantile over time (:data:`QUANTILE`) divided by that quantile
   of the noise's own distribution (version 3, :func:`noise_floor_adaptive`): a gamma whose shape
   (equivalent cells) is read from the bin's spread, its :data:`SPREAD_QUANTILE` over its
   :data:`QUANTILE` quantile (after Martin 2001, whose minimum's bias follows the measured variance
   of the smoothed periodogram): a tone barely moves (bias ~1), a stationary noise has ~6 cells,
   babble ~1..2, held within :data:`MIN_CELLS`..:data:`MAX_CELLS` (below, the spread is speech);
   version 2 took a stationary noise's bias for every bin (:func:`transforms.attributes.spectral.noise_floor`),
   with fewer cells for the spread the subtraction adds, ``(1 - k)^2 / (1 + k^2)`` as many;
4. SNR = (total power - noise power) / noise power over the whole clip, in dB, within -20..100:
   the definition the demo's mixes follow (:func:`augment.mix.mix_noise`: level-matched whole clips).

Measured on the controlled demo (``bench/attributes.py``; docs/attributes.md, "SNR v3"), settings
chosen on seeds 0, 1 and 3, scored once on seeds 2, 4 and 5: Spearman rho against the mixed SNR,
version 3 held out 0.900 / 0.871 / 0.902, pooled 0.909 (version 2: 0.888 / 0.876 / 0.869, pooled
0.896); on recorded speech (``bench/real_speech.py``) 0.892 (version 2: 0.885). The per-noise biases
about halve (v2 read babble 7..9 dB high, rain 5..7 high, hum 2..4 low); the babble still reads
4..6 dB high, and a short clip without a pause reads part of its own speech as noise.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from transforms.attributes.spectral import noise_floor, power_spectrogram, smoothed

RATE = 16_000
METHOD = "noise-floor-snr"
VERSION = "3"
"""3: the floor's bias read from each bin's own spread (its 20 % over its 5 % quantile), so a
fluctuating noise (babble, rain) and a tonal one (hum) are not read as a stationary noise;
2: the floor at the 5 % quantile of 2 frames x 5 bins, its bias that of a stationary noise,
corrected for the subtraction's spread (1: 2 % of 4 frames x 5 bins)."""
WINDOW = 512
HOP = 256
QUANTILE = 0.05
SPREAD_QUANTILE = 0.2
MIN_CELLS = 3.0
MAX_CELLS = 2000.0
SMOOTH_FRAMES = 2
SMOOTH_BINS = 5
DELAY_FRAMES = 6
REVERB_WINDOW_S = 0.1
REVERB_QUANTILE = 0.2
SNR_RANGE_DB = (-20.0, 100.0)


def reverb_rt60(energies: np.ndarray | None) -> float | None:
    """The RT60 (s) whose late reverberation is subtracted: the :data:`REVERB_QUANTILE` of every loud
    :data:`REVERB_WINDOW_S` window's decay time (``energies``: :func:`transforms.attributes.room.clip_energies`)."""
    from transforms.attributes import room

    if energies is None:
        return None
    times = room.window_decay_times(energies, REVERB_WINDOW_S, falling=0)
    return float(np.quantile(times, REVERB_QUANTILE)) if len(times) >= room.MIN_WINDOWS else None


def estimate_snr(audio_16k: np.ndarray, version: str = VERSION) -> float | None:
    """:func:`estimate_snr_db` with the clip's own late-reverberation RT60 (:func:`reverb_rt60`)."""
    from transforms.attributes import room

    return estimate_snr_db(audio_16k, reverb_rt60(room.clip_energies(audio_16k)), version)


@cache
def _spread_table(quantile: float, upper: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a gamma of shape ``c`` (the mean of ``c`` exponential cells, mean 1) on a log grid of ``c``:
    the ratio of its ``upper`` to its ``quantile`` quantile (increasing order, so falling ``c``), the
    ``c`` and the ``quantile`` quantile itself (the floor's bias)."""
    from scipy.stats import gamma

    shapes = np.exp(np.linspace(np.log(0.5), np.log(MAX_CELLS), 300))[::-1]
    low = gamma.ppf(quantile, shapes, scale=1.0 / shapes)
    return gamma.ppf(upper, shapes, scale=1.0 / shapes) / low, shapes, low


def noise_floor_adaptive(local: np.ndarray) -> np.ndarray:
    """The noise power per bin of a smoothed power spectrogram (frames x bins), version 3: the
    :data:`QUANTILE` floor divided by that quantile of a gamma whose shape (equivalent cells) is read
    from the bin's own spread, the ratio of its :data:`SPREAD_QUANTILE` to its :data:`QUANTILE`
    quantile, within :data:`MIN_CELLS`..:data:`MAX_CELLS`."""
    low, high = np.quantile(local, [QUANTILE, SPREAD_QUANTILE], axis=0)
    ratios, shapes, biases = _spread_table(QUANTILE, SPREAD_QUANTILE)
    cells = np.clip(np.interp(high / np.maximum(low, 1e-30), ratios, shapes), MIN_CELLS, MAX_CELLS)
    return low / np.interp(cells, shapes[::-1], biases[::-1])


def estimate_snr_db(audio_16k: np.ndarray, rt60_s: float | None = None, version: str = VERSION) -> float | None:
    """The SNR (dB) of a 16 kHz clip; None when it is shorter than a few frames or silent.
    ``version`` "2" is the floor with a fixed bias (a stationary noise's), "3" (the default) the
    floor with the bias of the noise's measured spread."""
    if version not in ("2", "3"):
        raise ValueError(f"SNR estimator version 2 or 3, got {version!r}")
    power = power_spectrogram(audio_16k, WINDOW, HOP)
    if len(power) < DELAY_FRAMES + 3:
        return None
    total = float(power.mean(axis=0).sum())
    if total <= 0:
        return None
    local = smoothed(power, SMOOTH_FRAMES, SMOOTH_BINS)
    cells = float(SMOOTH_FRAMES * SMOOTH_BINS)
    if rt60_s:
        kept = 10.0 ** (-6.0 * DELAY_FRAMES * HOP / RATE / rt60_s)
        local = np.maximum(local[DELAY_FRAMES:] - kept * local[:-DELAY_FRAMES], 0.0) / (1.0 - kept)
        # a stationary noise keeps its mean through the subtraction but not its spread: (a - k b) / (1 - k)
        # of two independent readings has (1 + k^2) / (1 - k)^2 times the relative variance, so its low
        # quantile sits lower: version 2's bias correction takes the fewer equivalent cells (version 3
        # measures the spread after the subtraction, so it needs no such term)
        cells = round(cells * (1.0 - kept) ** 2 / (1.0 + kept**2), 2)
    if version == "3":
        noise = float(noise_floor_adaptive(local).sum())
    else:
        noise = float(noise_floor(local, QUANTILE, cells).sum())
    if noise <= 0:
        return SNR_RANGE_DB[1]
    snr = 10.0 * np.log10(max(total - noise, 1e-12 * total) / noise)
    return round(float(np.clip(snr, *SNR_RANGE_DB)), 2)
