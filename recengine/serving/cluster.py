"""Groups and maps of the factor space: KMeans clusters, what each group likes, 2-D projections.

Factors are compared by direction (each row scaled to unit length, ``normalize=True``): two films liked by
the same people point the same way whatever their popularity, which mostly sets a vector's length. Rows
without training ratings (all-zero factors) belong to no cluster (label −1) and are left off maps.

KMeans and t-SNE run on one thread (``n_jobs=1``, OpenMP limited in the calling thread): beside the
dashboard's trainer processes, scikit-learn's OpenMP threads would fight them for the cores (3-5x slower
on a busy two-core machine), and one thread gives the same map for the same seed every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from recengine import memory
from recengine.data.dataset import RatingsDataset, liked_threshold
from recengine.errors import RecEngineError, TooLargeError
from recengine.lazy import pandas as pd
from recengine.models.base import Recommender
from recengine.models.foldin import UserVector
from recengine.serving.recommend import Reader, item_columns, taste_weight
from recengine.serving.rerank import DEFAULT_WEIGHT, calibrated, genre_shares, taste_mix

TSNE_LIMIT = 3_000  # points t-SNE handles in a few seconds here; above it we sample or refuse
TSNE_NEIGHBOURS = 91  # scikit-learn's Barnes-Hut t-SNE keeps 3 × perplexity + 1 neighbours (perplexity ≤ 30)
TSNE_BYTES_PER_NEIGHBOUR = 48  # distances, indices and the symmetric sparse affinities
SIDES = ("users", "items")
# KMeans learns its centres from at most this many rows (a seeded sample) and then assigns every row: on
# MovieLens 25M's 162,000 users, 2 s instead of 30 s, with groups that barely move.
KMEANS_SAMPLE = 20_000


@contextmanager
def _one_openmp_thread() -> Iterator[None]:
    """scikit-learn's OpenMP loops on one thread inside the block (OpenMP limits are per calling thread)."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def _unit_rows(factors: np.ndarray) -> np.ndarray:
    matrix = np.atleast_2d(np.asarray(factors, dtype=np.float64))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def _factors(model: Recommender, side: str) -> np.ndarray:
    if side not in SIDES:
        raise RecEngineError(f"side={side!r} is not allowed: side must be 'users' or 'items'.")
    model._check_fitted()
    factors = getattr(model, f"{side[:-1]}_factors_", None)
    if factors is None or factors.shape[1] == 0:
        raise RecEngineError(f"{model.name} has no {side[:-1]} factors: choose a factorization model.")
    return np.asarray(factors, dtype=np.float64)


# --- clusters -------------------------------------------------------------------------------------------


@dataclass
class Clusters:
    """A KMeans clustering of one side's factors: ``labels[code]`` (−1: no factors), centers, sizes."""

    side: str
    labels: np.ndarray
    kmeans: KMeans
    normalize: bool
    fitted_on: int  # rows the centres were learned from (a sample when fewer than those with factors)

    @property
    def n_clusters(self) -> int:
        return int(self.kmeans.n_clusters)

    @property
    def sample_note(self) -> str:
        """How the centres were learned, when from a sample ("" otherwise)."""
        members = int((self.labels >= 0).sum())
        if self.fitted_on >= members:
            return ""
        return f"centres learned from a sample of {self.fitted_on:,} of the {members:,} {self.side}"

    def sizes(self) -> pd.DataFrame:
        """Members per cluster (cluster, size), every cluster listed."""
        counts = np.bincount(self.labels[self.labels >= 0], minlength=self.n_clusters)
        return pd.DataFrame({"cluster": np.arange(self.n_clusters), "size": counts})

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """The nearest cluster of each vector (a folded-in user, for example)."""
        rows = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        return self.kmeans.predict(_unit_rows(rows) if self.normalize else rows)


def cluster_factors(
    model: Recommender, side: str = "users", n_clusters: int = 8, *, seed: int = 0, normalize: bool = True
) -> Clusters:
    """KMeans (scikit-learn, ``n_init=4``) on the user or item factors of a fitted model; the centres are
    learned from a sample of ``KMEANS_SAMPLE`` rows when there are more, then every row is assigned."""
    factors = _factors(model, side)
    active = np.flatnonzero(np.abs(factors).sum(axis=1) > 0)
    if not 2 <= n_clusters <= len(active):
        raise RecEngineError(
            f"n_clusters={n_clusters} is not allowed: choose between 2 and the {len(active):,} {side} "
            "with factors."
        )
    rows = _unit_rows(factors[active]) if normalize else factors[active]
    sample = rows
    if len(rows) > KMEANS_SAMPLE:
        sample = rows[np.random.default_rng(seed).choice(len(rows), size=KMEANS_SAMPLE, replace=False)]
    distinct = len(np.unique(sample, axis=0))
    if distinct < n_clusters:  # KMeans would warn (a line naming its own file) and leave groups empty
        raise RecEngineError(
            f"n_clusters={n_clusters} is not allowed: the {side}' factors hold only {distinct:,} distinct "
            f"{'vector' if distinct == 1 else 'vectors'}; choose fewer clusters, or retrain the model."
        )
    with _one_openmp_thread():
        kmeans = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit(sample)
        labels = np.full(len(factors), -1, dtype=np.int64)
        labels[active] = kmeans.labels_ if sample is rows else kmeans.predict(rows)
    return Clusters(side, labels, kmeans, normalize, len(sample))


