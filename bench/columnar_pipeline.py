"""The columnar baseline of bench/pipeline.py: the lead pipeline's stages as set operations on columns,
without Prefect, Great Expectations or leadops' services, into the same schema (same tables, same rows),
each stage reading its input from the database as leadops' tasks do; no per-row Python.

Definition (what "columnar" means in bench/README.md and bench/RESULTS.md):
- intake: the file read by polars (``scan_csv(...).collect_batches``, BATCH rows at a time: memory stays
  bounded in the file size); each column cleaned and normalized with leadops' pure domain functions
  (``leadops.domain.normalize``) called once per DISTINCT value (countries, titles, companies, email
  hosts, phones, sources, names; hosts and companies once per file), the common shapes settled by column
  expressions that give the same answers (text already clean; an ASCII email of a dot-atom local part and
  a plain host; a name already capitalized; the fuzzy match name, folded character by character); the
  row checks of the ``leads_intake`` suite as column expressions; exact-email dedupe as a join against
  the database and ``is_first_distinct`` within the file; fuzzy dedupe by scoring every same-domain pair
  of names at once (``rapidfuzz.process.cpdist``), then leadops' own ``dedupe.best_match`` only for the
  rows with a pair at the threshold, in file order (its answer depends on the earlier rows' decisions);
  a merge fills the lead's blanks and makes a known lead who asks for a demo again a hand-raiser, as
  leadops' intake does; accounts by leadops' rules per intake chunk of 20,000 rows (``intake_chunk_rows``:
  which domain names an account, and which account a personal address finds by its company name,
  depend on the chunk); leads, quarantine rows, merges, merge touches and the "new" stage rows written
  by COPY from polars' CSV (PostgreSQL) or one executemany per SLICE rows (SQLite);
- enrichment: one lookup per distinct business domain (the offline CSV read by polars and joined, or
  one HTTP GET per domain to the loopback provider from a thread pool of the same size as leadops');
  lookups and per-field records in bulk; the leads' enrichment columns set by ONE
  ``UPDATE leads ... FROM`` a temporary table of the per-domain values;
- scoring: the leads to score read from the database, scored by ``leadops.domain.scoring_frame.score_frame``;
  the breakdown JSON by leadops' ``breakdowns`` once per distinct combination of what it shows; scores,
  grades and stage moves written by one ``UPDATE leads ... FROM``, history rows in bulk;
- routing: the MQL queue read from the database in arrival order; ``route_lead`` decides the leads that
  need the round robin (the first lead of each account, and leads without one); every other lead goes
  to its account's owner (leadops' ``account-owner`` rule with ``assign_new_accounts``), counted into the
  owners' round-robin positions between the decisions, as leadops counts them; SLA due times once per
  (SDR, policy); assignments (with candidates JSON), clocks, "started" events and outbox rows in bulk,
  lead and account owners by ``UPDATE ... FROM``;
- notification: as the bare baseline (the oldest 500 outbox messages as .eml files, marked sent).

``run_write_once`` is the "each lead row written once" reference: every batch of the file goes through
all the stages in memory (no re-read) and each lead is inserted once with its final values (enrichment,
score, stage, owner); see its docstring.

Left out (the generated file never needs them), as in the bare baseline: the hold-for-owner policy,
retries and circuit breakers, unroutable leads' audit rows and manager alerts (counted only), the
enrichment cache; nurture is decided over columns but never happens (every lead arrives now).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from sqlalchemy import Connection

import bare_pipeline as bare  # bench/ is on sys.path (bench/pipeline.py puts it there)

BATCH = 50_000  # rows read, normalized and stored at a time
WRITE_ONCE_BATCH = 100_000  # rows taken through every stage at a time by the write-once variant
SCORE_BATCH = 100_000  # leads scored per frame
ROUTE_BATCH = 100_000  # queued leads read per frame
CACHE_LIMIT = 500_000  # distinct values whose answers a file's batches share (domains, companies)
SLICE = 20_000  # rows per executemany or fetchmany (SQLite): Python tuples for a slice at a time
PAIR_BUDGET = 100_000  # same-domain name pairs scored at once (fuzzy dedupe's first pass)
COLUMNS = bare.COLUMNS
MERGEABLE = ("first_name", "last_name", "company", "company_key", "job_title", "seniority", "department", "phone",
             "country", "language", "campaign")
REPLY_OUTCOMES = {"replied": "reply", "meeting_booked": "reply"}
# printable ASCII words separated by single spaces: what clean_text leaves as it is (placeholders aside)
_PLAIN_TEXT = r"^[!-~]+(?: [!-~]+)*$"
# any text in NFC with no whitespace but single inner spaces, no control or zero-width character: clean_text
# leaves it as it is too (Unicode White_Space is what str.split() splits on, but for U+001C-U+001F, excluded)
_CLEAN_TEXT = r"^[^\s\x00-\x1f\x7f\u200b\ufeff]+(?: [^\s\x00-\x1f\x7f\u200b\ufeff]+)*$"
_DOT_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
# a one-part name normalize_person_name keeps as it is: a capital (ASCII or Latin-1), a lower-case ASCII letter
# after it (so its casing is deliberate: neither all upper nor all lower), no space, hyphen or apostrophe, not "Mc"
_CAPITALIZED = r"^[A-ZÀ-ÖØ-Þ][^\s\-'\u2019\u02bc]*$"
_HAS_LOWER = r"^.[^a-z]*[a-z]"


def _chunk_rows() -> int:
    """leadops' intake chunk (rows): the grain of its account decisions."""
    from leadops.config import Settings

    return int(Settings.model_fields["intake_chunk_rows"].default)


def _company_tz() -> str:
    from leadops.config import Settings

    return str(Settings.model_fields["company_time_zone"].default)


def run(path: Path, url: str, config: Path, var_dir: Path, enrich: str, base_url: str | None = None,
        firmo_csv: Path | None = None, concurrency: int = 8) -> dict[str, Any]:
    """Run the five stages on ``path`` into the database at ``url``; returns counts and seconds per stage."""
    from leadops.config import load_rules
    from leadops.db.session import get_engine

    rules = load_rules(config)
    engine = get_engine(url)
    out: dict[str, Any] = {"stages": {}}
    for stage, fn in (("ingest", lambda db, now: intake(db, path, rules, now)),
                      ("enrich", lambda db, now: enrichment(db, enrich, base_url, firmo_csv, concurrency, rules, now)),
                      ("score", lambda db, now: scoring(db, rules, now)),
                      ("route", lambda db, now: routing(db, rules, now)),
                      ("deliver", lambda db, now: bare.deliver(db.conn, var_dir / "outbox"))):
        t = time.perf_counter()
        with engine.begin() as conn:
            out.update(fn(_Db(conn), datetime.now(UTC)))
        out["stages"][stage] = time.perf_counter() - t
    return out


# --------------------------------------------------------------------------- the database, by frames


class _Db:
    """Driver-level statements on one SQLAlchemy connection (inside its transaction): frames in and out."""

    def __init__(self, conn: Connection) -> None:
        from leadops.db.models import Lead

        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self.cur = conn.connection.driver_connection.cursor()
        # how leadops' column type stores an instant: naive UTC text on SQLite, an aware datetime on PostgreSQL
        self._ts = Lead.__table__.c.created_at.type._cached_bind_processor(conn.dialect)
        self._temps = 0

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.pg else statement

    def ts(self, at: datetime) -> Any:
        """Return ``at`` as a statement parameter."""
        return self._ts(at)

    def ts_text(self, at: datetime) -> str:
        """Return ``at`` as stored text (a frame column written by COPY or executemany)."""
        v = self._ts(at)
        return v if isinstance(v, str) else v.isoformat(sep=" ")

    def utc(self, column: str) -> str:
        """Return SQL giving ``column`` (an instant) as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC text."""
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')" if self.pg else column

    def run(self, statement: str, params: Sequence[Any] = ()) -> int:
        self.cur.execute(self.sql(statement), tuple(params))
        return self.cur.rowcount

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple]:
        self.cur.execute(self.sql(statement), tuple(params))
        return self.cur.fetchall()

    def scalar(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self.rows(statement, params)[0][0]

    def in_(self, column: str, values: Sequence[Any]) -> tuple[str, Any]:
        """Return (SQL ``column`` is one of ``values``, its one parameter)."""
        if self.pg:
            return f"{column} = ANY(?)", list(values)
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(values))  # noqa: S608 - a column name

    def frame(self, statement: str, schema: dict[str, Any], params: Sequence[Any] = ()) -> pl.DataFrame:
        """Return the rows of ``statement`` as a frame (``schema``: name -> polars type; booleans come as 0/1)."""
        read = {k: (pl.Int64 if v == pl.Boolean else v) for k, v in schema.items()}
        if self.pg:
            with self.cur.copy(f"COPY ({self.sql(statement)}) TO STDOUT WITH (FORMAT csv)", tuple(params)) as cp:
                data = b"".join(bytes(block) for block in cp)
            df = pl.read_csv(data, has_header=False, new_columns=list(read), schema=read) if data else \
                pl.DataFrame(schema=read)
        else:
            self.cur.execute(self.sql(statement), tuple(params))
            parts = [pl.DataFrame(rows, schema=read, orient="row") for rows in iter(lambda: self.cur.fetchmany(SLICE), [])]
            df = pl.concat(parts) if parts else pl.DataFrame(schema=read)
        bools = [k for k, v in schema.items() if v == pl.Boolean]
        return df.with_columns(pl.col(b).cast(pl.Boolean) for b in bools) if bools else df

    def insert(self, table: str, df: pl.DataFrame) -> int:
        """Insert the rows of ``df`` (columns named as the table's): COPY on PostgreSQL, executemany on SQLite."""
        if df.is_empty():
            return 0
        cols = ", ".join(f'"{c}"' for c in df.columns)
        if self.pg:
            with self.cur.copy(f'COPY "{table}" ({cols}) FROM STDIN WITH (FORMAT csv)') as cp:
                cp.write(df.write_csv(include_header=False))
        else:
            marks = ", ".join("?" * len(df.columns))
            statement = f'INSERT INTO "{table}" ({cols}) VALUES ({marks})'  # noqa: S608 - the table's own names
            for i in range(0, df.height, SLICE):  # tuples for a slice at a time: memory stays small
                self.cur.executemany(statement, df.slice(i, SLICE).rows())
        return df.height

    def temp(self, df: pl.DataFrame, key: str | None = None) -> str:
        """Load ``df`` into a new temporary table (``key``: its primary key); returns the table's name."""
        self._temps += 1
        name = f"_col_{self._temps}"
        types = {pl.Int64: "BIGINT", pl.Int32: "BIGINT", pl.UInt32: "BIGINT", pl.Float64: "DOUBLE PRECISION",
                 pl.Boolean: "BOOLEAN", pl.String: "TEXT", pl.Null: "TEXT"}
        cols = ", ".join(f'"{c}" {types[t]}' + (" PRIMARY KEY" if c == key else "") for c, t in df.schema.items())
        self.run(f"CREATE TEMP TABLE {name} ({cols})")
        self.insert(name, df)
        if self.pg:
            self.run(f"ANALYZE {name}")
        return name

    def drop(self, name: str) -> None:
        self.run(f"DROP TABLE {name}")

    def max_id(self, table: str) -> int:
        return int(self.scalar(f'SELECT coalesce(max(id), 0) FROM "{table}"'))  # noqa: S608 - constant names


