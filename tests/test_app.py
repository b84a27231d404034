"""The Streamlit app, page by page, with streamlit.testing.v1.AppTest.

Every page runs on the sample data and on an empty database without an
exception and with its headings; the scorecard's numbers are the engine's
(formatted the way the app formats them). The app finds its database through
the KPI_DB environment variable.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import kpis
from kpis import catalog, periods
from kpis import format as fmt
from ui.components import TABLE_ROWS_MAX

# every chart a test here builds is checked against plotly's validated figure (conftest.checked_charts)
pytestmark = pytest.mark.usefixtures("checked_charts")

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = ["app_pages/scorecard.py", "app_pages/delivery.py", "app_pages/reliability.py", "app_pages/cost.py",
         "app_pages/data.py", "app_pages/review.py", "app_pages/serving.py"]
HEADINGS = {
    "app_pages/scorecard.py": ["Off target", "Near target", "On target", "Without a target or not judged"],
    "app_pages/delivery.py": ["Deployment frequency", "Lead time for change", "Change failure and rollback",
                          "Lead time per change", "DORA's five metrics", "Deployment frequency as DORA buckets it", "Deployment rework",
                          "The last 30 days", "The deployments behind the numbers"],
    "app_pages/reliability.py": ["Incidents", "Failed deployment recovery time", "Serving health",
                             "Open incidents at the end of", "Worst services in", "The last 30 days",
                             "Quarter over quarter", "The incidents behind the numbers"],
    "app_pages/cost.py": ["Cost per 1k predictions", "Inference cost and prediction volume", "Training cost per run",
                      "MoM and YoY change"],
    "app_pages/data.py": ["Upload exports", "Ingest history"],
    "app_pages/review.py": ["Worst incidents", "Failed deployments", "Training-cost outlier runs",
                             "Biggest changes in cost per 1k predictions"],
    "app_pages/serving.py": ["Serving health", "Services in", "Pipelines", "The runs behind the numbers",
                              "Model coverage", "The models behind the numbers", "Drift detection time"],
}
TITLES = {"app_pages/scorecard.py": "Scorecard", "app_pages/delivery.py": "Delivery",
          "app_pages/reliability.py": "Reliability", "app_pages/cost.py": "Cost", "app_pages/data.py": "Data",
          "app_pages/review.py": "Review", "app_pages/serving.py": "Serving & pipelines"}


def run_app(db: Path, page: str | None = None, query: dict | None = None, timeout: float = 120) -> AppTest:
    os.environ["KPI_DB"] = str(db)
    at = AppTest.from_file(APP, default_timeout=timeout)
    if query:
        at.query_params.update(query)
    at.run()
    if page and page != "app_pages/scorecard.py":
        at.switch_page(page)
        at.run()
    return at


@pytest.fixture(autouse=True)
def _restore_env():
    old = os.environ.get("KPI_DB")
    yield
    if old is None:
        os.environ.pop("KPI_DB", None)
    else:
        os.environ["KPI_DB"] = old


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# --------------------------------------------------------------------------- structure


def test_every_page_file_is_registered_in_app():
    registered = set(re.findall(r"st\.Page\(\s*[\"'](app_pages/[^\"']+\.py)[\"']", (ROOT / "app.py").read_text()))
    on_disk = {f"app_pages/{p.name}" for p in (ROOT / "app_pages").glob("*.py")}
    assert on_disk == registered, f"not registered: {on_disk - registered}; missing files: {registered - on_disk}"
    assert set(PAGES) == on_disk
    # No legacy pages/ folder: next to st.navigation it makes Streamlit show "Page not found" on a
    # shared link to any page but the first (and can run a page file without app.py).
    assert not (ROOT / "pages").exists()


def test_sidebar_on_every_page(sample_db):
    at = run_app(sample_db)
    for page in PAGES:
        at.switch_page(page)
        at.run()
        keys = {getattr(w, "key", None) for w in at.sidebar}
        assert {"grain", "period", "range", "team", "service", "model", "profile"} <= keys, page


def test_kpis_never_imports_streamlit():
    # The review pack neither: it builds its numbers, words and charts from kpis, never from the app's ui/.
    for path in [*(ROOT / "kpis").rglob("*.py"), *(ROOT / "review").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "streamlit" or n.startswith("streamlit.") for n in names), path
            assert not any(n == "ui" or n.startswith("ui.") for n in names), path
    code = ("import sys, pkgutil, importlib, kpis\n"
            "for m in pkgutil.iter_modules(kpis.__path__): importlib.import_module('kpis.' + m.name)\n"
            "assert 'streamlit' not in sys.modules, 'kpis pulled in streamlit'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_only_benchmarks_import_polars():
    # polars is pinned in benchmarks/requirements.txt for bench_compare.py alone: the app, kpis, review and the
    # tests must run without it.
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("benchmarks", ".venv", "venv") or rel.parts[0].startswith("."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "polars" or n.startswith("polars.") for n in names), rel


def test_pages_hold_no_sql():
    sql = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b\s+[\w*]|duckdb|\.execute\(")
    for page in PAGES:
        assert not sql.search((ROOT / page).read_text()), f"{page} holds SQL; put it in kpis/"


# --------------------------------------------------------------------------- sample data


@pytest.mark.parametrize("page", PAGES)
def test_page_on_sample_data(sample_db, page):
    at = run_app(sample_db, page)
    _no_exception(at)
    assert at.title and at.title[0].value.startswith(TITLES[page])
    subheaders = [s.value for s in at.subheader]
    for heading in HEADINGS[page]:
        assert any(s.startswith(heading) for s in subheaders), (heading, subheaders)
    # Every table comes with its CSV download.
    tables = [d for d in at.dataframe]
    assert len(at.get("download_button")) >= (len(tables) if page != "app_pages/data.py" else 1)
    if page in ("app_pages/delivery.py", "app_pages/reliability.py", "app_pages/cost.py",
                "app_pages/serving.py"):
        assert len(at.get("plotly_chart")) >= 4


def _expected_scorecard(db: Path, grain: str, label: str, profile: str | None, filters=None) -> dict[str, str]:
    from kpis import targets

    _, start, end = periods.parse_label(label)
    lts = targets.load_profile(profile).lead_time_start if profile else "change_started_at"
    con = kpis.connect(db, read_only=True)
    try:
        df = kpis.compute(con, grain=grain, start=start, end=end - timedelta(days=1), filters=filters,
                          lead_time_start=lts)
    finally:
        con.close()
    out = {}
    for kpi_id, rows in df.groupby("kpi"):
        rows = rows.sort_values("n", ascending=False)
        value, unit = rows["value"].iloc[0], rows["unit"].iloc[0]
        out[catalog.get(kpi_id).title] = "No data" if fmt.is_missing(value) else fmt.fmt_value(value, unit, kpi_id)
    return out


def _scorecard(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_scorecard_values_are_the_engines(sample_db):
    at = run_app(sample_db)
    _no_exception(at)
    period, profile = at.session_state["period"], at.session_state["profile"]
    assert period == "2026-10"  # the last complete month of the sample (it ends 2026-11-20)
    shown = _scorecard(at)
    expected = _expected_scorecard(sample_db, "month", period, None if profile == "(none)" else profile)
    families_with_data = {"delivery", "reliability", "cost", "serving"}
    checked = 0
    for k in catalog.CATALOG:
        if k.family in families_with_data:
            assert shown[k.title] == expected[k.title], k.id
            checked += 1
    assert checked >= 15
    # A KPI without events says so in words, never 0.
    assert shown.get("Drift detection time (median)", "No data") == expected["Drift detection time (median)"]


def _triage_expected(db: Path, period: str, previous: str, profile: str, as_of: date):
    """The KPI lines of ``period`` straight from the engine and kpis.lines, in triage order."""
    from kpis import lines, targets

    _, start, end = periods.parse_label(period)
    con = kpis.connect(db, read_only=True)
    try:
        df = targets.compute_with_targets(con, profile, grain="month", start=periods.shift(start, "month", -11),
                                          end=end - timedelta(days=1), as_of=as_of)
    finally:
        con.close()
    return lines.triage(lines.build_lines(df, period, previous, as_of=as_of))


def test_scorecard_triage_off_target_first_with_named_drivers(sample_db):
    from kpis import lines

    at = run_app(sample_db)
    _no_exception(at)
    assert (at.session_state["period"], at.session_state["profile"]) == ("2026-10", "senior")
    expected = _triage_expected(sample_db, "2026-10", "2026-09", "senior", date(2026, 11, 20))
    red = [x for x in expected if x.status == "red"]
    assert red, "the sample's October has off-target KPIs under the senior profile"
    # The summary line counts each tier.
    assert any(m.value.startswith(f"**{lines.summary(expected)}**") for m in at.markdown)
    # The first cards on the page are the off-target KPIs, furthest off first (metrics in page order).
    shown = [m.label for m in at.metric]
    assert shown[:len(red)] == [x.title for x in red]
    subheaders = [s.value for s in at.subheader]
    assert subheaders[0] == f"Off target ({len(red)})"
    # Each off-target KPI names its drivers in words: a team and its contribution.
    texts = [m.value for m in at.markdown]
    teams = set(at.multiselect(key="team").options)
    for line in red:
        i = next(j for j, t in enumerate(texts) if t.startswith(f"**{components_md(line.title)}** · "))
        sentence = texts[i + 1]  # the heading of the KPI's row, then its drivers
        assert DRIVERS.match(_plain(sentence)), sentence
        assert any(t in sentence for t in teams), sentence
    # KPIs without a verdict are folded into an expander.
    assert any(e.label.startswith("Show the ") for e in at.expander)


DRIVERS = re.compile(r"^(Driven|Largest|Furthest|Unchanged)[^:]* by team: ")


def _plain(markdown: str) -> str:
    """Markdown written through md_text, back to its text."""
    return re.sub(r"\\(.)", r"\1", markdown)


def components_md(text: str) -> str:
    from ui.components import md_text

    return md_text(text)


def test_scorecard_in_progress_month_is_compared_with_the_same_days_before(sample_db):
    at = run_app(sample_db, query={"grain": "month", "period": "2026-11", "profile": "senior"})
    _no_exception(at)
    assert at.session_state["period"] == "2026-11"
    assert any("2026-11 (to date: 20 of 30 days) is in progress" in i.value and "same 20 days of 2026-10" in i.value
               for i in at.info)
    # Each card compares November 1-20 with October 1-20 (the engine with span_days=20), never with all of
    # October: the production deployments card's change is November's to-date count minus October's first 20 days.
    con = kpis.connect(sample_db, read_only=True)
    span = kpis.compute(con, grain="month", start=date(2026, 10, 1), end=date(2026, 11, 30), span_days=20,
                        kpis=["deployment_count"])
    whole = kpis.compute(con, grain="month", start=date(2026, 10, 1), end=date(2026, 10, 31), kpis=["deployment_count"])
    con.close()
    nov, oct20 = (span[span["period"] == p]["value"].iloc[0] for p in ("2026-11", "2026-10"))
    oct_all = whole["value"].iloc[0]
    assert oct20 < oct_all  # the first 20 days of October are not the whole month
    card = next(m for m in at.metric if m.label == "Production deployments")
    assert card.value == fmt.fmt_value(nov, "count", "deployment_count")
    assert card.delta == fmt.fmt_delta(nov - oct20, "count", "deployment_count", like=nov)
    assert card.proto.delta_description.startswith("vs 2026-10 days 1–20")
    assert all(m.proto.delta_description.startswith("vs 2026-10 days 1–20") for m in at.metric if m.delta)
    # Off-target KPIs name what drives them.
    texts = [m.value for m in at.markdown]
    assert any(DRIVERS.match(_plain(t)) for t in texts)


def test_filter_and_grain_change_the_numbers(sample_db):
    at = run_app(sample_db)
    at.multiselect(key="team").set_value(["fraud"])
    at.run()
    _no_exception(at)
    period, profile = at.session_state["period"], at.session_state["profile"]
    expected = _expected_scorecard(sample_db, "month", period, profile, filters={"team": ["fraud"]})
    shown = _scorecard(at)
    for title in ("Production deployments", "Change failure rate", "ML incidents", "Inference cost"):
        assert shown[title] == expected[title], title
    # The selection is in the URL.
    assert at.query_params.get("team") in (["fraud"], "fraud")
    at.segmented_control(key="grain").set_value("quarter")
    at.run()
    _no_exception(at)
    # The month viewed (2026-10, the last complete one) ends on Oct 31, in 2026-Q4; the data runs to
    # 2026-11-20, so Q4 is still in progress and the switch lands on the last complete quarter.
    assert at.session_state["period"] == "2026-Q3"
    assert at.title[0].value == "Scorecard · 2026-Q3"


def test_team_narrows_the_service_and_model_lists(sample_db):
    at = run_app(sample_db)
    all_services = at.multiselect(key="service").options
    at.multiselect(key="team").set_value(["fraud"])
    at.run()
    _no_exception(at)
    con = kpis.connect(sample_db, read_only=True)
    fraud = [r[0] for r in con.execute(
        "SELECT DISTINCT service FROM (SELECT service, team FROM deployments UNION ALL SELECT service, team FROM "
        "incidents UNION ALL SELECT service, team FROM costs UNION ALL SELECT service, team FROM predictions "
        "UNION ALL SELECT service, team FROM pipeline_runs UNION ALL SELECT service, team FROM models) "
        "WHERE team = 'fraud' AND service IS NOT NULL ORDER BY 1").fetchall()]
    con.close()
    assert fraud and at.multiselect(key="service").options == fraud
    assert len(fraud) < len(all_services)
    assert at.multiselect(key="team").options == sorted(at.multiselect(key="team").options)  # all teams still


def test_url_reproduces_the_view(sample_db):
    at = run_app(sample_db, query={"grain": "quarter", "period": "2026-Q1", "team": "search,fraud",
                                   "profile": "(none)"})
    _no_exception(at)
    assert at.session_state["grain"] == "quarter"
    assert at.session_state["period"] == "2026-Q1"
    assert sorted(at.session_state["team"]) == ["fraud", "search"]
    assert at.title[0].value == "Scorecard · 2026-Q1"
    expected = _expected_scorecard(sample_db, "quarter", "2026-Q1", None, filters={"team": ["search", "fraud"]})
    assert _scorecard(at)["Change failure rate"] == expected["Change failure rate"]
    # Selections survive a page switch.
    at.switch_page("app_pages/delivery.py")
    at.run()
    assert at.session_state["grain"] == "quarter" and sorted(at.session_state["team"]) == ["fraud", "search"]


def test_filter_matching_nothing_says_so(sample_db):
    at = run_app(sample_db, query={"service": "home-feed", "team": "fraud"})  # home-feed is not fraud's
    _no_exception(at)
    assert any("No events match the filters" in i.value for i in at.info)
    for page in PAGES[1:4]:
        at.switch_page(page)
        at.run()
        _no_exception(at)
        assert at.info, page  # plain "No ... in ..." sentences instead of empty charts


# --------------------------------------------------------------------------- empty database


@pytest.mark.parametrize("page", PAGES)
def test_page_on_empty_database(empty_db, page):
    at = run_app(empty_db, page)
    _no_exception(at)
    assert at.title and at.title[0].value.startswith(TITLES[page])
    assert any("database is empty" in i.value for i in at.info)
    assert any(b.label == "Load sample data" for b in at.button)
    assert not empty_db.exists()  # reading never creates the file


def test_load_sample_data_on_empty_database(empty_db):
    at = run_app(empty_db)
    next(b for b in at.button if b.label == "Load sample data").click()
    at.run()
    _no_exception(at)
    assert empty_db.exists()
    assert any("Loaded the sample data" in s.value for s in at.success)
    assert _scorecard(at)["Production deployments"] not in ("No data", "0")


# --------------------------------------------------------------------------- data page


def test_upload_validate_and_ingest(sample_db, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, db)
    at = run_app(db, "app_pages/data.py")
    before = {m.label: m.value for m in at.metric}["Deployments"]
    csv = ("deployment_id,service,deployed_at,team,status\n"
           "up-1,home-feed,2026-11-19T10:00:00Z,recommendations,success\n"
           "up-2,home-feed,2026-11-19T12:00:00Z,recommendations,failed\n").encode()
    at.file_uploader[0].upload("new_deploys.csv", csv, "text/csv")
    at.run()
    _no_exception(at)
    assert any("valid" in s.value for s in at.success)
    at.button(key="ingest").click()
    at.run()
    _no_exception(at)
    after = {m.label: m.value for m in at.metric}["Deployments"]
    assert int(after.replace(",", "")) == int(before.replace(",", "")) + 2
    assert any("Ingested 1 file" in s.value for s in at.success)
    history = at.dataframe[-1].value
    assert history["file_name"].iloc[0] == "new_deploys.csv"


@pytest.mark.parametrize("logged", ["blake3", "sha256"])
def test_an_upload_identical_to_a_loaded_file_is_said_to_be_skipped(sample_db, tmp_path, logged):
    import hashlib

    db = tmp_path / f"{logged}.duckdb"
    shutil.copy(sample_db, db)
    csv = ("deployment_id,service,deployed_at,team,status\n"
           "again-1,home-feed,2026-11-19T10:00:00Z,recommendations,success\n").encode()
    (tmp_path / "again.csv").write_bytes(csv)
    con = kpis.connect(db)
    kpis.ingest_files(con, [tmp_path / "again.csv"])
    if logged == "sha256":  # as a database from before BLAKE3 logged it
        con.execute("UPDATE ingest_log SET content_hash = ? WHERE file_name = 'again.csv'",
                    [hashlib.sha256(csv).hexdigest()])
    con.close()
    at = run_app(db, "app_pages/data.py")
    at.file_uploader[0].upload("again.csv", csv, "text/csv")
    at.file_uploader[0].upload("other.csv", csv.replace(b"again-1", b"other-1"), "text/csv")
    at.run()
    _no_exception(at)
    said = [i.value for i in at.info if "Already loaded" in i.value]
    assert said == ["Already loaded (identical content, will be skipped): again.csv"]
    # the file's own line says so too (the check alone would say it loads 1 row); the other one loads
    summary = next(m.value for m in at.markdown if "again.csv" in m.value and "other.csv" in m.value)
    summary = summary.replace("\\", "")  # the markdown source escapes data text (components.md_text)
    assert "again.csv: already loaded (identical content), will be skipped" in summary
    assert "other.csv (canonical columns): 1 row(s) read, 1 loaded" in summary


def test_upload_with_bad_rows_shows_the_report_and_writes_nothing(sample_db, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, db)
    stamp = db.stat().st_mtime_ns
    at = run_app(db, "app_pages/data.py")
    csv = ("deployment_id,service,deployed_at\n"
           "bad-1,home-feed,not a time\n"
           "bad-2,,2026-11-19T12:00:00Z\n").encode()
    at.file_uploader[0].upload("broken.csv", csv, "text/csv")
    at.run()
    assert not at.exception
    assert any("problem(s) found" in e.value for e in at.error)
    report = at.dataframe[-2].value  # the validation report (the last table is the history)
    assert list(report.columns) == ["file", "row", "column", "reason"]
    assert set(report["row"]) == {1, 2} and set(report["column"]) == {"deployed_at", "service"}
    assert at.button(key="ingest").disabled
    assert db.stat().st_mtime_ns == stamp


# --------------------------------------------------------------------------- a locked database


def test_locked_database_shows_a_notice_not_a_traceback(sample_db, tmp_path):
    db = tmp_path / "locked.duckdb"
    shutil.copy(sample_db, db)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); "
                               "time.sleep(60)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        t = time.monotonic()
        at = run_app(db)
        assert not at.exception
        assert any("being updated" in w.value for w in at.warning)
        assert time.monotonic() - t < 30
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------------------- serving & pipelines page

SERVING_PAGE = "app_pages/serving.py"
EXPORTS = ROOT / "tests" / "data" / "exports"


def _engine(db: Path, label: str, kpi_ids: list[str]) -> dict:
    _, start, end = periods.parse_label(label)
    con = kpis.connect(db, read_only=True)
    try:
        df = kpis.compute(con, grain="month", start=start, end=end - timedelta(days=1), kpis=kpi_ids)
    finally:
        con.close()
    return dict(zip(df["kpi"], df["value"]))


def _details(db: Path, name: str, **kw):
    from kpis import details

    con = kpis.connect(db, read_only=True)
    try:
        return getattr(details, name)(con, **kw)
    finally:
        con.close()


def test_serving_page_numbers_are_the_engines(sample_db):
    at = run_app(sample_db, SERVING_PAGE)
    _no_exception(at)
    assert at.session_state["period"] == "2026-10"
    shown = _scorecard(at)
    ids = [k.id for k in catalog.CATALOG if k.family in ("serving", "pipelines", "coverage")]
    values = _engine(sample_db, "2026-10", ids + ["drift_detection_time_median_hours"])
    for kpi_id in ids:
        k = catalog.get(kpi_id)
        assert shown[k.title] == fmt.fmt_value(values[kpi_id], k.unit, kpi_id), kpi_id
    assert shown["CI pipeline duration (median)"] == "10.9 min"  # 0.1811 h x 60, not "0.2 h"
    assert shown["Availability (SLO attainment)"] == "99.83%"  # two decimals, the catalog's for availability
    # No drift incident started in 2026-10 in the sample: the card says so instead of 0.
    assert shown["Drift detection time (median)"] == "No data"
    assert any("SLO of 99.9%" in c.value for c in at.caption)

    # The tables: services (worst error budget first), the runs with problems first, the uncovered models first.
    services, runs, models = (d.value for d in at.dataframe)
    expected_services = _details(sample_db, "serving_by_service", start=date(2026, 10, 1), end=date(2026, 11, 1))
    assert list(services["service"]) == list(expected_services["service"])
    assert services["availability"].tolist() == pytest.approx(expected_services["availability"].tolist())
    expected_runs = _details(sample_db, "pipeline_runs", start=date(2026, 10, 1), end=date(2026, 11, 1))
    # the first TABLE_ROWS_MAX of the month's 607 runs are drawn (the CSV has them all)
    assert len(runs) == min(len(expected_runs), TABLE_ROWS_MAX) and len(expected_runs) > 100
    assert runs["flags"].iloc[0] != "" and runs["flags"].iloc[-1] == ""
    assert {"run_id", "pipeline", "kind", "status", "flags", "on_time", "data_fresh", "validation_passed",
            "reproducible", "duration_hours", "scheduled_at", "started_at", "finished_at"} <= set(runs.columns)
    assert models["gaps"].iloc[0] != "" and (models["as_of"].dt.date == date(2026, 10, 1)).all()
    assert len(at.get("download_button")) >= 3


def test_serving_page_problem_runs_and_a_month_without_inventory(sample_db):
    at = run_app(sample_db, SERVING_PAGE, query={"period": "2026-09"})
    _no_exception(at)
    # Quarterly inventory: September has no snapshot, so the cards and the table show July's.
    assert any("No inventory snapshot in 2026-09: showing the latest before it (2026-07)" in c.value
               for c in at.caption)
    models = at.dataframe[2].value
    assert (models["as_of"].dt.date == date(2026, 7, 1)).all()
    at.segmented_control(key="pl_runs_show").set_value("runs with a problem")
    at.run()
    _no_exception(at)
    runs = at.dataframe[1].value
    assert len(runs) > 0 and (runs["flags"] != "").all()


def test_serving_page_says_what_is_not_loaded(tmp_path):
    db = tmp_path / "deploys_only.duckdb"
    csv = tmp_path / "deployments.csv"
    csv.write_text("deployment_id,service,deployed_at,team,status\n"
                   "d1,svc-a,2026-10-02T10:00:00Z,alpha,success\n")
    con = kpis.connect(db)
    kpis.ingest_files(con, [csv])
    con.close()
    at = run_app(db, SERVING_PAGE)
    _no_exception(at)
    infos = " | ".join(i.value for i in at.info)
    for text in ("No serving metrics loaded", "No pipeline runs loaded", "No model inventory loaded",
                 "No drift incidents loaded"):
        assert text in infos, text
    assert not at.get("plotly_chart") and not at.dataframe  # no empty charts or tables


# --------------------------------------------------------------------------- data page: presets and JSON


def test_upload_with_a_chosen_preset_shows_it_and_its_notes(sample_db, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, db)
    at = run_app(db, "app_pages/data.py")
    presets = at.selectbox(key="upload_preset").options
    assert presets[0].startswith("auto-detect") and any(o.startswith("pagerduty") for o in presets)
    before = int(_metrics(at)["Incidents"].replace(",", ""))
    at.selectbox(key="upload_preset").set_value("pagerduty")
    at.run()
    at.file_uploader[0].upload("pagerduty.csv", (EXPORTS / "pagerduty.csv").read_bytes(), "text/csv")
    at.run()
    _no_exception(at)
    report = at.dataframe[-2].value
    assert report.loc[0, "read with"] == "preset pagerduty" and report.loc[0, "kind"] == "incidents"
    assert any(e.label == "What the preset will do with pagerduty.csv (preset pagerduty)" for e in at.expander)
    at.button(key="ingest").click()
    at.run()
    _no_exception(at)
    assert int(_metrics(at)["Incidents"].replace(",", "")) == before + 3  # the export's three incidents
    last = at.dataframe[0].value  # what the last ingest read, above the uploader
    assert last.loc[0, "file"] == "pagerduty.csv" and last.loc[0, "read with"] == "preset pagerduty"
    assert any(e.label.startswith("What the preset did with pagerduty.csv") for e in at.expander)
    assert at.dataframe[-1].value["mapping"].iloc[0] == "pagerduty"  # the ingest history


def test_json_upload_is_read_through_its_preset(sample_db, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, db)
    at = run_app(db, "app_pages/data.py")
    at.file_uploader[0].upload("opsgenie.json", (EXPORTS / "opsgenie.json").read_bytes(), "application/json")
    at.run()
    _no_exception(at)
    report = at.dataframe[-2].value
    assert report.loc[0, "read with"] == "preset opsgenie" and report.loc[0, "rows read"] == 3
    # A preset for another format is refused with the reason, and nothing can be ingested.
    at.selectbox(key="upload_preset").set_value("pagerduty")
    at.run()
    assert not at.exception
    problems = at.dataframe[-2].value
    assert "reads a CSV or Parquet file" in problems.loc[0, "reason"]
    assert at.button(key="ingest").disabled


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# --------------------------------------------------------------------------- cost page: unattributed cost


def test_cost_page_unattributed_section(sample_db, tmp_path):
    at = run_app(sample_db, "app_pages/cost.py")
    _no_exception(at)
    assert any("All cost lines are attributed" in c.value for c in at.caption)
    assert not any(s.value.startswith("Unattributed cost") for s in at.subheader)

    db = tmp_path / "focus.duckdb"
    shutil.copy(sample_db, db)
    con = kpis.connect(db)
    kpis.ingest_files(con, [EXPORTS / "focus.csv"])  # 3 lines without an ml-service tag: service unattributed
    con.close()
    at = run_app(db, "app_pages/cost.py")
    _no_exception(at)
    assert any(s.value.startswith("Unattributed cost") for s in at.subheader)
    summary = _details(db, "cost_attribution").set_index("currency")
    shown = _metrics(at)
    assert shown["Unattributed cost (USD)"] == fmt.fmt_money(summary.loc["USD", "unattributed_cost"], "USD")
    assert shown["Share of all cost (USD)"] == fmt.fmt_share(summary.loc["USD", "unattributed_share"])
    table = at.dataframe[-1].value
    assert set(table["service"]) >= {"unattributed"} and "reason" in table


def test_a_scoped_target_shows_the_value_it_judges(sample_db):
    """senior's MTTR target is 'for high-severity incidents': the card says which value the status rests on."""
    at = run_app(sample_db, query={"period": "2026-10", "profile": "senior"})
    _no_exception(at)
    con = kpis.connect(sample_db, read_only=True)
    scoped = kpis.compute(con, grain="month", start=date(2026, 10, 1), end=date(2026, 10, 31), kpis=["mttr_hours"],
                          filters={"severity": ["sev1", "sev2"]})["value"].iloc[0]
    con.close()
    want = components_md(f"judged on sev1, sev2 incidents: {fmt.fmt_value(scoped, 'hours', 'mttr_hours')}")
    assert any(c.value == want for c in at.caption), [c.value for c in at.caption if "judged" in c.value]


