"""Settings (environment, LEADOPS_ prefix) and the rule files ops edit under config/.

Nothing here runs at import time: call :func:`get_settings` and :func:`load_rules`.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadops.crm.config import CrmConnector, HubSpotConnector, SalesforceConnector


class ConfigError(Exception):
    """A rule file or setting is wrong; the message names file, key, value and what is allowed."""


# --------------------------------------------------------------------------- settings


class Settings(BaseSettings):
    """Environment settings. Secrets are SecretStr so they never print in logs or reprs."""

    model_config = SettingsConfigDict(env_prefix="LEADOPS_", extra="ignore")

    database_url: str = "sqlite:///leadops.db"
    config_dir: Path = Path("config")
    expectations_dir: Path = Path("expectations")
    var_dir: Path = Path("var")
    # checked here (an IANA name), so a bad value stops the command before any run, naming the variable
    company_time_zone: Annotated[str, AfterValidator(lambda v: _zone(v))] = "Europe/Paris"  # noqa: PLW0108 - _zone comes later
    # rows per intake chunk: a file is read, validated and stored this many rows at a time,
    # so memory stays flat in the file size (GX batch = one chunk)
    intake_chunk_rows: int = Field(default=20_000, ge=100)
    # GX runs in a validation process beside the run's (see leadops.intake.validation_process); false keeps it here
    validation_process: bool = True
    # notifications: "file" writes .eml files under var/outbox (the offline default);
    # "smtp" sends through the SMTP server below.
    notify_channel: Literal["file", "smtp"] = "file"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = "leadops@localhost"
    webhook_url: SecretStr | None = None
    # Slack (notify.yaml slack:), when no credentials_block is named: a bot token (xoxb-...) or an incoming webhook URL
    slack_token: SecretStr | None = None
    slack_webhook_url: SecretStr | None = None
    # the Slack app's signing secret: the intake service verifies each button press with it
    slack_signing_secret: SecretStr | None = None
    # seconds a delivery pass holds its claim on outbox messages without renewing it (it renews every third of
    # it while alive): the messages of a sender that was killed are sent by the next pass after this
    outbox_lease_seconds: float = Field(default=30, ge=1, le=600)
    report_recipients: list[str] = Field(default_factory=list)
    # where the scoring of a large batch runs: "default" scores in the flow's process, as one
    # task; "dask" splits the leads into partitions scored in parallel on a Dask cluster
    # (PostgreSQL only: SQLite takes one writer at a time)
    task_runner: Literal["default", "dask"] = "default"
    # scheduler of a running Dask cluster (tcp://host:8786); none: a temporary LocalCluster per run
    dask_address: str | None = None
    # worker processes of that temporary LocalCluster (none: Dask's choice, one per core or so)
    dask_workers: int | None = Field(default=None, ge=1)
    # leads per scoring partition on Dask; also bounds the ids bound in one IN list
    score_partition_leads: int = Field(default=20_000, ge=1, le=30_000)
    # the project folder (leadops.project): filled by get_settings, LEADOPS_HOME when set
    home: Path | None = None

    @property
    def inbox_dir(self) -> Path:
        return self.var_dir / "inbox"

    @property
    def reports_dir(self) -> Path:
        return self.var_dir / "reports"

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"


def get_settings(**overrides: Any) -> Settings:
    """Return settings (not cached): explicit overrides, then the environment, then the project's `.env`, then
    the `settings:` of its `leadops.yaml`, then defaults; relative paths taken from the project folder.

    The project folder is $LEADOPS_HOME or the nearest folder at or above the working directory holding
    `leadops.yaml` (leadops.project); without one, relative paths stay relative to the working directory.
    """
    from leadops.project import ProjectError, find_root, project_settings

    try:
        root = find_root()
        from_file = project_settings(root) if root else {}
    except ProjectError as exc:
        raise ConfigError(str(exc)) from None
    unknown = sorted(set(from_file) - set(Settings.model_fields))
    if unknown and root is not None:  # settings come from a file only when there is a project folder
        raise ConfigError(f"{root / 'leadops.yaml'}: settings.{unknown[0]}: not a leadops setting "
                          f"(known: {', '.join(sorted(Settings.model_fields))})")
    env_file = root / ".env" if root and (root / ".env").is_file() else None
    try:
        first = Settings(_env_file=env_file, **overrides)
        # the environment and .env win over leadops.yaml: only settings they left unset come from the file
        from_file = {k: v for k, v in from_file.items() if k not in first.model_fields_set}
        s = Settings(_env_file=env_file, **{**from_file, **overrides}) if from_file else first
    except ValidationError as exc:
        raise ConfigError(_settings_errors(exc, env_file, root, from_file, overrides)) from None
    return _anchored(s, root)


def _settings_errors(exc: ValidationError, env_file: Path | None, root: Path | None, from_file: dict[str, Any],
                     overrides: dict[str, Any]) -> str:
    """Return one line per wrong setting naming the variable and where its value came from (first source that
    sets it: an override, the environment, `.env`, then the `settings:` of leadops.yaml), its value and what is
    allowed."""
    env_text = env_file.read_text(encoding="utf-8", errors="replace") if env_file else ""
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else ""
        var = f"LEADOPS_{name.upper()}"
        if name in overrides:
            where = f"{name} (given by the caller)"
        elif any(k.upper() == var for k in os.environ):
            where = f"environment: {var}"
        elif re.search(rf"(?im)^\s*(export\s+)?{var}\s*=", env_text):
            where = f"{env_file}: {var}"
        elif name in from_file and root is not None:
            where = f"{root / 'leadops.yaml'}: settings.{name}"
        else:
            where = f"environment: {var}"
        rest = ".".join(str(x) for x in err["loc"][1:])
        lines.append(f"{where}{'.' + rest if rest else ''} = {err.get('input')!r}: {_clean(err['msg'])}")
    return "\n".join(lines)


def _anchored(s: Settings, root: Path | None) -> Settings:
    """Return ``s`` with relative folders and a relative SQLite file taken from the project folder ``root``.

    Without a project folder the GX suites fall back to those bundled with leadops when ``expectations``
    is not a folder here, so a bare command still validates with the default suites.
    """
    from leadops.project import BUNDLED_EXPECTATIONS

    base = root or Path.cwd()
    changes: dict[str, Any] = {"home": root}
    for name in ("config_dir", "expectations_dir", "var_dir"):
        value = getattr(s, name)
        if not value.is_absolute():
            changes[name] = base / value
    exp = changes.get("expectations_dir", s.expectations_dir)
    if "expectations_dir" not in s.model_fields_set and not exp.is_dir():
        changes["expectations_dir"] = BUNDLED_EXPECTATIONS
    url = s.database_url
    if url.startswith("sqlite") and root is not None:
        from sqlalchemy.engine import make_url

        u = make_url(url)
        if u.database and u.database != ":memory:" and not Path(u.database).is_absolute():
            changes["database_url"] = u.set(database=str(root / u.database)).render_as_string(hide_password=False)
    return s.model_copy(update=changes)


# --------------------------------------------------------------------------- helpers


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Paris'") from None
    return value


def _hhmm(value: Any) -> str:
    if isinstance(value, int):  # YAML reads 09:00 unquoted as sexagesimal minutes
        value = f"{value // 60:02d}:{value % 60:02d}"
    if isinstance(value, time):
        value = value.strftime("%H:%M")
    if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"expected a time as HH:MM (00:00-23:59), got {value!r}")
    return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d)\s*$")
BUSINESS_DAY_HOURS = 8


def parse_duration(value: Any) -> int:
    """Return business seconds for '90m', '4h' or '1d' (a business day is 8 business hours)."""
    if isinstance(value, (int, float)):
        return int(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"expected a duration like '90m', '4h' or '1d', got {value!r}")
    n, unit = float(m.group(1)), m.group(2)
    return int(n * {"m": 60, "min": 60, "h": 3600, "d": BUSINESS_DAY_HOURS * 3600}[unit])


def _country(value: Any) -> str:
    """Return ``value`` when it is an ISO 3166-1 alpha-2 code as leads carry it after normalization ("FR")."""
    from leadops.domain.normalize import normalize_country

    if isinstance(value, str) and len(value) == 2 and value.isupper() and normalize_country(value) == value:
        return value
    code = normalize_country(value) if isinstance(value, str) else None
    hint = f"; did you mean {code!r}?" if code else ""
    raise ValueError(f"expected an ISO 3166-1 alpha-2 country code in capitals such as 'FR', 'GB' or 'NO'{hint}")


@lru_cache(maxsize=1)
def _holiday_countries() -> frozenset[str]:
    import holidays

    return frozenset(holidays.list_supported_countries())


def _holiday_country(value: str) -> str:
    if value not in _holiday_countries():
        raise ValueError(f"no public-holiday calendar for {value!r} in the holidays package (it knows "
                         f"{len(_holiday_countries())} countries, e.g. FR, GB, US, NO; leave holiday_country out "
                         f"for none)")
    return value


def _iso_bound(value: Any) -> str:
    """Return an out-of-office bound as ISO text: YAML reads an unquoted 2026-11-16 as a date."""
    if isinstance(value, (date, datetime)):
        value = value.isoformat()
    if not isinstance(value, str):  # pydantic reports a ValueError (not a TypeError) as the field's error
        raise ValueError(f"expected an ISO date such as 2026-11-16 or a datetime such as 2026-11-16T14:00, "
                         f"got {value!r}")
    try:
        date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("expected an ISO date such as 2026-11-16 or a datetime such as 2026-11-16T14:00") from None
    return value


def _clean(msg: str) -> str:
    """Return pydantic's message without its 'Value error, ' prefix (our own messages say what is wrong)."""
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


