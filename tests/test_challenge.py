"""A challenge's parts and scores: public and private parts split the test side by user, once; scores are
the measure computed directly (by hand on a tiny data set)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.data.synthetic import movielens_like
from recengine.errors import ParameterError
from recengine.evaluation.challenge import (
    Challenge,
    ChallengeError,
    ChallengeSpec,
    better,
    beyond_chance,
    held_out_share,
    public_mask,
    winners_curse,
)
from recengine.evaluation.metrics import recall_at_k, top_k_lists
from recengine.evaluation.split import split_by_spec
from recengine.models import make

# Four users with held-out ratings (temporal:0.5 holds out each one's latest half) and 14 users with one
# rating each (never held out) who make the training counts of items 0..5 distinct: 4, 3, 6, 1, 5, 2.
TESTED = [  # (user, item, rating, time)
    (0, 0, 5, 1), (0, 1, 4, 2), (0, 2, 3, 3), (0, 3, 5, 4),
    (1, 0, 4, 1), (1, 1, 4, 2), (1, 4, 5, 3), (1, 5, 2, 4),
    (2, 0, 3, 1), (2, 2, 4, 2),
    (3, 0, 5, 1), (3, 1, 3, 2), (3, 3, 4, 3), (3, 4, 4, 4),
]  # fmt: skip
SINGLE_ITEMS = [2] * 6 + [3] + [4] * 5 + [5] * 2
# Held out (latest half): u0 items 2 (3★), 3 (5★); u1 items 4 (5★), 5 (2★); u2 item 2 (4★); u3 items 3, 4 (4★).
# A constant prediction of 3: squared errors per user.
SQUARED_ERRORS_OF_3 = {0: [0, 4], 1: [4, 1], 2: [1], 3: [1, 1]}
# Most popular ranks 2, 4, 0, 1, 5, 3 (training counts 6, 5, 4, 3, 2, 1), leaving out what each user trained on;
# relevant is a held-out rating ≥ 4.
NDCG_AT_10 = {
    0: 1 / math.log2(5),  # list 2, 4, 5, 3: item 3 at rank 4
    1: 1 / math.log2(3),  # list 2, 4, 5, 3: item 4 at rank 2
    2: 1.0,  # list 2, 4, 1, 5, 3: item 2 at rank 1
    3: (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)),  # items 4 and 3 at ranks 2 and 4
}


def tiny() -> RatingsDataset:
    singles = [(4 + n, item, 3, 1) for n, item in enumerate(SINGLE_ITEMS)]
    users, items, ratings, times = map(np.array, zip(*TESTED, *singles, strict=True))
    return RatingsDataset(
        users, items, ratings.astype(float), np.arange(users.max() + 1), np.arange(6), timestamps=times
    )


def spec(**changes) -> ChallengeSpec:
    values = {
        "split": "temporal:0.5",
        "measure": "ndcg@10",
        "models": ("popular", "baseline"),
        "deadline": 1e10,
    }
    return ChallengeSpec(**values | changes)


class Constant:
    """A rating model predicting 3 for everyone."""

    kind = "rating"
    name = "constant"

    def predict(self, users, items):
        return np.full(len(users), 3.0)


def public_users(challenge: Challenge) -> list[int]:
    return sorted(set(challenge.public.user_codes.tolist()))


def test_the_parts_split_the_held_out_users_in_two():
    challenge = Challenge(tiny(), spec())
    assert challenge.train.n_ratings + challenge.public.n_ratings + challenge.private.n_ratings == 28
    assert len(public_users(challenge)) == 2  # half of the four held-out users
    private = sorted(set(challenge.private.user_codes.tolist()))
    assert sorted(public_users(challenge) + private) == [0, 1, 2, 3]


def test_rmse_on_each_part_is_the_hand_computed_one():
    challenge = Challenge(tiny(), spec(measure="rmse", models=("baseline",)))
    public = public_users(challenge)
    private = [user for user in range(4) if user not in public]
    for part, users in (("public", public), ("private", private)):
        errors = [e for user in users for e in SQUARED_ERRORS_OF_3[user]]
        assert challenge.score(Constant(), part) == pytest.approx(math.sqrt(np.mean(errors)))


def test_ndcg_on_each_part_is_the_hand_computed_one():
    challenge = Challenge(tiny(), spec(measure="ndcg@10"))
    model = make("popular").fit(challenge.train)
    scores = challenge.scores(model)
    public = public_users(challenge)
    private = [user for user in range(4) if user not in public]
    assert scores["public"] == pytest.approx(np.mean([NDCG_AT_10[u] for u in public]))
    assert scores["private"] == pytest.approx(np.mean([NDCG_AT_10[u] for u in private]))


def test_a_ranking_model_is_refused_an_rmse_score():
    challenge = Challenge(tiny(), spec(measure="rmse", models=("baseline",)))
    with pytest.raises(ChallengeError, match="predicts no ratings"):
        challenge.score(make("popular").fit(challenge.train), "public")


@pytest.fixture(scope="module")
def larger() -> RatingsDataset:
    frame = movielens_like(150, 120, 4000, seed=4, timestamps=True)
    return RatingsDataset.from_frame(frame, user="userId", item="movieId", timestamp="timestamp")


def pairs(data: RatingsDataset) -> set[tuple[int, int]]:
    return set(zip(data.user_codes.tolist(), data.item_codes.tolist(), strict=True))


@pytest.mark.parametrize("split", ["user:0.2", "temporal:0.3"])
def test_parts_are_disjoint_cover_the_test_side_and_come_back_the_same(larger, split):
    challenge = Challenge(larger, spec(split=split))
    train, test = split_by_spec(larger, split, seed=0)
    assert pairs(challenge.train) == pairs(train)
    assert not pairs(challenge.public) & pairs(challenge.private)
    assert pairs(challenge.public) | pairs(challenge.private) == pairs(test)
    assert not set(challenge.public.user_codes.tolist()) & set(challenge.private.user_codes.tolist())
    again = Challenge(larger, spec(split=split))
    assert pairs(again.public) == pairs(challenge.public)
    given = Challenge(larger, spec(split=split), sides=(train, test))  # sides from a cache: the same parts
    assert pairs(given.public) == pairs(challenge.public) and pairs(given.private) == pairs(challenge.private)


def test_recall_at_20_is_the_metric_computed_from_the_lists(larger):
    challenge = Challenge(larger, spec(split="user:0.2", measure="recall@20", models=("popular",)))
    model = make("popular").fit(challenge.train)
    for part in ("public", "private"):
        held_out = challenge.part(part)
        relevant = {}
        for user, item, rating in zip(
            held_out.user_codes, held_out.item_codes, held_out.ratings, strict=True
        ):
            if rating >= 4:
                relevant.setdefault(int(user), set()).add(int(item))
        users = np.array(sorted(relevant))
        lists, valid = top_k_lists(model, challenge.train, users, 20)
        recommended = [row[ok].tolist() for row, ok in zip(lists, valid, strict=True)]
        expected = recall_at_k(recommended, [relevant[u] for u in users], k=20)
        assert challenge.score(model, part) == pytest.approx(expected)


def test_public_mask_takes_whole_users_with_a_fixed_seed():
    codes = np.array([5, 5, 7, 9, 9, 9, 11])
    mask = public_mask(codes, 0.5, seed=1)
    chosen = set(codes[mask].tolist())
    assert len(chosen) == 2 and not chosen & set(codes[~mask].tolist())
    assert (public_mask(codes, 0.5, seed=1) == mask).all()
    assert public_mask(codes, 0.01, seed=1).any() and not public_mask(codes, 0.99, seed=1).all()


def test_spec_refuses_what_a_challenge_cannot_be():
    with pytest.raises(ParameterError, match="user:FRACTION or temporal:FRACTION"):
        spec(split="random:0.2")
    with pytest.raises(ParameterError, match="measure"):
        spec(measure="mae")
    with pytest.raises(ParameterError, match="at least one"):
        spec(models=())
    with pytest.raises(ParameterError, match="knn"):
        spec(models=("sgd", "knn"))
    with pytest.raises(ParameterError, match="rating models for RMSE"):
        spec(measure="rmse", models=("sgd", "wals"))
    assert spec(split="user:.20").split == "user:0.2"
    assert ChallengeSpec.from_dict(spec().to_dict()) == spec()


def test_a_run_must_be_an_allowed_model():
    spec(split="user:0.2", seed=3).check_model("popular")
    with pytest.raises(ChallengeError, match="accepts popular, baseline"):
        spec(split="user:0.2", seed=3).check_model("sgd")


def test_held_out_share_matches_pairs_by_raw_ids():
    """By hand: held out (u1, a), (u1, b), (u2, a), (u3, c); another copy, coded in another order and
    without u3, tests (u1, b), (u2, a) and (u2, b): two of the four held-out pairs."""

    def ratings(users, items):
        return RatingsDataset.from_frame(
            pd.DataFrame({"u": users, "i": items, "r": [4.0] * len(users)}), user="u", item="i", rating="r"
        )

    held_out = ratings(["u1", "u1", "u2", "u3"], ["a", "b", "a", "c"])
    test = ratings(["u2", "u2", "u1"], ["b", "a", "b"])
    assert held_out_share(held_out, test) == 0.5
    assert (
        held_out_share(held_out, held_out) == 1.0
        and held_out_share(test.subset(np.zeros(3, bool)), test) == 0
    )
    assert held_out_share(held_out, test.subset(np.zeros(3, bool))) == 0.0


def test_a_larger_temporal_share_holds_out_a_superset_a_user_split_its_own_share():
    frame = movielens_like(150, 120, 4000, seed=5)
    frame["timestamp"] = np.random.default_rng(1).integers(0, 10**6, len(frame))
    data = RatingsDataset.from_frame(frame, user="userId", item="movieId", timestamp="timestamp")
    _, held_out = split_by_spec(data, "temporal:0.2", 9)
    for split, seed, low, high in (("temporal:0.25", 0, 0.97, 1.0), ("user:0.2", 1, 0.15, 0.3)):
        _, test = split_by_spec(data, split, seed)
        share = held_out_share(held_out, test)
        assert low <= share <= high
        assert beyond_chance(share, test.n_ratings / data.n_ratings) == split.startswith("temporal")


def test_better_follows_the_measure():
    assert better(spec(measure="rmse", models=("baseline",)), 0.8, 0.9) and not better(
        spec(measure="ndcg@10"), 0.8, 0.9
    )


def test_the_winners_curse_by_hand():
    # RMSE: entry 0 wins the public part (0.80) but is last on the private one (0.95): 0.15 optimistic.
    curse = winners_curse([0.80, 0.85, 0.90], [0.95, 0.86, 0.91], lower_is_better=True, top=2)
    assert (curse.winner, curse.private_rank, curse.top) == (0, 3, 2)
    assert curse.optimism == pytest.approx(0.15)
    assert curse.mean_optimism == pytest.approx((0.15 + 0.01) / 2)
    # NDCG (higher is better): entry 1 wins with 0.40, is 0.30 on the private part, second there.
    curse = winners_curse([0.30, 0.40, 0.20], [0.35, 0.30, 0.10], lower_is_better=False)
    assert (curse.winner, curse.private_rank) == (1, 2)
    assert curse.optimism == pytest.approx(0.10)
    assert curse.mean_optimism == pytest.approx((-0.05 + 0.10 + 0.10) / 3)
    with pytest.raises(ChallengeError, match="one public and one private"):
        winners_curse([0.1], [0.1, 0.2], lower_is_better=True)


def test_a_large_part_is_ranked_on_one_fixed_sample(larger, monkeypatch):
    from recengine.evaluation import challenge as module
    from recengine.evaluation.metrics import ranking_report

    monkeypatch.setattr(module, "MAX_RANKED_USERS", 40)
    challenge = Challenge(larger, spec(split="user:0.2", measure="ndcg@10", models=("popular",), seed=7))
    model = make("popular").fit(challenge.train)
    sampled = ranking_report(model, challenge.train, challenge.public, k=10, max_users=40, seed=7)
    other = ranking_report(model, challenge.train, challenge.public, k=10, max_users=40, seed=0)
    assert other["ndcg@10"] != sampled["ndcg@10"]  # the sample is the challenge's seed's
    assert sampled["sampled_from"] == 150
    assert challenge.score(model, "public") == pytest.approx(sampled["ndcg@10"])
    assert challenge.score(model, "public") == challenge.score(model, "public")


class ItemFour:
    """A rating model predicting 5 for item 4 and 3 for every other: its errors depend on the items asked."""

    kind = "rating"
    name = "item four"

    def predict(self, users, items):
        return np.where(np.asarray(items) == 4, 5.0, 3.0) + 0.0 * np.asarray(users)


def test_rmse_asks_the_model_for_each_held_out_pair():
    """As the constant's hand case, but user 1's item 4 (5★) is now predicted right: [0, 1] instead of [4, 1],
    and user 3's item 4 (4★) is off by one either way."""
    errors = {**SQUARED_ERRORS_OF_3, 1: [0, 1]}
    challenge = Challenge(tiny(), spec(measure="rmse", models=("baseline",)))
    public = public_users(challenge)
    for part, users in (("public", public), ("private", [u for u in range(4) if u not in public])):
        expected = math.sqrt(np.mean([e for user in users for e in errors[user]]))
        assert challenge.score(ItemFour(), part) == pytest.approx(expected)