def _defaults(table: Any, given: Sequence[str]) -> dict[str, Any]:
    """Return the scalar Python defaults of ``table``'s columns not in ``given`` (as leadops' bulk_insert fills them)."""
    out = {}
    for col in table.columns:
        if col.name in given or col.primary_key:
            continue
        default = col.default
        if default is not None and default.is_scalar:
            out[col.name] = default.arg
        elif default is not None:
            raise ValueError(f"{table.name}.{col.name}: give it (its default is computed per row)")
    return out


def _with_defaults(df: pl.DataFrame, table: Any) -> pl.DataFrame:
    """Return ``df`` with ``table``'s scalar defaults as constant columns for the columns it lacks."""
    extra = _defaults(table, df.columns)
    return df.with_columns(pl.lit(v).alias(k) for k, v in extra.items()) if extra else df


# --------------------------------------------------------------------------- per distinct value


def _map_distinct(df: pl.DataFrame, keys: list[str], fn: Callable[..., Any], out: dict[str, Any],
                  where: pl.Expr | None = None, cache: dict | None = None) -> pl.DataFrame:
    """Return ``df`` with columns ``out`` (name -> type): ``fn(*values of keys)`` computed once per distinct
    combination of ``keys`` (a tuple when ``out`` has several columns), for the rows ``where`` selects
    (others get nulls). ``cache``: the answers of earlier batches (kept for values of bounded variety:
    domains, companies; a batch of a 1M-row file holds most of its 50k domains)."""
    src = df if where is None else df.filter(where)
    u = src.select(keys).unique(maintain_order=True)
    if cache is None:
        vals = [fn(*k) for k in u.iter_rows()]
    else:
        if len(cache) > CACHE_LIMIT:
            cache.clear()
        vals = []
        for k in u.iter_rows():
            v = cache.get(k, cache)
            if v is cache:
                v = cache[k] = fn(*k)
            vals.append(v)
    if len(out) == 1:
        vals = [(v,) for v in vals]
    m = pl.concat([u, pl.DataFrame(vals, schema=out, orient="row")], how="horizontal")
    if len(keys) == 1 and df.schema[keys[0]] in (pl.String, pl.Int64):
        # one key: a hash lookup per row (cheaper than a join), through the distinct value's position
        k = keys[0]
        position = dict(zip(u[k].to_list(), range(u.height), strict=True))
        nulls = position.pop(None, None)
        at = pl.col(k).replace_strict(position, default=None, return_dtype=pl.Int64)
        if nulls is not None:
            at = pl.when(pl.col(k).is_null()).then(pl.lit(nulls, pl.Int64)).otherwise(at)
        if where is not None:
            at = pl.when(where).then(at)
        idx = df.select(at).to_series()
        return df.with_columns(m[c].gather(idx) for c in out)
    joined = df.join(m, on=keys, how="left", nulls_equal=True, maintain_order="left")
    if where is None:
        return joined
    return joined.with_columns(pl.when(where).then(pl.col(c)).otherwise(None).alias(c) for c in out)


def _json_map(s: pl.Series, fn: Callable[[Any], str] = json.dumps) -> pl.Series:
    """Return ``fn(value)`` (JSON text) for each value of ``s``, computed once per distinct value."""
    u = s.unique().drop_nulls().to_list()
    return s.replace_strict({v: fn(v) for v in u}, default=None, return_dtype=pl.String)


def _clean(df: pl.DataFrame, col: str, out: str) -> pl.DataFrame:
    """Add ``out``: ``clean_text`` of ``col`` (plain ASCII text as it is; anything else once per distinct value)."""
    from leadops.domain.normalize import PLACEHOLDERS, clean_text

    c = pl.col(col)
    real = ~c.str.to_lowercase().is_in(sorted(PLACEHOLDERS)) & ~c.str.contains(r"^-+$")  # not "n/a", "--"...
    plain = (c.str.contains(_PLAIN_TEXT) & real).fill_null(False)
    # the other distinct values: those already clean (NFC, single inner spaces, no control character) as they
    # are, checked on the distinct values only; the rest by clean_text
    rest = df.filter(~plain).select(c.unique()).with_columns(
        _same=(c.str.contains(_CLEAN_TEXT) & (c.str.normalize("NFC") == c) & real).fill_null(False))
    same = rest.filter(pl.col("_same"))[col].to_list()
    known = dict(zip(same, same, strict=True))
    known.update((v, clean_text(v)) for v in rest.filter(~pl.col("_same"))[col].to_list())
    return df.with_columns(pl.when(plain).then(c).otherwise(c.replace_strict(known, default=None, return_dtype=pl.String))
                           .alias(out))


# --------------------------------------------------------------------------- intake


def _normalize(raw: pl.DataFrame, rules: Any, caches: dict[str, dict] | None = None) -> pl.DataFrame:
    """Return one row per input row: the lead's columns (as leadops normalizes them), ``match`` (the fuzzy
    match name) and ``reasons`` (empty unless the row is held)."""
    from leadops.domain import normalize as nz

    df = raw
    for header, field in COLUMNS.items():
        df = _clean(df, header, field) if header in df.columns else df.with_columns(pl.lit(None, pl.String).alias(field))
    # email: a plain ASCII address of a dot-atom local part and a plain host is lower-cased (its host checked
    # once per distinct host); anything else goes through normalize_email once per distinct value
    parts = pl.col("email").str.to_lowercase().str.extract_groups(f"^({_DOT_ATOM})@([^@]+)$")
    df = df.with_columns(_local=parts.struct.field("1"), _host=parts.struct.field("2"))

    def host_kind(host: str) -> tuple[str | None, bool, bool]:
        r = nz.normalize_email(f"a@{host}")
        return (r.domain, r.is_free, r.is_disposable) if r.domain == host else (None, False, False)

    caches = caches if caches is not None else {}
    df = _map_distinct(df, ["_host"], host_kind, {"_dom": pl.String, "_free": pl.Boolean, "_disp": pl.Boolean},
                       where=pl.col("_host").is_not_null(), cache=caches.setdefault("host", {}))
    fast = (pl.col("email").str.contains(r"^[!-~]+$") & pl.col("_dom").is_not_null()
            & (pl.col("_local").str.len_chars() <= 64)
            & (pl.col("_local").str.len_chars() + 1 + pl.col("_dom").str.len_chars() <= 254)).fill_null(False)

    def slow_email(value: str | None) -> tuple[str | None, str | None, bool, bool]:
        r = nz.normalize_email(value)
        return r.email, r.domain, r.is_free, r.is_disposable

    df = _map_distinct(df, ["email"], slow_email, {"_se": pl.String, "_sd": pl.String, "_sf": pl.Boolean,
                                                   "_sx": pl.Boolean}, where=~fast)
    df = df.with_columns(
        email=pl.when(fast).then(pl.col("_local") + "@" + pl.col("_dom")).otherwise(pl.col("_se")),
        email_domain=pl.when(fast).then(pl.col("_dom")).otherwise(pl.col("_sd")),
        is_free_email=pl.when(fast).then(pl.col("_free")).otherwise(pl.col("_sf")).fill_null(False),
        is_disposable=pl.when(fast).then(pl.col("_disp")).otherwise(pl.col("_sx")).fill_null(False),
    ).drop("_local", "_host", "_dom", "_free", "_disp", "_se", "_sd", "_sf", "_sx")
    # names: a capitalized ASCII word is kept as it is; anything else once per distinct value
    for f in ("first_name", "last_name"):
        keep = (pl.col(f).str.contains(_CAPITALIZED) & pl.col(f).str.contains(_HAS_LOWER)
                & ~pl.col(f).str.starts_with("Mc")).fill_null(False)
        df = _map_distinct(df, [f], nz.normalize_person_name, {"_n": pl.String}, where=~keep)
        df = df.with_columns(pl.when(keep).then(pl.col(f)).otherwise(pl.col("_n")).alias(f)).drop("_n")
    df = df.rename({"country": "country_raw"})
    df = _map_distinct(df, ["country_raw"], nz.normalize_country, {"country": pl.String})
    df = _map_distinct(df, ["job_title"], nz.title_to_seniority_department,
                       {"seniority": pl.String, "department": pl.String})
    df = _map_distinct(df, ["company"], nz.company_key, {"company_key": pl.String}, cache=caches.setdefault("company", {}))
    df = _map_distinct(df, ["phone", "country"], nz.normalize_phone, {"phone_n": pl.String})
    default = rules.sources.default_source
    df = _map_distinct(df, ["source"], lambda s: (s or default).strip().lower().replace(" ", "_").replace("-", "_"),
                       {"source_n": pl.String})
    df = df.drop("phone", "source").rename({"phone_n": "phone", "source_n": "source"})
    # the fuzzy match name (dedupe.match_name): folded words in sorted order. ASCII folds by lower-casing; other
    # text character by character (fold is: each character mapped, decomposed, its combining marks dropped,
    # case-folded), each distinct character folded once by leadops' fold
    for f in ("first_name", "last_name"):
        ascii_ = pl.col(f).str.contains(r"^[\x00-\x7f]*$").fill_null(True)
        chars = df.filter(~ascii_).select(pl.col(f).str.split("").explode().unique())[f].to_list()
        folded = {ch: nz.fold(ch).lower() for ch in chars if ch}
        df = df.with_columns(pl.when(ascii_).then(pl.col(f).str.to_lowercase()).otherwise(
            pl.col(f).str.replace_many(folded) if folded else pl.col(f)).str.replace_all(r"\s+", " ").alias(f"_{f}"))
    words = pl.concat_str([pl.col("_first_name"), pl.col("_last_name")], separator=" ", ignore_nulls=True).str.split(" ")
    df = df.with_columns(match=pl.when(pl.col("last_name").is_not_null()).then(
        words.list.eval(pl.element().filter(pl.element() != "")).list.sort().list.join(" "))).drop("_first_name", "_last_name")
    sr = rules.scoring
    lead_sources = list(rules.sources.lead_sources)
    df = df.with_columns(
        language=pl.lit(None, pl.String), campaign=pl.lit(None, pl.String), do_not_contact=pl.lit(False),
        is_competitor=pl.col("email_domain").fill_null("").is_in(list(sr.competitor_domains)),
        is_hand_raiser=pl.col("source").is_in(list(sr.hand_raiser_sources)),
        reasons=pl.concat_list(
            pl.when(pl.col("email").is_null()).then(pl.lit("email is missing or not a valid address"))
            .when(pl.col("is_disposable")).then(pl.lit("email uses a disposable-address domain")),
            pl.when(pl.col("country_raw").is_not_null() & pl.col("country").is_null())
            .then(pl.lit("country is not a recognized country name or ISO code")),
            pl.when(~pl.col("source").is_in(lead_sources)).then(pl.format("unknown lead source '{}'", pl.col("source"))),
        ).list.drop_nulls(),
    )
    return df


