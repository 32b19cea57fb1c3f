"""Traditional audio augmentations: reverb, clipping, time/frequency masking, pitch, gain.

Paper §III-A2 ("adding reverb, clipping, masking, pitch modulation ... layered on top of the
original audio signals"). Each effect is two pure functions:

- ``draw_<effect>(rng, duration_s)`` draws its parameters from a seeded generator, and
- ``<effect>(audio, sample_rate=..., **params)`` applies exactly those parameters.

The parameters are plain JSON values recorded in the sample's ``augmentations``, so
``apply_effect(name, audio, params)`` redoes an augmentation bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from schemas import SAMPLE_RATE


def _fftconvolve(*args: Any, **kwargs: Any) -> np.ndarray:
    from scipy.signal import fftconvolve  # scipy.signal is slow to import: only when reverb runs

    return fftconvolve(*args, **kwargs)


PEAK_LIMIT = 0.999


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


# -- reverb ---------------------------------------------------------------------------------


def synthetic_rir(rt60_s: float, seed: int, sample_rate: int = SAMPLE_RATE, pre_delay_s: float = 0.005) -> np.ndarray:
    """A synthetic room impulse response: a direct path, then exponentially decaying noise.

    The envelope falls by 60 dB over ``rt60_s`` (amplitude e^(−6.91·t/RT60)); the response
    lasts one RT60 and is normalised to unit energy.
    """
    if rt60_s <= 0:
        raise ValueError("rt60_s must be positive")
    rng = np.random.default_rng(seed)
    length = max(2, int(rt60_s * sample_rate))
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.908 * t / rt60_s)
    delay = int(pre_delay_s * sample_rate)
    rir = np.zeros(length + delay)
    rir[0] = 1.0
    rir[delay:] += 0.5 * tail
    return (rir / np.sqrt(np.sum(rir**2))).astype(np.float32)


def reverb(audio: np.ndarray, rt60_s: float, wet: float, rir_seed: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Convolve with a synthetic RIR (FFT convolution), blend ``wet`` into the dry signal, keep the RMS."""
    rir = synthetic_rir(rt60_s, rir_seed, sample_rate)
    reverberant = _fftconvolve(audio.astype(np.float64), rir.astype(np.float64))[: audio.size]
    out = (1.0 - wet) * audio + wet * reverberant
    level = _rms(out)
    if level > 0:
        out = out * (_rms(audio) / level)
    return _limit(out)


def draw_reverb(rng: np.random.Generator, duration_s: float) -> dict[str, Any]:
    return {
        "rt60_s": round(float(rng.uniform(0.2, 1.2)), 3),
        "wet": round(float(rng.uniform(0.3, 0.9)), 3),
        "rir_seed": int(rng.integers(0, 2**31 - 1)),
    }


# -- clipping -------------------------------------------------------------------------------


