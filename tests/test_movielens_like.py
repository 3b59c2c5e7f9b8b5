"""The MovieLens-shaped synthetic generator used by the scale benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recengine.data import load
from recengine.data.synthetic import movielens_like, write_movielens_like


@pytest.fixture(scope="module")
def ratings():
    return movielens_like(2_000, 1_500, 120_000, seed=3)


def test_shape_types_and_ranges(ratings):
    assert list(ratings.columns) == ["userId", "movieId", "rating"] and len(ratings) == 120_000
    assert ratings.dtypes.tolist() == [np.int32, np.int32, np.float32]
    assert ratings["userId"].between(1, 2_000).all() and ratings["movieId"].between(1, 1_500).all()
    assert ratings["userId"].nunique() == 2_000
    assert set(np.unique(ratings["rating"])) <= set(np.arange(0.5, 5.01, 0.5))
    assert 3.2 < ratings["rating"].mean() < 3.9 and (ratings["rating"] % 1 == 0).mean() > 0.6


def test_pairs_are_distinct_and_sorted_like_movielens(ratings):
    assert not ratings.duplicated(["userId", "movieId"]).any()
    pair = ratings["userId"].to_numpy(np.int64) * 10_000 + ratings["movieId"].to_numpy()
    assert (np.diff(pair) > 0).all()


def test_popularity_and_activity_are_skewed(ratings):
    per_item = np.sort(ratings["movieId"].value_counts().to_numpy())[::-1]
    assert per_item[: len(per_item) // 100].sum() > 0.04 * len(ratings)  # top 1% of items: > 4x their share
    per_user = ratings["userId"].value_counts()
    assert per_user.min() >= 20 and per_user.max() > 5 * per_user.median()


def test_same_seed_same_ratings(ratings):
    assert movielens_like(2_000, 1_500, 120_000, seed=3).equals(ratings)
    assert not movielens_like(2_000, 1_500, 120_000, seed=4).equals(ratings)


def test_timestamps_on_request():
    data = movielens_like(50, 40, 1_000, seed=0, timestamps=True)
    assert data["timestamp"].dtype == np.int64 and data["timestamp"].min() > 9e8


def test_written_csv_loads_back_identically(tmp_path: Path):
    expected = movielens_like(300, 200, 9_000, seed=1)
    path = write_movielens_like(tmp_path / "r.csv", 300, 200, 9_000, 1)
    assert path.read_text().startswith("userId,movieId,rating\n")
    data = load(path)
    assert data.n_ratings == 9_000 and data.scale.step == 0.5
    got = data.to_frame()
    assert (got["user"].to_numpy() == expected["userId"].to_numpy()).all()
    assert (got["item"].to_numpy() == expected["movieId"].to_numpy()).all()
    assert (got["rating"].to_numpy() == expected["rating"].to_numpy()).all()


def test_impossible_sizes_are_refused():
    with pytest.raises(ValueError, match="n_ratings"):
        movielens_like(10, 10, 90, seed=0)
