"""The quality stage: measured filters, each value recorded, each drop a failure with its value.

Runs after segmentation and before description, visual captions and augmentation (so the SNR is
the recording's, before any noise is mixed in, and dropped samples cost no CoCa or LLM time).
``--filters`` names the measures; each one listed is measured on every sample, written to the
sample's ``original_data['quality']``, and enforced by its threshold:

- ``loudness``: EBU R128 / ITU-R BS.1770-4 integrated loudness in LUFS (``pyloudnorm``; gated
  blocks of 400 ms; a clip shorter than one block is measured on itself repeated, and a clip
  gated away entirely reads -70 LUFS, the standard's absolute gate). Drop: ``too_quiet``.
- ``clipping``: the share of samples at full scale (``|x| >= 0.999``). Drop: ``clipped``.
- ``snr``: WADA-SNR (Kim & Stern, "Robust signal-to-noise ratio estimation based on waveform
  amplitude distribution analysis", Interspeech 2008): clean speech amplitudes are modelled as
  Gamma-distributed (shape 0.4) and noise as Gaussian; the statistic
  G = log E|z| - E log|z| of the noisy signal is a monotonic function of the SNR, tabulated
  here from that model (:func:`wada_table`, §3 of the paper) and inverted by interpolation.
  Range -20..100 dB. Drop: ``low_snr``.
- ``language``: Whisper's language identification (the segment stage's Whisper, shared in the
  worker) against the item's declared language; a mismatch whose detected language is at least
  ``language_min_probability`` sure is dropped (``language_mismatch``) or only flagged.
  Items of undeclared language are identified and never judged.
- ``asr_confidence``: for transcripts Whisper wrote (not the source's), its average
  log-probability and no-speech probability, as the segment stage recorded them (for the
  segments of a long recording: the whole recording's figures). Drop: ``low_asr_confidence``.
- ``silence``: the share of the clip Silero VAD (shipped with faster-whisper) hears as speech;
  judged only for speech (samples with a transcript). Drop: ``mostly_silence``.

A measure that can't be taken (too short, English-only model) is recorded as ``null`` and drops
nothing.

The filters are data: :data:`FILTER_ROWS` holds one :class:`~transforms.filters.Filter` row per
judged value (its measure, field, comparison, settings field, reason and histogram edges), and
:class:`QualitySettings` one field per threshold. The stage's verdicts and failures, the shard
stats' and the card's histograms and the report's distributions all read the rows; adding a filter
is one row here and one settings field (CONTRIBUTING.md has a worked example).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from apache_beam.metrics import Metrics

from schemas import SAMPLE_RATE, Failure
from schemas.records import Quality
from schemas.settings import setting
from schemas.vocab import UNKNOWN_LANGUAGE, normalize_language
from transforms import filters
from transforms.filters import VAD_RATE, Filter, Measuring
from transforms.stage import Sample, Stage, StageSpec

STAGE = "quality"
MISMATCH_ACTIONS = ("drop", "flag")
CLIP_LEVEL = 0.999
LOUDNESS_FLOOR_LUFS = -70.0
"""BS.1770's absolute gate: a clip with no block above it reads this, not -inf."""
WADA_ALPHA = 0.4
"""Shape of the Gamma distribution of clean speech amplitudes (Kim & Stern 2008)."""
WADA_DB = np.arange(-20.0, 101.0)


# ----------------------------------------------------------------------------- the measures


def loudness_lufs(audio: np.ndarray, rate: int = SAMPLE_RATE) -> float | None:
    """EBU R128 integrated loudness (LUFS), floored at -70; None for an empty clip."""
    import pyloudnorm

    x = np.asarray(audio, dtype=np.float64)
    if x.size == 0:
        return None
    block = int(0.4 * rate)
    if x.size < block:  # below one gating block: the clip's own level, repeated to one block
        x = np.tile(x, math.ceil(block / x.size))[:block]
    value = pyloudnorm.Meter(rate).integrated_loudness(x)
    return round(max(float(value), LOUDNESS_FLOOR_LUFS), 2) if np.isfinite(value) else LOUDNESS_FLOOR_LUFS


def clipping_ratio(audio: np.ndarray, level: float = CLIP_LEVEL) -> float:
    """The share of samples at or above ``level`` of full scale."""
    x = np.asarray(audio)
    return round(float(np.count_nonzero(np.abs(x) >= level)) / x.size, 6) if x.size else 0.0