# --------------------------------------------------------------------------- DORA (issue 15)


def test_delivery_page_shows_dora_metrics_and_the_bucket(sample_db):
    from kpis import dora

    at = run_app(sample_db, "app_pages/delivery.py", query={"profile": "dora"})
    _no_exception(at)
    assert at.session_state["period"] == "2026-10"
    shown = _scorecard(at)
    values = _engine(sample_db, "2026-10", [*dora.THROUGHPUT, *dora.INSTABILITY])
    for kpi_id in (*dora.THROUGHPUT, *dora.INSTABILITY):
        k = catalog.get(kpi_id)
        assert shown[k.title] == fmt.fmt_value(values[kpi_id], k.unit, kpi_id), kpi_id
    # the bucket of the period is the one kpis.dora computes, and the rule is on screen
    freq = _details_fn(sample_db, dora.deployment_frequency, grain="month", start=date(2026, 10, 1),
                       end=date(2026, 10, 31), as_of=date(2026, 11, 20))
    assert shown["DORA bucket, 2026-10"] == freq["bucket"].iloc[0].capitalize()
    assert any("median week" in c.value and "Four Keys" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "median_week_days" in d.value.columns)
    assert table["period"].iloc[0] == "2026-11"  # newest first
    # the table is kpis.dora's over the page's range (the page reads the days per week from its own frame)
    whole = _details_fn(sample_db, dora.deployment_frequency, grain="month", start=at.session_state["range"][0],
                        end=at.session_state["range"][1], as_of=date(2026, 11, 20))
    assert len(whole) > 12
    pd.testing.assert_frame_equal(table.reset_index(drop=True),  # dtypes: as Arrow gave them back to the test
                                  whole.iloc[::-1][list(table.columns)].reset_index(drop=True), check_dtype=False)


