"""Linear probe on frozen CLARA audio features (paper §V-D, Table IV).

The encoder is frozen; only a small classifier trains on its features, with cross-entropy,
AdamW at lr 1e-4, at most 20 epochs, and early stopping on the validation loss (the weights
of the best validation epoch are kept). Two heads:

- ``linear``: one ``nn.Linear`` (a true linear probe);
- ``mlp``: the paper's head, three fully connected layers with ReLU and dropout.

Features are the projected, unit-norm embeddings ``z_a`` by default, or the encoder's pooled
output ``f_a(A)`` before the projection head (``features="encoder"``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HEADS: tuple[str, ...] = ("linear", "mlp")


def make_head(kind: str, in_dim: int, n_classes: int, hidden: int = 512, dropout: float = 0.1) -> nn.Module:
    """``linear``: one layer; ``mlp``: Linear → ReLU → Dropout → Linear → ReLU → Dropout → Linear."""
    if kind == "linear":
        return nn.Linear(in_dim, n_classes)
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )
    raise ValueError(f"unknown probe head {kind!r}; heads: {', '.join(HEADS)}")


@dataclass
class ProbeConfig:
    head: str = "linear"
    lr: float = 1e-4
    weight_decay: float = 0.01
    max_epochs: int = 20
    patience: int = 3
    """Epochs without a better validation loss before stopping."""
    batch_size: int = 64
    hidden: int = 512
    dropout: float = 0.1
    seed: int = 0


@dataclass
class ProbeResult:
    head: nn.Module
    best_epoch: int
    """1-based epoch whose weights were kept (lowest validation loss)."""
    epochs_run: int
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "stopped_early": self.stopped_early,
            "history": self.history,
        }


def _as_tensors(x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32), torch.as_tensor(np.asarray(y), dtype=torch.long)


@torch.no_grad()
def mean_loss(head: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    head.eval()
    total = 0.0
    for start in range(0, len(x), batch_size):
        logits = head(x[start : start + batch_size])
        total += F.cross_entropy(logits, y[start : start + batch_size], reduction="sum").item()
    return total / max(len(x), 1)


@torch.no_grad()
def predict_scores(head: nn.Module, x: Any) -> np.ndarray:
    head.eval()
    return head(torch.as_tensor(np.asarray(x), dtype=torch.float32)).numpy()


def train_probe(
    train_x: Any, train_y: Any, valid_x: Any, valid_y: Any, n_classes: int, config: ProbeConfig | None = None
) -> ProbeResult:
    """Fit a probe head with early stopping on ``valid``'s loss; returns the best epoch's head."""
    config = config or ProbeConfig()
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    x, y = _as_tensors(train_x, train_y)
    vx, vy = _as_tensors(valid_x, valid_y)
    head = make_head(config.head, x.shape[1], n_classes, config.hidden, config.dropout)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    best_loss, best_state, best_epoch, since_best = math.inf, copy.deepcopy(head.state_dict()), 0, 0
    history: list[dict[str, float]] = []
    epoch = 0
    for epoch in range(1, config.max_epochs + 1):
        head.train()
        order = torch.randperm(len(x), generator=generator)
        running = 0.0
        for start in range(0, len(x), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = F.cross_entropy(head(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.item() * len(batch)
        valid_loss = mean_loss(head, vx, vy)
        history.append({"epoch": epoch, "train_loss": running / max(len(x), 1), "valid_loss": valid_loss})
        if valid_loss < best_loss:
            best_loss, best_state, best_epoch, since_best = valid_loss, copy.deepcopy(head.state_dict()), epoch, 0
        else:
            since_best += 1
            if since_best >= config.patience:
                break
    head.load_state_dict(best_state)
    head.eval()
    return ProbeResult(head, best_epoch, epoch, epoch < config.max_epochs, history)


def probe_accuracy(result: ProbeResult, test_x: Any, test_y: Any) -> float:
    """Percent of test rows the probe classifies correctly (argmax)."""
    scores = predict_scores(result.head, test_x)
    return float(100.0 * np.mean(scores.argmax(axis=1) == np.asarray(test_y))) if len(scores) else float("nan")
