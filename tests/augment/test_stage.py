"""The augment stage: originals kept, seeded copies with recorded params and combined captions (transforms/augment.py)."""

from __future__ import annotations

import numpy as np
import pytest

from augment.mix import snr_db_for_weight
from augment.noise import NoiseBank
from tests.augment.conftest import make_sample
from transforms.augment import DEFAULT_AUGMENTATIONS as ALL
from transforms.augment import AugmentSettings, AugmentStage, parse_augmentations


def run(stage: AugmentStage, samples):
    stage.setup()
    return stage.process(samples)


def test_keeps_the_original_and_adds_copies_with_their_own_keys(small_bank: NoiseBank) -> None:
    stage = AugmentStage(AugmentSettings(augmentations=ALL, copies=2, seed=1), noise_bank=small_bank)
    original = make_sample()
    out, failures = run(stage, [original])
    assert failures == []
    assert [s.key for s in out] == ["demo-en-0001_000_0", "demo-en-0001_000_1", "demo-en-0001_000_2"]
    assert out[0] is original and out[0].augmentations == []
    for copy in out[1:]:
        assert copy.audio.shape == original.audio.shape and not np.allclose(copy.audio, original.audio)
        assert copy.original_data["augmented_from"] == original.key


def test_noise_copy_records_lambda_and_the_matching_snr(small_bank: NoiseBank) -> None:
    stage = AugmentStage(AugmentSettings(augmentations=("noise",), copies=3), noise_bank=small_bank)
    out, _ = run(stage, [make_sample()])
    for copy in out[1:]:
        (noise,) = copy.augmentations
        weight = noise.params["noise_weight_lambda"]
        assert noise.name == "noise" and 0.01 <= weight <= 0.8
        assert noise.params["snr_db"] == pytest.approx(snr_db_for_weight(weight), abs=0.01)
        assert noise.params["noise_label"] in small_bank.labels and noise.params["noise_label"] in copy.tags


def test_copy_caption_is_the_combined_template_first_then_the_originals(small_bank: NoiseBank) -> None:
    stage = AugmentStage(AugmentSettings(augmentations=ALL, copies=1, seed=4), noise_bank=small_bank)
    original = make_sample()
    copy = run(stage, [original])[0][1]
    combined = copy.captions[0]
    assert combined.origin == "template" and combined.language == "en"
    assert combined.text.startswith("A male saying It's raining outside in a happy voice")
    assert (
        copy.augmentations[[a.name for a in copy.augmentations].index("noise")].params["noise_label"] in combined.text
    )
    assert copy.captions[1:] == original.captions


def test_sound_event_copy_combines_its_description_with_the_noise(small_bank: NoiseBank) -> None:
    stage = AugmentStage(AugmentSettings(augmentations=("noise",), copies=1), noise_bank=small_bank)
    copy = run(stage, [make_sample(key="esc-dog", transcript=None)])[0][1]
    assert copy.captions[0].text.startswith("A dog barking")


def test_augmenting_twice_gives_identical_audio_and_params(small_bank: NoiseBank) -> None:
    settings = AugmentSettings(augmentations=ALL, copies=2, seed=9)
    first, _ = run(AugmentStage(settings, noise_bank=small_bank), [make_sample()])
    second, _ = run(AugmentStage(settings, noise_bank=small_bank), [make_sample()])
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.audio, b.audio)
        assert a.augmentations == b.augmentations and a.captions == b.captions


def test_another_seed_gives_other_augmentations(small_bank: NoiseBank) -> None:
    a = run(AugmentStage(AugmentSettings(augmentations=ALL, copies=1, seed=1), noise_bank=small_bank), [make_sample()])[
        0
    ][1]
    b = run(AugmentStage(AugmentSettings(augmentations=ALL, copies=1, seed=2), noise_bank=small_bank), [make_sample()])[
        0
    ][1]
    assert a.augmentations != b.augmentations


def test_effects_are_layered_in_the_fixed_order(small_bank: NoiseBank) -> None:
    stage = AugmentStage(AugmentSettings(augmentations=ALL, copies=4, apply_probability=1.0), noise_bank=small_bank)
    for copy in run(stage, [make_sample(seconds=0.3)])[0][1:]:
        assert [a.name for a in copy.augmentations] == ["pitch", "gain", "reverb", "noise", "mask", "clip"]


def test_disabled_stage_passes_samples_through() -> None:
    samples = [make_sample()]
    out, failures = AugmentStage(AugmentSettings(augmentations=(), copies=3)).process(samples)
    assert out == samples and failures == []


def test_a_failing_copy_is_a_failure_and_the_original_goes_on() -> None:
    silent = NoiseBank(entries=(("silence", np.zeros(100, dtype=np.float32)),), name="broken")
    out, failures = run(AugmentStage(AugmentSettings(augmentations=("noise",)), noise_bank=silent), [make_sample()])
    assert [s.key for s in out] == ["demo-en-0001_000_0"]
    assert [(f.key, f.stage, f.reason) for f in failures] == [("demo-en-0001_000_1", "augment", "augment_error")]


def test_noise_without_a_bank_fails_at_setup() -> None:
    with pytest.raises(ValueError, match="noise bank"):
        AugmentStage(AugmentSettings(augmentations=("noise",))).setup()


def test_bank_factory_is_called_once_in_setup(small_bank: NoiseBank) -> None:
    calls = []
    stage = AugmentStage(AugmentSettings(augmentations=ALL), noise_bank_factory=lambda: calls.append(1) or small_bank)
    stage.setup()
    stage.process([make_sample()])
    assert calls == [1]


def test_flags_parse_into_settings() -> None:
    from pipelines.cli import _shards_parser, resolve_config

    args, _ = _shards_parser().parse_known_args(
        ["--augment", "noise,reverb", "--augment-copies", "3", "--augment-seed", "5"]
    )
    settings = resolve_config(args).augment
    assert settings.augmentations == ("noise", "reverb") and settings.copies == 3 and settings.seed == 5
    assert parse_augmentations("all") == ("noise", "reverb", "clip", "mask", "pitch", "gain")
    with pytest.raises(ValueError, match="unknown"):
        parse_augmentations("noise,chorus")


def test_build_config_builds_every_stage_with_defaults_and_the_pipeline_seed() -> None:
    from pipelines.options import config_from
    from transforms.augment import build_augment
    from transforms.rewrite import build_rewrite
    from transforms.translate import build_translate

    config = config_from({"seed": 7, "augment": "noise,clip", "augment_copies": 2, "translate_to": "fr"})
    stage = build_augment(config)
    assert stage.settings.augmentations == ("noise", "clip") and stage.settings.copies == 2 and stage.settings.seed == 7
    assert stage._noise_bank_factory.source == "generated" and stage._noise_bank_factory.seed == 7
    assert build_rewrite(config) is None  # no --llm-url
    assert build_translate(config).languages == ("fr",)
    assert build_augment(config_from({"augment": "gain", "augment_seed": 3})).settings.seed == 3
    assert build_augment(config_from({"augment": "none"})) is None
