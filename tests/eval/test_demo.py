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
    assert recipe["audio.input_norm"] == "clip_mean" and recipe["audio.vtlp"] == 0.0
    assert recipe["data.caption_origins"] == ["template", "transcript"]
    assert recipe["audio.whisper"] == "off" and recipe["audio.whisper_dropout"] == 0.0
    assert recipe["audio.whisper_fusion"] == "stem"
    assert recipe_summary(tmp_path / "missing.yaml") == {}
    assert ABLATION == "docs/trainer-ablation.md"


def test_chance_levels_add_the_exact_attribute_only_retrieval_baseline() -> None:
    # Two (language, gender, emotion) groups of 2 and 4 clips: random inside the group.
    original = [{"language": "en", "gender": "male", "emotion": "sad"}] * 2
    original += [{"language": "fr", "gender": "female", "emotion": "sad"}] * 4
    chance = chance_levels(EvalSet(keys=[str(i) for i in range(6)], original=original))
    assert chance["text_to_audio/R@1/attribute_only"] == pytest.approx(100 * (2 * 1 / 2 + 4 * 1 / 4) / 6)
    assert chance["text_to_audio/R@1"] == pytest.approx(100 / 6)
    assert chance["text_to_audio/R@5/attribute_only"] == 100.0


def test_chance_levels_add_the_language_and_gender_only_baseline_beside_it() -> None:
    # (en, male) holds a sad and a happy clip: knowing who speaks which language leaves 2 to choose from.
    from model.demo import _baseline_cell

    original = [{"language": "en", "gender": "male", "emotion": e} for e in ("sad", "happy")]
    original += [{"language": "fr", "gender": "female", "emotion": "sad"}] * 2
    chance = chance_levels(EvalSet(keys=[str(i) for i in range(4)], original=original))
    assert chance["text_to_audio/R@1/attribute_only"] == pytest.approx(100 * (2 * 1 + 2 * 1 / 2) / 4)
    assert chance["text_to_audio/R@1/language_gender_only"] == pytest.approx(50.0)
    assert chance["audio_to_text/R@1/language_gender_only"] == pytest.approx(50.0)
    cell = _baseline_cell("text_to_audio/R@1", chance)
    assert cell == "chance 25.0, language+gender-only 50.0, attribute-only 75.0"


def test_seeds_are_summarised_as_mean_and_sample_sd() -> None:
    from model.demo import seed_summary

    summary = seed_summary([{"m": 60.0}, {"m": 70.0}, {"m": 80.0}])
    assert summary["m"] == {"mean": 70.0, "sd": 10.0, "values": [60.0, 70.0, 80.0]}
    assert seed_summary([{"m": 5.0}])["m"]["sd"] == 0.0  # SEEDS=1


def test_the_checkpoint_is_chosen_on_dev_and_targets_are_read_against_baselines() -> None:
    from model.demo import dev_score, markdown_summary, target_met

    point = {"zeroshot/language/top1_accuracy": 90.0, "zeroshot/gender/top1_accuracy": 99.0, "text_to_audio/R@1": 30.0}
    assert dev_score(point) == pytest.approx(73.0)
    chance = {"text_to_audio/R@1": 2.0, "text_to_audio/R@1/attribute_only": 15.0}
    assert target_met("text_to_audio/R@1", 24.0, chance) == ("≥ attribute-only + 10 (25.0)", "no")
    assert target_met("zeroshot/gender/top1_accuracy", 96.0, chance)[1] == "yes"
    metrics = {**point, "zeroshot/emotion/top1_accuracy": 40.0}
    results = {
        "config": "tiny",
        "summary": {k: {"mean": v, "sd": 1.0, "values": [v - 1, v + 1]} for k, v in metrics.items()},
        "chance": chance,
        "protocol": {
            "clips": {"train": 500, "valid": 90, "test": 95},
            "held_out_voices": {"valid": ["espeak-en-f2"], "test": ["espeak-en-m7"]},
            "held_out_sentences": 40,
            "sentences": 100,
            "train_runs_shared_with_held_out": 0,
        },
        "languages": ["en"],
        "prompts": {"zero_shot_prompts": {"gender": {"prompt": "A {label}", "word_overlap": 1.0}}},
        "seeds": [{"seed": 0, "chosen_step": 800, "curve": [{"step": 800, "dev_score": 50.0, **metrics}]}],
        "wall_time_s": {"shards": 1.0, "train": 2.0, "train_cpu": 3.0, "eval": 4.0},
    }
    text = markdown_summary(results)
    assert "| text_to_audio/R@1 | 30.0 ± 1.0 | 29.0 / 31.0 | chance 2.0, attribute-only 15.0 |" in text
    assert "Test voices espeak-en-m7; dev voices espeak-en-f2" in text and "seed 0: step 800" in text


