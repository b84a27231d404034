"""The KPI catalog: every KPI declared once, as data.

A KPI is an aggregate over one *source* relation (kpis/sql/<source>.sql), which
yields one row per event with its period timestamp, its dimensions and derived
columns (lead_time_hours, failed, ...). ``value`` and ``n`` are SQL aggregate
expressions over that relation. A ``ratio`` KPI divides two other KPIs of the
same period and group. Adding a KPI is adding one entry here (and, if it needs
a new derived column, a line in its source SQL).

The README's KPI table is checked against this catalog by a test.
"""

from __future__ import annotations

from dataclasses import dataclass

LOWER = "lower"
HIGHER = "higher"
NEUTRAL = "neutral"  # volume KPIs: more is neither good nor bad by itself

HOURS = "hours"
RATIO = "ratio"
COUNT = "count"
PER_WEEK = "per_week"
CURRENCY = "currency"  # the record's unit is the cost currency (USD, EUR, ...)
PREDICTIONS_UNIT = "predictions"
MS = "ms"  # latency stays in milliseconds, the unit every serving stack reports


@dataclass(frozen=True)
class KPI:
    id: str
    title: str
    unit: str
    direction: str
    source: str  # a file in kpis/sql/ (deployments, changes, incidents_started, ..., pipelines, models) or "ratio"
    definition: str
    period_by: str
    value: str = ""  # SQL aggregate over the source relation
    n: str = "count(*)"  # SQL aggregate: the events the value rests on
    ratio: tuple[str, str, float] | None = None  # (numerator kpi, denominator kpi, scale)
    family: str = ""  # delivery | reliability | cost | serving | pipelines | coverage
    # --- presentation: how the card, the review pack, the CLI table and the charts write this KPI ---
    decimals: int = -1  # digits after the point in the display unit (15.3 d, 12.5%, $0.0092); -1 = not set
    no_data: str = ""  # what is missing when the value is null: "No production deployments in {period}"
    axis_title: str = ""  # the quantity on a chart axis, without its unit ("lead time" -> "lead time (days)")
    chart_group: str = ""  # KPIs with the same group share one chart (median and p90); "" = a chart of its own
    minutes_under_hours: float = 1.0  # durations shorter than this many hours are written in minutes
    # An optional table the KPI is computed from alone (lead time per change: ``changes``). Without its rows the
    # KPI is null everywhere: the scorecard and the review pack leave it out rather than show it empty.
    optional_table: str = ""

    @property
    def chart(self) -> str:
        """The chart this KPI is drawn on: its chart_group, or its own id."""
        return self.chart_group or self.id


# The families in the order pages and the review pack show them, with their titles.
FAMILY_TITLES: dict[str, str] = {"delivery": "Delivery", "reliability": "Reliability", "cost": "Cost",
                                 "serving": "Serving health", "pipelines": "Pipelines", "coverage": "Model coverage"}

# The deployments the lead times are over (per deployment and per change): successful ones. The drill-downs mark
# their counted rows with the same condition.
SUCCESSFUL_DEPLOYMENT = "status = 'success'"
_SUCCESS = SUCCESSFUL_DEPLOYMENT

