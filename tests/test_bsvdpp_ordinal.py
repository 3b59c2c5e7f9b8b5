"""`bsvdpp`'s ordered-probit link: the compiled likelihood, truncated draws and expected ratings against SciPy's
normal distribution; the cut points' Metropolis step against their posterior computed on a grid; a planted
ordinal matrix; fold-in, save and load through the link."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import log_ndtr, ndtr

from recengine.data.dataset import RatingsDataset
from recengine.errors import ParameterError
from recengine.evaluation.split import holdout_random
from recengine.models import make
from recengine.models.kernels import ordinal
from recengine.store import load_model, save_model

CUTS = np.array([-1.0, 0.2, 0.9, 2.5])  # five categories
PADDED = np.concatenate([[-np.inf], CUTS, [np.inf]])  # every category's interval, as the kernels take them


def log_interval(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """log(Φ(hi) − Φ(lo)) in logs throughout (accurate in both tails)."""
    upper, lower = log_ndtr(hi), log_ndtr(lo)
    return upper + np.log1p(-np.exp(lower - upper))


def scores_and_categories():
    """Scores from far below the first cut to far above the last, each with every category (tails too)."""
    eta = np.repeat(np.array([-30.0, -6.0, -1.2, 0.0, 0.5, 1.7, 4.0, 9.0, 30.0]), 5)
    return eta, np.tile(np.arange(5), 9)


def log_likelihood(eta: np.ndarray, categories: np.ndarray, padded: np.ndarray) -> float:
    """Σ log P(r | η, c), each term in logs from the side of its interval away from 1 (Φ(hi) − Φ(lo) =
    Φ(−lo) − Φ(−hi)), floored as the kernel floors what Φ cannot resolve."""
    lo, hi = padded[categories] - eta, padded[categories + 1] - eta
    upper = lo > 0
    lo, hi = np.where(upper, -hi, lo), np.where(upper, -lo, hi)
    return float(np.maximum(log_interval(lo, hi), np.log(ordinal.TINY)).sum())


@pytest.mark.parametrize("cut", [1, 2, 4])
def test_log_likelihood_change_of_moving_one_cut(cut):
    eta, categories = scores_and_categories()
    padded = PADDED.copy()
    moved = padded.copy()
    moved[cut] += 0.13
    change = ordinal.log_likelihood_change(eta, categories, padded, moved[cut], cut)
    expected = log_likelihood(eta, categories, moved) - log_likelihood(eta, categories, padded)
    assert change == pytest.approx(expected, rel=1e-9)
    assert change != 0


@pytest.mark.parametrize("uniform", [1e-12, 0.03, 0.5, 0.97, 1.0])
def test_latent_draws_are_the_truncated_normal_quantiles(uniform):
    """z = η + F⁻¹(u) for F the unit normal truncated to the rating's interval less η (SciPy's truncnorm);
    F⁻¹(1 − u) = −G⁻¹(u), G truncated to the mirror image, for an interval centred above η (the kernel inverts
    Φ on the mirror image there). Every draw inside its interval, u = 1 included."""
    eta, categories = scores_and_categories()
    padded = PADDED.copy()
    out = np.empty(len(eta))
    ordinal.draw_latent(eta, categories, padded, np.full(len(eta), uniform), out)
    lo, hi = padded[categories] - eta, padded[categories + 1] - eta
    mirrored = lo + hi > 0
    expected = eta + np.where(
        mirrored, -stats.truncnorm.ppf(uniform, -hi, -lo), stats.truncnorm.ppf(uniform, lo, hi)
    )
    reachable = np.minimum(np.abs(lo), np.abs(hi)) < 8  # intervals whose mass Φ resolves
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[reachable], expected[reachable], rtol=1e-7, atol=1e-7)
    assert np.all((out >= padded[categories] - 1e-9) & (out <= padded[categories + 1] + 1e-9))


def test_expected_ratings_weigh_each_value_by_its_probability():
    eta = np.linspace(-4, 6, 23)
    values = np.array([1.0, 2.0, 3.0, 3.5, 5.0])
    out = np.empty(len(eta))
    ordinal.expected_ratings(eta, CUTS, values, out)
    padded = PADDED.copy()
    probabilities = ndtr(padded[1:][None, :] - eta[:, None]) - ndtr(padded[:-1][None, :] - eta[:, None])
    np.testing.assert_allclose(out, probabilities @ values, rtol=1e-12)


def ordinal_planted(n_users=300, n_items=200, density=0.3, seed=0):
    """Ratings 1..5 cut from a rank-2 score plus unit noise at known cut points: (data, scores, cuts)."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    users, items = np.nonzero(mask)
    p, q = rng.normal(0, 1, (n_users, 2)), rng.normal(0, 1, (n_items, 2))
    score = 3 + np.sum(p[users] * q[items], axis=1)
    cuts = np.array([1.5, 2.3, 3.1, 4.5])
    ratings = 1.0 + np.searchsorted(cuts, score + rng.standard_normal(len(score)))
    data = RatingsDataset(users, items, ratings, np.arange(n_users), np.arange(n_items))
    return data, score, cuts


