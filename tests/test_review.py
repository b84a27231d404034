"""The review pack: the model equals the engine; HTML, PDF and PowerPoint read back with the same numbers.

The pack of 2026-Q3 (profile lead) is written once by the command line, as a
scheduled job would (``python -m kpis report ... --out pack.html --out pack.pdf
--out pack.pptx``), with commentary saved in the database beforehand; each file
is then opened again: the HTML parsed, the PDF's text extracted with pypdf, the
deck read with python-pptx. Every scorecard value must be the engine's value
for the same period and filters, formatted as the app formats it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

import kpis
import review
from kpis import catalog, periods, targets
from kpis import format as fmt
from review import browser, commentary
from review import html as review_html

# every chart a test here builds is checked against plotly's validated figure (conftest.checked_charts)
pytestmark = pytest.mark.usefixtures("checked_charts")

ROOT = Path(__file__).resolve().parent.parent
PERIOD, PROFILE = "2026-Q3", "lead"
HAS_BROWSER, WHY_NOT = browser.available()
needs_browser = pytest.mark.skipif(not HAS_BROWSER, reason=f"no headless Chromium: {WHY_NOT}")
NOTE = "CFR rose after the recs-api release <script>alert('x')</script> & we rolled back."


def engine_scorecard(db: Path, period: str, profile: str | None, filters: dict | None = None) -> dict:
    """kpi id -> (value as the app writes it, status), straight from the engine for ``period`` alone."""
    grain, start, end = periods.parse_label(period)
    con = kpis.connect(db, read_only=True)
    try:
        if profile:
            df = targets.compute_with_targets(con, profile, grain=grain, start=start, end=end - timedelta(days=1),
                                              filters=filters)
        else:
            df = kpis.compute(con, grain=grain, start=start, end=end - timedelta(days=1), filters=filters)
            df["status"] = "none"
    finally:
        con.close()
    out = {}
    for kpi_id, rows in df.groupby("kpi"):
        row = rows.sort_values("n", ascending=False).iloc[0]
        text = "No data" if fmt.is_missing(row["value"]) else fmt.fmt_value(row["value"], row["unit"], kpi_id)
        out[kpi_id] = (text, row["status"])
    return out


@pytest.fixture(scope="module")
def db(sample_db, tmp_path_factory) -> Path:
    """A copy of the sample database with the presenter's commentary on two sections."""
    path = tmp_path_factory.mktemp("review") / "kpi.duckdb"
    shutil.copy(sample_db, path)
    con = kpis.connect(path)
    try:
        scope = review.scope_key({})
        commentary.save(con, PERIOD, PROFILE, scope, "delivery", NOTE)
        commentary.save(con, PERIOD, PROFILE, scope, "scorecard", "A steady quarter.\n\nCost per 1k is down.")
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def built(db) -> review.Review:
    con = kpis.connect(db, read_only=True)
    try:
        return review.build_review(con, period=PERIOD, profile=PROFILE)
    finally:
        con.close()


@pytest.fixture(scope="module")
def expected(db) -> dict:
    return engine_scorecard(db, PERIOD, PROFILE)


@pytest.fixture(scope="module")
def pack(db, tmp_path_factory) -> dict[str, Path]:
    """The pack in every format, written by one run of the command line."""
    out = tmp_path_factory.mktemp("pack")
    paths = {ext: out / f"review-{PERIOD}.{ext}" for ext in ("html", "pdf", "pptx")}
    wanted = ["html"] + (["pdf", "pptx"] if HAS_BROWSER else [])
    args = ["report", "--db", db, "--period", PERIOD, "--profile", PROFILE]
    for ext in wanted:
        args += ["--out", paths[ext]]
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "kpis", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    for ext in wanted:
        assert f"wrote {paths[ext]}" in r.stdout
    paths["seconds"] = time.monotonic() - started
    paths["db"] = db
    return paths


# --------------------------------------------------------------------------- the model


