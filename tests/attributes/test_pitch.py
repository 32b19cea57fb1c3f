"""Pitch estimation against espeak-ng speech held at a known, flat pitch."""

from __future__ import annotations

import numpy as np
import pytest

from transforms.attributes.pitch import estimate_pitch, summarize
from transforms.tts.engine import ESPEAK_SAMPLE_RATE, Style
from transforms.tts.server import SynthesisClient

TEXT = "The quick brown fox jumps over the lazy dog."


def _monotone(variant: str, pitch: int) -> np.ndarray:
    raw, _ = SynthesisClient.call((TEXT, f"en+{variant}", Style("flat", 165, pitch, 0, 100)))
    return raw.astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def low_and_high() -> tuple[np.ndarray, np.ndarray]:
    return _monotone("m1", 40), _monotone("f2", 70)


@pytest.mark.parametrize("method", ["pyin", "crepe"])
def test_both_methods_find_the_flat_voice_pitch_within_two_percent(low_and_high, method):
    low = estimate_pitch(low_and_high[0], ESPEAK_SAMPLE_RATE, method=method)
    high = estimate_pitch(low_and_high[1], ESPEAK_SAMPLE_RATE, method=method)
    # espeak-ng's m1 at pitch 40 speaks at 73.6 Hz and f2 at pitch 70 at 213 Hz (both methods agree)
    assert low.median_hz == pytest.approx(73.6, rel=0.02)
    assert high.median_hz == pytest.approx(213.1, rel=0.02)
    assert low.spread_semitones < 1.0 and high.spread_semitones < 1.0
    assert low.method == method and 0.3 < high.voiced_share <= 1.0


def test_a_low_male_voice_is_voiced_in_any_sentence_and_noise_is_not():
    sentence = "The children play outside while the old dog sleeps under the tree."
    raw, _ = SynthesisClient.call((sentence, "en+m1", Style("flat", 200, 40, 0, 100)))
    low = estimate_pitch(raw.astype(np.float32) / 32768.0, ESPEAK_SAMPLE_RATE)  # none voiced with pYIN's default prior
    assert low.median_hz == pytest.approx(73.6, rel=0.02) and low.voiced_share > 0.5
    noise = 0.1 * np.random.default_rng(0).standard_normal(16_000).astype(np.float32)
    assert estimate_pitch(noise, 16_000).median_hz is None


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
        estimate_pitch(np.ones(100, dtype=np.float32), 16_000, method="yin")