CATALOG: tuple[KPI, ...] = (
    KPI(
        id="deployment_count",
        title="Production deployments",
        unit=COUNT,
        direction=NEUTRAL,
        source="deployments",
        family="delivery",
        decimals=0,
        no_data="No production deployments in {period}",
        axis_title="deployments",
        definition="Production deployments with status success.",
        period_by="deployed_at",
        value=f"count(*) FILTER (WHERE {_SUCCESS})",
    ),
    KPI(
        id="deployments_per_week",
        title="Deployments per week",
        unit=PER_WEEK,
        direction=HIGHER,
        source="deployments",
        family="delivery",
        decimals=1,
        no_data="No production deployments in {period}",
        axis_title="deployments per week",
        definition="deployment_count divided by the number of weeks in the period (days / 7).",
        period_by="deployed_at",
        value=f"count(*) FILTER (WHERE {_SUCCESS}) / any_value(weeks_in_period)",
    ),
    KPI(
        id="lead_time_median_hours",
        title="Lead time for change (median)",
        unit=HOURS,
        direction=LOWER,
        source="deployments",
        family="delivery",
        decimals=1,
        no_data="No successful deployments with a start time in {period}",
        axis_title="lead time",
        chart_group="lead_time",
        definition=(
            "Median (interpolated) of deployed_at - start over successful production deployments "
            "that have a start; start is change_started_at, or approved_at where the profile says "
            "experiment to production."
        ),
        period_by="deployed_at",
        value=f"quantile_cont(lead_time_hours, 0.5) FILTER (WHERE {_SUCCESS})",
        n=f"count(lead_time_hours) FILTER (WHERE {_SUCCESS})",
    ),
    KPI(
        id="lead_time_p90_hours",
        title="Lead time for change (p90)",
        unit=HOURS,
        direction=LOWER,
        source="deployments",
        family="delivery",
        decimals=1,
        no_data="No successful deployments with a start time in {period}",
        axis_title="lead time",
        chart_group="lead_time",
        definition="90th percentile (continuous) of the same lead times.",
        period_by="deployed_at",
        value=f"quantile_cont(lead_time_hours, 0.9) FILTER (WHERE {_SUCCESS})",
        n=f"count(lead_time_hours) FILTER (WHERE {_SUCCESS})",
    ),
    KPI(
        id="change_failure_rate",
        title="Change failure rate",
        unit=RATIO,
        direction=LOWER,
        source="deployments",
        family="delivery",
        decimals=1,
        no_data="No production deployments in {period}",
        axis_title="failed deployments",
        definition=(
            "Failed / all production deployments; failed = status failed or rolled_back, or "
            "is_hotfix, or caused_regression, or named by an incident's deployment_id "
            "(counted once however many incidents name it)."
        ),
        period_by="deployed_at",
        value="avg(CASE WHEN failed THEN 1 ELSE 0 END)",
    ),
    KPI(
        id="rollback_rate",
        title="Rollback rate",
        unit=RATIO,
        direction=LOWER,
        source="deployments",
        family="delivery",
        decimals=1,
        no_data="No production deployments in {period}",
        axis_title="rolled-back deployments",
        definition="Deployments with status rolled_back / all production deployments.",
        period_by="deployed_at",
        value="avg(CASE WHEN status = 'rolled_back' THEN 1 ELSE 0 END)",
    ),
    KPI(
        id="deployment_days_per_week",
        title="Deployment days per week",
        unit=PER_WEEK,
        direction=HIGHER,
        source="deployments",
        family="delivery",
        decimals=1,
        no_data="No production deployments in {period}",
        axis_title="deployment days per week",
        definition=(
            "Distinct days (in the reporting time zone) with a successful production deployment / weeks in "
            "the period (days / 7). DORA's bucket (on demand / daily / weekly / monthly / yearly) comes from "
            "the median week: kpis.dora.FREQUENCY_RULE."
        ),
        period_by="deployed_at",
        value=(f"count(DISTINCT CASE WHEN {_SUCCESS} THEN deploy_day END) / any_value(weeks_in_period)"),
    ),
    KPI(
        id="deployment_rework_rate",
        title="Deployment rework rate",
        unit=RATIO,
        direction=LOWER,
        source="deployments",
        family="delivery",
        decimals=1,
        no_data="No production deployments in {period}",
        axis_title="unplanned deployments",
        definition=(
            "Unplanned production deployments made because of an incident / all production deployments; "
            "unplanned = is_hotfix (named incident or not), or fixes_incident_id given, or named by an "
            "incident's fix_deployment_id."
        ),
        period_by="deployed_at",
        value="avg(CASE WHEN rework THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END)",
    ),
    # --- Lead time per change (the optional changes table, kpis/sql/changes.sql) ---------------------------
    KPI(
        id="change_lead_time_median_hours",
        title="Lead time per change (median)",
        unit=HOURS,
        direction=LOWER,
        source="changes",
        family="delivery",
        decimals=1,
        no_data="No changes shipped by successful deployments in {period}",
        axis_title="lead time per change",
        chart_group="change_lead_time",
        optional_table="changes",
        definition=(
            "Median (interpolated) of deployed_at - authored_at (the change's first commit) over the changes of "
            "the optional changes table shipped by successful production deployments (the same deployments as "
            "lead_time_median_hours), by the deployment's period; a change in several such deployments counts "
            "in each."
        ),
        period_by="deployed_at of the deployment that shipped it",
        value=f"quantile_cont(change_lead_time_hours, 0.5) FILTER (WHERE {_SUCCESS})",
        n=f"count(change_lead_time_hours) FILTER (WHERE {_SUCCESS})",
    ),
    KPI(
        id="change_lead_time_mean_hours",
        title="Lead time per change (mean)",
        unit=HOURS,
        direction=LOWER,
        source="changes",
        family="delivery",
        decimals=1,
        no_data="No changes shipped by successful deployments in {period}",
        axis_title="lead time per change",
        chart_group="change_lead_time",
        optional_table="changes",
        definition="Mean of the same lead times per change.",
        period_by="deployed_at of the deployment that shipped it",
        value=f"avg(change_lead_time_hours) FILTER (WHERE {_SUCCESS})",
        n=f"count(change_lead_time_hours) FILTER (WHERE {_SUCCESS})",
    ),
    KPI(
        id="change_lead_time_p90_hours",
        title="Lead time per change (p90)",
        unit=HOURS,
        direction=LOWER,
        source="changes",
        family="delivery",
        decimals=1,
        no_data="No changes shipped by successful deployments in {period}",
        axis_title="lead time per change",
        chart_group="change_lead_time",
        optional_table="changes",
        definition="90th percentile (continuous) of the same lead times per change.",
        period_by="deployed_at of the deployment that shipped it",
        value=f"quantile_cont(change_lead_time_hours, 0.9) FILTER (WHERE {_SUCCESS})",
        n=f"count(change_lead_time_hours) FILTER (WHERE {_SUCCESS})",
    ),
    KPI(
        id="coding_time_median_hours",
        title="Coding time (median)",
        unit=HOURS,
        direction=LOWER,
        source="changes",
        family="delivery",
        decimals=1,
        no_data="No changes with a pull request opened, shipped in {period}",
        axis_title="phase of lead time",
        chart_group="change_phases",
        optional_table="changes",
        definition=(
            "Median (interpolated) of opened_at - authored_at (first commit to pull request opened) over the same "
            "changes that have opened_at."
        ),
        period_by="deployed_at of the deployment that shipped it",
        value=f"quantile_cont(coding_hours, 0.5) FILTER (WHERE {_SUCCESS})",
        n=f"count(coding_hours) FILTER (WHERE {_SUCCESS})",
    ),
    KPI(
        id="review_time_median_hours",
        title="Review time (median)",
        unit=HOURS,
        direction=LOWER,
        source="changes",
        family="delivery",
        decimals=1,
        no_data="No changes with a pull request opened and merged, shipped in {period}",
        axis_title="phase of lead time",
        chart_group="change_phases",
        optional_table="changes",
        definition="Median (interpolated) of merged_at - opened_at over the same changes that have both.",
        period_by="deployed_at of the deployment that shipped it",
        value=f"quantile_cont(review_hours, 0.5) FILTER (WHERE {_SUCCESS})",
        n=f"count(review_hours) FILTER (WHERE {_SUCCESS})",
    ),
    KPI(
        id="merge_to_deploy_median_hours",
        title="Merge to deploy (median)",
        unit=HOURS,
        direction=LOWER,
        source="changes",
        family="delivery",
        decimals=1,
        no_data="No merged changes shipped in {period}",
        axis_title="phase of lead time",
        chart_group="change_phases",
        optional_table="changes",
        definition="Median (interpolated) of deployed_at - merged_at over the same changes that have merged_at.",
        period_by="deployed_at of the deployment that shipped it",
        value=f"quantile_cont(merge_to_deploy_hours, 0.5) FILTER (WHERE {_SUCCESS})",
        n=f"count(merge_to_deploy_hours) FILTER (WHERE {_SUCCESS})",
    ),
    KPI(
        id="incident_count",
        title="ML incidents",
        unit=COUNT,
        direction=LOWER,
        source="incidents_started",
        family="reliability",
        decimals=0,
        no_data="No ML incidents started in {period}",
        axis_title="incidents",
        definition="Incidents with ml_related true, by the period they started in.",
        period_by="started_at",
        value="count(*)",
    ),
    KPI(
        id="mttr_hours",
        title="Mean time to recover",
        unit=HOURS,
        direction=LOWER,
        source="incidents_resolved",
        family="reliability",
        decimals=1,
        no_data="No incidents resolved in {period}",
        axis_title="time to recover",
        chart_group="time_to_recover",
        definition="Mean of resolved_at - started_at over incidents resolved in the period.",
        period_by="resolved_at",
        value="avg(recovery_hours)",
    ),
    KPI(
        id="mttr_median_hours",
        title="Time to recover (median)",
        unit=HOURS,
        direction=LOWER,
        source="incidents_resolved",
        family="reliability",
        decimals=1,
        no_data="No incidents resolved in {period}",
        axis_title="time to recover",
        chart_group="time_to_recover",
        definition="Median (interpolated) of resolved_at - started_at over incidents resolved in the period.",
        period_by="resolved_at",
        value="quantile_cont(recovery_hours, 0.5)",
    ),
    KPI(
        id="ttd_median_hours",
        title="Time to detect (median)",
        unit=HOURS,
        direction=LOWER,
        source="incidents_started",
        family="reliability",
        decimals=1,
        no_data="No incidents with a detection time in {period}",
        axis_title="time to detect",
        definition="Median (interpolated) of detected_at - started_at over incidents that have detected_at.",
        period_by="started_at",
        value="quantile_cont(detect_hours, 0.5)",
        n="count(detect_hours)",
    ),
    KPI(
        id="open_incidents",
        title="Open incidents at period end",
        unit=COUNT,
        direction=LOWER,
        source="incidents_open",
        family="reliability",
        decimals=0,
        no_data="No incidents reported by the end of {period}",
        axis_title="open incidents",
        definition=(
            "Incidents started by the period's end and not resolved by then; n is the number of "
            "incidents started by the period's end."
        ),
        period_by="end of period",
        value="count(*) FILTER (WHERE is_open)",
    ),
    KPI(
        id="failed_deployment_recovery_median_hours",
        title="Failed deployment recovery time (median)",
        unit=HOURS,
        direction=LOWER,
        source="deployments",
        family="reliability",
        decimals=1,
        no_data="No failed deployments recovered from in {period}",
        axis_title="recovery time",
        chart_group="deployment_recovery",
        definition=(
            "Median (interpolated) of recovered_at - deployed_at over failed production deployments that "
            "recovered; failed = status failed or rolled_back, or named by an incident; recovered_at = the "
            "first of its rolled_back_at, the next successful production deployment of the same service, "
            "and the resolved_at of the last incident naming it. Those not yet recovered are listed with "
            "their age (kpis.details.failed_deployments), never counted as 0."
        ),
        period_by="deployed_at of the failed deployment",
        value="quantile_cont(recovery_hours, 0.5)",
        n="count(recovery_hours)",
    ),
    KPI(
        id="failed_deployment_recovery_mean_hours",
        title="Failed deployment recovery time (mean)",
        unit=HOURS,
        direction=LOWER,
        source="deployments",
        family="reliability",
        decimals=1,
        no_data="No failed deployments recovered from in {period}",
        axis_title="recovery time",
        chart_group="deployment_recovery",
        definition="Mean of the same recovery times.",
        period_by="deployed_at of the failed deployment",
        value="avg(recovery_hours)",
        n="count(recovery_hours)",
    ),
    KPI(
        id="inference_cost",
        title="Inference cost",
        unit=CURRENCY,
        direction=LOWER,
        source="costs",
        family="cost",
        decimals=0,
        no_data="No inference cost lines in {period}",
        axis_title="inference cost",
        chart_group="cost_and_volume",
        definition="Sum of amount where category is inference (lines without a category count as inference).",
        period_by="date",
        value="sum(amount) FILTER (WHERE is_inference)",
        n="sum(lines) FILTER (WHERE is_inference)",
    ),
    KPI(
        id="predictions",
        title="Predictions",
        unit=PREDICTIONS_UNIT,
        direction=NEUTRAL,
        source="predictions",
        family="cost",
        decimals=0,
        no_data="No prediction volume in {period}",
        axis_title="predictions",
        chart_group="cost_and_volume",
        definition="Sum of predictions (or requests, where the source counts requests).",
        period_by="date",
        value="sum(predictions)",
        n="sum(rows)",
    ),
    KPI(
        id="cost_per_1k_predictions",
        title="Cost per 1k predictions",
        unit=CURRENCY,
        direction=LOWER,
        source="ratio",
        family="cost",
        decimals=4,
        no_data="No inference cost and prediction volume in {period}",
        axis_title="cost per 1k predictions",
        definition="inference_cost / predictions x 1000, per period and group; null when predictions is 0.",
        period_by="date",
        ratio=("inference_cost", "predictions", 1000.0),
    ),
    KPI(
        id="training_cost_per_run",
        title="Training cost per run",
        unit=CURRENCY,
        direction=LOWER,
        source="costs",
        family="cost",
        decimals=0,
        no_data="No training runs with cost in {period}",
        axis_title="cost per training run",
        definition=(
            "Training cost of lines that name a run_id / distinct run_id with training cost in the period."
        ),
        period_by="date",
        # costs.sql adds the distinct runs as rows whose run counts them (1 per distinct run from
        # cost_runs.sql, or their number per period and group from cost_run_teams.sql)
        value="sum(amount) FILTER (WHERE is_training_run) / nullif(sum(run), 0)",
        n="coalesce(sum(run), 0)",
    ),
)

