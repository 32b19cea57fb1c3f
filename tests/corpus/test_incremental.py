"""A recipe rebuilds only what changed: nothing twice, a new dataset alone, a changed dataset alone."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from pipelines.corpus import main, status_lines
from pipelines.corpus_recipe import load_recipe
from tests.corpus.conftest import build_recipe

pytestmark = pytest.mark.slow

DEMO = {"name": "demo", "adapter": "demo", "settings": {"corpus": {"demo_items": 4}}}


def files_of(folder):
    """Every file under a folder with its bytes and modification time."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def write(path, datasets):
    recipe = {"name": "demo", "output": "out", "settings": {"run": {"workers": 1}}, "datasets": datasets}
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The demo recipe in English, built once (the tests below go on from it, in order)."""
    folder = tmp_path_factory.mktemp("corpus")
    recipe = write(folder / "demo.yaml", [{**DEMO, "languages": ["en"]}])
    assert build_recipe(recipe) == 0
    return folder


def test_building_twice_rewrites_nothing_and_is_quick(corpus):
    before = files_of(corpus / "out")
    started = time.monotonic()
    assert build_recipe(corpus / "demo.yaml") == 0
    assert time.monotonic() - started < 10
    assert files_of(corpus / "out") == before
    assert status_lines(load_recipe(str(corpus / "demo.yaml"))) == ["demo  built"]


def test_adding_a_dataset_builds_only_that_one(corpus):
    english = files_of(corpus / "out" / "demo")
    recipe = write(
        corpus / "demo.yaml", [{**DEMO, "languages": ["en"]}, {**DEMO, "name": "demo-fr", "languages": ["fr"]}]
    )
    assert status_lines(load_recipe(str(recipe))) == ["demo     built", "demo-fr  missing  not built yet"]
    assert build_recipe(recipe) == 0
    assert files_of(corpus / "out" / "demo") == english
    assert (corpus / "out" / "demo-fr" / "dataset_card.json").is_file()


def test_changing_one_datasets_setting_rebuilds_only_it(corpus):
    english = files_of(corpus / "out" / "demo")
    french = {
        **DEMO,
        "name": "demo-fr",
        "languages": ["fr"],
        "settings": {"corpus": {"demo_items": 4}, "plan": {"shard_size": 2}},
    }
    recipe = write(corpus / "demo.yaml", [{**DEMO, "languages": ["en"]}, french])
    assert status_lines(load_recipe(str(recipe))) == ["demo     built", "demo-fr  stale    settings changed"]
    assert build_recipe(recipe) == 0
    assert files_of(corpus / "out" / "demo") == english
    assert len(list((corpus / "out" / "demo-fr").glob("*/*.tar"))) >= 2  # shards of two items now


def test_corpus_card_totals_are_the_sums_of_the_dataset_cards(corpus):
    card = json.loads((corpus / "out" / "corpus_card.json").read_text())
    cards = [json.loads((corpus / "out" / name / "dataset_card.json").read_text()) for name in ("demo", "demo-fr")]
    assert [row["name"] for row in card["datasets"]] == ["demo", "demo-fr"]
    assert card["totals"]["samples"] == sum(c["totals"]["samples"] for c in cards) > 0
    assert card["totals"]["hours"] == pytest.approx(sum(c["totals"]["hours"] for c in cards), abs=1e-4)
    for key in ("hours_by_language", "hours_by_emotion", "hours_by_dataset"):
        names = set().union(*(c[key] for c in cards))
        for name in names:
            assert card["totals"][key][name] == pytest.approx(sum(c[key].get(name, 0) for c in cards), abs=1e-4)
    manifest = json.loads((corpus / "out" / "corpus.json").read_text())
    assert manifest["totals"]["samples"] == card["totals"]["samples"]


def test_validate_fails_on_a_manifest_that_disagrees_with_the_shards(corpus, capsys):
    recipe = str(corpus / "demo.yaml")
    assert main(["validate", recipe]) == 0
    path = corpus / "out" / "corpus.json"
    good = path.read_text()
    manifest = json.loads(good)
    manifest["datasets"][0]["shards"][0]["samples"] += 1
    path.write_text(json.dumps(manifest))
    try:
        assert main(["validate", recipe]) == 1
        assert "the manifest says" in capsys.readouterr().err
    finally:
        path.write_text(good)


def test_validate_fails_on_a_shard_whose_bytes_changed_under_the_manifest(corpus, capsys):
    tar = sorted((corpus / "out" / "demo").glob("*/*.tar"))[0]
    good = tar.read_bytes()
    tar.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # same size, one bit of the end padding
    try:
        assert main(["validate", str(corpus / "demo.yaml")]) == 1
        assert "SHA-256" in capsys.readouterr().err
    finally:
        tar.write_bytes(good)
