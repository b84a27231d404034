"""The contribution breakdown (kpis.drivers) on a small hand-built dataset, worked out by hand.

September 2026 (the previous period) and October 2026 (the period), production deployments:

  team a  Sep: 4 success + 1 failed      Oct: 7 success + 1 failed
  team b  Sep: 6 success                 Oct: 5 success + 3 rolled_back

incidents (ML-related), by service, with their time to recover:

  svc-x   Sep: 2 h, 4 h                  Oct: 1 h
  svc-y   Sep: 6 h                       Oct: 10 h, 8 h, 6 h

inference cost and predictions, by team:

  team a  Sep: $10 / 1,000 predictions   Oct: $20 / 1,000
  team b  Sep: $30 / 3,000               Oct: $30 / 4,000
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pytest

import kpis
from kpis import catalog, drivers


def _deployments() -> str:
    rows = ["deployment_id,service,deployed_at,team,status"]
    plan = [("a", "2026-09", 4, 1, "failed"), ("b", "2026-09", 6, 0, ""),
            ("a", "2026-10", 7, 1, "failed"), ("b", "2026-10", 5, 3, "rolled_back")]
    i = 0
    for team, month, ok, bad, bad_status in plan:
        for j in range(ok + bad):
            i += 1
            status = "success" if j < ok else bad_status
            rows.append(f"d{i},svc-{team},{month}-{j + 2:02d}T10:00:00Z,{team},{status}")
    return "\n".join(rows) + "\n"


def _incidents() -> str:
    rows = ["incident_id,service,started_at,resolved_at,team,ml_related"]
    plan = [("x", "2026-09-03", 2), ("x", "2026-09-10", 4), ("y", "2026-09-12", 6),
            ("x", "2026-10-03", 1), ("y", "2026-10-05", 10), ("y", "2026-10-12", 8), ("y", "2026-10-19", 6)]
    for i, (svc, day, hours) in enumerate(plan, start=1):
        start = datetime.fromisoformat(day + "T00:00:00")
        end = start + timedelta(hours=hours)
        rows.append(f"i{i},svc-{svc},{start:%Y-%m-%dT%H:%M:%SZ},{end:%Y-%m-%dT%H:%M:%SZ},t{svc},true")
    return "\n".join(rows) + "\n"


COSTS = """\
date,amount,service,category,team,currency
2026-09-05,10,svc-a,inference,a,USD
2026-09-05,30,svc-b,inference,b,USD
2026-10-05,20,svc-a,inference,a,USD
2026-10-05,30,svc-b,inference,b,USD
"""

PREDICTIONS = """\
date,service,predictions,team
2026-09-05,svc-a,1000,a
2026-09-05,svc-b,3000,b
2026-10-05,svc-a,1000,a
2026-10-05,svc-b,4000,b
"""


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    folder = tmp_path_factory.mktemp("drivers")
    for name, text in {"deployments.csv": _deployments(), "incidents.csv": _incidents(), "costs.csv": COSTS,
                       "predictions.csv": PREDICTIONS}.items():
        (folder / name).write_text(text)
    c = kpis.connect(folder / "kpi.duckdb")
    kpis.ingest_files(c, [folder])
    yield c
    c.close()


def by_group(d: drivers.Drivers) -> dict[str, float]:
    return dict(zip(d.rows["group"], d.rows["contribution"]))


def test_counts_split_into_each_groups_own_change(con):
    d = drivers.drivers(con, "deployment_count", "team", "2026-10", "2026-09")
    assert d.method == drivers.ADDITIVE and d.additive
    assert (d.previous_value, d.value, d.change) == (10, 12, 2)  # 4 + 6 -> 7 + 5
    assert by_group(d) == {"a": 3, "b": -1}  # a 4 -> 7, b 6 -> 5
    assert sum(by_group(d).values()) == d.change  # +3 - 1 = +2
    assert list(d.rows["group"]) == ["a", "b"]  # the largest contribution first
    assert d.rows["share"].tolist() == pytest.approx([1.5, -0.5])  # +3 of +2, -1 of +2
    assert d.rows["n_now"].tolist() == [8, 8]  # the engine's n: every production deployment (7 + 1, 5 + 3)


def test_change_failure_rate_contributions_sum_to_the_change(con):
    d = drivers.drivers(con, "change_failure_rate", "team", "2026-10", "2026-09")
    assert d.method == drivers.RATIO_OF_SUMS
    # Sep: 1 failed of 11 production deployments; Oct: 1 + 3 = 4 failed of 8 + 8 = 16.
    assert d.previous_value == pytest.approx(1 / 11)
    assert d.value == pytest.approx(0.25)
    c = by_group(d)
    assert c["a"] == pytest.approx(1 / 16 - 1 / 11)  # -0.028409: a's failures are a smaller share of more work
    assert c["b"] == pytest.approx(3 / 16 - 0 / 11)  # +0.1875: b's three rollbacks
    assert c["a"] + c["b"] == pytest.approx(d.change)  # -0.028409 + 0.1875 = 0.159091 = 0.25 - 0.090909
    assert list(d.rows["group"]) == ["b", "a"]
    # The group's own rate and its events are there too.
    b = d.rows.set_index("group").loc["b"]
    assert (b["value_now"], b["value_before"], b["n_now"], b["n_before"]) == (3 / 8, 0, 8, 6)


def test_deployments_per_week_divides_by_each_periods_weeks(con):
    d = drivers.drivers(con, "deployments_per_week", "team", "2026-10", "2026-09")
    c = by_group(d)
    assert c["a"] == pytest.approx(7 / (31 / 7) - 4 / (30 / 7))  # 1.580645 - 0.933333 = +0.647312
    assert c["b"] == pytest.approx(5 / (31 / 7) - 6 / (30 / 7))  # 1.129032 - 1.4 = -0.270968
    assert c["a"] + c["b"] == pytest.approx(12 / (31 / 7) - 10 / (30 / 7))  # 2.709677 - 2.333333 = +0.376344


def test_mean_time_to_recover_by_service(con):
    d = drivers.drivers(con, "mttr_hours", "service", "2026-10", "2026-09")
    # Sep: (2 + 4 + 6) / 3 = 4 h; Oct: (1 + 10 + 8 + 6) / 4 = 6.25 h.
    assert (d.previous_value, d.value) == (pytest.approx(4.0), pytest.approx(6.25))
    c = by_group(d)
    assert c["svc-x"] == pytest.approx(1 / 4 - 6 / 3)  # -1.75
    assert c["svc-y"] == pytest.approx(24 / 4 - 6 / 3)  # +4.0
    assert sum(c.values()) == pytest.approx(2.25)  # -1.75 + 4 = 6.25 - 4
    assert d.unit == "hours"


def test_cost_per_1k_moves_under_a_flat_total(con):
    d = drivers.drivers(con, "cost_per_1k_predictions", "team", "2026-10", "2026-09")
    # $40 / 4,000 x 1000 = $10 in Sep, $50 / 5,000 x 1000 = $10 in Oct: no change overall ...
    assert d.value == pytest.approx(10) and d.previous_value == pytest.approx(10) and d.change == pytest.approx(0)
    c = by_group(d)
    assert c["a"] == pytest.approx(1000 * (20 / 5000 - 10 / 4000))  # +1.5: a's cost doubled
    assert c["b"] == pytest.approx(1000 * (30 / 5000 - 30 / 4000))  # -1.5: b's volume grew
    assert c["a"] + c["b"] == pytest.approx(0)
    assert d.rows["share"].isna().all()  # a share of no change is undefined
    assert d.unit == "USD"


def test_medians_are_ranked_as_movers_not_split(con):
    d = drivers.drivers(con, "mttr_median_hours", "service", "2026-10", "2026-09")
    assert d.method == drivers.MOVERS and not d.additive and "movers" in d.label
    # Org median: Sep 2, 4, 6 -> 4 h; Oct 1, 6, 8, 10 -> (6 + 8) / 2 = 7 h.
    assert (d.previous_value, d.value, d.change) == (pytest.approx(4), pytest.approx(7), pytest.approx(3))
    c = by_group(d)
    assert c["svc-x"] == pytest.approx((1 - 3) * 1 / 4)  # median 3 h -> 1 h, 1 of 4 October incidents: -0.5
    assert c["svc-y"] == pytest.approx((8 - 6) * 3 / 4)  # 6 h -> median of 10, 8, 6 = 8 h, 3 of 4: +1.5
    assert list(d.rows["group"]) == ["svc-y", "svc-x"]
    assert d.rows["share"].isna().all()


def test_without_a_previous_period_the_parts_sum_to_the_value(con):
    d = drivers.drivers(con, "incident_count", "service", "2026-10")
    assert d.previous is None and d.change is None and d.label == "part of the value"
    assert by_group(d) == {"svc-y": 3, "svc-x": 1}  # 3 + 1 = 4 October incidents
    d = drivers.drivers(con, "change_failure_rate", "team", "2026-10")
    assert by_group(d) == pytest.approx({"b": 3 / 16, "a": 1 / 16})  # 0.1875 + 0.0625 = 0.25
    assert d.rows["share"].tolist() == pytest.approx([0.75, 0.25])


def test_events_without_a_group_are_one_group_and_filters_apply(con, tmp_path):
    c = kpis.connect(tmp_path / "k.duckdb")
    (tmp_path / "incidents.csv").write_text(
        "incident_id,service,started_at,resolved_at,team,ml_related\n"
        "j1,s1,2026-09-03T00:00:00Z,,red,true\n"
        "j2,s1,2026-10-03T00:00:00Z,,,true\n"
        "j3,s2,2026-10-04T00:00:00Z,,red,true\n"
        "j4,s2,2026-10-05T00:00:00Z,,blue,true\n")
    kpis.ingest_files(c, [tmp_path / "incidents.csv"])
    d = drivers.drivers(c, "incident_count", "team", "2026-10", "2026-09")
    assert by_group(d) == {"(no team)": 1, "blue": 1, "red": 0}  # 1 -> 3: the unassigned one and blue's
    d = drivers.drivers(c, "incident_count", "team", "2026-10", filters={"service": ["s2"]})
    assert by_group(d) == {"blue": 1, "red": 1}  # s2 only: j3 and j4
    # s2 had no incident in September: the count there is null (n = 0), so there is no change to split.
    d = drivers.drivers(c, "incident_count", "team", "2026-10", "2026-09", filters={"service": ["s2"]})
    assert d.previous_value is None and d.change is None and d.rows.empty and d.value == 2
    c.close()


def test_bad_requests_are_errors(con):
    with pytest.raises(ValueError, match="break down by"):
        drivers.drivers(con, "incident_count", "tier", "2026-10", "2026-09")
    with pytest.raises(ValueError, match="different grains"):
        drivers.drivers(con, "incident_count", "team", "2026-10", "2026-Q3")
    with pytest.raises(KeyError):
        drivers.drivers(con, "no_such_kpi", "team", "2026-10", "2026-09")


@pytest.mark.parametrize("dimension", ["team", "service"])
def test_on_the_sample_data_every_breakdown_adds_up_and_matches_the_engine(sample_db, dimension):
    """The numerator (the catalog's value x its weight) and the weight reproduce the engine, group by group."""
    con = kpis.connect(sample_db, read_only=True)
    try:
        grouped = kpis.compute(con, grain="month", by=dimension, start=date(2026, 9, 1), end=date(2026, 10, 31))
        total = kpis.compute(con, grain="month", start=date(2026, 9, 1), end=date(2026, 10, 31))
        checked = 0
        for k in catalog.CATALOG:
            d = drivers.drivers(con, k.id, dimension, "2026-10", "2026-09")
            org = total[(total["kpi"] == k.id) & (total["unit"] == d.unit)].set_index("period")["value"]
            for label, got in (("2026-10", d.value), ("2026-09", d.previous_value)):
                want = org.get(label)
                assert (got is None) == (want is None or math.isnan(want)), (k.id, label)
                if got is not None:
                    assert got == pytest.approx(want, rel=1e-9), (k.id, label)
            if d.change is None:
                continue
            if d.additive:
                assert d.rows["contribution"].sum() == pytest.approx(d.change, rel=1e-9, abs=1e-12), k.id
            mine = grouped[(grouped["kpi"] == k.id) & (grouped["period"] == "2026-10") & (grouped["unit"] == d.unit)]
            engine_values = {g if isinstance(g, str) else f"(no {dimension})": v for g, v in zip(mine[dimension], mine["value"])}
            for g, v in zip(d.rows["group"], d.rows["value_now"]):
                if not math.isnan(v):
                    assert v == pytest.approx(engine_values[g], rel=1e-9), (k.id, g)
            checked += 1
        assert checked >= 25
    finally:
        con.close()


def test_drivers_in_words(con):
    d = drivers.drivers(con, "deployment_count", "team", "2026-10", "2026-09")
    # b's -1 pushed the other way and is half the +2 change: it is named as an offset.
    assert drivers.describe(d) == "Driven by team: a (+3 deployments); partly offset by b (-1 deployment)"
    d = drivers.drivers(con, "change_failure_rate", "team", "2026-10", "2026-09")
    assert drivers.describe(d) == "Driven by team: b (+18.8 pp)"  # 3 of 16 = 18.75 pp of the +15.9 pp
    d = drivers.drivers(con, "incident_count", "service", "2026-10", "2026-09")
    assert drivers.describe(d) == "Driven by service: svc-y (+2 incidents); partly offset by svc-x (-1 incident)"
    d = drivers.drivers(con, "incident_count", "service", "2026-10")
    assert drivers.describe(d) == "Largest parts by service: svc-y (3 incidents), svc-x (1 incident)"
    d = drivers.drivers(con, "cost_per_1k_predictions", "team", "2026-10", "2026-09")
    assert drivers.describe(d).startswith("Unchanged overall; offsetting moves by team: a (+$")
    d = drivers.drivers(con, "mttr_median_hours", "service", "2026-10", "2026-09")
    assert drivers.describe(d) == "Largest movers by service: svc-y (6.0 h → 8.0 h)"  # the median rose; svc-x fell


def test_a_higher_is_better_rate_without_comparison_is_split_by_its_shortfall(tmp_path):
    c = kpis.connect(tmp_path / "k.duckdb")
    (tmp_path / "predictions.csv").write_text(
        "date,service,predictions,good_requests,total_requests,team\n"
        "2026-10-05,s1,1000,990,1000,a\n"
        "2026-10-05,s2,3000,2970,3000,b\n")
    kpis.ingest_files(c, [tmp_path / "predictions.csv"])
    d = drivers.drivers(c, "availability", "service", "2026-10")
    # (990 + 2970) / (1000 + 3000) = 3960 / 4000 = 99%: the 1% shortfall is 10 + 30 failed of 4000 requests.
    assert d.value == pytest.approx(0.99) and d.shortfall and d.label == "part of the shortfall from 100%"
    assert by_group(d) == pytest.approx({"s2": 30 / 4000, "s1": 10 / 4000})  # 0.75 pp + 0.25 pp = 1 pp
    assert d.rows["share"].tolist() == pytest.approx([0.75, 0.25])
    assert drivers.describe(d) == "Largest parts of the shortfall from 100% by service: s2 (0.75%), s1 (0.25%)"
    # Error budget remaining (SLO 99.9%): 1 - 0.01 / 0.001 = -9; its shortfall 10 = 7.5 (s2) + 2.5 (s1).
    d = drivers.drivers(c, "error_budget_remaining", "service", "2026-10")
    assert d.value == pytest.approx(-9) and by_group(d) == pytest.approx({"s2": 7.5, "s1": 2.5})
    c.close()


def test_a_period_in_progress_divides_by_its_elapsed_weeks(con):
    # As of 2026-10-14, October has run 14 days = 2 weeks; its 7 + 5 successful deployments (on the
    # 2nd to the 8th) are 12 / 2 = 6 a week: a 7 / 2 = 3.5, b 5 / 2 = 2.5.
    d = drivers.drivers(con, "deployments_per_week", "team", "2026-10", as_of=date(2026, 10, 14))
    assert d.value == pytest.approx(6.0)
    assert by_group(d) == pytest.approx({"a": 3.5, "b": 2.5})
