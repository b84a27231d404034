"""The command line, run as a user would: python -m kpis ..."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import golden
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "kpis", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=120)


def test_ingest_then_compute_json(tmp_path):
    folder = golden.write(tmp_path / "exports")
    db = tmp_path / "kpi.duckdb"
    r = run("ingest", "--db", db, folder)
    assert r.returncode == 0, r.stderr
    assert "deployments.csv" in r.stdout and "inserted" in r.stdout
    r = run("compute", "--db", db, "--grain", "month", "--format", "json", "--from", "2026-10-01", "--to", "2026-10-31",
            "--by", "team")
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)
    cfr = [x for x in records if x["kpi"] == "change_failure_rate" and x["team"] == "search"]
    # search: d3 rolled back of d1, d2, d3
    # The golden data runs to 2026-11-02, so October is whole (not in progress).
    assert cfr == [{"period": "2026-10", "team": "search", "in_progress": False, "kpi": "change_failure_rate",
                    "value": 1 / 3, "n": 3, "unit": "ratio"}]
    fraud = [x for x in records if x["kpi"] == "deployment_count" and x["team"] == "fraud"]
    assert fraud[0]["value"] is None and fraud[0]["n"] == 0


def test_second_ingest_is_a_no_op(tmp_path):
    folder = golden.write(tmp_path / "exports")
    db = tmp_path / "kpi.duckdb"
    run("ingest", "--db", db, folder)
    r = run("ingest", "--db", db, folder)
    assert r.returncode == 0
    assert r.stdout.count("skipped") == 4


def test_csv_and_table_formats_and_kpi_db_env(tmp_path):
    folder = golden.write(tmp_path / "exports")
    env = {"KPI_DB": str(tmp_path / "env.duckdb")}
    assert run("ingest", folder, env=env).returncode == 0
    r = run("compute", "--format", "csv", "--kpi", "incident_count", "--from", "2026-10-01", "--to", "2026-10-31",
            env=env)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    # six ML incidents started in October (see golden.py)
    assert rows == [{"period": "2026-10", "in_progress": "False", "kpi": "incident_count", "value": "6", "n": "6",
                     "unit": "count"}]
    r = run("compute", "--format", "table", "--kpi", "mttr_hours", "--from", "2026-11-01", "--to", "2026-11-30",
            env=env)
    assert "mttr_hours" in r.stdout and "4.0 d" in r.stdout  # 96 h written as the card writes it


def test_bad_file_message_without_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("deployment_id,service,deployed_at\nd1,s,not-a-time\n")
    r = run("ingest", "--db", tmp_path / "k.duckdb", bad)
    assert r.returncode == 2
    assert "bad.csv, row 1, column deployed_at: cannot parse 'not-a-time' as a timestamp" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_option_values(tmp_path):
    r = run("compute", "--db", tmp_path / "k.duckdb", "--tz", "Mars/Olympus")
    assert r.returncode == 2 and "unknown time zone" in r.stderr and "Traceback" not in r.stderr
    r = run("compute", "--grain", "decade")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_help_lists_the_documented_commands():
    r = run("--help")
    assert "ingest" in r.stdout and "compute" in r.stdout
    r = run("compute", "--help")
    for flag in ("--grain", "--from", "--to", "--by", "--profile", "--format", "--link-window", "--tz"):
        assert flag in r.stdout
    r = run("ingest", "--help")
    for flag in ("--kind", "--source-tz", "--skip-bad-rows", "--db"):
        assert flag in r.stdout


def test_compute_with_profile_adds_target_and_status(tmp_path):
    folder = golden.write(tmp_path / "exports")
    db = tmp_path / "kpi.duckdb"
    run("ingest", "--db", db, folder)
    r = run("compute", "--db", db, "--profile", "senior", "--format", "json", "--from", "2026-10-01",
            "--to", "2026-10-31")
    assert r.returncode == 0, r.stderr
    records = {x["kpi"]: x for x in json.loads(r.stdout)}
    cfr = records["change_failure_rate"]
    # 5 failed of 7 -> 71% against senior's "<10–15%": red
    assert (cfr["status"], cfr["target"]) == ("red", "<10–15% (mature teams trend lower)")
    assert records["predictions"]["status"] == "none"
    # senior's MTTR target is scoped to sev1/sev2: only i1 (2 h) resolved in October -> amber (1–4 h)
    assert records["mttr_hours"]["status"] == "amber"
    r = run("compute", "--db", db, "--profile", "nonexistent-profile")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_compute_marks_the_period_in_progress_and_counts_its_weeks_elapsed(tmp_path):
    folder = golden.write(tmp_path / "exports")
    db = tmp_path / "kpi.duckdb"
    assert run("ingest", "--db", db, folder).returncode == 0
    args = ("compute", "--db", db, "--format", "json", "--from", "2026-10-01", "--to", "2026-11-30",
            "--kpi", "deployments_per_week")
    # The golden data's last event is i2's resolution on 2026-11-02: November is in progress, 2 of 30 days.
    r = run(*args)
    assert r.returncode == 0, r.stderr
    by_period = {x["period"]: x for x in json.loads(r.stdout)}
    assert by_period["2026-10"]["in_progress"] is False
    assert by_period["2026-10"]["value"] == pytest.approx(5 / (31 / 7))  # 5 deployments over 31 days
    assert by_period["2026-11"]["in_progress"] is True
    assert by_period["2026-11"]["value"] == pytest.approx(1 / (2 / 7))  # d9 over the 2 days elapsed = 3.5
    # --as-of none: every period whole (November: 1 / (30 / 7)); a date sets the day explicitly.
    whole = {x["period"]: x for x in json.loads(run(*args, "--as-of", "none").stdout)}
    assert whole["2026-11"]["in_progress"] is False and whole["2026-11"]["value"] == pytest.approx(7 / 30)
    r = run(*args, "--as-of", "2026-11-07")
    assert {x["period"]: x for x in json.loads(r.stdout)}["2026-11"]["value"] == pytest.approx(1.0)  # 1 / (7 / 7)
    bad = run(*args, "--as-of", "soon")
    assert bad.returncode == 2 and "not a date" in bad.stderr


def test_csv_neutralises_formula_cells_and_keeps_base_units(tmp_path):
    exports = tmp_path / "deployments.csv"
    exports.write_text("deployment_id,service,deployed_at,team,status,change_started_at\n"
                       "d1,svc,2026-10-05T10:00:00Z,=HYPERLINK(\"http://x\"),success,2026-10-01T10:00:00Z\n")
    db = tmp_path / "k.duckdb"
    assert run("ingest", "--db", db, exports).returncode == 0
    args = ("compute", "--db", db, "--kpi", "lead_time_median_hours", "--by", "team", "--from", "2026-10-01",
            "--to", "2026-10-31")
    rows = list(csv.DictReader(io.StringIO(run(*args, "--format", "csv").stdout)))
    assert rows[0]["team"] == "'=HYPERLINK(\"http://x\")"  # shown as text by a spreadsheet, not run
    assert rows[0]["value"] == "96.0"  # base units: 4 days of lead time in hours
    assert "4.0 d" in run(*args, "--format", "table").stdout  # the table writes it as the card does


def test_compute_json_has_the_dora_kpis_and_the_frequency_bucket(tmp_path):
    folder = golden.write(tmp_path / "exports", golden.DORA_FILES)
    db = tmp_path / "kpi.duckdb"
    assert run("ingest", "--db", db, folder).returncode == 0
    r = run("compute", "--db", db, "--format", "json", "--from", "2026-03-01", "--to", "2026-04-30", "--as-of", "none",
            "--kpi", "deployment_days_per_week", "--kpi", "deployment_rework_rate",
            "--kpi", "failed_deployment_recovery_median_hours", "--kpi", "failed_deployment_recovery_mean_hours")
    assert r.returncode == 0, r.stderr
    got = {(x["period"], x["kpi"]): x for x in json.loads(r.stdout)}
    # tests/golden.py, DORA set: April's weeks have 1, 1, 1, 1, 1 deployment days -> median 1 -> weekly;
    # 5 days / (30 / 7) weeks = 7 / 6
    april_days = got[("2026-04", "deployment_days_per_week")]
    assert april_days["value"] == pytest.approx(7 / 6) and april_days["n"] == 8
    assert april_days["median_week_days"] == 1.0 and april_days["bucket"] == "weekly"
    # March: one deployment day in its 4 weeks -> median 0, one day in 31 -> monthly
    assert got[("2026-03", "deployment_days_per_week")]["bucket"] == "monthly"
    # x3 (hotfix), x5 (fixes j1), y2 (j3's fix) of 8
    assert got[("2026-04", "deployment_rework_rate")]["value"] == pytest.approx(3 / 8)
    # recovery: 0.5, 24, 72 h -> median 24, mean 32.17; x6 never recovered is not among them
    rec = got[("2026-04", "failed_deployment_recovery_median_hours")]
    assert (rec["value"], rec["n"]) == (24.0, 3) and "bucket" not in rec
    assert got[("2026-04", "failed_deployment_recovery_mean_hours")]["value"] == pytest.approx(96.5 / 3)


def test_compute_trailing_window_and_day_grain(tmp_path):
    folder = golden.write(tmp_path / "exports")
    db = tmp_path / "kpi.duckdb"
    assert run("ingest", "--db", db, folder).returncode == 0
    # the data's last day is 2026-11-02 (i2 resolved): the last 7 days and the 7 before them
    r = run("compute", "--db", db, "--format", "json", "--last", "7d", "--kpi", "deployment_count")
    assert r.returncode == 0, r.stderr
    got = {x["period"]: (x["value"], x["n"]) for x in json.loads(r.stdout)}
    # Oct 20-26: d4, d5 of d3..d5; Oct 27 - Nov 2: d7, d9 of d6, d7, d9 (tests/golden.py)
    assert got == {"2026-10-20/2026-10-26": (2, 3), "2026-10-27/2026-11-02": (2, 3)}
    r = run("compute", "--db", db, "--last", "14d", "--kpi", "deployment_count")
    assert r.returncode == 2 and "write one of 7d, 30d, 90d" in r.stderr
    r = run("compute", "--db", db, "--last", "30d", "--profile", "dora")
    assert r.returncode == 2 and "--last cannot be combined with --profile" in r.stderr
    r = run("compute", "--db", db, "--format", "json", "--grain", "day", "--from", "2026-11-01", "--to",
            "2026-11-02", "--kpi", "deployment_count")
    # d9 went out 2026-11-01 03:30Z; nothing on Nov 2
    assert [(x["period"], x["value"], x["n"]) for x in json.loads(r.stdout)] == [("2026-11-01", 1, 1),
                                                                                ("2026-11-02", None, 0)]
