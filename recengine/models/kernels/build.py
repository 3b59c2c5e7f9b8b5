"""Building the ahead-of-time kernel module (`recengine.models.kernels.ahead` loads it): run by the background
process `ahead.start_build` starts, or at once with ``python -m recengine.models.kernels.build [PATH]``."""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from recengine.models.kernels import jit
from recengine.models.kernels.ahead import FLOATS, MODULES, export_name, module_path


def build(path: Path) -> Path:
    """Compile every declared kernel for each float type into the extension module at ``path``."""
    import tempfile
    import warnings

    import llvmlite.binding
    from numba.core.errors import NumbaPendingDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        from numba.pycc import CC
    name = path.name.split(".")[0]
    compiler = CC(name)
    compiler.target_cpu = llvmlite.binding.get_host_cpu_name()
    compiler.verbose = False
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        jit.make_kernels(module)
        for kernel in jit.KERNELS:
            if kernel.ahead is None or kernel.py_func.__module__ != module_name:
                continue
            kernel_name = kernel.__name__
            returns, arguments = kernel.ahead
            floats = FLOATS if any("F" in t for t in (returns, *arguments)) else FLOATS[:1]
            for float_type in floats:
                signature = f"{returns}({', '.join(arguments)})".replace("F", float_type)
                entry = _forwarder(getattr(module, kernel_name), kernel.py_func)
                compiler.export(export_name(kernel_name, float_type), signature)(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        compiler.output_dir = scratch
        compiler.compile()
        os.replace(Path(scratch) / compiler.output_file, path)
    return path


def _forwarder(compiled: Any, function: Any) -> Any:
    """A function of the kernel's argument names that calls the just-in-time kernel (whose options, such as
    fastmath, the ahead-of-time compiler would otherwise not apply)."""
    names = ", ".join(function.__code__.co_varnames[: function.__code__.co_argcount])
    scope = {"kernel": compiled}
    exec(f"def forward({names}):\n    return kernel({names})\n", scope)
    return scope["forward"]


def main(argv: list[str]) -> int:
    """Build the module (at PATH, or its usual place); ``--background``:
    as `start_build` runs it (lower priority, a marker left when it fails, the lock removed)."""
    background = "--background" in argv  # [--background] [PATH]
    paths = [a for a in argv if a != "--background"]
    path = Path(paths[0]) if paths else module_path()
    if background:
        os.nice(10)
    tick = time.perf_counter()
    try:
        build(path)
    except Exception as error:  # any failure (no C compiler, ...): the just-in-time kernels stay in use
        if background:
            path.with_suffix(".failed").write_text(f"{type(error).__name__}: {error}\n")
        print(f"building {path.name} failed: {error}", file=sys.stderr)
        return 1
    finally:
        if background:
            path.with_suffix(".lock").unlink(missing_ok=True)
    print(f"built {path} in {time.perf_counter() - tick:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