def test_the_cut_points_metropolis_step_samples_their_posterior():
    """Scores held fixed, two categories: the chain of the one cut against p(c | η, r) ∝ Π P(r | η, c) on a
    fine grid (a flat prior): mean and spread."""
    rng = np.random.default_rng(3)
    eta = rng.normal(0, 1, 40)
    ratings = np.where(eta + rng.standard_normal(40) > 0.3, 2.0, 1.0)
    data = RatingsDataset(np.arange(40), np.zeros(40, dtype=int), ratings, np.arange(40), np.arange(1))
    model = make("bsvdpp", n_factors=1, n_epochs=1, link="ordered_probit", seed=5)
    model._prepare(data)
    model._initialize(data)
    model._cut_steps = np.array([0.4])
    model._linear_predictor = lambda users, items: eta[users]
    chain = []
    for _ in range(6000):
        model._draw_latent()
        chain.append(model._cuts[0])
    chain = np.array(chain[500:])
    grid = np.linspace(-3, 3.5, 4001)
    categories = (ratings == 2).astype(np.int64)
    log_post = np.array([log_likelihood(eta, categories, np.array([-np.inf, c, np.inf])) for c in grid])
    weights = np.exp(log_post - log_post.max())
    weights /= weights.sum()
    mean = float(weights @ grid)
    spread = float(np.sqrt(weights @ (grid - mean) ** 2))
    assert abs(chain.mean() - mean) < 0.1 * spread + 0.02
    assert abs(chain.std() / spread - 1) < 0.15


def test_ordered_probit_learns_a_planted_ordinal_matrix():
    """Near the RMSE of the true expected ratings, and better than the Gaussian link on the same data."""
    data, score, cuts = ordinal_planted()
    train, test = holdout_random(data, 0.2, seed=0)
    probit = make("bsvdpp", n_factors=2, n_epochs=60, link="ordered_probit").fit(train, valid=test)
    gaussian = make("bsvdpp", n_factors=2, n_epochs=60, link="gaussian").fit(train)
    lookup = {(u, i): s for u, i, s in zip(data.user_codes, data.item_codes, score, strict=True)}
    truth = np.array([lookup[pair] for pair in zip(test.user_codes, test.item_codes, strict=True)])
    best = np.empty(len(truth))
    ordinal.expected_ratings(truth, cuts, np.arange(1.0, 6.0), best)
    oracle = float(np.sqrt(np.mean((test.ratings - best) ** 2)))
    assert probit.rmse(test) < 1.06 * oracle  # 0.933 against 0.891
    assert probit.history_[-1].valid_rmse < 1.06 * oracle
    assert probit.rmse(test) < gaussian.rmse(test) - 0.005  # 0.947
    assert np.all(np.diff(probit.cutpoints_) > 0) and probit.levels_.tolist() == [1, 2, 3, 4, 5]


