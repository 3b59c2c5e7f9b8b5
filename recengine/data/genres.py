"""Films' genres as matrices: p(g|i) per film and the genre mix of a set of films."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from recengine.lazy import pandas as pd
from recengine.lazy import scipy_sparse as sp


def genre_matrix(
    items: pd.DataFrame, ignore: Collection[str] = ("(no genres listed)", "unknown")
) -> sp.csr_matrix:
    """Items × genres, p(g|i): each item's genres share it equally (a row of zeros for an item without
    genres); the columns are the sorted genre names, see `genre_names`."""
    names = genre_names(items, ignore)
    column = {name: j for j, name in enumerate(names)}
    rows, cols = [], []
    for row, genres in enumerate(items["genres"]):
        for genre in set(genres) - set(ignore):
            rows.append(row)
            cols.append(column[genre])
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(items), len(names)))
    counts = np.maximum(np.diff(matrix.indptr), 1)
    return sp.csr_matrix(sp.diags(1.0 / counts) @ matrix)


def genre_names(
    items: pd.DataFrame, ignore: Collection[str] = ("(no genres listed)", "unknown")
) -> list[str]:
    """The sorted genre names of ``items``, without the placeholders for "no genre"."""
    return sorted({g for genres in items["genres"] for g in genres} - set(ignore))


def genre_mix(codes: Any, genres: sp.csr_matrix) -> np.ndarray:
    """The genre distribution of a set of items (each item weighing the same; zeros when none has a genre)."""
    total = np.asarray(genres[np.asarray(codes, dtype=np.int64)].sum(axis=0)).ravel()
    mass = total.sum()
    return total / mass if mass > 0 else total
