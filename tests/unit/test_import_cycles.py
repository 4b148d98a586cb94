"""No import cycle anywhere in the installed tree: not at import time, and not through an import deferred
into a function either (a deferred import hides a cycle, it does not remove the knot between two modules).

Every module under leadops/ (and under flows/, tasks/ and deployments/, installed as leadops.flows,
leadops.tasks and leadops.deployments) is parsed, never imported; every ``import`` statement counts,
wherever it is (module level, in a function, under ``if TYPE_CHECKING:``).
"""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
FOLDERS = {"leadops": ROOT / "leadops", **{name: ROOT / path for name, path in PACKAGE_DIRS.items()}}


def modules() -> dict[str, Path]:
    """Return every module of the installed tree by dotted name (a package by its ``__init__.py``)."""
    found: dict[str, Path] = {}
    for name, folder in FOLDERS.items():
        for f in folder.rglob("*.py"):
            rel = f.relative_to(folder).with_suffix("").parts
            if not all((folder.joinpath(*rel[:i]) / "__init__.py").exists() for i in range(len(rel))):
                continue  # a script beside the packages (templates, migrations' env), not an importable module
            parts = rel[:-1] if rel[-1] == "__init__" else rel
            found[".".join((name, *parts))] = f
    return found


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """Return the module ``node`` imports from, with a relative import resolved against ``module``."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Return the modules of ``known`` that ``module`` imports anywhere in its file (grain: one per module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, path.name == "__init__.py")
            # ``from pkg import name``: name is a submodule when there is one, else a name in pkg
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
    return {m for m in found if m in known and m != module}


def import_graph() -> dict[str, set[str]]:
    """Return module -> the modules it imports, for every module of the tree."""
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """Return one cycle of ``edges`` as a path that ends where it starts, or None when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt, [*path, nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def test_the_tree_is_parsed_whole():
    known = modules()
    assert {"leadops.cli", "leadops.flows", "leadops.tasks", "leadops.deployments", "leadops.domain.normalize"} <= set(known)


def test_no_import_cycle_anywhere_in_the_tree():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_names_the_cycle():
    edges = {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}, "pkg.d": {"pkg.a"}}
    assert find_cycle(edges) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert find_cycle({"pkg.a": {"pkg.b"}, "pkg.b": set()}) is None


def test_imports_resolve_submodules_and_relative_names(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "a.py").write_text("def f():\n    from pkg import b\n    from .c import thing\n", encoding="utf-8")
    known = {"pkg": pkg / "__init__.py", "pkg.a": pkg / "a.py", "pkg.b": pkg / "b.py", "pkg.c": pkg / "c.py"}
    assert imports_of("pkg.a", pkg / "a.py", known) == {"pkg.b", "pkg.c"}
