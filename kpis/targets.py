"""Target profiles (TOML files) and the one evaluator that judges KPIs against them.

A profile is data: ``kpis/profiles/senior.toml``, ``mle.toml`` and ``lead.toml``
carry the example targets of the three role documents, ``dora.toml`` the DORA
performance clusters by report year. A user copies one, edits it and loads it
with ``load_profile("path/to/ours.toml")``; every mistake is reported with the
file and line (``ours.toml line 12: unknown KPI id 'mttr_hour' (did you mean
'mttr_hours'?)``).

A target has one of four forms, evaluated in the KPI's base units (bounds are
written in the document's unit and converted here):

- ``band``: ``<10–15%`` -> green ``< 10``, amber ``<= 15``, red above;
- ``threshold``: ``<60 minutes`` -> green ``< 60``, red otherwise;
- ``range``: ``1–4 releases/month`` -> green inside, ``below`` / ``above`` statuses outside;
- ``trend``: the change in % against an earlier period (``compare``) judged by green / amber bounds.

A target may be scoped (``severity``, ``tier``, ``category``: the KPI is
recomputed on those events only; ``per = "team"`` or ``"service"``: each team
or service is judged on its own value and the organisation's row summarises
them, "2 of 7 teams outside 1–4/month"). An error budget target names its SLO
(``slo = 99.9``). The
DORA profile adds ``clusters``: the published bands of each cluster, placed by
value (see ``docs/targets.md`` for every interpretation).

The entry point for the command line, the app and the report is
``attach_targets(con, df, profile, grain=...)``; ``evaluate(target, value)``
judges one number.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

import pandas as pd

from kpis import catalog, periods, schema, tomlfile, validation
from kpis.engine import FILTER_COLUMNS, LEAD_TIME_STARTS, SOURCE_TABLE

PROFILE_DIR = Path(__file__).parent / "profiles"
BUNDLED = ("senior", "mle", "lead", "dora")

FORMS = ("band", "threshold", "range", "trend")
CLUSTERS_FORM = "clusters"  # the DORA profile's form: one range per cluster
GREEN, AMBER, RED, NONE = "green", "amber", "red", "none"
STATUSES = (GREEN, AMBER, RED, NONE)
CLUSTER_NAMES = ("elite", "high", "medium", "low")  # best first
DEFAULT_CLUSTER_STATUS = {"elite": GREEN, "high": GREEN, "medium": AMBER, "low": RED}

# Average month (365.25 / 12 days): the length of "a month" for a week's share of one.
DAYS_PER_MONTH = 30.4375
# Lengths in hours of the duration units a target may be written in.
HOURS_PER = {"min": 1 / 60, "minutes": 1 / 60, "h": 1.0, "hours": 1.0, "days": 24.0, "weeks": 168.0,
             "months": DAYS_PER_MONTH * 24}
MS_PER = {"ms": 1.0, "s": 1000.0}
# Units a target may use, per KPI unit (catalog). Money KPIs also take a currency code;
# a KPI unit not listed here takes only itself.
UNITS = {
    catalog.RATIO: ("%", "ratio"),
    catalog.HOURS: tuple(HOURS_PER),
    catalog.COUNT: ("count", "/period", "/week", "/month", "/quarter"),
    catalog.PER_WEEK: ("/week", "/day", "/month"),
    catalog.PREDICTIONS_UNIT: ("count", "predictions"),
    catalog.CURRENCY: ("currency",),
    catalog.MS: tuple(MS_PER),
}
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")

COMMON_KEYS = ("kpi", "metric", "text", "source", "form", "unit", "scope", "note", "slo")
FORM_KEYS = {
    "band": ("green", "amber"),
    "threshold": ("green",),
    "range": ("min", "max", "below", "above"),
    "trend": ("compare", "green", "amber"),
}
REQUIRED_FORM_KEYS = {"band": ("green", "amber"), "threshold": ("green",), "range": ("min", "max"),
                      "trend": ("compare", "green")}
SCOPE_KEYS = ("severity", "tier", "category", "per")
PER_GROUPS = ("team", "service")  # what a per-group target may be per
SLO_KPI = "error_budget_remaining"  # the one KPI whose target names an SLO
TOP_KEYS = ("name", "title", "source", "description", "lead_time_start", "target", "pending")
CLUSTER_TOP_KEYS = ("name", "title", "source", "description", "lead_time_start", "default_year", "status",
                    "metrics", "years", "pending")
PENDING_KEYS = ("metric", "text", "source", "note")
METRIC_KEYS = ("kpi", "unit", "direction", "title")
YEAR_KEYS = ("source", "report", "note")
CLUSTER_KEYS = ("share", "source")
BAND_KEYS = ("text", "min", "max", "value")

_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "≤": "<=", "≥": ">=", "=<": "<=", "=>": ">="}
_SHOW_OP = {"<": "<", "<=": "≤", ">": ">", ">=": "≥"}
_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_BOUND = re.compile(r"^\s*(<=|>=|=<|=>|<|>|≤|≥)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(.*?)\s*$")
_COMPARE = re.compile(r"^\s*(\d+)\s*(week|month|quarter|year)s?\s*$")
_MONTHS_PER = {"day": 12 / 365.25, "week": 12 / 52, "month": 1.0, "quarter": 3.0, "year": 12.0}


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file and line."""

    def __init__(self, message: str, path: str = "", line: int | None = None):
        super().__init__(message)
        self.path = path
        self.line = line


# --- definitions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """One comparison, in the target's unit: ``< 10`` (op "<", value 10)."""

    op: str  # < <= > >=
    value: float

    @property
    def lower_is_better(self) -> bool:
        return self.op in ("<", "<=")

    def holds(self, x: float, limit: float) -> bool:
        """Whether ``x`` satisfies the comparison against ``limit`` (the bound in x's unit)."""
        if _close(x, limit):
            return self.op in ("<=", ">=")
        return x < limit if self.op in ("<", "<=") else x > limit

    def show(self, unit: str = "") -> str:
        return f"{_SHOW_OP[self.op]} {_num(self.value)}{_unit_suffix(unit)}"


@dataclass(frozen=True)
class Cluster:
    """One DORA cluster's published band on one metric, in the metric's unit."""

    name: str  # elite | high | medium | low
    text: str  # as published: "1 day – 1 week"
    low: float
    high: float  # math.inf for an open band
    source: str = ""


