"""Turns, the diarization of a recording, and what the cut needs from them.

A :class:`Turn` is a stretch of one speaker's speech (pauses of less than ``merge_gap_s`` inside
it); turns of different speakers may touch, and where two voices overlap the recording's
``overlaps`` say so. :func:`word_speakers` gives each word the speaker whose turn covers most of
it (by the word's timestamps), :func:`forced_cuts` the word boundaries the pause-aware cut
(``transforms/segment/cut.py``) must cut at:

- where the turns' speaker changes;
- at each detected change of speaker (``Diarization.changes``, :mod:`transforms.diarize.changes`),
  even where the clustering gave both sides one speaker: the word boundary at the change's time;
- where two voices speaking at once alternate (:func:`overlap_cuts`): one voice does not say two
  words at once, so words overlapping in time are two speakers' (overlapped turns, interleaved in
  time order); the segments holding them are flagged overlapped.
"""

from __future__ import annotations

import bisect
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
    changes: tuple[float, ...] = ()
    """Times (s) of detected changes of speaker, whatever the speakers on their two sides."""
    f0: tuple[tuple[float, Any], ...] = ()
    """Each speech region's start (s) and F0 track (Hz per 20-ms frame, 0 unvoiced), when pitch was
    measured: the speakers' gender is read from it rather than measured again."""

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


def forced_cuts(
    words: list[WordAlignment] | tuple[WordAlignment, ...], turns: tuple[Turn, ...], changes: tuple[float, ...] = ()
) -> frozenset[int]:
    """Word boundaries ``k`` (between word k and k + 1) where the speaker changes: between the turns
    of two speakers, at a detected change, around a word overlapping another in time."""
    owners = word_speakers(words, turns)
    cuts = {
        k
        for k in range(len(words) - 1)
        if owners[k] >= 0 and owners[k + 1] >= 0 and turns[owners[k]].speaker != turns[owners[k + 1]].speaker
    }
    cuts |= overlap_cuts(words)
    cuts |= change_boundaries(words, changes)
    return frozenset(cuts)


OVERLAP_TOLERANCE_S = 0.01
"""Words overlapping by no more are one speaker's (aligners' word edges touch; espeak-ng's overlapped turns start with overlaps of 20-50 ms)."""
CHANGE_REACH_S = 0.6
"""A change inside speech goes to the widest word gap within this of it (window resolution: 0.4 s)."""


def _overlap_pairs(words: list[WordAlignment] | tuple[WordAlignment, ...]) -> list[tuple[int, int]]:
    """(j, i), j < i: words (in time order) whose spans overlap by more than the tolerance."""
    return [
        (j, i)
        for i in range(1, len(words))
        for j in range(max(0, i - 16), i)
        if words[j].end_s - OVERLAP_TOLERANCE_S > words[i].start_s
    ]


def overlapping_words(words: list[WordAlignment] | tuple[WordAlignment, ...]) -> set[int]:
    """Indices of the words (in time order) whose span overlaps another word's."""
    return {k for pair in _overlap_pairs(words) for k in pair}


def overlap_cuts(words: list[WordAlignment] | tuple[WordAlignment, ...]) -> set[int]:
    """Word boundaries that part two voices speaking at once. Words overlapping in time (and those
    they overlap, and so on) form a stretch of overlapped speech whose words are two voices': the
    first word's and the other's, coloured apart by their overlaps. A cut goes before the stretch
    (the voice coming in may say its first word in a pause of the other), wherever the voice changes
    inside it, and after it when its last word is the first word's voice (the voice coming in goes
    on). Three voices at once (the overlaps cannot be coloured in two): a cut on both sides of every
    word of the stretch. Dev recordings: 492 segments, 8 spanning two voices, against 525 and 9 with
    a cut on both sides of every overlapping word (simulated plan, true word timings)."""
    links: dict[int, set[int]] = {}
    for j, i in _overlap_pairs(words):
        links.setdefault(j, set()).add(i)
        links.setdefault(i, set()).add(j)
    cuts: set[int] = set()
    seen: set[int] = set()
    for first in sorted(links):
        if first in seen:
            continue
        voice, stack, two = {first: 0}, [first], True
        while stack:
            k = stack.pop()
            for other in links[k]:
                if other not in voice:
                    voice[other] = 1 - voice[k]
                    stack.append(other)
                two &= voice[other] != voice[k]
        seen |= set(voice)
        lo, hi = min(voice), max(voice)
        if not two:
            cuts |= {k for k in range(lo - 1, hi + 1) if 0 <= k < len(words) - 1}
            continue
        stretch = [voice.get(k, -1) for k in range(lo, hi + 1)]  # -1: a word inside it overlapping none
        for k in range(lo, hi):
            a, b = stretch[k - lo], stretch[k + 1 - lo]
            if a != b or a < 0:
                cuts.add(k)
        cuts |= {k for k in (lo - 1, hi) if 0 <= k < len(words) - 1 and (k < lo or stretch[-1] == 0)}
    return cuts


def change_boundaries(words: list[WordAlignment] | tuple[WordAlignment, ...], changes: tuple[float, ...]) -> set[int]:
    """The word boundary at each change time: the gap between two words that holds it, else the
    widest gap within ``CHANGE_REACH_S`` of it; none where no word is near (a change in silence)."""
    if len(words) < 2 or not changes:
        return set()
    starts = [w.start_s for w in words]
    out: set[int] = set()
    for t in changes:
        k = bisect.bisect_right(starts, t) - 1  # the last word starting at or before t
        if 0 <= k < len(words) - 1 and words[k].end_s - OVERLAP_TOLERANCE_S <= t:
            out.add(k)  # t lies in the gap after word k
            continue
        near = [
            j
            for j in range(max(0, k - 8), min(len(words) - 1, k + 8))
            if abs((words[j].end_s + words[j + 1].start_s) / 2 - t) <= CHANGE_REACH_S
        ]
        if near:
            out.add(max(near, key=lambda j: (words[j + 1].start_s - words[j].end_s, -abs(words[j].end_s - t))))
    return out


def overlapped(start_s: float, end_s: float, overlaps: tuple[tuple[float, float], ...]) -> bool:
    """Whether the span touches overlapped speech."""
    return any(_overlap(start_s, end_s, a, b) > 0 for a, b in overlaps)
