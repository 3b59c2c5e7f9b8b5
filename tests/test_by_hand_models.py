"""Each model's objective written here, independently of the model's code, pinned by a case worked out by hand
on a 3 × 3 matrix; then the loss each model reports and the step each model takes, checked against that
objective (its value, its gradient by central differences, or its exact minimizer).

The steps are read through the public fit loop: a callback keeps the learned arrays after every epoch, and the
step from one epoch's arrays to the next is computed here from the objective alone.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.models import make
from recengine.models.foldin import fold_in
from recengine.models.gradient import clipped
from recengine.models.implicit import bpr_gradients, bpr_objective_terms, bpr_sgd
from recengine.models.kernels.implicit import wals_cg_sweep, wals_cholesky_sweep
from recengine.models.kernels.rowsolve import gaussian_draw, ridge_solve
from recengine.training import DURING_EPOCH

# u0 rated i0 5, i1 3; u1 rated i0 4, i2 1; u2 rated i1 2, i2 5, i0 3.
USERS = np.array([0, 0, 1, 1, 2, 2, 2])
ITEMS = np.array([0, 1, 0, 2, 1, 2, 0])
RATINGS = np.array([5.0, 3.0, 4.0, 1.0, 2.0, 5.0, 3.0])
USER_COUNTS, ITEM_COUNTS = np.array([2, 2, 3]), np.array([3, 2, 2])
MEAN = 23 / 7


def tiny() -> RatingsDataset:
    return RatingsDataset(USERS, ITEMS, RATINGS, np.arange(3), np.arange(3))


# Chosen values for the hand cases.
P = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
Q = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
BU, BI = np.array([0.5, -0.5, 0.0]), np.array([1.0, 0.0, -1.0])


# --- the objectives, written here -----------------------------------------------------------------------


def errors(mean, bu, bi, p, q) -> np.ndarray:
    """r − μ − b_u − b_i − p_u·q_i, one rating at a time."""
    return np.array(
        [r - mean - bu[u] - bi[i] - p[u] @ q[i] for u, i, r in zip(USERS, ITEMS, RATINGS, strict=True)]
    )


def biased_mf(mean, bu, bi, p, q, reg, weighted) -> tuple[float, float]:
    """(½ Σ e², ½ λ Σ_u w_u (‖p_u‖² + b_u²) + ½ λ Σ_i w_i (‖q_i‖² + b_i²)), w = the row's count or 1."""
    wu, wi = (USER_COUNTS, ITEM_COUNTS) if weighted else (np.ones(3), np.ones(3))
    penalty = sum(wu[u] * (p[u] @ p[u] + bu[u] ** 2) for u in range(3))
    penalty += sum(wi[i] * (q[i] @ q[i] + bi[i] ** 2) for i in range(3))
    return 0.5 * float(np.sum(errors(mean, bu, bi, p, q) ** 2)), 0.5 * reg * penalty


def numeric_gradient(loss, arrays: dict[str, np.ndarray], step: float = 1e-6) -> dict[str, np.ndarray]:
    """Central differences of ``loss(**arrays)`` in every entry of every array."""
    out = {}
    for name, array in arrays.items():
        gradient = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            moved = {n: a.copy() for n, a in arrays.items()}
            moved[name][index] += step
            up = loss(**moved)
            moved[name][index] -= 2 * step
            gradient[index] = (up - loss(**moved)) / (2 * step)
        out[name] = gradient
    return out


def epochs_of(model, names: tuple[str, ...]) -> list[dict[str, np.ndarray]]:
    """Fit on the tiny set; the arrays ``names`` (and the reported losses) after every epoch."""
    taken = []

    def keep(record, fitted):
        arrays = {n: np.array(getattr(fitted, n), dtype=np.float64) for n in names}
        taken.append(arrays | {"losses": (record.reconstruction_loss, record.regularization_loss)})

    model.fit(tiny(), callbacks=[keep])
    return taken


BIASED = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")


def test_the_biased_objective_by_hand():
    # μ = 3 here. Predictions 3 + b_u + b_i + p·q: (u0,i0) 3+0.5+1+1 = 5.5, (u0,i1) 3.5, (u1,i0) 4.5,
    # (u1,i2) 1.5, (u2,i1) 4, (u2,i2) 3, (u2,i0) 6; errors −0.5 ×4, −2, 2, −3: ½ Σ e² = ½ (1 + 4 + 4 + 9) = 9.
    # Penalty, w = counts (2, 2, 3) and (3, 2, 2): users 2·1.25 + 2·1.25 + 3·2 = 11, items 3·3 + 2·1 + 2·2 = 15:
    # ½ · 0.1 · 26 = 1.3. With w = 1: users 4.5, items 6: ½ · 0.1 · 10.5 = 0.525.
    assert biased_mf(3.0, BU, BI, P, Q, 0.1, True) == pytest.approx((9.0, 1.3))
    assert biased_mf(3.0, BU, BI, P, Q, 0.1, False) == pytest.approx((9.0, 0.525))


def biased_loss_of(model, weighted: bool):
    reg = model.params.reg

    def loss(user_factors_, item_factors_, user_bias_, item_bias_):
        return sum(biased_mf(MEAN, user_bias_, item_bias_, user_factors_, item_factors_, reg, weighted))

    return loss


def arrays_of(snapshot: dict) -> dict[str, np.ndarray]:
    return {n: snapshot[n] for n in BIASED}


@pytest.mark.parametrize("name", ["gd", "adam", "minibatch", "als"])
def test_each_biased_model_reports_the_objective_at_its_arrays(name):
    model = make(name, n_factors=2, n_epochs=3, reg=0.3, seed=1)
    for snapshot in epochs_of(model, BIASED):
        expected = biased_mf(MEAN, snapshot["user_bias_"], snapshot["item_bias_"], snapshot["user_factors_"],
                             snapshot["item_factors_"], 0.3, True)  # fmt: skip
        assert snapshot["losses"] == pytest.approx(expected, rel=1e-9)


def test_gd_steps_along_the_gradient_with_momentum():
    # v_t = β v_{t−1} + ∇L(θ_{t−1}), θ_t = θ_{t−1} − η v_t, so Δ_t = β Δ_{t−1} − η ∇L(θ_{t−1}).
    model = make("gd", n_factors=2, n_epochs=4, lr=0.02, momentum=0.5, reg=0.2, weighted_reg=False, seed=3)
    seen = epochs_of(model, BIASED)
    loss = biased_loss_of(model, weighted=False)
    for before, now, after in zip(seen, seen[1:], seen[2:], strict=False):
        gradient = numeric_gradient(loss, arrays_of(now))
        for name in BIASED:
            expected = 0.5 * (now[name] - before[name]) - 0.02 * gradient[name]
            assert after[name] - now[name] == pytest.approx(expected, abs=1e-8)