@dataclass(frozen=True)
class Target:
    """One KPI's target in a profile: the document's words, the form and its bounds."""

    kpi: str
    form: str  # band | threshold | range | trend | clusters
    text: str  # worded as in the document
    source: str  # "seeds/role-senior-ml-engineer.txt line 131"
    metric: str = ""  # the document's name for the KPI: "MTTR (mean time to recover)"
    unit: str = ""  # unit of the bounds: %, min, hours, weeks, /month, ...
    green: Bound | None = None
    amber: Bound | None = None
    low: float | None = None  # range
    high: float | None = None
    below: str = RED  # range: status below / above it
    above: str = RED
    compare: str = ""  # trend: "previous" or "<n> week|month|quarter|year"
    severity: tuple[str, ...] = ()
    tier: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    per: str = ""  # "team" / "service": the target holds for each team (service), judged one by one
    slo: float | None = None  # error budget: the availability objective (ratio) the budget is of
    clusters: tuple[Cluster, ...] = ()
    cluster_status: tuple[tuple[str, str], ...] = ()
    year: int | None = None
    direction: str = ""  # lower | higher: from the bounds, else the KPI's
    note: str = ""
    line: int = 0  # where it is defined in its file

    @property
    def filters(self) -> dict[str, list[str]]:
        """The engine filters the target's scope adds."""
        out = {}
        for key in ("severity", "tier", "category"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        return out

    @property
    def scope_text(self) -> str:
        """The scope in words, for the card: 'sev1, sev2 incidents', 'tier-1 only', 'per team'."""
        parts = []
        if self.severity:
            parts.append(f"{', '.join(self.severity)} incidents")
        if self.category:
            parts.append(f"{', '.join(self.category)} incidents")
        if self.tier:
            parts.append(f"{', '.join(self.tier)} only")
        if self.per:
            parts.append(f"per {self.per}")
        if self.slo is not None:
            parts.append(f"SLO {_num(round(self.slo * 100, 6))}%")
        return "; ".join(parts)

    def periods_back(self, grain: str) -> int:
        """How many periods of ``grain`` back the trend compares with (at least one)."""
        if self.compare == "previous":
            return 1
        m = _COMPARE.match(self.compare)
        months = int(m[1]) * _MONTHS_PER[m[2]]
        return max(1, round(months / _MONTHS_PER[grain]))


@dataclass(frozen=True)
class Pending:
    """A document target for a metric the product does not compute yet (listed, not judged)."""

    metric: str
    text: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class Profile:
    """A named set of targets, at most one per KPI."""

    name: str
    title: str
    source: str
    path: str
    targets: tuple[Target, ...]
    lead_time_start: str = "change_started_at"
    pending: tuple[Pending, ...] = ()
    year: int | None = None  # cluster profiles: the report year in use
    years: tuple[int, ...] = ()
    note: str = ""  # cluster profiles: the report year's note (2025: no clusters, and what is shown instead)

    @property
    def slo(self) -> float | None:
        """The availability objective of the profile's error budget target (None without one)."""
        budget = self.target_for(SLO_KPI)
        return budget.slo if budget is not None else None

    def target_for(self, kpi: str) -> Target | None:
        """The target for ``kpi``, or None."""
        for t in self.targets:
            if t.kpi == kpi:
                return t
        return None

    @property
    def label(self) -> str:
        """Short name for the screen: 'senior', 'dora 2024', 'ours.toml'."""
        return f"{self.name} {self.year}" if self.year else self.name


# --- loading --------------------------------------------------------------------------------


def list_profiles() -> list[str]:
    """Names ``load_profile`` accepts besides a path: senior, mle, lead, dora, dora-<year>."""
    names = [n for n in BUNDLED if (PROFILE_DIR / f"{n}.toml").exists()]
    if "dora" in names:
        names += [f"dora-{y}" for y in load_profile("dora").years]
    return names


def load_profile(name_or_path: str | Path, year: int | None = None) -> Profile:
    """A bundled profile by name (``senior``, ``mle``, ``lead``, ``dora``, ``dora-2023``) or a TOML file.

    ``year`` picks the report year of a cluster profile (default: the file's
    ``default_year``). Raises ProfileError (a ValueError) naming the file and
    line of the first problem.
    """
    text = str(name_or_path)
    m = re.fullmatch(r"(dora)-(\d{4})", text)
    if m:
        text, year = m[1], int(m[2])
    if text in BUNDLED:
        path = PROFILE_DIR / f"{text}.toml"
        label = f"kpis/profiles/{text}.toml"
    else:
        path = Path(text).expanduser()
        label = text
        if not path.exists():
            if "/" not in text and "\\" not in text and not text.endswith(".toml"):
                hint = _did_you_mean(text, list(BUNDLED))
                raise ProfileError(f"unknown profile {text!r}{hint}; bundled profiles: {', '.join(BUNDLED)} "
                                   "(dora-2021 .. dora-2024 for a DORA report year), or give a path to a .toml file")
            raise ProfileError(f"profile file not found: {label}", path=label)
        if path.is_dir():
            raise ProfileError(f"{label} is a folder; give the path to a .toml profile file", path=label)
    raw = path.read_text(encoding="utf-8")
    return parse_profile(raw, label=label, default_name=path.stem, year=year)


def parse_profile(raw: str, label: str = "profile.toml", default_name: str = "profile",
                  year: int | None = None) -> Profile:
    """Validate and build a profile from the text of a TOML file (``label`` names it in errors).

    The file's shape is checked against :func:`profile_schema` (JSON Schema Draft 2020-12), then
    each target, pending entry, metric and year by its rules; every problem found is reported at
    once (one a line, sorted by line), each with the line the TOML parser gives it.
    """
    try:
        f = tomlfile.read(label, raw)
    except tomlfile.TomlSyntaxError as e:
        where = f" (column {e.column})" if e.column else ""
        raise ProfileError(f"{label} line {e.line}: TOML syntax error: {e}{where}" if e.line
                           else f"{label}: TOML syntax error: {e}", path=label, line=e.line) from None
    doc = _Doc(f, label)
    data = f.data
    clusters = "years" in data or "metrics" in data
    for problem in validation.check(profile_schema(clusters), data):
        line = doc.file.line(problem.path)
        doc.problems.append((line, problem.message))
        doc.schema_lines.add(line)
    if clusters:
        profile = doc.collect(_cluster_profile, doc, data, default_name, year)
    elif year is not None:
        profile = doc.collect(doc.fail, f"profile has no report years (year {year} asked for); only cluster "
                                        "profiles such as dora do")
    else:
        profile = doc.collect(_target_profile, doc, data, default_name)
    doc.raise_problems()
    return profile


_NON_EMPTY = {"type": "string", "pattern": r"\S"}


def _keys_message(what: str = "key") -> str:
    return f"unknown {what} {{key!r}}{{hint}}; expected one of {{allowed}}"


def _entries(items: dict, required: tuple, what: str) -> dict:
    """An array of tables (``[[target]]``, ``[[pending]]``) whose tables take ``items``' keys."""
    return {"type": "array", "x-message": f"{what} must be an array of tables: write each one under [[{what}]]",
            "items": {"type": "object", "properties": items, "additionalProperties": False,
                      "x-unknown": _keys_message(), "required": list(required), "x-required": "missing {missing!r}",
                      "x-message": f"each {what} entry must be a table under [[{what}]]"}}


_TOP_PROPS = {
    "name": {**_NON_EMPTY, "x-message": "'name' must be a non-empty string"},
    "title": {**_NON_EMPTY, "x-message": "'title' must be a non-empty string"},
    "source": {**_NON_EMPTY, "x-message": "'source' must be a non-empty string"},
    "description": {"type": "string", "x-message": "'description' must be a string"},
    "lead_time_start": {"enum": list(LEAD_TIME_STARTS), "x-message": "lead_time_start {value!r}{hint}; use one of "
                        + ", ".join(LEAD_TIME_STARTS)},
    "pending": _entries({k: {"type": "string", "x-message": f"{k!r} must be a non-empty string"}
                         for k in PENDING_KEYS}, ("metric", "text", "source"), "pending"),
}
_BOUND_TEXT = {"type": "string", "x-message": "bad bound: write {key} with its comparison, e.g. {key} = \"< {value}\""}
_NUMBER = {"type": "number", "x-message": "bad bound: {key} = {value!r} is not a number"}
TARGET_PROPS = {
    "kpi": {"type": "string", "x-message": "unknown KPI id {value!r}"},
    "metric": {"type": "string", "x-message": "'metric' must be a string"},
    "text": {**_NON_EMPTY, "x-message": "'text' must be a non-empty string"},
    "source": {**_NON_EMPTY, "x-message": "'source' must be a non-empty string"},
    "form": {"enum": list(FORMS), "x-message": "unknown form {value!r}{hint}; use one of " + ", ".join(FORMS)},
    "unit": {"type": "string", "x-message": "unit {value!r} must be a string such as \"%\" or \"hours\""},
    "scope": {"type": "object", "x-message": "scope must be a table such as { severity = [\"sev1\"] }"},
    "note": {"type": "string", "x-message": "'note' must be a string"},
    "slo": {**_NUMBER},
    "green": _BOUND_TEXT,
    "amber": _BOUND_TEXT,
    "min": _NUMBER,
    "max": _NUMBER,
    "below": {"enum": [GREEN, AMBER, RED], "x-message": "{key} = {value!r}: use \"green\", \"amber\" or \"red\""},
    "above": {"enum": [GREEN, AMBER, RED], "x-message": "{key} = {value!r}: use \"green\", \"amber\" or \"red\""},
    "compare": {"type": "string", "x-message": "bad compare {value!r}: write \"previous\" or a span such as "
                                               "\"1 quarter\""},
}
_SCHEMAS: dict[bool, dict] = {}


def profile_schema(clusters: bool) -> dict:
    """The JSON Schema (Draft 2020-12) of a target profile's shape (``clusters``: a DORA-style cluster profile).

    Adding a key to a target is one line in ``TARGET_PROPS`` (and its rule in ``_target``).
    """
    if clusters not in _SCHEMAS:
        if clusters:
            props = {**_TOP_PROPS,
                     "default_year": {"type": "integer", "x-message": "default_year must be a year such as 2024"},
                     "status": {"type": "object", "x-message": "status must be a table: cluster = \"green\" | "
                                                              "\"amber\" | \"red\""},
                     "metrics": {"type": "object", "minProperties": 1,
                                 "x-message": "a cluster profile needs [metrics.<name>] tables naming each "
                                              "metric's kpi and unit"},
                     "years": {"type": "object", "minProperties": 1,
                               "x-message": "a cluster profile needs [years.<year>.<cluster>] tables"}}
        else:
            props = {**_TOP_PROPS, "target": _entries(TARGET_PROPS, ("kpi",), "target")}
        _SCHEMAS[clusters] = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                              "properties": props, "additionalProperties": False, "x-unknown": _keys_message()}
    return _SCHEMAS[clusters]


