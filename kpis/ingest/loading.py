"""Loading one file into its table (streamed or staged), the replace unit, and the ingest log."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb

from kpis import schema
from kpis.ingest.errors import MAX_REPORTED_ERRORS, IngestError, RowError
from kpis.ingest.parsing import _typed_select
from kpis.ingest.reading import (
    HASH_PREFIX,
    Limits,
    _check_duplicate_columns,
    _check_json_depth,
    _check_parquet_types,
    _duckdb_read_error,
    _fits_canonical,
    _HashInBackground,
    _is_parquet,
    _read_header,
    _read_sql,
    _reader_names,
    _typed_csv_sql,
    detect_kind,
    file_hash,
    json_read_error,
    legacy_file_hash,
    take_rejects,
)
from kpis.ingest.report import FileReport, _reason_text
from kpis.schema import Table

# ---------------------------------------------------------------------------
# The batch


class _Progress:
    """Polls DuckDB's own progress for the running statement into a tqdm bar."""

    def __init__(self, con, bar):
        self.con, self.bar = con, bar
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.bar is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.25):
            try:
                pct = self.con.query_progress()
            except Exception:
                return
            if pct is not None and pct >= 0:
                self.bar.n = min(int(pct), 100)
                self.bar.refresh()

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread:
            self._thread.join()
        if self.bar is not None:
            self.bar.n = 100
            self.bar.refresh()


@dataclass
class BatchPlan:
    """What every file of a batch is loaded with (one object instead of a dozen arguments)."""

    batch_id: int = 0  # set when the batch's transaction begins
    units: _Units | None = None  # likewise
    kind: str | None = None
    chosen: object = None  # the kpis.mapping.Mapping the user chose (preset or file), else None: detect
    source_tz: str = "UTC"
    skip_bad_rows: bool = False
    delimiter: str | None = None
    progress: bool = False
    window: tuple[date, date] | None = None
    limits: Limits = field(default_factory=Limits)
    strict: bool = False
    cost_measure: str | None = None


@dataclass
class FilePlan:
    """One file as it will be loaded: where it is, what reads it, and the relation that feeds its table."""

    path: Path  # the file (hashed and logged)
    name: str  # how reports name it
    src: Path  # the name DuckDB reads it by (:func:`_literal_path`)
    digest: object  # its content hash, or the _HashInBackground computing it
    kind: str
    table: Table
    sql: str  # the relation of raw (text) columns: the file's reader, or the mapping's output
    params: list
    present: dict[str, str]  # canonical column -> column of ``sql``
    extras: list  # columns kept in attributes (names, or (key, column) pairs)
    types: dict[str, str] | None = None  # Parquet's own column types (canonical columns only)
    used: object = None  # the kpis.mapping.Mapping that read it, or None (canonical columns)
    mapped: object = None  # its kpis.mapping.MappedFile
    raw_cols: list[str] = field(default_factory=list)

    @property
    def signed(self) -> tuple[str, ...]:
        return self.mapped.signed if self.mapped is not None else ()

    @property
    def typed_csv(self) -> bool:
        """A CSV in canonical columns: read by DuckDB's typed reader on the streamed path."""
        return self.used is None and not _is_parquet(self.path)


def _ingest_file(con, batch: BatchPlan, path: Path, name: str, readable: Path | None = None) -> FileReport:
    """Load one file. ``path`` is the file (hashed and logged); ``readable`` is
    the name DuckDB reads it by (:func:`_literal_path`)."""
    src = readable or path
    if path.stat().st_size == 0:
        raise IngestError([RowError(name, None, None, "the file is empty")])
    digest, skipped = _repeat(con, batch, path, name)
    if skipped is not None:
        return skipped
    plan = _plan_file(con, batch, path, name, src, digest)
    if plan.mapped is not None:
        source_rows = plan.mapped.log.get("source_rows", 0)
        if source_rows and source_rows == sum(plan.mapped.log.get("dropped", {}).values()):
            return _all_dropped(con, batch, plan)
    return _write(con, batch, plan)


