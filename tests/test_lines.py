"""KPI lines (kpis.lines): the change and its withholding, small samples, the triage order."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

from kpis import lines


def frame(*rows: dict) -> pd.DataFrame:
    """A kpis.compute(+targets) frame from a few hand-written rows."""
    base = {"status": "none", "target": None, "rule": None, "note": None, "scope": None, "scoped_value": math.nan,
            "green_low": math.nan, "green_high": math.nan}
    return pd.DataFrame([{**base, **r} for r in rows])


def row(period: str, kpi: str, value, n: int, unit: str, **kw) -> dict:
    return dict(period=period, kpi=kpi, value=value, n=n, unit=unit, **kw)


# --------------------------------------------------------------------------- the change


def test_whole_periods_are_compared_with_a_verdict():
    f = frame(row("2026-09", "change_failure_rate", 0.10, 40, "ratio"),
              row("2026-10", "change_failure_rate", 0.125, 40, "ratio"))
    line = lines.build_line(f, "change_failure_rate", "2026-10", "2026-09", as_of=date(2026, 11, 20))
    assert line.delta == pytest.approx(0.025)  # 12.5% - 10%
    assert (line.change_text, line.judgement) == ("+2.5 pp", "worse")  # lower is better
    assert line.change_line == "+2.5 pp vs 2026-09 · worse"
    assert not line.partial and line.period_text == "2026-10" and not line.withheld
    assert line.relative_change == pytest.approx(0.25) and line.much_changed  # +25% of 10%


def test_the_period_in_progress_is_not_compared_with_a_whole_one():
    f = frame(row("2026-10", "deployment_count", 52, 60, "count"),
              row("2026-11", "deployment_count", 30, 35, "count"))
    line = lines.build_line(f, "deployment_count", "2026-11", "2026-10", as_of=date(2026, 11, 20))
    assert line.partial and line.period_text == "2026-11 (to date: 20 of 30 days)"
    assert line.value == 30 and line.previous_value == 52  # both shown ...
    assert line.delta is None and line.change_text == "" and line.judgement == ""  # ... never compared
    assert line.withheld == "in progress: 20 of 30 days — not compared with a whole month"
    assert line.change_line == line.withheld
    assert not line.much_changed  # 30 vs 52 would read as -42%: withheld, so not "much changed" either
    # The same month once it is over is compared.
    done = lines.build_line(f, "deployment_count", "2026-11", "2026-10", as_of=date(2026, 11, 30))
    assert done.delta == -22 and done.judgement == "neutral" and not done.partial
    # A quarter in progress says so in its own words.
    q = frame(row("2026-Q3", "incident_count", 30, 30, "count"), row("2026-Q4", "incident_count", 20, 20, "count"))
    ql = lines.build_line(q, "incident_count", "2026-Q4", "2026-Q3", as_of=date(2026, 11, 20))
    # 2026-10-01 .. 2026-11-20 = 31 + 20 = 51 of 92 days
    assert ql.withheld == "in progress: 51 of 92 days — not compared with a whole quarter"


def test_the_period_in_progress_is_compared_with_the_same_days_before():
    f = frame(row("2026-10", "change_failure_rate", 0.10, 60, "ratio"),
              row("2026-11", "change_failure_rate", 0.20, 35, "ratio"))
    # kpis.compute(..., span_days=20): October cut to its first 20 days had 4 failed of 40 = 10% ... and
    # November's first 20 days are November to date (20%).
    span = frame(row("2026-10", "change_failure_rate", 0.10, 40, "ratio"),
                 row("2026-11", "change_failure_rate", 0.20, 35, "ratio"))
    assert lines.span_days("2026-11", date(2026, 11, 20)) == 20
    assert lines.span_days("2026-10", date(2026, 11, 20)) is None  # a whole month: no span
    line = lines.build_line(f, "change_failure_rate", "2026-11", "2026-10", as_of=date(2026, 11, 20), span_rows=span)
    assert line.partial and not line.withheld
    assert line.delta == pytest.approx(0.10)  # 20% - 10%, both over days 1-20
    assert line.compared_with == "2026-10 days 1–20"
    assert line.change_line == "+10.0 pp vs 2026-10 days 1–20 · worse"
    # A count compares to-date with the same days: 30 in Nov 1-20 against 33 in Oct 1-20, not 52 in October.
    counts = frame(row("2026-10", "deployment_count", 52, 60, "count"), row("2026-11", "deployment_count", 30, 35, "count"))
    cspan = frame(row("2026-10", "deployment_count", 33, 38, "count"), row("2026-11", "deployment_count", 30, 35, "count"))
    c = lines.build_line(counts, "deployment_count", "2026-11", "2026-10", as_of=date(2026, 11, 20), span_rows=cspan)
    assert (c.value, c.previous_value, c.delta) == (30, 33, -3)


def test_missing_sides_say_what_is_missing():
    f = frame(row("2026-10", "mttr_hours", math.nan, 0, "hours"), row("2026-09", "mttr_hours", 3.0, 30, "hours"))
    line = lines.build_line(f, "mttr_hours", "2026-10", "2026-09")
    assert not line.has_value and line.value_text == "No data" and line.no_data == "No incidents resolved in 2026-10"
    assert line.change_line == "" and line.delta is None
    g = frame(row("2026-10", "mttr_hours", 3.0, 30, "hours"))
    assert lines.build_line(g, "mttr_hours", "2026-10", "2026-09").change_line == "no data in 2026-09 to compare"


# --------------------------------------------------------------------------- small samples


def test_wilson_interval_hand_worked():
    # 2 of 8: p = 0.25, z^2 = 3.8415; denominator 1 + 3.8415/8 = 1.48018;
    # centre (0.25 + 3.8415/16) / 1.48018 = 0.49009 / 1.48018 = 0.33110;
    # half 1.95996 * sqrt(0.25 * 0.75 / 8 + 3.8415 / 256) / 1.48018 = 1.95996 * 0.19607 / 1.48018 = 0.25962
    lo, hi = lines.wilson_interval(2, 8)
    assert lo == pytest.approx(0.0715, abs=5e-4) and hi == pytest.approx(0.5907, abs=5e-4)
    assert lines.wilson_interval(0, 5)[0] == 0.0  # never below 0
    assert lines.wilson_interval(5, 5)[1] == 1.0  # never above 1
    with pytest.raises(ValueError):
        lines.wilson_interval(0, 0)


def test_a_rate_on_few_events_shows_k_of_n_and_its_interval():
    f = frame(row("2026-10", "change_failure_rate", 0.25, 8, "ratio"))
    line = lines.build_line(f, "change_failure_rate", "2026-10", "2026-09")
    assert line.sample == "2 of 8"  # 0.25 x 8 failed deployments
    assert line.interval == pytest.approx((0.0715, 0.5907), abs=5e-4)
    assert line.sample_text == "2 of 8 · 95% interval 7.1%–59.1%"
    # 20 events or more: no note.
    g = frame(row("2026-10", "change_failure_rate", 0.25, 20, "ratio"))
    assert lines.build_line(g, "change_failure_rate", "2026-10", "2026-09").sample_text == ""


def test_means_and_medians_on_few_events_show_n_counts_do_not():
    f = frame(row("2026-10", "mttr_median_hours", 4.0, 5, "hours"), row("2026-10", "incident_count", 5, 5, "count"),
              row("2026-10", "availability", 0.999, 6, "ratio"), row("2026-10", "deployments_per_week", 1.1, 5,
                                                                   "per_week"))
    by_id = {x.kpi: x for x in lines.build_lines(f, "2026-10", "2026-09")}
    assert by_id["mttr_median_hours"].sample_text == "n = 5"
    assert by_id["incident_count"].sample_text == ""  # a count is its own n
    assert by_id["deployments_per_week"].sample_text == ""
    # Availability is weighted by traffic, not a share of its n service-days: n, no binomial interval.
    assert by_id["availability"].sample_text == "n = 6" and by_id["availability"].interval is None
    assert lines.is_proportion("change_failure_rate") and lines.is_proportion("monitoring_coverage")
    assert not lines.is_proportion("availability") and not lines.is_proportion("error_budget_remaining")


# --------------------------------------------------------------------------- triage


def _triage_frame() -> pd.DataFrame:
    return frame(
        # on target
        row("2026-10", "change_failure_rate", 0.02, 52, "ratio", status="green", green_high=0.10),
        # off target, 52 against at most 4 a month: (52 - 4) / 4 = 12 times off
        row("2026-10", "deployment_count", 52, 60, "count", status="red", green_low=1.0, green_high=4.0),
        # off target, 99.83% against at least 99.9%: (0.999 - 0.9983) / (1 - 0.999) = 0.7
        row("2026-10", "availability", 0.9983, 868, "ratio", status="red", green_low=0.999),
        # near target on its sev1/sev2 scope: 2.868 h against < 1 h: (2.868 - 1) / 1 = 1.868
        row("2026-10", "mttr_hours", 8.5, 14, "hours", status="amber", scoped_value=2.868, green_high=1.0),
        # near target, 12% against < 10%: (0.12 - 0.10) / 0.10 = 0.2
        row("2026-10", "rollback_rate", 0.12, 50, "ratio", status="amber", green_high=0.10),
        # no target
        row("2026-10", "predictions", 1e9, 800, "predictions"),
        row("2026-10", "incident_count", 13, 13, "count"),
    )


def test_triage_order_off_target_first_by_how_far_off():
    built = lines.build_lines(_triage_frame(), "2026-10", "2026-09")
    by_id = {x.kpi: x for x in built}
    assert by_id["deployment_count"].distance == pytest.approx(12.0)
    assert by_id["availability"].distance == pytest.approx(0.7)
    assert by_id["mttr_hours"].distance == pytest.approx(1.868)  # the scoped value the status rests on
    assert by_id["mttr_hours"].judged_value == pytest.approx(2.868)
    assert by_id["rollback_rate"].distance == pytest.approx(0.2)
    assert by_id["change_failure_rate"].distance == 0.0
    order = [x.kpi for x in lines.triage(built)]
    assert order == ["deployment_count", "availability", "mttr_hours", "rollback_rate", "change_failure_rate",
                     "incident_count", "predictions"]
    assert [x.tier_title for x in lines.triage(built)][:3] == ["Off target", "Off target", "Near target"]
    assert lines.summary(built) == "2 off target, 2 near, 1 on target, 2 without a target"
    assert all(by_id[k].needs_drivers for k in ("deployment_count", "availability"))
    assert not by_id["predictions"].needs_drivers  # no target and no previous value


def test_distance_from_green_both_sides():
    assert lines.distance_from_green(0.5, 1.0, 4.0, "count") == pytest.approx(0.5)  # (1 - 0.5) / 1 below a range
    assert lines.distance_from_green(2.0, 1.0, 4.0, "count") == 0.0
    assert lines.distance_from_green(0.9, 1.0, None, "ratio") == pytest.approx(0.1)  # 100% coverage: (1 - 0.9) / 1
    assert lines.distance_from_green(5.0, None, None, "hours") is None  # nothing to measure against
    assert lines.distance_from_green(None, 1.0, 4.0, "count") is None


def test_money_picks_the_currency_with_most_events():
    f = frame(row("2026-10", "inference_cost", 100.0, 3, "USD"), row("2026-10", "inference_cost", 20.0, 1, "EUR"),
              row("2026-09", "inference_cost", 80.0, 3, "USD"))
    line = lines.build_line(f, "inference_cost", "2026-10", "2026-09")
    assert line.unit == "USD" and line.value == 100 and line.delta == 20 and line.judgement == "worse"
    assert lines.build_line(f, "inference_cost", "2026-10", "2026-09", unit="EUR").value == 20
