"""Failed Whisper decodes are caught against voice activity and decoded again, never dropped.

The model here is a fake that fails greedily the way batched Whisper fails on a clip cut through a
word: one word for the whole chunk, avg_logprob near -2.4. The audio and its voice activity are
real (espeak-ng speech cut mid-word; Silero VAD).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import soxr

from schemas import SAMPLE_RATE, WordAlignment
from tests.segment.speech import PARAGRAPHS, make_sample, web_windows
from transforms.segment import recovery
from transforms.segment import stage as stage_module
from transforms.segment.recovery import decode_failure, summary_lines
from transforms.segment.stage import SegmentStage
from transforms.segment.whisper import WHISPER_SAMPLE_RATE, ClipRequest, FasterWhisperModelHandler, LoadedFasterWhisper

WORDS = " ".join(PARAGRAPHS["en"]).split()
_NEXT_WORD = itertools.count()


def _segment(text_words: list[str], start: float, end: float, logprob: float) -> SimpleNamespace:
    step = (end - start) / max(1, len(text_words))
    words = [
        SimpleNamespace(word=f" {w}", start=start + k * step, end=start + (k + 0.8) * step)
        for k, w in enumerate(text_words)
    ]
    return SimpleNamespace(
        text=" " + " ".join(text_words), start=start, end=end, no_speech_prob=0.5, avg_logprob=logprob, words=words
    )


def _heard(start: float, end: float) -> SimpleNamespace:
    """What a working decode gives: about three words a second over the span."""
    count = max(1, int((end - start) * 3))
    return _segment([WORDS[next(_NEXT_WORD) % len(WORDS)] for _ in range(count)], start, end, -0.2)


class FakePipeline:
    """Batched decoding that gives up (one word, avg_logprob -2.4) on every chunk of speech longer
    than ``fails_over_s``; shorter chunks are heard, silent ones give nothing."""

    def __init__(self, fails_over_s: float, deaf_first_s: float = 0.0) -> None:
        self.fails_over_s = fails_over_s
        self.deaf_first_s = deaf_first_s
        self.calls: list[list[float]] = []
        self.options: list[dict] = []

    def transcribe(self, audio, clip_timestamps, **options):
        self.calls.append([c["end"] - c["start"] for c in clip_timestamps])
        self.options.append(options)
        out = []
        for chunk in clip_timestamps:
            piece = audio[int(chunk["start"] * WHISPER_SAMPLE_RATE) : int(chunk["end"] * WHISPER_SAMPLE_RATE)]
            if not np.abs(piece).max(initial=0.0) > 1e-4:
                continue
            if chunk["end"] - chunk["start"] > self.fails_over_s and self.deaf_first_s:
                out.append(_heard(chunk["start"] + self.deaf_first_s, chunk["end"]))  # skipped the start
            elif chunk["end"] - chunk["start"] > self.fails_over_s:
                out.append(_segment(["The"], chunk["start"], chunk["end"], -2.4))
            else:
                out.append(_heard(chunk["start"], chunk["end"]))
        return iter(out), None


class FakeModel:
    """Sequential decoding with temperature fallback: hears the speech when ``hears``."""

    def __init__(self, hears: bool) -> None:
        self.hears = hears
        self.calls = 0
        self.options: list[dict] = []

    def transcribe(self, audio, **options):
        self.options.append(options)
        assert options["temperature"] == 0.0 if options.get("no_repeat_ngram_size") else len(options["temperature"]) > 1
        self.calls += 1
        duration = len(audio) / WHISPER_SAMPLE_RATE
        segment = _heard(0.0, duration) if self.hears else _segment(["The"], 0.0, duration, -2.4)
        return iter([segment]), None


def _fake(fails_over_s: float = 0.0, sequential_hears: bool = True, deaf_first_s: float = 0.0) -> LoadedFasterWhisper:
    return LoadedFasterWhisper(
        model=FakeModel(sequential_hears), pipeline=FakePipeline(fails_over_s, deaf_first_s), multilingual=False
    )


@pytest.fixture()
def counted(monkeypatch):
    """Beam counters of the recovery module and the stage, as a Counter keyed ``namespace/name``."""
    counts: Counter = Counter()

    class Recorder:
        @staticmethod
        def counter(namespace: str, name: str):
            return SimpleNamespace(inc=lambda n=1: counts.update({f"{namespace}/{name}": n}))

    monkeypatch.setattr(recovery, "Metrics", Recorder)
    monkeypatch.setattr(stage_module, "Metrics", Recorder)
    return counts


@pytest.fixture(scope="module")
def cut_mid_word():
    """A 30-s window of a continuous recording that starts and ends inside a word (16 kHz)."""
    audio, words, cut = web_windows("en", 30.0)[0]
    assert cut >= 1 and len(words) > 60
    return soxr.resample(audio, SAMPLE_RATE, WHISPER_SAMPLE_RATE).astype(np.float32), audio


def _retries(counts: Counter) -> dict[str, int]:
    return {k: v for k, v in counts.items() if "asr_retry/" in k or "asr_recovered/" in k or k.endswith("unrecovered")}


def test_a_greedy_failure_on_a_mid_word_cut_is_recovered_from_vad_windows(cut_mid_word, counted):
    audio16, _ = cut_mid_word
    model = _fake(fails_over_s=20.0)  # the whole 30-s chunk fails; windows of at most 15 s are heard
    (result,) = FasterWhisperModelHandler(batch_size=4).run_inference([ClipRequest("w", audio16, "en")], model)
    assert len(result.words) >= 60 and result.avg_logprob > -1.0
    assert result.extra["vad_speech_s"] > 25
    assert result.extra["asr_retries"] == {"low_word_rate": 1} and result.extra["asr_tried"] == ["vad_windows"]
    assert result.extra["asr_unrecovered"] == 0
    assert model.model.calls == 0 and len(model.pipeline.calls) == 2
    assert all(d <= recovery.RETRY_WINDOW_S for d in model.pipeline.calls[1])
    assert _retries(counted) == {
        "clara_segment/asr_retry/low_word_rate": 1,
        "clara_segment/asr_recovered/vad_windows": 1,
    }
    starts = [w.start_s for w in result.words]
    assert starts == sorted(starts) and result.words[-1].end_s <= 30.05


def test_windows_that_still_fail_are_decoded_alone_with_temperature_fallback(cut_mid_word, counted):
    audio16, _ = cut_mid_word
    model = _fake(fails_over_s=0.0)  # batched decoding fails on everything
    (result,) = FasterWhisperModelHandler(batch_size=4).run_inference([ClipRequest("w", audio16, "en")], model)
    assert len(result.words) >= 60
    assert result.extra["asr_tried"] == ["vad_windows", "sequential"]
    assert model.model.calls == len(model.pipeline.calls[1]) >= 2
    assert counted["clara_segment/asr_recovered/sequential"] == 1


def test_a_silent_clip_is_no_speech_without_any_retry(counted):
    stage = SegmentStage(whisper_model="bundled:tiny.en", transcribe_missing=True)
    model = _fake(fails_over_s=0.0)
    stage.model = model
    silence = np.zeros(SAMPLE_RATE * 25, dtype=np.float32)
    out, failures = stage.process([make_sample("silent", silence)])
    (failure,) = failures
    assert not out and failure.reason == "no_speech"
    assert "vad_speech_s=0.00 tried=first_decode " in failure.detail
    assert model.model.calls == 0 and len(model.pipeline.calls) == 1
    assert not _retries(counted) and not counted["clara_segment/no_speech_with_vad_speech"]


def test_the_stage_cuts_a_recovered_clip_and_records_what_was_retried(cut_mid_word, counted):
    _, audio48 = cut_mid_word
    stage = SegmentStage(whisper_model="bundled:tiny.en")
    stage.model = _fake(fails_over_s=20.0)
    out, failures = stage.process([make_sample("web", audio48)])
    assert not failures and len(out) >= 3
    record = out[0].original_data["segmentation"]
    assert record["asr_retries"] == {"low_word_rate": 1} and record["vad_speech_s"] > 25
    assert all(s.transcript for s in out)


def test_speech_that_is_never_recovered_fails_saying_what_was_tried_and_counts_as_an_anomaly(cut_mid_word, counted):
    _, audio48 = cut_mid_word
    stage = SegmentStage(whisper_model="bundled:tiny.en", transcribe_missing=True)
    stage.model = _fake(fails_over_s=0.0, sequential_hears=False)
    short = audio48[: 8 * SAMPLE_RATE]
    out, failures = stage.process([make_sample("web", audio48), make_sample("short", short)])
    (failure,) = failures
    assert failure.reason in recovery.LACK_OF_TEXT
    assert "tried=first_decode+vad_windows+sequential+no_repeat" in failure.detail
    assert float(re.search(r"vad_speech_s=([\d.]+)", failure.detail).group(1)) > 25
    (kept,) = out  # a short item stays, without a transcript, saying why
    assert kept.transcript is None and kept.original_data["segmentation"]["asr_unrecovered"] == 1
    assert counted["clara_segment/no_speech_with_vad_speech"] == 2
    assert counted["clara_segment/asr_unrecovered"] == 2


def test_decode_failure_names_each_kind_of_failed_decode():
    speech = [(0, 20 * WHISPER_SAMPLE_RATE)]
    end = 20 * WHISPER_SAMPLE_RATE

    def segments(count: int, span: float, logprob: float = -0.2, words: list[str] | None = None) -> list[dict]:
        seg = _segment(words or [WORDS[k % len(WORDS)] for k in range(count)], 0.0, span, logprob)
        return [recovery.segment_dict(seg)]

    assert decode_failure([], speech, 0, end) == "no_words"
    assert decode_failure(segments(3, 1.0), speech, 0, end) == "low_word_rate"
    assert decode_failure(segments(40, 8.0), speech, 0, end) == "low_coverage"
    late = recovery.shift_segments(segments(50, 17.0), 3.0)
    assert decode_failure(late, speech, 0, end) == "unheard_speech"  # the first 3 s of speech skipped
    assert decode_failure(segments(60, 20.0, words=["thank", "you"] * 30), speech, 0, end) == "repetition"
    assert decode_failure(segments(60, 20.0, logprob=-1.6), speech, 0, end) == "low_logprob"
    assert decode_failure(segments(60, 20.0, logprob=-1.2), speech, 0, end) is None  # weak, not failed
    assert decode_failure(segments(60, 20.0), speech, 0, end) is None
    assert decode_failure([], [(0, WHISPER_SAMPLE_RATE // 2)], 0, end) is None  # too little speech to judge


def test_the_run_summary_shows_retries_and_anomalies():
    lines = summary_lines(
        {
            "clara_segment/asr_retry/low_word_rate": 3,
            "clara_segment/asr_retry/no_words": 1,
            "clara_segment/asr_recovered/vad_windows": 3,
            "clara_segment/asr_unrecovered": 1,
            "clara_segment/asr_retry_ms": 2500,
            "clara_segment/asr_retry_ms/vad_windows": 1500,
            "clara_segment/asr_retry_ms/sequential": 1000,
            "clara_segment/asr_retry_windows": 5,
            "clara_segment/asr_retry_windows_kept": 3,
            "clara_segment/asr_first_decode_ms": 50000,
            "clara_segment/no_speech_with_vad_speech": 1,
        }
    )
    text = "\n".join(lines)
    assert "4 chunks decoded again" in text and "low_word_rate" in text and "vad_windows" in text
    assert "2.5 s decoding again (vad_windows 1.5 s, sequential 1.0 s), 50.0 s first decodes" in text
    assert "5 decoded again, 3 kept from the first decode" in text
    assert "1 items rejected for lack of text" in text
    assert summary_lines({"clara_segment/asr_first_decode_ms": 900}) == []


def test_the_report_counts_items_rejected_for_lack_of_text_that_the_vad_heard_speaking(tmp_path):
    from pipelines.report_data import CorpusFigures
    from schemas import Failure

    def meta(reason: str | None, vad_speech_s: float) -> dict:
        segmentation = {"vad_speech_s": vad_speech_s, **({"transcript_rejected": reason} if reason else {})}
        return {"original_data": {"dataset": "web", "segmentation": segmentation}, "duration_s": 8.0}

    figures = CorpusFigures()
    for reason, heard in [("no_speech", 6.5), ("no_speech", 0.4), (None, 7.0), ("hallucination_repetition", 9.0)]:
        figures.add_sample(meta(reason, heard), tmp_path / "0.tar", "train")
    failures = tmp_path / "000000.failures.jsonl"
    rows = [
        Failure("a", "web", "segment", "text_without_speech", "vad_speech_s=28.81 tried=first_decode+vad_windows"),
        Failure("b", "web", "segment", "no_speech", "vad_speech_s=0.00 tried=first_decode no_speech_prob=0.9"),
        Failure("c", "web", "decode", "no_speech", "vad_speech_s=9.00"),
    ]
    failures.write_text("".join(json.dumps(f.to_dict()) + "\n" for f in rows))
    figures.add_failures(failures)
    assert figures.speech_without_text == 2


def test_words_the_vad_heard_are_not_rejected_by_whispers_own_silence_test():
    from transforms.segment.stage import asr_rejection
    from transforms.segment.whisper import Transcription

    words = tuple(WordAlignment(w, 0.3 * k, 0.25) for k, w in enumerate(WORDS[:25]))
    doubtful = Transcription(
        "x",
        " ".join(WORDS[:25]),
        words,
        "fr",
        None,
        False,
        no_speech_prob=0.66,
        avg_logprob=-1.06,
        compression_ratio=1.5,
        duration_s=10.0,
    )
    assert asr_rejection(doubtful) == "no_speech"  # without a VAD figure: Whisper's test decides
    heard = dataclasses.replace(doubtful, extra={"vad_speech_s": 9.9})
    assert asr_rejection(heard) is None
    silent = dataclasses.replace(doubtful, extra={"vad_speech_s": 0.4})
    assert asr_rejection(silent) == "no_speech"


def test_the_windows_of_every_failed_clip_of_a_batch_go_in_one_decode(cut_mid_word, counted):
    audio16, _ = cut_mid_word
    other = soxr.resample(web_windows("en", 30.0)[1][0], SAMPLE_RATE, WHISPER_SAMPLE_RATE).astype(np.float32)
    model = _fake(fails_over_s=20.0)
    requests = [ClipRequest("a", audio16, "en"), ClipRequest("b", other, "en")]
    results = FasterWhisperModelHandler(batch_size=4).run_inference(requests, model)
    assert [len(r.words) >= 60 for r in results] == [True, True]
    assert len(model.pipeline.calls) == 2 and len(model.pipeline.calls[1]) >= 4
    print(dict(counted), model.pipeline.calls, model.model.calls)
    assert sum(v for k, v in counted.items() if "asr_recovered/" in k) == 2
    assert model.pipeline.options[1]["max_new_tokens"] <= 12 * recovery.RETRY_WINDOW_S + 16


def test_whisper_searches_with_faster_whispers_own_beam_of_5_unless_told(cut_mid_word):
    """Greedy decoding (beam 1) cost 5 to 7 points of WER against the bare faster-whisper loop
    (its default beam of 5) on German web windows: the first decode and the retries at
    temperature 0 search with the settings' beam, 5 by default."""
    from transforms.segment.options import SegmentSettings

    audio16, _ = cut_mid_word
    for settings, beam in ((SegmentSettings(), 5), (SegmentSettings(whisper_beam_size=1), 1)):
        model = _fake(fails_over_s=0.0, sequential_hears=False)  # every round runs
        stage_module.make_handler(settings).run_inference([ClipRequest("w", audio16, "en")], model)
        assert [o["beam_size"] for o in model.pipeline.options] == [beam, beam]
        searched = [o for o in model.model.options if not o.get("no_repeat_ngram_size")]
        assert searched and all(o["beam_size"] == beam for o in searched)
    with pytest.raises(ValueError, match="beam"):
        SegmentSettings(whisper_beam_size=0)


