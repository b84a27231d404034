"""One truth per rule: in every period of the sample data, each drill-down's rows reproduce the KPIs they prove.

The engine and the drill-downs read the same event relations (kpis/sql/incident_rows.sql, model_rows.sql,
pipelines.sql, cost_lines.sql, prediction_days.sql); a rule changed in one place and not the other makes
one of these fail. Deployments: tests/test_details.py; serving by service: tests/test_details.py too.
"""

from __future__ import annotations

import math

import pytest

import kpis
from kpis import details, periods


def _months(con, tz="UTC"):
    first, last = kpis.data_range(con, tz)
    return first, last, periods.spine(first, last, "month")


@pytest.fixture(scope="module")
def con(sample_db):
    c = kpis.connect(sample_db, read_only=True)
    yield c
    c.close()


def _kpis(con, ids, first, last, tz="UTC"):
    df = kpis.compute(con, grain="month", start=first, end=last, tz=tz, kpis=ids)
    return {(r["period"], r["kpi"]): (r["value"], r["n"]) for r in df.to_dict(orient="records")}


def _close(a, b):
    return (a is None or (isinstance(a, float) and math.isnan(a))) and (b is None or (isinstance(b, float)
                                                                                       and math.isnan(b))) \
        or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12))


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_incident_rows_reproduce_the_reliability_kpis_every_month(con, tz):
    first, last, months = _months(con, tz)
    got = _kpis(con, ["incident_count", "mttr_hours", "mttr_median_hours", "ttd_median_hours",
                      "drift_detection_time_median_hours", "open_incidents"], first, last, tz)
    checked = 0
    for start in months:
        end = periods.next_start(start, "month")
        label = periods.label(start, "month")
        rows = details.incidents(con, start, end, tz=tz)
        started, resolved = rows[rows["started_in_range"]], rows[rows["resolved_in_range"]]
        assert got[(label, "incident_count")][1] == len(started)
        recover = resolved["time_to_recover_hours"]
        assert got[(label, "mttr_hours")][1] == len(resolved)
        assert _close(got[(label, "mttr_hours")][0], recover.mean() if len(recover) else None)
        assert _close(got[(label, "mttr_median_hours")][0], recover.median() if len(recover) else None)
        detect = started["time_to_detect_hours"].dropna()
        assert got[(label, "ttd_median_hours")][1] == len(detect)
        assert _close(got[(label, "ttd_median_hours")][0], detect.median() if len(detect) else None)
        drift = started.loc[started["category"] == "drift", "time_to_detect_hours"].dropna()
        assert got[(label, "drift_detection_time_median_hours")][1] == len(drift)
        assert _close(got[(label, "drift_detection_time_median_hours")][0], drift.median() if len(drift) else None)
        # open at the period's end: the open-incidents list at that moment
        still_open = details.open_incidents(con, end, tz=tz)
        assert got[(label, "open_incidents")][0] == len(still_open) or (
            len(still_open) == 0 and math.isnan(got[(label, "open_incidents")][0]))
        checked += bool(len(started))
    assert checked >= 12


def test_pipeline_rows_reproduce_the_pipeline_kpis_every_month(con):
    first, last, months = _months(con)
    ids = ["pipeline_success_rate", "training_success_rate", "data_freshness_adherence",
           "data_validation_failure_rate", "retraining_sla_adherence", "ci_duration_median_hours",
           "reproducibility_rate"]
    got = _kpis(con, ids, first, last)
    checked = 0
    for start in months:
        label = periods.label(start, "month")
        rows = details.pipeline_runs(con, start, periods.next_start(start, "month"))
        if rows.empty:
            assert all(got[(label, k)][1] == 0 for k in ids)
            continue
        finished = rows[rows["status"] != "running"]
        training = finished[finished["kind"] == "training"]
        expect = {
            "pipeline_success_rate": ((finished["status"] == "success").mean(), len(finished)),
            "training_success_rate": ((training["status"] == "success").mean(), len(training)),
            "data_freshness_adherence": (rows["data_fresh"].dropna().astype(bool).mean(),
                                         rows["data_fresh"].notna().sum()),
            "data_validation_failure_rate": ((~rows["validation_passed"].dropna().astype(bool)).mean(),
                                             rows["validation_passed"].notna().sum()),
        }
        train_all = rows[rows["kind"] == "training"]
        expect["retraining_sla_adherence"] = (train_all["on_time"].dropna().astype(bool).mean(),
                                              train_all["on_time"].notna().sum())
        expect["reproducibility_rate"] = (train_all["reproducible"].dropna().astype(bool).mean(),
                                          train_all["reproducible"].notna().sum())
        ci = rows.loc[rows["kind"] == "ci", "duration_hours"].dropna()
        expect["ci_duration_median_hours"] = (ci.median(), len(ci))
        for k, (value, n) in expect.items():
            assert got[(label, k)][1] == n, (label, k)
            assert _close(got[(label, k)][0], value if n else None), (label, k)
        checked += 1
    assert checked >= 6


