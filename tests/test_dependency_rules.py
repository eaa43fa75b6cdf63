"""The dependency rules of docs/ARCHITECTURE.md, checked on every import statement.

`tcomp -> frontend -> ir <- backends`: ``ir/`` imports neither ``frontend/`` nor
``backends/``; ``backends/`` never import ``frontend/``; inside ``ir/`` the graph layer
never imports ``ir/kernel``; only a backend's compile entry point imports the kernel
lowering and its passes (renderers read kernel IR only). The check reads each module's
syntax tree, so an import inside a function counts as much as one at the top; names in
docstrings and comments do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (folder, forbidden module prefix, files of that folder allowed to import it, why)
RULES = [
    ("ir", "tcomp.frontend", (), "ir/ is below the frontend"),
    ("ir", "tcomp.backends", (), "ir/ knows no backend"),
    ("backends", "tcomp.frontend", (), "backends/ are below the frontend"),
    ("ir", "tcomp.ir.kernel", ("ir/kernel/",), "the graph layer of ir/ is below kernel IR"),
    (
        "backends",
        "tcomp.ir.kernel.lowering",
        ("backends/gpu/backend.py", "backends/llvm/compile_cache.py"),
        "renderers read kernel IR, not the lowering",
    ),
    (
        "backends",
        "tcomp.ir.kernel.passes",
        ("backends/gpu/backend.py", "backends/llvm/compile_cache.py"),
        "only a backend's compile entry point runs kernel passes",
    ),
]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(folder: str, forbidden: str, allowed: tuple[str, ...]) -> list[str]:
    """``file:line imports module`` for each import of ``forbidden`` under ``folder``."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if any(relative.startswith(prefix) for prefix in allowed):
            continue
        for line, module in imported_modules(path):
            if module == forbidden or module.startswith(forbidden + "."):
                found.append(f"{relative}:{line} imports {module}")
    return sorted(set(found))


@pytest.mark.parametrize("folder,forbidden,allowed,why", RULES, ids=lambda v: str(v))
def test_no_module_breaks_the_dependency_rule(folder, forbidden, allowed, why):
    found = violations(folder, forbidden, allowed)
    assert not found, f"{why} (docs/ARCHITECTURE.md, Dependency rules):\n" + "\n".join(found)


def test_the_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "sample.py"
    module.write_text(
        '"""mentions tcomp.frontend in a docstring"""\n'
        "def f():\n"
        "    from tcomp.frontend.jit import jit\n"
        "    import tcomp.backends.registry\n"
    )
    assert imported_modules(module) == [
        (3, "tcomp.frontend.jit"),
        (3, "tcomp.frontend.jit.jit"),
        (4, "tcomp.backends.registry"),
    ]