def test_only_the_windows_a_failed_decode_missed_are_decoded_again(cut_mid_word, counted):
    """A decode that skipped the first 6 s of a 30-s clip (a sentence cut through at the start) but
    heard the rest: the window holding the skipped speech is decoded again, the rest keeps the first
    decode's words, and no word is lost or doubled where they meet."""
    audio16, _ = cut_mid_word
    model = _fake(fails_over_s=20.0, deaf_first_s=6.0)
    (result,) = FasterWhisperModelHandler(batch_size=4).run_inference([ClipRequest("w", audio16, "en")], model)
    first, again = model.pipeline.calls
    assert len(again) == 1 and 6.0 <= again[0] <= recovery.RETRY_WINDOW_S
    assert result.extra["asr_retries"] == {"unheard_speech": 1} and result.extra["asr_windows_kept"] >= 1
    assert result.extra["asr_unrecovered"] == 0 and model.model.calls == 0
    assert counted["clara_segment/asr_retry_windows"] == 1 and counted["clara_segment/asr_retry_windows_kept"] >= 1
    starts = [w.start_s for w in result.words]
    assert starts[0] < 1.0 and starts == sorted(starts) and len(set(starts)) == len(starts)
    gaps = np.diff([0.0, *starts, 30.0])
    assert gaps.max() < 2.0  # words all the way through: the retried window and the kept ones meet
    assert len(result.words) >= 80