def test_delivery_page_with_dora_2025_says_there_are_no_clusters(sample_db):
    at = run_app(sample_db, "app_pages/delivery.py", query={"profile": "dora-2025"})
    _no_exception(at)
    assert any("no elite / high / medium / low clusters" in c.value for c in at.caption)


def test_reliability_page_lists_the_failed_deployments_behind_recovery_time(sample_db):
    at = run_app(sample_db, "app_pages/reliability.py")
    _no_exception(at)
    shown = _scorecard(at)
    expected = _details(sample_db, "failed_deployments", start=date(2026, 10, 1), end=date(2026, 11, 1))
    assert shown["Failed deployments in 2026-10"] == str(len(expected)) and len(expected) > 0
    table = next(d.value for d in at.dataframe if "recovered_by" in d.value.columns)
    assert list(table["deployment_id"]) == list(expected["deployment_id"])
    recovered = table.loc[~table["open"].astype(bool), "recovery_hours"]
    median = _engine(sample_db, "2026-10", ["failed_deployment_recovery_median_hours"])
    assert recovered.median() == pytest.approx(median["failed_deployment_recovery_median_hours"])


def test_day_grain_in_the_app(sample_db):
    at = run_app(sample_db, "app_pages/delivery.py", query={"grain": "day"})
    _no_exception(at)
    # the data runs to 2026-11-20: a day is over once reached, and the trends open on the last 90 days
    assert at.session_state["period"] == "2026-11-20"
    assert tuple(at.session_state["range"]) == (date(2026, 8, 23), date(2026, 11, 20))
    assert any("A day is shorter than a week" in i.value for i in at.info)


