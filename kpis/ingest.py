"""Ingest: CSV / Parquet exports -> canonical DuckDB tables.

One call is one batch and one transaction. Each file is read by DuckDB's own
reader as text, parsed and validated in one SQL pass (the errors of each row
are collected in a list column), de-duplicated, and merged:

* deployments and incidents are keyed by id: a later version replaces the earlier;
* costs and predictions replace the earlier rows of the same source, service and
  date (cloud bills are restated until the month closes);
* a file whose content hash was loaded before is skipped.

A batch with any invalid row is rejected whole with a report naming file, row,
column and reason, and the database is left exactly as it was, unless the
caller asked to skip bad rows: then they go to the ``quarantine`` table.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from kpis import db, rollups, schema
from kpis.schema import Column, Table

READABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson", ".json.gz",
                     ".jsonl.gz", ".ndjson.gz")
MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class RowError:
    """One problem in one file: where it is and what is wrong."""

    file: str
    row: int | None  # 1-based data row (the header is not counted); None for the whole file
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.reason}"


class IngestError(Exception):
    """A batch was rejected; nothing was written. ``errors`` lists what was wrong."""

    def __init__(self, errors: list[RowError], total: int | None = None):
        self.errors = errors
        self.total = total if total is not None else len(errors)
        super().__init__(self._message())

    def _message(self) -> str:
        lines = [f"rejected: {self.total} problem(s); nothing was written"]
        lines += [f"  {e}" for e in self.errors[:MAX_REPORTED_ERRORS]]
        if self.total > MAX_REPORTED_ERRORS:
            lines.append(f"  ... and {self.total - MAX_REPORTED_ERRORS} more")
        return "\n".join(lines)


@dataclass
class FileReport:
    """What happened to one file of a batch."""

    file: str
    kind: str | None
    status: str  # loaded | skipped
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    message: str = ""
    errors: list[RowError] = field(default_factory=list)
    mapping: str | None = None  # the preset or mapping file that read it; None for canonical columns
    notes: list[str] = field(default_factory=list)  # what the mapping dropped, defaulted, netted


# ---------------------------------------------------------------------------
# SQL building. Column names coming from files are quoted as identifiers; values
# reach SQL as bound parameters or as constants of our own schema.


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: object) -> str:
    """A SQL literal for one of our own constants (schema defaults, vocabularies)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _err(column: str, reason_sql: str) -> str:
    return f"{{'column': {_lit(column)}, 'reason': {reason_sql}}}"


def _shown(x: str) -> str:
    # The offending value, quoted and cut short, for the error message.
    return f"'''' || left(({x})::VARCHAR, 40) || ''''"


_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


def _utc_wall(tstz: str) -> str:
    """TIMESTAMPTZ -> the UTC wall time as TIMESTAMP. Same as timezone('UTC', t),
    which goes through ICU for every value; this is integer arithmetic, 20x faster."""
    return f"make_timestamp(epoch_us({tstz}))"


def _timestamp_sql(x: str) -> str:
    """Text -> UTC TIMESTAMP. Offsets are honoured; naive text is taken in the
    session time zone (set to the source time zone during ingest); 9-10 digit
    numbers are epoch seconds, 12-13 digit numbers epoch milliseconds."""
    return (
        _utc_wall(
            f"coalesce(try_cast({x} AS TIMESTAMPTZ), "
            f"CASE WHEN regexp_full_match({x}, '-?[0-9]{{9,10}}([.][0-9]+)?') THEN to_timestamp({x}::DOUBLE) "
            f"WHEN regexp_full_match({x}, '[0-9]{{12,13}}') THEN to_timestamp({x}::DOUBLE / 1000) END)")
    )


_EXACT = 2 ** 53  # doubles hold every whole number below this exactly

_INTS = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT")
_FLOATS = ("DOUBLE", "FLOAT")


def _native(kind: str, source_type: str | None) -> str | None:
    """The source type when a reader's typed column can feed ``kind`` without going
    through text (Parquet's own types, or the types we ask the CSV reader for);
    None when the column is read as text."""
    t = (source_type or "VARCHAR").upper()
    ok = {
        schema.NUMBER: t in _INTS + _FLOATS or t.startswith("DECIMAL"),
        schema.COUNT: t in _INTS + _FLOATS,
        schema.DATE: t == "DATE" or t.startswith("TIMESTAMP"),
        schema.TIMESTAMP: t == "DATE" or t.startswith("TIMESTAMP"),
    }.get(kind, False)
    return t if ok else None


