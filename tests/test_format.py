"""kpis/format: one way to write a number, on cards, in tables, on axes, in the CLI and the review pack.

Each case says how the expected text was worked out.
"""

from __future__ import annotations

import ast
import io
import math
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from kpis import catalog
from kpis import format as fmt

ROOT = Path(__file__).resolve().parent.parent

# (kpi, engine unit, value in base units, as a card writes it)
VALUES = [
    ("lead_time_median_hours", "hours", 366, "15.3 d"),  # 366 / 24 = 15.25 d, half up
    ("lead_time_median_hours", "hours", 47.5, "47.5 h"),  # under two days: hours
    ("ttd_median_hours", "hours", 0.5, "30.0 min"),  # under an hour: 0.5 x 60
    ("ci_duration_median_hours", "hours", 1.5, "90.0 min"),  # CI runs: minutes under two hours
    ("ci_duration_median_hours", "hours", 0.1811, "10.9 min"),  # 0.1811 x 60 = 10.866
    ("mttr_hours", "hours", 8.525, "8.5 h"),
    ("predictions", "predictions", 1234567, "1,234,567"),  # never "1.2 M"
    ("predictions", "predictions", 6371072415, "6,371,072,415"),  # never "6.4G"
    ("deployment_count", "count", 52, "52"),
    ("incident_count", "count", 1234, "1,234"),
    ("open_incidents", "count", 0, "0"),
    ("inference_cost", "USD", 1234.5, "$1,235"),  # 0 decimals, half up
    ("inference_cost", "EUR", 58356.4, "€58,356"),
    ("inference_cost", "CHF", 1234.5, "1,235 CHF"),  # no symbol: the ISO code
    ("inference_cost", "JPY", 98765.4, "¥98,765"),
    ("cost_per_1k_predictions", "USD", 0.00916, "$0.0092"),  # four decimals
    ("cost_per_1k_predictions", "CHF", 2.278, "2.2780 CHF"),
    ("training_cost_per_run", "GBP", 722.2, "£722"),
    ("change_failure_rate", "ratio", 0.1234, "12.3%"),
    ("change_failure_rate", "ratio", 0.01923, "1.9%"),
    ("availability", "ratio", 0.99834, "99.83%"),  # two decimals for availability
    ("error_rate", "ratio", 0.001653, "0.17%"),
    ("error_budget_remaining", "ratio", -0.6532, "-65.3%"),  # overspent
    ("deployments_per_week", "per_week", 11.74, "11.7 / week"),
    ("latency_p95_ms", "ms", 36.27, "36 ms"),
    ("lead_time_median_hours", "hours", None, "—"),
    ("inference_cost", "USD", float("nan"), "—"),
    ("change_failure_rate", "ratio", pd.NA, "—"),
]


@pytest.mark.parametrize("kpi, unit, value, expected", VALUES)
def test_values_as_cards_write_them(kpi, unit, value, expected):
    assert fmt.fmt_value(value, unit, kpi) == expected


def test_a_table_cell_without_value_is_blank():
    assert fmt.fmt_value(None, "hours", "mttr_hours", empty="") == ""
    assert fmt.fmt_value(float("nan"), "USD", "inference_cost", empty="") == ""


# (kpi, unit, value it goes with, change, as written next to the value)
DELTAS = [
    ("lead_time_median_hours", "hours", 366, -23.3, "-1.0 d"),  # the value is in days, so is its change
    ("lead_time_median_hours", "hours", 30, 5, "+5.0 h"),
    ("mttr_hours", "hours", 0.5, -0.25, "-15.0 min"),
    ("ci_duration_p90_hours", "hours", 0.25, 0.0025, "+0.2 min"),  # 0.0025 h = 0.15 min, half up
    ("change_failure_rate", "ratio", 0.12, 0.021, "+2.1 pp"),  # a change of a percentage: points
    ("change_failure_rate", "ratio", 0.12, -0.0002, "-0.02 pp"),  # would round to 0.0: the digit that shows it
    ("error_rate", "ratio", 0.0017, -0.0002, "-0.02 pp"),
    ("change_failure_rate", "ratio", 0.12, 0, "±0.0 pp"),
    ("inference_cost", "USD", 58356, 1200.4, "+$1,200"),
    ("inference_cost", "CHF", 58356, -1200.5, "-1,201 CHF"),
    ("predictions", "predictions", 6e9, -1234567, "-1,234,567"),
    ("deployments_per_week", "per_week", 11.7, 0.45, "+0.5 / week"),
    ("latency_p99_ms", "ms", 66.6, -3.2, "-3 ms"),
    ("mttr_hours", "hours", 8, None, ""),
]


