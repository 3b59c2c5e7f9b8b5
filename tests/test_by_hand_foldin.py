"""Fold-in of every model against the one-user problem solved here, independently: least squares on stacked
penalty rows, bounded least squares for NMF, a general minimizer for BPR. Each model is fitted on a 4 × 5
matrix and folds in a person who rated items 0, 2 and 3."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import lsq_linear, minimize

from recengine.data.dataset import RatingsDataset
from recengine.models import make
from recengine.models.foldin import fold_in

USERS = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3])
ITEMS = np.array([0, 1, 2, 0, 3, 4, 1, 2, 3, 4, 0, 4])
RATINGS = np.array([5.0, 3.0, 4.0, 4.0, 2.0, 1.0, 1.0, 5.0, 3.0, 4.0, 2.0, 4.0])
CODES, GIVEN = np.array([0, 2, 3]), np.array([5.0, 1.0, 4.0])


def data() -> RatingsDataset:
    return RatingsDataset(USERS, ITEMS, RATINGS, np.arange(4), np.arange(5))


def ridge(design: np.ndarray, target: np.ndarray, penalty: float) -> np.ndarray:
    """argmin ‖design x − target‖² + penalty ‖x‖², by least squares on [design; √penalty I]."""
    width = design.shape[1]
    stacked = np.vstack([design, np.sqrt(penalty) * np.eye(width)])
    return np.linalg.lstsq(stacked, np.concatenate([target, np.zeros(width)]), rcond=None)[0]


def floats(model, *names: str) -> list[np.ndarray]:
    return [np.asarray(getattr(model, n), dtype=np.float64) for n in names]


@pytest.mark.parametrize(
    ("name", "params", "power"),
    [
        ("gd", {"weighted_reg": True}, 1),
        ("adam", {"weighted_reg": False}, 0),
        ("sgd", {}, 1),
        ("minibatch", {}, 1),
        ("als", {}, 1),
    ],
)
def test_ridge_fold_in_of_the_biased_models(name, params, power):
    # min Σ_j (r_j − μ − b_j − b_u − p·q_j)² + λ n^a (‖p‖² + b_u²): one ridge regression on [q_j, 1].
    model = make(name, n_factors=2, n_epochs=3, reg=0.3, seed=1, **params).fit(data())
    items, item_bias = floats(model, "item_factors_", "item_bias_")
    design = np.hstack([items[CODES], np.ones((3, 1))])
    solution = ridge(design, GIVEN - model.global_mean_ - item_bias[CODES], 0.3 * 3**power)
    vector = fold_in(model, CODES, GIVEN)
    assert vector.factors == pytest.approx(solution[:2], abs=1e-9)
    assert vector.bias == pytest.approx(solution[2], abs=1e-9)


def test_ridge_fold_in_without_biases():
    model = make("sgd", n_factors=2, n_epochs=3, reg=0.3, biases=False, seed=1).fit(data())
    (items,) = floats(model, "item_factors_")
    vector = fold_in(model, CODES, GIVEN)
    assert vector.factors == pytest.approx(ridge(items[CODES], GIVEN - model.global_mean_, 0.3 * 3), abs=1e-9)
    assert vector.bias == 0.0


def test_the_last_rating_of_an_item_given_twice_counts():
    model = make("als", n_factors=2, n_epochs=3, reg=0.3, seed=1).fit(data())
    twice = fold_in(model, [0, 2, 0, 3], [1.0, 1.0, 5.0, 4.0])
    once = fold_in(model, CODES, GIVEN)
    assert twice.factors == pytest.approx(once.factors)
    assert twice.bias == pytest.approx(once.bias)


def test_baseline_fold_in_is_the_ridge_user_bias():
    # b_u = Σ_j (r_j − μ − b_j) / (n + λ_u), λ_u = reg_user.
    model = make("baseline", n_epochs=5, reg_user=2.0, reg_item=1.0).fit(data())
    (item_bias,) = floats(model, "item_bias_")
    expected = np.sum(GIVEN - model.global_mean_ - item_bias[CODES]) / (3 + 2.0)
    assert fold_in(model, CODES, GIVEN).bias == pytest.approx(expected)


def test_svdpp_fold_in_adds_p_to_the_implicit_part():
    # offset = Σ_{j∈S} y_j / √|S|; p = ridge on r − μ − b_j − q_j·offset with λ n^reg_power; factors p + offset.
    model = make("svdpp", n_factors=2, n_epochs=3, reg=0.3, reg_power=0.5, seed=2).fit(data())
    items, item_bias, implicit = floats(model, "item_factors_", "item_bias_", "implicit_factors_")
    offset = implicit[CODES].sum(axis=0) / np.sqrt(3)
    target = GIVEN - model.global_mean_ - item_bias[CODES] - items[CODES] @ offset
    solution = ridge(np.hstack([items[CODES], np.ones((3, 1))]), target, 0.3 * 3**0.5)
    vector = fold_in(model, CODES, GIVEN)
    assert vector.factors == pytest.approx(solution[:2] + offset, abs=1e-9)
    assert vector.bias == pytest.approx(solution[2], abs=1e-9)


def test_svd_fold_in_projects_the_whole_row():
    # b_u = Σ (r − μ − b_j) / (n + λ); then p = argmin ‖Q p − r̃‖² over all five items, r̃ = 0 where unrated.
    model = make("svd", n_factors=2, reg=1.5).fit(data())
    items, item_bias = floats(model, "item_factors_", "item_bias_")
    residual = GIVEN - model.global_mean_ - item_bias[CODES]
    bias = residual.sum() / (3 + 1.5)
    row = np.zeros(5)
    row[CODES] = residual - bias
    vector = fold_in(model, CODES, GIVEN)
    assert vector.bias == pytest.approx(bias)
    assert vector.factors == pytest.approx(np.linalg.lstsq(items, row, rcond=None)[0], abs=1e-6)


@pytest.mark.parametrize(
    ("params", "penalty"),
    [({"weighted_reg": True}, 0.4 * 3), ({"weighted_reg": False}, 0.4), ({"mode": "zero_filled"}, 0.4 * 5)],
)
def test_nmf_fold_in_is_the_nonnegative_ridge_solution(params, penalty):
    # min over p ≥ 0 of ‖Q_S p − r‖² + λ w ‖p‖², w = n (weighted), 1, or every item (zero-filled: all 5 rows,
    # the unrated ones with target 0).
    model = make("nmf", n_factors=2, n_epochs=20, reg=0.4, seed=3, **params).fit(data())
    (items,) = floats(model, "item_factors_")
    design, target = items[CODES], GIVEN
    if params.get("mode") == "zero_filled":
        design, target = items, np.zeros(5)
        target[CODES] = GIVEN
    stacked = np.vstack([design, np.sqrt(penalty) * np.eye(2)])
    solution = lsq_linear(stacked, np.concatenate([target, np.zeros(2)]), bounds=(0, np.inf)).x
    assert fold_in(model, CODES, GIVEN).factors == pytest.approx(solution, abs=1e-6)


def test_nmf_fold_in_with_a_free_bias():
    # [p ≥ 0, b_u free] with the same penalty on both: min ‖[Q_S, 1] x − (r − b_j)‖² + λ n ‖x‖².
    model = make("nmf", n_factors=2, n_epochs=20, reg=0.4, biases=True, seed=3).fit(data())
    items, item_bias = floats(model, "item_factors_", "item_bias_")
    design = np.vstack([np.hstack([items[CODES], np.ones((3, 1))]), np.sqrt(0.4 * 3) * np.eye(3)])
    target = np.concatenate([GIVEN - item_bias[CODES], np.zeros(3)])
    solution = lsq_linear(design, target, bounds=([0, 0, -np.inf], np.inf)).x
    vector = fold_in(model, CODES, GIVEN)
    assert vector.factors == pytest.approx(solution[:2], abs=1e-6)
    assert vector.bias == pytest.approx(solution[2], abs=1e-6)


@pytest.mark.parametrize(("weighted", "weighting"), [(False, "rating"), (True, "binary")])
def test_wals_fold_in_is_the_weighted_least_squares_solution(weighted, weighting):
    # min Σ over all 5 items c_j (p_j − x·y_j)² + λ_u ‖x‖²: p = 1 and c = 1 + s α w on the rated items
    # (s = max(1, 50 / n) = 50/3: a few ratings count as surely as fifty), p = 0 and c = 1 elsewhere;
    # λ_u = λ, or λ n with weighted_reg.
    model = make("wals", n_factors=2, n_epochs=3, reg=0.5, alpha=2.0, weighted_reg=weighted, weighting=weighting,
                 dtype="float64", seed=4).fit(data())  # fmt: skip
    (items,) = floats(model, "item_factors_")
    weight = GIVEN if weighting == "rating" else np.ones(3)
    confidence, preference = np.ones(5), np.zeros(5)
    confidence[CODES], preference[CODES] = 1 + 50 / 3 * 2.0 * weight, 1.0
    root = np.sqrt(confidence)
    solution = ridge(items * root[:, None], preference * root, 0.5 * (3 if weighted else 1))
    vector = fold_in(model, CODES, GIVEN)
    assert vector.factors == pytest.approx(solution, abs=1e-9)
    assert vector.bias == 0.0


def test_bpr_fold_in_minimizes_its_pairwise_objective():
    # (1/m) Σ_{i∈S} Σ_{j∉S} −ln σ(s_i − s_j) + ½ λ |S| ‖p‖², s = Q p + b, over the m = 2 unrated items.
    model = make("bpr", n_factors=2, n_epochs=5, reg=0.05, dtype="float64", seed=5).fit(data())
    items, bias = floats(model, "item_factors_", "item_bias_")
    unrated = np.array([1, 4])

    def objective(p):
        scores = items @ p + bias
        margins = scores[CODES][:, None] - scores[unrated][None, :]
        return np.logaddexp(0.0, -margins).sum() / 2 + 0.5 * 0.05 * 3 * p @ p

    best = minimize(objective, np.zeros(2), method="BFGS", options={"gtol": 1e-10}).x
    assert fold_in(model, CODES, GIVEN).factors == pytest.approx(best, abs=1e-5)


def test_bpmf_fold_in_is_the_posterior_mode_under_the_trained_users_prior():
    # Prior N(m, Λ⁻¹) from the trained users' [p, b_u] (mean, and the covariance + 1e-6 I inverted);
    # mode = argmin α ‖X x − e‖² + (x − m)ᵀ Λ (x − m), X = [q_j, 1], e = r − μ − b_j: stacked least squares
    # with [√α X; Lᵀ] against [√α e; Lᵀ m], Λ = L Lᵀ.
    model = make("bpmf", n_factors=2, n_epochs=6, burn_in=2, alpha=1.5, seed=6).fit(data())
    users, user_bias, items, item_bias = floats(
        model, "user_factors_", "user_bias_", "item_factors_", "item_bias_"
    )
    rows = np.hstack([users, user_bias[:, None]])
    precision = np.linalg.inv(np.cov(rows, rowvar=False) + 1e-6 * np.eye(3))
    lower = np.linalg.cholesky(precision)
    design = np.hstack([items[CODES], np.ones((3, 1))])
    errors = GIVEN - model.global_mean_ - item_bias[CODES]
    stacked = np.vstack([np.sqrt(1.5) * design, lower.T])
    target = np.concatenate([np.sqrt(1.5) * errors, lower.T @ rows.mean(axis=0)])
    mode = np.linalg.lstsq(stacked, target, rcond=None)[0]
    vector = fold_in(model, CODES, GIVEN)
    assert vector.factors == pytest.approx(mode[:2], abs=1e-6)
    assert vector.bias == pytest.approx(mode[2], abs=1e-6)


def test_no_ratings_fall_back_and_most_popular_needs_no_vector():
    model = make("als", n_factors=2, n_epochs=2, seed=1).fit(data())
    assert fold_in(model, [], []).is_fallback
    popular = make("popular").fit(data())
    vector = fold_in(popular, CODES, GIVEN)
    assert not vector.is_fallback
    assert len(vector.factors) == 0


def test_wals_fold_in_confidence_scale_by_hand():
    # One rating: s = 50 / 1 = 50; thirty ratings: s = max(1, 50/30) = 5/3; sixty: s = 1 (never below 1).
    model = make("wals", n_factors=2, n_epochs=2, alpha=2.0, dtype="float64", seed=4).fit(data())
    assert model.foldin_confidence(np.array([4.0])) == pytest.approx([1 + 50 * 2.0 * 4.0])
    assert model.foldin_confidence(np.full(30, 3.0)) == pytest.approx(np.full(30, 1 + 50 / 30 * 2.0 * 3.0))
    assert model.foldin_confidence(np.full(60, 3.0)) == pytest.approx(np.full(60, 1 + 2.0 * 3.0))


def test_wals_fold_in_of_one_rating():
    model = make("wals", n_factors=2, n_epochs=3, reg=0.5, alpha=2.0, dtype="float64", seed=4).fit(data())
    (items,) = floats(model, "item_factors_")
    confidence, preference = np.ones(5), np.zeros(5)
    confidence[2], preference[2] = 1 + 50 * 2.0 * 4.0, 1.0
    root = np.sqrt(confidence)
    expected = ridge(items * root[:, None], preference * root, 0.5)
    assert fold_in(model, [2], [4.0]).factors == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("rated", [[2], [0, 1, 2, 3]])
def test_bpr_fold_in_against_four_or_one_unrated_items(rated):
    model = make("bpr", n_factors=2, n_epochs=5, reg=0.05, dtype="float64", seed=5).fit(data())
    items, bias = floats(model, "item_factors_", "item_bias_")
    unrated = np.setdiff1d(np.arange(5), rated)

    def objective(p):  # mean over the m unrated items, penalty ½ λ |S| ‖p‖²
        scores = items @ p + bias
        margins = scores[rated][:, None] - scores[unrated][None, :]
        return np.logaddexp(0.0, -margins).sum() / len(unrated) + 0.5 * 0.05 * len(rated) * p @ p

    best = minimize(objective, np.zeros(2), method="BFGS", options={"gtol": 1e-10}).x
    assert fold_in(model, rated, np.full(len(rated), 5.0)).factors == pytest.approx(best, abs=1e-5)


def test_fold_in_follows_a_refitted_model():
    # A model fitted again gets new item factors: its fold-in must use them, not what it kept from before.
    for name, params in (
        ("svd", {"n_factors": 2}),
        ("wals", {"n_factors": 2, "dtype": "float64"}),
        ("bpmf", {"n_factors": 2, "n_epochs": 4, "burn_in": 1}),
    ):
        model = make(name, **params).fit(data())
        first = fold_in(model, CODES, GIVEN)
        assert fold_in(model, CODES, GIVEN).factors == pytest.approx(first.factors)  # from what it kept
        other = RatingsDataset(USERS, ITEMS, 6.0 - RATINGS, np.arange(4), np.arange(5))
        model.fit(other)
        fresh = make(name, **params).fit(other)
        assert fold_in(model, CODES, GIVEN).factors == pytest.approx(fold_in(fresh, CODES, GIVEN).factors)


def test_a_singular_wals_system_falls_back_to_least_squares():
    # Items with zero factors and λ 0: the system is all zeros, Cholesky fails, and the least-squares
    # solution of 0 x = 0 is x = 0.
    model = make("wals", n_factors=2, n_epochs=1, reg=0.0, dtype="float64").fit(data())
    model.item_factors_ = np.zeros_like(model.item_factors_)
    assert fold_in(model, CODES, GIVEN).factors == pytest.approx(np.zeros(2))


def test_bpr_fold_in_samples_500_of_more_unrated_items():
    # 505 items, two rated: 503 unrated, of which the fixed sample default_rng(0).choice(…, 500) is compared.
    users, items = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 2, 3, 504])
    wide = RatingsDataset(users, items, np.full(5, 4.0), np.arange(3), np.arange(505))
    model = make("bpr", n_factors=2, n_epochs=3, reg=0.05, dtype="float64", seed=5).fit(wide)
    factors, bias = floats(model, "item_factors_", "item_bias_")
    unrated = np.random.default_rng(0).choice(np.arange(2, 505), 500, replace=False)

    def objective(p):
        scores = factors @ p + bias
        return (
            np.logaddexp(0.0, -(scores[[0, 1]][:, None] - scores[unrated][None, :])).sum() / 500
            + 0.05 * p @ p
        )

    best = minimize(objective, np.zeros(2), method="BFGS", options={"gtol": 1e-10}).x
    vector = fold_in(model, [0, 1], [5.0, 4.0])
    assert vector.factors == pytest.approx(best, abs=1e-5)
    assert vector.bias == 0.0
