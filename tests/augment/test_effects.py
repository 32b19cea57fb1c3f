"""Effects: seeded, replayable from their recorded parameters, and doing what they say (augment/effects.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from augment import effects
from schemas import SAMPLE_RATE
from tests.augment.conftest import speech_like


def sine(freq_hz: float, duration_s: float = 0.5, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def band_energy(audio: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE)
    return float(spectrum[(freqs >= low) & (freqs <= high)].sum())


@pytest.mark.parametrize("name", sorted(effects.EFFECTS))
def test_each_effect_is_replayable_from_its_json_params(name: str) -> None:
    audio = speech_like(0.5)
    params = effects.draw_params(name, np.random.default_rng(7), audio)
    replayed_params = json.loads(json.dumps(params))
    first = effects.apply_effect(name, audio, params)
    again = effects.apply_effect(name, audio, replayed_params)
    assert np.array_equal(first, again)
    assert first.shape == audio.shape and first.dtype == np.float32
    assert np.all(np.isfinite(first)) and np.max(np.abs(first)) <= 1.0
    assert not np.allclose(first, audio)


@pytest.mark.parametrize("name", sorted(effects.EFFECTS))
def test_same_seed_draws_same_params(name: str) -> None:
    audio = speech_like(0.5)
    assert effects.draw_params(name, np.random.default_rng(3), audio) == effects.draw_params(
        name, np.random.default_rng(3), audio
    )


def test_synthetic_rir_decays_by_about_60_db_over_rt60() -> None:
    rt60 = 0.5
    rir = effects.synthetic_rir(rt60, seed=1).astype(np.float64)
    window = int(0.02 * SAMPLE_RATE)
    early = np.mean(rir[window : 2 * window] ** 2)
    half = int(rt60 / 2 * SAMPLE_RATE)
    middle = np.mean(rir[half : half + window] ** 2)
    # between 0.03 s and 0.25 s the tail should fall by 60 dB * (0.22 / 0.5) ≈ 26 dB
    assert 10 * np.log10(early / middle) == pytest.approx(60 * (half - window * 1.5) / SAMPLE_RATE / rt60, abs=4)


def test_reverb_spreads_an_impulse_into_a_tail_and_keeps_the_level() -> None:
    impulse = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    impulse[100] = 0.5
    wet = effects.reverb(impulse, rt60_s=0.4, wet=0.8, rir_seed=3)
    assert np.sum(np.abs(wet[2000:]) > 1e-4) > 1000
    signal = speech_like(0.5)
    assert np.sqrt(np.mean(effects.reverb(signal, 0.6, 0.5, 1) ** 2)) == pytest.approx(
        np.sqrt(np.mean(signal**2)), rel=0.02
    )


def test_clip_flattens_the_peaks_and_keeps_the_peak_level() -> None:
    audio = sine(200)
    clipped = effects.clip(audio, threshold=0.25)
    assert np.max(np.abs(clipped)) == pytest.approx(np.max(np.abs(audio)), rel=1e-5)
    assert np.mean(np.isclose(np.abs(clipped), np.max(np.abs(clipped)))) > 0.5


def test_time_mask_silences_exactly_its_spans() -> None:
    audio = sine(300)
    masked = effects.time_mask(audio, [[0.1, 0.05]])
    start, stop = int(0.1 * SAMPLE_RATE), int(0.15 * SAMPLE_RATE)
    assert np.all(masked[start:stop] == 0)
    assert np.array_equal(masked[:start], audio[:start]) and np.array_equal(masked[stop:], audio[stop:])


def test_frequency_mask_removes_its_band_and_keeps_the_rest() -> None:
    audio = sine(1000) + sine(3000)
    masked = effects.frequency_mask(audio, [[900.0, 1100.0]])
    assert band_energy(masked, 950, 1050) < 1e-6 * band_energy(audio, 950, 1050)
    assert band_energy(masked, 2950, 3050) == pytest.approx(band_energy(audio, 2950, 3050), rel=1e-3)


def test_pitch_up_an_octave_doubles_the_frequency_and_keeps_the_duration() -> None:
    audio = sine(440, duration_s=0.5)
    shifted = effects.pitch(audio, semitones=12.0)
    spectrum = np.abs(np.fft.rfft(shifted[2048:-2048]))
    peak_hz = np.fft.rfftfreq(shifted.size - 4096, 1 / SAMPLE_RATE)[np.argmax(spectrum)]
    assert shifted.size == audio.size
    assert peak_hz == pytest.approx(880, abs=10)


def test_gain_scales_in_decibels_and_drawn_gain_never_clips() -> None:
    audio = sine(200, amplitude=0.25)
    assert np.max(np.abs(effects.gain(audio, 6.0206))) == pytest.approx(0.5, rel=1e-3)
    loud = sine(200, amplitude=0.9)
    capped = effects.safe_gain_db(loud, 6.0)
    assert capped < 1.0 and np.max(np.abs(effects.gain(loud, capped))) <= 1.0


def test_unknown_effect_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown effect"):
        effects.apply_effect("chorus", sine(100), {})
