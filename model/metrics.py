"""Evaluation metrics: classification (top-k, mAP@k) and whole-set retrieval (paper §V-C–E).

Pure numpy over score matrices; no model, no torch. Conventions, fixed here once:

- **Ties count against the relevant item.** A relevant item's rank counts every *irrelevant*
  item scoring greater than *or equal to* it (pessimistic tie-breaking), so a collapsed model
  that gives every candidate the same score lands at the bottom, never at the top. Relevant
  items tied with each other are interchangeable (the metrics do not depend on their order).
  A NaN score ties with everything: a relevant item scoring NaN ranks below every irrelevant
  one, an irrelevant item scoring NaN ranks above every relevant one (a diverged model scores 0).
- Ranks are 1-based (rank 1 = top of the list); ``mean_rank`` / ``median_rank`` are of the
  best-ranked relevant item, as CLAP reports them.
- ``AP@k`` of one query: the sum of precision@r over the ranks r ≤ k that hold a relevant
  item, divided by ``min(#relevant, k)``; ``mAP@k`` averages it over queries. With one
  relevant item it is ``1/rank`` (0 beyond k); with Clotho/AudioCaps' five captions per clip
  and k = 10 it is exactly CLAP's audio→text mAP@10 (its sum divided by 5).
- ``R@k`` is the fraction of queries whose best-ranked relevant item has rank ≤ k.
- Accuracies, recalls and mAPs are returned in **percent** (the paper's tables); ranks as ranks.

Retrieval runs over the **whole** evaluation set (every other clip/caption is a candidate),
both directions; captions point at their clip through ``owners`` (the 5-captions protocol:
each caption has one relevant clip, each clip has its five captions).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

RETRIEVAL_KS: tuple[int, ...] = (1, 5, 10)


def relevant_ranks(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1-based ranks of each query's relevant candidates, sorted ascending, ``inf`` padding.

    ``scores`` ``[Q, C]``, ``relevant`` boolean ``[Q, C]``. Returns ``[Q, max #relevant]``;
    rows with fewer relevant items are padded with ``inf``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    if scores.shape != relevant.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and relevant {relevant.shape} must be equal 2-D shapes")
    width = int(relevant.sum(axis=1).max(initial=0))
    out = np.full((scores.shape[0], max(width, 1)), np.inf)
    for q in range(scores.shape[0]):
        rel_scores = -np.sort(-scores[q, relevant[q]])  # descending, NaN last
        if rel_scores.size == 0:
            continue
        irrelevant = np.sort(scores[q, ~relevant[q]])  # NaN last, so it counts as scoring above
        # Irrelevant items scoring >= each relevant one (pessimistic ties); a NaN relevant score is last.
        above = irrelevant.size - np.searchsorted(irrelevant, rel_scores, side="left")
        above = np.where(np.isnan(rel_scores), irrelevant.size, above)
        out[q, : rel_scores.size] = np.arange(1, rel_scores.size + 1) + above
    return out


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Percent of queries whose best relevant rank is ≤ k (``ranks`` from :func:`relevant_ranks`)."""
    return float(100.0 * np.mean(ranks[:, 0] <= k)) if len(ranks) else float("nan")


