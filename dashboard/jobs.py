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

A job belongs to its owner (the browser session that started it; in classroom mode the person, by their
workspace, so that more tabs get no more trainers), to its session and to its client address. The
`_Scheduler` runs at most ``max_trainers()`` jobs, one per owner, with `MAX_WAITING` more of each owner in
line, and the line is fair: a free trainer goes to the owner whose last start is oldest (never started
first), so one student's ten jobs wait behind everyone else's first. A job starts only when its memory
estimate fits beside those of the jobs running (the memory budget holds for all trainers together). A
watchdog thread cancels the jobs of a session that Streamlit's runtime no longer counts as active (its tab was
closed) for `SESSION_GRACE_SECONDS`, and kills the worker of a cancelled job that has not stopped
`KILL_AFTER_SECONDS` later: the next student trains within seconds.

In classroom mode: a job's estimated time (``dashboard/training_cost.py``: each family's real cost, at
rates measured on a two-core machine, and the ranking that evaluates it: a training's test metrics, each sweep
fold's) has a ceiling (``RECENGINE_CLASS_MAX_SECONDS``), a job running longer
than ``RECENGINE_CLASS_MAX_MINUTES``, or four times its estimate (`overrun`), is stopped (kept as a stopped
run, like Stop), a person who already has
a job in line may add one only while their client address has fewer than
``RECENGINE_CLASS_JOBS_PER_ADDRESS`` running or waiting (two browser contexts of one student are two owners,
but one address; a classmate behind the same router with nothing in line is queued, never refused), and a
job's memory estimate may take its share of the budget (the budget divided by the trainers).

A cross-validated sweep (Compare & tune) runs in the server, in its page's own thread, but takes its turn in
the same line (`SweepTurn`, `sweep_turn`): it counts as one job of its owner and address, waits for a free
trainer and holds it until it ends; sweeps hold at most all trainers but one, so a training never waits
behind sweeps alone (probe 3 measured a default training at 15.1 s instead of 3.0 s beside four sweeps).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import itertools
import logging
import multiprocessing
import multiprocessing.spawn
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, TypeVar

from dashboard import training_cost
from recengine import memory
from recengine.errors import RecEngineError, TooLargeError, TrainingDiverged

T = TypeVar("T")
RUNNING, DONE, STOPPED, DIVERGED, FAILED = "running", "done", "stopped", "diverged", "failed"
# Imports only: running a model in the fork server would start OpenMP threads, and GNU OpenMP aborts a
# later fork. Workers warm up after they are forked instead.
PRELOAD = ("dashboard.jobs", "recengine.models", "recengine.evaluation.metrics")
WARM_FIRST = "wals"  # the dashboard's default model
MAX_WAITING = 3  # jobs of one owner in line behind its running one (a lesson starts up to three)
# How much lower a trainer's priority is than the server's: every click of every person is answered before a
# training's next step (a class of 40 on two cores waited 2.4 s at the 95th percentile for a click with the
# trainers at the server's priority). A training that has the machine to itself runs as fast as before. On a
# machine shared with other busy programs (a test suite's other worker) a niced trainer starves: 0 there.
NICENESS_ENV, DEFAULT_NICENESS = "RECENGINE_TRAINER_NICENESS", 10
SESSION_GRACE_SECONDS = 5.0  # a session inactive this long has ended (a tab reconnecting takes less)
KILL_AFTER_SECONDS = 5.0  # a cancelled job's worker still busy this long after the stop is killed
WATCH_SECONDS = 0.5
# Classroom mode: a training's (or a sweep's) estimated seconds (dashboard/training_cost.py) ...
CLASS_WORK_ENV, DEFAULT_CLASS_WORK = "RECENGINE_CLASS_MAX_SECONDS", 120.0
CLASS_MINUTES_ENV, DEFAULT_CLASS_MINUTES = "RECENGINE_CLASS_MAX_MINUTES", 15.0  # ... and its real time
PAST_ESTIMATE, SHORTEST_ALLOWED = 4.0, 60.0  # ... which may also be at most 4 times its estimate (>= 60 s)
LONG_JOB_SECONDS = 30.0  # without a roster, jobs estimated this long hold all trainers but one at most
# ... and the trainings running or waiting from one client address (a class behind one router shares one)
CLASS_JOBS_PER_ADDRESS_ENV, DEFAULT_CLASS_JOBS_PER_ADDRESS = "RECENGINE_CLASS_JOBS_PER_ADDRESS", 6
log = logging.getLogger(__name__)


class TooManyJobs(RecEngineError):
    """The owner already has a training running and `MAX_WAITING` waiting, or (in classroom mode) has one in
    line while its client address has `class_jobs_per_address` running or waiting."""


