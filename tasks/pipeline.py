"""Tasks of the lead pipeline: ingest files, enrich, score, route, deliver notifications."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from leadops.config import Settings
from leadops.domain import scoring_pass
from leadops.domain.scoring_pass import ScoreSummary
from leadops.notify.outbox import DeliveryReport, deliver
from leadops.notify.senders import sender_for
from leadops.reporting.numbers import count, table_cells
from leadops.intake import files, inbox
from leadops.intake.outcome import failure_line
from leadops.services import enrich, route, score
from leadops.services.enrich import EnrichSummary
from leadops.services.route import RouteSummary
from leadops.tasks.common import current_flow_run_id, log_stage, retry_transient_only, rules, settings, units
from leadops.tasks.parameters import RunSettings
from leadops.tasks.results import ApiSourceOutcome, FileOutcome, ScoringPlan


@task(cache_policy=NO_CACHE)
def discover_inbox(run: RunSettings) -> list[str]:
    """Return the paths of the entries waiting in the inbox, links and special files included (their
    ingest task refuses them with a reason); starts the validation process if there are any."""
    s = settings(run)
    found = [str(p) for p in inbox.discover(s.inbox_dir)]
    if found:  # GX imports there (~3 s) while the ingest tasks start, hash and open their files
        from leadops.intake import validation_process

        validation_process.warm_up(in_process=not s.validation_process)
    return found


def _ingest_run_name() -> str:
    from prefect.runtime import task_run

    return f"ingest-{Path(task_run.parameters['path']).name}"


class IngestFailed(ValueError):
    """Ingesting a file failed in a way a retry cannot fix; the message is one line without the file's values."""


class IngestInterrupted(RuntimeError):
    """Ingesting a file failed in a way a retry may fix (a lost connection, a crashed validation
    process); the message is one line without the file's values."""


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 20], retry_condition_fn=retry_transient_only,
      task_run_name=_ingest_run_name)
def ingest_file(path: str, run: RunSettings) -> FileOutcome:
    """Ingest one file in one transaction; returns its outcome (grain: one file; a rejected file is an
    outcome, not an error).

    The file is claimed first (leadops.intake.inbox.claim): an entry the inbox does not read (a
    link, a FIFO, a device, another user's file) is moved to var/failed and reported rejected with
    the reason; a file another run claimed first is reported ``taken`` and left to that run. Any
    other failure is raised as :class:`IngestFailed` (not retried) or :class:`IngestInterrupted`
    (retried), saying one line without the file's values (PostgreSQL's error context and
    SQLAlchemy's parameters would put them in the log); the flow then sets the file aside.

    A file that takes more than PROGRESS_SECONDS shows an `ingest-progress` artifact (rows stored
    of about the file's line count).
    """
    s = settings(run)
    try:
        with inbox.claim(Path(path)):
            return _ingest_claimed(path, s)
    except inbox.Taken as exc:
        get_run_logger().info("%s: left to that run", exc)
        return FileOutcome(path, "taken", error=str(exc))
    except inbox.Refused as exc:
        out = inbox.set_aside(Path(path), s, str(exc))
        get_run_logger().warning("%s", out.error)
        return out
    except Exception as exc:  # noqa: BLE001 - said in one line, classified for retry_transient_only
        from leadops.tasks.common import _deterministic_errors
        from sqlalchemy.exc import DBAPIError, StatementError

        cause = exc.orig if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError) and exc.orig else exc
        kind = IngestFailed if isinstance(cause, _deterministic_errors()) else IngestInterrupted
        raise kind(f"{path}: {failure_line(exc)}") from None


def _set_aside_run_name() -> str:
    from prefect.runtime import task_run

    return f"set-aside-{Path(task_run.parameters['path']).name}"


@task(cache_policy=NO_CACHE, task_run_name=_set_aside_run_name)
def set_aside_file(path: str, error: str, run: RunSettings) -> FileOutcome:
    """Move a file whose ingest failed (after its retries) to var/failed with ``error`` in its sidecar;
    returns its rejected outcome, so one bad file blocks neither the others nor later runs."""
    s = settings(run)
    try:
        with inbox.claim(Path(path)):
            out = inbox.set_aside(Path(path), s, error)
    except inbox.Taken as exc:  # another run took it meanwhile: its outcome is that run's
        return FileOutcome(path, "taken", error=str(exc))
    except inbox.Refused as exc:
        out = inbox.set_aside(Path(path), s, str(exc))
    get_run_logger().warning("%s (set aside: %s)", out.error, out.moved_to or "not moved")
    return out


