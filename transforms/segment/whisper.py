"""Whisper ASR with word timestamps, as Beam ``ModelHandler``s (paper §III-A1: ASR in Fig. 1a).

Two engines behind one contract, ``ClipRequest`` in, ``Transcription`` out:

- :class:`FasterWhisperModelHandler` (default): CTranslate2, int8 on CPU / float16 on CUDA.
  Batched mode packs *all* clips of one language into a single
  ``BatchedInferencePipeline.transcribe`` call: the clips are laid end to end and passed as
  ``clip_timestamps`` (clips over 30 s are first split at voice-activity gaps), so chunks of
  different clips share encoder/decoder batches; results are mapped back by offset. Clips much
  shorter than 30 s can also share one 30-s window, half a second apart (``share_windows=True``,
  ``--whisper-share-windows``; Whisper encodes 30 s whatever the clip): two 10-s web clips cost one
  encoding, and on ``bench/segment.py web`` their WER fell from 43.8 % to 41.9 % (the build's CPU
  1.02x). Off by default: a clip's words would depend on its batch's other clips. Decoding
  searches with a beam of 5 (faster-whisper's own default, ``--whisper-beam-size``): greedy
  decoding was 5 to 7 points of WER worse than the bare faster-whisper loop on German web clips.
  Every decoded chunk is checked against the voice activity in it; a failed one (a greedy
  decode that gave up on speech) is decoded again (:mod:`transforms.segment.recovery`), and
  ``Transcription.extra`` says how much speech the VAD heard and what was retried.
- :class:`OpenAIWhisperModelHandler`: the reference ``openai-whisper`` (PyTorch), one clip at a
  time, loading a model name or a checkpoint path.

The language comes from metadata when known; otherwise it is detected per clip and recorded.
Both handlers work with ``RunInference`` and are called directly by the segment stage.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from apache_beam.ml.inference.base import ModelHandler

from schemas import WordAlignment
from transforms.segment.clips import WHISPER_SAMPLE_RATE, ClipRequest, Transcription
from transforms.segment.models import DEFAULT_MODEL, resolve_faster_whisper_model
from transforms.segment.recovery import (
    RETRY_MAX_TOKENS,
    RETRY_TOKENS_PER_S,
    TEMPERATURES,
    ClipReport,
    seeded,
    segment_dict,
    shift_segments,
    transcribe_checked,
    words_within,
)

_CHUNK_S = 30.0
_LENGTH_CLASS_S = 10
"""First decodes are packed per length class of this many seconds, so that a 10-s clip's tokens
are capped for 10 s and not for the 30-s clip beside it."""
SHARE_GAP_S = 0.5
"""Silence between two clips sharing one 30-s Whisper window (:func:`pack_windows`). Three 10-s web
clips do not fit with it; laid end to end instead (no gap), they cost the same CPU on 28 web
windows (34.0 against 34.4 s: fewer encodings, more retries at the seams) for 0.6 points of WER."""


def pack_windows(lengths: Sequence[int], limit: int, min_gap: int = 0) -> list[list[int]]:
    """Pieces (indices into ``lengths``) grouped into windows whose pieces, ``min_gap`` samples
    apart, take at most ``limit`` samples: first fit, longest piece first; each window's members in
    their own order. A piece longer than ``limit`` has a window of its own."""
    windows: list[list[int]] = []
    used: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for w, total in enumerate(used):
            if total + min_gap + lengths[i] <= limit:
                windows[w].append(i)
                used[w] = total + min_gap + lengths[i]
                break
        else:
            windows.append([i])
            used.append(lengths[i])
    return [sorted(window) for window in windows]


def compression_ratio(text: str) -> float:
    """Whisper's repetition figure: text bytes over zlib-compressed bytes (> 2.4 is suspicious)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _summarise(
    key: str, segments: list[Any], duration_s: float, language, probability, detected, extra: dict | None = None
) -> Transcription:
    """Fold engine segments (objects or dicts with text/words/no_speech_prob...) into one record."""
    words, texts, weights, no_speech, logprob = [], [], [], [], []
    for seg in segments:
        get = seg.get if isinstance(seg, dict) else lambda name, seg=seg: getattr(seg, name, None)
        texts.append(get("text") or "")
        length = max(1e-3, float(get("end")) - float(get("start")))
        weights.append(length)
        no_speech.append(float(get("no_speech_prob") or 0.0))
        logprob.append(float(get("avg_logprob") or 0.0))
        for w in get("words") or []:
            wget = w.get if isinstance(w, dict) else lambda name, w=w: getattr(w, name)
            token = str(wget("word")).strip()
            if token:
                start = max(0.0, float(wget("start")))
                words.append(
                    WordAlignment(
                        token,
                        round(start, 3),
                        round(max(0.0, float(wget("end")) - start), 3),
                    )
                )
    text = " ".join(t.strip() for t in texts if t.strip())
    if probability is not None and not np.isfinite(probability):
        probability = 0.0  # a degenerate model (NaN logits): no confidence at all
    no_speech_prob = float(np.average(no_speech, weights=weights)) if weights else 1.0
    avg_logprob = float(np.average(logprob, weights=weights)) if weights else 0.0
    return Transcription(
        key=key,
        text=text,
        words=tuple(words),
        language=language,
        language_probability=probability,
        language_detected=detected,
        no_speech_prob=no_speech_prob if np.isfinite(no_speech_prob) else 1.0,
        avg_logprob=avg_logprob if np.isfinite(avg_logprob) else float("-inf"),
        compression_ratio=compression_ratio(text),
        duration_s=duration_s,
        extra=dict(extra or {}),
    )


