"""The segment stage of the in-shard chain (paper §III-A1, Fig. 1a).

Policy: items of at most ``max_segment_s`` pass unchanged (transcribed by Whisper when
``transcribe_missing`` and they have no transcript); longer items are cut between words into
segments of at most ``max_segment_s``, each a new ``Sample`` with its own transcript, span and
word timings. Word timings come from the configured aligner: MFA (when a transcript exists;
Whisper on failure, recorded), Whisper, or the item's own timings. Silence, music, noise and
hallucinations are detected from Whisper's own figures and become failures (long items) or
samples kept without a transcript (short items) — never an exception that kills the shard.
Speech the VAD hears is never given up for lack of text before the Whisper handler has decoded
it again (:mod:`transforms.segment.recovery`); a rejection's detail and the segmentation record
say how much speech the VAD heard and what was tried, and a rejection for lack of text with
2 s or more of VAD speech is counted as an anomaly (``clara_segment/no_speech_with_vad_speech``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from apache_beam.metrics import Metrics

from schemas import SAMPLE_RATE, Failure, Segment, WordAlignment
from transforms.diarize.turns import Diarization, forced_cuts
from transforms.segment.cut import (
    UnsplittableError,
    build_segments,
    find_pauses,
    plan_segments,
)
from transforms.segment.mfa import AlignRequest, MfaAligner, MfaUnavailableError
from transforms.segment.options import SegmentSettings
from transforms.segment.recovery import ANOMALY_SPEECH_S, METRICS_NAMESPACE, speech_anomaly
from transforms.segment.speakers import diarize_recording, segment_records, wants_diarization
from transforms.shared_models import load_shared
from transforms.spooled import span_of
from transforms.stage import Sample, Stage, StageSpec

if TYPE_CHECKING:  # the handlers pull in apache_beam.ml (and torch): imported when a model is needed
    from transforms.segment.whisper import FasterWhisperModelHandler, OpenAIWhisperModelHandler, Transcription

WHISPER_SAMPLE_RATE = 16_000

STAGE = "segment"
_SLACK_S = 1e-3
_CHECK_FIELDS = ("vad_speech_s", "asr_retries", "asr_tried", "asr_unrecovered", "asr_windows_kept")
_ASR_CHUNK = 32
"""Clips per ``run_inference`` call: bounds the packed audio held in memory at once."""


def _clip_request(*args: Any, **kwargs: Any) -> Any:
    from transforms.segment.whisper import ClipRequest

    return ClipRequest(*args, **kwargs)


def asr_rejection(t: Transcription) -> str | None:
    """Why a transcription should not be trusted (Whisper's own heuristics), or None. Whisper's
    silence test (no_speech_prob over 0.6 with avg_logprob under -1) does not reject words where
    the VAD heard :data:`ANOMALY_SPEECH_S` or more of speech."""
    if not t.words or not t.text.strip():
        return "no_speech"
    heard_speech = t.extra.get("vad_speech_s", 0.0) >= ANOMALY_SPEECH_S
    if t.no_speech_prob > 0.6 and t.avg_logprob < -1.0 and not heard_speech:
        return "no_speech"  # Whisper's own silence test; the VAD, where it heard speech, outranks it
    if t.compression_ratio > 2.4:
        return "hallucination_repetition"
    rate = len(t.words) / max(t.duration_s, 1e-3)
    if rate > 7.0:
        return "implausible_speech_rate"
    if t.duration_s >= 5.0 and rate < 0.3:
        return "text_without_speech"
    if t.language_detected and t.language_probability is not None and t.language_probability < 0.5:
        return "unknown_language"
    return None


def make_handler(
    settings: SegmentSettings,
) -> FasterWhisperModelHandler | OpenAIWhisperModelHandler:
    """The Whisper ``ModelHandler`` the settings ask for (also usable with ``RunInference``)."""
    if settings.whisper_engine == "openai":
        from transforms.segment.whisper import OpenAIWhisperModelHandler

        return OpenAIWhisperModelHandler(settings.whisper_model, device=settings.whisper_device)
    from transforms.segment.whisper import FasterWhisperModelHandler

    return FasterWhisperModelHandler(
        settings.whisper_model,
        device=settings.whisper_device,
        compute_type=settings.whisper_compute_type,
        batch_size=settings.whisper_batch_size,
        batched=not settings.whisper_unbatched,
        cpu_threads=settings.whisper_cpu_threads,
        beam_size=settings.whisper_beam_size,
        share_windows=settings.whisper_share_windows,
    )


def shared_whisper(
    settings: SegmentSettings, handler: FasterWhisperModelHandler | OpenAIWhisperModelHandler | None = None
) -> Any:
    """The Whisper model ``settings`` ask for, loaded once per worker process: every stage asking
    with the same settings (segmentation, the quality stage's language ID) gets the same one."""
    return load_shared(f"whisper:{settings!r}", (handler or make_handler(settings)).load_model)


def to_whisper_rate(audio: np.ndarray) -> np.ndarray:
    import soxr

    return soxr.resample(np.asarray(audio, dtype=np.float32), SAMPLE_RATE, WHISPER_SAMPLE_RATE).astype(np.float32)


class SegmentStage(Stage):
    """Cut long samples into ≤ ``max_segment_s`` segments between words; see the module docstring."""

    name = STAGE

    def __init__(self, settings: SegmentSettings | None = None, **overrides: Any) -> None:
        base = settings or SegmentSettings()
        self.settings = SegmentSettings(**{**base.__dict__, **overrides}) if overrides else base
        self._handler: FasterWhisperModelHandler | OpenAIWhisperModelHandler | None = None
        self.model: Any = None
        self.mfa: MfaAligner | None = None
        self.speaker_encoder: Any = None

    @property
    def handler(self) -> FasterWhisperModelHandler | OpenAIWhisperModelHandler:
        """Made on first use: its module imports apache_beam.ml and torch, seconds of a worker's
        start that a build whose clips need no ASR never pays."""
        if self._handler is None:
            self._handler = make_handler(self.settings)
        return self._handler

    # -- lifecycle -----------------------------------------------------------------------
    def setup(self) -> None:
        """Load Whisper once per worker; check MFA runs (a clear error now, not per sample)."""
        s = self.settings
        if s.aligner == "mfa" or (s.aligner == "auto" and s.mfa_dictionary and s.mfa_acoustic_model):
            self.mfa = MfaAligner(
                s.mfa_dictionary,
                s.mfa_acoustic_model,
                binary=s.mfa_binary,
                num_jobs=s.mfa_num_jobs,
                phonemize_oov=s.mfa_phonemize_oov,
            )
            self.mfa.setup()
        if s.aligner == "whisper" or s.transcribe_missing:
            self._ensure_model()  # other aligners load Whisper lazily, only if an item needs it
        if s.diarize:
            from transforms.diarize.embed import shared_encoder

            self.speaker_encoder = shared_encoder(s.diarize_model, s.diarize_weights, s.whisper_device)

    def _ensure_model(self) -> Any:
        if self.model is None:  # one Whisper per worker process, whatever its threads (transforms/shared_models.py)
            self.model = shared_whisper(self.settings, self.handler)
        return self.model

    # -- the work ------------------------------------------------------------------------
    def process(self, samples: list[Sample]) -> tuple[list[Sample], list[Failure]]:
        s = self.settings
        words: dict[int, tuple[WordAlignment, ...]] = {}
        info: dict[int, dict[str, Any]] = {i: {} for i in range(len(samples))}
        need_asr: list[int] = []
        long_ones = {i for i, x in enumerate(samples) if x.duration_s > s.max_segment_s + _SLACK_S}
        short_asr = [
            i
            for i, x in enumerate(samples)
            if i not in long_ones and s.transcribe_missing and not (x.transcript or x.item.transcript)
        ]
        for i in sorted(long_ones):
            item = samples[i].item
            if s.aligner in ("given", "auto") and item.words:
                words[i], info[i]["aligner"] = tuple(item.words), "given"
            elif self.mfa is not None and item.transcript:
                info[i]["aligner"] = "mfa"
            else:
                need_asr.append(i)
        self._align_with_mfa(
            samples,
            [i for i in sorted(long_ones) if info[i].get("aligner") == "mfa"],
            words,
            info,
            need_asr,
        )
        transcripts, asr_errors = self._transcribe(samples, sorted(need_asr + short_asr))
        out: list[Sample] = []
        failures: list[Failure] = []
        for i, sample in enumerate(samples):
            try:
                if i in long_ones:
                    self._cut(
                        sample,
                        i,
                        words,
                        transcripts,
                        asr_errors,
                        info[i],
                        out,
                        failures,
                    )
                elif i in transcripts or i in asr_errors:
                    out.append(self._with_transcript(sample, transcripts.get(i), asr_errors.get(i)))
                else:
                    out.append(sample)
            except Exception as exc:  # one bad item must not kill the shard
                failures.append(sample.fail(STAGE, "error", f"{type(exc).__name__}: {exc}"))
        return out, failures

    def _align_with_mfa(self, samples, indices, words, info, need_asr) -> None:
        if not indices:
            return
        requests = [
            AlignRequest(
                samples[i].item.key,
                to_whisper_rate(samples[i].audio),
                samples[i].item.transcript,
                samples[i].item.speaker_id,
                _language(samples[i]),
            )
            for i in indices
        ]
        try:
            found = self.mfa.align(requests)
        except Exception as exc:
            found = {r.key: f"mfa error: {exc}" for r in requests}
        for i, request in zip(indices, requests):
            result = found.get(request.key, "mfa returned nothing")
            if isinstance(result, str):
                info[i].update(aligner="whisper", fallback=f"mfa failed: {result}"[:300])
                need_asr.append(i)
            else:
                words[i] = result

    def _transcribe(self, samples: list[Sample], indices: list[int]) -> tuple[dict[int, Transcription], dict[int, str]]:
        found: dict[int, Transcription] = {}
        errors: dict[int, str] = {}
        if not indices:
            return found, errors
        model = self._ensure_model()
        from transforms.segment.longform import LONGFORM_S, transcribe_long

        long_form = {i for i in indices if samples[i].duration_s >= LONGFORM_S}
        for i in sorted(long_form):  # VAD windows, a group at a time: bounded memory (segment/longform.py)
            try:
                found[i] = transcribe_long(
                    self.handler, model, samples[i].item.key, samples[i].audio, _language(samples[i])
                )
            except Exception as exc:
                errors[i] = f"asr_error: {type(exc).__name__}: {exc}"
        indices = [i for i in indices if i not in long_form]
        order = sorted(indices, key=lambda i: samples[i].duration_s)  # similar lengths batch together
        for start in range(0, len(order), _ASR_CHUNK):
            chunk = order[start : start + _ASR_CHUNK]
            requests = [
                _clip_request(
                    samples[i].item.key,
                    to_whisper_rate(samples[i].audio),
                    _language(samples[i]),
                )
                for i in chunk
            ]
            try:
                results = list(self.handler.run_inference(requests, model))
            except Exception as exc:
                errors.update({i: f"asr_error: {type(exc).__name__}: {exc}" for i in chunk})
                continue
            found.update(zip(chunk, results))
        return found, errors

    def _with_transcript(self, sample: Sample, t: Transcription | None, error: str | None) -> Sample:
        """A short item, transcribed when Whisper's output is trustworthy, else kept honestly without."""
        record = _asr_record(self.settings, t)
        reason = error or (asr_rejection(t) if t is not None else "no_transcription")
        if reason:
            record["transcript_rejected"] = reason
            if t is not None and "vad_speech_s" in t.extra:
                record["vad_speech_s"] = t.extra["vad_speech_s"]
            _rejected(sample, reason, t)
            return sample.derive(original_data={**sample.original_data, "segmentation": record})
        segment = Segment(
            source_key=sample.segment.source_key,
            index=sample.segment.index,
            start_s=sample.segment.start_s,
            duration_s=sample.segment.duration_s,
            transcript=t.text,
            words=t.words,
        )
        return sample.derive(
            segment=segment,
            original_data={**sample.original_data, "segmentation": record},
        )

    def _cut(self, sample, i, words, transcripts, asr_errors, info, out, failures) -> None:
        s = self.settings
        record = dict(info)
        transcript = sample.item.transcript
        if i not in words:
            t = transcripts.get(i)
            reason = asr_errors.get(i) or (asr_rejection(t) if t is not None else "no_transcription")
            record.update(_asr_record(s, t), aligner=record.get("aligner", "whisper"))
            if reason:
                _rejected(sample, reason, t)
                if s.non_speech == "split" and not asr_errors.get(i):
                    record["transcript_rejected"] = reason
                    out.extend(_split_by_time(sample, s.max_segment_s, record))
                else:
                    failures.append(sample.fail(STAGE, reason, _detail(t)))
                return
            words[i] = t.words
            record["transcript_source"] = "source" if transcript else "asr"
            transcript = transcript or t.text
        else:
            record["transcript_source"] = "source" if transcript else "aligner"
        duration = len(sample.audio) / SAMPLE_RATE
        from transforms.segment.longform import LONGFORM_S, At16k

        # a long recording is seen at 16 kHz a block at a time, not copied whole
        audio16 = At16k(sample.audio) if duration >= LONGFORM_S else to_whisper_rate(sample.audio)
        pauses = find_pauses(words[i], audio16, WHISPER_SAMPLE_RATE)
        speakers = self._diarize(audio16, duration)
        forced = forced_cuts(words[i], speakers.turns, speakers.changes) if speakers is not None else frozenset()
        try:
            plan = plan_segments(words[i], duration, s.max_segment_s, s.min_segment_s, pauses, forced=forced)
        except UnsplittableError as exc:
            failures.append(sample.fail(STAGE, "unsplittable", str(exc)))
            return
        who = segment_records(speakers, words[i], plan, s) if speakers is not None else [None] * len(plan)
        for segment, said_by in zip(build_segments(sample.item.key, words[i], plan, transcript), who):
            extra = {} if said_by is None else {"diarization": said_by}
            if said_by is not None and said_by.get("overlap") and s.overlapped_speech == "drop":
                failures.append(
                    sample.fail(STAGE, "overlapped_speech", f"segment {segment.index} at {segment.start_s:.2f} s")
                )
                continue
            first = round(segment.start_s * SAMPLE_RATE)
            last = min(
                round((segment.start_s + segment.duration_s) * SAMPLE_RATE),
                first + int(s.max_segment_s * SAMPLE_RATE),
            )
            out.append(
                sample.derive(
                    segment=segment,
                    audio=span_of(sample.audio, first, last),  # a spooled recording: a lazy view
                    source_duration_s=duration,
                    original_data={
                        **sample.original_data,
                        "segmentation": dict(record, segments=len(plan)),
                        **extra,
                    },
                )
            )

    def _diarize(self, audio16: Any, duration_s: float) -> Diarization | None:
        """Who speaks when in the recording, when the settings ask for it (transforms/segment/speakers.py)."""
        if not wants_diarization(self.settings, duration_s):
            return None
        if self.speaker_encoder is None:
            from transforms.diarize.embed import shared_encoder

            s = self.settings
            self.speaker_encoder = shared_encoder(s.diarize_model, s.diarize_weights, s.whisper_device)
        return diarize_recording(audio16, self.speaker_encoder, self.settings)


def _language(sample: Sample) -> str | None:
    language = sample.item.language
    return None if not language or language == "und" else language.split("-")[0].lower()


def _asr_record(settings: SegmentSettings, t: Transcription | None) -> dict[str, Any]:
    record: dict[str, Any] = {"asr_model": f"{settings.whisper_engine}:{settings.whisper_model}"}
    if t is not None:
        record.update(language=t.language, language_detected=t.language_detected)
        if t.language_probability is not None:
            record["language_probability"] = round(t.language_probability, 3)
        # Whisper's confidence in its transcript, for the quality stage's asr_confidence filter
        record.update(avg_logprob=_finite(t.avg_logprob, -99.0), no_speech_prob=_finite(t.no_speech_prob, 1.0))
        # what was decoded again and the voice activity heard (transforms/segment/recovery.py), when
        # something was: a transcript that passed at once keeps the record it always had
        if t.extra.get("asr_retries"):
            record.update({k: t.extra[k] for k in _CHECK_FIELDS if k in t.extra})
    return record


def _rejected(sample: Sample, reason: str, t: Transcription | None) -> None:
    """Count a rejection for lack of text of speech the VAD heard: an anomaly of the run."""
    if speech_anomaly(reason, (t.extra if t is not None else {}).get("vad_speech_s")):
        Metrics.counter(METRICS_NAMESPACE, "no_speech_with_vad_speech").inc()


def _finite(value: float, otherwise: float) -> float:
    return round(float(value), 4) if math.isfinite(value) else otherwise


def _detail(t: Transcription | None) -> str:
    if t is None:
        return ""
    checked = ""
    if "vad_speech_s" in t.extra:
        tried = "+".join(["first_decode", *t.extra.get("asr_tried", [])])
        checked = f"vad_speech_s={t.extra['vad_speech_s']:.2f} tried={tried} "
    return checked + (
        f"no_speech_prob={t.no_speech_prob:.2f} avg_logprob={t.avg_logprob:.2f} "
        f"compression_ratio={t.compression_ratio:.2f} words={len(t.words)} text={t.text[:200]!r}"
    )


def _split_by_time(sample: Sample, max_seconds: float, record: dict[str, Any]) -> list[Sample]:
    """Equal pieces of at most ``max_segment_s`` (for non-speech audio), without transcript."""
    duration = len(sample.audio) / SAMPLE_RATE
    count = math.ceil(duration / max_seconds - 1e-9)
    edges = np.linspace(0, len(sample.audio), count + 1).round().astype(int)
    pieces = []
    for index, (a, b) in enumerate(zip(edges, edges[1:])):
        segment = Segment(
            sample.item.key,
            index,
            round(a / SAMPLE_RATE, 4),
            round((b - a) / SAMPLE_RATE, 4),
        )
        pieces.append(
            sample.derive(
                segment=segment,
                audio=span_of(sample.audio, a, b),
                source_duration_s=duration,
                original_data={
                    **sample.original_data,
                    "segmentation": dict(record, aligner="time", segments=count),
                },
            )
        )
    return pieces


def check_segment(config: Any) -> None:
    """One ``ValueError`` line when the settings can't work here (with ``--aligner mfa``: MFA must run)."""
    s: SegmentSettings = config.segment
    if s.aligner == "mfa":
        try:
            MfaAligner(s.mfa_dictionary, s.mfa_acoustic_model, binary=s.mfa_binary).setup()
        except MfaUnavailableError as exc:
            raise ValueError(str(exc)) from exc


SPEC = StageSpec(
    name=STAGE,
    settings=SegmentSettings,
    build=lambda config: SegmentStage(config.segment),  # always on: items of at most max_segment_s pass
    order=10,
    check=check_segment,
    writes=("segmentation", "diarization"),
)
