"""Who is who: clustering of speech regions, then a window-level resegmentation.

1. **Regions to speakers, a block at a time.** Each VAD speech region's embedding is the mean of
   its windows' embeddings. Within a block of the recording (``block_s``, 10 min) the regions of at
   least ``min_region_s`` are clustered by average-linkage agglomerative clustering on cosine
   distance, cut at ``threshold`` (or at ``num_speakers`` clusters); the blocks' clusters
   (duration-weighted centroids) are then clustered the same way across the recording. Memory
   is bounded by the largest block (a 10-min block holds a few hundred regions): there is no
   affinity matrix over a whole long recording, only over its blocks and over their centroids.
2. **Resegmentation.** Every window is scored against the speakers' centroids (cosine) and the
   best path through each region is found by Viterbi with a cost per change of speaker
   (``switch_cost``): a change inside a region (no pause between two voices, or overlapped speech)
   is found at window resolution (``hop``), and a lone noisy window does not make a turn.

With ``pitch`` (each row's median F0 in semitones, NaN when unvoiced) and a ``term``
(:class:`~transforms.diarize.pitch_track.PitchTerm`) the distance between two rows is their cosine
distance plus the term's distance for their pitches: voices the encoder confuses but whose pitch
differs stay apart.
"""

from __future__ import annotations

import numpy as np

from transforms.diarize.pitch_track import PitchTerm


def ahc(
    embeddings: np.ndarray,
    threshold: float,
    n_clusters: int | None = None,
    pitch: np.ndarray | None = None,
    term: PitchTerm | None = None,
) -> np.ndarray:
    """Cluster labels 0.. of L2-normalised rows: average linkage, cosine distance (plus the pitch
    term), cut at ``threshold`` or into ``n_clusters`` (at most the number of rows)."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1:
        return np.zeros(1, dtype=int)
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    distances = pdist(np.asarray(embeddings, dtype=np.float64), metric="cosine")
    if pitch is not None and term is not None and term.weight > 0:
        column = np.asarray(pitch, dtype=np.float64)[:, None]
        distances = distances + term.distance(pdist(column, metric="cityblock"), 0.0)  # |a - b|, NaN: unvoiced
    tree = linkage(np.maximum(distances, 0.0), method="average")
    if n_clusters:
        labels = fcluster(tree, t=min(n_clusters, n), criterion="maxclust")
    else:
        labels = fcluster(tree, t=threshold, criterion="distance")
    return _first_seen(labels - 1)


def _first_seen(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered in order of first appearance (stable ids for the same input)."""
    order: dict[int, int] = {}
    return np.array([order.setdefault(int(x), len(order)) for x in labels], dtype=int)


def centroids(embeddings: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted, L2-normalised mean embedding of each label 0..max."""
    k = int(labels.max()) + 1 if len(labels) else 0
    out = np.zeros((k, embeddings.shape[1]), dtype=np.float32)
    for c in range(k):
        mine = labels == c
        out[c] = (embeddings[mine] * weights[mine, None]).sum(axis=0)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-8)


def pitch_centroids(pitch: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean pitch (semitones) of each label 0..max over its voiced rows; NaN where none is."""
    k = int(labels.max()) + 1 if len(labels) else 0
    out = np.full(k, np.nan)
    known = np.isfinite(pitch)
    for c in range(k):
        mine = known & (labels == c)
        if mine.any() and weights[mine].sum() > 0:
            out[c] = float(np.average(pitch[mine], weights=weights[mine]))
    return out


def cluster_regions(
    embeddings: np.ndarray,
    durations: np.ndarray,
    starts_s: np.ndarray,
    threshold: float,
    num_speakers: int | None = None,
    max_speakers: int | None = None,
    block_s: float = 600.0,
    min_region_s: float = 1.0,
    min_speaker_s: float = 0.0,
    pitch: np.ndarray | None = None,
    term: PitchTerm | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The speakers' centroids (k, d) from the regions' embeddings, block by block then across
    blocks, and their pitch (k,) when ``pitch`` is given."""
    usable = durations >= min_region_s
    if not usable.any():
        usable = durations >= durations.max()
    block_ids = (starts_s // block_s).astype(int)
    local: list[np.ndarray] = []
    local_pitch: list[np.ndarray] = []
    local_weights: list[np.ndarray] = []
    tone = {"term": term}
    for block in np.unique(block_ids):
        mine = usable & (block_ids == block)
        if not mine.any():
            continue
        block_pitch = pitch[mine] if pitch is not None else None
        labels = ahc(embeddings[mine], threshold, pitch=block_pitch, **tone)
        local.append(centroids(embeddings[mine], labels, durations[mine]))
        local_weights.append(np.bincount(labels, weights=durations[mine]))
        if block_pitch is not None:
            local_pitch.append(pitch_centroids(block_pitch, labels, durations[mine]))
    points, weights = np.concatenate(local), np.concatenate(local_weights)
    point_pitch = np.concatenate(local_pitch) if pitch is not None else None
    labels = ahc(points, threshold, num_speakers, pitch=point_pitch, **tone)
    if max_speakers and labels.max() + 1 > max_speakers:
        labels = ahc(points, threshold, max_speakers, pitch=point_pitch, **tone)
    if not num_speakers:
        labels = absorb_small(points, point_pitch, weights, labels, min_speaker_s, term)
    centre_pitch = pitch_centroids(point_pitch, labels, weights) if point_pitch is not None else None
    return centroids(points, labels, weights), centre_pitch


def absorb_small(
    points: np.ndarray,
    pitch: np.ndarray | None,
    weights: np.ndarray,
    labels: np.ndarray,
    min_speaker_s: float,
    term: PitchTerm | None = None,
) -> np.ndarray:
    """Speakers with less than ``min_speaker_s`` of speech joined to their nearest one, the smallest
    first: a voice cut in two by sentence-to-sentence differences leaves pieces of a few seconds
    (a short recording's few regions are where average linkage over-clusters)."""
    labels = labels.copy()
    while min_speaker_s > 0 and labels.max() > 0:
        seconds = np.bincount(labels, weights=weights)
        smallest = int(np.argmin(seconds))
        if seconds[smallest] >= min_speaker_s:
            break
        centres = centroids(points, labels, weights)
        distance = 1.0 - centres @ centres[smallest]
        if pitch is not None and term is not None:
            tones = pitch_centroids(pitch, labels, weights)
            distance = distance + term.distance(tones, tones[smallest])
        distance[smallest] = np.inf
        labels[labels == smallest] = int(np.argmin(distance))
        labels = _first_seen(np.unique(labels, return_inverse=True)[1])
    return labels


def viterbi(scores: np.ndarray, switch_cost: float) -> np.ndarray:
    """The best label path through ``scores`` (n, k): the sum of scores less ``switch_cost`` per change."""
    n, k = scores.shape
    if k == 1 or n == 0:
        return np.zeros(n, dtype=int)
    total = scores[0].astype(np.float64)
    back = np.zeros((n, k), dtype=int)
    for t in range(1, n):
        stay = total
        best_prev = int(np.argmax(total))
        move = total[best_prev] - switch_cost
        back[t] = np.where(stay >= move, np.arange(k), best_prev)
        total = np.maximum(stay, move) + scores[t]
    path = np.zeros(n, dtype=int)
    path[-1] = int(np.argmax(total))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path