Zone = Annotated[str, AfterValidator(_zone)]
HHMM = Annotated[str, BeforeValidator(_hhmm)]
Duration = Annotated[int, BeforeValidator(parse_duration)]
Country = Annotated[str, BeforeValidator(_country)]
HolidayCountry = Annotated[str, BeforeValidator(_country), AfterValidator(_holiday_country)]
IsoBound = Annotated[str, BeforeValidator(_iso_bound)]


def _countries_in_when(when: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Check the ``country`` values of a ``when:`` mapping: leads carry alpha-2 codes, so 'UK' or 'France' would
    never match."""
    for i, value in enumerate(when.get("country", [])):
        try:
            _country(value)
        except ValueError as exc:
            raise ValueError(f"country.{i} = {value!r}: {exc}") from None
    return when


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- sdrs.yaml


class OutOfOfficeRule(Strict):
    start: IsoBound  # ISO date or datetime, in the person's time zone when no offset
    end: IsoBound  # a bare date is inclusive: the whole day
    reason: str | None = None


class Person(Strict):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    role: Literal["sdr", "ae", "manager"] = "sdr"
    team: str | None = None
    time_zone: Zone = "Europe/Paris"
    work_start: HHMM = "09:00"
    work_end: HHMM = "18:00"
    work_days: list[Annotated[int, Field(ge=0, le=6)]] = [0, 1, 2, 3, 4]
    holiday_country: HolidayCountry | None = None
    daily_cap: int = Field(40, ge=0)
    open_cap: int = Field(200, ge=0)
    # share of new leads against the pool's other members; 0 = takes no new lead (routing skips them with
    # reason 'weight 0'); a pool or rule left with only weight-0 SDRs is an error at load
    weight: float = Field(1.0, ge=0)
    territories: list[Country] = []
    segments: list[str] = []
    languages: list[str] = []
    manager: str | None = None
    paired_ae: str | None = None
    # this person's owner/user id in each CRM connector (connector name -> id); without one, the CRM owner
    # whose email is this person's email
    crm_ids: dict[str, str] = {}
    # this person's Slack member id (U...), when their Slack email differs from ``email`` (else looked up by email)
    slack_user: str | None = Field(None, pattern=r"^[UW][A-Z0-9]{2,}$")
    # a manager's team channel (#name or C... id) for breach alerts and digests; else notify.yaml's managers_channel
    slack_channel: str | None = Field(None, pattern=r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{2,})$")
    active: bool = True
    out_of_office: list[OutOfOfficeRule] = []

    @model_validator(mode="after")
    def _hours_order(self) -> Person:
        if self.work_end <= self.work_start:
            raise ValueError(f"work_end {self.work_end} must be after work_start {self.work_start}")
        return self

    @field_validator("out_of_office")
    @classmethod
    def _periods(cls, periods: list[OutOfOfficeRule], info: ValidationInfo) -> list[OutOfOfficeRule]:
        """Every out-of-office period ends after it starts, and no two of one person overlap (bounds read in the
        person's time zone; checked even when another key of the person is wrong, so all problems show at once)."""
        from leadops.domain.roster import absence_instant

        tz = info.data.get("time_zone", "UTC")
        problems, spans = [], []
        for i, o in enumerate(periods):
            start, end = absence_instant(o.start, tz, False), absence_instant(o.end, tz, True)
            if end <= start:
                problems.append(f"item {i} {o.start}..{o.end} ends before it starts (a bare end date counts its "
                                f"whole day)")
            else:
                spans.append((start, end, i, o))
        spans.sort(key=lambda x: (x[0], x[1]))
        for n, (_, end_a, i, a) in enumerate(spans):
            for start_b, _, j, b in spans[n + 1:]:
                if start_b < end_a:
                    (i1, p1), (i2, p2) = sorted([(i, a), (j, b)], key=lambda x: x[0])
                    problems.append(f"item {i1} {p1.start}..{p1.end} and item {i2} {p2.start}..{p2.end} overlap: "
                                    f"merge them into one period")
        if problems:
            raise ValueError("; ".join(problems))
        return periods


class Roster(Strict):
    people: list[Person]

    @model_validator(mode="after")
    def _references(self) -> Roster:
        codes = [p.code for p in self.people]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"duplicate codes: {', '.join(dupes)}")
        known = set(codes)
        for p in self.people:
            for key in ("manager", "paired_ae"):
                ref = getattr(p, key)
                if ref is not None and ref not in known:
                    raise ValueError(f"{p.code}.{key} = {ref!r} is not a code in this roster")
        return self


# --------------------------------------------------------------------------- scoring.yaml


class FitRule(Strict):
    field: Literal["industry", "employee_band", "country", "seniority", "department", "revenue_band", "source"]
    points: dict[str, float]
    default: float = 0

    @model_validator(mode="after")
    def _country_keys(self) -> FitRule:
        if self.field == "country":
            for key in self.points:
                try:
                    _country(key)
                except ValueError as exc:
                    raise ValueError(f"points.{key}: {exc}") from None
        return self


class Grades(Strict):
    # fit grade thresholds (>=), best first; anything under the last is D
    fit: dict[Literal["A", "B", "C"], float] = {"A": 70, "B": 50, "C": 30}
    # engagement grade thresholds (>=); 1 is the most engaged, under the last is 4
    engagement: dict[Literal["1", "2", "3"], float] = {"1": 60, "2": 35, "3": 15}


class Engagement(Strict):
    half_life_days: float = Field(14, gt=0)
    cap: float = Field(100, gt=0)
    points: dict[str, float]


class ModelBlend(Strict):
    """Blending the learned conversion model into the score (off unless enabled: never silent)."""

    enabled: bool = False
    path: str = "var/models/conversion.joblib"  # written by `leadops score train`
    weight: float = Field(0.3, ge=0, le=1)  # total = (1 - weight) * rules score + weight * 100 * p(convert)


class ScoringRules(Strict):
    mql_threshold: float = Field(60, ge=0)
    hand_raiser_sources: list[str] = ["demo_request", "contact_sales"]
    fit_cap: float = Field(100, gt=0)
    fit: list[FitRule]
    engagement: Engagement
    negative: dict[Literal["competitor", "free_email", "disposable_email", "student", "job_seeker", "do_not_contact",
                           "bounced"], float] = {}
    # an unowned lead under the MQL threshold with no touch for this many days goes to nurture
    nurture_after_days: float = Field(30, gt=0)
    competitor_domains: list[str] = []
    grades: Grades = Grades()
    model: ModelBlend = ModelBlend()
    version: str = ""  # filled from the file's content hash on load


# --------------------------------------------------------------------------- routing.yaml


class Pool(Strict):
    members: list[str]
    # when the lead's account owner is a member but unavailable (out of office, capped):
    # next_available gives the lead to someone else now; hold_for_owner keeps it for the owner
    # up to hold_max_hours, then gives it to the next available member
    policy: Literal["next_available", "hold_for_owner"] = "next_available"
    hold_max_hours: float = Field(24, gt=0)


class Target(Strict):
    sdr: str | None = None
    pool: str | None = None
    account_owner: bool = False

    @model_validator(mode="after")
    def _one(self) -> Target:
        chosen = [k for k in ("sdr", "pool") if getattr(self, k)] + (["account_owner"] if self.account_owner else [])
        if len(chosen) != 1:
            raise ValueError("a rule routes to exactly one of: sdr, pool, account_owner")
        return self


def _listify_when(data: Any) -> Any:
    """Let `when: {country: FR}` stand for `when: {country: [FR]}`."""
    if isinstance(data, dict) and isinstance(data.get("when"), dict):
        data = dict(data)
        data["when"] = {k: v if isinstance(v, list) else [v] for k, v in data["when"].items()}
    return data


class RoutingRule(Strict):
    name: str
    when: Annotated[dict[str, list[Any]], AfterValidator(_countries_in_when)] = {}
    to: Target

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data: Any) -> Any:
        return _listify_when(data)


