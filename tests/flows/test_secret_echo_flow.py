"""No echoed secret anywhere, as a user meets it (issue 19, item 3): `leadops run pipeline`, `enrich` and
`explain --json` run as subprocesses against the session's Prefect API, with two CRM API sources (token
from the environment, token from a Prefect Secret block) and an enrichment provider whose servers repeat
the credentials in every encoding. Then stdout, stderr, every Prefect log, artifact and run state
message (read back through the Prefect client), every file under var/ and PREFECT_HOME, and every
column of every table are searched for each encoding of each secret: nothing is found.
"""
import asyncio
import json
import shutil
import subprocess

import yaml

from tests.conftest import ROOT
from tests.e2e.test_demo_cli import LEADOPS, env_for
from tests.support.crm_server import FakeCrm
from tests.support.echo import TOKEN, database_text, files_text, leaks
from tests.support.firmo_server import FirmoServer

ENV_TOKEN = 'crm/"env+ü=&% \\11-Env-Token-a7Qz'
BLOCK_TOKEN = 'blk/"tok+é=&% \\77-Secret-Block-x1Rw'
SECRETS = {"provider key": TOKEN, "env token": ENV_TOKEN, "Secret block token": BLOCK_TOKEN}


async def _prefect_texts() -> str:
    """Every log line, artifact and flow/task run state message the Prefect API holds, as one text."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        logs = await client.read_logs(limit=200)
        offset = 200
        while True:  # read every page: the session's API holds other tests' runs too
            more = await client.read_logs(limit=200, offset=offset)
            if not more:
                break
            logs += more
            offset += 200
        artifacts = await client.read_artifacts()
        flow_runs = await client.read_flow_runs()
        task_runs = await client.read_task_runs()
    parts = [log.message for log in logs]
    parts += [json.dumps(a.data, default=str) + str(a.description) for a in artifacts]
    parts += [f"{r.name} {r.state.message if r.state else ''}" for r in [*flow_runs, *task_runs]]
    return "\n".join(parts)


def test_pipeline_enrich_and_explain_show_and_store_no_echoed_secret(tmp_path):
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL

    Secret(value=BLOCK_TOKEN).save("crm-echo-token", overwrite=True)
    cfg = tmp_path / "config"
    shutil.copytree(ROOT / "config", cfg)
    with FakeCrm(ENV_TOKEN) as crm_env, FakeCrm(BLOCK_TOKEN) as crm_block, FirmoServer(TOKEN) as firmo:
        crm_env.echo(401)
        crm_block.echo(500)
        firmo.echo(500)
        sources = yaml.safe_load((cfg / "sources.yaml").read_text(encoding="utf-8"))
        sources["apis"] = [
            {"name": "crm-env", "url": crm_env.url, "records_path": "data", "token_env": "CRM_TOKEN",
             "source": "web_form", "max_retries": 1},
            {"name": "crm-block", "url": crm_block.url, "records_path": "data", "token_secret_block": "crm-echo-token",
             "source": "web_form", "max_retries": 1},
        ]
        sources["providers"] = [{"name": "clearbit", "preset": "clearbit", "base_url": firmo.base,
                                 "token_env": "FIRMO_KEY", "max_retries": 1, "circuit_failures": 1}]
        (cfg / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
        env = env_for(tmp_path, LEADOPS_CONFIG_DIR=str(cfg), CRM_TOKEN=ENV_TOKEN, FIRMO_KEY=TOKEN,
                      PREFECT_API_URL=PREFECT_API_URL.value())
        inbox = tmp_path / "var" / "inbox"
        inbox.mkdir(parents=True)
        (inbox / "leads.csv").write_text("Email,First Name,Last Name\nana@acme.fr,Ana,Lopez\n", encoding="utf-8")

        def leadops(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([LEADOPS, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

        pipeline = leadops("run", "pipeline", "--json")
        enrich = leadops("enrich", "--json")
        explain = leadops("explain", "ana@acme.fr", "--json")

    # the runs did meet the echoing servers, and say so
    last = pipeline.stderr.strip().splitlines()[-1]  # Prefect's console lines come first
    assert pipeline.returncode == 1 and last.startswith("leadops: error: "), pipeline.stderr[-3000:]
    assert "crm-env" in last and "HTTP 401" in last and "crm-block" in last and "HTTP 500" in last
    assert enrich.returncode == 0 and json.loads(enrich.stdout)["errors"] == 1, enrich.stderr[-3000:]
    assert explain.returncode == 0 and "circuit open" in explain.stdout, explain.stderr[-3000:]
    assert crm_env.log and crm_block.log and firmo.log

    prefect = asyncio.run(_prefect_texts())
    assert "crm-env" in prefect and "HTTP 401" in prefect  # the validation artifact and the run's failure
    places = {
        "stdout and stderr": "\n".join(p.stdout + p.stderr for p in (pipeline, enrich, explain)),
        "Prefect logs, artifacts and states": prefect,
        "files under var/ and PREFECT_HOME": files_text(tmp_path / "var") + files_text(tmp_path / ".prefect"),
        "database": database_text(env["LEADOPS_DATABASE_URL"]),
    }
    found = {(place, name): leaks(text, secret) for place, text in places.items() for name, secret in SECRETS.items()}
    assert {k: v for k, v in found.items() if v} == {}
