"""Delivery: deployment frequency (with DORA's bucket), lead time, change failure, rollback and rework rates, and the
deployments behind them."""

import streamlit as st

from kpis import charts, dora, periods
from kpis import format as fmt
from ui import components, data, state

view = state.current()
components.page_header("Delivery", view, f"Trends {components.span_text(view)}")
components.stop_if_no_data(view, "delivery")

DELIVERY = ["deployment_count", "deployments_per_week", "lead_time_median_hours", "lead_time_p90_hours",
            "change_failure_rate", "rollback_rate", "deployment_days_per_week", "deployment_rework_rate",
            "failed_deployment_recovery_median_hours"]
# Lead time per change and its phases: from the optional changes table (kpis/sql/changes.sql), shown when it has rows.
CHANGES = ["change_lead_time_median_hours", "change_lead_time_mean_hours", "change_lead_time_p90_hours",
           "coding_time_median_hours", "review_time_median_hours", "merge_to_deploy_median_hours"]
span = components.span_text(view)
loaded = data.query("table_counts")  # None while another process holds the file and nothing was read yet
has_changes = bool(loaded and loaded.get("changes"))
WINDOW_KPIS = DELIVERY + (CHANGES if has_changes else [])


# Every section's query, started now: each runs while the sections above it are drawn (ui.data.ahead). The
# delivery KPIs: each section asks (cached after the first), so one failing section never leaves the others
# without it. The widgets' choices are in the session from their last run (their defaults on the first); a
# query asked with the same arguments takes the result of the one started here.
ss = st.session_state
by_choice = ss.get("delivery_by") or "team"
delivery_frame = data.ahead("compute", **view.compute_args(kpis=DELIVERY))
data.ahead("compute", **view.compute_args(kpis=["deployment_count"], by=by_choice, profile=None))
bins_later = data.ahead("lead_time_distribution", start=view.range_start, end=view.end_exclusive,
                        filters=view.filters, tz=view.tz, lead_time_start=view.lead_time_start)
whole_range = str(ss.get("delivery_scope") or "").startswith("date range")


def deployment_args(whole: bool) -> dict:
    """The deployments table's query: the period's or the whole range's rows (the first that a table draws)."""
    return dict(start=view.range_start if whole else view.period_start,
                end=view.end_exclusive if whole else view.period_end, filters=view.filters, tz=view.tz,
                lead_time_start=view.lead_time_start)


data.ahead("deployments", **deployment_args(whole_range), limit=components.TABLE_ROWS_MAX)
weeks_later = None
if view.grain != "day":  # DORA's bucket needs weeks: of the periods of the range, the frame's (the engine's spine)
    weeks_later = data.ahead("period_weeks", labels=[periods.label(s, view.grain) for s in
                                                     periods.spine(view.start, view.end, view.grain)],
                             grain=view.grain, filters=view.filters, tz=view.tz, as_of=view.as_of)
if has_changes:
    data.ahead("compute", **view.compute_args(kpis=CHANGES))
    data.ahead("changes", start=view.period_start, end=view.period_end, filters=view.filters, tz=view.tz)
components.start_trailing_window(view, WINDOW_KPIS, key="delivery-window")


