"""`RatingsDataset`: explicit ratings as compact arrays, with id maps, item metadata and a rating scale.

Users and items are coded ``0..n-1`` (int32); ``user_ids[code]`` and ``item_ids[code]`` give the raw ids
back. A subset (a train or test split) keeps its parent's codes, id maps and metadata, so a model trained
on one side can score the other side directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from recengine.data.metadata import Metadata
from recengine.errors import BadValuesError, EmptyDataError, MissingColumnsError, UnknownIdError
from recengine.lazy import pandas as pd
from recengine.lazy import scipy_sparse as sp

ITEM_COLUMNS = ("title", "year", "genres")


@dataclass(frozen=True)
class RatingScale:
    """The values ratings may take: from ``low`` to ``high``, on a grid of ``step`` when set."""

    low: float
    high: float
    step: float | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.low < self.high):
            raise BadValuesError(
                f"A rating scale needs finite bounds with min < max; got {self.low}..{self.high}."
            )
        if self.step is not None and not (0 < self.step <= self.high - self.low):
            raise BadValuesError(f"A rating scale step must be in (0, max - min]; got {self.step}.")

    @classmethod
    def infer(cls, ratings: np.ndarray) -> RatingScale:
        """The scale spanned by ``ratings``, with the coarsest step of 1, 0.5, 0.25 or 0.1 they sit on."""
        low, high = float(np.min(ratings)), float(np.max(ratings))
        if low == high:
            return cls(low - 1.0, high) if low > 0 else cls(low, low + 1.0)
        values = np.unique(ratings.astype(np.float64))
        for step in (1.0, 0.5, 0.25, 0.1):
            grid = (values - low) / step
            if np.allclose(grid, np.round(grid), atol=1e-4):
                return cls(low, high, step)
        return cls(low, high, None)

    def clip(self, values: np.ndarray) -> np.ndarray:
        return np.clip(values, self.low, self.high)

    def contains(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask of the values that lie on the scale (within bounds, and on the grid if any)."""
        inside = (values >= self.low - 1e-6) & (values <= self.high + 1e-6)
        if self.step is None:
            return inside
        grid = (values - self.low) / self.step
        return inside & (np.abs(grid - np.round(grid)) < 1e-4)

    def levels(self) -> np.ndarray:
        """Every value on the scale's grid (only when it has a step)."""
        if self.step is None:
            raise ValueError("a continuous rating scale has no levels")
        return np.round(np.arange(self.low, self.high + self.step / 2, self.step), 6)

    def to_dict(self) -> dict:
        return {"min": self.low, "max": self.high, "step": self.step}

    @classmethod
    def from_dict(cls, d: dict) -> RatingScale:
        return cls(float(d["min"]), float(d["max"]), None if d.get("step") is None else float(d["step"]))


_REBUILDABLE = ("_user_lookup", "_item_lookup", "csr", "csc")
"""Cached attributes a pickle leaves out, with the ``_*_cache`` ones other modules attach (genre matrices):
each is rebuilt in milliseconds."""


def liked_threshold(scale: RatingScale) -> float:
    """The rating from which an item counts as liked: three quarters up the scale (4 on 1–5 and 0.5–5)."""
    value = scale.low + 0.75 * (scale.high - scale.low)
    return float(np.ceil(value / scale.step) * scale.step) if scale.step else value


