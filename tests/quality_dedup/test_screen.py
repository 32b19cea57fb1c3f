"""The build with --dedupe-audio and --exclude-eval: copies and eval overlaps become failures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import soundfile as sf

from tests.conftest import FilesSource
from tests.core.test_pipeline import failure_records, run
from tests.quality_dedup.conftest import recording, save_copies


def card_of(out: Path) -> dict:
    return json.loads((out / "dataset_card.json").read_text())


def test_three_copies_of_one_recording_land_once_and_two_are_duplicate_audio(tmp_path):
    folder = tmp_path / "in"
    copies = save_copies(folder, recording(11), 44_100, "same")
    others = []
    for seed in (12, 13):
        path = folder / f"other{seed}.wav"
        sf.write(path, recording(seed), 44_100)
        others.append(path)
    out = tmp_path / "out"
    run(FilesSource(sorted(copies + others)), out, dedupe_audio=True)

    card = card_of(out)
    assert card["totals"]["samples"] == 3 and card["totals"]["reconciled"]
    assert card["failures_by_reason"] == {"dedupe/duplicate_audio": 2}
    duplicates = {r["key"]: r["detail"] for r in failure_records(out) if r["reason"] == "duplicate_audio"}
    assert sorted(duplicates) == ["files-same_b", "files-same_c"]
    assert all(detail.startswith("duplicates files-same_a ") for detail in duplicates.values())

    again = tmp_path / "again"  # the same files enumerated in the opposite order: the same verdicts
    run(FilesSource(sorted(copies + others, reverse=True)), again, dedupe_audio=True)
    assert failure_records(again) == failure_records(out)


def test_without_the_flag_copies_all_land(tmp_path):
    copies = save_copies(tmp_path / "in", recording(11), 44_100, "same")
    out = tmp_path / "out"
    run(FilesSource(copies), out)
    assert card_of(out)["totals"]["samples"] == 3


def test_training_items_that_share_audio_with_an_eval_folder_are_removed_with_the_eval_item(tmp_path):
    train = tmp_path / "train"
    paths = []
    for seed in range(21, 25):
        path = train / f"clip{seed}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, recording(seed), 44_100)
        paths.append(path)
    evalset = tmp_path / "ESC-like"
    evalset.mkdir()
    shutil.copy(paths[0], evalset / "dog_bark.wav")  # the same file under another name
    save_copies(tmp_path / "tmp", recording(23), 44_100, "copy")[2].rename(evalset / "rain.mp3")  # re-encoded
    sf.write(evalset / "siren.wav", recording(99), 44_100)  # in the eval set only
    out = tmp_path / "out"
    run(FilesSource(paths), out, exclude_eval=(str(evalset),))

    records = [r for r in failure_records(out) if r["reason"] == "eval_overlap"]
    assert {r["key"]: r["eval_set"] for r in records} == {"files-clip21": "ESC-like", "files-clip23": "ESC-like"}
    overlaps = {r["key"]: r["detail"] for r in records}
    assert sorted(overlaps) == ["files-clip21", "files-clip23"]
    assert overlaps["files-clip21"].startswith("overlaps eval item ESC-like: folder/dog_bark.wav (audio distance")
    assert "ESC-like: folder/rain.mp3" in overlaps["files-clip23"]
    card = card_of(out)
    assert card["eval_decontamination"] == {"ESC-like": 2}
    assert card["totals"]["samples"] == 2 and card["totals"]["reconciled"]
    assert "Removed for overlapping an eval set" in (out / "dataset_card.md").read_text()


def test_our_own_shards_as_an_eval_set_remove_by_source_id_and_by_audio(tmp_path):
    evals = tmp_path / "eval_in"
    evals.mkdir()
    for name, seed in (("shared_id", 31), ("shared_audio", 32)):
        sf.write(evals / f"{name}.wav", recording(seed), 44_100)
    run(FilesSource(sorted(evals.glob("*.wav"))), tmp_path / "evalshards")
    train = tmp_path / "train_in"
    train.mkdir()
    sf.write(train / "shared_id.wav", recording(41), 44_100)  # same dataset and id, other audio
    sf.write(train / "renamed.wav", recording(32), 44_100)  # the eval set's audio, another id
    sf.write(train / "fresh.wav", recording(43), 44_100)
    out = tmp_path / "out"
    run(FilesSource(sorted(train.glob("*.wav"))), out, exclude_eval=(str(tmp_path / "evalshards"),))

    records = [r for r in failure_records(out) if r["reason"] == "eval_overlap"]
    assert {r["eval_set"] for r in records} == {"evalshards"}  # by source id and by audio
    overlaps = {r["key"]: r["detail"] for r in records}
    assert overlaps == {
        "files-shared_id": "overlaps eval item evalshards: test-files/shared_id (same source id)",
        "files-renamed": overlaps["files-renamed"],
    }
    assert overlaps["files-renamed"].startswith("overlaps eval item evalshards: test-files/shared_audio (audio")
    assert card_of(out)["eval_decontamination"] == {"evalshards": 2}


def test_an_adapter_folder_as_eval_set_removes_a_training_copy_of_its_clip(tmp_path):
    from pipelines.sources.base import SourceSettings, make_source

    esc = tmp_path / "ESC-50-master"
    (esc / "audio").mkdir(parents=True)
    (esc / "meta").mkdir()
    sf.write(esc / "audio" / "1-100032-A-0.wav", recording(61), 44_100)
    sf.write(esc / "audio" / "5-200032-A-1.wav", recording(62), 44_100)
    (esc / "meta" / "esc50.csv").write_text(
        "filename,fold,target,category,esc10,src_file,take\n"
        "1-100032-A-0.wav,1,0,dog,True,100032,A\n"
        "5-200032-A-1.wav,5,1,rooster,False,200032,A\n"
    )
    train = tmp_path / "mine"
    train.mkdir()
    shutil.copy(esc / "audio" / "5-200032-A-1.wav", train / "rooster.wav")
    sf.write(train / "bell.wav", recording(63), 44_100)
    out = tmp_path / "out"
    source = make_source("folder", SourceSettings(input=str(train)))
    run(source, out, exclude_eval=(f"esc50={esc}",))

    overlaps = {r["key"]: r["detail"] for r in failure_records(out) if r["reason"] == "eval_overlap"}
    assert list(overlaps) == ["folder-rooster"]
    assert overlaps["folder-rooster"].startswith("overlaps eval item ESC-50-master: esc50/5-200032-A-1.wav (audio")
    assert card_of(out)["totals"]["samples"] == 1


def test_eval_paths_are_checked_before_the_build(tmp_path):
    import pytest

    from pipelines.dedupe import parse_eval_sets

    with pytest.raises(ValueError, match="does not exist"):
        parse_eval_sets([str(tmp_path / "nowhere")])
    (tmp_path / "root" / "corpus" / "train").mkdir(parents=True)
    (tmp_path / "root" / "corpus" / "train" / "sizes.json").write_text("{}")
    with pytest.raises(ValueError, match="several corpora"):
        parse_eval_sets([str(tmp_path / "root")])
    (shards,) = parse_eval_sets([str(tmp_path / "root" / "corpus")])
    assert (shards.name, shards.adapter) == ("corpus", None)
    with pytest.raises(ValueError, match="esc50="):  # not an ESC-50 layout
        parse_eval_sets([f"esc50={tmp_path / 'root'}"])
    with pytest.raises(ValueError, match="unknown source"):
        parse_eval_sets([f"nosuch={tmp_path / 'root'}"])


def test_the_card_counts_eval_removals_by_the_failures_eval_set_not_its_wording():
    from pipelines.card import eval_removals
    from schemas import Failure

    overlap = Failure("k1", "d", "dedupe", "eval_overlap", "a detail in any wording: x", eval_set="ESC-50")
    other = Failure("k2", "d", "dedupe", "duplicate_audio", "duplicates k0")
    assert eval_removals([overlap, other], ["ESC-50", "AudioCaps"]) == {"AudioCaps": 0, "ESC-50": 1}
    assert "eval_set" not in other.to_dict() and Failure.from_dict(overlap.to_dict()) == overlap
