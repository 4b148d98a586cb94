"""kill -9 at each stage boundary and inside the stages of the lead pipeline, and two overlapping runs (issue 19),
on SQLite and PostgreSQL.

A real process (tests/support/chaos_pipeline.py: the service calls of the lead-pipeline tasks, one unit of
work per file and per stage) SIGKILLs itself at a kill point; a rerun without kill then finishes the work.
Whatever the point, the database, the folders and the receivers end in the state one clean run gives:
every inbox file accounted once (rows_read = inserted + merged + quarantined per batch, no file read twice,
none left in the inbox), no lead twice, at most one active assignment per lead and every MQL owned (or
explicitly held or unroutable), one outbox row per key, every assignment announced once (sent), and at the
receiver one delivery per idempotency key; only the message in flight when delivery was killed reaches the
webhook twice, with the same key both times.
"""
from __future__ import annotations

import email
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadops.db.models import (
    Assignment,
    IngestBatch,
    Lead,
    LeadMerge,
    Notification,
    Quarantine,
    SlaClock,
    utcnow,
)
from leadops.db.session import session_scope
from tests.support.gate import release
from tests.support.chaos_pipeline import write_inbox
from tests.support.receivers import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
FILES, ROWS = 3, 120
LEASE_SECONDS = 3  # a killed sender's claims are taken back this long after its last renewal
DELIVER_KILL = 4   # the 4th message: the webhook of the 2nd assignment (messages go email, webhook, email, ...)


