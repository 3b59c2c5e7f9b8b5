"""Trained models on disk: one ``.npz`` file each, and a size-capped cache of them.

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays, each with a CRC) holding the model's
learned arrays (``model.state()``), the id maps of its data set (``__user_ids__``, ``__item_ids__``) and a
JSON document (``__metadata__``, UTF-8 bytes): format version, algorithm, hyperparameters, rating scale,
the training data's fingerprint, history, metrics, ``extra`` and a digest of every array. Nothing is ever
unpickled (``allow_pickle=False``). Files are written to a temporary file in the same folder, flushed to
disk and renamed over the target, so a reader sees the old file or the new one, never half of one.

Where a model's ratings come from: by convention ``extra`` holds ``"data"`` (the data spec the model was
trained from, as ``recengine.data.load`` takes it; a file by its name only, no folders), ``"split"`` and
``"seed"`` (the split spec and seed that made its training side). The command line reloads the data that
way to show titles and a user's ratings, and the fingerprint stored in the file proves it got the same
ratings back.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import lzma
import math
import os
import re
import struct
import tempfile
import time
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recengine import memory
from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.errors import ModelFileError, RecEngineError
from recengine.jsonsafe import json_safe
from recengine.models import MODELS
from recengine.models.base import Recommender
from recengine.training import AFTER_EPOCH, DURING_EPOCH, History

FORMAT = "recengine-model"
FORMAT_VERSION = 1
METADATA = "__metadata__"
USER_IDS, ITEM_IDS = "__user_ids__", "__item_ids__"
DEFAULT_MAX_BYTES = 512 * 1024**2
# Of a store's cap: while whoever stored entries holds more than this, their own entries are evicted first.
OWNER_SHARE = 0.25
# The metadata fields a model file must have (and those it may have) and their JSON types.
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "algorithm": str, "params": dict, "state": list, "scale": dict, "fingerprint": str, "history": list,
    "n_users": int, "n_items": int, "digest": str, "data_fingerprint": str, "data_name": str, "kind": str,
    "fit_seconds": (int, float), "metrics": dict, "extra": dict, "created": str, "stored_by": str,
}  # fmt: skip
# What zipfile and NumPy raise for a damaged archive: a bad header, a flipped compression method
# (NotImplementedError, zlib, bz2 or lzma errors), a flipped encryption flag (RuntimeError), a short read,
# an array header that no longer parses (SyntaxError, TokenError) or claims an impossible size (MemoryError).
UNREADABLE = (
    zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError, zlib.error, lzma.LZMAError, struct.error,
    SyntaxError, tokenize.TokenError, MemoryError,
)  # fmt: skip
REQUIRED_FIELDS = ("algorithm", "params", "state", "scale", "fingerprint", "history", "n_users", "n_items")
# What every refusal of a damaged or crafted model file tells the person to do.
RESAVE = "Retrain the model and save it again."


# --- one model file -------------------------------------------------------------------------------------


def save_model(
    model: Recommender,
    path: str | os.PathLike,
    *,
    data: RatingsDataset | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    stored_by: str | None = None,
) -> Path:
    """Write a fitted model to ``path`` atomically; ``data`` (the training set or its parent) adds id maps.

    ``metrics`` and ``extra`` must be JSON-friendly (NumPy scalars are converted); see the module
    docstring for the keys of ``extra`` the command line understands. ``stored_by`` is an opaque name of
    who stored it (see `ModelStore.put`).
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
    if stored_by:
        metadata["stored_by"] = stored_by
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
    """The JSON metadata of a model file, without loading its arrays (checked against the file's zip
    directory and array headers first, see `inspect_arrays`)."""
    path = Path(path)
    headers = inspect_arrays(path)
    with _opened(path) as archive:
        metadata = _metadata(path, archive, headers)
    check_arrays(path, metadata, headers)
    return metadata


class NewerFormatError(ModelFileError):
    """The file was written by a newer recengine: skipped, never deleted, by the store."""


