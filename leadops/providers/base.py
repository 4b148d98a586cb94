"""The enrichment provider Protocol: look up a company by its web domain."""
from __future__ import annotations

from typing import Protocol

from leadops.domain.enrichment import LookupResult

# Firmographic fields a provider may fill; the lead table holds the routing/scoring ones.
FIELDS = (
    "legal_name", "industry", "employee_count", "employee_band", "revenue_band", "country", "hq_city",
    "technologies", "linkedin_url",
)
REQUIRED = ("industry", "employee_band")


class EnrichmentProvider(Protocol):
    name: str

    def lookup(self, domain: str) -> LookupResult:
        """Return what the provider knows of the company at ``domain``; never raises for a miss."""
        ...


def employee_band(count: int | None) -> str | None:
    """Return the employee band label for a head count (1-10 ... 5001+)."""
    if count is None:
        return None
    for upper, label in ((10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000"), (5000, "1001-5000")):
        if count <= upper:
            return label
    return "5001+"
