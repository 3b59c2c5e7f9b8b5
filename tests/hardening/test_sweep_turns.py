"""Probe 3, finding 6: sweeps take turns with the trainings. A sweep runs in the server, but waits in the
trainers' line and holds a trainer while it runs: one running per owner, the fair line, the per-address limit
in classroom mode, and at most the trainers' number of trainings and sweeps at once. No worker processes: the
trainings here are admitted and ended by hand, the sweeps are real (a tiny grid on a tiny planted matrix)."""

from __future__ import annotations

import pytest

from dashboard import jobs
from dashboard.jobs import MAX_WAITING, SweepCancelled, SweepTurn, TooManyJobs, TrainingJob, _Scheduler
from recengine.data.synthetic import planted_low_rank
from recengine.evaluation.tuning import grid_search
from recengine.models import make


@pytest.fixture
def line(monkeypatch: pytest.MonkeyPatch) -> _Scheduler:
    """A line of two trainers, the server's for this test; no class password, no browser session."""
    scheduler = _Scheduler(trainers=2)
    monkeypatch.setattr(jobs, "_scheduler", lambda: scheduler)
    monkeypatch.setattr(jobs, "current_session", lambda: "")
    monkeypatch.delenv("RECENGINE_CLASS_PASSWORD", raising=False)
    monkeypatch.delenv(jobs.CLASS_JOBS_PER_ADDRESS_ENV, raising=False)
    monkeypatch.setenv("RECENGINE_MEMORY_BUDGET", "1GB")
    return scheduler


@pytest.fixture(scope="module")
def small():
    return planted_low_rank(n_users=30, n_items=20, rank=2, density=0.5, seed=3)[0]


def training(owner: str, data, address: str = "") -> TrainingJob:
    return TrainingJob(make("baseline"), data, None, finish=lambda job: None, owner=owner, address=address)


def running(scheduler: _Scheduler) -> list[str]:
    return sorted(job.owner for job in scheduler._running)


def test_sweeps_and_trainings_take_turns_one_per_owner_in_the_fair_line(line, small):
    """Three trainers. Ann and Dan train; Ann's sweep waits for her training although a trainer is free;
    Bob's first sweep takes that trainer, his second (another tab) waits; Cat's sweep, last to come and never
    started before, goes first when Ann's training ends; then Ann's (her last start older than Bob's), then
    Bob's second."""
    line._trainers = 3
    started: list[str] = []

    def start_what_may(*candidates):
        for job in candidates:
            if line.try_start(job):
                started.append(job.label)
                assert len(line._running) <= 3
                assert len(set(running(line))) == len(line._running), "two of one owner run at once"

    trainings = {name: training(name.split()[0], small) for name in ("ann trains", "dan trains")}
    for label, job in trainings.items():
        job.label = label
        line.admit(job)
    sweeps = {name: SweepTurn(name, owner=name.split()[0]) for name in ("ann 1", "bob 1", "bob 2", "cat 1")}
    for turn in sweeps.values():
        line.admit(turn)
    start_what_may(*trainings.values(), *sweeps.values())
    assert started == ["ann trains", "dan trains", "bob 1"]
    assert sweeps["ann 1"].waiting and line.ahead_of(sweeps["cat 1"]) == (3, 0)
    assert line.ahead_of(sweeps["ann 1"]) == (3, 1) and line.ahead_of(sweeps["bob 2"]) == (3, 2)

    for ended in (trainings["ann trains"], sweeps["bob 1"], sweeps["cat 1"]):
        line.done(ended)
        start_what_may(*sweeps.values())
    assert started == ["ann trains", "dan trains", "bob 1", "cat 1", "ann 1", "bob 2"]


def test_sweeps_leave_one_trainer_for_the_trainings(line, small):
    """Two trainers: Ann's sweep runs, Bob's waits although a trainer is free, and Cat's training, asked for
    after both, starts at once. With one trainer, a sweep still runs."""
    ann, bob, cat = SweepTurn("sweep", owner="ann"), SweepTurn("sweep", owner="bob"), training("cat", small)
    for job in (ann, bob, cat):
        line.admit(job)
    assert line.try_start(ann) and not line.try_start(bob) and line.try_start(cat)
    line.done(ann)
    assert line.try_start(bob)

    alone = _Scheduler(trainers=1)
    dan = SweepTurn("sweep", owner="dan")
    alone.admit(dan)
    assert alone.try_start(dan)


