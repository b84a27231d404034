"""Every KPI against the hand-worked golden dataset (tests/golden.py has the timeline)."""

from __future__ import annotations

import math
from datetime import date

import golden
import pytest

import kpis
from kpis import catalog, details


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    folder = golden.write(tmp_path_factory.mktemp("golden"))
    c = kpis.connect(folder / "kpi.duckdb")
    kpis.ingest_files(c, [folder])
    yield c
    c.close()


def value(df, kpi, period, unit=None, **dims):
    rows = df[(df["kpi"] == kpi) & (df["period"] == period)]
    if unit:
        rows = rows[rows["unit"] == unit]
    for k, v in dims.items():
        rows = rows[rows[k] == v]
    assert len(rows) == 1, f"{kpi} {period} {dims}: {len(rows)} rows"
    r = rows.iloc[0]
    return (None if math.isnan(r["value"]) else r["value"]), int(r["n"])


OCT = dict(start=date(2026, 10, 1), end=date(2026, 11, 30))


def test_delivery_kpis_october_utc(con):
    df = kpis.compute(con, grain="month", **OCT)
    # d1..d7 are October production deployments (d8 is staging, d9 is November in UTC);
    # successful: d1, d2, d4, d5, d7 -> 5 of 7
    assert value(df, "deployment_count", "2026-10") == (5, 7)
    # 5 deployments / (31 days / 7) weeks = 35 / 31
    assert value(df, "deployments_per_week", "2026-10")[0] == pytest.approx(35 / 31)
    # lead times of successful deployments with a start: 12, 24, 48, 96 -> median (24 + 48) / 2 = 36
    assert value(df, "lead_time_median_hours", "2026-10") == (pytest.approx(36.0), 4)
    # p90 continuous: position 0.9 * 3 = 2.7 -> 48 + 0.7 * (96 - 48) = 81.6
    assert value(df, "lead_time_p90_hours", "2026-10")[0] == pytest.approx(81.6)
    # failed: d3 rolled back, d4 hotfix, d5 regression, d6 failed, d7 named by i1 and i2 (once) -> 5 of 7
    assert value(df, "change_failure_rate", "2026-10") == (pytest.approx(5 / 7), 7)
    # one rollback (d3) of 7
    assert value(df, "rollback_rate", "2026-10") == (pytest.approx(1 / 7), 7)
    # November: only d9 (success, lead 24 h, not failed)
    assert value(df, "deployment_count", "2026-11") == (1, 1)
    assert value(df, "change_failure_rate", "2026-11") == (0.0, 1)
    assert value(df, "lead_time_median_hours", "2026-11") == (pytest.approx(24.0), 1)


def test_reliability_kpis_october_utc(con):
    df = kpis.compute(con, grain="month", **OCT)
    # ML incidents starting in October: i1, i2, i3, i5, i6 (03:00Z on Oct 1), i7; i4 is not ML-related
    assert value(df, "incident_count", "2026-10") == (6, 6)
    # time to detect: 0.5, 1, 1, 2, 72 (i4, i7 have no detection) -> median 1
    assert value(df, "ttd_median_hours", "2026-10") == (pytest.approx(1.0), 5)
    # resolved in October: i1 2 h, i3 78 h, i6 2 h, i7 1 h -> mean 83 / 4 = 20.75, median (2 + 2) / 2 = 2
    assert value(df, "mttr_hours", "2026-10") == (pytest.approx(20.75), 4)
    assert value(df, "mttr_median_hours", "2026-10") == (pytest.approx(2.0), 4)
    # i2 started in October but was resolved on Nov 2 (96 h): it counts in November's MTTR
    assert value(df, "mttr_hours", "2026-11") == (pytest.approx(96.0), 1)
    # open at Oct 31 24:00Z: i2 (resolved later) and i5 (never) of the 6 started by then
    assert value(df, "open_incidents", "2026-10") == (2, 6)
    # open at Nov 30 24:00Z: i5 only
    assert value(df, "open_incidents", "2026-11") == (1, 6)
    # no incident started in November
    assert value(df, "incident_count", "2026-11") == (None, 0)


