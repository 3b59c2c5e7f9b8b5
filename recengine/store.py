"""Trained models on disk: one ``.npz`` file each, and a size-capped cache of them.

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays, each with a CRC) holding the model's
learned arrays (``model.state()``), the id maps of its data set (``__user_ids__``, ``__item_ids__``) and a
JSON document (``__metadata__``, UTF-8 bytes): format version, algorithm, hyperparameters, rating scale,
the training data's fingerprint, history, metrics, ``extra`` and a digest of every array. Nothing is ever
unpickled (``allow_pickle=False``). Files are written to a temporary file in the same folder, flushed to
disk and renamed over the target, so a reader sees the old file or the new one, never half of one.

Where a model's ratings come from: by convention ``extra`` holds ``"data"`` (the data spec the model was
trained from, as ``recengine.data.load`` takes it), ``"split"`` and ``"seed"`` (the split spec and seed
that made its training side). The command line reloads the data that way to show titles and a user's
ratings, and the fingerprint stored in the file proves it got the same ratings back.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import lzma
import os
import re
import struct
import tempfile
import time
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from recengine.dataset import RatingScale, RatingsDataset
from recengine.errors import ModelFileError, RecEngineError
from recengine.jsonsafe import json_safe
from recengine.models import MODELS
from recengine.models.base import Recommender
from recengine.training import History

FORMAT = "recengine-model"
FORMAT_VERSION = 1
METADATA = "__metadata__"
USER_IDS, ITEM_IDS = "__user_ids__", "__item_ids__"
DEFAULT_MAX_BYTES = 512 * 1024**2
# The metadata fields a model file must have (and those it may have) and their JSON types.
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "algorithm": str, "params": dict, "state": list, "scale": dict, "fingerprint": str, "history": list,
    "n_users": int, "n_items": int, "digest": str, "data_fingerprint": str, "data_name": str, "kind": str,
    "fit_seconds": (int, float), "metrics": dict, "extra": dict, "created": str,
}  # fmt: skip
# What zipfile and NumPy raise for a damaged archive: a bad header, a flipped compression method
# (NotImplementedError, zlib, bz2 or lzma errors), a flipped encryption flag (RuntimeError), a short read,
# an array header that no longer parses (SyntaxError, TokenError) or claims an impossible size (MemoryError).
UNREADABLE = (
    zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError, zlib.error, lzma.LZMAError, struct.error,
    SyntaxError, tokenize.TokenError, MemoryError,
)  # fmt: skip
REQUIRED_FIELDS = ("algorithm", "params", "state", "scale", "fingerprint", "history", "n_users", "n_items")


# --- one model file -------------------------------------------------------------------------------------


def save_model(
    model: Recommender,
    path: str | os.PathLike,
    *,
    data: RatingsDataset | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a fitted model to ``path`` atomically; ``data`` (the training set or its parent) adds id maps.

    ``metrics`` and ``extra`` must be JSON-friendly (NumPy scalars are converted); see the module
    docstring for the keys of ``extra`` the command line understands.
    """
    model._check_fitted()
    state = {name: np.asarray(value) for name, value in model.state().items()}
    arrays = dict(state)
    if data is not None:
        arrays[USER_IDS], arrays[ITEM_IDS] = _ids(data.user_ids), _ids(data.item_ids)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "algorithm": model.name,
        "kind": model.kind,
        "params": model.get_params(),
        "scale": model.scale_.to_dict(),
        "fingerprint": model.fingerprint_,
        "data_fingerprint": None if data is None else data.fingerprint,
        "data_name": None if data is None else data.name,
        "n_users": int(model.n_users_),
        "n_items": int(model.n_items_),
        "history": model.history_.to_dicts(),
        "fit_seconds": float(getattr(model, "fit_seconds_", 0.0)),
        "metrics": metrics or {},
        "extra": extra or {},
        "state": sorted(state),
        "digest": _digest(arrays),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    text = json.dumps(json_safe(metadata), allow_nan=False, sort_keys=True)
    arrays[METADATA] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return _write_atomically(Path(path), arrays)


