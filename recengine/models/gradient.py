"""`gd` and `adam`: full-batch gradient descent and minibatch Adam on the shared biased-MF objective.

Both take their gradients from `objective.mf_gradient`, the one analytic gradient of the objective
(`formulas.BIASED_MF`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.models import formulas as maths
from recengine.models.base import hyper
from recengine.models.objective import (
    Batch,
    BiasedMF,
    Gradient,
    MFParams,
    batch_size_field,
    block_norms,
    lr_field,
    n_epochs_field,
    reg_field,
    sum_squares,
)

# --- gd -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GDParams(MFParams):
    n_epochs: int = n_epochs_field(100, "Gradient steps; each uses every training rating.")
    lr: float = lr_field(0.001, "Learning rate: the step along the full gradient of the summed loss.")
    momentum: float = hyper(
        0.9,
        low=0,
        high=1,
        high_open=True,
        help="Heavy-ball momentum: the share of the last step kept (0: none).",
    )
    reg: float = reg_field(0.15)
    clip: float = hyper(0.0, low=0, help="Gradient clipping threshold (0: no clipping); see clip_mode.")
    clip_mode: str = hyper(
        "norm",
        choices=("norm", "value"),
        help="norm: rescale the whole gradient to norm ≤ clip; value: cut each entry to [−clip, clip].",
    )


def clipped(blocks: dict[str, np.ndarray], clip: float, mode: str) -> tuple[dict[str, np.ndarray], float]:
    """The gradient blocks clipped by global norm or by value, and the share of the gradient's norm kept."""
    if clip <= 0:
        return blocks, 1.0
    norm = float(np.sqrt(sum(sum_squares(b) for b in blocks.values())))
    if mode == "norm":
        scale = min(1.0, clip / norm) if norm > 0 else 1.0
        return {n: b * scale for n, b in blocks.items()}, scale
    cut = {n: np.clip(b, -clip, clip) for n, b in blocks.items()}
    kept = float(np.sqrt(sum(sum_squares(b) for b in cut.values())))
    return cut, kept / norm if norm > 0 else 1.0


def moments(blocks: dict[str, np.ndarray]) -> tuple[float, float]:
    """Mean and standard deviation of every gradient entry together."""
    count = sum(b.size for b in blocks.values())
    total = sum(float(b.sum(dtype=np.float64)) for b in blocks.values())
    squares = sum(sum_squares(b) for b in blocks.values())
    mean = total / count
    return mean, float(np.sqrt(max(squares / count - mean * mean, 0.0)))


class GD(BiasedMF):
    name = "gd"
    label = "Gradient descent (full batch)"
    description = (
        "Full-batch gradient descent with momentum on the masked squared error, with optional clipping."
    )
    Params = GDParams
    formulas = maths.GD
    factor_copies = 3.0  # factors, gradient, velocity (measured peak: 3.0 factor-sized arrays)
    divergence_hint = (
        "Lower the learning rate (lr) or the momentum, or turn on gradient clipping (clip, for example 10)."
    )

    def _initialize(self, train: RatingsDataset) -> None:
        super()._initialize(train)
        self._batch = Batch.from_data(train, self.dtype_)
        self._velocity: dict[str, np.ndarray] = {}

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        gradient = self._gradient(self._batch)
        blocks = gradient.blocks()
        mean, std = moments(blocks)
        steps, kept = clipped(blocks, self.params.clip, self.params.clip_mode)
        for name, step in steps.items():
            velocity = self._velocity.get(name)
            self._velocity[name] = step if velocity is None else self.params.momentum * velocity + step
        self._apply(gradient, {n: self.params.lr * v for n, v in self._velocity.items()})
        extra = {"grad_mean": mean, "grad_std": std, "clip_kept": kept, "lr": self.params.lr}
        return {"grad_norms": block_norms(blocks), "extra": extra}


# --- adam -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdamParams(MFParams):
    lr: float = lr_field(0.01, "Adam's step size.")
    batch_size: int = batch_size_field(1024)
    beta1: float = hyper(0.9, low=0, high=1, high_open=True, help="Decay of the running mean of gradients.")
    beta2: float = hyper(0.999, low=0, high=1, high_open=True, help="Decay of the running mean of squares.")
    eps: float = hyper(1e-8, low=0, low_open=True, high=1, log=True, help="Added to the denominator.")
    reg: float = reg_field(0.12)


class Adam(BiasedMF):
    """Adam as embedding layers train with it: each batch updates the rows it touches (lazy moments)."""

    name = "adam"
    label = "Adam (minibatch)"
    description = "Adam on minibatches, as embedding layers train: per-entry adaptive steps for the rows a batch touches."
    Params = AdamParams
    formulas = maths.ADAM
    factor_copies = 4.0  # factors, both moments, a batch's steps (measured peak: 4.1 factor-sized arrays)
    fit_bytes_per_rating = 16.0
    divergence_hint = "Lower the learning rate (lr), for example by a factor of 10."

    def _initialize(self, train: RatingsDataset) -> None:
        super()._initialize(train)
        blocks = self._blocks()
        self._mean = {n: np.zeros_like(b) for n, b in blocks.items()}
        self._square = {n: np.zeros_like(b) for n, b in blocks.items()}
        self._steps_taken = 0

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        summed = {n: np.zeros_like(b) for n, b in self._blocks().items()}
        for batch in self._shuffled_batches(train, self.params.batch_size):
            gradient = self._gradient(batch)
            if not math.isfinite(gradient.squared_error):
                break  # diverged: the fit loop reports it
            for name, block in gradient.blocks().items():
                summed[name][gradient.rows(name)] += block
            self._apply(gradient, self._adam_steps(gradient))
        return {"grad_norms": block_norms(summed), "extra": {"lr": self.params.lr}}

    def _adam_steps(self, gradient: Gradient) -> dict[str, np.ndarray]:
        p = self.params
        self._steps_taken += 1
        mean_correction = 1 - p.beta1**self._steps_taken
        square_correction = 1 - p.beta2**self._steps_taken
        steps = {}
        for name, block in gradient.blocks().items():
            rows = gradient.rows(name)
            mean = self._mean[name][rows] * p.beta1 + (1 - p.beta1) * block
            square = self._square[name][rows] * p.beta2 + (1 - p.beta2) * block * block
            self._mean[name][rows], self._square[name][rows] = mean, square
            steps[name] = p.lr * (mean / mean_correction) / (np.sqrt(square / square_correction) + p.eps)
        return steps
