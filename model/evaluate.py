"""``clara eval`` / ``make eval``: zero-shot, linear probe, retrieval and keyword-spotting tables.

    python -m model.evaluate --checkpoint runs/tiny --task zeroshot --data data/shards/demo-en
    python -m model.evaluate --checkpoint runs/tiny --task retrieval,zeroshot --data D --split test
    python -m model.evaluate --checkpoint runs/x --task kws --data mswc-shards --hours-from corpus/dataset_card.json

Each task writes ``<out>/<task>.json`` (every figure, metric names spelled out, e.g.
``text_to_audio/R@10``; accuracies, recalls and mAPs in percent) and ``<out>/<task>.md``
(markdown laid out like the paper's Tables I, IV, V–VI and VIII, so our numbers can sit
beside the paper's). ``<out>`` defaults to ``<run>/eval``. Paper §V-B–E.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model import fusion
from model.api import ClaraModel
from model.evalset import EvalSet, load_eval_set
from model.kws import MODES as KWS_MODES
from model.kws import evaluate_kws, hours_by_language, keyword_of
from model.metrics import class_baselines, top_k_accuracy
from model.probe import HEADS, ProbeConfig, predict_scores, probe_accuracy, train_probe
from model.retrieval import CAPTION_MODES, evaluate_retrieval
from model.shards import resolve_shards
from model.zeroshot import TASKS as ZS_TASKS
from model.zeroshot import clip_labels, labels_from_file, per_class_accuracy, task_field, zero_shot

EVAL_TASKS: tuple[str, ...] = ("zeroshot", "probe", "retrieval", "kws", "fusion-probe")
DEFAULT_CLASS_TASKS: tuple[str, ...] = ("language", "gender", "emotion", "age", "sound")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m model.evaluate",
        description="Evaluate a trained CLARA checkpoint on clara-corpus shards (paper §V-B–E): "
        "zero-shot classification, linear probe, whole-set retrieval, keyword spotting. Writes "
        "OUT/<task>.json and OUT/<task>.md (paper-style tables).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="run folder (its latest checkpoint) or a .pt file")
    p.add_argument("--task", required=True, help=f"one or more of {','.join(EVAL_TASKS)} (comma-separated)")
    p.add_argument("--data", nargs="+", required=True, metavar="SPEC", help="shard specs (as model.train --shards)")
    p.add_argument("--split", default="test", help="split evaluated (probe trains on train, stops on valid)")
    p.add_argument("--out", type=Path, default=None, help="results folder (default: <run>/eval)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (1 on a busy shared CPU)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, default=None, help="evaluate at most this many clips per split")
    p.add_argument("--include-augmented", action="store_true", help="also evaluate augmented copies")
    p.add_argument("--name", default=None, help="model name in the tables (default: ours (<run> @ step N))")
    g = p.add_argument_group("zero-shot and probe")
    g.add_argument("--classes", default=None, help=f"comma list of {','.join(ZS_TASKS)} (default: those labelled)")
    g.add_argument("--labels", default=None, help="JSON label sets {task or field: [labels]} (default: metadata's)")
    g.add_argument(
        "--prompt-language",
        default="en",
        help="prompt language code; sample = each clip's own; label = each class's (language ID)",
    )
    g.add_argument("--probe-head", default="linear,mlp", help=f"comma list of {','.join(HEADS)}")
    g.add_argument("--probe-lr", type=float, default=1e-4)
    g.add_argument("--probe-epochs", type=int, default=20)
    g.add_argument("--probe-patience", type=int, default=3)
    g.add_argument("--features", choices=("embedding", "encoder"), default="embedding")
    g = p.add_argument_group("retrieval")
    g.add_argument(
        "--captions", choices=CAPTION_MODES, default="first", help="'protocol' = Clotho/AudioCaps 5 per clip"
    )
    g.add_argument("--caption-language", default=None, help="comma list: only captions in these languages")
    g.add_argument("--caption-origin", default=None, help="comma list, e.g. template,transcript,llm_rewrite")
    g = p.add_argument_group("keyword spotting")
    g.add_argument("--kws-mode", choices=KWS_MODES, default="zeroshot")
    g.add_argument("--hours-from", default=None, help="dataset_card.json or shard spec for training hours")
    return p


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _pct(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.2f}"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


class Evaluation:
    """One checkpoint, one data spec: embeds splits once and runs the requested tasks."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.model = ClaraModel.from_checkpoint(args.checkpoint, device=args.device)
        run = Path(args.checkpoint)
        self.run_name = (run.parent.parent.name if run.is_file() else run.name) or "model"
        self.name = args.name or f"ours ({self.run_name} @ step {self.model.step})"
        self.dataset = ", ".join(Path(d.rstrip("/")).name for d in args.data)
        self._sets: dict[str, EvalSet] = {}

    def split(self, name: str, projected: bool = True) -> EvalSet:
        key = f"{name}:{projected}"
        if key not in self._sets:
            self._sets[key] = load_eval_set(
                self.model,
                self.args.data,
                name,
                include_augmented=self.args.include_augmented,
                limit=self.args.limit,
                batch_size=self.args.batch_size,
                projected=projected,
            )
        return self._sets[key]

    def class_tasks(self, eval_set: EvalSet) -> list[str]:
        wanted = _csv(self.args.classes)
        if wanted:
            return wanted
        return [t for t in DEFAULT_CLASS_TASKS if any(clip_labels(eval_set.field_values(task_field(t))))]

    def labels(self, task: str) -> list[str] | None:
        return labels_from_file(self.args.labels, task) if self.args.labels else None

    # -- tasks -------------------------------------------------------------------------
    def zeroshot(self) -> dict[str, Any]:
        test = self.split(self.args.split)
        results = {}
        for task in self.class_tasks(test):
            result = zero_shot(self.model, test, task, self.labels(task), self.args.prompt_language)
            results[task] = result.to_dict()
            if all(len(t) == 1 for t in result.targets):
                results[task]["baselines"] = class_baselines([t[0] for t in result.targets], len(result.labels))
            if all(len(t) == 1 for t in result.targets):
                results[task]["per_class_top1_accuracy"] = per_class_accuracy(result)
        return {"tasks": results}

    def probe(self) -> dict[str, Any]:
        projected = self.args.features == "embedding"
        test, train = self.split(self.args.split, projected), self.split("train", projected)
        has_valid = bool(resolve_shards(self.args.data, "valid").urls)
        valid = self.split("valid", projected) if has_valid else EvalSet()
        if not len(valid):  # no (or an empty) valid split: hold out every 10th train clip
            valid = _subset(train, list(range(0, len(train), 10)))
            train = _subset(train, [i for i in range(len(train)) if i % 10])
        results: dict[str, Any] = {}
        for task in self.class_tasks(test):
            labels = self.labels(task) or sorted(
                {row[0] for row in clip_labels(train.field_values(task_field(task))) if row}
            )
            index = {label: i for i, label in enumerate(labels)}
            xs = {}
            for split_name, part in (("train", train), ("valid", valid), ("test", test)):
                rows = [(i, r[0]) for i, r in enumerate(clip_labels(part.field_values(task_field(task)))) if r]
                rows = [(i, index[label]) for i, label in rows if label in index]
                xs[split_name] = (part.embeddings[[i for i, _ in rows]].numpy(), np.asarray([y for _, y in rows]))
            if min(len(xs[s][1]) for s in xs) == 0 or len(labels) < 2:
                results[task] = {"skipped": "needs labelled train, valid and test clips and two classes"}
                continue
            results[task] = {
                "labels": labels,
                "clips": {s: len(xs[s][1]) for s in xs},
                "baselines": class_baselines(xs["test"][1], len(labels)),
                "heads": {},
            }
            for head in _csv(self.args.probe_head) or ["linear"]:
                config = ProbeConfig(
                    head=head,
                    lr=self.args.probe_lr,
                    max_epochs=self.args.probe_epochs,
                    patience=self.args.probe_patience,
                )
                fit = train_probe(*xs["train"], *xs["valid"], len(labels), config)
                scores = predict_scores(fit.head, xs["test"][0])
                results[task]["heads"][head] = {
                    "metrics": {
                        "accuracy": probe_accuracy(fit, *xs["test"]),
                        "R@1": top_k_accuracy(scores, xs["test"][1], 1),
                        "R@3": top_k_accuracy(scores, xs["test"][1], 3),
                    },
                    **fit.summary(),
                }
        return {"features": self.args.features, "tasks": results}

    def retrieval(self) -> dict[str, Any]:
        return evaluate_retrieval(
            self.model,
            self.split(self.args.split),
            self.args.captions,
            _csv(self.args.caption_language),
            _csv(self.args.caption_origin),
        )

    def kws(self) -> dict[str, Any]:
        test = self.split(self.args.split)
        if not any(keyword_of(m) for m in test.original):
            raise ValueError("no keyword/transcript metadata in the evaluation clips (expects MSWC-style shards)")
        hours = hours_by_language(self.args.hours_from, self.args.data)
        probe = self.args.kws_mode == "probe"
        return evaluate_kws(
            self.model,
            test,
            hours,
            self.args.kws_mode,
            train=self.split("train") if probe else None,
            valid=self.split("valid") if probe else None,
            probe_config=ProbeConfig(lr=self.args.probe_lr, max_epochs=self.args.probe_epochs),
        )

    def fusion_probe(self) -> dict[str, Any]:
        """CALM's fusion head (acoustic + transcript tokens) vs the audio-only linear probe (``model.fusion``)."""
        task = (_csv(self.args.classes) or ["emotion"])[0]
        return fusion.fusion_probe(
            self.model, self.args.data, self.args.split, fusion.FusionConfig(task=task), self.args.limit
        )


