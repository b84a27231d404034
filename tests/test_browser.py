"""The running app in a real browser: Playwright drives Debian's chromium.

Starts ``streamlit run app.py`` on a free port against a temporary database
loaded with the sample data, opens every page (and saves its screenshot),
changes a filter, and uploads a CSV on the Data page to see the new numbers
and the history row. Skips only where /usr/bin/chromium is missing.

Screenshots go to docs/screenshots/ (the README's images) only with
``KPI_SCREENSHOTS=1``; otherwise to a temporary directory, so that running the
test suite leaves tracked files alone.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from appserver import CHROMIUM, serve

ROOT = Path(__file__).resolve().parent.parent
DOC_SHOTS = ROOT / "docs" / "screenshots"
PAGES = [("", "Scorecard"), ("delivery", "Delivery"), ("reliability", "Reliability"), ("cost", "Cost"),
         ("serving", "Serving & pipelines"), ("data", "Data")]
VIEWPORT = {"width": 1400, "height": 900}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(sample_db, tmp_path_factory):
    db = tmp_path_factory.mktemp("browser") / "kpi.duckdb"
    shutil.copy(sample_db, db)
    with serve(db) as url:
        yield url, db


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: docs/screenshots/ with KPI_SCREENSHOTS=1, else a temporary directory."""
    if os.environ.get("KPI_SCREENSHOTS") == "1":
        return DOC_SHOTS
    return tmp_path_factory.mktemp("screenshots")


def _settle(page, timeout: float = 30.0) -> None:
    """Wait until the script run has finished and the charts are drawn."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        stale = page.locator('[data-stale="true"]').count() > 0
        if running or stale:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.5:
            break
        time.sleep(0.1)
    page.wait_for_timeout(150)


def _check_clean(page, name: str) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, name
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and "encountered an error" not in body, name
    # A shared link straight to a page must not raise Streamlit's "Page not found" dialog.
    assert "Page not found" not in body, name


def _metric(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{re.escape(label)}$")))
    return card.first.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _shoot(page, name: str, shots: Path) -> None:
    """Screenshot at 1400x900 (the top of the page) into ``shots``; with KPI_FULL_SCREENSHOTS=1 also the
    whole page as <name>-full.png (for reviewing every chart; slower)."""
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{name}.png"))
    if not os.environ.get("KPI_FULL_SCREENSHOTS"):
        return
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], section.main, body')]"
        ".map(e => e.scrollHeight))")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(int(height) + 40, 9000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / f"{name}-full.png"), full_page=True)
    page.set_viewport_size(VIEWPORT)


def test_every_page_filter_and_upload(server, browser, shots, tmp_path):
    url, db = server
    started = time.monotonic()
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(30_000)

    # Every page renders cleanly; screenshots of each on the sample data.
    for path, title in PAGES:
        page.goto(f"{url}/{path}")
        page.get_by_role("heading", level=1).filter(has_text=title).first.wait_for()
        if path != "data":
            page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        _settle(page)
        _check_clean(page, path)
        _shoot(page, path or "scorecard", shots)

    # Change a filter on the scorecard: the numbers change and the URL carries the selection.
    page.goto(f"{url}/")
    _settle(page)
    before = _metric(page, "Production deployments")
    team = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    team.click()
    page.get_by_role("option", name="fraud", exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(r"team=fraud"))
    _settle(page)
    _check_clean(page, "scorecard filtered")
    after = _metric(page, "Production deployments")
    assert after != before, (before, after)
    # The same URL in a new tab reproduces the view.
    shared = browser.new_page(viewport=VIEWPORT)
    shared.goto(page.url)
    _settle(shared)
    assert _metric(shared, "Production deployments") == after
    # ... and so does a link straight to another page, with no "Page not found" dialog.
    shared.goto(f"{url}/delivery?{urlsplit(page.url).query}")
    _settle(shared)
    _check_clean(shared, "delivery opened from a shared link")
    assert "team=fraud" in shared.url
    shared.close()

    # Upload a CSV on the Data page, check the report, ingest, and see the new numbers and history row.
    page.goto(f"{url}/data")
    _settle(page)
    deploys_before = int(_metric(page, "Deployments").replace(",", ""))
    csv = tmp_path / "browser_deploys.csv"
    csv.write_text("deployment_id,service,deployed_at,team,status\n"
                   "br-1,fraud-scoring,2026-11-19T10:00:00Z,fraud,success\n"
                   "br-2,fraud-scoring,2026-11-19T11:00:00Z,fraud,success\n"
                   "br-3,fraud-scoring,2026-11-19T12:00:00Z,fraud,rolled_back\n")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(csv))
    page.get_by_text("are valid").wait_for()
    _settle(page)
    _check_clean(page, "data validated")
    page.get_by_role("button", name=re.compile("Ingest 1 file")).click()
    page.get_by_text("Ingested 1 file").wait_for()
    _settle(page)
    _check_clean(page, "data ingested")
    assert int(_metric(page, "Deployments").replace(",", "")) == deploys_before + 3
    assert page.get_by_text("browser_deploys.csv").count() >= 1 or "browser_deploys.csv" in page.content()
    _shoot(page, "data-after-upload", shots)

    # Back on the scorecard (November, the filter still on fraud), the new deployments are counted.
    page.goto(f"{url}/?grain=month&period=2026-11&team=fraud")
    _settle(page)
    _check_clean(page, "scorecard after upload")
    assert page.get_by_role("heading", level=1).filter(has_text="2026-11").count() == 1
    page.close()
    # The brief: about 90 s for the whole browser run (cold caches included); fail clearly well before CI's limits.
    assert time.monotonic() - started < 180