@pytest.mark.parametrize("kpi, unit, value, delta, expected", DELTAS)
def test_deltas_in_the_unit_of_their_value(kpi, unit, value, delta, expected):
    assert fmt.fmt_delta(delta, unit, kpi, like=value) == expected


def _unit_of(text: str) -> str:
    return re.sub(r"^[+±-]?[$€£¥]?[\d,]+(\.\d+)?", "", text).strip()


@pytest.mark.parametrize("kpi", [k for k in catalog.CATALOG if k.unit in (catalog.HOURS, catalog.MS,
                                                                            catalog.PER_WEEK)])
@pytest.mark.parametrize("value", [0.2, 5.0, 30.0, 400.0])
def test_every_duration_kpi_writes_its_change_in_the_values_unit(kpi, value):
    for delta in (-value * 0.9, value * 0.05, value * 3):
        assert _unit_of(fmt.fmt_delta(delta, kpi.unit, kpi.id, like=value)) == _unit_of(
            fmt.fmt_value(value, kpi.unit, kpi.id)), (kpi.id, value, delta)


@pytest.mark.parametrize("kpi", catalog.CATALOG, ids=lambda k: k.id)
def test_every_kpi_has_its_fixed_decimals(kpi):
    unit = "USD" if kpi.unit == catalog.CURRENCY else kpi.unit
    for value in (0.123456, 3.0, 777.7777):
        number = re.search(r"[\d,]+(?:\.(\d+))?", fmt.fmt_value(value, unit, kpi.id))
        assert len(number.group(1) or "") == kpi.decimals, (kpi.id, value)


def test_no_abbreviated_counts_anywhere():
    for x in (925, 12_345, 2_134_567, 2.1e9):
        for text in (fmt.fmt_count(x), fmt.fmt_value(x, "predictions", "predictions"),
                     fmt.fmt_value(x, "count", "deployment_count")):
            assert re.fullmatch(r"[\d,]+", text), text
    assert fmt.fmt_count(2_134_567) == "2,134,567"


def test_money_always_carries_its_currency():
    assert fmt.fmt_money(1234.5) == "$1,234.50"
    assert fmt.fmt_money(-12, "EUR") == "-€12.00"
    assert fmt.fmt_money(1234.5, "CHF") == "1,234.50 CHF"
    assert fmt.fmt_money(0.004, "SEK", 4) == "0.0040 SEK"


def test_hours_and_percent_helpers():
    assert [fmt.fmt_hours(h) for h in (0.25, 5, 72, None)] == ["15.0 min", "5.0 h", "3.0 d", "—"]
    assert fmt.fmt_duration(1.5) == "90.0 min" and fmt.fmt_duration(3) == "3.0 h"
    assert fmt.fmt_percent(0.9985, 2) == "99.85%"
    assert [fmt.fmt_share(x) for x in (0.125, 0.0035, 0.00001, 0)] == ["12.5%", "0.35%", "<0.01%", "0.00%"]


def test_display_unit_is_decided_once_from_the_value():
    du = fmt.display_unit("lead_time_median_hours", 366)
    assert (du.divisor, du.suffix, du.decimals) == (24.0, " d", 1)
    assert fmt.display_unit("ci_duration_median_hours", 1.9).suffix == " min"
    assert fmt.display_unit("mttr_hours", 1.9).suffix == " h"


# --- the catalog's presentation fields ---------------------------------------------------


def test_every_kpi_says_how_it_is_presented():
    for k in catalog.CATALOG:
        assert 0 <= k.decimals <= 6, k.id
        assert "{period}" in k.no_data and k.no_data[0].isupper(), k.id
        assert k.axis_title, k.id
        assert k.family in catalog.FAMILY_TITLES, k.id
    assert fmt.no_data("deployment_count", "2026-10") == "No production deployments in 2026-10"
    assert fmt.no_data("drift_detection_time_median_hours", "2026-Q3") == (
        "No drift incidents with a detection time in 2026-Q3")