def _ingest_claimed(path: str, s: Settings) -> FileOutcome:
    """Ingest the claimed file ``path``, commit, then move it; returns its outcome."""
    name = Path(path).name
    lines: list[int] = []  # counted once, when the artifact is first due: quick files are never read twice

    def about() -> int:
        if not lines:
            lines.append(max(_count_lines(Path(path)) - 1, 1))  # a CSV's header; a quoted line break counts twice
        return lines[0]

    bar = StageProgress("ingest-progress", lambda done, total: f"{name}: {count(done)} of about {count(total)} rows stored")
    with units(s) as uow:
        out = files.ingest_file(uow, Path(path), rules(s), s, flow_run_id=current_flow_run_id(), move=False,
                                 progress=lambda rows: bar(rows, max(about(), rows + 1)) if bar.due(False) else None)
    bar.finish(out.rows_read)
    # Move only after the commit: a crash before it leaves the file in the inbox for the rerun.
    out.moved_to = str(inbox.move_with_sidecar(Path(path), s.var_dir / ("failed" if out.status == "rejected" else "processed"),
                                    out.as_dict()))
    log_stage(f"ingest {Path(path).name} (source {out.source}, {out.kind}, {out.status})", rows_read=out.rows_read,
              inserted=out.inserted, merged=out.merged, quarantined=out.quarantined)
    return out


@task(cache_policy=NO_CACHE)
def api_sources(run: RunSettings) -> list[str]:
    """Return the names of the API sources configured in sources.yaml."""
    return [a.name for a in rules(settings(run)).sources.apis]


@task(cache_policy=NO_CACHE, task_run_name="ingest-api-{name}")
def ingest_api_source(name: str, run: RunSettings) -> ApiSourceOutcome:
    """Read one API source since its watermark; returns its pages' outcomes (grain: one page) and any error.

    No task-level retries: the reader retries each request, and pages are committed as they land.
    """
    from leadops.db.unit_of_work import sql_units
    from leadops.intake.api import ingest_api
    from leadops.sources.api import ApiError, resolve_token

    s = settings(run)
    cfg = next(a for a in rules(s).sources.apis if a.name == name)
    try:  # each page is stored in a unit of work of its own
        out = ingest_api(sql_units(s.database_url), cfg, rules(s), s, token=resolve_token(cfg),
                         flow_run_id=current_flow_run_id())
    except ApiError as exc:
        return ApiSourceOutcome(source=name, error=str(exc))
    log_stage(f"ingest API source {name}" + (" (stopped early: see the run's summary)" if out.error else ""),
              pages=len(out.pages), **out.totals())
    return ApiSourceOutcome(source=name, pages=tuple(out.pages), error=out.error, watermark=out.watermark)


@task(cache_policy=NO_CACHE)
def publish_data_docs(run: RunSettings) -> str | None:
    """Render GX Data Docs of this run's validations under var/data_docs; returns index.html's path."""
    from prefect import get_run_logger

    from leadops.intake import validation_process

    s = settings(run)
    try:
        return validation_process.build_data_docs(s.var_dir / "data_docs", in_process=not s.validation_process)
    except Exception as exc:  # noqa: BLE001 - the docs are a view of results already stored: warn, go on
        get_run_logger().warning("Data Docs not written: %s: %s", type(exc).__name__, exc)
        return None


PROGRESS_SECONDS = 2.0
#: Least seconds between two commits of enrichment's work (see enrich_leads).
COMMIT_SECONDS = 2.0
_clock = time.monotonic  # what the checkpoints measure their spacing with (tests give their own)


