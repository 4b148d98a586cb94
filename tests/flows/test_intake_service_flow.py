"""The intake service observed in Prefect (the session's API): its periodic `intake-service-summary` runs carry the
window's counts as artifacts, a routed lead emits `leadops.lead.routed`, and a service with a stopped thread ends
its summary Failed, which the shipped automation reacts to."""
from __future__ import annotations

import json
import os

from tests.integration.test_realtime_intake import LEA, SECRET, _free_port, post, wait_for, with_webhooks


def _summary_runs() -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["intake-service-summary"])))


def _routed_events() -> list:
    from prefect import get_client
    from prefect.events.filters import EventFilter, EventNameFilter

    with get_client(sync_client=True) as client:
        return client.read_events(filter=EventFilter(event=EventNameFilter(name=["leadops.lead.routed"])), limit=50).events


def test_the_service_reports_each_window_as_a_flow_run_and_fails_it_when_unhealthy(settings, rules, roster):
    import threading

    import uvicorn

    from leadops.realtime.app import create_app
    from tests.flows.test_flows import read_artifact

    from datetime import UTC, datetime

    before = {r.id for r in _summary_runs()}
    started = datetime.now(UTC)
    app = create_app(settings, with_webhooks(rules), {"web-form": SECRET, "signed": SECRET, "salesforce": SECRET},
                     router_idle_seconds=0.5, summary_every=2)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server.started)
        assert post(f"http://127.0.0.1:{port}/v1/leads", LEA).status_code == 202

        def windows_with_the_lead():
            """The new windows' (run, rows) once they have counted the lead accepted and routed: one window
            or two (on a loaded machine routing can end in the window after the one that accepted it)."""
            windows = []
            for run in _summary_runs():
                if run.id in before or run.state is None or not run.state.is_completed():
                    continue
                art = read_artifact("intake-service-window", str(run.id))
                windows.append((run, {r["what"]: r["value"] for r in json.loads(art.data)} if art else {}))
            accepted = sum(int(rows.get("leads_accepted", 0)) for _, rows in windows)
            routed = [(run, rows) for run, rows in windows if rows.get("routed") == "1"]
            return (accepted, routed) if accepted == 1 and len(routed) == 1 else None
        found = wait_for(windows_with_the_lead, 90)
        assert found, [(r.name, r.state.name if r.state else None) for r in _summary_runs()]
        _, [(run, rows)] = found
        assert run.name.startswith("intake-service-") and rows["healthy"] is True
        assert "1 routed" in run.state.message
        # the routed lead is an event of the Event Feed, with its SDR as related resource
        events = wait_for(lambda: [e for e in _routed_events() if e.occurred >= started], 60)
        assert events, "no leadops.lead.routed event"
        [e] = events
        assert e.resource.id.startswith("leadops.lead.") and e.payload["path"] == "real-time"
        assert next(r.id for r in e.related if r.role == "sdr").startswith("leadops.sdr.s.")

        app.state.service.router.stop()  # a stopped routing thread: the next window is unhealthy
        failed = wait_for(lambda: [r for r in _summary_runs() if r.id not in before and r.state and r.state.is_failed()],
                          60)
        assert failed and "unhealthy: thread(s) stopped: intake-router" in failed[0].state.message
    finally:
        server.should_exit = True
        thread.join(timeout=90)
    service = app.state.service
    assert not service.router._thread.is_alive() and not service.group._thread.is_alive()


def test_the_shipped_automations_watch_the_summary_runs():
    from leadops.deployments.automations import load

    found = {a.name: a for a in load()}
    stopped, unhealthy = found["leadops-intake-service-stopped"], found["leadops-intake-service-unhealthy"]
    assert stopped.trigger.posture == "Proactive" and stopped.trigger.after == {"prefect.flow-run.Completed"}
    assert stopped.trigger.expect == {"prefect.flow-run.Completed"} and stopped.trigger.within.total_seconds() == 900
    assert unhealthy.trigger.posture == "Reactive" and unhealthy.trigger.expect == {"prefect.flow-run.Failed"}
    for a in (stopped, unhealthy):
        assert a.trigger.match_related.root == {"prefect.resource.role": "flow",
                                                "prefect.resource.name": "intake-service-summary"}


def test_leadops_serve_runs_the_intake_service_beside_the_flows(tmp_path):
    """`leadops serve --intake-port` (documented in docs/how-to/realtime-intake.md): the served deployments and the
    intake service in one process; a post is answered 202 and its SDR's email lands in the outbox."""
    import shutil
    import signal
    import subprocess

    import requests
    import yaml
    from prefect.settings import PREFECT_API_URL

    from tests.conftest import ROOT
    from tests.e2e.test_demo_cli import LEADOPS, env_for

    cfg = tmp_path / "config"
    shutil.copytree(ROOT / "config", cfg)
    sources = yaml.safe_load((cfg / "sources.yaml").read_text(encoding="utf-8"))
    sources["webhooks"] = [{"name": "web-form", "source": "demo_request"}]
    (cfg / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    spec["deployments"] = [d for d in spec["deployments"] if d["name"] == "explain-lead"]  # nothing scheduled
    (tmp_path / "prefect.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    port = _free_port()
    env = env_for(tmp_path, LEADOPS_CONFIG_DIR=str(cfg), LEADOPS_INTAKE_SECRET=SECRET,
                  PREFECT_API_URL=PREFECT_API_URL.value())
    proc = subprocess.Popen([LEADOPS, "serve", "--prefect-yaml", str(tmp_path / "prefect.yaml"), "--intake-port",
                             str(port)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        def up() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
            except requests.ConnectionError:
                return False
        assert wait_for(up, 120), proc.stderr.read() if proc.poll() is not None else "not listening"
        assert post(f"http://127.0.0.1:{port}/v1/leads", {k: v for k, v in LEA.items() if k != "source"}
                    ).status_code == 202
        outbox = tmp_path / "var" / "outbox"
        assert wait_for(lambda: list(outbox.glob("*.eml")) if outbox.exists() else [], 60), "no SDR email"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