def test_inventory_rows_reproduce_the_coverage_kpis_of_the_latest_snapshot(con):
    first, last, months = _months(con)
    ids = ["monitoring_coverage", "monitoring_coverage_tier1", "drift_monitoring_coverage",
           "documentation_completeness"]
    got = _kpis(con, ids, first, last)
    checked = 0
    for start in months:
        label = periods.label(start, "month")
        rows = details.models_inventory(con, start, periods.next_start(start, "month"))
        if rows.empty:
            assert all(got[(label, k)][1] == 0 for k in ids)
            continue
        tier1 = rows[rows["tier1"]]
        for k, frame, col in (("monitoring_coverage", rows, "monitored"), ("monitoring_coverage_tier1", tier1,
                                                                           "monitored"),
                              ("drift_monitoring_coverage", rows, "drift_monitored"),
                              ("documentation_completeness", rows, "documented")):
            flags = frame[col].dropna().astype(bool)
            assert got[(label, k)][1] == len(flags), (label, k)
            assert _close(got[(label, k)][0], flags.mean() if len(flags) else None), (label, k)
        checked += 1
    assert checked >= 1


def test_training_run_rows_reproduce_training_cost_per_run_every_month(con):
    first, last, months = _months(con)
    got = _kpis(con, ["training_cost_per_run", "inference_cost"], first, last)
    checked = 0
    for start in months:
        label = periods.label(start, "month")
        runs = details.training_runs(con, start, periods.next_start(start, "month"))
        runs = runs[runs["currency"] == "USD"]
        value, n = got[(label, "training_cost_per_run")]
        assert n == len(runs)
        assert _close(value, runs["cost"].sum() / len(runs) if len(runs) else None)
        checked += bool(len(runs))
    assert checked >= 12


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_deployment_rows_reproduce_the_dora_kpis_every_month(con, tz):
    first, last, months = _months(con, tz)
    ids = ["failed_deployment_recovery_median_hours", "failed_deployment_recovery_mean_hours",
           "deployment_rework_rate", "deployment_days_per_week"]
    got = _kpis(con, ids, first, last, tz)
    checked = recovered_months = 0
    for start in months:
        end = periods.next_start(start, "month")
        label = periods.label(start, "month")
        failed = details.failed_deployments(con, start, end, tz=tz)
        recovered = failed.loc[~failed["open"].astype(bool), "recovery_hours"]
        assert got[(label, "failed_deployment_recovery_median_hours")][1] == len(recovered)
        assert _close(got[(label, "failed_deployment_recovery_median_hours")][0],
                      recovered.median() if len(recovered) else None)
        assert _close(got[(label, "failed_deployment_recovery_mean_hours")][0],
                      recovered.mean() if len(recovered) else None)
        rows = details.deployments(con, start, end, tz=tz)
        assert got[(label, "deployment_rework_rate")][1] == len(rows)
        assert _close(got[(label, "deployment_rework_rate")][0], rows["rework"].mean() if len(rows) else None)
        # deployment days: the distinct local days of the successful rows / the month's weeks
        local = rows.loc[rows["status"] == "success", "deployed_at"].dt.tz_localize("UTC").dt.tz_convert(tz)
        days = local.dt.date.nunique()
        assert _close(got[(label, "deployment_days_per_week")][0],
                      days / periods.weeks_in(start, "month") if len(rows) else None)
        checked += bool(len(rows))
        recovered_months += bool(len(recovered))
    assert checked >= 12 and recovered_months >= 6


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_change_rows_reproduce_lead_time_per_change_every_month(con, tz):
    first, last, months = _months(con, tz)
    phases = {"coding_time_median_hours": "coding_hours", "review_time_median_hours": "review_hours",
              "merge_to_deploy_median_hours": "merge_to_deploy_hours"}
    ids = ["change_lead_time_median_hours", "change_lead_time_mean_hours", "change_lead_time_p90_hours", *phases]
    got = _kpis(con, ids, first, last, tz)
    checked = 0
    for start in months:
        label = periods.label(start, "month")
        rows = details.changes(con, start, periods.next_start(start, "month"), tz=tz)
        counted = rows[rows["counted"]]
        lead = counted["lead_time_hours"]
        assert got[(label, "change_lead_time_median_hours")][1] == len(lead)
        assert _close(got[(label, "change_lead_time_median_hours")][0], lead.median() if len(lead) else None)
        assert _close(got[(label, "change_lead_time_mean_hours")][0], lead.mean() if len(lead) else None)
        # pandas' quantile is linear interpolation, as quantile_cont
        assert _close(got[(label, "change_lead_time_p90_hours")][0], lead.quantile(0.9) if len(lead) else None)
        for kpi, col in phases.items():
            values = counted[col].dropna()
            assert got[(label, kpi)][1] == len(values), (label, kpi)
            assert _close(got[(label, kpi)][0], values.median() if len(values) else None), (label, kpi)
        checked += bool(len(lead)) and bool((~rows["counted"]).any())
    assert checked >= 3  # months with counted changes and changes of failed deployments left out
