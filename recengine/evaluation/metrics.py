"""How good a model is: rating errors, top-N ranking quality, what the lists cover, and where errors fall.

Ranking metrics follow the top-N protocol of ``docs/protocols.md``: an item is relevant to a user when its test rating is at least
the threshold (4); every item the user did not rate in training is a candidate; metrics at k are averaged
over the users with at least one relevant test item. Per user, with ``hits`` the relevance of the k
recommended items in order and R the number of relevant items:

- precision@k = Σ hits / k;  recall@k = Σ hits / R;  hit_rate@k = 1 if any hit;
- ndcg@k = Σ_r hits_r / log2(r + 1)  ÷  Σ_{r ≤ min(R, k)} 1 / log2(r + 1)   (r = 1..k);
- map@k (average precision) = Σ_r precision@r · hits_r / min(R, k).

Beyond accuracy, over the lists of every user with training ratings (and every evaluated user): coverage is the share of the catalogue recommended to anyone;
novelty the mean self-information −log2(n_i / n_users) of recommended items (n_i training ratings of
item i, at least 1); mean popularity the mean n_i of recommended items.

For new users (`recengine.evaluation.newuser`): Recall@k normalised by min(k, R) as in Liang et al., "Variational
Autoencoders for Collaborative Filtering" (WWW 2018), so a person with more than k relevant items can
still reach 1; personalization, 1 − the mean cosine overlap |A∩B| / √(|A|·|B|) of two people's lists over
all pairs; and genre miscalibration (Steck, "Calibrated Recommendations", RecSys 2018): KL(p‖q̃), p the genre
mix of what a person rated highly, q that of their list, q̃ = (1 − α)·q + α·p, with each item's genres
sharing it equally (p(g|i) = 1/|genres of i|) and every item of a list weighing the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.errors import EmptyDataError, RecEngineError
from recengine.lazy import pandas as pd
from recengine.lazy import scipy_sparse as sp
from recengine.models.base import Recommender
from recengine.models.scoring import batch_size, score_matrix, top_k

ACTIVITY_EDGES = (0, 10, 20, 50, 100, 200, 500, 1000)

# --- rating errors --------------------------------------------------------------------------------------


def _errors(y_true: Any, y_pred: Any) -> np.ndarray:
    truth = np.asarray(y_true, dtype=np.float64).ravel()
    predicted = np.asarray(y_pred, dtype=np.float64).ravel()
    if truth.shape != predicted.shape:
        raise ValueError(f"{len(truth)} true ratings but {len(predicted)} predictions")
    if not len(truth):
        raise EmptyDataError("There are no ratings to compare predictions with: the test set is empty.")
    return predicted - truth


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error."""
    error = _errors(y_true, y_pred)
    return float(np.mean(error * error))


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error."""
    return float(np.sqrt(mse(y_true, y_pred)))


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(_errors(y_true, y_pred))))


# --- ranking: per-user values from a hit matrix -----------------------------------------------------------


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def _per_user(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Every ranking metric for each row of ``hits`` (users × k booleans, best first)."""
    hits = hits.astype(np.float64)
    found = hits.sum(axis=1)
    relevant = np.maximum(n_relevant, 1)
    discounts = _discounts(k)
    ideal = np.cumsum(discounts)[np.minimum(relevant, k) - 1]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return {
        "precision": found / k,
        "recall": found / relevant,
        "ndcg": (hits @ discounts) / ideal,
        "map": (precision_at * hits).sum(axis=1) / np.minimum(relevant, k),
        "hit_rate": (found > 0).astype(np.float64),
    }


def _hit_matrix(
    recommended: Sequence[Sequence[Any]], relevant: Sequence[Collection[Any]], k: int
) -> tuple[np.ndarray, np.ndarray]:
    if len(recommended) != len(relevant):
        raise ValueError(f"{len(recommended)} recommendation lists but {len(relevant)} relevant sets")
    if k < 1:
        raise ValueError("k must be at least 1")
    hits = np.zeros((len(recommended), k), dtype=bool)
    for row, (items, wanted) in enumerate(zip(recommended, relevant, strict=True)):
        wanted = set(wanted)
        for rank, item in enumerate(list(items)[:k]):
            hits[row, rank] = item in wanted
    return hits, np.array([len(set(r)) for r in relevant], dtype=np.int64)


def _mean_metric(name: str, recommended, relevant, k: int) -> float:
    hits, n_relevant = _hit_matrix(recommended, relevant, k)
    if not len(hits):
        raise EmptyDataError("There are no users to average over.")
    return float(np.mean(_per_user(hits, n_relevant, k)[name]))


def precision_at_k(recommended: Sequence[Sequence], relevant: Sequence[Collection], k: int = 10) -> float:
    """Mean over users of the share of the top k that is relevant (lists shorter than k count as misses)."""
    return _mean_metric("precision", recommended, relevant, k)


