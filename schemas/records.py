"""The records every stage speaks, from a dataset row to a shard's commit marker.

Times are seconds as start + duration (lhotse's convention); units are in the names.
All records are frozen dataclasses with ``to_dict``/``from_dict`` so they cross Beam
shuffles as plain, picklable values and serialise to JSON without surprises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict, get_args

from schemas.convert import from_dict, to_plain
from schemas.vocab import EMOTIONS, GENDERS

SCHEMA_VERSION = "1.0.0"
SAMPLE_RATE = 48_000
"""Every shard's audio: mono, 48 kHz, 16-bit FLAC (paper §III-A1)."""

Split = Literal["train", "valid", "test"]
SPLITS: tuple[str, ...] = get_args(Split)
CaptionOrigin = Literal["template", "transcript", "human", "visual", "rewrite", "translation"]
CAPTION_ORIGINS: tuple[str, ...] = get_args(CaptionOrigin)

_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_ORIGIN_RE = re.compile(r"^[a-z][a-z0-9-]*:\S+$")


class JsonSchema:
    """JSON Schema keywords that narrow a field's type, attached with ``Annotated``.

    ``schemas/sample_schema.py`` turns the records' type hints into the exported JSON Schema;
    these keywords add what a Python type cannot say (a minimum, a pattern, a fixed value).
    """

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __repr__(self) -> str:
        return f"JsonSchema({self.keywords!r})"


Key = Annotated[str, JsonSchema(pattern=_KEY_RE.pattern)]
Text = Annotated[str, JsonSchema(minLength=1)]
LanguageCode = Annotated[str, JsonSchema(minLength=2)]
"""ISO 639-1 where one exists, else ISO 639-3 (``und`` when unknown)."""
Seconds = Annotated[float, JsonSchema(minimum=0)]
PositiveSeconds = Annotated[float, JsonSchema(exclusiveMinimum=0)]


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
    """Mixin: ``to_dict``/``from_dict`` for (nested) frozen dataclasses (``schemas.convert``)."""

    def to_dict(self) -> dict[str, Any]:
        """What ``dataclasses.asdict`` returns, without deep-copying every string and number."""
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """The record from its dict: nested records rebuilt, lists as tuples, unknown keys skipped."""
        return from_dict(cls, data)


@dataclass(frozen=True)
class WordAlignment(_Record):
    """One word with its time span (an alignment item, like lhotse's ``AlignmentItem``)."""

    word: str
    start_s: Seconds
    duration_s: Seconds

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class Caption(_Record):
    """One natural-language caption of a sample, its language and where it came from."""

    text: Text
    language: LanguageCode
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
    origin: str = ""
    """Where the recording comes from across datasets (``youtube:<id>@<start>``, ``freesound:<id>``),
    when its source names one: items of two datasets with one origin are one recording."""

    def __post_init__(self) -> None:
        if self.origin and not _ORIGIN_RE.match(self.origin):
            raise ValueError(f"invalid origin {self.origin!r}: expected <namespace>:<id>")
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


class QualityLanguage(TypedDict, total=False):
    """``original_data.quality.language``: Whisper's language ID against the declared language."""

    declared: LanguageCode
    detected: LanguageCode
    probability: Annotated[float, JsonSchema(minimum=0, maximum=1)]
    declared_probability: Annotated[float, JsonSchema(minimum=0, maximum=1)]
    mismatch: bool


class QualityAsr(TypedDict):
    """``original_data.quality.asr``: Whisper's confidence in a transcript it wrote."""

    avg_logprob: float
    no_speech_prob: Annotated[float, JsonSchema(minimum=0, maximum=1)]


class Quality(TypedDict, total=False):
    """``original_data.quality``: the measured filters' values (one entry per measure of
    ``transforms.quality.FILTER_ROWS``); ``null`` where a measure could not be taken. Open: a filter
    added as a row writes its own entry; the shipped filters' entries are typed below."""

    loudness_lufs: Annotated[float, JsonSchema(minimum=-70)] | None
    clipping_ratio: Annotated[float, JsonSchema(minimum=0, maximum=1)]
    snr_db: Annotated[float, JsonSchema(minimum=-20, maximum=100)] | None
    language: QualityLanguage | None
    asr: QualityAsr | None
    speech_share: Annotated[float, JsonSchema(minimum=0, maximum=1)] | None
    silence_share: Annotated[float, JsonSchema(minimum=0, maximum=1)] | None


class AttributeRate(TypedDict, total=False):
    """``original_data.attributes.speaking_rate``: phonemes (or words) per second of speech."""

    value: Annotated[float, JsonSchema(minimum=0)] | None
    unit: Annotated[str, JsonSchema(enum=["phonemes_per_s", "words_per_s"])]
    units: Annotated[int, JsonSchema(minimum=0)]
    speech_s: Annotated[float, JsonSchema(minimum=0)] | None
    timing: Annotated[str, JsonSchema(enum=["words", "energy"])]
    method: str
    version: str


