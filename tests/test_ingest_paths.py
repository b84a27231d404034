"""The two ways a file is loaded give the same rows.

A clean file streams straight into its table (CSV numbers, dates and timestamps
typed by DuckDB's CSV reader); a file with any problem, or a spelling the typed
reader does not take, goes through the staged path that reads everything as
text. These tests load the same files both ways and compare, and check the
cases where the streaming pass has to give way.
"""

from __future__ import annotations

import hashlib

import duckdb
import pytest

import kpis
from kpis import db, ingest
from kpis.ingest import loading, parsing

TABLES = ("deployments", "incidents", "costs", "predictions")


def canonical_rows(con, table):
    return con.execute(f"SELECT * EXCLUDE (batch_id, source_row) FROM {table} ORDER BY ALL").fetchall()


def load(tmp_path, name, files, monkeypatch=None, staged=False, **kw):
    """Load ``files`` into a new database; ``staged`` forces the staged path."""
    calls = []
    real = loading._stream_into_table

    def spy(*a, **k):
        calls.append(1)
        return None if staged else real(*a, **k)

    if monkeypatch is not None:
        monkeypatch.setattr(loading, "_stream_into_table", spy)
    con = kpis.connect(tmp_path / f"{name}.duckdb")
    reports = kpis.ingest_files(con, files, **kw)
    return con, reports, calls


MESSY_DEPLOYMENTS = (
    "deployment_id,service,deployed_at,status,environment,tier,is_hotfix,caused_regression,"
    "change_started_at,approved_at,rolled_back_at,team,model\n"
    # offsets, Z, naive (read in the source zone), a bare date; enum, tier and bool spellings
    "d1,svc-a,2026-10-31T23:30:00-05:00,SUCCESS,Production,Tier1,TRUE,no,2026-10-30T10:00:00Z,,,ads, m1 \n"
    "d2, svc-b ,2026-10-01 08:00:00,Failed,prod,tier-2,yes,Yes,2026-09-30,2026-09-30 12:00,,search,\n"
    "d3,svc-a,2026-11-01T00:00:00+05:30,rolled_back,production,2,1,0,2026-10-31T09:00:00.250Z,,"
    "2026-11-01T01:00:00+05:30,ads,m1\n"
    "d4,svc-c,2026-12-31,success,staging,TIER 3,false,False,,,,fraud,m2\n"
)

MESSY_INCIDENTS = (
    "incident_id,service,started_at,detected_at,resolved_at,severity,category,ml_related,team,tier\n"
    "i1,svc-a,2026-10-01T10:00:00Z,2026-10-01T10:30:00Z,2026-10-01T12:00:00Z,SEV1,Drift,yes,ads,tier1\n"
    "i2,svc-b,2026-10-02 10:00,2026-10-02 11:00,,P2,data quality,no,search,Tier-2\n"
    "i3,svc-a,2026-10-03T10:00:00+02:00,,2026-10-04T10:00:00+02:00,Critical,infrastructure,True,ads,3\n"
    "i4,svc-c,2026-10-05,2026-10-05,2026-10-06,sev-4,other,1,fraud,t4\n"
)

MESSY_COSTS = (
    "date,amount,service,currency,category,team,run_id,source\n"
    "2026-10-01,12.5,svc-a,USD,Inference,ads,,cur\n"
    "2026-10-01, 7 ,svc-b,,train,search,run-1,cur\n"
    "2026-10-31T23:00:00Z,1e2,svc-a,EUR,serving,ads,, cur \n"
    "2026-11-01,0,svc-c,USD,STORAGE,fraud,,\n"
)

MESSY_PREDICTIONS = (
    "date,service,predictions,errors,latency_p95_ms,availability,good_requests,total_requests,team\n"
    "2026-10-01,svc-a,1000,3,120.5,0.999,997,1000,ads\n"
    "2026-10-02,svc-a,2000.0,0,99,1,2000,2000,ads\n"
    "2026-10-03,svc-b,0,,,,,,search\n"
    "2026-10-04,svc-b,1e3,1,80,0.95,950,1000,search\n"
)