class _FileState:
    """What the batches of one file share: fuzzy-match candidates and account ids (as leadops' FileCache)."""

    def __init__(self) -> None:
        self.pool = pl.DataFrame(schema={"email_domain": pl.String, "key": pl.Int64, "match": pl.String,
                                         "company_key": pl.String})
        self.pool_domains: set[str] = set()
        self.by_domain: dict[str, int] = {}
        self.by_name: dict[str, int] = {}
        self.name_set_at: dict[str, int] = {}  # company key -> the intake chunk whose accounts set it
        self.caches: dict[str, dict] = {}  # answers per distinct value the batches share (see _map_distinct)


def _read(path: Path, batch: int) -> Iterator[pl.DataFrame]:
    """Yield the file's rows ``batch`` at a time as text, with ``row`` (the line number: header is 1)."""
    lf = pl.scan_csv(path, infer_schema=False, empty_string_is_null=False, row_index_name="row", row_index_offset=2)
    for df in lf.collect_batches(chunk_size=batch):
        yield df.with_columns(pl.col("row").cast(pl.Int64))


def intake(db: _Db, path: Path, rules: Any, now: datetime) -> dict[str, Any]:
    """Read, normalize, check, dedupe and store ``path``; returns rows_read, inserted, merged, quarantined."""
    from leadops.db.models import IngestBatch

    batch_id = db.conn.execute(IngestBatch.__table__.insert().values(
        source="default", origin=str(path), content_hash=bare._sha256(path), status="running",
        started_at=now)).inserted_primary_key[0]
    counts = {"rows_read": 0, "inserted": 0, "merged": 0, "quarantined": 0}
    state = _FileState()
    for raw in _read(path, BATCH):
        for k, v in _intake_batch(db, raw, path, batch_id, rules, now, state).items():
            counts[k] += v
    db.conn.execute(IngestBatch.__table__.update().where(IngestBatch.id == batch_id).values(
        status="done", finished_at=now, **counts))
    return counts


def _prepare(db: _Db, raw: pl.DataFrame, rules: Any, now: datetime,
             state: _FileState) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Decide one batch: returns (quarantined rows, new leads with their final intake values, merges with their
    targets, fills of stored leads), the accounts created as it goes."""
    headers = [h for h in raw.columns if h != "row"]
    df = _normalize(raw, rules, state.caches).with_columns(raw=pl.struct(headers).struct.json_encode())
    held = df.filter(pl.col("reasons").list.len() > 0)
    good = df.filter(pl.col("reasons").list.len() == 0).drop("reasons")
    decided = _dedupe(db, good, rules.sources.fuzzy_match_threshold, state)
    _accounts(db, decided, state, now)
    new = decided.filter(pl.col("insert"))
    merges = decided.filter(~pl.col("insert"))
    # merges into leads of this batch fill the new rows before they are written; into stored leads, after
    stored_fill = pl.DataFrame()
    if merges.height:
        into_new = merges.filter(pl.col("target_id").is_null())
        if into_new.height:
            filled, fills = _fills(into_new, "target_email", new.select(pl.col("email").alias("target_email"), *_TARGET))
            merges = merges.join(filled, on="row", how="left", maintain_order="left")
            new = new.join(fills.rename({"target_email": "email"}), on="email", how="left", maintain_order="left")
            new = new.with_columns(
                *(pl.coalesce(pl.col(f), pl.col(f"_fill_{f}")).alias(f) for f in MERGEABLE),
                is_hand_raiser=pl.col("is_hand_raiser") | pl.col("_fill_hr").fill_null(False),
                do_not_contact=pl.col("do_not_contact") | pl.col("_fill_dnc").fill_null(False),
            ).drop(pl.selectors.starts_with("_fill_"))
        into_stored = merges.filter(pl.col("target_id").is_not_null())
        if into_stored.height:
            ids = into_stored["target_id"].unique().to_list()
            cond, param = db.in_("id", ids)
            cols = {"target_id": pl.Int64, **dict.fromkeys(MERGEABLE, pl.String), "is_hand_raiser": pl.Boolean,
                    "do_not_contact": pl.Boolean}
            targets = db.frame(f"SELECT id, {', '.join(MERGEABLE)}, CASE WHEN is_hand_raiser THEN 1 ELSE 0 END, "  # noqa: S608
                               f"CASE WHEN do_not_contact THEN 1 ELSE 0 END FROM leads WHERE {cond}", cols, [param])
            filled, stored_fill = _fills(into_stored, "target_id", targets)
            merges = merges.join(filled.rename({"fields_filled": "_ff"}), on="row", how="left", maintain_order="left")
            merges = merges.with_columns(fields_filled=pl.coalesce("_ff", "fields_filled") if "fields_filled" in merges.columns
                                         else pl.col("_ff")).drop("_ff")
    return held, new, merges, stored_fill


def _intake_batch(db: _Db, raw: pl.DataFrame, path: Path, batch_id: int, rules: Any, now: datetime,
                  state: _FileState) -> dict[str, int]:
    """Decide and store one batch of rows; returns its counts."""
    from leadops.db.bulk import refresh_statistics
    from leadops.db.models import Lead

    held, new, merges, stored_fill = _prepare(db, raw, rules, now, state)
    t_now = db.ts_text(now)
    _quarantine(db, held, path, batch_id, t_now)
    before = db.max_id("leads")
    db.insert("leads", _lead_rows(new, batch_id, t_now))
    if db.pg and new.height >= 1000:
        refresh_statistics(db.conn, new.height, Lead.__table__, ["id", "email", "email_domain", "ingest_batch_id"])
    db.run("INSERT INTO lead_stage_history (lead_id, from_stage, to_stage, changed_at, cause) "
           "SELECT id, NULL, 'new', ?, 'arrived from ' || source || ' (batch ' || CAST(ingest_batch_id AS TEXT) "
           "|| ', row ' || CAST(source_row AS TEXT) || ')' FROM leads WHERE id > ? AND ingest_batch_id = ?",
           [db.ts(now), before, batch_id])
    ids = db.frame("SELECT email, id FROM leads WHERE id > ? AND ingest_batch_id = ?", {"email": pl.String, "id": pl.Int64},
                   [before, batch_id])
    _store_merges(db, merges, ids, stored_fill, path, batch_id, now)
    _remember(state, new, ids)
    return {"rows_read": raw.height, "inserted": new.height, "merged": merges.height, "quarantined": held.height}


def _remember(state: _FileState, new: pl.DataFrame, ids: pl.DataFrame) -> None:
    """Keep the batch's new people as fuzzy-match candidates of the next batches, by lead id."""
    people = new.filter(~pl.col("is_free_email") & pl.col("match").is_not_null()).join(ids, on="email", maintain_order="left")
    state.pool = pl.concat([state.pool, people.select("email_domain", pl.col("id").alias("key"), "match", "company_key")])


def _quarantine(db: _Db, held: pl.DataFrame, path: Path, batch_id: int, t_now: str) -> None:
    from leadops.db.models import Quarantine

    if held.is_empty():
        return
    reasons = _json_map(held["reasons"].list.join("\x1f"), lambda v: json.dumps(v.split("\x1f")))
    db.insert("quarantine", _with_defaults(held.select(
        ingest_batch_id=pl.lit(batch_id), source=pl.lit("default"), origin=pl.lit(str(path)), source_row="row",
        raw="raw", reasons=reasons, status=pl.lit("open"), created_at=pl.lit(t_now)), Quarantine.__table__))


def _lead_rows(new: pl.DataFrame, batch_id: int, t_now: str, final: dict[str, Any] | None = None) -> pl.DataFrame:
    """Return the leads table's rows of the new leads (the columns leadops' intake inserts; ``final``: column ->
    expression of the columns the later stages set, for the write-once variant)."""
    from leadops.db.models import Lead

    cols = {"lifecycle_stage": pl.lit("new"), "stage_changed_at": pl.lit(t_now), "updated_at": pl.lit(t_now), **(final or {})}
    return _with_defaults(new.select(
        "email", "email_domain", "source", "is_free_email", "is_competitor", "is_hand_raiser", "do_not_contact",
        pl.lit(t_now).alias("arrived_at"), pl.col("row").alias("source_row"), "account_id", *MERGEABLE,
        ingest_batch_id=pl.lit(batch_id), created_at=pl.lit(t_now), **cols), Lead.__table__)


def _store_merges(db: _Db, merges: pl.DataFrame, ids: pl.DataFrame, stored_fill: pl.DataFrame, path: Path,
                  batch_id: int, now: datetime) -> None:
    """Write the merges, their touches (web activities) and the blanks they fill on stored leads."""
    from leadops.db.models import Activity, LeadMerge

    if merges.is_empty():
        return
    t_now = db.ts_text(now)
    merges = merges.join(ids.rename({"email": "target_email", "id": "_new_id"}), on="target_email", how="left",
                         maintain_order="left").with_columns(lead_id=pl.coalesce("target_id", "_new_id"))
    db.insert("lead_merges", _with_defaults(merges.select(
        "lead_id", ingest_batch_id=pl.lit(batch_id), source_row="row", fields_filled="fields_filled",
        matched_by="matched_by", raw="raw", merged_at=pl.lit(t_now)), LeadMerge.__table__))
    db.insert("activities", _with_defaults(merges.select(
        "lead_id", kind=pl.lit("web"), outcome="source", occurred_at=pl.lit(t_now), sdr_id=pl.lit(None, pl.Int64),
        scheduled_for=pl.lit(None, pl.String),
        detail=pl.format(f"merged touch from {path.name} row {{}}", "row"),
        external_key=pl.format(f"merge:{batch_id}:{{}}", "row")), Activity.__table__))
    if stored_fill.height:
        t = db.temp(stored_fill.select(pl.col("target_id").alias("id"), *(pl.col(f"_fill_{f}").alias(f) for f in MERGEABLE),
                                       pl.col("_fill_hr").alias("hr"), pl.col("_fill_dnc").alias("dnc")), key="id")
        sets = ", ".join(f"{f} = COALESCE(leads.{f}, t.{f})" for f in MERGEABLE)
        db.run(f"UPDATE leads SET {sets}, is_hand_raiser = (leads.is_hand_raiser OR t.hr), "  # noqa: S608 - constant names
               f"do_not_contact = (leads.do_not_contact OR t.dnc), scored_at = NULL, updated_at = ? "
               f"FROM {t} AS t WHERE leads.id = t.id", [db.ts(now)])
        db.drop(t)


_TARGET = [*MERGEABLE, "is_hand_raiser", "do_not_contact"]