def recall_at_k(recommended: Sequence[Sequence], relevant: Sequence[Collection], k: int = 10) -> float:
    """Mean over users of the share of their relevant items found in the top k."""
    return _mean_metric("recall", recommended, relevant, k)


def ndcg_at_k(recommended: Sequence[Sequence], relevant: Sequence[Collection], k: int = 10) -> float:
    """Mean normalized discounted cumulative gain with binary relevance."""
    return _mean_metric("ndcg", recommended, relevant, k)


def map_at_k(recommended: Sequence[Sequence], relevant: Sequence[Collection], k: int = 10) -> float:
    """Mean average precision at k (normalized by min(R, k))."""
    return _mean_metric("map", recommended, relevant, k)


def hit_rate_at_k(recommended: Sequence[Sequence], relevant: Sequence[Collection], k: int = 10) -> float:
    """Share of users with at least one relevant item in their top k."""
    return _mean_metric("hit_rate", recommended, relevant, k)


# --- beyond accuracy ------------------------------------------------------------------------------------


def catalogue_coverage(recommended: Sequence[Sequence[int]], n_items: int) -> float:
    """Share of the n_items catalogue that appears in at least one list."""
    shown = {int(i) for items in recommended for i in items}
    return len(shown) / n_items if n_items else 0.0


def novelty(recommended: Sequence[Sequence[int]], item_counts: np.ndarray, n_users: int) -> float:
    """Mean self-information −log2(n_i / n_users) of the recommended items (n_i at least 1)."""
    codes = np.fromiter((int(i) for items in recommended for i in items), dtype=np.int64)
    if not len(codes):
        return float("nan")
    counts = np.maximum(np.asarray(item_counts, dtype=np.float64)[codes], 1.0)
    return float(np.mean(-np.log2(counts / n_users)))


def mean_popularity(recommended: Sequence[Sequence[int]], item_counts: np.ndarray) -> float:
    """Mean number of training ratings of the recommended items."""
    codes = np.fromiter((int(i) for items in recommended for i in items), dtype=np.int64)
    return float(np.mean(np.asarray(item_counts)[codes])) if len(codes) else float("nan")


def capped_recall_at_k(recommended: Sequence[Sequence], relevant: Sequence[Collection], k: int = 20) -> float:
    """Mean over users of hits in the top k ÷ min(k, R) (Liang et al. 2018's Recall@k)."""
    hits, n_relevant = _hit_matrix(recommended, relevant, k)
    if not len(hits):
        raise EmptyDataError("There are no users to average over.")
    return float(np.mean(hits.sum(axis=1) / np.clip(n_relevant, 1, k)))


def personalization(recommended: Sequence[Sequence[int]], n_items: int) -> float:
    """1 − the mean over all pairs of people of |A∩B| / √(|A|·|B|) of their lists (1: no two lists share an
    item; 0: everyone gets the same list). NaN with fewer than two non-empty lists."""
    lists = [np.unique(np.asarray(items, dtype=np.int64)) for items in recommended]
    lists = [items for items in lists if len(items)]
    if len(lists) < 2:
        return float("nan")
    rows = np.repeat(np.arange(len(lists)), [len(items) for items in lists])
    shown = sp.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(lists))), shape=(len(lists), n_items))
    sizes = np.sqrt(np.array([len(items) for items in lists], dtype=np.float64))
    overlap = (shown @ shown.T).toarray() / np.outer(sizes, sizes)
    pairs = len(lists) * (len(lists) - 1)
    return float(1.0 - (overlap.sum() - np.trace(overlap)) / pairs)


def miscalibration(p: np.ndarray, q: np.ndarray, alpha: float = 0.01) -> float:
    """KL(p‖q̃) = Σ_g p_g log(p_g / q̃_g), q̃ = (1 − α)·q + α·p (Steck 2018): 0 when the list has the genre
    mix of the person's taste; terms with p_g = 0 count 0."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    smoothed = (1.0 - alpha) * q + alpha * p
    present = p > 0
    return float(np.sum(p[present] * np.log(p[present] / smoothed[present])))


# --- the top-N protocol ----------------------------------------------------------------------------------


def _check_same_space(model: Recommender, train: RatingsDataset, test: RatingsDataset) -> None:
    model._check_fitted()
    if train.n_items != test.n_items or train.n_users != test.n_users:
        raise RecEngineError(
            "The training and test sets do not share user and item codes: make both from one data set "
            "(a split or load_train_test)."
        )
    if model.n_items_ != train.n_items or model.n_users_ != train.n_users:
        raise RecEngineError(
            f"The model knows {model.n_users_:,} users and {model.n_items_:,} items but the data has "
            f"{train.n_users:,} and {train.n_items:,}: evaluate it on the data set it was trained on."
        )


def top_k_lists(
    model: Recommender, train: RatingsDataset, users: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(item codes users × k best first, validity mask) with each user's training items excluded.

    A position is invalid when the user has fewer than k unrated items. Users go in batches whose
    score matrices stay small.
    """
    seen = train.csr
    lists = np.empty((len(users), min(k, train.n_items)), dtype=np.int64)
    valid = np.empty(lists.shape, dtype=bool)
    step = batch_size(train.n_items)
    for start in range(0, len(users), step):
        batch = users[start : start + step]
        scores = score_matrix(model, batch)
        rows, cols = seen[batch].nonzero()
        scores[rows, cols] = -np.inf
        chosen = top_k(scores, k)
        lists[start : start + len(batch)] = chosen
        valid[start : start + len(batch)] = np.isfinite(np.take_along_axis(scores, chosen, axis=1))
    return lists, valid


