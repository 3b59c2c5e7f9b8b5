"""`nmf`: non-negative factors, monotone multiplicative updates, planted recovery, zero-filled mode, fold-in."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.errors import ParameterError
from recengine.evaluation.split import holdout_random
from recengine.models import make


def nonnegative_planted(
    noise: float = 0.0, seed: int = 0, shape: tuple[int, int] = (200, 150), density: float = 0.3
) -> tuple[RatingsDataset, np.ndarray]:
    """Some of a matrix 1 + U Vᵀ with U, V ≥ 0 of rank 3 (non-negative rank ≤ 4), plus noise."""
    rng = np.random.default_rng(seed)
    truth = 1 + rng.uniform(0, 1, (shape[0], 3)) @ rng.uniform(0, 1, (shape[1], 3)).T
    users, items = np.nonzero(rng.random(truth.shape) < density)
    ratings = truth[users, items] + rng.normal(0, noise, len(users))
    ids_u, ids_i = np.arange(shape[0]), np.arange(shape[1])
    return RatingsDataset(users, items, ratings, ids_u, ids_i, scale=RatingScale(-10, 20)), truth


@pytest.mark.parametrize("init", ["nndsvd", "random"])
def test_noise_free_planted_matrix_is_recovered(init):
    data, _ = nonnegative_planted()
    model = make("nmf", n_factors=4, reg=0.0, n_epochs=600, init=init).fit(data)
    assert model.history_[-1].train_rmse < 0.05


@pytest.mark.slow
def test_noisy_planted_matrix_test_rmse_is_within_ten_percent_of_the_noise():
    noise = 0.2
    data, _ = nonnegative_planted(noise, seed=1, shape=(300, 250), density=0.5)
    train, test = holdout_random(data, 0.2, seed=0)
    model = make("nmf", n_factors=4, reg=0.01, n_epochs=300).fit(train)
    assert model.rmse(test) < 1.1 * noise


CONFIGURATIONS = [
    dict(mode="observed", init="nndsvd", biases=False),
    dict(mode="observed", init="random", biases=True),
    dict(mode="observed", init="random", biases=False, weighted_reg=False),
    dict(mode="zero_filled", init="nndsvd", biases=False),
    dict(mode="zero_filled", init="random", biases=False),
]


@pytest.mark.parametrize("config", CONFIGURATIONS, ids=lambda c: "-".join(map(str, c.values())))
def test_factors_stay_nonnegative_and_the_loss_never_increases(config):
    data, _ = nonnegative_planted(noise=0.5, seed=2)
    model = make("nmf", n_factors=5, reg=0.05, n_epochs=25, **config).fit(data)
    assert (model.user_factors_ >= 0).all() and (model.item_factors_ >= 0).all()
    totals = [record.total_loss for record in model.history_]
    assert all(later <= earlier * (1 + 1e-12) for earlier, later in itertools.pairwise(totals))
    assert totals[-1] < totals[0]


def test_zero_filled_loss_counts_every_cell_and_predicts_too_low(tiny):
    zero = make("nmf", n_factors=2, reg=0.1, n_epochs=30, mode="zero_filled").fit(tiny)
    dense = np.zeros((tiny.n_users, tiny.n_items))
    dense[tiny.user_codes, tiny.item_codes] = tiny.ratings
    product = zero.user_factors_ @ zero.item_factors_.T
    weights_u, weights_i = np.full(tiny.n_users, tiny.n_items), np.full(tiny.n_items, tiny.n_users)
    penalty = 0.05 * (
        weights_u @ np.sum(zero.user_factors_**2, axis=1) + weights_i @ np.sum(zero.item_factors_**2, axis=1)
    )
    record = zero.history_[-1]
    assert record.reconstruction_loss == pytest.approx(0.5 * np.sum((dense - product) ** 2), rel=1e-9)
    assert record.regularization_loss == pytest.approx(penalty, rel=1e-9)
    observed = make("nmf", n_factors=2, reg=0.1, n_epochs=30).fit(tiny)
    mean_zero = zero.predict(tiny.user_codes, tiny.item_codes).mean()
    assert mean_zero < observed.predict(tiny.user_codes, tiny.item_codes).mean() - 0.5


def test_prediction_has_no_global_mean_without_biases(tiny):
    model = make("nmf", n_factors=2, n_epochs=5).fit(tiny)
    product = model.user_factors_ @ model.item_factors_.T
    scores = np.array([model.item_scores(user) for user in range(tiny.n_users)])
    np.testing.assert_allclose(scores, product, rtol=1e-12)
    predicted = model.predict(*np.indices(product.shape)).reshape(product.shape)
    np.testing.assert_allclose(predicted, tiny.scale.clip(product), rtol=1e-12)


@pytest.mark.parametrize("config", [dict(biases=False), dict(biases=True), dict(mode="zero_filled")])
def test_fold_in_solves_the_users_row_at_least_as_well_as_training(config):
    data, _ = nonnegative_planted(noise=0.3, seed=3)
    model = make("nmf", n_factors=4, reg=0.05, n_epochs=40, **config).fit(data)
    user = 7
    items = data.item_codes[data.user_codes == user]
    ratings = data.ratings[data.user_codes == user].astype(np.float64)
    factors, bias = model.fold_in_user(items, ratings)
    assert (factors >= 0).all()
    trained_bias = 0.0 if model.user_bias_ is None else float(model.user_bias_[user])

    def row_loss(p: np.ndarray, b: float) -> float:
        if config.get("mode") == "zero_filled":
            full = np.zeros(data.n_items)
            full[items] = ratings
            residual, count = full - model.item_factors_ @ p, data.n_items
        else:
            item_bias = 0.0 if model.item_bias_ is None else model.item_bias_[items]
            residual, count = ratings - b - item_bias - model.item_factors_[items] @ p, len(items)
        return float(residual @ residual + 0.05 * count * (p @ p + b * b))

    assert row_loss(factors, bias) <= row_loss(model.user_factors_[user].astype(float), trained_bias) + 1e-9


def test_same_seed_same_factors():
    data, _ = nonnegative_planted(noise=0.3)
    first, again = (make("nmf", init="random", n_epochs=5, seed=3).fit(data) for _ in range(2))
    np.testing.assert_array_equal(first.user_factors_, again.user_factors_)
    nndsvd = [make("nmf", n_epochs=5, seed=3).fit(data).item_factors_ for _ in range(2)]
    np.testing.assert_array_equal(*nndsvd)


def test_float32_on_request(tiny):
    model = make("nmf", n_factors=2, n_epochs=5, dtype="float32").fit(tiny)
    assert model.user_factors_.dtype == np.float32 and model.item_factors_.dtype == np.float32


def test_bad_combinations_are_refused(tiny):
    with pytest.raises(ParameterError, match="biases=True"):
        make("nmf", biases=True, mode="zero_filled")
    with pytest.raises(ParameterError, match="n_factors=4 .*init='nndsvd'"):
        make("nmf", n_factors=4).fit(tiny)
