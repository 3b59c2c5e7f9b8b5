"""Item and user metadata read without pandas: whole-number ids and plain columns, one value per id.

MovieLens' side files (``movies.csv``, ``u.item``, ``u.user``) are small, and a command such as
``recengine train --train u1.base --test u1.test`` needs only their ids (the catalogue defines the item
space). Reading them with the standard library and aligning them to the ratings' ids with NumPy keeps
pandas out of such a process (about 0.6 s of imports); the table a page shows is built from a
:class:`Metadata` the first time someone asks for it (`RatingsDataset.items`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recengine.lazy import pandas as pd


@dataclass(frozen=True)
class Metadata:
    """Rows of metadata: ``ids`` (int64) and named columns, each a list with one value per id."""

    ids: np.ndarray
    columns: dict[str, list[Any]]
    index_name: str = "item"

    def __post_init__(self) -> None:
        if any(len(values) != len(self.ids) for values in self.columns.values()):
            raise ValueError("every metadata column needs one value per id")

    def aligned(self, ids: np.ndarray) -> Metadata:
        """One row per id of ``ids`` (sorted whole numbers): the last row given for it, or empty values."""
        reversed_ids = self.ids[::-1]
        known, first_of_reversed = np.unique(reversed_ids, return_index=True)
        last_row = len(self.ids) - 1 - first_of_reversed
        where = np.minimum(np.searchsorted(known, ids), max(len(known) - 1, 0))
        found = (known[where] == ids) if len(known) else np.zeros(len(ids), dtype=bool)
        rows = [int(last_row[w]) if f else -1 for w, f in zip(where.tolist(), found.tolist(), strict=True)]
        columns = {
            name: [values[r] if r >= 0 else None for r in rows] for name, values in self.columns.items()
        }
        return Metadata(np.asarray(ids, dtype=np.int64), columns, self.index_name)

    def frame(self) -> pd.DataFrame:
        """The rows as a table indexed by id (imports pandas)."""
        return pd.DataFrame(self.columns, index=pd.Index(self.ids, name=self.index_name))
