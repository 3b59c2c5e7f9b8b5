"""The biased matrix-factorization objective shared by `sgd`, `minibatch`, `gd` and `adam`.

    L = ½ Σ_(u,i)∈D e_ui²  +  ½ λ Σ_u w_u (‖p_u‖² + b_u²)  +  ½ λ Σ_i w_i (‖q_i‖² + b_i²)
    e_ui = r_ui − μ − b_u − b_i − p_u·q_i

with w = 1 (the objective of docs/protocols.md) or, with ``weighted_reg``, w = the row's rating count (the penalty
that per-rating SGD in the style of Funk and of Surprise applies). L is a sum over ratings,
L = Σ_ui ℓ_ui with ℓ_ui = ½ e_ui² + ½ λ (w_u/n_u (‖p_u‖² + b_u²) + w_i/n_i (‖q_i‖² + b_i²)), so the gradient
of a batch (`mf_gradient`) is that batch's share of the full gradient, and the batches of an epoch add up
to the full gradient at fixed parameters. Rows without training ratings start and stay at zero, their
optimum.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.lazy import scipy_sparse as sp
from recengine.models.base import Hyperparameters, Recommender, hyper
from recengine.models.kernels.jit import prediction_errors, row_dots

BLOCKS = ("user_factors", "item_factors", "user_bias", "item_bias")


# --- hyperparameter fields the gradient models share ----------------------------------------------------


def n_factors_field(default: int, high: int = 1000) -> Any:
    return hyper(default, low=1, high=high, help="Number of latent factors (k) per user and item.")


def n_epochs_field(default: int, what: str = "Passes over the training ratings.") -> Any:
    return hyper(default, low=1, high=10_000, help=what)


def lr_field(default: float, what: str) -> Any:
    return hyper(default, low=0, low_open=True, high=100, log=True, help=what)


def reg_field(default: float) -> Any:
    return hyper(default, low=0, high=1000, help="L2 penalty λ on factors and biases.")


def weighted_reg_field(default: bool) -> Any:
    return hyper(
        default,
        help="Scale λ by each row's rating count (the penalty per-rating SGD applies) instead of one λ for all.",
    )


def biases_field() -> Any:
    return hyper(True, help="Learn a bias per user and per item besides the global mean.")


def init_std_field(default: float = 0.1) -> Any:
    return hyper(
        default, low=0, low_open=True, high=10, help="Standard deviation of the random initial factors."
    )


def batch_size_field(default: int) -> Any:
    return hyper(default, low=1, high=10_000_000, log=True, help="Ratings per gradient step.")


@dataclass(frozen=True)
class MFParams(Hyperparameters):
    """Hyperparameters every model of the shared objective has, at the defaults they share; a model
    redeclares only the fields whose default or help differ."""

    n_factors: int = n_factors_field(50)
    n_epochs: int = n_epochs_field(20)
    lr: float = lr_field(0.01, "Learning rate (step size).")
    reg: float = reg_field(0.1)
    weighted_reg: bool = weighted_reg_field(True)
    biases: bool = biases_field()
    init_std: float = init_std_field()


# --- batches and the gradient ---------------------------------------------------------------------------


class Groups(NamedTuple):
    """A batch's positions grouped by row (user or item), with the codes on the other side.

    ``order`` sorts the positions by row; ``starts`` opens each row's group; ``partners`` are the other
    side's codes in that order, so ``spread(values, n)`` is the sparse rows × partners matrix of values.
    """

    order: np.ndarray
    starts: np.ndarray
    rows: np.ndarray
    counts: np.ndarray
    partners: np.ndarray

    @classmethod
    def of(cls, codes: np.ndarray, partners: np.ndarray) -> Groups:
        order = np.argsort(codes, kind="stable")
        ordered = codes[order]
        opens = np.empty(len(ordered), dtype=bool)
        opens[:1] = True
        np.not_equal(ordered[1:], ordered[:-1], out=opens[1:])
        starts = np.flatnonzero(opens)
        counts = np.diff(np.append(starts, len(ordered)))
        return cls(order, starts, ordered[starts], counts, partners[order])

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Per-row sums of one value per position."""
        return np.add.reduceat(values[self.order], self.starts)

    def spread(self, values: np.ndarray, n_partners: int) -> sp.csr_matrix:
        """The rows × partners sparse matrix holding one value per position."""
        indptr = np.append(self.starts, len(self.order))
        shape = (len(self.rows), n_partners)
        return sp.csr_matrix((values[self.order], self.partners, indptr), shape=shape, copy=False)