def test_model_numbers_are_the_engines(built, expected, db):
    lines = {k.kpi: k for k in built.scorecard}
    # Every family of the catalog has data in the sample's 2026-Q3, so every KPI is on the scorecard.
    assert set(lines) == set(catalog.KPI_IDS)
    for kpi_id, (text, status) in expected.items():
        assert lines[kpi_id].value_text == text, kpi_id
        assert lines[kpi_id].status == status, kpi_id
    # The change is against the previous quarter, as the app's card shows it.
    cfr = lines["change_failure_rate"]
    before = engine_scorecard(db, "2026-Q2", PROFILE)["change_failure_rate"][0]
    assert cfr.previous_period == "2026-Q2" and cfr.previous_text == before
    assert [s.id for s in built.sections] == ["scorecard", "delivery", "reliability", "cost", "serving", "pipelines",
                                              "coverage", "events"]
    assert built.section("delivery").commentary == NOTE  # loaded from the database
    assert all(len(s.charts) >= 3 for s in built.sections if s.id not in ("scorecard", "events"))


def test_scorecard_section_is_in_the_apps_triage_order(built):
    from kpis import lines

    shown = list(built.scorecard)
    assert shown == lines.triage(shown)  # off target (furthest first), near, on target, no target
    assert [x.tier for x in shown] == sorted(x.tier for x in shown)
    red = [x for x in shown if x.status == "red" and x.has_value]
    assert red and all(x.drivers.startswith(("Driven by team: ", "Largest ")) for x in red), [x.drivers for x in red]
    assert built.section("scorecard").subtitle.endswith(lines.summary(shown))


def test_a_quarter_in_progress_is_compared_with_the_same_days_of_the_one_before(db):
    """The sample runs to 2026-11-20: 2026-Q4 has had Oct 1 .. Nov 20 = 31 + 20 = 51 of its 92 days."""
    con = kpis.connect(db, read_only=True)
    try:
        q4 = review.build_review(con, period="2026-Q4", profile=PROFILE)
        span = kpis.compute(con, grain="quarter", start=periods.parse_label("2026-Q3")[1],
                            end=periods.parse_label("2026-Q4")[2] - timedelta(days=1), span_days=51,
                            kpis=["incident_count"])
    finally:
        con.close()
    assert review_html.scorecard_columns(q4) == ("KPI", "2026-Q4 (to date: 51 of 92 days)", "Status", "Target",
                                                  "vs 2026-Q3 days 1–51")
    line = next(k for k in q4.sections[0].kpis if k.kpi == "incident_count")
    q3_first_51, q4_to_date = (span[span["period"] == p]["value"].iloc[0] for p in ("2026-Q3", "2026-Q4"))
    assert line.value == q4_to_date and line.previous_value == q3_first_51
    assert line.delta == q4_to_date - q3_first_51 and line.compared_with == "vs 2026-Q3 days 1–51"[3:]
    assert "compared with the same 51 days of 2026-Q3" in " ".join(q4.sections[0].notes)


def test_queries_run_ahead_change_nothing(db, monkeypatch):
    """build_review runs the drivers and detail queries on a second cursor while it writes the charts: the model
    is the one built with every query run in turn on the one connection (no query is started ahead)."""
    from datetime import datetime

    from review import model

    def built_now(period: str) -> review.Review:
        con = kpis.connect(db, read_only=True)
        try:
            return review.build_review(con, period=period, profile=PROFILE, commentary={},
                                       now=datetime(2026, 11, 25, 12))
        finally:
            con.close()

    def as_data(r: review.Review) -> list:
        return [(s.id, s.kpis, s.notes, [(c.id, c.title, c.caption, c.figure.to_json()) for c in s.charts],
                 [(t.id, t.title, t.empty, t.note, t.frame.to_dict("split")) for t in s.tables]) for s in r.sections]

    asked = []
    real_get = model._Ahead.get
    monkeypatch.setattr(model._Ahead, "get", lambda self, con, fn, *a, **k: (
        asked.append(self._key(fn, a, k) in self._futures), real_get(self, con, fn, *a, **k))[1])
    for period in (PERIOD, "2026-10", "2026-Q4"):
        asked.clear()
        ahead = as_data(built_now(period))
        assert asked and all(asked)  # every detail query the sections read was started ahead
        with monkeypatch.context() as m:
            m.setattr(model._Ahead, "submit", lambda self, fn, *a, **k: None)  # nothing ahead: all in turn
            asked.clear()
            in_turn = as_data(built_now(period))
            assert asked and not any(asked)
        assert ahead == in_turn