def test_cost_kpis_per_currency(con):
    df = kpis.compute(con, grain="month", **OCT)
    # inference: 100 + 50 + 30 (no category) + 70 = 250 USD; storage 999 is not inference
    assert value(df, "inference_cost", "2026-10", unit="USD") == (pytest.approx(250.0), 4)
    # EUR lines are never added to USD ones
    assert value(df, "inference_cost", "2026-10", unit="EUR") == (pytest.approx(20.0), 1)
    # 100000 + 60000 + 40000 + 10000
    assert value(df, "predictions", "2026-10") == (210000, 4)
    # 250 / 210000 * 1000
    assert value(df, "cost_per_1k_predictions", "2026-10", unit="USD")[0] == pytest.approx(250 / 210)
    # training lines with a run: (200 + 100 + 60) / 2 runs = 180 (the 40 without a run is left out)
    assert value(df, "training_cost_per_run", "2026-10", unit="USD") == (pytest.approx(180.0), 2)
    assert value(df, "training_cost_per_run", "2026-10", unit="EUR") == (None, 0)
    # November: 10 USD of inference but 0 predictions -> cost per 1k is null, never 0 or inf
    assert value(df, "predictions", "2026-11") == (0, 1)
    assert value(df, "cost_per_1k_predictions", "2026-11", unit="USD") == (None, 0)


def test_cost_per_1k_by_service(con):
    df = kpis.compute(con, grain="month", by="service", kpis=["cost_per_1k_predictions"], **OCT)
    # svc-a: (100 + 50 + 30) / 160000 * 1000 = 1.125
    assert value(df, "cost_per_1k_predictions", "2026-10", unit="USD", service="svc-a")[0] == pytest.approx(1.125)
    # svc-b: 70 / 40000 * 1000 = 1.75
    assert value(df, "cost_per_1k_predictions", "2026-10", unit="USD", service="svc-b")[0] == pytest.approx(1.75)
    # svc-c: 20 EUR / 10000 * 1000 = 2.0
    assert value(df, "cost_per_1k_predictions", "2026-10", unit="EUR", service="svc-c")[0] == pytest.approx(2.0)
    # svc-c has no USD cost: null
    assert value(df, "cost_per_1k_predictions", "2026-10", unit="USD", service="svc-c") == (None, 0)


def test_by_team_and_group_without_events(con):
    df = kpis.compute(con, grain="month", by="team", **OCT)
    # search: d1, d2 succeed, d3 rolled back -> 2 of 3, CFR 1/3
    assert value(df, "deployment_count", "2026-10", team="search") == (2, 3)
    assert value(df, "change_failure_rate", "2026-10", team="search")[0] == pytest.approx(1 / 3)
    # recs: d4, d5, d7 succeed; all four failed in some way -> CFR 4/4, never above 1
    assert value(df, "deployment_count", "2026-10", team="recs") == (3, 4)
    assert value(df, "change_failure_rate", "2026-10", team="recs")[0] == pytest.approx(1.0)
    # recs lead times 96, 12 -> median 54
    assert value(df, "lead_time_median_hours", "2026-10", team="recs")[0] == pytest.approx(54.0)
    # fraud only has costs: its deployment KPIs are null with n = 0
    assert value(df, "deployment_count", "2026-10", team="fraud") == (None, 0)
    assert value(df, "mttr_hours", "2026-10", team="fraud") == (None, 0)


def test_reporting_time_zone_moves_boundary_events(con):
    df = kpis.compute(con, grain="month", tz="America/New_York", start=date(2026, 9, 1), end=date(2026, 10, 31))
    # d9 (2026-10-31 23:30 -04:00) is October in New York: 8 production deployments, 6 successful
    assert value(df, "deployment_count", "2026-10") == (6, 8)
    # lead times 12, 24, 24, 48, 96 -> median 24; p90 at 3.6 -> 48 + 0.6 * 48 = 76.8
    assert value(df, "lead_time_median_hours", "2026-10")[0] == pytest.approx(24.0)
    assert value(df, "lead_time_p90_hours", "2026-10")[0] == pytest.approx(76.8)
    # CFR 5 failed of 8
    assert value(df, "change_failure_rate", "2026-10")[0] == pytest.approx(5 / 8)
    # i6 started 2026-09-30 22:00 -05:00 = 23:00 in New York (EDT): September there
    assert value(df, "incident_count", "2026-09") == (1, 1)
    assert value(df, "incident_count", "2026-10") == (5, 5)
    # September has no deployments at all: null, n = 0
    assert value(df, "deployment_count", "2026-09") == (None, 0)


