"""Presets and mapping files: real exports in, hand-worked KPIs out.

Every preset in kpis/presets/ has a sample in tests/data/exports/ (written by
make_samples.py from the provider's documented header, with made-up values; its
comments give each row's story). Each test ingests one into a fresh database,
through auto-detection and through preset=..., and checks the KPIs worked out
by hand in the comments.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

import kpis
from kpis import mapping

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "data" / "exports"
OCT = dict(start=date(2026, 10, 1), end=date(2026, 10, 31))
SAMPLE_OF = {
    "focus": "focus.csv", "aws-cur2": "aws-cur2.parquet", "aws-cur-legacy": "aws-cur-legacy.csv",
    "gcp-billing": "gcp-billing.json",
    "pagerduty": "pagerduty.csv", "opsgenie": "opsgenie.json", "jira-sm": "jira-sm.csv",
    "github-deployments": "github-deployments.json", "github-actions": "github-actions.json",
    "gitlab-deployments": "gitlab-deployments.json", "mlflow": "mlflow.ndjson",
    "cloudwatch": "cloudwatch.json", "prometheus": "prometheus.json",
    "argocd": "argocd.json", "vertex-ai": "vertex-ai.json", "opsgenie-alerts": "opsgenie-alerts.json",
}


@pytest.fixture
def con(tmp_path):
    c = kpis.connect(tmp_path / "kpi.duckdb")
    yield c
    c.close()


def load(con, name: str, **kw):
    """Ingest the sample of preset ``name``; return its report."""
    (rep,) = kpis.ingest_files(con, [SAMPLES / SAMPLE_OF[name]], **kw)
    return rep


def value(con, kpi: str, by: str | None = None, group: str | None = None, **kw) -> float | None:
    df = kpis.compute(con, kpis=[kpi], by=by, **{**OCT, **kw})
    if by:
        df = df[df[by] == group]
    assert len(df) == 1, df
    v = df["value"].iloc[0]
    return None if v != v else float(v)


def unit(con, kpi: str) -> str:
    return kpis.compute(con, kpis=[kpi], **OCT)["unit"].iloc[0]


# ---------------------------------------------------------------------------
# Every preset: valid, documented, sampled, recognised


def test_every_preset_loads_names_its_documentation_and_has_a_sample():
    presets = mapping.list_presets()
    assert {m.name for m in presets} == set(SAMPLE_OF)
    for m in presets:
        assert m.follows and m.title and m.detect, m.name
        assert (SAMPLES / SAMPLE_OF[m.name]).is_file()
        text = (ROOT / "kpis" / "presets" / f"{m.name}.toml").read_text()
        assert text.startswith("#"), f"{m.name}.toml opens with a comment saying where the export comes from"


def test_the_issue_asks_for_these_exports():
    kinds = {m.name: m.kind for m in mapping.list_presets()}
    assert {k for k, v in kinds.items() if v == "costs"} >= {"focus", "aws-cur2", "gcp-billing"}
    assert {k for k, v in kinds.items() if v == "incidents"} >= {"pagerduty", "opsgenie", "jira-sm", "opsgenie-alerts"}
    assert {k for k, v in kinds.items() if v == "deployments"} >= {"github-deployments", "github-actions",
                                                                   "gitlab-deployments", "mlflow", "argocd"}
    assert {k for k, v in kinds.items() if v == "predictions"} >= {"cloudwatch", "prometheus", "vertex-ai"}


@pytest.mark.parametrize("preset", sorted(SAMPLE_OF))
def test_auto_detection_and_the_named_preset_load_the_same_rows(tmp_path, preset):
    a = kpis.connect(tmp_path / "a.duckdb")
    b = kpis.connect(tmp_path / "b.duckdb")
    ra, rb = load(a, preset), load(b, preset, preset=preset)
    assert ra.mapping == rb.mapping == preset
    assert ra.status == "loaded" and ra.rows_read == rb.rows_read > 0
    table = ra.kind
    rows = [c.execute(f"SELECT * EXCLUDE (batch_id) FROM {table} ORDER BY ALL").fetchall() for c in (a, b)]
    assert rows[0] == rows[1]
    log = json.loads(a.execute("SELECT mapping FROM ingest_log").fetchone()[0])
    assert log["name"] == preset and log["mapping"] == "preset"


def test_a_folder_of_every_sample_is_recognised_file_by_file(con):
    reports = kpis.ingest_files(con, [SAMPLES])
    got = {r.file: r.mapping for r in reports}
    assert got == {f: p for p, f in SAMPLE_OF.items()}


def test_canonical_files_still_load_without_a_preset(con, tmp_path):
    p = tmp_path / "deployments.csv"
    p.write_text("deployment_id,service,deployed_at\nd1,s,2026-10-01\n")
    (rep,) = kpis.ingest_files(con, [p])
    assert rep.mapping is None and rep.kind == "deployments" and rep.notes == []
    assert json.loads(con.execute("SELECT mapping FROM ingest_log").fetchone()[0]) == {"mapping": "canonical columns"}


# ---------------------------------------------------------------------------
# Costs


def test_focus(con):
    rep = load(con, "focus")
    # 12 lines: the tax dropped; the credit and the correction kept and netted (negative lines net, never fail);
    # the endpoint's two lines of 1 Oct netted, the correction into 2 Oct's, the credit with the purchase -> 8 rows
    assert (rep.source_rows, rep.rows_read, rep.inserted) == (12, 8, 8)
    # inference: fraud endpoint 48 + 2 (1 Oct) + 48 - 3 correction (2 Oct) + untagged endpoint 12 = 107
    assert value(con, "inference_cost") == pytest.approx(107.0)
    assert unit(con, "inference_cost") == "USD"
    # training: jobs fraud-train-20261003 (30.60) and fraud-train-20261005 (19.40) -> 50.00 / 2 runs
    assert value(con, "training_cost_per_run") == pytest.approx(25.0)
    # attribution: fraud-api 50 + 45 = 95 of inference, the untagged endpoint 12 shown as unattributed
    assert value(con, "inference_cost", by="service", group="fraud-api") == pytest.approx(95.0)
    assert value(con, "inference_cost", by="service", group="unattributed") == pytest.approx(12.0)
    cats = dict(con.execute("SELECT category, sum(amount) FROM costs GROUP BY 1").fetchall())
    # other: untagged EC2 7.50 + the Savings Plan purchase at EffectiveCost 0 (billed 100, amortised) + the
    # -20.00 credit = -12.50; 1 Oct's (unattributed, other) row is the credit netted with the purchase: -20.00
    assert cats == pytest.approx({"inference": 107.0, "training": 50.0, "storage": 5.0, "other": -12.5})
    assert con.execute("SELECT amount FROM costs WHERE date = '2026-10-01' AND category = 'other'"
                       ).fetchone() == (-20.0,)
    assert con.execute("SELECT DISTINCT source FROM costs").fetchall() == [("focus:111122223333/2026-10-01T00:00:00Z",)]
    text = "\n".join(rep.notes)
    assert "dropped 1 of 12 rows" in text and "'Tax' (8.00 USD)" in text
    # -20 credit + -3 correction
    assert "2 line(s) with a negative amount (credits, refunds, corrections) kept and netted: -23.00" in text
    assert "cost measure amortised: amount is EffectiveCost" in text and "billed = BilledCost" in text
    # 12 + 7.50 + 0 - 20 = -0.50
    assert "service defaulted to 'unattributed' on 4 line(s)" in text and "-0.50 USD" in text
    assert "preset focus" in rep.message and "dropped 1" in rep.message
    assert rep.summary.startswith("focus.csv (preset focus): 12 row(s) read, 8 loaded")
    assert "1 dropped: not ChargeCategory in Usage, Purchase, Credit (1 row(s); seen: 'Tax' 1)" in rep.summary
    assert "defaulted: category on 3, service on 4" in rep.summary


def test_focus_restated_bill_replaces_its_rows_and_an_identical_one_is_skipped(con, tmp_path):
    load(con, "focus")
    assert load(con, "focus").status == "skipped"
    restated = tmp_path / "focus-restated.csv"
    # the bill re-issued: 2 October's fraud endpoint hours are 60, not 48
    text = (SAMPLES / "focus.csv").read_text().splitlines()
    text[3] = text[3].replace(",48.0,", ",60.0,")
    restated.write_text("\n".join(text) + "\n")
    (rep,) = kpis.ingest_files(con, [restated])
    assert rep.status == "loaded" and rep.updated == 8  # same source and dates: the earlier rows replaced
    assert value(con, "inference_cost") == pytest.approx(119.0)  # 107 - 48 + 60, not 107 + 119


def test_aws_cur2(con):
    rep = load(con, "aws-cur2")
    # 10 lines: SP negation, SP fee, credit, tax dropped; endpoint usage + SP-covered usage of 1 Oct netted -> 5 rows
    assert rep.rows_read == 5
    # inference: fraud endpoint 24.00 on demand + SP-covered hours at their effective 16.00 (not 24 + 24 - 24),
    # plus the untagged endpoint 9.00 -> 49.00
    assert value(con, "inference_cost") == pytest.approx(49.0)
    assert value(con, "inference_cost", by="service", group="fraud-api") == pytest.approx(40.0)
    # training job fraud-train-7: 61.20 for one run
    assert value(con, "training_cost_per_run") == pytest.approx(61.2)
    assert con.execute("SELECT run_id FROM costs WHERE category = 'training'").fetchone() == ("fraud-train-7",)
    cats = dict(con.execute("SELECT category, sum(amount) FROM costs GROUP BY 1").fetchall())
    assert cats == pytest.approx({"inference": 49.0, "training": 61.2, "storage": 3.0, "other": 4.0})
    text = "\n".join(rep.notes)
    assert "'SavingsPlanNegation' (-24.00 USD)" in text and "'Credit' (-50.00 USD)" in text


def test_gcp_billing(con):
    rep = load(con, "gcp-billing")
    assert rep.rows_read == 5
    # inference: (30.00 - 4.50 sustained use credit) + 30.00 on 1 Oct, + 6.00 unlabelled -> 61.50 EUR
    assert value(con, "inference_cost") == pytest.approx(61.5)
    assert unit(con, "inference_cost") == "EUR"
    # training run ranker-run-42: 40.00 - 10.00 committed use discount = 30.00
    assert value(con, "training_cost_per_run") == pytest.approx(30.0)
    # the free-tier VM nets to 0 and stays visible as other / unattributed
    assert con.execute("SELECT amount, category, service FROM costs WHERE date = '2026-10-03' AND category = 'other'"
                       ).fetchone() == (0.0, "other", "unattributed")
    assert "cost_type 'tax' (3.10 EUR)" in "\n".join(rep.notes)


# ---------------------------------------------------------------------------
# Incidents


def test_pagerduty(con):
    load(con, "pagerduty")
    assert value(con, "incident_count") == 3
    # resolved: 101 after 7200 s = 2 h, 102 after 28800 s = 8 h -> mean 5 h; 103 is open
    assert value(con, "mttr_hours") == pytest.approx(5.0)
    assert value(con, "open_incidents") == 1
    rows = con.execute("SELECT incident_id, started_at, acknowledged_at, resolved_at, severity FROM incidents "
                       "ORDER BY 1").fetchall()
    assert rows == [
        # created 10:00Z, first ack after 300 s
        ("Q1FRAUDLAT", datetime(2026, 10, 2, 10), datetime(2026, 10, 2, 10, 5), datetime(2026, 10, 2, 12), "sev2"),
        # created 08:00-04:00 = 12:00Z, never acknowledged; urgency low -> sev4
        ("Q2RANKDRIFT", datetime(2026, 10, 5, 12), None, datetime(2026, 10, 5, 20), "sev4"),
        ("Q3FRAUD5XX", datetime(2026, 10, 20), datetime(2026, 10, 20, 0, 15), None, "sev2"),
    ]


def test_opsgenie(con):
    load(con, "opsgenie")
    assert value(con, "incident_count") == 3
    # impact 06:00 -> 12:00 = 6 h and 00:00 -> 02:00 = 2 h -> mean 4 h
    assert value(con, "mttr_hours") == pytest.approx(4.0)
    # detected (created) - impact start: 3.5 h, 0 h, 2 h -> median 2 h
    assert value(con, "ttd_median_hours") == pytest.approx(2.0)
    assert value(con, "open_incidents") == 1
    got = dict(con.execute("SELECT severity, service FROM incidents").fetchall())
    # P2, P1, P4 -> sev2, sev1, sev4; no impacted service -> the owner team
    assert got == {"sev2": "ranker-api", "sev1": "fraud-api", "sev4": "search"}


def test_jira_service_management(con):
    rep = load(con, "jira-sm")
    assert value(con, "incident_count") == 3  # INC-3 is a service request
    # INC-1 9:15 AM -> 1:15 PM = 4 h; INC-2 11:00 PM -> 5:00 AM = 6 h -> mean 5 h; INC-4 open
    assert value(con, "mttr_hours") == pytest.approx(5.0)
    assert value(con, "open_incidents") == 1
    got = {r[0]: r[1:] for r in con.execute("SELECT incident_id, service, severity FROM incidents").fetchall()}
    # severity field Sev-2; else priority Highest -> sev1, Low -> sev4; service: affected service, else component
    assert got == {"INC-1": ("fraud-api", "sev2"), "INC-2": ("ranker", "sev1"), "INC-4": ("churn-batch", "sev4")}
    assert "1 × Issue Type 'Service Request'" in "\n".join(rep.notes)


def test_jira_dates_are_read_in_the_source_time_zone(con):
    load(con, "jira-sm", source_tz="Europe/Berlin")
    started = con.execute("SELECT started_at FROM incidents WHERE incident_id = 'INC-1'").fetchone()[0]
    assert started == datetime(2026, 10, 2, 7, 15)  # 02/Oct/26 9:15 AM in Berlin (UTC+2) = 07:15 UTC


# ---------------------------------------------------------------------------
# Deployments


def test_github_deployments(con):
    rep = load(con, "github-deployments")
    # production outcomes: 1001 success (later inactive: not a failure), 1002 success, 1003 failure, 1006 error;
    # 1004 is staging, 1005 has no outcome yet
    assert value(con, "deployment_count") == 2
    assert value(con, "change_failure_rate") == pytest.approx(0.5)  # 2 failed of 4 production deployments
    assert con.execute("SELECT deployed_at FROM deployments WHERE deployment_id = 'github-deployment-1001'"
                       ).fetchone()[0] == datetime(2026, 10, 1, 10, 5)  # the success status, not the inactive one
    assert con.execute("SELECT count(*) FROM deployments WHERE deployment_id = 'github-deployment-1005'"
                       ).fetchone()[0] == 0
    assert "statuses.state 'inactive'" in "\n".join(rep.notes)


def test_github_actions(con):
    load(con, "github-actions")
    # deploy runs: 9001 success, 9002 failure, 9005 success (9003 is CI, 9004 cancelled)
    assert value(con, "deployment_count") == 2
    assert value(con, "change_failure_rate") == pytest.approx(1 / 3)
    # lead time commit -> run completed: 9001 15:00 -> next day 09:20 = 18 h 20 min; 9005 24 h -> median 21.1667
    assert value(con, "lead_time_median_hours") == pytest.approx((18 + 1 / 3 + 24) / 2)


def test_gitlab_deployments(con):
    load(con, "gitlab-deployments")
    # production: 501 success, 502 failed, 505 success (503 canceled, 504 staging)
    assert value(con, "deployment_count") == 2
    assert value(con, "change_failure_rate") == pytest.approx(1 / 3)
    # authored -> deploy job finished: 501 24 h, 505 48 h -> median 36 h
    assert value(con, "lead_time_median_hours") == pytest.approx(36.0)
    assert con.execute("SELECT DISTINCT service FROM deployments").fetchall() == [("ml/ranker",)]


def test_argocd(con):
    load(con, "argocd")
    # history entries in October: fraud-serving 5 (2 Oct) and 6 (9 Oct), ranker 1 (20 Oct); entry 4 is September
    assert value(con, "deployment_count") == 3
    assert value(con, "deployment_count", by="service", group="fraud-api") == 2  # its label ml-service
    assert value(con, "deployment_count", by="service", group="ranker") == 1  # no label: the app's name
    assert value(con, "lead_time_median_hours") is None  # deployStartedAt is the sync's start, not the change's
    rows = con.execute("SELECT deployment_id, model_version, team FROM deployments ORDER BY deployed_at").fetchall()
    assert rows == [("argocd:argocd/fraud-serving/4", "1f0c9e2", "risk"), ("argocd:argocd/fraud-serving/5", "7a41d3b",
                    "risk"), ("argocd:argocd/fraud-serving/6", "c93e5aa", "risk"), ("argocd:argocd/ranker/1", "3be0a17",
                    None)]


def test_argocd_overlapping_exports_do_not_double_count(con, tmp_path):
    load(con, "argocd")
    doc = json.loads((SAMPLES / "argocd.json").read_text())
    history = doc["items"][0]["status"]["history"]
    # a later export: the oldest entry fell out of the kept history, a sync on 30 Oct was added
    history[:] = history[1:] + [{**history[-1], "id": 7, "revision": "e01d77f", "deployedAt": "2026-10-30T11:00:00Z",
                                 "deployStartedAt": "2026-10-30T10:59:00Z"}]
    path = tmp_path / "argocd-later.json"
    path.write_text(json.dumps(doc))
    kpis.ingest_files(con, [path])
    # 5, 6 and the ranker's 1 again (same ids, replaced), plus 7: 4 in October; entry 4 stays in September
    assert value(con, "deployment_count") == 4
    assert con.execute("SELECT count(*) FROM deployments").fetchone()[0] == 5


def test_mlflow(con):
    load(con, "mlflow")
    # fraud-xgb 7 (stage Production) and 8 (alias champion); 6 archived and ranker-bert 3 in Staging are not
    assert value(con, "deployment_count") == 2
    # run start -> in production: v7 1 Oct 09:00 -> 3 Oct 09:00 = 48 h; v8 19 Oct 09:00 -> 20 Oct 09:00 = 24 h
    assert value(con, "lead_time_median_hours") == pytest.approx(36.0)
    # registered -> in production: v7 2 Oct 08:00 -> 3 Oct 09:00 = 25 h; v8 19 Oct 21:00 -> 20 Oct 09:00 = 12 h
    assert value(con, "lead_time_median_hours", lead_time_start="approved_at") == pytest.approx(18.5)
    rows = con.execute("SELECT deployment_id, model, model_version, team FROM deployments ORDER BY 1").fetchall()
    assert rows == [("mlflow:fraud-xgb/7", "fraud-xgb", "7", "risk"), ("mlflow:fraud-xgb/8", "fraud-xgb", "8", "risk")]


def test_opsgenie_alerts(con):
    load(con, "opsgenie-alerts")
    # three alerts in October; fraud-api closed 2 h after creation, ranker-api 30 min after, the third is open
    assert value(con, "incident_count") == 3
    assert value(con, "mttr_hours") == pytest.approx((2 + 0.5) / 2)
    assert value(con, "open_incidents") == 1
    rows = con.execute("SELECT service, acknowledged_at, resolved_at, severity, team FROM incidents ORDER BY started_at"
                       ).fetchall()
    assert rows == [
        ("fraud-api", datetime(2026, 10, 5, 10, 15), datetime(2026, 10, 5, 12), "sev1", "risk"),  # ack 900000 ms
        ("ranker-api", None, datetime(2026, 10, 12, 8, 30), "sev3", None),
        ("unassigned", None, None, "sev5", None)]


def test_opsgenie_alerts_without_a_close_time_are_refused(con, tmp_path):
    doc = json.loads((SAMPLES / "opsgenie-alerts.json").read_text())
    del doc["data"][1]["report"]  # closed, but when is unknown
    path = tmp_path / "alerts.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [path])
    (e,) = err.value.errors
    assert e.row == 2 and "reads only rows where (status not in closed or report.closeTime is not empty)" in e.reason
    assert con.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0


# ---------------------------------------------------------------------------
# Predictions


def test_cloudwatch(con):
    load(con, "cloudwatch")
    # Invocations Sum: fraud-api 20000 + 30000, ranker-api 5000
    assert value(con, "predictions") == 55000
    assert con.execute("SELECT DISTINCT count_kind FROM predictions").fetchall() == [("requests",)]


def test_prometheus(con):
    load(con, "prometheus")
    # samples dated the day before their timestamp: 1 Oct 1200 (1200.4) + 800, 2 Oct 1300, 31 Oct 700 (699.6)
    assert value(con, "predictions") == 4000
    assert value(con, "predictions", start=date(2026, 11, 1), end=date(2026, 11, 30)) is None
    assert con.execute("SELECT date, predictions FROM predictions WHERE service = 'ranker' ORDER BY 1").fetchall() == [
        (date(2026, 10, 1), 1200), (date(2026, 10, 2), 1300), (date(2026, 10, 31), 700)]


def test_vertex_ai(con):
    load(con, "vertex-ai")
    # points dated by endTime - 1 s: endpoint 4801 on 1 Oct 1000 + 500 (two deployed models), on 2 Oct 2000;
    # endpoint 5902 on 31 Oct 300 (its point ends 1 Nov 00:00) -> 1500 + 2000 + 300 = 3800
    assert value(con, "predictions") == 3800
    assert value(con, "predictions", by="service", group="4801") == 3500
    assert value(con, "predictions", start=date(2026, 11, 1), end=date(2026, 11, 30)) is None
    assert con.execute("SELECT date, service, predictions, count_kind FROM predictions ORDER BY 1").fetchall() == [
        (date(2026, 10, 1), "4801", 1500, "requests"), (date(2026, 10, 2), "4801", 2000, "requests"),
        (date(2026, 10, 31), "5902", 300, "requests")]


def test_vertex_ai_refuses_another_metric_and_leaves_the_database_as_it_was(con, tmp_path):
    load(con, "vertex-ai")
    before = con.execute("SELECT * FROM predictions ORDER BY ALL").fetchall()
    doc = json.loads((SAMPLES / "vertex-ai.json").read_text())
    doc["timeSeries"][1]["metric"]["type"] = "aiplatform.googleapis.com/prediction/online/error_count"
    path = tmp_path / "vertex-errors.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [path], preset="vertex-ai")
    (e,) = err.value.errors
    assert e.column == "metric.type" and e.row == 3  # the second series' only point is the third row
    assert "reads only rows where metric.type is 'aiplatform.googleapis.com/prediction/online/prediction_count'" \
        in e.reason and "'aiplatform.googleapis.com/prediction/online/error_count' (1 rows)" in e.reason
    assert con.execute("SELECT * FROM predictions ORDER BY ALL").fetchall() == before


def test_cost_per_1k_requests_from_focus_and_cloudwatch(con):
    load(con, "focus")
    load(con, "cloudwatch")
    # inference 107 USD / 55000 requests * 1000 = 1.94545...
    assert value(con, "cost_per_1k_predictions") == pytest.approx(107 / 55)
    # fraud-api: 95 / 50000 * 1000
    assert value(con, "cost_per_1k_predictions", by="service", group="fraud-api") == pytest.approx(1.9)


# ---------------------------------------------------------------------------
# A user's own mapping file

TOOL_CSV = """\
Ref,Affected Service,Reported,Closed,Sev,Owner
OPS-7,Ranker,03.10.2026 14:00,03.10.2026 17:30,Critical,search
OPS-8,Fraud,10.10.2026 09:00,,Minor,risk
OPS-9,Fraud,12.10.2026 23:00,13.10.2026 01:00,Major,risk
"""

TOOL_TOML = """\
# Our home-grown incident tracker's CSV export
name = "ops-tracker"
kind = "incidents"
title = "Ops tracker incidents"
timezone = "Europe/Berlin"

