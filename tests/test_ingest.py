"""Ingest: parsing, validation with file/row/column/reason, atomic batches, no double counting."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import golden
import pytest

import kpis
from kpis import ingest

TABLES = ("deployments", "incidents", "costs", "predictions", "ingest_log", "quarantine")


def snapshot(con) -> dict:
    """Every row of every table: the database's content."""
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


@pytest.fixture
def loaded(tmp_path):
    folder = golden.write(tmp_path / "golden")
    con = kpis.connect(tmp_path / "kpi.duckdb")
    kpis.ingest_files(con, [folder])
    yield con, tmp_path
    con.close()


def write(tmp_path, name, text, mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def count(con, table):
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_folder_ingest_recognises_kinds_and_counts(tmp_path):
    folder = golden.write(tmp_path / "g")
    con = kpis.connect(tmp_path / "k.duckdb")
    reports = kpis.ingest_files(con, [folder])
    kinds = {r.file: (r.kind, r.rows_read, r.inserted, r.updated, r.rejected) for r in reports}
    assert kinds == {
        "costs.csv": ("costs", 11, 11, 0, 0),
        "deployments.csv": ("deployments", 9, 9, 0, 0),
        "incidents.csv": ("incidents", 7, 7, 0, 0),
        "predictions.csv": ("predictions", 5, 5, 0, 0),
    }
    log = con.execute("SELECT file_name, kind, rows_read, length(content_hash) FROM ingest_log ORDER BY 1").fetchall()
    assert log[0] == ("costs.csv", "costs", 11, len("blake3:") + 64)  # BLAKE3, 32 bytes in hex


def test_reingesting_the_same_files_changes_nothing(loaded):
    con, tmp_path = loaded
    before = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
              for t in ("deployments", "incidents", "costs", "predictions")}
    reports = kpis.ingest_files(con, [tmp_path / "golden"])
    assert {r.status for r in reports} == {"skipped"}
    after = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in before}
    assert before == after


def test_overlapping_incident_export_updates_and_adds(loaded):
    con, tmp_path = loaded
    # a later export: i5 is now resolved, i8 is new, i1 unchanged
    p = write(tmp_path, "incidents-later.csv",
              "incident_id,service,started_at,resolved_at,severity\n"
              "i1,svc-b,2026-10-29T12:00:00Z,2026-10-29T14:00:00Z,sev2\n"
              "i5,svc-a,2026-10-30T00:00:00Z,2026-11-03T00:00:00Z,sev2\n"
              "i8,svc-a,2026-11-05T00:00:00Z,2026-11-05T01:00:00Z,sev3\n")
    (rep,) = kpis.ingest_files(con, [p])
    assert (rep.rows_read, rep.inserted, rep.updated) == (3, 1, 2)
    assert count(con, "incidents") == 8  # 7 + i8
    resolved = con.execute("SELECT resolved_at FROM incidents WHERE incident_id = 'i5'").fetchone()[0]
    assert resolved == datetime(2026, 11, 3)


def test_reissued_cost_export_replaces_its_dates(loaded):
    con, tmp_path = loaded
    # the bill for 2026-10-01 restated: svc-a's line (the day's only line) is now 120 instead of 100
    p = write(tmp_path, "costs-restated.csv",
              "date,amount,service,category,team,model\n2026-10-01,120,svc-a,inference,search,ranker\n")
    (rep,) = kpis.ingest_files(con, [p])
    assert (rep.inserted, rep.updated, rep.removed) == (1, 1, 0)
    df = kpis.compute(con, kpis=["inference_cost"], start=date(2026, 10, 1), end=date(2026, 10, 31))
    usd = df[df["unit"] == "USD"]["value"].iloc[0]
    assert usd == pytest.approx(270.0)  # 250 - 100 + 120, not 250 + 120


