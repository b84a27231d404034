"""Mappings: a real export's columns -> the canonical columns, as data.

A mapping is a TOML file (the presets in ``kpis/presets/`` and any file a user
writes) that says, per canonical column, which source column holds it and how
its values are read: a value vocabulary, a timestamp format or epoch unit, a
time zone, a key inside a JSON tag column, a constant default. It can also
keep only some rows, keep the latest row per id, net many lines into one row
per day, and attribute cost lines to inference / training / ... by rules on
service, SKU or resource names. Every file goes through one validator
(:func:`load_mapping`), which names the file and line of any mistake.

A mapping never runs row by row in Python: :func:`apply` compiles it to one
DuckDB SELECT over the file's reader query that yields the canonical columns
as text (plus ``_row`` and the unmapped source columns), materialises it, and
hands it to ingest's one-pass parser and validator, so row numbers, error
messages, de-duplication and merging are exactly those of a canonical file.
Source column names are quoted as identifiers; values from a mapping file
reach SQL only as escaped string literals.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import available_timezones

import duckdb

from kpis import schema, tomlfile
from kpis.ingest.errors import IngestError, RowError
from kpis.ingest.reading import Limits, json_read_error
from kpis.ingest.sql import _lit, _timestamp_sql, quote_ident
from kpis.validation import Problem, check, did_you_mean, report

PRESET_DIR = Path(__file__).parent / "presets"
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
FORMATS = ("table", "json")  # table: CSV or Parquet; json: JSON / NDJSON documents

EPOCHS = {"s": 1.0, "ms": 1000.0}
NEGATIVE = ("reject", "net")  # a negative value of a column with a minimum: an error of its row, or netted
_MAPPED = "_kpis_mapped"  # the temp table a mapped file is staged in (MappedFile.close drops it)


# ---------------------------------------------------------------------------
# The definitions


@dataclass(frozen=True)
class Condition:
    """A test on one source column (case-insensitive), or ``any`` of several."""

    column: str | None
    op: str
    value: object
    json_key: str | None = None

    def describe(self) -> str:
        if self.op == "any":
            return "(" + " or ".join(c.describe() for c in self.value) + ")"
        col = self.column + (f"[{self.json_key}]" if self.json_key else "")
        v = self.value
        words = {
            "equals": f"{col} is {v!r}",
            "in": f"{col} in {', '.join(v) if isinstance(v, tuple) else v}",
            "not_in": f"{col} not in {', '.join(v) if isinstance(v, tuple) else v}",
            "contains": f"{col} contains {' or '.join(map(repr, v)) if isinstance(v, tuple) else repr(v)}",
            "matches": f"{col} matches /{v}/",
            "empty": f"{col} is {'empty' if v else 'not empty'}",
            "has": f"{col} has {' or '.join(map(repr, v)) if isinstance(v, tuple) else repr(v)}",
        }
        return words[self.op]


@dataclass(frozen=True)
class Source:
    """One way to read a value: a source column (with an optional key or regex into it), or a constant."""

    column: str | None = None
    json_key: str | None = None
    json_index: int | None = None
    extract: str | None = None
    constant: str | None = None

    def describe(self) -> str:
        if self.column is None:
            return repr(self.constant)
        out = self.column
        if self.json_key is not None:
            out += f"[{self.json_key!r}]"
        if self.json_index is not None:
            out += f"[{self.json_index}]"
        if self.extract is not None:
            out += f" ~ /{self.extract}/"
        return out


@dataclass(frozen=True)
class Case:
    """For rows matching ``when``, read the value from ``source`` instead."""

    when: tuple[Condition, ...]
    source: Source


@dataclass(frozen=True)
class ColumnRule:
    """How one canonical column is read from the file."""

    target: str
    sources: tuple[Source, ...] = ()
    combine: str = "first"  # first: the first non-empty source; join: all non-empty ones joined by sep
    sep: str = "/"
    cases: tuple[Case, ...] = ()
    values: tuple[tuple[str, str], ...] = ()
    format: str | None = None
    epoch: str | None = None
    timezone: str | None = None
    add: str | float | None = None  # a source column, or a constant, of seconds (add_unit) to add
    add_unit: str = "s"
    plus: str | None = None
    plus_field: str | None = None
    round: bool = False
    prefix: str | None = None
    default: str | None = None
    optional: bool = False
    negative: str = "reject"  # net: negative lines (credits, refunds, corrections) are kept and netted

    def columns_read(self) -> list[str]:
        cols = [s.column for s in self.sources if s.column is not None]
        cols += [c.source.column for c in self.cases if c.source.column is not None]
        cols += [col for c in self.cases for cond in c.when for col in _condition_columns(cond)]
        if isinstance(self.add, str):
            cols.append(self.add)
        if self.plus:
            cols.append(self.plus)
        return cols

    def describe(self) -> str:
        if not self.sources:
            text = f"always {self.default!r}"
        else:
            joiner = f" + {self.sep!r} + " if self.combine == "join" else " or else "
            text = joiner.join(s.describe() for s in self.sources)
        for c in self.cases:
            text += f"; where {' and '.join(x.describe() for x in c.when)}: {c.source.describe()}"
        if self.plus:
            text += f" + sum({self.plus}{'.' + self.plus_field if self.plus_field else ''})"
        if self.format:
            text += f" (format {self.format})"
        if self.epoch:
            text += f" (epoch {self.epoch})"
        if self.timezone:
            text += f" (time zone {self.timezone})"
        if self.add is not None:
            text += f" + {self.add} {'ms' if self.add_unit == 'ms' else 's'}"
        if self.round:
            text += " (rounded)"
        if self.prefix:
            text += f" (prefixed {self.prefix!r})"
        if self.sources and self.default is not None:
            text += f"; default {self.default!r}"
        if self.optional:
            text += " (optional)"
        if self.negative == "net":
            text += " (negative lines net)"
        return text


@dataclass(frozen=True)
class Rule:
    """Cost attribution and similar: rows matching ``when`` get these constants where their columns are empty."""

    when: tuple[Condition, ...]
    set: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        sets = ", ".join(f"{k} = {v!r}" for k, v in self.set)
        return f"{' and '.join(c.describe() for c in self.when) or 'always'} -> {sets}"


@dataclass(frozen=True)
class Mapping:
    """A validated mapping: a preset shipped in kpis/presets/, or a user's file."""

    name: str
    kind: str
    title: str = ""
    follows: str = ""
    path: str = ""
    is_preset: bool = False
    notes: str = ""
    detect: tuple[str, ...] = ()
    format: str = "table"
    timezone: str | None = None
    columns: tuple[ColumnRule, ...] = ()
    records: str | None = None
    explode: tuple[str, ...] = ()
    keep_if: tuple[Condition, ...] = ()
    require: tuple[Condition, ...] = ()  # a row failing one is refused: the file is not the export the mapping reads
    latest_per: str | None = None
    latest_by: str | None = None
    sum: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    extends: str | None = None
    nulls: tuple[str, ...] = ("",)  # source spellings of an empty value (after trimming)
    measures: tuple[tuple[str, ColumnRule], ...] = ()  # cost measures: name -> how amount is read
    measure: str | None = None  # the measure amount is read with (one of measures)
    hint: str = ""  # what to do when every row of a file was dropped
    refuse_if: tuple[tuple[tuple[Condition, ...], str], ...] = ()  # (when, reason): the file is refused
    warn_if: tuple[tuple[tuple[Condition, ...], str], ...] = ()  # (when, message): a warning with the count

    def with_measure(self, name: str) -> "Mapping":
        """The mapping with ``amount`` read by cost measure ``name`` (e.g. amortised, billed)."""
        found = dict(self.measures)
        if name not in found:
            have = ", ".join(found) if found else "none: it reads one cost column"
            raise MappingError(f"{self.label} has no cost measure {name!r} (measures: {have})")
        cols = tuple(found[name] if c.target == "amount" else c for c in self.columns)
        return replace(self, columns=cols, measure=name)

    def measure_text(self) -> str | None:
        """Which cost column amount is, in words, for the ingest summary; None for non-cost mappings."""
        if self.kind != "costs" or self.column("amount") is None:
            return None
        amount = self.column("amount").describe()
        if not self.measures:
            return f"amount is {amount}"
        others = ", ".join(f"{n} = {r.describe()}" for n, r in self.measures if n != self.measure)
        return (f"cost measure {self.measure}: amount is {amount}"
                + (f" (other measures: {others}; choose with --cost-measure or measure = in a mapping file)"
                   if others else ""))

    @property
    def label(self) -> str:
        """How reports name it: 'preset focus' or 'mapping file my-tool.toml (extends focus)'."""
        if self.is_preset:
            return f"preset {self.name}"
        text = f"mapping file {Path(self.path).name or self.name}"
        return text + (f" (extends {self.extends})" if self.extends else "")

    @property
    def table(self) -> schema.Table:
        return schema.TABLES[self.kind]

    def column(self, name: str) -> ColumnRule | None:
        return next((c for c in self.columns if c.target == name), None)

    def describe(self) -> list[str]:
        """The mapping in words, one line per item: what `python -m kpis presets NAME` prints."""
        out = [f"{self.name} ({self.kind}): {self.title}"]
        if self.follows:
            out.append(f"  follows: {self.follows}")
        if self.detect:
            out.append(f"  recognised by the columns: {', '.join(self.detect)}")
        if self.records:
            out.append(f"  records: {self.records}")
        if self.explode:
            out.append(f"  one row per element of: {', '.join(self.explode)}")
        for c in self.keep_if:
            out.append(f"  keeps rows where {c.describe()}")
        for c in self.require:
            out.append(f"  refuses the file unless every row has {c.describe()}")
        if self.latest_per:
            out.append(f"  keeps the latest row per {self.latest_per} (by {self.latest_by})")
        if self.timezone:
            out.append(f"  naive timestamps are in {self.timezone}")
        if self.nulls != ("",):
            out.append(f"  empty values: {', '.join(repr(n) for n in self.nulls)}")
        for when, reason in self.refuse_if:
            out.append(f"  refuses the file where {' and '.join(c.describe() for c in when)}: {reason}")
        for when, message in self.warn_if:
            out.append(f"  warns where {' and '.join(c.describe() for c in when)}: {message}")
        for c in self.columns:
            out.append(f"  {c.target} <- {c.describe()}")
            for a, b in c.values:
                out.append(f"      {a!r} -> {b!r}")
        for r in self.rules:
            out.append(f"  rule: {r.describe()}")
        if self.measures:
            out.append(f"  {self.measure_text()}")
        if self.sum:
            others = [c for c in self.mapped_targets() if c not in self.sum]
            out.append(f"  sums {', '.join(self.sum)} per {', '.join(others)}")
        return out

    def mapped_targets(self) -> list[str]:
        """Canonical columns the mapping produces, in schema order."""
        targets = {c.target for c in self.columns} | {k for r in self.rules for k, _ in r.set}
        return [c for c in self.table.names if c in targets]

    def columns_read(self) -> list[tuple[str, str, bool]]:
        """(source column, what reads it, optional) for every source column the mapping needs."""
        out = []
        for c in self.columns:
            for col in c.columns_read():
                out.append((col, c.target, c.optional))
        for cond in self.keep_if:
            out += [(col, "keep_if", False) for col in _condition_columns(cond)]
        for cond in self.require:  # a column no row has is empty in every row: the condition says what that means
            out += [(col, "require", True) for col in _condition_columns(cond)]
        for r in self.rules:
            out += [(col, "rules", False) for cond in r.when for col in _condition_columns(cond)]
        for key, checks in (("refuse_if", self.refuse_if), ("warn_if", self.warn_if)):
            out += [(col, key, True) for when, _ in checks for cond in when for col in _condition_columns(cond)]
        if self.latest_per:
            out += [(self.latest_per, "latest", False), (self.latest_by, "latest", False)]
        return out