class AttributePitch(TypedDict, total=False):
    """``original_data.attributes.pitch``: median F0 over voiced frames and its spread."""

    median_hz: Annotated[float, JsonSchema(minimum=0)] | None
    spread_semitones: Annotated[float, JsonSchema(minimum=0)] | None
    voiced_share: Annotated[float, JsonSchema(minimum=0, maximum=1)]
    method: str
    version: str


class AttributeSnr(TypedDict, total=False):
    snr_db: Annotated[float, JsonSchema(minimum=-20, maximum=100)] | None
    method: str
    version: str


class AttributeReverberation(TypedDict, total=False):
    """``original_data.attributes.reverberation``: the blind RT60 and its evidence (version 5: ``decays``
    the separate decays, ``windows`` the falling windows read, ``interval_s`` the reading's ~68 %
    interval; version 6: ``fall_db`` how far the deepest decay falls); ``rt60_s`` is null where
    ``unmeasured`` gives the reason (``no_decays``, ``few_decays``, ``shallow_decays``)."""

    rt60_s: Annotated[float, JsonSchema(minimum=0)] | None
    decays: Annotated[int, JsonSchema(minimum=0)]
    windows: Annotated[int, JsonSchema(minimum=0)]
    interval_s: list[Annotated[float, JsonSchema(minimum=0)]] | None
    fall_db: float | None
    unmeasured: Annotated[str, JsonSchema(enum=["no_decays", "few_decays", "shallow_decays"])] | None
    method: str
    version: str


class AttributeDnsmos(TypedDict, total=False):
    sig: Annotated[float, JsonSchema(minimum=1, maximum=5)]
    bak: Annotated[float, JsonSchema(minimum=1, maximum=5)]
    ovrl: Annotated[float, JsonSchema(minimum=1, maximum=5)]
    method: str
    precision: Annotated[str, JsonSchema(enum=["int8", "fp32"])]
    """the network's arithmetic (``--dnsmos-precision``)"""
    version: str


class Attributes(TypedDict, total=False):
    """``original_data.attributes``: the attributes stage's estimates (each with its estimator and
    version; ``null`` where one could not be taken) and their levels (``words``:
    ``transforms.attributes.words``)."""

    speaking_rate: AttributeRate
    pitch: AttributePitch
    snr: AttributeSnr
    reverberation: AttributeReverberation
    dnsmos: AttributeDnsmos | None
    words: dict[str, str]
    remeasured: list[Annotated[str, JsonSchema(enum=["rate", "pitch", "snr", "reverberation", "dnsmos"])]]
    """On an augmented copy: the estimates taken again on its audio (the others are its original's)."""


class SpeakerGender(TypedDict, total=False):
    """``original_data.diarization.gender``: the speaker's gender estimated from their voice, once per
    speaker of the recording (the dataset's own label, ``original_data.gender``, always wins)."""

    value: Annotated[str, JsonSchema(enum=list(GENDERS))]
    confidence: Annotated[float, JsonSchema(minimum=0, maximum=1)]
    method: str
    median_f0_hz: Annotated[float, JsonSchema(minimum=0)] | None
    seconds: Seconds


class SpeakerTurn(TypedDict, total=False):
    """``original_data.diarization``: who speaks in the sample (``--diarize``): a recording-local
    speaker id (``S1``, ``S2``, ... in order of first appearance), the speaker's turn in the source
    recording, how many speakers the recording has, and whether the sample holds overlapped speech."""

    speaker: Annotated[str, JsonSchema(minLength=1)]
    turn_start_s: Seconds
    turn_end_s: Seconds
    num_speakers: Annotated[int, JsonSchema(minimum=0)]
    overlap: bool
    model: str
    gender: SpeakerGender
    gender_min_confidence: Annotated[float, JsonSchema(minimum=0, maximum=1)]


class DemoTruth(TypedDict, total=False):
    """``original_data.extra.truth``: what a controlled demo item was made with
    (``pipelines.sources.demo``): espeak-ng's speed and base pitch and the levels they were chosen
    for, the room's RT60 (``null``: dry) and the noise's SNR and clip (``null``: none)."""

    speed_wpm: Annotated[int, JsonSchema(minimum=80, maximum=450)]
    rate_level: Annotated[str, JsonSchema(enum=["very_slow", "slow", "moderate", "fast", "very_fast"])]
    pitch: Annotated[int, JsonSchema(minimum=0, maximum=99)]
    pitch_level: Annotated[str, JsonSchema(enum=["very_low", "low", "moderate", "high", "very_high"])]
    pitch_hz: Annotated[float, JsonSchema(minimum=0)]
    rt60_s: Annotated[float, JsonSchema(minimum=0)] | None
    reverberation_level: Annotated[str, JsonSchema(enum=["close", "slightly_reverberant", "distant"])]
    snr_db: float | None
    noise: str | None
    noise_level: Annotated[str, JsonSchema(enum=["very_noisy", "noisy", "slightly_noisy", "clean"])]


class SourceExtra(TypedDict, total=False):
    """``original_data.extra``: a source's own fields (open); the demo's ground truth is typed."""

    truth: DemoTruth


