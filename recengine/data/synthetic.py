"""Synthetic ratings with known structure: for tests, demos and benchmarks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.lazy import pandas as pd


def planted_low_rank(
    n_users: int = 300,
    n_items: int = 200,
    rank: int = 3,
    density: float = 0.3,
    noise: float = 0.0,
    seed: int = 0,
    mean: float = 3.0,
    biases: bool = False,
) -> tuple[RatingsDataset, np.ndarray]:
    """Observed entries of ``mean + U Vᵀ (+ biases) + noise`` and the full noise-free matrix.

    Every user and every item gets at least ``rank + 1`` observed entries, so the planted factors are
    identifiable. The scale is continuous and wide enough that clipping never binds.
    """
    rng = np.random.default_rng(seed)
    user_factors = rng.normal(0, 1 / np.sqrt(rank), (n_users, rank))
    item_factors = rng.normal(0, 1 / np.sqrt(rank), (n_items, rank))
    truth = mean + user_factors @ item_factors.T
    if biases:
        truth += rng.normal(0, 0.3, (n_users, 1)) + rng.normal(0, 0.3, (1, n_items))
    mask = rng.random((n_users, n_items)) < density
    for _ in range(rank + 1):  # guarantee a few entries in every row and column
        mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
        mask[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    users, items = np.nonzero(mask)
    ratings = truth[users, items] + rng.normal(0, noise, len(users)) if noise else truth[users, items]
    span = np.abs(truth - mean).max() + 6 * noise + 1
    data = RatingsDataset(
        users,
        items,
        ratings,
        np.arange(n_users),
        np.arange(n_items),
        scale=RatingScale(mean - span, mean + span),
        name=f"planted rank {rank}",
    )
    return data, truth


# --- MovieLens-shaped ratings at any size ---------------------------------------------------------------

MOVIELENS_COLUMNS = ("userId", "movieId", "rating")


def movielens_like(
    n_users: int,
    n_items: int,
    n_ratings: int,
    seed: int = 0,
    *,
    timestamps: bool = False,
    rank: int = 8,
    item_skew: float = 1.2,
    min_per_user: int = 20,
) -> pd.DataFrame:
    """Ratings shaped like MovieLens: columns userId, movieId, rating (and timestamp when asked).

    Item popularity is Zipf-like (``(rank + 100) ** -item_skew``, shuffled over ids), user activity
    log-normal with at least ``min_per_user`` ratings each, and every (user, item) pair appears once.
    Ratings come from a low-rank model with biases, rounded to half stars on 0.5..5 (whole stars more
    often, as people do). Rows are sorted by user then item, ids start at 1. Vectorized, in blocks of
    users, so 25M rows take seconds and little more memory than the result.
    """
    return pd.concat(
        list(_movielens_blocks(n_users, n_items, n_ratings, seed, timestamps, rank, item_skew, min_per_user)),
        ignore_index=True,
    )


def write_movielens_like(path: str | os.PathLike, *args: Any, **kwargs: Any) -> Path:
    """Write :func:`movielens_like` ratings to a CSV file block by block (bounded memory); returns path."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    options = pa_csv.WriteOptions(include_header=False)
    with open(partial, "wb") as out:
        for i, block in enumerate(_movielens_blocks(*args, **kwargs)):
            if i == 0:
                out.write((",".join(block.columns) + "\n").encode())
            pa_csv.write_csv(pa.Table.from_pandas(block, preserve_index=False), out, options)
    partial.replace(path)
    return path


