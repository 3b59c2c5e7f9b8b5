"""The shared biased-MF objective written here and pinned on a 2 × 3 matrix by hand (λ > 0, biases, both
penalty weightings), then what the gradient models report from it, read through the public fit loop: the
losses and the train RMSE (predictions clipped to the scale) after every epoch, the loss before the first
epoch (kept by a diverging fit), the norms of the steps and gradients, clipping, and Adam's ε.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.errors import TrainingDiverged
from recengine.models import make
from recengine.models.gradient import clipped

BLOCKS = ("user_factors", "item_factors", "user_bias", "item_bias")


class Ratings:
    """Ratings with the arrays the objective needs."""

    def __init__(self, users, items, ratings, n_users, n_items):
        self.users, self.items = np.asarray(users), np.asarray(items)
        self.ratings = np.asarray(ratings, dtype=np.float64)
        self.n_users, self.n_items = n_users, n_items
        self.mean = float(self.ratings.mean())

    def data(self) -> RatingsDataset:
        return RatingsDataset(
            self.users, self.items, self.ratings, np.arange(self.n_users), np.arange(self.n_items)
        )

    def counts(self, side: str) -> np.ndarray:
        codes, n = (self.users, self.n_users) if side == "user" else (self.items, self.n_items)
        return np.bincount(codes, minlength=n).astype(np.float64)


# u0 rated i0 5, i2 2; u1 rated i0 3, i1 4, i2 1.
TWO_BY_THREE = Ratings([0, 0, 1, 1, 1], [0, 2, 0, 1, 2], [5.0, 2.0, 3.0, 4.0, 1.0], 2, 3)
# u0, u1 and u2 as in the other by-hand files: three users, three items, seven ratings.
THREE_BY_THREE = Ratings(
    [0, 0, 1, 1, 2, 2, 2], [0, 1, 0, 2, 1, 2, 0], [5.0, 3.0, 4.0, 1.0, 2.0, 5.0, 3.0], 3, 3
)
ONE_USER = Ratings([0, 0, 0], [0, 1, 2], [5.0, 1.0, 3.0], 1, 3)  # one user bias: still a bias
SETS = {"2x3": TWO_BY_THREE, "3x3": THREE_BY_THREE, "1x3": ONE_USER}


def predictions(r: Ratings, p, q, bu, bi) -> np.ndarray:
    """μ + b_u + b_i + p_u·q_i, one rating at a time."""
    out = [r.mean + p[u] @ q[i] for u, i in zip(r.users, r.items, strict=True)]
    if bu is not None:
        out = [value + bu[u] + bi[i] for value, u, i in zip(out, r.users, r.items, strict=True)]
    return np.array(out)


def objective(r: Ratings, p, q, bu, bi, reg: float, weighted: bool) -> tuple[float, float]:
    """(½ Σ e², ½ λ Σ_u w_u (‖p_u‖² + b_u²) + ½ λ Σ_i w_i (‖q_i‖² + b_i²)), w the row's count or 1."""
    wu = r.counts("user") if weighted else np.ones(r.n_users)
    wi = r.counts("item") if weighted else np.ones(r.n_items)
    penalty = sum(wu[u] * (p[u] @ p[u] + (bu[u] ** 2 if bu is not None else 0)) for u in range(r.n_users))
    penalty += sum(wi[i] * (q[i] @ q[i] + (bi[i] ** 2 if bi is not None else 0)) for i in range(r.n_items))
    errors = r.ratings - predictions(r, p, q, bu, bi)
    return 0.5 * float(errors @ errors), 0.5 * reg * penalty


def test_the_objective_on_a_two_by_three_matrix_by_hand():
    p, q = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[1.0, 1.0], [0.5, 0.0], [0.0, 1.0]])
    bu, bi = np.array([0.5, -1.0]), np.array([0.0, 1.0, -0.5])
    # μ = 15/5 = 3. Predictions 3 + b_u + b_i + p·q: (u0,i0) 3 + 0.5 + 0 + 1 = 4.5, (u0,i2) 3 + 0.5 − 0.5 + 0 = 3,
    # (u1,i0) 3 − 1 + 0 + 2 = 4, (u1,i1) 3 − 1 + 1 + 0 = 3, (u1,i2) 3 − 1 − 0.5 + 2 = 3.5.
    # Errors 0.5, −1, −1, 1, −2.5: ½ Σ e² = ½ (0.25 + 1 + 1 + 1 + 6.25) = 4.75.
    # Row norms ‖p‖² + b²: users 1.25, 5; items 2, 1.25, 1.25. λ = 0.2.
    # w = 1: ½ · 0.2 · (6.25 + 4.5) = 1.075. w = counts (2, 3) and (2, 1, 2):
    # users 2.5 + 15 = 17.5, items 4 + 1.25 + 2.5 = 7.75: ½ · 0.2 · 25.25 = 2.525.
    assert objective(TWO_BY_THREE, p, q, bu, bi, 0.2, False) == pytest.approx((4.75, 1.075))
    assert objective(TWO_BY_THREE, p, q, bu, bi, 0.2, True) == pytest.approx((4.75, 2.525))
    # Without biases: predictions 4, 3, 5, 3, 5; errors 1, −1, −2, 1, −4: ½ · 23 = 11.5; penalty with w = 1:
    # users 1 + 4, items 2 + 0.25 + 1: ½ · 0.2 · 8.25 = 0.825.
    assert objective(TWO_BY_THREE, p, q, None, None, 0.2, False) == pytest.approx((11.5, 0.825))


