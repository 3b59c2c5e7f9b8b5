"""Load test on loopback: many people using one dashboard server at once, for a bounded time.

A real server (``streamlit run app.py``, files under a temporary folder) is driven by ``--clients`` headless
sessions at once (`dashboard.client.Session`: what a browser tab sends over Streamlit's websocket, much
lighter than a browser). Each client opens the app, rates three movies, trains Weighted ALS (2 epochs, one
of ``SEEDS`` seeds, so most trainings come from the shared model cache), then until ``--seconds`` have passed
loops through a mix of what a person does: browse pages, turn pages of movies and rate them, read its
recommendations, now and then train again, pausing ``--think`` seconds on average after each action.
Every script run is timed; a page showing an exception or an error, a training that does not end well, a
client whose ratings or recommendations are not its own, and a traceback in the server's log count as
errors. A thread samples the resident memory of the server's process tree (Streamlit and its trainer
processes) every 0.2 s.

With ``--class``, the clients are a class in a tuning challenge (issue 23): a challenge on the bundled data
(NDCG@10, Weighted ALS, held out by user:0.2) is opened before they connect, and each client, after rating
and training the default, runs a lesson on the Lessons page, presses "Work on this challenge" (its training
part becomes the client's data set), tunes (trains Weighted ALS with seed 0 and 1 to 3 epochs) and submits
its run on the Challenge page under its own name, then reads the board; the mix goes on with those steps
among the others. A submission refused by the hourly limit is counted, not an error; at the end every
accepted submission must be in the challenge's file, and no other.

Fairness is measured on the server's side: it writes one line per training job (`dashboard.joblog`: whose,
when admitted, when it took a trainer), and for each job the report counts the other people's jobs that
took a trainer while it waited (target: at most 3), and how long it waited.

    ./dev bench load_test [--clients 20] [--seconds 60] [--think 3]   # benchmarks/results/load_test.md
    ./dev bench load_test --class --clients 40 --seconds 300          # benchmarks/results/load_class.md
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# This folder's dashboard.py would hide the dashboard package: the project first, this folder not at all.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

from benchmarks.memory import TreeSampler, machine  # noqa: E402
from dashboard.client import Session, browser_cookie  # noqa: E402
from dashboard.navigation import TITLES  # noqa: E402
from dashboard.server import running_app  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "load_test.md"
CLASS_RESULTS = ROOT / "benchmarks" / "results" / "load_class.md"
LABELS = ("5", "4½", "4", "3½", "3", "2½", "2", "1½", "1", "½")  # the Rate page's star buttons
BROWSED = tuple(title for title in TITLES if title != "Recommendations")  # read apart, checked
MOVIE_PAGES = 50  # clients rate among the 500 most rated movies
SEEDS = 3  # distinct training configurations: every other training comes from the model cache
EPOCHS = 2
TIMEOUT = 120.0  # seconds a script run, or a training, may take before it counts as an error
POLL = 0.5  # seconds between two looks at a training's progress
TRAINING = "training (click to results)"  # spans several script runs: not in the per-request summary
THINK = 3.0  # mean seconds a person spends on a page before the next click
MAX_AHEAD = 3  # issue 23: no student waits for more than this many other people's jobs to start first
MAX_MEMORY = 6e9  # bytes: issue 23's ceiling for the server and its trainers


@dataclass
class Client:
    """What one client did and how long each of its actions took."""

    number: int
    rng: random.Random
    seconds: dict[str, list[float]] = field(default_factory=dict)  # by action
    rated: dict[str, str] = field(default_factory=dict)  # raw item id -> star label given
    trained: bool = False
    submitted: int = 0  # challenge submissions accepted
    refused: int = 0  # challenge submissions refused by the hourly limit
    requests: int = 0  # script runs
    errors: list[str] = field(default_factory=list)
    code: str = ""  # with --roster: the join code this client signs in with

    by_page: dict[str, list[float]] = field(default_factory=dict)  # seconds to open each page

    def timed(self, action: str, seconds: float) -> None:
        self.seconds.setdefault(action, []).append(seconds)

    def check(self, session: Session, where: str) -> None:
        self.errors += [f"{where}: exception {shown}" for shown in session.exceptions()]
        self.errors += [f"{where}: error {shown}" for shown in session.alerts("error")]


def open_page(session: Session, client: Client, page: str) -> None:
    seconds = session.run(page)
    client.timed("open a page", seconds)
    client.by_page.setdefault(page, []).append(seconds)


def browse(session: Session, client: Client) -> None:
    page = client.rng.choice(BROWSED)
    open_page(session, client, page)
    client.check(session, page)


def rate(session: Session, client: Client) -> None:
    """Open Rate movies, turn to a page of the most rated movies, and rate one not rated yet."""
    open_page(session, client, "Rate movies")
    client.timed("turn a page of movies", session.set("rate_page", client.rng.randint(1, MOVIE_PAGES)))
    unrated = [
        key for key in session.keys("rate_item_") if key.removeprefix("rate_item_") not in client.rated
    ]
    if unrated:
        key, label = client.rng.choice(unrated), client.rng.choice(LABELS)
        client.timed("rate a movie", session.set(key, label))
        client.rated[key.removeprefix("rate_item_")] = label
    client.check(session, "Rate movies")


def train(session: Session, client: Client) -> None:
    """Train Weighted ALS with one of a few seeds and follow it until the page shows the result."""
    open_page(session, client, "Train")
    started = time.perf_counter()
    settings = [("train_wals_n_epochs", EPOCHS), ("train_wals_seed", client.rng.randrange(SEEDS))]
    widgets = [session.state(key, value) for key, value in [*settings, ("train_go", True)]]
    client.timed("click Train", session.run(widgets=widgets))
    while not session.alerts("success"):
        client.check(session, "Train")
        if session.alerts("warning") or time.perf_counter() - started > TIMEOUT:
            client.errors.append(f"training did not end well: {session.page_text()[-300:]}")
            return
        time.sleep(POLL)
        client.timed("follow training", session.run())
    client.timed(TRAINING, time.perf_counter() - started)
    client.trained = True


def lesson(session: Session, client: Client) -> None:
    """Open the Lessons page and run the lesson shown (the first: its two small runs, trained by the first
    client to run it, come from the model cache for the others)."""
    open_page(session, client, "Lessons")
    client.timed("run a lesson", session.click("lessons_run"))
    client.check(session, "Lessons")
    if any("Press **Run this lesson**" in alert for alert in session.alerts("info")):
        client.errors.append(f"the lesson did not run: {session.page_text()[-300:]}")


def tune_and_submit(session: Session, client: Client) -> None:
    """Work on the challenge's training part (the first time), train Weighted ALS there with seed 0 and 1 to
    3 epochs, then submit the run on the Challenge page under the client's own name."""
    open_page(session, client, "Challenge")
    if session.keys("challenge_work"):
        client.timed("work on the challenge", session.click("challenge_work"))
    client.check(session, "Challenge (work on it)")
    open_page(session, client, "Train")
    started = time.perf_counter()
    settings = [("train_wals_n_epochs", client.rng.randint(1, 3)), ("train_wals_seed", 0), ("train_go", True)]
    client.timed("click Train", session.run(widgets=[session.state(key, value) for key, value in settings]))
    while not session.alerts("success"):
        client.check(session, "Train")
        if session.alerts("warning") or time.perf_counter() - started > TIMEOUT:
            client.errors.append(f"tuning did not end well: {session.page_text()[-300:]}")
            return
        time.sleep(POLL)
        client.timed("follow training", session.run())
    client.timed(TRAINING, time.perf_counter() - started)
    open_page(session, client, "Challenge")
    name = f"Student {client.number}"
    widgets = [session.state("challenge_name", name), session.state("challenge_submit", True)]
    client.timed("submit to the challenge", session.run(widgets=widgets))
    if any("submissions per hour at most" in alert for alert in session.alerts("error")):
        client.refused += 1
    elif any(f"Submitted as `{name}`:" in alert for alert in session.alerts("success")):
        client.submitted += 1
    else:
        client.errors.append(f"submission not acknowledged: {session.page_text()[-300:]}")
    client.check(session, "Challenge (submit)")


