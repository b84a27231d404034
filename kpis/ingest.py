"""Ingest: CSV / Parquet exports -> canonical DuckDB tables.

One call is one batch and one transaction. Each file is read by DuckDB's own
reader as text, parsed and validated in one SQL pass (the errors of each row
are collected in a list column), de-duplicated, and merged:

* deployments and incidents are keyed by id: a later version replaces the earlier;
* costs and predictions replace, at the end of the batch, the rows of earlier
  batches in the unit each file covers: its source, from its first to its last
  date (cloud bills are restated until the month closes; see "The replace
  unit" below); files of one batch are one export and never replace each
  other; ``append`` adds rows without replacing any;
* a file whose content hash was loaded before is skipped.

A batch with any invalid row is rejected whole with a report naming file, row,
column and reason, and the database is left exactly as it was, unless the
caller asked to skip bad rows: then they go to the ``quarantine`` table.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate
from pathlib import Path

import duckdb

from kpis import db, rollups, schema
from kpis.periods import plausible_window  # noqa: F401  (the rule lives in kpis.periods)
from kpis.schema import Column, Table

READABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson", ".json.gz",
                     ".jsonl.gz", ".ndjson.gz")
MAX_REPORTED_ERRORS = 20


# ---------------------------------------------------------------------------
# Limits, checked before DuckDB reads a file (README, "Ingest rules"): a small
# file must not cost minutes and gigabytes, nor one row break every page.


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {text!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


@dataclass(frozen=True)
class Limits:
    """What one file may hold. ``from_env`` reads KPI_MAX_COLUMNS, KPI_MAX_LINE_BYTES, KPI_MAX_JSON_DEPTH."""

    max_columns: int = 1000
    max_line_bytes: int = 1 << 20
    max_json_depth: int = 64

    @classmethod
    def from_env(cls) -> "Limits":
        d = cls()
        return cls(_env_int("KPI_MAX_COLUMNS", d.max_columns), _env_int("KPI_MAX_LINE_BYTES", d.max_line_bytes),
                   _env_int("KPI_MAX_JSON_DEPTH", d.max_json_depth))


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
    inserted: int = 0  # rows written (for a keyed table, ids it did not hold before)
    updated: int = 0  # earlier rows replaced by a new version: the same id, or the same cost / prediction line
    rejected: int = 0
    removed: int = 0  # earlier rows of the replaced unit that this export no longer lists
    mode: str = "replace"  # replace | append (costs, predictions, models) | by id (keyed tables)
    message: str = ""
    errors: list[RowError] = field(default_factory=list)
    mapping: str | None = None  # the preset or mapping file that read it; None for canonical columns
    notes: list[str] = field(default_factory=list)  # what the mapping dropped, defaulted, netted

    @property
    def replaced(self) -> int:
        """Earlier rows replaced by a new version (the ``updated`` count, named as the summary names it)."""
        return self.updated


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
                  types: dict[str, str] | None = None, flag_only: bool = False,
                  window: tuple[date, date] | None = None) -> str:
    """The one-pass SELECT that parses and validates every row of ``raw_rel``.

    ``present`` maps canonical column -> the file's column name. The result has
    ``_row``, the canonical columns, ``attributes`` (JSON of unknown columns) and
    ``_errors`` (list of {column, reason}). ``raw_rel`` is the file's reader
    query (or a mapping's relation over it). A raw column is text unless
    ``types`` (file column -> DuckDB type) says the reader typed it.
    ``extras`` are column names, or (attribute key, column) pairs.

    ``flag_only`` gives ``_bad`` (whether the row has any error) in place of
    ``_errors``: the same checks, without building the messages.

    ``window`` (first day, last day) bounds every timestamp and date value
    (:func:`plausible_window`); a value outside it is an error of its row.

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
        if window is not None and col.kind in (schema.TIMESTAMP, schema.DATE):
            checks += _window_checks(col, v, x, window)
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


def _window_checks(col: Column, v: str, x: str, window: tuple[date, date]) -> list[tuple[str, str, str]]:
    """The plausibility checks of one timestamp or date value: (condition, column, reason SQL)."""
    lo, hi = window
    span = f"the plausible window ({lo.isoformat()} to {hi.isoformat()})"
    if col.kind == schema.DATE:
        too_early, too_late = f"{v} < DATE '{lo.isoformat()}'", f"{v} > DATE '{hi.isoformat()}'"
    else:  # the last day is included to its last microsecond
        after = (hi + timedelta(days=1)).isoformat()
        too_early, too_late = f"{v} < TIMESTAMP '{lo.isoformat()}'", f"{v} >= TIMESTAMP '{after}'"
    return [
        (too_early, col.name, f"{_shown(x)} || {_lit(f' is before {span}; set KPI_PLAUSIBLE_FROM to widen it')}"),
        (too_late, col.name, f"{_shown(x)} || {_lit(f' is after {span}; set KPI_PLAUSIBLE_TO to widen it')}"),
    ]


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


def _read_sql(path: Path, delimiter: str | None, columns: list[str] | None = None,
              limits: Limits | None = None) -> tuple[str, list]:
    """SQL (with bound file path) that reads the file as text with row numbers.

    A CSV is read with the ``columns`` of its header (:func:`_read_header`), so
    DuckDB does not sniff it: a ragged row or an open quote is then reported
    with its line, not as a failed guess at the dialect.
    """
    if _is_parquet(path):
        return ("SELECT file_row_number + 1 AS _row, * EXCLUDE (file_row_number) "
                "FROM read_parquet(?, file_row_number = true)", [str(path)])
    limits = limits or Limits()
    return (f"SELECT row_number() OVER () AS _row, * FROM read_csv(?, {_CSV_DIALECT}, columns = ?)",
            [str(path), _delimiter(path, delimiter), limits.max_line_bytes, {c: "VARCHAR" for c in columns}])


# auto_detect = false: the dialect is given and the columns come from our own
# reading of the header, so DuckDB's sniffer never guesses (nor hides the line of
# an error); max_line_size is the line limit.
_CSV_DIALECT = "header = true, delim = ?, quote = '\"', escape = '\"', auto_detect = false, max_line_size = ?"
_CSV_TYPES = {schema.TIMESTAMP: "TIMESTAMPTZ", schema.DATE: "DATE", schema.NUMBER: "DOUBLE", schema.COUNT: "DOUBLE"}
_REJECTS = "_kpis_rejects"


def _delimiter(path: Path, delimiter: str | None) -> str:
    return delimiter or ("\t" if path.name.lower().endswith(".tsv") else ",")


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _read_header(path: Path, name: str, delimiter: str | None, limits: Limits) -> list[str]:
    """The column names of a CSV, read from its first line by us, before DuckDB
    sees the file: a header of 100,000 columns or a megabyte line is refused in
    milliseconds (DuckDB took minutes and gigabytes). Names are stripped, and
    an empty one is called ``column<i>``, as DuckDB does; a repeated name is
    kept (see :func:`_reader_names`)."""
    try:
        with _open_bytes(path) as f:
            line = f.readline(limits.max_line_bytes + 1)
    except (OSError, EOFError) as err:  # a broken gzip stream
        raise IngestError([RowError(name, None, None, f"cannot read the file: {err}")]) from None
    if len(line) > limits.max_line_bytes and not line.endswith(b"\n"):
        raise IngestError([RowError(name, None, None, f"the header (line 1) is longer than the limit of "
                                    f"{limits.max_line_bytes:,} bytes; set KPI_MAX_LINE_BYTES to raise it")])
    try:
        text = line.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise IngestError([RowError(name, None, None, "the file is not UTF-8 encoded "
                                                      "(save it as UTF-8 and ingest again)")]) from None
    delim = _delimiter(path, delimiter)

    def split(line: str) -> list[str]:
        if len(delim) != 1:  # DuckDB takes a delimiter of several characters; the csv module does not
            return [n.strip('"') for n in line.split(delim)]
        return next(csv.reader([line], delimiter=delim, quotechar='"', doublequote=True), [])

    # A delimiter inside quotes only over-counts, so the cheap count decides when to parse first.
    names = split(text) if text.count(delim) + 1 > limits.max_columns else None
    if names is not None and len(names) > limits.max_columns:
        raise IngestError([RowError(name, None, None, f"the header has {len(names):,} columns, more than the "
                                    f"limit of {limits.max_columns:,}; set KPI_MAX_COLUMNS to raise it")])
    names = names if names is not None else split(text)
    if not names or names == [""]:
        raise IngestError([RowError(name, None, None, "the first line (the header) is empty")])
    return [n.strip() or f"column{i}" for i, n in enumerate(names)]


def _reader_names(names: list[str]) -> list[str]:
    """Unique names for the reader, as DuckDB's sniffer makes them: a repeat
    (ignoring case) gets ``_1``, ``_2`` ... Some exports repeat a column on
    purpose (Jira's Component/s, one per value) and their presets read the first."""
    taken: set[str] = set()
    out = []
    for n in names:
        unique, k = n, 0
        while unique.lower() in taken:
            k += 1
            unique = f"{n}_{k}"
        taken.add(unique.lower())
        out.append(unique)
    return out


def _check_duplicate_columns(names: list[str], file: str) -> None:
    """Two columns whose names are the same once stripped and lower-cased (how
    ingest matches canonical names): which one holds the values? Refuse them."""
    seen: dict[str, list[str]] = {}
    for n in names:
        seen.setdefault(n.strip().lower(), []).append(n)
    repeated = [group for group in seen.values() if len(group) > 1]
    if repeated:
        shown = "; ".join(" and ".join(repr(n) for n in group) for group in repeated)
        raise IngestError([RowError(file, None, None, f"the header repeats a column name (names are matched "
                                                      f"ignoring case and spaces): {shown}; rename or remove "
                                                      f"the copies")])


def _typed_csv_sql(path: Path, delimiter: str | None, table: Table, raw_cols: list[str],
                   limits: Limits | None = None) -> tuple[str, list, dict]:
    """SQL reading a canonical CSV with its timestamps, dates and numbers typed by
    DuckDB's CSV reader, the rest as text; values the reader cannot convert are
    recorded in the temporary table ``_kpis_rejects`` instead of raising.

    There is no row number (a ``row_number()`` window over the reader would make
    the whole pass single-threaded): rows arrive in file order, and the caller
    numbers them afterwards. Returns (sql, params, file column -> type).
    """
    limits = limits or Limits()
    kinds = {c.name: c.kind for c in table.columns}
    types = {c: _CSV_TYPES.get(kinds.get(c.strip().lower()), "VARCHAR") for c in raw_cols}
    sql = (f"SELECT NULL::BIGINT AS _row, * FROM read_csv(?, {_CSV_DIALECT}, columns = ?, store_rejects = true, "
           f"rejects_table = '{_REJECTS}', rejects_scan = '{_REJECTS}_scans', rejects_limit = 1)")
    return sql, [str(path), _delimiter(path, delimiter), limits.max_line_bytes, types], types


_GLOB_CHARS = ("*", "?", "[", "]", "{", "}")


@contextmanager
def _literal_path(path: Path):
    """A path DuckDB reads as exactly this file.

    DuckDB's readers take a file name as a glob pattern, with no escape:
    ``deployments[12].csv`` would read ``deployments1.csv``, ``dep*.csv`` its
    siblings. A name with a pattern character is read through a hard link (or a
    symbolic link, or a copy) with a plain name, in a private temporary folder,
    removed afterwards. Reports and the ingest log keep the real name.
    """
    text = str(path)
    if not any(c in text for c in _GLOB_CHARS) and not text.startswith("~"):
        yield path
        return
    low = path.name.lower()
    suffix = next((s for s in sorted(READABLE_SUFFIXES, key=len, reverse=True) if low.endswith(s)), path.suffix)
    folder = tempfile.mkdtemp(prefix="kpi_read_")
    link = Path(folder) / f"file{suffix.lower()}"
    try:
        if any(c in str(link) for c in _GLOB_CHARS):
            raise IngestError([RowError(path.name, None, None, f"the temporary folder {folder!r} has a glob "
                                        f"character in its name; set TMPDIR to a plain folder")])
        try:
            os.link(path, link)
        except OSError:  # another file system, or no hard links: a symbolic link, else a copy
            try:
                os.symlink(path.resolve(), link)
            except OSError:
                shutil.copyfile(path, link)
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")


def _duckdb_read_error(name: str, err: Exception, limits: Limits | None = None) -> RowError:
    """A reader error in words, with the data row when DuckDB names the line.

    DuckDB's "Line" counts the header as line 1, so line 3 is data row 2.
    """
    limits = limits or Limits()
    text = str(err)
    row = None
    m = _CSV_LINE.search(text)
    if m:
        row = max(int(m.group(1)) - 1, 1)
    first = text.splitlines()[0] if text else type(err).__name__
    reason = first
    fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    too_long = re.search(r"Maximum line size of (\d+) bytes exceeded\. Actual Size:\s*(\d+)", text)
    if isinstance(err, UnicodeDecodeError) or "Invalid unicode" in text or "not utf-8 encoded" in text.lower():
        reason = "the file is not UTF-8 encoded (save it as UTF-8 and ingest again)"
    elif "unterminated quote" in text:
        reason = ('a value opens a quote (") that is not closed before the end of the file; '
                  'quote characters inside a value must be doubled ("")')
    elif fields:
        want, found = int(fields.group(1)), int(fields.group(2))
        reason = (f"wrong number of fields: the row has {found}, the header has {want} "
                  f"({'an unquoted delimiter in a value?' if found > want else 'a missing value or delimiter?'})")
    elif too_long:
        reason = (f"the line is longer than the limit of {limits.max_line_bytes:,} bytes "
                  f"({int(too_long.group(2)):,} bytes); set KPI_MAX_LINE_BYTES to raise it")
    elif m:
        detail = [ln.strip() for ln in text.splitlines()[2:4] if ln.strip() and not ln.startswith("Possible")]
        reason = "the CSV row cannot be read" + (f": {detail[0]}" if detail else "")
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
           preset: str | None = None, mapping=None, plausible: tuple | None = None,
           limits: Limits | None = None, append: bool = False) -> list[FileReport]:
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
    with _fetched(paths) as (local_paths, origin):
        return _ingest_batch(con, local_paths, origin, kind=kind, user=user, chosen=chosen, source_tz=source_tz,
                             skip_bad_rows=skip_bad_rows, delimiter=delimiter, progress=progress, dry_run=dry_run,
                             display_names=display_names, window=window, limits=limits, append=append)


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


