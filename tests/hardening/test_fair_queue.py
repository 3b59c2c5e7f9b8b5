"""Issue 23, point 4, and issue 25, point 2: the trainers are shared fairly. When a trainer frees, the next
job is that of the owner whose last start is oldest (an owner never started goes first), one running per
owner; in classroom mode one client address holds at most a few jobs running or waiting. Fake jobs on the
scheduler, no processes: each case is a simulation in steps of time."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from outcomes import tally

from dashboard import jobs
from dashboard.jobs import MAX_WAITING, TooManyJobs, _Scheduler

JOB_STEPS = 2  # a training takes two steps of time


@dataclass(eq=False)
class FakeJob:
    owner: str
    address: str = ""
    memory_needed: int = 0
    cancelled: bool = False
    admitted_at: int = 0
    started_at: int | None = None
    estimated_seconds: float = 0.0


class FirstComeFirstServed(_Scheduler):
    """The line in order of admission (one running per owner): what a fair line must beat."""

    def next_job(self):
        if len(self._running) >= self._trainers:
            return None
        busy = {job.owner for job in self._running}
        waiting = [job for job in self._jobs if job not in self._running and job.owner not in busy]
        return waiting[0] if waiting else None


def simulate(scheduler: _Scheduler, wishes: dict[int, list[str]], steps: int = 60) -> list[FakeJob]:
    """Run the class: at step t the owners in ``wishes[t]`` each want one more training (an owner refused
    for too many keeps asking each step); trainings end `JOB_STEPS` after they start. All jobs, in order."""
    wanted: list[tuple[str, int]] = []
    made: list[FakeJob] = []
    ends: dict[FakeJob, int] = {}
    for now in range(steps):
        for job in [job for job, end in ends.items() if end == now]:
            scheduler.done(job)
            del ends[job]
        wanted += [(owner, now) for owner in wishes.get(now, [])]
        for owner, since in list(wanted):
            job = FakeJob(owner, admitted_at=since)
            try:
                scheduler.admit(job)
            except TooManyJobs:
                continue
            wanted.remove((owner, since))
            made.append(job)
        while (job := scheduler.next_job()) is not None:
            scheduler.start(job)
            job.started_at, ends[job] = now, now + JOB_STEPS
    return made


def overtaken(made: list[FakeJob], owner: str) -> int:
    """Others' jobs that started while ``owner``'s first job waited."""
    first = next(job for job in made if job.owner == owner)
    assert first.started_at is not None, f"{owner} never trained"
    return sum(
        1
        for job in made
        if job.owner != owner and job.started_at is not None
        and first.admitted_at <= job.started_at and job.started_at < first.started_at
    )  # fmt: skip


@pytest.fixture(autouse=True)
def no_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECENGINE_CLASS_PASSWORD", raising=False)
    monkeypatch.delenv(jobs.CLASS_JOBS_PER_ADDRESS_ENV, raising=False)
    monkeypatch.setenv("RECENGINE_MEMORY_BUDGET", "1GB")


def class_arriving() -> dict[int, list[str]]:
    """One student wants ten trainings at once; nine others arrive one a step, one training each."""
    return {0: ["greedy"] * 10} | {step: [f"student-{step}"] for step in range(1, 10)}


def test_one_owners_ten_jobs_do_not_hold_back_the_others():
    made = simulate(_Scheduler(trainers=2), class_arriving())
    waits = {owner: overtaken(made, owner) for owner in sorted({job.owner for job in made})}
    assert max(waits.values()) <= 3, waits
    greedy = [job for job in made if job.owner == "greedy"]
    assert len(greedy) == 10 and all(job.started_at is not None for job in greedy)  # it still trains all
    tally("trainers", "10 owners, one with 10 jobs, 2 trainers", f"longest wait {max(waits.values())} jobs")


def test_all_arriving_at_once_everyones_first_goes_before_anyones_second():
    made = simulate(_Scheduler(trainers=2), {0: ["greedy"] * 10 + [f"student-{n}" for n in range(1, 10)]})
    firsts = {}
    for job in made:
        firsts.setdefault(job.owner, job)
    seconds = [job for job in made if firsts[job.owner] is not job]
    assert max(job.started_at for job in firsts.values()) <= min(job.started_at for job in seconds)


def test_first_come_first_served_would_have_made_them_wait():
    """The scenario is one a plain line fails: the greedy owner's queued jobs go before the others."""
    made = simulate(FirstComeFirstServed(trainers=2), class_arriving())
    assert max(overtaken(made, f"student-{step}") for step in range(1, 10)) > 3


