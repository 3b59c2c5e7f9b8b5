"""`bsvdpp`: the kernels' conditional posteriors against dense computations from the raw ratings, planted
recovery, the running averages, determinism, saved state and fold-in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.data.synthetic import planted_low_rank
from recengine.evaluation.split import holdout_random
from recengine.models import make
from recengine.models.bsvdpp import Side, attribute_bags
from recengine.models.kernels import bags
from recengine.serving.recommend import contributions
from recengine.store import load_model, save_model


@pytest.fixture(scope="module")
def problem():
    """A small rating matrix seen from the user side: users' rows, films' features and offsets, the users'
    own vectors and the films' bag vectors, priors and α, all random."""
    rng = np.random.default_rng(4)
    n_users, n_items, d = 7, 6, 3
    mask = rng.random((n_users, n_items)) < 0.5
    mask[0, :] = mask[:, 0] = True
    mask[3, :] = False  # a user without ratings: drawn from the prior alone
    users, items = np.nonzero(mask)
    values = rng.normal(3, 1, len(users))
    data = dict(
        users=users, items=items, values=values, features=rng.normal(size=(n_items, d)),
        offsets=rng.normal(size=n_items), own=rng.normal(size=(n_users, d)),
        bags=rng.normal(size=(n_items, d)), own_precision=rng.gamma(2, 1, d), own_mean=rng.normal(size=d),
        bag_precision=rng.gamma(2, 1, d), bag_mean=rng.normal(size=d), alpha=1.7,
    )  # fmt: skip
    return data, Side.of(users, items, values, (n_users, n_items), np.dtype("float64"))


def grams_of(data, side, with_squares=False):
    n, d = side.indptr.shape[0] - 1, data["features"].shape[1]
    grams, targets, squares = np.zeros((n, d, d)), np.zeros((n, d)), np.zeros(n)
    bags.side_grams(
        side.indptr, side.partners, side.values, data["offsets"], data["features"], grams, targets, squares
    )
    return (grams, targets, squares) if with_squares else (grams, targets)


def test_squared_errors_from_the_gram_matrices_are_those_of_the_ratings(problem):
    """Σ_u Σ_{i∈N(u)} (v − o_i − θ_u·f_i)² for any θ, from the sums `side_grams` made (a user without ratings
    adds nothing)."""
    data, by_user = problem
    theta = np.random.default_rng(6).normal(size=data["own"].shape)
    users, items = data["users"], data["items"]
    residuals = (
        data["values"] - data["offsets"][items] - np.sum(theta[users] * data["features"][items], axis=1)
    )
    total = bags.squared_errors(*grams_of(data, by_user, with_squares=True), theta)
    assert total == pytest.approx(np.sum(residuals**2), rel=1e-12)


def test_each_sweeps_squared_error_is_that_of_its_sample(planted):
    """The sweep's Σ e² (α's draw and the losses read it) against the current sample's errors, computed
    rating by rating; with the ordered probit, those of the latent scores."""
    data, _ = planted
    checked = []

    def compare(record, model):
        users, items = data.user_codes.astype(np.int64), data.item_codes.astype(np.int64)
        targets = model._latent if model._ordinal else data.ratings
        errors = targets - model._linear_predictor(users, items)
        assert model._current_sum_squares() == pytest.approx(np.sum(errors**2), rel=1e-9)
        checked.append(record.epoch)

    make("bsvdpp", n_factors=2, n_epochs=3).fit(data, callbacks=[compare])
    rounded = RatingsDataset(
        data.user_codes, data.item_codes, np.round(data.ratings), data.user_ids, data.item_ids
    )
    make("bsvdpp", n_factors=2, n_epochs=3, link="ordered_probit").fit(rounded, callbacks=[compare])
    assert checked == [1, 2, 3, 1, 2, 3]


def scales(data):
    counts = np.bincount(data["users"], minlength=len(data["own"]))
    return np.where(counts > 0, 1 / np.sqrt(np.maximum(counts, 1)), 0.0)


