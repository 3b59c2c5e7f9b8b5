"""Synthetic ratings with known structure: for tests, demos and benchmarks."""

from __future__ import annotations

import numpy as np

from recengine.dataset import RatingScale, RatingsDataset


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
