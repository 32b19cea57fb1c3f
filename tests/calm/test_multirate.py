"""Multirate contrast: short views, the loss, and the CALM recipe training end to end."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from model import distributed
from model.api import ClaraModel
from model.config import apply_overrides, load_config
from model.multirate import multirate_loss, short_views
from model.train import Trainer
from tests.model.conftest import write_toy_shards


def test_short_views_are_windows_of_each_clip_s_valid_samples() -> None:
    audio = torch.arange(2 * 100, dtype=torch.float32).view(2, 100)
    lengths = torch.tensor([100, 30])
    views, view_lengths = short_views(audio, lengths, 40, torch.Generator().manual_seed(1))
    assert view_lengths.tolist() == [40, 30] and views.shape == (2, 40)
    start = int(views[0, 0])
    assert torch.equal(views[0], audio[0, start : start + 40]) and start + 40 <= 100
    assert torch.equal(views[1, :30], audio[1, :30]) and not views[1, 30:].any()
    again, _ = short_views(audio, lengths, 40, torch.Generator().manual_seed(1))
    assert torch.equal(again, views)


def test_multirate_loss_is_symmetric_infonce() -> None:
    torch.manual_seed(0)
    z_long, z_short = F.normalize(torch.randn(5, 8), dim=-1), F.normalize(torch.randn(5, 8), dim=-1)
    logits = (z_long @ z_short.T / 0.1).tolist()
    naive = 0.0
    for k in range(5):
        naive -= math.log(math.exp(logits[k][k]) / sum(math.exp(v) for v in logits[k]))
        naive -= math.log(math.exp(logits[k][k]) / sum(math.exp(logits[n][k]) for n in range(5)))
    assert multirate_loss(z_long, z_short, 0.1).item() == pytest.approx(naive / 5, rel=1e-5)


def test_calm_recipe_trains_and_loads_for_inference(tmp_path: Path) -> None:
    shards = write_toy_shards(tmp_path / "shards")
    config = apply_overrides(
        load_config("tiny-calm"),
        ["model.audio.dim=32", "model.audio.spectran_heads=2", "model.embed_dim=16", "data.batch_size=6",
         "data.num_workers=0", "data.shuffle_buffer=8", "data.shuffle_initial=4", "steps=4", "log_every=2",
         "ckpt_every=4", "val_every=100", "optim.warmup_steps=1", "model.multirate.short_s=0.1"],
    )  # fmt: skip
    args = argparse.Namespace(run=tmp_path / "run", shards=[str(shards)])
    trainer = Trainer(config, args, distributed.setup("cpu"))
    metrics = trainer.run()
    assert trainer.step == 4 and all(math.isfinite(x) for x in trainer.losses)
    assert metrics["text_cache_hit_rate"] > 0.0  # 24 clips, 4 captions: captions repeat
    model = ClaraModel.from_checkpoint(tmp_path / "run", device="cpu")
    text = model.get_text_embeddings(["a clear beep", "un son de 440 hertz"], language=["en", "fr"])
    audio = model.get_audio_embeddings([torch.randn(20_000).numpy() * 0.1])
    assert text.shape == (2, 16) and audio.shape == (1, 16)
    torch.testing.assert_close(text.norm(dim=1), torch.ones(2))