class RatingsDataset:
    """Ratings (user code, item code, rating[, timestamp]) over fixed user and item id spaces."""

    def __init__(
        self,
        user_codes: np.ndarray,
        item_codes: np.ndarray,
        ratings: np.ndarray,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        *,
        timestamps: np.ndarray | None = None,
        items: pd.DataFrame | Metadata | None = None,
        users: pd.DataFrame | Metadata | None = None,
        scale: RatingScale | None = None,
        name: str = "ratings",
        report: Sequence[str] = (),
    ):
        """``items`` and ``users`` are metadata aligned to the codes (row ``i`` is code ``i``); a
        :class:`Metadata` becomes a table when :attr:`items` or :attr:`users` is first read."""
        self.user_codes = np.ascontiguousarray(user_codes, dtype=np.int32)
        self.item_codes = np.ascontiguousarray(item_codes, dtype=np.int32)
        self.ratings = np.ascontiguousarray(ratings, dtype=np.float32)
        self.timestamps = None if timestamps is None else np.ascontiguousarray(timestamps, dtype=np.int64)
        self.user_ids = np.asarray(user_ids)
        self.item_ids = np.asarray(item_ids)
        n = len(self.ratings)
        if len(self.user_codes) != n or len(self.item_codes) != n:
            raise ValueError("user_codes, item_codes and ratings must have the same length")
        if self.timestamps is not None and len(self.timestamps) != n:
            raise ValueError("timestamps must have one value per rating")
        if n and (self.user_codes.max() >= len(self.user_ids) or self.item_codes.max() >= len(self.item_ids)):
            raise ValueError("a user or item code has no id")
        if n and (self.user_codes.min() < 0 or self.item_codes.min() < 0):
            raise ValueError("user and item codes must be non-negative")
        self._items = items
        self._items_complete = False
        self._users = users
        self.scale = (
            scale if scale is not None else RatingScale.infer(self.ratings) if n else RatingScale(1, 5, 1)
        )
        self.name = name
        self.report = list(report)

    def __getstate__(self) -> dict:
        """A snapshot without the rebuildable caches (`_REBUILDABLE`).

        One data set is shared by every session of a server, and any of them may fill a cache while
        another pickles the set for a training worker: copying the attributes first (one step under
        the GIL) keeps the pickle from iterating a dictionary that grows.
        """
        state = self.__dict__.copy()
        return {
            key: value
            for key, value in state.items()
            if key not in _REBUILDABLE and not key.endswith("_cache")
        }

    # --- construction -----------------------------------------------------------------------------------

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        user: str = "user",
        item: str = "item",
        rating: str = "rating",
        timestamp: str | None = None,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        scale: RatingScale | None = None,
        name: str = "ratings",
        report: Sequence[str] = (),
    ) -> RatingsDataset:
        """Validate a table of raw ratings and code it.

        ``items`` (optional) is indexed by raw item id with columns among title, year, genres; ``users``
        (optional) is indexed by raw user id. Ratings must be numeric and finite, and on ``scale`` when it
        is given. Duplicate (user, item) pairs keep the latest by timestamp, else the last row; the number
        dropped goes into ``report``.
        """
        wanted = [c for c in (user, item, rating, timestamp) if c is not None]
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise MissingColumnsError(
                f"Columns {missing} are missing. Found columns: {[str(c) for c in frame.columns]}; "
                f"expected user, item and rating columns named {wanted}. Map your columns to these names."
            )
        if len(frame) == 0:
            raise EmptyDataError(
                "The table holds no ratings. Check that the file is not empty and has data rows."
            )
        for column in (user, item):
            if frame[column].isna().any():
                bad = int(frame[column].isna().sum())
                raise BadValuesError(f"{bad:,} rows have no {column!r} id. Remove them or fill them in.")
        return cls.from_columns(
            _id_values(frame[user]),
            _id_values(frame[item]),
            _numeric_column(frame[rating], rating, "rating"),
            None if timestamp is None else _timestamps(frame[timestamp], timestamp),
            items=items,
            users=users,
            scale=scale,
            name=name,
            report=report,
        )

    @classmethod
    def from_columns(
        cls,
        user_raw: np.ndarray,
        item_raw: np.ndarray,
        values: np.ndarray,
        times: np.ndarray | None = None,
        *,
        items: pd.DataFrame | Metadata | None = None,
        users: pd.DataFrame | Metadata | None = None,
        scale: RatingScale | None = None,
        name: str = "ratings",
        report: Sequence[str] = (),
    ) -> RatingsDataset:
        """Code raw ids (whole numbers or strings, no missing ones) and finite float32 ratings.

        Ratings must be on ``scale`` when it is given; ``items`` and ``users`` are indexed by raw id (a
        catalogue's unrated items get codes too). Duplicate (user, item) pairs keep the latest by
        timestamp, else the last row; the number dropped goes into ``report``.
        """
        notes = list(report)
        if scale is None:
            notes += _unusual_scale_note(values)
        else:
            off = ~scale.contains(values)
            if off.any():
                first = values[off][:5].tolist()
                raise BadValuesError(
                    f"{int(off.sum()):,} ratings are off the scale {scale.low:g}..{scale.high:g}"
                    + (f" (step {scale.step:g})" if scale.step else "")
                    + f", for example {first}. Fix those rows or declare the scale the data uses."
                )
        user_codes, user_ids = _codes(user_raw)
        item_codes, item_ids = _codes(item_raw)
        if isinstance(items, Metadata) and item_ids.dtype.kind in "iu":
            if not np.isin(items.ids, item_ids).all():
                # The catalogue defines the item space: unrated catalogue items get codes too.
                item_ids = np.union1d(item_ids, items.ids).astype(np.int64)
                item_codes = np.searchsorted(item_ids, item_raw).astype(np.int32)
            items = items.aligned(item_ids)
        else:
            items = _frame_of(items)
            items = _with_id_type(items, item_raw)
            if items is not None and not items.index.isin(item_ids).all():
                item_ids = pd.Index(item_ids).union(items.index)
                item_codes = item_ids.get_indexer(item_raw)
            items = None if items is None else items.reindex(np.asarray(item_ids))
        if isinstance(users, Metadata) and user_ids.dtype.kind in "iu":
            users = users.aligned(user_ids)
        elif (users := _frame_of(users)) is not None:
            users = users[~users.index.duplicated(keep="last")]
            users = users.reindex(np.asarray(user_ids)).reset_index(drop=True)
        keep = _last_of_duplicates(user_codes, item_codes, len(item_ids), times)
        if keep is not None:
            notes.append(
                f"{len(values) - len(keep):,} duplicate (user, item) pairs found; kept the "
                + ("latest by timestamp." if times is not None else "last row of each.")
            )
            user_codes, item_codes, values = user_codes[keep], item_codes[keep], values[keep]
            times = None if times is None else times[keep]
        return cls(
            user_codes,
            item_codes,
            values,
            np.asarray(user_ids),
            np.asarray(item_ids),
            timestamps=times,
            items=items,
            users=users,
            scale=scale,
            name=name,
            report=notes,
        )

    # --- metadata ---------------------------------------------------------------------------------------

    @property
    def items(self) -> pd.DataFrame:
        """Item metadata by item code: item (raw id), title, year, genres, and any other columns."""
        if not self._items_complete:
            self._items = _complete_items(_frame_of(self._items), self.item_ids)
            self._items_complete = True
        return self._items

    @property
    def users(self) -> pd.DataFrame | None:
        """User metadata by user code, when the data came with some."""
        if isinstance(self._users, Metadata):
            self._users = self._users.frame().reset_index(drop=True)
        return self._users

    # --- sizes and lookups ------------------------------------------------------------------------------

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_ratings(self) -> int:
        return len(self.ratings)

    def __len__(self) -> int:
        return self.n_ratings

    @property
    def density(self) -> float:
        cells = self.n_users * self.n_items
        return self.n_ratings / cells if cells else 0.0

    def __repr__(self) -> str:
        return (
            f"RatingsDataset({self.name!r}: {self.n_users:,} users, {self.n_items:,} items, "
            f"{self.n_ratings:,} ratings)"
        )

    @cached_property
    def _user_lookup(self) -> dict:
        return {_key(v): i for i, v in enumerate(self.user_ids.tolist())}

    @cached_property
    def _item_lookup(self) -> dict:
        return {_key(v): i for i, v in enumerate(self.item_ids.tolist())}

    def user_code(self, raw_id: object) -> int:
        """The code of a raw user id (``"42"`` and ``42`` both match an integer id)."""
        return _lookup(self._user_lookup, raw_id, "user")

    def item_code(self, raw_id: object) -> int:
        """The code of a raw item id (``"42"`` and ``42`` both match an integer id)."""
        return _lookup(self._item_lookup, raw_id, "item")

    def item_codes_of(self, raw_ids: Iterable[object]) -> np.ndarray:
        return np.array([self.item_code(r) for r in raw_ids], dtype=np.int32)

    def title(self, item_code: int) -> str:
        return str(self.items.at[item_code, "title"])

    # --- matrix views -----------------------------------------------------------------------------------

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """Users × items sparse matrix of ratings (float32), built once."""
        matrix = sp.csr_matrix(
            (self.ratings, (self.user_codes, self.item_codes)), shape=(self.n_users, self.n_items)
        )
        matrix.sort_indices()
        return matrix

    @cached_property
    def csc(self) -> sp.csc_matrix:
        """Users × items sparse matrix in column order (items × users access), built once."""
        matrix = self.csr.tocsc()
        matrix.sort_indices()
        return matrix

    def user_counts(self) -> np.ndarray:
        return np.bincount(self.user_codes, minlength=self.n_users)

    def item_counts(self) -> np.ndarray:
        return np.bincount(self.item_codes, minlength=self.n_items)

    # --- identity and summary ---------------------------------------------------------------------------

    @cached_property
    def fingerprint(self) -> str:
        """A content hash (ratings, ids, scale): the same data gives the same key in any process."""
        digest = hashlib.blake2b(digest_size=16)
        for array in (self.user_codes, self.item_codes, self.ratings):
            digest.update(array.tobytes())
        if self.timestamps is not None:
            digest.update(self.timestamps.tobytes())
        for ids in (self.user_ids, self.item_ids):
            digest.update(_ids_bytes(ids))
        digest.update(repr(self.scale.to_dict()).encode())
        return digest.hexdigest()

    @cached_property
    def side_fingerprint(self) -> str:
        """A content hash of the item and user tables (titles, years, genres, user attributes): what a model
        reading side information learned from besides the ratings (`fingerprint`)."""
        digest = hashlib.blake2b(digest_size=16)
        for side, table in (("items", self.items), ("users", self.users)):
            digest.update(f"|{side}|".encode())
            for column in [] if table is None else table.columns:
                values = table[column].map(
                    lambda v: "\x1f".join(map(str, v)) if isinstance(v, list | tuple) else v
                )
                digest.update(f"|{column}|".encode())
                digest.update(
                    pd.util.hash_pandas_object(values.astype(str), index=False).to_numpy().tobytes()
                )
        return digest.hexdigest()

    def summary(self) -> dict:
        """Sizes, density, rating scale, per-user and per-item count quantiles, and the fingerprint."""
        quantiles = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)

        def spread(counts: np.ndarray) -> dict:
            if not len(counts):
                return {}
            return {f"q{int(q * 100)}": float(np.quantile(counts, q)) for q in quantiles} | {
                "mean": float(counts.mean())
            }

        has_ratings = self.n_ratings > 0
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "ratings": self.n_ratings,
            "density": self.density,
            "rating_scale": self.scale.to_dict(),
            "mean_rating": float(self.ratings.mean(dtype=np.float64)) if has_ratings else None,
            "ratings_per_user": spread(self.user_counts()),
            "ratings_per_item": spread(self.item_counts()),
            "has_timestamps": self.timestamps is not None,
            "fingerprint": self.fingerprint,
        }

    # --- derived data sets ------------------------------------------------------------------------------

    def subset(self, index: np.ndarray, name: str | None = None) -> RatingsDataset:
        """The ratings at ``index`` (positions or a boolean mask), in the same id spaces as this set."""
        return RatingsDataset(
            self.user_codes[index],
            self.item_codes[index],
            self.ratings[index],
            self.user_ids,
            self.item_ids,
            timestamps=None if self.timestamps is None else self.timestamps[index],
            items=self._items,
            users=self._users,
            scale=self.scale,
            name=name or self.name,
        )

    def compact(self, name: str | None = None) -> RatingsDataset:
        """The same ratings over only the users and items that have any (codes renumbered)."""
        users, user_codes = np.unique(self.user_codes, return_inverse=True)
        items, item_codes = np.unique(self.item_codes, return_inverse=True)
        return RatingsDataset(
            user_codes,
            item_codes,
            self.ratings,
            self.user_ids[users],
            self.item_ids[items],
            timestamps=self.timestamps,
            items=self.items.iloc[items].reset_index(drop=True),
            users=None if self.users is None else self.users.iloc[users].reset_index(drop=True),
            scale=self.scale,
            name=name or self.name,
            report=self.report,
        )

    def to_frame(self) -> pd.DataFrame:
        """Raw ids and ratings as a table (with timestamps when present)."""
        frame = pd.DataFrame(
            {
                "user": self.user_ids[self.user_codes],
                "item": self.item_ids[self.item_codes],
                "rating": self.ratings,
            }
        )
        if self.timestamps is not None:
            frame["timestamp"] = self.timestamps
        return frame


