"""`baseline`: the global mean plus user and item biases, the reference row in every table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.models import formulas as maths
from recengine.models.base import DEFAULT_TASTE, Hyperparameters, Recommender, hyper


@dataclass(frozen=True)
class BaselineParams(Hyperparameters):
    n_epochs: int = hyper(10, low=1, high=200, help="Alternating passes over user and item biases.")
    reg_user: float = hyper(15.0, low=0, high=1000, help="L2 penalty on user biases (λ_u).")
    reg_item: float = hyper(10.0, low=0, high=1000, help="L2 penalty on item biases (λ_i).")
    biases: bool = hyper(True, help="Learn user and item biases; off, every prediction is the global mean.")


class Baseline(Recommender):
    name = "baseline"
    default_taste = DEFAULT_TASTE  # no taste factors: the 0.98 of the others was never measured here
    fit_bytes_per_rating = 50.0  # measured: residuals and bias sums per rating
    label = "Baseline (biases only)"
    description = "Global mean plus a bias per user and per item: no taste, just generosity and popularity."
    formulas = maths.BASELINE
    Params = BaselineParams
    divergence_hint = "Raise the penalties (reg_user, reg_item) or use float64."
    fold_in_method = "the ridge user bias"

    def foldin_penalty(self, n_ratings: int) -> float:
        """λ_u = reg_user, as in training."""
        return float(self.params.reg_user)

    def _initialize(self, train: RatingsDataset) -> None:
        self.user_factors_ = np.zeros((train.n_users, 0), dtype=self.dtype_)
        self.item_factors_ = np.zeros((train.n_items, 0), dtype=self.dtype_)
        self.user_bias_ = np.zeros(train.n_users, dtype=self.dtype_)
        self.item_bias_ = np.zeros(train.n_items, dtype=self.dtype_)

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> None:
        if not self.params.biases:
            return
        users, items = train.user_codes, train.item_codes
        centred = train.ratings.astype(np.float64) - self.global_mean_
        user_sums = np.bincount(users, centred - self.item_bias_[items], minlength=train.n_users)
        self.user_bias_ = _ridge_mean(user_sums, train.user_counts(), self.params.reg_user, self.dtype_)
        item_sums = np.bincount(items, centred - self.user_bias_[users], minlength=train.n_items)
        self.item_bias_ = _ridge_mean(item_sums, train.item_counts(), self.params.reg_item, self.dtype_)

    def _losses(self, train: RatingsDataset) -> tuple[float, float, float]:
        residual = train.ratings - self._raw_predict(train.user_codes, train.item_codes)
        reconstruction = 0.5 * float(residual @ residual)
        regularization = 0.5 * (
            self.params.reg_user * float(self.user_bias_ @ self.user_bias_)
            + self.params.reg_item * float(self.item_bias_ @ self.item_bias_)
        )
        return reconstruction, regularization, reconstruction + regularization


def _ridge_mean(sums: np.ndarray, counts: np.ndarray, reg: float, dtype: np.dtype) -> np.ndarray:
    """The ridge solution sum / (λ + n) of each bias; 0 for a row with no ratings (with λ = 0 its bias is
    undetermined, and 0, the smallest solution, keeps predictions at the global mean)."""
    denominator = reg + counts
    out = np.zeros(len(sums), dtype=np.float64)
    return np.divide(sums, denominator, out=out, where=denominator > 0).astype(dtype)