def _condition_columns(c: Condition) -> list[str]:
    if c.op == "any":
        return [col for sub in c.value for col in _condition_columns(sub)]
    return [c.column]


# ---------------------------------------------------------------------------
# Loading and validation: a declared schema (shape), then rules (meaning), every problem at once
#
# The schema says which keys a mapping file may hold and what each takes; adding a key is
# one line in it (plus, for a column key, the code that reads it). It is built per kind,
# because the canonical columns a file may map are those of its table.

_TEXT = {"type": "string", "minLength": 1}
_SCALAR = {"type": ["string", "integer", "number", "boolean"]}


def _strict(properties: dict, unknown: str, **more) -> dict:
    """A table taking only ``properties``; ``unknown``: the message for any other key."""
    return {"type": "object", "properties": properties, "additionalProperties": False, "x-unknown": unknown, **more}


_SOURCE_PROPS = {
    "from": {**_TEXT, "x-message": "from must be a source column name"},
    "json_key": {"type": "string", "x-message": "json_key must be text"},
    "json_index": {"type": "integer", "x-message": "json_index must be a whole number (0 is the first element)"},
    "extract": {**_TEXT, "x-message": "a regular expression (text) is expected"},
}
_VALUES_OF_OP = {
    "equals": {**_SCALAR, "x-message": "equals takes one value"},
    "in": {"type": "array", "minItems": 1, "items": {"type": ["string", "integer"]},
           "x-message": "in takes a list of values"},
    "not_in": {"type": "array", "minItems": 1, "items": {"type": ["string", "integer"]},
               "x-message": "not_in takes a list of values"},
    "contains": {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"type": ["string", "integer"]}}],
                 "x-message": "contains takes a list of values"},
    "matches": {**_TEXT, "x-message": "a regular expression (text) is expected"},
    "empty": {"type": "boolean", "x-message": "empty takes true or false"},
    "has": {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"type": ["string", "integer"]}}],
            "x-message": "has takes a list of values"},
}
OPS = tuple(_VALUES_OF_OP)
_CONDITION = _strict(
    {"column": {"type": "string", "x-message": "column must be a source column name"},
     "json_key": {"type": "string", "x-message": "json_key must be text"},
     **_VALUES_OF_OP,
     "any": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"},
             "x-message": "any takes a non-empty list of conditions, and nothing else"}},
    "unknown key {key!r} in a condition{hint}; expected column, json_key and one of " + ", ".join(OPS)
    + " (or any = [conditions])",
    **{"x-message": "a condition is a table such as { column = \"ChargeCategory\", in = [\"Usage\"] }"})
_CONDITIONS = {"anyOf": [{"$ref": "#/$defs/condition", "type": "object"},
                         {"type": "array", "items": {"$ref": "#/$defs/condition"}}],
               "x-message": "a condition is { column = \"...\", in = [...] } (or a list of them, all must hold)"}
_SOURCE_ITEM = {"anyOf": [{**_TEXT},
                          _strict(_SOURCE_PROPS, "unknown key {key!r}{hint}; a source takes {allowed}",
                                  required=["from"], **{"x-required": "each source needs from = \"column\""})],
                "x-message": "each source is a column name or { from = ..., json_key = ... }"}
_SOURCE_LIST = {"type": "array", "minItems": 1, "items": _SOURCE_ITEM,
                "x-message": "a non-empty list of source columns is expected"}
_ADD = {"anyOf": [_TEXT, {"type": "number"}], "x-message": "{key} is a source column or a number"}
COLUMN_PROPS = {
    **_SOURCE_PROPS,
    "first_of": _SOURCE_LIST,
    "join": _SOURCE_LIST,
    "sep": {"type": "string", "x-message": "sep must be text"},
    "cases": {"type": "array", "items": _strict(
        {"when": _CONDITIONS, **_SOURCE_PROPS, "value": {**_SCALAR, "x-message": "value must be a constant"}},
        "unknown key {key!r} in a case{hint}; expected one of {allowed}", required=["when"],
        **{"x-required": "a case is { when = condition(s), from = \"column\" } or { when = ..., value = \"...\" }",
           "x-message": "a case is { when = condition(s), from = \"column\" } or { when = ..., value = \"...\" }"}),
        "x-message": "cases must be a list of { when = ..., from = ... } tables"},
    "values": {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"],
                                                          "x-message": "values must be a table of source value = "
                                                                       "canonical value"},
               "x-message": "values must be a table of source value = canonical value"},
    "format": {"type": "string", "pattern": "%",
               "x-message": "format is a strptime pattern such as \"%d/%b/%y %I:%M %p\""},
    "epoch": {"enum": list(EPOCHS), "x-message": "epoch must be \"s\" (seconds) or \"ms\" (milliseconds)"},
    "timezone": {"type": "string", "x-message": "unknown time zone {value!r} (use an IANA name such as UTC or "
                                                "Europe/Berlin)"},
    "add_seconds": _ADD,
    "add_milliseconds": _ADD,
    "plus": {"type": "string", "x-message": "plus is a source column (a number, or a JSON list of numbers or objects)"},
    "plus_field": {"type": "string", "x-message": "plus_field names the field to add up in the plus column"},
    "round": {"type": "boolean", "x-message": "round must be true or false"},
    "prefix": {"type": "string", "x-message": "prefix must be text"},
    "default": {**_SCALAR, "x-message": "default must be a constant"},
    "optional": {"type": "boolean", "x-message": "optional must be true or false"},
    "negative": {"enum": list(NEGATIVE), "x-message": "negative is one of reject, net, for a column with a minimum"},
}
SOURCE_KEYS = tuple(_SOURCE_PROPS)
COLUMN_KEYS = tuple(COLUMN_PROPS)
CASE_KEYS = ("when", "value") + SOURCE_KEYS
CONDITION_KEYS = tuple(_CONDITION["properties"])
ROWS_PROPS = {
    "records": {**_TEXT, "x-message": "records must be the path of the list of records, e.g. \"data\""},
    "explode": {"anyOf": [_TEXT, {"type": "array", "items": _TEXT}],
                "x-message": "explode must be a list of list-valued columns"},
    "keep_if": _CONDITIONS,
    "require": {**_CONDITIONS, "x-message": "require is a condition (or a list of them) every row must meet"},
    "nulls": {"type": "array", "items": {"type": "string"},
              "x-message": "nulls must be a list of texts that mean empty, e.g. [\"\", \"NULL\"]"},
    **{key: {"type": "array", "items": _strict(
        {"when": _CONDITIONS, word: {**_TEXT, "x-message": f"{word} must be text"}},
        f"{key} is a list of {{{{ when = condition(s), {word} = \"...\" }}}}", required=["when", word],
        **{"x-required": f"{key} is a list of {{{{ when = condition(s), {word} = \"...\" }}}}",
           "x-message": f"{key} is a list of {{{{ when = condition(s), {word} = \"...\" }}}}"}),
        "x-message": f"{key} is a list of {{{{ when = condition(s), {word} = \"...\" }}}}"}
       for key, word in (("refuse_if", "reason"), ("warn_if", "message"))},
    "latest": _strict({"per": {"type": "string"}, "by": {"type": "string"}},
                      "latest must be { per = \"id column\", by = \"timestamp column\" }", required=["per", "by"],
                      **{"x-required": "latest must be { per = \"id column\", by = \"timestamp column\" }",
                         "x-message": "latest must be { per = \"id column\", by = \"timestamp column\" }"}),
}
ROWS_KEYS = tuple(ROWS_PROPS)


