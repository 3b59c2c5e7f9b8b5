"""BPMF's Gibbs sweep written here from the model's definition (Salakhutdinov and Mnih, 2008), independently of
its code, and compared draw for draw: the Gaussian-Wishart posterior of each side's (μ, Λ), then every row's
Gaussian conditional given the other side, with the same random numbers (the generator's state is read
before the sweep); the losses it reports at its sample; what it publishes; and the prior its fold-in fits.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from scipy.stats import wishart

from recengine.data.dataset import RatingsDataset
from recengine.models import make
from recengine.models.foldin import fold_in

# u0 rated i0 5, i1 3; u1 rated i0 4, i2 1; u2 rated i1 2, i2 5, i0 3.
USERS = np.array([0, 0, 1, 1, 2, 2, 2])
ITEMS = np.array([0, 1, 0, 2, 1, 2, 0])
RATINGS = np.array([5.0, 3.0, 4.0, 1.0, 2.0, 5.0, 3.0])
MEAN = 23 / 7
ALPHA = 1.5


def tiny() -> RatingsDataset:
    return RatingsDataset(USERS, ITEMS, RATINGS, np.arange(3), np.arange(3))


def sweeps(biases: bool, n_epochs: int = 3, burn_in: int = 3, dtype: str = "float64") -> list[dict]:
    """Fit on the tiny set; after every epoch the generator, the samples, the priors and the report."""
    taken = []

    def keep(record, model):
        taken.append({
            "rng": copy.deepcopy(model.rng_),
            "users": model.users_sample_.astype(np.float64), "items": model.items_sample_.astype(np.float64),
            "user_prior": model.user_prior_, "item_prior": model.item_prior_,
            "losses": (record.reconstruction_loss, record.regularization_loss, record.total_loss),
        })  # fmt: skip

    model = make("bpmf", n_factors=2, n_epochs=n_epochs, burn_in=burn_in, alpha=ALPHA, biases=biases,
                 dtype=dtype, seed=3)  # fmt: skip
    model.fit(tiny(), callbacks=[keep])
    return taken, model


def gaussian_wishart_posterior(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw (μ, Λ) given the rows x under μ₀ = 0, β₀ = 2, ν₀ = d, W₀ = I:
    Λ ~ W(ν₀ + n, W*), W*⁻¹ = W₀⁻¹ + Σ (x − x̄)(x − x̄)ᵀ + β₀ n / (β₀ + n) x̄ x̄ᵀ;
    μ ~ N((β₀ μ₀ + n x̄) / (β₀ + n), ((β₀ + n) Λ)⁻¹)."""
    n, d = x.shape
    mean = x.mean(axis=0)
    scatter = sum(np.outer(row - mean, row - mean) for row in x)
    w_star = np.linalg.inv(np.eye(d) + scatter + 2.0 * n / (2.0 + n) * np.outer(mean, mean))
    precision = np.atleast_2d(wishart.rvs(df=d + n, scale=(w_star + w_star.T) / 2, random_state=rng))
    covariance = np.linalg.inv((2.0 + n) * precision)
    centre = rng.multivariate_normal(n * mean / (2.0 + n), (covariance + covariance.T) / 2)
    return centre, precision


def conditional_draws(rows, others, prior, noise, biases, by_row: bool) -> np.ndarray:
    """Each row x ~ N(A⁻¹ h, A⁻¹), A = Λ + α Σ_j y_j y_jᵀ, h = Λ μ + α Σ_j t_j y_j over the row's ratings,
    y_j = [v_j, 1] and t_j = r − μ_g − b_j with biases (v_j, b_j: the partner's factors and bias), else y_j = v_j
    and t_j = r − μ_g; drawn as A⁻¹ h + L⁻ᵀ z with A = L Lᵀ (z: the sweep's standard normals)."""
    centre, precision = prior
    out = np.empty_like(rows)
    for row in range(len(rows)):
        mine = (USERS if by_row else ITEMS) == row
        partners = (ITEMS if by_row else USERS)[mine]
        y = np.hstack([others[partners, :2], np.ones((len(partners), 1))]) if biases else others[partners]
        t = RATINGS[mine] - MEAN - (others[partners, 2] if biases else 0.0)
        matrix = precision + ALPHA * y.T @ y
        shift = precision @ centre + ALPHA * y.T @ t
        lower = np.linalg.cholesky(matrix)
        out[row] = np.linalg.solve(matrix, shift) + np.linalg.solve(lower.T, noise[row])
    return out


