"""Cut points that do not need the right speakers, and pitch as the clustering's second feature."""

from __future__ import annotations

import numpy as np
import pytest

from schemas import WordAlignment
from tests.diarize.conversation import conversation
from tests.diarize.test_speaker_segments import _owner, _two_voices
from tests.segment.speech import make_sample
from transforms.diarize.cluster import absorb_small
from transforms.diarize.turns import Turn, change_boundaries, forced_cuts, overlapping_words
from transforms.segment import SegmentStage

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def encoder():
    stage = SegmentStage(aligner="given", diarize=True, diarize_min_s=0.0)
    stage.setup()
    return stage.speaker_encoder


def _stage(encoder, **settings) -> SegmentStage:
    stage = SegmentStage(aligner="given", diarize=True, diarize_min_s=0.0, **settings)
    stage.speaker_encoder = encoder
    return stage


def test_a_change_of_voice_is_cut_even_when_the_clustering_gives_both_one_speaker(encoder) -> None:
    audio, words, owners = _two_voices()  # m1, then f2 finishing his sentence 0.3 s later, then m1
    sample = make_sample("talk", audio, "en", " ".join(w.word for w in words), words)
    out, failures = _stage(encoder, num_speakers=1).process([sample])
    assert not failures
    assert {s.original_data["diarization"]["num_speakers"] for s in out} == {1}
    voices = [{_owner(s.segment.start_s, w, words, owners) for w in s.segment.words} for s in out]
    assert all(len(v) == 1 for v in voices), voices  # the detected changes cut where the speakers do not
    assert sum(len(s.segment.words) for s in out) == len(words)


def test_two_female_voices_the_embedding_merges_are_told_apart_by_pitch(encoder) -> None:
    conv = conversation(1, n_speakers=2, n_turns=6, variants=("f2", "f1"), languages=("en",), overlap_share=0.0)
    sample = make_sample("pair", conv.audio, "en", conv.transcript, conv.words)
    out, _ = _stage(encoder).process([sample])  # f2 ~193 Hz, f1 ~180 Hz: cosine 0.12 apart, 1.2 semitones
    assert {s.original_data["diarization"]["num_speakers"] for s in out} == {2}
    starts = np.array([w.start_s for w in conv.words])
    pairs = {
        (
            conv.word_speakers[int(np.argmin(np.abs(starts - (s.segment.start_s + s.segment.words[0].start_s))))],
            s.original_data["diarization"]["speaker"],
        )
        for s in out
    }
    assert len(pairs) == 2 and len({voice for voice, _ in pairs}) == 2  # one found speaker per voice


def _w(word: str, start_s: float, end_s: float) -> WordAlignment:
    return WordAlignment(word, start_s, round(end_s - start_s, 3))


def test_words_overlapping_in_time_are_cut_apart_whatever_the_turns_say() -> None:
    # A says a1..a3, B starts during a3 (overlapped turns): time order interleaves their words
    words = [_w("a1", 0.0, 0.3), _w("a2", 0.35, 0.7), _w("b1", 0.6, 0.9), _w("a3", 0.75, 1.1), _w("b2", 1.2, 1.5)]
    assert overlapping_words(words) == {1, 2, 3}
    one_turn = (Turn(0.0, 1.5, "S1"),)
    assert forced_cuts(words, one_turn) == frozenset({0, 1, 2, 3})  # a1 | a2 | b1 | a3 | b2 b3: B goes on
    words.append(_w("b3", 1.55, 1.8))
    assert forced_cuts(words, one_turn) == frozenset({0, 1, 2, 3})
    touching = [_w("a", 0.0, 0.305), _w("b", 0.3, 0.6)]  # 5 ms: aligners' word edges, one voice
    assert overlapping_words(touching) == set()


def test_a_change_time_goes_to_the_word_gap_that_holds_it_or_the_widest_near_it() -> None:
    words = [_w("a", 0.0, 0.4), _w("b", 0.45, 0.8), _w("c", 1.3, 1.6), _w("d", 1.62, 2.0)]
    assert change_boundaries(words, (1.0,)) == {1}  # inside the gap b|c
    assert change_boundaries(words, (1.5,)) == {1}  # inside word c: the widest gap within 0.6 s
    assert change_boundaries(words, (9.0,)) == set()  # no word near
    assert forced_cuts(words, (Turn(0.0, 2.0, "S1"),), (1.0,)) == frozenset({1})


def test_a_speaker_with_a_few_seconds_of_speech_joins_the_nearest() -> None:
    points = np.array([[1.0, 0.0], [0.0, 1.0], [0.96, 0.28]], dtype=np.float32)
    labels = absorb_small(points, None, np.array([30.0, 20.0, 3.0]), np.array([0, 1, 2]), 5.0)
    assert labels.tolist() == [0, 1, 0]
    assert absorb_small(points, None, np.array([30.0, 20.0, 6.0]), np.array([0, 1, 2]), 5.0).tolist() == [0, 1, 2]


def test_the_gender_is_read_from_the_diarizations_pitch_tracks_not_measured_again(monkeypatch) -> None:
    import transforms.attributes.pitch as pitch
    from transforms.diarize.gender import speaker_genders
    from transforms.diarize.turns import Diarization

    def measured_again(*args, **kwargs):
        raise AssertionError("pYIN ran again")

    monkeypatch.setattr(pitch, "estimate_pitch", measured_again)
    low, high = np.full(100, 95.0, dtype=np.float32), np.full(100, 200.0, dtype=np.float32)  # 2 s each
    found = Diarization((Turn(0.0, 2.0, "S1"), Turn(3.0, 5.0, "S2")), ("S1", "S2"), f0=((0.0, low), (3.0, high)))
    genders = speaker_genders(np.zeros(16_000 * 6, dtype=np.float32), found)
    assert [genders[s]["value"] for s in ("S1", "S2")] == ["male", "female"]
    assert genders["S1"]["median_f0_hz"] == 95.0 and genders["S2"]["seconds"] == 2.0