def _ingest_batch(con, paths, origin: dict[str, str], *, kind, user, chosen, source_tz, skip_bad_rows, delimiter,
                  progress, dry_run, display_names, window, limits, append) -> list[FileReport]:
    display_names = {**origin, **(display_names or {})}
    files = expand(paths)
    db.ensure_schema(con)
    old_tz = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"SET TimeZone = {_lit(source_tz)}")
        batch_id = con.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM ingest_log").fetchone()[0]
        units = _Units(batch_id, append)
        reports = []
        problems: list[RowError] = []
        total_problems = 0
        for path in files:
            name = (display_names or {}).get(str(path), path.name)
            try:
                with _literal_path(path) as readable:
                    rep = _ingest_file(con, path, name, kind=kind, chosen=chosen, batch_id=batch_id,
                                       source_tz=source_tz, skip_bad_rows=skip_bad_rows, delimiter=delimiter,
                                       progress=progress, units=units, readable=readable, window=window,
                                       limits=limits)
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
                 progress, units: _Units, readable: Path | None = None,
                 window: tuple[date, date] | None = None, limits: Limits | None = None) -> FileReport:
    """Load one file. ``path`` is the file (hashed and logged); ``readable`` is
    the name DuckDB reads it by (:func:`_literal_path`)."""
    from kpis import mapping as mapping_mod

    limits = limits or Limits()
    src = readable or path

    size = path.stat().st_size
    if size == 0:
        raise IngestError([RowError(name, None, None, "the file is empty")])
    # A file can only repeat a loaded one of the same size: hash it first when there is
    # one (and skip it if it is a repeat), else hash it while it loads.
    same_size = con.execute("SELECT count(*) > 0 FROM ingest_log WHERE status = 'loaded' "
                            "AND (file_size = ? OR file_size IS NULL)", [size]).fetchone()[0]
    digest = file_hash(path) if same_size else _HashInBackground(path)
    seen = same_size and _loaded_before(con, digest)
    if seen:
        rep = FileReport(name, chosen.kind if chosen else kind, "skipped",
                         message=f"identical to {seen[1]} loaded in batch {seen[0]}; nothing to do",
                         mapping=chosen.name if chosen else None)
        _log(con, batch_id, path, name, digest, rep, source_tz)
        return rep

    used, mapped = chosen, None
    if mapping_mod.is_json(path):
        # JSON comes from tools' APIs: always read through a preset or a mapping file
        _check_json_depth(src, name, limits)
        used = used or _detect_json_preset(con, src, name, kind)
        sql, params, described, header = None, None, None, None
    else:
        header = None if _is_parquet(path) else _read_header(src, name, delimiter, limits)
        sql, params = _read_sql(src, delimiter, header and _reader_names(header), limits)
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
        mapped = mapping_mod.apply(con, used, src, name, sql, params, described, limits=limits)
        kind, sql, params = used.kind, mapped.sql, []
        table = schema.TABLES[kind]
        present, extras = mapped.present, mapped.extras
    else:
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
        if _is_parquet(path):
            _check_parquet_types(table, norm, {r[0]: r[1] for r in described}, name)
        present = {c: norm[c] for c in table.names if c in norm}
        extras = [orig for low, orig in norm.items() if low not in table.names]

    # Parquet columns keep their own types; CSV and mapped columns are text here.
    types = {r[0]: r[1] for r in described} if used is None and _is_parquet(path) else None
    typed_csv = used is None and not _is_parquet(path)
    if typed_csv:
        fast_sql, fast_params, fast_types = _typed_csv_sql(src, delimiter, table, raw_cols, limits)
    else:
        fast_sql, fast_params, fast_types = sql, params, types

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=100, desc=name[:30], leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}|")
    try:
        with _Progress(con, bar):
            streamed = _stream_into_table(con, table, present, extras, fast_sql, fast_params, fast_types,
                                          batch_id, name, rejects=typed_csv, window=window)
            if streamed is None:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _typed AS "
                            f"{_typed_select(table, present, extras, sql, types, window=window)}", params)
    except (duckdb.Error, UnicodeDecodeError) as err:
        raise IngestError([_duckdb_read_error(name, err, limits)]) from None
    finally:
        if bar is not None:
            bar.close()
    if streamed is not None:
        rows_read, updated, mark = streamed
        return _loaded(con, batch_id, path, name, digest, kind, table, rows_read, updated, 0, [], used, mapped,
                       extras, source_tz, units, mark)
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
        [batch_id, name],
    )
    con.execute("DROP TABLE _typed")
    return _loaded(con, batch_id, path, name, digest, kind, table, rows_read, updated, n_bad,
                   errors if n_bad else [], used, mapped, extras, source_tz, units, mark)


