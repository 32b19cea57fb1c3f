"""Failed Whisper decodes, caught against voice activity and decoded again (paper §III-A1).

Batched Whisper decodes each chunk once, greedily, without Whisper's temperature fallback. On a
clip cut through a word (what most web clips are: fixed windows cut through speech) it sometimes
gives up at once: one word for 30 s of speech, avg_logprob near -2.5, a no-speech figure that
looks like silence. So every decoded chunk is checked against the voice activity (faster-whisper's
bundled Silero VAD, as :func:`transforms.segment.longform.speech_regions`) heard in it, and fails
the check (:func:`decode_failure`) with

- ``no_words``: not one word where the VAD hears speech;
- ``low_word_rate``: fewer than :data:`MIN_WORDS_PER_SPEECH_S` words per second of VAD speech
  (speech runs at 2 to 4 words a second);
- ``low_coverage``: the words' spans, each widened by :data:`COVER_PAD_S`, cover less than
  :data:`MIN_COVERAGE` of the VAD speech (a decode that stopped part way);
- ``unheard_speech``: a stretch of :data:`MAX_UNHEARD_S` or more of VAD speech lies outside every
  widened word span (a decode that skipped the words before its first, often a sentence's end
  cut through at the clip's start, or stopped before the last);
- ``repetition``: compression ratio over 2.4, Whisper's own threshold for decoding again at a
  higher temperature;
- ``low_logprob``: avg_logprob under :data:`MIN_AVG_LOGPROB` (-1.5), half a nat below Whisper's
  own -1.0: a greedy decode that gave up scores -2 to -3, while a model that is merely weak in a
  language (Whisper base on French) sits between -1.5 and -1.0 on many clips, where decoding
  again seldom changed the words (``bench/segment.py web``).

A chunk with less than :data:`MIN_CHECKED_SPEECH_S` of VAD speech is not checked: a silent clip
costs no retry. A failed chunk is split at the pauses the VAD finds into windows of at most
:data:`RETRY_WINDOW_S` (:func:`transforms.segment.longform.windows`, reaching a little into the
pauses at their edges), and each window's share of the first decode (the words whose midpoint lies
in it) is checked alone: a window that passes keeps those words, and only the failing windows are
decoded again (all of them when none fails alone: the chunk failed as a whole). A decode that
skipped a sentence cut through at the clip's start costs one window, not the whole chunk again.
The failing windows go through up to three rounds, each for what still fails:

1. ``vad_windows``: the failing windows of every failed chunk of the batch in one packed decode
   (skipped for a chunk that is one window: the same decode would fail the same way);
2. ``sequential``: each window still failing decoded alone with timestamps and Whisper's
   temperature fallback (sampling seeded from the audio: the same audio gives the same words);
3. ``no_repeat``: each window still failing decoded once more, greedily, without repeating a
   word trigram (a decode caught in a loop, "très très très ...", at every temperature).

A retry's tokens are capped by its window's length (:data:`RETRY_TOKENS_PER_S`), and so are the
first decode's, packed per length class (``transforms.segment.whisper.token_cap``): a decode caught
in a loop stops early instead of at Whisper's 448 tokens.

Words that pass the check replace the chunk's. When no retry passes, the attempt with the most
words (repetitions aside) is kept, and the clip's record says what was tried and how much speech
the VAD heard, so the segment stage's rejection can say so (and count an item rejected for lack
of text while the VAD heard :data:`ANOMALY_SPEECH_S` or more as an anomaly).
"""

from __future__ import annotations

import re
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from apache_beam.metrics import Metrics

from transforms.segment.longform import speech_regions, windows

WHISPER_SAMPLE_RATE = 16_000
METRICS_NAMESPACE = "clara_segment"
MIN_CHECKED_SPEECH_S = 1.0
"""Chunks with less VAD speech than this are not checked (a word or two is a fine transcript)."""
MIN_WORDS_PER_SPEECH_S = 0.5
MIN_COVERAGE = 0.5
COVER_PAD_S = 0.5
MAX_UNHEARD_S = 2.0
MAX_COMPRESSION_RATIO = 2.4
MIN_AVG_LOGPROB = -1.5
RETRY_WINDOW_S = 15.0
RETRY_TOKENS_PER_S = 12
"""A decode (first or retry) stops after this many tokens per second of its piece, 16 more (fast
speech needs about 8 with timestamps): a decode caught in a loop ends early instead of at
Whisper's 448. On the French 10-s web windows this cut the first decodes' CPU by about 12 % and
their WER from 98 to 79 % (loops cut short); English and German words were the same."""
RETRY_MAX_TOKENS = 400
RETRY_PAD_S = 0.2
ANOMALY_SPEECH_S = 2.0
"""An item rejected for lack of text while the VAD heard this much speech is an anomaly."""
LACK_OF_TEXT = ("no_speech", "text_without_speech")
TEMPERATURES = (0.0, 0.4, 0.8)
"""Whisper's temperature fallback, in three steps instead of its six: a window still failing at 0.8
was never heard at 1.0 on the bench, and each step is a whole decode."""