# Members larger than this that are compressed more than `MAX_RATIO` times are refused unread: recengine
# writes arrays uncompressed, and float factors barely compress; a 6 GB array in 7 MB is a bomb.
MAX_RATIO = 20
RATIO_FLOOR_BYTES = 1 << 20
MAX_METADATA_BYTES = 64 * 1024**2
# A Bayesian model's sampled prior for a new person (`bsvdpp`): a mean and a precision per factor and the bias,
# and the rating noise's precision.
PRIOR_VECTORS = frozenset(("prior_mean_", "prior_precision_"))
PRIOR_SCALARS = frozenset(("noise_precision_",))
# An ordered-probit link's cut points and the rating values they separate (`bsvdpp`; empty without it).
ORDINAL_VECTORS = frozenset(("cutpoints_", "levels_"))
MAX_LEVELS = 1025
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


@dataclass(frozen=True)
class ArrayHeader:
    """What a ``.npy`` member declares: dtype and shape, from its header alone."""

    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def inspect_arrays(path: Path) -> dict[str, ArrayHeader]:
    """Every array's header, read from the zip directory and the first bytes of each member: sizes that
    disagree with the headers, compression bombs, object arrays and non-array members are refused before
    anything is decompressed."""
    if not path.is_file():
        raise ModelFileError(f"There is no model file at {path}.")
    with path.open("rb") as handle:
        if handle.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise ModelFileError(
                f"{path} is not a recengine model file (not a NumPy archive). Give the .npz file that "
                "recengine train --out or the dashboard wrote."
            )
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                if not info.filename.endswith(".npy") or name in headers:
                    raise ModelFileError(f"{path} is not a recengine model file: it holds {info.filename!r}.")
                if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * info.compress_size:
                    raise ModelFileError(
                        f"{path} is refused: its array {name!r} is compressed {info.file_size / max(info.compress_size, 1):,.0f} "
                        f"times ({info.file_size:,} bytes in {info.compress_size:,}); recengine writes arrays uncompressed."
                    )
                with archive.open(info) as member:
                    header = _header(member)
                    start = member.tell()
                if header.dtype.hasobject or start + header.nbytes != info.file_size:
                    raise ModelFileError(
                        f"{path} is corrupted: its array {name!r} declares {info.file_size:,} bytes but its header "
                        f"says {header.dtype.str} {header.shape}."
                    )
                headers[name] = header
    except ModelFileError:
        raise
    except UNREADABLE:
        raise ModelFileError(unreadable(path)) from None
    return headers


def unreadable(path: Path) -> str:
    """The message for an archive that zipfile or NumPy cannot read: what they said is about their own
    internals (a CRC, a zlib stream), so it is left out."""
    return f"{path} is not a readable model file: it is truncated or corrupted. {RESAVE}"


def _header(member: Any) -> ArrayHeader:
    version = np.lib.format.read_magic(member)
    reader = _HEADER_READERS.get(version)
    if reader is None:
        raise ValueError(f"array format {version}")
    shape, _, dtype = reader(member, max_header_size=10_000)
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"shape {shape}")
    return ArrayHeader(np.dtype(dtype), tuple(shape))


def check_arrays(path: Path, metadata: dict[str, Any], headers: dict[str, ArrayHeader]) -> None:
    """Refuse, from the headers alone, arrays the metadata does not name (unknown ones stay unread), shapes
    or types that disagree with it, and arrays that together exceed the memory budget."""
    expected = {METADATA, USER_IDS, ITEM_IDS, *metadata["state"]}
    if unknown := sorted(set(headers) - expected):
        raise ModelFileError(
            f"{path} is refused: it holds arrays its metadata does not name ({unknown[:5]})."
        )
    if missing := sorted(set(metadata["state"]) - set(headers)):
        raise ModelFileError(f"{path} is corrupted: the arrays {missing[:5]} its metadata names are missing.")
    n_users, n_items = metadata["n_users"], metadata["n_items"]
    factors = metadata["params"].get("n_factors", 0)
    for name, header in headers.items():
        problem = _shape_problem(name, header, n_users, n_items, factors)
        if problem:
            raise ModelFileError(f"{path} is corrupted: its array {name!r} {problem}.")
    memory.check(
        sum(header.nbytes for header in headers.values()),
        f"Loading the model file {path.name}",
        "Load it on a machine with more memory, or raise the budget (RECENGINE_MEMORY_BUDGET).",
    )


