"""The review model: one operational review, computed once, rendered by every exporter.

``build_review(con, period="2026-Q3", profile="lead", filters={"team": [...]})``
asks the engine for every KPI over the period and up to twelve periods before
it (``kpis.targets.compute_with_targets``, the call the app's scorecard makes,
so the numbers are the app's), judges them against the profile, reads the
period's notable events from ``kpis.details`` and lays it all out as sections:

* ``scorecard``: every KPI of the families that have data, with target, status
  and the change against the previous period, in the app's triage order
  (``kpis.lines``: off target first, furthest first, each with its drivers);
* ``delivery``, ``reliability``, ``cost`` (always) and ``serving``,
  ``pipelines``, ``coverage`` (only when they have data in the window): their
  KPIs and their trend charts, built with ``kpis.charts`` so they look like the app;
* ``events``: the worst incidents, the failed deployments with their reasons and
  incidents, the training-cost outlier runs and the services whose cost per 1k
  predictions changed most.

Every value is formatted here with ``kpis.format``, so the HTML, the PDF, the
slides and the Review page read alike; the exporters only lay the model out.
Nothing here imports streamlit.
"""

from __future__ import annotations

import dataclasses
import html
import math
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import plotly.graph_objects as go

from kpis import annotations, catalog, charts, details, dora, drivers, engine, lines, periods
from kpis import format as fmt
from kpis.lines import KpiLine
from kpis.triage import scope_key  # noqa: F401  (review.scope_key: the commentary's key)

GRAINS = ("month", "quarter")
TREND_PERIODS = 12  # earlier periods in the trends (a year of months; three years of quarters)
SCORECARD_PERIODS = 12  # the app's scorecard window (the chosen period and the 11 before it)
NO_PROFILE = "(none)"

FAMILY_TITLES = catalog.FAMILY_TITLES
CORE_FAMILIES = ("delivery", "reliability", "cost")
OPTIONAL_FAMILIES = ("serving", "pipelines", "coverage")
FAMILY_SUBTITLES = {
    "delivery": "How often and how safely changes reach production",
    "reliability": "ML incidents: how many, how fast they are detected and recovered",
    "cost": "What serving and training cost, per prediction and per run",
    "serving": "Latency, errors and availability of the prediction services",
    "pipelines": "Training, feature and CI pipelines: success, freshness, duration",
    "coverage": "Share of production models monitored, drift-checked and documented",
}

STATUS_WORDS = lines.STATUS_WORDS
STATUS_COLOURS = charts.STATUS_COLOURS
SEVERITY_ORDER = ("sev1", "sev2", "sev3", "sev4", "sev5")
EVENT_ROWS = 6  # rows per notable-events table (the rest is counted in its note)


class ReviewError(ValueError):
    """A review that cannot be built as asked (bad period, no data); the message says why."""


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Chart:
    """A plotly figure built by ``kpis.charts`` (as the app draws it)."""

    id: str
    title: str
    figure: go.Figure
    caption: str = ""  # what the chart draws of its data when not every point is drawn


@dataclass(frozen=True, eq=False)
class Table:
    """A small table of display strings (already formatted)."""

    id: str
    title: str
    frame: pd.DataFrame
    empty: str  # shown instead when the frame has no rows
    note: str = ""  # a caption: what the rows are, how many more there were


