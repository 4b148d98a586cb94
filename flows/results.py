"""What each flow returns: frozen summaries the CLI and tests read by attribute.

``as_dict()`` gives the JSON shape callers outside Python rely on (``leadops run ... --json``, the
demo's output, IntakeRejected's summary): the field names and their order are that shape, so a
field added here appears there too.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from leadops.domain.scoring_pass import ScoreSummary
from leadops.tasks.results import ApiSourceOutcome, FileOutcome, ReprocessCounts, RosterCounts


class Summary:
    """A flow's result; :meth:`as_dict` is its JSON shape."""

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as plain values (nested summaries as dicts, tuples as they are: JSON lists)."""
        out: dict[str, Any] = asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass
        return out


# --------------------------------------------------------------------------- lead-pipeline
@dataclass(frozen=True)
class RowCounts:
    """Input rows by where they went (grain: input row): rows_read = inserted + merged + quarantined."""

    rows_read: int = 0
    inserted: int = 0
    merged: int = 0
    quarantined: int = 0

    @classmethod
    def of(cls, batches: Iterable[FileOutcome]) -> RowCounts:
        """Return the rows of ``batches`` (files and API pages) added up."""
        bs = list(batches)
        return cls(rows_read=sum(b.rows_read for b in bs), inserted=sum(b.inserted for b in bs),
                   merged=sum(b.merged for b in bs), quarantined=sum(b.quarantined for b in bs))


@dataclass(frozen=True)
class SourceCounts:
    """One source's batches in one run (files and API pages) and where their rows went."""

    files: int = 0
    rejected: int = 0
    rows_read: int = 0
    inserted: int = 0
    merged: int = 0
    quarantined: int = 0

    @classmethod
    def per_source(cls, batches: Iterable[FileOutcome]) -> dict[str, SourceCounts]:
        """Return the counts of ``batches`` per source, sources in the order they first appear."""
        by: dict[str, list[FileOutcome]] = {}
        for b in batches:
            by.setdefault(b.source, []).append(b)
        out = {}
        for source, bs in by.items():
            rows = RowCounts.of(bs)
            out[source] = cls(files=len(bs), rejected=sum(b.status == "rejected" for b in bs), rows_read=rows.rows_read,
                              inserted=rows.inserted, merged=rows.merged, quarantined=rows.quarantined)
        return out


@dataclass(frozen=True)
class RejectedFile:
    """A batch the intake gate rejected, and the one line saying why."""

    file: str
    error: str | None


@dataclass(frozen=True)
class PipelineSummary(Summary):
    """What one lead-pipeline run did, per stage (grain: input rows, then leads, then messages)."""

    flow_run_id: str | None
    files: int
    files_rejected: int
    rows_read: int  # the lead files and pages; activities are counted apart
    inserted: int
    merged: int
    quarantined: int
    per_source: dict[str, SourceCounts]
    activities: RowCounts
    quarantine_reasons: dict[str, int]
    rejected: tuple[RejectedFile, ...]
    taken_by_another_run: tuple[str, ...]
    data_docs: str | None
    api_errors: tuple[str, ...]
    api_watermarks: dict[str, str | None]  # ISO 8601
    enriched: int
    partially_enriched: int
    not_enriched: int
    enrichment_skipped: int
    enrichment_errors: int
    enrichment_providers: dict[str, dict[str, Any]]
    scored: int
    score_changed: int
    promoted_mql: int
    disqualified: int
    model_version: str
    routed: int
    unroutable: int
    per_sdr: dict[str, int]
    notifications_sent: int
    notifications_failed: int
    roster: RosterCounts

    @staticmethod
    def intake(batches: Iterable[FileOutcome]) -> dict[str, Any]:
        """Return the intake fields of a summary for ``batches`` (the files and API pages of a run, the
        ones another run took left out), as keyword arguments of the constructor."""
        bs = list(batches)
        leads = RowCounts.of(b for b in bs if b.kind == "leads")
        reasons: dict[str, int] = {}
        for b in bs:
            for r, n in b.reasons.items():
                reasons[r] = reasons.get(r, 0) + n
        rejected = tuple(RejectedFile(b.file, b.error) for b in bs if b.status == "rejected")
        return dict(files=len(bs), files_rejected=len(rejected), rows_read=leads.rows_read, inserted=leads.inserted,
                    merged=leads.merged, quarantined=leads.quarantined, per_source=SourceCounts.per_source(bs),
                    activities=RowCounts.of(b for b in bs if b.kind == "activities"), quarantine_reasons=reasons,
                    rejected=rejected)

    @staticmethod
    def api(reads: Iterable[ApiSourceOutcome]) -> dict[str, Any]:
        """Return the API fields of a summary for the run's API reads, as keyword arguments of the constructor."""
        rs = list(reads)
        return dict(api_errors=tuple(r.error for r in rs if r.error),
                    api_watermarks={r.source: r.watermark.isoformat() if r.watermark else None for r in rs})