class _Doc:
    """A parsed profile: the line of every key (from the TOML parser) and the problems found so far."""

    def __init__(self, file: tomlfile.TomlFile, label: str):
        self.file, self.label = file, label
        self.problems: list[tuple[int | None, str]] = []
        self.schema_lines: set[int | None] = set()  # a rule says nothing more about a line the schema faulted

    def line_of(self, path: tuple[str, ...] = (), key: str | None = None, index: int | None = None) -> int | None:
        """Line of ``key`` in the table at ``path`` (the index-th of an array), else of the table itself."""
        full = tuple(path) + ((index,) if index is not None else ()) + ((key,) if key is not None else ())
        return self.file.line(full)

    def fail(self, message: str, path: tuple[str, ...] = (), key: str | None = None, index: int | None = None):
        line = self.line_of(path, key, index)
        where = f"{self.label} line {line}" if line else self.label
        raise ProfileError(f"{where}: {message}", path=self.label, line=line)

    def collect(self, check: Callable, *args):
        """Run one check (a target, an entry, a year); note its problem and go on to the next."""
        try:
            return check(*args)
        except _Problems:
            raise
        except ProfileError as e:
            prefix = f"{self.label} line {e.line}: " if e.line else f"{self.label}: "
            message = str(e)[len(prefix):] if str(e).startswith(prefix) else str(e)
            if e.line not in self.schema_lines or e.line is None:
                self.problems.append((e.line, message))
            return None

    def raise_problems(self) -> None:
        if not self.problems:
            return
        found = sorted(dict.fromkeys(self.problems), key=lambda p: p[0] or 0)
        text = [f"{self.label} line {line}: {msg}" if line else f"{self.label}: {msg}" for line, msg in found]
        raise _Problems("\n".join(text), path=self.label, line=found[0][0])


class _Problems(ProfileError):
    """Every problem of a file, already gathered: passes through :meth:`_Doc.collect` untouched."""


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(doc: _Doc, table: dict, allowed, path, index=None, what="key", elsewhere=None, at=None) -> None:
    """Reject keys not in ``allowed`` (a typo gets a suggestion); ``at``: the key whose line to name."""
    for key in table:
        if key in allowed:
            continue
        if elsewhere and key in elsewhere:
            doc.fail(elsewhere[key], path, at or key, index)
        doc.fail(f"unknown {what} {key!r}{_did_you_mean(key, allowed)}; expected one of {', '.join(allowed)}",
                 path, at or key, index)


def _text(doc: _Doc, table: dict, key: str, path, index=None, required=True) -> str:
    if key not in table:
        if required:
            doc.fail(f"missing {key!r}", path, None, index)
        return ""
    value = table[key]
    if not isinstance(value, str) or (required and not value.strip()):
        doc.fail(f"{key!r} must be a non-empty string", path, key, index)
    return value


