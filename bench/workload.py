"""The workload the pipeline benchmarks share: a deterministic lead file, the firmographics of its
companies (as an offline CSV and as a loopback HTTP provider), and a config folder for the run.

The config folder is a copy of config/ with two changes, both written into it (never into config/):
- every SDR's daily and open-lead caps are raised so that a benchmark's MQLs can all be assigned
  (with the sample caps of 40-50 a day, 100k leads would mostly end in the fallback queue, and
  the run would measure manager alerts instead of routing);
- the enrichment provider is the offline CSV of the generated companies, or a Clearbit-shaped
  HTTP provider at a loopback URL.
"""
from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
FIRMO_KEY_ENV = "BENCH_FIRMO_KEY"
FIRMO_KEY = "bench-key"
HEADER = ["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Country", "Source"]
FIRST = ["Jean", "Élodie", "Hans", "Zoé", "Łukasz", "Søren", "Ana", "Priya", "Tom", "Chloé", "Marco", "Ines"]
LAST = ["Dupont", "Müller", "Núñez", "de la Fontaine", "O'Brien", "Berg", "Lefèvre", "Smith", "Rossi", "Novak"]
# (country as written in exports, weight): French and English names and ISO codes, one unknown
COUNTRIES = [("France", 30), ("FR", 5), ("Allemagne", 8), ("Germany", 7), ("United Kingdom", 12), ("Spain", 7),
             ("United States", 12), ("Netherlands", 6), ("Italy", 5), ("Poland", 4), ("Canada", 3), ("Narnia", 1)]
SOURCES = [("web_form", 40), ("webinar", 20), ("demo_request", 15), ("white_paper", 15), ("trade_show", 10)]
TITLES = ["CTO", "DSI", "Head of Marketing", "Comptable", "VP Sales", "IT Manager", "Software Engineer",
          "Directeur commercial", "Geschäftsführer", "Data Analyst"]
INDUSTRIES = ["Software", "IT Services", "Financial Services", "Manufacturing", "Retail", "Healthcare", "Logistics"]
TLDS = [".fr", ".de", ".co.uk", ".es", ".com", ".nl"]


def domain(k: int) -> str:
    """Return the email domain of generated company ``k``."""
    return f"firm{k}{TLDS[k % len(TLDS)]}"


def company(k: int) -> dict[str, Any]:
    """Return what the providers know about company ``k`` (every tenth company is unknown: empty)."""
    if k % 10 == 9:
        return {}
    return {"name": f"Firm {k} SAS", "industry": INDUSTRIES[k % len(INDUSTRIES)], "employees": 5 + (k * 37) % 6000,
            "country": "FR"}


def company_of(i: int, domains: int) -> int:
    """Return the company of row ``i``: spread over ``domains`` without holding state (a duplicate row can
    name an earlier row's address)."""
    return (i * 2654435761) % domains


def generate(path: Path, leads: int, domains: int | None = None, seed: int = 7, prefix: str = "p") -> int:
    """Write a lead CSV of ``leads`` rows over ``domains`` companies (default leads / 20); returns the row count.

    About 3% of rows are dirty (no email, a broken one, a disposable domain) and end in
    quarantine, 1% name an unknown country, 2% repeat an earlier email (merged), 5% use a
    personal address (not enriched). Same arguments, same bytes.
    """
    rng = random.Random(seed)
    domains = domains or max(1, leads // 20)
    countries, cweights = zip(*COUNTRIES, strict=True)
    sources, sweights = zip(*SOURCES, strict=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(leads):
            k = company_of(i, domains)
            r = rng.random()
            if r < 0.01:
                email = ""
            elif r < 0.02:
                email = f"{prefix}{i}@"
            elif r < 0.03:
                email = f"{prefix}{i}@yopmail.com"
            elif r < 0.05 and i > 0:
                j = rng.randrange(i)
                email = f"{prefix}{j}@{domain(company_of(j, domains))}"  # an earlier row's address: merged
            elif r < 0.10:
                email = f"{prefix}{i}@gmail.com"
            else:
                email = f"{prefix}{i}@{domain(k)}"
            w.writerow([email, rng.choice(FIRST), f"{rng.choice(LAST)}{i}", f"Firm {k} SAS", rng.choice(TITLES),
                        "01 42 68 53 00", rng.choices(countries, cweights)[0], rng.choices(sources, sweights)[0]])
    return leads


def firmographics_csv(path: Path, domains: int) -> Path:
    """Write the offline provider's CSV for the generated companies; returns its path."""
    from leadops.providers.base import employee_band

    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["domain", "legal_name", "industry", "employee_count", "employee_band", "revenue_band", "country",
                    "hq_city", "technologies", "linkedin_url"])
        for k in range(domains):
            c = company(k)
            if c:
                w.writerow([domain(k), c["name"], c["industry"], c["employees"], employee_band(c["employees"]), "",
                            c["country"], "Paris", "", ""])
    return path


def fill_firmo_server(srv: Any, domains: int) -> None:
    """Teach a tests.support.firmo_server.FirmoServer the generated companies."""
    for k in range(domains):
        c = company(k)
        if c:
            srv.add(domain(k), **c)


def provider_config(enrich: str, firmo_csv: Path | None = None, base_url: str | None = None,
                    concurrency: int = 8) -> dict[str, Any]:
    """Return the sources.yaml ``providers:`` entry of the run: offline CSV or loopback HTTP (no rate limit)."""
    if enrich == "offline":
        return {"name": "offline", "kind": "offline", "path": str(firmo_csv)}
    return {"name": "firmo", "preset": "clearbit", "base_url": base_url, "token_env": FIRMO_KEY_ENV,
            "concurrency": concurrency, "max_retries": 3}


def config_dir(target: Path, provider: dict[str, Any], apis: list[dict[str, Any]] | None = None) -> Path:
    """Write the benchmark's rule folder into ``target`` (config/ with raised caps and ``provider``); returns it."""
    shutil.copytree(ROOT / "config", target, dirs_exist_ok=True)
    roster = yaml.safe_load((target / "sdrs.yaml").read_text(encoding="utf-8"))
    for p in roster["people"]:
        if p.get("role", "sdr") == "sdr":
            p["daily_cap"] = p["open_cap"] = 10_000_000
    (target / "sdrs.yaml").write_text(yaml.safe_dump(roster, allow_unicode=True, sort_keys=False), encoding="utf-8")
    sources = yaml.safe_load((target / "sources.yaml").read_text(encoding="utf-8"))
    sources["providers"] = [provider]
    sources["apis"] = apis or []
    (target / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def prepare_database(url: str, config: Path) -> None:
    """Migrate the database at ``url`` and load the roster of ``config`` (what `leadops seed` does first)."""
    from leadops.config import load_rules
    from leadops.db.migrate import upgrade
    from leadops.db.session import session_scope
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.roster import apply_roster

    upgrade(url)
    with session_scope(url) as s:
        apply_roster(SqlUnitOfWork.around(s), load_rules(config).roster)


def copy_file(src: Path, inbox: Path) -> Path:
    """Copy ``src`` into ``inbox`` (created); returns the copy's path."""
    inbox.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, inbox / src.name))
