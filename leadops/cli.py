"""The `leadops` command. Every command that runs a flow accepts --json and then prints exactly one
JSON object on stdout; failures exit non-zero with a one-line reason on stderr.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime, UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # annotations only: the CLI imports what a command needs when it runs
    from leadops.config import Settings
    from leadops.db.unit_of_work import UnitOfWork
    from leadops.services.lookup import LeadRef

# Offline by design: set before Prefect or GX are imported (commands import them lazily).
for _k, _v in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(_k, _v)
# Flow runs started from here (`serve`, `run`, `demo`) beat every 30 s, like the workers' runs
# (prefect.yaml): the zombie-run automation marks a leadops run that stays silent for 90 s Crashed,
# so a slower beat (Prefect's default is 180 s) would get healthy long runs marked.
os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30")
# The temporary Prefect API (no PREFECT_API_URL) starts a server process that imports Prefect's
# whole server: on a busy 2-core machine that took longer than Prefect's default 20 s.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Lead operations on Prefect.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
run_app = typer.Typer(no_args_is_help=True, help="Run a flow now (through Prefect).")
app.add_typer(db_app, name="db")
app.add_typer(run_app, name="run")

JSON_OPT = typer.Option(False, "--json", help="Print one JSON object on stdout.")


def _emit(data: dict[str, Any], as_json: bool, human: str | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, default=str, ensure_ascii=False) + "\n")
    else:
        typer.echo(human if human is not None else json.dumps(data, indent=2, default=str, ensure_ascii=False))


class UsageError(ValueError):
    """A bad argument or option, found before anything runs: exit code 2."""


#: what to do when the temporary Prefect API does not come up
_EPHEMERAL_HINT = (
    "the temporary Prefect API did not start within {timeout} s (a busy machine?): start a server once with "
    "`prefect server start` and `export PREFECT_API_URL=http://127.0.0.1:4200/api`, or allow more time with "
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS")


def _message(exc: BaseException) -> str:
    """Return the one line said for ``exc``: its first line, or what to do when the temporary API timed out."""
    text = str(exc).strip()
    if "attempting to connect to ephemeral Prefect API" in text:
        return _EPHEMERAL_HINT.format(timeout=os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "?"))
    if isinstance(exc, KeyError) and not text:
        return type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


def _fail(exc: BaseException) -> None:
    from leadops.config import ConfigError
    from leadops.project import ProjectError

    typer.echo(f"leadops: error: {_message(exc)}", err=True)
    # 2: the command line, a rule file or the project is wrong (a rerun cannot fix it); 1: the run failed
    raise typer.Exit(2 if isinstance(exc, (UsageError, ConfigError, ProjectError)) else 1)


def _guard(fn):
    """Run ``fn`` turning any exception into a one-line reason on stderr (exit 2 for bad input, else 1);
    LEADOPS_DEBUG=1 shows the traceback instead."""
    try:
        return fn()
    except typer.Exit:
        raise
    except Exception as exc:
        if os.environ.get("LEADOPS_DEBUG") not in (None, "", "0"):
            raise
        _fail(exc)


def _quiet_prefect_console() -> None:
    """Keep tracebacks of flow and task runs out of the terminal (they still reach the Prefect API's logs and
    the UI); LEADOPS_DEBUG=1 keeps them. Called after Prefect is imported, before a flow runs here."""
    import logging

    if os.environ.get("LEADOPS_DEBUG") not in (None, "", "0"):
        return

    def strip(record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True

    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.flow_engine", "prefect.task_engine"):
        for h in logging.getLogger(name).handlers:
            if isinstance(h, logging.StreamHandler) and not getattr(h, "_leadops_quiet", False):
                h.addFilter(strip)
                h._leadops_quiet = True  # type: ignore[attr-defined]


def _preflight() -> Any:
    """Load and check what a flow run started here needs before it starts (the project, rule files, the
    database schema): an error a rerun cannot fix stops here, with no Failed run and no retry. Returns
    the settings."""
    s, _ = _prepared()
    import prefect  # noqa: F401 - configures Prefect's logging, which is then quieted

    _quiet_prefect_console()
    return s


#: commands that work outside a project folder
_NO_PROJECT = {"init", None}


@app.callback()
def _project(ctx: typer.Context) -> None:
    """Lead operations on Prefect. Run commands inside a project folder (`leadops init DIR` makes one)."""
    if ctx.invoked_subcommand in _NO_PROJECT or ctx.resilient_parsing:
        return

    def check() -> None:
        from leadops.project import find_root, not_a_project_message

        # LEADOPS_CONFIG_DIR alone still works without a project (scripts and containers that set every path)
        if find_root() is None and not os.environ.get("LEADOPS_CONFIG_DIR"):
            raise UsageError(not_a_project_message())
    _guard(check)


# --------------------------------------------------------------------------- init


@app.command()
def init(
    directory: Path = typer.Argument(..., help="The project folder to create (it may exist and hold other files)."),
    name: str | None = typer.Option(None, help="The project's name (default: the folder's)."),
    force: bool = typer.Option(False, "--force", help="Write the template's files even over existing ones."),
    as_json: bool = JSON_OPT,
) -> None:
    """Create a project folder of your own: rule files with commented examples and no sample people, the GX
    suites, prefect.yaml, .env.example. Every command run inside it then uses it."""
    def go():
        from leadops.project import init_project

        out = init_project(directory, name, force=force)
        data = {"project": str(out.root), "written": out.written, "kept": out.kept}
        human = [f"created leadops project {out.root}", *(f"  wrote {f}" for f in out.written),
                 *(f"  kept  {f} (exists; --force overwrites)" for f in out.kept),
                 "", "Next:", f"  cd {out.root}",
                 "  edit config/sdrs.yaml (your team), then: leadops roster sync",
                 "  drop a lead file in var/inbox/, then: leadops run pipeline",
                 "  production: README, 'Production' (prefect server, work pool, prefect deploy --all, worker)"]
        _emit(data, as_json, "\n".join(human))
    _guard(go)


# --------------------------------------------------------------------------- roster

roster_app = typer.Typer(no_args_is_help=True, help="The roster of config/sdrs.yaml against the database.")
app.add_typer(roster_app, name="roster")


@roster_app.command("sync")
def roster_sync(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    as_json: bool = JSON_OPT,
) -> None:
    """Make the database's roster that of sdrs.yaml: add, change, deactivate (history kept); the open leads of
    people no longer active are reassigned by the routing rules. Every flow run does this before routing."""
    def go():

        from leadops.db.unit_of_work import SqlUnitOfWork
        from leadops.services.roster import by_routing_rules
        from leadops.services.roster import sync as roster_sync_service

        s, rules = _prepared()
        with SqlUnitOfWork(s.database_url) as uow:
            out = roster_sync_service(uow, rules, dry_run=dry_run, reassign=by_routing_rules(
                uow, rules, s.company_time_zone, datetime.now(UTC)))
            if dry_run:
                uow.rollback()
        if not dry_run and (out.reassigned or out.changes):
            from leadops.db.unit_of_work import sql_units
            from leadops.notify.outbox import deliver
            from leadops.notify.senders import sender_for

            # the reassignments are committed: announce them
            deliver(sql_units(s.database_url), sender_for(s), lease=_lease(s))
        counts = out.counts()
        lines = out.lines() or ["sdrs.yaml and the database agree: nothing to do"]
        head = ("dry run, nothing written: " if dry_run else "") + ", ".join(
            f"{n} {k}" for k, n in counts.items() if n) if (out.changes or out.to_reassign) else None
        _emit({"dry_run": dry_run, **counts, "changes": [
                  {"code": c.code, "kind": c.kind, "fields": {k: [str(a), str(b)] for k, (a, b) in c.fields.items()}}
                  for c in out.changes],
               "to_reassign": out.to_reassign, "reassigned_leads": out.reassigned,
               "not_reassigned_leads": out.not_reassigned},
              as_json, "\n".join(([head] if head else []) + [f"  {x}" if head else x for x in lines]))
    _guard(go)


# --------------------------------------------------------------------------- config

config_app = typer.Typer(no_args_is_help=True, help="The project's settings and rule files.")
app.add_typer(config_app, name="config")


@config_app.command("check")
def config_check(as_json: bool = JSON_OPT) -> None:
    """Check the settings (LEADOPS_*, .env, leadops.yaml) and every rule file at once: one line per problem
    (file or variable, key, value, what is allowed) and exit 2, or a short summary and exit 0. Writes nothing."""
    def go():
        from leadops.config import check_config

        out = check_config()
        if out.problems:
            if as_json:
                _emit({"ok": False, "config_dir": str(out.config_dir), "problems": out.problems}, True)
            else:
                typer.echo("\n".join(out.problems))
                typer.echo(f"leadops: error: {len(out.problems)} problem(s) in the settings and rule files",
                           err=True)
            raise typer.Exit(2)
        s, r = out.settings, out.rules
        sdrs = [p for p in r.roster.people if p.role == "sdr"]
        counts = {"people": len(r.roster.people), "sdrs": len(sdrs), "active_sdrs": sum(p.active for p in sdrs),
                  "pools": len(r.routing.pools), "routing_rules": len(r.routing.rules),
                  "sla_policies": len(r.sla.policies), "file_sources": len(r.sources.files),
                  "api_sources": len(r.sources.apis), "crm_connectors": len(r.sources.crm),
                  "providers": len(r.sources.providers),
                  "slack": r.notify.slack.mode if r.notify.slack.enabled else "off"}
        _emit({"ok": True, "config_dir": str(out.config_dir), "company_time_zone": s.company_time_zone,
               "database": _safe_url(s.database_url), "scoring_version": r.scoring.version, **counts}, as_json,
              f"ok: settings (company time zone {s.company_time_zone}, database {_safe_url(s.database_url)}) and "
              f"the rule files in {out.config_dir}: {counts['people']} people ({counts['active_sdrs']} active SDRs), "
              f"{counts['pools']} pools, {counts['routing_rules']} routing rules, {counts['sla_policies']} SLA "
              f"policies, {counts['file_sources'] + counts['api_sources']} sources"
              + (f", {counts['crm_connectors']} CRM connector(s)" if counts["crm_connectors"] else "")
              + (f", Slack ({counts['slack']})" if counts["slack"] != "off" else ""))
    _guard(go)


# --------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(as_json: bool = JSON_OPT) -> None:
    """Create or migrate the database schema (LEADOPS_DATABASE_URL) to the latest revision."""
    def go():
        from leadops.config import get_settings
        from leadops.db.migrate import upgrade

        s = get_settings()
        rev = upgrade(s.database_url)
        _emit({"revision": rev, "database": _safe_url(s.database_url)}, as_json, f"database at revision {rev}")
    _guard(go)


def _prepared():
    """Return (settings, rules) of this command, with the database migrated: a fresh database works at once."""
    from leadops.config import get_settings, load_rules
    from leadops.db.migrate import upgrade

    s = get_settings()
    rules = load_rules(s.config_dir)
    upgrade(s.database_url)
    return s, rules


def _lease(s):
    """Return the outbox claim lease of these settings (LEADOPS_OUTBOX_LEASE_SECONDS)."""
    from datetime import timedelta

    return timedelta(seconds=s.outbox_lease_seconds)


def _session(s):
    from leadops.db.session import session_scope

    return session_scope(s.database_url)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --------------------------------------------------------------------------- seed


def _seed(seed_value: int, anchor: date | None, leads: int) -> dict[str, Any]:
    from leadops.seed import seed as run_seed

    s, rules = _prepared()
    with _session(s) as session:
        return run_seed(session, rules, s.inbox_dir, seed=seed_value, anchor=anchor, n_leads=leads)


@app.command()
def seed(
    seed_value: int = typer.Option(42, "--seed", help="Random seed: same seed and anchor, same sample."),
    anchor: str | None = typer.Option(None, help="Last day of the sample (YYYY-MM-DD); default today."),
    leads: int = typer.Option(2000, help="Number of leads over 8 weeks."),
    as_json: bool = JSON_OPT,
) -> None:
    """Load the roster and a realistic sample: 7 weeks of history in the database, this week's files in the inbox."""
    _guard(lambda: _emit(_seed(seed_value, date.fromisoformat(anchor) if anchor else None, leads), as_json))