def test_minibatch_with_one_batch_steps_along_the_full_gradient():
    model = make("minibatch", n_factors=2, n_epochs=3, lr=0.05, batch_size=64, reg=0.2, seed=2)
    seen = epochs_of(model, BIASED)
    loss = biased_loss_of(model, weighted=True)
    for now, after in itertools.pairwise(seen):
        gradient = numeric_gradient(loss, arrays_of(now))
        for name in BIASED:
            assert after[name] - now[name] == pytest.approx(-0.05 * gradient[name], abs=1e-8)


def test_minibatch_batches_add_up_to_the_gradient_to_first_order():
    # A first epoch at η 0.05 moves the biases off 0; the second, at 0.05 · 1e-4 = 5e-6, is the one checked.
    lr = 0.05 * 1e-4
    model = make("minibatch", n_factors=2, n_epochs=2, lr=0.05, lr_decay=1e-4, batch_size=2, reg=0.2,
                 weighted_reg=False, seed=2)  # fmt: skip
    now, after = epochs_of(model, BIASED)
    gradient = numeric_gradient(biased_loss_of(model, weighted=False), arrays_of(now))
    for name in BIASED:
        assert (after[name] - now[name]) / lr == pytest.approx(-gradient[name], rel=1e-3, abs=1e-4)


def test_sgd_epoch_is_the_gradient_to_first_order_in_the_learning_rate():
    # One epoch of per-rating steps moves θ by −η ∇L(θ) + O(η²): each rating's step carries its share of the
    # penalty, λ w / n, and a row's n ratings add up to λ w. With w = 1 a user's share and an item's differ.
    # A first epoch at η 0.05 moves the biases off 0; the second, at 0.05 · 1e-4 = 5e-6, is the one checked.
    lr = 0.05 * 1e-4
    model = make("sgd", n_factors=2, n_epochs=2, lr=0.05, lr_decay=1e-4, reg=0.4, weighted_reg=False, seed=4)
    now, after = epochs_of(model, BIASED)
    gradient = numeric_gradient(biased_loss_of(model, weighted=False), arrays_of(now))
    for name in BIASED:
        assert (after[name] - now[name]) / lr == pytest.approx(-gradient[name], rel=1e-3, abs=1e-4)
    # The penalty it reports is at the arrays it ends with.
    _, penalty = biased_mf(MEAN, after["user_bias_"], after["item_bias_"], after["user_factors_"],
                           after["item_factors_"], 0.4, False)  # fmt: skip
    assert after["losses"][1] == pytest.approx(penalty)


def test_sgd_measures_the_loss_before_each_step():
    # With a learning rate of 1e-9 nothing moves: the squared errors it met are those of the arrays it had.
    model = make("sgd", n_factors=2, n_epochs=2, lr=1e-9, reg=0.4, seed=4)
    now, after = epochs_of(model, BIASED)
    reconstruction, _ = biased_mf(MEAN, now["user_bias_"], now["item_bias_"], now["user_factors_"],
                                  now["item_factors_"], 0.4, True)  # fmt: skip
    assert after["losses"][0] == pytest.approx(reconstruction, rel=1e-6)
    assert model.history_[-1].train_rmse == pytest.approx(np.sqrt(2 * reconstruction / 7), rel=1e-6)


@pytest.mark.parametrize(("beta1", "beta2"), [(0.6, 0.0), (0.0, 0.7)])
def test_adam_steps_by_its_moments(beta1, beta2):
    # One batch per epoch, so step t uses g_t = ∇L(θ_{t−1}). m_t = β₁ m_{t−1} + (1 − β₁) g_t,
    # s_t = β₂ s_{t−1} + (1 − β₂) g_t², Δ_t = −η (m_t / (1 − β₁ᵗ)) / (√(s_t / (1 − β₂ᵗ)) + ε). With β₂ = 0,
    # s_t = g_t², so Δ_t gives m_t back; with β₁ = 0, m_t = g_t and Δ_t gives s_t back. Either predicts Δ_{t+1}.
    lr, eps = 0.01, 1e-8
    model = make("adam", n_factors=2, n_epochs=3, lr=lr, batch_size=64, beta1=beta1, beta2=beta2, eps=eps,
                 reg=0.2, seed=5)  # fmt: skip
    first, second, third = epochs_of(model, BIASED)
    loss = biased_loss_of(model, weighted=True)
    g2, g3 = numeric_gradient(loss, arrays_of(first)), numeric_gradient(loss, arrays_of(second))
    for name in BIASED:
        step2, step3 = second[name] - first[name], third[name] - second[name]
        if beta2 == 0.0:
            mean2 = -step2 * (np.abs(g2[name]) + eps) * (1 - beta1**2) / lr
            mean3 = beta1 * mean2 + (1 - beta1) * g3[name]
            expected = -lr * (mean3 / (1 - beta1**3)) / (np.abs(g3[name]) + eps)
        else:
            square2 = (1 - beta2**2) * (lr * g2[name] / -step2) ** 2
            square3 = beta2 * square2 + (1 - beta2) * g3[name] ** 2
            expected = -lr * g3[name] / (np.sqrt(square3 / (1 - beta2**3)) + eps)
        assert step3 == pytest.approx(expected, rel=1e-4, abs=1e-9)


# --- ALS: every row's exact ridge solve ----------------------------------------------------------------


