"""Streaming figures of one built corpus, for the report (paper Table VII and Appendix A).

Every input is read once, a file at a time:

- the per-shard stats (``<split>/NNNNNN.stats.json``, the commit markers) give the hour totals,
  summed exactly as the dataset card sums them (``card.build_card``), so no audio is decoded;
- the per-sample JSONs are streamed member by member out of each tar; the FLAC members are
  seeked over, never read. They give the per-dataset Table VII columns, caption, duration and
  augmentation figures, and a seeded reservoir of example samples per source dataset;
- ``failures/*.jsonl`` give failures by stage and reason, with a reservoir of examples.

Memory is bounded by vocabularies (datasets, languages, origins, augmentation names), histograms
of rounded values and the reservoirs — never by the number of samples or shards.
"""

from __future__ import annotations

import json
import random
import sys
import tarfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas import SPLITS, Failure, ShardStats
from transforms.attributes.stage import histogram_values as attribute_values
from transforms.attributes.stage import value_digits
from transforms.fidelity import outcome
from transforms.quality import filter_row, histogram_values
from transforms.segment.recovery import anomalous_failure, anomalous_sample

NOISE_WEIGHT_KEYS = ("noise_weight_lambda", "lambda", "noise_weight")
"""Where a noise mix records λ (augment/stage.py writes ``noise_weight_lambda``)."""
WORD_TAGS = frozenset({"word", "words", "keyword", "spoken_word", "spoken-word"})
MUSIC_TAGS = frozenset({"music", "singing", "humming"})
RUN_LEVEL_FAILURE_FILES = ("source.jsonl", "pipeline.jsonl")
"""Failures outside any shard (``sink.finalize``); every other failures file belongs to a shard."""


def is_corpus(path: Path) -> bool:
    """A corpus folder holds a dataset card or at least one committed shard."""
    return (path / "dataset_card.json").is_file() or any(shard_markers(path))


def shard_markers(corpus: Path) -> list[Path]:
    """Committed shards' markers, split by split, in shard order."""
    return [m for split in SPLITS for m in sorted((corpus / split).glob("[0-9]*.stats.json"))]


@dataclass
class Reservoir:
    """Algorithm R: a uniform sample of ``size`` items from a stream, seeded (reports are reproducible)."""

    size: int
    rng: random.Random
    seen: int = 0
    items: list[Any] = field(default_factory=list)

    def offer(self, item: Any) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
            return
        slot = self.rng.randrange(self.seen)
        if slot < self.size:
            self.items[slot] = item


@dataclass
class DatasetFigures:
    """Table VII columns of one source dataset, counted over its samples."""

    samples: int = 0
    seconds: float = 0.0
    languages: Counter = field(default_factory=Counter)
    gender_samples: Counter = field(default_factory=Counter)
    content: Counter = field(default_factory=Counter)

    def add(self, meta: dict[str, Any]) -> None:
        od = meta.get("original_data") or {}
        tags = {str(t).lower() for t in (*meta.get("tag", ()), *(od.get("labels") or ()))}
        transcript = (od.get("transcript") or "").strip()
        self.samples += 1
        self.seconds += float(meta.get("duration_s") or 0.0)
        self.languages[str(od.get("language", "und"))] += 1
        self.gender_samples[str(od.get("gender") or "unknown")] += 1
        speech = bool(transcript) or "speech" in tags
        self.content["speech"] += speech
        self.content["words"] += bool(tags & WORD_TAGS) or (bool(transcript) and len(transcript.split()) == 1)
        self.content["sounds"] += not speech and not tags & MUSIC_TAGS
        self.content["music"] += bool(tags & MUSIC_TAGS)
        self.content["emotion"] += bool(od.get("emotion"))
        self.content["age"] += bool(od.get("age"))
        self.content["gender"] += str(od.get("gender") or "unknown") != "unknown"

    def content_codes(self) -> str:
        """Table VII's content column: SP, E, A, G, W, S (and M for music), present in any sample."""
        c = self.content
        words = c["words"] * 2 > max(c["speech"], 1)  # mostly single words: MSWC-like, W instead of SP
        codes = [("SP", c["speech"] and not words), ("W", words), ("E", c["emotion"]), ("A", c["age"])]
        codes += [("G", c["gender"]), ("S", c["sounds"]), ("M", c["music"])]
        return "/".join(code for code, present in codes if present) or "-"