def bag_sums(data, bag_vectors):
    """s_u Σ_{j∈N(u)} y_j, straight from the list of ratings."""
    out = np.zeros_like(data["own"])
    np.add.at(out, data["users"], bag_vectors[data["items"]])
    return out * scales(data)[:, None]


def dense_conditional(rows, targets, precision, mean, alpha):
    """N(A⁻¹h, A⁻¹) of θ in targets = rows θ + noise(α), θ ~ N(mean, diag(precision)⁻¹)."""
    matrix = np.diag(precision) + alpha * rows.T @ rows
    return np.linalg.solve(matrix, precision * mean + alpha * rows.T @ targets), matrix


def check_draw(draw, mean, matrix):
    """draw(z) = mean + M z with Mᵀ A M = I: the draws' covariance M Mᵀ is exactly A⁻¹."""
    d = len(mean)
    np.testing.assert_allclose(draw(np.zeros(d)), mean, rtol=1e-9, atol=1e-12)
    spread = np.column_stack([draw(unit) - mean for unit in np.eye(d)])
    np.testing.assert_allclose(spread.T @ matrix @ spread, np.eye(d), atol=1e-9)


def test_a_users_own_vector_is_drawn_from_its_dense_conditional(problem):
    data, by_user = problem
    grams, targets = grams_of(data, by_user)
    bag = bag_sums(data, data["bags"])
    for user in (0, 2, 3):
        mine = data["users"] == user
        rows = data["features"][data["items"][mine]]
        left = data["values"][mine] - data["offsets"][data["items"][mine]] - rows @ bag[user]
        mean, matrix = dense_conditional(rows, left, data["own_precision"], data["own_mean"], data["alpha"])

        def draw(noise, user=user):
            own = data["own"].copy()
            every = np.zeros_like(own)
            every[user] = noise
            shift = data["own_precision"] * data["own_mean"]
            bags.draw_rows(grams, targets, bag, data["own_precision"], shift, data["alpha"], every, own)
            return own[user]

        check_draw(draw, mean, matrix)


def test_bag_vectors_are_drawn_one_after_another_from_their_dense_conditionals(problem):
    """Each y_j, given the others as they stand, against the regression of every rating of its raters on
    s_u f_i; the bag sums the kernel keeps are those of the vectors it drew."""
    data, by_user = problem
    grams, targets = grams_of(data, by_user)
    n_items, d = data["bags"].shape
    noise = np.random.default_rng(8).standard_normal((n_items, d))
    drawn_bags = data["bags"].copy()
    sums = bag_sums(data, drawn_bags)
    shift = data["bag_precision"] * data["bag_mean"]
    group = by_user.bags["bag"]
    bags.draw_bags(group.indptr, group.members, group.weights, grams, targets, data["own"], sums,
                   data["bag_precision"], shift, data["alpha"], noise, drawn_bags)  # fmt: skip
    expected = data["bags"].copy()
    s = scales(data)
    for j in range(n_items):
        raters = np.unique(data["users"][data["items"] == j])
        ratings = np.isin(data["users"], raters)
        u, i = data["users"][ratings], data["items"][ratings]
        rows = s[u, None] * data["features"][i]
        others = (
            bag_sums(data, expected) - s[:, None] * np.isin(np.arange(len(s)), raters)[:, None] * expected[j]
        )
        effective_rest = data["own"][u] + others[u]
        left = (
            data["values"][ratings]
            - data["offsets"][i]
            - np.sum(effective_rest * data["features"][i], axis=1)
        )
        mean, matrix = dense_conditional(rows, left, data["bag_precision"], data["bag_mean"], data["alpha"])
        expected[j] = mean + np.linalg.solve(np.linalg.cholesky(matrix).T, noise[j])
    np.testing.assert_allclose(drawn_bags, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sums, bag_sums(data, drawn_bags), rtol=1e-9, atol=1e-12)