Decode = Callable[[list[np.ndarray]], list[list[dict[str, Any]]]]
"""Audio pieces (16 kHz) in, per piece its segments (dicts: text, start, end, avg_logprob,
no_speech_prob, words of word/start/end) in the piece's own time out."""

_SEED_LOCK = threading.Lock()


@dataclass
class ClipReport:
    """What the check and the retries did for one clip."""

    vad_speech_s: float = 0.0
    retries: Counter = field(default_factory=Counter)
    tried: list[str] = field(default_factory=list)
    unrecovered: int = 0
    windows_kept: int = 0
    """Windows of failed chunks whose first-decode words passed the check alone and were kept."""

    def extra(self) -> dict[str, Any]:
        out: dict[str, Any] = {"vad_speech_s": round(self.vad_speech_s, 2)}
        if self.retries:
            out.update(asr_retries=dict(sorted(self.retries.items())), asr_tried=list(self.tried))
            out["asr_unrecovered"] = self.unrecovered
            if self.windows_kept:
                out["asr_windows_kept"] = self.windows_kept
        return out


@dataclass
class _Piece:
    clip: int
    start: int
    end: int
    segments: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None


def shift_segments(segments: list[dict[str, Any]], offset_s: float) -> list[dict[str, Any]]:
    """The same segments with their times (and their words') moved by ``offset_s``."""
    out = []
    for seg in segments:
        words = [{**w, "start": w["start"] + offset_s, "end": w["end"] + offset_s} for w in seg.get("words") or []]
        out.append({**seg, "start": seg["start"] + offset_s, "end": seg["end"] + offset_s, "words": words})
    return out


def segment_dict(segment: Any, offset_s: float = 0.0) -> dict[str, Any]:
    """A faster-whisper ``Segment`` as the plain dict this module works on, its times minus ``offset_s``."""
    words = [{"word": w.word, "start": w.start - offset_s, "end": w.end - offset_s} for w in segment.words or []]
    return {
        "text": segment.text,
        "start": segment.start - offset_s,
        "end": segment.end - offset_s,
        "no_speech_prob": segment.no_speech_prob,
        "avg_logprob": segment.avg_logprob,
        "words": words,
    }


def _overlap_s(regions: list[tuple[int, int]], start: int, end: int) -> float:
    return sum(max(0, min(b, end) - max(a, start)) for a, b in regions) / WHISPER_SAMPLE_RATE


def decode_failure(segments: list[dict[str, Any]], regions: list[tuple[int, int]], start: int, end: int) -> str | None:
    """Why the decode of samples ``start..end`` of a clip is not to be trusted (see the module
    docstring), or None. ``segments`` and ``regions`` are in the clip's time (seconds, samples)."""
    speech_s = _overlap_s(regions, start, end)
    if speech_s < MIN_CHECKED_SPEECH_S:
        return None
    words = [w for seg in segments for w in seg.get("words") or [] if str(w["word"]).strip()]
    if not words:
        return "no_words"
    if len(words) / speech_s < MIN_WORDS_PER_SPEECH_S:
        return "low_word_rate"
    coverage, unheard_s = _coverage(words, regions, start, end)
    if coverage < MIN_COVERAGE:
        return "low_coverage"
    if unheard_s >= MAX_UNHEARD_S:
        return "unheard_speech"
    text = " ".join(str(seg.get("text") or "").strip() for seg in segments).encode("utf-8")
    if text and len(text) / len(zlib.compress(text)) > MAX_COMPRESSION_RATIO:
        return "repetition"
    lengths = [max(1e-3, seg["end"] - seg["start"]) for seg in segments]
    if np.average([float(seg.get("avg_logprob") or 0.0) for seg in segments], weights=lengths) < MIN_AVG_LOGPROB:
        return "low_logprob"
    return None