def _detect_json_preset(con, path: Path, name: str, kind: str | None):
    from kpis import mapping as mapping_mod

    hits, seen = [], {}
    for m in mapping_mod.list_presets():
        if m.format != "json" or (kind is not None and m.kind != kind):
            continue
        key = (m.records, m.explode)
        if key not in seen:
            try:
                seen[key] = mapping_mod.json_columns(con, m, path)
            except (duckdb.Error, UnicodeDecodeError) as err:
                raise IngestError([json_read_error(path, name, err)]) from None
        if mapping_mod.detect_preset(seen[key], kind=kind, fmt="json", presets=[m]):
            hits.append(m)
    if not hits:
        names = ", ".join(m.name for m in mapping_mod.list_presets() if m.format == "json")
        raise IngestError([RowError(name, None, None, f"no preset recognises this JSON export (JSON presets: "
                                                      f"{names}); pass --preset NAME or --mapping FILE")])
    hits.sort(key=lambda m: -len(m.detect))
    if len(hits) > 1 and len(hits[0].detect) == len(hits[1].detect):
        raise IngestError([RowError(name, None, None, f"the JSON fits several presets "
                                    f"({', '.join(m.name for m in hits)}); pass --preset NAME")])
    return hits[0]


def _repeat(con, batch: BatchPlan, path: Path, name: str):
    """(the file's digest, the report of a skipped repeat or None). A file can only repeat a loaded
    one of the same size: hash it first when there is one (and skip it if it is a repeat), else
    hash it while it loads."""
    same_size = con.execute("SELECT count(*) > 0 FROM ingest_log WHERE status = 'loaded' "
                            "AND (file_size = ? OR file_size IS NULL)", [path.stat().st_size]).fetchone()[0]
    digest = file_hash(path) if same_size else _HashInBackground(path)
    seen = same_size and _loaded_before(con, digest)
    if same_size and not seen and _legacy_hashes(con, path.stat().st_size):  # logged before BLAKE3
        seen = _loaded_before(con, legacy_file_hash(path))
    if not seen:
        return digest, None
    chosen = batch.chosen
    rep = FileReport(name, chosen.kind if chosen else batch.kind, "skipped",
                     message=f"identical to {seen[1]} loaded in batch {seen[0]}; nothing to do",
                     mapping=chosen.name if chosen else None)
    _log(con, batch.batch_id, path, name, digest, rep, batch.source_tz)
    return digest, rep


def _plan_file(con, batch: BatchPlan, path: Path, name: str, src: Path, digest) -> FilePlan:
    """Read the file's header (or schema), choose what reads it (the chosen mapping, a recognised
    preset, or the canonical columns), check its columns, and run its mapping."""
    from kpis import mapping as mapping_mod

    limits, kind, used = batch.limits, batch.kind, batch.chosen
    if mapping_mod.is_json(path):
        # JSON comes from tools' APIs: always read through a preset or a mapping file
        _check_json_depth(src, name, limits)
        used = used or _detect_json_preset(con, src, name, kind)
        sql, params, described, header, raw_cols, norm = None, None, None, None, [], {}
    else:
        header = None if _is_parquet(path) else _read_header(src, name, batch.delimiter, limits)
        sql, params = _read_sql(src, batch.delimiter, header and _reader_names(header), limits)
        try:
            described = con.execute(f"DESCRIBE {sql}", params).fetchall()
        except (duckdb.Error, UnicodeDecodeError) as err:
            raise IngestError([_duckdb_read_error(name, err, limits)]) from None
        raw_cols = [r[0] for r in described][1:]
        if header is None:  # Parquet: its schema, read from the footer alone
            if len(raw_cols) > limits.max_columns:
                raise IngestError([RowError(name, None, None, f"the file has {len(raw_cols):,} columns, more than "
                                            f"the limit of {limits.max_columns:,}; set KPI_MAX_COLUMNS to raise it")])
        norm = {c.strip().lower(): c for c in raw_cols}
        if used is None and not _fits_canonical(norm, kind):
            try:
                used = mapping_mod.detect_preset(raw_cols, kind=kind)
            except mapping_mod.AmbiguousPreset as e:
                raise IngestError([RowError(name, None, None, f"the columns fit several presets ({e}); "
                                                              f"pass --preset NAME")]) from None
    if used is not None:
        if batch.cost_measure and used.kind == "costs" and used.measure != batch.cost_measure:
            try:
                used = used.with_measure(batch.cost_measure)
            except mapping_mod.MappingError as e:
                raise IngestError([RowError(name, None, None, str(e))]) from None
        mapped = mapping_mod.apply(con, used, src, name, sql, params, described, limits=limits)
        return FilePlan(path, name, src, digest, used.kind, schema.TABLES[used.kind], mapped.sql, [],
                        mapped.present, mapped.extras, used=used, mapped=mapped, raw_cols=raw_cols)

    if header is not None:  # a file in canonical columns: a repeated one is a mistake
        _check_duplicate_columns(header, name)
    if len(norm) != len(raw_cols):
        raise IngestError([RowError(name, None, None, "two columns have the same name (ignoring case)")])
    kind = kind or detect_kind(list(norm), name)
    table = schema.TABLES[kind]
    missing = [c for c in table.required if c not in norm]
    if missing:
        hint = ""
        if len(raw_cols) == 1:
            hint = " (only one column was found: is the file delimited by something other than commas?)"
        raise IngestError([RowError(name, None, m, f"required column {m!r} is missing; found: "
                                    f"{', '.join(raw_cols[:12])}{hint}") for m in missing])
    types = None
    if _is_parquet(path):  # Parquet columns keep their own types; CSV columns are text here
        types = {r[0]: r[1] for r in described}
        _check_parquet_types(table, norm, types, name)
    present = {c: norm[c] for c in table.names if c in norm}
    extras = [orig for low, orig in norm.items() if low not in table.names]
    return FilePlan(path, name, src, digest, kind, table, sql, params, present, extras, types=types,
                    raw_cols=raw_cols)