def test_predictions_fold_in_save_and_load_through_the_link(tmp_path):
    data, _, _ = ordinal_planted(60, 40, seed=1)
    model = make("bsvdpp", n_factors=2, n_epochs=8, link="ordered_probit").fit(data)
    users, items = data.user_codes, data.item_codes
    eta = (  # the score before the link
        model.global_mean_
        + model.user_bias_[users]
        + model.item_bias_[items]
        + np.sum(model.user_factors_[users] * model.item_factors_[items], axis=1)
    )
    expected = np.empty(len(eta))
    ordinal.expected_ratings(eta, model.cutpoints_, model.levels_, expected)
    np.testing.assert_allclose(model.predict(users, items), data.scale.clip(expected))
    loaded = load_model(save_model(model, tmp_path / "probit.npz", data=data), data=data)
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))
    codes, ratings = np.array([1, 5, 9]), np.array([5.0, 1.0, 4.0])
    vector = model.fold_in(codes, ratings)
    np.testing.assert_array_equal(loaded.fold_in(codes, ratings).factors, vector.factors)
    scores = model.scores_for(vector.factors, vector.bias)
    assert scores.min() >= 1 and scores.max() <= 5  # expected ratings


def test_latent_targets_of_a_new_persons_ratings():
    """A new person's fold-in regresses on latent targets: the middle of each category's interval, √(2/π) past
    the end cuts, in between for off-grid values. Two people who rated the same films: their problems'
    residuals differ by the difference of their targets (the films' offsets cancel)."""
    data, _, _ = ordinal_planted(40, 30, seed=2)
    model = make("bsvdpp", n_factors=2, n_epochs=3, link="ordered_probit").fit(data)
    c, past = model.cutpoints_, np.sqrt(2 / np.pi)
    codes = np.array([1, 5, 9, 13, 17])
    ratings = np.array([1.0, 2.0, 4.0, 5.0, 2.5])
    residuals = model.foldin_system(codes, ratings).residuals
    threes = model.foldin_system(codes, np.full(len(codes), 3.0)).residuals
    middle_2, middle_3 = (c[0] + c[1]) / 2, (c[1] + c[2]) / 2
    targets = [c[0] - past, middle_2, (c[2] + c[3]) / 2, c[3] + past, (middle_2 + middle_3) / 2]
    np.testing.assert_allclose(residuals - threes, np.array(targets) - middle_3, rtol=1e-12, atol=1e-12)


def test_the_default_link_is_the_ordered_probit_for_stars_and_gaussian_otherwise(planted):
    stars, _, _ = ordinal_planted(30, 20, seed=4)
    assert len(make("bsvdpp", n_factors=2, n_epochs=2).fit(stars).cutpoints_) == 4
    continuous, _ = planted
    model = make("bsvdpp", n_factors=2, n_epochs=2).fit(continuous)
    assert len(model.cutpoints_) == 0 and len(model.levels_) == 0


def test_the_ordered_probit_needs_ratings_on_a_grid():
    data, _, _ = ordinal_planted(20, 10, seed=3)
    continuous = RatingsDataset(data.user_codes, data.item_codes, data.ratings + np.linspace(0, 0.37, data.n_ratings),
                                np.arange(20), np.arange(10))  # fmt: skip
    with pytest.raises(ParameterError, match="gaussian"):
        make("bsvdpp", n_epochs=2, link="ordered_probit").fit(continuous)


def test_fold_in_solves_the_posterior_mode_for_the_latent_targets():
    """As the Gaussian link's fold-in, with each rating replaced by its latent target (α = 1)."""
    data, _, _ = ordinal_planted(80, 60, seed=5)
    model = make("bsvdpp", n_factors=2, n_epochs=20).fit(data)
    codes, ratings = np.array([0, 3, 7, 11, 20]), np.array([5.0, 1.0, 4.0, 2.0, 3.0])
    vector = model.fold_in(codes, ratings)
    targets = model._latent_targets(ratings)
    scale = 1 / np.sqrt(len(codes))
    own = np.append(
        vector.factors - model.implicit_factors_[codes].sum(axis=0) * scale,
        vector.bias - model.implicit_bias_[codes].sum() * scale,
    )
    c = model.item_factors_[codes].astype(float)
    error = targets - model.global_mean_ - model.item_bias_[codes] - c @ vector.factors - vector.bias
    gradient = -np.hstack([c, np.ones((len(codes), 1))]).T @ error
    gradient += model.prior_precision_ * (own - model.prior_mean_)
    assert float(model.noise_precision_) == 1.0
    np.testing.assert_allclose(gradient, 0, atol=1e-9)
