"""The sidebar's selection follows the data (AppTest): defaults from the data's extent, recomputed when
the data changes, a link outside the data corrected with a notice, the reporting time zone."""

from __future__ import annotations

from datetime import date

from test_app import _no_exception, _restore_env, _scorecard, run_app  # noqa: F401 (an autouse fixture)

import kpis
from kpis.format import md_text


def _extent(db) -> tuple[date, date]:
    con = kpis.connect(db, read_only=True)
    try:
        return kpis.data_range(con)
    finally:
        con.close()


def test_fresh_link_opens_on_the_last_complete_month_and_the_whole_data(sample_db):
    at = run_app(sample_db)
    _no_exception(at)
    first, last = _extent(sample_db)  # 2025-05-20 .. 2026-11-20
    assert at.session_state["period"] == "2026-10"  # November is in progress (data to Nov 20)
    assert tuple(at.session_state["range"]) == (first, last)
    assert at.query_params["period"] in ("2026-10", ["2026-10"])
    # The period list marks the month in progress.
    box = at.selectbox(key="period")
    assert "2026-11 (to date: 20 of 30 days)" in box.options


def test_load_sample_data_replaces_the_empty_database_defaults(empty_db):
    at = run_app(empty_db)
    today_range = tuple(at.session_state["range"])
    assert today_range[0] == today_range[1]  # nothing loaded: a one-day range
    next(b for b in at.button if b.label == "Load sample data").click()
    at.run()
    _no_exception(at)
    first, last = _extent(empty_db)
    # The stale one-day range and the month of today are replaced by the data's.
    assert tuple(at.session_state["range"]) == (first, last)
    assert at.session_state["period"] == "2026-10"
    assert (at.query_params["from"], at.query_params["to"]) in (
        (first.isoformat(), last.isoformat()), ([first.isoformat()], [last.isoformat()]))
    assert _scorecard(at)["Production deployments"] not in ("No data", "0")


def test_a_chosen_range_inside_the_data_is_kept_when_the_data_changes(sample_db, tmp_path):
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, db)
    at = run_app(db, query={"from": "2026-01-01", "to": "2026-06-30", "period": "2026-03"})
    _no_exception(at)
    assert tuple(at.session_state["range"]) == (date(2026, 1, 1), date(2026, 6, 30))
    assert at.session_state["period"] == "2026-03"
    assert not at.info or not any("outside the data" in i.value for i in at.info)


def test_link_outside_the_data_is_corrected_with_a_notice(sample_db):
    at = run_app(sample_db, query={"period": "2024-02", "from": "2024-01-01", "to": "2024-03-31"})
    _no_exception(at)
    first, last = _extent(sample_db)
    assert at.session_state["period"] == "2026-10"
    assert tuple(at.session_state["range"]) == (first, last)
    notes = [i.value for i in at.info]
    # (shown literally: the link's values are escaped for markdown)
    assert any(md_text("Period 2024-02 is outside the data") in n for n in notes), notes
    assert any(md_text("date range 2024-01-01 to 2024-03-31 is outside the data") in n for n in notes), notes
    assert at.query_params["period"] in ("2026-10", ["2026-10"])  # the URL is corrected too


def test_a_range_reaching_past_the_data_is_clamped(sample_db):
    at = run_app(sample_db, query={"from": "2026-06-01", "to": "2027-03-31"})
    _no_exception(at)
    assert tuple(at.session_state["range"]) == (date(2026, 6, 1), date(2026, 11, 20))
    assert any("reaches beyond the data" in i.value for i in at.info)


def test_reporting_time_zone_is_in_the_sidebar_and_the_url(sample_db):
    at = run_app(sample_db, query={"tz": "Asia/Kolkata"})
    _no_exception(at)
    assert at.selectbox(key="tz").value == "Asia/Kolkata"
    assert at.session_state["view"].tz == "Asia/Kolkata"
    at.selectbox(key="tz").set_value("America/Los_Angeles")
    at.run()
    _no_exception(at)
    assert at.query_params["tz"] in ("America/Los_Angeles", ["America/Los_Angeles"])
    # An unknown zone in a link is not used, and the page says so.
    bad = run_app(sample_db, query={"tz": "Mars/Olympus"})
    _no_exception(bad)
    assert bad.session_state["view"].tz == "UTC"
    assert any("Mars/Olympus" in i.value for i in bad.info)


def test_time_zone_moves_events_between_periods(tmp_path):
    """The golden d9 is deployed 2026-10-31 23:30 in New York = 2026-11-01 03:30Z: October's in New York."""
    import golden

    folder = golden.write(tmp_path)
    db = folder / "kpi.duckdb"
    con = kpis.connect(db)
    kpis.ingest_files(con, [folder])
    con.close()
    utc = run_app(db, query={"period": "2026-10", "profile": "(none)"})
    ny = run_app(db, query={"period": "2026-10", "profile": "(none)", "tz": "America/New_York"})
    _no_exception(utc)
    _no_exception(ny)
    # October: d1, d2, d4, d5, d7 succeed in UTC (5); New York adds d9 (6).
    assert _scorecard(utc)["Production deployments"] == "5"
    assert _scorecard(ny)["Production deployments"] == "6"


def test_comparison_tables_compare_a_period_in_progress_over_equal_spans(sample_db):
    """Reliability's quarter over quarter and Cost's MoM / YoY for November (to date, 20 days): against the same
    days of the earlier periods, with a verdict, instead of 'not judged' or a whole period."""
    from kpis import format as fmt

    at = run_app(sample_db, page="app_pages/reliability.py", query={"period": "2026-11", "profile": "(none)"})
    _no_exception(at)
    qoq = next(d.value for d in at.dataframe if "KPI" in d.value.columns and "vs 2026-Q3 days 1–51" in d.value.columns)
    # 2026-Q4 to date is Oct 1 .. Nov 20 = 51 days: the engine with span_days=51 gives both columns.
    con = kpis.connect(sample_db, read_only=True)
    span = kpis.compute(con, grain="quarter", start=date(2026, 7, 1), end=date(2026, 12, 31), span_days=51,
                        kpis=["incident_count"])
    con.close()
    q3, q4 = (span[span["period"] == p]["value"].iloc[0] for p in ("2026-Q3", "2026-Q4"))
    row = qoq[qoq["KPI"] == "ML incidents"].iloc[0]
    assert row["2026-Q3 days 1–51"] == fmt.fmt_value(q3, "count", "incident_count")
    assert row["2026-Q4 (to date)"] == fmt.fmt_value(q4, "count", "incident_count")
    assert row["vs 2026-Q3 days 1–51"] in ("better", "worse", "no change")
    at.switch_page("app_pages/cost.py")
    at.run()
    _no_exception(at)
    changes = next(d.value for d in at.dataframe if "KPI" in d.value.columns and any("days 1–20" in c for c in d.value.columns))
    assert not any(str(v).startswith("not judged") for v in changes.to_numpy().ravel())


def test_a_links_values_are_shown_literally_in_the_notice(sample_db):
    """A period in a link is text from outside: quoted in the correction notice, never rendered as markdown."""
    at = run_app(sample_db, query={"period": "[click](http://example.com)"})
    _no_exception(at)
    notes = [i.value for i in at.info if "outside the data" in i.value]
    assert notes and all("\\[click\\]\\(http" in n for n in notes), notes
    assert at.session_state["period"] == "2026-10"
