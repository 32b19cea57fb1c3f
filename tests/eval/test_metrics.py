"""Metrics against hand-computed examples (model/metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from model.metrics import (
    average_precision_at_k,
    caption_protocol,
    classification_metrics,
    multilabel_metrics,
    relevant_ranks,
    retrieval_metrics,
    top_k_accuracy,
)


def test_rank_counts_irrelevant_items_tied_with_the_relevant_one():
    scores = np.array([[0.5, 0.5, 0.1, 0.9]])
    relevant = np.array([[False, True, False, False]])
    # 0.9 is above, 0.5 (irrelevant) ties: pessimistic rank 3.
    assert relevant_ranks(scores, relevant).tolist() == [[3.0]]


def test_constant_scores_put_the_relevant_item_last_not_first():
    ranks = relevant_ranks(np.zeros((1, 4)), np.array([[True, False, False, False]]))
    assert ranks.tolist() == [[4.0]]


def test_nan_scores_count_against_the_relevant_item_in_every_metric():
    relevant = np.array([[True, False, False], [False, True, False]])
    scores = np.array([[np.nan, 0.2, 0.1], [np.nan, 0.9, 0.1]])  # a NaN relevant score; a NaN competitor
    assert relevant_ranks(scores, relevant).tolist() == [[3.0], [2.0]]
    assert relevant_ranks(np.array([[0.5, np.nan, 0.9]]), np.array([[True, True, False]])).tolist() == [[2.0, 3.0]]
    assert top_k_accuracy(scores, [0, 1], 1) == 0.0
    assert top_k_accuracy(np.full((2, 3), np.nan), [0, 1], 2) == 0.0
    nan = np.full((4, 4), np.nan)
    assert all(v == 0.0 for k, v in retrieval_metrics(nan, np.arange(4)).items() if k.endswith("/R@1"))
    one_lost = np.eye(4)
    one_lost[0] = np.nan
    metrics = retrieval_metrics(one_lost, np.arange(4))
    assert metrics["audio_to_text/R@1"] == 75.0 and metrics["text_to_audio/R@1"] == 0.0


def test_relevant_items_tied_with_each_other_take_consecutive_ranks():
    scores = np.array([[0.7, 0.7, 0.9, 0.1]])
    relevant = np.array([[True, True, False, False]])
    assert relevant_ranks(scores, relevant).tolist() == [[2.0, 3.0]]


def test_top_k_accuracy_by_hand_with_a_tie():
    scores = np.array([[0.1, 0.9, 0.3], [0.5, 0.5, 0.0], [0.2, 0.1, 0.7]])
    targets = [1, 0, 0]
    # row 0 rank 1; row 1 tie with class 1 → rank 2; row 2 rank 2.
    assert top_k_accuracy(scores, targets, 1) == pytest.approx(100 / 3)
    assert top_k_accuracy(scores, targets, 2) == pytest.approx(100.0)


def test_single_relevant_average_precision_is_reciprocal_rank_within_k():
    ranks = np.array([[1.0], [4.0], [11.0]])
    assert average_precision_at_k(ranks, 10).tolist() == pytest.approx([1.0, 0.25, 0.0])


def test_average_precision_with_two_relevant_items():
    # relevant at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision_at_k(np.array([[1.0, 3.0]]), 10)[0] == pytest.approx((1 + 2 / 3) / 2)


def test_five_caption_average_precision_divides_by_five_as_clap_does():
    # ranks 1, 2, 5 inside the top 10, 11 and 12 outside: (1/1 + 2/2 + 3/5) / 5
    ranks = np.array([[1.0, 2.0, 5.0, 11.0, 12.0]])
    assert average_precision_at_k(ranks, 10)[0] == pytest.approx((1 + 1 + 0.6) / 5)


def test_mean_average_precision_at_one_is_precision_at_one():
    ranks = np.array([[1.0, 4.0], [2.0, 3.0]])
    assert average_precision_at_k(ranks, 1).tolist() == [1.0, 0.0]


def test_classification_metrics_by_hand():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.1, 0.8, 0.4]])
    metrics = classification_metrics(scores, [0, 1, 2])
    # ranks 1, 2, 2 → top-1 1/3; mAP@10 = (1 + 1/2 + 1/2) / 3
    assert metrics["top1_accuracy"] == pytest.approx(100 / 3)
    assert metrics["mAP@10"] == pytest.approx(100 * 2 / 3)
    assert "top5_accuracy" not in metrics  # only 3 classes


def test_multilabel_map_at_one():
    scores = np.array([[0.9, 0.8, 0.1], [0.1, 0.2, 0.3]])
    relevant = np.array([[False, True, True], [True, True, False]])
    metrics = multilabel_metrics(scores, relevant, map_k=(1, 10))
    assert metrics["mAP@1"] == pytest.approx(0.0)
    # row 0: relevant at ranks 2, 3 → (1/2 + 2/3)/2; row 1: ranks 2, 3 → same
    assert metrics["mAP@10"] == pytest.approx(100 * (0.5 + 2 / 3) / 2)


def test_whole_set_retrieval_both_directions_with_two_captions_per_clip():
    # 2 clips, 4 captions; captions 0,1 → clip 0; captions 2,3 → clip 1.
    similarity = np.array(
        [
            [0.9, 0.1, 0.8, 0.2],  # clip 0: its captions rank 1 and 4
            [0.3, 0.6, 0.5, 0.4],  # clip 1: its captions rank 2 and 3
        ]
    )
    m = retrieval_metrics(similarity, [0, 0, 1, 1])
    assert m["audio_to_text/R@1"] == pytest.approx(50.0)
    assert m["audio_to_text/mean_rank"] == pytest.approx(1.5)
    assert m["audio_to_text/mAP@10"] == pytest.approx(100 * ((1 + 2 / 4) / 2 + (1 / 2 + 2 / 3) / 2) / 2)
    # text→audio: captions 0 ok (rank 1), 1 wrong (rank 2), 2 wrong (rank 2), 3 ok (rank 1)
    assert m["text_to_audio/R@1"] == pytest.approx(50.0)
    assert m["text_to_audio/R@5"] == pytest.approx(100.0)
    assert m["text_to_audio/median_rank"] == pytest.approx(1.5)
    assert m["text_to_audio/mAP@10"] == pytest.approx(100 * 0.75)


def test_retrieval_ranks_over_the_whole_set_not_per_batch():
    rng = np.random.default_rng(0)
    n = 300
    similarity = rng.standard_normal((n, n)) + 3 * np.eye(n)
    m = retrieval_metrics(similarity, np.arange(n))
    best = (similarity >= similarity.diagonal()[None, :]).sum(axis=0)
    assert m["text_to_audio/R@10"] == pytest.approx(100 * np.mean(best <= 10))
    assert m["text_to_audio/mean_rank"] == pytest.approx(best.mean())


def test_retrieval_rejects_captions_pointing_nowhere():
    with pytest.raises(ValueError):
        retrieval_metrics(np.zeros((2, 2)), [0, 2])


def test_caption_protocol_keeps_five_and_drops_short_clips():
    texts, owners, kept = caption_protocol([list("abcdef"), list("xy"), list("vwxyz")])
    assert texts == list("abcde") + list("vwxyz")
    assert owners.tolist() == [0] * 5 + [1] * 5
    assert kept.tolist() == [0, 2]


def _brute_force_attribute_only(groups, owners, key):
    """The mean of ``key`` over every ranking an attribute-only model can produce (all orders inside groups)."""
    import itertools

    n_text = len(owners)
    values = []
    # A clip's score: a large offset for the query's group plus a tie-free within-group order.
    text_to_audio = key.startswith("text_to_audio")  # permute the candidates of that direction only
    for order in itertools.permutations(range(len(groups) if text_to_audio else n_text)):
        similarity = np.zeros((len(groups), n_text))
        for i in range(len(groups)):
            for j in range(n_text):
                same = groups[i] == groups[owners[j]]
                similarity[i, j] = 100.0 * same - (order[i] if text_to_audio else order[j])
        values.append(retrieval_metrics(similarity, owners, ks=(1, 2, 3))[key])
    return float(np.mean(values))


@pytest.mark.parametrize(
    "key",
    ["text_to_audio/R@1", "text_to_audio/R@2", "text_to_audio/mAP@10", "text_to_audio/mean_rank",
     "audio_to_text/R@1", "audio_to_text/R@2", "audio_to_text/R@3", "audio_to_text/mean_rank"],
)  # fmt: skip
def test_attribute_only_baseline_is_the_exact_mean_over_every_within_group_ranking(key):
    from model.metrics import attribute_only_retrieval

    groups = ["en-f", "en-f", "en-f", "fr-m", "fr-m"]
    owners = [0, 1, 2, 2, 3, 4]  # clip 2 has two captions (audio→text with two relevant texts)
    exact = attribute_only_retrieval(groups, owners, ks=(1, 2, 3))
    if key in exact:
        assert exact[key] == pytest.approx(_brute_force_attribute_only(groups, owners, key))
    else:  # mAP needs one relevant candidate per query: text→audio only here
        assert key.startswith("audio_to_text")


def test_attribute_only_baseline_by_hand_and_chance():
    from model.metrics import attribute_only_retrieval, uniform_retrieval

    metrics = attribute_only_retrieval(["a", "a", "b", "b", "b", "b"], np.arange(6), ks=(1, 5))
    assert metrics["text_to_audio/R@1"] == pytest.approx(100 * (2 * 1 / 2 + 4 * 1 / 4) / 6)
    assert metrics["text_to_audio/R@5"] == 100.0
    assert uniform_retrieval(6, np.arange(6), ks=(1, 5))["text_to_audio/R@5"] == pytest.approx(100 * 5 / 6)
