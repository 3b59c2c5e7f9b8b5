"""What one script run costs, page by page and action by action, with nobody else on the server.

A real server (``python -m dashboard.serve``, files under a temporary folder, a challenge open as in the
class load test) and one headless session (`dashboard.client.Session`: what a browser tab sends). The
session rates 15 movies, trains the default Weighted ALS, reads its list, runs the first lesson, and then
times each action ``--repeats`` times after one warm-up: opening every page, turning a page of movies,
a rating click (on a movie not rated yet), the list after a new rating, training again from the model
cache, a lesson, a refresh of the challenge's board. For each it prints the median wall time (click to the
end of the run, as the load test measures it) and the mean CPU time the server process spent on it
(``/proc/<pid>/stat``: its own threads, not the trainers; steadier than wall time on a busy machine; a mean,
since the kernel counts it in ticks of 10 ms).

    ./dev bench script_runs [--repeats 10] [--out benchmarks/results/script_runs.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This folder's dashboard.py would hide the dashboard package: the project first, this folder not at all.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

from benchmarks.load_test import LABELS, MOVIE_PAGES, environment, open_challenge  # noqa: E402
from dashboard.client import Session  # noqa: E402
from dashboard.navigation import TITLES  # noqa: E402
from dashboard.server import running_app  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
TIMEOUT = 120.0
RATED = 15  # ratings before the timing starts: about what a student of the class load test has mid-run


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far (all its threads, none of its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Bench:
    """Times actions of one session on one server: wall seconds and the server's CPU seconds."""

    def __init__(self, session: Session, pid: int):
        self.session, self.pid = session, pid
        self.rated: set[str] = set()
        self.page = 0

    def timed(self, action: Callable[[], object]) -> tuple[float, float]:
        cpu, started = cpu_seconds(self.pid), time.perf_counter()
        action()
        return time.perf_counter() - started, cpu_seconds(self.pid) - cpu

    # --- actions (each leaves the session where the next may start) -----------------------------------

    def turn_page(self) -> None:
        self.page = self.page % MOVIE_PAGES + 1
        self.session.set("rate_page", self.page)

    def unrated(self) -> list[str]:
        return [key for key in self.session.keys("rate_item_") if key not in self.rated]

    def to_unrated(self) -> None:
        """Open Rate movies, and turn its pages until one shows a movie not rated yet."""
        self.session.run("Rate movies")
        while not self.unrated():
            self.turn_page()

    def rate_one(self) -> None:
        """Rate a movie of the page shown that is not rated yet (`to_unrated` first)."""
        key = self.unrated()[0]
        self.session.set(key, LABELS[len(self.rated) % len(LABELS)])
        self.rated.add(key)
        self.check("rate a movie")

    def train(self, seed: int = 0) -> None:
        """Train Weighted ALS (2 epochs, ``seed``) on Train and follow it until the page shows the result."""
        session = self.session
        session.run("Train")
        settings = [("train_wals_n_epochs", 2), ("train_wals_seed", seed), ("train_go", True)]
        session.run(widgets=[session.state(key, value) for key, value in settings])
        deadline = time.perf_counter() + TIMEOUT
        while not session.alerts("success"):
            if session.alerts("warning") or time.perf_counter() > deadline:
                raise RuntimeError(f"training did not end well: {session.page_text()[-300:]}")
            time.sleep(0.2)
            session.run()

    def check(self, where: str) -> None:
        problems = self.session.exceptions() + self.session.alerts("error")
        if problems:
            raise RuntimeError(f"{where}: {problems}")


def measure(bench: Bench, repeats: int) -> list[tuple[str, float, float]]:
    """Every action's median wall seconds and mean server CPU seconds over ``repeats`` runs, after one
    warm-up."""
    session = bench.session

    def opening(title: str) -> tuple[Callable[[], object], Callable[[], object]]:
        return lambda: session.run("Home" if title != "Home" else "Data"), lambda: session.run(title)

    def after_rating() -> None:
        bench.to_unrated()
        bench.rate_one()

    actions: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        *((f"open {title}", *opening(title)) for title in TITLES),
        ("turn a page of movies", lambda: session.run("Rate movies"), bench.turn_page),
        ("rate a movie", bench.to_unrated, bench.rate_one),
        ("Recommendations after a rating", after_rating, lambda: session.run("Recommendations")),
        ("click Train (from the model cache)", lambda: None, lambda: bench.train(seed=0)),
        ("run a lesson", lambda: session.run("Lessons"), lambda: session.click("lessons_run")),
        ("refresh the board", lambda: session.run("Challenge"), lambda: session.click("challenge_refresh")),
    ]
    rows = []
    for name, before, action in actions:
        walls, cpus = [], []
        for attempt in range(repeats + 1):
            before()
            wall, cpu = bench.timed(action)
            bench.check(name)
            if attempt:  # the first is the warm-up
                walls.append(wall)
                cpus.append(cpu)
        rows.append((name, statistics.median(walls), statistics.mean(cpus)))
        print(f"{name:40s} {rows[-1][1]:6.3f} s {rows[-1][2]:6.3f} s", flush=True)
    return rows


def run(repeats: int) -> list[tuple[str, float, float]]:
    with tempfile.TemporaryDirectory(prefix="recengine-runs-") as folder:
        home = Path(folder)
        open_challenge(home, 3600)
        with (
            environment(RECENGINE_JOB_LOG=str(home / "jobs.jsonl")),
            running_app(home) as server,
            Session(server.url, timeout=TIMEOUT) as session,
        ):
            bench = Bench(session, server.process.pid)
            session.run()
            session.run("Rate movies")
            for _ in range(RATED):
                bench.to_unrated()
                bench.rate_one()
            bench.train(seed=0)
            session.run("Recommendations")
            session.run("Lessons")
            session.click("lessons_run")
            return measure(bench, repeats)


def render(rows: list[tuple[str, float, float]], repeats: int) -> str:
    lines = [
        "# One script run, page by page, with one session on the server",
        "",
        f"{repeats} runs of each after a warm-up (`benchmarks/script_runs.py`): the median wall time from the",
        "click to the end of the run, and the mean CPU time the server process spent on it.",
        "",
        "| action | wall (median) | server CPU (mean) |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {wall:.3f} s | {cpu:.3f} s |" for name, wall, cpu in rows),
        "",
        f"`uptime` at the end: {os.popen('uptime').read().strip()}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per action (default 10)")
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args()
    rows = run(args.repeats)
    report = render(rows, args.repeats)
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
