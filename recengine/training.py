"""What a fit reports and who listens: per-epoch records, the history, and callbacks.

A callback is any object with ``on_epoch(record, model)`` (and optionally ``on_train_end(model)``), or a
plain function ``f(record, model)``. Returning ``True`` from ``on_epoch`` asks training to stop after this
epoch: that is how the dashboard's Stop button and early stopping work.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Protocol, runtime_checkable

from recengine.jsonsafe import json_safe
from recengine.lazy import pandas as pd

AFTER_EPOCH = "after epoch"
DURING_EPOCH = "during epoch"


@dataclass
class EpochRecord:
    """One epoch of training, as every model reports it.

    Losses follow the model's stated objective: ``reconstruction_loss`` is the data term,
    ``regularization_loss`` the penalty, ``total_loss`` their sum. RMSEs are on the rating scale (clipped
    predictions); they are ``None`` for models that do not predict ratings. ``grad_norms`` holds the
    gradient norm per parameter block for gradient methods; ``extra`` anything else worth plotting
    (learning rate, gradient mean and standard deviation, ...). ``measured`` says when the losses and train
    RMSE were taken: `AFTER_EPOCH` (at the epoch's final parameters) or `DURING_EPOCH` (each rating's error
    before its own step, summed by the sweep itself, as per-rating SGD reports them).
    """

    epoch: int
    seconds: float
    reconstruction_loss: float
    regularization_loss: float
    total_loss: float
    train_rmse: float | None = None
    valid_rmse: float | None = None
    grad_norms: dict[str, float] | None = None
    extra: dict[str, float] = field(default_factory=dict)
    measured: str = AFTER_EPOCH

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class History(list[EpochRecord]):
    """The epochs of one fit, in order."""

    def to_dicts(self) -> list[dict[str, Any]]:
        return [record.to_dict() for record in self]

    @classmethod
    def from_dicts(cls, rows: Iterable[dict[str, Any]]) -> History:
        return cls(EpochRecord.from_dict(row) for row in rows)

    def to_frame(self) -> pd.DataFrame:
        """One row per epoch; gradient norms and extras flattened into ``grad_<name>`` and ``<name>``."""
        rows = []
        for record in self:
            row = {k: v for k, v in record.to_dict().items() if k not in ("grad_norms", "extra")}
            row |= {f"grad_{k}": v for k, v in (record.grad_norms or {}).items()}
            row |= record.extra
            rows.append(row)
        return pd.DataFrame(rows)

    def best_epoch(self, metric: str = "valid_rmse") -> EpochRecord | None:
        scored = [r for r in self if getattr(r, metric) is not None]
        return min(scored, key=lambda r: getattr(r, metric)) if scored else None


@runtime_checkable
class Callback(Protocol):
    def on_epoch(self, record: EpochRecord, model: Any) -> bool | None: ...


class FunctionCallback:
    """Adapts ``f(record, model) -> bool | None`` to the callback protocol."""

    def __init__(self, function: Callable[[EpochRecord, Any], bool | None]):
        self.function = function

    def on_epoch(self, record: EpochRecord, model: Any) -> bool | None:
        return self.function(record, model)


def as_callbacks(callbacks: Iterable[Any]) -> list[Any]:
    """Callback objects from a mix of objects and plain functions."""
    out = []
    for callback in callbacks:
        if hasattr(callback, "on_epoch"):
            out.append(callback)
        elif callable(callback):
            out.append(FunctionCallback(callback))
        else:
            raise TypeError(f"{callback!r} is neither a callback object nor a function")
    return out


class StopRequest:
    """A thread-safe flag another thread (a Stop button) sets to end training after the current epoch."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def request(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def on_epoch(self, record: EpochRecord, model: Any) -> bool:
        return self._event.is_set()


class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best`` the model gets back the state of its best epoch when training ends.
    """

    def __init__(
        self,
        patience: int = 3,
        monitor: str = "valid_rmse",
        min_delta: float = 0.0,
        restore_best: bool = True,
    ):
        if patience < 1:
            raise ValueError("patience must be at least 1")
        self.patience, self.monitor, self.min_delta, self.restore_best = (
            patience,
            monitor,
            min_delta,
            restore_best,
        )
        self.best_value = math.inf
        self.best_epoch: int | None = None
        self._best_state: dict | None = None
        self._waited = 0

    def on_epoch(self, record: EpochRecord, model: Any) -> bool:
        value = getattr(record, self.monitor)
        if value is None:
            return False
        if value < self.best_value - self.min_delta:
            self.best_value, self.best_epoch, self._waited = value, record.epoch, 0
            if self.restore_best:
                self._best_state = {k: v.copy() for k, v in model.state().items()}
            return False
        self._waited += 1
        return self._waited >= self.patience

    def on_train_end(self, model: Any) -> None:
        if self.restore_best and self._best_state is not None:
            model.set_state(self._best_state)
            model.best_epoch_ = self.best_epoch


class ProgressPrinter:
    """Prints one line per epoch (to stderr by default)."""

    def __init__(self, stream: IO[str] | None = None, prefix: str = ""):
        self.stream = stream or sys.stderr
        self.prefix = prefix

    def on_epoch(self, record: EpochRecord, model: Any) -> None:
        parts = [
            f"{self.prefix}epoch {record.epoch:>3}",
            f"{record.seconds:6.3f}s",
            f"loss {record.total_loss:.5g}",
        ]
        if record.train_rmse is not None:
            parts.append(f"train rmse {record.train_rmse:.4f}")
        if record.valid_rmse is not None:
            parts.append(f"valid rmse {record.valid_rmse:.4f}")
        print("  ".join(parts), file=self.stream, flush=True)
