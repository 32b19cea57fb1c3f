"""Pitch estimation against espeak-ng speech held at a known, flat pitch."""

from __future__ import annotations

import numpy as np
import pytest

from transforms.attributes.pitch import estimate_pitch, fold_octaves, summarize
from transforms.tts.engine import ESPEAK_SAMPLE_RATE, Style
from transforms.tts.server import SynthesisClient

TEXT = "The quick brown fox jumps over the lazy dog."


def _monotone(variant: str, pitch: int) -> np.ndarray:
    raw, _ = SynthesisClient.call((TEXT, f"en+{variant}", Style("flat", 165, pitch, 0, 100)))
    return raw.astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def low_and_high() -> tuple[np.ndarray, np.ndarray]:
    return _monotone("m1", 40), _monotone("f2", 70)


@pytest.mark.parametrize("method", ["yin", "pyin", "crepe"])
def test_every_method_find_the_flat_voice_pitch_within_two_percent(low_and_high, method):
    low = estimate_pitch(low_and_high[0], ESPEAK_SAMPLE_RATE, method=method)
    high = estimate_pitch(low_and_high[1], ESPEAK_SAMPLE_RATE, method=method)
    # espeak-ng's m1 at pitch 40 speaks at 73.6 Hz and f2 at pitch 70 at 213 Hz (the methods agree)
    assert low.median_hz == pytest.approx(73.6, rel=0.02)
    assert high.median_hz == pytest.approx(213.1, rel=0.02)
    assert low.spread_semitones < 1.0 and high.spread_semitones < 1.0
    assert low.method == method and 0.3 < high.voiced_share <= 1.0


@pytest.mark.parametrize("method", ["yin", "pyin"])
def test_a_low_male_voice_is_voiced_in_any_sentence_and_noise_is_not(method):
    sentence = "The children play outside while the old dog sleeps under the tree."
    raw, _ = SynthesisClient.call((sentence, "en+m1", Style("flat", 200, 40, 0, 100)))
    low = estimate_pitch(raw.astype(np.float32) / 32768.0, ESPEAK_SAMPLE_RATE, method)  # pYIN's default prior: none
    # yin's voicing is stricter (aperiodicity < 0.35): ~0.23 of these frames against pYIN's ~0.8
    assert low.median_hz == pytest.approx(73.6, rel=0.02) and low.voiced_share > (0.5 if method == "pyin" else 0.2)
    noise = 0.1 * np.random.default_rng(0).standard_normal(16_000).astype(np.float32)
    assert estimate_pitch(noise, 16_000, method).median_hz is None


def test_silence_has_no_pitch():
    estimate = estimate_pitch(np.zeros(22_050, dtype=np.float32), 22_050)
    assert estimate.median_hz is None and estimate.spread_semitones is None and estimate.voiced_share == 0.0


def test_spread_is_the_robust_semitone_deviation_and_ignores_an_octave_error():
    f0 = np.array([100.0, 100.0 * 2 ** (1 / 12), 100.0 * 2 ** (-1 / 12), 100.0, 200.0])
    estimate = summarize(f0, np.ones(5, dtype=bool), "pyin")
    assert estimate.median_hz == 100.0
    assert estimate.spread_semitones == pytest.approx(1.4826, abs=1e-3)


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown pitch method"):
        estimate_pitch(np.ones(100, dtype=np.float32), 16_000, method="swipe")


def _under(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    from augment.mix import mix_noise, weight_for_snr_db

    return mix_noise(speech, noise, weight_for_snr_db(snr_db)).audio


def test_yin_reads_a_high_voice_under_mains_hum_not_the_hum(low_and_high):
    from augment.noise import hum

    # at 4 dB SNR a 60 Hz hum wins pYIN's track (70 Hz for this 213 Hz voice; 61 Hz at 0 dB): yin subtracts
    # the stationary floor first
    noisy = _under(low_and_high[1], hum(4.0, 1, ESPEAK_SAMPLE_RATE, mains_hz=60.0), 4.0)
    assert estimate_pitch(noisy, ESPEAK_SAMPLE_RATE, "yin").median_hz == pytest.approx(213.1, rel=0.04)


def test_yin_finds_a_low_voice_in_white_noise_at_0_db(low_and_high):
    from augment.noise import white_noise

    noisy = _under(low_and_high[0], white_noise(4.0, 2, ESPEAK_SAMPLE_RATE), 0.0)  # pYIN: no voiced frame
    assert estimate_pitch(noisy, ESPEAK_SAMPLE_RATE, "yin").median_hz == pytest.approx(73.6, rel=0.04)


def test_octave_folding_moves_frames_to_the_octave_of_the_most_periodic_frames():
    f0 = np.array([100.0, 101.0, 99.0, 50.0, 200.0, 400.0])
    aperiodicity = np.array([0.05, 0.05, 0.06, 0.3, 0.3, 0.3])
    assert np.allclose(fold_octaves(f0, aperiodicity), [100.0, 101.0, 99.0, 100.0, 100.0, 100.0])