def test_the_owner_whose_last_start_is_oldest_goes_next():
    scheduler = _Scheduler(trainers=1)
    first_a, second_a, first_b, first_c = (FakeJob(owner) for owner in "aabc")
    for job in (first_a, second_a, first_b, first_c):
        scheduler.admit(job)
    started = []
    for _ in range(4):
        job = scheduler.next_job()
        assert job is not None and scheduler.next_job() is job  # asking again changes nothing
        scheduler.start(job)
        assert scheduler.next_job() is None  # the one trainer is busy
        started.append(job)
        scheduler.done(job)
    assert started == [first_a, first_b, first_c, second_a]


def test_each_owner_runs_one_at_a_time_and_cancelled_jobs_are_skipped():
    scheduler = _Scheduler(trainers=2)
    first, second, other = FakeJob("a"), FakeJob("a"), FakeJob("b", cancelled=True)
    for job in (first, second, other):
        scheduler.admit(job)
    scheduler.start(scheduler.next_job())
    assert scheduler.next_job() is None  # a's second waits for its first; b's was cancelled
    scheduler.done(first)
    assert scheduler.next_job() is second


def test_in_class_one_address_holds_a_few_jobs_running_or_waiting(monkeypatch):
    """Two browser contexts of one student are two owners: together they may not fill the line."""
    scheduler = _Scheduler(trainers=2)
    laptop = [FakeJob(f"context-{n % 2}", address="10.0.0.7") for n in range(2 * (1 + MAX_WAITING))]
    for job in laptop:
        scheduler.admit(job)  # no class password: the operator's own machine
    monkeypatch.setenv("RECENGINE_CLASS_PASSWORD", "tulip-42")
    scheduler = _Scheduler(trainers=2)
    for job in laptop[: jobs.DEFAULT_CLASS_JOBS_PER_ADDRESS]:
        scheduler.admit(job)
    with pytest.raises(TooManyJobs) as refused:
        scheduler.admit(FakeJob("context-1", address="10.0.0.7"))
    message = str(refused.value)
    assert (
        f"{jobs.DEFAULT_CLASS_JOBS_PER_ADDRESS} trainings are already running or waiting from your" in message
    )
    assert f"at most {jobs.DEFAULT_CLASS_JOBS_PER_ADDRESS} from one address" in message
    assert jobs.CLASS_JOBS_PER_ADDRESS_ENV in message
    scheduler.admit(FakeJob("someone-else", address="10.0.0.8"))
    scheduler.done(laptop[0])
    scheduler.admit(FakeJob("context-1", address="10.0.0.7"))  # one ended: one more may wait
    monkeypatch.setenv(jobs.CLASS_JOBS_PER_ADDRESS_ENV, "40")  # a class behind one router
    scheduler.admit(FakeJob("context-2", address="10.0.0.7"))
    tally("trainers", "two contexts of one student, 8 jobs", "the seventh refused, per address")


def test_in_class_a_classmate_behind_the_same_router_is_queued_not_refused(monkeypatch):
    """The fifth re-probe: one student's six windows (six cookies) each queued a training and filled their
    address's six places; a classmate behind the same router was refused at once. A person with nothing in
    line is queued (and trains in turn); each of the six windows may add no second job while the address is
    full, nor may the classmate."""
    monkeypatch.setenv("RECENGINE_CLASS_PASSWORD", "tulip-42")
    scheduler = _Scheduler(trainers=2)
    windows = [FakeJob(f"window-{n}", address="10.0.0.7") for n in range(jobs.DEFAULT_CLASS_JOBS_PER_ADDRESS)]
    for job in windows:
        scheduler.admit(job)
    classmate = FakeJob("classmate", address="10.0.0.7")
    scheduler.admit(classmate)
    for owner in ("window-0", "classmate"):
        with pytest.raises(TooManyJobs, match="beyond each person's first"):
            scheduler.admit(FakeJob(owner, address="10.0.0.7"))
    started, finished = [], 0
    while finished < len(windows) + 1:
        while (job := scheduler.next_job()) is not None:
            scheduler.start(job)
            started.append(job)
        scheduler.done(started[finished])  # the oldest running one ends
        finished += 1
    assert started == [*windows, classmate]
    tally("trainers", "a classmate behind a router held by six windows", "queued, trains in turn")


