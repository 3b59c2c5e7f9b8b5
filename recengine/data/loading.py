"""From a spec (nothing, a path, a data set name or ``FORMAT:PATH``) to a :class:`RatingsDataset`."""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from functools import cache
from pathlib import Path

import numpy as np

from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.data.download import (
    COMPLETE,
    KNOWN_DATASETS,
    cache_dir,
    cached_datasets,
    unpack,
    where_to_put,
)
from recengine.data.formats import (
    FORMATS,
    READERS,
    Table,
    detect_format,
    read_100k_items,
    read_movies_csv,
    side_table,
)
from recengine.data.metadata import Metadata
from recengine.data.privacy import content_hidden, redact
from recengine.data.reading import Progress, ReadOptions
from recengine.errors import (
    ArchiveError,
    BadValuesError,
    DataError,
    DataFormatError,
    DownloadError,
    EmptyDataError,
    ParameterError,
)
from recengine.lazy import pandas as pd

BUNDLED = Path(__file__).resolve().parent / "ml-latest-small"


def load(
    spec: str | os.PathLike | None = None,
    *,
    format: str | None = None,
    columns: dict[str, str | None] | None = None,
    scale: RatingScale | None = None,
    min_item_ratings: int = 0,
    min_user_ratings: int = 0,
    repeat_filters: bool = False,
    progress: Progress | None = None,
    memory_budget: int | None = None,
    hide_content: bool = False,
) -> RatingsDataset:
    """Load ratings from ``spec``: None (the bundled MovieLens latest-small), a file or folder (format
    detected), a data set name (``ml-100k``: from the download cache) or ``FORMAT:PATH``.

    ``columns`` maps the roles user, item, rating, timestamp to the file's column names (else they are
    guessed from common names); ``scale`` declares the rating scale (else the format's, else inferred).
    Raises a :class:`~recengine.errors.DataError` subclass with a message a person can act on; with
    ``hide_content`` (a server loading files that are not the reader's), messages quote nothing of the
    files and list no folder (see `recengine.data.privacy`).
    """
    if spec is None and format is None and columns is None and scale is None:
        data = load_bundled()
    else:
        options = ReadOptions(columns=columns, progress=progress, memory_budget=memory_budget)
        # Malformed numbers overflow or turn invalid in NumPy casts inside pandas; the checks that follow
        # name them (too large, not finite), so NumPy's own warnings would only print noise before that.
        with np.errstate(over="ignore", invalid="ignore"), content_hidden(hide_content):
            try:
                data = read(spec, format, options).dataset(scale)
            except DataError as error:
                if hide_content:
                    error.args = (redact(str(error)),)
                raise
        if hide_content:
            data.report = [redact(note) for note in data.report]
    if min_item_ratings or min_user_ratings:
        data = filter_min_ratings(data, min_item_ratings, min_user_ratings, repeat=repeat_filters)
    return data


def load_bundled() -> RatingsDataset:
    """MovieLens latest-small as shipped in the package (loaded once per process)."""
    return _bundled()


@cache
def _bundled() -> RatingsDataset:
    return read(BUNDLED, "movielens", ReadOptions()).dataset()


def read(spec: str | os.PathLike | None, fmt: str | None, options: ReadOptions) -> Table:
    """The raw table behind ``spec`` (see :func:`load`), before coding."""
    path, fmt = resolve(spec, fmt)
    return READERS[fmt](path, options)


def resolve(spec: str | os.PathLike | None, fmt: str | None = None) -> tuple[Path, str]:
    """The path and the format that ``spec`` (and an explicit ``fmt``) point at."""
    if fmt is not None and fmt not in FORMATS:
        raise DataFormatError(f"Unknown format {fmt!r}. The formats are: {', '.join(FORMATS)}.")
    if spec is None:
        return BUNDLED, fmt or "movielens"
    text = os.fspath(spec)
    prefix, colon, rest = text.partition(":")
    if colon and prefix.lower() in FORMATS and not Path(text).exists():
        if fmt is not None and fmt != prefix.lower():
            raise DataFormatError(f"{text!r} names the format {prefix!r} but format={fmt!r} was given.")
        fmt, text = prefix.lower(), rest
    path = Path(text).expanduser()
    if text in KNOWN_DATASETS or not path.exists():  # a data set's name, never a local file of that name
        path = _named(text)
    if path.is_file() and path.suffix.lower() == ".zip":
        path = _unzipped(path)
    return path, fmt or detect_format(path)