def _subset(eval_set: EvalSet, rows: list[int]) -> EvalSet:
    return EvalSet(
        [eval_set.keys[i] for i in rows],
        eval_set.embeddings[rows],
        [eval_set.captions[i] for i in rows],
        [eval_set.original[i] for i in rows],
        [eval_set.durations_s[i] for i in rows],
    )


# -- markdown, laid out like the paper's tables -------------------------------------------------
def markdown(task: str, result: dict[str, Any], name: str, dataset: str) -> str:
    if task == "fusion-probe":
        return fusion.markdown(result, name, dataset)
    if task == "zeroshot":
        tasks = result["tasks"]
        head = ["Model"] + [f"{t} (Acc)" if "top1_accuracy" in r["metrics"] else t for t, r in tasks.items()]
        table_1 = _table(head, [[f"{name} (ZS)"] + [_pct(r["metrics"].get("top1_accuracy")) for r in tasks.values()]])
        detail = _table(
            ["Task", "Classes", "Clips", "Top-1 acc", "Chance", "Majority", "Top-5 acc", "mAP@10", "Balanced acc",
             "Prompts"],
            [
                [t, len(r["labels"]), r["clips"], _pct(r["metrics"].get("top1_accuracy")),
                 _pct(r.get("baselines", {}).get("chance")), _pct(r.get("baselines", {}).get("majority")),
                 _pct(r["metrics"].get("top5_accuracy")), _pct(r["metrics"].get("mAP@10")),
                 _pct(r["metrics"].get("balanced_accuracy")), r["prompt_language"]]
                for t, r in tasks.items()
            ],
        )  # fmt: skip
        return f"Zero-shot classification on {dataset} (Table I layout; %)\n\n{table_1}\n\n{detail}\n"
    if task == "probe":
        rows = []
        for t, r in result["tasks"].items():
            for head, h in r.get("heads", {}).items():
                m = h["metrics"]
                b = r.get("baselines", {})
                rows.append(
                    [t, head, _pct(m["R@1"]), _pct(m["R@3"]), _pct(m["accuracy"]), _pct(b.get("chance")),
                     _pct(b.get("majority")), h["best_epoch"], h["epochs_run"]]
                )  # fmt: skip
        header = ["Task", "Probe head", "R@1", "R@3", "Acc", "Chance", "Majority", "Best epoch", "Epochs run"]
        return (
            f"Linear probe on {dataset}, {result['features']} features (Table IV layout; %)\n\n{_table(header, rows)}\n"
        )
    if task == "retrieval":
        m = result["metrics"]
        a, t = "audio_to_text", "text_to_audio"
        rows_5 = [[name, dataset] + [_pct(m[f"{d}/R@{k}"]) for d in (a, t) for k in (1, 5, 10)]]
        for baseline, b in _retrieval_baselines(result).items():
            rows_5.append(
                [f"baseline: {baseline}", dataset] + [_pct(b.get(f"{d}/R@{k}")) for d in (a, t) for k in (1, 5, 10)]
            )
        table_5 = _table(["Model", "Retrieval Dataset", "A→T R@1", "R@5", "R@10", "T→A R@1", "R@5", "R@10"], rows_5)
        table_6 = _table(
            ["Model", "A→T mAP@1", "mAP@3", "mAP@5", "R@1", "T→A mAP@1", "mAP@3", "mAP@5", "R@1"],
            [[name] + [_pct(m[f"{d}/{k}"]) for d in (a, t) for k in ("mAP@1", "mAP@3", "mAP@5", "R@1")]],
        )
        ranks = _table(
            ["Direction", "mAP@10", "Mean rank", "Median rank"],
            [[d, _pct(m[f"{d}/mAP@10"]), f"{m[f'{d}/mean_rank']:.1f}", f"{m[f'{d}/median_rank']:.1f}"] for d in (a, t)],
        )
        counts = f"{result['clips']} clips, {result['texts']} captions ({result['captions']}), whole set"
        if result.get("baselines"):
            counts += (
                "; baselines computed exactly: chance = a uniformly random ranking, attribute_only = random "
                f"inside each clip's ({', '.join(result['baselines'].get('attribute_fields', []))}) group"
            )
        return f"Retrieval on {dataset}: {counts} (Table V, VI layouts; %)\n\n{table_5}\n\n{table_6}\n\n{ranks}\n"
    if task == "kws":
        rows = [
            [r["language"], r["code"], r["family"], r["script"], r["training_hours"], _pct(r["accuracy"])]
            for r in result["languages"]
        ]
        header = ["Language", "Code", "Language Family", "Script", "Training Sample (Hours)", "Accuracy"]
        return f"Keyword spotting ({result['mode']}) on {dataset} (Table VIII layout; %)\n\n{_table(header, rows)}\n"
    raise ValueError(task)