def _shape_problem(name: str, header: ArrayHeader, n_users: int, n_items: int, factors: object) -> str | None:
    """What is wrong with array ``name`` of this header, for a model of this size (None: nothing)."""
    dtype, shape = header.dtype, header.shape
    rows = n_users if name.startswith(("user", "implicit_user", USER_IDS)) else n_items
    if name == METADATA:
        wanted, ok = (
            "1-d uint8, at most 64 MB",
            dtype == np.uint8 and len(shape) == 1 and shape[0] <= MAX_METADATA_BYTES,
        )
    elif name in (USER_IDS, ITEM_IDS):
        wanted = f"({rows},) int64 or text of at most 1,000 characters"
        ok = shape == (rows,) and (dtype == np.int64 or (dtype.kind == "U" and dtype.itemsize <= 4_000))
    elif dtype.kind != "f" or dtype.itemsize not in (4, 8):
        return f"holds {dtype.str} values, expected float32 or float64"
    elif name == "global_mean_":
        wanted, ok = "()", shape == ()
    elif name.endswith("bias_"):
        wanted, ok = f"({rows},)", shape == (rows,)
    elif name in PRIOR_VECTORS:
        k = factors if isinstance(factors, int) and not isinstance(factors, bool) else None
        wanted = f"({k + 1 if k is not None else 'n_factors + 1'},)"
        ok = len(shape) == 1 and (shape[0] == k + 1 if k is not None else shape[0] <= 1025)
    elif name in PRIOR_SCALARS:
        wanted, ok = "()", shape == ()
    elif name in ORDINAL_VECTORS:
        wanted, ok = f"(at most {MAX_LEVELS},)", len(shape) == 1 and shape[0] <= MAX_LEVELS
    elif name.endswith("factors_"):
        k = factors if isinstance(factors, int) and not isinstance(factors, bool) else None
        wanted = f"({rows}, {k if k is not None else 'n_factors'})"
        ok = len(shape) == 2 and shape[0] == rows and (shape[1] == k if k is not None else shape[1] <= 1024)
    else:
        return "is not an array any recengine model has"
    return None if ok else f"has {dtype.str} {shape}, expected {wanted}"


def load_model(path: str | os.PathLike, data: RatingsDataset | None = None) -> Recommender:
    """A fitted model from ``path``. With ``data``, it must be the data set the model was trained on (its
    training side or the whole set it came from). Raises `ModelFileError` for a missing, truncated or
    corrupted file, a newer format, an unknown algorithm or a data-set mismatch.

    The loaded model carries ``metadata_`` (the file's metadata), ``user_ids_`` and ``item_ids_`` (or
    None when the file has no id maps).
    """
    path = Path(path)
    headers = inspect_arrays(path)
    with _opened(path) as archive:
        metadata = _metadata(path, archive, headers)
        check_arrays(path, metadata, headers)
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
    model = _restored(path, cls, metadata, arrays)
    _check_state(path, model, metadata, arrays)
    model.fit_seconds_ = float(metadata.get("fit_seconds") or model.fit_seconds_)
    model.metadata_ = metadata
    model.user_ids_, model.item_ids_ = arrays.get(USER_IDS), arrays.get(ITEM_IDS)
    return model


