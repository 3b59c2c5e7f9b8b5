"""Your ratings as files: named profiles (JSON) in one folder, and CSV import and export.

A profile name is kept as typed (letters of any script, digits, spaces, ``' _ . -``; surrounding spaces
dropped; Unicode NFKC, so fullwidth and other compatibility forms become plain letters): a name that
cannot be one (invisible characters, more than `MAX_NAME_BYTES` bytes of UTF-8, as the file system counts)
is refused, never renamed. Names that look alike are the same profile: they differ only in case, accents,
or letters that look alike (`skeleton`, Unicode's confusables: Cyrillic "а", Cherokee "Ꭺ" and small capital
"ᴀ" are Latin "a").

Saving onto an existing name needs ``replace=True`` (the page asks first). The replaced file is kept in
``.backups/`` with who saved it (a digest of the owner: the session, or the person's workspace): each
owner's newest `KEPT_BACKUPS` versions are kept however many replaces others make, and `restore_profile`
gives each owner their own versions back, newest first. Saves and restores of a folder hold an exclusive lock
(an flock on the folder): two sessions saving one new name at once get one "saved" and one question, never two
"saved". A person may keep `MAX_PROFILES_PER_OWNER` profiles and the server `MAX_PROFILES` (replacing one
is always possible). A profile whose file would exceed `MAX_PROFILE_BYTES` is refused before anything is
written; titles are cut to `MAX_TITLE_CHARS`, item ids longer than `MAX_ITEM_ID_CHARS` refused. Files are written atomically (a temporary file in the same folder, then a rename), so a crash
while saving leaves the previous profile intact. Loading never runs code: it parses JSON and checks every
value.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import io
import json
import math
import os
import re
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard import names
from recengine.data.dataset import RatingsDataset
from recengine.errors import DataError, UnknownIdError

PROFILE_FORMAT = 1
MAX_PROFILE_BYTES = 5_000_000  # of a profile's file, checked before it is written and when it is read
MAX_TITLE_CHARS = 300  # a title stored in a profile (for people reading the file) is cut to this
MAX_ITEM_ID_CHARS = 500  # an item id longer than this is not saved in a profile
# UTF-8 bytes of a name, as the file system counts them: its file ".NAME.json.XXXXXXXX.tmp" while it is
# written stays under the 255 of a file name; backups are named by a digest, whatever the name's length.
MAX_NAME_BYTES = 200
BACKUPS = ".backups"
KEPT_BACKUPS = 5  # per profile and owner
MAX_BACKUPS = 200  # per profile: beyond it only each owner's newest copy stays
MAX_PROFILES_PER_OWNER = 50  # profiles whose last save was one owner's
MAX_PROFILES = 2_000  # on the server
# In classroom mode, profiles last saved from one network address (whatever the cookies): a class of
# `dashboard.challenge.CLASS_SIZE` behind one router, this many each, unless the variable says otherwise.
PER_ADDRESS_ENV = "RECENGINE_CLASS_PROFILES_PER_ADDRESS"
PROFILES_PER_PERSON_IN_CLASS = 5
_PUNCTUATION = " '_.-"
# Default-ignorable code points (Unicode's DerivedCoreProperties): invisible, so refused in a name.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


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
    """``name`` as a profile name (Unicode NFKC, surrounding spaces dropped), or ProfileError saying why it
    cannot be one: letters of any script, digits, spaces and ``' _ . -``, starting with a letter or digit,
    nothing invisible, at most `MAX_NAME_BYTES` bytes of UTF-8."""
    text = unicodedata.normalize("NFKC", str(name)).strip()
    rule = "use letters, digits, spaces, ', _, . or -, starting with a letter or a digit"
    if not text:
        raise ProfileError(f"A profile name cannot be empty: {rule}.")
    if _INVISIBLE.search(text):
        raise ProfileError(f"A profile name cannot hold invisible characters: {rule}.")
    bad = sorted({c for c in text if not (_is_letter_or_digit(c) or c in _PUNCTUATION)})
    if bad or not _is_letter_or_digit(text[0]):
        shown = ", ".join(repr(c) for c in bad[:5]) if bad else repr(text[0])
        raise ProfileError(f"{names.in_code(text[:80])} cannot be a profile name ({shown}): {rule}.")
    if len(text.encode()) > MAX_NAME_BYTES:
        raise ProfileError(
            f"A profile name can have at most {MAX_NAME_BYTES} bytes of UTF-8 (this one has "
            f"{len(text.encode())}): {MAX_NAME_BYTES} Latin letters, or half as many accented or Cyrillic "
            "ones, a third as many Chinese ones. Shorten it."
        )
    return text


def _is_letter_or_digit(character: str) -> bool:
    return unicodedata.category(character)[0] in "LN" or (
        unicodedata.category(character) in ("Mn", "Mc")  # accents kept apart from their letter
    )


def skeleton(name: str) -> str:
    """What a name looks like, for telling names apart: `dashboard.names.skeleton` of `safe_name` ("ALICE",
    "Alicé", "аlice" with a Cyrillic а, "ᴀʟɪᴄᴇ" in small capitals: "alice")."""
    return names.skeleton(safe_name(name))


def _key(name: str) -> str:
    return skeleton(name)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def profile_path(folder: Path, name: str) -> Path:
    """The file of profile ``name``: an existing one whose name looks the same (`names.look_alike`: "aIice"
    with a capital I is "alice"), else a new one."""
    folder = Path(folder).resolve()
    safe = safe_name(name)
    existing = next((p for p in _files(folder) if _valid(p.stem) and names.look_alike(p.stem, safe)), None)
    path = existing or folder / f"{safe_name(name)}.json"
    if path.parent != folder:  # cannot happen after safe_name; checked all the same
        raise ProfileError(f"{names.in_code(name)} would be saved outside the profile folder.")
    return path


@contextlib.contextmanager
def locked_folder(folder: Path) -> Iterator[None]:
    """An exclusive flock on the folder itself (made if missing, mode 700): one change at a time, across
    threads (each call opens the folder anew) and processes; no lock file is left beside what it holds."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def owner_digest(owner: str) -> str:
    """An opaque name of ``owner`` (`current_owner`) where others may read it, such as the model store's
    ``stored_by``: a digest, never the owner itself ("" for no owner)."""
    return hashlib.blake2b(owner.encode(), digest_size=12).hexdigest() if owner else ""


