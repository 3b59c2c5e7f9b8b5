"""Memory of benchmarked processes, read from Linux's /proc: one process's resident high-water mark, the
processes below one, and a sampler of a whole process tree's resident memory (a server and the workers it
forks), for the benchmark scripts; and the one-line description of the machine their results quote."""

from __future__ import annotations

import os
import platform
import threading
import time
from pathlib import Path


def status_bytes(pid: int | str, field: str) -> int:
    """A size field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``, ...) in bytes; 0 when the process
    has gone or has no such field (a zombie has no memory)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((int(line.split()[1]) * 1024 for line in status if line.startswith(f"{field}:")), 0)
    except OSError:
        return 0


def peak_bytes(pid: int | str = "self") -> int:
    """A process's resident high-water mark. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the
    parent across exec, so a child would report the benchmark driver's own peak."""
    return status_bytes(pid, "VmHWM")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        children = parents.get(queue.pop(), [])
        found += children
        queue += children
    return found


class TreeSampler:
    """Samples the resident memory (``VmRSS``) of ``pid`` and every process below it every ``interval``
    seconds in a thread, keeping the peaks: ``peak_total`` (the tree's sum) and ``peak_main`` (``pid``
    alone). Use it as a context manager around the work to measure."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval = pid, interval
        self.peak_total = self.peak_main = self.peak_processes = self.samples = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def sample(self) -> None:
        tree = [self.pid, *descendants(self.pid)]
        main = status_bytes(self.pid, "VmRSS")
        self.peak_main = max(self.peak_main, main)
        self.peak_total = max(self.peak_total, main + sum(status_bytes(p, "VmRSS") for p in tree[1:]))
        self.peak_processes = max(self.peak_processes, len(tree))
        self.samples += 1

    def _run(self) -> None:
        while True:
            started = time.perf_counter()
            self.sample()
            if self._done.wait(max(self.interval - (time.perf_counter() - started), 0)):
                self.sample()  # the last moment counts too
                return


def machine(*more: str) -> str:
    """Cores, CPU model, RAM, Python and NumPy versions, then ``more`` (other versions worth quoting)."""
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    parts = [f"{os.cpu_count()} cores ({cpu})", f"{ram:.0f} GB RAM", f"Python {platform.python_version()}",
             f"NumPy {np.__version__}", *more]  # fmt: skip
    return ", ".join(parts)
