"""The shared model interface: hyperparameter validation, the fit loop, callbacks, divergence, state."""

from __future__ import annotations

import json
import pickle
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.data.synthetic import planted_low_rank
from recengine.errors import NotFittedError, ParameterError, TrainingDiverged, UnknownIdError
from recengine.models import MODELS, make
from recengine.models.base import Hyperparameters, Recommender, hyper
from recengine.training import EarlyStopping, History, StopRequest


@dataclass(frozen=True)
class ToyParams(Hyperparameters):
    n_epochs: int = hyper(5, low=1, high=100)
    lr: float = hyper(0.1, low=0, low_open=True, high=10)
    reg: float = hyper(0.0, low=0)
    blow_up_at: int = hyper(0, low=0)


class Toy(Recommender):
    """Rank-1 factors nudged toward the data by a fixed step; can be told to blow up."""

    name = "toy"
    Params = ToyParams

    def _initialize(self, train):
        self.user_factors_ = np.full((train.n_users, 1), 0.1, dtype=self.dtype_)
        self.item_factors_ = np.full((train.n_items, 1), 0.1, dtype=self.dtype_)
        self.user_bias_ = np.zeros(train.n_users, dtype=self.dtype_)
        self.item_bias_ = np.zeros(train.n_items, dtype=self.dtype_)

    def _run_epoch(self, train, epoch):
        residual = train.ratings - self._raw_predict(train.user_codes, train.item_codes)
        self.user_bias_ += self.params.lr * np.bincount(train.user_codes, residual, train.n_users)
        if epoch == self.params.blow_up_at:
            self.user_factors_[0, 0] = np.nan
        return {"grad_norms": {"user_bias": float(np.abs(residual).sum())}, "extra": {"lr": self.params.lr}}

    def _losses(self, train):
        residual = train.ratings - self._raw_predict(train.user_codes, train.item_codes)
        reconstruction = 0.5 * float(residual @ residual)
        arrays = (self.user_factors_, self.item_factors_, self.user_bias_, self.item_bias_)
        regularization = 0.5 * self.params.reg * sum(float(np.vdot(a, a)) for a in arrays)
        return reconstruction, regularization, reconstruction + regularization


def test_hyperparameters_validate_on_creation_and_name_the_range():
    with pytest.raises(ParameterError, match=r"lr=-1\.0 is not allowed: lr must be a number > 0 and ≤ 10"):
        ToyParams(lr=-1.0)
    with pytest.raises(ParameterError, match="n_epochs=2.5"):
        ToyParams(n_epochs=2.5)
    with pytest.raises(ParameterError, match="dtype='float16'.*one of 'float64', 'float32'"):
        ToyParams(dtype="float16")
    with pytest.raises(ParameterError, match="lr=nan"):
        ToyParams(lr=float("nan"))
    with pytest.raises(ParameterError, match="unknown_name"):
        ToyParams.from_dict({"unknown_name": 1})
    assert ToyParams(n_epochs=3.0).n_epochs == 3 and isinstance(ToyParams(n_epochs=3.0).n_epochs, int)
    assert ToyParams(lr=1).lr == 1.0


def test_params_round_trip_through_json():
    params = ToyParams(n_epochs=7, lr=0.5, dtype="float32")
    assert ToyParams.from_dict(json.loads(json.dumps(params.to_dict()))) == params


def test_specs_describe_every_parameter_for_widgets():
    specs = {s.name: s for s in ToyParams.specs()}
    assert specs["lr"].kind == "float" and specs["lr"].low == 0 and specs["lr"].low_open
    assert specs["n_epochs"].kind == "int" and specs["n_epochs"].high == 100
    assert specs["dtype"].kind == "choice"


def test_fit_reports_every_epoch_and_callbacks_see_them(tiny):
    seen = []
    model = Toy(n_epochs=4).fit(tiny, valid=tiny, callbacks=[lambda record, m: seen.append(record.epoch)])
    assert seen == [1, 2, 3, 4]
    assert [r.epoch for r in model.history_] == [1, 2, 3, 4]
    record = model.history_[-1]
    assert record.total_loss == pytest.approx(record.reconstruction_loss + record.regularization_loss)
    assert record.valid_rmse == pytest.approx(record.train_rmse)
    before_last = Toy(n_epochs=3).fit(tiny).predict(tiny.user_codes, tiny.item_codes)
    assert record.grad_norms == {"user_bias": pytest.approx(np.abs(tiny.ratings - before_last).sum())}
    frame = model.history_.to_frame()
    assert {"grad_user_bias", "lr", "train_rmse"} <= set(frame.columns)
    assert History.from_dicts(json.loads(json.dumps(model.history_.to_dicts()))) == model.history_


def test_a_callback_can_stop_training(tiny):
    stop = StopRequest()
    model = Toy(n_epochs=50).fit(tiny, callbacks=[lambda r, m: r.epoch == 2 and stop.request(), stop])
    assert len(model.history_) == 2


