"""The segment stage: pass-through, cutting, failures, MFA policy and options wiring."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.options import config_from
from schemas import SAMPLE_RATE
from tests.segment.speech import make_sample, paragraph
from tests.segment.test_mfa import _install_fake, _resources
from transforms.segment import SegmentSettings, SegmentStage
from transforms.segment.cut import normalize_token
from transforms.segment.mfa import MfaUnavailableError
from transforms.segment.stage import check_segment


@pytest.fixture(scope="module")
def whisper_stage():
    stage = SegmentStage(whisper_model="bundled:tiny.en", transcribe_missing=True)
    stage.setup()
    return stage


def _cuts_between_true_words(out, words) -> list[bool]:
    ok = []
    for s in out:
        for cut in (s.segment.start_s, s.segment.start_s + s.segment.duration_s):
            ok.append(not any(w.start_s < cut < w.end_s for w in words))
    return ok


def test_short_items_pass_unchanged_without_loading_a_model():
    stage = SegmentStage(aligner="given")
    stage.setup()
    sample = make_sample("short", np.zeros(SAMPLE_RATE * 5, dtype=np.float32), transcript="hi")
    out, failures = stage.process([sample])
    assert out == [sample] and failures == [] and stage.model is None


def test_long_items_are_cut_from_their_own_word_timings():
    text, audio, words = paragraph("en", 0)
    stage = SegmentStage(aligner="given")
    stage.setup()
    out, failures = stage.process([make_sample("p", audio, transcript=text, words=words)])
    assert not failures and len(out) >= 2
    assert [s.segment.index for s in out] == list(range(len(out)))
    assert [s.key for s in out] == [f"p_{i:03d}_0" for i in range(len(out))]
    assert all(s.duration_s <= 10.0 for s in out)
    assert all(_cuts_between_true_words(out, words))
    assert " ".join(s.transcript for s in out) == text
    for s in out:
        assert len(s.audio) == pytest.approx(s.segment.duration_s * SAMPLE_RATE, abs=2)
        assert s.source_duration_s == pytest.approx(len(audio) / SAMPLE_RATE)
        assert s.original_data["segmentation"]["aligner"] == "given"


def test_whisper_cuts_long_speech_between_the_true_words(whisper_stage):
    text, audio, words = paragraph("en", 1)
    out, failures = whisper_stage.process([make_sample("w", audio)])
    assert not failures and len(out) >= 2
    assert all(s.duration_s <= 10.0 for s in out)
    assert all(_cuts_between_true_words(out, words))
    heard = {normalize_token(t) for s in out for t in s.transcript.split()}
    assert {"baker", "village", "garden"} & heard
    assert out[0].original_data["segmentation"]["transcript_source"] == "asr"


def test_source_transcript_is_kept_when_whisper_only_times_the_words(whisper_stage):
    text, audio, _ = paragraph("en", 2)
    out, _ = whisper_stage.process([make_sample("t", audio, transcript=text)])
    assert " ".join(s.transcript for s in out) == text
    assert out[0].original_data["segmentation"]["transcript_source"] == "source"


def test_short_items_without_transcript_are_transcribed_when_asked(whisper_stage):
    _, audio, _ = paragraph("en", 0)
    (out,), failures = whisper_stage.process([make_sample("s", audio[: 5 * SAMPLE_RATE])])
    assert not failures and "quick" in out.transcript.lower()
    assert out.segment.words and out.segment.index == 0 and len(out.audio) == 5 * SAMPLE_RATE


def test_silence_and_noise_are_failures_when_long_and_kept_untranscribed_when_short(whisper_stage):
    rng = np.random.default_rng(0)
    silence = np.zeros(SAMPLE_RATE * 14, dtype=np.float32)
    noise = rng.normal(0, 0.05, SAMPLE_RATE * 12).astype(np.float32)
    short_silence = np.zeros(SAMPLE_RATE * 4, dtype=np.float32)
    out, failures = whisper_stage.process(
        [make_sample("sil", silence), make_sample("noise", noise), make_sample("short", short_silence)]
    )
    assert {f.key: f.stage for f in failures} == {"sil_000_0": "segment", "noise_000_0": "segment"}
    assert all(f.reason in {"no_speech", "text_without_speech", "hallucination_repetition"} for f in failures)
    (kept,) = out
    assert kept.key == "short_000_0" and kept.transcript is None
    assert kept.original_data["segmentation"]["transcript_rejected"]


def test_non_speech_can_be_split_by_time_instead():
    stage = SegmentStage(whisper_model="bundled:tiny.en", non_speech="split")
    out, failures = stage.process([make_sample("music", np.zeros(SAMPLE_RATE * 25, dtype=np.float32))])
    assert not failures and len(out) == 3
    assert all(s.duration_s <= 10.0 and s.transcript is None for s in out)


def test_mfa_requested_without_binary_fails_at_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    dictionary, model = _resources(tmp_path)
    stage = SegmentStage(aligner="mfa", mfa_dictionary=dictionary, mfa_acoustic_model=model)
    with pytest.raises(MfaUnavailableError):
        stage.setup()
    with pytest.raises(ValueError, match="mfa"):
        check_segment(config_from({"aligner": "mfa", "mfa_dictionary": dictionary, "mfa_acoustic_model": model}))


def test_mfa_aligns_items_with_transcripts_and_falls_back_to_whisper(tmp_path, whisper_stage):
    dictionary, model = _resources(tmp_path)
    stage = SegmentStage(
        whisper_stage.settings,
        aligner="mfa",
        mfa_dictionary=dictionary,
        mfa_acoustic_model=model,
        mfa_binary=_install_fake(tmp_path),
    )
    stage.setup()
    text, audio, _ = paragraph("en", 0)
    out, failures = stage.process(
        [make_sample("ok", audio, transcript=text), make_sample("fail", audio, transcript=text)]
    )
    assert not failures
    by_source = {}
    for s in out:
        by_source.setdefault(s.item.key, []).append(s)
    assert by_source["ok"][0].original_data["segmentation"]["aligner"] == "mfa"
    assert by_source["fail"][0].original_data["segmentation"]["aligner"] == "whisper"
    assert "mfa failed" in by_source["fail"][0].original_data["segmentation"]["fallback"]
    for parts in by_source.values():
        assert " ".join(s.transcript for s in parts) == text


def test_flags_yaml_and_set_build_the_same_stage(tmp_path):
    from pipelines.cli import _shards_parser, resolve_config
    from pipelines.stages import build_chain

    argv = [
        "--max-segment-s",
        "8",
        "--aligner",
        "given",
        "--whisper-model",
        "bundled:tiny.en",
        "--whisper-batch-size",
        "4",
    ]
    yaml = tmp_path / "build.yaml"
    yaml.write_text(
        "segment: {max_segment_s: 8, aligner: given, whisper_model: bundled:tiny.en, whisper_batch_size: 4}"
    )
    for given in (argv, ["--config", str(yaml)]):
        args, _ = _shards_parser().parse_known_args(given)
        [stage] = [s for s in build_chain(resolve_config(args)) if s.name == "segment"]
        assert stage.settings.max_segment_s == 8.0 and stage.settings.aligner == "given"
        assert stage.settings.whisper_model == "bundled:tiny.en" and stage.settings.whisper_batch_size == 4


def test_bad_settings_are_rejected_with_one_message():
    with pytest.raises(ValueError, match="aligner"):
        config_from({"aligner": "guess"})
    with pytest.raises(ValueError, match="min-segment-s"):
        SegmentSettings(max_segment_s=2.0, min_segment_s=3.0)
