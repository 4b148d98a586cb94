"""The CRM path as a user takes it (docs/how-to/hubspot.md, salesforce.md): register the credential block types,
save a HubSpot block, set Salesforce's environment, add both connectors to sources.yaml, `leadops crm check`, then
`leadops run crm-sync --json` against the session's Prefect API and the loopback CRMs: leads read, routed and written
back, with the run's artifacts. Then both CRMs fail while echoing the credentials in every encoding: the run fails
with one line naming both, and no secret is in any output, log, artifact, state, file or table.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT
from tests.e2e.test_demo_cli import LEADOPS, env_for
from tests.flows.test_flows import read_artifact
from tests.flows.test_secret_echo_flow import _prefect_texts
from tests.support.crm.hubspot_server import HubSpotServer
from tests.support.crm.salesforce_server import SalesforceServer
from tests.support.echo import database_text, files_text, leaks

HS_TOKEN = 'pat-na1-"blk+é=&% \\77-HubSpot-x1Rw'
SF_TOKEN = '00DENV!AQ4"env+ü=&% \\11-Salesforce-a7Qz'
PREFECT = str(Path(sys.executable).parent / "prefect")


def _project(tmp_path, hs, sf):
    cfg = tmp_path / "config"
    shutil.copytree(ROOT / "config", cfg)
    sources = yaml.safe_load((cfg / "sources.yaml").read_text(encoding="utf-8"))
    sources["crm"] = [
        {"name": "hubspot", "kind": "hubspot", "base_url": hs.url, "credentials_block": "hubspot-prod",
         "source": "demo_request", "activities": ["calls"], "max_retries": 1},
        {"name": "salesforce", "kind": "salesforce", "source": "contact_sales", "activities": ["Task"], "max_retries": 1},
    ]
    (cfg / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
    return cfg


def test_crm_sync_as_documented_then_failures_that_show_no_secret(tmp_path, rules):
    from prefect.settings import PREFECT_API_URL

    with HubSpotServer(tokens=[HS_TOKEN]) as hs, SalesforceServer(SF_TOKEN, echo_auth=True) as sf:
        people = [p for p in rules.roster.people if p.role == "sdr"]
        for p in people:
            hs.add_owner(p.email)
            sf.add("User", {"Email": p.email, "IsActive": True, "Name": p.name})
        contact = hs.add("contacts", {"email": "jane@acme-industrial.fr", "firstname": "Jane", "lastname": "Doe",
                                      "company": "Acme Industrial", "jobtitle": "VP Engineering", "country": "France"})
        sf.add("Lead", {"Email": "paul@durand-logiciel.fr", "FirstName": "Paul", "LastName": "Durand",
                        "Company": "Logiciel Durand", "Title": "CTO", "Country": "France", "IsConverted": False})
        cfg = _project(tmp_path, hs, sf)
        env = env_for(tmp_path, LEADOPS_CONFIG_DIR=str(cfg), PREFECT_API_URL=PREFECT_API_URL.value(),
                      SALESFORCE_INSTANCE_URL=sf.url, SALESFORCE_ACCESS_TOKEN=SF_TOKEN)

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(list(args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

        # the documented steps: register the block types, save a block (Python), check, sync
        registered = run(PREFECT, "block", "register", "-m", "leadops.crm.credentials")
        assert registered.returncode == 0, registered.stdout + registered.stderr
        saved = run(sys.executable, "-c", "from leadops.crm.credentials import HubSpotCredentials as H; "
                    f"H(access_token={HS_TOKEN!r}).save('hubspot-prod', overwrite=True)")
        assert saved.returncode == 0, saved.stderr
        check = run(LEADOPS, "crm", "check", "--json")
        assert check.returncode == 0, check.stderr[-3000:]
        assert [c["ok"] for c in json.loads(check.stdout)["connectors"]] == [True, True]
        first = run(LEADOPS, "run", "crm-sync", "--json")
        assert first.returncode == 0, first.stderr[-3000:]
        out = json.loads(first.stdout)
        assert (out["read"], out["created"], out["routed"], out["written"]) == (2, 2, 2, 2)
        assert hs.get("contacts", contact)["properties"]["leadops_stage"] == "mql"
        objects = read_artifact("crm-sync-objects", out["flow_run_id"])
        assert {(r["connector"], r["object"]) for r in objects.data and json.loads(objects.data)} >= {
            ("hubspot", "contacts"), ("hubspot", "calls"), ("salesforce", "Lead"), ("salesforce", "Task")}
        assert read_artifact("crm-sync-write-back", out["flow_run_id"]) is not None
        summary = read_artifact("crm-sync-summary", out["flow_run_id"]).data
        assert "read requests (search)" in summary and "write-back requests (default)" in summary

        # now both fail, echoing what they were sent: HubSpot with 500s, Salesforce with an expired session
        hs.fail_next(20, 500, echo=True)
        sf.expire(SF_TOKEN)
        second = run(LEADOPS, "run", "crm-sync")
    last = second.stderr.strip().splitlines()[-1]
    assert second.returncode == 1 and last.startswith("leadops: error: "), second.stderr[-3000:]
    assert "hubspot read" in last and "HTTP 500" in last and "salesforce read" in last and "401" in last

    prefect = asyncio.run(_prefect_texts())
    places = {
        "stdout and stderr": "\n".join(p.stdout + p.stderr for p in (check, first, second)),
        "Prefect logs, artifacts and states": prefect,
        "files under var/ and PREFECT_HOME": files_text(tmp_path / "var") + files_text(tmp_path / ".prefect"),
        "database": database_text(env["LEADOPS_DATABASE_URL"]),
    }
    secrets = {"HubSpot block token": HS_TOKEN, "Salesforce env token": SF_TOKEN}
    found = {(place, name): leaks(text, secret) for place, text in places.items() for name, secret in secrets.items()}
    assert {k: v for k, v in found.items() if v} == {}
