"""ALS and its row-solve kernels against the normal equations written here: one conjugate-gradient step
computed by hand from the normal equations, the Cholesky kernel on rows long enough for its four-at-a-time
pass, and the Gaussian draw of a single row. Each case is built so that a wrong formula, a skipped row or a
wrong start changes the numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.models import make
from recengine.models.als import cg_rows
from recengine.models.kernels.rowsolve import gaussian_draw, ridge_solve

# 4 users × 5 items; user 2 and item 4 have no ratings (rows in the middle of the matrix, not the last).
USERS = np.array([0, 0, 0, 1, 1, 3, 3, 3])
ITEMS = np.array([0, 1, 3, 0, 2, 1, 2, 3])
RATINGS = np.array([5.0, 3.0, 4.0, 2.0, 1.0, 4.0, 5.0, 2.0])
MEAN = RATINGS.mean()


def data() -> RatingsDataset:
    return RatingsDataset(USERS, ITEMS, RATINGS, np.arange(4), np.arange(5))


def snapshots(model) -> list[dict[str, np.ndarray]]:
    taken = []
    names = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")
    model.fit(data(), callbacks=[lambda record, m: taken.append(
        {n: np.array(getattr(m, n), dtype=np.float64) for n in names})])  # fmt: skip
    return taken


def one_cg_step(start, rows, partners, targets, features, penalties) -> np.ndarray:
    """From x₀, one conjugate-gradient step on (Σ y yᵀ + c I) x = Σ t y for every row: the first step is along
    the residual r₀ = h − A x₀, by r₀·r₀ / r₀·A r₀. Rows without entries become 0."""
    out = np.zeros_like(start)
    for row in range(len(start)):
        mine = rows == row
        if not mine.any():
            continue
        y = features[partners[mine]]
        matrix = y.T @ y + penalties[row] * np.eye(y.shape[1])
        residual = y.T @ targets[mine] - matrix @ start[row]
        out[row] = start[row] + (residual @ residual) / (residual @ matrix @ residual) * residual
    return out


def test_als_cg_takes_one_conjugate_gradient_step_from_where_each_side_stands():
    # One step for three unknowns [p_u, b_u]: not the exact solution, so where each row starts (its own
    # vector from the last alternation) and which solver runs both show. Penalty λ n (weighted).
    model = make("als", n_factors=2, n_epochs=3, reg=0.3, solver="cg", cg_steps=1, seed=2)
    counts_u, counts_i = np.bincount(USERS, minlength=4), np.bincount(ITEMS, minlength=5)
    for now, after in itertools.pairwise(snapshots(model)):
        items = np.hstack([now["item_factors_"], np.ones((5, 1))])
        start = np.hstack([now["user_factors_"], now["user_bias_"][:, None]])
        targets = RATINGS - MEAN - now["item_bias_"][ITEMS]
        users = one_cg_step(start, USERS, ITEMS, targets, items, 0.3 * counts_u)
        assert after["user_factors_"] == pytest.approx(users[:, :2], abs=1e-9)
        assert after["user_bias_"] == pytest.approx(users[:, 2], abs=1e-9)
        partners = np.hstack([users[:, :2], np.ones((4, 1))])
        start = np.hstack([now["item_factors_"], now["item_bias_"][:, None]])
        targets = RATINGS - MEAN - users[USERS, 2]
        solved = one_cg_step(start, ITEMS, USERS, targets, partners, 0.3 * counts_i)
        assert after["item_factors_"] == pytest.approx(solved[:, :2], abs=1e-9)
        assert after["item_bias_"] == pytest.approx(solved[:, 2], abs=1e-9)
        assert np.abs(users[:, :2] - now["user_factors_"]).max() > 1e-3  # the step moved them


def test_cg_rows_stops_a_solved_row_and_goes_on_to_the_next():
    # Two unknowns, five steps allowed: row 0 is exact after two and stops; row 1 (after it) is solved too.
    features = np.array([[1.0, 0.5], [0.2, 1.0], [0.7, -0.3]])
    indptr, indices = np.array([0, 2, 4], np.int32), np.array([0, 1, 1, 2], np.int32)
    values = np.array([4.0, 2.0, 5.0, 1.0], np.float32)
    offsets = np.array([0.5, -0.5, 1.0])
    penalties = np.array([0.4, 0.9])
    out = np.zeros((2, 2))
    cg_rows(indptr, indices, values, offsets, features, penalties, 5, out)
    for row in range(2):
        part = slice(indptr[row], indptr[row + 1])
        y = features[indices[part]]
        matrix = y.T @ y + penalties[row] * np.eye(2)
        assert out[row] == pytest.approx(
            np.linalg.solve(matrix, y.T @ (values[part] - offsets[indices[part]]))
        )


def test_ridge_solve_on_rows_of_nine_five_none_and_three_entries():
    # The kernel sums y yᵀ and t y four entries at a time and the rest one by one: rows of 9 (two passes of
    # four and one left), 5, 0 (left as it was) and 3 entries, with offsets o_i taken from the values.
    rng = np.random.default_rng(3)
    features = rng.normal(size=(12, 3))
    offsets = rng.normal(size=12)
    lengths = [9, 5, 0, 3]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    indices = np.concatenate([rng.permutation(12)[:n] for n in lengths]).astype(np.int32)
    values = rng.uniform(1, 5, indptr[-1]).astype(np.float32)
    penalties = np.array([0.5, 1.5, 2.0, 0.25])
    out = np.full((4, 3), 7.0)
    ridge_solve(indptr, indices, values, offsets, features, penalties, out)
    for row in range(4):
        part = slice(indptr[row], indptr[row + 1])
        if part.start == part.stop:
            assert out[row] == pytest.approx([7.0, 7.0, 7.0])
            continue
        y = features[indices[part]]
        matrix = y.T @ y + penalties[row] * np.eye(3)
        expected = np.linalg.solve(matrix, y.T @ (values[part] - offsets[indices[part]]))
        assert out[row] == pytest.approx(expected, abs=1e-10)


def test_ridge_solve_with_one_unknown():
    # x = Σ t y / (Σ y² + c): (2·(3 − 1) + 1·4) / (4 + 1 + 1) = 8 / 6.
    out = np.zeros((1, 1))
    ridge_solve(np.array([0, 2], np.int32), np.array([0, 1], np.int32), np.array([3.0, 4.0], np.float32),
                np.array([1.0, 0.0]), np.array([[2.0], [1.0]]), np.array([1.0]), out)  # fmt: skip
    assert out[0, 0] == pytest.approx(8 / 6)


def test_gaussian_draw_of_a_single_row_adds_its_noise():
    # One row: s = 2, Λ = 2 I, η = (1, 1): A = 2 Σ y yᵀ + Λ, h = 2 Σ t y + η, x = A⁻¹ h + L⁻ᵀ z (L Lᵀ = A).
    features = np.array([[1.0, 0.0], [1.0, 1.0]])
    noise = np.array([[0.3, -0.7]])
    out = np.zeros((1, 2))
    gaussian_draw(np.array([0, 2], np.int32), np.array([0, 1], np.int32), np.array([3.0, 1.0], np.float32),
                  np.zeros(2), features, 2.0, 2 * np.eye(2), np.array([1.0, 1.0]), noise, out)  # fmt: skip
    matrix = 2 * features.T @ features + 2 * np.eye(2)
    shift = 2 * features.T @ np.array([3.0, 1.0]) + 1.0
    lower = np.linalg.cholesky(matrix)
    assert out[0] == pytest.approx(np.linalg.solve(matrix, shift) + np.linalg.solve(lower.T, noise[0]))


@pytest.mark.parametrize("biases", [True, False])
def test_float32_als_with_cg_keeps_float32(biases):
    model = make("als", n_factors=2, n_epochs=2, solver="cg", biases=biases, dtype="float32").fit(data())
    for array in (model.user_factors_, model.item_factors_, model.user_bias_, model.item_bias_):
        assert array is None or array.dtype == np.float32
