"""Calibrated re-ranking by hand at its edges: the pool of the best 300 scores, ties ranked by position, λ = 0
(the plain top n whatever the smoothing), nothing to list, and the smoothing α and the score normalisation a
`CalibratedReranker` is given.
"""

from __future__ import annotations

import numpy as np
import pytest

from recengine.serving.rerank import CalibratedReranker, calibrated, normalised

# Three candidates: items 0 (score 3) and 1 (score 2) of genre A, item 2 (score 1) of genre B.
SCORES = np.array([3.0, 2.0, 1.0])
TWO_GENRES = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


def test_the_pool_is_the_best_300_scores():
    # 302 films by falling score; only the last two have the genre the person likes. At λ = 1 only the genre
    # term counts, yet the 301st film is not in the pool: every pooled film has the same divergence and the
    # first, film 0, is taken. A pool of 301 would take film 300.
    scores = np.arange(302, 0, -1.0)
    genres = np.zeros((302, 2))
    genres[:300, 0], genres[300:, 1] = 1.0, 1.0
    liked = np.array([0.0, 1.0])
    assert list(calibrated(scores, genres, liked, 1, 1.0)) == [0]
    assert list(calibrated(scores, genres, liked, 1, 1.0, pool=301)) == [300]


def test_a_full_pool_is_the_top_scores_in_order():
    # 300 of 500 scores: the list at λ 0 is the 300 best by a full sort.
    scores = np.random.default_rng(47).normal(size=500)
    listed = calibrated(scores, np.zeros((500, 1)), np.zeros(1), 300, 0.0)
    assert list(listed) == list(np.argsort(-scores, kind="stable")[:300])


def test_ties_are_ranked_by_position():
    # Scores 2, 1, 2, 2, 0: the three 2s take ranks 0, 1, 2 in the order given: values 1 − rank/5.
    assert normalised(np.array([2.0, 1.0, 2.0, 2.0, 0.0])) == pytest.approx([1.0, 0.4, 0.8, 0.6, 0.2])
    # Scores 1, 0, 2, 2: ranks 2, 3, 0, 1: values 1 − rank/4.
    assert normalised(np.array([1.0, 0.0, 2.0, 2.0])) == pytest.approx([0.5, 0.25, 1.0, 0.75])


def test_lambda_zero_is_the_plain_top_n_whatever_the_smoothing():
    # Film 0 (score 3) of genre A, film 1 (score 2) of genre B; the person likes only genre A. At λ 0 film 0
    # comes first even without smoothing (α 0), where film 1's divergence from the person's mix is infinite.
    genres = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert list(calibrated(np.array([3.0, 2.0]), genres, np.array([1.0, 0.0]), 1, 0.0, alpha=0.0)) == [0]


def test_nothing_to_list():
    nothing = calibrated(np.full(3, -np.inf), TWO_GENRES, np.array([0.5, 0.5]), 2, 0.5)
    assert len(nothing) == 0 and nothing.dtype == np.int64
    assert len(calibrated(SCORES, TWO_GENRES, np.array([0.5, 0.5]), 0, 0.5)) == 0


def test_a_reranker_uses_its_smoothing_and_normalisation():
    # The person rated film 1 (A) and film 2 (B) 5: p = (0.5, 0.5). The second pick is film 1 (one genre,
    # KL 1.9585 at α 0.01) or film 2 (evens the mix, KL 0); film 2 wins when (1 − λ)(s₁ − s₂) < λ KL.
    # By rank s = 1, 2/3, 1/3: switch at λ = (1/3)/(1/3 + 1.9585) = 0.1454. By min-max s = 1, 1/2, 0: at
    # λ = 0.5/(0.5 + 1.9585) = 0.2034. With α 0.2 (q̃ = (0.9, 0.1), KL 0.5108), by rank: at 0.3949.
    rated, given = np.array([1, 2]), np.array([5.0, 5.0])
    assert list(CalibratedReranker(TWO_GENRES, 0.18, 4.0)(SCORES, rated, given, 2)) == [0, 2]
    assert list(CalibratedReranker(TWO_GENRES, 0.18, 4.0, normalise="minmax")(SCORES, rated, given, 2)) == [
        0,
        1,
    ]
    assert list(CalibratedReranker(TWO_GENRES, 0.38, 4.0, alpha=0.2)(SCORES, rated, given, 2)) == [0, 1]
