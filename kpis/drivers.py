"""What drives a KPI: each team's, service's or model's contribution to its change.

``drivers(con, "incident_count", "team", period="2026-10", previous="2026-09")``
answers "which teams moved this number, and by how much": one row per group
with its contribution to the change of the organisation's value, in the KPI's
unit. The arithmetic runs in DuckDB over the KPI's own source relation (the
engine's grouped query, so filters, time zone and the period in progress mean
what they mean in ``kpis.compute``); only one row per group reaches pandas.

How a contribution is defined, by the kind of KPI:

* **additive** (counts and sums: deployments, incidents, cost, predictions):
  the group's own change, ``value_g1 - value_g0``;
* **ratio of sums** (rates, means, weighted means, cost per 1k, deployments per
  week): with each group's numerator ``num_g`` and denominator ``den_g`` and
  the totals ``DEN``, ``contribution_g = num_g1 / DEN_1 - num_g0 / DEN_0``. The
  numerator is the catalog's own value times the denominator, so no rule is
  written twice. Deployments per week divide by the weeks of each period (a
  constant, not a sum). Error budget remaining is an affine function of
  availability: availability's contributions times 1 / (1 - SLO);

so that the contributions of all groups (events without a team count as one
group, "(no team)") sum exactly to the change. A rate that rises because a team
with a high rate did more of the work shows up as that team's contribution:
the breakdown says who moved the number, not whose own rate changed.

**Medians and percentiles** (and distinct counts: deployment days) are not additive: no split of a median's change
sums to it. For them the rows are *largest movers*, not contributions: each
group's own shift (``value_g1 - value_g0``) weighted by its share of the
period's events (``n_g1 / N_1``), ranked by size; ``share`` is empty.

Without a previous period (``previous=None``: the period is in progress, or
there is nothing to compare with) the same breakdown is of the value itself:
each group's part of the value (additive and ratio kinds; the parts sum to the
value), or, for medians, how far each group's own value is from the overall
one, weighted by its share of the events. For a "higher is better" rate
(availability, coverage, success rates) the parts of the value are only each
group's share of the traffic, so the breakdown is of the shortfall instead:
``(den_g - num_g) / DEN``, the parts summing to 1 - value (for error budget
remaining, to 1 - its value).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from kpis import catalog, db, engine, periods, rollups
from kpis import format as fmt

ADDITIVE = "additive"
RATIO_OF_SUMS = "ratio"
MOVERS = "movers"



def no_group(dimension: str) -> str:
    """The name of the group of events without a team / service / model: '(no team)'."""
    return f"(no {dimension})"


# Counts and sums: a group's value adds up to the organisation's.
ADDITIVE_KPIS = ("deployment_count", "incident_count", "open_incidents", "inference_cost", "predictions")
# Weighted means whose weight is not the catalog's n (n counts service-days; the weight is traffic).
WEIGHTS = {
    "latency_p95_ms": "sum(p95_weight)",
    "latency_p99_ms": "sum(p99_weight)",
    "error_rate": "sum(errors_weight)",
    "availability": "sum(avail_w)",
}
# The deployments source adds weeks_in_period (elapsed weeks for the period in progress).
PER_PERIOD_CONSTANT = {"deployments_per_week": "any_value(weeks_in_period)"}


@dataclass(frozen=True)
class Drivers:
    """A KPI's breakdown by one dimension between two periods (or of one period's value)."""

    kpi: str
    dimension: str  # team | service | model
    period: str
    previous: str | None  # None: the breakdown is of the value in ``period``
    method: str  # additive | ratio | movers
    unit: str  # the KPI's unit as the engine reports it (a currency code for money)
    value: float | None  # the organisation's value in ``period``
    previous_value: float | None
    change: float | None  # value - previous_value (None without a previous period)
    rows: pd.DataFrame  # group, contribution, share, value_now, value_before, n_now, n_before; largest first
    shortfall: bool = False  # the parts are of 1 - value (a "higher is better" rate without a comparison)

    @property
    def additive(self) -> bool:
        """Whether the rows' contributions sum to the change (or to the value)."""
        return self.method != MOVERS

    @property
    def label(self) -> str:
        """What the rows are, in words: 'contribution to the change', 'largest movers', ..."""
        if self.method == MOVERS:
            return "largest movers (own shift × share of events)" if self.previous else \
                "furthest from the overall value (× share of events)"
        if self.shortfall:
            return "part of the shortfall from 100%"
        return "contribution to the change" if self.previous else "part of the value"


