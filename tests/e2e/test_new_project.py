"""A new user's path, as the README writes it: `leadops init` in an empty folder, a roster of two SDRs, a
lead file of one's own, then production: a real `prefect server`, the work pool, `prefect deploy --all`, a
worker, and one *scheduled* pipeline run that assigns the lead and notifies its SDR; then `leadops serve`
on the same server, over the deployments `prefect deploy` created, runs the pipeline too.

The commands run are those of the README's "Your own project" and "Production" blocks: the test reads
them from README.md and fails if the two drift apart.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from leadops.deployments.server_health import wait_healthy
from tests.e2e.test_prefect_server import free_port, stop_tree

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

ROSTER = """\
people:
  - {code: m.martin, name: "Marie Martin", email: marie.martin@acme.test, role: manager, time_zone: Europe/Paris,
     holiday_country: FR}
  - {code: s.petit, name: "Léa Petit", email: lea.petit@acme.test, manager: m.martin, holiday_country: FR, territories: [FR]}
  - {code: s.smith, name: "Sam Smith", email: sam.smith@acme.test, manager: m.martin, time_zone: Europe/London, holiday_country: GB}
"""
LEADS = """\
email,first_name,last_name,company,job_title,country,source
jane.doe@acme-industrial.de,Jane,Doe,Acme Industrial,VP Engineering,DE,demo_request
"""
MORE_LEADS = """\
email,first_name,last_name,company,job_title,country,source
paul.durand@logiciel-durand.fr,Paul,Durand,Logiciel Durand,CTO,FR,contact_sales
"""


def readme_block(heading: str) -> list[str]:
    """Return the commands of the first ```sh block under ``heading`` (comments and blank lines dropped)."""
    section = README.split(heading, 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")]


@pytest.fixture
def user(tmp_path):
    """Yield a shell-like runner: a clean environment (no LEADOPS_*), leadops and prefect on PATH."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_"))}
    env.update({
        "PATH": f"{BIN}:{env.get('PATH', '')}", "PREFECT_HOME": str(tmp_path / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
        # only speeds: the scheduler looks for deployments to schedule every 5 s (default 60), workers poll
        # every 2 s (default 10); the commands are the README's
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5", "PREFECT_WORKER_QUERY_SECONDS": "2",
    })
    procs: list[subprocess.Popen] = []

    def run(line: str, cwd: Path, timeout: float = 300) -> str:
        line = line.replace("127.0.0.1:4200", f"127.0.0.1:{port}")
        proc = subprocess.run(line, shell=True, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              executable="/bin/bash")
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout

    def background(line: str, cwd: Path, log: str) -> subprocess.Popen:
        line = line.replace("127.0.0.1:4200", f"127.0.0.1:{port}")
        if line.startswith("prefect server start"):
            line += f" --port {port}"
        with open(tmp_path / log, "w") as out:  # the child holds its own copy of the descriptor
            p = subprocess.Popen(line, shell=True, env=env, cwd=cwd, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True, executable="/bin/bash")
        procs.append(p)
        return p

    try:
        yield {"run": run, "background": background, "stop": stop_tree, "env": env, "port": port, "tmp": tmp_path}
    finally:
        for p in reversed(procs):
            stop_tree(p)


def api(port: int, path: str, body: dict | None = None):
    url = f"http://127.0.0.1:{port}/api{path}"
    resp = requests.get(url, timeout=30) if body is None else requests.post(url, json=body, timeout=30)
    resp.raise_for_status()
    return resp.json()


def pipeline_runs(port: int) -> list[dict]:
    dep = api(port, "/deployments/name/lead-pipeline/lead-pipeline")
    return api(port, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [dep["id"]]}},
                                          "sort": "EXPECTED_START_TIME_ASC"})


def wait_for(what, predicate, timeout: float, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{log.read_text()[-3000:]}" if log else ""))


def leads(project: Path) -> dict[str, tuple]:
    engine = create_engine(f"sqlite:///{project / 'leadops.db'}")
    try:
        with engine.connect() as c:
            return {email: (owner, n) for email, owner, n in c.execute(text(
                "SELECT l.email, s.code, (SELECT count(*) FROM notification_outbox o WHERE o.status = 'sent' "
                " AND o.recipient = s.email) FROM leads l LEFT JOIN sdrs s ON s.id = l.owner_sdr_id"))}
    finally:
        engine.dispose()


def test_readme_path_from_an_empty_folder_to_a_scheduled_run_then_serve(user):
    tmp, run, background = user["tmp"], user["run"], user["background"]
    own = [line for line in readme_block("## Your own project") if not line.startswith("source ")]  # PATH is set
    prod = readme_block("## Production")
    assert own[0].startswith("leadops init "), own
    project = tmp / own[0].split()[2].replace("~/", "")
    own[0] = f"leadops init {project}"

    # --- your own project: init, the roster, a lead file, checks that need no Prefect server
    run(own[0], tmp)
    assert (project / "leadops.yaml").is_file()
    (project / "config" / "sdrs.yaml").write_text(ROSTER, encoding="utf-8")
    for line in own[1:]:
        if line.startswith(("cd ", "$EDITOR")):  # the roster was written above
            continue
        if line.startswith("cp ") and "var/inbox" in line:  # the user's own lead file
            (project / "var" / "inbox" / "leads-2026-12.csv").write_text(LEADS, encoding="utf-8")
            continue
        if line.startswith("leadops run pipeline"):
            continue  # that runs in production below, on a schedule
        out = run(line, project / "config")  # anywhere inside the project folder
        if line == "leadops roster sync --dry-run":
            assert "3 added" in out and "dry run, nothing written" in out
    assert set(leads(project)) == set()  # nothing ingested yet

    # --- production, literally: server, pool, deploy, automations, worker
    assert any(line.startswith("prefect server start") for line in prod)
    worker = None
    for line in prod:
        if line.startswith("export "):
            for pair in line.removeprefix("export ").split():
                key, value = pair.split("=", 1)
                user["env"][key] = value.replace("127.0.0.1:4200", f"127.0.0.1:{user['port']}")
        elif line.startswith("prefect server start"):
            server = background(line, project, "server.log")
            wait_healthy(f"http://127.0.0.1:{user['port']}/api", tmp / "server.log", server, timeout=180)
        elif line.startswith("prefect worker start"):
            worker = background(line, tmp, "worker.log")  # the pull step, not the cwd, finds the project
        else:
            run(line, project)
    assert worker is not None

    # one scheduled run (not triggered by us) completes and routes the lead to one of the two SDRs
    def completed_scheduled():
        return [r for r in pipeline_runs(user["port"]) if r["auto_scheduled"] and r["state_type"] == "COMPLETED"]

    def failed():
        bad = [r for r in pipeline_runs(user["port"]) if r["state_type"] in ("FAILED", "CRASHED")]
        assert not bad, f"{bad[0]['name']}: {bad[0]['state']['message']}\n{(tmp / 'worker.log').read_text()[-3000:]}"
        return completed_scheduled()

    [first, *_] = wait_for("a scheduled lead-pipeline run to complete", failed, 300, tmp / "worker.log")
    assert re.fullmatch(r"lead-pipeline-\d{4}-\d\d-\d\dT\d\d:\d\d", first["name"]), first["name"]
    owner, notified = leads(project)["jane.doe@acme-industrial.de"]
    assert owner in {"s.petit", "s.smith"}
    assert notified >= 1, "the assignment was announced to its SDR"
    assert list((project / "var" / "outbox").glob("*.eml")), "notifications written under the project's var/"

    # --- `leadops serve` on a server where `prefect deploy --all` ran first: served runs must not crash
    user["stop"](worker)
    (project / "var" / "inbox" / "more-2026-12.csv").write_text(MORE_LEADS, encoding="utf-8")
    background("leadops serve", project, "serve.log")

    def served_ok():
        runs = [r for r in pipeline_runs(user["port"]) if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")
                and r["id"] != first["id"] and "paul.durand@logiciel-durand.fr" in leads(project)]
        crashed = [r for r in runs if r["state_type"] != "COMPLETED"]
        assert not crashed, f"{crashed[0]['state']['message']}\n{(tmp / 'serve.log').read_text()[-3000:]}"
        return runs

    wait_for("the served deployment to register", lambda: "lead-pipeline" in (tmp / "serve.log").read_text()
             or api(user["port"], "/deployments/name/lead-pipeline/lead-pipeline")["work_pool_name"] is None,
             120, tmp / "serve.log")
    run("prefect deployment run lead-pipeline/lead-pipeline", project)
    wait_for("a served lead-pipeline run", served_ok, 300, tmp / "serve.log")
    owner2, _ = leads(project)["paul.durand@logiciel-durand.fr"]
    assert owner2 in {"s.petit", "s.smith"}
    assert json.loads(run("leadops roster sync --dry-run --json", project))["added"] == 0
