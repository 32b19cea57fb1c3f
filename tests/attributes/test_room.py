"""The blind RT60 on espeak-ng speech in synthetic rooms at known RT60, dry, fast and noisy."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from scipy.signal import fftconvolve

from augment import noise
from augment.effects import synthetic_rir
from augment.mix import mix_noise, weight_for_snr_db
from transforms.attributes.room import estimate_rt60
from transforms.tts.engine import ESPEAK_SAMPLE_RATE, Style
from transforms.tts.server import SynthesisClient

RATE = 16_000
TEXT = "The children play outside while the old dog sleeps under the tree."


def _speech(wpm: int) -> np.ndarray:
    raw, _ = SynthesisClient.call((TEXT, "en+f2", Style("x", wpm, 50, 50, 100)))
    return soxr.resample(raw.astype(np.float32) / 32768.0, ESPEAK_SAMPLE_RATE, RATE).astype(np.float32)


def _in_room(audio: np.ndarray, rt60_s: float) -> np.ndarray:
    wet = fftconvolve(audio, synthetic_rir(rt60_s, 0, RATE))[: audio.size]
    return (wet * np.sqrt(np.mean(audio**2) / np.mean(wet**2))).astype(np.float32)


@pytest.fixture(scope="module")
def fast() -> np.ndarray:
    return _speech(320)


def test_fast_speech_in_a_long_room_gets_an_estimate_that_is_not_read_low(fast):
    # version 1 (free decays of 10 dB): no estimate for 0.7 and 1.0 s
    for rt60_s in (0.7, 1.0):
        estimate = estimate_rt60(_in_room(fast, rt60_s))
        assert estimate.rt60_s is not None and estimate.rt60_s >= 0.8 * rt60_s, rt60_s


def test_noise_does_not_hide_the_room(fast):
    noisy = mix_noise(_in_room(fast, 1.0), noise.pink_noise(5.0, 1, RATE), weight_for_snr_db(15.0)).audio
    estimate = estimate_rt60(noisy)  # version 1: no estimate
    assert estimate.rt60_s is not None and estimate.rt60_s > 0.6


def test_dry_speech_reads_close_and_rooms_read_in_order():
    speech = _speech(175)
    readings = [estimate_rt60(audio).rt60_s for audio in (speech, _in_room(speech, 0.4), _in_room(speech, 1.0))]
    assert readings[0] < 0.3 and readings == sorted(readings) and readings[2] > 0.6


def test_each_window_of_a_pure_exponential_decay_reads_its_decay_time():
    from transforms.attributes.room import ANALYSIS_RATE, BLOCK, window_decay_times

    for rt60_s in (0.3, 0.6, 1.2):
        t = np.arange(int(1.5 * ANALYSIS_RATE / BLOCK)) * BLOCK / ANALYSIS_RATE
        energies = np.random.default_rng(0).chisquare(BLOCK, t.size) / BLOCK * 10.0 ** (-6.0 * t / rt60_s)
        times = window_decay_times(energies)
        assert np.median(times) == pytest.approx(rt60_s, rel=0.15), rt60_s


def test_long_rooms_read_within_a_quarter_of_their_rt60(fast):
    # version 3 (every loud window, 10 % quantile) read a 1.0 s room at 0.68 s and a 1.2 s one at 0.79 s
    # (175 words/min): rooms above ~0.8 s read low; only falling windows now, at their 30 % quantile
    for speech in (_speech(175), fast):
        for rt60_s in (1.0, 1.2):
            estimate = estimate_rt60(_in_room(speech, rt60_s))
            assert estimate.rt60_s == pytest.approx(rt60_s, rel=0.25), rt60_s


def test_dry_speech_reads_its_own_decays_as_no_room():
    # version 3 read dry espeak-ng speech at 0.195 s: its own decays; they are now taken out of the reading
    assert estimate_rt60(_speech(175)).rt60_s < 0.15


def test_only_windows_that_fall_throughout_are_read():
    from transforms.attributes.room import ANALYSIS_RATE, BLOCK, window_decay_times

    t = np.arange(int(1.5 * ANALYSIS_RATE / BLOCK)) * BLOCK / ANALYSIS_RATE
    energies = np.random.default_rng(0).chisquare(BLOCK, t.size) / BLOCK
    swell = energies * (1.0 + 0.9 * np.sin(2 * np.pi * 10.0 * t))  # ongoing sound: rises and falls in each window
    decay = energies * 10.0 ** (-6.0 * t / 0.5)
    assert len(window_decay_times(swell, falling=0)) > 10  # every window read: as slow decays
    assert len(window_decay_times(swell)) == 0
    assert np.median(window_decay_times(decay)) == pytest.approx(0.5, rel=0.15)


# RT60 v5: the estimate says how much evidence it had, and abstains below MIN_DECAYS separate decays


def _said(text: str) -> np.ndarray:
    raw, _ = SynthesisClient.call((text, "en+f2", Style("x", 175, 50, 50, 100)))
    return soxr.resample(raw.astype(np.float32) / 32768.0, ESPEAK_SAMPLE_RATE, RATE).astype(np.float32)


def test_short_clips_in_a_known_room_are_unmeasured_with_a_reason_and_longer_ones_are_measured():
    from transforms.attributes.room import FEW_DECAYS, MIN_DECAYS

    # version 4 read "Yes." in a 0.9 s room at 0.94 s and "Good morning." at 0.63 s (in a 0.4 s room 0.35 s):
    # a value from one or two decays
    for text in ("Yes.", "Good morning."):
        for rt60_s in (0.4, 0.9):
            estimate = estimate_rt60(_in_room(_said(text), rt60_s))
            assert estimate.rt60_s is None and estimate.unmeasured == FEW_DECAYS, (text, rt60_s)
            assert 0 < estimate.decays < MIN_DECAYS and estimate.windows > 0, (text, rt60_s)
    readings = []
    for rt60_s in (0.4, 0.9):
        estimate = estimate_rt60(_in_room(_said(TEXT), rt60_s))
        assert estimate.unmeasured is None and estimate.decays >= MIN_DECAYS, rt60_s
        assert estimate.rt60_s == pytest.approx(rt60_s, rel=0.25), rt60_s
        low, high = estimate.interval_s
        assert low <= estimate.rt60_s <= high, rt60_s
        readings.append(estimate.rt60_s)
    assert readings == sorted(readings)


def test_the_rule_is_on_evidence_not_on_duration():
    # the same evidence rule measures a 1.1 s phrase with four separate decays
    estimate = estimate_rt60(_in_room(_said("Thank you very much."), 0.4))
    assert estimate.rt60_s is not None and estimate.decays >= 4


def test_a_clip_without_decays_gets_no_made_up_value():
    from transforms.attributes.room import NO_DECAYS

    t = np.arange(3 * RATE) / RATE
    steady = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # a hum: no decay anywhere
    rising = (t / 3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)  # only swells
    for audio in (steady, rising, np.zeros(t.size, np.float32), np.ones(100, np.float32)):
        estimate = estimate_rt60(audio)
        assert estimate.rt60_s is None and estimate.unmeasured == NO_DECAYS and estimate.decays == 0


def test_one_decay_read_by_many_windows_is_one_decay():
    from transforms.attributes.room import FEW_DECAYS, rt60_of, separate_decays

    assert separate_decays(np.arange(20)) == 1  # 20 overlapping windows of one 0.5 s tail
    assert separate_decays(np.array([0, 1, 10, 11, 20, 21, 30])) == 3  # the lone window at 30 is no decay
    estimate = rt60_of(np.full(20, 0.6), starts=np.arange(20))
    assert estimate.rt60_s is None and estimate.unmeasured == FEW_DECAYS and estimate.windows == 20
    assert rt60_of(np.full(20, 0.6), starts=np.arange(20), min_decays=0).rt60_s == pytest.approx(0.545, abs=0.001)


# RT60 v6: a decay of something; stationary noise's chance dips are no room


def test_stationary_noise_alone_gets_no_room():
    from transforms.attributes.room import FEW_DECAYS, MIN_FALL_DB, SHALLOW_DECAYS

    # version 5 read white, pink and brown noise (no speech, no room) at 1.2..1.9 s in 17 of these 18 clips,
    # from 5..21 chance dips that passed as decays; none of them falls as far as a sound that stops
    for kind in (noise.white_noise, noise.pink_noise, noise.brown_noise):
        for seed in range(6):
            duration_s = 3.0 + 1.4 * seed  # 3..10 s
            estimate = estimate_rt60(kind(duration_s, seed, RATE).astype(np.float32))
            assert estimate.rt60_s is None and estimate.unmeasured in (SHALLOW_DECAYS, FEW_DECAYS), (kind, seed)
            assert estimate.fall_db is None or estimate.fall_db < MIN_FALL_DB, (kind, seed)


@pytest.mark.xfail(strict=True, reason="a dry crowd's decays are speech's own: RT60 v6 still reads 0.35..0.56 s")
def test_babble_alone_gets_no_room():
    talkers = [_said(text) for text in (TEXT, "Good morning.", "Thank you very much.", "Yes.")]
    babble = noise.babble(talkers, 6.0, 0, RATE).astype(np.float32)
    assert estimate_rt60(babble).rt60_s is None


def test_speech_in_a_room_falls_far_and_each_decay_is_measured_by_its_fall():
    from transforms.attributes.room import ANALYSIS_RATE, BLOCK, MIN_FALL_DB, decay_falls, window_decays

    for rt60_s in (0.4, 0.9):
        estimate = estimate_rt60(_in_room(_said(TEXT), rt60_s))
        assert estimate.rt60_s is not None and estimate.fall_db >= MIN_FALL_DB, rt60_s
    # a pure exponential decay of 0.5 s read by one run of windows falls 60 dB per 0.5 s of the run
    t = np.arange(int(0.6 * ANALYSIS_RATE / BLOCK)) * BLOCK / ANALYSIS_RATE
    energies = 10.0 ** (-6.0 * t / 0.5)
    _, starts = window_decays(energies)
    span_s = (starts.max() - starts.min()) * 0.02 + 0.12 - 0.04  # first sub-frame to last (their centres)
    assert decay_falls(energies, starts) == pytest.approx([60.0 * span_s / 0.5], rel=0.05)