def _fills(merges: pl.DataFrame, key: str, targets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (row -> fields_filled JSON of each merge, key -> the values the merges give each target), as
    leadops' merge fills a lead's blanks: in row order, the first value offered for a blank field wins."""
    cols = [*MERGEABLE, "is_hand_raiser", "do_not_contact"]
    t = targets.select(key, *(pl.col(c).alias(f"_t_{c}") for c in cols))
    m = merges.sort("row").join(t, on=key, how="left", maintain_order="left")
    flags = []
    for c in cols:
        offered = (pl.col(c) if c in MERGEABLE else pl.col(c).fill_null(False))
        offered = offered.is_not_null() if c in MERGEABLE else offered
        before = offered.cast(pl.Int32).cum_sum().over(key) - offered.cast(pl.Int32)
        blank = pl.col(f"_t_{c}").is_null() if c in MERGEABLE else ~pl.col(f"_t_{c}").fill_null(False)
        flags.append(pl.when(offered & blank & (before == 0)).then(pl.lit(c)))
    m = m.with_columns(_filled=pl.concat_list(flags).list.drop_nulls().list.join("\x1f"))
    filled = m.select("row", fields_filled=_json_map(m["_filled"], lambda v: json.dumps(v.split("\x1f") if v else [])))
    fills = m.group_by(key, maintain_order=True).agg(
        *(pl.col(f).drop_nulls().first().alias(f"_fill_{f}") for f in MERGEABLE),
        _fill_hr=pl.col("is_hand_raiser").any(), _fill_dnc=pl.col("do_not_contact").any())
    return filled, fills


def _dedupe(db: _Db, good: pl.DataFrame, threshold: float, state: _FileState) -> pl.DataFrame:
    """Return ``good`` with the dedupe decision of each row: ``insert``, or the target (``target_id``, a stored
    lead; ``target_email``, a new lead of this batch) and ``matched_by``."""
    from leadops.domain import dedupe

    emails = good["email"].unique().to_list()
    cond, param = db.in_("email", emails)
    existing = db.frame(f"SELECT email, id FROM leads WHERE {cond}", {"email": pl.String, "existing_id": pl.Int64}, [param])  # noqa: S608
    good = good.join(existing, on="email", how="left", maintain_order="left").with_columns(
        first=pl.col("email").is_first_distinct())
    business = ~pl.col("is_free_email")
    # people of the batch's business domains stored before the file (read once per file, as leadops does)
    domains = good.filter(business)["email_domain"].unique().to_list()
    unseen = sorted(set(domains) - state.pool_domains)
    state.pool_domains.update(domains)
    if unseen:
        cond, param = db.in_("email_domain", unseen)
        stored = db.rows(f"SELECT id, email_domain, first_name, last_name, company_key FROM leads WHERE {cond} "  # noqa: S608
                         "ORDER BY id", [param])
        people = [p for p in (dedupe.person(*r) for r in stored) if p is not None]
        if people:
            state.pool = pl.concat([state.pool, pl.DataFrame(
                [(p.domain, p.key, p.name, p.company) for p in people], schema=state.pool.schema, orient="row")])
    # every same-domain pair (a candidate and an earlier person: stored, or an earlier row) whose names could match
    # (rapidfuzz's ratio at the threshold, as best_match's first pass): a row without one is never merged by name
    cand = good.filter(business & pl.col("match").is_not_null()).select("row", "email_domain", "match")
    pool = state.pool.filter(pl.col("email_domain").is_in(domains)).select(
        "email_domain", pl.col("match").alias("other"), pl.col("key").alias("p_key"))
    hits = _name_hits(cand, pool, threshold)
    good = good.with_columns(  # the rows no name decides: an email stored already, its first row in the file, a repeat
        insert=pl.col("existing_id").is_null() & pl.col("first"),
        target_id=pl.col("existing_id"),
        target_email=pl.when(pl.col("existing_id").is_null() & ~pl.col("first")).then(pl.col("email")),
        matched_by=pl.when(pl.col("existing_id").is_not_null() | ~pl.col("first")).then(pl.lit("email")),
    )
    if hits.is_empty():
        return good
    # the others, in file order with leadops' best_match: the rows with a pair, the earlier rows they pair with (their
    # own decision says whether they are candidates yet) and every row sharing an email with those
    near = set(hits["row"].to_list())
    partners = set(hits["p_row"].drop_nulls().to_list())
    emails = good.filter(pl.col("row").is_in(sorted(near | partners)))["email"].unique()
    seq = good.filter(pl.col("email").is_in(emails.implode())).select(
        "row", "email", "email_domain", "match", "company_key", "existing_id")
    # each domain's candidates as best_match would see them, but only those some row pairs with (the same answers:
    # the others score under the threshold), stored people first, in the pool's order
    pools: dict[str, dedupe.DomainPeople] = {}
    stored = state.pool.filter(pl.col("key").is_in(hits["p_key"].drop_nulls().unique().implode()))
    for d, key, name, company in stored.iter_rows():
        pools.setdefault(d, dedupe.DomainPeople()).add(dedupe.Person(key, d, name, company))
    pending: set[str] = set()
    decided = []
    for row, email, d, name, ckey, existing_id in seq.iter_rows():
        target_id, target_email, matched = existing_id, email if existing_id is None and email in pending else None, "email"
        if target_id is None and target_email is None and row in near:
            hit = dedupe.best_match(dedupe.Person(None, d, name, ckey), pools.get(d, ()), threshold)
            if hit is not None:
                key, score = hit
                matched = f"fuzzy {score:.0f}"
                if isinstance(key, tuple):
                    target_email = key[1]
                else:
                    target_id = key
        insert = target_id is None and target_email is None
        if insert:
            pending.add(email)
            if row in partners:
                pools.setdefault(d, dedupe.DomainPeople()).add(dedupe.Person(("new", email), d, name, ckey))
        decided.append((row, insert, target_id, target_email, None if insert else matched))
    by_row = pl.DataFrame(decided, schema={"row": pl.Int64, "_insert": pl.Boolean, "_target_id": pl.Int64,
                                           "_target_email": pl.String, "_matched_by": pl.String}, orient="row")
    good = good.join(by_row, on="row", how="left", maintain_order="left")
    ours = pl.col("_insert").is_not_null()
    return good.with_columns(
        *(pl.when(ours).then(pl.col(f"_{c}")).otherwise(pl.col(c)).alias(c)
          for c in ("insert", "target_id", "target_email", "matched_by"))).drop(
        "_insert", "_target_id", "_target_email", "_matched_by")


def _name_hits(cand: pl.DataFrame, pool: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """Return the pairs of a candidate row (``cand``: row, email_domain, match) and an earlier person of its domain (a
    stored one of ``pool``: p_key, or an earlier candidate: p_row) whose match names reach ``threshold``; the
    pairs are scored PAIR_BUDGET at a time (domains sliced by their number of pairs: memory stays small)."""
    from rapidfuzz import fuzz, process

    sizes = cand.group_by("email_domain").len("c").join(pool.group_by("email_domain").len("p"), on="email_domain",
                                                         how="left").fill_null(0).sort("email_domain")
    sizes = sizes.with_columns(part=((pl.col("c") * pl.col("p") + pl.col("c") * (pl.col("c") - 1) // 2).cum_sum()
                                     // PAIR_BUDGET))
    cand = cand.join(sizes.select("email_domain", "part"), on="email_domain")
    pool = pool.join(sizes.select("email_domain", "part"), on="email_domain")
    pools = pool.partition_by("part", as_dict=True)
    out = []
    for (part,), c in cand.partition_by("part", as_dict=True).items():
        pairs = [c.join(c, on="email_domain", suffix="_o").filter(pl.col("row_o") < pl.col("row")).select(
            "row", "email_domain", "match", other="match_o", p_row="row_o", p_key=pl.lit(None, pl.Int64))]
        if (part,) in pools:
            pairs.append(c.join(pools[(part,)], on="email_domain").select(
                "row", "email_domain", "match", "other", p_row=pl.lit(None, pl.Int64), p_key="p_key"))
        pairs = pl.concat(pairs)
        if pairs.height:
            scores = process.cpdist(pairs["match"].to_list(), pairs["other"].to_list(), scorer=fuzz.ratio,
                                    score_cutoff=threshold, dtype=np.float64)
            out.append(pairs.filter(pl.Series(scores >= threshold)).select("row", "email_domain", "p_row", "p_key"))
    schema = {"row": pl.Int64, "email_domain": pl.String, "p_row": pl.Int64, "p_key": pl.Int64}
    return pl.concat(out) if out else pl.DataFrame(schema=schema)


def _accounts(db: _Db, good: pl.DataFrame, state: _FileState, now: datetime) -> None:
    """Find or create the accounts of the batch's rows, intake chunk by intake chunk as leadops does (by
    business domain, else by company name), and add ``account_id`` to the new leads (in ``good``, in place)."""
    from leadops.db.models import Account

    size = _chunk_rows()
    g = good.with_columns(_chunk=(pl.col("row") - 2) // size)
    firsts = g.filter(~pl.col("is_free_email")).unique(["_chunk", "email_domain"], keep="first", maintain_order=True)
    keys = g.filter(pl.col("company_key").is_not_null()).select("_chunk", "company_key").unique(maintain_order=True)
    by_domain, by_name = state.by_domain, state.by_name
    for chunk in g["_chunk"].unique().sort().to_list():
        names = {d: (c, k) for d, c, k in firsts.filter(pl.col("_chunk") == chunk).select(
            "email_domain", "company", "company_key").iter_rows()}
        wanted = set(keys.filter(pl.col("_chunk") == chunk)["company_key"].to_list())
        look = sorted(names.keys() - by_domain.keys())
        if look:
            cond, param = db.in_("domain", look)
            by_domain.update(db.rows(f"SELECT domain, id FROM accounts WHERE {cond}", [param]))  # noqa: S608
        look = sorted(wanted - by_name.keys())
        if look:
            cond, param = db.in_("name_key", look)
            for key, acc in sorted(db.rows(f"SELECT name_key, id FROM accounts WHERE {cond}", [param]),  # noqa: S608
                                   key=lambda kv: kv[1]):
                if key not in by_name:
                    by_name[key], state.name_set_at[key] = acc, chunk
        new: dict[str, tuple[str | None, str | None]] = {}
        aliases: dict[str, str] = {}
        first_domain_of: dict[str, str] = {}
        for d in sorted(names.keys() - by_domain.keys()):
            name, key = names[d]
            if key and key in by_name:
                by_domain[d] = by_name[key]
            elif key and key in first_domain_of:
                aliases[d] = first_domain_of[key]
            else:
                new[d] = (name, key)
                if key:
                    first_domain_of[key] = d
        if new:
            rows = pl.DataFrame([(d, n, k) for d, (n, k) in new.items()], schema={
                "domain": pl.String, "name": pl.String, "name_key": pl.String}, orient="row")
            before = db.max_id("accounts")
            db.insert("accounts", _with_defaults(rows.with_columns(created_at=pl.lit(db.ts_text(now))), Account.__table__))
            by_domain.update(db.rows("SELECT domain, id FROM accounts WHERE id > ?", [before]))
            for d, (_, key) in new.items():
                if key and key not in by_name:
                    by_name[key], state.name_set_at[key] = by_domain[d], chunk
            by_domain.update({d: by_domain[first] for d, first in aliases.items()})
    # a new lead's account: its business domain's, else (a personal address) its company name's as known
    # when its chunk was stored
    dom = pl.DataFrame({"email_domain": list(by_domain), "_acc_d": list(by_domain.values())},
                       schema={"email_domain": pl.String, "_acc_d": pl.Int64})
    nam = pl.DataFrame({"company_key": list(by_name), "_acc_n": list(by_name.values()),
                        "_set_at": [state.name_set_at.get(k, -1) for k in by_name]},
                       schema={"company_key": pl.String, "_acc_n": pl.Int64, "_set_at": pl.Int64})
    out = g.join(dom, on="email_domain", how="left", maintain_order="left").join(
        nam, on="company_key", how="left", maintain_order="left")
    acc = pl.when(~pl.col("is_free_email")).then(pl.col("_acc_d")).otherwise(
        pl.when(pl.col("_set_at") <= pl.col("_chunk")).then(pl.col("_acc_n")))
    good.insert_column(good.width, out.select(acc.alias("account_id")).to_series())


# --------------------------------------------------------------------------- enrichment


def _answers(domains: list[str], enrich: str, base_url: str | None, firmo_csv: Path | None,
             concurrency: int) -> pl.DataFrame:
    """Return one lookup per domain: domain, status (hit | miss | error) and the provider's fields."""
    from leadops.providers.base import employee_band

    schema = {"domain": pl.String, "status": pl.String, "legal_name": pl.String, "industry": pl.String,
              "employee_count": pl.Int64, "employee_band": pl.String, "revenue_band": pl.String, "country": pl.String,
              "hq_city": pl.String}
    asked = pl.DataFrame({"domain": domains}, schema={"domain": pl.String})
    if enrich == "offline":
        table = pl.read_csv(firmo_csv, infer_schema=False).with_columns(
            domain=pl.col("domain").str.strip_chars().str.to_lowercase(), status=pl.lit("hit"),
            employee_count=pl.col("employee_count").cast(pl.Int64))
        table = _map_distinct(table, ["employee_count"], employee_band, {"_band": pl.String})
        table = table.with_columns(employee_band=pl.coalesce(pl.col("employee_band").replace("", None), "_band"),
                                   **{c: pl.col(c).replace("", None) for c in ("legal_name", "industry", "revenue_band",
                                                                               "country", "hq_city")})
        out = asked.join(table.select(list(schema)), on="domain", how="left", maintain_order="left")
        return out.with_columns(status=pl.col("status").fill_null("miss"))
    from workload import FIRMO_KEY

    lookup = bare._http_lookup(base_url, FIRMO_KEY)
    with ThreadPoolExecutor(concurrency) as pool:
        got = list(pool.map(lookup, domains))
    return pl.DataFrame([{"domain": d, "status": s, **f} for d, (s, f) in zip(domains, got, strict=True)],
                        schema=schema)


