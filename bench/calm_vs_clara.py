"""CLARA vs CALM on the demo corpus (en + fr + de), side by side in one run, same CPU budget.

Both recipes train **at the same time** (one process each, one thread each, so machine load hits
both alike) from the same shards with the same data, optimiser and schedule settings (the
``tiny-clara`` and ``tiny-calm`` presets differ only in the recipe), for the same wall-clock
budget. A checkpoint every ``--ckpt-every`` steps; afterwards every checkpoint is scored on the
held-out **test** split (augmented copies left out) with the evaluation modules:

- time to text→audio R@10 ≥ 50 %: wall seconds from the trainer's start to the first checkpoint
  that reaches it (whole-set retrieval, each clip's first caption; ``model.retrieval``);
- zero-shot speaking-style (emotion) and gender top-1 accuracy, English Table II prompts
  (``model.zeroshot``), at the last checkpoint;
- emotion accuracy of the fusion head (acoustic + transcript tokens) vs the audio-only linear
  probe on the pooled audio embedding, same clips and optimiser budget (``model.fusion``).

    python bench/calm_vs_clara.py --shards data/calm/shards --budget-min 12 --out data/calm/bench

``--seeds 0,1,2``: the seed comparison on the honest protocol instead. Each (seed, recipe) run
trains **one at a time** for a fixed number of steps (``--steps``, the whole cosine schedule;
one thread, no loader worker, so machine load changes its wall time, not what it learns) and
its last checkpoint is scored like ``make demo`` (Table II prompts, test split, first
captions); the table gives mean ± sample standard deviation and [min, max] over seeds, chance
beside each figure, and the CPU seconds each run took:

    python bench/calm_vs_clara.py --seeds 0,1,2 --steps 1200 --shards data/demo-new/protocol \
        --out data/seeds
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.api import ClaraModel  # noqa: E402
from model.evalset import load_eval_set  # noqa: E402
from model.fusion import FusionConfig, fusion_probe  # noqa: E402
from model.retrieval import evaluate_retrieval  # noqa: E402
from model.zeroshot import zero_shot  # noqa: E402

RECIPES = {"CLARA": "tiny-clara", "CALM": "tiny-calm"}


def start_training(name: str, preset: str, args: argparse.Namespace) -> tuple[subprocess.Popen, Path, float]:
    run = args.out / name.lower()
    run.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "model.train", "--shards", *args.shards, "--config", preset, "--run", str(run),
        "--steps", str(args.steps), "--device", "cpu",
        "--set", "optim.warmup_steps=100", "--set", f"ckpt_every={args.ckpt_every}", "--set", "keep_checkpoints=0",
        "--set", f"val_every={10 * args.steps}", "--set", "log_every=25", "--set", "data.num_workers=1",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    log = (run / "train.log").open("w")
    started = time.time()
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), run, started


def wait_all(processes: dict[str, subprocess.Popen], budget_s: float, started: float) -> dict[str, int]:
    codes: dict[str, int] = {}
    while len(codes) < len(processes):
        for name, process in processes.items():
            if name not in codes and process.poll() is not None:
                codes[name] = process.returncode
        if time.time() - started > budget_s:
            for name, process in processes.items():
                if name not in codes:
                    process.send_signal(signal.SIGTERM)  # the trainer checkpoints and exits 143
                    codes[name] = process.wait()
        time.sleep(2)
    return codes


def curve(run: Path, started: float, shards: list[str]) -> list[dict[str, float]]:
    points = []
    for checkpoint in sorted((run / "checkpoints").glob("step_*.pt")):
        model = ClaraModel.from_checkpoint(checkpoint, device="cpu")
        test = load_eval_set(model, shards, "test")
        metrics = evaluate_retrieval(model, test, "first")["metrics"]
        points.append(
            {
                "step": model.step,
                "wall_s": round(checkpoint.stat().st_mtime - started, 1),
                "text_to_audio/R@10": metrics["text_to_audio/R@10"],
                "audio_to_text/R@10": metrics["audio_to_text/R@10"],
            }
        )
        print(f"  {run.name} step {model.step}: t→a R@10 {metrics['text_to_audio/R@10']:.1f}", flush=True)
    return points


def final_metrics(run: Path, shards: list[str]) -> dict[str, float]:
    model = ClaraModel.from_checkpoint(run, device="cpu")
    test = load_eval_set(model, shards, "test")
    out = {"clips": float(len(test))}
    for task in ("emotion", "gender"):
        out[f"zeroshot/{task}/top1_accuracy"] = zero_shot(model, test, task).metrics["top1_accuracy"]
    started = time.perf_counter()
    fusion = fusion_probe(model, shards, "test", FusionConfig(task="emotion"))
    out["fusion_seconds"] = time.perf_counter() - started
    for head, result in fusion["heads"].items():
        out[f"emotion/{head}"] = result["accuracy"]
    stats = getattr(model.model.text_encoder, "cache_stats", None)
    out["parameters_trained_M"] = sum(p.numel() for p in model.model.parameters() if p.requires_grad) / 1e6
    out["parameters_total_M"] = sum(p.numel() for p in model.model.parameters()) / 1e6
    del stats
    return out


def cache_hit_rate(run: Path) -> float | None:
    lines = [line for line in (run / "train.log").read_text().splitlines() if "text cache | hit rate" in line]
    return float(lines[-1].split("hit rate ")[1].split()[0]) if lines else None


def time_to(points: list[dict[str, float]], target: float) -> tuple[float | None, int | None]:
    for point in points:
        if point["text_to_audio/R@10"] >= target:
            return point["wall_s"], int(point["step"])
    return None, None


def table(results: dict[str, dict], budget_min: float) -> str:
    def fmt(value, spec=".1f"):
        return "not reached" if value is None else format(value, spec)

    rows = [
        ("steps done in the budget", lambda r: str(r["steps_done"])),
        ("time to text→audio R@10 ≥ 50 % (s; step)", lambda r: f"{fmt(r['time_to_r10'], '.0f')}" + (f" (step {r['step_to_r10']})" if r["step_to_r10"] else "")),
        ("final text→audio R@10 (%)", lambda r: fmt(r["curve"][-1]["text_to_audio/R@10"])),
        ("zero-shot emotion (style) top-1 (%)", lambda r: fmt(r["final"]["zeroshot/emotion/top1_accuracy"])),
        ("zero-shot gender top-1 (%)", lambda r: fmt(r["final"]["zeroshot/gender/top1_accuracy"])),
        ("emotion: fusion head, audio + transcript (%)", lambda r: fmt(r["final"]["emotion/fusion[audio+text]"])),
        ("emotion: same head, acoustic tokens only (%)", lambda r: fmt(r["final"]["emotion/fusion[audio]"])),
        ("emotion: audio-only linear probe (%)", lambda r: fmt(r["final"]["emotion/linear_probe[audio embedding]"])),
        ("parameters trained / total (M)", lambda r: f"{r['final']['parameters_trained_M']:.2f} / {r['final']['parameters_total_M']:.2f}"),
        ("text-embedding cache hit rate", lambda r: "-" if r["cache_hit_rate"] is None else f"{r['cache_hit_rate']:.3f}"),
    ]  # fmt: skip
    names = list(results)
    lines = [f"| metric (test split, {int(results[names[0]]['final']['clips'])} clips) | " + " | ".join(names) + " |"]
    lines.append("|---|" + "---|" * len(names))
    lines += [f"| {label} | " + " | ".join(get(results[n]) for n in names) + " |" for label, get in rows]
    return "\n".join(lines) + f"\n\nSame {budget_min:g}-minute CPU budget for both, trained side by side.\n"


SEED_METRICS = (
    "zeroshot/language/top1_accuracy",
    "zeroshot/gender/top1_accuracy",
    "zeroshot/emotion/top1_accuracy",
    "text_to_audio/R@10",
    "zeroshot_native_prompts/language/top1_accuracy",
)


def seed_run(name: str, preset: str, seed: int, args: argparse.Namespace) -> dict:
    """Train one (recipe, seed) to the end of its schedule, then score its last checkpoint."""
    from model.demo import _children_cpu_s, evaluate_checkpoint, trainer_command, trainer_env

    run = args.out / f"{name.lower()}-s{seed}"
    done = run / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    run.mkdir(parents=True, exist_ok=True)
    overrides = [f"seed={seed}", "data.num_workers=0", *(args.clara_set if name == "CLARA" else [])]
    command = trainer_command(args.shards, preset, run, args.steps, "cpu", args.steps, 10 * args.steps, overrides)
    cpu, wall = _children_cpu_s(), time.perf_counter()
    with (run / "train.log").open("a") as log:
        env = trainer_env(args.threads)
        code = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise SystemExit(f"{name} seed {seed}: trainer exited {code} (see {run / 'train.log'})")
    result = {"recipe": name, "preset": preset, "seed": seed, "steps": args.steps}
    result["overrides"] = list(args.clara_set) if name == "CLARA" else []
    trained_before = "resumed from step" in (run / "train.log").read_text()
    result["train_cpu_s"] = None if trained_before else round(_children_cpu_s() - cpu, 1)
    result["train_wall_s"] = round(time.perf_counter() - wall, 1)
    checkpoint = sorted((run / "checkpoints").glob("step_*.pt"))[-1]
    result["metrics"] = evaluate_checkpoint(checkpoint, Path(args.shards[0]), "cpu")
    done.write_text(json.dumps(result, indent=2) + "\n")
    return result


def seed_table(results: list[dict], chance: dict[str, float]) -> str:
    import statistics

    names = list(dict.fromkeys(r["recipe"] for r in results))
    lines = [
        "| metric (test split) | chance | " + " | ".join(f"{n} mean ± sd [min, max]" for n in names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for metric in (*SEED_METRICS, "train_cpu_s"):
        cells = []
        for name in names:
            values = [
                r["train_cpu_s"] if metric == "train_cpu_s" else r["metrics"][metric]
                for r in results
                if r["recipe"] == name
            ]
            values = [v for v in values if v is not None]  # trained by an earlier invocation: CPU unknown
            if not values:
                cells.append("-")
                continue
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(
                f"{statistics.mean(values):.1f} ± {sd:.1f} [{min(values):.1f}, {max(values):.1f}] (n={len(values)})"
            )
        level = chance.get(metric.replace("zeroshot_native_prompts", "zeroshot"))
        lines.append(f"| {metric} | {'' if level is None else f'{level:.1f}'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def seeds_main(args: argparse.Namespace) -> int:
    import torch

    from model.demo import split_chance_levels

    torch.set_num_threads(args.threads)
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    results = []
    for seed in seeds:  # seed by seed, so a cut-short session still has both recipes per seed
        for name, preset in (("CLARA", "tiny"), ("CALM", "tiny-calm")):
            if name not in args.recipes.split(","):
                continue
            print(f"{name} seed {seed}: {args.steps} steps", flush=True)
            results.append(seed_run(name, preset, seed, args))
            m = results[-1]["metrics"]
            print(
                "  " + ", ".join(f"{k} {m[k]:.1f}" for k in SEED_METRICS) + f"; {results[-1]['train_cpu_s']} CPU s",
                flush=True,
            )
    chance = split_chance_levels(Path(args.shards[0]))
    markdown = seed_table(results, chance)
    (args.out / "seeds.json").write_text(
        json.dumps({"steps": args.steps, "chance": chance, "runs": results}, indent=2) + "\n"
    )
    (args.out / "seeds.md").write_text(markdown)
    print(markdown)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shards", nargs="+", default=["data/calm/shards"])
    p.add_argument("--out", type=Path, default=Path("data/calm/bench"))
    p.add_argument("--budget-min", type=float, default=12.0)
    p.add_argument("--steps", type=int, default=1500, help="planned steps (the cosine schedule's length) for both")
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=1, help="torch threads per trainer")
    p.add_argument("--target", type=float, default=50.0)
    p.add_argument("--eval-only", action="store_true", help="score the runs already under --out")
    p.add_argument("--seeds", default="", help="e.g. 0,1,2: the fixed-step seed comparison (module docstring)")
    p.add_argument("--recipes", default="CLARA,CALM", help="with --seeds: which recipes run")
    p.add_argument("--clara-set", action="append", default=[], metavar="KEY=VALUE", help="with --seeds: CLARA override")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.seeds:
        return seeds_main(args)
    runs = {name: args.out / name.lower() for name in RECIPES}
    if args.eval_only:
        saved = json.loads((args.out / "training.json").read_text())
        starts, codes = saved["starts"], saved["codes"]
    else:
        processes, starts = {}, {}
        for name, preset in RECIPES.items():
            processes[name], runs[name], starts[name] = start_training(name, preset, args)
        print(f"training {', '.join(RECIPES)} side by side for {args.budget_min} min", flush=True)
        codes = wait_all(processes, args.budget_min * 60, min(starts.values()))
        (args.out / "training.json").write_text(json.dumps({"starts": starts, "codes": codes}) + "\n")
    results = {}
    eval_started = time.perf_counter()
    for name in RECIPES:
        points = curve(runs[name], starts[name], args.shards)
        seconds, step = time_to(points, args.target)
        results[name] = {
            "exit_code": codes[name],
            "steps_done": points[-1]["step"] if points else 0,
            "curve": points,
            "time_to_r10": seconds,
            "step_to_r10": step,
            "final": final_metrics(runs[name], args.shards),
            "cache_hit_rate": cache_hit_rate(runs[name]),
        }
    summary = {
        "budget_min": args.budget_min,
        "eval_s": round(time.perf_counter() - eval_started, 1),
        "recipes": results,
    }
    (args.out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    markdown = table(results, args.budget_min)
    (args.out / "results.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