[columns]
incident_id = "Ref"
service = { from = "Affected Service", values = { Ranker = "ranker-api", Fraud = "fraud-api" } }
started_at = { from = "Reported", format = "%d.%m.%Y %H:%M" }
resolved_at = { from = "Closed", format = "%d.%m.%Y %H:%M" }
severity = { from = "Sev", values = { Critical = "sev1", Major = "sev2", Minor = "sev4" } }
team = "Owner"
ml_related = { default = true }
"""


def test_a_user_mapping_file_maps_an_unknown_export(con, tmp_path):
    csv_path, toml_path = tmp_path / "ops.csv", tmp_path / "ops-tracker.toml"
    csv_path.write_text(TOOL_CSV)
    toml_path.write_text(TOOL_TOML)
    (rep,) = kpis.ingest_files(con, [csv_path], mapping=toml_path)
    assert rep.mapping == "ops-tracker" and "mapping file ops-tracker.toml" in rep.message
    rows = con.execute("SELECT incident_id, service, started_at, resolved_at, severity FROM incidents ORDER BY 1"
                       ).fetchall()
    assert rows == [
        # 14:00 in Berlin (UTC+2 in October) = 12:00 UTC
        ("OPS-7", "ranker-api", datetime(2026, 10, 3, 12), datetime(2026, 10, 3, 15, 30), "sev1"),
        ("OPS-8", "fraud-api", datetime(2026, 10, 10, 7), None, "sev4"),
        ("OPS-9", "fraud-api", datetime(2026, 10, 12, 21), datetime(2026, 10, 12, 23), "sev2"),
    ]
    assert value(con, "mttr_hours") == pytest.approx(2.75)  # (3.5 + 2) / 2
    assert rep.notes == ["mapping file ops-tracker.toml: Ops tracker incidents"]  # every column mapped, nothing dropped


def test_a_mapped_column_missing_from_the_file_names_the_file_and_the_column(con, tmp_path):
    csv_path, toml_path = tmp_path / "ops.csv", tmp_path / "ops-tracker.toml"
    csv_path.write_text(TOOL_CSV.replace("Closed", "Closed At"))
    toml_path.write_text(TOOL_TOML)
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [csv_path], mapping=toml_path)
    (e,) = err.value.errors
    assert (e.file, e.row, e.column) == ("ops.csv", None, "Closed")
    assert "column 'Closed' is missing" in e.reason and "resolved_at" in e.reason and "Closed At" in e.reason
    assert con.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0


def test_the_wrong_preset_for_a_file_says_which_columns_are_missing(con):
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [SAMPLES / "focus.csv"], preset="pagerduty")
    assert {e.column for e in err.value.errors} >= {"id", "service_name", "created_at"}


def test_a_bad_value_in_an_export_names_its_row(con, tmp_path):
    p = tmp_path / "pd.csv"
    lines = (SAMPLES / "pagerduty.csv").read_text().splitlines()
    lines[2] = lines[2].replace("2026-10-05T08:00:00-04:00", "yesterday")
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [p])
    e = err.value.errors[0]
    assert (e.file, e.row, e.column) == ("pd.csv", 2, "started_at")
    assert "cannot parse 'yesterday' as a timestamp" in e.reason


def test_skip_bad_rows_quarantines_a_mapped_row(con, tmp_path):
    p = tmp_path / "pd.csv"
    lines = (SAMPLES / "pagerduty.csv").read_text().splitlines()
    lines[2] = lines[2].replace("2026-10-05T08:00:00-04:00", "yesterday")
    p.write_text("\n".join(lines) + "\n")
    (rep,) = kpis.ingest_files(con, [p], skip_bad_rows=True)
    assert (rep.inserted, rep.rejected) == (2, 1)
    q = con.execute("SELECT source_row, reasons, raw->>'incident_id' FROM quarantine").fetchone()
    assert q[0] == 2 and "cannot parse 'yesterday'" in q[1] and q[2] == "Q2RANKDRIFT"


def test_a_mapping_can_extend_a_preset(con, tmp_path):
    # the team tags services with "app" instead of "ml-service"
    t = tmp_path / "our-focus.toml"
    t.write_text('extends = "focus"\n\n[columns]\nservice = { from = "Tags", json_key = "app", default = "unattributed" }\n')
    p = tmp_path / "bill.csv"
    p.write_text((SAMPLES / "focus.csv").read_text().replace('""ml-service""', '""app""'))
    (rep,) = kpis.ingest_files(con, [p], mapping=t)
    assert rep.mapping == "our-focus"
    assert value(con, "inference_cost", by="service", group="fraud-api") == pytest.approx(95.0)  # 50 + 48 - 3
    assert value(con, "training_cost_per_run") == pytest.approx(25.0)  # the preset's rules and run ids still apply


def test_a_mapping_that_names_its_own_amount_column_rejects_a_net_negative(con, tmp_path):
    t = tmp_path / "with-credits.toml"
    # amount named by the file itself: no measures, and negative values are errors (negative = "reject")
    t.write_text('extends = "focus"\n\n[rows]\nkeep_if = [{ column = "ChargeClass", empty = true }]\n\n'
                 '[columns]\namount = "EffectiveCost"\n')
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [SAMPLES / "focus.csv"], mapping=t)
    e = err.value.errors[0]
    # the credit names no service: netted with the other untagged lines of 1 Oct (the 8.00 tax, the 0.00
    # purchase) in the (1 Oct, unattributed, other) row it is -20 + 8 + 0 = -12, below zero: rejected
    assert (e.row, e.column) == (9, "amount") and "negative amount '-12.0'" in e.reason


def test_values_with_quotes_and_odd_column_names_reach_sql_safely(con, tmp_path):
    p = tmp_path / "odd.csv"
    p.write_text('"Ticket ""#""",Svc\'s name,When\nT1,O\'Brien,2026-10-01T00:00:00Z\nT2,x"); DROP TABLE costs; --,'
                 '2026-10-02T00:00:00Z\n')
    t = tmp_path / "odd.toml"
    t.write_text('kind = "incidents"\n[columns]\nincident_id = \'Ticket "#"\'\n'
                 'service = { from = "Svc\'s name", values = { "O\'Brien" = "it\'s-svc" } }\nstarted_at = "When"\n')
    kpis.ingest_files(con, [p], mapping=t)
    assert con.execute("SELECT incident_id, service FROM incidents ORDER BY 1").fetchall() == [
        ("T1", "it's-svc"), ("T2", 'x"); DROP TABLE costs; --')]
    assert con.execute("SELECT count(*) FROM costs").fetchone()[0] == 0


