"""The gradient models `sgd`, `minibatch`, `gd` and `adam`: gradients checked against finite differences,
planted low-rank recovery, determinism, divergence, float32, clipping and reporting."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.data.synthetic import planted_low_rank
from recengine.errors import ParameterError, TrainingDiverged
from recengine.models import make
from recengine.models.gradient import clipped, moments
from recengine.models.kernels import jit
from recengine.models.objective import Batch, mf_gradient
from recengine.models.sgd import warm_up

GRADIENT_MODELS = ("sgd", "minibatch", "gd", "adam")

# Settings that recover a planted rank-3 matrix (fast enough for the suite).
PLANTED = {
    "sgd": dict(n_factors=3, n_epochs=60, lr=0.02, reg=0.0, weighted_reg=False),
    "minibatch": dict(n_factors=3, n_epochs=60, lr=0.02, reg=0.0, batch_size=512),
    "gd": dict(n_factors=3, n_epochs=300, lr=0.002, reg=0.0),
    "adam": dict(n_factors=3, n_epochs=60, lr=0.02, reg=0.0, batch_size=1024),
}


def split(data: RatingsDataset, share: float = 0.2, seed: int = 0) -> tuple[RatingsDataset, RatingsDataset]:
    test = np.random.default_rng(seed).random(data.n_ratings) < share
    positions = np.arange(data.n_ratings)
    return data.subset(positions[~test]), data.subset(positions[test])


@pytest.fixture(scope="module")
def small() -> RatingsDataset:
    """12 users × 9 items, about half observed, on a wide continuous scale."""
    data, _ = planted_low_rank(n_users=12, n_items=9, rank=2, density=0.5, noise=0.5, seed=4, biases=True)
    return data


BLOCKS = ("user_factors", "item_factors", "user_bias", "item_bias")


def at_a_point(name: str, data: RatingsDataset, probe, **params):
    """``probe(model)`` inside a one-epoch fit (the objective's per-row penalties are set), with the biases
    moved off zero: a point to take gradients at."""
    out = []

    def call(record, fitted) -> None:
        rng = np.random.default_rng(7)
        for block in ("user_bias_", "item_bias_"):
            if getattr(fitted, block) is not None:
                setattr(fitted, block, rng.normal(0, 0.3, getattr(fitted, block).shape))
        out.append(probe(fitted))

    make(name, n_epochs=1, seed=7, **params).fit(data, callbacks=[call])
    return out[0]


def blocks_of(model) -> dict[str, np.ndarray]:
    return {n: getattr(model, n + "_") for n in BLOCKS if getattr(model, n + "_") is not None}


def objective(
    arrays: dict, data: RatingsDataset, reg: float, weighted: bool, part=None
) -> tuple[float, float]:
    """The biased MF objective, written here from its definition (not the model's code):
    ½ Σ (r − μ − b_u − b_i − p_u·q_i)² and ½ λ Σ_rows w (‖row‖² + b²), w = the row's count (weighted) or 1.
    With ``part``: the share of both terms its ratings carry (each rating λ w / n of its rows' penalty)."""
    part = np.arange(data.n_ratings) if part is None else part
    users, items, ratings = data.user_codes[part], data.item_codes[part], data.ratings[part]
    user_bias, item_bias = (arrays.get(n, np.zeros(len(arrays[f])))
                            for n, f in (("user_bias", "user_factors"), ("item_bias", "item_factors")))  # fmt: skip
    mean = float(data.ratings.mean())
    error = ratings - mean - user_bias[users] - item_bias[items]
    error -= np.sum(arrays["user_factors"][users] * arrays["item_factors"][items], axis=1)
    penalty = 0.0
    for rows, codes, factors, bias in ((users, data.user_codes, arrays["user_factors"], user_bias),
                                       (items, data.item_codes, arrays["item_factors"], item_bias)):  # fmt: skip
        counts = np.bincount(codes, minlength=len(factors)).astype(float)
        weight = counts if weighted else (counts > 0).astype(float)
        share = weight[rows] / counts[rows]  # each rating's share of its row's penalty
        penalty += float(np.sum(share * (np.sum(factors[rows] ** 2, axis=1) + bias[rows] ** 2)))
    return 0.5 * float(error @ error), 0.5 * reg * penalty


def numeric_gradient(arrays: dict, loss, step: float = 1e-6) -> dict[str, np.ndarray]:
    """Central finite differences of ``loss(arrays)`` with respect to every entry."""
    out = {}
    for name, array in arrays.items():
        grad = np.zeros_like(array, dtype=np.float64)
        for index in np.ndindex(array.shape):
            kept = array[index]
            array[index] = kept + step
            upper = loss(arrays)
            array[index] = kept - step
            lower = loss(arrays)
            array[index] = kept
            grad[index] = (upper - lower) / (2 * step)
        out[name] = grad
    return out


def total(data: RatingsDataset, reg: float, weighted: bool, part=None):
    return lambda arrays: sum(objective(arrays, data, reg, weighted, part))


def dense(gradient, model) -> dict[str, np.ndarray]:
    """The gradient's blocks as full arrays (zero on rows the batch does not touch)."""
    out = {}
    for name, block in gradient.blocks().items():
        full = np.zeros_like(getattr(model, name + "_"))
        full[gradient.rows(name)] = block
        out[name] = full
    return out


def assert_gradients_match(analytic: dict, numeric: dict, rtol: float = 1e-5) -> None:
    assert set(analytic) == set(numeric)
    for name in numeric:
        scale = np.abs(numeric[name]).max()
        np.testing.assert_allclose(analytic[name], numeric[name], rtol=0, atol=rtol * scale, err_msg=name)


def epochs_of(model, data: RatingsDataset) -> list[tuple[dict[str, np.ndarray], object]]:
    """Fit; each epoch's arrays (copied) and its record."""
    seen = []
    model.fit(data, callbacks=[lambda record, fitted: seen.append(
        ({n: np.array(a, dtype=np.float64) for n, a in blocks_of(fitted).items()}, record))])  # fmt: skip
    return seen


# --- gradients ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("biases", [True, False])
@pytest.mark.parametrize("weighted_reg", [True, False])
def test_analytic_gradient_matches_finite_differences_of_the_objective(small, biases, weighted_reg):
    def probe(model):
        gradient = mf_gradient(model, Batch.from_data(small, model.dtype_))
        return (
            gradient,
            dense(gradient, model),
            {n: a.astype(np.float64) for n, a in blocks_of(model).items()},
        )

    gradient, analytic, arrays = at_a_point(
        "gd", small, probe, n_factors=3, reg=0.3, biases=biases, weighted_reg=weighted_reg
    )
    assert_gradients_match(analytic, numeric_gradient(arrays, total(small, 0.3, weighted_reg)))
    assert gradient.squared_error == pytest.approx(2 * objective(arrays, small, 0.3, weighted_reg)[0])


def test_batch_gradients_are_shares_that_add_up_to_the_full_gradient(small):
    parts = np.array_split(np.random.default_rng(0).permutation(small.n_ratings), 4)

    def probe(model):
        whole = dense(mf_gradient(model, Batch.from_data(small, model.dtype_)), model)
        return whole, [
            dense(mf_gradient(model, Batch.from_data(small, model.dtype_, p)), model) for p in parts
        ]

    full, shares = at_a_point("minibatch", small, probe, n_factors=3, reg=0.3)
    summed = {name: sum(share[name] for share in shares) for name in full}
    for name in full:
        np.testing.assert_allclose(summed[name], full[name], atol=1e-12)


def test_a_batch_gradient_is_the_gradient_of_the_batch_share_of_the_loss(small):
    part = np.arange(0, small.n_ratings, 3)

    def probe(model):
        analytic = dense(mf_gradient(model, Batch.from_data(small, model.dtype_, part)), model)
        return (
            analytic,
            {n: a.astype(np.float64) for n, a in blocks_of(model).items()},
            model.params.weighted_reg,
        )

    analytic, arrays, weighted = at_a_point("adam", small, probe, n_factors=3, reg=0.3)
    assert_gradients_match(analytic, numeric_gradient(arrays, total(small, 0.3, weighted, part)))


@pytest.mark.parametrize("name", ["sgd", "minibatch"])
@pytest.mark.parametrize("weighted_reg", [True, False])
def test_one_epoch_with_a_tiny_step_moves_along_minus_the_gradient(small, name, weighted_reg):
    """An epoch of stochastic steps of size lr adds up to −lr ∇L, up to O(lr²): this checks the kernels."""
    lr = 1e-7
    extra = {"batch_size": 7} if name == "minibatch" else {}
    model = make(name, n_factors=3, n_epochs=2, reg=0.3, lr=lr, weighted_reg=weighted_reg, seed=5, **extra)
    (first, _), (second, _) = epochs_of(model, small)
    numeric = numeric_gradient(dict(first), total(small, 0.3, weighted_reg))
    moved = {n: (first[n] - second[n]) / lr for n in first}
    assert_gradients_match(moved, numeric, rtol=1e-4)


@pytest.mark.parametrize("biases", [True, False])
def test_sgd_reports_the_errors_its_sweep_met(small, biases):
    """At a tiny learning rate the parameters barely move, so the losses and train RMSE the SGD kernel sums as
    it goes are those of the epoch's start (the end of the one before)."""
    model = make("sgd", n_factors=3, n_epochs=2, reg=0.3, lr=1e-9, biases=biases, seed=5)
    (first, _), (_, record) = epochs_of(model, small)
    fit, penalty = objective(first, small, 0.3, model.params.weighted_reg)
    reported = (record.reconstruction_loss, record.regularization_loss, record.total_loss, record.train_rmse)
    assert reported == pytest.approx(
        (fit, penalty, fit + penalty, np.sqrt(2 * fit / small.n_ratings)), rel=1e-6
    )
    assert record.measured == "during epoch"


def test_gradient_norms_of_gd_are_those_of_the_gradient(small):
    model = make("gd", n_factors=3, n_epochs=2, reg=0.3, lr=0.01, seed=5)
    (first, _), (_, record) = epochs_of(model, small)
    expected = numeric_gradient(dict(first), total(small, 0.3, model.params.weighted_reg))
    for name, value in record.grad_norms.items():
        assert value == pytest.approx(np.linalg.norm(expected[name]), rel=1e-5)
    everything = np.concatenate([g.ravel() for g in expected.values()])
    assert record.extra["grad_mean"] == pytest.approx(everything.mean(), rel=1e-4, abs=1e-9)
    assert record.extra["grad_std"] == pytest.approx(everything.std(), rel=1e-5)


# --- clipping -------------------------------------------------------------------------------------------


def test_clipping_by_norm_rescales_the_whole_gradient():
    blocks = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, 4.0]])}
    out, kept = clipped(blocks, 1.0, "norm")
    assert kept == pytest.approx(0.2)
    np.testing.assert_allclose(out["a"], [0.6, 0.0])
    np.testing.assert_allclose(out["b"], [[0.0, 0.8]])
    same, kept = clipped(blocks, 10.0, "norm")
    assert kept == 1.0 and same["a"] is not None and np.array_equal(same["a"], blocks["a"])


