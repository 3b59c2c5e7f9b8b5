"""Uploaded and server-side data files: stored safely, previewed, and checked against allowed folders."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pandas as pd

from dashboard.profiles import ProfileError, safe_name, write_atomically
from recengine.errors import DataError, DataFormatError

UPLOAD_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".dat", ".data", ".parquet", ".pq", ".zip")
GENERIC_FORMATS = ("csv", "tsv", "parquet")
PREVIEW_ROWS = 8


def save_upload(folder: Path, filename: str, content: bytes) -> Path:
    """Store uploaded bytes as ``folder/<hash of the content>/<sanitised name>``: an upload can never be
    written outside ``folder`` nor overwrite another, and keeps the name some formats are known by
    (``u.data``, ``ratings.csv``)."""
    suffix = Path(filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise DataFormatError(f"{filename!r}: upload a file ending in one of {', '.join(UPLOAD_SUFFIXES)}.")
    try:
        stem = safe_name(Path(filename).stem)
    except ProfileError:
        stem = "upload"
    target = Path(folder).resolve() / hashlib.sha256(content).hexdigest()[:16]
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{stem}{suffix}"
    if not path.exists():
        write_atomically(path, content)
    return path


def inside(path: Path, roots: list[Path]) -> bool:
    resolved = Path(path).expanduser().resolve()
    return any(resolved == root or root in resolved.parents for root in roots)


def check_server_path(text: str, roots: list[Path]) -> Path:
    """The path a person typed, when it exists inside one of the allowed folders."""
    path = Path(text.strip()).expanduser()
    if not text.strip():
        raise DataError("Type the path of a ratings file or folder on the server.")
    if not inside(path, roots):
        allowed = ", ".join(str(r) for r in roots)
        raise DataError(
            f"{path} is outside the folders this server may read ({allowed}). Copy the data into one of "
            "them, or ask whoever runs the server to add its folder to RECENGINE_DATA_DIRS."
        )
    if not path.exists():
        raise DataError(f"There is no file or folder at {path}.")
    return path.resolve()


def preview(path: Path, fmt: str) -> pd.DataFrame:
    """The first rows of a generic table (csv, tsv, parquet) as they are in the file."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            batch = next(pq.ParquetFile(path).iter_batches(batch_size=PREVIEW_ROWS), None)
        except Exception as error:  # pyarrow raises many kinds for a damaged file
            raise DataFormatError(f"{path.name} is not a readable Parquet file ({error}).") from None
        return batch.to_pandas() if batch is not None else pd.DataFrame()
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()[: PREVIEW_ROWS + 1]
    if not lines:
        raise DataFormatError(f"{path.name} is empty.")
    delimiter = "\t" if fmt == "tsv" else _sniff(lines)
    try:
        return pd.read_csv(io.StringIO("\n".join(lines)), sep=delimiter, dtype=str, on_bad_lines="skip")
    except (ValueError, pd.errors.ParserError) as error:
        raise DataFormatError(f"{path.name} could not be previewed ({error}).") from None


def _sniff(lines: list[str]) -> str:
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;|\t").delimiter
    except csv.Error:
        return ","
