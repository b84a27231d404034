"""Data values never become markup in a real browser (Playwright on Debian's chromium; skips without it).

A team named ``![t](http://host/x.png)`` selected in the sidebar, a service ``<img src=x onerror=alert(1)>``
and a model ``[click](http://evil)``, and an uploaded file named as a markdown image: on every page the
browser requests no image, opens no dialog, draws no such ``<img>`` or link, and shows the names as text.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import pytest
from appserver import CHROMIUM, serve
from test_browser import VIEWPORT, _check_clean, _settle
from test_page_safety import MODEL, SERVICE, TEAM, make_evil_db

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")

PAGES = ["", "delivery", "reliability", "cost", "serving", "review", "data"]
UPLOAD_NAME = "![u](u.png) deployments.csv"  # a file name that is a markdown image (relative: this server)


@pytest.fixture(scope="module")
def evil_server(sample_db, tmp_path_factory):
    db = make_evil_db(sample_db, tmp_path_factory.mktemp("browser_evil") / "kpi.duckdb")
    with serve(db) as url:
        yield url


def _bad_requests(urls: list[str]) -> list[str]:
    """Requests the names would make if they were markup: the image hosts, the link, src=x, u.png."""
    bad = []
    for u in urls:
        parts = urlsplit(u)
        if parts.hostname in ("host", "evil") or parts.path.rstrip("/").endswith(("/x", "/u.png", "x.png")):
            bad.append(u)
    return bad


def _markup_in_dom(page) -> list[str]:
    return page.evaluate("""() => [
        ...[...document.querySelectorAll('img')].map(i => i.getAttribute('src') || '')
            .filter(s => s === 'x' || s.includes('host/x.png') || s.includes('u.png')).map(s => 'img ' + s),
        ...[...document.querySelectorAll('a')].map(a => a.getAttribute('href') || '')
            .filter(h => h.includes('evil') || h.includes('host/x.png')).map(h => 'a ' + h)]""")


def test_names_with_markup_fetch_nothing_and_show_as_text(evil_server, browser):
    url = evil_server
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    requests, dialogs = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.goto(f"{url}/?grain=month&period=2026-10")
    _settle(page)
    # The team chosen in the sidebar, as a user does.
    team = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    team.click()
    page.get_by_role("option", name=TEAM, exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(r"team="))
    _settle(page)
    _check_clean(page, "scorecard with the team")
    # the page caption names the team in its literal characters
    page.get_by_text(f"team: {TEAM}", exact=False).first.wait_for()
    query = urlsplit(page.url).query

    for path in PAGES:
        page.goto(f"{url}/{path}?{query}")
        _settle(page)
        if path == "review":  # built once per selection: wait for its sections
            page.get_by_text("Worst incidents", exact=False).first.wait_for(timeout=180_000)
            _settle(page)
        elif path != "data":
            page.wait_for_selector(".js-plotly-plot")
            _settle(page)
        _check_clean(page, path or "scorecard")
        assert not _markup_in_dom(page), path
        if path != "data":
            assert TEAM in page.locator('[data-testid="stMain"]').inner_text(), path

    # Unfiltered, the service and the model appear in the drivers, cards and tables.
    for path in ("", "delivery", "reliability", "serving"):
        page.goto(f"{url}/{path}?grain=month&period=2026-10")
        _settle(page)
        _check_clean(page, f"{path or 'scorecard'} unfiltered")
        assert not _markup_in_dom(page), path
    page.goto(f"{url}/delivery?grain=month&period=2026-10&service={SERVICE}&model={MODEL}")
    _settle(page)
    caption = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first.inner_text()
    assert f"service: {SERVICE}" in caption and f"model: {MODEL}" in caption

    # An upload whose file name is a markdown image: its preview names it as text.
    page.goto(f"{url}/data")
    _settle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        [{"name": UPLOAD_NAME, "mimeType": "text/csv",
          "buffer": b"deployment_id,service,deployed_at\nu-1,svc,2026-10-02T10:00:00Z\n"}])
    page.get_by_text("Validation report", exact=True).wait_for()
    _settle(page)
    _check_clean(page, "data with the upload")
    assert UPLOAD_NAME in page.locator('[data-testid="stMain"]').inner_text()
    assert not _markup_in_dom(page)

    assert not _bad_requests(requests), _bad_requests(requests)
    assert not dialogs, dialogs
    page.close()


def test_the_checks_see_markup_when_it_is_there(evil_server, browser):
    # The DOM and request checks above can fail: a page that does draw the image is caught by both.
    page = browser.new_page(viewport=VIEWPORT)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{evil_server}/_stcore/health")
    page.set_content('<img src="http://host/x.png"><a href="http://evil">x</a><img src="x">')
    page.wait_for_timeout(500)
    assert sorted(_markup_in_dom(page)) == ["a http://evil", "img http://host/x.png", "img x"]
    assert any(urlsplit(u).hostname == "host" for u in _bad_requests(requests))
    page.close()
