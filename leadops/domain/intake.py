"""The rules of intake, over plain values: what a row of a lead or activity file becomes, and why a row
is held in quarantine.

Reading files, GX, the database and the validation process live in leadops/intake/; the cleaning
of single values (emails, names, countries, phones) in :mod:`leadops.domain.normalize`. Records are
plain dicts (one per input row) because GX reads them as frames and the validation process sends
them back across a process boundary; their keys are the leads (or activities) table's columns plus
the flag columns the row suites check.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from leadops.domain import normalize as nz
from leadops.domain.dedupe import folded_match_name, match_name

#: Consent values meaning the person does not want to be contacted (compared casefolded, accents removed).
OPT_OUT = frozenset({"no", "non", "n", "false", "0", "opt-out", "opt out", "optout", "opted out", "unsubscribed",
                     "desabonne", "refus", "refuse", "do not contact", "ne pas contacter"})

#: Day-first and other export formats tried after ISO 8601 (strptime: slow when it fails, so last).
DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%d/%m/%Y %H:%M", "%d/%m/%Y")

#: How a reason names a stored lead field (derived fields are named after what they come from).
LEAD_LABELS = {"first_name": "first name", "last_name": "last name", "company": "company name",
               "company_key": "company name", "job_title": "job title", "email_domain": "email",
               "source": "lead source", "campaign": "campaign", "language": "language", "phone": "phone",
               "email": "email", "country": "country", "seniority": "job title", "department": "job title"}
#: How a reason names an activity field.
ACTIVITY_LABELS = {"event_id": "event id", "detail": "detail", "event": "event", "email": "email"}

#: Usual export wordings of engagement events, by words key (see normalize._words_key).
EVENT_ALIASES = {
    "webinar attended": "webinar_attended", "attended webinar": "webinar_attended",
    "participation webinar": "webinar_attended", "webinar registration": "webinar",
    "inscription webinar": "webinar", "pricing page": "pricing_page", "pricing page visit": "pricing_page",
    "visite page tarifs": "pricing_page", "page tarifs": "pricing_page", "email clicked": "email_click",
    "email click": "email_click", "clic email": "email_click", "replied": "reply", "reponse": "reply",
    "demo request": "demo_request", "demande de demo": "demo_request", "contact sales": "contact_sales",
    "form fill": "web_form", "form submitted": "web_form", "formulaire": "web_form",
    "white paper download": "white_paper", "livre blanc": "white_paper", "whitepaper": "white_paper",
}
UNKNOWN_LEAD = "no lead with this email (ingest the lead first, then release this row)"


def parse_date(value: str | None, fmt: str | None, tz: str) -> tuple[datetime | None, str | None]:
    """Return (UTC datetime, None), or (None, why) for a value that is not a date; (None, None) for no value.

    ``fmt`` (the source's date format) is tried first, then ISO 8601 (parsed in C: strptime
    failing format after format cost ~10 us a row), then the usual export formats (day first,
    as French exports write them). Naive values are in ``tz``.
    """
    if not value:
        return None, None
    for f in ((fmt,) if fmt else ()) + (None, *DATE_FORMATS):  # None: ISO 8601
        try:
            # naive unless the format has %z: made aware right below
            dt = datetime.fromisoformat(value) if f is None else datetime.strptime(value, f)  # noqa: DTZ007
        except ValueError:
            continue
        return (dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo(tz))).astimezone(UTC), None
    return None, f"{value!r} is not a date ({fmt or 'ISO 8601 or dd/mm/yyyy'})"


@dataclass(frozen=True)
class LeadRowRules:
    """What normalizing the lead rows of one source needs: its defaults, the rule files' lists and the
    leads table's text limits (column -> length)."""

    default_source: str  # sources.yaml's, when neither the row nor the source names one
    source: str | None  # the source's constant lead source
    campaign: str | None  # the source's constant campaign
    date_format: str | None
    time_zone: str  # of naive dates
    competitor_domains: frozenset[str]
    hand_raiser_sources: frozenset[str]
    limits: Mapping[str, int]