# --- helpers --------------------------------------------------------------------------------------------


def _numeric_column(column: pd.Series, name: str, role: str) -> np.ndarray:
    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna() & column.notna()
    if bad.any():
        examples = column[bad].astype(str).unique()[:3].tolist()
        raise BadValuesError(
            f"{int(bad.sum()):,} {role} values in column {name!r} are not numbers, for example {examples}. "
            "Check the delimiter and the column mapping, or remove those rows."
        )
    if numbers.isna().any():
        raise BadValuesError(
            f"{int(numbers.isna().sum()):,} rows have no {role} in column {name!r}. Remove or fill them."
        )
    values = numbers.to_numpy(dtype=np.float32 if numbers.dtype == np.float32 else np.float64)
    if not np.isfinite(values).all():
        raise BadValuesError(f"Column {name!r} holds infinite {role} values. Remove those rows.")
    too_large = np.abs(values) > np.finfo(np.float32).max  # they would become infinite as float32
    if too_large.any():
        raise BadValuesError(
            f"{int(too_large.sum()):,} {role} values in column {name!r} are too large to be ratings, for "
            f"example {values[too_large][:3].tolist()}. Remove those rows."
        )
    return values.astype(np.float32, copy=False)


def _unusual_scale_note(values: np.ndarray) -> list[str]:
    """A note when the scale inferred from the ratings looks unlike a rating scale (negative ratings, or a
    range wider than 0 to 10): perhaps the wrong column was taken as the rating."""
    low, high = float(values.min()), float(values.max())
    if low >= 0 and high <= 10:
        return []
    return [
        f"The ratings go from {low:g} to {high:g}, an unusual rating scale: check that the rating column is "
        "the right one, or declare the scale the data uses."
    ]