def _typed_value_sql(col: Column, x: str, t: str) -> tuple[str, str]:
    """The typed-source twin of the text parsing in :func:`_parse_sql`: the same
    result for the same value. Nothing here may raise (an error inside the batch's
    transaction would abort it), so conversions that can fail are guarded."""
    k = col.kind
    whole = f"'not a whole number: ' || {_shown(x)}"
    if k == schema.NUMBER:
        d = x if t in _FLOATS else f"({x})::DOUBLE"
        return f"CASE WHEN isfinite({d}) THEN {d} END", f"'not a number: ' || {_shown(x)}"
    if k == schema.COUNT:
        if t in _INTS:
            return f"try_cast({x} AS BIGINT)", whole
        return f"CASE WHEN {x} = floor({x}) AND abs({x}) < {_EXACT} THEN ({x})::BIGINT END", whole
    if k == schema.DATE:
        return (x if t == "DATE" else f"({x})::DATE"), "NULL"
    if k == schema.TIMESTAMP:
        return _utc_wall(f"({x})::TIMESTAMPTZ"), "NULL"
    raise ValueError(f"column kind {k} is read as text")


def _parse_sql(col: Column, x: str, typed: str | None = None) -> tuple[str, str]:
    """(SQL for the parsed value, SQL for the reason when it does not parse).

    ``x`` is text, unless ``typed`` names the DuckDB type the reader already gave
    it (see :func:`_native`): then the value is taken as it is, with the same checks.
    """
    k = col.kind
    if typed is not None:
        return _typed_value_sql(col, x, typed)
    if k == schema.TEXT:
        return x, "NULL"
    if k == schema.TIMESTAMP:
        return _timestamp_sql(x), f"'cannot parse ' || {_shown(x)} || ' as a timestamp'"
    if k == schema.DATE:
        return (
            f"coalesce(try_cast({x} AS DATE), ({_timestamp_sql(x)})::DATE)",
            f"'cannot parse ' || {_shown(x)} || ' as a date'",
        )
    if k == schema.NUMBER:
        return (
            f"CASE WHEN isfinite(try_cast({x} AS DOUBLE)) THEN try_cast({x} AS DOUBLE) END",
            f"'not a number: ' || {_shown(x)}",
        )
    if k == schema.COUNT:
        # try_cast('4.5' AS BIGINT) rounds to 5: a count must be whole, so check the number first.
        d = f"try_cast({x} AS DOUBLE)"
        return (
            f"CASE WHEN {d} = floor({d}) THEN coalesce(try_cast({x} AS BIGINT), "
            f"CASE WHEN abs({d}) < {_EXACT} THEN {d}::BIGINT END) END",
            f"'not a whole number: ' || {_shown(x)}",
        )
    # Simple CASE maps, not IN lists: DuckDB plans an IN list of 5+ constants as a hash join,
    # which made these columns the slowest part of ingest (benchmarks/README.md). Each map
    # first tries the spellings exactly as exports write them, which spares most rows the
    # lower() and regexp calls of the general case (same result: see _exact_first).
    # The exact spellings are tried in turn, so the likeliest come first.
    if k == schema.BOOL:
        pairs = [p for t, f in zip(_TRUE, _FALSE) for p in ((t, "TRUE"), (f, "FALSE"))]
        return (
            _exact_first(x, pairs, f"CASE lower({x}) {_whens(pairs)} END"),
            f"'not a boolean (true/false, yes/no, 1/0): ' || {_shown(x)}",
        )
    if k == schema.SEVERITY:
        squashed = f"regexp_replace(lower({x}), '[\\s_-]', '', 'g')"
        groups = [[(v, _lit(canon)) for v in spellings] for canon, spellings in schema.SEVERITY_MAP.items()]
        # round robin: every level's first spelling (sev1 .. sev5), then every level's second ...
        pairs = [g[i] for i in range(max(map(len, groups))) for g in groups if i < len(g)]
        return (
            _exact_first(x, pairs, f"CASE {squashed} {_whens(pairs)} END"),
            f"'unknown severity ' || {_shown(x)} || ' (expected sev1..sev5, P1..P5, critical/high/medium/low/info)'",
        )
    if k == schema.TIER:
        m = f"regexp_extract(lower({x}), '^(tier|t)?[\\s_-]*([0-9])$', 2)"
        pairs = [(f"tier{sep}{d}", _lit(f"tier-{d}")) for d in (1, 2, 3, 4, 0, 5, 6, 7, 8, 9) for sep in ("-", "")]
        return _exact_first(x, pairs, f"CASE WHEN {m} <> '' THEN 'tier-' || {m} ELSE lower({x}) END"), "NULL"
    if k == schema.ENUM:
        low = f"lower({x})"
        synonyms = [(a, _lit(b)) for a, b in col.synonyms if not col.choices or b in col.choices]
        if col.choices:
            pairs = [(c, _lit(c)) for c in col.choices] + synonyms
            reason = f"'unknown value ' || {_shown(x)} || ' (expected one of {', '.join(col.choices)})'"
            return _exact_first(x, pairs, f"CASE {low} {_whens(pairs)} END"), reason
        general = f"CASE {low} {_whens(synonyms)} ELSE {low} END" if synonyms else low
        if col.default is not None and col.default not in dict(col.synonyms):
            # an open vocabulary: only its default and synonyms are known spellings
            return _exact_first(x, [(col.default, _lit(col.default))] + synonyms, general), "NULL"
        return general, "NULL"
    raise ValueError(f"unknown column kind {k}")


