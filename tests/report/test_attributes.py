"""The measured attributes in the dataset card and the report: counts per level, bins, distributions;
nothing of them when the attributes stage did not run."""

from __future__ import annotations

from collections import Counter

from pipelines.card import StatsAccumulator, card_figures, card_markdown
from pipelines.plan import ShardRef
from pipelines.report import summarize
from pipelines.report_data import CorpusFigures
from pipelines.report_html import render
from pipelines.report_plots import PLOTS
from schemas import Augmentation, Caption, SampleMeta

CLEAN = {
    "snr": {"snr_db": 38.0, "method": "wada-snr", "version": "1"},
    "pitch": {"median_hz": 215.0, "spread_semitones": 1.5, "voiced_share": 0.8, "method": "pyin", "version": "x"},
    "words": {"noise": "clean", "pitch": "moderate", "expressiveness": "moderate"},
}
NOISY = {**CLEAN, "snr": {**CLEAN["snr"], "snr_db": -2.5}, "remeasured": ["snr"]}
ALL_PLOTS = {name: f"plots/{name}.png" for name in PLOTS}
NOISY["words"] = {**CLEAN["words"], "noise": "very_noisy"}


def _meta(key: str, attributes: dict | None, copy: bool = False) -> SampleMeta:
    od = {"dataset": "demo", "source_id": "s", "language": "en", "gender": "female"}
    return SampleMeta(
        key=key,
        text=("A woman talking",),
        tag=("speech",),
        original_data={**od, **({"attributes": attributes} if attributes else {})},
        captions=(Caption("A woman talking", "en", "template"),),
        duration_s=1.0,
        split="train",
        augmentations=(Augmentation("noise", {"snr_db": -2.5}),) if copy else (),
    )


def _stats(metas: list[SampleMeta]):
    acc = StatsAccumulator(ShardRef("train", 0, 1), len(metas))
    for meta in metas:
        acc.add_sample(meta, meta.key)
    return acc.result(100)


def test_the_card_counts_every_samples_levels_and_bins_and_a_copy_its_own():
    card = card_figures([_stats([_meta("a_000_0", CLEAN), _meta("a_000_1", NOISY, copy=True)])], Counter())
    measured = card["attributes"]
    assert measured["levels"]["noise"] == {"very_noisy": 1, "clean": 1}  # levels in their order
    assert measured["levels"]["pitch"] == {"moderate": 2}
    assert measured["histograms"]["snr_snr_db"] == {"-20..0": 1, "25..40": 1}
    assert measured["dropped"] == {} and "quality" not in card
    markdown = card_markdown({"name": "x", "format": "f", "schema_version": "1", **card})
    assert "## Measured attributes" in markdown and "- noise: very_noisy: 1, clean: 1" in markdown


def test_without_the_attributes_stage_the_card_and_report_say_nothing_of_them():
    stats = _stats([_meta("a_000_0", None)])
    card = card_figures([stats], Counter())
    assert "attributes" not in card and "quality" not in card
    assert "Measured attributes" not in card_markdown({"name": "x", "format": "f", "schema_version": "1", **card})
    figures = CorpusFigures(stats=[stats])
    figures.add_sample(_meta("a_000_0", None).to_json_dict(), "t.tar", "train")
    report = summarize("x", figures, None)
    assert "attributes" not in report
    page = render({**report, "samples": [], "plots": ALL_PLOTS})
    assert 'id="attributes"' not in page and 'href="#attributes"' not in page


def test_the_report_shows_each_attributes_distribution_and_levels():
    metas = [_meta("a_000_0", CLEAN), _meta("a_000_1", NOISY, copy=True)]
    figures = CorpusFigures(stats=[_stats(metas)])
    for meta in metas:
        figures.add_sample(meta.to_json_dict(), "t.tar", "train")
    report = summarize("x", figures, None)
    measured = report["attributes"]
    assert measured["samples_measured"] == 2
    assert measured["levels"]["noise"] == {"clean": 1, "very_noisy": 1}
    assert measured["distributions"]["snr_snr_db"]["count"] == 2
    assert measured["distributions"]["snr_snr_db"]["min"] == -2.5
    page = render({**report, "samples": [], "plots": ALL_PLOTS})
    assert 'id="attributes"' in page and "plots/attributes.png" in page and "very_noisy" in page
