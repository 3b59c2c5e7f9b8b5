"""Top-N lists people can read: filters, the rating the model expects, and why each film is there.

``recommend`` ranks every item the user has not rated, for a user of the data set or for a folded-in
`UserVector`. Each row names the user's own rated items that contributed most to its score
(``because``), measured as follows:

- ``wals`` (Hu, Koren and Volinsky, section 5): the user's vector is x = A⁻¹ Σ_j c_j y_j with
  A = YᵀY + λI + Σ_j (c_j − 1) y_j y_jᵀ, so the score of item i splits exactly into one term per rated
  item j: s_i = Σ_j c_j · y_iᵀ A⁻¹ y_j;
- ``svd``: the user's vector is the projection p = (QᵀQ)⁻¹ Σ_j r̃_j q_j of the residuals r̃_j = r_j − μ − b_u
  − b_j, so q_i·p = Σ_j r̃_j · q_iᵀ (QᵀQ)⁻¹ q_j;
- other rating models with factors and biases: the user's [p, b_u] is the fold-in solution
  M⁻¹ (Σ_j x_j w e_j + prior) with x_j = [q_j, 1], e_j = r_j − μ − b_j and M = Σ_j x_j x_jᵀ + λ (ridge,
  w = 1, no prior) or Λ + α Σ_j x_j x_jᵀ (``bpmf``, w = α); the taste part of item i's score splits the
  same way: q_i·p = Σ_j w e_j · [q_i, 0]ᵀ M⁻¹ x_j (+ a prior term owed to no rated item): how much more
  than expected the user liked j, times how much j's factors pull toward i; SVD++ adds q_i·y_j / √|S|;
- other factor models (``bpr``, ``nmf``, ...): cosine similarity of the item factors of i and j, times the
  rating's distance above the bottom of the scale (a rough but monotone attribution).

Only positive contributions are named, largest first. Models without factors (``baseline``, ``popular``)
explain with the item's popularity and average rating instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from recengine.dataset import RatingsDataset
from recengine.errors import RecEngineError
from recengine.foldin import UserVector, linear_system, svd_residuals
from recengine.models.base import Recommender
from recengine.scoring import score_matrix, single_threaded_blas

DEFAULT_RANKING_MODEL = "wals"  # what people's recommendations come from unless they choose otherwise
BECAUSE = 3  # rated items named per recommendation
PRIOR_RATINGS = 10  # popular(): strength of the pull of an item's mean rating toward the global mean
COLUMNS = ["item", "title", "year", "genres", "score", "predicted_rating", "because", "explanation"]


# --- recommendations ------------------------------------------------------------------------------------


def recommend(
    model: Recommender,
    data: RatingsDataset,
    *,
    user: Any = None,
    vector: UserVector | None = None,
    n: int = 10,
    exclude: Iterable[Any] | None = None,
    genres: Sequence[str] | None = None,
    min_ratings: int = 0,
    years: tuple[float | None, float | None] | None = None,
) -> pd.DataFrame:
    """The top ``n`` items for ``user`` (a raw user id of ``data``) or for a folded-in ``vector``.

    ``data`` is the data set the model was trained on (or the one its training split came from): it gives
    titles, the user's rated items (never recommended) and rating counts. ``exclude`` holds more raw item
    ids to leave out; ``genres`` keeps items with any of these genres; ``min_ratings`` keeps items with at
    least that many ratings in ``data``; ``years`` = (from, to), inclusive, either end may be None.

    Columns: item, title, year, genres, score (the model's; higher is better), predicted_rating (on the
    data set's scale for rating models, NaN for ranking models), because (titles of the user's rated items
    that contributed most), explanation (one sentence).
    """
    _check_model_fits_data(model, data)
    if (user is None) == (vector is None):
        raise RecEngineError("Give either a user id of the data set or a folded-in user vector, not both.")
    if vector is not None and vector.is_fallback:
        seen = np.asarray(vector.item_codes, dtype=np.int64)
        return popular(data, n, exclude=_raw_ids(data, seen, exclude), genres=genres,
                       min_ratings=min_ratings, years=years)  # fmt: skip
    with single_threaded_blas():
        if vector is not None:
            rated, values = np.asarray(vector.item_codes, np.int64), np.asarray(vector.ratings, np.float64)
            scores = model.scores_for(vector.factors, vector.bias).astype(np.float64)
        else:
            code = data.user_code(user)
            row = data.csr[code]
            rated, values = row.indices.astype(np.int64), row.data.astype(np.float64)
            scores = score_matrix(model, np.array([code]))[0]
        keep = candidates(data, rated, exclude=exclude, genres=genres, min_ratings=min_ratings, years=years)
        chosen = _best(scores, keep, n)
        weights = contributions(model, rated, values, chosen)
    return _table(model, data, chosen, scores[chosen], rated, values, weights)


def candidates(
    data: RatingsDataset,
    rated: np.ndarray,
    *,
    exclude: Iterable[Any] | None = None,
    genres: Sequence[str] | None = None,
    min_ratings: int = 0,
    years: tuple[float | None, float | None] | None = None,
) -> np.ndarray:
    """Boolean mask over item codes: not rated, not excluded, and passing the filters."""
    keep = np.ones(data.n_items, dtype=bool)
    keep[np.asarray(rated, dtype=np.int64)] = False
    if exclude is not None:
        keep[[data.item_code(raw) for raw in exclude]] = False
    if min_ratings > 0:
        keep &= data.item_counts() >= min_ratings
    if genres:
        wanted = {g.casefold() for g in genres}
        keep &= np.array([any(g.casefold() in wanted for g in gs) for gs in data.items["genres"]], dtype=bool)
    if years is not None:
        low, high = years
        year = data.items["year"].to_numpy(dtype=np.float64)
        if low is not None:
            keep &= year >= low
        if high is not None:
            keep &= year <= high
    return keep


def _best(scores: np.ndarray, keep: np.ndarray, n: int) -> np.ndarray:
    """Codes of the ``n`` best-scoring items among ``keep``, best first (ties: lower code first)."""
    pool = np.flatnonzero(keep)
    if n <= 0 or not len(pool):
        return np.empty(0, dtype=np.int64)
    if len(pool) > n:
        pool = pool[np.argpartition(-scores[pool], n - 1)[:n]]
    return pool[np.lexsort((pool, -scores[pool]))]


def _check_model_fits_data(model: Recommender, data: RatingsDataset) -> None:
    model._check_fitted()
    if model.n_items_ != data.n_items:
        raise RecEngineError(
            f"The model knows {model.n_items_:,} items but the data set has {data.n_items:,}: use the data "
            "set the model was trained on."
        )


def _raw_ids(data: RatingsDataset, codes: np.ndarray, more: Iterable[Any] | None) -> list[Any]:
    return [*data.item_ids[codes].tolist(), *(more or [])]


# --- attribution ----------------------------------------------------------------------------------------


def contributions(
    model: Recommender, rated: np.ndarray, ratings: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """How much each rated item pushed each target item's score up (targets × rated); see the module
    docstring for the measure each kind of model gets. Zeros for models without factors."""
    factors = model.item_factors_
    if not len(rated) or not len(targets) or factors.shape[1] == 0:
        return np.zeros((len(targets), len(rated)))
    target = factors[targets].astype(np.float64)
    source = factors[rated].astype(np.float64)
    if model.name == "wals":
        confidence = model.confidence(ratings).astype(np.float64)
        matrix = model._item_gram() + model.penalty(len(rated)) * np.eye(source.shape[1])
        matrix += (source * (confidence - 1.0)[:, None]).T @ source
        return (target @ np.linalg.solve(matrix, source.T)) * confidence[None, :]
    if model.name == "svd":
        residual, _ = svd_residuals(model, rated, ratings)
        gram = model.item_factors_.astype(np.float64).T @ model.item_factors_.astype(np.float64)
        return (target @ np.linalg.solve(gram + 1e-12 * np.eye(len(gram)), source.T)) * residual[None, :]
    if model.kind == "rating" and getattr(model, "item_bias_", None) is not None:
        system = linear_system(model, rated, ratings)
        pull = np.linalg.solve(system.matrix, system.design.T)  # M⁻¹ x_j as columns
        k = target.shape[1]
        parts = (target @ pull[:k]) * (system.weight * system.residuals)[None, :]
        implicit = getattr(model, "implicit_factors_", None)
        if implicit is not None:  # SVD++: the user vector also holds |S|^−½ Σ_j y_j
            parts += target @ implicit[rated].astype(np.float64).T / np.sqrt(len(rated))
        return parts
    low = model.scale_.low if getattr(model, "scale_", None) is not None else 0.0
    unit_target = target / np.maximum(np.linalg.norm(target, axis=1, keepdims=True), 1e-12)
    unit_source = source / np.maximum(np.linalg.norm(source, axis=1, keepdims=True), 1e-12)
    return (unit_target @ unit_source.T) * np.maximum(ratings - low, 0.0)[None, :]


def _stars(value: float) -> str:
    return f"{value:g}★"


def _top_contributors(weights: np.ndarray) -> list[int]:
    """Positions of the (at most `BECAUSE`) largest positive contributions, largest first."""
    order = np.argsort(-weights, kind="stable")[:BECAUSE]
    return [int(j) for j in order if weights[j] > 0]


def _sentence(titles: list[str]) -> str:
    if len(titles) <= 1:
        return "".join(titles)
    return ", ".join(titles[:-1]) + " and " + titles[-1]


def _table(
    model: Recommender,
    data: RatingsDataset,
    chosen: np.ndarray,
    scores: np.ndarray,
    rated: np.ndarray,
    ratings: np.ndarray,
    weights: np.ndarray,
) -> pd.DataFrame:
    items = data.items.iloc[chosen]
    counts = data.item_counts()[chosen]
    rating_model = model.kind == "rating"
    predicted = model.scale_.clip(scores) if rating_model else np.full(len(chosen), np.nan)
    because, explanation = [], []
    for row, code in enumerate(chosen):
        top = _top_contributors(weights[row])
        because.append([data.title(int(rated[j])) for j in top])
        named = [f"{data.title(int(rated[j]))} ({_stars(ratings[j])})" for j in top]
        lead = f"Predicted {_stars(round(float(predicted[row]), 1))}. " if rating_model else ""
        if named:
            explanation.append(f"{lead}Because you rated {_sentence(named)}.")
        else:
            personal = model.item_factors_.shape[1] > 0
            explanation.append(f"{lead}{_popularity_note(data, int(code), int(counts[row]), personal)}")
    return pd.DataFrame(
        {
            "item": data.item_ids[chosen],
            "title": items["title"].to_numpy(),
            "year": items["year"].to_numpy(),
            "genres": items["genres"].to_numpy(),
            "score": scores,
            "predicted_rating": predicted,
            "because": because,
            "explanation": explanation,
        },
        columns=COLUMNS,
    )


def _popularity_note(data: RatingsDataset, code: int, count: int, personal: bool) -> str:
    opening = (
        "Nothing you rated points to it strongly"
        if personal
        else "Ranked by general appeal (this model has no taste factors)"
    )
    if not count:
        return f"{opening}; nobody in the data has rated it yet."
    mean = float(data.csc[:, code].data.mean())
    return f"{opening}; {count:,} people rated it, {_stars(round(mean, 1))} on average."


# --- the fallback ----------------------------------------------------------------------------------------


def popular(
    data: RatingsDataset,
    n: int = 10,
    *,
    exclude: Iterable[Any] | None = None,
    genres: Sequence[str] | None = None,
    min_ratings: int = 0,
    years: tuple[float | None, float | None] | None = None,
    prior: float = PRIOR_RATINGS,
) -> pd.DataFrame:
    """Popular and well-liked items: for someone with no ratings yet, labelled as such.

    score = (m̃ − low) / (high − low) · ln(1 + n_i), where n_i is the item's number of ratings and m̃ its
    mean rating pulled toward the global mean as if ``prior`` more ratings at the global mean existed
    (a damped mean: few ratings cannot make an item look great). The same columns as `recommend`, plus
    mean_rating and n_ratings.
    """
    counts = data.item_counts().astype(np.float64)
    sums = np.bincount(data.item_codes, data.ratings.astype(np.float64), minlength=data.n_items)
    global_mean = float(data.ratings.mean()) if data.n_ratings else 0.0
    damped = (sums + prior * global_mean) / (counts + prior)
    scale = data.scale
    scores = (damped - scale.low) / (scale.high - scale.low) * np.log1p(counts)
    keep = candidates(data, np.empty(0, np.int64), exclude=exclude, genres=genres, min_ratings=min_ratings,
                      years=years)  # fmt: skip
    chosen = _best(scores, keep, n)
    means = np.divide(sums, counts, out=np.full(data.n_items, np.nan), where=counts > 0)[chosen]
    items = data.items.iloc[chosen]
    return pd.DataFrame(
        {
            "item": data.item_ids[chosen],
            "title": items["title"].to_numpy(),
            "year": items["year"].to_numpy(),
            "genres": items["genres"].to_numpy(),
            "score": scores[chosen],
            "predicted_rating": np.full(len(chosen), np.nan),
            "because": [[] for _ in chosen],
            "explanation": [
                f"Popular and well liked (you have not rated anything yet): {int(c):,} ratings, "
                f"{_stars(round(float(m), 1))} on average."
                for c, m in zip(counts[chosen], means, strict=True)
            ],
            "mean_rating": means,
            "n_ratings": counts[chosen].astype(np.int64),
        }
    )


# --- neighbours ----------------------------------------------------------------------------------------


def _cosine_neighbours(factors: np.ndarray, index: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    matrix = factors.astype(np.float64)
    norms = np.linalg.norm(matrix, axis=1)
    if norms[index] == 0:
        return np.empty(0, np.int64), np.empty(0)
    similarity = matrix @ matrix[index] / np.maximum(norms * norms[index], 1e-12)
    similarity[norms == 0] = -np.inf
    keep = np.ones(len(matrix), dtype=bool)
    keep[index] = False
    chosen = _best(similarity, keep & np.isfinite(similarity), n)
    return chosen, similarity[chosen]


def _factors_of(model: Recommender, side: str) -> np.ndarray:
    model._check_fitted()
    factors = getattr(model, f"{side}_factors_", None)
    if factors is None or factors.shape[1] == 0:
        raise RecEngineError(
            f"{model.name} has no {side} factors to compare: choose a factorization model for similar {side}s."
        )
    return factors


def similar_items(model: Recommender, data: RatingsDataset, item: Any, n: int = 10) -> pd.DataFrame:
    """The ``n`` items closest to ``item`` (a raw item id) by cosine similarity of their factors."""
    _check_model_fits_data(model, data)
    code = data.item_code(item)
    chosen, similarity = _cosine_neighbours(_factors_of(model, "item"), code, n)
    items = data.items.iloc[chosen]
    return pd.DataFrame(
        {
            "item": data.item_ids[chosen],
            "title": items["title"].to_numpy(),
            "year": items["year"].to_numpy(),
            "genres": items["genres"].to_numpy(),
            "score": similarity,
            "similarity": similarity,
            "n_ratings": data.item_counts()[chosen],
        }
    )


def similar_users(model: Recommender, data: RatingsDataset, user: Any, n: int = 10) -> pd.DataFrame:
    """The ``n`` users closest to ``user`` (a raw user id) by cosine similarity of their factors."""
    factors = _factors_of(model, "user")
    if len(factors) != data.n_users:
        raise RecEngineError("The model and the data set do not have the same users.")
    chosen, similarity = _cosine_neighbours(factors, data.user_code(user), n)
    return pd.DataFrame(
        {"user": data.user_ids[chosen], "similarity": similarity, "n_ratings": data.user_counts()[chosen]}
    )
