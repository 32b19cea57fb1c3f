"""Diarization of one recording: speech regions -> window embeddings -> speakers -> turns.

The regions come from the caller's voice activity detection (the segment stage's Silero VAD, the
one :mod:`transforms.segment.longform` uses); the audio is 16 kHz, an array or anything sliced
like one (``At16k`` over a recording spooled on disk), read a region at a time. What is kept over
the whole recording is one embedding per window (256 floats every ``hop_s``: 9 MB for 2 h of
speech) and the labels; the clustering works a block at a time (:mod:`transforms.diarize.cluster`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from transforms.diarize.cluster import cluster_regions, viterbi
from transforms.diarize.embed import SAMPLE_RATE
from transforms.diarize.turns import Diarization, Turn


@dataclass(frozen=True)
class DiarizeParams:
    """How the recording is diarized (the segment stage fills it from its settings)."""

    threshold: float = 0.15
    """Cosine distance at which two clusters of speech stay apart (average linkage)."""
    num_speakers: int | None = None
    max_speakers: int | None = None
    window_s: float = 1.6
    hop_s: float = 0.4
    block_s: float = 600.0
    switch_cost: float = 0.6
    merge_gap_s: float = 1.0
    overlap_margin: float = 0.04
    """A window next to a change of speaker whose two best speakers score within this much is overlapped."""


def diarize(audio16: Any, regions: list[tuple[int, int]], encoder: Any, params: DiarizeParams) -> Diarization:
    """Turns of ``audio16`` (16 kHz) from its speech ``regions`` (sample spans, in time order)."""
    model = getattr(encoder, "version", getattr(encoder, "name", "encoder"))
    regions = [(int(a), int(b)) for a, b in regions if b > a]
    if not regions:
        return Diarization((), (), (), model)
    window, hop = int(params.window_s * SAMPLE_RATE), int(params.hop_s * SAMPLE_RATE)
    per_region = [encoder.embed(np.asarray(audio16[a:b], dtype=np.float32), window, hop) for a, b in regions]
    means = np.stack([e.mean(axis=0) for e in per_region])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-8)
    durations = np.array([(b - a) / SAMPLE_RATE for a, b in regions])
    starts = np.array([a / SAMPLE_RATE for a, _ in regions])
    centres = cluster_regions(
        means, durations, starts, params.threshold, params.num_speakers, params.max_speakers, params.block_s
    )
    paths = _resegment(per_region, centres, params)
    spans: list[tuple[float, float, int]] = []
    overlaps: list[tuple[float, float]] = []
    for (a, b), emb, path in zip(regions, per_region, paths):
        spans += _region_spans(a, b, path, window, hop)
        overlaps += _overlaps(a, b, emb @ centres.T, path, window, hop, params.overlap_margin)
    return _as_diarization(spans, overlaps, params.merge_gap_s, model)


def _resegment(per_region: list[np.ndarray], centres: np.ndarray, params: DiarizeParams) -> list[np.ndarray]:
    """Viterbi paths of every region's windows; then the speakers' centroids again from the windows
    they won, speakers whose centroids lie within ``threshold`` merged (their centroids now rest on
    all of their speech, not one block's regions), and the paths again, until nothing merges."""
    from transforms.diarize.cluster import ahc, centroids

    while True:
        paths = [viterbi(emb @ centres.T, params.switch_cost) for emb in per_region]
        if params.num_speakers or len(centres) == 1:
            return paths
        windows, labels = np.concatenate(per_region), np.concatenate(paths)
        used = np.unique(labels)
        refined = centroids(windows, np.searchsorted(used, labels), np.ones(len(labels)))
        merged = ahc(refined, params.threshold)
        if merged.max() + 1 == len(centres):
            return paths
        centres = centroids(refined, merged, np.bincount(np.searchsorted(used, labels)).astype(float))


def _window_centres(a: int, b: int, n: int, window: int, hop: int) -> np.ndarray:
    from transforms.diarize.embed import window_starts

    starts = window_starts(b - a, window, hop)[:n]
    return np.array([a + s + min(window, b - a) / 2 for s in starts]) / SAMPLE_RATE


def _region_spans(a: int, b: int, path: np.ndarray, window: int, hop: int) -> list[tuple[float, float, int]]:
    """The region as runs of one label; a change lies half way between the centres of the two windows."""
    centres = _window_centres(a, b, len(path), window, hop)
    out, start = [], a / SAMPLE_RATE
    for t in range(1, len(path)):
        if path[t] != path[t - 1]:
            cut = (centres[t - 1] + centres[t]) / 2
            out.append((start, cut, int(path[t - 1])))
            start = cut
    out.append((start, b / SAMPLE_RATE, int(path[-1])))
    return out


def _overlaps(a, b, scores, path, window, hop, margin) -> list[tuple[float, float]]:
    """Windows at a change of speaker inside a region whose two best speakers score alike (within
    ``margin``): the span between their centres is marked overlapped (at least the change's own hop)."""
    centres = _window_centres(a, b, len(path), window, hop)
    out = []
    for t in range(1, len(path)):
        if path[t] == path[t - 1]:
            continue
        lo, hi = t - 1, t
        pair = [path[t - 1], path[t]]
        while lo > 0 and path[lo - 1] == path[t - 1] and abs(np.diff(scores[lo - 1, pair]))[0] < margin:
            lo -= 1
        while hi < len(path) - 1 and path[hi + 1] == path[t] and abs(np.diff(scores[hi + 1, pair]))[0] < margin:
            hi += 1
        out.append((round(float(centres[lo]), 3), round(float(centres[hi]), 3)))
    return out


def _as_diarization(spans, overlaps, merge_gap_s: float, model: str) -> Diarization:
    """Spans of one label joined into turns across pauses under ``merge_gap_s``; speakers named
    S1, S2, ... in order of first appearance (the same input gives the same names)."""
    names: dict[int, str] = {}
    turns: list[Turn] = []
    for start, end, label in spans:
        name = names.setdefault(label, f"S{len(names) + 1}")
        if turns and turns[-1].speaker == name and start - turns[-1].end_s <= merge_gap_s:
            turns[-1] = Turn(turns[-1].start_s, round(end, 3), name)
        elif end - start > 0:
            turns.append(Turn(round(start, 3), round(end, 3), name))
    return Diarization(tuple(turns), tuple(names.values()), tuple(overlaps), model)