# ---------------------------------------------------------------------------
# The validator: errors name the file and the line


@pytest.mark.parametrize("text, line, words", [
    ('kind = "incidents"\n[columns]\nincident_id = "id"\nservise = "svc"\nstarted_at = "t"\n', 4,
     "unknown incidents column 'servise'"),
    ('kind = "incidents"\n[columns]\nincident_id = "id"\nservice = { form = "svc" }\nstarted_at = "t"\n', 4,
     "unknown key 'form'"),
    ('kind = "incidents"\n[columns]\nincident_id = "id"\nservice = "svc"\n', 2,
     "required incidents column 'started_at' is not mapped"),
    ('kind = "deployments"\n[columns]\ndeployment_id = "id"\nservice = "s"\n\ndeployed_at = { from = "t", epoch = "us" }\n',
     6, "epoch must be"),
    ('kind = "costs"\n[columns]\ndate = "d"\namount = "a"\nservice = "s"\n\n[[rules]]\nwhen = { column = "x", like = "y" }\n'
     'set = { category = "inference" }\n', 8, "unknown key 'like'"),
    ('kind = "costs"\n[columns]\ndate = "d"\namount = "a"\nservice = "s"\n\n[[rules]]\nwhen = { column = "x", contains = "y" }\n'
     'set = { categroy = "inference" }\n', 9, "unknown costs column 'categroy'"),
    ('kind = "incidents"\ntimezone = "Mars/Olympus"\n[columns]\nincident_id = "id"\nservice = "s"\nstarted_at = "t"\n', 2,
     "unknown time zone"),
    ('kind = "incident"\n', 1, "kind must be one of"),
    ('kind = "incidents"\n[columns\n', 2, "not valid TOML"),
    ('kind = "incidents"\n[columns]\nincident_id = "id"\nservice = { from = "s", extract = "no-group" }\nstarted_at = "t"\n',
     4, "capture group"),
])
def test_a_bad_mapping_file_is_rejected_with_its_line(tmp_path, text, line, words):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(mapping.MappingError) as err:
        mapping.load_mapping(p)
    msg = str(err.value)
    assert str(p) in msg and words in msg
    assert f"line {line}" in msg, msg


