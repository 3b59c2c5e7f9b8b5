"""Compiled (numba) kernels: cached on disk, made on first use, with their compile time measured and reported.

Kernels are declared with `kernel`, numba's ``njit(cache=True)`` applied when a kernel of the module is first
called: numba itself (about 0.3 s to import) is not imported by ``import recengine``, the command line or the
dashboard's first page. Numba keeps the machine code in ``__pycache__`` beside the module, or, when that
directory is read-only, in a per-user cache directory; ``NUMBA_CACHE_DIR`` chooses another place. The first
call of a kernel for a dtype in a process compiles it (cold) or loads it from that cache (warm); `ready` runs
that first call on tiny arrays, outside any timed epoch, and returns how long it took. Loading from numba's
cache still costs a process about 0.5 s (numba's own set-up); kernels declared with ``ahead=`` are also built
ahead of time (`recengine.models.kernels.ahead`) and then load in milliseconds, without numba.
"""

from __future__ import annotations

import functools
import importlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from recengine.models.kernels import ahead

# Reassociation lets loops over factors use SIMD; NaN and inf keep their meaning (divergence checks need it).
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}

_FIRST_CALL_SECONDS: dict[tuple[str, str], float] = {}
KERNELS: list[Kernel] = []  # every kernel declared, whether or not its module's kernels are made
_PARALLEL_TURN = threading.Lock()
_MAKING = threading.Lock()


def prange(*args: int) -> range:
    """``range`` in plain Python; in a kernel module it becomes numba's parallel ``prange`` when the module's
    kernels are made (import it from here, not from numba)."""
    return range(*args)


_RANGE_STANDIN = prange  # what kernel modules hold until their kernels are made (this module's stays)


class Kernel:
    """A numba kernel made on first use: ``numba.njit(cache=True, **options)`` of ``function``.

    When one kernel of a module is first called, every kernel of that module is made and replaces its
    `Kernel` in the module, together with ``prange``, so kernels that call kernels (or loop with ``prange``)
    find numba's own objects when they compile. Callers holding the `Kernel` reach the compiled one through it.
    """

    def __init__(
        self, function: Callable[..., Any], options: dict[str, Any], ahead: tuple[str, tuple[str, ...]] | None
    ):
        functools.update_wrapper(self, function)
        self.py_func = function
        self.options = options
        self.ahead = ahead
        self.compiled: Callable[..., Any] | None = None
        KERNELS.append(self)

    def __call__(self, *args: Any) -> Any:
        if self.compiled is None:
            built = ahead.function(self.__name__, self.ahead, args) if self.ahead else None
            if built is not None:
                return built(*args)
            make_kernels(sys.modules[self.py_func.__module__])
        return self.compiled(*args)  # type: ignore[misc]


def kernel(
    ahead: tuple[str, tuple[str, ...]] | None = None, **options: Any
) -> Callable[[Callable[..., Any]], Kernel]:
    """Decorator: a compiled (cached, numba ``njit``) kernel, made when the module first needs one.

    ``ahead=(return type, argument types)`` also builds it ahead of time (`recengine.models.kernels.ahead`), which
    processes load without numba; calls of the kernel use that build until one of them does not match it.
    """
    return lambda function: Kernel(function, options, ahead)


def make_kernels(module: Any) -> None:
    import numba

    with _MAKING:
        made = {}
        for name, value in list(vars(module).items()):
            if value is _RANGE_STANDIN and module.__name__ != __name__:
                setattr(module, name, numba.prange)
            elif isinstance(value, Kernel) and value.compiled is None and value.__module__ == module.__name__:
                made[name] = value, numba.njit(cache=True, **value.options)(value.py_func)
                setattr(module, name, made[name][1])
        for value, compiled in made.values():  # callable from other threads once the whole module is made
            value.compiled = compiled


@functools.cache
def _threadsafe_layer() -> bool:
    """Whether numba will run ``parallel=True`` kernels on a layer that threads may share (TBB or OpenMP).

    Without either library numba falls back to its workqueue layer, which terminates the whole process when
    two threads launch parallel kernels at once.
    """
    import numba

    chosen = str(numba.config.THREADING_LAYER).lower()
    if chosen in ("tbb", "omp", "safe", "threadsafe", "forksafe"):
        return chosen != "forksafe"
    if chosen == "workqueue":
        return False
    for module in ("numba.np.ufunc.tbbpool", "numba.np.ufunc.omppool"):
        try:
            importlib.import_module(module)
        except (ImportError, OSError):
            continue
        return True
    return False


@contextmanager
def parallel_section() -> Iterator[None]:
    """Around every call of a ``parallel=True`` kernel: on a layer threads cannot share, calls take turns."""
    if _threadsafe_layer():
        yield
        return
    with _PARALLEL_TURN:
        yield