FIELDS = ("legal_name", "industry", "employee_count", "employee_band", "revenue_band", "country", "hq_city")


def _statuses(answers: pl.DataFrame, rules: Any) -> pl.DataFrame:
    """Add each domain's enrichment status: enriched (required fields), partial (some), miss or error."""
    required = rules.sources.enrichment.required_fields
    some = pl.any_horizontal(pl.col(f).is_not_null() for f in FIELDS)
    every = pl.all_horizontal(pl.col(f).is_not_null() for f in required)
    return answers.with_columns(lead_status=pl.when(some & every).then(pl.lit("enriched")).when(some).then(
        pl.lit("partial")).otherwise(pl.col("status")))


def _write_answers(db: _Db, answers: pl.DataFrame, provider: str, now: datetime) -> None:
    """Write the lookups and their per-field records (value as JSON)."""
    from leadops.db.models import EnrichmentLookup, EnrichmentRecord

    t_now = db.ts_text(now)
    db.insert("enrichment_lookups", _with_defaults(answers.select(
        "domain", provider=pl.lit(provider), status="status", error=pl.lit(None, pl.String), fetched_at=pl.lit(t_now)),
        EnrichmentLookup.__table__))
    present = [f for f in FIELDS if f in answers.columns]
    long = answers.with_row_index("_i").select(
        "_i", "domain", *(pl.col(f).cast(pl.String) if answers.schema[f] == pl.Int64 else
                          _json_map(answers[f]).alias(f) for f in present)).unpivot(
        index=["_i", "domain"], on=present, variable_name="field", value_name="value").drop_nulls("value")
    order = {f: i for i, f in enumerate(present)}
    long = long.sort("_i", pl.col("field").replace_strict(order, return_dtype=pl.Int64))
    db.insert("enrichment_records", _with_defaults(long.select(
        "domain", provider=pl.lit(provider), field="field", value="value", confidence=pl.lit(0.9),
        fetched_at=pl.lit(t_now)), EnrichmentRecord.__table__))


def enrichment(db: _Db, enrich: str, base_url: str | None, firmo_csv: Path | None, concurrency: int, rules: Any,
               now: datetime) -> dict[str, int]:
    """Look every pending business domain up once and update its leads in one statement."""
    skipped = db.run("UPDATE leads SET enrichment_status = 'skipped', enriched_at = ? "
                     "WHERE enrichment_status IS NULL AND is_free_email", [db.ts(now)])
    per_domain = db.frame("SELECT email_domain, count(*) FROM leads WHERE enrichment_status IS NULL GROUP BY email_domain",
                          {"domain": pl.String, "n": pl.Int64}).sort("domain")
    answers = _statuses(_answers(per_domain["domain"].to_list(), enrich, base_url, firmo_csv, concurrency), rules)
    _write_answers(db, answers, "offline" if enrich == "offline" else "firmo", now)
    t = db.temp(answers.select("domain", status="lead_status", industry="industry", employee_count="employee_count",
                               employee_band="employee_band", revenue_band="revenue_band"), key="domain")
    db.run(f"UPDATE leads SET enrichment_status = t.status, enriched_at = ?, "  # noqa: S608 - constant names
           f"industry = COALESCE(t.industry, leads.industry), employee_count = COALESCE(t.employee_count, leads.employee_count), "
           f"employee_band = COALESCE(t.employee_band, leads.employee_band), "
           f"revenue_band = COALESCE(t.revenue_band, leads.revenue_band) "
           f"FROM {t} AS t WHERE leads.email_domain = t.domain AND leads.enrichment_status IS NULL", [db.ts(now)])
    db.drop(t)
    n = per_domain.join(answers.select("domain", "lead_status"), on="domain")
    enriched = int(n.filter(pl.col("lead_status") == "enriched")["n"].sum())
    return {"enriched": enriched, "not_enriched": int(n["n"].sum()) - enriched, "enrichment_skipped": skipped}


# --------------------------------------------------------------------------- scoring

LEAD_SCHEMA = {"id": pl.Int64, "industry": pl.String, "employee_band": pl.String, "revenue_band": pl.String,
               "country": pl.String, "seniority": pl.String, "department": pl.String, "source": pl.String,
               "job_title": pl.String, "email_domain": pl.String, "is_free_email": pl.Boolean, "is_competitor": pl.Boolean,
               "do_not_contact": pl.Boolean, "is_hand_raiser": pl.Boolean, "lifecycle_stage": pl.String,
               "owner_sdr_id": pl.Int64, "arrived_at": pl.String}


def _select_leads(db: _Db, where: str) -> str:
    cols = [f"CASE WHEN {c} THEN 1 ELSE 0 END" if t == pl.Boolean else (db.utc(c) if c == "arrived_at" else c)
            for c, t in LEAD_SCHEMA.items()]
    return f"SELECT {', '.join(cols)} FROM leads WHERE {where}"  # noqa: S608 - constant columns


def _utc(col: str) -> pl.Expr:
    return pl.col(col).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_zone="UTC")


def score(leads: pl.DataFrame, acts: pl.DataFrame, sr: Any, now: datetime) -> pl.DataFrame:
    """Return the scores of ``leads`` (LEAD_SCHEMA) with their activities ``acts`` (lead_id, kind, outcome, at):
    id, fit, engagement, total, grade, breakdown (JSON), to_stage, cause, reason (the stage move, if any)."""
    from leadops.domain.normalize import DISPOSABLE_EMAIL_DOMAINS
    from leadops.domain.scoring_frame import score_frame

    bounced = acts.filter((pl.col("kind") == "email") & (pl.col("outcome") == "bounced"))["lead_id"].unique()
    frame = leads.with_columns(is_disposable_email=pl.col("email_domain").is_in(sorted(DISPOSABLE_EMAIL_DOMAINS)),
                               bounced=pl.col("id").is_in(bounced.implode()))
    events = pl.concat([
        leads.select(lead_id="id", kind="source", at=_utc("arrived_at")),
        acts.filter(pl.col("kind") == "web").select("lead_id", kind="outcome", at=_utc("at")),
        acts.filter(pl.col("kind") == "email").select(
            "lead_id", kind=pl.col("outcome").replace_strict(REPLY_OUTCOMES, default=None), at=_utc("at")).drop_nulls("kind"),
    ])
    s = score_frame(frame.drop("arrived_at").to_pandas().set_index("id"), events.to_pandas(), sr, now)
    s = pl.from_pandas(s.reset_index()).with_columns(pl.col("id").cast(pl.Int64))
    kept = dict.fromkeys([r.field for r in sr.fit] + ["lifecycle_stage", "is_competitor", "is_hand_raiser", "owner_sdr_id"])
    s = s.join(leads.select("id", *kept, last=_utc("arrived_at")),
               on="id", how="left", maintain_order="left")
    if acts.height:
        last_act = acts.group_by("lead_id").agg(_last=_utc("at").max()).rename({"lead_id": "id"})
        s = s.join(last_act, on="id", how="left", maintain_order="left").with_columns(
            last=pl.max_horizontal("last", "_last")).drop("_last")
    return _stage_moves(s.with_columns(breakdown=_breakdown(s, sr)), sr, now)


def _breakdown(s: pl.DataFrame, sr: Any) -> pl.Series:
    """Return each lead's breakdown as the JSON text leadops stores: leadops' ``breakdowns`` (same entries, order
    and words) computed once per distinct combination of what a breakdown shows (the fit fields' values and the
    scorer's component columns), joined back to the leads."""
    from leadops.domain.scoring_frame import breakdowns

    keys = list(dict.fromkeys([r.field for r in sr.fit] + [c for c in s.columns if ":" in c]))
    u = s.select(keys).unique(maintain_order=True)
    frame = u.to_pandas()
    parts = breakdowns(frame, frame, sr)
    u = u.with_columns(breakdown=pl.Series([json.dumps(parts[i]) for i in range(u.height)], dtype=pl.String))
    return s.select(keys).join(u, on=keys, how="left", nulls_equal=True, maintain_order="left")["breakdown"]


