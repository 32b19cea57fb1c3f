"""``clara report DIR``: a browsable card of built shards (paper Table VII, Appendix A).

For one corpus folder (or every corpus in a folder of corpora) writes ``<corpus>/report/``:
``index.html`` (offline, no external resource), ``plots/*.png`` (matplotlib, Agg),
``samples/*.flac`` (a few examples per source dataset, linked from ``<audio>`` players) and
``report.json`` with every figure the page shows. Hour totals come from the per-shard stats,
summed as the dataset card sums them, and are checked against ``dataset_card.json``; the rest
streams over the shards' JSON members (``report_data.py``). The folder is built under a
temporary name and renamed into place, so a report is never half-written.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tarfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.card import card_figures as shard_card_figures
from pipelines.report_data import CorpusFigures, collect, is_corpus

CARD_FIELDS = (
    "totals",
    "splits",
    "hours_by_language",
    "hours_by_gender",
    "hours_by_emotion",
    "hours_by_dataset",
    "samples_by_gender",
    "failures_by_reason",
)


# ----------------------------------------------------------------------------- figures → JSON


def card_figures(figures: CorpusFigures) -> dict[str, Any]:
    """The dataset card's figures, recomputed from the per-shard stats and the failures files
    with the card's own arithmetic (``pipelines.card.card_figures``)."""
    return shard_card_figures(figures.stats, figures.run_level_failures)


def top_with_tail(hours: dict[str, float], top: int) -> dict[str, float]:
    """The ``top`` largest entries, then one "other (k)" entry for the long tail."""
    ordered = sorted(hours.items(), key=lambda kv: (-kv[1], kv[0]))
    head = dict(ordered[:top])
    tail = ordered[top:]
    if tail:
        head[f"other ({len(tail)})"] = round(sum(v for _, v in tail), 4)
    return head


def distribution(counts: Counter, bins: int | np.ndarray = 30, value_range: tuple[float, float] | None = None) -> dict:
    """A histogram (edges, counts) and summary of values held as a value → count Counter."""
    if not counts:
        return {"count": 0, "edges": [], "counts": [], "mean": None, "median": None, "min": None, "max": None}
    values = np.array(sorted(counts), dtype=float)
    weights = np.array([counts[v] for v in sorted(counts)], dtype=float)
    if value_range is None:
        value_range = (
            float(values.min()),
            float(values.max()) if values.max() > values.min() else float(values.min()) + 1,
        )
    hist, edges = np.histogram(values, bins=bins, range=value_range, weights=weights)
    cumulative = np.cumsum(weights)
    median = float(values[np.searchsorted(cumulative, cumulative[-1] / 2)])
    return {
        "count": int(weights.sum()),
        "edges": [round(float(e), 4) for e in edges],
        "counts": [int(c) for c in hist],
        "mean": round(float((values * weights).sum() / weights.sum()), 4),
        "median": round(median, 4),
        "min": round(float(values.min()), 4),
        "max": round(float(values.max()), 4),
    }


def table_vii(figures: CorpusFigures, hours_by_dataset: dict[str, float]) -> dict[str, Any]:
    rows = []
    languages: Counter = Counter()
    for name in sorted(set(figures.datasets) | set(hours_by_dataset), key=lambda d: (-hours_by_dataset.get(d, 0), d)):
        d = figures.datasets.get(name)
        langs = d.languages if d else Counter()
        languages.update(langs)
        genders = d.gender_samples if d else Counter()
        rows.append(
            {
                "dataset": name,
                "content": d.content_codes() if d else "-",
                "hours": hours_by_dataset.get(name, 0.0),
                "languages": len(langs),
                "language_codes": [code for code, _ in langs.most_common(8)],
                "male": genders.get("male", 0),
                "female": genders.get("female", 0),
                "unknown": sum(v for k, v in genders.items() if k not in ("male", "female")),
                "samples": d.samples if d else 0,
            }
        )
    total = {
        "dataset": "Total",
        "hours": round(sum(r["hours"] for r in rows), 4),
        "languages": len(languages),
        **{k: sum(r[k] for r in rows) for k in ("male", "female", "unknown", "samples")},
    }
    return {"rows": rows, "total": total}


def _integer_bins(counts: Counter) -> tuple[np.ndarray | int, tuple[float, float] | None]:
    top = max(counts, default=1)
    if top <= 60:
        return np.arange(0.5, top + 1.5), None
    return 40, (0.0, float(top))


