"""The file layouts we read, how we recognise them, and one reader per layout.

A reader takes a path (file or folder) and returns a :class:`Table`: raw ratings with columns user, item,
rating[, timestamp], plus item and user metadata and the scale the format declares.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

import numpy as np

from recengine import memory
from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.data.metadata import Metadata
from recengine.data.privacy import detail, listing, quoted
from recengine.data.reading import (
    ROLES,
    Columns,
    ReadOptions,
    TableSpec,
    TextSample,
    check_memory,
    delimiter_name,
    estimate_rows,
    is_number,
    match_columns,
    normal_name,
    read_table,
    refuse_binary,
    sample_text,
    sniff_delimiter,
    split_line,
)
from recengine.errors import BadValuesError, DataError, DataFormatError, EmptyDataError, MissingColumnsError
from recengine.lazy import pandas as pd

HALF_STARS = RatingScale(0.5, 5.0, 0.5)
WHOLE_STARS = RatingScale(1.0, 5.0, 1.0)
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
ML100K_RATINGS = re.compile(r"^(u\.data|u[1-5]\.(base|test)|u[ab]\.(base|test))$")
NETFLIX_PRIZE_FILES = re.compile(r"^(combined_data_\d+|mv_\d+)\.txt$")
YEAR_IN_TITLE = r"\((\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$"


@dataclass
class Table:
    """Raw ratings as read, before coding: columns user, item, rating and optionally timestamp."""

    frame: pd.DataFrame | Columns
    name: str
    items: Metadata | pd.DataFrame | None = None  # by raw item id: title, year, genres
    users: Metadata | pd.DataFrame | None = None  # by raw user id
    scale: RatingScale | None = None
    notes: list[str] = field(default_factory=list)

    def dataset(self, scale: RatingScale | None = None) -> RatingsDataset:
        frame = self.frame
        sides = {"items": self.items, "users": self.users, "name": self.name, "report": self.notes}
        if isinstance(frame, Columns):
            return RatingsDataset.from_columns(
                frame["user"], frame["item"], frame["rating"], frame.get("timestamp"), scale=scale or self.scale,
                **sides,
            )  # fmt: skip
        if "timestamp" in frame and not pd.api.types.is_numeric_dtype(frame["timestamp"]):
            frame = frame.assign(timestamp=_parse_dates(frame["timestamp"]))
        return RatingsDataset.from_frame(
            frame,
            timestamp="timestamp" if "timestamp" in self.frame else None,
            scale=scale or self.scale,
            **sides,
        )


Reader = Callable[[Path, ReadOptions], Table]


def _parse_dates(column: pd.Series) -> pd.Series:
    """Dates as seconds since 1970 (UTC), ISO or mixed formats; unparseable columns are left for the
    dataset's validation to report."""
    if pd.to_numeric(column, errors="coerce").notna().all():
        return column
    for style in ("ISO8601", "mixed"):
        try:
            parsed = pd.to_datetime(column, format=style, utc=True)
        except (ValueError, TypeError, OverflowError):
            continue
        if parsed.notna().all():
            return parsed.astype("datetime64[s, UTC]").astype(np.int64)
    return column


# --- detection ------------------------------------------------------------------------------------------


def detect_format(path: str | Path) -> str:
    """The name of the layout of ``path`` (a file or a folder), one of :data:`FORMATS`."""
    path = Path(path)
    if path.is_dir():
        return _detect_folder(path)
    if not path.is_file():
        raise DataFormatError(f"There is no file or folder at {path}.")
    name, suffix = path.name, path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if ML100K_RATINGS.match(name):
        return "movielens-100k"
    if name == "ratings.dat" or NETFLIX_PRIZE_FILES.match(name):
        return "movielens-dat" if name == "ratings.dat" else "netflix-prize"
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head == b"PAR1":
        return "parquet"
    refuse_binary(path, head)
    sample = sample_text(path)
    first = sample.lines[0]
    if re.fullmatch(r"\s*\d+\s*:\s*", first):
        return "netflix-prize"
    if re.match(r"^\d+::\d+::", first):
        return "movielens-dat"
    header = [normal_name(f) for f in split_line(first, ",")]
    if header[:3] == ["userid", "movieid", "rating"]:
        return "movielens"
    if header[:3] == ["userid", "rating", "movieid"]:
        return "netflix-kaggle"
    return "tsv" if suffix in (".tsv", ".tab") or sniff_delimiter(sample.lines) == "\t" else "csv"


