"""Slack as a user sets it up (docs/how-to/slack.md): register prefect-slack's block types, save a SlackCredentials
block, turn Slack on in notify.yaml, `leadops slack check`, then `leadops run pipeline --json` against the session's
Prefect API and a Slack workspace on loopback. The rep Slack knows gets a direct message; the one it does not
gets the email, and the run's `notification-delivery` artifact says so. The token is in no output, log, artifact,
file or table.
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
from tests.support.echo import database_text, files_text, leaks
from tests.support.slack_server import SlackServer

TOKEN = "xoxb-1234567890-flow-Secret+é/Token"
PREFECT = str(Path(sys.executable).parent / "prefect")
CSV = (
    "Email,First Name,Last Name,Company,Job Title,Country,Source\n"
    "lea@atelier-numerique.fr,Léa,Martin,Atelier Numérique SAS,DSI,France,demo_request\n"
    "jack@harrowfinchconsulting.co.uk,Jack,Hill,Harrow & Finch Consulting LLP,CTO,United Kingdom,demo_request\n"
)


def test_slack_as_documented_a_direct_message_and_an_email_for_the_rep_slack_does_not_know(tmp_path, rules):
    from prefect.settings import PREFECT_API_URL

    with SlackServer(tokens={TOKEN}, post_interval=0) as slack:
        cfg = tmp_path / "config"
        shutil.copytree(ROOT / "config", cfg)
        (cfg / "notify.yaml").write_text(yaml.safe_dump({"slack": {
            "enabled": True, "credentials_block": "leadops-slack", "api_url": slack.api_url}}), encoding="utf-8")
        # Slack knows the French team and its manager, not the UK one
        for p in rules.roster.people:
            if p.team == "france":
                slack.add_user(p.email, p.name)
        env = env_for(tmp_path, LEADOPS_CONFIG_DIR=str(cfg), PREFECT_API_URL=PREFECT_API_URL.value())
        inbox = tmp_path / "var" / "inbox"
        inbox.mkdir(parents=True)
        (inbox / "webform.csv").write_text(CSV, encoding="utf-8")

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(list(args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

        registered = run(PREFECT, "block", "register", "-m", "prefect_slack")
        assert registered.returncode == 0, registered.stdout + registered.stderr
        saved = run(sys.executable, "-c", "from prefect_slack import SlackCredentials as S; "
                    f"S(token={TOKEN!r}).save('leadops-slack', overwrite=True)")
        assert saved.returncode == 0, saved.stderr
        check = run(LEADOPS, "slack", "check", "--json")
        assert check.returncode == 0, check.stderr[-3000:]
        checked = json.loads(check.stdout)
        assert checked["ok"] and "leadops-test" in checked["detail"]
        assert set(checked["unknown"]) == {p.code for p in rules.roster.people if p.active and p.team != "france"}

        pipeline = run(LEADOPS, "run", "pipeline", "--json")
        assert pipeline.returncode == 0, pipeline.stderr[-3000:]
        out = json.loads(pipeline.stdout)
        assert out["routed"] == 2, out

        # the French rep: a direct message, no email
        posted = [m for m in slack.messages if m["text"].startswith("New lead for you: Léa Martin")]
        assert len(posted) == 1 and posted[0]["blocks"][0]["type"] == "header"
        # the UK rep: not in Slack, so the email, and the artifact says why
        delivery = read_artifact("notification-delivery", out["flow_run_id"])
        assert delivery is not None
        table = json.loads(delivery.data)
        fell = [r for r in table if r["what"].startswith("fell back: assignment to email:")]
        assert len(fell) == 1 and "no Slack member with email" in fell[0]["detail"], table
        uk_rep = fell[0]["what"].removeprefix("fell back: assignment to email:")
        assert fell[0]["detail"].startswith(f"email to {uk_rep}: ")
        emails = list((tmp_path / "var" / "outbox").glob("*.eml"))
        assert [e for e in emails if uk_rep in e.read_text()] and len(emails) == 1
        assert {"what": "sent by slack", "count": "1", "detail": ""} in table
        assert {"what": "sent by email", "count": "1", "detail": ""} in table

    prefect = asyncio.run(_prefect_texts())
    places = {
        "stdout and stderr": "\n".join(p.stdout + p.stderr for p in (registered, saved, check, pipeline)),
        "Prefect logs, artifacts and states": prefect,
        "files under var/": files_text(tmp_path / "var"),
        "database": database_text(env["LEADOPS_DATABASE_URL"]),
    }
    found = {place: leaks(text, TOKEN) for place, text in places.items()}
    assert {k: v for k, v in found.items() if v} == {}
