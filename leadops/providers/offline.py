"""The bundled offline provider: firmographics from a CSV file, for demos and air-gapped runs."""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import Any

from leadops.domain.enrichment import LookupResult
from leadops.providers.base import employee_band

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "firmographics.csv"


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = {}
        for row in csv.DictReader(fh):
            rec: dict[str, Any] = {k: (v or None) for k, v in row.items() if k != "domain"}
            if rec.get("employee_count"):
                rec["employee_count"] = int(rec["employee_count"])
                rec["employee_band"] = rec.get("employee_band") or employee_band(rec["employee_count"])
            if rec.get("technologies"):
                rec["technologies"] = rec["technologies"].split(";")
            rows[row["domain"].strip().lower()] = rec
        return rows


class OfflineProvider:
    """Looks domains up in a local CSV (domain, legal_name, industry, employee_count, ...)."""

    def __init__(self, name: str = "offline", path: str | Path | None = None) -> None:
        self.name = name
        self.path = Path(path) if path else BUNDLED

    def lookup(self, domain: str) -> LookupResult:
        """Return hit with the file's fields, or miss when the domain is not in the file."""
        try:
            rec = _load(str(self.path))
        except OSError as exc:
            return LookupResult("error", error=f"{self.path}: {exc.strerror or exc}")
        found = rec.get(domain.lower())
        if not found:
            return LookupResult("miss")
        return LookupResult("hit", {k: v for k, v in found.items() if v is not None}, confidence=0.9)
