"""Reliability: incidents by severity, MTTR and TTD, failed deployment recovery time, open incidents, worst services,
quarter over quarter, the last 7 / 30 / 90 days."""

from datetime import datetime, timezone

import streamlit as st

from kpis import charts, details, periods
from ui import components, data, state

view = state.current()
components.page_header("Reliability", view, f"Trends {components.span_text(view)}")
components.stop_if_no_data(view, "reliability")

span = components.span_text(view)
RELIABILITY = ["incident_count", "mttr_hours", "mttr_median_hours", "ttd_median_hours", "open_incidents",
               "failed_deployment_recovery_median_hours", "failed_deployment_recovery_mean_hours"]
QOQ = [*RELIABILITY, "change_failure_rate", "availability", "error_rate"]
quarter_start = periods.period_start(view.period_start, "quarter")
q_span = view.span_days(periods.label(quarter_start, "quarter"))  # a quarter in progress: the same days before
qoq_args = view.compute_args(grain="quarter", start=periods.shift(quarter_start, "quarter", -1),
                             end=view.period_last_day, kpis=QOQ)

# Every section's query, started now: each runs while the sections above it are drawn (ui.data.ahead).
data.ahead("compute", **data.severity_args(view))
reliability_frame = data.ahead("compute", **view.compute_args(kpis=RELIABILITY))  # the sections ask; cached
serving_frame = data.ahead("compute", **view.compute_args(
    kpis=["availability", "error_rate", "latency_p95_ms", "latency_p99_ms"]))
# the failed deployments' ages to this minute (the list is cached a minute at a time)
# The two event tables fetch the rows a table draws and how many there are (their CSVs fetch them all).
failed_args = dict(start=view.period_start, end=view.period_end, filters=view.filters, tz=view.tz,
                   at=datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0))
failed_later = data.ahead("failed_deployments", **failed_args, limit=components.TABLE_ROWS_MAX)
open_at = view.open_at()
open_rows_later = data.ahead("open_incidents", at=open_at, filters=view.filters, tz=view.tz)
worst_later = data.ahead("worst_services", start=view.period_start, end=view.period_end, filters=view.filters,
                         tz=view.tz, limit=10)
qoq_later = data.ahead("compute", **qoq_args)
qoq_span_later = None if q_span is None else data.ahead("compute", **{**qoq_args, "span_days": q_span, "profile": None})
incident_args = dict(start=view.period_start, end=view.period_end, filters=view.filters, tz=view.tz)
incidents_later = data.ahead("incidents", **incident_args, limit=components.TABLE_ROWS_MAX)
components.start_trailing_window(view, RELIABILITY, key="reliability-window")


with components.section("Incidents"):
    st.subheader("Incidents")
    by_severity = data.incidents_by_severity(view)
    if not components.no_data_message(["incident_count"], by_severity, span):
        components.chart(charts.stacked_bars,
            by_severity.dropna(subset=["value"]), x="period", y="value", colour="severity",
            title=f"ML incidents per {view.grain} by severity — lower is better", y_title="incidents",
            colours=charts.SEVERITY_COLOURS, order=list(charts.SEVERITY_COLOURS), partial=view.in_progress,
            first=view.first_partial, key="by-severity")

with components.section("Time to recover and time to detect"):
    st.subheader("Time to recover and time to detect")
    frame = reliability_frame()
    # Mean and median on charts of their own: a target judges one of them, often on a scope (senior: sev1 and sev2
    # incidents), and that series must be the chart's own, fully on its scale.
    left, right = st.columns(2)
    with left:
        components.trend_chart(frame, ["mttr_hours"], view, title="Time to recover, mean (MTTR) — lower is better",
                               names={"mttr_hours": "MTTR"}, key="mttr")
    with right:
        components.trend_chart(frame, ["mttr_median_hours"], view, title="Time to recover, median — lower is better",
                               names={"mttr_median_hours": "median"}, key="mttr-median")
    left, right = st.columns(2)
    with left:
        components.trend_chart(frame, ["ttd_median_hours"], view, key="ttd")
    with right:
        st.caption("Where the profile's target has a scope (sev1 and sev2 incidents, tier-1), the chart's main line is "
                   "that scope's value, the one judged, with markers in its status colours; the grey dotted line is the "
                   "same KPI over all incidents selected, for context. The shaded band is the target, labelled in the "
                   "profile's words. A hollow marker on a dotted segment is the period still in progress (to date).")

