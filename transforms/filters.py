"""Quality filters as data: one :class:`Filter` row per judged value, and everything that reads rows.

A row says which ``--filters`` name turns it on, how its value is measured, where the value lands in
``original_data['quality']``, how it is compared with its settings field, the failure reason of a
drop and the bin edges of its histogram. The rows themselves (the table) and their settings fields
live beside the stage in ``transforms/quality.py``; this module holds what every row shares:

- :func:`verdict`: the first row a sample fails, as a failure's (reason, detail);
- :func:`histogram_values`: each row's value in one sample's quality record, the one place the
  shard stats (:func:`histogram_entries`, fixed bins) and the report (distributions) read them;
- :func:`histogram_figures`: the card's histograms, bins in the order of their rows' edges.

Comparisons: ``"<"`` drops a value below the settings field (a minimum), ``">"`` one above it (a
maximum), ``"mismatch"`` drops a declared-against-detected record whose ``mismatch`` is true when the
settings field says ``"drop"`` (the language check). A value that is missing or ``None`` (a measure
that could not be taken) drops nothing. Rows are judged in table order, the ``"mismatch"`` rows
after every numeric one.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from schemas import SAMPLE_RATE

VAD_RATE = 16_000
"""The rate of the audio that Whisper's language ID and Silero VAD read."""

Comparison = Literal["<", ">", "mismatch"]
MISMATCH_LABELS = {True: "mismatch", False: "match"}
"""Histogram bins of a ``"mismatch"`` row; a record without a verdict counts as ``not_judged``."""
MISMATCH_DETAIL = ("detected", "probability", "declared", "declared_probability")
"""The keys of a ``"mismatch"`` record that a drop's detail names, in this order."""


class Measuring:
    """What a filter's measure may read of one sample: the sample, the stage's settings, its audio at
    16 kHz (resampled once, on first use) and the worker's shared Whisper (loaded on first use)."""

    def __init__(self, sample: Any, settings: Any, whisper: Callable[[], Any]) -> None:
        self.sample = sample
        self.settings = settings
        self.whisper = whisper

    @functools.cached_property
    def audio_16k(self) -> np.ndarray:
        import soxr

        return soxr.resample(np.asarray(self.sample.audio, dtype=np.float32), SAMPLE_RATE, VAD_RATE).astype(np.float32)


@dataclass(frozen=True)
class Filter:
    """One judged value of a measured quality filter.

    ``measure(m: Measuring)`` returns the entries it adds to the sample's quality record (several rows
    of one ``name`` share one measure, taken once); ``field`` is where the judged value sits in that
    record (``"asr.avg_logprob"`` for a nested one); ``limit`` names the settings field it is compared
    with, and ``bounds`` that field's allowed range; ``edges`` are the histogram's bin edges (a
    ``"mismatch"`` row bins by verdict instead); ``speech_only`` judges only samples with a
    transcript; ``digits`` rounds the report's distribution of the value.
    """

    name: str
    measure: Callable[[Measuring], dict[str, Any]]
    field: str
    comparison: Comparison
    limit: str
    reason: str
    edges: tuple[float, ...] = ()
    bounds: tuple[float, float] | None = None
    speech_only: bool = False
    digits: int = 2

    def __post_init__(self) -> None:
        if self.comparison not in ("<", ">", "mismatch"):
            raise ValueError(f"filter {self.name}: comparison must be '<', '>' or 'mismatch', not {self.comparison!r}")
        if self.comparison != "mismatch" and (len(self.edges) < 2 or list(self.edges) != sorted(self.edges)):
            raise ValueError(f"filter {self.name}: a numeric row needs at least two increasing histogram edges")

    @property
    def histogram(self) -> str:
        """The value's name in the stats, the card and the report (``asr.avg_logprob`` -> ``asr_avg_logprob``)."""
        return self.field.replace(".", "_")

    @property
    def label(self) -> str:
        """The value's name in a drop's detail (the last part of ``field``)."""
        return self.field.rsplit(".", 1)[-1]

    def value(self, record: Mapping[str, Any]) -> Any:
        """The row's value in a quality record; None when absent."""
        for part in self.field.split("."):
            record = record.get(part) if isinstance(record, Mapping) else None
        return record

    def present(self, record: Mapping[str, Any]) -> bool:
        """Whether the record holds the row's field at all (a ``None`` there counts)."""
        *outer, last = self.field.split(".")
        for part in outer:
            record = record.get(part) if isinstance(record, Mapping) else None
        return isinstance(record, Mapping) and last in record

    def labels(self) -> list[str]:
        """The bins in order: ``"lo..hi"`` (the last one holds its upper edge too), or the verdicts."""
        if self.comparison == "mismatch":
            return [*MISMATCH_LABELS.values(), "not_judged"]
        return [f"{lo:g}..{hi:g}" for lo, hi in zip(self.edges, self.edges[1:])]

    def bin(self, value: Any) -> str:
        """The bin a value falls in (below the first edge: the first bin; above the last: the last)."""
        if self.comparison == "mismatch":
            return MISMATCH_LABELS.get(value.get("mismatch") if isinstance(value, Mapping) else None, "not_judged")
        index = int(np.searchsorted(self.edges, value, side="right")) - 1
        return self.labels()[min(max(index, 0), len(self.edges) - 2)]

    def fails(self, value: Any, limit: Any) -> str | None:
        """A drop's detail when ``value`` fails against ``limit``, else None."""
        if value is None:
            return None
        if self.comparison == "mismatch":
            if isinstance(value, Mapping) and value.get("mismatch") and limit == "drop":
                return " ".join(f"{key}={value[key]}" for key in MISMATCH_DETAIL)
            return None
        if value < limit if self.comparison == "<" else value > limit:
            return f"{self.label}={value} ({'min' if self.comparison == '<' else 'max'} {limit})"
        return None