@pytest.mark.parametrize(("setting", "limit"), [("", 6), ("2", 2), ("lots", 6), ("-1", 6), ("0", 6)])
def test_the_per_address_limit_is_read_from_the_environment(monkeypatch, setting, limit):
    monkeypatch.setenv(jobs.CLASS_JOBS_PER_ADDRESS_ENV, setting)
    assert jobs.class_jobs_per_address() == limit


def test_the_memory_budget_holds_for_all_trainers_together(monkeypatch):
    """A job that does not fit beside the running ones waits, and is not overtaken by smaller ones."""
    monkeypatch.setenv("RECENGINE_MEMORY_BUDGET", "1000")
    scheduler = _Scheduler(trainers=3)
    large, larger, small = (
        FakeJob("a", memory_needed=600),
        FakeJob("b", memory_needed=700),
        FakeJob("c", memory_needed=100),
    )
    for job in (large, larger, small):
        scheduler.admit(job)
    scheduler.start(scheduler.next_job())
    assert scheduler.next_job() is None  # 600 + 700 > 1000; c's 100 would fit but waits its turn
    scheduler.done(large)
    assert scheduler.next_job() is larger  # alone, a job may always start
    scheduler.start(larger)
    assert scheduler.next_job() is small  # 700 + 100 fits


def test_starts_are_counted_per_owner_in_order():
    scheduler = _Scheduler(trainers=4)
    made = [FakeJob(owner) for owner in itertools.islice(itertools.cycle("xyz"), 6)]
    for job in made:
        scheduler.admit(job)
    order = []
    while (job := scheduler.next_job()) is not None:
        scheduler.start(job)
        order.append(job.owner)
    assert order == ["x", "y", "z"]  # one each, the fourth trainer idle until one ends


@pytest.mark.parametrize(("connection", "address"), [("10.0.0.7", "10.0.0.7"), (None, "localhost")])
def test_a_job_counts_for_its_sessions_connection_address(monkeypatch, connection, address):
    import streamlit

    monkeypatch.setattr(streamlit, "context", SimpleNamespace(ip_address=connection))
    monkeypatch.setattr(jobs, "current_session", lambda: "")
    assert jobs._client_address() == ""  # no session: a script, a test
    monkeypatch.setattr(jobs, "current_session", lambda: "session-1")
    assert jobs._client_address() == address


def test_the_scheduler_forgets_the_starts_that_order_no_one():
    """It lives as long as the server: what it keeps per owner must not grow with every student of a term."""
    scheduler = _Scheduler(trainers=2)
    simulate(scheduler, class_arriving())
    assert scheduler.jobs() == [] and scheduler._last_start == {}  # all ended: nothing to order
    a, b = FakeJob("a"), FakeJob("b")
    for job in (a, b):
        scheduler.admit(job)
        scheduler.start(scheduler.next_job())
    scheduler.done(b)
    assert set(scheduler._last_start) == {"a", "b"}  # b started after a, who is still in: b comes back after
    scheduler.admit(again := FakeJob("b"))
    scheduler.done(a)
    assert set(scheduler._last_start) == {"b"}  # a started before everyone in line: as if never
    scheduler.done(again)
    assert scheduler._last_start == {}


@pytest.mark.parametrize("seed", range(5))
def test_a_class_of_forty_no_one_trains_twice_while_someones_first_waits(seed):
    """40 students arriving at random, each wanting one to four trainings, one of them ten."""
    rng = random.Random(seed)
    wishes: dict[int, list[str]] = {0: ["greedy"] * 10}
    for student in range(40):
        wishes.setdefault(rng.randrange(30), []).extend([f"student-{student}"] * rng.randint(1, 4))
    made = simulate(_Scheduler(trainers=2), wishes, steps=400)
    assert all(job.started_at is not None for job in made)
    firsts = {}
    for job in sorted(made, key=lambda job: job.started_at):
        firsts.setdefault(job.owner, job)
    for job in made:
        if firsts[job.owner] is not job:
            waiting = [
                first for first in firsts.values() if first.admitted_at <= job.started_at < first.started_at
            ]
            assert not waiting, (job, waiting)


