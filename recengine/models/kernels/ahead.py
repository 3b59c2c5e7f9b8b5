"""Kernels compiled ahead of time into one extension module, so that a process loads them in milliseconds.

Numba's on-disk cache still costs a process about 0.5 s before the first cached kernel runs (measured: 0.2 s
to import numba, then 0.4-0.6 s to set up its typing and lowering registries, which imports scipy.linalg,
then 15-30 ms per kernel and dtype). A kernel declared with ``ahead=(return type, argument types)`` is also
built by numba's ahead-of-time compiler (``numba.pycc``) into ``recengine_kernels_<key>`` beside numba's
cache; importing that module needs neither numba nor LLVM. It is built once per source version, numba,
Python and CPU (the key), in a background process started by the first process that misses it (which runs
the just-in-time kernels meanwhile), or at once by `build.main` (``python -c "from recengine.models.kernels.build import
main; main([])"``). Building needs a C
compiler; without one it is not tried again for that key, and the just-in-time kernels are used.

Types are numba's names, ``F`` standing for the factors' dtype (float64 and float32 are both built); arrays
must be C-contiguous and writeable. A call whose arguments do not match exactly (which the compiled module
would not check) runs the just-in-time kernel instead.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

MODULES = (
    "recengine.models.kernels.jit",
    "recengine.models.sgd",
)  # the modules whose kernels may be built ahead
FLOATS = ("float64", "float32")
DTYPES = {"float64": np.float64, "float32": np.float32, "int64": np.int64, "int32": np.int32}
DTYPES["boolean"] = np.bool_
STALE_LOCK_SECONDS = 1800
PACKAGE_ROOT = Path(__file__).resolve().parents[3]

_state: dict[str, Any] = {}
_BACKGROUND = "import sys; from recengine.models.kernels.build import main; sys.exit(main(['--background', *sys.argv[1:]]))"


def enabled() -> bool:
    return os.environ.get("RECENGINE_AHEAD", "1") != "0"


def function(name: str, ahead: tuple[str, tuple[str, ...]], args: tuple) -> Any:
    """The ahead-of-time build of kernel ``name`` for these arguments, or None (not built, or not matching)."""
    float_type = _float_type(ahead[1], args)
    if float_type is None or not all(
        _matches(t.replace("F", float_type), a) for t, a in zip(ahead[1], args, strict=True)
    ):
        return None
    module = _module()
    return None if module is None else getattr(module, export_name(name, float_type), None)


def export_name(name: str, float_type: str) -> str:
    return f"{name}__{float_type}"


def _float_type(types: tuple[str, ...], args: tuple) -> str | None:
    if len(types) != len(args):
        return None
    for declared, value in zip(types, args, strict=True):
        if declared.startswith("F[") and isinstance(value, np.ndarray):
            return value.dtype.name if value.dtype.name in FLOATS else None
    return FLOATS[0]


def _matches(declared: str, value: Any) -> bool:
    base, _, shape = declared.partition("[")
    if shape:
        return (
            isinstance(value, np.ndarray)
            and value.dtype == DTYPES[base]
            and value.ndim == shape.count(",") + 1
            and value.flags.c_contiguous
            and value.flags.writeable
        )
    if base == "boolean":
        return isinstance(value, (bool, np.bool_))
    if base.startswith("int"):
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    return isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def _module() -> Any:
    """The built module, imported once per process; None (and a build started) when it is not built yet."""
    if "module" not in _state:
        _state["module"] = None
        if enabled():
            path = module_path()
            if path.exists():
                _state["module"] = _import(path)
            else:
                start_build(path)
    return _state["module"]


def _import(path: Path) -> Any:
    name = path.name.split(".")[0]
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    if spec is None:
        return None
    try:
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    except ImportError:
        return None
    return module


def module_path() -> Path:
    """Where the built module for this source, numba, Python and CPU lives (it may not exist)."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return _directory() / f"recengine_kernels_{key()}{suffix}"


def _directory() -> Path:
    """Beside numba's cache: ``NUMBA_CACHE_DIR``, else this package's ``__pycache__`` when writable, else the
    user's cache."""
    chosen = os.environ.get("NUMBA_CACHE_DIR")
    if chosen:
        return Path(chosen)
    here = Path(__file__).resolve().parent / "__pycache__"
    if os.access(here if here.exists() else here.parent, os.W_OK):
        return here
    return Path(os.environ.get("RECENGINE_CACHE", Path.home() / ".cache" / "recengine")) / "kernels"


def key() -> str:
    """A digest of the kernels' source files, numba's version, Python's and the CPU's features."""
    digest = hashlib.sha256()
    for module in MODULES:
        digest.update(Path(importlib.util.find_spec(module).origin).read_bytes())  # type: ignore[union-attr]
    digest.update(Path(__file__).read_bytes())
    digest.update((Path(__file__).parent / "build.py").read_bytes())
    numba_dir = Path(importlib.util.find_spec("numba").origin).parent  # type: ignore[union-attr]
    digest.update((numba_dir / "_version.py").read_bytes() if (numba_dir / "_version.py").exists() else b"")
    digest.update(f"{sys.version}{platform.machine()}{_cpu_flags()}".encode())
    return digest.hexdigest()[:16]


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next((line for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor()


def start_build(path: Path) -> None:
    """Build the module in a background process, unless one is under way or building failed before."""
    failed = path.with_suffix(".failed")
    lock = path.with_suffix(".lock")
    if failed.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if lock.exists() and time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
            lock.unlink(missing_ok=True)
        handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except OSError:
        return  # another process builds it, or the directory is not writable
    os.close(handle)
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")])}
    with open(path.with_suffix(".log"), "w") as log:
        subprocess.Popen(
            [sys.executable, "-c", _BACKGROUND, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