def test_unknown_preset_names_the_presets():
    with pytest.raises(mapping.MappingError, match="unknown preset 'pagerdutty' \\(did you mean 'pagerduty'\\?\\); presets: .*pagerduty"):
        mapping.load_preset("pagerdutty")


def test_preset_descriptions_show_the_value_maps():
    text = "\n".join(mapping.load_preset("opsgenie").describe())
    assert "'P1' -> 'sev1'" in text and "severity <- priority" in text
    text = "\n".join(mapping.load_preset("focus").describe())
    assert "rule: " in text and "category = 'inference'" in text


def test_detection_prefers_the_most_specific_preset_and_reports_ties():
    a = mapping.Mapping(name="a", kind="incidents", detect=("x", "y"))
    b = mapping.Mapping(name="b", kind="incidents", detect=("x", "y", "z"))
    c = mapping.Mapping(name="c", kind="incidents", detect=("x", "z"))
    assert mapping.detect_preset(["X", "y", "z"], presets=[a, b]).name == "b"
    assert mapping.detect_preset(["q"], presets=[a, b]) is None
    with pytest.raises(mapping.AmbiguousPreset):
        mapping.detect_preset(["x", "y", "z"], presets=[a, c])


# ---------------------------------------------------------------------------
# Documentation and command line


