"""One memory budget for the whole engine, and one way to refuse work that would not fit in it.

The budget is ``$RECENGINE_MEMORY_BUDGET`` (bytes, or a size such as ``2GB``, ``512MiB``), else a share
(`DEFAULT_SHARE`) of the memory available when asked. Every place that could allocate a lot (loading a
file, a model's factor matrices, a batch of dense scores, a t-SNE map, a cluster-by-item table) estimates
its need first and calls `check`, which raises `TooLargeError` with a message saying what was refused,
why, and what to do instead; or asks `fits` and works in smaller pieces.
"""

from __future__ import annotations

import os
import re

from recengine.errors import ParameterError, TooLargeError

ENV = "RECENGINE_MEMORY_BUDGET"
DEFAULT_SHARE = 0.8
_UNITS = {
    "": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
    "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip


def available_bytes() -> int | None:
    """Bytes of memory available now (Linux MemAvailable, else free physical pages), if known."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def parse_size(text: str) -> int:
    """Bytes from ``"2000000"``, ``"2GB"``, ``"1.5 GiB"`` or ``"512M"`` (decimal units; ``iB`` binary)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ParameterError(ENV, text, "a size in bytes such as 2000000000, 2GB or 512MiB")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ParameterError(ENV, text, "a positive size")
    return size


def budget_bytes(override: int | None = None) -> int | None:
    """The memory budget in bytes: ``override``, else ``$RECENGINE_MEMORY_BUDGET``, else `DEFAULT_SHARE` of
    the memory available now; None when none is set and the available memory is unknown."""
    if override is not None:
        return int(override)
    if configured := os.environ.get(ENV, "").strip():
        return parse_size(configured)
    available = available_bytes()
    return None if available is None else int(available * DEFAULT_SHARE)


def _source(override: int | None) -> str:
    if override is not None:
        return "as given"
    if os.environ.get(ENV, "").strip():
        return f"set by {ENV}"
    return f"{DEFAULT_SHARE:.0%} of the memory available now; set {ENV} to change it"


def fits(bytes_needed: float, budget: int | None = None) -> bool:
    """Whether ``bytes_needed`` fits the budget (always, when no budget is known)."""
    limit = budget_bytes(budget)
    return limit is None or bytes_needed <= limit


def check(bytes_needed: float, what: str, advice: str, budget: int | None = None) -> None:
    """Raise `TooLargeError` when ``what`` would need more than the budget.

    ``what`` names the work ("A 2-D t-SNE map of 80,000 items"), ``advice`` says what to do instead.
    """
    limit = budget_bytes(budget)
    if limit is not None and bytes_needed > limit:
        raise TooLargeError(
            f"{what} would need about {format_size(bytes_needed)} of memory; the memory budget is "
            f"{format_size(limit)} ({_source(budget)}). {advice}"
        )


def format_size(n: float) -> str:
    """``1234567`` → ``'1.2 MB'`` (decimal units)."""
    for unit in ("bytes", "KB", "MB"):
        if n < 1000:
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} GB"
