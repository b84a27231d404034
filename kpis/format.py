"""Numbers in the user's units: hours or days, %, currency, counts.

One place decides how every KPI value, delta and axis is written, so the
scorecard, the charts and the tables agree (and the tests can format the
engine's numbers the same way to compare them with the screen).
"""

from __future__ import annotations

import math

from kpis import catalog

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}

DIRECTION_WORDS = {
    catalog.LOWER: "lower is better",
    catalog.HIGHER: "higher is better",
    catalog.NEUTRAL: "volume: neither better nor worse",
}

# What "no data" means for each KPI, in words: "No production deployments in 2026-10".
NO_DATA = {
    "deployment_count": "No production deployments in {period}",
    "deployments_per_week": "No production deployments in {period}",
    "lead_time_median_hours": "No successful deployments with a start time in {period}",
    "lead_time_p90_hours": "No successful deployments with a start time in {period}",
    "change_failure_rate": "No production deployments in {period}",
    "rollback_rate": "No production deployments in {period}",
    "incident_count": "No ML incidents started in {period}",
    "mttr_hours": "No incidents resolved in {period}",
    "mttr_median_hours": "No incidents resolved in {period}",
    "ttd_median_hours": "No incidents with a detection time in {period}",
    "open_incidents": "No incidents reported by the end of {period}",
    "inference_cost": "No inference cost lines in {period}",
    "predictions": "No prediction volume in {period}",
    "cost_per_1k_predictions": "No inference cost and prediction volume in {period}",
    "training_cost_per_run": "No training runs with cost in {period}",
}


def is_missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


SOURCE_NO_DATA = {
    "deployments": "No production deployments in {period}",
    "incidents_started": "No ML incidents started in {period}",
    "incidents_resolved": "No incidents resolved in {period}",
    "incidents_open": "No incidents reported by the end of {period}",
    "costs": "No cost lines in {period}",
    "predictions": "No prediction volume in {period}",
    "serving": "No serving metrics in {period}",
    "pipelines": "No pipeline runs in {period}",
    "models": "No model inventory loaded for {period}",
}
NO_DATA["drift_detection_time_median_hours"] = "No drift incidents with a detection time in {period}"


def no_data(kpi_id: str, period: str) -> str:
    """'No production deployments in 2026-10': what is missing, in words."""
    text = NO_DATA.get(kpi_id)
    if text is None:
        try:
            k = catalog.get(kpi_id)
            text = SOURCE_NO_DATA.get(k.source, f"No data for {k.title.lower()} in {{period}}")
        except KeyError:
            text = "No data in {period}"
    return text.format(period=period)


def chart_title(kpi_id: str, what: str | None = None) -> str:
    """'Change failure rate — lower is better'."""
    k = catalog.get(kpi_id)
    return f"{what or k.title} — {DIRECTION_WORDS[k.direction]}"


def kpi_unit(kpi_id: str) -> str:
    return catalog.get(kpi_id).unit


def _sig(x: float, digits: int = 3) -> str:
    """A number with about ``digits`` significant digits and thousands separators."""
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:,.{decimals}f}"


def fmt_hours(h: float) -> str:
    """Durations: minutes under an hour, hours under two days, else days."""
    if is_missing(h):
        return "—"
    a = abs(h)
    if a < 1:
        return f"{h * 60:.0f} min"
    if a < 48:
        return f"{h:.1f} h"
    return f"{h / 24:.1f} d"


def fmt_duration(h: float) -> str:
    """Run and pipeline durations: minutes under two hours (a CI run of 1.5 h reads as 90 min), else hours or days."""
    if is_missing(h):
        return "—"
    if abs(h) < 2:
        return f"{h * 60:.0f} min"
    return fmt_hours(h)


def fmt_percent(x: float, digits: int = 1) -> str:
    """A ratio as a percentage: 0.9985 -> '99.85%' with ``digits=2``."""
    if is_missing(x):
        return "—"
    return f"{x * 100:.{digits}f}%"


def fmt_share(x: float) -> str:
    """A share of a total: '12.5%', '0.35%', and '<0.01%' for a sliver that is not zero."""
    if is_missing(x):
        return "—"
    if 0 < abs(x) < 0.0001:
        return "<0.01%"
    return f"{x * 100:.2f}%" if abs(x) < 0.01 else f"{x * 100:.1f}%"


def fmt_money(x: float, currency: str = "USD") -> str:
    if is_missing(x):
        return "—"
    sym = CURRENCY_SYMBOLS.get(currency)
    a = abs(x)
    body = f"{a:,.0f}" if a >= 100 else _sig(a, 3)
    sign = "-" if x < 0 else ""
    return f"{sign}{sym}{body}" if sym else f"{sign}{body} {currency}"


