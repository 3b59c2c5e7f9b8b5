"""Ranking models learned from who rated what: weighted ALS (`wals`) and Bayesian personalized ranking (`bpr`).

Both treat every rating as a sign of interest and every unrated item as a weak negative, which is what
top-N lists need: a rating model learns how much people like what they chose to watch, these learn what
they choose. They score items for ranking and do not predict ratings (``kind = "ranking"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from recengine.blas import single_threaded_blas
from recengine.data.dataset import RatingsDataset
from recengine.errors import TrainingDiverged
from recengine.lazy import scipy_sparse as sp
from recengine.models import formulas as maths
from recengine.models.base import DEFAULT_TASTE, Hyperparameters, Recommender, hyper
from recengine.models.kernels import jit, rowsolve
from recengine.models.kernels.implicit import (
    bpr_sample,
    bpr_sgd,
    rated_part,
    rated_part_parallel,
    wals_cg_sweep,
    wals_cholesky_sweep,
)
from recengine.models.person import by_evidence, solved

PARALLEL_LOSS_RATINGS = 1_000_000  # from here the full objective is summed on every thread
LOSS_SAMPLE = 5_000  # BPR: triples in the fixed sample on which the objective is reported
WALS_MAX_FACTORS = (
    1024  # with solver='cg' (k-vector steps, no k × k solves); Cholesky stops at rowsolve's cap
)
FOLD_IN_NEGATIVES = 500  # BPR fold-in: unrated items the new user's rated items are compared with
FOLD_IN_RATINGS = 50  # WALS fold-in: fewer ratings each count this many / n times as surely


# --- weighted ALS ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WALSParams(Hyperparameters):
    n_factors: int = hyper(
        64,
        low=1,
        high=WALS_MAX_FACTORS,
        help=f"Length of each user and item vector (k): at most {rowsolve.MAX_FACTORS} with solver='cholesky' "
        f"(exact k × k solves), {WALS_MAX_FACTORS} with solver='cg'.",
    )
    n_epochs: int = hyper(15, low=1, high=200, help="Alternating passes: all users, then all items.")
    reg: float = hyper(50.0, low=0, high=1e5, help="L2 penalty on user and item factors (λ).", log=True)
    weighted_reg: bool = hyper(
        False,
        help="Scale λ by each row's count of rated items, as Spark's ALS does (its regParam is this λ).",
    )
    alpha: float = hyper(
        2.0, low=0, high=1e5, help="Confidence slope: a rated item counts 1 + α·w times an unrated one."
    )
    weighting: str = hyper(
        "rating",
        choices=("binary", "rating"),
        help="What w is: 1 for every rated item (binary) or the rating itself (rating).",
    )
    solver: str = hyper(
        "cg",
        choices=("cg", "cholesky"),
        help="Conjugate gradient (a few warm-started steps per pass; fast) or exact Cholesky solves.",
    )
    cg_steps: int = hyper(3, low=1, high=64, help="Conjugate-gradient steps per row and pass (solver cg).")
    init_scale: float = hyper(
        0.01, low=0, low_open=True, high=1, help="Standard deviation of the random initial factors."
    )
    dtype: str = hyper(
        "float32", choices=("float64", "float32"), help="Precision of the factors; float32 halves memory."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        rowsolve.check_solver_factors(self.n_factors, self.solver, WALS_MAX_FACTORS)


class WALS(Recommender):
    name = "wals"
    factor_copies = (
        3.0  # measured peak of a fit (tests/hardening/test_memory_estimates.py), loss kept in the sweep
    )
    fit_bytes_per_rating = 32.0
    label = "Weighted ALS (implicit feedback)"
    description = (
        "Learns what people choose to rate, counting every unrated film as a weak 'no': "
        "the model that ranks best here (Hu, Koren and Volinsky 2008)."
    )
    formulas = maths.WALS
    kind = "ranking"
    Params = WALSParams
    # chosen with the default list on validation users: at 0.98 its Recall@20 on MovieLens 100k would fall
    # from 0.96x tuned EASE's to 0.93x (the target is 0.95x)
    default_taste = DEFAULT_TASTE
    state_names = ("user_factors_", "item_factors_")
    divergence_hint = "Raise the regularization (reg) or lower alpha."

    def _initialize(self, train: RatingsDataset) -> None:
        k = self.params.n_factors
        scale = self.params.init_scale
        self.user_factors_ = self.rng_.normal(0, scale, (train.n_users, k)).astype(self.dtype_)
        self.item_factors_ = self.rng_.normal(0, scale, (train.n_items, k)).astype(self.dtype_)
        self._by_user = self.confidence_matrix(train)
        self._by_item = self._by_user.T.tocsr()
        self._by_item.sort_indices()
        solver = self.params.solver
        self.compile_seconds_ = jit.ready(f"wals_{solver}", self.dtype_, partial(_warm_wals, solver))

    def confidence_matrix(self, train: RatingsDataset) -> sp.csr_matrix:
        """Users × items CSR matrix of confidences c_ui = 1 + α·w_ui at the rated pairs (it shares the
        data set's index arrays: only the confidences are new)."""
        ratings = train.csr
        return sp.csr_matrix(
            (self.confidence(ratings.data), ratings.indices, ratings.indptr), shape=ratings.shape
        )

    def confidence(self, ratings: np.ndarray) -> np.ndarray:
        """c = 1 + α·w for rated items, w = 1 (binary) or the rating (rating)."""
        if self.params.weighting == "binary":
            return np.full(len(ratings), 1.0 + self.params.alpha, dtype=self.dtype_)
        return (1.0 + self.params.alpha * np.asarray(ratings, dtype=np.float64)).astype(self.dtype_)

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        cg = self.params.solver == "cg"
        rated_loss = np.empty(self.n_items_ if cg else 0)
        try:
            with single_threaded_blas():  # only k×k Gram products: threads cost more than they save
                item_gram = self.__dict__.pop("_item_gram", None)  # the last epoch's objective made it
                if item_gram is None:
                    item_gram = self._gram(self.item_factors_)
                self._sweep(self._by_user, self.user_factors_, self.item_factors_, item_gram, np.empty(0))
                user_gram = self._gram(self.user_factors_)
                self._sweep(self._by_item, self.item_factors_, self.user_factors_, user_gram, rated_loss)
        except (np.linalg.LinAlgError, SystemError) as error:  # numba re-raises LAPACK's as SystemError
            raise TrainingDiverged(
                epoch,
                "a row's k × k system is singular (the Cholesky solve failed: with reg 0 there may be more "
                "factors than the data can determine)",
                "Raise reg above 0, use fewer factors (n_factors) or solver='cg'.",
            ) from error
        info: dict = {"extra": {"compile_seconds": self.compile_seconds_}} if epoch == 1 else {}
        if cg:  # the sweep measured the rated pairs' part; the Gram matrices give the rest
            with single_threaded_blas(), np.errstate(over="ignore", invalid="ignore"):
                self._item_gram = self._gram(self.item_factors_)
                grams = (user_gram, self._item_gram)
                info["train_metrics"] = (
                    *self._objective(float(rated_loss.sum()), grams, self._by_user),
                    None,
                )
        return info

    def _gram(self, factors: np.ndarray) -> np.ndarray:
        """FᵀF in float64."""
        wide = factors.astype(np.float64)
        return wide.T @ wide

    def _sweep(
        self,
        matrix: sp.csr_matrix,
        rows: np.ndarray,
        others: np.ndarray,
        gram: np.ndarray,
        rated_loss: np.ndarray,
    ) -> None:
        """Update ``rows`` given ``others`` (whose Gram matrix is ``gram``); a CG sweep writes each row's rated
        part of the objective into ``rated_loss`` when it is as long as ``rows``."""
        reg = self.penalty(np.diff(matrix.indptr))
        if self.params.solver == "cg":
            with jit.parallel_section():
                wals_cg_sweep(
                    matrix.indptr, matrix.indices, matrix.data, rows, others, gram.astype(self.dtype_),
                    reg.astype(self.dtype_), self.params.cg_steps, rated_loss,
                )  # fmt: skip
        else:  # each parallel row calls LAPACK, on the single BLAS thread `_run_epoch` asks for
            with jit.parallel_section():
                wals_cholesky_sweep(matrix.indptr, matrix.indices, matrix.data, rows, others, gram, reg)

    def _losses(self, train: RatingsDataset) -> tuple[float, float, float]:
        """(weighted squared error over all user-item pairs, penalty, total) of the stated objective.

        Σ_all c (p − s)² = Σ_all s² + Σ_rated [c (1 − s)² − s²], and Σ_all s² = ⟨XᵀX, YᵀY⟩, so the
        unrated pairs never need to be enumerated.
        """
        users, items = self.user_factors_, self.item_factors_
        matrix = getattr(self, "_by_user", None)
        if matrix is None:
            matrix = self.confidence_matrix(train)
        if matrix.nnz >= PARALLEL_LOSS_RATINGS:
            with jit.parallel_section():
                rated = rated_part_parallel(matrix.indptr, matrix.indices, matrix.data, users, items)
        else:
            rated = rated_part(matrix.indptr, matrix.indices, matrix.data, users, items)
        with single_threaded_blas():
            grams = (self._gram(users), self._gram(items))
        return self._objective(float(rated), grams, matrix)

    def _objective(
        self, rated: float, grams: tuple[np.ndarray, np.ndarray], matrix: sp.csr_matrix
    ) -> tuple[float, float, float]:
        """(reconstruction, regularization, total) from the rated pairs' part Σ_rated [c (1 − s)² − s²], the
        Gram matrices XᵀX and YᵀY and the users × items confidences (for the counts of weighted_reg)."""
        reconstruction = 0.5 * (float(np.sum(grams[0] * grams[1])) + rated)
        if self.params.weighted_reg:
            counts = (
                np.diff(matrix.indptr),
                np.bincount(matrix.indices, minlength=self.item_factors_.shape[0]),
            )
            regularization = 0.5 * sum(
                float(self.penalty(n) @ np.einsum("ij,ij->i", f, f, dtype=np.float64))
                for n, f in zip(counts, (self.user_factors_, self.item_factors_), strict=True)
            )
        else:
            regularization = 0.5 * self.params.reg * float(np.trace(grams[0]) + np.trace(grams[1]))
        return reconstruction, regularization, reconstruction + regularization

    def penalty(self, n_rated: np.ndarray | int) -> np.ndarray:
        """λ for rows with ``n_rated`` rated items: λ, or λ·n with ``weighted_reg``."""
        n_rated = np.asarray(n_rated, dtype=np.float64)
        return self.params.reg * (n_rated if self.params.weighted_reg else np.ones_like(n_rated))

    fold_in_method = "the exact weighted least-squares solve, the films held fixed"

    def fold_in_user(self, item_codes: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, float]:
        """The exact user vector for new ratings, items held fixed:
        x = (YᵀY + λ_u I + Σ_i (c_i − 1) y_i y_iᵀ)⁻¹ Σ_i c_i y_i, λ_u = `penalty` (n_u = the rated items), c_i
        the `foldin_confidence` (the training confidence for a person with `FOLD_IN_RATINGS` ratings or more)."""
        matrix, items, confidence = self._user_system(item_codes, ratings)
        return _solve_spd(matrix, items.T @ confidence), 0.0

    def attribute(
        self, rated: np.ndarray, ratings: np.ndarray, target: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Hu, Koren and Volinsky, section 5: the user's x = A⁻¹ Σ_j c_j y_j, so the score of item i splits
        exactly into one term per rated item j, s_i = Σ_j c_j · y_iᵀ A⁻¹ y_j."""
        matrix, source, confidence = self._user_system(rated, ratings)
        parts = (target @ solved(matrix, source.T)) * confidence[None, :]
        return by_evidence(parts, confidence)

    def _user_system(
        self, item_codes: np.ndarray, ratings: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(A, the rated items' factors y_j, their confidences c_j) of one user's weighted least squares,
        A = YᵀY + λ_u I + Σ_j (c_j − 1) y_j y_jᵀ."""
        items = self.item_factors_[np.asarray(item_codes, dtype=np.int64)].astype(np.float64)
        confidence = self.foldin_confidence(ratings)
        matrix = self._item_gram() + self.penalty(len(items)) * np.eye(items.shape[1])
        matrix += (items * (confidence - 1.0)[:, None]).T @ items
        return matrix, items, confidence

    def foldin_confidence(self, ratings: np.ndarray) -> np.ndarray:
        """c_j = 1 + s·α·w_j of a folded-in person's n ratings, s = max(1, `FOLD_IN_RATINGS` / n): against
        every unrated film (YᵀY) ten ratings at the training confidence barely move the vector from the average
        person's, so a person with few ratings counts each one as surely as a typical user's fifty (measured on
        held-out people with ten ratings, benchmarks/results/newuser.md: Recall@20 +2-3 %)."""
        scale = max(1.0, FOLD_IN_RATINGS / max(len(ratings), 1))
        return 1.0 + scale * (self.confidence(ratings).astype(np.float64) - 1.0)

    def _item_gram(self) -> np.ndarray:
        cached = getattr(self, "_gram_cache", None)
        if cached is None or cached[0] is not self.item_factors_:
            items = self.item_factors_.astype(np.float64)
            cached = (self.item_factors_, items.T @ items)
            self._gram_cache = cached
        return cached[1]


def _warm_wals(solver: str, dtype: np.dtype) -> None:
    """First calls of the wals kernels on a 1 × 1 problem (compiles them, or loads them from the cache)."""
    indptr, indices = np.array([0, 1], np.int32), np.array([0], np.int32)
    rows, others, reg = np.zeros((1, 2), dtype), np.ones((1, 2), dtype), np.ones(1)
    with jit.parallel_section():
        if solver == "cg":
            gram, loss = np.eye(2, dtype=dtype), np.empty(1)
            wals_cg_sweep(indptr, indices, np.ones(1, dtype), rows, others, gram, reg.astype(dtype), 1, loss)
        else:
            wals_cholesky_sweep(indptr, indices, np.ones(1, dtype), rows, others, np.eye(2), reg)
    rated_part(indptr, indices, np.ones(1, dtype), rows, others)


def _warm_bpr(dtype: np.dtype) -> None:
    """First calls of the BPR kernels on two items (compiles them, or loads them from the cache)."""
    indptr, indices = np.array([0, 1], np.int32), np.array([0], np.int32)
    users, positives, negatives = bpr_sample(indptr, indices, np.zeros(1, np.int64), 2, 1, 0)
    factors = np.zeros((2, 2), dtype)
    bpr_sgd(users, positives, negatives, factors[:1].copy(), factors, np.zeros(2, dtype), 0.1, 0.0, 0.0)


def _solve_spd(matrix: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Solve a symmetric positive-definite system by Cholesky (a least-squares fallback when singular)."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    try:
        return cho_solve(cho_factor(matrix, check_finite=False), target, check_finite=False)
    except LinAlgError:
        return np.linalg.lstsq(matrix, target, rcond=None)[0]


# --- BPR ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BPRParams(Hyperparameters):
    n_factors: int = hyper(64, low=1, high=1024, help="Length of each user and item vector (k).")
    n_epochs: int = hyper(40, low=1, high=1000, help="Passes; each samples as many triples as ratings.")
    lr: float = hyper(0.05, low=0, low_open=True, high=10, help="SGD step size.", log=True)
    reg: float = hyper(0.02, low=0, high=100, help="L2 penalty on user and item factors (λ).", log=True)
    reg_bias: float = hyper(0.01, low=0, high=100, help="L2 penalty on item biases (λ_b).", log=True)
    init_scale: float = hyper(
        0.1, low=0, low_open=True, high=1, help="Standard deviation of the random initial factors."
    )
    dtype: str = hyper(
        "float32", choices=("float64", "float32"), help="Precision of the factors; float32 halves memory."
    )


class BPR(Recommender):
    name = "bpr"
    factor_copies = 3.0  # measured peak of a fit (tests/hardening/test_memory_estimates.py)
    fit_bytes_per_rating = 4.0
    label = "BPR (Bayesian personalized ranking)"
    description = (
        "Learns to score a film the user rated above one they did not, from sampled pairs "
        "(Rendle et al. 2009)."
    )
    formulas = maths.BPR
    kind = "ranking"
    Params = BPRParams
    state_names = ("user_factors_", "item_factors_", "item_bias_")
    divergence_hint = "Lower the learning rate (lr) or raise the regularization (reg)."

    def _initialize(self, train: RatingsDataset) -> None:
        k, scale = self.params.n_factors, self.params.init_scale
        self.user_factors_ = self.rng_.normal(0, scale, (train.n_users, k)).astype(self.dtype_)
        self.item_factors_ = self.rng_.normal(0, scale, (train.n_items, k)).astype(self.dtype_)
        self.item_bias_ = np.zeros(train.n_items, dtype=self.dtype_)
        csr = train.csr
        self._pattern = (csr.indptr, csr.indices, np.repeat(np.arange(train.n_users), np.diff(csr.indptr)))
        self.compile_seconds_ = jit.ready("bpr", self.dtype_, _warm_bpr)
        self._loss_triples = self._sample(min(LOSS_SAMPLE, train.n_ratings))

    def _sample(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        indptr, indices, users = self._pattern
        seed = int(self.rng_.integers(0, 2**31 - 1))
        return bpr_sample(indptr, indices, users, self.n_items_, count, seed)

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        users, positives, negatives = self._sample(train.n_ratings)
        p = self.params
        mean_loss = bpr_sgd(
            users,
            positives,
            negatives,
            self.user_factors_,
            self.item_factors_,
            self.item_bias_,
            p.lr,
            p.reg,
            p.reg_bias,
        )
        extra = {"sgd_mean_log_loss": float(mean_loss)}
        return {"extra": extra | ({"compile_seconds": self.compile_seconds_} if epoch == 1 else {})}

    def scores_for(self, user_vector: np.ndarray, user_bias: float = 0.0) -> np.ndarray:
        """p_u·q_i + b_i for every item (the item bias is part of the ranking score)."""
        return super().scores_for(user_vector) + self.item_bias_.astype(np.float64)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """`scores_for` of many known users at once, one row each."""
        factors = self.user_factors_[np.asarray(users, dtype=np.int64)]
        return (factors @ self.item_factors_.T).astype(np.float64) + self.item_bias_.astype(np.float64)

    fold_in_method = "its pairwise ranking objective solved for you, the films held fixed"

    def fold_in_user(self, item_codes: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, float]:
        """The user vector that minimizes this user's share of the objective with items fixed:
        mean_j Σ_i −ln σ(s_i − s_j) + ½ λ |S| ‖p‖², s = Q p + b, i over the rated items S and j over up
        to `FOLD_IN_NEGATIVES` unrated items (a fixed random sample), by damped Newton steps."""
        rated = np.unique(np.asarray(item_codes, dtype=np.int64))
        unrated = np.setdiff1d(np.arange(self.n_items_), rated)
        if len(unrated) > FOLD_IN_NEGATIVES:
            unrated = np.random.default_rng(0).choice(unrated, FOLD_IN_NEGATIVES, replace=False)
        factors = self.item_factors_.astype(np.float64)
        bias = self.item_bias_.astype(np.float64)
        problem = _PairwiseFoldIn(factors[rated], bias[rated], factors[unrated], bias[unrated])
        return problem.solve(max(self.params.reg, 1e-6) * len(rated)), 0.0

    def _losses(self, train: RatingsDataset) -> tuple[float, float, float]:
        """The objective per sampled triple, estimated on a fixed sample, times the triples per epoch."""
        users, positives, negatives = self._loss_triples
        if not len(users):
            return 0.0, 0.0, 0.0
        log_loss, penalty = bpr_objective_terms(
            self.user_factors_,
            self.item_factors_,
            self.item_bias_,
            users,
            positives,
            negatives,
            self.params.reg,
            self.params.reg_bias,
        )
        scale = train.n_ratings / len(users)
        return log_loss * scale, penalty * scale, (log_loss + penalty) * scale


class _PairwiseFoldIn:
    """One user's BPR problem with the items fixed: rated (q_i, b_i) against unrated (q_j, b_j)."""

    def __init__(self, rated: np.ndarray, rated_bias: np.ndarray, other: np.ndarray, other_bias: np.ndarray):
        self.rated, self.rated_bias, self.other, self.other_bias = rated, rated_bias, other, other_bias

    def margins(self, vector: np.ndarray) -> np.ndarray:
        return (self.rated @ vector + self.rated_bias)[:, None] - (self.other @ vector + self.other_bias)[
            None, :
        ]

    def objective(self, vector: np.ndarray, reg: float) -> float:
        """(1/m) Σ_i Σ_j −ln σ(s_i − s_j) + ½ reg ‖p‖², m unrated items."""
        losses = np.logaddexp(0.0, -self.margins(vector))
        return float(losses.sum()) / max(self.other.shape[0], 1) + 0.5 * reg * float(vector @ vector)

    def solve(self, reg: float, steps: int = 30) -> np.ndarray:
        vector = np.zeros(self.rated.shape[1])
        current = self.objective(vector, reg)
        scale = 1.0 / max(self.other.shape[0], 1)  # the objective averages over the unrated items
        for _ in range(steps):
            x = self.margins(vector)
            slope = -np.exp(-np.logaddexp(0.0, x))  # d(−ln σ(x))/dx
            curve = np.exp(-np.logaddexp(0.0, x) - np.logaddexp(0.0, -x))  # σ(x) σ(−x)
            gradient = scale * (self.rated.T @ slope.sum(1) - self.other.T @ slope.sum(0)) + reg * vector
            cross = self.rated.T @ curve @ self.other
            hessian = (self.rated.T * curve.sum(1)) @ self.rated + (self.other.T * curve.sum(0)) @ self.other
            hessian = scale * (hessian - cross - cross.T) + reg * np.eye(len(vector))
            step = solved(hessian, gradient)
            size = 1.0
            while size > 1e-4:
                candidate = vector - size * step
                value = self.objective(candidate, reg)
                if value <= current:
                    break
                size /= 2
            else:
                return vector
            vector, current = candidate, value
            if size * np.linalg.norm(step) < 1e-7 * (1.0 + np.linalg.norm(vector)):
                break
        return vector


def _triple_parts(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    users: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    p = user_factors[users].astype(np.float64)
    qi = item_factors[positives].astype(np.float64)
    qj = item_factors[negatives].astype(np.float64)
    x = np.einsum("ij,ij->i", p, qi - qj) + item_bias[positives] - item_bias[negatives]
    return p, qi, qj, x


def bpr_objective_terms(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    users: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
    reg: float,
    reg_bias: float,
) -> tuple[float, float]:
    """(Σ −ln σ(x_uij), Σ per-triple penalty) over the given triples."""
    p, qi, qj, x = _triple_parts(user_factors, item_factors, item_bias, users, positives, negatives)
    log_loss = float(np.sum(np.logaddexp(0.0, -x)))
    bias = item_bias.astype(np.float64)
    penalty = 0.5 * reg * float(np.sum(p * p) + np.sum(qi * qi) + np.sum(qj * qj))
    penalty += 0.5 * reg_bias * float(np.sum(bias[positives] ** 2) + np.sum(bias[negatives] ** 2))
    return log_loss, penalty


def bpr_gradients(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    users: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
    reg: float,
    reg_bias: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of the summed BPR objective over the given triples w.r.t. (P, Q, b); what `bpr_sgd`
    applies one triple at a time."""
    p, qi, qj, x = _triple_parts(user_factors, item_factors, item_bias, users, positives, negatives)
    weight = -np.exp(-np.logaddexp(0.0, x))  # d(−ln σ(x))/dx = −σ(−x)
    grad_p = np.zeros(user_factors.shape)
    grad_q = np.zeros(item_factors.shape)
    grad_b = np.zeros(item_bias.shape)
    np.add.at(grad_p, users, weight[:, None] * (qi - qj) + reg * p)
    np.add.at(grad_q, positives, weight[:, None] * p + reg * qi)
    np.add.at(grad_q, negatives, -weight[:, None] * p + reg * qj)
    bias = item_bias.astype(np.float64)
    np.add.at(grad_b, positives, weight + reg_bias * bias[positives])
    np.add.at(grad_b, negatives, -weight + reg_bias * bias[negatives])
    return grad_p, grad_q, grad_b