def _detect_folder(folder: Path) -> str:
    names = {p.name for p in folder.iterdir()}
    for marker, fmt in (
        ("ratings.csv", "movielens"),
        ("u.data", "movielens-100k"),
        ("ratings.dat", "movielens-dat"),
        ("Netflix_Dataset_Rating.csv", "netflix-kaggle"),
    ):
        if marker in names:
            return fmt
    if any(NETFLIX_PRIZE_FILES.match(n) for n in names):
        return "netflix-prize"
    tables = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES]
    if len(tables) == 1:
        return detect_format(tables[0])
    folders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    if not tables and len(folders) == 1:
        return _detect_folder(folders[0])
    raise DataFormatError(
        f"Could not tell which ratings file to load in {folder}: found {listing(sorted(names))}. Expected "
        "ratings.csv (MovieLens), u.data (MovieLens 100k), ratings.dat (MovieLens 1M/10M), the Netflix "
        "files, or a single CSV, TSV or Parquet file. Give the path of the ratings file itself."
    )


TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq", ".data", ".dat")


def ratings_file(path: Path, fmt: str) -> Path:
    """The ratings file of a folder in layout ``fmt`` (the path itself when it is a file)."""
    if path.is_file():
        return path
    markers = {
        "movielens": "ratings.csv",
        "movielens-100k": "u.data",
        "movielens-dat": "ratings.dat",
        "netflix-kaggle": "Netflix_Dataset_Rating.csv",
    }
    inner = _inner_folder(path, markers.get(fmt))
    if fmt in markers and (inner / markers[fmt]).is_file():
        return inner / markers[fmt]
    tables = [p for p in inner.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES]
    if len(tables) == 1:
        return tables[0]
    raise DataFormatError(
        f"{path} has no {markers.get(fmt, 'single ratings file')} for the {fmt} format; "
        "give the path of the ratings file itself."
    )


def _inner_folder(folder: Path, marker: str | None) -> Path:
    """``folder``, or its only subfolder when the files sit one level down (as unzipped archives do)."""
    if marker and (folder / marker).exists():
        return folder
    subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    return subfolders[0] if len(subfolders) == 1 else folder


# --- generic delimited text and Parquet -----------------------------------------------------------------


def read_csv(path: Path, options: ReadOptions) -> Table:
    """Comma-separated ratings (semicolons or pipes are recognised and noted)."""
    file = ratings_file(path, "csv")
    sample = sample_text(file)
    sep = sniff_delimiter(sample.lines, (",", ";", "|")) or ","
    if sep != ",":
        options.notes.append(f"{file.name}: columns are separated by {delimiter_name(sep)}s.")
    return Table(_read_ratings(file, sample, sep, options), _stem(path), notes=options.notes)


def read_tsv(path: Path, options: ReadOptions) -> Table:
    file = ratings_file(path, "tsv")
    return Table(_read_ratings(file, sample_text(file), "\t", options), _stem(path), notes=options.notes)