def ridge_rows(rows, partners, targets, features, penalty) -> np.ndarray:
    """argmin_x Σ (t − x·y)² + c ‖x‖² for every row, by least squares on [Y; √c I]."""
    width = features.shape[1]
    out = np.zeros((3, width))
    for row in range(3):
        mine = rows == row
        design = np.vstack([features[partners[mine]], np.sqrt(penalty[row]) * np.eye(width)])
        out[row] = np.linalg.lstsq(design, np.concatenate([targets[mine], np.zeros(width)]), rcond=None)[0]
    return out


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_als_solves_each_side_exactly(solver):
    # With the items fixed, [p_u, b_u] minimizes Σ_i (r − μ − b_i − [q_i, 1]·[p_u, b_u])² + λ n_u ‖·‖²; then
    # the items the same way with the new users. CG with 3 steps is exact on these 3 unknowns.
    model = make("als", n_factors=2, n_epochs=3, reg=0.3, solver=solver, cg_steps=3, seed=6)
    seen = epochs_of(model, BIASED)
    for now, after in itertools.pairwise(seen):
        items = np.hstack([now["item_factors_"], np.ones((3, 1))])
        users = ridge_rows(USERS, ITEMS, RATINGS - MEAN - now["item_bias_"][ITEMS], items, 0.3 * USER_COUNTS)
        assert after["user_factors_"] == pytest.approx(users[:, :2], abs=1e-6)
        assert after["user_bias_"] == pytest.approx(users[:, 2], abs=1e-6)
        partners = np.hstack([after["user_factors_"], np.ones((3, 1))])
        targets = RATINGS - MEAN - after["user_bias_"][USERS]
        solved = ridge_rows(ITEMS, USERS, targets, partners, 0.3 * ITEM_COUNTS)
        assert after["item_factors_"] == pytest.approx(solved[:, :2], abs=1e-6)
        assert after["item_bias_"] == pytest.approx(solved[:, 2], abs=1e-6)


def test_ridge_solve_kernel_by_hand():
    # One row with entries (t = 3 at y = (1, 0)) and (t = 1 at y = (1, 1)), penalty 1:
    # A = [[1+1+1, 1], [1, 1+1]] = [[3, 1], [1, 2]], h = (3 + 1, 1) = (4, 1): x = A⁻¹ h = (7/5, −1/5).
    # Offsets o = (1, 0): the first value 4 − 1 = 3. Row 1 has no entries and is left as it was.
    out = np.full((2, 2), 9.0)
    features = np.array([[1.0, 0.0], [1.0, 1.0]])
    ridge_solve(np.array([0, 2, 2], np.int32), np.array([0, 1], np.int32), np.array([4.0, 1.0], np.float32),
                np.array([1.0, 0.0]), features, np.array([1.0, 1.0]), out)  # fmt: skip
    assert out[0] == pytest.approx([1.4, -0.2])
    assert out[1] == pytest.approx([9.0, 9.0])


def test_gaussian_draw_is_the_conditional_mean_plus_its_noise():
    # s = α = 2, prior precision Λ = I, shift η = (1, 0), no penalty: A = 2 Σ y yᵀ + Λ, h = 2 Σ t y + η,
    # x = A⁻¹ h + L⁻ᵀ z with L Lᵀ = A (so x ~ N(A⁻¹ h, A⁻¹)). A row without entries draws from the prior.
    features = np.array([[1.0, 0.0], [1.0, 1.0]])
    noise = np.array([[0.3, -0.7], [1.0, 0.5]])
    out = np.zeros((2, 2))
    gaussian_draw(np.array([0, 2, 2], np.int32), np.array([0, 1], np.int32), np.array([3.0, 1.0], np.float32),
                  np.zeros(2), features, 2.0, np.eye(2), np.array([1.0, 0.0]), noise, out)  # fmt: skip
    matrix = 2 * features.T @ features + np.eye(2)
    shift = 2 * features.T @ np.array([3.0, 1.0]) + np.array([1.0, 0.0])
    lower = np.linalg.cholesky(matrix)
    assert out[0] == pytest.approx(np.linalg.solve(matrix, shift) + np.linalg.solve(lower.T, noise[0]))
    assert out[1] == pytest.approx(np.array([1.0, 0.0]) + noise[1])  # A = I, h = η


# --- baseline ------------------------------------------------------------------------------------------


def baseline_objective(mean, bu, bi, reg_user, reg_item) -> float:
    e = errors(mean, bu, bi, np.zeros((3, 0)), np.zeros((3, 0)))
    return 0.5 * float(e @ e) + 0.5 * reg_user * float(bu @ bu) + 0.5 * reg_item * float(bi @ bi)


def test_the_baseline_objective_by_hand():
    # μ = 3: residuals r − 3 − b_u − b_i = 0.5, −0.5, 0.5, −0.5, −1, 3, −1: ½ Σ = ½ · 12 = 6;
    # penalty ½ · 2 · (0.25 + 0.25) + ½ · 1 · (1 + 1) = 1.5: 7.5.
    assert baseline_objective(3.0, BU, BI, 2.0, 1.0) == pytest.approx(7.5)


def test_baseline_sweeps_solve_each_bias_exactly_and_report_the_objective():
    # b_u ← Σ_i (r − μ − b_i) / (λ_u + n_u), then b_i ← Σ_u (r − μ − b_u) / (λ_i + n_i) with the new b_u.
    model = make("baseline", n_epochs=3, reg_user=2.0, reg_item=1.0)
    seen = epochs_of(model, ("user_bias_", "item_bias_"))
    before = {"item_bias_": np.zeros(3)}
    for now in seen:
        residual = RATINGS - MEAN - before["item_bias_"][ITEMS]
        users = np.bincount(USERS, residual, 3) / (2.0 + USER_COUNTS)
        items = np.bincount(ITEMS, RATINGS - MEAN - users[USERS], 3) / (1.0 + ITEM_COUNTS)
        assert now["user_bias_"] == pytest.approx(users)
        assert now["item_bias_"] == pytest.approx(items)
        assert sum(now["losses"]) == pytest.approx(baseline_objective(MEAN, users, items, 2.0, 1.0))
        before = now


def test_baseline_converges_to_the_stationary_point_of_its_objective():
    model = make("baseline", n_epochs=200, reg_user=2.0, reg_item=1.0).fit(tiny())

    def loss(user_bias_, item_bias_):
        return baseline_objective(MEAN, user_bias_, item_bias_, 2.0, 1.0)

    arrays = {"user_bias_": model.user_bias_.astype(float), "item_bias_": model.item_bias_.astype(float)}
    for gradient in numeric_gradient(loss, arrays).values():
        assert gradient == pytest.approx(0.0, abs=1e-6)


# --- SVD -----------------------------------------------------------------------------------------------


