"""End-to-end demo: demo-corpus shards (en, fr, de) → tiny CLARA on the CPU → held-out evaluation.

    make demo OUT=data/demo            # python -m model.demo --out data/demo

1. ``python -m pipelines.cli shards --lang L`` for each language (espeak-ng speech, six
   voices, four speaking styles; one augmented copy and fr/de/es label translations per sample);
2. the honest protocol (:mod:`model.protocol`): re-split so that the **test** split holds
   voices (one per gender and language) and sentences that training never saw;
3. ``python -m model.train --config tiny`` on the protocol's train split (CPU), a checkpoint
   every fifth of the run, stopped by SIGTERM (the trainer checkpoints and exits) if it
   overruns the budget;
4. on the test split (augmented copies left out), for every checkpoint: zero-shot language
   ID, speaker gender and speaking style (emotion) with **Table II's prompt only** ('A {label}',
   '{label} speaker', 'A person talking in a {label} voice'), which is not one of the training
   caption families (checked and recorded), and whole-set text→audio / audio→text retrieval
   with each clip's first caption; then the full ``model.evaluate`` tables (zero-shot,
   retrieval, linear probe) for the last checkpoint.

Every figure is reported beside its chance level (uniform guess for top-1; ``k / clips`` for
R@k) and, for classification, the majority-class rate.

Everything goes under ``--out``: ``shards/``, ``protocol/`` (the re-split shards), ``run/``
(checkpoints, train.log, TensorBoard), ``eval/`` (per-task JSON + markdown), ``results.json``
(metric names spelled out, e.g. ``text_to_audio/R@10``; chance levels; the protocol; the
caption families training saw and whether each zero-shot prompt is one of them; the training
curve; wall times) and ``results.md``.
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

from model import evaluate
from model.api import ClaraModel
from model.evalset import EvalSet, iter_samples, load_eval_set
from model.protocol import caption_families, prompt_seen_in_training, resplit
from model.retrieval import evaluate_retrieval
from model.zeroshot import clip_labels, task_field, templates_for, zero_shot

ZERO_SHOT_TASKS: tuple[str, ...] = ("language", "gender", "emotion")

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
    p.add_argument("--items", type=int, default=400, help="demo items per language")
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


def trainer_command(
    shards: list[str],
    config: str,
    run: Path,
    steps: int,
    device: str,
    ckpt_every: int,
    val_every: int,
    overrides: list[str],
) -> list[str]:
    """The ``model.train`` command line of the demo's protocol (``--resume auto``, warm-up 100,
    every checkpoint kept, a log line every 50 steps); ``overrides`` come last, so they win."""
    return [
        sys.executable, "-m", "model.train", "--shards", *shards, "--config", config, "--run", str(run),
        "--steps", str(steps), "--device", device, "--resume", "auto",
        "--set", "optim.warmup_steps=100", "--set", f"ckpt_every={ckpt_every}", "--set", "keep_checkpoints=0",
        "--set", f"val_every={val_every}", "--set", "log_every=50",
        *[x for o in overrides for x in ("--set", o)],
    ]  # fmt: skip


def trainer_env(threads: int) -> dict[str, str]:
    """This process's environment with the trainer's OpenMP/MKL threads set."""
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def train(out: Path, args: argparse.Namespace) -> tuple[int, float, float]:
    """Run the trainer; SIGTERM at the budget (it saves and exits 143).

    Returns (exit code, wall seconds, CPU seconds of the trainer and its loader workers).
    """
    every = max(1, args.steps // max(1, args.checkpoints))
    command = trainer_command(
        [str(out / "protocol")], args.config, out / "run", args.steps, args.device, every, every, args.overrides
    )
    (out / "run").mkdir(parents=True, exist_ok=True)
    started, cpu_before = time.perf_counter(), _children_cpu_s()
    with (out / "run" / "train.log").open("a") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=trainer_env(args.threads))
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


def table_ii_prompt(task: str) -> str:
    """The paper's Table II prompt of a task (the first English template)."""
    return templates_for(task, "en")[0][0]


def evaluate_checkpoint(checkpoint: Path, shards: Path, device: str) -> dict[str, float]:
    """Headline metrics of one checkpoint on the test split (Table II prompts; first captions)."""
    model = ClaraModel.from_checkpoint(checkpoint, device=device)
    test = load_eval_set(model, [str(shards)], "test")
    metrics: dict[str, float] = {}
    for task in ZERO_SHOT_TASKS:
        result = zero_shot(model, test, task, templates=[table_ii_prompt(task)])
        metrics.update({f"zeroshot/{task}/{k}": v for k, v in result.metrics.items()})
        # All of the task's templates, in the clip's own language (gender, emotion) or each class's (language ID).
        native = zero_shot(model, test, task, prompt_language="label" if task == "language" else "sample")
        metrics[f"zeroshot_native_prompts/{task}/top1_accuracy"] = native.metrics["top1_accuracy"]
    metrics.update(evaluate_retrieval(model, test, "first")["metrics"])
    metrics["clips"] = float(len(test))
    return metrics


def chance_levels(test: EvalSet) -> dict[str, float]:
    """Chance beside each headline figure: uniform guess (top-1) or k / clips (R@k), percent;
    ``.../majority`` is the share of the most frequent class (always answering it)."""
    out: dict[str, float] = {}
    for task in ZERO_SHOT_TASKS:
        labels = [row[0] for row in clip_labels(test.field_values(task_field(task))) if row]
        if labels:
            out[f"zeroshot/{task}/top1_accuracy"] = 100.0 / len(set(labels))
            out[f"zeroshot/{task}/majority"] = 100.0 * max(labels.count(x) for x in set(labels)) / len(labels)
    for direction in ("text_to_audio", "audio_to_text"):
        for k in (1, 5, 10):
            out[f"{direction}/R@{k}"] = 100.0 * min(k, len(test)) / max(len(test), 1)
    return out