def names(rows: Iterable[Filter]) -> tuple[str, ...]:
    """The ``--filters`` names of a table, in its order."""
    return tuple(dict.fromkeys(row.name for row in rows))


def measure(rows: Iterable[Filter], wanted: Iterable[str], measuring: Measuring) -> dict[str, Any]:
    """The quality record of one sample: each wanted filter's measure, once, in table order."""
    wanted = set(wanted)
    record: dict[str, Any] = {}
    done: set[str] = set()
    for row in rows:
        if row.name in wanted and row.name not in done:
            done.add(row.name)
            record.update(row.measure(measuring))
    return record


def verdict(rows: Iterable[Filter], record: Mapping[str, Any], settings: Any, speech: bool) -> tuple[str, str] | None:
    """(reason, detail with the value) of the first row a quality record fails, or None."""
    ordered = sorted(rows, key=lambda row: row.comparison == "mismatch")
    for row in ordered:
        if row.speech_only and not speech:
            continue
        detail = row.fails(row.value(record), limit_of(row, settings))
        if detail is not None:
            return row.reason, detail
    return None


def limit_of(row: Filter, settings: Any) -> Any:
    """The settings field a row compares with; a clear error when the settings lack it."""
    try:
        return getattr(settings, row.limit)
    except AttributeError:
        raise ValueError(f"filter {row.name}: the settings have no field {row.limit!r}") from None


def check_limits(rows: Iterable[Filter], settings: Any) -> None:
    """One-line ``ValueError`` for a settings field outside its row's ``bounds``."""
    for row in rows:
        value = limit_of(row, settings)
        if row.bounds is not None and not row.bounds[0] <= value <= row.bounds[1]:
            lo, hi = row.bounds
            raise ValueError(f"--{row.limit.replace('_', '-')} must lie in [{lo:g}, {hi:g}], got {value}")


def histogram_values(rows: Iterable[Filter], quality: Mapping[str, Any]) -> dict[str, Any]:
    """Each numeric row's value in one sample's quality record (numbers only), and each ``"mismatch"``
    row's record (or None) where the record holds its field: ``{histogram name: value}``."""
    values: dict[str, Any] = {}
    for row in rows:
        if row.comparison == "mismatch":
            if row.present(quality):
                values[row.histogram] = row.value(quality)
            continue
        value = row.value(quality)
        if isinstance(value, (int, float)):
            values[row.histogram] = value
    return values


def histogram_entries(rows: Iterable[Filter], quality: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(histogram, bin) pairs of one sample's quality record, for counting."""
    by_name = {row.histogram: row for row in rows}
    return [(name, by_name[name].bin(value)) for name, value in histogram_values(by_name.values(), quality).items()]


def histogram_figures(rows: Iterable[Filter], histograms: Mapping[str, Counter]) -> dict[str, dict[str, int]]:
    """The card's histograms: each one's non-empty bins in its row's order (numeric rows) or sorted
    (verdicts, and histograms no row names); histograms sorted by name."""
    by_name = {row.histogram: row for row in rows}
    figures: dict[str, dict[str, int]] = {}
    for name, counts in sorted(histograms.items()):
        row = by_name.get(name)
        order = row.labels() if row is not None and row.comparison != "mismatch" else sorted(counts)
        figures[name] = {label: counts[label] for label in order if counts.get(label)}
    return figures