def lead_record(row_number: int, fields: Mapping[str, str | None], raw_error: str | None, rules: LeadRowRules,
                now: datetime) -> dict[str, Any]:
    """Return one normalized candidate lead from a row's cleaned ``fields`` (grain: input row).

    Besides the leads table's columns it holds the *_raw and flag columns the row suite checks, and
    ``field_problems``: the reasons its values do not fit the leads table (``rules.limits``).
    Intake normalizes whole chunks with :func:`lead_records`, which must give the same records: a
    rule changed here is changed there too (tests/unit/test_intake_columnar.py compares them).
    """
    f = fields
    em = nz.normalize_email(f.get("email"))
    first, last = f.get("first_name"), f.get("last_name")
    full_name = f.get("full_name")
    if not (first or last) and full_name:
        parts = full_name.split(" ", 1)
        first, last = parts[0], (parts[1] if len(parts) > 1 else None)
    country_raw = f.get("country")
    country = nz.normalize_country(country_raw)
    seniority, department = nz.title_to_seniority_department(f.get("job_title"))
    company = f.get("company")  # fields are cleaned already
    source = f.get("source") or rules.source or rules.default_source
    source = source.strip().lower().replace(" ", "_").replace("-", "_")
    arrived, date_error = parse_date(f.get("created_at"), rules.date_format, rules.time_zone)
    first, last = nz.normalize_person_name(first), nz.normalize_person_name(last)
    rec: dict[str, Any] = {
        "row_number": row_number,
        "email": em.email,
        "email_raw": f.get("email"),
        "email_domain": em.domain,
        "is_free_email": em.is_free,
        "is_disposable_email": em.is_disposable,
        "is_competitor": (em.domain or "") in rules.competitor_domains,
        "first_name": first,
        "last_name": last,
        "match_name": match_name(first, last),  # for fuzzy dedupe, computed here off the storing process
        "company": company,
        "company_key": nz.company_key(company),
        "job_title": f.get("job_title"),
        "seniority": seniority,
        "department": department,
        "phone": nz.normalize_phone(f.get("phone"), country),
        "country": country,
        "country_unrecognized": country_raw if (country_raw and not country) else None,
        "language": f.get("language"),
        "source": source,
        "campaign": f.get("campaign") or rules.campaign,
        "is_hand_raiser": source in rules.hand_raiser_sources,
        "do_not_contact": nz.fold(f.get("consent") or "") in OPT_OUT,
        "arrived_at": arrived or now,
        "date_error": date_error,
        "raw_error": raw_error,
    }
    rec["field_problems"] = nz.field_problems({k: rec[k] for k in rules.limits if k in rec}, dict(rules.limits),
                                              LEAD_LABELS)
    return rec