def test_docs_list_every_preset_and_its_documentation():
    docs = (ROOT / "docs" / "exports.md").read_text()
    for m in mapping.list_presets():
        assert f"`{m.name}`" in docs, m.name
    for key in mapping.COLUMN_KEYS + mapping.OPS + mapping.ROWS_KEYS + mapping.TOP_KEYS:
        assert f"`{key}`" in docs, key


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "kpis", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=120)


def test_cli_lists_presets_and_ingests_with_one(tmp_path):
    r = run("presets")
    assert r.returncode == 0 and all(name in r.stdout for name in SAMPLE_OF)
    r = run("presets", "pagerduty")
    assert r.returncode == 0 and "'high' -> 'sev2'" in r.stdout
    db = tmp_path / "k.duckdb"
    shutil.copy(SAMPLES / "focus.csv", tmp_path / "bill.csv")
    r = run("ingest", "--db", db, "--preset", "focus", tmp_path / "bill.csv")
    assert r.returncode == 0, r.stderr
    assert "focus" in r.stdout and "dropped 1 of 12 rows" in r.stdout and "unattributed" in r.stdout
    r = run("ingest", "--db", db, SAMPLES / "pagerduty.csv")  # recognised from its header
    assert r.returncode == 0 and "pagerduty" in r.stdout


