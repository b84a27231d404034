"""Real exports as they come (issue 14): vendor-shaped files that a new user would expect to load.

Each test writes a small file shaped like the vendor's own: its documented header, and its value
conventions (FOCUS's literal NULL text and negative lines, PagerDuty's current created_at, CUR 2.0's
tags map, a legacy CUR, GitHub / GitLab exports whose rows a preset's filters all drop, CloudWatch
answers of another metric, MLflow alias promotions). The values are made up; the arithmetic of every
expected number is in the comments.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

import kpis
from kpis import mapping

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "data" / "exports"
FOCUS_HEADER = (SAMPLES / "focus.csv").read_text().splitlines()[0].split(",")


@pytest.fixture
def con(tmp_path):
    c = kpis.connect(tmp_path / "kpi.duckdb")
    yield c
    c.close()


def run(*args):
    return subprocess.run([sys.executable, "-m", "kpis", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)


def counts(con) -> tuple:
    return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                 for t in ("deployments", "incidents", "costs", "predictions", "ingest_log"))


# ---------------------------------------------------------------------------
# FOCUS: the text NULL is empty; negative lines net; amortised or billed


def focus_line(day: int, effective: float, billed: float | None = None, *, category="Usage", charge_class="NULL",
               description="Hosting ml.m5.xlarge hour", resource="NULL", tags=None) -> dict:
    """A FOCUS 1.2 row as the FinOps Foundation's sample data writes it: every empty value is the text NULL."""
    row = {h: "NULL" for h in FOCUS_HEADER}
    row.update({
        "BilledCost": effective if billed is None else billed, "EffectiveCost": effective,
        "ListCost": effective if billed is None else billed, "ContractedCost": effective if billed is None else billed,
        "BillingAccountId": "8e2f-billing", "BillingCurrency": "USD",
        "BillingPeriodStart": "2026-10-01T00:00:00Z", "BillingPeriodEnd": "2026-11-01T00:00:00Z",
        "ChargeCategory": category, "ChargeClass": charge_class, "ChargeDescription": description,
        "ChargePeriodStart": f"2026-10-{day:02d}T00:00:00Z", "ChargePeriodEnd": f"2026-10-{day + 1:02d}T00:00:00Z",
        "ProviderName": "Microsoft", "PublisherName": "Microsoft", "ServiceName": "Azure Machine Learning",
        "ServiceCategory": "AI and Machine Learning", "ResourceId": resource,
        "Tags": json.dumps(tags) if tags else "NULL",
    })
    return row


