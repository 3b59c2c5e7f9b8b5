"""`als` and its row-solve kernel: exact solves, planted recovery, monotone loss, honest losses, determinism."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recengine.data.synthetic import planted_low_rank
from recengine.errors import ParameterError
from recengine.evaluation.split import holdout_random
from recengine.models import make
from recengine.models.kernels import rowsolve
from recengine.models.objective import Batch, mf_gradient


class RowProblems:
    """Random ridge problems, one per row of a sparse matrix (row ``empty`` has no entries), and their
    dense solutions."""

    def __init__(self, seed: int, n_rows: int, n_cols: int, d: int, density: float, empty: int):
        rng = np.random.default_rng(seed)
        self.mask = rng.random((n_rows, n_cols)) < density
        self.mask[empty] = False
        self.values = rng.normal(size=(n_rows, n_cols)).astype(np.float32)
        self.rows, cols = np.nonzero(self.mask)
        self.cols = cols.astype(np.int32)
        self.indptr = np.searchsorted(self.rows, np.arange(n_rows + 1)).astype(np.int32)
        self.features, self.offsets = rng.normal(size=(n_cols, d)), rng.normal(size=n_cols)
        self.penalties = rng.random(n_rows) + 0.1
        self.d, self.rng = d, rng

    @property
    def arguments(self) -> tuple:
        return self.indptr, self.cols, self.values[self.mask], self.offsets, self.features, self.penalties

    def solution(self, row: int) -> np.ndarray | None:
        seen = self.cols[self.rows == row]
        if not len(seen):
            return None
        y, t = self.features[seen], self.values[row, seen] - self.offsets[seen]
        return np.linalg.solve(y.T @ y + self.penalties[row] * np.eye(self.d), y.T @ t)


def test_ridge_solve_matches_a_dense_solve_per_row():
    problems = RowProblems(0, n_rows=7, n_cols=9, d=4, density=0.5, empty=3)
    out = np.full((7, 4), 7.0)
    rowsolve.ridge_solve(*problems.arguments, out)
    for row in range(7):
        expected = problems.solution(row)
        if expected is None:
            assert (out[row] == 7.0).all()  # an empty row stays as it was
        else:
            np.testing.assert_allclose(out[row], expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_noise_free_planted_matrix_is_recovered(planted, solver):
    data, truth = planted
    settings = dict(n_factors=3, reg=1e-4, weighted_reg=False, biases=False, n_epochs=30)
    model = make("als", solver=solver, **settings).fit(data)
    assert model.history_[-1].train_rmse < 0.05
    full = model.predict(*np.indices(truth.shape)).reshape(truth.shape)
    assert np.sqrt(np.mean((full - truth) ** 2)) < 0.05  # the unobserved entries too


@pytest.mark.parametrize("biases", [False, True])
def test_noisy_planted_matrix_test_rmse_is_within_ten_percent_of_the_noise(biases):
    noise = 0.3
    data, _ = planted_low_rank(300, 200, rank=3, density=0.3, noise=noise, seed=2, biases=biases)
    train, test = holdout_random(data, 0.2, seed=0)
    model = make("als", n_factors=3, reg=0.02, biases=biases, n_epochs=20).fit(train)
    assert model.rmse(test) < 1.1 * noise


@pytest.mark.parametrize("weighted_reg", [True, False])
@pytest.mark.parametrize("biases", [True, False])
def test_total_loss_never_increases(weighted_reg, biases):
    data, _ = planted_low_rank(120, 90, rank=4, density=0.2, noise=0.5, seed=3, biases=True)
    reg = 0.1 if weighted_reg else 2.0
    model = make("als", n_factors=6, reg=reg, weighted_reg=weighted_reg, biases=biases, n_epochs=12)
    totals = [record.total_loss for record in model.fit(data).history_]
    assert all(later <= earlier * (1 + 1e-12) for earlier, later in itertools.pairwise(totals))
    assert totals[-1] < totals[0]


def test_losses_follow_the_weighted_objective(tiny):
    model = make("als", n_factors=2, reg=0.3, weighted_reg=True, n_epochs=2).fit(tiny)
    record = model.history_[-1]
    predicted = (
        model.global_mean_
        + model.user_bias_[tiny.user_codes]
        + model.item_bias_[tiny.item_codes]
        + np.sum(model.user_factors_[tiny.user_codes] * model.item_factors_[tiny.item_codes], axis=1)
    )
    reconstruction = 0.5 * np.sum((tiny.ratings - predicted) ** 2)
    n_u, n_i = tiny.user_counts(), tiny.item_counts()
    user_norms = np.sum(model.user_factors_**2, axis=1) + model.user_bias_**2
    item_norms = np.sum(model.item_factors_**2, axis=1) + model.item_bias_**2
    penalty = 0.5 * 0.3 * (n_u @ user_norms + n_i @ item_norms)
    assert record.reconstruction_loss == pytest.approx(reconstruction, rel=1e-9)
    assert record.regularization_loss == pytest.approx(penalty, rel=1e-9)
    assert record.total_loss == pytest.approx(reconstruction + penalty, rel=1e-9)


def test_each_half_step_is_exact_the_item_gradient_vanishes():
    data, _ = planted_low_rank(80, 60, rank=3, density=0.3, noise=0.4, seed=4, biases=True)
    gradients = []  # taken as each epoch ends: a fitted model no longer holds its penalty arrays

    def gradient_now(record, model) -> None:
        gradients.append(mf_gradient(model, Batch.from_data(data, model.dtype_)))

    model = make("als", n_factors=4, reg=0.05, n_epochs=3).fit(data, callbacks=[gradient_now])
    gradient = gradients[-1]
    scale = np.abs(model.item_factors_).max()
    assert np.abs(gradient.item_factors).max() < 1e-8 * max(scale, 1.0) * len(data)
    assert np.abs(gradient.item_bias).max() < 1e-8 * len(data)


def test_same_seed_same_factors_other_seed_other_factors(planted):
    data, _ = planted
    first = make("als", n_factors=4, n_epochs=3, seed=5).fit(data)
    again = make("als", n_factors=4, n_epochs=3, seed=5).fit(data)
    other = make("als", n_factors=4, n_epochs=3, seed=6).fit(data)
    for name, array in first.state().items():
        np.testing.assert_array_equal(array, again.state()[name])
    assert not np.array_equal(first.item_factors_, other.item_factors_)


def test_float32_on_request(planted):
    data, _ = planted
    model = make("als", n_factors=3, reg=1e-3, weighted_reg=False, dtype="float32", n_epochs=10).fit(data)
    assert model.user_factors_.dtype == np.float32 and model.item_bias_.dtype == np.float32
    assert model.history_[-1].train_rmse < 0.05


def test_without_biases_there_are_none_and_unrated_rows_stay_zero(tiny):
    model = make("als", n_factors=2, biases=False, n_epochs=2).fit(tiny.subset(tiny.user_codes != 3))
    assert model.user_bias_ is None and model.item_bias_ is None
    assert (model.user_factors_[3] == 0).all()


def test_reg_must_be_positive():
    with pytest.raises(ParameterError, match="reg=0"):
        make("als", reg=0)


def test_conjugate_gradient_rows_reach_the_dense_solution():
    from recengine.models.als import cg_rows

    problems = RowProblems(1, n_rows=6, n_cols=12, d=5, density=0.6, empty=2)
    out = problems.rng.normal(size=(6, 5))  # a warm start anywhere
    cg_rows(*problems.arguments, 5, out)  # d steps: exact
    for row in range(6):
        expected = problems.solution(row)
        if expected is None:
            assert (out[row] == 0).all()  # an empty row gets zeros, its optimum
        else:
            np.testing.assert_allclose(out[row], expected, rtol=1e-8, atol=1e-10)


def test_the_cg_solver_fits_more_factors_than_the_exact_solver_takes(planted):
    """The cap itself (and its message) is tested once, in test_implicit.py; here CG trains beyond it."""
    data, _ = planted
    model = make("als", n_factors=500, solver="cg", n_epochs=2).fit(data)
    assert model.item_factors_.shape[1] == 500 and np.isfinite(model.history_[-1].train_rmse)
