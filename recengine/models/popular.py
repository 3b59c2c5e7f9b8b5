"""`popular`: every user gets the most-rated items they have not rated; the reference for ranking."""

from __future__ import annotations

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.models import formulas as maths
from recengine.models.base import DEFAULT_TASTE, Recommender


class MostPopular(Recommender):
    name = "popular"
    default_taste = DEFAULT_TASTE  # no taste factors: the 0.98 of the others was never measured here
    fit_bytes_per_rating = 8.0  # measured: item counts and a float copy of the ratings
    label = "Most popular (reference)"
    description = "The same list for everyone: the films rated most often. Any ranking model must beat it."
    formulas = maths.POPULAR
    kind = "ranking"
    state_names = ("user_factors_", "item_factors_", "item_bias_")

    def _initialize(self, train: RatingsDataset) -> None:
        self.user_factors_ = np.zeros((train.n_users, 0), dtype=self.dtype_)
        self.item_factors_ = np.zeros((train.n_items, 0), dtype=self.dtype_)
        self.item_bias_ = train.item_counts().astype(self.dtype_)

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> None:
        return None

    def _losses(self, train: RatingsDataset) -> tuple[float, float, float]:
        return 0.0, 0.0, 0.0

    def scores_for(self, user_vector: np.ndarray, user_bias: float = 0.0) -> np.ndarray:
        """The number of training ratings of every item."""
        return self.item_bias_.astype(np.float64)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.scores_for(np.empty(0)), (len(users), self.n_items_)).copy()
