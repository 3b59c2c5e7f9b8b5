"""Ranking metrics at k against cases worked out by hand, chosen so that a wrong formula gives another number:
more relevant items than k (MAP's min(R, k), NDCG's ideal DCG truncated at k), fewer than k, a hit exactly at
the cutoff and one just past it."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.evaluation.metrics import (
    capped_recall_at_k,
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
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
