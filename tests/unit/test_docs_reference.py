"""The documentation: the reference pages generated from the code are up to date, and the README's links work."""
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_reference_pages_are_not_stale():
    stale = [str(p.relative_to(ROOT)) for p in _generator().stale()]
    assert not stale, f"stale generated pages {stale}: run `make docs-reference` and commit them"


def test_every_setting_has_a_meaning_and_no_meaning_is_left_over():
    from leadops.config import Settings

    meanings = set(_generator().SETTING_MEANINGS)
    assert set(Settings.model_fields) - meanings == set(), "a new setting: say what it means in SETTING_MEANINGS"
    assert meanings - set(Settings.model_fields) == set(), "a setting was removed: drop it from SETTING_MEANINGS"


def test_readme_is_short_and_its_relative_links_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 200
    targets = re.findall(r"\]\((?!https?://)([^)#]+)(?:#[^)]*)?\)", readme)
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, missing
