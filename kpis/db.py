"""Opening the DuckDB file: default path, schema, and waiting out another writer's lock.

DuckDB lets one process at a time hold a file read-write. The dashboard reads
through short-lived connections and a scheduled ``python -m kpis ingest`` writes;
whichever finds the file locked waits and retries, then fails with a message
that says what is holding it, never a lock traceback.
"""

from __future__ import annotations

import getpass
import os
import time
import weakref
from pathlib import Path
from typing import Callable, TypeVar

import duckdb

from kpis import schema

DEFAULT_DB = "kpi.duckdb"
T = TypeVar("T")

INGEST_LOG_DDL = """
CREATE TABLE IF NOT EXISTS ingest_log (
    batch_id BIGINT, file_name VARCHAR, file_path VARCHAR, content_hash VARCHAR,
    kind VARCHAR, status VARCHAR, rows_read BIGINT, rows_inserted BIGINT,
    rows_updated BIGINT, rows_rejected BIGINT, ingested_at TIMESTAMP,
    source_tz VARCHAR, mapping JSON, message VARCHAR, file_size BIGINT,
    rows_removed BIGINT, mode VARCHAR
)"""

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    batch_id BIGINT, file_name VARCHAR, kind VARCHAR, source_row BIGINT,
    reasons VARCHAR, raw JSON, quarantined_at TIMESTAMP
)"""


class DatabaseLockedError(RuntimeError):
    """The database file stayed locked by another process for longer than we wait."""


def default_path() -> str:
    """The database path: $KPI_DB, else kpi.duckdb in the working directory."""
    return os.environ.get("KPI_DB") or DEFAULT_DB


def local_user() -> str:
    """Who writes when nobody has signed in (the command line, the app without login): the OS user name."""
    try:
        return getpass.getuser() or "local"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "local"


def _is_lock_error(err: Exception) -> bool:
    text = str(err)
    return "lock" in text.lower() and ("Could not set lock" in text or "Conflicting lock" in text)


def connect(path: str | os.PathLike | None = None, *, read_only: bool = False,
            wait_seconds: float = 30.0, on_wait=None) -> duckdb.DuckDBPyConnection:
    """Open the database, retrying while another process holds its lock.

    ``on_wait(message)`` is called once when we start waiting (the CLI prints
    it). A read-only open of a file that does not exist yet returns an empty
    in-memory database with the canonical schema, so readers never fail on a
    fresh install. A read-only open of a file an earlier release wrote (a canonical
    column or table missing) adds what is missing first, as a writer would.
    """
    path = str(path or default_path())
    if read_only and not Path(path).exists():
        con = duckdb.connect(":memory:")
        ensure_schema(con)
        _SNAPSHOTS[con] = {}
        return con
    con = _open(path, read_only, wait_seconds, on_wait)
    if read_only and _outdated(con):
        # A file written by an earlier release lacks the columns added since (deployments.fixes_incident_id, ...)
        # and every query naming one would fail: add them once, as a writer would, then read.
        con.close()
        try:
            _open(path, False, wait_seconds, on_wait).close()  # connect() of a writer runs ensure_schema
        except (duckdb.Error, DatabaseLockedError):
            pass  # cannot write it (a read-only file, or another connection of this process): read it as it is
        con = _open(path, True, wait_seconds, on_wait)
    if read_only:
        _SNAPSHOTS[con] = {}
    return con


def _outdated(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a canonical table or column is missing from the file (it was written by an earlier release)."""
    have = {r[0] for r in con.execute("SELECT table_name || '.' || column_name FROM duckdb_columns() "
                                      "WHERE schema_name = 'main' AND NOT internal").fetchall()}
    return any(f"{t.name}.{c.name}" not in have for t in schema.TABLES.values() for c in t.columns)


def _open(path: str, read_only: bool, wait_seconds: float, on_wait) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, retrying while another process holds the file's lock."""
    deadline = time.monotonic() + wait_seconds
    told = False
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(path, read_only=read_only)
            break
        except duckdb.IOException as err:
            if not _is_lock_error(err):
                raise
            if time.monotonic() >= deadline:
                raise DatabaseLockedError(
                    f"{path} is locked by another process (a running ingest, or a dashboard "
                    f"that is writing); waited {wait_seconds:.0f} s. Try again when it has finished."
                ) from None
            if not told and on_wait is not None:
                on_wait(f"{path} is in use by another process; waiting up to {wait_seconds:.0f} s ...")
                told = True
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    if not read_only:
        ensure_schema(con)
    return con


# Read-only connections and what was learnt of their data. While one is open no process can write the file
# (DuckDB allows one writer or any number of readers), so a fact about its data (the data range, which
# rollups are current) holds until it closes: a first page visit asked the data range ten times (12 ms each).
_SNAPSHOTS: "weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, dict]" = weakref.WeakKeyDictionary()


def once_per_snapshot(con: duckdb.DuckDBPyConnection, key: tuple, compute: Callable[[], T]) -> T:
    """``compute()``, remembered for ``key`` while ``con`` is a read-only connection of ``connect`` (its
    data cannot change); computed on every call on any other connection (one that may write)."""
    memo = _SNAPSHOTS.get(con)
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the canonical tables, the ingest log and the quarantine if missing."""
    for table in schema.TABLES.values():
        con.execute(schema.ddl(table))
    con.execute(INGEST_LOG_DDL)
    # added after the first release: databases made before it get the column here
    con.execute("ALTER TABLE ingest_log ADD COLUMN IF NOT EXISTS file_size BIGINT")
    # restatement counts (rows removed from the replaced unit) and replace / append
    con.execute("ALTER TABLE ingest_log ADD COLUMN IF NOT EXISTS rows_removed BIGINT")
    con.execute("ALTER TABLE ingest_log ADD COLUMN IF NOT EXISTS mode VARCHAR")
    con.execute(QUARANTINE_DDL)
    # Deployment rework rate (issue 15): which incident a deployment fixes, and which deployment fixed an incident.
    con.execute("ALTER TABLE deployments ADD COLUMN IF NOT EXISTS fixes_incident_id VARCHAR")
    con.execute("ALTER TABLE incidents ADD COLUMN IF NOT EXISTS fix_deployment_id VARCHAR")
    from kpis import rollups  # kpis.rollups reads kpis/sql; imported here to keep db free of the engine

    rollups.ensure(con)
    # Who wrote it (issue 16): the editor's e-mail with login, the OS user name without. Added, not in the DDL,
    # so a database made before it gets the column here too.
    con.execute("ALTER TABLE ingest_log ADD COLUMN IF NOT EXISTS ingested_by VARCHAR")
    for table in ("review_commentary", "review_drafts"):  # created by review.commentary on the first save
        con.execute(f"ALTER TABLE IF EXISTS {table} ADD COLUMN IF NOT EXISTS updated_by VARCHAR")


def data_version(path: str | os.PathLike | None = None) -> tuple:
    """A cheap key that changes whenever the database file is written.

    Uses the file's and its WAL's modification time and size, so the app can
    key its caches on it without opening (and locking) the database.
    """
    path = str(path or default_path())
    out = []
    for p in (path, path + ".wal"):
        try:
            st = os.stat(p)
            out.append((st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            out.append(None)
    return (path, *out)
