"""A detail table with more rows than the page draws, in a real browser (Debian's chromium via Playwright).

The Delivery page of a month with 2,345 deployments draws the newest 500
(ui.components.TABLE_ROWS_MAX), says so under the table, and its CSV button
downloads all 2,345, written by Streamlit when the button is clicked (a
deferred download: ``st.download_button(data=callable)``). The page fetches
only the rows it draws and the count of all (kpis.details.ROWS_TOTAL); the
CSV's rows are fetched when the button is clicked (ui.data.fetch). The
Reliability page does the same with the month's 587 failed deployments.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from appserver import CHROMIUM, serve

import kpis
from ui.components import TABLE_ROWS_MAX

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")

ROWS = 2_345
FAILED = 587  # every 4th rolled back: i = 0, 4, ..., 2344


@pytest.fixture(scope="module")
def big_db(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("big_table")
    start = datetime(2026, 10, 1, 0, 5)
    lines = ["deployment_id,service,deployed_at,team,status"]
    for i in range(ROWS):  # every 18 minutes: 2,345 deployments within October 2026
        at = start + timedelta(minutes=18 * i)
        lines.append(f"dep-{i:05d},svc-{i % 7},{at:%Y-%m-%dT%H:%M:%SZ},team-{i % 3},"
                     f"{'rolled_back' if i % 4 == 0 else 'success'}")
    (d / "deployments.csv").write_text("\n".join(lines) + "\n")
    db = d / "kpi.duckdb"
    con = kpis.connect(db)
    try:
        kpis.ingest_files(con, [d / "deployments.csv"])
    finally:
        con.close()
    return db


def test_a_big_table_draws_the_first_rows_and_downloads_them_all(big_db, browser, tmp_path):
    with serve(big_db) as url:
        page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        page.set_default_timeout(60_000)
        page.goto(f"{url}/delivery?grain=month&period=2026-10")
        note = page.get_by_text(f"Showing the first {TABLE_ROWS_MAX:,} of {ROWS:,} rows (newest first)")
        note.wait_for()
        note.scroll_into_view_if_needed()
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(tmp_path / "delivery-big-table.png"))
        with page.expect_download() as pending:
            page.get_by_role("button", name="Download deployments 2026-10 (CSV)").click()
        download = pending.value
        assert download.suggested_filename == "deployments-2026-10.csv"
        rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
        assert len(rows) == ROWS  # every row, not the 2,000 drawn
        assert rows[0]["deployment_id"] == f"dep-{ROWS - 1:05d}" and rows[-1]["deployment_id"] == "dep-00000"
        page.close()


def test_the_failed_deployments_of_a_busy_month_are_counted_in_all_and_downloaded_in_all(big_db, browser, tmp_path):
    assert FAILED > TABLE_ROWS_MAX
    with serve(big_db) as url:
        page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        page.set_default_timeout(60_000)
        page.goto(f"{url}/reliability?grain=month&period=2026-10")
        note = page.get_by_text(f"Showing the first {TABLE_ROWS_MAX:,} of {FAILED:,} rows "
                                "(not recovered first, then newest first)")
        note.wait_for()
        # the count above the table is of them all, not of the rows drawn
        metric = page.locator('[data-testid="stMetric"]').filter(has_text="Failed deployments in")
        assert metric.locator('[data-testid="stMetricValue"]').inner_text().strip() == f"{FAILED:,}"
        # A rollback recovers at the next successful deployment of its service (every 7th deployment): none
        # follows dep-02340 (svc-2) and dep-02344 (svc-6), so 2 have not recovered.
        assert page.get_by_text(f"2 of {FAILED:,} not recovered yet").count() == 1
        note.scroll_into_view_if_needed()
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(tmp_path / "reliability-big-table.png"))
        with page.expect_download() as pending:
            page.get_by_role("button", name="Download failed deployments 2026-10 (CSV)").click()
        rows = list(csv.DictReader(io.StringIO(Path(pending.value.path()).read_text())))
        assert len(rows) == FAILED
        assert {r["deployment_id"] for r in rows} == {f"dep-{i:05d}" for i in range(0, ROWS, 4)}
        page.close()