def _number(doc: _Doc, value, key: str, path, index=None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        doc.fail(f"bad bound: {key} = {value!r} is not a number", path, key, index)
    return float(value)


def _kpi(doc: _Doc, table: dict, path, index=None) -> catalog.KPI:
    if "kpi" not in table:
        doc.fail("missing 'kpi' (a KPI id such as change_failure_rate)", path, None, index)
    kpi_id = table["kpi"]
    if kpi_id not in catalog.BY_ID:
        doc.fail(f"unknown KPI id {kpi_id!r}{_did_you_mean(kpi_id, catalog.KPI_IDS)}; "
                 f"known ids: {', '.join(catalog.KPI_IDS)} (put targets for other metrics under [[pending]])",
                 path, "kpi", index)
    return catalog.BY_ID[kpi_id]


def _check_unit(doc: _Doc, unit, kpi: catalog.KPI, path, index=None, key="unit") -> str:
    allowed = UNITS.get(kpi.unit, (kpi.unit,))
    if not isinstance(unit, str) or not (unit in allowed or (kpi.unit == catalog.CURRENCY
                                                             and _CURRENCY_CODE.match(unit))):
        extra = " or a currency code such as USD" if kpi.unit == catalog.CURRENCY else ""
        doc.fail(f"unit {unit!r} does not fit {kpi.id} (measured in {kpi.unit}); use one of "
                 f"{', '.join(allowed)}{extra}", path, key, index)
    return unit


def _bound(doc: _Doc, value, key: str, unit: str, path, index=None) -> Bound:
    if not isinstance(value, str):
        doc.fail(f"bad bound: write {key} with its comparison, e.g. {key} = \"< {value}\"", path, key, index)
    m = _BOUND.match(value)
    if not m:
        doc.fail(f"bad bound: {key} = {value!r}; write a comparison and a number, e.g. \"< 10\" or \">= 99.9\"",
                 path, key, index)
    tail = m[3]
    if tail and tail.replace(" ", "") != unit.replace(" ", ""):
        doc.fail(f"bad bound: {key} = {value!r} is written in {tail!r} but the target's unit is {unit!r}",
                 path, key, index)
    return Bound(_OPS[m[1]], float(m[2]))


def _direction_of(doc, kpi: catalog.KPI, bounds: list[tuple[str, Bound]], unit: str, path, index) -> str:
    lower = bounds[0][1].lower_is_better
    for key, b in bounds[1:]:
        if b.lower_is_better != lower:
            doc.fail(f"bad bound: {bounds[0][0]} {bounds[0][1].show(unit)} and {key} {b.show(unit)} point in opposite "
                     "directions", path, key, index)
    direction = catalog.LOWER if lower else catalog.HIGHER
    if kpi.direction != catalog.NEUTRAL and direction != kpi.direction:
        key, b = bounds[0]
        doc.fail(f"bad bound: {kpi.id} is {kpi.direction}-is-better, but {key} {b.show(unit)} treats "
                 f"{direction} as better", path, key, index)
    return direction


def _check_order(doc, green: Bound, amber: Bound, unit: str, path, index) -> None:
    """Green must come before amber in the better direction, and amber must not be empty."""
    lower = green.lower_is_better
    before = green.value < amber.value if lower else green.value > amber.value
    same_ok = green.value == amber.value and green.op in ("<", ">") and amber.op in ("<=", ">=")
    if not (before or same_ok):
        side = "below" if lower else "above"
        doc.fail(f"bad bound: green {green.show(unit)} must lie {side} amber {amber.show(unit)} "
                 f"({'lower' if lower else 'higher'} is better: green, then amber, then red)", path, "amber", index)


def _scope(doc: _Doc, table: dict, kpi: catalog.KPI, path, index) -> dict:
    scope = table.get("scope")
    if scope is None:
        return {}
    if not isinstance(scope, dict):
        doc.fail("scope must be a table, e.g. scope = { severity = [\"sev1\", \"sev2\"] }", path, "scope", index)
    _check_keys(doc, scope, SCOPE_KEYS, path, index, what="scope", at="scope")
    columns = _filter_columns(kpi)
    out: dict = {}
    for key, value in scope.items():
        if key == "per":
            if value not in PER_GROUPS:
                doc.fail(f"scope per = {value!r}: use \"team\" or \"service\"", path, "scope", index)
            if value not in columns:
                doc.fail(f"scope per = {value!r} does not apply to {kpi.id} (its events have no {value})",
                         path, "scope", index)
            if table.get("form") == "trend":
                doc.fail(f"scope per = {value!r} applies to band, threshold and range targets, not to a trend",
                         path, "scope", index)
            out["per"] = value
            continue
        if key not in columns:
            doc.fail(f"scope {key!r} does not apply to {kpi.id} (its events have no {key}; "
                     f"it can be scoped by {', '.join(c for c in columns if c in SCOPE_KEYS) or 'per team only'})",
                     path, "scope", index)
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
            doc.fail(f"scope {key} must be a non-empty list of strings", path, "scope", index)
        if key == "severity":
            values = [_severity(doc, v, path, index) for v in values]
        elif key == "category" and any(v not in schema.INCIDENT_CATEGORIES for v in values):
            bad = next(v for v in values if v not in schema.INCIDENT_CATEGORIES)
            doc.fail(f"unknown incident category {bad!r}{_did_you_mean(bad, schema.INCIDENT_CATEGORIES)}; "
                     f"categories: {', '.join(schema.INCIDENT_CATEGORIES)}", path, "scope", index)
        out[key] = tuple(dict.fromkeys(values))
    return out


def _severity(doc, value: str, path, index) -> str:
    key = re.sub(r"[\s_-]", "", value.lower())
    for canonical, spellings in schema.SEVERITY_MAP.items():
        if key in spellings:
            return canonical
    doc.fail(f"unknown severity {value!r}; use sev1 .. sev5 (or critical, high, medium, low)", path, "scope", index)


def _filter_columns(kpi: catalog.KPI) -> tuple[str, ...]:
    if kpi.ratio:
        cols = [set(_filter_columns(catalog.get(k))) for k in kpi.ratio[:2]]
        return tuple(c for c in _filter_columns(catalog.get(kpi.ratio[0])) if all(c in s for s in cols))
    return FILTER_COLUMNS[SOURCE_TABLE[kpi.source]]


def _common(doc: _Doc, data: dict, default_name: str, allowed_top) -> tuple[str, str, str, str, tuple[Pending, ...]]:
    # the keys and their types were checked against profile_schema: a wrong one is a noted problem already,
    # and its default stands in so the rest of the file is still checked
    def text(key: str, default: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) and value.strip() else default

    name = text("name", default_name)
    title = text("title", name)
    source = text("source", "")
    lts = data.get("lead_time_start", "change_started_at")
    if lts not in LEAD_TIME_STARTS:
        lts = "change_started_at"
    pending = []
    entries = data.get("pending", [])
    for i, p in enumerate(entries if isinstance(entries, list) else []):
        entry = doc.collect(_pending, doc, p, i)
        if entry is not None:
            pending.append(entry)
    return name, title, source, lts, tuple(pending)


def _pending(doc: _Doc, p, i: int) -> Pending:
    path = ("pending",)
    if not isinstance(p, dict):
        doc.fail("each pending entry must be a table", (), "pending")
    _check_keys(doc, p, PENDING_KEYS, path, i)
    return Pending(metric=_text(doc, p, "metric", path, i), text=_text(doc, p, "text", path, i),
                   source=_text(doc, p, "source", path, i), note=_text(doc, p, "note", path, i, required=False))


def _target_profile(doc: _Doc, data: dict, default_name: str) -> Profile:
    name, title, source, lts, pending = _common(doc, data, default_name, TOP_KEYS)
    entries = data.get("target", [])
    entries = entries if isinstance(entries, list) else []  # else profile_schema noted it
    targets: list[Target] = []
    first_line: dict[str, int] = {}
    for i, entry in enumerate(entries):
        kpi_id = entry.get("kpi") if isinstance(entry, dict) else None
        if kpi_id in first_line:
            doc.collect(doc.fail, f"a second target for {kpi_id!r} (the first is at line {first_line[kpi_id]}); "
                                  "a profile holds one target per KPI", ("target",), "kpi", i)
            continue
        t = doc.collect(_target, doc, entry, i)
        if t is not None:
            first_line[t.kpi] = t.line
            targets.append(t)
    return Profile(name=name, title=title, source=source, path=doc.label, targets=tuple(targets),
                   lead_time_start=lts, pending=pending)


def _target(doc: _Doc, entry, i: int) -> Target | None:
    """One [[target]]: every problem in it is noted (checks that need a valid KPI, form or unit wait for
    them); the Target when there is none."""
    path = ("target",)
    if not isinstance(entry, dict):
        doc.fail("each target must be a table under [[target]]", (), "target")
    before = len(doc.problems)
    check = doc.collect
    every_key = COMMON_KEYS + tuple(dict.fromkeys(k for keys in FORM_KEYS.values() for k in keys))
    check(_check_keys, doc, entry, every_key, path, i)
    kpi = check(_kpi, doc, entry, path, i)
    text = check(_text, doc, entry, "text", path, i)
    source = check(_text, doc, entry, "source", path, i)
    form = check(_form, doc, entry, every_key, path, i)
    if kpi is None or form is None:
        return None
    fields: dict = dict(kpi=kpi.id, form=form, text=text, source=source,
                        metric=check(_text, doc, entry, "metric", path, i, False),
                        note=check(_text, doc, entry, "note", path, i, False), line=doc.line_of(path, None, i) or 0)
    unit = check(_target_unit, doc, entry, kpi, form, fields, path, i)
    if unit is not None and form in ("band", "threshold", "trend") and "green" in entry:
        check(_target_bounds, doc, entry, kpi, form, unit, fields, path, i)
    if unit is not None and form == "range" and "min" in entry and "max" in entry:
        check(_target_range, doc, entry, kpi, unit, fields, path, i)
    scope = check(_scope, doc, entry, kpi, path, i)
    fields.update(scope or {})
    check(_target_slo, doc, entry, kpi, fields, path, i)
    if len(doc.problems) > before:
        return None
    return Target(**fields)


def _form(doc: _Doc, entry: dict, every_key: tuple, path, i) -> str:
    form = entry.get("form")
    if form is None:
        doc.fail(f"missing 'form' (one of {', '.join(FORMS)})", path, None, i)
    if form not in FORMS:
        doc.fail(f"unknown form {form!r}{_did_you_mean(form, FORMS)}; use one of {', '.join(FORMS)}",
                 path, "form", i)
    not_here = {k: f"key {k!r} does not apply to a {form} target (a {form} target takes "
                   f"{', '.join(FORM_KEYS[form])})" for k in every_key if k not in COMMON_KEYS + FORM_KEYS[form]}
    doc.collect(_check_keys, doc, entry, COMMON_KEYS + FORM_KEYS[form], path, i, "key", not_here)
    misspelt = [k for k in entry if k not in every_key]
    for key in REQUIRED_FORM_KEYS[form]:
        # a key written wrong is reported as such ("did you mean"), not again as missing
        if key not in entry and not difflib.get_close_matches(key, misspelt, n=1, cutoff=0.6):
            doc.collect(doc.fail, f"a {form} target needs {key!r}", path, None, i)
    return form


def _target_unit(doc: _Doc, entry: dict, kpi: catalog.KPI, form: str, fields: dict, path, i) -> str:
    if form == "trend":
        unit = entry.get("unit", "%")
        if unit != "%":
            doc.fail(f"a trend is judged on the change in %; unit must be \"%\", not {unit!r}", path, "unit", i)
        compare = entry.get("compare")
        if compare is not None:
            if not isinstance(compare, str) or not (compare == "previous" or _COMPARE.match(compare)):
                doc.fail(f"bad compare {compare!r}: write \"previous\" or a span such as \"1 quarter\", "
                         "\"2 quarters\", \"1 year\"", path, "compare", i)
            fields["compare"] = compare.strip()
    else:
        if "unit" not in entry:
            doc.fail(f"missing 'unit' (the unit the bounds are written in: "
                     f"{', '.join(UNITS.get(kpi.unit, (kpi.unit,)))})",
                     path, None, i)
        unit = _check_unit(doc, entry["unit"], kpi, path, i)
    fields["unit"] = unit
    return unit


def _target_bounds(doc: _Doc, entry: dict, kpi: catalog.KPI, form: str, unit: str, fields: dict, path, i) -> None:
    bounds = [(k, _bound(doc, entry[k], k, unit, path, i)) for k in ("green", "amber") if k in entry]
    fields["direction"] = _direction_of(doc, kpi, bounds, unit, path, i)
    fields["green"] = bounds[0][1]
    if len(bounds) > 1:
        fields["amber"] = bounds[1][1]
        _check_order(doc, bounds[0][1], bounds[1][1], unit, path, i)
    if form != "trend":
        for key, b in bounds:
            _check_magnitude(doc, b.value, unit, key, path, i)


def _target_range(doc: _Doc, entry: dict, kpi: catalog.KPI, unit: str, fields: dict, path, i) -> None:
    lo = _number(doc, entry["min"], "min", path, i)
    hi = _number(doc, entry["max"], "max", path, i)
    if lo > hi:
        doc.fail(f"bad bound: min {_num(lo)} is above max {_num(hi)}", path, "max", i)
    for key, v in (("min", lo), ("max", hi)):
        _check_magnitude(doc, v, unit, key, path, i)
    for key in ("below", "above"):
        status = entry.get(key, RED)
        if status not in (GREEN, AMBER, RED):
            doc.fail(f"{key} = {status!r}: use \"green\", \"amber\" or \"red\"", path, key, i)
        fields[key] = status
    fields.update(low=lo, high=hi, direction=kpi.direction if kpi.direction != catalog.NEUTRAL else "")


def _target_slo(doc: _Doc, entry: dict, kpi: catalog.KPI, fields: dict, path, i) -> None:
    if "slo" not in entry:
        return
    if kpi.id != SLO_KPI:
        doc.fail(f"slo applies to {SLO_KPI} only (the availability objective its budget is of)", path, "slo", i)
    slo = _number(doc, entry["slo"], "slo", path, i)
    if not 0 < slo < 100:
        doc.fail(f"slo = {_num(slo)} must be a percentage between 0 and 100, e.g. slo = 99.9", path, "slo", i)
    fields["slo"] = slo / 100


def _check_magnitude(doc, value: float, unit: str, key: str, path, index) -> None:
    if value < 0:
        doc.fail(f"bad bound: {key} {_num(value)}{_unit_suffix(unit)} is negative", path, key, index)
    if unit == "%" and value > 100:
        doc.fail(f"bad bound: {key} {_num(value)}% is above 100%", path, key, index)
    if unit == "ratio" and value > 1:
        doc.fail(f"bad bound: {key} {_num(value)} is above 1 (write % bounds with unit = \"%\")", path, key, index)


def _cluster_profile(doc: _Doc, data: dict, default_name: str, year: int | None) -> Profile:
    name, title, source, lts, pending = _common(doc, data, default_name, CLUSTER_TOP_KEYS)
    status = dict(DEFAULT_CLUSTER_STATUS)
    if "status" in data:
        if not isinstance(data["status"], dict):
            doc.fail("status must be a table: cluster = \"green\" | \"amber\" | \"red\"", (), "status")
        _check_keys(doc, data["status"], CLUSTER_NAMES, ("status",), what="cluster")
        for cluster, colour in data["status"].items():
            if colour not in (GREEN, AMBER, RED):
                doc.fail(f"status of {cluster} must be green, amber or red, not {colour!r}", ("status",), cluster)
            status[cluster] = colour

    metrics = data.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        doc.fail("a cluster profile needs [metrics.<name>] tables naming each metric's kpi and unit", (), "metrics")
    metric_defs: dict[str, tuple[catalog.KPI, str, str]] = {}
    broken: set[str] = set()  # metrics whose definition has a problem: their bands are not checked again
    for mname, m in metrics.items():
        defined = doc.collect(_metric, doc, mname, m)
        if defined is None:
            broken.add(mname)
        else:
            metric_defs[mname] = defined

    years_table = data.get("years")
    if not isinstance(years_table, dict) or not years_table:
        doc.fail("a cluster profile needs [years.<year>.<cluster>] tables", (), "years")
    built: dict[int, tuple[Target, ...]] = {}
    notes: dict[int, str] = {}
    for ykey, ytable in years_table.items():
        year_built = doc.collect(_year, doc, ykey, ytable, metric_defs, broken, status)
        if year_built is not None:
            built[int(ykey)], notes[int(ykey)] = year_built
    doc.raise_problems()  # the default year and the year asked for are chosen among valid years only

    # A year without clusters (2025) is a year to choose, with its note, but never the default.
    default_year = data.get("default_year", max(y for y, ts in built.items() if ts) if any(built.values())
                            else max(built))
    if default_year not in built:
        doc.fail(f"default_year {default_year!r} has no [years.{default_year}] tables; years: "
                 f"{', '.join(map(str, sorted(built)))}", (), "default_year")
    chosen = default_year if year is None else year
    if chosen not in built:
        raise ProfileError(f"{doc.label}: no clusters for year {chosen}; years in this profile: "
                           f"{', '.join(map(str, sorted(built)))}", path=doc.label)
    if not built[chosen] and not notes[chosen]:
        doc.fail(f"years.{chosen} has no clusters: say why in its note", ("years", str(chosen)))
    return Profile(name=name, title=f"{title}, {chosen} report", source=source, path=doc.label,
                   targets=built[chosen], lead_time_start=lts, pending=pending, year=chosen,
                   years=tuple(sorted(built)), note=notes[chosen])


def _metric(doc: _Doc, mname: str, m) -> tuple[catalog.KPI, str, str]:
    """One [metrics.<name>] table of a cluster profile: (KPI, unit, direction)."""
    path = ("metrics", mname)
    if not isinstance(m, dict):
        doc.fail(f"metrics.{mname} must be a table with kpi and unit", ("metrics",), mname)
    _check_keys(doc, m, METRIC_KEYS, path)
    kpi = _kpi(doc, m, path)
    if "unit" not in m:
        doc.fail(f"metrics.{mname} needs a unit", path)
    unit = _check_unit(doc, m["unit"], kpi, path)
    direction = m.get("direction", kpi.direction)
    if direction not in (catalog.LOWER, catalog.HIGHER):
        doc.fail(f"metrics.{mname}: direction must be \"lower\" or \"higher\" (is better)", path, "direction")
    return kpi, unit, direction


def _year(doc: _Doc, ykey: str, ytable, metric_defs: dict, broken: set, status: dict
          ) -> tuple[tuple[Target, ...], str] | None:
    """One [years.<year>] of a cluster profile: its targets (one per metric with bands) and its note;
    every problem in its clusters is noted."""
    ypath = ("years", ykey)
    if not re.fullmatch(r"\d{4}", ykey) or not isinstance(ytable, dict):
        doc.fail(f"years.{ykey}: a year must be written as four digits and hold cluster tables", ("years",), ykey)
    problems = len(doc.problems)
    doc.collect(_check_keys, doc, ytable, YEAR_KEYS + CLUSTER_NAMES, ypath, None, "key or cluster")
    ysource = _text(doc, ytable, "source", ypath)
    report = _text(doc, ytable, "report", ypath, required=False)
    note = _text(doc, ytable, "note", ypath, required=False) or ""
    bands: dict[str, list[Cluster]] = {m: [] for m in metric_defs}
    for cname in CLUSTER_NAMES:
        if cname not in ytable:
            continue
        ctable = ytable[cname]
        cpath = ("years", ykey, cname)
        if not isinstance(ctable, dict):
            doc.fail(f"years.{ykey}.{cname} must be a table", ypath, cname)
        doc.collect(_check_keys, doc, ctable, CLUSTER_KEYS + tuple(metric_defs) + tuple(broken), cpath, None,
                    "key or metric")
        csource = _text(doc, ctable, "source", cpath, required=False) or ysource
        for mname, band in ctable.items():
            if mname in CLUSTER_KEYS or mname not in metric_defs:
                continue
            cluster = doc.collect(_band, doc, band, cname, mname, metric_defs[mname][1], csource, cpath)
            if cluster is not None:
                bands[mname].append(cluster)
    if len(doc.problems) > problems:
        return None
    targets = []
    for mname, clusters in bands.items():
        if not clusters:
            continue
        kpi, unit, direction = metric_defs[mname]
        listed = " · ".join(f"{c.name} {c.text}" for c in clusters)
        targets.append(Target(
            kpi=kpi.id, form=CLUSTERS_FORM, text=f"DORA {ykey} {mname.replace('_', ' ')}: {listed}",
            source=ysource + (f" ({report})" if report else ""), unit=unit, clusters=tuple(clusters),
            cluster_status=tuple(status.items()), year=int(ykey), direction=direction,
            line=doc.line_of(ypath) or 0))
    return tuple(targets), note


def _band(doc: _Doc, band, cname: str, mname: str, unit: str, source: str, cpath) -> Cluster:
    if not isinstance(band, dict):
        doc.fail(f"{mname} must be a table such as {{ text = \"1 day – 1 week\", min = 24, max = 168 }}",
                 cpath, mname)
    for key in band:
        if key not in BAND_KEYS:
            doc.fail(f"unknown key {key!r} in {mname}{_did_you_mean(key, BAND_KEYS)}; expected "
                     f"{', '.join(BAND_KEYS)}", cpath, mname)
    if not isinstance(band.get("text"), str) or not band["text"].strip():
        doc.fail(f"{mname} needs the published text, e.g. text = \"< 1 day\"", cpath, mname)
    if "value" in band:
        if "min" in band or "max" in band:
            doc.fail(f"{mname}: give either value or min and max", cpath, mname)
        lo = hi = _number(doc, band["value"], mname, cpath)
    else:
        if "min" not in band or "max" not in band:
            doc.fail(f"{mname} needs min and max (or a single value)", cpath, mname)
        lo, hi = _number(doc, band["min"], mname, cpath), _number(doc, band["max"], mname, cpath)
    if lo < 0 or lo > hi:
        doc.fail(f"bad bound: {mname} of {cname}: min {_num(lo)} must be >= 0 and <= max {_num(hi)}", cpath, mname)
    return Cluster(name=cname, text=band["text"], low=lo, high=hi, source=source)


# --- evaluation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The outcome of judging one value: status, the rule as evaluated, and what a chart needs."""

    status: str
    rule: str
    cluster: str | None = None
    note: str = ""  # why the status is none, or a remark on the placement
    # The target's band in the KPI's base units, for a chart (None = open): the green region, except that a
    # range is drawn between its bounds even where below or above it is green too (lead time 2–6 weeks).
    green_low: float | None = None
    green_high: float | None = None
    change: float | None = None  # trend: relative change vs the earlier value (-0.2 = down 20%)


def evaluate(target: Target, value: float | None, previous_value: float | None = None, *,
             period: str | None = None, grain: str | None = None) -> tuple[str, str]:
    """Judge one value (in the KPI's base unit): (status, the rule as evaluated).

    ``previous_value`` is the earlier period's value a trend compares with.
    ``period`` (a label such as 2026-Q3) tells how long the period is, for
    targets per month or per week on a per-period count; without it a month.
    """
    v = judge(target, value, previous_value, period=period, grain=grain)
    return v.status, v.rule


def judge(target: Target, value: float | None, previous_value: float | None = None, *,
          period: str | None = None, grain: str | None = None, previous_period: str | None = None,
          unit: str | None = None) -> Verdict:
    """Judge one value against a target; the full Verdict (see ``evaluate`` for the arguments).

    ``unit`` is the value's unit as the engine reports it (a currency code for
    money), checked against a target written in a currency.
    """
    start = None
    if period:
        grain, start, _ = periods.parse_label(period)
    grain = grain or "month"
    if target.form == "trend":
        return _judge_trend(target, value, previous_value, grain, period, previous_period)
    if target.form == CLUSTERS_FORM:
        return _judge_clusters(target, value)

    per = _count_span(target)
    if per and periods.GRAINS.index(grain) < periods.GRAINS.index(per):
        # One week's count says little about a monthly cadence (1 deployment = 4.3 a month).
        return Verdict(NONE, _rule(target, 1.0, grain),
                       note=f"a per-{per} count is judged at {per} or quarter grain, not per {grain}")
    scale = _scale(target, grain, start)
    rule = _rule(target, scale, grain)
    if _missing(value):
        return Verdict(NONE, rule, note="no data")
    if _CURRENCY_CODE.match(target.unit) and unit and unit != target.unit:
        return Verdict(NONE, rule, note=f"target in {target.unit}, value in {unit}")
    value = float(value)
    if target.form == "range":
        lo, hi = target.low * scale, target.high * scale
        if value < lo and not _close(value, lo):
            status = target.below
        elif value > hi and not _close(value, hi):
            status = target.above
        else:
            status = GREEN
        return Verdict(status, rule, green_low=lo, green_high=hi)
    g = target.green.value * scale
    if target.green.holds(value, g):
        status = GREEN
    elif target.amber is not None and target.amber.holds(value, target.amber.value * scale):
        status = AMBER
    else:
        status = RED
    lower = target.green.lower_is_better
    return Verdict(status, rule, green_low=None if lower else g, green_high=g if lower else None)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _period_days(grain: str, start: date | None) -> float:
    if start is not None:
        return float((periods.next_start(start, grain) - start).days)
    return {"day": 1.0, "week": 7.0, "month": DAYS_PER_MONTH, "quarter": 3 * DAYS_PER_MONTH}[grain]


def _months_in(grain: str) -> float:
    """A period's length in months: 1 for a month, 3 for a quarter, 7 / 30.4375 for a week, 1 / 30.4375 for a day."""
    return {"day": 1 / DAYS_PER_MONTH, "week": 7 / DAYS_PER_MONTH, "month": 1.0, "quarter": 3.0}[grain]


def _scale(target: Target, grain: str, start: date | None) -> float:
    """Factor that turns a bound in the target's unit into the KPI's base unit for this period."""
    u = target.unit
    kpi_unit = catalog.get(target.kpi).unit
    if u == "%":
        return 0.01
    if u in HOURS_PER:
        return HOURS_PER[u]
    if u in MS_PER:
        return MS_PER[u]
    if kpi_unit == catalog.COUNT:
        return {"/month": _months_in(grain), "/quarter": _months_in(grain) / 3,
                "/week": _period_days(grain, start) / 7}.get(u, 1.0)
    if kpi_unit == catalog.PER_WEEK:
        return {"/day": 7.0, "/month": 7 / DAYS_PER_MONTH}.get(u, 1.0)
    return 1.0


def _count_span(target: Target) -> str:
    """'month' / 'quarter' for a target per month / quarter on a per-period count, else ''."""
    if catalog.get(target.kpi).unit == catalog.COUNT and target.unit in ("/month", "/quarter"):
        return target.unit[1:]
    return ""


def _rule(target: Target, scale: float, grain: str) -> str:
    u = target.unit
    if target.form == "range":
        inside = f"{_num(target.low)}–{_num(target.high)}{_unit_suffix(u)}"
        text = (f"green {inside}; below {_num(target.low)}{_unit_suffix(u)}: {target.below}; "
                f"above {_num(target.high)}{_unit_suffix(u)}: {target.above}")
        if u in ("/month", "/week", "/quarter") and not _close(scale, 1.0):
            text += f" (this {grain}: {_num(target.low * scale)}–{_num(target.high * scale)})"
        return text
    text = _band_text(target.green, target.amber, u)
    if u in ("/month", "/week", "/quarter") and not _close(scale, 1.0):
        text += f" (this {grain}: green {_SHOW_OP[target.green.op]} {_num(target.green.value * scale)})"
    return text


def _band_text(green: Bound, amber: Bound | None, unit: str) -> str:
    """'green < 10%, amber 10–15%, red > 15%' from the two bounds."""
    s = _unit_suffix(unit)
    if amber is None:
        return f"green {green.show(unit)}, red {_SHOW_OP[_NEGATE[green.op]]} {_num(green.value)}{s}"
    # Green and red are stated with their comparisons, so amber reads as the span between them.
    a, b = sorted((green.value, amber.value))
    if a == b:
        middle = f"{_num(a)}{s}"
    else:
        middle = f"{_num(a)}–{_num(b)}{s}" if a >= 0 else f"{_num(a)}{s} to {_num(b)}{s}"
    return f"green {green.show(unit)}, amber {middle}, red {_SHOW_OP[_NEGATE[amber.op]]} {_num(amber.value)}{s}"


def _compare_text(target: Target) -> str:
    return "previous period" if target.compare == "previous" else f"{target.compare} earlier"


def _judge_trend(target: Target, value, previous, grain: str, period: str | None,
                 previous_period: str | None) -> Verdict:
    if previous_period is None and period:
        previous_period = shift_label(period, grain, -target.periods_back(grain))
    against = f"vs {previous_period} ({_compare_text(target)})" if previous_period else f"vs {_compare_text(target)}"
    bands = _band_text(target.green, target.amber, "%")
    if _missing(value):
        return Verdict(NONE, f"change {against}: no data this period; {bands}", note="no data")
    if _missing(previous):
        return Verdict(NONE, f"change {against}: not enough history; {bands}", note="not enough history")
    value, previous = float(value), float(previous)
    if previous == 0:
        change = 0.0 if value == 0 else math.copysign(math.inf, value)
    else:
        change = (value - previous) / abs(previous)
    pct = change * 100
    if target.green.holds(pct, target.green.value):
        status = GREEN
    elif target.amber is not None and target.amber.holds(pct, target.amber.value):
        status = AMBER
    else:
        status = RED
    shown = "no change" if change == 0 else (f"{pct:+.1f}%" if math.isfinite(pct) else "up from 0")
    limit = previous * (1 + target.green.value / 100)
    lower = target.green.lower_is_better
    return Verdict(status, f"change {against}: {_num(previous)} → {_num(value)} ({shown}); {bands}",
                   green_low=None if lower else limit, green_high=limit if lower else None, change=change)


def _judge_clusters(target: Target, value) -> Verdict:
    """Place the value in a DORA cluster (see docs/targets.md, 'DORA clusters')."""
    scale = _scale(target, "month", None)
    colours = dict(target.cluster_status)
    listed = ", ".join(f"{name} {colour}" for name, colour in _colour_groups(target, colours))
    ordering = _ordering_note(target)
    how = ("rule: the cluster whose band holds the value (the best if several do); between bands, the one on "
           "the worse side; beyond all bands, the worst")
    rule = f"{how}; {listed}" + (f"; {ordering}" if ordering else "")
    if _missing(value):
        return Verdict(NONE, rule, note="no data")
    x = float(value) / scale  # in the metric's unit, as the bands are written
    cluster, why = place_in_cluster(target.clusters, x, target.direction)
    return Verdict(colours.get(cluster.name, NONE), f"{why}; {rule}", cluster=cluster.name)


def place_in_cluster(clusters: tuple[Cluster, ...], x: float, direction: str) -> tuple[Cluster, str]:
    """The cluster a value (in the bands' unit) falls in, and why, for any order of the bands.

    Inside one or more bands: the best cluster among them. Between bands: the
    nearest band on the worse side (the value has not reached the better one).
    Beyond every band on the worse side: the cluster with the worst band.
    """
    rank = {name: i for i, name in enumerate(CLUSTER_NAMES)}
    best = lambda cs: min(cs, key=lambda c: rank[c.name])  # noqa: E731
    worst = lambda cs: max(cs, key=lambda c: rank[c.name])  # noqa: E731
    inside = [c for c in clusters if (c.low < x or _close(c.low, x)) and (x < c.high or _close(x, c.high))]
    if inside:
        c = best(inside)
        return c, f"inside {c.name}'s band ({c.text})"
    lower = direction == catalog.LOWER
    worse_side = [c for c in clusters if (c.low > x if lower else c.high < x)]
    if worse_side:
        edge = min(c.low for c in worse_side) if lower else max(c.high for c in worse_side)
        c = best([c for c in worse_side if (c.low if lower else c.high) == edge])
        return c, f"between bands: the next band on the worse side is {c.name}'s ({c.text})"
    edge = max(c.high for c in clusters) if lower else min(c.low for c in clusters)
    c = worst([c for c in clusters if (c.high if lower else c.low) == edge])
    return c, f"beyond every band: {c.name} ({c.text})"


def _colour_groups(target: Target, colours: dict) -> list[tuple[str, str]]:
    names = [c for c in CLUSTER_NAMES if any(k.name == c for k in target.clusters)]
    return [(n, colours.get(n, NONE)) for n in names]


def _ordering_note(target: Target) -> str:
    """Say so when the clusters' bands are not in cluster order on this metric (2024's CFR)."""
    rank = {c: i for i, c in enumerate(CLUSTER_NAMES)}
    worse_first = target.direction == catalog.HIGHER
    ordered = sorted(target.clusters, key=lambda c: (c.low + c.high if math.isfinite(c.high) else math.inf, c.low),
                     reverse=worse_first)
    for a, b in zip(ordered, ordered[1:]):
        if rank[a.name] > rank[b.name] and (a.low, a.high) != (b.low, b.high):
            return (f"note: the clusters are not in order on this metric: {b.name} ({b.text}) is worse than "
                    f"{a.name} ({a.text})")
    return ""


def shift_label(label: str, grain: str, k: int) -> str:
    """The label of the period ``k`` periods after (negative: before) ``label``."""
    _, start, _ = periods.parse_label(label)
    return periods.label(periods.shift(start, grain, k), grain)


def _num(x: float) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "∞" if x == math.inf else str(x)
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}"