def summarize(name: str, figures: CorpusFigures, card: dict[str, Any] | None, top_languages: int = 15) -> dict:
    """Every figure of the report, as plain JSON values."""
    recomputed = card_figures(figures)
    longest = max([*figures.source_durations, *figures.segment_durations, 1.0])
    edges, value_range = _integer_bins(figures.caption_words)
    total_augmented = figures.augmented_samples
    return {
        "name": name,
        "generated_by": "clara report",
        **recomputed,
        "hours_by_split": {k: v["hours"] for k, v in recomputed["splits"].items()},
        "hours_by_language_top": top_with_tail(recomputed["hours_by_language"], top_languages),
        "table_vii": table_vii(figures, recomputed["hours_by_dataset"]),
        "durations": {
            "source": distribution(figures.source_durations, 30, (0.0, longest)),
            "segments": distribution(figures.segment_durations, 30, (0.0, longest)),
        },
        "caption_words": distribution(figures.caption_words, edges, value_range),
        "captions_by_origin": dict(figures.captions_by_origin.most_common()),
        "captions_by_language": dict(figures.captions_by_language.most_common()),
        "llm_outcomes": llm_outcomes(figures.llm_outcomes),
        "augmentations": {
            "by_name": dict(figures.augmentations.most_common()),
            "augmented_samples": total_augmented,
            "original_samples": figures.samples_read - total_augmented,
        },
        "noise_mix": {
            "snr_db": distribution(figures.snr_db, 30),
            "lambda": distribution(figures.noise_lambda, 30),
        },
        "quality": quality_section(figures, recomputed.get("quality")),
        **(
            {"attributes": attributes_section(figures, recomputed.get("attributes"))}
            if figures.attribute_samples
            else {}
        ),
        "failures": {
            "total": sum(figures.failures.values()),
            "by_stage": _by_stage(figures.failures),
            "by_reason": dict(figures.failures.most_common()),
            "speech_without_text": figures.speech_without_text,
            "examples": {k: r.items for k, r in sorted(figures.failure_samples.items())},
        },
        "card_check": check_card(card, recomputed),
        "problems": list(figures.problems),
    }


def quality_section(figures: CorpusFigures, card_quality: dict[str, Any] | None) -> dict[str, Any]:
    """The measured filters: each value's distribution over the original samples written (augmented
    copies carry their original's values), the card's fixed-bin histograms, the language check's
    verdicts, and the samples each filter dropped."""
    dropped = {
        reason.split("/", 1)[1]: n for reason, n in sorted(figures.failures.items()) if reason.startswith("quality/")
    }
    verdicts: Counter = Counter()
    pairs: Counter = Counter()
    for (declared, detected, verdict), n in figures.quality_language.items():
        verdicts[verdict] += n
        pairs[f"{declared} → {detected}"] += n
    return {
        "samples_measured": figures.quality_samples,
        "distributions": {m: distribution(c, 30) for m, c in sorted(figures.quality_values.items())},
        "histograms": (card_quality or {}).get("histograms", {}),
        "language": {"verdicts": dict(verdicts.most_common()), "declared_to_detected": dict(pairs.most_common(20))},
        "dropped": dropped,
        "dropped_total": sum(dropped.values()),
    }


def attributes_section(figures: CorpusFigures, card_attributes: dict[str, Any] | None) -> dict[str, Any]:
    """The measured attributes (``--attributes``): each value's distribution and each attribute's
    samples per level over every sample written (a copy's own), the card's bins, the estimates left
    unmeasured (by reason) and the drops."""
    card_attributes = card_attributes or {"levels": {}, "histograms": {}, "dropped": {}}
    return {
        "samples_measured": figures.attribute_samples,
        "distributions": {m: distribution(c, 30) for m, c in sorted(figures.attribute_values.items())},
        "levels": {key: dict(counts.most_common()) for key, counts in sorted(figures.attribute_levels.items())},
        "histograms": card_attributes["histograms"],
        "unmeasured": card_attributes.get("unmeasured", {}),
        "dropped": card_attributes["dropped"],
    }


def llm_outcomes(counts: Counter) -> dict[str, dict[str, Any]]:
    """Per LLM stage: answers accepted, and rejected (by check) or failed (by reason) with the fallback used."""
    stages: dict[str, dict[str, Any]] = {}
    for (stage, kind, reason), count in sorted(counts.items()):
        entry = stages.setdefault(stage, {"accepted": 0, "rejected": {}, "failed": {}})
        if kind == "accepted":
            entry["accepted"] += count
        else:
            entry[kind][reason] = entry[kind].get(reason, 0) + count
    return stages


def _by_stage(reasons: Counter) -> dict[str, int]:
    stages: Counter = Counter()
    for reason, count in reasons.items():
        stages[reason.split("/", 1)[0]] += count
    return dict(stages.most_common())


def check_card(card: dict[str, Any] | None, recomputed: dict[str, Any]) -> dict[str, Any]:
    """Which of the dataset card's figures differ from the shards' own stats (none, normally)."""
    if card is None:
        return {"card": False, "matches": False, "differences": ["dataset_card.json is missing"]}
    differences = [
        f"{field}: card {card.get(field)!r} vs shards {recomputed[field]!r}"
        for field in CARD_FIELDS
        if card.get(field) != recomputed[field]
    ]
    return {"card": True, "matches": not differences, "differences": differences}


# ----------------------------------------------------------------------------- samples