class RoutingRules(Strict):
    rules: list[RoutingRule]
    # pool names: at most 100 characters (a name keys its round-robin positions, routing_positions.pool)
    pools: dict[Annotated[str, Field(max_length=100)], Pool] = {}
    assign_new_accounts: bool = True
    # also announce each assignment on the webhook (LEADOPS_WEBHOOK_URL), besides the SDR's email
    notify_webhook: bool = False

    @model_validator(mode="after")
    def _pools_exist(self) -> RoutingRules:
        for r in self.rules:
            if r.to.pool and r.to.pool not in self.pools:
                raise ValueError(f"rule {r.name!r} routes to pool {r.to.pool!r}, which is not under pools:")
        return self


# --------------------------------------------------------------------------- sla.yaml


class SlaPolicy(Strict):
    name: str
    when: Annotated[dict[str, list[Any]], AfterValidator(_countries_in_when)] = {}
    first_touch: Duration

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data: Any) -> Any:
        return _listify_when(data)


class Cadence(Strict):
    """The follow-up cadence after the first touch: ``touches`` touches by the owner within ``within``."""

    touches: int = Field(6, ge=2)  # the first touch counts
    within: Duration  # business time from the first touch, e.g. 10d


class SlaRules(Strict):
    reminder_at: float = Field(0.75, gt=0, lt=1)
    reassign_at: float = Field(2.0, ge=1)
    touch_kinds: list[Literal["call", "email", "linkedin", "meeting"]] = ["call", "email", "linkedin"]
    policies: list[SlaPolicy]
    cadence: Cadence | None = None