def _read_ratings(file: Path, sample: TextSample, sep: str, options: ReadOptions) -> pd.DataFrame:
    """Read a delimited ratings file whose columns are found from its header (or by position)."""
    if sample.encoding == "latin-1":
        options.notes.append(f"{file.name} is not valid UTF-8; it was read as Latin-1.")
    fields = split_line(sample.lines[0], sep)
    if len(fields) < 3:
        raise DataFormatError(_too_few_columns(file, sample, sep, fields))
    has_header = not all(is_number(f) for f in fields)
    names = [f.strip() for f in fields] if has_header else None
    if names is not None:
        if len(set(names)) < len(names):
            raise DataFormatError(f"{file.name} repeats column names in its header: {listing(names)}.")
        roles: dict[str, str | int] = dict(match_columns(names, options.columns, file.name))
    else:
        if len(fields) > 4 or options.columns:
            raise MissingColumnsError(
                f"{file.name} has no header line and {len(fields)} columns, so its columns cannot be "
                "named. Add a header line such as userId,movieId,rating,timestamp."
            )
        roles = {role: i for i, role in enumerate(ROLES[: len(fields)])}
        options.notes.append(f"{file.name} has no header; its columns were read as {', '.join(roles)}.")
    rows = estimate_rows(file, sample)
    text_ids = not all(_whole_numbers(sample, sep, roles, role, has_header) for role in ("user", "item"))
    timestamps = "timestamp" in roles
    check_memory(rows, file.name, options.memory_budget, timestamps=timestamps, text_ids=text_ids)
    spec = TableSpec(
        file,
        sep,
        roles,
        header=has_header,
        names=names,
        encoding=sample.encoding,
        text_roles=("timestamp",)
        if timestamps and not _whole_numbers(sample, sep, roles, "timestamp", has_header)
        else (),
    )
    return read_table([spec], options, rows_hint=rows)


def _whole_numbers(
    sample: TextSample, sep: str, roles: dict[str, str | int], role: str, header: bool
) -> bool:
    """Whether the sample's values for ``role`` are all whole numbers (ids and times may be text)."""
    column = roles[role]
    if isinstance(column, int):
        position = column
    else:
        position = [f.strip() for f in split_line(sample.lines[0], sep)].index(column)
    rows = [split_line(line, sep) for line in sample.lines[int(header) : 51]]
    return all(len(r) > position and re.fullmatch(r"\s*-?\d+\s*", r[position]) for r in rows)


def _too_few_columns(file: Path, sample: TextSample, sep: str, fields: list[str]) -> str:
    other = sniff_delimiter(sample.lines, [d for d in (",", "\t", ";", "|") if d != sep])
    found = f"{len(fields)} column{'s' if len(fields) != 1 else ''} ({quoted(sample.lines[0])})"
    if other:
        return (
            f"{file.name} has only {found} when split on {delimiter_name(sep)}s, but its lines are "
            f"separated by {delimiter_name(other)}s. Load it with the "
            f"{'tsv' if other == chr(9) else 'csv'} format (or let the format be detected)."
        )
    return (
        f"{file.name} has only {found} when split on {delimiter_name(sep)}s. A ratings file needs user, "
        "item and rating columns separated by commas, tabs, semicolons or pipes."
    )


def read_parquet(path: Path, options: ReadOptions) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = ratings_file(path, "parquet")
    try:
        metadata = pq.read_metadata(file)
    except Exception as error:  # pyarrow raises several types for a damaged or foreign file
        raise DataFormatError(f"{file.name} is not a readable Parquet file ({detail(error)}).") from None
    found = list(metadata.schema.names)
    roles = match_columns(found, options.columns, file.name)
    check_memory(metadata.num_rows, file.name, options.memory_budget, timestamps="timestamp" in roles)
    try:
        frame = _parquet_frame(file, list(roles.values()), options.memory_budget)
        for column in frame.columns:  # text that is not UTF-8 (damaged bytes) fails here, not later
            if pd.api.types.is_string_dtype(frame[column]):
                frame[column] = frame[column].to_numpy(dtype=object)
    except (pa.ArrowException, OSError, ValueError, KeyError, TypeError) as error:  # damaged pages, metadata
        raise DataFormatError(f"{file.name} is not a readable Parquet file ({detail(error)}).") from None
    if lost := [column for column in roles.values() if column not in frame.columns]:
        raise DataFormatError(  # the schema lists them but damaged pandas metadata renamed them on reading
            f"{file.name} is not a readable Parquet file: its columns {listing(lost)} could not be read back."
        )
    frame = frame.rename(columns={column: role for role, column in roles.items()})
    if frame.empty:
        raise EmptyDataError(f"{file.name} has no rows: there are no ratings to load.")
    for role in ("user", "item"):
        frame[role] = _compact_ids(frame[role])
    ratings = frame["rating"]
    if pd.api.types.is_float_dtype(ratings) and not (np.abs(ratings) > np.finfo(np.float32).max).any():
        frame["rating"] = ratings.astype(np.float32)  # values beyond float32 are left for validation to name
    return Table(frame, _stem(path), notes=options.notes)


