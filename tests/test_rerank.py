"""Calibrated re-ranking against cases whose greedy choices are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.errors import ParameterError
from recengine.serving.rerank import CalibratedReranker, calibrated, distinctness, normalised, personal_weight

# Items 0, 1 and 3 are genre A, item 2 genre B; the person likes A and B equally.
GENRES = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
SCORES = np.array([4.0, 3.0, 2.0, 1.0])
TASTE = np.array([0.5, 0.5])


def test_scores_become_comparable_inside_the_pool():
    np.testing.assert_allclose(normalised(np.array([3.0, 1.0, 2.0]), "rank"), [1, 1 / 3, 2 / 3])
    np.testing.assert_allclose(normalised(np.array([3.0, 1.0, 2.0]), "minmax"), [1, 0, 0.5])
    np.testing.assert_allclose(normalised(np.array([2.0, 2.0]), "minmax"), [1, 1])
    with pytest.raises(ParameterError):
        normalised(SCORES, "zscore")


def test_the_greedy_choice_worked_out_by_hand():
    # Rank-normalised scores 1, .75, .5, .25. A one-genre list has KL(p‖q̃) = ½ log(.5/.995) + ½ log(.5/.005)
    # = 1.958, a list half A half B has 0. Step 1 ties on KL, so item 0 (best score) comes first. Step 2,
    # λ = .5: item 1 gives .5·.75 − .5·1.958 = −.60, item 2 gives .5·.5 − 0 = .25: item 2.
    # λ = .1: item 1 gives .9·.75 − .1·1.958 = .479, item 2 gives .9·.5 = .45: item 1.
    assert calibrated(SCORES, GENRES, TASTE, 2, 0.5).tolist() == [0, 2]
    assert calibrated(SCORES, GENRES, TASTE, 2, 0.1).tolist() == [0, 1]
    assert calibrated(SCORES, GENRES, TASTE, 2, 0.0).tolist() == [0, 1]


def test_the_greedy_choice_decides_the_films_and_the_scores_their_order():
    # Item 3 is half A, half B. λ = .9, step 1: item 3 gives .1·.25 − .9·0 = .025, item 0 .1·1 − .9·1.958 < 0.
    # Step 2 (q̃ of items 3 and 0: [.7475, .2525], KL .1406): item 0 gives .1·1 − .9·.1406 = −.027, item 1
    # .1·.75 − .127 = −.052, item 2 (the mirror image) .1·.5 − .127 = −.077. Chosen 3 then 0; shown 0, 3.
    halves = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    assert calibrated(SCORES, halves, TASTE, 2, 0.9).tolist() == [0, 3]


def test_a_longer_list_holds_the_shorter_ones_films_and_skips_excluded_items():
    scores = SCORES.copy()
    scores[0] = -np.inf
    longer = calibrated(scores, GENRES, TASTE, 3, 0.5)
    assert 0 not in longer.tolist()
    assert set(calibrated(scores, GENRES, TASTE, 2, 0.5).tolist()) <= set(longer.tolist())
    assert calibrated(np.full(4, -np.inf), GENRES, TASTE, 2, 0.5).tolist() == []


def test_the_taste_comes_from_the_highly_rated_given_items():
    reranker = CalibratedReranker(GENRES, weight=0.5, liked=4.0)
    np.testing.assert_allclose(reranker.target(np.array([0, 2, 1]), np.array([5.0, 4.0, 1.0])), [0.5, 0.5])
    np.testing.assert_allclose(reranker.target(np.array([0, 2]), np.array([2.0, 1.0])), [0.5, 0.5])
    assert reranker(SCORES, np.array([0, 2]), np.array([5.0, 5.0]), 2).tolist() == [0, 2]
    with pytest.raises(ParameterError):
        calibrated(SCORES, GENRES, TASTE, 2, 1.5)


def test_beyond_the_greedy_depth_the_pool_follows_by_score():
    # One greedy step picks item 0; items 1, 2 (then 3) follow by score, not by calibration.
    assert calibrated(SCORES, GENRES, TASTE, 3, 0.5, depth=1).tolist() == [0, 1, 2]
    assert calibrated(SCORES, GENRES, TASTE, 3, 0.5, depth=2).tolist() == [0, 2, 1]


def test_a_distinct_taste_gets_the_whole_weight_a_mainstream_one_a_third():
    # KL(p‖π): [1, 0] from [.25, .75] is ln 4 = 1.386 ≥ 1 (whole); [.5, .5] from itself is 0 (a third);
    # [1, 0] from [.5, .5] is ln 2 = .693: the ramp is (.693 − .5) / .5 = .386 of the way, 1/3 + 2/3 · .386.
    assert distinctness(np.array([1.0, 0.0]), np.array([0.25, 0.75])) == pytest.approx(np.log(4))
    assert personal_weight(0.9, np.array([1.0, 0.0]), np.array([0.25, 0.75])) == pytest.approx(0.9)
    assert personal_weight(0.9, TASTE, TASTE) == pytest.approx(0.3)
    ramp = (np.log(2) - 0.5) / 0.5
    assert personal_weight(0.9, np.array([1.0, 0.0]), TASTE) == pytest.approx(0.9 * (1 / 3 + 2 / 3 * ramp))


def test_the_reranker_weighs_a_mainstream_taste_less_when_it_knows_everyones_mix():
    # λ .3: step 2 takes item 2 (.7·.5 = .35 against .7·.75 − .3·1.958 = −.06); a person whose mix is
    # everyone's gets λ .1, and item 1 (as in the worked case above).
    codes, ratings = np.array([0, 2]), np.array([5.0, 5.0])
    assert CalibratedReranker(GENRES, weight=0.3, liked=4.0)(SCORES, codes, ratings, 2).tolist() == [0, 2]
    everyone = CalibratedReranker(GENRES, weight=0.3, liked=4.0, background=TASTE)
    assert everyone(SCORES, codes, ratings, 2).tolist() == [0, 1]
