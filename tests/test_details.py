"""Drill-down queries (kpis/details.py) on a tiny hand-made dataset.

Every expected value is worked out by hand in the comment beside it. The
dataset is written as CSV in tmp_path and loaded with kpis.ingest_files, the
same path real exports take.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import pandas as pd
import pytest

import kpis
from kpis import details

DEPLOYMENTS = """\
deployment_id,service,deployed_at,team,model,environment,status,change_started_at,is_hotfix,caused_regression
d1,svc-a,2026-10-02T10:00:00Z,alpha,m1,production,success,2026-10-01T10:00:00Z,false,false
d2,svc-a,2026-10-05T12:00:00Z,alpha,m1,production,failed,2026-10-03T12:00:00Z,false,false
d3,svc-b,2026-10-10T00:00:00Z,beta,m2,production,success,2026-10-07T00:00:00Z,true,false
d4,svc-b,2026-10-20T00:00:00Z,beta,m2,production,success,2026-10-10T00:00:00Z,false,false
d5,svc-a,2026-10-25T00:00:00Z,alpha,m1,staging,success,,false,false
d6,svc-a,2026-11-03T00:00:00Z,alpha,m1,production,rolled_back,2026-11-01T00:00:00Z,false,true
d7,svc-b,2026-09-30T23:30:00Z,beta,m2,production,success,,false,false
"""

INCIDENTS = """\
incident_id,service,started_at,detected_at,resolved_at,severity,team,category,ml_related,deployment_id
i1,svc-a,2026-10-03T00:00:00Z,2026-10-03T01:00:00Z,2026-10-03T05:00:00Z,sev1,alpha,drift,true,
i2,svc-b,2026-10-21T00:00:00Z,2026-10-21T00:30:00Z,2026-11-02T00:00:00Z,sev2,beta,deployment,true,d4
i3,svc-b,2026-10-28T00:00:00Z,,,P3,beta,other,true,
i4,svc-a,2026-09-29T00:00:00Z,2026-09-29T02:00:00Z,2026-10-01T00:00:00Z,sev2,alpha,infrastructure,true,
i5,svc-a,2026-10-15T00:00:00Z,,2026-10-15T02:00:00Z,sev4,alpha,other,false,
i6,svc-b,2026-10-10T06:00:00Z,2026-10-10T06:15:00Z,2026-10-10T08:00:00Z,sev3,beta,other,true,
"""

COSTS = """\
date,amount,service,currency,category,team,model,run_id
2026-10-01,100,svc-a,USD,training,alpha,m1,r1
2026-10-02,10,svc-a,USD,training,alpha,m1,r2
2026-10-03,12,svc-a,USD,training,alpha,m1,r3
2026-10-04,11,svc-b,USD,training,beta,m2,r4
2026-10-05,13,svc-b,USD,training,beta,m2,r5
2026-10-06,5,svc-b,USD,training,beta,m2,r5
2026-10-07,50,svc-a,USD,inference,alpha,m1,
2026-11-01,40,svc-a,USD,training,alpha,m1,r1
"""

PREDICTIONS = """\
date,service,predictions,team,model
2026-10-01,svc-d,1000,gamma,m9
"""

OCT, NOV, DEC = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    d = tmp_path_factory.mktemp("details")
    paths = []
    for name, text in (("deployments.csv", DEPLOYMENTS), ("incidents.csv", INCIDENTS),
                       ("costs.csv", COSTS), ("predictions.csv", PREDICTIONS)):
        (d / name).write_text(text)
        paths.append(d / name)
    c = kpis.connect(d / "t.duckdb")
    kpis.ingest_files(c, paths)
    yield c
    c.close()


# --------------------------------------------------------------------------- deployments

def test_deployments_in_october_with_failure_reasons(con):
    df = details.deployments(con, OCT, NOV)
    # Production deployments deployed in [Oct 1, Nov 1) UTC: d1..d4, newest first.
    # d5 is staging, d6 is in November, d7 is on Sep 30 (UTC).
    assert list(df["deployment_id"]) == ["d4", "d3", "d2", "d1"]
    by_id = df.set_index("deployment_id")
    assert list(by_id.loc[["d1", "d2", "d3", "d4"], "failed"]) == [False, True, True, True]
    assert by_id.loc["d1", "failure_reason"] == ""
    assert by_id.loc["d2", "failure_reason"] == "status failed"
    assert by_id.loc["d3", "failure_reason"] == "hotfix"
    assert by_id.loc["d4", "failure_reason"] == "incident"  # i2 names d4
    assert by_id.loc["d4", "incident_ids"] == "i2"
    assert by_id.loc["d1", "lead_time_hours"] == pytest.approx(24.0)  # Oct 1 10:00 -> Oct 2 10:00
    assert by_id.loc["d4", "lead_time_hours"] == pytest.approx(240.0)  # Oct 10 -> Oct 20 = 10 days


def test_deployments_failed_share_is_the_engines_change_failure_rate(con):
    df = details.deployments(con, OCT, NOV)
    cfr = kpis.compute(con, grain="month", start=OCT, end=date(2026, 10, 31), kpis=["change_failure_rate"])
    assert df["failed"].mean() == pytest.approx(0.75)  # 3 failed (d2, d3, d4) of 4
    assert cfr["value"].iloc[0] == pytest.approx(df["failed"].mean())
    # failed_only: the same failed rows (d4, d3, d2, newest first) and nothing else; the KPI's n is all 4
    failed = details.deployments(con, OCT, NOV, failed_only=True)
    assert list(failed["deployment_id"]) == ["d4", "d3", "d2"] and failed["failed"].all()
    assert cfr["n"].iloc[0] == len(df) == 4


@pytest.mark.parametrize("link_window_hours, tz", [(None, "UTC"), (24.0, "UTC"), (None, "America/New_York")])
def test_deployment_rows_reproduce_the_delivery_kpis_every_month(sample_db, link_window_hours, tz):
    """A property of the one deployments relation: in every month of the sample, the drill-down's rows give the
    engine's deployment count, change failure rate, rollback rate and median lead time, value and n."""
    from kpis import periods

    con = kpis.connect(sample_db, read_only=True)
    try:
        first, last = kpis.data_range(con, tz)
        eng = kpis.compute(con, grain="month", start=first, end=last, tz=tz, link_window_hours=link_window_hours,
                           kpis=["deployment_count", "change_failure_rate", "rollback_rate", "lead_time_median_hours"])
        checked = 0
        for start in periods.spine(first, last, "month"):
            rows = details.deployments(con, start, periods.next_start(start, "month"), tz=tz,
                                       link_window_hours=link_window_hours)
            got = eng[eng["period"] == periods.label(start, "month")].set_index("kpi")
            ok = rows[rows["status"] == "success"]
            assert got.loc["deployment_count", "n"] == len(rows)
            if rows.empty:
                continue
            assert got.loc["deployment_count", "value"] == len(ok)
            assert got.loc["change_failure_rate", "value"] == pytest.approx(rows["failed"].mean())
            assert got.loc["rollback_rate", "value"] == pytest.approx((rows["status"] == "rolled_back").mean())
            # every failed row says why, and only failed rows do
            assert (rows["failed"] == rows["failure_reason"].ne("")).all()
            leads = ok["lead_time_hours"].dropna()
            assert got.loc["lead_time_median_hours", "n"] == len(leads)
            if len(leads):
                assert got.loc["lead_time_median_hours", "value"] == pytest.approx(leads.median())
            checked += 1
    finally:
        con.close()
    assert checked >= 17  # 2025-05 .. 2026-11