#: The keys of a lead record, in order (see :func:`lead_record`; ``field_problems`` comes last).
LEAD_RECORD_KEYS = ("row_number", "email", "email_raw", "email_domain", "is_free_email", "is_disposable_email",
                    "is_competitor", "first_name", "last_name", "match_name", "company", "company_key", "job_title",
                    "seniority", "department", "phone", "country", "country_unrecognized", "language", "source",
                    "campaign", "is_hand_raiser", "do_not_contact", "arrived_at", "date_error", "raw_error")

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class _PerValue(dict[_K, _V]):
    """A cache over one chunk: ``fn`` of a key, computed on the key's first lookup (later ones are a
    dict lookup, in C)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[_K], _V]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: _K) -> _V:
        value = self[key] = self.fn(key)
        return value


def _fits(values: Iterable[object], limit: int) -> bool:
    """True if no text among ``values`` is longer than ``limit`` or holds a character that is not printable:
    then :func:`leadops.domain.normalize.field_problems` has nothing to say about them (control
    characters are not printable; other unprintable ones only send their row to the exact check)."""
    texts = [v for v in set(values) if type(v) is str]
    return max(map(len, texts), default=0) <= limit and "".join(texts).isprintable()


#: The fields of a row :func:`lead_records` reads
_READ = ("first_name", "last_name", "full_name", "email", "company", "job_title", "phone", "country", "language",
         "source", "campaign", "consent", "created_at")


def _columns(fields: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    """Return name -> the value of each of ``fields`` (None where a row lacks it; grain: one list per name)."""
    present = [n for n in names if fields and n in fields[0]]
    out: dict[str, list[Any]] = {}
    if len(present) > 1:
        try:  # rows read from one file hold the same fields: picked and transposed in C
            out = dict(zip(present, map(list, zip(*map(itemgetter(*present), fields), strict=True)), strict=True))
        except (KeyError, TypeError):  # a row lacking one of them (or not a dict): one lookup per cell
            out = {}
    for n in names:
        if n not in out:
            out[n] = [f.get(n) for f in fields]
    return out


def lead_records(rows: Sequence[tuple[int, Mapping[str, str | None], str | None]], rules: LeadRowRules,
                 now: datetime) -> list[dict[str, Any]]:
    """Return :func:`lead_record` of each ``(row_number, fields, raw_error)`` of a chunk, computed by column.

    The same records, key for key, as ``[lead_record(n, f, e, rules, now) for n, f, e in rows]``, but each
    value read from one cell (country, job title, first and last names and their folded forms,
    company, phone with its country, lead source, email domain, date, consent) is computed once per
    distinct value of the chunk, and the field limits are checked per column: a row's
    ``field_problems`` are looked for only in a column holding a value that could break a limit
    (most chunks have none). The email address itself is per row (most are distinct).
    """
    fields = [f for _, f, _ in rows]
    columns = _columns(fields, _READ)

    def column(name: str) -> list[Any]:
        return columns[name]

    firsts, lasts = column("first_name"), column("last_name")
    for i, full_name in enumerate(column("full_name")):
        if full_name and not (firsts[i] or lasts[i]):
            parts = full_name.split(" ", 1)
            firsts[i], lasts[i] = parts[0], (parts[1] if len(parts) > 1 else None)
    name_of = _PerValue(nz.normalize_person_name)
    firsts, lasts = list(map(name_of.__getitem__, firsts)), list(map(name_of.__getitem__, lasts))
    fold_of = _PerValue(nz.fold)
    match_names = [folded_match_name(fold_of[first] if first else None, fold_of[last]) if last else None
                   for first, last in zip(firsts, lasts, strict=True)]

    competitors = rules.competitor_domains

    def domain_kind(domain: str | None) -> tuple[bool, bool, bool]:
        free, disposable = nz.email_domain_kind(domain) if domain is not None else (False, False)
        return free, disposable, (domain or "") in competitors

    kind_of = _PerValue(domain_kind)
    role_of = _PerValue(nz.title_to_seniority_department)
    key_of = _PerValue(nz.company_key)

    def country(value: str | None) -> tuple[str | None, str | None]:
        code = nz.normalize_country(value)
        return code, (value if (value and not code) else None)

    country_of = _PerValue(country)

    def e164(number_country: tuple[str | None, str | None]) -> str | None:
        return nz.normalize_phone(*number_country)

    phone_of = _PerValue(e164)
    default_source = rules.source or rules.default_source

    def lead_source(value: str | None) -> tuple[str, bool]:
        source = (value or default_source).strip().lower().replace(" ", "_").replace("-", "_")
        return source, source in rules.hand_raiser_sources

    def arrival(value: str | None) -> tuple[datetime | None, str | None]:
        return parse_date(value, rules.date_format, rules.time_zone)

    def opts_out(consent: str | None) -> bool:
        return nz.fold(consent or "") in OPT_OUT

    source_of = _PerValue(lead_source)
    date_of = _PerValue(arrival)
    opted_out = _PerValue(opts_out)
    campaign = rules.campaign
    emails_raw, companies, titles = column("email"), column("company"), column("job_title")
    records = [
        {"row_number": n, "email": email, "email_raw": email_raw, "email_domain": domain,
         "is_free_email": (kind := kind_of[domain])[0], "is_disposable_email": kind[1], "is_competitor": kind[2],
         "first_name": first, "last_name": last, "match_name": match, "company": company,
         "company_key": key_of[company], "job_title": title, "seniority": seniority, "department": department,
         "phone": phone_of[phone, code], "country": code, "country_unrecognized": unrecognized,
         "language": language, "source": source, "campaign": row_campaign or campaign, "is_hand_raiser": hand_raiser,
         "do_not_contact": opted_out[consent], "arrived_at": arrived or now, "date_error": date_error,
         "raw_error": raw_error, "field_problems": []}
        for (n, _, raw_error), email_raw, (email, domain, _), first, last, match, company, title,
            (seniority, department), phone, (code, unrecognized), language, (source, hand_raiser), row_campaign,
            consent, (arrived, date_error)
        in zip(rows, emails_raw, map(nz.email_address, emails_raw), firsts, lasts, match_names, companies, titles,
               map(role_of.__getitem__, titles), column("phone"), map(country_of.__getitem__, column("country")),
               column("language"), map(source_of.__getitem__, column("source")), column("campaign"),
               column("consent"), map(date_of.__getitem__, column("created_at")), strict=True)
    ]
    # the field limits: the exact check only on the rows of a column holding a value that might break one
    seen: dict[str, Iterable[object]] = {
        "email_domain": kind_of.keys(), "first_name": name_of.values(), "last_name": name_of.values(),
        "company": key_of.keys(), "company_key": key_of.values(), "job_title": role_of.keys(),
        "seniority": [r[0] for r in role_of.values()], "department": [r[1] for r in role_of.values()],
        "phone": phone_of.values(), "country": [c[0] for c in country_of.values()],
        "source": [s[0] for s in source_of.values()],
    }  # the distinct values of these columns (or more)
    limits = dict(rules.limits)
    checked = [k for k in limits if k in LEAD_RECORD_KEYS]
    for k in checked:
        if not _fits(seen[k] if k in seen else map(itemgetter(k), records), limits[k]):
            for rec in records:
                if not _fits((rec[k],), limits[k]):
                    rec["field_problems"] = nz.field_problems({c: rec[c] for c in checked}, limits, LEAD_LABELS)
    return records


def lead_reasons(records: Sequence[Mapping[str, Any]], failures: Mapping[int, list[str]],
                 lead_sources: Sequence[str], source_limit: int) -> dict[int, list[str]]:
    """Return row index -> every reason to hold the lead row in quarantine (rows with none are absent).

    ``failures`` are the row suite's reasons; added to them: the field limits of the leads table
    (the records' ``field_problems``), an unreadable record, a lead source not in ``lead_sources``.
    Reasons name fields, not values (a source is shown only when it is a plausible source name:
    at most ``source_limit`` printable characters).
    """
    reasons = {i: list(r) for i, r in failures.items()}
    for i, rec in enumerate(records):
        extra = list(rec.get("field_problems") or ())
        if rec.get("raw_error"):
            extra.append(f"unreadable record: {rec['raw_error']}")
        source = rec["source"]
        if source not in lead_sources:
            shown = f" {source!r}" if len(source) <= source_limit and source.isprintable() else ""
            extra.append(f"unknown lead source{shown} (allowed: {', '.join(lead_sources)})")
        if extra:
            bucket = reasons.setdefault(i, [])
            bucket.extend(r for r in extra if r not in bucket)  # a suite of one's own may say the same
    return reasons


def event_name(value: str | None, known: set[str] | frozenset[str]) -> str | None:
    """Return the scoring event name for an export's event label ("Webinar attended" -> "webinar_attended"), or None."""
    if not value:
        return None
    words = nz._words_key(value)
    name = words.replace(" ", "_")
    if name in known:
        return name
    alias = EVENT_ALIASES.get(words)
    return alias if alias in known else None


def activity_record(row_number: int, fields: Mapping[str, str | None], raw_error: str | None, *,
                    known: set[str] | frozenset[str], date_format: str | None, tz: str, event_id_limit: int,
                    now: datetime) -> dict[str, Any]:
    """Return one candidate activity with the flag columns the activities suite checks (grain: input row).

    ``known``: the scoring event names; ``event_id_limit``: the longest event id that can be stored.
    """
    f = fields
    em = nz.normalize_email(f.get("email"))
    event = event_name(f.get("event"), known)
    occurred, date_error = parse_date(f.get("occurred_at"), date_format, tz)
    # the detail is cut to its column when stored (a documented truncation: the suite caps it
    # lower), so only control characters matter there
    problems = nz.field_problems({k: f.get(k) for k in ("email", "event", "detail", "event_id")},
                                 {"event_id": event_id_limit}, ACTIVITY_LABELS)
    return {
        "row_number": row_number,
        "email": em.email,
        "event": event,
        "event_unknown": f.get("event") if (f.get("event") and not event) else None,
        "occurred_at": occurred,
        "date_error": date_error,
        "in_future": bool(occurred and occurred > now),
        "detail": f.get("detail"),
        "event_id": f.get("event_id"),
        "raw_error": raw_error,
        "field_problems": problems,
    }


def activity_reasons(records: Sequence[Mapping[str, Any]], failures: Mapping[int, list[str]],
                     known_emails: Mapping[str, int] | set[str]) -> dict[int, list[str]]:
    """Return row index -> every reason to hold the activity row in quarantine: the suite's ``failures``,
    its field problems, an unreadable record, an email no lead has (``known_emails``)."""
    reasons = {i: list(r) for i, r in failures.items()}
    for i, rec in enumerate(records):
        extra = list(rec.get("field_problems") or ())
        if rec["raw_error"]:
            extra.append(f"unreadable record: {rec['raw_error']}")
        if rec["email"] and rec["email"] not in known_emails:
            extra.append(UNKNOWN_LEAD)
        if extra:
            reasons.setdefault(i, []).extend(extra)
    return reasons