def _named(name: str) -> Path:
    """The folder of a data set known by name: in the cache, or the bundled copy of latest-small."""
    if name in (cached := cached_datasets()):
        return cached[name]
    if name == "ml-latest-small":
        return BUNDLED
    if name in KNOWN_DATASETS:
        raise DownloadError(f"{name} is not downloaded yet. {where_to_put(name)}")
    if any(sep in name for sep in "/\\") or Path(name).suffix:
        raise DataError(f"There is no file or folder at {name}.")
    raise DownloadError(
        f"{name!r} is neither a file or folder nor a known data set. Known data sets: "
        f"{', '.join(KNOWN_DATASETS)}; or give the path of a ratings file or folder."
    )


UNZIPPED_ENV = "RECENGINE_UNZIPPED_MB"
DEFAULT_UNZIPPED_MB = 2_000


def _unzipped(archive: Path) -> Path:
    """A zip given as data: unpacked once into the cache, keyed by its path, size and time. The unpacked
    archives share a size cap (`unzipped_max_bytes`); the least recently used go first."""
    stat = archive.stat()
    key = hashlib.blake2b(f"{archive.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode(), digest_size=6)
    folder = unzipped_folder()
    target = folder / f"{archive.stem}-{key.hexdigest()}"
    if (target / COMPLETE).is_file():
        os.utime(target)  # recently used
        return target
    need = declared_size(archive)
    cap = unzipped_max_bytes()
    if need > cap:
        raise ArchiveError(
            f"{archive.name} would unpack to {need:,} bytes, more than the {cap:,} bytes kept for unpacked "
            f"archives. Unzip it yourself and give the folder, or raise {UNZIPPED_ENV}."
        )
    _make_room(folder, cap - need)
    return unpack(archive, target)


def unzipped_folder() -> Path:
    """Where zips given as data are unpacked: a folder of the cache that a shared server keeps private."""
    return cache_dir() / "unzipped"


def unzipped_max_bytes() -> int:
    """The cap on unpacked archives in the cache: ``$RECENGINE_UNZIPPED_MB`` megabytes (default 2,000)."""
    text = os.environ.get(UNZIPPED_ENV, "").strip() or str(DEFAULT_UNZIPPED_MB)
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = float("nan")
    if not megabytes > 0 or megabytes == float("inf"):
        raise ParameterError(UNZIPPED_ENV, text, "a positive number of megabytes such as 2000")
    return int(megabytes * 1e6)


def declared_size(archive: Path) -> int:
    """What a zip's members declare they unpack to (its directory only; nothing is decompressed)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            return sum(member.file_size for member in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ArchiveError(
            f"{archive.name} is truncated or corrupted ({error}). Download it again."
        ) from None


def _make_room(folder: Path, allowed: int) -> None:
    """Remove the least recently used unpacked archives until those left take at most ``allowed`` bytes."""
    if not folder.is_dir():
        return
    entries = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    sizes = {entry: _tree_bytes(entry) for entry in entries}
    used = sum(sizes.values())
    for entry in entries:
        if used <= allowed:
            break
        shutil.rmtree(entry, ignore_errors=True)
        used -= sizes[entry]


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


# --- predefined splits ----------------------------------------------------------------------------------


def load_train_test(
    train: str | os.PathLike,
    test: str | os.PathLike,
    *,
    format: str | None = None,
    columns: dict[str, str | None] | None = None,
    scale: RatingScale | None = None,
    progress: Progress | None = None,
    memory_budget: int | None = None,
) -> tuple[RatingsDataset, RatingsDataset]:
    """Two files (e.g. MovieLens ``u1.base`` and ``u1.test``) in one shared user and item id space.

    Item metadata comes from the files' format or from a sibling ``u.item`` or ``movies.csv``. A pair
    (user, item) in both files is refused: it would leak the answer into training.
    """
    options = ReadOptions(columns=columns, progress=progress, memory_budget=memory_budget)
    tables = [read(spec, format, options) for spec in (train, test)]
    sides = [table.dataset(scale) for table in tables]  # validates each file, drops repeats within it
    items = next((t.items for t in tables if t.items is not None), None)
    if items is None:
        items = _sibling_items(Path(os.fspath(train)))
    users = next((t.users for t in tables if t.users is not None), None)
    timed = all(side.timestamps is not None for side in sides)
    combined = RatingsDataset.from_columns(
        _joined_ids([side.user_ids[side.user_codes] for side in sides]),
        _joined_ids([side.item_ids[side.item_codes] for side in sides]),
        np.concatenate([side.ratings for side in sides]),
        np.concatenate([side.timestamps for side in sides]) if timed else None,
        items=items,
        users=users,
        scale=scale or tables[0].scale or tables[1].scale,
        name=tables[0].name,
    )
    n_train = sides[0].n_ratings
    shared = n_train + sides[1].n_ratings - combined.n_ratings
    if shared:
        raise BadValuesError(
            f"{shared:,} (user, item) pairs are in both {Path(os.fspath(train)).name} and "
            f"{Path(os.fspath(test)).name}. A train/test split must not share ratings; remove them from "
            "one of the files."
        )
    train_part = combined.subset(np.arange(n_train), name=tables[0].name)
    test_part = combined.subset(np.arange(n_train, combined.n_ratings), name=tables[1].name)
    train_part.report, test_part.report = sides[0].report, sides[1].report
    return train_part, test_part


def _joined_ids(parts: list[np.ndarray]) -> np.ndarray:
    """Raw ids of both files, one per rating: numbers, or text for all when either file has text ids."""
    if any(part.dtype == object for part in parts):
        return np.concatenate([part.astype(str) for part in parts]).astype(object)
    return np.concatenate(parts)


def _sibling_items(path: Path) -> Metadata | pd.DataFrame | None:
    folder = path if path.is_dir() else path.parent
    if (folder / "movies.csv").is_file():
        return side_table(folder / "movies.csv", read_movies_csv)
    return side_table(folder / "u.item", lambda file: read_100k_items(file.parent))


# --- filters --------------------------------------------------------------------------------------------


def filter_min_ratings(
    data: RatingsDataset, min_item_ratings: int = 0, min_user_ratings: int = 0, repeat: bool = False
) -> RatingsDataset:
    """Drop items with fewer than ``min_item_ratings`` ratings, then users with fewer than
    ``min_user_ratings``; with ``repeat``, again until both hold. Ids are renumbered; ``report`` says
    what was dropped.
    """
    for label, value in (("min_item_ratings", min_item_ratings), ("min_user_ratings", min_user_ratings)):
        if not (isinstance(value, int | np.integer) and value >= 0):
            raise ParameterError(label, value, "a whole number ≥ 0")
    keep_items = np.ones(data.n_items, dtype=bool)
    keep_users = np.ones(data.n_users, dtype=bool)
    rows = np.ones(data.n_ratings, dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        keep_items &= np.bincount(data.item_codes[rows], minlength=data.n_items) >= min_item_ratings
        rows &= keep_items[data.item_codes]
        keep_users &= np.bincount(data.user_codes[rows], minlength=data.n_users) >= min_user_ratings
        rows &= keep_users[data.user_codes]
        stable = (
            np.bincount(data.item_codes[rows], minlength=data.n_items)[keep_items] >= min_item_ratings
        ).all()
        if not repeat or stable:
            break
    if not rows.any():
        raise EmptyDataError(
            f"No ratings are left after keeping items with at least {min_item_ratings} and users with at "
            f"least {min_user_ratings} ratings. Lower the minimums."
        )
    note = (
        f"Filters dropped {int(data.n_ratings - rows.sum()):,} ratings: "
        f"{int((~keep_items).sum()):,} items with fewer than {min_item_ratings} ratings and "
        f"{int((~keep_users).sum()):,} users with fewer than {min_user_ratings}"
        + (f" (applied {rounds} times, until stable)." if repeat else ".")
    )
    return _restrict(data, rows, keep_users, keep_items, note)


def _restrict(
    data: RatingsDataset, rows: np.ndarray, keep_users: np.ndarray, keep_items: np.ndarray, note: str
) -> RatingsDataset:
    """The ratings at ``rows`` over only the kept users and items, renumbered in order."""
    user_code = np.cumsum(keep_users) - 1
    item_code = np.cumsum(keep_items) - 1
    return RatingsDataset(
        user_code[data.user_codes[rows]],
        item_code[data.item_codes[rows]],
        data.ratings[rows],
        data.user_ids[keep_users],
        data.item_ids[keep_items],
        timestamps=None if data.timestamps is None else data.timestamps[rows],
        items=data.items[keep_items].reset_index(drop=True),
        users=None if data.users is None else data.users[keep_users].reset_index(drop=True),
        scale=data.scale,
        name=data.name,
        report=[*data.report, note],
    )
