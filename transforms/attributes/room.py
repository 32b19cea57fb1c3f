"""Reverberation: a blind RT60 estimate, the maximum-likelihood decay rate of short windows of speech
(after Ratnam et al., "Blind estimation of reverberation time", JASA 2003, and Löllmann et al.,
"An improved algorithm for blind reverberation time estimation", IWAENC 2010).

Speech stops abruptly many times a second, and after each stop the room's reverberant tail decays
at the room's rate and no faster. In a window where the sound decays, its energy is modelled as
``a^2 10^(-6 t / T)`` times a random (chi-squared) fluctuation; the ``T`` that makes the observed
energies most likely is that window's decay time. Steps:

1. the 16 kHz clip with its stationary noise floor subtracted
   (:func:`transforms.attributes.spectral.denoise`: noise flattens the decays' ends), at 8 kHz,
   band-passed to 0.5..3.8 kHz (4th-order Butterworth);
2. its energy in 2 ms blocks; windows of :data:`WINDOW_S` every :data:`HOP_S`, those within
   :data:`LOUDNESS_DB` of the loudest window and whose energy falls from each of their
   :data:`FALLING_SUBFRAMES` sub-frames to the next (Löllmann's pre-selection: a window over ongoing
   speech that rises and falls reads as a slow decay and is not one);
3. per window, the log-likelihood ``-log(mean(e(t) 10^(6 t/T))) + 6 ln(10) mean(t) / T`` (the
   amplitude maximised out) over a grid of :data:`GRID_POINTS` times from 0.08 to 3 s; its
   maximiser is the window's time (windows at the grid's ends are left out);
4. the reading is their :data:`QUANTILE` quantile, from at least :data:`MIN_WINDOWS` windows; the
   RT60 is the reading with dry speech's own decays (:data:`SPEECH_DECAY_S`) taken out in quadrature;
5. (version 5) the evidence: the separate decays the windows cover (:func:`separate_decays`), the
   falling windows, the reading's ~68 % interval; from fewer than :data:`MIN_DECAYS` separate decays
   the RT60 is unmeasured (None, with the reason: :data:`FEW_DECAYS`, :data:`NO_DECAYS`);
6. (version 6) a decay of something: the deepest of those decays must fall by :data:`MIN_FALL_DB`
   (:func:`decay_falls`), else the RT60 is unmeasured (:data:`SHALLOW_DECAYS`): stationary noise,
   its floor subtracted, still dips by chance, in short shallow runs of falling windows that pass
   as decays (white, pink and brown noise alone read 1.2..1.9 s from 5..21 of them), and none of
   those dips falls as far as a sound that stops.

The fluctuation of a short window's energy (a reverberant tail fades in and out) spreads the
windows' times on both sides of the room's, more the longer the room: version 3's 10 % quantile of
every loud window read rooms above 0.8 s at ~0.67 of their RT60. Falling windows only and their
30 % quantile read rooms at 0.91..0.95 of their RT60 (median) and rank them as well or better.

Validated on the controlled demo (``bench/attributes.py``; the settings chosen on seeds 0, 1 and 3,
checked on 2, 4 and 5): Spearman rho 0.913 / 0.898 / 0.873 on the tuning seeds (version 3: 0.917 /
0.899 / 0.819), 0.918 / 0.819 / 0.914 held out (version 3: 0.880 / 0.810 / 0.890); the room word
right in 89 / 87 / 88 % and 86 / 95 / 87 % of the samples (version 3: 88 / 90 / 87 % and 81 / 92 /
91 %). A short clip (< 2 s, few falling windows) still misranks, both ways, and which language ranks
worst changes from seed to seed. Version 5 (the threshold chosen on seeds 0, 1, 3) leaves such clips
unmeasured: tuning rho 0.942 / 0.910 / 0.901 over 95 / 98 / 92 % of the reverberant samples, held out
0.917 / 0.860 / 0.910 over 99 / 92 / 93 % (pooled 0.894 -> 0.906 at 94.7 %); real speech unchanged
(0.944 / 0.960, every clip measured). See ``docs/attributes.md``, "RT60 v5: evidence". Version 6's
figures: ``docs/attributes.md``, "RT60 v6: a decay of something".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

RATE = 16_000
METHOD = "ml-decay-rt60"
VERSION = "6"
"""6: version 5's, and no reading (``unmeasured``) where no decay falls by :data:`MIN_FALL_DB`; 5: version 4's reading, and no reading (``unmeasured``) from fewer than :data:`MIN_DECAYS` separate
decays; 4: only windows whose energy falls from sub-frame to sub-frame, 0.12 s, 30 % quantile (3: every loud
0.1 s window, 10 % quantile; 2: free decays after the noise floor; 1: free decays)."""
ANALYSIS_RATE = 8_000
BAND_HZ = (500.0, 3_800.0)
BLOCK = 16
WINDOW_S = 0.12
HOP_S = 0.02
LOUDNESS_DB = 30.0
FALLING_SUBFRAMES = 3
GRID_S = (0.08, 3.0)
GRID_POINTS = 40
QUANTILE = 0.3
SPEECH_DECAY_S = 0.25
"""What dry speech reads on its own (the median over the demo's dry clips at seeds 0, 1 and 3: 0.25..0.30 s):
taken out of the reading in quadrature (``sqrt(max(T^2 - 0.25^2, 0))``), which keeps the ranking."""
MIN_WINDOWS = 3
"""The fewest windows any quantile is read from (also :func:`transforms.attributes.snr.reverb_rt60`'s)."""
DECAY_WINDOWS = 2
"""A decay is a run of at least this many overlapping falling windows (the energy falls for 0.14 s or more)."""
MIN_DECAYS = 4
"""The evidence an RT60 needs: this many separate decays (runs of falling windows, :func:`separate_decays`),
chosen on the demo's tuning seeds 0, 1 and 3 (``docs/attributes.md``, "RT60 v5: evidence"); 0 reads
every clip with :data:`MIN_WINDOWS` windows, as version 4 did."""
INTERVAL_SIGMAS = 1.0
"""The reading's interval: the order statistics this many binomial standard deviations either side of
the quantile's rank (distribution-free, ~68 %), as RT60s."""
MIN_FALL_DB = 10.5
"""A decay of something: the deepest separate decay of a measured clip falls by at least this much (dB,
:func:`decay_falls`). Stationary noise, its floor subtracted, dips by chance by at most 10.3 dB (78
white, pink and brown clips of 3..10 s; brown, the fewest degrees of freedom in the band, the deepest); a
speech offset's decays fall by a median 11..12 dB in the demo's rooms (25 dB dry). The smallest value at
which none of those noise clips is measured (``docs/attributes.md``, "RT60 v6: a decay of something")."""
NO_DECAYS, FEW_DECAYS, SHALLOW_DECAYS = "no_decays", "few_decays", "shallow_decays"
"""Why an RT60 is unmeasured: no decay at all (silence, a clip shorter than a window, a steady sound),
fewer than :data:`MIN_DECAYS` separate decays, or none of them falls by :data:`MIN_FALL_DB` (chance dips
of a stationary noise)."""


@dataclass(frozen=True)
class ReverbEstimate:
    """The RT60 and the evidence it rests on. ``rt60_s`` is None (``unmeasured`` says why:
    :data:`NO_DECAYS`, :data:`FEW_DECAYS`, :data:`SHALLOW_DECAYS`) when fewer than :data:`MIN_DECAYS`
    separate decays (or :data:`MIN_WINDOWS` windows) give a decay time or none falls by :data:`MIN_FALL_DB`;
    ``decays`` counts the separate decays, ``windows`` the falling windows read, ``interval_s`` the
    reading's ~68 % interval (None under 3 windows), ``fall_db`` the deepest decay's fall (None when
    not known)."""

    rt60_s: float | None
    decays: int
    method: str = METHOD
    windows: int = 0
    interval_s: tuple[float, float] | None = None
    unmeasured: str | None = None
    fall_db: float | None = None


@cache
def _grid(window_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decay times tried, the blocks' times in a window (s) and the undecay matrix (blocks x times)."""
    times = np.geomspace(*GRID_S, GRID_POINTS)
    t = np.arange(int(round(window_s * ANALYSIS_RATE / BLOCK))) * BLOCK / ANALYSIS_RATE
    return times, t, 10.0 ** (6.0 * t[:, None] / times[None, :])


def block_energies(audio_16k: np.ndarray) -> np.ndarray:
    """The clip's 0.5..3.8 kHz energy in 2 ms blocks, its noise floor subtracted first."""
    import soxr
    from scipy.signal import butter, sosfilt

    from transforms.attributes.spectral import denoise

    x = soxr.resample(denoise(audio_16k, RATE), RATE, ANALYSIS_RATE)
    x = sosfilt(butter(4, BAND_HZ, btype="band", fs=ANALYSIS_RATE, output="sos"), x)
    usable = x.size // BLOCK * BLOCK
    return (x[:usable].astype(np.float64) ** 2).reshape(-1, BLOCK).mean(axis=1)


def window_decay_times(
    energies: np.ndarray, window_s: float = WINDOW_S, falling: int = FALLING_SUBFRAMES
) -> np.ndarray:
    """The maximum-likelihood decay time (s) of each loud-enough window of ``window_s`` whose energy
    falls from each of its ``falling`` sub-frames to the next (0: every loud window); windows at the
    grid's ends left out."""
    return window_decays(energies, window_s, falling)[0]


def window_decays(
    energies: np.ndarray, window_s: float = WINDOW_S, falling: int = FALLING_SUBFRAMES
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`window_decay_times` and each window's index (in hops of :data:`HOP_S`)."""
    times, t, undecay = _grid(window_s)
    hop = int(HOP_S * ANALYSIS_RATE / BLOCK)
    if energies.size < t.size:
        return np.zeros(0), np.zeros(0, dtype=int)
    windows = np.lib.stride_tricks.sliding_window_view(energies, t.size)[::hop]
    level = windows.mean(axis=1)
    loud = level > level.max() * 10.0 ** (-LOUDNESS_DB / 10.0)
    if falling > 1:
        span = t.size // falling * falling
        parts = windows[:, :span].reshape(len(windows), falling, -1).mean(axis=2)
        loud &= np.all(np.diff(parts, axis=1) < 0, axis=1)
    likelihood = -np.log(windows[loud] @ undecay / t.size + 1e-30) + 6.0 * np.log(10.0) * t.mean() / times
    best = np.argmax(likelihood, axis=1)
    inside = (best > 0) & (best < times.size - 1)
    return times[best[inside]], np.flatnonzero(loud)[inside]


def clip_energies(audio_16k: np.ndarray) -> np.ndarray | None:
    """:func:`block_energies` of a 16 kHz clip; None for a silent clip or one shorter than a window."""
    audio = np.asarray(audio_16k, dtype=np.float32)
    if audio.size < int(WINDOW_S * RATE) or not np.any(audio):
        return None
    return block_energies(audio)


def decays(energies: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`window_decays` of :func:`clip_energies` (none when the clip had no energies)."""
    return (np.zeros(0), np.zeros(0, dtype=int)) if energies is None else window_decays(energies)


def decay_runs(starts: np.ndarray, window_s: float = WINDOW_S, min_run: int = DECAY_WINDOWS) -> list[np.ndarray]:
    """The separate decays the falling windows starting at ``starts`` (hops) cover, each as its windows'
    starts (sorted): windows that overlap (start less than a window apart) read the same decay, and a
    decay counts when at least ``min_run`` of its windows fall (a lone falling window is as likely a
    fluctuation of ongoing sound or noise: stationary noise has some)."""
    if len(starts) == 0:
        return []
    ordered = np.sort(np.asarray(starts))
    breaks = np.flatnonzero(np.diff(ordered) >= int(round(window_s / HOP_S)))
    return [run for run in np.split(ordered, breaks + 1) if run.size >= min_run]


def separate_decays(starts: np.ndarray, window_s: float = WINDOW_S, min_run: int = DECAY_WINDOWS) -> int:
    """How many separate decays (:func:`decay_runs`) the falling windows starting at ``starts`` cover."""
    return len(decay_runs(starts, window_s, min_run))


def decay_falls(
    energies: np.ndarray | None, starts: np.ndarray, window_s: float = WINDOW_S, falling: int = FALLING_SUBFRAMES
) -> np.ndarray:
    """How far (dB) each separate decay (:func:`decay_runs`) falls: from the energy of its first window's
    first sub-frame to that of its last window's last sub-frame (``energies``: :func:`clip_energies`)."""
    runs = decay_runs(starts, window_s)
    if energies is None or not runs:
        return np.zeros(0)
    size = int(round(window_s * ANALYSIS_RATE / BLOCK))
    hop, sub = int(HOP_S * ANALYSIS_RATE / BLOCK), size // falling
    first = np.array([energies[run[0] * hop : run[0] * hop + sub].mean() for run in runs])
    last = np.array([energies[run[-1] * hop + size - sub : run[-1] * hop + size].mean() for run in runs])
    return 10.0 * np.log10(np.maximum(first, 1e-30) / np.maximum(last, 1e-30))


def _rt60(reading: float) -> float:
    return round(float(np.sqrt(max(reading**2 - SPEECH_DECAY_S**2, 0.0))), 3)


def rt60_of(
    times: np.ndarray,
    quantile: float = QUANTILE,
    starts: np.ndarray | None = None,
    min_decays: int = MIN_DECAYS,
    falls_db: np.ndarray | None = None,
    min_fall_db: float = MIN_FALL_DB,
) -> ReverbEstimate:
    """The RT60 from a clip's window decay times (``quantile`` of them) and the evidence it rests on.
    ``starts``: the windows' indices (:func:`window_decays`), which count the separate decays (without
    them each window counts as one); under ``min_decays`` of them (or :data:`MIN_WINDOWS` windows) the
    RT60 is unmeasured, with the reason. ``falls_db``: the decays' falls (:func:`decay_falls`); where
    given and ``min_decays`` > 0, the RT60 is unmeasured (:data:`SHALLOW_DECAYS`) when none falls by
    ``min_fall_db`` (``min_decays`` 0: version 4's reading, neither rule)."""
    n = len(times)
    deepest = float(np.max(falls_db)) if falls_db is not None and len(falls_db) else None
    fall = None if deepest is None else round(deepest, 1)
    count = separate_decays(starts) if starts is not None else n
    interval = None
    if n >= MIN_WINDOWS:
        ordered = np.sort(times)
        half = INTERVAL_SIGMAS * np.sqrt(n * quantile * (1.0 - quantile))
        lo, hi = (int(np.clip(f(n * quantile + d), 0, n - 1)) for f, d in ((np.floor, -half), (np.ceil, half)))
        interval = (_rt60(float(ordered[lo])), _rt60(float(ordered[hi])))
    if n == 0 or count == 0:
        return ReverbEstimate(None, 0, windows=n, interval_s=interval, unmeasured=NO_DECAYS, fall_db=fall)
    if n < MIN_WINDOWS or count < min_decays:
        return ReverbEstimate(None, count, windows=n, interval_s=interval, unmeasured=FEW_DECAYS, fall_db=fall)
    if min_decays > 0 and falls_db is not None and (deepest is None or deepest < min_fall_db):
        return ReverbEstimate(None, count, windows=n, interval_s=interval, unmeasured=SHALLOW_DECAYS, fall_db=fall)
    rt60 = _rt60(float(np.quantile(times, quantile)))
    return ReverbEstimate(rt60, count, windows=n, interval_s=interval, fall_db=fall)


def rt60_from_energies(
    energies: np.ndarray | None, quantile: float = QUANTILE, min_decays: int = MIN_DECAYS
) -> ReverbEstimate:
    """The RT60 and its evidence from a clip's :func:`clip_energies` (the one place the windows' decay
    times, the separate decays and their falls meet :func:`rt60_of`)."""
    times, starts = decays(energies)
    return rt60_of(times, quantile, starts, min_decays, decay_falls(energies, starts))


def estimate_rt60(audio_16k: np.ndarray, quantile: float = QUANTILE, min_decays: int = MIN_DECAYS) -> ReverbEstimate:
    """The blind RT60 (s) of a 16 kHz speech clip (``quantile``: of its falling windows' decay times), or
    none, with the reason, where it has fewer than ``min_decays`` separate decays or none falls by
    :data:`MIN_FALL_DB`."""
    return rt60_from_energies(clip_energies(audio_16k), quantile, min_decays)
