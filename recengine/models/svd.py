"""`svd`: the truncated SVD of the centred rating matrix, computed once (one "epoch").

The ratings minus the global mean (and, with ``biases``, minus user and item biases) fill a sparse matrix R̃
whose unrated cells are 0. Its rank-k truncated SVD U S Vᵀ (SciPy's ``svds``) is the exact minimizer of
‖R̃ − P Qᵀ‖²_F over rank-k products (Eckart–Young); P = U S^½ and Q = V S^½ share the singular values. Because
the unrated cells count as residual 0, the factors are pulled toward "no deviation from the biases", which
makes this a strongly shrunk model: fast and simple, but less accurate than the models that fit only the
rated cells.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from recengine.blas import single_threaded_blas
from recengine.data.dataset import RatingsDataset
from recengine.errors import ParameterError
from recengine.lazy import scipy_sparse as sp
from recengine.models import formulas as maths
from recengine.models.base import Hyperparameters, Recommender, hyper
from recengine.models.objective import n_factors_field, sum_squares
from recengine.models.person import by_evidence, solved

BIAS_SWEEPS = 10  # alternating passes over user and item biases (as `baseline` does)


@dataclass(frozen=True)
class SVDParams(Hyperparameters):
    n_factors: int = n_factors_field(10)
    biases: bool = hyper(True, help="Remove user and item biases before the SVD; off, only the global mean.")
    reg: float = hyper(
        5.0, low=0, high=1000, help="L2 penalty λ on the biases (how far few ratings can move them)."
    )


class SVD(Recommender):
    name = "svd"
    factor_copies = 2.5  # measured peak of a fit (tests/hardening/test_memory_estimates.py)
    label = "Truncated SVD (SciPy svds)"
    description = (
        "The truncated singular value decomposition of the rating matrix after removing the mean (and user "
        "and item biases), computed in one step. Unrated cells count as 'no deviation', which shrinks the "
        "factors a lot: a quick, deterministic reference rather than the most accurate model."
    )
    formulas = maths.SVD
    Params = SVDParams
    fold_in_method = "projection onto the singular vectors (unrated cells as 0), after a ridge bias"

    def fit(
        self, train: RatingsDataset, valid: RatingsDataset | None = None, callbacks: Iterable[Any] = ()
    ) -> SVD:
        """As `Recommender.fit`, with BLAS on one thread: threads only slow down these small dense products."""
        with single_threaded_blas():
            return super().fit(train, valid, callbacks)

    def _initialize(self, train: RatingsDataset) -> None:
        k = self.params.n_factors
        if k >= min(train.n_users, train.n_items):
            raise ParameterError(
                "n_factors", k, f"< {min(train.n_users, train.n_items)} (the smaller side of the matrix)"
            )
        self.user_factors_ = np.zeros((train.n_users, k), self.dtype_)
        self.item_factors_ = np.zeros((train.n_items, k), self.dtype_)
        self.user_bias_ = np.zeros(train.n_users, self.dtype_) if self.params.biases else None
        self.item_bias_ = np.zeros(train.n_items, self.dtype_) if self.params.biases else None

    def memory_estimate(self, train: RatingsDataset) -> int:
        """The factors and ARPACK's Lanczos basis (min side × max(2k + 1, 20) numbers) besides the base estimate."""
        k, side = self.params.n_factors, min(train.n_users, train.n_items)
        lanczos = side * min(side, max(2 * k + 1, 20)) * 8
        return super().memory_estimate(train) + lanczos

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        residual = train.ratings.astype(np.float64) - self.global_mean_
        if self.params.biases:
            self.user_bias_, self.item_bias_ = self._biases(train, residual)
            residual = residual - self.user_bias_[train.user_codes] - self.item_bias_[train.item_codes]
        matrix = sp.csr_matrix(
            (residual, (train.user_codes, train.item_codes)), shape=(train.n_users, train.n_items)
        )
        start = self.rng_.uniform(-1, 1, min(matrix.shape))
        from scipy.sparse.linalg import svds  # imported here: it brings scipy.linalg, ~0.1 s

        left, values, right = svds(matrix, k=self.params.n_factors, v0=start)
        order = np.argsort(-values)
        root = np.sqrt(values[order])
        self.user_factors_ = (left[:, order] * root).astype(self.dtype_)
        self.item_factors_ = (right[order].T * root).astype(self.dtype_)
        share = float(np.sum(values**2) / max(sum_squares(residual), 1e-300))
        return {"extra": {"singular_value_max": float(root[0] ** 2), "explained_share": share}}

    def _biases(self, train: RatingsDataset, centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The exact-ridge user and item biases, by alternating closed-form sweeps."""
        users, items, reg = train.user_codes, train.item_codes, self.params.reg
        user_counts, item_counts = train.user_counts() + reg, train.item_counts() + reg
        user_bias, item_bias = np.zeros(train.n_users), np.zeros(train.n_items)
        for _ in range(BIAS_SWEEPS):
            user_bias = _safe_ratio(
                np.bincount(users, centred - item_bias[items], train.n_users), user_counts
            )
            item_bias = _safe_ratio(
                np.bincount(items, centred - user_bias[users], train.n_items), item_counts
            )
        return user_bias.astype(self.dtype_), item_bias.astype(self.dtype_)

    def _losses(self, train: RatingsDataset) -> tuple[float, float, float]:
        residual = train.ratings - self._raw_predict(train.user_codes, train.item_codes)
        reconstruction = 0.5 * sum_squares(residual)
        regularization = 0.0
        if self.user_bias_ is not None:
            regularization = (
                0.5 * self.params.reg * (sum_squares(self.user_bias_) + sum_squares(self.item_bias_))
            )
        return reconstruction, regularization, reconstruction + regularization

    # --- one person -------------------------------------------------------------------------------------

    def fold_in_user(self, item_codes: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, float]:
        """The least-squares user vector over the whole row, unrated cells counting as residual 0 (the
        model's own objective): p = (QᵀQ)⁻¹ Σ_rated r̃_i q_i, after the ridge user bias."""
        residual, bias = self._residuals(item_codes, ratings)
        return self._inverse_gram() @ (self.item_factors_[item_codes].astype(np.float64).T @ residual), bias

    def attribute(
        self, rated: np.ndarray, ratings: np.ndarray, target: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """q_i·p = Σ_j r̃_j · q_iᵀ (QᵀQ)⁻¹ q_j: one term per rated item j."""
        residual, _ = self._residuals(rated, ratings)
        pull = target @ self._inverse_gram() @ self.item_factors_[rated].astype(np.float64).T
        return by_evidence(pull * residual[None, :], residual)

    def _residuals(self, codes: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, float]:
        """(r − μ − b_u − b_i on the rated items, b_u), b_u fitted first as the model does: the ridge user
        bias Σ (r − μ − b_i) / (n + λ)."""
        residual = ratings - self.global_mean_
        if self.item_bias_ is None:
            return residual, 0.0
        residual = residual - self.item_bias_[codes]
        bias = float(residual.sum() / (len(codes) + self.params.reg))
        return residual - bias, bias

    def _inverse_gram(self) -> np.ndarray:
        """(QᵀQ)⁻¹, slightly ridged; cached with the factors it belongs to."""
        cached = getattr(self, "_inverse_gram_cache", None)
        if cached is None or cached[0] is not self.item_factors_:
            items = self.item_factors_.astype(np.float64)
            gram = items.T @ items
            cached = (self.item_factors_, solved(gram + 1e-12 * np.eye(len(gram)), np.eye(len(gram))))
            self._inverse_gram_cache = cached
        return cached[1]


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