def _details_fn(db: Path, fn, **kw):
    con = kpis.connect(db, read_only=True)
    try:
        return fn(con, **kw)
    finally:
        con.close()


def test_trailing_window_on_the_reliability_page(sample_db):
    at = run_app(sample_db, "app_pages/reliability.py")
    _no_exception(at)
    at.segmented_control(key="reliability-window-days").set_value("7 days")
    at.run()
    _no_exception(at)
    # the data runs to 2026-11-20: Nov 14-20 against Nov 7-13
    assert any(s.value.startswith("The last 7 days, to 2026-11-20") for s in at.subheader)
    table = next(d.value for d in at.dataframe if "2026-11-14/2026-11-20" in d.value.columns)
    con = kpis.connect(sample_db, read_only=True)
    try:
        df = kpis.compute(con, window_days=7, start=date(2026, 11, 7), end=date(2026, 11, 20),
                          kpis=["incident_count", "mttr_hours"])
    finally:
        con.close()
    for kpi_id in ("incident_count", "mttr_hours"):
        k = catalog.get(kpi_id)
        row = table[table["KPI"] == k.title].iloc[0]
        for label in ("2026-11-07/2026-11-13", "2026-11-14/2026-11-20"):
            v = df[(df["kpi"] == kpi_id) & (df["period"] == label)]["value"].iloc[0]
            assert row[label] == fmt.fmt_value(v, k.unit, kpi_id, empty=""), (kpi_id, label)