def _stage_moves(s: pl.DataFrame, sr: Any, now: datetime) -> pl.DataFrame:
    """Add the stage move each score decides (leadops' stage_moves over columns): to_stage, cause, reason."""
    from datetime import timedelta

    from leadops.domain.lifecycle import SCORER_OWNS, Stage
    from leadops.domain.scoring import COMPETITOR_CAUSE, COMPETITOR_REASON, HAND_RAISER_CAUSE, mql_cause, nurture_cause
    from leadops.domain.stage_moves import NURTURE_FROM

    thr = sr.mql_threshold
    stage = pl.col("lifecycle_stage")
    owns = stage.is_in([st.value for st in SCORER_OWNS])
    competitor = pl.col("is_competitor").fill_null(False)
    hand = pl.col("is_hand_raiser").fill_null(False)
    to_disq = owns & competitor
    to_mql = owns & ~competitor & (hand | (pl.col("total") >= thr)) & (stage != Stage.MQL.value)
    stale = (pl.col("last") < pl.lit(now - timedelta(days=sr.nurture_after_days)).dt.convert_time_zone("UTC")).fill_null(False)
    to_nurture = (stage.is_in([st.value for st in NURTURE_FROM]) & pl.col("owner_sdr_id").is_null() & ~competitor & ~hand
                  & (pl.col("total") < thr) & stale)
    target = pl.when(to_disq).then(pl.lit(Stage.DISQUALIFIED.value)).when(to_mql).then(pl.lit(Stage.MQL.value)).when(
        to_nurture).then(pl.lit(Stage.NURTURE.value))
    s = s.with_columns(to_stage=pl.when(target != stage).then(target))
    totals = s["total"].unique().to_list()
    mql_text = {t: mql_cause(t, thr) for t in totals}
    nurture_text = {t: nurture_cause(t, thr, sr.nurture_after_days) for t in totals}
    cause = (pl.when(to_disq).then(pl.lit(COMPETITOR_CAUSE)).when(to_mql & hand).then(pl.lit(HAND_RAISER_CAUSE))
             .when(to_mql).then(pl.col("total").replace_strict(mql_text, return_dtype=pl.String))
             .when(to_nurture).then(pl.col("total").replace_strict(nurture_text, return_dtype=pl.String)))
    return s.with_columns(cause=pl.when(pl.col("to_stage").is_not_null()).then(cause),
                          reason=pl.when(pl.col("to_stage") == Stage.DISQUALIFIED.value).then(pl.lit(COMPETITOR_REASON)))


def scoring(db: _Db, rules: Any, now: datetime) -> dict[str, int]:
    """Score every lead changed since its last score (read from the database), SCORE_BATCH leads at a time."""
    from leadops.db.models import LeadStageChange, ScoreHistory
    from leadops.domain.lifecycle import SCORED

    sr = rules.scoring
    stages = ", ".join(f"'{st.value}'" for st in SCORED)
    changed = (f"lifecycle_stage IN ({stages}) AND (scored_at IS NULL OR enriched_at > scored_at OR EXISTS ("  # noqa: S608
               "SELECT 1 FROM activities a WHERE a.lead_id = leads.id AND a.kind IN ('web', 'email') "
               "AND a.occurred_at > leads.scored_at))")
    scored = promoted = 0
    after = 0
    t_now = db.ts_text(now)
    while True:
        leads = db.frame(_select_leads(db, f"{changed} AND id > ? ORDER BY id LIMIT ?"), LEAD_SCHEMA, [after, SCORE_BATCH])
        if leads.is_empty():
            break
        lo, hi = leads["id"].min(), leads["id"].max()
        acts = db.frame(f"SELECT lead_id, kind, outcome, {db.utc('occurred_at')} FROM activities "  # noqa: S608
                        "WHERE lead_id BETWEEN ? AND ?",
                        {"lead_id": pl.Int64, "kind": pl.String, "outcome": pl.String, "at": pl.String}, [lo, hi])
        acts = acts.filter(pl.col("lead_id").is_in(leads["id"].implode()))
        s = score(leads, acts, sr, now)
        _write_scores(db, s, sr.version, now)
        db.insert("score_history", _with_defaults(s.select(
            lead_id="id", model_version=pl.lit(sr.version), fit_score="fit", engagement_score="engagement", score="total",
            grade="grade", breakdown="breakdown", scored_at=pl.lit(t_now), flow_run_id=pl.lit(None, pl.String)),
            ScoreHistory.__table__))
        moves = s.filter(pl.col("to_stage").is_not_null())
        db.insert("lead_stage_history", _with_defaults(moves.select(
            lead_id="id", from_stage="lifecycle_stage", to_stage="to_stage", cause="cause", changed_at=pl.lit(t_now)),
            LeadStageChange.__table__))
        scored += s.height
        promoted += moves.filter(pl.col("to_stage") == "mql").height
        after = hi
    return {"scored": scored, "promoted_mql": promoted}


def _write_scores(db: _Db, s: pl.DataFrame, version: str, now: datetime) -> None:
    """Store scores, grades and stage moves with one UPDATE ... FROM a temporary table."""
    t = db.temp(s.select("id", "fit", "engagement", "total", "grade", stage="to_stage", why="reason"), key="id")
    db.run(f"UPDATE leads SET fit_score = t.fit, engagement_score = t.engagement, score = t.total, grade = t.grade, "  # noqa: S608
           f"score_version = ?, scored_at = ?, lifecycle_stage = COALESCE(t.stage, leads.lifecycle_stage), "
           f"stage_changed_at = CASE WHEN t.stage IS NULL THEN leads.stage_changed_at ELSE ? END, "
           f"disqualified_reason = CASE WHEN t.stage IS NULL THEN leads.disqualified_reason ELSE t.why END "
           f"FROM {t} AS t WHERE leads.id = t.id", [version, db.ts(now), db.ts(now)])
    db.drop(t)


# --------------------------------------------------------------------------- routing

ROUTE_COLUMNS = ("id", "account_id", "arrived_at", "email_domain", "first_name", "last_name", "company", "job_title",
                 "country", "grade", "employee_band", "is_hand_raiser")


class _Fallback(Exception):
    """The batch needs leadops' router lead by lead (an unroutable lead, a full owner, a rule before account-owner)."""


def _queue_schema(rules: Any) -> dict[str, Any]:
    """Return the columns a routing pass reads (ROUTE_COLUMNS and every lead column a rule or policy matches on)."""
    from leadops.db.models import Lead

    keys = {k for r in rules.routing.rules for k in r.when} | {k for p in rules.sla.policies for k in p.when}
    cols = dict.fromkeys(ROUTE_COLUMNS) | dict.fromkeys(sorted(k for k in keys if k in Lead.__table__.c))
    types = {"id": pl.Int64, "account_id": pl.Int64, "is_hand_raiser": pl.Boolean, "employee_count": pl.Int64,
             "do_not_contact": pl.Boolean, "is_free_email": pl.Boolean, "is_competitor": pl.Boolean, "score": pl.Float64,
             "fit_score": pl.Float64, "engagement_score": pl.Float64}
    return {c: types.get(c, pl.String) for c in cols}


def _routing_fields(q: pl.DataFrame) -> pl.DataFrame:
    """Add the fields routing derives (leadops.domain.assignment.lead_fields): segment, fit_grade."""
    from leadops.domain.routing import SEGMENTS

    return q.with_columns(segment=pl.col("employee_band").replace_strict(SEGMENTS, default=None, return_dtype=pl.String),
                          fit_grade=pl.col("grade").fill_null("D").str.slice(0, 1),
                          is_hand_raiser=pl.col("is_hand_raiser").fill_null(False))


def decide(q: pl.DataFrame, rules: Any, states: dict[str, Any], claimed: dict[int, str]) -> tuple[pl.DataFrame, int]:
    """Decide the routing queue ``q`` (arrival order; ``own0``: the account owner's code, if any) against ``states``
    (counted in); returns (one row per assigned lead: pos, sdr, rule, reason, candidates JSON, ae; unroutable count).

    ``route_lead`` decides the leads without an account or whose account has no owner yet (the first of each
    account); the others go to their account's owner, counted into the owners' states between decisions, as
    leadops' account-owner rule counts them. Anything else (an unroutable lead, an owner who cannot take more)
    is decided lead by lead with ``route_lead``.
    """
    import copy

    saved = copy.deepcopy(states), dict(claimed)
    try:
        return _decide_by_accounts(q, rules, states, claimed), 0
    except _Fallback:
        states.clear()
        states.update(saved[0])
        claimed.clear()
        claimed.update(saved[1])
        return _decide_each(q, rules, states, claimed)


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("pos", "own0", "need", "interval")}


def _decide_by_accounts(q: pl.DataFrame, rules: Any, states: dict[str, Any], claimed: dict[int, str]) -> pl.DataFrame:
    from leadops.domain.routing import RoutableLead, route_lead

    rr = rules.routing
    first_rule = rr.rules[0] if rr.rules else None
    if first_rule is None or not first_rule.to.account_owner or first_rule.when or not rr.assign_new_accounts:
        raise _Fallback
    acc = pl.col("account_id")
    q = q.with_columns(need=acc.is_null() | (pl.col("own0").is_null() & acc.is_first_distinct()))
    q = q.with_columns(interval=pl.col("need").cast(pl.Int64).cum_sum())
    follow = q.filter(~pl.col("need")).group_by("interval", "account_id", "own0", maintain_order=True).len()
    groups: dict[int, list[tuple[int, str | None, int]]] = {}
    for interval, account, own, n in follow.iter_rows():
        groups.setdefault(interval, []).append((account, own, n))

    def follow_up(interval: int) -> None:
        for account, own, n in groups.get(interval, ()):
            code = own if own is not None else claimed.get(account)
            st = states.get(code) if code is not None else None
            if st is None or st.skip_reason() or st.assigned_today + n > st.daily_cap or st.open_leads + n > st.open_cap:
                raise _Fallback
            # an account owner's leads count toward the caps but take no turn in any pool (as in leadops)
            st.assigned_today += n
            st.open_leads += n

    decided = []
    need = q.filter(pl.col("need"))
    for k, row in enumerate(need.iter_rows(named=True)):
        follow_up(k)
        d = route_lead(RoutableLead(row["id"], _fields(row), None), rr, states)
        if d.status != "assigned":
            raise _Fallback
        if row["account_id"] is not None:
            claimed[row["account_id"]] = d.sdr
        decided.append((row["pos"], d.sdr, d.rule, d.reason, json.dumps(list(d.candidates)), d.ae))
    follow_up(need.height)
    schema = {"pos": pl.Int64, "sdr": pl.String, "rule": pl.String, "reason": pl.String, "candidates": pl.String,
              "ae": pl.String}
    firsts = pl.DataFrame(decided, schema=schema, orient="row")
    owners = pl.DataFrame({"account_id": list(claimed), "_claimed": list(claimed.values())},
                          schema={"account_id": pl.Int64, "_claimed": pl.String})
    paired = {c: s.paired_ae for c, s in states.items()}
    rest = q.filter(~pl.col("need")).join(owners, on="account_id", how="left", maintain_order="left").select(
        "pos", sdr=pl.coalesce("own0", "_claimed"), rule=pl.lit(first_rule.name),
        reason=pl.format("account owner of {}", "email_domain"), candidates=pl.lit("[]"))
    rest = rest.with_columns(ae=pl.col("sdr").replace_strict(paired, default=None, return_dtype=pl.String))
    return pl.concat([firsts, rest]).sort("pos")


def _decide_each(q: pl.DataFrame, rules: Any, states: dict[str, Any], claimed: dict[int, str]) -> tuple[pl.DataFrame, int]:
    """Decide every lead of ``q`` with route_lead, as leadops' pass does; returns (assigned rows, unroutable count)."""
    from leadops.domain.routing import RoutableLead, route_lead

    decided, unroutable = [], 0
    for row in q.iter_rows(named=True):
        account, owner = row["account_id"], row["own0"]
        owner = owner if owner is not None else claimed.get(account)
        d = route_lead(RoutableLead(row["id"], _fields(row), owner), rules.routing, states)
        if d.status != "assigned":
            unroutable += 1
            continue
        if rules.routing.assign_new_accounts and account is not None and owner is None:
            claimed[account] = d.sdr
        decided.append((row["pos"], d.sdr, d.rule, d.reason, json.dumps(list(d.candidates)), d.ae))
    schema = {"pos": pl.Int64, "sdr": pl.String, "rule": pl.String, "reason": pl.String, "candidates": pl.String,
              "ae": pl.String}
    return pl.DataFrame(decided, schema=schema, orient="row"), unroutable


