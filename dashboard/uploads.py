"""Uploaded and server-side data files: stored privately per session, previewed, and checked against the
folders the operator allows (see docs/threat-model.md).

A person's uploads, in all their tabs, may unpack to at most `config.upload_max_bytes` together (1 GB
unless the operator sets ``RECENGINE_UPLOAD_MB``), and the uploads from one client address to
`config.upload_address_bytes` (4 GB, ``RECENGINE_UPLOAD_ADDRESS_MB``): a new upload first removes the
session's earlier ones, and a zip is checked from its directory (member count, every member's and the whole
archive's compression ratio, the declared total against what is left) before a byte of it is written. When the session ends, its folder
goes, and so do the models trained on its uploads from the shared model store."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import io
import os
import re
import secrets
import shutil
import time
import weakref
import zipfile
from pathlib import Path

import pandas as pd

from dashboard import config
from dashboard.profiles import write_atomically
from recengine.data.download import COMPLETE, MAX_MEMBERS, unpack
from recengine.errors import ArchiveError, DataError, DataFormatError, TooLargeError
from recengine.memory import format_size
from recengine.store import ModelStore

UPLOAD_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".dat", ".data", ".parquet", ".pq", ".zip")
GENERIC_FORMATS = ("csv", "tsv", "parquet")
PREVIEW_ROWS = 8


STALE_SECONDS = 24 * 3600
UPLOAD_FOLDER = "upload_folder"  # the session state key of its PrivateFolder
MAX_FOLDER_ENTRIES = 10_000
MAX_PATH_CHARS = 4096  # Linux's PATH_MAX: no longer path names a file
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Ratings text compresses 3 to 10 times, a sorted file of repeated ids some 30 times; an upload compressed
# more than this, member by member or as a whole, is a bomb. Members smaller than the floor are exempt
# (a few kilobytes of blank lines compress well), but they count in the archive's total ratio.
MAX_UPLOAD_RATIO = 100
UPLOAD_RATIO_FLOOR = 4096


class PrivateFolder:
    """A session's own upload folder: 128 random bits under ``root`` (mode 0700), never listed; removed
    when the session that holds this object ends (it is garbage collected) or the server exits, with the
    models trained on its uploads (their data fingerprints, in ``fingerprints``) from the shared model
    store. Folders left by a server that was killed are removed a day later, when the next one is made."""

    def __init__(self, root: Path, store: Path | None = None, person: str = "", address: str = ""):
        root = Path(root).resolve()
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        _remove_stale(root)
        self.path = root / secrets.token_hex(16)
        self.path.mkdir(mode=0o700)
        self.fingerprints: set[str] = set()
        self.store = config.store_folder() if store is None else Path(store)
        self.person, self.address = person, address  # whose budgets its files count in ("": none)
        self._finalizer = weakref.finalize(self, _end_session, self.path, self.fingerprints, self.store)
        _live_folders.add(self)

    def remove(self) -> None:
        self._finalizer()
        _live_folders.discard(self)


_live_folders: weakref.WeakSet[PrivateFolder] = weakref.WeakSet()  # every session's, for the shared budgets


def _end_session(path: Path, fingerprints: set[str], store: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    remove_upload_models(fingerprints, store, path.name)


def remove_upload_models(fingerprints: set[str], store: Path, owner: str) -> None:
    """Remove from the shared model store the models this session (``owner``, its folder's random name)
    trained on the data sets of these fingerprints; another session's models on the same ratings stay."""
    if fingerprints and store.is_dir():
        with contextlib.suppress(Exception):  # at exit, or a store gone read-only: nothing more to do
            ModelStore(store).remove_trained_on(frozenset(fingerprints), owner)


def upload_owner() -> str | None:
    """Whose models trained on an upload are (``extra["owner"]``): the session's upload folder's random
    name, or None without an upload."""
    import streamlit as st

    folder = st.session_state.get(UPLOAD_FOLDER)
    return folder.path.name if folder is not None else None


def note_upload_data(fingerprint: str) -> None:
    """Remember that the session's active data set (of this fingerprint) came from its upload, so the
    models trained on it leave the shared store when the session ends: seconds after its tab closes (the
    trainers' watchdog, `jobs.when_session_ends`), and at the latest when Streamlit drops the session."""
    import streamlit as st

    from dashboard import jobs

    folder = st.session_state.get(UPLOAD_FOLDER)
    if folder is not None:
        folder.fingerprints.add(fingerprint)
        jobs.when_session_ends(
            "upload models",
            functools.partial(remove_upload_models, folder.fingerprints, folder.store, folder.path.name),
        )


def session_folder(root: Path) -> Path:
    """The current session's `PrivateFolder` under ``root`` (made on its first upload)."""
    import streamlit as st

    from dashboard import jobs

    folder = st.session_state.get(UPLOAD_FOLDER)
    if folder is None or not folder.path.is_dir():
        from dashboard.classroom import counted_address
        from dashboard.profiles import current_owner

        try:
            folder = st.session_state[UPLOAD_FOLDER] = PrivateFolder(
                root, person=current_owner(), address=counted_address()
            )
        except OSError as error:
            raise _unwritable(root, error) from None
        # Seconds after the tab closes, not when the session is garbage collected (minutes, or never while
        # anything refers to it): closing tabs must not let one person keep gigabytes past their budget.
        jobs.when_session_ends("upload folder", folder.remove)
    return folder.path


def _unwritable(folder: Path, error: OSError) -> DataError:
    return DataError(
        f"Uploads cannot be stored: the server's upload folder is read-only or full ({error.strerror or error}). "
        "Ask whoever runs the server to fix RECENGINE_UPLOADS, or load a file on the server."
    )


def _remove_stale(root: Path) -> None:
    cutoff = time.time() - STALE_SECONDS
    for entry in root.iterdir():
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)