def read_board(session: Session, client: Client) -> None:
    open_page(session, client, "Challenge")
    client.timed("refresh the board", session.click("challenge_refresh"))
    client.check(session, "Challenge (board)")


def recommendations(session: Session, client: Client) -> None:
    client.timed("recommendations", session.run("Recommendations"))
    client.check(session, "Recommendations")
    expected = f"Your list comes from your {len(client.rated)} ratings"
    if client.trained and expected not in session.page_text():
        client.errors.append(
            f"recommendations are not from this client's ratings: {session.page_text()[:300]}"
        )


def own_ratings(session: Session, client: Client) -> None:
    """At the end: the sidebar counts this client's ratings, and Your ratings lists only its movies."""
    open_page(session, client, "Rate movies")
    counted = re.search(r"\*\*You rated:\*\* (\d+) movies?\b", session.sidebar_text())  # 1 movie, 2 movies
    if counted is None or int(counted.group(1)) != len(client.rated):
        client.errors.append(
            f"sidebar counts {counted and counted.group(1)}, client rated {len(client.rated)}"
        )
    listed = session.table("rate_mine").index if session.keys("rate_mine") else []  # none: no table
    foreign = {str(item) for item in listed} - set(client.rated)
    if foreign:
        client.errors.append(f"Your ratings lists movies this client did not rate: {sorted(foreign)}")