def test_each_packed_decode_is_capped_by_its_own_clips_length(cut_mid_word):
    """A decode caught in a loop on a 10-s clip ("on en racontent, on en racontent, ...") ran to
    Whisper's 448 tokens with a beam of 5. First decodes are packed per length class, each call's
    tokens capped by its longest clip; each clip still gets its own words back."""
    audio16, _ = cut_mid_word
    short = audio16[: 10 * WHISPER_SAMPLE_RATE - 800]
    model = _fake(fails_over_s=60.0)  # every chunk heard: no retry
    requests = [ClipRequest("long", audio16, "en"), ClipRequest("short", short, "en")]
    long_result, short_result = FasterWhisperModelHandler(batch_size=4).run_inference(requests, model)
    assert sorted(model.pipeline.calls) == [[pytest.approx(9.95)], [pytest.approx(30.0, abs=0.1)]]
    caps = {
        round(call[0]): options["max_new_tokens"] for call, options in zip(model.pipeline.calls, model.pipeline.options)
    }
    assert caps[10] <= 12 * 10 + 16 < caps[30] <= 400
    assert short_result.words[-1].end_s <= 10.0 and len(short_result.words) >= 20
    assert long_result.words[-1].end_s > 25.0 and len(long_result.words) >= 60


def test_unbatched_first_decodes_are_capped_by_the_window_whisper_decodes(cut_mid_word):
    """The unbatched path's first decode had no cap: a loop on a 10-s clip ran to Whisper's 448
    tokens. Each decode is capped by its clip's length, at most one 30-s window's worth."""
    audio16, _ = cut_mid_word
    model = _fake(fails_over_s=60.0)
    handler = FasterWhisperModelHandler(batch_size=4, batched=False)
    model = LoadedFasterWhisper(model=model.model, pipeline=None, multilingual=False)
    long = np.concatenate([audio16, audio16])  # 60 s: Whisper decodes it 30 s at a time
    short = audio16[: 10 * WHISPER_SAMPLE_RATE]
    handler.run_inference([ClipRequest("long", long, "en"), ClipRequest("short", short, "en")], model)
    caps = [options["max_new_tokens"] for options in model.model.options]
    assert caps == [12 * 30 + 16, 12 * 10 + 16]


