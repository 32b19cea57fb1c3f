"""The records every stage speaks, from a dataset row to a shard's commit marker.

Times are seconds as start + duration (lhotse's convention); units are in the names.
All records are frozen dataclasses with ``to_dict``/``from_dict`` so they cross Beam
shuffles as plain, picklable values and serialise to JSON without surprises.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = "1.0.0"
SAMPLE_RATE = 48_000
"""Every shard's audio: mono, 48 kHz, 16-bit FLAC (paper §III-A1)."""

SPLITS: tuple[str, ...] = ("train", "valid", "test")
CaptionOrigin = Literal["template", "transcript", "human", "visual", "rewrite", "translation"]
CAPTION_ORIGINS: tuple[str, ...] = ("template", "transcript", "human", "visual", "rewrite", "translation")

_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def make_key(*parts: str) -> str:
    """Build a WebDataset-safe key: letters, digits, ``_`` and ``-`` only (no dots, no slashes).

    WebDataset splits a member name at its first dot, so keys must never contain one.
    """
    raw = "-".join(str(p) for p in parts if str(p) != "")
    key = re.sub(r"[^A-Za-z0-9_-]+", "_", raw).strip("_")
    if not key:
        raise ValueError(f"cannot build a key from {parts!r}")
    return key


def sample_key(source_key: str, segment_index: int = 0, augment_index: int = 0) -> str:
    """Deterministic key of one sample: source key + segment index + augmentation index."""
    if not _KEY_RE.match(source_key):
        raise ValueError(f"invalid source key {source_key!r}")
    return f"{source_key}_{segment_index:03d}_{augment_index}"


class _Record:
    """Mixin: ``to_dict``/``from_dict`` for (nested) frozen dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                continue
            kwargs[name] = _coerce(cls, name, value)
        return cls(**kwargs)


def _coerce(cls: type, name: str, value: Any) -> Any:
    nested = _NESTED.get((cls.__name__, name))
    if nested is None or value is None:
        return tuple(value) if isinstance(value, list) else value
    if isinstance(value, (list, tuple)):
        return tuple(v if isinstance(v, nested) else nested.from_dict(v) for v in value)
    return value if isinstance(value, nested) else nested.from_dict(value)


@dataclass(frozen=True)
class WordAlignment(_Record):
    """One word with its time span (an alignment item, like lhotse's ``AlignmentItem``)."""

    word: str
    start_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class Caption(_Record):
    """One natural-language caption of a sample, its language and where it came from."""

    text: str
    language: str
    origin: CaptionOrigin

    def __post_init__(self) -> None:
        if self.origin not in CAPTION_ORIGINS:
            raise ValueError(f"unknown caption origin {self.origin!r}")
        if not self.text.strip():
            raise ValueError("empty caption")


@dataclass(frozen=True)
class Augmentation(_Record):
    """One augmentation applied to a sample, with every parameter needed to redo it."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceItem(_Record):
    """One recording as a dataset adapter describes it, before any audio is read.

    Small on purpose: it is what moves through shuffles. ``uri`` is read through Beam's
    ``FileSystems`` (local, gs://, s3://) or, for the embedded demo corpus, ``demo://``.
    """

    key: str
    uri: str
    dataset: str
    source_id: str
    language: str = "und"
    transcript: str | None = None
    speaker_id: str | None = None
    gender: str = "unknown"
    age: str | None = None
    emotion: str | None = None
    emotion_intensity: str | None = None
    labels: tuple[str, ...] = ()
    captions: tuple[str, ...] = ()
    split: str | None = None
    license: str | None = None
    duration_hint_s: float | None = None
    words: tuple[WordAlignment, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _KEY_RE.match(self.key):
            raise ValueError(f"invalid key {self.key!r}: use make_key()")
        if self.split is not None and self.split not in SPLITS:
            raise ValueError(f"invalid split {self.split!r}; expected one of {SPLITS}")


@dataclass(frozen=True)
class Segment(_Record):
    """A piece of a source recording (the whole of it when not segmented)."""

    source_key: str
    index: int
    start_s: float
    duration_s: float
    transcript: str | None = None
    words: tuple[WordAlignment, ...] = ()
    """Word timings relative to the segment start."""


@dataclass(frozen=True)
class SampleMeta(_Record):
    """The per-sample JSON (``<key>.json`` in a shard).

    ``text``, ``tag`` and ``original_data`` are LAION-CLAP's fields and are what its
    loaders read; ``captions`` repeats ``text`` entry by entry with language and origin.
    """

    key: str
    text: tuple[str, ...]
    tag: tuple[str, ...]
    original_data: dict[str, Any]
    captions: tuple[Caption, ...]
    duration_s: float
    split: str
    sample_rate: int = SAMPLE_RATE
    segment: dict[str, Any] | None = None
    alignment: tuple[WordAlignment, ...] = ()
    augmentations: tuple[Augmentation, ...] = ()
    schema_version: str = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if tuple(c.text for c in self.captions) != tuple(self.text):
            raise ValueError("text and captions disagree")
        if not self.text:
            raise ValueError(f"sample {self.key} has no caption")

    def to_json_dict(self) -> dict[str, Any]:
        data = self.to_dict()
        for name in ("text", "tag", "captions", "alignment", "augmentations"):
            data[name] = list(data[name])
        return data


@dataclass(frozen=True)
class Failure(_Record):
    """A sample or item that did not make it into a shard, and why (the dead-letter record)."""

    key: str
    source: str
    stage: str
    reason: str
    detail: str = ""
    shard: str | None = None


@dataclass(frozen=True)
class ShardStats(_Record):
    """Figures of one written shard; its JSON file is the shard's commit marker."""

    shard: str
    split: str
    items_in: int
    items_ok: int
    items_failed: int
    samples: int
    duration_s: float
    bytes: int
    seconds_by_language: dict[str, float] = field(default_factory=dict)
    seconds_by_gender: dict[str, float] = field(default_factory=dict)
    seconds_by_emotion: dict[str, float] = field(default_factory=dict)
    seconds_by_dataset: dict[str, float] = field(default_factory=dict)
    samples_by_gender: dict[str, int] = field(default_factory=dict)
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    fingerprint: str = ""
    """Hash of the shard's planned items and the settings that shape its bytes: a rerun
    reuses the shard only when both are unchanged."""
    schema_version: str = SCHEMA_VERSION


_NESTED: dict[tuple[str, str], type] = {
    ("SourceItem", "words"): WordAlignment,
    ("Segment", "words"): WordAlignment,
    ("SampleMeta", "captions"): Caption,
    ("SampleMeta", "alignment"): WordAlignment,
    ("SampleMeta", "augmentations"): Augmentation,
}
