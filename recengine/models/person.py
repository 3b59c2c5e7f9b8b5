"""What a fitted model does for one person, the shared defaults: a vector from a few ratings (fold-in) and
how much each rated item pushed a film's score up (attribution). Models with a problem of their own override
`Recommender.fold_in_user`, `Recommender.foldin_system` or `Recommender.attribute` (see ``base.py``).

The default fold-in solves a rating model's problem for one user, the item side fixed: ridge regression with
a user bias, min Σ_i (r_i − μ − b_i − b_u − p·q_i)² + λ_u (‖p‖² + b_u²), with the model's μ, item biases and
λ_u (`Recommender.foldin_penalty`); a model with SVD++-style implicit factors y gets p on top of
|S|^−½ Σ_{j∈S} y_j. With no ratings at all there is no vector: the result is the labelled
popular-and-well-liked fallback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recengine.errors import BadValuesError, UnknownIdError

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


def clean_ratings(n_items: int, item_codes: Any, ratings: Any) -> tuple[np.ndarray, np.ndarray]:
    """Codes and ratings as arrays, checked against a model of ``n_items`` items; one rating per item (the
    last one given)."""
    codes = np.asarray(item_codes, dtype=np.int64).ravel()
    values = np.asarray(ratings, dtype=np.float64).ravel()
    if codes.shape != values.shape:
        raise BadValuesError(f"{len(codes)} items but {len(values)} ratings: give one rating per item.")
    if len(codes) and (codes.min() < 0 or codes.max() >= n_items):
        bad = codes[(codes < 0) | (codes >= n_items)][0]
        raise UnknownIdError(f"item code {bad} is outside the model's {n_items:,} items.")
    if not np.isfinite(values).all():
        raise BadValuesError("Ratings must be finite numbers.")
    _, last = np.unique(codes[::-1], return_index=True)
    keep = np.sort(len(codes) - 1 - last)
    return codes[keep], values[keep]


def solved(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """M⁻¹ rhs, or the least-squares solution when M is singular to working precision: item factors so
    large or so alike (a crafted model file) that the ridge penalty is lost in rounding."""
    try:
        return np.linalg.solve(matrix, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(matrix, rhs, rcond=None)[0]


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
        solution = solved(self.matrix, rhs)
        factors, bias = (solution[:-1], float(solution[-1])) if self.has_bias else (solution, 0.0)
        return factors + self.offset, bias


@dataclass(frozen=True)
class Evidence:
    """The parts of a biased model's one-user problem: X = [q_j, 1] rows, e_j = r_j − μ − b_j − q_j·offset."""

    design: np.ndarray
    residuals: np.ndarray
    offset: np.ndarray
    has_bias: bool


def evidence(
    model: Any, codes: np.ndarray, ratings: np.ndarray, implicit: np.ndarray | None = None
) -> Evidence:
    """X and e for ``model`` (its μ, item biases and, when it has them, user biases); ``implicit`` holds
    SVD++-style factors y whose |S|^−½ Σ y_j is part of the user's vector."""
    items = model.item_factors_[codes].astype(np.float64)
    item_bias = getattr(model, "item_bias_", None)
    has_bias = getattr(model, "user_bias_", None) is not None
    residuals = ratings - model.global_mean_
    if item_bias is not None:
        residuals = residuals - item_bias[codes]
    offset = np.zeros(items.shape[1])
    if implicit is not None:
        offset = implicit[codes].astype(np.float64).sum(axis=0) / np.sqrt(len(codes))
        residuals = residuals - items @ offset
    design = np.hstack([items, np.ones((len(codes), 1))]) if has_bias else items
    return Evidence(design, residuals, offset, has_bias)


def ridge_system(parts: Evidence, penalty: float) -> LinearSystem:
    """The ridge problem M = XᵀX + λ_u I, w = 1, no prior."""
    width = parts.design.shape[1]
    matrix = parts.design.T @ parts.design + np.diag(np.full(width, max(penalty, 1e-9)))
    return LinearSystem(
        parts.design, parts.residuals, 1.0, matrix, np.zeros(width), parts.offset, parts.has_bias
    )


# --- attribution ----------------------------------------------------------------------------------------


def by_evidence(parts: np.ndarray, evidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``parts`` split by the sign of each rated item's evidence (columns): (liked, disliked)."""
    disliked = evidence < 0
    return np.where(disliked[None, :], 0.0, parts), np.where(disliked[None, :], parts, 0.0)


def system_attribution(system: LinearSystem, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The taste part of each target's score split over the rated items of a `LinearSystem`:
    q_i·p = Σ_j w e_j · [q_i, 0]ᵀ M⁻¹ x_j (+ a prior term owed to no rated item)."""
    pull = solved(system.matrix, system.design.T)  # M⁻¹ x_j as columns
    k = target.shape[1]
    evidence_ = system.weight * system.residuals
    return by_evidence((target @ pull[:k]) * evidence_[None, :], evidence_)


def cosine_attribution(
    target: np.ndarray, source: np.ndarray, ratings: np.ndarray, low: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of the item factors of target i and rated j, times the rating's distance above the
    bottom of the scale ``low`` (a rough but monotone attribution)."""
    unit_target = target / np.maximum(np.linalg.norm(target, axis=1, keepdims=True), 1e-12)
    unit_source = source / np.maximum(np.linalg.norm(source, axis=1, keepdims=True), 1e-12)
    above = np.maximum(ratings - low, 0.0)
    return by_evidence((unit_target @ unit_source.T) * above[None, :], above)
