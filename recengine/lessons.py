"""The engine side of the dashboard's lessons: a small matrix of real people and films, its filling in epoch by
epoch, a gradient check, how alike everyone's lists are, a person's list with each film's popularity, and a
new person's list by score alone and following their taste; a map of the films whose plane separates genres,
on which a person's point can be moved."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from recengine.blas import single_threaded_blas
from recengine.data.dataset import RatingsDataset
from recengine.errors import UnknownIdError
from recengine.evaluation.newuser import CHILDREN_QUERY, DISNEY_QUERY, DRAMA_QUERY, list_miscalibration
from recengine.lazy import pandas as pd
from recengine.models import make
from recengine.models.base import Recommender
from recengine.models.foldin import fold_in
from recengine.models.objective import BLOCKS, Batch, BiasedMF, mf_gradient
from recengine.models.scoring import score_matrix
from recengine.serving.recommend import recommend

SMALL_USERS, SMALL_ITEMS = 12, 15
OBSERVED_SHARE = 2 / 3  # the small matrix's people have rated about this share of its films
FILLING_MODEL = {
    "algo": "sgd",
    "n_factors": 3,
    "lr": 0.03,
    "reg": 0.05,
    "n_epochs": 40,
    "weighted_reg": False,
}
GRADIENT_MODEL = {
    "algo": "gd",
    "n_factors": 3,
    "n_epochs": 3,
    "reg": 0.1,
    "weighted_reg": False,
    "momentum": 0.0,
}
BLOCK_SYMBOLS = {"user_factors": "p", "item_factors": "q", "user_bias": "b_u", "item_bias": "b_i"}


def small_matrix(
    data: RatingsDataset, n_users: int = SMALL_USERS, n_items: int = SMALL_ITEMS
) -> RatingsDataset:
    """The most rated ``n_items`` films and ``n_users`` people who rated about two thirds of them (the most
    active first), as a data set of its own: small enough to show whole, with holes to fill."""
    films = np.argsort(-data.item_counts(), kind="stable")[:n_items]
    among = np.isin(data.item_codes, films)
    rated_here = np.bincount(data.user_codes[among], minlength=data.n_users)
    distance = np.abs(rated_here - round(OBSERVED_SHARE * n_items))
    distance[rated_here == 0] = n_items + 1
    people = np.lexsort((-data.user_counts(), distance))[:n_users]
    index = np.flatnonzero(among & np.isin(data.user_codes, people))
    return data.subset(index, name=f"{len(people)} people × {len(films)} films").compact()


def rating_grid(data: RatingsDataset) -> np.ndarray:
    """The users × items matrix of ratings, NaN where nobody rated (for small data sets only)."""
    grid = np.full((data.n_users, data.n_items), np.nan)
    grid[data.user_codes, data.item_codes] = data.ratings
    return grid


def filling_in(small: RatingsDataset, **overrides: Any) -> tuple[list[np.ndarray], list[float]]:
    """The predicted matrix after every epoch of a small factorization of ``small``, and the training
    RMSE of each (``FILLING_MODEL`` with ``overrides``)."""
    settings = FILLING_MODEL | overrides
    model = make(settings.pop("algo"), **settings)
    users, items = np.divmod(np.arange(small.n_users * small.n_items), small.n_items)
    frames: list[np.ndarray] = []
    errors: list[float] = []

    def capture(record: Any, fitted: Recommender) -> None:
        frames.append(fitted.predict(users, items).reshape(small.n_users, small.n_items))
        errors.append(float(record.train_rmse))

    model.fit(small, callbacks=[capture])
    return frames, errors


def gradient_check(
    small: RatingsDataset, n_entries: int = 8, step: float = 1e-5, seed: int = 0
) -> pd.DataFrame:
    """The analytic gradient of the biased-MF objective against central differences of the loss, for
    ``n_entries`` parameters picked at random (after a few gradient steps, so they are not at their start).

    Columns: parameter, analytic, numerical, relative difference |a − n| / max(|a|, |n|, 1e-12)."""
    settings = dict(GRADIENT_MODEL)
    model = make(settings.pop("algo"), **settings)
    model.fit(small)
    assert isinstance(model, BiasedMF)
    model._prepare_losses(small)  # a fitted model keeps its learned arrays only: the penalties, back
    gradient = mf_gradient(model, Batch.from_data(small, model.dtype_))
    blocks = gradient.blocks()
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_entries):
        block = str(rng.choice([b for b in BLOCKS if b in blocks]))
        position = int(rng.integers(len(gradient.rows(block))))
        row = int(gradient.rows(block)[position])
        array = getattr(model, block + "_")
        column = int(rng.integers(array.shape[1])) if array.ndim == 2 else None
        analytic = float(blocks[block][position] if column is None else blocks[block][position, column])
        numerical = _central_difference(
            model, small, array, (row,) if column is None else (row, column), step
        )
        difference = abs(analytic - numerical) / max(abs(analytic), abs(numerical), 1e-12)
        rows.append({"parameter": _parameter_name(block, row, column, small), "analytic": analytic,
                     "numerical": numerical, "relative difference": difference})  # fmt: skip
    return pd.DataFrame(rows)


def _central_difference(
    model: Recommender, data: RatingsDataset, array: np.ndarray, where: tuple[int, ...], step: float
) -> float:
    original = float(array[where])
    array[where] = original + step
    above = model._losses(data)[2]
    array[where] = original - step
    below = model._losses(data)[2]
    array[where] = original
    return (above - below) / (2 * step)


def _parameter_name(block: str, row: int, column: int | None, data: RatingsDataset) -> str:
    who = f"user {data.user_ids[row]}" if block.startswith("user") else data.title(row)
    symbol = BLOCK_SYMBOLS[block]
    return f"{symbol}[{column}] of {who}" if column is not None else f"{symbol} of {who}"


def top_items(model: Recommender, data: RatingsDataset, user: Any, n: int = 10) -> pd.DataFrame:
    """``user``'s top ``n`` unrated films by ``model``'s own scores (a rating model's predicted ratings, what
    RMSE measures; the dashboard's lists rank rating models otherwise, see `Recommender.list_scores`) with
    how many people rated each (its popularity) and their mean rating."""
    code = data.user_code(user)
    scores = score_matrix(model, np.array([code]))[0]
    scores[data.csr[code].indices] = -np.inf
    codes = np.argsort(-scores, kind="stable")[:n]

    sums = np.bincount(data.item_codes, data.ratings, minlength=data.n_items)
    counts = data.item_counts()
    mean = np.divide(sums, counts, out=np.full(data.n_items, np.nan), where=counts > 0)
    return pd.DataFrame(
        {
            "title": [data.title(int(c)) for c in codes],
            "ratings": counts[codes],
            "mean rating": mean[codes].round(2),
        }
    )


def best_scored(model: Recommender, data: RatingsDataset, user: Any, n: int = 10) -> list[str]:
    """The titles of the ``n`` films ``model`` scores highest for ``user``, the films they rated included."""
    return [
        data.title(code) for code in np.argsort(-model.item_scores(data.user_code(user)), kind="stable")[:n]
    ]


def list_overlap(model: Recommender, data: RatingsDataset, users: list[Any], n: int = 10) -> float:
    """How alike ``users``' top-``n`` lists are before the films each has seen are taken out: the mean
    share of films two lists have in common (Jaccard, over every pair); 1 when everyone gets one list."""
    lists = [set(np.argsort(-model.item_scores(data.user_code(user)), kind="stable")[:n]) for user in users]
    pairs = [len(a & b) / len(a | b) for a, b in combinations(lists, 2)]
    return float(np.mean(pairs)) if pairs else 0.0


# People with a distinct taste, each as ten or so films rated 5 stars (MovieLens ids, bundled set).
TASTES = {
    "Animation lover (eight animated films)": (1, 364, 588, 6377, 4306, 4886, 595, 8961),
    "Drama lover (ten dramas)": DRAMA_QUERY,
    "Children's-film lover (ten family films)": CHILDREN_QUERY,
    "Disney lover (eight Disney classics)": DISNEY_QUERY,
}
MIN_TASTE_FILMS = 5  # a taste is offered when the data set holds at least this many of its films


def tastes_in(data: RatingsDataset) -> dict[str, np.ndarray]:
    """`TASTES` whose films the data set holds (at least `MIN_TASTE_FILMS`), as item codes."""
    known = {}
    for name, ids in TASTES.items():
        codes = [data.item_code(i) for i in ids if _has_item(data, i)]
        if len(codes) >= MIN_TASTE_FILMS:
            known[name] = np.array(codes, dtype=np.int64)
    return known


def _has_item(data: RatingsDataset, raw_id: object) -> bool:
    try:
        data.item_code(raw_id)
    except UnknownIdError:
        return False
    return True


def taste_lists(
    model: Recommender, data: RatingsDataset, codes: np.ndarray, taste: float, n: int = 10
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[float, float]]:
    """A new person who rated the films ``codes`` 5 stars: their top ``n`` by the model's scores alone and
    following their taste at weight ``taste`` (`recommend`), and each list's genre gap (KL) from the mix of
    what they rated."""
    ratings = np.full(len(codes), data.scale.high)
    vector = fold_in(model, codes, ratings)
    tables, gaps = [], []
    for weight in (0.0, taste):
        table = recommend(model, data, vector=vector, n=n, taste=weight)
        gaps.append(list_miscalibration(data, data.item_codes_of(table["item"]), codes, ratings))
        counts = data.item_counts()[data.item_codes_of(table["item"])]
        tables.append(pd.DataFrame({"title": table["title"], "genres": [", ".join(g) for g in table["genres"]],
                                    "ratings": counts}))  # fmt: skip
    return tables[0], tables[1], (gaps[0], gaps[1])


# --- a map of the films that the class can steer ----------------------------------------------------------


@dataclass(frozen=True)
class GenreMap:
    """A linear 2-D map of films' factor directions (unit rows), centred on their mean: the plane that best
    separates the films of some genres (Fisher's discriminant), completed by the widest remaining direction
    when fewer than three genres are given. Linear, so a person's vector lands on it too (`place`)."""

    coords: np.ndarray  # the rows' places, len(rows) × 2
    rows: np.ndarray  # their item codes
    center: np.ndarray  # the mean unit row (the map's origin), k
    axes: np.ndarray  # k × 2, orthonormal
    variance_kept: float  # the share of the unit rows' variance the plane keeps, 0 to 1

    def place(self, vectors: np.ndarray) -> np.ndarray:
        """Where vectors (a person's factors, films' factors) fall on the map."""
        return (_unit(vectors) - self.center) @ self.axes


def genre_map(factors: np.ndarray, rows: np.ndarray, labels: np.ndarray, ridge: float = 1e-3) -> GenreMap:
    """The `GenreMap` of ``factors[rows]``, ``labels`` giving each row's genre ("" for none of them).

    Fisher's linear discriminant: directions w maximising between-genre over within-genre scatter,
    w'S_b w / w'S_w w, from the generalized eigenproblem S_b w = λ (S_w + ridge·tr(S_w)/k I) w; its plane is
    then made orthonormal, so distances on the map are those of a true projection."""
    with single_threaded_blas():  # small products: 20 ms on one thread, 0.3-0.7 s threaded on a busy machine
        return _genre_map(factors, rows, labels, ridge)


def _genre_map(factors: np.ndarray, rows: np.ndarray, labels: np.ndarray, ridge: float) -> GenreMap:
    units = _unit(factors[rows])
    center = units.mean(axis=0)
    centred = units - center
    labels = np.asarray(labels)
    genres = [genre for genre in dict.fromkeys(labels.tolist()) if genre]
    directions = np.empty((units.shape[1], 0))
    if len(genres) >= 2:
        labelled = centred[labels != ""]
        middle = labelled.mean(axis=0)
        within = np.zeros((units.shape[1], units.shape[1]))
        between = np.zeros_like(within)
        for genre in genres:
            members = centred[labels == genre]
            mean = members.mean(axis=0)
            within += (members - mean).T @ (members - mean)
            between += len(members) * np.outer(mean - middle, mean - middle)
        k = units.shape[1]
        within += ridge * max(np.trace(within), 1e-12) / k * np.eye(k)
        lower = np.linalg.cholesky(within)  # S_w = L L': the problem becomes L⁻¹ S_b L⁻ᵀ v = λ v, w = L⁻ᵀ v
        whitened = np.linalg.solve(lower, np.linalg.solve(lower, between).T)
        values, vectors = np.linalg.eigh((whitened + whitened.T) / 2)
        top = vectors[:, np.argsort(-values)[: min(2, len(genres) - 1)]]
        directions = np.linalg.solve(lower.T, top)
    axes = _complete_plane(directions, centred)
    kept = float(((centred @ axes) ** 2).sum() / max((centred**2).sum(), 1e-300))
    return GenreMap(centred @ axes, np.asarray(rows, dtype=np.int64), center, axes, kept)


def _complete_plane(directions: np.ndarray, centred: np.ndarray) -> np.ndarray:
    """An orthonormal k × 2 basis spanning ``directions`` (0 to 2 columns), completed by the directions of
    widest spread of ``centred`` outside them (principal components)."""
    basis = np.linalg.qr(directions)[0] if directions.shape[1] else directions
    residual = centred - (centred @ basis) @ basis.T
    values, vectors = np.linalg.eigh(residual.T @ residual)  # k × k: cheaper than an SVD of the rows
    widest = vectors[:, np.argsort(-values)[: 2 - basis.shape[1]]]
    return np.linalg.qr(np.hstack([basis, widest]))[0][:, :2]


def steered(factors: np.ndarray, plane: GenreMap, shift: tuple[float, float], length: float) -> np.ndarray:
    """A person's factors moved exactly ``shift`` map units over the map, their length kept (``length`` for
    a person without factors yet, who starts at the map's centre).

    The direction's part in the map's plane moves by ``shift``; its part outside keeps its own direction and
    shrinks or grows so that the whole stays a unit vector (the plane holds unit vectors within its unit
    circle, so a move beyond stops at its edge)."""
    norm = float(np.linalg.norm(factors))
    start = factors / norm if norm > 0 else plane.center
    inside = start @ plane.axes
    outside = start - plane.axes @ inside
    target = inside + np.asarray(shift, dtype=np.float64)
    reach = float(np.linalg.norm(target))
    if reach > MAX_REACH:
        target *= MAX_REACH / reach
    away = float(np.linalg.norm(outside))
    rest = outside / away * np.sqrt(1 - target @ target) if away > 0 else np.zeros_like(outside)
    return (plane.axes @ target + rest) * (norm if norm > 0 else length)


MAX_REACH = 0.99  # how far from the origin, in its plane, a unit direction may be moved


def _unit(vectors: np.ndarray) -> np.ndarray:
    matrix = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
