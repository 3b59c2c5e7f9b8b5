"""Reading delimited text into compact columns: sniffing, encodings, memory estimates, chunked reads.

Every loader reads through :func:`read_table`. A small file of plain numbers is parsed by NumPy alone
(:func:`read_numbers`: no pandas import, about 0.6 s of a short command). Any other file goes through pandas,
which tries compact types first (int32 ids, float32 ratings, int64 times), reads in chunks into
preallocated arrays, reports progress in bytes, and whose parse errors become
:class:`~recengine.errors.DataError` messages a person can act on.
"""

from __future__ import annotations

import codecs
import csv
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recengine import memory
from recengine.data.privacy import detail, listing
from recengine.errors import DataFormatError, EmptyDataError, MissingColumnsError
from recengine.lazy import pandas as pd

Progress = Callable[[int, int | None], None]
Transform = Callable[["pd.DataFrame"], "pd.DataFrame"]

ROLES = ("user", "item", "rating", "timestamp")
DELIMITERS = (",", "\t", ";", "|")
SAMPLE_BYTES = 1 << 16
CHUNK_ROWS = 2_000_000
# Peak memory per rating while loading (reading, coding, duplicate check), measured on 25M rows by
# benchmarks/load_25m.py (about 40 bytes sorted, 56 shuffled, imports excluded), with a margin; a timestamp
# adds 8 bytes per rating, counted twice for the temporaries.
BYTES_PER_RATING = 60
BYTES_PER_TIMESTAMP = 16
BYTES_PER_TEXT_ID = 150  # a Python string per row and column, its pointer, and the coding's hash table
NUMBERS_ONLY_BYTES = 64 << 20  # files up to this size that hold only numbers are parsed by NumPy at once
EXACT_IN_FLOAT64 = 2**53  # whole numbers up to this size survive a float64 parse unchanged

# Column names we recognise for each role, compared lower-case without spaces, dashes or underscores.
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "user": ("userid", "user", "uid", "users", "customerid", "customer", "reviewerid", "visitorid"),
    "item": (
        "movieid", "itemid", "item", "movie", "iid", "items", "productid", "product", "bookid", "isbn",
        "asin", "trackid", "songid", "animeid", "filmid",
    ),
    "rating": ("rating", "ratings", "stars", "score", "value", "grade", "userrating", "rate"),
    "timestamp": ("timestamp", "time", "date", "datetime", "ts", "ratedat", "unixreviewtime", "created"),
}  # fmt: skip


@dataclass
class ReadOptions:
    """What the caller asked for, passed down to every reader."""

    columns: dict[str, str | None] | None = None
    progress: Progress | None = None
    memory_budget: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TextSample:
    """The first lines of a text file, its encoding and the mean bytes per line."""

    encoding: str
    lines: list[str]
    bytes_per_line: float


def sample_text(path: Path) -> TextSample:
    """Look at the start of a text file: refuse binaries and UTF-16, choose UTF-8 or Latin-1."""
    with open(path, "rb") as handle:
        raw = handle.read(SAMPLE_BYTES)
    if not raw.strip():
        raise EmptyDataError(f"{path.name} is empty: there are no ratings to load.")
    refuse_binary(path, raw)
    if raw.startswith(codecs.BOM_UTF8):
        encoding, text = "utf-8-sig", raw[3:].decode("utf-8", errors="ignore")
    else:
        try:
            encoding, text = "utf-8", codecs.getincrementaldecoder("utf-8")().decode(raw, final=False)
        except UnicodeDecodeError:
            encoding, text = "latin-1", raw.decode("latin-1")
    lines = text.splitlines()
    if len(raw) == SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut short
    kept = [line for line in lines if line.strip()]
    if not kept:
        raise EmptyDataError(f"{path.name} holds only blank lines: there are no ratings to load.")
    return TextSample(encoding, kept, len(raw) / max(1, raw.count(b"\n")))