def test_quarter_grain(con):
    df = kpis.compute(con, grain="quarter", start=date(2026, 10, 1), end=date(2026, 12, 31))
    assert sorted(df["period"].unique()) == ["2026-Q4"]
    # Q4: d1..d7 and d9 -> 8 production, 6 successful; CFR 5 / 8
    assert value(df, "deployment_count", "2026-Q4") == (6, 8)
    assert value(df, "change_failure_rate", "2026-Q4")[0] == pytest.approx(5 / 8)
    # deployments per week: 6 / (92 days / 7)
    assert value(df, "deployments_per_week", "2026-Q4")[0] == pytest.approx(6 / (92 / 7))
    # resolved in Q4: 2, 96, 78, 2, 1 -> mean 179 / 5 = 35.8, median 2
    assert value(df, "mttr_hours", "2026-Q4")[0] == pytest.approx(35.8)
    assert value(df, "mttr_median_hours", "2026-Q4")[0] == pytest.approx(2.0)


def test_week_grain_labels_and_counts(con):
    df = kpis.compute(con, grain="week", kpis=["deployment_count"], start=date(2026, 9, 28), end=date(2026, 10, 11))
    # ISO weeks: Mon 2026-09-28 starts W40 (d1 on Oct 2), Mon 2026-10-05 starts W41 (d2 on Oct 10)
    assert list(df["period"]) == ["2026-W40", "2026-W41"]
    assert value(df, "deployment_count", "2026-W40") == (1, 1)
    assert value(df, "deployment_count", "2026-W41") == (1, 1)


def test_empty_period_in_range_is_null_not_zero(con):
    df = kpis.compute(con, grain="month", start=date(2026, 8, 1), end=date(2026, 8, 31))
    assert set(df["period"]) == {"2026-08"}
    assert df["value"].isna().all()
    assert (df["n"] == 0).all()
    assert set(catalog.KPI_IDS) <= set(df["kpi"])


def test_link_window_links_incident_to_previous_deployment(con):
    # i7 started 2 h after d1 on the same service and names no deployment
    without = kpis.compute(con, kpis=["change_failure_rate"], **OCT)
    narrow = kpis.compute(con, kpis=["change_failure_rate"], link_window_hours=1, **OCT)
    wide = kpis.compute(con, kpis=["change_failure_rate"], link_window_hours=2, **OCT)
    assert value(without, "change_failure_rate", "2026-10")[0] == pytest.approx(5 / 7)
    assert value(narrow, "change_failure_rate", "2026-10")[0] == pytest.approx(5 / 7)
    # with a 2 h window d1 becomes failed too: 6 of 7
    assert value(wide, "change_failure_rate", "2026-10")[0] == pytest.approx(6 / 7)


def test_lead_time_from_approval(tmp_path):
    folder = golden.write(tmp_path, {"d.csv": (
        "deployment_id,service,deployed_at,change_started_at,approved_at\n"
        "a,s,2026-10-10T00:00:00Z,2026-09-10T00:00:00Z,2026-10-09T00:00:00Z\n"
        "b,s,2026-10-20T00:00:00Z,2026-09-20T00:00:00Z,2026-10-19T12:00:00Z\n")})
    c = kpis.connect(folder / "k.duckdb")
    kpis.ingest_files(c, [folder / "d.csv"])
    started = kpis.compute(c, kpis=["lead_time_median_hours"])
    approved = kpis.compute(c, kpis=["lead_time_median_hours"], lead_time_start="approved_at")
    # from work start: 30 days = 720 h each -> 720
    assert value(started, "lead_time_median_hours", "2026-10")[0] == pytest.approx(720.0)
    # from approval: 24 h and 12 h -> median 18
    assert value(approved, "lead_time_median_hours", "2026-10")[0] == pytest.approx(18.0)


def test_filters_are_values_not_sql(con):
    df = kpis.compute(con, filters={"team": ["search"]}, kpis=["deployment_count"], **OCT)
    assert value(df, "deployment_count", "2026-10") == (2, 3)
    hostile = kpis.compute(con, filters={"team": ["x' OR 1=1 --"]}, kpis=["deployment_count"], **OCT)
    assert value(hostile, "deployment_count", "2026-10") == (None, 0)
    # scoped filters: severity applies to incidents only (sev1 and sev2: i1 2 h, i2 resolved in Nov)
    sev = kpis.compute(con, filters={"severity": ["sev1", "sev2"]}, kpis=["mttr_hours", "deployment_count"], **OCT)
    assert value(sev, "mttr_hours", "2026-10") == (pytest.approx(2.0), 1)
    assert value(sev, "deployment_count", "2026-10") == (5, 7)
    with pytest.raises(ValueError):
        kpis.compute(con, by="team; DROP TABLE deployments")
    with pytest.raises(ValueError):
        kpis.compute(con, filters={"team) OR (1": ["x"]})