def test_upload_summary_per_file_and_an_all_dropped_export_with_its_hint(sample_db, tmp_path):
    """The Data page shows the CLI's per-file summary: rows read, loaded, dropped per reason (the values seen),
    defaulted columns; an export whose rows a preset dropped, every one, is valid, loads nothing and says why."""
    db = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, db)
    at = run_app(db, "app_pages/data.py")
    runs = {"workflow_runs": [
        {"id": i, "name": name, "head_sha": "a1", "status": "completed", "conclusion": "success",
         "workflow_id": 7, "created_at": "2026-10-02T10:00:00Z", "updated_at": "2026-10-02T10:09:00Z",
         "run_started_at": "2026-10-02T10:00:05Z", "head_commit": {"timestamp": "2026-10-02T09:40:00Z"},
         "repository": {"name": "fraud-api"}} for i, name in ((1, "CI"), (2, "CI"), (3, "Lint"))]}
    at.file_uploader[0].upload("runs.json", json.dumps(runs).encode(), "application/json")
    at.file_uploader[0].upload("focus.csv", (EXPORTS / "focus.csv").read_bytes(), "text/csv")
    at.run()
    _no_exception(at)
    text = "\n".join(m.value for m in at.markdown)
    # markdown escapes every markup character of the data: compare without the backslashes
    plain = text.replace("\\", "")
    assert ("runs.json (preset github-actions): 3 row(s) read, 0 loaded, 3 dropped: not name matches "
            "/(?i)deploy|release/ (3 row(s); seen: 'CI' 2, 'Lint' 1)") in plain
    assert "focus.csv (preset focus): 12 row(s) read, 8 loaded" in plain and "defaulted: category on 3" in plain
    hints = [i.value.replace("\\", "") for i in at.info]
    assert any(h.startswith("runs.json: nothing to load. A run counts when its workflow's name") for h in hints)
    assert not at.button(key="ingest").disabled  # valid: nothing in it is an error