def test_svd_biases_are_ridge_and_its_factors_the_best_rank_k_fit():
    model = make("svd", n_factors=1, reg=1.0).fit(tiny())

    def loss(user_bias_, item_bias_):
        return baseline_objective(MEAN, user_bias_, item_bias_, 1.0, 1.0)

    arrays = {"user_bias_": model.user_bias_.astype(float), "item_bias_": model.item_bias_.astype(float)}
    for gradient in numeric_gradient(loss, arrays).values():
        assert gradient == pytest.approx(0.0, abs=1e-3)  # ten alternating sweeps, not to convergence
    residual = np.zeros((3, 3))
    residual[USERS, ITEMS] = RATINGS - MEAN - arrays["user_bias_"][USERS] - arrays["item_bias_"][ITEMS]
    left, values, right = np.linalg.svd(residual)
    best = values[0] * np.outer(left[:, 0], right[0])  # Eckart–Young: the best rank-1 fit
    assert model.user_factors_ @ model.item_factors_.T == pytest.approx(best, abs=1e-9)
    assert model.user_factors_[:, 0] ** 2 == pytest.approx(values[0] * left[:, 0] ** 2)  # shares √σ
    reconstruction, penalty = model.history_[-1].reconstruction_loss, model.history_[-1].regularization_loss
    predicted = MEAN + arrays["user_bias_"][USERS] + arrays["item_bias_"][ITEMS] + best[USERS, ITEMS]
    assert reconstruction == pytest.approx(0.5 * np.sum((RATINGS - predicted) ** 2))
    assert penalty == pytest.approx(0.5 * (arrays["user_bias_"] @ arrays["user_bias_"]
                                           + arrays["item_bias_"] @ arrays["item_bias_"]))  # fmt: skip


# --- SVD++ ---------------------------------------------------------------------------------------------

SVDPP = ("user_own_factors_", "item_own_factors_", "implicit_factors_", "implicit_user_factors_")
SVDPP_ALL = (*SVDPP, "user_bias_", "item_bias_")


def svdpp_objective(p, q, y, z, bu, bi, reg, reg_implicit, power) -> tuple[float, float]:
    """SVD++ with the mirror side: r̂ = μ + b_u + b_i + (q_i + x_i)·(p_u + y_u), y_u = |N(u)|^−½ Σ_{j∈N(u)} y_j,
    x_i = |R(i)|^−½ Σ_{v∈R(i)} z_v; penalty ½ λ Σ w (‖p‖² + b²) + ½ λ Σ w (‖q‖² + b²) + ½ λ_y (Σ w ‖y‖² + Σ w ‖z‖²),
    w = n^power."""
    user_sum = np.array([y[ITEMS[u == USERS]].sum(axis=0) / np.sqrt(USER_COUNTS[u]) for u in range(3)])
    item_sum = np.array([z[USERS[i == ITEMS]].sum(axis=0) / np.sqrt(ITEM_COUNTS[i]) for i in range(3)])
    e = errors(MEAN, bu, bi, p + user_sum, q + item_sum)
    wu, wi = USER_COUNTS**power, ITEM_COUNTS**power
    penalty = reg * sum(
        wu[u] * (p[u] @ p[u] + bu[u] ** 2) + wi[u] * (q[u] @ q[u] + bi[u] ** 2) for u in range(3)
    )
    penalty += reg_implicit * sum(wi[j] * y[j] @ y[j] + wu[j] * z[j] @ z[j] for j in range(3))
    return 0.5 * float(e @ e), 0.5 * penalty


def test_the_svdpp_objective_by_hand():
    # y = Q's rows as implicit item factors, z = 0: u0 rated i0, i1: y_u0 = ((1,1) + (0,1)) / √2 = (0.7071, 1.4142);
    # u1 rated i0, i2: ((1,1) + (1,0)) / √2 = (1.4142, 0.7071); u2 all three: (2, 2) / √3 = (1.1547, 1.1547).
    # With p = 0, b = 0 and q = Q: r̂(u0,i0) = μ + (1,1)·(0.7071, 1.4142) = μ + 2.1213, ... Every term here:
    root2, root3 = np.sqrt(2), np.sqrt(3)
    dots = [3 / root2, 2 / root2, 3 / root2, 2 / root2, 2 / root3, 2 / root3, 4 / root3]
    expected = 0.5 * sum((r - MEAN - d) ** 2 for r, d in zip(RATINGS, dots, strict=True))
    # penalty: ½ · 0.5 · Σ_i n_i ‖q_i‖² = ½ · 0.5 · (3·2 + 2·1 + 2·1) = 2.5, plus ½ · 2 · Σ_j n_j ‖y_j‖² = 10
    zeros = np.zeros((3, 2))
    got = svdpp_objective(zeros, Q, Q, zeros, np.zeros(3), np.zeros(3), 0.5, 2.0, 1.0)
    assert got == pytest.approx((expected, 12.5))


def svdpp_loss_of(model):
    p = model.params

    def loss(user_own_factors_, item_own_factors_, implicit_factors_, implicit_user_factors_, user_bias_,
             item_bias_):  # fmt: skip
        return sum(svdpp_objective(user_own_factors_, item_own_factors_, implicit_factors_,
                                   implicit_user_factors_, user_bias_, item_bias_, p.reg, p.reg_implicit,
                                   p.reg_power))  # fmt: skip

    return loss


def test_svdpp_reports_its_objective_at_its_arrays():
    model = make("svdpp", n_factors=2, n_epochs=3, reg=0.3, reg_implicit=0.7, reg_power=0.5, seed=7)
    loss = svdpp_loss_of(model)
    for snapshot in epochs_of(model, SVDPP_ALL):
        parts = {n: snapshot[n] for n in SVDPP_ALL}
        assert sum(snapshot["losses"]) == pytest.approx(loss(**parts), rel=1e-9)
        reconstruction = svdpp_objective(*parts.values(), 0.3, 0.7, 0.5)[0]
        assert snapshot["losses"][0] == pytest.approx(reconstruction, rel=1e-9)


def test_svdpp_epoch_is_the_gradient_to_first_order():
    # The user pass and the mirror (item) pass each step every rating's b, p and q once, and the implicit
    # factors of one side: to first order in η, Δ(b, p, q) = −2η ∇L and Δ(y, z) = −η ∇L.
    lr = 0.05 * 1e-5  # the second epoch's; the first, at 0.05, moves the biases off 0
    model = make("svdpp", n_factors=2, n_epochs=2, lr=0.05, lr_decay=1e-5, reg=0.3, reg_implicit=0.7,
                 reg_power=0.5, seed=7)  # fmt: skip
    now, after = epochs_of(model, SVDPP_ALL)
    gradient = numeric_gradient(svdpp_loss_of(model), {n: now[n] for n in SVDPP_ALL})
    twice = {"user_own_factors_", "item_own_factors_", "user_bias_", "item_bias_"}
    for name in SVDPP_ALL:
        expected = -(2 if name in twice else 1) * gradient[name]
        assert (after[name] - now[name]) / lr == pytest.approx(expected, rel=1e-3, abs=1e-4), name