def write_focus(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, FOCUS_HEADER, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


FRAUD = {"ml-service": "fraud-api", "team": "risk"}
ENDPOINT = "/subscriptions/s1/resourceGroups/ml/providers/Microsoft.MachineLearningServices/workspaces/w/onlineEndpoints/fraud"


def focus_sample(tmp_path: Path) -> Path:
    return write_focus(tmp_path / "focus-azure.csv", [
        # 1 Oct, the fraud endpoint: 10.00 of hosting and a negative Usage line of -2.00 (Azure writes
        # reversals of usage so) -> netted to 8.00
        focus_line(1, 10.00, resource=ENDPOINT + "/endpoint", tags=FRAUD),
        focus_line(1, -2.00, resource=ENDPOINT + "/endpoint", tags=FRAUD),
        # 2 Oct: a reservation purchase, billed 100.00, amortised (EffectiveCost) 0.00; untagged -> other
        focus_line(2, 0.00, 100.00, category="Purchase", description="Reserved VM instance, 1 year"),
        # 2 Oct: a credit of -1.00, untagged -> nets with the purchase in (2 Oct, unattributed, other)
        focus_line(2, -1.00, category="Credit", description="Azure credit"),
        # 3 Oct: a tax line, dropped (account-level)
        focus_line(3, 4.00, category="Tax", description="VAT"),
    ])


def test_focus_null_text_and_negative_usage_lines_load_and_net(con, tmp_path):
    (rep,) = kpis.ingest_files(con, [focus_sample(tmp_path)])
    assert rep.mapping == "focus" and rep.status == "loaded"
    # 5 lines: the tax dropped; the two endpoint lines -> 1 row, purchase + credit -> 1 row
    assert (rep.source_rows, rep.rows_read, rep.loaded) == (5, 2, 2)
    rows = con.execute("SELECT date::VARCHAR, service, category, amount FROM costs ORDER BY 1").fetchall()
    # amortised: 10.00 - 2.00 = 8.00; 0.00 (EffectiveCost of the purchase) - 1.00 credit = -1.00
    assert rows == [("2026-10-01", "fraud-api", "inference", 8.0), ("2026-10-02", "unattributed", "other", -1.0)]
    text = "\n".join(rep.notes)
    assert "2 line(s) with a negative amount (credits, refunds, corrections) kept and netted: -3.00" in text
    assert "cost measure amortised: amount is EffectiveCost" in text
    assert "1 dropped: not ChargeCategory in Usage, Purchase, Credit (1 row(s); seen: 'Tax' 1)" in rep.summary
    # the NULL text is empty: no 'NULL' team or resource, and the untagged lines are counted as defaulted
    assert con.execute("SELECT count(*) FROM costs WHERE team = 'NULL' OR resource_id = 'NULL'").fetchone()[0] == 0
    assert rep.defaulted["service"] == 2


def test_focus_billed_measure_by_cli_flag_and_by_mapping_file(tmp_path):
    path = focus_sample(tmp_path)
    db = tmp_path / "billed.duckdb"
    r = run("ingest", "--db", db, "--cost-measure", "billed", path)
    assert r.returncode == 0, r.stderr
    assert "cost measure billed: amount is BilledCost" in r.stdout
    con = duckdb.connect(str(db))
    # billed: 8.00 on 1 Oct as before; 2 Oct: 100.00 purchase at its price - 1.00 credit = 99.00
    assert con.execute("SELECT sum(amount) FROM costs WHERE date = '2026-10-02'").fetchone()[0] == pytest.approx(99.0)
    assert json.loads(con.execute("SELECT mapping FROM ingest_log").fetchone()[0])["measure"] == "billed"
    con.close()
    t = tmp_path / "billed.toml"
    t.write_text('extends = "focus"\nmeasure = "billed"\n')
    c2 = kpis.connect(tmp_path / "b2.duckdb")
    (rep,) = kpis.ingest_files(c2, [path], mapping=t)
    assert c2.execute("SELECT sum(amount) FROM costs").fetchone()[0] == pytest.approx(8.0 + 99.0)
    assert any(n.startswith("cost measure billed") for n in rep.notes)
    c2.close()


def test_an_unknown_cost_measure_names_the_ones_there_are(con, tmp_path):
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [focus_sample(tmp_path)], cost_measure="list")
    assert "has no cost measure 'list' (measures: amortised, billed)" in str(err.value)
    assert counts(con) == (0, 0, 0, 0, 0)


def test_a_genuinely_empty_export_is_still_an_error(con, tmp_path):
    path = write_focus(tmp_path / "empty.csv", [])
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [path], preset="focus")
    assert "header but no data rows" in str(err.value)


# ---------------------------------------------------------------------------
# Everything filtered is not an empty file


def actions_run(run_id: int, name: str, conclusion: str | None, status: str = "completed") -> dict:
    """A run as GitHub's "List workflow runs for a repository" answer writes it (REST API 2022-11-28)."""
    return {"id": run_id, "name": name, "node_id": f"WFR_{run_id}", "head_branch": "main", "head_sha": "a1b2c3",
            "path": ".github/workflows/ci.yml", "run_number": run_id, "event": "push", "status": status,
            "conclusion": conclusion, "workflow_id": 161335, "created_at": "2026-10-02T10:00:00Z",
            "updated_at": "2026-10-02T10:09:00Z", "run_started_at": "2026-10-02T10:00:05Z",
            "head_commit": {"id": "a1b2c3", "timestamp": "2026-10-02T09:40:00Z", "message": "fix"},
            "repository": {"id": 1296269, "name": "fraud-api", "full_name": "acme/fraud-api"}}


