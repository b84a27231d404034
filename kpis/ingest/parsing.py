"""Column parsing: the one-pass SELECT that parses and validates every value of a file."""

from __future__ import annotations

from datetime import date, timedelta

from kpis import schema
from kpis.ingest.sql import _err, _lit, _shown, _timestamp_sql, _utc_wall, quote_ident
from kpis.schema import Column, Table

_TRUE = ("true", "t", "yes", "y", "1")


_FALSE = ("false", "f", "no", "n", "0")


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
                  window: tuple[date, date] | None = None, signed: tuple[str, ...] = ()) -> str:
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

    ``signed`` columns may be negative although the schema gives a minimum: a mapping
    that nets credits and refunds into their lines (``negative = "net"``).
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
        if col.minimum is not None and col.name not in signed:
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