@pytest.fixture
def messy(tmp_path):
    folder = tmp_path / "messy"
    folder.mkdir()
    for name, text in (("deployments.csv", MESSY_DEPLOYMENTS), ("incidents.csv", MESSY_INCIDENTS),
                       ("costs.csv", MESSY_COSTS), ("predictions.csv", MESSY_PREDICTIONS)):
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_streamed_and_staged_csv_loads_agree(tmp_path, messy, monkeypatch, tz):
    fast, _, _ = load(tmp_path, "fast", [messy], source_tz=tz)
    # the streaming pass loaded these files: it leaves a clean CSV's source_row null
    for t in TABLES:
        assert fast.execute(f"SELECT count(*), count(source_row) FROM {t}").fetchone() == (4, 0), t
    staged, _, calls = load(tmp_path, "staged", [messy], monkeypatch, staged=True, source_tz=tz)
    assert len(calls) == 4
    for t in TABLES:
        assert canonical_rows(fast, t) == canonical_rows(staged, t), t
    # the staged path numbers the rows
    assert staged.execute("SELECT list(source_row ORDER BY source_row) FROM deployments").fetchone()[0] == [1, 2, 3, 4]
    # spot checks that the spellings were understood, not just treated alike
    assert fast.execute("SELECT status, environment, tier, is_hotfix FROM deployments WHERE deployment_id = 'd2'"
                        ).fetchone() == ("failed", "production", "tier-2", True)
    assert fast.execute("SELECT service, model FROM deployments WHERE deployment_id = 'd1'").fetchone() == ("svc-a", "m1")
    assert fast.execute("SELECT sum(amount), count(*) FILTER (WHERE currency = 'USD') FROM costs").fetchone() == (
        119.5, 3)  # 12.5 + 7 + 1e2 + 0; the blank currency defaults to USD
    assert fast.execute("SELECT sum(predictions) FROM predictions").fetchone()[0] == 4000  # 1000 + 2000 + 0 + 1000


def test_streamed_and_staged_parquet_loads_agree(tmp_path, monkeypatch):
    p = tmp_path / "deployments.parquet"
    duckdb.execute(
        "COPY (SELECT 'd' || i AS deployment_id, 'svc-' || (i % 3) AS service, "
        "TIMESTAMP '2026-10-31 20:00:00' + INTERVAL (i) HOUR AS deployed_at, "
        "TIMESTAMPTZ '2026-10-30 10:00:00+02' + INTERVAL (i) MINUTE AS change_started_at, "
        "CASE WHEN i % 4 = 0 THEN 'Failed' ELSE 'success' END AS status, i % 2 = 0 AS is_hotfix, "
        f"'Tier' || (i % 3 + 1) AS tier FROM range(50) t(i)) TO '{p}' (FORMAT parquet)")
    fast, _, _ = load(tmp_path, "fast", [p], source_tz="America/New_York")
    staged, _, _ = load(tmp_path, "staged", [p], monkeypatch, staged=True, source_tz="America/New_York")
    assert canonical_rows(fast, "deployments") == canonical_rows(staged, "deployments")
    # Parquet rows keep their row numbers in both
    assert fast.execute("SELECT min(source_row), max(source_row) FROM deployments").fetchone() == (1, 50)
    # the naive Parquet timestamp is read in the source zone: 20:00 New York = 00:00 UTC next day
    assert str(fast.execute("SELECT deployed_at FROM deployments WHERE deployment_id = 'd0'").fetchone()[0]) == (
        "2026-11-01 00:00:00")


def test_epoch_timestamps_load_through_the_text_path(tmp_path):
    # the typed CSV reader does not take epoch numbers; the text path does
    p = tmp_path / "epochs.csv"
    p.write_text("deployment_id,service,deployed_at\n"
                 "e1,s,1790000000\n"          # epoch seconds
                 "e2,s,1790000000500\n"       # epoch milliseconds
                 "e3,s,2026-09-21T14:13:20Z\n")
    con = kpis.connect(tmp_path / "k.duckdb")
    (rep,) = kpis.ingest_files(con, [p])
    assert (rep.rows_read, rep.inserted) == (3, 3)
    rows = con.execute("SELECT deployment_id, deployed_at::VARCHAR, source_row FROM deployments ORDER BY 1").fetchall()
    # 1,790,000,000 s after 1970-01-01 is 2026-09-21 14:13:20 UTC
    assert rows == [("e1", "2026-09-21 14:13:20", 1), ("e2", "2026-09-21 14:13:20.5", 2),
                    ("e3", "2026-09-21 14:13:20", 3)]


def test_fractional_count_is_rejected_not_rounded(tmp_path):
    # try_cast('4.5' AS BIGINT) and DuckDB's CSV reader both round 4.5 to 5: a count must be whole
    con = kpis.connect(tmp_path / "k.duckdb")
    p = tmp_path / "predictions.csv"
    p.write_text("date,service,predictions\n2026-10-01,s,10\n2026-10-02,s,4.5\n")
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [p])
    (e,) = err.value.errors
    assert (e.row, e.column) == (2, "predictions") and "not a whole number: '4.5'" in e.reason
    assert con.execute("SELECT count(*) FROM predictions").fetchone()[0] == 0


