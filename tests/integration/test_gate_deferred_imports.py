"""Modules GX imports but validation does not use are imported on first use: who imported the stand-in
uses the real module through it."""
from __future__ import annotations

import sys

from leadops.intake import gate


def test_a_deferred_module_is_imported_on_first_use(monkeypatch):
    for name in ("xml.dom.minidom", "colorsys"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    gate._defer(("colorsys", "xml.dom.minidom", "no_such_module_here"))
    import colorsys
    from xml.dom import minidom

    assert isinstance(colorsys, gate._Deferred) and isinstance(minidom, gate._Deferred)
    assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert minidom.parseString("<a/>").documentElement.tagName == "a"
    assert not isinstance(sys.modules["colorsys"], gate._Deferred)  # the real one from then on
    assert "no_such_module_here" not in sys.modules


def test_gx_reaches_what_it_deferred():
    gate._context()
    from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl

    assert kl.stats.entropy([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert hasattr(kl.alt, "Chart")
