"""What a corpus says about itself: each shard's figures (its marker, ``ShardStats``) and the
dataset card summed from them (``dataset_card.json`` and its markdown).

A shard's :class:`StatsAccumulator` is filled as its samples are written; a shard built in pieces
adds up its pieces' figures in order, so the sums are the same to the last bit as one writer's.
The card, ``clara validate`` and the report all add up markers with :func:`card_figures`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from pipelines.plan import ShardRef
from schemas import SCHEMA_VERSION, SPLITS, Failure, SampleMeta, ShardStats
from transforms.attributes import stage as attributes
from transforms.quality import histogram_entries, histogram_figures

ATTRIBUTE_HISTOGRAMS = (attributes.VALUE_PREFIX, attributes.LEVEL_PREFIX, attributes.UNMEASURED_PREFIX)


class StatsAccumulator:
    """Figures of one shard, filled as its samples are written."""

    def __init__(self, shard: ShardRef, items_in: int) -> None:
        self.shard = shard
        self.items_in = items_in
        self.samples = 0
        self.duration_s = 0.0
        self.ok_items: set[str] = set()
        self.failed_items: set[str] = set()
        self.seconds: dict[str, Counter] = defaultdict(Counter)
        self.samples_by_gender: Counter = Counter()
        self.failure_reasons: Counter = Counter()
        self.quality: dict[str, Counter] = defaultdict(Counter)
        self.figures: list[tuple] = []
        """What each sample added, in order (for :meth:`add_pieces`)."""

    def add_sample(self, meta: SampleMeta, source_key: str) -> None:
        od = meta.original_data
        quality = od.get("quality")
        # copies repeat their original's quality: only originals count in the histograms
        counted = histogram_entries(quality) if isinstance(quality, dict) and not meta.augmentations else []
        # a copy's attributes are its own (those its effects changed are measured again): every sample counts
        measured = od.get("attributes")
        counted += attributes.histogram_entries(measured) if isinstance(measured, dict) else []
        figures = (
            meta.duration_s,
            source_key,
            (
                ("language", str(od.get("language"))),
                ("gender", str(od.get("gender", "unknown"))),
                ("emotion", str(od.get("emotion") or "none")),
                ("dataset", str(od.get("dataset"))),
            ),
            tuple(counted),
        )
        self.figures.append(figures)
        self._add(figures)

    def _add(self, figures: tuple) -> None:
        duration_s, source_key, labels, quality = figures
        self.samples += 1
        self.duration_s += duration_s
        self.ok_items.add(source_key)
        for field, value in labels:
            self.seconds[field][value] += duration_s
        self.samples_by_gender[labels[1][1]] += 1
        for measure, label in quality:
            self.quality[measure][label] += 1

    def add_pieces(self, pieces: Iterable[StatsAccumulator]) -> None:
        """Take in the figures of a shard's pieces, in order: the same sums, to the last bit, as
        one accumulator that saw every sample (a float sum depends on its order)."""
        for piece in pieces:
            for figures in piece.figures:
                self.figures.append(figures)
                self._add(figures)
            self.failed_items |= piece.failed_items
            self.failure_reasons.update(piece.failure_reasons)

    def add_failure(self, failure: Failure) -> None:
        self.failed_items.add(failure.source_key)
        self.failure_reasons[f"{failure.stage}/{failure.reason}"] += 1

    def result(self, size_bytes: int, fingerprint: str = "") -> ShardStats:
        failed_only = self.failed_items - self.ok_items
        return ShardStats(
            shard=self.shard.name,
            split=self.shard.split,
            items_in=self.items_in,
            items_ok=len(self.ok_items),
            items_failed=len(failed_only),
            samples=self.samples,
            duration_s=round(self.duration_s, 3),
            bytes=size_bytes,
            seconds_by_language=_rounded(self.seconds["language"]),
            seconds_by_gender=_rounded(self.seconds["gender"]),
            seconds_by_emotion=_rounded(self.seconds["emotion"]),
            seconds_by_dataset=_rounded(self.seconds["dataset"]),
            samples_by_gender=dict(sorted(self.samples_by_gender.items())),
            failures_by_reason=dict(sorted(self.failure_reasons.items())),
            quality_histograms={m: dict(sorted(c.items())) for m, c in sorted(self.quality.items())},
            fingerprint=fingerprint,
        )


def _rounded(counter: Counter) -> dict[str, float]:
    return {k: round(v, 3) for k, v in sorted(counter.items())}


def card_figures(stats: list[ShardStats], other_failure_reasons: Counter) -> dict[str, Any]:
    """The card's figures from the per-shard stats and the failures outside shards
    (``"stage/reason" -> count``); the report recomputes them with this same function."""

    def total(attr: str) -> dict[str, float]:
        acc: Counter = Counter()
        for s in stats:
            acc.update(getattr(s, attr))
        return {k: round(v / 3600, 4) for k, v in sorted(acc.items())}

    splits: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        mine = [s for s in stats if s.split == split]
        if mine:
            splits[split] = {
                "shards": len(mine),
                "samples": sum(s.samples for s in mine),
                "hours": round(sum(s.duration_s for s in mine) / 3600, 4),
                "bytes": sum(s.bytes for s in mine),
            }
    reasons: Counter = Counter(other_failure_reasons)
    gender_samples: Counter = Counter()
    quality: dict[str, Counter] = defaultdict(Counter)
    for s in stats:
        reasons.update(s.failures_by_reason)
        gender_samples.update(s.samples_by_gender)
        for measure, counts in s.quality_histograms.items():
            quality[measure].update(counts)
    other = sum(other_failure_reasons.values())
    items_in = sum(s.items_in for s in stats) + other
    items_ok = sum(s.items_ok for s in stats)
    items_failed = sum(s.items_failed for s in stats) + other
    return {
        "totals": {
            "items_in": items_in,
            "items_ok": items_ok,
            "items_failed": items_failed,
            "reconciled": items_in == items_ok + items_failed,
            "samples": sum(s.samples for s in stats),
            "hours": round(sum(s.duration_s for s in stats) / 3600, 4),
            "bytes": sum(s.bytes for s in stats),
        },
        "splits": splits,
        "hours_by_language": total("seconds_by_language"),
        "hours_by_gender": total("seconds_by_gender"),
        "hours_by_emotion": total("seconds_by_emotion"),
        "hours_by_dataset": total("seconds_by_dataset"),
        "samples_by_gender": dict(sorted(gender_samples.items())),
        "failures_by_reason": dict(sorted(reasons.items())),
        **({"quality": quality_figures(own, reasons)} if (own := _without(quality, ATTRIBUTE_HISTOGRAMS)) else {}),
        **({"attributes": attributes.attribute_figures(measured, reasons)} if (measured := _only(quality)) else {}),
    }


def _without(histograms: dict[str, Counter], prefixes: tuple[str, ...]) -> dict[str, Counter]:
    return {k: v for k, v in histograms.items() if not k.startswith(prefixes)}


def _only(histograms: dict[str, Counter]) -> dict[str, Counter]:
    """The measured attributes' histograms (in the stats beside the quality filters')."""
    return {k: v for k, v in histograms.items() if k.startswith(ATTRIBUTE_HISTOGRAMS)}


def quality_figures(histograms: dict[str, Counter], reasons: Counter) -> dict[str, Any]:
    """The card's quality section: samples per bin of each measure (bins in order) and the drops."""
    return {
        "histograms": histogram_figures(histograms),
        "dropped": {k.split("/", 1)[1]: v for k, v in sorted(reasons.items()) if k.startswith("quality/")},
    }


