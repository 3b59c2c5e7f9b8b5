"""wals with ``weighted_reg``: λ scaled by each row's count of rated items (Spark's ALS objective)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from recengine.models import make
from recengine.models.kernels.implicit import wals_cholesky_sweep


def _dense_weighted_objective(model, data) -> tuple[float, float]:
    """Both terms computed over the full dense matrix, penalties weighted by the rated counts."""
    p = np.zeros((data.n_users, data.n_items))
    c = np.ones_like(p)
    p[data.user_codes, data.item_codes] = 1.0
    c[data.user_codes, data.item_codes] = model.confidence(data.ratings)
    x, y = model.user_factors_.astype(float), model.item_factors_.astype(float)
    reconstruction = 0.5 * np.sum(c * (p - x @ y.T) ** 2)
    penalty = np.sum(data.user_counts() * np.sum(x * x, 1)) + np.sum(data.item_counts() * np.sum(y * y, 1))
    return reconstruction, 0.5 * model.params.reg * penalty


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_weighted_wals_reports_its_objective(tiny, solver):
    """The last epoch's losses, computed after the epoch (cholesky) or measured by the sweep (cg)."""
    params = dict(n_factors=3, reg=0.2, alpha=2.0, weighted_reg=True, solver=solver, dtype="float64")
    model = make("wals", **params).fit(tiny)
    record = model.history_[-1]
    reconstruction, regularization = _dense_weighted_objective(model, tiny)
    assert record.reconstruction_loss == pytest.approx(reconstruction, rel=1e-9)
    assert record.regularization_loss == pytest.approx(regularization, rel=1e-9)
    assert record.total_loss == pytest.approx(reconstruction + regularization, rel=1e-9)


def test_exact_weighted_wals_never_increases_its_objective(planted):
    data, _ = planted
    model = make(
        "wals", n_factors=4, reg=0.05, alpha=3.0, weighted_reg=True, solver="cholesky", n_epochs=6,
        dtype="float64",
    )  # fmt: skip
    losses = np.array([r.total_loss for r in model.fit(data).history_])
    assert np.all(np.diff(losses) <= 1e-9 * losses[:-1])


def test_weighted_fold_in_is_the_exact_user_solve_with_lambda_times_count(planted):
    data, _ = planted
    model = make("wals", n_factors=4, reg=0.05, weighted_reg=True, dtype="float64").fit(data)
    matrix = model.confidence_matrix(data)  # what the fit swept (a fitted model keeps only its factors)
    gram = model.item_factors_.T @ model.item_factors_
    exact = model.user_factors_.copy()
    reg = 0.05 * data.user_counts().astype(float)
    wals_cholesky_sweep(matrix.indptr, matrix.indices, matrix.data, exact, model.item_factors_, gram, reg)
    user = int(np.argmax(data.user_counts()))  # FOLD_IN_RATINGS or more: the training problem exactly
    mine = data.user_codes == user
    vector, _ = model.fold_in_user(data.item_codes[mine], data.ratings[mine])
    np.testing.assert_allclose(vector, exact[user], rtol=1e-8, atol=1e-10)
    unweighted = copy.copy(model)
    unweighted.params = model.params.replace(weighted_reg=False)
    assert not np.allclose(unweighted.fold_in_user(data.item_codes[mine], data.ratings[mine])[0], vector)