def current_owner() -> str:
    """Who is saving: the person, when their browser keeps a workspace (a digest of its key, never the key),
    else the Streamlit session running this code ("" outside one)."""
    try:
        import streamlit as st
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:
        return ""
    context = get_script_run_ctx(suppress_warning=True)
    if context is None:
        return ""
    from dashboard.workspace import KEY, valid_key

    key = st.session_state.get(KEY)
    return f"person:{_digest(key)}" if valid_key(key) else f"session:{context.session_id}"


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
    folder: Path,
    profile: Profile,
    titles: dict[object, str] | None = None,
    *,
    replace: bool = False,
    owner: str | None = None,
    address: str | None = None,
) -> Path:
    """Write ``profile`` as JSON under its name; returns the path. An existing profile of that name is
    replaced only with ``replace`` (else `ProfileExists`), and kept as a backup first. ``owner`` (default:
    `current_owner`) is recorded, so that its owner can restore this version after others replaced it;
    ``address`` (default: `current_address`; "" is not counted) too, for the per-address cap."""
    name = safe_name(profile.name)
    titles = titles or {}
    _check_item_ids(profile.ratings)
    payload = {
        "format": PROFILE_FORMAT,
        "name": name,
        "source": profile.source,
        "saved_by": _digest(current_owner() if owner is None else owner),
        "address": current_address() if address is None else address,
        "ratings": [
            {"item": _plain(item), "rating": float(rating), "title": _cut(titles.get(item))}
            for item, rating in profile.ratings.items()
        ],
    }
    content = json.dumps(payload, indent=1, ensure_ascii=False).encode()
    if len(content) > MAX_PROFILE_BYTES:
        raise ProfileError(
            f"This profile would take {len(content):,} bytes, more than the {MAX_PROFILE_BYTES:,} bytes a "
            f"profile may ({len(profile.ratings):,} ratings; long item ids make a profile large): rate fewer "
            "films, or export your ratings as CSV instead."
        )
    folder = Path(folder).resolve()
    try:
        with locked_folder(folder):
            path = profile_path(folder, name)
            if path.exists() and not replace:
                raise ProfileExists(
                    f"{_taken(name, path.stem)} Replace it (it can be restored), or choose another name."
                )
            if path.exists():
                _back_up(path)
            else:
                _check_room(folder, payload["saved_by"], payload["address"])
            write_atomically(path, content)
    except OSError as error:
        raise ProfileError(
            f"The profile could not be saved ({error.strerror or error}): the profile folder is read-only "
            "or full. Export your ratings as CSV instead."
        ) from None
    return path


