"""The scorecard's triage of one period, outside the app: what ``python -m kpis check`` reports.

The Scorecard page, the review pack and the check build their KPI lines the
same way (``kpis.lines`` over ``kpis.targets.compute_with_targets`` of the
period and the eleven before it; the period in progress compared with the same
elapsed days of the previous one) and say what drives an off-target KPI the
same way (:class:`Explainer`: the page passes its cached query, the check a
direct ``kpis.drivers`` call).

On top of the page, :func:`build` marks the **new breaches** (off target now,
not off target in the previous period) and, for the period in progress and its
quarter, where each KPI is heading (``kpis.projection``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import pandas as pd

from kpis import drivers, engine, lines, periods, projection
from kpis.lines import KpiLine

SCORECARD_PERIODS = 12  # the chosen period and the eleven before it (the sparkline's window)
DIMENSIONS = engine.DIMENSIONS


def scope_key(filters: dict | None, tz: str = "UTC") -> str:
    """Canonical text of the filters (and a non-UTC time zone): 'all', 'team=fraud,search' (the review
    commentary's and the notifications' key)."""
    parts = [f"{k}={','.join(sorted(set(v)))}" for k, v in engine._normalise_filters(filters)]
    if tz and tz != "UTC":
        parts.append(f"tz={tz}")
    return ";".join(parts) or "all"


def primary_dimension(filters: dict | None) -> str:
    """Team, unless the view is one team already: then its services."""
    teams = (filters or {}).get("team") or []
    return "service" if len(teams) == 1 else "team"


@dataclass
class Explainer:
    """What drives a KPI line, as the scorecard says it.

    ``fetch(**kwargs)`` returns ``kpis.drivers.drivers(con, **kwargs)`` (or None
    when it could not be read): the app passes its cached query, the check the
    function itself.
    """

    fetch: Callable[..., drivers.Drivers | None]
    period: str
    filters: dict
    tz: str = "UTC"
    lead_time_start: str = "change_started_at"
    as_of: date | None = None
    span: int | None = None  # the days elapsed of the period in progress (compared over equal spans)

    def breakdown_args(self, line: KpiLine, dimension: str) -> dict:
        """``fetch``'s arguments for the KPI's drivers by ``dimension`` (``breakdown``'s first ask; the app
        starts it ahead)."""
        return dict(kpi=line.kpi, dimension=dimension, period=self.period, filters=self.filters, tz=self.tz,
                    lead_time_start=self.lead_time_start, as_of=self.as_of, unit=line.unit,
                    span_days=self.span if line.compared else None,
                    previous=line.previous_period if line.compared else None)

    def breakdown(self, line: KpiLine, dimension: str) -> drivers.Drivers | None:
        """The KPI's drivers by ``dimension``: against the previous period when compared, else of the value."""
        args = self.breakdown_args(line, dimension)
        d = self.fetch(**args)
        if d is not None and line.compared and not drivers.describe(d):
            d = self.fetch(**{**args, "previous": None})  # nothing moved: what makes up the value
        return d

    def named_breakdown(self, line: KpiLine) -> tuple[str, drivers.Drivers | None]:
        """(dimension, drivers) for the sentence: the primary dimension, or the next one (service, model)
        when the primary's largest driver is the events without one (pipeline runs often name no service)."""
        first = primary_dimension(self.filters)
        candidates = [first] + [d_ for d_ in ("service", "model") if d_ != first]
        chosen = None
        for dimension in candidates:
            d = self.breakdown(line, dimension)
            top = drivers.top_drivers(d) if d is not None else None
            if chosen is None:
                chosen = (dimension, d)
            if top is not None and len(top) and top["group"].iloc[0] != drivers.no_group(dimension):
                return dimension, d
        return chosen

    def level_args(self, line: KpiLine, dimension: str) -> dict | None:
        """``fetch``'s arguments for who makes up the value of a KPI off target but not worse than before
        (None for any other line)."""
        if not (line.status == "red" and line.compared and line.judgement != "worse"):
            return None
        return dict(kpi=line.kpi, dimension=dimension, period=self.period, previous=None, filters=self.filters,
                    tz=self.tz, lead_time_start=self.lead_time_start, as_of=self.as_of, unit=line.unit)

    def level_text(self, line: KpiLine, dimension: str) -> str:
        """Off target but not worse than before: who makes up the value (or, for a rate that should be high,
        its shortfall), since who moved it explains the change, not the miss. '' otherwise."""
        args = self.level_args(line, dimension)
        level = self.fetch(**args) if args is not None else None
        return drivers.describe(level) if level is not None else ""

    def explain(self, line: KpiLine) -> str:
        """The scorecard's sentences for an off- or near-target line: its drivers, then its level's."""
        if not line.has_value:
            return ""
        dim, d = self.named_breakdown(line)
        text = drivers.describe(d) if d is not None else ""
        parts = [text + "." if text else f"No group stands out: {line.change_line}."]
        level = self.level_text(line, dim)
        if level:
            parts.append(level + ".")
        return " ".join(parts)