class ForkServer:
    """tests/support/chaos_pipeline.py --serve: forks each pass from a process that imported leadops and
    warmed GX once (a pass then starts in milliseconds instead of 3.5 s); each pass is its own process."""

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_"))}
        env.update(PYTHONPATH=str(ROOT), GX_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.chaos_pipeline", "--serve"], cwd=ROOT,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert "ready" in json.loads(self.proc.stdout.readline())
        self.n = 0

    def run(self, argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
        """Run one pass to its end or death; returns (returncode, stdout, stderr) as subprocess would."""
        self.n += 1
        out, err = cwd / f"pass-{self.n}.out", cwd / f"pass-{self.n}.err"
        self.proc.stdin.write(json.dumps({"id": self.n, "argv": argv, "env": env, "cwd": str(cwd),
                                          "stdout": str(out), "stderr": str(err)}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        assert answer["id"] == self.n, answer
        return answer["returncode"], out.read_text(), err.read_text()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(60)


@pytest.fixture(scope="module")
def forkserver():
    server = ForkServer()
    yield server
    server.close()


class Chaos:
    """One inbox, one database, one webhook receiver, and pipeline passes run as processes against them."""

    def __init__(self, url: str, tmp_path: Path, forkserver: ForkServer) -> None:
        self.url, self.tmp, self.forkserver = url, tmp_path, forkserver
        self.config = tmp_path / "config"  # the checkout's rules, with assignment webhooks on
        shutil.copytree(ROOT / "config", self.config)
        routing = self.config / "routing.yaml"
        routing.write_text(routing.read_text(encoding="utf-8") + "\nnotify_webhook: true\n", encoding="utf-8")
        self.var = tmp_path / "var"
        self.written = write_inbox(self.var / "inbox", files=FILES, rows=ROWS)
        self.names = sorted(p.name for p in (self.var / "inbox").iterdir())
        self.receiver = WebhookReceiver()

    def env(self, lease: float) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_"))}
        env.update(LEADOPS_DATABASE_URL=self.url, LEADOPS_VAR_DIR=str(self.var), LEADOPS_CONFIG_DIR=str(self.config),
                   LEADOPS_EXPECTATIONS_DIR=str(ROOT / "expectations"), LEADOPS_VALIDATION_PROCESS="false",
                   LEADOPS_OUTBOX_LEASE_SECONDS=str(lease), LEADOPS_WEBHOOK_URL=self.receiver.url,
                   PYTHONPATH=str(ROOT), GX_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
        return env

    def start(self, go: Path, lease: float) -> subprocess.Popen:
        """Start a pass in a new interpreter of its own, waiting for ``go`` to exist."""
        return subprocess.Popen([sys.executable, "-m", "tests.support.chaos_pipeline", "--go", str(go)], cwd=self.tmp,
                                env=self.env(lease), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, kill_at: str | None = None) -> dict:
        """Run one pass (forked by the fork server) to its end or its kill; returns its JSON summary ({} when killed)."""
        code, out, err = self.forkserver.run(["--kill-at", kill_at] if kill_at else [], self.env(LEASE_SECONDS), self.tmp)
        if kill_at:
            assert code == -signal.SIGKILL, f"expected death by SIGKILL at {kill_at}: {err[-3000:]}"
            assert out == ""  # killed before its summary
            return {}
        assert code == 0, err[-3000:]
        return json.loads(out)

    def count(self, stmt) -> int:
        with session_scope(self.url) as s:
            return s.scalar(stmt) or 0

    def inbox(self) -> list[str]:
        return sorted(p.name for p in (self.var / "inbox").iterdir())

    def processed(self) -> list[str]:
        return sorted(p.name for p in (self.var / "processed").glob("*.csv")) if (self.var / "processed").exists() else []

    def close(self) -> None:
        self.receiver.close()


@pytest.fixture
def chaos(db_url, tmp_path, forkserver):
    c = Chaos(db_url, tmp_path, forkserver)
    yield c
    c.close()


def assert_pipeline_invariants(c: Chaos, reclaimed: frozenset[str] = frozenset(),
                               twice: frozenset[str] = frozenset()) -> None:
    """Assert the end state of the pipeline over ``c``'s inbox is that of one clean pass. ``reclaimed``: the keys
    a killed sender held (claimed again by the rerun); ``twice``: the webhook key in flight at that kill, the
    only one the receiver may see twice."""
    w = c.written
    # every inbox file accounted once: read in one batch, moved out once, none left behind
    assert c.inbox() == []
    assert c.processed() == c.names
    assert not (c.var / "failed").exists() or list((c.var / "failed").iterdir()) == []
    with session_scope(c.url) as s:
        batches = s.execute(select(IngestBatch.origin, IngestBatch.status, IngestBatch.rows_read, IngestBatch.inserted,
                                   IngestBatch.merged, IngestBatch.quarantined)).all()
        assert sorted(Path(b.origin).name for b in batches) == c.names  # each file's content once
        assert {b.status for b in batches} == {"done"}
        for b in batches:
            assert b.rows_read == b.inserted + b.merged + b.quarantined, b
        assert sum(b.rows_read for b in batches) == w["rows"]
        assert sum(b.quarantined for b in batches) == w["bad"] == s.scalar(select(func.count()).select_from(Quarantine))
        leads = s.scalar(select(func.count()).select_from(Lead))
        assert sum(b.inserted for b in batches) == leads == w["people"]
        assert sum(b.merged for b in batches) == w["rows"] - w["bad"] - w["people"] \
            == s.scalar(select(func.count()).select_from(LeadMerge))
        # no lead twice
        assert s.scalar(select(func.count(func.distinct(func.lower(Lead.email))))) == leads

        # at most one active assignment per lead, the lead owned by its SDR; every MQL owned or explicitly not
        active = s.execute(select(Assignment.id, Assignment.lead_id, Assignment.sdr_id)
                           .where(Assignment.active.is_(True))).all()
        assert not [lead for lead, n in Counter(a.lead_id for a in active).items() if n > 1]
        owner = dict(s.execute(select(Lead.id, Lead.owner_sdr_id)).all())
        assert all(owner[a.lead_id] == a.sdr_id for a in active)
        assert s.scalar(select(func.count()).select_from(Assignment).where(Assignment.status == "assigned")) == len(active)
        mqls = s.execute(select(Lead.id, Lead.owner_sdr_id, Lead.routing_status).where(Lead.lifecycle_stage == "mql")).all()
        assert mqls, "the inbox's hand-raisers became MQLs"
        assert {m.id for m in mqls if m.owner_sdr_id is not None} == {a.lead_id for a in active}
        assert not [m for m in mqls if m.owner_sdr_id is None and m.routing_status not in ("held", "unroutable")]
        assert s.scalar(select(func.count()).select_from(SlaClock)) == len(active)  # one clock per assignment

        # one outbox row per key, every assignment announced once on each channel, everything sent
        notes = s.execute(select(Notification.key, Notification.kind, Notification.channel, Notification.status,
                                 Notification.attempts)).all()
        assert len({n.key for n in notes}) == len(notes)
        announced = Counter(n.key for n in notes if n.kind == "assignment")
        assert sorted(announced) == sorted([f"assignment:{a.id}" for a in active] + [f"assignment:{a.id}:webhook" for a in active])
        unroutable = s.scalar(select(func.count()).select_from(Assignment).where(Assignment.status == "unroutable"))
        assert unroutable == 0 or any(n.kind == "unroutable_alert" for n in notes)
        assert {n.status for n in notes} == {"sent"}
        # only the messages a killed sender held were claimed twice
        assert {n.key for n in notes if n.attempts > 1} == reclaimed

    # at the receivers: every webhook key, the one in flight at most twice (one idempotency key), one each kept
    webhooks = {n.key for n in notes if n.channel == "webhook"}
    wire = Counter(idem for idem, _, _ in c.receiver.posts)
    assert set(wire) == webhooks
    assert all(idem == leadops_key == body["key"] for idem, leadops_key, body in c.receiver.posts)
    assert {k for k, n in wire.items() if n > 1} == twice and max(wire.values()) <= 2
    assert sorted(c.receiver.deduplicated()) == sorted(webhooks)
    # the file channel: one .eml per email key (a resend rewrites the same file), each naming its key
    mails = [email.message_from_bytes(p.read_bytes()) for p in (c.var / "outbox").glob("*.eml")]
    assert sorted(m["X-Leadops-Key"] for m in mails) == sorted(n.key for n in notes if n.channel == "email")
    assert not list((c.var / "outbox").glob(".*.part"))  # no half-written message left by the kill


def died_where_asked(c: Chaos, kill_at: str) -> tuple[frozenset[str], frozenset[str]]:
    """Assert the killed pass left what a death at ``kill_at`` leaves; returns (the keys the dead sender held,
    the webhook key in flight at its death) for ``deliver``, else two empty sets."""
    batches = c.count(select(func.count()).select_from(IngestBatch).where(IngestBatch.status == "done"))
    assigned = c.count(select(func.count()).select_from(Assignment).where(Assignment.status == "assigned"))
    point = kill_at.split(":", maxsplit=1)[0]
    if point == "ingest-commit":  # file 2 committed, not moved: it waits in the inbox with file 3
        assert (batches, c.inbox(), c.processed()) == (2, c.names[1:], c.names[:1])
    elif point == "ingest-insert":  # inside file 2's transaction: nothing of it stored
        assert (batches, c.inbox(), c.processed()) == (1, c.names[1:], c.names[:1])
        assert c.count(select(func.count()).select_from(IngestBatch)) == 1
    else:
        assert (batches, c.inbox()) == (FILES, [])
    enriched = c.count(select(func.count()).select_from(Lead).where(Lead.enrichment_status.is_not(None)))
    scored = c.count(select(func.count()).select_from(Lead).where(Lead.scored_at.is_not(None)))
    if point == "ingest":
        assert (enriched, scored, assigned) == (0, 0, 0)
    elif point == "enrich":
        assert enriched == c.written["people"] and (scored, assigned) == (0, 0)
    elif point in ("score", "route-write"):  # route-write: the routing pass died before its commit
        assert scored == c.written["people"] and assigned == 0
        assert c.count(select(func.count()).select_from(SlaClock)) == 0
    elif point == "route":
        assert assigned > 0
        assert c.count(select(func.count()).select_from(Notification).where(Notification.status != "pending")) == 0
    elif point == "deliver":
        with session_scope(c.url) as s:
            rows = s.execute(select(Notification.key, Notification.status).order_by(Notification.id)).all()
        sent = [k for k, st in rows if st == "sent"]
        claimed = [k for k, st in rows if st == "sending"]
        assert len(sent) == DELIVER_KILL - 1 and claimed  # the 4th reached the receiver; its `sent` never committed
        in_flight = claimed[0]  # the N-th message by id: claimed in id order, sent in id order
        posted = [b["key"] for _, _, b in c.receiver.posts]
        if in_flight.endswith(":webhook"):  # the webhook has it (the last post); the outbox does not know
            assert posted[-1] == in_flight
        else:  # an email: its .eml is written
            assert in_flight not in posted
        # the dead sender renews nothing: wait out its lease, so the rerun takes its claims back
        with session_scope(c.url) as s:
            until = s.scalar(select(func.max(Notification.lease_until)).where(Notification.status == "sending"))
        deadline = time.monotonic() + LEASE_SECONDS * 10
        while utcnow() <= until and time.monotonic() < deadline:
            time.sleep(0.1)
        return frozenset(claimed), frozenset([in_flight] if in_flight.endswith(":webhook") else [])
    return frozenset(), frozenset()


KILL_POINTS = ["ingest-commit:2", "ingest-insert:2", "ingest", "enrich", "score", "route-write:2", "route",
               f"deliver:{DELIVER_KILL}"]


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_a_pipeline_pass_killed_then_rerun_ends_as_one_clean_pass(chaos, kill_at):
    chaos.run(kill_at)
    reclaimed, twice = died_where_asked(chaos, kill_at)
    rerun = chaos.run()
    assert rerun["deliver"]["recovered"] == len(reclaimed)  # the dead sender's claims, taken back after its lease
    assert_pipeline_invariants(chaos, reclaimed, twice)


def test_two_overlapping_passes_on_one_inbox_do_everything_once(chaos, tmp_path):
    go = tmp_path / "GO"
    passes = [chaos.start(go, lease=30) for _ in range(2)]  # two interpreters, as two workers would run them
    release(go, passes)  # GO once both have imported and set up: they start together
    results = [p.communicate(timeout=300) for p in passes]
    for p, (_, err) in zip(passes, results, strict=True):
        assert p.returncode == 0, err[-3000:]
    runs = [json.loads(out) for out, _ in results]
    files = [f for r in runs for f in r["files"]]
    # each file ingested by one pass; the other found it taken (claimed, or already moved)
    assert sorted(Path(f["file"]).name for f in files if f["status"] == "done") == chaos.names
    assert not [f for f in files if f["status"] not in ("done", "taken")]
    # each assignment made once, each message sent once (no lease expired: no copy at the wire either)
    assigned = sum(r["route"]["assigned"] for r in runs)
    assert assigned == chaos.count(select(func.count()).select_from(Assignment).where(Assignment.status == "assigned"))
    assert sum(r["deliver"]["sent"] for r in runs) == chaos.count(select(func.count()).select_from(Notification))
    assert_pipeline_invariants(chaos)
    assert max(Counter(idem for idem, _, _ in chaos.receiver.posts).values()) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # what is reported, not how it is stored
def test_a_file_committed_before_the_kill_is_reported_with_its_counts_by_the_rerun(chaos):
    chaos.run("ingest-commit:2")
    with session_scope(chaos.url) as s:
        stored = s.execute(select(IngestBatch.rows_read, IngestBatch.inserted, IngestBatch.merged,
                                  IngestBatch.quarantined).where(IngestBatch.origin.endswith(chaos.names[1]))).one()
    rerun = chaos.run()
    assert_pipeline_invariants(chaos)  # the database is right: the file is stored once
    out = next(f for f in rerun["files"] if Path(f["file"]).name == chaos.names[1])
    sidecar = json.loads((chaos.var / "processed" / f"{chaos.names[1]}.result.json").read_text())
    for what in (out, sidecar):
        assert (what["status"], what["rows_read"], what["inserted"], what["merged"], what["quarantined"]) \
            == ("done", *stored)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # a folder's content, the same on both backends
def test_a_pass_killed_between_sidecar_and_move_leaves_every_processed_file_with_its_sidecar(chaos):
    chaos.run("ingest-move:2")
    # died where asked: file 2's sidecar written, the file itself still in the inbox
    assert chaos.processed() == chaos.names[:1] and chaos.inbox() == chaos.names[1:]
    assert (chaos.var / "processed" / f"{chaos.names[1]}.result.json").exists()
    rerun = chaos.run()
    assert_pipeline_invariants(chaos)  # the database and the folders are right
    out = next(f for f in rerun["files"] if Path(f["file"]).name == chaos.names[1])
    assert out["status"] == "done" and out["rows_read"] > 0  # reported with its stored counts, not as a duplicate
    missing = [n for n in chaos.names if not (chaos.var / "processed" / f"{n}.result.json").exists()]
    assert missing == []
