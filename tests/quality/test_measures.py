"""The quality measures on plain arrays: each reads what was put into the signal."""

from __future__ import annotations

import numpy as np
import pytest

from schemas import SAMPLE_RATE
from transforms.quality import (
    clipping_ratio,
    judge_language,
    loudness_lufs,
    parse_filters,
    speech_share,
    wada_snr_db,
    wada_table,
)


def speech_like(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Gamma-distributed amplitudes (WADA's model of clean speech), peak 0.5."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    x = rng.gamma(0.4, 1.0, n) * rng.choice((-1.0, 1.0), n)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def with_noise(clean: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(clean.size)
    return (clean + noise * np.sqrt(np.mean(clean**2) / 10 ** (snr_db / 10))).astype(np.float32)


def sine(level: float, seconds: float = 2.0, freq: float = 1000.0) -> np.ndarray:
    return (level * np.sin(2 * np.pi * freq * np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE)).astype(np.float32)


@pytest.mark.parametrize("snr_db", [0.0, 5.0, 10.0, 20.0, 30.0])
def test_wada_snr_reads_the_snr_of_gamma_speech_in_gaussian_noise_within_a_db(snr_db):
    assert wada_snr_db(with_noise(speech_like(), snr_db)) == pytest.approx(snr_db, abs=1.0)


def test_the_wada_table_rises_with_snr_and_is_the_same_on_every_call():
    table = wada_table()
    assert table.shape == (121,) and np.all(np.diff(table) >= 0) and table[0] < 0.42 < 1.5 < table[-1]
    assert wada_snr_db(np.zeros(100)) is None


def test_loudness_of_a_sine_follows_its_level_and_silence_reads_the_absolute_gate():
    loud, quiet = loudness_lufs(sine(0.5)), loudness_lufs(sine(0.05))
    assert loud == pytest.approx(quiet + 20.0, abs=0.1)  # 10x the amplitude: +20 LU
    assert -10 < loud < 0
    assert loudness_lufs(np.zeros(SAMPLE_RATE)) == -70.0
    assert loudness_lufs(sine(0.5, seconds=0.1)) == pytest.approx(loud, abs=0.5)  # shorter than one block


def test_clipping_ratio_counts_samples_at_full_scale():
    clipped = np.clip(sine(2.0), -1.0, 1.0)
    assert clipping_ratio(sine(0.5)) == 0.0
    assert 0.5 < clipping_ratio(clipped) < 0.8


def test_speech_share_of_silence_is_nothing():
    assert speech_share(np.zeros(16_000 * 2, np.float32)) == 0.0


def test_a_mismatch_needs_a_sure_detection_and_a_declared_language():
    sure = judge_language("en", "fr", 0.9, {"fr": 0.9, "en": 0.05}, 0.5)
    assert sure == {
        "declared": "en",
        "detected": "fr",
        "probability": 0.9,
        "declared_probability": 0.05,
        "mismatch": True,
    }
    assert judge_language("en", "fr", 0.4, {"fr": 0.4}, 0.5)["mismatch"] is False
    assert "mismatch" not in judge_language("und", "fr", 0.9, {}, 0.5)


def test_filters_parse_from_text_and_unknown_ones_are_refused():
    assert parse_filters("snr, loudness") == ("snr", "loudness")
    assert len(parse_filters("all")) == 6 and parse_filters("none") == ()
    with pytest.raises(ValueError, match="unknown filter"):
        parse_filters("loudness,sharpness")