def _timestamps(column: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.astype("datetime64[s]").astype(np.int64).to_numpy()
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.isna().any():
        parsed = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")  # each as it comes
        if parsed.isna().any():
            raise BadValuesError(
                f"{int(parsed.isna().sum()):,} values in timestamp column {name!r} are neither numbers nor "
                "dates. Fix them or load without a timestamp column."
            )
        return parsed.astype("datetime64[s, UTC]").astype(np.int64).to_numpy()
    return numbers.to_numpy(dtype=np.int64)


def _id_values(column: pd.Series) -> np.ndarray:
    """Raw ids as int32 or int64 when they are all whole numbers, else as strings."""
    if pd.api.types.is_integer_dtype(column):
        return column.to_numpy(dtype=np.int32 if column.dtype == np.int32 else np.int64)
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        if np.isfinite(values).all() and (values == np.round(values)).all() and np.abs(values).max() < 2**62:
            return values.astype(np.int64)
    return column.astype(str).to_numpy(dtype=object)


def _codes(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int32 codes into the sorted distinct raw ids.

    Integer ids in a compact range (as rating files number their users and items) are coded through a
    lookup table, several times faster than hashing; other ids go through ``pd.factorize``.
    """
    if raw.dtype.kind in "iu" and len(raw):
        low, high = int(raw.min()), int(raw.max())
        if high - low < max(4 * len(raw), 1 << 20):
            offsets = raw - raw.dtype.type(low)
            present = np.zeros(high - low + 1, dtype=bool)
            present[offsets] = True
            rank = np.cumsum(present, dtype=np.int32) - 1
            return rank[offsets], (np.flatnonzero(present) + low).astype(raw.dtype)
    codes, uniques = pd.factorize(raw, sort=True)
    return codes.astype(np.int32), np.asarray(uniques)


def _last_of_duplicates(
    user_codes: np.ndarray, item_codes: np.ndarray, n_items: int, times: np.ndarray | None
) -> np.ndarray | None:
    """Positions to keep so that each (user, item) pair appears once, or None when there are no repeats."""
    pair = user_codes.astype(np.int64) * n_items + item_codes
    if (pair[1:] > pair[:-1]).all():  # sorted by user then item, as most rating files are: no repeats
        return None
    ordered = np.sort(pair)  # a plain sort is many times faster than the stable lexsort below
    if (ordered[1:] != ordered[:-1]).all():
        return None
    del ordered
    order = np.lexsort((np.arange(len(pair)), pair) if times is None else (np.arange(len(pair)), times, pair))
    sorted_pairs = pair[order]
    last = np.ones(len(pair), dtype=bool)
    last[:-1] = sorted_pairs[1:] != sorted_pairs[:-1]
    if last.all():
        return None
    return np.sort(order[last])


def _frame_of(metadata: pd.DataFrame | Metadata | None) -> pd.DataFrame | None:
    return metadata.frame() if isinstance(metadata, Metadata) else metadata


def _complete_items(items: pd.DataFrame | None, item_ids: np.ndarray) -> pd.DataFrame:
    """Item metadata aligned to item codes, with title, year and genres for every item."""
    n = len(item_ids)
    frame = pd.DataFrame(index=pd.RangeIndex(n)) if items is None else items.reset_index(drop=True).copy()
    frame["item"] = item_ids
    if "title" not in frame:
        frame["title"] = [str(i) for i in item_ids]
    else:
        frame["title"] = frame["title"].astype(object)
        missing = frame["title"].isna()
        frame.loc[missing, "title"] = [str(i) for i in item_ids[missing.to_numpy()]]
    if "year" not in frame:
        frame["year"] = np.nan
    frame["year"] = pd.to_numeric(frame["year"], errors="coerce").astype("float64")
    if "genres" not in frame:
        frame["genres"] = [[] for _ in range(n)]
    else:
        frame["genres"] = [g if isinstance(g, list) else [] for g in frame["genres"]]
    return frame[["item", *ITEM_COLUMNS, *[c for c in frame.columns if c not in ("item", *ITEM_COLUMNS)]]]


def _with_id_type(items: pd.DataFrame | None, item_raw: np.ndarray) -> pd.DataFrame | None:
    """Item metadata re-indexed by ids of the same type as the ratings' ids, one row per id."""
    if items is None:
        return None
    index = items.index
    if item_raw.dtype == object:
        items = items.set_axis(index.astype(str))
    elif not pd.api.types.is_integer_dtype(index):
        numeric = pd.to_numeric(index, errors="coerce")
        whole = np.isfinite(numeric) & (numeric == np.round(numeric)) & (np.abs(numeric) < 2**62)
        items = items[whole].set_axis(numeric[whole].astype(np.int64))
    return items[~items.index.duplicated(keep="last")]


def _key(value: object) -> object:
    return value if isinstance(value, str) else int(value)


def _lookup(table: dict, raw_id: object, what: str) -> int:
    if raw_id in table:
        return table[raw_id]
    text = str(raw_id).strip()
    for candidate in (text, _as_int(text)):
        if candidate is not None and candidate in table:
            return table[candidate]
    raise UnknownIdError(f"There is no {what} with id {raw_id!r} in this data set.")


def _as_int(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None


def _ids_bytes(ids: np.ndarray) -> bytes:
    if ids.dtype.kind in "iu":
        return ids.astype(np.int64).tobytes()
    return "\x1f".join(map(str, ids.tolist())).encode()
