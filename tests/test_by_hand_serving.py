"""The new-user protocol and calibrated re-ranking against cases worked out by hand: relevant items past the
Recall@20 cutoff, more relevant items than 20, and a re-ranking whose λ decides between the model's score and
the genre term."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.errors import EmptyDataError, ParameterError
from recengine.evaluation.newuser import HeldOutUsers, evaluate_new_users, split_new_users, top_n
from recengine.serving.rerank import (
    CalibratedReranker,
    calibrated,
    distinctness,
    genre_background,
    normalised,
    personal_weight,
    taste_mix,
)

# --- the new-user protocol ------------------------------------------------------------------------------

N_ITEMS = 30
# Items alternate between two genres: even codes genre 0, odd codes genre 1.
GENRES = np.array([[1.0, 0.0] if i % 2 == 0 else [0.0, 1.0] for i in range(N_ITEMS)])


def protocol_train() -> RatingsDataset:
    """Three train users: user 0 rated items 0..28, user 1 the even ones, user 2 the multiples of 3; item 29
    nobody (so it is never a candidate). Item i has 1 + [i even] + [3 | i] train ratings."""
    pairs = (
        [(0, i) for i in range(29)] + [(1, i) for i in range(0, 29, 2)] + [(2, i) for i in range(0, 29, 3)]
    )
    users, items = np.array(pairs).T
    return RatingsDataset(users, items, np.full(len(pairs), 4.0), np.arange(3), np.arange(N_ITEMS))


def score_by_code(codes: np.ndarray, ratings: np.ndarray) -> np.ndarray:
    """Lower codes first; item 29 on top, but nobody rated it in training."""
    scores = -np.arange(N_ITEMS, dtype=np.float64)
    scores[29] = 100.0
    return scores


def test_new_user_protocol_by_hand():
    # Person A gave item 0 (5 stars); the list is items 1, 2, ..., 28 in that order (0 given, 29 unknown).
    # Relevant: 5, 20, 21, 25, at ranks 5, 20 (exactly the cutoff), 21 and 25 (past it).
    # Person B gave item 3; the list is 0, 1, 2, 4, 5, ..., 28; relevant: the 24 items 0..24 but 3, ranks 1..24.
    people = HeldOutUsers(
        users=np.array([10, 11]),
        given=[(np.array([0]), np.array([5.0])), (np.array([3]), np.array([5.0]))],
        relevant=[np.array([5, 20, 21, 25]), np.array([0, 1, 2, *range(4, 25)])],
        liked=[np.array([0, 5, 20, 21, 25]), np.arange(25)],
        threshold=4.0,
    )
    result = evaluate_new_users(score_by_code, people, protocol_train(), genres=GENRES)
    # Recall@20 ÷ min(20, R): A finds 5 and 20 of 4: 2/4 = 0.5 (a cutoff at 19 loses item 20: 0.25);
    # B finds 20 of 24: 20/min(20, 24) = 1 (÷ R would give 0.8333). Mean 0.75.
    assert result["recall@20"] == pytest.approx(0.75)
    # NDCG@100: A's DCG = 1/log2(6) + 1/log2(21) + 1/log2(22) + 1/log2(26) = 1.0515129, ideal over 4 items
    # = 1 + 1/log2(3) + 1/log2(4) + 1/log2(5) = 2.5616063: 0.4104897. B's relevant items fill ranks 1..24: 1.
    assert result["ndcg@100"] == pytest.approx((0.4104897 + 1.0) / 2, abs=1e-7)
    assert result["users"] == 2
    # The lists of 20: A {1..20}, B {0, 1, 2, 4..20}; together 21 of the 30 items, 0..20.
    assert result["coverage"] == pytest.approx(21 / 30)
    # Train ratings of what is listed: A's items add up to 36, B's to 37, over 40 places: 1.825.
    assert result["popularity"] == pytest.approx(73 / 40)
    # They share 19 items: 1 − 19 / √(20·20) = 0.05.
    assert result["personalization"] == pytest.approx(0.05)
    # Miscalibration with p from the given ratings: A p = (1, 0), list q = (0.5, 0.5), q̃₀ = 0.99·0.5 + 0.01
    # = 0.505, KL = ln(1/0.505) = 0.6831968; B p = (0, 1), q = (11/20, 9/20), q̃₁ = 0.99·0.45 + 0.01 = 0.4555,
    # KL = ln(1/0.4555) = 0.7863596.
    assert result["miscalibration"] == pytest.approx((0.6831968 + 0.7863596) / 2, abs=1e-7)
    # With p from everything liked: A (0.4, 0.6) against q̃ = (0.499, 0.501): 0.0197375; B (13/25, 12/25)
    # against q̃ = 0.99·(0.55, 0.45) + 0.01·p: 0.0017758.
    assert result["miscalibration_all"] == pytest.approx((0.0197375 + 0.0017758) / 2, abs=1e-7)


def test_a_person_with_nothing_to_find_is_listed_but_not_averaged():
    people = HeldOutUsers(
        users=np.array([10, 11]),
        given=[(np.array([0]), np.array([5.0])), (np.array([3]), np.array([5.0]))],
        relevant=[np.array([1]), np.array([], dtype=np.int64)],
        liked=[np.array([0, 1]), np.array([3])],
        threshold=4.0,
    )
    result = evaluate_new_users(score_by_code, people, protocol_train(), genres=GENRES)
    assert result["users"] == 1
    assert result["recall@20"] == 1.0  # item 1 at rank 1
    assert result["ndcg@100"] == 1.0
    assert result["coverage"] == pytest.approx(21 / 30)  # both lists count


# --- calibrated re-ranking ------------------------------------------------------------------------------

# Three candidates: item 0 (score 3) and item 1 (score 2) of genre A, item 2 (score 1) of genre B; the person
# likes both genres equally, p = (0.5, 0.5). By rank the pool's scores are s = 1, 2/3, 1/3.
SCORES = np.array([3.0, 2.0, 1.0])
TWO_GENRES = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
EVEN = np.array([0.5, 0.5])
# A list of one genre: q = (1, 0), q̃ = (0.995, 0.005), KL = 0.5 ln(0.5/0.995) + 0.5 ln(0.5/0.005) = 1.9585177.


def test_lambda_weighs_the_score_against_the_genre_term():
    # First pick: every single item has the same KL, so the best score, item 0. Second pick: item 1 keeps one
    # genre, (1 − λ)·2/3 − λ·1.9585; item 2 evens the mix (KL 0), (1 − λ)·1/3. Item 2 wins when
    # (1 − λ)/3 < 1.9585 λ, i.e. λ > 1/(1 + 3·1.9585) = 0.14544.
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 2, 0.10)) == [0, 1]
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 2, 0.16)) == [0, 2]
    # λ left off the score (s − λ KL) moves the switch to 1/(3·1.9585) = 0.1702: λ 0.16 would keep item 1;
    # λ left off the KL ((1 − λ) s − KL) switches at every λ: λ 0.10 would take item 2.
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 2, 0.0)) == [0, 1]
    # Just past the switch, λ 0.1458 (q̃ = 0.99 q + 0.01 p; with 1.01 q + 0.01 p, KL 1.9486, it would be 0.14607).
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 2, 0.1458)) == [0, 2]
    # α = 0.2: q̃ = (0.9, 0.1), KL = 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1) = 0.51083: the switch is at 1/(1 + 1.5325) = 0.3949.
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 2, 0.38, alpha=0.2)) == [0, 1]
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 2, 0.41, alpha=0.2)) == [0, 2]
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 3, 0.16)) == [0, 1, 2]


def test_the_greedy_part_stops_at_depth_and_the_rest_follows_by_score():
    # With depth 1 only item 0 is chosen for its genres; the rest follows in score order: 1, then 2.
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 3, 0.16, depth=1)) == [0, 1, 2]
    # −inf marks an item that may not be listed; a pool of 2 leaves item 2 out.
    assert list(calibrated(np.array([3.0, -np.inf, 1.0]), TWO_GENRES, EVEN, 2, 0.16)) == [0, 2]
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 3, 0.16, pool=2)) == [0, 1]


def test_scores_on_one_scale_by_hand():
    assert normalised(np.array([3.0, 1.0, 2.0]), "rank") == pytest.approx([1.0, 1 / 3, 2 / 3])
    assert normalised(np.array([3.0, 1.0, 2.0]), "minmax") == pytest.approx([1.0, 0.0, 0.5])
    assert normalised(np.array([2.0, 2.0]), "minmax") == pytest.approx([1.0, 1.0])


def test_minmax_scores_change_the_switch_point():
    # minmax: s = 1, 0.5, 0; item 2 wins the second place when (1 − λ)·0.5 < 1.9585 λ: λ > 0.20335.
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 2, 0.19, normalise="minmax")) == [0, 1]
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 2, 0.21, normalise="minmax")) == [0, 2]


def test_taste_mix_by_hand():
    genres = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    # Rated 5, 3, 4 with 4 the liked threshold: items 0 and 2 count, (1 + 0.5, 0 + 0.5) / 2 = (0.75, 0.25).
    assert taste_mix(np.array([0, 1, 2]), np.array([5.0, 3.0, 4.0]), genres, 4.0) == pytest.approx(
        [0.75, 0.25]
    )
    # None liked: all of them, (1.5, 1.5) / 3.
    assert taste_mix(np.array([0, 1, 2]), np.array([1.0, 2.0, 3.0]), genres, 4.0) == pytest.approx([0.5, 0.5])


def test_personal_weight_by_hand():
    taste, everyone = np.array([1.0, 0.0]), np.array([0.5, 0.5])
    # KL(p ‖ π) = ln 2 = 0.693147; the ramp (0.693147 − 0.5)/0.5 = 0.386294;
    # λ × (1/3 + 2/3 · 0.386294) = 0.9 × 0.590863 = 0.531777
    assert distinctness(taste, everyone) == pytest.approx(np.log(2))
    assert personal_weight(0.9, taste, everyone) == pytest.approx(
        0.9 * (1 / 3 + 2 / 3 * (np.log(2) - 0.5) / 0.5)
    )
    assert personal_weight(0.9, everyone, everyone) == pytest.approx(0.3)  # KL 0: a third
    assert personal_weight(0.9, taste, np.array([0.1, 0.9])) == pytest.approx(0.9)  # KL ln 10 > 1: all of it


def test_the_reranker_takes_the_taste_from_the_given_ratings():
    # Given item 0 at 5 stars and item 2 at 5: p = (0.5, 0.5), the case above.
    rerank = CalibratedReranker(TWO_GENRES, 0.16, 4.0)
    assert list(rerank(SCORES, np.array([0, 2]), np.array([5.0, 5.0]), 2)) == [0, 2]
    # Given item 2 at 1 star and item 0 at 5: only item 0 is liked, p = (1, 0): genre A all the way.
    assert list(rerank(SCORES, np.array([0, 2]), np.array([5.0, 1.0]), 2)) == [0, 1]
    # With everyone's mix π = p the person is mainstream: λ = 0.16/3 = 0.053 < 0.145, item 1 stays.
    mainstream = CalibratedReranker(TWO_GENRES, 0.16, 4.0, background=EVEN)
    assert list(mainstream(SCORES, np.array([0, 2]), np.array([5.0, 5.0]), 2)) == [0, 1]


def films(users: list[int], items: list[int]) -> RatingsDataset:
    """Three films: 0 a drama, 1 a comedy drama, 2 without genres."""
    table = pd.DataFrame(
        {"title": ["A", "B", "C"], "year": [2000, 2001, 2002], "genres": [["Drama"], ["Comedy", "Drama"], []]}
    )
    return RatingsDataset(users, items, np.full(len(users), 4.0), np.arange(3), np.arange(3), items=table)


def test_everyones_genre_mix_by_hand():
    # Film 0 rated twice, film 1 once, film 2 three times. Genres (Comedy, Drama): film 0 (0, 1), film 1
    # (0.5, 0.5), film 2 none: 2·(0, 1) + (0.5, 0.5) = (0.5, 2.5), normalised (1/6, 5/6).
    data = films([0, 1, 2, 0, 1, 2], [0, 0, 1, 2, 2, 2])
    assert genre_background(data) == pytest.approx([1 / 6, 5 / 6])
    assert genre_background(data) is genre_background(data)  # made once per data set
    # Only the film without genres rated: no genre mass, zeros rather than 0/0.
    assert list(genre_background(films([0, 1], [2, 2]))) == [0.0, 0.0]


def test_held_out_people_by_hand():
    # Users 0..9 rated items 0..4 (5 ratings each); user 10 rated items 0..2 (3 ratings). Shares of 10 % go to
    # validation and test: one user each; the rest train.
    users = [u for u in range(10) for _ in range(5)] + [10, 10, 10]
    items = [i for _ in range(10) for i in range(5)] + [0, 1, 2]
    ratings = [5.0, 4.0, 1.0, 2.0, 3.0] * 10 + [5.0, 4.0, 2.0]
    data = RatingsDataset(users, items, ratings, np.arange(11), np.arange(5))
    for seed in range(4):
        split = split_new_users(data, given=0.1, seed=seed)
        assert split.test.threshold == 4.0 and split.validation.threshold == 4.0
        for held in (split.validation, split.test):
            ((codes, _),) = held.given
            # 10 % of 5 (or 3) ratings rounds to 0: at least one is given, the rest are to find.
            assert len(codes) == 1 and codes.dtype == np.int64
            hidden = np.setdiff1d(np.arange(5 if held.users[0] < 10 else 3), codes)
            expected = hidden[np.isin(hidden, [0, 1])]  # items rated 4 or 5 among the hidden ones
            assert sorted(held.relevant[0]) == sorted(expected)
            assert sorted(held.liked[0]) == [0, 1]
    # Given 90 %: of 5 ratings 4 are given (round(4.5) = 4), of 3 ratings 2 (round(2.7) = 3, at most 3 − 1).
    for seed in range(4):
        split = split_new_users(data, given=0.9, seed=seed)
        for held in (split.validation, split.test):
            assert len(held.given[0][0]) == (4 if held.users[0] < 10 else 2)
    # A count of 3: the people with 3 ratings or fewer have nothing to find and are left out.
    # Seed 1 holds out user 7 for validation and user 10 for test, seed 5 the other way round.
    split = split_new_users(data, given=3, seed=1)
    assert split.validation.users.tolist() == [7] and len(split.test) == 0
    split = split_new_users(data, given=3, seed=5)
    assert len(split.validation) == 0 and split.test.users.tolist() == [7]


def test_the_protocol_passes_the_given_ratings_to_the_scorer_and_the_reranker():
    seen = []

    def scorer(codes: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        seen.append((codes.tolist(), ratings.tolist()))
        return score_by_code(codes, ratings)

    def rerank(scores, codes, ratings, n):
        seen.append((codes.tolist(), ratings.tolist(), n))
        return np.flatnonzero(np.isfinite(scores))[:n]

    people = HeldOutUsers(
        users=np.array([11, 10]),
        given=[(np.array([3]), np.array([2.0])), (np.array([0]), np.array([5.0]))],
        relevant=[np.array([], dtype=np.int64), np.array([1])],
        liked=[np.array([], dtype=np.int64), np.array([0, 1])],
        threshold=4.0,
    )
    result = evaluate_new_users(scorer, people, protocol_train(), genres=GENRES, rerank=rerank)
    assert seen == [([3], [2.0]), ([3], [2.0], 100), ([0], [5.0]), ([0], [5.0], 100)]
    assert result["users"] == 1 and result["recall@20"] == 1.0  # the person with nothing to find comes first
    assert 0.001 < result["ms_per_user"] < 10_000


def test_ndcg_at_100_counts_rank_99():
    # 120 items, lower codes first, item 119 given: item 98 is at rank 99, so NDCG = (1/log2 100) / 1.
    train = RatingsDataset(
        np.zeros(120, int), np.arange(120), np.full(120, 4.0), np.arange(1), np.arange(120)
    )
    people = HeldOutUsers(
        np.array([5]), [(np.array([119]), np.array([5.0]))], [np.array([98])], [np.array([98])], 4.0
    )
    result = evaluate_new_users(lambda c, r: -np.arange(120.0), people, train, genres=np.ones((120, 1)))
    assert result["ndcg@100"] == pytest.approx(1 / np.log2(100))
    assert result["recall@20"] == 0.0


def test_the_plain_list_by_hand():
    scores = np.array([0.5, 3.0, -np.inf, 2.0, 1.0, 2.0])
    assert list(top_n(scores, None, None, 3)) == [1, 3, 5]  # ties to the lower code
    assert list(top_n(scores, None, None, 1)) == [1]
    assert list(top_n(scores, None, None, 9)) == [1, 3, 5, 4, 0]
    nothing = top_n(np.full(3, -np.inf), None, None, 2)
    assert len(nothing) == 0 and nothing.dtype == np.int64


def greedy_by_definition(scores, genres, target, n, weight, pool=300, alpha=0.01, depth=20):
    """Calibrated re-ranking written from its definition, one candidate list at a time: the pool (best scores,
    ties to the lower code), its scores by rank, then `depth` greedy picks of the candidate maximising
    (1 − λ) s_c − λ KL(p ‖ q̃(S ∪ {c})) (an item's weight 1 if it has genres, else 0), shown by score, then the
    rest of the pool by score."""
    allowed = [i for i in np.argsort(-scores, kind="stable") if np.isfinite(scores[i])][:pool]
    value = {item: 1.0 - rank / len(allowed) for rank, item in enumerate(allowed)}
    chosen, mass, total = [], np.zeros(len(target)), 0.0
    liked = target > 0
    for _ in range(min(n, depth, len(allowed))):
        best, best_objective = None, -np.inf
        for c in allowed:
            if c in chosen:
                continue
            q = (mass + genres[c]) / max(total + genres[c].sum(), 1e-12)  # the mix of S ∪ {c}
            smoothed = (1 - alpha) * q + alpha * target
            kl = np.sum(target[liked] * np.log(target[liked] / smoothed[liked]))
            objective = (1 - weight) * value[c] - weight * kl
            if objective > best_objective:
                best, best_objective = c, objective
        chosen.append(best)
        mass, total = mass + genres[best], total + genres[best].sum()
    head = sorted(chosen, key=lambda i: (-scores[i], i))
    return head + [i for i in allowed if i not in chosen][: n - len(head)]


@pytest.mark.parametrize("seed", range(2))
def test_calibrated_reranking_follows_its_definition(seed):
    rng = np.random.default_rng(seed)
    n_items, n_genres = 400, 5
    genres = (rng.random((n_items, n_genres)) < 0.3).astype(float)
    genres[rng.random(n_items) < 0.1] = 0  # some items have no genre
    genres /= np.maximum(genres.sum(axis=1, keepdims=True), 1)
    scores = np.round(rng.normal(size=n_items), 1)  # ties
    scores[rng.random(n_items) < 0.05] = -np.inf
    target = np.array([0.5, 0.3, 0.2, 0.0, 0.0])
    for weight in (0.3, 0.99):  # at λ = 1 only the genres count: ties everywhere, broken by rounding
        expected = greedy_by_definition(scores, genres, target, 25, weight)
        assert list(calibrated(scores, genres, target, 25, weight)) == expected
    assert list(calibrated(scores, genres, target, 6, 0.9, pool=7)) == greedy_by_definition(
        scores, genres, target, 6, 0.9, pool=7
    )
    rerank = CalibratedReranker(genres, 0.9, 4.0, pool=7, normalise="minmax")
    liked = np.flatnonzero(genres[:, 0] > 0)[:3]
    assert list(rerank(scores, liked, np.full(3, 5.0), 6)) == list(
        calibrated(scores, genres, rerank.target(liked, np.full(3, 5.0)), 6, 0.9, pool=7, normalise="minmax")
    )


def test_calibrated_edges():
    assert len(calibrated(SCORES, TWO_GENRES, EVEN, 0, 0.5)) == 0
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 1, 0.5)) == [0]
    only = np.array([-np.inf, 2.0, -np.inf])
    assert list(calibrated(only, TWO_GENRES, EVEN, 3, 0.5)) == [1]
    nothing = calibrated(np.full(3, -np.inf), TWO_GENRES, EVEN, 3, 0.5)
    assert len(nothing) == 0 and nothing.dtype == np.int64
    # λ = 1: the genres alone decide the second place (item 2 evens the mix), λ = 0: the scores.
    assert list(calibrated(SCORES, TWO_GENRES, EVEN, 2, 1.0)) == [0, 2]
    with pytest.raises(ParameterError):
        calibrated(SCORES, TWO_GENRES, EVEN, 2, 1.01)


def test_rank_scores_keep_ties_in_code_order():
    assert normalised(np.ones(100)) == pytest.approx(1.0 - np.arange(100) / 100)  # rank is the default


def test_taste_mix_edges():
    genres = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert list(taste_mix(np.array([1]), np.array([5.0]), genres, 4.0)) == [0.0, 0.0]  # no genre: zeros
    # Rated exactly the threshold counts as liked: item 0 alone, not both.
    genres = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert list(taste_mix(np.array([0, 1]), np.array([4.0, 2.0]), genres, 4.0)) == [1.0, 0.0]


def test_held_out_people_must_have_one_entry_each():
    people = HeldOutUsers(np.array([10]), [(np.array([0]), np.array([5.0]))], [], [np.array([0])], 4.0)
    with pytest.raises(ValueError):
        evaluate_new_users(score_by_code, people, protocol_train(), genres=GENRES)


def test_new_user_split_settings_and_guards():
    users = [u for u in range(10) for _ in range(5)]
    data = RatingsDataset(users, [i for _ in range(10) for i in range(5)], [5.0, 4.0, 1.0, 2.0, 3.0] * 10,
                          np.arange(10), np.arange(5))  # fmt: skip
    split = split_new_users(data)  # given 0.8, seed 0 by default
    assert split.given == 0.8 and split.threshold == 4.0 and "(train users)" in split.train.name
    assert [len(g[0]) for g in split.test.given] == [4]  # round(0.8 · 5)
    same = split_new_users(data, given=0.8, seed=0)
    assert split.test.users.tolist() == same.test.users.tolist()
    assert split.test.given[0][0].tolist() == same.test.given[0][0].tolist()
    assert split_new_users(data, threshold=2.0).test.threshold == 2.0
    assert len(split_new_users(data, given=1).test.given[0][0]) == 1  # a whole number of ratings, from 1
    for bad in (0.0, 1.0, 0, -1):
        with pytest.raises(ParameterError, match="given"):
            split_new_users(data, given=bad)
    for share in (0.0, 0.5):
        with pytest.raises(ParameterError, match="validation"):
            split_new_users(data, validation=share)
        with pytest.raises(ParameterError, match="test"):
            split_new_users(data, test=share)
    # Too few users: none for validation (round(0.4) = 0), none for test, or none left for training.
    for validation, test in ((0.04, 0.2), (0.2, 0.04), (0.49, 0.49)):
        with pytest.raises(EmptyDataError):
            split_new_users(data.subset(np.array(users) < 4), validation=validation, test=test)


def test_the_plain_list_is_the_best_n_of_many():
    scores = np.random.default_rng(3).normal(size=1000)
    for n in (2, 10, 37):
        assert list(top_n(scores, None, None, n)) == list(np.argsort(-scores)[:n])
