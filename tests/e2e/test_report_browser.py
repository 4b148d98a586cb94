"""The weekly report opened in a real headless Chromium: it renders offline with no console error, fits a
1000 px page, names SDRs and its headline agrees with its funnel."""
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_demo_cli import LEADOPS, env_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGE_WIDTH = 1000

#: Appended to a copy of the page: records the viewport, the document's width and every element whose
#: right edge passes the viewport (a table wider than the page) in an attribute that --dump-dom shows.
MEASURE = """<script>
const vw = document.documentElement.clientWidth;
const over = [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > vw + 0.5 || e.scrollWidth > e.clientWidth + 1 && e.tagName === 'TABLE')
  .map(e => e.tagName + ': ' + e.textContent.slice(0, 60));
document.body.setAttribute('data-measure', JSON.stringify({vw, sw: document.documentElement.scrollWidth, over}));
</script>"""


def open_in_chromium(page: Path, tmp_path: Path, width: int = PAGE_WIDTH) -> tuple[str, list[str]]:
    """Return (rendered DOM, console messages) of ``page`` in headless Chromium, network disabled."""
    proc = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={tmp_path / 'chrome-profile'}", "--proxy-server=127.0.0.1:9",  # any network use fails
         "--hide-scrollbars", f"--window-size={width},3000", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


def measure(page: Path, tmp_path: Path) -> dict:
    """Return {vw, sw, over} of ``page`` laid out in a PAGE_WIDTH-wide window (see MEASURE)."""
    probe = tmp_path / f"measure-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom, _ = open_in_chromium(probe, tmp_path)
    found = re.search(r'data-measure="([^"]*)"', dom)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def test_the_console_check_catches_errors(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><img src="https://example.com/x.png"><script>missing();</script></body></html>',
                   encoding="utf-8")
    _, console = open_in_chromium(bad, tmp_path)
    assert any("Uncaught ReferenceError" in c for c in console)


def test_the_width_check_catches_a_table_wider_than_the_page(tmp_path):
    wide = tmp_path / "wide.html"
    cells = "".join(f"<td>column number {i}</td>" for i in range(30))
    wide.write_text(f'<html><body><div style="overflow-x:auto"><table><tr>{cells}</tr></table></div></body></html>',
                    encoding="utf-8")
    got = measure(wide, tmp_path)
    assert got["vw"] <= PAGE_WIDTH and any(o.startswith("TABLE") for o in got["over"])


def _cell(dom: str, section: str, label: str) -> str:
    part = dom.split(f"<h2>{section}</h2>", 1)[1].split("</section>", 1)[0]
    return re.search(r"<t[hd][^>]*>" + re.escape(label) + r"</t[hd]><td[^>]*>([^<]*)</td>", part).group(1)


def test_weekly_report_renders_in_headless_chromium_without_console_errors(tmp_path):
    env = env_for(tmp_path)
    subprocess.run([LEADOPS, "seed", "--anchor", "2026-11-23"], env=env, check=True, capture_output=True, timeout=300)
    code = ("from pathlib import Path; from leadops.config import get_settings; from leadops.db.unit_of_work import SqlUnitOfWork;"
            "from leadops.services.report import build_weekly_report; s = get_settings();"
            "r = build_weekly_report(SqlUnitOfWork(s.database_url), '2026-W47', s.company_time_zone, "
            "s.reports_dir); print(r.html_path)")

    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    page = Path(out.stdout.strip().splitlines()[-1])
    dom, console = open_in_chromium(page, tmp_path)
    assert console == [], console
    assert "<h1>Weekly lead report — 2026-W47</h1>" in dom
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', dom)) >= 3  # the charts are inline
    assert "http://" not in dom.split("<body", 1)[1].replace("http://www.w3.org", "")  # nothing fetched from a host

    # one definition per figure: the headline's MQLs are the funnel's MQL step
    assert _cell(dom, "Headline", "MQLs (of leads arrived)") == _cell(dom, "Funnel", "MQL")
    assert _cell(dom, "Funnel", "Reached SAL (funnel's SAL step)") == _cell(dom, "Funnel", "SAL")
    # SDRs by name (the seeded roster's), not by code
    sdrs = dom.split("<h2>SDRs</h2>", 1)[1].split("</section>", 1)[0]
    assert "Sophie Dubois" in sdrs and "s.dubois" not in sdrs
    # nothing wider than the page, and the period in the company time zone (Paris, winter: +01:00)
    got = measure(page, tmp_path)
    assert got["over"] == [] and got["sw"] <= got["vw"] <= PAGE_WIDTH, got
    footer = dom.split("<footer>", 1)[1].split("</footer>", 1)[0]
    assert re.findall(r"UTC([+-]\d\d:\d\d)", footer) == ["+01:00", "+01:00"] and "Europe/Paris" in footer