# --------------------------------------------------------------------------- ingest


@app.command()
def ingest(
    path: Path = typer.Argument(..., help="A lead file (.csv, .tsv, .txt, .jsonl)."),
    source: str | None = typer.Option(None, help="A `files` entry of sources.yaml to use for this file."),
    move: bool = typer.Option(False, help="Move the file to var/processed or var/failed afterwards."),
    as_json: bool = JSON_OPT,
) -> None:
    """Ingest one file now (no Prefect run): validate, quarantine, insert or merge; prints the counts."""
    def go():
        from leadops.db.unit_of_work import SqlUnitOfWork
        from leadops.intake.files import ingest_file, source_named

        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        s, rules = _prepared()
        src = source_named(source, rules) if source else None
        with SqlUnitOfWork(s.database_url) as uow:
            out = ingest_file(uow, path, rules, s, move=move, source=src)
        data = {k: getattr(out, k) for k in ("file", "status", "batch_id", "rows_read", "inserted", "merged", "quarantined")}
        data["reasons"] = [{"reason": r, "count": n} for r, n in out.reasons.items()]
        if out.moved_to:
            data["moved_to"] = out.moved_to
        if out.status == "rejected":
            typer.echo(f"leadops: error: {out.error}", err=True)
            if as_json:
                _emit({**data, "error": out.error}, True)
            raise typer.Exit(2)
        if out.status == "duplicate":
            data["note"] = out.error
        _emit(data, as_json, f"{out.file}: {out.status}: {out.rows_read} rows read, {out.inserted} inserted, "
                             f"{out.merged} merged, {out.quarantined} quarantined"
                             + "".join(f"\n  {n:>5}  {r}" for r, n in out.reasons.items()))
    _guard(go)


# --------------------------------------------------------------------------- enrich


@app.command()
def enrich(
    stale: bool = typer.Option(False, "--stale", help="Also re-enrich leads enriched longer ago than the TTL."),
    as_json: bool = JSON_OPT,
) -> None:
    """Enrich pending leads now (no Prefect run) through the provider waterfall; prints per-provider numbers."""
    def go():
        from dataclasses import asdict

        from leadops.db.unit_of_work import SqlUnitOfWork
        from leadops.services.enrich import enrich_pending

        s, rules = _prepared()
        with SqlUnitOfWork(s.database_url) as uow:
            out = asdict(enrich_pending(uow, rules, stale=stale, checkpoint=lambda done, total: uow.commit()))
        lines = [(f"domains {out['domains']}: {out['enriched']} leads enriched, {out['partial']} partially, "
                 f"{out['not_enriched']} not enriched ({out['errors']} in error, retried next run), "
                 f"{out['skipped']} skipped (personal email)")]
        for name, p in out["providers"].items():
            lat = f", p50 {p['p50_ms']} ms, p95 {p['p95_ms']} ms" if p["p50_ms"] is not None else ""
            lines.append(f"  {name}: {p['lookups']} lookups ({p['requests']} requests), {p['hits']} hits, "
                         f"{p['misses']} misses, {p['errors']} errors, {p['cache_hits']} cache hits{lat}, "
                         f"circuit {p['circuit'] or 'n/a'}")
        _emit(out, as_json, "\n".join(lines))
    _guard(go)


# --------------------------------------------------------------------------- score

score_app = typer.Typer(help="Score leads now, or train the conversion model (`leadops score train`).")
app.add_typer(score_app, name="score")


