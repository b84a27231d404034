"""Serving & pipelines: serving health and its error budget, pipeline runs, model coverage, drift detection time."""

import streamlit as st

from kpis import charts, periods
from kpis import format as fmt
from ui import components, data, state

view = state.current()
components.page_header("Serving & pipelines", view, f"Trends {components.span_text(view)}")
components.stop_if_no_data(view, "serving")

span = components.span_text(view)
SERVING = ["latency_p95_ms", "latency_p99_ms", "error_rate", "availability", "error_budget_remaining"]
PIPELINES = ["pipeline_success_rate", "training_success_rate", "data_freshness_adherence",
             "data_validation_failure_rate", "retraining_sla_adherence", "ci_duration_median_hours",
             "ci_duration_p90_hours", "reproducibility_rate"]
COVERAGE = ["monitoring_coverage", "monitoring_coverage_tier1", "drift_monitoring_coverage",
            "drift_monitoring_coverage_tier1", "documentation_completeness"]
DRIFT = ["drift_detection_time_median_hours"]
ALL = SERVING + PIPELINES + COVERAGE + DRIFT
# The profile's error budget target names its SLO (lead: 99.5%); the budget is computed against that one.
SLO = data.slo(view.profile)



def trends():
    """The page's KPIs over the range (each section asks; cached after the first)."""
    return data.query("compute", **view.compute_args(kpis=ALL, slo=SLO))


def recent_periods():
    """The cards: the chosen period and the eleven before it (the previous value, and the latest inventory
    snapshot)."""
    first = periods.shift(view.period_start, view.grain, -11)
    return data.query("compute", **view.compute_args(start=first, end=view.period_last_day, kpis=ALL, slo=SLO))


loaded = data.query("source_counts")  # None while another process holds the file and nothing was loaded yet


def has(source: str) -> bool:
    """Whether the database holds the rows behind a section (when it cannot tell, show the section)."""
    return loaded is None or loaded.get(source, 0) > 0


def not_loaded(text: str) -> None:
    st.info(text, icon=":material/upload_file:")


st.caption("[Serving health](#serving-health) · [Pipelines](#pipelines) · [Model coverage](#model-coverage) · "
           "[Drift detection time](#drift-detection-time)")

# --- serving health ---------------------------------------------------------------------------

with components.section("Serving health"):
    st.subheader("Serving health", anchor="serving-health")
    if not has("serving_metrics"):
        not_loaded("No serving metrics loaded — ingest a predictions export with latency, errors or availability "
                   "(canonical CSV, CloudWatch or Prometheus JSON) on the Data page.")
    else:
        frame, recent = trends(), recent_periods()
        components.kpi_cards(recent, SERVING, view.period, view.previous_period, per_row=3)
        whose = f"the {components.md_text(view.profile)} profile's" if view.profile and data.profile_info(view.profile).get("slo") else \
            "the engine default"
        st.caption(f"Availability is judged against an SLO of {fmt.fmt_percent(SLO, 1)} ({whose}; the data carries "
                   f"no per-service SLO): the error budget is the {fmt.fmt_percent(1 - SLO, 1)} of "
                   f"requests allowed to fail, and budget remaining = 1 − (1 − availability) ÷ "
                   f"{fmt.fmt_percent(1 - SLO, 1)}. Below 0 the budget is overspent.")
        left, right = st.columns(2)
        with left:
            components.trend_chart(frame, ["latency_p95_ms", "latency_p99_ms"], view, key="srv-latency",
                                   title="Inference latency p95 and p99 (ms) — lower is better",
                                   names={"latency_p95_ms": "p95", "latency_p99_ms": "p99"})
        with right:
            components.trend_chart(frame, ["error_rate"], view, key="srv-errors", names={"error_rate": "error rate"})
        left, right = st.columns(2)
        with left:
            components.trend_chart(frame, ["availability"], view, key="srv-availability",
                                   title=f"Availability — higher is better (SLO {fmt.fmt_percent(SLO, 1)})",
                                   names={"availability": "availability"})
        with right:
            if not components.no_data_message(["error_budget_remaining"], frame, span):
                components.chart(charts.error_budget,
                    frame, f"Error budget remaining (SLO {fmt.fmt_percent(SLO, 1)}) — higher is better", SLO,
                    partial=view.in_progress, first=view.first_partial,
                    key="srv-budget")

        st.subheader(f"Services in {view.period_text(view.period)}")
        services = data.query("serving_by_service", start=view.period_start, end=view.period_end,
                              filters=view.filters, slo=SLO)
        st.caption("Worst error budget first; click a column to sort. Requests are the total requests where the "
                   "source reports them, else predictions (the weights of the latency and availability averages).")
        components.table(services, f"serving health by service {view.period}", key="srv-table",
                         kind="serving_by_service", empty=f"No serving metrics in {view.period} match the filters.",
                         column_config={"error_budget_remaining": st.column_config.Column(
                             "Error budget left", help=f"1 - (1 - availability) / (1 - SLO), SLO {fmt.fmt_percent(SLO, 1)}")})

