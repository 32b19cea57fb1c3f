"""The attributes stage: measured speaking rate, pitch, SNR, reverberation and speech quality.

Runs after segment and quality, before describe (which turns the words into a caption) and
rewrite. ``--attributes`` names the estimators (each one a setting; off by default, and then the
stage is not in the chain). Each value lands in the sample's ``original_data['attributes']`` with
its estimator and version, the levels in ``attributes.words`` (:mod:`transforms.attributes.words`)
and as tags (``speaking_rate:fast``). An estimate that can't be taken (no transcript, no voiced
frame) is ``null`` and says no word; an RT60 with too little evidence (fewer than
``--rt60-min-decays`` separate decays, or none that falls by ``room.MIN_FALL_DB``: stationary noise's
chance dips) is ``null`` with its reason (``reverberation.unmeasured``),
says no room word, is counted (the ``unmeasured/<estimator>/<reason>`` metric and the card's
``attributes.unmeasured``) and drops nothing by ``--max-rt60-s``. The analysed audio is capped at
``--attribute-max-seconds`` per sample, so the stage's cost has a ceiling per sample.

Filters as data: :data:`FILTER_ROWS` (``--min-dnsmos-ovrl``, ``--max-rt60-s``,
``--min-speaking-rate``, ``--max-speaking-rate``) judge the record with the rows' machinery of
:mod:`transforms.filters`; a drop is a failure with its value.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
from apache_beam.metrics import Metrics

from schemas import SAMPLE_RATE, Failure
from schemas.records import Attributes
from schemas.settings import setting
from transforms import filters
from transforms.attributes import words
from transforms.attributes.dnsmos import DEFAULT_PRECISION as DNSMOS_DEFAULT_PRECISION
from transforms.attributes.dnsmos import PRECISIONS as DNSMOS_PRECISIONS
from transforms.attributes.pitch import METHODS as PITCH_METHODS
from transforms.attributes.pitch import VERSION as PITCH_VERSION
from transforms.attributes.room import MIN_DECAYS as ROOM_MIN_DECAYS
from transforms.filters import Filter, Measuring
from transforms.stage import Sample, Stage, StageSpec

STAGE = "attributes"
ESTIMATORS = ("rate", "pitch", "snr", "reverberation", "dnsmos")


@functools.cache
def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def parse_estimators(spec: Any) -> tuple[str, ...]:
    """``"rate,pitch"`` (or a list) -> ("rate", "pitch"); ``all`` -> every estimator; ``none`` -> ()."""
    names = [n.strip().lower() for n in (spec.split(",") if isinstance(spec, str) else spec) if str(n).strip()]
    if names in (["none"], ["off"]):
        return ()
    if names == ["all"]:
        return ESTIMATORS
    unknown = sorted(set(names) - set(ESTIMATORS))
    if unknown:
        raise ValueError(f"--attributes: unknown estimator(s) {unknown}; expected some of {', '.join(ESTIMATORS)}")
    return tuple(name for name in ESTIMATORS if name in names)


# ----------------------------------------------------------------------------- the measures


def _audio(m: Measuring, rate: int = SAMPLE_RATE) -> np.ndarray:
    cap = int(m.settings.attribute_max_seconds * rate)
    return (m.audio_16k if rate == filters.VAD_RATE else m.sample.audio)[:cap]


def _rate(m: Measuring) -> dict[str, Any]:
    from transforms.attributes.rate import estimate_rate

    sample = m.sample
    estimate = estimate_rate(sample.transcript, sample.item.language, sample.segment.words, _audio(m), SAMPLE_RATE)
    record = {
        "value": estimate.value,
        "unit": estimate.unit,
        "units": estimate.units,
        "speech_s": estimate.speech_s,
        "timing": estimate.timing,
        "method": "phonemizer-espeak-ng" if estimate.unit == "phonemes_per_s" else "words",
        "version": _version("phonemizer"),
    }
    return {"speaking_rate": record}


def _pitch(m: Measuring) -> dict[str, Any]:
    from transforms.attributes.pitch import estimate_pitch

    method = m.settings.pitch_method
    estimate = estimate_pitch(m.audio_16k, filters.VAD_RATE, method, m.settings.attribute_max_seconds)
    return {
        "pitch": {
            "median_hz": estimate.median_hz,
            "spread_semitones": estimate.spread_semitones,
            "voiced_share": estimate.voiced_share,
            "method": method,
            "version": {"yin": PITCH_VERSION, "pyin": _version("librosa")}.get(method) or _version("torchcrepe"),
        }
    }


class _Measuring(Measuring):
    """:class:`~transforms.filters.Measuring` that also keeps the room's block energies, which the SNR
    (its late-reverberation subtraction) and the RT60 both read: taken once per sample."""

    @functools.cached_property
    def room_energies(self) -> np.ndarray | None:
        from transforms.attributes import room

        return room.clip_energies(_audio(self, filters.VAD_RATE))


def _room_energies(m: Measuring) -> np.ndarray | None:
    if isinstance(m, _Measuring):
        return m.room_energies
    from transforms.attributes import room

    return room.clip_energies(_audio(m, filters.VAD_RATE))


def _snr(m: Measuring) -> dict[str, Any]:
    from transforms.attributes import snr

    rt60 = snr.reverb_rt60(_room_energies(m))  # the room's tail is not noise
    measured = snr.estimate_snr_db(_audio(m, filters.VAD_RATE), rt60)
    return {"snr": {"snr_db": measured, "method": snr.METHOD, "version": snr.VERSION}}


def _reverberation(m: Measuring) -> dict[str, Any]:
    from transforms.attributes import room

    energies = _room_energies(m)
    estimate = room.rt60_from_energies(energies, min_decays=m.settings.rt60_min_decays)
    interval = list(estimate.interval_s) if estimate.interval_s is not None else None
    record = {"rt60_s": estimate.rt60_s, "decays": estimate.decays, "windows": estimate.windows,
              "interval_s": interval, "fall_db": estimate.fall_db, "unmeasured": estimate.unmeasured,
              "method": estimate.method}  # fmt: skip
    if estimate.unmeasured is not None:
        Metrics.counter("clara_attributes", f"unmeasured/reverberation/{estimate.unmeasured}").inc()
    return {"reverberation": {**record, "version": room.VERSION}}


def _dnsmos(m: Measuring) -> dict[str, Any]:
    from transforms.attributes.dnsmos import estimate_dnsmos

    audio = _audio(m, filters.VAD_RATE)
    if audio.size < filters.VAD_RATE // 10:
        return {"dnsmos": None}
    estimate = estimate_dnsmos(audio, precision=m.settings.dnsmos_precision)
    record = {"sig": estimate.sig, "bak": estimate.bak, "ovrl": estimate.ovrl, "method": estimate.method,
              "precision": estimate.precision}  # fmt: skip
    return {"dnsmos": {**record, "version": _version("speechmos")}}


FILTER_ROWS: tuple[Filter, ...] = (
    Filter("rate", _rate, "speaking_rate.value", "<", "min_speaking_rate", "too_slow",
           edges=(0, 6, 9, 12, 15, 18, 21, 30)),
    Filter("rate", _rate, "speaking_rate.value", ">", "max_speaking_rate", "too_fast",
           edges=(0, 6, 9, 12, 15, 18, 21, 30)),
    Filter("pitch", _pitch, "pitch.median_hz", ">", "max_pitch_hz", "pitch_out_of_range",
           edges=(40, 80, 120, 160, 200, 250, 320, 500)),
    Filter("snr", _snr, "snr.snr_db", "<", "min_attribute_snr_db", "low_snr",
           edges=(-20, 0, 5, 15, 25, 40, 100)),
    Filter("reverberation", _reverberation, "reverberation.rt60_s", ">", "max_rt60_s", "too_reverberant",
           edges=(0, 0.2, 0.3, 0.5, 0.8, 1.2, 3)),
    Filter("dnsmos", _dnsmos, "dnsmos.ovrl", "<", "min_dnsmos_ovrl", "low_dnsmos", edges=(1, 2, 2.7, 3.2, 4, 5),
           bounds=(1.0, 5.0)),
)  # fmt: skip
"""Each estimator's measure and the thresholds that can drop a sample by it (all off by default)."""