def kind(kpi_id: str) -> str:
    """additive, ratio (of sums) or movers: how a change of ``kpi_id`` splits over groups."""
    k = catalog.get(kpi_id)
    if k.id in ADDITIVE_KPIS:
        return ADDITIVE
    if k.ratio or k.id in WEIGHTS or k.id in PER_PERIOD_CONSTANT or k.id == "error_budget_remaining":
        return RATIO_OF_SUMS
    # Medians and distinct counts (deployment days: two teams deploying on one day make one day) are not sums
    # over groups.
    if "quantile_cont" in k.value or "count(DISTINCT" in k.value:
        return MOVERS
    return RATIO_OF_SUMS  # a mean or a proportion over its n events: the weight is n


def drivers(con: duckdb.DuckDBPyConnection, kpi: str, dimension: str, period: str, previous: str | None = None,
            *, filters: dict | None = None, tz: str = "UTC", link_window_hours: float | None = None,
            lead_time_start: str = "change_started_at", slo: float = 0.999, as_of: date | None = None,
            unit: str | None = None, span_days: int | None = None) -> Drivers:
    """``kpi``'s breakdown by ``dimension`` between ``previous`` and ``period`` (labels of one grain).

    ``previous`` None breaks down the value of ``period`` itself. ``unit`` picks
    the currency of a money KPI (default: USD, else the first in the data).
    Other arguments as in ``kpis.compute`` (``span_days``: both periods cut to
    their first days, for a period in progress against the same days before). Rows: ``group`` (``(no team)`` for
    events without one), ``contribution`` (in the KPI's unit; for movers the
    weighted shift), ``share`` (of the change or value; NaN for movers or a
    zero change), ``value_now`` / ``value_before`` (the group's own value),
    ``n_now`` / ``n_before`` (its events), largest contribution first.
    """
    k = catalog.get(kpi)
    if dimension not in engine.DIMENSIONS:
        raise ValueError(f"cannot break down by {dimension!r}; choose one of {', '.join(engine.DIMENSIONS)}")
    grain, cur_start, _ = periods.parse_label(period)
    prev_start = None
    if previous is not None:
        g2, prev_start, _ = periods.parse_label(previous)
        if g2 != grain:
            raise ValueError(f"{period} and {previous} are of different grains")
    req = engine.Request(grain=grain, by=dimension, filters=engine._normalise_filters(filters), tz=tz,
                         link_window_hours=link_window_hours, lead_time_start=lead_time_start, slo=slo, as_of=as_of,
                         span_days=span_days, rollups=rollups.current(con))
    if tz != "UTC":
        engine.check_timezone(con, tz)
    money = k.unit == catalog.CURRENCY or (k.ratio and catalog.get(k.ratio[0]).unit == catalog.CURRENCY)
    currency = (unit or _default_currency(con)) if money else None
    method = kind(kpi)
    first = prev_start or cur_start
    shortfall = previous is None and method == RATIO_OF_SUMS and k.unit == catalog.RATIO \
        and k.direction == catalog.HIGHER
    if method == MOVERS:
        sql, params = _movers_sql(k, req, first, cur_start, prev_start, currency)
    else:
        sql, params = _contribution_sql(k, req, first, cur_start, prev_start, currency, shortfall)
    rows = con.cursor().execute(sql, params).df()
    value = _num(rows["org_now"].iloc[0]) if len(rows) else None
    before = _num(rows["org_before"].iloc[0]) if len(rows) and previous is not None else None
    if not len(rows) or value is None:
        value = _org_value(con, k, req, cur_start, currency)
    if previous is not None and before is None:
        before = _org_value(con, k, req, prev_start, currency)
    change = value - before if value is not None and before is not None else None
    out = rows.drop(columns=["org_now", "org_before"])
    out["group"] = out["group"].where(out["group"].notna(), no_group(dimension))
    if previous is not None and change is None:
        out = out.iloc[0:0]  # one side has no value: nothing to attribute
    return Drivers(kpi=kpi, dimension=dimension, period=period, previous=previous, method=method,
                   unit=engine._unit(kpi, currency), value=value, previous_value=before, change=change,
                   rows=out.reset_index(drop=True), shortfall=shortfall)