def test_every_catalog_kpi_is_computed(con):
    df = kpis.compute(con, **OCT)
    assert set(df["kpi"]) == set(catalog.KPI_IDS)
    assert set(df.columns) == {"period", "kpi", "value", "n", "unit"}


def test_empty_database(tmp_path):
    c = kpis.connect(tmp_path / "empty.duckdb")
    df = kpis.compute(c)
    assert df.empty
    assert list(df.columns) == ["period", "kpi", "value", "n", "unit"]
    df = kpis.compute(c, start=date(2026, 1, 1), end=date(2026, 1, 31))
    assert df["value"].isna().all() and (df["n"] == 0).all()


# --- DORA's delivery metrics (issue 15) ------------------------------------------------------------------------


def test_dora_kpis_on_the_main_golden_set(con):
    df = kpis.compute(con, grain="month", **OCT)
    # Failed deployments to recover from (status failed / rolled_back, or named by an incident): d3, d6, d7.
    # d3 rolled back 10-20 10:00, next svc-a success d9 at 11-01 03:30Z: 11 d 17.5 h = 281.5 h (recovered in
    #   November, counted in October, the failed deployment's period);
    # d6 failed 10-28 10:00, next svc-b success d7 10-29 10:00: 24 h;
    # d7 named by i1 (resolved 10-29 14:00) and i2 (11-02 13:00), no later svc-b success: the last incident's
    #   resolution, 99 h.  Median 99, mean (281.5 + 24 + 99) / 3 = 134.8333
    assert value(df, "failed_deployment_recovery_median_hours", "2026-10") == (pytest.approx(99.0), 3)
    assert value(df, "failed_deployment_recovery_mean_hours", "2026-10") == (pytest.approx(404.5 / 3), 3)
    # November's only deployment (d9) did not fail: no recovery, null with n = 0
    assert value(df, "failed_deployment_recovery_median_hours", "2026-11") == (None, 0)
    # rework: d4 is the only hotfix, no deployment names or is named as a fix -> 1 of 7
    assert value(df, "deployment_rework_rate", "2026-10") == (pytest.approx(1 / 7), 7)
    assert value(df, "deployment_rework_rate", "2026-11") == (0.0, 1)
    # deployment days: successes on Oct 2, 10, 21, 25, 29 -> 5 days / (31 / 7) weeks = 35 / 31
    assert value(df, "deployment_days_per_week", "2026-10") == (pytest.approx(35 / 31), 7)


@pytest.fixture(scope="module")
def dora_con(tmp_path_factory):
    folder = golden.write(tmp_path_factory.mktemp("golden_dora"), golden.DORA_FILES)
    c = kpis.connect(folder / "kpi.duckdb")
    kpis.ingest_files(c, [folder])
    yield c
    c.close()


SPRING = dict(start=date(2026, 3, 1), end=date(2026, 4, 30))


def test_failed_deployment_recovery_time(dora_con):
    df = kpis.compute(dora_con, grain="month", **SPRING)
    # March: x2 failed 03-31 22:00, recovered by x3 04-01 02:00 = 4 h, across the month boundary: March's
    assert value(df, "failed_deployment_recovery_median_hours", "2026-03") == (pytest.approx(4.0), 1)
    assert value(df, "failed_deployment_recovery_mean_hours", "2026-03") == (pytest.approx(4.0), 1)
    # April: x4 0.5 h (its rollback, before the next success x5), y1 24 h (j3 resolved before y2 went out),
    # y3 72 h (next success y4); x6 never recovered (j2 open, no later svc-x success): not a value, not 0.
    # median of 0.5, 24, 72 = 24; mean 96.5 / 3
    assert value(df, "failed_deployment_recovery_median_hours", "2026-04") == (pytest.approx(24.0), 3)
    assert value(df, "failed_deployment_recovery_mean_hours", "2026-04") == (pytest.approx(96.5 / 3), 3)
    by_team = kpis.compute(dora_con, grain="month", by="team", kpis=["failed_deployment_recovery_median_hours"],
                           **SPRING)
    # ops: x4 0.5 h (x6 open); ml: y1 24 h, y3 72 h -> median 48
    assert value(by_team, "failed_deployment_recovery_median_hours", "2026-04", team="ops") == (0.5, 1)
    assert value(by_team, "failed_deployment_recovery_median_hours", "2026-04", team="ml") == (48.0, 2)


