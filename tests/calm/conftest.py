"""Shared fixtures: small configs of the CALM recipe, and few threads (the machine is shared)."""

from __future__ import annotations

import pytest
import torch

from model.config import TrainConfig, apply_overrides, load_config


@pytest.fixture
def spectran_config() -> TrainConfig:
    return apply_overrides(
        load_config("tiny-calm"),
        ["model.text.encoder=transformer", "model.audio.dim=32", "model.audio.spectran_heads=2", "model.embed_dim=16",
         "model.text.dim=32", "model.text.heads=2", "model.text.layers=1"],
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _few_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