def test_github_actions_without_a_deploy_workflow_loads_nothing_and_says_why(con, tmp_path):
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"total_count": 4, "workflow_runs": [
        actions_run(1, "CI", "success"), actions_run(2, "CI", "failure"), actions_run(3, "Lint", "success"),
        actions_run(4, "CI", None, status="queued"),  # a queued run: no conclusion yet
    ]}))
    (rep,) = kpis.ingest_files(con, [path])
    assert rep.mapping == "github-actions" and rep.status == "loaded" and rep.loaded == 0
    # every run fails the first filter (no deploy / release in the name), so all 4 are counted there
    assert rep.message == ("0 loaded, 4 dropped: not name matches /(?i)deploy|release/ "
                           "(4 row(s); seen: 'CI' 3, 'Lint' 1)")
    assert "Name your deploy workflow" in rep.hint
    assert counts(con)[0] == 0
    assert con.execute("SELECT status, rows_read FROM ingest_log").fetchall() == [("loaded", 0)]


def test_strict_refuses_a_file_that_loads_nothing_and_writes_nothing(con, tmp_path):
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"workflow_runs": [actions_run(1, "CI", "success")]}))
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [SAMPLES / "pagerduty.csv", path], strict=True)
    (e,) = err.value.errors
    assert e.file == "runs.json" and "every row was dropped" in e.reason and "--strict" in e.reason
    assert counts(con) == (0, 0, 0, 0, 0)  # the PagerDuty file of the same batch is not written either


def test_cli_all_dropped_exits_0_with_the_hint_and_strict_exits_2(tmp_path):
    path = tmp_path / "gitlab.json"
    deployment = json.loads((SAMPLES / "gitlab-deployments.json").read_text())[0]
    created = [{**deployment, "id": 900 + i, "iid": i, "status": "created"} for i in range(2)]
    path.write_text(json.dumps(created + [{**deployment, "id": 910, "iid": 9, "status": "running"}]))
    db = tmp_path / "k.duckdb"
    r = run("ingest", "--db", db, path)
    assert r.returncode == 0, r.stderr
    assert ("gitlab.json (preset gitlab-deployments): 3 row(s) read, 0 loaded, 3 dropped: not status in success, "
            "failed (3 row(s); seen: 'created' 2, 'running' 1)") in r.stdout
    assert "hint: Only finished deployments" in r.stdout
    r = run("ingest", "--db", tmp_path / "strict.duckdb", "--strict", path)
    assert r.returncode == 2 and "every row was dropped" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------------------
# Field names drift: PagerDuty, CUR 2.0, legacy CUR


PAGERDUTY_NOW = """\
id,incident_number,description,service_id,service_name,team_id,team_name,escalation_policy_id,escalation_policy_name,\
created_at,resolved_at,urgency,priority_name,seconds_to_first_ack,seconds_to_resolve,auto_resolved,assignment_count,\
engaged_user_count,major
Q7A,701,Fraud model latency,PSVC1,fraud-api,PT1,risk,PEP1,ML on call,2026-10-02T10:00:00Z,2026-10-02T13:00:00Z,high,P1,\
600,10800,false,1,1,false
Q7B,702,Ranker drift,PSVC2,ranker-api,PT2,search,PEP1,ML on call,2026-10-04T09:00:00+02:00,,low,,,,false,1,0,false
"""


def test_pagerduty_current_created_at_fields(con, tmp_path):
    path = tmp_path / "incidents.csv"
    path.write_text(PAGERDUTY_NOW)
    (rep,) = kpis.ingest_files(con, [path])
    assert rep.mapping == "pagerduty"
    rows = con.execute("SELECT incident_id, started_at, acknowledged_at, resolved_at, severity FROM incidents "
                       "ORDER BY 1").fetchall()
    assert rows == [
        # 10:00Z + 600 s = 10:10, + 10800 s = 13:00
        ("Q7A", datetime(2026, 10, 2, 10), datetime(2026, 10, 2, 10, 10), datetime(2026, 10, 2, 13), "sev2"),
        # 09:00+02:00 = 07:00Z; open, never acknowledged
        ("Q7B", datetime(2026, 10, 4, 7), None, None, "sev4"),
    ]