def refuse_binary(path: Path, head: bytes) -> None:
    """Raise a clear DataFormatError when ``head`` is not the start of a plain text table."""
    reasons = {
        codecs.BOM_UTF16_LE: "is UTF-16 text; save it as UTF-8 (in Excel: 'CSV UTF-8')",
        codecs.BOM_UTF16_BE: "is UTF-16 text; save it as UTF-8 (in Excel: 'CSV UTF-8')",
        b"PK\x03\x04": "is a zip archive or an Excel workbook; unzip it, or export the sheet as CSV",
        b"\x1f\x8b": "is gzip-compressed; decompress it first (gunzip)",
        b"PAR1": "is a Parquet file; load it with the parquet format",
    }
    for magic, reason in reasons.items():
        if head.startswith(magic):
            raise DataFormatError(f"{path.name} {reason}.")
    if b"\x00" in head:
        raise DataFormatError(
            f"{path.name} is not a text table (it holds binary data). Give a CSV, TSV or Parquet file."
        )


def sniff_delimiter(lines: list[str], candidates: Iterable[str] = DELIMITERS) -> str | None:
    """The delimiter that splits the first lines into the same number (≥ 2) of fields, if any."""
    head = lines[:20]
    best, best_fields = None, 1
    for delimiter in candidates:
        counts = {len(split_line(line, delimiter)) for line in head}
        if len(counts) == 1 and (fields := counts.pop()) > best_fields:
            best, best_fields = delimiter, fields
    return best


def split_line(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter))


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def delimiter_name(delimiter: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(delimiter, repr(delimiter))


# --- column roles ---------------------------------------------------------------------------------------


def match_columns(found: list[str], mapping: dict[str, str | None] | None, source: str) -> dict[str, str]:
    """Role → column name, from the caller's mapping first, then from common names.

    User, item and rating are required; timestamp is optional (map it to None to ignore it).
    """
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(ROLES))
    if unknown:
        raise MissingColumnsError(
            f"columns= maps unknown roles {unknown}; the roles are {list(ROLES)} (role → column name)."
        )
    roles: dict[str, str] = {}
    for role in ROLES:
        if role in mapping:
            wanted = mapping[role]
            if wanted is None:
                continue
            if wanted not in found:
                raise MissingColumnsError(
                    f"{source} has no column {wanted!r} (mapped to {role}). Found columns: {listing(found)}."
                )
            roles[role] = wanted
        elif (guess := _guess(found, role, roles.values())) is not None:
            roles[role] = guess
    missing = [role for role in ROLES[:3] if role not in roles]
    if missing:
        expected = "; ".join(f"{role}: one of {', '.join(_display_names(role))}" for role in missing)
        raise MissingColumnsError(
            f"{source} has no {_or(missing)} column. Found columns: {listing(found)}. Expected {expected}. "
            "Rename the columns, or say which is which: --columns user=reader,item=book on the command line, "
            "columns={'user': 'reader', 'item': 'book'} in Python, or the column form on the Data page."
        )
    return roles


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _guess(found: list[str], role: str, taken: Iterable[str]) -> str | None:
    normal = {normal_name(name): name for name in found if name not in set(taken)}
    return next((normal[name] for name in ROLE_NAMES[role] if name in normal), None)


