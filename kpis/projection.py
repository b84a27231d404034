"""Where the period in progress is heading, and whether its target can still be met.

For the period in progress on ``as_of`` (``kpis.periods``: "to date: 15 of 30
days"), ``project(line)`` takes its KPI line (``kpis.lines``, with the target's
green bounds) and says:

* **Counts and sums** (deployments, incidents, inference cost, predictions):
  the value so far scaled by elapsed time, ``value × days in the period ÷ days
  elapsed``: 6 deployments in the first 15 of 30 days project to 12.
  Open incidents are a level at a moment, not a flow: not scaled.
* **Rates** (a share of n events: change failure rate, success rates): the
  pace so far is the projection, with the 95% Wilson interval of the k of n
  events so far (``kpis.lines.wilson_interval``): 1 failed of 3 deployments is
  33.3%, and anything from 6.1% to 79.2% is compatible with it.
* **Medians and percentiles** (time to recover, lead time p90, ...): the value
  so far, with the distribution-free 95% interval of the events so far: the
  order statistics ``x_(l) .. x_(u)`` that cover the quantile with probability
  at least 95% (``order_ranks``; for a median of 3 values no such pair exists:
  it is the whole range, min to max, which covers it with probability 75%),
  computed in SQL over the KPI's own events (``quantile_interval``).
* **Means and other ratios** (mean time to recover, cost per 1k predictions): the
  value so far, with its n; no interval is computed for them.

Whether the target is **still reachable**, against the period's green bounds
(the target as evaluated for this period: a "per month" count already scaled
to it):

* a count or sum with an upper bound that it has already passed cannot come
  back ("not reachable"); one heading over it is "reachable if the pace slows"
  (the most it may add in the remaining days); one with a lower bound it is
  not on pace for needs so many more in the remaining days (per day, against
  the pace so far);
* a rate: with the period's events projected like a count (``n × days ÷ days
  elapsed``), the best case is that none of the remaining events fails (or all
  of them succeed, for a rate where higher is better); when even that misses
  the bound, the target is "not reachable at the current volume";
* other KPIs: "on pace" or "off pace" by the value so far (a median can still
  move either way).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from datetime import date

import duckdb

from kpis import catalog, drivers, engine, periods
from kpis import format as fmt
from kpis.lines import Z95, KpiLine, is_proportion, wilson_interval

SCALED = "scaled"  # counts and sums: value × days ÷ days elapsed
PACE = "pace"  # rates: the pace so far, with its interval
SO_FAR = "so far"  # medians, means, ratios: the value so far
LEVELS = ("open_incidents",)  # a level at a moment, not a flow over the period (so is the coverage family)

ON_PACE, REACHABLE, NOT_REACHABLE, OFF_PACE = "on pace", "reachable", "not reachable", "off pace"


@dataclass(frozen=True)
class Projection:
    """Where one KPI of the period in progress is heading."""

    kpi: str
    period: str
    unit: str
    elapsed_days: int
    total_days: int
    to_date: float
    projected: float
    method: str  # scaled | pace | so far
    n: int
    interval: tuple[float, float] | None  # 95% interval: Wilson for a rate's k of n, order statistics for a median
    reach: str  # on pace | reachable | not reachable | off pace | "" (no target)
    reach_text: str  # why, in words ("", without a target)
    coverage: float | None = None  # a quantile interval's exact coverage when n is too small to reach 95%

    @property
    def remaining_days(self) -> int:
        return self.total_days - self.elapsed_days

    @property
    def projected_text(self) -> str:
        return fmt.fmt_value(self.projected, self.unit, self.kpi)

    @property
    def interval_text(self) -> str:
        if self.interval is None:
            return ""
        lo, hi = self.interval
        level = "95%" if self.coverage is None or self.coverage >= 0.95 else f"{self.coverage:.0%}"
        return f"{level} interval {fmt.fmt_value(lo, self.unit, self.kpi)}–{fmt.fmt_value(hi, self.unit, self.kpi)}"

    @property
    def label(self) -> str:
        """'2026-11 (20 of 30 days)'."""
        return f"{self.period} ({self.elapsed_days} of {self.total_days} days)"

    @property
    def heading_text(self) -> str:
        """'projected 12 by the end of 2026-11', 'pace 33.3% (1 of 3 · 95% interval 6.1%–79.2%)'."""
        if self.method == SCALED:
            return f"projected {self.projected_text} by the end of {self.period}"
        if self.method == PACE:
            k = round(self.to_date * self.n)
            return f"pace so far {self.projected_text} ({k} of {self.n} · {self.interval_text})"
        if self.interval is not None:
            return f"so far {self.projected_text} (n = {self.n} · {self.interval_text})"
        return f"so far {self.projected_text} (n = {self.n})"

    @property
    def text(self) -> str:
        """The whole sentence: heading, then whether the target is reachable."""
        return f"{self.heading_text}; {self.reach_text}" if self.reach_text else self.heading_text


def _bound(x) -> float | None:
    return None if fmt.is_missing(x) else float(x)


def project(line: KpiLine, as_of: date | None, target=None,
            quantile: tuple[float, float, float] | None = None) -> Projection | None:
    """The projection of ``line`` (a KPI of the period in progress on ``as_of``), or None when its period is not
    in progress, it has no value, or it is a level (open incidents, coverage).

    ``target`` is the profile's ``kpis.targets.Target`` for the KPI: a total (a count, a cost) is not judged
    until its period is over, so its line carries no bounds; the target's bounds for the whole period are then
    taken from judging the projected value (``kpis.targets.judge``). ``quantile`` is a median's or
    percentile's (low, high, coverage) from :func:`quantile_interval`."""
    grain, start, _ = periods.parse_label(line.period)
    if not periods.is_partial(start, grain, as_of) or line.value is None or line.kpi in LEVELS \
            or line.family == "coverage":
        return None
    elapsed, total = periods.elapsed_days(start, grain, as_of), periods.days_in(start, grain)
    v = line.value
    interval = None
    if drivers.kind(line.kpi) == drivers.ADDITIVE:
        method, projected = SCALED, v * total / elapsed
    elif is_proportion(line.kpi) and line.n > 0:
        method, projected = PACE, v
        interval = wilson_interval(round(v * line.n), line.n)
    else:
        method, projected = SO_FAR, v
    coverage = None
    if method == SO_FAR and quantile is not None:
        interval, coverage = (quantile[0], quantile[1]), (quantile[2] if quantile[2] < 0.95 else None)
    p = Projection(kpi=line.kpi, period=line.period, unit=line.unit, elapsed_days=elapsed, total_days=total,
                   to_date=v, projected=projected, method=method, n=line.n, interval=interval, coverage=coverage,
                   reach="", reach_text="")
    low, high = _bound(line.green_low), _bound(line.green_high)
    if low is None and high is None and _judged_whole(target):
        from kpis import targets

        verdict = targets.judge(target, projected, period=line.period, unit=line.unit)
        low, high = _bound(verdict.green_low), _bound(verdict.green_high)
    elif line.status == "none":
        return p
    if (low is None and high is None) or line.scope:
        return p  # no target, or one judged on a scoped value (sev1 incidents, per team) the line does not project
    reach, why = _reach(p, low, high)
    return Projection(**{**p.__dict__, "reach": reach, "reach_text": why})


