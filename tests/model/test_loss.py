"""Eq. 3: the two-temperature CLIP loss, and retrieval metrics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from model.loss import clip_loss, distributed_clip_loss, retrieval_metrics


def naive_eq3(z_a: torch.Tensor, z_t: torch.Tensor, tau_a: float, tau_t: float) -> float:
    """Eq. 3 written with Python loops over k and n."""
    n = z_a.shape[0]
    total = 0.0
    for k in range(n):
        audio_den = sum(math.exp(float(z_a[k] @ z_t[j]) * tau_a) for j in range(n))
        text_den = sum(math.exp(float(z_t[k] @ z_a[j]) * tau_t) for j in range(n))
        total += math.log(math.exp(float(z_a[k] @ z_t[k]) * tau_a) / audio_den)
        total += math.log(math.exp(float(z_t[k] @ z_a[k]) * tau_t) / text_den)
    return -total / n


def _features(n: int = 6, dim: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (
        F.normalize(torch.randn(n, dim, generator=g, dtype=torch.float64), dim=-1),
        F.normalize(torch.randn(n, dim, generator=g, dtype=torch.float64), dim=-1),
    )


def test_loss_equals_naive_reference_with_two_temperatures() -> None:
    z_a, z_t = _features()
    got = clip_loss(z_a, z_t, torch.tensor(3.0, dtype=torch.float64), torch.tensor(11.0, dtype=torch.float64))
    assert math.isclose(got.item(), naive_eq3(z_a, z_t, 3.0, 11.0), rel_tol=1e-9)


def test_each_temperature_scales_only_its_own_direction() -> None:
    z_a, z_t = _features(seed=1)
    t = torch.tensor(5.0, dtype=torch.float64)
    audio_term = F.cross_entropy(t * z_a @ z_t.T, torch.arange(6))
    changed = clip_loss(z_a, z_t, t, torch.tensor(50.0, dtype=torch.float64))
    text_term = F.cross_entropy(50.0 * z_t @ z_a.T, torch.arange(6))
    assert math.isclose(changed.item(), (audio_term + text_term).item(), rel_tol=1e-9)


def test_chance_level_is_twice_log_n_for_identical_scores() -> None:
    z = F.normalize(torch.ones(5, 4), dim=-1)
    assert math.isclose(clip_loss(z, z, torch.tensor(1.0), torch.tensor(1.0)).item(), 2 * math.log(5), rel_tol=1e-6)


def test_distributed_loss_without_a_process_group_is_the_plain_loss() -> None:
    z_a, z_t = _features(seed=2)
    t = torch.tensor(7.0, dtype=torch.float64)
    assert torch.equal(distributed_clip_loss(z_a, z_t, t, t), clip_loss(z_a, z_t, t, t))


def test_retrieval_is_perfect_on_matching_pairs_and_counts_misses() -> None:
    eye = torch.eye(4)
    assert retrieval_metrics(eye, eye, ks=(1,)) == {"a2t_R@1": 1.0, "t2a_R@1": 1.0}
    swapped = eye[[1, 0, 2, 3]]  # pairs 0 and 1 are swapped: both miss at rank 1
    assert retrieval_metrics(eye, swapped, ks=(1,))["a2t_R@1"] == 0.5


def test_a_collapsed_model_scores_zero_recall_like_the_evaluation_metrics() -> None:
    # Every clip and caption on the same point: all scores tie, so no pair is found (metrics.py's rule).
    z = F.normalize(torch.ones(8, 4), dim=-1)
    assert retrieval_metrics(z, z, ks=(1, 5)) == {"a2t_R@1": 0.0, "t2a_R@1": 0.0, "a2t_R@5": 0.0, "t2a_R@5": 0.0}


def test_nan_embeddings_find_no_pair_as_the_evaluation_metrics_rank_them() -> None:
    z = torch.full((6, 4), float("nan"))
    assert retrieval_metrics(z, z, ks=(1, 5)) == {"a2t_R@1": 0.0, "t2a_R@1": 0.0, "a2t_R@5": 0.0, "t2a_R@5": 0.0}
    z_a = torch.eye(4)
    z_a[0] = float("nan")  # one diverged clip: lost itself, and a competitor no text can rank above
    metrics = retrieval_metrics(z_a, torch.eye(4), ks=(1,))
    assert metrics == {"a2t_R@1": 0.75, "t2a_R@1": 0.0}
    similarity = (z_a @ torch.eye(4).T).numpy()
    from model.metrics import retrieval_metrics as whole_set

    reference = whole_set(similarity, list(range(4)))
    assert reference["audio_to_text/R@1"] == 100 * metrics["a2t_R@1"]
    assert reference["text_to_audio/R@1"] == 100 * metrics["t2a_R@1"]


def test_ties_with_other_items_count_against_the_true_pair() -> None:
    z_a = torch.eye(3)
    z_t = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # text 1 ties with text 0 for clip 0
    metrics = retrieval_metrics(z_a, z_t, ks=(1,))
    assert metrics["a2t_R@1"] == pytest.approx(1 / 3)  # clip 0 ties with text 1, clip 1 scores 0 on its text