def attribute_words(record: dict[str, Any], language: str, gender: str) -> dict[str, str]:
    """The levels of a sample's measured attributes (only those measured and said)."""
    rate = record.get("speaking_rate") or {}
    pitch = record.get("pitch") or {}
    levels = {
        "rate": words.rate_level(rate.get("value"), rate.get("unit", ""), language),
        "pitch": words.pitch_level(pitch.get("median_hz"), gender),
        "expressiveness": words.spread_level(pitch.get("spread_semitones")),
        "noise": words.noise_level((record.get("snr") or {}).get("snr_db")),
        "reverberation": words.reverberation_level((record.get("reverberation") or {}).get("rt60_s")),
        "quality": words.quality_level((record.get("dnsmos") or {}).get("ovrl")),
    }
    return {key: value for key, value in levels.items() if value is not None}


VALUE_PREFIX = "attributes:"
LEVEL_PREFIX = "attribute_words:"
UNMEASURED_PREFIX = "attributes_unmeasured:"
"""Names of the attributes' histograms in the shard stats (beside the quality filters')."""


def unmeasured(record: dict[str, Any]) -> dict[str, str]:
    """Each estimate of a sample's attributes record that abstained, and why (``{"reverberation": "few_decays"}``)."""
    return {
        name: str(value["unmeasured"])
        for name, value in sorted(record.items())
        if isinstance(value, dict) and value.get("unmeasured")
    }


