"""Where the dashboard keeps files, from environment variables (so tests and classrooms can move them).

- ``RECENGINE_HOME``: the root folder (default ``.recengine`` in the working directory);
- ``RECENGINE_STORE``: trained models (default: the engine's, ``models`` in the download cache folder,
  so the dashboard and the command line share one model cache);
- ``RECENGINE_STORE_MB``: size cap of the model store in megabytes (default 500);
- ``RECENGINE_PROFILES``: saved rating profiles (default ``$RECENGINE_HOME/profiles``);
- ``RECENGINE_UPLOADS``: uploaded data files (default ``$RECENGINE_HOME/uploads``);
- ``RECENGINE_UPLOAD_MB``: what one person's uploads (all their tabs) may take in all, unpacked, in
  megabytes (default 1,000), and once read, in memory (`dashboard.data.SessionData`);
- ``RECENGINE_UPLOAD_ADDRESS_MB``: what the uploads from one client address (all its people) may take in
  all, unpacked, in megabytes (default 4,000);
- ``RECENGINE_UPLOAD_MEMORY_MB``: what all sessions' uploaded files may take in the server's memory at once,
  in megabytes (default 1,000; Streamlit keeps each file there while its upload widget shows it); one
  person may hold a quarter of it, or ``RECENGINE_UPLOAD_MB`` if smaller, and one client address half
  (`dashboard.guards.UploadGate`);
- ``RECENGINE_DATA_CACHE_MB``: what the data sets every session may share (bundled, downloaded, server
  files, their filtered copies and splits) may hold in memory together, in megabytes (default 2,000; the
  least recently used leave first, `dashboard.data.SharedData`);
- ``RECENGINE_DATA_DIRS``: the folders (separated by ``os.pathsep``) from which a server-side path may
  be loaded, besides the data-set cache; none by default (see docs/threat-model.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from recengine.data import cache_dir
from recengine.data.loading import unzipped_folder
from recengine.store import default_store_folder


def home() -> Path:
    return Path(os.environ.get("RECENGINE_HOME", ".recengine")).expanduser().resolve()


def _folder(variable: str, default: str) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser().resolve() if value else home() / default


def store_folder() -> Path:
    return default_store_folder().resolve()


DEFAULT_STORE_MB = 500


def store_max_bytes() -> int:
    """``RECENGINE_STORE_MB`` in bytes; the default when it is not a positive number (see
    `store_max_bytes_problem`)."""
    return int((_store_mb() or DEFAULT_STORE_MB) * 1e6)


def store_max_bytes_problem() -> str | None:
    """What is wrong with ``RECENGINE_STORE_MB``, for a notice, or None."""
    if _store_mb() is None:
        text = os.environ.get("RECENGINE_STORE_MB", "")
        return f"RECENGINE_STORE_MB={text!r} is not a positive number of megabytes; the cap is {DEFAULT_STORE_MB} MB."
    return None


def _store_mb() -> float | None:
    text = os.environ.get("RECENGINE_STORE_MB", "").strip() or str(DEFAULT_STORE_MB)
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value < float("inf") else None


UPLOAD_ENV = "RECENGINE_UPLOAD_MB"
DEFAULT_UPLOAD_MB = 1_000


UPLOAD_ADDRESS_ENV = "RECENGINE_UPLOAD_ADDRESS_MB"
DEFAULT_UPLOAD_ADDRESS_MB = 4_000


UPLOAD_MEMORY_ENV = "RECENGINE_UPLOAD_MEMORY_MB"
DEFAULT_UPLOAD_MEMORY_MB = 1_000


DATA_CACHE_ENV = "RECENGINE_DATA_CACHE_MB"
DEFAULT_DATA_CACHE_MB = 2_000


def data_cache_bytes() -> int:
    """``RECENGINE_DATA_CACHE_MB`` in bytes: what the shared data sets and their filtered copies and splits may
    hold in memory, all sessions together (the default when the variable is not a positive number)."""
    return megabytes(DATA_CACHE_ENV, DEFAULT_DATA_CACHE_MB)


def upload_max_bytes() -> int:
    """``RECENGINE_UPLOAD_MB`` in bytes: what one person's uploads may take unpacked, all their tabs together
    (the default when the variable is not a positive number)."""
    return megabytes(UPLOAD_ENV, DEFAULT_UPLOAD_MB)


def upload_address_bytes() -> int:
    """``RECENGINE_UPLOAD_ADDRESS_MB`` in bytes: what the uploads from one client address may take unpacked,
    all its people together (minted cookies are new people)."""
    return megabytes(UPLOAD_ADDRESS_ENV, DEFAULT_UPLOAD_ADDRESS_MB)


def upload_memory_bytes() -> int:
    """``RECENGINE_UPLOAD_MEMORY_MB`` in bytes: what uploaded files may take in memory, all sessions together
    (the default when the variable is not a positive number)."""
    return megabytes(UPLOAD_MEMORY_ENV, DEFAULT_UPLOAD_MEMORY_MB)


def megabytes(variable: str, default: float) -> int:
    """``$variable`` megabytes in bytes, or ``default`` megabytes when it is not a positive number."""
    text = os.environ.get(variable, "").strip()
    try:
        megabytes = float(text) if text else default
    except ValueError:
        megabytes = default
    if not 0 < megabytes < float("inf"):
        megabytes = default
    return int(megabytes * 1e6)


def profiles_folder() -> Path:
    return _folder("RECENGINE_PROFILES", "profiles")


def uploads_folder() -> Path:
    return _folder("RECENGINE_UPLOADS", "uploads")


def data_roots() -> list[Path]:
    """Folders a server-side data path must lie in: the data-set cache and those the operator lists."""
    listed = [p for p in os.environ.get("RECENGINE_DATA_DIRS", "").split(os.pathsep) if p.strip()]
    return [root.expanduser().resolve() for root in (cache_dir(), *map(Path, listed))]


def private_folders() -> list[Path]:
    """Folders never readable as a server path, even inside an allowed folder: uploads, profiles, models,
    and the zips the command line unpacked into the cache (a teacher's private data set, probe 3)."""
    return [uploads_folder(), profiles_folder(), store_folder(), unzipped_folder()]