class TooMuchWork(RecEngineError):
    """In classroom mode, a training estimated to take longer than the ceiling; the message says what is
    allowed."""


def max_trainers() -> int:
    return max(int(os.environ.get("RECENGINE_MAX_TRAINERS", os.cpu_count() or 1)), 1)


def warm_up() -> None:
    """Start the first worker (fork server, engine imports, kernel warm-up) without waiting for it."""
    threading.Thread(target=_pool().prepare, name="trainer-warm-up", daemon=True).start()


def once(make: Callable[[], T]) -> Callable[[], T]:
    """``make()``'s result, made on the first call and shared by every later one. Unlike ``functools.cache``,
    two first calls at once make it once: six sessions' first Train clicks at the same moment made two
    schedulers, and a job admitted to one waited forever in the other's line."""
    lock, made = threading.Lock(), []

    @functools.wraps(make)
    def shared() -> T:
        with lock:
            if not made:
                made.append(make())
            return made[0]

    return shared


@once
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


@once
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
            target=_serve,
            args=(their_end, self.stop, trainer_niceness()),
            name="recengine-trainer",
            daemon=True,
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


class _Scheduler:
    """Who takes a trainer, and when: at most ``trainers`` jobs run (default `max_trainers`), one per owner,
    `MAX_WAITING` more of each owner in line, in classroom mode at most `class_jobs_per_address` running or
    waiting from one client address beyond each owner's first, and memory estimates that fit the budget together (a job alone may
    always start: its own fit refuses what does not fit).

    The line is fair: when a trainer is free, the next job is the oldest of the owner whose last start is
    oldest (an owner who never started one goes first), so one student's ten jobs wait behind everyone
    else's first. A job that does not fit the memory beside the running ones is not overtaken: it starts
    when enough of them end."""

    def __init__(self, trainers: int | None = None) -> None:
        self._trainers = trainers
        self._changed = threading.Condition()
        self._jobs: list[TrainingJob | SweepTurn] = []  # admitted and not yet finished, in order of admission
        self._running: list[TrainingJob | SweepTurn] = []
        self._last_start: dict[str, float] = {}  # owner -> when it last started (`_tick`)
        self._tickets: dict[int, float] = {}  # id(job) -> when it joined the line (`_tick`)
        self._last_tick = 0.0
        self._endings: dict[str, dict[str, Callable[[], object]]] = {}  # session -> name -> callback

    def jobs(self) -> list[TrainingJob]:
        with self._changed:
            return list(self._jobs)

    def when_ends(self, session: str, name: str, callback: Callable[[], object]) -> None:
        with self._changed:
            self._endings.setdefault(session, {})[name] = callback

    def sessions_with_endings(self) -> set[str]:
        with self._changed:
            return set(self._endings)

    def pop_endings(self, session: str) -> list[Callable[[], object]]:
        with self._changed:
            return list(self._endings.pop(session, {}).values())

    def admit(self, job: TrainingJob) -> None:
        with self._changed:
            mine = [other for other in self._jobs if job.owner and other.owner == job.owner]
            if len(mine) > MAX_WAITING:
                raise TooManyJobs(
                    f"You already have {len(mine)} trainings or sweeps started (one at a time runs, {MAX_WAITING} "
                    "may wait). Wait for one to end, or stop it, before you start another."
                )
            if job.address and in_class_mode() and mine:  # a person with nothing in line always gets a place
                limit = class_jobs_per_address()
                shared = [other for other in self._jobs if other.address == job.address]
                if len(shared) >= limit:
                    raise TooManyJobs(
                        f"{len(shared)} trainings are already running or waiting from your network address, "
                        f"and a class server takes at most {limit} from one address beyond each person's first (so "
                        "that everyone gets a turn; the computers behind one router share an address). Wait for "
                        "yours to end, or stop it, before you start another. (The teacher sets the limit with "
                        f"{CLASS_JOBS_PER_ADDRESS_ENV}.)"
                    )
            self._tickets[id(job)] = self._tick()
            self._jobs.append(job)

    def _tick(self) -> float:
        """Now (`time.monotonic`), later than every earlier tick: when a job joined the line, or started."""
        self._last_tick = max(time.monotonic(), self._last_tick + 1e-6)
        return self._last_tick

    def _rank(self, job: TrainingJob | SweepTurn, cheap_owners: bool) -> float:
        """Where ``job``'s owner stands in the fair line: their latest start; an owner never started goes
        first, except where an owner costs nothing to make (classroom mode without a roster, where each new
        workspace cookie, or each session without one, is a new person). There a newcomer stands from when
        their job joined the line, so minted cookies cannot jump ahead of classmates who trained before (probe
        7d), and its estimated seconds further back, so a classmate's short training is not queued behind
        long ones that cookies or cookieless sessions sent first (probe 8): a job stands where it would end
        had it started then."""
        started = self._last_start.get(job.owner)
        if not cheap_owners:
            return 0.0 if started is None else started
        stands = self._tickets.get(id(job), 0.0) if started is None else started
        return stands + getattr(job, "estimated_seconds", 0.0)

    def take_turn(self, job: TrainingJob) -> bool:
        """Wait until ``job`` is the next to run and a trainer is free; False when it was cancelled while
        it waited."""
        with self._changed:
            while not job.cancelled:
                if self.try_start(job):
                    return True
                self._changed.wait(WATCH_SECONDS)
            return False

    def try_start(self, job: TrainingJob | SweepTurn) -> bool:
        """Start ``job`` if it is the next to run and a trainer is free (True), else leave it in line."""
        with self._changed:
            if self.next_job() is job:
                self.start(job)
                return True
            return False

    def wait_for_change(self, seconds: float) -> None:
        """Sleep until a job starts or ends, or ``seconds`` pass."""
        with self._changed:
            self._changed.wait(seconds)

    def ahead_of(self, job: TrainingJob | SweepTurn) -> tuple[int, int]:
        """(jobs running, jobs waiting that go before ``job`` in the fair line)."""
        cheap = _owners_are_cheap()
        with self._changed:
            turns = {
                id(other): (self._rank(other, cheap), order)
                for order, other in enumerate(self._jobs)
                if other not in self._running and not other.cancelled
            }
            mine = turns.get(id(job), (0, len(self._jobs)))
            return len(self._running), sum(1 for turn in turns.values() if turn < mine)

    def next_job(self) -> TrainingJob | SweepTurn | None:
        """The job to start now, if any: the fair line's first, when a trainer is free and it fits. Sweeps
        hold at most all trainers but one (when there are two or more): one is always left for trainings.
        Where owners are cheap (`_rank`), so are long jobs: those estimated at `LONG_JOB_SECONDS` or more
        hold at most all trainers but one too, so a short training always finds one soon (probe 9b: four
        minted cookies' two-minute trainings held both, and a classmate's 1.4 s one took 44 s)."""
        cheap = _owners_are_cheap()
        with self._changed:
            trainers = self._trainers or max_trainers()
            if len(self._running) >= trainers:
                return None
            busy = {other.owner for other in self._running if other.owner}
            sweeps_full = sum(isinstance(other, SweepTurn) for other in self._running) >= max(trainers - 1, 1)
            longs_full = cheap and sum(map(_long, self._running)) >= max(trainers - 1, 1)
            waiting = [
                (self._rank(job, cheap), order, job)
                for order, job in enumerate(self._jobs)
                if job not in self._running and not job.cancelled and job.owner not in busy
                and not (sweeps_full and isinstance(job, SweepTurn)) and not (longs_full and _long(job))
            ]  # fmt: skip
            if not waiting:
                return None
            first = min(waiting, key=lambda entry: entry[:2])[2]
            return first if self._may_run(first) else None

    def start(self, job: TrainingJob | SweepTurn) -> None:
        """Count ``job`` as running (its owner's latest start) and let the next in line look."""
        with self._changed:
            self._running.append(job)
            self._last_start[job.owner] = self._tick()
            self._changed.notify_all()

    def _may_run(self, job: TrainingJob) -> bool:
        if not self._running:
            return True
        reserved = sum(other.memory_needed for other in self._running)
        budget = memory.budget_bytes()
        if budget is None:
            return True
        if not os.environ.get(memory.ENV, "").strip():  # what they hold is already missing from "available"
            budget += int(reserved * memory.DEFAULT_SHARE)
        return reserved + job.memory_needed <= budget

    def done(self, job: TrainingJob) -> None:
        with self._changed:
            for line in (self._jobs, self._running):
                if job in line:
                    line.remove(job)
            self._tickets.pop(id(job), None)
            self._forget_old_starts()
            self._changed.notify_all()

    def _forget_old_starts(self) -> None:
        """Drop the last starts of owners with no job left that are older than every owner's in line: such
        an owner coming back is in line as one who never started, which changes no one's turn. Not where
        owners are cheap (`_rank`): a newcomer stands from when they joined the line there, so a forgotten
        owner would lose their place; there only the oldest beyond `KEPT_STARTS` owners are forgotten."""
        if _owners_are_cheap():
            if len(self._last_start) > KEPT_STARTS:
                for owner in sorted(self._last_start, key=self._last_start.get)[:-KEPT_STARTS]:
                    del self._last_start[owner]
            return
        in_line = {job.owner for job in self._jobs}
        oldest = min((self._last_start.get(owner, 0) for owner in in_line), default=None)
        for owner in [owner for owner in self._last_start if owner not in in_line]:
            if oldest is None or self._last_start[owner] < oldest:
                del self._last_start[owner]


