"""Serving health, pipeline and coverage KPIs (issue 7) against hand-worked data."""

from __future__ import annotations

import math
from datetime import date

import golden
import pytest

import kpis

SERVING = """\
date,service,predictions,total_requests,errors,latency_p95_ms,latency_p99_ms,availability,good_requests,team
2026-10-01,svc-a,1000,1000,5,100,200,,990,search
2026-10-02,svc-a,3000,3000,3,60,120,,2997,search
2026-10-03,svc-b,1000,,10,80,,0.99,,recs
2026-11-01,svc-a,0,0,,,,,,search
"""

RUNS = """\
run_id,pipeline,kind,scheduled_at,started_at,finished_at,status,on_time,data_fresh,validation_passed,reproducible,team
t1,train-a,training,2026-10-01T00:00:00Z,2026-10-01T00:10:00Z,2026-10-01T02:10:00Z,success,true,true,,true,search
t2,train-a,training,2026-10-08T00:00:00Z,2026-10-08T00:05:00Z,2026-10-08T01:00:00Z,failed,false,true,,false,search
t3,train-b,training,2026-10-15T00:00:00Z,,,cancelled,false,,,,recs
t4,train-b,training,2026-10-20T00:00:00Z,2026-10-20T00:00:00Z,,running,,,,,recs
f1,feat,feature,,2026-10-02T00:00:00Z,2026-10-02T00:30:00Z,success,,false,,,search
v1,val,validation,,2026-10-03T00:00:00Z,2026-10-03T00:10:00Z,success,,,false,,search
v2,val,validation,,2026-10-04T00:00:00Z,2026-10-04T00:10:00Z,success,,,true,,search
c1,ci,ci,,2026-10-05T10:00:00Z,2026-10-05T10:12:00Z,success,,,,,search
c2,ci,ci,,2026-10-05T11:00:00Z,2026-10-05T11:30:00Z,failed,,,,,search
c3,ci,ci,,2026-10-06T11:00:00Z,2026-10-06T11:06:00Z,success,,,,,search
"""

MODELS = """\
model,service,team,tier,in_production,monitored,drift_monitored,documented,as_of
m1,svc-a,search,tier-1,true,true,true,true,2026-10-10
m2,svc-a,search,tier-1,true,false,false,true,2026-10-10
m3,svc-b,recs,tier-2,true,true,false,false,2026-10-10
m4,svc-b,recs,tier-2,false,false,false,false,2026-10-10
m1,svc-a,search,tier-1,true,false,false,false,2026-10-01
m2,svc-a,search,tier-1,true,false,false,false,2026-10-01
"""


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    folder = golden.write(tmp_path_factory.mktemp("ops"), {"serving.csv": SERVING, "runs.csv": RUNS,
                                                            "models.csv": MODELS})
    c = kpis.connect(folder / "k.duckdb")
    kpis.ingest_files(c, [folder / "serving.csv", folder / "runs.csv"])
    kpis.ingest_files(c, [folder / "models.csv"], kind="models")
    yield c
    c.close()


def v(df, kpi, period="2026-10"):
    r = df[(df["kpi"] == kpi) & (df["period"] == period)].iloc[0]
    return (None if math.isnan(r["value"]) else r["value"]), int(r["n"])


OCT_NOV = dict(start=date(2026, 10, 1), end=date(2026, 11, 30))


def test_serving_health(con):
    df = kpis.compute(con, **OCT_NOV)
    # p95 weighted by requests: (100*1000 + 60*3000 + 80*1000) / 5000 = 72
    assert v(df, "latency_p95_ms") == (pytest.approx(72.0), 3)
    # p99 over the two days that report it: (200*1000 + 120*3000) / 4000 = 140
    assert v(df, "latency_p99_ms") == (pytest.approx(140.0), 2)
    # errors (5 + 3 + 10) / 5000 requests
    assert v(df, "error_rate") == (pytest.approx(18 / 5000), 3)
    # good: 990 + 2997 + 0.99 * 1000 = 4977 of 5000
    assert v(df, "availability") == (pytest.approx(0.9954), 3)
    # budget at 99.9%: 1 - 0.0046 / 0.001 = -3.6 (overspent)
    assert v(df, "error_budget_remaining")[0] == pytest.approx(-3.6)
    # November's only day has no traffic: null, not 0
    assert v(df, "availability", "2026-11") == (None, 0)
    # at a 99% SLO: 1 - 0.0046 / 0.01 = 0.54
    df99 = kpis.compute(con, kpis=["error_budget_remaining"], slo=0.99, **OCT_NOV)
    assert v(df99, "error_budget_remaining")[0] == pytest.approx(0.54)


