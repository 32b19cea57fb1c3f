"""A CALM training step reads nothing back from the device: its frozen text tower decodes the
loader's host ids, never ids that the step sent to the device (a device→host copy is a sync)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model import distributed
from model.data import make_loader
from model.shards import resolve_shards
from model.train import Trainer, build_parser, resolve_config
from tests.model.conftest import MICRO_OVERRIDES, write_toy_shards

READ_BACKS = ("cpu", "item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__")


@pytest.mark.slow
def test_calm_steps_read_no_value_back_from_tensors_sent_to_the_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shards = write_toy_shards(tmp_path / "shards")
    argv = ["--shards", str(shards), "--run", str(tmp_path / "run"), "--steps", "3", "--config", "tiny-calm"]
    for override in [*MICRO_OVERRIDES, "model.text.max_tokens=128", "ckpt_every=1000", "val_every=1000"]:
        argv += ["--set", override]
    args = build_parser().parse_args(argv)
    trainer = Trainer(resolve_config(args, None), args, distributed.setup("cpu"))
    trainer.model.frontend.per_clip_on_cpu = False  # the log-mel as it runs on a GPU (one batched STFT)

    # On the CPU ``.to(device)`` returns the tensor itself: mark what the step sends to the
    # device, and count reads of a marked tensor's values on the host.
    reads: list[str] = []
    to = torch.Tensor.to

    def marking_to(self, *args, **kwargs):
        target = args[0] if args else kwargs.get("device")
        if isinstance(target, torch.device) and target == trainer.ctx.device:
            self._sent_to_device = True
        return to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", marking_to)
    for name in READ_BACKS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            if getattr(self, "_sent_to_device", False):
                reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    urls = resolve_shards([str(shards)], "train").urls
    batches = iter(make_loader(urls, trainer.config.data, trainer.tokenizer, train=True, seed=0))
    for _ in range(3):
        trainer.train_step(batches)
    assert reads == []