def _top_props(table: schema.Table | None) -> dict:
    names = table.names if table else None
    what = f"{table.name} column" if table else "column"
    if names:
        unknown = f"unknown {what} {{key!r}}{{hint}}; canonical columns: {', '.join(names)}"
        columns = _strict({c: {"anyOf": [
            {**_TEXT, "x-message": "the source column name is empty"},
            _strict(COLUMN_PROPS, f"unknown key {{key!r}} for column {c}{{hint}}; expected one of {{allowed}}")],
            "x-message": "a column is \"source column\" or a table such as { from = \"...\", values = {...} }"}
            for c in names}, unknown)
        sets = _strict({c: {**_SCALAR, "x-message": "rules set constants (text, number or boolean)"} for c in names},
                       f"unknown {what} {{key!r}}{{hint}}")
    else:  # kind unknown: its error is reported; the columns are checked once it is fixed
        columns, sets = {"type": "object"}, {"type": "object"}
    amount = {"anyOf": [{**_TEXT, "x-message": "the source column name is empty"},
                        _strict(COLUMN_PROPS, "unknown key {key!r} for a cost measure{hint}; expected one of {allowed}")],
              "x-message": "a cost measure is \"source column\" or a table such as { from = \"...\" }"}
    columns["x-message"] = "columns must be a table: canonical column = source column or {...}"
    sets.update(minProperties=1, **{"x-message": "set must be a table of canonical column = constant"})
    return {
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                 "x-message": "name must be a word of letters, digits, '-', '_' or '.'"},
        "kind": {"enum": list(schema.TABLES),
                 "x-message": f"kind must be one of {', '.join(schema.TABLES)} (got {{value!r}})"},
        "title": {"type": "string", "x-message": "title must be text"},
        "follows": {"type": "string", "x-message": "follows must be text"},
        "detect": {"type": "array", "items": _TEXT, "x-message": "detect must be a list of column names"},
        "format": {"enum": list(FORMATS), "x-message": f"format must be one of {', '.join(FORMATS)}"},
        "timezone": {"type": "string", "x-message": "unknown time zone {value!r} (use an IANA name such as UTC or "
                                                    "Europe/Berlin)"},
        "extends": {"type": "string", "x-message": "extends must be a preset name"},
        "columns": columns,
        "rows": _strict(ROWS_PROPS, "unknown key {key!r} in [rows]{hint}; expected one of {allowed}",
                        **{"x-message": "rows must be a table"}),
        "aggregate": _strict({"sum": {"type": "array", "items": {"type": "string"},
                                      "x-message": "sum must be a list of canonical columns"}},
                             "aggregate takes one key: sum = [canonical columns to add up]",
                             **{"x-message": "aggregate takes one key: sum = [canonical columns to add up]"}),
        "rules": {"type": "array", "items": _strict(
            {"when": _CONDITIONS, "set": sets}, "a rule is { when = condition(s), set = { column = \"value\" } }",
            required=["set"], **{"x-required": "a rule is { when = condition(s), set = { column = \"value\" } }",
                                 "x-message": "a rule is { when = condition(s), set = { column = \"value\" } }"}),
            "x-message": "rules must be an array of tables: [[rules]] when = ... set = ..."},
        "notes": {"type": "string", "x-message": "notes must be text"},
        "measures": {"type": "object", "minProperties": 1, "additionalProperties": amount,
                     "x-message": "measures is a table of cost measure = how amount is read, for costs"},
        "measure": {"type": "string", "x-message": "measure must be the name of a cost measure"},
        "hint": {"type": "string", "x-message": "hint must be text"},
    }


TOP_KEYS = tuple(_top_props(None))
_SCHEMAS: dict[str | None, dict] = {}


def mapping_schema(kind: str | None) -> dict:
    """The JSON Schema (Draft 2020-12) of a mapping file of this kind (``None``: kind not known)."""
    if kind not in _SCHEMAS:
        _SCHEMAS[kind] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": {"condition": _CONDITION},
            **_strict(_top_props(schema.TABLES.get(kind)), "unknown key {key!r}{hint}; expected one of {allowed}"),
        }
    return _SCHEMAS[kind]


class MappingError(ValueError):
    """A mapping file is not valid; the message names the file and the line of every problem."""

    def __init__(self, message: str, problems: list[tuple[int | None, str]] | None = None):
        super().__init__(message)
        self.problems = problems or []


def list_presets() -> list[Mapping]:
    """Every shipped preset, validated, sorted by kind and name."""
    out = [load_preset(p.stem) for p in sorted(PRESET_DIR.glob("*.toml"))]
    return sorted(out, key=lambda m: (list(schema.TABLES).index(m.kind), m.name))


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(name: str) -> Mapping:
    """A shipped preset by name (e.g. ``focus``, ``pagerduty``)."""
    path = PRESET_DIR / f"{name}.toml"
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name or "") or not path.is_file():
        raise MappingError(f"unknown preset {name!r}{did_you_mean(name, preset_names())}; "
                           f"presets: {', '.join(preset_names())}")
    stat = path.stat()
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _PRESETS.get(name)
    if cached is None or cached[0] != key:  # validated once per process, again if the file changes
        cached = _PRESETS[name] = (key, _load(path, is_preset=True))
    return cached[1]


_PRESETS: dict[str, tuple[tuple[int, int], Mapping]] = {}


def load_mapping(spec) -> Mapping:
    """A mapping from a preset name, a TOML file path, or an already loaded :class:`Mapping`."""
    if isinstance(spec, Mapping):
        return spec
    text = str(spec)
    p = Path(text)
    if p.suffix.lower() == ".toml" or p.exists():
        if not p.is_file():
            raise MappingError(f"{text}: no such mapping file")
        return _load(p, is_preset=False)
    return load_preset(text)


def _load(path: Path, *, is_preset: bool) -> Mapping:
    try:
        f = tomlfile.read(str(path), path.read_text(encoding="utf-8"))
    except tomlfile.TomlSyntaxError as e:
        where = f"{path}, line {e.line}" if e.line else str(path)
        raise MappingError(f"{where}: not valid TOML: {e}", [(e.line, f"not valid TOML: {e}")]) from None
    return validate(f, is_preset=is_preset, default_name=path.stem)


def validate(f: tomlfile.TomlFile, *, is_preset: bool = False, default_name: str = "mapping") -> Mapping:
    """The :class:`Mapping` a parsed file describes; :class:`MappingError` listing every problem if any."""
    data = f.data
    problems: list[Problem] = []
    base = None
    if isinstance(data.get("extends"), str):
        try:
            base = load_preset(data["extends"])
        except MappingError as e:
            problems.append(Problem(("extends",), str(e)))
    kind = data.get("kind", base.kind if base else None)
    known_kind = kind if isinstance(kind, str) and kind in schema.TABLES else None
    problems += check(mapping_schema(known_kind), data)
    if "kind" not in data and base is None:
        problems.append(Problem(("kind",), f"kind must be one of {', '.join(schema.TABLES)} (got None)"))
    if known_kind and not any(p.path[:1] == ("kind",) for p in problems):
        for rule in _RULES:
            problems += rule(data, schema.TABLES[known_kind], base=base, is_preset=is_preset,
                             default_name=default_name)
    if problems:
        problems = list(dict.fromkeys(problems))
        raise MappingError(report(f.path, problems, f.line), [(f.line(p.path), p.message) for p in problems])
    return _build(f.path, data, schema.TABLES[known_kind], base=base, is_preset=is_preset, default_name=default_name)


# The rules: what the schema cannot say. Each takes the file's data (whose shape may still be
# wrong where the schema said so: a rule looks only at values of the right type) and returns
# its problems.


def _is_table(x) -> bool:
    return isinstance(x, dict)


def _columns_of(data: dict) -> dict:
    cols = data.get("columns", {})
    return {k: v for k, v in cols.items()} if _is_table(cols) else {}


def _rule_identity(data, table, *, base, is_preset, default_name) -> list[Problem]:
    out = []
    name = data.get("name", default_name)
    if is_preset and isinstance(name, str) and name != default_name:
        out.append(Problem(("name",), f"a preset's name must be its file name ({default_name!r})"))
    if base and table.name != base.kind:
        out.append(Problem(("kind",), f"kind {table.name!r} differs from the {base.kind!r} of preset {base.name}"))
    if is_preset and not data.get("detect", list(base.detect) if base else []):
        out.append(Problem(("detect",), "a preset needs detect: the header columns that recognise its export"))
    tz = data.get("timezone")
    if isinstance(tz, str):
        out += _tz_problems(("timezone",), tz)
    return out


def _tz_problems(path: tuple, tz: str) -> list[Problem]:
    if tz in _timezones() or tz.upper() == "UTC":
        return []
    return [Problem(path, f"unknown time zone {tz!r}{did_you_mean(tz, _timezones())} "
                          "(use an IANA name such as UTC or Europe/Berlin)")]