def test_notable_events_are_the_periods(built, db):
    events = built.section("events")
    tables = {t.id: t for t in events.tables}
    assert list(tables) == ["worst_incidents", "failed_deployments", "cost_outliers", "cost_changes"]
    con = kpis.connect(db, read_only=True)
    try:
        deps = kpis.details.deployments(con, periods.parse_label(PERIOD)[1], periods.parse_label(PERIOD)[2],
                                        lead_time_start=targets.load_profile(PROFILE).lead_time_start)
    finally:
        con.close()
    failed = deps[deps["failed"]]
    # The note counts what the change failure rate rests on: failed of all production deployments.
    assert f"{len(failed)} of {len(deps)} production deployments failed" in tables["failed_deployments"].note
    assert list(tables["failed_deployments"].frame["Deployment"]) == list(failed["deployment_id"].head(6))
    worst = tables["worst_incidents"].frame
    assert worst["Severity"].iloc[0] == "sev1"  # the most severe first
    assert not tables["cost_outliers"].frame.empty


def test_families_without_data_are_left_out_with_a_sentence(sample_files, tmp_path):
    # Only deployments and incidents: cost stays (a core section, with its no-data sentences); serving,
    # pipelines and coverage are left out and the review says so.
    path = tmp_path / "partial.duckdb"
    con = kpis.connect(path)
    try:
        kpis.ingest_files(con, [f for f in sample_files if f.name in ("deployments.csv", "incidents.csv")])
        r = review.build_review(con, period="2026-10", profile=None)
    finally:
        con.close()
    assert [s.id for s in r.sections] == ["scorecard", "delivery", "reliability", "cost", "events"]
    assert r.left_out == ("Serving health", "Pipelines", "Model coverage")
    assert "left out" in r.left_out_text
    assert any("No inference cost lines" in n for n in r.section("cost").notes)
    assert r.section("cost").charts == ()
    # no changes table: lead time per change is left out, not listed empty; the per-deployment lead time stays
    listed = {line.kpi for s in r.sections for line in s.kpis}
    assert "lead_time_median_hours" in listed
    assert not listed & {k.id for k in catalog.CATALOG if k.optional_table}


def test_bad_requests_are_clear_errors(db):
    con = kpis.connect(db, read_only=True)
    try:
        with pytest.raises(review.ReviewError, match="month .* or a quarter"):
            review.build_review(con, period="2026-W07")
        with pytest.raises(review.ReviewError, match="no data in 2031-Q1"):
            review.build_review(con, period="2031-Q1")
        with pytest.raises(ValueError, match="unknown profile"):
            review.build_review(con, period=PERIOD, profile="nosuch")
    finally:
        con.close()
    with pytest.raises(ValueError, match=r"use \.html, \.pdf or \.pptx"):
        review.check_format("pack.docx")


# --------------------------------------------------------------------------- commentary


