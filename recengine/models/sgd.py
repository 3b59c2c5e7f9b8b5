"""`sgd` and `minibatch`: stochastic gradient descent on the shared biased-MF objective (`objective.py`).

`sgd` is Funk's and Koren's per-rating SGD, with the updates Surprise's SVD makes, in a compiled numba kernel
(per-rating SGD is sequential by nature). It goes user by user, as Surprise does, with the users in a new
random order every epoch and each user's ratings in a random cyclic order; keeping p_u in registers through
a user's ratings makes an epoch about 1.5 times faster than a shuffle of all ratings, at the same accuracy.
`minibatch` takes the same steps on batches of ratings at once, in NumPy.

Both report as ``grad_norms`` the norm, per block, of the epoch's gradients added up (the parameters' change
over the epoch divided by the learning rate): at a fixed point it is the full gradient's norm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.models import formulas as maths
from recengine.models.base import hyper
from recengine.models.kernels import jit
from recengine.models.objective import (
    BiasedMF,
    MFParams,
    batch_size_field,
    lr_field,
    n_epochs_field,
    n_factors_field,
)
from recengine.training import DURING_EPOCH

DIVERGENCE_HINT = (
    "Lower the learning rate (lr), for example by a factor of 10, or set lr_decay below 1 (0.95, say) so "
    "that the steps shrink every epoch; fewer factors can also help."
)


def decayed_lr(lr: float, decay: float, epoch: int) -> float:
    """The learning rate of ``epoch`` (from 1): lr × decay^(epoch − 1), never below the smallest normal float,
    so a strong decay over many epochs cannot reach 0 (the gradient norms divide by it)."""
    return max(lr * decay ** (epoch - 1), float(np.finfo(np.float64).tiny))


def lr_decay_field() -> object:
    return hyper(
        1.0,
        low=0,
        low_open=True,
        high=1,
        help="Multiply the learning rate by this after every epoch (1: constant).",
    )


_SGD_ARGUMENTS = ("int64[::1]", "int32[::1]", "float32[::1]", "int64[::1]", "int64[::1]", "boolean[::1]")
_SGD_ARGUMENTS += ("F[:, ::1]", "F[:, ::1]", "F[::1]", "F[::1]", "F", "F", "F[::1]", "F[::1]", "boolean")
_SGD_ARGUMENTS += ("float64", "float64")


@jit.kernel(nogil=True, fastmath=jit.FASTMATH, ahead=("Tuple((int64, float64, float64))", _SGD_ARGUMENTS))
def sgd_epoch(
    indptr, items, ratings, user_order, starts, backwards, P, Q, bu, bi, mean, lr, user_penalty, item_penalty,
    biases, low, high,
):  # fmt: skip
    """One pass of per-rating SGD, user by user in ``user_order``; returns (the users finished, fewer when it
    diverged; Σ e²; Σ ê²), e each rating's error before its step and ê that error of the prediction clipped to
    [low, high]: the epoch's loss and train RMSE measured as it goes, at no extra pass over the ratings.

    User u's ratings sit at positions indptr[u]..indptr[u+1] of ``items`` and ``ratings``; the pass takes them
    cyclically from ``starts[u]``, backwards where ``backwards[u]``. For each rating:
    e = r − μ − b_u − b_i − p_u·q_i, then b_u += lr (e − λ_u b_u), b_i += lr (e − λ_i b_i),
    p_u += lr (e q_i − λ_u p_u), q_i += lr (e p_u − λ_i q_i), every update made from the old values, with
    λ_u, λ_i the penalty each rating of the row carries. p_u and b_u stay in registers while u's ratings run.
    """
    n_factors = P.shape[1]
    p = np.empty(n_factors, dtype=P.dtype)
    squared = 0.0
    squared_clipped = 0.0
    for step in range(user_order.shape[0]):
        u = user_order[step]
        begin, end = indptr[u], indptr[u + 1]
        p[:] = P[u]
        b_u = bu[u]
        pen_u = user_penalty[u]
        direction = -1 if backwards[u] else 1
        position = begin + starts[u]
        for _ in range(end - begin):
            i = items[position]
            q_i = Q[i]
            dot = 0.0
            for f in range(n_factors):
                dot += p[f] * q_i[f]
            prediction = mean + b_u + bi[i] + dot
            error = ratings[position] - prediction
            if not np.isfinite(error):
                P[u] = p
                return step, np.inf, np.inf
            squared += error * error
            clipped = ratings[position] - min(max(prediction, low), high)
            squared_clipped += clipped * clipped
            pen_i = item_penalty[i]
            if biases:
                b_u += lr * (error - pen_u * b_u)
                bi[i] += lr * (error - pen_i * bi[i])
            for f in range(n_factors):
                p_f = p[f]
                q_f = q_i[f]
                p[f] = p_f + lr * (error * q_f - pen_u * p_f)
                q_i[f] = q_f + lr * (error * p_f - pen_i * q_f)
            position += direction  # cyclically, without a division per rating
            if position == end:
                position = begin
            elif position < begin:
                position = end - 1
        P[u] = p
        bu[u] = b_u
    return user_order.shape[0], squared, squared_clipped


def _first_sgd_call(dtype: np.dtype) -> None:
    indptr, codes, flags = np.array([0, 1], np.int64), np.zeros(1, np.int32), np.zeros(1, np.bool_)
    vector, matrix = np.zeros(1, dtype), np.zeros((1, 1), dtype)
    zero = dtype.type(0)
    sgd_epoch(
        indptr, codes, np.zeros(1, np.float32), np.zeros(1, np.int64), np.zeros(1, np.int64), flags,
        matrix, matrix.copy(), vector, vector.copy(), zero, zero, vector, vector, True, 1.0, 5.0,
    )  # fmt: skip


def warm_up() -> float:
    """Compile (or load from the disk cache) the SGD kernel for float64 and float32; return the seconds."""
    return sum(jit.ready("sgd_epoch", np.dtype(d), _first_sgd_call) for d in ("float64", "float32"))


# --- sgd ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SGDParams(MFParams):
    n_factors: int = n_factors_field(100)
    n_epochs: int = n_epochs_field(30)
    lr: float = lr_field(0.015, "Learning rate of each per-rating step.")
    lr_decay: float = lr_decay_field()


class SteppedMF(BiasedMF):
    """Shared by `sgd` and `minibatch`: the epoch's learning rate and the step-based gradient norms."""

    divergence_hint = DIVERGENCE_HINT

    def _epoch_lr(self, epoch: int) -> float:
        return decayed_lr(self.params.lr, self.params.lr_decay, epoch)

    def _initialize(self, train: RatingsDataset) -> None:
        super()._initialize(train)
        self._before = {name: np.empty_like(block) for name, block in self._blocks().items()}

    def _snapshot(self) -> None:
        """Keep the learned arrays as they are before an epoch (in buffers reused every epoch)."""
        for name, block in self._blocks().items():
            np.copyto(self._before[name], block)

    def _stepped(self, lr: float) -> dict:
        """The epoch's report: the norm of its summed gradients is the parameters' change over lr."""
        norms = {
            name: float(np.sqrt(jit.squared_distance(block.reshape(-1), self._before[name].reshape(-1)))) / lr
            for name, block in self._blocks().items()
        }
        return {"grad_norms": norms, "extra": {"lr": lr}}


