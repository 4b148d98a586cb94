"""A temporary local Prefect server for benchmarks: its own PREFECT_HOME and a free port, started as
``prefect server start`` (like tests/e2e/test_prefect_server.py) and stopped with its process group.

    with PrefectServer(tmp) as server:
        env = server.env()            # PREFECT_API_URL and friends, for child processes
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from leadops.deployments.server_health import wait_healthy

BIN = Path(sys.executable).parent


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrefectServer:
    """``prefect server start`` on a free port with a private home under ``folder``."""

    def __init__(self, folder: Path, scheduler: bool = True) -> None:
        self.folder, self.scheduler = Path(folder), scheduler
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.log = self.folder / "prefect-server.log"
        self.proc: subprocess.Popen | None = None

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Return an environment pointing Prefect clients at this server (no analytics, no LEADOPS_*)."""
        env = {k: v for k, v in (base or os.environ).items() if not k.startswith(("LEADOPS_", "PREFECT_"))}
        env.update({"PREFECT_HOME": str(self.folder / "prefect-home"), "PREFECT_API_URL": self.api_url,
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                    "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true" if self.scheduler else "false"})
        return env

    def start(self, timeout: float = 120) -> PrefectServer:
        """Start the server and wait until /api/health answers; raises RuntimeError with its log otherwise."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                                      str(self.port)], env=self.env(), stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_healthy(self.api_url, self.log, self.proc, timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL after 20 s)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None

    def __enter__(self) -> PrefectServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