def test_short_clips_share_a_30_s_window_and_each_gets_its_own_words_back(cut_mid_word, counted):
    """Whisper's encoder reads 30 s whatever the clip: two 10-s web clips share one window, half a
    second of silence apart, and each clip's words come back in its own time; one window per clip
    when sharing is off."""
    audio16, _ = cut_mid_word
    ten = 10 * WHISPER_SAMPLE_RATE
    clips = [audio16[k * ten : (k + 1) * ten] for k in range(3)]
    requests = [ClipRequest(f"c{k}", clip, "en") for k, clip in enumerate(clips)]
    model = _fake(fails_over_s=60.0)  # every chunk heard
    results = FasterWhisperModelHandler(batch_size=4, share_windows=True).run_inference(requests, model)
    assert model.pipeline.calls == [[pytest.approx(10.0)], [pytest.approx(20.5)]]  # by length class
    for result in results:
        starts = [w.start_s for w in result.words]
        assert len(starts) >= 20 and 0.0 <= starts[0] < 1.0 and result.words[-1].end_s <= 10.0
        assert result.extra.get("asr_retries") is None
    assert not _retries(counted)
    alone = _fake(fails_over_s=60.0)
    FasterWhisperModelHandler(batch_size=4).run_inference(requests, alone)  # off by default
    assert alone.pipeline.calls == [[pytest.approx(10.0)] * 3]