def _regex_problems(path: tuple, pattern, *, group: bool = False) -> list[Problem]:
    if not isinstance(pattern, str) or not pattern:
        return []  # the schema names it
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        return [Problem(path, f"not a valid regular expression: {e}")]
    if group and compiled.groups < 1:
        return [Problem(path, "extract needs a capture group: the part in (...) is the value")]
    return []


def _source_problems(path: tuple, spec: dict) -> list[Problem]:
    out = _regex_problems(path + ("extract",), spec.get("extract"), group=True)
    if "from" not in spec and any(k in spec for k in SOURCE_KEYS[1:]):
        out.append(Problem(path, "json_key, json_index and extract need a from column"))
    return out


def _condition_problems(path: tuple, spec) -> list[Problem]:
    items = [spec] if _is_table(spec) else spec if isinstance(spec, list) else []
    out = []
    for i, c in enumerate(items):
        p = path if _is_table(spec) else path + (i,)
        if not _is_table(c):
            continue
        if "any" in c:
            if set(c) != {"any"}:
                out.append(Problem(p + ("any",), "any takes a non-empty list of conditions, and nothing else"))
            if isinstance(c["any"], list):
                out += _condition_problems(p + ("any",), c["any"])
            continue
        ops = [k for k in OPS if k in c]
        if "column" not in c or len(ops) != 1:
            out.append(Problem(p, f"a condition needs column = \"...\" and exactly one of {', '.join(OPS)}"))
        out += _regex_problems(p + ("matches",), c.get("matches"))
    return out


def _rule_columns(data, table, *, base, **_) -> list[Problem]:
    out = []
    for target, spec in _columns_of(data).items():
        if target in table.names and _is_table(spec):
            out += _column_problems(table, target, ("columns", target), spec)
    return out


def _rule_measures(data, table, *, base, **_) -> list[Problem]:
    """Cost measures (how amount is read: amortised, billed, ...) are for costs, and the measure chosen is one."""
    out = []
    measures = data.get("measures")
    if _is_table(measures):
        if table.name != "costs":
            out.append(Problem(("measures",), "measures is a table of cost measure = how amount is read, for costs"))
        for name, spec in measures.items():
            if _is_table(spec) and table.name == "costs":
                out += _column_problems(table, "amount", ("measures", name), spec)
    measure = data.get("measure")
    if isinstance(measure, str):
        have = set(measures) if _is_table(measures) else set()
        if base and not ("amount" in _columns_of(data) and "measures" not in data):
            have |= {n for n, _ in base.measures}
        if measure not in have:
            out.append(Problem(("measure",), f"unknown cost measure {measure!r}{did_you_mean(measure, sorted(have))}; "
                                             f"measures: {', '.join(sorted(have)) or 'none'}"))
    return out


def _column_problems(table, target: str, path: tuple, spec: dict) -> list[Problem]:
    """What the schema cannot say about one column's table (``spec``) reading canonical column ``target``."""
    out = _source_problems(path, spec)
    how = [k for k in ("from", "first_of", "join") if k in spec]
    if len(how) > 1:
        out.append(Problem(path, "give one of from, first_of, join"))
    if "sep" in spec and "join" not in spec:
        out.append(Problem(path + ("sep",), "sep goes with join"))
    if not how and "default" not in spec:
        out.append(Problem(path, f"column {target} needs from, first_of, join or a default"))
    for key in ("first_of", "join"):
        for i, s in enumerate(spec.get(key) or []):
            if _is_table(s):
                out += _source_problems(path + (key, i), s)
    for i, c in enumerate(spec.get("cases") or []):
        if not _is_table(c):
            continue
        out += _condition_problems(path + ("cases", i, "when"), c.get("when"))
        if not ({"from", "value"} & set(c)):
            out.append(Problem(path + ("cases", i), "a case is { when = condition(s), from = \"column\" } "
                                                    "or { when = ..., value = \"...\" }"))
        elif "from" in c and "value" in c:
            out.append(Problem(path + ("cases", i), "give from or value, not both"))
        out += _source_problems(path + ("cases", i), {k: v for k, v in c.items() if k != "value"}
                                if "value" not in c else {})
    kind = table.column(target).kind
    for k in ("format", "epoch", "timezone", "add_seconds", "add_milliseconds"):
        if k in spec and kind not in (schema.TIMESTAMP, schema.DATE):
            out.append(Problem(path + (k,), f"{k} applies to timestamp and date columns; {target} is {kind}"))
    for k in ("plus", "plus_field", "round"):
        if k in spec and kind not in (schema.NUMBER, schema.COUNT):
            out.append(Problem(path + (k,), f"{k} applies to numeric columns; {target} is {kind}"))
    if "format" in spec and "epoch" in spec:
        out.append(Problem(path, "give format or epoch, not both"))
    if "add_seconds" in spec and "add_milliseconds" in spec:
        out.append(Problem(path + ("add_milliseconds",), "give add_seconds or add_milliseconds, not both"))
    if "plus_field" in spec and "plus" not in spec:
        out.append(Problem(path + ("plus_field",), "plus_field names the field to add up in the plus column"))
    if isinstance(spec.get("timezone"), str):
        out += _tz_problems(path + ("timezone",), spec["timezone"])
    if "negative" in spec and table.column(target).minimum is None:
        out.append(Problem(path + ("negative",), f"negative is one of reject, net, for a column with a minimum "
                                                     f"({target} has none)"))
    return out


def _rule_rows(data, table, *, base, **_) -> list[Problem]:
    rows = data.get("rows", {})
    if not _is_table(rows):
        return []
    out = _condition_problems(("rows", "keep_if"), rows.get("keep_if"))
    out += _condition_problems(("rows", "require"), rows.get("require"))
    for key in ("refuse_if", "warn_if"):
        items = rows.get(key)
        for i, x in enumerate(items if isinstance(items, list) else []):
            if _is_table(x) and "when" in x:
                out += _condition_problems(("rows", key, i, "when"), x["when"])
    fmt = data.get("format", base.format if base else "table")
    if ("records" in rows or "explode" in rows) and fmt != "json":
        out.append(Problem(("rows",), "records and explode apply to JSON exports: set format = \"json\""))
    if "latest" in rows and table.key is None:
        out.append(Problem(("rows", "latest"), f"latest applies to tables keyed by id, not {table.name}"))
    return out


def _rule_aggregate(data, table, *, base, **_) -> list[Problem]:
    agg = data.get("aggregate", {})
    sums = agg.get("sum", []) if _is_table(agg) else []
    if not isinstance(sums, list):
        return []
    out = []
    mapped = _mapped(data, base)
    if sums and table.key is not None:
        out.append(Problem(("aggregate", "sum"), f"aggregate applies to costs and predictions, not {table.name}"))
    for s in sums:
        if not isinstance(s, str):
            continue
        if s not in table.names or table.column(s).kind not in (schema.NUMBER, schema.COUNT):
            out.append(Problem(("aggregate", "sum"), f"cannot sum {s!r}: not a numeric {table.name} column"))
        elif s not in mapped:
            out.append(Problem(("aggregate", "sum"), f"cannot sum {s!r}: it is not mapped"))
    return out


def _rule_rules(data, table, **_) -> list[Problem]:
    rules = data.get("rules", [])
    out = []
    for i, r in enumerate(rules if isinstance(rules, list) else []):
        if _is_table(r):
            out += _condition_problems(("rules", i, "when"), r.get("when", []))
    return out


def _mapped(data, base) -> set[str]:
    """The canonical columns the file (and its preset) read from the source: columns, and amount from a cost
    measure."""
    mapped = set(_columns_of(data)) | ({c.target for c in base.columns} if base else set())
    if (_is_table(data.get("measures")) and data["measures"]) or (base and base.measures):
        mapped.add("amount")
    return mapped


def _rule_required(data, table, *, base, **_) -> list[Problem]:
    mapped = _mapped(data, base)
    rules = data.get("rules", [])
    for r in (rules if isinstance(rules, list) else []) + ([{"set": dict(x.set)} for x in base.rules] if base else []):
        if _is_table(r) and _is_table(r.get("set")):
            mapped |= set(r["set"])
    return [Problem(("columns",), f"required {table.name} column {req!r} is not mapped")
            for req in table.required if req not in mapped]


_RULES = (_rule_identity, _rule_columns, _rule_measures, _rule_rows, _rule_aggregate, _rule_rules, _rule_required)


# Building: the data has passed the schema and the rules, so it is read without further checks.


def _text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


_TZ_CACHE: set[str] = set()


def _timezones() -> set[str]:
    if not _TZ_CACHE:
        _TZ_CACHE.update(available_timezones())
    return _TZ_CACHE