def _judged_whole(target) -> bool:
    """A target on the KPI's own value for the whole period (not a trend, a cluster, a scope or per team)."""
    return (target is not None and target.form in ("band", "threshold", "range") and not target.filters
            and not target.per)


def _v(p: Projection, x: float) -> str:
    return fmt.fmt_value(x, p.unit, p.kpi)


def _reach(p: Projection, low: float | None, high: float | None) -> tuple[str, str]:
    left = p.remaining_days
    target = (f"{_v(p, low)}–{_v(p, high)}" if low is not None and high is not None
              else f"at most {_v(p, high)}" if high is not None else f"at least {_v(p, low)}")
    if p.method == SCALED:
        if high is not None and p.to_date > high:
            return NOT_REACHABLE, (f"target not reachable: already {_v(p, p.to_date)} against {target} "
                                   f"with {left} days to go")
        if low is not None and p.projected < low:
            need = low - p.to_date
            return REACHABLE, (f"reachable: needs {_v(p, need)} more in the {left} remaining days "
                               f"({_rate(p, need / left)} a day against {_rate(p, p.to_date / p.elapsed_days)} "
                               "so far)") if left else (OFF_PACE, f"off target ({target})")
        if high is not None and p.projected > high:
            room = high - p.to_date
            return REACHABLE, (f"reachable if the pace slows: at most {_v(p, room)} more in the {left} remaining "
                               f"days ({_rate(p, room / left)} a day against "
                               f"{_rate(p, p.to_date / p.elapsed_days)} so far)")
        return ON_PACE, f"on pace for the target ({target})"
    if p.method == PACE:
        n, hits = p.n, round(p.to_date * p.n)
        expected = max(n, math.ceil(n * p.total_days / p.elapsed_days))  # the period's events at this volume
        more = expected - n
        if high is not None:  # lower is better: at best none of the remaining events counts
            best = hits / expected
            if best > high:
                return NOT_REACHABLE, (f"target not reachable at the current volume: even if none of the ~{more} "
                                       f"remaining events counted, it would end at {_v(p, best)} against {target}")
        if low is not None:  # higher is better: at best all of them count
            best = (hits + more) / expected
            if best < low:
                return NOT_REACHABLE, (f"target not reachable at the current volume: even if all of the ~{more} "
                                       f"remaining events counted, it would end at {_v(p, best)} against {target}")
    inside = (low is None or p.projected >= low) and (high is None or p.projected <= high)
    if inside:
        return ON_PACE, f"on pace for the target ({target})"
    if p.method == PACE:
        return REACHABLE, f"off pace but reachable ({target}) with ~{more} events to come"
    if p.interval is not None and ((high is not None and p.interval[0] > high)
                                   or (low is not None and p.interval[1] < low)):
        return OFF_PACE, f"off pace ({target}): the whole interval of the events so far misses it"
    return OFF_PACE, f"off pace ({target}); the value can still move either way"