BAD = [
    (dict(decimals=-1), "decimals must be set"),
    (dict(no_data="No deployments"), "must name the {period}"),
    (dict(axis_title=""), "no axis_title"),
    (dict(family="finance"), "has no title"),
    (dict(chart_group="rollback_rate"), "another KPI's id"),
]


@pytest.mark.parametrize("change, problem", BAD)
def test_a_kpi_without_its_presentation_is_rejected(change, problem):
    from dataclasses import replace

    bad = replace(catalog.get("change_failure_rate"), **change)
    assert any(problem in p for p in catalog._presentation_problems(bad))
    assert catalog._presentation_problems(catalog.get("change_failure_rate")) == []


def test_chart_groups_put_related_kpis_on_one_chart():
    assert catalog.chart_groups("delivery")["lead_time"] == ("lead_time_median_hours", "lead_time_p90_hours")
    assert catalog.chart_groups("cost")["cost_and_volume"] == ("inference_cost", "predictions")
    assert sum(len(ids) for ids in catalog.chart_groups().values()) == len(catalog.CATALOG)


def test_family_titles_are_written_once():
    import review.model

    assert review.model.FAMILY_TITLES is catalog.FAMILY_TITLES
    for path in ROOT.glob("**/*.py"):
        if "tests" in path.parts or ".venv" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                assert "FAMILY_TITLES" not in names or path.name == "catalog.py", path


# --- axes ---------------------------------------------------------------------------------

AXES = [
    ("predictions", [2.1e9, 925], "predictions", 1e9, "predictions (billions)"),
    ("predictions", [3.5e6], "predictions", 1e6, "predictions (millions)"),
    ("predictions", [925], "predictions", 1.0, "predictions"),
    ("count", [12], "deployment_count", 1.0, "deployments"),
    ("hours", [594, 328], "lead_time_median_hours", 24.0, "lead time (days)"),
    ("hours", [8.5], "mttr_hours", 1.0, "time to recover (hours)"),
    ("hours", [0.18], "ci_duration_median_hours", 1 / 60, "CI duration (minutes)"),
    ("ratio", [0.12], "change_failure_rate", 0.01, "failed deployments (%)"),
    ("USD", [0.009], "cost_per_1k_predictions", 1.0, "cost per 1k predictions (USD)"),
    ("ms", [36], "latency_p95_ms", 1.0, "latency (ms)"),
]


@pytest.mark.parametrize("unit, values, kpi, divisor, title", AXES)
def test_axes_scale_and_name_their_unit_without_si_suffixes(unit, values, kpi, divisor, title):
    div, y_title, tickformat = fmt.axis_for(unit, values, kpi)
    assert (div, y_title) == (pytest.approx(divisor), title)
    assert not tickformat.endswith("s") and tickformat.startswith(","), tickformat


def test_no_chart_uses_an_si_tick_format():
    from kpis import charts

    frame = pd.DataFrame({"period": ["2026-09", "2026-10"] * 2, "kpi": ["inference_cost"] * 2 + ["predictions"] * 2,
                          "value": [50000.0, 58356.0, 2.1e9, 6.37e9], "n": [1, 1, 1, 1],
                          "unit": ["USD", "USD", "predictions", "predictions"]})
    figures = [charts.cost_and_volume(frame, "t"), charts.trend(frame, ["predictions"], "t")]
    for fig in figures:
        axes = {k: v for k, v in fig.layout.to_plotly_json().items() if k.startswith(("xaxis", "yaxis"))}
        assert axes
        for name, axis in axes.items():
            assert not str(axis.get("tickformat", "")).endswith("s"), (name, axis)
    source = (ROOT / "kpis" / "charts.py").read_text() + (ROOT / "kpis" / "format.py").read_text()
    assert not re.search(r"""tickformat\s*=\s*["'][^"']*s["']""", source)


# --- detail tables ------------------------------------------------------------------------


