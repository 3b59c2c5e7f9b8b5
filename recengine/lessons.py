"""The engine side of the dashboard's lessons: a small matrix of real people and films, its filling in epoch by
epoch, a gradient check, how alike everyone's lists are, a person's list with each film's popularity, and a
new person's list by score alone and following their taste."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

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
