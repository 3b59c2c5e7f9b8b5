"""Training in worker processes, one job per session, so pages stay live while a model learns.

Why processes and not threads: a fit is NumPy and numba work that must take Python's GIL back after
every array operation, and a page that redraws its charts several times a second holds the GIL for most
of that time; measured on the bundled set, a 1.5 s fit took 10 s in a thread beside the live chart. A
process has its own GIL (and can use the other core), and a crash in it cannot take the server down.

The workers live as long as the server: each is forked from a fork server that has imported the engine,
warms itself up once (tiny fits, so numba's compiled kernels are loaded before anyone clicks Train), then
takes jobs one after another. ``warm_up()`` starts the first one in the background when the app starts.
A job sends the model and its data to a free worker; the worker sends every epoch's record back through
the pipe, checks its stop event after each epoch (so Stop ends training within one epoch), evaluates the
model and sends it back. A watcher thread in the server receives all this into the job, then calls
``finish(job)`` (store the model, build the run). At most ``max_trainers()`` workers exist; later jobs
wait for a free one. A worker that dies (a crash in native code, the out-of-memory killer) fails its job
with a message and is replaced.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import multiprocessing
import multiprocessing.spawn
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from recengine.errors import RecEngineError, TrainingDiverged

RUNNING, DONE, STOPPED, DIVERGED, FAILED = "running", "done", "stopped", "diverged", "failed"
# Imports only: running a model in the fork server would start OpenMP threads, and GNU OpenMP aborts a
# later fork. Workers warm up after they are forked instead.
PRELOAD = ("dashboard.jobs", "recengine.models", "recengine.evaluation.metrics")
WARM_FIRST = "wals"  # the dashboard's default model
log = logging.getLogger(__name__)


def max_trainers() -> int:
    return max(int(os.environ.get("RECENGINE_MAX_TRAINERS", os.cpu_count() or 1)), 1)


def warm_up() -> None:
    """Start the first worker (fork server, engine imports, kernel warm-up) without waiting for it."""
    threading.Thread(target=_pool().prepare, name="trainer-warm-up", daemon=True).start()


@functools.cache
def _context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
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
def _pool() -> _Pool:
    """The server's workers (a shared resource like a cache: it holds no session's data between jobs)."""
    pool = _Pool(max_trainers())
    atexit.register(pool.shutdown)
    return pool


class _Worker:
    """A long-lived training process and its ends of the pipe and the stop event."""

    def __init__(self) -> None:
        context = _context()
        self.connection, their_end = context.Pipe()
        self.stop = context.Event()
        self.process = context.Process(
            target=_serve, args=(their_end, self.stop), name="recengine-trainer", daemon=True
        )
        self.process.start()
        their_end.close()  # the worker holds the only other end: its death ends the pipe

    def close(self) -> None:
        self.connection.close()
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class _Pool:
    def __init__(self, size: int):
        self._free = threading.BoundedSemaphore(size)
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()

    def prepare(self) -> None:
        """Have one warm worker waiting (the first takes a few seconds: imports and warm-up)."""
        if self._idle.empty() and self._free.acquire(blocking=False):
            try:
                self._idle.put(_Worker())
            finally:
                self._free.release()

    def shutdown(self) -> None:
        """End the idle workers (at exit: their pipes and events are released cleanly)."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    @contextlib.contextmanager
    def worker(self):
        """A live worker for one job; it goes back to the pool unless the job broke it."""
        with self._free:
            worker = None
            while worker is None:
                try:
                    worker = self._idle.get_nowait()
                except queue.Empty:
                    worker = _Worker()
                if not worker.process.is_alive():
                    worker.close()
                    worker = None
            broken = True
            try:
                yield worker
                broken = not worker.process.is_alive()
            finally:
                if broken:
                    worker.close()
                else:
                    self._idle.put(worker)