class StageProgress:
    """The progress artifact ``key`` of one stage of a run that may take long (scoring, routing, a large file).

    Shown only once the stage has run PROGRESS_SECONDS (a quick stage adds no artifact), then
    updated at most every PROGRESS_SECONDS (each update is an API call) and once at the end.
    ``label(done, total)`` is its description.
    """

    def __init__(self, key: str, label: Callable[[int, int], str]) -> None:
        self.key, self.label = key, label
        self.shown = _clock()
        self.artifact_id: Any = None

    def due(self, final: bool) -> bool:
        """Return whether a call now would write the artifact (``final``: the stage's last numbers)."""
        return (final and self.artifact_id is not None) or _clock() - self.shown >= PROGRESS_SECONDS

    def __call__(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` if due (see :meth:`due`)."""
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        if not self.due(done >= total):
            return
        self.shown = _clock()
        pct = 100.0 * min(done / total, 1.0) if total else 100.0
        if self.artifact_id is None:
            self.artifact_id = create_progress_artifact(progress=pct, key=self.key, description=self.label(done, total))
        else:
            update_progress_artifact(self.artifact_id, progress=pct, description=self.label(done, total))

    def finish(self, done: int) -> None:
        """Show 100% with ``done`` as the total, if the artifact was shown (totals known at the start can change)."""
        if self.artifact_id is not None:
            self(done, done)


def _count_lines(path: Path) -> int:
    """Return the number of lines of ``path`` (ingest's estimate of a file's rows; read just before by its hash)."""
    n = 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            n += block.count(b"\n")
    return n


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10, retry_condition_fn=retry_transient_only)
def enrich_leads(run: RunSettings, stale: bool = False) -> EnrichSummary:
    """Enrich pending leads (and stale ones with ``stale``) through the provider waterfall; returns counts
    (grain: lead) and numbers per provider.

    Work is written every 200 domains and committed there (on SQLite at most every COMMIT_SECONDS,
    where the leads' columns are set once at the end of the pass, from the answers), so a crash or
    retry redoes at most 200 domains or that many seconds of lookups, whichever is more (answers
    already stored are cache hits); a progress artifact shows where a long run is (updated at most
    every PROGRESS_SECONDS).
    """
    from prefect.artifacts import create_progress_artifact, update_progress_artifact

    s = settings(run)
    progress_id = None
    shown, committed = 0.0, _clock()
    with units(s) as uow:
        def checkpoint(done: int, total: int) -> None:
            nonlocal progress_id, shown, committed
            # On SQLite at most every COMMIT_SECONDS: a commit after a large intake checkpoints its WAL
            # (~60 ms; every 200 domains, 50k domains spent 20 s committing). On PostgreSQL at every
            # checkpoint, so the next one's lead updates can be HOT (see enrich.commit_due).
            if not enrich.commit_due(uow.enrichment, done, total, _clock() - committed, COMMIT_SECONDS):
                return
            uow.commit()
            committed = _clock()
            # the artifact is an API call (~50 ms): at most every PROGRESS_SECONDS, and at the end
            if done < total and _clock() - shown < PROGRESS_SECONDS:
                return
            shown = _clock()
            pct = 100.0 * done / total if total else 100.0
            if progress_id is None:
                progress_id = create_progress_artifact(progress=pct, key="enrichment-progress",
                                                       description=f"Domains enriched: {count(done)} of {count(total)}")
            else:
                update_progress_artifact(progress_id, progress=pct,
                                         description=f"Domains enriched: {count(done)} of {count(total)}")

        out = enrich.enrich_pending(uow, rules(s), stale=stale, checkpoint=checkpoint)
    log_stage("enrich", domains=out.domains, enriched=out.enriched, partial=out.partial, not_enriched=out.not_enriched,
              errors=out.errors, skipped_personal_email=out.skipped)
    return out


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10, retry_condition_fn=retry_transient_only)
def score_leads(run: RunSettings) -> ScoreSummary:
    """Score open leads and move lifecycle stages; returns the pass's counts (grain: lead)."""
    s = settings(run)
    bar = _scoring_bar()
    with units(s) as uow:
        out = score.score_open_leads(uow, rules(s), flow_run_id=current_flow_run_id(), progress=bar)
    bar.finish(out.scored)
    _log_scoring("score", out)
    return out


def _scoring_bar() -> StageProgress:
    return StageProgress("scoring-progress", lambda done, total: f"Leads scored: {count(done)} of {count(total)}")


def _since(arrived_since: str | None, company_tz: str) -> datetime | None:
    """Return ``arrived_since`` (ISO 8601) as an aware datetime, a date or time without zone read in
    the company zone (as `leadops rescore --since` does); None for None."""
    from zoneinfo import ZoneInfo

    if not arrived_since:
        return None
    at = datetime.fromisoformat(arrived_since)
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo(company_tz))


def _log_scoring(stage: str, out: ScoreSummary) -> None:
    log_stage(f"{stage} (model {out.model_version})", scored=out.scored, changed=out.changed,
              promoted_mql=out.promoted_mql, disqualified=out.disqualified, nurtured=out.nurtured)


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10, retry_condition_fn=retry_transient_only)
def rescore_leads(run: RunSettings, stages: list[str] | None = None, sources: list[str] | None = None,
                  arrived_since: str | None = None, lead_ids: list[int] | None = None) -> ScoreSummary:
    """Apply the current scoring model to every selected open lead; returns what changed and the
    distributions (grain: lead)."""
    s = settings(run)
    since = _since(arrived_since, s.company_time_zone)
    bar = _scoring_bar()
    with units(s) as uow:
        out = score.score_open_leads(uow, rules(s), flow_run_id=current_flow_run_id(), only_changed=False,
                                     lead_ids=lead_ids, where=score.rescore_filter(stages, sources, since), progress=bar)
    bar.finish(out.scored)
    _log_scoring("rescore", out)
    return out


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10, retry_condition_fn=retry_transient_only)
def route_leads(run: RunSettings) -> RouteSummary:
    """Route unowned MQLs to SDRs; returns counts (grain: lead) and the assignments made."""
    s = settings(run)
    bar = StageProgress("routing-progress", lambda done, total: f"MQLs routed: {count(done)} of {count(total)} in the queue")
    with units(s) as uow:
        out = route.route_pending(uow, rules(s), s.company_time_zone, flow_run_id=current_flow_run_id(),
                                  progress=bar)
    bar.finish(out.considered)
    # counts only: the per-SDR split is in the run's artifacts
    log_stage("route", considered=out.considered, assigned=out.assigned, held=out.held, unroutable=out.unroutable)
    return out


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 30], retry_condition_fn=retry_transient_only)
def deliver_notifications(run: RunSettings) -> DeliveryReport:
    """Send pending outbox messages (and those a killed sender left claimed, once their lease is past); returns
    sent/failed/gave_up/recovered counts (grain: one message attempt)."""
    from datetime import timedelta

    from leadops.db.unit_of_work import sql_units

    s = settings(run)
    # one unit of work per claim batch and per outcome (leadops.notify.outbox.deliver)
    out = deliver(sql_units(s.database_url), sender_for(s), lease=timedelta(seconds=s.outbox_lease_seconds))
    log_stage("notify", sent=out.sent, failed=out.failed, gave_up=out.gave_up, recovered=out.recovered,
              fell_back=out.fell_back)
    if out.fell_back or out.channel_stats:
        publish_delivery(out)
    return out


def publish_delivery(out: DeliveryReport) -> None:
    """Publish the ``notification-delivery`` artifact: messages sent per channel, the Slack sender's counts, and
    every message that fell back (Slack could not deliver it: it went by email), with the reason."""
    from prefect.artifacts import create_table_artifact

    log = get_run_logger()
    for f in out.fallbacks:
        log.warning("notification %s fell back (%s): %s", f["key"], f["instead"], f["reason"])
    rows = [{"what": f"sent by {channel}", "count": n, "detail": ""} for channel, n in sorted(out.sent_by_channel.items())]
    rows += [{"what": f"{channel}: {name}", "count": value, "detail": ""}
             for channel, stats in sorted(out.channel_stats.items()) for name, value in sorted(stats.items())]
    rows += [{"what": f"fell back: {f['kind']} to {f['to']}", "count": 1, "detail": f"{f['instead']}: {f['reason']}"}
             for f in out.fallbacks[:200]]
    create_table_artifact(key="notification-delivery", table=[table_cells(r) for r in rows],
                          description=(f"Notifications sent per channel; {out.fell_back} fell back to email "
                                       f"(the reason on each row)."))


@task(cache_policy=NO_CACHE)
def plan_scoring(run: RunSettings, only_changed: bool = True, stages: list[str] | None = None,
                 sources: list[str] | None = None, arrived_since: str | None = None,
                 lead_ids: list[int] | None = None) -> ScoringPlan:
    """Select the open leads a scoring pass takes; returns one instant for every partition and the
    lead ids cut into partitions of LEADOPS_SCORE_PARTITION_LEADS."""
    from leadops.db.models import utcnow

    s = settings(run)
    since = _since(arrived_since, s.company_time_zone)
    now = utcnow()
    with units(s) as uow:
        ids = score.select_for_scoring(uow, lead_ids=lead_ids, only_changed=only_changed,
                                       where=score.rescore_filter(stages, sources, since), now=now)
    return ScoringPlan(now=now, parts=tuple(tuple(p) for p in scoring_pass.partitions(ids, s.score_partition_leads)))


def _partition_run_name() -> str:
    from prefect.runtime import task_run

    ids = task_run.parameters["lead_ids"]
    return f"score-leads-{ids[0]}-{ids[-1]}" if ids else "score-leads-none"


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10, retry_condition_fn=retry_transient_only,
      task_run_name=_partition_run_name)
def score_partition(run: RunSettings, lead_ids: tuple[int, ...], now: datetime,
                    flow_run_id: str | None = None) -> ScoreSummary:
    """Score one partition of open leads as of ``now`` in its own transaction; returns its counts (grain: lead).

    Partitions are disjoint and a lead's score depends on that lead alone, so they can run at
    the same time (on PostgreSQL) and a retried partition redoes only itself.
    """
    s = settings(run)
    with units(s) as uow:
        out = score.score_open_leads(uow, rules(s), now=now, flow_run_id=flow_run_id,
                                     lead_ids=list(lead_ids), only_changed=False)
    _log_scoring(f"score partition of {len(lead_ids)} leads", out)
    return out


def combine_scores(parts: list[ScoreSummary]) -> ScoreSummary:
    """Return the counts of a partitioned scoring pass: the partitions' counts added up (as score_leads returns)."""
    return scoring_pass.combine(parts)