def test_svdpp_without_the_mirror_side_and_biases():
    lr = 1e-6
    model = make("svdpp", n_factors=2, n_epochs=2, lr=lr, reg=0.3, reg_implicit=0.7, reg_power=1.0,
                 item_implicit=False, biases=False, seed=8)  # fmt: skip
    now, after = epochs_of(model, ("user_own_factors_", "item_factors_", "implicit_factors_"))
    zeros = np.zeros(3)

    def loss(user_own_factors_, item_factors_, implicit_factors_):
        return sum(svdpp_objective(user_own_factors_, item_factors_, implicit_factors_, np.zeros((3, 2)),
                                   zeros, zeros, 0.3, 0.7, 1.0))  # fmt: skip

    parts = {n: now[n] for n in ("user_own_factors_", "item_factors_", "implicit_factors_")}
    assert sum(after["losses"]) == pytest.approx(loss(**{n: after[n] for n in parts}), rel=1e-9)
    gradient = numeric_gradient(loss, parts)
    for name in parts:
        assert (after[name] - now[name]) / lr == pytest.approx(-gradient[name], rel=1e-3, abs=1e-4), name


# --- NMF -----------------------------------------------------------------------------------------------


def nmf_update(own, other, own_rows, other_rows, targets, reg, weight) -> np.ndarray:
    """One multiplicative update of every row x: x ⊙ (Σ t⁺ y) / (Σ (x·y + t⁻) y + λ w x), t = the targets."""
    numerator, denominator = np.zeros_like(own), reg * weight[:, None] * own
    for row, partner, t in zip(own_rows, other_rows, targets, strict=True):
        y = other[partner]
        numerator[row] += max(t, 0.0) * y
        denominator[row] += (own[row] @ y + max(-t, 0.0)) * y
    return own * numerator / denominator


def test_nmf_update_by_hand():
    # One user x = (1, 1) with ratings 3 at y = (1, 0) and 1 at y = (1, 1), λ w = 0.5 · 2 = 1:
    # numerator 3·(1,0) + 1·(1,1) = (4, 1); denominator (1·(1,0) + 2·(1,1)) + 1·(1,1) = (4, 3): x = (1, 1/3).
    got = nmf_update(np.array([[1.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 1.0]]), [0, 0], [0, 1], [3.0, 1.0],
                     0.5, np.array([2.0]))  # fmt: skip
    assert got == pytest.approx(np.array([[1.0, 1 / 3]]))


@pytest.mark.parametrize("weighted", [True, False])
def test_nmf_observed_epoch_is_the_regularised_multiplicative_update(weighted):
    model = make("nmf", n_factors=2, n_epochs=3, reg=0.5, weighted_reg=weighted, init="random", seed=9)
    seen = epochs_of(model, ("user_factors_", "item_factors_"))
    wu, wi = (USER_COUNTS, ITEM_COUNTS) if weighted else (np.ones(3), np.ones(3))
    for now, after in itertools.pairwise(seen):
        users = nmf_update(now["user_factors_"], now["item_factors_"], USERS, ITEMS, RATINGS, 0.5, wu)
        items = nmf_update(now["item_factors_"], users, ITEMS, USERS, RATINGS, 0.5, wi)
        assert after["user_factors_"] == pytest.approx(users, rel=1e-9)
        assert after["item_factors_"] == pytest.approx(items, rel=1e-9)
        penalty = 0.25 * (np.sum(wu[:, None] * users**2) + np.sum(wi[:, None] * items**2))
        assert after["losses"] == pytest.approx(
            (0.5 * np.sum((RATINGS - np.sum(users[USERS] * items[ITEMS], axis=1)) ** 2), penalty)
        )


def test_nmf_with_biases_updates_factors_then_solves_each_bias():
    # Targets r − b_u − b_i (NMF has no global mean) split into t⁺ and t⁻; then b_u = Σ (r − b_i − p·q) /
    # (n_u + λ w_u), and b_i the same way with the new b_u.
    model = make(
        "nmf", n_factors=2, n_epochs=6, reg=0.5, biases=True, init="random", seed=10
    )  # t < 0 from epoch 4
    seen = epochs_of(model, BIASED)
    for now, after in itertools.pairwise(seen):
        targets = RATINGS - now["user_bias_"][USERS] - now["item_bias_"][ITEMS]
        users = nmf_update(
            now["user_factors_"], now["item_factors_"], USERS, ITEMS, targets, 0.5, USER_COUNTS
        )
        items = nmf_update(now["item_factors_"], users, ITEMS, USERS, targets, 0.5, ITEM_COUNTS)
        dots = np.sum(users[USERS] * items[ITEMS], axis=1)
        user_bias = np.bincount(USERS, RATINGS - now["item_bias_"][ITEMS] - dots, 3) / (USER_COUNTS * 1.5)
        item_bias = np.bincount(ITEMS, RATINGS - user_bias[USERS] - dots, 3) / (ITEM_COUNTS * 1.5)
        assert after["user_factors_"] == pytest.approx(users, rel=1e-9)
        assert after["item_factors_"] == pytest.approx(items, rel=1e-9)
        assert after["user_bias_"] == pytest.approx(user_bias, rel=1e-9)
        assert after["item_bias_"] == pytest.approx(item_bias, rel=1e-9)


def test_nmf_zero_filled_epoch_fits_every_cell():
    # Every cell is a target (0 where unrated) and every row's weight is the row's full length, 3.
    model = make("nmf", n_factors=2, n_epochs=2, reg=0.5, mode="zero_filled", init="random", seed=11)
    now, after = epochs_of(model, ("user_factors_", "item_factors_"))
    full = np.zeros((3, 3))
    full[USERS, ITEMS] = RATINGS
    rows, columns = np.divmod(np.arange(9), 3)
    three = np.full(3, 3.0)
    users = nmf_update(now["user_factors_"], now["item_factors_"], rows, columns, full.ravel(), 0.5, three)
    items = nmf_update(now["item_factors_"], users, columns, rows, full.ravel(), 0.5, three)
    assert after["user_factors_"] == pytest.approx(users, rel=1e-9)
    assert after["item_factors_"] == pytest.approx(items, rel=1e-9)
    penalty = 0.25 * 3 * (np.sum(users**2) + np.sum(items**2))
    assert after["losses"] == pytest.approx((0.5 * np.sum((full - users @ items.T) ** 2), penalty))


# --- weighted ALS --------------------------------------------------------------------------------------