def ready(name: str, dtype: np.dtype, first_call: Callable[[np.dtype], None]) -> float:
    """Seconds that kernel ``name``'s first call for ``dtype`` took in this process (0 once it is ready)."""
    key = (name, np.dtype(dtype).name)
    if key in _FIRST_CALL_SECONDS:
        return 0.0
    tick = time.perf_counter()
    first_call(np.dtype(dtype))
    seconds = time.perf_counter() - tick
    _FIRST_CALL_SECONDS[key] = seconds
    return seconds


def first_call_seconds() -> dict[str, float]:
    """Compile-or-load seconds of every kernel made ready in this process, as ``"name/dtype"``."""
    return {f"{name}/{dtype}": seconds for (name, dtype), seconds in _FIRST_CALL_SECONDS.items()}


@kernel(
    nogil=True,
    fastmath=FASTMATH,
    ahead=("float64[::1]", ("F[:, ::1]", "F[:, ::1]", "int64[::1]", "int64[::1]")),
)
def row_dots(left, right, left_rows, right_rows):
    """``left[left_rows[n]] · right[right_rows[n]]`` for every n, in float64, without gathering rows."""
    out = np.empty(left_rows.shape[0], dtype=np.float64)
    n_factors = left.shape[1]
    for n in range(left_rows.shape[0]):
        a = left[left_rows[n]]
        b = right[right_rows[n]]
        total = 0.0
        for f in range(n_factors):
            total += a[f] * b[f]
        out[n] = total
    return out


_PREDICTION_ARGUMENTS = ("F[:, ::1]", "F[:, ::1]", "F[::1]", "F[::1]", "float64")
_PREDICTION_ARGUMENTS += ("int32[::1]", "int32[::1]", "float32[::1]", "float64", "float64")


@kernel(nogil=True, fastmath=FASTMATH, ahead=("UniTuple(float64, 2)", _PREDICTION_ARGUMENTS))
def prediction_errors(
    user_factors, item_factors, user_bias, item_bias, mean, users, items, ratings, low, high
):
    """(Σ e², Σ ê²) over the ratings: e against μ + b_u + b_i + p_u·q_i, ê against it clipped to [low, high].

    Zero-length bias arrays leave the biases out. One pass gives a fit's loss and its train RMSE.
    """
    squared = 0.0
    squared_clipped = 0.0
    with_bias = user_bias.shape[0] > 0
    n_factors = user_factors.shape[1]
    for n in range(users.shape[0]):
        u = users[n]
        i = items[n]
        a = user_factors[u]
        b = item_factors[i]
        dot = 0.0
        for f in range(n_factors):
            dot += a[f] * b[f]
        prediction = mean + dot
        if with_bias:
            prediction += user_bias[u] + item_bias[i]
        error = ratings[n] - prediction
        squared += error * error
        clipped = ratings[n] - min(max(prediction, low), high)
        squared_clipped += clipped * clipped
    return squared, squared_clipped


@kernel(nogil=True, fastmath=FASTMATH, ahead=("float64", ("F[::1]", "F[::1]")))
def squared_distance(left, right):
    """Σ (left − right)² over two flat arrays of one length, in float64, without a temporary array."""
    total = 0.0
    for n in range(left.shape[0]):
        difference = left[n] - right[n]
        total += difference * difference
    return total


def _first_shared_call(dtype: np.dtype) -> None:
    rows, factors, vector = np.zeros(1, np.int64), np.zeros((1, 1), dtype), np.zeros(1, dtype)
    codes, ratings = np.zeros(1, np.int32), np.zeros(1, np.float32)
    row_dots(factors, factors, rows, rows)
    prediction_errors(factors, factors, vector, vector, 0.0, codes, codes, ratings, 1.0, 5.0)
    squared_distance(vector, vector)


def warm_up() -> float:
    """Make the shared kernels (predictions, epoch metrics, distances) ready for float64 and float32."""
    return sum(ready("shared", np.dtype(d), _first_shared_call) for d in ("float64", "float32"))


@kernel(nogil=True, ahead=("Tuple((int64[::1], int64[::1]))", ("int32[::1]", "int64")))
def grouped_positions(codes, n_rows):
    """The positions of ``codes`` grouped by code, in their order within each group (a counting sort, O(n)),
    and ``indptr``: group r is ``positions[indptr[r]:indptr[r + 1]]``."""
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for n in range(codes.shape[0]):
        indptr[codes[n] + 1] += 1
    for r in range(n_rows):
        indptr[r + 1] += indptr[r]
    filled = indptr[:-1].copy()
    positions = np.empty(codes.shape[0], dtype=np.int64)
    for n in range(codes.shape[0]):
        row = codes[n]
        positions[filled[row]] = n
        filled[row] += 1
    return indptr, positions
