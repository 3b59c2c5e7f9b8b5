"""Training in a background thread, one job per session, so the page stays live while a model learns.

The fit reports every epoch into the job's ``records`` (a list only the job's thread appends to); a page
draws them with an auto-refreshing fragment. ``request_stop()`` sets the engine's `StopRequest`, which
ends training after the epoch under way. Divergence and engine errors end the job with a status and a
message for people, never a traceback on the page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from recengine.errors import RecEngineError, TrainingDiverged
from recengine.training import EpochRecord, StopRequest

RUNNING, DONE, STOPPED, DIVERGED, FAILED = "running", "done", "stopped", "diverged", "failed"
log = logging.getLogger(__name__)


class TrainingJob:
    """Fits ``model`` on ``train`` (validating on ``valid``) in a daemon thread.

    When the fit ends normally or by a stop request, ``finish(job)`` runs in the same thread (compute
    metrics, store the model) and its return value lands in ``result``.
    """

    def __init__(
        self,
        model: Any,
        train: Any,
        valid: Any,
        finish: Callable[[TrainingJob], Any],
        label: str = "",
    ):
        self.model, self.train, self.valid = model, train, valid
        self.finish = finish
        self.label = label or getattr(model, "label", "model")
        self.n_epochs = int(getattr(model, "n_epochs", 1))
        self.records: list[dict[str, Any]] = []
        self.status = RUNNING
        self.message = ""
        self.suggestion = ""
        self.result: Any = None
        self.error: Exception | None = None
        self.collected = False
        self.started = time.perf_counter()
        self.seconds = 0.0
        self.stop_requested_at: int | None = None
        self._stop = StopRequest()
        self._thread = threading.Thread(target=self._run, name=f"train-{self.label}", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def epochs_done(self) -> int:
        return len(self.records)

    def request_stop(self) -> None:
        """End training after the epoch under way."""
        if self.stop_requested_at is None:
            self.stop_requested_at = self.epochs_done
        self._stop.request()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job to end; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _record(self, record: EpochRecord, model: Any) -> None:
        self.records.append(record.to_dict())

    def _run(self) -> None:
        try:
            self.model.fit(self.train, self.valid, callbacks=[self._record, self._stop])
            stopped = self._stop.requested and self.epochs_done < self.n_epochs
            self.result = self.finish(self)
            self.status = STOPPED if stopped else DONE
        except TrainingDiverged as error:
            self.error, self.suggestion = error, error.suggestion
            self.status, self.message = DIVERGED, str(error)
        except RecEngineError as error:
            self.error, self.status, self.message = error, FAILED, str(error)
        except Exception as error:  # a bug: keep the page alive, log the traceback for us
            log.exception("training %s failed", self.label)
            self.error, self.status, self.message = error, FAILED, f"{type(error).__name__}: {error}"
        finally:
            self.seconds = time.perf_counter() - self.started