def test_cli_errors_without_traceback(tmp_path):
    r = run("ingest", "--db", tmp_path / "k.duckdb", "--preset", "nope", SAMPLES / "focus.csv")
    assert r.returncode == 2 and "unknown preset 'nope'" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "incidents"\n[columns]\nincident_id = "id"\nsevice = "s"\n')
    r = run("ingest", "--db", tmp_path / "k.duckdb", "--mapping", bad, SAMPLES / "pagerduty.csv")
    assert r.returncode == 2 and "line 4" in r.stderr and "Traceback" not in r.stderr
    r = run("ingest", "--db", tmp_path / "k.duckdb", "--preset", "focus", "--mapping", bad, SAMPLES / "focus.csv")
    assert r.returncode == 2 and "not allowed with" in r.stderr


@pytest.mark.parametrize(("preset", "rework"), [
    # production: 1001, 1002 (ref hotfix/INC-7 here), 1003, 1006 -> 1 unplanned of 4
    ("github-deployments", 1 / 4),
    # production: 501, 502 (ref hotfix/INC-7 here), 505 -> 1 of 3
    ("gitlab-deployments", 1 / 3),
])
def test_a_hotfix_branch_is_rework(con, tmp_path, preset, rework):
    records = json.loads((SAMPLES / SAMPLE_OF[preset]).read_text())
    records[1]["ref"] = "hotfix/INC-7"
    path = tmp_path / SAMPLE_OF[preset]
    path.write_text(json.dumps(records))
    kpis.ingest_files(con, [path])
    assert value(con, "deployment_rework_rate") == pytest.approx(rework)
    assert con.execute("SELECT count(*) FROM deployments WHERE is_hotfix").fetchone()[0] == 1


