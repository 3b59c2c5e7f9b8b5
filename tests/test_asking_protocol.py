"""The asking protocol's films to find (`recengine.evaluation.asking.measure_interviews`): the same rule in
every arm, a film rated in an answer or a pick is neither one to find nor on the list."""

from __future__ import annotations

import numpy as np

from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.evaluation.asking import Interviews, measure_interviews, self_picked
from recengine.evaluation.newuser import HeldOutUsers

# Train people ann and bob rated films 10, 20, 30 (codes 0, 1, 2); the held-out person (code 2 of the whole
# set) rated 10 and 20 at 5 stars: both liked.
FILMS = np.array([0, 1, 2])
SCORES = np.array([3.0, 2.0, 1.0])  # film 10 first, then 20, then 30


def train_and_person():
    train = RatingsDataset.from_columns(np.array(["ann"] * 3 + ["bob"] * 3), np.array([10, 20, 30] * 2),
                                        np.full(6, 3.0, np.float32), scale=RatingScale(1, 5, 1))  # fmt: skip
    liked = np.array([0, 1])
    people = HeldOutUsers(np.array([2]), [(np.empty(0, np.int64), np.empty(0))], [liked], [liked], 4.0)
    return train, people


def ndcg_after(interviews, people, train):
    report = measure_interviews(interviews, people, train, lambda codes, ratings: SCORES.copy(),
                                genres=np.ones((3, 1)))  # fmt: skip
    return report[interviews.checkpoints[0]]


def test_a_film_rated_in_an_answer_is_neither_to_find_nor_listed():
    train, people = train_and_person()
    # asked about 10 (rated 5) and 30 (not seen): 20 is left to find and now tops the list, NDCG 1; were 10
    # still to find (ideal DCG 1 + 1/log2 3) or still listed (20 second), NDCG would be below 1
    asked = Interviews((2,), {2: [(np.array([0]), np.array([5.0]))]}, {2: [1]}, [])
    report = ndcg_after(asked, people, train)
    assert report["ndcg@100"] == 1.0
    assert report["answerable"] == 0.5


def test_a_self_picked_film_follows_the_same_rule():
    train, people = train_and_person()
    rated = [(np.array([0, 1]), np.array([5.0, 5.0]))]
    for seed in range(4):  # whichever of the two is picked, the other is to find and tops the list
        picked = self_picked(train, rated, weighted=False, seed=seed, checkpoints=(1,))
        report = ndcg_after(picked, people, train)
        assert report["ndcg@100"] == 1.0
        assert report["answerable"] == 1.0