def _sla(q: pl.DataFrame, rules: Any, cals: dict[str, Any], sdrs: dict[str, Any], now: datetime,
         due_cache: dict[tuple[str, str], datetime]) -> pl.DataFrame:
    """Add each assigned lead's SLA policy (first matching, once per distinct combination of the policies' fields),
    target, due instant (once per SDR and policy) and the words of its notification."""
    from leadops.domain.assignment import policy_for
    from leadops.domain.business_time import add_business_seconds

    policies = rules.sla.policies
    keys = sorted({k for p in policies for k in p.when})
    by_name = {p.name: p for p in policies}
    if keys:
        q = _map_distinct(q, keys, lambda *v: policy_for(dict(zip(keys, v, strict=True)), policies).name,
                          {"policy": pl.String})
    else:
        q = q.with_columns(policy=pl.lit(policies[-1].name))

    def due(code: str, policy: str) -> tuple[int, str, str, str, str]:
        p = by_name[policy]
        if (code, policy) not in due_cache:
            due_cache[code, policy] = add_business_seconds(cals[code], now, p.first_touch)
        at = due_cache[code, policy]
        tz = sdrs[code].time_zone
        return p.first_touch, at.isoformat(), f"{at.astimezone(ZoneInfo(tz)):%a %d %b %H:%M}", tz, sdrs[code].name

    q = _map_distinct(q, ["sdr", "policy"], due, {"target": pl.Int64, "due": pl.String, "due_local": pl.String,
                                                  "tz": pl.String, "sdr_name": pl.String})
    who = pl.concat_str([pl.col("first_name"), pl.col("last_name")], separator=" ", ignore_nulls=True)
    who = pl.when(who.is_null() | (who == "")).then(pl.lit("a new lead")).otherwise(who)
    company = pl.coalesce("company", "email_domain")
    return q.with_columns(
        subject=pl.concat_str([pl.lit("[leadops] New lead for you: "), who, pl.lit(" ("), company, pl.lit(")")]),
        body=pl.concat_str([
            pl.lit("Hello "), pl.col("sdr_name"), pl.lit(",\n\nLead #"), pl.col("id").cast(pl.String), pl.lit(" is yours: "),
            who, pl.lit(", "), pl.col("job_title").fill_null("title unknown"), pl.lit(" at "), company, pl.lit(" ("),
            pl.col("country").fill_null("country unknown"), pl.lit("), grade "), pl.col("grade").fill_null("None"),
            pl.lit(".\nWhy you: "), pl.col("reason"), pl.lit(".\nFirst touch due by "), pl.col("due_local"), pl.lit(" ("),
            pl.col("tz"), pl.lit("), policy "), pl.col("policy"), pl.lit(".\n")]))


def _write_assignments(db: _Db, a: pl.DataFrame, sdrs: dict[str, Any], states: dict[str, Any], now: datetime) -> None:
    """Write assignments, their first-touch clocks, "started" events and outbox messages (ids read back in bulk)."""
    from leadops.db.models import Assignment, Notification, SlaClock, SlaEvent

    t_now = db.ts_text(now)
    ids = {c: r.id for c, r in sdrs.items()}
    role_sdr = {c: ids[c] for c in states}  # leadops names the paired AE only when it is on the routing roster
    a = a.with_columns(sdr_id=pl.col("sdr").replace_strict(ids, return_dtype=pl.Int64),
                       ae_id=pl.col("ae").replace_strict(role_sdr, default=None, return_dtype=pl.Int64),
                       recipient=pl.col("sdr").replace_strict({c: r.email for c, r in sdrs.items()}, return_dtype=pl.String))
    due_text = {v: db.ts_text(datetime.fromisoformat(v)) for v in a["due"].unique().to_list()}
    a = a.with_columns(due_at=pl.col("due").replace_strict(due_text, return_dtype=pl.String))
    before = db.max_id("assignments")
    db.insert("assignments", _with_defaults(a.select(
        lead_id="id", sdr_id="sdr_id", ae_id="ae_id", previous_sdr_id=pl.lit(None, pl.Int64), kind=pl.lit("initial"),
        status=pl.lit("assigned"), rule="rule", reason="reason", candidates="candidates", active=pl.lit(True),
        assigned_at=pl.lit(t_now), ended_at=pl.lit(None, pl.String), flow_run_id=pl.lit(None, pl.String)),
        Assignment.__table__))
    aid = db.frame("SELECT lead_id, id FROM assignments WHERE id > ?", {"id": pl.Int64, "assignment_id": pl.Int64}, [before])
    a = a.join(aid, on="id", how="left", maintain_order="left")
    before = db.max_id("sla_clocks")
    db.insert("sla_clocks", _with_defaults(a.select(
        lead_id="id", sdr_id="sdr_id", assignment_id="assignment_id", policy="policy", kind=pl.lit("first_touch"),
        target_seconds="target", started_at=pl.lit(t_now), due_at="due_at", status=pl.lit("open"),
        elapsed_seconds=pl.lit(0), met_at=pl.lit(None, pl.String), evaluated_at=pl.lit(None, pl.String),
        touches_required=pl.lit(1)), SlaClock.__table__))
    cid = db.frame("SELECT assignment_id, id FROM sla_clocks WHERE id > ?", {"assignment_id": pl.Int64, "clock_id": pl.Int64},
                   [before])
    a = a.join(cid, on="assignment_id", how="left", maintain_order="left")
    db.insert("sla_events", _with_defaults(a.select(
        "clock_id", step=pl.lit("started"), at=pl.lit(t_now), elapsed_seconds=pl.lit(0),
        detail=pl.format("policy {}, due {}", "policy", "due")), SlaEvent.__table__))
    db.insert("notification_outbox", _with_defaults(a.select(
        key=pl.format("assignment:{}", "assignment_id"), kind=pl.lit("assignment"), channel=pl.lit("email"),
        recipient="recipient", subject="subject", body="body", lead_id="id", status=pl.lit("pending"), attempts=pl.lit(0),
        created_at=pl.lit(t_now)), Notification.__table__))


def routing(db: _Db, rules: Any, now: datetime) -> dict[str, int]:
    """Route every unowned MQL (read from the database in arrival order, ROUTE_BATCH at a time)."""
    states, cals, sdrs = bare._states(db.conn, now, _company_tz())
    code_of = {r.id: c for c, r in sdrs.items()}
    schema = _queue_schema(rules)
    cols = [f"CASE WHEN leads.{c} THEN 1 ELSE 0 END" if t == pl.Boolean else
            (db.utc("leads.arrived_at") if c == "arrived_at" else f"leads.{c}") for c, t in schema.items()]
    head = (f"SELECT {', '.join(cols)}, accounts.owner_sdr_id FROM leads"  # noqa: S608 - constant columns
            f"{'' if db.pg else ' INDEXED BY ix_leads_routing_queue'} LEFT OUTER JOIN accounts ON accounts.id = leads.account_id "
            "WHERE leads.lifecycle_stage = 'mql' AND leads.owner_sdr_id IS NULL")
    claimed: dict[int, str] = {}
    written: set[int] = set()
    due_cache: dict[tuple[str, str], datetime] = {}
    routed = unroutable = 0
    after: tuple[Any, int] | None = None
    while True:
        keyset = "" if after is None else " AND (leads.arrived_at, leads.id) > (?, ?)"
        q = db.frame(f"{head}{keyset} ORDER BY leads.arrived_at, leads.id LIMIT ?", {**schema, "owner": pl.Int64},
                     [*(after or ()), ROUTE_BATCH])
        if q.is_empty():
            break
        last = q.row(-1, named=True)
        after = (db.ts(datetime.fromisoformat(last["arrived_at"]).replace(tzinfo=UTC)), last["id"])
        q = _routing_fields(q).with_row_index("pos").with_columns(
            pl.col("pos").cast(pl.Int64), own0=pl.col("owner").replace_strict(code_of, default=None, return_dtype=pl.String))
        q = q.drop("owner")
        d, u = decide(q, rules, states, claimed)
        unroutable += u
        a = _sla(q.join(d, on="pos", maintain_order="left"), rules, cals, sdrs, now, due_cache)
        _write_assignments(db, a, sdrs, states, now)
        ids = {c: r.id for c, r in sdrs.items()}
        t = db.temp(a.select("id", owner=pl.col("sdr").replace_strict(ids, return_dtype=pl.Int64)), key="id")
        db.run(f"UPDATE leads SET owner_sdr_id = t.owner, routing_status = 'assigned', updated_at = ? "  # noqa: S608
               f"FROM {t} AS t WHERE leads.id = t.id", [db.ts(now)])
        db.drop(t)
        written.update(_claim_accounts(db, {acc: ids[c] for acc, c in claimed.items() if acc not in written}))
        routed += a.height
    _save_positions(db, states, sdrs, now)
    return {"routed": routed, "unroutable": unroutable}


def _claim_accounts(db: _Db, claims: dict[int, int]) -> dict[int, int]:
    """Give each account of ``claims`` (account id -> SDR id) that still has no owner its SDR, in one
    ``UPDATE ... FROM``; returns ``claims``."""
    if claims:
        t = db.temp(pl.DataFrame({"id": list(claims), "owner": list(claims.values())},
                                 schema={"id": pl.Int64, "owner": pl.Int64}), key="id")
        db.run(f"UPDATE accounts SET owner_sdr_id = t.owner FROM {t} AS t "  # noqa: S608
               "WHERE accounts.id = t.id AND accounts.owner_sdr_id IS NULL")
        db.drop(t)
    return claims


def _save_positions(db: _Db, states: dict[str, Any], sdrs: dict[str, Any], now: datetime) -> None:
    """Store every SDR's round-robin position in each pool."""
    db.run("DELETE FROM routing_positions")
    db.insert("routing_positions", pl.DataFrame(
        [(pool, sdrs[c].id, vt, db.ts_text(now)) for c, s in states.items() for pool, vt in s.positions.items()],
        schema={"pool": pl.String, "sdr_id": pl.Int64, "virtual_time": pl.Float64, "updated_at": pl.String},
        orient="row"))


# --------------------------------------------------------------------------- write-once


