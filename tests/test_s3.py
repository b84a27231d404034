"""Exports where they live: ingest from s3:// and a read-only compute over a Parquet lake in s3://, against a
local S3 emulator (moto's server, started here on 127.0.0.1 on a free port), giving the KPIs of local files."""

from __future__ import annotations

import json
import math

import golden
import pytest

import kpis
from kpis import __main__ as cli
from kpis import engine, ingest

moto_server = pytest.importorskip("moto.server")
s3fs = pytest.importorskip("s3fs")

BUCKET = "kpi-exports"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """An S3 emulator with the golden CSVs under golden/ and the sample's Parquet files under parquet/;
    the credentials chain (environment variables) points at it."""
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
            mp.setenv(k, v)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(k, raising=False)
        s3fs.S3FileSystem.clear_instance_cache()
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        folder = golden.write(tmp_path_factory.mktemp("golden_s3"))
        for f in sorted(folder.iterdir()):
            client.upload_file(str(f), BUCKET, f"golden/{f.name}")
        for name in ("costs.parquet", "predictions.parquet"):
            client.upload_file(str(golden_sample(name)), BUCKET, f"parquet/{name}")
        yield {"client": client, "golden": folder}
        s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


def golden_sample(name: str):
    from conftest import SAMPLE_DIR

    return SAMPLE_DIR / name


def records(con, **kw) -> list[dict]:
    return engine.to_records(engine.compute(con, **kw))


def assert_same(a: list[dict], b: list[dict]) -> int:
    """Same records: the same keys, n and unit, values within a relative 1e-9 (a sum read in another row
    order may differ in its last digit). Returns how many values were compared."""
    assert len(a) == len(b) and a
    for x, y in zip(a, b):
        assert {k: v for k, v in x.items() if k != "value"} == {k: v for k, v in y.items() if k != "value"}
        if x["value"] is None or y["value"] is None:
            assert x["value"] is None and y["value"] is None, (x, y)
        else:
            assert math.isclose(x["value"], y["value"], rel_tol=1e-9, abs_tol=0), (x, y)
    return len(a)


def test_ingest_csv_from_s3_gives_the_kpis_of_the_local_files(s3, tmp_path):
    remote = kpis.connect(tmp_path / "remote.duckdb")
    reports = ingest.ingest(remote, [f"s3://{BUCKET}/golden/"])  # a prefix: every readable object under it
    assert sorted(r.file for r in reports) == [f"s3://{BUCKET}/golden/{n}" for n in sorted(golden.FILES)]
    assert {r.status for r in reports} == {"loaded"}
    logged = remote.execute("SELECT file_path FROM ingest_log ORDER BY file_path").fetchall()
    assert [p for (p,) in logged] == [f"s3://{BUCKET}/golden/{n}" for n in sorted(golden.FILES)]
    local = kpis.connect(tmp_path / "local.duckdb")
    ingest.ingest(local, [s3["golden"]])
    # Hand-worked in test_engine.py: October has 5 successful production deployments of 7 (d1 d2 d4 d5 d7;
    # d3 rolled back, d6 failed; d8 staging, d9 is November in UTC); inference cost 250 USD over 4 lines.
    df = engine.compute(remote, grain="month", kpis=["deployment_count", "inference_cost"])
    oct_ = df[df["period"] == "2026-10"].set_index(["kpi", "unit"])
    assert (oct_.loc[("deployment_count", "count"), "value"], oct_.loc[("deployment_count", "count"), "n"]) == (5, 7)
    assert oct_.loc[("inference_cost", "USD"), "value"] == pytest.approx(250.0)
    for shape in (dict(grain="month", by="team"), dict(grain="quarter", by="service", tz="America/New_York")):
        assert_same(records(remote, **shape), records(local, **shape))
    remote.close()
    local.close()


def test_ingest_parquet_objects_from_s3(s3, tmp_path):
    remote = kpis.connect(tmp_path / "remote.duckdb")
    ingest.ingest(remote, [f"s3://{BUCKET}/parquet/costs.parquet", f"s3://{BUCKET}/parquet/predictions.parquet"])
    local = kpis.connect(tmp_path / "local.duckdb")
    ingest.ingest(local, [golden_sample("costs.parquet"), golden_sample("predictions.parquet")])
    for t in ("costs", "predictions"):
        n = local.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        assert n > 1000 and remote.execute(f"SELECT count(*) FROM {t}").fetchone()[0] == n
    shape = dict(grain="month", by="service", kpis=["inference_cost", "predictions", "cost_per_1k_predictions",
                                                    "latency_p95_ms", "availability"])
    assert_same(records(remote, **shape), records(local, **shape))
    remote.close()
    local.close()


def test_a_missing_object_is_an_error_naming_it_and_the_database_is_unchanged(s3, tmp_path):
    con = kpis.connect(tmp_path / "db.duckdb")
    ingest.ingest(con, [s3["golden"] / "deployments.csv"])
    before = con.execute("SELECT count(*) FROM deployments").fetchone()[0]
    url = f"s3://{BUCKET}/golden/nothing-here.csv"
    with pytest.raises(ingest.IngestError) as err:
        ingest.ingest(con, [s3["golden"] / "incidents.csv", url])
    assert url in str(err.value) and "no such object" in str(err.value)
    assert con.execute("SELECT count(*) FROM deployments").fetchone()[0] == before
    assert con.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0
    con.close()


def test_export_to_s3_and_compute_over_the_lake_read_only(s3, tmp_path, sample_db, capsys):
    """The CLI: export the sample database to s3://, then compute over the Parquet there (DuckDB reads it in
    place through the fsspec filesystem): the same JSON as the database's (sums to 1e-9: other row order)."""
    lake = f"s3://{BUCKET}/lake"
    assert cli.main(["export", "--db", str(sample_db), "--to", lake]) == 0
    out = capsys.readouterr().out
    assert "deployments" in out and f"{lake}/deployments" in out
    keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket=BUCKET, Prefix="lake/")["Contents"]]
    assert any(k.startswith("lake/deployments/month=") and k.endswith(".parquet") for k in keys)
    assert any(k.startswith("lake/ingest_log/") for k in keys)
    compared = 0
    for shape in (["--by", "team"], ["--grain", "quarter", "--by", "service", "--tz", "America/New_York"]):
        assert cli.main(["compute", "--db", str(sample_db), "--format", "json", "--as-of", "none", *shape]) == 0
        local = json.loads(capsys.readouterr().out)
        assert cli.main(["compute", "--lake", lake, "--format", "json", "--as-of", "none", *shape]) == 0
        compared += assert_same(local, json.loads(capsys.readouterr().out))
    assert compared > 1000
    # An export again replaces the earlier one (no file of it is left to be read twice).
    assert cli.main(["export", "--db", str(sample_db), "--to", lake]) == 0
    capsys.readouterr()
    assert cli.main(["compute", "--lake", lake, "--format", "json", "--as-of", "none", "--by", "team"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert cli.main(["compute", "--db", str(sample_db), "--format", "json", "--as-of", "none", "--by", "team"]) == 0
    assert_same(json.loads(capsys.readouterr().out), again)


def test_compute_over_a_missing_lake_says_so(s3, capsys):
    assert cli.main(["compute", "--lake", f"s3://{BUCKET}/no-lake", "--format", "json"]) == 2
    assert "no Parquet files of" in capsys.readouterr().err