@dataclass
class LoadedFasterWhisper:
    """A loaded faster-whisper model and, in batched mode, its batched pipeline."""

    model: Any
    pipeline: Any | None
    multilingual: bool


class FasterWhisperModelHandler(ModelHandler[ClipRequest, Transcription, LoadedFasterWhisper]):
    """faster-whisper (CTranslate2) for ``RunInference``: word timestamps, batched on request."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        device: str = "cpu",
        compute_type: str = "auto",
        batch_size: int = 8,
        batched: bool = True,
        cpu_threads: int = 0,
        beam_size: int = 5,
        share_windows: bool = False,
        cache_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("max_batch_size", max(1, batch_size))
        super().__init__(**kwargs)
        self.model_name = model
        self.device = device
        self.compute_type = compute_type
        self.batch_size = batch_size
        self.batched = batched
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self.share_windows = share_windows
        self.cache_dir = cache_dir

    def resolved_compute_type(self) -> str:
        if self.compute_type != "auto":
            return self.compute_type
        return "float16" if self.device.startswith("cuda") else "int8"

    def load_model(self) -> LoadedFasterWhisper:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        path = resolve_faster_whisper_model(self.model_name, self.cache_dir)
        model = WhisperModel(
            path,
            device=self.device,
            compute_type=self.resolved_compute_type(),
            cpu_threads=self.cpu_threads,
        )
        pipeline = BatchedInferencePipeline(model=model) if self.batched else None
        return LoadedFasterWhisper(model=model, pipeline=pipeline, multilingual=model.model.is_multilingual)

    def run_inference(
        self,
        batch: Sequence[ClipRequest],
        model: LoadedFasterWhisper,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[Transcription]:
        languages = [self._language(request, model) for request in batch]
        results: dict[int, Transcription] = {}
        groups: dict[str | None, list[int]] = {}
        for i, (language, _, _) in enumerate(languages):
            groups.setdefault(language, []).append(i)
        for language, indices in groups.items():
            texts, reports = self._transcribe_checked([batch[i] for i in indices], language, model)
            for i, segments, report in zip(indices, texts, reports):
                _, probability, detected = languages[i]
                results[i] = _summarise(
                    batch[i].key,
                    segments,
                    batch[i].duration_s,
                    language,
                    probability,
                    detected,
                    extra=report.extra(),
                )
        return [results[i] for i in range(len(batch))]

    def _language(self, request: ClipRequest, model: LoadedFasterWhisper) -> tuple[str | None, float | None, bool]:
        if not model.multilingual:
            return "en", None, False
        if request.language and request.language != "und":
            return request.language, None, False
        if request.duration_s < 0.1:
            return None, None, True
        language, probability, _ = model.model.detect_language(
            audio=request.audio[: int(_CHUNK_S * WHISPER_SAMPLE_RATE)]
        )
        return language, float(probability), True

    def _options(self, language: str | None) -> dict[str, Any]:
        return dict(
            language=language,
            word_timestamps=True,
            beam_size=self.beam_size,
            condition_on_previous_text=False,
        )

    def _transcribe_checked(
        self,
        requests: list[ClipRequest],
        language: str | None,
        model: LoadedFasterWhisper,
    ) -> tuple[list[list[dict[str, Any]]], list[ClipReport]]:
        """Per clip its segments and what the check against voice activity did (segment/recovery.py).

        Batched: each clip (or each ≤ 30 s piece of a longer one) one ``clip_timestamps`` chunk of
        one packed call; failed chunks again as VAD windows (packed), then one window at a time
        with temperature fallback. Unbatched: each clip whole through ``WhisperModel.transcribe``,
        failed ones again as VAD windows the same way. Last, for windows still failing, one greedy
        decode that may not repeat a word trigram (a decode caught in a loop)."""
        clips = [request.audio for request in requests]

        def sequential(pieces: list[np.ndarray]) -> list[list[dict[str, Any]]]:
            return [self._decode_sequential(piece, language, model) for piece in pieces]

        def retry(pieces: list[np.ndarray]) -> list[list[dict[str, Any]]]:
            return [self._decode_sequential(piece, language, model, retry=True) for piece in pieces]

        def no_repeat(pieces: list[np.ndarray]) -> list[list[dict[str, Any]]]:
            return [self._decode_sequential(piece, language, model, retry=True, no_repeat=True) for piece in pieces]

        last = ("no_repeat", seeded(no_repeat))
        if model.pipeline is None:
            units = [(c, 0, len(clip)) for c, clip in enumerate(clips) if len(clip) >= WHISPER_SAMPLE_RATE // 10]
            return transcribe_checked(clips, units, seeded(sequential), [("vad_windows", seeded(retry)), last])
        units = [(c, start, end) for c, clip in enumerate(clips) for start, end in speech_chunks(clip)]

        def packed(pieces: list[np.ndarray]) -> list[list[dict[str, Any]]]:
            return self._decode_packed(pieces, language, model)

        def by_length(pieces: list[np.ndarray]) -> list[list[dict[str, Any]]]:
            """One packed call per length class (up to 10, 20, 30 s), each capped by its longest piece."""
            found: list[list[dict[str, Any]]] = [[] for _ in pieces]
            classes: dict[int, list[int]] = {}
            for i, piece in enumerate(pieces):
                classes.setdefault(-(-len(piece) // (_LENGTH_CLASS_S * WHISPER_SAMPLE_RATE)), []).append(i)
            for _, members in sorted(classes.items()):
                for i, segments in zip(members, self._decode_packed([pieces[i] for i in members], language, model)):
                    found[i] = segments
            return found

        rounds = [("vad_windows", packed), ("sequential", seeded(retry)), last]
        if not self.share_windows:
            return transcribe_checked(clips, units, by_length, rounds)
        was_shared: list[bool] = []

        def shared(pieces: list[np.ndarray]) -> list[list[dict[str, Any]]]:
            return decode_sharing_windows(pieces, by_length, was_shared)

        return transcribe_checked(clips, units, shared, rounds, alone=(lambda i: was_shared[i], by_length))

    def _decode_sequential(
        self,
        audio: np.ndarray,
        language: str | None,
        model: LoadedFasterWhisper,
        retry: bool = False,
        no_repeat: bool = False,
    ) -> list[Any]:
        """``WhisperModel.transcribe`` with temperature fallback; every decode's tokens are capped by
        the length of the window Whisper decodes (the piece, at most 30 s: a decode caught in a loop
        ends early instead of at 448 tokens), and ``no_repeat`` is one greedy decode that may not
        repeat a trigram."""
        options = self._options(language)
        options["max_new_tokens"] = token_cap(min(len(audio), int(_CHUNK_S * WHISPER_SAMPLE_RATE)))
        if retry:  # the VAD heard speech here: Whisper's own silence test may not skip it
            options["no_speech_threshold"] = None
        if no_repeat:
            options.update(temperature=0.0, no_repeat_ngram_size=3)
        segments, _ = model.model.transcribe(audio, vad_filter=False, **{"temperature": TEMPERATURES, **options})
        return [segment_dict(seg) for seg in segments]

    def _decode_packed(
        self,
        pieces: list[np.ndarray],
        language: str | None,
        model: LoadedFasterWhisper,
    ) -> list[list[dict[str, Any]]]:
        """The pieces (each ≤ 30 s) end to end, each a ``clip_timestamps`` chunk of one batched call;
        per piece its segments in the piece's own time. The tokens of every chunk are capped by the
        longest piece (:func:`token_cap`): a decode caught in a loop ("on en racontent, on en
        racontent, ...") stops there instead of at Whisper's 448 tokens, and holds its batch up less."""
        found: list[list[dict[str, Any]]] = [[] for _ in pieces]
        if not pieces:
            return found
        bounds = np.cumsum([0] + [len(piece) for piece in pieces]) / WHISPER_SAMPLE_RATE
        chunks = [{"start": float(a), "end": float(b)} for a, b in zip(bounds, bounds[1:])]
        options = {k: v for k, v in self._options(language).items() if k != "condition_on_previous_text"}
        segments, _ = model.pipeline.transcribe(
            np.concatenate(pieces).astype(np.float32),
            clip_timestamps=chunks,
            batch_size=self.batch_size,
            vad_filter=False,
            max_new_tokens=token_cap(max(len(piece) for piece in pieces)),
            **options,
        )
        for seg in segments:
            owner = int(np.searchsorted(bounds[:-1], (seg.start + seg.end) / 2, side="right")) - 1
            found[owner].append(segment_dict(seg, bounds[owner]))
        return found

    def get_metrics_namespace(self) -> str:
        return "SegmentWhisper"

    def get_num_bytes(self, batch: Sequence[ClipRequest]) -> int:
        return sum(request.audio.nbytes for request in batch)


def decode_sharing_windows(
    pieces: list[np.ndarray],
    decode: Callable[[list[np.ndarray]], list[list[dict[str, Any]]]],
    was_shared: list[bool],
) -> list[list[dict[str, Any]]]:
    """``decode`` with short pieces sharing 30-s windows (:func:`pack_windows`), ``SHARE_GAP_S`` of
    silence apart: Whisper's encoder always reads 30 s, so two 10-s clips (five of 5 s) cost one
    encoding. Each piece gets the words whose midpoint lies in it (or in half a gap beside it), in
    its own time; ``was_shared`` is set to whether each piece shared its window, so that the check
    against voice activity can have a shared piece that fails decoded alone before any retry
    (``transcribe_checked``'s ``alone``): a shared window can end in a loop over its first clip
    (Whisper base on French)."""
    gap = int(SHARE_GAP_S * WHISPER_SAMPLE_RATE)
    groups = pack_windows([len(p) for p in pieces], int(_CHUNK_S * WHISPER_SAMPLE_RATE), gap)
    windows, starts = [], []
    was_shared[:] = [False] * len(pieces)
    for group in groups:
        at, parts, first = 0, [], []
        for k, i in enumerate(group):
            if k:
                parts.append(np.zeros(gap, dtype=np.float32))
                at += gap
            first.append(at)
            parts.append(np.asarray(pieces[i], dtype=np.float32))
            at += len(pieces[i])
            was_shared[i] = len(group) > 1
        windows.append(np.concatenate(parts))
        starts.append(first)
    found: list[list[dict[str, Any]]] = [[] for _ in pieces]
    for group, first, segments in zip(groups, starts, decode(windows)):
        for k, i in enumerate(group):
            low = (first[k] - gap / 2) / WHISPER_SAMPLE_RATE if k else -np.inf
            high = (first[k] + len(pieces[i]) + gap / 2) / WHISPER_SAMPLE_RATE if k < len(group) - 1 else np.inf
            mine = shift_segments(words_within(segments, low, high), -first[k] / WHISPER_SAMPLE_RATE)
            found[i] = _clamped(mine, len(pieces[i]) / WHISPER_SAMPLE_RATE)
    return found


def _clamped(segments: list[dict[str, Any]], duration_s: float) -> list[dict[str, Any]]:
    """Segments with their words' times held inside ``0..duration_s`` (a word read half into the
    silence beside a clip that shared its window ends where the clip ends)."""

    def inside(t: float) -> float:
        return min(max(float(t), 0.0), duration_s)

    out = []
    for seg in segments:
        words = [{**w, "start": inside(w["start"]), "end": inside(w["end"])} for w in seg.get("words") or []]
        out.append({**seg, "start": inside(seg["start"]), "end": inside(seg["end"]), "words": words})
    return out


def token_cap(samples: int) -> int:
    """Most tokens to decode for a piece of ``samples`` (16 kHz): :data:`RETRY_TOKENS_PER_S` a
    second and 16 more, at most :data:`RETRY_MAX_TOKENS` (fast speech needs about 8 a second)."""
    return min(RETRY_MAX_TOKENS, int(RETRY_TOKENS_PER_S * samples / WHISPER_SAMPLE_RATE) + 16)


def speech_chunks(audio: np.ndarray, max_s: float = _CHUNK_S) -> list[tuple[int, int]]:
    """Sample ranges to transcribe: the whole clip up to 30 s, else ≤ 30 s windows split at
    voice-activity gaps (faster-whisper's bundled Silero VAD). Empty when there is no audio."""
    limit = int(max_s * WHISPER_SAMPLE_RATE)
    if len(audio) < WHISPER_SAMPLE_RATE // 10:
        return []
    if len(audio) <= limit:
        return [(0, len(audio))]
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    speech = get_speech_timestamps(audio, VadOptions(max_speech_duration_s=max_s, min_silence_duration_ms=160))
    windows: list[tuple[int, int]] = []
    for part in speech:
        start, end = int(part["start"]), int(part["end"])
        if windows and end - windows[-1][0] <= limit:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, min(end, start + limit)))
    return windows