with components.section("Deployment frequency"):
    st.subheader("Deployment frequency")
    by = st.segmented_control("Deployments by", ["team", "service"], default="team", key="delivery_by",
                              required=True) or "team"
    per_group = data.query("compute", **view.compute_args(kpis=["deployment_count"], by=by, profile=None))
    if not components.no_data_message(["deployment_count"], per_group, span):
        components.chart(charts.stacked_bars,
            per_group.dropna(subset=["value"]), x="period", y="value", colour=by,
            title=f"Production deployments per {view.grain} by {by} — volume: neither better nor worse",
            y_title=f"deployments per {view.grain}", partial=view.in_progress, first=view.first_partial,
            key="deploys-by")
    frame = delivery_frame()
    judged = frame[(frame["kpi"] == "deployment_count") & (frame["period"] == view.period)] if frame is not None else None
    if judged is not None and "scope" in judged and len(judged) and judged["scope"].iloc[0] == f"per {by}":
        # A per-team target is about each team's bars, not the stack's height.
        row = judged.iloc[0]
        text = row["status_text"] or row["note"] or ""
        outside = f" (outside: {row['outside']})" if isinstance(row["outside"], str) and row["outside"] else ""
        st.caption(f"Target per {by}: {components.md_text(row['target'])}. {view.period_text(view.period)}: "
                   f"{components.md_text(text)}{components.md_text(outside)}.")
    components.trend_chart(frame, ["deployments_per_week"], view, key="per-week")

with components.section("Lead time for change"):
    st.subheader("Lead time for change")
    frame = delivery_frame()
    left, right = st.columns(2)
    with left:
        components.trend_chart(frame, ["lead_time_median_hours", "lead_time_p90_hours"], view,
                               title="Lead time, median and p90 — lower is better",
                               names={"lead_time_median_hours": "median", "lead_time_p90_hours": "p90"},
                               key="lead-time")
    with right:
        bins = bins_later()
        if bins is None or bins["deployments"].sum() == 0:
            st.info(fmt.no_data("lead_time_median_hours", span) + ".")
        else:
            components.chart(charts.lead_time_histogram, bins, f"Lead-time distribution, {span} — shorter is better",
                             key="lead-hist")
    st.caption(f"Lead time runs from {view.lead_time_start.replace('_', ' ')} to the production deployment "
               "(successful deployments only).")

with components.section("Lead time per change"):
    st.subheader("Lead time per change")
    if loaded is not None and not has_changes:
        st.info("No changes table is loaded, so lead time is per deployment (above, from "
                f"{view.lead_time_start.replace('_', ' ')}). Load an export of the changes each deployment shipped "
                "(change_id, deployment_id, authored_at, and opened_at / merged_at where there is a pull request) "
                "to see lead time per change, from its first commit, and its coding, review and merge-to-deploy "
                "phases.", icon=":material/info:")
    elif has_changes:
        changes_frame = data.query("compute", **view.compute_args(kpis=CHANGES))
        components.kpi_cards(changes_frame, CHANGES, view.period, view.previous_period, per_row=3)
        left, right = st.columns(2)
        with left:
            components.trend_chart(changes_frame, CHANGES[:3], view,
                                   title="Lead time per change, median, mean and p90 — lower is better",
                                   names={CHANGES[0]: "median", CHANGES[1]: "mean", CHANGES[2]: "p90"},
                                   key="change-lead-time")
        with right:
            components.trend_chart(changes_frame, CHANGES[3:], view,
                                   title="Phases of lead time per change, medians — lower is better",
                                   names={CHANGES[3]: "coding", CHANGES[4]: "review", CHANGES[5]: "merge to deploy"},
                                   key="change-phases")
        st.caption("Each change (a commit or pull request) counts from its first commit to the successful production "
                   "deployment that shipped it, in that deployment's period; a change of a failed deployment counts "
                   "with its retry. Phases: coding (first commit to pull request opened), review (opened to "
                   "merged), merge to deploy; a change without a pull request has no coding or review time (left "
                   "out, not 0).")
        st.markdown(f"**The changes behind {components.md_text(view.period_text(view.period))}**, newest deployment first")
        rows = data.query("changes", start=view.period_start, end=view.period_end, filters=view.filters, tz=view.tz)
        components.table(rows, f"changes {view.period}", key="changes", kind="changes", order="newest first",
                         empty=f"No changes shipped by production deployments in {view.period} match the filters.")
    else:
        st.warning("These numbers are not available while the database is being updated.")

