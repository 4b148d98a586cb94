"""The screenshot helper of `make screenshots` in a real headless Chromium: it waits for what a
single-page app renders late, clicks a tab, captures a PNG of the window size, and says what is
missing when the page never shows it."""
import struct

import pytest

from scripts.headless_chrome import Browser, PageNotReady, text_shown

APP = """<html><body><p id="state">loading...</p><span>Details</span>
<script>
  // renders its data late, as the Prefect UI does after its API calls
  setTimeout(() => { document.getElementById('state').textContent = 'lead-pipeline: Completed'; }, 1500);
  document.querySelector('span').addEventListener('click', () => { document.body.append('tab opened'); });
</script></body></html>"""


def test_waits_for_late_content_clicks_and_captures_a_png(tmp_path):
    page = tmp_path / "app.html"
    page.write_text(APP, encoding="utf-8")
    with Browser(width=800, height=600) as browser:
        browser.open(page.as_uri(), text_shown("lead-pipeline", "Completed"), settle=0)
        # it returned on the late render, not on the load: the placeholder is gone
        assert browser.evaluate("document.getElementById('state').textContent") == "lead-pipeline: Completed"
        browser.click("Details")
        browser.wait(text_shown("tab opened"), timeout=5, settle=0)
        png = browser.screenshot(tmp_path / "shot.png").read_bytes()
        with pytest.raises(PageNotReady, match=r"app.html: .*never shown.* still false after 1 s; the page shows: "
                                               r"lead-pipeline: Completed"):
            browser.wait(text_shown("never shown"), timeout=1)
        with pytest.raises(PageNotReady, match="nothing to click labelled 'Logs'"):
            browser.click("Logs")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (800, 600)  # IHDR: the window's size
