"""One KPI line: a KPI's value in a period, its change, its status and how it reads.

The scorecard card, the pages and the review pack all build their KPI lines
here, from a ``kpis.compute`` frame (with the target columns of
``kpis.targets`` when a profile is active), so they agree on the value, the
change, the verdict and the words.

Rules decided here, once:

* **The period in progress** (``as_of`` falls inside it) is "to date" and is
  never compared with the previous, whole period. Given the equal-span values
  (``kpis.compute(..., span_days=elapsed)``: every period cut to its first
  ``elapsed`` days) it is compared with the same days of the previous period
  ("vs 2026-10 days 1–20"); without them the change is withheld with its
  reason ("in progress: 20 of 30 days — not compared with a whole month").
* **Small samples** (fewer than ``SMALL_SAMPLE_N`` = 20 events): a proportion
  (a share of n events, such as the change failure rate) shows "k of n" and a
  95% Wilson score interval; below 20 events the normal approximation is poor
  and a rate like 2 of 8 = 25% is compatible with anything from 7% to 59%.
  Other KPIs resting on few events (medians, means) show their n.
* **Triage order**: off target (red) first, ordered by how far the judged value
  is from the nearest edge of the green region (relative: 52 deployments
  against at most 4 is 12x off; for a "higher is better" ratio bounded by 1,
  such as availability, the shortfall is measured against the allowed
  complement: 99.83% against 99.9% has spent 1.7 times what is allowed, a
  distance of 0.7), then near target (amber, the same order), then on target,
  then KPIs without a target, each in catalog order when the distance ties.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd

from kpis import catalog, drivers, periods
from kpis import format as fmt

SMALL_SAMPLE_N = 20
Z95 = 1.959963984540054  # the two-sided 95% normal quantile
MUCH_CHANGED = 0.2  # a change of 20% or more of the previous value is worth explaining

STATUS_ORDER = ("red", "amber", "green", "none")
STATUS_WORDS = fmt.STATUS_WORDS
TIER_TITLES = {"red": "Off target", "amber": "Near target", "green": "On target", "none": "No target"}
GRAIN_WORDS = {"day": "day", "week": "week", "month": "month", "quarter": "quarter"}


def is_proportion(kpi_id: str) -> bool:
    """Whether the KPI's value is a share of its n events (k of n), so a binomial interval applies."""
    k = catalog.get(kpi_id)
    return (k.unit == catalog.RATIO and drivers.kind(kpi_id) == drivers.RATIO_OF_SUMS and not k.ratio
            and kpi_id not in drivers.WEIGHTS and kpi_id != "error_budget_remaining")


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for k successes of n (95% by default)."""
    if n <= 0:
        raise ValueError("the interval needs at least one event")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def distance_from_green(value: float | None, green_low: float | None, green_high: float | None,
                        unit: str) -> float | None:
    """How far ``value`` is outside the green region [green_low, green_high], relative to the bound it
    misses (0 inside; None when there is no value or no bound to measure against)."""
    if value is None:
        return None
    if green_high is not None and value > green_high:
        return (value - green_high) / abs(green_high) if green_high else value - green_high
    if green_low is not None and value < green_low:
        if unit == catalog.RATIO and 0 < green_low < 1:
            return (green_low - value) / (1 - green_low)  # the shortfall against the allowed complement
        return (green_low - value) / abs(green_low) if green_low else green_low - value
    if green_low is None and green_high is None:
        return None
    return 0.0


@dataclass(frozen=True)
class KpiLine:
    """One KPI in one period, as every view shows it."""

    kpi: str
    title: str
    family: str
    unit: str  # the engine's unit (hours, ratio, ..., or the currency code)
    period: str
    period_text: str  # "2026-11 (to date: 20 of 30 days)" for the period in progress, else the label
    partial: bool  # the period is in progress
    value: float | None
    value_text: str  # "13.6%", "No data"
    n: int
    previous_period: str
    previous_value: float | None
    previous_text: str
    delta: float | None  # value - previous value; None when either is missing or the comparison is withheld
    change_text: str  # "+2.1 pp" (fmt_delta), "" without a comparison
    judgement: str  # better / worse / no change / neutral / "" (no comparison)
    withheld: str  # why the change is not shown although both values exist ("in progress: ..."), or ""
    status: str  # green / amber / red / none
    status_text: str  # on target / near target / off target / no target
    target: str  # the profile's words, "" without a target
    rule: str  # the rule as evaluated
    note: str  # why the status is none (no data, not enough history, a scope), or ""
    compared_with: str  # what the change is against: '2026-10', or '2026-10 days 1–20' for equal spans
    verdict: str  # kpis.targets' status_text: '3 of 7 teams outside 1–4/month', 'High (DORA 2024)', ...
    scope: str  # the target's scope in words ('sev1, sev2 incidents', 'per team'), or ""
    judged_value: float | None  # the value the status rests on (a scoped value, a per-team mean)
    distance: float | None  # how far outside the green region the judged value is (relative), 0 inside
    sample: str  # "2 of 8" or "n = 5" when the value rests on few events, else ""
    interval: tuple[float, float] | None  # 95% Wilson interval of a small-sample proportion
    definition: str
    no_data: str  # "No production deployments in 2026-Q3" when value is missing, else ""
    drivers: str = ""  # "Driven by team fraud (+4 incidents), search (+2 incidents)", set by whoever computed them
    green_low: float | None = None  # the green region of the target as evaluated for this period (base units)
    green_high: float | None = None
    projections: tuple = ()  # kpis.projection.Projection of the period in progress (and its quarter), if any

    @property
    def has_value(self) -> bool:
        return self.value is not None

    @property
    def tier(self) -> int:
        """0 off target, 1 near, 2 on target, 3 no target."""
        return STATUS_ORDER.index(self.status) if self.status in STATUS_ORDER else len(STATUS_ORDER) - 1

    @property
    def tier_title(self) -> str:
        return TIER_TITLES.get(self.status, TIER_TITLES["none"])

    @property
    def compared(self) -> bool:
        return self.delta is not None

    @property
    def relative_change(self) -> float | None:
        if self.delta is None or not self.previous_value:
            return None
        return self.delta / abs(self.previous_value)

    @property
    def much_changed(self) -> bool:
        """A change of MUCH_CHANGED (20%) or more of the previous value."""
        r = self.relative_change
        return r is not None and abs(r) >= MUCH_CHANGED

    @property
    def needs_drivers(self) -> bool:
        """Off target, or changed much: the scorecard says what drives it."""
        return self.has_value and (self.status == "red" or self.much_changed)

    @property
    def interval_text(self) -> str:
        if self.interval is None:
            return ""
        lo, hi = self.interval
        return f"95% interval {fmt.fmt_value(lo, self.unit, self.kpi)}–{fmt.fmt_value(hi, self.unit, self.kpi)}"

    @property
    def sample_text(self) -> str:
        """'2 of 8 · 95% interval 7.1%–59.1%', 'n = 5', or ''."""
        return " · ".join(t for t in (self.sample, self.interval_text) if t)

    @property
    def change_line(self) -> str:
        """'+2.1 pp vs 2026-Q2 · worse', or why there is no comparison."""
        if self.value is None:
            return ""
        if self.withheld:
            return self.withheld
        if not self.change_text:
            return f"no data in {self.previous_period} to compare"
        return f"{self.change_text} vs {self.compared_with} · {self.judgement}"


def pick_unit(rows: pd.DataFrame | list[dict]) -> str | None:
    """For money KPIs with several currencies, the one with the most events (None without rows)."""
    return _pick_unit(_records(rows))


def _pick_unit(records: list[dict]) -> str | None:
    """The unit with the most events; on a tie the first in alphabetical order."""
    totals: dict[str, int] = {}
    for r in records:
        if not fmt.is_missing(r["unit"]):
            totals[r["unit"]] = totals.get(r["unit"], 0) + int(r["n"])
    return min(totals, key=lambda u: (-totals[u], u)) if totals else None


def _records(rows: pd.DataFrame | list[dict] | None) -> list[dict]:
    """The rows as dicts (a list of them is taken as it is): a line reads a dozen rows, and a pandas lookup per
    value took 4 ms a line. Column by column: ``to_dict(orient="records")`` goes row by row (another 4 ms)."""
    if rows is None or isinstance(rows, list):
        return rows or []
    if not len(rows):
        return []
    columns = rows.to_dict(orient="list")
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def by_kpi(rows: pd.DataFrame | None) -> dict[str, list[dict]]:
    """``kpis.compute`` rows as dicts, per KPI (what ``build_line`` reads fastest)."""
    out: dict[str, list[dict]] = {}
    for r in _records(rows):
        out.setdefault(r["kpi"], []).append(r)
    return out


def _num(x) -> float | None:
    if x is None or x is pd.NA:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _text(x) -> str:
    return "" if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)) else str(x)


def _rests_on_events(k: catalog.KPI) -> bool:
    """Rates, means and medians over events (not counts, sums, volumes or deployments per week)."""
    return (drivers.kind(k.id) != drivers.ADDITIVE and not k.ratio
            and k.unit not in (catalog.COUNT, catalog.PREDICTIONS_UNIT, catalog.PER_WEEK))


def withheld_text(period: str, grain: str, as_of: date | None) -> str:
    """'in progress: 20 of 30 days — not compared with a whole month' for the period in progress, else ''."""
    _, start, _ = periods.parse_label(period)
    if not periods.is_partial(start, grain, as_of):
        return ""
    return (f"in progress: {periods.elapsed_days(start, grain, as_of)} of {periods.days_in(start, grain)} days "
            f"— not compared with a whole {GRAIN_WORDS[grain]}")


def span_days(period: str, as_of: date | None) -> int | None:
    """The days of ``period`` elapsed on ``as_of`` when it is in progress (the equal span to compare), else None."""
    grain, start, _ = periods.parse_label(period)
    return periods.elapsed_days(start, grain, as_of) if periods.is_partial(start, grain, as_of) else None


def build_line(rows: pd.DataFrame | list[dict], kpi_id: str, period: str, previous_period: str, *,
               as_of: date | None = None, unit: str | None = None,
               span_rows: pd.DataFrame | list[dict] | None = None) -> KpiLine:
    """The KpiLine of ``kpi_id`` in ``period`` from its ``kpis.compute`` rows (any periods, one or more units).

    ``unit`` picks the currency of a money KPI (default: the one with the most
    events in ``rows``). ``as_of`` is the last day the data covers: a period
    still in progress on it is "to date". It is compared only with the same
    elapsed days of ``previous_period``, read from ``span_rows`` (``kpis.compute``
    with ``span_days=span_days(period, as_of)``); without them it is not compared.
    """
    k = catalog.get(kpi_id)
    grain, p_start, _ = periods.parse_label(period)
    recs = [r for r in _records(rows) if r.get("kpi", kpi_id) == kpi_id]
    unit = unit or _pick_unit(recs) or (k.unit if k.unit != catalog.CURRENCY else "USD")
    recs = [r for r in recs if r["unit"] == unit]
    cur = next((r for r in recs if r["period"] == period), {})
    prev = next((r for r in recs if r["period"] == previous_period), None)
    value = _num(cur["value"]) if cur else None
    before = _num(prev["value"]) if prev else None
    n = int(cur["n"]) if cur else 0

    def col(name: str):
        return cur.get(name)

    compared_with = previous_period
    span = span_days(period, as_of)
    if span is not None and span_rows is not None:
        # The same elapsed days of the previous period (the period in progress is the same either way).
        sprev = next((r for r in _records(span_rows) if r.get("kpi", kpi_id) == kpi_id and r["unit"] == unit
                      and r["period"] == previous_period), None)
        before = _num(sprev["value"]) if sprev else None
        compared_with = f"{previous_period} days 1–{span}"
        withheld = ""
    else:
        withheld = withheld_text(period, grain, as_of) if value is not None and before is not None else ""
    delta = value - before if value is not None and before is not None and not withheld else None
    status = _text(col("status")) or "none"
    judged = _num(col("scoped_value"))
    judged = value if judged is None else judged
    distance = None
    if status in ("red", "amber"):
        distance = distance_from_green(judged, _num(col("green_low")), _num(col("green_high")), unit)
    elif status == "green":
        distance = 0.0
    sample, interval = "", None
    if value is not None and 0 < n < SMALL_SAMPLE_N and _rests_on_events(k):
        if is_proportion(kpi_id):
            hits = round(value * n)
            sample, interval = f"{hits} of {n}", wilson_interval(hits, n)
        else:
            sample = f"n = {n}"
    return KpiLine(
        kpi=k.id, title=k.title, family=k.family, unit=unit, period=period,
        period_text=periods.to_date_label(p_start, grain, as_of), partial=periods.is_partial(p_start, grain, as_of),
        value=value, value_text=fmt.fmt_value(value, unit, k.id) if value is not None else "No data", n=n,
        previous_period=previous_period, previous_value=before,
        previous_text=fmt.fmt_value(before, unit, k.id) if before is not None else "—",
        delta=delta, change_text=fmt.fmt_delta(delta, unit, k.id, like=value) if delta is not None else "",
        judgement=fmt.judgement(k.id, delta) if delta is not None else "", withheld=withheld,
        status=status, status_text=STATUS_WORDS.get(status, STATUS_WORDS["none"]),
        target=_text(col("target")), rule=_text(col("rule")), note=_text(col("note")), scope=_text(col("scope")),
        compared_with=compared_with, verdict=_text(col("status_text")),
        judged_value=judged, distance=distance, sample=sample, interval=interval, definition=k.definition,
        no_data=fmt.no_data(k.id, period) if value is None else "",
        green_low=_num(col("green_low")), green_high=_num(col("green_high")))


def absent_optional(frame: pd.DataFrame) -> set[str]:
    """The KPIs of ``frame`` computed from an optional table alone (``catalog.KPI.optional_table``: lead time per
    change) that have no value in any of its periods: the table is not loaded, or has nothing in the range. The
    scorecard and the review pack leave them out rather than show a row of empty values."""
    optional = [k.id for k in catalog.CATALOG if k.optional_table]
    rows = frame[frame["kpi"].isin(optional)]
    with_value = set(rows.loc[rows["value"].notna(), "kpi"])
    return set(rows["kpi"]) - with_value


def build_lines(frame: pd.DataFrame, period: str, previous_period: str, *, as_of: date | None = None,
                kpis: list[str] | None = None, span_rows: pd.DataFrame | None = None) -> list[KpiLine]:
    """A KpiLine for each of ``kpis`` (default: every KPI in the frame, in catalog order, but those of an optional
    table without any value in it: ``absent_optional``)."""
    if kpis is None:
        shown, absent = set(frame["kpi"]), absent_optional(frame)
        ids = [k.id for k in catalog.CATALOG if k.id in shown and k.id not in absent]
    else:
        ids = kpis
    groups, spans = by_kpi(frame), by_kpi(span_rows) if span_rows is not None else None
    return [build_line(groups.get(i, []), i, period, previous_period, as_of=as_of,
                       span_rows=None if spans is None else spans.get(i, [])) for i in ids]


def triage_key(line: KpiLine) -> tuple:
    """Sort key: off target first, furthest off first; then near, on, no target; catalog order on ties."""
    far = -(line.distance if line.distance is not None else -1.0)
    order = catalog.KPI_IDS.index(line.kpi) if line.kpi in catalog.KPI_IDS else len(catalog.KPI_IDS)
    return (line.tier, far if line.tier < 2 else 0.0, order)


def triage(lines) -> list[KpiLine]:
    """The lines in triage order (see the module docstring)."""
    return sorted(lines, key=triage_key)


def summary(lines) -> str:
    """'5 off target, 3 near, 9 on target, 17 without a target' (tiers with none left out)."""
    counts = {s: sum(1 for line in lines if line.status == s) for s in STATUS_ORDER}
    counts["none"] = sum(1 for line in lines if line.status not in STATUS_ORDER[:3])
    words = {"red": "off target", "amber": "near", "green": "on target", "none": "without a target"}
    parts = [f"{counts[s]} {words[s]}" for s in STATUS_ORDER if counts[s]]
    return ", ".join(parts) if parts else "no KPIs"


def with_drivers(line: KpiLine, text: str) -> KpiLine:
    """The same line saying what drives it."""
    return replace(line, drivers=text)


def with_projections(line: KpiLine, projections) -> KpiLine:
    """The same line with where its period in progress (and its quarter) is heading (kpis.projection)."""
    return replace(line, projections=tuple(p for p in projections if p is not None))