def _loaded(con, batch_id, path, name, digest, kind, table: Table, rows_read, updated, n_bad, errors, used, mapped,
            extras, source_tz, units: _Units, mark: int) -> FileReport:
    """Log and report a file that was loaded (its rows are those of ``table`` above row id ``mark``)."""
    con.execute("DROP TABLE IF EXISTS _mapped")
    loaded = rows_read - n_bad
    inserted = loaded - updated if table.key else loaded
    msg = ""
    mode = "by id" if table.key else "append" if units.append else "replace"
    if mode == "append":
        msg = "appended: earlier rows kept"
    if mapped is not None:
        msg = (mapped.summary + "; " if mapped.summary else "") + msg
    elif extras:
        msg = (msg + "; " if msg else "") + f"kept {len(extras)} extra column(s) in attributes"
    rep = FileReport(name, kind, "loaded", rows_read=rows_read, inserted=max(inserted, 0),
                     updated=updated, rejected=n_bad, message=msg.strip("; "), errors=errors,
                     mapping=used.name if used else None, notes=mapped.notes if mapped else [], mode=mode)
    _log(con, batch_id, path, name, digest, rep, source_tz, mapped.log if mapped else None)
    if mode == "replace":
        units.record(con, table, mark, rep, path)
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
                       window: tuple[date, date] | None = None):
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
    select = _typed_select(table, present, extras, sql, types, flag_only=True, window=window)
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


