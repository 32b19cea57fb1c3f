"""Long-form recordings: VAD windows at pauses, batched ASR, absolute word times.

The recording is espeak-ng paragraphs (true word timings) joined with pauses; windows are made
small (12 s) so a ~70 s recording has several window edges to get wrong.
"""

from __future__ import annotations

import difflib

import numpy as np
import pytest

from schemas import SAMPLE_RATE, WordAlignment
from tests.segment.speech import make_sample, paragraph
from transforms.segment.cut import normalize_token
from transforms.segment.longform import speech_regions, to_16k, transcribe_long, windows
from transforms.segment.whisper import WHISPER_SAMPLE_RATE, ClipRequest, FasterWhisperModelHandler

WINDOW_S = 12.0
PAUSE_S = 1.2


@pytest.fixture(scope="module")
def recording() -> tuple[np.ndarray, list[WordAlignment], list[np.ndarray]]:
    """(48 kHz audio, true words in absolute time, the paragraphs alone)."""
    parts, truth, alone, position = [], [], [], 0
    for index, variant in ((0, "m1"), (1, "f2"), (2, "m3")):
        _, audio, words = paragraph("en", index, variant)
        truth += [WordAlignment(w.word, w.start_s + position / SAMPLE_RATE, w.duration_s) for w in words]
        parts += [audio, np.zeros(int(PAUSE_S * SAMPLE_RATE), np.float32)]
        alone.append(audio)
        position += len(audio) + int(PAUSE_S * SAMPLE_RATE)
    return np.concatenate(parts), truth, alone


@pytest.fixture(scope="module")
def tiny():
    handler = FasterWhisperModelHandler("bundled:tiny.en", batched=True, batch_size=4)
    return handler, handler.load_model()


def _matched(truth: list[WordAlignment], heard: list[WordAlignment]) -> float:
    ref = [normalize_token(w.word) for w in truth]
    hyp = [normalize_token(w.word) for w in heard]
    blocks = difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks) / len(ref)


def test_windows_are_short_disjoint_cover_all_speech_and_never_cut_a_word(recording):
    audio, truth, _ = recording
    audio16 = to_16k(audio)
    assert abs(len(audio16) - len(audio) / 3) <= 64
    spans = windows(audio16, speech_regions(audio16), WINDOW_S)
    assert len(spans) >= 4
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end <= start
    assert all(end - start <= WINDOW_S * WHISPER_SAMPLE_RATE for start, end in spans)
    for _, end in spans[:-1]:
        edge = end / WHISPER_SAMPLE_RATE
        assert not [w for w in truth if w.start_s < edge < w.end_s], f"a word straddles the edge at {edge:.2f} s"
    for word in truth:
        assert any(s / WHISPER_SAMPLE_RATE <= word.start_s and word.end_s <= e / WHISPER_SAMPLE_RATE for s, e in spans)


def test_long_form_words_are_absolute_once_each_and_as_good_as_short_items(recording, tiny):
    audio, truth, alone = recording
    handler, model = tiny
    heard = transcribe_long(handler, model, "long", audio, "en", max_window_s=WINDOW_S, group=4)
    assert heard.extra["longform_windows"] >= 4
    starts = [w.start_s for w in heard.words]
    assert starts == sorted(starts) and starts[-1] < len(audio) / SAMPLE_RATE
    # the first word of each paragraph is heard near its true (absolute) start
    position = 0.0
    for paragraph_audio in alone:
        assert min(abs(s - position) for s in starts) < 0.6
        position += len(paragraph_audio) / SAMPLE_RATE + PAUSE_S
    short_words: list[WordAlignment] = []
    position = 0.0
    short = handler.run_inference(
        [ClipRequest(f"p{i}", to_16k(a), "en") for i, a in enumerate(alone)],
        model,
    )
    for paragraph_audio, t in zip(alone, short):
        short_words += [WordAlignment(w.word, w.start_s + position, w.duration_s) for w in t.words]
        position += len(paragraph_audio) / SAMPLE_RATE + PAUSE_S
    long_score, short_score = _matched(truth, list(heard.words)), _matched(truth, short_words)
    assert long_score >= short_score - 0.05, (long_score, short_score)
    assert len(heard.words) <= len(short_words) + 3, "words heard twice at window edges"


def test_the_segment_stage_takes_long_items_through_the_long_form_path(recording, monkeypatch):
    from transforms.segment import longform
    from transforms.segment.stage import SegmentStage

    audio, truth, _ = recording
    monkeypatch.setattr(longform, "LONGFORM_S", 30.0)
    calls = []
    real = longform.transcribe_long
    monkeypatch.setattr(longform, "transcribe_long", lambda *a, **k: calls.append(1) or real(*a, **k))
    stage = SegmentStage(whisper_model="bundled:tiny.en")
    stage.setup()
    out, failures = stage.process([make_sample("long", audio)])
    assert calls and not failures and len(out) >= 6
    assert all(s.duration_s <= 10.0 + 1e-3 for s in out)
    starts = [s.segment.start_s for s in out]
    assert starts == sorted(starts) and starts[0] < 1.0 and starts[-1] > len(audio) / SAMPLE_RATE - 15.0
    for sample in out:  # each segment is the recording's own audio at its absolute start
        at = int(round(sample.segment.start_s * SAMPLE_RATE))
        assert np.array_equal(sample.audio[:100], audio[at : at + 100])