@functools.cache
def wada_table(alpha: float = WADA_ALPHA, draws: int = 1 << 18) -> np.ndarray:
    """G(SNR) = log E|z| - E log|z| for z = Gamma(alpha)-amplitude speech + Gaussian noise, at
    each SNR of :data:`WADA_DB` (Kim & Stern 2008, §3). Monte-Carlo with one fixed set of draws
    for every SNR (so the curve is smooth and monotonic) and a fixed seed (so it is the same
    everywhere)."""
    rng = np.random.default_rng(20080922)
    speech = rng.gamma(alpha, 1.0, draws) * rng.choice((-1.0, 1.0), draws)
    unit_noise = rng.standard_normal(draws)
    speech_power = alpha * (alpha + 1.0)  # E[a^2] of Gamma(alpha, 1)
    table = np.empty(WADA_DB.size)
    for i, snr_db in enumerate(WADA_DB):
        z = np.abs(speech + unit_noise * math.sqrt(speech_power / 10 ** (snr_db / 10)))
        table[i] = math.log(z.mean()) - np.log(np.maximum(z, 1e-20)).mean()
    return np.maximum.accumulate(table)


def wada_snr_db(audio: np.ndarray) -> float | None:
    """WADA-SNR of a clip in dB (-20..100); None for a silent or empty clip."""
    x = np.abs(np.asarray(audio, dtype=np.float64))
    peak = float(x.max()) if x.size else 0.0
    if peak <= 0.0:
        return None
    x = np.maximum(x / peak, 1e-10)
    g = math.log(x.mean()) - float(np.log(x).mean())
    table = wada_table()
    return round(float(np.interp(g, table, WADA_DB)), 2)  # below/above the table: -20 / 100 dB