@once
def _scheduler() -> _Scheduler:
    """The server's line of jobs (shared on purpose, like the pool; a condition guards it)."""
    scheduler = _Scheduler()
    threading.Thread(target=_watch_sessions, args=(scheduler,), name="trainer-watchdog", daemon=True).start()
    return scheduler


def session_alive(session_id: str) -> bool:
    """Whether Streamlit's runtime counts ``session_id`` as a connected session (True without a runtime:
    a test, a script)."""
    from streamlit.runtime import Runtime

    try:
        return not Runtime.exists() or bool(Runtime.instance().is_active_session(session_id))
    except RuntimeError:  # the runtime went away between the two calls (a test's, or at exit)
        return True


def when_session_ends(name: str, callback: Callable[[], object], session_id: str | None = None) -> None:
    """Call ``callback`` once the session (default: the one running this code) has been gone for
    `SESSION_GRACE_SECONDS` and its trainings have ended; ``name`` replaces an earlier callback of the same
    name. Outside a session, nothing is watched."""
    session = current_session() if session_id is None else session_id
    if session:
        _scheduler().when_ends(session, name, callback)


def _watch_sessions(scheduler: _Scheduler) -> None:
    """Forever: cancel the jobs of sessions gone for `SESSION_GRACE_SECONDS` and jobs past the class time
    limit; kill the workers of cancelled jobs still busy `KILL_AFTER_SECONDS` later; call the callbacks of
    sessions gone whose jobs have all ended."""
    gone_since: dict[str, float] = {}
    while True:
        time.sleep(WATCH_SECONDS)
        try:
            _look_at(scheduler.jobs(), gone_since, time.monotonic(), scheduler)
        except Exception:  # never let the watchdog die: log it and look again
            log.exception("the trainer watchdog failed")