def _ids(ids: np.ndarray) -> np.ndarray:
    """Id maps as arrays NumPy stores without pickle: int64 or fixed-width unicode."""
    return ids.astype(np.int64) if ids.dtype.kind in "iu" else ids.astype(str)


def _digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _write_atomically(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the platform allows it
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata of a model file, without loading its arrays."""
    path = Path(path)
    with _opened(path) as archive:
        return _metadata(path, archive)


def load_model(path: str | os.PathLike, data: RatingsDataset | None = None) -> Recommender:
    """A fitted model from ``path``. With ``data``, it must be the data set the model was trained on (its
    training side or the whole set it came from). Raises `ModelFileError` for a missing, truncated or
    corrupted file, a newer format, an unknown algorithm or a data-set mismatch.

    The loaded model carries ``metadata_`` (the file's metadata), ``user_ids_`` and ``item_ids_`` (or
    None when the file has no id maps).
    """
    path = Path(path)
    with _opened(path) as archive:
        metadata = _metadata(path, archive)
        arrays = {name: _array(path, archive, name) for name in archive.files if name != METADATA}
    if _digest(arrays) != metadata.get("digest"):
        raise ModelFileError(f"{path} is corrupted: its arrays do not match the digest written with them.")
    cls = MODELS.get(metadata["algorithm"])
    if cls is None:
        raise ModelFileError(
            f"{path} holds a {metadata['algorithm']!r} model, which this version of recengine does not know. "
            f"Known algorithms: {', '.join(sorted(MODELS))}."
        )
    if data is not None:
        check_data(metadata, data, path)
    try:
        model = cls(cls.Params.from_dict(metadata["params"]))
        state = {name: arrays[name] for name in metadata["state"]}
        model.restore(
            state,
            RatingScale.from_dict(metadata["scale"]),
            metadata["fingerprint"],
            History.from_dicts(metadata["history"]),
        )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecEngineError) as error:
        raise ModelFileError(f"{path} does not describe a valid {cls.name} model: {error!r}") from error
    _check_state(path, model, metadata, arrays)
    model.fit_seconds_ = float(metadata.get("fit_seconds") or model.fit_seconds_)
    model.metadata_ = metadata
    model.user_ids_, model.item_ids_ = arrays.get(USER_IDS), arrays.get(ITEM_IDS)
    return model


def _check_state(
    path: Path, model: Recommender, metadata: dict[str, Any], arrays: dict[str, np.ndarray]
) -> None:
    """Refuse learned arrays whose shapes disagree with each other or the metadata, or that hold NaN or inf.

    The compiled prediction kernels do not check bounds: a hand-edited user count or factor matrix would
    read outside its arrays (and crash the process) instead of raising.
    """
    n_users, n_items = model.n_users_, model.n_items_
    k = model.user_factors_.shape[1] if getattr(model, "user_factors_", None) is not None else None
    if k is not None and getattr(model.params, "n_factors", k) != k:
        raise ModelFileError(
            f"{path} is corrupted: its parameters say n_factors={model.params.n_factors} but its factors have {k}."
        )
    for name, array in model.state().items():
        rows = n_users if name.startswith(("user", "implicit_user")) else n_items
        problem = None
        if array.dtype.kind != "f" or not np.isfinite(array).all():
            problem = "is not an array of finite numbers"
        elif name.endswith("factors_") and (array.ndim != 2 or array.shape != (rows, k)):
            problem = f"has shape {array.shape}, expected ({rows}, {k})"
        elif name.endswith("bias_") and array.shape != (rows,):
            problem = f"has shape {array.shape}, expected ({rows},)"
        if problem:
            raise ModelFileError(f"{path} is corrupted: its array {name!r} {problem}.")
    counts = [("n_users", n_users), ("n_items", n_items)]
    counts += [
        (name, len(arrays[ids]))
        for name, ids in (("n_users", USER_IDS), ("n_items", ITEM_IDS))
        if ids in arrays
    ]
    for name, size in counts:
        if metadata.get(name) != size:
            raise ModelFileError(
                f"{path} is corrupted: its metadata says {name}={metadata.get(name)!r} but its arrays hold {size}."
            )


def check_data(metadata: dict[str, Any], data: RatingsDataset, path: str | os.PathLike) -> None:
    """Refuse a data set that is not the one the model in ``path`` was trained on."""
    known = {metadata.get("fingerprint"), metadata.get("data_fingerprint")} - {None}
    if data.fingerprint not in known:
        raise ModelFileError(
            f"{path} was trained on another data set (fingerprint {metadata.get('fingerprint')}); "
            f"{data.name!r} has fingerprint {data.fingerprint}. Load the data set and split it was trained on."
        )


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """The model file as an open NpzFile. We open the file ourselves: ``np.load(path)`` leaves its handle
    open when the archive cannot be read (a ResourceWarning and a leaked descriptor per damaged file)."""
    if not path.is_file():
        raise ModelFileError(f"There is no model file at {path}.")
    with path.open("rb") as handle:
        try:
            archive = np.load(handle, allow_pickle=False)
        except UNREADABLE as error:
            if isinstance(error, ValueError) and "pickle" in str(error):  # neither .npz nor .npy
                raise ModelFileError(
                    f"{path} is not a recengine model file (not a NumPy archive). Give the .npz file that "
                    "recengine train --out or the dashboard wrote."
                ) from error
            raise ModelFileError(
                f"{path} is not a readable model file (truncated or corrupted): {error!r}"
            ) from error
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ModelFileError(f"{path} is a single NumPy array, not a recengine model file.")
        with archive:
            yield archive


def _array(path: Path, archive: Any, name: str) -> np.ndarray:
    try:
        return archive[name]
    except UNREADABLE as error:
        raise ModelFileError(f"{path} is corrupted (array {name!r}: {error!r}).") from error


def _metadata(path: Path, archive: Any) -> dict[str, Any]:
    if METADATA not in archive.files:
        raise ModelFileError(f"{path} is not a recengine model file: it has no metadata.")
    try:
        metadata = json.loads(_array(path, archive, METADATA).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path} is corrupted: its metadata is not valid JSON ({error}).") from error
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a recengine model file.")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer recengine (model format {version}); this one reads format "
            f"{FORMAT_VERSION} and older. Upgrade recengine to load it."
        )
    for name, kinds in FIELD_TYPES.items():
        value = metadata.get(name)
        wrong_type = value is not None and (isinstance(value, bool) or not isinstance(value, kinds))
        if wrong_type or (value is None and name in REQUIRED_FIELDS):
            raise ModelFileError(f"{path} is corrupted: its metadata field {name!r} is {value!r}.")
    return metadata


# --- the cache ------------------------------------------------------------------------------------------


def cache_key(fingerprint: str, algo: str, params: dict[str, Any], split: str, seed: int) -> str:
    """The same (data, algorithm, hyperparameters, split, seed) gives the same key in any process."""
    identity = {
        "data": fingerprint,
        "algo": algo,
        "params": json_safe(params),
        "split": str(split),
        "seed": seed,
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def default_store_folder() -> Path:
    """``$RECENGINE_STORE``, else ``models`` in the per-user cache folder."""
    if configured := os.environ.get("RECENGINE_STORE"):
        return Path(configured).expanduser()
    from recengine.data.download import cache_dir

    return cache_dir() / "models"


class ModelStore:
    """Trained models by cache key, in one folder, at most ``max_bytes`` in all.

    ``get`` marks an entry as used; ``put`` evicts the least recently used entries (never the one just
    written) when the folder grows over the cap. An advisory lock file (``fcntl``) serializes writers and
    eviction across processes; every file is also written atomically, so readers never see half a file.
    """

    SUFFIX = ".npz"

    def __init__(self, folder: str | os.PathLike | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        if max_bytes <= 0:
            raise RecEngineError(
                f"max_bytes={max_bytes} is not allowed: the store needs a positive size cap."
            )
        self.folder = Path(folder).expanduser() if folder is not None else default_store_folder()
        self.max_bytes = int(max_bytes)
        self.folder.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"ModelStore({str(self.folder)!r}, max_bytes={self.max_bytes:,})"

    def path(self, key: str) -> Path:
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", key):
            raise RecEngineError(
                f"{key!r} is not a valid cache key: use 1 to 128 ASCII letters, digits, '-' and '_'."
            )
        return self.folder / f"{key}{self.SUFFIX}"

    @contextlib.contextmanager
    def _locked(self, shared: bool = False) -> Iterator[None]:
        with open(self.folder / ".lock", "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str, data: RatingsDataset | None = None) -> Recommender | None:
        """The model stored under ``key``, or None; a damaged entry is removed and counts as missing.

        With ``data``, a model trained on other data raises `ModelFileError` (see `load_model`).
        """
        path = self.path(key)
        with self._locked(shared=True):
            if not path.is_file():
                return None
            try:
                model = load_model(path)
            except ModelFileError:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                return None
            with contextlib.suppress(FileNotFoundError):
                os.utime(path)  # the modification time records the last use
        if data is not None:
            check_data(model.metadata_, data, path)
        model.store_key_ = key
        return model

    def put(
        self,
        key: str,
        model: Recommender,
        *,
        data: RatingsDataset | None = None,
        metrics: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """Store ``model`` under ``key`` (replacing any entry) and evict old entries beyond the cap."""
        path = self.path(key)
        with self._locked():
            self._remove_debris()
            save_model(model, path, data=data, metrics=metrics, extra=extra)
            self._evict(keep=path)
        model.store_key_ = key
        return path

    def get_or_train(
        self,
        key: str,
        train_fn: Callable[[], Recommender | tuple[Recommender, dict[str, Any]]],
        *,
        data: RatingsDataset | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Recommender:
        """The stored model, or ``train_fn()`` (a fitted model, or (model, metrics)) stored and returned.

        The result's ``from_cache_`` says which happened.
        """
        model = self.get(key)
        if model is not None:
            model.from_cache_ = True
            return model
        result = train_fn()
        model, metrics = result if isinstance(result, tuple) else (result, None)
        self.put(key, model, data=data, metrics=metrics, extra=extra)
        model.from_cache_ = False
        return model

    def remove(self, key: str) -> bool:
        with self._locked(), contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()
            return True
        return False

    def entries(self) -> list[Path]:
        return sorted(self.folder.glob(f"*{self.SUFFIX}"))

    def total_bytes(self) -> int:
        return sum(_size(p) for p in self.entries())

    def list(self) -> list[dict[str, Any]]:
        """Every readable entry's metadata plus key, path, bytes and last_used (a Unix time), newest first."""
        rows = []
        for path in self.entries():
            try:
                metadata = read_metadata(path)
                stat = path.stat()
            except (ModelFileError, FileNotFoundError):
                continue
            rows.append({**metadata, "key": path.stem, "path": str(path), "bytes": stat.st_size,
                         "last_used": stat.st_mtime})  # fmt: skip
        return sorted(rows, key=lambda row: -row["last_used"])

    def _remove_debris(self) -> None:
        """Delete temporary files left by writers that were killed mid-save (call with the write lock held:
        then no writer of this store is saving)."""
        for partial in self.folder.glob(f".*{self.SUFFIX}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()

    def _evict(self, keep: Path) -> list[Path]:
        """Remove least recently used entries until the total fits the cap (never ``keep``)."""
        entries = [(p, p.stat()) for p in self.entries() if p.exists()]
        total = sum(stat.st_size for _, stat in entries)
        removed = []
        for path, stat in sorted(entries, key=lambda e: e[1].st_mtime):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
            total -= stat.st_size
        return removed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