def test_a_tie_is_not_better_under_either_measure():
    by_rmse, by_ndcg = spec(measure="rmse", models=("baseline",)), spec(measure="ndcg@10")
    assert not better(by_rmse, 0.8, 0.8) and not better(by_ndcg, 0.8, 0.8)
    assert better(by_rmse, 0.79, 0.8) and better(by_ndcg, 0.81, 0.8)


@pytest.mark.parametrize(
    ("share", "fraction", "beyond"),
    [(0.2, 0.2, False), (0.40, 0.2, False), (0.44, 0.2, False), (0.46, 0.2, True),
     (0.70, 0.5, False), (0.75, 0.5, False), (0.76, 0.5, True), (0.99, 0.5, True), (1.0, 0.9, True)],
)  # fmt: skip
def test_a_share_is_beyond_chance_past_the_fraction_plus_the_smaller_margin(share, fraction, beyond):
    """Beyond a blind split's own fraction f by more than f + 5 points (small f: 0.2 → 0.45), or than half
    the way to all (large f: 0.5 → 0.75). At the bound itself it is not beyond."""
    assert beyond_chance(share, fraction) is beyond


def test_held_out_share_counts_a_pair_only_when_both_its_ids_are_known():
    """Held out: (a, z) and (b, x). A test side rating b with an item the held-out side never saw shares
    nothing, though b's code times the width, less one, is the code of (a, z)."""
    held_out = RatingsDataset(
        np.array([0, 1]), np.array([1, 0]), np.array([4.0, 5.0]), np.array(["a", "b"]), np.array(["x", "z"])
    )
    test = RatingsDataset(np.array([0]), np.array([0]), np.array([3.0]), np.array(["b"]), np.array(["q"]))
    assert held_out_share(held_out, test) == 0.0
    unknown_user = RatingsDataset(
        np.array([0]), np.array([0]), np.array([3.0]), np.array(["c"]), np.array(["x"])
    )
    assert held_out_share(held_out, unknown_user) == 0.0