def test_a_mapping_file_with_several_problems_reports_them_all_with_their_lines(tmp_path):
    p = tmp_path / "many.toml"
    p.write_text(
        'kind = "incidents"\n'                                                          # 1
        'timezone = "Mars/Olympus"\n'                                                   # 2
        'detekt = ["a"]\n'                                                              # 3
        '\n'                                                                            # 4
        '[columns]\n'                                                                   # 5
        'incident_id = "id"\n'                                                          # 6
        'servise = "svc"\n'                                                             # 7
        'started_at = { from = "t", epoch = "us" }\n'                                   # 8
        'model = { from = "m", extract = "no-group" }\n'                                # 9
        '\n'                                                                            # 10
        '[rows]\n'                                                                      # 11
        'keep_if = [\n'                                                                 # 12
        '  { column = "status", in = ["open"] },\n'                                     # 13
        '  { column = "x", like = "y" },\n'                                             # 14
        '  { column = "y", matches = "(" },\n'                                          # 15
        ']\n')                                                                          # 16
    with pytest.raises(mapping.MappingError) as err:
        mapping.load_mapping(p)
    found = err.value.problems
    expected = [
        (2, "unknown time zone 'Mars/Olympus'"),
        (3, "unknown key 'detekt' (did you mean 'detect'?)"),
        (5, "required incidents column 'service' is not mapped"),
        (7, "unknown incidents column 'servise' (did you mean 'service'?)"),
        (8, 'epoch must be "s" (seconds) or "ms" (milliseconds)'),
        (9, "extract needs a capture group"),
        (14, "unknown key 'like' in a condition"),
        (15, "not a valid regular expression"),
    ]
    for line, words in expected:
        assert any(got_line == line and words in msg for got_line, msg in found), (line, words, found)
    text = str(err.value)
    assert text.startswith(f"{len(found)} problems in {p}:") and f"{p}, line 14: unknown key 'like'" in text
    # one a line, sorted by line
    lines = [int(x.split(", line ")[1].split(":")[0]) for x in text.splitlines()[1:]]
    assert lines == sorted(lines) and len(lines) == len(found) >= len(expected)