def average_precision_at_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """AP@k per query from its sorted relevant ranks (see module docstring)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    n_relevant = np.isfinite(ranks).sum(axis=1)
    hits = np.arange(1, ranks.shape[1] + 1)[None, :]  # the m-th relevant item found
    precision = np.where(ranks <= k, hits / np.where(np.isfinite(ranks), ranks, 1.0), 0.0)
    denominator = np.minimum(n_relevant, k)
    return np.where(denominator > 0, precision.sum(axis=1) / np.maximum(denominator, 1), 0.0)


def mean_average_precision_at_k(ranks: np.ndarray, k: int) -> float:
    """Percent mAP@k over queries."""
    return float(100.0 * average_precision_at_k(ranks, k).mean()) if len(ranks) else float("nan")


def rank_summary(ranks: np.ndarray, ks: Sequence[int] = RETRIEVAL_KS, map_k: Sequence[int] = (10,)) -> dict[str, float]:
    """R@k, mAP@k, mean and median rank of the best relevant item, for one direction."""
    out = {f"R@{k}": recall_at_k(ranks, k) for k in ks}
    out.update({f"mAP@{k}": mean_average_precision_at_k(ranks, k) for k in map_k})
    best = ranks[:, 0]
    out["mean_rank"] = float(best.mean()) if len(best) else float("nan")
    out["median_rank"] = float(np.median(best)) if len(best) else float("nan")
    return out


def top_k_accuracy(scores: np.ndarray, targets: Sequence[int] | np.ndarray, k: int = 1) -> float:
    """Percent of rows whose target class is among the k best scores (ties count against it)."""
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    if len(targets) == 0:
        return float("nan")
    true = scores[np.arange(len(targets)), targets][:, None]
    # A NaN score ties with everything (module docstring): it counts against the target.
    others_at_or_above = ((scores >= true) | np.isnan(scores) | np.isnan(true)).sum(axis=1) - 1
    return float(100.0 * np.mean(others_at_or_above < k))


def classification_metrics(
    scores: np.ndarray, targets: Sequence[int] | np.ndarray, ks: Sequence[int] = (1, 5), map_k: int = 10
) -> dict[str, float]:
    """``top1_accuracy``, ``top5_accuracy`` (when there are more than k classes), ``mAP@10``."""
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    out = {f"top{k}_accuracy": top_k_accuracy(scores, targets, k) for k in ks if k == 1 or k < scores.shape[1]}
    relevant = np.zeros_like(scores, dtype=bool)
    relevant[np.arange(len(targets)), targets] = True
    out[f"mAP@{map_k}"] = mean_average_precision_at_k(relevant_ranks(scores, relevant), map_k)
    return out


def multilabel_metrics(scores: np.ndarray, relevant: np.ndarray, map_k: Sequence[int] = (1, 10)) -> dict[str, float]:
    """Per-sample mAP@k for multi-label sets (AudioSet, FSD50K; paper Table I reports mAP@1)."""
    ranks = relevant_ranks(scores, relevant)
    return {f"mAP@{k}": mean_average_precision_at_k(ranks, k) for k in map_k}


def retrieval_metrics(
    similarity: np.ndarray,
    owners: Sequence[int] | np.ndarray,
    ks: Sequence[int] = RETRIEVAL_KS,
    map_k: Sequence[int] = (10,),
) -> dict[str, float]:
    """Whole-set retrieval, both directions, from an (audio × text) similarity matrix.

    ``owners[j]`` is the clip caption ``j`` describes (the 5-captions protocol has each clip
    index five times). Keys: ``audio_to_text/R@1`` … ``text_to_audio/median_rank``.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    owners = np.asarray(owners, dtype=np.int64)
    n_audio, n_text = similarity.shape
    if owners.shape != (n_text,) or (n_text and (owners.min() < 0 or owners.max() >= n_audio)):
        raise ValueError(f"owners must give a clip index in [0, {n_audio}) for each of {n_text} captions")
    relevant = owners[None, :] == np.arange(n_audio)[:, None]  # [A, T]
    has_caption = relevant.any(axis=1)
    out: dict[str, float] = {}
    a2t = relevant_ranks(similarity[has_caption], relevant[has_caption])
    t2a = relevant_ranks(similarity.T, relevant.T)
    for direction, ranks in (("audio_to_text", a2t), ("text_to_audio", t2a)):
        out.update({f"{direction}/{name}": value for name, value in rank_summary(ranks, ks, map_k).items()})
    return out


