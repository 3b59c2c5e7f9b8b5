"""Where the dashboard keeps files, from environment variables (so tests and classrooms can move them).

- ``RECENGINE_HOME``: the root folder (default ``.recengine`` in the working directory);
- ``RECENGINE_STORE``: trained models (default: the engine's, ``models`` in the download cache folder,
  so the dashboard and the command line share one model cache);
- ``RECENGINE_STORE_MB``: size cap of the model store in megabytes (default 500);
- ``RECENGINE_PROFILES``: saved rating profiles (default ``$RECENGINE_HOME/profiles``);
- ``RECENGINE_UPLOADS``: uploaded data files (default ``$RECENGINE_HOME/uploads``);
- ``RECENGINE_DATA_DIRS``: the folders (separated by ``os.pathsep``) from which a server-side path may
  be loaded, besides the data-set cache; none by default (see docs/threat-model.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from recengine.data import cache_dir
from recengine.store import default_store_folder


def home() -> Path:
    return Path(os.environ.get("RECENGINE_HOME", ".recengine")).expanduser().resolve()


def _folder(variable: str, default: str) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser().resolve() if value else home() / default


def store_folder() -> Path:
    return default_store_folder().resolve()


def store_max_bytes() -> int:
    return int(float(os.environ.get("RECENGINE_STORE_MB", "500")) * 1e6)


def profiles_folder() -> Path:
    return _folder("RECENGINE_PROFILES", "profiles")


def uploads_folder() -> Path:
    return _folder("RECENGINE_UPLOADS", "uploads")


def data_roots() -> list[Path]:
    """Folders a server-side data path must lie in: the data-set cache and those the operator lists."""
    listed = [p for p in os.environ.get("RECENGINE_DATA_DIRS", "").split(os.pathsep) if p.strip()]
    return [root.expanduser().resolve() for root in (cache_dir(), *map(Path, listed))]


def private_folders() -> list[Path]:
    """Folders never readable as a server path, even inside an allowed folder: uploads, profiles, models."""
    return [uploads_folder(), profiles_folder(), store_folder()]
