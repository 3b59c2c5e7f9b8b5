"""Shared fixtures: small data sets the tests make themselves, and the path to MovieLens 100k."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.data.synthetic import planted_low_rank

ML100K = Path(
    os.environ.get(
        "RECENGINE_ML100K", Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
    )
)


@pytest.fixture
def ml100k_path() -> Path:
    """MovieLens 100k from ../shared (never bundled: its licence forbids redistribution)."""
    if not (ML100K / "u.data").exists():
        pytest.skip(f"MovieLens 100k is not at {ML100K}; these tests need it there.")
    return ML100K


@pytest.fixture
def planted() -> tuple[RatingsDataset, np.ndarray]:
    """A noise-free rank-3 matrix, 30% observed."""
    return planted_low_rank(n_users=200, n_items=150, rank=3, density=0.3, seed=1)


@pytest.fixture
def tiny() -> RatingsDataset:
    """Four users, five items, on a 1..5 integer scale."""
    users = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
    items = np.array([0, 1, 2, 0, 3, 1, 2, 4, 0, 4])
    ratings = np.array([5, 3, 4, 4, 2, 1, 5, 3, 2, 4], dtype=float)
    return RatingsDataset(users, items, ratings, np.array([10, 11, 12, 13]), np.array([1, 2, 3, 4, 5]))
