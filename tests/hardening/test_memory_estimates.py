"""Memory guards that estimate within 25 % of the measured peak (issue 12, point 7): every model fits one
epoch at 250,000 users × 2,000 items (250,000 ratings: the factors dominate, as at the issue's 10M users)
in its own process, whose peak resident memory during the fit is compared with `memory_estimate`.

Allocations over 64 kB are mapped fresh (``MALLOC_MMAP_THRESHOLD_``), so memory freed before the fit is not
reused unseen and the resident size shows every array the fit makes. About 5 s per model on 2 cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from outcomes import tally

from recengine.models import MODELS

ROOT = Path(__file__).resolve().parents[2]
SHAPE = "250000,2000,250000"
TOLERANCE = 0.25


def fit_peak(algo: str, shape: str = SHAPE) -> dict:
    env = os.environ | {"MALLOC_MMAP_THRESHOLD_": "65536", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("fit_peak.py")), algo, shape],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("algo", sorted(MODELS))
def test_the_memory_estimate_is_within_a_quarter_of_the_measured_peak(algo: str):
    result = fit_peak(algo)
    ratio = result["estimate"] / result["measured"]
    tally(
        "memory", f"{algo} at {SHAPE}",
        f"estimate {result['estimate'] / 1e6:,.0f} MB, peak {result['measured'] / 1e6:,.0f} MB ({ratio - 1:+.0%})",
    )  # fmt: skip
    assert abs(ratio - 1) <= TOLERANCE, result