class _OriginalDataRequired(TypedDict):
    language: LanguageCode
    dataset: Text
    source_id: Text


class OriginalData(_OriginalDataRequired, total=False):
    """``SampleMeta.original_data``: the source's own labels (LAION-CLAP reads ``language``).

    Open: stages add their own keys (``speaker_id``, ``labels``, ``extra``, ``visual``,
    ``rewrite``, ``translation``); only the ones below are constrained.
    """

    gender: Annotated[str, JsonSchema(enum=list(GENDERS))]
    emotion: Annotated[str | None, JsonSchema(enum=[*EMOTIONS, None])]
    transcript: str | None
    quality: Quality
    attributes: Attributes
    extra: SourceExtra
    diarization: SpeakerTurn
    origin: Annotated[str, JsonSchema(pattern=_ORIGIN_RE.pattern)]
    """The recording's origin across datasets (``SourceItem.origin``); absent when it has none."""


class _SegmentSpanRequired(TypedDict):
    index: Annotated[int, JsonSchema(minimum=0)]
    start_s: Seconds
    duration_s: PositiveSeconds


class SegmentSpan(_SegmentSpanRequired, total=False):
    """``SampleMeta.segment``: where in its source recording the sample lies."""

    source_duration_s: float


@dataclass(frozen=True)
class SampleMeta(_Record):
    """The per-sample JSON (``<key>.json`` in a shard).

    ``text``, ``tag`` and ``original_data`` are LAION-CLAP's fields and are what its
    loaders read; ``captions`` repeats ``text`` entry by entry with language and origin.
    The exported JSON Schema (``schemas/sample.schema.json``) is generated from this class.
    """

    key: Key
    text: Annotated[tuple[Text, ...], JsonSchema(minItems=1)]
    tag: tuple[str, ...]
    original_data: OriginalData
    captions: Annotated[tuple[Caption, ...], JsonSchema(minItems=1)]
    duration_s: PositiveSeconds
    split: Split
    sample_rate: Annotated[int, JsonSchema(const=SAMPLE_RATE)] = SAMPLE_RATE
    segment: SegmentSpan | None = None
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

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | bytes, **missing: Any) -> SampleMeta:
        """A sample's ``<key>.json`` (bytes, text or the parsed dict) as a record.

        Also reads LAION-CLAP's own JSON, which has ``text`` (a list or one string) but no
        ``captions``: each text becomes a caption in ``original_data["language"]`` (``und``
        if absent) with origin ``human``. ``missing`` gives fields the JSON may lack, e.g.
        ``split="train", duration_s=len(audio) / rate``; the JSON's own values win.
        Raises ``ValueError`` (``json.JSONDecodeError`` is one) on anything that does not
        fit the record, ``TypeError`` when a required field is missing.
        """
        if isinstance(data, (str, bytes, bytearray)):
            data = json.loads(data)
        if not isinstance(data, Mapping):
            raise ValueError(f"a sample JSON is an object, not {type(data).__name__}")
        fields = {**missing, **data}
        if isinstance(fields.get("text"), str):
            fields["text"] = [fields["text"]]
        if "captions" not in fields and isinstance(fields.get("text"), (list, tuple)):
            language = (fields.get("original_data") or {}).get("language") or "und"
            fields["captions"] = [{"text": t, "language": language, "origin": "human"} for t in fields["text"]]
        return cls.from_dict(fields)

    @property
    def language(self) -> str:
        """The sample's language (``original_data["language"]``; ``und`` when unknown)."""
        return str(self.original_data.get("language") or "und")


@dataclass(frozen=True)
class Failure(_Record):
    """A sample or item that did not make it into a shard, and why (the dead-letter record)."""

    key: str
    source: str
    stage: str
    reason: str
    detail: str = ""
    shard: str | None = None
    source_key: str = ""
    """The source item's key (a sample key adds segment and augmentation indices); the item's
    own key when empty, for failures of whole items."""
    eval_set: str = ""
    """The evaluation set an ``eval_overlap`` item overlaps (``--exclude-eval``); empty otherwise."""

    def __post_init__(self) -> None:
        if not self.source_key:
            object.__setattr__(self, "source_key", self.key)

    def to_dict(self) -> dict[str, Any]:
        """As every record's, without ``eval_set`` when it is empty (only eval overlaps name one)."""
        data = super().to_dict()
        if not self.eval_set:
            del data["eval_set"]
        return data


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
    quality_histograms: dict[str, dict[str, int]] = field(default_factory=dict)
    """Samples per bin of each measured quality value (the bins of its row in
    ``transforms.quality.FILTER_ROWS``)."""
    fingerprint: str = ""
    """Hash of the shard's planned items and the settings that shape its bytes: a rerun
    reuses the shard only when both are unchanged."""
    sha256: str = ""
    """SHA-256 of the tar (hex), with ``bytes`` its size: a reader trusts the tar only when both
    match (the commit protocol, ``docs/commit-protocol.md``)."""
    schema_version: str = SCHEMA_VERSION