def clip(audio: np.ndarray, threshold: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Hard-clip at ``threshold`` × the signal's peak, then bring the peak back to where it was."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return audio.astype(np.float32)
    limit = threshold * peak
    return (np.clip(audio, -limit, limit) / threshold).astype(np.float32)


def draw_clip(rng: np.random.Generator, duration_s: float) -> dict[str, Any]:
    return {"threshold": round(float(rng.uniform(0.1, 0.5)), 3)}


# -- masking --------------------------------------------------------------------------------


def time_mask(audio: np.ndarray, spans_s: list[list[float]], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Silence each ``[start_s, duration_s]`` span (SpecAugment-style time masking on the waveform)."""
    out = audio.astype(np.float32, copy=True)
    for start_s, duration_s in spans_s:
        start = int(round(start_s * sample_rate))
        out[start : start + int(round(duration_s * sample_rate))] = 0.0
    return out


def draw_time_mask(rng: np.random.Generator, duration_s: float) -> dict[str, Any]:
    spans = []
    for _ in range(int(rng.integers(1, 4))):
        length = float(rng.uniform(0.02, 0.1)) * duration_s
        start = float(rng.uniform(0.0, max(0.0, duration_s - length)))
        spans.append([round(start, 4), round(length, 4)])
    return {"spans_s": sorted(spans)}


def frequency_mask(audio: np.ndarray, bands_hz: list[list[float]], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Remove each ``[low_hz, high_hz]`` band (a band-stop in the FFT of the whole signal)."""
    if audio.size == 0:
        return audio.astype(np.float32)
    spectrum = np.fft.rfft(audio.astype(np.float64))
    freqs = np.fft.rfftfreq(audio.size, 1.0 / sample_rate)
    for low, high in bands_hz:
        spectrum[(freqs >= low) & (freqs <= high)] = 0.0
    return np.fft.irfft(spectrum, n=audio.size).astype(np.float32)


def draw_frequency_mask(rng: np.random.Generator, duration_s: float) -> dict[str, Any]:
    bands = []
    for _ in range(int(rng.integers(1, 3))):
        # mel-ish: pick the centre on a log scale between 100 Hz and 8 kHz
        centre = float(np.exp(rng.uniform(np.log(100.0), np.log(8000.0))))
        width = centre * float(rng.uniform(0.1, 0.4))
        bands.append([round(centre - width / 2, 1), round(centre + width / 2, 1)])
    return {"bands_hz": sorted(bands)}


def mask(
    audio: np.ndarray, spans_s: list[list[float]], bands_hz: list[list[float]], sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Time masking then frequency masking."""
    return frequency_mask(time_mask(audio, spans_s, sample_rate), bands_hz, sample_rate)


def draw_mask(rng: np.random.Generator, duration_s: float) -> dict[str, Any]:
    return {**draw_time_mask(rng, duration_s), **draw_frequency_mask(rng, duration_s)}


# -- pitch ----------------------------------------------------------------------------------


def pitch(audio: np.ndarray, semitones: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Shift the pitch by ``semitones`` keeping the duration (librosa's phase vocoder + soxr)."""
    import librosa  # slow to import: only workers that pitch-shift pay for it

    shifted = librosa.effects.pitch_shift(
        audio.astype(np.float32), sr=sample_rate, n_steps=float(semitones), res_type="soxr_hq"
    )
    return _limit(shifted[: audio.size])


def draw_pitch(rng: np.random.Generator, duration_s: float) -> dict[str, Any]:
    semitones = float(rng.uniform(1.0, 4.0)) * (1 if rng.random() < 0.5 else -1)
    return {"semitones": round(semitones, 2)}


# -- gain -----------------------------------------------------------------------------------


def gain(audio: np.ndarray, gain_db: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Scale by ``gain_db`` decibels (the caller records the gain actually applied: see ``safe_gain_db``)."""
    return (audio * 10.0 ** (gain_db / 20.0)).astype(np.float32)


def safe_gain_db(audio: np.ndarray, gain_db: float) -> float:
    """``gain_db`` lowered if needed so the peak stays below full scale."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 0:
        return gain_db
    headroom_db = 20.0 * np.log10(PEAK_LIMIT / peak)
    return round(float(min(gain_db, headroom_db)), 3)


def draw_gain(rng: np.random.Generator, duration_s: float) -> dict[str, Any]:
    return {"gain_db": round(float(rng.uniform(-18.0, 6.0)), 2)}


def _limit(audio: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > PEAK_LIMIT:
        audio = audio * (PEAK_LIMIT / peak)
    return np.asarray(audio, dtype=np.float32)


Effect = Callable[..., np.ndarray]
Drawer = Callable[[np.random.Generator, float], dict[str, Any]]

EFFECTS: dict[str, tuple[Drawer, Effect]] = {
    "pitch": (draw_pitch, pitch),
    "gain": (draw_gain, gain),
    "reverb": (draw_reverb, reverb),
    "mask": (draw_mask, mask),
    "clip": (draw_clip, clip),
}
"""Effect name → (parameter drawer, effect); in the order they are layered (voice, level,
room, then transmission damage). Noise goes between ``reverb`` and ``mask`` (see stage.py)."""


def draw_params(
    name: str, rng: np.random.Generator, audio: np.ndarray, sample_rate: int = SAMPLE_RATE
) -> dict[str, Any]:
    """Draw the parameters of effect ``name`` for ``audio`` (gain is capped to avoid clipping)."""
    drawer, _ = EFFECTS[name]
    params = drawer(rng, audio.size / sample_rate)
    if name == "gain":
        params["gain_db"] = safe_gain_db(audio, params["gain_db"])
    return params


def apply_effect(name: str, audio: np.ndarray, params: dict[str, Any], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Apply effect ``name`` with recorded ``params``."""
    if name not in EFFECTS:
        raise ValueError(f"unknown effect {name!r}; expected one of {sorted(EFFECTS)}")
    return EFFECTS[name][1](np.asarray(audio, dtype=np.float32), sample_rate=sample_rate, **params)