@pytest.mark.parametrize(("n_users", "share", "public"), [(2, 0.1, 1), (2, 0.9, 1), (3, 0.1, 1), (3, 0.9, 2)])
def test_public_mask_keeps_one_user_on_each_side(n_users, share, public):
    """Rounded, then at least one public user and at least one private (two users or more)."""
    codes = np.repeat(np.arange(n_users), 2)
    assert len(np.unique(codes[public_mask(codes, share, seed=5)])) == public


def test_the_winners_curse_gives_a_tie_to_the_earlier_entry_among_many():
    """Forty entries, public scores 0, 1 or 2 (lower is better), many tied at 0: the first of them (entry 4)
    wins, as a stable sort keeps them (NumPy's default sort does not, past 16 entries); four entries beat
    its private score."""
    public = [1, 1, 2, 2, 0, 0, 2, 2, 0, 0, 2, 1, 0, 2, 0, 1, 1, 1, 0, 0,
              2, 2, 2, 1, 2, 0, 1, 2, 0, 0, 0, 1, 2, 0, 1, 1, 2, 0, 1, 0]  # fmt: skip
    curse = winners_curse(public, np.arange(40.0), lower_is_better=True)
    assert (curse.winner, curse.private_rank, curse.optimism) == (4, 5, 4.0)
    assert curse.top == 5 and curse.mean_optimism == pytest.approx(
        (4 + 5 + 8 + 9 + 12) / 5
    )  # the first five 0s