def wals_objective(x, y, alpha, reg, weighted, weighting) -> tuple[float, float]:
    """½ Σ over all 9 pairs c (p − x·y)² with p = 1 for a rated pair and c = 1 + α w (w = 1 or the rating),
    else p = 0, c = 1; penalty ½ λ Σ n ‖·‖² (n the row's rated count, or 1)."""
    preference, confidence = np.zeros((3, 3)), np.ones((3, 3))
    preference[USERS, ITEMS] = 1
    confidence[USERS, ITEMS] = 1 + alpha * (RATINGS if weighting == "rating" else 1.0)
    nu, ni = (USER_COUNTS, ITEM_COUNTS) if weighted else (np.ones(3), np.ones(3))
    penalty = reg * (np.sum(nu * np.sum(x * x, axis=1)) + np.sum(ni * np.sum(y * y, axis=1)))
    return 0.5 * float(np.sum(confidence * (preference - x @ y.T) ** 2)), 0.5 * penalty


def test_the_wals_objective_by_hand():
    # x = P, y = Q: scores x·y = [[1, 0, 1], [1, 1, 0], [2, 1, 1]]; rated cells (p = 1) with c = 1 + 1·r:
    # (u0,i0) 6·0 + (u0,i1) 4·1 + (u1,i0) 5·0 + (u1,i2) 2·1 + (u2,i1) 3·0 + (u2,i2) 6·0 + (u2,i0) 4·1 = 10;
    # unrated cells (u0,i2) 1, (u1,i1) 1: ½ (10 + 2) = 6. Penalty ½ · 0.5 · (1 + 1 + 2 + 2 + 1 + 1) = 2 (w = 1).
    assert wals_objective(P, Q, 1.0, 0.5, False, "rating") == pytest.approx((6.0, 2.0))


@pytest.mark.parametrize(
    ("solver", "weighted", "weighting"), [("cholesky", False, "rating"), ("cg", True, "binary")]
)
def test_wals_solves_each_side_exactly_and_reports_its_objective(solver, weighted, weighting):
    model = make("wals", n_factors=2, n_epochs=3, reg=0.4, alpha=1.5, weighted_reg=weighted, weighting=weighting,
                 solver=solver, cg_steps=2, dtype="float64", seed=12)  # fmt: skip
    seen = epochs_of(model, ("user_factors_", "item_factors_"))
    confidence = np.ones((3, 3))
    confidence[USERS, ITEMS] = 1 + 1.5 * (RATINGS if weighting == "rating" else 1.0)
    preference = (confidence > 1).astype(float)
    nu, ni = (USER_COUNTS, ITEM_COUNTS) if weighted else (np.ones(3), np.ones(3))

    def solve(weights, targets, others, penalty):  # argmin Σ_j c_j (p_j − x·y_j)² + λ ‖x‖², every row
        return np.array([np.linalg.solve(others.T @ (w[:, None] * others) + lam * np.eye(2), others.T @ (w * t))
                         for w, t, lam in zip(weights, targets, penalty, strict=True)])  # fmt: skip

    for now, after in itertools.pairwise(seen):
        users = solve(confidence, preference, now["item_factors_"], 0.4 * nu)
        items = solve(confidence.T, preference.T, users, 0.4 * ni)
        assert after["user_factors_"] == pytest.approx(users, abs=1e-9)
        assert after["item_factors_"] == pytest.approx(items, abs=1e-9)
        assert after["losses"] == pytest.approx(wals_objective(users, items, 1.5, 0.4, weighted, weighting))


# --- BPR -----------------------------------------------------------------------------------------------


def bpr_objective(p, q, b, triples, reg, reg_bias) -> float:
    """Σ_(u,i,j) −ln σ(x) + ½ λ (‖p_u‖² + ‖q_i‖² + ‖q_j‖²) + ½ λ_b (b_i² + b_j²), x = p_u·(q_i − q_j) + b_i − b_j."""
    total = 0.0
    for u, i, j in triples:
        x = p[u] @ (q[i] - q[j]) + b[i] - b[j]
        total += np.log(1 + np.exp(-x)) + 0.5 * reg * (p[u] @ p[u] + q[i] @ q[i] + q[j] @ q[j])
        total += 0.5 * reg_bias * (b[i] ** 2 + b[j] ** 2)
    return total


TRIPLES = np.array([[0, 0, 2], [1, 2, 1], [2, 1, 0], [0, 1, 2]])


def test_bpr_objective_and_gradient_against_the_formula():
    # One triple by hand: u0, i0 over i2, p = (1, 0), q_i0 − q_i2 = (0, 1), b = (1, 0, −1): x = 0 + 1 + 1 = 2;
    # −ln σ(2) = ln(1 + e^−2) = 0.126928; penalty ½ · 0.1 · (1 + 2 + 1) + ½ · 0.2 · (1 + 1) = 0.4.
    assert bpr_objective(P, Q, BI, TRIPLES[:1], 0.1, 0.2) == pytest.approx(0.126928 + 0.4, abs=1e-6)
    users, positives, negatives = (TRIPLES[:, n].astype(np.int32) for n in range(3))
    log_loss, penalty = bpr_objective_terms(P, Q, BI, users, positives, negatives, 0.1, 0.2)
    assert log_loss + penalty == pytest.approx(bpr_objective(P, Q, BI, TRIPLES, 0.1, 0.2))
    assert penalty == pytest.approx(
        bpr_objective(P, Q, BI, TRIPLES, 0.1, 0.2) - bpr_objective(P, Q, BI, TRIPLES, 0, 0)
    )

    def loss(p, q, b):
        return bpr_objective(p, q, b, TRIPLES, 0.1, 0.2)

    expected = numeric_gradient(loss, {"p": P.copy(), "q": Q.copy(), "b": BI.copy()})
    got = bpr_gradients(P, Q, BI, users, positives, negatives, 0.1, 0.2)
    for name, gradient in zip("pqb", got, strict=True):
        assert gradient == pytest.approx(expected[name], abs=1e-6)


def test_bpr_sgd_takes_one_gradient_step_per_triple():
    # A step on triple t is θ − η ∇(its term) at the current θ, one triple after another.
    p, q, b = P.copy(), Q.copy(), BI.copy()
    users, positives, negatives = (TRIPLES[:, n].astype(np.int32) for n in range(3))
    expected_p, expected_q, expected_b = P.copy(), Q.copy(), BI.copy()
    losses = []
    for triple in TRIPLES:
        x = expected_p[triple[0]] @ (expected_q[triple[1]] - expected_q[triple[2]])
        losses.append(np.log1p(np.exp(-(x + expected_b[triple[1]] - expected_b[triple[2]]))))
        grads = numeric_gradient(lambda p, q, b, t=triple: bpr_objective(p, q, b, [t], 0.1, 0.2),
                                 {"p": expected_p, "q": expected_q, "b": expected_b})  # fmt: skip
        expected_p, expected_q, expected_b = (expected_p - 0.3 * grads["p"], expected_q - 0.3 * grads["q"],
                                              expected_b - 0.3 * grads["b"])  # fmt: skip
    mean_loss = bpr_sgd(users, positives, negatives, p, q, b, 0.3, 0.1, 0.2)
    assert p == pytest.approx(expected_p, abs=1e-6)
    assert q == pytest.approx(expected_q, abs=1e-6)
    assert b == pytest.approx(expected_b, abs=1e-6)
    assert mean_loss == pytest.approx(np.mean(losses), abs=1e-6)


