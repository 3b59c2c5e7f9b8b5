"""Kernels built ahead of time: loaded without numba, the same numbers as the just-in-time kernels, and a
call that does not match the built signature runs the just-in-time kernel (the built one would not check)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from recengine.models.kernels import ahead, build
from recengine.models.kernels.jit import row_dots
from recengine.models.sgd import sgd_epoch

FIT = """
import json, sys
from recengine.models import make
from recengine.data.synthetic import planted_low_rank
data = planted_low_rank(n_users=40, n_items=30, rank=2, density=0.5, seed=3)[0]
model = make("sgd", n_factors=4, n_epochs=5, seed=1).fit(data)
print(json.dumps({"numba": "numba" in sys.modules, "ready": model.history_[0].extra["compile_seconds"],
                  "factors": model.item_factors_.tolist(), "loss": model.history_[-1].total_loss}))
"""


def test_arguments_unlike_the_built_signature_are_not_given_to_it(monkeypatch):
    """With a built module in place (a stand-in here, so the test holds without a C compiler), a call that
    matches the built signature gets the built function for its float type, any other call None."""
    exports = [ahead.export_name("row_dots", f) for f in ahead.FLOATS]
    exports.append(ahead.export_name("flags", "float64"))
    built = types.SimpleNamespace(**{name: object() for name in exports})
    monkeypatch.setitem(ahead._state, "module", built)
    factors, rows = np.zeros((3, 2)), np.zeros(4, np.int64)
    declared = row_dots.ahead
    assert ahead.function("row_dots", declared, (factors, factors, rows, rows)) is built.row_dots__float64
    single = factors.astype(np.float32)
    assert ahead.function("row_dots", declared, (single, single, rows, rows)) is built.row_dots__float32
    readonly = factors.copy()
    readonly.flags.writeable = False
    refused = [
        (factors, factors, rows.astype(np.int32), rows),  # another index dtype
        (factors, single, rows, rows),  # mixed float dtypes
        (np.asfortranarray(factors), factors, rows, rows),  # not C-contiguous
        (factors, factors, rows[::2], rows[::2]),  # strided
        (factors.astype(np.float16), factors.astype(np.float16), rows, rows),  # no build for float16
        (factors, factors, rows),  # too few arguments
        (readonly, factors, rows, rows),  # read-only
    ]
    for args in refused:
        assert ahead.function("row_dots", declared, args) is None
    scalars = ("void", ("boolean", "int64", "float64"))
    assert ahead.function("flags", scalars, (np.bool_(True), 1, 2)) is built.flags__float64  # 2 for 2.0
    for args in ((1, 1, 2.0), (True, 1.5, 2.0), (True, True, 2.0), (True, 1, False)):
        assert ahead.function("flags", scalars, args) is None, args


def test_a_mismatched_call_still_runs_through_the_jit_kernel():
    left = np.arange(6, dtype=np.float64).reshape(3, 2)
    codes = np.array([0, 2], np.int32)  # int32 rows: not the built signature
    np.testing.assert_allclose(row_dots(left, left, codes, codes), [1.0, 41.0])


@pytest.mark.skipif(shutil.which("cc") is None, reason="building ahead of time needs a C compiler")
@pytest.mark.slow
def test_a_built_module_loads_without_numba_and_gives_the_jit_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    path = build.build(ahead.module_path())
    assert path.parent == tmp_path and sgd_epoch.ahead is not None
    env = {"NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ahead.PACKAGE_ROOT)}

    def fit(env: dict[str, str]) -> dict:
        run = [sys.executable, "-c", FIT]
        done = subprocess.run(run, capture_output=True, text=True, check=True, env=env)
        return json.loads(done.stdout.splitlines()[-1])

    built = fit(env)
    # the just-in-time kernels, from numba's usual cache (the empty build folder would compile them all)
    jitted = fit({"PYTHONPATH": env["PYTHONPATH"], "RECENGINE_AHEAD": "0"})
    assert built["numba"] is False and built["ready"] < 0.1
    assert jitted["numba"] is True
    np.testing.assert_allclose(built["factors"], jitted["factors"], rtol=1e-9, atol=1e-12)
    assert built["loss"] == pytest.approx(jitted["loss"], rel=1e-9)