def _restored(
    path: Path, cls: type[Recommender], metadata: dict[str, Any], arrays: dict[str, np.ndarray]
) -> Recommender:
    """A model of ``cls`` from checked metadata and arrays; each part that does not fit is refused with a
    message in plain words (our own errors' text, never an exception's class or repr)."""

    def refuse(problem: str) -> ModelFileError:
        return ModelFileError(f"{path} does not describe a valid {cls.name} model: {problem} {RESAVE}")

    try:
        params = cls.Params.from_dict(metadata["params"])
    except RecEngineError as error:  # ParameterError: its message names the parameter and what is allowed
        raise refuse(str(error)) from None
    try:
        scale = RatingScale.from_dict(metadata["scale"])
    except (KeyError, TypeError, ValueError, RecEngineError):
        raise refuse(
            f"its rating scale {_short(metadata['scale'])} is not finite 'min' < 'max' with an optional 'step'."
        ) from None
    state = {name: arrays[name] for name in metadata["state"]}
    missing = [name for name in _required_state(cls, params) if name not in state]
    if missing:
        raise refuse(f"it lacks the learned arrays {missing[:5]}.")
    model = cls(params)
    model.restore(state, scale, metadata["fingerprint"], History.from_dicts(metadata["history"]))
    return model


def _required_state(cls: type[Recommender], params: Any) -> list[str]:
    """The learned arrays a fitted ``cls`` with ``params`` always has (factors may have 0 columns): all its
    `Recommender.state_names` and the global mean, but biases without ``biases`` and SVD++'s item-side
    implicit factors without ``item_implicit``."""
    optional = set()
    if getattr(params, "biases", True) is False:
        optional |= {"user_bias_", "item_bias_"}
    if getattr(params, "item_implicit", True) is False:
        optional |= {"item_own_factors_", "implicit_user_factors_"}
    return [name for name in ("global_mean_", *cls.state_names) if name not in optional]


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
    _check_magnitudes(path, model, k or 0)
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
    for side, ids in (("user", USER_IDS), ("item", ITEM_IDS)):
        values, counted = np.unique(arrays[ids], return_counts=True) if ids in arrays else ([], [])
        if len(values) and counted.max() > 1:
            raise ModelFileError(
                f"{path} is corrupted: {side} id {values[counted.argmax()].item()!r} is held by {counted.max()} rows "
                f"of its {side} map, and each {side} has one row."
            )


def largest_safe_value(dtype: np.dtype, n_factors: int, n_rows: int) -> float:
    """The largest magnitude B of the values a score is made of (factors, biases, the global mean: see
    `_check_magnitudes`) for which nothing computed from the scores overflows ``dtype``: B = √(S / (k + 3))
    with S = √(max / (4 n)), max the dtype's largest finite number, k the factors per row, n the larger of
    the user and item counts.

    A score p·q + μ + b_u + b_i is at most k B² + 3 B ≤ (k + 3) B² = S (B ≥ 1: max ≥ 3·10³⁸). Lists multiply
    scores too (a least-squares fit of a person's scores on everyone's, Σ s g over the films), so S is what
    keeps a sum of n products of two scores, or of their differences (at most 2 S each), within max; the
    Gram matrix Σ q qᵀ a fold-in solves over the rated films and a cluster's distances are smaller still.
    Trained values stay far below: for float32, 1,000 factors and a million rows, B ≈ 3·10⁶.
    """
    largest_score = math.sqrt(float(np.finfo(dtype).max) / (4 * max(n_rows, 1)))
    return math.sqrt(largest_score / (n_factors + 3))