LONGEST_TEXT_VALUE = 1_000  # characters in one id, rating or time stamp given as text
TEXT_EXPANSION = 4  # bytes in memory per byte of text read (Python strings, their pointers, the coding)
PARQUET_BATCH = 1 << 16


def _parquet_frame(file: Path, columns: list[str], budget: int | None) -> pd.DataFrame:
    """``columns`` of ``file``, read a batch at a time: text values are checked as they arrive, so a column
    stored as one long value repeated (a dictionary page: a file of 500 KB holding 1 GB of text) is refused
    before it fills memory."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    batches, text_bytes = [], 0
    for batch in pq.ParquetFile(file).iter_batches(batch_size=PARQUET_BATCH, columns=columns):
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
                    or pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):  # fmt: skip
                continue
            longest = pc.max(pc.binary_length(column)).as_py() or 0
            if longest > LONGEST_TEXT_VALUE:
                raise DataFormatError(
                    f"{file.name} has a value of {longest:,} characters in its column {quoted(name)}; ids, "
                    f"ratings and times are at most {LONGEST_TEXT_VALUE:,}. Check that the right columns are "
                    "named, or shorten the values."
                )
            text_bytes += column.nbytes
        memory.check(
            text_bytes * TEXT_EXPANSION,
            f"Loading the text of {file.name}",
            "Filter the file to fewer rows, load it on a machine with more memory, or raise the budget "
            "(memory_budget, or RECENGINE_MEMORY_BUDGET).",
            budget,
        )
        batches.append(batch)
    table = pa.Table.from_batches(batches) if batches else pq.read_table(file, columns=columns)
    return table.to_pandas()


def _compact_ids(column: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(column) and len(column):
        low, high = column.min(), column.max()
        if np.iinfo(np.int32).min <= low and high <= np.iinfo(np.int32).max:
            return column.astype(np.int32)
    return column


def _stem(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


# --- metadata beside the ratings ------------------------------------------------------------------------


def side_table(
    path: Path, reader: Callable[[Path], Metadata | pd.DataFrame]
) -> Metadata | pd.DataFrame | None:
    """Item or user metadata read from ``path`` by ``reader``, or None when there is no such file.

    A damaged file (bad encoding, ragged lines, ids that are not numbers, missing columns) raises a
    DataFormatError naming it, instead of whatever pandas raised.
    """
    if not path.is_file():
        return None
    try:
        return reader(path)
    except DataError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, OverflowError, csv.Error) as error:  # pandas' too
        raise DataFormatError(
            f"{path.name}, beside the ratings, could not be read ({detail(error)}). Fix that file, or move it away "
            "to load the ratings without it."
        ) from None


# --- MovieLens ------------------------------------------------------------------------------------------


def read_movielens(path: Path, options: ReadOptions) -> Table:
    """MovieLens latest-small, 20M, 25M, 32M, latest: ``ratings.csv`` and ``movies.csv``."""
    file = ratings_file(path, "movielens")
    sample = sample_text(file)
    frame = _read_ratings(file, sample, ",", options)
    items = side_table(file.with_name("movies.csv"), read_movies_csv)
    return Table(frame, _dataset_name(file), items=items, scale=HALF_STARS, notes=options.notes)


def read_movies_csv(path: Path) -> Metadata:
    """``movieId,title,genres`` → title, year (from the title), genres as a list."""
    with open(path, encoding="utf-8", newline="") as handle:
        try:
            rows = [row for row in csv.reader(handle, strict=True) if row]
        except csv.Error as error:
            raise ValueError(f"bad quoting: {error}") from None
    if not rows:
        raise ValueError("the file is empty: it needs the header line movieId,title,genres")
    header = [name.strip() for name in rows[0]]
    if missing := [name for name in ("movieId", "title", "genres") if name not in header]:
        raise ValueError(f"the header line has no column {', '.join(missing)}")
    at = {name: header.index(name) for name in ("movieId", "title", "genres")}
    if bad := next((row for row in rows[1:] if len(row) != len(header)), None):
        raise ValueError(f"a line has {len(bad)} fields where the header names {len(header)}")
    titles = [row[at["title"]] or None for row in rows[1:]]
    return Metadata(
        _whole_ids([row[at["movieId"]] for row in rows[1:]]),
        {
            "title": titles,
            "year": [_title_year(title) for title in titles],
            "genres": [_genre_list(row[at["genres"]], "|") for row in rows[1:]],
        },
    )


def _whole_ids(texts: list[str]) -> np.ndarray:
    """Ids written as whole numbers (int64); a ValueError names the first that is not one."""
    return np.array([int(text) for text in texts], dtype=np.int64)


def _title_year(title: str | None) -> float:
    """The year in a MovieLens title such as 'Heat (1995)', or NaN."""
    found = re.search(YEAR_IN_TITLE, title or "")
    return float(found.group(1)) if found else float("nan")


def _genre_list(genres: str, sep: str) -> list[str]:
    return [] if genres == "(no genres listed)" else [g for g in genres.split(sep) if g]


def _year_in_title(titles: pd.Series) -> np.ndarray:
    return pd.to_numeric(titles.str.extract(YEAR_IN_TITLE)[0], errors="coerce").to_numpy(dtype=np.float64)


def _genre_lists(genres: pd.Series, sep: str) -> list[list[str]]:
    return [
        [] if not isinstance(g, str) or g == "(no genres listed)" else [x for x in g.split(sep) if x]
        for g in genres
    ]


def _dataset_name(file: Path) -> str:
    """The folder's name for a MovieLens ratings file (``ml-25m``), else the file's stem."""
    return file.parent.name if file.name in ("ratings.csv", "ratings.dat") and file.parent.name else file.stem


def _fixed_layout(
    path: Path, fmt: str, layout: str, separator: str, options: ReadOptions
) -> tuple[Path, TextSample, int]:
    """The ratings file of a MovieLens layout with four fields a line (user, item, rating, timestamp),
    its sample and estimated rows, after checking the first line and the memory budget."""
    file = ratings_file(path, fmt)
    sample = sample_text(file)
    if len(sample.lines[0].split(separator)) != 4:
        shown = separator.replace("\t", "<TAB>")
        raise DataFormatError(
            f"{file.name} is not in the {layout} layout: each line must be "
            f"'user{shown}item{shown}rating{shown}timestamp', but the first line is {quoted(sample.lines[0])}."
        )
    rows = estimate_rows(file, sample)
    check_memory(rows, file.name, options.memory_budget, timestamps=True)
    return file, sample, rows


def read_movielens_100k(path: Path, options: ReadOptions) -> Table:
    """MovieLens 100k: ``u.data`` (or a split file such as ``u1.base``), ``u.item``, ``u.genre``, ``u.user``."""
    file, _, rows = _fixed_layout(path, "movielens-100k", "MovieLens 100k", "\t", options)
    roles: dict[str, str | int] = {role: i for i, role in enumerate(ROLES)}
    frame = read_table([TableSpec(file, "\t", roles, header=False)], options, rows_hint=rows)
    folder = file.parent
    items = side_table(folder / "u.item", lambda path: read_100k_items(path.parent))
    users = side_table(folder / "u.user", read_100k_users)
    name = folder.name if file.name == "u.data" else f"{folder.name} {file.name}"
    return Table(frame, name, items=items, users=users, scale=WHOLE_STARS, notes=options.notes)


def read_100k_items(folder: Path) -> Metadata:
    """``u.item`` (Latin-1, ``|``): id, title, release date, video date, URL and 19 genre flags."""
    genres = _100k_genre_names(folder / "u.genre")
    rows = _bar_lines(folder / "u.item")
    if not rows:
        raise ValueError("the file is empty")
    fields = 5 + len(genres)
    if (bad := next((i for i, row in enumerate(rows) if len(row) != fields), None)) is not None:
        raise ValueError(
            f"line {bad + 1} has {len(rows[bad])} fields separated by '|' where u.item has {fields}: id, title, "
            f"release date, video date, URL and {len(genres)} genre flags"
        )
    return Metadata(
        _whole_ids([row[0] for row in rows]),
        {
            "title": [row[1] for row in rows],
            "year": [_release_year(row[2], row[1]) for row in rows],
            "genres": [
                [name for name, flag in zip(genres, row[5:], strict=True) if flag == "1"] for row in rows
            ],
        },
    )


def _bar_lines(path: Path) -> list[list[str]]:
    """The non-blank lines of a Latin-1, ``|``-separated MovieLens 100k file, split into fields."""
    return [line.split("|") for line in path.read_text(encoding="latin-1").splitlines() if line.strip()]


def _release_year(date: str, title: str) -> float:
    """The year of a release date such as '01-Jan-1995', else the year in the title, else NaN."""
    year = _year_of_date(date)
    return _title_year(title) if year is None else year


@cache
def _year_of_date(date: str) -> float | None:
    """Films share release dates (1,682 films, 240 dates in ML-100k): each is parsed once."""
    try:
        return float(datetime.strptime(date, "%d-%b-%Y").year)
    except ValueError:
        return None


def _100k_genre_names(path: Path) -> list[str]:
    if not path.is_file():
        return list(ML100K_GENRES)
    pairs = [row for row in _bar_lines(path) if len(row) >= 2 and row[0] and row[1]]
    return [name for name, _ in sorted(pairs, key=lambda pair: int(pair[1]))]


def read_100k_users(path: Path) -> Metadata:
    """``u.user``: id|age|gender|occupation|zip code."""
    rows = _bar_lines(path)
    if not rows or any(len(row) != 5 for row in rows):
        raise ValueError("u.user needs 5 fields a line: id|age|gender|occupation|zip code")
    return Metadata(
        _whole_ids([row[0] for row in rows]),
        {
            "age": [int(row[1]) if row[1].strip() else None for row in rows],
            "gender": [row[2] or None for row in rows],
            "occupation": [row[3] or None for row in rows],
            "zip": [row[4] or None for row in rows],
        },
        index_name="user",
    )


def read_movielens_dat(path: Path, options: ReadOptions) -> Table:
    """MovieLens 1M and 10M: ``ratings.dat``, ``movies.dat`` and (1M only) ``users.dat``, ``::``-separated."""
    file, sample, rows = _fixed_layout(path, "movielens-dat", "MovieLens 1M/10M", "::", options)
    # Splitting on ':' keeps pandas' fast C parser; the empty fields between the colons are skipped.
    names = ["user", "_1", "item", "_2", "rating", "_3", "timestamp"]
    roles: dict[str, str | int] = {role: role for role in ROLES}
    spec = TableSpec(file, ":", roles, header=False, names=names, encoding=sample.encoding)
    frame = read_table([spec], options, rows_hint=rows)
    ratings = np.asarray(frame["rating"])
    halves = ratings.dtype.kind == "f" and bool(np.any(ratings != np.round(ratings)))
    folder = file.parent
    items = side_table(folder / "movies.dat", _read_dat_movies)
    users = side_table(folder / "users.dat", _read_dat_users)
    scale = HALF_STARS if halves else WHOLE_STARS
    return Table(frame, _dataset_name(file), items=items, users=users, scale=scale, notes=options.notes)


def _dat_lines(path: Path, n_fields: int) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # MovieLens 1M's movies.dat is Latin-1
    lines = [line for line in text.splitlines() if line.strip()]
    return _fields(
        lines, "::", n_fields, f"{path.name} should have {n_fields} fields separated by '::' on each line"
    )


def _fields(lines: list[str], separator: str, n_fields: int, expected: str) -> pd.DataFrame:
    """Each line split at the first ``n_fields − 1`` separators, one column per field; a line with fewer
    fields (or no line at all) is a DataFormatError that says ``expected`` and shows the first such line."""
    parts = pd.Series(lines, dtype=object).str.split(separator, n=n_fields - 1)
    short = np.flatnonzero(parts.str.len().to_numpy() != n_fields)
    if not lines or len(short):
        example = f" (for example {quoted(lines[short[0]], 80)})" if lines else " (the file has no lines)"
        raise DataFormatError(f"{expected}{example}.")
    return pd.DataFrame(parts.tolist())


def _read_dat_movies(path: Path) -> pd.DataFrame:
    table = _dat_lines(path, 3)
    return pd.DataFrame(
        {
            "title": table[1].to_numpy(dtype=object),
            "year": _year_in_title(table[1]),
            "genres": _genre_lists(table[2], "|"),
        },
        index=pd.Index(pd.to_numeric(table[0]).to_numpy(), name="item"),
    )


def _read_dat_users(path: Path) -> pd.DataFrame:
    table = _dat_lines(path, 5)
    table.columns = ["user", "gender", "age", "occupation", "zip"]
    table["user"] = pd.to_numeric(table["user"])
    table["age"] = pd.to_numeric(table["age"], errors="coerce")
    table["occupation"] = pd.to_numeric(table["occupation"], errors="coerce")
    return table.set_index("user")


# --- Netflix --------------------------------------------------------------------------------------------


def read_netflix_kaggle(path: Path, options: ReadOptions) -> Table:
    """The Kaggle Netflix CSVs: ``Netflix_Dataset_Rating.csv`` and ``Netflix_Dataset_Movie.csv``."""
    file = ratings_file(path, "netflix-kaggle")
    frame = _read_ratings(file, sample_text(file), ",", options)
    items = side_table(file.with_name("Netflix_Dataset_Movie.csv"), _read_kaggle_movies)
    return Table(frame, "netflix", items=items, scale=WHOLE_STARS, notes=options.notes)


def _read_kaggle_movies(path: Path) -> pd.DataFrame:
    """``Movie_ID,Year,Name`` → title and year, indexed by movie id."""
    table = pd.read_csv(path, encoding="utf-8", encoding_errors="replace")
    columns = {normal_name(c): c for c in table.columns}
    wanted = {"item": "movieid", "year": "year", "title": "name"}
    missing = [name for name in wanted.values() if name not in columns]
    if missing:
        raise MissingColumnsError(
            f"{path.name} should have columns Movie_ID, Year and Name; found {listing(table.columns)}."
        )
    return pd.DataFrame(
        {
            "title": table[columns["name"]].astype(str).to_numpy(dtype=object),
            "year": pd.to_numeric(table[columns["year"]], errors="coerce").to_numpy(dtype=np.float64),
        },
        index=pd.Index(table[columns["movieid"]].to_numpy(), name="item"),
    )


def read_netflix_prize(path: Path, options: ReadOptions) -> Table:
    """The Netflix Prize files: ``combined_data_N.txt`` (``MovieID:`` lines, then ``CustomerID,Rating,Date``)."""
    files = _prize_files(path)
    samples = [sample_text(f) for f in files]
    for file, sample in zip(files, samples, strict=True):
        if not re.fullmatch(r"\s*\d+\s*:\s*", sample.lines[0]):
            raise DataFormatError(
                f"{file.name} is not in the Netflix Prize layout: it must start with a 'MovieID:' line, "
                f"then 'CustomerID,Rating,Date' lines; the first line is {quoted(sample.lines[0])}."
            )
    rows = sum(estimate_rows(f, s) for f, s in zip(files, samples, strict=True))
    check_memory(rows, files[0].parent.name or files[0].name, options.memory_budget, timestamps=True)
    specs = [
        # "123:" header lines parse as the number 123 with ':' as a thousands mark (C parser, no regex).
        TableSpec(
            f, ",", {"user": "user", "rating": "rating", "timestamp": "date"}, header=False,
            names=["user", "rating", "date"], text_roles=("timestamp",), thousands=":",
            transform=lambda f=f: _prize_chunks(f),
        )
        for f in files
    ]  # fmt: skip
    frame = read_table(specs, options, rows_hint=rows)
    items = side_table(files[0].with_name("movie_titles.csv"), _read_prize_titles)
    return Table(frame, "netflix-prize", items=items, scale=WHOLE_STARS, notes=options.notes)


def _prize_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    folder = _inner_folder(path, None)
    files = sorted(p for p in folder.iterdir() if NETFLIX_PRIZE_FILES.match(p.name))
    if not files:
        raise DataFormatError(f"{path} has no combined_data_N.txt files for the Netflix Prize format.")
    return files


def _prize_chunks(file: Path) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A chunk transform that turns ``MovieID:`` lines into an item column and dates into seconds."""
    current: list[object] = [None]  # the movie of the last header line seen, carried across chunks

    def transform(chunk: pd.DataFrame) -> pd.DataFrame:
        is_header = (chunk["rating"].isna() & chunk["timestamp"].isna()).to_numpy()
        ids = chunk["user"].to_numpy()
        if ids.dtype == object:
            ids = pd.Series(ids).astype(str).str.rstrip(":").to_numpy(dtype=object)
        last = np.maximum.accumulate(np.where(is_header, np.arange(len(chunk)), -1))
        if current[0] is None and len(last) and last[0] < 0:
            raise DataFormatError(f"{file.name} must start with a 'MovieID:' line.")
        movies = np.where(last >= 0, ids[np.maximum(last, 0)], current[0])
        if len(movies):
            current[0] = movies[-1]
        keep = ~is_header
        dates = pd.to_datetime(chunk["timestamp"][keep], format="%Y-%m-%d", errors="coerce")
        if dates.isna().any():
            bad = chunk["timestamp"][keep][dates.isna()].astype(str).unique()[:3].tolist()
            raise BadValuesError(
                f"{file.name} has {int(dates.isna().sum()):,} dates that are not YYYY-MM-DD, for example "
                f"{listing(bad)}. Fix those lines."
            )
        return pd.DataFrame(
            {
                "user": ids[keep],
                "item": movies[keep].astype(ids.dtype),
                "rating": chunk["rating"].to_numpy()[keep],
                "timestamp": dates.to_numpy().astype("datetime64[s]").astype(np.int64),
            }
        )

    return transform