def _check_item_ids(ratings: dict[object, float]) -> None:
    """Refuse (`ProfileError`) ratings of an item whose id is longer than `MAX_ITEM_ID_CHARS`."""
    longest = max((len(str(item)) for item in ratings), default=0)
    if longest > MAX_ITEM_ID_CHARS:
        raise ProfileError(
            f"An item id of {longest:,} characters cannot be saved in a profile (at most "
            f"{MAX_ITEM_ID_CHARS:,}): export your ratings as CSV instead."
        )


def _cut(title: str | None) -> str | None:
    """``title`` cut to `MAX_TITLE_CHARS` (titles in a profile are only for people reading the file)."""
    return title if title is None or len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "…"


def _check_room(folder: Path, saver: str, address: str) -> None:
    """Refuse (`ProfileError`) a new profile beyond `MAX_PROFILES` on the server, `MAX_PROFILES_PER_OWNER`
    last saved by ``saver`` (an owner digest) or `profiles_per_address` from ``address`` (a digest; "" is
    not counted)."""
    files = _files(folder)
    if len(files) >= MAX_PROFILES:
        raise ProfileError(
            f"The server keeps {MAX_PROFILES:,} profiles, its limit: replace one of yours (save under its "
            "name), or export your ratings as CSV."
        )
    if sum(_saver(path) == saver for path in files) >= MAX_PROFILES_PER_OWNER:
        raise ProfileError(
            f"You have saved {MAX_PROFILES_PER_OWNER} profiles, the most one person may keep: replace one of "
            "them (save under its name), or export your ratings as CSV."
        )
    if address and sum(_address(path) == address for path in files) >= (limit := profiles_per_address()):
        raise ProfileError(
            f"{limit:,} profiles were saved from your network address, the most this class server keeps from "
            "one address (the computers behind one router share it): replace one of them (save under its "
            "name), or export your ratings as CSV."
        )