def _deployments() -> pd.DataFrame:
    return pd.DataFrame({
        "deployment_id": ["dep-2", "dep-1"], "deployed_at": pd.to_datetime(["2026-10-30 13:39:59", "2026-10-02 08:00:00"]),
        "service": ["recs-api", "search"], "team": ["recs", None], "model": ["two-tower", "bm25"],
        "model_version": ["1.2", None], "tier": ["tier-1", "tier-2"], "status": ["rolled_back", "success"],
        "lead_time_hours": [366.0, None], "failed": [True, False], "failure_reason": ["rolled back, incident", ""],
        "incident_ids": ["INC-7, 0f3c9a1e2b4d6f80a1b2c3d4e5f60718", ""]})


def test_a_failed_deployment_reads_left_to_right():
    view = fmt.table_frame(_deployments(), "deployments")
    text = view.text()
    assert list(text.columns[:5]) == ["Service", "Deployed (UTC)", "Status", "Why it failed", "Incidents"]
    first = text.iloc[0]
    assert first["Deployed (UTC)"] == "2026-10-30 13:39" and first["Status"] == "rolled back"
    assert first["Incidents"] == "INC-7, 0f3c9a1e…0718"  # the long id shortened, the short one whole
    assert first["Lead time"] == "15.3 d"
    second = text.iloc[1]
    assert second["Lead time"] == "" and second["Team"] == "" and second["Version"] == ""  # blank, not None
    assert not text.isin(["None", "nan", "NaT", "<NA>"]).any().any()
    # the rows keep their raw values: full ids, timestamps and hours for sorting and the CSV
    assert view.data["incident_ids"].iloc[0].endswith("0f3c9a1e2b4d6f80a1b2c3d4e5f60718")
    assert view.data["lead_time_hours"].iloc[0] == 366.0


def test_incidents_lead_with_severity_service_and_times():
    df = pd.DataFrame({"incident_id": ["INC-1"], "severity": ["sev1"], "service": ["s"], "team": ["t"],
                       "category": ["data_quality"], "started_at": pd.to_datetime(["2026-10-01 10:00"]),
                       "detected_at": pd.to_datetime(["2026-10-01 10:30"]), "resolved_at": pd.NaT,
                       "time_to_detect_hours": [0.5], "time_to_recover_hours": [None], "open": [True]})
    text = fmt.table_frame(df, "incidents").text()
    assert list(text.columns[:6]) == ["Severity", "Service", "Started (UTC)", "Resolved (UTC)", "Time to recover",
                                      "Time to detect"]
    assert text.iloc[0]["Category"] == "data quality" and text.iloc[0]["Resolved (UTC)"] == ""
    assert text.iloc[0]["Time to detect"] == "30.0 min"


def test_money_in_a_table_takes_each_rows_currency_and_status_codes_become_words():
    runs = pd.DataFrame({"run_id": ["r1", "r2"], "service": ["a", "b"], "cost": [4298.594, 12.0],
                         "currency": ["USD", "CHF"], "outlier": [True, False], "outlier_threshold": [2116.5275, None]})
    view = fmt.table_frame(runs, "training_runs")
    assert "currency" not in view.shown and "currency" in view.data  # out of view, still in the CSV
    text = view.text()
    assert list(text["Cost"]) == ["$4,298.59", "12.00 CHF"]
    assert list(text["Outlier fence"]) == ["$2,116.53", ""]
    cpk = pd.DataFrame({"service": ["a", "b"], "value": [0.00916, 2.278], "unit": ["USD", "EUR"], "n": [31, 31],
                        "target": ["≤ $0.01", ""], "status": ["green", "none"], "rule": ["band", ""]})
    text = fmt.table_frame(cpk, "cost_per_1k_by_service").text()
    assert list(text.columns[:4]) == ["Service", "Cost per 1k predictions", "Status", "Target"]
    assert list(text["Cost per 1k predictions"]) == ["$0.0092", "€2.2780"]
    assert list(text["Status"]) == ["on target", "no target"]