def _read_prize_titles(path: Path) -> pd.DataFrame:
    """``movie_titles.csv`` (Latin-1, no header): MovieID,YearOfRelease,Title — titles may hold commas."""
    lines = [line for line in path.read_bytes().decode("latin-1").splitlines() if line.strip()]
    table = _fields(lines, ",", 3, f"{path.name} should have lines 'MovieID,YearOfRelease,Title'")
    return pd.DataFrame(
        {"title": table[2].to_numpy(dtype=object), "year": pd.to_numeric(table[1], errors="coerce")},
    ).set_axis(pd.Index(pd.to_numeric(table[0]).to_numpy(), name="item"))


# --- the registry ---------------------------------------------------------------------------------------

READERS: dict[str, Reader] = {
    "movielens": read_movielens,
    "movielens-100k": read_movielens_100k,
    "movielens-dat": read_movielens_dat,
    "netflix-kaggle": read_netflix_kaggle,
    "netflix-prize": read_netflix_prize,
    "csv": read_csv,
    "tsv": read_tsv,
    "parquet": read_parquet,
}
FORMAT_DESCRIPTIONS = {
    "movielens": "MovieLens latest-small, 20M, 25M, 32M, latest (ratings.csv, movies.csv)",
    "movielens-100k": "MovieLens 100k (u.data or u1..u5/ua/ub split files, u.item, u.genre, u.user)",
    "movielens-dat": "MovieLens 1M and 10M (ratings.dat, movies.dat, users.dat; '::'-separated)",
    "netflix-kaggle": "Netflix Kaggle CSVs (Netflix_Dataset_Rating.csv, Netflix_Dataset_Movie.csv)",
    "netflix-prize": "Netflix Prize (combined_data_N.txt with 'MovieID:' lines, movie_titles.csv)",
    "csv": "any comma (or ';' or '|') separated file with user, item, rating[, timestamp] columns",
    "tsv": "any tab-separated file with user, item, rating[, timestamp] columns",
    "parquet": "a Parquet file with user, item, rating[, timestamp] columns",
}
FORMATS: tuple[str, ...] = tuple(READERS)
