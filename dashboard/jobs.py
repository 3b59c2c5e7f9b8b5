"""Training in a separate process, one job per session, so pages stay live while a model learns.

Why a process and not a thread: a fit is NumPy and numba work that must take Python's GIL back after
every array operation, and a page that redraws its charts several times a second holds the GIL for most
of that time; measured on the bundled set, a 1.5 s fit took 10 s in a thread beside the live chart. A
process has its own GIL (and its own core), and a crash in it cannot take the server down.

Each job forks a worker from a fork server that has imported the engine once (``warm_up`` starts it in
the background when the app starts). The worker sends every epoch's record back through a queue, checks a
stop event after each epoch (so Stop ends training within one epoch), evaluates the model and sends it
back. A watcher thread in the server receives all this into the job, then calls ``finish(job)`` (store
the model, build the run). At most ``max_trainers()`` workers run at once; later jobs wait for a slot.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import multiprocessing.spawn
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from recengine.errors import RecEngineError, TrainingDiverged

RUNNING, DONE, STOPPED, DIVERGED, FAILED = "running", "done", "stopped", "diverged", "failed"
# Imports only: running a model here would start OpenMP threads, and GNU OpenMP aborts a later fork.
PRELOAD = ["dashboard.jobs", "recengine.models", "recengine.metrics"]
log = logging.getLogger(__name__)


@functools.cache
def _context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    _never_rerun_main()
    return context


def _never_rerun_main() -> None:
    """Workers must not re-run ``__main__``: Streamlit runs each page as a module named ``__main__``, so
    multiprocessing would run the app script again in every worker. Our workers' targets are importable
    functions, so the main module is never needed there."""
    original = multiprocessing.spawn.get_preparation_data
    if getattr(original, "without_main", False):
        return

    def preparation_data(name: str) -> dict:
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    preparation_data.without_main = True  # type: ignore[attr-defined]
    multiprocessing.spawn.get_preparation_data = preparation_data


@functools.cache
def _slots() -> threading.BoundedSemaphore:
    """Server-wide limit on concurrent workers (a resource guard, not session state)."""
    return threading.BoundedSemaphore(max_trainers())


def max_trainers() -> int:
    return int(os.environ.get("RECENGINE_MAX_TRAINERS", max(os.cpu_count() or 1, 1)))


def warm_up() -> None:
    """Start the fork server (it imports the engine, a few seconds) without waiting for it."""
    threading.Thread(target=_start_and_join, args=(_noop,), name="trainer-warm-up", daemon=True).start()


def _noop() -> None:
    return None


def _start_and_join(target: Callable[[], None]) -> None:
    worker = _context().Process(target=target, daemon=True)
    worker.start()
    worker.join()


class TrainingJob:
    """Fits ``model`` on ``train`` (validating on ``valid``) in a worker process.

    ``measure(model)`` (optional, picklable) runs in the worker after the fit and fills ``metrics``; then
    ``finish(job)`` runs in the server and its return value lands in ``result``. ``records`` grows by one
    dict per epoch while the job runs.
    """

    def __init__(
        self,
        model: Any,
        train: Any,
        valid: Any,
        finish: Callable[[TrainingJob], Any],
        label: str = "",
        measure: Callable[[Any], dict] | None = None,
    ):
        self.model, self.train, self.valid, self.measure = model, train, valid, measure
        self.finish = finish
        self.label = label or getattr(model, "label", "model")
        self.n_epochs = int(getattr(model, "n_epochs", 1))
        self.records: list[dict[str, Any]] = []
        self.metrics: dict[str, Any] = {}
        self.status = RUNNING
        self.waiting = True  # for a free worker slot
        self.message = ""
        self.suggestion = ""
        self.result: Any = None
        self.error: Exception | None = None
        self.collected = False
        self.started = time.perf_counter()
        self.seconds = 0.0
        self.stop_requested_at: int | None = None
        self.exitcode: int | None = None
        self.timeline: dict[str, float] = {}  # seconds from the start: slot, worker, first epoch, received
        self._stop_flag = threading.Event()
        self._stop_event: Any = None
        self._thread = threading.Thread(target=self._watch, name=f"train-{self.label}", daemon=True)

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
        self._stop_flag.set()
        if self._stop_event is not None:
            self._stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job to end; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- in the server: the watcher thread ------------------------------------------------------------

    def _mark(self, event: str) -> None:
        self.timeline[event] = time.perf_counter() - self.started

    def _watch(self) -> None:
        try:
            with _slots():
                self.waiting = False
                self._mark("slot")
                outcome = self._run_worker()
                self._mark("received")
            self._settle(outcome)
        except Exception as error:  # a bug in finish: keep the page alive, log the traceback for us
            log.exception("training %s failed", self.label)
            self.error, self.status, self.message = error, FAILED, f"{type(error).__name__}: {error}"
        finally:
            self.seconds = time.perf_counter() - self.started

    def _run_worker(self) -> tuple:
        context = _context()
        receiver, sender = context.Pipe(duplex=False)  # unbuffered: a record sent is a record received
        self._stop_event = context.Event()
        if self._stop_flag.is_set():
            self._stop_event.set()
        worker = context.Process(
            target=_train,
            args=(self.model, self.train, self.valid, self.measure, sender, self._stop_event),
            name=f"train-{self.label}",
            daemon=True,
        )
        worker.start()
        self._mark("worker")
        sender.close()  # the worker holds the only sending end: its death ends the pipe
        try:
            return self._receive(receiver)
        finally:
            receiver.close()
            worker.join(5)
            if worker.is_alive():
                worker.kill()
                worker.join()
            self.exitcode = worker.exitcode

    def _receive(self, receiver: Any) -> tuple:
        while True:
            try:
                message = receiver.recv()
            except EOFError:  # the worker died without a final word
                return ("crashed",)
            if message[0] == "epoch":
                self.records.append(message[1])
                if len(self.records) == 1:
                    self._mark("first epoch")
            else:
                return message

    def _settle(self, outcome: tuple) -> None:
        kind = outcome[0]
        if kind == "done":
            self.model, self.metrics = outcome[1], outcome[2]
            stopped = self._stop_flag.is_set() and self.epochs_done < self.n_epochs
            self.result = self.finish(self)
            self.status = STOPPED if stopped else DONE
        elif kind == "diverged":
            self.error = TrainingDiverged(outcome[1], outcome[2], outcome[3])
            self.suggestion = outcome[3]
            self.status, self.message = DIVERGED, str(self.error)
        elif kind == "failed":
            self.error = RecEngineError(outcome[1])
            self.status, self.message = FAILED, outcome[1]
        else:  # the worker died without a word: killed, out of memory, a crash in native code
            self.error = RecEngineError(
                f"The training process ended unexpectedly (exit code {self.exitcode}). The model may be too "
                "large for this machine's memory: try fewer factors or a smaller data set."
            )
            self.status, self.message = FAILED, str(self.error)


# --- in the worker process ------------------------------------------------------------------------------


def _train(model: Any, train: Any, valid: Any, measure: Any, sender: Any, stop: Any) -> None:
    def report(record: Any, fitted: Any) -> bool:
        sender.send(("epoch", record.to_dict()))
        return stop.is_set()

    try:
        model.fit(train, valid, callbacks=[report])
        metrics = measure(model) if measure is not None else {}
        sender.send(("done", model, metrics))
    except TrainingDiverged as error:
        sender.send(("diverged", error.epoch, error.what, error.suggestion))
    except RecEngineError as error:
        sender.send(("failed", str(error)))
    except Exception as error:  # a bug: say what it was, and leave the traceback in the server's log
        traceback.print_exc()
        sender.send(("failed", f"{type(error).__name__}: {error}"))
