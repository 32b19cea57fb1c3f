"""Presets, YAML files and command-line overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model.config import PRESETS, apply_overrides, load_config
from model.heads import Clara, count_parameters


@pytest.mark.parametrize(("name", "millions"), [("60M", 60), ("100M", 100), ("600M", 600)])
def test_named_presets_have_about_their_parameter_count(name: str, millions: int) -> None:
    with torch.device("meta"):
        model = Clara(load_config(name).model)
    assert abs(count_parameters(model) / 1e6 - millions) / millions < 0.1


def test_clara_shapes_follow_the_paper() -> None:
    audio = load_config("100M").model.audio
    text = load_config("100M").model.text
    assert (audio.dim, audio.n_latents, audio.latent_layers, audio.cross_heads, audio.latent_heads) == (
        512,
        512,
        10,
        2,
        16,
    )
    assert (text.layers, text.heads) == (10, 8)
    assert (audio.sample_rate, audio.n_mels, audio.f_max_hz, audio.n_fft, audio.hop_length) == (
        48_000,
        80,
        8_000.0,
        1024,
        512,
    )


def test_overrides_parse_values_and_reject_unknown_keys() -> None:
    config = apply_overrides(load_config("tiny"), ["optim.lr=3e-4", "compile=true", "data.batch_size=2"])
    assert (config.optim.lr, config.compile, config.data.batch_size) == (3e-4, True, 2)
    with pytest.raises(KeyError):
        apply_overrides(config, ["optim.learning_rate=1"])


def test_yaml_file_overrides_a_base_preset(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("base: tiny\nsteps: 7\nmodel:\n  audio:\n    latent_layers: 1\n")
    config = load_config(str(path))
    assert (config.name, config.steps, config.model.audio.latent_layers) == ("mine", 7, 1)
    assert config.model.text == load_config("tiny").model.text


def test_config_round_trips_through_a_dict() -> None:
    for name in PRESETS:
        config = load_config(name)
        assert type(config).from_dict(config.to_dict()) == config
