"""Where to cut long speech: segments of at most ``max_seconds``, cut in pauses between words.

Paper §III-A1 / Fig. 1a: audio over 10 s is truncated into meaningful pieces ``a_n, t_n``
using word timings from a forced aligner (MFA) or an ASR model (Whisper). This module is the
pure part: given word timings (and, when available, the audio) it

1. measures the pause at every word boundary from the audio's energy, so a cut lands in the
   quietest stretch between two words even when the aligner's word edges are a little off
   (Whisper's word ends often touch the next word's start);
2. chooses the boundaries with a dynamic programme: every segment's words span at most
   ``max_seconds``; each segment costs 1, each cut earns its pause length (capped) plus a bonus
   after sentence punctuation, segments under ``min_seconds`` are penalised. So the plan uses
   few segments and cuts at the longest pauses, never inside a word; a ``forced`` boundary (a
   change of speaker, :mod:`transforms.diarize`) is always cut, whatever it costs;
3. builds :class:`~schemas.Segment` records with their transcript and word timings relative to
   the segment start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from schemas import Segment, WordAlignment

FRAME_S = 0.01
"""Energy frame for pause detection (10 ms)."""
EDGE_PAD_S = 0.25
"""Silence kept before a segment's first and after its last word when a pause is longer."""
SAFETY_S = 0.3
"""Segments whose words span more than ``max_seconds - SAFETY_S`` are avoided when possible."""
_PAUSE_CAP_S = 1.0
_SENTENCE_END = (".", "!", "?", "。", "！", "？", "…")
_CLAUSE_END = (",", ";", ":", "，", "、")
_SHORT_PENALTY = 10.0


class UnsplittableError(ValueError):
    """A single word is longer than the segment limit: no cut between words can satisfy it."""


@dataclass(frozen=True)
class Pause:
    """The quiet stretch found at the boundary between word ``k`` and word ``k + 1``."""

    quiet_start_s: float
    quiet_end_s: float

    @property
    def cut_s(self) -> float:
        return (self.quiet_start_s + self.quiet_end_s) / 2

    @property
    def length_s(self) -> float:
        return self.quiet_end_s - self.quiet_start_s


@dataclass(frozen=True)
class PlannedSegment:
    """A segment of the source: its time span and its words ``first_word..last_word`` (inclusive)."""

    start_s: float
    end_s: float
    first_word: int
    last_word: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


_RMS_BLOCK = 1 << 20
"""Samples per block in :func:`frame_rms` (each frame's figure does not depend on the block)."""


