"""No row can break a page or the command line.

Rows dated in year 0, 1500, 9998 or 9999 are written straight into the database with SQL (as an ingest
before the date check did, or another tool): the data range, the sidebar's date range and every spine stay
within the plausible window (kpis.engine.plausible_window), the rows left out are named, every page renders
and ``compute`` prints the same bounded output as without them; a requested range wider than
kpis.engine.MAX_PERIODS or beyond the supported days is refused with a message, never a traceback.

A page section that fails (a query raising) shows its own short message and the rest of the page renders
(ui.components.section); Streamlit's st.stop and st.rerun pass through it.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from test_app import HEADINGS, PAGES, _restore_env, run_app  # noqa: F401 - _restore_env is an autouse fixture

import kpis
from kpis import engine, ingest, periods
from ui import data

ROOT = Path(__file__).resolve().parent.parent

# (table, SQL insert) of the implausible rows: deployments at the extremes the issue names, an incident
# resolved in 9999 (its start is plausible), a cost line in 9998 and a prediction day in 1500.
ODD_ROWS = [
    ("deployments", "INSERT INTO deployments (deployment_id, service, deployed_at, environment, status) "
                    "VALUES (?, 'odd-service', ?::TIMESTAMP, 'production', 'success')",
     [["odd-0000", "0000-01-01 00:00:00"], ["odd-0001", "0001-01-01 00:00:00"],
      ["odd-1500", "1500-06-01 12:00:00"], ["odd-9998", "9998-06-01 12:00:00"],
      ["odd-9999", "9999-12-31 23:59:59"]]),
    ("incidents", "INSERT INTO incidents (incident_id, service, started_at, resolved_at, ml_related) "
                  "VALUES (?, 'odd-service', ?::TIMESTAMP, ?::TIMESTAMP, true)",
     [["odd-incident", "2026-10-03 00:00:00", "9999-12-31 23:59:59"]]),
    ("costs", "INSERT INTO costs (date, amount, service, currency, category) "
              "VALUES (?::DATE, 5, 'odd-service', 'USD', 'inference')", [["9998-01-01"]]),
    ("predictions", "INSERT INTO predictions (date, service, predictions) VALUES (?::DATE, 'odd-service', 10)",
     [["1500-01-01"]]),
]


@pytest.fixture(scope="module")
def odd_db(sample_db, tmp_path_factory) -> Path:
    """The sample data plus the implausible rows, inserted with SQL (bypassing the ingest's checks)."""
    path = tmp_path_factory.mktemp("odd") / "odd.duckdb"
    shutil.copy(sample_db, path)
    con = duckdb.connect(str(path))
    for _, sql, rows in ODD_ROWS:
        con.executemany(sql, rows)
    con.close()
    return path


def _read(path):
    return kpis.connect(path, read_only=True)


def _literal(markdown: str) -> str:
    """What a reader sees of markdown escaped with kpis.format.md_text (backslash escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown)


# --------------------------------------------------------------------------- the engine


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo", "America/Los_Angeles"])
def test_the_data_range_leaves_out_the_implausible_rows(sample_db, odd_db, tz):
    sample, odd = _read(sample_db), _read(odd_db)
    try:
        # 9999-12-31 23:59:59 UTC is 10000-01-01 in Tokyo: it must not reach a date, nor widen the range
        assert engine.data_range(odd, tz) == engine.data_range(sample, tz)
        assert engine.through_date(odd, tz) == engine.through_date(sample, tz)
        lo, hi = engine.data_range(odd, tz)
        assert date(2025, 1, 1) < lo < hi < date(2027, 1, 1)  # the sample's 18 months
    finally:
        sample.close()
        odd.close()


def test_the_rows_outside_the_window_are_counted_per_table(odd_db):
    con = _read(odd_db)
    try:
        outside = {o.table: o for o in engine.outside_window(con)}
    finally:
        con.close()
    assert set(outside) == {"deployments", "incidents", "costs", "predictions"}
    dep = outside["deployments"]
    assert dep.rows == 5 and dep.columns == ("deployed_at",)
    assert dep.earliest.startswith("0001-01-01 (BC)")  # year 0: DuckDB's words, no Python date needed
    assert dep.latest == "9999-12-31 23:59:59"
    assert outside["incidents"].rows == 1 and outside["incidents"].earliest == "9999-12-31 23:59:59"
    assert outside["costs"].rows == 1 and outside["costs"].latest.startswith("9998-01-01")
    assert outside["predictions"].rows == 1 and outside["predictions"].earliest.startswith("1500-01-01")
    assert dep.describe() == ("5 rows of deployments with deployed_at from 0001-01-01 (BC) 00:00:00 to "
                              "9999-12-31 23:59:59")


def test_the_window_runs_from_2000_to_a_year_after_today(monkeypatch):
    monkeypatch.delenv("KPI_PLAUSIBLE_FROM", raising=False)
    monkeypatch.delenv("KPI_PLAUSIBLE_TO", raising=False)
    assert engine.plausible_window(date(2026, 11, 25)) == (date(2000, 1, 1), date(2027, 11, 25))
    assert engine.plausible_window(date(2028, 2, 29)) == (date(2000, 1, 1), date(2029, 2, 28))  # 365 days on
    # one rule: the engine's window is the ingest's, settings included
    monkeypatch.setenv("KPI_PLAUSIBLE_FROM", "1995-01-01")
    assert engine.plausible_window() == ingest.plausible_window() == (date(1995, 1, 1), ingest.plausible_window()[1])


def test_an_explicit_window_moves_what_counts(odd_db):
    con = _read(odd_db)
    try:
        wide = engine.outside_window(con, window=(date(1, 1, 1), date(9999, 12, 31)))
        rng = engine.data_range(con, window=(date(1400, 1, 1), date(2030, 1, 1)))
    finally:
        con.close()
    # only year 0 lies before 0001-01-01 (the 9999-12-31 23:59:59 rows are on the window's last day)
    assert [(o.table, o.rows) for o in wide] == [("deployments", 1)]
    assert rng[0] == date(1500, 1, 1)  # the 1500 prediction day is inside this window


# KPIs the odd rows could reach (the incident started in October 2026 is plausible, and counted).
UNTOUCHED = ["deployment_count", "change_failure_rate", "inference_cost", "predictions", "cost_per_1k_predictions"]


@pytest.mark.parametrize("grain", ["week", "month", "quarter"])
def test_compute_without_a_range_is_that_of_the_plausible_rows(sample_db, odd_db, grain):
    sample, odd = _read(sample_db), _read(odd_db)
    try:
        want = engine.compute(sample, grain=grain, kpis=UNTOUCHED)
        got = engine.compute(odd, grain=grain, kpis=UNTOUCHED)
    finally:
        sample.close()
        odd.close()
    assert list(got["period"].unique()) == list(want["period"].unique())
    assert len(got["period"].unique()) <= 85  # 18 months of weeks, not 400,000
    # The odd rows are out of every period's bounds: the numbers are the sample's own.
    assert got["n"].tolist() == want["n"].tolist()


def test_a_range_of_too_many_periods_is_refused_with_a_message(odd_db):
    con = _read(odd_db)
    try:
        with pytest.raises(engine.RangeError, match=r"spans 417,\d{3} weeks; at most 2,000 periods"):
            engine.compute(con, grain="week", start=date(2000, 1, 1), end=date(9998, 1, 1))
        with pytest.raises(engine.RangeError, match="1500-01-01 is outside the supported days"):
            engine.compute(con, grain="month", start=date(1500, 1, 1), end=date(2026, 1, 1))
        with pytest.raises(engine.RangeError, match="9999-12-31 is outside the supported days"):
            engine.compute(con, grain="quarter", start=date(2026, 1, 1), end=date(9999, 12, 31))
        with pytest.raises(engine.RangeError, match="starts .* after it ends"):
            engine.compute(con, start=date(2026, 2, 1), end=date(2026, 1, 1))
        # the limit itself: 2,000 weeks pass, 2,001 do not
        start = date(2000, 1, 3)  # a Monday
        engine.check_range(start, start + timedelta(weeks=2000) - timedelta(days=1), "week")
        with pytest.raises(engine.RangeError):
            engine.check_range(start, start + timedelta(weeks=2000), "week")
        # the supported days' last quarter ends on a representable day
        engine.check_range(date(9998, 10, 1), date(9998, 12, 31), "quarter")
        assert periods.next_start(date(9998, 10, 1), "quarter") == date(9999, 1, 1)
    finally:
        con.close()


@pytest.mark.parametrize("grain", ["week", "month", "quarter"])
@pytest.mark.parametrize("first, last", [(date(2026, 1, 1), date(2026, 1, 1)), (date(2025, 12, 29), date(2026, 3, 2)),
                                         (date(2024, 2, 29), date(2026, 11, 30)), (date(2026, 3, 1), date(2026, 2, 1))])
def test_count_of_periods_is_the_spine_length(grain, first, last):
    assert periods.count(first, last, grain) == len(periods.spine(first, last, grain))


# --------------------------------------------------------------------------- the command line


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "kpis", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def _csv_rows(text: str) -> dict:
    rows = csv.DictReader(io.StringIO(text))
    return {(r["period"], r["kpi"], r["unit"]): (r["value"], r["n"]) for r in rows}


def test_cli_compute_prints_the_same_bounded_output(sample_db, odd_db):
    for tz in ("UTC", "Asia/Tokyo"):
        kpi_args = [a for k in UNTOUCHED for a in ("--kpi", k)]
        want = _cli("compute", "--db", sample_db, "--format", "csv", "--tz", tz, *kpi_args)
        got = _cli("compute", "--db", odd_db, "--format", "csv", "--tz", tz, *kpi_args)
        everything = _cli("compute", "--db", odd_db, "--format", "csv", "--tz", tz)  # every KPI: bounded too
        assert everything.returncode == 0 and len(everything.stdout) < 200_000
        assert got.returncode == 0, got.stderr
        assert "Traceback" not in got.stderr
        assert len(got.stdout) < 200_000
        got_rows, want_rows = _csv_rows(got.stdout), _csv_rows(want.stdout)
        assert got_rows.keys() == want_rows.keys() and len(got_rows) > 90  # 19 months x 5 KPIs
        for key, (value, n) in want_rows.items():  # the same numbers (sums may differ in the last bit)
            assert got_rows[key][1] == n and (value == got_rows[key][0] or
                                              math.isclose(float(value), float(got_rows[key][0]), rel_tol=1e-12))


@pytest.mark.parametrize("args, message", [
    (("--from", "1500-01-01"), "error: the date 1500-01-01 is outside the supported days (1900-01-01 to 9998-12-31)"),
    (("--from", "2000-01-01", "--to", "9998-12-31", "--grain", "week"),
     "error: the range 2000-01-01 to 9998-12-31 spans 417,369 weeks; at most 2,000 periods are computed at once"),
    (("--to", "9999-12-31"), "error: the date 9999-12-31 is outside the supported days"),
])
def test_cli_refuses_a_range_it_cannot_compute(odd_db, args, message):
    r = _cli("compute", "--db", odd_db, *args)
    assert r.returncode == 2
    assert r.stderr.startswith(message), r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_cli_report_on_the_odd_rows(odd_db, tmp_path):
    out = tmp_path / "review.html"
    r = _cli("report", "--db", odd_db, "--period", "2026-10", "--out", out)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 10_000


# --------------------------------------------------------------------------- the pages


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_over_the_implausible_rows(odd_db, page):
    at = run_app(odd_db, page, query={"tz": "Asia/Tokyo"})  # Tokyo: the 9999-12-31 23:59 row is year 10000
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    subheaders = [s.value for s in at.subheader]
    # (in Tokyo no KPI of the sample is near target)
    needed = ["Off target", "On target", "Without a target"] if page.endswith("scorecard.py") else HEADINGS[page]
    for heading in needed:
        assert any(_literal(s).startswith(heading) for s in subheaders), (heading, subheaders)
    # The sidebar's range is the sample's, and it says which rows it leaves out.
    start, end = at.sidebar.date_input[0].value
    assert date(2025, 1, 1) < start < end < date(2027, 1, 1)
    warning = _literal(" ".join(w.value for w in at.sidebar.warning))
    assert "8 rows dated outside 2000-01-01 to" in warning
    assert "5 rows of deployments with deployed_at from 0001-01-01 (BC) 00:00:00 to 9999-12-31 23:59:59" in warning
    assert "1 row of incidents with started_at / resolved_at" in warning
    assert "1 row of costs" in warning and "1 row of predictions" in warning


def test_the_incident_resolved_in_year_10000_is_listed(odd_db):
    # The Reliability page's incidents of October 2026 in Tokyo: the odd one's resolved time is written as text.
    at = run_app(odd_db, "app_pages/reliability.py", query={"tz": "Asia/Tokyo", "period": "2026-10",
                                                            "grain": "month"})
    assert not at.exception and not at.error
    tables = [df.value for df in at.dataframe]
    shown = [t.data if hasattr(t, "data") else t for t in tables]
    texts = " ".join(frame.astype(str).to_string() for frame in shown)
    assert "odd-service" in texts and "10000-01-01" in texts


@pytest.mark.parametrize("page", ["app_pages/scorecard.py", "app_pages/delivery.py", "app_pages/reliability.py",
                                  "app_pages/review.py"])
def test_implausible_times_inside_a_plausible_row(sample_db, tmp_path, page):
    # A deployment of October 2026 whose work started in year 0 (a lead time of 2,026 years) and an incident
    # detected in 9999: counted, listed, and no page breaks on them.
    path = tmp_path / "inside.duckdb"
    shutil.copy(sample_db, path)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO deployments (deployment_id, service, deployed_at, environment, status, "
                "change_started_at, team) VALUES ('year-zero-start', 'odd-service', '2026-10-05 10:00:00', "
                "'production', 'success', '0000-01-01 00:00:00'::TIMESTAMP, 'fraud')")
    con.execute("INSERT INTO incidents (incident_id, service, started_at, detected_at, ml_related) VALUES "
                "('detected-9999', 'odd-service', '2026-10-05 10:00:00', '9999-12-31 00:00:00', true)")
    con.close()
    at = run_app(path, page, query={"grain": "month", "period": "2026-10"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    if page.endswith(("delivery.py", "reliability.py")):
        shown = " ".join(df.value.astype(str).to_string() for df in at.dataframe)
        assert ("year-zero-start" if page.endswith("delivery.py") else "detected-9999") in shown


# --------------------------------------------------------------------------- a failing section


@pytest.fixture
def fresh_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def _boom(*args, **kwargs):
    raise RuntimeError("year 10000 is out of range\nsecond line of detail")


def test_a_failing_section_shows_its_error_and_the_rest_renders(sample_db, monkeypatch, fresh_cache, caplog):
    monkeypatch.setitem(data.QUERIES, "incidents", _boom)
    with caplog.at_level(logging.ERROR, logger="ui.components"):
        at = run_app(sample_db, "app_pages/reliability.py")
    assert not at.exception
    errors = [_literal(e.value) for e in at.error]
    assert errors == ["The incidents behind the numbers could not be shown: year 10000 is out of range "
                      "(RuntimeError). The rest of the page is unaffected. Try a narrower date range or other "
                      "filters; the full error is in the server log."]
    assert "Traceback" not in errors[0] and "second line" not in errors[0]
    # every other section: its heading, and the charts and tables drawn
    subheaders = [s.value for s in at.subheader]
    for heading in HEADINGS["app_pages/reliability.py"]:
        assert any(s.startswith(heading) for s in subheaders), heading
    assert len(at.get("plotly_chart")) >= 6 and len(at.dataframe) >= 2  # open incidents, worst services
    # the traceback went to the server log
    assert "page section 'The incidents behind the numbers' failed" in caplog.text
    assert "Traceback" in caplog.text and "year 10000 is out of range" in caplog.text


def test_a_failing_sidebar_says_so_instead_of_the_apps_error_page(sample_db, monkeypatch, fresh_cache):
    """The sidebar's own queries (the data range, the filter lists) failing: one message, no traceback."""
    monkeypatch.setitem(data.QUERIES, "data_range", _boom)
    at = run_app(sample_db, "app_pages/delivery.py")
    assert not at.exception
    assert [_literal(e.value).split(":")[0] for e in at.error] == ["The sidebar (period, range, filters) could "
                                                                    "not be shown"]
    assert not at.subheader  # the page itself did not run on a selection it does not have


def test_a_failing_detail_function_on_delivery(sample_db, monkeypatch, fresh_cache):
    from kpis import details

    monkeypatch.setitem(data.QUERIES, "lead_time_distribution", _boom)
    monkeypatch.setattr(details, "lead_time_distribution", _boom)
    at = run_app(sample_db, "app_pages/delivery.py")
    assert not at.exception
    assert [_literal(e.value).split(":")[0] for e in at.error] == ["Lead time for change could not be shown"]
    subheaders = [s.value for s in at.subheader]
    for heading in HEADINGS["app_pages/delivery.py"]:
        assert any(s.startswith(heading) for s in subheaders), heading
    assert len(at.get("plotly_chart")) >= 3  # deployments by team, per week, CFR, rollback


def test_the_scorecard_stops_with_a_message_when_its_kpis_fail(sample_db, monkeypatch, fresh_cache):
    monkeypatch.setitem(data.QUERIES, "compute", _boom)
    at = run_app(sample_db, "app_pages/scorecard.py")
    assert not at.exception
    assert [_literal(e.value).split(":")[0] for e in at.error] == ["The scorecard could not be shown"]
    assert at.sidebar.date_input  # the sidebar is there to change the selection


def test_one_failing_review_section_leaves_the_others(sample_db, monkeypatch, fresh_cache):
    import review.html

    def broken(built):
        raise ValueError("no period to compare with")

    monkeypatch.setattr(review.html, "compared_with", broken)  # the scorecard section's table needs it
    at = run_app(sample_db, "app_pages/review.py")
    assert not at.exception
    errors = [_literal(e.value) for e in at.error]
    assert len(errors) == 1 and re.match(r"Scorecard · \d{4}-\d{2} could not be shown: no period to compare with",
                                         errors[0]), errors
    subheaders = [s.value for s in at.subheader]
    for heading in HEADINGS["app_pages/review.py"]:
        assert any(s.startswith(heading) for s in subheaders), heading


def _script_stop():
    import streamlit as st

    from ui import components

    with components.section("A"):
        st.write("inside")
        st.stop()
    st.write("after the section")


def _script_rerun():
    import streamlit as st

    from ui import components

    n = st.session_state.get("runs", 0) + 1
    st.session_state["runs"] = n
    with components.section("B"):
        if n == 1:
            st.rerun()
    st.write(f"run {n}")


def test_stop_and_rerun_pass_through_a_section():
    at = AppTest.from_function(_script_stop).run()
    assert not at.error and not at.exception
    assert [m.value for m in at.markdown] == ["inside"]  # st.stop ended the script: nothing after it
    at = AppTest.from_function(_script_rerun).run()
    assert not at.error and not at.exception
    assert [m.value for m in at.markdown] == ["run 2"]  # the rerun happened, not an error message


# --------------------------------------------------------------------------- data values never become markup

TEAM = "![t](http://host/x.png)"  # markdown that makes every viewer's browser fetch the image
SERVICE = "<img src=x onerror=alert(1)>"  # HTML
MODEL = "[click](http://evil)"  # a link
# Unescaped, each of these is markup (checked after the escaped characters are taken out).
MARKUP = ("![t](", "<img", "[click](", "](http://evil)", "](http://host", "http://host", "http://evil")
TEXT_FIELDS = ("body", "label", "help", "caption", "delta", "delta_description", "placeholder")
NOT_MARKDOWN = ("Code", "Text", "Html", "PlotlyChart", "Arrow", "Json")


def make_evil_db(sample_db, path: Path) -> Path:
    """The sample data with the team 'search' renamed TEAM, the service 'query-understanding' SERVICE and the
    model 'query-bert' MODEL in every table (the daily rollups rebuilt), so the names reach every page."""
    from kpis import rollups

    shutil.copy(sample_db, path)
    con = kpis.connect(path)
    for table in ("deployments", "incidents", "costs", "predictions", "pipeline_runs", "models"):
        con.execute(f"UPDATE {table} SET team = $v WHERE team = 'search'", {"v": TEAM})
        con.execute(f"UPDATE {table} SET service = $v WHERE service = 'query-understanding'", {"v": SERVICE})
        con.execute(f"UPDATE {table} SET model = $v WHERE model = 'query-bert'", {"v": MODEL})
    for r in rollups.ROLLUPS:
        rollups.rebuild(con, r)
    con.close()
    return path


@pytest.fixture(scope="module")
def evil_db(sample_db, tmp_path_factory) -> Path:
    return make_evil_db(sample_db, tmp_path_factory.mktemp("evil") / "evil.duckdb")


def _texts(proto, kind: str):
    """(field, text) of every markdown text field in ``proto`` and the messages inside it."""
    for field, value in proto.ListFields():
        if field.type == field.TYPE_MESSAGE:
            for v in ([value] if hasattr(value, "ListFields") else value):
                yield from _texts(v, kind)
        elif field.type == field.TYPE_STRING and field.name in TEXT_FIELDS:
            for v in ([value] if isinstance(value, str) else value):
                yield f"{kind}.{field.name}", v


def markup_leaks(at: AppTest) -> list[tuple[str, str]]:
    """Every text the page renders as markdown that still holds markup from the data, and every st.html body
    with a raw tag from it."""
    leaks = []

    def walk(node):
        proto = getattr(node, "proto", None)
        kind = type(proto).__name__ if proto is not None else ""
        if kind == "Html":
            if SERVICE in proto.body:
                leaks.append(("Html.body", proto.body))
        elif proto is not None and kind not in NOT_MARKDOWN:
            for name, text in _texts(proto, kind):
                bare = re.sub(r"\\.", "·", text)  # an escaped character shows literally
                if any(m in bare for m in MARKUP):
                    leaks.append((name, text))
        children = getattr(node, "children", None) or {}
        for child in (children.values() if isinstance(children, dict) else children):
            walk(child)

    walk(at._tree)
    return leaks


@pytest.mark.parametrize("page", PAGES)
def test_names_with_markup_are_shown_literally_on_every_page(evil_db, page):
    # Chosen in the sidebar (the URL selects it, as a shared link would): the page caption names it.
    at = run_app(evil_db, page, query={"team": TEAM, "grain": "month", "period": "2026-10"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.multiselect[0].value == [TEAM]
    assert not markup_leaks(at)
    captions = [_literal(c.value) for c in at.caption]
    if page != "app_pages/data.py":
        assert any(f"team: {TEAM}" in c for c in captions), captions  # the literal characters
    # Unfiltered: the service and the model show up in drivers, cards and tables of the whole organisation.
    at = run_app(evil_db, page, query={"grain": "month", "period": "2026-10"})
    assert not at.exception
    assert not markup_leaks(at)


def test_the_checker_finds_unescaped_markup(evil_db):
    # The check above can fail: a caption written without kpis.format.md_text is caught.
    def script():
        import streamlit as st

        from kpis import format as fmt

        st.caption(f"team: {fmt.md_text('![t](http://host/x.png)')}")
        st.caption("team: ![t](http://host/x.png)")
        st.markdown("<img src=x onerror=alert(1)>")
        with st.expander("[click](http://evil)"):
            st.write("x")

    at = AppTest.from_function(script).run()
    assert [name for name, _ in markup_leaks(at)] == ["Markdown.body", "Markdown.body", "Expandable.label"]


def test_the_selected_service_and_model_are_literal_in_captions(evil_db):
    at = run_app(evil_db, "app_pages/delivery.py", query={"service": SERVICE, "model": MODEL})
    assert not at.exception and not markup_leaks(at)
    captions = " ".join(_literal(c.value) for c in at.caption)
    assert f"service: {SERVICE}" in captions and f"model: {MODEL}" in captions


def test_the_review_pack_html_escapes_the_names(evil_db):
    import review

    con = _read(evil_db)
    try:
        packs = [review.build_review(con, period="2026-10", profile="lead", filters=f)
                 for f in ({}, {"team": [TEAM]}, {"service": [SERVICE]}, {"model": [MODEL]})]
    finally:
        con.close()
    html = [review.render(p, "html").decode("utf-8") for p in packs]
    for text in html:
        assert "<img src=x" not in text and 'src="http://host' not in text and 'href="http://evil' not in text
    assert f"<td>{TEAM}</td>" in html[0]  # the team in a table cell: markdown is plain text in HTML
    assert "&lt;img src=x onerror=alert(1)&gt;" in html[2]  # the chosen service, in the pack's subtitle
    assert "[click](http://evil)" in html[3]


# --------------------------------------------------------------------------- CSV formula cells

# OWASP's CSV-injection rule: a cell beginning with any of these is prefixed with an apostrophe.
FORMULA_TEAMS = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"]


@pytest.fixture(scope="module")
def formula_db(sample_db, tmp_path_factory) -> Path:
    """The sample data with its teams renamed to cells a spreadsheet would run as formulas."""
    from kpis import rollups

    path = tmp_path_factory.mktemp("formula") / "formula.duckdb"
    shutil.copy(sample_db, path)
    con = kpis.connect(path)
    teams = [r[0] for r in con.execute("SELECT DISTINCT team FROM deployments WHERE team IS NOT NULL ORDER BY 1")
             .fetchall()]
    renames = dict(zip(teams, FORMULA_TEAMS))
    for table in ("deployments", "incidents", "costs", "predictions", "pipeline_runs", "models"):
        for old, new in renames.items():
            con.execute(f"UPDATE {table} SET team = $new WHERE team = $old", {"new": new, "old": old})
    for r in rollups.ROLLUPS:
        rollups.rebuild(con, r)
    con.close()
    return path


def test_the_formula_rule_covers_the_six_leading_characters():
    from kpis import format as fmt

    assert set(fmt.FORMULA_START) == {"=", "+", "-", "@", "\t", "\r"}
    for cell in FORMULA_TEAMS:
        assert fmt.neutralise(cell) == "'" + cell
    assert fmt.neutralise(-2.5) == -2.5 and fmt.neutralise("fraud") == "fraud"


def test_cli_csv_neutralises_every_formula_cell_and_keeps_negative_numbers(formula_db):
    r = _cli("compute", "--db", formula_db, "--by", "team", "--kpi", "deployment_count", "--kpi",
             "error_budget_remaining", "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    teams = {row["team"] for row in rows if row["team"]}
    assert teams == {"'" + t for t in FORMULA_TEAMS[:len(teams)]} and len(teams) == 4  # the sample's four teams
    assert not [row for row in rows for v in row.values() if v and v[0] in "=+@\t\r"]
    negative = [row["value"] for row in rows if row["value"].startswith("-")]
    assert negative and all(float(v) < 0 for v in negative)  # an overspent error budget stays a number


def test_a_page_download_neutralises_every_formula_cell(formula_db, monkeypatch, fresh_cache):
    downloads = {}
    real = st.download_button

    def keep(label, data, *args, **kwargs):
        downloads[kwargs.get("key")] = data() if callable(data) else data
        return real(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", keep)
    at = run_app(formula_db, "app_pages/delivery.py", query={"grain": "month", "period": "2026-10"})
    assert not at.exception
    import pandas as pd

    rows = pd.read_csv(io.BytesIO(downloads["dl-deployments"]), dtype=str, keep_default_na=False)
    teams = set(rows["team"]) - {""}
    assert teams == {"'" + t for t in FORMULA_TEAMS[:4]}
    assert not [v for col in rows.columns for v in rows[col] if v and v[0] in "=+-@\t\r"]


def test_the_tables_own_export_is_off_so_every_csv_is_neutralised():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True