def ranking_report(
    model: Recommender,
    train: RatingsDataset,
    test: RatingsDataset,
    k: int = 10,
    relevance_threshold: float = 4.0,
    *,
    max_users: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Ranking metrics at k by the top-N protocol of docs/protocols.md (see the module docstring).

    Keys: ``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k``, ``hit_rate@k`` (with k's value),
    ``coverage``, ``novelty``, ``mean_popularity``, ``k``, ``users`` (how many were averaged over) and
    ``relevance_threshold``. Every user is ranked unless ``max_users`` is given and there are more: then a
    uniform sample of that many (drawn with ``seed``) stands for them, and ``sampled_from`` says of how
    many; on MovieLens 25M's 162,000 users a sample of 3,000 takes seconds instead of minutes.
    """
    if k < 1:
        raise RecEngineError(f"k={k} is not allowed: the list length k must be at least 1.")
    _check_same_space(model, train, test)
    keep = test.ratings >= relevance_threshold
    relevant = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=bool), (test.user_codes[keep], test.item_codes[keep])),
        shape=(test.n_users, test.n_items),
    )
    n_relevant = np.diff(relevant.indptr)
    users = np.flatnonzero(n_relevant > 0)
    if not len(users):
        raise EmptyDataError(
            f"No test rating reaches the relevance threshold {relevance_threshold:g}: there is nothing to "
            "find. Use a larger test set or a lower threshold."
        )
    listed = np.union1d(users, np.flatnonzero(train.user_counts() > 0))
    population = len(listed)
    if max_users is not None and population > max_users:
        listed = np.sort(np.random.default_rng(seed).choice(listed, size=max(max_users, 1), replace=False))
        users = np.intersect1d(users, listed)
        if not len(users):
            raise EmptyDataError(
                f"None of the {len(listed):,} sampled users has a relevant test rating: sample more users."
            )
    all_lists, all_valid = top_k_lists(model, train, listed, k)
    lists, valid = all_lists[np.searchsorted(listed, users)], all_valid[np.searchsorted(listed, users)]
    hits = np.zeros((len(users), k), dtype=bool)
    hits[:, : lists.shape[1]] = relevant[users[:, None], lists].toarray() & valid
    per_user = _per_user(hits, n_relevant[users], k)
    counts = train.item_counts()
    shown = [row[ok] for row, ok in zip(all_lists, all_valid, strict=True)]
    report = {f"{name}@{k}": float(values.mean()) for name, values in per_user.items()}
    return {
        **report,
        "coverage": catalogue_coverage(shown, train.n_items),
        "novelty": novelty(shown, counts, max(train.n_users, 1)),
        "mean_popularity": mean_popularity(shown, counts),
        "k": k,
        "users": len(users),
        "relevance_threshold": relevance_threshold,
    } | ({"sampled_from": population} if len(listed) < population else {})


def rating_report(model: Recommender, test: RatingsDataset) -> dict[str, float]:
    """RMSE, MAE and MSE of a rating model's clipped predictions on ``test`` (empty for ranking models)."""
    if model.kind != "rating":
        return {}
    predicted = model.predict(test.user_codes, test.item_codes)
    return {
        "rmse": rmse(test.ratings, predicted),
        "mae": mae(test.ratings, predicted),
        "mse": mse(test.ratings, predicted),
    }


def evaluate(
    model: Recommender,
    train: RatingsDataset,
    test: RatingsDataset,
    k: int = 10,
    relevance_threshold: float = 4.0,
    *,
    max_users: int | None = None,
) -> dict[str, float]:
    """Rating metrics (rating models) and the ranking report (on at most ``max_users`` users) in one dict."""
    ranking = ranking_report(model, train, test, k, relevance_threshold, max_users=max_users)
    return {**rating_report(model, test), **ranking}


def most_popular(train: RatingsDataset) -> Recommender:
    """The reference ranking model, fitted: everyone gets the most-rated items they have not rated."""
    from recengine.models import make

    return make("popular").fit(train)


# --- error analysis -------------------------------------------------------------------------------------


def absolute_error_histogram(y_true: Any, y_pred: Any, width: float = 0.5) -> pd.DataFrame:
    """Counts of |prediction − rating| in bins [low, high) of ``width`` from 0 (the last bin is closed)."""
    error = np.abs(_errors(y_true, y_pred))
    top = max(width, float(np.ceil(error.max() / width) * width))
    edges = np.round(np.arange(0.0, top + width / 2, width), 10)
    counts, _ = np.histogram(error, bins=edges)
    return pd.DataFrame({"low": edges[:-1], "high": edges[1:], "count": counts})


def rounded_error_counts(y_true: Any, y_pred: Any, scale: RatingScale) -> pd.DataFrame:
    """How often the prediction, rounded to the scale's grid (whole numbers if it has none), is off by each
    amount: ``error`` = rounded prediction − rating, 0 being exactly right."""
    truth = np.asarray(y_true, dtype=np.float64)
    step = scale.step or 1.0
    rounded = scale.clip(
        scale.low + np.round((np.asarray(y_pred, dtype=np.float64) - scale.low) / step) * step
    )
    error = np.round(_errors(truth, rounded), 6)
    values, counts = np.unique(error, return_counts=True)
    return pd.DataFrame({"error": values, "count": counts})


def _bucket_labels(edges: Sequence[int]) -> list[str]:
    labels = [f"{low}–{high - 1}" for low, high in itertools.pairwise(edges)]
    return [*labels, f"{edges[-1]}+"]


def _grouped_errors(error: np.ndarray, groups: pd.Series, name: str) -> pd.DataFrame:
    frame = pd.DataFrame({name: groups.array, "squared": error * error, "absolute": np.abs(error)})
    table = frame.groupby(name, observed=True, sort=False).agg(
        ratings=("squared", "size"), mse=("squared", "mean"), mae=("absolute", "mean")
    )
    table["rmse"] = np.sqrt(table.pop("mse"))
    return table.reset_index()[[name, "ratings", "rmse", "mae"]]


def error_by_count_bucket(
    y_true: Any, y_pred: Any, counts: np.ndarray, name: str, edges: Sequence[int] = ACTIVITY_EDGES
) -> pd.DataFrame:
    """RMSE and MAE of the ratings grouped by a per-rating count (training ratings of its user or item)
    in buckets ``edges[j] ≤ count < edges[j+1]`` (the last open-ended); only non-empty buckets, in the
    numeric order of their counts (the column is an ordered categorical)."""
    error = _errors(y_true, y_pred)
    counts = np.asarray(counts)
    if len(counts) and counts.min() < edges[0]:
        raise ValueError(f"A count of {counts.min()} is below the first bucket edge {edges[0]}.")
    labels = _bucket_labels(edges)
    position = np.searchsorted(np.asarray(edges), counts, side="right") - 1
    groups = pd.Series(pd.Categorical(np.asarray(labels)[position], categories=labels, ordered=True))
    return _grouped_errors(error, groups, name).sort_values(name, ignore_index=True)


def error_by_genre(y_true: Any, y_pred: Any, item_codes: np.ndarray, items: pd.DataFrame) -> pd.DataFrame:
    """RMSE and MAE per genre (a rating counts once in each genre of its item), most-rated genre first."""
    error = _errors(y_true, y_pred)
    genres = items["genres"].to_numpy()[np.asarray(item_codes)]
    frame = pd.DataFrame({"genres": genres, "error": error}).explode("genres").dropna(subset=["genres"])
    table = _grouped_errors(frame["error"].to_numpy(dtype=np.float64), frame["genres"], "genre")
    return table.sort_values(["ratings", "genre"], ascending=[False, True], ignore_index=True)


def error_analysis(
    model: Recommender, train: RatingsDataset, test: RatingsDataset
) -> dict[str, pd.DataFrame]:
    """Where a rating model's test errors fall: a histogram, rounded errors, and errors by user activity,
    item popularity (training counts) and genre."""
    if model.kind != "rating":
        raise RecEngineError(f"{model.name} is a ranking model: it has no rating errors to analyse.")
    predicted = model.predict(test.user_codes, test.item_codes)
    truth = test.ratings
    return {
        "histogram": absolute_error_histogram(truth, predicted),
        "rounded": rounded_error_counts(truth, predicted, test.scale),
        "by_user_activity": error_by_count_bucket(
            truth, predicted, train.user_counts()[test.user_codes], "user_ratings"
        ),
        "by_item_popularity": error_by_count_bucket(
            truth, predicted, train.item_counts()[test.item_codes], "item_ratings"
        ),
        "by_genre": error_by_genre(truth, predicted, test.item_codes, test.items),
    }
