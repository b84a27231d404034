"""The runner seam: what the KPI engine needs from an SQL engine.

``kpis.engine.compute`` runs on anything that executes SQL with bound
parameters and returns rows: a :class:`Runner`. The SQL is written once
(kpis/dialect.py) and translated to the runner's dialect. Two runners:

- :class:`DuckDBRunner` (the default; a DuckDB connection is wrapped in one),
- :class:`SparkRunner`: a Spark session (local mode, or a cluster reached over
  Spark Connect) whose temporary views hold the canonical tables, read from
  the Parquet that ``python -m kpis export`` writes (:func:`spark_from_lake`)
  or handed over from a DuckDB file (:func:`spark_from_db`).
"""

from __future__ import annotations

import tempfile
import warnings
from datetime import date, datetime
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from kpis import lake
from kpis.dialect import DUCKDB, SPARK, Dialect


@runtime_checkable
class Runner(Protocol):
    dialect: Dialect

    def rows(self, sql: str, params: dict) -> list[tuple]:
        """The rows of ``sql`` (the engine's SQL, DuckDB syntax) with ``params`` bound."""

    def frame(self, sql: str, params: dict) -> pd.DataFrame:
        """The same as a DataFrame, with the query's column names."""

    def rollups(self) -> frozenset[str]:
        """The daily rollups (kpis.rollups) that are current and may be read instead of the events."""

    def check_timezone(self, tz: str) -> None:
        """Refuse an unknown time zone with a message."""


def _bad_zone(tz: str) -> ValueError:
    return ValueError(f"unknown time zone {tz!r} (use an IANA name such as UTC or Europe/Berlin)")


class DuckDBRunner:
    """A DuckDB connection (the default engine)."""

    dialect = DUCKDB

    def __init__(self, con):
        self.con = con

    def rows(self, sql: str, params: dict) -> list[tuple]:
        return self.con.execute(sql, params).fetchall()  # on the connection: its transaction's view

    def frame(self, sql: str, params: dict) -> pd.DataFrame:
        return self.con.cursor().execute(sql, params).df()  # a cursor of its own: safe beside other threads

    def rollups(self) -> frozenset[str]:
        from kpis import rollups

        return rollups.current(self.con)

    def check_timezone(self, tz: str) -> None:
        from kpis import db

        ok = db.once_per_snapshot(self.con, ("timezone", tz), lambda: self.con.execute(
            "SELECT count(*) FROM pg_timezone_names() WHERE name = ?", [tz]).fetchone()[0])
        if not ok:
            raise _bad_zone(tz)


def of(con) -> Runner:
    """``con`` as a runner: a runner as it is, a DuckDB connection wrapped."""
    return con if isinstance(con, Runner) else DuckDBRunner(con)


# ---------------------------------------------------------------------------
# Spark

# Local mode for the tests and the benchmark: two cores, few shuffle partitions, no UI, on 127.0.0.1. UTC session and
# timestamps without a zone (TIMESTAMP_NTZ), as DuckDB's TIMESTAMP: the reporting zone is applied by the SQL.
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
}
LOCAL_CONF = {
    "spark.driver.bindAddress": "127.0.0.1",  # local mode listens on the loopback only (random free ports)
    "spark.driver.host": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    # 1g ran out of heap once in CI (2026-12-06) while Spark analysed the one statement of every KPI, after the
    # parity job's other requests; the JVM takes only what it uses
    "spark.driver.memory": "2g",
    "spark.sql.adaptive.enabled": "true",
}


def active_spark():
    """The Spark session already running in this process (a test's, a notebook's), or None."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    return SparkSession.getActiveSession()


def spark_session(remote: str | None = None, master: str = "local[2]"):
    """A Spark session: over Spark Connect to ``remote`` (sc://host:port), else local mode."""
    # pyspark warns that it does not yet fully support pandas 3: the runner never hands pandas to Spark
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ValueError("the Spark engine needs pyspark: pip install -r requirements-spark.txt") from None
    builder = SparkSession.builder
    if remote:
        if not remote.startswith("sc://"):
            raise ValueError(f"a Spark Connect address starts with sc:// (sc://host:15002), not {remote!r}")
        builder = builder.remote(remote)
    else:
        builder = builder.master(master).appName("kpis")
        for k, v in LOCAL_CONF.items():
            builder = builder.config(k, v)
    for k, v in SPARK_CONF.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    if not remote:
        spark.sparkContext.setLogLevel("ERROR")
    for k, v in SPARK_CONF.items():  # a session already running (getOrCreate) gets them too
        spark.conf.set(k, v)
    return spark


class SparkRunner:
    """A Spark session whose temporary views are the canonical tables (and the ingest log)."""

    dialect = SPARK

    def __init__(self, spark):
        self.spark = spark

    def _args(self, params: dict) -> dict:
        from pyspark.sql import functions as F

        out = {}
        for k, v in params.items():
            if isinstance(v, (list, tuple)):
                out[k] = F.array(*[F.lit(x) for x in v])
            elif isinstance(v, (date, datetime, str, int, float, bool)) or v is None:
                out[k] = v
            else:
                raise TypeError(f"parameter {k}: {type(v).__name__} is not bound on Spark")
        return out

    def _run(self, sql: str, params: dict):
        return self.spark.sql(self.dialect.translate(sql), args=self._args(params))

    def rows(self, sql: str, params: dict) -> list[tuple]:
        return [tuple(r) for r in self._run(sql, params).collect()]

    def frame(self, sql: str, params: dict) -> pd.DataFrame:
        df = self._run(sql, params)
        return pd.DataFrame.from_records([tuple(r) for r in df.collect()], columns=df.columns)

    def rollups(self) -> frozenset[str]:
        return frozenset()  # the lake holds the events; every KPI reads them (the same results)

    def check_timezone(self, tz: str) -> None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise _bad_zone(tz) from None

    def register(self, name: str, df) -> None:
        df.createOrReplaceTempView(name)


def spark_from_lake(spark, url: str) -> SparkRunner:
    """A Spark runner over the Parquet tables ``python -m kpis export`` wrote to ``url`` (a folder, or an
    object store URL the cluster reads: s3:// is read as s3a://)."""
    runner = SparkRunner(spark)
    for table in lake.TABLES:
        path = lake.table_url(url, table)
        if path.startswith("s3://"):
            path = "s3a://" + path[len("s3://"):]
        df = spark.read.parquet(path)
        runner.register(table, df.drop(lake.PARTITION) if lake.PARTITION in df.columns else df)
    return runner


def spark_from_db(spark, con, local: bool = True) -> SparkRunner:
    """A Spark runner over the canonical tables of the DuckDB connection ``con``: written as Parquet to a
    temporary folder that a local Spark reads (removed when the runner is), or, for a cluster reached over
    Spark Connect (``local=False``), sent as Arrow tables."""
    if local:
        folder = tempfile.TemporaryDirectory(prefix="kpis-spark-")
        lake.export(con, folder.name)
        runner = spark_from_lake(spark, folder.name)
        runner._folder = folder  # removed with the runner (TemporaryDirectory's own finalizer)
        return runner
    runner = SparkRunner(spark)
    for table in lake.TABLES:
        arrow = con.sql(f"SELECT * FROM {table}").to_arrow_table()
        runner.register(table, spark.createDataFrame(arrow))
    return runner

