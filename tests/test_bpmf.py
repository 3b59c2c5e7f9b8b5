"""`bpmf`: exact Gaussian draws, planted recovery, averaging after burn-in, honest losses, saved state."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.data.synthetic import planted_low_rank
from recengine.evaluation.split import holdout_random
from recengine.models import make
from recengine.models.kernels import rowsolve
from recengine.training import History


def test_gaussian_draw_has_the_conditional_mean_and_covariance():
    """x = A⁻¹h + M z with Mᵀ A M = I: the draw's covariance M Mᵀ is exactly A⁻¹."""
    rng = np.random.default_rng(0)
    d, n_cols = 3, 6
    features, offsets = rng.normal(size=(n_cols, d)), rng.normal(size=n_cols)
    values = rng.normal(size=n_cols).astype(np.float32)
    root = rng.normal(size=(d, d))
    prior, shift, scale = root @ root.T + np.eye(d), rng.normal(size=d), 1.7
    indptr, indices = np.array([0, n_cols], np.int32), np.arange(n_cols, dtype=np.int32)
    precision = scale * features.T @ features + prior
    mean = np.linalg.solve(precision, scale * features.T @ (values - offsets) + shift)

    def draw(noise: np.ndarray) -> np.ndarray:
        out = np.zeros((1, d))
        rowsolve.gaussian_draw(
            indptr, indices, values, offsets, features, scale, prior, shift, noise[None], out
        )
        return out[0]

    np.testing.assert_allclose(draw(np.zeros(d)), mean, rtol=1e-10)
    spread = np.column_stack([draw(unit) - mean for unit in np.eye(d)])
    np.testing.assert_allclose(spread.T @ precision @ spread, np.eye(d), atol=1e-10)


def test_noise_free_planted_matrix_is_recovered(planted):
    data, _ = planted
    model = make("bpmf", n_factors=3, alpha=1000.0, biases=False, n_epochs=60, burn_in=30).fit(data)
    assert model.history_[-1].train_rmse < 0.05


def test_noisy_planted_matrix_test_rmse_is_within_ten_percent_of_the_noise():
    noise = 0.3
    data, _ = planted_low_rank(300, 200, rank=3, density=0.3, noise=noise, seed=2, biases=True)
    train, test = holdout_random(data, 0.2, seed=0)
    model = make("bpmf", n_factors=3, alpha=1 / noise**2, n_epochs=60, burn_in=20).fit(train)
    assert model.rmse(test) < 1.1 * noise


def test_prediction_averages_the_samples_after_burn_in(planted):
    data, _ = planted
    samples = []

    def keep(record, model):
        samples.append((model.users_sample_.copy(), model.items_sample_.copy()))

    model = make("bpmf", n_factors=2, n_epochs=6, burn_in=3).fit(data, callbacks=[keep])
    users = np.mean([s[0] for s in samples[3:]], axis=0)
    items = np.mean([s[1] for s in samples[3:]], axis=0)
    np.testing.assert_allclose(model.user_factors_, users[:, :2], rtol=1e-12)
    np.testing.assert_allclose(model.item_bias_, items[:, 2], rtol=1e-12)
    assert [r.extra["samples_averaged"] for r in model.history_] == [0, 0, 0, 1, 2, 3]
    drawn = []
    last = make("bpmf", n_factors=2, n_epochs=3, burn_in=5).fit(  # no averaging: the last sample
        data, callbacks=[lambda record, model: drawn.append(model.users_sample_.copy())]
    )
    np.testing.assert_array_equal(last.user_factors_, drawn[-1][:, :2])


def test_losses_are_those_of_the_current_sample(tiny):
    seen = {}  # the chain's state as the last epoch ends (a fitted model keeps only its averages)

    def remember(record, model) -> None:
        seen.update(users=model.users_sample_.copy(), items=model.items_sample_.copy())
        seen.update(user_prior=model.user_prior_, item_prior=model.item_prior_)

    model = make("bpmf", n_factors=2, n_epochs=3, alpha=2.0).fit(tiny, callbacks=[remember])
    users, items = seen["users"], seen["items"]
    predicted = (
        model.global_mean_
        + np.sum(users[tiny.user_codes, :2] * items[tiny.item_codes, :2], axis=1)
        + users[tiny.user_codes, 2]
        + items[tiny.item_codes, 2]
    )
    penalty = 0.0
    for rows, (centre, precision) in ((users, seen["user_prior"]), (items, seen["item_prior"])):
        penalty += np.einsum("ij,jk,ik->", rows - centre, precision, rows - centre)
    record = model.history_[-1]
    assert record.reconstruction_loss == pytest.approx(0.5 * np.sum((tiny.ratings - predicted) ** 2))
    assert record.regularization_loss == pytest.approx(0.5 * penalty / 2.0)


def test_saved_state_predicts_exactly_the_same(planted):
    data, _ = planted
    model = make("bpmf", n_factors=3, n_epochs=8, burn_in=2).fit(data)
    restored = make("bpmf", n_factors=3, n_epochs=8, burn_in=2).restore(
        {k: v.copy() for k, v in model.state().items()}, data.scale, data.fingerprint, History(model.history_)
    )
    users, items = data.user_codes, data.item_codes
    np.testing.assert_array_equal(restored.predict(users, items), model.predict(users, items))


def test_same_seed_same_numbers_and_float32(planted):
    data, _ = planted
    first, again = (make("bpmf", n_factors=3, n_epochs=4, seed=9).fit(data) for _ in range(2))
    for name, array in first.state().items():
        np.testing.assert_array_equal(array, again.state()[name])
    small = make("bpmf", n_factors=3, n_epochs=4, dtype="float32").fit(data)
    assert small.user_factors_.dtype == np.float32 and small.item_bias_.dtype == np.float32