def _build(path: str, data: dict, table: schema.Table, *, base: Mapping | None, is_preset: bool,
           default_name: str) -> Mapping:
    rows = data.get("rows", {})
    columns = {c.target: c for c in base.columns} if base else {}
    own = data.get("columns", {})
    for target, spec in own.items():
        columns[target] = _column_rule(target, spec)
    # Cost measures: the file's own amount column replaces the preset's measures; else the one chosen (or the
    # first) reads amount.
    measure = data.get("measure", base.measure if base else None)
    measures = dict(base.measures) if base else {}
    if "amount" in own and "measures" not in data:
        measure, measures = data.get("measure"), {}
    if "measures" in data:
        for mname, mspec in data["measures"].items():
            measures[mname] = _column_rule("amount", mspec)
        if measure is None or "measure" not in data and measure not in measures:
            measure = next(iter(data["measures"]))
    if measure is not None and "amount" not in own:
        columns["amount"] = measures[measure]
    nulls = rows.get("nulls", list(base.nulls) if base else [""])
    checks = {key: tuple((_conditions(x["when"]), x[word]) for x in rows[key]) if key in rows
              else (getattr(base, key) if base else ())
              for key, word in (("refuse_if", "reason"), ("warn_if", "message"))}
    explode = rows.get("explode", list(base.explode) if base else [])
    latest = rows.get("latest")
    rules = [Rule(_conditions(r.get("when", [])), tuple((k, _text(v)) for k, v in r["set"].items()))
             for r in data.get("rules", [])]
    if base:
        rules += list(base.rules)  # a user's rules come first, then the preset's
    return Mapping(
        name=data.get("name", default_name), kind=table.name,
        title=data.get("title", base.title if base else ""),
        follows=data.get("follows", base.follows if base else ""),
        notes=data.get("notes", base.notes if base else ""),
        path=path, is_preset=is_preset, detect=tuple(data.get("detect", list(base.detect) if base else [])),
        format=data.get("format", base.format if base else "table"),
        timezone=data.get("timezone", base.timezone if base else None),
        columns=tuple(columns[c] for c in table.names if c in columns),
        records=rows.get("records", base.records if base else None),
        explode=tuple([explode] if isinstance(explode, str) else explode),
        keep_if=_conditions(rows["keep_if"]) if "keep_if" in rows else (base.keep_if if base else ()),
        require=_conditions(rows["require"]) if "require" in rows else (base.require if base else ()),
        latest_per=latest["per"] if latest else (base.latest_per if base else None),
        latest_by=latest["by"] if latest else (base.latest_by if base else None),
        sum=tuple(data.get("aggregate", {}).get("sum", list(base.sum) if base else [])),
        rules=tuple(rules), extends=base.name if base else None,
        nulls=tuple(dict.fromkeys(["", *(x.strip() for x in nulls)])), measures=tuple(measures.items()),
        measure=measure, hint=data.get("hint", base.hint if base else ""), refuse_if=checks["refuse_if"],
        warn_if=checks["warn_if"],
    )


def _source(spec: dict | str) -> Source:
    if isinstance(spec, str):
        return Source(spec)
    if "from" not in spec and "value" in spec:
        return Source(constant=_text(spec["value"]))
    return Source(spec.get("from"), spec.get("json_key"), spec.get("json_index"), spec.get("extract"))


def _column_rule(target: str, spec) -> ColumnRule:
    if isinstance(spec, str):
        return ColumnRule(target, (Source(spec),))
    combine = "join" if "join" in spec else "first"
    if "from" in spec:
        sources = (_source(spec),)
    else:
        sources = tuple(_source(s) for s in spec.get("first_of") or spec.get("join") or [])
    add, unit = None, "s"
    for k, u in (("add_seconds", "s"), ("add_milliseconds", "ms")):
        if k in spec:
            add, unit = spec[k], u
    default = spec.get("default")
    return ColumnRule(
        target=target, sources=sources, combine=combine, sep=spec.get("sep", "/"),
        cases=tuple(Case(_conditions(c["when"]), _source(c)) for c in spec.get("cases", [])),
        values=tuple((str(k), _text(v)) for k, v in spec.get("values", {}).items()), format=spec.get("format"),
        epoch=spec.get("epoch"), timezone=spec.get("timezone"), add=add, add_unit=unit, plus=spec.get("plus"),
        plus_field=spec.get("plus_field"), round=spec.get("round", False), prefix=spec.get("prefix"),
        default=None if default is None else _text(default), optional=spec.get("optional", False),
        negative=spec.get("negative", "reject"),
    )


def _conditions(spec) -> tuple[Condition, ...]:
    return tuple(_condition(c) for c in ([spec] if isinstance(spec, dict) else spec))


def _condition(c: dict) -> Condition:
    if "any" in c:
        return Condition(None, "any", tuple(_condition(x) for x in c["any"]))
    op = next(k for k in OPS if k in c)
    v = c[op]
    if op in ("in", "not_in", "contains", "has"):
        v = (v,) if isinstance(v, str) else tuple(str(x) for x in v)
    elif op == "equals":
        v = _text(v)
    return Condition(c["column"], op, v, c.get("json_key"))


# ---------------------------------------------------------------------------
# Detection


def is_json(path: Path) -> bool:
    return path.name.lower().endswith(JSON_SUFFIXES)


class AmbiguousPreset(Exception):
    """A header fits several presets equally well; the message lists them."""


def detect_preset(columns: list[str], *, kind: str | None = None, fmt: str = "table",
                  presets: list[Mapping] | None = None) -> Mapping | None:
    """The preset whose ``detect`` columns all appear in ``columns`` (case-insensitive).

    A detect name also matches a nested field's parent (``service`` matches
    ``service.description``). When several fit, the one with the most detect
    columns wins; a tie raises :class:`AmbiguousPreset`.
    """
    have = {c.lower() for c in columns}
    parents = {p for c in have for p in _parents(c)}
    hits = []
    for m in presets if presets is not None else list_presets():
        if m.format != fmt or (kind is not None and m.kind != kind):
            continue
        if all(d.lower() in have or d.lower() in parents for d in m.detect):
            hits.append(m)
    if not hits:
        return None
    hits.sort(key=lambda m: -len(m.detect))
    if len(hits) > 1 and len(hits[0].detect) == len(hits[1].detect):
        raise AmbiguousPreset(", ".join(m.name for m in hits if len(m.detect) == len(hits[0].detect)))
    return hits[0]


def _parents(col: str) -> list[str]:
    parts = col.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


# ---------------------------------------------------------------------------
# Reading the file: every source column as text


def _json_path(keys: list[str]) -> str:
    return "$" + "".join('."' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in keys)


class _Columns:
    """The file's source columns and the SQL expression that reads each as text (NULL when empty)."""

    def __init__(self, names: list[str], expr: dict[str, str], objects: dict[str, str] | None = None,
                 top_level: list[str] | None = None):
        self.names = names
        self._expr = expr
        self._lower = {n.lower(): n for n in names}
        self._objects = objects or {}
        self.top_level = top_level if top_level is not None else names

    def has(self, name: str) -> bool:
        return self.resolve(name) is not None

    def canonical_name(self, name: str) -> str | None:
        if name in self._expr:
            return name
        return self._lower.get(name.lower())

    def resolve(self, name: str) -> str | None:
        """SQL for a source column, or for a field inside a nested / JSON column (a.b.c)."""
        hit = self.canonical_name(name)
        if hit is not None:
            return self._expr[hit]
        if name in self._objects:
            return self._objects[name]
        parts = name.split(".")
        for i in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:i])
            base = self._expr.get(self.canonical_name(head) or "") or self._objects.get(head)
            if base is not None:
                path = _lit(_json_path(parts[i:]))
                return f"(CASE WHEN json_valid({base}) THEN json_extract_string({base}, {path}) END)"
        return None


_NESTED = re.compile(r"^(STRUCT|MAP|UNION|JSON)|\[\d*\]$")


def _tabular_columns(described: list[tuple]) -> _Columns:
    names, expr = [], {}
    for row in described:
        name, typ = row[0], str(row[1])
        if name == "_row":
            continue
        q = quote_ident(name)
        expr[name] = f"to_json({q})::VARCHAR" if _NESTED.search(typ) else f"{q}::VARCHAR"
        names.append(name)
    return _Columns(names, expr)


def _json_reader(m: Mapping) -> str:
    """SQL (one bound parameter: the path) yielding (_row, rec JSON, x0 JSON, x1 ...) for a JSON mapping."""
    docs = ("SELECT unnest(CASE WHEN json_type(json) = 'ARRAY' THEN json::JSON[] ELSE [json] END) AS rec "
            "FROM read_json_objects(?, format = 'unstructured', maximum_object_size = 1073741824)")
    if m.records:
        p = _lit(_json_path(m.records.split(".")))
        docs = (f"SELECT unnest(CASE WHEN json_type(rec, {p}) = 'ARRAY' THEN json_extract(rec, {p})::JSON[] "
                f"WHEN json_type(rec, {p}) IS NULL THEN [rec] ELSE []::JSON[] END) AS rec FROM ({docs})")
    if m.explode:
        parts = ", ".join(
            f"unnest(coalesce(TRY_CAST(json_extract(rec, {_lit(_json_path(e.split('.')))}) AS JSON[]), []::JSON[])) "
            f"AS x{i}" for i, e in enumerate(m.explode))
        docs = f"SELECT rec, {parts} FROM ({docs})"
    return f"SELECT row_number() OVER () AS _row, * FROM ({docs})"