def _check_magnitudes(path: Path, model: Recommender, k: int) -> None:
    """Refuse the values scores are made of beyond `largest_safe_value` for the least precise of their
    dtypes (arrays are cast to each other's dtype when combined): factors, biases, the global mean, a
    newcomer's prior mean (a user vector) and an ordered link's cut points and rating levels."""
    scored = {
        name: array
        for name, array in model.state().items()
        if name.endswith(("factors_", "bias_")) or name in ("global_mean_", "prior_mean_", *ORDINAL_VECTORS)
    }
    dtype = min((array.dtype for array in scored.values()), key=lambda d: np.finfo(d).max)
    limit = largest_safe_value(dtype, k, max(model.n_users_, model.n_items_))
    for name, array in scored.items():
        peak = max(float(array.max()), -float(array.min())) if array.size else 0.0
        if peak > limit:
            raise ModelFileError(
                f"{path} does not describe a valid {model.name} model: its array {name!r} holds values up to "
                f"{peak:.3g}, beyond the ±{limit:.3g} within which its scores cannot overflow. {RESAVE}"
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
            raise ModelFileError(unreadable(path)) from error
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ModelFileError(f"{path} is a single NumPy array, not a recengine model file.")
        with archive:
            yield archive


def _array(path: Path, archive: Any, name: str) -> np.ndarray:
    try:
        return archive[name]
    except UNREADABLE as error:
        raise ModelFileError(f"{path} is corrupted: its array {name!r} cannot be read. {RESAVE}") from error


def _metadata(path: Path, archive: Any, headers: dict[str, ArrayHeader]) -> dict[str, Any]:
    if METADATA not in archive.files or METADATA not in headers:
        raise ModelFileError(f"{path} is not a recengine model file: it has no metadata.")
    if (problem := _shape_problem(METADATA, headers[METADATA], 0, 0, 0)) is not None:
        raise ModelFileError(f"{path} is corrupted: its metadata {problem}.")
    raw = _array(path, archive, METADATA)
    _check_metadata_memory(path, raw)
    try:
        metadata = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path} is corrupted: its metadata is not valid JSON ({error}).") from None
    except ValueError:  # an integer of thousands of digits: Python's integer-string limit
        raise ModelFileError(f"{path} is corrupted: its metadata holds a number too long to read.") from None
    except RecursionError:
        metadata = None
    if metadata is None or _depth_over(metadata, MAX_METADATA_DEPTH):
        raise ModelFileError(
            f"{path} is corrupted: its metadata is nested more than {MAX_METADATA_DEPTH} levels deep."
        )
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a recengine model file.")
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{path} is corrupted: its metadata field 'format_version' is {version!r}.")
    if version > FORMAT_VERSION:
        raise NewerFormatError(
            f"{path} was written by a newer recengine (model format {version}); this one reads format "
            f"{FORMAT_VERSION} and older. Upgrade recengine to load it."
        )
    for name, kinds in FIELD_TYPES.items():
        value = metadata.get(name)
        wrong_type = value is not None and (isinstance(value, bool) or not isinstance(value, kinds))
        if wrong_type or (value is None and name in REQUIRED_FIELDS):
            raise ModelFileError(f"{path} is corrupted: its metadata field {name!r} is {_short(value)}.")
    _check_fields(path, metadata)
    return metadata


# Parsing JSON makes objects far larger than their text: ``{}`` (2 bytes) is a 64-byte dict. The estimate
# counts what a parse makes from the text alone, so a small file of empty lists is refused before it is
# parsed; a real model's metadata (its history: about 450 bytes an epoch) is estimated at 3 times its text.
MAX_METADATA_DEPTH = 32
PARSED_CONTAINER_BYTES = 120  # a dict or list and its slot in its parent
PARSED_VALUE_BYTES = 40  # a float or string and its slot
MAX_METADATA_MEMORY = 256 * 1024**2


def _check_metadata_memory(path: Path, raw: np.ndarray) -> None:
    """Refuse metadata whose parse would take more than `MAX_METADATA_MEMORY` or the memory budget,
    estimated from counts of its brackets and separators (no copy of the text is made)."""
    containers = sum(int(np.count_nonzero(raw == ord(c))) for c in "[{")
    values = sum(int(np.count_nonzero(raw == ord(c))) for c in ",:") + 1
    need = 2 * raw.size + containers * PARSED_CONTAINER_BYTES + values * PARSED_VALUE_BYTES
    if need > MAX_METADATA_MEMORY:
        raise ModelFileError(
            f"{path} is refused: its metadata ({raw.size:,} bytes of JSON, {containers:,} lists and objects) "
            f"would take about {memory.format_size(need)} to read; a model's takes a few megabytes."
        )
    memory.check(need, f"Reading the metadata of {path.name}", "Load it on a machine with more memory.")