@dataclass
class CorpusFigures:
    """Everything the report shows of one corpus, accumulated a shard at a time."""

    samples_per_source: int = 3
    failure_examples: int = 3
    seed: int = 0
    stats: list[ShardStats] = field(default_factory=list)
    datasets: dict[str, DatasetFigures] = field(default_factory=lambda: defaultdict(DatasetFigures))
    source_durations: Counter = field(default_factory=Counter)
    segment_durations: Counter = field(default_factory=Counter)
    caption_words: Counter = field(default_factory=Counter)
    captions_by_origin: Counter = field(default_factory=Counter)
    captions_by_language: Counter = field(default_factory=Counter)
    augmentations: Counter = field(default_factory=Counter)
    augmented_samples: int = 0
    llm_outcomes: Counter = field(default_factory=Counter)
    """(stage, accepted|rejected|failed, reason) → count, for the LLM's rewrites, fusions, translations."""
    snr_db: Counter = field(default_factory=Counter)
    noise_lambda: Counter = field(default_factory=Counter)
    quality_values: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    """Measured value → rounded value → samples (``original_data.quality``, by the rows of
    ``transforms.quality.FILTER_ROWS``)."""
    quality_language: Counter = field(default_factory=Counter)
    """(declared, detected, verdict) → samples of the language check."""
    quality_samples: int = 0
    attribute_values: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    """Measured attribute → rounded value → samples (``original_data.attributes``, every sample written)."""
    attribute_levels: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    """Attribute → level (``attributes.words``) → samples."""
    attribute_samples: int = 0
    samples_read: int = 0
    failures: Counter = field(default_factory=Counter)
    speech_without_text: int = 0
    """Items rejected for lack of text though the VAD heard speech (transforms/segment/recovery.py)."""
    run_level_failures: Counter = field(default_factory=Counter)
    failure_samples: dict[str, Reservoir] = field(default_factory=dict)
    sample_picks: dict[str, Reservoir] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    # -- inputs ---------------------------------------------------------------------------

    def add_stats(self, marker: Path) -> ShardStats:
        stats = ShardStats.from_dict(json.loads(marker.read_text()))
        self.stats.append(stats)
        return stats

    def add_shard(self, tar_path: Path, split: str) -> int:
        """Stream one tar's JSON members (FLACs are skipped); returns how many samples were read."""
        count = 0
        try:
            with tarfile.open(tar_path, mode="r:") as tar:
                while (member := tar.next()) is not None:
                    if member.isfile() and member.name.endswith(".json"):
                        data = tar.extractfile(member)
                        self.add_sample(json.loads(data.read()) if data else {}, tar_path, split)
                        count += 1
                    tar.members.clear()  # tarfile keeps every header it has seen; we need none
        except (OSError, tarfile.TarError, json.JSONDecodeError) as exc:
            self.problems.append(f"{tar_path}: unreadable ({type(exc).__name__}: {exc})")
        return count

    def add_sample(self, meta: dict[str, Any], tar_path: Path, split: str) -> None:
        od = meta.get("original_data") or {}
        dataset = str(od.get("dataset", "unknown"))
        self.samples_read += 1
        self.datasets[dataset].add(meta)
        duration = float(meta.get("duration_s") or 0.0)
        segment = meta.get("segment") or {}
        augmentations = meta.get("augmentations") or []
        if not augmentations:
            self.segment_durations[round(duration, 1)] += 1
            if int(segment.get("index", 0)) == 0:  # one count per source recording
                source = segment.get("source_duration_s") or duration
                self.source_durations[round(float(source), 1)] += 1
        for caption in meta.get("captions") or []:
            self.captions_by_origin[str(caption.get("origin", "unknown"))] += 1
            self.captions_by_language[str(caption.get("language", "und"))] += 1
            self.caption_words[len(str(caption.get("text", "")).split())] += 1
        self._add_augmentations(augmentations)
        self._add_llm_outcomes(od)
        self.speech_without_text += not augmentations and anomalous_sample(od)
        if isinstance(od.get("quality"), dict) and not augmentations:  # copies repeat their original's
            self._add_quality(od["quality"])
        if isinstance(od.get("attributes"), dict):  # a copy's own: those its effects changed are measured again
            self._add_attributes(od["attributes"])
        picks = self.sample_picks.setdefault(dataset, Reservoir(self.samples_per_source, self._rng))
        picks.offer({"meta": meta, "tar": str(tar_path), "split": split})

    def _add_augmentations(self, augmentations: list[dict[str, Any]]) -> None:
        if augmentations:
            self.augmented_samples += 1
        for aug in augmentations:
            name = str(aug.get("name", "unknown"))
            params = aug.get("params") or {}
            self.augmentations[name] += 1
            if "snr_db" in params and _finite(params["snr_db"]):
                self.snr_db[round(float(params["snr_db"]), 1)] += 1
            weight = next((params[k] for k in NOISE_WEIGHT_KEYS if k in params), None)
            if weight is not None and _finite(weight):
                self.noise_lambda[round(float(weight), 3)] += 1

    def _add_quality(self, quality: dict[str, Any]) -> None:
        """One sample's measured values, as the filter rows read them (``transforms.quality.FILTER_ROWS``)."""
        self.quality_samples += 1
        for measure, value in histogram_values(quality).items():
            row = filter_row(measure)
            if row.comparison == "mismatch":
                if isinstance(value, dict):
                    pair = (str(value.get("declared")), str(value.get("detected")))
                    self.quality_language[(*pair, row.bin(value))] += 1
            elif _finite(value):
                self.quality_values[measure][round(float(value), row.digits)] += 1

    def _add_attributes(self, record: dict[str, Any]) -> None:
        """One sample's measured attributes (``transforms.attributes``) and their levels."""
        self.attribute_samples += 1
        for measure, value in attribute_values(record).items():
            if _finite(value):
                self.attribute_values[measure][round(float(value), value_digits(measure))] += 1
        for key, level in (record.get("words") or {}).items():
            self.attribute_levels[str(key)][str(level)] += 1

    def _add_llm_outcomes(self, od: dict[str, Any]) -> None:
        """What became of each LLM answer the sample's JSON records (accepted, rejected by which check, failed)."""
        found: list[tuple[str, str]] = []
        rewrite = od.get("rewrite")
        if isinstance(rewrite, dict):
            found.append(("rewrite", "ok" if rewrite.get("status") == "ok" else str(rewrite.get("reason"))))
        fusion = (od.get("visual") or {}).get("fusion") if isinstance(od.get("visual"), dict) else None
        if isinstance(fusion, dict) and fusion.get("reason") != "no_llm":
            found.append(("fusion", "ok" if fusion.get("method") == "llm" else str(fusion.get("reason"))))
        translations = od.get("translation")
        for language in translations.values() if isinstance(translations, dict) else ():
            measured = language.get("attributes") if isinstance(language, dict) else None  # the attribute caption's
            for record in (language, measured):
                if isinstance(record, dict) and (record.get("method") == "llm" or "llm_fallback" in record):
                    found.append(("translation", str(record.get("llm_fallback", "ok"))))
        for stage, reason in found:
            self.llm_outcomes[(stage, outcome(reason), reason)] += 1

    def add_failures(self, path: Path) -> None:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    failure = Failure.from_dict(json.loads(line))
                except (ValueError, TypeError) as exc:
                    self.problems.append(f"{path}:{number}: not a failure record ({exc})")
                    continue
                reason = f"{failure.stage}/{failure.reason}"
                self.failures[reason] += 1
                self.speech_without_text += anomalous_failure(failure.stage, failure.reason, failure.detail)
                if path.name in RUN_LEVEL_FAILURE_FILES:
                    self.run_level_failures[reason] += 1
                record = {**failure.to_dict(), "file": path.name}
                self.failure_samples.setdefault(reason, Reservoir(self.failure_examples, self._rng)).offer(record)


