"""probe8b: one student's four tabs kept the Embeddings page's t-SNE busy in the server's process (a new map
on each move of a slider), and a classmate's 1.9 s training took 13.7 s. Maps and groups now take turns:
one at a time on the server (one core at most), and one at a time per person, so a person's tabs queue
behind each other and a classmate waits one map at most."""

from __future__ import annotations

import threading
import time

from outcomes import tally

from dashboard.recs import OneMapAtATime

MAP_SECONDS = 0.15


def test_a_persons_tabs_queue_behind_each_other_and_a_classmate_waits_one_map_at_most(monkeypatch):
    import contextlib

    from dashboard import jobs

    monkeypatch.setattr(jobs, "like_a_trainer", contextlib.nullcontext)  # the order of turns, not priorities
    maps = OneMapAtATime()
    running, most_at_once, waited = [0], [0], {}
    guard = threading.Lock()

    def draw(person: str, name: str) -> None:
        asked = time.monotonic()
        with maps.turn(person):
            waited[name] = time.monotonic() - asked
            with guard:
                running[0] += 1
                most_at_once[0] = max(most_at_once[0], running[0])
            time.sleep(MAP_SECONDS)
            with guard:
                running[0] -= 1

    tabs = [threading.Thread(target=draw, args=("person:mallory", f"tab {n}")) for n in range(8)]
    for tab in tabs:
        tab.start()
    time.sleep(MAP_SECONDS / 3)  # Mallory's first map is under way, seven more asked for
    classmate = threading.Thread(target=draw, args=("person:ann", "ann"))
    classmate.start()
    for thread in [*tabs, classmate]:
        thread.join()
    assert most_at_once[0] == 1
    assert waited["ann"] < 2.5 * MAP_SECONDS  # Mallory's map under way, at most one more: not her seven
    assert max(waited.values()) >= 7 * MAP_SECONDS  # her last tab waited for her others
    assert maps.people == {}
    tally("server", "one student's tabs drawing maps", "a classmate waits one map at most")


def test_work_a_page_does_runs_like_a_trainer_on_one_thread_at_their_priority(monkeypatch):
    """probe8b (medium): a sweep's fits ran in the server at its own priority on both cores, and a classmate's
    2.5 s training took 7.5 to 12.5 s. A sweep and a map run `like_a_trainer`: one numba, BLAS and OpenMP
    thread, at the trainers' lower priority, for the rest of the thread's life (a script run's)."""
    import os

    import numba
    from threadpoolctl import threadpool_info

    from dashboard import jobs

    monkeypatch.setenv(jobs.NICENESS_ENV, "7")
    seen = {}

    def page_run() -> None:
        thread = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, thread)
        with jobs.like_a_trainer():
            seen["inside"] = (numba.get_num_threads(), {pool["num_threads"] for pool in threadpool_info()})
            seen["lowered by"] = os.getpriority(os.PRIO_PROCESS, thread) - before
        seen["after"] = numba.get_num_threads()

    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    run = threading.Thread(target=page_run)
    run.start()
    run.join()
    assert seen["inside"][0] == 1 and seen["inside"][1] <= {1}
    assert seen["lowered by"] == min(7, 19 - os.getpriority(os.PRIO_PROCESS, 0))
    assert seen["after"] == numba.config.NUMBA_NUM_THREADS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < 19  # only that thread was lowered
    tally("server", "a sweep's fits and a map in the server", "one thread, at the trainers' priority")