@pytest.mark.parametrize("biases", [True, False])
def test_one_gibbs_sweep_draw_for_draw(biases):
    taken, _ = sweeps(biases)
    for before, after in itertools.pairwise(taken):
        rng = copy.deepcopy(before["rng"])
        user_prior = gaussian_wishart_posterior(before["users"], rng)
        assert user_prior[0] == pytest.approx(after["user_prior"][0], rel=1e-9, abs=1e-12)
        assert user_prior[1] == pytest.approx(after["user_prior"][1], rel=1e-9)
        noise = rng.standard_normal(before["users"].shape)
        users = conditional_draws(before["users"], before["items"], after["user_prior"], noise, biases, True)
        assert users == pytest.approx(after["users"], rel=1e-9, abs=1e-12)
        item_prior = gaussian_wishart_posterior(before["items"], rng)
        assert item_prior[1] == pytest.approx(after["item_prior"][1], rel=1e-9)
        noise = rng.standard_normal(before["items"].shape)
        items = conditional_draws(before["items"], after["users"], after["item_prior"], noise, biases, False)
        assert items == pytest.approx(after["items"], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("biases", [True, False])
def test_the_reported_losses_are_those_of_the_sample(biases):
    # reconstruction ½ Σ (r − μ_g − b_u − b_i − p_u·q_i)², regularization ½ α⁻¹ Σ (x − μ)ᵀ Λ (x − μ) over the
    # users (their prior) and the items (theirs); total their sum.
    taken, _ = sweeps(biases)
    for sweep in taken:
        users, items = sweep["users"], sweep["items"]
        predicted = MEAN + np.einsum("nk,nk->n", users[USERS, :2], items[ITEMS, :2])
        if biases:
            predicted += users[USERS, 2] + items[ITEMS, 2]
        reconstruction = 0.5 * np.sum((RATINGS - predicted) ** 2)
        penalty = 0.0
        for rows, (centre, precision) in ((users, sweep["user_prior"]), (items, sweep["item_prior"])):
            penalty += sum((x - centre) @ precision @ (x - centre) for x in rows)
        regularization = 0.5 * penalty / ALPHA
        expected = (reconstruction, regularization, reconstruction + regularization)
        assert sweep["losses"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("biases", [True, False])
def test_it_publishes_the_mean_of_the_samples_after_burn_in(biases):
    taken, model = sweeps(biases, n_epochs=3, burn_in=1)
    users = (taken[1]["users"] + taken[2]["users"]) / 2
    items = (taken[1]["items"] + taken[2]["items"]) / 2
    assert model.user_factors_ == pytest.approx(users[:, :2], rel=1e-12)
    assert model.item_factors_ == pytest.approx(items[:, :2], rel=1e-12)
    if biases:
        assert model.user_bias_ == pytest.approx(users[:, 2], rel=1e-12)
        assert model.item_bias_ == pytest.approx(items[:, 2], rel=1e-12)
    else:
        assert model.user_bias_ is None and model.item_bias_ is None


def test_a_float32_model_publishes_float32_averages():
    # From the first sweep on, the published arrays are running means (float64 sums) cast back.
    _, model = sweeps(True, n_epochs=2, burn_in=0, dtype="float32")
    for array in (model.user_factors_, model.item_factors_, model.user_bias_, model.item_bias_):
        assert array.dtype == np.float32


def trained_on(n_users: int):
    """A model trained on the first ``n_users`` of a 3 × 3 set, each with three ratings."""
    users, items = np.repeat(np.arange(n_users), 3), np.tile(np.arange(3), n_users)
    ratings = np.array([5.0, 3.0, 1.0, 2.0, 4.0, 4.0, 1.0, 5.0, 3.0])[: 3 * n_users]
    data = RatingsDataset(users, items, ratings, np.arange(n_users), np.arange(3))
    return make("bpmf", n_factors=2, n_epochs=3, burn_in=1, alpha=ALPHA, seed=5).fit(data)


def posterior_mode(model, prior_mean: np.ndarray, prior_precision: np.ndarray) -> np.ndarray:
    """argmin α ‖X x − e‖² + (x − m)ᵀ Λ (x − m) for the person who rated items 0 and 2 (5 and 1):
    (α XᵀX + Λ) x = α Xᵀ e + Λ m, X = [q_j, 1], e = r − μ − b_j."""
    codes, given = np.array([0, 2]), np.array([5.0, 1.0])
    design = np.hstack([model.item_factors_[codes], np.ones((2, 1))])
    errors = given - model.global_mean_ - model.item_bias_[codes]
    matrix = ALPHA * design.T @ design + prior_precision
    return np.linalg.solve(matrix, ALPHA * design.T @ errors + prior_precision @ prior_mean)


def folded(model) -> np.ndarray:
    vector = fold_in(model, [0, 2], [5.0, 1.0])
    return np.append(vector.factors, vector.bias)


@pytest.mark.parametrize("n_users", [1, 2, 3])
def test_fold_in_prior_from_one_two_or_three_trained_users(n_users):
    # The prior N(m, Λ⁻¹): m the trained users' mean [p, b_u]; Λ = (C + 10⁻⁶ I)⁻¹ with C their sample
    # covariance (divisor n − 1), or C = I for a single user (a covariance needs two).
    model = trained_on(n_users)
    rows = np.hstack([model.user_factors_, model.user_bias_[:, None]])
    covariance = np.cov(rows.T) if n_users > 1 else np.eye(3)
    expected = posterior_mode(model, rows.mean(axis=0), np.linalg.inv(covariance + 1e-6 * np.eye(3)))
    assert folded(model) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert folded(model) == pytest.approx(expected, rel=1e-9, abs=1e-12)  # the prior kept, the same


def test_fold_in_prior_when_no_trained_user_has_a_vector():
    # Users whose vectors are all zero are left out of the prior; with none left it is N(0, (1 + 10⁻⁶)⁻¹ I)…
    model = trained_on(2)
    model.user_factors_ = np.zeros_like(model.user_factors_)
    model.user_bias_ = np.zeros_like(model.user_bias_)
    expected = posterior_mode(model, np.zeros(3), np.eye(3) / (1 + 1e-6))
    assert folded(model) == pytest.approx(expected, rel=1e-9, abs=1e-12)
