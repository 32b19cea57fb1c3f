"""Training: the model learns, resuming is exact, the CLI writes checkpoints and logs."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from model import distributed
from model.checkpoint import find_checkpoint, load_clara, read_checkpoint
from model.config import TrainConfig
from model.heads import Clara
from model.loss import clip_loss
from model.train import Trainer, build_optimizer, build_parser, lr_factor, main
from tests.model.conftest import MICRO_OVERRIDES


def test_a_tiny_model_overfits_a_handful_of_pairs(micro_config: TrainConfig) -> None:
    torch.manual_seed(0)
    n = 8
    model = Clara(micro_config.model)
    micro_config.optim.lr = 1e-3
    optimizer = build_optimizer(model, micro_config.optim)
    t = torch.arange(9_600) / 48_000
    audio = torch.stack([0.3 * torch.sin(2 * math.pi * 200.0 * (i + 1) * t) for i in range(n)])  # 8 pitches
    lengths = torch.full((n,), 9_600)
    tokens = torch.randint(0, 50_000, (n, 6))
    mask = torch.ones_like(tokens, dtype=torch.bool)
    for _ in range(100):
        loss = clip_loss(*model(audio, lengths, tokens, mask))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * math.log(n)  # chance is 2·log N


def test_learning_rate_warms_up_linearly_then_decays_to_the_floor(micro_config: TrainConfig) -> None:
    optim = micro_config.optim
    optim.warmup_steps, optim.lr, optim.min_lr = 10, 1e-3, 1e-5
    assert math.isclose(lr_factor(4, optim, 100), 0.5)
    assert math.isclose(lr_factor(10, optim, 100), 1.0)
    assert math.isclose(lr_factor(100, optim, 100), 0.01)


def _trainer(shards: Path, run: Path, steps: int, *extra: str) -> Trainer:
    argv = ["--shards", str(shards), "--run", str(run), "--steps", str(steps)]
    for override in [*MICRO_OVERRIDES, "ckpt_every=2", "log_every=1", "val_every=1000", *extra]:
        argv += ["--set", override]
    args = build_parser().parse_args(argv)
    from model.train import resolve_config

    return Trainer(resolve_config(args, None), args, distributed.setup("cpu"))


def test_resuming_gives_the_same_next_step_losses_as_not_stopping(toy_shards: Path, tmp_path: Path) -> None:
    overrides = ("model.head_dropout=0.1", "optim.warmup_steps=2")
    straight = _trainer(toy_shards, tmp_path / "straight", 5, *overrides)
    straight.run()
    interrupted = _trainer(toy_shards, tmp_path / "interrupted", 5, *overrides)
    interrupted.config.steps = 3  # stop after the checkpoint at step 2 (and one more step)
    interrupted.run()
    checkpoint = read_checkpoint(tmp_path / "interrupted" / "checkpoints" / "step_00000002.pt")
    resumed = _trainer(toy_shards, tmp_path / "interrupted", 5, *overrides)
    resumed.load(checkpoint)
    resumed.run()
    assert resumed.step == 5 and len(resumed.losses) == 3
    assert resumed.losses == straight.losses[2:]


def test_cli_trains_writes_checkpoints_and_tensorboard_and_loads_back(toy_shards: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = ["--shards", str(toy_shards), "--config", "tiny", "--run", str(run), "--steps", "2", "--device", "cpu"]
    for override in [*MICRO_OVERRIDES, "ckpt_every=1", "keep_checkpoints=1", "val_every=2", "val_batches=2"]:
        argv += ["--set", override]
    assert main(argv) == 0
    assert find_checkpoint(run).name == "step_00000002.pt"
    assert [p.name for p in (run / "checkpoints").glob("*.pt")] == ["step_00000002.pt"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = set(EventAccumulator(str(run / "tensorboard")).Reload().Tags()["scalars"])
    expected = {"loss", "tau_a", "tau_t", "lr", "samples_per_s", "data_wait"}
    assert {f"train/{name}" for name in expected} <= scalars
    assert {"valid/loss", "valid/batch_a2t_R@1", "valid/set_t2a_R@1"} <= scalars
    loaded = load_clara(run)
    assert loaded.step == 2 and loaded.config.model.audio.dim == 32
    z_a = loaded.embed_audio([torch.randn(4_800).numpy(), torch.randn(96_000)])
    z_t = loaded.embed_text(["a clear beep", "un bip clair"], ["en", "fr"])
    assert z_a.shape == z_t.shape == (2, 32)
    torch.testing.assert_close(z_t.norm(dim=-1), torch.ones(2))


def test_cli_resume_continues_from_the_latest_checkpoint(toy_shards: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = ["--shards", str(toy_shards), "--run", str(run), "--device", "cpu"]
    for override in [*MICRO_OVERRIDES, "ckpt_every=1", "val_every=100"]:
        argv += ["--set", override]
    assert main([*argv, "--steps", "1", "--resume", "auto"]) == 0  # nothing to resume: starts fresh
    assert main([*argv, "--steps", "2", "--resume"]) == 0
    assert read_checkpoint(run)["step"] == 2


def test_cli_reports_missing_shards_with_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["--shards", str(tmp_path / "nope"), "--run", str(tmp_path / "run"), "--device", "cpu"]) == 2
    assert "nope" in capsys.readouterr().err


def test_print_config_applies_overrides(capsys) -> None:
    assert main(["--shards", "x", "--run", "r", "--config", "100M", "--set", "optim.lr=3e-4", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "lr: 0.0003" in out and "latent_layers: 10" in out


def test_gradient_accumulation_reads_accum_steps_batches_per_optimiser_step(toy_shards: Path, tmp_path: Path) -> None:
    trainer = _trainer(toy_shards, tmp_path / "run", 2, "optim.accum_steps=3", "data.batch_size=2")
    trainer.run()
    ((_, position),) = trainer.stream_positions.values()
    assert trainer.step == 2 and len(trainer.losses) == 2
    assert position >= 2 * 3 * 2  # 12 samples decoded (more if the corrupt one was read)


def test_a_stop_request_checkpoints_the_current_step_and_leaves(toy_shards: Path, tmp_path: Path) -> None:
    trainer = _trainer(toy_shards, tmp_path / "run", 50, "ckpt_every=1000")
    trainer.request_stop()  # as SIGTERM does, here before the first step ends
    trainer.run()
    assert trainer.step == 1
    assert read_checkpoint(tmp_path / "run")["step"] == 1


def test_a_temperature_above_the_cap_comes_back_down_and_keeps_learning(toy_shards: Path, tmp_path: Path) -> None:
    trainer = _trainer(toy_shards, tmp_path / "run", 6, "optim.lr=1e-2", "optim.warmup_steps=1")
    with torch.no_grad():
        trainer.model.log_tau_a.fill_(math.log(100.5))
        trainer.model.log_tau_t.fill_(math.log(100.5))
    trainer.run()
    cap = math.log(trainer.config.model.max_logit_scale)
    for log_tau in (trainer.model.log_tau_a, trainer.model.log_tau_t):
        assert log_tau.item() < cap  # clamped after each optimiser step, then moved by its gradient


def test_resuming_with_two_loader_workers_at_an_odd_step_is_exact(toy_shards: Path, tmp_path: Path) -> None:
    overrides = ("data.num_workers=2", "ckpt_every=3", "optim.warmup_steps=2")
    straight = _trainer(toy_shards, tmp_path / "straight", 5, *overrides)
    straight.run()
    interrupted = _trainer(toy_shards, tmp_path / "interrupted", 5, *overrides)
    interrupted.config.steps = 3  # checkpoint at step 3: the next batch comes from worker 1, not 0
    interrupted.run()
    checkpoint = read_checkpoint(tmp_path / "interrupted" / "checkpoints" / "step_00000003.pt")
    resumed = _trainer(toy_shards, tmp_path / "interrupted", 5, *overrides)
    resumed.load(checkpoint)
    resumed.run()
    assert resumed.losses == straight.losses[3:]


def test_sigterm_to_the_whole_process_group_still_checkpoints(toy_shards: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    argv = [sys.executable, "-m", "model.train", "--shards", str(toy_shards), "--run", str(run), "--device", "cpu"]
    argv += ["--steps", "100000"]
    for override in [*MICRO_OVERRIDES, "data.num_workers=1", "log_every=1", "ckpt_every=100000", "val_every=100000"]:
        argv += ["--set", override]
    log = tmp_path / "train.log"
    with log.open("w") as handle:  # a preempting scheduler signals every process, loader workers included
        process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 240
        while "step" not in log.read_text() or "| loss" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        os.killpg(process.pid, signal.SIGTERM)
        code = process.wait(timeout=120)
    assert code == 128 + signal.SIGTERM, log.read_text()
    assert read_checkpoint(run)["step"] >= 1