def histogram_entries(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(histogram, bin) pairs of one sample's attributes record, for the shard stats: each measured
    value's bin (``attributes:pitch_median_hz``), each level (``attribute_words:pitch``) and each
    estimate left unmeasured, by its reason (``attributes_unmeasured:reverberation``)."""
    entries = [(VALUE_PREFIX + name, label) for name, label in filters.histogram_entries(FILTER_ROWS, record)]
    entries += [(LEVEL_PREFIX + key, value) for key, value in sorted((record.get("words") or {}).items())]
    return entries + [(UNMEASURED_PREFIX + name, reason) for name, reason in unmeasured(record).items()]


def histogram_values(record: dict[str, Any]) -> dict[str, Any]:
    """Each measured value of one sample's attributes record by its histogram's name (for the report)."""
    return filters.histogram_values(FILTER_ROWS, record)


def value_digits(histogram: str) -> int:
    """How the report rounds a value's distribution (its row's ``digits``)."""
    return next(row.digits for row in FILTER_ROWS if row.histogram == histogram)


def attribute_figures(histograms: dict[str, Any], reasons: dict[str, int]) -> dict[str, Any]:
    """The card's attributes section from the summed stats: samples per level of each attribute (levels
    in order), per bin of each measured value, the samples each estimate left unmeasured (by reason)
    and the samples each threshold dropped."""
    levels = {
        key: {level: n for level in words.LEVELS[key] if (n := histograms[LEVEL_PREFIX + key].get(level))}
        for key in words.LEVELS
        if LEVEL_PREFIX + key in histograms
    }
    values = {k[len(VALUE_PREFIX) :]: v for k, v in histograms.items() if k.startswith(VALUE_PREFIX)}
    abstained = {
        k[len(UNMEASURED_PREFIX) :]: dict(sorted(v.items()))
        for k, v in sorted(histograms.items())
        if k.startswith(UNMEASURED_PREFIX)
    }
    return {
        "levels": levels,
        "histograms": filters.histogram_figures(FILTER_ROWS, values),
        **({"unmeasured": abstained} if abstained else {}),
        "dropped": {k.split("/", 1)[1]: v for k, v in sorted(reasons.items()) if k.startswith(f"{STAGE}/")},
    }


RECORDING_ESTIMATORS = ("snr", "reverberation", "dnsmos")
CHANGED_BY: dict[str, tuple[str, ...]] = {
    "pitch": ("pitch",),
    "gain": (),
    "reverb": RECORDING_ESTIMATORS,
    "noise": RECORDING_ESTIMATORS,
    "mask": RECORDING_ESTIMATORS,
    "clip": RECORDING_ESTIMATORS,
}
"""The estimates each augmentation (``transforms/augment.py``) makes stale: a pitch shift the
voice's pitch (it keeps the duration, so the rate holds), noise, reverb, masks and clipping the
recording's SNR, room and quality; a gain changes none (each estimate is level-free)."""
ATTRIBUTE_TAG_PREFIXES = tuple(f"{category}:" for category in words.CATEGORIES.values())


