"""Recipes are checked before any work: schema and settings errors name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.corpus_recipe import RecipeError, load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def recipe(tmp_path, text: str) -> str:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return str(path)


def test_a_dataset_in_several_languages_becomes_one_build_per_language_sharing_its_weight(tmp_path):
    r = load_recipe(
        recipe(
            tmp_path,
            "name: c\noutput: out\ndatasets:\n  - {name: demo, adapter: demo, languages: [en, fr], weight: 2}\n",
        )
    )
    assert [(u.name, u.language, u.weight) for u in r.units] == [("demo-en", "en", 1.0), ("demo-fr", "fr", 1.0)]
    assert r.output == str(tmp_path / "out")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("name: c\noutput: out\ndatasets:\n  - name: a\n    adapter: demo\n    weight: -1\n", 6, "weight"),
        ("name: c\noutput: out\ndatasets:\n  - name: a\n    adaptor: demo\n", 4, "adapter"),
        (
            "name: c\noutput: out\ndatasets:\n  - {name: a, adapter: demo}\n  - {name: b, adapter: nosuch}\n",
            5,
            "nosuch",
        ),
        ("name: c\noutput: out\ndatasets:\n  - {name: a, adapter: demo}\n  - {name: a, adapter: demo}\n", 5, "twice"),
        (
            "name: c\noutput: out\ndatasets:\n  - name: a\n    adapter: demo\n    settings: {plan: {shard_size: 0}}\n",
            4,
            "shard-size",
        ),
        ("name: c\noutput: out\ndatasets:\n  - {name: a, adapter: demo}\neval:\n  - {name: e, dataset: zz}\n", 6, "zz"),
        ("name: c\noutput: out\ndatasets: [\n", 4, "not YAML"),
    ],
)
def test_a_bad_recipe_is_refused_naming_its_line(tmp_path, text, line, words):
    path = recipe(tmp_path, text)
    with pytest.raises(RecipeError) as error:
        load_recipe(path)
    assert str(error.value).startswith(f"{path}:{line}: ")
    assert words in str(error.value)


def test_the_shipped_recipes_load_and_table_vii_names_every_adapter_of_the_papers_corpus():
    demo = load_recipe(str(RECIPES / "demo.yaml"))
    assert [u.name for u in demo.units] == ["demo-en", "demo-fr", "demo-de"]
    table = load_recipe(str(RECIPES / "table_vii.yaml"))
    adapters = {u.adapter for u in table.units}
    assert {
        "commonvoice", "mswc", "ytdlp", "librispeech", "ljspeech", "crema-d", "emns", "emov-db", "ravdess",
        "cmu-arctic", "audiocaps", "vocalsketch", "vocal-imitation", "audioset", "clotho", "vggsound", "esc50",
        "urbansound8k", "fsd50k", "macs", "folder",
    } <= adapters  # fmt: skip
    assert all(u.input and u.input.startswith("<") for u in table.units)  # placeholders until filled in