# --- pipelines --------------------------------------------------------------------------------

with components.section("Pipelines"):
    st.subheader("Pipelines", anchor="pipelines")
    if not has("pipeline_runs"):
        not_loaded("No pipeline runs loaded — ingest a pipeline_runs export (run_id, pipeline, kind, status, "
                   "started_at, ...; or GitHub Actions runs) on the Data page.")
    else:
        frame, recent = trends(), recent_periods()
        components.kpi_cards(recent, PIPELINES, view.period, view.previous_period, per_row=3)
        left, right = st.columns(2)
        with left:
            components.trend_chart(frame, ["pipeline_success_rate", "training_success_rate"], view, key="pl-success",
                                   title="Pipeline success rate, all runs and training — higher is better",
                                   names={"pipeline_success_rate": "all pipelines", "training_success_rate": "training"})
        with right:
            components.trend_chart(frame, ["data_freshness_adherence"], view, key="pl-fresh",
                                   names={"data_freshness_adherence": "adherence"})
        left, right = st.columns(2)
        with left:
            components.trend_chart(frame, ["data_validation_failure_rate"], view, key="pl-validation",
                                   names={"data_validation_failure_rate": "failure rate"})
        with right:
            components.trend_chart(frame, ["retraining_sla_adherence"], view, key="pl-retrain",
                                   names={"retraining_sla_adherence": "adherence"})
        left, right = st.columns(2)
        with left:
            components.trend_chart(frame, ["ci_duration_median_hours", "ci_duration_p90_hours"], view, key="pl-ci",
                                   title="CI pipeline duration, median and p90 — shorter is better",
                                   names={"ci_duration_median_hours": "median", "ci_duration_p90_hours": "p90"})
        with right:
            components.trend_chart(frame, ["reproducibility_rate"], view, key="pl-repro",
                                   names={"reproducibility_rate": "reproducible"})

        st.subheader(f"The runs behind the numbers, {view.period_text(view.period)}")
        runs = data.query("pipeline_runs", start=view.period_start, end=view.period_end, filters=view.filters,
                          tz=view.tz)
        if runs is not None and not runs.empty:
            flagged = runs[runs["flags"] != ""]
            counts = flagged["flags"].str.split(", ").explode().value_counts()
            summary = ", ".join(f"{n:,} {flag}" for flag, n in counts.items())
            st.caption(f"{len(runs):,} runs started (or scheduled) in {view.period}; "
                       + (f"{len(flagged):,} with a problem: {summary}." if len(flagged) else "none with a problem.")
                       + " Runs with a problem come first; click a column to sort.")
            show = st.segmented_control("Show", ["all runs", "runs with a problem"], default="all runs",
                                        key="pl_runs_show", required=True) or "all runs"
            if show == "runs with a problem":
                runs = flagged
        components.table(runs, f"pipeline runs {view.period}", key="pl-runs", kind="pipeline_runs",
                         order="runs with a problem first, then newest",
                         empty=f"No pipeline runs in {view.period} match the filters.")

# --- model coverage ---------------------------------------------------------------------------

