"""`als`: alternating least squares on the biased matrix-factorization objective.

With the items fixed, the objective splits into one ridge regression per user; with the users fixed, one per
item. Each alternation solves all of them exactly, so the total loss never increases. Biases are solved
jointly with the factors by augmenting the vectors: the user side solves for [p_u, b_u] against [q_i, 1] and
targets r − μ − b_i, the item side for [q_i, b_i] against [p_u, 1] and targets r − μ − b_u. The solves run
in a compiled kernel, parallel over rows (`rowsolve`).

Defaults (32 factors, weighted λ 0.13, 8 alternations) were chosen on validation splits carved from the
MovieLens 100k u1..u3 training folds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recengine.dataset import RatingsDataset
from recengine.lazy import scipy_sparse as sp
from recengine.models import jit, register, rowsolve
from recengine.models.base import Hyperparameters, hyper
from recengine.models.objective import BiasedMF, biases_field, init_std_field, n_factors_field


@dataclass(frozen=True)
class ALSParams(Hyperparameters):
    n_factors: int = n_factors_field(32, high=rowsolve.MAX_FACTORS)
    n_epochs: int = hyper(8, low=1, high=1000, help="Alternations: each solves every user, then every item.")
    reg: float = hyper(
        0.13,
        low=0,
        low_open=True,
        high=1000,
        log=True,
        help="L2 penalty λ on factors and biases (with weighted_reg, per rating of the row).",
    )
    weighted_reg: bool = hyper(
        True,
        help="Scale λ by each row's rating count (ALS-WR, Zhou et al. 2008): busy users and popular items "
        "are held back as much per rating as rare ones.",
    )
    biases: bool = biases_field()
    init_std: float = init_std_field(0.1)


@register
class ALS(BiasedMF):
    name = "als"
    label = "ALS (alternating least squares)"
    description = (
        "Alternating least squares: fix the items and solve a small ridge regression per user, then fix the "
        "users and solve one per item. Every step is exact, so the loss falls every epoch without a "
        "learning rate; the weighted-λ option (ALS-WR) scales the penalty by each row's rating count."
    )
    Params = ALSParams
    divergence_hint = "Raise the regularization (reg) or use float64."

    def _initialize(self, train: RatingsDataset) -> None:
        super()._initialize(train)
        self.compile_seconds_ = jit.ready("als_solve_rows", self.dtype_, rowsolve.warm_up)

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        self.user_factors_, self.user_bias_ = self._solve_side(
            train.csr, self.item_factors_, self.item_bias_, self.user_weight_
        )
        self.item_factors_, self.item_bias_ = self._solve_side(
            train.csc, self.user_factors_, self.user_bias_, self.item_weight_
        )
        return {"extra": {"compile_seconds": self.compile_seconds_}} if epoch == 1 else {}

    def _solve_side(
        self,
        matrix: sp.csr_matrix | sp.csc_matrix,
        other_factors: np.ndarray,
        other_bias: np.ndarray | None,
        weight: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """New (factors, bias) of one side, each row solved exactly with the other side fixed.

        Rows without ratings get zeros, their optimum.
        """
        offsets = np.full(len(other_factors), self.global_mean_, dtype=self.dtype_)
        features = other_factors
        if other_bias is not None:
            offsets += other_bias
            features = np.hstack([other_factors, np.ones((len(other_factors), 1), self.dtype_)])
        solution = np.zeros((len(weight), features.shape[1]), self.dtype_)
        penalties = (self.params.reg * weight).astype(self.dtype_)
        rowsolve.ridge_solve(
            matrix.indptr, matrix.indices, matrix.data, offsets, features, penalties, solution
        )
        if other_bias is None:
            return solution, None
        return np.ascontiguousarray(solution[:, :-1]), solution[:, -1].copy()