def cur2_parquet(con, path: Path, tag_sql: str) -> Path:
    """A CUR 2.0 file (Parquet, map columns) with the given tag column(s) SQL."""
    con.execute(f"""COPY (
    SELECT * EXCLUDE (tagged), 'USD' AS line_item_currency_code, '1111' AS bill_payer_account_id,
           TIMESTAMP '2026-10-01 00:00:00' AS bill_billing_period_start_date,
           NULL::DOUBLE AS savings_plan_savings_plan_effective_cost, NULL::DOUBLE AS reservation_effective_cost,
           {tag_sql}
    FROM (VALUES
        ('Usage', 'AmazonSageMaker', 'USE1-Host:ml.m5.xlarge', 'arn:aws:sagemaker:us-east-1:4:endpoint/fraud', 30.0,
         TIMESTAMP '2026-10-01 00:00:00', TRUE),
        ('Usage', 'AmazonSageMaker', 'USE1-Host:ml.m5.xlarge', 'arn:aws:sagemaker:us-east-1:4:endpoint/fraud', -5.0,
         TIMESTAMP '2026-10-01 00:00:00', TRUE),
        ('Usage', 'AmazonEC2', 'USE1-BoxUsage:m5.large', 'i-0abc', 4.0, TIMESTAMP '2026-10-01 00:00:00', FALSE)
    ) AS t(line_item_line_item_type, line_item_product_code, line_item_usage_type, line_item_resource_id,
           line_item_unblended_cost, line_item_usage_start_date, tagged)
    ) TO '{path}' (FORMAT parquet)""")
    return path


def test_cur2_tags_map_with_resource_tags_keys(con, tmp_path):
    path = cur2_parquet(con, tmp_path / "cur2.parquet",
                        "CASE WHEN tagged THEN MAP {'resourceTags/user:ml-service': 'fraud-api', "
                        "'resourceTags/user:team': 'risk'} ELSE MAP {'resourceTags/aws:createdBy': 'x'} END AS tags")
    (rep,) = kpis.ingest_files(con, [path])
    assert rep.mapping == "aws-cur2"
    rows = con.execute("SELECT service, team, category, amount FROM costs ORDER BY 1").fetchall()
    # the endpoint: 30.00 - 5.00 refund of usage = 25.00 (netted, not rejected); EC2 untagged
    assert rows == [("fraud-api", "risk", "inference", 25.0), ("unattributed", None, "other", 4.0)]


def test_legacy_cur_parquet_tag_columns_are_read(con, tmp_path):
    path = cur2_parquet(con, tmp_path / "legacy.parquet",
                        "CASE WHEN tagged THEN 'fraud-api' END AS resource_tags_user_ml_service, "
                        "CASE WHEN tagged THEN 'risk' END AS resource_tags_user_team")
    (rep,) = kpis.ingest_files(con, [path])
    assert rep.mapping == "aws-cur2"
    assert con.execute("SELECT service, team, amount FROM costs WHERE category = 'inference'").fetchall() == [
        ("fraud-api", "risk", 25.0)]


def test_a_cur_file_without_any_tag_column_is_refused_not_silently_unattributed(con, tmp_path):
    path = cur2_parquet(con, tmp_path / "untagged.parquet", "'x' AS bill_invoice_id")
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [path])
    (e,) = err.value.errors
    assert "column 'resource_tags' is missing" in e.reason and "tags" in e.reason
    assert "resource_tags_user_ml_service" in e.reason
    assert counts(con) == (0, 0, 0, 0, 0)


def test_legacy_cur_csv(con):
    (rep,) = kpis.ingest_files(con, [SAMPLES / "aws-cur-legacy.csv"])
    assert rep.mapping == "aws-cur-legacy"
    # inference: the fraud endpoint on 1 Oct 24.00 on demand + 16.00 SP effective - 4.00 refund = 36.00,
    # the untagged endpoint 9.00 -> 45.00; training 61.20 (one run, the job's name)
    got = dict(con.execute("SELECT category, sum(amount) FROM costs GROUP BY 1").fetchall())
    assert got == pytest.approx({"inference": 45.0, "training": 61.2})
    assert con.execute("SELECT run_id FROM costs WHERE category = 'training'").fetchone() == ("fraud-train-7",)
    assert con.execute("SELECT DISTINCT source FROM costs").fetchall() == [("aws-cur:111122223333/2026-10-01T00:00:00Z",)]
    assert "seen: 'SavingsPlanNegation' 1, 'SavingsPlanRecurringFee' 1, 'Tax' 1" in rep.summary