def _json_columns(con, m: Mapping, reader: str, params: list) -> _Columns:
    """Discover the JSON fields (json_group_structure over all records) and name them a.b.c."""
    aggs = ["json_group_structure(rec)"] + [f"json_group_structure(x{i})" for i in range(len(m.explode))]
    row = con.execute(f"SELECT {', '.join(aggs)} FROM ({reader})", params).fetchone()
    rec_struct = json.loads(row[0]) if row and row[0] else {}
    names, expr, objects, top = [], {}, {}, []
    exploded = {e: i for i, e in enumerate(m.explode)}

    def add(path: list[str], base: str, rel: list[str]):
        name = ".".join(path)
        if name in expr:
            return
        names.append(name)
        expr[name] = f"json_extract_string({base}, {_lit(_json_path(rel))})"

    def walk(struct, path: list[str], base: str, rel: list[str]):
        name = ".".join(path)
        if name in exploded:
            i = exploded[name]
            sub = json.loads(row[1 + i]) if row[1 + i] else None
            objects[name] = f"x{i}::VARCHAR"
            if isinstance(sub, dict) and sub:
                for k, v in sub.items():
                    walk(v, path + [k], f"x{i}", [k])
            else:
                names.append(name)
                expr[name] = f"json_extract_string(x{i}, '$')"
            return
        if isinstance(struct, dict) and struct:
            objects[name] = f"json_extract({base}, {_lit(_json_path(rel))})::VARCHAR"
            for k, v in struct.items():
                walk(v, path + [k], base, rel + [k])
            return
        add(path, base, rel)

    if isinstance(rec_struct, dict):
        for k, v in rec_struct.items():
            walk(v, [k], "rec", [k])
            if not (isinstance(v, dict) and v):
                top.append(k)
    for e in m.explode:  # an exploded list no record holds
        if e not in expr and e not in objects:
            i = exploded[e]
            objects[e] = f"x{i}::VARCHAR"
    return _Columns(names, {k: f"nullif(trim({v}), '')" for k, v in expr.items()}, objects,
                    [t for t in top if t in expr])


def json_columns(con, m: Mapping, path: Path) -> list[str]:
    """The column names a JSON mapping would see in a file (for detection)."""
    reader = _json_reader(m)
    return _json_columns(con, m, reader, [str(path)]).names


# ---------------------------------------------------------------------------
# Compiling a mapping to SQL


def _nz(x: str) -> str:
    return f"nullif(trim({x}), '')"


def _json_key_sql(x: str, key: str) -> str:
    """A key's value from a JSON object ({"k": "v"}, also a map) or a list of {key, value} pairs."""
    k = _lit(key)
    path = _lit(_json_path([key]))
    return (f"(CASE WHEN NOT json_valid({x}) THEN NULL WHEN json_type({x}) = 'OBJECT' "
            f"THEN json_extract_string({x}, {path}) WHEN json_type({x}) = 'ARRAY' THEN "
            f"list_extract(json_extract_string({x}, '$[*].value'), "
            f"list_position(json_extract_string({x}, '$[*].key'), {k})) END)")


class _Compiler:
    def __init__(self, m: Mapping, cols: _Columns):
        self.m, self.cols = m, cols

    def col(self, name: str) -> str:
        x = self.cols.resolve(name)
        if x is None:
            return "NULL::VARCHAR"
        spellings = [n for n in self.m.nulls if n]
        if not spellings:
            return _nz(x)
        # the export's own spellings of an empty value (FOCUS writes NULL) are empty too
        return f"(CASE WHEN trim({x}) IN ({', '.join(_lit(n) for n in spellings)}) THEN NULL ELSE {_nz(x)} END)"

    def source(self, s: Source) -> str:
        if s.column is None:
            return _lit(s.constant)
        x = self.col(s.column)
        if s.json_key is not None:
            x = _nz(_json_key_sql(x, s.json_key))
        if s.json_index is not None:
            x = _nz(f"(CASE WHEN json_valid({x}) THEN json_extract_string({x}, '$[{int(s.json_index)}]') END)")
        if s.extract is not None:
            x = f"nullif(regexp_extract({x}, {_lit(s.extract)}, 1), '')"
        return x

    def cond(self, c: Condition) -> str:
        if c.op == "any":
            return "(" + " OR ".join(self.cond(x) for x in c.value) + ")"
        x = self.col(c.column)
        if c.json_key is not None:
            x = _nz(_json_key_sql(x, c.json_key))
        low = f"lower({x})"
        v = c.value
        if c.op == "equals":
            return f"coalesce({low} = {_lit(v.lower())}, FALSE)"
        if c.op == "in":
            return f"coalesce({low} IN ({', '.join(_lit(a.lower()) for a in v)}), FALSE)"
        if c.op == "not_in":
            return f"coalesce({low} NOT IN ({', '.join(_lit(a.lower()) for a in v)}), TRUE)"
        if c.op == "contains":
            return "coalesce(" + " OR ".join(f"contains({low}, {_lit(a.lower())})" for a in v) + ", FALSE)"
        if c.op == "matches":
            return f"coalesce(regexp_matches({x}, {_lit(v)}), FALSE)"
        if c.op == "empty":
            return f"({x} IS {'' if v else 'NOT '}NULL)"
        if c.op == "has":
            wanted = ", ".join(_lit(a.lower()) for a in v)
            return (f"coalesce(CASE WHEN json_valid({x}) AND json_type({x}) = 'ARRAY' THEN list_has_any("
                    f"list_transform(json_extract_string({x}, '$[*]'), lambda e: lower(e)), [{wanted}]) END, FALSE)")
        raise ValueError(c.op)

    def conds(self, cs) -> str:
        return " AND ".join(f"({self.cond(c)})" for c in cs) or "TRUE"

    def value(self, r: ColumnRule) -> str:
        """The column's value as text, before rules and defaults (NULL when empty)."""
        col = self.m.table.column(r.target)
        srcs = [self.source(s) for s in r.sources]
        if not srcs:
            v = "NULL::VARCHAR"
        elif r.combine == "join":
            v = f"nullif(concat_ws({_lit(r.sep)}, {', '.join(srcs)}), '')"
        else:
            v = srcs[0] if len(srcs) == 1 else f"coalesce({', '.join(srcs)})"
        if r.cases:
            whens = " ".join(f"WHEN {self.conds(c.when)} THEN {self.source(c.source)}" for c in r.cases)
            v = f"(CASE {whens} ELSE {v} END)"
        if r.values:
            whens = " ".join(f"WHEN {_lit(a.strip().lower())} THEN {_lit(b)}" for a, b in r.values)
            v = f"(CASE lower({v}) {whens} ELSE {v} END)"
        if col.kind in (schema.TIMESTAMP, schema.DATE):
            v = self.timestamp(r, v)
            if col.kind == schema.DATE:
                v = _date_text(v)
        if r.plus:
            p = self.col(r.plus)
            if r.plus_field:
                items = f"json_extract_string({p}, {_lit('$[*]' + _json_path([r.plus_field])[1:])})"
            else:
                items = f"json_extract_string({p}, '$[*]')"
            added = (f"coalesce(CASE WHEN json_valid({p}) AND json_type({p}) = 'ARRAY' THEN "
                     f"list_sum(list_transform({items}, lambda e: TRY_CAST(e AS DOUBLE))) "
                     f"ELSE TRY_CAST({p} AS DOUBLE) END, 0)")
            v = (f"(CASE WHEN TRY_CAST({v} AS DOUBLE) IS NULL THEN {v} "
                 f"ELSE round(TRY_CAST({v} AS DOUBLE) + {added}, 10)::VARCHAR END)")
        if r.round:
            v = (f"(CASE WHEN TRY_CAST({v} AS DOUBLE) IS NULL THEN {v} "
                 f"ELSE round(TRY_CAST({v} AS DOUBLE))::BIGINT::VARCHAR END)")
        if r.prefix:
            v = f"({_lit(r.prefix)} || {v})"
        return v

    def timestamp(self, r: ColumnRule, v: str) -> str:
        """Text -> text a timestamp parser reads unambiguously: UTC with 'Z', or naive (source time zone)."""
        tz = r.timezone or self.m.timezone
        if not (r.format or r.epoch or tz or r.add is not None):
            return v
        naive = False
        if r.format:
            t = f"try_strptime({v}, {_lit(r.format)})"
            naive = "%z" not in r.format and "%Z" not in r.format
        elif r.epoch:
            t = f"to_timestamp(TRY_CAST({v} AS DOUBLE) / {EPOCHS[r.epoch]!r})"
        elif tz:
            t = None
        else:
            t = f"TRY_CAST({v} AS TIMESTAMPTZ)"
        if tz:
            if t is None:
                offset = r"(?i)(z|[+-]\d\d(:?\d\d)?|\s[a-z_]+(/[a-z_]+)*)$"
                t = (f"(CASE WHEN regexp_matches({v}, {_lit(offset)}) THEN TRY_CAST({v} AS TIMESTAMPTZ) "
                     f"ELSE timezone({_lit(tz)}, TRY_CAST({v} AS TIMESTAMP)) END)")
            elif naive:
                t = f"timezone({_lit(tz)}, {t})"
            naive = False
        parsed = t
        if r.add is not None:
            scale = 1000.0 if r.add_unit == "ms" else 1.0
            if isinstance(r.add, str):
                amount = f"TRY_CAST({self.col(r.add)} AS DOUBLE)"
                t = (f"(CASE WHEN {amount} IS NULL THEN NULL "
                     f"ELSE {t} + to_microseconds(({amount} * {1_000_000 / scale!r})::BIGINT) END)")
            else:
                t = f"({t} + to_microseconds({int(float(r.add) * 1_000_000 / scale)}))"
        if naive:
            out = f"strftime({t}, '%Y-%m-%d %H:%M:%S.%f')"
        else:
            out = f"strftime(timezone('UTC', {t}), '%Y-%m-%dT%H:%M:%S.%fZ')"
        # an unreadable value stays as it was, so the parser names it in its error; an empty
        # add_seconds column (never acknowledged, still open) leaves the result empty
        return f"(CASE WHEN {parsed} IS NULL THEN {v} ELSE {out} END)"


