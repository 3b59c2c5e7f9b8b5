"""`svdpp`: planted recovery, determinism, divergence, float32 and saving (its objective, effective vectors and
epochs by hand: test_by_hand_svdpp.py and test_by_hand_models.py)."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.data.synthetic import planted_low_rank
from recengine.errors import TrainingDiverged
from recengine.models import make
from recengine.models.kernels import jit

PLANTED = dict(n_factors=3, n_epochs=60, lr=0.01, reg=0.0, reg_implicit=0.0)


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