def _look_at(
    jobs: list[TrainingJob], gone_since: dict[str, float], now: float, scheduler: _Scheduler
) -> None:
    sessions = {job.session_id for job in jobs if job.session_id} | scheduler.sessions_with_endings()
    for session in list(gone_since):
        if session not in sessions:
            del gone_since[session]
    for session in sessions:
        if session_alive(session):
            gone_since.pop(session, None)
        else:
            gone_since.setdefault(session, now)
    limit = class_minutes() * 60 if in_class_mode() else None
    from dashboard.classroom import let_go

    for job in jobs:
        if job.session_id in gone_since and now - gone_since[job.session_id] >= SESSION_GRACE_SECONDS:
            job.cancel("its browser tab was closed")
        elif limit is not None and job.session_id and let_go(job.session_id):
            job.cancel("its session was signed out (a new join code, or Sign out)")  # nobody's place in line
        elif limit is not None and job.running_since is not None and now - job.running_since > limit:
            job.cancel(
                f"it ran longer than the {class_minutes():g} minutes a training may take in class", keep=True
            )
        elif limit is not None and job.running_since is not None and now - job.running_since > overrun(job):
            job.cancel(
                f"it ran {PAST_ESTIMATE:g} times longer than its estimated {_duration(job.estimated_seconds)}, "
                "which class trainings may not (these settings cost more than estimated: choose fewer factors, "
                "epochs or smaller batches)",
                keep=True,
            )
        if job.cancelled_at is not None and now - job.cancelled_at >= KILL_AFTER_SECONDS:
            job.kill_worker()
    busy = {job.session_id for job in jobs}
    for session in scheduler.sessions_with_endings() - busy:
        if session in gone_since and now - gone_since[session] >= SESSION_GRACE_SECONDS:
            for callback in scheduler.pop_endings(session):
                try:
                    callback()
                except Exception:  # one failing clean-up must not keep the others from running
                    log.exception("a clean-up at the end of a session failed")


KEPT_STARTS = 20_000  # owners' last starts kept where owners are cheap (`_Scheduler._forget_old_starts`)


def _owners_are_cheap() -> bool:
    """Classroom mode without a class roster: an owner is a workspace cookie, which costs one request."""
    if not in_class_mode():
        return False
    from dashboard import roster

    return not roster.in_use()


def in_class_mode() -> bool:
    from dashboard.classroom import class_password

    return class_password() is not None


def _positive(variable: str, default: float) -> float:
    try:
        value = float(os.environ.get(variable, "").strip() or default)
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default