def test_deployments_filter_time_zone_link_window_and_limit(con):
    # team beta: d3 and d4 in October.
    assert list(details.deployments(con, OCT, NOV, filters={"team": ["beta"]})["deployment_id"]) == ["d4", "d3"]
    # Europe/Berlin: October starts at Sep 30 22:00 UTC, so d7 (Sep 30 23:30 UTC) is in: 5 rows.
    berlin = details.deployments(con, OCT, NOV, tz="Europe/Berlin")
    assert len(berlin) == 5 and "d7" in set(berlin["deployment_id"])
    # Link window 12 h: i6 (svc-b, Oct 10 06:00, no deployment_id) links to d3 (svc-b, Oct 10 00:00,
    # success, 6 h before). i1 (svc-a, Oct 3 00:00) would link to d1 (14 h before): outside the window.
    linked = details.deployments(con, OCT, NOV, link_window_hours=12).set_index("deployment_id")
    assert linked.loc["d3", "incident_ids"] == "i6"
    assert linked.loc["d3", "failure_reason"] == "hotfix, incident"
    assert linked.loc["d1", "incident_ids"] == ""
    assert list(details.deployments(con, OCT, NOV, limit=2)["deployment_id"]) == ["d4", "d3"]


def test_deployments_empty_range_and_bad_arguments(con):
    assert details.deployments(con, date(2030, 1, 1), date(2030, 2, 1)).empty
    with pytest.raises(ValueError):
        details.deployments(con, NOV, OCT)
    with pytest.raises(ValueError):
        details.deployments(con, OCT, NOV, filters={"colour": ["red"]})
    with pytest.raises(ValueError):
        details.deployments(con, OCT, NOV, lead_time_start="deployed_at")


