"""The new-user split by hand at its edges: the user shares are of the people with ratings, held-out people
with too few ratings for a whole-number ``given`` are left out one by one (not the rest with them), a bad
share is refused by its setting's name, and a long plain list is the top of a full sort."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.errors import ParameterError
from recengine.evaluation.newuser import split_new_users, top_n


def ratings_per_user(counts: list[int], n_users: int) -> RatingsDataset:
    """User u rates items 0 … counts[u] − 1 (5, 4, 3, 2, 1, 5, …); users from len(counts) on rate nothing."""
    users = [u for u, count in enumerate(counts) for _ in range(count)]
    items = [i for count in counts for i in range(count)]
    return RatingsDataset(
        users, items, [5.0 - i % 5 for i in items], np.arange(n_users), np.arange(max(counts))
    )


def test_the_user_shares_are_of_the_people_with_ratings():
    # 10 people with one rating, 10 with five, 20 with none: a tenth of the 20 people with ratings is 2 for
    # validation and 2 for test (a person with one rating is held out with nothing given); the 16 others train.
    data = ratings_per_user([1] * 10 + [5] * 10, 40)
    for seed in range(3):
        split = split_new_users(data, validation=0.1, test=0.1, seed=seed)
        assert len(split.validation) == 2 and len(split.test) == 2
        assert len(np.unique(split.train.user_codes)) == 16
        held_out = np.concatenate([split.validation.users, split.test.users])
        assert (data.user_counts()[held_out] > 0).all()


def test_people_with_too_few_ratings_are_left_out_one_by_one():
    # 40 people with 2 or 6 ratings in turn; given 3 ratings, the held-out people with 2 have nothing to find
    # and are left out, every one with 6 is kept.
    data = ratings_per_user([2, 6] * 20, 40)
    split = split_new_users(data, given=3, validation=0.2, test=0.2, seed=1)
    held_out = np.setdiff1d(np.arange(40), split.train.user_codes)
    kept = np.concatenate([split.validation.users, split.test.users])
    assert sorted(kept.tolist()) == [u for u in held_out.tolist() if u % 2 == 1]
    assert 0 < len(kept) < len(held_out)
    assert all(len(codes) == 3 for codes, _ in split.test.given)


@pytest.mark.parametrize("setting", ["validation", "test"])
def test_a_bad_user_share_is_refused_by_its_name(setting):
    data = ratings_per_user([5] * 20, 20)
    for share in (0.0, 0.5):
        with pytest.raises(ParameterError) as caught:
            split_new_users(data, **{setting: share})
        assert caught.value.name.split()[0] == setting


def test_the_plain_list_of_300_of_500_is_the_top_of_a_full_sort():
    # A long list out of a partial sort: every one of the 300 best, in order (NumPy's selection with its
    # pivot one place early leaves one of them out for these scores).
    scores = np.random.default_rng(47).normal(size=500)
    assert list(top_n(scores, None, None, 300)) == list(np.argsort(-scores, kind="stable")[:300])
