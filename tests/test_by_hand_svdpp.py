"""SVD++ with the item-side mirror, written here from its definition and checked through the public fit loop on
sets with a user and an item without ratings (in the middle or last), rows with one rating, and a single
user: the effective vectors it predicts with, the losses it reports, one epoch against the gradient of the
objective to first order in the learning rate, and the step norms it reports.

    r̂_ui = μ + b_u + b_i + (q_i + x_i)·(p_u + y_u),  y_u = |N(u)|^−½ Σ_{j∈N(u)} y_j,  x_i = |R(i)|^−½ Σ_{v∈R(i)} z_v
    L = ½ Σ e² + ½ λ Σ_u w_u (‖p_u‖² + b_u²) + ½ λ Σ_i w_i (‖q_i‖² + b_i²) + ½ λ_y (Σ_j w_j ‖y_j‖² + Σ_v w_v ‖z_v‖²)

with w = n^a for a row with n training ratings (0 without ratings).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.models import make

REG, REG_IMPLICIT, POWER = 0.3, 0.7, 0.5
PARTS = ("user_own_factors", "item_own_factors", "implicit_factors", "implicit_user_factors", "user_bias",
         "item_bias")  # fmt: skip
# Users 0–2 and items 0–2 as in the other by-hand files; user 4 rated only item 1, item 4 only by user 0;
# user 3 and item 3 have no ratings.
SPARSE = (
    np.array([0, 0, 1, 1, 2, 2, 2, 4, 0]),
    np.array([0, 1, 0, 2, 1, 2, 0, 1, 4]),
    np.array([5.0, 3.0, 4.0, 1.0, 2.0, 5.0, 3.0, 4.0, 2.0]),
    5,
    5,
)
ONE_USER = (np.array([0, 0, 0]), np.array([0, 1, 2]), np.array([5.0, 1.0, 3.0]), 1, 3)
# The first three users and items, and a fourth user and item without ratings: the last rows are empty.
LAST_EMPTY = (SPARSE[0][:7], SPARSE[1][:7], SPARSE[2][:7], 4, 4)
SETS = {"sparse": SPARSE, "one user": ONE_USER, "last rows empty": LAST_EMPTY}


def dataset(name: str) -> RatingsDataset:
    users, items, ratings, n_users, n_items = SETS[name]
    return RatingsDataset(users, items, ratings, np.arange(n_users), np.arange(n_items))


def implicit_sums(rows, partners, vectors, n_rows) -> np.ndarray:
    """|N(r)|^−½ Σ_{c∈N(r)} vectors_c for every row r (zero for a row without ratings)."""
    out = np.zeros((n_rows, vectors.shape[1]))
    for r in range(n_rows):
        mine = partners[rows == r]
        if len(mine):
            out[r] = vectors[mine].sum(axis=0) / np.sqrt(len(mine))
    return out


def objective(name: str, p, q, y, z, bu, bi, power: float = POWER) -> tuple[float, float]:
    users, items, ratings, n_users, n_items = SETS[name]
    mean = ratings.mean()
    user_vectors = p + implicit_sums(users, items, y, n_users)
    item_vectors = q + implicit_sums(items, users, z, n_items)
    predicted = mean + bu[users] + bi[items] + np.einsum("nk,nk->n", user_vectors[users], item_vectors[items])
    wu = np.bincount(users, minlength=n_users) ** power * (np.bincount(users, minlength=n_users) > 0)
    wi = np.bincount(items, minlength=n_items) ** power * (np.bincount(items, minlength=n_items) > 0)
    penalty = REG * (wu @ ((p**2).sum(1) + bu**2) + wi @ ((q**2).sum(1) + bi**2))
    penalty += REG_IMPLICIT * (wi @ (y**2).sum(1) + wu @ (z**2).sum(1))
    return 0.5 * float(np.sum((ratings - predicted) ** 2)), 0.5 * float(penalty)


def epochs(name: str, power: float = POWER, **params) -> list[dict]:
    taken = []

    def keep(record, model):
        taken.append({n: np.array(getattr(model, n + "_"), np.float64) for n in PARTS} | {
            "user_factors": np.array(model.user_factors_, np.float64),
            "item_factors": np.array(model.item_factors_, np.float64), "record": record,
        })  # fmt: skip

    model = make("svdpp", n_factors=2, reg=REG, reg_implicit=REG_IMPLICIT, reg_power=power, seed=7, **params)
    model.fit(dataset(name), callbacks=[keep])
    return taken


def numeric_gradient(
    name: str, arrays: dict[str, np.ndarray], power: float = POWER, step: float = 1e-6
) -> dict[str, np.ndarray]:
    def loss(moved):
        return sum(objective(name, *(moved[n] for n in PARTS), power=power))

    out = {}
    for part in PARTS:
        gradient = np.zeros_like(arrays[part])
        for index in np.ndindex(arrays[part].shape):
            moved = {n: arrays[n].copy() for n in PARTS}
            moved[part][index] += step
            up = loss(moved)
            moved[part][index] -= 2 * step
            gradient[index] = (up - loss(moved)) / (2 * step)
        out[part] = gradient
    return out


@pytest.mark.parametrize("name", list(SETS))
def test_effective_vectors_and_losses_at_the_arrays(name):
    users, items, _, n_users, n_items = SETS[name]
    for snapshot in epochs(name, n_epochs=2, lr=0.05):
        p, q, y, z = (snapshot[n] for n in PARTS[:4])
        assert snapshot["user_factors"] == pytest.approx(
            p + implicit_sums(users, items, y, n_users), abs=1e-12
        )
        assert snapshot["item_factors"] == pytest.approx(
            q + implicit_sums(items, users, z, n_items), abs=1e-12
        )
        record = snapshot["record"]
        reconstruction, regularization = objective(name, *(snapshot[n] for n in PARTS))
        assert (record.reconstruction_loss, record.regularization_loss) == pytest.approx(
            (reconstruction, regularization), rel=1e-9
        )


@pytest.mark.parametrize("power", [0.0, POWER, 1.0])
@pytest.mark.parametrize("name", list(SETS))
def test_an_epoch_is_the_gradient_to_first_order(name, power):
    # The user pass and the mirror pass each step every rating's b, p and q once, and one side's implicit
    # factors: to first order in η, Δ(b, p, q) = −2η ∇L and Δ(y, z) = −η ∇L, for every row, those after a
    # row without ratings too. The first epoch, at 0.05, moves the biases off 0; the second is at 0.05 · 10⁻⁵.
    now, after = epochs(name, power, n_epochs=2, lr=0.05, lr_decay=1e-5)
    lr = after["record"].extra["lr"]
    gradient = numeric_gradient(name, now, power)
    for part in PARTS:
        expected = -(1 if part.startswith("implicit") else 2) * gradient[part]
        assert (after[part] - now[part]) / lr == pytest.approx(expected, rel=1e-3, abs=1e-4), part


def test_the_reported_step_norms():
    # ‖θ_after − θ_before‖ / η for each block (p, q, y, z and the biases), η the epoch's learning rate.
    taken = epochs("sparse", n_epochs=3, lr=0.05, lr_decay=0.5)
    blocks = dict(zip(("user_factors", "item_factors", "implicit_factors", "implicit_user_factors", "user_bias",
                       "item_bias"), PARTS, strict=True))  # fmt: skip
    for before, after in itertools.pairwise(taken):
        lr = after["record"].extra["lr"]
        assert lr == pytest.approx(before["record"].extra["lr"] / 2)
        expected = {block: np.linalg.norm(after[part] - before[part]) / lr for block, part in blocks.items()}
        assert after["record"].grad_norms == pytest.approx(expected, rel=1e-9)


def test_a_float32_models_step_norms_are_summed_in_float64():
    # The changes of its float32 arrays (taken in float32), squared and summed in float64: to 1e-12.
    taken = []

    def keep(record, model):
        taken.append({"record": record, "user_factors": model.user_own_factors_.copy(),
                      "implicit_factors": model.implicit_factors_.copy()})  # fmt: skip

    model = make("svdpp", n_factors=2, n_epochs=2, lr=0.05, reg=REG, dtype="float32", seed=7)
    model.fit(dataset("sparse"), callbacks=[keep])
    before, after = taken
    for block in ("user_factors", "implicit_factors"):
        change = (after[block] - before[block]).astype(np.float64)
        expected = np.sqrt(np.sum(change**2)) / after["record"].extra["lr"]
        assert after["record"].grad_norms[block] == pytest.approx(expected, rel=1e-12)
