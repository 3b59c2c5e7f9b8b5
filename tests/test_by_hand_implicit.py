"""Weighted ALS against its objective and its normal equations written here: one conjugate-gradient step per
row computed by hand, the sweep kernel on more rows than one parallel task takes, the objective with an item
nobody rated, the objective of factors handed in from elsewhere (the Spark import), and the confidences
c = 1 + α w worked out by hand; BPR's fold-in against a general minimizer of its pairwise objective."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from recengine.data.dataset import RatingsDataset
from recengine.models import implicit, make
from recengine.models.foldin import fold_in
from recengine.models.implicit import WALSParams
from recengine.models.kernels.implicit import CG_ROWS_PER_TASK, wals_cg_sweep
from recengine.spark import imported_model

# 3 users × 4 items: u0 rated i0 5, i1 3; u1 rated i0 4, i2 1; u2 rated i1 2, i2 5, i0 3. Nobody rated i3
# (the last item, so a count of ratings per item without its length set would come out one short).
USERS = np.array([0, 0, 1, 1, 2, 2, 2])
ITEMS = np.array([0, 1, 0, 2, 1, 2, 0])
RATINGS = np.array([5.0, 3.0, 4.0, 1.0, 2.0, 5.0, 3.0])
USER_COUNTS, ITEM_COUNTS = np.array([2, 2, 3]), np.array([3, 2, 2, 0])


def data() -> RatingsDataset:
    return RatingsDataset(USERS, ITEMS, RATINGS, np.arange(3), np.arange(4))


def confidences(alpha: float, weighting: str) -> np.ndarray:
    """Users × items c: 1 + α w at the rated pairs (w = the rating, or 1), 1 elsewhere."""
    confidence = np.ones((3, 4))
    confidence[USERS, ITEMS] = 1 + alpha * (RATINGS if weighting == "rating" else 1.0)
    return confidence


def objective(x, y, alpha, reg, weighted, weighting) -> tuple[float, float]:
    """(½ Σ over all 12 pairs c (p − x·y)², ½ λ Σ n ‖·‖²), p = 1 at the rated pairs; n = the row's rated
    count with weighted_reg, else 1."""
    preference = np.zeros((3, 4))
    preference[USERS, ITEMS] = 1
    nu, ni = (USER_COUNTS, ITEM_COUNTS) if weighted else (np.ones(3), np.ones(4))
    penalty = reg * (np.sum(nu * np.sum(x * x, axis=1)) + np.sum(ni * np.sum(y * y, axis=1)))
    return 0.5 * float(np.sum(confidences(alpha, weighting) * (preference - x @ y.T) ** 2)), 0.5 * penalty


def one_cg_step(start, weights, targets, others, penalty) -> np.ndarray:
    """From x₀, one conjugate-gradient step on (Yᵀ C_u Y + λ_u I) x = Yᵀ C_u p_u for every row: along the
    residual r₀ = h − A x₀, by r₀·r₀ / r₀·A r₀."""
    out = np.empty_like(start)
    for row, (c, p, lam) in enumerate(zip(weights, targets, penalty, strict=True)):
        matrix = others.T @ (c[:, None] * others) + lam * np.eye(others.shape[1])
        residual = others.T @ (c * p) - matrix @ start[row]
        out[row] = start[row] + (residual @ residual) / (residual @ matrix @ residual) * residual
    return out


@pytest.mark.parametrize("weighted", [False, True])
def test_wals_cg_takes_one_step_per_row_and_reports_its_objective(weighted):
    # One step on two unknowns is not the exact solve, so the solver in use shows; the reported loss and its
    # total are the objective at the new arrays (the item nobody rated counts 0 times with weighted_reg).
    model = make("wals", n_factors=2, n_epochs=3, reg=0.4, alpha=1.5, weighted_reg=weighted, solver="cg",
                 cg_steps=1, dtype="float64", seed=12)  # fmt: skip
    taken = []
    model.fit(data(), callbacks=[lambda record, m: taken.append(
        (m.user_factors_.copy(), m.item_factors_.copy(), record))])  # fmt: skip
    confidence = confidences(1.5, "rating")
    preference = (confidence > 1).astype(float)
    nu, ni = (USER_COUNTS, ITEM_COUNTS) if weighted else (np.ones(3), np.ones(4))
    for (x, y, _), (x_after, y_after, record) in itertools.pairwise(taken):
        users = one_cg_step(x, confidence, preference, y, 0.4 * nu)
        items = one_cg_step(y, confidence.T, preference.T, users, 0.4 * ni)
        assert x_after == pytest.approx(users, abs=1e-10)
        assert y_after == pytest.approx(items, abs=1e-10)
        expected = objective(users, items, 1.5, 0.4, weighted, "rating")
        assert (record.reconstruction_loss, record.regularization_loss) == pytest.approx(expected, rel=1e-9)
        assert record.total_loss == pytest.approx(sum(expected), rel=1e-9)


def test_the_parallel_sum_of_the_objective_on_millions_of_ratings(monkeypatch):
    # From PARALLEL_LOSS_RATINGS ratings on, the rated pairs' part is summed on every thread: the same sum.
    monkeypatch.setattr(implicit, "PARALLEL_LOSS_RATINGS", 1)
    model = make(
        "wals", n_factors=2, n_epochs=2, reg=0.4, alpha=1.5, solver="cholesky", dtype="float64", seed=3
    )
    model.fit(data())
    record = model.history_[-1]
    expected = objective(model.user_factors_, model.item_factors_, 1.5, 0.4, False, "rating")
    assert (record.reconstruction_loss, record.regularization_loss) == pytest.approx(expected, rel=1e-9)


def test_imported_wals_factors_report_their_objective():
    # Factors from elsewhere (the Spark import) carry no confidence matrix of a fit: the model builds it from
    # the data to report the objective at those factors.
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    params = WALSParams(n_factors=2, reg=0.5, alpha=1.0, weighted_reg=True, dtype="float32")
    model = imported_model("wals", params, data(), (np.arange(3), x), (np.arange(4), y), spark_ids="codes",
                           mean=float(RATINGS.mean()), seconds=0.0)  # fmt: skip
    record = model.history_[-1]
    expected = objective(x, y, 1.0, 0.5, True, "rating")
    assert (record.reconstruction_loss, record.regularization_loss) == pytest.approx(expected, rel=1e-6)


def test_confidence_by_hand():
    # c = 1 + α w: α = 0.1, w = 3 → 1.3 (computed in float64 from float32 ratings); binary w = 1 → 1.1.
    ratings = np.array([3.0, 1.0], np.float32)
    wide = make("wals", n_factors=2, n_epochs=1, alpha=0.1, dtype="float64").fit(data())
    assert wide.confidence(ratings) == pytest.approx([1.3, 1.1], abs=1e-15)
    for weighting, expected in (("rating", [1.3, 1.1]), ("binary", [1.1, 1.1])):
        narrow = make("wals", n_factors=2, n_epochs=1, alpha=0.1, weighting=weighting, dtype="float32")
        confidence = narrow.fit(data()).confidence(ratings)
        assert confidence.dtype == np.float32  # the confidence matrix is as wide as the factors
        assert confidence == pytest.approx(expected, rel=1e-7)


def test_wals_cg_sweep_over_more_rows_than_one_task_takes():
    # 257 rows (two tasks of 256): every row gets exactly one step, the last one too, and its rated part
    # Σ_i [c_i (1 − s_i)² − s_i²] at the new x.
    n = CG_ROWS_PER_TASK + 1
    rng = np.random.default_rng(4)
    others = rng.normal(size=(3, 2))
    indices = rng.integers(0, 3, n).astype(np.int32)
    indptr = np.arange(n + 1, dtype=np.int32)
    confidence = rng.uniform(2, 5, n)
    rows = rng.normal(size=(n, 2))
    start = rows.copy()
    reg = rng.uniform(0.5, 1.5, n)
    rated = np.empty(n)
    wals_cg_sweep(indptr, indices, confidence, rows, others, others.T @ others, reg, 1, rated)
    weights, targets = np.ones((n, 3)), np.zeros((n, 3))
    weights[np.arange(n), indices], targets[np.arange(n), indices] = confidence, 1.0
    assert rows == pytest.approx(one_cg_step(start, weights, targets, others, reg), abs=1e-10)
    scores = np.sum(rows * others[indices], axis=1)
    assert rated == pytest.approx(confidence * (1 - scores) ** 2 - scores**2, abs=1e-10)


def test_wals_cg_sweep_of_one_row_reports_its_rated_part():
    others = np.array([[1.0, 0.5], [0.2, 1.0]])
    rows, rated = np.array([[0.1, 0.2]]), np.empty(1)
    wals_cg_sweep(np.array([0, 2], np.int32), np.array([0, 1], np.int32), np.array([3.0, 2.0]), rows, others,
                  others.T @ others, np.array([0.5]), 2, rated)  # fmt: skip
    matrix = others.T @ (np.array([3.0, 2.0])[:, None] * others) + 0.5 * np.eye(2)
    assert rows[0] == pytest.approx(np.linalg.solve(matrix, others.T @ np.array([3.0, 2.0])), abs=1e-10)
    scores = others @ rows[0]
    assert rated[0] == pytest.approx(np.sum(np.array([3.0, 2.0]) * (1 - scores) ** 2 - scores**2), abs=1e-10)


def test_wals_cg_sweep_leaves_a_row_without_curvature_and_goes_on():
    # Row 0: confidence 1, λ 0 and a zero Gram matrix: A = 0, the residual Σ c y ≠ 0 has no curvature, so no
    # step is taken (x stays). Row 1 (λ 1, c = 3): A = I + 2 y yᵀ, solved exactly in two steps.
    others = np.array([[1.0, 0.5], [0.2, 1.0]])
    rows = np.array([[0.3, -0.1], [0.0, 0.0]])
    wals_cg_sweep(np.array([0, 1, 2], np.int32), np.array([0, 1], np.int32), np.array([1.0, 3.0]), rows,
                  others, np.zeros((2, 2)), np.array([0.0, 1.0]), 2, np.empty(0))  # fmt: skip
    assert rows[0] == pytest.approx([0.3, -0.1])
    y = others[1]
    assert rows[1] == pytest.approx(np.linalg.solve(np.eye(2) + 2 * np.outer(y, y), 3 * y), abs=1e-10)


@pytest.mark.parametrize("rated", [[2], [0, 1, 2, 3]])
def test_bpr_fold_in_reaches_the_minimum_of_its_pairwise_objective(rated):
    # min (1/m) Σ_{i∈S} Σ_{j∉S} −ln σ(s_i − s_j) + ½ λ |S| ‖p‖², s = Q p + b, m unrated items, to 1e-6 (the
    # damped Newton search accepts a step only where this objective falls).
    users, items = (
        np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3]),
        np.array([0, 1, 2, 0, 3, 4, 1, 2, 3, 4, 0, 4]),
    )
    ratings = np.array([5.0, 3.0, 4.0, 4.0, 2.0, 1.0, 1.0, 5.0, 3.0, 4.0, 2.0, 4.0])
    wide = RatingsDataset(users, items, ratings, np.arange(4), np.arange(5))
    model = make("bpr", n_factors=2, n_epochs=5, reg=0.05, dtype="float64", seed=6).fit(wide)
    factors, bias = model.item_factors_.astype(np.float64), model.item_bias_.astype(np.float64)
    unrated = np.setdiff1d(np.arange(5), rated)

    def pairwise(p):
        scores = factors @ p + bias
        margins = scores[rated][:, None] - scores[unrated][None, :]
        return np.logaddexp(0.0, -margins).sum() / len(unrated) + 0.5 * 0.05 * len(rated) * p @ p

    best = minimize(pairwise, np.zeros(2), method="BFGS", options={"gtol": 1e-12}).x
    assert fold_in(model, rated, np.full(len(rated), 5.0)).factors == pytest.approx(best, abs=1e-6)