def _date_text(v: str) -> str:
    """A date column's value as YYYY-MM-DD (the UTC date of a timestamp), so lines group per day."""
    return (f"(CASE WHEN {v} IS NULL OR regexp_full_match({v}, '\\d{{4}}-\\d{{2}}-\\d{{2}}') THEN {v} "
            f"ELSE coalesce(strftime(({_timestamp_sql(v)})::DATE, '%Y-%m-%d'), {v}) END)")


@dataclass
class MappedFile:
    """What :func:`apply` hands back to ingest: the canonical relation and what happened on the way."""

    sql: str
    present: dict[str, str]
    extras: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)
    summary: str = ""
    log: dict = field(default_factory=dict)
    signed: tuple[str, ...] = ()  # columns whose negative values net rather than fail (ColumnRule.negative)
    warnings: list[str] = field(default_factory=list)

    def close(self, con) -> None:
        """Drop the temp table that ``sql`` reads (the mapping's own, named only in this module)."""
        con.execute(f"DROP TABLE IF EXISTS {_MAPPED}")


def check_columns(m: Mapping, cols: _Columns, name: str) -> None:
    """Every source column the mapping reads must be in the file, with two exceptions: a column
    marked ``optional``, and the alternatives of a ``first_of`` (one of them is enough)."""
    errors, seen = [], set()
    shown = ", ".join(cols.names[:15]) + (" ..." if len(cols.names) > 15 else "")

    def missing(col: str, what: str) -> None:
        if col not in seen:
            seen.add(col)
            errors.append(RowError(name, None, col, f"column {col!r} is missing (the {m.label} reads it {what}); "
                                                    f"found: {shown}"))

    alternatives = set()
    for r in m.columns:
        if r.combine == "first" and len(r.sources) > 1 and not r.optional:
            options = [s.column for s in r.sources if s.column is not None]
            alternatives.update(options)
            if options and not any(cols.has(c) for c in options):
                missing(options[0], f"for {r.target}, as do the alternatives {', '.join(options[1:])}")
    for col, used_by, optional in m.columns_read():
        if optional or col in alternatives or cols.has(col):
            continue
        missing(col, f"for {used_by}" if used_by in m.table.names else f"in {used_by}")
    if errors:
        raise IngestError(errors)


def source_columns(con, m: Mapping, path: Path, reader_sql: str | None, params: list | None,
                   described: list | None) -> tuple[str, list, _Columns]:
    """(reader SQL, its parameters, the columns) of a file as the mapping sees it."""
    if m.format == "json":
        reader = _json_reader(m)
        return reader, [str(path)], _json_columns(con, m, reader, [str(path)])
    return reader_sql, list(params), _tabular_columns(described)


def _check_json_width(con, m: Mapping, path: Path, name: str, limits: Limits) -> None:
    """Refuse records with more keys than the column limit before their fields are
    discovered: json_group_structure over 100,000 keys takes seconds, counting them 0.3 s."""
    widest = con.execute(f"SELECT max(json_array_length(json_keys(rec))) FROM ({_json_reader(m)})",
                         [str(path)]).fetchone()[0]
    if widest is not None and widest > limits.max_columns:
        raise IngestError([RowError(name, None, None, f"a record has {widest:,} fields, more than the limit of "
                                    f"{limits.max_columns:,}; set KPI_MAX_COLUMNS to raise it")])


def apply(con, m: Mapping, path: Path, name: str, reader_sql: str | None = None, params: list | None = None,
          described: list | None = None, limits: Limits | None = None) -> MappedFile:
    """Run the mapping over one file into a temp table (dropped by ``MappedFile.close``); return the relation ingest validates.

    ``path`` is the name DuckDB reads (a JSON file has passed the depth check);
    ``limits`` caps the number of fields a JSON export may have.
    """
    limits = limits or Limits()
    if (m.format == "json") != is_json(path):
        want = "a .json / .ndjson file" if m.format == "json" else "a CSV or Parquet file"
        raise IngestError([RowError(name, None, None, f"the {m.label} reads {want}")])
    try:
        if m.format == "json":
            _check_json_width(con, m, path, name, limits)
        reader, params, cols = source_columns(con, m, path, reader_sql, params, described)
    except (duckdb.Error, UnicodeDecodeError) as err:  # JSON the reader cannot parse
        raise IngestError([json_read_error(path, name, err)]) from None
    if len(cols.names) > limits.max_columns:
        raise IngestError([RowError(name, None, None, f"the records have {len(cols.names):,} fields, more than the "
                                    f"limit of {limits.max_columns:,}; set KPI_MAX_COLUMNS to raise it")])
    if not cols.names:
        raise IngestError([RowError(name, None, None, "the file holds no records"
                                    + (f" under {m.records!r}" if m.records else ""))])
    check_columns(m, cols, name)
    comp = _Compiler(m, cols)
    targets = m.mapped_targets()

    # Stage 1: every row, with its canonical values as text and why it would be dropped.
    select = ["_row"]
    drop_whens = [f"WHEN NOT ({comp.cond(c)}) THEN {i}" for i, c in enumerate(m.keep_if)]
    drop_vals = []
    for i, c in enumerate(m.keep_if):
        shown = comp.col(c.column) if c.op != "any" else "NULL::VARCHAR"
        drop_vals.append(f"WHEN NOT ({comp.cond(c)}) THEN {shown}")
    select.append(f"CASE {' '.join(drop_whens)} END AS _drop" if drop_whens else "NULL::INTEGER AS _drop")
    refuse = [f"WHEN NOT ({comp.cond(c)}) THEN {i}" for i, c in enumerate(m.require)]
    select.append(f"CASE {' '.join(refuse)} END AS _refuse" if refuse else "NULL::INTEGER AS _refuse")
    refused = [f"WHEN NOT ({comp.cond(c)}) THEN {comp.col(c.column) if c.op != 'any' else 'NULL::VARCHAR'}"
               for c in m.require]
    select.append(f"CASE {' '.join(refused)} END AS _refuse_value" if refused else "NULL::VARCHAR AS _refuse_value")
    select.append(f"CASE {' '.join(drop_vals)} END AS _drop_value" if drop_vals else "NULL::VARCHAR AS _drop_value")
    refuse_if = [f"WHEN {comp.conds(when)} THEN {i}" for i, (when, _) in enumerate(m.refuse_if)]
    select.append(f"CASE {' '.join(refuse_if)} END AS _refuse_if" if refuse_if else "NULL::INTEGER AS _refuse_if")
    warn = [f"CASE WHEN {comp.conds(when)} THEN {i} END" for i, (when, _) in enumerate(m.warn_if)]
    select.append(f"list_filter([{', '.join(warn) or 'NULL::INTEGER'}], lambda w: w IS NOT NULL) AS _warn")
    if m.latest_per:
        select.append(f"{comp.col(m.latest_per)} AS _per")
        by = comp.col(m.latest_by)
        select.append(f"coalesce(strftime(timezone('UTC', TRY_CAST({by} AS TIMESTAMPTZ)), '%Y-%m-%dT%H:%M:%S.%f'), "
                      f"{by}) AS _by")
    how = []
    for t in targets:
        r = m.column(t)
        mapped = comp.value(r) if r else "NULL::VARCHAR"
        rule_whens = [f"WHEN {comp.conds(rule.when)} THEN {_lit(v)}" for rule in m.rules for k, v in rule.set if k == t]
        ruled = f"(CASE {' '.join(rule_whens)} END)" if rule_whens else "NULL::VARCHAR"
        default = _lit(r.default) if r and r.default is not None else "NULL::VARCHAR"
        select.append(f"coalesce({mapped}, {ruled}, {default}) AS {quote_ident(t)}")
        if rule_whens:
            how.append(f"CASE WHEN {mapped} IS NULL AND {ruled} IS NOT NULL THEN {_lit(t + ':rule')} END")
        if r and r.default is not None and r.sources:
            how.append(f"CASE WHEN {mapped} IS NULL AND {ruled} IS NULL THEN {_lit(t + ':default')} END")
    select.append(f"list_filter([{', '.join(how) or 'NULL'}], lambda h: h IS NOT NULL) AS _how")
    used = {cols.canonical_name(c) for c, _, _ in m.columns_read()}
    extras = [] if m.sum else [c for c in cols.top_level if c not in used]
    for i, e in enumerate(extras):
        select.append(f"{comp.col(e)} AS _x{i}")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_MAPPED} AS SELECT {', '.join(select)} FROM ({reader}) AS src",
                    params)
    except duckdb.Error as err:  # the reader or a value could not be read: report it as an ingest error
        if m.format == "json":
            raise IngestError([json_read_error(path, name, err)]) from None
        raise IngestError([RowError(name, None, None, f"the {m.label} could not read this file: "
                                                      f"{str(err).splitlines()[0]}")]) from None

    _refuse_rows(con, m, name)
    _refused(con, m, name)

    # Stage 2: the rows kept, the latest per id, netted per day.
    kept = f"SELECT * FROM {_MAPPED} WHERE _drop IS NULL"
    if m.latest_per:
        kept += " QUALIFY row_number() OVER (PARTITION BY _per ORDER BY _by DESC NULLS LAST, _row DESC) = 1"
    visible = ["_row"] + [quote_ident(t) for t in targets] + [f"_x{i}" for i in range(len(extras))]
    final = f"SELECT {', '.join(visible)} FROM ({kept})"
    extra_pairs = [(e, f"_x{i}") for i, e in enumerate(extras)]
    if m.sum:
        groups = [quote_ident(t) for t in targets if t not in m.sum]
        sums = []
        for s in m.sum:
            q = quote_ident(s)
            bad = f"{q} IS NOT NULL AND TRY_CAST({q} AS DOUBLE) IS NULL"
            sums.append(f"CASE WHEN bool_or({bad}) THEN min(CASE WHEN {bad} THEN {q} END) "
                        f"ELSE sum(coalesce(TRY_CAST({q} AS DECIMAL(38, 12)), "
                        f"TRY_CAST({q} AS DOUBLE)::DECIMAL(38, 12)))"
                        f"::DOUBLE::VARCHAR END AS {q}")
        final = (f"SELECT min(_row) AS _row, {', '.join(groups + sums)}, count(*)::VARCHAR AS _lines "
                 f"FROM ({kept}) GROUP BY {', '.join(groups) or 'ALL'}")
        extra_pairs = [("source_lines", "_lines")]

    notes, log = _report(con, m, kept, extras)
    warnings = []
    for i, (_, message) in enumerate(m.warn_if):
        n = con.execute(f"SELECT count(*) FROM ({kept}) WHERE list_contains(_warn, {i})").fetchone()[0]
        if n:
            warnings.append(f"{n} row(s): {message}")
    notes += [f"warning: {w}" for w in warnings]
    log["warnings"] = warnings
    signed = tuple(r.target for r in m.columns if r.negative == "net")
    return MappedFile(sql=final, present={t: t for t in targets}, extras=extra_pairs, notes=notes,
                      summary=_summary(m, log), log=log, signed=signed, warnings=warnings)


