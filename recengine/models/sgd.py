"""`sgd` and `minibatch`: stochastic gradient descent on the shared biased-MF objective (`objective.py`).

`sgd` is Funk's and Koren's per-rating SGD, with the updates Surprise's SVD makes, over ratings shuffled
every epoch, in a compiled numba kernel (per-rating SGD is sequential by nature). `minibatch` takes the same
steps on batches of ratings at once, in NumPy.

Both report as ``grad_norms`` the norm, per block, of the epoch's gradients added up (the parameters' change
over the epoch divided by the learning rate): at a fixed point it is the full gradient's norm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from recengine.dataset import RatingsDataset
from recengine.models import jit, register
from recengine.models.base import hyper
from recengine.models.objective import (
    BiasedMF,
    MFParams,
    batch_size_field,
    biases_field,
    init_std_field,
    lr_field,
    n_epochs_field,
    n_factors_field,
    reg_field,
    sum_squares,
    weighted_reg_field,
)

DIVERGENCE_HINT = (
    "Lower the learning rate (lr), for example by a factor of 10, or turn on lr_decay; "
    "fewer factors or a larger init_std can also help."
)


def lr_decay_field() -> object:
    return hyper(
        1.0,
        low=0,
        low_open=True,
        high=1,
        help="Multiply the learning rate by this after every epoch (1: constant).",
    )


@njit(cache=True, nogil=True, fastmath=jit.FASTMATH)
def sgd_epoch(users, items, ratings, order, P, Q, bu, bi, mean, lr, user_penalty, item_penalty, biases):
    """One pass of per-rating SGD in ``order``; returns how many ratings it took (fewer: it diverged).

    For each rating: e = r − μ − b_u − b_i − p_u·q_i, then b_u += lr (e − λ_u b_u), b_i += lr (e − λ_i b_i),
    p_u += lr (e q_i − λ_u p_u), q_i += lr (e p_u − λ_i q_i), with every update made from the old values and
    λ_u, λ_i the penalty each rating of the row carries.
    """
    n_factors = P.shape[1]
    for step in range(order.shape[0]):
        position = order[step]
        u = users[position]
        i = items[position]
        dot = 0.0
        for f in range(n_factors):
            dot += P[u, f] * Q[i, f]
        error = ratings[position] - mean - bu[u] - bi[i] - dot
        if not np.isfinite(error):
            return step
        pen_u = user_penalty[u]
        pen_i = item_penalty[i]
        if biases:
            bu[u] += lr * (error - pen_u * bu[u])
            bi[i] += lr * (error - pen_i * bi[i])
        p_u = P[u]
        q_i = Q[i]
        for f in range(n_factors):
            p = p_u[f]
            q = q_i[f]
            p_u[f] = p + lr * (error * q - pen_u * p)
            q_i[f] = q + lr * (error * p - pen_i * q)
    return order.shape[0]


def _first_sgd_call(dtype: np.dtype) -> None:
    codes = np.zeros(1, np.int32)
    vector, matrix = np.zeros(1, dtype), np.zeros((1, 1), dtype)
    sgd_epoch(
        codes,
        codes,
        np.zeros(1, np.float32),
        np.zeros(1, np.int64),
        matrix,
        matrix.copy(),
        vector,
        vector.copy(),
        dtype.type(0),
        dtype.type(0),
        vector,
        vector,
        True,
    )


def warm_up() -> float:
    """Compile (or load from the disk cache) the SGD kernel for float64 and float32; return the seconds."""
    return sum(jit.ready("sgd_epoch", np.dtype(d), _first_sgd_call) for d in ("float64", "float32"))


# --- sgd ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SGDParams(MFParams):
    n_factors: int = n_factors_field(100)
    n_epochs: int = n_epochs_field(30)
    lr: float = lr_field(0.015, "Learning rate of each per-rating step.")
    reg: float = reg_field(0.1)
    weighted_reg: bool = weighted_reg_field(True)
    biases: bool = biases_field()
    init_std: float = init_std_field(0.1)
    lr_decay: float = lr_decay_field()


class SteppedMF(BiasedMF):
    """Shared by `sgd` and `minibatch`: the epoch's learning rate and the step-based gradient norms."""

    divergence_hint = DIVERGENCE_HINT

    def _epoch_lr(self, epoch: int) -> float:
        return self.params.lr * self.params.lr_decay ** (epoch - 1)

    def _stepped(self, before: dict[str, np.ndarray], lr: float) -> dict:
        after = self._blocks()
        norms = {n: float(np.sqrt(sum_squares(after[n] - before[n]))) / lr for n in before}
        return {"grad_norms": norms, "extra": {"lr": lr}}


@register
class SGD(SteppedMF):
    name = "sgd"
    label = "SGD (per rating, Funk/Koren)"
    description = (
        "Per-rating stochastic gradient descent over shuffled ratings, as Funk and Surprise's SVD do it."
    )
    Params = SGDParams

    def _initialize(self, train: RatingsDataset) -> None:
        super()._initialize(train)
        self.compile_seconds_ = jit.ready("sgd_epoch", self.dtype_, _first_sgd_call)

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        lr = self._epoch_lr(epoch)
        order = self.rng_.permutation(train.n_ratings)
        before = {n: b.copy() for n, b in self._blocks().items()}
        biases = self.user_bias_ is not None
        user_bias = self.user_bias_ if biases else np.zeros(train.n_users, self.dtype_)
        item_bias = self.item_bias_ if biases else np.zeros(train.n_items, self.dtype_)
        scalar = self.dtype_.type
        sgd_epoch(
            train.user_codes, train.item_codes, train.ratings, order,
            self.user_factors_, self.item_factors_, user_bias, item_bias,
            scalar(self.global_mean_), scalar(lr), self.user_penalty_, self.item_penalty_, biases,
        )  # fmt: skip
        info = self._stepped(before, lr)
        if epoch == 1:
            info["extra"]["compile_seconds"] = self.compile_seconds_
        return info


# --- minibatch ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MinibatchParams(MFParams):
    n_factors: int = n_factors_field(100)
    n_epochs: int = n_epochs_field(30)
    lr: float = lr_field(0.015, "Learning rate: the step per rating's gradient within a batch.")
    reg: float = reg_field(0.1)
    weighted_reg: bool = weighted_reg_field(True)
    biases: bool = biases_field()
    init_std: float = init_std_field(0.1)
    batch_size: int = batch_size_field(1024)
    lr_decay: float = lr_decay_field()


@register
class Minibatch(SteppedMF):
    name = "minibatch"
    label = "Minibatch SGD"
    description = "Stochastic gradient descent on shuffled batches of ratings, each batch's gradient at once."
    Params = MinibatchParams

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        lr = self._epoch_lr(epoch)
        before = {n: b.copy() for n, b in self._blocks().items()}
        for batch in self._shuffled_batches(train, self.params.batch_size):
            gradient = self._gradient(batch)
            if not math.isfinite(gradient.squared_error):
                break  # diverged: the fit loop reports it
            self._apply(gradient, {name: lr * block for name, block in gradient.blocks().items()})
        return self._stepped(before, lr)