_JSON_STRING = re.compile(rb'"[^"\n]*"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"\n')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = [0] * 256
for _b in b"[{":
    _BRACKET_STEP[_b] = 1
for _b in b"]}":
    _BRACKET_STEP[_b] = -1
_JSON_CHUNK = 8 << 20


def _unescaped(data: bytes) -> bytes:
    """``data`` without its escaped backslashes and quotes (JSON escapes read left to right)."""
    return data.replace(b"\\\\", b"").replace(b'\\"', b"")


def _open_string_at(data: bytes) -> int:
    """Where a string still open at the end of ``data`` starts; -1 if none."""
    if _unescaped(data).count(b'"') % 2 == 0:
        return -1
    q = len(data)
    while True:  # the last quote not escaped opens it (an open string holds no other)
        q = data.rfind(b'"', 0, q)
        if q < 0:
            return -1
        k = q
        while k > 0 and data[k - 1] == 0x5C:  # backslashes before it
            k -= 1
        if (q - k) % 2 == 0:
            return q


def _json_structure(data: bytes) -> bytes:
    """The brackets of ``data`` outside strings, and its line breaks, at C speed.

    Only quotes, brackets and line breaks are kept once the escapes are gone;
    then every adjacent pair of quotes goes (an empty string, or the gap between
    two strings with no bracket in it: either way no bracket changes side), and
    the few strings left, those holding brackets, are cut out by a regex.
    """
    bare = _unescaped(data).translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    return _JSON_STRING.sub(b"", bare) if b'"' in bare else bare