def _whens(pairs: list[tuple[str, str]]) -> str:
    return " ".join(f"WHEN {_lit(key)} THEN {value}" for key, value in pairs)


def _exact_first(x: str, pairs: list[tuple[str, str]], general: str) -> str:
    """``CASE x WHEN <spelling> THEN <value> ... ELSE <general> END``.

    ``pairs`` map lower-case spellings (no spaces, dashes or underscores) to SQL
    values, and ``general`` is the full mapping, which lower-cases (and squashes)
    the text first. Exact matches of a spelling, in lower, upper or capitalised
    case, give what ``general`` gives for them, without calling it.
    """
    exact, seen = [], set()
    for key, value in pairs:
        for variant in (key, key.upper(), key.capitalize()):
            if variant not in seen:
                seen.add(variant)
                exact.append((variant, value))
    return f"CASE {x} {_whens(exact)} ELSE {general} END"


def _clean_text_sql(x: str) -> str:
    """``nullif(trim(x), '')``, cheaper: trim() (which strips spaces, including
    Unicode ones) costs far more than checking whether there is anything to strip."""
    # x < '!': empty, or starts with a space (or a control character); strlen <> length: not ASCII
    return (f"CASE WHEN {x} < '!' OR {x} LIKE '% ' OR strlen({x}) <> length({x}) "
            f"THEN nullif(trim({x}), '') ELSE {x} END")


def _typed_select(table: Table, present: dict[str, str], extras: list, raw_rel: str,
                  types: dict[str, str] | None = None, flag_only: bool = False) -> str:
    """The one-pass SELECT that parses and validates every row of ``raw_rel``.

    ``present`` maps canonical column -> the file's column name. The result has
    ``_row``, the canonical columns, ``attributes`` (JSON of unknown columns) and
    ``_errors`` (list of {column, reason}). ``raw_rel`` is the file's reader
    query (or a mapping's relation over it). A raw column is text unless
    ``types`` (file column -> DuckDB type) says the reader typed it.
    ``extras`` are column names, or (attribute key, column) pairs.

    ``flag_only`` gives ``_bad`` (whether the row has any error) in place of
    ``_errors``: the same checks, without building the messages.

    Four levels, so that each value is cleaned and parsed once however many
    checks look at it: the cleaned text ``_x<i>``, the parsed value ``_v<i>``,
    the canonical columns with the row's own checks, then the table's checks
    across columns.
    """
    types = types or {}
    xs, vs, outs = ["_row"], ["_row"], ["_row"]
    checks = []  # (condition that flags the row, column, reason SQL)
    for i, col in enumerate(table.columns):
        if col.name not in present:
            outs.append(f"{_lit(col.default)}::{col.sql_type} AS {col.name}")
            continue
        raw = present[col.name]
        typed = _native(col.kind, types.get(raw))
        cleaned = quote_ident(raw) if typed else _clean_text_sql(f"{quote_ident(raw)}::VARCHAR")
        x, v = f"_x{i}", f"_v{i}"
        value, reason = _parse_sql(col, x, typed)
        xs.append(f"{cleaned} AS {x}")
        vs += [x, f"{value} AS {v}"]
        outs.append(f"{f'coalesce({v}, {_lit(col.default)})' if col.default is not None else v}::{col.sql_type} "
                    f"AS {col.name}")
        if col.required:
            checks.append((f"{x} IS NULL", col.name, _lit("required value is missing")))
        if reason != "NULL":
            checks.append((f"{x} IS NOT NULL AND {v} IS NULL", col.name, reason))
        if col.minimum is not None:
            checks.append((f"{v} < {col.minimum!r}", col.name, repr_reason(col, "below", col.minimum, x)))
        if col.maximum is not None:
            checks.append((f"{v} > {col.maximum!r}", col.name, repr_reason(col, "above", col.maximum, x)))
    if extras:
        named = [e if isinstance(e, tuple) else (e, e) for e in extras]
        pairs = ", ".join(f"{_lit(k)}, {quote_ident(c)}::VARCHAR" for k, c in named)
        xs.append(f"json_object({pairs}) AS attributes")
    else:
        xs.append("NULL::JSON AS attributes")
    vs.append("attributes")
    outs.append("attributes")
    row_checks = [(f"NOT ({cond})", column, _lit(reason)) for cond, column, reason in table.checks]

    if flag_only:
        def any_true(conds):
            return " OR ".join(f"({c}) IS TRUE" for c, _, _ in conds) or "FALSE"

        outs.append(f"({any_true(checks)}) AS _pbad")
        final = f"SELECT * EXCLUDE (_pbad), (_pbad OR {any_true(row_checks)}) AS _bad"
    else:
        def error_list(conds):
            return "[" + (", ".join(f"CASE WHEN {c} THEN {_err(column, reason)} END"
                                    for c, column, reason in conds) or "NULL") + "]"

        outs.append(f"{error_list(checks)} AS _pbad")
        final = (f"SELECT * EXCLUDE (_pbad), "
                 f"list_filter(list_concat(_pbad, {error_list(row_checks)}), lambda e: e IS NOT NULL) AS _errors")
    return (f"{final} FROM (SELECT {', '.join(outs)} FROM (SELECT {', '.join(vs)} FROM ("
            f"SELECT {', '.join(xs)} FROM ({raw_rel}) AS raw)))")


