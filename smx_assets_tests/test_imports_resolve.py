"""Every ``from smx_assets... import name`` in the package names something that exists.

Why: most imports of the commands are lazy (inside functions, so ``smx --help`` stays fast),
and a lazy import of a name that moved fails only when that line runs. ``make_engine`` moved
from ``herd_db`` to ``sql_engine`` and the demo's last step, bringing the farm up to the clock,
failed after 14 minutes of work. This reads the import statements of the source, lazy ones
included, and resolves each name.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "smx_assets"


def _imports() -> list[tuple[str, int, str, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts and "versions" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("smx_assets"):
                rel = str(path.relative_to(PACKAGE.parent))
                found += [(rel, node.lineno, node.module, alias.name) for alias in node.names if alias.name != "*"]
    return found


IMPORTS = _imports()


def test_the_source_has_lazy_imports_to_check() -> None:
    assert len(IMPORTS) > 100


@pytest.mark.parametrize("module", sorted({m for _, _, m, _ in IMPORTS}))
def test_every_imported_name_exists(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [f"{where}:{line} imports {name}" for where, line, m, name in IMPORTS
               if m == module and not hasattr(mod, name) and not _is_submodule(module, name)]
    assert not missing, f"{module} has no: " + "; ".join(missing)


def _is_submodule(module: str, name: str) -> bool:
    try:
        importlib.import_module(f"{module}.{name}")
    except ModuleNotFoundError:
        return False
    return True