def _check_json_depth(path: Path, name: str, limits: Limits) -> None:
    """Refuse JSON nested deeper than the limit before DuckDB parses it: DuckDB's
    JSON functions fail on deep nesting (about 1,000 levels) with an internal
    error that invalidates the whole connection.

    One pass in 8 MB blocks of whole lines (a JSON string holds no raw line
    break; a block with none, minified JSON, is cut before a string it ends
    inside): the brackets outside strings are kept (:func:`_json_structure`)
    and their running depth summed by itertools.accumulate, about 110 MB/s.
    """
    depth, line, rest = 0, 1, b""
    with _open_bytes(path) as f:
        while True:
            block = f.read(_JSON_CHUNK)
            data = rest + block
            if not data:
                return
            rest = b""
            if block:
                cut = data.rfind(b"\n") + 1
                if not cut:
                    cut = _open_string_at(data)
                    cut = len(data) if cut < 0 else cut
                if cut == 0 and len(data) < 4 * _JSON_CHUNK:  # all one open string so far: read on
                    rest = data
                    continue
                if cut > 0:
                    data, rest = data[:cut], data[cut:]
            bare = _json_structure(data)
            brackets = bare.translate(None, _NOT_BRACKETS)
            if max(accumulate(map(_BRACKET_STEP.__getitem__, brackets), initial=depth)) > limits.max_json_depth:
                depths = accumulate(map(_BRACKET_STEP.__getitem__, brackets), initial=depth)
                nth = next(i for i, d in enumerate(depths) if d > limits.max_json_depth)  # the nth bracket
                positions = [i for i, ch in enumerate(bare) if ch in b"[]{}"]
                where = line + bare[:positions[nth - 1]].count(b"\n")
                raise IngestError([RowError(name, None, None, f"the JSON is nested deeper than the limit of "
                                            f"{limits.max_json_depth} levels (line {where}); set "
                                            f"KPI_MAX_JSON_DEPTH to raise it")])
            depth += brackets.count(b"[") + brackets.count(b"{") - brackets.count(b"]") - brackets.count(b"}")
            line += data.count(b"\n")