def repr_reason(col: Column, word: str, bound: float, x: str) -> str:
    bound_text = f"{bound:g}"
    if col.name == "amount" and word == "below":
        return (f"'negative amount ' || {_shown(x)} || ' (a credit or refund on its own: net it into the costs "
                f"it reduces, as the cost presets do, or leave it out)'")
    return f"'value ' || {_shown(x)} || ' is {word} {bound_text}'"


# ---------------------------------------------------------------------------
# Files


def expand(paths: list[str | os.PathLike]) -> list[Path]:
    """The files named, and every readable file in the folders named (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.name.lower().endswith(READABLE_SUFFIXES))
            if not found:
                raise IngestError([RowError(str(p), None, None, "folder holds no .csv or .parquet files")])
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise IngestError([RowError(str(p), None, None, "no such file or folder")])
    return out


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _HashInBackground:
    """SHA-256 of a file computed in a thread while DuckDB loads it (hashlib
    releases the GIL), for files that cannot be a repeat of a loaded one."""

    def __init__(self, path: Path):
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self._digest = file_hash(path)
        except BaseException as err:  # re-raised in result()
            self._error = err

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith((".parquet", ".pq"))


def _read_sql(path: Path, delimiter: str | None) -> tuple[str, list]:
    """SQL (with bound file path) that reads the file as text with row numbers."""
    if _is_parquet(path):
        return ("SELECT file_row_number + 1 AS _row, * EXCLUDE (file_row_number) "
                "FROM read_parquet(?, file_row_number = true)", [str(path)])
    return (f"SELECT row_number() OVER () AS _row, * FROM read_csv(?, all_varchar = true, {_CSV_DIALECT})",
            [str(path), _delimiter(path, delimiter)])


_CSV_DIALECT = "header = true, delim = ?, quote = '\"', escape = '\"'"
_CSV_TYPES = {schema.TIMESTAMP: "TIMESTAMPTZ", schema.DATE: "DATE", schema.NUMBER: "DOUBLE", schema.COUNT: "DOUBLE"}
_REJECTS = "_kpis_rejects"


def _delimiter(path: Path, delimiter: str | None) -> str:
    return delimiter or ("\t" if path.name.lower().endswith(".tsv") else ",")


def _typed_csv_sql(path: Path, delimiter: str | None, table: Table, raw_cols: list[str]) -> tuple[str, list, dict]:
    """SQL reading a canonical CSV with its timestamps, dates and numbers typed by
    DuckDB's CSV reader, the rest as text; values the reader cannot convert are
    recorded in the temporary table ``_kpis_rejects`` instead of raising.

    There is no row number (a ``row_number()`` window over the reader would make
    the whole pass single-threaded): rows arrive in file order, and the caller
    numbers them afterwards. Returns (sql, params, file column -> type).
    """
    kinds = {c.name: c.kind for c in table.columns}
    types = {c: _CSV_TYPES.get(kinds.get(c.strip().lower()), "VARCHAR") for c in raw_cols}
    sql = (f"SELECT NULL::BIGINT AS _row, * FROM read_csv(?, {_CSV_DIALECT}, columns = ?, store_rejects = true, "
           f"rejects_table = '{_REJECTS}', rejects_scan = '{_REJECTS}_scans', rejects_limit = 1)")
    return sql, [str(path), _delimiter(path, delimiter), types], types


def _duckdb_read_error(name: str, err: Exception) -> RowError:
    text = str(err)
    row = None
    m = re.search(r"CSV Error on Line: (\d+)", text)
    if m:
        row = max(int(m.group(1)) - 1, 1)
    first = text.splitlines()[0] if text else type(err).__name__
    reason = first
    if "unicode" in text.lower() or "utf-8" in text.lower():
        reason = "the file is not UTF-8 encoded (save it as UTF-8 and ingest again)"
    elif "Expected Number of Columns" in text or "expected" in text.lower() and "columns" in text.lower():
        lines = [ln for ln in text.splitlines() if "Expected" in ln or "columns" in ln]
        reason = "wrong number of fields: " + (lines[0].strip() if lines else first)
    return RowError(name, row, None, reason)


def detect_kind(columns: list[str], file: str) -> str:
    """The canonical kind whose signature columns the file has."""
    cols = set(columns)
    hits = [t.name for t in schema.TABLES.values() if set(t.signature) <= cols]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        hint = ""
        if len(columns) == 1 and any(d in columns[0] for d in (";", "\t", "|")):
            d = next(d for d in (";", "\t", "|") if d in columns[0])
            hint = (f" The header is one column {columns[0][:60]!r}: the file looks delimited by "
                    f"{d!r}, not commas (pass --delimiter {d!r}).")
        sigs = "; ".join(f"{t.name}: {', '.join(t.signature)}" for t in schema.TABLES.values())
        raise IngestError([RowError(file, None, None,
                                    f"cannot tell what kind of export this is from its columns ({sigs}); "
                                    f"pass --kind, or --preset NAME for a known tool's export "
                                    f"(python -m kpis presets lists them).{hint}")])
    raise IngestError([RowError(file, None, None,
                                f"columns fit several kinds ({', '.join(hits)}); pass --kind")])


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


def ingest(con: duckdb.DuckDBPyConnection, paths: list[str | os.PathLike], *, kind: str | None = None,
           user: str | None = None,
           source_tz: str = "UTC", skip_bad_rows: bool = False, delimiter: str | None = None,
           progress: bool = False, dry_run: bool = False, display_names: dict[str, str] | None = None,
           preset: str | None = None, mapping=None) -> list[FileReport]:
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
    files = expand(paths)
    db.ensure_schema(con)
    old_tz = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"SET TimeZone = {_lit(source_tz)}")
        batch_id = con.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM ingest_log").fetchone()[0]
        reports = []
        problems: list[RowError] = []
        total_problems = 0
        for path in files:
            name = (display_names or {}).get(str(path), path.name)
            try:
                rep = _ingest_file(con, path, name, kind=kind, chosen=chosen, batch_id=batch_id,
                                   source_tz=source_tz, skip_bad_rows=skip_bad_rows, delimiter=delimiter,
                                   progress=progress)
            except IngestError as e:
                problems.extend(e.errors)
                total_problems += e.total
                if _aborted(con):
                    # A reader error aborts the transaction. The batch is rejected now
                    # whatever follows; a new transaction lets the remaining files be
                    # checked (and reported) too, and is rolled back at the end.
                    con.execute("ROLLBACK")
                    con.execute("BEGIN TRANSACTION")
                    con.execute(f"SET TimeZone = {_lit(source_tz)}")
                continue
            reports.append(rep)
        # Who: on every log row of the batch at once (the file-by-file paths above do not carry it).
        con.execute("UPDATE ingest_log SET ingested_by = ? WHERE batch_id = ?", [user, batch_id])
        if problems:
            raise IngestError(problems, total_problems)
        if dry_run:
            con.execute("ROLLBACK")
        else:
            # The daily rollups of the dates this batch wrote, in the same transaction (kpis/rollups.py).
            for table in sorted({rep.kind for rep in reports if rep.status == "loaded"}):
                rollups.refresh(con, table, batch_id)
            con.execute("COMMIT")
        return reports
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute(f"SET TimeZone = {_lit(old_tz)}")


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


def _ingest_file(con, path: Path, name: str, *, kind, chosen, batch_id, source_tz, skip_bad_rows, delimiter,
                 progress) -> FileReport:
    from kpis import mapping as mapping_mod

    size = path.stat().st_size
    if size == 0:
        raise IngestError([RowError(name, None, None, "the file is empty")])
    # A file can only repeat a loaded one of the same size: hash it first when there is
    # one (and skip it if it is a repeat), else hash it while it loads.
    same_size = con.execute("SELECT count(*) > 0 FROM ingest_log WHERE status = 'loaded' "
                            "AND (file_size = ? OR file_size IS NULL)", [size]).fetchone()[0]
    digest = file_hash(path) if same_size else _HashInBackground(path)
    seen = same_size and con.execute(
        "SELECT batch_id, file_name FROM ingest_log WHERE content_hash = ? AND status = 'loaded' LIMIT 1", [digest]
    ).fetchone()
    if seen:
        rep = FileReport(name, chosen.kind if chosen else kind, "skipped",
                         message=f"identical to {seen[1]} loaded in batch {seen[0]}; nothing to do",
                         mapping=chosen.name if chosen else None)
        _log(con, batch_id, path, name, digest, rep, source_tz)
        return rep

    used, mapped = chosen, None
    if mapping_mod.is_json(path):
        # JSON comes from tools' APIs: always read through a preset or a mapping file
        used = used or _detect_json_preset(con, path, name, kind)
        sql, params, described = None, None, None
    else:
        sql, params = _read_sql(path, delimiter)
        try:
            described = con.execute(f"DESCRIBE {sql}", params).fetchall()
        except (duckdb.Error, UnicodeDecodeError) as err:
            raise IngestError([_duckdb_read_error(name, err)]) from None
        raw_cols = [r[0] for r in described][1:]
        norm = {c.strip().lower(): c for c in raw_cols}
        if used is None and not _fits_canonical(norm, kind):
            try:
                used = mapping_mod.detect_preset(raw_cols, kind=kind)
            except mapping_mod.AmbiguousPreset as e:
                raise IngestError([RowError(name, None, None, f"the columns fit several presets ({e}); "
                                                              f"pass --preset NAME")]) from None
    if used is not None:
        mapped = mapping_mod.apply(con, used, path, name, sql, params, described)
        kind, sql, params = used.kind, mapped.sql, []
        table = schema.TABLES[kind]
        present, extras = mapped.present, mapped.extras
    else:
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
        if _is_parquet(path):
            _check_parquet_types(table, norm, {r[0]: r[1] for r in described}, name)
        present = {c: norm[c] for c in table.names if c in norm}
        extras = [orig for low, orig in norm.items() if low not in table.names]

    # Parquet columns keep their own types; CSV and mapped columns are text here.
    types = {r[0]: r[1] for r in described} if used is None and _is_parquet(path) else None
    typed_csv = used is None and not _is_parquet(path)
    if typed_csv:
        fast_sql, fast_params, fast_types = _typed_csv_sql(path, delimiter, table, raw_cols)
    else:
        fast_sql, fast_params, fast_types = sql, params, types

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=100, desc=name[:30], leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}|")
    try:
        with _Progress(con, bar):
            streamed = _stream_into_table(con, table, present, extras, fast_sql, fast_params, fast_types,
                                          batch_id, name, rejects=typed_csv)
            if streamed is None:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _typed AS "
                            f"{_typed_select(table, present, extras, sql, types)}", params)
    except (duckdb.Error, UnicodeDecodeError) as err:
        raise IngestError([_duckdb_read_error(name, err)]) from None
    finally:
        if bar is not None:
            bar.close()
    if streamed is not None:
        rows_read, updated = streamed
        return _loaded(con, batch_id, path, name, digest, kind, table, rows_read, updated, 0, [], used, mapped,
                       extras, source_tz)
    rows_read = con.execute("SELECT count(*) FROM _typed").fetchone()[0]
    if rows_read == 0:
        raise IngestError([RowError(name, None, None, "the file has a header but no data rows")])

    if table.key:
        _flag_duplicates(con, table.key)

    n_bad = con.execute("SELECT count(*) FROM _typed WHERE len(_errors) > 0").fetchone()[0]
    errors = [
        RowError(name, r[0], r[1], r[2])
        for r in con.execute(
            "SELECT _row, e.column, e.reason FROM (SELECT _row, unnest(_errors) AS e FROM _typed "
            "WHERE len(_errors) > 0) ORDER BY _row LIMIT ?", [MAX_REPORTED_ERRORS * 5]
        ).fetchall()
    ]
    if n_bad and not skip_bad_rows:
        total = con.execute("SELECT sum(len(_errors)) FROM _typed").fetchone()[0]
        raise IngestError(errors, int(total))
    if n_bad:
        con.execute(
            "INSERT INTO quarantine SELECT ?, ?, ?, t._row, "
            "array_to_string(list_transform(t._errors, lambda e: e.column || ': ' || e.reason), '; '), "
            f"to_json(raw), now()::TIMESTAMP FROM _typed t JOIN ({sql}) raw ON raw._row = t._row "
            "WHERE len(t._errors) > 0",
            [batch_id, name, kind, *params],
        )
        con.execute("DELETE FROM _typed WHERE len(_errors) > 0")

    cols = ", ".join(table.names)
    if table.key:
        updated = con.execute(
            f"SELECT count(*) FROM {table.name} WHERE {table.key} IN (SELECT {table.key} FROM _typed)"
        ).fetchone()[0]
        con.execute(f"DELETE FROM {table.name} WHERE {table.key} IN (SELECT {table.key} FROM _typed)")
    else:
        scope = table.replace_scope
        cond = " AND ".join(f"t.{c} = k.{c}" for c in scope)
        updated = con.execute(
            f"DELETE FROM {table.name} t USING (SELECT DISTINCT {', '.join(scope)} FROM _typed) k WHERE {cond}"
        ).fetchone()[0]
    con.execute(
        f"INSERT INTO {table.name} ({cols}, attributes, batch_id, source_file, source_row) "
        f"SELECT {cols}, attributes, ?, ?, _row FROM _typed",
        [batch_id, name],
    )
    con.execute("DROP TABLE _typed")
    return _loaded(con, batch_id, path, name, digest, kind, table, rows_read, updated, n_bad,
                   errors if n_bad else [], used, mapped, extras, source_tz)


def _loaded(con, batch_id, path, name, digest, kind, table: Table, rows_read, updated, n_bad, errors, used, mapped,
            extras, source_tz) -> FileReport:
    """Log and report a file that was loaded."""
    con.execute("DROP TABLE IF EXISTS _mapped")
    loaded = rows_read - n_bad
    inserted = loaded - updated if table.key else loaded
    msg = ""
    if not table.key and updated:
        msg = f"replaced {updated} earlier rows of the same source, service and date"
    if mapped is not None:
        msg = (mapped.summary + "; " if mapped.summary else "") + msg
    elif extras:
        msg = (msg + "; " if msg else "") + f"kept {len(extras)} extra column(s) in attributes"
    rep = FileReport(name, kind, "loaded", rows_read=rows_read, inserted=max(inserted, 0),
                     updated=updated, rejected=n_bad, message=msg.strip("; "), errors=errors,
                     mapping=used.name if used else None, notes=mapped.notes if mapped else [])
    _log(con, batch_id, path, name, digest, rep, source_tz, mapped.log if mapped else None)
    return rep


def _stream_into_table(con, table: Table, present, extras, sql, params, types, batch_id, name, rejects: bool):
    """Parse, validate and append a file to its table in one streaming pass.

    The common case, a file with no problem, costs one read and one write: no
    staging copy is held in memory. Returns (rows read, earlier rows replaced),
    or None when the file has any problem (a bad value, a row that breaks a
    rule, a repeated id, no rows, a value the typed CSV reader would not take,
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
    select = _typed_select(table, present, extras, sql, types, flag_only=True)
    n = con.execute(
        f"INSERT INTO {t} ({cols}, attributes, batch_id, source_file, source_row) "
        f"SELECT {cols}, attributes, ?, ?, CASE WHEN _bad THEN -1 ELSE _row END FROM ({select})",
        [batch_id, name, *params],
    ).fetchone()[0]
    bad = con.execute(f"SELECT count(*) FROM {t} WHERE {new} AND source_row = -1").fetchone()[0]
    if rejects:  # the typed CSV reader's rejected values (_typed_csv_sql)
        bad += con.execute(f"SELECT count(*) FROM {_REJECTS}").fetchone()[0]
        con.execute(f"DROP TABLE IF EXISTS {_REJECTS}")
        con.execute(f"DROP TABLE IF EXISTS {_REJECTS}_scans")
    if not bad and table.key:
        k = table.key
        bad = con.execute(f"SELECT count(*) FROM (SELECT {k} FROM {t} WHERE {new} GROUP BY {k} "
                          f"HAVING count(*) > 1)").fetchone()[0]
    if n == 0 or bad:
        con.execute(f"DELETE FROM {t} WHERE {new}")
        return None
    updated = 0
    if had_rows and table.key:
        k = table.key
        updated = con.execute(f"DELETE FROM {t} WHERE rowid <= {int(mark)} AND {k} IN "
                              f"(SELECT {k} FROM {t} WHERE {new})").fetchone()[0]
    elif had_rows:
        scope = table.replace_scope
        cond = " AND ".join(f"o.{c} = k.{c}" for c in scope)
        updated = con.execute(
            f"DELETE FROM {t} o USING (SELECT DISTINCT {', '.join(scope)} FROM {t} WHERE {new}) k "
            f"WHERE {cond} AND o.rowid <= {int(mark)}").fetchone()[0]
    return n, updated


def _fits_canonical(norm: dict[str, str], kind: str | None) -> bool:
    """Whether a header is already in canonical columns (then no preset is looked for)."""
    if kind is not None:
        return all(c in norm for c in schema.TABLES[kind].required)
    return sum(set(t.signature) <= set(norm) for t in schema.TABLES.values()) == 1


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
                raise IngestError([RowError(name, None, None, "not readable as JSON: "
                                            + str(err).splitlines()[0])]) from None
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


def _flag_duplicates(con, key: str) -> None:
    """Mark every repeat of an id inside the file as an error naming the first row."""
    con.execute(
        f"""UPDATE _typed SET _errors = list_append(_errors, {{'column': '{key}',
              'reason': 'duplicate {key} ' || '''' || d.{key} || '''' || ' (first on row ' || d.first_row || ')'}})
            FROM (SELECT {key}, _row, min(_row) OVER (PARTITION BY {key}) AS first_row FROM _typed
                  WHERE {key} IS NOT NULL QUALIFY count(*) OVER (PARTITION BY {key}) > 1) d
            WHERE _typed._row = d._row AND d._row <> d.first_row"""
    )


_PARQUET_OK = {
    schema.TIMESTAMP: ("TIMESTAMP", "DATE", "VARCHAR", "BIGINT", "INTEGER", "DOUBLE"),
    schema.DATE: ("DATE", "TIMESTAMP", "VARCHAR"),
    schema.NUMBER: ("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER", "SMALLINT", "HUGEINT", "UBIGINT",
                    "UINTEGER", "VARCHAR"),
    schema.COUNT: ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "HUGEINT", "DOUBLE",
                   "DECIMAL", "VARCHAR"),
    schema.BOOL: ("BOOLEAN", "VARCHAR", "BIGINT", "INTEGER", "TINYINT"),
}


