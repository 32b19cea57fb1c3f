"""Pub-noise mixing: λ is the noise's weight, and the SNR follows from it (augment/mix.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augment.mix import (
    PEAK_LIMIT,
    draw_noise_weight,
    fit_length,
    mix_noise,
    rms,
    snr_db_for_weight,
    weight_for_snr_db,
)
from augment.noise import pink_noise, white_noise
from tests.augment.conftest import speech_like


def measured_snr_db(speech: np.ndarray, mixed: np.ndarray, noise_weight: float, peak_scale: float) -> float:
    """SNR recomputed from the output alone: the speech part is known, the rest is noise."""
    speech_part = (1.0 - noise_weight) * speech.astype(np.float64) * peak_scale
    noise_part = mixed.astype(np.float64) - speech_part
    return 20 * np.log10(rms(speech_part) / rms(noise_part))


@pytest.mark.parametrize("noise_weight", [0.01, 0.1, 0.25, 0.5, 0.65, 0.8])
def test_snr_of_the_mix_is_20_log10_of_one_minus_lambda_over_lambda(noise_weight: float) -> None:
    speech = speech_like(1.0)
    result = mix_noise(speech, pink_noise(2.0, seed=5), noise_weight, noise_offset=1234)
    expected = 20 * np.log10((1 - noise_weight) / noise_weight)
    assert measured_snr_db(speech, result.audio, noise_weight, result.peak_scale) == pytest.approx(expected, abs=0.05)
    assert result.snr_db == pytest.approx(expected, abs=0.01)
    assert result.noise_weight == noise_weight


def test_lambda_is_the_noise_weight_so_more_lambda_means_more_noise() -> None:
    speech, noise = speech_like(1.0), white_noise(1.0, seed=1)
    snrs = [mix_noise(speech, noise, w).snr_db for w in (0.01, 0.2, 0.5, 0.8)]
    assert snrs == sorted(snrs, reverse=True)
    assert snrs[0] > 39 and snrs[-1] < -11
    assert snr_db_for_weight(0.5) == 0.0


def test_weight_for_snr_inverts_snr_for_weight() -> None:
    for snr in (-12.0, 0.0, 6.0, 20.0, 39.0):
        assert snr_db_for_weight(weight_for_snr_db(snr)) == pytest.approx(snr)


def test_short_noise_loops_and_long_noise_is_cropped_from_the_offset() -> None:
    noise = np.arange(10, dtype=np.float32)
    looped, was_looped = fit_length(noise, 25, offset=7)
    assert was_looped and looped.size == 25
    assert list(looped[:5]) == [7, 8, 9, 0, 1]
    cropped, was_looped = fit_length(noise, 4, offset=3)
    assert not was_looped and list(cropped) == [3, 4, 5, 6]


def test_mix_has_the_speech_length_whatever_the_noise_length() -> None:
    speech = speech_like(1.0)
    for noise_s in (0.1, 1.0, 3.0):
        result = mix_noise(speech, white_noise(noise_s, seed=2), 0.3, noise_offset=999)
        assert result.audio.shape == speech.shape and result.audio.dtype == np.float32
        assert result.looped == (noise_s <= 1.0)  # an offset into an equal-length noise wraps


def test_loud_mix_is_scaled_below_full_scale_without_changing_the_snr() -> None:
    speech = speech_like(1.0) * 4.5  # peaks near full scale on its own
    result = mix_noise(speech, white_noise(1.0, seed=3), 0.6)
    assert np.max(np.abs(result.audio)) <= PEAK_LIMIT + 1e-6
    assert result.peak_scale < 1.0
    assert measured_snr_db(speech, result.audio, 0.6, result.peak_scale) == pytest.approx(
        snr_db_for_weight(0.6), abs=0.05
    )


def test_silent_speech_gets_noise_at_a_reference_level_not_nan() -> None:
    result = mix_noise(np.zeros(4800, dtype=np.float32), white_noise(0.2, seed=4), 0.3)
    assert np.all(np.isfinite(result.audio)) and rms(result.audio) > 0.001
    assert result.snr_db is None


def test_silent_noise_is_rejected() -> None:
    with pytest.raises(ValueError, match="silent"):
        mix_noise(speech_like(0.1), np.zeros(100, dtype=np.float32), 0.3)


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=50, deadline=None)
def test_drawn_lambda_stays_in_the_papers_range(seed: int) -> None:
    weight = draw_noise_weight(np.random.default_rng(seed))
    assert 0.01 <= weight <= 0.8