def epochs(model, r: Ratings) -> list[dict]:
    """Fit on ``r``; the learned arrays (float64) and the epoch's record after every epoch."""
    taken = []

    def keep(record, fitted):
        arrays = {n: None if getattr(fitted, n + "_") is None else np.array(getattr(fitted, n + "_"), np.float64)
                  for n in BLOCKS}  # fmt: skip
        taken.append(arrays | {"record": record})

    model.fit(r.data(), callbacks=[keep])
    return taken


def train_rmse(r: Ratings, arrays: dict) -> float:
    """RMSE of the predictions clipped to the scale (1 to 5 for these ratings)."""
    clipped_predictions = np.clip(predictions(r, *(arrays[n] for n in BLOCKS)), 1.0, 5.0)
    return float(np.sqrt(np.mean((r.ratings - clipped_predictions) ** 2)))


@pytest.mark.parametrize("data", list(SETS))
@pytest.mark.parametrize(
    ("name", "params"),
    [("gd", {"weighted_reg": True}), ("gd", {"biases": False, "weighted_reg": False}), ("adam", {}),
     ("adam", {"biases": False, "dtype": "float32"})],
)  # fmt: skip
def test_the_reported_losses_and_train_rmse_at_the_arrays(name, params, data):
    # init_std 2 puts predictions outside 1–5, so the train RMSE (clipped) and the loss (not) differ.
    r = SETS[data]
    model = make(name, n_factors=2, n_epochs=2, lr=1e-3, reg=0.3, init_std=2.0, seed=1, **params)
    weighted = params.get("weighted_reg", True)
    for arrays in epochs(model, r):
        record = arrays["record"]
        reconstruction, regularization = objective(r, *(arrays[n] for n in BLOCKS), 0.3, weighted)
        expected = (reconstruction, regularization, reconstruction + regularization, train_rmse(r, arrays))
        reported = (
            record.reconstruction_loss,
            record.regularization_loss,
            record.total_loss,
            record.train_rmse,
        )
        assert reported == pytest.approx(expected, rel=1e-5 if params.get("dtype") else 1e-9)
        assert train_rmse(r, arrays) < np.sqrt(2 * reconstruction / len(r.ratings)) - 0.1  # clipping matters


def test_a_float32_models_penalty_is_summed_in_float64():
    # Its float32 factors and biases, squared and summed in float64: to 1e-12, where float32 sums would be off
    # by about 1e-7.
    # (lr 0.05 over three epochs takes the biases to a few tenths, so their squares count.)
    model = make("gd", n_factors=2, n_epochs=3, lr=0.05, reg=0.3, dtype="float32", seed=1)
    for arrays in epochs(model, THREE_BY_THREE):
        expected = objective(THREE_BY_THREE, *(arrays[n] for n in BLOCKS), 0.3, True)[1]
        assert arrays["record"].regularization_loss == pytest.approx(expected, rel=1e-12)


def test_a_diverging_fit_keeps_the_objective_before_its_first_epoch():
    # The same seed draws the same starting arrays; at lr 10⁻¹² one epoch leaves them unchanged to ~10⁻¹¹,
    # so the objective there is the start's. At lr 50 the first epoch explodes, and the error keeps the start.
    settings = {"n_factors": 2, "n_epochs": 1, "reg": 0.3, "init_std": 2.0, "momentum": 0.0, "seed": 4}
    (start,) = epochs(make("gd", lr=1e-12, **settings), TWO_BY_THREE)
    with pytest.raises(TrainingDiverged) as caught:
        make("gd", lr=50.0, **settings).fit(TWO_BY_THREE.data())
    expected = sum(objective(TWO_BY_THREE, *(start[n] for n in BLOCKS), 0.3, True))
    assert caught.value.start_loss == pytest.approx(expected, rel=1e-9)
    assert train_rmse(TWO_BY_THREE, start) < np.sqrt(2 * expected / 5) - 0.1  # (predictions outside 1–5)


