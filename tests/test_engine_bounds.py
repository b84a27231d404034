"""A compute over some periods reads only the events near them, and gives exactly the values of those periods.

The engine bounds each source by its period column (kpis.engine.TIME_COLUMN), widened by two days for
timestamps so that any reporting time zone's periods are covered. Property: for every grain and zone, a
compute over a sub-range equals the compute over the whole data range on the same periods, value by value,
including the periods at the sub-range's edges, where events sit just across a boundary in UTC.
"""

from __future__ import annotations

import math
from datetime import date

import pytest

import kpis
from kpis import engine


def _rows(df):
    return {(r["period"], r["kpi"], r["unit"]): (r["value"], r["n"]) for r in df.to_dict(orient="records")}


@pytest.mark.parametrize("grain, start, end", [("week", date(2026, 3, 2), date(2026, 3, 29)),
                                               ("month", date(2026, 2, 1), date(2026, 4, 30)),
                                               ("quarter", date(2026, 4, 1), date(2026, 9, 30))])
@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Tokyo"])
def test_a_sub_range_equals_the_whole_range_on_its_periods(sample_db, grain, start, end, tz):
    con = kpis.connect(sample_db, read_only=True)
    try:
        whole = _rows(engine.compute(con, grain=grain, tz=tz))
        part = _rows(engine.compute(con, grain=grain, start=start, end=end, tz=tz))
        edges = _rows(engine.compute(con, grain=grain, start=start, end=start, tz=tz, span_days=3))
        edges_whole = _rows(engine.compute(con, grain=grain, tz=tz, span_days=3))
    finally:
        con.close()
    assert part and sum(1 for v, n in part.values() if n) > 20  # the periods have data: the test can fail
    for key, (value, n) in part.items():
        w_value, w_n = whole[key]
        assert n == w_n, key
        assert (math.isnan(value) and math.isnan(w_value)) or math.isclose(value, w_value, rel_tol=1e-12), key
    for key, (value, n) in edges.items():
        assert n == edges_whole[key][1], key


def test_the_bounds_reach_across_any_zone():
    # Local periods from 2026-10-01 to 2026-11-01 (exclusive): UTC timestamps two days either side.
    b = engine._bounds(date(2026, 10, 1), date(2026, 11, 1))
    assert (b["lo_date"], b["hi_date"]) == (date(2026, 10, 1), date(2026, 11, 1))
    assert b["lo_ts"].isoformat() == "2026-09-29T00:00:00" and b["hi_ts"].isoformat() == "2026-11-03T00:00:00"
    # every timed source is bounded on the column its period comes from
    for source, col in engine.TIME_COLUMN.items():
        sql = engine._render(source, engine.Request(), engine.SOURCE_TABLE[source], bounded=True)
        assert (f"d.{col} >= $lo_" in sql) and (f"d.{col} < $hi_" in sql), source


def test_periods_before_the_data_are_not_queried_and_stay_empty(sample_db, monkeypatch):
    con = kpis.connect(sample_db, read_only=True)
    try:
        first, _ = engine.data_range(con)
        asked = []
        real = engine._source_query
        monkeypatch.setattr(engine, "_source_query", lambda source, *a, **kw: asked.append(source) or real(source, *a, **kw))
        # the year before the data: every KPI empty (n = 0, no value), only the inventory read
        early = engine.compute(con, grain="month", start=date(first.year - 1, 1, 1), end=date(first.year - 1, 12, 31))
        assert asked == ["models"]
        assert (early["n"] == 0).all() and early["value"].isna().all() and len(early) == 12 * early["kpi"].nunique()
        # a range reaching the data's first month reads every source
        asked.clear()
        engine.compute(con, grain="month", start=date(first.year - 1, 1, 1), end=first)
        assert "deployments" in asked and "costs" in asked
    finally:
        con.close()