def test_lead_time_distribution(con):
    df = details.lead_time_distribution(con, OCT, NOV).set_index("bin")
    # Successful production deployments in October with a start: d1 (1 day), d3 (3 days), d4 (10 days).
    # Bins are [lower, upper): 1 day falls in 1-3 d, 3 days in 3-7 d, 10 days in 7-14 d.
    assert df.loc["1-3 d", "deployments"] == 1
    assert df.loc["3-7 d", "deployments"] == 1
    assert df.loc["7-14 d", "deployments"] == 1
    assert df["deployments"].sum() == 3
    assert len(df) == len(details.LEAD_TIME_BINS_DAYS)  # every bin, empty ones as 0
    assert math.isnan(df.loc["84+ d", "upper_days"])


# --------------------------------------------------------------------------- incidents

def test_incidents_started_or_resolved_in_october(con):
    df = details.incidents(con, OCT, NOV).set_index("incident_id")
    # ML-related incidents started in October: i1, i2, i3, i6 (i5 is not ML-related);
    # resolved in October: i1, i4 (resolved exactly at Oct 1 00:00), i6.
    assert sorted(df.index) == ["i1", "i2", "i3", "i4", "i6"]
    assert sorted(df.index[df["started_in_range"]]) == ["i1", "i2", "i3", "i6"]
    assert sorted(df.index[df["resolved_in_range"]]) == ["i1", "i4", "i6"]
    assert df.loc["i1", "time_to_detect_hours"] == pytest.approx(1.0)  # 00:00 -> 01:00
    assert df.loc["i1", "time_to_recover_hours"] == pytest.approx(5.0)  # 00:00 -> 05:00
    assert df.loc["i4", "time_to_recover_hours"] == pytest.approx(48.0)  # Sep 29 -> Oct 1
    assert df.loc["i3", "severity"] == "sev3"  # P3 normalised
    assert bool(df.loc["i3", "open"]) and math.isnan(df.loc["i3", "time_to_recover_hours"])
    # MTTR of the resolved-in-range ones is the engine's: (5 + 48 + 2) / 3 = 18.33 h.
    mttr = kpis.compute(con, start=OCT, end=date(2026, 10, 31), kpis=["mttr_hours"])["value"].iloc[0]
    assert df.loc[df["resolved_in_range"], "time_to_recover_hours"].mean() == pytest.approx(55 / 3)
    assert mttr == pytest.approx(55 / 3)


def test_incidents_filters(con):
    df = details.incidents(con, OCT, NOV, filters={"severity": ["sev1", "sev2"]})
    # sev1/sev2 touching October: i1 (sev1), i2 (sev2, started), i4 (sev2, resolved).
    assert sorted(df["incident_id"]) == ["i1", "i2", "i4"]
    assert details.incidents(con, OCT, NOV, filters={"team": ["nobody"]}).empty


def test_open_incidents_at_a_moment(con):
    df = details.open_incidents(con, NOV)  # midnight Nov 1 UTC, the end of October
    # Started before Nov 1 and not resolved by then: i2 (resolved Nov 2) and i3 (open), oldest first.
    assert list(df["incident_id"]) == ["i2", "i3"]
    assert list(df["age_hours"]) == pytest.approx([264.0, 96.0])  # Oct 21 -> Nov 1 = 11 d; Oct 28 -> 4 d
    # Engine's open_incidents at the end of October agrees.
    eng = kpis.compute(con, start=OCT, end=date(2026, 10, 31), kpis=["open_incidents"])["value"].iloc[0]
    assert eng == 2
    later = details.open_incidents(con, datetime(2026, 11, 5))
    assert list(later["incident_id"]) == ["i3"]
    assert later["age_hours"].iloc[0] == pytest.approx(192.0)  # Oct 28 -> Nov 5 = 8 days


