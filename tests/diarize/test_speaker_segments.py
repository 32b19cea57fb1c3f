"""Speaker-true segments: the segment stage with --diarize on espeak-ng voices with known turns."""

from __future__ import annotations

import numpy as np
import pytest

from schemas import SAMPLE_RATE, WordAlignment
from tests.diarize.conversation import _said
from tests.segment.speech import make_sample, paragraph
from transforms.diarize.gender import caption_gender
from transforms.segment import SegmentStage
from transforms.segment.cut import find_pauses, plan_segments

pytestmark = pytest.mark.slow

HIS = "The train left the station a few minutes after seven, and my neighbour"
HERS = "grows tomatoes, beans and tall yellow flowers in her garden. We should have taken the road through the forest."
MORE = "The museum will close early on Friday because of the public holiday. A small boat was drifting slowly."


def _two_voices():
    """He starts a sentence, she finishes it 0.3 s later, he answers after 0.8 s: (audio, words, owner of each word)."""
    parts = [(HIS, "m1", 0.3), (HERS, "f2", 0.3), (MORE, "m1", 0.8)]
    pieces, words, owners, cursor = [], [], [], 0.0
    for text, voice, pause in parts:
        audio, said = _said(text, "en", voice)
        offset = cursor + pause - said[0].start_s
        pieces.append((int(round(offset * SAMPLE_RATE)), audio))
        words += [WordAlignment(w.word, round(w.start_s + offset, 4), w.duration_s) for w in said]
        owners += [voice] * len(said)
        cursor = said[-1].end_s + offset
    mix = np.zeros(max(a + len(x) for a, x in pieces) + SAMPLE_RATE // 2, dtype=np.float32)
    for first, x in pieces:
        mix[first : first + len(x)] += x
    return mix, tuple(words), owners


@pytest.fixture(scope="module")
def stage():
    s = SegmentStage(aligner="given", diarize=True, diarize_min_s=0.0)
    s.setup()  # the speaker encoder, once for the module
    return s


@pytest.fixture(scope="module")
def two_voices(stage):
    audio, words, owners = _two_voices()
    sample = make_sample("talk", audio, "en", " ".join(w.word for w in words), words)
    out, failures = stage.process([sample])
    return out, failures, words, owners


def _owner(segment_start_s: float, word: WordAlignment, words, owners) -> str:
    at = segment_start_s + word.start_s
    k = min(range(len(words)), key=lambda i: abs(words[i].start_s - at))
    return owners[k]


def test_a_turn_mid_sentence_gives_no_segment_with_both_voices(two_voices) -> None:
    out, failures, words, owners = two_voices
    assert not failures
    voices_per_segment = [{_owner(s.segment.start_s, w, words, owners) for w in s.segment.words} for s in out]
    assert all(len(v) == 1 for v in voices_per_segment), voices_per_segment
    assert sum(len(s.segment.words) for s in out) == len(words)  # no word lost
    said = [s.segment.transcript for s in out if _owner(s.segment.start_s, s.segment.words[0], words, owners) == "f2"]
    assert " ".join(said).startswith("grows tomatoes")  # her words, and only hers, in her segments


def test_each_sample_says_its_speaker_turn_and_the_number_of_speakers(two_voices) -> None:
    out, _, words, owners = two_voices
    records = [s.original_data["diarization"] for s in out]
    assert {r["num_speakers"] for r in records} == {2}
    by_voice = {}
    for s, r in zip(out, records):
        by_voice.setdefault(_owner(s.segment.start_s, s.segment.words[0], words, owners), set()).add(r["speaker"])
        assert r["turn_start_s"] <= s.segment.start_s + s.segment.words[0].start_s + 0.5
        assert r["turn_end_s"] >= s.segment.start_s + s.segment.words[-1].start_s
    assert by_voice["m1"] == {"S1"} and by_voice["f2"] == {"S2"}  # named in order of first appearance


def test_the_gender_is_estimated_per_speaker_and_enters_captions_when_the_dataset_has_none(two_voices) -> None:
    out, _, words, owners = two_voices
    for s in out:
        record = s.original_data["diarization"]
        truth = "male" if _owner(s.segment.start_s, s.segment.words[0], words, owners) == "m1" else "female"
        assert record["gender"]["value"] == truth and record["gender"]["method"] == "pitch:pyin"
        confident = record["gender"]["confidence"] >= record["gender_min_confidence"]
        assert caption_gender("unknown", record) == (truth if confident else "unknown")
        assert caption_gender("female", record) == "female"  # the dataset's own label always wins


def test_an_estimate_below_the_confidence_threshold_stays_out_of_captions() -> None:
    record = {"gender": {"value": "male", "confidence": 0.7, "method": "pitch:pyin"}, "gender_min_confidence": 0.9}
    assert caption_gender("unknown", record) == "unknown"
    assert caption_gender("unknown", None) == "unknown"


def test_one_speaker_keeps_the_segment_bounds_of_the_stage_without_diarization(stage) -> None:
    text, audio, words = paragraph("en", 0)
    sample = make_sample("alone", audio, "en", text, words)
    plain, _ = SegmentStage(aligner="given").process([sample])
    diarized, _ = stage.process([sample])
    assert [(s.segment.start_s, s.segment.duration_s) for s in diarized] == [
        (s.segment.start_s, s.segment.duration_s) for s in plain
    ]
    assert {s.original_data["diarization"]["num_speakers"] for s in diarized} == {1}
    assert "diarization" not in plain[0].original_data


def test_overlapped_segments_are_dropped_with_a_reason_when_asked(stage) -> None:
    audio, words, _ = _two_voices()
    sample = make_sample("talk", audio, "en", " ".join(w.word for w in words), words)
    dropping = SegmentStage(aligner="given", diarize=True, diarize_min_s=0.0, overlapped_speech="drop")
    dropping.speaker_encoder = stage.speaker_encoder
    flagged, _ = stage.process([sample])
    kept, failures = dropping.process([sample])
    assert len(kept) + len(failures) == len(flagged)
    assert len(failures) == sum(bool(s.original_data["diarization"]["overlap"]) for s in flagged)
    assert all(f.reason == "overlapped_speech" for f in failures)


def test_the_plan_cuts_at_every_forced_boundary_even_in_a_short_pause() -> None:
    _, audio, words = paragraph("en", 0)
    pauses = find_pauses(words)
    forced = frozenset({3, 17})
    plan = plan_segments(words, len(audio) / SAMPLE_RATE, 10.0, 1.0, pauses, forced=forced)
    boundaries = {p.last_word for p in plan[:-1]}
    assert forced <= boundaries
    assert [p.first_word for p in plan] == [0] + [p.last_word + 1 for p in plan[:-1]]


def test_other_embedding_models_need_the_users_weights() -> None:
    from transforms.segment import SegmentSettings

    with pytest.raises(ValueError, match="diarize-weights"):
        SegmentSettings(diarize=True, diarize_model="pyannote")
