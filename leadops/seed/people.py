"""Plausible people of the sample: names, titles, phones and unique emails at the fixed companies."""
from __future__ import annotations

import random
from dataclasses import dataclass

import phonenumbers

from leadops.seed.plan import Company
from leadops.seed.reference import COMPETITORS, FREE_DOMAINS, LOCALES, NAMES, STUDENT_TITLES, TITLES
from leadops.seed.text import local_part, strip_legal


@dataclass
class SamplePerson:
    """A generated person before they become a history lead or an inbox row."""

    first: str
    last: str
    email: str
    company: Company | None
    company_name: str
    country: str
    language: str
    title: str
    seniority: str | None
    department: str | None
    phone: str | None
    free_email: bool = False
    competitor: bool = False
    student: bool = False


class People:
    """Draws unique, plausible people; keeps the set of emails already used."""

    def __init__(self, rng: random.Random, comps: list[Company], competitor_domains: list[str]):
        self.rng = rng
        self.companies = comps
        self.weights = [1.0 + 0.4 * {"1-10": 0, "11-50": 1, "51-200": 2}.get(c.employee_band, 3) for c in comps]
        self.used: set[str] = set()
        comp = [(n, d) for n, d in COMPETITORS if d in competitor_domains] or \
               [(d.split(".")[0].title(), d) for d in competitor_domains]
        self.competitors = comp

    def _name(self, country: str) -> tuple[str, str, str]:
        rng = self.rng
        locales = LOCALES[country]
        locale, lang, _ = rng.choices(locales, [w for *_, w in locales])[0]
        if rng.random() < 0.08:  # international workforce
            locale = rng.choice(sorted(NAMES))
        firsts, lasts = NAMES[locale]
        return rng.choice(firsts), rng.choice(lasts), lang

    def _phone(self, country: str) -> str | None:
        if self.rng.random() < 0.3:
            return None
        example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
        assert example is not None, country  # every country of the reference data has mobile numbers
        national = str(example.national_number)
        for _ in range(8):
            digits = national[:2] + "".join(str(self.rng.randint(0, 9)) for _ in national[2:])
            num = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(digits))
            if phonenumbers.is_valid_number(num):
                return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)

    def _title(self, lang: str) -> tuple[str, str, str | None]:
        pool = TITLES.get(lang) if self.rng.random() < 0.6 else None
        return self.rng.choice(pool or TITLES["en"])

    def _unique(self, local: str, domain: str) -> str:
        email, n = f"{local}@{domain}", 1
        while email in self.used:
            n += 1
            email = f"{local}{n}@{domain}"
        self.used.add(email)
        return email

    def draw(self, country: str | None = None) -> SamplePerson:
        """Return a new person at a company (8% personal email, 1% competitor, 1.5% students)."""
        rng = self.rng
        r = rng.random()
        if r < 0.01:
            name, domain = rng.choice(self.competitors)
            company = None
            country = country or rng.choice(["FR", "GB", "US", "DE"])
        else:
            company = rng.choices(self.companies, self.weights)[0] if country is None else \
                rng.choice([c for c in self.companies if c.country == country] or self.companies)
            name, domain = company.name, company.domain
            if country is None:
                country = company.country if rng.random() < 0.92 else rng.choice(["FR", "GB", "DE", "US", "BE"])
        first, last, lang = self._name(country)
        title, seniority, department = self._title(lang)
        p = SamplePerson(first, last, "", company, name, country, lang, title, seniority, department,
                         self._phone(country))
        if company is None:
            p.competitor = True
            p.email = self._unique(local_part(first, last, "first.last"), domain)
        elif r < 0.095 or r > 0.985:  # personal email; the last 1.5% are students
            p.free_email = True
            p.company = None
            p.student = r > 0.985
            if p.student:
                p.title, p.seniority, p.department = STUDENT_TITLES.get(lang, "Student"), "student", None
                p.company_name = rng.choice(["Université Paris-Saclay", "TU München", "University of Leeds", ""])
            free = rng.choice(FREE_DOMAINS.get(country, FREE_DOMAINS["US"]))
            local = local_part(first, last, "first.last") + (str(rng.randint(70, 99)) if rng.random() < 0.4 else "")
            p.email = self._unique(local, free)
        else:
            name_variant = strip_legal(company.name) if rng.random() < 0.15 else company.name
            p.company_name = name_variant
            p.email = self._unique(local_part(first, last, company.email_pattern), domain)
        return p
