"""Run it like production: a real Prefect server, deployments from prefect.yaml, process workers,
runs triggered through the API; reruns and a worker killed mid-run lose and duplicate nothing."""
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    """A Prefect server (scheduler off: runs only when triggered), the pool, every deployment, one worker."""
    tmp = tmp_path_factory.mktemp("prod")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_"))}
    env.update({
        "PREFECT_HOME": str(tmp / ".prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "LEADOPS_DATABASE_URL": f"sqlite:///{tmp / 'leadops.db'}", "LEADOPS_VAR_DIR": str(tmp / "var"),
        "LEADOPS_CONFIG_DIR": str(ROOT / "config"), "LEADOPS_EXPECTATIONS_DIR": str(ROOT / "expectations"),
        "LEADOPS_HOME": str(ROOT),
    })
    procs = []

    def start(*args, log):
        p = subprocess.Popen([str(BIN / "prefect"), *args], env=env, cwd=ROOT, stdout=open(tmp / log, "w"),
                             stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(p)
        return p

    start("server", "start", "--host", "127.0.0.1", "--port", str(port), log="server.log")
    for _ in range(120):
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/health", timeout=1).ok:
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    else:
        pytest.fail("the Prefect server did not start: " + (tmp / "server.log").read_text()[-2000:])

    def cli(*args, timeout=300):
        proc = subprocess.run([str(BIN / "prefect"), "--no-prompt", *args], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    cli("work-pool", "create", "leadops-process", "--type", "process")
    cli("deploy", "--all")
    subprocess.run([str(BIN / "leadops"), "seed", "--anchor", "2026-11-23"], env=env, check=True, capture_output=True,
                   timeout=300)
    state = {"env": env, "tmp": tmp, "cli": cli, "port": port, "worker": start("worker", "start", "--pool",
                                                                               "leadops-process", log="worker1.log"),
             "start": start}
    yield state
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def db(prod, sql):
    with sqlite3.connect(prod["tmp"] / "leadops.db") as c:
        return c.execute(sql).fetchall()


def api(prod, path, body):
    resp = requests.post(f"http://127.0.0.1:{prod['port']}/api{path}", json=body, timeout=30)
    resp.raise_for_status()
    return resp.json()


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
    assert leads > 1900 and active > 1800 and notes > 0
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


@pytest.mark.timeout(900)
def test_a_worker_killed_mid_run_loses_and_duplicates_nothing_on_the_rerun(prod):
    inbox = prod["tmp"] / "var" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    rows = ["Email,First Name,Last Name,Country,Source"] + [
        f"k{i}@kill{i}.fr,Kim{i},Lee{i},France,demo_request" for i in range(3000)]
    for n in range(4):
        (inbox / f"crash-{n}.csv").write_text("\n".join(rows[:1] + rows[1 + n * 750:1 + (n + 1) * 750]) + "\n",
                                              encoding="utf-8")
    before = db(prod, "select count(*) from leads")[0][0]
    trigger = subprocess.run([str(BIN / "prefect"), "--no-prompt", "deployment", "run", "lead-pipeline/lead-pipeline"],
                             env=prod["env"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert trigger.returncode == 0, trigger.stderr
    # wait until the run has started storing rows, then kill the worker and its flow run process
    for _ in range(600):
        if db(prod, "select count(*) from ingest_batches where origin like '%crash-%'")[0][0] >= 1:
            break
        time.sleep(0.1)
    os.killpg(prod["worker"].pid, signal.SIGKILL)
    subprocess.run(["pkill", "-9", "-f", "prefect.engine"], check=False)
    time.sleep(1)
    partial = db(prod, "select count(*) from leads")[0][0] - before
    assert partial < 3000  # killed mid-run
    # the dead run still holds the deployment's concurrency slot: mark it crashed, as ops do in the UI
    running = api(prod, "/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["RUNNING", "PENDING"]}}}})
    assert running, "the killed run should still look running"
    for run in running:
        api(prod, f"/flow_runs/{run['id']}/set_state",
            {"state": {"type": "CRASHED", "message": "worker killed (test)"}, "force": True})
    prod["worker"] = prod["start"]("worker", "start", "--pool", "leadops-process", log="worker2.log")
    out = prod["cli"]("deployment", "run", "lead-pipeline/lead-pipeline", "--watch", timeout=900)
    assert "Completed" in out
    assert db(prod, "select count(*) from leads")[0][0] - before == 3000  # every row in, once
    assert db(prod, "select count(*) from (select lead_id from assignments where active group by lead_id having count(*) > 1)")[0][0] == 0
    assert db(prod, "select count(*) from (select key from notification_outbox group by key having count(*) > 1)")[0][0] == 0
    assert not list(inbox.glob("crash-*.csv"))  # all moved out
    # each file was stored by exactly one batch (the killed run's commits stand, the rerun did the rest)
    assert db(prod, "select count(*), sum(inserted) from ingest_batches where origin like '%crash-%' "
                    "and status = 'done'")[0] == (4, 3000)