with components.section("Change failure and rollback"):
    st.subheader("Change failure and rollback")
    frame = delivery_frame()
    left, right = st.columns(2)
    with left:
        components.trend_chart(frame, ["change_failure_rate"], view, key="cfr")
    with right:
        components.trend_chart(frame, ["rollback_rate"], view, key="rollback")

with components.section("DORA's five metrics"):
    st.subheader(f"DORA's five metrics, {view.period_text(view.period)}: throughput and instability")
    frame = delivery_frame()
    note = data.profile_info(view.profile).get("note") if view.profile else ""
    st.caption(components.md_text(note or dora.PAIR_TEXT))
    # a row each, three cards wide: five in one row cut their titles and values
    st.markdown("**Throughput**")
    components.kpi_cards(frame, list(dora.THROUGHPUT), view.period, view.previous_period, per_row=3)
    st.markdown("**Instability**")
    components.kpi_cards(frame, list(dora.INSTABILITY), view.period, view.previous_period, per_row=3)

with components.section("Deployment frequency as DORA buckets it"):
    st.subheader("Deployment frequency as DORA buckets it")
    if view.grain == "day":
        st.info("A day is shorter than a week: DORA's bucket is read from the median week of a week, month or "
                "quarter. Choose one of those grains to see it.", icon=":material/info:")
    else:
        frame = delivery_frame()
        left, right = st.columns(2)
        with left:
            components.trend_chart(frame, ["deployment_days_per_week"], view, key="deploy-days")
        with right:
            # kpis.dora.deployment_frequency's table, from the deployment days per week of the frame above
            weeks = weeks_later()
            freq = None if frame is None or weeks is None else dora.with_buckets(
                frame.loc[frame["kpi"] == "deployment_days_per_week", ["period", "value", "n"]], weeks)
            if freq is not None and len(freq):
                now = freq[freq["period"] == view.period]
                bucket = now["bucket"].iloc[0] if len(now) else None
                st.metric(f"DORA bucket, {view.period_text(view.period)}",
                          bucket.capitalize() if isinstance(bucket, str) else "No bucket",
                          help="From the median week's deployment days; the rule is under the table.")
            components.table(None if freq is None else freq.iloc[::-1], f"deployment frequency {span}",
                             key="deploy-freq", kind="deployment_frequency", order="newest first",
                             empty=f"No production deployments in {span} match the filters.")
        st.caption(components.md_text(dora.FREQUENCY_RULE))

with components.section("Deployment rework"):
    st.subheader("Deployment rework")
    frame = delivery_frame()
    left, right = st.columns(2)
    with left:
        components.trend_chart(frame, ["deployment_rework_rate"], view, key="rework")
    with right:
        st.caption("DORA's fifth metric, the second of instability beside the change failure rate: unplanned "
                   "production deployments made because of an incident (a hotfix, whether or not it names an "
                   "incident; a deployment that names the incident it fixes; one an incident names as its fix) "
                   "over all production deployments. The Unplanned column of the table below marks them.")

with components.section("Trailing window"):
    components.trailing_window(view, WINDOW_KPIS, key="delivery-window")

with components.section("The deployments behind the numbers"):
    st.subheader("The deployments behind the numbers")
    scope = st.segmented_control("Show", [f"period {view.period}", f"date range {span}"], key="delivery_scope",
                                 default=f"period {view.period}", required=True) or f"period {view.period}"
    whole = scope.startswith("date range")
    args = deployment_args(whole)
    rows = data.query("deployments", **args, limit=components.TABLE_ROWS_MAX)
    st.caption("Production deployments, newest first; click a column to sort. Failed = status failed or rolled "
               "back, a hotfix, a regression, or named by an incident (its id is in the Incidents column).")
    components.table(
        rows, f"deployments {view.period if not whole else span}", key="deployments", kind="deployments",
        order="newest first", everything=lambda: data.fetch("deployments", **args),
        empty=f"No production deployments in {view.period if not whole else span} match the filters.")