def normal_name(name: str) -> str:
    """A column name compared loosely: lower case, letters and digits only (``User_ID`` → ``userid``)."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def _display_names(role: str) -> tuple[str, ...]:
    shown = {
        "user": ("userId", "user_id", "User_ID", "uid", "user", "customer"),
        "item": ("movieId", "item_id", "Movie_ID", "iid", "item", "product"),
        "rating": ("rating", "Rating", "stars", "score"),
        "timestamp": ("timestamp", "time", "date"),
    }
    return shown[role]


# --- memory ---------------------------------------------------------------------------------------------


def check_memory(
    rows: int, what: str, budget: int | None, *, timestamps: bool = False, text_ids: bool = False
) -> None:
    """Raise TooLargeError when loading about ``rows`` ratings would need more than the memory budget
    (``budget``, else the engine's, see `recengine.memory`)."""
    need = rows * (
        BYTES_PER_RATING
        + (BYTES_PER_TIMESTAMP if timestamps else 0)
        + (2 * BYTES_PER_TEXT_ID if text_ids else 0)
    )
    memory.check(
        need,
        f"Loading {what}, which holds about {rows:,} ratings,",
        "Filter the file to fewer rows, load it on a machine with more memory, or raise the budget "
        "(memory_budget, or RECENGINE_MEMORY_BUDGET).",
        budget,
    )


def estimate_rows(path: Path, sample: TextSample) -> int:
    return int(path.stat().st_size / sample.bytes_per_line) + 1


# --- reading --------------------------------------------------------------------------------------------


@dataclass
class TableSpec:
    """How to read one delimited file: layout, which columns play which role, how to decode."""

    path: Path
    sep: str
    roles: dict[str, str | int]  # role → column name (with a header) or position
    header: bool = True
    names: list[str] | None = None
    encoding: str = "utf-8"
    text_roles: tuple[str, ...] = ()  # roles read as text on every attempt (e.g. dates)
    thousands: str | None = None
    # Makes a fresh per-chunk transform for each pass over the file (applied after renaming to roles).
    transform: Callable[[], Transform] | None = None


class Columns(dict):
    """Role columns (user, item, rating[, timestamp]) as NumPy arrays, read without pandas."""


def read_table(specs: list[TableSpec], options: ReadOptions, *, rows_hint: int = 0) -> pd.DataFrame | Columns:
    """The files' role columns (renamed to user, item, rating[, timestamp]) in compact types, stacked.

    One small file of plain numbers is parsed by :func:`read_numbers`. Otherwise pandas tries int32 ids
    first, then int64 ids, then text everywhere (so that the dataset's validation can name the bad
    values); decoding falls back from UTF-8 to Latin-1 with a note.
    """
    if len(specs) == 1 and (columns := read_numbers(specs[0])) is not None:
        if options.progress:
            size = specs[0].path.stat().st_size
            options.progress(size, size)
        return columns
    for attempt in ("compact", "wide"):
        try:
            return _non_empty(_read_decoded(specs, options, attempt, rows_hint), specs)
        except (ValueError, OverflowError):
            continue  # values that do not fit these types: try wider ones
    try:
        return _non_empty(_read_decoded(specs, options, "text", rows_hint), specs)
    except ValueError as error:  # every column is read as text now: only the layout can be wrong
        raise DataFormatError(
            f"{specs[0].path.name} could not be parsed as {delimiter_name(specs[0].sep)}-separated text "
            f"({detail(error)}). Check the delimiter and that every line has the same number of fields."
        ) from None


def read_numbers(spec: TableSpec) -> Columns | None:
    """The role columns of a file that holds only plain numbers, parsed by NumPy in one go, or None when
    pandas must read it: too large, quoted, transformed, text roles, or any value that is not a number
    (a date, an id with a fraction, an empty field): pandas' reading then names what is wrong."""
    if spec.transform or spec.text_roles or spec.thousands or spec.path.stat().st_size > NUMBERS_ONLY_BYTES:
        return None
    positions = {role: _position(spec, column) for role, column in spec.roles.items()}
    if None in positions.values():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NumPy warns about a file without data rows; pandas names it
            table = np.loadtxt(
                spec.path, delimiter=spec.sep, skiprows=int(spec.header), comments=None, quotechar=None,
                encoding=spec.encoding, dtype=np.float64, ndmin=2,
            )  # fmt: skip
    except (ValueError, UnicodeError, OverflowError):
        return None
    if not len(table) or (spec.names is not None and table.shape[1] != len(spec.names)):
        return None
    columns = Columns({role: table[:, at] for role, at in positions.items()})
    return _typed(columns)


def _position(spec: TableSpec, column: str | int) -> int | None:
    if isinstance(column, int):
        return column
    return spec.names.index(column) if spec.names and column in spec.names else None


def _typed(columns: Columns) -> Columns | None:
    """Ids as int32 (int64 when they need it), ratings as float32, times as int64; None when a value does
    not fit (a fraction in an id, a rating beyond float32): pandas' reading names those."""
    for role in ("user", "item", "timestamp"):
        values = columns.get(role)
        if values is None:
            continue
        if not (np.abs(values) < EXACT_IN_FLOAT64).all() or (values != np.round(values)).any():
            return None
        fits = role != "timestamp" and np.abs(values).max() <= np.iinfo(np.int32).max
        columns[role] = values.astype(np.int32 if fits else np.int64)
    ratings = columns["rating"]
    if not np.isfinite(ratings).all() or (np.abs(ratings) > np.finfo(np.float32).max).any():
        return None
    columns["rating"] = ratings.astype(np.float32)
    return columns


def _non_empty(frame: pd.DataFrame, specs: list[TableSpec]) -> pd.DataFrame:
    if frame.empty:
        raise EmptyDataError(f"{specs[0].path.name} has no data rows: there are no ratings to load.")
    return frame


def _read_decoded(specs: list[TableSpec], options: ReadOptions, attempt: str, rows_hint: int) -> pd.DataFrame:
    while True:
        try:
            return _read_attempt(specs, options, attempt, rows_hint)
        except UnicodeDecodeError:
            spec = next((s for s in specs if s.encoding != "latin-1"), None)
            if spec is None:
                raise
            # Latin-1 decodes any bytes; it is the usual encoding of older rating files.
            options.notes.append(f"{spec.path.name} is not valid UTF-8; it was read as Latin-1.")
            spec.encoding = "latin-1"
        except pd.errors.ParserError as error:
            raise DataFormatError(
                f"{specs[0].path.name} could not be parsed as {delimiter_name(specs[0].sep)}-separated "
                f"text: {detail(error).removeprefix('Error tokenizing data. C error: ')}. Check the "
                "delimiter, the quoting and that every line has the same number of fields."
            ) from None
        except pd.errors.EmptyDataError:
            raise EmptyDataError(f"{specs[0].path.name} is empty: there are no ratings to load.") from None


def _read_attempt(specs: list[TableSpec], options: ReadOptions, attempt: str, rows_hint: int) -> pd.DataFrame:
    sizes = [spec.path.stat().st_size for spec in specs]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()

    def chunks() -> Iterator[pd.DataFrame]:
        for spec, offset in zip(specs, offsets, strict=False):
            transform = spec.transform() if spec.transform else None
            with open(spec.path, "rb") as handle:
                for chunk in _chunks(spec, handle, attempt):
                    yield transform(chunk) if transform else chunk
                    if options.progress:
                        options.progress(offset + handle.tell(), offsets[-1])

    return gather(chunks(), rows_hint)


def _chunks(spec: TableSpec, handle: object, attempt: str) -> Iterator[pd.DataFrame]:
    dtypes = {spec.roles[role]: _dtype(role, attempt, spec.text_roles) for role in spec.roles}
    rename = {column: role for role, column in spec.roles.items()}
    reader = pd.read_csv(
        handle,  # type: ignore[call-overload]
        sep=spec.sep,
        header=0 if spec.header else None,
        names=spec.names,
        # Only when some columns are unused: pandas skips its field-count check when given usecols.
        usecols=None if _uses_every_column(spec) else list(spec.roles.values()),
        dtype=dtypes,
        encoding=spec.encoding,
        thousands=spec.thousands,
        chunksize=CHUNK_ROWS,
    )
    with reader:
        for chunk in reader:
            yield chunk.rename(columns=rename)


def _uses_every_column(spec: TableSpec) -> bool:
    return spec.names is not None and set(spec.names) == set(spec.roles.values())


def _dtype(role: str, attempt: str, text_roles: tuple[str, ...]) -> object:
    if attempt == "text" or role in text_roles:
        return str
    if role == "rating":
        return np.float32
    if role == "timestamp":
        return np.int64
    return np.int32 if attempt == "compact" else np.int64


def gather(chunks: Iterable[pd.DataFrame], rows_hint: int = 0) -> pd.DataFrame:
    """Concatenate chunks column by column into arrays preallocated from ``rows_hint`` (grown if short).

    Every chunk must have the same columns and types. Untouched preallocated pages cost no memory.
    """
    buffers: dict[str, np.ndarray] = {}
    n = 0
    for chunk in chunks:
        m = len(chunk)
        for name in chunk.columns:
            values = chunk[name].to_numpy()
            buffer = buffers.get(name)
            if buffer is None or n + m > len(buffer):
                grown = np.empty(max(rows_hint, n + m, int((n + m) * 1.25)), dtype=values.dtype)
                if buffer is not None:
                    grown[:n] = buffer[:n]
                buffers[name] = buffer = grown
            buffer[n : n + m] = values
        n += m
    return pd.DataFrame({name: buffer[:n] for name, buffer in buffers.items()}, copy=False)