def test_rate_and_pitch_zero_shot_read_the_truth_grouped_slow_fast_and_low_high() -> None:
    from model.zeroshot import build_prompts, task_values

    levels = ["very_slow", "slow", "moderate", "fast", "very_fast", None]
    original = [{"language": "en", "extra": {"truth": {"rate_level": r, "pitch_level": "very_high"}}} for r in levels]
    clips = EvalSet(keys=[str(i) for i in range(len(levels))], original=original)
    assert clips.field_values("extra.truth.rate_level") == levels
    assert task_values("rate", clips.field_values("extra.truth.rate_level")) == [
        "slow", "slow", None, "fast", "fast", None
    ]  # fmt: skip
    chance = chance_levels(clips)
    assert chance["zeroshot/rate/top1_accuracy"] == pytest.approx(50.0)
    assert chance["zeroshot/rate/majority"] == pytest.approx(50.0)
    assert chance["zeroshot/pitch/majority"] == pytest.approx(100.0)  # one class only
    assert build_prompts("rate", ["fast"])["fast"][0] == ("A person speaking quickly", "en")
    assert build_prompts("pitch", ["low"])["low"][0] == ("A low-pitched voice", "en")
    assert ("Une personne qui parle lentement", "fr") in build_prompts("rate", ["slow"], "fr")["slow"]
    assert ("Eine hohe Stimme", "de") in build_prompts("pitch", ["high"], "de")["high"]


def test_attribute_words_are_abstracted_in_caption_families_and_prompts_overlap_is_measured() -> None:
    from types import SimpleNamespace

    from model.protocol import caption_family, prompt_overlap

    meta = SimpleNamespace(original_data={"language": "en", "gender": "female", "emotion": "angry"})
    caption = "A woman speaks very quickly in a low-pitched, angry voice; the recording is clean"
    family = caption_family(caption, meta, "en")
    assert family == "A {gender} speaks very {rate} in a {pitch}, {emotion} voice; the recording is clean"
    families = [{"family": family}]
    assert prompt_overlap("A person speaking {label}", families, "rate")["word_overlap"] == pytest.approx(0.5)
    assert prompt_overlap("A {label} voice", families, "pitch")["near_training"]


def test_the_demo_trains_its_dev_chosen_recipe_and_a_users_set_still_wins(tmp_path) -> None:
    """The demo's trainer command carries DEMO_RECIPE (batch 64, chosen on dev) after the preset and
    before the user's ``--set``: the config the trainer builds from it has the recipe, unless the user
    said otherwise."""
    import argparse

    from model import demo
    from model.config import apply_overrides, load_config

    def config_of(user: list[str]):
        args = argparse.Namespace(steps=600, checkpoints=5, overrides=user, config="tiny", device="cpu")
        command = demo.trainer_command(["p"], "tiny", tmp_path, 600, "cpu", 120, 120, demo.seed_overrides(args, seed=2))
        sets = [command[i + 1] for i, part in enumerate(command) if part == "--set"]
        return apply_overrides(load_config("tiny"), sets)

    assert load_config("tiny").data.batch_size == 16
    chosen = config_of([])
    assert chosen.data.batch_size == 64 and chosen.seed == 2
    assert "data.batch_size=64" in demo.DEMO_RECIPE and chosen.model.audio.vtlp == 0.1
    audio = chosen.model.audio
    assert (audio.whisper, audio.whisper_fusion, chosen.data.max_audio_s) == ("bundled:base", "pooled", 10.0)
    assert config_of(["model.audio.whisper="]).model.audio.whisper == ""  # the user can turn Whisper off
    assert config_of(["data.batch_size=16"]).data.batch_size == 16
    assert demo.build_parser().parse_args(["--out", "x"]).steps == 2400