_JSON_DIAGNOSE_BYTES = 64 << 20


def json_read_error(path: Path, name: str, err: Exception) -> RowError:
    """A JSON reader error in words, with the line and column of the first fault.

    DuckDB names the record and a byte offset inside it, not the line; on this
    (error) path the file is parsed once more by Python's json module, which
    does: NDJSON line by line, other JSON (up to 64 MB) document by document.
    """
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    first = re.sub(r"^[A-Za-z ]+Error: ", "", first)
    lines = path.name.lower().removesuffix(".gz").endswith((".ndjson", ".jsonl"))
    try:
        with _open_bytes(path) as f:
            if lines:
                for lineno, raw in enumerate(f, start=1):
                    try:
                        if raw.strip():
                            json.loads(raw.decode("utf-8-sig" if lineno == 1 else "utf-8"))
                    except json.JSONDecodeError as e:
                        return RowError(name, None, None, f"not valid JSON at line {lineno}, column {e.colno}: "
                                                          f"{e.msg.removesuffix(' at')}")
            elif path.stat().st_size <= _JSON_DIAGNOSE_BYTES:
                text = f.read().decode("utf-8-sig")
                decoder, i = json.JSONDecoder(), 0
                while True:
                    while i < len(text) and text[i] in " \t\r\n":
                        i += 1
                    if i >= len(text):
                        break
                    _, i = decoder.raw_decode(text, i)
    except UnicodeDecodeError:
        return RowError(name, None, None, "the file is not UTF-8 encoded (save it as UTF-8 and ingest again)")
    except json.JSONDecodeError as e:
        return RowError(name, None, None, f"not valid JSON at line {e.lineno}, column {e.colno}: "
                                          f"{e.msg.removesuffix(' at')}")
    except (OSError, EOFError, RecursionError, ValueError):
        pass
    return RowError(name, None, None, f"not readable as JSON: {first}")


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