def save_upload(folder: Path, filename: str, content: bytes) -> Path:
    """Store uploaded bytes as ``folder/<hash of the content>/<sanitised name>`` (``folder`` being the
    session's `PrivateFolder`): an upload can never be written outside it, and keeps the name some formats
    are known by (``u.data``, ``ratings.csv``). The session's earlier uploads are removed first, and what
    is left must hold this one within `config.upload_max_bytes`. A zip is checked (`check_upload_zip`) and
    unpacked there (see `unpack`) and its folder returned; the archive itself is not kept, and a refused one
    leaves nothing behind."""
    suffix = Path(filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise DataFormatError(f"{filename!r}: upload a file ending in one of {', '.join(UPLOAD_SUFFIXES)}.")
    stem = _ascii_stem(filename)
    folder = Path(folder).resolve()
    target = folder / hashlib.sha256(content).hexdigest()[:16]
    _remove_others(folder, target.name)
    left = room(folder)
    if suffix == ".zip":
        return _save_archive(target, f"{stem}{suffix}", content, left)
    path = target / f"{stem}{suffix}"
    if not path.exists():
        left.check(len(content), filename)
    try:
        target.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            write_atomically(path, content)
    except OSError as error:
        shutil.rmtree(target, ignore_errors=True)
        raise _unwritable(folder, error) from None
    return path


def _remove_others(folder: Path, keep: str) -> None:
    for entry in folder.iterdir() if folder.is_dir() else ():
        if entry.name == keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _tree_bytes(folder: Path) -> int:
    total = 0
    for base, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_size
    return total


@dataclasses.dataclass(frozen=True)
class Room:
    """Bytes uploads may still take, and whose budget says so: the person's (all their tabs) or, when it
    is the tighter, their client address's (all its people)."""

    left: int
    by_address: bool = False

    def check(self, size: int, what: str) -> None:
        """`TooLargeError` saying whose budget ``size`` bytes would exceed, and how to fit."""
        if size <= self.left:
            return
        if self.by_address:
            budget, variable = config.upload_address_bytes(), config.UPLOAD_ADDRESS_ENV
            whose = "the uploads from your network address (all its people)"
        else:
            budget, whose, variable = (
                config.upload_max_bytes(),
                "your uploads (all your tabs)",
                config.UPLOAD_ENV,
            )
        raise TooLargeError(
            f"{what} would take {format_size(size)} on the server; {whose} may take {format_size(budget)} in "
            f"all ({format_size(max(self.left, 0))} left). Upload a smaller file (only the ratings), remove an "
            f"upload in another tab, or ask whoever runs the server to raise {variable}."
        )


def room(folder: Path) -> Room:
    """What uploads into ``folder`` may still take: its person's budget less what all their folders hold,
    or its client address's budget less what that address's folders hold, the smaller. A folder no session
    made (`PrivateFolder`) counts alone against the person's budget."""
    live = [f for f in list(_live_folders) if f.path.is_dir()]
    own = next((f for f in live if f.path == folder), None)
    others = [f for f in live if f.path != folder]
    here = _tree_bytes(folder)
    person = Room(config.upload_max_bytes() - here - sum(
        _tree_bytes(f.path) for f in others if own is not None and own.person and f.person == own.person
    ))  # fmt: skip
    if own is None or not own.address:
        return person
    address = Room(config.upload_address_bytes() - here - sum(
        _tree_bytes(f.path) for f in others if f.address == own.address
    ), by_address=True)  # fmt: skip
    return address if address.left < person.left else person


def check_upload_zip(name: str, members: list[zipfile.ZipInfo], left: Room) -> None:
    """Refuse, from its directory alone, an uploaded zip with too many members, a member or a whole
    compressed more than `MAX_UPLOAD_RATIO` times, or more bytes unpacked than there is ``left`` (`room`)."""
    if len(members) > MAX_MEMBERS:
        raise ArchiveError(
            f"{name} holds {len(members):,} members; at most {MAX_MEMBERS:,} are unpacked. Zip only the data "
            "set's files."
        )
    unpacked = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members)
    checked = [m for m in members if m.file_size > UPLOAD_RATIO_FLOOR]  # tiny ones count in the whole only
    worst = max(checked, key=lambda m: m.file_size / max(m.compress_size, 1), default=None)
    ratios = [(unpacked, packed)]
    if worst is not None:
        ratios.append((worst.file_size, worst.compress_size))
    for size, compressed in ratios:
        ratio = size / max(compressed, 1)
        if size > UPLOAD_RATIO_FLOOR and ratio > MAX_UPLOAD_RATIO:
            raise ArchiveError(
                f"{name} holds data compressed {ratio:,.0f} times ({size:,} bytes from {compressed:,}); "
                f"no data set compresses more than {MAX_UPLOAD_RATIO} times, so it was not unpacked."
            )
    left.check(unpacked, f"{name} unpacked")