@score_app.callback(invoke_without_command=True)
def score_now(
    ctx: typer.Context,
    all_leads: bool = typer.Option(False, "--all", help="Rescore every open lead (else only those that changed)."),
    stage: list[str] = typer.Option([], help="With --all: only leads in this lifecycle stage (repeatable)."),
    source: list[str] = typer.Option([], help="With --all: only leads from this source (repeatable)."),
    since: str | None = typer.Option(None, help="With --all: only leads arrived since this date (ISO 8601)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Score open leads now (no Prefect run): stage changes, grades, score distribution before and after."""
    if ctx.invoked_subcommand is not None:
        return

    def go():
        from dataclasses import asdict

        from leadops.db.unit_of_work import SqlUnitOfWork
        from leadops.services.score import rescore_filter, score_open_leads

        if (stage or source or since) and not all_leads:
            raise UsageError("--stage, --source and --since select leads for a rescore: add --all")
        s, rules = _prepared()
        at = datetime.fromisoformat(since) if since else None
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=ZoneInfo(s.company_time_zone))
        with SqlUnitOfWork(s.database_url) as uow:
            out = asdict(score_open_leads(uow, rules, only_changed=not all_leads,
                                          where=rescore_filter(stage, source, at) if all_leads else None))
        lines = [(f"model {out['model_version']}: {out['scored']} leads scored, {out['changed']} changed, "
                 f"{out['promoted_mql']} new MQLs, {out['nurtured']} to nurture, {out['disqualified']} disqualified")]
        lines += [f"  {k:<22} {v}" for k, v in out["stage_changes"].items()]
        lines.append("  score band   before  after")
        for band in sorted(set(out["distribution_before"]) | set(out["distribution_after"])):
            lines.append(f"  {band:<10} {out['distribution_before'].get(band, 0):>8} {out['distribution_after'].get(band, 0):>6}")
        _emit(out, as_json, "\n".join(lines))
    _guard(go)


@score_app.command("train")
def score_train(
    csv: Path | None = typer.Option(None, "--csv", help="Train from this CSV export instead of the project's history."),
    label: str | None = typer.Option(None, help="With --csv: the column holding the outcome (yes/no, 1/0, won/lost...)."),
    exclude: str = typer.Option("", help="With --csv: comma-separated columns to leave out (ids, free text, leaks)."),
    rules_score: str | None = typer.Option(
        None, "--rules-score", help="With --csv: the column holding the score your current rules gave each row; "
        "the model is compared with it on the held-out rows (and does not learn from it)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Choose and fit the conversion model (logistic regression or gradient boosting, by cross-validation);
    reports AUC, Brier score, calibration and top-decile lift against the rules on a time-ordered holdout."""
    def go():
        from leadops.config import get_settings
        from leadops.domain.conversion import train
        from leadops.db.unit_of_work import SqlUnitOfWork
        from leadops.services.model import history_frame, read_training_csv, report, save_model
        from leadops.services.score import rules_at_arrival

        s = get_settings()
        if csv is not None:
            if not label:
                raise UsageError("--csv needs --label COLUMN")
            x, y = read_training_csv(csv, label, [c.strip() for c in exclude.split(",") if c.strip()])
            baseline = None
            if rules_score is not None:
                if rules_score not in x.columns:
                    raise UsageError(f"--rules-score: {csv} has no column {rules_score!r} (or it is the label or excluded)")
                baseline = x.pop(rules_score)
            # rows in file order: an export sorted by date gives a time-ordered holdout
            result = train(x, y, rules_score=baseline)
            out = report(result)
            out["source"] = str(csv)
        else:
            if rules_score is not None:
                raise UsageError("--rules-score goes with --csv (on the history the rules score is computed)")
            s, rules = _prepared()
            with _session(s) as session:
                uow = SqlUnitOfWork.around(session)
                x, y, arrived = history_frame(uow)
                baseline = rules_at_arrival(uow, [int(i) for i in x.index], rules.scoring)
            result = train(x, y, order=arrived, rules_score=baseline)
            latest = arrived.sort_values().index[-result.n_test:] if result.n_test else arrived.index[:0]
            out = report(result, x.loc[latest].head(5))
            out["source"] = "history (reached SQL or beyond, leads older than 14 days)"
            out["model_path"] = str(save_model(result, s.var_dir / "models", {"source": out["source"]}))
        _emit(out, as_json, "\n".join(_train_lines(out)))
    _guard(go)


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _train_lines(out: dict[str, Any]) -> list[str]:
    """Return the text report of ``score train``: the choice, held-out figures against the rules, factors."""
    cv = ", ".join(f"{k} {v:.3f}" for k, v in out["cv_auc"].items())
    lines = [f"model: {out['model']} (best cross-validated AUC on the training part: {cv})" if cv
             else f"model: {out['model']} (too few examples of a class to cross-validate)",
             (f"held-out {out['n_test']} rows (trained on {out['n_train']}; positives {out['positives_train']} / "
              f"{out['positives_test']}): AUC {_num(out['auc'])}  Brier {_num(out['brier'], '.4f')}  "
              f"top-decile lift {_num(out['lift_top_decile'], '.2f')}")]
    rules = out.get("rules") or {}
    if rules:
        lines.append(f"  rules-only score on the same rows: AUC {_num(rules.get('auc'))}  "
                     f"top-decile lift {_num(rules.get('lift_top_decile'), '.2f')}")
    else:
        lines.append("  rules-only score: not compared (give --rules-score COLUMN with --csv)")
    lines.append("  held-out AUC per candidate: " + ", ".join(f"{k} {_num(v)}" for k, v in out["holdout_auc"].items()))
    if out.get("note"):
        lines.append(f"  note: {out['note']}")
    lines += [f"  {f['weight']:+.3f}  {f['feature']}" for f in out["top_features"][:10]]
    lines += [f"  band {c['band']:<9} leads {c['leads']:>5}  predicted {c['predicted']:.2f}  observed {c['observed']:.2f}"
              for c in out["calibration"]]
    if out.get("model_path"):
        lines.append(f"  saved to {out['model_path']}")
    return lines


@score_app.command("evaluate")
def score_evaluate(
    since: str | None = typer.Option(None, help="Only leads arrived since this date (YYYY-MM-DD, company time) or "
                                                "instant; default: from the first lead."),
    until: str | None = typer.Option(None, help="Only leads arrived up to this date (included) or before this instant; "
                                                "default: up to the age limit."),
    min_age_days: int | None = typer.Option(None, "--min-age-days", help="Only leads that arrived at least this many "
                                            "days ago (default 14, the age `leadops score train` uses)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Outcome feedback: conversion (reached SQL or beyond) of the leads old enough to have converted, by score band
    and grade at hand-off to sales, by routing rule and SDR of their first assignment, with 95% intervals. Reads only."""
    def go():
        from leadops.config import get_settings
        from leadops.db.unit_of_work import SqlUnitOfWork
        from leadops.reporting.html import OUTCOME_TABLES, outcome_rows
        from leadops.services.model import MIN_AGE_DAYS
        from leadops.services.outcomes import evaluate_outcomes, parse_bound
        from leadops.services.report import sdr_labels

        tz = get_settings().company_time_zone
        try:
            start = parse_bound("--since", since, tz) if since is not None else None
            end = parse_bound("--until", until, tz, end=True) if until is not None else None
        except ValueError as exc:
            _bad_argument(str(exc))
        age = MIN_AGE_DAYS if min_age_days is None else min_age_days
        if age < 0:
            _bad_argument(f"--min-age-days {age}: expected 0 or more days")
        if start is not None and end is not None and start >= end:
            _bad_argument(f"--since {since} is not before --until {until}")
        s, _ = _prepared()
        with SqlUnitOfWork(s.database_url) as uow:
            result = evaluate_outcomes(uow, since=start, until=end, min_age_days=age, labels=sdr_labels(uow))
            uow.rollback()  # reads only
        out = result.as_dict()
        zone = ZoneInfo(tz)

        def local(at: datetime | None, default: str) -> str:
            return at.astimezone(zone).isoformat(timespec="minutes") if at is not None else default

        period = (f"arrived from {local(result.since, 'the first lead')} to {local(result.until, 'now')} and at least "
                  f"{age} days before {local(result.evaluated_at, '')}")
        if not result.leads:
            _emit(out, as_json, f"No lead is old enough in the period: none {period}.")
            return
        overall = outcome_rows([out["overall"]])[0]
        lines = [f"{overall[1]} leads {period}: {overall[2]} converted, {overall[3]} (95% interval {overall[4]})"]
        lines += [f"  {n}" for n in out["notes"]]
        for key, _title, first in OUTCOME_TABLES:
            rows = outcome_rows(out[key])
            width = min(40, max(len(first), *(len(r[0]) for r in rows)))
            lines += ["", f"  {first:<{width}}  {'leads':>7}  {'converted':>9}  {'rate':>6}  95% interval"]
            lines += [f"  {g[:width]:<{width}}  {n:>7}  {c:>9}  {rate:>6}  {ci}" for g, n, c, rate, ci in rows]
        _emit(out, as_json, "\n".join(lines))
    _guard(go)


# --------------------------------------------------------------------------- routing


def _bad_argument(message: str) -> NoReturn:
    """Print ``message`` as one line and exit 2: an argument that no rerun can fix, found before anything runs."""
    typer.echo(f"leadops: error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def route(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show who would get which lead, and why; write nothing."),
    as_json: bool = JSON_OPT,
) -> None:
    """Route unowned MQLs now (no Prefect run): assigned, unroutable and per-SDR counts."""
    def go():
        from dataclasses import asdict

        from leadops.db.unit_of_work import SqlUnitOfWork, sql_units
        from leadops.notify.outbox import deliver
        from leadops.notify.senders import sender_for
        from leadops.services.route import route_pending

        s, rules = _prepared()
        if dry_run:
            from leadops.db.preview import outbox_size, preview_scope

            # the real pass in a transaction that is rolled back: same decisions, nothing stored or sent
            with preview_scope(s.database_url) as session:
                before = outbox_size(session)
                roster = _roster_first(session, s, rules)
                out = asdict(route_pending(SqlUnitOfWork.around(session), rules, s.company_time_zone))
                out["messages"] = outbox_size(session) - before
            out = {"dry_run": True, **out, "roster": roster}
            _emit(out, as_json, _route_preview_text(out))
            return
        with _session(s) as session:
            roster = _roster_first(session, s, rules)
            out = asdict(route_pending(SqlUnitOfWork.around(session), rules, s.company_time_zone))
        out["roster"] = roster
        # the assignments are committed: now announce them
        sent = asdict(deliver(sql_units(s.database_url), sender_for(s), lease=_lease(s)))
        out["notifications"] = sent
        per = ", ".join(f"{k}: {v}" for k, v in sorted(out["per_sdr"].items())) or "none"
        _emit(out, as_json, f"{out['assigned']} assigned, {out['held']} held for their owner, {out['unroutable']} "
                            f"unroutable of {out['considered']} MQLs; "
                            f"per SDR: {per}")
    _guard(go)


def _roster_first(session, s, rules) -> dict[str, Any]:
    """Sync sdrs.yaml into the database in ``session`` before routing, as every flow run does (a preview then
    sees the roster its run will see); returns the counts and one line per change."""

    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.roster import by_routing_rules, sync

    uow = SqlUnitOfWork.around(session)
    out = sync(uow, rules, reassign=by_routing_rules(uow, rules, s.company_time_zone, datetime.now(UTC)))
    return {**out.counts(), "changes": out.lines()}


def _route_preview_text(o: dict[str, Any]) -> str:
    lines = [(f"dry run, nothing written: {o['assigned']} would be assigned, {o['held']} held for their owner, "
             f"{o['unroutable']} unroutable of {o['considered']} MQLs; {o['messages']} messages would be queued")]
    lines += [f"  roster: {c}" for c in o["roster"]["changes"]]
    lines += [f"  lead {a['lead_id']:<8} -> {a['sdr']:<12} rule {a['rule'] or '-'}" for a in o["assignments"]]
    lines += [f"  lead {a['lead_id']:<8} {a['status']}: {a['reason']}" for a in o["not_assigned"]]
    shown = len(o["assignments"]) + len(o["not_assigned"])
    if shown < o["assigned"] + o["held"] + o["unroutable"]:
        lines.append(f"  (the first {shown} leads shown; --json for the same list)")
    return "\n".join(lines)


def _lead_argument(text: str):
    """Return LEAD (an id or an email) as a LeadRef, or exit 2 when it can name no lead."""
    from leadops.services.lookup import parse_lead_ref

    try:
        return parse_lead_ref(text)
    except ValueError as exc:
        _bad_argument(f"LEAD: {exc}")


def _find_lead(uow: UnitOfWork, s: Settings, ref: LeadRef) -> int:
    """Return the id of the lead ``ref`` names, or exit 2 saying no lead has that id or email here."""
    from leadops.services.lookup import find_lead_id

    lead_id = find_lead_id(uow, ref)
    if lead_id is None:
        _bad_argument(f"no lead has {ref.describe()} (database {_safe_url(s.database_url)})")
    return lead_id


@app.command("explain")
def explain_cmd(lead: str = typer.Argument(..., metavar="LEAD", help="The lead's id or email."),
                as_json: bool = JSON_OPT) -> None:
    """Explain a lead: each routing decision with its candidates, then its whole timeline (source, merges,
    quarantine, enrichment, scores, stages, SLA, notifications, activities)."""
    ref = _lead_argument(lead)

    def go():
        from leadops.db.unit_of_work import SqlUnitOfWork
        from leadops.services.route import explain
        from leadops.services.timeline import timeline

        s, _ = _prepared()
        with SqlUnitOfWork(s.database_url) as uow:
            lead_id = _find_lead(uow, s, ref)
            out = explain(uow, lead_id)
            out["timeline"] = timeline(uow, lead_id)
        lines = [(f"lead {out['lead_id']}: stage {out['stage']}, owner {out['owner'] or '-'}, grade {out['grade']}, "
                 f"score {out['score']}, country {out['country']}, segment {out['segment']}")]
        for d in out["decisions"]:
            lines.append(f"  {d['at']}  {d['kind']} {d['status']}: {d['sdr'] or '-'}  rule {d['rule'] or '-'}"
                         f"{'' if d['active'] else '  (ended ' + str(d['ended_at']) + ')' if d['ended_at'] else ''}")
            lines.append(f"      why: {d['reason']}")
            for c in d["candidates"]:
                lines.append(f"      - {c.get('sdr', '?')}: {c.get('skipped') or 'eligible, load ' + str(c.get('load'))}"
                             f"{'  [' + c['rule'] + ']' if c.get('rule') else ''}")
        if not out["decisions"]:
            lines.append("  not routed yet (routing takes MQLs without an owner)")
        lines.append("timeline:")
        lines += [f"  {e['at'] or '':<32} {e['kind']:<12} {e['what']}" for e in out["timeline"]]
        _emit(out, as_json, "\n".join(lines))
    _guard(go)


@app.command("reassign")
def reassign_cmd(
    lead_ref: str = typer.Argument(..., metavar="LEAD", help="The lead's id or email."),
    to: str | None = typer.Option(None, help="SDR code; default: the routing rules, without the current owner."),
    as_json: bool = JSON_OPT,
) -> None:
    """Reassign a lead by hand; the previous assignment stays in the history."""
    ref = _lead_argument(lead_ref)

    def go():
        from leadops.db.unit_of_work import SqlUnitOfWork
        from leadops.services.lookup import sdr_codes
        from leadops.services.route import reassign

        s, rules = _prepared()
        with SqlUnitOfWork(s.database_url) as uow:
            lead_id = _find_lead(uow, s, ref)
            codes = sdr_codes(uow)
            if to is not None and to not in codes:
                _bad_argument(f"--to {to!r}: no SDR with that code on the roster (SDRs: {', '.join(codes) or 'none'})")
            d = reassign(uow, lead_id, rules, s.company_time_zone, datetime.now().astimezone(), to=to)
            if d.status != "assigned":
                raise ValueError(f"lead {lead_id} not reassigned: {d.reason}")
        _emit({"lead_id": lead_id, "sdr": d.sdr, "rule": d.rule, "reason": d.reason}, as_json,
              f"lead {lead_id} -> {d.sdr} ({d.reason})")
    _guard(go)


routing_app = typer.Typer(no_args_is_help=True, help="Routing tools.")
app.add_typer(routing_app, name="routing")


@routing_app.command("backtest")
def routing_backtest(
    since: str = typer.Option(..., help="Replay leads arrived since this date (YYYY-MM-DD, company time) or instant."),
    rules_file: Path | None = typer.Option(None, "--rules", "--config", metavar="FILE",
                                           help="The candidate routing.yaml (default: the one in force)."),
    against: Path | None = typer.Option(None, "--against", metavar="FILE",
                                        help="A second candidate routing.yaml, shown beside the first per pool and "
                                             "per rule."),
    min_expected: float | None = typer.Option(None, "--min-expected", metavar="LEADS",
                                              help="Members expected fewer leads are listed, not counted in a "
                                                   "pool's fairness (default 5)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Replay past leads through a candidate routing.yaml (or two, side by side): fairness per pool among the
    members eligible for each lead, per rule, per SDR, beside what happened. Writes nothing."""
    try:
        datetime.fromisoformat(since)
    except ValueError:
        _bad_argument(f"--since {since!r} is not a date (YYYY-MM-DD) or an ISO 8601 instant")
    if min_expected is not None and not min_expected > 0:
        _bad_argument(f"--min-expected {min_expected:g}: expected leads must be above 0, e.g. 5")
    for option, path in (("--rules", rules_file), ("--against", against)):
        if path is not None and not path.is_file():
            _bad_argument(f"{option} {path}: no such file")

    def go():
        from dataclasses import asdict

        from leadops.config import ConfigError, RoutingRules, load_rule_file, routing_problems
        from leadops.db.unit_of_work import SqlUnitOfWork
        from leadops.domain.fairness import MIN_EXPECTED
        from leadops.services.backtest import backtest, day_start

        s, rules = _prepared()

        def candidate(path: Path | None) -> Any:
            if path is None:
                return rules.routing
            routing = load_rule_file(path, RoutingRules)
            assert isinstance(routing, RoutingRules)  # the model asked for
            problems = routing_problems(routing, rules.roster, path, s.config_dir / "sdrs.yaml")
            if problems:
                raise ConfigError("\n".join(problems))
            return routing

        first, second = candidate(rules_file), candidate(against) if against is not None else None
        with _session(s) as session:
            uow = SqlUnitOfWork.around(session)
            report = backtest(uow, first, day_start(since, s.company_time_zone), s.company_time_zone,
                              against=second, in_force=rules.routing,
                              min_expected=MIN_EXPECTED if min_expected is None else min_expected)
            session.rollback()  # a backtest never writes
        out = asdict(report)
        out["rules_file"] = str(rules_file) if rules_file else str(s.config_dir / "routing.yaml")
        if out["against"] is not None:
            out["against"]["rules_file"] = str(against)
        labels = _backtest_labels(rules_file, against)
        _emit(out, as_json, "\n".join(_backtest_lines(out, labels)))
    _guard(go)


def _backtest_labels(rules_file: Path | None, against: Path | None) -> list[str]:
    """Return the column titles of the candidates: file names (whole paths when two names are the same)."""
    paths = [rules_file, against] if against is not None else [rules_file]
    names = ["routing.yaml (in force)" if p is None else p.name for p in paths]
    if len(set(names)) < len(names):
        names = ["routing.yaml (in force)" if p is None else str(p) for p in paths]
    return names


def _fair(figures: dict[str, Any] | None) -> str:
    """Return a fairness figure as printed: 1.23, inf (a counted member got none) or - (nothing to compare)."""
    if not figures:
        return ""
    return "inf" if figures.get("unbounded") else "-" if figures.get("fairness") is None else f"{figures['fairness']:.2f}"


def _backtest_lines(out: dict[str, Any], labels: list[str]) -> list[str]:
    """Return the text of a backtest: totals, fairness per pool and per member, per rule, per SDR, moves; each
    candidate's columns beside the others and what happened."""
    sides = [out] + ([out["against"]] if out.get("against") else [])
    titles = [*labels, "as it happened"]
    actual_pools, minimum = out["actual_pools"], out["min_expected"]
    lines = [f"{out['leads']} leads since {out['since']}, replayed through {' and '.join(labels)}"]
    for label, side in zip(labels, sides, strict=True):
        lines.append(f"  {label}: {side['changed']} would go to another SDR, {side['unroutable']} unroutable, "
                     f"{side['held']} held")
    lines.append(f"  as it happened: {sum(out['actual'].values())} assigned, {out['not_assigned']} never assigned"
                 + (f"; {out['attributed_by_candidate']} first assignments whose stored rule is not in the rules in "
                    f"force are counted under {labels[0]}'s rule" if out["attributed_by_candidate"] else ""))
    lines += ["", ("Fairness per pool: max/min over its members of leads got / expected; a lead's expected share is "
                  "the member's weight"),
              ("over the weights of the members eligible for it then (1.00 = even; members expected under "
              f"{minimum:g} leads not counted;"),
              "inf: a counted member got none; -: fewer than two to compare)",
              f"  {'pool':<18}" + "".join(f"| {t[:24]:<24}" for t in titles),
              f"  {'':<18}" + "".join(f"| {'leads':>7} {'fairness':>9}       " for _ in titles)]
    pools = list(dict.fromkeys([*(p for side in sides for p in side["pools"]), *actual_pools]))
    columns = [[side["pools"].get(p) for side in sides] + [actual_pools.get(p)] for p in pools]
    for pool, figures in zip(pools, columns, strict=True):
        lines.append(f"  {pool:<18}" + "".join(
            f"| {f['leads']:>7} {_fair(f):>9}       " if f else f"| {'(not a pool here)':<24}" for f in figures))
    for pool, figures in zip(pools, columns, strict=True):
        lines += [f"  {pool}, {title}: {f['outside']} more leads went to someone not eligible then (counted for nobody)"
                  for title, f in zip(titles, figures, strict=True) if f and f["outside"]]
    lines += ["", ("Per member: got/expected, ratio (* not counted), available = part of the pool's leads they "
                  "could take")]
    for pool, figures in zip(pools, columns, strict=True):
        if not any(f and f["leads"] for f in figures):
            continue
        lines.append(f"  {pool}")
        members = list(dict.fromkeys(m["sdr"] for f in figures if f for m in f["per_member"]))
        for code in members:
            cells = []
            for f in figures:
                row = next((m for m in f["per_member"] if m["sdr"] == code), None) if f else None
                ratio = "-" if row is None or row["ratio"] is None else f"{row['ratio']:.2f}"
                cells.append(f"| {'':<24}" if row is None else
                             f"| {str(row['got']) + '/' + format(row['expected'], '.1f'):>9} "
                             f"{ratio + ('' if row['counted'] else '*'):>6} {row['available']:>6.0%} ")
            lines.append(f"    {code:<16}" + "".join(cells))
    lines += ["", ("Per rule (leads = assigned + held + unroutable; passed on: matched, nobody free, a later rule "
                  "placed it)"),
              f"  {'rule':<18}" + "".join(f"| {t[:54]:<54}" for t in labels) + f"| {titles[-1]}",
              f"  {'':<18}" + "".join(f"| {'to':<20} {'leads':>5} {'asg':>5} {'held':>4} {'unr':>4} {'pass':>4} "
                                      f"{'fair':>5} " for _ in labels) + f"| {'assigned':>8} {'fair':>5}"]
    names = list(dict.fromkeys([*(r["rule"] for side in sides for r in side["rules"]),
                                *(r["rule"] for r in out["actual_rules"])]))
    for name in names:
        cells = []
        for side in sides:
            r = next((x for x in side["rules"] if x["rule"] == name), None)
            cells.append(f"| {'':<54}" if r is None else
                         f"| {r['to'][:20]:<20} {r['leads']:>5} {r['assigned']:>5} {r['held']:>4} {r['unroutable']:>4} "
                         f"{r['passed_on']:>4} {_fair(r) if r['to'].startswith('pool') else '':>5} ")
        a = next((x for x in out["actual_rules"] if x["rule"] == name), None)
        cells.append("|" if a is None else f"| {a['assigned']:>8} {_fair(a) if a['to'].startswith('pool') else '':>5}")
        lines.append(f"  {name[:18]:<18}" + "".join(cells))
    lines += ["", "Per SDR (leads assigned)", f"  {'sdr':<14}" + "".join(f"{t[:16]:>17}" for t in titles)]
    for code in sorted({c for side in sides for c in side["simulated"]} | set(out["actual"])):
        lines.append(f"  {code:<14}" + "".join(f"{side['simulated'].get(code, 0):>17}" for side in sides)
                     + f"{out['actual'].get(code, 0):>17}")
    for label, side in zip(labels, sides, strict=True):
        lines += [f"  {label}: move {m['from']} -> {m['to']}: {m['leads']}" for m in side["moves"][:5]]
    return [line.rstrip() for line in lines]


# --------------------------------------------------------------------------- quarantine

quarantine_app = typer.Typer(no_args_is_help=True, help="Rows intake held back, and re-admitting them.")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(
    source: str | None = typer.Option(None, help="Only rows from this source."),
    status: str = typer.Option("open", help="open | released"),
    limit: int = typer.Option(100),
    as_json: bool = JSON_OPT,
) -> None:
    """List quarantined rows with their file, row number and reasons (the raw row with --json)."""
    def go():
        from leadops.config import get_settings
        from leadops.db.unit_of_work import SqlUnitOfWork
        from leadops.services.quarantine import list_rows

        s = get_settings()
        with SqlUnitOfWork(s.database_url) as uow:
            rows = [{"id": q.id, "source": q.source, "file": q.origin, "row": q.source_row, "reasons": q.reasons,
                     "created_at": q.created_at.isoformat(), "raw": q.raw} for q in list_rows(
                         uow, status=status, source=source, limit=limit)]
        human = "\n".join(f"{r['id']:>6}  {Path(r['file']).name}:{r['row']}  {'; '.join(r['reasons'])}" for r in rows)
        _emit({"rows": rows, "count": len(rows)}, as_json, human or "no quarantined rows")
    _guard(go)


@quarantine_app.command("release")
def quarantine_release(
    ids: list[int] = typer.Argument(..., help="Quarantine row ids (see `leadops quarantine list`)."),
    set_: list[str] = typer.Option([], "--set", help="Correct a field before re-admitting: FIELD=VALUE (repeatable)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Re-admit rows through validation (after corrections); rows that still fail stay, with their reasons."""
    def go():
        from dataclasses import asdict

        from leadops.config import get_settings, load_rules
        from leadops.db.unit_of_work import SqlUnitOfWork
        from leadops.services.quarantine import parse_overrides, release

        s = get_settings()
        overrides = parse_overrides(set_)
        with SqlUnitOfWork(s.database_url) as uow:
            outcomes = release(uow, ids, load_rules(s.config_dir), s, overrides)
        data = {"outcomes": [asdict(o) for o in outcomes],
                "released": sum(o.status == "released" for o in outcomes),
                "held": sum(o.status != "released" for o in outcomes)}
        _emit(data, as_json, "\n".join(f"{o.id}: {o.status}" + (f" ({o.result})" if o.result else "")
                                        + (f": {'; '.join(o.reasons)}" if o.reasons else "") for o in outcomes))
        if data["held"]:
            raise typer.Exit(1)
    _guard(go)


# --------------------------------------------------------------------------- run


@run_app.command("pipeline")
def run_pipeline(as_json: bool = JSON_OPT) -> None:
    """Ingest the inbox, validate, enrich, score and route now."""
    def go():
        _preflight()
        from leadops.flows.lead_pipeline import IntakeRejected, lead_pipeline

        try:
            _emit(lead_pipeline().as_dict(), as_json)
        except IntakeRejected as exc:
            if not as_json or exc.summary is None:
                raise
            # --json prints one object whatever happened: the run's summary, with the rejections in it
            _emit({**exc.summary.as_dict(), "error": str(exc)}, True)
            typer.echo(f"leadops: error: {_message(exc)}", err=True)
            raise typer.Exit(1) from None  # the line above said it; no traceback for a user
    _guard(go)


@run_app.command("crm-sync")
def run_crm_sync(
    connector: list[str] = typer.Option(None, "--connector", "-c", help="Only this connector (repeatable); "
                                                                         "default: every crm: entry of sources.yaml."),
    no_write_back: bool = typer.Option(False, "--no-write-back", help="Read only; write nothing to the CRM."),
    as_json: bool = JSON_OPT,
) -> None:
    """Read the CRM connectors, enrich, score and route the new leads, and write the decisions back now."""
    def go():
        _preflight()
        from leadops.flows.crm_sync import crm_sync

        _emit(crm_sync(connectors=connector or None, write_back=not no_write_back).as_dict(), as_json)
    _guard(go)


crm_app = typer.Typer(no_args_is_help=True, help="CRM connectors (sources.yaml crm:): check access and properties.")
app.add_typer(crm_app, name="crm")


@crm_app.command("check")
def crm_check(connector: list[str] = typer.Option(None, "--connector", "-c", help="Only this connector (repeatable)."),
              as_json: bool = JSON_OPT) -> None:
    """Check each connector's credentials and owners (one read request each); write nothing."""
    def go():
        _preflight()
        from leadops.crm.check import check_connectors

        results = check_connectors(connector or None)
        _emit({"connectors": results}, as_json, "\n".join(
            f"{r['connector']} ({r['kind']}): {'ok' if r['ok'] else 'FAILED'}: {r['detail']}" for r in results))
        if not all(r["ok"] for r in results):
            raise typer.Exit(1)
    _guard(go)


@crm_app.command("resend-failed")
def crm_resend_failed(connector: list[str] = typer.Option(None, "--connector", "-c", help="Only this connector "
                                                                                          "(repeatable)."),
                      as_json: bool = JSON_OPT) -> None:
    """Queue again the write-backs the CRM refused for good, once the cause is fixed (a property created, a
    permission granted); the next crm-sync sends them."""
    def go():
        _preflight()
        from leadops.crm.check import resend_failed

        counts = resend_failed(connector or None)
        _emit({"requeued": counts}, as_json, "\n".join(f"{name}: {n} update(s) queued again" for name, n in counts.items())
              or "no CRM connector (sources.yaml crm:)")
    _guard(go)


slack_app = typer.Typer(help="Slack notifications (notify.yaml): check the set-up.", no_args_is_help=True)
app.add_typer(slack_app, name="slack")


@slack_app.command("check")
def slack_check(as_json: bool = JSON_OPT) -> None:
    """Check Slack's credentials (auth.test, or the webhook) and which people of sdrs.yaml Slack knows; post
    nothing. People Slack does not know get emails instead."""
    def go():
        from sqlalchemy.orm import Session

        from leadops.db.repositories.notices import SlackUserCache
        from leadops.db.session import get_engine
        from leadops.notify.slack import check

        s, rules = _prepared()
        engine = get_engine(s.database_url)
        out = check(rules, s, SlackUserCache(lambda: Session(engine)))
        lines = [f"Slack ({out['mode']}): {'ok' if out['ok'] else 'FAILED'}: {out['detail']}"]
        lines += [f"  {p['code']} ({p['role']}): {'found' if p['found'] else 'NOT in Slack: gets emails'}"
                  + (f", alerts in {p['channel']}" if p["channel"] else "") for p in out["people"]]
        _emit(out, as_json, "\n".join(lines))
        if not out["ok"]:
            raise typer.Exit(1)
    _guard(go)


@run_app.command("sla")
def run_sla(
    now: str | None = typer.Option(None, help="Evaluate as of this instant (ISO 8601 with offset); "
                                                 "a future one needs --dry-run or --force."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what the sweep would do, lead by lead; write and "
                                                          "send nothing (no Prefect run)."),
    force: bool = typer.Option(False, "--force", help="Run with a --now in the future: its reminders, breaches and "
                                                      "reassignments are stored and sent, dated then."),
    as_json: bool = JSON_OPT,
) -> None:
    """Sweep open SLA clocks: reminders, breaches, reassignments."""

    at = None
    if now is not None:
        try:
            at = datetime.fromisoformat(now)
        except ValueError:
            _bad_argument(f"--now {now!r} is not an ISO 8601 instant, e.g. 2026-11-20T18:00:00+01:00")
        if at.tzinfo is None:
            _bad_argument(f"--now {now!r} needs a UTC offset, e.g. 2026-11-20T18:00:00+01:00")
        # a real sweep as of a future instant stores steps dated then and sends their messages now
        if at > datetime.now(UTC) and not (dry_run or force):
            _bad_argument(f"--now {now!r} is in the future: a sweep would send its messages now and store "
                          f"history dated then; preview it with --dry-run, or add --force")

    def go():
        if dry_run:
            from dataclasses import asdict

            from leadops.db.preview import outbox_size, preview_scope
            from leadops.db.unit_of_work import SqlUnitOfWork
            from leadops.services.sla import enforce

            s, rules = _prepared()
            when = at or datetime.now(UTC)
            # the real sweep in a transaction that is rolled back: no Prefect run, no event, no message
            with preview_scope(s.database_url) as session:
                before = outbox_size(session)
                roster = _roster_first(session, s, rules)  # the flow syncs the roster before it sweeps
                out = asdict(enforce(SqlUnitOfWork.around(session), rules, s.company_time_zone, now=when))
                out["messages"] = outbox_size(session) - before
            out = {"dry_run": True, "now": when.isoformat(), **out, "roster": roster}
            _emit(out, as_json, _sla_preview_text(out))
            return
        _preflight()
        from leadops.flows.enforce_sla import enforce_sla

        _emit(enforce_sla(now=at).as_dict(), as_json)
    _guard(go)


def _sla_preview_text(o: dict[str, Any]) -> str:
    lines = [(f"dry run as of {o['now']}, nothing written: {o['open']} clocks open, {o['met']} met, {o['reminded']} "
             f"reminders, {o['breached']} breaches, {o['reassigned']} reassigned, {o['closed']} cadences closed; "
             f"{o['messages']} messages would be queued")]
    lines += [f"  roster: {c}" for c in o["roster"]["changes"]]
    for a in o["actions"]:
        what = (f"{a['sdr']} -> {a['to']} (rule {a['rule'] or '-'})" if a["to"] else f"owner {a['sdr']}")
        notify = f"; notify {', '.join(a['notified'])}" if a["notified"] else ""
        lines.append(f"  lead {a['lead_id']:<8} {a['clock']:<11} {a['step']:<9} {what}: {a['detail']}{notify}")
    from leadops.services.sla import ACTIONS_SHOWN

    if len(o["actions"]) >= ACTIONS_SHOWN:
        lines.append(f"  (the first {len(o['actions'])} steps shown; the counts cover all)")
    return "\n".join(lines)


@run_app.command("report")
def run_report(
    week: str | None = typer.Option(None, help="ISO week such as 2026-W47; default: last complete week."),
    as_json: bool = JSON_OPT,
) -> None:
    """Build the weekly report (artifacts, HTML, CSV) for one ISO week."""
    def go():
        canonical = _check_week("--week", week) if week is not None else None
        _preflight()
        from leadops.flows.weekly_report import weekly_report

        _emit(weekly_report(week=canonical).as_dict(), as_json)
    _guard(go)


def _check_week(option: str, value: str) -> str:
    """Return ``value`` as a canonical ISO week, or raise UsageError naming the option (before any run starts)."""
    from leadops.domain.metrics import parse_iso_week

    try:
        return parse_iso_week(value, option)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@app.command()
def serve(
    prefect_yaml: Path | None = typer.Option(None, "--prefect-yaml",
                                                help="Another prefect.yaml (e.g. with other schedules); default: the project's."),
    intake_port: int | None = typer.Option(None, "--intake-port", min=1, max=65535,
                                           help="Also run the real-time intake service on 127.0.0.1:PORT."),
    validation_server: bool = typer.Option(True, "--validation-server/--no-validation-server",
                                           help="One warm validation process for every run (default), or one per "
                                                "run that reads a file (~3.5 s more per run, memory freed between runs)."),
) -> None:
    """Serve every deployment of prefect.yaml with its schedule from this process (one machine, no worker); with
    --intake-port, the real-time intake service beside them. One validation process, started here and kept warm,
    checks the files of every run (each run is a new process: it would otherwise start its own, ~3.5 s)."""
    def go():
        from leadops.deployments.serve import ROOT, main

        if prefect_yaml is not None and not prefect_yaml.is_file():
            raise UsageError(f"--prefect-yaml {prefect_yaml}: no such file")
        s = _preflight()
        spec = prefect_yaml or (s.home / "prefect.yaml" if s.home and (s.home / "prefect.yaml").is_file()
                                else ROOT / "prefect.yaml")
        if validation_server and s.validation_process:  # LEADOPS_VALIDATION_PROCESS=false: GX in each run's process
            from leadops.intake import validation_server as server

            server.start()
        if intake_port is not None:
            _intake_thread(intake_port)
        main(spec)
    _guard(go)


def _intake_thread(port: int) -> None:
    """Start the intake service on 127.0.0.1:``port`` on a thread of this process (`leadops serve --intake-port`);
    raises UsageError when it cannot serve (no webhook, a missing secret)."""
    import threading

    import uvicorn

    from leadops.config import load_rules_cached
    from leadops.realtime.app import ServiceError, create_app

    s, rules = _prepared()
    try:
        app = create_app(s, rules, reload=lambda: load_rules_cached(s.config_dir), summary_every=300)
    except ServiceError as exc:
        raise UsageError(str(exc)) from None
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    threading.Thread(target=server.run, name="intake-service", daemon=True).start()
    typer.echo(f"leadops intake: listening on http://127.0.0.1:{port}/v1/leads beside the served flows", err=True)


intake_app = typer.Typer(no_args_is_help=True, help="The real-time intake service (sources.yaml webhooks:).")
app.add_typer(intake_app, name="intake")


@intake_app.command("serve")
def intake_serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (put a TLS reverse proxy in front)."),
    port: int = typer.Option(8700, min=1, max=65535, help="Port to listen on."),
    summary_every: float = typer.Option(300, min=10, help="Seconds between two intake-service-summary flow runs "
                                                          "(with PREFECT_API_URL set; else a log line)."),
) -> None:
    """Serve POST /v1/leads/{webhook}: each authenticated lead is stored, answered 202 (422 when invalid), then
    enriched, scored, routed and its SDR notified within seconds, without waiting for a pipeline run."""
    def go():
        import logging

        import uvicorn

        from leadops.config import load_rules_cached
        from leadops.intake import validation_process
        from leadops.realtime.app import ServiceError, create_app

        s, rules = _prepared()
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            app = create_app(s, rules, reload=lambda: load_rules_cached(s.config_dir), summary_every=summary_every)
        except ServiceError as exc:
            raise UsageError(str(exc)) from None
        validation_process.warm_up(in_process=not s.validation_process)  # GX imported before the first lead
        typer.echo(f"leadops intake: listening on http://{host}:{port}/v1/leads/"
                   f"{{{'|'.join(w.name for w in rules.sources.webhooks)}}}", err=True)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    _guard(go)


# --------------------------------------------------------------------------- automations

automations_app = typer.Typer(no_args_is_help=True, help="Prefect automations shipped with leadops.")
app.add_typer(automations_app, name="automations")


@automations_app.command("install")
def automations_install(as_json: bool = JSON_OPT) -> None:
    """Create or update (by name) the automations of deployments/automations/ on the server of PREFECT_API_URL."""
    def go():
        from leadops.deployments.automations import install

        done = install()
        _emit({"automations": done}, as_json, "\n".join(f"{a['action']} automation {a['name']} ({a['id']})" for a in done))
    _guard(go)


# --------------------------------------------------------------------------- rerun

rerun_app = typer.Typer(no_args_is_help=True, help="Rerun a flow for a period or a set of leads (through Prefect), idempotently.")
app.add_typer(rerun_app, name="rerun")


@rerun_app.command("reports")
def rerun_reports(from_week: str = typer.Option(..., "--from"), to_week: str = typer.Option(..., "--to"),
                  as_json: bool = JSON_OPT) -> None:
    """Rebuild the weekly reports from one ISO week to another (a backfill)."""
    def go():
        first, last = _check_week("--from", from_week), _check_week("--to", to_week)
        if last < first:
            raise UsageError(f"--from {first} is after --to {last}")
        _preflight()
        from leadops.flows.maintenance import report_backfill

        _emit(report_backfill(from_week=first, to_week=last).as_dict(), as_json)
    _guard(go)


@rerun_app.command("score")
def rerun_score(lead: list[int] = typer.Option([], help="Lead id (repeatable)."),
                stage: list[str] = typer.Option([]), source: list[str] = typer.Option([]),
                since: str | None = typer.Option(None, help="Leads arrived since (ISO date)."),
                as_json: bool = JSON_OPT) -> None:
    """Rescore open leads (all, or by id, stage, source, arrival) and route the new MQLs."""
    def go():
        if since is not None:
            try:
                date.fromisoformat(since[:10])
            except ValueError:
                raise UsageError(f"--since {since!r}: expected a date such as 2026-11-20") from None
        _preflight()
        from leadops.flows.rescore import rescore

        _emit(rescore(stages=stage or None, sources=source or None, arrived_since=since,
                      lead_ids=lead or None).as_dict(), as_json)
    _guard(go)


@rerun_app.command("quarantine")
def rerun_quarantine(source: str | None = typer.Option(None), as_json: bool = JSON_OPT) -> None:
    """Re-admit open quarantine rows that pass validation now."""
    def go():
        _preflight()
        from leadops.flows.maintenance import quarantine_reprocess

        _emit(quarantine_reprocess(source=source).as_dict(), as_json)
    _guard(go)


# --------------------------------------------------------------------------- demo


@app.command()
def demo(
    seed_value: int = typer.Option(42, "--seed"),
    anchor: str | None = typer.Option(None, help="Last day of the sample (YYYY-MM-DD); default today."),
    as_json: bool = JSON_OPT,
) -> None:
    """Set up the database, seed the sample and run every flow once; prints what each stage did."""
    def go():
        from dataclasses import asdict

        from leadops.flows.enforce_sla import enforce_sla
        from leadops.flows.lead_pipeline import lead_pipeline
        from leadops.flows.weekly_report import last_complete_week, weekly_report

        from leadops.config import get_settings
        from leadops.demo import built_report, sla_instant

        seeded = _seed(seed_value, date.fromisoformat(anchor) if anchor else None, 2000)
        pipe = lead_pipeline()
        s = get_settings()
        with _session(s) as session:
            sla_at = sla_instant(session)
        # swept as of the moment the pipeline routed the sample, so a second demo finds nothing new
        sla = enforce_sla(now=sla_at)
        # nothing new: no seeded row or inbox file, nothing ingested, no score changed, nothing routed or sent, no
        # SLA step. Changed scores, not leads scored: run before 08:00 on the anchor day, the sample's inbox
        # holds engagement dated later that morning, which selects its leads again until then (same score)
        acts = pipe.activities
        idle = (not any(n for k, n in seeded["inserted"].items() if k != "sdrs") and not seeded["inbox_paths"]
                and not any((pipe.inserted, pipe.merged, pipe.quarantined, pipe.score_changed, pipe.routed, pipe.unroutable,
                             pipe.notifications_sent))
                and not any((acts.inserted, acts.merged, acts.quarantined))
                and not any((sla.reminded, sla.breached, sla.reassigned, sla.notifications_sent)))
        week = last_complete_week(s.company_time_zone)
        with _session(s) as session:
            built = built_report(session, week) if idle else None
            # the same data makes the same report: an idle rerun shows the one built before
            rep = (week, str(built.html_path), built.flow_run_id) if built else None  # built_report: html_path set
        if rep is None:
            fresh = weekly_report()
            rep = (fresh.week, fresh.report_path, fresh.flow_run_id)
        report_week, report_path, report_run = rep
        out = {
            "seeded": seeded, "nothing_new": idle and built is not None,
            "sla_evaluated_at": sla_at.isoformat() if sla_at else None,
            "ingested": pipe.inserted + pipe.merged, "inserted": pipe.inserted, "merged": pipe.merged,
            "quarantined": pipe.quarantined + acts.quarantined,
            "quarantine_reasons": pipe.quarantine_reasons, "activities": asdict(acts),
            "enriched": pipe.enriched + pipe.partially_enriched, "scored": pipe.scored,
            "promoted_mql": pipe.promoted_mql, "routed": pipe.routed, "unroutable": pipe.unroutable,
            "notifications_sent": pipe.notifications_sent + sla.notifications_sent,
            "sla_open": sla.open, "sla_reminded": sla.reminded, "sla_breached": sla.breached,
            "sla_reassigned": sla.reassigned, "report_week": report_week,
            "report_path": str(Path(report_path).resolve()),
            "flow_runs": {"lead-pipeline": pipe.flow_run_id, "enforce-sla": sla.flow_run_id,
                          "weekly-report": report_run},
        }
        _emit(out, as_json, _demo_text(out))
    _guard(go)


def _demo_text(o: dict[str, Any]) -> str:
    return "\n".join([
        "",
        "leadops demo: done",
        f"  ingested     {o['ingested']:>6}  ({o['inserted']} new leads, {o['merged']} merged into existing)",
        f"  activities   {o['activities']['inserted']:>6}  (engagement events; {o['activities']['merged']} seen before)",
        f"  quarantined  {o['quarantined']:>6}  " + ", ".join(f"{r}: {n}" for r, n in list(o["quarantine_reasons"].items())[:3]),
        f"  enriched     {o['enriched']:>6}",
        f"  scored       {o['scored']:>6}  ({o['promoted_mql']} new MQLs)",
        f"  routed       {o['routed']:>6}  ({o['unroutable']} unroutable)",
        (f"  sla open     {o['sla_open']:>6}  ({o['sla_reminded']} reminded, {o['sla_breached']} breached, "
        f"{o['sla_reassigned']} reassigned)"),
        f"  notifications{o['notifications_sent']:>6}  (written as .eml files under var/outbox)",
        f"  report       {o['report_week']}: {o['report_path']}",
        "",
        *([("Nothing new was done: this sample was seeded and processed before (every step is keyed, so a rerun "
           "writes no row, file or notification); `make clean` starts over."), ""] if o["nothing_new"] else []),
        "Watch these runs in the Prefect UI: docs/tutorial/demo.md, 'Watch the runs in the Prefect UI'.",
    ])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
