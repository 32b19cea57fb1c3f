"""End-to-end demo: demo-corpus shards (en, fr, de) → tiny CLARA on the CPU → held-out evaluation.

    make demo OUT=data/demo            # python -m model.demo --out data/demo

1. ``python -m pipelines.cli shards --lang L`` for each language (espeak-ng speech, six
   voices, four speaking styles; one augmented copy and fr/de/es label translations per
   sample), split 70/10/20 so the test split is large enough to measure;
2. ``python -m model.train --config tiny`` on all three (CPU), a checkpoint every fifth of
   the run, stopped by SIGTERM (the trainer checkpoints and exits) if it overruns the budget;
3. on the **test** split (augmented copies left out), for every checkpoint: zero-shot language
   ID, speaker gender and speaking style (emotion) with Table II prompts, and whole-set
   text→audio / audio→text retrieval with each clip's first caption; then the full
   ``model.evaluate`` tables (zero-shot, retrieval, linear probe) for the last checkpoint.

Everything goes under ``--out``: ``shards/``, ``run/`` (checkpoints, train.log, TensorBoard),
``eval/`` (per-task JSON + markdown), ``results.json`` (metric names spelled out, e.g.
``text_to_audio/R@10``; the training curve; wall times) and ``results.md``.
Targets (issue [eval]): language ID ≥ 90 %, gender ≥ 90 %, text→audio R@10 ≥ 50 %.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from model.api import ClaraModel
from model.evalset import load_eval_set
from model.retrieval import evaluate_retrieval
from model.zeroshot import zero_shot

TARGETS: dict[str, float] = {
    "zeroshot/language/top1_accuracy": 90.0,
    "zeroshot/gender/top1_accuracy": 90.0,
    "text_to_audio/R@10": 50.0,
}
HEADLINE = (
    "zeroshot/language/top1_accuracy",
    "zeroshot/gender/top1_accuracy",
    "zeroshot/emotion/top1_accuracy",
    "text_to_audio/R@1",
    "text_to_audio/R@5",
    "text_to_audio/R@10",
    "audio_to_text/R@10",
    "text_to_audio/mAP@10",
)
_STEP_LINE = re.compile(r"step\s+(\d+)/\d+ \| loss ([\d.]+).*?([\d.]+) samples/s")
_VALID_LINE = re.compile(r"valid @ (\d+) .*?\| loss ([\d.]+)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m model.demo",
        description="Demo shards (en, fr, de) → tiny training on CPU → zero-shot and retrieval on the test split.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", type=Path, required=True, help="everything the demo makes goes here")
    p.add_argument("--langs", default="en,fr,de")
    p.add_argument("--items", type=int, default=240, help="demo items per language")
    p.add_argument("--config", default="tiny")
    p.add_argument("--steps", type=int, default=4000, help="training steps (batch 16 in tiny)")
    p.add_argument(
        "--budget-min", type=float, default=20.0, help="stop training (checkpointed) after this many wall minutes"
    )
    p.add_argument("--checkpoints", type=int, default=5, help="evaluated checkpoints along the run (the curve)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="trainer override")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch/OpenMP threads for training and evaluation: on a shared CPU, more threads than free "
        "cores make OpenMP's spin-waits cost far more than they bring (measured 0.3 s/step at 1, 8 s at 2)",
    )
    return p


def build_shards(out: Path, langs: list[str], items: int, log: Path) -> None:
    for lang in langs:
        command = [
            sys.executable, "-m", "pipelines.cli", "shards", "--lang", lang, "--output", str(out / "shards"),
            "--demo-items", str(items), "--demo-videos", "0", "--split-fractions", "0.7,0.1,0.2",
            "--shard-size", "128",
        ]  # fmt: skip
        with log.open("a") as handle:
            subprocess.run(command, check=True, stdout=handle, stderr=subprocess.STDOUT)


def train(out: Path, args: argparse.Namespace) -> tuple[int, float, float]:
    """Run the trainer; SIGTERM at the budget (it saves and exits 143).

    Returns (exit code, wall seconds, CPU seconds of the trainer and its loader workers).
    """
    every = max(1, args.steps // max(1, args.checkpoints))
    command = [
        sys.executable, "-m", "model.train", "--shards", str(out / "shards"), "--config", args.config,
        "--run", str(out / "run"), "--steps", str(args.steps), "--device", args.device, "--resume", "auto",
        "--set", "optim.warmup_steps=100", "--set", f"ckpt_every={every}", "--set", "keep_checkpoints=0",
        "--set", f"val_every={every}", "--set", "log_every=50",
        *[x for o in args.overrides for x in ("--set", o)],
    ]  # fmt: skip
    (out / "run").mkdir(parents=True, exist_ok=True)
    started, cpu_before = time.perf_counter(), _children_cpu_s()
    with (out / "run" / "train.log").open("a") as handle:
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        try:
            code = process.wait(timeout=args.budget_min * 60)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            code = process.wait()
    return code, time.perf_counter() - started, _children_cpu_s() - cpu_before


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def training_curve(log: Path) -> dict[str, list[dict[str, float]]]:
    """Train loss every ``log_every`` steps and validation loss, parsed from the trainer's log."""
    train_points, valid_points = [], []
    for line in log.read_text().splitlines():
        if m := _STEP_LINE.search(line):
            train_points.append({"step": int(m[1]), "loss": float(m[2]), "samples_per_s": float(m[3])})
        elif m := _VALID_LINE.search(line):
            valid_points.append({"step": int(m[1]), "loss": float(m[2])})
    return {"train": train_points, "valid": valid_points}