class TrainingJob:
    """Fits ``model`` on ``train`` (validating on ``valid``) in a worker process.

    ``measure(model)`` (optional, picklable) runs in the worker after the fit and fills ``metrics``; then
    ``finish(job)`` runs in the server and its return value lands in ``result`` (also after a divergence:
    ``error`` is then the `TrainingDiverged` with the curve up to it). ``records`` grows by one
    dict per epoch while the job runs. ``shortcut()`` (optional) is asked once a trainer is free, before
    training: a value it returns becomes the ``result`` instead (another session trained the same
    configuration while this job waited).
    """

    def __init__(
        self,
        model: Any,
        train: Any,
        valid: Any,
        finish: Callable[[TrainingJob], Any],
        label: str = "",
        measure: Callable[[Any], dict] | None = None,
        shortcut: Callable[[], Any] | None = None,
    ):
        self.model, self.train, self.valid, self.measure = model, train, valid, measure
        self.shortcut = shortcut
        self.finish = finish
        self.label = label or getattr(model, "label", "model")
        self.n_epochs = int(getattr(model, "n_epochs", 1))
        self.records: list[dict[str, Any]] = []
        self.metrics: dict[str, Any] = {}
        self.status = RUNNING
        self.waiting = True  # for a free worker
        self.message = ""
        self.suggestion = ""
        self.result: Any = None
        self.error: Exception | None = None
        self.collected = False
        self.started = time.perf_counter()
        self.seconds = 0.0
        self.stop_requested_at: int | None = None
        self.exitcode: int | None = None
        self.timeline: dict[str, float] = {}  # seconds from the start: worker, first epoch, received
        self._stop_flag = threading.Event()
        self._worker: _Worker | None = None  # while the job has one: where request_stop signals
        self._worker_lock = threading.Lock()
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
        with self._worker_lock:
            if self._worker is not None:
                self._worker.stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job to end; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- in the server: the watcher thread ------------------------------------------------------------

    def _mark(self, event: str) -> None:
        self.timeline[event] = time.perf_counter() - self.started

    def _watch(self) -> None:
        try:
            with _pool().worker() as worker:
                self.waiting = False
                self._mark("worker")
                self.result = self.shortcut() if self.shortcut is not None else None
                if self.result is not None:
                    self.status = DONE
                    return
                outcome = self._run_on(worker)
                self._mark("received")
            self._settle(outcome)
        except Exception as error:  # a bug in finish: keep the page alive, log the traceback for us
            log.exception("training %s failed", self.label)
            self.error, self.status, self.message = error, FAILED, f"{type(error).__name__}: {error}"
        finally:
            self.seconds = time.perf_counter() - self.started

    def _run_on(self, worker: _Worker) -> tuple:
        worker.stop.clear()
        with self._worker_lock:
            self._worker = worker
            if self._stop_flag.is_set():
                worker.stop.set()
        try:
            worker.connection.send((self.model, self.train, self.valid, self.measure))
            while True:
                message = worker.connection.recv()
                if message[0] != "epoch":
                    return message
                self.records.append(message[1])
                if len(self.records) == 1:
                    self._mark("first epoch")
        except (EOFError, OSError):  # the worker died without a final word
            worker.process.join(2)
            self.exitcode = worker.process.exitcode
            return ("crashed",)
        finally:
            with self._worker_lock:  # before the worker goes back to the pool and serves another job
                self._worker = None

    def _settle(self, outcome: tuple) -> None:
        kind = outcome[0]
        if kind == "done":
            self.model, self.metrics = outcome[1], outcome[2]
            stopped = self._stop_flag.is_set() and self.epochs_done < self.n_epochs
            self.result = self.finish(self)
            self._mark("finished")
            self.status = STOPPED if stopped else DONE
        elif kind == "diverged":  # the curve is kept (the diverging epoch too): `finish` makes a run of it
            self.error = TrainingDiverged(outcome[1], outcome[2], outcome[3])
            self.records.extend(outcome[4])
            self.error.history, self.error.start_loss = list(self.records), outcome[5]
            self.suggestion = outcome[3]
            self.message = str(self.error)
            self.result = self.finish(self)
            self.status = DIVERGED
        elif kind == "failed":
            self.error = RecEngineError(outcome[1])
            self.status, self.message = FAILED, outcome[1]
        else:
            self.error = RecEngineError(
                f"The training process ended unexpectedly (exit code {self.exitcode}). The model may be too "
                "large for this machine's memory: try fewer factors or a smaller data set."
            )
            self.status, self.message = FAILED, str(self.error)


# --- in a worker process --------------------------------------------------------------------------------


def _serve(connection: Any, stop: Any) -> None:
    """A worker's life: warm up while nobody waits, then train what arrives until the server closes the pipe."""
    _warm_kernels(until=connection.poll)
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        _train(*task, sender=connection, stop=stop)
        del task


def _warm_kernels(until: Callable[[], bool]) -> None:
    """Fit each model once on a tiny planted matrix (numba loads each compiled kernel on first use), the
    default first, and stop as soon as ``until()``: a job is waiting."""
    from recengine.data.synthetic import planted_low_rank
    from recengine.evaluation.metrics import evaluate
    from recengine.evaluation.split import split_by_spec
    from recengine.models import MODELS, make

    data, _ = planted_low_rank(n_users=40, n_items=30, rank=2, density=0.4, seed=0)
    train, test = split_by_spec(data, "random:0.2", 0)
    for name, cls in sorted(MODELS.items(), key=lambda item: item[0] != WARM_FIRST):
        if until():
            return
        epochs = {"n_epochs": 1} if any(spec.name == "n_epochs" for spec in cls.Params.specs()) else {}
        with contextlib.suppress(Exception):  # best effort: a model that fails here fails clearly later
            evaluate(make(name, **epochs).fit(train, test), train, test, k=5)


def _train(model: Any, train: Any, valid: Any, measure: Any, *, sender: Any, stop: Any) -> None:
    def report(record: Any, fitted: Any) -> bool:
        sender.send(("epoch", record.to_dict()))
        return stop.is_set()

    try:
        model.fit(train, valid, callbacks=[report])
        metrics = measure(model) if measure is not None else {}
        sender.send(("done", model, metrics))
    except TrainingDiverged as error:
        last = [record for record in error.history[-1:] if record["epoch"] == error.epoch]  # not yet sent
        sender.send(("diverged", error.epoch, error.what, error.suggestion, last, error.start_loss))
    except RecEngineError as error:
        sender.send(("failed", str(error)))
    except Exception as error:  # a bug: say what it was, and leave the traceback in the server's log
        traceback.print_exc()
        sender.send(("failed", f"{type(error).__name__}: {error}"))