def _unit_suffix(unit: str) -> str:
    if not unit or unit in ("ratio", "count", "/period"):
        return ""
    if unit == "%" or unit.startswith("/"):
        return unit
    return f" {'h' if unit == 'hours' else unit}"


# --- attaching targets to computed KPIs -----------------------------------------------------

TARGET_COLUMNS = ("target", "status", "status_text", "rule", "scope", "cluster", "note", "outside", "target_source",
                  "scoped_value", "scoped_n", "previous_period", "previous_value", "green_low", "green_high",
                  "band_text")
LEAD_TIME_KPIS = ("lead_time_median_hours", "lead_time_p90_hours")


def attach_targets(con, df: pd.DataFrame, profile: Profile | str, *, grain: str, by: str | None = None,
                   start: date | None = None, end: date | None = None, filters: dict | None = None,
                   tz: str = "UTC", link_window_hours: float | None = None,
                   lead_time_start: str | None = None, compute: Callable | None = None,
                   **compute_kwargs) -> pd.DataFrame:
    """``df`` (from ``kpis.compute``) with each KPI judged against ``profile``'s target.

    Adds the columns ``target`` (the document's words), ``status`` (green /
    amber / red / none), ``status_text`` (the verdict in words where the
    status alone does not say it: '2 of 3 teams outside 1–4/month', 'High
    (DORA 2024)', 'not judged: no data'), ``rule`` (the rule as evaluated),
    ``scope`` ('sev1, sev2 incidents', 'tier-1 only', 'per team', 'SLO
    99.9%', or ''), ``cluster`` (DORA profiles), ``note`` (why a status is
    none: no data, not enough history, ...; never empty when a target exists
    and its status is none), ``outside`` (a per-team target's organisation
    row: the teams off target, comma-separated), ``target_source`` (document
    and line), ``scoped_value`` / ``scoped_n`` (the value the status was judged
    on when it is not ``value``: a scope, an SLO, or the profile's lead-time
    start), ``previous_period`` / ``previous_value`` (a trend's comparison),
    ``green_low`` / ``green_high`` (the target's band in base units, for
    charts; a range's bounds) and ``band_text`` (the band in the target's
    words: 'target 2–6 weeks'). A KPI without a target gets status none and
    no target text.

    The keyword arguments must be those ``df`` was computed with (further
    engine arguments such as ``slo`` pass through to ``compute``);
    ``lead_time_start`` is the one used for ``df`` (None: the profile's). Scoped
    and trend targets call ``compute`` (default ``kpis.engine.compute``) again.
    """
    if isinstance(profile, (str, Path)):
        profile = load_profile(profile)
    if compute is None:
        from kpis.engine import compute
    ctx = _Context(con=con, compute=compute, grain=grain, by=by, filters=dict(filters or {}), tz=tz,
                   link_window_hours=link_window_hours, lead_time_start=profile.lead_time_start,
                   df_lead_time_start=lead_time_start or profile.lead_time_start, extra=compute_kwargs)
    # First what every target needs recomputed (a scope, a per-team mean, an earlier period) ...
    plans, requests, judged = [], [], {}
    for kpi_id, rows in df.groupby("kpi", sort=False):
        target = profile.target_for(kpi_id)
        if target is None:
            continue
        reason = ctx.unusable(target)
        if reason:
            for i in rows.index:
                judged[i] = dict(target=target.text, rule="", scope=target.scope_text, note=reason,
                                 status_text=f"not judged: {reason}", target_source=target.source)
            continue
        labels = sorted(set(rows["period"]))
        back = target.periods_back(grain) if target.form == "trend" else 0
        if ctx.recomputes(target):
            requests.append(("scoped", target, labels))
        if back:
            requests.append(("previous", target, sorted({shift_label(p, grain, -back) for p in labels})))
        plans.append((target, rows, back))
    fetched = ctx.fetch(requests, df)

    # ... then one verdict per row; rows without a target keep status none.
    for target, rows, back in plans:
        scoped = fetched.get(("scoped", target.kpi))
        previous = fetched.get(("previous", target.kpi))
        scope = ctx.scope_text(target)
        for i, rec in rows.to_dict(orient="index").items():
            group = _group(rec.get(by)) if by else None
            value, row = rec["value"], {}
            to_date = ctx.to_date(target, rec["period"])
            if to_date:
                judged[i] = dict(target=target.text, status=NONE, status_text=f"not judged: {to_date}",
                                 rule=_rule(target, 1.0, grain) if target.form in ("band", "threshold", "range")
                                 else "", scope=scope, note=to_date, target_source=target.source,
                                 band_text=band_text(target))
                continue
            if scoped is not None and scoped.per:
                judged[i] = _judge_groups(target, scoped, rec, grain)
                continue
            if scoped is not None:
                value, n = scoped.values.get((rec["period"], group, rec["unit"]), (math.nan, 0))
                row.update(scoped_value=_float(value), scoped_n=int(n))
            prev = prev_label = None
            if previous is not None:
                prev_label = shift_label(rec["period"], grain, -back)
                prev = previous.values.get((prev_label, group, rec["unit"]), (math.nan, 0))[0]
                row.update(previous_period=prev_label, previous_value=_float(prev))
            v = judge(target, value, prev, period=rec["period"], grain=grain, previous_period=prev_label,
                      unit=rec["unit"])
            row.update(target=target.text, status=v.status, status_text=_status_text(target, v, value), rule=v.rule,
                       scope=scope, cluster=v.cluster, note=v.note, target_source=target.source,
                       green_low=_float(v.green_low), green_high=_float(v.green_high), band_text=band_text(target))
            judged[i] = row

    out = df.copy()
    numeric = ("scoped_value", "previous_value", "green_low", "green_high")
    for col in TARGET_COLUMNS:
        default = math.nan if col in numeric else NONE if col == "status" else None
        values = [judged.get(i, {}).get(col, default) for i in out.index]
        out[col] = pd.Series(values, index=out.index, dtype="float64" if col in numeric else "object")
    return out


