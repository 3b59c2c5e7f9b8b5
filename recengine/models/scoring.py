"""Scores of every item for many users at once, for any model.

A model may offer ``score_users(user_codes) -> (len(user_codes), n_items)`` itself. Otherwise, when it
scores with the base class's formula (``item_scores`` and ``scores_for`` not overridden), the batch is
one matrix product; a model that overrides them is asked user by user.
"""

from __future__ import annotations

import numpy as np

from recengine import memory
from recengine.models.base import Recommender, finite_scores

BATCH_CELLS = 1 << 22  # scores held at once when scoring many users: 4M floats, 32 MB
BYTES_PER_SCORE = 24  # a float64 score, its negation and argpartition's int64 index while ranking


def score_matrix(model: Recommender, users: np.ndarray) -> np.ndarray:
    """Scores (float64) of every item for each user code in ``users``, one row per user; `ScoreOverflowError`
    when one is not a finite number (learned values too large), never a NumPy overflow warning."""
    model._check_fitted()
    users = np.asarray(users, dtype=np.int64)
    memory.check(
        len(users) * model.n_items_ * BYTES_PER_SCORE,
        f"Scores of {len(users):,} users × {model.n_items_:,} items",
        "Score fewer users at a time (batch_size gives a batch that fits).",
    )
    with np.errstate(over="ignore", invalid="ignore"):
        scores = _scores(model, users)
    return finite_scores(model, scores)


def _scores(model: Recommender, users: np.ndarray) -> np.ndarray:
    custom = getattr(model, "score_users", None)
    if custom is not None:
        return np.asarray(custom(users), dtype=np.float64)
    cls = type(model)
    if cls.item_scores is Recommender.item_scores and cls.scores_for is Recommender.scores_for:
        return _factor_scores(model, users)
    if not len(users):
        return np.empty((0, model.n_items_))
    return np.vstack([model.item_scores(int(u)) for u in users])


def _factor_scores(model: Recommender, users: np.ndarray) -> np.ndarray:
    users, _ = model._codes(users, np.zeros(len(users), dtype=np.int64))
    items = model.item_factors_
    scores = (model.user_factors_[users] @ items.T).astype(np.float64)
    if model.kind == "rating":
        scores += model.global_mean_
        user_bias = getattr(model, "user_bias_", None)
        item_bias = getattr(model, "item_bias_", None)
        if user_bias is not None:
            scores += user_bias[users].astype(np.float64)[:, None]
        if item_bias is not None:
            scores += item_bias.astype(np.float64)[None, :]
    return scores


def batch_size(n_items: int) -> int:
    """Users per batch so that a batch's score matrix holds about `BATCH_CELLS` numbers, fewer when the
    memory budget is smaller; `TooLargeError` when not even one user's scores fit."""
    row = max(n_items, 1) * BYTES_PER_SCORE
    memory.check(row, f"Scores of {n_items:,} items for one user", "Use a data set with fewer items.")
    budget = memory.budget_bytes()
    cells = BATCH_CELLS if budget is None else min(BATCH_CELLS, budget // BYTES_PER_SCORE)
    return max(1, cells // max(n_items, 1))


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k best scores of each row, best first, ties to the lower index (as
    `recommend` breaks them), whatever NumPy's partition picks among equals; −inf marks excluded items."""
    k = min(k, scores.shape[1])
    if k == 0:
        return np.empty((scores.shape[0], 0), dtype=np.int64)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    chosen = np.take_along_axis(scores, part, axis=1)
    part = np.take_along_axis(part, np.lexsort((part, -chosen)), axis=1)
    kth = chosen.min(axis=1)
    for row in np.flatnonzero((scores >= kth[:, None]).sum(axis=1) > k):  # ties across the k-th place
        tied = np.flatnonzero(scores[row] >= kth[row])
        part[row] = tied[np.lexsort((tied, -scores[row, tied]))][:k]
    return part