@dataclass(frozen=True)
class Batch:
    """Ratings to take a gradient over, with their positions grouped by user and by item."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    by_user: Groups
    by_item: Groups

    @classmethod
    def of(cls, users: np.ndarray, items: np.ndarray, ratings: np.ndarray, dtype: np.dtype) -> Batch:
        users, items = users.astype(np.int64), items.astype(np.int64)
        ratings = ratings.astype(dtype, copy=False)
        return cls(users, items, ratings, Groups.of(users, items), Groups.of(items, users))

    @classmethod
    def from_data(cls, data: RatingsDataset, dtype: np.dtype, index: np.ndarray | None = None) -> Batch:
        if index is None:
            return cls.of(data.user_codes, data.item_codes, data.ratings, dtype)
        return cls.of(data.user_codes[index], data.item_codes[index], data.ratings[index], dtype)


class Gradient(NamedTuple):
    """The gradient of a batch's share of L, for the rows the batch touches (other rows: zero)."""

    users: np.ndarray
    user_factors: np.ndarray
    user_bias: np.ndarray | None
    items: np.ndarray
    item_factors: np.ndarray
    item_bias: np.ndarray | None
    squared_error: float

    def rows(self, block: str) -> np.ndarray:
        """The rows a block's gradient covers."""
        return self.users if block.startswith("user") else self.items

    def blocks(self) -> dict[str, np.ndarray]:
        named = zip(
            BLOCKS, (self.user_factors, self.item_factors, self.user_bias, self.item_bias), strict=True
        )
        return {name: block for name, block in named if block is not None}


def mf_gradient(model: BiasedMF, batch: Batch) -> Gradient:
    """∇ Σ_(u,i)∈batch ℓ_ui with respect to the model's factors and biases (the analytic gradient).

    With E the sparse matrix of the batch's errors: ∇P = diag(m λ w/n) P − E Q, ∇Q = diag(m λ w/n) Q − Eᵀ P,
    ∇b_u = m λ w/n b_u − Σ_i e_ui, ∇b_i likewise, m counting each row's ratings in the batch.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging fit is reported by the fit loop
        return _mf_gradient(model, batch)


def _mf_gradient(model: BiasedMF, batch: Batch) -> Gradient:
    P, Q = model.user_factors_, model.item_factors_
    error = batch.ratings - (row_dots(P, Q, batch.users, batch.items) + model.global_mean_)
    if model.user_bias_ is not None:
        error -= model.user_bias_[batch.users] + model.item_bias_[batch.items]
    error = error.astype(P.dtype, copy=False)
    by_user, by_item = batch.by_user, batch.by_item
    user_penalty = model.user_penalty_[by_user.rows] * by_user.counts
    item_penalty = model.item_penalty_[by_item.rows] * by_item.counts
    grad_p = user_penalty[:, None] * P[by_user.rows] - by_user.spread(error, len(Q)) @ Q
    grad_q = item_penalty[:, None] * Q[by_item.rows] - by_item.spread(error, len(P)) @ P
    grad_bu = grad_bi = None
    if model.user_bias_ is not None:
        grad_bu = user_penalty * model.user_bias_[by_user.rows] - by_user.sums(error)
        grad_bi = item_penalty * model.item_bias_[by_item.rows] - by_item.sums(error)
    return Gradient(by_user.rows, grad_p, grad_bu, by_item.rows, grad_q, grad_bi, sum_squares(error))


# --- the shared model base ------------------------------------------------------------------------------


class OnePassMetrics(Recommender):
    """Losses and train RMSE from one compiled pass over the ratings; subclasses give `_regularization`."""

    def _regularization(self) -> float:
        raise NotImplementedError

    def _squared_errors(self, data: RatingsDataset) -> tuple[float, float]:
        """(Σ e², Σ e² of the predictions clipped to the scale) over ``data``."""
        empty = np.zeros(0, self.user_factors_.dtype)
        with_bias = self.user_bias_ is not None
        return prediction_errors(
            self.user_factors_, self.item_factors_,
            self.user_bias_ if with_bias else empty, self.item_bias_ if with_bias else empty,
            self.global_mean_, data.user_codes, data.item_codes, data.ratings, self.scale_.low, self.scale_.high,
        )  # fmt: skip

    def _losses(self, train: RatingsDataset) -> tuple[float, float, float]:
        reconstruction = 0.5 * self._squared_errors(train)[0]
        regularization = self._regularization()
        return reconstruction, regularization, reconstruction + regularization

    def _train_metrics(self, train: RatingsDataset) -> tuple[float, float, float, float | None]:
        squared, squared_clipped = self._squared_errors(train)
        regularization = self._regularization()
        reconstruction = 0.5 * squared
        rmse = float(np.sqrt(squared_clipped / train.n_ratings))
        return reconstruction, regularization, reconstruction + regularization, rmse


class BiasedMF(OnePassMetrics):
    """Base of the models that minimize the objective above (`formulas.BIASED_MF`): initialization,
    penalties, losses."""

    def _initialize(self, train: RatingsDataset) -> None:
        p = self.params
        user_counts, item_counts = train.user_counts(), train.item_counts()
        self.user_factors_ = random_factors(self.rng_, user_counts, p.n_factors, p.init_std, self.dtype_)
        self.item_factors_ = random_factors(self.rng_, item_counts, p.n_factors, p.init_std, self.dtype_)
        self.user_bias_ = np.zeros(train.n_users, self.dtype_) if p.biases else None
        self.item_bias_ = np.zeros(train.n_items, self.dtype_) if p.biases else None
        self._prepare_losses(train)

    def _prepare_losses(self, train: RatingsDataset) -> None:
        """Each row's penalty weight and per-rating penalty, from its rating count."""
        power, reg = self._reg_power(), self.params.reg
        self.user_weight_, self.user_penalty_ = penalties(train.user_counts(), reg, power, self.dtype_)
        self.item_weight_, self.item_penalty_ = penalties(train.item_counts(), reg, power, self.dtype_)

    def _reg_power(self) -> float:
        """The exponent a of each row's penalty weight w = n^a: 1 with ``weighted_reg``, else 0."""
        return 1.0 if self.params.weighted_reg else 0.0

    def _regularization(self) -> float:
        return (
            0.5
            * self.params.reg
            * (
                weighted_norms(self.user_weight_, self.user_factors_, self.user_bias_)
                + weighted_norms(self.item_weight_, self.item_factors_, self.item_bias_)
            )
        )

    def _gradient(self, batch: Batch) -> Gradient:
        return mf_gradient(self, batch)

    def _shuffled_batches(self, train: RatingsDataset, batch_size: int) -> Iterator[Batch]:
        """The epoch's ratings in a new random order, ``batch_size`` at a time."""
        order = self.rng_.permutation(train.n_ratings)
        for start in range(0, train.n_ratings, batch_size):
            yield Batch.from_data(train, self.dtype_, order[start : start + batch_size])

    def _apply(self, gradient: Gradient, steps: dict[str, np.ndarray]) -> None:
        """Subtract ``steps`` (one array per block, shaped like the gradient's) from the touched rows.

        A diverging run may overflow here: the inf it leaves is what the epoch's divergence check reports
        (as TrainingDiverged), so NumPy's overflow warning would only repeat it."""
        with np.errstate(over="ignore", invalid="ignore"):
            for name, step in steps.items():
                getattr(self, name + "_")[gradient.rows(name)] -= step

    def _blocks(self) -> dict[str, np.ndarray]:
        """The learned arrays by block name (biases only when learned)."""
        arrays = {name: getattr(self, name + "_") for name in BLOCKS}
        return {name: array for name, array in arrays.items() if array is not None}