def _num(x) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _default_currency(con) -> str:
    have = db.once_per_snapshot(con, ("currencies",), lambda: [r[0] for r in con.cursor().execute(
        "SELECT DISTINCT currency FROM costs WHERE currency IS NOT NULL ORDER BY 1").fetchall()])
    return "USD" if "USD" in have or not have else have[0]


def _grouped(k: catalog.KPI, value: str, n: str, req: engine.Request, first: date, last: date,
             currency: str | None) -> tuple[str, dict]:
    """The engine's grouped query over ``k``'s source with ``value`` / ``n`` as the aggregates:
    columns period_start, grp, v, n and c (the catalog's count of events); one currency for money."""
    probe = dataclasses.replace(k, id="x", value=value, n=n, ratio=None)
    events = dataclasses.replace(k, id="y", value="NULL", n=k.n, ratio=None)
    sql, params = engine._source_query(k.source, [probe, events], req, first, last)
    where = ""
    if k.source in engine.CURRENCY_SOURCES and currency is not None:
        where = " WHERE currency = $currency"
        params = {**params, "currency": currency}
    return (f'SELECT period_start::DATE AS period_start, grp, "v:x" AS v, "n:x" AS n, "n:y" AS c '
            f'FROM ({sql}){where}'), params


def _num_den(k: catalog.KPI, req: engine.Request, first: date, last: date,
             currency: str | None) -> tuple[str, dict, str, float, float]:
    """SQL yielding period_start, grp, num, den for a KPI whose value is offset + scale * sum(num) / DEN;
    how DEN adds up over groups (sum, or max for a per-period constant), the scale and the offset."""
    if k.ratio:  # cost per 1k predictions: a numerator KPI over a denominator KPI, each from its source
        num_k, den_k, scale = catalog.get(k.ratio[0]), catalog.get(k.ratio[1]), k.ratio[2]
        a, pa = _grouped(num_k, num_k.value, num_k.n, req, first, last, currency)
        b, pb = _grouped(den_k, den_k.value, den_k.n, req, first, last, None)
        sql = (f"SELECT coalesce(a.period_start, b.period_start) AS period_start, coalesce(a.grp, b.grp) AS grp, "
               f"coalesce(a.v, 0) AS num, coalesce(b.v, 0) AS den, coalesce(b.c, 0) AS c "
               f"FROM ({a}) a FULL OUTER JOIN ({b}) b "
               f"ON a.period_start = b.period_start AND a.grp IS NOT DISTINCT FROM b.grp")
        return sql, {**pa, **pb}, "sum", scale, 0.0
    if k.id == "error_budget_remaining":
        # 1 - (1 - A) / (1 - SLO) = (1 - 1 / (1 - SLO)) + A / (1 - SLO): A's contributions, scaled.
        sql, params, agg, _, _ = _num_den(catalog.get("availability"), req, first, last, currency)
        scale = 1.0 / (1.0 - req.slo)
        return sql, params, agg, scale, 1.0 - scale
    if k.id in ADDITIVE_KPIS:
        den, agg = "1", "max"
    elif k.id in PER_PERIOD_CONSTANT:
        den, agg = PER_PERIOD_CONSTANT[k.id], "max"
    else:
        den, agg = WEIGHTS.get(k.id, k.n), "sum"
    # The numerator is the catalog's value times its denominator: the rule is the catalog's, stated once.
    value = f"coalesce(({k.value}), 0) * ({den})"
    inner, params = _grouped(k, value, den, req, first, last, currency)
    return f"SELECT period_start, grp, v AS num, n AS den, c FROM ({inner})", params, agg, 1.0, 0.0


