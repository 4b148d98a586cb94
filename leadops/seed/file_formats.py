"""The byte formats of the inbox files: each source's encoding, delimiter, headers, dates and country
names, as the exports the readers must cope with write them."""
from __future__ import annotations

import csv
import io
import json
import random
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from leadops.seed.context import Ctx
from leadops.seed.people import SamplePerson
from leadops.seed.plan import InboxFile, InboxRow
from leadops.seed.reference import CAMPAIGNS, COUNTRY_TZ, ENGLISH_COUNTRIES, FRENCH_COUNTRIES
from leadops.seed.text import ascii_fold


def csv_bytes(header: list[str], rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8",
               bom: bool = False) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def _cp1252_safe(text: str) -> str:
    """Return ``text`` encodable in Windows-1252 (badge scanners drop what they cannot print)."""
    try:
        text.encode("cp1252")
        return text
    except UnicodeEncodeError:
        return "".join(c if c.encode("cp1252", "ignore") else ascii_fold(c) for c in text)


def _country_text(rng: random.Random, code: str, french: bool) -> str:
    names = FRENCH_COUNTRIES if french else ENGLISH_COUNTRIES
    r = rng.random()
    if french or r < 0.55:
        return names[code]
    return code if r < 0.85 else code.lower() if r < 0.92 else {"GB": "UK", "US": "USA"}.get(code, names[code].upper())


def _national_phone(phone: str | None) -> str:
    """Return the phone as an office would type it (national format, with spaces)."""
    if not phone:
        return ""
    num = phonenumbers.parse(phone)
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)


def _rows_meta(rows: list[list[Any]]) -> tuple[InboxRow, ...]:
    return tuple(InboxRow(p.email, kind, note) for p, _, kind, note in rows)


def _iso_local(t: datetime, country: str) -> str:
    return t.astimezone(ZoneInfo(COUNTRY_TZ.get(country, "Europe/Paris"))).isoformat(timespec="seconds")


def _country_code(p: SamplePerson) -> str:
    return p.country if p.country in ENGLISH_COUNTRIES else ""


def _country_field(rng: random.Random, p: SamplePerson, french: bool) -> str:
    return _country_text(rng, p.country, french) if _country_code(p) else p.country


def webform_file(ctx: Ctx, name: str, rows: list[list[Any]]) -> InboxFile:
    """webform-*.csv: UTF-8, comma, English headers, local ISO timestamps with offset."""
    header = ["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Country", "Source", "Created At"]
    data = [[p.email, p.first, p.last, p.company_name, p.title, p.phone or "",
             _country_field(ctx.rng, p, False), "web_form", _iso_local(t, _country_code(p))] for p, t, *_ in rows]
    return InboxFile(name, "utf-8", csv_bytes(header, data), _rows_meta(rows))


def demo_file(ctx: Ctx, name: str, rows: list[list[Any]]) -> InboxFile:
    """demo-requests-*.csv: UTF-8 with BOM, English headers, UTC timestamps; demo_request or contact_sales."""
    header = ["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Country", "Source", "Created At"]
    data = [[p.email, p.first, p.last, p.company_name, p.title, p.phone or "", _country_field(ctx.rng, p, False),
             "demo_request" if ctx.rng.random() < 0.65 else "contact_sales", t.strftime("%Y-%m-%dT%H:%M:%SZ")]
            for p, t, *_ in rows]
    return InboxFile(name, "utf-8-sig", csv_bytes(header, data, bom=True), _rows_meta(rows))


def salon_file(ctx: Ctx, name: str, rows: list[list[Any]], day: date) -> InboxFile:
    """salon-*.csv: Windows-1252, semicolons, French headers and country names, dd/mm/yyyy dates."""
    header = ["Courriel", "Prénom", "Nom", "Société", "Fonction", "Pays", "Téléphone", "Date"]
    data = []
    for i, (p, _t, *_) in enumerate(rows):
        company = p.company_name
        if i == 3:
            company = "Conseil & Data; Groupe Horizon"  # a quoted semicolon
        data.append([_cp1252_safe(v) for v in (
            p.email, p.first, p.last, company, p.title, _country_field(ctx.rng, p, True),
            _national_phone(p.phone) if _country_code(p) else "", day.strftime("%d/%m/%Y"))])
    return InboxFile(name, "cp1252", csv_bytes(header, data, delimiter=";", encoding="cp1252"), _rows_meta(rows))


def webinar_file(ctx: Ctx, name: str, rows: list[list[Any]]) -> InboxFile:
    """webinar-*.jsonl: one JSON object per line (UTC ISO created_at) and one garbage line."""
    lines = [json.dumps({"email": p.email, "first_name": p.first, "last_name": p.last, "company": p.company_name,
                         "job_title": p.title, "country": _country_field(ctx.rng, p, False),
                         "created_at": t.isoformat(timespec="seconds")}, ensure_ascii=False) for p, t, *_ in rows]
    lines.insert(len(lines) // 2, '{"email": "broken@example.com", "first_name": "Half a line')
    return InboxFile(name, "utf-8", ("\n".join(lines) + "\n").encode("utf-8"), _rows_meta(rows))


def outbound_file(ctx: Ctx, name: str, rows: list[list[Any]]) -> InboxFile:
    """outbound-*.csv: tab-delimited purchased list with French headers and no dates."""
    header = ["E-mail", "Prénom", "Nom", "Entreprise", "Poste", "Pays"]
    data = [[p.email, p.first, p.last, p.company_name, p.title, _country_field(ctx.rng, p, True)]
            for p, *_ in rows]
    return InboxFile(name, "utf-8", csv_bytes(header, data, delimiter="\t"), _rows_meta(rows))


def whitepaper_file(ctx: Ctx, name: str, rows: list[list[Any]]) -> InboxFile:
    """whitepaper-*.csv: UTF-8 comma; one job title holds a quoted embedded newline."""
    header = ["Email", "First Name", "Last Name", "Company", "Job Title", "Country", "Source", "Campaign",
              "Created At"]
    data = []
    for i, (p, t, *_) in enumerate(rows):
        title = "Head of Data\nEMEA" if i == 2 else p.title
        data.append([p.email, p.first, p.last, p.company_name, title, _country_field(ctx.rng, p, False),
                     "white_paper", CAMPAIGNS["white_paper"][i % 2], _iso_local(t, _country_code(p))])
    return InboxFile(name, "utf-8", csv_bytes(header, data), _rows_meta(rows))