# --------------------------------------------------------------------------- sources.yaml


class FileSource(Strict):
    name: str
    pattern: str  # filename glob inside the inbox, e.g. "salon-*.csv"
    # leads: one lead per row; activities: one engagement event per row for known leads
    # (email, event, occurred_at), which scoring reads
    kind: Literal["leads", "activities"] = "leads"
    source: str | None = None  # constant lead source when the file has no source column
    campaign: str | None = None
    columns: dict[str, str] = {}  # source header -> canonical field
    date_format: str | None = None
    min_email_fill_rate: float | None = Field(None, ge=0, le=1)  # overrides the leads_raw suite's `mostly`


class ApiSource(Strict):
    """A CRM-style REST API read incrementally (updated-since watermark) page by page."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    url: str = Field(pattern=r"^https?://")
    records_path: str = "data"  # dotted path to the list of records in each page's JSON
    pagination: Literal["page", "cursor"] = "page"
    page_param: str = "page"  # page pagination: 1-based page number parameter
    cursor_param: str = "cursor"  # cursor pagination: parameter carrying the next cursor
    next_cursor_path: str = "next_cursor"  # dotted path of the next cursor in the JSON (null = last page)
    page_size_param: str = "per_page"
    page_size: int = Field(100, ge=1, le=10000)
    updated_since_param: str = "updated_since"
    updated_at_field: str = "updated_at"  # record field holding its last-update time (ISO 8601)
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "
    token_env: str | None = None  # environment variable holding the token
    token_secret_block: str | None = None  # or a Prefect Secret block name
    timeout_seconds: float = Field(30, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    source: str | None = None  # constant lead source when records carry none
    campaign: str | None = None
    columns: dict[str, str] = {}  # record key -> canonical field (else the default aliases)


#: where intake rows come from: a file pattern, a REST API, or a CRM connector (leadops.crm.config)
class WebhookSource(Strict):
    """Leads POSTed to the real-time intake service (`leadops intake serve`): ``POST /v1/leads/{name}``
    (docs/how-to/realtime-intake.md)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)
    # leads: leadops' own (a JSON object, a JSON array, a form post); hubspot: a HubSpot workflow's "Send a webhook"
    # (the contact's properties, flat or as {"value": ...}); salesforce_outbound: a Salesforce outbound message (SOAP)
    shape: Literal["leads", "hubspot", "salesforce_outbound"] = "leads"
    # bearer: ``Authorization: Bearer <secret>``; hmac: ``X-Leadops-Timestamp`` (epoch seconds) and
    # ``X-Leadops-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed by the secret>``; url_token: the
    # secret as the ``token`` query parameter (Salesforce outbound messages carry no header of the sender's)
    auth: Literal["bearer", "hmac", "url_token"] = "bearer"
    secret_env: str = "LEADOPS_INTAKE_SECRET"  # noqa: S105 - the name of the variable holding the token or HMAC key...
    secret_block: str | None = None  # ...or a Prefect Secret block
    max_skew_seconds: float = Field(300, gt=0, le=3600)  # hmac: a timestamp further from now is refused (replays)
    max_leads: int = Field(100, ge=1, le=1000)  # leads one request may carry
    source: str | None = None  # lead source of the leads (else their own `source` field, else default_source)
    campaign: str | None = None
    columns: dict[str, str] = {}  # payload field -> lead field (else the default aliases: "First Name", email...)
    # the intake gate's email fill rate per micro-batch: each lead stands alone, so none by default
    min_email_fill_rate: float = Field(0.0, ge=0, le=1)
    updated_at_field: str = "updated_at"  # not used: requests carry no watermark

    @model_validator(mode="after")
    def _shape_defaults(self) -> WebhookSource:
        from leadops.crm.config import HUBSPOT_COLUMNS, SALESFORCE_COLUMNS

        if self.shape == "salesforce_outbound" and self.auth != "url_token":
            raise ValueError("shape salesforce_outbound: Salesforce sends no header of yours; use auth: url_token "
                             "(the endpoint URL carries ?token=...)")
        if not self.columns and self.shape != "leads":
            self.columns = dict(HUBSPOT_COLUMNS if self.shape == "hubspot" else SALESFORCE_COLUMNS)
        return self