@dataclass(frozen=True)
class Triage:
    """One period's triage: every KPI line in triage order, off-target ones with their drivers."""

    period: str
    grain: str
    previous_period: str
    period_text: str  # '2026-11 (to date: 20 of 30 days)' in progress, else the label
    profile: str | None
    profile_title: str
    filters: dict
    tz: str
    as_of: date | None
    lines: tuple[KpiLine, ...]
    previous_status: dict = field(default_factory=dict)  # kpi -> its status in the previous period
    heading: tuple[KpiLine, ...] = ()  # the period in progress's lines with their projections (judged KPIs)
    heading_period: str = ""  # '2026-11 (to date: 20 of 30 days)', or '' when no period is in progress

    @property
    def judged(self) -> tuple[KpiLine, ...]:
        return tuple(line for line in self.lines if line.status in ("red", "amber", "green"))

    @property
    def off_target(self) -> tuple[KpiLine, ...]:
        return tuple(line for line in self.lines if line.status == "red")

    def is_new_breach(self, line: KpiLine) -> bool:
        """Off target now and not off target in the previous period (including not judged then)."""
        return line.status == "red" and self.previous_status.get(line.kpi) != "red"

    @property
    def new_breaches(self) -> tuple[KpiLine, ...]:
        return tuple(line for line in self.off_target if self.is_new_breach(line))

    @property
    def summary(self) -> str:
        return lines.summary(self.lines)

    @property
    def filters_text(self) -> str:
        parts = [f"{k}: {', '.join(v)}" for k, v in self.filters.items() if v]
        return "; ".join(parts) if parts else "all teams, services and models"


def _compute(con, prof, **kw) -> pd.DataFrame:
    from kpis import targets

    if prof is not None:
        return targets.compute_with_targets(con, prof, **kw)
    return engine.compute(con, lead_time_start="change_started_at", **kw)


def period_lines(con: duckdb.DuckDBPyConnection, prof, period: str, *, filters: dict, tz: str,
                 as_of: date | None) -> tuple[list[KpiLine], pd.DataFrame]:
    """The KpiLines of ``period`` (catalog order) as the scorecard builds them, and the compute frame (the
    period and the eleven before it, with the profile's target columns)."""
    grain, p_start, p_end = periods.parse_label(period)
    first = periods.shift(p_start, grain, -(SCORECARD_PERIODS - 1))
    args = dict(grain=grain, start=first, end=p_end - timedelta(days=1), filters=filters, tz=tz, as_of=as_of)
    frame = _compute(con, prof, **args)
    span = lines.span_days(period, as_of)
    span_frame = None
    if span is not None:
        span_frame = _compute(con, None, **{**args, "start": periods.shift(p_start, grain, -1), "span_days": span,
                                            **({"slo": prof.slo} if prof is not None and prof.slo else {})})
    previous = periods.label(periods.shift(p_start, grain, -1), grain)
    return lines.build_lines(frame, periods.label(p_start, grain), previous, as_of=as_of,
                             span_rows=span_frame), frame


def heading_lines(con: duckdb.DuckDBPyConnection, prof, grain: str, *, filters: dict, tz: str,
                  as_of: date | None, current: list[KpiLine] | None = None) -> tuple[str, list[KpiLine]]:
    """(period text, lines) of the period of ``grain`` in progress on ``as_of``, each with its projection and,
    for a month or week, its quarter's; ('', []) when no period is in progress. ``current``: that period's
    lines when they are built already."""
    if as_of is None:
        return "", []
    start = periods.period_start(as_of, grain)
    if not periods.is_partial(start, grain, as_of):
        return "", []
    label = periods.label(start, grain)
    if current is None:
        current, _ = period_lines(con, prof, label, filters=filters, tz=tz, as_of=as_of)
    quarters = {}
    q = projection.quarter_of(label)
    if q is not None and periods.is_partial(periods.parse_label(q)[1], "quarter", as_of):
        q_lines, _ = period_lines(con, prof, q, filters=filters, tz=tz, as_of=as_of)
        quarters = {line.kpi: line for line in q_lines}
    lead_time_start = prof.lead_time_start if prof is not None else "change_started_at"
    quantiles = {(kpi, p): projection.quantile_interval(con, kpi, p, filters=filters, tz=tz,
                                                        lead_time_start=lead_time_start, as_of=as_of)
                 for kpi, p in quantile_requests(current, quarters, as_of)}
    return periods.to_date_label(start, grain, as_of), attach_projections(current, as_of, quarters, prof, quantiles)