def compute_with_targets(con, profile: Profile | str, *, grain: str = "month", by: str | None = None,
                         start: date | None = None, end: date | None = None, filters: dict | None = None,
                         kpis: list[str] | None = None, tz: str = "UTC", link_window_hours: float | None = None,
                         lead_time_start: str | None = None, compute: Callable | None = None,
                         **compute_kwargs) -> pd.DataFrame:
    """Compute the KPIs the way ``profile`` defines them (its lead-time start, the SLO of its error budget
    target) and attach its targets.

    ``lead_time_start`` overrides the profile's. Further engine arguments
    (``slo``, ...) pass through to ``compute``; without ``slo`` the error budget
    is computed against the profile's SLO, so the value shown is the one judged.
    """
    if isinstance(profile, (str, Path)):
        profile = load_profile(profile)
    if compute is None:
        from kpis.engine import compute
    if compute_kwargs.get("slo") is None and profile.slo is not None:
        compute_kwargs["slo"] = profile.slo
    kwargs = dict(grain=grain, by=by, start=start, end=end, filters=filters, tz=tz,
                  link_window_hours=link_window_hours, **compute_kwargs)
    start_col = lead_time_start or profile.lead_time_start
    df = compute(con, kpis=kpis, lead_time_start=start_col, **kwargs)
    return attach_targets(con, df, profile, compute=compute, lead_time_start=start_col, **kwargs)