def _check_parquet_types(table: Table, norm: dict[str, str], types: dict[str, str], name: str) -> None:
    errors = []
    for col in table.columns:
        if col.name not in norm or col.kind not in _PARQUET_OK:
            continue
        t = types[norm[col.name]]
        if not any(t.startswith(ok) for ok in _PARQUET_OK[col.kind]):
            errors.append(RowError(name, 1, col.name,
                                   f"Parquet type {t} cannot hold a {col.kind} (every row); "
                                   f"expected one of {', '.join(_PARQUET_OK[col.kind][:4])}"))
    if errors:
        raise IngestError(errors)


def _log(con, batch_id, path: Path, name: str, digest: "str | _HashInBackground", rep: FileReport, source_tz: str,
         mapping_log: dict | None = None) -> None:
    if mapping_log is None:
        mapping_log = {"mapping": "canonical columns"} if rep.mapping is None else {"name": rep.mapping}
    if isinstance(digest, _HashInBackground):
        digest = digest.result()
    con.execute(
        "INSERT INTO ingest_log (batch_id, file_name, file_path, content_hash, kind, status, rows_read, "
        "rows_inserted, rows_updated, rows_rejected, ingested_at, source_tz, mapping, message, file_size) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [batch_id, name, str(path), digest, rep.kind, rep.status, rep.rows_read, rep.inserted, rep.updated,
         rep.rejected, datetime.now(timezone.utc).replace(tzinfo=None), source_tz,
         json.dumps(mapping_log), rep.message, path.stat().st_size],
    )


def history(con, limit: int = 200):
    """The ingest log, newest first, as a DataFrame (``ingested_by``: who; empty for rows logged before it was
    recorded, and on a database no writer has opened since: read-only connections do not add the column)."""
    has_who = con.execute("SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'main' "
                          "AND table_name = 'ingest_log' AND column_name = 'ingested_by'").fetchone()[0]
    who = "ingested_by" if has_who else "NULL::VARCHAR AS ingested_by"
    return con.execute(
        f"SELECT batch_id, file_name, kind, mapping->>'name' AS mapping, status, rows_read, rows_inserted, "
        f"rows_updated, rows_rejected, ingested_at, {who}, content_hash, message FROM ingest_log "
        "ORDER BY batch_id DESC, ingested_at DESC LIMIT ?",
        [limit],
    ).df()
