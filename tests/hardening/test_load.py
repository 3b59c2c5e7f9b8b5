"""The loopback load test (``benchmarks/load_test.py``), run small: five clients for fifteen seconds on a
real server. It keeps the benchmark's code from rotting, and checks what the full run reports: no errors,
an answer for every client, trainings that reach their result, the server tree's memory sampled."""

from __future__ import annotations

from benchmarks.load_test import TRAINING, render, run_load_test

CLIENTS = 5
SECONDS = 15
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
