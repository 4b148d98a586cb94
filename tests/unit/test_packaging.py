"""What `pip install` puts in site-packages: only the leadops package, with every folder of code in it, and
no import cycle between its modules."""
import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
FOLDERS = {"leadops": ROOT / "leadops", **{name: ROOT / path for name, path in SPEC["package-dir"].items()}}


def package_folders() -> dict[str, Path]:
    """Return every package (a folder of .py files with __init__.py) under the installed folders, by dotted name."""
    out = {}
    for name, folder in FOLDERS.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            out[".".join((name, *rel))] = init.parent
    return out


def test_every_package_folder_is_installed_and_nothing_else():
    assert sorted(SPEC["packages"]) == sorted(package_folders())
    assert all(p == "leadops" or p.startswith("leadops.") for p in SPEC["packages"])


def test_no_generic_top_level_package_is_importable_outside_the_checkout(tmp_path):
    code = ("import importlib.util as u, json; "
            "print(json.dumps([n for n in ('flows', 'tasks', 'deployments') if u.find_spec(n)]))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    check = subprocess.run([sys.executable, "-c", "import leadops.flows.lead_pipeline, leadops.deployments.serve"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def module_imports() -> dict[str, set[str]]:
    """Return, per leadops module, the leadops modules it imports at module level (grain: one edge per import)."""
    modules = {}
    for pkg, folder in package_folders().items():
        for f in folder.glob("*.py"):
            name = pkg if f.name == "__init__.py" else f"{pkg}.{f.stem}"
            modules[name] = f
    edges: dict[str, set[str]] = {}
    for name, f in modules.items():
        tree = ast.parse(f.read_text(encoding="utf-8"))
        found = set()
        for node in tree.body:  # module level only: imports inside functions are deliberate deferrals
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                base = node.module
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        edges[name] = {m for m in found if m in modules and m != name}
    return edges


def test_no_import_cycle_between_leadops_modules_at_import_time():
    edges = module_imports()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []
