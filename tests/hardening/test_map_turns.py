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


def test_a_persons_tabs_queue_behind_each_other_and_a_classmate_waits_one_map_at_most():
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
