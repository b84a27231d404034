"""A new user's first minute in a real browser: an empty database, *Load sample data*, and the trends
span the data (Playwright on Debian's chromium; skips where /usr/bin/chromium is missing)."""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from appserver import CHROMIUM, serve
from appserver import CHROMIUM_ARGS as ARGS
from test_browser import VIEWPORT, _check_clean, _settle

import kpis

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory):
    db = tmp_path_factory.mktemp("browser_empty") / "kpi.duckdb"
    with serve(db) as url:
        yield url, db


def _points(page) -> list[int]:
    """The number of x values of each drawn line or bar trace on the page."""
    return page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(
        p => (p.data || []).filter(t => (t.type === 'scatter' || t.type === 'bar') && t.x && t.y
                                    && Array.from(t.y).some(v => v !== null))
                           .map(t => t.x.length))""")


def test_load_sample_data_then_the_trends_span_the_data(empty_server):
    from playwright.sync_api import sync_playwright

    url, db = empty_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(60_000)
        page.goto(f"{url}/")
        _settle(page)
        _check_clean(page, "empty scorecard")
        # The empty database's selection is today's month and a one-day range, and it is in the URL.
        page.wait_for_url(re.compile(r"from="))
        q = parse_qs(urlsplit(page.url).query)
        assert q["from"] == q["to"]
        page.get_by_role("button", name="Load sample data").first.click()
        page.get_by_text("Loaded the sample data").wait_for()
        _settle(page)
        _check_clean(page, "scorecard after the sample load")

        con = kpis.connect(db, read_only=True)
        first, last = kpis.data_range(con)
        con.close()
        page.wait_for_url(re.compile(f"from={first.isoformat()}"))
        q = parse_qs(urlsplit(page.url).query)
        assert (q["from"], q["to"]) == ([first.isoformat()], [last.isoformat()])
        assert q["period"] == ["2026-10"]  # the last complete month; November runs to the 20th
        assert page.get_by_role("heading", level=1).filter(has_text="Scorecard · 2026-10").count() == 1
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert f"{first.isoformat()} – {last.isoformat()}" in sidebar or first.isoformat() in sidebar

        # On Delivery every trend has a point per month of the data, not a single point.
        page.goto(f"{url}/delivery?{urlsplit(page.url).query}")
        page.wait_for_selector(".js-plotly-plot")
        _settle(page)
        _check_clean(page, "delivery after the sample load")
        counts = _points(page)
        months = (last.year - first.year) * 12 + last.month - first.month + 1  # 2025-05 .. 2026-11 = 19
        assert counts and max(counts) >= months, counts
        # A reload keeps the corrected selection (it lives in the URL now).
        page.reload()
        _settle(page)
        assert parse_qs(urlsplit(page.url).query)["from"] == [first.isoformat()]

        # The month in progress, chosen: marked to date on the scorecard, and every change on it is against
        # the same 20 days of October, never the whole month (so never better or worse than a full one).
        page.goto(f"{url}/?grain=month&period=2026-11&profile=senior")
        page.wait_for_selector('[data-testid="stMetric"]')
        _settle(page)
        _check_clean(page, "scorecard, the month in progress")
        body = page.locator('[data-testid="stMain"]').inner_text()
        assert "2026-11 (to date: 20 of 30 days) is in progress" in body
        deltas = page.locator('[data-testid="stMetricDelta"]')
        assert deltas.count() > 0
        described = page.locator('[data-testid="stMetric"]').all_inner_texts()
        compared = [t for t in described if "vs 2026-10" in t]
        assert compared and all("vs 2026-10 days 1–20" in t for t in compared), compared
        # On Delivery the month in progress is the chart's last tick, marked to date.
        page.goto(f"{url}/delivery?grain=month&period=2026-11&profile=senior")
        page.wait_for_selector(".js-plotly-plot")
        _settle(page)
        ticks = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot .xtick text')]"
                              ".map(t => t.textContent)")
        assert "2026-11 (to date)" in ticks, ticks[-5:]
        browser.close()