def test_a_sweep_counts_against_the_per_owner_and_per_address_limits(line, small, monkeypatch):
    for number in range(MAX_WAITING + 1):
        line.admit(training("ann", small) if number % 2 else SweepTurn("sweep", owner="ann"))
    with pytest.raises(TooManyJobs, match="You already have 4 trainings or sweeps started"):
        line.admit(SweepTurn("one more", owner="ann"))

    monkeypatch.setattr(jobs, "in_class_mode", lambda: True)
    monkeypatch.setenv(jobs.CLASS_JOBS_PER_ADDRESS_ENV, "2")
    line.admit(training("bob", small, address="10.0.0.7"))
    line.admit(SweepTurn("sweep", owner="bob", address="10.0.0.7"))
    with pytest.raises(TooManyJobs, match="2 trainings are already running or waiting from your network"):
        line.admit(SweepTurn("sweep", owner="bob", address="10.0.0.7"))
    line.admit(SweepTurn("sweep", owner="dan", address="10.0.0.7"))  # another person there: queued


def test_a_sweep_waits_for_a_trainer_says_so_then_holds_it_until_it_ends(line, small):
    """One trainer, held by Bob's training: Ann's sweep waits (the page is told, twice a second) until it
    ends; while the sweep runs Cat's training waits; after it, the trainer is free for Cat."""
    line._trainers = 1
    bob, cat = training("bob", small), training("cat", small)
    line.admit(bob)
    assert line.try_start(bob)
    told: list[tuple[int, int]] = []

    def waiting(turn: SweepTurn, running: int, ahead: int) -> None:
        told.append((running, ahead))
        if len(told) == 2:
            line.done(bob)  # Bob's training ends while the sweep waits

    turn = SweepTurn("sweep", owner="ann")
    with jobs.sweep_turn(turn, waiting):
        assert not turn.waiting and running(line) == ["ann"]
        line.admit(cat)
        grid = {"reg_item": [1.0, 10.0]}
        table = grid_search("baseline", grid, small, cv=2, progress=lambda *_: turn.check())
        assert not line.try_start(cat)
    assert told == [(1, 0), (1, 0)] and len(table) == 4 and table["error"].isna().all()
    assert line.jobs() == [cat] and line.try_start(cat)


def test_a_cancelled_sweep_ends_after_its_fit_and_frees_its_trainer(line, small):
    """The watchdog cancels a sweep whose tab closed: it stops at the next fit's end, with a message."""
    turn = SweepTurn("sweep", owner="ann")
    fits: list[int] = []

    def advanced(done: int, total: int) -> None:
        fits.append(done)
        if done == 1:
            turn.cancel("its browser tab was closed")
        turn.check()

    cancelled = pytest.raises(SweepCancelled, match="Sweep cancelled: its browser tab was closed")
    with cancelled, jobs.sweep_turn(turn, lambda *_: None):
        grid_search("baseline", {"reg_item": [1.0, 10.0]}, small, cv=2, progress=advanced)
    assert fits == [1] and line.jobs() == []


def test_a_waiting_sweep_of_a_closed_tab_leaves_the_line(line, small, monkeypatch):
    """A sweep waiting when its session has been gone past the grace time is cancelled by the watchdog's
    look and leaves the line without running."""
    line._trainers = 1
    bob = training("bob", small)
    line.admit(bob)
    line.try_start(bob)
    monkeypatch.setattr(jobs, "current_session", lambda: "closed-tab")
    monkeypatch.setattr(jobs, "session_alive", lambda session: session != "closed-tab")
    turn = SweepTurn("sweep", owner="ann")
    gone_since = {"closed-tab": 0.0}

    def waiting(turn: SweepTurn, running: int, ahead: int) -> None:
        jobs._look_at(line.jobs(), gone_since, jobs.SESSION_GRACE_SECONDS + 1, line)

    with pytest.raises(SweepCancelled, match="its browser tab was closed"), jobs.sweep_turn(turn, waiting):
        pytest.fail("a cancelled sweep ran")
    assert line.jobs() == [bob]
