"""One dataset's failure does not lose the others' work; a placeholder eval set waits for its input."""

from __future__ import annotations

import json

import pytest

from pipelines.corpus import status_lines
from pipelines.corpus_recipe import load_recipe
from tests.corpus import trees
from tests.corpus.conftest import build_recipe, sample_keys, write_recipe

pytestmark = pytest.mark.slow


def test_a_failing_dataset_is_recorded_and_the_others_are_built(tmp_path):
    trees.folder(tmp_path / "a", ["dog_bark"], [1])
    trees.folder(tmp_path / "c", ["rain"], [2])
    recipe = write_recipe(
        tmp_path / "r.yaml",
        [
            {"name": "a", "adapter": "folder", "input": str(tmp_path / "a")},
            {"name": "b", "adapter": "esc50", "input": str(tmp_path / "a")},  # not an ESC-50 layout
            {"name": "c", "adapter": "folder", "input": str(tmp_path / "c")},
        ],
        evals=[{"name": "later", "adapter": "clotho", "input": "<Clotho, not downloaded yet>"}],
    )
    assert build_recipe(recipe) == 1
    out = tmp_path / "out"
    assert sample_keys(out, "a") and sample_keys(out, "c")
    entries = {e["name"]: e for e in json.loads((out / "corpus.json").read_text())["datasets"]}
    assert entries["b"]["status"] == "failed" and "esc50" in entries["b"]["error"]
    assert [line.split()[:2] for line in status_lines(load_recipe(str(recipe)))] == [
        ["a", "built"],
        ["b", "failed"],
        ["c", "built"],
    ]
    (tmp_path / "a" / "notes.txt").write_text("a new file in the input")
    assert [line.split(None, 2) for line in status_lines(load_recipe(str(recipe)))] == [
        ["a", "stale", "inputs changed"],
        ["b", "failed", entries["b"]["error"]],
        ["c", "stale", "context changed"],  # what it is screened against changed
    ]


def test_an_eval_set_of_a_dataset_in_two_languages_holds_the_items_of_both(tmp_path):
    from pipelines.corpus import build_eval
    from pipelines.corpus_screen import parse_side, side_files

    trees.folder(tmp_path / "e", ["dog_bark"], [1])
    recipe = write_recipe(
        tmp_path / "r.yaml",
        [{"name": "e", "adapter": "folder", "input": str(tmp_path / "e"), "languages": ["en", "fr"]}],
        evals=[{"name": "held-out", "dataset": "e"}],
    )
    loaded = load_recipe(str(recipe))
    build_eval(loaded, loaded.evals[0], ["--direct_num_workers=1"])
    files = side_files(str(tmp_path / "out" / "_corpus" / "eval" / "held-out"))
    assert {f.split("/")[-2] for f in files} == {"e-en", "e-fr"}
    records = [parse_side(line, 0, "held-out") for f in files for line in open(f).read().splitlines()]
    assert len(records) == 2 and all(r.bits and r.buckets for r in records)
