"""Filters are data: a filter added as one row of ``FILTER_ROWS`` and one settings field is measured,
drops by its threshold with a failure record that carries its reason and value, and shows in the shard
stats, the dataset card and the report without another edit."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from pipelines import sink
from pipelines.plan import ShardRef
from pipelines.report import summarize
from pipelines.report_data import collect
from schemas import Caption, ShardStats
from schemas.settings import setting
from tests.quality.test_measures import sine
from tests.report.conftest import write_shard
from tests.segment.speech import make_sample
from transforms import filters, quality
from transforms.encode import sample_meta
from transforms.filters import Filter, Measuring
from transforms.quality import QualitySettings, QualityStage


def peak_level(m: Measuring) -> dict[str, float]:
    return {"peak_level": round(float(np.max(np.abs(m.sample.audio))), 4)}


PEAK = Filter("peak", peak_level, "peak_level", ">", "max_peak_level", "peaks_too_high", edges=(0, 0.25, 0.5, 0.75, 1))


@dataclass(frozen=True)
class PeakSettings(QualitySettings):
    max_peak_level: float = setting(0.6, "drop clips whose peak is higher (full scale 1)", shapes_output=True)


@pytest.fixture
def with_peak(monkeypatch):
    monkeypatch.setattr(quality, "FILTER_ROWS", (*quality.FILTER_ROWS, PEAK))


def built_corpus(out: Path) -> tuple[dict, list]:
    stage = QualityStage(PeakSettings(filters="clipping,peak"))
    samples = [make_sample(f"k{i}", sine(level)) for i, level in enumerate((0.1, 0.4, 0.3, 0.9))]
    kept, failures = stage.process(samples)
    metas = [sample_meta(s.derive(captions=[Caption("a steady tone", "en", "template")]), "train") for s in kept]
    write_shard(out, ShardRef("train", 0, 1), metas, failures, items_in=len(samples))
    stats = [json.loads(p.read_text()) for p in sorted((out / "train").glob("*.stats.json"))]
    card = sink.finalize(str(out), out.name, [ShardStats.from_dict(s) for s in stats], [], {})
    return card, [json.loads(line) for p in sorted((out / "failures").glob("*.jsonl")) for line in p.open()]


def test_a_row_and_a_settings_field_add_a_filter_that_measures_and_drops(with_peak):
    assert "peak" in quality.parse_filters("all")
    out, failures = QualityStage(PeakSettings(filters="peak")).process(
        [make_sample("soft", sine(0.3)), make_sample("hot", sine(0.9))]
    )
    assert [s.original_data["quality"] for s in out] == [{"peak_level": 0.3}]
    [failure] = failures
    assert (failure.source_key, failure.stage, failure.reason) == ("hot", "quality", "peaks_too_high")
    assert failure.detail == "peak_level=0.9 (max 0.6)"
    with pytest.raises(ValueError, match="unknown filter"):
        QualitySettings(filters="sharpness")


def test_the_added_filter_lands_in_the_failure_records_the_card_and_the_report(with_peak, tmp_path):
    card, records = built_corpus(tmp_path / "c")
    assert [(r["key"], r["stage"], r["reason"], r["detail"]) for r in records] == [
        ("k3_000_0", "quality", "peaks_too_high", "peak_level=0.9 (max 0.6)")
    ]
    histograms = card["quality"]["histograms"]
    assert list(histograms["peak_level"].items()) == [("0..0.25", 1), ("0.25..0.5", 2)]  # the row's bins, in order
    assert histograms["clipping_ratio"] == {"0..0.0001": 3}
    assert card["quality"]["dropped"] == {"peaks_too_high": 1}
    assert "- peak_level: 0..0.25: 1, 0.25..0.5: 2" in (tmp_path / "c" / "dataset_card.md").read_text()

    report = summarize("c", collect(tmp_path / "c", progress_every_s=1e9), card)["quality"]
    assert report["histograms"]["peak_level"] == histograms["peak_level"]
    assert report["distributions"]["peak_level"]["count"] == 3 and report["distributions"]["peak_level"]["max"] == 0.4
    assert report["dropped"] == {"peaks_too_high": 1}


def test_the_shipped_rows_are_consistent_with_their_settings():
    fields = set(QualitySettings.__dataclass_fields__)
    assert all(row.limit in fields for row in quality.FILTER_ROWS)
    assert quality.FILTERS == ("loudness", "clipping", "snr", "language", "asr_confidence", "silence")
    histograms = [row.histogram for row in quality.FILTER_ROWS]
    assert len(histograms) == len(set(histograms))
    with pytest.raises(ValueError, match=r"--max-clipping-ratio must lie in \[0, 1\], got 2"):
        QualitySettings(max_clipping_ratio=2)


def test_verdicts_judge_the_limits_in_row_order_and_the_language_check_last():
    settings = QualitySettings()
    record = {
        "language": {"declared": "en", "detected": "fr", "probability": 0.9, "declared_probability": 0.1,
                     "mismatch": True},
        "speech_share": 0.1,
        "loudness_lufs": -60.0,
    }  # fmt: skip
    assert filters.verdict(quality.FILTER_ROWS, record, settings, speech=True)[0] == "too_quiet"
    del record["loudness_lufs"]
    assert filters.verdict(quality.FILTER_ROWS, record, settings, speech=True)[0] == "mostly_silence"
    assert filters.verdict(quality.FILTER_ROWS, record, settings, speech=False) == (
        "language_mismatch",
        "detected=fr probability=0.9 declared=en declared_probability=0.1",
    )


def test_histogram_values_are_read_once_for_the_stats_and_the_report():
    record = {"loudness_lufs": -23.4, "asr": {"avg_logprob": -0.5, "no_speech_prob": 0.1}, "language": None}
    assert quality.histogram_values(record) == {
        "loudness_lufs": -23.4,
        "language": None,
        "asr_avg_logprob": -0.5,
        "asr_no_speech_prob": 0.1,
    }
    assert sorted(quality.histogram_entries(record)) == [
        ("asr_avg_logprob", "-0.7..-0.4"),
        ("asr_no_speech_prob", "0..0.2"),
        ("language", "not_judged"),
        ("loudness_lufs", "-30..-23"),
    ]
    figures = quality.histogram_figures({"snr_db": Counter({"30..50": 2, "-20..-10": 1}), "other": Counter(b=1, a=2)})
    assert [list(bins) for bins in figures.values()] == [["a", "b"], ["-20..-10", "30..50"]]
