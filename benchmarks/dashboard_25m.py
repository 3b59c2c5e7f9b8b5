"""The dashboard on 25 million ratings: does every page stay responsive at MovieLens 25M's size?

A real server (``streamlit run app.py``) is driven by one headless session (`dashboard.client.Session`, what
a browser tab sends). It loads the synthetic 25M file that ``scale_25m`` and ``load_25m`` use through the
Data page's "file on the server" option, visits every page, trains a model (``--algo``, float32, a few
epochs) on the Train page, then visits every page again with that model active and asks for
recommendations. Each script run is timed (the server's whole answer, charts included); a page showing an
exception or an error counts as a failure. A thread samples the resident memory of the server's process
tree (Streamlit and its trainer processes).

    ./dev bench dashboard_25m [--ratings 25000000] [--algo sgd] [--epochs 2]   # results/dashboard_25m.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This folder's dashboard.py would hide the dashboard package: the project first, this folder last (for
# scale_25m, which imports its sibling memory.py).
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.append(str(ROOT / "benchmarks"))

from scale_25m import data_file  # noqa: E402

from benchmarks.memory import TreeSampler  # noqa: E402
from dashboard.client import Session  # noqa: E402
from dashboard.navigation import TITLES as PAGES  # noqa: E402
from dashboard.server import running_app  # noqa: E402
from recengine.models import MODELS  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "dashboard_25m.md"
TIMEOUT = 900.0  # seconds one script run or the training may take


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=int, default=25_000_000)
    parser.add_argument("--algo", default="sgd")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    path = data_file(args.ratings)
    os.environ["RECENGINE_DATA_DIRS"] = str(path.parent)  # the Data page may read this folder
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as home, running_app(Path(home)) as server:
        with TreeSampler(server.process.pid) as memory, Session(server.url, timeout=TIMEOUT) as session:
            rows = visit(session, path, args.algo, args.epochs)
        log = server.log.read_text()
    tracebacks = log.count("Traceback")
    report = render(rows, memory, tracebacks, path, args, (load_before, os.getloadavg()[0]))
    RESULTS.write_text(report)
    print(report)


Row = tuple[str, float, str]  # what, seconds, problems shown on the page ("" when none)


def visit(session: Session, path: Path, algo: str, epochs: int) -> list[Row]:
    rows: list[Row] = []

    def timed(what: str, action: Callable[[], float]) -> None:
        seconds = action()
        shown = session.exceptions() + session.alerts("error")
        rows.append((what, seconds, "; ".join(shown)[:300]))
        print(f"{what}: {seconds:.2f} s {shown or ''}", file=sys.stderr)

    timed("open the app (bundled set)", session.run)
    session.run("Data")
    session.set("data_source", "File on the server")
    timed(
        "load the 25M file (Data page, charts included)",
        lambda: session.run(
            widgets=[session.state("data_path", str(path)), session.state("data_path_load", True)]
        ),
    )
    for page in PAGES:
        timed(f"open {page}", lambda page=page: session.run(page))
    timed(f"train {algo}, {epochs} epochs, float32", lambda: train(session, algo, epochs))
    for page in PAGES:
        timed(f"open {page} (model active)", lambda page=page: session.run(page))
    timed("recommendations for a user of the data", lambda: for_a_user(session))
    return rows


def train(session: Session, algo: str, epochs: int) -> float:
    """Seconds from the Train click to the results card."""
    session.run("Train")
    session.set("train_algo", MODELS[algo].label)
    started = time.perf_counter()
    session.run(
        widgets=[
            session.state(f"train_{algo}_n_epochs", epochs),
            session.state(f"train_{algo}_dtype", "float32"),
            session.state("train_go", True),
        ]
    )
    while not session.alerts("success") and not session.alerts("error") and not session.alerts("warning"):
        if time.perf_counter() - started > TIMEOUT:
            raise TimeoutError(f"training did not end within {TIMEOUT} s")
        time.sleep(1.0)
        session.run()
    return time.perf_counter() - started


def for_a_user(session: Session) -> float:
    session.run("Recommendations")
    return session.set("recs_who", "a user in the data")  # the page's segmented control


def render(rows: list[Row], memory: TreeSampler, tracebacks: int, path: Path, args, load: tuple) -> str:
    lines = [
        "# The dashboard on 25M ratings",
        "",
        f"Measured by `benchmarks/dashboard_25m.py` on {date.today()}: {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {load[0]:.1f} at the start and {load[1]:.1f} at the end. "
        f"One headless session on a real server; data: `{path.name}` ({args.ratings:,} ratings, synthetic, "
        'shaped like MovieLens 25M), loaded through the Data page\'s "file on the server". Seconds are the '
        "server's whole answer to one click (a script run, charts included).",
        "",
        "| what | seconds | problems shown |",
        "| --- | ---: | --- |",
        *(f"| {what} | {seconds:.2f} | {problem or 'none'} |" for what, seconds, problem in rows),
        "",
        f"Peak resident memory of the server's process tree: {memory.peak_total / 1e9:.2f} GB "
        f"(the Streamlit process alone {memory.peak_main / 1e9:.2f} GB; up to {memory.peak_processes} "
        f"processes). Tracebacks in the server's log: {tracebacks}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
