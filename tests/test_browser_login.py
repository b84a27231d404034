"""Login through a real OpenID Connect provider, in a real browser (issue 16, item 6).

``oidc-provider-mock`` runs on 127.0.0.1 at a free port; the app runs with a
secrets file whose ``[auth]`` points at it and whose ``[kpis] editors`` lists
the editor. Chromium (Playwright) signs in at the provider's form, once as a
viewer and once as an editor, each in its own browser context (own cookies):

* signed out: the login page and nothing else;
* the viewer reads the pages, but finds no upload form, no sample-data button
  and no commentary editor;
* the editor uploads a CSV (the Data page's history then names them) and saves
  review commentary, stored with their e-mail.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from appserver import CHROMIUM
from authserver import login_secrets, oidc_provider, serve_app
from playwright.sync_api import expect

import kpis
from review import commentary

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")

EDITOR, VIEWER = "editor@example.com", "viewer@example.com"
CSV = b"deployment_id,service,deployed_at,team,status\nlogin-1,search-api,2026-10-05T10:00:00Z,search,success\n"
NOTE = "Lead time held steady (saved through the login test)."


@pytest.fixture(scope="module")
def app(tmp_path_factory, sample_db):
    """(url, database path) of the app with login on, against a local provider."""
    folder = tmp_path_factory.mktemp("login")
    db = folder / "kpi.duckdb"
    shutil.copy(sample_db, db)
    with oidc_provider(folder) as issuer, serve_app(db, secrets=login_secrets(issuer, [EDITOR])) as (url, log):
        yield url, db
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def sign_in(browser, url: str, email: str):
    """A page in a fresh browser context, signed in as ``email`` through the provider's form."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_role("button", name="Log in").click()
    page.get_by_placeholder("sub").fill(email)  # the provider's form: the subject, which is the e-mail here
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text(f"Signed in as {email}").wait_for()
    return page


def no_errors(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def open_page(page, url: str, path: str, heading: str) -> None:
    page.goto(f"{url}/{path}")
    page.get_by_role("heading", name=heading).first.wait_for()
    page.wait_for_timeout(500)
    no_errors(page)


def test_signed_out_sees_only_the_login_page(app, browser):
    url, _ = app
    page = browser.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_role("button", name="Log in").wait_for()
    page.get_by_text("Sign in to see the dashboard.").wait_for()
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    assert page.get_by_role("heading", name="Scorecard").count() == 0
    page.goto(f"{url}/data")  # a page's own link: still the login page
    page.get_by_role("button", name="Log in").wait_for()
    assert page.locator('input[type="file"]').count() == 0
    page.close()


def test_a_viewer_reads_every_page_and_cannot_write(app, browser, tmp_path):
    url, _ = app
    page = sign_in(browser, url, VIEWER)
    page.get_by_text(f"Signed in as {VIEWER} (viewer)").wait_for()
    for path, heading in (("scorecard", "Scorecard"), ("delivery", "Delivery"), ("reliability", "Reliability"),
                          ("cost", "Cost"), ("serving", "Serving & pipelines")):
        open_page(page, url, path, heading)

    open_page(page, url, "data", "Data")
    page.get_by_text("Read only: uploading and ingesting exports is for editors.").wait_for()
    page.get_by_role("heading", name="Ingest history").wait_for()
    assert page.locator('input[type="file"]').count() == 0
    assert page.get_by_role("button", name="Load sample data").count() == 0
    assert page.get_by_role("button", name=re.compile(r"^Ingest \d+ file")).count() == 0

    open_page(page, url, "review", "Review")
    page.get_by_role("heading", name="Delivery").first.wait_for()
    assert page.locator("textarea").count() == 0
    assert page.get_by_role("button", name="Save commentary").count() == 0
    page.screenshot(path=str(tmp_path / "viewer-review.png"))
    page.context.close()


def stored(db: Path, sql: str) -> list[tuple]:
    con = kpis.connect(db, read_only=True, wait_seconds=30)  # waits while the app holds the file
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_an_editor_uploads_and_saves_commentary_under_their_email(app, browser, tmp_path):
    url, db = app
    page = sign_in(browser, url, EDITOR)
    page.get_by_text(f"Signed in as {EDITOR} (editor)").wait_for()

    open_page(page, url, "data", "Data")
    page.locator('input[type="file"]').set_input_files(
        files=[{"name": "login-deployments.csv", "mimeType": "text/csv", "buffer": CSV}])
    page.get_by_text("All 1 file(s) are valid").wait_for()
    page.get_by_role("button", name="Ingest 1 file(s)").click()
    page.get_by_text("Ingested 1 file(s): 1 rows added").wait_for()
    no_errors(page)
    # The ingest history: the table with an "ingested by" column (the annotations table follows it).
    history = page.locator('[data-testid="stDataFrame"]').filter(
        has=page.locator('[role="columnheader"]', has_text="ingested by"))
    # The grid draws on a canvas; its accessible table (hidden) holds the cells' text. Waiting for the cell
    # first: the page may still be drawing its last sections, and a table found before that can be redrawn.
    history.locator('[role="gridcell"]', has_text=EDITOR).first.wait_for(state="attached")
    history.scroll_into_view_if_needed()
    header = history.locator('[role="columnheader"]', has_text="ingested by")
    assert header.count() == 1
    page.screenshot(path=str(tmp_path / "editor-data.png"), full_page=True)
    assert stored(db, "SELECT file_name, ingested_by FROM ingest_log WHERE file_name = 'login-deployments.csv'") \
        == [("login-deployments.csv", EDITOR)]

    open_page(page, url, "review", "Review")
    box = page.get_by_label("Commentary on Delivery")
    box.fill(NOTE)
    box.press("Tab")  # the text area's change: kept as a draft
    page.get_by_text("Draft — not saved").first.wait_for()
    save = page.locator('[class*="st-key-save-note-"][class*="-delivery"] button')
    save.click()
    expect(page.get_by_text("Draft — not saved")).to_have_count(0, timeout=60_000)  # saved: no draft left
    no_errors(page)
    page.screenshot(path=str(tmp_path / "editor-review.png"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = stored(db, f"SELECT section, text, updated_by FROM {commentary.TABLE}")
        if rows:
            break
        time.sleep(0.5)
    assert rows == [("delivery", NOTE, EDITOR)]
    page.context.close()