def _float(x) -> float:
    return math.nan if _missing(x) else float(x)


def _group(g):
    return None if _missing(g) else g


@dataclass(frozen=True)
class _Fetched:
    values: dict  # (period, group, unit) -> (value, n)
    per: str = ""  # a per-group target on the ungrouped row: the dimension of ``groups``
    groups: dict | None = None  # (period, unit) -> [(group, value, n)], for a per-group target


def _slo_of(extra: dict) -> float:
    from kpis.engine import Request

    return float(extra.get("slo") or Request().slo)


@dataclass(frozen=True)
class _Context:
    con: object
    compute: Callable
    grain: str
    by: str | None
    filters: dict
    tz: str
    link_window_hours: float | None
    lead_time_start: str  # the profile's
    df_lead_time_start: str  # the one df was computed with
    extra: dict  # further engine arguments (slo, ...)

    def unusable(self, target: Target) -> str:
        """Why the target cannot be judged on these rows ('' when it can)."""
        if target.per and self.by not in (None, target.per):
            return (f"per-{target.per} target: judged ungrouped (each {target.per} on its own value) or grouped "
                    f"by {target.per}, not by {self.by}")
        for key, values in target.filters.items():
            if key in self.filters and not set(values) & set(map(str, self.filters[key])):
                return (f"scope {', '.join(values)} is outside the {key} filter "
                        f"({', '.join(map(str, self.filters[key]))})")
        return ""

    def to_date(self, target: Target, period: str) -> str:
        """Why a total (a count, a sum) of the period in progress is not judged yet ('' when it can be)."""
        as_of = self.extra.get("as_of")
        if as_of is None or not is_total(target.kpi):
            return ""
        _, start, _ = periods.parse_label(period)
        if not periods.is_partial(start, self.grain, as_of):
            return ""
        return (f"{period} is to date ({periods.elapsed_days(start, self.grain, as_of)} of "
                f"{periods.days_in(start, self.grain)} days): a total is judged once the {self.grain} is over")

    def other_slo(self, target: Target) -> bool:
        """Whether an error budget target's SLO differs from the one the rows were computed with."""
        return target.slo is not None and not _close(target.slo, _slo_of(self.extra))

    def recomputes(self, target: Target) -> bool:
        """Whether the status rests on a value other than the row's own."""
        return bool(target.filters or (target.per and self.by is None) or self.other_slo(target)
                    or (target.kpi in LEAD_TIME_KPIS and self.df_lead_time_start != self.lead_time_start))

    def scope_text(self, target: Target) -> str:
        text = target.scope_text
        if target.kpi in LEAD_TIME_KPIS and self.df_lead_time_start != self.lead_time_start:
            text = "; ".join(filter(None, [text, f"lead time from {self.lead_time_start}"]))
        return text

    def reusable(self, target: Target, per: str, slo) -> bool:
        """Whether the rows being judged hold ``target``'s KPI as the target defines it (an earlier period of
        a trend target is then read from them, not computed again)."""
        return (not target.filters and not per and slo is None
                and (target.kpi not in LEAD_TIME_KPIS or self.df_lead_time_start == self.lead_time_start))

    def fetch(self, requests: list[tuple[str, Target, list[str]]], df: pd.DataFrame | None = None
              ) -> dict[tuple[str, str], _Fetched]:
        """Each requested target's KPI, as its scope defines it, for the periods asked for.

        Requests with the same filters, grouping and SLO share one compute call over all the periods they
        ask for (a period's value does not depend on the range around it); each target then reads only its
        own periods. Periods the judged rows ``df`` already hold, computed the same way (no scope, SLO or
        lead-time start of the target's own), are read from them: only the missing periods are computed
        (often none).
        """
        calls: dict[tuple, list[tuple[str, Target, tuple[str, ...]]]] = {}
        for kind, target, labels in requests:
            filters = {k: list(v) for k, v in self.filters.items()}
            for key, values in target.filters.items():
                have = filters.get(key)
                filters[key] = [v for v in values if v in set(map(str, have))] if have else list(values)
            per = target.per if target.per and self.by is None else ""
            slo = target.slo if self.other_slo(target) else None
            key = (tuple(sorted((k, tuple(v)) for k, v in filters.items())), per, slo)
            calls.setdefault(key, []).append((kind, target, tuple(labels)))
        out = {}
        for (filters, per, slo), wanted in calls.items():
            by = per or self.by
            kpis = sorted({t.kpi for _, t, _ in wanted})
            labels = tuple(dict.fromkeys(p for _, _, own in wanted for p in own))
            held = None
            if df is not None and all(self.reusable(t, per, slo) for _, t, _ in wanted):
                held = df[df["kpi"].isin(kpis) & df["period"].isin(labels)]
                labels = tuple(p for p in labels if p not in set(held["period"]))
            res = held
            if labels:
                bounds = [periods.parse_label(p) for p in labels]
                extra = dict(self.extra, **({"slo": slo} if slo is not None else {}))
                res = self.compute(self.con, grain=self.grain, by=by, start=min(b[1] for b in bounds),
                                   end=max(b[2] for b in bounds) - timedelta(days=1),
                                   filters={k: list(v) for k, v in filters}, kpis=kpis,
                                   tz=self.tz, link_window_hours=self.link_window_hours,
                                   lead_time_start=self.lead_time_start, **extra)
                res = res[res["period"].isin(labels)]
                if held is not None and len(held):
                    res = pd.concat([held[res.columns.intersection(held.columns)], res], ignore_index=True)
            for kind, target, own in wanted:
                rows = res[(res["kpi"] == target.kpi) & res["period"].isin(own)]
                out[(kind, target.kpi)] = _per_group(rows, per, target.kpi) if per else _Fetched(
                    {(r["period"], _group(r.get(by)) if by else None, r["unit"]): (r["value"], r["n"])
                     for r in rows.to_dict(orient="records")})
        return out