def _write(con, batch: BatchPlan, plan: FilePlan) -> FileReport:
    """Parse, validate and write the file's rows: in one streaming pass when nothing is wrong, else
    through the staged path that names every problem."""
    if plan.typed_csv:
        fast_sql, fast_params, fast_types = _typed_csv_sql(plan.src, batch.delimiter, plan.table, plan.raw_cols,
                                                           batch.limits)
    else:
        fast_sql, fast_params, fast_types = plan.sql, plan.params, plan.types
    bar = None
    if batch.progress:
        from tqdm import tqdm

        bar = tqdm(total=100, desc=plan.name[:30], leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}|")
    try:
        with _Progress(con, bar):
            streamed = _stream_into_table(con, plan.table, plan.present, plan.extras, fast_sql, fast_params,
                                          fast_types, batch.batch_id, plan.name, rejects=plan.typed_csv,
                                          window=batch.window, signed=plan.signed)
            if streamed is None:
                select = _typed_select(plan.table, plan.present, plan.extras, plan.sql, plan.types,
                                       window=batch.window, signed=plan.signed)
                con.execute(f"CREATE OR REPLACE TEMP TABLE _typed AS {select}", plan.params)
    except (duckdb.Error, UnicodeDecodeError) as err:
        raise IngestError([_duckdb_read_error(plan.name, err, batch.limits)]) from None
    finally:
        if bar is not None:
            bar.close()
    if streamed is not None:
        rows_read, updated, mark = streamed
        return _loaded(con, batch, plan, rows_read, updated, 0, [], mark)
    return _staged(con, batch, plan)