def speech_share(audio_16k: np.ndarray) -> float | None:
    """The share of a 16 kHz clip that Silero VAD hears as speech; None for an empty clip."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if audio_16k.size == 0:
        return None
    options = VadOptions(threshold=0.5, min_silence_duration_ms=100, speech_pad_ms=30)
    spans = get_speech_timestamps(np.asarray(audio_16k, dtype=np.float32), options, sampling_rate=VAD_RATE)
    return round(min(1.0, sum(s["end"] - s["start"] for s in spans) / audio_16k.size), 4)


def asr_confidence(sample: Sample) -> dict[str, float] | None:
    """Whisper's figures for a transcript it wrote (None when the transcript is the source's or absent)."""
    record = sample.original_data.get("segmentation") or {}
    if not sample.segment.transcript or sample.item.transcript or "avg_logprob" not in record:
        return None
    return {"avg_logprob": record["avg_logprob"], "no_speech_prob": record["no_speech_prob"]}


def judge_language(
    declared: str | None, detected: str, probability: float, probabilities: dict[str, float], min_probability: float
) -> dict[str, Any]:
    """The language record: declared vs detected, and whether they disagree with confidence."""
    declared = normalize_language(declared)
    detected = normalize_language(detected)
    record: dict[str, Any] = {"declared": declared, "detected": detected, "probability": round(probability, 4)}
    if declared != UNKNOWN_LANGUAGE:
        record["declared_probability"] = round(probabilities.get(declared, 0.0), 4)
        record["mismatch"] = detected != declared and probability >= min_probability
    return record


def detect_language(loaded: Any, audio_16k: np.ndarray) -> tuple[str, float, dict[str, float]] | None:
    """(language, probability, all probabilities) from a loaded Whisper (faster-whisper or
    openai-whisper), on the first 30 s; None for an English-only model or an empty clip."""
    if audio_16k.size < VAD_RATE // 10:
        return None
    audio = audio_16k[: 30 * VAD_RATE]
    if hasattr(loaded, "multilingual"):  # transforms.segment.whisper.LoadedFasterWhisper
        if not loaded.multilingual:
            return None
        language, probability, ranked = loaded.model.detect_language(audio=audio)
        return language, float(probability), {code: float(p) for code, p in ranked}
    if not getattr(loaded, "is_multilingual", False):
        return None
    import whisper

    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), n_mels=loaded.dims.n_mels)
    _, probs = loaded.detect_language(mel.to(loaded.device))
    language = max(probs, key=probs.get)
    return language, float(probs[language]), {k: float(v) for k, v in probs.items()}


# ----------------------------------------------------------------------------- the filters, as rows


def _loudness(m: Measuring) -> dict[str, Any]:
    return {"loudness_lufs": loudness_lufs(m.sample.audio)}


def _clipping(m: Measuring) -> dict[str, Any]:
    return {"clipping_ratio": clipping_ratio(m.sample.audio)}


def _snr(m: Measuring) -> dict[str, Any]:
    return {"snr_db": wada_snr_db(m.sample.audio)}


def _language(m: Measuring) -> dict[str, Any]:
    detected = detect_language(m.whisper(), m.audio_16k)
    if detected is None:
        return {"language": None}
    language, probability, probabilities = detected
    declared = m.sample.item.language
    return {
        "language": judge_language(declared, language, probability, probabilities, m.settings.language_min_probability)
    }


def _asr(m: Measuring) -> dict[str, Any]:
    return {"asr": asr_confidence(m.sample)}


def _silence(m: Measuring) -> dict[str, Any]:
    share = speech_share(m.audio_16k)
    return {"speech_share": share, "silence_share": None if share is None else round(1.0 - share, 4)}


UNIT = (0.0, 1.0)
FILTER_ROWS: tuple[Filter, ...] = (
    Filter("loudness", _loudness, "loudness_lufs", "<", "min_loudness_lufs", "too_quiet",
           edges=(-70, -60, -50, -40, -30, -23, -16, -10, 0)),
    Filter("clipping", _clipping, "clipping_ratio", ">", "max_clipping_ratio", "clipped",
           edges=(0, 1e-4, 1e-3, 1e-2, 1e-1, 1), bounds=UNIT, digits=5),
    Filter("snr", _snr, "snr_db", "<", "min_snr_db", "low_snr",
           edges=(-20, -10, 0, 5, 10, 20, 30, 50, 100)),
    Filter("language", _language, "language", "mismatch", "language_mismatch", "language_mismatch"),
    Filter("asr_confidence", _asr, "asr.avg_logprob", "<", "min_asr_avg_logprob", "low_asr_confidence",
           edges=(-10, -2, -1.5, -1, -0.7, -0.4, -0.2, 0)),
    Filter("asr_confidence", _asr, "asr.no_speech_prob", ">", "max_asr_no_speech_prob", "low_asr_confidence",
           edges=(0, 0.2, 0.4, 0.6, 0.8, 1), bounds=UNIT),
    Filter("silence", _silence, "speech_share", "<", "min_speech_share", "mostly_silence",
           edges=(0, 0.2, 0.4, 0.6, 0.8, 1), bounds=UNIT, speech_only=True),
)  # fmt: skip
"""The measured filters, one row per judged value, in the order they are measured (``--filters all``)
and judged (the language check last): see :class:`~transforms.filters.Filter`."""
FILTERS: tuple[str, ...] = filters.names(FILTER_ROWS)
"""The ``--filters`` names."""


def parse_filters(spec: Any) -> tuple[str, ...]:
    """``"loudness,snr"`` (or a list) -> ("loudness", "snr"); ``all`` -> every filter; ``none`` -> ()."""
    known = filters.names(FILTER_ROWS)
    names = [n.strip().lower() for n in (spec.split(",") if isinstance(spec, str) else spec) if str(n).strip()]
    if names in (["none"], ["off"]):
        return ()
    if names == ["all"]:
        return known
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"--filters: unknown filter(s) {unknown}; expected some of {', '.join(known)}")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class QualitySettings:
    """Measured quality filters: loudness, clipping, SNR, language ID, ASR confidence, silence."""

    filters: tuple[str, ...] = setting(
        (),
        f"measured filters, comma-separated ({', '.join(FILTERS)}, or all); values land in original_data.quality",
        shapes_output=True,
        flag="--filters",
        parse=parse_filters,
        metavar="NAME,...",
    )
    min_loudness_lufs: float = setting(-50.0, "drop quieter clips (EBU R128 integrated, LUFS)", shapes_output=True)
    max_clipping_ratio: float = setting(0.001, "drop clips with more samples at full scale", shapes_output=True)
    min_snr_db: float = setting(0.0, "drop clips with a lower WADA-SNR (dB)", shapes_output=True)
    language_min_probability: float = setting(
        0.5, "a language mismatch counts when Whisper is at least this sure", shapes_output=True
    )
    language_mismatch: str = setting(
        "drop", "a language mismatch: drop the sample, or flag it", shapes_output=True, choices=MISMATCH_ACTIONS
    )
    min_asr_avg_logprob: float = setting(-1.0, "drop ASR transcripts less sure on average", shapes_output=True)
    max_asr_no_speech_prob: float = setting(0.6, "drop ASR transcripts likelier no speech", shapes_output=True)
    min_speech_share: float = setting(0.2, "drop speech clips with less speech (VAD share)", shapes_output=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", parse_filters(self.filters))
        if self.language_mismatch not in MISMATCH_ACTIONS:
            raise ValueError(f"--language-mismatch must be one of {MISMATCH_ACTIONS}, not {self.language_mismatch!r}")
        if not 0.0 <= self.language_min_probability <= 1.0:
            raise ValueError(f"--language-min-probability must lie in [0, 1], got {self.language_min_probability}")
        filters.check_limits(FILTER_ROWS, self)


# ----------------------------------------------------------------------------- the rows, for stats, card and report


def histogram_values(quality: Mapping[str, Any]) -> dict[str, Any]:
    """Each filter's value in one sample's ``original_data['quality']`` (:func:`filters.histogram_values`)."""
    return filters.histogram_values(FILTER_ROWS, quality)


def histogram_entries(quality: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(histogram, bin) pairs of one sample's ``original_data['quality']``, for the shard stats."""
    return filters.histogram_entries(FILTER_ROWS, quality)