def random_factors(
    rng: np.random.Generator, counts: np.ndarray, n_factors: int, std: float, dtype: np.dtype
) -> np.ndarray:
    """N(0, std²) factors; rows without training ratings are zero (their optimum)."""
    factors = rng.normal(0.0, std, (len(counts), n_factors)).astype(dtype)
    factors[counts == 0] = 0
    return factors


def penalties(counts: np.ndarray, reg: float, power: float, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Per-row weights w = n^power and the penalty each rating of a row carries, λ w / n (0 for empty rows)."""
    weight = np.where(counts > 0, counts.astype(np.float64) ** power, 0.0)
    per_rating = np.divide(reg * weight, counts, out=np.zeros(len(counts)), where=counts > 0)
    return weight, per_rating.astype(dtype)


def weighted_norms(weight: np.ndarray, factors: np.ndarray, bias: np.ndarray | None) -> float:
    """Σ_rows w (‖factors_row‖² + bias_row²)."""
    squares = np.einsum("ij,ij->i", factors, factors, dtype=np.float64)
    if bias is not None:
        squares += np.square(bias, dtype=np.float64)
    return float(np.einsum("i,i->", weight, squares))


def sum_squares(values: np.ndarray) -> float:
    """Σ x² over every entry, in float64.

    NumPy's einsum loops rather than BLAS: on a busy machine, multithreaded BLAS on vectors this size spends
    more time waiting for its threads than computing.
    """
    flat = values.reshape(-1)
    return float(np.einsum("i,i->", flat, flat, dtype=np.float64))


def block_norms(blocks: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: float(np.sqrt(sum_squares(values))) for name, values in blocks.items()}
