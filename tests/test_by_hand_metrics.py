"""Ranking metrics at k against cases worked out by hand, chosen so that a wrong formula gives another number:
more relevant items than k (MAP's min(R, k), NDCG's ideal DCG truncated at k), fewer than k, a hit exactly at
the cutoff and one just past it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.evaluation.metrics import (
    capped_recall_at_k,
    catalogue_coverage,
    hit_rate_at_k,
    map_at_k,
    mean_popularity,
    most_popular,
    ndcg_at_k,
    novelty,
    precision_at_k,
    ranking_report,
    recall_at_k,
)

# |R| = 5 > k = 3. The list a b c d e; relevant a c d y z: hits at ranks 1 and 3 (c, exactly at the cutoff);
# d at rank 4 is past it.
MANY = (["a", "b", "c", "d", "e"], {"a", "c", "d", "y", "z"})
# |R| = 2 < k = 5. The list a b c d e; relevant b e: hits at ranks 2 and 5 (e, exactly at the cutoff).
FEW = (["a", "b", "c", "d", "e"], {"b", "e"})


def one(case: tuple, metric, k: int) -> float:
    return metric([case[0]], [case[1]], k)


def test_more_relevant_items_than_k():
    # precision = 2 hits / k 3 = 0.6667 (a cutoff at 2 would give 1/2; counting d as well 3/3)
    assert one(MANY, precision_at_k, 3) == pytest.approx(2 / 3)
    # recall = 2 / |R| 5 = 0.4 (dividing by min(R, k) = 3 would give 0.6667)
    assert one(MANY, recall_at_k, 3) == pytest.approx(0.4)
    # Liang et al.'s recall divides by min(R, k) = 3: 2 / 3
    assert one(MANY, capped_recall_at_k, 3) == pytest.approx(2 / 3)
    # DCG = 1/log2(2) + 1/log2(4) = 1 + 0.5 = 1.5; ideal DCG truncated at k = 3:
    # 1 + 1/log2(3) + 1/log2(4) = 1 + 0.63093 + 0.5 = 2.13093, so NDCG = 0.70392
    # (an ideal over all 5 relevant, + 1/log2(5) + 1/log2(6) = 2.94846, would give 0.50874)
    assert one(MANY, ndcg_at_k, 3) == pytest.approx(1.5 / (1 + 1 / np.log2(3) + 0.5))
    assert one(MANY, ndcg_at_k, 3) == pytest.approx(0.7039181, abs=1e-7)
    # AP = (P@1 · 1 + P@3 · 1) / min(R, k) = (1 + 2/3) / 3 = 0.5556 (÷ |R| = 5 would give 0.3333)
    assert one(MANY, map_at_k, 3) == pytest.approx(5 / 9)
    assert one(MANY, hit_rate_at_k, 3) == 1.0


def test_fewer_relevant_items_than_k():
    # precision = 2 / 5 = 0.4; recall = 2 / 2 = 1 (a cutoff at 4 would lose e: 0.2 and 0.5)
    assert one(FEW, precision_at_k, 5) == pytest.approx(0.4)
    assert one(FEW, recall_at_k, 5) == pytest.approx(1.0)
    assert one(FEW, capped_recall_at_k, 5) == pytest.approx(1.0)
    # DCG = 1/log2(3) + 1/log2(6) = 0.63093 + 0.38685 = 1.01778; ideal = 1 + 1/log2(3) = 1.63093 (two
    # relevant items, not k = 5 of them): NDCG = 0.62405
    assert one(FEW, ndcg_at_k, 5) == pytest.approx(0.6240505, abs=1e-7)
    # AP = (P@2 + P@5) / min(R, k) = (1/2 + 2/5) / 2 = 0.45 (÷ k = 5 would give 0.18)
    assert one(FEW, map_at_k, 5) == pytest.approx(0.45)


def test_the_mean_is_over_users_and_a_user_without_a_hit_counts_zero():
    lists, relevant = [MANY[0], FEW[0], ["p", "q"]], [MANY[1], FEW[1], {"x"}]
    # k = 3: user 1 as above (AP 5/9); user 2 hits b at rank 2 only: AP = (1/2) / min(2, 3) = 1/4; user 3: 0
    assert map_at_k(lists, relevant, 3) == pytest.approx((5 / 9 + 1 / 4 + 0) / 3)
    # user 2's NDCG at 3: (1/log2(3)) / (1 + 1/log2(3)) = 0.38685
    ndcg_two = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert ndcg_at_k(lists, relevant, 3) == pytest.approx((0.7039181 + ndcg_two + 0) / 3, abs=1e-7)
    assert hit_rate_at_k(lists, relevant, 3) == pytest.approx(2 / 3)
    # the short list ["p", "q"] counts its empty third place as a miss: precision (2/3 + 1/3 + 0) / 3
    assert precision_at_k(lists, relevant, 3) == pytest.approx(1 / 3)


def test_one_relevant_item_at_each_place():
    # NDCG of one relevant item at rank r of k = 4 is 1/log2(r + 1); AP is 1/r
    for rank in range(1, 5):
        items = ["x"] * (rank - 1) + ["hit"] + ["y"] * (4 - rank)
        assert ndcg_at_k([items], [{"hit"}], 4) == pytest.approx(1 / np.log2(rank + 1))
        assert map_at_k([items], [{"hit"}], 4) == pytest.approx(1 / rank)
    assert ndcg_at_k([["x", "x", "x", "x", "hit"]], [{"hit"}], 4) == 0.0


def test_the_default_cutoffs_are_10_and_20():
    # Items 1..21, relevant 11 and 21: nothing in the top 10; in the top 20 item 11, 1 of min(20, 2).
    items, relevant = [list(range(1, 22))], [{11, 21}]
    for metric in (precision_at_k, recall_at_k, ndcg_at_k, map_at_k, hit_rate_at_k):
        assert metric(items, relevant) == 0.0
    assert capped_recall_at_k(items, relevant) == pytest.approx(0.5)


def test_empty_inputs_give_zero_or_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert capped_recall_at_k([[1, 2]], [set()], 2) == 0.0  # nothing relevant: 0 of at least 1
        assert catalogue_coverage([], 0) == 0.0
        assert np.isnan(mean_popularity([[]], np.array([3, 1])))
        assert np.isnan(novelty([[]], np.array([3, 1]), 4))


def popular_case() -> tuple[RatingsDataset, RatingsDataset]:
    """Train: u0 rated items 0, 1, 2; u1 0, 1; u2 0; u3 0; u4 nothing (item counts 4, 2, 1, 0, 0, 0).
    Test: u0 item 3 at 5 stars, u1 item 2 at 4 (relevant); u2 item 1 at 2 (not)."""
    train_pairs = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (3, 0)]
    test_rows = [(0, 3, 5.0), (1, 2, 4.0), (2, 1, 2.0)]
    users = [u for u, _ in train_pairs] + [u for u, _, _ in test_rows]
    items = [i for _, i in train_pairs] + [i for _, i, _ in test_rows]
    ratings = [3.0] * len(train_pairs) + [r for _, _, r in test_rows]
    data = RatingsDataset(users, items, ratings, np.arange(5), np.arange(6), scale=RatingScale(1, 5, 1))
    is_test = np.arange(len(users)) >= len(train_pairs)
    return data.subset(~is_test), data.subset(is_test)


def test_ranking_report_lists_everyone_with_training_ratings():
    train, test = popular_case()
    report = ranking_report(most_popular(train), train, test, k=1)
    # Lists of 1 (most rated first, ties to the lower code, training items left out): u0 [3], u1 [2], u2 [1],
    # u3 [1]; u4, with no training rating and nothing to find, is not listed. Evaluated: u0 and u1, both hit.
    assert report["precision@1"] == 1.0 and report["users"] == 2 and report["k"] == 1
    assert report["coverage"] == pytest.approx(3 / 6)  # items 1, 2, 3
    assert report["mean_popularity"] == pytest.approx((0 + 1 + 2 + 2) / 4)
    # novelty −log2(max(n_i, 1) / 5 users): items 3 and 2 log2 5 = 2.32193, item 1 log2 2.5 = 1.32193 (twice)
    assert report["novelty"] == pytest.approx((2 * np.log2(5) + 2 * np.log2(2.5)) / 4)
    assert report["relevance_threshold"] == 4.0
    assert "sampled_from" not in report
    assert ranking_report(most_popular(train), train, test)["k"] == 10  # the default cutoff
    assert "precision@10" in ranking_report(most_popular(train), train, test)


def test_a_sample_draws_distinct_users_with_seed_0_by_default():
    train, test = popular_case()
    model = most_popular(train)
    assert ranking_report(model, train, test, k=1, max_users=3) == ranking_report(
        model, train, test, k=1, max_users=3, seed=0
    )
    # Three distinct users of u0..u3, whose listed items have 0, 1, 2, 2 ratings: a mean of 1, 4/3 or 5/3.
    for seed in range(10):
        report = ranking_report(model, train, test, k=1, max_users=3, seed=seed)
        assert report["sampled_from"] == 4
        assert min(abs(report["mean_popularity"] - m) for m in (1, 4 / 3, 5 / 3)) < 1e-12


def test_novelty_of_a_data_set_with_one_user():
    # One user who rated items 0 and 1; the list of 1 is item 2 (0 ratings, counted as 1): −log2(1 / 1) = 0.
    data = RatingsDataset([0, 0, 0], [0, 1, 2], [3.0, 3.0, 5.0], np.arange(1), np.arange(3))
    train, test = data.subset(np.array([True, True, False])), data.subset(np.array([False, False, True]))
    assert ranking_report(most_popular(train), train, test, k=1)["novelty"] == 0.0
