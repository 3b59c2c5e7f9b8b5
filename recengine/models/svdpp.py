"""`svdpp`: SVD++ (Koren, KDD 2008): biased MF plus the implicit signal of who rated what.

    r̂_ui = μ + b_u + b_i + (q_i + x_i)·(p_u + y_u),   y_u = |N(u)|^−½ Σ_{j∈N(u)} y_j

N(u) is the set of items u rated in training. Koren's SVD++ has x_i = 0. With ``item_implicit`` the items
get the mirror image, x_i = |R(i)|^−½ Σ_{v∈R(i)} z_v over the users R(i) who rated i (the "flipped" side of
Rendle et al. 2019, "On the difficulty of evaluating baselines"). The objective:

    L = ½ Σ_(u,i) e_ui² + ½ λ Σ_u w_u (‖p_u‖² + b_u²) + ½ λ Σ_i w_i (‖q_i‖² + b_i²)
        + ½ λ_y (Σ_j w_j ‖y_j‖² + Σ_v w_v ‖z_v‖²),          w = n^a for a row with n training ratings

a = ``reg_power``: 1 is the per-rating penalty of Surprise's SVD++, 0.5 is the frequency regularization of
MyMediaLite, 0 one λ for every row.

Training is per-rating SGD in a numba kernel, one user at a time: the user's implicit sum is made once, the
user's ratings (shuffled) update b, p and q, and the y_j of the user's items take one step with the gradient
those ratings add up to: O(k) per rating instead of the O(k |N(u)|) of updating every y_j after every
rating, and to first order in lr the same epoch. With ``item_implicit``, each epoch also makes the mirror
pass, one item at a time, which updates z (and b, p, q once more).

The effective vectors p_u + y_u and q_i + x_i are kept in ``user_factors_`` and ``item_factors_``, so
prediction, scoring and recommendation work as for any factor model; the parts are in
``user_own_factors_`` (p), ``item_own_factors_`` (q, with item_implicit), ``implicit_factors_`` (y)
and ``implicit_user_factors_`` (z).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.lazy import scipy_sparse as sp
from recengine.models import formulas as maths
from recengine.models.base import Hyperparameters, hyper
from recengine.models.kernels import jit
from recengine.models.objective import (
    OnePassMetrics,
    biases_field,
    init_std_field,
    lr_field,
    n_epochs_field,
    n_factors_field,
    penalties,
    random_factors,
    reg_field,
    sum_squares,
    weighted_norms,
)
from recengine.models.person import LinearSystem, evidence, ridge_system
from recengine.models.sgd import DIVERGENCE_HINT, decayed_lr, lr_decay_field


@jit.kernel(nogil=True, fastmath=jit.FASTMATH)
def implicit_pass(
    indptr, partners, ratings, row_order, within, own, partner_own, implicit, partner_offset, use_offset,
    row_bias, partner_bias, mean, lr, row_penalty, partner_penalty, implicit_penalty, biases,
):  # fmt: skip
    """One SGD pass over the rows (users, or items for the mirror pass) in ``row_order``.

    Row r's ratings (positions ``within[indptr[r]:indptr[r+1]]``, partners ``partners[...]``) predict
    μ + b_r + b_c + (own_r + implicit_r)·(partner_own_c + partner_offset_c), implicit_r being
    |N(r)|^−½ Σ_{c∈N(r)} implicit_c; the offsets stay fixed during the pass. Returns the number of rows
    finished (fewer than given: it diverged).
    """
    n_factors = own.shape[1]
    row_sum = np.empty(n_factors, dtype=own.dtype)
    pull = np.empty(n_factors, dtype=own.dtype)
    partner_vector = np.empty(n_factors, dtype=own.dtype)
    for step in range(row_order.shape[0]):
        r = row_order[step]
        start, end = indptr[r], indptr[r + 1]
        if end == start:
            continue
        norm = 1.0 / np.sqrt(end - start)
        row_sum[:] = 0.0
        for s in range(start, end):
            row_sum += implicit[partners[s]]
        row_sum *= norm
        pull[:] = 0.0
        a = own[r]
        for s in range(start, end):
            position = within[s]
            c = partners[position]
            b = partner_own[c]
            if use_offset:
                partner_vector[:] = b + partner_offset[c]
            else:
                partner_vector[:] = b
            dot = 0.0
            for f in range(n_factors):
                dot += partner_vector[f] * (a[f] + row_sum[f])
            error = ratings[position] - mean - row_bias[r] - partner_bias[c] - dot
            if not np.isfinite(error):
                return step
            pen_r = row_penalty[r]
            pen_c = partner_penalty[c]
            if biases:
                row_bias[r] += lr * (error - pen_r * row_bias[r])
                partner_bias[c] += lr * (error - pen_c * partner_bias[c])
            for f in range(n_factors):
                a_f = a[f]
                a[f] = a_f + lr * (error * partner_vector[f] - pen_r * a_f)
                b[f] += lr * (error * (a_f + row_sum[f]) - pen_c * b[f])
                pull[f] += error * partner_vector[f]
        pull *= norm
        for s in range(start, end):
            c = partners[s]
            y = implicit[c]
            pen = implicit_penalty[c]
            for f in range(n_factors):
                y[f] += lr * (pull[f] - pen * y[f])
    return row_order.shape[0]


def _first_call(dtype: np.dtype) -> None:
    indptr, codes, order = np.array([0, 1], np.int64), np.zeros(1, np.int32), np.zeros(1, np.int64)
    vector, matrix = np.zeros(1, dtype), np.zeros((1, 1), dtype)
    zero = dtype.type(0)
    implicit_pass(
        indptr, codes, np.zeros(1, np.float32), order, order, matrix, matrix.copy(), matrix.copy(),
        matrix.copy(), True, vector, vector.copy(), zero, zero, vector, vector, vector, True,
    )  # fmt: skip


def warm_up() -> float:
    """Compile (or load from the disk cache) the SVD++ kernel for float64 and float32; return the seconds."""
    return sum(jit.ready("implicit_pass", np.dtype(d), _first_call) for d in ("float64", "float32"))


@dataclass(frozen=True)
class SVDppParams(Hyperparameters):
    n_factors: int = n_factors_field(50)
    n_epochs: int = n_epochs_field(15)
    lr: float = lr_field(0.007, "Learning rate of each per-rating step.")
    reg: float = reg_field(2.0)
    reg_implicit: float = hyper(
        3.0, low=0, high=1000, help="L2 penalty λ_y on the implicit factors y (and z), weighted like reg."
    )
    reg_power: float = hyper(
        0.5,
        low=0,
        high=1,
        help="A row with n ratings has its penalty weighted by n^reg_power: 1 per rating (Surprise), "
        "0.5 frequency regularization, 0 the same λ for every row.",
    )
    item_implicit: bool = hyper(
        True, help="Also describe each item by the users who rated it (the mirror of SVD++'s user side)."
    )
    biases: bool = biases_field()
    init_std: float = init_std_field(0.1)
    lr_decay: float = lr_decay_field()


class Side(NamedTuple):
    """One side's view of the training ratings (users: CSR; items: CSC) and its penalties."""

    indptr: np.ndarray
    partners: np.ndarray
    ratings: np.ndarray
    counts: np.ndarray
    weight: np.ndarray
    penalty: np.ndarray
    implicit_penalty: np.ndarray
    averaging: sp.csr_matrix  # rows × partners, 1/√n in each row: averaging @ implicit = the implicit sums

    @classmethod
    def of(cls, matrix: sp.csr_matrix | sp.csc_matrix, params: SVDppParams, dtype: np.dtype) -> Side:
        indptr = matrix.indptr.astype(np.int64)
        counts = np.diff(indptr)
        partners = matrix.indices.astype(np.int32)
        weight, penalty = penalties(counts, params.reg, params.reg_power, dtype)
        _, implicit_penalty = penalties(counts, params.reg_implicit, params.reg_power, dtype)
        scale = np.repeat(1 / np.sqrt(np.maximum(counts, 1)), counts).astype(dtype)
        shape = (len(counts), matrix.shape[1] if isinstance(matrix, sp.csr_matrix) else matrix.shape[0])
        averaging = sp.csr_matrix((scale, partners, indptr), shape=shape)
        return cls(
            indptr,
            partners,
            matrix.data.astype(np.float32),
            counts,
            weight,
            penalty,
            implicit_penalty,
            averaging,
        )

    def orders(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A random order of the rows, and of the positions within each row."""
        rows = np.repeat(np.arange(len(self.counts)), self.counts)
        return rng.permutation(len(self.counts)), np.lexsort((rng.random(len(rows)), rows))


class SVDpp(OnePassMetrics):
    name = "svdpp"
    factor_copies = 7.0  # four factor matrices and their steps (measured peak of a fit)
    label = "SVD++ (Koren)"
    description = "Biased MF whose user vectors add up factors of the items each user rated (Koren's SVD++)."
    formulas = maths.SVDPP
    Params = SVDppParams
    divergence_hint = DIVERGENCE_HINT
    state_names = (
        "user_factors_", "item_factors_", "user_bias_", "item_bias_",
        "user_own_factors_", "item_own_factors_", "implicit_factors_", "implicit_user_factors_",
    )  # fmt: skip

    def _initialize(self, train: RatingsDataset) -> None:
        p = self.params
        self.compile_seconds_ = jit.ready("implicit_pass", self.dtype_, _first_call)
        self._users, self._items = Side.of(train.csr, p, self.dtype_), Side.of(train.csc, p, self.dtype_)
        k, std, dtype = p.n_factors, p.init_std, self.dtype_
        self.user_own_factors_ = random_factors(self.rng_, self._users.counts, k, std, dtype)
        own_items = random_factors(self.rng_, self._items.counts, k, std, dtype)
        self.implicit_factors_ = random_factors(self.rng_, self._items.counts, k, std, dtype)
        if p.item_implicit:
            self.item_own_factors_ = own_items
            self.implicit_user_factors_ = random_factors(self.rng_, self._users.counts, k, std, dtype)
        else:  # the item vector is q itself
            self.item_own_factors_ = self.implicit_user_factors_ = None
            self.item_factors_ = own_items
        self.user_bias_ = np.zeros(train.n_users, self.dtype_) if p.biases else None
        self.item_bias_ = np.zeros(train.n_items, self.dtype_) if p.biases else None
        self._update_effective_factors()

    # --- one person -------------------------------------------------------------------------------------

    fold_in_method = "ridge regression with a user bias, on top of the implicit part"

    def _reg_power(self) -> float:
        return float(self.params.reg_power)

    def foldin_system(self, item_codes: np.ndarray, ratings: np.ndarray) -> LinearSystem:
        """The ridge problem for p on top of the implicit part |S|^−½ Σ_{j∈S} y_j of the rated items S."""
        parts = evidence(self, item_codes, ratings, implicit=self.implicit_factors_)
        return ridge_system(parts, self.foldin_penalty(len(item_codes)))

    def attribute(
        self, rated: np.ndarray, ratings: np.ndarray, target: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The biased-MF split plus q_i·y_j / √|S|: the implicit part is owed to having rated j at all."""
        liked, contrast = super().attribute(rated, ratings, target)
        liked += target @ self.implicit_factors_[rated].astype(np.float64).T / np.sqrt(len(rated))
        return liked, contrast

    def _q(self) -> np.ndarray:
        return self.item_factors_ if self.item_own_factors_ is None else self.item_own_factors_

    def _user_offsets(self) -> np.ndarray:
        return self._users.averaging @ self.implicit_factors_

    def _item_offsets(self) -> np.ndarray:
        return self._items.averaging @ self.implicit_user_factors_

    def _update_effective_factors(self) -> None:
        """user_factors_ = p + y_u and item_factors_ = q + x_i: the vectors predictions use."""
        self.user_factors_ = self.user_own_factors_ + self._user_offsets()
        if self.item_own_factors_ is not None:
            self.item_factors_ = self.item_own_factors_ + self._item_offsets()

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        p = self.params
        lr = decayed_lr(p.lr, p.lr_decay, epoch)
        before = {name: block.copy() for name, block in self._gradient_blocks().items()}
        mirrored = self.item_own_factors_ is not None
        users, items = self._users, self._items
        user_bias, item_bias = self._bias_arrays(train)
        offsets = self._item_offsets() if mirrored else self._q()[:0]
        self._pass(
            users,
            self.user_own_factors_,
            self._q(),
            self.implicit_factors_,
            offsets,
            user_bias,
            item_bias,
            lr,
        )
        if mirrored:
            offsets = self._user_offsets()
            self._pass(
                items,
                self._q(),
                self.user_own_factors_,
                self.implicit_user_factors_,
                offsets,
                item_bias,
                user_bias,
                lr,
            )
        self._update_effective_factors()
        after = self._gradient_blocks()
        norms = {name: float(np.sqrt(sum_squares(after[name] - before[name]))) / lr for name in before}
        extra = {"lr": lr} | ({"compile_seconds": self.compile_seconds_} if epoch == 1 else {})
        return {"grad_norms": norms, "extra": extra}

    def _pass(self, side: Side, own, partner_own, implicit, offsets, row_bias, partner_bias, lr) -> None:
        row_order, within = side.orders(self.rng_)
        other = self._items if side is self._users else self._users
        scalar = self.dtype_.type
        implicit_pass(
            side.indptr, side.partners, side.ratings, row_order, within, own, partner_own, implicit,
            offsets, len(offsets) > 0, row_bias, partner_bias, scalar(self.global_mean_), scalar(lr),
            side.penalty, other.penalty, other.implicit_penalty, self.user_bias_ is not None,
        )  # fmt: skip

    def _bias_arrays(self, train: RatingsDataset) -> tuple[np.ndarray, np.ndarray]:
        if self.user_bias_ is None:
            return np.zeros(train.n_users, self.dtype_), np.zeros(train.n_items, self.dtype_)
        return self.user_bias_, self.item_bias_

    def _gradient_blocks(self) -> dict[str, np.ndarray]:
        blocks = {
            "user_factors": self.user_own_factors_,
            "item_factors": self._q(),
            "implicit_factors": self.implicit_factors_,
            "implicit_user_factors": self.implicit_user_factors_,
            "user_bias": self.user_bias_,
            "item_bias": self.item_bias_,
        }
        return {name: block for name, block in blocks.items() if block is not None}

    def _regularization(self) -> float:
        p, users, items = self.params, self._users, self._items
        implicit = weighted_norms(items.weight, self.implicit_factors_, None)
        if self.implicit_user_factors_ is not None:
            implicit += weighted_norms(users.weight, self.implicit_user_factors_, None)
        return 0.5 * (
            p.reg * weighted_norms(users.weight, self.user_own_factors_, self.user_bias_)
            + p.reg * weighted_norms(items.weight, self._q(), self.item_bias_)
            + p.reg_implicit * implicit
        )