def test_legacy_cur_csv_billed(con):
    kpis.ingest_files(con, [SAMPLES / "aws-cur-legacy.csv"], cost_measure="billed")
    # billed: 24.00 + 0 (SP covered, its on-demand cost negated on the bill) - 4.00 + 9.00 = 29.00
    got = dict(con.execute("SELECT category, sum(amount) FROM costs GROUP BY 1").fetchall())
    assert got == pytest.approx({"inference": 29.0, "training": 61.2})


# ---------------------------------------------------------------------------
# Silent wrong meaning: CloudWatch, GitLab, MLflow


def cloudwatch_answer(path: Path, label: str, values: list[float]) -> Path:
    path.write_text(json.dumps({"MetricDataResults": [{
        "Id": "m1", "Label": label, "Timestamps": [f"2026-10-0{i + 1}T00:00:00+00:00" for i in range(len(values))],
        "Values": values, "StatusCode": "Complete"}], "Messages": []}))
    return path


@pytest.mark.parametrize("label, values, words", [
    ("ModelLatency", [12000.0, 13000.0], "a metric other than SageMaker Invocations"),
    ("Invocations", [100.0], "not a service: set each query's Label"),
    ("fraud-api", [100.0, 12.75], "not a whole number"),
])
def test_cloudwatch_answers_of_another_metric_are_refused_with_the_fix(con, tmp_path, label, values, words):
    path = cloudwatch_answer(tmp_path / "cw.json", label, values)
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [path])
    (e,) = err.value.errors
    assert words in e.reason and e.file == "cw.json" and "refuses the file" in e.reason
    assert counts(con) == (0, 0, 0, 0, 0)


def test_cloudwatch_invocations_still_load(con, tmp_path):
    (rep,) = kpis.ingest_files(con, [cloudwatch_answer(tmp_path / "cw.json", "fraud-api", [100.0, 250.0])])
    assert rep.loaded == 2 and con.execute("SELECT sum(predictions) FROM predictions").fetchone()[0] == 350


def test_gitlab_service_from_the_pipeline_url_when_the_job_url_is_missing(con, tmp_path):
    deployment = json.loads((SAMPLES / "gitlab-deployments.json").read_text())[0]
    other = json.loads(json.dumps(deployment))
    other["id"], other["iid"], other["status"] = 777, 77, "success"
    del other["deployable"]["web_url"]
    other["deployable"]["pipeline"]["web_url"] = "https://gitlab.example.com/ml/churn-api/-/pipelines/9"
    path = tmp_path / "gitlab.json"
    path.write_text(json.dumps([{**deployment, "status": "success"}, other]))
    kpis.ingest_files(con, [path])
    got = dict(con.execute("SELECT deployment_id, service FROM deployments").fetchall())
    assert got["gitlab-deployment-777"] == "ml/churn-api"
    assert got[f"gitlab-deployment-{deployment['id']}"] != "ml/churn-api"


def mlflow_version(version: str, *, stage: str, aliases: list[str], tags: list[dict]) -> dict:
    return {"model_version": {"name": "fraud-xgb", "version": version, "creation_timestamp": 1790928000000,
                              "last_updated_timestamp": 1790928000000, "current_stage": stage, "status": "READY",
                              "run_id": f"r{version}", "tags": tags, "aliases": aliases},
            "run": {"info": {"run_id": f"r{version}", "status": "FINISHED", "start_time": 1790845200000,
                             "end_time": 1790848800000}}}