IntakeSource = FileSource | ApiSource | WebhookSource | HubSpotConnector | SalesforceConnector


#: Request and response shapes of two public firmographic APIs, as documented by their vendors:
#: Clearbit Company API (GET /v2/companies/find?domain=, bearer key; 404 unknown, 202 queued)
#: and People Data Labs Company Enrichment (GET /v5/company/enrich?website=, X-Api-Key; 404 unknown).
PROVIDER_PRESETS: dict[str, dict[str, Any]] = {
    "clearbit": {
        "base_url": "https://company.clearbit.com",
        "url_template": "{base_url}/v2/companies/find?domain={domain}",
        "auth_header": "Authorization", "auth_prefix": "Bearer ",
        "fields": {"legal_name": "legalName|name", "industry": "category.industry", "employee_count": "metrics.employees",
                   "employee_band": "metrics.employeesRange", "revenue_band": "metrics.estimatedAnnualRevenue",
                   "country": "geo.countryCode", "hq_city": "geo.city", "technologies": "tech",
                   "linkedin_url": "linkedin.handle"},
        "retry_later_statuses": [202],
    },
    "peopledatalabs": {
        "base_url": "https://api.peopledatalabs.com",
        "url_template": "{base_url}/v5/company/enrich?website={domain}",
        "auth_header": "X-Api-Key", "auth_prefix": "",
        "fields": {"legal_name": "display_name|name", "industry": "industry", "employee_count": "employee_count",
                   "employee_band": "size", "revenue_band": "inferred_revenue", "country": "location.country",
                   "hq_city": "location.locality", "technologies": "tags", "linkedin_url": "linkedin_url"},
        "confidence_path": "likelihood", "confidence_scale": 10,
        # Person Enrichment (GET /v5/person/enrich?email=): the person's level and role
        "person_url_template": "{base_url}/v5/person/enrich?email={email}",
        "person_fields": {"job_title": "data.job_title", "seniority": "data.job_title_levels",
                          "department": "data.job_title_role"},
    },
}


