"""Long-form recordings (podcasts, audiobooks, lectures: 20 min to 3 h): VAD windows, then batched ASR.

A long recording is never handed to Whisper whole:

1. it is never held whole: the decode stage carries it on disk (:class:`transforms.spooled.SpooledAudio`,
   past ``DecodeStage.spill_after_s``), :class:`At16k` reads and resamples to 16 kHz just the slice
   asked for (a VAD piece, a window, a block of the pause search), and the segments cut from it are
   lazy views of the file;
2. voice activity (faster-whisper's bundled Silero VAD) is found piece by piece (2 min at a
   time, so the VAD's own buffers stay small) and the speech regions are grouped into windows of
   at most ``max_window_s`` (25 s) whose edges lie in the pauses between regions: no word
   straddles two windows, so none is heard twice or lost at an edge (a region longer than a
   window, speech without any pause, is split at its quietest 20 ms). A pause of about a second
   or more always ends a window (batched Whisper stops at such a pause and drops what follows),
   and windows hold little silence beyond the VAD's own padding (see :func:`windows`);
3. the windows go to the Whisper handler ``group`` (8) at a time (one packed batched call each), so
   the packed audio and the features held at once are bounded by ``group × max_window_s``;
4. each window's words are shifted by the window's start: times are absolute in the recording;
   each window's check against voice activity (:mod:`transforms.segment.recovery`) is summed
   into the recording's (VAD speech seconds, chunks decoded again).

The result is one :class:`Transcription` for the whole recording; the segment stage then makes
its pause-aware cut (``transforms/segment/cut.py``) from these words as for any long item.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import soxr

from schemas import SAMPLE_RATE, WordAlignment
from transforms.segment.clips import ClipRequest, Transcription
from transforms.spooled import SpooledAudio

WHISPER_SAMPLE_RATE = 16_000

LONGFORM_S = 20 * 60.0
"""Items at least this long take the long-form path."""
MAX_WORD_S = 3.0
"""Longer word timings are Whisper stretching a word over the silence after it: clipped, so the cut
can still fall in that silence."""
MAX_PAUSE_S = 0.8
"""A pause this long between speech regions (about 1 s of silence: the VAD pads regions) always
ends a window. Batched Whisper (no timestamps) given a window that goes on past such a pause often
stops there: it wrote the sentence before the pause and dropped everything after it (whole
paragraphs of the 2-h recording: WER 0.30 against 0.144 for the same paragraphs as short items)."""
_RESAMPLE_BLOCK = 1 << 20
_VAD_PIECE_S = 120.0
_FRAME = WHISPER_SAMPLE_RATE // 50  # 20 ms


def to_16k(audio: np.ndarray) -> np.ndarray:
    """48 kHz -> 16 kHz in blocks, into one preallocated array (same soxr HQ filter as one-shot)."""
    out = np.empty(len(audio) // 3 + 64, dtype=np.float32)
    stream = soxr.ResampleStream(SAMPLE_RATE, WHISPER_SAMPLE_RATE, 1, dtype="float32", quality="HQ")
    filled = 0
    for start in range(0, len(audio), _RESAMPLE_BLOCK):
        block = np.asarray(audio[start : start + _RESAMPLE_BLOCK], dtype=np.float32)
        last = start + _RESAMPLE_BLOCK >= len(audio)
        chunk = stream.resample_chunk(block, last=last)
        out[filled : filled + len(chunk)] = chunk[: len(out) - filled]
        filled += len(chunk)
    return out[: min(filled, len(out))]


class At16k:
    """A 48 kHz recording seen at 16 kHz: ``len`` and slices, each slice read and resampled when asked for."""

    def __init__(self, audio48: np.ndarray | SpooledAudio) -> None:
        self.audio48 = audio48

    def __len__(self) -> int:
        return len(self.audio48) // 3

    def __getitem__(self, span: slice) -> np.ndarray:
        start, stop, _ = span.indices(len(self))
        piece = np.asarray(self.audio48[3 * start : 3 * stop], dtype=np.float32)
        out = soxr.resample(piece, SAMPLE_RATE, WHISPER_SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)
        return out[: stop - start]


def speech_regions(audio16: np.ndarray | At16k, piece_s: float = _VAD_PIECE_S) -> list[tuple[int, int]]:
    """Speech (start, end) in samples, found ``piece_s`` at a time and joined across piece edges."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=160, speech_pad_ms=100)
    piece = int(piece_s * WHISPER_SAMPLE_RATE)
    regions: list[tuple[int, int]] = []
    for offset in range(0, len(audio16), piece):
        for part in get_speech_timestamps(audio16[offset : offset + piece], options):
            start, end = offset + int(part["start"]), offset + int(part["end"])
            if regions and start - regions[-1][1] <= _FRAME:  # one region cut by a piece edge
                regions[-1] = (regions[-1][0], end)
            else:
                regions.append((start, end))
    return regions


