"""The cut planner: limits respected, no word split, every word in exactly one segment."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import WordAlignment
from transforms.segment.cut import (
    UnsplittableError,
    build_segments,
    find_pauses,
    plan_segments,
    source_token_spans,
)


@st.composite
def word_sequences(draw):
    """Words of 0.05-2 s separated by gaps of 0-1.5 s, starting after up to 1 s of silence."""
    n = draw(st.integers(1, 50))
    t = draw(st.floats(0, 1.0, allow_subnormal=False))
    words = []
    for i in range(n):
        duration = draw(st.floats(0.05, 2.0, allow_subnormal=False))
        words.append(WordAlignment(f"w{i}", round(t, 4), round(duration, 4)))
        t += duration + draw(st.floats(0, 1.5, allow_subnormal=False))
    tail = draw(st.floats(0, 1.0, allow_subnormal=False))
    return words, round(words[-1].end_s + tail, 4)


@settings(max_examples=60, deadline=None)
@given(word_sequences(), st.floats(3.0, 12.0, allow_subnormal=False))
def test_every_segment_is_within_the_limit_and_holds_each_word_once(case, max_seconds):
    words, duration = case
    plan = plan_segments(words, duration, max_seconds=max_seconds, min_seconds=1.0)
    assert all(p.duration_s <= max_seconds + 1e-6 for p in plan)
    covered = [i for p in plan for i in range(p.first_word, p.last_word + 1)]
    assert covered == list(range(len(words)))


@settings(max_examples=60, deadline=None)
@given(word_sequences(), st.floats(3.0, 12.0, allow_subnormal=False))
def test_no_cut_falls_inside_a_word(case, max_seconds):
    words, duration = case
    plan = plan_segments(words, duration, max_seconds=max_seconds, min_seconds=1.0)
    for p in plan:
        for w in words:
            for cut in (p.start_s, p.end_s):
                assert not (w.start_s + 1e-3 < cut < w.end_s - 1e-3), (cut, w)
        assert p.start_s <= words[p.first_word].start_s + 1e-3
        assert p.end_s >= words[p.last_word].end_s - 1e-3


@settings(max_examples=40, deadline=None)
@given(word_sequences())
def test_segments_do_not_overlap_and_stay_inside_the_source(case):
    words, duration = case
    plan = plan_segments(words, duration, max_seconds=10.0, min_seconds=1.0)
    assert plan[0].start_s >= 0 and plan[-1].end_s <= duration + 1e-6
    for a, b in zip(plan, plan[1:]):
        assert a.end_s <= b.start_s + 1e-6


def test_cuts_prefer_the_longest_pause():
    # 12 words of 0.5 s; a 0.8 s pause after word 5, short 0.05 s gaps elsewhere
    words, t = [], 0.0
    for i in range(12):
        words.append(WordAlignment(f"w{i}", round(t, 3), 0.5))
        t += 0.5 + (0.8 if i == 5 else 0.05)
    plan = plan_segments(words, t, max_seconds=5.0, min_seconds=1.0)
    assert [(p.first_word, p.last_word) for p in plan] == [(0, 5), (6, 11)]


def test_sentence_punctuation_attracts_the_cut_when_pauses_are_equal():
    words = [WordAlignment(w, i * 0.6, 0.5) for i, w in enumerate("one two three. four five six seven eight".split())]
    plan = plan_segments(words, 5.0, max_seconds=4.0, min_seconds=0.5)
    assert plan[0].last_word == 2


def test_short_segments_are_avoided_when_a_longer_cut_exists():
    words = [WordAlignment(f"w{i}", i * 0.55, 0.5) for i in range(30)]  # 16.5 s of even speech
    plan = plan_segments(words, 16.5, max_seconds=10.0, min_seconds=3.0)
    assert all(p.duration_s >= 3.0 for p in plan)


def test_a_word_longer_than_the_limit_cannot_be_split():
    with pytest.raises(UnsplittableError):
        plan_segments([WordAlignment("aaaah", 0.0, 12.0)], 12.0, max_seconds=10.0)


def test_long_silences_are_trimmed_to_a_short_pad():
    words = [WordAlignment("a", 1.0, 4.0), WordAlignment("b", 20.0, 4.0)]
    plan = plan_segments(words, 30.0, max_seconds=10.0, min_seconds=1.0)
    assert len(plan) == 2
    assert plan[0].start_s == pytest.approx(0.75) and plan[0].end_s == pytest.approx(5.25)
    assert plan[1].start_s == pytest.approx(19.75) and plan[1].end_s == pytest.approx(24.25)


def test_pauses_are_found_in_the_quiet_audio_between_words():
    sr = 16_000
    audio = np.zeros(sr * 3, dtype=np.float32)
    rng = np.random.default_rng(0)
    audio[int(0.2 * sr) : int(1.3 * sr)] = rng.normal(0, 0.3, int(1.1 * sr))  # word 1 really ends at 1.3
    audio[int(1.7 * sr) : int(2.8 * sr)] = rng.normal(0, 0.3, int(1.1 * sr))
    # the aligner's edges are off: word 1 "ends" at 1.55, word 2 "starts" at 1.55
    words = [WordAlignment("a", 0.2, 1.35), WordAlignment("b", 1.55, 1.25)]
    (pause,) = find_pauses(words, audio, sr)
    assert 1.29 <= pause.quiet_start_s <= 1.31 and pause.quiet_end_s >= 1.69
    assert 1.3 < pause.cut_s < 1.7


def test_segments_carry_relative_word_timings_and_their_transcript_slice():
    words = [WordAlignment(w, i * 1.0, 0.8) for i, w in enumerate(["Hello", "there", "of the", "world"])]
    plan = plan_segments(words, 4.0, max_seconds=2.5, min_seconds=0.5)
    segments = build_segments("src", words, plan, transcript="Hello, there! Of the world.")
    assert [s.index for s in segments] == list(range(len(segments)))
    assert " ".join(s.transcript for s in segments) == "Hello, there! Of the world."
    for s, p in zip(segments, plan):
        assert s.start_s == p.start_s
        first = words[p.first_word]
        assert s.words[0].start_s == pytest.approx(first.start_s - p.start_s, abs=1e-3)
        assert all(0 <= w.start_s and w.start_s + w.duration_s <= s.duration_s + 1e-3 for w in s.words)


def test_asr_words_are_mapped_onto_the_source_transcript():
    transcript = "We walked along the river, until the sun went down."
    heard = ["We", "walk", "to", "longer", "river", "until", "the", "sun", "went", "down."]
    words = [WordAlignment(w, i * 0.5, 0.4) for i, w in enumerate(heard)]
    spans = source_token_spans(transcript, words)
    tokens = transcript.split()
    assert " ".join(tokens[spans[5][0] : spans[-1][1]]) == "until the sun went down."
    assert spans[0][0] == 0 and spans[-1][1] == len(tokens)
