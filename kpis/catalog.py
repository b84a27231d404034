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


@dataclass(frozen=True)
class KPI:
    id: str
    title: str
    unit: str
    direction: str
    source: str  # deployments | incidents_started | incidents_resolved | incidents_open | costs | predictions
    definition: str
    period_by: str
    value: str = ""  # SQL aggregate over the source relation
    n: str = "count(*)"  # SQL aggregate: the events the value rests on
    ratio: tuple[str, str, float] | None = None  # (numerator kpi, denominator kpi, scale)
    family: str = ""  # delivery | reliability | cost


_SUCCESS = "status = 'success'"

CATALOG: tuple[KPI, ...] = (
    KPI(
        id="deployment_count",
        title="Production deployments",
        unit=COUNT,
        direction=NEUTRAL,
        source="deployments",
        family="delivery",
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
        definition=(
            "Failed / all production deployments; failed = status failed or rolled_back, or "
            "is_hotfix, or caused_regression, or named by an incident's deployment_id "
            "(counted once however many incidents name it)."
        ),
        period_by="deployed_at",
        value="avg(CASE WHEN failed THEN 1.0 ELSE 0.0 END)",
    ),
    KPI(
        id="rollback_rate",
        title="Rollback rate",
        unit=RATIO,
        direction=LOWER,
        source="deployments",
        family="delivery",
        definition="Deployments with status rolled_back / all production deployments.",
        period_by="deployed_at",
        value="avg(CASE WHEN status = 'rolled_back' THEN 1.0 ELSE 0.0 END)",
    ),
    KPI(
        id="incident_count",
        title="ML incidents",
        unit=COUNT,
        direction=LOWER,
        source="incidents_started",
        family="reliability",
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
        definition=(
            "Incidents started by the period's end and not resolved by then; n is the number of "
            "incidents started by the period's end."
        ),
        period_by="end of period",
        value="count(*) FILTER (WHERE is_open)",
    ),
    KPI(
        id="inference_cost",
        title="Inference cost",
        unit=CURRENCY,
        direction=LOWER,
        source="costs",
        family="cost",
        definition="Sum of amount where category is inference (lines without a category count as inference).",
        period_by="date",
        value="sum(amount) FILTER (WHERE is_inference)",
        n="count(*) FILTER (WHERE is_inference)",
    ),
    KPI(
        id="predictions",
        title="Predictions",
        unit=PREDICTIONS_UNIT,
        direction=NEUTRAL,
        source="predictions",
        family="cost",
        definition="Sum of predictions (or requests, where the source counts requests).",
        period_by="date",
        value="sum(predictions)",
    ),
    KPI(
        id="cost_per_1k_predictions",
        title="Cost per 1k predictions",
        unit=CURRENCY,
        direction=LOWER,
        source="ratio",
        family="cost",
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
        definition=(
            "Training cost of lines that name a run_id / distinct run_id with training cost in the period."
        ),
        period_by="date",
        value=(
            "sum(amount) FILTER (WHERE is_training_run)"
            " / nullif(count(DISTINCT run_id) FILTER (WHERE is_training_run), 0)"
        ),
        n="count(DISTINCT run_id) FILTER (WHERE is_training_run)",
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


def validate_catalog() -> None:
    """Check the catalog's internal consistency (unique ids, ratios refer to known KPIs)."""
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
