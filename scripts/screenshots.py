"""Screenshots of the Prefect UI for the README: a temporary Prefect server, the deployments of
prefect.yaml, a process worker, lead-pipeline and weekly-report run on the seeded sample, then
PNGs from headless Chromium of the deployments list, the pipeline's flow run with its task runs,
and its lead-pipeline-summary artifact, into docs/screenshots/.

    make screenshots        (= python -m scripts.screenshots, from the repository root)

Everything stays on this machine: temporary folders for the server, the database and var/;
analytics off; the server's and the browser's outbound HTTP go to a dead local proxy.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import requests

from leadops.deployments.server_health import wait_healthy
from scripts.headless_chrome import Browser, text_shown

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OUT = ROOT / "docs" / "screenshots"
ANCHOR = "2026-11-23"  # the seed's anchor date: the sample's last complete week is 2026-W47
MAX_BYTES = 400_000


def free_port() -> int:
    """Return a TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(tmp: Path, port: int) -> dict[str, str]:
    """Return the environment of every process here: a private Prefect home, database and var/."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_"))}
    env.update({
        "PREFECT_HOME": str(tmp / ".prefect"), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
        "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
        # no schedules firing while we look: the screenshots show the runs started below
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        # the server asks GitHub for its worker catalogue before using its bundled copy: keep that local
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost",
        "LEADOPS_DATABASE_URL": f"sqlite:///{tmp / 'leadops.db'}", "LEADOPS_VAR_DIR": str(tmp / "var"),
        "LEADOPS_CONFIG_DIR": str(ROOT / "config"), "LEADOPS_EXPECTATIONS_DIR": str(ROOT / "expectations"),
        "LEADOPS_HOME": str(ROOT),
    })
    return env


class Stack:
    """The server and the worker as child processes (own process groups), stopped on exit."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs, self.procs = env, logs, []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "w") as log:  # the child holds its own copy of the descriptor
            proc = subprocess.Popen([str(BIN / "prefect"), *args], env=self.env, cwd=ROOT, start_new_session=True,
                                    stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def run(self, *args: str, timeout: float = 600) -> str:
        """Run a command of .venv/bin to its end; returns its output, raises naming it if it fails."""
        out = subprocess.run([str(BIN / args[0]), *args[1:]], env=self.env, cwd=ROOT, capture_output=True,
                             text=True, timeout=timeout, check=False)
        if out.returncode:
            raise RuntimeError(f"{' '.join(args)} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
        return out.stdout


def api_post(api: str, path: str, body: dict[str, Any]) -> Any:
    resp = requests.post(f"{api}{path}", json=body, timeout=30)
    resp.raise_for_status()
    return resp.json()


def run_deployment(api: str, name: str, parameters: dict[str, Any] | None = None, timeout: float = 900) -> str:
    """Start a run of deployment ``name`` (flow/deployment) and wait for it to complete; returns its id."""
    flow, deployment = name.split("/")
    dep = requests.get(f"{api}/deployments/name/{flow}/{deployment}", timeout=30).json()
    run = api_post(api, f"/deployments/{dep['id']}/create_flow_run", {"parameters": parameters or {}})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = requests.get(f"{api}/flow_runs/{run['id']}", timeout=30).json()["state_type"]
        if state == "COMPLETED":
            return run["id"]
        if state in ("FAILED", "CRASHED", "CANCELLED"):
            raise RuntimeError(f"{name}: the run ended {state}")
        time.sleep(2)
    raise RuntimeError(f"{name}: not completed after {timeout:g} s")


def shrink(png: Path) -> int:
    """Re-encode ``png`` with a 256-colour palette when it is over MAX_BYTES; returns its size in bytes."""
    if png.stat().st_size > MAX_BYTES:
        from PIL import Image

        with Image.open(png) as img:
            img.convert("RGB").quantize(colors=256).save(png, optimize=True)
    return png.stat().st_size


def capture(ui: str, api: str, pipeline_run: str, out: Path) -> list[Path]:
    """Take the three screenshots; returns their paths."""
    [summary] = api_post(api, "/artifacts/filter", {"artifacts": {"key": {"any_": ["lead-pipeline-summary"]},
                                                                   "flow_run_id": {"any_": [pipeline_run]}}})
    shots = [
        # every deployment of prefect.yaml, with its schedule and tags
        ("deployments.png", f"{ui}/deployments", None,
         text_shown("lead-pipeline", "weekly-report", "enforce-sla", "sla-breach-digest")),
        # the pipeline's run: its graph of task runs (one per inbox file, then enrich ... deliver)
        # and the Task Runs tab listing them with their states
        ("flow-run-lead-pipeline.png", f"{ui}/runs/flow-run/{pipeline_run}", "Task Runs",
         text_shown("Completed", "ingest-demo-requests", "score_leads", "deliver_notifications")
         + " && document.querySelector('canvas') !== null"),
        # what the run did, as its summary artifact shows it
        ("artifact-lead-pipeline-summary.png", f"{ui}/artifacts/artifact/{summary['id']}", None,
         text_shown("Lead pipeline run", "rows read", "quarantine reason")),
    ]
    paths = []
    with Browser() as browser:
        for name, url, tab, ready in shots:
            if tab:  # the page first, then the tab, then what the tab lists
                browser.open(url, text_shown(tab))
                browser.click(tab)
            else:
                browser.call("Page.navigate", {"url": url})
            browser.wait(ready, settle=2.0)
            paths.append(browser.screenshot(out / name))
    return paths


def main(argv: list[str] | None = None) -> int:
    """Build the sample runs and write the screenshots; prints each file and its size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder of the PNGs (default {OUT.relative_to(ROOT)})")
    parser.add_argument("--keep", action="store_true", help="leave the server running until Ctrl-C, to look around")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="leadops-screenshots-")))
        port = free_port()
        env = environment(tmp, port)
        api, ui = env["PREFECT_API_URL"], f"http://127.0.0.1:{port}"
        procs = Stack(env, tmp)
        stack.callback(procs.stop)
        procs.start("server", "server", "start", "--host", "127.0.0.1", "--port", str(port))
        wait_healthy(api, tmp / "server.log")
        procs.run("prefect", "--no-prompt", "work-pool", "create", "leadops-process", "--type", "process")
        procs.run("prefect", "--no-prompt", "deploy", "--all")
        procs.run("leadops", "seed", "--anchor", ANCHOR)
        procs.start("worker", "worker", "start", "--pool", "leadops-process")
        pipeline_run = run_deployment(api, "lead-pipeline/lead-pipeline")
        run_deployment(api, "weekly-report/weekly-report", {"week": "2026-W47"})
        for png in capture(ui, api, pipeline_run, args.out):
            print(f"{png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}  {shrink(png):,} bytes")
        if args.keep:
            print(f"UI on {ui} (Ctrl-C to stop)")
            with suppress(KeyboardInterrupt):
                signal.pause()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
