"""The Review page in a real browser: presentation view fits the screen; commentary drafts survive.

Starts its own ``streamlit run app.py`` (the pattern of tests/test_browser.py)
against a copy of the sample database with a saved commentary on the delivery
section, then

* enters presentation view at 1920x1080 and at 1440x900 and, for every
  section, checks what a person sees: the section's content ends above the
  bottom of the screen (nothing to scroll to), no KPI value or table cell is
  cut off (its text is as wide as its box at most), the values read in full
  ("12.8 / week"), and there is no download button; each section is
  photographed at 1920x1080 (docs/screenshots/present-<section>.png with
  KPI_SCREENSHOTS=1, else a temporary directory);
* types a commentary, switches to another page and back, reloads: the text is
  still there, marked as a draft; Discard brings back the saved text; Save
  keeps the new text with no draft left.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from appserver import serve
from playwright.sync_api import expect
from test_browser import CHROMIUM, DOC_SHOTS, _settle

import kpis
import review
from review import commentary

PERIOD, PROFILE = "2026-Q3", "lead"
expect.set_options(timeout=60_000)  # a reload builds the page from scratch
SIZES = [{"width": 1920, "height": 1080}, {"width": 1440, "height": 900}]
SAVED_NOTE = ("Deployments per week held at 12.8 while the change failure rate rose 2.1 pp: the recs-api "
              "release <b>and</b> its rollback. Lead time is within the band for the third quarter running.")
QUERY = f"grain=quarter&period={PERIOD}&profile={PROFILE}"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(sample_db, tmp_path_factory):
    db = tmp_path_factory.mktemp("browser_review") / "kpi.duckdb"
    shutil.copy(sample_db, db)
    con = kpis.connect(db)
    try:
        commentary.save(con, PERIOD, PROFILE, review.scope_key({}), "delivery", SAVED_NOTE)
    finally:
        con.close()
    with serve(db) as url:
        yield url, db


@pytest.fixture(scope="module")
def built(server) -> review.Review:
    """The review the page shows (built before the app writes anything)."""
    _, db = server
    con = kpis.connect(db, read_only=True)
    try:
        return review.build_review(con, period=PERIOD, profile=PROFILE)
    finally:
        con.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    if os.environ.get("KPI_SCREENSHOTS") == "1":
        return DOC_SHOTS
    return tmp_path_factory.mktemp("present_screenshots")


# What is on screen, measured in the page: how far the content reaches, what is cut off.
MEASURE = """() => {
  const slide = document.querySelector('.st-key-review_slide');
  const main = document.querySelector('[data-testid="stMain"]');
  let bottom = 0;
  for (const el of slide.querySelectorAll('*')) {
    // A chart counts by its box (the parts of an SVG outside its clip path are not drawn).
    if (el.closest('.js-plotly-plot') && !el.classList.contains('js-plotly-plot')) { continue; }
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) { bottom = Math.max(bottom, r.bottom); }
  }
  const cut = [];
  for (const el of slide.querySelectorAll('.tile .v, .tile .t, .tile .s, .tile .c, td, th, h2, h3, .chart-title, .sub')) {
    if (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1) {
      cut.push(el.innerText.slice(0, 60) + ' (' + el.scrollWidth + 'x' + el.scrollHeight + ' in ' + el.clientWidth + 'x' + el.clientHeight + ')');
    }
  }
  return {bottom: bottom, viewport: window.innerHeight, mainScroll: main.scrollHeight, mainClient: main.clientHeight,
          docScroll: document.scrollingElement.scrollHeight, cut: cut,
          downloads: document.querySelectorAll('[data-testid="stDownloadButton"]').length,
          title: slide.querySelector('h2').innerText,
          values: [...slide.querySelectorAll('.tile .v')].map(e => e.innerText),
          plots: slide.querySelectorAll('.js-plotly-plot').length};
}"""


def _present(page, url: str) -> None:
    page.goto(f"{url}/review?{QUERY}")
    page.get_by_role("heading", level=1).filter(has_text="Review").wait_for()
    _settle(page, 60)
    page.get_by_text("Presentation view").click()
    page.locator(".st-key-review_slide h2").wait_for()
    _settle(page, 60)


def test_presentation_sections_fit_the_screen(server, browser, built, shots):
    url, _ = server
    sections = built.sections
    for size in SIZES:
        page = browser.new_page(viewport=size)
        page.set_default_timeout(60_000)
        _present(page, url)
        for i, section in enumerate(sections):
            where = f"{section.id} at {size['width']}x{size['height']}"
            page.locator(".st-key-review_slide h2").filter(has_text=section.title).wait_for()
            if section.charts:
                page.wait_for_function(f"document.querySelectorAll('.st-key-review_slide .main-svg').length >= "
                                       f"{len(section.charts)}")
            _settle(page)
            m = page.evaluate(MEASURE)
            assert m["title"] == section.title, where
            assert m["plots"] == len(section.charts), where
            # Nothing below the fold: the content ends on screen and neither the page nor its main area scrolls.
            assert m["bottom"] <= m["viewport"], (where, m["bottom"], m["viewport"])
            assert m["mainScroll"] <= m["mainClient"] + 1 and m["docScroll"] <= m["viewport"] + 1, (where, m)
            assert not m["cut"], (where, m["cut"])
            assert m["downloads"] == 0, where
            assert page.get_by_role("button", name=re.compile("Download|CSV")).count() == 0, where
            # The values read in full, as the model writes them.
            if section.id != "scorecard":  # the scorecard shows them in its table
                assert m["values"] == [k.value_text for k in section.kpis], where
            body = page.locator(".st-key-review_slide").inner_text()
            for k in section.kpis:
                assert k.value_text in body, (where, k.kpi)
            if section.id == "delivery":
                assert "12.8 / week" in m["values"]
                assert "<b>and</b>" in body  # the saved commentary, as text (its markup escaped, not applied)
            for t in section.tables:
                for cell in (t.frame.iloc[:, 0] if not t.frame.empty else []):
                    assert str(cell) in body, (where, t.id, cell)
            print(f"{where}: content bottom {m['bottom']:.0f} px of {m['viewport']}")
            if size["width"] == 1920:
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / f"present-{section.id}.png"))
            if i < len(sections) - 1:
                page.get_by_role("button", name="Next").click()
        assert page.get_by_role("button", name="Next").is_disabled()
        page.close()


def _commentary_box(page, title: str):
    return page.get_by_label(f"Commentary on {title}")


def _go(page, name: str) -> None:
    """Click a page in the sidebar and wait for its title."""
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=name).first.click()
    page.get_by_role("heading", level=1).filter(has_text=re.compile(f"^{re.escape(name)}")).wait_for()
    _settle(page, 60)


def test_a_draft_survives_a_page_switch_and_a_reload(server, browser, built):
    url, db = server
    page = browser.new_page(viewport=SIZES[1])
    page.set_default_timeout(60_000)
    page.goto(f"{url}/review?{QUERY}")
    _settle(page, 60)
    cost_title = built.section("cost").title
    box = _commentary_box(page, cost_title)
    draft = "Cost per 1k fell 4.5% <i>after</i> the batching change; training spend is flat."
    box.fill(draft)
    box.press("Tab")  # leaving the box commits the text (a click on another page straight away can race it)
    _settle(page, 60)
    _go(page, "Scorecard")
    page.wait_for_timeout(1500)  # and it stays there (a late run of the Review page must not pull the user back)
    assert page.get_by_role("heading", level=1).filter(has_text="Scorecard").count() == 1
    _go(page, "Review")
    box = _commentary_box(page, cost_title)
    expect(box).to_have_value(draft)
    assert page.get_by_text("Draft — not saved").first.is_visible()
    # A reload is a new session: the draft comes from the server.
    page.reload()
    _settle(page, 60)
    expect(_commentary_box(page, cost_title)).to_have_value(draft)
    assert page.get_by_text("Draft — not saved").first.is_visible()
    # Not saved: the review's commentary (and so the files) does not have it.
    con = kpis.connect(db, read_only=True)
    try:
        assert commentary.load(con, PERIOD, PROFILE, "all").get("cost") is None
        assert commentary.load_drafts(con, PERIOD, PROFILE, "all") == {"cost": draft}
    finally:
        con.close()
    # Discard: back to no commentary, no marker, and it stays gone after a reload.
    page.get_by_role("button", name="Discard draft").click()
    _settle(page, 60)
    expect(_commentary_box(page, cost_title)).to_have_value("")
    assert page.get_by_text("Draft — not saved").count() == 0
    page.reload()
    _settle(page, 60)
    delivery = _commentary_box(page, built.section("delivery").title)
    expect(delivery).to_have_value(SAVED_NOTE)  # the page has loaded the commentary ...
    expect(_commentary_box(page, cost_title)).to_have_value("")  # ... and no draft

    # An edit of saved text is a draft too; Save keeps it and leaves no draft behind.
    delivery.fill(SAVED_NOTE + " Next quarter: canary every release.")
    delivery.press("Tab")
    _settle(page, 60)
    _go(page, "Delivery")
    _go(page, "Review")
    delivery = _commentary_box(page, built.section("delivery").title)
    expect(delivery).to_have_value(SAVED_NOTE + " Next quarter: canary every release.")
    assert page.get_by_text("Draft — not saved").first.is_visible()
    page.get_by_role("button", name="Save commentary").nth(
        [s.id for s in built.sections].index("delivery")).click()
    _settle(page, 60)
    # the save's rerun may start after the page looked settled (a loaded machine): wait for the markers to go
    expect(page.get_by_text("Draft — not saved")).to_have_count(0)
    page.reload()
    _settle(page, 60)
    expect(_commentary_box(page, built.section("delivery").title)).to_have_value(
        SAVED_NOTE + " Next quarter: canary every release.")
    assert page.get_by_text("Draft — not saved").count() == 0
    page.close()
    con = kpis.connect(db, read_only=True)
    try:
        assert commentary.load(con, PERIOD, PROFILE, "all")["delivery"].endswith("canary every release.")
        assert commentary.load_drafts(con, PERIOD, PROFILE, "all") == {}
    finally:
        con.close()