def test_bad_last_row_of_a_long_file(tmp_path):
    # the streaming pass has appended 30,000 rows when it finds the bad one: they all go again
    n = 30_000
    lines = [f"c{i},svc-{i % 7},2026-10-{1 + i % 28:02d}T10:00:00Z" for i in range(1, n)]
    p = tmp_path / "deployments.csv"
    p.write_text("deployment_id,service,deployed_at\n" + "\n".join(lines) + f"\nc{n},svc-1,31/10/2026\n")
    con = kpis.connect(tmp_path / "k.duckdb")
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [p])
    (e,) = err.value.errors
    assert (e.row, e.column) == (n, "deployed_at") and "'31/10/2026'" in e.reason
    assert con.execute("SELECT count(*) FROM deployments").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM ingest_log").fetchone()[0] == 0

    (rep,) = kpis.ingest_files(con, [p], skip_bad_rows=True)
    assert (rep.rows_read, rep.inserted, rep.rejected) == (n, n - 1, 1)
    assert con.execute("SELECT count(*), count(DISTINCT deployment_id) FROM deployments").fetchone() == (n - 1, n - 1)
    assert con.execute("SELECT source_row FROM quarantine").fetchone()[0] == n


def test_repeated_id_in_a_clean_file_is_reported(tmp_path):
    p = tmp_path / "deployments.csv"
    p.write_text("deployment_id,service,deployed_at\nx1,s,2026-10-01\nx2,s,2026-10-02\nx1,s,2026-10-03\n")
    con = kpis.connect(tmp_path / "k.duckdb")
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [p])
    (e,) = err.value.errors
    assert (e.row, e.column) == (3, "deployment_id") and "first on row 1" in e.reason


def test_files_of_one_batch_are_one_export(tmp_path):
    # the files of one batch never replace each other's rows (a bill split into two files loads whole);
    # the same two files in a later batch replace the first batch's rows of their source and dates
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("date,amount,service,source\n2026-10-01,10,s1,cur\n2026-10-02,20,s1,cur\n")
    b.write_text("date,amount,service,source\n2026-10-02,25,s1,cur\n2026-10-03,30,s1,cur\n")
    con = kpis.connect(tmp_path / "k.duckdb")
    reports = kpis.ingest_files(con, [a, b])
    assert [(r.inserted, r.updated, r.removed) for r in reports] == [(2, 0, 0), (2, 0, 0)]
    assert con.execute("SELECT list(amount ORDER BY date, amount) FROM costs").fetchone()[0] == [10.0, 20.0, 25.0,
                                                                                                   30.0]


def test_a_different_file_of_the_same_size_is_loaded(tmp_path):
    con = kpis.connect(tmp_path / "k.duckdb")
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("deployment_id,service,deployed_at\nd1,s,2026-10-01\n")
    b.write_text("deployment_id,service,deployed_at\nd2,s,2026-10-01\n")
    assert a.stat().st_size == b.stat().st_size
    kpis.ingest_files(con, [a])
    (rep,) = kpis.ingest_files(con, [b])
    assert rep.status == "loaded"
    (again,) = kpis.ingest_files(con, [b])
    assert again.status == "skipped" and "identical to b.csv" in again.message
    hashes = con.execute("SELECT file_name, content_hash, file_size FROM ingest_log ORDER BY batch_id").fetchall()
    assert hashes[0][1] != hashes[1][1] and hashes[1][1] == hashes[2][1] == ingest.file_hash(b)
    assert {h[2] for h in hashes} == {a.stat().st_size}


def test_a_file_logged_with_its_sha256_before_blake3_is_still_a_repeat(tmp_path):
    con = kpis.connect(tmp_path / "k.duckdb")
    p = tmp_path / "d.csv"
    p.write_text("deployment_id,service,deployed_at\nd1,s,2026-10-01\n")
    kpis.ingest_files(con, [p])
    (logged,) = con.execute("SELECT content_hash FROM ingest_log").fetchone()
    assert logged == ingest.file_hash(p) == ingest.content_hash(p.read_bytes())
    assert logged.startswith(ingest.HASH_PREFIX) and logged != ingest.legacy_hash(p.read_bytes())
    # as a database from before BLAKE3 holds it: the file's SHA-256, without a prefix
    con.execute("UPDATE ingest_log SET content_hash = ?", [hashlib.sha256(p.read_bytes()).hexdigest()])
    (again,) = kpis.ingest_files(con, [p])
    assert again.status == "skipped" and "identical to d.csv" in again.message
    assert con.execute("SELECT count(*) FROM deployments").fetchone()[0] == 1
    # a file of the same size and other content is no repeat of it
    q = tmp_path / "e.csv"
    q.write_text("deployment_id,service,deployed_at\nd2,s,2026-10-01\n")
    (other,) = kpis.ingest_files(con, [q])
    assert other.status == "loaded" and con.execute("SELECT count(*) FROM deployments").fetchone()[0] == 2
    con.close()


