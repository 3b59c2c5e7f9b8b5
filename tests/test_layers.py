"""The engine's layers: each module imports only from its own layer or the ones below, with no circles.

Every ``import`` counts, those inside functions too: a lazy import still ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import recengine

ROOT = Path(recengine.__file__).parent

# Lowest first. A module may import from its own layer and any layer before it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("errors", "lazy", "jsonsafe", "blas", "memory", "training")),
    ("data", ("data",)),
    ("models", ("models",)),
    ("serving", ("serving",)),
    ("evaluation", ("evaluation",)),
    ("applications", ("store", "spark", "lessons", "cli", "__init__", "__main__")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The recengine modules ``path`` imports (``from recengine.x import y`` counts as recengine.x.y when
    y is a module, else recengine.x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("recengine"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("recengine"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return found


MODULES = {module_name(path): path for path in ROOT.rglob("*.py")}
GRAPH = {name: imported_modules(path) - {name} for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    first = module.split(".")[1] if module.count(".") else "__init__"
    for index, (_, members) in enumerate(LAYERS):
        if first in members:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def test_every_module_imports_only_its_own_layer_or_lower():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in GRAPH.items()
        for target in targets
        if target in MODULES and layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_models_know_nothing_of_lists_or_metrics():
    leaks = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith("recengine.models")
        for target in targets
        if target.startswith(("recengine.serving", "recengine.evaluation"))
    ]
    assert leaks == []


def cycles() -> list[list[str]]:
    """Every import circle among the engine's modules (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH.get(node, ()):
            # a package's __init__ is not an edge back to its own modules
            if target not in MODULES or node.startswith(target + "."):
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    assert cycles() == []


def test_the_circle_finder_sees_a_planted_circle(monkeypatch):
    monkeypatch.setitem(
        GRAPH, "recengine.data.genres", GRAPH["recengine.data.genres"] | {"recengine.data.loading"}
    )
    monkeypatch.setitem(
        GRAPH, "recengine.data.loading", GRAPH["recengine.data.loading"] | {"recengine.data.genres"}
    )
    assert ["recengine.data.genres", "recengine.data.loading"] in cycles()