def test_lines_come_from_the_parser_not_from_matching_text(tmp_path):
    # the key 'severity' appears first inside a comment and a string: the parser's position is the real one
    p = tmp_path / "tricky.toml"
    p.write_text('kind = "incidents"\n'
                 'title = """severity = in a\n'
                 'multi-line string"""\n'
                 '# severity = { from = "x" } in a comment\n'
                 '[columns]\n'
                 'incident_id = "id"\n'
                 'service = "s"\n'
                 'started_at = "t"\n'
                 '"severity" = { from = "p", values = { P1 = 1.5 } }\n')
    with pytest.raises(mapping.MappingError) as err:
        mapping.load_mapping(p)
    assert err.value.problems == [(9, "values must be a table of source value = canonical value")]


def test_every_shipped_preset_fits_the_declared_schema():
    import jsonschema

    from kpis import schema, tomlfile, validation
    for kind in [None, *schema.TABLES]:  # the schemas themselves are valid Draft 2020-12
        jsonschema.Draft202012Validator.check_schema(mapping.mapping_schema(kind))
    for path in sorted(mapping.PRESET_DIR.glob("*.toml")):
        f = tomlfile.read(str(path), path.read_text())
        assert validation.check(mapping.mapping_schema(f.data["kind"]), f.data) == [], path.name
        assert mapping.load_preset(path.stem).name == path.stem
