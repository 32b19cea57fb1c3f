"""QualityStage: each listed filter measures every sample, records the value, and drops by its threshold
with a failure that carries the value."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.options import config_from
from pipelines.stages import build_chain
from schemas import SAMPLE_RATE
from tests.quality.test_measures import sine, speech_like, with_noise
from tests.segment.speech import make_sample, paragraph
from transforms.quality import QualitySettings, QualityStage


def stage(*filters: str, **thresholds) -> QualityStage:
    return QualityStage(QualitySettings(filters=filters, **thresholds))


def run(stage: QualityStage, **named: np.ndarray):
    samples = [make_sample(name, audio) for name, audio in named.items()]
    out, failures = stage.process(samples)
    return {s.item.key: s.original_data["quality"] for s in out}, {f.source_key: f for f in failures}


def test_loudness_drops_the_quiet_clip_and_records_both_values():
    kept, dropped = run(stage("loudness", min_loudness_lufs=-40.0), loud=sine(0.3), quiet=sine(0.003))
    assert list(kept) == ["loud"] and -15 < kept["loud"]["loudness_lufs"] < -5
    failure = dropped["quiet"]
    assert (failure.stage, failure.reason) == ("quality", "too_quiet")
    assert failure.detail.startswith("loudness_lufs=-5") and "(min -40.0)" in failure.detail


def test_clipping_drops_the_clipped_clip():
    kept, dropped = run(stage("clipping"), clean=sine(0.5), clipped=np.clip(sine(1.5), -1.0, 1.0))
    assert kept == {"clean": {"clipping_ratio": 0.0}}
    assert dropped["clipped"].reason == "clipped" and dropped["clipped"].detail.startswith("clipping_ratio=0.")


def test_snr_drops_the_noisy_clip():
    clean = speech_like()
    kept, dropped = run(stage("snr", min_snr_db=10.0), clear=with_noise(clean, 25.0), noisy=with_noise(clean, 2.0))
    assert kept["clear"]["snr_db"] == pytest.approx(25.0, abs=1.5)
    assert dropped["noisy"].reason == "low_snr" and "(min 10.0)" in dropped["noisy"].detail


def asr_sample(name: str, avg_logprob: float, no_speech_prob: float, transcript_from_source: bool = False):
    sample = make_sample(name, sine(0.3), transcript="hello there")
    if not transcript_from_source:
        sample = sample.derive(item=sample.item.__class__(**{**sample.item.__dict__, "transcript": None}))
    segmentation = {"asr_model": "faster:bundled:base", "avg_logprob": avg_logprob, "no_speech_prob": no_speech_prob}
    return sample.derive(original_data={"segmentation": segmentation})


def test_asr_confidence_judges_whisper_transcripts_only():
    samples = [
        asr_sample("sure", -0.3, 0.05),
        asr_sample("unsure", -1.6, 0.1),
        asr_sample("silent", -0.4, 0.9),
        asr_sample("given", -3.0, 0.9, transcript_from_source=True),
    ]
    out, failures = stage("asr_confidence").process(samples)
    assert {s.item.key: s.original_data["quality"]["asr"] for s in out} == {
        "sure": {"avg_logprob": -0.3, "no_speech_prob": 0.05},
        "given": None,  # the source's transcript: nothing of Whisper's to judge
    }
    assert [(f.source_key, f.reason, f.detail) for f in failures] == [
        ("unsure", "low_asr_confidence", "avg_logprob=-1.6 (min -1.0)"),
        ("silent", "low_asr_confidence", "no_speech_prob=0.9 (max 0.6)"),
    ]


def test_the_segment_stage_records_whisper_confidence():
    from transforms.segment.options import SegmentSettings
    from transforms.segment.stage import _asr_record
    from transforms.segment.whisper import Transcription

    t = Transcription(
        key="k",
        text="hi",
        words=(),
        language="en",
        language_probability=None,
        language_detected=False,
        no_speech_prob=0.123456,
        avg_logprob=-0.654321,
        compression_ratio=1.1,
        duration_s=1.0,
    )
    record = _asr_record(SegmentSettings(), t)
    assert (record["avg_logprob"], record["no_speech_prob"]) == (-0.6543, 0.1235)


def test_silence_drops_speech_clips_that_are_mostly_silent():
    _, audio, _ = paragraph("en")
    talk = audio[: 4 * SAMPLE_RATE]
    pause = np.concatenate([talk[: SAMPLE_RATE // 2], np.zeros(8 * SAMPLE_RATE, np.float32)])
    samples = [make_sample("talk", talk, transcript="the quick"), make_sample("pause", pause, transcript="the")]
    out, failures = stage("silence").process(samples)
    [kept] = out
    assert kept.item.key == "talk" and kept.original_data["quality"]["speech_share"] > 0.6
    assert failures[0].reason == "mostly_silence" and failures[0].detail.startswith("speech_share=0.0")


@pytest.fixture(scope="module")
def french():
    _, audio, _ = paragraph("fr")
    return audio[: 8 * SAMPLE_RATE]


def test_a_french_recording_declared_english_is_flagged_by_the_language_check(french):
    english = paragraph("en")[1][: 8 * SAMPLE_RATE]
    flagging = stage("language", language_mismatch="flag")
    out, failures = flagging.process([make_sample("fr_as_en", french, "en"), make_sample("en", english, "en")])
    assert failures == []
    flagged, fine = (s.original_data["quality"]["language"] for s in out)
    assert flagged["declared"] == "en" and flagged["detected"] == "fr" and flagged["mismatch"] is True
    assert flagged["probability"] > 0.5 and flagged["declared_probability"] < 0.5
    assert fine["detected"] == "en" and fine["mismatch"] is False


def test_with_language_mismatch_drop_it_becomes_a_failure(french):
    out, [failure] = stage("language").process([make_sample("fr_as_en", french, "en")])
    assert out == [] and failure.reason == "language_mismatch"
    assert "detected=fr" in failure.detail and "declared=en" in failure.detail


def test_filters_flag_builds_the_stage_after_segmentation_and_before_augmentation():
    config = config_from({"filters": "loudness,snr", "quality.min_snr_db": 12})
    names = [s.name for s in build_chain(config)]
    assert names.index("segment") < names.index("quality") < names.index("describe")
    quality = next(s for s in build_chain(config) if s.name == "quality")
    assert quality.settings.filters == ("loudness", "snr") and quality.settings.min_snr_db == 12.0
    assert "quality" not in [s.name for s in build_chain(config_from({}))]


def test_an_english_only_whisper_records_no_language_and_drops_nothing():
    from types import SimpleNamespace

    english_only = stage("language")
    english_only._whisper = SimpleNamespace(multilingual=False)
    [out], failures = english_only.process([make_sample("x", sine(0.3), "fr")])
    assert failures == [] and out.original_data["quality"] == {"language": None}


def test_settings_come_from_yaml_lists_and_set_too(tmp_path):
    from pipelines.options import build_config
    from schemas.settings import load_yaml, parse_assignments

    path = tmp_path / "build.yaml"
    path.write_text("quality: {filters: [snr, silence], min_speech_share: 0.5}\n")
    config = build_config(load_yaml(path), parse_assignments(["quality.language_mismatch=flag"]))
    assert config.quality.filters == ("snr", "silence") and config.quality.min_speech_share == 0.5
    assert config.quality.language_mismatch == "flag"
    with pytest.raises(ValueError, match="unknown filter"):
        config_from({"filters": "loudness,sharpness"})
