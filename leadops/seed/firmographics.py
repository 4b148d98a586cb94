"""The sample's fixed companies and the bundled offline enrichment file generated from them.

``leadops/data/firmographics.csv`` is :func:`firmographics_csv` of :func:`companies` (seed-independent).
"""
from __future__ import annotations

import csv
import io
import random
from pathlib import Path

from leadops.seed.plan import Company
from leadops.seed.reference import BANDS, CITIES, COMPANIES, TECHNOLOGIES, TLD
from leadops.seed.text import slug, strip_legal

FIRMOGRAPHICS_PATH = Path(__file__).parents[1] / "data" / "firmographics.csv"


def _band(count: int) -> str:
    return next(b for limit, b in BANDS if count <= limit)


def _revenue_band(count: int, rng: random.Random) -> str:
    revenue = count * rng.uniform(80_000, 250_000)
    for limit, band in [(1e6, "<1M"), (1e7, "1M-10M"), (5e7, "10M-50M"), (2.5e8, "50M-250M"), (1e9, "250M-1B")]:
        if revenue < limit:
            return band
    return "1B+"


def companies() -> list[Company]:
    """Return the fixed company list with its firmographics (one per company; seed-independent)."""
    out = []
    for line in COMPANIES.strip().splitlines():
        country, name, industry = line.split("|")
        listed = not country.startswith("!")
        country = country.lstrip("!")
        base = strip_legal(name)
        words = [w for w in slug(base, " ").split() if w not in {"de", "du", "la", "les", "et", "and", "of", "the"}]
        domain = "".join(words[:3]) + "." + TLD[country]
        rng = random.Random(f"firmographics:{domain}")
        size = rng.choices([8, 35, 120, 500, 2500, 9000], [0.06, 0.2, 0.3, 0.26, 0.12, 0.06])[0] if listed else \
            rng.choice([4, 9, 25])
        count = max(2, int(size * rng.uniform(0.55, 1.6)))
        out.append(Company(
            name=name, domain=domain, country=country, industry=industry, listed=listed, employee_count=count,
            employee_band=_band(count), revenue_band=_revenue_band(count, rng), hq_city=rng.choice(CITIES[country]),
            technologies=tuple(sorted(rng.sample(TECHNOLOGIES, rng.randint(2, 5)))),
            email_pattern=rng.choices(["first.last", "flast", "firstlast", "first"], [0.7, 0.15, 0.1, 0.05])[0],
        ))
    return out


def firmographics_csv() -> str:
    """Return the text of firmographics.csv: one row per listed company, sorted by domain."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["domain", "legal_name", "industry", "employee_count", "employee_band", "revenue_band", "country",
                "hq_city", "technologies", "linkedin_url"])
    for c in sorted((c for c in companies() if c.listed), key=lambda c: c.domain):
        w.writerow([c.domain, c.name, c.industry, c.employee_count, c.employee_band, c.revenue_band, c.country,
                    c.hq_city, ";".join(c.technologies), f"linkedin.com/company/{slug(strip_legal(c.name), '-')}"])
    return buf.getvalue()


def write_firmographics(path: Path | str = FIRMOGRAPHICS_PATH) -> Path:
    """Write firmographics.csv (UTF-8, comma, LF) to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(firmographics_csv().encode("utf-8"))
    return path
