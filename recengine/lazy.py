"""Modules imported when first used rather than when ``recengine`` is: start-up time for every command.

``scipy.sparse`` costs a process 0.25-0.5 s to import (it clones NumPy's namespace for the array API, which
imports ``numpy.f2py``), and a command such as ``recengine train --algo sgd`` never needs it; pandas costs
about 0.6 s (with pyarrow), and such a command reading all-numeric files needs it neither.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for module ``name``: the first attribute read imports it."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        module: ModuleType = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported when first used>"


pandas: Any = LazyModule("pandas")
scipy_sparse: Any = LazyModule("scipy.sparse")