def _finite(value: Any) -> bool:
    try:
        return float(value) == float(value) and abs(float(value)) != float("inf")
    except (TypeError, ValueError):
        return False


class Progress:
    """One line to stderr at most every ``every_s`` seconds (and at the end), for long reports."""

    def __init__(self, name: str, total: int, every_s: float = 5.0, stream=None) -> None:
        self.name, self.total, self.every_s = name, total, every_s
        self.stream = stream or sys.stderr
        self.started = self.last = time.monotonic()

    def update(self, done: int, samples: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < self.every_s:
            return
        self.last = now
        rate = samples / max(now - self.started, 1e-9)
        print(
            f"[report] {self.name}: {done}/{self.total} shards, {samples} samples ({rate:.0f}/s)",
            file=self.stream,
            flush=True,
        )


def collect(corpus: Path, samples_per_source: int = 3, seed: int = 0, progress_every_s: float = 5.0) -> CorpusFigures:
    """Read one corpus's stats, shards and failures into :class:`CorpusFigures`."""
    figures = CorpusFigures(samples_per_source=samples_per_source, seed=seed)
    markers = shard_markers(corpus)
    progress = Progress(corpus.name, len(markers), progress_every_s)
    for done, marker in enumerate(markers, 1):
        stats = figures.add_stats(marker)
        tar_path = marker.with_name(marker.name.replace(".stats.json", ".tar"))
        if not tar_path.is_file():
            figures.problems.append(f"{tar_path}: committed (marker present) but the tar is missing")
            continue
        read = figures.add_shard(tar_path, stats.split)
        if read != stats.samples:
            figures.problems.append(f"{tar_path}: {read} samples in the tar, {stats.samples} in its stats")
        progress.update(done, figures.samples_read)
    progress.update(len(markers), figures.samples_read, final=True)
    for path in sorted((corpus / "failures").glob("*.jsonl")):
        figures.add_failures(path)
    return figures