def quantile_requests(period_lines_: list[KpiLine], quarter_lines: dict[str, KpiLine] | None,
                      as_of: date | None) -> list[tuple[str, str]]:
    """(kpi, period) of every median or percentile with a value in a period in progress: the intervals
    :func:`attach_projections` wants (``kpis.projection.quantile_interval``)."""
    every = list(period_lines_) + list((quarter_lines or {}).values())
    out = []
    for line in every:
        grain, start, _ = periods.parse_label(line.period)
        if line.has_value and projection.is_quantile(line.kpi) and periods.is_partial(start, grain, as_of):
            out.append((line.kpi, line.period))
    return out


def attach_projections(period_lines_: list[KpiLine], as_of: date | None,
                       quarter_lines: dict[str, KpiLine] | None = None, profile=None,
                       quantiles: dict | None = None) -> list[KpiLine]:
    """Each line with the projection of its period in progress, and of its quarter's line when given;
    ``profile`` (a ``kpis.targets.Profile``) judges the projected totals; ``quantiles`` maps (kpi, period)
    to a median's interval (``kpis.projection.quantile_interval``)."""
    quarter_lines = quarter_lines or {}
    quantiles = quantiles or {}
    out = []
    for line in period_lines_:
        q = quarter_lines.get(line.kpi)
        target = profile.target_for(line.kpi) if profile is not None else None
        out.append(lines.with_projections(line, (
            projection.project(line, as_of, target, quantiles.get((line.kpi, line.period))),
            projection.project(q, as_of, target, quantiles.get((q.kpi, q.period))) if q is not None else None)))
    return out


def build(con: duckdb.DuckDBPyConnection, period: str | None = None, *, profile=None, grain: str = "month",
          filters: dict | None = None, tz: str = "UTC", as_of: date | None = None) -> Triage:
    """The triage of ``period`` (default: the last complete period of ``grain`` on ``as_of``).

    ``profile`` is a ``kpis.targets.Profile``, a profile name or path, or None.
    ``as_of`` defaults to the data's last day (``kpis.engine.through_date``).
    Raises ValueError for an unreadable period or an empty database.
    """
    from kpis import targets

    prof = targets.load_profile(profile) if isinstance(profile, str) else profile
    if tz != "UTC":
        engine.check_timezone(con, tz)
    filters = {k: list(v) for k, v in engine._normalise_filters(filters)}
    as_of = as_of or engine.through_date(con, tz)
    if as_of is None:
        raise ValueError("the database holds no data yet: ingest your exports (or the sample data) first")
    if period in (None, "last-complete"):
        period = periods.label(periods.last_complete(periods.check_grain(grain), as_of), grain)
    grain, p_start, _ = periods.parse_label(period)
    label = periods.label(p_start, grain)
    current, frame = period_lines(con, prof, label, filters=filters, tz=tz, as_of=as_of)
    previous = periods.label(periods.shift(p_start, grain, -1), grain)
    before = periods.label(periods.shift(p_start, grain, -2), grain)
    previous_status = {line.kpi: line.status for line in lines.build_lines(frame, previous, before, as_of=as_of)}
    lead_time_start = prof.lead_time_start if prof is not None else "change_started_at"
    explainer = Explainer(lambda **kw: drivers.drivers(con, **kw), period=label, filters=filters, tz=tz,
                          lead_time_start=lead_time_start, as_of=as_of, span=lines.span_days(label, as_of))
    explained = [lines.with_drivers(line, explainer.explain(line)) if line.status in ("red", "amber") else line
                 for line in current]
    heading_text, heading = heading_lines(con, prof, grain, filters=filters, tz=tz, as_of=as_of,
                                          current=current if periods.is_partial(p_start, grain, as_of) else None)
    if heading_text and heading and heading[0].period == label:
        by_kpi = {line.kpi: line for line in heading}
        explained = [lines.with_projections(line, by_kpi[line.kpi].projections) if line.kpi in by_kpi else line
                     for line in explained]
    return Triage(period=label, grain=grain, previous_period=previous,
                  period_text=periods.to_date_label(p_start, grain, as_of),
                  profile=prof.label if prof is not None else None, profile_title=prof.title if prof else "",
                  filters=filters, tz=tz, as_of=as_of, lines=tuple(lines.triage(explained)),
                  previous_status=previous_status,
                  heading=tuple(line for line in heading if line.status in ("red", "amber", "green")
                                or any(p.reach for p in line.projections)),
                  heading_period=heading_text)