def _coverage(words: list[dict[str, Any]], regions: list[tuple[int, int]], start: int, end: int) -> tuple[float, float]:
    """Share of the VAD speech in ``start..end`` that lies within some word's widened span, and the
    longest stretch of that speech outside every such span in seconds (10 ms frames)."""
    frame = WHISPER_SAMPLE_RATE // 100
    n = max(1, (end - start) // frame)
    speech = np.zeros(n, dtype=bool)
    for a, b in regions:
        speech[max(0, (a - start) // frame) : max(0, (b - start) // frame)] = True
    heard = np.zeros(n, dtype=bool)
    for w in words:
        a = int((w["start"] - COVER_PAD_S) * 100) - start // frame
        b = int((w["end"] + COVER_PAD_S) * 100) - start // frame
        heard[max(0, a) : max(0, b)] = True
    total = int(speech.sum())
    if not total:
        return 1.0, 0.0
    unheard = np.concatenate([[0], (speech & ~heard).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(unheard))
    longest = int((edges[1::2] - edges[::2]).max(initial=0))
    return float((speech & heard).sum()) / total, longest / 100


def _word_count(segments: list[dict[str, Any]]) -> int:
    return sum(1 for seg in segments for w in seg.get("words") or [] if str(w["word"]).strip())


def _score(segments: list[dict[str, Any]]) -> int:
    """Words of an attempt that failed the check; a repetitive one counts for nothing."""
    text = " ".join(str(seg.get("text") or "").strip() for seg in segments).encode("utf-8")
    if text and len(text) / len(zlib.compress(text)) > MAX_COMPRESSION_RATIO:
        return 0
    return _word_count(segments)


def seeded(decode: Decode) -> Decode:
    """``decode`` with CTranslate2's sampling seeded from each piece's samples, one call at a time
    in the process (the seed is global to CTranslate2), so sampled retries are reproducible."""

    def run(pieces: list[np.ndarray]) -> list[list[dict[str, Any]]]:
        import ctranslate2

        out = []
        for piece in pieces:
            with _SEED_LOCK:
                ctranslate2.set_random_seed(zlib.crc32(np.ascontiguousarray(piece, dtype=np.float32).tobytes()))
                out.extend(decode([piece]))
        return out

    return run


def transcribe_checked(
    clips: list[np.ndarray],
    units: list[tuple[int, int, int]],
    first: Decode,
    rounds: list[tuple[str, Decode]],
    alone: tuple[Callable[[int], bool], Decode] | None = None,
) -> tuple[list[list[dict[str, Any]]], list[ClipReport]]:
    """Decode ``units`` ((clip, start, end) sample spans of ``clips``) with ``first``, check each
    against the clips' voice activity and decode the failed ones again through ``rounds`` (see the
    module docstring). ``alone``: (whether ``first`` decoded unit i in a window it shared with
    other units, the decode of units each in a window of its own); a shared unit that fails the
    check is first decoded alone, as it would have been without sharing, and only then, if it still
    fails, counted as a retry. Returns per clip its segments in clip time, and its :class:`ClipReport`."""
    regions = [speech_regions(clip) if len(clip) >= WHISPER_SAMPLE_RATE // 10 else [] for clip in clips]
    reports = [ClipReport(vad_speech_s=_overlap_s(r, 0, len(c))) for r, c in zip(regions, clips)]
    pieces = [_Piece(c, s, e) for c, s, e in units]
    started = time.perf_counter()
    _decode_into(pieces, clips, first)
    Metrics.counter(METRICS_NAMESPACE, "asr_first_decode_ms").inc(int(1000 * (time.perf_counter() - started)))
    if alone is not None:
        was_shared, decode_alone = alone
        again = [
            piece
            for i, piece in enumerate(pieces)
            if was_shared(i) and decode_failure(piece.segments, regions[piece.clip], piece.start, piece.end)
        ]
        if again:
            started = time.perf_counter()
            _decode_into(again, clips, decode_alone)
            Metrics.counter(METRICS_NAMESPACE, "asr_shared_alone").inc(len(again))
            Metrics.counter(METRICS_NAMESPACE, "asr_shared_alone_ms").inc(int(1000 * (time.perf_counter() - started)))
    finals: list[_Piece] = []
    failed: list[_Piece] = []
    for piece in pieces:
        piece.reason = decode_failure(piece.segments, regions[piece.clip], piece.start, piece.end)
        if piece.reason is None:
            finals.append(piece)
            continue
        failed.append(piece)
        reports[piece.clip].retries[piece.reason] += 1
        Metrics.counter(METRICS_NAMESPACE, f"asr_retry/{piece.reason}").inc()
    if failed:
        started = time.perf_counter()
        finals += _recover_all(failed, clips, regions, rounds, reports)
        Metrics.counter(METRICS_NAMESPACE, "asr_retry_ms").inc(int(1000 * (time.perf_counter() - started)))
    out: list[list[dict[str, Any]]] = [[] for _ in clips]
    for piece in sorted(finals, key=lambda p: (p.clip, p.start)):
        out[piece.clip].extend(piece.segments)
    return out, reports


def _decode_into(pieces: list[_Piece], clips: list[np.ndarray], decode: Decode) -> None:
    if not pieces:
        return
    found = decode([clips[p.clip][p.start : p.end] for p in pieces])
    for piece, segments in zip(pieces, found):
        piece.segments = shift_segments(segments, piece.start / WHISPER_SAMPLE_RATE)


def words_within(segments: list[dict[str, Any]], start_s: float, end_s: float) -> list[dict[str, Any]]:
    """The segments' words whose midpoint lies in ``start_s..end_s``, as segments of those words only."""
    out = []
    for seg in segments:
        words = [w for w in seg.get("words") or [] if start_s <= (w["start"] + w["end"]) / 2 < end_s]
        if words:
            text = "".join(str(w["word"]) for w in words)
            out.append({**seg, "text": text, "start": words[0]["start"], "end": words[-1]["end"], "words": words})
    return out


def _failing_windows(piece: _Piece, parts: list[_Piece], regions: list[tuple[int, int]]) -> list[_Piece]:
    """The windows of a failed chunk whose own share of the first decode fails the check: only those
    are decoded again, the others keep the first decode's words. A decode that skipped the words
    before its first (a sentence cut through at the clip's start) costs one window, not the chunk.
    When no window fails on its own (a failure of the chunk as a whole), all of them are retried."""
    if len(parts) == 1:
        return list(parts)
    failing = []
    for part in parts:
        part.segments = words_within(piece.segments, part.start / WHISPER_SAMPLE_RATE, part.end / WHISPER_SAMPLE_RATE)
        if decode_failure(part.segments, regions, part.start, part.end) is not None:
            failing.append(part)
    return failing or list(parts)


def _retry_windows(piece: _Piece, clip: np.ndarray, regions: list[tuple[int, int]]) -> list[_Piece]:
    inside = [(max(a, piece.start) - piece.start, min(b, piece.end) - piece.start) for a, b in regions]
    inside = [(a, b) for a, b in inside if b > a]
    spans = windows(clip[piece.start : piece.end], inside, RETRY_WINDOW_S, pad_s=RETRY_PAD_S) if inside else []
    return [_Piece(piece.clip, piece.start + a, piece.start + b) for a, b in spans]


@dataclass
class _Retry:
    """One failed chunk being decoded again: its windows, those still failing, each one's best attempt."""

    piece: _Piece
    parts: list[_Piece]
    failing: list[_Piece]
    best: dict[int, list[dict[str, Any]]]
    whole: bool
    """One window that is the chunk again: the same greedy decode would fail the same way."""


def _recover_all(
    failed: list[_Piece],
    clips: list[np.ndarray],
    regions: list[list[tuple[int, int]]],
    rounds: list[tuple[str, Decode]],
    reports: list[ClipReport],
) -> list[_Piece]:
    """The failed chunks decoded again: the windows of all of them through each round in turn,
    one decode call per round; what comes back is each chunk's final pieces."""
    retries = []
    for piece in failed:
        parts = _retry_windows(piece, clips[piece.clip], regions[piece.clip]) or [
            _Piece(piece.clip, piece.start, piece.end)
        ]
        whole = len(parts) == 1 and parts[0].end - parts[0].start >= 0.9 * (piece.end - piece.start)
        failing = _failing_windows(piece, parts, regions[piece.clip])
        retries.append(_Retry(piece, parts, failing, {id(p): p.segments for p in failing}, whole))
        reports[piece.clip].windows_kept += len(parts) - len(failing)
        Metrics.counter(METRICS_NAMESPACE, "asr_retry_windows").inc(len(failing))
        Metrics.counter(METRICS_NAMESPACE, "asr_retry_windows_kept").inc(len(parts) - len(failing))
    for name, decode in rounds:
        active = [r for r in retries if r.failing and not (r.whole and name == "vad_windows")]
        started = time.perf_counter()
        _decode_into([part for r in active for part in r.failing], clips, decode)
        Metrics.counter(METRICS_NAMESPACE, f"asr_retry_ms/{name}").inc(int(1000 * (time.perf_counter() - started)))
        for r in active:
            if name not in reports[r.piece.clip].tried:
                reports[r.piece.clip].tried.append(name)
            still = []
            for part in r.failing:
                part.reason = decode_failure(part.segments, regions[part.clip], part.start, part.end)
                if part.reason is not None:
                    if _score(part.segments) > _score(r.best[id(part)]):
                        r.best[id(part)] = part.segments
                    still.append(part)
            r.failing = still
            if not still:
                Metrics.counter(METRICS_NAMESPACE, f"asr_recovered/{name}").inc()
    out: list[_Piece] = []
    for r in retries:
        if not r.failing:
            out += r.parts
            continue
        Metrics.counter(METRICS_NAMESPACE, "asr_unrecovered").inc()
        reports[r.piece.clip].unrecovered += 1
        for part in r.failing:
            part.segments = r.best[id(part)]
        if sum(_score(p.segments) for p in r.parts) > _score(r.piece.segments):
            out += r.parts
        else:
            out.append(r.piece)  # nothing better: the first decode stands, and the stage judges it
    return out


def speech_anomaly(reason: str | None, vad_speech_s: float | None) -> bool:
    """An item rejected for lack of text although the VAD heard at least :data:`ANOMALY_SPEECH_S`."""
    return reason in LACK_OF_TEXT and vad_speech_s is not None and vad_speech_s >= ANOMALY_SPEECH_S


def anomalous_sample(original_data: dict[str, Any]) -> bool:
    """A written sample (its ``original_data``) whose transcript was rejected for lack of text
    although the VAD heard speech: see :func:`speech_anomaly`."""
    record = original_data.get("segmentation")
    if not isinstance(record, dict):
        return False
    return speech_anomaly(record.get("transcript_rejected"), _number(record.get("vad_speech_s")))


def anomalous_failure(stage: str, reason: str, detail: str) -> bool:
    """A segment failure for lack of text whose detail says the VAD heard speech: see :func:`speech_anomaly`."""
    found = re.search(r"\bvad_speech_s=([0-9.]+)", detail or "")
    return stage == "segment" and found is not None and speech_anomaly(reason, _number(found.group(1)))


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def summary_lines(metrics: dict[str, int]) -> list[str]:
    """Run-summary lines from counter totals keyed ``namespace/name``: the chunks decoded again,
    by the reason their first decode failed, how they ended, and the lack-of-text anomalies."""
    prefix = f"{METRICS_NAMESPACE}/"
    ours = {k[len(prefix) :]: v for k, v in metrics.items() if k.startswith(prefix) and v}
    retries = {k.split("/", 1)[1]: v for k, v in ours.items() if k.startswith("asr_retry/")}
    recovered = {k.split("/", 1)[1]: v for k, v in ours.items() if k.startswith("asr_recovered/")}
    lines = []
    if retries:
        lines.append(f"  ASR retries      {sum(retries.values())} chunks decoded again after a failed decode")
        lines += [f"    first decode: {r:16s} {n}" for r, n in sorted(retries.items(), key=lambda kv: -kv[1])]
        lines += [f"    recovered by: {r:16s} {n}" for r, n in sorted(recovered.items())]
        lines.append(f"    unrecovered:  {'':16s} {ours.get('asr_unrecovered', 0)}")
        windows, kept = ours.get("asr_retry_windows", 0), ours.get("asr_retry_windows_kept", 0)
        if windows or kept:
            lines.append(f"    windows:      {windows} decoded again, {kept} kept from the first decode")
        first_s, retry_s = ours.get("asr_first_decode_ms", 0) / 1000, ours.get("asr_retry_ms", 0) / 1000
        rounds = {k.split("/", 1)[1]: v / 1000 for k, v in ours.items() if k.startswith("asr_retry_ms/")}
        by_round = ", ".join(f"{name} {s:.1f} s" for name, s in rounds.items())
        lines.append(
            f"    time:         {retry_s:.1f} s decoding again{f' ({by_round})' if by_round else ''}, "
            f"{first_s:.1f} s first decodes (worker time)"
        )
    alone = ours.get("asr_shared_alone", 0)
    if alone:
        lines.append(
            f"  ASR shared       {alone} clips decoded alone after their shared window failed them "
            f"({ours.get('asr_shared_alone_ms', 0) / 1000:.1f} s, worker time)"
        )
    anomalies = ours.get("no_speech_with_vad_speech", 0)
    if anomalies:
        lines.append(
            f"  ASR anomalies    {anomalies} items rejected for lack of text with >= {ANOMALY_SPEECH_S:g} s of VAD speech"
        )
    return lines
