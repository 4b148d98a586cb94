"""`leadops config check`: every problem of the settings and rule files at once, one line each, exit 2; or a short
'ok' summary and exit 0 (issue 19, item 5)."""
import json
import subprocess

import pytest

from tests.e2e.test_cli_errors import LEADOPS, env, leadops


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("check") / "acme"
    proc = subprocess.run([LEADOPS, "init", str(root)], env=env(), capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    (root / "config" / "sdrs.yaml").write_text(
        "people:\n"
        "  - {code: s.one, name: One, email: one@acme.test, territories: [NO, SE], holiday_country: NO}\n"
        "  - {code: s.two, name: Two, email: two@acme.test}\n")
    return root


def test_a_clean_project_says_ok_and_exits_0(project):
    proc = leadops("config", "check", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: settings (company time zone Europe/Paris") and "2 people" in proc.stdout
    data = json.loads(leadops("config", "check", "--json", cwd=project).stdout)
    assert data["ok"] is True and data["sdrs"] == 2 and data["config_dir"] == str(project / "config")


def test_every_problem_is_one_line_and_the_command_exits_2(project):
    sdrs = project / "config" / "sdrs.yaml"
    good = sdrs.read_text()
    sdrs.write_text(good.replace("holiday_country: NO}", "holiday_country: XX, out_of_office: "
                                 "[{start: 2026-12-10, end: 2026-12-01}]}")
                    .replace("two@acme.test}", "two@acme.test, weight: 0}"))
    try:
        proc = leadops("config", "check", cwd=project, LEADOPS_COMPANY_TIME_ZONE="Paris")
        as_json = leadops("config", "check", "--json", cwd=project, LEADOPS_COMPANY_TIME_ZONE="Paris")
    finally:
        sdrs.write_text(good)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == ("environment: LEADOPS_COMPANY_TIME_ZONE = 'Paris': unknown time zone 'Paris'; "
                        "use an IANA name such as 'Europe/Paris'")
    assert lines[1] == (f"{sdrs}: people.0.holiday_country = 'XX' (s.one): expected an ISO 3166-1 alpha-2 country "
                        "code in capitals such as 'FR', 'GB' or 'NO'")
    assert lines[2].startswith(f"{sdrs}: people.0.out_of_office (s.one): item 0 2026-12-10..2026-12-01 ends before")
    assert len(lines) == 3  # weight 0 for s.two: the other active SDR keeps the "*" pool assignable
    assert proc.stderr.strip() == "leadops: error: 3 problem(s) in the settings and rule files"
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 2 and data["ok"] is False and data["problems"] == lines
