"""Kernels made on first use (`recengine.models.kernels.jit.kernel`): numba's own objects once called, from any thread."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path

import numba
import numpy as np

from recengine.models.kernels import jit

SOURCE = """
import numpy as np

from recengine.models.kernels.jit import kernel, prange


@kernel(inline="always")
def _square(x):
    return x * x


@kernel(parallel=True)
def squares(values):
    out = np.empty_like(values)
    for n in prange(values.shape[0]):
        out[n] = _square(values[n])
    return out
"""


def fresh_kernel_module(folder: Path, name: str):
    path = folder / f"{name}.py"
    path.write_text(SOURCE)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_a_kernel_module_is_plain_python_until_a_kernel_is_called(tmp_path):
    module = fresh_kernel_module(tmp_path, "lazy_kernels_plain")
    assert isinstance(module.squares, jit.Kernel)
    assert module.prange is jit.prange
    assert list(module.prange(3)) == [0, 1, 2]


def test_first_calls_from_several_threads_make_every_kernel_of_the_module_once(tmp_path):
    module = fresh_kernel_module(tmp_path, "lazy_kernels_threads")
    lazy = module.squares
    values = np.arange(1000, dtype=np.float64)
    results, errors = [], []

    def call():
        try:
            results.append(lazy(values))
        except Exception as error:  # reported below: a thread's exception would otherwise be lost
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(np.array_equal(result, values**2) for result in results) and len(results) == 4
    # the module now holds numba's own objects: kernels calling kernels and prange loops compile with them
    assert module.prange is numba.prange
    assert isinstance(module.squares, numba.core.registry.CPUDispatcher)
    assert isinstance(module._square, numba.core.registry.CPUDispatcher)
    assert lazy.compiled is module.squares
    assert module.squares.targetoptions["parallel"]  # parallel=True was kept