def run_write_once(path: Path, url: str, config: Path, var_dir: Path, enrich: str, base_url: str | None = None,
                   firmo_csv: Path | None = None, concurrency: int = 8) -> dict[str, Any]:
    """The same job, each lead row written once: every WRITE_ONCE_BATCH rows of the file are decided, enriched,
    scored and routed in memory (no stage reads what an earlier one wrote), then written in one go, each new lead inserted
    with its final values (enrichment, score, grade, stage, owner), one transaction per batch; returns counts
    and seconds per stage ("write": every write of the leads' rows and what hangs off them).

    Lead ids, assignment ids and the like are allocated here (one writer). A row merged into a lead of an
    EARLIER batch (already written) updates that lead as leadops' intake does (fills its blanks, marks it for
    scoring); those leads are scored and routed again by the columnar stages after the last batch, so they
    are written twice and, when such a merge makes a lead an MQL, it is routed after the file's other MQLs
    (leadops routes it in arrival order). A file of 100k rows is one batch: it has no such lead.
    """
    from leadops.config import load_rules
    from leadops.db.models import IngestBatch
    from leadops.db.session import get_engine

    rules = load_rules(config)
    engine = get_engine(url)
    stages = dict.fromkeys(("ingest", "enrich", "score", "route", "write", "deliver"), 0.0)
    counts = dict.fromkeys(("rows_read", "inserted", "merged", "quarantined", "enriched", "not_enriched",
                            "enrichment_skipped", "scored", "promoted_mql", "routed", "unroutable"), 0)
    now = datetime.now(UTC)  # the file's arrival (leadops' intake: one instant per file)
    with engine.begin() as conn:
        db = _Db(conn)
        batch_id = conn.execute(IngestBatch.__table__.insert().values(
            source="default", origin=str(path), content_hash=bare._sha256(path), status="running",
            started_at=now)).inserted_primary_key[0]
        routing_state = bare._states(conn, now, _company_tz())
    run = _WriteOnce(path, batch_id, rules, now, enrich, base_url, firmo_csv, concurrency, routing_state, stages)
    for raw in _read(path, WRITE_ONCE_BATCH):
        with engine.begin() as conn:
            for k, v in run.batch(_Db(conn), raw).items():
                counts[k] += v
    t = time.perf_counter()
    with engine.begin() as conn:
        db = _Db(conn)
        conn.execute(IngestBatch.__table__.update().where(IngestBatch.id == batch_id).values(
            status="done", finished_at=now, **{k: counts[k] for k in ("rows_read", "inserted", "merged", "quarantined")}))
        _save_positions(db, run.states, run.sdrs, datetime.now(UTC))
    if run.rewritten:  # leads of earlier batches that later rows merged into: scored and routed again
        with engine.begin() as conn:
            again = scoring(_Db(conn), rules, datetime.now(UTC))
            counts["promoted_mql"] += again["promoted_mql"]
        with engine.begin() as conn:
            again = routing(_Db(conn), rules, datetime.now(UTC))
            counts["routed"] += again["routed"]
            counts["unroutable"] += again["unroutable"]
    stages["write"] += time.perf_counter() - t
    t = time.perf_counter()
    with engine.begin() as conn:
        counts.update(bare.deliver(conn, var_dir / "outbox"))
    stages["deliver"] = time.perf_counter() - t
    return {**counts, "rewritten": run.rewritten, "stages": stages}


class _WriteOnce:
    """The state the batches of a write-once run share: dedupe candidates and accounts, the domains looked up,
    the SDRs' routing state and the accounts they own."""

    def __init__(self, path: Path, batch_id: int, rules: Any, now: datetime, enrich: str, base_url: str | None,
                 firmo_csv: Path | None, concurrency: int, routing_state: tuple, stages: dict[str, float]) -> None:
        self.path, self.batch_id, self.rules, self.now, self.stages = path, batch_id, rules, now, stages
        self.enrich, self.base_url, self.firmo_csv, self.concurrency = enrich, base_url, firmo_csv, concurrency
        self.states, self.cals, self.sdrs = routing_state
        self.file = _FileState()
        self.answers = pl.DataFrame(schema={"email_domain": pl.String, "lead_status": pl.String, "industry": pl.String,
                                            "employee_count": pl.Int64, "employee_band": pl.String,
                                            "revenue_band": pl.String})
        self.claimed: dict[int, str] = {}
        self.written: set[int] = set()
        self.rewritten = 0

    def _clock(self, stage: str, t: float) -> float:
        now = time.perf_counter()
        self.stages[stage] += now - t
        return now

    def batch(self, db: _Db, raw: pl.DataFrame) -> dict[str, int]:
        """Decide, enrich, score and route one batch in memory, then write it; returns its counts."""
        from leadops.db.bulk import refresh_statistics
        from leadops.db.models import Lead, LeadStageChange, ScoreHistory

        rules, now, batch_id = self.rules, self.now, self.batch_id
        t = time.perf_counter()
        held, new, merges, stored_fill = _prepare(db, raw, rules, now, self.file)
        first = db.max_id("leads") + 1
        new = new.with_columns(id=pl.int_range(first, first + new.height, dtype=pl.Int64))
        ids = new.select("email", "id")
        t = self._clock("ingest", t)
        # enrichment: each business domain looked up once per file
        enrich_now = datetime.now(UTC)
        business = ~pl.col("is_free_email")
        wanted = new.filter(business)["email_domain"].unique().sort()
        fresh = wanted.filter(~wanted.is_in(self.answers["email_domain"].implode())).to_list()
        if fresh:
            answers = _statuses(_answers(fresh, self.enrich, self.base_url, self.firmo_csv, self.concurrency), rules)
            _write_answers(db, answers, "offline" if self.enrich == "offline" else "firmo", enrich_now)
            self.answers = pl.concat([self.answers, answers.select(
                pl.col("domain").alias("email_domain"), "lead_status", "industry", "employee_count", "employee_band",
                "revenue_band")])
        new = new.join(self.answers, on="email_domain", how="left", maintain_order="left").with_columns(
            enrichment_status=pl.when(business).then(pl.col("lead_status")).otherwise(pl.lit("skipped")),
            **{c: pl.when(business).then(pl.col(c)) for c in ("industry", "employee_count", "employee_band", "revenue_band")})
        out = {"rows_read": raw.height, "inserted": new.height, "merged": merges.height, "quarantined": held.height,
               "enriched": new.filter(pl.col("enrichment_status") == "enriched").height,
               "enrichment_skipped": new.filter(~business).height}
        out["not_enriched"] = new.height - out["enriched"] - out["enrichment_skipped"]
        t = self._clock("enrich", t)
        # scoring: the batch's leads and the touches merged into them
        score_now = datetime.now(UTC)
        arrived = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        leads = new.select(*(c for c in LEAD_SCHEMA if c not in ("lifecycle_stage", "owner_sdr_id", "arrived_at")),
                           lifecycle_stage=pl.lit("new"), owner_sdr_id=pl.lit(None, pl.Int64), arrived_at=pl.lit(arrived))
        touches = merges.filter(pl.col("target_id").is_null()).join(
            ids.rename({"email": "target_email", "id": "lead_id"}), on="target_email", maintain_order="left").select(
            "lead_id", kind=pl.lit("web"), outcome="source", at=pl.lit(arrived))
        scored = score(leads, touches, rules.scoring, score_now)
        out["scored"] = scored.height
        out["promoted_mql"] = scored.filter(pl.col("to_stage") == "mql").height
        new = new.join(scored.select("id", "fit", "engagement", "total", "grade", "to_stage", "reason"), on="id",
                       how="left", maintain_order="left")
        t = self._clock("score", t)
        # routing: the batch's MQLs in arrival order, their accounts' owners as claimed by earlier batches
        route_now = datetime.now(UTC)
        queue = new.filter(pl.col("to_stage") == "mql").select(
            *(c for c in _queue_schema(rules) if c not in ("arrived_at", "grade")), arrived_at=pl.lit(arrived),
            grade="grade")
        owners = pl.DataFrame({"account_id": list(self.claimed), "own0": list(self.claimed.values())},
                              schema={"account_id": pl.Int64, "own0": pl.String})
        queue = _routing_fields(queue).with_row_index("pos").with_columns(pl.col("pos").cast(pl.Int64)).join(
            owners, on="account_id", how="left", maintain_order="left")
        decided, out["unroutable"] = decide(queue, rules, self.states, self.claimed)
        assigned = _sla(queue.join(decided, on="pos", maintain_order="left"), rules, self.cals, self.sdrs, route_now, {})
        out["routed"] = assigned.height
        sdr_ids = {c: r.id for c, r in self.sdrs.items()}
        new = new.join(assigned.select("id", owner=pl.col("sdr").replace_strict(sdr_ids, return_dtype=pl.Int64)),
                       on="id", how="left", maintain_order="left")
        t = self._clock("route", t)
        # the writes: each new lead once, with its final values
        t_now, t_enrich, t_score, t_route = (db.ts_text(x) for x in (now, enrich_now, score_now, route_now))
        _quarantine(db, held, self.path, batch_id, t_now)
        moved = pl.col("to_stage").is_not_null()
        db.insert("leads", _lead_rows(new, batch_id, t_now, {
            "id": pl.col("id"), "enrichment_status": pl.col("enrichment_status"), "enriched_at": pl.lit(t_enrich),
            "industry": pl.col("industry"), "employee_count": pl.col("employee_count"),
            "employee_band": pl.col("employee_band"), "revenue_band": pl.col("revenue_band"),
            "fit_score": pl.col("fit"), "engagement_score": pl.col("engagement"), "score": pl.col("total"),
            "grade": pl.col("grade"), "score_version": pl.lit(rules.scoring.version), "scored_at": pl.lit(t_score),
            "lifecycle_stage": pl.coalesce("to_stage", pl.lit("new")),
            "stage_changed_at": pl.when(moved).then(pl.lit(t_score)).otherwise(pl.lit(t_now)),
            "disqualified_reason": pl.col("reason"), "owner_sdr_id": pl.col("owner"),
            "routing_status": pl.when(pl.col("owner").is_not_null()).then(pl.lit("assigned")),
            "updated_at": pl.when(pl.col("owner").is_not_null()).then(pl.lit(t_route)).otherwise(pl.lit(t_now))}))
        if db.pg:
            db.run("SELECT setval(pg_get_serial_sequence('leads', 'id'), ?)", [max(first + new.height - 1, 1)])
            if new.height >= 1000:
                refresh_statistics(db.conn, new.height, Lead.__table__, ["id", "email", "email_domain", "ingest_batch_id"])
        db.insert("lead_stage_history", pl.concat([
            new.select(lead_id="id", from_stage=pl.lit(None, pl.String), to_stage=pl.lit("new"),
                       cause=pl.format(f"arrived from {{}} (batch {batch_id}, row {{}})", "source", "row"),
                       changed_at=pl.lit(t_now)),
            scored.filter(pl.col("to_stage").is_not_null()).select(
                lead_id="id", from_stage="lifecycle_stage", to_stage="to_stage", cause="cause", changed_at=pl.lit(t_score)),
        ]).pipe(_with_defaults, LeadStageChange.__table__))
        _store_merges(db, merges, ids, stored_fill, self.path, batch_id, now)
        self.rewritten += stored_fill.height
        db.insert("score_history", _with_defaults(scored.select(
            lead_id="id", model_version=pl.lit(rules.scoring.version), fit_score="fit", engagement_score="engagement",
            score="total", grade="grade", breakdown="breakdown", scored_at=pl.lit(t_score),
            flow_run_id=pl.lit(None, pl.String)), ScoreHistory.__table__))
        if assigned.height:
            _write_assignments(db, assigned, self.sdrs, self.states, route_now)
        self.written.update(_claim_accounts(
            db, {acc: sdr_ids[c] for acc, c in self.claimed.items() if acc not in self.written}))
        _remember(self.file, new, ids)
        self._clock("write", t)
        return out
