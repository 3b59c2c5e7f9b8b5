"""A vector for a user who is not in the training data, from a few ``{item: rating}`` pairs, without retraining.

The item side of the model stays fixed; the new user's vector solves the model's own problem for one user:

- a model with a ``fold_in_user(item_codes, ratings) -> (factors, bias)`` method of its own is asked
  (``wals``: the exact weighted least-squares solve; ``bpr``: its pairwise objective by Newton's method;
  ``nmf``: non-negative least squares);
- ``svd`` (a truncated SVD of the residual matrix, unrated cells as 0): the ridge user bias, then the
  projection p = (QᵀQ)⁻¹ Σ_i r̃_i q_i, the least-squares vector over the whole row;
- ``bpmf``: the posterior mode for the new user, with the items at their posterior means, the model's
  noise precision α, and a Gaussian prior fitted to the trained users' vectors;
- other rating models (biased MF): ridge regression with a user bias,
  min Σ_i (r_i − μ − b_i − b_u − p·q_i)² + λ_u (‖p‖² + b_u²), with the model's μ, item biases and λ
  (λ_u = λ·n or λ·n^power when the model scales its penalty by the rating count); a model with
  SVD++-style implicit factors y gets p on top of |S|^−½ Σ_{j∈S} y_j;
- with no ratings at all there is no vector: the result is the labelled popular-and-well-liked fallback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recengine.errors import BadValuesError, UnknownIdError
from recengine.models.base import Recommender
from recengine.scoring import single_threaded_blas

FALLBACK = "popular and well liked (no ratings yet)"


@dataclass(frozen=True)
class UserVector:
    """A (new) user's factors and bias, how they were found, and the ratings they came from."""

    factors: np.ndarray
    bias: float
    method: str
    item_codes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    ratings: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def is_fallback(self) -> bool:
        """True when there were no ratings: recommend the popular-and-well-liked list instead."""
        return self.method == FALLBACK


def fold_in(model: Recommender, item_codes: Any, ratings: Any) -> UserVector:
    """The user vector for ratings of items given by code (see the module docstring for the method)."""
    model._check_fitted()
    codes, values = _clean(model, item_codes, ratings)
    k = model.item_factors_.shape[1]
    if not len(codes):
        return UserVector(np.zeros(k, dtype=np.float64), 0.0, FALLBACK, codes, values)
    with single_threaded_blas():
        factors, bias, method = _solve(model, codes, values)
    return UserVector(np.asarray(factors, dtype=np.float64), float(bias), method, codes, values)


def _solve(model: Recommender, codes: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, float, str]:
    if model.item_factors_.shape[1] == 0 and getattr(model, "user_bias_", None) is None:
        return np.zeros(0), 0.0, "none needed: this model scores every user alike"
    own = getattr(model, "fold_in_user", None)
    if own is not None:
        factors, bias = own(codes, values)
        return factors, bias, f"{model.name}: its own fold-in"
    if model.name == "svd":
        factors, bias = _svd_projection(model, codes, values)
        return factors, bias, "projection onto the singular vectors (unrated cells as 0), after a ridge bias"
    factors, bias = linear_system(model, codes, values).solve()
    if model.name == "bpmf":
        return factors, bias, "posterior mode under a Gaussian prior fitted to the trained users"
    if getattr(model, "implicit_factors_", None) is not None:
        return factors, bias, "ridge regression with a user bias, on top of the implicit part"
    return factors, bias, "ridge regression with a user bias"


def _clean(model: Recommender, item_codes: Any, ratings: Any) -> tuple[np.ndarray, np.ndarray]:
    """Codes and ratings as arrays; one rating per item (the last one given)."""
    codes = np.asarray(item_codes, dtype=np.int64).ravel()
    values = np.asarray(ratings, dtype=np.float64).ravel()
    if codes.shape != values.shape:
        raise BadValuesError(f"{len(codes)} items but {len(values)} ratings: give one rating per item.")
    if len(codes) and (codes.min() < 0 or codes.max() >= model.n_items_):
        bad = codes[(codes < 0) | (codes >= model.n_items_)][0]
        raise UnknownIdError(f"item code {bad} is outside the model's {model.n_items_:,} items.")
    if not np.isfinite(values).all():
        raise BadValuesError("Ratings must be finite numbers.")
    _, last = np.unique(codes[::-1], return_index=True)
    keep = np.sort(len(codes) - 1 - last)
    return codes[keep], values[keep]


def penalty(model: Recommender, n_ratings: int) -> float:
    """The model's L2 penalty for one user with ``n_ratings`` ratings: λ, or λ·n with ``weighted_reg``,
    or λ·n^power with ``reg_power``."""
    params = model.params
    reg = float(getattr(params, "reg", getattr(params, "reg_user", 0.0)))
    power = model._reg_power() if hasattr(model, "_reg_power") else getattr(params, "reg_power", None)
    if power is not None:
        return reg * n_ratings ** float(power)
    return reg * n_ratings if getattr(params, "weighted_reg", False) else reg


