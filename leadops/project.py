"""The leadops project folder: found by its `leadops.yaml` (as dbt finds `dbt_project.yml`), made by `leadops init`.

A project folder holds the rule files (`config/`), the GX suites (`expectations/`), `prefect.yaml`, an
optional `.env`, and by default the SQLite database and `var/`. Every relative path of the settings is
taken from the project folder, so a command run anywhere inside it, or a flow run whose working
directory is it, reads the same files.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MARKER = "leadops.yaml"
HOME_ENV = "LEADOPS_HOME"
TEMPLATE = Path(__file__).parent / "templates" / "project"
BUNDLED_EXPECTATIONS = Path(__file__).parent / "data" / "expectations"


class ProjectError(Exception):
    """No project where one is needed, or a project file that cannot be read; the message says what to do."""


def find_root(start: Path | None = None) -> Path | None:
    """Return the project folder: $LEADOPS_HOME if set, else the nearest folder at or above ``start`` (default:
    the working directory) holding `leadops.yaml`; None when there is none."""
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home).expanduser().resolve()
        if not (root / MARKER).is_file():
            raise ProjectError(f"{HOME_ENV}={home}: no {MARKER} there (create a project with `leadops init {home}`)")
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return folder
    return None


def not_a_project_message(start: Path | None = None) -> str:
    """Return the one line said when a command needs a project and there is none."""
    where = (start or Path.cwd()).resolve()
    return (f"no leadops project in {where} or above (no {MARKER}): create one with `leadops init DIR` and run "
            f"commands inside it, or set {HOME_ENV}=DIR")


def project_settings(root: Path) -> dict[str, Any]:
    """Return the `settings:` mapping of a project's leadops.yaml (grain: one value per setting name)."""
    path = root / MARKER
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ProjectError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    unknown = sorted(set(data) - {"name", "settings"})
    if unknown:
        raise ProjectError(f"{path}: unknown key(s) {', '.join(unknown)} (allowed: name, settings)")
    settings = data.get("settings") or {}
    if not isinstance(settings, dict):
        raise ProjectError(f"{path}: settings must be a mapping of setting names to values")
    return settings


@dataclass
class InitResult:
    """What `leadops init` wrote: the project folder and its files (relative paths), and those it kept."""

    root: Path
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def init_project(target: Path, name: str | None = None, *, force: bool = False) -> InitResult:
    """Create a project folder at ``target`` from the template: rule files with commented examples and no
    sample people, the GX suites, prefect.yaml (pull step set to this folder), .env.example, .gitignore.

    An existing file is kept unless ``force``; a folder that is already a project is refused unless ``force``.
    Returns what was written and kept.
    """
    root = target.expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{target}: exists and is not a folder")
    if (root / MARKER).is_file() and not force:
        raise ProjectError(f"{root}: already a leadops project ({MARKER} exists); --force rewrites missing and "
                           f"changed template files")
    root.mkdir(parents=True, exist_ok=True)
    out = InitResult(root)
    values = {"name": name or root.name, "root": str(root)}
    files = [(p, p.relative_to(TEMPLATE).as_posix()) for p in sorted(TEMPLATE.rglob("*")) if p.is_file()]
    files = [(p, rel.removesuffix(".tmpl")) for p, rel in files if "__pycache__" not in rel]
    files += [(p, f"expectations/{p.name}") for p in sorted(BUNDLED_EXPECTATIONS.glob("*.json"))]
    for src, template_rel in files:
        rel = template_rel.replace("dot-", ".", 1) if template_rel.startswith("dot-") else template_rel
        dest = root / rel
        if dest.exists() and not force:
            out.kept.append(rel)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".tmpl":
            text = src.read_text(encoding="utf-8")
            for key, value in values.items():
                text = text.replace("{{ leadops." + key + " }}", value)
            dest.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(src, dest)
        out.written.append(rel)
    (root / "var" / "inbox").mkdir(parents=True, exist_ok=True)
    return out