def frame_rms(audio: np.ndarray, sample_rate: int, frame_s: float = FRAME_S) -> np.ndarray:
    """Root-mean-square energy of consecutive frames of ``frame_s`` seconds."""
    frame = max(1, int(round(sample_rate * frame_s)))
    n = len(audio) // frame
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    rms = np.empty(n, dtype=np.float32)
    step = max(1, _RMS_BLOCK // frame)  # a block of frames at a time: no squared copy of a long recording
    for first in range(0, n, step):
        last = min(n, first + step)
        frames = np.asarray(audio[first * frame : last * frame], dtype=np.float32).reshape(last - first, frame)
        rms[first:last] = np.sqrt(np.mean(frames * frames, axis=1))
    return rms


def quiet_threshold(rms: np.ndarray) -> float:
    """An energy level below which a frame counts as a pause, relative to the speech level."""
    if len(rms) == 0:
        return 0.0
    loud = float(np.percentile(rms, 95))
    floor = float(np.percentile(rms, 5))
    return max(1e-4, min(0.2 * loud, max(0.03 * loud, 2.0 * floor)))


def find_pauses(
    words: tuple[WordAlignment, ...] | list[WordAlignment],
    audio: np.ndarray | None = None,
    sample_rate: int = 16_000,
    search_s: float = 0.3,
) -> list[Pause]:
    """The pause at each of the ``len(words) - 1`` word boundaries.

    Without audio, the pause is the gap between the aligner's word edges. With audio, it is
    the longest run of quiet frames in a window around that gap (limited to the two words'
    midpoints); when no frame is quiet, the single quietest frame.
    """
    words = list(words)
    if audio is None or len(audio) == 0:
        return [_gap_pause(a, b) for a, b in zip(words, words[1:])]
    rms = frame_rms(audio, sample_rate)
    threshold = quiet_threshold(rms)
    pauses = []
    for a, b in zip(words, words[1:]):
        mid_a, mid_b = a.start_s + a.duration_s / 2, b.start_s + b.duration_s / 2
        lo, hi = max(mid_a, a.end_s - search_s), min(mid_b, b.start_s + search_s)
        if hi <= lo:
            lo, hi = min(mid_a, mid_b), max(mid_a, mid_b)
        pauses.append(_quietest_run(rms, threshold, lo, hi) or _gap_pause(a, b))
    return pauses


def _gap_pause(a: WordAlignment, b: WordAlignment) -> Pause:
    if b.start_s >= a.end_s:
        return Pause(a.end_s, b.start_s)
    middle = (a.end_s + b.start_s) / 2
    return Pause(middle, middle)


def _quietest_run(rms: np.ndarray, threshold: float, lo_s: float, hi_s: float) -> Pause | None:
    lo, hi = max(0, int(lo_s / FRAME_S)), min(len(rms), int(np.ceil(hi_s / FRAME_S)))
    if hi <= lo:
        return None
    window = rms[lo:hi]
    quiet = window <= threshold
    if not quiet.any():
        i = lo + int(np.argmin(window))
        return Pause((i + 0.5) * FRAME_S, (i + 0.5) * FRAME_S)
    best_start, best_len, run_start = 0, 0, None
    for i, q in enumerate(np.append(quiet, False)):
        if q and run_start is None:
            run_start = i
        elif not q and run_start is not None:
            if i - run_start > best_len:
                best_start, best_len = run_start, i - run_start
            run_start = None
    return Pause((lo + best_start) * FRAME_S, (lo + best_start + best_len) * FRAME_S)


def _cut_score(word: WordAlignment, pause: Pause) -> float:
    text = word.word.rstrip().rstrip("\"')]»”")
    bonus = 0.5 if text.endswith(_SENTENCE_END) else 0.2 if text.endswith(_CLAUSE_END) else 0.0
    return min(pause.length_s, _PAUSE_CAP_S) + bonus


def plan_segments(
    words: tuple[WordAlignment, ...] | list[WordAlignment],
    duration_s: float,
    max_seconds: float = 10.0,
    min_seconds: float = 1.0,
    pauses: list[Pause] | None = None,
    pad_s: float = EDGE_PAD_S,
    safety_s: float = SAFETY_S,
    forced: frozenset[int] = frozenset(),
) -> list[PlannedSegment]:
    """Choose segments covering every word exactly once, each at most ``max_seconds`` long; no
    segment holds both word ``k`` and word ``k + 1`` for ``k`` in ``forced``.

    Raises :class:`UnsplittableError` when one word alone is longer than ``max_seconds``.
    """
    words = list(words)
    if not words:
        return []
    if pauses is None:
        pauses = find_pauses(words)
    if len(pauses) != len(words) - 1:
        raise ValueError("need one pause per word boundary")
    for w in words:
        if w.duration_s > max_seconds:
            raise UnsplittableError(f"word {w.word!r} lasts {w.duration_s:.2f} s > {max_seconds} s")
    starts = [_speech_start(words, pauses, i) for i in range(len(words))]
    ends = [_speech_end(words, pauses, j) for j in range(len(words))]
    n = len(words)
    best = [0.0] + [np.inf] * n  # best[b]: cost of segmenting words[:b]
    back = [0] * (n + 1)
    for j in range(1, n + 1):  # a segment ends after word j-1
        cut_reward = _cut_score(words[j - 1], pauses[j - 1]) if j < n else 0.0
        for i in range(j - 1, -1, -1):  # ... and starts at word i
            if i in forced and i < j - 1:  # it would hold a forced boundary: no segment may
                break
            core = ends[j - 1] - starts[i]
            if core > max_seconds and i < j - 1:
                break
            cost = best[i] + 1.0 - cut_reward
            if core < min_seconds:
                cost += _SHORT_PENALTY + (min_seconds - core)
            if core > max_seconds - safety_s:  # aligners' word edges err by a few 100 ms
                cost += 2.0
            if core > max_seconds:  # a lone word whose energy spills over the limit
                cost += _SHORT_PENALTY * 10
            if cost < best[j]:
                best[j], back[j] = cost, i
    bounds = []
    j = n
    while j > 0:
        bounds.append((back[j], j - 1))
        j = back[j]
    bounds.reverse()
    return [_span(words, pauses, i, j, duration_s, max_seconds, pad_s) for i, j in bounds]


def _speech_start(words: list[WordAlignment], pauses: list[Pause], i: int) -> float:
    """Where word ``i``'s sound begins: the aligner's start, or the end of the pause before it."""
    return words[i].start_s if i == 0 else min(words[i].start_s, max(pauses[i - 1].quiet_end_s, words[i - 1].end_s))


def _speech_end(words: list[WordAlignment], pauses: list[Pause], j: int) -> float:
    """Where word ``j``'s sound ends: the aligner's end, or the start of the pause after it."""
    return (
        words[j].end_s
        if j == len(words) - 1
        else max(words[j].end_s, min(pauses[j].quiet_start_s, words[j + 1].start_s))
    )


def _span(
    words: list[WordAlignment],
    pauses: list[Pause],
    i: int,
    j: int,
    duration_s: float,
    max_seconds: float,
    pad_s: float,
) -> PlannedSegment:
    """The segment's time span: from the pause before word i to the pause after word j.

    Long pauses are trimmed to ``pad_s`` of silence; if the span is still over the limit its
    edges move in towards the words (never past them).
    """
    left = pauses[i - 1].cut_s if i > 0 else 0.0
    right = pauses[j].cut_s if j < len(words) - 1 else duration_s
    core_start, core_end = (
        _speech_start(words, pauses, i),
        _speech_end(words, pauses, j),
    )
    if i > 0:
        core_start = max(core_start, pauses[i - 1].quiet_end_s)
    if j < len(words) - 1:
        core_end = min(core_end, pauses[j].quiet_start_s)
    core_start, core_end = (
        min(core_start, words[i].start_s),
        max(core_end, words[j].end_s),
    )
    start = max(left, core_start - pad_s, 0.0)
    end = min(right, core_end + pad_s, duration_s)
    excess = (end - start) - max_seconds
    if excess > 0:
        lead, trail = max(0.0, core_start - start), max(0.0, end - core_end)
        take_lead = min(lead, excess / 2 + max(0.0, excess / 2 - trail))
        start += take_lead
        end -= min(trail, excess - take_lead)
        if end - start > max_seconds:  # the words alone overflow: hard limit, centred
            middle = (start + end) / 2
            start, end = middle - max_seconds / 2, middle + max_seconds / 2
    start, end = round(start, 4), round(end, 4)
    if end - start > max_seconds:  # rounding must not push a segment over the limit
        end = start + max_seconds
    return PlannedSegment(
        start_s=start,
        end_s=end,
        first_word=i,
        last_word=j,
    )


def build_segments(
    source_key: str,
    words: tuple[WordAlignment, ...] | list[WordAlignment],
    plan: list[PlannedSegment],
    transcript: str | None = None,
) -> list[Segment]:
    """Segment records: transcript and word timings relative to each segment's start.

    With a ``transcript`` whose tokens match the words (the source's own text, with its
    punctuation and casing), each segment's transcript is the matching slice of it;
    otherwise the words joined by spaces.
    """
    words = list(words)
    token_spans = source_token_spans(transcript, words) if transcript else None
    tokens = transcript.split() if transcript else []
    segments = []
    for index, part in enumerate(plan):
        own = words[part.first_word : part.last_word + 1]
        if token_spans is not None:
            text = " ".join(tokens[token_spans[part.first_word][0] : token_spans[part.last_word][1]])
        else:
            text = " ".join(w.word.strip() for w in own).strip()
        relative = tuple(
            WordAlignment(
                word=w.word.strip(),
                start_s=round(min(max(0.0, w.start_s - part.start_s), part.duration_s), 4),
                duration_s=round(max(0.0, min(w.end_s, part.end_s) - max(w.start_s, part.start_s)), 4),
            )
            for w in own
        )
        segments.append(
            Segment(
                source_key=source_key,
                index=index,
                start_s=part.start_s,
                duration_s=round(part.duration_s, 4),
                transcript=text or None,
                words=relative,
            )
        )
    return segments


def normalize_token(token: str) -> str:
    """Lower case, letters and digits only: how words are compared across sources."""
    return "".join(c for c in token.lower() if c.isalnum())


def _token_spans(transcript: str, words: list[WordAlignment]) -> list[tuple[int, int]] | None:
    """For each word item, its [start, end) token range in ``transcript``, or None on mismatch.

    An item may hold several written words ("of the"); tokens that normalise to nothing
    (a lone dash) attach to the preceding item.
    """
    tokens = transcript.split()
    spans, position = [], 0
    for w in words:
        wanted = [normalize_token(t) for t in w.word.split() if normalize_token(t)]
        while position < len(tokens) and not normalize_token(tokens[position]):
            position += 1
        if spans:
            spans[-1] = (spans[-1][0], position)
        got = [normalize_token(t) for t in tokens[position : position + len(wanted)]]
        if not wanted or got != wanted:
            return None
        spans.append((position if spans else 0, position + len(wanted)))
        position += len(wanted)
    if spans and any(normalize_token(t) for t in tokens[position:]):
        return None
    if spans:
        spans[-1] = (spans[-1][0], len(tokens))
    return spans


def source_token_spans(transcript: str, words: list[WordAlignment]) -> list[tuple[int, int]] | None:
    """Map word items (from any aligner) onto the source transcript's tokens.

    Exact when the items spell the transcript (forced alignment, TTS timings); otherwise a
    ``difflib`` alignment of normalised tokens places each boundary between matched words, so
    segments of an ASR-timed item still carry the source's own text. None when too little
    matches (under half of the words) to trust the mapping.
    """
    exact = _token_spans(transcript, words)
    if exact is not None or not words:
        return exact
    from difflib import SequenceMatcher

    tokens = transcript.split()
    said = [normalize_token(w.word) for w in words]
    written = [normalize_token(t) for t in tokens]
    matcher = SequenceMatcher(None, said, written, autojunk=False)
    matched = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            matched[block.a + k] = block.b + k
    if len(matched) < len(words) / 2:
        return None
    # boundary[k]: token index where the text after word k begins
    boundary = []
    anchors = sorted(matched.items())
    for k in range(len(words) - 1):
        before = [t for w, t in anchors if w <= k]
        after = [t for w, t in anchors if w >= k + 1]
        low = before[-1] + 1 if before else 0
        high = after[0] if after else len(tokens)
        boundary.append(min(max(low, 0), max(high, low)))
    edges = [0] + [max(b, 0) for b in boundary] + [len(tokens)]
    for i in range(1, len(edges)):
        edges[i] = max(edges[i], edges[i - 1])
    return [(edges[i], edges[i + 1]) for i in range(len(words))]
