"""Trainer throughput, measured in one run.

1. forward + backward + optimiser step of a config on random clips: samples/s, seconds of
   audio/s and achieved FLOP/s (``torch.utils.flop_counter``); MFU on a GPU when its peak
   bf16 TFLOP/s is known or given (``--peak-tflops``).
2. the loader alone (shard read → FLAC decode → caption tokens → batch → log-mel) against the
   bare loop over the same files (tar read → FLAC decode → log-mel per clip); target ≥ 0.9.

    python bench/train_step.py                       # tiny config, synthetic shards, CPU
    python bench/train_step.py --config 100M --device cuda --batch 64
    python bench/train_step.py --shards data/shards/demo-en
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import soundfile as sf
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.audio import LogMel
from model.config import apply_overrides, load_config
from model.data import make_loader
from model.distributed import pick_device
from model.heads import Clara, count_parameters
from model.loss import clip_loss
from model.shards import resolve_shards
from model.synthetic import write_shards
from model.tokenizer import CaptionTokenizer
from model.train import build_optimizer

PEAK_BF16_TFLOPS = {
    "A100": 312.0,
    "H100": 989.0,
    "H200": 989.0,
    "H800": 989.0,
    "L4": 121.0,
    "A10": 125.0,
    "V100": 125.0,
    "T4": 65.0,
}


def bench_step(args: argparse.Namespace) -> float:
    """Returns the FLOPs of one training step per second of audio it reads."""
    config = apply_overrides(load_config(args.config), args.overrides)
    device = pick_device(args.device)
    torch.set_flush_denormal(True)  # as the trainer does
    torch.manual_seed(0)
    model = Clara(config.model).to(device)
    optimizer = build_optimizer(model, config.optim)
    batch = args.batch or config.data.batch_size
    samples = int(args.clip_s * config.model.audio.sample_rate)
    audio = (torch.randn(batch, samples) * 0.1).to(device)
    lengths = torch.full((batch,), samples, device=device)
    tokens = torch.randint(0, 50_000, (batch, args.tokens), device=device)
    mask = torch.ones_like(tokens, dtype=torch.bool)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()

    def step() -> None:
        with amp:
            loss = clip_loss(*model(audio, lengths, tokens, mask))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        _sync(device)
        started = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - started)
    # Shared machines: the median step is the figure, the best one shows the headroom.
    seconds, best = sorted(times)[len(times) // 2], min(times)
    print(
        f"[step] config {config.name} ({count_parameters(model) / 1e6:.2f}M params) on {device}, "
        f"{torch.get_num_threads()} thread(s): batch {batch} × {args.clip_s:g} s, {args.tokens} tokens"
    )
    print(
        f"[step] forward+backward+step {seconds * 1000:.0f} ms: {batch / seconds:.1f} samples/s, "
        f"{batch * args.clip_s / seconds:.0f} s of audio/s, {flops / seconds / 1e9:.1f} GFLOP/s "
        f"(median of {len(times)}; best {batch / best:.1f} samples/s)"
    )
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        if peak:
            print(f"[step] MFU {flops / seconds / (peak * 1e12):.1%} of {peak:g} bf16 TFLOP/s ({name})")
        else:
            print(f"[step] MFU: peak bf16 TFLOP/s of {name!r} unknown; pass --peak-tflops")
    else:
        print("[step] MFU: not measured (no CUDA device; run with --device cuda on a GPU)")
    return flops / (batch * args.clip_s)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_loader(args: argparse.Namespace, urls: list[str]) -> float:
    """Returns the loader's seconds of audio per second on one core *without* the log-mel (which
    a GPU run computes on the device): what one DataLoader worker feeds a GPU."""
    config = apply_overrides(load_config(args.config), args.overrides)
    rate = config.model.audio.sample_rate
    # Both sides produce what the model sees: each clip decoded in full, centre-cropped to the
    # config's max_audio_s, log-mel. Throughput counts decoded (source) audio seconds.
    limit = int(config.data.max_audio_s * rate)
    frontend = LogMel(config.model.audio)
    tokenizer = CaptionTokenizer(config.model.text.max_tokens, config.model.text.tokenizer)
    tokenizer.encode("warm up the BPE", "en")

    def bare() -> float:
        audio_s = 0.0
        for url in urls:
            with tarfile.open(url) as tar:
                for member in tar:
                    if member.name.endswith(".flac"):
                        clip, _ = sf.read(io.BytesIO(tar.extractfile(member).read()), dtype="float32")
                        audio_s += len(clip) / rate
                        start = max(0, (len(clip) - limit) // 2)
                        frontend(torch.from_numpy(clip[start : start + limit])[None])
        return audio_s

    durations = {}
    for url in urls:
        with tarfile.open(url) as tar:
            for member in tar:
                if member.name.endswith(".flac"):
                    durations[member.name[: -len(".flac")]] = sf.info(tar.extractfile(member)).duration

    def loader(workers: int, mel: bool = True) -> float:
        audio_s = 0.0
        for batch in make_loader(urls, config.data, tokenizer, train=False, num_workers=workers):
            if mel:
                frontend(batch["audio"], batch["audio_lengths"])
            audio_s += sum(durations[key] for key in batch["keys"])
        return audio_s

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core each side: the two paths compared on equal terms
    bare()  # warm the page cache and the allocator
    runs = {
        "bare decode+mel": bare,
        "loader (0 workers)": lambda: loader(0),
        "loader, mel on device": lambda: loader(0, mel=False),
    }
    rates = dict.fromkeys(runs, 0.0)
    for _ in range(args.repeats):  # interleaved, best of each: the machine is shared
        for name, run in runs.items():
            started = time.perf_counter()
            audio_s = run()
            rates[name] = max(rates[name], audio_s / (time.perf_counter() - started))
    for name, rate in rates.items():
        print(
            f"[loader] {name:<20} {rate:7.0f} s of audio/s ({audio_s:.0f} s over {len(urls)} shard(s), best of {args.repeats})"
        )
    torch.set_num_threads(threads)
    ratio = rates["loader (0 workers)"] / rates["bare decode+mel"]
    print(
        f"[loader] loader / bare = {ratio:.2f} (target ≥ 0.9); batch {config.data.batch_size}, "
        f"crop {config.data.max_audio_s:g} s, 1 process, 1 thread"
    )
    return rates["loader, mel on device"]


def gpu_sizing(flops_per_audio_s: float, loader_rate: float, mfu: float = 0.45) -> None:
    """Audio an H100-class GPU consumes at ``mfu`` and the loader workers (cores) that feeds."""
    for name in ("H100", "A100"):
        need = PEAK_BF16_TFLOPS[name] * 1e12 * mfu / flops_per_audio_s
        print(
            f"[sizing] {name} at {mfu:.0%} MFU reads {need:,.0f} s of audio/s; at {loader_rate:,.0f} s/s per "
            f"loader core that is {need / loader_rate:.1f} DataLoader workers (cores) per GPU"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=None, help="default: the config's batch size")
    parser.add_argument("--clip-s", type=float, default=5.0)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads for the step bench")
    parser.add_argument("--shards", nargs="*", default=None, help="shard specs for the loader bench")
    parser.add_argument("--skip-step", action="store_true")
    parser.add_argument("--skip-loader", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    flops_per_audio_s = None if args.skip_step else bench_step(args)
    if not args.skip_loader:
        with tempfile.TemporaryDirectory() as tmp:
            if args.shards:
                urls = list(resolve_shards(args.shards, "train").urls)
            else:
                root = write_shards(tmp, splits={"train": 128}, per_shard=64, duration_s=(2.0, 6.0))
                urls = list(resolve_shards([str(root)], "train").urls)
            loader_rate = bench_loader(args, urls)
        if flops_per_audio_s:
            gpu_sizing(flops_per_audio_s, loader_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