def sign_in(session: Session, client: Client) -> None:
    """Type the client's join code, as a student of a class with a roster does."""
    typed = [session.state("class_code", client.code), session.state("class_code_enter", True)]
    client.timed("sign in", session.run(widgets=typed))
    if "Signed in as" not in session.sidebar_text():
        client.errors.append(f"not signed in with a join code: {session.alerts('error')}")


Step = Callable[[Session, Client], None]
MIX: dict[Step, int] = {browse: 4, rate: 4, recommendations: 3, train: 1}  # relative frequencies
CLASS_MIX: dict[Step, int] = {**MIX, lesson: 1, tune_and_submit: 1, read_board: 3}


def plan(rng: random.Random, in_class: bool = False) -> Iterator[Step]:
    """A new user's first steps, then the mix, without end (a class's, in a challenge)."""
    yield from (rate, rate, rate, train, recommendations)
    if in_class:
        yield from (lesson, tune_and_submit, read_board)
    mix = CLASS_MIX if in_class else MIX
    while True:
        yield rng.choices(list(mix), weights=list(mix.values()))[0]


def drive(url: str, client: Client, deadline: float, think: float, in_class: bool = False) -> None:
    try:
        with Session(url, timeout=TIMEOUT, cookie=browser_cookie(url)) as session:  # a browser keeps its cookie
            try:
                client.timed("open the app", session.run())
                if client.code:
                    sign_in(session, client)
                for step in plan(client.rng, in_class):
                    if time.perf_counter() >= deadline:
                        break
                    step(session, client)
                    time.sleep(min(client.rng.uniform(0, 2 * think), max(deadline - time.perf_counter(), 0)))
                own_ratings(session, client)
            finally:
                client.requests = session.runs
    except Exception as error:  # a broken session is an error of the run, not the end of the others
        client.errors.append(f"{type(error).__name__}: {error}")