def test_the_bag_draw_has_the_conditional_covariance(problem):
    """One film's draw (the first: nothing before it moves) against A⁻¹ from the dense regression."""
    data, by_user = problem
    grams, targets = grams_of(data, by_user)
    s = scales(data)
    raters = np.unique(data["users"][data["items"] == 0])
    ratings = np.isin(data["users"], raters)
    rows = s[data["users"][ratings], None] * data["features"][data["items"][ratings]]
    matrix = np.diag(data["bag_precision"]) + data["alpha"] * rows.T @ rows
    mean = None

    def draw(noise):
        drawn, sums = data["bags"].copy(), bag_sums(data, data["bags"])
        every = np.zeros_like(drawn)
        every[0] = noise
        shift = data["bag_precision"] * data["bag_mean"]
        group = by_user.bags["bag"]
        bags.draw_bags(group.indptr, group.members, group.weights, grams, targets, data["own"], sums,
                       data["bag_precision"], shift, data["alpha"], every, drawn)  # fmt: skip
        return drawn[0]

    mean = draw(np.zeros(matrix.shape[0]))
    check_draw(draw, mean, matrix)


def test_noisy_planted_matrix_is_learned_to_the_noise():
    noise = 0.3
    data, _ = planted_low_rank(300, 200, rank=3, density=0.3, noise=noise, seed=2, biases=True)
    train, test = holdout_random(data, 0.2, seed=0)
    model = make("bsvdpp", n_factors=3, n_epochs=40).fit(train, valid=test)
    assert model.rmse(test) < 1.1 * noise
    assert model.history_[-1].valid_rmse < 1.1 * noise
    assert abs(1 / np.sqrt(float(model.noise_precision_)) - noise) < 0.05


def test_valid_rmse_is_that_of_the_average_of_the_sampled_predictions(planted):
    """The model a callback sees is the current sample during burn-in, then the running mean of the samples,
    from which each sample follows (x_n = n m_n − (n − 1) m_{n−1}); the validation RMSE is that of the mean
    of the samples' predictions, not of the mean vectors' prediction."""
    data, _ = planted
    train, valid = holdout_random(data, 0.2, seed=1)
    users, items = valid.user_codes, valid.item_codes
    published = []

    def keep(record, model):
        arrays = (model.user_factors_, model.item_factors_, model.user_bias_, model.item_bias_)
        published.append((int(record.extra["samples_averaged"]), [a.astype(np.float64) for a in arrays]))

    model = make("bsvdpp", n_factors=2, n_epochs=10).fit(train, valid=valid, callbacks=[keep])
    assert [n for n, _ in published] == [0, 0, 0, 0, *range(1, 7)]

    def predictions(p, q, b_user, b_item):
        return model.global_mean_ + b_user[users] + b_item[items] + np.sum(p[users] * q[items], axis=1)

    def rmse(predicted):
        return float(np.sqrt(np.mean((valid.ratings - valid.scale.clip(predicted)) ** 2)))

    samples = [
        predictions(*(n * now - (n - 1) * before for now, before in zip(arrays, previous, strict=True)))
        for (n, arrays), (_, previous) in zip(published[4:], published[3:-1], strict=True)
    ]
    # (the mean vectors' prediction is 1.4e-4 of the RMSE away: it fails this)
    assert model.history_[-1].valid_rmse == pytest.approx(rmse(np.mean(samples, axis=0)), rel=1e-9)
    assert model.history_[0].valid_rmse == pytest.approx(rmse(predictions(*published[0][1])), rel=1e-9)


def test_same_seed_same_numbers_and_float32(planted):
    data, _ = planted
    first, again = (make("bsvdpp", n_factors=3, n_epochs=4, seed=9).fit(data) for _ in range(2))
    for name, array in first.state().items():
        np.testing.assert_array_equal(array, again.state()[name])
    other = make("bsvdpp", n_factors=3, n_epochs=4, seed=10).fit(data)
    assert not np.array_equal(other.user_factors_, first.user_factors_)
    small = make("bsvdpp", n_factors=3, n_epochs=4, dtype="float32").fit(data)
    assert small.user_factors_.dtype == np.float32 and small.implicit_bias_.dtype == np.float32


