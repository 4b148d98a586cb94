"""Deterministic sample data: eight weeks of a B2B company's lead operations.

``leadops seed`` builds a :class:`SeedPlan` with :func:`generate` (pure: one
``random.Random(seed)``, no clock, no IO), then writes it:

* **history** (the 7 ISO weeks before the week containing ``anchor``): leads that already
  went through the pipeline, written straight into the database with their accounts,
  stage history, assignments, SLA clocks and events, activities and opportunities
  (:func:`write_history`). What the product decides is decided by the product's own domain
  functions: scoring and MQL promotion (domain.scoring), routing (domain.routing, the real
  weighted round robin over SDR availability and caps), SLA policies and due times
  (domain.assignment.policy_for, domain.business_time);
* **current week**: raw inbox files in the formats the readers must cope with, dirt and
  duplicates included, for the pipeline to ingest (:func:`write_inbox_files`).

Same ``seed`` and ``anchor`` give byte-identical files and identical rows. Re-running is
idempotent: leads are keyed by email, accounts by domain, activities by ``external_key``;
rows hanging off a lead are only written together with a newly inserted lead.

The bundled offline enrichment file ``leadops/data/firmographics.csv`` is generated from
the fixed company list by :func:`write_firmographics` (independent of the seed).

Modules: reference (fixed lists), firmographics (companies), people, history (intake and
promotion), routing, sla, activities (the SDR cadence), inbox, generate, writer, summary, run.
"""
from __future__ import annotations

from leadops.seed.context import HISTORY_WEEKS, PARIS, week_bounds
from leadops.seed.firmographics import FIRMOGRAPHICS_PATH, companies, firmographics_csv, write_firmographics
from leadops.seed.generate import HISTORY_SHARE, generate
from leadops.seed.plan import (
    Company, InboxFile, InboxRow, PlannedAccount, PlannedActivity, PlannedAssignment, PlannedClock, PlannedLead,
    PlannedOpportunity, SeedPlan, StageChange,
)
from leadops.seed.run import seed
from leadops.seed.scores import SEED_SCORE_VERSION
from leadops.seed.summary import summarize
from leadops.seed.text import ascii_fold, company_key
from leadops.seed.writer import ingested_hashes, write_history, write_inbox_files

__all__ = [
    "FIRMOGRAPHICS_PATH", "HISTORY_SHARE", "HISTORY_WEEKS", "PARIS", "SEED_SCORE_VERSION", "Company", "InboxFile",
    "InboxRow", "PlannedAccount", "PlannedActivity", "PlannedAssignment", "PlannedClock", "PlannedLead",
    "PlannedOpportunity", "SeedPlan", "StageChange", "ascii_fold", "companies", "company_key", "firmographics_csv",
    "generate", "ingested_hashes", "seed", "summarize", "week_bounds", "write_firmographics", "write_history",
    "write_inbox_files",
]