class ProviderConfig(Strict):
    """One enrichment provider of the waterfall (sources.yaml ``providers:``)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: Literal["offline", "http"] = "offline"
    path: str | None = None  # offline: CSV of firmographics; default is the bundled sample
    # http: a preset fills the rest; any key set here overrides it
    preset: Literal["clearbit", "peopledatalabs"] | None = None
    base_url: str | None = Field(None, pattern=r"^https?://")
    url_template: str | None = None  # "{base_url}/companies?domain={domain}"; the domain is URL-encoded
    auth_header: str | None = None
    auth_prefix: str = ""
    token_env: str | None = None  # the API key comes from this environment variable...
    token_secret_block: str | None = None  # ...or from this Prefect Secret block
    fields: dict[str, str] = {}  # leadops field -> JSON path ("metrics.employees"; "a|b" = first present)
    confidence_path: str | None = None  # JSON path of the provider's own confidence, if any
    confidence_scale: float = Field(1.0, gt=0)  # divide it by this to get 0..1
    confidence: float = Field(0.8, ge=0, le=1)  # used when the answer carries none
    miss_statuses: list[int] = [404]  # the provider does not know the company
    retry_later_statuses: list[int] = []  # accepted but not ready (e.g. 202): an error retried next run
    # optional person lookup by email (seniority, department, job title) for leads lacking them;
    # off unless person_lookup is true: it sends leads' email addresses to the provider
    person_lookup: bool = False
    person_url_template: str | None = None  # "{base_url}/people?email={email}"
    person_fields: dict[str, str] = {}  # job_title | seniority | department -> JSON path
    rate_limit_per_second: float | None = Field(None, gt=0)
    timeout_seconds: float = Field(10, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    concurrency: int = Field(4, ge=1, le=64)  # requests in flight at once
    circuit_failures: int = Field(5, ge=1)  # consecutive failed lookups that open the circuit
    circuit_cooldown_seconds: float = Field(300, gt=0)  # how long it stays open before one trial call

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset"):
            preset = PROVIDER_PRESETS.get(data["preset"])
            if preset is not None:
                data = {"kind": "http", **preset, **data}
        return data

    @model_validator(mode="after")
    def _http_needs_a_url(self) -> ProviderConfig:
        if self.kind == "http":
            if not self.url_template:
                raise ValueError(f"provider {self.name}: kind http needs url_template (or a preset)")
            if "{base_url}" in self.url_template and not self.base_url:
                raise ValueError(f"provider {self.name}: url_template uses {{base_url}}: set base_url")
            if not self.fields:
                raise ValueError(f"provider {self.name}: kind http needs fields (leadops field -> JSON path)")
            if self.person_lookup and not (self.person_url_template and self.person_fields):
                raise ValueError(f"provider {self.name}: person_lookup needs person_url_template and person_fields")
            bad_person = sorted(set(self.person_fields) - {"job_title", "seniority", "department"})
            if bad_person:
                raise ValueError(f"provider {self.name}: person_fields can map job_title, seniority, department "
                                 f"(not {', '.join(bad_person)})")
            unknown = sorted(set(self.fields) - set(ENRICHMENT_FIELDS))
            if unknown:
                raise ValueError(f"provider {self.name}: unknown field(s) {', '.join(unknown)} "
                                 f"(use {', '.join(ENRICHMENT_FIELDS)})")
        return self


ENRICHMENT_FIELDS = ("legal_name", "industry", "employee_count", "employee_band", "revenue_band", "country", "hq_city",
                     "technologies", "linkedin_url", "seniority", "department")


class EnrichmentRules(Strict):
    """How the waterfall combines providers (sources.yaml ``enrichment:``)."""

    required_fields: list[str] = ["industry", "employee_band"]  # the waterfall stops once these are filled
    ttl_days: float = Field(90, gt=0)  # a cached answer older than this is stale
    # the real-time intake service asks each HTTP provider once, with at most this timeout, so a slow provider
    # delays no lead past it: the lead is routed on what is known and enriched again by the next passes
    realtime_timeout_seconds: float = Field(2.0, gt=0, le=30)
    # field -> provider names, best first; fields not listed follow the providers' order
    field_precedence: dict[str, list[str]] = {}


class SourcesRules(Strict):
    default_source: str = "import"
    lead_sources: list[str] = [
        "web_form", "demo_request", "contact_sales", "white_paper", "webinar", "trade_show", "outbound_list", "import",
    ]
    files: list[FileSource] = []
    apis: list[ApiSource] = []
    # the endpoints of the real-time intake service (web forms, CRM webhooks), each with its authentication
    webhooks: list[WebhookSource] = []
    # HubSpot portals and Salesforce orgs, read incrementally and written back (leadops.crm.config)
    crm: list[CrmConnector] = []
    # fuzzy dedupe: same email domain, person + company similarity (0-100) at or above this merges
    fuzzy_match_threshold: float = Field(92, ge=50, le=100)
    providers: list[ProviderConfig] = [ProviderConfig(name="offline")]
    enrichment: EnrichmentRules = EnrichmentRules()

    @model_validator(mode="after")
    def _providers_are_known(self) -> SourcesRules:
        names = [p.name for p in self.providers]
        if len(set(names)) != len(names):
            raise ValueError(f"providers: names must be unique (got {', '.join(names)})")
        sources = [s.name for s in (*self.files, *self.apis, *self.crm, *self.webhooks)]
        dupes = sorted({n for n in sources if sources.count(n) > 1})
        if dupes:
            raise ValueError(f"files, apis, crm and webhooks: source names must be unique ({', '.join(dupes)} repeated)")
        for fld, order in self.enrichment.field_precedence.items():
            unknown = sorted(set(order) - set(names))
            if unknown:
                raise ValueError(f"enrichment.field_precedence.{fld}: unknown provider(s) {', '.join(unknown)}")
        return self


# --------------------------------------------------------------------------- notify.yaml

#: the message kinds Slack can carry: to the rep (a direct message) and to managers (their channel)
SlackKind = Literal["assignment", "sla_reminder", "sla_breach", "sla_digest", "unroutable_alert", "cadence"]


class SlackRules(Strict):
    """Slack, beside or instead of email (docs/how-to/slack.md)."""

    enabled: bool = False
    # app: a bot token (direct messages to reps, channel messages to managers); webhook: one incoming webhook (every
    # message to its channel, the rep named in it) for a team without a Slack app
    mode: Literal["app", "webhook"] = "app"
    # a prefect-slack block: SlackCredentials (app) or SlackWebhook (webhook); else LEADOPS_SLACK_TOKEN /
    # LEADOPS_SLACK_WEBHOOK_URL
    credentials_block: str | None = None
    api_url: str = Field("https://slack.com/api/", pattern=r"^https?://")
    kinds: list[SlackKind] = ["assignment", "sla_reminder", "sla_breach", "sla_digest", "unroutable_alert", "cadence"]
    # also send the email of a message Slack carries (else the email goes only when Slack cannot deliver it)
    email_too: bool = False
    # managers' breach alerts, digests and unroutable alerts (a manager's own slack_channel in sdrs.yaml wins);
    # unset: managers get them as direct messages
    managers_channel: str | None = Field(None, pattern=r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{2,})$")
    # Slack allows about one message per second per channel
    per_channel_per_second: float = Field(1.0, gt=0, le=10)
    # a Retry-After longer than this puts the message back for the next delivery pass instead of waiting
    max_wait_seconds: float = Field(30, ge=0, le=600)
    # how long a users.lookupByEmail answer (found or not) is kept before it is asked again
    user_cache_hours: float = Field(24, gt=0)
    # buttons on assignment messages ("Contacted", "Not mine: reassign"), handled by the intake service at
    # /v1/slack/actions (the app's Interactivity Request URL; LEADOPS_SLACK_SIGNING_SECRET verifies each press)
    interactive: bool = False
    contacted_kind: Literal["call", "email", "linkedin"] = "call"  # the touch a "Contacted" press records

    @model_validator(mode="after")
    def _webhook_mode(self) -> SlackRules:
        if self.mode == "webhook" and self.managers_channel:
            raise ValueError("managers_channel: an incoming webhook posts to its own channel only; remove "
                             "managers_channel or use mode: app")
        return self

    def carries(self, kind: str) -> bool:
        """Return whether Slack carries messages of ``kind`` (cadence_reminder/cadence_breach are ``cadence``)."""
        return self.enabled and (kind.split("_", maxsplit=1)[0] if kind.startswith("cadence_") else kind) in self.kinds


class NotifyRules(Strict):
    """notify.yaml: where messages go besides email. Optional: without the file, messages go by email only."""

    slack: SlackRules = SlackRules()


# --------------------------------------------------------------------------- loading


class Rules(BaseModel):
    scoring: ScoringRules
    routing: RoutingRules
    sla: SlaRules
    roster: Roster
    sources: SourcesRules
    notify: NotifyRules = NotifyRules()


RULE_FILES: dict[str, type[BaseModel]] = {
    "scoring.yaml": ScoringRules,
    "routing.yaml": RoutingRules,
    "sla.yaml": SlaRules,
    "sdrs.yaml": Roster,
    "sources.yaml": SourcesRules,
    "notify.yaml": NotifyRules,
}
#: rule files a project may leave out: their defaults apply
OPTIONAL_RULE_FILES = frozenset({"notify.yaml"})


class _RuleLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that only true/false are booleans.

    YAML 1.1 also reads unquoted yes/no/on/off/y/n as booleans, which turned `NO` (Norway) into False in a
    country list. Here they stay strings; pydantic still reads "yes"/"no"/"on"/"off" as booleans where a field
    is a boolean, so `active: no` keeps working.
    """


_RuleLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RuleLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))


def _timestamp(loader: _RuleLoader, node: yaml.ScalarNode) -> Any:
    # an impossible unquoted date (2026-11-31) raised a bare ValueError inside PyYAML: keep the text, so the
    # field's own check names file, key and value
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_RuleLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def read_yaml(text: str) -> Any:
    """Return the YAML document ``text`` read by the rule files' loader (only true/false are booleans)."""
    return yaml.load(text, Loader=_RuleLoader)  # noqa: S506 - a SafeLoader subclass: no arbitrary objects


def _owner(data: Any, loc: tuple[Any, ...]) -> str | None:
    """Return the code or name of the innermost list item on the path ``loc`` of ``data`` (a person, a rule, a
    provider), so the line says whose value it is without anyone counting items."""
    node, found = data, None
    for step in loc:
        if isinstance(node, dict) and isinstance(step, str):
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
            ident = (node.get("code") or node.get("name")) if isinstance(node, dict) else None
            found = ident if isinstance(ident, str) else found
        else:
            break
    return found


def _format_errors(where: str, exc: ValidationError, data: Any = None) -> str:
    """Return one line per error: ``where: key = value (whose): what is wrong and what is allowed``."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) else f" = {value!r}"
        owner = _owner(data, err["loc"])
        whose = f" ({owner})" if owner else ""
        hint = " (YAML reads unquoted true/false as booleans: quote the value)" if isinstance(value, bool) else ""
        lines.append(f"{where}: {key}{shown}{whose}: {_clean(err['msg'])}{hint}")
    return "\n".join(lines)


def _read_rule_file(path: Path, model: type[BaseModel]) -> tuple[BaseModel | None, list[str]]:
    """Return (the validated rule file, None) or (None, every problem of it, one line each)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [f"{path}: rule file not found (set LEADOPS_CONFIG_DIR to the folder holding it)"]
    try:
        data = read_yaml(text) or {}
    except yaml.YAMLError as exc:
        return None, [f"{path}: not valid YAML: {' '.join(str(exc).split())}"]
    if not isinstance(data, dict):
        return None, [f"{path}: expected a mapping at the top level, got {type(data).__name__}"]
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        return None, _format_errors(str(path), exc, data).splitlines()
    if isinstance(obj, ScoringRules):
        # A scoring model version is the content of its rules: any change is a new version.
        obj.version = obj.version or "scoring-" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return obj, []


def load_rule_file(path: Path, model: type[BaseModel]) -> BaseModel:
    """Return one validated rule file; raises ConfigError naming file, key, value and allowed values (one line
    per problem, every problem of the file)."""
    obj, problems = _read_rule_file(path, model)
    if problems:
        raise ConfigError("\n".join(problems))
    assert obj is not None  # no problem: a model
    return obj


