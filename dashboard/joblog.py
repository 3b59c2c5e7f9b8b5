"""One line per training job in a file, for the load test's fairness measure (``RECENGINE_JOB_LOG``; unset,
nothing is written): whose job it was (a digest), when it was admitted to the line, when it took a trainer
and when it ended, in seconds on the server's monotonic clock, and how it ended."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from typing import Any

ENV = "RECENGINE_JOB_LOG"
_lock = threading.Lock()


def follow(job: Any) -> None:
    """Write ``job``'s line once it has ended (a daemon thread waits for it), when the log is on."""
    path = os.environ.get(ENV, "").strip()
    if path:
        threading.Thread(target=_write_when_done, args=(job, path), name="job-log", daemon=True).start()


def record(job: Any) -> dict[str, Any]:
    """The line of an ended ``job``: ``started`` is None for one cancelled before it took a trainer."""
    took = job.timeline.get("worker")
    return {
        "owner": hashlib.blake2b(str(job.owner).encode(), digest_size=8).hexdigest(),
        "label": job.label,
        "admitted": job.started,
        "started": None if took is None else job.started + took,
        "ended": job.started + job.seconds,
        "status": job.status,
    }


def _write_when_done(job: Any, path: str) -> None:
    job.join()
    line = json.dumps(record(job)) + "\n"
    with _lock, open(path, "a") as file:
        file.write(line)
