"""Speaker changes between adjacent stretches of speech: cut points that do not need the right speakers.

The clustering may merge two similar voices into one speaker (espeak-ng's f1/f4, m3/m7); the cut
must still not cross the change. So each place where the speaker may change is tested on its own,
comparing only the speech on its two sides:

- **at a pause between two speech regions** (VAD): the mean embedding of up to ``context_s`` of
  speech before it (the end of the left region) against up to ``context_s`` after it, and their
  pitch (median F0 in semitones); a change when ``distance / change_distance + semitones /
  change_semitones >= 1`` (a linear score: a moderate embedding distance counts with a moderate
  pitch jump);
- **inside a region** (no pause, or overlapped speech): the same score at every window boundary
  with a stricter bar (``inner_change_distance``, ``inner_change_semitones``: there are many more
  places to test), its local peaks (one per ``window_s``).

The changes are times; :func:`transforms.diarize.turns.forced_cuts` turns each into the word
boundary at it (by the words' timestamps), a forced cut of the segment plan. A false change only
costs a cut where the plan did not need one; ``bench/diarize.py`` counts the segments with and
without. Settings chosen on ``bench/diarize.py``'s development recordings (seeds 100-119), not on
its reported ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transforms.diarize.pitch_track import FRAME_S, semitones


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), 1e-8)


def _score(
    left: np.ndarray, right: np.ndarray, f0_left: np.ndarray, f0_right: np.ndarray, distance: float, steps: float
) -> float:
    cosine = 1.0 - float(_unit(left.mean(axis=0)) @ _unit(right.mean(axis=0)))
    jump = abs(semitones(f0_left) - semitones(f0_right))
    return cosine / distance + (jump / steps if np.isfinite(jump) else 0.0)


def speaker_changes(
    regions: list[tuple[int, int]],
    windows: list[np.ndarray],
    f0: list[np.ndarray] | None,
    params: Any,
    sample_rate: int = 16_000,
    one_speaker: bool = False,
) -> list[float]:
    """Times (s) where the speaker changes, between regions and inside them, in time order.

    ``one_speaker`` (the clustering found one voice): one voice's pitch and timbre move between
    sentences by more than the bar between regions, so only pauses are tested, each with at least
    ``params.one_speaker_min_side`` windows of speech on either side, against the inside bar
    (``inner_change_distance``, ``inner_change_semitones``). A one-voice demo item was cut into 8
    segments instead of 4 without it (tests/diarize/test_demo_corpus.py); two voices the clustering
    merged (a man and a woman) still clear it (tests/diarize/test_changes_and_pitch.py)."""
    hop_s, window_s = params.hop_s, params.window_s
    min_side = params.one_speaker_min_side if one_speaker else 1
    distance, pitch = (
        (params.inner_change_distance, params.inner_change_semitones)
        if one_speaker
        else (params.change_distance, params.change_semitones)
    )
    per_side = max(1, int(round((params.change_context_s - window_s) / hop_s)) + 1)  # windows in context_s
    frames = int(round(params.change_context_s / FRAME_S))
    empty = np.zeros(0, dtype=np.float32)
    out: list[float] = []
    for r, ((a, b), emb) in enumerate(zip(regions, windows)):
        track = f0[r] if f0 is not None else empty
        if not one_speaker:
            out += _inside(a / sample_rate, emb, track, per_side, params)
        if r + 1 == len(regions):
            break
        nxt = f0[r + 1] if f0 is not None else empty
        if min(len(emb), len(windows[r + 1])) < min_side:
            continue
        score = _score(
            emb[-per_side:],
            windows[r + 1][:per_side],
            track[-frames:],
            nxt[:frames],
            distance,
            pitch,
        )
        if score >= 1.0:
            out.append(round((b + regions[r + 1][0]) / 2 / sample_rate, 3))
    return out


def _inside(start_s: float, emb: np.ndarray, track: np.ndarray, per_side: int, params: Any) -> list[float]:
    """Peaks of the change score at window boundaries inside one region (a whole window each side)."""
    step = int(round(params.window_s / params.hop_s))  # windows per window length: i - step ends where i starts
    if len(emb) < 2 * step:
        return []
    frames = int(round(params.change_context_s / FRAME_S))
    scores = np.zeros(len(emb))
    for i in range(step, len(emb) - step + 1):
        t = i * params.hop_s
        k = int(round(t / FRAME_S))
        scores[i] = _score(
            emb[max(0, i - step - per_side + 1) : i - step + 1],
            emb[i : i + per_side],
            track[max(0, k - frames) : k],
            track[k : k + frames],
            params.inner_change_distance,
            params.inner_change_semitones,
        )
    out = []
    for i in np.flatnonzero(scores >= 1.0):
        if scores[i] == scores[max(0, i - step) : i + step + 1].max():
            out.append(round(start_s + i * params.hop_s, 3))
    return out