# --------------------------------------------------------------------------- other flows
@dataclass(frozen=True)
class SlaRunSummary(Summary):
    """What one enforce-sla sweep did (grain: clocks; events and messages for the last three)."""

    flow_run_id: str | None
    open: int
    met: int
    reminded: int
    breached: int
    reassigned: int
    events_emitted: int
    notifications_sent: int
    notifications_failed: int


@dataclass(frozen=True)
class RescoreSummary(Summary):
    """What one rescore did: the scoring pass (grain: lead) and the leads routed after it."""

    flow_run_id: str | None
    scoring: ScoreSummary
    routed: int

    def as_dict(self) -> dict[str, Any]:
        """Return the scoring pass's fields at the top level, between the run id and ``routed``."""
        return {"flow_run_id": self.flow_run_id, **asdict(self.scoring), "routed": self.routed}


@dataclass(frozen=True)
class WeeklyReportSummary(Summary):
    """One weekly report built (grain: ISO week): its files, headline figures and emails sent."""

    flow_run_id: str | None
    week: str
    report_path: str
    csv_paths: tuple[str, ...]
    headline: dict[str, Any]
    emails_sent: int


@dataclass(frozen=True)
class BackfilledWeek:
    """One week a backfill rebuilt, and its HTML report."""

    week: str
    report_path: str


@dataclass(frozen=True)
class BackfillSummary(Summary):
    """The weeks one report-backfill rebuilt, oldest first."""

    flow_run_id: str | None
    weeks: tuple[BackfilledWeek, ...]


@dataclass(frozen=True)
class ReprocessSummary(Summary):
    """What one quarantine-reprocess did (grain: input row)."""

    flow_run_id: str | None
    counts: ReprocessCounts

    def as_dict(self) -> dict[str, Any]:
        """Return the counts at the top level, after the run id."""
        return {"flow_run_id": self.flow_run_id, **asdict(self.counts)}


@dataclass(frozen=True)
class DigestSummary(Summary):
    """Managers' breach digests of one run: managers and breaches covered, digests queued, emails sent."""

    flow_run_id: str | None
    managers: int
    breaches: int
    queued: int
    notifications_sent: int


@dataclass(frozen=True)
class ExplainSummary(Summary):
    """One explain-lead run: the lead and the number of events in its timeline artifact."""

    flow_run_id: str | None
    lead_id: int
    events: int


@dataclass(frozen=True)
class CrmSyncSummary(Summary):
    """One crm-sync run: records read and where they went, leads routed, records written back (grain: record)."""

    flow_run_id: str | None
    connectors: tuple[str, ...]
    read: int
    created: int
    merged: int
    quarantined: int
    activities: int
    routed: int
    queued: int
    written: int
    conflicts: int
    failed: int

    @classmethod
    def of(cls, flow_run_id: str | None, reads: list[Any], writes: list[Any], routed: int) -> CrmSyncSummary:
        """Return the summary of a run from its read and write-back outcomes."""
        leads = [o for r in reads for o in r.objects if o.kind == "leads"]
        acts = [o for r in reads for o in r.objects if o.kind == "activities"]
        deliveries = [w.delivery for w in writes if w.delivery]
        return cls(flow_run_id=flow_run_id, connectors=tuple(r.connector for r in reads),
                   read=sum(o.read for o in leads), created=sum(o.created for o in leads),
                   merged=sum(o.merged for o in leads), quarantined=sum(o.quarantined for o in leads),
                   activities=sum(o.created for o in acts), routed=routed,
                   queued=sum(w.plan.queued for w in writes if w.plan), written=sum(d.written for d in deliveries),
                   conflicts=sum(d.conflicts for d in deliveries), failed=sum(d.failed for d in deliveries))

    def message(self) -> str:
        """Return the run's one-line summary ("120 read, 80 new leads, 300 activities, 75 routed, 75 written back")."""
        return (f"{self.read} read, {self.created} new leads, {self.activities} activities, {self.routed} routed, "
                f"{self.written} written back" + (f", {self.conflicts} conflicts" if self.conflicts else "")
                + (f", {self.failed} failed" if self.failed else ""))