# --- Serving health (predictions table: one row per service per day) --------

# kpis/sql/prediction_days.sql gives each service-day's traffic-weighted sums (p95_w = p95 x w, p95_weight = w
# where a p95 is reported, p95_days = 1 there, ...), so each of these is a ratio of sums, the same over the
# service-days or their daily rollup.
def _weighted(col: str) -> str:
    return f"sum({col}_w) / nullif(sum({col}_weight), 0)"


_AVAILABILITY = "sum(good_w) / nullif(sum(avail_w), 0)"

CATALOG += (
    KPI(
        id="latency_p95_ms",
        title="Inference latency p95",
        unit=MS,
        direction=LOWER,
        source="serving",
        family="serving",
        decimals=0,
        no_data="No serving metrics in {period}",
        axis_title="latency",
        chart_group="latency",
        definition="Traffic-weighted mean of the daily p95 latencies (weights: the day's requests, else predictions).",
        period_by="date",
        value=_weighted("p95"),
        n="sum(p95_days)",
    ),
    KPI(
        id="latency_p99_ms",
        title="Inference latency p99",
        unit=MS,
        direction=LOWER,
        source="serving",
        family="serving",
        decimals=0,
        no_data="No serving metrics in {period}",
        axis_title="latency",
        chart_group="latency",
        definition="Traffic-weighted mean of the daily p99 latencies.",
        period_by="date",
        value=_weighted("p99"),
        n="sum(p99_days)",
    ),
    KPI(
        id="error_rate",
        title="Inference error rate",
        unit=RATIO,
        direction=LOWER,
        source="serving",
        family="serving",
        decimals=2,
        no_data="No serving metrics in {period}",
        axis_title="failed requests",
        definition="Sum of errors / sum of requests (else predictions) over the days that report errors.",
        period_by="date",
        value="sum(errors) / nullif(sum(errors_weight), 0)",
        n="sum(errors_days)",
    ),
    KPI(
        id="availability",
        title="Availability (SLO attainment)",
        unit=RATIO,
        direction=HIGHER,
        source="serving",
        family="serving",
        decimals=2,
        no_data="No serving metrics in {period}",
        axis_title="requests served",
        definition=(
            "Good / total requests over the period; days that give only an availability ratio count "
            "it weighted by their traffic."
        ),
        period_by="date",
        value=_AVAILABILITY,
        n="sum(avail_days)",
    ),
    KPI(
        id="error_budget_remaining",
        title="Error budget remaining",
        unit=RATIO,
        direction=HIGHER,
        source="serving",
        family="serving",
        decimals=1,
        no_data="No serving metrics in {period}",
        axis_title="error budget left",
        definition=(
            "1 - (1 - availability) / (1 - SLO), with the SLO 99.9% unless set (--slo); negative when the "
            "budget is overspent."
        ),
        period_by="date",
        value=f"1 - (1 - {_AVAILABILITY}) / (1 - $slo)",
        n="sum(avail_days)",
    ),
    # --- Pipelines (pipeline_runs) ------------------------------------------
    KPI(
        id="pipeline_success_rate",
        title="Pipeline success rate",
        unit=RATIO,
        direction=HIGHER,
        source="pipelines",
        family="pipelines",
        decimals=1,
        no_data="No pipeline runs in {period}",
        axis_title="successful runs",
        chart_group="pipeline_success",
        definition="Runs with status success / finished runs (success, failed or cancelled) of every kind.",
        period_by="started_at (scheduled_at when it never started)",
        value="avg(CASE WHEN status = 'success' THEN 1 ELSE 0 END) FILTER (WHERE status <> 'running')",
        n="count(*) FILTER (WHERE status <> 'running')",
    ),
    KPI(
        id="training_success_rate",
        title="Training pipeline success rate",
        unit=RATIO,
        direction=HIGHER,
        source="pipelines",
        family="pipelines",
        decimals=1,
        no_data="No pipeline runs in {period}",
        axis_title="successful runs",
        chart_group="pipeline_success",
        definition="The same, over training runs only.",
        period_by="started_at (scheduled_at when it never started)",
        value=(
            "avg(CASE WHEN status = 'success' THEN 1 ELSE 0 END) "
            "FILTER (WHERE status <> 'running' AND kind = 'training')"
        ),
        n="count(*) FILTER (WHERE status <> 'running' AND kind = 'training')",
    ),
    KPI(
        id="data_freshness_adherence",
        title="Data freshness SLA adherence",
        unit=RATIO,
        direction=HIGHER,
        source="pipelines",
        family="pipelines",
        decimals=1,
        no_data="No pipeline runs in {period}",
        axis_title="runs with fresh data",
        definition="Runs whose input data met its freshness SLA (data_fresh) / runs that report data_fresh.",
        period_by="started_at (scheduled_at when it never started)",
        value="avg(CASE WHEN data_fresh THEN 1 ELSE 0 END) FILTER (WHERE data_fresh IS NOT NULL)",
        n="count(data_fresh)",
    ),
    KPI(
        id="data_validation_failure_rate",
        title="Data validation failure rate",
        unit=RATIO,
        direction=LOWER,
        source="pipelines",
        family="pipelines",
        decimals=1,
        no_data="No pipeline runs in {period}",
        axis_title="runs failing validation",
        definition="Runs whose data validation failed / runs that report validation_passed.",
        period_by="started_at (scheduled_at when it never started)",
        value=(
            "avg(CASE WHEN validation_passed THEN 0 ELSE 1 END) FILTER (WHERE validation_passed IS NOT NULL)"
        ),
        n="count(validation_passed)",
    ),
    KPI(
        id="retraining_sla_adherence",
        title="Retraining SLA adherence",
        unit=RATIO,
        direction=HIGHER,
        source="pipelines",
        family="pipelines",
        decimals=1,
        no_data="No pipeline runs in {period}",
        axis_title="training runs on time",
        definition="Scheduled training runs completed on time (on_time) / training runs that report on_time.",
        period_by="started_at (scheduled_at when it never started)",
        value="avg(CASE WHEN on_time THEN 1 ELSE 0 END) FILTER (WHERE kind = 'training' AND on_time IS NOT NULL)",
        n="count(on_time) FILTER (WHERE kind = 'training')",
    ),
    KPI(
        id="ci_duration_median_hours",
        title="CI pipeline duration (median)",
        unit=HOURS,
        direction=LOWER,
        source="pipelines",
        family="pipelines",
        decimals=1,
        no_data="No pipeline runs in {period}",
        axis_title="CI duration",
        chart_group="ci_duration",
        minutes_under_hours=2.0,  # a CI run of 1.5 h reads as 90 min
        definition="Median (interpolated) of finished_at - started_at over CI runs.",
        period_by="started_at",
        value="quantile_cont(duration_hours, 0.5) FILTER (WHERE kind = 'ci')",
        n="count(duration_hours) FILTER (WHERE kind = 'ci')",
    ),
    KPI(
        id="ci_duration_p90_hours",
        title="CI pipeline duration (p90)",
        unit=HOURS,
        direction=LOWER,
        source="pipelines",
        family="pipelines",
        decimals=1,
        no_data="No pipeline runs in {period}",
        axis_title="CI duration",
        chart_group="ci_duration",
        minutes_under_hours=2.0,  # a CI run of 1.5 h reads as 90 min
        definition="90th percentile (continuous) of the same.",
        period_by="started_at",
        value="quantile_cont(duration_hours, 0.9) FILTER (WHERE kind = 'ci')",
        n="count(duration_hours) FILTER (WHERE kind = 'ci')",
    ),
    KPI(
        id="reproducibility_rate",
        title="Training reproducibility rate",
        unit=RATIO,
        direction=HIGHER,
        source="pipelines",
        family="pipelines",
        decimals=1,
        no_data="No pipeline runs in {period}",
        axis_title="reproducible runs",
        definition="Training runs flagged reproducible / training runs that report the flag.",
        period_by="started_at (scheduled_at when it never started)",
        value=(
            "avg(CASE WHEN reproducible THEN 1 ELSE 0 END) "
            "FILTER (WHERE kind = 'training' AND reproducible IS NOT NULL)"
        ),
        n="count(reproducible) FILTER (WHERE kind = 'training')",
    ),
    # --- Coverage (models inventory snapshot) ---------------------------------
    KPI(
        id="monitoring_coverage",
        title="Monitoring coverage",
        unit=RATIO,
        direction=HIGHER,
        source="models",
        family="coverage",
        decimals=1,
        no_data="No model inventory loaded for {period}",
        axis_title="models monitored",
        chart_group="monitoring",
        definition="Production models with monitoring / production models that report it, in the period's latest inventory.",
        period_by="inventory as_of",
        value="avg(CASE WHEN monitored THEN 1 ELSE 0 END) FILTER (WHERE monitored IS NOT NULL)",
        n="count(monitored)",
    ),
    KPI(
        id="monitoring_coverage_tier1",
        title="Monitoring coverage (tier-1)",
        unit=RATIO,
        direction=HIGHER,
        source="models",
        family="coverage",
        decimals=1,
        no_data="No model inventory loaded for {period}",
        axis_title="models monitored",
        chart_group="monitoring",
        definition="The same over tier-1 models (tier written tier-1, tier1, T1 or 1).",
        period_by="inventory as_of",
        value="avg(CASE WHEN monitored THEN 1 ELSE 0 END) FILTER (WHERE monitored IS NOT NULL AND is_tier1)",
        n="count(monitored) FILTER (WHERE is_tier1)",
    ),
    KPI(
        id="drift_monitoring_coverage",
        title="Drift detection coverage",
        unit=RATIO,
        direction=HIGHER,
        source="models",
        family="coverage",
        decimals=1,
        no_data="No model inventory loaded for {period}",
        axis_title="models drift-monitored",
        chart_group="drift_monitoring",
        definition="Production models with drift monitoring / production models that report it.",
        period_by="inventory as_of",
        value="avg(CASE WHEN drift_monitored THEN 1 ELSE 0 END) FILTER (WHERE drift_monitored IS NOT NULL)",
        n="count(drift_monitored)",
    ),
    KPI(
        id="drift_monitoring_coverage_tier1",
        title="Drift detection coverage (tier-1)",
        unit=RATIO,
        direction=HIGHER,
        source="models",
        family="coverage",
        decimals=1,
        no_data="No model inventory loaded for {period}",
        axis_title="models drift-monitored",
        chart_group="drift_monitoring",
        definition="The same over tier-1 models.",
        period_by="inventory as_of",
        value=(
            "avg(CASE WHEN drift_monitored THEN 1 ELSE 0 END) FILTER (WHERE drift_monitored IS NOT NULL AND is_tier1)"
        ),
        n="count(drift_monitored) FILTER (WHERE is_tier1)",
    ),
    KPI(
        id="documentation_completeness",
        title="Documentation completeness",
        unit=RATIO,
        direction=HIGHER,
        source="models",
        family="coverage",
        decimals=1,
        no_data="No model inventory loaded for {period}",
        axis_title="models documented",
        definition="Production models documented / production models that report it.",
        period_by="inventory as_of",
        value="avg(CASE WHEN documented THEN 1 ELSE 0 END) FILTER (WHERE documented IS NOT NULL)",
        n="count(documented)",
    ),
    # --- Drift (incidents) ----------------------------------------------------
    KPI(
        id="drift_detection_time_median_hours",
        title="Drift detection time (median)",
        unit=HOURS,
        direction=LOWER,
        source="incidents_started",
        family="reliability",
        decimals=1,
        no_data="No drift incidents with a detection time in {period}",
        axis_title="drift detection time",
        definition="Median (interpolated) of detected_at - started_at over ML incidents of category drift.",
        period_by="started_at",
        value="quantile_cont(detect_hours, 0.5) FILTER (WHERE is_drift)",
        n="count(detect_hours) FILTER (WHERE is_drift)",
    ),
)