def test_worst_services(con):
    df = details.worst_services(con, OCT, NOV).set_index("service")
    # svc-b: started i2, i3, i6 = 3 (high severity: i2); resolved in Oct: i6 (2 h) -> MTTR 2 h.
    # svc-a: started i1 = 1 (sev1: high); resolved in Oct: i1 (5 h), i4 (48 h) -> MTTR 26.5 h, impact 53 h.
    assert list(df.index) == ["svc-b", "svc-a"]
    assert df.loc["svc-b", "incidents"] == 3 and df.loc["svc-b", "high_severity"] == 1
    assert df.loc["svc-b", "mttr_hours"] == pytest.approx(2.0)
    assert df.loc["svc-a", "incidents"] == 1 and df.loc["svc-a", "resolved"] == 2
    assert df.loc["svc-a", "mttr_hours"] == pytest.approx(26.5)
    assert df.loc["svc-a", "impact_hours"] == pytest.approx(53.0)
    only_sev1 = details.worst_services(con, OCT, NOV, filters={"severity": ["sev1"]}).set_index("service")
    assert list(only_sev1.index) == ["svc-a"]  # i1 only: 1 incident, MTTR 5 h
    assert only_sev1.loc["svc-a", "mttr_hours"] == pytest.approx(5.0)
    assert len(details.worst_services(con, OCT, NOV, limit=1)) == 1


# --------------------------------------------------------------------------- training runs

def test_training_runs_outliers(con):
    df = details.training_runs(con, OCT, NOV).set_index("run_id")
    # October runs: r1 100, r2 10, r3 12, r4 11, r5 13 + 5 = 18. Sorted 10, 11, 12, 18, 100:
    # Q1 = 11 (position 1 of 0..4), Q3 = 18 (position 3), IQR 7, fence 18 + 1.5 x 7 = 28.5.
    assert list(df.index) == ["r1", "r5", "r3", "r4", "r2"]  # costliest first
    assert df.loc["r5", "cost"] == pytest.approx(18.0)
    assert df["outlier_threshold"].iloc[0] == pytest.approx(28.5)
    assert list(df.index[df["outlier"]]) == ["r1"]
    # The engine's training cost per run for October: 151 / 5 runs = 30.2.
    eng = kpis.compute(con, start=OCT, end=date(2026, 10, 31), kpis=["training_cost_per_run"])["value"].iloc[0]
    assert eng == pytest.approx(df["cost"].mean()) and eng == pytest.approx(30.2)
    # Without an end, r1's November line is added: 100 + 40 = 140.
    assert details.training_runs(con, OCT).set_index("run_id").loc["r1", "cost"] == pytest.approx(140.0)


def test_training_runs_limit_returns_the_top_rows_of_all(con):
    every = details.training_runs(con, OCT, NOV)
    top = details.training_runs(con, OCT, NOV, limit=2)
    # The two costliest of October (r1 100, r5 18), with the fence of all five runs (28.5, as above) and their
    # flags: the limit only cuts the list, never what the runs are measured against.
    pd.testing.assert_frame_equal(top, every.head(2))
    assert list(top["run_id"]) == ["r1", "r5"] and list(top["outlier"]) == [True, False]
    assert top["outlier_threshold"].tolist() == pytest.approx([28.5, 28.5])
    pd.testing.assert_frame_equal(details.training_runs(con, OCT, NOV, limit=99), every)
    assert details.training_runs(con, OCT, NOV, limit=0).empty


def test_training_runs_too_few_for_a_fence(con):
    df = details.training_runs(con, OCT, NOV, filters={"team": ["beta"]})
    # beta has r4 (11) and r5 (18): fewer than 4 runs, so no fence and no outlier.
    assert sorted(df["run_id"]) == ["r4", "r5"]
    assert not df["outlier"].any() and df["outlier_threshold"].isna().all()
    assert details.training_runs(con, date(2030, 1, 1), date(2030, 2, 1)).empty


# --------------------------------------------------------------------------- filter values

def test_distinct_values_and_counts(con):
    vals = details.distinct_values(con)
    # Across all four tables (gamma / svc-d / m9 appear only in predictions).
    assert vals == {"team": ["alpha", "beta", "gamma"], "service": ["svc-a", "svc-b", "svc-d"],
                    "model": ["m1", "m2", "m9"]}
    # narrowed to a team: that team's services and models, every team still listed
    assert details.distinct_values(con, teams=["gamma"]) == {
        "team": ["alpha", "beta", "gamma"], "service": ["svc-d"], "model": ["m9"]}
    assert details.distinct_values(con, teams=["nobody"])["service"] == []
    counts = details.table_counts(con)
    assert {k: counts[k] for k in ("deployments", "incidents", "costs", "predictions")} == {
        "deployments": 7, "incidents": 6, "costs": 8, "predictions": 1}  # the rows of the CSVs above
    assert not any(counts[k] for k in counts if k not in ("deployments", "incidents", "costs", "predictions"))
    assert details.last_event(con) == datetime(2026, 11, 3)  # d6, the latest deployment or incident time