def _retrieval_baselines(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {k: v for k, v in result.get("baselines", {}).items() if isinstance(v, dict)}


def flatten(task: str, result: dict[str, Any]) -> dict[str, float]:
    """Metric names spelled out: ``zeroshot/gender/top1_accuracy``, ``text_to_audio/R@10``, ..."""
    if task == "retrieval":
        out = dict(result["metrics"])
        for baseline, values in _retrieval_baselines(result).items():
            out.update({f"baseline/{baseline}/{k}": v for k, v in values.items()})
        return out
    if task == "fusion-probe":
        return fusion.flatten(result)
    if task in ("zeroshot", "probe"):
        out = {}
        for t, r in result["tasks"].items():
            out.update({f"{task}/{t}/baseline/{k}": v for k, v in r.get("baselines", {}).items()})
            if task == "zeroshot":
                out.update({f"zeroshot/{t}/{k}": v for k, v in r["metrics"].items()})
            for head, h in r.get("heads", {}).items():
                out.update({f"probe/{t}/{head}/{k}": v for k, v in h["metrics"].items()})
        return out
    out = {f"kws/{r['code']}/accuracy": r["accuracy"] for r in result["languages"]}
    return {**out, "kws/mean_accuracy": result["metrics"]["mean_accuracy"]}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (``python -m model.evaluate``, ``clara eval``, ``make eval``)."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    tasks = _csv(args.task) or []
    unknown = [t for t in tasks if t not in EVAL_TASKS]
    if unknown or not tasks:
        print(
            f"model.evaluate: error: unknown task(s) {unknown or tasks}; tasks: {', '.join(EVAL_TASKS)}",
            file=sys.stderr,
        )
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        evaluation = Evaluation(args)
        run = Path(args.checkpoint)
        out = args.out or ((run.parent.parent if run.is_file() else run) / "eval")
        out.mkdir(parents=True, exist_ok=True)
        for task in tasks:
            started = time.perf_counter()
            result = getattr(evaluation, task.replace("-", "_"))()
            record = {
                "task": task,
                "checkpoint": str(args.checkpoint),
                "step": evaluation.model.step,
                "data": args.data,
                "split": args.split,
                "metrics": flatten(task, result),
                "result": result,
                "seconds": round(time.perf_counter() - started, 2),
            }
            (out / f"{task}.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
            table = markdown(task, result, evaluation.name, evaluation.dataset)
            (out / f"{task}.md").write_text(table)
            print(table)
        print(f"results in {out}/")
    except (FileNotFoundError, KeyError, ValueError) as error:
        print(f"model.evaluate: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