def trainer_niceness() -> int:
    """``RECENGINE_TRAINER_NICENESS``: how much lower than the server's a new trainer's priority is, 0 to 19
    (the default when the variable is not such a whole number)."""
    text = os.environ.get(NICENESS_ENV, "").strip()
    try:
        value = int(text) if text else DEFAULT_NICENESS
    except ValueError:
        return DEFAULT_NICENESS
    return value if 0 <= value <= 19 else DEFAULT_NICENESS


def _long(job: Any) -> bool:
    """Whether ``job`` is estimated at `LONG_JOB_SECONDS` or more."""
    return float(getattr(job, "estimated_seconds", 0.0) or 0.0) >= LONG_JOB_SECONDS


def overrun(job: Any) -> float:
    """Seconds a class job may run: `PAST_ESTIMATE` times its estimate (at least `SHORTEST_ALLOWED`), so a
    setting the cost model prices too low would hold a trainer a few times the ceiling at most, not
    ``RECENGINE_CLASS_MAX_MINUTES``. (Probe 9 timed 13 hostile settings: the worst took 1.44 times its
    estimate, Bayesian MF with 100 factors; most took a quarter or less.) No estimate: no such limit."""
    estimated = float(getattr(job, "estimated_seconds", 0.0) or 0.0)
    return max(PAST_ESTIMATE * estimated, SHORTEST_ALLOWED) if estimated > 0 else float("inf")


def class_max_work() -> float:
    return _positive(CLASS_WORK_ENV, DEFAULT_CLASS_WORK)


def class_minutes() -> float:
    return _positive(CLASS_MINUTES_ENV, DEFAULT_CLASS_MINUTES)


def class_jobs_per_address() -> int:
    return max(int(_positive(CLASS_JOBS_PER_ADDRESS_ENV, DEFAULT_CLASS_JOBS_PER_ADDRESS)), 1)


def _resized(model: Any, n_factors: int | None = None, n_epochs: int | None = None) -> Any:
    """A stand-in for ``model`` with other factors or epochs, for the cost model only (not validated)."""
    params = model.params
    fields = {field.name: getattr(params, field.name) for field in dataclasses.fields(params)}
    if n_factors is not None:
        fields["n_factors"] = n_factors
    epochs = training_cost.epochs(model) if n_epochs is None else n_epochs
    return SimpleNamespace(name=getattr(model, "name", ""), params=SimpleNamespace(**fields), n_epochs=epochs)


def _duration(seconds: float) -> str:
    """``1 second``, ``90 seconds``, ``3 minutes``."""
    if seconds >= 120:
        return f"{seconds / 60:,.0f} minutes"
    return "1 second" if round(seconds) == 1 else f"{seconds:,.0f} seconds"


def _largest(fits: Callable[[int], bool], high: int) -> int:
    """The largest k in 1..``high`` with ``fits(k)`` (``fits`` true up to some k, false above); 0 if none."""
    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def job_seconds(model: Any, train: Any, ranked_users: int = 0) -> float:
    """A job's estimated seconds: its fit, and the ranking of ``ranked_users`` users over every item of
    ``train`` that evaluates it (a training's test metrics, a sweep fold's)."""
    ranking = training_cost.ranking_seconds(model, ranked_users, train.n_items) if ranked_users else 0.0
    return training_cost.seconds(model, train) + ranking