# --- what the fit reports besides the loss, and the edges ---------------------------------------------


def test_gradient_clipping_by_hand():
    # By norm: the gradient (3, 4) has norm 5; clip 1 scales it by 0.2 to (0.6, 0.8), keeping 20 % of the norm.
    blocks, kept = clipped({"a": np.array([3.0, 4.0])}, 1.0, "norm")
    assert blocks["a"] == pytest.approx([0.6, 0.8]) and kept == pytest.approx(0.2)
    blocks, kept = clipped(
        {"a": np.array([3.0, 4.0])}, 10.0, "norm"
    )  # shorter than the threshold: kept whole
    assert blocks["a"] == pytest.approx([3.0, 4.0]) and kept == 1.0
    # By value: (3, −4, 0.5) cut to [−1, 1] is (1, −1, 0.5); kept √2.25 / √25.25 of the norm.
    blocks, kept = clipped({"a": np.array([3.0, -4.0]), "b": np.array([0.5])}, 1.0, "value")
    assert blocks["a"] == pytest.approx([1.0, -1.0]) and blocks["b"] == pytest.approx([0.5])
    assert kept == pytest.approx(np.sqrt(2.25 / 25.25))
    # clip 0: no clipping; a zero gradient keeps its (zero) norm whole.
    same, kept = clipped({"a": np.array([3.0, 4.0])}, 0.0, "norm")
    assert same["a"] == pytest.approx([3.0, 4.0]) and kept == 1.0
    for mode in ("norm", "value"):
        zero, kept = clipped({"a": np.zeros(2)}, 1.0, mode)
        assert zero["a"] == pytest.approx([0.0, 0.0]) and kept == 1.0


@pytest.mark.parametrize("mode", ["norm", "value"])
def test_gd_steps_along_the_clipped_gradient(mode):
    model = make(
        "gd", n_factors=2, n_epochs=3, lr=0.01, momentum=0.0, clip=0.5, clip_mode=mode, reg=0.2, seed=3
    )
    seen = epochs_of(model, BIASED)
    loss = biased_loss_of(model, weighted=True)
    for (now, after), record in zip(itertools.pairwise(seen), model.history_[1:], strict=True):
        gradient = numeric_gradient(loss, arrays_of(now))
        expected, kept = clipped(gradient, 0.5, mode)
        for name in BIASED:
            assert after[name] - now[name] == pytest.approx(-0.01 * expected[name], abs=1e-8)
        assert record.extra["clip_kept"] == pytest.approx(kept, rel=1e-6)
        assert record.grad_norms["user_factors"] == pytest.approx(
            np.linalg.norm(gradient["user_factors_"]), rel=1e-6
        )
        values = np.concatenate([g.ravel() for g in gradient.values()])
        assert record.extra["grad_mean"] == pytest.approx(values.mean(), rel=1e-5, abs=1e-9)
        assert record.extra["grad_std"] == pytest.approx(values.std(), rel=1e-5)


def test_svd_reports_its_singular_values_and_orders_its_factors():
    model = make("svd", n_factors=2, reg=1.5).fit(tiny())
    bu, bi = model.user_bias_.astype(float), model.item_bias_.astype(float)
    residual = np.zeros((3, 3))
    residual[USERS, ITEMS] = RATINGS - MEAN - bu[USERS] - bi[ITEMS]
    _, values, _ = np.linalg.svd(residual)
    # Column j of P Qᵀ's factors carries the j-th largest singular value: ‖p_j‖ ‖q_j‖ = σ_j.
    norms = np.linalg.norm(model.user_factors_, axis=0) * np.linalg.norm(model.item_factors_, axis=0)
    assert norms == pytest.approx(values[:2])
    record = model.history_[-1]
    assert record.extra["singular_value_max"] == pytest.approx(values[0])
    assert record.extra["explained_share"] == pytest.approx(
        (values[0] ** 2 + values[1] ** 2) / np.sum(residual**2)
    )
    assert record.regularization_loss == pytest.approx(0.5 * 1.5 * (bu @ bu + bi @ bi))
    assert record.total_loss == pytest.approx(record.reconstruction_loss + record.regularization_loss)


def test_svd_without_biases_has_no_penalty_and_no_user_bias():
    model = make("svd", n_factors=1, biases=False).fit(tiny())
    assert model.history_[-1].regularization_loss == 0.0
    assert fold_in(model, [0, 1], [5.0, 3.0]).bias == 0.0


def with_empty_rows() -> RatingsDataset:
    """The tiny ratings with a fourth user and a fourth item that have none, and a fifth user who rated item 1
    and a fifth item that user 0 rated (so the empty rows are not the last ones)."""
    users, items = np.append(USERS, [4, 0]), np.append(ITEMS, [1, 4])
    return RatingsDataset(users, items, np.append(RATINGS, [4.0, 2.0]), np.arange(5), np.arange(5))


@pytest.mark.parametrize(
    ("name", "params"),
    [("svd", {"reg": 0.0}), ("baseline", {"reg_user": 0.0, "reg_item": 0.0}), ("als", {"solver": "cg"}),
     ("als", {"solver": "cholesky"}), ("nmf", {"biases": True}), ("sgd", {}), ("svdpp", {}), ("wals", {}),
     ("gd", {})],
)  # fmt: skip
def test_rows_without_ratings_stay_at_zero(name, params):
    # Users and items without training ratings: their factors and biases are 0 (their optimum), even at λ 0
    # (weighted ALS's conjugate gradient gets there to rounding).
    extra = {"baseline": {"n_epochs": 2}, "svd": {"n_factors": 2}}.get(name, {"n_factors": 2, "n_epochs": 2})
    model = make(name, **extra, **params).fit(with_empty_rows())
    for array in (model.user_factors_[3], model.item_factors_[3]):
        assert array == pytest.approx(np.zeros(len(array)), abs=1e-12)
    if getattr(model, "user_bias_", None) is not None:
        assert model.user_bias_[3] == 0 and model.item_bias_[3] == 0


