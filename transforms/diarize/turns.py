"""Turns, the diarization of a recording, and what the cut needs from them.

A :class:`Turn` is a stretch of one speaker's speech (pauses of less than ``merge_gap_s`` inside
it); turns of different speakers may touch, and where two voices overlap the recording's
``overlaps`` say so. :func:`word_speakers` gives each word the speaker whose turn covers most of
it (by the word's timestamps), :func:`forced_cuts` the word boundaries where the speaker changes:
the pause-aware cut (``transforms/segment/cut.py``) must cut there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas import WordAlignment


@dataclass(frozen=True)
class Turn:
    start_s: float
    end_s: float
    speaker: str

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Diarization:
    """Who speaks when in one recording; ``speakers`` in order of first appearance."""

    turns: tuple[Turn, ...]
    speakers: tuple[str, ...]
    overlaps: tuple[tuple[float, float], ...] = ()
    model: str = ""
    genders: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def num_speakers(self) -> int:
        return len(self.speakers)

    def speaker_seconds(self) -> dict[str, float]:
        out = dict.fromkeys(self.speakers, 0.0)
        for t in self.turns:
            out[t.speaker] += t.duration_s
        return out


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def word_speakers(words: list[WordAlignment] | tuple[WordAlignment, ...], turns: tuple[Turn, ...]) -> list[int]:
    """For each word, the index of its turn: the one covering most of it, else the nearest."""
    out: list[int] = []
    if not turns:
        return [-1] * len(words)
    first = 0
    for w in words:
        while first < len(turns) - 1 and turns[first].end_s < w.start_s - 30.0:
            first += 1  # turns are in time order: look near the word only
        best, best_cover, best_gap = first, -1.0, float("inf")
        for k in range(first, len(turns)):
            t = turns[k]
            if t.start_s > w.end_s + 30.0:
                break
            cover = _overlap(w.start_s, w.end_s, t.start_s, t.end_s)
            gap = max(t.start_s - w.end_s, w.start_s - t.end_s, 0.0)
            if cover > best_cover or (cover == best_cover == 0.0 and gap < best_gap):
                best, best_cover, best_gap = k, cover, gap
        out.append(best)
    return out


def forced_cuts(words: list[WordAlignment] | tuple[WordAlignment, ...], turns: tuple[Turn, ...]) -> frozenset[int]:
    """Word boundaries ``k`` (between word k and k + 1) where the speaker changes."""
    owners = word_speakers(words, turns)
    return frozenset(
        k
        for k in range(len(words) - 1)
        if owners[k] >= 0 and owners[k + 1] >= 0 and turns[owners[k]].speaker != turns[owners[k + 1]].speaker
    )


def overlapped(start_s: float, end_s: float, overlaps: tuple[tuple[float, float], ...]) -> bool:
    """Whether the span touches overlapped speech."""
    return any(_overlap(start_s, end_s, a, b) > 0 for a, b in overlaps)