def _ascii_stem(filename: str) -> str:
    """A file name's stem in letters, digits, ``_ . -`` (``upload`` when nothing is left)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(filename).stem).strip("._")[:64]
    return stem or "upload"


def _save_archive(target: Path, name: str, content: bytes, left: Room) -> Path:
    unpacked = target / "unpacked"
    if (unpacked / COMPLETE).is_file():
        return unpacked
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as directory:
            check_upload_zip(name, directory.infolist(), left)
    except (zipfile.BadZipFile, ValueError, EOFError) as error:
        raise ArchiveError(f"{name} is not a complete zip archive ({error}). Zip the data again.") from None
    archive = target / name
    try:
        try:
            target.mkdir(parents=True, exist_ok=True)
            write_atomically(archive, content)
        except OSError as error:
            raise _unwritable(target.parent, error) from None
        return unpack(archive, unpacked)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        archive.unlink(missing_ok=True)


def keep_only(folder: Path, path: Path) -> None:
    """Remove the session's other uploads once ``path`` (inside ``folder``) is the one in use."""
    folder = Path(folder).resolve()
    _remove_others(folder, Path(path).resolve().relative_to(folder).parts[0])


def inside(path: Path, roots: list[Path]) -> bool:
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(root) for root in roots)


def check_server_path(text: str, roots: list[Path], private: list[Path] = ()) -> Path:
    """The path a person typed, resolved, when it lies inside one of the allowed ``roots`` and neither
    inside nor above the ``private`` folders; a folder's every entry (links resolved) must too. Messages
    show the allowed folders under the home folder as ``~/...``, name the path as it was typed, never as
    it resolves (``/proc/self/environ`` is not ``/proc/<the server's pid>/environ``; a private folder is not
    "the profile folder", `dashboard.ui.TypedPathError`), and say the same of every ``~name`` (whether that
    account exists is none of the reader's business)."""
    from dashboard.ui import TypedPathError, shown_path

    text = text.strip()
    if not text:
        raise TypedPathError("Type the path of a ratings file or folder on the server.")
    if _CONTROL.search(text):
        raise TypedPathError(
            "A path cannot hold control characters (such as NUL or a line break). Retype it."
        )
    if len(text) > MAX_PATH_CHARS:
        raise TypedPathError(
            f"A path on this server has at most {MAX_PATH_CHARS:,} characters; this one has {len(text):,}. "
            "Type a shorter one."
        )
    if text.startswith("~") and not (text == "~" or text.startswith("~/")):
        raise TypedPathError("Another account's home folder (~name) cannot be read. Type a full path.")
    try:
        path = Path(text).expanduser().resolve()
    except (OSError, RuntimeError):  # a loop of links
        raise TypedPathError("That is not a path this server can resolve. Type a full path.") from None
    allowed = ", ".join(shown_path(r) for r in roots) or "none: the server's operator has listed no folder"
    typed = shown_path(text)[:200]
    if not inside(path, roots):
        raise TypedPathError(
            f"{typed} is outside the folders this server may read ({allowed}). Copy the data into "
            "one of them, or ask whoever runs the server to add its folder to RECENGINE_DATA_DIRS."
        )
    private = [Path(p).resolve() for p in private]
    if inside(path, private) or any(inside(folder, [path]) for folder in private):
        raise TypedPathError(
            "That path is, or holds, one of the server's private folders (uploads, profiles, models)."
        )
    try:
        if not path.exists():
            raise TypedPathError(f"There is no file or folder at {typed}.")
        if path.is_dir():
            _check_entries(path, roots, list(private), typed)
    except OSError as error:  # a name longer than the file system allows (probe 6), a folder not readable
        raise TypedPathError(
            f"{typed} cannot be read on the server ({error.strerror or 'unreadable'})."
        ) from None
    return path


def _check_entries(folder: Path, roots: list[Path], private: list[Path], typed: str) -> None:
    """Refuse a folder (``typed`` as the person typed it) holding a link that leads outside ``roots`` (or into
    ``private``), or too many entries to look through."""
    from dashboard.ui import TypedPathError

    count = 0
    for base, folders, files in os.walk(folder):
        for name in folders + files:
            count += 1
            if count > MAX_FOLDER_ENTRIES:
                raise TypedPathError(
                    f"{typed} holds more than {MAX_FOLDER_ENTRIES:,} files and folders. Give the path of the "
                    "data set's own folder or of its ratings file."
                )
            entry = Path(base, name)
            if entry.is_symlink() and (not inside(entry, roots) or inside(entry, private)):
                raise TypedPathError(
                    f"{typed} holds a link to a file or folder this server may not read, so it was not "
                    "loaded. Give the path of a folder without such links."
                )


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
