"""Training jobs in worker processes: records per epoch, Stop within one epoch, errors and crashes as messages."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from app_helpers import wait_until

from dashboard.jobs import DIVERGED, DONE, FAILED, NICENESS_ENV, STOPPED, TrainingJob, once, trainer_niceness
from recengine.models import make
from recengine.models.baseline import Baseline

ROOT = Path(__file__).resolve().parents[2]


class SlowBaseline(Baseline):
    """The baseline, with a pause after each epoch (an epoch callback) so a test can act between them."""

    def fit(self, train, valid=None, callbacks=()):
        return super().fit(train, valid, [*callbacks, lambda record, model: time.sleep(0.05)])


def worker_pid(model) -> dict:
    return {"pid": os.getpid(), "niceness": os.nice(0)}


# How long a job may wait where its speed is not what is tested: the server's trainers are shared, so on a
# loaded two-core CI machine a job can queue behind a training that an earlier test's page left running, or
# behind a fresh worker's first kernels (one clean-clone run of 893 tests timed out at 30 s here).
PATIENCE = 120


class Crashing(Baseline):
    """Dies in its second epoch, before reporting it, as a native crash or the out-of-memory killer would: no
    exception, no word."""

    def fit(self, train, valid=None, callbacks=()):
        def die_in_epoch_two(record, model):
            if record.epoch == 2:
                os._exit(9)

        return super().fit(train, valid, [die_in_epoch_two, *callbacks])


def test_a_job_reports_every_epoch_and_finishes(planted):
    data, _ = planted
    job = TrainingJob(make("baseline", n_epochs=7), data, None, finish=lambda job: "result").start()
    assert job.join(60)  # the first job of a process starts the trainers' fork server: slow on a busy machine
    assert job.status == DONE and job.result == "result"
    assert [r["epoch"] for r in job.records] == list(range(1, 8))
    assert job.records[0]["total_loss"] > 0


def test_stop_is_honoured_within_one_epoch(planted):
    data, _ = planted
    model = SlowBaseline(SlowBaseline.Params(n_epochs=200))
    job = TrainingJob(model, data, None, finish=lambda job: job.epochs_done).start()
    wait_until(lambda: job.epochs_done >= 3, "the job's third epoch")
    job.request_stop()
    asked_at = job.stop_requested_at
    assert job.join(5)
    assert job.status == STOPPED
    assert asked_at <= job.epochs_done <= asked_at + 1
    assert job.result == job.epochs_done == len(job.model.history_)


def test_divergence_is_a_status_with_a_suggestion(planted):
    data, _ = planted
    job = TrainingJob(make("sgd", lr=100.0, n_epochs=30), data, None, finish=lambda job: None).start()
    assert job.join(PATIENCE)
    assert job.status == DIVERGED
    assert "diverged" in job.message and job.suggestion


def test_an_unexpected_error_does_not_escape_the_thread(planted):
    data, _ = planted
    failures = []
    threading.excepthook, previous = (lambda args: failures.append(args)), threading.excepthook
    try:
        job = TrainingJob(make("baseline"), data, None, finish=lambda job: 1 / 0).start()
        assert job.join(5)
    finally:
        threading.excepthook = previous
    assert job.status == FAILED and "ZeroDivisionError" in job.message
    assert failures == []


def test_a_crashed_worker_is_a_failure_with_a_message(planted):
    data, _ = planted
    job = TrainingJob(Crashing(), data, None, finish=lambda job: None).start()
    assert job.join(PATIENCE)
    assert job.status == FAILED and "ended unexpectedly (exit code 9)" in job.message
    assert job.epochs_done == 1


def test_metrics_are_measured_in_a_worker_that_serves_job_after_job(planted):
    data, _ = planted
    pids = []
    for _ in range(2):
        job = TrainingJob(make("baseline"), data, None, finish=lambda job: job.metrics, measure=worker_pid)
        assert job.start().join(PATIENCE)
        assert job.status == DONE
        pids.append(job.result["pid"])
    assert pids[0] == pids[1] != os.getpid()


NICENESS_OF_A_TRAINER = """
import os
from dashboard.jobs import DONE, TrainingJob
from recengine.data.synthetic import planted_low_rank
from recengine.models import make
from test_jobs import worker_pid
data = planted_low_rank(n_users=30, n_items=20, rank=2, density=0.5, seed=0)[0]
job = TrainingJob(make("baseline"), data, None, finish=lambda job: None, measure=worker_pid).start()
assert job.join(120) and job.status == DONE
print(os.nice(0), job.metrics["niceness"])
"""


@pytest.mark.slow
@pytest.mark.parametrize(("setting", "lower_by"), [(None, 10), ("3", 3), ("0", 0)])
def test_trainers_run_below_the_servers_priority(setting, lower_by):
    """Every page run of every person comes before a training's next step (the class load test's clicks):
    10 lower by default, or as ``RECENGINE_TRAINER_NICENESS`` says. A server of its own, so that its
    trainers start with the setting."""
    env = {key: value for key, value in os.environ.items() if key != NICENESS_ENV}
    env |= {NICENESS_ENV: setting} if setting is not None else {}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(Path(__file__).parent)])
    done = subprocess.run(
        [sys.executable, "-c", NICENESS_OF_A_TRAINER],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    server, trainer = map(int, done.stdout.split()[-2:])
    assert trainer == min(server + lower_by, 19)


@pytest.mark.parametrize(
    ("text", "niceness"), [("", 10), ("5", 5), ("0", 0), ("19", 19), ("20", 10), ("-1", 10), ("x", 10)]
)
def test_the_trainers_niceness_is_a_whole_number_from_0_to_19(monkeypatch, text, niceness):
    monkeypatch.setenv(NICENESS_ENV, text)
    assert trainer_niceness() == niceness


def test_the_pool_replaces_a_crashed_worker(planted):
    data, _ = planted
    crashed = TrainingJob(Crashing(), data, None, finish=lambda job: None).start()
    assert crashed.join(PATIENCE) and crashed.status == FAILED
    job = TrainingJob(make("baseline"), data, None, finish=lambda job: job.metrics, measure=worker_pid)
    assert job.start().join(PATIENCE)
    assert job.status == DONE and job.result["pid"] != os.getpid()


def test_a_job_that_finds_its_model_ready_when_a_trainer_frees_up_does_not_train(planted):
    data, _ = planted
    asked = []

    def ready():
        asked.append(True)
        return "trained by another session"

    job = TrainingJob(make("baseline"), data, None, finish=lambda job: 1 / 0, shortcut=ready).start()
    assert job.join(PATIENCE)
    assert job.status == DONE and job.result == "trained by another session"
    assert asked == [True] and job.records == []  # not trained, and finish never ran


def test_a_shared_object_is_made_once_when_first_asked_for_by_many_threads_at_once():
    """Six sessions' first Train clicks at one moment made two schedulers with ``functools.cache`` (both
    threads missed the cache), and a job admitted to one waited forever in the other's line."""
    made = []

    def slow_scheduler() -> object:
        time.sleep(0.05)  # long enough for every thread to ask before the first is made
        made.append(object())
        return made[-1]

    shared = once(slow_scheduler)
    got = []
    threads = [threading.Thread(target=lambda: got.append(shared())) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and got == made * 6