def test_database_from_before_file_size_gains_the_column(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(db.INGEST_LOG_DDL.replace(", file_size BIGINT", ""))
    con.execute("INSERT INTO ingest_log (batch_id, file_name, content_hash, status) VALUES (1, 'x.csv', 'abc', 'loaded')")
    con.close()
    con = kpis.connect(path)
    p = tmp_path / "d.csv"
    p.write_text("deployment_id,service,deployed_at\nd1,s,2026-10-01\n")
    (rep,) = kpis.ingest_files(con, [p])
    assert rep.status == "loaded"
    assert con.execute("SELECT count(*), count(file_size) FROM ingest_log").fetchone() == (2, 1)


def test_unreadable_file_in_a_batch_is_named_alone(tmp_path):
    good = tmp_path / "good.csv"
    bad = tmp_path / "latin1.csv"
    good.write_text("deployment_id,service,deployed_at\ng1,s,2026-10-01\n")
    bad.write_bytes("deployment_id,service,deployed_at\nd1,caf\xe9,2026-10-01\n".encode("latin-1"))
    con = kpis.connect(tmp_path / "k.duckdb")
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [bad, good])
    assert [e.file for e in err.value.errors] == ["latin1.csv"]
    assert "UTF-8" in err.value.errors[0].reason
    assert con.execute("SELECT count(*) FROM deployments").fetchone()[0] == 0


def test_cheap_text_cleaning_equals_nullif_trim():
    # _clean_text_sql skips trim() when there is nothing to strip; it must give nullif(trim(x), '')
    import random

    rng = random.Random(7)
    chars = [" ", "\u00a0", "\u3000", "\u2009", "\t", "\x01", "a", "é", "x", "-", "!"]
    values = ["", " ", "!", "! ", None] + ["".join(rng.choice(chars) for _ in range(rng.randint(0, 6)))
                                          for _ in range(5000)]
    con = duckdb.connect()
    con.execute("CREATE TABLE v (x VARCHAR)")
    con.executemany("INSERT INTO v VALUES (?)", [[v] for v in values])
    differ = con.execute(f"SELECT count(*) FROM v WHERE ({parsing._clean_text_sql('x')}) "
                         "IS DISTINCT FROM nullif(trim(x), '')").fetchone()[0]
    assert differ == 0


@pytest.mark.parametrize("setting", [True, False])
def test_a_streamed_file_lands_whole_in_any_order_and_the_setting_is_restored(tmp_path, setting):
    # the streaming INSERT lets DuckDB's threads append in their own order (kpis.ingest.loading._any_order):
    # every row lands with its own values, and the connection's preserve_insertion_order is as it was
    n = 200_000  # several of the CSV reader's buffers, so both threads take part
    p = tmp_path / "costs.csv"
    p.write_text("date,amount,service,run_id\n" + "".join(
        f"2026-{1 + i % 12:02d}-{1 + i % 28:02d},{i % 1000}.25,svc-{i % 7},r{i}\n" for i in range(n)))
    con = kpis.connect(tmp_path / "k.duckdb")
    con.execute("SET threads = 2")
    con.execute(f"SET preserve_insertion_order = {str(setting).lower()}")
    (rep,) = kpis.ingest_files(con, [p])
    assert (rep.rows_read, rep.inserted) == (n, n)
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is setting
    # sum of (i % 1000) over i < 200,000 is 200 x (0 + ... + 999) = 99,900,000; plus 0.25 per row = 50,000
    assert con.execute("SELECT count(*), count(DISTINCT run_id), sum(amount) FROM costs").fetchone() == (
        n, n, 99_950_000.0)
    # each row keeps its own values: r123457 is i = 123,457 = 12 x 10,288 + 1 = 28 x 4,409 + 5 = 7 x 17,636 + 5:
    # month 1 + 1 = 2, day 1 + 5 = 6, amount 457.25, svc-5
    assert con.execute("SELECT date::VARCHAR, amount, service FROM costs WHERE run_id = 'r123457'").fetchone() == (
        "2026-02-06", 457.25, "svc-5")


def test_an_error_inside_the_any_order_insert_is_reported_as_itself_and_the_setting_restored(tmp_path, monkeypatch):
    # an error in the streaming INSERT (a reader error) aborts the batch's transaction, where no setting can be
    # changed: the error must reach the report as itself, and the connection's setting come back after the rollback
    real = loading._typed_select

    def failing(*a, **k):
        return f"SELECT * FROM ({real(*a, **k)}) WHERE error('injected reader error') IS NULL"

    monkeypatch.setattr(loading, "_typed_select", failing)
    p = tmp_path / "deployments.csv"
    p.write_text("deployment_id,service,deployed_at\nx1,s,2026-10-01\n")
    con = kpis.connect(tmp_path / "k.duckdb")
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(con, [p])
    (e,) = err.value.errors
    assert "injected reader error" in e.reason and "aborted" not in e.reason
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is True
    assert con.execute("SELECT count(*) FROM deployments").fetchone()[0] == 0