def _sample_view(pick: dict[str, Any]) -> dict[str, Any]:
    meta = pick["meta"]
    od = meta.get("original_data") or {}
    return {
        "key": str(meta.get("key", "")),
        "dataset": str(od.get("dataset", "unknown")),
        "split": pick["split"],
        "shard": Path(pick["tar"]).name,
        "duration_s": float(meta.get("duration_s") or 0.0),
        "language": str(od.get("language", "und")),
        "gender": str(od.get("gender") or "unknown"),
        "emotion": od.get("emotion"),
        "tags": list(meta.get("tag") or []),
        "captions": [
            {"origin": c.get("origin", ""), "language": c.get("language", ""), "text": c.get("text", "")}
            for c in meta.get("captions") or []
        ],
        "segment": meta.get("segment"),
        "augmentations": list(meta.get("augmentations") or []),
        "audio": None,
    }


def extract_samples(figures: CorpusFigures, folder: Path) -> list[dict[str, Any]]:
    """Copy the picked samples' FLACs into ``folder`` (one pass per tar that holds any)."""
    views, wanted = [], {}
    for dataset in sorted(figures.sample_picks):
        for pick in sorted(figures.sample_picks[dataset].items, key=lambda p: str(p["meta"].get("key"))):
            view = _sample_view(pick)
            views.append(view)
            wanted.setdefault(pick["tar"], {})[f"{view['key']}.flac"] = view
    folder.mkdir(parents=True, exist_ok=True)
    for tar_path, members in wanted.items():
        with tarfile.open(tar_path, mode="r:") as tar:
            while (member := tar.next()) is not None and members:
                view = members.pop(member.name, None)
                if view is not None and (data := tar.extractfile(member)) is not None:
                    (folder / member.name).write_bytes(data.read())
                    view["audio"] = f"{folder.name}/{member.name}"
                tar.members.clear()
    return views


# ----------------------------------------------------------------------------- writing


def write_report(corpus: Path, samples_per_source: int = 3, top_languages: int = 15, seed: int = 0) -> dict[str, Any]:
    """Build ``<corpus>/report/`` under a temporary name, then swap it into place."""
    from pipelines.report_html import render
    from pipelines.report_plots import draw_all

    card_path = corpus / "dataset_card.json"
    card = json.loads(card_path.read_text()) if card_path.is_file() else None
    figures = collect(corpus, samples_per_source=samples_per_source, seed=seed)
    report = summarize(card["name"] if card else corpus.name, figures, card, top_languages)
    tmp = corpus / f".report.tmp-{uuid.uuid4().hex[:12]}"
    try:
        tmp.mkdir()
        report["samples"] = extract_samples(figures, tmp / "samples")
        report["plots"] = draw_all(report, tmp / "plots")
        (tmp / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
        (tmp / "index.html").write_text(render(report), encoding="utf-8")
        final = corpus / "report"
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return report


def find_corpora(directory: Path) -> list[Path]:
    """``directory`` itself when it is a corpus, else its sub-folders that are."""
    if is_corpus(directory):
        return [directory]
    return [p for p in sorted(directory.iterdir()) if p.is_dir() and not p.name.startswith(".") and is_corpus(p)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clara report",
        description="Write <corpus>/report/ (index.html, plots/*.png, samples/*.flac, report.json) for a corpus "
        "folder, or for every corpus in a folder of corpora. Reads the per-shard stats, the shards' JSON members "
        "and failures/; never decodes audio.",
    )
    parser.add_argument("directory", help="a corpus folder (holding <split>/NNNNNN.tar) or a folder of corpora")
    parser.add_argument("--samples-per-source", type=int, default=3, help="examples per source dataset in the browser")
    parser.add_argument("--top-languages", type=int, default=15, help="languages shown before the long tail")
    parser.add_argument("--seed", type=int, default=0, help="seed of the example choice")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    directory = Path(args.directory)
    if not directory.is_dir():
        print(f"clara report: error: {directory} is not a folder", file=sys.stderr)
        return 1
    corpora = [c for c in find_corpora(directory) if any(c.glob("*/[0-9]*.stats.json"))]
    if not corpora:
        print(
            f"clara report: error: no shards under {directory} (expected <corpus>/<split>/NNNNNN.tar with its "
            "NNNNNN.stats.json marker; build some with `make shards`)",
            file=sys.stderr,
        )
        return 1
    status = 0
    for corpus in corpora:
        report = write_report(corpus, args.samples_per_source, args.top_languages, args.seed)
        t, check = report["totals"], report["card_check"]
        verdict = (
            "matches the dataset card"
            if check["matches"]
            else f"DIFFERS from the dataset card ({len(check['differences'])})"
        )
        print(f"{corpus / 'report' / 'index.html'}: {t['samples']} samples, {t['hours']:.3f} h; {verdict}")
        for line in check["differences"] + report["problems"]:
            print(f"  {line}", file=sys.stderr)
        status = status or (0 if check["matches"] and not report["problems"] else 1)
    return status