def _rate(p: Projection, per_day: float) -> str:
    return fmt.fmt_value(per_day, p.unit, None) if p.unit != catalog.COUNT else f"{per_day:,.1f}"


def quarter_of(period: str) -> str | None:
    """The quarter holding a month or week label (None for a quarter itself)."""
    grain, start, _ = periods.parse_label(period)
    if grain == "quarter":
        return None
    return periods.label(periods.period_start(start, "quarter"), "quarter")


# --- the interval of a median or percentile -------------------------------------------------------

_QUANTILE = re.compile(r"^quantile_cont\((?P<x>.+), (?P<q>0\.\d+)\)(?P<rest>(?: FILTER \(WHERE .+\))?)$", re.S)
EXACT_UP_TO = 1000  # events; above it the binomial's normal approximation picks the ranks


def is_quantile(kpi_id: str) -> bool:
    """A median or percentile (``quantile_cont(x, q)`` in the catalog, optionally filtered)."""
    return _QUANTILE.match(catalog.get(kpi_id).value) is not None


def _binom_cdf(k: int, n: int, q: float) -> float:
    """P(B <= k) for B ~ Binomial(n, q)."""
    return sum(math.comb(n, i) * q ** i * (1 - q) ** (n - i) for i in range(0, k + 1))


def order_ranks(n: int, q: float, level: float = 0.95) -> tuple[int, int, float]:
    """(l, u, coverage): 1-based ranks of the order statistics x_(l) <= x_(u) of n values that cover the
    q-quantile with probability >= ``level`` whatever the distribution (P(x_(l) <= quantile <= x_(u)) =
    P(l <= B < u), B ~ Binomial(n, q)). When n is too small for that, (1, n) and their smaller coverage:
    a median of 3 values is covered by their range with probability 1 - 2 x 0.5^3 = 75%."""
    if n < 1:
        raise ValueError("an interval needs at least one value")
    alpha = (1 - level) / 2
    if n > EXACT_UP_TO:
        half = Z95 * math.sqrt(n * q * (1 - q))
        return max(1, math.floor(n * q - half)), min(n, math.ceil(n * q + half + 1)), level
    lo = 1
    for j in range(2, n + 1):  # the largest l with P(B <= l - 1) <= alpha
        if _binom_cdf(j - 1, n, q) > alpha:
            break
        lo = j
    hi = n
    for j in range(n - 1, 0, -1):  # the smallest u with P(B <= u - 1) >= 1 - alpha
        if _binom_cdf(j - 1, n, q) < 1 - alpha:
            break
        hi = j
    return lo, hi, _binom_cdf(hi - 1, n, q) - _binom_cdf(lo - 1, n, q)


def quantile_interval(con: duckdb.DuckDBPyConnection, kpi: str, period: str, *, filters: dict | None = None,
                      tz: str = "UTC", lead_time_start: str = "change_started_at",
                      as_of: date | None = None) -> tuple[float, float, float] | None:
    """(low, high, coverage) of a median or percentile KPI in ``period``: its order statistics that cover
    the quantile (:func:`order_ranks`), read in SQL over the KPI's own events (the engine's source query,
    so filters, time zone and the period in progress mean what they mean in ``kpis.compute``); None for
    another KPI or without events."""
    k = catalog.get(kpi)
    m = _QUANTILE.match(k.value)
    if m is None:
        return None
    grain, start, _ = periods.parse_label(period)
    req = engine.Request(grain=grain, filters=engine._normalise_filters(filters), tz=tz,
                         lead_time_start=lead_time_start, as_of=as_of)
    x, q, rest = m["x"], float(m["q"]), m["rest"]  # from the catalog: the rule is the KPI's own

    def one_row(probes: list[catalog.KPI], extra: dict | None = None):
        sql, params = engine._source_query(k.source, probes, req, start, start)
        cols = ", ".join(f'"v:{p.id}"' for p in probes)
        rows = con.cursor().execute(f"SELECT {cols} FROM ({sql}) WHERE period_start::DATE = $p_start",
                                    {**params, **(extra or {}), "p_start": start}).fetchall()
        return rows[0] if rows else None

    row = one_row([dataclasses.replace(k, id="count", value=f"count({x}){rest}", ratio=None)])
    n = int(row[0] or 0) if row else 0
    if n == 0:
        return None
    lo_rank, hi_rank, coverage = order_ranks(n, q)
    probes = [dataclasses.replace(k, id=name, value=f"list_sort(list({x}){rest})[${name}]", ratio=None)
              for name in ("rank_lo", "rank_hi")]
    lo, hi = one_row(probes, {"rank_lo": lo_rank, "rank_hi": hi_rank})
    return float(lo), float(hi), coverage