@dataclass(frozen=True, eq=False)
class Section:
    """One screen / page / slide of the review."""

    id: str  # scorecard | delivery | reliability | cost | serving | pipelines | coverage | events | annotations
    title: str
    subtitle: str
    kpis: tuple[KpiLine, ...] = ()
    charts: tuple[Chart, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()  # empty-state sentences and remarks
    commentary: str = ""  # the presenter's text (saved in the database)


@dataclass(frozen=True, eq=False)
class Review:
    """An operational review of one month or quarter: what every exporter renders."""

    period: str  # 2026-10 or 2026-Q3
    grain: str  # month | quarter
    period_start: date
    period_end: date  # exclusive
    previous_period: str
    window: str  # the periods the trends show: "2025-10 – 2026-10"
    profile: str | None  # the profile name (None: no targets)
    profile_title: str  # "Lead ML Engineer (role document, section 7)"
    profile_source: str
    filters: dict  # team / service / model -> values ({} = everything)
    tz: str
    scope: str  # canonical text of filters and time zone: the commentary's key
    generated_at: datetime  # UTC, naive
    data_first: date | None
    data_last: date | None
    sections: tuple[Section, ...]
    left_out: tuple[str, ...] = ()  # families without data in the window (titles)

    @property
    def title(self) -> str:
        kind = "Quarterly" if self.grain == "quarter" else "Monthly"
        return f"{kind} operational review · {self.period}"

    @property
    def period_text(self) -> str:
        """'2026-07-01 to 2026-09-30'."""
        return f"{self.period_start:%Y-%m-%d} to {self.period_end - timedelta(days=1):%Y-%m-%d}"

    @property
    def filters_text(self) -> str:
        parts = [f"{k}: {', '.join(v)}" for k, v in self.filters.items() if v]
        return "; ".join(parts) if parts else "all teams, services and models"

    @property
    def profile_text(self) -> str:
        if not self.profile:
            return "no target profile"
        return f"{self.profile} — {self.profile_title}" if self.profile_title else self.profile

    @property
    def data_text(self) -> str:
        if self.data_first is None:
            return "no data loaded"
        return f"data from {self.data_first:%Y-%m-%d} to {self.data_last:%Y-%m-%d}"

    @property
    def subtitle_lines(self) -> tuple[str, ...]:
        """The cover's lines: period, scope, targets, data, when generated."""
        tz = "" if self.tz == "UTC" else f" · time zone {self.tz}"
        return (f"{self.period_text}{tz}",
                f"Scope: {self.filters_text}",
                f"Targets: {self.profile_text}",
                f"Trends: {self.window} · {self.data_text}",
                f"Generated {self.generated_at:%Y-%m-%d %H:%M} UTC")

    @property
    def left_out_text(self) -> str:
        if not self.left_out:
            return ""
        names = " and ".join([", ".join(self.left_out[:-1]), self.left_out[-1]] if len(self.left_out) > 1
                             else list(self.left_out))
        return (f"{names} {'are' if len(self.left_out) > 1 else 'is'} left out: no data for "
                f"{'them' if len(self.left_out) > 1 else 'it'} in {self.window} with this scope.")

    def section(self, section_id: str) -> Section:
        for s in self.sections:
            if s.id == section_id:
                return s
        raise KeyError(f"no section {section_id!r}; sections: {', '.join(s.id for s in self.sections)}")

    @property
    def scorecard(self) -> tuple[KpiLine, ...]:
        return self.section("scorecard").kpis

    def with_commentary(self, commentary: dict[str, str] | None) -> Review:
        """The same review with the presenter's text per section id (missing ids: no text)."""
        commentary = commentary or {}
        sections = tuple(dataclasses.replace(s, commentary=str(commentary.get(s.id, "") or "")) for s in self.sections)
        return dataclasses.replace(self, sections=sections)


# --- building it ----------------------------------------------------------------------------


def parse_period(period: str) -> tuple[str, date, date]:
    """(grain, start, exclusive end) of a month (2026-10) or quarter (2026-Q3) label."""
    try:
        grain, start, end = periods.parse_label(str(period))
    except ValueError as e:
        raise ReviewError(f"{e}; a review is for a month (2026-10) or a quarter (2026-Q3)") from None
    if grain not in GRAINS:
        raise ReviewError(f"a review is for a month (2026-10) or a quarter (2026-Q3), not a {grain} ({period})")
    return grain, start, end


def build_review(con: duckdb.DuckDBPyConnection, period: str = "2026-Q3", profile: str | None = "lead",
                 filters: dict | None = None, tz: str = "UTC", commentary: dict[str, str] | None = None,
                 now: datetime | None = None) -> Review:
    """The review of ``period`` (a month or a quarter) for ``filters``, judged by ``profile``.

    ``con`` may be read-only. ``profile`` is a bundled profile name, a TOML
    path, or None for no targets. ``commentary`` maps section ids to the
    presenter's text; None loads what was saved for this period, profile and
    scope (``review.commentary``). Raises ReviewError for a week or an
    unreadable period, an empty database, or a period outside the data.
    """
    from kpis import targets  # the profiles are data; loading them validates them

    grain, p_start, p_end = parse_period(period)
    label = periods.label(p_start, grain)
    if tz != "UTC":
        engine.check_timezone(con, tz)
    filters = {k: list(v) for k, v in engine._normalise_filters(filters)}
    prof = targets.load_profile(profile) if profile else None
    rng = engine.data_range(con, tz)
    if rng is None:
        raise ReviewError("the database holds no data yet: ingest your exports (or the sample data) first")
    first, last = rng
    if p_start > last or p_end <= first:
        raise ReviewError(f"no data in {label}: the data runs from {first} to {last}")

    lead_time_start = prof.lead_time_start if prof else "change_started_at"
    window_start = max(periods.shift(p_start, grain, -TREND_PERIODS), periods.period_start(first, grain))
    last_day = p_end - timedelta(days=1)
    as_of = engine.through_date(con, tz)
    ahead = _Ahead(con)
    try:
        return _build(con, ahead, grain=grain, label=label, p_start=p_start, p_end=p_end, filters=filters,
                      prof=prof, first=first, last=last, lead_time_start=lead_time_start,
                      window_start=window_start, last_day=last_day, as_of=as_of, tz=tz, now=now,
                      commentary=commentary)
    finally:
        ahead.close()


def _build(con, ahead: _Ahead, *, grain, label, p_start, p_end, filters, prof, first, last, lead_time_start,
           window_start, last_day, as_of, tz, now, commentary) -> Review:
    from kpis import targets

    args = dict(grain=grain, start=window_start, end=last_day, filters=filters, tz=tz, as_of=as_of)
    if prof is not None:
        frame = targets.compute_with_targets(con, prof, **args)
    else:
        frame = engine.compute(con, lead_time_start=lead_time_start, **args)
    previous = periods.label(periods.shift(p_start, grain, -1), grain)
    window = _span(window_start, p_start, grain)
    # A period in progress is compared with the same elapsed days of the previous one (kpis.lines).
    span = lines.span_days(label, as_of)
    slo = (prof.slo if prof else None) or engine.Request().slo
    span_frame = None if span is None else engine.compute(
        con, lead_time_start=lead_time_start, slo=slo, **{**args, "start": periods.shift(p_start, grain, -1),
                                                          "span_days": span})
    ctx = _Ctx(con=con, grain=grain, period=label, start=p_start, end=p_end, previous=previous, window=window,
               window_start=window_start, filters=filters, tz=tz, lead_time_start=lead_time_start, frame=frame,
               as_of=as_of, span_frame=span_frame, slo=slo, ahead=ahead,
               notes=annotations.notes(con, window_start, last_day, filters))
    base = {k.id: _kpi_line(ctx, k) for k in catalog.CATALOG}  # their drivers come below
    # On the second cursor, while this thread writes the charts: the detail queries and the drivers of the KPIs
    # that moved much, in the order the sections read them (delivery's DORA bucket, reliability's failed
    # deployments, the run chart, the lines' drivers, the events): the delivery section waited for its bucket
    # while the seven queries started before it ran. Started before the KPI queries, they slowed those down as
    # much as they gained.
    ahead.submit(dora.period_weeks, [label], grain, filters=filters, tz=tz, as_of=as_of)
    ahead.submit(details.failed_deployments, p_start, p_end, filters=filters, tz=tz, at=_recovery_at(ctx), limit=1)
    ahead.submit(details.training_run_chart, window_start, p_end, filters=filters)
    ahead.submit(details.prediction_count_kinds, window_start, p_end, filters=filters)
    for line in base.values():
        if line.needs_drivers:
            args, kw = _drivers_args(ctx, line)
            ahead.submit(drivers.drivers, *args, **kw)
    ahead.submit(details.incidents, p_start, p_end, filters=filters, tz=tz)
    ahead.submit(details.deployments, p_start, p_end, filters=filters, tz=tz, lead_time_start=lead_time_start,
                 failed_only=True)
    ahead.submit(details.training_runs, p_start, p_end, filters=filters, named=EVENT_ROWS)
    ahead.submit(engine.compute, **_cost_changes_args(grain, p_start, p_end, filters, tz))

    families = list(dict.fromkeys(k.family for k in catalog.CATALOG))
    with_data = [f for f in families if frame[frame["kpi"].isin(_ids(f))]["value"].notna().any()]
    shown = [f for f in families if f in CORE_FAMILIES or f in with_data]
    left_out = tuple(FAMILY_TITLES[f] for f in families if f not in shown)
    absent = lines.absent_optional(frame)  # lead time per change without a changes table: left out, not empty

    def listed(family: str) -> list[str]:
        return [i for i in _ids(family) if i not in absent]

    family_sections = [_family_section(ctx, fam, [base[i] for i in listed(fam)]) for fam in shown]
    kpi_lines = {kpi: _with_drivers(ctx, line) for kpi, line in base.items()}

    sections = [_scorecard(ctx, [kpi_lines[i] for f in shown for i in listed(f)], left_out, window)]
    if prof is not None and prof.note:  # DORA 2025: no clusters, and what stands instead
        sections[0] = dataclasses.replace(sections[0], notes=(*sections[0].notes, prof.note))
    sections += [dataclasses.replace(s, kpis=tuple(kpi_lines[line.kpi] for line in s.kpis)) for s in family_sections]
    sections.append(_events(ctx, kpi_lines))
    notes_section = _annotations(ctx)
    if notes_section is not None:
        sections.append(notes_section)

    review = Review(
        period=label, grain=grain, period_start=p_start, period_end=p_end, previous_period=previous, window=window,
        profile=prof.label if prof else None, profile_title=prof.title if prof else "",
        profile_source=prof.source if prof else "", filters=filters, tz=tz, scope=scope_key(filters, tz),
        generated_at=(now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None),
        data_first=first, data_last=last, sections=tuple(sections), left_out=left_out)
    if commentary is None:
        from review import commentary as notes

        commentary = notes.load(con, review.period, review.profile, review.scope)
    return review.with_commentary(commentary)


class _Ahead:
    """Detail queries started ahead, on a cursor of their own in one background thread: DuckDB runs them
    without the GIL while this thread computes the KPIs, their lines and the charts (building a review of the
    benchmark data took 1.5 s, a third of it these queries). ``get`` returns the result of a call submitted
    with the same arguments, else runs the call on ``con``; so a call that was not started ahead is still
    right, only not early."""

    WORKERS = 2

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._cursors = queue.SimpleQueue()  # a cursor per worker: one DuckDB connection is not for two threads
        self._all = [con.cursor() for _ in range(self.WORKERS)]
        for cursor in self._all:
            self._cursors.put(cursor)
        self._pool = ThreadPoolExecutor(max_workers=self.WORKERS, thread_name_prefix="review-ahead")
        self._futures: dict = {}

    @staticmethod
    def _key(fn, args: tuple, kw: dict) -> tuple:
        return fn, repr(args), repr(sorted(kw.items()))

    def submit(self, fn, *args, **kw) -> None:
        self._futures[self._key(fn, args, kw)] = self._pool.submit(self._run, fn, *args, **kw)

    def _run(self, fn, *args, **kw):
        cursor = self._cursors.get()
        try:
            return fn(cursor, *args, **kw)
        finally:
            self._cursors.put(cursor)

    def get(self, con: duckdb.DuckDBPyConnection, fn, *args, **kw):
        future = self._futures.pop(self._key(fn, args, kw), None)
        return future.result() if future is not None else fn(con, *args, **kw)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for cursor in self._all:
            cursor.close()


@dataclass
class _Ctx:
    con: duckdb.DuckDBPyConnection
    grain: str
    period: str
    start: date
    end: date
    previous: str
    window: str
    window_start: date
    filters: dict
    tz: str
    lead_time_start: str
    frame: pd.DataFrame
    as_of: date | None = None  # the last day the data covers: a period still in progress on it is to date
    span_frame: pd.DataFrame | None = None  # the period in progress and the one before, cut to the days elapsed
    slo: float = 0.999  # the error budget's availability objective (the profile's, else the engine's)
    ahead: _Ahead | None = None  # the detail queries started ahead (``detail`` reads them)
    notes: pd.DataFrame | None = None  # the annotations of the trend window (kpis.annotations), marked on the charts
    _by_kpi: dict | None = dataclasses.field(default=None, repr=False)
    _span_by_kpi: dict | None = dataclasses.field(default=None, repr=False)

    def kpi_rows(self, kpi_id: str) -> list[dict]:
        """The frame's rows of one KPI, as dicts (grouped once)."""
        if self._by_kpi is None:
            self._by_kpi = lines.by_kpi(self.frame)
        return self._by_kpi.get(kpi_id, [])

    def span_rows(self, kpi_id: str) -> list[dict] | None:
        """The span frame's rows of one KPI, as dicts (grouped once); None without a span frame."""
        if self.span_frame is None:
            return None
        if self._span_by_kpi is None:
            self._span_by_kpi = lines.by_kpi(self.span_frame)
        return self._span_by_kpi.get(kpi_id, [])

    def detail(self, fn, *args, **kw):
        """``fn(con, *args, **kw)``: the result of the same call started ahead, else run now."""
        return self.ahead.get(self.con, fn, *args, **kw) if self.ahead else fn(self.con, *args, **kw)

    @property
    def partial(self) -> bool:
        return periods.is_partial(self.start, self.grain, self.as_of)

    @property
    def partial_label(self) -> str | None:
        """The period's label when it is in progress (charts mark it 'to date'), else None."""
        return self.period if self.partial else None

    @property
    def span_days(self) -> int | None:
        return lines.span_days(self.period, self.as_of)


def _ids(family: str) -> list[str]:
    return [k.id for k in catalog.CATALOG if k.family == family]


def _span(first: date, last: date, grain: str) -> str:
    a, b = periods.label(first, grain), periods.label(last, grain)
    return a if a == b else f"{a} – {b}"


def _num(x) -> float | None:
    return None if fmt.is_missing(x) or (isinstance(x, float) and math.isnan(x)) else float(x)


def _kpi_line(ctx: _Ctx, k: catalog.KPI) -> KpiLine:
    """The KPI's line (kpis.lines): the currency picked over the app's 12-period scorecard window, as the
    scorecard card picks it; the period in progress on ``as_of`` compared with the same elapsed days of the
    previous period (``ctx.span_frame``), never with a whole one."""
    rows = ctx.kpi_rows(k.id)
    window = {periods.label(periods.shift(ctx.start, ctx.grain, -i), ctx.grain) for i in range(SCORECARD_PERIODS)}
    in_window = [r for r in rows if r["period"] in window]  # the frame ends with the period
    return lines.build_line(rows, k.id, ctx.period, ctx.previous, as_of=ctx.as_of, unit=lines.pick_unit(in_window),
                            span_rows=ctx.span_rows(k.id))


def _drivers_args(ctx: _Ctx, line: KpiLine) -> tuple[tuple, dict]:
    """``drivers.drivers``'s arguments after the connection for ``line``: by team, against the period compared."""
    return (line.kpi, "team", ctx.period, ctx.previous if line.compared else None), dict(
        filters=ctx.filters, tz=ctx.tz, lead_time_start=ctx.lead_time_start, as_of=ctx.as_of, unit=line.unit,
        span_days=ctx.span_days if line.compared else None)


def _with_drivers(ctx: _Ctx, line: KpiLine) -> KpiLine:
    """The line with what drives it, when it changed much (the scorecard's rule, ``KpiLine.needs_drivers``)."""
    if not line.needs_drivers:
        return line
    args, kw = _drivers_args(ctx, line)
    return lines.with_drivers(line, drivers.describe(ctx.detail(drivers.drivers, *args, **kw)))


def _scorecard(ctx: _Ctx, kpi_lines: list[KpiLine], left_out: tuple[str, ...], window: str) -> Section:
    """Every KPI in the app's triage order: off target (furthest first), near, on target, no target."""
    kpi_lines = lines.triage(kpi_lines)
    judged = lines.summary(kpi_lines) if any(line.status != "none" for line in kpi_lines) else ""
    notes = []
    if ctx.partial:
        notes.append(f"{periods.to_date_label(ctx.start, ctx.grain, ctx.as_of)} is in progress: its values are to "
                     f"date and are compared with the same {ctx.span_days} days of {ctx.previous}.")
    if not any(line.has_value for line in kpi_lines):
        notes.append(f"No events match the scope in {ctx.period}.")
    if left_out:
        names = ", ".join(left_out)
        notes.append(f"Left out for lack of data in {window}: {names}.")
    sub = f"Every KPI for {ctx.period}, against target and against {ctx.previous}"
    if judged:
        sub += f" · {judged}"
    return Section(id="scorecard", title=f"Scorecard · {ctx.period}", subtitle=sub, kpis=tuple(kpi_lines),
                   notes=tuple(notes))


# The KPIs of the optional changes table (lead time per change and its phases).
CHANGE_KPIS = tuple(k.id for k in catalog.CATALOG if k.optional_table == "changes")

# Charts per family: (chart id, KPIs on it, title or None for the KPI's own, series names, band KPI).
_CHARTS: dict[str, tuple] = {
    "delivery": (
        ("deployments_per_week", ["deployments_per_week"], None, None, None),
        ("lead_time", ["lead_time_median_hours", "lead_time_p90_hours"], "Lead time, median and p90 — lower is better",
         {"lead_time_median_hours": "median", "lead_time_p90_hours": "p90"}, None),
        ("change_failure_rate", ["change_failure_rate"], None, None, None),
        # four charts fit a slide: rework (DORA's second instability metric) shares rollback's chart, both a share
        # of the deployments; deployment days per week is a tile, with its DORA bucket in the notes
        ("rollback_rework", ["rollback_rate", "deployment_rework_rate"], "Rollback and rework rates — lower is better",
         {"rollback_rate": "rolled back", "deployment_rework_rate": "unplanned (rework)"}, None),
    ),
    "reliability": (
        # four charts fit a slide: the incidents started and those open at the period's end share one
        ("incidents", ["incident_count", "open_incidents"], "ML incidents, started and open at period end — lower "
         "is better", {"incident_count": "started", "open_incidents": "open at period end"}, "incident_count"),
        ("mttr", ["mttr_hours", "mttr_median_hours"], "Time to recover, mean and median — lower is better",
         {"mttr_hours": "mean (MTTR)", "mttr_median_hours": "median"}, "mttr_median_hours"),
        ("ttd_median_hours", ["ttd_median_hours"], None, None, None),
        ("deployment_recovery", ["failed_deployment_recovery_median_hours", "failed_deployment_recovery_mean_hours"],
         "Failed deployment recovery, median and mean — lower is better",
         {"failed_deployment_recovery_median_hours": "median", "failed_deployment_recovery_mean_hours": "mean"},
         "failed_deployment_recovery_median_hours"),
    ),
    "cost": (
        ("cost_per_1k_predictions", ["cost_per_1k_predictions"], None, None, None),
        ("cost_and_volume", ["inference_cost", "predictions"], None, None, None),
        ("training_cost_per_run", ["training_cost_per_run"], None, None, None),
        ("training_runs", ["training_cost_per_run"], None, None, None),
    ),
    "serving": (
        ("availability", ["availability"], None, None, None),
        ("error_rate", ["error_rate"], None, None, None),
        ("latency", ["latency_p95_ms", "latency_p99_ms"], "Inference latency p95 and p99 — lower is better",
         {"latency_p95_ms": "p95", "latency_p99_ms": "p99"}, None),
        ("error_budget_remaining", ["error_budget_remaining"], None, None, None),
    ),
    "pipelines": (
        ("pipeline_success", ["pipeline_success_rate", "training_success_rate"],
         "Pipeline success rate, all runs and training — higher is better",
         {"pipeline_success_rate": "all pipelines", "training_success_rate": "training"}, "training_success_rate"),
        ("data_freshness_adherence", ["data_freshness_adherence"], None, None, None),
        ("retraining_sla_adherence", ["retraining_sla_adherence", "reproducibility_rate"],
         "Retraining on time and reproducible — higher is better",
         {"retraining_sla_adherence": "on time (SLA)", "reproducibility_rate": "reproducible"}, "reproducibility_rate"),
        ("ci_duration", ["ci_duration_median_hours", "ci_duration_p90_hours"], "CI pipeline duration, median and p90 — "
         "lower is better", {"ci_duration_median_hours": "median", "ci_duration_p90_hours": "p90"}, None),
    ),
    "coverage": (
        ("monitoring_coverage", ["monitoring_coverage", "monitoring_coverage_tier1"],
         "Monitoring coverage, all and tier-1 models — higher is better",
         {"monitoring_coverage": "all models", "monitoring_coverage_tier1": "tier-1"}, None),
        ("drift_monitoring_coverage", ["drift_monitoring_coverage", "drift_monitoring_coverage_tier1"],
         "Drift detection coverage, all and tier-1 models — higher is better",
         {"drift_monitoring_coverage": "all models", "drift_monitoring_coverage_tier1": "tier-1"},
         "drift_monitoring_coverage_tier1"),
        ("documentation_completeness", ["documentation_completeness"], None, None, None),
    ),
}


def _family_section(ctx: _Ctx, family: str, lines: list[KpiLine]) -> Section:
    frame = ctx.frame
    made, notes = [], []
    if not any(line.has_value for line in lines):
        notes.append(fmt.no_data(lines[0].kpi, ctx.period) + ".")
    for chart_id, ids, title, names, band in _CHARTS[family]:
        fig, caption = None, ""
        if chart_id == "cost_and_volume":
            sub = frame[frame["kpi"].isin(ids)]
            if charts.has_values(sub):
                fig = charts.cost_and_volume(sub, f"Inference cost and predictions per {ctx.grain} — cost should "
                                                  "grow slower than volume", partial=ctx.partial_label)
            else:
                notes.append(fmt.no_data("inference_cost", ctx.window) + ".")
        elif chart_id == "error_budget_remaining" and hasattr(charts, "error_budget"):
            sub = frame[frame["kpi"].isin(ids)]
            if charts.has_values(sub):  # the Serving page's bars: green while budget is left, red once overspent
                fig = charts.error_budget(sub, fmt.chart_title("error_budget_remaining"), slo=ctx.slo,
                                          partial=ctx.partial_label)
        elif chart_id == "training_runs":
            # the runs the chart draws one by one and the bins of the others, summarised in SQL
            runs = ctx.detail(details.training_run_chart, ctx.window_start, ctx.end, filters=ctx.filters)
            if runs.empty:
                notes.append(f"No training runs with cost in {ctx.window}.")
            else:
                fig = charts.training_runs(runs, "Cost per training run, outliers red — lower is better")
                caption = charts.training_runs_caption(runs)
        else:
            sub = frame[frame["kpi"].isin(ids)]
            if charts.has_values(sub):
                fig = charts.trend(sub, ids, title or fmt.chart_title(ids[0]), names=names, band_kpi=band,
                                   partial=ctx.partial_label, notes=ctx.notes)
            elif len([n for n in notes if n.startswith(fmt.no_data(ids[0], ctx.window))]) == 0:
                notes.append(fmt.no_data(ids[0], ctx.window) + ".")
        if fig is not None:
            # the figure's title is plotly text (kpis.charts.esc); the pack writes it as plain text
            made.append(Chart(id=f"{family}-{chart_id}", title=html.unescape(fig.layout.title.text or chart_id),
                              figure=fig,
                              caption=caption))
    if family == "cost":
        kinds = ctx.detail(details.prediction_count_kinds, ctx.window_start, ctx.end, filters=ctx.filters)
        if "requests" in kinds:
            notes.append("Some sources count serving requests, not predictions: for them the cost is per 1k requests.")
    if family == "delivery":
        notes.append(f"Lead time runs from {ctx.lead_time_start.replace('_', ' ')} to the production deployment "
                     "(successful deployments only).")
        if any(line.kpi in CHANGE_KPIS for line in lines):
            notes.append("Lead time per change runs from each change's first commit to the successful production "
                         "deployment that shipped it (the changes table); its phases are coding (first commit to "
                         "pull request opened), review (opened to merged) and merge to deploy, each a median over "
                         "the changes that have both timestamps.")
        # kpis.dora.deployment_frequency of the period: its deployment days per week from the frame, its weeks
        weeks = ctx.detail(dora.period_weeks, [ctx.period], ctx.grain, filters=ctx.filters, tz=ctx.tz,
                           as_of=ctx.as_of)
        days = ctx.frame.loc[(ctx.frame["kpi"] == "deployment_days_per_week") & (ctx.frame["period"] == ctx.period),
                             ["period", "value", "n"]]
        freq = dora.with_buckets(days, weeks)
        bucket = freq["bucket"].iloc[0] if len(freq) else None
        if isinstance(bucket, str):
            notes.append(f"Deployment frequency as DORA buckets it, {ctx.period}: {bucket} (median week "
                         f"{freq['median_week_days'].iloc[0]:g} deployment days of {freq['weeks'].iloc[0]} weeks; "
                         f"{dora.FREQUENCY_RULE_SHORT}).")
    if family == "reliability":
        # the first row and the counts: the ones not recovered come first, the oldest of them first
        first = ctx.detail(details.failed_deployments, ctx.start, ctx.end, filters=ctx.filters, tz=ctx.tz,
                           at=_recovery_at(ctx), limit=1)
        waiting = int(first[details.OPEN_TOTAL].iloc[0]) if len(first) else 0
        if waiting:
            failed, oldest = int(first[details.ROWS_TOTAL].iloc[0]), first["age_hours"].iloc[0]
            notes.append(f"{waiting} of the {failed} failed deployments of {ctx.period} had not recovered "
                         f"by its end (the oldest for {fmt.fmt_hours(oldest)}): they are not in the recovery time's "
                         "median and mean.")
    return Section(id=family, title=FAMILY_TITLES[family], subtitle=f"{FAMILY_SUBTITLES[family]} · {ctx.period}",
                   kpis=tuple(lines), charts=tuple(made), notes=tuple(dict.fromkeys(notes)))


# --- notable events -------------------------------------------------------------------------


def _local(ts, tz: str) -> str:
    """The day of a stored (naive UTC) timestamp in the reporting time zone (the app has the times)."""
    if ts is None or pd.isna(ts):
        return "—"
    ts = pd.Timestamp(ts).to_pydatetime()
    if tz != "UTC":
        ts = ts.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    return f"{ts:%Y-%m-%d}"


def _as_of(ctx: _Ctx) -> datetime:
    """The end of the period as a naive UTC moment (or now, if the period is not over)."""
    end = datetime.combine(ctx.end, time.min)
    if ctx.tz != "UTC":
        end = end.replace(tzinfo=ZoneInfo(ctx.tz)).astimezone(timezone.utc).replace(tzinfo=None)
    return min(end, datetime.now(timezone.utc).replace(tzinfo=None))


def _recovery_at(ctx: _Ctx) -> datetime:
    """The moment the failed deployments not yet recovered are aged at: ``_as_of`` to the hour (the query is
    started ahead with it, and asked again with the same)."""
    return _as_of(ctx).replace(minute=0, second=0, microsecond=0)


def _text(x) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA or x == "" else str(x)


def _short(x, keep: int = 12) -> str:
    """A long identifier (a 32-character run id) cut to its first characters: enough to find it."""
    text = _text(x)
    return text if len(text) <= keep + 2 else text[:keep] + "…"


def _more(shown: int, total: int, what: str) -> str:
    return f"{total - shown} more {what} not shown." if total > shown else ""


def _worst_incidents(ctx: _Ctx) -> Table:
    rows = ctx.detail(details.incidents, ctx.start, ctx.end, filters=ctx.filters, tz=ctx.tz)
    title = "Worst incidents"
    empty = f"No ML incidents started or were resolved in {ctx.period}."
    if rows.empty:
        return Table(id="worst_incidents", title=title, frame=pd.DataFrame(), empty=empty)
    as_of = _as_of(ctx)
    rows = rows.copy()
    rows["age"] = (pd.Timestamp(as_of) - pd.to_datetime(rows["started_at"])).dt.total_seconds() / 3600
    rows["duration"] = rows["time_to_recover_hours"].where(~rows["open"], rows["age"])
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    rows["rank"] = [rank.get(s, len(rank)) for s in rows["severity"]]
    rows = rows.sort_values(["rank", "duration", "incident_id"], ascending=[True, False, True], na_position="last")
    top = rows.head(EVENT_ROWS)
    frame = pd.DataFrame({
        "Incident": top["incident_id"].map(_text),
        "Severity": top["severity"].map(_text),
        "Service": top["service"].map(_text),
        "Category": top["category"].map(lambda c: fmt.words(c) or "—"),
        "Started": [_local(t, ctx.tz) for t in top["started_at"]],
        "Detected in": [fmt.fmt_hours(h) for h in top["time_to_detect_hours"]],
        "Recovered in": [f"open {fmt.fmt_hours(a)}" if o else fmt.fmt_hours(h)
                            for h, a, o in zip(top["time_to_recover_hours"], top["age"], top["open"])],
        "Caused by": top["deployment_id"].map(_text),
    })
    note = (f"ML incidents that started or were resolved in {ctx.period}, most severe first, then longest; "
            f"open ones by their age at the end of the period. {_more(len(top), len(rows), 'incidents')}").strip()
    return Table(id="worst_incidents", title=title, frame=frame.reset_index(drop=True), empty=empty, note=note)


def _failed_deployments(ctx: _Ctx, cfr: KpiLine) -> Table:
    # Only the failed rows: the period's production deployments are the change failure rate's n (the
    # drill-down reproduces it, tests/test_drilldowns_reproduce.py); a month of 50k deployments is not fetched.
    failed = ctx.detail(details.deployments, ctx.start, ctx.end, filters=ctx.filters, tz=ctx.tz,
                        lead_time_start=ctx.lead_time_start, failed_only=True)
    total = cfr.n
    title = "Failed deployments"
    if not total:
        return Table(id="failed_deployments", title=title, frame=pd.DataFrame(),
                     empty=f"No production deployments in {ctx.period}.")
    if failed.empty:
        return Table(id="failed_deployments", title=title, frame=pd.DataFrame(),
                     empty=f"None of the {total} production deployments in {ctx.period} failed.")
    top = failed.head(EVENT_ROWS)
    frame = pd.DataFrame({
        "Deployment": top["deployment_id"].map(_text),
        "Deployed": [_local(t, ctx.tz) for t in top["deployed_at"]],
        "Service": top["service"].map(_text),
        "Version": top["model_version"].map(_text),
        "Why failed": top["failure_reason"].map(_text),
        "Incidents": top["incident_ids"].map(_text),
        "Recovered in": [fmt.fmt_hours(h) if not pd.isna(h) else "not yet" if needed else "—"
                         for h, needed in zip(top["recovery_hours"], top["recovery_needed"])],
    })
    note = (f"{len(failed)} of {total} production deployments failed: change failure rate "
            f"{cfr.value_text}. Newest first. {_more(len(top), len(failed), 'failed deployments')}").strip()
    return Table(id="failed_deployments", title=title, frame=frame.reset_index(drop=True), empty="", note=note)


def _cost_outliers(ctx: _Ctx) -> Table:
    # names for the outliers the table lists (the costliest EVENT_ROWS; a run's rank in its currency is no worse)
    runs = ctx.detail(details.training_runs, ctx.start, ctx.end, filters=ctx.filters, named=EVENT_ROWS)
    title = "Training-cost outlier runs"
    if runs.empty:
        return Table(id="cost_outliers", title=title, frame=pd.DataFrame(),
                     empty=f"No training runs with cost in {ctx.period}.")
    if runs["outlier_threshold"].isna().all():
        return Table(id="cost_outliers", title=title, frame=pd.DataFrame(),
                     empty=f"Only {len(runs)} training runs in {ctx.period}: too few "
                           f"(fewer than {details.OUTLIER_MIN_RUNS}) to call one an outlier.")
    out = runs[runs["outlier"]]
    if out.empty:
        fence = runs["outlier_threshold"].dropna().iloc[0]
        return Table(id="cost_outliers", title=title, frame=pd.DataFrame(),
                     empty=f"No outliers: none of the {len(runs)} training runs in {ctx.period} cost more than "
                           f"{fmt.fmt_money(fence, runs['currency'].iloc[0])} (Q3 + 1.5 IQR).")
    top = out.head(EVENT_ROWS)
    frame = pd.DataFrame({
        "Run": top["run_id"].map(_short),
        "Service": top["service"].map(_text),
        "Team": top["team"].map(_text),
        "First day": [f"{pd.Timestamp(d):%Y-%m-%d}" for d in top["first_date"]],
        "Cost": [fmt.fmt_money(c, cur) for c, cur in zip(top["cost"], top["currency"])],
        "Outlier fence": [fmt.fmt_money(f, cur) for f, cur in zip(top["outlier_threshold"], top["currency"])],
    })
    note = (f"{len(out)} of {len(runs)} training runs in {ctx.period} cost more than Q3 + 1.5 IQR of the period's "
            f"runs. {_more(len(top), len(out), 'outlier runs')}").strip()
    return Table(id="cost_outliers", title=title, frame=frame.reset_index(drop=True), empty="", note=note)


def _cost_changes_args(grain: str, start: date, end: date, filters: dict, tz: str) -> dict:
    """What ``_cost_changes`` asks the engine: cost per 1k predictions by service, the period and the one before."""
    return dict(grain=grain, by="service", start=periods.shift(start, grain, -1), end=end - timedelta(days=1),
                filters=filters, tz=tz, kpis=["cost_per_1k_predictions"])


def _cost_changes(ctx: _Ctx) -> Table:
    title = "Biggest changes in cost per 1k predictions"
    per = ctx.detail(engine.compute, **_cost_changes_args(ctx.grain, ctx.start, ctx.end, ctx.filters, ctx.tz))
    rows = []
    for (service, unit), g in per.groupby(["service", "unit"], dropna=False, sort=True):
        values = dict(zip(g["period"], g["value"]))
        now, before = _num(values.get(ctx.period)), _num(values.get(ctx.previous))
        if now is None or before is None or before == 0 or fmt.is_missing(service):
            continue
        change = (now - before) / abs(before)
        rows.append((abs(change), str(service), unit, before, now, change))
    if not rows:
        return Table(id="cost_changes", title=title, frame=pd.DataFrame(),
                     empty=f"No service has cost per 1k predictions in both {ctx.previous} and {ctx.period}.")
    rows.sort(key=lambda r: (-r[0], r[1]))
    top = rows[:EVENT_ROWS]
    frame = pd.DataFrame({
        "Service": [r[1] for r in top],
        ctx.previous: [fmt.fmt_value(r[3], r[2], "cost_per_1k_predictions") for r in top],
        ctx.period: [fmt.fmt_value(r[4], r[2], "cost_per_1k_predictions") for r in top],
        "Change": [fmt.fmt_change_pct(r[4], r[3]) for r in top],
        "": [fmt.judgement("cost_per_1k_predictions", r[4] - r[3]) for r in top],
    })
    note = (f"Services ranked by the size of the change in cost per 1k predictions from {ctx.previous} to "
            f"{ctx.period}. {_more(len(top), len(rows), 'services')}").strip()
    return Table(id="cost_changes", title=title, frame=frame, empty="", note=note)


def _annotations(ctx: _Ctx) -> Section | None:
    """The period's annotations (kpis.annotations), what happened that may explain a change: a section of its
    own (a slide, a page) after the notable events, only when there are some."""
    notes = ctx.notes
    if notes is None or notes.empty:
        return None
    days = pd.to_datetime(notes["day"]).dt.date
    rows = notes[(days >= ctx.start) & (days < ctx.end)]
    if rows.empty:
        return None
    frame = pd.DataFrame({
        "Date": [f"{pd.Timestamp(d):%Y-%m-%d}" for d in rows["day"]],
        "Team": [t or "all" for t in rows["team"]],
        "Service": [s_ or "all" for s_ in rows["service"]],
        "Note": rows["text"].map(_text),
    })
    table = Table(id="annotations", title="Annotations", frame=frame.reset_index(drop=True), empty="",
                  note="Notes added by editors; the trend charts mark them at their period.")
    return Section(id="annotations", title=f"Annotations · {ctx.period}",
                   subtitle="Events that may explain a change: reorganisations, policies, freezes", tables=(table,))


def _events(ctx: _Ctx, lines: dict[str, KpiLine]) -> Section:
    tables = (_worst_incidents(ctx), _failed_deployments(ctx, lines["change_failure_rate"]),
              _cost_outliers(ctx), _cost_changes(ctx))
    dates = "" if ctx.tz == "UTC" else f" · dates in {ctx.tz}"
    return Section(id="events", title=f"Notable events · {ctx.period}",
                   subtitle=f"The incidents, failed changes and cost movements behind the numbers{dates}",
                   tables=tables)