def test_saved_and_loaded_it_predicts_and_folds_in_the_same(planted, tmp_path):
    data, _ = planted
    model = make("bsvdpp", n_factors=3, n_epochs=6).fit(data)
    loaded = load_model(save_model(model, tmp_path / "bsvdpp.npz", data=data), data=data)
    np.testing.assert_array_equal(
        loaded.predict(data.user_codes, data.item_codes), model.predict(data.user_codes, data.item_codes)
    )
    codes, ratings = np.array([1, 5, 9]), np.array([5.0, 1.0, 4.0])
    np.testing.assert_array_equal(
        loaded.fold_in(codes, ratings).factors, model.fold_in(codes, ratings).factors
    )


def test_fold_in_solves_the_posterior_mode_on_top_of_the_bag(planted):
    """The new user's [p, b_u]: argmin α Σ_j (r_j − μ − β_j − c_j·(p + ȳ) − b_u − w̄)² + Σ_f λ_f (x_f − m_f)²,
    checked by its gradient; a training user's fold-in scores the films as the model does."""
    data, _ = planted
    model = make("bsvdpp", n_factors=3, n_epochs=40).fit(data)
    user = 4
    mine = data.user_codes == user
    codes, ratings = data.item_codes[mine].astype(np.int64), data.ratings[mine].astype(np.float64)
    vector = model.fold_in(codes, ratings)
    scale = 1 / np.sqrt(len(codes))
    bag = model.implicit_factors_[codes].sum(axis=0) * scale
    bag_bias = model.implicit_bias_[codes].sum() * scale
    own = np.append(vector.factors - bag, vector.bias - bag_bias)
    c = model.item_factors_[codes].astype(float)
    error = ratings - model.global_mean_ - model.item_bias_[codes] - c @ vector.factors - vector.bias
    gradient = -float(model.noise_precision_) * np.hstack([c, np.ones((len(codes), 1))]).T @ error
    gradient += model.prior_precision_ * (own - model.prior_mean_)
    np.testing.assert_allclose(gradient, 0, atol=1e-9 * float(model.noise_precision_))
    folded = model.scores_for(vector.factors, vector.bias)
    assert np.corrcoef(model.item_scores(user), folded)[0, 1] > 0.98


def test_a_fit_with_a_validation_set_learns_the_same_numbers(planted):
    """The validation set is only predicted (strict protocol: its who-rated-what never enters the bags)."""
    data, _ = planted
    train, valid = holdout_random(data, 0.2, seed=3)
    alone = make("bsvdpp", n_factors=2, n_epochs=5).fit(train)
    watched = make("bsvdpp", n_factors=2, n_epochs=5).fit(train, valid=valid)
    for name, array in alone.state().items():
        np.testing.assert_array_equal(array, watched.state()[name])


def with_metadata() -> RatingsDataset:
    """Three users (age, gender; one without an age) and four films (genres, years; one of neither)."""
    items = pd.DataFrame({
        "title": ["a", "b", "c", "d"], "year": [1990.0, 1970.0, np.nan, 1980.0],
        "genres": [["Drama"], ["Drama", "Comedy"], [], ["Comedy"]],
    })  # fmt: skip
    users = pd.DataFrame({"age": [20, np.nan, 60], "gender": ["F", "M", "F"], "zip": ["1", "2", "3"]})
    users_of, items_of = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 1, 2, 3, 0])
    ratings = np.array([5, 3, 4, 2, 1, 4.0])
    return RatingsDataset(users_of, items_of, ratings, np.arange(3), np.arange(4), items=items, users=users)


def test_attribute_bags_hold_genre_shares_bins_and_categories_weighted_per_block():
    bags_of = attribute_bags(with_metadata())
    films = bags_of["item"].toarray()  # columns: Comedy, Drama (shares of 1), then the year bins
    half = 1 / np.sqrt(2)
    np.testing.assert_allclose(films[0, :2], [0, half])  # drama, with a year: two blocks
    np.testing.assert_allclose(films[1, :2], [0.5 * half, 0.5 * half])
    np.testing.assert_allclose(films[2], 0)  # neither genres nor a year
    np.testing.assert_allclose(films[3, :2], [half, 0])
    years = films[:, 2:]
    assert years.shape[1] == 3 and (years[[0, 1, 3]] > 0).sum(axis=1).tolist() == [1, 1, 1]
    assert len({tuple(row) for row in years[[0, 1, 3]]}) == 3  # three years, three bins
    people = bags_of["user"].toarray()  # age bins (2 ages), then gender (F, M); zip is no attribute
    assert people.shape == (3, 4)
    np.testing.assert_allclose(people[1], [0, 0, 0, 1])  # no age: gender alone, weight 1
    np.testing.assert_allclose(np.sort(people[0])[-2:], [half, half])
    np.testing.assert_allclose(people[:, 2:], [[half, 0], [0, 1], [half, 0]])