def test_clipping_by_value_cuts_each_entry():
    out, kept = clipped({"a": np.array([3.0, -0.5]), "b": np.array([-4.0])}, 1.0, "value")
    np.testing.assert_allclose(out["a"], [1.0, -0.5])
    np.testing.assert_allclose(out["b"], [-1.0])
    assert kept == pytest.approx(np.sqrt(1 + 0.25 + 1) / np.sqrt(9 + 0.25 + 16))
    assert clipped({"a": np.array([5.0])}, 0.0, "value")[1] == 1.0


def test_moments_of_all_gradient_entries():
    mean, std = moments({"a": np.array([1.0, 2.0]), "b": np.array([[3.0], [6.0]])})
    assert mean == pytest.approx(3.0) and std == pytest.approx(np.std([1, 2, 3, 6]))


@pytest.mark.parametrize("mode", ["norm", "value"])
def test_gd_with_clipping_takes_bounded_steps(small, mode):
    model = make("gd", n_factors=3, n_epochs=2, lr=0.01, clip=0.5, clip_mode=mode, momentum=0.0, seed=5)
    (first, _), (second, record) = epochs_of(model, small)
    change = {n: first[n] - second[n] for n in first}
    assert record.extra["clip_kept"] < 1
    if mode == "norm":
        whole = np.sqrt(sum(np.sum(c**2) for c in change.values()))
        assert whole == pytest.approx(0.01 * 0.5)
    else:
        assert max(np.abs(c).max() for c in change.values()) == pytest.approx(0.01 * 0.5)