def test_deployment_rework_rate(dora_con):
    df = kpis.compute(dora_con, grain="month", **SPRING)
    # April's 8 production deployments (x3..x6, y1..y4): x3 a hotfix naming no incident, x5 names j1 as the
    # incident it fixes, y2 is j3's fix_deployment_id -> 3 of 8
    assert value(df, "deployment_rework_rate", "2026-04") == (pytest.approx(3 / 8), 8)
    # March: x1, x2, neither unplanned -> 0 of 2 (a value, not null: there were deployments)
    assert value(df, "deployment_rework_rate", "2026-03") == (0.0, 2)
    # change failure rate is a different rule: x3 hotfix, x4 and y3 rolled back, y1 failed, x6 named by j2 -> 5 / 8
    assert value(df, "change_failure_rate", "2026-04")[0] == pytest.approx(5 / 8)


def test_deployment_days_per_week(dora_con):
    df = kpis.compute(dora_con, grain="month", **SPRING)
    # April: successes on Apr 1, 8, 15, 20, 28 -> 5 days / (30 / 7) weeks = 7 / 6
    assert value(df, "deployment_days_per_week", "2026-04") == (pytest.approx(7 / 6), 8)
    # March: one success day (x1; x2 failed) / (31 / 7) = 7 / 31
    assert value(df, "deployment_days_per_week", "2026-03") == (pytest.approx(7 / 31), 2)
    # February: no deployments at all -> null, n = 0
    feb = kpis.compute(dora_con, grain="month", kpis=["deployment_days_per_week"], start=date(2026, 2, 1),
                       end=date(2026, 2, 28))
    assert value(feb, "deployment_days_per_week", "2026-02") == (None, 0)


def test_day_grain_labels_time_zone_and_empty_days(con):
    utc = kpis.compute(con, grain="day", kpis=["deployment_count", "deployments_per_week", "open_incidents"],
                       start=date(2026, 10, 31), end=date(2026, 11, 1))
    assert sorted(utc["period"].unique()) == ["2026-10-31", "2026-11-01"]
    # d9 went out 2026-11-01 03:30Z: November 1st in UTC; October 31st has no production deployment (d8 is staging)
    assert value(utc, "deployment_count", "2026-10-31") == (None, 0)
    assert value(utc, "deployment_count", "2026-11-01") == (1, 1)
    # one deployment in a one-day period: 1 / (1 / 7) weeks = 7 a week
    assert value(utc, "deployments_per_week", "2026-11-01")[0] == pytest.approx(7.0)
    # open at 2026-11-01 24:00Z: i2 (resolved 11-02 13:00) and i5 (never), of the 6 ML incidents started by then
    assert value(utc, "open_incidents", "2026-11-01") == (2, 6)
    # in New York, d9 (23:30 -04:00) is on October 31st
    ny = kpis.compute(con, grain="day", tz="America/New_York", kpis=["deployment_count"],
                      start=date(2026, 10, 31), end=date(2026, 11, 1))
    assert value(ny, "deployment_count", "2026-10-31") == (1, 1)
    assert value(ny, "deployment_count", "2026-11-01") == (None, 0)


def test_day_grain_recovery_counts_on_the_failed_deployments_day(dora_con):
    df = kpis.compute(dora_con, grain="day", kpis=["failed_deployment_recovery_median_hours",
                                                   "deployment_days_per_week"],
                      start=date(2026, 3, 31), end=date(2026, 4, 1))
    # x2 failed 03-31 22:00, recovered by x3 04-01 02:00: 4 h, on March 31st (not the day it recovered)
    assert value(df, "failed_deployment_recovery_median_hours", "2026-03-31") == (4.0, 1)
    assert value(df, "failed_deployment_recovery_median_hours", "2026-04-01") == (None, 0)
    # March 31st: x2 failed, no successful deployment -> 0 deployment days (of 1 production deployment)
    assert value(df, "deployment_days_per_week", "2026-03-31") == (0.0, 1)
    # April 1st: x3 succeeded -> 1 day / (1 / 7) week = 7
    assert value(df, "deployment_days_per_week", "2026-04-01") == (7.0, 1)