with components.section("Failed deployment recovery time"):
    st.subheader("Failed deployment recovery time")
    frame = reliability_frame()
    left, right = st.columns(2)
    with left:
        components.trend_chart(frame, ["failed_deployment_recovery_median_hours"], view, key="fdrt-median",
                               title="Failed deployment recovery time, median — lower is better",
                               names={"failed_deployment_recovery_median_hours": "median"})
    with right:
        components.trend_chart(frame, ["failed_deployment_recovery_mean_hours"], view, key="fdrt-mean",
                               title="Failed deployment recovery time, mean — lower is better",
                               names={"failed_deployment_recovery_mean_hours": "mean"})
    st.caption("DORA's recovery time runs from the failed deployment (status failed or rolled back, or named by an "
               "incident) to the first of: its rollback, the next successful deployment of the service, the resolution "
               "of the last incident naming it; it counts in the period the deployment went out in. Deployments not "
               "recovered yet are not in the median or mean: they are listed below with how long they have waited.")
    failed = failed_later()
    if failed is not None and len(failed):
        count, waiting = int(failed[details.ROWS_TOTAL].iloc[0]), int(failed[details.OPEN_TOTAL].iloc[0])
        st.metric(f"Failed deployments in {view.period_text(view.period)}", f"{count:,}",
                  help="Status failed or rolled back, or named by an incident.")
        st.caption(f"{waiting:,} of {count:,} not recovered yet (first in the table, with how long they have "
                   "waited)" if waiting else f"All {count:,} recovered.")
    components.table(failed, f"failed deployments {view.period}", key="failed-deployments", kind="failed_deployments",
                     order="not recovered first, then newest first",
                     everything=lambda: data.fetch("failed_deployments", **failed_args),
                     empty=f"No production deployment failed in {view.period} (among those the filters keep).")

with components.section("Serving health"):
    st.subheader("Serving health")
    serving = serving_frame()
    left, right = st.columns(2)
    with left:
        components.trend_chart(serving, ["availability"], view, key="availability")
    with right:
        components.trend_chart(serving, ["latency_p95_ms", "latency_p99_ms"], view, key="latency",
                               title="Inference latency p95 and p99 — lower is better",
                               names={"latency_p95_ms": "p95", "latency_p99_ms": "p99"})

with components.section("Open incidents"):
    st.subheader(f"Open incidents at the end of {view.period}")
    as_of = open_at
    open_rows = open_rows_later()
    if open_rows is not None and not open_rows.empty:
        st.metric(f"Open at {as_of:%Y-%m-%d %H:%M} ({view.tz})", f"{len(open_rows)}",
                  help="Started before this moment and not resolved by then.")
    components.table(open_rows, f"open incidents {view.period}", key="open", kind="open_incidents", order="oldest first",
                     empty=f"No incidents were open at {as_of:%Y-%m-%d %H:%M} ({view.tz}).")

with components.section("Worst services"):
    st.subheader(f"Worst services in {view.period_text(view.period)}")
    worst = worst_later()
    if worst is not None and not worst.empty and worst["incidents"].sum() > 0:
        components.chart(charts.ranked_bars, worst[worst["incidents"] > 0], "service", "incidents",
                         f"Incidents by service, {view.period_text(view.period)} — fewer is better", "incidents",
                         key="worst")
    components.table(worst, f"worst services {view.period}", key="worst-table", kind="worst_services",
                     empty=f"No ML incidents started or resolved in {view.period}.")

with components.section("Quarter over quarter"):
    quarter = periods.label(quarter_start, "quarter")
    previous_quarter = periods.label(periods.shift(quarter_start, "quarter", -1), "quarter")
    qoq = qoq_later()
    quarter_in_progress = quarter if periods.is_partial(quarter_start, "quarter", view.as_of) else None
    # A quarter in progress against the same days of the one before (equal spans), never all of it.
    qoq_span = None if qoq_span_later is None else qoq_span_later()
    st.subheader(f"Quarter over quarter: {quarter}{' (to date)' if quarter_in_progress else ''} vs {previous_quarter}")
    components.comparison_table(qoq, QOQ, quarter, previous_quarter,
                                name=f"reliability {quarter} vs {previous_quarter}", key="qoq",
                                partial=quarter_in_progress, span_frame=qoq_span)

with components.section("Trailing window"):
    components.trailing_window(view, RELIABILITY, key="reliability-window")

with components.section("The incidents behind the numbers"):
    st.subheader(f"The incidents behind the numbers, {view.period_text(view.period)}")
    incidents = incidents_later()
    st.caption("ML-related incidents that started or were resolved in the period. Rows started in the period are "
               "the incident count and time to detect; rows resolved in the period are the time to recover.")
    components.table(incidents, f"incidents {view.period}", key="incidents", kind="incidents", order="newest first",
                     everything=lambda: data.fetch("incidents", **incident_args),
                     empty=f"No ML incidents started or resolved in {view.period} match the filters.")