def remeasure_copy(copy: Sample, effects: list[str], settings: AttributesSettings) -> Sample:
    """An augmented copy whose attributes record, words, tags and attribute caption are its own.

    Its original was measured before augmentation; the estimates the applied ``effects`` change
    (:data:`CHANGED_BY`) are taken again on the copy's audio and named in ``remeasured``; the others
    stay the original's. Thresholds are not judged again: an augmented copy is noisier on purpose.
    """
    from transforms.describe import sample_attribute_caption

    record = copy.original_data.get(STAGE)
    stale = [name for name in settings.attributes if any(name in CHANGED_BY.get(e, ()) for e in effects)]
    if not record or not stale:
        return copy
    own_audio = copy.derive(original_data={k: v for k, v in copy.original_data.items() if k != "quality"})
    fresh = filters.measure(FILTER_ROWS, stale, _Measuring(own_audio, settings, lambda: None))
    Metrics.counter("clara_attributes", "remeasured_copies").inc()
    updated = {**record, **fresh, "remeasured": stale}
    updated["words"] = attribute_words(updated, copy.item.language, copy.item.gender)
    old_caption = sample_attribute_caption(copy)
    new_caption = sample_attribute_caption(copy, updated["words"])
    captions = list(copy.captions)
    at = next((i for i, c in enumerate(captions) if c.origin == "template" and c.text == old_caption), None)
    if at is not None and new_caption is None:
        del captions[at]
    elif at is not None:
        captions[at] = dataclasses.replace(captions[at], text=new_caption)
    tags = [t for t in copy.tags if not t.startswith(ATTRIBUTE_TAG_PREFIXES)] + words.tags(updated["words"])
    return copy.derive(original_data={**copy.original_data, STAGE: updated}, captions=captions, tags=tags)


