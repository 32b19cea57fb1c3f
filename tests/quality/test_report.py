"""The measured filters in the shard stats, the dataset card and the report's "quality" section."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from pipelines import sink
from pipelines.plan import ShardRef
from pipelines.report import write_report
from pipelines.report_html import SECTIONS
from schemas import Failure
from tests.report.conftest import speech_meta, write_shard

QUALITY = [
    {"loudness_lufs": -23.4, "snr_db": 31.2, "language": {"declared": "en", "detected": "en", "probability": 0.97, "declared_probability": 0.97, "mismatch": False}},
    {"loudness_lufs": -18.9, "snr_db": 12.5, "language": {"declared": "en", "detected": "fr", "probability": 0.91, "declared_probability": 0.02, "mismatch": True}},
    {"loudness_lufs": -41.0, "snr_db": 4.0, "language": None},
]  # fmt: skip


def build(out: Path) -> dict:
    samples = [
        dataclasses.replace(meta, original_data={**meta.original_data, "quality": quality})
        for meta, quality in zip(
            (speech_meta(f"q{i}_000_0", "train", 3.0, 3.0, 0, "en", "female") for i in range(3)), QUALITY
        )
    ]
    dropped = [
        Failure("q8_000_0", "speechset", "quality", "too_quiet", "loudness_lufs=-61.2 (min -50.0)", source_key="q8"),
        Failure("q9_000_0", "speechset", "quality", "low_snr", "snr_db=-3.1 (min 0.0)", source_key="q9"),
    ]
    stats = [write_shard(out, ShardRef("train", 0, 1), samples, dropped, items_in=5)]
    return sink.finalize(str(out), out.name, stats, [], {"quality": {"filters": ["loudness", "snr", "language"]}})


def test_shard_stats_and_the_card_count_samples_per_bin_and_the_drops(tmp_path):
    card = build(tmp_path / "q")
    quality = card["quality"]
    assert quality["histograms"]["loudness_lufs"] == {"-50..-40": 1, "-30..-23": 1, "-23..-16": 1}
    assert quality["histograms"]["snr_db"] == {"0..5": 1, "10..20": 1, "30..50": 1}
    assert quality["histograms"]["language"] == {"match": 1, "mismatch": 1, "not_judged": 1}
    assert quality["dropped"] == {"low_snr": 1, "too_quiet": 1}
    stats = json.loads((tmp_path / "q" / "train" / "000000.stats.json").read_text())
    assert stats["quality_histograms"]["snr_db"]["30..50"] == 1
    markdown = (tmp_path / "q" / "dataset_card.md").read_text()
    assert "## Quality" in markdown and "- dropped: low_snr: 1, too_quiet: 1" in markdown


def test_the_report_has_a_quality_section_with_distributions_verdicts_and_drops(tmp_path):
    build(tmp_path / "q")
    report = write_report(tmp_path / "q", samples_per_source=1)
    q = report["quality"]
    assert q["samples_measured"] == 3 and q["dropped"] == {"low_snr": 1, "too_quiet": 1} and q["dropped_total"] == 2
    assert q["distributions"]["snr_db"]["count"] == 3 and q["distributions"]["snr_db"]["max"] == 31.2
    assert q["distributions"]["loudness_lufs"]["min"] == -41.0
    assert q["language"]["verdicts"] == {"match": 1, "mismatch": 1}
    assert q["language"]["declared_to_detected"] == {"en → en": 1, "en → fr": 1}
    assert report["card_check"]["matches"]
    html = (tmp_path / "q" / "report" / "index.html").read_text()
    assert list(SECTIONS).index("quality") < list(SECTIONS).index("failures")
    assert '<section id="quality">' in html and "plots/quality.png" in html and "en → fr" in html