def test_commentary_is_saved_per_period_profile_and_scope(db, tmp_path):
    path = tmp_path / "notes.duckdb"
    shutil.copy(db, path)
    con = kpis.connect(path)
    try:
        fraud = review.scope_key({"team": ["fraud"]})
        assert fraud == "team=fraud" and review.scope_key({"team": ["b", "a"]}) == "team=a,b"
        commentary.save(con, PERIOD, PROFILE, fraud, "cost", "Fraud's cost per 1k is flat.")
        assert commentary.load(con, PERIOD, PROFILE, fraud) == {"cost": "Fraud's cost per 1k is flat."}
        commentary.save(con, PERIOD, PROFILE, fraud, "cost", "Now up 3%.")  # a second save replaces
        assert commentary.load(con, PERIOD, PROFILE, fraud) == {"cost": "Now up 3%."}
        # The whole organisation's review keeps its own text; another profile has none.
        assert commentary.load(con, PERIOD, PROFILE, "all")["delivery"] == NOTE
        assert commentary.load(con, PERIOD, "senior", "all") == {}
        r = review.build_review(con, period=PERIOD, profile=PROFILE, filters={"team": ["fraud"]})
        assert r.section("cost").commentary == "Now up 3%." and r.section("delivery").commentary == ""
        commentary.save(con, PERIOD, PROFILE, fraud, "cost", "  ")  # empty text deletes
        assert commentary.load(con, PERIOD, PROFILE, fraud) == {}
    finally:
        con.close()
    # A database that never had commentary (read-only, no table) just has none.
    fresh = kpis.connect(tmp_path / "missing.duckdb", read_only=True)
    assert commentary.load(fresh, PERIOD, PROFILE, "all") == {}
    fresh.close()


# --------------------------------------------------------------------------- the files


class _PackHTML(HTMLParser):
    """Section titles, scorecard rows (kpi -> cells), tiles (kpi -> value) and scripts of the HTML pack."""

    def __init__(self):
        super().__init__()
        self.titles, self.rows, self.tiles, self.scripts, self.commentary = [], {}, {}, [], []
        self._stack: list[tuple[str, dict]] = []
        self._row = None
        self._cell = None
        self._in = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._stack.append((tag, a))
        if tag == "tr" and "data-kpi" in a:
            self._row = a["data-kpi"]
            self.rows[self._row] = []
        elif tag == "td" and self._row:
            self._cell = []
        elif tag == "h2":
            self._in = ("h2", [])
        elif tag == "div" and a.get("class") == "v":
            tile = next((x.get("data-kpi") for t, x in reversed(self._stack) if "data-kpi" in x), None)
            self._in = ("tile", [], tile)
        elif tag == "div" and a.get("class") == "commentary":
            self._in = ("commentary", [])
        elif tag == "script":
            self.scripts.append(a)

    def handle_endtag(self, tag):
        while self._stack and self._stack[-1][0] != tag:
            self._stack.pop()
        if self._stack:
            self._stack.pop()
        if tag == "td" and self._cell is not None:
            self.rows[self._row].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "h2" and self._in and self._in[0] == "h2":
            self.titles.append("".join(self._in[1]))
            self._in = None
        elif tag == "div" and self._in and self._in[0] == "tile":
            self.tiles[self._in[2]] = "".join(self._in[1])
            self._in = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in and self._in[0] in ("h2", "tile"):
            self._in[1].append(data)
        if any(t == "div" and x.get("class") == "commentary" for t, x in self._stack):
            self.commentary.append(data)


def test_html_pack(pack, built, expected):
    text = pack["html"].read_text(encoding="utf-8")
    parsed = _PackHTML()
    parsed.feed(text)
    assert parsed.titles == [s.title for s in built.sections]
    for kpi_id, (value, status) in expected.items():
        title, shown, status_text = parsed.rows[kpi_id][:3]
        assert (title, shown) == (catalog.get(kpi_id).title, value), kpi_id
        assert status_text == review.model.STATUS_WORDS[status], kpi_id
        assert parsed.tiles[kpi_id] == value, kpi_id  # the section's tile says the same
    # Self-contained: plotly.js inlined once, no external script, style sheet or image.
    assert not [s for s in parsed.scripts if s.get("src")]
    assert not re.search(r"<(link|img|iframe)\b", text)
    assert text.count("Plotly.newPlot") == 1  # the one loader, after plotly.js (which defines it)
    n_charts = sum(len(s.charts) for s in built.sections)
    assert text.count('class="plot"') == n_charts
    # Print and presentation are in the same file.
    assert "@page" in text and "html.present" in text and "ArrowRight" in text
    # The commentary is there, as text: the script tag in it is escaped, never live.
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "<script>alert(" not in text
    assert NOTE in "".join(parsed.commentary)


