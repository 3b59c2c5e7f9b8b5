"""Start the dashboard as a real server (``streamlit run app.py``) on a free port: for the browser test
and the dashboard benchmark, which both drive it with Chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    started: float  # time.perf_counter() just before the process was launched
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_app(home: Path, timeout: float = 60.0, *, plain: bool = False) -> Iterator[Server]:
    """A dashboard server whose files (models, profiles, uploads, downloads) all live under ``home``:
    ``./dev app``'s ``python -m dashboard.serve``, or with ``plain`` Streamlit's own ``streamlit run app.py``."""
    port = free_port()
    log = Path(home) / "server.log"
    env = os.environ | {
        "RECENGINE_HOME": str(home),  # profiles and uploads
        "RECENGINE_CACHE": str(Path(home) / "cache"),  # downloads
        "RECENGINE_STORE": str(Path(home) / "models"),  # trained models
        "PYTHONUNBUFFERED": "1",
    }
    start = ["-m", "streamlit", "run", "app.py"] if plain else ["-m", "dashboard.serve"]
    command = [
        sys.executable, *start,
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    Path(home).mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, process, timeout, log)
            yield Server(url, process, started, log)
        finally:
            _stop(process)


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as answer:
                if answer.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"streamlit did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