def _cluster_item_table(clusters: Clusters, data: RatingsDataset) -> tuple[np.ndarray, np.ndarray]:
    """(ratings count, ratings sum) per (user cluster, item)."""
    if clusters.side != "users" or len(clusters.labels) != data.n_users:
        raise RecEngineError("Cluster-based recommendations need clusters of this data set's users.")
    size = clusters.n_clusters * data.n_items
    memory.check(
        size * 24,  # int64 counts, float64 sums and bincount's temporary
        f"A table of {clusters.n_clusters:,} user clusters × {data.n_items:,} items",
        "Use fewer clusters, or a data set with fewer items (keep only items with more ratings).",
    )
    labels = clusters.labels[data.user_codes]
    inside = labels >= 0
    cell = labels[inside] * data.n_items + data.item_codes[inside]
    counts = np.bincount(cell, minlength=size).reshape(clusters.n_clusters, data.n_items)
    sums = np.bincount(cell, data.ratings[inside].astype(np.float64), minlength=size)
    return counts, sums.reshape(clusters.n_clusters, data.n_items)


def _damped_means(counts: np.ndarray, sums: np.ndarray, prior: float, centre: float) -> np.ndarray:
    weight = counts + prior
    return np.divide(sums + prior * centre, weight, out=np.full(weight.shape, centre), where=weight > 0)


def cluster_recommendations(
    clusters: Clusters,
    data: RatingsDataset,
    *,
    user: Any = None,
    vector: UserVector | None = None,
    n: int = 10,
    min_ratings: int = 3,
    prior: float = 5.0,
    taste: float | None = None,
) -> pd.DataFrame:
    """The best-rated items within the user's cluster that the user has not rated.

    The user is a raw user id of ``data`` (their cluster is their label) or a folded-in ``vector`` (the
    nearest cluster). Items need ``min_ratings`` ratings from the cluster; they are ranked by their mean
    rating there, pulled toward the data set's mean as if ``prior`` more ratings at the mean existed, then
    re-ranked toward the genre mix of what the user rated highly as `recommend` does (``taste``: λ, None
    for the default; 0 keeps the group's order). A group's best are mostly classics everyone rates highly:
    for a person who rated eight animated films on the bundled set, The Dark Knight and The Shawshank
    Redemption led their group's list, and animated films lead it re-ranked.
    """
    reader = Reader.of(user, vector)
    if vector is not None:
        cluster = int(clusters.assign(vector.factors)[0])
        rated, ratings = np.asarray(vector.item_codes, np.int64), np.asarray(vector.ratings, np.float64)
    else:
        code = data.user_code(user)
        cluster, row = int(clusters.labels[code]), data.csr[code]
        rated, ratings = row.indices.astype(np.int64), row.data.astype(np.float64)
        if cluster < 0:
            raise RecEngineError(
                f"User {user!r} has no factors, so no cluster: they rated nothing in training."
            )
    counts, sums = _cluster_item_table(clusters, data)
    counts, sums = counts[cluster], sums[cluster]
    scores = _damped_means(counts, sums, prior, float(data.ratings.mean()))
    keep = counts >= max(min_ratings, 1)
    keep[rated] = False
    chosen = _group_list(data, np.where(keep, scores, -np.inf), rated, ratings, n, taste)
    size = int((clusters.labels == cluster).sum())
    means = sums[chosen] / counts[chosen]
    return pd.DataFrame(
        {
            **item_columns(data, chosen),
            "score": scores[chosen],
            "cluster": cluster,
            "cluster_mean": means,
            "cluster_ratings": counts[chosen],
            "explanation": [
                f"Rated {m:.1f}★ on average by {c:,} of the {size:,} users in {reader.possessive} group (cluster {cluster})."
                for m, c in zip(means, counts[chosen], strict=True)
            ],
        }
    )


def _group_list(
    data: RatingsDataset,
    scores: np.ndarray,
    rated: np.ndarray,
    ratings: np.ndarray,
    n: int,
    taste: float | None,
) -> np.ndarray:
    """The ``n`` best ``scores`` (−inf: not listed), re-ranked toward the person's genres by `taste_weight`."""
    weight = taste_weight(data, rated, ratings, DEFAULT_WEIGHT if taste is None else taste)
    if weight:
        genres = genre_shares(data)
        return calibrated(
            scores, genres, taste_mix(rated, ratings, genres, liked_threshold(data.scale)), n, weight
        )
    pool = np.flatnonzero(np.isfinite(scores))
    return pool[np.lexsort((pool, -scores[pool]))][:n]