# --- learning -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GRADIENT_MODELS)
def test_recovers_a_noise_free_planted_matrix(planted, name):
    data, _ = planted
    model = make(name, **PLANTED[name]).fit(data)
    assert model.history_[-1].train_rmse < 0.05


@pytest.fixture(scope="module")
def noisy() -> tuple[RatingsDataset, RatingsDataset]:
    data, _ = planted_low_rank(n_users=300, n_items=200, rank=3, density=0.5, noise=0.3, seed=2)
    return split(data)


@pytest.mark.parametrize("name", GRADIENT_MODELS)
def test_noisy_planted_matrix_test_rmse_is_within_ten_percent_of_the_noise(noisy, name):
    train, test = noisy
    model = make(name, **PLANTED[name]).fit(train)
    assert model.rmse(test) <= 1.1 * 0.3


@pytest.mark.parametrize("name", GRADIENT_MODELS)
def test_loss_falls_and_history_is_complete(planted, name):
    data, _ = planted
    model = make(name, **(PLANTED[name] | dict(n_epochs=5, reg=0.1))).fit(data, valid=data)
    history = model.history_
    assert len(history) == 5
    assert history[-1].total_loss < history[0].total_loss
    assert set(history[-1].grad_norms) == {"user_factors", "item_factors", "user_bias", "item_bias"}
    if history[-1].measured == "after epoch":
        assert history[-1].valid_rmse == pytest.approx(history[-1].train_rmse)
    else:  # sgd: each rating's error before its own step, a little above the error at the epoch's end
        assert history[-1].valid_rmse <= history[-1].train_rmse <= 1.1 * history[-1].valid_rmse