def test_mlflow_alias_promotion_reads_a_deployed_at_tag_or_warns(con, tmp_path):
    path = tmp_path / "registry.ndjson"
    path.write_text("\n".join(json.dumps(v) for v in [
        # promoted by alias, with the promotion time written as a tag by the team's CD job
        mlflow_version("3", stage="None", aliases=["champion"],
                       tags=[{"key": "deployed_at", "value": "2026-10-05T14:30:00Z"}]),
        # promoted by alias, no tag: loads with the registration time, and a warning says so
        mlflow_version("4", stage="None", aliases=["prod"], tags=[]),
    ]))
    (rep,) = kpis.ingest_files(con, [path], preset="mlflow")
    got = dict(con.execute("SELECT model_version, deployed_at FROM deployments").fetchall())
    # 1790928000000 ms = 2026-10-02 08:00:00 UTC (the registration), for version 4 only
    assert got == {"3": datetime(2026, 10, 5, 14, 30), "4": datetime(2026, 10, 2, 8)}
    (w,) = rep.warnings
    assert w.startswith("1 row(s): promoted by an alias with no deployed_at tag") and "Set a version tag" in w
    assert any(n.startswith("warning: 1 row(s)") for n in rep.notes)
    assert json.loads(con.execute("SELECT mapping FROM ingest_log").fetchone()[0])["warnings"] == [w]


# ---------------------------------------------------------------------------
# The options, in a user's mapping file


TRACKER = """\
Ref,Service,Opened,Closed
T-1,fraud-api,2026-10-01T10:00:00Z,n/a
T-2,fraud-api,2026-10-02T10:00:00Z,2026-10-02T12:00:00Z
"""


def test_a_mapping_file_names_its_null_spellings(con, tmp_path):
    csv_path, toml_path = tmp_path / "tracker.csv", tmp_path / "tracker.toml"
    csv_path.write_text(TRACKER)
    toml_path.write_text('kind = "incidents"\n\n[rows]\nnulls = ["n/a"]\n\n[columns]\nincident_id = "Ref"\n'
                         'service = "Service"\nstarted_at = "Opened"\nresolved_at = "Closed"\n')
    kpis.ingest_files(con, [csv_path], mapping=toml_path)
    assert con.execute("SELECT incident_id, resolved_at FROM incidents ORDER BY 1").fetchall() == [
        ("T-1", None), ("T-2", datetime(2026, 10, 2, 12))]


@pytest.mark.parametrize("text, words", [
    ('kind = "incidents"\n[rows]\nnulls = "NULL"\n[columns]\nincident_id = "a"\nservice = "b"\nstarted_at = "c"\n',
     "nulls must be a list"),
    ('kind = "incidents"\n[columns]\nincident_id = { from = "a", negative = "net" }\nservice = "b"\n'
     'started_at = "c"\n', "negative is one of reject, net, for a column with a minimum"),
    ('extends = "focus"\nmeasure = "list"\n', "unknown cost measure 'list'; measures: amortised, billed"),
    ('kind = "incidents"\n[rows]\nwarn_if = [{ when = { column = "a", empty = true } }]\n[columns]\n'
     'incident_id = "a"\nservice = "b"\nstarted_at = "c"\n', "warn_if is a list of { when = condition(s), message"),
])
def test_bad_options_are_named(tmp_path, text, words):
    t = tmp_path / "m.toml"
    t.write_text(text)
    with pytest.raises(mapping.MappingError) as err:
        mapping.load_mapping(t)
    assert words in str(err.value) and "m.toml" in str(err.value)


def test_every_bad_option_is_reported_at_once_with_its_line(tmp_path):
    # The options of issue 14 (nulls, negative, measure, warn_if) go through the declared schema and its rules
    # with every other key: four problems, each on its own line, in one error.
    path = tmp_path / "m.toml"
    path.write_text('extends = "focus"\n'                                   # line 1
                    'measure = "amortized"\n'                               # 2: no such measure
                    '[rows]\n'                                              # 3
                    'nulls = "NULL"\n'                                      # 4: not a list
                    'warn_if = [{ when = { column = "a", empty = true } }]\n'   # 5: no message
                    '[columns]\n'                                           # 6
                    'service = { from = "x", negative = "net" }\n')         # 7: service has no minimum
    with pytest.raises(mapping.MappingError) as e:
        mapping.load_mapping(path)
    lines = dict(e.value.problems)
    assert set(lines) == {2, 4, 5, 7}, e.value.problems
    assert "unknown cost measure 'amortized' (did you mean 'amortised'?)" in lines[2]
    assert "nulls must be a list" in lines[4] and "warn_if is a list of" in lines[5]
    assert "for a column with a minimum (service has none)" in lines[7]
