"""Fold-in, recommendations, explanations, neighbours and the popular fallback."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from recengine.data import load_bundled
from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.errors import BadValuesError, RecEngineError, UnknownIdError
from recengine.evaluation.newuser import DISNEY_QUERY
from recengine.models import MODELS, make
from recengine.models.foldin import FALLBACK, fold_in
from recengine.serving.recommend import (
    DEFAULT_RANKING_MODEL,
    contributions,
    model_ranks,
    neighbour_genre_agreement,
    popular,
    recommend,
    similar_items,
    similar_users,
)

HORROR = [
    "Halloween (1978)",
    "Shining, The (1980)",
    "Exorcist, The (1973)",
    "Night of the Living Dead (1968)",
    "Texas Chainsaw Massacre, The (1974)",
    "Evil Dead, The (1981)",
    "Nightmare on Elm Street, A (1984)",
    "Thing, The (1982)",
]


@pytest.fixture(scope="module")
def bundled():
    return load_bundled()


@pytest.fixture(scope="module")
def ranker(bundled):
    return make(DEFAULT_RANKING_MODEL).fit(bundled)


def _codes_of(data, titles):
    frame = data.items
    return np.array([int(frame.index[frame["title"] == t][0]) for t in titles])


def test_eight_horror_films_at_five_stars_give_mostly_horror_with_reasons(bundled, ranker):
    """Counted strictly: a film counts when "Horror" is among its MovieLens genres."""
    codes = _codes_of(bundled, HORROR)
    vector = fold_in(ranker, codes, [5.0] * len(codes))
    table = recommend(ranker, bundled, vector=vector, n=10)
    assert len(table) == 10
    assert sum("Horror" in genres for genres in table["genres"]) >= 7
    assert not set(table["title"]) & set(HORROR)
    for because, explanation in zip(table["because"], table["explanation"], strict=True):
        assert because and set(because) <= set(HORROR)
        assert explanation.startswith("Because you rated ") and because[0] in explanation


LIKED = ["Toy Story (1995)", "Finding Nemo (2003)", "Shrek (2001)", "Monsters, Inc. (2001)"]
DISLIKED = ["Saw (2004)", "Texas Chainsaw Massacre, The (2003)", "Hostel (2005)"]


@pytest.mark.parametrize("algo", ["wals", "als", "svd", "bpr"])
def test_a_film_rated_low_is_never_a_reason_only_an_honest_contrast(bundled, ranker, algo):
    """Four family films at 4.5-5★ and three horror films at 0.5-1★: every reason is a film rated high,
    written "Title 5★"; a film rated low appears only after "unlike ..., which you rated low"."""
    model = ranker if algo == DEFAULT_RANKING_MODEL else make(algo, seed=0).fit(bundled)
    codes = _codes_of(bundled, LIKED + DISLIKED)
    vector = fold_in(model, codes, [5.0, 5.0, 4.5, 5.0, 0.5, 1.0, 1.0])
    table = recommend(model, bundled, vector=vector, n=10)
    assert all(set(because) <= set(LIKED) for because in table["because"])
    for because, text in zip(table["because"], table["explanation"], strict=True):
        reason, _, contrast = text.partition("unlike ")
        assert not any(title in reason for title in DISLIKED), text
        assert ") (" not in text and (reason or contrast)
        if because:
            assert "Because you rated " in reason
            assert f"{because[0]} 5★" in reason or f"{because[0]} 4.5★" in reason  # written "Title 5★"
        if contrast:
            assert "which you rated low (" in contrast and any(title in contrast for title in DISLIKED)


@pytest.mark.slow
def test_a_user_of_the_data_set_is_named_not_addressed(bundled):
    model = make("als", seed=0).fit(bundled)
    user = bundled.user_ids[2]
    table = recommend(model, bundled, user=user, n=10)
    text = " ".join(table["explanation"])
    assert " you " not in f" {text} " and "you rated" not in text
    assert f"user {user} rated" in text or "which they rated low" in text


def test_wals_contributions_add_up_to_the_score(bundled, ranker):
    codes = _codes_of(bundled, HORROR[:5])
    ratings = np.array([5.0, 4.0, 3.5, 5.0, 2.0])
    vector = fold_in(ranker, codes, ratings)
    targets = np.arange(50)
    parts = contributions(ranker, codes, ratings, targets)
    np.testing.assert_allclose(
        parts.sum(axis=1), ranker.scores_for(vector.factors)[targets], rtol=1e-4, atol=1e-6
    )


def test_ridge_contributions_add_up_to_the_taste_part_of_the_score(tiny):
    model = make("sgd", n_factors=3, n_epochs=30).fit(tiny)
    codes, ratings = np.array([0, 2, 4]), np.array([5.0, 1.0, 4.0])
    vector = fold_in(model, codes, ratings)
    targets = np.array([1, 3])
    parts = contributions(model, codes, ratings, targets)
    taste = model.item_factors_[targets].astype(float) @ vector.factors
    np.testing.assert_allclose(parts.sum(axis=1), taste, rtol=1e-8, atol=1e-10)


def test_ridge_fold_in_solves_its_normal_equations(tiny):
    model = make("sgd", n_factors=3, n_epochs=30, reg=0.2, weighted_reg=True).fit(tiny)
    codes, ratings = np.array([0, 1, 3]), np.array([5.0, 2.0, 4.0])
    vector = fold_in(model, codes, ratings)
    assert vector.method == "ridge regression with a user bias"
    q = model.item_factors_[codes].astype(float)
    residual = ratings - model.global_mean_ - model.item_bias_[codes] - vector.bias - q @ vector.factors
    reg = 0.2 * 3  # weighted_reg: λ times the new user's number of ratings
    np.testing.assert_allclose(q.T @ residual, reg * vector.factors, atol=1e-9)
    assert residual.sum() == pytest.approx(reg * vector.bias, abs=1e-9)


def test_baseline_fold_in_is_the_damped_mean_deviation(tiny):
    model = make("baseline", reg_user=3.0).fit(tiny)
    codes, ratings = np.array([0, 4]), np.array([5.0, 2.0])
    vector = fold_in(model, codes, ratings)
    deviations = ratings - model.global_mean_ - model.item_bias_[codes]
    assert vector.bias == pytest.approx(deviations.sum() / (3.0 + 2), rel=1e-9)
    assert vector.factors.shape == (0,)


def test_nmf_folds_in_by_its_own_non_negative_least_squares(tiny):
    model = make("nmf", n_factors=2, n_epochs=20).fit(tiny)
    vector = fold_in(model, [0, 2, 4], [5.0, 1.0, 4.0])
    assert vector.method == "non-negative least squares, the films held fixed" and (vector.factors >= 0).all()


def test_bpr_fold_in_is_a_stationary_point_of_its_objective(planted):
    from recengine.models.implicit import FOLD_IN_NEGATIVES, _PairwiseFoldIn

    data, _ = planted
    model = make("bpr", n_factors=4, n_epochs=5).fit(data)
    assert data.n_items - 6 < FOLD_IN_NEGATIVES  # every unrated item takes part: no sampling here
    codes = np.arange(0, 60, 10)
    vector, _ = model.fold_in_user(codes, np.ones(len(codes)))
    others = np.setdiff1d(np.arange(data.n_items), codes)
    q, b = model.item_factors_.astype(float), model.item_bias_.astype(float)
    problem = _PairwiseFoldIn(q[codes], b[codes], q[others], b[others])
    reg = model.params.reg * len(codes)
    step = 1e-6
    numeric = [
        (problem.objective(vector + step * e, reg) - problem.objective(vector - step * e, reg)) / (2 * step)
        for e in np.eye(len(vector))
    ]
    np.testing.assert_allclose(numeric, 0, atol=1e-5)


def test_fold_in_input_checks(tiny):
    model = make("baseline").fit(tiny)
    with pytest.raises(UnknownIdError, match="item code 9"):
        fold_in(model, [9], [3.0])
    with pytest.raises(BadValuesError, match="2 items but 1 ratings"):
        fold_in(model, [0, 1], [3.0])
    with pytest.raises(BadValuesError, match="finite"):
        fold_in(model, [0], [np.nan])
    twice = fold_in(model, [0, 1, 0], [1.0, 2.0, 5.0])
    assert twice.item_codes.tolist() == [1, 0] and twice.ratings.tolist() == [2.0, 5.0]


def test_no_ratings_fall_back_to_popular_and_well_liked(bundled, ranker):
    vector = fold_in(ranker, [], [])
    assert vector.is_fallback and vector.method == FALLBACK
    table = recommend(ranker, bundled, vector=vector, n=5)
    assert len(table) == 5
    assert all(text.startswith("Popular and well liked") for text in table["explanation"])
    np.testing.assert_array_equal(table["item"], popular(bundled, 5)["item"])


def test_popular_scores_by_damped_mean_times_log_count(tiny):
    table = popular(tiny, n=5, prior=2)
    mu = tiny.ratings.mean()
    ratings = {0: [5, 4, 2], 1: [3, 1], 2: [4, 5], 3: [2], 4: [3, 4]}
    expected = {
        tiny.item_ids[i]: ((sum(r) + 2 * mu) / (len(r) + 2) - 1) / 4 * np.log(1 + len(r))
        for i, r in ratings.items()
    }
    got = dict(zip(table["item"], table["score"], strict=True))
    assert got == pytest.approx(expected)
    assert list(table["item"]) == sorted(expected, key=lambda k: -expected[k])


def test_known_user_never_gets_what_they_rated_and_filters_apply(bundled, ranker):
    user = bundled.user_ids[0]
    rated = set(bundled.item_ids[bundled.csr[0].indices])
    table = recommend(ranker, bundled, user=user, n=20, taste=0)  # by score alone: scores fall
    assert not rated & set(table["item"])
    assert table["predicted_rating"].isna().all()
    assert (np.diff(table["score"]) <= 0).all()
    counts = dict(zip(bundled.item_ids, bundled.item_counts(), strict=True))
    picky = recommend(
        ranker, bundled, user=user, n=10, genres=["comedy"], min_ratings=20, years=(1990, 1999),
        exclude=[table["item"].iloc[0]],
    )  # fmt: skip
    assert len(picky) == 10
    assert all("Comedy" in g for g in picky["genres"])
    assert all(counts[i] >= 20 for i in picky["item"]) and picky["year"].between(1990, 1999).all()
    assert table["item"].iloc[0] not in set(picky["item"])


def test_rating_models_give_predicted_ratings_on_the_scale(bundled):
    model = make("baseline").fit(bundled)
    table = recommend(model, bundled, user=bundled.user_ids[3], n=5)
    assert table["predicted_rating"].between(bundled.scale.low, bundled.scale.high).all()
    assert all(text.startswith("Predicted ") for text in table["explanation"])


def test_recommend_refuses_unclear_requests(bundled, ranker, tiny):
    with pytest.raises(RecEngineError, match="either a user id"):
        recommend(ranker, bundled)
    with pytest.raises(RecEngineError, match="9,742 items but the data set has 5"):
        recommend(ranker, tiny, user=10)
    with pytest.raises(UnknownIdError, match="no user with id 'nobody'"):
        recommend(ranker, bundled, user="nobody")


def test_similar_items_and_users_by_cosine(tiny):
    model = make("wals", n_factors=2, n_epochs=2).fit(tiny)
    model.item_factors_ = np.array([[1, 0], [0, 1], [2, 0.1], [-1, 0], [1, 1]], dtype=np.float32)
    table = similar_items(model, tiny, item=1, n=3)
    assert table["item"].tolist() == [3, 5, 2]
    assert table["similarity"].iloc[0] == pytest.approx(2 / np.sqrt(4.01))
    model.user_factors_ = np.array([[1, 0], [0, 1], [1, 0.2], [0, 0]], dtype=np.float32)
    users = similar_users(model, tiny, user=10, n=5)
    assert users["user"].tolist() == [12, 11]  # the user with a zero vector has no direction
    with pytest.raises(RecEngineError, match="no item factors"):
        similar_items(make("baseline").fit(tiny), tiny, item=1)


def test_similar_items_can_leave_out_rarely_rated_items(tiny):
    model = make("wals", n_factors=2, n_epochs=2).fit(tiny)
    model.item_factors_ = np.array([[1, 0], [0, 1], [2, 0.1], [-1, 0], [1, 1]], dtype=np.float32)
    assert similar_items(model, tiny, item=1, n=4)["item"].tolist() == [3, 5, 2, 4]
    table = similar_items(model, tiny, item=1, n=4, min_ratings=2)  # item 4 has one rating
    assert table["item"].tolist() == [3, 5, 2] and table["n_ratings"].tolist() == [2, 2, 2]


def _kinds():
    """Items 1..4: 1 and 4 animated, 2 and 3 dramas; every item rated by two of four users."""
    import pandas as pd

    items = pd.DataFrame({"item": [1, 2, 3, 4], "title": list("abcd"), "year": np.nan,
                          "genres": [["Animation"], ["Drama"], ["Drama"], ["Animation", "Comedy"]]})  # fmt: skip
    users, codes = [0, 1, 0, 2, 1, 3, 2, 3], [0, 0, 1, 1, 2, 2, 3, 3]
    return RatingsDataset(users, codes, [5.0] * 8, np.arange(4), np.array([1, 2, 3, 4]), items=items,
                          scale=RatingScale(1, 5, 1))  # fmt: skip


def test_more_like_this_prefers_films_of_the_same_kind_among_the_nearest():
    data = _kinds()
    model = make("wals", n_factors=2, n_epochs=1).fit(data)
    # Cosines with item 1: item 2 0.98, item 4 0.90, item 3 0. Genre overlap with item 1: 0, 1/2, 0.
    model.item_factors_ = np.array([[1, 0], [0.98, np.sqrt(1 - 0.98**2)], [0, 1], [0.9, np.sqrt(1 - 0.81)]])
    assert similar_items(model, data, 1, n=2, genre_weight=0.0)["item"].tolist() == [2, 4]
    table = similar_items(model, data, 1, n=2, genre_weight=0.3)  # 0.98 + 0 < 0.90 + 0.3 · 0.5
    assert table["item"].tolist() == [4, 2]
    np.testing.assert_allclose(table["genre_overlap"], [0.5, 0.0])
    np.testing.assert_allclose(table["similarity"], [0.9, 0.98])
    np.testing.assert_allclose(table["score"], [0.9 + 0.15, 0.98])
    agreement = neighbour_genre_agreement(model, data, n=1, min_ratings=0, query_ratings=2)
    # Item 1 → 4 (overlap 1/2); 2 → 1 (0.98 beats item 3, 0.20 + 0.3); 3 → 2 (overlap 1); 4 → 1 (1/2).
    assert agreement["items"] == 4
    assert agreement["genre_overlap"] == pytest.approx((0.5 + 0 + 1 + 0.5) / 4)


def test_fold_in_and_recommend_are_quick(bundled, ranker):
    rng = np.random.default_rng(1)
    timings = []
    for _ in range(30):
        codes = rng.choice(bundled.n_items, 20, replace=False)
        tick = time.perf_counter()
        fold_in(ranker, codes, rng.choice(bundled.scale.levels(), 20))
        timings.append(time.perf_counter() - tick)
    assert np.median(timings) < 0.02  # the benchmark (benchmarks/foldin.py) measures it properly


def test_svd_fold_in_projects_a_training_user_back_onto_their_factors(planted):
    data, _ = planted
    model = make("svd", n_factors=3).fit(data)
    user = 7
    mine = data.user_codes == user
    codes, ratings = data.item_codes[mine], data.ratings[mine].astype(float)
    vector = fold_in(model, codes, ratings)
    assert vector.bias == pytest.approx(model.user_bias_[user], abs=1e-3)
    np.testing.assert_allclose(vector.factors, model.user_factors_[user], rtol=1e-2, atol=1e-3)
    targets = np.arange(20)
    parts = contributions(model, codes, ratings, targets)
    taste = model.item_factors_[targets].astype(float) @ vector.factors
    np.testing.assert_allclose(parts.sum(axis=1), taste, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["svdpp", "bpmf"])
def test_attributions_add_up_for_models_with_implicit_parts_or_priors(planted, name):
    if name not in MODELS:
        pytest.skip(f"{name} is not registered in this checkout")
    data, _ = planted
    model = make(name, n_factors=3, n_epochs=30).fit(data)
    codes, ratings = np.array([1, 5, 9, 13]), np.array([5.0, 1.0, 4.0, 3.0])
    vector = fold_in(model, codes, ratings)
    targets = np.arange(30)
    parts = contributions(model, codes, ratings, targets)
    taste = model.item_factors_[targets].astype(float) @ vector.factors
    if name == "bpmf":  # the prior's pull is owed to no rated item
        system = model.foldin_system(codes, ratings)
        taste -= model.item_factors_[targets].astype(float) @ np.linalg.solve(system.matrix, system.prior)[:3]
    np.testing.assert_allclose(parts.sum(axis=1), taste, rtol=1e-7, atol=1e-9)


def test_bpmf_fold_in_of_a_training_user_is_close_to_their_posterior_mean(planted):
    if "bpmf" not in MODELS:
        pytest.skip("bpmf is not registered in this checkout")
    data, _ = planted
    model = make("bpmf", n_factors=3, n_epochs=60, burn_in=10).fit(data)
    user = 4
    mine = data.user_codes == user
    vector = fold_in(model, data.item_codes[mine], data.ratings[mine])
    assert vector.method.startswith("posterior mode")
    own = model.item_scores(user)
    folded = model.scores_for(vector.factors, vector.bias)
    assert np.corrcoef(own, folded)[0, 1] > 0.98
    few = fold_in(model, data.item_codes[mine][:3], data.ratings[mine][:3])
    assert np.linalg.norm(few.factors) < 5 * np.linalg.norm(model.user_factors_, axis=1).max()


def test_personal_share_is_the_persons_part_of_the_lead_over_a_typical_film():
    """Scores 3, 1, 0, 0 against an average person's 2, 2, 0, 0 (a = s·g / g·g = 8/8 = 1, typical film = the
    median 1): item 0 leads the typical film by 2, of which 3 − 2 = 1 is the person's (0.5); item 1 is
    below what an average person gets (0)."""
    from recengine.serving.recommend import personal_share

    scores, general = np.array([3.0, 1.0, 0.0, 0.0]), np.array([2.0, 2.0, 0.0, 0.0])
    keep = np.ones(4, dtype=bool)
    np.testing.assert_allclose(personal_share(scores, general, keep, np.array([0, 1])), [0.5, 0.0])
    # a person on a smaller scale (half the scores) has the same shares: the average is put on their scale
    np.testing.assert_allclose(personal_share(scores / 2, general, keep, np.array([0, 1])), [0.5, 0.0])


def test_a_film_listed_for_its_general_appeal_says_so_and_names_no_reason(bundled, ranker):
    codes = _codes_of(bundled, LIKED)
    table = recommend(ranker, bundled, vector=fold_in(ranker, codes, [5.0] * len(codes)), n=20)
    general = table[table["personal"] < 0.5]
    personal = table[table["personal"] >= 0.5]
    assert len(general) and len(personal)
    assert all(not because for because in general["because"])
    brought = general["model_rank"] > len(table)  # by the person's genres: the model alone would not list it
    assert all(
        text.startswith("Mostly for its general appeal: your ratings give ")
        for text in general[~brought]["explanation"]
    )
    assert all(
        re.match(r"Brought in for your genres \(.+\) from the model's #\d+; its score there is mostly general "
                 r"appeal: your ratings give \d+%", text)
        for text in general[brought]["explanation"]
    )  # fmt: skip
    assert all(text.startswith("Because you rated ") for text in personal["explanation"])


@pytest.mark.slow
def test_a_film_brought_in_for_the_persons_genres_says_so():
    """BPR's scores for a drama lover are mostly its item biases (general appeal): the films on the list are
    there because the re-ranking followed their genres, from far down the model's own order, and say so
    (a new user's trial read "Mostly for its general appeal" under Godfather: Part II, the model's #20)."""
    from recengine.data import load_bundled
    from recengine.evaluation.newuser import DRAMA_QUERY

    data = load_bundled()
    model = make("bpr").fit(data)
    codes = data.item_codes_of(DRAMA_QUERY)
    table = recommend(model, data, vector=fold_in(model, codes, [5.0] * len(codes)), n=10)
    brought = table[(table["personal"] < 0.5) & (table["model_rank"] > 10)]
    assert len(brought) >= 5
    assert all(text.startswith("Brought in for your genres (Drama") for text in brought["explanation"])
    assert all(f"from the model's #{place};" in text for place, text in zip(brought["model_rank"],
                                                                            brought["explanation"], strict=True))  # fmt: skip


@pytest.mark.slow
def test_a_rating_model_ranks_a_list_by_lift_among_films_with_enough_ratings(bundled):
    """Not by predicted rating, which hands everyone the same films: by how much more than an average person
    the person is predicted to like a film, among films with at least ten ratings."""
    model = make("als", seed=0).fit(bundled)
    lists = []
    for titles in (LIKED, HORROR[:4]):
        codes = _codes_of(bundled, titles)
        vector = fold_in(model, codes, [5.0] * len(codes))
        table = recommend(model, bundled, vector=vector, n=20, taste=0)  # the model's own order
        counts = bundled.item_counts()[[bundled.item_code(i) for i in table["item"]]]
        assert (counts >= model.list_min_ratings).all()
        general = model.general_scores(vector.bias)[[bundled.item_code(i) for i in table["item"]]]
        lift = (
            model.scores_for(vector.factors, vector.bias)[[bundled.item_code(i) for i in table["item"]]]
            - general
        )
        np.testing.assert_allclose(table["score"], lift)
        assert (np.diff(table["score"]) <= 1e-12).all()
        lists.append(set(table["title"]))
    assert len(lists[0] & lists[1]) <= 4


def test_a_rating_models_average_person_is_its_fold_in_prior_a_ranking_models_the_mean_user(planted):
    """A rating model's ridge fold-in shrinks a person with no taste evidence to 0: their general scores are
    μ + b_u + b_i and a list's lift is q·p. wals, nmf and bpmf (whose fold-in starts from the trained users'
    mean) measure from the mean user."""
    data, _ = planted
    rating = make("sgd", n_factors=3, n_epochs=2, seed=0).fit(data)
    np.testing.assert_allclose(
        rating.general_scores(0.5), rating.global_mean_ + 0.5 + rating.item_bias_, rtol=1e-6
    )
    for name in ("wals", "nmf", "bpmf"):
        model = make(name, n_factors=3, n_epochs=2, seed=0).fit(data)
        users = model.user_factors_.astype(np.float64)
        mean = users[np.abs(users).sum(axis=1) > 0].mean(axis=0)
        np.testing.assert_allclose(model.reference_user(), mean, rtol=1e-6)


def test_model_ranks_count_the_candidates_scored_higher():
    ranked = np.array([0.9, 0.1, 0.5, 0.7, 0.5, 2.0])
    keep = np.array([True, True, True, True, True, False])  # 2.0 is not a candidate
    assert model_ranks(ranked, keep, np.array([0, 3, 2, 4, 1])).tolist() == [1, 2, 3, 3, 5]


def test_a_re_ranked_list_says_where_the_model_alone_put_each_film(bundled, ranker):
    """The Disney lover's list is re-ordered by genre; model_rank is each film's place in the plain list."""
    codes = bundled.item_codes_of(DISNEY_QUERY)
    vector = fold_in(ranker, codes, [5.0] * len(codes))
    plain = recommend(ranker, bundled, vector=vector, n=300, taste=0.0)
    assert plain["model_rank"].tolist() == list(range(1, 301))
    table = recommend(ranker, bundled, vector=vector, n=20)
    places = {item: place for place, item in enumerate(plain["item"], start=1)}
    assert table["model_rank"].tolist() == [places[item] for item in table["item"]]
    assert table["model_rank"].tolist() != list(range(1, 21))  # λ moved films