def test_empty_database():
    con = kpis.connect("/nonexistent/never.duckdb", read_only=True)  # fresh install: empty in-memory DB
    assert details.deployments(con, OCT, NOV).empty
    assert details.incidents(con).empty
    assert details.open_incidents(con, NOV).empty
    assert details.worst_services(con).empty
    assert details.training_runs(con).empty and details.training_runs(con, limit=5).empty
    assert details.lead_time_distribution(con)["deployments"].sum() == 0
    assert details.distinct_values(con) == {"team": [], "service": [], "model": []}
    assert details.last_event(con) is None


# ------------------------------------------------ serving, pipelines, coverage, cost attribution
# A second tiny dataset, so the numbers above stay as they are.

HEALTH_PREDICTIONS = """\
date,service,predictions,team,errors,latency_p95_ms,latency_p99_ms,availability,good_requests,total_requests
2026-10-01,svc-a,1000,alpha,2,100,200,,995,1000
2026-10-02,svc-a,3000,alpha,3,200,400,,2997,3000
2026-10-01,svc-b,500,beta,,50,80,0.99,,
2026-10-05,svc-c,0,beta,,,,,,
2026-11-01,svc-a,1000,alpha,10,300,500,,990,1000
"""

HEALTH_RUNS = """\
run_id,pipeline,kind,scheduled_at,started_at,finished_at,status,on_time,data_fresh,validation_passed,reproducible,model,team,service
p1,train-a,training,2026-10-01T00:00:00Z,2026-10-01T00:10:00Z,2026-10-01T02:10:00Z,success,true,true,true,true,m1,alpha,svc-a
p2,train-a,training,2026-10-08T00:00:00Z,2026-10-08T03:00:00Z,2026-10-08T06:00:00Z,failed,false,true,,false,m1,alpha,svc-a
p3,feat-b,feature,,2026-10-15T00:00:00Z,2026-10-15T00:30:00Z,success,,false,false,,,beta,svc-b
p4,ci-a,ci,,2026-10-20T10:00:00Z,2026-10-20T10:12:00Z,cancelled,,,,,,alpha,
p5,train-a,training,2026-10-31T23:00:00Z,,,running,,,,,m1,alpha,svc-a
p6,ci-a,ci,,2026-11-02T00:00:00Z,2026-11-02T00:06:00Z,success,,,,,,alpha,
"""

HEALTH_MODELS = """\
as_of,model,service,team,tier,in_production,monitored,drift_monitored,documented
2026-09-01,m1,svc-a,alpha,tier-1,true,false,false,false
2026-10-01,m1,svc-a,alpha,tier-1,true,true,true,true
2026-10-01,m2,svc-b,beta,tier-2,true,false,false,true
2026-10-01,m3,svc-b,beta,Tier 1,true,true,false,false
2026-10-01,m4,svc-c,beta,tier-3,false,false,false,false
2026-10-20,m1,svc-a,alpha,tier-1,true,true,true,true
2026-10-20,m2,svc-b,beta,tier-2,true,true,false,true
2026-10-20,m3,svc-b,beta,tier-1,true,true,true,
"""

HEALTH_COSTS = """\
date,amount,service,currency,category,team,resource_id
2026-10-01,100,svc-a,USD,inference,alpha,r-a
2026-10-02,30,unattributed,USD,inference,,r-x
2026-10-03,20,svc-a,USD,other,alpha,r-a
2026-10-04,50,unattributed,USD,other,,r-y
2026-10-05,10,unattributed,USD,other,,r-y
2026-10-06,40,svc-b,EUR,inference,beta,r-b
2026-10-07,10,svc-b,EUR,other,beta,
2026-11-01,999,unattributed,USD,other,,r-y
"""


@pytest.fixture(scope="module")
def health(tmp_path_factory):
    d = tmp_path_factory.mktemp("health")
    paths = []
    for name, text in (("predictions.csv", HEALTH_PREDICTIONS), ("pipeline_runs.csv", HEALTH_RUNS),
                       ("models.csv", HEALTH_MODELS), ("costs.csv", HEALTH_COSTS)):
        (d / name).write_text(text)
        paths.append(d / name)
    c = kpis.connect(d / "h.duckdb")
    kpis.ingest_files(c, paths)
    yield c
    c.close()


