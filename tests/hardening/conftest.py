"""Hardening tests: hypothesis profiles, a scratch folder in memory, and a tally of outcomes per case kind.

``HYPOTHESIS_PROFILE=ci`` (the default) runs every fuzz test with its stated number of cases and a fixed
seed, so CI is deterministic and stays within its time budget; ``HYPOTHESIS_PROFILE=thorough`` runs ten
times as many cases from random seeds. ``HARDENING_TALLY=path.json`` writes the outcome counts (the source
of ``benchmarks/results/hardening.md``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from outcomes import PROFILE, TALLY, report_lines


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Path]:
    """A scratch folder in memory (/dev/shm when there is one): thousands of small files, written fast."""
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="recengine-hardening-", dir=shm if shm.is_dir() else None))
    (root / "cases").mkdir()
    (root / "cache").mkdir()
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def isolated_cache(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Zip archives given as data unpack under the sandbox, never in the user's cache."""
    monkeypatch.setenv("RECENGINE_CACHE", str(sandbox / "cache"))
    return sandbox / "cache"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not TALLY:
        return
    terminalreporter.section(f"hardening outcomes (HYPOTHESIS_PROFILE={PROFILE})")
    for line in report_lines():
        terminalreporter.write_line(line)
    if target := os.environ.get("HARDENING_TALLY"):
        rows = {f"{area}|{what}": dict(counts) for (area, what), counts in TALLY.items()}
        Path(target).write_text(json.dumps(rows, indent=1, sort_keys=True))