def cold_start(n_users: int = 80, n_items: int = 60, cold: int = 10, seed: int = 0):
    """Ratings 3 ± 1 (+ noise 0.1) that only gender and genre explain: women like the comedies and dislike
    the dramas, men the other way round. The first ``cold`` users and films have no ratings; returned with
    the full matrix, the (user, film) codes of the cold users' cells and those of the cold films' cells."""
    rng = np.random.default_rng(seed)
    taste = np.where(np.arange(n_users) % 2 == 0, 1.0, -1.0)
    kind = np.where(np.arange(n_items) % 2 == 0, 1.0, -1.0)
    truth = 3 + np.outer(taste, kind)
    rated = rng.random((n_users, n_items)) < 0.5
    rated[:cold] = rated[:, :cold] = False
    users, items = np.nonzero(rated)
    films = pd.DataFrame({
        "title": [f"film {i}" for i in range(n_items)], "year": np.nan,
        "genres": [["Comedy"] if k > 0 else ["Drama"] for k in kind],
    })  # fmt: skip
    people = pd.DataFrame({"gender": np.where(taste > 0, "F", "M")})
    ratings = truth[users, items] + rng.normal(0, 0.1, len(users))
    data = RatingsDataset(
        users, items, ratings, np.arange(n_users), np.arange(n_items), items=films, users=people
    )
    warm_users, warm_items = np.arange(cold, n_users), np.arange(cold, n_items)
    cold_users = np.repeat(np.arange(cold), len(warm_items)), np.tile(warm_items, cold)
    cold_items = np.repeat(warm_users, cold), np.tile(np.arange(cold), len(warm_users))
    return data, truth, cold_users, cold_items


def test_side_information_predicts_cold_users_and_films_from_their_attributes_and_can_be_left_out():
    """Gender joins the users' side, genres the films' side: people and films without ratings are predicted
    from them (the cold films less surely: 0.38-0.82 over five seeds, against 0.98-1.12 without); without
    side information they are not (RMSE near 1, the size of the taste effect)."""
    data, truth, cold_users, cold_items = cold_start()

    def errors(side_information: bool) -> list[float]:
        settings = dict(n_factors=2, n_epochs=30, link="gaussian", side_information=side_information)
        model = make("bsvdpp", **settings).fit(data)
        cells = (cold_users, cold_items)
        return [float(np.sqrt(np.mean((model.predict(*c) - truth[c]) ** 2))) for c in cells]

    (users_with, films_with), (users_without, films_without) = errors(True), errors(False)
    assert users_with < 0.2 and users_without > 0.8  # measured 0.11 and 1.07
    assert films_with < 0.85 * films_without  # 0.75 and 1.04


def test_attributions_add_up_to_the_taste_part_with_the_bag(planted):
    """Each rated film's share of a film's taste score: the fold-in's split of p plus q_i·y_j/√|S| for the
    bag; together they are q_i·(p + ȳ) less the prior's pull, which is owed to no rated film."""
    data, _ = planted
    model = make("bsvdpp", n_factors=3, n_epochs=30).fit(data)
    codes, ratings = np.array([1, 5, 9, 13]), np.array([5.0, 1.0, 4.0, 3.0])
    vector = model.fold_in(codes, ratings)
    targets = np.arange(30)
    parts = contributions(model, codes, ratings, targets)
    system = model.foldin_system(codes, ratings)
    target = model.item_factors_[targets].astype(float)
    taste = target @ vector.factors - target @ np.linalg.solve(system.matrix, system.prior)[:3]
    np.testing.assert_allclose(parts.sum(axis=1), taste, rtol=1e-7, atol=1e-9)
