"""``clara report``: every section, valid plots, the dataset card's numbers, a sample browser."""

from __future__ import annotations

import json
import random
from html.parser import HTMLParser
from pathlib import Path

import pytest
import soundfile as sf
from PIL import Image

from pipelines.cli import main as clara
from pipelines.report_data import Reservoir
from pipelines.report_html import SECTIONS
from pipelines.report_plots import PLOTS
from tests.report.conftest import MIXED_LAMBDA, MIXED_LONG_SOURCE_S, MIXED_SEGMENTS_S, MIXED_SNR_DB

CORPORA = ("demo-en", "mixed")


class Page(HTMLParser):
    """The parts of index.html the tests look at: section ids, images, audio sources, text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.audio: list[str] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a["id"] or "")
        elif tag == "img":
            self.images.append(a["src"] or "")
        elif tag == "audio":
            self.audio.append(a["src"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def load(root: Path, corpus: str) -> tuple[dict, dict, Page, Path]:
    folder = root / corpus / "report"
    report = json.loads((folder / "report.json").read_text())
    card = json.loads((root / corpus / "dataset_card.json").read_text())
    return report, card, Page((folder / "index.html").read_text()), folder


@pytest.mark.parametrize("corpus", CORPORA)
def test_index_has_every_section_in_order(reported, corpus):
    report, _, page, _ = load(reported, corpus)
    assert page.sections == [sid for sid in SECTIONS if sid != "attributes" or "attributes" in report]


@pytest.mark.parametrize("corpus", CORPORA)
def test_every_plot_is_a_valid_png_linked_from_the_page(reported, corpus):
    report, _, page, folder = load(reported, corpus)
    drawn = [name for name in PLOTS if name != "attributes" or "attributes" in report]  # only when measured
    assert sorted(page.images) == sorted(f"plots/{name}.png" for name in drawn) == sorted(report["plots"].values())
    for src in page.images:
        with Image.open(folder / src) as image:
            image.verify()
        with Image.open(folder / src) as image:
            assert image.format == "PNG" and image.width >= 600 and image.height >= 150
        assert (folder / src).stat().st_size < 200_000


@pytest.mark.parametrize("corpus", CORPORA)
def test_hours_and_counts_equal_the_dataset_card(reported, corpus):
    report, card, page, _ = load(reported, corpus)
    for field in ("totals", "splits", "hours_by_language", "hours_by_gender", "hours_by_emotion", "hours_by_dataset"):
        assert report[field] == card[field], field
    assert report["samples_by_gender"] == card["samples_by_gender"]
    assert report["failures"]["by_reason"] == card["failures_by_reason"]
    assert report["hours_by_split"] == {split: v["hours"] for split, v in card["splits"].items()}
    total = report["table_vii"]["total"]
    assert total["samples"] == card["totals"]["samples"]
    assert total["hours"] == pytest.approx(card["totals"]["hours"], abs=1e-3)
    gender = card["samples_by_gender"]
    assert (total["male"], total["female"]) == (gender.get("male", 0), gender.get("female", 0))
    assert report["card_check"] == {"card": True, "matches": True, "differences": []}
    assert f"{card['totals']['samples']:,}" in page.text


def test_table_vii_describes_each_source_dataset(reported):
    report, _, _, _ = load(reported, "mixed")
    rows = {row["dataset"]: row for row in report["table_vii"]["rows"]}
    speech, sounds = rows["speechset"], rows["soundset"]
    assert (speech["content"], speech["languages"], speech["male"], speech["female"], speech["unknown"]) == (
        "SP/E/G",
        2,
        7,
        3,
        0,
    )
    assert (sounds["content"], sounds["languages"], sounds["male"], sounds["female"], sounds["unknown"]) == (
        "S",
        1,
        0,
        0,
        4,
    )
    assert report["table_vii"]["total"]["languages"] == 3  # en, fr, und
    demo, *_ = load(reported, "demo-en")
    assert [r["content"] for r in demo["table_vii"]["rows"]] == ["SP/E/G"]


def test_durations_before_and_after_segmentation(reported):
    report, _, _, _ = load(reported, "mixed")
    source, segments = report["durations"]["source"], report["durations"]["segments"]
    assert (source["count"], source["max"]) == (8, MIXED_LONG_SOURCE_S)  # one per recording, copies left out
    assert (segments["count"], segments["max"]) == (10, max(MIXED_SEGMENTS_S))
    assert sum(source["counts"]) == 8 and sum(segments["counts"]) == 10
    assert source["edges"] == segments["edges"]  # one scale, so the two can be compared


def test_caption_share_by_origin_language_and_length(reported):
    report, _, _, _ = load(reported, "mixed")
    assert report["captions_by_origin"] == {"template": 10, "transcript": 10, "human": 4, "translation": 4}
    assert report["captions_by_language"] == {"en": 18, "fr": 10}
    words = report["caption_words"]
    assert words["count"] == 28 and sum(words["counts"]) == 28 and (words["min"], words["max"]) == (2, 9)


def test_noise_mix_snr_lambda_and_augmentation_counts(reported):
    report, _, page, _ = load(reported, "mixed")
    snr, weight = report["noise_mix"]["snr_db"], report["noise_mix"]["lambda"]
    assert (snr["count"], snr["min"], snr["max"]) == (4, min(MIXED_SNR_DB), max(MIXED_SNR_DB))
    assert (weight["count"], weight["min"], weight["max"]) == (4, min(MIXED_LAMBDA), max(MIXED_LAMBDA))
    assert snr["mean"] == pytest.approx(sum(MIXED_SNR_DB) / 4)
    assert report["augmentations"] == {
        "by_name": {"noise": 4, "reverb": 2},
        "augmented_samples": 4,
        "original_samples": 10,
    }
    demo, *_ = load(reported, "demo-en")
    # the demo makes one augmented copy per sample by default (noise, reverb)
    aug = demo["augmentations"]
    assert aug["augmented_samples"] == aug["original_samples"] > 0
    assert demo["noise_mix"]["snr_db"]["count"] == aug["by_name"].get("noise", 0)


def test_failures_by_stage_and_reason_with_examples(reported):
    report, card, page, _ = load(reported, "mixed")
    failures = report["failures"]
    assert failures["by_stage"] == {"decode": 2, "segment": 1, "source": 1}
    assert failures["by_reason"] == card["failures_by_reason"] and failures["total"] == 4
    assert failures["examples"]["source/missing_file"][0]["key"] == "lost"
    assert failures["examples"]["decode/not_audio"][0]["file"] == "train-000000.jsonl"
    text = " ".join(page.text)
    assert "whisper found no words" in text and "segment/no_speech" in text


@pytest.mark.parametrize("corpus", CORPORA)
def test_sample_browser_plays_extracted_flacs_for_each_source(reported, corpus):
    report, _, page, folder = load(reported, corpus)
    datasets = {row["dataset"] for row in report["table_vii"]["rows"]}
    assert {s["dataset"] for s in report["samples"]} == datasets
    for dataset in datasets:
        assert len([s for s in report["samples"] if s["dataset"] == dataset]) == 2  # --samples-per-source 2
    assert page.audio == [s["audio"] for s in report["samples"]]
    for src in page.audio:
        info = sf.info(folder / src)
        assert src.startswith("samples/") and info.format == "FLAC" and info.samplerate == 48_000
    first = report["samples"][0]
    assert first["captions"] and all(c["text"] in " ".join(page.text) for c in first["captions"])


def test_report_folder_replaces_the_previous_one_and_leaves_no_temp(reported, capsys):
    stale = reported / "mixed" / "report" / "samples" / "stale.flac"
    stale.write_bytes(b"old")
    assert clara(["report", str(reported / "mixed"), "--samples-per-source", "2"]) == 0
    assert not stale.exists()
    assert not list((reported / "mixed").glob(".report.tmp-*"))
    out, err = capsys.readouterr()
    assert "mixed/report/index.html: 14 samples" in out and "matches the dataset card" in out
    assert "[report] mixed: 3/3 shards, 14 samples" in err  # progress goes to stderr


def test_a_card_that_disagrees_with_the_shards_is_named_and_exits_1(reported, tmp_path, capsys):
    import shutil

    copy = tmp_path / "mixed"
    shutil.copytree(reported / "mixed", copy)
    card = json.loads((copy / "dataset_card.json").read_text())
    card["hours_by_language"]["en"] += 1.0
    (copy / "dataset_card.json").write_text(json.dumps(card))
    assert clara(["report", str(copy)]) == 1
    captured = capsys.readouterr()
    assert "DIFFERS from the dataset card" in captured.out and "hours_by_language" in captured.err
    assert "hours_by_language" in (copy / "report" / "index.html").read_text()


def test_a_folder_without_shards_is_one_clear_error_with_exit_1(tmp_path, capsys):
    (tmp_path / "empty-corpus" / "train").mkdir(parents=True)
    assert clara(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "no shards under" in err and len(err.splitlines()) == 1
    assert clara(["report", str(tmp_path / "missing")]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_reservoir_keeps_a_bounded_uniform_seeded_choice():
    picks = []
    for seed in range(400):
        reservoir = Reservoir(3, random.Random(seed))
        for item in range(30):
            reservoir.offer(item)
        assert len(reservoir.items) == 3 and reservoir.seen == 30
        picks.extend(reservoir.items)
    assert min(picks.count(i) for i in range(30)) > 10  # every item can be chosen (expected 40 each)
    again = Reservoir(3, random.Random(7))
    first = Reservoir(3, random.Random(7))
    for item in range(30):
        again.offer(item)
        first.offer(item)
    assert again.items == first.items
