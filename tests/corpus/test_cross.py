"""Across the datasets of a recipe: eval sets removed from training, duplicates kept once (recipe order)."""

from __future__ import annotations

import json

import pytest

from tests.corpus import trees
from tests.corpus.conftest import build_recipe, failures, sample_keys, write_recipe

pytestmark = pytest.mark.slow


def test_audiocaps_declared_eval_removes_its_five_clips_from_audioset_each_naming_its_item(tmp_path):
    shared = trees.youtube_ids(5, "sh")
    own = trees.youtube_ids(5, "as")
    trees.audioset(tmp_path / "audioset", shared + own, list(range(10)))
    trees.audiocaps(tmp_path / "audiocaps", shared, list(range(5)), split="test")
    recipe = write_recipe(
        tmp_path / "r.yaml",
        [
            {"name": "audioset", "adapter": "audioset", "input": str(tmp_path / "audioset")},
            {"name": "audiocaps", "adapter": "audiocaps", "input": str(tmp_path / "audiocaps")},
        ],
        evals=[{"name": "audiocaps-test", "dataset": "audiocaps", "splits": ["test"]}],
    )
    assert build_recipe(recipe) == 0
    out = tmp_path / "out"
    removed = {f["key"]: f for f in failures(out, "audioset") if f["stage"] == "corpus"}
    assert sorted(removed) == sorted(f"audioset-{y}-30" for y in shared)
    for y in shared:
        f = removed[f"audioset-{y}-30"]
        assert f["reason"] == "eval_overlap" and f["eval_set"] == "audiocaps-test"
        assert f["detail"] == f"overlaps eval item audiocaps-test: audiocaps-{y}-30 (same origin youtube:{y}@30)"
    assert sample_keys(out, "audioset") == {f"audioset-{y}-30" for y in own}
    card = json.loads((out / "audioset" / "dataset_card.json").read_text())
    assert card["eval_decontamination"] == {"audiocaps-test": 5}
    assert sample_keys(out, "audiocaps") == {f"audiocaps-{y}-30" for y in shared}  # never screened by its own set


def test_esc50_and_fsd50k_sharing_a_freesound_id_are_caught_by_origin(tmp_path):
    trees.esc50(tmp_path / "esc", [100032, 100038], [1, 2])
    trees.fsd50k(tmp_path / "fsd", [100032, 64760], [3, 4])  # other audio: only the id is shared
    recipe = write_recipe(
        tmp_path / "r.yaml",
        [
            {"name": "esc50", "adapter": "esc50", "input": str(tmp_path / "esc")},
            {"name": "fsd50k", "adapter": "fsd50k", "input": str(tmp_path / "fsd")},
        ],
    )
    assert build_recipe(recipe) == 0
    out = tmp_path / "out"
    removed = [f for f in failures(out, "fsd50k") if f["stage"] == "corpus"]
    assert [(f["key"], f["reason"], f["detail"]) for f in removed] == [
        (
            "fsd50k-dev-100032",
            "cross_duplicate",
            "duplicates item of earlier dataset esc50: esc50-1-100032-A-0 (same origin freesound:100032)",
        )
    ]
    assert sample_keys(out, "esc50") == {"esc50-1-100032-A-0", "esc50-1-100038-A-0"}  # the earlier keeps its items
    assert sample_keys(out, "fsd50k") == {"fsd50k-dev-64760"}


def test_a_re_encoded_copy_in_a_later_dataset_is_caught_by_its_audio_fingerprint(tmp_path):
    trees.folder(tmp_path / "a", ["dog_bark", "rain"], [11, 12])
    trees.folder(tmp_path / "b", ["barking_dog", "wind"], [11, 13], encode="mp3")  # dog: same audio as MP3
    recipe = write_recipe(
        tmp_path / "r.yaml",
        [
            {"name": "a", "adapter": "folder", "input": str(tmp_path / "a")},
            {"name": "b", "adapter": "folder", "input": str(tmp_path / "b")},
        ],
    )
    assert build_recipe(recipe) == 0
    removed = [f for f in failures(tmp_path / "out", "b") if f["stage"] == "corpus"]
    assert len(removed) == 1 and removed[0]["reason"] == "cross_duplicate"
    assert "barking_dog" in removed[0]["key"]
    assert removed[0]["detail"].startswith("duplicates item of earlier dataset a: ")
    assert "dog_bark" in removed[0]["detail"] and "audio distance" in removed[0]["detail"]