def _refused(con, m: Mapping, name: str) -> None:
    """Raise when a row matches one of the mapping's ``refuse_if`` conditions: the export is not what the
    mapping reads (another metric, another format), and loading it would give numbers a wrong meaning."""
    if not m.refuse_if:
        return
    hits = con.execute(f"SELECT _refuse_if, count(*), min(_row) FROM {_MAPPED} WHERE _refuse_if IS NOT NULL "
                       "GROUP BY 1 ORDER BY 1").fetchall()
    if hits:
        raise IngestError([RowError(name, first, None, f"{m.refuse_if[i][1]} ({n} row(s) like this; the "
                                    f"{m.label} refuses the file)") for i, n, first in hits])


def _refuse_rows(con, m: Mapping, name: str) -> None:
    """A file whose rows fail a ``require`` condition is not the export the mapping reads: refuse it,
    naming the condition, how many rows fail it, the values they have and the first row."""
    if not m.require:
        return
    errors = []
    for i, c in enumerate(m.require):
        rows = con.execute(f"SELECT _refuse_value, count(*), min(_row) FROM {_MAPPED} WHERE _refuse = ? GROUP BY 1 "
                           "ORDER BY 3", [i]).fetchall()
        if not rows:
            continue
        n = sum(r[1] for r in rows)
        found = ", ".join(f"{r[0]!r} ({r[1]} rows)" for r in rows[:5] if r[0] is not None)
        found = f" (found: {found})" if found else ""
        errors.append(RowError(name, rows[0][2], c.column,
                               f"the {m.label} reads only rows where {c.describe()}; {n} row(s) are not{found}. "
                               "Export the data the preset names, or load this file with a mapping file "
                               "(--mapping) that reads it"))
    if errors:
        raise IngestError(errors)


def _report(con, m: Mapping, kept: str, extras: list[str]) -> tuple[list[str], dict]:
    """What the mapping did to the file, in words (the ingest report) and as data (the ingest log)."""
    table = m.table
    total, n_kept = con.execute(f"SELECT count(*), count(*) FILTER (WHERE _drop IS NULL) FROM {_MAPPED}").fetchone()
    money = table.name == "costs" and "amount" in m.mapped_targets()
    currency = "currency" if "currency" in m.mapped_targets() else _lit(schema.COSTS.column("currency").default)
    notes = [f"{m.label}: {m.title}" if m.title else m.label]
    if m.follows:
        notes.append(f"follows {m.follows}")
    log = {"mapping": "preset" if m.is_preset else "file", "name": m.name, "path": None if m.is_preset else m.path,
           "follows": m.follows, "source_rows": total, "dropped": {}, "superseded": 0, "defaulted": {},
           "ruled": {}}
    if total != n_kept:
        amount = f", sum(TRY_CAST(amount AS DOUBLE)), any_value({currency})" if money else ""
        rows = con.execute(
            f"SELECT _drop, _drop_value, count(*){amount} FROM {_MAPPED} WHERE _drop IS NOT NULL "
            "GROUP BY ALL ORDER BY 1, 3 DESC, 2").fetchall()
        parts = []
        reasons: dict[str, dict] = {}
        for r in rows:
            cond = m.keep_if[r[0]]
            reason = reasons.setdefault(f"not {cond.describe()}", {"rows": 0, "seen": {}})
            reason["rows"] += r[2]
            if r[1] is not None and cond.op != "any":
                reason["seen"][str(r[1])] = reason["seen"].get(str(r[1]), 0) + r[2]
        log["drop_reasons"] = reasons
        for r in rows[:12]:
            cond = m.keep_if[r[0]]
            what = f"{cond.column} {r[1]!r}" if r[1] is not None and cond.op != "any" else f"not {cond.describe()}"
            text = f"{r[2]} × {what}"
            if money and r[3] is not None:
                text += f" ({r[3]:,.2f} {r[4] or ''})".replace(" )", ")")
            parts.append(text)
            log["dropped"][what] = r[2]
        more = f", and {len(rows) - 12} more kinds" if len(rows) > 12 else ""
        notes.append(f"dropped {total - n_kept} of {total} rows: {'; '.join(parts)}{more}")
    if m.latest_per:
        superseded = con.execute(f"SELECT {n_kept} - count(*) FROM ({kept})").fetchone()[0]
        if superseded:
            notes.append(f"kept the latest row per {m.latest_per}: {superseded} earlier row(s) superseded")
        log["superseded"] = superseded
    if m.sum:
        groups = [quote_ident(t) for t in m.mapped_targets() if t not in m.sum]
        n_rows = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {', '.join(groups)} FROM ({kept}))").fetchone()[0]
        notes.append(f"summed {', '.join(m.sum)} of {n_kept - log['superseded']} line(s) into {n_rows} row(s) "
                     f"(one per {', '.join(t for t in m.mapped_targets() if t not in m.sum)})")
    hows = con.execute(f"SELECT h, count(*) FROM (SELECT unnest(_how) AS h FROM ({kept})) GROUP BY h ORDER BY h"
                       ).fetchall()
    rows_word = "line(s)" if m.sum else "row(s)"
    defaulted = [(h.split(":")[0], n) for h, n in hows if h.endswith(":default")]
    ruled = [(h.split(":")[0], n) for h, n in hows if h.endswith(":rule")]
    for col, n in ruled:
        vals = con.execute(
            f"SELECT {quote_ident(col)}, count(*) FROM ({kept}) WHERE list_contains(_how, ?) "
            "GROUP BY 1 ORDER BY 2 DESC",
            [col + ":rule"]).fetchall()
        notes.append(f"{col} set by rules on {n} {rows_word}: " + ", ".join(f"{v} {c}" for v, c in vals))
        log["ruled"][col] = {str(v): c for v, c in vals}
    for col, n in defaulted:
        r = m.column(col)
        text = f"{col} defaulted to {r.default!r} on {n} {rows_word} (no {' / '.join(s.describe() for s in r.sources)})"
        if money:
            by_cur = con.execute(
                f"SELECT {currency}, sum(TRY_CAST(amount AS DOUBLE)) FROM ({kept}) WHERE list_contains(_how, ?) "
                "GROUP BY 1 ORDER BY 1", [col + ":default"]).fetchall()
            text += ": " + ", ".join(f"{a:,.2f} {c}" for c, a in by_cur if a is not None)
        notes.append(text)
        log["defaulted"][col] = n
    signed = [r for r in m.columns if r.negative == "net"]
    for r in signed:
        q = quote_ident(r.target)
        neg = con.execute(f"SELECT count(*), sum(TRY_CAST({q} AS DOUBLE)) FROM ({kept}) "
                          f"WHERE TRY_CAST({q} AS DOUBLE) < 0").fetchone()
        if neg[0]:
            notes.append(f"{neg[0]} line(s) with a negative {r.target} (credits, refunds, corrections) kept and "
                         f"netted: {neg[1]:,.2f} in all")
        log["negative_lines"] = neg[0]
    if money:
        log["measure"] = m.measure
        notes.append(m.measure_text())
    if extras:
        notes.append(f"kept {len(extras)} unmapped column(s) in attributes")
    return notes, log


def _summary(m: Mapping, log: dict) -> str:
    """One short clause for the report's note column."""
    parts = [m.label]
    dropped = sum(log["dropped"].values())
    if dropped:
        parts.append(f"dropped {dropped}")
    if log["superseded"]:
        parts.append(f"{log['superseded']} superseded")
    for col, n in log["defaulted"].items():
        parts.append(f"{col} defaulted on {n}")
    return "; ".join(parts)
