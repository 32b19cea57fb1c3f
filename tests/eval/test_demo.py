"""The demo's report: chance levels beside every figure, Table II prompts checked against training."""

from __future__ import annotations

import pytest

from model.demo import chance_levels, table_ii_prompt
from model.evalset import EvalSet


def test_chance_levels_are_uniform_guess_majority_share_and_k_over_clips() -> None:
    original = [{"language": lang, "gender": "male" if i % 4 else "female"} for i, lang in enumerate("eeffd" * 4)]
    chance = chance_levels(EvalSet(keys=[str(i) for i in range(20)], original=original))
    assert chance["zeroshot/language/top1_accuracy"] == pytest.approx(100 / 3)
    assert chance["zeroshot/language/majority"] == pytest.approx(40.0)
    assert chance["zeroshot/gender/majority"] == pytest.approx(75.0)
    assert chance["text_to_audio/R@10"] == pytest.approx(50.0) and chance["audio_to_text/R@1"] == pytest.approx(5.0)
    assert "zeroshot/emotion/top1_accuracy" not in chance  # no labels, no figure


def test_zero_shot_prompts_are_table_ii_first_templates() -> None:
    assert [table_ii_prompt(t) for t in ("language", "gender", "emotion")] == [
        "{label} speaker",
        "A {label}",
        "A person talking in a {label} voice",
    ]


def test_results_name_the_recipe_and_point_at_the_ablation(tmp_path) -> None:
    import yaml

    from model.config import load_config
    from model.demo import ABLATION, recipe_summary

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(load_config("tiny").to_dict()))
    recipe = recipe_summary(path)
    assert recipe["audio.input_norm"] == "clip_mean"
    assert recipe["data.caption_origins"] == ["template", "transcript"]
    assert recipe_summary(tmp_path / "missing.yaml") == {}
    assert ABLATION == "docs/trainer-ablation.md"