@dataclass
class LoadResult:
    clients: list[Client]
    bound: float  # --seconds
    think: float  # --think
    wall: float  # from the first client's start to the last client's end
    load: tuple[float, float]  # 1-minute load average before the server started and at the end
    memory: TreeSampler
    server_errors: list[str]  # lines of the server's log that speak of an error
    challenge: str = ""  # with --class: the challenge's id
    kept_submissions: int = 0  # with --class: submissions in the challenge's file at the end
    jobs: list[dict] = field(default_factory=list)  # the server's job log (`dashboard.joblog`)
    uptime: tuple[str, str] = ("", "")  # `uptime` before the server started and at the end
    roster: bool = False  # --roster: classroom mode, each client signed in with a join code

    @property
    def errors(self) -> list[str]:
        found = [f"client {c.number}: {e}" for c in self.clients for e in c.errors] + self.server_errors
        accepted = sum(c.submitted for c in self.clients)
        if self.challenge and accepted != self.kept_submissions:
            found.append(f"{accepted} submissions accepted but {self.kept_submissions} kept")
        return found


def open_challenge(home: Path, seconds: float) -> str:
    """Open a challenge for the class in the server's files, as the teacher would: NDCG@10 on the bundled
    data, Weighted ALS, held out by user:0.2."""
    from dashboard import challenge as store
    from dashboard.state import DataChoice
    from recengine.data import load_bundled
    from recengine.evaluation.challenge import ChallengeSpec

    spec = ChallengeSpec(split="user:0.2", measure="ndcg@10", models=("wals",), deadline=time.time() + seconds + 3600,
                         title="Load test")  # fmt: skip
    previous = os.environ.get("RECENGINE_HOME")
    os.environ["RECENGINE_HOME"] = str(home)  # the server's (dashboard.server.running_app)
    try:
        return store.create(spec, DataChoice(), load_bundled()).challenge_id
    finally:
        os.environ.pop("RECENGINE_HOME") if previous is None else os.environ.update(RECENGINE_HOME=previous)


def kept_submissions(home: Path, challenge_id: str) -> int:
    return (
        len(json.loads((home / "challenges" / f"{challenge_id}.json").read_text())["submissions"])
        if challenge_id
        else 0
    )


def make_roster(home: Path, clients: int) -> list[str]:
    """A class roster of ``clients`` students in the server's files, as the teacher makes it; their codes."""
    from dashboard import roster

    previous = os.environ.get("RECENGINE_HOME")
    os.environ["RECENGINE_HOME"] = str(home)
    try:
        return [code for _, code in roster.add("\n".join(f"Student {n}" for n in range(clients)))]
    finally:
        os.environ.pop("RECENGINE_HOME") if previous is None else os.environ.update(RECENGINE_HOME=previous)