@pytest.mark.parametrize("roster_in_use", [False, True])
def test_minted_cookies_do_not_jump_a_classmate_who_trained_before(monkeypatch, roster_in_use):
    """Probe 7d: under the class password alone each new workspace cookie is a new person, and a person never
    started went first: six minted cookies made a classmate's 6.8 s training wait 236 s. There a newcomer
    stands from when their job joined the line; under a roster (a person per code) newcomers still go first."""
    from dashboard import roster

    monkeypatch.setattr(jobs, "in_class_mode", lambda: True)
    monkeypatch.setattr(roster, "in_use", lambda: roster_in_use)
    scheduler = _Scheduler(trainers=1)
    earlier = FakeJob("classmate")
    scheduler.admit(earlier)
    scheduler.start(scheduler.next_job())
    scheduler.done(earlier)
    hog = FakeJob("mallory")
    scheduler.admit(hog)
    scheduler.start(scheduler.next_job())  # a trainer busy
    minted = [FakeJob(f"cookie-{number}") for number in range(6)]
    for job in minted:
        scheduler.admit(job)
    scheduler.admit(again := FakeJob("classmate"))
    scheduler.done(hog)
    first = scheduler.next_job()
    assert (first is again) == (not roster_in_use)
    assert scheduler.ahead_of(again)[1] == (6 if roster_in_use else 0)


def test_cookieless_sessions_long_trainings_do_not_queue_ahead_of_a_classmates_short_one(monkeypatch):
    """Probe 8: under the class password alone each session without a cookie is a person; six such sessions
    queued SGD trainings of about a minute each, and a classmate who had never trained waited 99 s for a 3 s
    one. There a job now stands one place back per `SECONDS_PER_PLACE` of its estimate: the classmate's goes
    at the next free trainer; the long ones keep their order among themselves."""
    from dashboard import roster

    monkeypatch.setattr(jobs, "in_class_mode", lambda: True)
    monkeypatch.setattr(roster, "in_use", lambda: False)
    scheduler = _Scheduler(trainers=1)
    running = FakeJob("session:first", estimated_seconds=60)
    scheduler.admit(running)
    scheduler.start(scheduler.next_job())
    long_ones = [FakeJob(f"session:cookieless-{n}", estimated_seconds=60) for n in range(6)]
    for job in long_ones:
        scheduler.admit(job)
    scheduler.admit(classmate := FakeJob("person:ann", estimated_seconds=3))
    assert scheduler.ahead_of(classmate)[1] == 0
    scheduler.done(running)
    assert scheduler.next_job() is classmate
    scheduler.start(classmate)
    scheduler.done(classmate)
    assert scheduler.next_job() is long_ones[0]
    tally("trainers", "six cookieless sessions' long trainings", "a classmate's short one goes first")


@pytest.mark.parametrize("roster_in_use", [False, True])
def test_long_jobs_of_cheap_persons_leave_a_trainer_for_a_short_one(monkeypatch, roster_in_use):
    """Probe 9b: under the class password alone four minted cookies' trainings, each just under the two-minute
    ceiling, held both trainers, and a classmate's 1.4 s training took 44 s. There jobs estimated at
    `LONG_JOB_SECONDS` or more hold all trainers but one; under a roster (one person, one job) both run."""
    from dashboard import roster

    monkeypatch.setattr(jobs, "in_class_mode", lambda: True)
    monkeypatch.setattr(roster, "in_use", lambda: roster_in_use)
    scheduler = _Scheduler(trainers=2)
    long_ones = [FakeJob(f"cookie-{n}", estimated_seconds=110) for n in range(4)]
    for job in long_ones:
        scheduler.admit(job)
    scheduler.start(scheduler.next_job())
    second = scheduler.next_job()
    assert (second is None) == (not roster_in_use)
    if second is not None:
        scheduler.start(second)
    scheduler.admit(classmate := FakeJob("person:ann", estimated_seconds=2))
    assert (scheduler.next_job() is classmate) == (not roster_in_use)
    tally("trainers", "minted cookies' long trainings", "one trainer left for short ones")
