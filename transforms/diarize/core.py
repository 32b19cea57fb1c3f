"""Diarization of one recording: speech regions -> window embeddings -> speakers -> turns.

The regions come from the caller's voice activity detection (the segment stage's Silero VAD, the
one :mod:`transforms.segment.longform` uses); the audio is 16 kHz, an array or anything sliced
like one (``At16k`` over a recording spooled on disk), read a region at a time. What is kept over
the whole recording is one embedding per window (256 floats every ``hop_s``: 9 MB for 2 h of
speech), each region's F0 track (one float every 20 ms: 1.4 MB for 2 h) and the labels; the
clustering works a block at a time (:mod:`transforms.diarize.cluster`). Pitch is the second feature
of the clustering and of the resegmentation (``pitch_weight``: cosine distance added per semitone
between two speakers' median F0, up to ``pitch_cap``), and the detected changes of speaker
(:mod:`transforms.diarize.changes`) are the cut points the clustering does not need to get right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from transforms.diarize.changes import speaker_changes
from transforms.diarize.cluster import cluster_regions, viterbi
from transforms.diarize.embed import SAMPLE_RATE, window_starts
from transforms.diarize.pitch_track import PitchTerm, region_f0, semitones, window_semitones
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
    min_speaker_s: float = 5.0
    """A speaker with less speech than this is joined to the nearest one (unless ``num_speakers`` is given)."""
    pitch_weight: float = 0.1
    """Cosine distance added per semitone between two speakers' (or a window's and a speaker's) median F0."""
    pitch_cap: float = 3.0
    """Semitones beyond which a pitch difference adds nothing more (octave errors, expressive speech)."""
    pitch_tolerance: float = 0.0
    """Semitones of difference that add nothing (0.5 and 1 raised the dev DER: f1/f2 are 1.2 apart, m3/m7 0.8)."""
    changes: bool = True
    """Detect changes of speaker between adjacent speech (cut points even where the clustering merges)."""
    change_context_s: float = 5.0
    """Speech each side of a possible change that its score compares (transforms/diarize/changes.py)."""
    change_distance: float = 0.18
    change_semitones: float = 3.0
    inner_change_distance: float = 0.3
    inner_change_semitones: float = 6.0
    one_speaker_min_side: int = 3
    """Where the clustering finds one speaker: windows of speech each side of a pause before a change
    is tested there (against the inside bar; transforms/diarize/changes.py)."""

    @property
    def pitch_term(self) -> PitchTerm | None:
        return PitchTerm(self.pitch_weight, self.pitch_cap, self.pitch_tolerance) if self.pitch_weight > 0 else None

    @property
    def needs_pitch(self) -> bool:
        return self.changes or self.pitch_weight > 0


@dataclass
class Features:
    """What the clustering sees of a recording: per speech region, its windows' embeddings and F0 track."""

    regions: list[tuple[int, int]]
    windows: list[np.ndarray]
    f0: list[np.ndarray] | None


def features(audio16: Any, regions: list[tuple[int, int]], encoder: Any, params: DiarizeParams) -> Features:
    """Embeddings of every region's windows (and its F0 track when the settings use pitch)."""
    window, hop = int(params.window_s * SAMPLE_RATE), int(params.hop_s * SAMPLE_RATE)
    embedded, tracks = [], []
    for a, b in regions:
        region = np.asarray(audio16[a:b], dtype=np.float32)
        embedded.append(encoder.embed(region, window, hop))
        if params.needs_pitch:
            tracks.append(region_f0(region, 0, len(region), SAMPLE_RATE))
    return Features(regions, embedded, tracks if params.needs_pitch else None)


def diarize(audio16: Any, regions: list[tuple[int, int]], encoder: Any, params: DiarizeParams) -> Diarization:
    """Turns of ``audio16`` (16 kHz) from its speech ``regions`` (sample spans, in time order)."""
    model = getattr(encoder, "version", getattr(encoder, "name", "encoder"))
    regions = [(int(a), int(b)) for a, b in regions if b > a]
    if not regions:
        return Diarization((), (), (), model)
    return diarize_features(features(audio16, regions, encoder, params), params, model)