def test_serving_by_service(health):
    df = details.serving_by_service(health, OCT, NOV).set_index("service")
    # svc-c's only day has no traffic (0 predictions, no requests): left out, as in the engine.
    # Worst error budget first: svc-b (-9) before svc-a (-1).
    assert list(df.index) == ["svc-b", "svc-a"]
    a = df.loc["svc-a"]
    assert a["requests"] == 4000 and a["days"] == 2  # total_requests 1000 + 3000
    assert a["error_rate"] == pytest.approx(5 / 4000)  # 2 + 3 errors of 4000 requests
    assert a["availability"] == pytest.approx(3992 / 4000)  # good 995 + 2997 of 4000 = 0.998
    assert a["error_budget_remaining"] == pytest.approx(-1.0)  # 1 - 0.002 / 0.001
    assert a["latency_p95_ms"] == pytest.approx(175.0)  # (100 x 1000 + 200 x 3000) / 4000
    assert a["latency_p99_ms"] == pytest.approx(350.0)  # (200 x 1000 + 400 x 3000) / 4000
    b = df.loc["svc-b"]
    assert b["requests"] == 500  # no total_requests: the predictions are the traffic
    assert math.isnan(b["error_rate"])  # no errors reported
    assert b["availability"] == pytest.approx(0.99)  # the day's ratio, weighted by its 500 requests
    assert b["error_budget_remaining"] == pytest.approx(-9.0)  # 1 - 0.01 / 0.001
    # Another SLO: 99% leaves svc-a 1 - 0.002 / 0.01 = 80% of its budget and svc-b none.
    loose = details.serving_by_service(health, OCT, NOV, slo=0.99).set_index("service")
    assert loose.loc["svc-a", "error_budget_remaining"] == pytest.approx(0.8)
    assert loose.loc["svc-b", "error_budget_remaining"] == pytest.approx(0.0)
    assert list(details.serving_by_service(health, OCT, NOV, filters={"team": ["alpha"]})["service"]) == ["svc-a"]
    assert details.serving_by_service(health, date(2030, 1, 1), date(2030, 2, 1)).empty
    with pytest.raises(ValueError):
        details.serving_by_service(health, OCT, NOV, slo=1.5)


def test_serving_by_service_is_the_engines_per_service(health):
    df = details.serving_by_service(health, OCT, NOV).set_index("service")
    ids = ["latency_p95_ms", "latency_p99_ms", "error_rate", "availability", "error_budget_remaining"]
    eng = kpis.compute(health, start=OCT, end=date(2026, 10, 31), by="service", kpis=ids)
    for row in eng.dropna(subset=["value"]).itertuples():
        assert df.loc[row.service, row.kpi] == pytest.approx(row.value), (row.service, row.kpi)


def test_pipeline_runs_flags_and_order(health):
    df = details.pipeline_runs(health, OCT, NOV)
    # October (UTC) by started_at, or scheduled_at for p5 that never started: p1..p5; p6 is in November.
    # Runs with a problem first (newest first): p4 Oct 20, p3 Oct 15, p2 Oct 8; then p5 Oct 31, p1 Oct 1.
    assert list(df["run_id"]) == ["p4", "p3", "p2", "p5", "p1"]
    flags = dict(zip(df["run_id"], df["flags"]))
    assert flags == {"p1": "", "p2": "failed, late, not reproducible", "p3": "stale data, validation failed",
                     "p4": "cancelled", "p5": ""}
    hours = dict(zip(df["run_id"], df["duration_hours"]))
    assert hours["p1"] == pytest.approx(2.0)  # 00:10 -> 02:10
    assert hours["p4"] == pytest.approx(0.2)  # 12 minutes
    assert math.isnan(hours["p5"])  # still running, never started
    # The engine's success rate is the share of successes among the finished runs: p1, p3 of p1..p4 = 0.5.
    finished = df[df["status"] != "running"]
    eng = kpis.compute(health, start=OCT, end=date(2026, 10, 31), kpis=["pipeline_success_rate"])["value"].iloc[0]
    assert (finished["status"] == "success").mean() == pytest.approx(0.5) == pytest.approx(eng)


def test_pipeline_runs_time_zone_and_filters(health):
    # Europe/Berlin: October ends at Oct 31 23:00 UTC, so p5 (scheduled then) falls in November.
    berlin = details.pipeline_runs(health, OCT, NOV, tz="Europe/Berlin")
    assert sorted(berlin["run_id"]) == ["p1", "p2", "p3", "p4"]
    assert list(details.pipeline_runs(health, OCT, NOV, filters={"team": ["beta"]})["run_id"]) == ["p3"]
    assert list(details.pipeline_runs(health, NOV, DEC)["run_id"]) == ["p6"]
    with pytest.raises(ValueError):
        details.pipeline_runs(health, NOV, OCT)