def test_pack_windows_packs_longest_first_and_keeps_each_windows_order():
    rate = WHISPER_SAMPLE_RATE
    from transforms.segment.whisper import pack_windows

    lengths = [10 * rate, 30 * rate, 10 * rate, 10 * rate, 4 * rate, 5 * rate]
    windows = pack_windows(lengths, 30 * rate, rate // 2)
    assert windows == [[1], [0, 2, 5], [3, 4]]  # 10 + 10 + 5 and the gaps: 26 s; then 4 s does not fit
    assert sorted(i for w in windows for i in w) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in w) + (len(w) - 1) * rate // 2 <= 30 * rate for w in windows)
    assert pack_windows([40 * rate], 30 * rate, rate // 2) == [[0]]


def test_a_shared_window_that_fails_is_decoded_alone_then_retried(cut_mid_word, counted):
    """A greedy failure over a shared window (one word for 20 s) fails both clips' checks: each is
    decoded alone, as without sharing, before any retry (and is not counted as one); where that
    fails too, the retries recover each clip from its own VAD windows. None is lost."""
    audio16, _ = cut_mid_word
    ten = 10 * WHISPER_SAMPLE_RATE
    requests = [ClipRequest(f"c{k}", audio16[k * ten : (k + 1) * ten], "en") for k in range(2)]
    model = _fake(fails_over_s=15.0)  # a 20.5-s window fails, a 10-s clip alone is heard
    results = FasterWhisperModelHandler(batch_size=4, share_windows=True).run_inference(requests, model)
    assert model.pipeline.calls == [[pytest.approx(20.5)], [pytest.approx(10.0)] * 2]
    assert all(len(r.words) >= 20 and r.words[-1].end_s <= 10.0 for r in results)
    assert counted["clara_segment/asr_shared_alone"] == 2 and not _retries(counted)
    assert any("2 clips decoded alone" in line for line in summary_lines(dict(counted)))
    counted.clear()
    model = _fake(fails_over_s=5.0)  # alone fails too; each clip is one VAD window: decoded alone again
    results = FasterWhisperModelHandler(batch_size=4, share_windows=True).run_inference(requests, model)
    assert model.pipeline.calls == [[pytest.approx(20.5)], [pytest.approx(10.0)] * 2] and model.model.calls == 2
    assert all(len(r.words) >= 20 and r.words[-1].end_s <= 10.0 for r in results)
    assert (
        counted["clara_segment/asr_recovered/sequential"] == 2 and counted["clara_segment/asr_retry/low_word_rate"] == 2
    )