_PARQUET_OK = {
    schema.TIMESTAMP: ("TIMESTAMP", "DATE", "VARCHAR", "BIGINT", "INTEGER", "DOUBLE"),
    schema.DATE: ("DATE", "TIMESTAMP", "VARCHAR"),
    schema.NUMBER: ("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER", "SMALLINT", "HUGEINT", "UBIGINT",
                    "UINTEGER", "VARCHAR"),
    schema.COUNT: ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "HUGEINT", "DOUBLE",
                   "DECIMAL", "VARCHAR"),
    schema.BOOL: ("BOOLEAN", "VARCHAR", "BIGINT", "INTEGER", "TINYINT"),
}


_NESTED_TYPE = re.compile(r"^(STRUCT|MAP|UNION)\(|\[\d*\]$")


def _check_parquet_types(table: Table, norm: dict[str, str], types: dict[str, str], name: str) -> None:
    """Refuse a canonical column whose Parquet type cannot hold its kind; a
    STRUCT, LIST, MAP or UNION never can (it would be stored as its text)."""
    errors = []
    for col in table.columns:
        if col.name not in norm:
            continue
        t = types[norm[col.name]]
        if _NESTED_TYPE.search(t):
            errors.append(RowError(name, 1, col.name, f"Parquet type {t} is nested (a STRUCT, LIST or MAP); "
                                                      f"a {col.kind} column needs a plain value (every row)"))
        elif col.kind in _PARQUET_OK and not any(t.startswith(ok) for ok in _PARQUET_OK[col.kind]):
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
        "rows_inserted, rows_updated, rows_rejected, ingested_at, source_tz, mapping, message, file_size, "
        "rows_removed, mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [batch_id, name, str(path), digest, rep.kind, rep.status, rep.rows_read, rep.inserted, rep.updated,
         rep.rejected, datetime.now(timezone.utc).replace(tzinfo=None), source_tz,
         json.dumps(mapping_log), rep.message, path.stat().st_size, rep.removed, rep.mode],
    )


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
