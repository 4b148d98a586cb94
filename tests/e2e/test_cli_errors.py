"""Errors a rerun cannot fix stop the `leadops` command before any Prefect run: one line, exit 2, no traceback."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

LEADOPS = str(Path(sys.executable).with_name("leadops"))


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_"))}
    out.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}, **extra)
    return out


def leadops(*args: str, cwd: Path, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([LEADOPS, *args], cwd=cwd, env=env(PREFECT_HOME=str(cwd / ".prefect"), **extra),
                          capture_output=True, text=True, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("leadops: error: ")
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "acme"
    proc = subprocess.run([LEADOPS, "init", str(root)], env=env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (root / "config" / "sdrs.yaml").write_text(
        "people:\n  - {code: s.one, name: One, email: one@acme.test}\n  - {code: s.two, name: Two, email: two@acme.test}\n")
    return root


def test_outside_a_project_every_command_says_how_to_make_one(tmp_path):
    proc = leadops("run", "pipeline", cwd=tmp_path)
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert "no leadops project" in line and "leadops init DIR" in line


def test_a_bad_week_is_refused_before_any_run(project):
    proc = leadops("run", "report", "--week", "banana", cwd=project)
    assert proc.returncode == 2
    assert "expected an ISO week such as 2026-W47" in one_line_error(proc)
    assert "temporary server" not in proc.stdout + proc.stderr  # no Prefect API was even started


@pytest.mark.parametrize("command", [["run", "pipeline"], ["run", "report"], ["run", "sla"], ["rerun", "score"],
                                     ["roster", "sync"], ["route"]])
def test_an_invalid_rule_file_is_one_line_naming_file_key_and_value(project, command):
    sla = project / "config" / "sla.yaml"
    good = sla.read_text()
    sla.write_text(good.replace("reminder_at: 0.75", "reminder_at: 1.5"))
    try:
        proc = leadops(*command, cwd=project / "var")
    finally:
        sla.write_text(good)
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert f"{sla}: reminder_at = 1.5: Input should be less than 1" in line
    assert "temporary server" not in proc.stdout + proc.stderr


def test_leadops_debug_shows_the_traceback(project):
    proc = leadops("run", "report", "--week", "banana", cwd=project, LEADOPS_DEBUG="1")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_a_temporary_api_that_does_not_start_says_what_to_do(project):
    proc = leadops("run", "pipeline", cwd=project, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0")
    assert proc.returncode == 1
    err = [line for line in proc.stderr.splitlines() if line.startswith("leadops: error: ")]
    assert len(err) == 1 and "Traceback" not in proc.stderr
    assert "did not start within 0 s" in err[0] and "prefect server start" in err[0] and "PREFECT_API_URL" in err[0]