def _most_epochs(model: Any, train: Any, limit: float, ranked_users: int) -> int:
    """The most epochs within ``limit`` seconds, after what is done once (an SVD start, the ranking)."""
    one, two = (job_seconds(_resized(model, n_epochs=n), train, ranked_users) for n in (1, 2))
    per_epoch = max(two - one, 1e-12)
    return int((limit - (one - per_epoch)) // per_epoch)


def _allowed(model: Any, train: Any, limit: float, ranked_users: int = 0) -> str:
    """What fits the ceiling: as many epochs with these factors, or as many factors with these epochs."""
    params = model.params
    factors, has_epochs = int(getattr(params, "n_factors", 0) or 0), hasattr(params, "n_epochs")
    epochs = training_cost.epochs(model)
    options = []
    if has_epochs and (most := _most_epochs(model, train, limit, ranked_users)) >= 1:
        options.append(
            f"{factors:,} factors for at most {most:,} epochs" if factors else f"at most {most:,} epochs"
        )
    fits = lambda k: job_seconds(_resized(model, n_factors=k), train, ranked_users) <= limit  # noqa: E731
    if factors > 1 and (most := _largest(fits, factors - 1)):
        options.append(
            f"{epochs:,} epochs with at most {most:,} factors" if has_epochs else f"at most {most:,} factors"
        )
    if options:
        return " or ".join(options)
    larger_batches = "a larger batch size (batch_size), or " if hasattr(params, "batch_size") else ""
    return f"{larger_batches}on a smaller data set (filter it on the Data page)"


def _ranking_text(users: int, items: int) -> str:
    return f"ranking {users:,} {'user' if users == 1 else 'users'} over {items:,} items"


def check_sweep_work(
    algo: str, grid: dict[str, list[Any]], data: Any, folds: int, ranked_users: int | None = None
) -> float:
    """In classroom mode, refuse a cross-validated sweep whose fits and rankings together would take longer
    than `class_max_work` seconds by the cost model (it runs in the page's own thread, holding one trainer's
    turn, so its whole time is bounded, not each fit's); else its estimated seconds (0 outside classroom
    mode). Each fold ranks ``ranked_users`` (a sample; every user when None) over every item."""
    if not in_class_mode():
        return 0.0
    from recengine.models import make

    train = SimpleNamespace(
        n_ratings=max(int(data.n_ratings * (folds - 1) / max(folds, 1)), 1),
        n_users=data.n_users,
        n_items=data.n_items,
    )
    users = data.n_users if ranked_users is None else min(ranked_users, data.n_users)
    total, ranking, fits = 0.0, 0.0, 0
    for values in itertools.product(*grid.values()):
        try:
            model = make(algo, **dict(zip(grid, values, strict=True)))
        except RecEngineError:  # the sweep reports a refused setting itself
            continue
        total, fits = total + job_seconds(model, train, users) * folds, fits + folds
        ranking += training_cost.ranking_seconds(model, users, data.n_items) * folds
    limit = class_max_work()
    if total > limit:
        raise TooMuchWork(
            f"This sweep is too large for a class server: its {fits:,} fits, each scored by "
            f"{_ranking_text(users, data.n_items)}, would take about {_duration(total)} here ("
            f"{_duration(ranking)} of it ranking), and a sweep may take {_duration(limit)}. Choose fewer or "
            "smaller values (fewer factors rank faster), or fewer folds, or filter out rarely rated items on "
            f"the Data page. (The teacher sets the limit with {CLASS_WORK_ENV}, in seconds.)"
        )
    return total


def check_class_work(model: Any, train: Any, ranked_users: int = 0) -> float:
    """In classroom mode, refuse a training that would take longer than `class_max_work` seconds by the
    cost model (dashboard/training_cost.py), its test metrics' ranking of ``ranked_users`` users over every
    item counted, saying what is allowed; else its estimated seconds (0 outside classroom mode)."""
    if not in_class_mode() or train is None:
        return 0.0
    needed, limit = job_seconds(model, train, ranked_users), class_max_work()
    if needed <= limit:
        return needed
    params = getattr(model, "params", None)
    parts = {"n_factors": "with {:,} factors", "n_epochs": "for {:,} epochs"}
    what = " ".join(
        text.format(getattr(params, name)) for name, text in parts.items() if hasattr(params, name)
    )
    ranking = training_cost.ranking_seconds(model, ranked_users, train.n_items) if ranked_users else 0.0
    measured = (
        f" ({_duration(ranking)} of it for the test metrics, {_ranking_text(ranked_users, train.n_items)})"
        if ranking >= 1
        else ""
    )
    no_test = " or hold out nothing (no test metrics)" if ranking > limit / 2 else ""
    raise TooMuchWork(
        f"This training is too large for a class server: {getattr(model, 'name', 'this model')} {what} "
        f"on {int(train.n_ratings):,} ratings would take about {_duration(needed)} here{measured}, and each "
        f"training may take {_duration(limit)}. "
        f"Train {_allowed(model, train, limit, ranked_users)}{no_test}. "
        f"(The teacher sets the limit with {CLASS_WORK_ENV}, in seconds.)"
    )


def _most_factors_within(model: Any, train: Any, share: int) -> int:
    """The most factors (below the model's own) whose memory estimate fits ``share``; 0 when none does or the
    model has no factors."""
    factors = int(getattr(getattr(model, "params", None), "n_factors", 0) or 0)

    def fits(k: int) -> bool:
        return type(model)(dataclasses.replace(model.params, n_factors=k)).memory_estimate(train) <= share

    return _largest(fits, factors - 1) if factors > 1 else 0


def check_class_memory(needed: int, model: Any, train: Any) -> None:
    """In classroom mode, refuse a training whose memory estimate exceeds its share of the budget (the
    budget divided among the trainers), saying how to make it fit."""
    budget = memory.budget_bytes() if in_class_mode() and train is not None else None
    if budget is None:
        return
    trainers = max_trainers()
    share = budget // trainers
    if needed <= share:
        return
    most = _most_factors_within(model, train, share)
    smaller = f"at most {most:,} factors (n_factors)" if most else "fewer factors (n_factors)"
    raise TooLargeError(
        f"This training would need about {memory.format_size(needed)} of memory, and in class each training "
        f"may use {memory.format_size(share)} (the memory budget, {memory.format_size(budget)}, shared by "
        f"{trainers} trainers). Train with {smaller} or dtype float32, or on a smaller data set (filter it "
        f"on the Data page)."
    )


def current_session() -> str:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:
        return ""
    context = get_script_run_ctx(suppress_warning=True)
    return context.session_id if context is not None else ""


def _client_address() -> str:
    """The client address the per-address limit counts for the session running this code, as the class
    password's tries count it (``localhost`` for a local browser; empty outside a session, or when a class
    roster names the person: see `dashboard.classroom.counted_address`)."""
    if not current_session():
        return ""
    from dashboard.classroom import counted_address

    try:
        return counted_address()
    except Exception:  # no connection context (a test's script run)
        return ""


def _default_owner(session: str) -> str:
    """Whom a job counts for: in classroom mode the person (their workspace, across their tabs), else the
    session."""
    if session and in_class_mode():
        from dashboard.profiles import current_owner

        return current_owner() or session
    return session


class TrainingJob:
    """Fits ``model`` on ``train`` (validating on ``valid``) in a worker process.

    ``measure(model)`` (optional, picklable) runs in the worker after the fit and fills ``metrics``; then
    ``finish(job)`` runs in the server and its return value lands in ``result`` (also after a divergence:
    ``error`` is then the `TrainingDiverged` with the curve up to it). ``records`` grows by one
    dict per epoch while the job runs. ``shortcut()`` (optional) is asked once a trainer is free, before
    training: a value it returns becomes the ``result`` instead (another session trained the same
    configuration while this job waited).

    ``owner`` (default: the session; in classroom mode the person, by their workspace) is whom the
    per-owner limits and the fair line count the job for; ``address`` (default: the session's client address)
    is what the per-address limit counts; ``session_id`` (the session creating the job) is the one whose end
    cancels it. ``ranked_users`` is how many users ``measure`` ranks over every item (priced with the fit).
    In classroom mode a job beyond the time ceiling (fit and measure) raises `TooMuchWork` here, one beyond
    its share of the memory budget `TooLargeError`, and `start` raises `TooManyJobs` beyond `MAX_WAITING` or
    the per-address limit.
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
        owner: str | None = None,
        address: str | None = None,
        ranked_users: int = 0,
    ):
        self.estimated_seconds = check_class_work(model, train, ranked_users if measure is not None else 0)
        self.session_id = current_session()
        self.owner = owner if owner is not None else _default_owner(self.session_id)
        self.address = address if address is not None else _client_address()
        estimate = getattr(model, "memory_estimate", None)
        self.memory_needed = int(estimate(train)) if callable(estimate) and train is not None else 0
        check_class_memory(self.memory_needed, model, train)
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
        self.cancelled_at: float | None = None  # time.monotonic() of `cancel`
        self._keep_cancelled = False
        self.running_since: float | None = None  # time.monotonic() when it took a trainer
        self._stop_flag = threading.Event()
        self._worker: _Worker | None = None  # while the job has one: where request_stop signals
        self._worker_lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name=f"train-{self.label}", daemon=True)

    def start(self) -> TrainingJob:
        _scheduler().admit(self)
        self._thread.start()
        return self

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    def cancel(self, why: str, keep: bool = False) -> None:
        """End the job for good (its session ended, or it ran too long): it stops after the epoch under way,
        and the watchdog's `kill_worker` ends a worker that does not stop. Nothing of it is kept, unless
        ``keep``: then a model that stopped is finished as after Stop."""
        if self.cancelled_at is None:
            self.message = f"Training cancelled: {why}."
            self.cancelled_at, self._keep_cancelled = time.monotonic(), keep
        self.request_stop()

    def kill_worker(self) -> None:
        with self._worker_lock:
            if self._worker is not None and self._worker.process.is_alive():
                self._worker.process.kill()

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
        scheduler = _scheduler()
        try:
            if not scheduler.take_turn(self):
                self.status = STOPPED
                return
            with _pool().worker() as worker:
                if self.cancelled:  # while it waited for a free trainer
                    self.status = STOPPED
                    return
                self.running_since = time.monotonic()
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
            scheduler.done(self)

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
        if self.cancelled and not (self._keep_cancelled and kind in ("done", "diverged")):
            self.status = STOPPED  # nobody is waiting for it, or its worker had to be killed: nothing kept
            return
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


class SweepCancelled(RecEngineError):
    """A sweep ended by the watchdog: its tab closed, or (in classroom mode) it ran past the time limit."""


class SweepTurn:
    """A cross-validated sweep's place in the trainers' line. The sweep runs in the server (the page's own
    thread), but it waits for its turn like a training and holds a trainer while it runs, so the per-owner,
    per-address, fair-line and memory rules hold for sweeps too, and at most ``max_trainers()`` trainings and
    sweeps run at once. ``owner``, ``address`` and ``session_id`` are those of a `TrainingJob`;
    ``memory_needed`` is the largest setting's estimate on the whole data set (a fold's is smaller)."""

    def __init__(
        self,
        label: str,
        memory_needed: int = 0,
        owner: str | None = None,
        address: str | None = None,
        estimated_seconds: float = 0.0,
    ) -> None:
        self.estimated_seconds = estimated_seconds
        self.session_id = current_session()
        self.owner = owner if owner is not None else _default_owner(self.session_id)
        self.address = address if address is not None else _client_address()
        self.label, self.memory_needed = label, memory_needed
        self.waiting = True
        self.running_since: float | None = None  # time.monotonic() when it took a trainer
        self.cancelled_at: float | None = None
        self.message = ""

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    def cancel(self, why: str, keep: bool = False) -> None:
        """Have the sweep end at its next `check` (after the fit under way): nothing of it is kept."""
        if self.cancelled_at is None:
            self.message = f"Sweep cancelled: {why}."
            self.cancelled_at = time.monotonic()

    def kill_worker(self) -> None:
        """Nothing to kill: the sweep has no worker, its fits are each bounded and it stops at `check`."""

    def check(self) -> None:
        """Raise `SweepCancelled` once the sweep was cancelled (called between fits)."""
        if self.cancelled:
            raise SweepCancelled(self.message)


def sweep_memory(algo: str, grid: dict[str, list[Any]], data: Any) -> int:
    """The largest memory estimate among the sweep's settings on ``data`` (refused settings count 0)."""
    from recengine.models import make

    needed = 0
    for values in itertools.product(*grid.values()):
        with contextlib.suppress(RecEngineError):  # the sweep reports a refused setting itself
            model = make(algo, **dict(zip(grid, values, strict=True)))
            needed = max(needed, int(model.memory_estimate(data)))
    return needed