def _quietest_split(audio16: np.ndarray | At16k, start: int, end: int, limit: int) -> int:
    """Where to split a region longer than a window: its quietest 20 ms in the window's last third."""
    lo, hi = start + 2 * limit // 3, min(end, start + limit) - _FRAME
    if hi <= lo:
        return start + limit
    frames = audio16[lo:hi][: (hi - lo) // _FRAME * _FRAME].reshape(-1, _FRAME)
    return lo + int(np.argmin((frames.astype(np.float64) ** 2).sum(axis=1))) * _FRAME + _FRAME // 2


def windows(
    audio16: np.ndarray | At16k,
    regions: list[tuple[int, int]],
    max_window_s: float = 25.0,
    max_pause_s: float = MAX_PAUSE_S,
    pad_s: float = 0.0,
) -> list[tuple[int, int]]:
    """Windows of at most ``max_window_s`` covering every region; a pause between regions of
    ``max_pause_s`` or more is always an edge. A window reaches ``pad_s`` (never past half way) into
    the pauses at its edges: the regions carry the VAD's 100 ms of padding already, and more silence
    does not help Whisper (``bench/decode.py`` compares the paddings, and the long-form words with
    short items cut from the same recording)."""
    limit = int(max_window_s * WHISPER_SAMPLE_RATE)
    gap = int(max_pause_s * WHISPER_SAMPLE_RATE)
    pieces: list[tuple[int, int]] = []
    for start, end in regions:
        while end - start > limit:
            cut = _quietest_split(audio16, start, end, limit)
            pieces.append((start, cut))
            start = cut
        pieces.append((start, end))
    grouped: list[list[int]] = []
    for start, end in pieces:
        if grouped and end - grouped[-1][0] <= limit and start - grouped[-1][1] < gap:
            grouped[-1][1] = end
        else:
            grouped.append([start, end])
    out: list[tuple[int, int]] = []
    for i, (start, end) in enumerate(grouped):
        lo = 0 if i == 0 else (grouped[i - 1][1] + start) // 2
        hi = len(audio16) if i == len(grouped) - 1 else (end + grouped[i + 1][0]) // 2
        slack = min(limit - (end - start), 2 * int(pad_s * WHISPER_SAMPLE_RATE))  # shared by its two pauses
        out.append((max(lo, start - slack // 2), min(hi, end + slack // 2)))
    return out


def transcribe_long(
    handler: Any,
    model: Any,
    key: str,
    audio48: np.ndarray | SpooledAudio,
    language: str | None = None,
    max_window_s: float = 25.0,
    group: int = 8,
) -> Transcription:
    """One transcription of a long recording, its words in absolute time (see the module docstring)."""
    audio16 = At16k(audio48)
    spans = windows(audio16, speech_regions(audio16), max_window_s)
    words: list[WordAlignment] = []
    texts: list[str] = []
    weights: list[float] = []
    figures: list[tuple[float, float]] = []
    checked: dict[str, Any] = {"vad_speech_s": 0.0}
    detected: tuple[str | None, float | None, bool] = (language, None, False)
    for first in range(0, len(spans), group):
        batch = spans[first : first + group]
        requests = [ClipRequest(f"{key}@{start}", audio16[start:end], detected[0]) for start, end in batch]
        for (start, end), t in zip(batch, handler.run_inference(requests, model)):
            if detected[0] is None and t.language:  # the first window's language holds for the rest
                detected = (t.language, t.language_probability, t.language_detected)
            offset = start / WHISPER_SAMPLE_RATE
            words += [
                dataclasses.replace(w, start_s=round(w.start_s + offset, 3), duration_s=min(w.duration_s, MAX_WORD_S))
                for w in t.words
            ]
            if t.text.strip():
                texts.append(t.text.strip())
            weights.append((end - start) / WHISPER_SAMPLE_RATE)
            figures.append((t.no_speech_prob, t.avg_logprob, t.compression_ratio))
            _add_check(checked, t.extra)
    text = " ".join(texts)
    # per-window figures, weighted by window length: the whole text of an hour compresses far
    # better than any 30 s of it, so Whisper's repetition test only means something per window
    no_speech, logprob, ratio = np.average(np.array(figures), axis=0, weights=weights) if figures else (1.0, 0.0, 0.0)
    return Transcription(
        key=key,
        text=text,
        words=tuple(words),
        language=detected[0],
        language_probability=detected[1],
        language_detected=detected[2],
        no_speech_prob=float(no_speech),
        avg_logprob=float(logprob),
        compression_ratio=float(ratio),
        duration_s=len(audio16) / WHISPER_SAMPLE_RATE,
        extra={"longform_windows": len(spans), **checked, "vad_speech_s": round(checked["vad_speech_s"], 2)},
    )


def _add_check(total: dict[str, Any], extra: dict[str, Any]) -> None:
    """Fold one window's voice-activity check (transforms/segment/recovery.py) into the recording's."""
    total["vad_speech_s"] += extra.get("vad_speech_s", 0.0)
    if extra.get("asr_retries"):
        retries = total.setdefault("asr_retries", {})
        for reason, count in extra["asr_retries"].items():
            retries[reason] = retries.get(reason, 0) + count
        tried = total.setdefault("asr_tried", [])
        tried += [name for name in extra.get("asr_tried", []) if name not in tried]
        total["asr_unrecovered"] = total.get("asr_unrecovered", 0) + extra.get("asr_unrecovered", 0)
