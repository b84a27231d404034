"""One way to write a number: KPI values and deltas, money, counts, axes and detail tables.

Every place that shows a number to a person (the scorecard cards, the charts,
the detail tables, the review pack, the CLI table) writes it here, so the same
KPI reads the same everywhere:

* a value and its change are written in the same unit, chosen once from the
  value (a lead time of 15.3 d moved by -1.0 d, not by -23.3 h);
* each KPI has a fixed number of decimals (``catalog.KPI.decimals``) in that
  unit; a change that would round to zero keeps the digits that show it;
* counts are whole numbers with thousands separators (2,134,567), never SI
  suffixes (no "2.1M", "925n" or "2.1G"), on cards, in tables and on axes;
* money carries its currency: a symbol for USD, EUR, GBP and JPY, else the ISO
  code (1,234.50 CHF);
* a missing value is "—" on a card and an empty cell in a table.

Detail tables go through :func:`table_frame`: human column titles, the columns
that explain a row first, words instead of codes, long ids shortened (the full
id stays the cell's value). :func:`csv_text` writes the raw rows as CSV with
formula cells neutralised. Pure pandas: no Streamlit here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from kpis import catalog

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}

DIRECTION_WORDS = {
    catalog.LOWER: "lower is better",
    catalog.HIGHER: "higher is better",
    catalog.NEUTRAL: "volume: neither better nor worse",
}

STATUS_WORDS = {"green": "on target", "amber": "near target", "red": "off target", "none": "no target"}

# Decimals of a number that is not a catalog KPI (a cost line, an incident's age), by unit.
DEFAULT_DECIMALS = {catalog.HOURS: 1, catalog.RATIO: 1, catalog.PER_WEEK: 1, catalog.COUNT: 0,
                    catalog.PREDICTIONS_UNIT: 0, catalog.MS: 0}
MONEY_DECIMALS = 2
EXTRA_DELTA_DECIMALS = 4  # at most this many more digits to show a change that would round to zero
EMPTY_CARD = "—"


def is_missing(x) -> bool:
    """None, NaN, pandas NA / NaT: no value."""
    if x is None:
        return True
    if isinstance(x, float):
        return math.isnan(x)
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):  # a list or an array is a value
        return False


def _fixed(x: float, decimals: int) -> str:
    """``abs(x)`` with ``decimals`` digits and thousands separators, halves rounded up as people do
    (15.25 -> '15.3', 1,234.5 -> '1,235'; Python's format would round them to even)."""
    q = Decimal(repr(abs(float(x)))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return f"{q:,.{decimals}f}"


def _kpi(kpi) -> catalog.KPI | None:
    if kpi is None or isinstance(kpi, catalog.KPI):
        return kpi
    return catalog.BY_ID.get(kpi)


def no_data(kpi_id: str, period: str) -> str:
    """'No production deployments in 2026-10': what is missing, in the catalog's words."""
    k = catalog.BY_ID.get(kpi_id)
    return (k.no_data if k else "No data in {period}").format(period=period)


def chart_title(kpi_id: str, what: str | None = None) -> str:
    """'Change failure rate — lower is better'."""
    k = catalog.get(kpi_id)
    return f"{what or k.title} — {DIRECTION_WORDS[k.direction]}"


def kpi_unit(kpi_id: str) -> str:
    return catalog.get(kpi_id).unit


# --- the display unit ----------------------------------------------------------------------


@dataclass(frozen=True)
class DisplayUnit:
    """How a number of some base unit is shown: divided by ``divisor``, ``decimals`` digits, with its unit."""

    divisor: float
    decimals: int
    suffix: str = ""  # " d", "%", " ms", " CHF"
    prefix: str = ""  # "$"
    name: str = ""  # for axis titles: "days", "%", "USD"
    delta_suffix: str | None = None  # a change of a percentage is in points: " pp"

    def number(self, x: float, decimals: int | None = None) -> str:
        d = self.decimals if decimals is None else decimals
        text = _fixed(x / self.divisor, d)
        # -0.0 is written 0.0: the sign of a number that rounds to zero says nothing
        sign = "-" if x < 0 and text.strip("0.,") else ""
        return f"{sign}{self.prefix}{text}{self.suffix}"


def _currency_unit(code: str, decimals: int) -> DisplayUnit:
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol:
        return DisplayUnit(1.0, decimals, prefix=symbol, name=code)
    return DisplayUnit(1.0, decimals, suffix=f" {code}", name=code)


def display_unit(kpi, value, unit: str | None = None) -> DisplayUnit:
    """The unit a value of ``kpi`` (an id, a catalog entry or None) is written in, decided from ``value``.

    ``unit`` is the engine's unit of the row (hours, ratio, ... or a currency
    code); without it the KPI's own. Durations: minutes below the KPI's
    ``minutes_under_hours`` (1 h; 2 h for CI runs), hours below two days, else
    days. Pass the same ``value`` for a value and its change so both use one unit.
    """
    k = _kpi(kpi)
    unit = unit or (k.unit if k else catalog.COUNT)
    if unit == catalog.CURRENCY:
        unit = "USD"
    decimals = k.decimals if k and k.decimals >= 0 else DEFAULT_DECIMALS.get(unit, MONEY_DECIMALS)
    if unit == catalog.HOURS:
        a = 0.0 if is_missing(value) else abs(float(value))
        if a < (k.minutes_under_hours if k else 1.0):
            return DisplayUnit(1 / 60, decimals, " min", name="minutes")
        if a < 48:
            return DisplayUnit(1.0, decimals, " h", name="hours")
        return DisplayUnit(24.0, decimals, " d", name="days")
    if unit == catalog.RATIO:
        return DisplayUnit(0.01, decimals, "%", name="%", delta_suffix=" pp")
    if unit == catalog.PER_WEEK:
        return DisplayUnit(1.0, decimals, " / week", name="per week")
    if unit in (catalog.COUNT, catalog.PREDICTIONS_UNIT):
        return DisplayUnit(1.0, decimals, name=unit)
    if unit == catalog.MS:
        return DisplayUnit(1.0, decimals, " ms", name="ms")
    return _currency_unit(unit, decimals)


def fmt_value(value, unit: str | None = None, kpi=None, *, empty: str = EMPTY_CARD) -> str:
    """A value as a card shows it: '15.3 d', '12.3%', '2,134,567', '$1,234', '0.0092 CHF'.

    ``unit`` is the engine's unit (hours, ratio, ... or a currency code);
    ``kpi`` (id or catalog entry) gives the decimals; a missing value is ``empty``.
    """
    if is_missing(value):
        return empty
    return display_unit(kpi, value, unit).number(float(value))


def target_text(target: str | None) -> str:
    """A target in the profile's words after 'target': 'target <1–4 hours'; a quote that starts with the word
    itself ('Target set per service tier; optimize YoY') is not given it twice. '' without a target."""
    if not target:
        return ""
    return target if target.lower().startswith("target") else f"target {target}"


def fmt_delta(delta, unit: str | None = None, kpi=None, like=None) -> str:
    """A signed change in the unit of the value it goes with (``like``): '-1.0 d', '+2.1 pp', '+$120'.

    Without ``like`` the change picks its own unit. A change that is not zero
    but would round to zero at the KPI's decimals keeps the digits that show it
    ('-0.02 pp'); no change is '±0'. Missing: ''.
    """
    if is_missing(delta):
        return ""
    du = display_unit(kpi, delta if is_missing(like) else like, unit)
    delta = float(delta)
    sign = "+" if delta > 0 else "-" if delta < 0 else "±"
    shown = abs(delta) / du.divisor
    decimals = du.decimals
    while shown and not _fixed(shown, decimals).strip("0.,") and decimals < du.decimals + EXTRA_DELTA_DECIMALS:
        decimals += 1
    suffix = du.suffix if du.delta_suffix is None else du.delta_suffix
    return f"{sign}{du.prefix}{_fixed(shown, decimals)}{suffix}"


def fmt_hours(h, decimals: int = 1) -> str:
    """A duration in minutes under an hour, hours under two days, else days: '35.0 min', '4.1 h', '15.3 d'."""
    if is_missing(h):
        return EMPTY_CARD
    return display_unit(None, h, catalog.HOURS).number(float(h), decimals)


def fmt_duration(h) -> str:
    """A run's duration: minutes under two hours (a CI run of 1.5 h reads as 90.0 min), else hours or days."""
    return fmt_value(h, catalog.HOURS, "ci_duration_median_hours")


def fmt_percent(x, digits: int = 1) -> str:
    """A ratio as a percentage: 0.9985 -> '99.85%' with ``digits=2``."""
    if is_missing(x):
        return EMPTY_CARD
    return DisplayUnit(0.01, digits, "%").number(float(x))


def fmt_share(x) -> str:
    """A share of a total: '12.5%', '0.35%', and '<0.01%' for a sliver that is not zero."""
    if is_missing(x):
        return EMPTY_CARD
    if 0 < abs(x) < 0.0001:
        return "<0.01%"
    return fmt_percent(x, 2 if abs(x) < 0.01 else 1)


def fmt_money(x, currency: str = "USD", decimals: int = MONEY_DECIMALS) -> str:
    """An amount with its currency: '$1,234.50', '-€12.00', '1,234.50 CHF'."""
    if is_missing(x):
        return EMPTY_CARD
    return _currency_unit(currency, decimals).number(float(x))


def fmt_count(x) -> str:
    """A count: a whole number with thousands separators, never abbreviated ('2,134,567')."""
    if is_missing(x):
        return EMPTY_CARD
    return ("-" if x < 0 else "") + _fixed(x, 0)


def fmt_change_pct(new, old) -> str:
    """Relative change '+12.3%' ('—' when either side is missing or the old value is 0)."""
    if is_missing(new) or is_missing(old) or old == 0:
        return EMPTY_CARD
    return f"{(new - old) / abs(old) * 100:+.1f}%"


def judgement(kpi_id: str, delta) -> str:
    """'better', 'worse', 'no change' or 'neutral' for a change of a KPI in its direction."""
    direction = catalog.get(kpi_id).direction
    if is_missing(delta):
        return ""
    if delta == 0:
        return "no change"
    if direction == catalog.NEUTRAL:
        return "neutral"
    better = delta < 0 if direction == catalog.LOWER else delta > 0
    return "better" if better else "worse"


# --- axes ---------------------------------------------------------------------------------

# Large counts on an axis: divided, with the scale named in the axis title ("predictions (millions)").
COUNT_SCALES = ((1e9, "billions"), (1e6, "millions"), (1e4, "thousands"))


def _top(values) -> float:
    finite = [abs(float(v)) for v in values if not is_missing(v)]
    return max(finite) if finite else 0.0


def hours_axis(values, kpi=None) -> tuple[float, str]:
    """(divisor, unit name) for a series of hours: minutes, hours or days, as its largest value is written."""
    du = display_unit(kpi, _top(values), catalog.HOURS)
    return du.divisor, du.name


def axis_for(unit: str, values, kpi=None) -> tuple[float, str, str]:
    """(divisor, axis title, plotly tick format) that shows ``values`` of ``unit`` readably.

    Tick formats are fixed-point with thousands separators (``~`` drops
    trailing zeros); never SI (``s``), so no '925n' or '2.1G'. With ``kpi``
    the title names the quantity and its unit: 'lead time (days)'.
    """
    k = _kpi(kpi)
    quantity = k.axis_title if k else ""
    top = _top(values)

    def title(unit_name: str) -> str:
        return f"{quantity} ({unit_name})" if quantity else unit_name

    if unit in (catalog.COUNT, catalog.PREDICTIONS_UNIT):
        for size, scale in COUNT_SCALES:
            if top >= size:
                return size, f"{quantity or unit} ({scale})", ",.1~f"
        return 1.0, quantity or unit, ",.0f"
    du = display_unit(k, top, unit)
    if unit == catalog.HOURS:
        return du.divisor, title(du.name), ",.1~f"
    if unit == catalog.RATIO:
        return du.divisor, title("%"), f",.{du.decimals}~f"
    if unit == catalog.PER_WEEK:
        return 1.0, quantity or "deployments per week", ",.1~f"
    if unit == catalog.MS:
        return 1.0, title("ms") if quantity else "milliseconds", ",.0f"
    # money: the currency in the title; decimals as the KPI's, else by magnitude
    decimals = k.decimals if k else 4 if top < 1 else 2 if top < 100 else 0
    return 1.0, title(du.name), f",.{decimals}~f"


# --- detail tables -------------------------------------------------------------------------

ID_KEEP = 16  # ids up to this long are shown whole
ID_HEAD, ID_TAIL = 8, 4  # a longer id shows its first 8 and last 4 characters: e6f7051c…6aef


def short_id(value) -> str:
    """'e6f7051c10f7a7f9af4708e1ef0a6aef' -> 'e6f7051c…6aef'; short ids ('dep-01084') stay whole."""
    if is_missing(value):
        return ""
    text = str(value)
    return text if len(text) <= ID_KEEP else f"{text[:ID_HEAD]}…{text[-ID_TAIL:]}"


def md_text(text) -> str:
    """Text from data, a file, a link or a person (names, target words, messages), for Streamlit markdown:
    every markdown and HTML character escaped, so it shows literally and never renders as a link or markup."""
    return re.sub(r"([\\`*_\[\]{}()<>#+!|~:$-])", r"\\\1", str(text))


def _moment_text(value, pattern: str) -> str:
    """A time or day as text; one beyond what strftime can write (year 10000 after a time-zone shift, an
    implausible row written by another tool) is written as pandas or DuckDB gave it, never an error."""
    try:
        return f"{pd.Timestamp(value):{pattern}}"
    except (ValueError, OverflowError, NotImplementedError):
        return str(value)


def words(value) -> str:
    """A code as words: 'data_quality' -> 'data quality', 'rolled_back' -> 'rolled back'."""
    return "" if is_missing(value) else str(value).replace("_", " ")


@dataclass(frozen=True)
class Column:
    """How one column of a detail table is titled and written."""

    title: str
    kind: str = "text"  # text | id | ids | words | status | time | date | hours | duration | count | money
    #                     | ratio | share | ms | bool | number
    help: str = ""
    decimals: int | None = None  # money, ratio, number: digits after the point


# One mapping from column name to title and kind, for every detail table (kpis.details and the pages).
COLUMNS: dict[str, Column] = {
    "deployment_id": Column("Deployment", "id"),
    "deployed_at": Column("Deployed (UTC)", "time"),
    "service": Column("Service"),
    "team": Column("Team"),
    "model": Column("Model"),
    "model_version": Column("Version"),
    "tier": Column("Tier", "words"),
    "status": Column("Status", "words"),
    "lead_time_hours": Column("Lead time", "hours", "From the change's start to the production deployment."),
    "failed": Column("Failed", "bool", "Counts in the change failure rate."),
    "failure_reason": Column("Why it failed", "words"),
    "incident_ids": Column("Incidents", "ids", "The incidents that name this deployment."),
    "incident_id": Column("Incident", "id"),
    "rework": Column("Unplanned (rework)", "bool", "A hotfix, or made to fix an incident: counts in the deployment "
                                                   "rework rate."),
    "fixes_incident_id": Column("Fixes incident", "id"),
    "recovery_needed": Column("Recovery counted", "bool", "Status failed or rolled back, or named by an incident: "
                                                         "counts in the failed deployment recovery time."),
    "recovery_hours": Column("Recovery time", "hours", "From the failed deployment to its recovery."),
    "recovered_at": Column("Recovered (UTC)", "time", "Empty while not recovered."),
    "recovered_by": Column("Recovered by", "text", "Its rollback, the next successful deployment of the service, "
                                                   "or the resolution of the incidents that name it."),
    "median_week_days": Column("Median week", "number", "Deployment days in the median week of the period.",
                               decimals=1),
    "weeks": Column("Weeks", "count", "The ISO weeks whose Thursday falls in the period."),
    "bucket": Column("DORA bucket", "words"),
    "deployment_days_per_week": Column("Deployment days per week", "number", decimals=1),
    "severity": Column("Severity", "words"),
    "category": Column("Category", "words"),
    "started_at": Column("Started (UTC)", "time"),
    "detected_at": Column("Detected (UTC)", "time"),
    "resolved_at": Column("Resolved (UTC)", "time", "Empty while the incident is open."),
    "time_to_detect_hours": Column("Time to detect", "hours"),
    "time_to_recover_hours": Column("Time to recover", "hours"),
    "open": Column("Open", "bool"),
    "started_in_range": Column("Started in period", "bool", "Counts in the incident count and time to detect."),
    "resolved_in_range": Column("Resolved in period", "bool", "Counts in the time to recover."),
    "age_hours": Column("Open for", "hours"),
    "incidents": Column("Incidents", "count"),
    "high_severity": Column("SEV1–2", "count", "Incidents of severity sev1 or sev2."),
    "resolved": Column("Resolved", "count"),
    "mttr_hours": Column("Mean time to recover", "hours"),
    "impact_hours": Column("Impact (incident time)", "hours", "Sum of the resolved incidents' durations."),
    "run_id": Column("Run", "id"),
    "first_date": Column("First day", "date"),
    "last_date": Column("Last day", "date"),
    "cost": Column("Cost", "money"),
    "currency": Column("Currency"),
    "outlier": Column("Outlier", "bool", "Cost above Q3 + 1.5 IQR of the runs in the range."),
    "outlier_threshold": Column("Outlier fence", "money", "Q3 + 1.5 IQR of the runs' costs."),
    "days": Column("Days", "count"),
    "requests": Column("Requests", "count", "Total requests where the source reports them, else predictions."),
    "predictions": Column("Predictions", "count"),
    "errors": Column("Errors", "count"),
    "error_rate": Column("Error rate", "ratio", decimals=2),
    "availability": Column("Availability", "ratio", decimals=2),
    "error_budget_remaining": Column("Error budget left", "ratio", "1 - (1 - availability) / (1 - SLO).",
                                     decimals=1),
    "latency_p95_ms": Column("Latency p95", "ms"),
    "latency_p99_ms": Column("Latency p99", "ms"),
    "pipeline": Column("Pipeline"),
    "kind": Column("Kind", "words"),
    "scheduled_at": Column("Scheduled (UTC)", "time"),
    "finished_at": Column("Finished (UTC)", "time"),
    "duration_hours": Column("Duration", "duration"),
    "on_time": Column("On time", "bool"),
    "data_fresh": Column("Fresh data", "bool"),
    "validation_passed": Column("Validation passed", "bool"),
    "reproducible": Column("Reproducible", "bool"),
    "flags": Column("Problems", "text", "Failed / cancelled, late (on_time false), stale data (data_fresh false), "
                                        "validation failed, not reproducible."),
    "tier1": Column("Tier-1", "bool"),
    "monitored": Column("Monitored", "bool"),
    "drift_monitored": Column("Drift monitored", "bool"),
    "documented": Column("Documented", "bool"),
    "gaps": Column("Coverage gaps"),
    "as_of": Column("Inventory as of", "date"),
    "resource_id": Column("Resource", "id"),
    "amount": Column("Amount", "money"),
    "share_of_cost": Column("Share of all cost", "share", "Of all cost lines in the range, in the same currency."),
    "lines": Column("Cost lines", "count"),
    "reason": Column("Why unattributed"),
    "value": Column("Value", "number"),
    "unit": Column("Unit"),
    "n": Column("Events (n)", "count", "The events the value rests on."),
    "target": Column("Target"),
    "rule": Column("How judged"),
    "kpi": Column("KPI"),
    "period": Column("Period"),
}


@dataclass(frozen=True)
class TableKind:
    """A detail table: the columns that explain a row (first, in this order), the ones left out of view
    (still in the CSV) and titles that differ from COLUMNS for this table."""

    lead: tuple[str, ...]
    hidden: tuple[str, ...] = ()
    columns: dict[str, Column] = field(default_factory=dict)


_CPK = catalog.get("cost_per_1k_predictions")
TABLES: dict[str, TableKind] = {
    "deployments": TableKind(("service", "deployed_at", "status", "failure_reason", "incident_ids", "failed",
                              "lead_time_hours", "deployment_id")),
    "incidents": TableKind(("severity", "service", "started_at", "resolved_at", "time_to_recover_hours",
                            "time_to_detect_hours", "category", "incident_id", "deployment_id")),
    "failed_deployments": TableKind(("service", "deployed_at", "open", "age_hours", "recovery_hours", "recovered_by",
                                     "failure_reason", "incident_ids", "deployment_id"),
                                    columns={"open": Column("Not recovered", "bool"),
                                             "age_hours": Column("Not recovered for", "hours")}),
    "deployment_frequency": TableKind(("period", "bucket", "median_week_days", "weeks", "deployment_days_per_week",
                                       "n"), columns={"n": Column("Deployments", "count"),
                                                      "deployment_days_per_week": Column("Days / week", "number",
                                                                                         decimals=1)}),
    "changes": TableKind(("service", "deployed_at", "change_id", "counted", "lead_time_hours", "coding_hours",
                          "review_hours", "merge_to_deploy_hours", "status", "deployment_id"),
                         columns={
                             "change_id": Column("Change", "id", "The commit sha or pull request id."),
                             "counted": Column("Counted", "bool", "Shipped by a successful production deployment: "
                                                                  "counts in lead time per change and its phases."),
                             "status": Column("Deployment status", "words"),
                             "lead_time_hours": Column("Lead time", "hours",
                                                       "From the change's first commit to the production deployment."),
                             "coding_hours": Column("Coding", "hours", "First commit to pull request opened; empty "
                                                                       "without a pull request."),
                             "review_hours": Column("Review", "hours", "Pull request opened to merged."),
                             "merge_to_deploy_hours": Column("Merge to deploy", "hours",
                                                             "Merged to the production deployment."),
                             "authored_at": Column("First commit (UTC)", "time"),
                             "opened_at": Column("Pull request opened (UTC)", "time"),
                             "merged_at": Column("Merged (UTC)", "time"),
                             "repo": Column("Repository"),
                         }),
    "open_incidents": TableKind(("severity", "service", "started_at", "age_hours", "category", "incident_id")),
    "worst_services": TableKind(("service", "team", "incidents", "high_severity")),
    "training_runs": TableKind(("service", "first_date", "cost", "outlier", "outlier_threshold", "model", "run_id"),
                               hidden=("currency",)),
    "cost_per_1k_by_service": TableKind(
        ("service", "value", "status", "target"), hidden=("unit",),
        columns={"value": Column(_CPK.title, "money", decimals=_CPK.decimals)}),
    "serving_by_service": TableKind(("service", "team", "error_budget_remaining", "availability", "error_rate")),
    "pipeline_runs": TableKind(("pipeline", "kind", "status", "flags", "started_at", "duration_hours", "run_id")),
    "models": TableKind(("model", "service", "gaps", "tier")),
    "unattributed_costs": TableKind(("service", "resource_id", "amount", "share_of_cost", "reason"),
                                    hidden=("currency",)),
}


def column_for(name: str, kind: str | None = None) -> Column:
    """The column's title and kind in table ``kind``; an unknown column gets its name in words."""
    spec = TABLES.get(kind) if kind else None
    if spec and name in spec.columns:
        return spec.columns[name]
    return COLUMNS.get(name) or Column(words(name).capitalize())


def _writer(col: Column, currency: str | None = None) -> Callable[[object], str]:
    """value -> cell text ('' when empty) for a column of this kind."""
    kind = col.kind

    def write(v) -> str:
        if is_missing(v):
            return ""
        if kind == "id":
            return short_id(v)
        if kind == "ids":
            return ", ".join(short_id(x.strip()) for x in str(v).split(",") if x.strip())
        if kind == "words":
            return words(v)
        if kind == "status":
            return STATUS_WORDS.get(str(v), words(v))
        if kind == "time":
            return _moment_text(v, "%Y-%m-%d %H:%M")
        if kind == "date":
            return _moment_text(v, "%Y-%m-%d")
        if kind == "hours":
            return fmt_hours(v)
        if kind == "duration":
            return fmt_duration(v)
        if kind == "count":
            return fmt_count(v)
        if kind == "money":
            return fmt_money(v, currency or "USD", MONEY_DECIMALS if col.decimals is None else col.decimals)
        if kind == "ratio":
            return fmt_percent(v, 1 if col.decimals is None else col.decimals)
        if kind == "share":
            return fmt_share(v)
        if kind == "ms":
            return fmt_value(v, catalog.MS)
        if kind == "bool":
            return "yes" if bool(v) else "no"
        if kind == "number":
            return ("-" if v < 0 else "") + _fixed(v, 2 if col.decimals is None else col.decimals)
        return str(v)

    return write


@dataclass(frozen=True)
class TableView:
    """A detail table ready to show: raw rows (full ids, timestamps, numbers: for sorting and the CSV)
    and, per column, its title, help and how each cell is written."""

    data: pd.DataFrame  # every column, those shown first in display order
    shown: tuple[str, ...]  # the columns on screen, in order
    columns: dict[str, Column]  # column -> title, kind, help
    currency_column: str | None  # where money columns take their currency from (per row)

    def formatters(self) -> list[tuple[str, pd.Series | None, Callable[[object], str]]]:
        """(column, rows or None for all, value -> text) covering every shown cell; money columns get one
        entry per currency, so a writer needs only the value (what pandas' Styler.format calls it with)."""
        out = []
        for name in self.shown:
            col = self.columns[name]
            if col.kind == "money" and self.currency_column:
                currencies = self.data[self.currency_column].fillna("USD").astype(str)
                for cur in dict.fromkeys(currencies):
                    out.append((name, currencies == cur, _writer(col, cur)))
            else:
                out.append((name, None, _writer(col)))
        return out

    def text(self) -> pd.DataFrame:
        """The shown columns under their titles, every cell as written ('' when empty)."""
        cells = {name: np.full(len(self.data), "", dtype=object) for name in self.shown}
        for name, rows, write in self.formatters():
            values = self.data[name]
            if rows is None:
                cells[name] = _written(values, write)
            else:
                positions = rows.to_numpy().nonzero()[0]
                cells[name][positions] = _written(values.iloc[positions], write)
        return pd.DataFrame({self.columns[c].title: cells[c] for c in self.shown}, index=self.data.index)


def _written(values: pd.Series, write: Callable[[object], str]) -> np.ndarray:
    """``write(values.iat[i])`` for every i, writing each distinct value once (a column of services, days or
    statuses repeats a few values over thousands of rows).

    Floats are written one by one (-0.0 equals 0.0 but may be written differently), and so are object
    columns that are not all text (1 == True == 1.0) and the rarer extension types.
    """
    dtype = values.dtype
    if dtype.kind in "fc":
        return np.array([write(v) for v in values.to_numpy()], dtype=object)
    text = isinstance(dtype, pd.StringDtype) or (
        pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(values, skipna=True) == "string")
    if not (text or dtype.kind in "iubM"):
        return np.array([write(values.iat[i]) for i in range(len(values))], dtype=object)
    codes, _ = pd.factorize(values)  # missing values get -1
    distinct, first = np.unique(codes, return_index=True)
    written = np.empty(len(distinct), dtype=object)
    written[:] = [write(values.iat[i]) for i in first]
    return written[np.searchsorted(distinct, codes)]


def table_frame(df: pd.DataFrame, kind: str, tz: str = "UTC") -> TableView:
    """A detail table of ``kind`` (a key of TABLES) as people read it: the columns that explain a row
    first, human titles, words for codes, long ids shortened, money with its currency, empty cells blank.

    Timestamps (stored as UTC) are shown in the reporting time zone ``tz``, which their titles name."""
    if kind not in TABLES:
        raise KeyError(f"unknown table kind {kind!r}; known: {', '.join(TABLES)}")
    spec = TABLES[kind]
    lead = [c for c in spec.lead if c in df.columns]
    rest = [c for c in df.columns if c not in lead and c not in spec.hidden]
    hidden = [c for c in df.columns if c in spec.hidden]
    shown = tuple(lead + rest)
    data = df[list(shown) + hidden].reset_index(drop=True)
    columns = {c: column_for(c, kind) for c in data.columns}
    if tz != "UTC":
        for c, col in columns.items():
            if col.kind == "time":
                local = pd.to_datetime(data[c]).dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)
                data[c] = local
                columns[c] = replace(col, title=col.title.replace("(UTC)", f"({tz})"))
    if "status" in data.columns and {"target", "rule"} & set(data.columns):
        columns["status"] = Column("Status", "status")  # a target status: green / amber / red / none
    currency = next((c for c in ("currency", "unit") if c in data.columns), None)
    return TableView(data=data, shown=shown, columns=columns, currency_column=currency)


# --- CSV -----------------------------------------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A text cell a spreadsheet would run as a formula ('=HYPERLINK(...)', '+1', '@SUM') gets a leading
    apostrophe, so it is shown as text; numbers and other values are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell neutralised (numbers, timestamps and booleans untouched)."""
    out = df.copy()
    for name in out.columns:
        if out[name].dtype == object or pd.api.types.is_string_dtype(out[name].dtype):
            out[name] = out[name].map(neutralise, na_action="ignore").astype(object)
    return out


def csv_text(df: pd.DataFrame) -> str:
    """The rows as CSV (full ids, ISO timestamps, numbers in base units), formula cells neutralised."""
    return csv_safe(df).to_csv(index=False)
