"""The weekly report opened in a real headless Chromium: it renders offline with no console error."""
import re
import shutil
import subprocess
from pathlib import Path

from tests.e2e.test_demo_cli import LEADOPS, env_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def open_in_chromium(page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """Return (rendered DOM, console messages) of ``page`` in headless Chromium, network disabled."""
    proc = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={tmp_path / 'chrome-profile'}", "--proxy-server=127.0.0.1:9",  # any network use fails
         "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


def test_the_console_check_catches_errors(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><img src="https://example.com/x.png"><script>missing();</script></body></html>',
                   encoding="utf-8")
    _, console = open_in_chromium(bad, tmp_path)
    assert any("Uncaught ReferenceError" in c for c in console)


def test_weekly_report_renders_in_headless_chromium_without_console_errors(tmp_path):
    env = env_for(tmp_path)
    subprocess.run([LEADOPS, "seed", "--anchor", "2026-11-23"], env=env, check=True, capture_output=True, timeout=300)
    code = ("from pathlib import Path; from leadops.config import get_settings; from leadops.db.session import session_scope;"
            "from leadops.services.report import build_weekly_report; s = get_settings();"
            "r = build_weekly_report(session_scope(s.database_url).__enter__(), '2026-W47', s.company_time_zone, "
            "s.reports_dir); print(r.html_path)")
    import sys

    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    page = Path(out.stdout.strip().splitlines()[-1])
    dom, console = open_in_chromium(page, tmp_path)
    assert console == [], console
    assert "<h1>Weekly lead report — 2026-W47</h1>" in dom
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', dom)) >= 3  # the charts are inline
    assert "http://" not in dom.split("<body", 1)[1].replace("http://www.w3.org", "")  # nothing fetched from a host