def split_chance_levels(protocol: Path) -> dict[str, float]:
    """:func:`chance_levels` of a protocol's test split, read from its metadata (no audio decoded)."""
    originals = [dict(meta.original_data) for _, _, meta in iter_samples([str(protocol)], "test")]
    return chance_levels(EvalSet(keys=[meta.get("source_id", "") for meta in originals], original=originals))


def prompt_report(protocol: Path) -> dict[str, Any]:
    """The caption families training saw, and whether each zero-shot prompt is one of them."""
    families = caption_families(meta for _, _, meta in iter_samples([str(protocol)], "train", include_augmented=True))
    prompts = {
        task: {
            "prompt": table_ii_prompt(task),
            "seen_in_training": prompt_seen_in_training(table_ii_prompt(task), families, task),
        }
        for task in ZERO_SHOT_TASKS
    }
    return {"training_caption_families": families, "zero_shot_prompts": prompts}


ABLATION = "docs/trainer-ablation.md"
"""Where the figures are explained (what was tried, with numbers, and why targets are met or not)."""


def recipe_summary(config_yaml: Path) -> dict[str, Any]:
    """The settings of the trained config the language figures hinge on (docs/trainer-ablation.md)."""
    import yaml

    if not config_yaml.exists():
        return {}
    config = yaml.safe_load(config_yaml.read_text())
    audio, data = config["model"]["audio"], config["data"]
    return {
        "audio.encoder": audio.get("encoder"),
        "audio.input_norm": audio.get("input_norm", "none"),
        "data.caption_origins": list(data.get("caption_origins") or []) or "all",
        "data.batch_size": data.get("batch_size"),
        "data.max_audio_s": data.get("max_audio_s"),
    }


def markdown_summary(results: dict[str, Any]) -> str:
    final, chance = results["metrics"], results["chance"]
    held = ", ".join(results["protocol"]["held_out_voices"])
    lines = [
        f"# CLARA demo ({results['config']}, {results['train']['steps_done']} steps, CPU)",
        "",
        f"Test split: {int(final['clips'])} clips ({', '.join(results['languages'])}; augmented copies left out), "
        "speaker- and "
        f"sentence-disjoint from training (held-out voices {held}; "
        f"{100 * results['protocol']['held_out_sentence_fraction']:.0f} % of sentences). "
        "Zero-shot prompts: Table II's "
        + ", ".join(
            f"'{p['prompt']}' (seen in training: {'yes' if p['seen_in_training'] else 'no'})"
            for p in results["prompts"]["zero_shot_prompts"].values()
        )
        + ". "
        f"Wall time: shards {results['wall_time_s']['shards']:.0f} s, training {results['wall_time_s']['train']:.0f} s "
        f"({results['wall_time_s']['train_cpu']:.0f} CPU s on a shared 2-core machine), "
        f"evaluation {results['wall_time_s']['eval']:.0f} s.",
        "",
        "| Metric | Value (%) | Chance (%) | Target | Met |",
        "|---|---|---|---|---|",
    ]
    for name in HEADLINE:
        target = TARGETS.get(name)
        met = "" if target is None else ("yes" if final[name] >= target else "no")
        level = chance.get(name)
        majority = chance.get(name.replace("top1_accuracy", "majority")) if "top1_accuracy" in name else None
        shown = "" if level is None else f"{level:.1f}" + (f" (majority {majority:.1f})" if majority else "")
        lines.append(
            f"| {name} | {final[name]:.2f} | {shown} | {'' if target is None else f'≥ {target:.0f}'} | {met} |"
        )
    recipe = results.get("recipe") or {}
    if recipe:
        lines += ["", "Recipe: " + ", ".join(f"{k} = {v}" for k, v in recipe.items()) + "."]
    lines += ["", f"Why these figures (ablations, seeds, chance): {results.get('ablation', ABLATION)}."]
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
    protocol = resplit([str(out / "shards")], out / "protocol")
    print(f"[demo] protocol: {protocol['clips']} clips; held-out voices {', '.join(protocol['held_out_voices'])}")
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
        point = {"step": step, **evaluate_checkpoint(checkpoint, out / "protocol", args.device)}
        if step in losses:
            point["train_loss"] = losses[step]
        points.append(point)
    evaluate.main(
        ["--checkpoint", str(out / "run"), "--task", "zeroshot,retrieval,probe", "--data", str(out / "protocol"),
         "--classes", "language,gender,emotion", "--out", str(out / "eval"), "--device", args.device, "--threads", str(args.threads)]
    )  # fmt: skip
    walls["eval"] = time.perf_counter() - started

    final = points[-1]
    results = {
        "config": args.config,
        "protocol": protocol,
        "prompts": prompt_report(out / "protocol"),
        "chance": split_chance_levels(out / "protocol"),
        "languages": langs,
        "items_per_language": args.items,
        "train": {"steps_planned": args.steps, "steps_done": final["step"], "exit_code": code},
        "metrics": {k: v for k, v in final.items() if k not in ("step", "train_loss")},
        "targets": TARGETS,
        "targets_met": {name: final[name] >= target for name, target in TARGETS.items()},
        "curve": points,
        "training_curve": curve,
        "wall_time_s": {k: round(v, 1) for k, v in walls.items()},
        "recipe": recipe_summary(out / "run" / "config.yaml"),
        "ablation": ABLATION,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    summary = markdown_summary(results)
    (out / "results.md").write_text(summary)
    print(summary)
    print(f"[demo] results in {out / 'results.json'} and {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