def test_models_inventory_latest_snapshot_uncovered_first(health):
    df = details.models_inventory(health, OCT, NOV)
    # Latest snapshot in October: 2026-10-20 (m1, m2, m3). m2 lacks drift monitoring; m3's documented is
    # empty, which is not a gap. Gaps first, then tier-1 first, then by model: m2, m1, m3.
    assert list(df["model"]) == ["m2", "m1", "m3"]
    assert set(df["as_of"].dt.date) == {date(2026, 10, 20)}
    assert dict(zip(df["model"], df["gaps"])) == {"m2": "no drift monitoring", "m1": "", "m3": ""}
    # The engine's October coverage rests on these rows: drift monitoring 2 of 3, documentation 2 of 2.
    eng = kpis.compute(health, start=OCT, end=date(2026, 10, 31),
                       kpis=["drift_monitoring_coverage", "documentation_completeness"]).set_index("kpi")["value"]
    assert df["drift_monitored"].mean() == pytest.approx(2 / 3) == pytest.approx(eng["drift_monitoring_coverage"])
    assert eng["documentation_completeness"] == pytest.approx(1.0)


def test_models_inventory_earlier_snapshots_and_filters(health):
    # [Oct 1, Oct 15): the 2026-10-01 snapshot; m4 is not in production. m2 and m3 have two gaps each,
    # m3 is tier-1 ("Tier 1" normalised at ingest) so it comes first.
    early = details.models_inventory(health, OCT, date(2026, 10, 15))
    assert list(early["model"]) == ["m3", "m2", "m1"]
    assert list(early["tier"]) == ["tier-1", "tier-2", "tier-1"] and list(early["tier1"]) == [True, False, True]
    assert list(early["gaps"]) == ["no drift monitoring, not documented", "not monitored, no drift monitoring", ""]
    # Without a start: the latest snapshot before the end (Oct 1) is 2026-09-01, m1 with every gap.
    before = details.models_inventory(health, None, OCT)
    assert list(before["model"]) == ["m1"]
    assert before["gaps"].iloc[0] == "not monitored, no drift monitoring, not documented"
    beta = details.models_inventory(health, OCT, NOV, filters={"team": ["beta"]})
    assert list(beta["model"]) == ["m2", "m3"]  # the 2026-10-20 snapshot of beta's models
    assert details.models_inventory(health, NOV, DEC).empty  # no snapshot dated in November


def test_cost_attribution(health):
    df = details.cost_attribution(health, OCT, NOV).set_index("currency")
    # USD in October: 100 + 30 + 20 + 50 + 10 = 210; unattributed (category other or service unattributed):
    # 30 + 20 + 50 + 10 = 110 in 4 lines; category other 20 + 50 + 10 = 80; service unattributed 30 + 50 + 10 = 90.
    assert list(df.index) == ["USD", "EUR"]  # most unattributed first
    usd = df.loc["USD"]
    assert usd["total_cost"] == pytest.approx(210.0) and usd["unattributed_cost"] == pytest.approx(110.0)
    assert usd["unattributed_share"] == pytest.approx(110 / 210)
    assert usd["unattributed_lines"] == 4
    assert usd["other_category_cost"] == pytest.approx(80.0)
    assert usd["unattributed_service_cost"] == pytest.approx(90.0)
    # EUR (never added to USD): 40 + 10 = 50, of which the 10 of category other: 20%.
    assert df.loc["EUR", "unattributed_share"] == pytest.approx(0.2)
    # Oct 1 alone: one attributed line of 100 USD, nothing unattributed.
    clean = details.cost_attribution(health, OCT, date(2026, 10, 2))
    assert clean["unattributed_lines"].tolist() == [0] and clean["unattributed_share"].tolist() == [0.0]
    # Team alpha: the unattributed-service lines name no team, so only svc-a's 20 of category other: 20 of 120.
    alpha = details.cost_attribution(health, OCT, NOV, filters={"team": ["alpha"]}).set_index("currency")
    assert alpha.loc["USD", "unattributed_share"] == pytest.approx(20 / 120)
    assert details.cost_attribution(health, date(2030, 1, 1), date(2030, 2, 1)).empty


def test_unattributed_costs_by_service_and_resource(health):
    df = details.unattributed_costs(health, OCT, NOV)
    # Largest first: unattributed/r-y 50 + 10 = 60, unattributed/r-x 30, svc-a/r-a 20 (other), svc-b/- 10 EUR.
    assert list(zip(df["service"], df["resource_id"].fillna("-"), df["amount"])) == [
        ("unattributed", "r-y", 60.0), ("unattributed", "r-x", 30.0), ("svc-a", "r-a", 20.0), ("svc-b", "-", 10.0)]
    assert list(df["share_of_cost"]) == pytest.approx([60 / 210, 30 / 210, 20 / 210, 10 / 50])  # per currency
    assert list(df["reason"]) == ["category other and service unattributed", "service unattributed",
                                  "category other", "category other"]
    assert list(df["lines"]) == [2, 1, 1, 1]
    # Without an end, November's 999 joins r-y: 60 + 999 = 1,059.
    assert details.unattributed_costs(health, OCT)["amount"].iloc[0] == pytest.approx(1059.0)
    assert details.unattributed_costs(health, OCT, date(2026, 10, 2)).empty


