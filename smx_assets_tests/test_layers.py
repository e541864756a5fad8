"""The import structure: no circle, and every layer imports only the layers below it.

commands -> definitions.py -> defs/ (and resources) -> domain services (scoring, monitoring,
model registry, simulator, importers) -> use cases, features, herd DB, ingest validation -> sensor stores,
time grid, SQL engines and settings. Read from the import statements of the source (imports
inside functions included), so a lazy import cannot hide a dependency running back up.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "smx_assets"

# (module prefix, layer); the longest matching prefix decides. Higher imports lower only.
LAYERS: list[tuple[str, int]] = [
    ("smx_assets.cli", 7), ("smx_assets.commands", 7), ("smx_assets.api", 7), ("smx_assets.devtools", 7),
    ("smx_assets.definitions", 6),
    ("smx_assets.defs", 5), ("smx_assets.resources", 5),
    ("smx_assets.domain.scoring", 4), ("smx_assets.domain.monitoring", 4),
    ("smx_assets.domain.model_registry", 4), ("smx_assets.domain.simulator", 4),
    ("smx_assets.domain.importers", 4), ("smx_assets.domain.retention", 4), ("smx_assets.domain.replay", 4),
    ("smx_assets.domain.use_cases", 3), ("smx_assets.domain.features", 3), ("smx_assets.domain.herd_db", 3),
    ("smx_assets.domain.herd_db_migrate", 3), ("smx_assets.domain.score_store", 3),
    ("smx_assets.migrations", 3), ("smx_assets.domain.ingest_validation", 3),
    ("smx_assets.domain.sensor_store", 2), ("smx_assets.domain.time_grid", 2), ("smx_assets.domain.sql_engine", 2),
    ("smx_assets.domain.heap", 2), ("smx_assets.settings", 2),
    ("smx_assets.domain", 2), ("smx_assets", 2),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules imported by ``path`` (``from pkg import mod`` counts as ``pkg.mod``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules}
    return found


def _layer(module: str) -> int:
    return max((p for p in LAYERS if module == p[0] or module.startswith(p[0] + ".")), key=lambda p: len(p[0]))[1]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def test_layers_import_only_downward() -> None:
    upward = sorted(f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
                    for a, targets in _graph().items() for b in targets if _layer(b) > _layer(a))
    assert not upward, "\n".join(upward)


def test_domain_never_imports_dagster_layer() -> None:
    bad = sorted(f"{a} -> {b}" for a, targets in _graph().items() if a.startswith("smx_assets.domain")
                 for b in targets if b.startswith(("smx_assets.defs", "smx_assets.resources", "smx_assets.definitions")))
    assert not bad, bad


def test_no_import_circle() -> None:
    graph = _graph()
    # Package faces (__init__ re-exporting their own submodules) are not edges of a circle.
    graph = {a: {b for b in targets if not b.startswith(a + ".") and not a.startswith(b + ".")}
             for a, targets in graph.items()}
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [])
    assert not circles, "\n".join(" -> ".join(c) for c in circles)