def _staged(con, batch: BatchPlan, plan: FilePlan) -> FileReport:
    """The staged path: the parsed rows in ``_typed`` with their errors; report them, or quarantine
    them (``skip_bad_rows``), then write the good rows."""
    name, table = plan.name, plan.table
    rows_read = con.execute("SELECT count(*) FROM _typed").fetchone()[0]
    if rows_read == 0:
        raise IngestError([RowError(name, None, None, "the file has a header but no data rows")])

    if table.key:
        _flag_duplicates(con, table.key_sql)

    n_bad = con.execute("SELECT count(*) FROM _typed WHERE len(_errors) > 0").fetchone()[0]
    errors = [
        RowError(name, r[0], r[1], r[2])
        for r in con.execute(
            "SELECT _row, e.column, e.reason FROM (SELECT _row, unnest(_errors) AS e FROM _typed "
            "WHERE len(_errors) > 0) ORDER BY _row LIMIT ?", [MAX_REPORTED_ERRORS * 5]
        ).fetchall()
    ]
    if n_bad and not batch.skip_bad_rows:
        total = con.execute("SELECT sum(len(_errors)) FROM _typed").fetchone()[0]
        raise IngestError(errors, int(total))
    if n_bad:
        con.execute(
            "INSERT INTO quarantine SELECT ?, ?, ?, t._row, "
            "array_to_string(list_transform(t._errors, lambda e: e.column || ': ' || e.reason), '; '), "
            f"to_json(raw), now()::TIMESTAMP FROM _typed t JOIN ({plan.sql}) raw ON raw._row = t._row "
            "WHERE len(t._errors) > 0",
            [batch.batch_id, name, plan.kind, *plan.params],
        )
        con.execute("DELETE FROM _typed WHERE len(_errors) > 0")

    cols = ", ".join(table.names)
    updated = 0
    if table.key:
        updated = con.execute(
            f"SELECT count(*) FROM {table.name} WHERE ({table.key_sql}) IN (SELECT {table.key_sql} FROM _typed)"
        ).fetchone()[0]
        con.execute(f"DELETE FROM {table.name} WHERE ({table.key_sql}) IN (SELECT {table.key_sql} FROM _typed)")
    mark = con.execute(f"SELECT coalesce(max(rowid), -1) FROM {table.name}").fetchone()[0]
    con.execute(
        f"INSERT INTO {table.name} ({cols}, attributes, batch_id, source_file, source_row) "
        f"SELECT {cols}, attributes, ?, ?, _row FROM _typed",
        [batch.batch_id, name],
    )
    con.execute("DROP TABLE _typed")
    return _loaded(con, batch, plan, rows_read, updated, n_bad, errors if n_bad else [], mark)


def _all_dropped(con, batch: BatchPlan, plan: FilePlan) -> FileReport:
    """A file whose every row the mapping's filters dropped: a success that loads nothing (the summary says
    why, with the values seen and the mapping's hint), or, with ``strict``, a rejection of the batch."""
    mapped, used = plan.mapped, plan.used
    rep = FileReport(plan.name, plan.kind, "loaded", mapping=used.name, notes=mapped.notes,
                     mode="by id" if plan.table.key else "replace", source_rows=mapped.log["source_rows"],
                     dropped=mapped.log.get("drop_reasons", {}), warnings=mapped.warnings, hint=used.hint.strip())
    mapped.close(con)
    reasons = "; ".join(_reason_text(r, d) for r, d in rep.dropped.items())
    rep.message = f"0 loaded, {rep.source_rows:,} dropped: {reasons}"
    if batch.strict:
        raise IngestError([RowError(plan.name, None, None, f"every row was dropped ({rep.message}); --strict "
                                    f"refuses a file that loads nothing" + (f". {rep.hint}" if rep.hint else ""))])
    _log(con, batch.batch_id, plan.path, plan.name, plan.digest, rep, batch.source_tz, mapped.log)
    return rep


def _loaded(con, batch: BatchPlan, plan: FilePlan, rows_read: int, updated: int, n_bad: int,
            errors: list[RowError], mark: int) -> FileReport:
    """Log and report a file that was loaded (its rows are those of its table above row id ``mark``)."""
    mapped, table = plan.mapped, plan.table
    if mapped is not None:
        mapped.close(con)
    loaded = rows_read - n_bad
    inserted = loaded - updated if table.key else loaded
    msg = ""
    mode = "by id" if table.key else "append" if batch.units.append else "replace"
    if mode == "append":
        msg = "appended: earlier rows kept"
    if mapped is not None:
        msg = (mapped.summary + "; " if mapped.summary else "") + msg
    elif plan.extras:
        msg = (msg + "; " if msg else "") + f"kept {len(plan.extras)} extra column(s) in attributes"
    rep = FileReport(plan.name, plan.kind, "loaded", rows_read=rows_read, inserted=max(inserted, 0),
                     updated=updated, rejected=n_bad, message=msg.strip("; "), errors=errors,
                     mapping=plan.used.name if plan.used else None, notes=mapped.notes if mapped else [], mode=mode)
    if mapped is not None:
        rep.source_rows = mapped.log.get("source_rows")
        rep.dropped = mapped.log.get("drop_reasons", {})
        rep.defaulted = dict(mapped.log.get("defaulted", {}))
        rep.warnings = list(mapped.warnings)
    _log(con, batch.batch_id, plan.path, plan.name, plan.digest, rep, batch.source_tz,
         mapped.log if mapped else None)
    if mode == "replace":
        batch.units.record(con, table, mark, rep, plan.path)
    return rep