def profiles_per_address() -> int:
    """Profiles one network address may have saved in classroom mode: ``RECENGINE_CLASS_PROFILES_PER_ADDRESS``
    (a positive whole number), else `dashboard.challenge.CLASS_SIZE` × `PROFILES_PER_PERSON_IN_CLASS`."""
    from dashboard.challenge import CLASS_SIZE

    text = os.environ.get(PER_ADDRESS_ENV, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else CLASS_SIZE * PROFILES_PER_PERSON_IN_CLASS


def current_address() -> str:
    """In classroom mode, the digest of the saving session's network address (as challenge submissions
    record it); "" otherwise, or outside a session (not counted per address)."""
    owner = current_owner()
    if not owner:
        return ""
    from dashboard import classroom
    from dashboard.challenge import address_digest
    from dashboard.jobs import in_class_mode

    if not in_class_mode():
        return ""
    try:
        address = classroom.counted_address()
        return address_digest(address) if address else ""
    except Exception:  # no connection context (a test's script run): not counted
        return ""


def _taken(name: str, saved: str) -> str:
    """Why ``name`` is the profile ``saved``: the same name, or one that looks like it."""
    if name.casefold() == saved.casefold():
        return f"There is already a profile named {names.in_code(saved)}."
    return (
        f"{names.in_code(name)} looks like the profile {names.in_code(saved)}, already saved (accents and letters that look alike, "
        "from any script, count as the same name)."
    )


def _saver(path: Path) -> str:
    """The owner digest a profile file records ("" for a file from before owners were recorded)."""
    return _recorded(path)[0]


def _address(path: Path) -> str:
    """The address digest a profile file records ("" for none)."""
    return _recorded(path)[1]


def _recorded(path: Path) -> tuple[str, str]:
    try:
        stat = path.stat()
    except OSError:
        return "", ""
    return _recorded_of(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _recorded_of(path: str, modified_ns: int, size: int) -> tuple[str, str]:
    """The owner and address digests of one version of a file (by its time and size): counting a folder's
    owners reads each once."""
    try:
        payload = json.loads(Path(path).read_bytes()[:MAX_PROFILE_BYTES])
    except (OSError, ValueError):
        return "", ""
    if not isinstance(payload, dict):
        return "", ""
    saver, address = payload.get("saved_by"), payload.get("address")
    return (
        saver if isinstance(saver, str) and re.fullmatch(r"[0-9a-f]{32}", saver) else "",
        address if isinstance(address, str) and len(address) <= 64 else "",
    )


def _back_up(path: Path) -> None:
    """Keep a copy of ``path`` in the backups folder, named by the digest of its name, the time and who
    saved it. Each owner's newest `KEPT_BACKUPS` copies stay, whoever replaces the profile how often (beyond
    `MAX_BACKUPS` copies of the profile, only each owner's newest)."""
    folder = path.parent / BACKUPS
    folder.mkdir(exist_ok=True)
    stem = f"{_digest(_key(path.stem))}.{time.time_ns()}.{_saver(path) or 'unknown'}"
    write_atomically(folder / f"{stem}.json", path.read_bytes())
    kept: dict[str, int] = {}
    for rank, (_, saver, copy) in enumerate(_backups(path.parent, path.stem)):
        count = kept.get(saver, 0)
        if count >= KEPT_BACKUPS or (rank >= MAX_BACKUPS and count > 0):
            copy.unlink(missing_ok=True)
        kept[saver] = count + 1


def _backups(folder: Path, name: str) -> list[tuple[int, str, Path]]:
    """(time, owner digest, path) of the kept copies of profile ``name``, newest first; copies named by
    older versions (the case-folded name, no owner; a digest of the name without accents and case, before
    look-alikes came from Unicode's confusables) are listed too."""
    key = _key(name)
    digests, found = {_digest(key), _digest(_folded(name))}, Path(folder) / BACKUPS
    copies = []
    for path in found.glob("*.json") if found.is_dir() else ():
        parts = path.name[: -len(".json")].split(".")
        if parts[0] in digests and len(parts) == 3 and parts[1].isdigit():
            copies.append((int(parts[1]), parts[2], path))
            continue
        legacy, _, stamp = path.name[: -len(".json")].rpartition(".")
        if stamp.isdigit() and _valid(legacy) and _key(legacy) == key:
            copies.append((int(stamp), "unknown", path))
    return sorted(copies, key=lambda copy: copy[0], reverse=True)


def _folded(name: str) -> str:
    """``name`` case folded, without accents: what the backups of names in Latin letters were named by."""
    folded = unicodedata.normalize("NFKD", safe_name(name).casefold())
    return unicodedata.normalize("NFC", "".join(c for c in folded if not unicodedata.combining(c)))


def backups(folder: Path, name: str) -> list[Path]:
    """The kept copies of profile ``name``, newest first."""
    return [path for _, _, path in _backups(folder, name)]


def restore_profile(folder: Path, name: str, *, owner: str | None = None) -> Profile:
    """Put back a kept copy of profile ``name`` (the current one becomes a backup) and return it: the newest
    copy ``owner`` (default: `current_owner`) saved, else the newest copy."""
    folder = Path(folder).resolve()
    mine = _digest(current_owner() if owner is None else owner)
    try:
        with locked_folder(folder):
            copies = _backups(folder, name)
            if not copies:
                raise ProfileError(
                    f"Profile {names.in_code(safe_name(name))} has no earlier version to restore."
                )
            chosen = next((path for _, saver, path in copies if saver == mine), copies[0][2])
            restored = _read(chosen, chosen.name)
            content = chosen.read_bytes()
            path = profile_path(folder, name)
            if path.exists():
                _back_up(path)
            write_atomically(path, content)
            chosen.unlink(missing_ok=True)
    except OSError as error:
        raise ProfileError(f"The profile could not be restored ({error.strerror or error}).") from None
    return restored


def load_profile(folder: Path, name: str) -> Profile:
    """Read a profile back; a missing, damaged or hand-edited file raises `ProfileError`."""
    path = profile_path(folder, name)
    if not path.is_file():
        saved = ", ".join(map(names.in_code, list_profiles(folder))) or "none"
        raise ProfileError(f"There is no profile named {names.in_code(safe_name(name))}. Saved: {saved}.")
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


def checked_size(content: bytes) -> bytes:
    """``content`` if a ratings file may be that large (`MAX_PROFILE_BYTES`), else a `ProfileError`."""
    if len(content) > MAX_PROFILE_BYTES:
        raise ProfileError(f"The ratings file is larger than {MAX_PROFILE_BYTES:,} bytes.")
    return content


def ratings_from_csv(content: bytes) -> dict[object, float]:
    """Ratings from a CSV with columns ``item`` and ``rating`` (others are ignored)."""
    try:
        frame = pd.read_csv(io.BytesIO(checked_size(content)), dtype={"item": str})
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