def _contribution_sql(k: catalog.KPI, req: engine.Request, first: date, cur: date, prev: date | None,
                      currency: str | None, shortfall: bool = False) -> tuple[str, dict]:
    body, params, agg, scale, offset = _num_den(k, req, first, cur, currency)
    # The parts of the shortfall (1 - value) put each group's misses over the total, (den_g - num_g) / DEN.
    g_num1 = "(coalesce(g.den1, 0) - coalesce(g.num1, 0))" if shortfall else "coalesce(g.num1, 0)"
    t_num1 = "(t.den1 - t.num1)" if shortfall else "t.num1"
    # The period's total denominator: a sum over groups, or the per-period constant (1, or the weeks).
    # Without a previous period the "before" terms are zero and the parts sum to the value (less the
    # offset, which only error budget remaining has).
    g_before = "0.0" if prev is None else "coalesce(g.num0, 0) / nullif(t.den0, 0)"
    t_before = "0.0" if prev is None else "t.num0 / nullif(t.den0, 0)"
    # A group's own value: over its own denominator, or the period's constant one (1, the weeks).
    g_den1, g_den0 = ("g.den1", "g.den0") if agg == "sum" else ("t.den1", "t.den0")
    sql = f"""
WITH nd AS ({body}),
g AS (
    SELECT grp AS "group",
           sum(num) FILTER (WHERE period_start = $cur) AS num1, sum(den) FILTER (WHERE period_start = $cur) AS den1,
           sum(num) FILTER (WHERE period_start = $prev) AS num0, sum(den) FILTER (WHERE period_start = $prev) AS den0,
           sum(c) FILTER (WHERE period_start = $cur) AS c1, sum(c) FILTER (WHERE period_start = $prev) AS c0
    FROM nd GROUP BY grp),
t AS (
    SELECT sum(num) FILTER (WHERE period_start = $cur) AS num1,
           {agg}(den) FILTER (WHERE period_start = $cur) AS den1,
           sum(num) FILTER (WHERE period_start = $prev) AS num0,
           {agg}(den) FILTER (WHERE period_start = $prev) AS den0
    FROM nd)
SELECT g."group",
       $scale * ({g_num1} / nullif(t.den1, 0) - {g_before}) AS contribution,
       ({g_num1} / nullif(t.den1, 0) - {g_before})
           / nullif({t_num1} / nullif(t.den1, 0) - {t_before}, 0) AS share,
       $offset + $scale * g.num1 / nullif({g_den1}, 0) AS value_now,
       $offset + $scale * g.num0 / nullif({g_den0}, 0) AS value_before,
       coalesce(g.c1, 0) AS n_now, coalesce(g.c0, 0) AS n_before,
       $offset + $scale * t.num1 / nullif(t.den1, 0) AS org_now,
       $offset + $scale * t.num0 / nullif(t.den0, 0) AS org_before
FROM g CROSS JOIN t
WHERE coalesce(g.num1, 0) <> 0 OR coalesce(g.num0, 0) <> 0 OR coalesce(g.den1, 0) <> 0 OR coalesce(g.den0, 0) <> 0
ORDER BY abs(contribution) DESC NULLS LAST, g."group" NULLS LAST"""
    return sql, {**params, "cur": cur, "prev": prev or date(1, 1, 1), "scale": scale, "offset": offset}


def _movers_sql(k: catalog.KPI, req: engine.Request, first: date, cur: date, prev: date | None,
                currency: str | None) -> tuple[str, dict]:
    by_group, params = _grouped(k, k.value, k.n, req, first, cur, currency)
    org_req = dataclasses.replace(req, by=None)
    overall, p2 = _grouped(k, k.value, k.n, org_req, first, cur, currency)
    # A group's own shift (against the previous period, or against the overall value when there is none),
    # weighted by its share of the period's events.
    base = "g.v0" if prev is not None else "o.v1"
    sql = f"""
WITH g AS (
    SELECT grp AS "group",
           any_value(v) FILTER (WHERE period_start = $cur) AS v1, sum(n) FILTER (WHERE period_start = $cur) AS n1,
           any_value(v) FILTER (WHERE period_start = $prev) AS v0, sum(n) FILTER (WHERE period_start = $prev) AS n0
    FROM ({by_group}) GROUP BY grp),
o AS (
    SELECT any_value(v) FILTER (WHERE period_start = $cur) AS v1, sum(n) FILTER (WHERE period_start = $cur) AS n1,
           any_value(v) FILTER (WHERE period_start = $prev) AS v0
    FROM ({overall}))
SELECT g."group",
       (g.v1 - {base}) * g.n1 / nullif(o.n1, 0) AS contribution,
       NULL::DOUBLE AS share,
       g.v1 AS value_now, g.v0 AS value_before, g.n1 AS n_now, g.n0 AS n_before,
       o.v1 AS org_now, o.v0 AS org_before
FROM g CROSS JOIN o
WHERE g.v1 IS NOT NULL AND {base} IS NOT NULL
ORDER BY abs(contribution) DESC NULLS LAST, g."group" NULLS LAST"""
    return sql, {**params, **p2, "cur": cur, "prev": prev or date(1, 1, 1)}