def test_table_text_is_each_cell_as_its_writer_writes_it():
    # text() writes each distinct value of a column once; the cells must be what writing every cell gives.
    n = 12
    df = pd.DataFrame({
        "run_id": [f"{i % 3:032x}" if i % 4 else None for i in range(n)],  # repeats and missing ids
        "service": pd.Series(["=a", "b", None, "b"] * 3, dtype="str"),
        "status": pd.Series(["rolled_back", "success", None, "failed"] * 3, dtype=object),
        "first_date": pd.to_datetime(["2026-10-01", None, "2026-10-01", "2026-10-03"] * 3),
        "cost": [0.0, -0.0, float("nan"), 12.345] * 3,  # -0.0 equals 0.0 but is its own float
        "currency": ["USD", "CHF", None, "EUR"] * 3,
        "outlier": [True, False, True, False] * 3,
        "days": pd.array([1, None, 1, 3] * 3, dtype="Int64"),
        "team": pd.Series([1, True, 1.0, "x"] * 3, dtype=object),  # 1 == True == 1.0, written differently
    })
    view = fmt.table_frame(df, "training_runs")
    one_by_one = {name: [""] * n for name in view.shown}
    for name, rows, write in view.formatters():
        values = view.data[name]
        for i in (range(n) if rows is None else rows.to_numpy().nonzero()[0]):
            one_by_one[name][i] = write(values.iat[i])
    expected = pd.DataFrame({view.columns[c].title: one_by_one[c] for c in view.shown})
    pd.testing.assert_frame_equal(view.text(), expected)


DETAIL_TABLES = [  # (kpis.details function, its arguments, table kind on the pages)
    ("deployments", {}, "deployments"),
    ("incidents", {}, "incidents"),
    ("open_incidents", {"at": date(2026, 10, 15)}, "open_incidents"),
    ("worst_services", {}, "worst_services"),
    ("training_runs", {}, "training_runs"),
    ("serving_by_service", {}, "serving_by_service"),
    ("pipeline_runs", {}, "pipeline_runs"),
    ("models_inventory", {}, "models"),
    ("unattributed_costs", {}, "unattributed_costs"),
]


@pytest.mark.parametrize("name, kwargs, kind", DETAIL_TABLES)
def test_every_column_of_every_detail_table_has_a_title(sample_db, name, kwargs, kind):
    import kpis
    from kpis import details

    con = kpis.connect(sample_db, read_only=True)
    try:
        rng = {} if "at" in kwargs else {"start": date(2026, 9, 1), "end": date(2026, 11, 1)}
        df = getattr(details, name)(con, **rng, **kwargs)
    finally:
        con.close()
    untitled = [c for c in df.columns if c not in fmt.COLUMNS]
    assert not untitled, (name, untitled)  # none falls back to its snake_case name
    view = fmt.table_frame(df, kind)
    text = view.text()
    assert list(view.shown[:len(fmt.TABLES[kind].lead)]) == list(fmt.TABLES[kind].lead)
    assert not text.isin(["None", "nan", "NaT", "<NA>", "—"]).any().any()
    assert not any("_" in str(v) for v in text.get("Status", pd.Series(dtype=object)))


def test_unknown_table_kind_is_an_error():
    with pytest.raises(KeyError, match="unknown table kind"):
        fmt.table_frame(pd.DataFrame({"a": [1]}), "nope")


def test_short_ids():
    assert fmt.short_id("e6f7051c10f7a7f9af4708e1ef0a6aef") == "e6f7051c…6aef"
    assert fmt.short_id("dep-01084") == "dep-01084"
    assert fmt.short_id("x" * 16) == "x" * 16 and fmt.short_id(None) == ""


# --- CSV --------------------------------------------------------------------------------------

CELLS = [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1", "'+1"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("recs-api", "recs-api"),
    ("", ""),
]


@pytest.mark.parametrize("cell, written", CELLS)
def test_csv_neutralises_formula_cells(cell, written):
    assert fmt.neutralise(cell) == written


def test_csv_keeps_numbers_and_full_values():
    df = pd.DataFrame({"team": ["=cmd|' /C calc'!A0", "search"], "delta": [-3.5, 2.0],
                       "run_id": ["e6f7051c10f7a7f9af4708e1ef0a6aef", None],
                       "at": pd.to_datetime(["2026-10-30 13:39:59", None])})
    back = pd.read_csv(io.StringIO(fmt.csv_text(df)))
    assert back["team"].tolist() == ["'=cmd|' /C calc'!A0", "search"]
    assert back["delta"].tolist() == [-3.5, 2.0]  # a negative number is a number, not a formula
    assert back["run_id"].iloc[0] == "e6f7051c10f7a7f9af4708e1ef0a6aef" and math.isnan(back["run_id"].iloc[1])
    assert back["at"].iloc[0] == "2026-10-30 13:39:59"
    assert df["team"].iloc[0].startswith("=")  # the caller's frame is left alone