@dataclass(frozen=True)
class LinearSystem:
    """A rating model's problem for one new user, x = [p, b_u] (b_u when the model has user biases):

    x = M⁻¹ (Xᵀ (w·e) + prior), rows x_j of X = [q_j, 1] for the rated items, e_j the rating left once μ,
    b_j (and an SVD++-style implicit offset) are taken out; the user's factors are p + ``offset``.
    """

    design: np.ndarray
    residuals: np.ndarray
    weight: float
    matrix: np.ndarray
    prior: np.ndarray
    offset: np.ndarray
    has_bias: bool

    def solve(self) -> tuple[np.ndarray, float]:
        rhs = self.design.T @ (self.weight * self.residuals) + self.prior
        solution = np.linalg.solve(self.matrix, rhs)
        factors, bias = (solution[:-1], float(solution[-1])) if self.has_bias else (solution, 0.0)
        return factors + self.offset, bias


def linear_system(model: Recommender, codes: np.ndarray, ratings: np.ndarray) -> LinearSystem:
    """The ridge problem of a biased-MF model (M = XᵀX + λ_u I, w = 1), or for ``bpmf`` the posterior mode
    under a Gaussian prior N(m, Λ⁻¹) fitted to the trained users' vectors (M = Λ + α XᵀX, w = α, prior Λm,
    α the model's noise precision)."""
    items = model.item_factors_[codes].astype(np.float64)
    item_bias = getattr(model, "item_bias_", None)
    has_bias = getattr(model, "user_bias_", None) is not None
    residuals = ratings - model.global_mean_
    if item_bias is not None:
        residuals = residuals - item_bias[codes]
    implicit = getattr(model, "implicit_factors_", None)
    offset = np.zeros(items.shape[1])
    if implicit is not None:
        offset = implicit[codes].astype(np.float64).sum(axis=0) / np.sqrt(len(codes))
        residuals = residuals - items @ offset
    design = np.hstack([items, np.ones((len(codes), 1))]) if has_bias else items
    if model.name == "bpmf":
        mean, precision = _population_prior(model)
        alpha = float(model.params.alpha)
        matrix = precision + alpha * design.T @ design
        return LinearSystem(design, residuals, alpha, matrix, precision @ mean, offset, has_bias)
    reg = np.full(design.shape[1], penalty(model, len(codes)))
    if has_bias and hasattr(model.params, "reg_user"):  # the baseline penalizes user biases with reg_user
        reg[-1] = float(model.params.reg_user)
    matrix = design.T @ design + np.diag(np.maximum(reg, 1e-9))
    return LinearSystem(design, residuals, 1.0, matrix, np.zeros(design.shape[1]), offset, has_bias)


def _population_prior(model: Recommender) -> tuple[np.ndarray, np.ndarray]:
    """Mean and precision of the trained users' [p, b_u] (users with factors), the precision slightly
    ridged so it stays invertible; cached on the model."""
    cached = getattr(model, "_population_prior_cache", None)
    if cached is not None and cached[0] is model.user_factors_:
        return cached[1]
    rows = model.user_factors_.astype(np.float64)
    if getattr(model, "user_bias_", None) is not None:
        rows = np.hstack([rows, model.user_bias_.astype(np.float64)[:, None]])
    rows = rows[np.abs(rows).sum(axis=1) > 0]
    covariance = np.atleast_2d(np.cov(rows, rowvar=False)) if len(rows) > 1 else np.eye(rows.shape[1])
    covariance += 1e-6 * np.eye(len(covariance))
    prior = (rows.mean(axis=0) if len(rows) else np.zeros(len(covariance)), np.linalg.inv(covariance))
    model._population_prior_cache = (model.user_factors_, prior)
    return prior


def svd_residuals(model: Recommender, codes: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, float]:
    """(r − μ − b_u − b_i on the rated items, b_u) for an SVD model, b_u fitted first as the model does:
    the ridge user bias Σ (r − μ − b_i) / (n + λ)."""
    residual = ratings - model.global_mean_
    if getattr(model, "item_bias_", None) is None:
        return residual, 0.0
    residual = residual - model.item_bias_[codes]
    bias = float(residual.sum() / (len(codes) + model.params.reg))
    return residual - bias, bias


def _svd_projection(model: Recommender, codes: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, float]:
    """The least-squares user vector over the whole row, unrated cells counting as residual 0 (the
    model's own objective): p = (QᵀQ)⁻¹ Σ_rated r̃_i q_i."""
    residual, bias = svd_residuals(model, codes, ratings)
    items = model.item_factors_.astype(np.float64)
    gram = items.T @ items
    return np.linalg.solve(gram + 1e-12 * np.eye(len(gram)), items[codes].T @ residual), bias
