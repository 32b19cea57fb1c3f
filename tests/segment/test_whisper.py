"""Whisper engines behind the ModelHandler contract: loading paths, words, batching, RunInference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soxr

from tests.segment.speech import paragraph
from transforms.segment.cut import normalize_token
from transforms.segment.whisper import (
    WHISPER_SAMPLE_RATE,
    ClipRequest,
    FasterWhisperModelHandler,
    OpenAIWhisperModelHandler,
    compression_ratio,
    speech_chunks,
)


def _clip(key: str, language: str = "en", index: int = 0, seconds: float | None = None) -> ClipRequest:
    _, audio, _ = paragraph(language, index)
    audio16 = soxr.resample(audio, 48_000, WHISPER_SAMPLE_RATE).astype(np.float32)
    if seconds is not None:
        audio16 = audio16[: int(seconds * WHISPER_SAMPLE_RATE)]
    return ClipRequest(key, audio16, language)


def _words(text: str) -> set[str]:
    return {normalize_token(t) for t in text.split()} - {""}


@pytest.fixture(scope="module")
def tiny_batched():
    handler = FasterWhisperModelHandler("bundled:tiny.en", batched=True, batch_size=4)
    return handler, handler.load_model()


def test_faster_whisper_gives_words_with_timestamps_inside_the_clip(tiny_batched):
    handler, model = tiny_batched
    (result,) = handler.run_inference([_clip("a", seconds=6.0)], model)
    assert result.key == "a" and result.language == "en"
    assert len(result.words) >= 8
    assert {"quick", "dog", "journey"} <= _words(result.text)
    starts = [w.start_s for w in result.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start_s and w.end_s <= result.duration_s + 0.05 for w in result.words)
    assert result.no_speech_prob < 0.5 and result.compression_ratio < 2.4


def test_packed_batch_maps_each_transcript_back_to_its_own_clip(tiny_batched):
    handler, model = tiny_batched
    clips = [
        _clip("first", index=0, seconds=6.0),
        _clip("second", index=1, seconds=6.0),
        _clip("third", index=2, seconds=6.0),
    ]
    results = handler.run_inference(clips, model)
    assert [r.key for r in results] == ["first", "second", "third"]
    assert "fox" in _words(results[0].text) or "dog" in _words(results[0].text)
    assert "morning" in _words(results[1].text)
    assert "library" in _words(results[2].text)
    for r, clip in zip(results, clips):
        assert r.words and r.words[0].start_s < 1.0  # times are relative to the clip, not the pack
        assert r.words[-1].end_s <= clip.duration_s + 0.05


def test_unbatched_and_batched_engines_hear_the_same_words(tiny_batched):
    handler, model = tiny_batched
    single = FasterWhisperModelHandler("bundled:tiny.en", batched=False)
    clip = _clip("a", index=1, seconds=6.0)
    (one,) = single.run_inference([clip], single.load_model())
    (many,) = handler.run_inference([clip], model)
    overlap = _words(one.text) & _words(many.text)
    assert len(overlap) >= 0.8 * len(_words(one.text))


def test_an_empty_clip_yields_no_words(tiny_batched):
    handler, model = tiny_batched
    (result,) = handler.run_inference([ClipRequest("empty", np.zeros(100, dtype=np.float32))], model)
    assert result.words == () and result.text == ""


def test_english_only_model_reports_english_without_detection(tiny_batched):
    handler, model = tiny_batched
    (result,) = handler.run_inference([dataclasses.replace(_clip("a", seconds=3.0), language=None)], model)
    assert result.language == "en" and not result.language_detected


def test_compute_type_follows_the_device():
    assert FasterWhisperModelHandler(device="cpu").resolved_compute_type() == "int8"
    assert FasterWhisperModelHandler(device="cuda").resolved_compute_type() == "float16"
    assert FasterWhisperModelHandler(device="cpu", compute_type="float32").resolved_compute_type() == "float32"


def test_long_clips_are_split_at_voice_gaps_into_chunks_of_at_most_30_s():
    _, audio, _ = paragraph("en", 0)
    audio16 = soxr.resample(audio, 48_000, WHISPER_SAMPLE_RATE).astype(np.float32)
    long = np.concatenate([audio16, audio16, audio16])  # ~47 s
    chunks = speech_chunks(long)
    assert len(chunks) >= 2
    assert all(0 < end - start <= 30 * WHISPER_SAMPLE_RATE for start, end in chunks)
    assert chunks == sorted(chunks)


def test_compression_ratio_flags_repetition():
    assert compression_ratio("thank you " * 40) > 2.4
    assert compression_ratio("The quick brown fox jumps over the lazy dog.") < 2.4


def test_model_handler_runs_in_run_inference():
    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    clip = _clip("beam", seconds=4.0)
    with TestPipeline() as p:
        keys = (
            p
            | beam.Create([clip])
            | RunInference(FasterWhisperModelHandler("bundled:tiny.en", batch_size=2))
            | beam.Map(lambda t: (t.key, "quick" in _words(t.text)))
        )
        assert_that(keys, equal_to([("beam", True)]))


@pytest.fixture(scope="module")
def tiny_openai_checkpoint(tmp_path_factory):
    """A randomly initialised Whisper saved as openai-whisper saves its checkpoints."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=16,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51865,
        n_text_ctx=16,
        n_text_state=16,
        n_text_head=2,
        n_text_layer=1,
    )
    path = tmp_path_factory.mktemp("openai") / "tiny-random.pt"
    torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": Whisper(dims).state_dict()}, path)
    return str(path)


def test_openai_engine_loads_a_checkpoint_by_path_and_transcribes(tiny_openai_checkpoint):
    handler = OpenAIWhisperModelHandler(tiny_openai_checkpoint, temperature=0.0)
    model = handler.load_model()
    assert model.dims.n_audio_state == 16
    results = handler.run_inference([_clip("x", seconds=3.0), _clip("y", seconds=2.0)], model)
    assert [r.key for r in results] == ["x", "y"]
    assert results[0].language == "en" and not results[0].language_detected
    assert results[0].duration_s == pytest.approx(3.0, abs=0.01)
    assert all(0 <= w.start_s <= 3.05 for w in results[0].words)


def test_openai_engine_detects_and_records_the_language_when_unknown(tiny_openai_checkpoint):
    from whisper.tokenizer import LANGUAGES

    handler = OpenAIWhisperModelHandler(tiny_openai_checkpoint, temperature=0.0)
    (result,) = handler.run_inference(
        [dataclasses.replace(_clip("z", seconds=2.0), language=None)], handler.load_model()
    )
    assert result.language_detected and result.language in LANGUAGES
    assert 0.0 <= result.language_probability <= 1.0