# ---------------------------------------------------------------------------
# The replace unit
#
# A cost or prediction export is re-issued for whole periods (a cloud bill is
# restated until the month closes). What one file replaces is explicit: for each
# source it holds (the ``source`` column, or what its preset makes of it: the
# billing account and billing period for FOCUS, CUR and GCP), the rows of earlier
# batches of that source dated from the file's first to its last date. Rows of
# that unit the file lists again (the same line: ``Table.line_key``) are counted
# as replaced; the others, which the restated export no longer lists, are removed
# and counted as removed; both counts are in the summary and the ingest log.
# Files of one batch are one export (a bill split into inference and training
# files loads whole): the replacement runs once the batch's files are all in, and
# never touches the batch's own rows. A models inventory is replaced the same way
# per source and snapshot date (``as_of``). With ``append`` nothing is replaced.


class _Units:
    """The replace units of a batch's files, kept in temporary tables until the batch ends."""

    def __init__(self, batch_id: int, append: bool):
        self.batch_id = batch_id
        self.append = append
        self.files: list[tuple[FileReport, Path, Table]] = []
        self.tables: dict[str, Table] = {}
        self.earlier: set[str] = set()  # the tables that held rows before the batch (the others replace nothing)

    def record(self, con, table: Table, mark: int, rep: FileReport, path: Path) -> None:
        """Note the units of the file whose rows lie above row id ``mark`` of ``table``."""
        t = f"_units_{table.name}"
        scope = ", ".join(table.replace_scope)
        per = table.replace_period
        span = f", min({per}) AS lo, max({per}) AS hi" if per else ""
        if table.name not in self.tables:
            if mark >= 0:  # the batch's first file of this table: rows below it are earlier batches'
                self.earlier.add(table.name)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {t} AS SELECT 0 AS file_idx, {scope}{span} "
                        f"FROM {table.name} WHERE false GROUP BY {scope}")
            self.tables[table.name] = table
        con.execute(f"INSERT INTO {t} SELECT {len(self.files)}, {scope}{span} FROM {table.name} "
                    f"WHERE rowid > {int(mark)} GROUP BY {scope}")
        self.files.append((rep, path, table))


def _replace_units(con, units: _Units) -> None:
    """Delete the earlier rows of every unit the batch's files cover, count them per file, and report them."""
    counts: dict[int, tuple[int, int]] = {}
    for table in units.tables.values():
        if table.name not in units.earlier:  # a first load: nothing to replace, and no scan to find that out
            continue
        t, u = table.name, f"_units_{table.name}"
        on = " AND ".join(f"o.{c} IS NOT DISTINCT FROM u.{c}" for c in table.replace_scope)
        if table.replace_period:
            on += f" AND o.{table.replace_period} BETWEEN u.lo AND u.hi"
        keys = table.line_key
        picked = ", ".join(f"any_value(o.{c}) AS {c}" for c in keys)
        same = " AND ".join(f"h.{c} IS NOT DISTINCT FROM n.{c}" for c in keys)
        # An earlier row in the units of several files of the batch counts for the first of them.
        con.execute(f"CREATE OR REPLACE TEMP TABLE _gone AS SELECT o.rowid AS rid, min(u.file_idx) AS file_idx, "
                    f"{picked} FROM {t} o JOIN {u} u ON {on} WHERE o.batch_id IS DISTINCT FROM ? GROUP BY o.rowid",
                    [units.batch_id])
        if con.execute("SELECT count(*) FROM _gone").fetchone()[0]:
            for idx, replaced, removed in con.execute(
                    f"SELECT h.file_idx, count(*) FILTER (WHERE n._listed), count(*) FILTER (WHERE n._listed IS NULL) "
                    f"FROM _gone h LEFT JOIN (SELECT DISTINCT {', '.join(keys)}, TRUE AS _listed FROM {t} "
                    f"WHERE batch_id = ?) n ON {same} GROUP BY h.file_idx", [units.batch_id]).fetchall():
                counts[idx] = (replaced, removed)
            con.execute(f"DELETE FROM {t} WHERE rowid IN (SELECT rid FROM _gone)")
        con.execute("DROP TABLE _gone")
    for idx, (rep, path, table) in enumerate(units.files):
        replaced, removed = counts.get(idx, (0, 0))
        if not replaced and not removed:
            continue
        rep.updated, rep.removed = replaced, removed
        said = " and ".join(x for x in (
            f"replaced {replaced:,} earlier row(s) with a new version" if replaced else "",
            f"removed {removed:,} earlier row(s) that this export no longer lists" if removed else "") if x)
        said += f" in {_describe_units(con, table, idx)}"
        if removed:
            said += " (append instead to keep them)"
        rep.message = "; ".join(m for m in (rep.message, said) if m)
        con.execute("UPDATE ingest_log SET rows_updated = ?, rows_removed = ?, message = ? "
                    "WHERE batch_id = ? AND file_path = ? AND status = 'loaded'",
                    [replaced, removed, rep.message, units.batch_id, str(path)])
    for name in units.tables:
        con.execute(f"DROP TABLE _units_{name}")