with components.section("Model coverage"):
    st.subheader("Model coverage", anchor="model-coverage")
    if not has("models"):
        not_loaded("No model inventory loaded — ingest a models export (model, service, team, tier, monitored, "
                   "drift_monitored, documented, as_of) on the Data page.")
    else:
        frame, recent = trends(), recent_periods()
        # Coverage is a snapshot: the cards show the latest period up to the chosen one that has an inventory.
        snap_periods = []
        if recent is not None:
            cov = recent[recent["kpi"].isin(COVERAGE) & recent["value"].notna()]
            snap_periods = sorted(set(cov["period"]), key=lambda p: periods.parse_label(p)[1])
        if not snap_periods:
            st.info(f"No model inventory snapshot in {view.period} or the 11 periods before it that matches the "
                    "filters.", icon=":material/info:")
        else:
            shown = snap_periods[-1]
            before = snap_periods[-2] if len(snap_periods) > 1 else view.previous_period
            if shown != view.period:
                st.caption(f"No inventory snapshot in {view.period}: showing the latest before it ({shown}), "
                           f"compared with the snapshot before that ({before}).")
            else:
                st.caption(f"The latest inventory snapshot in {view.period}, compared with the one before ({before}).")
            components.kpi_cards(recent, COVERAGE, shown, before, per_row=3)
        coverage_frame = frame
        if frame is not None:
            # Trend over snapshots: only the periods that have an inventory, so the lines join up.
            with_snapshot = set(frame.loc[frame["kpi"].isin(COVERAGE) & frame["value"].notna(), "period"])
            coverage_frame = frame[frame["period"].isin(with_snapshot)]
        left, right = st.columns(2)
        with left:
            components.trend_chart(coverage_frame, ["monitoring_coverage_tier1", "monitoring_coverage"], view,
                                   key="cov-monitoring", title="Monitoring coverage — higher is better",
                                   names={"monitoring_coverage": "all models", "monitoring_coverage_tier1": "tier-1"})
        with right:
            components.trend_chart(coverage_frame, ["drift_monitoring_coverage_tier1", "drift_monitoring_coverage"], view,
                                   key="cov-drift", title="Drift detection coverage — higher is better",
                                   names={"drift_monitoring_coverage": "all models",
                                          "drift_monitoring_coverage_tier1": "tier-1"})
        left, right = st.columns(2)
        with left:
            components.trend_chart(coverage_frame, ["documentation_completeness"], view, key="cov-docs",
                                   names={"documentation_completeness": "documented"})
        with right:
            st.caption("One point per period with an inventory snapshot (the latest snapshot in each period); "
                       "production models only. Where the profile's target is on tier-1 models, the band is that "
                       "target and the tier-1 line is the one judged.")

        st.subheader("The models behind the numbers")
        models = data.query("models_inventory", start=view.period_start, end=view.period_end, filters=view.filters)
        where = view.period
        if models is not None and models.empty:
            models = data.query("models_inventory", start=None, end=view.period_end, filters=view.filters)
            where = f"the latest snapshot before the end of {view.period}"
        if models is not None and not models.empty:
            as_of = models["as_of"].iloc[0]
            gaps = int((models["gaps"] != "").sum())
            st.caption(f"Inventory as of {as_of:%Y-%m-%d} ({where}): {len(models):,} production models, {gaps:,} with "
                       "a coverage gap. Uncovered models first (most gaps, tier-1 first).")
        components.table(models, f"model inventory {view.period}", key="cov-models", kind="models",
                         empty=f"No production models in the inventory up to {view.period} match the filters.")

# --- drift ------------------------------------------------------------------------------------

with components.section("Drift detection time"):
    st.subheader("Drift detection time", anchor="drift-detection-time")
    if not has("drift_incidents"):
        not_loaded("No drift incidents loaded — ML incidents of category drift come with an incidents export "
                   "(canonical CSV, PagerDuty, Opsgenie or Jira SM) on the Data page.")
    else:
        frame, recent = trends(), recent_periods()
        left, right = st.columns([2, 1])
        with left:
            components.trend_chart(frame, DRIFT, view, key="drift-time",
                                   title="Drift detection time (median), onset to detection — lower is better",
                                   names={"drift_detection_time_median_hours": "median"})
        with right:
            components.kpi_cards(recent, DRIFT, view.period, view.previous_period, per_row=1, sparkline=False)
            st.caption("Median of detected_at − started_at over ML incidents of category drift, by the period they "
                       "started in; the incidents are on the Reliability page.")