@pytest.mark.parametrize(
    "name", ["svd", "als", "nmf", "sgd", "svdpp", "gd", "adam", "minibatch", "bpmf", "baseline"]
)
def test_float32_models_keep_float32(name):
    extra = {"baseline": {"n_epochs": 2}, "svd": {"n_factors": 2}}.get(name, {"n_factors": 2, "n_epochs": 2})
    model = make(name, dtype="float32", **extra).fit(tiny())
    for array in (model.user_factors_, model.item_factors_, getattr(model, "user_bias_", None)):
        assert array is None or array.dtype == np.float32


def test_bpr_sgd_on_one_triple_reports_its_loss():
    p, q, b = P.copy(), Q.copy(), BI.copy()
    # u0, i0 over i2: x = 2 (above), −ln σ(2) = 0.126928
    loss = bpr_sgd(
        np.array([0], np.int32), np.array([0], np.int32), np.array([2], np.int32), p, q, b, 0.1, 0, 0
    )
    assert loss == pytest.approx(np.log1p(np.exp(-2.0)))


def test_sgd_steps_on_a_diagonal_matrix_exactly():
    # Each user rated one item and each item was rated once, so every rating's step touches its own rows only
    # and the order does not matter: e = r − μ − b_u − b_i − p·q, then b_u += η (e − λ b_u), b_i += η (e − λ b_i),
    # p += η (e q − λ p), q += η (e p − λ q) from the old p (λ per rating = λ w / n = λ with w = n = 1).
    data = RatingsDataset([0, 1, 2], [0, 1, 2], [5.0, 1.0, 3.0], np.arange(3), np.arange(3))
    taken = []
    model = make("sgd", n_factors=2, n_epochs=3, lr=0.1, reg=0.3, seed=4)
    model.fit(data, callbacks=[lambda record, m: taken.append(
        ({n: np.array(getattr(m, n)) for n in BIASED}, record))])  # fmt: skip
    for (now, _), (after, record) in itertools.pairwise(taken):
        p, q, bu, bi = (now[n] for n in BIASED)
        e = np.array([5.0, 1.0, 3.0]) - 3.0 - bu - bi - np.sum(p * q, axis=1)
        assert after["user_bias_"] == pytest.approx(bu + 0.1 * (e - 0.3 * bu))
        assert after["item_bias_"] == pytest.approx(bi + 0.1 * (e - 0.3 * bi))
        assert after["user_factors_"] == pytest.approx(p + 0.1 * (e[:, None] * q - 0.3 * p))
        assert after["item_factors_"] == pytest.approx(q + 0.1 * (e[:, None] * p - 0.3 * q))
        # the loss it reports is measured before each step; its train RMSE of the clipped predictions too
        assert record.reconstruction_loss == pytest.approx(0.5 * e @ e)
        assert record.total_loss == pytest.approx(record.reconstruction_loss + record.regularization_loss)
        clipped_error = np.array([5.0, 1.0, 3.0]) - np.clip(np.array([5.0, 1.0, 3.0]) - e, 1, 5)
        assert record.train_rmse == pytest.approx(np.sqrt(np.mean(clipped_error**2)))
        assert record.measured == DURING_EPOCH


def test_als_cg_without_biases_solves_exactly():
    # Two unknowns per row, two conjugate-gradient steps: the ridge solution on q_i alone, targets r − μ.
    model = make("als", n_factors=2, n_epochs=3, reg=0.3, solver="cg", cg_steps=2, biases=False, seed=6)
    seen = epochs_of(model, ("user_factors_", "item_factors_"))
    for now, after in itertools.pairwise(seen):
        users = ridge_rows(USERS, ITEMS, RATINGS - MEAN, now["item_factors_"], 0.3 * USER_COUNTS)
        items = ridge_rows(ITEMS, USERS, RATINGS - MEAN, users, 0.3 * ITEM_COUNTS)
        assert after["user_factors_"] == pytest.approx(users, abs=1e-6)
        assert after["item_factors_"] == pytest.approx(items, abs=1e-6)


def test_bpr_reports_the_mean_log_loss_of_its_steps():
    model = make("bpr", n_factors=2, n_epochs=2, dtype="float64", seed=5).fit(tiny())
    for record in model.history_:
        assert 0 < record.extra["sgd_mean_log_loss"] < 1  # −ln σ(x) near x = 0 is ln 2 = 0.69


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_wals_sweep_kernels_solve_each_row(solver):
    # Every row x of `rows` becomes argmin Σ_j c_j (p_j − x·y_j)² + λ ‖x‖² over all three items, p_j = 1 and
    # c_j = the stored confidence on the row's entries, p_j = 0 and c_j = 1 elsewhere (fit epochs start from a
    # state no callback sees, so the kernels are checked here from a chosen one).
    others = np.array([[1.0, 0.5], [0.2, 1.0], [0.3, -0.4]])
    indptr, indices = np.array([0, 2, 3, 3], np.int32), np.array([0, 1, 2], np.int32)
    confidence = np.array([4.0, 2.5, 7.0])
    rows = np.array([[0.3, -0.2], [0.1, 0.1], [0.5, 0.5]])
    reg = np.array([0.5, 1.5, 0.7])
    rated = np.empty(3)
    if solver == "cholesky":
        wals_cholesky_sweep(indptr, indices, confidence, rows, others, others.T @ others, reg)
    else:
        wals_cg_sweep(indptr, indices, confidence, rows, others, others.T @ others, reg, 2, rated)
    weights, targets = np.ones((3, 3)), np.zeros((3, 3))
    weights[[0, 0, 1], [0, 1, 2]] = confidence
    targets[[0, 0, 1], [0, 1, 2]] = 1.0
    for row in range(3):
        matrix = others.T @ (weights[row][:, None] * others) + reg[row] * np.eye(2)
        expected = np.linalg.solve(matrix, others.T @ (weights[row] * targets[row]))
        assert rows[row] == pytest.approx(expected, abs=1e-10)
        if (
            solver == "cg"
        ):  # the rated part of the objective, Σ_j c_j (1 − s_j)² − s_j² over the row's entries
            scores = others[indices[indptr[row] : indptr[row + 1]]] @ rows[row]
            stored = confidence[indptr[row] : indptr[row + 1]]
            assert rated[row] == pytest.approx(np.sum(stored * (1 - scores) ** 2 - scores**2), abs=1e-10)
