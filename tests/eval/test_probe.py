"""Linear probe heads and early stopping on the validation loss (model/probe.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from model.probe import ProbeConfig, make_head, mean_loss, probe_accuracy, train_probe


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, 8)).astype(np.float32) * 0.3
    x[:, 0] += np.where(y == 1, 2.0, -2.0)
    return x, y


def test_linear_head_is_one_layer_and_mlp_head_has_three_with_relu_and_dropout():
    assert isinstance(make_head("linear", 8, 3), nn.Linear)
    mlp = make_head("mlp", 8, 3, hidden=16)
    assert sum(isinstance(m, nn.Linear) for m in mlp) == 3
    assert sum(isinstance(m, nn.ReLU) for m in mlp) == 2
    assert sum(isinstance(m, nn.Dropout) for m in mlp) == 2


def test_probe_learns_separable_features():
    x, y = _blobs(200, 0)
    vx, vy = _blobs(50, 1)
    tx, ty = _blobs(100, 2)
    result = train_probe(x, y, vx, vy, 2, ProbeConfig(lr=1e-2, max_epochs=20))
    assert probe_accuracy(result, tx, ty) > 95


def test_early_stopping_when_validation_loss_rises_keeps_the_best_epoch():
    x, y = _blobs(200, 0)
    vx, vy = _blobs(50, 1)
    flipped = 1 - vy  # validation disagrees with training: its loss rises as training succeeds
    result = train_probe(x, y, vx, flipped, 2, ProbeConfig(lr=1e-2, max_epochs=20, patience=2))
    losses = [h["valid_loss"] for h in result.history]
    assert result.stopped_early and result.epochs_run < 20
    assert result.epochs_run == result.best_epoch + 2
    assert losses[result.best_epoch - 1] == min(losses)
    restored = mean_loss(result.head, torch.as_tensor(vx), torch.as_tensor(flipped))
    assert restored == pytest.approx(min(losses), rel=1e-5)


def test_probe_runs_at_most_max_epochs_at_the_paper_learning_rate():
    x, y = _blobs(64, 0)
    result = train_probe(x, y, x, y, 2, ProbeConfig(max_epochs=5))
    assert result.epochs_run == 5 and not result.stopped_early
    assert len(result.history) == 5