def test_pipeline_kpis(con):
    df = kpis.compute(con, **OCT_NOV)
    # 9 finished runs (t4 still running); successes t1, f1, v1, v2, c1, c3 -> 6 / 9
    assert v(df, "pipeline_success_rate") == (pytest.approx(6 / 9), 9)
    # training: t1 success, t2 failed, t3 cancelled (scheduled in October, never started) -> 1 / 3
    assert v(df, "training_success_rate") == (pytest.approx(1 / 3), 3)
    # data_fresh: t1 yes, t2 yes, f1 no -> 2 / 3
    assert v(df, "data_freshness_adherence") == (pytest.approx(2 / 3), 3)
    # validation: v1 failed, v2 passed -> 1 / 2
    assert v(df, "data_validation_failure_rate") == (pytest.approx(0.5), 2)
    # on time: t1 yes, t2 no, t3 no -> 1 / 3
    assert v(df, "retraining_sla_adherence") == (pytest.approx(1 / 3), 3)
    # CI durations 0.2 h, 0.5 h, 0.1 h -> median 0.2; p90 at 1.8 -> 0.2 + 0.8 * 0.3 = 0.44
    assert v(df, "ci_duration_median_hours") == (pytest.approx(0.2), 3)
    assert v(df, "ci_duration_p90_hours")[0] == pytest.approx(0.44)
    # reproducible: t1 yes, t2 no -> 1 / 2
    assert v(df, "reproducibility_rate") == (pytest.approx(0.5), 2)
    assert v(df, "pipeline_success_rate", "2026-11") == (None, 0)


def test_coverage_from_latest_inventory_snapshot(con):
    df = kpis.compute(con, **OCT_NOV)
    # the 2026-10-10 snapshot; m4 is not in production -> m1, m2, m3
    assert v(df, "monitoring_coverage") == (pytest.approx(2 / 3), 3)  # m1, m3
    assert v(df, "monitoring_coverage_tier1") == (pytest.approx(1 / 2), 2)  # m1 of m1, m2
    assert v(df, "drift_monitoring_coverage") == (pytest.approx(1 / 3), 3)  # m1
    assert v(df, "drift_monitoring_coverage_tier1") == (pytest.approx(1 / 2), 2)
    assert v(df, "documentation_completeness") == (pytest.approx(2 / 3), 3)  # m1, m2 (the older snapshot is ignored)
    # no inventory taken in November: null
    assert v(df, "monitoring_coverage", "2026-11") == (None, 0)


def test_drift_detection_time(tmp_path):
    folder = golden.write(tmp_path)
    c = kpis.connect(tmp_path / "k.duckdb")
    kpis.ingest_files(c, [folder / "incidents.csv"])
    df = kpis.compute(c, kpis=["drift_detection_time_median_hours"], **OCT_NOV)
    # i3 is the only drift incident: detected 72 h after onset
    assert v(df, "drift_detection_time_median_hours") == (pytest.approx(72.0), 1)


def test_new_tables_reject_bad_rows(tmp_path):
    c = kpis.connect(tmp_path / "k.duckdb")
    p = tmp_path / "runs.csv"
    p.write_text("run_id,pipeline,kind,status,started_at,finished_at\n"
                 "r1,p,training,success,2026-10-01T10:00:00Z,2026-10-01T09:00:00Z\n"
                 "r2,p,training,success,,\n")
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(c, [p])
    msgs = [str(e) for e in err.value.errors]
    assert "runs.csv, row 1, column finished_at: finished before it started" in msgs
    assert "runs.csv, row 2, column started_at: a run needs started_at or scheduled_at" in msgs


def test_incidents_grouped_by_severity_in_one_compute(tmp_path):
    """The Reliability page's incidents per severity: one compute grouped by severity equals the compute
    filtered to each severity. Golden ML incidents started in October (UTC): i2 (P1) is sev1; i1 (SEV2) and
    i5 (high) sev2; i3 (sev3) and i6 (medium, 2026-09-30 22:00 -05:00 = 10-01 03:00 UTC) sev3; i7 sev4;
    i4 is not ML-related. 1 + 2 + 2 + 1 = 6 incidents."""
    c = kpis.connect(tmp_path / "g.duckdb")
    kpis.ingest_files(c, [golden.write(tmp_path / "csv")])
    grouped = kpis.compute(c, grain="month", by="severity", kpis=["incident_count"], start=date(2026, 10, 1),
                           end=date(2026, 10, 31))
    got = {r["severity"]: (r["value"], r["n"]) for r in grouped.to_dict(orient="records") if r["n"] > 0}
    assert got == {"sev1": (1, 1), "sev2": (2, 2), "sev3": (2, 2), "sev4": (1, 1)}
    for sev, (value, n) in got.items():
        alone = kpis.compute(c, grain="month", kpis=["incident_count"], filters={"severity": [sev]},
                             start=date(2026, 10, 1), end=date(2026, 10, 31))
        assert v(alone, "incident_count") == (value, n)
    with pytest.raises(ValueError, match="cannot group deployment_count by severity"):
        kpis.compute(c, grain="month", by="severity", kpis=["deployment_count"])
    with pytest.raises(ValueError, match="cannot group by 'run_id'"):
        kpis.compute(c, grain="month", by="run_id")
    c.close()