def gradient(r: Ratings, arrays: dict, reg: float, weighted: bool) -> dict[str, np.ndarray]:
    """∇ of the objective, from its formula: ∇p_u = λ w_u p_u − Σ_i e_ui q_i, ∇b_u = λ w_u b_u − Σ_i e_ui, …"""
    p, q, bu, bi = (arrays[n] for n in BLOCKS)
    errors = r.ratings - predictions(r, p, q, bu, bi)
    wu = r.counts("user") if weighted else np.ones(r.n_users)
    wi = r.counts("item") if weighted else np.ones(r.n_items)
    out = {"user_factors": reg * wu[:, None] * p, "item_factors": reg * wi[:, None] * q,
           "user_bias": reg * wu * bu, "item_bias": reg * wi * bi}  # fmt: skip
    for e, u, i in zip(errors, r.users, r.items, strict=True):
        out["user_factors"][u] -= e * q[i]
        out["item_factors"][i] -= e * p[u]
        out["user_bias"][u] -= e
        out["item_bias"][i] -= e
    return out


def test_adam_reports_the_norms_of_its_summed_batch_gradients():
    # Batches of 2 of the 7 ratings; each batch's gradient is its share of ∇L, so at lr 10⁻⁹ (the arrays
    # barely move) the batches' gradients add up to ∇L at the epoch's start.
    model = make("adam", n_factors=2, n_epochs=2, lr=1e-9, batch_size=2, reg=0.3, seed=2)
    first, second = epochs(model, THREE_BY_THREE)
    expected = gradient(THREE_BY_THREE, first, 0.3, True)
    record = second["record"]
    assert record.grad_norms == pytest.approx({n: np.linalg.norm(expected[n]) for n in BLOCKS}, rel=1e-5)
    assert record.extra["lr"] == 1e-9


def test_adam_steps_with_a_large_epsilon():
    # β₁ = β₂ = 0 and one batch: Δ = −η g / (|g| + ε) entry by entry, g = ∇L at the epoch's start.
    lr, eps = 0.01, 0.5
    model = make("adam", n_factors=2, n_epochs=2, lr=lr, batch_size=64, beta1=0.0, beta2=0.0, eps=eps,
                 reg=0.3, seed=5)  # fmt: skip
    first, second = epochs(model, THREE_BY_THREE)
    g = gradient(THREE_BY_THREE, first, 0.3, True)
    for name in BLOCKS:
        assert second[name] - first[name] == pytest.approx(-lr * g[name] / (np.abs(g[name]) + eps), rel=1e-9)


def test_gd_reports_its_gradient_and_learning_rate():
    model = make("gd", n_factors=2, n_epochs=2, lr=0.01, reg=0.3, seed=6)
    first, second = epochs(model, THREE_BY_THREE)
    expected = gradient(THREE_BY_THREE, first, 0.3, True)
    assert second["record"].grad_norms == pytest.approx(
        {n: np.linalg.norm(expected[n]) for n in BLOCKS}, rel=1e-9
    )
    assert second["record"].extra["lr"] == 0.01


@pytest.mark.parametrize("name", ["sgd", "minibatch"])
def test_stepped_models_report_their_change_over_the_learning_rate(name):
    # The norm of an epoch's summed steps over lr: ‖θ_after − θ_before‖ / η for each block.
    model = make(name, n_factors=2, n_epochs=3, lr=0.02, lr_decay=0.5, reg=0.3, seed=7)
    taken = epochs(model, THREE_BY_THREE)
    for before, after in itertools.pairwise(taken):
        lr = after["record"].extra["lr"]
        expected = {n: np.linalg.norm(after[n] - before[n]) / lr for n in BLOCKS}
        assert after["record"].grad_norms == pytest.approx(expected, rel=1e-9)


def test_clipping_a_gradient_whose_norm_is_below_one():
    # ‖g‖ = 0.5 (0.3, 0.4): by norm to 0.25 it is halved; by value at 0.35 it becomes (0.3, 0.35), of which
    # the share kept is √(0.09 + 0.1225) / 0.5 = 0.921954…
    blocks = {"a": np.array([0.3]), "b": np.array([0.4])}
    by_norm, scale = clipped(blocks, 0.25, "norm")
    assert scale == pytest.approx(0.5)
    assert by_norm["a"] == pytest.approx([0.15]) and by_norm["b"] == pytest.approx([0.2])
    by_value, kept = clipped(blocks, 0.35, "value")
    assert kept == pytest.approx(np.sqrt(0.2125) / 0.5)
    assert by_value["b"] == pytest.approx([0.35])
