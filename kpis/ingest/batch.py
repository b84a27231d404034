"""The batch: one call, one transaction; object store fetching; the ingest history."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import replace

import duckdb

from kpis import db, rollups, schema
from kpis.ingest.errors import IngestError, RowError
from kpis.ingest.loading import BatchPlan, _ingest_file, _replace_units, _Units
from kpis.ingest.reading import READABLE_SUFFIXES, Limits, _literal_path, expand
from kpis.ingest.report import FileReport
from kpis.ingest.sql import _lit
from kpis.periods import plausible_window


def ingest(con: duckdb.DuckDBPyConnection, paths: list[str | os.PathLike], *, kind: str | None = None,
           user: str | None = None,
           source_tz: str = "UTC", skip_bad_rows: bool = False, delimiter: str | None = None,
           progress: bool = False, dry_run: bool = False, display_names: dict[str, str] | None = None,
           preset: str | None = None, mapping=None, plausible: tuple | None = None,
           limits: Limits | None = None, append: bool = False, strict: bool = False,
           cost_measure: str | None = None) -> list[FileReport]:
    """Load files into the canonical tables as one batch (one transaction).

    Raises :class:`IngestError` (and writes nothing) when any file or row is
    invalid, unless ``skip_bad_rows``: then bad rows go to ``quarantine`` with
    their reasons and the good rows load. ``dry_run`` validates and reports
    without writing (the Data page's preview). ``display_names`` maps a path to
    the name shown in reports (uploads are saved under temporary names).
    ``user`` is who ingests, recorded in ``ingest_log.ingested_by`` (default:
    the OS user name, ``kpis.db.local_user``).

    A file in canonical columns loads as it is; a known tool's export (FOCUS,
    PagerDuty, GitHub, ...) is recognised from its header and read through its
    preset (kpis/presets/). ``preset`` (a preset name) or ``mapping`` (a
    mapping TOML file, see docs/exports.md) applies one mapping to every file.

    ``plausible`` (first day, last day; either may be None) bounds every
    timestamp and date value; by default KPI_PLAUSIBLE_FROM / KPI_PLAUSIBLE_TO,
    else 2000-01-01 to today + 1 year (:func:`plausible_window`). ``limits``
    caps columns, line length and JSON depth (default: :meth:`Limits.from_env`).

    Costs, predictions and models replace the earlier rows of the unit each file
    covers (:func:`_replace_units`); ``append`` adds their rows and replaces
    nothing. Deployments, incidents and pipeline runs replace by id either way.

    A file whose rows a preset's filters dropped, every one, loads nothing and
    succeeds: its report says why (``FileReport.summary``, ``.hint``). With
    ``strict`` such a file rejects the batch. ``cost_measure`` (e.g. ``amortised``,
    ``billed``) picks how a cost preset reads amount (``Mapping.measures``).
    """
    user = user or db.local_user()
    if kind is not None and kind not in schema.TABLES:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(schema.TABLES)}")
    chosen = None
    if preset is not None and mapping is not None:
        raise ValueError("give a preset or a mapping file, not both")
    if preset is not None or mapping is not None:
        from kpis import mapping as mapping_mod

        chosen = mapping_mod.load_preset(preset) if preset is not None else mapping_mod.load_mapping(mapping)
        if kind is not None and kind != chosen.kind:
            raise ValueError(f"{chosen.label} reads {chosen.kind}, not {kind}")
    _check_timezone(con, source_tz)
    window = plausible_window(*(plausible or (None, None)))
    limits = limits or Limits.from_env()
    plan = BatchPlan(kind=kind, chosen=chosen, source_tz=source_tz, skip_bad_rows=skip_bad_rows,
                     delimiter=delimiter, progress=progress, window=window, limits=limits, strict=strict,
                     cost_measure=cost_measure)
    with _fetched(paths) as (local_paths, origin):
        return _ingest_batch(con, local_paths, origin, plan, user=user, dry_run=dry_run,
                             display_names=display_names, append=append)


@contextmanager
def _fetched(paths: list):
    """``paths`` with every object store URL (s3://, gs://, az://: an object, or a prefix's .csv / .parquet /
    .json objects) copied to a private temporary folder (kpis.lake.fetch), removed afterwards; and
    {local copy: URL}. The copy is what DuckDB reads and hashes; reports and the ingest log name the URL."""
    from kpis import lake

    if not any(lake.is_url(p) for p in paths):
        yield list(paths), {}
        return
    folder = tempfile.mkdtemp(prefix="kpi_fetch_")
    try:
        out, origin = [], {}
        for p in paths:
            if not lake.is_url(p):
                out.append(p)
                continue
            try:
                got = lake.fetch(str(p), folder, READABLE_SUFFIXES)
            except (OSError, ValueError) as e:
                raise IngestError([RowError(str(p), None, None, str(e))]) from None
            origin.update(got)
            out.extend(got)
        yield out, origin
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# The connection settings a batch may change (the source time zone; the order of a streamed INSERT,
# loading._any_order), put back as they were when it ends, after its commit or rollback.
SAVED_SETTINGS = ("TimeZone", "preserve_insertion_order")


def _ingest_batch(con, paths, origin: dict[str, str], plan: BatchPlan, *, user: str, dry_run: bool,
                  display_names: dict[str, str] | None, append: bool) -> list[FileReport]:
    display_names = {**origin, **(display_names or {})}
    files = expand(paths)
    db.ensure_schema(con)
    saved = {name: con.execute("SELECT current_setting(?)", [name]).fetchone()[0] for name in SAVED_SETTINGS}
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"SET TimeZone = {_lit(plan.source_tz)}")
        batch_id = con.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM ingest_log").fetchone()[0]
        units = _Units(batch_id, append)
        plan = replace(plan, batch_id=batch_id, units=units)
        reports = []
        problems: list[RowError] = []
        total_problems = 0
        for path in files:
            name = (display_names or {}).get(str(path), path.name)
            try:
                with _literal_path(path) as readable:
                    rep = _ingest_file(con, plan, path, name, readable)
            except IngestError as e:
                problems.extend(e.errors)
                total_problems += e.total
                if _aborted(con):
                    # A reader error aborts the transaction. The batch is rejected now
                    # whatever follows; a new transaction lets the remaining files be
                    # checked (and reported) too, and is rolled back at the end.
                    con.execute("ROLLBACK")
                    con.execute("BEGIN TRANSACTION")
                    con.execute(f"SET TimeZone = {_lit(plan.source_tz)}")
                continue
            reports.append(rep)
        # Who: on every log row of the batch at once (the file-by-file paths above do not carry it).
        con.execute("UPDATE ingest_log SET ingested_by = ? WHERE batch_id = ?", [user, batch_id])
        if problems:
            raise IngestError(problems, total_problems)
        _replace_units(con, units)
        for local, url in origin.items():  # the log says where the file lives, not the temporary copy
            con.execute("UPDATE ingest_log SET file_path = ? WHERE batch_id = ? AND file_path = ?",
                        [url, batch_id, local])
        if dry_run:
            con.execute("ROLLBACK")
        else:
            # The daily rollups of the dates this batch wrote, in the same transaction (kpis/rollups.py).
            rollups.refresh_batch(con, {rep.kind for rep in reports if rep.status == "loaded"}, batch_id)
            con.execute("COMMIT")
        return reports
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for name, value in saved.items():
            con.execute(f"SET {name} = {_lit(str(value))}")


def _aborted(con) -> bool:
    try:
        con.execute("SELECT 1")
        return False
    except duckdb.TransactionException:
        return True


def _check_timezone(con, tz: str) -> None:
    ok = con.execute("SELECT count(*) FROM pg_timezone_names() WHERE name = ?", [tz]).fetchone()[0]
    if not ok:
        raise ValueError(f"unknown time zone {tz!r} (use an IANA name such as UTC or America/New_York)")


def history(con, limit: int = 200):
    """The ingest log, newest first, as a DataFrame (``ingested_by``: who; empty for rows logged before it was
    recorded)."""
    # A database written before rows_removed / mode / ingested_by existed, opened read-only (read-only
    # connections do not add columns), has no such columns yet.
    have = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' "
                                      "AND table_name = 'ingest_log' AND NOT internal").fetchall()}
    removed = "rows_removed" if "rows_removed" in have else "NULL::BIGINT AS rows_removed"
    mode = "mode" if "mode" in have else "NULL::VARCHAR AS mode"
    who = "ingested_by" if "ingested_by" in have else "NULL::VARCHAR AS ingested_by"
    return con.execute(
        # when and who first: a wide table shows its first columns, and those are what a reader looks for
        f"SELECT batch_id, ingested_at, {who}, file_name, kind, mapping->>'name' AS mapping, status, {mode}, "
        f"rows_read, rows_inserted, rows_updated AS rows_replaced, {removed}, rows_rejected, content_hash, message "
        "FROM ingest_log "
        "ORDER BY batch_id DESC, ingested_at DESC LIMIT ?",
        [limit],
    ).df()