def is_total(kpi_id: str) -> bool:
    """Whether the KPI adds up over the period (a count, a sum): its value so far grows until the period is over.

    Rates, medians, means and shares are not totals; judged on a period to date they are judged on fewer days.
    """
    k = catalog.get(kpi_id)
    if k.ratio is not None or k.id == "open_incidents":  # a ratio of totals; a count at a moment (the period's end)
        return False
    return k.unit in (catalog.COUNT, catalog.PREDICTIONS_UNIT) or (k.unit == catalog.CURRENCY and "/" not in k.value)


def _per_group(rows: pd.DataFrame, per: str, kpi_id: str) -> _Fetched:
    """Each team's (service's) value per period, for the groups with events of the KPI in the range.

    A count KPI counts 0 for a group without events in a period (a team that did not deploy in October
    deployed 0 times); any other KPI has no value there, and that group is not judged in that period.
    """
    named = rows[rows[per].map(lambda g: not _missing(g))]
    active = sorted(set(named.loc[named["n"].gt(0), per]))
    count = catalog.get(kpi_id).unit == catalog.COUNT
    groups = {}
    for (period, unit), g in named.groupby(["period", "unit"], sort=False):
        have = {r[per]: (r["value"], r["n"]) for r in g.to_dict(orient="records")}
        listed = []
        for name in active:
            value, n = have.get(name, (math.nan, 0))
            if count and _missing(value):
                value, n = 0.0, 0
            listed.append((name, value, int(n)))
        groups[(period, unit)] = listed
    return _Fetched({}, per=per, groups=groups)


def _judge_groups(target: Target, fetched: _Fetched, rec: dict, grain: str) -> dict:
    """The organisation's row of a per-team (per-service) target: each group judged on its own value, summarised.

    Green when every group with a value is on target (green), red when half or more are not, amber in between
    (see docs/targets.md, "Per-team targets").
    """
    per = fetched.per
    listed = fetched.groups.get((rec["period"], rec["unit"]), [])
    verdicts = [(name, value, judge(target, value, period=rec["period"], grain=grain, unit=rec["unit"]))
                for name, value, _ in listed]
    judged = [(name, value, v) for name, value, v in verdicts if v.status != NONE]
    off = [(name, value, v) for name, value, v in judged if v.status != GREEN]
    words = _target_words(target)
    plural = f"{per}s" if not per.endswith("s") else per
    base = dict(target=target.text, scope=target.scope_text, target_source=target.source, band_text="",
                scoped_n=int(sum(n for _, _, n in listed)))
    rule = verdicts[0][2].rule if verdicts else _rule(target, 1.0, grain)
    if not judged:
        note = verdicts[0][2].note if verdicts else f"no {per} has data"
        return dict(base, status=NONE, rule=rule, note=note, status_text=f"not judged: {note}")
    if not off:
        status = GREEN
    elif 2 * len(off) >= len(judged):
        status = RED
    else:
        status = AMBER
    if target.form == "range":
        text = (f"{len(off)} of {len(judged)} {plural} outside {words}" if off
                else f"all {len(judged)} {plural} within {words}")
    else:
        text = (f"{len(off)} of {len(judged)} {plural} off target ({words})" if off
                else f"all {len(judged)} {plural} on target ({words})")
    each = ", ".join(f"{name} {_num(value) if not _missing(value) else 'no data'} ({v.status})"
                     for name, value, v in verdicts)
    summary = f"{per} by {per}: {each}; green when every {per} is, red when half or more are not, else amber"
    return dict(base, status=status, status_text=text, rule=f"{rule}; {summary}", note="",
                outside=", ".join(name for name, _, _ in off))


def _target_words(target: Target) -> str:
    """The target's bounds in its own unit: '1–4/month', '< 10%', '≥ 99.9%'."""
    if target.form == "range":
        return f"{_num(target.low)}–{_num(target.high)}{_unit_suffix(target.unit)}"
    if target.form in ("band", "threshold"):
        return target.green.show(target.unit)
    return ""


def band_text(target: Target) -> str:
    """What a chart's target band is, in the target's words: 'target 2–6 weeks', 'target < 1 h (from 0)'."""
    if target.form == "range":
        extra = {(GREEN, RED): "; below also green", (RED, GREEN): "; above also green"}.get(
            (target.below, target.above), "")
        return f"target {_target_words(target)}" + (f" ({extra[2:]})" if extra else "")
    if target.form in ("band", "threshold"):
        text = f"target {_target_words(target)}"
        if target.amber is not None:
            text += f" (amber {target.amber.show(target.unit)})"
        if target.green.lower_is_better:
            text += " — band from 0"
        return text
    if target.form == "trend":
        return f"target: change {target.green.show('%')} vs {_compare_text(target)}"
    return ""


def _status_text(target: Target, v: Verdict, value=None) -> str:
    """The verdict in words where the status colour alone does not say it."""
    if v.status == NONE:
        return f"not judged: {v.note or 'no value'}"
    if target.slo is not None and not _missing(value) and float(value) < 0:
        return f"budget overspent (SLO {_num(round(target.slo * 100, 6))}%)"
    if v.cluster:
        return f"{v.cluster.capitalize()} (DORA {target.year})" if target.year else v.cluster.capitalize()
    return ""