def test_early_stopping_restores_the_best_epoch(tiny):
    class Worse:
        def on_epoch(self, record, model):
            record.valid_rmse = abs(record.epoch - 3)  # best at epoch 3

    stopper = EarlyStopping(patience=2)
    model = Toy(n_epochs=20).fit(tiny, valid=tiny, callbacks=[Worse(), stopper])
    assert len(model.history_) == 5 and model.best_epoch_ == 3


def test_nan_factors_raise_training_diverged_with_epoch_and_fix(tiny):
    with pytest.raises(TrainingDiverged, match="epoch 2.*Lower the learning rate"):
        Toy(n_epochs=5, blow_up_at=2).fit(tiny)


def test_exploding_loss_is_divergence(tiny):
    with pytest.raises(TrainingDiverged, match="loss grew"):
        Toy(n_epochs=50, lr=9.0).fit(tiny)


def test_predictions_are_clipped_to_the_scale(tiny):
    model = Toy(n_epochs=2).fit(tiny)
    model.user_bias_[:] = 100
    assert model.predict([0, 1], [0, 1]).max() == tiny.scale.high


def test_unfitted_and_unknown_codes_fail_clearly(tiny):
    with pytest.raises(NotFittedError, match="call fit first"):
        Toy().predict([0], [0])
    model = Toy().fit(tiny)
    with pytest.raises(UnknownIdError, match="user code 99"):
        model.predict([99], [0])


def test_state_round_trip_gives_the_same_predictions(tiny):
    model = Toy().fit(tiny)
    clone = Toy(model.params).restore(model.state(), tiny.scale, tiny.fingerprint, model.history_)
    np.testing.assert_array_equal(clone.predict([0, 1, 2], [0, 1, 2]), model.predict([0, 1, 2], [0, 1, 2]))


def test_make_builds_registered_models_and_refuses_unknown_ones():
    assert "baseline" in MODELS
    with pytest.raises(ParameterError, match="algo='nope'.*baseline"):
        make("nope")


def _without_user_and_item_zero() -> RatingsDataset:
    """A training split that keeps its parent's id space: user 0 and item 0 have no ratings in it."""
    data = planted_low_rank(n_users=40, n_items=30, rank=2, density=0.4, seed=1)[0]
    return data.subset(np.flatnonzero((data.user_codes != 0) & (data.item_codes != 0)))


REGULARIZED = sorted(
    name for name, cls in MODELS.items() if any(spec.name.startswith("reg") for spec in cls.Params.specs())
)


@pytest.mark.parametrize("name", REGULARIZED)
def test_no_regularization_gives_a_clean_model_or_names_the_parameter(name):
    """Every penalty at 0, with a user and an item that have no training ratings (0/0 for a bias mean):
    finite state and scores without a RuntimeWarning, or a ParameterError that names the parameter."""
    train = _without_user_and_item_zero()
    cls = MODELS[name]
    specs = {spec.name: spec for spec in cls.Params.specs()}
    zeros = {key: 0.0 for key, spec in specs.items() if key.startswith("reg") and spec.kind == "float"}
    short = {"n_epochs": 3} if "n_epochs" in specs else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            model = make(name, **zeros, **short).fit(train)
        except ParameterError as error:
            assert any(f"{key}=0" in str(error) for key in zeros), error
            return
        for array in (model.user_factors_, model.item_factors_, model.item_scores(0), model.item_scores(1)):
            assert np.isfinite(array).all()
        if model.kind == "rating":
            assert np.isfinite(model.predict(np.array([0, 0, 1]), np.array([0, 1, 0]))).all()


def test_baseline_without_penalties_leaves_unrated_biases_at_zero():
    train = _without_user_and_item_zero()
    model = make("baseline", reg_user=0.0, reg_item=0.0).fit(train)
    assert model.user_bias_[0] == 0.0 and model.item_bias_[0] == 0.0
    assert np.isfinite(model.user_bias_).all() and np.isfinite(model.item_bias_).all()
    assert model.predict(np.array([0]), np.array([0]))[0] == pytest.approx(model.global_mean_, rel=1e-6)


def test_baseline_matches_hand_computed_biases(tiny):
    model = make("baseline", n_epochs=1, reg_user=0.0, reg_item=0.0).fit(tiny)
    mu = tiny.ratings.mean()
    user0 = tiny.ratings[tiny.user_codes == 0].mean() - mu
    assert model.user_bias_[0] == pytest.approx(user0, rel=1e-6)
    assert model.global_mean_ == pytest.approx(mu)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_fitted_model_holds_its_learned_state_only(name):
    """Working arrays are released at the end of fit: pickled (as it travels from a trainer process or sits
    in a cache), a model is at most 1.3 times its learned arrays, plus a few kilobytes for its settings and
    per-epoch history."""
    data, _ = planted_low_rank(n_users=300, n_items=200, rank=3, density=0.2, seed=1)
    quick = {"bpmf": {"n_epochs": 3, "burn_in": 1}, "gd": {"n_epochs": 3}}
    model = make(name, **quick.get(name, {})).fit(data)
    learned = sum(array.nbytes for array in model.state().values())
    blob = pickle.dumps(model)
    assert len(blob) <= 1.3 * learned + 16_000
    np.testing.assert_array_equal(pickle.loads(blob).item_scores(7), model.item_scores(7))
