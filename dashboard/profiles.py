"""Your ratings as files: named profiles (JSON) in one folder, and CSV import and export.

A profile name is kept as typed (letters of any script, digits, spaces, ``' _ . -``; surrounding spaces
dropped): a name that cannot be one is refused, never renamed, so two people's names never collapse into
one file. Names that differ only in case are the same profile. Saving onto an existing name needs
``replace=True`` (the page asks first), and the replaced file is kept in ``.backups/`` so that
`restore_profile` can bring it back. Files are written atomically (a temporary file in the same folder,
then a rename), so a crash while saving leaves the previous profile intact. Loading never runs code: it
parses JSON and checks every value.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recengine.data.dataset import RatingsDataset
from recengine.errors import DataError, UnknownIdError

PROFILE_FORMAT = 1
MAX_PROFILE_BYTES = 5_000_000
MAX_NAME_LENGTH = 64
MAX_NAME_BYTES = 200  # UTF-8 bytes: file names stop at 255
BACKUPS = ".backups"
KEPT_BACKUPS = 5  # per profile
_PUNCTUATION = " '_.-"


class ProfileError(DataError):
    """A profile name, file or ratings CSV that cannot be used; the message says how to fix it."""


class ProfileExists(ProfileError):
    """Saving would replace a profile of the same name; save again with ``replace=True`` to do so."""


@dataclass
class Profile:
    """Ratings by raw item id, with the data source they were made on."""

    name: str
    source: str
    ratings: dict[object, float] = field(default_factory=dict)


def safe_name(name: str) -> str:
    """``name`` as a profile name (Unicode NFC, surrounding spaces dropped), or ProfileError saying why it
    cannot be one: letters of any script, digits, spaces and ``' _ . -``, starting with a letter or digit."""
    text = unicodedata.normalize("NFC", str(name)).strip()
    rule = "use letters, digits, spaces, ', _, . or -, starting with a letter or a digit"
    if not text:
        raise ProfileError(f"A profile name cannot be empty: {rule}.")
    bad = sorted({c for c in text if not (_is_letter_or_digit(c) or c in _PUNCTUATION)})
    if bad or not _is_letter_or_digit(text[0]):
        shown = ", ".join(repr(c) for c in bad[:5]) if bad else repr(text[0])
        raise ProfileError(f"{text[:80]!r} cannot be a profile name ({shown}): {rule}.")
    if len(text) > MAX_NAME_LENGTH or len(text.encode()) > MAX_NAME_BYTES:
        raise ProfileError(f"A profile name can have at most {MAX_NAME_LENGTH} characters; shorten it.")
    return text


def _is_letter_or_digit(character: str) -> bool:
    return unicodedata.category(character)[0] in "LN" or (
        unicodedata.category(character) in ("Mn", "Mc")  # accents kept apart from their letter
    )


def _key(name: str) -> str:
    return safe_name(name).casefold()


def profile_path(folder: Path, name: str) -> Path:
    """The file of profile ``name``: an existing one whose name differs at most in case, else a new one."""
    folder = Path(folder).resolve()
    key = _key(name)
    existing = next((p for p in _files(folder) if p.stem.casefold() == key), None)
    path = existing or folder / f"{safe_name(name)}.json"
    if path.parent != folder:  # cannot happen after safe_name; checked all the same
        raise ProfileError(f"{name!r} would be saved outside the profile folder.")
    return path


def _files(folder: Path) -> list[Path]:
    return (
        sorted(p for p in Path(folder).glob("*.json") if not p.name.startswith("."))
        if folder.is_dir()
        else []
    )


def list_profiles(folder: Path) -> list[str]:
    """The names of the saved profiles (files whose name cannot be a profile name are left out)."""
    return [p.stem for p in _files(Path(folder)) if _valid(p.stem)]


def _valid(name: str) -> bool:
    try:
        return safe_name(name) == name
    except ProfileError:
        return False


def save_profile(
    folder: Path, profile: Profile, titles: dict[object, str] | None = None, *, replace: bool = False
) -> Path:
    """Write ``profile`` as JSON under its name; returns the path. An existing profile of that name is
    replaced only with ``replace`` (else `ProfileExists`), and kept as a backup first."""
    path = profile_path(folder, profile.name)
    if path.exists() and not replace:
        raise ProfileExists(
            f"There is already a profile named {path.stem!r}. Replace it (it can be restored), or choose "
            "another name."
        )
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
    content = json.dumps(payload, indent=1, ensure_ascii=False).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            _back_up(path)
        write_atomically(path, content)
    except OSError as error:
        raise ProfileError(
            f"The profile could not be saved ({error.strerror or error}): the profile folder is read-only "
            "or full. Export your ratings as CSV instead."
        ) from None
    return path


def _back_up(path: Path) -> None:
    """Keep a copy of ``path`` in the backups folder (the newest `KEPT_BACKUPS` per profile)."""
    folder = path.parent / BACKUPS
    folder.mkdir(exist_ok=True)
    key = path.stem.casefold()
    write_atomically(folder / f"{key}.{time.time_ns()}.json", path.read_bytes())
    for old in backups(path.parent, path.stem)[KEPT_BACKUPS:]:
        old.unlink(missing_ok=True)


def backups(folder: Path, name: str) -> list[Path]:
    """The kept copies of profile ``name``, newest first."""
    key = _key(name)
    found = Path(folder) / BACKUPS
    copies = [p for p in found.glob("*.json") if p.name.rsplit(".", 2)[0] == key] if found.is_dir() else []
    return sorted(copies, key=lambda p: int(p.name.rsplit(".", 2)[1]), reverse=True)


def restore_profile(folder: Path, name: str) -> Profile:
    """Put back the newest backup of profile ``name`` (the current one becomes a backup); returns it."""
    copies = backups(folder, name)
    if not copies:
        raise ProfileError(f"Profile {safe_name(name)!r} has no earlier version to restore.")
    restored = _read(copies[0], copies[0].name)
    path = profile_path(folder, name)
    try:
        if path.exists():
            _back_up(path)
        write_atomically(path, copies[0].read_bytes())
        copies[0].unlink(missing_ok=True)
    except OSError as error:
        raise ProfileError(f"The profile could not be restored ({error.strerror or error}).") from None
    return restored


def load_profile(folder: Path, name: str) -> Profile:
    """Read a profile back; a missing, damaged or hand-edited file raises `ProfileError`."""
    path = profile_path(folder, name)
    if not path.is_file():
        raise ProfileError(f"There is no profile named {safe_name(name)!r}. Saved: {list_profiles(folder)}.")
    return _read(path, path.name)


def _read(path: Path, filename: str) -> Profile:
    if path.stat().st_size > MAX_PROFILE_BYTES:
        raise ProfileError(f"Profile {filename} is larger than {MAX_PROFILE_BYTES:,} bytes: not loaded.")
    try:
        payload = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProfileError(f"Profile {filename} is not valid JSON ({error}); save it again.") from None
    return _profile_from(payload, filename)


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
        count = int(bad.sum())
        verb = "row of the ratings file lacks" if count == 1 else "rows of the ratings file lack"
        raise ProfileError(f"{count:,} {verb} an item or a numeric rating.")
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
