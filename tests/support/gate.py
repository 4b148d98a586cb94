"""Releasing racing processes together without guessing how long they take to start: each marks itself ready
beside the GO file once its imports and set-up are done, and the test writes GO when all are ready."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def mark_ready(go: Path) -> None:
    """Say this process is ready to race (called by the racing process, just before it waits for ``go``)."""
    (go.parent / f"{go.name}.ready.{os.getpid()}").touch()


def release(go: Path, procs: list[subprocess.Popen], timeout: float = 300) -> None:
    """Write ``go`` once every one of ``procs`` marked itself ready; raise if one exits first or none of this
    happens within ``timeout`` (a bound on a hang, not a speed claim)."""
    deadline = time.monotonic() + timeout
    while len(list(go.parent.glob(f"{go.name}.ready.*"))) < len(procs):
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise AssertionError(f"a racer exited before it was ready: {dead[0].stderr.read()[-2000:] if dead[0].stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError("the racers did not get ready")
        time.sleep(0.05)
    go.write_text("")
