"""What every hardening case must end in, checked the same way everywhere, and counted for the results table."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings
from malformed import Case

from recengine.data import load
from recengine.data.dataset import RatingsDataset
from recengine.errors import DataError

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    "thorough",
    settings.get_profile("ci"),
    derandomize=False,
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
SCALE = {"ci": 1, "thorough": 10}.get(PROFILE, 1)


def fuzz_settings(cases: int) -> settings:
    """Settings for one fuzz test: ``cases`` examples (times ten when thorough), no deadline."""
    return settings(
        settings.get_profile(PROFILE if PROFILE in ("ci", "thorough") else "ci"), max_examples=cases * SCALE
    )


# (area, what) -> outcome -> count, filled while the tests run and printed in the terminal summary.
TALLY: dict[tuple[str, str], Counter] = {}


def tally(area: str, what: str, outcome: str) -> None:
    TALLY.setdefault((area, what), Counter())[outcome] += 1


def check_dataset(data: RatingsDataset) -> None:
    """The invariants every loaded data set keeps."""
    n = data.n_ratings
    assert n > 0, "a loader returned an empty data set instead of EmptyDataError"
    assert data.user_codes.dtype == np.int32 and data.item_codes.dtype == np.int32
    assert data.ratings.dtype == np.float32
    assert len(data.user_codes) == len(data.item_codes) == n
    assert data.user_codes.min() >= 0 and data.user_codes.max() < data.n_users
    assert data.item_codes.min() >= 0 and data.item_codes.max() < data.n_items
    assert np.isfinite(data.ratings).all()
    assert data.scale.contains(data.ratings).all()
    assert math.isfinite(data.scale.low) and math.isfinite(data.scale.high)
    pairs = data.user_codes.astype(np.int64) * data.n_items + data.item_codes
    assert len(np.unique(pairs)) == n, "duplicate (user, item) pairs survived loading"
    assert len(set(data.user_ids.tolist())) == data.n_users
    assert len(set(data.item_ids.tolist())) == data.n_items
    if data.timestamps is not None:
        assert data.timestamps.dtype == np.int64 and len(data.timestamps) == n
    assert len(data.items) == data.n_items
    assert data.fingerprint and data.summary()["ratings"] == n
    assert data.csr.nnz == n


def load_case(case: Case, root: Path) -> RatingsDataset:
    """Write ``case`` into a fresh folder under ``root`` and load it as the case says."""
    folder = Path(tempfile.mkdtemp(dir=root))
    try:
        for name, content in case.files.items():
            (folder / name).write_bytes(content)
        target = folder / case.target
        return load(target, format=case.format)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def expect_dataset_or_data_error(case: Case, root: Path, area: str, what: str) -> None:
    """Load ``case``: a valid data set or a DataError with a message; anything else fails the test."""
    try:
        data = load_case(case, root)
    except DataError as error:
        assert str(error).strip(), f"{type(error).__name__} without a message"
        tally(area, what, type(error).__name__)
        return
    check_dataset(data)
    tally(area, what, "loaded")


def nothing_escaped(sandbox: Path) -> None:
    """Once a case's own folders are gone, the sandbox holds only its empty ``cases`` and ``cache`` folders,
    and nothing exists at the absolute paths the unsafe member names point at."""
    left = sorted(str(p.relative_to(sandbox)) for p in sandbox.rglob("*"))
    assert left == ["cache", "cases"], f"files written outside the target folder: {left}"
    for absolute in ("/tmp/evil.csv", "/evil.csv", "C:/evil.csv", "C:\\evil.csv"):
        assert not Path(absolute).exists(), f"an archive member was written to {absolute}"


def report_lines() -> list[str]:
    lines = []
    for (area, what), counts in sorted(TALLY.items()):
        total = sum(counts.values())
        shown = ", ".join(f"{name} {count}" for name, count in counts.most_common())
        lines.append(f"{area:>12} {what:<28} {total:>6} cases: {shown}")
    return lines