def fmt_count(x: float) -> str:
    if is_missing(x):
        return "—"
    a = abs(x)
    for size, suffix in ((1e9, " B"), (1e6, " M"), (1e3, " k")):
        if a >= size * 10 or (a >= size and suffix != " k"):
            return f"{x / size:.1f}{suffix}"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def fmt_value(value, unit: str) -> str:
    """A KPI value as shown on a card: ``unit`` is the engine's (hours, ratio, ..., or a currency code)."""
    if is_missing(value):
        return "—"
    if unit == catalog.HOURS:
        return fmt_hours(value)
    if unit == catalog.RATIO:
        return f"{value * 100:.1f}%"
    if unit == catalog.PER_WEEK:
        return f"{value:.1f} / week"
    if unit == catalog.COUNT:
        return f"{value:,.0f}"
    if unit == catalog.PREDICTIONS_UNIT:
        return fmt_count(value)
    if unit == "ms":
        return f"{value:,.0f} ms" if abs(value) >= 10 else f"{value:.1f} ms"
    return fmt_money(value, unit)


def fmt_delta(delta, unit: str) -> str:
    """A signed change in the value's unit: '+2.1 pp', '-3.5 h', '+$120'."""
    if is_missing(delta):
        return ""
    sign = "+" if delta > 0 else "-" if delta < 0 else "±"
    a = abs(delta)
    # A small change keeps a digit that shows it (an error rate moving 0.02 pp, a CI run 15 s faster),
    # instead of "-0.0 pp" or "-0 min".
    if unit == catalog.RATIO:
        return f"{sign}{a * 100:.2f} pp" if 0 < a < 0.0005 else f"{sign}{a * 100:.1f} pp"
    if unit == catalog.HOURS:
        return f"{sign}{a * 3600:.0f} s" if 0 < a < 1 / 120 else f"{sign}{fmt_hours(a)}"
    if unit == catalog.PER_WEEK:
        return f"{sign}{a:.1f} / week"
    if unit == catalog.COUNT:
        return f"{sign}{a:,.0f}"
    if unit == catalog.PREDICTIONS_UNIT:
        return f"{sign}{fmt_count(a)}"
    if unit == "ms":
        return f"{sign}{a:,.1f} ms"
    return f"{sign}{fmt_money(a, unit)}"


def fmt_change_pct(new, old) -> str:
    """Relative change '+12.3%' ('—' when either side is missing or the old value is 0)."""
    if is_missing(new) or is_missing(old) or old == 0:
        return "—"
    return f"{(new - old) / abs(old) * 100:+.1f}%"


def judgement(kpi_id: str, delta) -> str:
    """'better', 'worse', 'no change' or 'neutral' for a change of a KPI in its direction."""
    direction = catalog.get(kpi_id).direction
    if is_missing(delta):
        return ""
    if delta == 0:
        return "no change"
    if direction == catalog.NEUTRAL:
        return "neutral"
    better = delta < 0 if direction == catalog.LOWER else delta > 0
    return "better" if better else "worse"


# --- axes ---------------------------------------------------------------------------------


def hours_axis(values) -> tuple[float, str]:
    """(divisor, axis label) for a series of hours: minutes, hours or days by magnitude."""
    finite = [abs(v) for v in values if not is_missing(v)]
    top = max(finite) if finite else 0
    if top < 2:
        return 1 / 60, "minutes"
    if top < 72:
        return 1.0, "hours"
    return 24.0, "days"


def axis_for(unit: str, values) -> tuple[float, str, str]:
    """(divisor, axis title, plotly tick format) that shows ``values`` of ``unit`` readably."""
    if unit == catalog.HOURS:
        div, label = hours_axis(values)
        return div, label, ",.1f"
    if unit == catalog.RATIO:
        return 0.01, "%", ",.0f"
    if unit == catalog.PER_WEEK:
        return 1.0, "deployments per week", ",.1f"
    if unit == catalog.COUNT:
        return 1.0, "count", ",.0f"
    if unit == catalog.PREDICTIONS_UNIT:
        return 1.0, "predictions", "~s"
    if unit == "ms":
        return 1.0, "milliseconds", ",.0f"
    finite = [abs(v) for v in values if not is_missing(v)]
    top = max(finite) if finite else 0
    return 1.0, unit, ",.4f" if top < 1 else ",.2f" if top < 100 else ",.0f"