@pytest.mark.parametrize("name", GRADIENT_MODELS)
def test_same_seed_same_factors_other_seed_other_factors(planted, name):
    data, _ = planted
    params = PLANTED[name] | dict(n_epochs=3)
    first, second = make(name, **params).fit(data), make(name, **params).fit(data)
    other = make(name, **(params | dict(seed=1))).fit(data)
    for block in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        assert np.array_equal(getattr(first, block), getattr(second, block))
    assert not np.array_equal(first.item_factors_, other.item_factors_)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # overflow on the way is the fit loop's to report
@pytest.mark.parametrize(("name", "lr"), [("sgd", 50.0), ("minibatch", 50.0), ("gd", 10.0), ("adam", 100.0)])
def test_a_divergent_learning_rate_stops_in_the_first_epoch(planted, name, lr):
    data, _ = planted
    with pytest.raises(TrainingDiverged, match="epoch 1: .*learning rate") as caught:
        make(name, **(PLANTED[name] | dict(lr=lr))).fit(data)
    assert caught.value.epoch == 1


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_biases_too_large_to_square_are_divergence_not_a_warning():
    """Here SGD at lr=1 leaves biases finite but above 1e154, whose squares in the loss overflow."""
    data = planted_low_rank(n_users=60, n_items=40, rank=2, density=0.4, seed=1)[0]
    with pytest.raises(TrainingDiverged, match="epoch 1: the loss or the factors became NaN or infinite"):
        make("sgd", lr=1.0).fit(data)


@pytest.mark.parametrize("name", GRADIENT_MODELS)
def test_float32_on_request_matches_float64(planted, name):
    data, _ = planted
    params = PLANTED[name] | dict(n_epochs=10)
    single = make(name, **(params | dict(dtype="float32"))).fit(data)
    double = make(name, **params).fit(data)
    assert single.user_factors_.dtype == np.float32 and single.item_bias_.dtype == np.float32
    assert double.user_factors_.dtype == np.float64
    assert single.history_[-1].train_rmse == pytest.approx(double.history_[-1].train_rmse, abs=1e-3)


@pytest.mark.parametrize("name", GRADIENT_MODELS)
def test_without_biases_there_are_no_bias_arrays(planted, name):
    data, _ = planted
    model = make(name, **(PLANTED[name] | dict(n_epochs=2, biases=False))).fit(data)
    assert model.user_bias_ is None and model.item_bias_ is None
    assert set(model.history_[-1].grad_norms) == {"user_factors", "item_factors"}
    assert "user_bias_" not in model.state()


def test_rows_without_training_ratings_predict_the_mean_plus_the_user_bias(tiny):
    train = tiny.subset(tiny.item_codes != 4)
    model = make("sgd", n_factors=2, n_epochs=3).fit(train)
    assert not model.item_factors_[4].any() and model.item_bias_[4] == 0
    expected = model.global_mean_ + model.user_bias_[0]
    assert model.predict([0], [4])[0] == pytest.approx(np.clip(expected, 1, 5))


def test_lr_decay_shrinks_the_learning_rate_each_epoch(planted):
    data, _ = planted
    model = make("sgd", **(PLANTED["sgd"] | dict(n_epochs=3, lr_decay=0.5))).fit(data)
    assert [r.extra["lr"] for r in model.history_] == pytest.approx([0.02, 0.01, 0.005])


def test_sgd_reports_its_kernel_compile_time_once(planted):
    warm_up()
    assert jit.first_call_seconds()["sgd_epoch/float64"] > 0  # the first call's compile (or load) is kept
    assert warm_up() == 0.0  # and not paid again
    data, _ = planted
    record = make("sgd", n_epochs=1).fit(data).history_[0]
    assert record.extra["compile_seconds"] == 0.0  # the kernel was ready before this fit


# --- parameters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GRADIENT_MODELS)
def test_params_describe_themselves(name):
    model = make(name)
    assert model.description and model.formulas and model.divergence_hint
    specs = {spec.name: spec for spec in model.Params.specs()}
    for common in ("n_factors", "n_epochs", "lr", "reg", "biases", "seed", "dtype"):
        assert common in specs and specs[common].help
    assert model.params.dtype == "float64"


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("sgd", {"lr": 0}),
        ("sgd", {"lr_decay": 1.5}),
        ("minibatch", {"batch_size": 0}),
        ("gd", {"clip": -1}),
        ("gd", {"clip_mode": "sideways"}),
        ("gd", {"momentum": 1.0}),
        ("adam", {"beta2": 1.0}),
        ("adam", {"n_factors": 0}),
    ],
)
def test_bad_hyperparameters_name_the_parameter(name, bad):
    (key,) = bad
    with pytest.raises(ParameterError, match=key):
        make(name, **bad)