def _depth_over(value: object, limit: int) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` deep (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _check_fields(path: Path, metadata: dict[str, Any]) -> None:
    """The values inside the fields whose types `FIELD_TYPES` checked; ``fit_seconds`` null becomes 0."""
    problems = {
        "n_users": not metadata["n_users"] >= 1,
        "n_items": not metadata["n_items"] >= 1,
        "state": not all(isinstance(name, str) and name.endswith("_") for name in metadata["state"]),
        "fit_seconds": not _finite(metadata.get("fit_seconds") or 0.0, minimum=0.0),
        "metrics": not all(v is None or _finite(v) for v in (metadata.get("metrics") or {}).values()),
    }
    for name, bad in problems.items():
        if bad:
            raise ModelFileError(
                f"{path} is corrupted: its metadata field {name!r} is {_short(metadata.get(name))}."
            )
    if problem := _history_problem(metadata["history"]):
        raise ModelFileError(f"{path} is corrupted: {problem}. {RESAVE}")
    metadata["fit_seconds"] = float(metadata.get("fit_seconds") or 0.0)
    check_extra(path, metadata.get("extra") or {})


# A training history as a model file holds it: at most as many records as any model trains epochs (bpmf's
# and bsvdpp's n_epochs go to 100,000), each an `EpochRecord`'s fields. A loss or RMSE is null where it
# was NaN (json_safe writes NaN as null: an imported Spark model's losses) or not measured.
MAX_HISTORY_RECORDS = 100_000
RECORD_FIELDS: dict[str, tuple[bool, str, Callable[[object], bool]]] = {
    "epoch": (True, "a whole number from 1", lambda v: _whole(v) and v >= 1),
    "seconds": (True, "a number of seconds ≥ 0", lambda v: _finite(v, minimum=0.0)),
    "reconstruction_loss": (True, "a number or null", lambda v: v is None or _finite(v)),
    "regularization_loss": (True, "a number or null", lambda v: v is None or _finite(v)),
    "total_loss": (True, "a number or null", lambda v: v is None or _finite(v)),
    "train_rmse": (False, "a number or null", lambda v: v is None or _finite(v)),
    "valid_rmse": (False, "a number or null", lambda v: v is None or _finite(v)),
    "grad_norms": (False, "null or names of numbers", lambda v: v is None or _named_numbers(v)),
    "extra": (False, "names of numbers", lambda v: _named_numbers(v)),
    "measured": (False, f"{AFTER_EPOCH!r} or {DURING_EPOCH!r}", lambda v: v in (AFTER_EPOCH, DURING_EPOCH)),
}


def _history_problem(history: list[Any]) -> str | None:
    """What is wrong with a model file's training history, in plain words (None: nothing)."""
    if len(history) > MAX_HISTORY_RECORDS:
        return (
            f"its training history holds {len(history):,} records, more than the {MAX_HISTORY_RECORDS:,} "
            "epochs any model trains"
        )
    required = [name for name, (needed, _, _) in RECORD_FIELDS.items() if needed]
    for number, record in enumerate(history, 1):
        where = f"its training history's record {number}"
        if not isinstance(record, dict):
            return f"{where} is {_short(record)}, not the record of an epoch"
        if missing := [name for name in required if name not in record]:
            return f"{where} lacks {missing[0]!r}"
        for name, value in record.items():
            if name not in RECORD_FIELDS:
                return f"{where} has an unknown field {_short(name)}"
            _, expected, valid = RECORD_FIELDS[name]
            if not valid(value):
                return f"{where} has {name} {_short(value)}, expected {expected}"
    return None


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _named_numbers(value: object) -> bool:
    return isinstance(value, dict) and all(v is None or _finite(v) for v in value.values())


EXTRA_DATA_OPTIONS = {
    "spec": (str, type(None)), "format": str, "columns": dict, "min_item_ratings": int,
    "min_user_ratings": int, "repeat_filters": bool,
}  # fmt: skip


def check_extra(path: Path, extra: dict[str, Any]) -> None:
    """The ``extra`` conventions (see the module docstring): ``data`` a spec, null or a dict of `load`
    options; ``split`` a string; ``seed`` a whole number ≥ 0; ``train`` and ``test`` two paths together;
    ``format`` a string; ``columns`` role → column name."""

    def refuse(field: str, value: object, expected: str) -> None:
        raise ModelFileError(
            f"{path} is corrupted: its stored setting {field!r} is {_short(value)}, expected {expected}."
        )

    data = extra.get("data")
    if isinstance(data, dict):
        for key, value in data.items():
            kinds = EXTRA_DATA_OPTIONS.get(key)
            if kinds is None or (isinstance(value, bool) and kinds is int) or not isinstance(value, kinds):
                refuse(f"data.{key}", value, "one of the data options (spec, format, columns, filters)")
        _check_columns(refuse, "data.columns", data.get("columns") or {})
    elif data is not None and not isinstance(data, str):
        refuse("data", data, "a data set name, a path or a dict of load options")
    if "split" in extra and not isinstance(extra["split"], str):
        refuse("split", extra["split"], "a split spec such as 'user:0.2' or 'none'")
    seed = extra.get("seed", 0)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
        refuse("seed", seed, "a whole number from 0 to 2**32 - 1")
    if ("train" in extra) != ("test" in extra):
        refuse(
            "train" if "train" in extra else "test",
            extra.get("train", extra.get("test")),
            "both train and test",
        )
    for field in ("train", "test", "format"):
        if field in extra and not isinstance(extra[field], str):
            refuse(field, extra[field], "a string")
    _check_columns(refuse, "columns", extra.get("columns") or {})


def _check_columns(refuse: Callable[[str, object, str], None], field: str, columns: object) -> None:
    roles = ("user", "item", "rating", "timestamp")
    if not isinstance(columns, dict) or not all(
        role in roles and (name is None or isinstance(name, str)) for role, name in columns.items()
    ):
        refuse(field, columns, "a dict of role (user, item, rating, timestamp) to column name")


def _finite(value: object, minimum: float = -math.inf) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and minimum <= value < math.inf


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- the cache ------------------------------------------------------------------------------------------


def cache_key(
    fingerprint: str, algo: str, params: dict[str, Any], split: str, seed: int, side: str | None = None
) -> str:
    """The same (data, algorithm, hyperparameters, split, seed) gives the same key in any process. ``side``:
    for a model that reads side information, the digest of the tables it read
    (`RatingsDataset.side_fingerprint`), so the same ratings with other genres never share a key."""
    identity = {
        "data": fingerprint,
        "algo": algo,
        "params": json_safe(params),
        "split": str(split),
        "seed": seed,
    }
    if side is not None:
        identity["side"] = side
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

    ``get`` marks an entry as used; ``put`` evicts when the folder grows over the cap, never the entry just
    written: while someone who stored entries (``stored_by``) holds more than `OWNER_SHARE` of the cap, their
    least recently used entries first; then everyone's least recently used. So one person storing many large
    models evicts their own, not everyone else's. An advisory lock file (``fcntl``) serializes writers and
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
        self.failure: str | None = None  # why the last try_put could not store its model
        with contextlib.suppress(OSError):  # a read-only or missing parent: the store can still be read
            self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def writable(self) -> bool:
        """Whether models can be stored here now (False: a read-only folder, or none at all)."""
        return self.folder.is_dir() and os.access(self.folder, os.W_OK | os.X_OK)

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
        """An flock on ``.lock``: shared for readers, exclusive for writers. A reader that cannot open the
        lock file (a read-only store) reads without it: nobody can be writing there either."""
        try:
            lock = open(self.folder / ".lock", "r" if shared else "a+")  # noqa: SIM115
        except OSError:
            if not shared:
                raise
            yield
            return
        with lock:
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
            except NewerFormatError:
                return None  # a newer recengine's file: skipped, left for it
            except ModelFileError:
                with contextlib.suppress(OSError):  # a read-only store keeps it
                    path.unlink()
                return None
            with contextlib.suppress(OSError):
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
        stored_by: str | None = None,
    ) -> Path:
        """Store ``model`` under ``key`` (replacing any entry) and evict old entries beyond the cap.

        ``stored_by`` names who stores it, for eviction: an opaque string (a digest, never a person's id)."""
        path = self.path(key)
        with self._locked():
            self._remove_debris()
            save_model(model, path, data=data, metrics=metrics, extra=extra, stored_by=stored_by)
            self._evict(keep=path)
        model.store_key_ = key
        return path

    def try_put(
        self,
        key: str,
        model: Recommender,
        *,
        data: RatingsDataset | None = None,
        metrics: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        stored_by: str | None = None,
    ) -> Path | None:
        """`put`, or None when the folder cannot take the file (read-only, full): the caller keeps the model
        in memory, and ``failure`` says why until a later put succeeds."""
        try:
            path = self.put(key, model, data=data, metrics=metrics, extra=extra, stored_by=stored_by)
        except OSError as error:
            self.failure = f"{error.strerror or error} in {self.folder}"
            return None
        self.failure = None
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

    def remove_trained_on(self, fingerprints: set[str] | frozenset[str], owner: str) -> list[Path]:
        """Remove the entries trained on a data set with one of these fingerprints and stored for ``owner``
        (``extra["owner"]``): a session's private upload, when the session ends. Another's model on the same
        ratings (a copy of a shared data set has its fingerprint) stays."""
        removed = []
        if not fingerprints or not owner:
            return removed
        with self._locked():
            for path in self.entries():
                try:
                    metadata = read_metadata(path)
                except (ModelFileError, OSError):
                    continue
                trained_on = {metadata.get("data_fingerprint"), metadata.get("fingerprint")}
                if trained_on & set(fingerprints) and (metadata.get("extra") or {}).get("owner") == owner:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                        removed.append(path)
        return removed

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
        """Remove entries until the total fits the cap (never ``keep``): the least recently used of those
        who hold more than their share (`OWNER_SHARE` of the cap), else the least recently used of all."""
        sizes = {path: stat for path in self.entries() if (stat := _stat(path)) is not None}
        total = sum(stat.st_size for stat in sizes.values())
        if total <= self.max_bytes:
            return []
        owners = {path: _stored_by(str(path), stat.st_ino, stat.st_size) for path, stat in sizes.items()}
        held: dict[str, int] = {}
        for path, stat in sizes.items():
            held[owners[path]] = held.get(owners[path], 0) + stat.st_size
        candidates = sorted((p for p in sizes if p != keep), key=lambda p: sizes[p].st_mtime)
        removed = []
        while total > self.max_bytes and candidates:
            over = {owner for owner, size in held.items() if owner and size > OWNER_SHARE * self.max_bytes}
            path = next((p for p in candidates if owners[p] in over), candidates[0])
            candidates.remove(path)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
            total -= sizes[path].st_size
            held[owners[path]] -= sizes[path].st_size
        return removed


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


@functools.lru_cache(maxsize=4096)
def _stored_by(path: str, inode: int, size: int) -> str:
    """Who stored the entry at ``path`` ("" when not recorded or unreadable), read once per version of the
    file (every write is a new file, renamed into place: a new inode)."""
    try:
        return read_metadata(path).get("stored_by") or ""
    except (ModelFileError, OSError):
        return ""


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