class SGD(SteppedMF):
    name = "sgd"
    factor_copies = 2.1  # measured peak of a fit (tests/hardening/test_memory_estimates.py)
    label = "SGD (per rating, Funk/Koren)"
    description = (
        "Per-rating stochastic gradient descent, users in a new random order each epoch, as Funk and "
        "Surprise's SVD do it."
    )
    Params = SGDParams
    formulas = maths.SGD

    def _initialize(self, train: RatingsDataset) -> None:
        super()._initialize(train)
        self.compile_seconds_ = jit.ready("sgd_epoch", self.dtype_, _first_sgd_call)
        # Ratings grouped by user (a counting sort), in a random order within each user drawn once per fit.
        shuffled = self.rng_.permutation(train.n_ratings)
        self._indptr, grouped = jit.grouped_positions(train.user_codes[shuffled], train.n_users)
        self._counts = np.diff(self._indptr)
        order = shuffled[grouped]
        self._items = train.item_codes[order]
        self._ratings = train.ratings[order]

    def _sweep_metrics(self, squared: float, squared_clipped: float) -> tuple[float, float, float, float]:
        """(reconstruction, regularization, total, train RMSE) from the errors the sweep met before each step;
        a diverging fit's overflow is left to the fit loop's divergence check."""
        with np.errstate(over="ignore", invalid="ignore"):
            reconstruction, regularization = 0.5 * squared, self._regularization()
        rmse = math.sqrt(squared_clipped / len(self._ratings))
        return reconstruction, regularization, reconstruction + regularization, rmse

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        lr = self._epoch_lr(epoch)
        user_order = self.rng_.permutation(train.n_users)
        starts = (self.rng_.random(train.n_users) * self._counts).astype(np.int64)
        backwards = self.rng_.random(train.n_users) < 0.5
        self._snapshot()
        biases = self.user_bias_ is not None
        user_bias = self.user_bias_ if biases else np.zeros(train.n_users, self.dtype_)
        item_bias = self.item_bias_ if biases else np.zeros(train.n_items, self.dtype_)
        scalar = self.dtype_.type
        _, squared, squared_clipped = sgd_epoch(
            self._indptr, self._items, self._ratings, user_order, starts, backwards,
            self.user_factors_, self.item_factors_, user_bias, item_bias,
            scalar(self.global_mean_), scalar(lr), self.user_penalty_, self.item_penalty_, biases,
            float(self.scale_.low), float(self.scale_.high),
        )  # fmt: skip
        metrics = self._sweep_metrics(squared, squared_clipped)
        info = self._stepped(lr) | {"train_metrics": metrics, "measured": DURING_EPOCH}
        if epoch == 1:
            info["extra"]["compile_seconds"] = self.compile_seconds_
        return info


# --- minibatch ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MinibatchParams(MFParams):
    n_factors: int = n_factors_field(100)
    n_epochs: int = n_epochs_field(30)
    lr: float = lr_field(0.015, "Learning rate: the step per rating's gradient within a batch.")
    batch_size: int = batch_size_field(1024)
    lr_decay: float = lr_decay_field()


class Minibatch(SteppedMF):
    name = "minibatch"
    factor_copies = 2.1  # measured peak of a fit (tests/hardening/test_memory_estimates.py)
    label = "Minibatch SGD"
    description = "Stochastic gradient descent on shuffled batches of ratings, each batch's gradient at once."
    Params = MinibatchParams
    formulas = maths.MINIBATCH

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        lr = self._epoch_lr(epoch)
        self._snapshot()
        for batch in self._shuffled_batches(train, self.params.batch_size):
            gradient = self._gradient(batch)
            if not math.isfinite(gradient.squared_error):
                break  # diverged: the fit loop reports it
            self._apply(gradient, {name: lr * block for name, block in gradient.blocks().items()})
        return self._stepped(lr)