def _org_value(con, k: catalog.KPI, req: engine.Request, start: date, currency: str | None) -> float | None:
    """The organisation's value in the period starting at ``start`` (when no group row carries it)."""
    df = engine.compute(con, grain=req.grain, start=start, end=start, filters=dict(req.filters), kpis=[k.id],
                        tz=req.tz, link_window_hours=req.link_window_hours, lead_time_start=req.lead_time_start,
                        slo=req.slo, as_of=req.as_of, span_days=req.span_days)
    if currency is not None:
        df = df[df["unit"] == currency]
    return _num(df["value"].iloc[0]) if len(df) else None


# --- in words -------------------------------------------------------------------------------

COUNT_NOUNS = {"deployment_count": ("deployment", "deployments"), "incident_count": ("incident", "incidents"),
               "open_incidents": ("open incident", "open incidents")}
DIMENSION_WORDS = {"team": "team", "service": "service", "model": "model"}


def _amount(d: Drivers, x: float, signed: bool = True) -> str:
    if d.unit == catalog.RATIO and abs(x) < 0.01:
        # Parts of a small change: two decimals of a point, so three "+0.1 pp" never add up to "+0.02 pp".
        text = f"{x * 100:+.2f} pp" if signed else f"{x * 100:.2f}%"
    else:
        text = fmt.fmt_delta(x, d.unit) if signed else fmt.fmt_value(x, d.unit)
    nouns = COUNT_NOUNS.get(d.kpi)
    return f"{text} {nouns[abs(x) != 1]}" if nouns else text


def _name(d: Drivers, group: str) -> str:
    return f"events without a {d.dimension}" if group == no_group(d.dimension) else str(group)


def top_drivers(d: Drivers, top: int = 3, min_share: float = 0.1) -> pd.DataFrame:
    """The rows that explain most of it: groups pushing the same way as the change (or the value), largest
    first, up to ``top``, leaving out those under ``min_share`` of it after the first. Medians: the
    largest movers. A change of zero: the largest moves either way (they offset each other)."""
    rows = d.rows[d.rows["contribution"].notna() & d.rows["contribution"].ne(0)]
    if rows.empty:
        return rows
    if d.method == MOVERS:
        if d.change:  # the groups that moved the way the median did
            rows = rows[(rows["contribution"] > 0) == (d.change > 0)]
    elif rows["share"].notna().any():  # pushing the same way as the whole, and a part of it worth naming
        rows = rows[rows["share"] > 0]
        keep = rows["share"] >= min_share
        keep.iloc[:1] = True
        rows = rows[keep]
    return rows.head(top)


def describe(d: Drivers, top: int = 3) -> str:
    """The drivers in words: 'Driven by team: fraud (+4 incidents), search (+2 incidents)'; '' when none.

    Every form reads '<what> by <dimension>: <group> (<amount>), ...'; events without a group are
    'events without a team'."""
    rows = top_drivers(d, top)
    if rows.empty:
        return ""
    dim = DIMENSION_WORDS[d.dimension]
    if d.method == MOVERS:
        if d.previous is not None:
            parts = [f"{_name(d, g)} ({fmt.fmt_value(before, d.unit)} → {fmt.fmt_value(now, d.unit)})"
                     for g, now, before in zip(rows["group"], rows["value_now"], rows["value_before"])]
            return f"Largest movers by {dim}: {', '.join(parts)}"
        parts = [f"{_name(d, g)} ({fmt.fmt_value(now, d.unit)})" for g, now in zip(rows["group"], rows["value_now"])]
        return f"Furthest from the overall {fmt.fmt_value(d.value, d.unit)} by {dim}: {', '.join(parts)}"
    parts = [f"{_name(d, g)} ({_amount(d, c, signed=d.previous is not None)})"
             for g, c in zip(rows["group"], rows["contribution"])]
    if d.previous is None:
        if d.shortfall:
            return f"Largest parts of the shortfall from 100% by {dim}: {', '.join(parts)}"
        return f"Largest parts by {dim}: {', '.join(parts)}"
    if not d.change:
        return f"Unchanged overall; offsetting moves by {dim}: {', '.join(parts)}"
    text = f"Driven by {dim}: {', '.join(parts)}"
    against = d.rows[d.rows["share"] < 0]
    if len(against) and against["contribution"].sum() / d.change <= -0.5:
        # The named groups moved it more than it moved: say what held it back.
        held = ", ".join(f"{_name(d, g)} ({_amount(d, c)})"
                         for g, c in zip(against["group"][:2], against["contribution"][:2]))
        text += f"; partly offset by {held}"
    return text