def test_source_counts(health, con):
    # The health data: 4 prediction rows with serving metrics (svc-c's has none), 6 runs, 8 inventory rows.
    assert details.source_counts(health) == {"serving_metrics": 4, "pipeline_runs": 6, "models": 8,
                                             "drift_incidents": 0}
    # The first dataset: its one prediction row has no serving metric; i1 is an ML drift incident.
    assert details.source_counts(con) == {"serving_metrics": 0, "pipeline_runs": 0, "models": 0,
                                          "drift_incidents": 1}


def test_empty_database_health_details():
    con = kpis.connect("/nonexistent/never.duckdb", read_only=True)
    assert details.serving_by_service(con, OCT, NOV).empty
    assert details.pipeline_runs(con, OCT, NOV).empty
    assert details.models_inventory(con, OCT, NOV).empty
    assert details.cost_attribution(con).empty
    assert details.unattributed_costs(con).empty
    assert details.source_counts(con) == {"serving_metrics": 0, "pipeline_runs": 0, "models": 0,
                                          "drift_incidents": 0}


def test_training_runs_named_names_only_the_costliest_of_each_currency(con):
    every = details.training_runs(con, OCT, NOV)
    named = details.training_runs(con, OCT, NOV, named=1)
    cols = ["run_id", "first_date", "last_date", "cost", "currency", "outlier", "outlier_threshold"]
    pd.testing.assert_frame_equal(every[cols], named[cols])  # every run, same costs, fence and flags
    top = named.groupby("currency", sort=False).head(1).index  # the costliest run of each currency: named
    assert named.loc[top, "service"].tolist() == every.loc[top, "service"].tolist()
    assert named.drop(index=top)["service"].isna().all()


MIXED_RUN_COSTS = """\
date,amount,service,currency,category,team,model,run_id
2026-10-01,30,svc-b,USD,training,beta,m2,r1
2026-10-02,20,svc-a,USD,training,alpha,m2,r1
2026-10-02,25,svc-a,USD,training,alpha,m1,r2
2026-10-03,5,svc-a,USD,training,,m1,r2
2026-10-03,4,svc-c,EUR,training,gamma,m3,r1
2026-10-04,1,svc-c,USD,training,gamma,,r3
"""


def test_a_run_whose_lines_name_two_services_lists_both(tmp_path):
    # A run's names are those on its lines, sorted and comma separated, per currency; a missing name is left out.
    (tmp_path / "costs.csv").write_text(MIXED_RUN_COSTS)
    con = kpis.connect(tmp_path / "m.duckdb")
    kpis.ingest_files(con, [tmp_path / "costs.csv"])
    df = details.training_runs(con, OCT, NOV).set_index(["run_id", "currency"])
    # USD: r1 30 + 20 = 50 (svc-b and svc-a, beta and alpha, m2 only), r2 25 + 5 = 30 (team alpha and none), r3 1
    assert list(df.index) == [("r1", "USD"), ("r2", "USD"), ("r1", "EUR"), ("r3", "USD")]
    assert df.loc[("r1", "USD"), ["service", "team", "model"]].tolist() == ["svc-a, svc-b", "alpha, beta", "m2"]
    assert df.loc[("r2", "USD"), ["service", "team", "model"]].tolist() == ["svc-a", "alpha", "m1"]
    # r1 in EUR is its own row, named by its own line only (not merged with r1's USD lines)
    assert df.loc[("r1", "EUR"), ["service", "team", "model"]].tolist() == ["svc-c", "gamma", "m3"]
    assert df.loc[("r3", "USD"), "service"] == "svc-c" and pd.isna(df.loc[("r3", "USD"), "model"])
    # named=1: the costliest of each currency is named (r1 USD, listed from its lines; r1 EUR), the others not
    top = details.training_runs(con, OCT, NOV, named=1).set_index(["run_id", "currency"])
    assert top.loc[("r1", "USD"), "service"] == "svc-a, svc-b" and top.loc[("r1", "EUR"), "team"] == "gamma"
    assert top.loc[[("r2", "USD"), ("r3", "USD")], "service"].isna().all()
    con.close()