TABLE_APP = '''
import os, sys
sys.path.insert(0, {root!r})
import pandas as pd
from ui import components
n = int(os.environ["ROWS"])
df = pd.DataFrame({{"run_id": [f"{{i:032x}}" for i in range(n)], "service": ["=cmd"] * n,
                   "cost": [4298.594 + n - i for i in range(n)], "currency": ["CHF"] * n, "outlier": [True] * n,
                   "outlier_threshold": [None] * n}})
import streamlit as st
real = st.download_button
def keep(label, data, **kw):  # the CSV the button offers (a callable is what a click would run)
    st.session_state["csv_deferred"] = callable(data)
    st.session_state["csv"] = data() if callable(data) else data
    return real(label, data, **kw)
st.download_button = keep
styled_cells_max = components.STYLED_CELLS_MAX  # the module stays imported between tests: put it back
components.STYLED_CELLS_MAX = int(os.environ.get("STYLED_CELLS_MAX", styled_cells_max))
try:
    components.table(df, "runs", kind="training_runs", key="t", order=os.environ.get("ORDER"))
finally:
    st.download_button = real
    components.STYLED_CELLS_MAX = styled_cells_max
'''


def _table_app(tmp_path, monkeypatch, rows: int, **env):
    from streamlit.testing.v1 import AppTest

    script = tmp_path / "table_app.py"
    script.write_text(TABLE_APP.format(root=str(ROOT)))
    monkeypatch.setenv("ROWS", str(rows))
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    at = AppTest.from_file(str(script), default_timeout=60)
    at.run()
    assert not at.exception
    return at


@pytest.mark.parametrize("rows, styled_cells_max, styled", [(3, None, True), (450, 100, False)])
def test_the_page_table_shows_written_cells_and_downloads_raw_rows(tmp_path, monkeypatch, rows, styled_cells_max,
                                                                    styled):
    env = {"STYLED_CELLS_MAX": styled_cells_max} if styled_cells_max else {}
    at = _table_app(tmp_path, monkeypatch, rows, **env)
    shown = at.dataframe[0].value
    assert list(shown.columns[:3]) == ["service", "cost", "outlier"]  # explaining columns first
    top = 4298.594 + rows  # the first row's cost
    if styled:  # raw values under a Styler: numbers sort as numbers, the full id is the cell's value
        assert shown["cost"].iloc[0] == top and len(shown["run_id"].iloc[0]) == 32
    else:  # a table too large to style on every rerun shows the written text
        assert shown["cost"].iloc[0] == f"{top:,.2f} CHF" and shown["run_id"].iloc[0] == "00000000…0000"
    assert bool(shown["outlier"].iloc[0]) is True
    assert not [c for c in at.caption if c.value.startswith("Showing")]  # under the row cap: all rows, no note
    downloaded = pd.read_csv(io.BytesIO(at.session_state["csv"]), dtype={"run_id": str})
    assert downloaded["service"].iloc[0] == "'=cmd"  # neutralised formula cell
    assert downloaded["cost"].iloc[0] == top and downloaded["currency"].iloc[0] == "CHF"  # raw, all columns
    assert len(downloaded["run_id"].iloc[0]) == 32 and len(downloaded) == rows


def test_a_table_above_the_row_cap_shows_the_first_rows_and_downloads_all(tmp_path, monkeypatch):
    from ui.components import TABLE_ROWS_MAX

    rows = TABLE_ROWS_MAX + 345
    at = _table_app(tmp_path, monkeypatch, rows, ORDER="costliest first")
    shown = at.dataframe[0].value
    assert len(shown) == TABLE_ROWS_MAX  # the first rows, in the caller's order
    assert list(shown["run_id"]) == [f"{i:032x}" for i in range(TABLE_ROWS_MAX)]
    assert [c.value for c in at.caption if c.value.startswith("Showing")] == [
        f"Showing the first {TABLE_ROWS_MAX:,} of {rows:,} rows (costliest first); sorting a column sorts these. "
        f"The CSV has all {rows:,}."]
    assert at.session_state["csv_deferred"]  # written when the button is clicked, not on every rerun
    downloaded = pd.read_csv(io.BytesIO(at.session_state["csv"]), dtype={"run_id": str})
    assert len(downloaded) == rows and downloaded["run_id"].iloc[-1] == f"{rows - 1:032x}"  # every row, full ids
    assert (downloaded["service"] == "'=cmd").all()  # formula cells neutralised
    assert list(downloaded.columns[:3]) == ["service", "cost", "outlier"]  # the table's column order


