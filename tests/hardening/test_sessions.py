"""Many users at once: 10 sessions on one real dashboard server (``streamlit run app.py``), each driven
over Streamlit's websocket protocol by its own thread (`dashboard.client.Session`, what a browser tab
sends), all at the same time. Each session rates three different movies with its own stars, trains Weighted
ALS (two sessions per configuration, so the shared model cache is used too), then reads its ratings, its
active model, its metrics and its recommendations back. No session may see another's ratings, model or
results; no page may show an exception; the server's log must stay free of tracebacks.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from outcomes import tally

from dashboard.client import Session
from dashboard.server import running_app
from recengine.store import ModelStore

SESSIONS = 10  # 20 took 3.5 min of CI under load and found nothing 10 does not
CONFIGS = SESSIONS // 2  # sessions 2k and 2k+1 train the same configuration (seed k)
LABELS = ["5", "4½", "4", "3½", "3", "2½", "2", "1½", "1", "½"]  # the Rate page's star buttons
LIKED = 5  # LABELS[:5] are 3★ or more; a session's first rating is one: a film rated low is never a reason
VALUES = {label: float(label.replace("½", ".5")) if label != "½" else 0.5 for label in LABELS}
RATED = 3
GENERAL = "general appeal"  # a reason that cites no rated film says the film is there for this
EPOCHS = 2
TIMEOUT = 150
POLL = 0.5  # seconds between two looks at a training's progress (the page itself refreshes every 0.4 s)


@dataclass
class Seen:
    """What one session did, and what its pages showed it."""

    index: int
    rated: dict[str, float] = field(default_factory=dict)  # raw item id -> rating given
    titles: dict[str, str] = field(default_factory=dict)  # raw item id -> title shown
    model: str = ""
    metrics: dict[str, str] = field(default_factory=dict)
    explanations: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, list[float]] = field(default_factory=dict)  # response times by action

    def timed(self, action: str, seconds: float) -> None:
        self.seconds.setdefault(action, []).append(seconds)

    def check(self, session: Session, where: str) -> None:
        for shown in session.exceptions():
            self.problems.append(f"{where}: exception {shown}")
        for shown in session.alerts("error"):
            self.problems.append(f"{where}: error {shown}")


def rate(session: Session, seen: Seen) -> None:
    seen.timed("open a page", session.run("Rate movies"))
    if seen.index:
        seen.timed(
            "rate", session.set("rate_page", seen.index + 1)
        )  # ten movies per page: each session its own page
    rows = session.find()
    for number, key in enumerate(session.keys("rate_item_")[:RATED]):
        item = key.removeprefix("rate_item_")
        position = next(i for i, e in enumerate(rows) if e.key == key)
        title = rows[position - 1].text.split("**")[1]  # the movie's title line above, in Markdown
        seen.titles[item] = re.sub(r"\\(.)", r"\1", title)  # the page escapes a title's punctuation
        label = LABELS[(seen.index + number) % (len(LABELS) if number else LIKED)]
        seen.timed("rate", session.set(key, label))
        seen.rated[item] = VALUES[label]
    seen.check(session, "rate")


def train(session: Session, seen: Seen) -> None:
    seen.timed("open a page", session.run("Train"))
    started = time.perf_counter()
    clicked = session.run(
        widgets=[
            session.state("train_wals_n_epochs", EPOCHS),
            session.state("train_wals_seed", seen.index // 2),
            session.state("train_go", True),
        ]
    )
    seen.timed("click Train", clicked)
    deadline = started + TIMEOUT
    while not session.alerts("success"):
        seen.check(session, "train")
        warnings, late = session.alerts("warning"), time.perf_counter() > deadline
        if warnings or seen.problems or late:
            why = (
                f"warning {warnings}" if warnings else f"no result after {TIMEOUT} s" if late else "a problem"
            )
            seen.problems.append(
                f"training did not end well ({why}); sidebar: {session.sidebar_text()[-300:]}"
            )
            return
        time.sleep(POLL)
        seen.timed("follow training", session.run())
    seen.timed("train until the results show", time.perf_counter() - started)
    seen.model = active_model(session)
    seen.metrics = {
        e.proto.label: e.proto.body for e in session.find("metric") if e.proto.label != "Fit time"
    }


def active_model(session: Session) -> str:
    found = re.search(r"\*\*Your lists:\*\* (.*)", session.sidebar_text())
    return found.group(1) if found else ""


def read_back(session: Session, seen: Seen) -> None:
    """Everything the session's pages show about its own ratings, model and recommendations."""
    seen.timed("recommendations", session.run("Recommendations"))
    seen.check(session, "recommendations")
    if not any(f"Your list comes from your {RATED} ratings" in t for t in session.texts("markdown")):
        seen.problems.append("recommendations are not folded in from this session's ratings")
    numbered = recs_list_path(session)
    if numbered is None:
        seen.problems.append(f"no numbered list on Recommendations: {session.page_text()[-300:]}")
        return
    listed = [e.text for e in session.find("markdown") if e.path[:2] == numbered]
    seen.explanations = [
        re.sub(r"\\(.)", r"\1", text.split("  \n", 1)[1]) for text in listed if "  \n" in text
    ]
    seen.timed("open a page", session.run("Rate movies"))
    seen.check(session, "rate again")
    table = session.table("rate_mine")
    rows = zip(table.index, table["title"], table["rating"], strict=True)
    listed = {str(item): (title, rating) for item, title, rating in rows}
    rated = {item: (seen.titles[item], value) for item, value in seen.rated.items()}
    if listed != rated:
        seen.problems.append(f"Your ratings lists {listed}, rated {rated}")
    if f"**You rated:** {RATED} movies" not in session.sidebar_text():
        seen.problems.append(f"sidebar: {session.sidebar_text()}")
    if active_model(session) != seen.model:
        seen.problems.append(f"active model changed from {seen.model!r} to {active_model(session)!r}")