def cluster_favourites(
    clusters: Clusters, data: RatingsDataset, n: int = 5, *, min_ratings: int = 5, prior: float = 5.0
) -> pd.DataFrame:
    """Each user cluster's size and its ``n`` best-rated items (titles), by the damped cluster mean."""
    counts, sums = _cluster_item_table(clusters, data)
    scores = np.where(
        counts >= min_ratings, _damped_means(counts, sums, prior, float(data.ratings.mean())), -np.inf
    )
    sizes = clusters.sizes()["size"].to_numpy()
    favourites = []
    for row in scores:
        best = np.argsort(-row, kind="stable")[:n]
        favourites.append([data.title(int(i)) for i in best if np.isfinite(row[i])])
    return pd.DataFrame({"cluster": np.arange(clusters.n_clusters), "size": sizes, "favourites": favourites})


# --- maps -----------------------------------------------------------------------------------------------


@dataclass
class Projection:
    """2-D coordinates of some rows (``rows``: their codes), how they were made, and a note for people."""

    coords: np.ndarray
    rows: np.ndarray
    method: str
    note: str
    normalize: bool
    pca: PCA | None = None

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """Where other vectors (a folded-in user) fall on a PCA map; t-SNE maps cannot place new points."""
        if self.pca is None:
            raise RecEngineError("Only a PCA map can place new points; t-SNE has no mapping to apply.")
        rows = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        return self.pca.transform(_unit_rows(rows) if self.normalize else rows)


def project(
    model: Recommender,
    side: str = "items",
    method: str = "pca",
    *,
    rows: np.ndarray | None = None,
    max_points: int = TSNE_LIMIT,
    on_large: str = "sample",
    seed: int = 0,
    normalize: bool = True,
) -> Projection:
    """A 2-D map of the user or item factors (rows with factors, or the codes in ``rows``).

    ``pca`` maps every row. ``tsne`` is slow and memory-hungry: above ``max_points`` rows it works on a
    random sample of that many (``on_large="sample"``) or refuses (``on_large="refuse"``); the note says
    which happened.
    """
    factors = _factors(model, side)
    if rows is None:
        rows = np.flatnonzero(np.abs(factors).sum(axis=1) > 0)
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) < 3:
        raise RecEngineError(f"A map needs at least 3 {side} with factors; there are {len(rows)}.")
    what = side if side == "users" else "items"
    if method == "pca":
        matrix = _unit_rows(factors[rows]) if normalize else factors[rows]
        pca = PCA(n_components=2, random_state=seed).fit(matrix)
        shares = pca.explained_variance_ratio_
        note = f"PCA of {len(rows):,} {what}; the two axes keep {shares.sum():.0%} of the variance."
        return Projection(pca.transform(matrix), rows, "pca", note, normalize, pca)
    if method != "tsne":
        raise RecEngineError(f"method={method!r} is not allowed: method must be 'pca' or 'tsne'.")
    if on_large not in ("sample", "refuse"):
        raise RecEngineError(f"on_large={on_large!r} is not allowed: use 'sample' or 'refuse'.")
    note = f"t-SNE of {len(rows):,} {what}."
    affordable = _tsne_affordable_points(factors.shape[1])
    if len(rows) > min(max_points, affordable):
        by_memory = affordable < max_points
        limit = min(max_points, affordable)
        if on_large == "refuse" or limit < 3:
            error = TooLargeError if by_memory else RecEngineError
            raise error(
                f"t-SNE is limited to {limit:,} points{' by the memory budget' if by_memory else ''} and this "
                f"map has {len(rows):,} {what}: use PCA, raise the minimum number of ratings, or let it sample."
            )
        why = "as many as the memory budget allows" if by_memory else "above the limit"
        note = f"t-SNE of a random sample of {limit:,} of the {len(rows):,} {what} ({why})."
        rows = np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))
    matrix = _unit_rows(factors[rows]) if normalize else factors[rows]
    perplexity = float(min(30, max(2, (len(rows) - 1) // 3)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, n_jobs=1)
    with _one_openmp_thread():
        coords = tsne.fit_transform(matrix)
    return Projection(coords, rows, "tsne", note, normalize)


def _tsne_affordable_points(dims: int) -> int:
    """How many points a Barnes-Hut t-SNE of ``dims``-dimensional rows can map within the memory budget."""
    budget = memory.budget_bytes()
    per_point = TSNE_NEIGHBOURS * TSNE_BYTES_PER_NEIGHBOUR + 16 * dims + 256
    return np.iinfo(np.int64).max if budget is None else int(budget // per_point)
