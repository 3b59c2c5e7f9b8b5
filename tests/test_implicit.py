"""Ranking models: planted block structure, exact solves, the stated objectives, BPR's gradient."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.errors import ParameterError, RecEngineError
from recengine.evaluation.metrics import ranking_report
from recengine.models import MODELS, make
from recengine.models.implicit import FOLD_IN_RATINGS, bpr_gradients, bpr_objective_terms
from recengine.models.kernels.implicit import (
    bpr_sample,
    bpr_sgd,
    rated_part,
    rated_part_parallel,
    wals_cg_sweep,
    wals_cholesky_sweep,
)
from recengine.models.kernels.rowsolve import MAX_FACTORS
from recengine.models.scoring import score_matrix


@pytest.mark.parametrize(
    "name, params",
    [
        ("wals", dict(n_factors=8, reg=10.0, alpha=5.0)),
        ("wals", dict(n_factors=8, reg=10.0, alpha=5.0, solver="cholesky", weighting="binary")),
        ("bpr", dict(n_factors=8, n_epochs=60, lr=0.05)),
    ],
)
def test_planted_blocks_rank_held_out_positives_first(name, params, blocks):
    train, test = blocks
    model = make(name, **params).fit(train)
    scores = score_matrix(model, np.arange(train.n_users))
    block_of_user = np.arange(train.n_users) // 30
    outside = block_of_user[:, None] != (np.arange(train.n_items) // 25)[None, :]
    best_outside = np.where(outside, scores, -np.inf).max(axis=1)
    # Every held-out item (always in the user's own block) beats every item of the other blocks ...
    above = scores[test.user_codes, test.item_codes] > best_outside[test.user_codes]
    assert above.mean() >= 0.97
    # ... so the top 10 are the user's own block, where the popularity list mixes blocks.
    report = ranking_report(model, train, test, k=10, relevance_threshold=0)
    popular = ranking_report(make("popular").fit(train), train, test, k=10, relevance_threshold=0)
    assert report["recall@10"] >= 0.5
    assert report["recall@10"] > popular["recall@10"] + 0.25


def test_wals_same_seed_same_factors_and_callbacks_stop(tiny):
    first = make("wals", n_factors=3, seed=7).fit(tiny)
    second = make("wals", n_factors=3, seed=7).fit(tiny)
    np.testing.assert_array_equal(first.user_factors_, second.user_factors_)
    stopped = make("wals", n_factors=3, n_epochs=10).fit(tiny, callbacks=[lambda r, m: r.epoch == 4])
    assert len(stopped.history_) == 4
    assert stopped.history_[-1].train_rmse is None
    with pytest.raises(RecEngineError, match="ranking model"):
        stopped.predict([0], [0])


def _dense_wals_objective(model, data):
    p = np.zeros((data.n_users, data.n_items))
    c = np.ones_like(p)
    p[data.user_codes, data.item_codes] = 1.0
    c[data.user_codes, data.item_codes] = model.confidence(data.ratings)
    x, y = model.user_factors_.astype(float), model.item_factors_.astype(float)
    reconstruction = 0.5 * np.sum(c * (p - x @ y.T) ** 2)
    return reconstruction, 0.5 * model.params.reg * (np.sum(x * x) + np.sum(y * y))


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("weighting", ["binary", "rating"])
def test_wals_reports_its_weighted_objective_over_all_pairs(tiny, weighting, solver):
    """The last epoch's losses are the objective at the fitted factors: computed after the epoch (cholesky)
    or measured by the conjugate-gradient sweep itself."""
    params = dict(n_factors=3, reg=0.3, alpha=2.0, weighting=weighting, solver=solver, dtype="float64")
    model = make("wals", **params).fit(tiny)
    record = model.history_[-1]
    reconstruction, regularization = _dense_wals_objective(model, tiny)
    assert record.reconstruction_loss == pytest.approx(reconstruction, rel=1e-9)
    assert record.regularization_loss == pytest.approx(regularization, rel=1e-9)
    assert record.total_loss == pytest.approx(reconstruction + regularization, rel=1e-9)
    assert record.measured == "after epoch"


def test_exact_wals_never_increases_its_objective(planted):
    data, _ = planted
    model = make("wals", n_factors=4, reg=0.5, alpha=3.0, solver="cholesky", n_epochs=8, dtype="float64")
    losses = np.array([r.total_loss for r in model.fit(data).history_])
    assert np.all(np.diff(losses) <= 1e-9 * losses[:-1])


def test_many_cg_steps_reach_the_cholesky_solution(planted):
    data, _ = planted
    model = make("wals", n_factors=5, n_epochs=2, dtype="float64").fit(data)
    matrix = model.confidence_matrix(data)  # what the fit swept (a fitted model keeps only its factors)
    others = model.item_factors_
    gram = others.T @ others
    reg = np.full(data.n_users, 2.0)
    exact = model.user_factors_.copy()
    wals_cholesky_sweep(matrix.indptr, matrix.indices, matrix.data, exact, others, gram, reg)
    iterative = model.user_factors_.copy()
    wals_cg_sweep(matrix.indptr, matrix.indices, matrix.data, iterative, others, gram, reg, 20, np.empty(0))
    np.testing.assert_allclose(iterative, exact, atol=1e-7)


def test_a_float32_cg_sweep_follows_the_float64_one(blocks):
    """float32 factors sweep in float32 arithmetic (twice the SIMD lanes): the same steps to float32 precision
    (measured 8e-7 of the largest factor here; float64 accumulators gave 1e-6)."""
    data, _ = blocks
    model = make("wals", n_factors=6, n_epochs=2, dtype="float64").fit(data)
    matrix = model.confidence_matrix(data)
    others, reg = model.item_factors_, np.full(data.n_users, 2.0)
    rows = {dtype: model.user_factors_.astype(dtype) for dtype in (np.float32, np.float64)}
    for dtype, x in rows.items():
        y = others.astype(dtype)
        wals_cg_sweep(
            matrix.indptr, matrix.indices, matrix.data.astype(dtype), x, y, y.T @ y, reg, 3, np.empty(0)
        )
    moved = np.abs(rows[np.float64] - model.user_factors_).max()
    assert moved > 1e-3  # the sweep did move the rows
    np.testing.assert_allclose(rows[np.float32], rows[np.float64], atol=1e-5 * np.abs(rows[np.float64]).max())


def test_the_threaded_rated_part_sums_what_the_serial_one_does(planted):
    data, _ = planted
    model = make("wals", n_factors=6, n_epochs=2, dtype="float32").fit(data)
    matrix = model.confidence_matrix(data)
    arguments = (matrix.indptr, matrix.indices, matrix.data, model.user_factors_, model.item_factors_)
    s = np.einsum("ij,ij->i", model.user_factors_[data.user_codes], model.item_factors_[data.item_codes])
    by_hand = float(np.sum(matrix.data * (1 - s.astype(np.float64)) ** 2 - s.astype(np.float64) ** 2))
    assert rated_part(*arguments) == pytest.approx(by_hand, rel=1e-5)
    assert rated_part_parallel(*arguments) == pytest.approx(rated_part(*arguments), rel=1e-12)


def test_wals_fold_in_is_the_exact_user_solve(planted):
    data, _ = planted
    model = make("wals", n_factors=4, reg=0.7, dtype="float64").fit(data)
    matrix = model.confidence_matrix(data)  # what the fit swept (a fitted model keeps only its factors)
    gram = model.item_factors_.T @ model.item_factors_
    exact = model.user_factors_.copy()
    reg = np.full(data.n_users, model.params.reg)
    wals_cholesky_sweep(matrix.indptr, matrix.indices, matrix.data, exact, model.item_factors_, gram, reg)
    user = int(np.argmax(data.user_counts()))  # a person with FOLD_IN_RATINGS or more: the training problem
    assert data.user_counts()[user] >= FOLD_IN_RATINGS
    mine = data.user_codes == user
    vector, bias = model.fold_in_user(data.item_codes[mine], data.ratings[mine])
    np.testing.assert_allclose(vector, exact[user], rtol=1e-8, atol=1e-10)
    assert bias == 0.0


def test_wals_fold_in_counts_few_ratings_more_surely(planted):
    """n < FOLD_IN_RATINGS ratings: the exact solve with the confidence slope α times FOLD_IN_RATINGS / n."""
    data, _ = planted
    model = make("wals", n_factors=4, reg=0.7, alpha=2.0, dtype="float64").fit(data)
    codes, ratings = np.array([3, 8, 20, 41, 77]), np.array([5.0, 4.0, 1.0, 3.0, 5.0])
    confidence = 1.0 + 2.0 * (FOLD_IN_RATINGS / 5) * ratings  # ten times the slope α = 2
    items = model.item_factors_[codes]
    matrix = model.item_factors_.T @ model.item_factors_ + 0.7 * np.eye(4)
    matrix += (items * (confidence - 1.0)[:, None]).T @ items
    vector, _ = model.fold_in_user(codes, ratings)
    np.testing.assert_allclose(vector, np.linalg.solve(matrix, items.T @ confidence), rtol=1e-8)


# --- BPR --------------------------------------------------------------------------------------------------


def _bpr_problem(seed=0):
    rng = np.random.default_rng(seed)
    users, items, k = 6, 9, 3
    params = (rng.normal(0, 0.5, (users, k)), rng.normal(0, 0.5, (items, k)), rng.normal(0, 0.5, items))
    triples = (rng.integers(0, users, 20), rng.integers(0, items, 20), rng.integers(0, items, 20))
    return params, triples


def test_bpr_gradient_matches_finite_differences():
    (p, q, b), (u, i, j) = _bpr_problem()
    reg, reg_bias = 0.3, 0.2

    def objective(p, q, b):
        return sum(bpr_objective_terms(p, q, b, u, i, j, reg, reg_bias))

    analytic = bpr_gradients(p, q, b, u, i, j, reg, reg_bias)
    step = 1e-6
    for which, array in enumerate((p, q, b)):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            shifted = [x.copy() for x in (p, q, b)]
            shifted[which][index] += step
            up = objective(*shifted)
            shifted[which][index] -= 2 * step
            numeric[index] = (up - objective(*shifted)) / (2 * step)
        np.testing.assert_allclose(analytic[which], numeric, rtol=1e-5, atol=1e-7)


def test_the_bpr_kernel_takes_the_gradient_step_of_one_triple():
    (p, q, b), _ = _bpr_problem(seed=3)
    u, i, j = np.array([2], np.int32), np.array([4], np.int32), np.array([7], np.int32)
    lr, reg, reg_bias = 0.1, 0.3, 0.2
    grads = bpr_gradients(p, q, b, u, i, j, reg, reg_bias)
    after = [x.copy() for x in (p, q, b)]
    bpr_sgd(u, i, j, *after, lr, reg, reg_bias)
    for before, moved, grad in zip((p, q, b), after, grads, strict=True):
        np.testing.assert_allclose(moved, before - lr * grad, rtol=1e-10, atol=1e-12)


def test_bpr_samples_negatives_the_user_has_not_rated(tiny):
    csr = tiny.csr
    owners = np.repeat(np.arange(tiny.n_users), np.diff(csr.indptr))
    users, positives, negatives = bpr_sample(csr.indptr, csr.indices, owners, tiny.n_items, 500, 3)
    dense = csr.toarray() > 0
    assert len(users) == 500
    assert dense[users, positives].all() and not dense[users, negatives].any()


def test_bpr_reports_a_falling_objective(planted):
    data, _ = planted
    model = make("bpr", n_factors=4, n_epochs=15, lr=0.05).fit(data)
    losses = [r.total_loss for r in model.history_]
    assert losses[-1] < losses[4] < losses[0]
    assert model.item_scores(0).shape == (data.n_items,)


def test_n_factors_ranges_match_what_the_row_solves_accept():
    """bpmf solves k × k systems per row: its n_factors range stops at rowsolve.MAX_FACTORS, so no widget
    offers more; wals and als go further only with CG, say so in their help, and the refusal of Cholesky
    above the cap names the parameter, the cap and the way out."""
    for name in ("bpmf",):
        spec = {s.name: s for s in MODELS[name].Params.specs()}["n_factors"]
        assert spec.high == MAX_FACTORS
        make(name, n_factors=MAX_FACTORS)
        with pytest.raises(ParameterError, match=f"n_factors={MAX_FACTORS + 1} is not allowed"):
            make(name, n_factors=MAX_FACTORS + 1)
    for name in ("wals", "als"):
        spec = {s.name: s for s in MODELS[name].Params.specs()}["n_factors"]
        assert spec.high > MAX_FACTORS and f"{MAX_FACTORS} with solver='cholesky'" in spec.help
        make(name, solver="cg", n_factors=int(spec.high))
        make(name, solver="cholesky", n_factors=MAX_FACTORS)
        with pytest.raises(ParameterError) as refused:
            make(name, solver="cholesky", n_factors=MAX_FACTORS + 1)
        assert str(refused.value) == (
            f"n_factors={MAX_FACTORS + 1} is not allowed: n_factors must be ≤ {MAX_FACTORS} with "
            f"solver='cholesky' (its k × k solves grow as k³); choose solver='cg' for up to {int(spec.high)} "
            "factors, or fewer factors."
        )