def diarize_features(feats: Features, params: DiarizeParams, model: str = "") -> Diarization:
    """Turns from a recording's :class:`Features` (the clustering, resegmentation and changes)."""
    regions, per_region = feats.regions, feats.windows
    window, hop = int(params.window_s * SAMPLE_RATE), int(params.hop_s * SAMPLE_RATE)
    means = np.stack([e.mean(axis=0) for e in per_region])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-8)
    durations = np.array([(b - a) / SAMPLE_RATE for a, b in regions])
    starts = np.array([a / SAMPLE_RATE for a, _ in regions])
    term = params.pitch_term if feats.f0 is not None else None
    region_pitch = np.array([semitones(t) for t in feats.f0]) if term else None
    window_pitch = (
        [
            window_semitones(t, np.array(window_starts(b - a, window, hop)[: len(e)]) / SAMPLE_RATE, params.window_s)
            for (a, b), e, t in zip(regions, per_region, feats.f0)
        ]
        if term
        else None
    )
    centres, centre_pitch = cluster_regions(
        means,
        durations,
        starts,
        params.threshold,
        params.num_speakers,
        params.max_speakers,
        params.block_s,
        pitch=region_pitch,
        min_speaker_s=params.min_speaker_s,
        term=term,
    )
    paths = _resegment(per_region, window_pitch, centres, centre_pitch, params, term)
    spans: list[tuple[float, float, int]] = []
    overlaps: list[tuple[float, float]] = []
    for r, ((a, b), emb, path) in enumerate(zip(regions, per_region, paths)):
        spans += _region_spans(a, b, path, window, hop)
        scores = _scores(emb, window_pitch[r] if window_pitch else None, centres, centre_pitch, term)
        overlaps += _overlaps(a, b, scores, path, window, hop, params.overlap_margin)
    found = _as_diarization(spans, overlaps, params.merge_gap_s, model)
    changes = (
        speaker_changes(regions, per_region, feats.f0, params, SAMPLE_RATE, one_speaker=len(found.speakers) <= 1)
        if params.changes
        else []
    )
    tracks = tuple((a / SAMPLE_RATE, t) for (a, _), t in zip(regions, feats.f0)) if feats.f0 is not None else ()
    return Diarization(found.turns, found.speakers, found.overlaps, found.model, changes=tuple(changes), f0=tracks)


def _scores(emb, pitch, centres, centre_pitch, term: PitchTerm | None) -> np.ndarray:
    """Each window's score for each speaker: cosine similarity, less the pitch term's distance."""
    scores = emb @ centres.T
    if term is not None and pitch is not None and centre_pitch is not None:
        scores = scores - term.distance(pitch[:, None], centre_pitch[None, :])
    return scores


def _resegment(
    per_region, window_pitch, centres, centre_pitch, params: DiarizeParams, term: PitchTerm | None
) -> list[np.ndarray]:
    """Viterbi paths of every region's windows; then the speakers' centroids again from the windows
    they won, speakers whose centroids lie within ``threshold`` merged (their centroids now rest on
    all of their speech, not one block's regions), and the paths again, until nothing merges."""
    from transforms.diarize.cluster import ahc, centroids, pitch_centroids

    while True:
        paths = [
            viterbi(
                _scores(emb, window_pitch[r] if window_pitch else None, centres, centre_pitch, term),
                params.switch_cost,
            )
            for r, emb in enumerate(per_region)
        ]
        if params.num_speakers or len(centres) == 1:
            return paths
        windows, labels = np.concatenate(per_region), np.concatenate(paths)
        used = np.unique(labels)
        dense = np.searchsorted(used, labels)
        refined = centroids(windows, dense, np.ones(len(labels)))
        refined_pitch = (
            pitch_centroids(np.concatenate(window_pitch), dense, np.ones(len(labels))) if window_pitch else None
        )
        merged = ahc(refined, params.threshold, pitch=refined_pitch, term=term)
        if merged.max() + 1 == len(centres):
            return paths
        counts = np.bincount(dense).astype(float)
        centres = centroids(refined, merged, counts)
        centre_pitch = pitch_centroids(refined_pitch, merged, counts) if refined_pitch is not None else None


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
