"""A vector for a user who is not in the training data, from a few ``{item: rating}`` pairs, without retraining.

Each model answers for itself (`Recommender.fold_in`): the item side stays fixed and the new user's vector
solves the model's own problem for one user. The shared default, ridge regression with a user bias, is in
``recengine/models/person.py``; ``wals``, ``bpr``, ``nmf``, ``svd`` and ``bpmf`` solve their own problems in
their modules. With no ratings at all there is no vector: the result is the labelled popular-and-well-liked
fallback.
"""

from __future__ import annotations

from typing import Any

from recengine.models.base import Recommender
from recengine.models.person import FALLBACK, UserVector

__all__ = ["FALLBACK", "UserVector", "fold_in"]


def fold_in(model: Recommender, item_codes: Any, ratings: Any) -> UserVector:
    """The user vector for ratings of items given by code: ``model.fold_in(item_codes, ratings)``."""
    return model.fold_in(item_codes, ratings)