@needs_browser
def test_pdf_pack(pack, built, expected):
    from pypdf import PdfReader

    pdf = PdfReader(pack["pdf"])
    assert len(pdf.pages) == len(built.sections) + 1  # the cover, then one page per section
    box = pdf.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (960, 540)  # 13.333 x 7.5 in: 16:9
    pages = [" ".join(p.extract_text().split()) for p in pdf.pages]
    assert built.title in pages[0]
    for page, section in zip(pages[1:], built.sections):
        assert page.startswith(section.title), (section.title, page[:80])
    score = pages[1]
    for kpi_id, (value, _) in expected.items():
        assert catalog.get(kpi_id).title.split(" (")[0] in score, kpi_id
        assert value in score, (kpi_id, value)
    delivery = pages[1 + [s.id for s in built.sections].index("delivery")]
    assert " ".join(NOTE.split()) in delivery
    assert expected["change_failure_rate"][0] in delivery


@needs_browser
def test_pptx_pack(pack, built, expected):
    from pptx import Presentation

    deck = Presentation(str(pack["pptx"]))
    slides = list(deck.slides)

    def texts(slide) -> list[str]:
        return [sh.text_frame.text for sh in slide.shapes if sh.has_text_frame]

    assert built.title in texts(slides[0])
    titles = [texts(s)[0] for s in slides[1:]]
    for section in built.sections:
        assert any(t.startswith(section.title) for t in titles), section.title
    # The scorecard as tables: KPI, value, status (filled in its colour), target, previous, change.
    shown, fills = {}, {}
    for slide in slides[1:]:
        for shape in slide.shapes:
            if shape.has_table and shape.table.cell(0, 0).text == "KPI":
                for row in list(shape.table.rows)[1:]:
                    cells = list(row.cells)
                    shown[cells[0].text] = (cells[1].text, cells[2].text)
                    if cells[2].text:
                        fills[cells[0].text] = str(cells[2].fill.fore_color.rgb)
    for kpi_id, (value, status) in expected.items():
        title = catalog.get(kpi_id).title
        assert shown[title] == (value, review.model.STATUS_WORDS[status]), kpi_id
        assert fills[title] == review.model.STATUS_COLOURS[status].lstrip("#").upper(), kpi_id
    # One slide per family with its charts: native, editable charts, pictures only where python-pptx cannot draw
    # the chart (cost and volume on two axes, training runs on a date axis).
    by_title = {texts(s)[0]: s for s in slides[1:]}
    pictured = {"cost-cost_and_volume", "cost-training_runs", "serving-error_budget_remaining"}  # bars + a line
    for section in built.sections:
        if section.charts:
            shapes = by_title[section.title].shapes
            native = [sh for sh in shapes if sh.has_chart]
            pictures = [sh for sh in shapes if sh.shape_type == 13]  # 13: picture
            assert len(native) == len([c for c in section.charts if c.id not in pictured]), section.id
            assert len(pictures) == len([c for c in section.charts if c.id in pictured]), section.id
    # A hand-checked chart: deployments per week per quarter, the engine's numbers in the chart's own data.
    grain, start, end = periods.parse_label(PERIOD)
    con = kpis.connect(pack["db"], read_only=True)
    try:
        frame = kpis.compute(con, grain="quarter", start=periods.shift(start, "quarter", -5), end=end - timedelta(days=1),
                             kpis=["deployments_per_week", "change_failure_rate"])
    finally:
        con.close()
    delivery = by_title["Delivery"]
    charts = {sh.chart.plots[0].series[-1].name: sh.chart for sh in delivery.shapes if sh.has_chart}
    per_week = charts["Deployments per week"]
    weekly = frame[frame["kpi"] == "deployments_per_week"].set_index("period")["value"]
    assert list(per_week.plots[0].categories) == list(weekly.index)
    assert list(per_week.plots[0].series[0].values) == pytest.approx(list(weekly.values))
    assert per_week.plots[0].series[0].values[-1] == pytest.approx(float(expected["deployments_per_week"][0]
                                                                         .split(" ")[0]), abs=0.05)  # 12.8 / week
    cfr = frame[frame["kpi"] == "change_failure_rate"].set_index("period")["value"]
    assert list(charts["Change failure rate"].plots[0].series[0].values) == pytest.approx(list(cfr.values * 100))
    # Readable type: titles 24 pt and more, every other run (tables, notes, footers, charts) 14 pt and more;
    # every shape on the slide.
    for number, slide in enumerate(slides, start=1):
        boxes = [sh for sh in slide.shapes if sh.has_text_frame]
        title = next(sh for sh in boxes if sh.text_frame.text == built.title) if number == 1 else boxes[0]
        rest = [sh for sh in boxes if sh is not title]
        assert min(r.font.size.pt for p in title.text_frame.paragraphs for r in p.runs) >= 24, number
        runs = [r for sh in rest for p in sh.text_frame.paragraphs for r in p.runs]
        runs += [r for sh in slide.shapes if sh.has_table for row in sh.table.rows for c in row.cells
                 for p in c.text_frame.paragraphs for r in p.runs]
        assert runs and all(r.font.size is not None and r.font.size.pt >= 14 for r in runs), (
            number, sorted({r.font.size.pt for r in runs if r.font.size}))
        for sh in slide.shapes:
            if sh.has_chart:
                assert sh.chart.font.size.pt >= 14, number
            assert sh.left >= 0 and sh.top >= 0, (number, sh.name)
            assert sh.left + sh.width <= deck.slide_width and sh.top + sh.height <= deck.slide_height, (number, sh.name)
    # The scorecard is split over slides (whole families), not shrunk.
    assert sum(1 for t in titles if t.startswith(built.section("scorecard").title)) >= 2
    delivery_notes = delivery.notes_slide.notes_text_frame.text
    assert NOTE in delivery_notes
    assert any(NOTE.replace("\n", " ") in t for t in texts(delivery))
    assert any(expected["change_failure_rate"][0] in c.text for sh in delivery.shapes if sh.has_table
               for row in sh.table.rows for c in row.cells)


