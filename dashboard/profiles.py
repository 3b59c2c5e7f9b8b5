"""Your ratings as files: named profiles (JSON) in one folder, and CSV import and export.

Profile names are sanitised to a safe file name, so nothing is ever written outside the folder; files are
written atomically (a temporary file in the same folder, then a rename), so a crash while saving leaves
the previous profile intact. Loading never runs code: it parses JSON and checks every value.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recengine.dataset import RatingsDataset
from recengine.errors import DataError, UnknownIdError

PROFILE_FORMAT = 1
MAX_PROFILE_BYTES = 5_000_000
MAX_NAME_LENGTH = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9 _.-]+")


class ProfileError(DataError):
    """A profile name, file or ratings CSV that cannot be used; the message says how to fix it."""


@dataclass
class Profile:
    """Ratings by raw item id, with the data source they were made on."""

    name: str
    source: str
    ratings: dict[object, float] = field(default_factory=dict)


def safe_name(name: str) -> str:
    """A file-name-safe version of a profile name (letters, digits, space, ``_ . -``)."""
    cleaned = _UNSAFE.sub("_", str(name)).strip(" ._")[:MAX_NAME_LENGTH]
    if not cleaned:
        raise ProfileError(
            f"{name!r} cannot be a profile name: use letters, digits, spaces, '_', '.' or '-'."
        )
    return cleaned


def profile_path(folder: Path, name: str) -> Path:
    path = (Path(folder) / f"{safe_name(name)}.json").resolve()
    if path.parent != Path(folder).resolve():  # cannot happen after safe_name; checked all the same
        raise ProfileError(f"{name!r} would be saved outside the profile folder.")
    return path


def list_profiles(folder: Path) -> list[str]:
    folder = Path(folder)
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def save_profile(folder: Path, profile: Profile, titles: dict[object, str] | None = None) -> Path:
    """Write ``profile`` as JSON under its sanitised name; returns the path."""
    path = profile_path(folder, profile.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    titles = titles or {}
    payload = {
        "format": PROFILE_FORMAT,
        "name": safe_name(profile.name),
        "source": profile.source,
        "ratings": [
            {"item": _plain(item), "rating": float(rating), "title": titles.get(item)}
            for item, rating in profile.ratings.items()
        ],
    }
    write_atomically(path, json.dumps(payload, indent=1, ensure_ascii=False).encode())
    return path


def load_profile(folder: Path, name: str) -> Profile:
    """Read a profile back; a missing, damaged or hand-edited file raises `ProfileError`."""
    path = profile_path(folder, name)
    if not path.is_file():
        raise ProfileError(f"There is no profile named {safe_name(name)!r}. Saved: {list_profiles(folder)}.")
    if path.stat().st_size > MAX_PROFILE_BYTES:
        raise ProfileError(f"Profile {path.name} is larger than {MAX_PROFILE_BYTES:,} bytes: not loaded.")
    try:
        payload = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProfileError(f"Profile {path.name} is not valid JSON ({error}); save it again.") from None
    return _profile_from(payload, path.name)


def _profile_from(payload: object, filename: str) -> Profile:
    if not isinstance(payload, dict) or not isinstance(payload.get("ratings"), list):
        raise ProfileError(f"Profile {filename} has no list of ratings; save it again.")
    if payload.get("format", PROFILE_FORMAT) != PROFILE_FORMAT:
        raise ProfileError(
            f"Profile {filename} has format {payload.get('format')!r}; this version reads format "
            f"{PROFILE_FORMAT}. Update recengine or save the profile again."
        )
    ratings: dict[object, float] = {}
    for row in payload["ratings"]:
        item = row.get("item") if isinstance(row, dict) else None
        value = row.get("rating") if isinstance(row, dict) else None
        if not isinstance(item, (int, str)) or isinstance(item, bool) or not _finite_number(value):
            raise ProfileError(
                f"Profile {filename} holds a bad row {row!r}: expected an item id and a rating."
            )
        ratings[item] = float(value)
    source = payload.get("source")
    return Profile(str(payload.get("name", Path(filename).stem)), str(source or ""), ratings)


def write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to a temporary file beside ``path``, flush it to disk, then rename it over."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- CSV ------------------------------------------------------------------------------------------------


def ratings_to_csv(ratings: dict[object, float], titles: dict[object, str] | None = None) -> bytes:
    """Columns ``item,rating,title``: the format ``recengine recommend --ratings`` reads."""
    titles = titles or {}
    frame = pd.DataFrame(
        {
            "item": [_plain(item) for item in ratings],
            "rating": [float(r) for r in ratings.values()],
            "title": [titles.get(item, "") for item in ratings],
        }
    )
    return frame.to_csv(index=False).encode()


def ratings_from_csv(content: bytes) -> dict[object, float]:
    """Ratings from a CSV with columns ``item`` and ``rating`` (others are ignored)."""
    if len(content) > MAX_PROFILE_BYTES:
        raise ProfileError(f"The ratings file is larger than {MAX_PROFILE_BYTES:,} bytes.")
    try:
        frame = pd.read_csv(io.BytesIO(content), dtype={"item": str})
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ProfileError(f"The ratings file is not a readable CSV ({error}).") from None
    missing = {"item", "rating"} - set(frame.columns)
    if missing:
        raise ProfileError(
            f"The ratings file needs columns item and rating; it has {list(map(str, frame.columns))}."
        )
    values = pd.to_numeric(frame["rating"], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.fillna(0)) | frame["item"].isna()
    if bad.any():
        raise ProfileError(f"{int(bad.sum())} rows of the ratings file lack an item or a numeric rating.")
    return {str(item).strip(): float(value) for item, value in zip(frame["item"], values, strict=True)}


# --- against a data set ---------------------------------------------------------------------------------


def match_to_data(
    ratings: dict[object, float], data: RatingsDataset
) -> tuple[dict[object, float], list[str]]:
    """The ratings whose items exist in ``data``, keyed by its raw ids, snapped to its scale; and notes."""
    kept: dict[object, float] = {}
    unknown, off_scale = 0, 0
    for item, value in ratings.items():
        try:
            code = data.item_code(item)
        except UnknownIdError:
            unknown += 1
            continue
        if not bool(data.scale.contains(np.array([value]))[0]):
            off_scale += 1
            continue
        kept[_plain(data.item_ids[code])] = float(value)
    notes = []
    if unknown:
        notes.append(f"{unknown} rated items are not in this data set and were skipped.")
    if off_scale:
        low, high = data.scale.low, data.scale.high
        notes.append(
            f"{off_scale} ratings are off this data set's scale ({low:g} to {high:g}) and were skipped."
        )
    return kept, notes


def _plain(value: object) -> object:
    """NumPy scalars as plain Python values (JSON and dictionary keys)."""
    return value.item() if isinstance(value, np.generic) else value


def _finite_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
