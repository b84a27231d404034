"""The triage scorecard in a real browser (Debian's chromium through Playwright).

The manager opens the scorecard on the sample data (October 2026, the senior
profile): the first KPIs listed are the off-target ones, furthest off first,
each with at least one named driver (a team and its contribution), and the
breakdown and the rows behind it are one click away.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from test_browser import CHROMIUM, VIEWPORT, _check_clean, _settle, server  # noqa: F401 (a fixture)

import kpis
from kpis import lines, periods, targets

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")


# "Driven by team: fraud (+4 incidents)", "Largest parts by team: ...", "Largest movers by team: ..."
DRIVERS = re.compile(r"^(Driven|Largest|Furthest|Unchanged)[^:]* by team: ")


def _expected(db, period: str, previous: str) -> tuple[list, list[str]]:
    _, start, end = periods.parse_label(period)
    con = kpis.connect(db, read_only=True)
    try:
        as_of = kpis.through_date(con)
        df = targets.compute_with_targets(con, "senior", grain="month", start=periods.shift(start, "month", -11),
                                          end=end - timedelta(days=1), as_of=as_of)
        teams = [r[0] for r in con.execute("SELECT DISTINCT team FROM deployments WHERE team IS NOT NULL "
                                           "UNION SELECT DISTINCT team FROM incidents WHERE team IS NOT NULL "
                                           "UNION SELECT DISTINCT team FROM predictions WHERE team IS NOT NULL").fetchall()]
    finally:
        con.close()
    return lines.triage(lines.build_lines(df, period, previous, as_of=as_of)), teams


def test_scorecard_lists_off_target_first_with_named_drivers(server, browser):  # noqa: F811
    url, db = server
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    page.goto(f"{url}/?grain=month&period=2026-10&profile=senior")
    page.get_by_role("heading", name=re.compile(r"^Off target \(\d+\)")).wait_for()
    page.wait_for_selector(".js-plotly-plot")
    _settle(page)
    _check_clean(page, "scorecard")

    expected, teams = _expected(db, "2026-10", "2026-09")
    red = [x for x in expected if x.status == "red"]
    assert red

    # The first KPI cards on the page, in reading order, are the off-target ones, furthest off first.
    labels = [t.strip() for t in page.locator('[data-testid="stMetricLabel"]').all_inner_texts()]
    assert labels[:len(red)] == [x.title for x in red], labels[:6]

    # Each states its drivers: "Driven by team: <a team> (<its contribution>) ...".
    text = page.locator('[data-testid="stMain"]').inner_text()
    rows = [r.strip() for r in text.splitlines() if r.strip()]
    for line in red:
        at = next(i for i, r in enumerate(rows) if r.startswith(f"{line.title} · "))
        sentence = next(r for r in rows[at + 1:at + 5] if DRIVERS.match(r))
        named = [t for t in teams if re.search(rf"\b{re.escape(t)} \([+\-−]?[\d$]", sentence)]
        assert named, sentence

    # One click opens the breakdown with links to the rows behind it, on the KPI's page filtered to the team.
    first = red[0]
    page.get_by_text(f"What drives it: {first.title}", exact=False).first.click()
    link = page.locator('[data-testid="stExpanderDetails"] a[href*="team="]').first
    link.wait_for(state="visible")
    href = link.get_attribute("href")
    query = parse_qs(urlsplit(href).query)
    assert query["period"] == ["2026-10"] and query["team"][0] in teams
    page.goto(href if href.startswith("http") else f"{url}{href}")
    _settle(page)
    _check_clean(page, "drill-down page")
    assert f"team={query['team'][0]}" in page.url
    page.close()