BY_ID: dict[str, KPI] = {k.id: k for k in CATALOG}
KPI_IDS: tuple[str, ...] = tuple(BY_ID)


def get(kpi_id: str) -> KPI:
    """The catalog entry for ``kpi_id``; a clear error for an unknown id."""
    try:
        return BY_ID[kpi_id]
    except KeyError:
        raise KeyError(f"unknown KPI id {kpi_id!r}; known: {', '.join(KPI_IDS)}") from None


def chart_groups(family: str | None = None) -> dict[str, tuple[str, ...]]:
    """Chart -> the KPIs drawn on it, in catalog order (of one family, or of all)."""
    out: dict[str, tuple[str, ...]] = {}
    for k in CATALOG:
        if family is None or k.family == family:
            out[k.chart] = (*out.get(k.chart, ()), k.id)
    return out


def _presentation_problems(k: KPI) -> list[str]:
    problems = []
    if k.decimals < 0 or k.decimals > 6:
        problems.append(f"{k.id}: decimals must be set (0-6), not {k.decimals}")
    if "{period}" not in k.no_data:
        problems.append(f"{k.id}: no_data wording must name the {{period}}, got {k.no_data!r}")
    if not k.axis_title:
        problems.append(f"{k.id}: no axis_title")
    if k.family not in FAMILY_TITLES:
        problems.append(f"{k.id}: family {k.family!r} has no title in FAMILY_TITLES")
    if k.chart_group and k.chart_group in BY_ID and k.chart_group != k.id:
        problems.append(f"{k.id}: chart_group {k.chart_group!r} is another KPI's id")
    if not k.minutes_under_hours > 0:
        problems.append(f"{k.id}: minutes_under_hours must be positive")
    return problems


def validate_catalog() -> None:
    """Check the catalog's internal consistency (unique ids, ratios refer to known KPIs) and that every
    KPI says how it is presented (decimals, no-data wording, axis title, a known family; the KPIs of a
    shared chart are of one family). Every problem is reported at once."""
    problems = [p for k in CATALOG for p in _presentation_problems(k)]
    for group, ids in chart_groups().items():
        if len({BY_ID[i].family for i in ids}) > 1:
            problems.append(f"chart {group}: its KPIs {', '.join(ids)} are of different families")
    if problems:
        raise ValueError("the KPI catalog has problems:\n" + "\n".join(problems))
    seen: set[str] = set()
    for k in CATALOG:
        if k.id in seen:
            raise ValueError(f"duplicate KPI id {k.id}")
        seen.add(k.id)
        if k.direction not in (LOWER, HIGHER, NEUTRAL):
            raise ValueError(f"{k.id}: bad direction {k.direction}")
        if k.ratio:
            num, den, _ = k.ratio
            if num not in BY_ID or den not in BY_ID:
                raise ValueError(f"{k.id}: ratio refers to unknown KPI")
        elif not k.value:
            raise ValueError(f"{k.id}: no value expression")


validate_catalog()
