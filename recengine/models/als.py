"""`als`: alternating least squares on the biased matrix-factorization objective.

With the items fixed, the objective splits into one ridge regression per user; with the users fixed, one per
item. Each alternation solves all of them exactly, so the total loss never increases. Biases are solved
jointly with the factors by augmenting the vectors: the user side solves for [p_u, b_u] against [q_i, 1] and
targets r − μ − b_i, the item side for [q_i, b_i] against [p_u, 1] and targets r − μ − b_u. The solves run
in a compiled kernel, parallel over rows: exact Cholesky solves (`rowsolve`, up to 256 factors), or with
``solver="cg"`` a few conjugate-gradient steps per row, warm-started from the last alternation's vectors and
matrix-free (each step is one pass over the row's ratings, no k × k matrix), which is what makes hundreds of
factors affordable.

Defaults (32 factors, weighted λ 0.13, 8 alternations) were chosen on validation splits carved from the
MovieLens 100k u1..u3 training folds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.lazy import scipy_sparse as sp
from recengine.models import formulas as maths
from recengine.models.base import Hyperparameters, hyper
from recengine.models.kernels import jit, rowsolve
from recengine.models.kernels.jit import kernel, prange
from recengine.models.objective import BiasedMF, biases_field, init_std_field

MAX_FACTORS = 1000  # with solver='cg'; Cholesky stops at rowsolve's cap


@dataclass(frozen=True)
class ALSParams(Hyperparameters):
    n_factors: int = hyper(
        32,
        low=1,
        high=MAX_FACTORS,
        help=f"Number of latent factors (k) per user and item: at most {rowsolve.MAX_FACTORS} with "
        f"solver='cholesky' (exact k × k solves), {MAX_FACTORS} with solver='cg'.",
    )
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
    solver: str = hyper(
        "cholesky",
        choices=("cholesky", "cg"),
        help=f"Exact Cholesky solves (up to {rowsolve.MAX_FACTORS} factors) or a few warm-started conjugate-"
        f"gradient steps per row and alternation (up to {MAX_FACTORS} factors; fast when k is large).",
    )
    cg_steps: int = hyper(
        3, low=1, high=64, help="Conjugate-gradient steps per row and alternation (solver cg)."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        rowsolve.check_solver_factors(self.n_factors, self.solver, MAX_FACTORS)


class ALS(BiasedMF):
    name = "als"
    factor_copies = 3.0  # measured peak of a fit (tests/hardening/test_memory_estimates.py)
    fit_bytes_per_rating = 16.0
    label = "ALS (alternating least squares)"
    description = (
        "Alternating least squares: fix the items and solve a small ridge regression per user, then fix the "
        "users and solve one per item. Every step is exact, so the loss falls every epoch without a "
        "learning rate; the weighted-λ option (ALS-WR) scales the penalty by each row's rating count."
    )
    Params = ALSParams
    formulas = maths.ALS
    divergence_hint = "Raise the regularization (reg) or use float64."

    def _initialize(self, train: RatingsDataset) -> None:
        super()._initialize(train)
        if self.params.solver == "cg":
            self.compile_seconds_ = jit.ready("als_cg_rows", self.dtype_, _warm_up_cg)
        else:
            self.compile_seconds_ = jit.ready("als_solve_rows", self.dtype_, rowsolve.warm_up)

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        self.user_factors_, self.user_bias_ = self._solve_side(
            train.csr, self.item_factors_, self.item_bias_, self.user_weight_, users=True
        )
        self.item_factors_, self.item_bias_ = self._solve_side(
            train.csc, self.user_factors_, self.user_bias_, self.item_weight_, users=False
        )
        return {"extra": {"compile_seconds": self.compile_seconds_}} if epoch == 1 else {}

    def _solve_side(
        self,
        matrix: sp.csr_matrix | sp.csc_matrix,
        other_factors: np.ndarray,
        other_bias: np.ndarray | None,
        weight: np.ndarray,
        *,
        users: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """New (factors, bias) of one side, the other side fixed: each row solved exactly, or moved by a few
        conjugate-gradient steps (solver cg).

        Rows without ratings get zeros, their optimum.
        """
        offsets = np.full(len(other_factors), self.global_mean_, dtype=self.dtype_)
        features = other_factors
        if other_bias is not None:
            offsets += other_bias
            features = np.hstack([other_factors, np.ones((len(other_factors), 1), self.dtype_)])
        penalties = (self.params.reg * weight).astype(self.dtype_)
        if self.params.solver == "cg":
            solution = self._current(users)
            with jit.parallel_section():
                cg_rows(
                    matrix.indptr, matrix.indices, matrix.data, offsets, features, penalties,
                    self.params.cg_steps, solution,
                )  # fmt: skip
        else:
            solution = np.zeros((len(weight), features.shape[1]), self.dtype_)
            rowsolve.ridge_solve(
                matrix.indptr, matrix.indices, matrix.data, offsets, features, penalties, solution
            )
        if other_bias is None:
            return solution, None
        return np.ascontiguousarray(solution[:, :-1]), solution[:, -1].copy()

    def _current(self, users: bool) -> np.ndarray:
        """One side's [factors, bias] as they stand: where conjugate gradient starts from."""
        factors, bias = (
            (self.user_factors_, self.user_bias_) if users else (self.item_factors_, self.item_bias_)
        )
        if bias is None:
            return np.array(factors, dtype=self.dtype_)
        return np.hstack([factors, bias[:, None]]).astype(self.dtype_)


@kernel(fastmath=jit.FASTMATH, parallel=True)
def cg_rows(indptr, indices, values, offsets, features, penalties, steps, out):
    """``steps`` conjugate-gradient steps from ``out[u]`` toward the solution x of
    (Σ_{i∈I_u} y_i y_iᵀ + c_u I) x = Σ_{i∈I_u} (v_ui − o_i) y_i for every row u, matrix-free: a product with
    the matrix is one pass over the row's entries, y_i (y_i·p). Rows without entries get zeros, their optimum."""
    d = features.shape[1]
    for row in prange(len(indptr) - 1):
        start, stop = indptr[row], indptr[row + 1]
        x = out[row]
        if start == stop:
            x[:] = 0
            continue
        residual = np.zeros(d, dtype=features.dtype)
        for p in range(start, stop):
            y = features[indices[p]]
            error = values[p] - offsets[indices[p]] - np.dot(y, x)
            residual += error * y
        residual -= penalties[row] * x
        direction = residual.copy()
        size = np.dot(residual, residual)
        product = np.empty(d, dtype=features.dtype)
        for _ in range(steps):
            if size <= 1e-20:
                break
            product[:] = penalties[row] * direction
            for p in range(start, stop):
                y = features[indices[p]]
                product += np.dot(y, direction) * y
            step = size / np.dot(direction, product)
            x += step * direction
            residual -= step * product
            new_size = np.dot(residual, residual)
            direction *= new_size / size
            direction += residual
            size = new_size


def _warm_up_cg(dtype: np.dtype) -> None:
    """The CG kernel's first call for ``dtype`` on a 1 × 1 problem (compiles it, or loads it from the cache)."""
    cg_rows(
        np.array([0, 1], np.int32), np.zeros(1, np.int32), np.ones(1, np.float32), np.zeros(1, dtype),
        np.ones((1, 2), dtype), np.ones(1, dtype), 1, np.zeros((1, 2), dtype),
    )  # fmt: skip
