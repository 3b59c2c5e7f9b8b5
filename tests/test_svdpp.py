"""`svdpp`: the kernel's epoch against finite differences of the stated objective, the implicit sums,
planted recovery, determinism, divergence and float32."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.data.synthetic import planted_low_rank
from recengine.errors import TrainingDiverged
from recengine.models import make
from recengine.models.kernels import jit

PLANTED = dict(n_factors=3, n_epochs=60, lr=0.01, reg=0.0, reg_implicit=0.0)
PARTS = (
    "user_own_factors_", "item_own_factors_", "implicit_factors_", "implicit_user_factors_",
    "user_bias_", "item_bias_",
)  # fmt: skip


@pytest.fixture(scope="module")
def small() -> RatingsDataset:
    data, _ = planted_low_rank(n_users=10, n_items=8, rank=2, density=0.5, noise=0.5, seed=5, biases=True)
    return data


def started(data: RatingsDataset, **params):
    model = make("svdpp", **params)
    model._prepare(data)
    model._initialize(data)
    rng = np.random.default_rng(3)
    if model.user_bias_ is not None:
        model.user_bias_[:] = rng.normal(0, 0.3, data.n_users)
        model.item_bias_[:] = rng.normal(0, 0.3, data.n_items)
    model._update_effective_factors()
    return model


def parts(model) -> dict[str, np.ndarray]:
    """The learned parts (q is item_factors_ itself without item_implicit)."""
    out = {name: getattr(model, name) for name in PARTS if getattr(model, name) is not None}
    out.setdefault("item_own_factors_", model._q())
    return out


def numeric_gradient(model, data, step: float = 1e-6) -> dict[str, np.ndarray]:
    def loss() -> float:
        model._update_effective_factors()
        return model._losses(data)[2]

    out = {}
    for name, array in parts(model).items():
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            kept = array[index]
            array[index] = kept + step
            upper = loss()
            array[index] = kept - step
            lower = loss()
            array[index] = kept
            grad[index] = (upper - lower) / (2 * step)
        out[name] = grad
    model._update_effective_factors()
    return out


@pytest.mark.parametrize("item_implicit", [False, True])
@pytest.mark.parametrize("reg_power", [0.0, 0.5, 1.0])
def test_one_epoch_with_a_tiny_step_moves_along_minus_the_gradient(small, item_implicit, reg_power):
    """An epoch of steps of size lr adds up to −lr ∇L (to first order): the kernel's gradient is right.

    With item_implicit each epoch makes two passes, and both update b, p and q: they move twice as far.
    """
    lr = 1e-7
    model = started(
        small, n_factors=3, lr=lr, reg=0.4, reg_implicit=0.7, reg_power=reg_power, item_implicit=item_implicit
    )
    numeric = numeric_gradient(model, small)
    before = {name: array.copy() for name, array in parts(model).items()}
    model._run_epoch(small, 1)
    passes = 2 if item_implicit else 1
    for name, array in parts(model).items():
        moved = (before[name] - array) / lr
        expected = numeric[name] * (1 if name.startswith("implicit") else passes)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(moved, expected, rtol=0, atol=1e-4 * scale, err_msg=name)


def test_effective_factors_add_the_averaged_implicit_factors(small):
    model = started(small, n_factors=2, item_implicit=True)
    user, item = 0, 1
    rated = small.item_codes[small.user_codes == user]
    raters = small.user_codes[small.item_codes == item]
    expected_user = model.user_own_factors_[user] + model.implicit_factors_[rated].sum(0) / np.sqrt(
        len(rated)
    )
    expected_item = model.item_own_factors_[item] + model.implicit_user_factors_[raters].sum(0) / np.sqrt(
        len(raters)
    )
    np.testing.assert_allclose(model.user_factors_[user], expected_user)
    np.testing.assert_allclose(model.item_factors_[item], expected_item)
    prediction = model._raw_predict(np.array([user]), np.array([item]))[0]
    direct = (
        model.global_mean_ + model.user_bias_[user] + model.item_bias_[item] + expected_user @ expected_item
    )
    assert prediction == pytest.approx(direct)


@pytest.mark.parametrize("item_implicit", [False, True])
def test_recovers_a_noise_free_planted_matrix(planted, item_implicit):
    data, _ = planted
    model = make("svdpp", **PLANTED, item_implicit=item_implicit).fit(data)
    assert model.history_[-1].train_rmse < 0.05


@pytest.mark.parametrize("item_implicit", [False, True])
def test_noisy_planted_matrix_test_rmse_is_within_ten_percent_of_the_noise(item_implicit):
    data, _ = planted_low_rank(n_users=300, n_items=200, rank=3, density=0.5, noise=0.3, seed=2)
    test = np.random.default_rng(0).random(data.n_ratings) < 0.2
    positions = np.arange(data.n_ratings)
    train, held_out = data.subset(positions[~test]), data.subset(positions[test])
    model = make("svdpp", **PLANTED, item_implicit=item_implicit).fit(train)
    assert model.rmse(held_out) <= 1.1 * 0.3


def test_loss_falls_and_every_block_reports_a_gradient_norm(planted):
    data, _ = planted
    model = make("svdpp", **(PLANTED | dict(n_epochs=4, reg=0.5, reg_implicit=0.5))).fit(data, valid=data)
    history = model.history_
    assert history[-1].total_loss < history[0].total_loss
    assert set(history[-1].grad_norms) == {
        "user_factors", "item_factors", "implicit_factors", "implicit_user_factors", "user_bias", "item_bias",
    }  # fmt: skip
    first_call = jit.first_call_seconds()["implicit_pass/float64"]
    assert first_call > 0  # the kernel's compile (or load) took time once in this process ...
    assert history[0].extra["compile_seconds"] in (first_call, 0.0)  # ... paid by this fit or an earlier one


def test_same_seed_same_factors(planted):
    data, _ = planted
    first, second = (make("svdpp", n_epochs=3).fit(data) for _ in range(2))
    other = make("svdpp", n_epochs=3, seed=1).fit(data)
    for name, array in first.state().items():
        assert np.array_equal(array, second.state()[name]), name
    assert not np.array_equal(first.item_factors_, other.item_factors_)


@pytest.mark.parametrize("item_implicit", [False, True])
def test_a_divergent_learning_rate_stops_in_the_first_epoch(planted, item_implicit):
    data, _ = planted
    with pytest.raises(TrainingDiverged, match="epoch 1: .*learning rate") as caught:
        make("svdpp", lr=50.0, item_implicit=item_implicit).fit(data)
    assert caught.value.epoch == 1


def test_float32_on_request_matches_float64(planted):
    data, _ = planted
    single = make("svdpp", **(PLANTED | dict(n_epochs=10, dtype="float32"))).fit(data)
    double = make("svdpp", **(PLANTED | dict(n_epochs=10))).fit(data)
    assert all(a.dtype == np.float32 for a in single.state().values() if a.ndim)
    assert single.history_[-1].train_rmse == pytest.approx(double.history_[-1].train_rmse, abs=1e-3)


def test_without_item_implicit_and_biases_the_parts_are_absent(planted):
    data, _ = planted
    model = make("svdpp", n_epochs=2, item_implicit=False, biases=False).fit(data)
    state = model.state()
    assert "item_own_factors_" not in state and "implicit_user_factors_" not in state
    assert "user_bias_" not in state and "implicit_factors_" in state


def test_a_restored_model_predicts_the_same(planted):
    data, _ = planted
    model = make("svdpp", n_epochs=2).fit(data)
    copy = make("svdpp", n_epochs=2).restore(model.state(), model.scale_, model.fingerprint_, model.history_)
    users, items = data.user_codes[:50], data.item_codes[:50]
    np.testing.assert_array_equal(copy.predict(users, items), model.predict(users, items))


def test_params_describe_themselves():
    model = make("svdpp")
    assert model.description and model.formulas and model.divergence_hint
    specs = {spec.name: spec for spec in model.Params.specs()}
    for name in (
        "n_factors",
        "n_epochs",
        "lr",
        "reg",
        "reg_implicit",
        "reg_power",
        "item_implicit",
        "biases",
    ):
        assert specs[name].help