def histogram_figures(histograms: Mapping[str, Counter]) -> dict[str, dict[str, int]]:
    """The card's histograms from the summed shard stats, bins in order (:func:`filters.histogram_figures`)."""
    return filters.histogram_figures(FILTER_ROWS, histograms)


def filter_row(histogram: str) -> Filter | None:
    """The row whose value a histogram counts (None for a name no row gives)."""
    return next((row for row in FILTER_ROWS if row.histogram == histogram), None)


# ----------------------------------------------------------------------------- the stage


class QualityStage(Stage):
    """In-shard stage: measure, record and filter, by the rows of :data:`FILTER_ROWS`."""

    name = STAGE

    def __init__(self, settings: QualitySettings = QualitySettings(), segment: Any = None) -> None:
        from transforms.segment.options import SegmentSettings

        self.settings = settings
        self.segment = segment or SegmentSettings()
        self.rows = FILTER_ROWS
        self._whisper: Any = None

    def setup(self) -> None:
        if "snr" in self.settings.filters:
            wada_table()

    def whisper(self) -> Any:
        """The segment stage's Whisper (one per worker process: :func:`~transforms.segment.stage.shared_whisper`)."""
        if self._whisper is None:
            from transforms.segment.stage import shared_whisper

            self._whisper = shared_whisper(self.segment)
        return self._whisper

    def process(self, samples: list[Sample]) -> tuple[list[Sample], list[Failure]]:
        out, failures = [], []
        for sample in samples:
            try:
                record = self.measure(sample)
            except Exception as exc:  # one bad clip must not kill the shard
                failures.append(sample.fail(STAGE, "error", f"{type(exc).__name__}: {exc}"))
                continue
            verdict = self.verdict(record, speech=bool(sample.transcript or sample.item.transcript))
            if verdict is not None:
                reason, detail = verdict
                Metrics.counter("clara_quality", f"dropped/{reason}").inc()
                failures.append(sample.fail(STAGE, reason, detail))
                continue
            out.append(sample.derive(original_data={**sample.original_data, "quality": record}))
        return out, failures

    def measure(self, sample: Sample) -> dict[str, Any]:
        """Every listed filter's measure of one sample, JSON-ready."""
        return filters.measure(self.rows, self.settings.filters, Measuring(sample, self.settings, self.whisper))

    def verdict(self, record: dict[str, Any], speech: bool) -> tuple[str, str] | None:
        """(reason, detail with the value) of the first row a record fails, or None."""
        return filters.verdict(self.rows, record, self.settings, speech)


def build_quality(config: Any) -> QualityStage | None:
    """The stage when ``--filters`` names any filter."""
    if not config.quality.filters:
        return None
    return QualityStage(config.quality, segment=config.segment)


SPEC = StageSpec(
    name=STAGE,
    settings=QualitySettings,
    build=build_quality,
    order=15,
    decides=True,  # a sample below a threshold is dropped the same way again: never retried
    writes=("quality",),
    record=Quality,
)
