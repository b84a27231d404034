"""The ingest door (issue 16): implausible dates, file names read as patterns,
oversized or malformed files, and the reasons given for broken CSV.

Each case checks what the user reads (file, row, column, reason) and that the
database is exactly as before.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import tomllib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

import kpis
from kpis import ingest
from kpis.__main__ import main
from kpis.ingest import reading

EXPORTS = Path(__file__).parent / "data" / "exports"
ROOT = Path(__file__).resolve().parent.parent
WINDOW = (date(2000, 1, 1), date(2027, 11, 25))
HEADER = "deployment_id,service,deployed_at\n"


@pytest.fixture(autouse=True)
def _no_window_from_env(monkeypatch):
    for var in ("KPI_PLAUSIBLE_FROM", "KPI_PLAUSIBLE_TO", "KPI_MAX_COLUMNS", "KPI_MAX_LINE_BYTES",
                "KPI_MAX_JSON_DEPTH"):
        monkeypatch.delenv(var, raising=False)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def state(con) -> tuple:
    """Everything an ingest could change."""
    return tuple(con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                 for t in ("deployments", "incidents", "costs", "quarantine", "ingest_log"))


@pytest.fixture
def con(tmp_path):
    c = kpis.connect(tmp_path / "kpi.duckdb")
    kpis.ingest_files(c, [write(tmp_path / "first.csv", HEADER + "d-0,feed,2026-10-01T10:00:00Z\n")])
    yield c
    c.close()


def rejected(con, files, **kw) -> list[str]:
    """Ingest that must be refused without changing anything; returns the problems as text."""
    before = state(con)
    with pytest.raises(ingest.IngestError) as e:
        kpis.ingest_files(con, files, **kw)
    assert state(con) == before
    con.execute("SELECT 1").fetchone()  # the connection is still usable
    return [str(err) for err in e.value.errors]


# --------------------------------------------------------------------------- plausible window


@pytest.mark.parametrize("value, word", [
    ("0000-01-01T00:00:00Z", "before"),
    ("9999-12-31T23:59:59Z", "after"),
    ("1500-06-01T00:00:00Z", "before"),
    ("9998-01-01T00:00:00Z", "after"),
])
def test_the_issues_timestamps_are_rejected_with_file_row_and_column(con, tmp_path, value, word):
    f = write(tmp_path / "deploys.csv", HEADER + "d-1,feed,2026-10-02T10:00:00Z\n" + f"d-2,feed,{value}\n")
    problems = rejected(con, [f])
    hi = datetime.now(timezone.utc).date()
    hi = hi.replace(year=hi.year + 1) if not (hi.month == 2 and hi.day == 29) else hi + timedelta(days=365)
    var = "KPI_PLAUSIBLE_FROM" if word == "before" else "KPI_PLAUSIBLE_TO"
    assert problems == [f"deploys.csv, row 2, column deployed_at: '{value}' is {word} the plausible window "
                        f"(2000-01-01 to {hi.isoformat()}); set {var} to widen it"]


def test_the_window_edges_are_inside_and_one_step_beyond_is_not(con, tmp_path):
    inside = write(tmp_path / "inside.csv", HEADER + "d-1,feed,2000-01-01T00:00:00Z\n"
                                                     "d-2,feed,2027-11-25T23:59:59.999999Z\n")
    reports = kpis.ingest_files(con, [inside], plausible=WINDOW)
    assert reports[0].inserted == 2
    outside = write(tmp_path / "outside.csv", HEADER + "d-3,feed,1999-12-31T23:59:59Z\n"
                                                       "d-4,feed,2027-11-26T00:00:00Z\n")
    assert rejected(con, [outside], plausible=WINDOW) == [
        "outside.csv, row 1, column deployed_at: '1999-12-31T23:59:59Z' is before the plausible window "
        "(2000-01-01 to 2027-11-25); set KPI_PLAUSIBLE_FROM to widen it",
        "outside.csv, row 2, column deployed_at: '2027-11-26T00:00:00Z' is after the plausible window "
        "(2000-01-01 to 2027-11-25); set KPI_PLAUSIBLE_TO to widen it",
    ]


def test_the_window_is_read_from_the_environment(con, tmp_path, monkeypatch):
    f = write(tmp_path / "old.csv", HEADER + "d-1,feed,1995-05-05T00:00:00Z\n")
    assert "is before the plausible window (2000-01-01" in rejected(con, [f])[0]
    monkeypatch.setenv("KPI_PLAUSIBLE_FROM", "1990-01-01")
    assert kpis.ingest_files(con, [f])[0].inserted == 1
    assert ingest.plausible_window() == (date(1990, 1, 1), ingest.plausible_window(None, None)[1])
    monkeypatch.setenv("KPI_PLAUSIBLE_TO", "soon")
    with pytest.raises(ValueError, match="KPI_PLAUSIBLE_TO must be a date"):
        ingest.plausible_window()


def test_dates_are_bounded_too_and_other_timestamp_columns(con, tmp_path):
    costs = write(tmp_path / "costs.csv", "date,amount,service\n2026-10-01,5,feed\n2500-01-01,5,feed\n")
    assert rejected(con, [costs]) == [
        f"costs.csv, row 2, column date: '2500-01-01' is after the plausible window (2000-01-01 to "
        f"{ingest.plausible_window()[1]}); set KPI_PLAUSIBLE_TO to widen it"]
    incidents = write(tmp_path / "inc.csv", "incident_id,service,started_at,resolved_at\n"
                                            "i-1,feed,2026-10-01T00:00:00Z,9999-01-01T00:00:00Z\n")
    assert "row 1, column resolved_at: '9999-01-01T00:00:00Z' is after" in rejected(con, [incidents])[0]
    runs = write(tmp_path / "runs.csv", "run_id,pipeline,kind,status,started_at\nr-1,p,training,success,"
                                        "1970-01-01T00:00:00Z\n")
    assert "row 1, column started_at: '1970-01-01T00:00:00Z' is before" in rejected(con, [runs])[0]


def test_epoch_seconds_and_parquet_timestamps_are_checked_as_well(con, tmp_path):
    epoch = write(tmp_path / "epoch.csv", HEADER + "d-1,feed,100000000\n")  # 1973-03-03
    assert "column deployed_at: '100000000' is before the plausible window" in rejected(con, [epoch])[0]
    pq = tmp_path / "deploys.parquet"
    duckdb.connect().execute(
        f"COPY (SELECT 'd-1' AS deployment_id, 'feed' AS service, TIMESTAMP '1500-01-01 00:00:00' AS deployed_at "
        f"UNION ALL SELECT 'd-2', 'feed', TIMESTAMP '2026-10-01 00:00:00') TO '{pq}' (FORMAT parquet)")
    assert rejected(con, [pq]) == [
        "deploys.parquet, row 1, column deployed_at: '1500-01-01 00:00:00' is before the plausible window "
        f"(2000-01-01 to {ingest.plausible_window()[1]}); set KPI_PLAUSIBLE_FROM to widen it"]


def test_skip_bad_rows_quarantines_an_implausible_row_and_loads_the_rest(con, tmp_path):
    f = write(tmp_path / "mixed.csv", HEADER + "d-1,feed,2026-10-02T10:00:00Z\nd-2,feed,9999-12-31T23:59:59Z\n")
    rep = kpis.ingest_files(con, [f], skip_bad_rows=True)[0]
    assert (rep.inserted, rep.rejected) == (1, 1)
    assert "row 2, column deployed_at: '9999-12-31T23:59:59Z' is after" in str(rep.errors[0])
    assert con.execute("SELECT deployment_id FROM deployments ORDER BY 1").fetchall() == [("d-0",), ("d-1",)]
    reason = con.execute("SELECT reasons FROM quarantine").fetchone()[0]
    assert reason.startswith("deployed_at: '9999-12-31T23:59:59Z' is after the plausible window")


def test_a_preset_export_is_checked_csv_and_json(con, tmp_path):
    text = (EXPORTS / "pagerduty.csv").read_text().replace("2026-10-02T10:00:00+00:00", "1500-10-02T10:00:00+00:00")
    pd_csv = write(tmp_path / "pagerduty.csv", text)
    problems = rejected(con, [pd_csv])
    assert any("pagerduty.csv, row 1, column started_at:" in p and "before the plausible window" in p
               for p in problems), problems
    doc = (EXPORTS / "opsgenie.json").read_text().replace("2026-10-03T09:30:00.000Z", "9999-10-03T09:30:00.000Z")
    og = write(tmp_path / "opsgenie.json", doc)
    problems = rejected(con, [og])
    assert any("opsgenie.json, row 1, column detected_at:" in p and "after the plausible window" in p
               for p in problems), problems


def test_the_cli_reads_the_window_from_the_environment(con, tmp_path, monkeypatch, capsys):
    db = tmp_path / "kpi.duckdb"
    con.close()
    f = write(tmp_path / "future.csv", HEADER + "d-9,feed,2035-01-01T00:00:00Z\n")
    assert main(["ingest", str(f), "--db", str(db)]) == 2
    assert "future.csv, row 1, column deployed_at: '2035-01-01T00:00:00Z' is after" in capsys.readouterr().err
    monkeypatch.setenv("KPI_PLAUSIBLE_TO", "2040-12-31")
    assert main(["ingest", str(f), "--db", str(db)]) == 0
    monkeypatch.setenv("KPI_PLAUSIBLE_TO", "1999-01-01")
    assert main(["ingest", str(f), "--db", str(db)]) == 2
    assert "starts (2000-01-01) after it ends (1999-01-01)" in capsys.readouterr().err


# --------------------------------------------------------------------------- literal paths


def test_a_name_with_brackets_reads_that_file_not_the_pattern(con, tmp_path):
    write(tmp_path / "deployments1.csv", HEADER + "from-1,feed,2026-10-02T10:00:00Z\n")
    named = write(tmp_path / "deployments[12].csv", HEADER + "from-brackets,feed,2026-10-03T10:00:00Z\n")
    rep = kpis.ingest_files(con, [str(named)])[0]
    assert (rep.file, rep.inserted) == ("deployments[12].csv", 1)
    assert con.execute("SELECT deployment_id, source_file FROM deployments WHERE deployment_id <> 'd-0'"
                       ).fetchall() == [("from-brackets", "deployments[12].csv")]
    assert con.execute("SELECT file_name, file_path FROM ingest_log ORDER BY batch_id DESC LIMIT 1"
                       ).fetchone() == ("deployments[12].csv", str(named))


def test_a_star_in_a_folder_reads_no_siblings(con, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    write(folder / "dep*.csv", HEADER + "star,feed,2026-10-02T10:00:00Z\n")
    write(folder / "dep_a.csv", HEADER + "a,feed,2026-10-03T10:00:00Z\n")
    write(folder / "dep?.csv", HEADER + "question,feed,2026-10-04T10:00:00Z\n")
    reports = kpis.ingest_files(con, [folder])
    assert sorted((r.file, r.inserted) for r in reports) == [("dep*.csv", 1), ("dep?.csv", 1), ("dep_a.csv", 1)]
    assert con.execute("SELECT source_file, deployment_id FROM deployments WHERE deployment_id <> 'd-0' "
                       "ORDER BY 1").fetchall() == [("dep*.csv", "star"), ("dep?.csv", "question"),
                                                    ("dep_a.csv", "a")]


def test_every_reader_takes_the_name_literally(con, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    folder = tmp_path / "in[1]"
    folder.mkdir()
    write(tmp_path / "in1.csv", "not, this\n")
    gz = folder / "deploys*.csv.gz"
    gz.write_bytes(gzip.compress((HEADER + "gz,feed,2026-10-02T10:00:00Z\n").encode()))
    pq = folder / "deploys[1].parquet"
    duckdb.connect().execute(f"COPY (SELECT 'pq' AS deployment_id, 'feed' AS service, "
                             f"TIMESTAMP '2026-10-05 00:00:00' AS deployed_at) TO '{scratch / 'x.parquet'}' "
                             f"(FORMAT parquet)")
    (scratch / "x.parquet").rename(pq)
    js = folder / "opsgenie[1].json"
    js.write_bytes((EXPORTS / "opsgenie.json").read_bytes())
    reports = kpis.ingest_files(con, [gz, pq, js])
    assert [(r.file, r.kind, r.rows_read) for r in reports] == [
        ("deploys*.csv.gz", "deployments", 1), ("deploys[1].parquet", "deployments", 1),
        ("opsgenie[1].json", "incidents", 3)]
    assert list(scratch.iterdir()) == []  # the plain-named links are gone


# --------------------------------------------------------------------------- limits


def test_a_hundred_thousand_columns_are_refused_in_well_under_a_second(con, tmp_path):
    f = tmp_path / "wide.csv"
    f.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n" + ",".join("1" * 100_000) + "\n")
    started = time.perf_counter()
    problems = rejected(con, [f])
    assert time.perf_counter() - started < 1.0
    assert problems == ["wide.csv: the header has 100,000 columns, more than the limit of 1,000; "
                        "set KPI_MAX_COLUMNS to raise it"]


def test_the_column_limit_is_configurable_and_counts_quoted_names_once(con, tmp_path, monkeypatch):
    f = write(tmp_path / "d.csv", 'deployment_id,service,deployed_at,"team, name"\nd-1,feed,2026-10-02,t\n')
    monkeypatch.setenv("KPI_MAX_COLUMNS", "4")
    assert kpis.ingest_files(con, [f])[0].inserted == 1
    monkeypatch.setenv("KPI_MAX_COLUMNS", "3")
    assert rejected(con, [write(tmp_path / "e.csv", HEADER.replace("\n", ",team\n") + "d-2,feed,2026-10-02,t\n")]
                    ) == ["e.csv: the header has 4 columns, more than the limit of 3; set KPI_MAX_COLUMNS to raise it"]
    monkeypatch.setenv("KPI_MAX_COLUMNS", "many")
    with pytest.raises(ValueError, match="KPI_MAX_COLUMNS must be a whole number"):
        kpis.ingest_files(con, [f])


def test_a_parquet_file_with_too_many_columns_is_refused(con, tmp_path, monkeypatch):
    pq = tmp_path / "wide.parquet"
    duckdb.connect().execute(f"COPY (SELECT 'd-1' AS deployment_id, 'feed' AS service, "
                             f"TIMESTAMP '2026-10-05 00:00:00' AS deployed_at, 1 AS a, 2 AS b) TO '{pq}' "
                             f"(FORMAT parquet)")
    monkeypatch.setenv("KPI_MAX_COLUMNS", "4")
    assert rejected(con, [pq]) == ["wide.parquet: the file has 5 columns, more than the limit of 4; "
                                   "set KPI_MAX_COLUMNS to raise it"]


def test_a_json_record_with_too_many_fields_is_refused_quickly(con, tmp_path):
    record = {f"k{i}": 1 for i in range(100_000)} | {"id": "x", "message": "m", "createdAt": "2026-10-01T00:00:00Z"}
    wide = write(tmp_path / "wide.json", json.dumps({"data": [record]}))
    started = time.perf_counter()
    problems = rejected(con, [wide], preset="opsgenie")
    assert time.perf_counter() - started < 2.0
    assert problems == ["wide.json: a record has 100,003 fields, more than the limit of 1,000; "
                        "set KPI_MAX_COLUMNS to raise it"]


def test_over_long_lines_say_so(con, tmp_path, monkeypatch):
    monkeypatch.setenv("KPI_MAX_LINE_BYTES", "1000")
    header = write(tmp_path / "h.csv", HEADER.rstrip("\n") + "," + "x" * 2000 + "\nd-1,feed,2026-10-02,1\n")
    assert rejected(con, [header]) == ["h.csv: the header (line 1) is longer than the limit of 1,000 bytes; "
                                       "set KPI_MAX_LINE_BYTES to raise it"]
    body = write(tmp_path / "b.csv", HEADER + "d-1,feed,2026-10-02T00:00:00Z\nd-2," + "y" * 3000
                 + ",2026-10-02T00:00:00Z\n")
    problems = rejected(con, [body])
    assert len(problems) == 1 and problems[0].startswith(
        "b.csv, row 2: the line is longer than the limit of 1,000 bytes")
    assert problems[0].endswith("set KPI_MAX_LINE_BYTES to raise it")


def test_the_default_line_limit_reports_the_reason(con, tmp_path):
    body = write(tmp_path / "long.csv", HEADER + "d-1,feed," + "z" * 3_000_000 + "\n")
    problems = rejected(con, [body])
    assert len(problems) == 1
    assert problems[0].startswith("long.csv, row 1: the line is longer than the limit of 1,048,576 bytes")


def test_deep_json_is_refused_before_duckdb_and_the_connection_lives(con, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('[{"a": ' + "[" * 100_000 + "]" * 100_000 + "}]")
    for kw in ({}, {"preset": "opsgenie"}):
        assert rejected(con, [deep], **kw) == [
            "deep.json: the JSON is nested deeper than the limit of 64 levels (line 1); "
            "set KPI_MAX_JSON_DEPTH to raise it"]
    assert kpis.ingest_files(con, [EXPORTS / "opsgenie.json"])[0].rows_read == 3


def test_the_depth_check_counts_brackets_outside_strings_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "_JSON_CHUNK", 7)  # strings and escapes cut by block ends
    limits = ingest.Limits(max_json_depth=3)
    ok = tmp_path / "ok.json"
    ok.write_text('{"a": "[[[[[[ \\" {{{{", "b": [[1]]}\n{"c": {"d": ["]]]]"]}}\n')
    reading._check_json_depth(ok, "ok.json", limits)
    deep = tmp_path / "deep.ndjson"
    deep.write_text('{"a": "[[[["}\n{"b": [[1]]}\n{"c": [[["x"]]]}\n')
    with pytest.raises(ingest.IngestError, match=r"deeper than the limit of 3 levels \(line 3\)"):
        reading._check_json_depth(deep, "deep.ndjson", limits)


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@pytest.mark.parametrize("chunk", [5, 64, 8 << 20])
def test_the_depth_check_agrees_with_a_parser_on_random_documents(tmp_path, monkeypatch, chunk):
    import random

    monkeypatch.setattr(reading, "_JSON_CHUNK", chunk)
    rnd = random.Random(chunk)
    tricky = ['[', ']', '{', '}', '"', '\\', '\\"', '"[', ']"', 'x', '', ' ', '\\\\']

    def value(level):
        roll = rnd.random()
        if level > 6 or roll < 0.3:
            return "".join(rnd.choice(tricky) for _ in range(rnd.randint(0, 6)))
        if roll < 0.65:
            return [value(level + 1) for _ in range(rnd.randint(0, 3))]
        return {"".join(rnd.choice(tricky) for _ in range(3)) + str(i): value(level + 1)
                for i in range(rnd.randint(0, 3))}

    for i in range(60):
        docs = [value(0) for _ in range(rnd.randint(1, 4))]
        depth = max(map(_depth, docs))
        f = tmp_path / f"doc{i}.json"
        if i % 3 == 0:
            f.write_text("\n".join(json.dumps(d) for d in docs) + "\n")  # NDJSON
        elif i % 3 == 1:
            f.write_text(json.dumps(docs, indent=2))
        else:
            f.write_text(json.dumps(docs, separators=(",", ":")))  # minified: no line break at all
            depth = _depth(docs)
        if i % 3 == 1:
            depth = _depth(docs)
        reading._check_json_depth(f, f.name, ingest.Limits(max_json_depth=max(depth, 1)))
        if depth > 1:
            with pytest.raises(ingest.IngestError, match="nested deeper than the limit"):
                reading._check_json_depth(f, f.name, ingest.Limits(max_json_depth=depth - 1))


@pytest.fixture
def broken_ndjson(tmp_path) -> Path:
    lines = (EXPORTS / "mlflow.ndjson").read_text().splitlines()
    lines[2] = lines[2][:40]  # the third record is cut short
    return write(tmp_path / "models.ndjson", "\n".join(lines) + "\n")


def test_broken_ndjson_with_a_preset_names_the_line(con, broken_ndjson):
    for kw in ({}, {"preset": "mlflow"}):
        problems = rejected(con, [broken_ndjson], **kw)
        assert len(problems) == 1 and problems[0].startswith("models.ndjson: not valid JSON at line 3, column "), \
            problems


def test_broken_ndjson_in_the_cli_is_a_message_not_a_traceback(tmp_path, broken_ndjson, capsys):
    code = main(["ingest", str(broken_ndjson), "--preset", "mlflow", "--db", str(tmp_path / "cli.duckdb")])
    err = capsys.readouterr().err
    assert code == 2
    assert "models.ndjson: not valid JSON at line 3, column" in err and "Traceback" not in err


@pytest.mark.parametrize("case", ["broken ndjson", "deep json"])
def test_malformed_json_on_the_data_page_is_shown_not_raised(sample_db, tmp_path, broken_ndjson, case):
    import shutil

    from test_app import run_app

    if case == "broken ndjson":
        upload = ("models.ndjson", broken_ndjson.read_bytes(), "application/x-ndjson")
        preset, reason = "mlflow", "not valid JSON at line 3, column "
    else:
        upload = ("deep.json", ('{"a": ' + "[" * 50_000 + "]" * 50_000 + "}").encode(), "application/json")
        preset, reason = "opsgenie", "the JSON is nested deeper than the limit of 64 levels (line 1)"
    db = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, db)
    stamp = db.stat().st_mtime_ns
    old = os.environ.get("KPI_DB")
    try:
        at = run_app(db, "app_pages/data.py")
        at.selectbox(key="upload_preset").set_value(preset)
        at.file_uploader[0].upload(*upload)
        at.run()
    finally:
        os.environ.pop("KPI_DB", None) if old is None else os.environ.__setitem__("KPI_DB", old)
    assert not at.exception, [e.value for e in at.exception]
    assert any("problem(s) found" in e.value for e in at.error)
    report = at.dataframe[-2].value
    assert report.loc[0, "file"] == upload[0]
    assert report.loc[0, "reason"].startswith(reason)
    assert at.button(key="ingest").disabled
    assert db.stat().st_mtime_ns == stamp


def test_uploads_are_capped_at_200_mb_and_the_readme_says_how_to_raise_it():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == 200
    readme = (ROOT / "README.md").read_text()
    assert "maxUploadSize" in readme
    for var in ("KPI_MAX_COLUMNS", "KPI_MAX_LINE_BYTES", "KPI_MAX_JSON_DEPTH", "KPI_PLAUSIBLE_FROM",
                "KPI_PLAUSIBLE_TO"):
        assert var in readme, var


# --------------------------------------------------------------------------- CSV structure


def test_an_unbalanced_quote_is_reported_as_such_with_its_row(con, tmp_path):
    f = write(tmp_path / "quote.csv", HEADER + 'd-1,feed,2026-10-02T00:00:00Z\nd-2,"feed,2026-10-02T00:00:00Z\n'
                                               "d-3,feed,2026-10-02T00:00:00Z\n")
    assert rejected(con, [f]) == ['quote.csv, row 2: a value opens a quote (") that is not closed before the end '
                                  'of the file; quote characters inside a value must be doubled ("")']


@pytest.mark.parametrize("row, found, hint", [
    ("d-2,feed,2026-10-02T00:00:00Z,extra", 4, "an unquoted delimiter in a value?"),
    ("d-2,feed", 2, "a missing value or delimiter?"),
])
def test_a_ragged_row_is_reported_with_its_row_and_field_counts(con, tmp_path, row, found, hint):
    f = write(tmp_path / "ragged.csv", HEADER + "d-1,feed,2026-10-02T00:00:00Z\n" + row + "\n")
    assert rejected(con, [f]) == [f"ragged.csv, row 2: wrong number of fields: the row has {found}, "
                                  f"the header has 3 ({hint})"]


def test_a_file_that_is_not_utf8_still_says_so(con, tmp_path):
    f = tmp_path / "latin.csv"
    f.write_bytes((HEADER + "d-1,caf\xe9,2026-10-02T00:00:00Z\n").encode("latin-1"))
    problems = rejected(con, [f])
    assert problems == ["latin.csv, row 1: the file is not UTF-8 encoded (save it as UTF-8 and ingest again)"]


@pytest.mark.parametrize("header, shown", [
    ("deployment_id,service,deployed_at,service", "'service' and 'service'"),
    ("deployment_id,Service,deployed_at, service ", "'Service' and 'service'"),
])
def test_a_repeated_header_column_is_refused_naming_it(con, tmp_path, header, shown):
    f = write(tmp_path / "dup.csv", header + "\nd-1,a,2026-10-02T00:00:00Z,b\n")
    assert rejected(con, [f]) == [f"dup.csv: the header repeats a column name (names are matched ignoring case "
                                  f"and spaces): {shown}; rename or remove the copies"]


@pytest.mark.parametrize("column, value, kind", [
    ("service", "{'name': 'feed'}", "text"),
    ("service", "['feed']", "text"),
    ("team", "MAP {'a': 'b'}", "text"),
    ("deployed_at", "[TIMESTAMP '2026-10-01']", "timestamp"),
])
def test_nested_parquet_values_are_refused(con, tmp_path, column, value, kind):
    cols = {"deployment_id": "'d-1'", "service": "'feed'", "deployed_at": "TIMESTAMP '2026-10-01'", "team": "'t'"}
    cols[column] = value
    pq = tmp_path / "nested.parquet"
    scratch = duckdb.connect()
    scratch.execute(f"COPY (SELECT {', '.join(f'{v} AS {k}' for k, v in cols.items())}) TO '{pq}' (FORMAT parquet)")
    typ = scratch.execute(f"SELECT typeof({value})").fetchone()[0]
    assert rejected(con, [pq]) == [f"nested.parquet, row 1, column {column}: Parquet type {typ} is nested "
                                   f"(a STRUCT, LIST or MAP); a {kind} column needs a plain value (every row)"]


def test_an_export_that_repeats_a_column_on_purpose_still_loads(con, tmp_path):
    # Jira writes one Component/s column per component; its preset reads the first.
    rep = kpis.ingest_files(con, [EXPORTS / "jira-sm.csv"])[0]
    assert rep.mapping == "jira-sm" and rep.inserted > 0
