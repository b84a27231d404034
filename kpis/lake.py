"""Exports where they live: object storage URLs and the Parquet lake.

- ``is_url`` / ``filesystem``: s3:// (and gs://, az:// / abfs:// with gcsfs or
  adlfs installed) through fsspec, with each store's usual credentials chain
  (for S3, botocore's: AWS_ACCESS_KEY_ID / AWS_PROFILE / ~/.aws / an instance
  role, and AWS_ENDPOINT_URL for an S3-compatible store).
- ``fetch``: the objects an ingest names (an object, or every .csv / .parquet /
  .json under a prefix), copied to a local folder: the ingest hashes each file
  whole and reads it in one transaction, as it does a local file.
- ``export``: the canonical tables (and the ingest log, which dates model
  snapshots) as Parquet, one folder per table partitioned by month
  (``deployments/month=2026-10/data_0.parquet``), to a folder or a URL: what
  Spark reads (kpis.runners.spark_from_lake) and ``compute --lake`` reads.
- ``connect``: an in-memory DuckDB whose views read such a lake in place
  (a read-only compute).

Why fsspec: DuckDB reads s3:// itself only through its httpfs extension,
which DuckDB downloads from its own extension repository at first use; that
repository is not reachable where this project's CI runs (only package
registries are), and no httpfs wheel on PyPI matches duckdb 2.0.0. DuckDB's
Python client takes any fsspec filesystem (``register_filesystem``) and then
reads (and writes) its URLs with its own readers; s3fs is on PyPI.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import duckdb

from kpis import schema

URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://", re.I)
SCHEMES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
           "abfss": "adlfs"}
# The canonical tables, and the ingest log (a model snapshot without as_of is dated by its batch's ingest).
TABLES = (*schema.TABLES, "ingest_log")
PARTITION = "month"
# The month each table's rows are filed under (a row without that moment under month=none).
_MONTH_OF = {"deployments": "deployed_at", "incidents": "started_at", "costs": "date", "predictions": "date",
             "pipeline_runs": "coalesce(started_at, scheduled_at)", "models": "as_of"}


def is_url(path) -> bool:
    return bool(URL.match(str(path)))


def scheme(url: str) -> str:
    m = URL.match(url)
    if not m or m["scheme"].lower() not in SCHEMES:
        raise ValueError(f"cannot read {url!r}: supported URLs are s3://, gs:// and az:// (or a local path)")
    return m["scheme"].lower()


def filesystem(url: str):
    """The fsspec filesystem for ``url``'s scheme, with the store's default credentials chain."""
    s = scheme(url)
    try:
        import fsspec

        return fsspec.filesystem("s3" if s == "s3a" else s)
    except ImportError:
        raise ValueError(f"reading {s}:// needs the {SCHEMES[s]} package (pip install {SCHEMES[s]})") from None


def fetch(url: str, folder: str, suffixes: tuple[str, ...]) -> dict[str, str]:
    """Copy the object ``url`` names, or the objects under the prefix ``url`` whose names end with one of
    ``suffixes`` (sorted by key), into new subfolders of ``folder``. Returns {local path: object URL}."""
    fs = filesystem(url)
    s = scheme(url)
    try:
        if fs.isfile(url):
            keys = [url]
        else:
            keys = sorted(k for k in fs.find(url) if k.lower().endswith(suffixes))
            keys = [k if is_url(k) else f"{s}://{k}" for k in keys]
    except OSError as e:  # no such bucket, no access (s3fs says which as PermissionError / FileNotFoundError)
        raise OSError(f"cannot list or read it: {type(e).__name__}: {e}") from None
    if not keys:
        raise FileNotFoundError("no such object, and no .csv or .parquet objects under it")
    out: dict[str, str] = {}
    start = len(list(Path(folder).iterdir()))
    for i, key in enumerate(keys):
        local = Path(folder) / f"{start + i:05d}" / key.rstrip("/").rsplit("/", 1)[-1]
        local.parent.mkdir(parents=True)
        try:
            fs.get(key, str(local))
        except OSError as e:
            raise OSError(f"cannot read {key}: {type(e).__name__}: {e}") from None
        out[str(local)] = key
    return out


def table_url(lake: str, table: str) -> str:
    return f"{str(lake).rstrip('/')}/{table}"


def _copy_sql(table: str, target: str) -> str:
    if table in _MONTH_OF:
        month = f"coalesce(strftime({_MONTH_OF[table]}, '%Y-%m'), 'none')"
        return (f"COPY (SELECT *, {month} AS {PARTITION} FROM {table}) TO {_lit(target)} "
                f"(FORMAT parquet, PARTITION_BY ({PARTITION}), OVERWRITE)")
    return f"COPY (SELECT * FROM {table}) TO {_lit(target + '/data_0.parquet')} (FORMAT parquet)"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def export(con: duckdb.DuckDBPyConnection, to: str) -> dict[str, int]:
    """Write every table of ``TABLES`` as Parquet under ``to`` (a folder, created, or a URL), replacing what
    an earlier export wrote there. Returns the rows written per table. One transaction reads them all, so
    the tables are of one moment."""
    remote = is_url(to)
    staging = tempfile.TemporaryDirectory(prefix="kpis-export-") if remote else None
    root = staging.name if remote else str(to)
    counts = {}
    cur = con.cursor()
    try:
        cur.execute("BEGIN TRANSACTION")
        for table in TABLES:
            target = table_url(root, table)
            n = cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            shutil.rmtree(target, ignore_errors=True)
            Path(target).mkdir(parents=True)
            if n and table in _MONTH_OF:
                cur.execute(_copy_sql(table, target))
            else:  # one file (an empty table too: its columns are still there for the readers)
                cur.execute(f"COPY (SELECT * FROM {table}) TO {_lit(target + '/data_0.parquet')} (FORMAT parquet)")
            counts[table] = n
        cur.execute("COMMIT")
        if remote:
            fs = filesystem(to)
            for table in TABLES:
                dest = table_url(to, table)
                if fs.exists(dest):
                    fs.rm(dest, recursive=True)
                fs.put(table_url(root, table), dest, recursive=True)
    finally:
        if staging is not None:
            staging.cleanup()
        cur.close()
    return counts


def _files(lake: str, table: str) -> str:
    return f"{table_url(lake, table)}/**/*.parquet"


def connect(lake: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose tables are views over the Parquet of ``lake`` (a folder or a URL)."""
    con = duckdb.connect()
    if is_url(lake):
        con.register_filesystem(filesystem(lake))
    elif not Path(lake).is_dir():
        raise FileNotFoundError(f"{lake}: no such folder (write one with python -m kpis export --to FOLDER)")
    for table in TABLES:
        try:
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({_lit(_files(lake, table))}, "
                        f"hive_partitioning = false, union_by_name = true)")
        except duckdb.IOException as e:
            con.close()
            raise FileNotFoundError(f"{table_url(lake, table)}: no Parquet files of {table} there "
                                    f"(write them with python -m kpis export): {e}") from None
    return con
