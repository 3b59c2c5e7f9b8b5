"""Splits against cases worked out by hand: which ratings each user keeps for testing, the defaults, k-fold's
edges."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.errors import EmptyDataError, ParameterError
from recengine.evaluation.split import holdout_per_user, holdout_random, holdout_temporal, kfold

# User 0 rated items 0..4 at times 50, 10, 40, 20, 30; user 1 items 0, 1 at times 5, 6; user 2 item 2 at 7.
USERS = np.array([0, 0, 0, 0, 0, 1, 1, 2])
ITEMS = np.array([0, 1, 2, 3, 4, 0, 1, 2])
TIMES = np.array([50, 10, 40, 20, 30, 5, 6, 7])


def data() -> RatingsDataset:
    return RatingsDataset(
        USERS, ITEMS, np.arange(1.0, 9.0) % 5 + 1, np.arange(3), np.arange(5), timestamps=TIMES
    )


def pairs(side: RatingsDataset) -> set[tuple[int, int]]:
    return set(zip(side.user_codes.tolist(), side.item_codes.tolist(), strict=True))


def test_temporal_holdout_by_hand():
    # Share 0.4: user 0 round(0.4·5) = 2 latest (times 50 and 40: items 0 and 2); user 1 round(0.8) = 1, at most
    # 2 − 1 = 1: item 1 (time 6); user 2 round(0.4) = 0.
    train, test = holdout_temporal(data(), 0.4)
    assert pairs(test) == {(0, 0), (0, 2), (1, 1)}
    assert len(train) == 5
    # Share 0.9: user 0 round(4.5) = 4 (all but the earliest, item 1); user 1 at most 1; user 2 none (keeps 1).
    _, test = holdout_temporal(data(), 0.9)
    assert pairs(test) == {(0, 0), (0, 2), (0, 3), (0, 4), (1, 1)}


def test_per_user_holdout_takes_each_users_share():
    # Share 0.4 of 5, 2 and 1 ratings: 2, 1 and 0 go to test, whichever the seed draws.
    for seed in range(5):
        _, test = holdout_per_user(data(), 0.4, seed=seed)
        assert np.bincount(test.user_codes, minlength=3).tolist() == [2, 1, 0]


def test_the_defaults_are_a_fifth_and_seed_0():
    big = RatingsDataset(
        np.arange(100) % 10, np.arange(100) // 10, np.ones(100), np.arange(10), np.arange(10)
    )
    train, test = holdout_random(big)
    assert len(test) == 20
    assert pairs(test) == pairs(holdout_random(big, 0.2, seed=0)[1])
    assert "random 0.2" in train.name and "random 0.2" in test.name
    train, test = holdout_per_user(big)
    assert np.bincount(test.user_codes).tolist() == [2] * 10
    assert pairs(test) == pairs(holdout_per_user(big, 0.2, seed=0)[1])
    assert "per-user 0.2" in test.name
    folds = list(kfold(big))
    assert len(folds) == 5 and [len(t) for _, t in folds] == [20] * 5
    assert [pairs(t) for _, t in folds] == [pairs(t) for _, t in kfold(big, 5, seed=0)]
    assert [t.name.split("(")[-1] for _, t in folds] == [f"fold {n}/5)" for n in range(1, 6)]


def test_kfold_takes_2_to_n_folds():
    assert len(list(kfold(data(), 2))) == 2
    singles = list(kfold(data(), 8))
    assert sorted(len(t) for _, t in singles) == [1] * 8
    for k in (1, 9):
        with pytest.raises(ParameterError):
            list(kfold(data(), k))


def test_temporal_ties_are_broken_by_the_seed_and_the_defaults_are_a_fifth_and_seed_0():
    # One user's 40 ratings at one time: which 8 (a fifth) are the latest is the seed's draw, the same every
    # time; seed 0 by default.
    tied = RatingsDataset(np.zeros(40, int), np.arange(40), np.ones(40), np.arange(1), np.arange(40),
                          timestamps=np.full(40, 100))  # fmt: skip
    train, test = holdout_temporal(tied)
    assert len(test) == 8 and "temporal 0.2" in train.name and "temporal 0.2" in test.name
    assert pairs(test) == pairs(holdout_temporal(tied, 0.2, seed=0)[1])
    assert pairs(holdout_temporal(tied, 0.2, seed=3)[1]) == pairs(holdout_temporal(tied, 0.2, seed=3)[1])
    assert pairs(holdout_temporal(tied, 0.2, seed=3)[1]) != pairs(test)


@pytest.mark.parametrize("share", [0.0, 1.0, 1.5, -0.2])
def test_a_share_outside_zero_to_one_is_refused(share):
    for split in (holdout_random, holdout_per_user, holdout_temporal):
        with pytest.raises(ParameterError):
            split(data(), share)


def test_two_ratings_split_one_and_one():
    two = RatingsDataset(np.array([0, 1]), np.array([0, 0]), np.array([4.0, 2.0]), np.arange(2), np.arange(1))
    train, test = holdout_random(two, 0.5)
    assert len(train) == 1 and len(test) == 1
    with pytest.raises(EmptyDataError):
        holdout_random(two.subset(np.array([0])), 0.5)
