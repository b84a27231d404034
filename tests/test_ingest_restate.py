"""Nothing lost silently on restatement (issue 16, item 3).

A cost or prediction export replaces the rows of earlier batches of its source
from its first to its last date; the files of one batch are one export (a bill
split into two files loads whole); every replaced and removed row is counted in
the report, the CLI, the ingest log and on the Data page; ``append`` replaces
nothing. The daily rollups follow every row removed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import kpis
from kpis import engine, ingest, rollups

ROOT = Path(__file__).resolve().parents[1]
BOTH = frozenset({"costs_daily", "cost_runs_daily", "predictions_daily", rollups.NEXT_SUCCESS, rollups.LINKS,
                  rollups.RUN_TEAMS})
DAYS = range(1, 26)  # 2026-10-01 .. 2026-10-25

# A bill split in two: the inference lines in one file (2 services x 25 days = 50 rows, svc-a 2.00 and
# svc-b 4.00 a day: 25 x 6 = 150.00), the training lines of the same services and days in the other
# (2 services x 25 days x 2 runs = 100 rows of 1.00: 100.00).
INFERENCE = "date,amount,service,category,source\n" + "".join(
    f"2026-10-{d:02d},{amount},{svc},inference,bill\n" for d in DAYS for svc, amount in (("svc-a", 2), ("svc-b", 4)))
TRAINING = "date,amount,service,category,run_id,source\n" + "".join(
    f"2026-10-{d:02d},1,{svc},training,{svc}-{run}-{d},bill\n" for d in DAYS for svc in ("svc-a", "svc-b")
    for run in ("r1", "r2"))

# One month's bill of account 111 (two days, three services: 6 rows), the same days of another account
# (1 row) and November of account 111 (1 row).
MONTH = """date,amount,service,category,source
2026-10-01,10,svc-a,inference,acct-111
2026-10-01,20,svc-b,inference,acct-111
2026-10-01,30,svc-c,inference,acct-111
2026-10-02,10,svc-a,inference,acct-111
2026-10-02,20,svc-b,inference,acct-111
2026-10-02,30,svc-c,inference,acct-111
2026-10-01,5,svc-c,inference,acct-222
"""
NOVEMBER = "date,amount,service,category,source\n2026-11-01,7,svc-c,inference,acct-111\n"
# Account 111's month restated: svc-a is 11 a day now, svc-b unchanged, svc-c no longer listed.
RESTATED = """date,amount,service,category,source
2026-10-01,11,svc-a,inference,acct-111
2026-10-01,20,svc-b,inference,acct-111
2026-10-02,11,svc-a,inference,acct-111
2026-10-02,20,svc-b,inference,acct-111
"""


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(text)
    return p


def one(con, sql, params=None):
    return con.execute(sql, params or []).fetchone()[0]


def october(con, kpi: str, **kw) -> float:
    df = engine.compute(con, grain="month", start=date(2026, 10, 1), end=date(2026, 10, 31), kpis=[kpi], **kw)
    return float(df[df["period"] == "2026-10"]["value"].iloc[0])


def assert_rollups_follow_the_events(con) -> None:
    """Every rollup current and equal, row for row, to one rebuilt from the events (tests/test_rollups.py)."""
    assert rollups.current(con) == BOTH
    for r in rollups.ROLLUPS:
        assert sorted(con.execute(f"SELECT * FROM {r.name}").fetchall(), key=str) == \
            sorted(con.execute(r.select()).fetchall(), key=str), r.name
    # the training runs per team follow the rollup they are built from
    assert sorted(con.execute(f"SELECT * FROM {rollups.RUN_TEAMS}").fetchall(), key=str) == \
        sorted(con.execute(rollups._run_teams_sql()).fetchall(), key=str)


def counts(rep) -> tuple:
    return rep.rows_read, rep.inserted, rep.replaced, rep.removed


@pytest.fixture
def con(tmp_path):
    c = kpis.connect(tmp_path / "kpi.duckdb")
    yield c
    c.close()


def test_a_bill_split_into_two_files_of_one_batch_keeps_every_row(con, tmp_path):
    a, b = write(tmp_path, "inference.csv", INFERENCE), write(tmp_path, "training.csv", TRAINING)
    reports = kpis.ingest_files(con, [a, b])
    assert [counts(r) for r in reports] == [(50, 50, 0, 0), (100, 100, 0, 0)]
    assert one(con, "SELECT count(*) FROM costs") == 150  # was 50: the second file replaced the first
    assert one(con, "SELECT sum(amount) FROM costs") == pytest.approx(250.0)  # 150 inference + 100 training
    assert october(con, "inference_cost") == pytest.approx(150.0)
    assert_rollups_follow_the_events(con)


def test_a_split_bill_in_two_batches_replaces_and_says_so(con, tmp_path):
    kpis.ingest_files(con, [write(tmp_path, "inference.csv", INFERENCE)])
    (rep,) = kpis.ingest_files(con, [write(tmp_path, "training.csv", TRAINING)])
    # the training file covers source 'bill' from 10-01 to 10-25: the 50 inference rows of that unit go
    assert counts(rep) == (100, 100, 0, 50)
    assert rep.mode == "replace"
    assert ("removed 50 earlier row(s) that this export no longer lists in source 'bill' from 2026-10-01 to "
            "2026-10-25 (append instead to keep them)") in rep.message
    assert one(con, "SELECT count(*) FROM costs") == 100
    log = con.execute("SELECT rows_read, rows_inserted, rows_updated, rows_removed, mode, message FROM ingest_log "
                      "WHERE file_name = 'training.csv'").fetchone()
    assert log[:5] == (100, 100, 0, 50, "replace") and "removed 50" in log[5]
    hist = ingest.history(con)
    assert hist.iloc[0][["file_name", "rows_replaced", "rows_removed", "mode"]].tolist() == \
        ["training.csv", 0, 50, "replace"]
    assert con.execute("SELECT list(DISTINCT category), sum(amount) FROM costs").fetchone() == (["training"], 100.0)
    assert_rollups_follow_the_events(con)


def test_append_adds_without_replacing_and_an_identical_file_is_still_skipped(con, tmp_path):
    kpis.ingest_files(con, [write(tmp_path, "inference.csv", INFERENCE)])
    (rep,) = kpis.ingest_files(con, [write(tmp_path, "training.csv", TRAINING)], append=True)
    assert counts(rep) == (100, 100, 0, 0) and rep.mode == "append"
    assert "appended" in rep.message
    assert one(con, "SELECT count(*) FROM costs") == 150  # 50 + 100, nothing replaced
    (again,) = kpis.ingest_files(con, [tmp_path / "training.csv"], append=True)
    assert again.status == "skipped" and "identical to training.csv" in again.message
    assert one(con, "SELECT count(*) FROM costs") == 150
    assert one(con, "SELECT mode FROM ingest_log WHERE file_name = 'training.csv' AND status = 'loaded'") == "append"
    assert october(con, "inference_cost") == pytest.approx(150.0)
    assert_rollups_follow_the_events(con)


def test_a_file_whose_rows_were_all_replaced_since_is_loaded_again(con, tmp_path):
    # inference.csv's rows were all removed by the training file: loading it again is not a repeat
    inference = write(tmp_path, "inference.csv", INFERENCE)
    kpis.ingest_files(con, [inference])
    kpis.ingest_files(con, [write(tmp_path, "training.csv", TRAINING)])
    (rep,) = kpis.ingest_files(con, [inference], append=True)
    assert rep.status == "loaded" and counts(rep) == (50, 50, 0, 0)
    assert one(con, "SELECT count(*) FROM costs") == 150


def test_an_old_deployments_export_is_still_skipped_after_its_ids_got_newer_versions(con, tmp_path):
    old = write(tmp_path, "d-old.csv", "deployment_id,service,deployed_at,status\nd1,s,2026-10-01,failed\n")
    kpis.ingest_files(con, [old])
    kpis.ingest_files(con, [write(tmp_path, "d-new.csv", "deployment_id,service,deployed_at,status\n"
                                                        "d1,s,2026-10-01,rolled_back\n")])
    (rep,) = kpis.ingest_files(con, [old])
    assert rep.status == "skipped"  # loading it again would bring back the older version of d1
    assert one(con, "SELECT status FROM deployments") == "rolled_back"


def test_a_restated_month_that_no_longer_lists_a_service_removes_its_rows(con, tmp_path):
    kpis.ingest_files(con, [write(tmp_path, "month.csv", MONTH), write(tmp_path, "november.csv", NOVEMBER)])
    # October: 2 x (10 + 20 + 30) + 5 = 125
    assert october(con, "inference_cost") == pytest.approx(125.0)
    (rep,) = kpis.ingest_files(con, [write(tmp_path, "restated.csv", RESTATED)])
    # svc-a's and svc-b's two days are listed again (4 replaced); svc-c's two days are not (2 removed)
    assert counts(rep) == (4, 4, 4, 2)
    # the file's 4 rows were written (they replaced 4 earlier rows, which are not rows of this file): 4 loaded
    assert rep.loaded == 4 and rep.summary == "restated.csv (canonical columns): 4 row(s) read, 4 loaded"
    assert rep.message == ("replaced 4 earlier row(s) with a new version and removed 2 earlier row(s) that this "
                           "export no longer lists in source 'acct-111' from 2026-10-01 to 2026-10-02 "
                           "(append instead to keep them)")
    rows = con.execute("SELECT source, date::VARCHAR, service, amount FROM costs ORDER BY ALL").fetchall()
    assert rows == [
        ("acct-111", "2026-10-01", "svc-a", 11.0), ("acct-111", "2026-10-01", "svc-b", 20.0),
        ("acct-111", "2026-10-02", "svc-a", 11.0), ("acct-111", "2026-10-02", "svc-b", 20.0),
        ("acct-111", "2026-11-01", "svc-c", 7.0),  # outside the restated period: kept
        ("acct-222", "2026-10-01", "svc-c", 5.0),  # another source: kept
    ]
    # October: 2 x (11 + 20) + 5 = 67, from the rollups and from the events alike
    assert october(con, "inference_cost") == pytest.approx(67.0)
    assert october(con, "inference_cost", use_rollups=False) == pytest.approx(67.0)
    assert_rollups_follow_the_events(con)


def test_a_dry_run_counts_what_would_be_replaced_and_writes_nothing(con, tmp_path):
    kpis.ingest_files(con, [write(tmp_path, "month.csv", MONTH)])
    before = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("costs", "ingest_log")}
    (rep,) = kpis.ingest_files(con, [write(tmp_path, "restated.csv", RESTATED)], dry_run=True)
    assert counts(rep) == (4, 4, 4, 2)
    assert {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in before} == before


def test_a_batch_restating_twice_counts_each_earlier_row_once(con, tmp_path):
    # the restated month split in two files of one batch (svc-a in one, svc-b in the other): together
    # they list svc-a and svc-b again, so only svc-c's two rows are removed, counted for the first file
    kpis.ingest_files(con, [write(tmp_path, "month.csv", MONTH)])
    lines = RESTATED.splitlines()
    a = write(tmp_path, "a.csv", "\n".join([lines[0]] + [x for x in lines[1:] if "svc-a" in x]) + "\n")
    b = write(tmp_path, "b.csv", "\n".join([lines[0]] + [x for x in lines[1:] if "svc-b" in x]) + "\n")
    ra, rb = kpis.ingest_files(con, [a, b])
    assert counts(ra)[2:] + counts(rb)[2:] == (4, 2, 0, 0)
    assert one(con, "SELECT count(*) FROM costs WHERE source = 'acct-111'") == 4
    assert_rollups_follow_the_events(con)


def test_a_restated_prediction_export_removes_a_service_it_no_longer_lists(con, tmp_path):
    first = "date,service,predictions\n2026-10-01,svc-a,100\n2026-10-01,svc-b,200\n2026-10-02,svc-a,300\n"
    restated = "date,service,predictions\n2026-10-01,svc-a,150\n"
    kpis.ingest_files(con, [write(tmp_path, "p1.csv", first)])
    (rep,) = kpis.ingest_files(con, [write(tmp_path, "p2.csv", restated)])
    # the unit is source 'default' on 2026-10-01: svc-a's row replaced, svc-b's removed, 10-02 kept
    assert counts(rep) == (1, 1, 1, 1)
    assert "in source 'default' on 2026-10-01" in rep.message
    assert october(con, "predictions") == pytest.approx(450.0)  # 150 + 300
    assert_rollups_follow_the_events(con)


def test_a_models_inventory_in_two_files_of_one_batch_keeps_both(con, tmp_path):
    a = write(tmp_path, "m1.csv", "model,monitored,as_of\nm1,true,2026-10-01\n")
    b = write(tmp_path, "m2.csv", "model,monitored,as_of\nm2,false,2026-10-01\n")
    kpis.ingest_files(con, [a, b])
    assert one(con, "SELECT count(*) FROM models") == 2
    (rep,) = kpis.ingest_files(con, [write(tmp_path, "m3.csv", "model,monitored,as_of\nm1,false,2026-10-01\n")])
    assert counts(rep) == (1, 1, 1, 1)  # m1 a new version, m2 no longer listed in that snapshot
    assert con.execute("SELECT model, monitored FROM models").fetchall() == [("m1", False)]


def test_keyed_tables_replace_by_id_even_with_append(con, tmp_path):
    p = write(tmp_path, "d.csv", "deployment_id,service,deployed_at\nd1,s,2026-10-01\n")
    kpis.ingest_files(con, [p])
    (rep,) = kpis.ingest_files(con, [write(tmp_path, "d2.csv", "deployment_id,service,deployed_at\n"
                                                                "d1,s,2026-10-02\nd2,s,2026-10-03\n")], append=True)
    assert counts(rep) == (2, 1, 1, 0) and rep.mode == "by id"
    assert one(con, "SELECT count(*) FROM deployments") == 2


def test_a_database_from_before_the_removed_count(tmp_path):
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute("""CREATE TABLE ingest_log (
        batch_id BIGINT, file_name VARCHAR, file_path VARCHAR, content_hash VARCHAR,
        kind VARCHAR, status VARCHAR, rows_read BIGINT, rows_inserted BIGINT,
        rows_updated BIGINT, rows_rejected BIGINT, ingested_at TIMESTAMP,
        source_tz VARCHAR, mapping JSON, message VARCHAR, file_size BIGINT)""")
    old.execute("INSERT INTO ingest_log VALUES (1, 'old.csv', '/x/old.csv', 'abc', 'costs', 'loaded', 3, 3, 0, 0, "
                "'2026-10-01', 'UTC', '{}', '', 10)")
    old.close()
    ro = kpis.connect(path, read_only=True)  # the dashboard reads it as it is
    hist = ingest.history(ro)
    assert hist.iloc[0]["file_name"] == "old.csv"
    assert pd.isna(hist.iloc[0]["rows_removed"]) and pd.isna(hist.iloc[0]["mode"])
    ro.close()
    con = kpis.connect(path)  # a read-write open adds the columns
    kpis.ingest_files(con, [write(tmp_path, "month.csv", MONTH)])
    (rep,) = kpis.ingest_files(con, [write(tmp_path, "restated.csv", RESTATED)])
    assert one(con, "SELECT rows_removed FROM ingest_log WHERE file_name = 'restated.csv'") == 2 == rep.removed
    con.close()


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "kpis", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)


def test_cli_reports_replaced_and_removed_and_appends(tmp_path):
    db = tmp_path / "kpi.duckdb"
    inference, training = write(tmp_path, "inference.csv", INFERENCE), write(tmp_path, "training.csv", TRAINING)
    assert run_cli("ingest", "--db", db, inference).returncode == 0
    r = run_cli("ingest", "--db", db, training)
    assert r.returncode == 0, r.stderr
    header, _, row = r.stdout.splitlines()[:3]
    assert header.split()[:10] == ["file", "kind", "mapping", "status", "read", "inserted", "replaced", "removed",
                                   "rejected", "note"]
    assert row.split()[:9] == ["training.csv", "costs", "-", "loaded", "100", "100", "0", "50", "0"]
    assert ("training.csv: removed 50 earlier row(s) of the costs it restates that it no longer lists; to add a "
            "file's rows without replacing, ingest it with --append") in r.stdout
    r = run_cli("ingest", "--db", db, "--append", inference)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[2].split()[:9] == ["inference.csv", "costs", "-", "loaded", "50", "50", "0", "0",
                                                    "0"]
    assert "appended: earlier rows kept" in r.stdout
    con = kpis.connect(db, read_only=True)
    assert one(con, "SELECT count(*) FROM costs") == 150
    con.close()
    assert "--append" in run_cli("ingest", "--help").stdout


def _upload(at: AppTest, files: dict[str, str]) -> None:
    for name, text in files.items():
        at.file_uploader[0].upload(name, text.encode(), "text/csv")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="ingest").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_data_page_upload_counts_replaced_and_removed_rows_and_can_append(tmp_path):
    os.environ["KPI_DB"] = str(tmp_path / "kpi.duckdb")
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("app_pages/data.py")
        at.run()
        # a split bill uploaded together: one export, every row kept
        _upload(at, {"inference.csv": INFERENCE, "training.csv": TRAINING})
        assert [s.value for s in at.success if s.value.startswith("Ingested")] == \
            ["Ingested 2 file(s): 150 rows added, 0 replaced, 0 removed."]
        # the restated month of account 111 on top of its first version
        _upload(at, {"month.csv": MONTH})
        _upload(at, {"restated.csv": RESTATED})
        (said,) = [s.value for s in at.success if s.value.startswith("Ingested")]
        assert said == ("Ingested 1 file(s): 4 rows added, 4 replaced, 2 removed. Removed rows are earlier rows of "
                        "a restated source and period that the new files no longer list (choose Append to keep "
                        "them).")
        last = at.dataframe[0].value  # what the last ingest read, per file
        assert last[["file", "added", "replaced", "removed"]].values.tolist() == [["restated.csv", 4, 4, 2]]
        assert "removed 2 earlier row(s)" in last["note"].iloc[0]
        # with Append, a late svc-c line for account 111's 1 October is added; replacing, it would remove
        # svc-a's and svc-b's lines of that day
        at.checkbox(key="upload_append").check()
        _upload(at, {"late.csv": "date,amount,service,category,source\n2026-10-01,30,svc-c,inference,acct-111\n"})
        (said,) = [s.value for s in at.success if s.value.startswith("Ingested")]
        assert said == "Ingested 1 file(s): 1 rows added, 0 replaced, 0 removed."
    finally:
        os.environ.pop("KPI_DB", None)
    con = kpis.connect(tmp_path / "kpi.duckdb", read_only=True)
    # 150 (the split bill) + 7 (the month) - 2 (svc-c restated away) + 1 (appended)
    assert one(con, "SELECT count(*) FROM costs") == 156
    assert one(con, "SELECT count(*) FROM costs WHERE source = 'acct-111' AND date = '2026-10-01'") == 3
    con.close()