def test_cli_writes_every_format(pack):
    assert pack["html"].stat().st_size > 1_000_000  # plotly.js is in it
    if HAS_BROWSER:
        assert pack["pdf"].read_bytes()[:5] == b"%PDF-"
        assert pack["pptx"].read_bytes()[:2] == b"PK"
        assert pack["seconds"] < 120, pack["seconds"]


def test_cli_errors_are_messages(db, tmp_path, capsys, monkeypatch):
    from kpis.__main__ import main

    cases = [
        (["--period", "2026-W07"], "a review is for a month"),
        (["--period", "2026-13"], "bad month"),
        (["--period", PERIOD, "--profile", "nosuch"], "unknown profile"),
        (["--period", "2031-Q1"], "no data in 2031-Q1"),
    ]
    for extra, message in cases:
        assert main(["report", "--db", str(db), *extra, "--out", str(tmp_path / "r.html")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert main(["report", "--db", str(db), "--period", PERIOD, "--out", str(tmp_path / "r.docx")]) == 2
    assert ".html, .pdf or .pptx" in capsys.readouterr().err
    monkeypatch.setenv("KPI_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert main(["report", "--db", str(db), "--period", PERIOD, "--out", str(tmp_path / "r.pdf")]) == 2
    err = capsys.readouterr().err
    assert "apt-get install -y chromium" in err and not (tmp_path / "r.pdf").exists()


def test_review_never_imports_streamlit():
    code = ("import sys, review, review.html, review.pdf, review.pptx, review.browser\n"
            "assert 'streamlit' not in sys.modules, 'review pulled in streamlit'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --------------------------------------------------------------------------- the page


def _app(db: Path, query: dict | None = None):
    from streamlit.testing.v1 import AppTest

    os.environ["KPI_DB"] = str(db)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if query:
        at.query_params.update(query)
    at.run()
    at.switch_page("app_pages/review.py")
    at.run()
    return at


@pytest.fixture
def _restore_env():
    old = os.environ.get("KPI_DB")
    yield
    if old is None:
        os.environ.pop("KPI_DB", None)
    else:
        os.environ["KPI_DB"] = old


def _clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_review_page(db, tmp_path, _restore_env):
    path = tmp_path / "app.duckdb"
    shutil.copy(db, path)
    at = _app(path, {"grain": "quarter", "period": PERIOD, "profile": PROFILE})
    _clean(at)
    assert at.title[0].value == "Review"
    assert at.session_state["review_grain"] == "quarter" and at.session_state["review_period"] == PERIOD
    headers = [h.value for h in at.header]
    assert headers[0] == f"Scorecard · {PERIOD}" and "Delivery" in headers and headers[-1].startswith("Notable")
    # The page's scorecard is the engine's, as in the files.
    table = at.dataframe[0].value
    expected = engine_scorecard(db, PERIOD, PROFILE)
    for kpi_id, (value, _) in expected.items():
        row = table[table["KPI"] == catalog.get(kpi_id).title]
        assert row[PERIOD].iloc[0] == value, kpi_id
    assert {b.label for b in at.get("download_button")} >= {"Download HTML", "Download PDF", "Download PowerPoint"}
    # The saved commentary is loaded; a new one is saved to the database.
    key = next(t.key for t in at.text_area if t.key.endswith("-cost"))
    assert at.text_area(key=next(t.key for t in at.text_area if t.key.endswith("-delivery"))).value == NOTE
    at.text_area(key=key).input("Cost per 1k fell 4.5%: the batching change.")
    at.run()
    at.button(key=f"save-{key}").click()
    at.run()
    _clean(at)
    con = kpis.connect(path, read_only=True)
    try:
        assert commentary.load(con, PERIOD, PROFILE, "all")["cost"] == "Cost per 1k fell 4.5%: the batching change."
    finally:
        con.close()
    # Presentation view: one section at a time, Next moves on, the commentary is shown (escaped), no downloads.
    at.toggle(key="review_present").set_value(True)
    at.run()
    _clean(at)

    def shown() -> str:
        return "".join(h.proto.body for h in at.get("html"))

    assert re.findall(r"<h2>(.*?)</h2>", shown()) == [f"Scorecard · {PERIOD}"]
    assert not at.get("download_button")
    at.button(key="review-next").click()
    at.run()
    assert re.findall(r"<h2>(.*?)</h2>", shown()) == ["Delivery"]
    assert "recs-api release &lt;script&gt;" in shown()  # the commentary, shown as text
    assert "<script>alert" not in shown()


def test_review_page_on_empty_database(empty_db, _restore_env):
    at = _app(empty_db)
    _clean(at)
    assert at.title[0].value == "Review"
    assert any("database is empty" in i.value for i in at.info)
    assert not empty_db.exists()


def test_the_pack_has_dora_recovery_rework_and_the_frequency_bucket(db):
    from kpis import details, dora, engine

    con = kpis.connect(db, read_only=True)
    try:
        pack = review.build_review(con, period="2026-10", profile="dora-2025")
        freq = dora.deployment_frequency(con, grain="month", start=date(2026, 10, 1), end=date(2026, 10, 1),
                                         as_of=engine.through_date(con))
        failed = details.failed_deployments(con, date(2026, 10, 1), date(2026, 11, 1))
    finally:
        con.close()
    delivery, reliability = pack.section("delivery"), pack.section("reliability")
    # four charts a section (a slide holds two rows): rework beside rollback, incidents started beside open
    assert [c.id for c in delivery.charts] == ["delivery-deployments_per_week", "delivery-lead_time",
                                               "delivery-change_failure_rate", "delivery-rollback_rework"]
    assert [c.id for c in reliability.charts] == ["reliability-incidents", "reliability-mttr",
                                                  "reliability-ttd_median_hours", "reliability-deployment_recovery"]
    rework = next(c for c in delivery.charts if c.id == "delivery-rollback_rework").figure
    assert [t.name for t in rework.data if t.name in ("rolled back", "unplanned (rework)")] == [
        "rolled back", "unplanned (rework)"]
    assert {line.kpi for line in reliability.kpis} >= {"failed_deployment_recovery_median_hours",
                                                       "failed_deployment_recovery_mean_hours"}
    bucket = freq["bucket"].iloc[0]
    assert any(n.startswith(f"Deployment frequency as DORA buckets it, 2026-10: {bucket} ") for n in delivery.notes)
    # DORA 2025 has no clusters: the scorecard says so, and nothing is judged
    assert any("no elite / high / medium / low clusters" in n for n in pack.section("scorecard").notes)
    # the failed deployments table says how long each took to recover
    table = next(t for s in pack.sections for t in s.tables if t.id == "failed_deployments")
    recovered = failed.set_index("deployment_id")["recovery_hours"]
    for dep, text in zip(table.frame["Deployment"], table.frame["Recovered in"]):
        if dep in recovered.index:
            assert text == fmt.fmt_hours(recovered[dep]), dep


def test_the_pack_has_lead_time_per_change_with_the_changes_table(db):
    con = kpis.connect(db, read_only=True)
    try:
        pack = review.build_review(con, period="2026-10", profile="dora")
        values = kpis.compute(con, grain="month", start=date(2026, 10, 1), end=date(2026, 10, 31),
                              kpis=["change_lead_time_median_hours", "review_time_median_hours"])
    finally:
        con.close()
    delivery = pack.section("delivery")
    lines = {line.kpi: line for line in delivery.kpis}
    for kpi_id, value in zip(values["kpi"], values["value"]):
        assert lines[kpi_id].value_text == fmt.fmt_value(value, "hours", kpi_id), kpi_id
    # judged on DORA's lead time bands, as the per-deployment lead time; the phases have no target
    assert lines["change_lead_time_median_hours"].target.startswith("DORA 2024 lead time per change")
    assert any(n.startswith("Lead time per change runs from each change's first commit") for n in delivery.notes)
    assert "change_lead_time_median_hours" in {line.kpi for line in pack.section("scorecard").kpis}


def test_the_reliability_section_says_how_many_failed_deployments_had_not_recovered(tmp_path):
    # October: f1 (svc-a, failed 10-05 10:00) recovers at s1 (svc-a, 10-06); f2 (svc-b, failed 10-20 10:00) and f3
    # (svc-b, rolled back 10-25 10:00) have no later success of svc-b. Aged at the month's end, 11-01 00:00 UTC:
    # f2 11 d 14 h = 278 h, f3 6 d 14 h = 158 h. So 2 of the 3 had not recovered, the oldest for 278 h.
    (tmp_path / "deployments.csv").write_text(
        "deployment_id,service,deployed_at,team,status\n"
        "f1,svc-a,2026-10-05T10:00:00Z,ops,failed\n"
        "s1,svc-a,2026-10-06T10:00:00Z,ops,success\n"
        "f2,svc-b,2026-10-20T10:00:00Z,ml,failed\n"
        "f3,svc-b,2026-10-25T10:00:00Z,ml,rolled_back\n"
        "s2,svc-a,2026-11-02T10:00:00Z,ops,success\n")
    con = kpis.connect(tmp_path / "kpi.duckdb")
    kpis.ingest_files(con, [tmp_path / "deployments.csv"])
    try:
        notes = review.build_review(con, period="2026-10", profile=None).section("reliability").notes
    finally:
        con.close()
    assert (f"2 of the 3 failed deployments of 2026-10 had not recovered by its end (the oldest for "
            f"{fmt.fmt_hours(278.0)}): they are not in the recovery time's median and mean.") in notes