CHANGE_KPIS = [k.id for k in catalog.CATALOG if k.optional_table == "changes"]


def test_delivery_page_shows_lead_time_per_change_and_the_changes_behind_it(sample_db):
    at = run_app(sample_db, "app_pages/delivery.py")
    _no_exception(at)
    assert at.session_state["period"] == "2026-10"
    shown = _metrics(at)
    values = _engine(sample_db, "2026-10", CHANGE_KPIS)
    for kpi_id in CHANGE_KPIS:
        k = catalog.get(kpi_id)
        assert shown[k.title] == fmt.fmt_value(values[kpi_id], k.unit, kpi_id), kpi_id
    # the drill-down: the changes of 2026-10, the counted ones reproducing the median on the card
    table = next(d.value for d in at.dataframe if "change_id" in d.value.columns)
    rows = _details(sample_db, "changes", start=date(2026, 10, 1), end=date(2026, 11, 1))
    assert len(table) == len(rows) > 0
    assert table.loc[table["counted"], "lead_time_hours"].median() == pytest.approx(
        values["change_lead_time_median_hours"])
    assert any("The changes behind" in m.value for m in at.markdown)


def test_delivery_page_without_a_changes_table_says_so_and_the_scorecard_leaves_them_out(sample_db, tmp_path):
    db = tmp_path / "no-changes.duckdb"
    con = kpis.connect(db)
    kpis.ingest_files(con, [p for p in sorted((ROOT / "sample_data").iterdir())
                            if p.suffix in (".csv", ".parquet") and p.name != "changes.csv"])
    con.close()
    at = run_app(db, "app_pages/delivery.py")
    _no_exception(at)
    assert any("No changes table is loaded, so lead time is per deployment" in i.value for i in at.info)
    titles = {catalog.get(k).title for k in CHANGE_KPIS}
    assert not titles & set(_metrics(at))
    assert "Lead time for change (median)" in _metrics(at)  # the per-deployment lead time stays
    card = run_app(db)
    _no_exception(card)
    assert not titles & set(_metrics(card)), "the scorecard shows no empty lead time per change"