def test_the_page_table_shows_local_times_and_downloads_utc(tmp_path):
    from streamlit.testing.v1 import AppTest

    script = tmp_path / "times_app.py"
    script.write_text(f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import pandas as pd
import streamlit as st
from ui import components
real = st.download_button
def keep(label, data, **kw):
    st.session_state["csv"] = data() if callable(data) else data
    return real(label, data, **kw)
st.download_button = keep
try:
    components.table(pd.DataFrame({{"deployment_id": ["d1"], "service": ["svc"],
                                   "deployed_at": [pd.Timestamp("2026-11-01 03:30")]}}),
                     "deployments", kind="deployments", key="d", tz="America/New_York")
finally:
    st.download_button = real
""")
    at = AppTest.from_file(str(script), default_timeout=60)
    at.run()
    assert not at.exception
    # 03:30Z on Nov 1 is 23:30 on Oct 31 in New York (EDT, UTC-4): on screen; the CSV keeps UTC
    assert at.dataframe[0].value["deployed_at"].iloc[0] == pd.Timestamp("2026-10-31 23:30")
    downloaded = pd.read_csv(io.BytesIO(at.session_state["csv"]))
    assert list(downloaded.columns) == ["service", "deployed_at", "deployment_id"]  # the table's order
    assert downloaded["deployed_at"].iloc[0] == "2026-11-01 03:30:00"


def test_table_times_in_the_reporting_time_zone():
    df = pd.DataFrame({"deployment_id": ["d1"], "service": ["svc"],
                       "deployed_at": [pd.Timestamp("2026-11-01 03:30")]})  # stored as UTC
    utc = fmt.table_frame(df, "deployments")
    assert utc.columns["deployed_at"].title == "Deployed (UTC)"
    ny = fmt.table_frame(df, "deployments", tz="America/New_York")
    # 03:30Z on Nov 1 is 23:30 on Oct 31 in New York (EDT, UTC-4): the table says so in its title.
    assert ny.columns["deployed_at"].title == "Deployed (America/New_York)"
    assert ny.data["deployed_at"].iloc[0] == pd.Timestamp("2026-10-31 23:30")
    assert df["deployed_at"].iloc[0] == pd.Timestamp("2026-11-01 03:30")  # the caller's rows (and CSV) stay UTC


@pytest.mark.parametrize("text, shown", [
    ("[click](http://x.io)", "\\[click\\]\\(http\\://x.io\\)"),
    ("**bold** <b>x</b>", "\\*\\*bold\\*\\* \\<b\\>x\\</b\\>"),
    ("- a list", "\\- a list"),
    ("fraud-scoring", "fraud\\-scoring"),
])
def test_md_text_escapes_markdown_and_html(text, shown):
    assert fmt.md_text(text) == shown


def test_a_card_row_with_a_long_value_holds_fewer_cards():
    from ui import components

    # Four cards to a row hold about 11 characters of value; 6,371,072,415 predictions (13) was cut to
    # '6,371,072,…' on the Review page at 1440 px: that row holds three.
    assert components.cards_per_row(["$58,356", "13.7 d", "$0.0092", "$722"]) == 4
    assert components.cards_per_row(["$58,356", "6,371,072,415", "$0.0092", "$722"]) == 3
    assert components.cards_per_row(["1,234,567,890,123,456"]) == 1  # one card: the whole row
    assert components.cards_per_row(["1,234,567,890,123,456", "x", "y"]) == 2  # longer than three hold
    assert components.cards_per_row(["99.83%", "1.9%"]) == 2  # never more cards than values


def test_a_target_is_written_after_the_word_target_once():
    from kpis import format as fmt

    assert fmt.target_text("<1–4 hours for high-severity incidents") == "target <1–4 hours for high-severity incidents"
    # the senior profile's own words start with it: not "target Target set per service tier"
    assert fmt.target_text("Target set per service tier; optimize YoY") == "Target set per service tier; optimize YoY"
    assert fmt.target_text(None) == "" and fmt.target_text("") == ""