def build_card(
    name: str, stats: list[ShardStats], other_failures: list[Failure], settings: dict[str, Any]
) -> dict[str, Any]:
    """dataset_card.json: totals by split, language, gender, emotion and source dataset."""
    reasons = Counter(f"{f.stage}/{f.reason}" for f in other_failures)
    return {
        "name": name,
        "schema_version": SCHEMA_VERSION,
        "format": "webdataset: <split>/NNNNNN.tar with <key>.flac (48 kHz mono 16-bit) + <key>.json",
        "settings": settings,
        **card_figures(stats, reasons),
    }


def eval_removals(failures: list[Failure], eval_sets: Iterable[str] = ()) -> dict[str, int]:
    """Training items removed for overlapping each eval set (``--exclude-eval``; 0 for a set none overlapped)."""
    counts: Counter = Counter({name: 0 for name in eval_sets})
    counts.update(f.eval_set for f in failures if f.eval_set)
    return dict(sorted(counts.items()))


def card_markdown(card: dict[str, Any]) -> str:
    t = card["totals"]
    lines = [
        f"# {card['name']}",
        "",
        f"{t['samples']} samples, {t['hours']:.3f} h of audio, {t['bytes'] / 1e6:.1f} MB "
        f"({t['items_ok']} of {t['items_in']} source items written, {t['items_failed']} failed).",
        "",
        f"Format: {card['format']}; schema {card['schema_version']}.",
        "",
        "| split | shards | samples | hours |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {k} | {v['shards']} | {v['samples']} | {v['hours']:.3f} |" for k, v in card["splits"].items()]
    for title, key in (
        ("Hours by language", "hours_by_language"),
        ("Hours by gender", "hours_by_gender"),
        ("Hours by emotion", "hours_by_emotion"),
        ("Hours by source dataset", "hours_by_dataset"),
    ):
        lines += ["", f"## {title}", "", "| value | hours |", "|---|---:|"]
        lines += [f"| {k} | {v:.4f} |" for k, v in card[key].items()]
    lines += ["", "## Failures by stage/reason", "", "| stage/reason | items |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in card["failures_by_reason"].items()] or ["| none | 0 |"]
    lines += _quality_markdown(card.get("quality"))
    lines += _attributes_markdown(card.get("attributes"))
    if card.get("eval_decontamination"):
        lines += ["", "## Removed for overlapping an eval set", "", "| eval set | items |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in card["eval_decontamination"].items()]
    if card.get("retries"):
        lines += ["", "## Retries of failed items", "", "| run | retried | recovered | failed again | shards |"]
        lines += ["|---:|---:|---:|---:|---|"]
        lines += [
            f"| {r['run']} | {r['retried']} | {r['recovered']} | {r['failed_again']} | {', '.join(r['shards'])} |"
            for r in card["retries"]
        ]
    return "\n".join(lines) + "\n"


def _quality_markdown(quality: dict[str, Any] | None) -> list[str]:
    if not quality:
        return []
    lines = ["", "## Quality (measured filters: samples written, per bin)", ""]
    for measure, bins in quality["histograms"].items():
        lines.append(f"- {measure}: " + ", ".join(f"{label}: {n}" for label, n in bins.items()))
    dropped = ", ".join(f"{reason}: {n}" for reason, n in quality["dropped"].items()) or "none"
    return [*lines, f"- dropped: {dropped}"]


def _attributes_markdown(measured: dict[str, Any] | None) -> list[str]:
    if not measured:
        return []
    lines = ["", "## Measured attributes (samples written, per level and per bin)", ""]
    for key, levels in measured["levels"].items():
        lines.append(f"- {key}: " + ", ".join(f"{level}: {n}" for level, n in levels.items()))
    for value, bins in measured["histograms"].items():
        lines.append(f"- {value}: " + ", ".join(f"{label}: {n}" for label, n in bins.items()))
    dropped = ", ".join(f"{reason}: {n}" for reason, n in measured["dropped"].items()) or "none"
    return [*lines, f"- dropped: {dropped}"]
