"""Run it like production: a real Prefect server (on SQLite, and on PostgreSQL with leadops on
PostgreSQL too), deployments from prefect.yaml, process workers, runs triggered through the API;
reruns, overlapping runs on two workers and a worker killed mid-run lose and duplicate nothing.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

import pytest
import requests

from leadops.deployments.server_health import wait_healthy
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_URL = os.environ.get("LEADOPS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ZOMBIE = yaml.safe_load((ROOT / "deployments" / "automations" / "zombie-runs.yaml").read_text(encoding="utf-8"))
HEARTBEAT = int(yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
                ["definitions"]["work_pool"]["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Return the ids of every process below ``pid`` (flow-run processes start in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def environ(pid: int) -> dict[str, str]:
    """Return the environment ``pid`` was started with ({} when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and everything below it at once: what a machine that dies does to its processes."""
    os.kill(pid, signal.SIGSTOP)  # frozen first, so it starts nothing new while we collect its tree
    for p in [pid, *descendants(pid)]:
        with suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def stop_tree(p: subprocess.Popen, wait: bool = True) -> None:
    """SIGTERM ``p``'s process group and SIGKILL everything below it (the flow-run processes a worker or
    `serve` started are in sessions of their own); with ``wait``, reap it (SIGKILL after 20 s)."""
    tree = descendants(p.pid)
    with suppress(ProcessLookupError):
        os.killpg(p.pid, signal.SIGTERM)
    for child in tree:
        with suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    if wait:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


@contextmanager
def production(tmp: Path, leadops_url: str, prefect_db_url: str | None = None):
    """Yield a Prefect server (scheduler off: runs only when triggered), the pool, every deployment of
    prefect.yaml, the shipped automations, a seeded leadops database and one worker, ``machine-a``.

    ``prefect_db_url`` puts the server's own database on PostgreSQL (default: SQLite under tmp).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_"))}
    env.update({
        "PREFECT_HOME": str(tmp / ".prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",  # workers pick runs up within 2 s instead of 10
        "LEADOPS_DATABASE_URL": leadops_url, "LEADOPS_VAR_DIR": str(tmp / "var"),
        "LEADOPS_CONFIG_DIR": str(ROOT / "config"), "LEADOPS_EXPECTATIONS_DIR": str(ROOT / "expectations"),
        "LEADOPS_HOME": str(ROOT),
    })
    if prefect_db_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = prefect_db_url
    procs: list[subprocess.Popen] = []

    def start(*args, log):
        with open(tmp / log, "w") as out:  # the child holds its own copy of the descriptor
            p = subprocess.Popen([str(BIN / "prefect"), *args], env=env, cwd=ROOT, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(p)
        return p

    def worker(name: str, log: str) -> subprocess.Popen:
        # --limit 1: a machine runs one flow at a time, so overlapping runs land on different machines
        return start("worker", "start", "--pool", "leadops-process", "--name", name, "--limit", "1", log=log)

    def cli(*args, timeout=300):
        proc = subprocess.run([str(BIN / "prefect"), "--no-prompt", *args], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    def leadops(*args, timeout=300):
        proc = subprocess.run([str(BIN / "leadops"), *args], env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    try:
        server = start("server", "start", "--host", "127.0.0.1", "--port", str(port), log="server.log")
        wait_healthy(f"http://127.0.0.1:{port}/api", tmp / "server.log", server, timeout=120)
        cli("work-pool", "create", "leadops-process", "--type", "process")
        cli("deploy", "--all")
        leadops("automations", "install")
        leadops("seed", "--anchor", "2026-11-23")
        yield {"env": env, "tmp": tmp, "cli": cli, "leadops": leadops, "port": port, "db_url": leadops_url,
               "worker": worker("machine-a", "machine-a.log"), "start_worker": worker}
    finally:
        for p in procs:
            stop_tree(p, wait=False)
        for p in procs:
            stop_tree(p)
        from leadops.db.session import get_engine

        get_engine(leadops_url).dispose()


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    """Prefect's database and leadops' on SQLite (files under a temp folder)."""
    tmp = tmp_path_factory.mktemp("prod")
    with production(tmp, f"sqlite:///{tmp / 'leadops.db'}") as state:
        yield state


@pytest.fixture(scope="module")
def prod_pg(tmp_path_factory):
    """Prefect's database on PostgreSQL (a fresh database) and leadops' too (a fresh schema); both dropped after."""
    tmp = tmp_path_factory.mktemp("prod_pg")
    suffix = uuid.uuid4().hex[:8]
    prefect_db, schema = f"prefect_e2e_{suffix}", f"leadops_e2e_{suffix}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{prefect_db}"'))
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    prefect_url = make_url(PG_URL).set(drivername="postgresql+asyncpg", database=prefect_db, query={})
    sep = "&" if "?" in PG_URL else "?"
    try:
        with production(tmp, f"{PG_URL}{sep}options=-csearch_path%3D{schema}",
                        prefect_url.render_as_string(hide_password=False)) as state:
            yield {**state, "schema": schema, "prefect_db": prefect_url.set(drivername="postgresql+psycopg")}
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{prefect_db}" WITH (FORCE)'))
            c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def db(prod, sql, **params) -> list[tuple]:
    """Return the rows of ``sql`` run on the leadops database of ``prod`` (SQLite or PostgreSQL)."""
    from leadops.db.session import get_engine

    with get_engine(prod["db_url"]).connect() as c:
        return [tuple(r) for r in c.execute(text(sql), params)]


def api(prod, path, body=None):
    """Return the JSON answer of the Prefect API to a POST of ``body`` (a GET when ``body`` is None)."""
    url = f"http://127.0.0.1:{prod['port']}/api{path}"
    resp = requests.get(url, timeout=30) if body is None else requests.post(url, json=body, timeout=30)
    resp.raise_for_status()
    return resp.json()


def trigger(prod, deployment: str, parameters: dict | None = None) -> str:
    """Create a flow run of ``deployment`` ("flow/deployment") through the API; returns its id."""
    dep = api(prod, f"/deployments/name/{deployment}")
    return api(prod, f"/deployments/{dep['id']}/create_flow_run", {"parameters": parameters or {}})["id"]


def wait_final(prod, run_ids, timeout=600) -> dict[str, dict]:
    """Poll until every run is in a final state; returns the runs by id."""
    deadline = time.monotonic() + timeout
    while True:
        runs = {i: api(prod, f"/flow_runs/{i}") for i in run_ids}
        if all(r["state_type"] in FINAL for r in runs.values()):
            return runs
        assert time.monotonic() < deadline, {i: r["state_type"] for i, r in runs.items()}
        time.sleep(1)


def writing_tasks(prod, run_id: str) -> list[tuple[str, datetime, datetime]]:
    """Return (task, start, end) of the run's tasks that write to the leadops database (ingest to deliver)."""
    runs = api(prod, "/task_runs/filter", {"task_runs": {"flow_run_id": {"any_": [run_id]}}})
    return [(t["name"].rsplit("-", 1)[0] if not t["name"].startswith("ingest-") else "ingest",
             datetime.fromisoformat(t["start_time"]), datetime.fromisoformat(t["end_time"]))
            for t in runs if t["start_time"] and t["end_time"] and t["name"].startswith(
                ("ingest-", "enrich_leads", "score_leads", "route_leads", "deliver_notifications"))]


def write_leads(inbox: Path, prefix: str, files: int, rows: int, countries=("France",)) -> int:
    """Write ``files`` CSV files of ``rows`` new demo-request leads each (emails ``{prefix}N@...``); returns the count."""
    inbox.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in range(files):
        lines = ["Email,First Name,Last Name,Country,Source"]
        for _ in range(rows):
            lines.append(f"{prefix}{n}@{prefix}{n}.fr,Kim{n},Lee{n},{countries[n % len(countries)]},demo_request")
            n += 1
        (inbox / f"{prefix}-{f}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return n


@pytest.mark.timeout(900)
def test_deployments_run_on_a_worker_and_a_rerun_changes_nothing(prod):
    deployments = api(prod, "/deployments/filter", {})
    assert {d["name"] for d in deployments} >= {"lead-pipeline", "enforce-sla", "weekly-report", "rescore",
                                                 "report-backfill", "quarantine-reprocess", "sla-breach-digest"}
    out = prod["cli"]("deployment", "run", "lead-pipeline/lead-pipeline", "--watch", timeout=600)
    assert "Completed" in out
    leads, = db(prod, "select count(*) from leads")[0]
    active, = db(prod, "select count(*) from assignments where active")[0]
    notes, = db(prod, "select count(*) from notification_outbox")[0]
    owned, = db(prod, "select count(*) from leads where owner_sdr_id is not null")[0]
    assert leads > 1900 and notes > 0
    assert active == owned > 1000  # every owned lead has exactly its one active assignment (only MQLs are routed)
    assert db(prod, "select count(*) from ingest_batches where status = 'done'")[0][0] >= 6
    arts = api(prod, "/artifacts/filter", {"artifacts": {"key": {"any_": ["lead-pipeline-summary"]}}})
    assert len(arts) == 1 and "# Lead pipeline run" in arts[0]["data"] and "rows read: **" in arts[0]["data"]

    prod["cli"]("deployment", "run", "lead-pipeline/lead-pipeline", "--watch", timeout=600)  # the rerun
    assert db(prod, "select count(*) from leads")[0][0] == leads
    assert db(prod, "select count(*) from assignments where active")[0][0] == active
    assert db(prod, "select count(*) from notification_outbox")[0][0] == notes

    out = prod["cli"]("deployment", "run", "weekly-report/weekly-report", "--param", "week=2026-W47", "--watch",
                      timeout=600)
    assert "Completed" in out and (prod["tmp"] / "var" / "reports" / "2026-W47").is_dir()
    runs = api(prod, "/flow_runs/filter", {"flow_runs": {"name": {"any_": ["weekly-report-2026-W47"]}}})
    assert runs and runs[0]["state_type"] == "COMPLETED"


def heartbeats(prod, run_id: str) -> list[datetime]:
    """Return when the run's `prefect.flow-run.heartbeat` events occurred (as stored by the server), in order."""
    body = {"filter": {"event": {"name": ["prefect.flow-run.heartbeat"]},
                       "resource": {"id": [f"prefect.flow-run.{run_id}"]}}, "limit": 50}
    return sorted(datetime.fromisoformat(e["occurred"]) for e in api(prod, "/events/filter", body)["events"])


def automations_named(prod, name: str) -> int:
    return [a["name"] for a in api(prod, "/automations/filter", {})].count(name)


def assert_new_leads_in_once(prod, prefix: str, rows: int, files: int) -> None:
    """Every row of the files written by ``write_leads(..., prefix, ...)`` became one lead, through one
    stored batch per file."""
    assert db(prod, "select count(*) from leads where email like :p", p=prefix + "%")[0][0] == rows
    assert db(prod, "select count(*), sum(rows_read), sum(inserted), sum(merged), sum(quarantined) from ingest_batches "
                    "where origin like :o and status = 'done'", o=f"%{prefix}-%")[0] == (files, rows, rows, 0, 0)


def assert_nothing_duplicated(prod) -> None:
    """No lead has two active assignments; no outbox key was queued twice nor any message claimed twice."""
    assert db(prod, "select count(*) from (select lead_id from assignments where active group by lead_id "
                    "having count(*) > 1) t")[0][0] == 0
    assert db(prod, "select count(*) from (select key from notification_outbox group by key having count(*) > 1) t")[0][0] == 0
    assert db(prod, "select count(*) from notification_outbox where attempts > 1")[0][0] == 0


@pytest.mark.timeout(900)
def test_a_dead_worker_s_run_is_marked_crashed_by_the_automation_and_the_rerun_loses_nothing(prod):
    assert automations_named(prod, ZOMBIE["name"]) == 1
    prod["leadops"]("automations", "install")  # installing again updates the automation in place
    assert automations_named(prod, ZOMBIE["name"]) == 1
    inbox = prod["tmp"] / "var" / "inbox"
    write_leads(inbox, "crash", files=4, rows=750)
    before = db(prod, "select count(*) from leads")[0][0]
    run_id = trigger(prod, "lead-pipeline/lead-pipeline")
    # wait until the run has started storing rows, then kill the worker and its flow-run processes at once
    for _ in range(600):
        if db(prod, "select count(*) from ingest_batches where origin like '%crash-%'")[0][0] >= 1:
            break
        time.sleep(0.1)
    # prefect.yaml's job variable reached the flow run's processes: they beat every HEARTBEAT seconds
    envs = [environ(p) for p in descendants(prod["worker"].pid)]
    beat = {e.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY") for e in envs if e.get("PREFECT__FLOW_RUN_ID") == run_id}
    assert beat == {str(HEARTBEAT)}, beat
    kill_tree(prod["worker"].pid)
    killed_at = time.monotonic()
    partial = db(prod, "select count(*) from leads")[0][0] - before
    assert partial < 3000  # killed mid-run
    assert api(prod, f"/flow_runs/{run_id}")["state_type"] == "RUNNING"  # nothing told the server it died
    for _ in range(60):  # the run had sent a heartbeat: the automation watches it
        if heartbeats(prod, run_id):
            break
        time.sleep(1)
    else:
        pytest.fail("the flow run sent no heartbeat")
    # Nobody marks the run: the automation does, `within` seconds after the last heartbeat (at most
    # one heartbeat period before the kill), give or take its 5 s evaluation period.
    deadline = killed_at + ZOMBIE["trigger"]["within"] + HEARTBEAT + 60
    while (run := api(prod, f"/flow_runs/{run_id}"))["state_type"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(2)
    waited = time.monotonic() - killed_at
    assert run["state_type"] == "CRASHED", f"still {run['state_type']} {waited:.0f} s after the kill"
    assert ZOMBIE["name"] in run["state"]["message"]
    # by the missing heartbeats, not by anything else: the server's own clock shows the Crashed
    # state set no sooner than `within` seconds after the last heartbeat it received
    silence = datetime.fromisoformat(run["state"]["timestamp"]) - heartbeats(prod, run_id)[-1]
    assert silence.total_seconds() >= ZOMBIE["trigger"]["within"] - 5, silence
    print(f"zombie run marked Crashed {waited:.0f} s after its worker was killed")
    slot = api(prod, f"/deployments/{run['deployment_id']}")["global_concurrency_limit"]
    assert slot["limit"] == 1 and slot["active_slots"] == 0  # the crash freed the deployment's slot

    prod["worker"] = prod["start_worker"]("machine-a", "machine-a-2.log")
    [rerun] = wait_final(prod, [trigger(prod, "lead-pipeline/lead-pipeline")], timeout=900).values()
    assert rerun["state_type"] == "COMPLETED"
    # a healthy run beats (what the automation watches) and was left alone by it: it COMPLETED above
    assert heartbeats(prod, rerun["id"])
    assert db(prod, "select count(*) from leads")[0][0] - before == 3000  # every row in, once
    assert_new_leads_in_once(prod, "crash", rows=3000, files=4)  # the killed run's commits stand, the rerun did the rest
    assert not list(inbox.glob("crash-*.csv"))  # all moved out
    assert_nothing_duplicated(prod)
    # the automation marked the dead run only: every other run on this server completed
    others = [r for r in api(prod, "/flow_runs/filter", {}) if r["id"] != run_id]
    assert others and {r["state_type"] for r in others} == {"COMPLETED"}


@pytest.mark.timeout(900)
def test_the_pipeline_runs_with_prefect_and_leadops_on_postgresql(prod_pg):
    run_id = trigger(prod_pg, "lead-pipeline/lead-pipeline")
    run = wait_final(prod_pg, [run_id])[run_id]
    assert run["state_type"] == "COMPLETED", run["state"]["message"]
    assert run["labels"]["prefect.worker.name"] == "machine-a"
    # the server keeps its runs in its PostgreSQL database, leadops its tables in its schema
    prefect_db = create_engine(prod_pg["prefect_db"])
    with prefect_db.connect() as c:
        assert c.execute(text("select state_type::text from flow_run where id = cast(:id as uuid)"),
                         {"id": run_id}).scalar() == "COMPLETED"
    prefect_db.dispose()
    assert db(prod_pg, "select count(*) from information_schema.tables where table_schema = :s and table_name = 'leads'",
              s=prod_pg["schema"])[0][0] == 1

    arts = {a["key"]: a for a in api(prod_pg, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})}
    assert {"lead-pipeline-summary", "lead-pipeline-files", "lead-pipeline-sources", "lead-pipeline-assignments"} <= set(arts)
    files, unbalanced = db(prod_pg, "select count(*), sum(case when rows_read != inserted + merged + quarantined "
                                    "then 1 else 0 end) from ingest_batches where flow_run_id = :r and status = 'done'",
                           r=run_id)[0]
    assert files >= 6 and unbalanced == 0  # every row of every file (leads and activities) accounted for
    assert f"- files: **{files}** (0 rejected)" in arts["lead-pipeline-summary"]["data"]
    assert db(prod_pg, "select count(*) from leads")[0][0] > 1900
    assigned = db(prod_pg, "select count(*) from assignments where flow_run_id = :r and status = 'assigned'", r=run_id)[0][0]
    assert assigned > 0 and f"routing: {assigned:,} assigned" in arts["lead-pipeline-summary"]["data"]
    # each assignment of the run was announced once, keyed by the assignment, and sent
    assert db(prod_pg, "select count(*), sum(case when n.status = 'sent' then 1 else 0 end) from assignments a "
                       "join notification_outbox n on n.key = 'assignment:' || a.id "
                       "where a.flow_run_id = :r and a.status = 'assigned'", r=run_id)[0] == (assigned, assigned)
    assert_nothing_duplicated(prod_pg)


@pytest.mark.timeout(900)
def test_two_workers_run_overlapping_pipelines_and_no_lead_is_assigned_or_notified_twice(prod_pg):
    prod_pg["start_worker"]("machine-b", "machine-b.log")  # a second machine on the same pool
    for _ in range(60):
        online = {w["name"] for w in api(prod_pg, "/work_pools/leadops-process/workers/filter", {})
                  if w["status"] == "ONLINE"}
        if {"machine-a", "machine-b"} <= online:
            break
        time.sleep(1)
    else:
        pytest.fail(f"workers online: {online}")
    # lead-pipeline runs one at a time (concurrency_limit 1); a twin without the limit lets two runs
    # overlap, as they do when a zombie run's slot is freed while its machine is only cut off
    src = api(prod_pg, "/deployments/name/lead-pipeline/lead-pipeline")
    keep = ("flow_id", "entrypoint", "path", "pull_steps", "work_pool_name", "work_queue_name", "job_variables",
            "parameter_openapi_schema", "tags")
    api(prod_pg, "/deployments/", {**{k: src[k] for k in keep}, "name": "lead-pipeline-overlap"})
    tmp = prod_pg["tmp"]
    countries = ("France", "Germany", "United Kingdom", "United States", "Spain", "Netherlands")
    rows = sum(write_leads(tmp / v / "inbox", p, files=2, rows=250, countries=countries)
               for v, p in (("var-a", "ovla"), ("var-b", "ovlb")))
    run_ids = [trigger(prod_pg, "lead-pipeline/lead-pipeline-overlap", {"var_dir": str(tmp / v)})
               for v in ("var-a", "var-b")]
    runs = wait_final(prod_pg, run_ids).values()
    assert [r["state_type"] for r in runs] == ["COMPLETED", "COMPLETED"], [r["state"]["message"] for r in runs]

    # each machine ran one, at the same time
    assert sorted(r["labels"]["prefect.worker.name"] for r in runs) == ["machine-a", "machine-b"]
    start = max(datetime.fromisoformat(r["start_time"]) for r in runs)
    end = min(datetime.fromisoformat(r["end_time"]) for r in runs)
    assert start < end, f"the runs did not overlap: {start} .. {end}"
    print(f"two pipelines overlapped for {(end - start).total_seconds():.0f} s on machine-a and machine-b")
    # and their database work overlapped: tasks writing leads, assignments or the outbox ran side by side
    work = [writing_tasks(prod_pg, r["id"]) for r in runs]
    side_by_side = sorted({f"{a} | {b}" for a, a0, a1 in work[0] for b, b0, b1 in work[1] if a0 < b1 and b0 < a1})
    assert side_by_side, work
    print("tasks that ran side by side:", "; ".join(side_by_side))

    new = "email like 'ovl%'"
    assert_new_leads_in_once(prod_pg, "ovla", rows=500, files=2)
    assert_new_leads_in_once(prod_pg, "ovlb", rows=500, files=2)
    # every new lead (all hand-raisers: MQL at once) is accounted for: assigned or in the fallback queue
    status = dict(db(prod_pg, f"select routing_status, count(*) from leads where {new} group by routing_status"))
    assert set(status) <= {"assigned", "unroutable", "held"} and sum(status.values()) == rows
    assert status.get("assigned", 0) > 0, status
    assert db(prod_pg, f"select count(*) from leads where {new} and lifecycle_stage != 'mql'")[0][0] == 0
    # each decision was taken once: one 'assigned' row per assigned lead (none ended and redone), owned
    # by the SDR of its active assignment; one audit row per lead left unroutable
    assert db(prod_pg, f"""
        select count(*) from leads l where {new} and (
          (select count(*) from assignments a where a.lead_id = l.id and a.status = 'assigned')
            != case when l.routing_status = 'assigned' then 1 else 0 end
          or (select count(*) from assignments a where a.lead_id = l.id and a.status = 'unroutable')
            != case when l.routing_status = 'unroutable' then 1 else 0 end)""")[0][0] == 0
    assert db(prod_pg, f"select count(*) from leads l join assignments a on a.lead_id = l.id and a.active "
                       f"where l.{new} and a.sdr_id is distinct from l.owner_sdr_id")[0][0] == 0
    assert db(prod_pg, f"select count(*) from leads l join assignments a on a.lead_id = l.id "
                       f"where l.{new} and a.status = 'assigned' and "
                       f"(select count(*) from sla_clocks c where c.assignment_id = a.id) != 1")[0][0] == 0
    # each lead entered MQL once (scoring in both runs did not promote it twice)
    assert db(prod_pg, f"select count(*) from (select h.lead_id from lead_stage_history h join leads l on l.id = h.lead_id "
                       f"where l.{new} and h.to_stage = 'mql' group by h.lead_id having count(*) != 1) t")[0][0] == 0
    # notifications: one per assignment (keyed by it), one per manager per unroutable lead
    notes = Counter(dict(db(prod_pg, f"select n.kind, count(*) from notification_outbox n join leads l on l.id = n.lead_id "
                                     f"where l.{new} group by n.kind")))
    managers = db(prod_pg, "select count(*) from sdrs where role = 'manager' and active")[0][0]
    assert notes == Counter({"assignment": status.get("assigned", 0),
                             "unroutable_alert": managers * status.get("unroutable", 0)}) - Counter()
    assert_nothing_duplicated(prod_pg)
    # and none was written twice: the file sender names each .eml by its key, in the folder of the run that sent it
    sent = [p.name for v in ("var", "var-a", "var-b") for p in (tmp / v / "outbox").glob("*.eml")]
    assert len(sent) == len(set(sent))
    assert len(sent) == db(prod_pg, "select count(*) from notification_outbox where status = 'sent' and channel = 'email'")[0][0]
