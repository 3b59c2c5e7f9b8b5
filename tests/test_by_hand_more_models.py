"""NMF, SVD, the baseline and SGD on cases their other hand tests leave out: NMF's penalty on its biases, a
row with a single rating and a fold-in with a negative bias; the baseline at λ 0 with a user of one rating;
SVD's explained share when the residuals are small; float32 models' biases; SGD's first-epoch record."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.models import make
from recengine.models.foldin import fold_in

# 4 users × 4 items: u0 rated i0 5, i1 3; u1 rated i0 4, i2 1; u2 rated i1 2, i2 5, i0 3; u3 rated only i3.
USERS = np.array([0, 0, 1, 1, 2, 2, 2, 3])
ITEMS = np.array([0, 1, 0, 2, 1, 2, 0, 3])
RATINGS = np.array([5.0, 3.0, 4.0, 1.0, 2.0, 5.0, 3.0, 4.0])
USER_COUNTS, ITEM_COUNTS = np.array([2, 2, 3, 1]), np.array([3, 2, 2, 1])


def data(ratings: np.ndarray = RATINGS) -> RatingsDataset:
    return RatingsDataset(USERS, ITEMS, ratings, np.arange(4), np.arange(4))


def nmf_update(own, other, rows, columns, targets, reg, weight) -> np.ndarray:
    """x ← x ⊙ Σ t⁺ y / (Σ (x·y + t⁻) y + λ w x), one row at a time."""
    numerator, denominator = np.zeros_like(own), reg * weight[:, None] * own
    for row, column, t in zip(rows, columns, targets, strict=True):
        y = other[column]
        numerator[row] += max(t, 0.0) * y
        denominator[row] += (own[row] @ y + max(-t, 0.0)) * y
    return own * numerator / denominator


@pytest.mark.parametrize("weighted", [True, False])
def test_nmf_with_a_single_rating_row_and_biases_reports_its_penalised_objective(weighted):
    # User 3 and item 3 have one rating each (w = 1 either way, and still penalised). The penalty covers
    # factors and biases: ½ λ Σ w (‖x‖² + b²); the total is their sum.
    model = make("nmf", n_factors=2, n_epochs=3, reg=0.5, weighted_reg=weighted, biases=True, init="random",
                 seed=10)  # fmt: skip
    taken = []
    names = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")
    model.fit(data(), callbacks=[lambda record, m: taken.append(
        ({n: np.array(getattr(m, n), dtype=np.float64) for n in names}, record))])  # fmt: skip
    wu, wi = (USER_COUNTS, ITEM_COUNTS) if weighted else (np.ones(4), np.ones(4))
    for (now, _), (after, record) in itertools.pairwise(taken):
        targets = RATINGS - now["user_bias_"][USERS] - now["item_bias_"][ITEMS]
        users = nmf_update(now["user_factors_"], now["item_factors_"], USERS, ITEMS, targets, 0.5, wu)
        items = nmf_update(now["item_factors_"], users, ITEMS, USERS, targets, 0.5, wi)
        assert after["user_factors_"] == pytest.approx(users, rel=1e-9)
        assert after["item_factors_"] == pytest.approx(items, rel=1e-9)
        bu, bi = after["user_bias_"], after["item_bias_"]
        error = RATINGS - bu[USERS] - bi[ITEMS] - np.sum(users[USERS] * items[ITEMS], axis=1)
        penalty = 0.25 * (wu @ (np.sum(users**2, axis=1) + bu**2) + wi @ (np.sum(items**2, axis=1) + bi**2))
        assert record.reconstruction_loss == pytest.approx(0.5 * error @ error, rel=1e-9)
        assert record.regularization_loss == pytest.approx(penalty, rel=1e-9)
        assert record.total_loss == pytest.approx(0.5 * error @ error + penalty, rel=1e-9)


def test_nmf_fold_in_of_someone_below_the_item_biases():
    # Ratings far below what the items' biases predict: the free bias b_u = b⁺ − b⁻ comes out negative, and
    # is that difference (min ‖[Q_S, 1] x − (r − b_j)‖² + λ n ‖x‖², p ≥ 0, b free).
    model = make("nmf", n_factors=2, n_epochs=20, reg=0.4, biases=True, seed=3).fit(data())
    items, item_bias = (np.asarray(a, dtype=np.float64) for a in (model.item_factors_, model.item_bias_))
    codes, given = np.array([0, 1, 2]), np.array([0.5, 0.5, 0.5])
    design = np.vstack([np.hstack([items[codes], np.ones((3, 1))]), np.sqrt(0.4 * 3) * np.eye(3)])
    target = np.concatenate([given - item_bias[codes], np.zeros(3)])
    from scipy.optimize import lsq_linear

    solution = lsq_linear(design, target, bounds=([0, 0, -np.inf], np.inf)).x
    vector = fold_in(model, codes, given)
    assert solution[2] < -0.1
    assert vector.bias == pytest.approx(solution[2], abs=1e-6)
    assert vector.factors == pytest.approx(solution[:2], abs=1e-6)


def test_nmf_fold_in_without_biases_has_no_bias():
    model = make("nmf", n_factors=2, n_epochs=5, reg=0.4, seed=3).fit(data())
    assert fold_in(model, [0, 1], [5.0, 3.0]).bias == 0.0


def test_baseline_at_zero_penalty_with_a_user_of_one_rating():
    # λ 0: b_u = Σ_i (r − μ − b_i) / n_u, b_i = Σ_u (r − μ − b_u) / n_i; user 3's single rating sets b_3 to
    # its whole residual. The loss has no penalty, and the total is the reconstruction.
    model = make("baseline", n_epochs=3, reg_user=0.0, reg_item=0.0)
    taken = []
    model.fit(data(), callbacks=[lambda record, m: taken.append(
        (m.user_bias_.astype(np.float64), m.item_bias_.astype(np.float64), record))])  # fmt: skip
    mean, item_bias = RATINGS.mean(), np.zeros(4)
    for user_bias_now, item_bias_now, record in taken:
        users = np.bincount(USERS, RATINGS - mean - item_bias[ITEMS], 4) / USER_COUNTS
        item_bias = np.bincount(ITEMS, RATINGS - mean - users[USERS], 4) / ITEM_COUNTS
        assert user_bias_now == pytest.approx(users)
        assert item_bias_now == pytest.approx(item_bias)
        error = RATINGS - mean - users[USERS] - item_bias[ITEMS]
        assert record.total_loss == pytest.approx(0.5 * error @ error, abs=1e-9)


def test_baseline_total_loss_adds_its_penalty():
    model = make("baseline", n_epochs=2, reg_user=2.0, reg_item=1.0).fit(data())
    record = model.history_[-1]
    assert record.regularization_loss > 0.1
    assert record.total_loss == pytest.approx(record.reconstruction_loss + record.regularization_loss)


def test_svd_explained_share_when_the_residuals_are_small():
    # Ratings 3 ± a little: the residual's sum of squares is far below 1, and the share is still
    # Σ σ_k² / ‖residual‖² of the residual left by the biases.
    ratings = 3.0 + 0.05 * (RATINGS - 3.0)
    model = make("svd", n_factors=1, reg=1.0).fit(data(ratings))
    bu, bi = model.user_bias_.astype(np.float64), model.item_bias_.astype(np.float64)
    residual = np.zeros((4, 4))
    residual[USERS, ITEMS] = ratings - np.float32(ratings).mean(dtype=np.float64) - bu[USERS] - bi[ITEMS]
    values = np.linalg.svd(residual, compute_uv=False)
    assert np.sum(residual**2) < 0.1
    assert model.history_[-1].extra["explained_share"] == pytest.approx(values[0] ** 2 / np.sum(residual**2))


@pytest.mark.parametrize(
    ("name", "params"),
    [("svd", {"n_factors": 1}), ("baseline", {"n_epochs": 2}), ("nmf", {"n_factors": 2, "biases": True})],
)
def test_float32_models_keep_their_biases_float32(name, params):
    model = make(name, dtype="float32", **params).fit(data())
    assert model.user_bias_.dtype == np.float32
    assert model.item_bias_.dtype == np.float32


def test_sgd_reports_its_compile_time_with_the_first_epoch_only():
    model = make("sgd", n_factors=2, n_epochs=2, seed=1).fit(data())
    first, second = model.history_
    assert first.extra["compile_seconds"] >= 0 and "compile_seconds" not in second.extra


def test_zero_filled_nmf_is_not_moved_by_an_item_nobody_rated():
    # A column of zeros: its item starts and stays at 0 (weight 0), so it adds nothing to YᵀY and the other
    # rows are fitted exactly as without it (the random start draws the same first four items' rows; w = 1,
    # not the row length, which the extra column would change).
    params = {
        "n_factors": 2,
        "n_epochs": 2,
        "reg": 0.5,
        "mode": "zero_filled",
        "weighted_reg": False,
        "init": "random",
        "seed": 7,
    }
    wide = make("nmf", **params).fit(RatingsDataset(USERS, ITEMS, RATINGS, np.arange(4), np.arange(5)))
    narrow = make("nmf", **params).fit(data())
    assert wide.item_factors_[4] == pytest.approx([0.0, 0.0], abs=0)
    assert wide.user_factors_ == pytest.approx(narrow.user_factors_, rel=1e-6)
    assert wide.item_factors_[:4] == pytest.approx(narrow.item_factors_, rel=1e-6)


@pytest.mark.parametrize(
    ("name", "params"),
    [("svd", {"n_factors": 1}), ("baseline", {"n_epochs": 2}), ("nmf", {"n_factors": 2, "biases": True})],
)
def test_the_last_user_and_item_without_ratings_keep_their_place(name, params):
    # User 4 and item 4, the last ones, have no ratings: every array still has a row for them, at 0, and the
    # others are what the same fit learns without them (NMF: its random start differs, so only the zeros).
    extended = RatingsDataset(USERS, ITEMS, RATINGS, np.arange(5), np.arange(5))
    wide, narrow = make(name, **params).fit(extended), make(name, **params).fit(data())
    assert wide.user_factors_.shape[0] == 5 and wide.item_factors_.shape[0] == 5
    assert wide.user_bias_[4] == 0 and wide.item_bias_[4] == 0
    assert not wide.user_factors_[4].any() and not wide.item_factors_[4].any()
    if name != "nmf":
        assert wide.user_bias_[:4] == pytest.approx(narrow.user_bias_, abs=1e-6)
        assert wide.item_bias_[:4] == pytest.approx(narrow.item_bias_, abs=1e-6)
        scores = wide.user_factors_[:4] @ wide.item_factors_[:4].T
        assert scores == pytest.approx(narrow.user_factors_ @ narrow.item_factors_.T, abs=1e-6)