def test_trailing_windows(con):
    # 7-day windows ending on 2026-11-02, back to cover 2026-10-24: Oct 20-26 and Oct 27 - Nov 2
    df = kpis.compute(con, window_days=7, start=date(2026, 10, 24), end=date(2026, 11, 2))
    first, second = "2026-10-20/2026-10-26", "2026-10-27/2026-11-02"
    assert list(dict.fromkeys(df["period"])) == [first, second]
    # Oct 20-26: d3 (rolled back), d4 and d5 (success) -> 2 of 3; 2 in one week
    assert value(df, "deployment_count", first) == (2, 3)
    assert value(df, "deployments_per_week", first)[0] == pytest.approx(2.0)
    # Oct 27 - Nov 2: d6 (failed), d7, d9 (11-01 03:30Z) succeed -> 2 of 3; failed: d6, d7 (named by i1, i2)
    assert value(df, "deployment_count", second) == (2, 3)
    assert value(df, "change_failure_rate", second)[0] == pytest.approx(2 / 3)
    # incidents started: none of the ML ones in the first window (i4 is not ML); i1, i2, i5 in the second
    assert value(df, "incident_count", first) == (None, 0)
    assert value(df, "incident_count", second) == (3, 3)
    # resolved in the second: i1 2 h, i2 96 h -> mean 49
    assert value(df, "mttr_hours", second) == (pytest.approx(49.0), 2)
    # open at Nov 3 00:00Z: i5 only (i2 was resolved Nov 2 13:00), of the 6 started by then
    assert value(df, "open_incidents", second) == (1, 6)
    # recovery: d3 (first window) 281.5 h; d6 24 h and d7 99 h (second) -> median 61.5
    assert value(df, "failed_deployment_recovery_median_hours", first) == (pytest.approx(281.5), 1)
    assert value(df, "failed_deployment_recovery_median_hours", second) == (pytest.approx(61.5), 2)
    # in New York d9 (Oct 31 23:30 -04:00) is still in the second window; 30-day window to Nov 2 holds d1..d9
    ny = kpis.compute(con, window_days=30, tz="America/New_York", kpis=["deployment_count"],
                      start=date(2026, 10, 4), end=date(2026, 11, 2))
    # Oct 4 - Nov 2: d2, d4, d5, d7, d9 succeed (d1 on Oct 2 is before it) of d2..d7 and d9
    assert value(ny, "deployment_count", "2026-10-04/2026-11-02") == (5, 7)


def test_recovery_ignores_incidents_resolved_before_the_deployment(tmp_path):
    # Exports that disagree with each other: an incident names z1 but was resolved a day before z1 went out.
    # That cannot be when z1 recovered (a negative recovery time); the next successful deployment still is.
    (tmp_path / "deployments.csv").write_text(
        "deployment_id,service,deployed_at,team,status,rolled_back_at\n"
        "z1,svc-z,2026-05-10T10:00:00Z,ops,success,\n"
        "z2,svc-z,2026-05-12T16:00:00Z,ops,success,\n"
        "z3,svc-z,2026-05-20T08:00:00Z,ops,failed,\n"
        "z4,svc-z,2026-05-21T10:00:00Z,ops,success,\n")
    (tmp_path / "incidents.csv").write_text(
        "incident_id,service,started_at,resolved_at,deployment_id\n"
        "k1,svc-z,2026-05-08T00:00:00Z,2026-05-09T10:00:00Z,z1\n")
    c = kpis.connect(tmp_path / "kpi.duckdb")
    kpis.ingest_files(c, [tmp_path / "deployments.csv", tmp_path / "incidents.csv"])
    df = kpis.compute(c, grain="month", kpis=["failed_deployment_recovery_median_hours",
                                              "failed_deployment_recovery_mean_hours"],
                      start=date(2026, 5, 1), end=date(2026, 5, 31))
    # z1 (named by k1): next success z2, 05-12 16:00 - 05-10 10:00 = 54 h (not k1's resolution, -24 h);
    # z3 (failed): next success z4, 05-21 10:00 - 05-20 08:00 = 26 h.
    # median (54 + 26) / 2 = 40, mean 40
    assert value(df, "failed_deployment_recovery_median_hours", "2026-05") == (pytest.approx(40.0), 2)
    assert value(df, "failed_deployment_recovery_mean_hours", "2026-05") == (pytest.approx(40.0), 2)
    rows = details.failed_deployments(c, start=date(2026, 5, 1), end=date(2026, 6, 1))
    assert dict(zip(rows["deployment_id"], rows["recovered_by"])) == {"z1": "deployment z2", "z3": "deployment z4"}
    assert (rows["recovery_hours"] > 0).all()
    c.close()