def recs_list_path(session: Session) -> tuple[int, ...] | None:
    """The path of the block that holds the numbered recommendations (its first markdown's parent)."""
    first = next((e for e in session.find("markdown") if e.text.startswith("**1. ")), None)
    return None if first is None else first.path[:2]


def visit(url: str, seen: Seen, barrier: threading.Barrier) -> None:
    try:
        with Session(url, timeout=TIMEOUT) as session:
            seen.timed("open the app", session.run())
            barrier.wait()  # everyone rates at the same time
            rate(session, seen)
            barrier.wait()  # and trains at the same time
            train(session, seen)
            barrier.wait()  # and reads back once every session has trained
            read_back(session, seen)
    except Exception as error:  # a broken session must not leave the others waiting at a barrier
        seen.problems.append(f"{type(error).__name__}: {error}")
        barrier.abort()


@dataclass
class Crowd:
    seen: list[Seen]
    home: Path
    log: str
    wall: float


@pytest.fixture(scope="module")
def crowd(tmp_path_factory) -> Crowd:
    home = tmp_path_factory.mktemp("crowd")
    with running_app(home) as server:
        seen = [Seen(index) for index in range(SESSIONS)]
        barrier = threading.Barrier(SESSIONS, timeout=TIMEOUT)
        started = time.perf_counter()
        threads = [threading.Thread(target=visit, args=(server.url, s, barrier)) for s in seen]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(4 * TIMEOUT)
        wall = time.perf_counter() - started
    return Crowd(seen, home, server.log.read_text(), wall)


def test_every_session_sees_only_its_own_ratings_model_and_results(crowd):
    problems = [f"session {s.index}: {p}" for s in crowd.seen for p in s.problems]
    assert not problems, "\n".join(problems)
    citing = 0
    for s in crowd.seen:
        others = {title for o in crowd.seen if o is not s for title in o.titles.values()}
        cited = [title for title in others for text in s.explanations if title in text]
        assert not cited, f"session {s.index} is told it rated {cited}"
        own_cited = {title for title in s.titles.values() for text in s.explanations if title in text}
        # Two liked films may lead to none of the ten (the list then follows their genres): said so, honestly.
        assert own_cited or all(GENERAL in text for text in s.explanations), (s.index, s.explanations)
        citing += bool(own_cited)
        tally("sessions", "app sessions at once", "own ratings, model and results")
    assert citing >= SESSIONS // 2, f"only {citing} of {SESSIONS} sessions' lists cite their own ratings"
    items = [item for s in crowd.seen for item in s.rated]
    assert len(items) == len(set(items)) == SESSIONS * RATED  # every session rated movies of its own
    print(f"\n{SESSIONS} sessions in {crowd.wall:.1f} s; response times (median, 95th percentile, count):")
    for action in crowd.seen[0].seconds:
        times = sorted(t for s in crowd.seen for t in s.seconds.get(action, []))
        p50, p95 = times[len(times) // 2], times[min(int(len(times) * 0.95), len(times) - 1)]
        print(f"  {action}: {p50:.2f} s, {p95:.2f} s, {len(times)}")


def test_sessions_of_one_configuration_share_the_model_and_no_one_else_does(crowd):
    for k in range(CONFIGS):
        first, second = crowd.seen[2 * k], crowd.seen[2 * k + 1]
        assert first.model and first.model == second.model
        assert first.metrics and first.metrics == second.metrics
        assert first.explanations != second.explanations  # one model, two people's recommendations
    assert len({s.model for s in crowd.seen}) == CONFIGS
    stored = ModelStore(crowd.home / "models").list()
    # each configuration twice: measured on its split, and fitted on every rating to serve people
    assert len(stored) == 2 * CONFIGS and {e["params"]["seed"] for e in stored} == set(range(CONFIGS))
    assert sorted(e["extra"]["split"] for e in stored).count("none") == CONFIGS


def test_the_server_logged_no_error(crowd):
    assert "Traceback" not in crowd.log and "Error" not in crowd.log, crowd.log[-3000:]
