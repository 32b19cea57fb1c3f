"""The generated noise bank and deterministic noise choice (augment/noise.py)."""

from __future__ import annotations

import numpy as np
import pytest

from augment.noise import (
    DEFAULT_LABELS,
    NoiseBank,
    babble,
    brown_noise,
    default_noise_bank,
    hum,
    pink_noise,
    rain,
    white_noise,
)
from schemas import SAMPLE_RATE
from tests.augment.conftest import speech_like


def spectral_slope_db_per_octave(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE)
    octaves = [(f, 2 * f) for f in (100, 200, 400, 800, 1600, 3200)]
    levels = [10 * np.log10(spectrum[(freqs >= lo) & (freqs < hi)].mean()) for lo, hi in octaves]
    return float(np.polyfit(np.arange(len(levels)), levels, 1)[0])


@pytest.mark.parametrize(("generator", "slope"), [(white_noise, 0.0), (pink_noise, -3.0), (brown_noise, -6.0)])
def test_coloured_noises_have_their_spectral_slope(generator, slope: float) -> None:
    assert spectral_slope_db_per_octave(generator(2.0, seed=1)) == pytest.approx(slope, abs=0.7)


def test_hum_peaks_at_the_mains_frequency() -> None:
    audio = hum(1.0, seed=0, mains_hz=50.0)
    peak_hz = np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE)[np.argmax(np.abs(np.fft.rfft(audio)))]
    assert peak_hz == pytest.approx(50.0, abs=1.0)


def test_rain_is_impulsive() -> None:
    audio = rain(1.0, seed=0).astype(np.float64)
    kurtosis = np.mean(audio**4) / np.mean(audio**2) ** 2
    assert kurtosis > 4.0  # Gaussian noise has 3


def test_babble_mixes_the_given_speech_and_needs_some() -> None:
    talkers = [speech_like(0.5, seed=s) for s in range(3)]
    audio = babble(talkers, 1.0, seed=0)
    assert audio.size == SAMPLE_RATE and np.std(audio) > 0.05
    with pytest.raises(ValueError):
        babble([], 1.0, seed=0)


def test_generators_are_pure_functions_of_their_seed() -> None:
    assert np.array_equal(pink_noise(0.5, 3), pink_noise(0.5, 3))
    assert not np.array_equal(pink_noise(0.5, 3), pink_noise(0.5, 4))


def test_default_bank_has_one_labelled_float32_clip_per_kind() -> None:
    bank = default_noise_bank([speech_like(0.5)], seed=0, duration_s=1.0)
    assert bank.labels == list(DEFAULT_LABELS)
    for _, audio in bank.entries:
        assert audio.dtype == np.float32 and audio.size == SAMPLE_RATE
        assert np.sqrt(np.mean(audio**2)) == pytest.approx(0.1, rel=0.01)


def test_noise_choice_is_deterministic_by_key_and_uses_the_whole_bank(small_bank: NoiseBank) -> None:
    assert small_bank.choose("a-key")[0] == small_bank.choose("a-key")[0]
    chosen = {small_bank.choose(f"key{i}")[1] for i in range(60)}
    assert chosen == set(small_bank.labels)


def test_bank_rejects_empty_or_unlabelled_noise() -> None:
    with pytest.raises(ValueError):
        NoiseBank(entries=())
    with pytest.raises(ValueError):
        NoiseBank(entries=((" ", np.ones(10, dtype=np.float32)),))