class OpenAIWhisperModelHandler(ModelHandler[ClipRequest, Transcription, Any]):
    """openai-whisper for ``RunInference``: a model name or a checkpoint path, one clip at a time."""

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        download_root: str | None = None,
        temperature: float | tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("max_batch_size", 8)
        super().__init__(**kwargs)
        self.model_name = model
        self.device = device
        self.download_root = download_root
        self.temperature = temperature

    def load_model(self) -> Any:
        import whisper

        return whisper.load_model(self.model_name, device=self.device, download_root=self.download_root)

    def run_inference(
        self,
        batch: Sequence[ClipRequest],
        model: Any,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[Transcription]:
        results = []
        for request in batch:
            language = request.language if request.language not in (None, "und") else None
            if not model.is_multilingual:
                language = "en"
            detected, probability = language is None, None
            if request.duration_s < 0.1:
                results.append(_summarise(request.key, [], request.duration_s, language, None, detected))
                continue
            if detected:
                language, probability = self._detect(request.audio, model)
            out = model.transcribe(
                request.audio.astype(np.float32),
                language=language,
                word_timestamps=True,
                condition_on_previous_text=False,
                fp16=self.device.startswith("cuda"),
                temperature=self.temperature,
                verbose=None,
            )
            results.append(
                _summarise(
                    request.key,
                    out["segments"],
                    request.duration_s,
                    language,
                    probability,
                    detected,
                )
            )
        return results

    @staticmethod
    def _detect(audio: np.ndarray, model: Any) -> tuple[str, float]:
        import whisper

        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio.astype(np.float32)), model.dims.n_mels)
        _, probs = model.detect_language(mel.to(model.device))
        language = max(probs, key=probs.get)
        return language, float(probs[language])

    def get_metrics_namespace(self) -> str:
        return "SegmentWhisper"

    def get_num_bytes(self, batch: Sequence[ClipRequest]) -> int:
        return sum(request.audio.nbytes for request in batch)