def run_load_test(
    clients: int, seconds: float, home: Path, think: float = THINK, in_class: bool = False,
    with_roster: bool = False,
) -> LoadResult:
    """Start a server with its files under ``home`` and drive it with ``clients`` clients for ``seconds``,
    each pausing between 0 and ``2 * think`` seconds (``think`` on average) after every action; with
    ``in_class``, in a tuning challenge opened first; ``with_roster``, in classroom mode, each client signing
    in with its own join code."""  # fmt: skip
    load_before, uptime_before = os.getloadavg()[0], uptime()
    challenge_id = open_challenge(home, seconds) if in_class else ""
    codes = make_roster(home, clients) if with_roster else [""] * clients
    job_log = home / "jobs.jsonl"
    classroom = {"RECENGINE_CLASS_PASSWORD": "load-test"} if with_roster else {}
    with (
        environment(RECENGINE_JOB_LOG=str(job_log), **classroom),  # running_app passes os.environ on
        running_app(home) as server,
        TreeSampler(server.process.pid) as memory,
    ):
        crowd = [Client(number, random.Random(number), code=codes[number]) for number in range(clients)]
        started = time.perf_counter()
        threads = [
            threading.Thread(target=drive, args=(server.url, client, started + seconds, think, in_class))
            for client in crowd
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    log = server.log.read_text(errors="replace").splitlines()
    server_errors = [f"server log: {line}" for line in log if "Traceback" in line or "Error" in line]
    load = (load_before, os.getloadavg()[0])
    kept = kept_submissions(home, challenge_id)
    jobs = [json.loads(line) for line in job_log.read_text().splitlines()] if job_log.exists() else []
    return LoadResult(
        crowd, seconds, think, wall, load, memory, server_errors, challenge_id, kept, jobs,
        (uptime_before, uptime()), with_roster,
    )  # fmt: skip


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """``os.environ`` with ``values`` set, as it was afterwards."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            os.environ.pop(name) if value is None else os.environ.update({name: value})


# --- fairness: the server's job log ---------------------------------------------------------------------


@dataclass
class Fairness:
    """For each job that took a trainer: how many other people's jobs took one while it waited (``ahead``),
    how many of those had joined the line after it (``overtaking``), and how long it waited (``waits``,
    seconds); ``cancelled`` jobs never took one."""

    ahead: list[int]
    overtaking: list[int]
    waits: list[float]
    cancelled: int
    owners: int


def fairness(jobs: list[dict]) -> Fairness:
    started = [job for job in jobs if job["started"] is not None]
    starts = np.array([job["started"] for job in started])
    admissions = np.array([job["admitted"] for job in started])
    owners = np.array([job["owner"] for job in started])
    while_waiting = [
        (starts > job["admitted"]) & (starts < job["started"]) & (owners != job["owner"]) for job in started
    ]
    ahead = [int(np.sum(mask)) for mask in while_waiting]
    overtaking = [
        int(np.sum(mask & (admissions > job["admitted"])))
        for mask, job in zip(while_waiting, started, strict=True)
    ]
    waits = [job["started"] - job["admitted"] for job in started]
    return Fairness(ahead, overtaking, waits, len(jobs) - len(started), len({job["owner"] for job in jobs}))


# --- the report -----------------------------------------------------------------------------------------


def summary(times: list[float]) -> str:
    p50, p95 = np.percentile(times, [50, 95])
    return f"{p50:.2f} s | {p95:.2f} s | {len(times):,}"


def timing_rows(result: LoadResult) -> list[str]:
    actions: dict[str, list[float]] = {}
    for client in result.clients:
        for action, times in client.seconds.items():
            actions.setdefault(action, []).extend(times)
    requests = [t for action, times in actions.items() if action != TRAINING for t in times]
    rows = [f"| {action} | {summary(times)} |" for action, times in actions.items()]
    return [*rows, f"| **every script run** | {summary(requests)} |"]


def page_rows(result: LoadResult) -> list[str]:
    """Opening each page (a script run with no widget changed): where the time of a visit goes."""
    pages: dict[str, list[float]] = {}
    for client in result.clients:
        for page, times in client.by_page.items():
            pages.setdefault(page, []).extend(times)
    ordered = sorted(pages.items(), key=lambda item: -float(np.percentile(item[1], 95)))
    return [f"| {page} | {summary(times)} |" for page, times in ordered]


def fairness_facts(result: LoadResult) -> list[tuple[str, str]]:
    fair = fairness(result.jobs)
    if not fair.ahead:
        return [("training jobs on the server", f"{len(result.jobs)} (none took a trainer)")]
    ahead, waits = np.array(fair.ahead), np.array(fair.waits)
    over = int(np.sum(ahead > MAX_AHEAD))
    return [
        (
            "training jobs on the server (people) / cancelled before a trainer",
            f"{len(result.jobs)} ({fair.owners}) / {fair.cancelled}",
        ),
        (
            "other people's jobs that took a trainer while one waited: max / p95 / mean",
            f"{ahead.max()} / {np.percentile(ahead, 95):.0f} / {ahead.mean():.2f}",
        ),
        (f"jobs that waited behind more than {MAX_AHEAD} other people's", f"{over} of {len(ahead)}"),
        (
            "of those, other people's jobs that joined the line later (overtook it): max / mean",
            f"{max(fair.overtaking)} / {np.mean(fair.overtaking):.2f}",
        ),
        (
            "wait for a trainer: p50 / p95 / max",
            "{:.2f} s / {:.2f} s / {:.2f} s".format(*np.percentile(waits, [50, 95, 100])),
        ),
    ]


def targets(result: LoadResult) -> list[str]:
    """Issue 23's targets, each with what was measured and whether it was met."""
    requests = [
        t for c in result.clients for action, times in c.seconds.items() if action != TRAINING for t in times
    ]
    clicks = [t for c in result.clients for t in c.seconds.get("rate a movie", [])]
    ahead = fairness(result.jobs).ahead
    rows = [
        ("0 errors", str(len(result.errors)), not result.errors),
        ("p95 of a script run ≤ 2 s", f"{np.percentile(requests, 95):.2f} s",
         np.percentile(requests, 95) <= 2),
        (
            "p95 of a rating click ≤ 1 s",
            f"{np.percentile(clicks, 95):.2f} s" if clicks else "no click",
            bool(clicks) and np.percentile(clicks, 95) <= 1,
        ),
        (
            f"no job waits behind more than {MAX_AHEAD} other people's",
            f"at most {max(ahead)}" if ahead else "no job",
            bool(ahead) and max(ahead) <= MAX_AHEAD,
        ),
        (
            "server memory ≤ 6 GB",
            f"{result.memory.peak_total / 1e9:.2f} GB",
            result.memory.peak_total <= MAX_MEMORY,
        ),
    ]  # fmt: skip
    return [f"| {target} | {measured} | {'yes' if met else '**no**'} |" for target, measured, met in rows]


def intro(result: LoadResult) -> str:
    return textwrap.fill(
        f"{len(result.clients)} headless sessions (what a browser tab sends over Streamlit's websocket) on "
        "one server at once. Each opens the app, rates three movies, trains Weighted ALS "
        f"({EPOCHS} epochs, one of {SEEDS} seeds, so most trainings come from the shared model cache) and "
        "reads its recommendations, "
        f"then until the time is up keeps browsing pages, rating movies among the {MOVIE_PAGES * 10} most "
        "rated, reading recommendations and now and then training again, pausing "
        f"{result.think:g} s on average after each action (0 to {2 * result.think:g} s: a person reading "
        "the page). At the end it checks that the sidebar counts its own ratings and that Your ratings "
        "lists only its movies. Memory: resident size (VmRSS) sampled every 0.2 s and summed over the "
        "process tree, so pages the trainer processes share with their fork server count once per process "
        "(an upper bound).",
        width=110,
    )


def facts(result: LoadResult) -> list[tuple[str, str]]:
    memory, requests = result.memory, sum(c.requests for c in result.clients)
    trainings = sum(len(c.seconds.get(TRAINING, [])) for c in result.clients)
    return [
        ("date", date.today().isoformat()),
        ("machine", machine(f"Streamlit {version('streamlit')}")),
        (
            "load average (1 min) before the server started / at the end",
            "{:.2f} / {:.2f}".format(*result.load),
        ),
        ("`uptime` before the server started", result.uptime[0]),
        ("`uptime` at the end", result.uptime[1]),
        ("clients", str(len(result.clients))),
        (
            "duration",
            f"{result.wall:.1f} s (bound {result.bound:g} s; actions under way at the bound finish)",
        ),
        ("script runs (requests)", f"{requests:,} ({requests / result.wall:.1f} per second)"),
        ("ratings given", f"{sum(len(c.rated) for c in result.clients):,}"),
        ("trainings followed to the result", str(trainings)),
        *(
            [
                (
                    "challenge submissions accepted / kept / refused by the hourly limit",
                    f"{sum(c.submitted for c in result.clients)} / {result.kept_submissions} / "
                    f"{sum(c.refused for c in result.clients)}",
                )
            ]
            if result.challenge
            else []
        ),
        (
            f"peak memory, server and its {memory.peak_processes - 1} child processes",
            f"{memory.peak_total / 1e6:,.0f} MB",
        ),
        ("peak memory, the Streamlit process alone", f"{memory.peak_main / 1e6:,.0f} MB"),
        *fairness_facts(result),
        ("errors", str(len(result.errors))),
    ]


ROSTER_INTRO = textwrap.fill(
    "With a roster (`--roster`): the server runs in classroom mode (a class password, and the class limits on "
    "trainings), the teacher made a roster of one student per client, and each client first signs in with its "
    "own join code; every budget then counts the student.",
    width=110,
)


def class_intro(result: LoadResult) -> str:
    return textwrap.fill(
        "In a class (`--class`): a tuning challenge (NDCG@10 on the bundled data, Weighted ALS, held out by "
        "user:0.2) is open; after its first steps each client runs a lesson (the first on the Lessons page), "
        'presses "Work on this challenge" (its training part becomes the client\'s data set, for every later '
        "step too), tunes (Weighted ALS, seed 0, 1 to 3 epochs), submits on the Challenge page under its own "
        "name and reads the board, and the mix goes on with those steps (one lesson, one tuning and three board "
        "readings for every 12 other actions). Every accepted submission must be kept in the challenge's file. "
        "Fairness, from the server's own log of its training jobs: for each job, how many other people's jobs "
        "took a trainer while it waited.",
        width=110,
    )


def error_kinds(errors: list[str], shown: int = 20) -> list[str]:
    """The errors as Markdown list items, alike ones (client numbers aside) once with their count."""
    kinds: dict[str, int] = {}
    for error in errors:
        kind = re.sub(r"\b(client|Student) \d+", r"\1 N", error)
        kinds[kind] = kinds.get(kind, 0) + 1
    ranked = sorted(kinds.items(), key=lambda item: -item[1])[:shown]
    return [f"- {count} × {kind}" if count > 1 else f"- {kind}" for kind, count in ranked]


def render(result: LoadResult) -> str:
    options = f"--clients {len(result.clients)} --seconds {result.bound:g} --think {result.think:g}"
    options += " --class" if result.challenge else ""
    options += " --roster" if result.roster else ""
    return (
        "\n".join(
            [
                "# Load test: many clients on one dashboard server",
                "",
                intro(result),
                *(["", class_intro(result)] if result.challenge else []),
                *(["", ROSTER_INTRO] if result.roster else []),
                "",
                "| | |",
                "| --- | --- |",
                *[f"| {name} | {value} |" for name, value in facts(result)],
                "",
                "Response times: median (p50), 95th percentile and count, over all clients. One script run is",
                "what a browser waits for after a click; the training row spans the click and the polls until",
                "its result shows.",
                "",
                "| action | p50 | p95 | count |",
                "| --- | ---: | ---: | ---: |",
                *timing_rows(result),
                "",
                "Where the time goes: opening each page, slowest p95 first.",
                "",
                "| page | p50 | p95 | count |",
                "| --- | ---: | ---: | ---: |",
                *page_rows(result),
                "",
                *(
                    [
                        "Issue 23's targets:",
                        "",
                        "| target | measured | met |",
                        "| --- | --- | --- |",
                        *targets(result),
                        "",
                    ]
                    if result.challenge
                    else []
                ),
                f"Rerun: `./dev bench load_test {options}`.",
                "",
                *error_kinds(result.errors),
            ]
        ).rstrip()
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="sessions at once (default 20)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they keep going (default 60)")
    parser.add_argument(
        "--think",
        type=float,
        default=THINK,
        help=f"mean pause after each action, seconds (default {THINK:g})",
    )
    parser.add_argument(
        "--class", dest="in_class", action="store_true", help="a class in a tuning challenge (issue 23)"
    )
    parser.add_argument(
        "--roster", action="store_true", help="classroom mode, each client signing in with its own join code"
    )
    parser.add_argument(
        "--out", type=Path, help=f"the report (default {RESULTS}, with --class {CLASS_RESULTS})"
    )
    args = parser.parse_args()
    args.out = args.out or (CLASS_RESULTS if args.in_class else RESULTS)
    with tempfile.TemporaryDirectory(prefix="recengine-load-") as home:
        result = run_load_test(
            args.clients, args.seconds, Path(home), args.think, args.in_class, with_roster=args.roster
        )
    report = render(result)
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
