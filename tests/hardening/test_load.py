"""The loopback load test (``benchmarks/load_test.py``), run small: five clients for 25 seconds on a
real server. It keeps the benchmark's code from rotting, and checks what the full run reports: no errors,
an answer for every client, trainings that reach their result, the server tree's memory sampled."""

from __future__ import annotations

import pytest

from benchmarks.load_test import TRAINING, fairness, render, run_load_test

CLIENTS = 5
SECONDS = 25  # on a loaded two-core machine opening the app and the Rate page take ten of them
THINK = 0.5  # seconds between actions on average: short, so each client gets through its first training


def test_a_small_load_test_runs_clean_and_every_client_gets_answers(tmp_path):
    result = run_load_test(CLIENTS, SECONDS, tmp_path, think=THINK)
    assert not result.errors, "\n".join(result.errors)
    for client in result.clients:
        assert client.requests > 1 and client.seconds["open the app"], client
        assert client.rated and len(client.seconds["rate a movie"]) == len(client.rated), client
    assert sum(len(c.seconds.get(TRAINING, [])) for c in result.clients) >= 1
    assert result.wall >= SECONDS
    assert result.memory.samples > 10 and result.memory.peak_total > result.memory.peak_main > 50e6
    report = render(result)
    assert f"| clients | {CLIENTS} |" in report and "| **every script run** |" in report
    assert result.jobs and all(job["admitted"] <= job["ended"] for job in result.jobs)  # the server's log of
    # its training jobs: the first training above was one (the model cache starts empty)


def test_fairness_counts_other_peoples_jobs_started_while_one_waited():
    """Times by hand: b waits from 0.05 to 2 while a (at 0.1), c (1) and a again (1.5) start; c and a's
    second joined the line after b did; d never took a trainer."""
    jobs = [
        {"owner": "a", "admitted": 0.0, "started": 0.1},
        {"owner": "b", "admitted": 0.05, "started": 2.0},
        {"owner": "c", "admitted": 0.5, "started": 1.0},
        {"owner": "a", "admitted": 0.6, "started": 1.5},
        {"owner": "d", "admitted": 3.0, "started": None},
    ]
    fair = fairness(jobs)
    assert fair.ahead == [0, 3, 0, 1] and fair.overtaking == [0, 2, 0, 0]
    assert fair.waits == pytest.approx([0.1, 1.95, 0.5, 0.9]) and (fair.cancelled, fair.owners) == (1, 4)