def _movielens_blocks(
    n_users: int,
    n_items: int,
    n_ratings: int,
    seed: int = 0,
    timestamps: bool = False,
    rank: int = 8,
    item_skew: float = 1.2,
    min_per_user: int = 20,
    block_ratings: int = 2_000_000,
) -> Iterator[pd.DataFrame]:
    if not (n_users > 0 and n_items > 0 and n_ratings >= n_users and n_ratings <= n_users * n_items // 2):
        raise ValueError("need n_ratings between n_users and half of n_users * n_items")
    rng = np.random.default_rng(seed)
    counts = _activity(rng, n_users, n_ratings, min(min_per_user, n_ratings // n_users), n_items // 2)
    popularity = rng.permutation((np.arange(n_items) + 100.0) ** -item_skew)
    item_cdf = np.cumsum(popularity)
    item_cdf /= item_cdf[-1]
    user_factors = rng.normal(0, 0.45, (n_users, rank)).astype(np.float32)
    item_factors = rng.normal(0, 0.45, (n_items, rank)).astype(np.float32)
    user_bias = rng.normal(0, 0.45, n_users).astype(np.float32)
    # Popular items are rated a little higher, as in MovieLens.
    log_popularity = np.log(popularity)
    item_bias = rng.normal(0, 0.35, n_items) + 0.2 * log_popularity
    item_bias = (item_bias - item_bias @ popularity / popularity.sum()).astype(np.float32)  # mean 0 as drawn
    ends = np.cumsum(counts)
    start = 0
    while start < n_users:
        stop = max(start + 1, int(np.searchsorted(ends, (ends[start - 1] if start else 0) + block_ratings)))
        stop = min(stop, n_users)
        users, items = _distinct_items(rng, np.arange(start, stop), counts[start:stop], item_cdf, n_items)
        raw = (
            3.55
            + user_bias[users]
            + item_bias[items]
            + np.einsum("ij,ij->i", user_factors[users], item_factors[items])
            + rng.normal(0, 0.55, len(users)).astype(np.float32)
        )
        stars = np.where(rng.random(len(raw)) < 0.65, np.round(raw), np.round(raw * 2) / 2)
        block = {
            "userId": (users + 1).astype(np.int32),
            "movieId": (items + 1).astype(np.int32),
            "rating": np.clip(stars, 0.5, 5.0).astype(np.float32),
        }
        if timestamps:
            block["timestamp"] = rng.integers(946_684_800, 1_577_836_800, len(users), dtype=np.int64)
        yield pd.DataFrame(block)
        start = stop


def _activity(rng: np.random.Generator, n_users: int, total: int, low: int, high: int) -> np.ndarray:
    """Log-normal ratings per user, each in [low, high], summing exactly to ``total``."""
    weights = rng.lognormal(0.0, 1.1, n_users)
    counts = np.clip(low + np.floor(weights / weights.sum() * (total - low * n_users)), low, high)
    counts = counts.astype(np.int64)
    while (deficit := total - int(counts.sum())) != 0:
        room = (high - counts) if deficit > 0 else (counts - low)
        step = rng.multinomial(abs(deficit), room / room.sum())
        counts += np.sign(deficit) * np.minimum(step, room)
    return counts


def _distinct_items(
    rng: np.random.Generator, users: np.ndarray, counts: np.ndarray, item_cdf: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each user, ``counts`` distinct items drawn by popularity; sorted (user, item) pairs."""
    need = counts.copy()
    keys = np.empty(0, dtype=np.int64)
    for attempt in range(64):
        owners = np.repeat(users, need)
        draws = rng.random(len(owners))
        # Popularity first; when a user has taken most popular items, uniform draws fill in the tail.
        items = np.searchsorted(item_cdf, draws) if attempt < 8 else (draws * n_items).astype(np.int64)
        fresh = _sorted_distinct(owners * n_items + np.minimum(items, n_items - 1))
        if len(keys):
            at = np.minimum(np.searchsorted(keys, fresh), len(keys) - 1)
            fresh = fresh[keys[at] != fresh]
        keys = np.sort(np.concatenate([keys, fresh]), kind="stable")  # merges two sorted runs
        need = counts - np.bincount(keys // n_items - users[0], minlength=len(users))
        if not need.any():
            return keys // n_items, keys % n_items
    raise RuntimeError("could not draw distinct items; ask for fewer ratings per user")


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique`` is many times slower on large arrays in NumPy 2.4)."""
    values = np.sort(values)
    keep = np.ones(len(values), dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]