def evaluate_checkpoint(checkpoint: Path, shards: Path, device: str) -> dict[str, float]:
    """Headline metrics of one checkpoint on the test split (English prompts; first captions)."""
    model = ClaraModel.from_checkpoint(checkpoint, device=device)
    test = load_eval_set(model, [str(shards)], "test")
    metrics: dict[str, float] = {}
    for task in ("language", "gender", "emotion"):
        result = zero_shot(model, test, task)
        metrics.update({f"zeroshot/{task}/{k}": v for k, v in result.metrics.items()})
        # Prompts in the clip's own language (gender, emotion) or each class's (language ID).
        native = zero_shot(model, test, task, prompt_language="label" if task == "language" else "sample")
        metrics[f"zeroshot_native_prompts/{task}/top1_accuracy"] = native.metrics["top1_accuracy"]
    metrics.update(evaluate_retrieval(model, test, "first")["metrics"])
    metrics["clips"] = float(len(test))
    return metrics


def markdown_summary(results: dict[str, Any]) -> str:
    final = results["metrics"]
    lines = [
        f"# CLARA demo ({results['config']}, {results['train']['steps_done']} steps, CPU)",
        "",
        f"Test split: {int(final['clips'])} clips (en, fr, de; augmented copies left out). "
        f"Wall time: shards {results['wall_time_s']['shards']:.0f} s, training {results['wall_time_s']['train']:.0f} s "
        f"({results['wall_time_s']['train_cpu']:.0f} CPU s on a shared 2-core machine), "
        f"evaluation {results['wall_time_s']['eval']:.0f} s.",
        "",
        "| Metric | Value (%) | Target | Met |",
        "|---|---|---|---|",
    ]
    for name in HEADLINE:
        target = TARGETS.get(name)
        met = "" if target is None else ("yes" if final[name] >= target else "no")
        lines.append(f"| {name} | {final[name]:.2f} | {'' if target is None else f'≥ {target:.0f}'} | {met} |")
    lines += ["", "Along the run (test split):", ""]
    header = ["step", "train loss", *HEADLINE[:3], "text_to_audio/R@10"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for point in results["curve"]:
        lines.append(
            f"| {point['step']} | {point.get('train_loss', float('nan')):.3f} | "
            + " | ".join(f"{point[k]:.1f}" for k in (*HEADLINE[:3], "text_to_audio/R@10"))
            + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (``python -m model.demo``, ``make demo``)."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    langs = [x.strip() for x in args.langs.split(",") if x.strip()]
    walls: dict[str, float] = {}

    started = time.perf_counter()
    print(f"[demo] shards for {', '.join(langs)} ({args.items} items each) → {out / 'shards'}", flush=True)
    build_shards(out, langs, args.items, out / "shards.log")
    walls["shards"] = time.perf_counter() - started

    print(
        f"[demo] training {args.config} for {args.steps} steps (budget {args.budget_min} min) → {out / 'run'}",
        flush=True,
    )
    code, walls["train"], walls["train_cpu"] = train(out, args)
    if code not in (0, 128 + signal.SIGTERM):
        print(f"[demo] training failed (exit {code}); see {out / 'run' / 'train.log'}", file=sys.stderr)
        return 1
    curve = training_curve(out / "run" / "train.log")

    started = time.perf_counter()
    checkpoints = sorted((out / "run" / "checkpoints").glob("step_*.pt"))
    losses = {p["step"]: p["loss"] for p in curve["train"]}
    points = []
    for checkpoint in checkpoints:
        step = int(checkpoint.stem.split("_")[1])
        print(f"[demo] evaluating step {step}", flush=True)
        point = {"step": step, **evaluate_checkpoint(checkpoint, out / "shards", args.device)}
        if step in losses:
            point["train_loss"] = losses[step]
        points.append(point)
    from model import evaluate

    evaluate.main(
        ["--checkpoint", str(out / "run"), "--task", "zeroshot,retrieval,probe", "--data", str(out / "shards"),
         "--classes", "language,gender,emotion", "--out", str(out / "eval"), "--device", args.device, "--threads", str(args.threads)]
    )  # fmt: skip
    walls["eval"] = time.perf_counter() - started

    final = points[-1]
    results = {
        "config": args.config,
        "languages": langs,
        "items_per_language": args.items,
        "train": {"steps_planned": args.steps, "steps_done": final["step"], "exit_code": code},
        "metrics": {k: v for k, v in final.items() if k not in ("step", "train_loss")},
        "targets": TARGETS,
        "targets_met": {name: final[name] >= target for name, target in TARGETS.items()},
        "curve": points,
        "training_curve": curve,
        "wall_time_s": {k: round(v, 1) for k, v in walls.items()},
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    summary = markdown_summary(results)
    (out / "results.md").write_text(summary)
    print(summary)
    print(f"[demo] results in {out / 'results.json'} and {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