@contextlib.contextmanager
def like_a_trainer() -> Iterator[None]:
    """Run the block as a trainer runs: on this thread alone (one numba, BLAS and OpenMP thread) at the
    trainers' lower priority (`trainer_niceness`), so work a page does in the server (a sweep's fits, a map)
    waits for every click and no longer than a training for a core. A sweep at the server's priority on both
    cores made a classmate's 2.5 s training take 7.5 to 12.5 s (probe 8b). The lowered priority lasts for
    the rest of the thread's life: Streamlit gives each script run a thread of its own, and only a privileged
    process may raise it again."""
    import numba
    from threadpoolctl import threadpool_limits

    with contextlib.suppress(
        OSError, AttributeError
    ):  # a system without per-thread priorities runs as it did
        thread = threading.get_native_id()
        lowered = min(os.getpriority(os.PRIO_PROCESS, thread) + trainer_niceness(), 19)
        os.setpriority(os.PRIO_PROCESS, thread, lowered)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        numba.set_num_threads(before)


@contextlib.contextmanager
def sweep_turn(turn: SweepTurn, waiting: Callable[[SweepTurn, int, int], object]) -> Iterator[SweepTurn]:
    """Put ``turn`` in the trainers' line (`TooManyJobs` beyond the per-owner or per-address limits), call
    ``waiting(turn, running, ahead)`` about twice a second until it is its turn (the page says so there; a
    Streamlit Stop or rerun raised there leaves the line), then hold a trainer for the block, given back
    however it ends. Raises `SweepCancelled` when the watchdog cancels it while it waits."""
    scheduler = _scheduler()
    scheduler.admit(turn)
    try:
        while not scheduler.try_start(turn):
            turn.check()
            waiting(turn, *scheduler.ahead_of(turn))
            scheduler.wait_for_change(WATCH_SECONDS)
        turn.waiting, turn.running_since = False, time.monotonic()
        yield turn
    finally:
        scheduler.done(turn)


# --- in a worker process --------------------------------------------------------------------------------


def _serve(connection: Any, stop: Any, niceness: int) -> None:
    """A worker's life: lower its priority by ``niceness``, warm up while nobody waits, then train what
    arrives until the server closes the pipe."""
    with contextlib.suppress(OSError):  # a system that refuses changes nothing: trainers run as they did
        os.nice(niceness)
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