def _describe_units(con, table: Table, idx: int, shown: int = 3) -> str:
    """The units of file ``idx`` in words: source 'x' from 2026-10-01 to 2026-10-31 (the first few)."""
    scope = table.replace_scope
    cols = ", ".join(scope) + (", lo, hi" if table.replace_period else "")
    rows = con.execute(f"SELECT {cols} FROM _units_{table.name} WHERE file_idx = ? ORDER BY ALL", [idx]).fetchall()
    parts = []
    for row in rows[:shown]:
        text = " ".join(f"{c} {v!r}" if isinstance(v, str) else f"{c} {v}" for c, v in zip(scope, row))
        if table.replace_period:
            lo, hi = row[len(scope):]
            text += f" on {lo}" if lo == hi else f" from {lo} to {hi}"
        parts.append(text)
    if len(rows) > shown:
        parts.append(f"{len(rows) - shown} more")
    return "; ".join(parts)


def _stream_into_table(con, table: Table, present, extras, sql, params, types, batch_id, name, rejects: bool,
                       window: tuple[date, date] | None = None, signed: tuple[str, ...] = ()):
    """Parse, validate and append a file to its table in one streaming pass.

    The common case, a file with no problem, costs one read and one write: no
    staging copy is held in memory. Returns (rows read, earlier rows replaced
    by id, the row id above which this file's rows lie), or None when the file
    has any problem (a bad value, a row that breaks a rule, a repeated id, no rows, a value the typed CSV reader would not take,
    such as an epoch timestamp): its rows are then removed again and the caller
    takes the staged path, which reads the file as text, accepts every spelling
    the ingest rules allow and reports every problem with its row.

    Bad rows are appended too, marked with source_row -1, and counted
    afterwards: filtering them out would need a second count of the rows read.
    Rows this statement appends have row ids above every earlier row of the
    table (uncommitted rows sit above committed ones). A CSV read here has no
    row numbers (source_row stays null): numbering rows in the reader makes the
    whole pass single-threaded, and numbering them afterwards rewrites the table.
    """
    t = table.name
    mark = con.execute(f"SELECT coalesce(max(rowid), -1) FROM {t}").fetchone()[0]
    new = f"rowid > {int(mark)}"
    had_rows = mark >= 0
    cols = ", ".join(table.names)
    select = _typed_select(table, present, extras, sql, types, flag_only=True, window=window, signed=signed)
    with _any_order(con):
        n = con.execute(
            f"INSERT INTO {t} ({cols}, attributes, batch_id, source_file, source_row) "
            f"SELECT {cols}, attributes, ?, ?, CASE WHEN _bad THEN -1 ELSE _row END FROM ({select})",
            [batch_id, name, *params],
        ).fetchone()[0]
    bad = con.execute(f"SELECT count(*) FROM {t} WHERE {new} AND source_row = -1").fetchone()[0]
    if rejects:  # the typed CSV reader's rejected values (_typed_csv_sql)
        bad += take_rejects(con)
    if not bad and table.key:
        k = table.key_sql
        bad = con.execute(f"SELECT count(*) FROM (SELECT {k} FROM {t} WHERE {new} GROUP BY {k} "
                          f"HAVING count(*) > 1)").fetchone()[0]
    if n == 0 or bad:
        con.execute(f"DELETE FROM {t} WHERE {new}")
        return None
    updated = 0
    if had_rows and table.key:
        k = table.key_sql
        updated = con.execute(f"DELETE FROM {t} WHERE rowid <= {int(mark)} AND ({k}) IN "
                              f"(SELECT {k} FROM {t} WHERE {new})").fetchone()[0]
    return n, updated, mark