@pytest.mark.parametrize(
    "name, text, row, column, reason",
    [
        ("missing.csv", "deployment_id,deployed_at\nd1,2026-10-01\n", None, "service", "required column"),
        ("badts.csv", "deployment_id,service,deployed_at\nd1,s,2026-10-01\nd2,s,yesterday\n", 2, "deployed_at",
         "cannot parse 'yesterday' as a timestamp"),
        ("negative.csv", "date,amount,service\n2026-10-01,5,s\n2026-10-02,-3.5,s\n", 2, "amount", "negative amount"),
        ("backwards.csv", "incident_id,service,started_at,resolved_at\n"
                          "i1,s,2026-10-02T10:00:00Z,2026-10-02T09:00:00Z\n", 1, "resolved_at", "resolved before"),
        ("dupes.csv", "deployment_id,service,deployed_at\nd1,s,2026-10-01\nd2,s,2026-10-02\nd1,s,2026-10-03\n",
         3, "deployment_id", "duplicate deployment_id 'd1' (first on row 1)"),
        ("empty.csv", "", None, None, "empty"),
        ("header-only.csv", "deployment_id,service,deployed_at\n", None, None, "no data rows"),
        ("semicolons.csv", "deployment_id;service;deployed_at\nd1;s;2026-10-01\n", None, None, "delimited by ';'"),
        ("bad-bool.csv", "deployment_id,service,deployed_at,is_hotfix\nd1,s,2026-10-01,maybe\n", 1, "is_hotfix",
         "not a boolean"),
        ("bad-sev.csv", "incident_id,service,started_at,severity\ni1,s,2026-10-01,catastrophic\n", 1, "severity",
         "unknown severity"),
        ("missing-value.csv", "deployment_id,service,deployed_at\nd1,,2026-10-01\n", 1, "service",
         "required value is missing"),
    ],
)
def test_bad_file_is_rejected_and_database_unchanged(loaded, name, text, row, column, reason):
    con, tmp_path = loaded
    before = snapshot(con)
    p = write(tmp_path, name, text)
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [p])
    e = err.value.errors[0]
    assert e.file == name
    assert e.row == row
    assert e.column == column
    assert reason in e.reason
    assert name in str(err.value)
    assert snapshot(con) == before


def test_non_utf8_file_is_rejected(loaded):
    con, tmp_path = loaded
    before = snapshot(con)
    p = write(tmp_path, "latin1.csv", "deployment_id,service,deployed_at\nd1,caf\xe9,2026-10-01\n".encode("latin-1"),
              mode="wb")
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [p])
    e = err.value.errors[0]
    assert e.file == "latin1.csv" and "UTF-8" in e.reason and e.row is not None
    assert snapshot(con) == before


def test_parquet_with_wrong_types_is_rejected(loaded):
    con, tmp_path = loaded
    before = snapshot(con)
    p = tmp_path / "wrong.parquet"
    duckdb.execute(f"COPY (SELECT 'd1' AS deployment_id, 's' AS service, TRUE AS deployed_at) TO '{p}' (FORMAT parquet)")
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [p])
    e = err.value.errors[0]
    assert (e.file, e.column) == ("wrong.parquet", "deployed_at")
    assert "BOOLEAN" in e.reason
    assert snapshot(con) == before


def test_parquet_with_right_types_loads(tmp_path):
    con = kpis.connect(tmp_path / "k.duckdb")
    p = tmp_path / "p.parquet"
    duckdb.execute(
        f"COPY (SELECT DATE '2026-10-01' AS date, 's' AS service, 1200::BIGINT AS predictions, 0.999 AS availability)"
        f" TO '{p}' (FORMAT parquet)")
    (rep,) = kpis.ingest_files(con, [p])
    assert rep.kind == "predictions" and rep.inserted == 1
    assert con.execute("SELECT date, predictions, availability FROM predictions").fetchone() == (
        date(2026, 10, 1), 1200, 0.999)


def test_one_bad_file_rejects_the_whole_batch(loaded):
    con, tmp_path = loaded
    before = snapshot(con)
    good = write(tmp_path, "good.csv", "deployment_id,service,deployed_at\nnew1,s,2026-10-01\n")
    bad = write(tmp_path, "bad.csv", "deployment_id,service,deployed_at\nnew2,s,not-a-date\n")
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [good, bad])
    assert [e.file for e in err.value.errors] == ["bad.csv"]
    assert snapshot(con) == before


def test_skip_bad_rows_loads_good_rows_and_quarantines_bad(loaded):
    con, tmp_path = loaded
    p = write(tmp_path, "mixed.csv",
              "deployment_id,service,deployed_at,status\n"
              "m1,s,2026-10-01,success\n"
              "m2,s,someday,success\n"
              "m3,s,2026-10-03,exploded\n"
              "m4,s,2026-10-04,failed\n")
    (rep,) = kpis.ingest_files(con, [p], skip_bad_rows=True)
    assert (rep.rows_read, rep.inserted, rep.rejected) == (4, 2, 2)
    ids = [r[0] for r in con.execute("SELECT deployment_id FROM deployments WHERE deployment_id LIKE 'm%' ORDER BY 1").fetchall()]
    assert ids == ["m1", "m4"]
    q = con.execute("SELECT file_name, source_row, reasons, raw->>'deployed_at' FROM quarantine ORDER BY source_row").fetchall()
    assert q[0][:2] == ("mixed.csv", 2) and "cannot parse 'someday'" in q[0][2] and q[0][3] == "someday"
    assert q[1][:2] == ("mixed.csv", 3) and "unknown value 'exploded'" in q[1][2]