def caption_protocol(
    captions_per_clip: Sequence[Sequence[str]], per_clip: int = 5
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Clotho/AudioCaps' protocol as CLAP applies it: clips with at least ``per_clip`` captions
    keep their first ``per_clip``; clips with fewer are left out.

    Returns ``(captions, owners, kept_clip_indices)`` with ``owners`` indexing into the *kept* clips.
    """
    texts: list[str] = []
    owners: list[int] = []
    kept: list[int] = []
    for index, captions in enumerate(captions_per_clip):
        if len(captions) < per_clip:
            continue
        texts.extend(captions[:per_clip])
        owners.extend([len(kept)] * per_clip)
        kept.append(index)
    return texts, np.asarray(owners, dtype=np.int64), np.asarray(kept, dtype=np.int64)


def _hit_within(k: int, candidates: int, relevant: int) -> float:
    """P(the best of ``relevant`` items placed uniformly at random among ``candidates`` is in the top ``k``)."""
    if relevant <= 0:
        return 0.0
    if k >= candidates - relevant + 1:
        return 1.0
    miss = 1.0
    for i in range(k):  # C(m - r, k) / C(m, k) as a product
        miss *= (candidates - relevant - i) / (candidates - i)
    return 1.0 - miss


def attribute_only_retrieval(
    clip_groups: Sequence[object],
    owners: Sequence[int] | np.ndarray,
    ks: Sequence[int] = RETRIEVAL_KS,
    map_k: Sequence[int] = (10,),
) -> dict[str, float]:
    """The exact expected metrics of a model that knows only each clip's attributes.

    ``clip_groups[i]`` is clip ``i``'s attribute group (e.g. its ``(language, gender, emotion)``),
    ``owners`` as in :func:`retrieval_metrics`. The model ranks every candidate of the query's
    group above every other candidate, in uniformly random order inside the group. For a query
    with ``r`` relevant candidates among the ``m`` candidates of its group, the best relevant
    rank is in the top ``k`` with probability ``1 − C(m−r, k) / C(m, k)`` and is ``(m+1)/(r+1)``
    on average; with one relevant candidate AP@k is ``(1/m) Σ_{i ≤ min(k, m)} 1/i``. These are
    averaged over queries (closed form, no sampling), in percent like :func:`retrieval_metrics`.
    ``mAP@k`` is given only when every query has one relevant candidate.
    """
    owners = np.asarray(owners, dtype=np.int64)
    groups = list(clip_groups)
    clips_in = Counter(groups)
    texts_in = Counter(groups[o] for o in owners)
    captions_of = Counter(owners.tolist())
    queries = {
        # text → audio: each caption; candidates are the clips, one relevant
        "text_to_audio": [(clips_in[groups[o]], 1) for o in owners],
        # audio → text: each clip with a caption; candidates are the captions, its own relevant
        "audio_to_text": [(texts_in[groups[i]], captions_of[i]) for i in range(len(groups)) if captions_of[i]],
    }
    out: dict[str, float] = {}
    for direction, rows in queries.items():
        for k in ks:
            out[f"{direction}/R@{k}"] = 100.0 * float(np.mean([_hit_within(k, m, r) for m, r in rows]))
        if all(r == 1 for _, r in rows):
            for k in map_k:
                out[f"{direction}/mAP@{k}"] = 100.0 * float(
                    np.mean([sum(1.0 / i for i in range(1, min(k, m) + 1)) / m for m, _ in rows])
                )
        out[f"{direction}/mean_rank"] = float(np.mean([(m + 1) / (r + 1) for m, r in rows]))
    return out


def uniform_retrieval(
    n_clips: int, owners: Sequence[int] | np.ndarray, ks: Sequence[int] = RETRIEVAL_KS, map_k: Sequence[int] = (10,)
) -> dict[str, float]:
    """Chance: the expected metrics of a uniformly random ranking (every clip in one group)."""
    return attribute_only_retrieval([0] * n_clips, owners, ks, map_k)


ATTRIBUTE_FIELDS: tuple[str, ...] = ("language", "gender", "emotion")
"""The clip attributes the attribute-only retrieval baseline knows (``original_data`` fields)."""
SPEAKER_FIELDS: tuple[str, ...] = ("language", "gender")
"""What the language+gender-only retrieval baseline knows: who speaks which language, not how."""


def class_baselines(targets: Sequence[int] | np.ndarray, n_classes: int) -> dict[str, float]:
    """Top-1 accuracy of a uniform guess (``chance``) and of always answering the most frequent
    true class (``majority``), percent."""
    targets = np.asarray(targets, dtype=np.int64)
    if not len(targets) or n_classes < 1:
        return {}
    return {"chance": 100.0 / n_classes, "majority": 100.0 * np.bincount(targets).max() / len(targets)}