@dataclass(frozen=True)
class AttributesSettings:
    """Measured attributes of voice and recording, their words, and thresholds on them."""

    attributes: tuple[str, ...] = setting(
        (),
        f"measured attributes, comma-separated ({', '.join(ESTIMATORS)}, or all); in original_data.attributes",
        shapes_output=True,
        parse=parse_estimators,
        metavar="NAME,...",
    )
    pitch_method: str = setting("yin", "pitch estimator", shapes_output=True, choices=PITCH_METHODS)
    attribute_max_seconds: float = setting(10.0, "analyse at most this much of each sample (s)", shapes_output=True)
    min_speaking_rate: float = setting(0.0, "drop samples spoken slower (phonemes/s)", shapes_output=True)
    max_speaking_rate: float = setting(1000.0, "drop samples spoken faster (phonemes/s)", shapes_output=True)
    max_pitch_hz: float = setting(1000.0, "drop samples with a higher median F0 (Hz)", shapes_output=True)
    min_attribute_snr_db: float = setting(-100.0, "drop samples with a lower SNR (dB, noise floor)", shapes_output=True)
    max_rt60_s: float = setting(100.0, "drop samples with a longer blind RT60 (s)", shapes_output=True)
    rt60_min_decays: int = setting(
        ROOM_MIN_DECAYS,
        "leave the RT60 unmeasured (no room word) below this many separate decays in the clip (0: never, nor for shallow decays)",
        shapes_output=True,
    )
    min_dnsmos_ovrl: float = setting(1.0, "drop samples with a lower DNSMOS OVRL (1..5)", shapes_output=True)
    dnsmos_precision: str = setting(
        DNSMOS_DEFAULT_PRECISION,
        "DNSMOS network arithmetic: int8 (its 2-D convolutions quantised: ~2.5x less CPU, OVRL within 0.07 on "
        "average of the shipped network's) or fp32 (the shipped network)",
        shapes_output=True,
        choices=DNSMOS_PRECISIONS,
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", parse_estimators(self.attributes))
        if self.dnsmos_precision not in DNSMOS_PRECISIONS:
            raise ValueError(f"--dnsmos-precision must be one of {DNSMOS_PRECISIONS}, not {self.dnsmos_precision!r}")
        if self.pitch_method not in PITCH_METHODS:
            raise ValueError(f"--pitch-method must be one of {PITCH_METHODS}, not {self.pitch_method!r}")
        if self.rt60_min_decays < 0:
            raise ValueError(f"--rt60-min-decays must be 0 or more, got {self.rt60_min_decays}")
        if self.attribute_max_seconds <= 0:
            raise ValueError(f"--attribute-max-seconds must be positive, got {self.attribute_max_seconds}")
        filters.check_limits(FILTER_ROWS, self)


class AttributesStage(Stage):
    """In-shard stage: measure the listed attributes, record them and their words, judge the thresholds."""

    name = STAGE

    def __init__(self, settings: AttributesSettings = AttributesSettings()) -> None:
        self.settings = settings

    def setup(self) -> None:
        if "pitch" in self.settings.attributes and self.settings.pitch_method == "pyin":  # compile its kernels once
            from transforms.attributes.pitch import estimate_pitch

            estimate_pitch(np.sin(np.arange(16_000) * 0.05).astype(np.float32), 16_000, self.settings.pitch_method)

    def process(self, samples: list[Sample]) -> tuple[list[Sample], list[Failure]]:
        out, failures = [], []
        for sample in samples:
            try:
                record = self.measure(sample)
            except Exception as exc:  # one bad clip must not kill the shard
                failures.append(sample.fail(STAGE, "error", f"{type(exc).__name__}: {exc}"))
                continue
            verdict = filters.verdict(FILTER_ROWS, record, self.settings, speech=True)
            if verdict is not None:
                reason, detail = verdict
                Metrics.counter("clara_attributes", f"dropped/{reason}").inc()
                failures.append(sample.fail(STAGE, reason, detail))
                continue
            said = attribute_words(record, sample.item.language, sample.item.gender)
            record["words"] = said
            tags = [tag for tag in words.tags(said) if tag not in sample.tags]
            out.append(sample.derive(original_data={**sample.original_data, STAGE: record}, tags=sample.tags + tags))
        return out, failures

    def measure(self, sample: Sample) -> dict[str, Any]:
        """Every listed estimator's record of one sample, JSON-ready."""
        return filters.measure(FILTER_ROWS, self.settings.attributes, _Measuring(sample, self.settings, lambda: None))


def build_attributes(config: Any) -> AttributesStage | None:
    """The stage when ``--attributes`` names any estimator."""
    return AttributesStage(config.attributes) if config.attributes.attributes else None


SPEC = StageSpec(
    name=STAGE,
    settings=AttributesSettings,
    build=build_attributes,
    order=17,
    decides=True,  # a sample past a threshold is dropped the same way again: never retried
    writes=(STAGE,),
    record=Attributes,
)