def test_timestamp_forms_and_source_time_zone(tmp_path):
    con = kpis.connect(tmp_path / "k.duckdb")
    p = write(tmp_path, "ts.csv",
              "deployment_id,service,deployed_at\n"
              "z,s,2026-10-05T10:00:00Z\n"
              "minus5,s,2026-10-05T10:00:00-05:00\n"
              "plus530,s,2026-10-05T10:00:00+05:30\n"
              "naive,s,2026-10-05 10:00:00\n"
              "dateonly,s,2026-10-05\n"
              "epoch_s,s,1791194400\n"
              "epoch_ms,s,1791194400000\n")
    kpis.ingest_files(con, [p], source_tz="Europe/Berlin")
    got = dict(con.execute("SELECT deployment_id, deployed_at FROM deployments").fetchall())
    assert got == {
        "z": datetime(2026, 10, 5, 10),
        "minus5": datetime(2026, 10, 5, 15),
        "plus530": datetime(2026, 10, 5, 4, 30),
        "naive": datetime(2026, 10, 5, 8),  # 10:00 CEST (UTC+2) in Berlin
        "dateonly": datetime(2026, 10, 4, 22),  # midnight in Berlin
        "epoch_s": datetime(2026, 10, 5, 10),  # 1791194400 = 2026-10-05T10:00:00Z
        "epoch_ms": datetime(2026, 10, 5, 10),
    }


def test_booleans_severities_and_defaults(tmp_path):
    con = kpis.connect(tmp_path / "k.duckdb")
    p = write(tmp_path, "inc.csv",
              "incident_id,service,started_at,severity,ml_related\n"
              "a,s,2026-10-01,SEV-1,yes\n"
              "b,s,2026-10-01,P2,0\n"
              "c,s,2026-10-01,critical,TRUE\n"
              "d,s,2026-10-01,low,\n"
              "e,s,2026-10-01,,n\n")
    kpis.ingest_files(con, [p])
    got = con.execute("SELECT incident_id, severity, ml_related FROM incidents ORDER BY 1").fetchall()
    assert got == [("a", "sev1", True), ("b", "sev2", False), ("c", "sev1", True), ("d", "sev4", True),
                   ("e", None, False)]
    d = write(tmp_path, "dep.csv", "deployment_id,service,deployed_at\nx,s,2026-10-01\n")
    kpis.ingest_files(con, [d])
    row = con.execute("SELECT environment, status, is_hotfix FROM deployments").fetchone()
    assert row == ("production", "success", False)


def test_extra_columns_are_kept_in_attributes(tmp_path):
    con = kpis.connect(tmp_path / "k.duckdb")
    p = write(tmp_path, "d.csv", "deployment_id,service,deployed_at,Pipeline URL\nx,s,2026-10-01,https://ci/1\n")
    kpis.ingest_files(con, [p])
    assert con.execute("SELECT attributes->>'Pipeline URL' FROM deployments").fetchone()[0] == "https://ci/1"


def test_explicit_kind_and_unknown_columns(tmp_path):
    con = kpis.connect(tmp_path / "k.duckdb")
    p = write(tmp_path, "x.csv", "foo,bar\n1,2\n")
    with pytest.raises(kpis.IngestError, match="cannot tell what kind"):
        kpis.ingest_files(con, [p])
    with pytest.raises(kpis.IngestError, match="required column 'deployment_id' is missing"):
        kpis.ingest_files(con, [p], kind="deployments")


def test_dry_run_writes_nothing(loaded):
    con, tmp_path = loaded
    before = snapshot(con)
    p = write(tmp_path, "new.csv", "deployment_id,service,deployed_at\nzz,s,2026-10-01\n")
    (rep,) = kpis.ingest_files(con, [p], dry_run=True)
    assert rep.inserted == 1
    assert snapshot(con) == before


def test_ingest_summary_in_log(loaded):
    con, _ = loaded
    df = ingest.history(con)
    assert set(df["file_name"]) == {"deployments.csv", "incidents.csv", "costs.csv", "predictions.csv"}
    assert (df["status"] == "loaded").all()


def test_tier_spellings_are_normalised(tmp_path):
    con = kpis.connect(tmp_path / "k.duckdb")
    p = write(tmp_path, "tiers.csv", "deployment_id,service,deployed_at,tier\n"
              "a,s,2026-10-01,Tier 1\nb,s,2026-10-01,T2\nc,s,2026-10-01,tier-3\nd,s,2026-10-01,1\n"
              "e,s,2026-10-01,Critical\n")
    kpis.ingest_files(con, [p])
    got = dict(con.execute("SELECT deployment_id, tier FROM deployments").fetchall())
    assert got == {"a": "tier-1", "b": "tier-2", "c": "tier-3", "d": "tier-1", "e": "critical"}