@contextmanager
def _any_order(con):
    """Let the statement inside append its rows in the order its threads produce them, not the file's.

    Nothing reads a table's physical order (drill-downs and exports sort; a streamed CSV row has no
    source_row either way), and keeping the file's order cost a sixth of a 10M-line read's CPU
    (benchmarks/README.md, 2026-12-06, sixth). The setting is put back when the statement succeeds; when it
    fails, its transaction is aborted and no setting can change until the rollback, after which the batch
    puts back every setting it saved (batch.SAVED_SETTINGS)."""
    before = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
    con.execute("SET preserve_insertion_order = false")
    yield
    con.execute(f"SET preserve_insertion_order = {'true' if before else 'false'}")


def _legacy_hashes(con, size: int) -> bool:
    """Whether a file of ``size`` bytes (or of no recorded size) was logged with a SHA-256 (before BLAKE3)."""
    return con.execute("SELECT count(*) > 0 FROM ingest_log WHERE status = 'loaded' "
                       "AND (file_size = ? OR file_size IS NULL) AND NOT starts_with(content_hash, ?)",
                       [size, HASH_PREFIX]).fetchone()[0]


def _loaded_before(con, digest: str) -> tuple | None:
    """(batch, file name) of an earlier load of the same content, or None.

    A cost, prediction or models file whose rows a later export has since
    replaced or removed, all of them, is not a repeat: loading it again (say
    with append) must not be skipped. A keyed file is (its ids' later versions
    stay)."""
    for batch_id, file_name, kind in con.execute(
            "SELECT batch_id, file_name, kind FROM ingest_log WHERE content_hash = ? AND status = 'loaded' "
            "ORDER BY batch_id", [digest]).fetchall():
        if kind not in schema.TABLES or schema.TABLES[kind].key or con.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {schema.TABLES[kind].name} WHERE batch_id = ? "
                f"AND source_file = ? LIMIT 1)", [batch_id, file_name]).fetchone()[0]:
            return batch_id, file_name
    return None


def _flag_duplicates(con, key: str) -> None:
    """Mark every repeat of an id (or of a key of several columns, ``a, b``) inside the file as an error naming
    the first row."""
    cols = [c.strip() for c in key.split(",")]
    q = "''''"  # a quote, as a SQL string literal
    values = " || ', ' || ".join(f"{q} || d.{c} || {q}" for c in cols)
    con.execute(
        f"""UPDATE _typed SET _errors = list_append(_errors, {{'column': '{key}',
              'reason': 'duplicate {key} ' || {values} || ' (first on row ' || d.first_row || ')'}})
            FROM (SELECT {key}, _row, min(_row) OVER (PARTITION BY {key}) AS first_row FROM _typed
                  WHERE {" AND ".join(f"{c} IS NOT NULL" for c in cols)}
                  QUALIFY count(*) OVER (PARTITION BY {key}) > 1) d
            WHERE _typed._row = d._row AND d._row <> d.first_row"""
    )


def _log(con, batch_id, path: Path, name: str, digest: "str | _HashInBackground", rep: FileReport, source_tz: str,
         mapping_log: dict | None = None) -> None:
    if mapping_log is None:
        mapping_log = {"mapping": "canonical columns"} if rep.mapping is None else {"name": rep.mapping}
    if isinstance(digest, _HashInBackground):
        digest = digest.result()
    con.execute(
        "INSERT INTO ingest_log (batch_id, file_name, file_path, content_hash, kind, status, rows_read, "
        "rows_inserted, rows_updated, rows_rejected, ingested_at, source_tz, mapping, message, file_size, "
        "rows_removed, mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [batch_id, name, str(path), digest, rep.kind, rep.status, rep.rows_read, rep.inserted, rep.updated,
         rep.rejected, datetime.now(timezone.utc).replace(tzinfo=None), source_tz,
         json.dumps(mapping_log), rep.message, path.stat().st_size, rep.removed, rep.mode],
    )