def _cross_file_problems(rules: Rules, config_dir: Path) -> list[str]:
    """Return every problem between routing.yaml and sdrs.yaml, one line each (expanding ``members: ["*"]``)."""
    return routing_problems(rules.routing, rules.roster, config_dir / "routing.yaml", config_dir / "sdrs.yaml")


def routing_problems(routing_rules: RoutingRules, roster: Roster, routing: Path, sdrs: Path) -> list[str]:
    """Return every problem between ``routing_rules`` (read from ``routing``) and the roster (``sdrs``), one line
    each, expanding ``members: ["*"]`` in place: unknown members and targets, pools or rules that can never
    assign a lead."""
    people = {p.code: p for p in roster.people}
    problems = []
    # members: ["*"] is every active SDR of the roster, so a new SDR joins the pool by sdrs.yaml alone
    everyone = [p.code for p in roster.people if p.role == "sdr" and p.active]
    for pool in routing_rules.pools.values():
        if "*" in pool.members:
            pool.members = list(dict.fromkeys([*(m for m in pool.members if m != "*"), *everyone]))
    for pname, pool in routing_rules.pools.items():
        for m in pool.members:
            if m not in people:
                problems.append(f"{routing}: pools.{pname}.members = {m!r}: not a code in sdrs.yaml "
                                f"(known: {', '.join(sorted(people))})")
        # weight 0 takes no new lead: a pool whose active members all have it can never assign one
        active = [people[m] for m in pool.members if m in people and people[m].active]
        if active and all(p.weight == 0 for p in active):
            problems.append(f"{sdrs}: weight = 0 for every active member of pool {pname} in {routing.name} "
                            f"({', '.join(p.code for p in active)}): the pool can never assign a lead; give at "
                            f"least one of them a weight above 0")
    for r in routing_rules.rules:
        if not r.to.sdr:
            continue
        if r.to.sdr not in people:
            problems.append(f"{routing}: rules.{r.name}.to.sdr = {r.to.sdr!r}: not a code in sdrs.yaml")
        elif people[r.to.sdr].weight == 0:
            problems.append(f"{sdrs}: {r.to.sdr}.weight = 0, the only target of rule {r.name} in {routing.name}: "
                            f"the rule can never assign a lead; give {r.to.sdr} a weight above 0 or route the rule "
                            f"to a pool")
    return problems


def check_rules(config_dir: Path | str) -> tuple[Rules | None, list[str]]:
    """Return (the rules, []) or (None, every problem of every rule file and between them, one line each)."""
    config_dir = Path(config_dir)
    loaded: dict[str, Any] = {}
    problems: list[str] = []
    for name, model in RULE_FILES.items():
        if name in OPTIONAL_RULE_FILES and not (config_dir / name).exists():
            loaded[name] = model()
            continue
        obj, found = _read_rule_file(config_dir / name, model)
        loaded[name], problems = obj, problems + found
    if problems:
        return None, problems
    rules = Rules(
        scoring=loaded["scoring.yaml"],
        routing=loaded["routing.yaml"],
        sla=loaded["sla.yaml"],
        roster=loaded["sdrs.yaml"],
        sources=loaded["sources.yaml"],
        notify=loaded["notify.yaml"],
    )
    problems = _cross_file_problems(rules, config_dir)
    return (None, problems) if problems else (rules, [])


def load_rules(config_dir: Path | str) -> Rules:
    """Return every rule file of ``config_dir`` validated, with cross-file references checked; raises
    ConfigError holding every problem, one line each (the CLI shows the first)."""
    rules, problems = check_rules(config_dir)
    if problems:
        raise ConfigError("\n".join(problems))
    assert rules is not None  # no problem: the rules
    return rules


@dataclass
class ConfigCheck:
    """What `leadops config check` found: ``problems`` (one line each: file or variable, key, value, what is
    allowed); ``settings`` and ``rules`` when they loaded."""

    problems: list[str] = field(default_factory=list)
    settings: Settings | None = None
    rules: Rules | None = None
    config_dir: Path | None = None


def check_config(**overrides: Any) -> ConfigCheck:
    """Return every problem of the project's settings and rule files at once (not only the first).

    When the settings themselves are wrong, the rule files are still checked, in the folder that
    LEADOPS_CONFIG_DIR or the project would give.
    """
    out = ConfigCheck()
    try:
        out.settings = get_settings(**overrides)
        out.config_dir = out.settings.config_dir
    except ConfigError as exc:
        out.problems += str(exc).splitlines()
        from leadops.project import ProjectError, find_root

        try:
            root = find_root()
        except ProjectError:
            root = None
        out.config_dir = Path(overrides.get("config_dir") or os.environ.get("LEADOPS_CONFIG_DIR") or "config")
        if not out.config_dir.is_absolute():
            out.config_dir = (root or Path.cwd()) / out.config_dir
    out.rules, found = check_rules(out.config_dir)
    out.problems += found
    return out


@lru_cache(maxsize=8)
def _cached_rules(config_dir: str, stamp: tuple[float, ...]) -> Rules:
    return load_rules(config_dir)


def load_rules_cached(config_dir: Path | str) -> Rules:
    """Return rules, re-read whenever a rule file changes (keyed by modification times)."""
    config_dir = Path(config_dir)
    stamp = tuple((config_dir / n).stat().st_mtime if (config_dir / n).exists() else 0.0 for n in RULE_FILES)
    return _cached_rules(str(config_dir.resolve()), stamp)
