"""Target profiles and the evaluator: forms at and around their bounds, scopes, trends, DORA clusters,
the bundled profiles, and bad profile files rejected with their line."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from kpis import catalog, targets
from kpis.targets import ProfileError, attach_targets, evaluate, judge, load_profile, parse_profile

SHARED = Path(__file__).resolve().parents[2] / "shared"


def one_target(body: str):
    """The single target of a profile made of one [[target]] table."""
    return parse_profile("[[target]]\n" + body).targets[0]


def profile_of(*bodies: str, head: str = ""):
    return parse_profile(head + "".join("[[target]]\n" + b for b in bodies))


CFR_BAND = """kpi = "change_failure_rate"
text = "<10–15% (mature teams trend lower)"
source = "test"
form = "band"
unit = "%"
green = "< 10"
amber = "<= 15"
"""


# --- band ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value, status", [
    (0.0999, "green"),  # just inside green: 9.99% < 10%
    (0.10, "amber"),  # at the green bound: 10% is not < 10%
    (0.125, "amber"),
    (0.15, "amber"),  # at the amber bound: 15% <= 15%
    (0.1501, "red"),  # just outside: 15.01% > 15%
    (1.0, "red"),
])
def test_band_lower_is_better(value, status):
    t = one_target(CFR_BAND)
    assert evaluate(t, value) == (status, "green < 10%, amber 10–15%, red > 15%")


@pytest.mark.parametrize("value, status", [
    (5.01, "green"),  # > 5 per week
    (5.0, "amber"),  # at the green bound: not > 5, but >= 2
    (2.0, "amber"),  # at the amber bound
    (1.99, "red"),  # just outside
])
def test_band_higher_is_better(value, status):
    t = one_target("""kpi = "deployments_per_week"
text = "more than 5 a week"
source = "test"
form = "band"
unit = "/week"
green = "> 5"
amber = ">= 2"
""")
    assert t.direction == "higher"
    assert evaluate(t, value)[0] == status
    assert evaluate(t, 3.0)[1] == "green > 5/week, amber 2–5/week, red < 2/week"


def test_band_with_exclusive_amber_bound():
    # lead: "<5% (mature), <10% (growing)": green < 5, amber >= 5 and < 10, red >= 10
    t = load_profile("lead").target_for("rollback_rate")
    assert evaluate(t, 0.0499)[0] == "green"
    assert evaluate(t, 0.05)[0] == "amber"  # 5% is not < 5%
    assert evaluate(t, 0.0999)[0] == "amber"
    assert evaluate(t, 0.10)[0] == "red"  # 10% is not < 10%
    assert evaluate(t, 0.05)[1] == "green < 5%, amber 5–10%, red ≥ 10%"


def test_band_in_minutes_is_judged_on_hours():
    # lead TTD "<15–30 minutes (Tier-1)": 15 min = 0.25 h, 30 min = 0.5 h
    t = load_profile("lead").target_for("ttd_median_hours")
    assert evaluate(t, 0.2499)[0] == "green"
    assert evaluate(t, 0.25)[0] == "amber"
    assert evaluate(t, 0.5)[0] == "amber"
    assert evaluate(t, 0.5001)[0] == "red"


@pytest.mark.parametrize("value, status", [
    (0.9991, "green"),
    (0.999, "green"),  # at the green bound: 99.9% >= 99.9%
    (0.9989, "amber"),  # just below: within 99.5–99.9%
    (0.995, "amber"),  # at the amber bound
    (0.9949, "red"),  # just outside
])
def test_band_higher_is_better_from_the_lead_document(value, status):
    t = load_profile("lead").target_for("availability")  # "99.5–99.9% depending on tier"
    assert evaluate(t, value) == (status, "green ≥ 99.9%, amber 99.5–99.9%, red < 99.5%")


@pytest.mark.parametrize("value, status", [(0.9901, "green"), (0.99, "amber"), (0.98, "amber"), (0.9799, "red")])
def test_band_above_a_span(value, status):
    # mle ">98–99% for mature pipelines": green > 99%, amber 98–99%, red < 98%
    t = load_profile("mle").target_for("pipeline_success_rate")
    assert evaluate(t, value)[0] == status


# --- threshold -----------------------------------------------------------------------------


@pytest.mark.parametrize("hours, status", [
    (59.9 / 60, "green"),  # just inside: 59.9 min < 60 min
    (1.0, "red"),  # at the bound: 60 min is not < 60 min
    (60.1 / 60, "red"),  # just outside
])
def test_threshold_lower_is_better(hours, status):
    t = load_profile("mle").target_for("mttr_hours")  # "<60 minutes for critical issues"
    assert evaluate(t, hours) == (status, "green < 60 min, red ≥ 60 min")


@pytest.mark.parametrize("ms, status", [(99.9, "green"), (100, "red"), (100.1, "red")])
def test_threshold_in_milliseconds(ms, status):
    t = load_profile("senior").target_for("latency_p95_ms")  # "p95 < 100ms"
    assert evaluate(t, ms) == (status, "green < 100 ms, red ≥ 100 ms")


@pytest.mark.parametrize("value, status", [(1.01, "green"), (1.0, "green"), (0.99, "red")])
def test_threshold_higher_is_better(value, status):
    t = one_target("""kpi = "deployments_per_week"
text = "at least weekly"
source = "test"
form = "threshold"
unit = "/week"
green = ">= 1"
""")
    assert evaluate(t, value)[0] == status


def test_threshold_bound_may_carry_its_unit():
    t = one_target(CFR_BAND.replace('green = "< 10"', 'green = "< 10%"'))
    assert t.green == targets.Bound("<", 10.0)


# --- range ---------------------------------------------------------------------------------


@pytest.mark.parametrize("count, status", [
    (0, "red"),  # below 1/month
    (0.999, "red"),
    (1, "green"),  # at min
    (4, "green"),  # at max
    (4.001, "red"),
    (5, "red"),  # above 4/month: off target too
])
def test_range_per_month_at_month_grain(count, status):
    t = load_profile("senior").target_for("deployment_count")  # 1–4 releases/month
    assert evaluate(t, count, period="2026-10")[0] == status


@pytest.mark.parametrize("count, status", [(2, "red"), (3, "green"), (12, "green"), (13, "red")])
def test_range_per_month_at_quarter_grain(count, status):
    # 1–4 per month over a quarter: 3 × 1 = 3 to 3 × 4 = 12 deployments
    t = load_profile("senior").target_for("deployment_count")
    s, rule = evaluate(t, count, period="2026-Q3")
    assert s == status
    assert rule.endswith("(this quarter: 3–12)")


def test_range_per_month_is_not_judged_on_a_week():
    # one deployment in a week would be 4.3 a month: a monthly cadence is judged per month or quarter
    t = load_profile("senior").target_for("deployment_count")
    v = judge(t, 1, period="2026-W07")
    assert v.status == "none" and v.note == "a per-month count is judged at month or quarter grain, not per week"


@pytest.mark.parametrize("hours, status", [
    (100, "green"),  # below 2 weeks: faster is on target (below = "green")
    (336, "green"),  # at min: 2 weeks × 168 h
    (1008, "green"),  # at max: 6 weeks × 168 h
    (1008.1, "red"),  # just above
])
def test_range_with_green_below(hours, status):
    t = load_profile("senior").target_for("lead_time_median_hours")  # Median 2–6 weeks
    assert evaluate(t, hours)[0] == status


@pytest.mark.parametrize("coverage, status", [(0.7999, "red"), (0.8, "green"), (1.0, "green")])
def test_range_of_a_higher_is_better_ratio(coverage, status):
    t = load_profile("lead").target_for("drift_monitoring_coverage_tier1")  # "80–100% for Tier-1 models"
    assert evaluate(t, coverage)[0] == status


def test_no_value_is_status_none():
    t = load_profile("senior").target_for("change_failure_rate")
    assert judge(t, None).status == "none"
    assert judge(t, math.nan).note == "no data"


# --- trend ---------------------------------------------------------------------------------


@pytest.mark.parametrize("previous, value, status", [
    (10, 9, "green"),  # 10 -> 9: -10%, down
    (10, 10, "amber"),  # unchanged
    (10, 11, "red"),  # +10%, up
    (None, 9, "none"),  # no earlier value
    (math.nan, 9, "none"),
])
def test_trend_downward(previous, value, status):
    t = load_profile("senior").target_for("incident_count")  # Downward trend quarter-over-quarter
    v = judge(t, value, previous, period="2026-Q3")
    assert v.status == status
    assert "vs 2026-Q2 (1 quarter earlier)" in v.rule
    if previous is None or previous != previous:
        assert v.note == "not enough history"
        assert "not enough history" in v.rule


@pytest.mark.parametrize("value, status", [
    (79, "green"),  # 100 -> 79: -21%
    (80, "green"),  # at the bound: -20% <= -20%
    (80.1, "amber"),  # -19.9%: down, but by less than 20%
    (99.9, "amber"),
    (100, "red"),  # not down
    (120, "red"),
])
def test_trend_reduce_by_20_percent_over_2_quarters(value, status):
    t = load_profile("lead").target_for("lead_time_median_hours")
    assert judge(t, value, 100.0, period="2026-Q3").status == status


@pytest.mark.parametrize("value, status", [
    (90, "green"),  # improving
    (110, "green"),  # +10%: stable
    (110.1, "amber"),  # +10.1%
    (125, "amber"),  # +25%
    (125.1, "red"),  # +25.1%: an outlier
])
def test_trend_stable_or_improving(value, status):
    t = load_profile("lead").target_for("training_cost_per_run")
    assert judge(t, value, 100.0, period="2026-10").status == status


def test_trend_from_zero():
    t = load_profile("senior").target_for("training_cost_per_run")
    assert judge(t, 0.0, 0.0, period="2026-10").status == "amber"  # no change
    assert judge(t, 5.0, 0.0, period="2026-10").status == "red"  # up from 0


@pytest.mark.parametrize("profile, kpi, period, earlier", [
    ("senior", "incident_count", "2026-10", "2026-07"),  # QoQ at month grain: 3 months back
    ("senior", "incident_count", "2026-Q3", "2026-Q2"),
    ("senior", "incident_count", "2026-W20", "2026-W07"),  # 13 weeks back
    ("lead", "lead_time_median_hours", "2026-10", "2026-04"),  # 2 quarters = 6 months back
    ("lead", "lead_time_median_hours", "2026-Q1", "2025-Q3"),
    ("senior", "cost_per_1k_predictions", "2026-10", "2025-10"),  # YoY
    ("senior", "cost_per_1k_predictions", "2026-Q1", "2025-Q1"),
    ("senior", "cost_per_1k_predictions", "2026-W07", "2025-W07"),  # 52 weeks back
    ("senior", "training_cost_per_run", "2026-01", "2025-12"),  # previous period
])
def test_trend_compares_with_the_right_earlier_period(profile, kpi, period, earlier):
    t = load_profile(profile).target_for(kpi)
    grain = {"Q": "quarter", "W": "week"}.get(period[5], "month")
    assert targets.shift_label(period, grain, -t.periods_back(grain)) == earlier


# --- DORA clusters -------------------------------------------------------------------------

DORA_CASES = [
    # (year, kpi, value in base units, cluster)
    (2021, "deployments_per_week", 12, "elite"),  # >= 10/week: on demand
    (2021, "deployments_per_week", 3, "high"),  # between weekly–monthly (<= 0.9) and on demand: worse side
    (2021, "deployments_per_week", 0.1, "medium"),  # monthly – 6-monthly
    (2021, "deployments_per_week", 0.01, "low"),
    (2021, "lead_time_median_hours", 0.5, "elite"),
    (2021, "lead_time_median_hours", 300, "medium"),  # between 1 week and 1 month: the worse side is medium
    (2021, "change_failure_rate", 0.15, "elite"),  # 0–15% includes 15
    (2021, "change_failure_rate", 0.2, "high"),  # 16–30% is high, medium and low: the best of them
    (2021, "change_failure_rate", 0.35, "low"),  # beyond every band: the worst
    (2021, "mttr_median_hours", 100, "medium"),  # 1 day – 1 week
    (2022, "deployments_per_week", 12, "high"),  # 2022 has no elite
    (2022, "lead_time_median_hours", 5, "high"),  # faster than every band: the best band's cluster
    (2022, "change_failure_rate", 0.4, "low"),  # between 30% and 46%: worse side
    (2023, "change_failure_rate", 0.05, "elite"),
    (2023, "change_failure_rate", 0.08, "high"),  # next published value at or above: 10%
    (2023, "change_failure_rate", 0.15, "medium"),
    (2023, "change_failure_rate", 0.16, "low"),  # like DevLake's > 15%
    (2023, "lead_time_median_hours", 1000, "low"),  # beyond 1 month: medium and low share it, the worst
    (2023, "deployments_per_week", 0.9, "high"),  # 4 in a 31-day month counts as weekly
    (2024, "change_failure_rate", 0.05, "elite"),
    (2024, "change_failure_rate", 0.08, "medium"),  # between 5% and 10%: medium's 10%
    (2024, "change_failure_rate", 0.10, "medium"),
    (2024, "change_failure_rate", 0.12, "high"),  # between medium's 10% and high's 20%: high (non-monotone)
    (2024, "change_failure_rate", 0.20, "high"),
    (2024, "change_failure_rate", 0.25, "low"),  # between 20% and 40%
    (2024, "change_failure_rate", 0.60, "low"),
    # from 2023 recovery is DORA's failed deployment recovery time, from the failed deployment
    (2024, "failed_deployment_recovery_median_hours", 0.5, "elite"),
    (2024, "failed_deployment_recovery_median_hours", 5, "high"),  # high and medium both "< 1 day": the best
    (2024, "failed_deployment_recovery_median_hours", 48, "low"),  # between 1 day and 1 week: the worse side
    (2023, "failed_deployment_recovery_median_hours", 100, "medium"),  # 1 day – 1 week
    (2022, "mttr_median_hours", 100, "medium"),  # "time to restore service" until 2022
    (2024, "lead_time_median_hours", 200, "medium"),
]


@pytest.mark.parametrize("year, kpi, value, cluster", DORA_CASES)
def test_dora_cluster_assignment(year, kpi, value, cluster):
    t = load_profile(f"dora-{year}").target_for(kpi)
    v = judge(t, value)
    assert v.cluster == cluster
    assert v.status == {"elite": "green", "high": "green", "medium": "amber", "low": "red"}[cluster]


def test_dora_2024_cfr_says_the_clusters_are_not_in_order():
    cfr_2024 = load_profile("dora-2024").target_for("change_failure_rate")
    cfr_2023 = load_profile("dora-2023").target_for("change_failure_rate")
    assert "not in order" in evaluate(cfr_2024, 0.12)[1]
    assert "high (20%) is worse than medium (10%)" in evaluate(cfr_2024, 0.12)[1]
    assert "not in order" not in evaluate(cfr_2023, 0.12)[1]


def test_dora_default_year_is_2024():
    p = load_profile("dora")
    assert p.year == 2024 and p.years == (2021, 2022, 2023, 2024, 2025)
    assert {t.kpi for t in p.targets} == {"deployments_per_week", "lead_time_median_hours",
                                          "change_lead_time_median_hours", "change_failure_rate",
                                          "failed_deployment_recovery_median_hours"}
    # 2021 and 2022 judged "time to restore service", from the incident's start
    assert {t.kpi for t in load_profile("dora-2021").targets} == {
        "deployments_per_week", "lead_time_median_hours", "change_lead_time_median_hours", "change_failure_rate",
        "mttr_median_hours"}
    # lead time per change (the optional changes table) is judged on the same published bands, every year
    for year in (2021, 2022, 2023, 2024):
        prof = load_profile("dora", year=year)
        per_deployment, per_change = (prof.target_for(k) for k in ("lead_time_median_hours",
                                                                   "change_lead_time_median_hours"))
        assert [(c.name, c.text, c.low, c.high, c.source) for c in per_change.clusters] == [
            (c.name, c.text, c.low, c.high, c.source) for c in per_deployment.clusters]
    assert load_profile("dora", year=2022).target_for("change_failure_rate").text.startswith("DORA 2022")
    with pytest.raises(ProfileError, match="no clusters for year 2020"):
        load_profile("dora-2020")


# --- the bundled profiles ------------------------------------------------------------------


@pytest.mark.parametrize("name", targets.list_profiles())
def test_bundled_profile_loads_with_known_kpis_and_citations(name):
    p = load_profile(name)
    assert p.targets or (p.year == 2025 and p.note)  # DORA 2025 has no clusters, and its note says so
    for t in p.targets:
        assert t.kpi in catalog.KPI_IDS
        assert t.text and t.source
        assert t.form in (*targets.FORMS, targets.CLUSTERS_FORM)
    assert len({t.kpi for t in p.targets}) == len(p.targets)


def _cited_line(source: str) -> str:
    """The text of 'seeds/x.txt line 131' in the shared documents."""
    doc, _, line = source.partition(" line ")
    return (SHARED / doc).read_text(encoding="utf-8").splitlines()[int(line.split()[0]) - 1]


@pytest.mark.skipif(not (SHARED / "seeds").is_dir(), reason="shared/ documents not beside the repository")
@pytest.mark.parametrize("name", ["senior", "mle", "lead"])
def test_role_profile_texts_are_worded_as_on_the_cited_line(name):
    p = load_profile(name)
    for entry in (*p.targets, *p.pending):
        assert entry.source.startswith("seeds/")
        assert entry.text in _cited_line(entry.source), entry.source


@pytest.mark.skipif(not (SHARED / "dora-benchmarks.md").is_file(), reason="shared/ not beside the repository")
@pytest.mark.parametrize("year", [2021, 2022, 2023, 2024])
def test_dora_bands_are_worded_as_on_the_cited_line(year):
    for t in load_profile(f"dora-{year}").targets:
        for c in t.clusters:
            line = _cited_line(c.source)
            assert line.startswith(f"| {year} | {c.name}") and f"| {c.text} |" in line, c.source


def test_profiles_cover_the_documents_kpis():
    senior, mle, lead = (load_profile(n) for n in ("senior", "mle", "lead"))
    assert {t.kpi for t in senior.targets} == {
        "deployment_count", "lead_time_median_hours", "change_failure_rate", "incident_count", "mttr_hours",
        "drift_detection_time_median_hours", "latency_p95_ms", "availability", "data_validation_failure_rate",
        "reproducibility_rate", "data_freshness_adherence", "cost_per_1k_predictions", "training_cost_per_run",
        "monitoring_coverage_tier1", "error_budget_remaining"}
    assert {t.kpi for t in mle.targets} == {
        "deployment_count", "lead_time_median_hours", "change_failure_rate", "mttr_hours",
        "cost_per_1k_predictions", "training_cost_per_run", "latency_p95_ms", "error_rate", "availability",
        "data_freshness_adherence", "pipeline_success_rate", "drift_monitoring_coverage_tier1",
        "retraining_sla_adherence", "reproducibility_rate", "documentation_completeness", "error_budget_remaining"}
    assert {t.kpi for t in lead.targets} == {
        "deployment_count", "lead_time_median_hours", "rollback_rate", "ttd_median_hours", "mttr_median_hours",
        "incident_count", "cost_per_1k_predictions", "training_cost_per_run", "availability", "latency_p95_ms",
        "error_rate", "training_success_rate", "data_freshness_adherence", "data_validation_failure_rate",
        "drift_monitoring_coverage_tier1", "ci_duration_median_hours", "reproducibility_rate",
        "error_budget_remaining"}
    assert [p.metric for p in (*senior.pending, *mle.pending, *lead.pending)] == [
        "Experiment cycle time", "Model regression rate"]  # no KPI for them yet
    # experiment / approval to production (mle, lead) vs work start (senior)
    assert (senior.lead_time_start, mle.lead_time_start, lead.lead_time_start) == (
        "change_started_at", "approved_at", "approved_at")
    assert senior.target_for("mttr_hours").severity == ("sev1", "sev2")
    assert mle.target_for("mttr_hours").severity == ("sev1",)
    assert lead.target_for("mttr_median_hours").tier == ("tier-1",)
    assert lead.target_for("deployment_count").per == "team"
    assert senior.target_for("deployment_count").per == mle.target_for("deployment_count").per == "team"
    # each error budget is of the profile's availability SLO
    assert (senior.target_for("error_budget_remaining").slo, mle.target_for("error_budget_remaining").slo,
            lead.target_for("error_budget_remaining").slo) == (pytest.approx(0.999), pytest.approx(0.999),
                                                               pytest.approx(0.995))


def test_unknown_profile_name():
    with pytest.raises(ProfileError, match="unknown profile 'seniro' \\(did you mean 'senior'\\?\\)"):
        load_profile("seniro")
    with pytest.raises(ProfileError, match="profile file not found"):
        load_profile("no/such/ours.toml")


# --- bad profile files ---------------------------------------------------------------------

GOOD = """name = "ours"
lead_time_start = "approved_at"

[[target]]
kpi = "change_failure_rate"
text = "<10–15%"
source = "ours"
form = "band"
unit = "%"
green = "< 10"
amber = "<= 15"

[[target]]
kpi = "mttr_hours"
text = "<1–4 hours for high-severity incidents"
source = "ours"
form = "band"
unit = "hours"
green = "< 1"
amber = "<= 4"
scope = { severity = ["sev1", "sev2"] }
"""
# line numbers in GOOD: 5 kpi (1st target), 14 kpi, 19 green, 20 amber, 21 scope (2nd target)


def test_good_user_file_loads(tmp_path):
    path = tmp_path / "ours.toml"
    path.write_text(GOOD)
    p = load_profile(path)
    assert p.name == "ours" and p.lead_time_start == "approved_at" and len(p.targets) == 2


@pytest.mark.parametrize("old, new, line, message", [
    ('kpi = "mttr_hours"', 'kpi = "mttr_hour"', 14, "unknown KPI id 'mttr_hour' (did you mean 'mttr_hours'?)"),
    ('green = "< 1"', 'gren = "< 1"', 19, "unknown key 'gren' (did you mean 'green'?)"),
    ('amber = "<= 4"', 'amber = "<= 0.5"', 20, "bad bound: green < 1 h must lie below amber ≤ 0.5 h"),
    ('green = "< 1"', 'green = "> 1"', 20, "point in opposite directions"),
    ('green = "< 1"', 'green = "1"', 19, "bad bound: green = '1'"),
    ('green = "< 1"', 'green = 1', 19, "write green with its comparison"),
    ('green = "< 1"', 'green = "< 1 min"', 19, "is written in 'min' but the target's unit is 'hours'"),
    ('form = "band"\nunit = "hours"', 'form = "bands"\nunit = "hours"', 17,
     "unknown form 'bands' (did you mean 'band'?)"),
    ('unit = "hours"', 'unit = "%"', 18, "unit '%' does not fit mttr_hours"),
    ('scope = { severity', 'scope = { severty', 21, "unknown scope 'severty' (did you mean 'severity'?)"),
    ('"sev1", "sev2"', '"sev1", "sev9"', 21, "unknown severity 'sev9'"),
    ('green = "< 1"', 'green = "< 1"\nmin = 2', 20, "key 'min' does not apply to a band target"),
    ('kpi = "mttr_hours"', 'kpi = "change_failure_rate"', 14, "a second target for 'change_failure_rate'"),
    ('lead_time_start = "approved_at"', 'lead_time_start = "approved"', 2, "lead_time_start 'approved'"),
])
def test_bad_user_file_is_rejected_with_its_line(tmp_path, old, new, line, message):
    assert old in GOOD
    path = tmp_path / "ours.toml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(ProfileError) as e:
        load_profile(path)
    assert e.value.line == line
    assert str(e.value).startswith(f"{path} line {line}: ")
    assert message in str(e.value)


def test_direction_contradicting_the_kpi_is_a_bad_bound():
    with pytest.raises(ProfileError, match=r"line 7: bad bound: change_failure_rate is lower-is-better"):
        parse_profile("[[target]]\n" + CFR_BAND.replace('"< 10"', '"> 10"').replace('"<= 15"', '">= 5"'))


@pytest.mark.parametrize("body, line, message", [
    ('kpi = "deployment_count"\ntext = "t"\nsource = "s"\nform = "range"\nunit = "/month"\nmin = 4\nmax = 1\n',
     9, "bad bound: min 4 is above max 1"),
    ('kpi = "change_failure_rate"\ntext = "t"\nsource = "s"\nform = "threshold"\nunit = "%"\ngreen = "< 150"\n',
     8, "150% is above 100%"),
    ('kpi = "deployment_count"\ntext = "t"\nsource = "s"\nform = "range"\nunit = "/month"\nmin = 1\nmax = 4\n'
     'scope = { severity = ["sev1"] }\n', 10, "scope 'severity' does not apply to deployment_count"),
    ('kpi = "incident_count"\ntext = "t"\nsource = "s"\nform = "trend"\ncompare = "last quarter"\ngreen = "< 0"\n',
     7, "bad compare 'last quarter'"),
    ('kpi = "incident_count"\ntext = "t"\nsource = "s"\nform = "trend"\ncompare = "1 quarter"\ngreen = "> 0"\n',
     8, "incident_count is lower-is-better"),
    ('kpi = "incident_count"\ntext = "t"\nsource = "s"\nform = "band"\nunit = "count"\ngreen = "< 1"\n',
     2, "a band target needs 'amber'"),
    ('kpi = "incident_count"\nsource = "s"\nform = "trend"\ncompare = "1 quarter"\ngreen = "< 0"\n',
     2, "missing 'text'"),
])
def test_bad_target_is_rejected_with_its_line(body, line, message):
    # line 1 is a comment, line 2 [[target]], line 3 kpi, ...
    with pytest.raises(ProfileError) as e:
        parse_profile("# ours\n[[target]]\n" + body, label="ours.toml")
    assert str(e.value).startswith(f"ours.toml line {line}: ")
    assert message in str(e.value)


def test_toml_syntax_error_names_the_line():
    with pytest.raises(ProfileError) as e:
        parse_profile(GOOD.replace('amber = "<= 4"', 'amber = <= 4'), label="ours.toml")
    assert e.value.line == 20
    assert str(e.value).startswith("ours.toml line 20: TOML syntax error")


def test_pending_entries_are_accepted_and_checked():
    p = parse_profile(GOOD + '\n[[pending]]\nmetric = "Availability"\ntext = "≥99.9%"\nsource = "s"\n')
    assert p.pending[0].metric == "Availability"
    with pytest.raises(ProfileError, match=r"line 24: unknown key 'kpi'"):
        parse_profile(GOOD + '\n[[pending]]\nkpi = "availability"\ntext = "≥99.9%"\nsource = "s"\n')


def test_bad_dora_file_is_rejected_with_its_line():
    raw = (targets.PROFILE_DIR / "dora.toml").read_text()
    lines = raw.splitlines()
    i = lines.index("[years.2023.high]")
    bad = raw.replace("[years.2023.high]", "[years.2023.hihg]")
    with pytest.raises(ProfileError) as e:
        parse_profile(bad, label="ours.toml")
    assert e.value.line == i + 1
    assert "unknown key or cluster 'hihg' (did you mean 'high'?)" in str(e.value)

    j = next(n for n, line in enumerate(lines) if n > i and line.startswith("change_failure_rate"))
    bad = "\n".join(lines[:j] + ['change_failur_rate = { text = "10%", value = 10 }'] + lines[j + 1:])
    with pytest.raises(ProfileError) as e:
        parse_profile(bad, label="ours.toml")
    assert e.value.line == j + 1
    assert "did you mean 'change_failure_rate'" in str(e.value)

    bad = raw.replace('lead_time = { text = "1 day – 1 week", min = 24, max = 168 }',
                      'lead_time = { text = "1 day – 1 week", min = 168, max = 24 }', 1)
    with pytest.raises(ProfileError, match="bad bound: lead_time of high: min 168"):
        parse_profile(bad, label="ours.toml")


# --- attach_targets with a fake engine -----------------------------------------------------


class FakeCompute:
    """Stands in for kpis.engine.compute: records its calls, answers from a table of values."""

    def __init__(self, values):
        # values: function(kpi, period, group, filters, lead_time_start) -> (value, n) or None (no row)
        self.values = values
        self.calls = []

    def __call__(self, con, grain="month", by=None, start=None, end=None, filters=None, kpis=None,
                 tz="UTC", link_window_hours=None, lead_time_start="change_started_at", **more):
        self.calls.append(dict(grain=grain, by=by, start=start, end=end, filters=filters, kpis=kpis,
                               lead_time_start=lead_time_start, **more))
        from kpis import periods
        rows = []
        for s in periods.spine(start, end, grain):
            label = periods.label(s, grain)
            for kpi in kpis:
                for group in self.groups(by):
                    got = self.values(kpi, label, group, filters or {}, lead_time_start)
                    if got is None:
                        continue
                    row = {"period": label, "kpi": kpi, "value": got[0], "n": got[1],
                           "unit": catalog.get(kpi).unit if catalog.get(kpi).unit != "currency" else "USD"}
                    if by:
                        row[by] = group
                    rows.append(row)
        return pd.DataFrame(rows, columns=["period"] + ([by] if by else []) + ["kpi", "value", "n", "unit"])

    @staticmethod
    def groups(by):
        return {None: [None], "team": ["fraud", "search", "recs"], "service": ["a", "b"]}.get(by, [None])


def frame(rows, by=None):
    cols = ["period"] + ([by] if by else []) + ["kpi", "value", "n", "unit"]
    return pd.DataFrame(rows, columns=cols)


def test_scoped_target_is_judged_on_its_scope_only():
    # all incidents: MTTR 6 h (red); sev1 + sev2 only: 0.5 h (green)
    def values(kpi, period, group, filters, lts):
        return (0.5, 2) if filters.get("severity") == ["sev1", "sev2"] else (6.0, 9)

    fake = FakeCompute(values)
    df = frame([("2026-10", "mttr_hours", 6.0, 9, "hours")])
    out = attach_targets(None, df, load_profile("senior"), grain="month", compute=fake)
    row = out.iloc[0]
    assert row["value"] == 6.0  # the row's own value is left alone
    assert row["scoped_value"] == 0.5 and row["scoped_n"] == 2
    assert row["status"] == "green"  # 0.5 h < 1 h
    assert row["scope"] == "sev1, sev2 incidents"
    assert row["target"] == "<1–4 hours for high-severity incidents"
    assert row["target_source"] == "seeds/role-senior-ml-engineer.txt line 137"
    assert fake.calls == [dict(grain="month", by=None, start=pd.Timestamp("2026-10-01").date(),
                               end=pd.Timestamp("2026-10-31").date(), filters={"severity": ["sev1", "sev2"]},
                               kpis=["mttr_hours"], lead_time_start="change_started_at")]


def test_further_engine_arguments_reach_the_recomputation():
    fake = FakeCompute(lambda *a: (0.5, 1))
    df = frame([("2026-10", "mttr_hours", 6.0, 9, "hours")])
    attach_targets(None, df, load_profile("senior"), grain="month", compute=fake, slo=0.995)
    assert fake.calls[0]["slo"] == 0.995


def test_scope_meets_the_users_filters():
    fake = FakeCompute(lambda *a: (2.0, 1))
    df = frame([("2026-10", "mttr_hours", 6.0, 9, "hours")])
    out = attach_targets(None, df, load_profile("senior"), grain="month", compute=fake,
                         filters={"severity": ["sev2", "sev3"], "team": ["search"]})
    assert fake.calls[0]["filters"] == {"severity": ["sev2"], "team": ["search"]}  # sev1, sev2 ∩ sev2, sev3
    assert out.iloc[0]["status"] == "amber"  # 2 h is within 1–4 h

    fake = FakeCompute(lambda *a: (2.0, 1))
    out = attach_targets(None, df, load_profile("senior"), grain="month", compute=fake,
                         filters={"severity": ["sev4"]})
    assert fake.calls == []
    assert out.iloc[0]["status"] == "none"
    assert "outside the severity filter" in out.iloc[0]["note"]


def test_category_scope():
    p = parse_profile("""[[target]]
kpi = "ttd_median_hours"
text = "<24–72 hours (depending on traffic)"
source = "ours"
form = "band"
unit = "hours"
green = "< 24"
amber = "<= 72"
scope = { category = ["drift"], severity = ["critical", "high"] }
""")
    t = p.targets[0]
    assert t.severity == ("sev1", "sev2") and t.category == ("drift",)  # critical, high normalised
    fake = FakeCompute(lambda kpi, period, group, filters, lts: (30.0, 3) if filters.get("category") else (2.0, 9))
    out = attach_targets(None, frame([("2026-10", "ttd_median_hours", 2.0, 9, "hours")]), p, grain="month",
                         compute=fake)
    assert fake.calls[0]["filters"] == {"severity": ["sev1", "sev2"], "category": ["drift"]}
    assert out.iloc[0]["status"] == "amber"  # drift incidents: 30 h, within 24–72 h
    assert out.iloc[0]["scope"] == "sev1, sev2 incidents; drift incidents"


def test_tier_scope_per_group():
    # lead: TTR "<1–4 hours (Tier-1)"; tier-1 incidents recover in 0.5 h for fraud, 5 h for search
    def values(kpi, period, group, filters, lts):
        if filters.get("tier") != ["tier-1"]:
            return (9.0, 10)
        return {"fraud": (0.5, 1), "search": (5.0, 2), "recs": (math.nan, 0)}[group]

    fake = FakeCompute(values)
    df = frame([("2026-10", "fraud", "mttr_median_hours", 9.0, 4, "hours"),
                ("2026-10", "search", "mttr_median_hours", 9.0, 6, "hours"),
                ("2026-10", "recs", "mttr_median_hours", 9.0, 1, "hours")], by="team")
    out = attach_targets(None, df, load_profile("lead"), grain="month", by="team", compute=fake)
    assert list(out["status"]) == ["green", "red", "none"]  # 0.5 < 1; 5 > 4; no tier-1 incident
    assert list(out["scope"]) == ["tier-1 only"] * 3
    assert fake.calls[0]["by"] == "team" and fake.calls[0]["filters"] == {"tier": ["tier-1"]}


def test_trend_with_and_without_history():
    # incidents: 2026-07 had 10, 2026-08 none recorded; 2026-10 has 8, 2026-11 has 12
    history = {"2026-07": (10.0, 10), "2026-08": (math.nan, 0)}
    fake = FakeCompute(lambda kpi, period, *a: history.get(period))
    df = frame([("2026-10", "incident_count", 8.0, 8, "count"),
                ("2026-11", "incident_count", 12.0, 12, "count")])
    out = attach_targets(None, df, load_profile("senior"), grain="month", compute=fake)
    first, second = out.iloc[0], out.iloc[1]
    assert first["status"] == "green"  # 10 -> 8: -20%
    assert first["previous_period"] == "2026-07" and first["previous_value"] == 10.0
    assert "10 → 8 (-20.0%)" in first["rule"]
    assert second["status"] == "none" and second["note"] == "not enough history"  # 2026-08 has no value
    assert second["previous_period"] == "2026-08"
    # one call covering the earlier months (3 months before 2026-10 .. 2026-11)
    assert fake.calls[0]["start"].isoformat() == "2026-07-01" and fake.calls[0]["end"].isoformat() == "2026-08-31"


def test_trend_reads_earlier_periods_from_the_judged_rows():
    # senior's incident_count target: downward vs 3 months before. The rows span 2026-07 .. 2026-11, so
    # 2026-10's comparison (2026-07) is in them and only 2026-11's (2026-08) is computed again.
    history = {"2026-08": (9.0, 9)}
    fake = FakeCompute(lambda kpi, period, *a: history.get(period))
    df = frame([("2026-07", "incident_count", 10.0, 10, "count"), ("2026-08", "incident_count", 9.0, 9, "count"),
                ("2026-09", "incident_count", 7.0, 7, "count"), ("2026-10", "incident_count", 8.0, 8, "count"),
                ("2026-11", "incident_count", 12.0, 12, "count")])
    out = attach_targets(None, df, load_profile("senior"), grain="month", compute=fake).set_index("period")
    # 2026-10 vs 2026-07: 10 -> 8 is -20% (green); 2026-11 vs 2026-08: 9 -> 12 is +33% (red)
    assert out.loc["2026-10", "previous_value"] == 10.0 and out.loc["2026-10", "status"] == "green"
    assert out.loc["2026-11", "previous_value"] == 9.0 and out.loc["2026-11", "status"] == "red"
    # one call, only for the earlier months the rows do not hold (2026-04 .. 2026-06), not 2026-04 .. 2026-08
    assert [(c["start"].isoformat(), c["end"].isoformat()) for c in fake.calls] == [("2026-04-01", "2026-06-30")]
    assert out.loc["2026-07", "note"] == "not enough history"  # 2026-04 has no value


def _team_counts(counts):
    """A fake engine returning deployment counts per (period, team); a team without deployments has no row value."""
    def values(kpi, period, group, filters, lts):
        n = counts.get((period, group), 0)
        return (float(n), n) if n else (math.nan, 0)
    return FakeCompute(values)


def test_per_team_target_ungrouped_judges_each_team_and_summarises():
    # lead: 1–4/month per team. September: fraud 1, search 3, recs 1; October: fraud 2, search 5, recs none.
    # The teams are those with deployments in the range (3); a team without any in a month deployed 0 times.
    fake = _team_counts({("2026-09", "fraud"): 1, ("2026-09", "search"): 3, ("2026-09", "recs"): 1,
                         ("2026-10", "fraud"): 2, ("2026-10", "search"): 5})
    df = frame([("2026-09", "deployment_count", 5.0, 5, "count"), ("2026-10", "deployment_count", 7.0, 7, "count")])
    out = attach_targets(None, df, load_profile("lead"), grain="month", compute=fake)
    sep, oct_ = out.iloc[0], out.iloc[1]
    # September: 1, 3 and 1 are all within 1–4
    assert (sep["status"], sep["status_text"], sep["outside"]) == ("green", "all 3 teams within 1–4/month", "")
    # October: fraud 2 inside; search 5 above 4, recs 0 below 1: 2 of 3 outside, and 2 >= half of 3: red
    assert oct_["status"] == "red"
    assert oct_["status_text"] == "2 of 3 teams outside 1–4/month"
    assert oct_["outside"] == "recs, search"
    assert "fraud 2 (green), recs 0 (red), search 5 (red)" in oct_["rule"]
    # never judged on the organisation's 7 (which would be red on its own, and is not what the target says)
    assert math.isnan(oct_["scoped_value"]) and math.isnan(oct_["green_low"])
    assert oct_["scope"] == "per team"
    assert [c["by"] for c in fake.calls] == ["team"]


@pytest.mark.parametrize("search, status, text", [
    (4, "green", "all 3 teams within 1–4/month"),  # 2, 4, 1: all inside
    (6, "amber", "1 of 3 teams outside 1–4/month"),  # one of three outside: fewer than half
])
def test_per_team_summary_green_and_amber(search, status, text):
    fake = _team_counts({("2026-10", "fraud"): 2, ("2026-10", "search"): search, ("2026-10", "recs"): 1})
    df = frame([("2026-10", "deployment_count", 3.0 + search, 3 + search, "count")])
    out = attach_targets(None, df, load_profile("senior"), grain="month", compute=fake)
    assert (out.iloc[0]["status"], out.iloc[0]["status_text"]) == (status, text)
    assert out.iloc[0]["outside"] == ("" if status == "green" else "search")


def test_per_team_count_at_week_grain_says_why_it_is_not_judged():
    fake = FakeCompute(lambda *a: (2.0, 2))
    df = frame([("2026-W42", "deployment_count", 6.0, 6, "count")])
    out = attach_targets(None, df, load_profile("senior"), grain="week", compute=fake)
    row = out.iloc[0]
    assert row["status"] == "none" and row["target"] == "1–4 meaningful releases/month (varies by domain)"
    assert row["note"] == "a per-month count is judged at month or quarter grain, not per week"
    assert row["status_text"] == "not judged: " + row["note"]


def test_per_team_target_of_a_rate_skips_a_team_without_data():
    p = parse_profile(CFR_BAND.replace('amber = "<= 15"', 'amber = "<= 15"\nscope = { per = "team" }')
                      .replace("kpi =", "[[target]]\nkpi =", 1))
    # fraud 5% (green), search 12% (amber: not green, so outside), recs no deployments (not judged)
    rates = {"fraud": (0.05, 20), "search": (0.12, 25), "recs": (math.nan, 0)}
    fake = FakeCompute(lambda kpi, period, group, filters, lts: rates[group])
    out = attach_targets(None, frame([("2026-10", "change_failure_rate", 0.09, 45, "ratio")]), p, grain="month",
                         compute=fake)
    # 1 of the 2 teams with a value is not green: 1 >= half of 2: red
    assert (out.iloc[0]["status"], out.iloc[0]["status_text"]) == ("red", "1 of 2 teams off target (< 10%)")


def test_per_service_scope_and_per_scope_on_a_trend_is_rejected():
    t = one_target(CFR_BAND + 'scope = { per = "service" }\n')
    assert t.per == "service" and t.scope_text == "per service"
    with pytest.raises(ProfileError, match="per = 'team' applies to band, threshold and range targets"):
        one_target("""kpi = "incident_count"
text = "Downward trend"
source = "test"
form = "trend"
compare = "previous"
green = "< 0"
scope = { per = "team" }
""")


def test_per_team_target_by_team_and_by_service():
    fake = FakeCompute(lambda *a: (1.0, 1))
    df = frame([("2026-10", "search", "deployment_count", 6.0, 6, "count")], by="team")
    out = attach_targets(None, df, load_profile("lead"), grain="month", by="team", compute=fake)
    assert out.iloc[0]["status"] == "red" and fake.calls == []  # 6 > 4, judged on the row itself

    df = frame([("2026-10", "a", "deployment_count", 3.0, 3, "count")], by="service")
    out = attach_targets(None, df, load_profile("lead"), grain="month", by="service", compute=fake)
    assert out.iloc[0]["status"] == "none" and "per-team target" in out.iloc[0]["note"]


def test_lead_time_is_judged_from_the_profiles_start():
    # df computed from change_started_at; mle measures from approved_at: recomputed, 3 weeks -> green
    def values(kpi, period, group, filters, lts):
        return (504.0, 5) if lts == "approved_at" else (2000.0, 5)

    fake = FakeCompute(values)
    df = frame([("2026-10", "lead_time_median_hours", 2000.0, 5, "hours")])
    out = attach_targets(None, df, load_profile("mle"), grain="month", lead_time_start="change_started_at",
                         compute=fake)
    assert out.iloc[0]["scoped_value"] == 504.0 and out.iloc[0]["status"] == "green"  # 504 h = 3 weeks
    assert out.iloc[0]["scope"] == "lead time from approved_at"
    # computed the profile's way already: judged on the row, no recompute
    fake = FakeCompute(values)
    out = attach_targets(None, df, load_profile("mle"), grain="month", compute=fake)
    assert fake.calls == [] and out.iloc[0]["status"] == "red"  # 2000 h > 6 weeks = 1008 h


def test_kpis_without_target_and_dora_clusters():
    fake = FakeCompute(lambda *a: None)
    df = frame([("2026-10", "change_failure_rate", 0.12, 25, "ratio"),
                ("2026-10", "predictions", 1e6, 30, "predictions"),
                ("2026-10", "deployments_per_week", math.nan, 0, "per_week")])
    out = attach_targets(None, df, load_profile("dora"), grain="month", compute=fake)
    cfr, preds, freq = (out.iloc[i] for i in range(3))
    assert (cfr["cluster"], cfr["status"]) == ("high", "green")  # 2024: 12% lies between 10% and 20%
    assert cfr["target"].startswith("DORA 2024 change failure rate: elite 5%")
    assert preds["status"] == "none" and preds["target"] is None and preds["cluster"] is None
    assert freq["status"] == "none" and freq["note"] == "no data"
    assert fake.calls == []


def test_attach_keeps_rows_and_adds_the_columns():
    df = frame([("2026-10", "change_failure_rate", 0.05, 20, "ratio")])
    out = attach_targets(None, df, "senior", grain="month", compute=FakeCompute(lambda *a: None))
    assert list(out.columns[:len(df.columns)]) == list(df.columns)
    assert set(targets.TARGET_COLUMNS) <= set(out.columns)
    assert out.iloc[0]["status"] == "green" and out.iloc[0]["rule"] == "green < 10%, amber 10–15%, red > 15%"
    assert math.isclose(out.iloc[0]["green_high"], 0.10)


# --- against the real engine ---------------------------------------------------------------

DEPLOYMENTS_CSV = """deployment_id,service,deployed_at,team,tier,status,change_started_at,approved_at
d1,search-ranker,2026-10-05T00:00:00Z,search,tier-1,success,2026-09-21T00:00:00Z,2026-10-01T00:00:00Z
d2,search-ranker,2026-10-12T00:00:00Z,search,tier-1,success,2026-09-12T00:00:00Z,2026-10-10T00:00:00Z
d3,search-ranker,2026-10-20T00:00:00Z,search,tier-1,rolled_back,2026-10-15T00:00:00Z,2026-10-19T00:00:00Z
d4,fraud-scoring,2026-10-08T00:00:00Z,fraud,tier-1,success,2026-10-01T00:00:00Z,2026-10-07T00:00:00Z
d5,search-ranker,2026-07-05T00:00:00Z,search,tier-1,success,2026-06-01T00:00:00Z,2026-07-01T00:00:00Z
"""
INCIDENTS_CSV = """incident_id,service,started_at,detected_at,resolved_at,severity,team,tier,category
i1,search-ranker,2026-10-03T10:00:00Z,2026-10-03T10:12:00Z,2026-10-03T10:30:00Z,SEV1,search,tier-1,drift
i2,fraud-scoring,2026-10-10T10:00:00Z,2026-10-10T12:00:00Z,2026-10-10T16:00:00Z,sev3,fraud,tier-2,infrastructure
i3,search-ranker,2026-07-15T10:00:00Z,2026-07-15T10:30:00Z,2026-07-15T11:00:00Z,high,search,tier-1,other
i4,fraud-scoring,2026-07-20T10:00:00Z,2026-07-20T10:30:00Z,2026-07-20T13:00:00Z,sev3,fraud,tier-2,other
"""
COSTS_CSV = """date,amount,service,currency,category,run_id,team
2026-10-01,100,search-ranker,USD,inference,,search
2025-10-01,120,search-ranker,USD,inference,,search
2026-10-02,50,search-ranker,USD,training,r1,search
2026-09-02,40,search-ranker,USD,training,r2,search
"""
PREDICTIONS_CSV = """date,service,predictions,team
2026-10-01,search-ranker,100000,search
2025-10-01,search-ranker,100000,search
"""


@pytest.fixture
def tiny_db(tmp_path):
    from kpis import db
    from kpis.ingest import ingest

    for name, text in (("deployments", DEPLOYMENTS_CSV), ("incidents", INCIDENTS_CSV), ("costs", COSTS_CSV),
                       ("predictions", PREDICTIONS_CSV)):
        (tmp_path / f"{name}.csv").write_text(text)
    con = db.connect(tmp_path / "kpi.duckdb")
    ingest(con, [tmp_path])
    yield con
    con.close()


def _october(con, profile):
    from datetime import date

    out = targets.compute_with_targets(con, profile, grain="month", start=date(2026, 10, 1), end=date(2026, 10, 31))
    return out.set_index("kpi")


def test_real_engine_senior(tiny_db):
    out = _october(tiny_db, "senior")
    assert out.loc["change_failure_rate", "value"] == pytest.approx(0.25)  # d3 rolled back, 1 of 4
    assert out.loc["change_failure_rate", "status"] == "red"  # 25% > 15%
    assert out.loc["deployment_count", "status"] == "green"  # per team: search 2, fraud 1, both within 1–4/month
    # a target that exists but cannot be judged always says why, never a bare "no target"
    unjudged = out[out["target"].notna() & out["status"].eq("none")]
    assert len(unjudged) and all(isinstance(n, str) and n for n in unjudged["note"])
    assert all(t == "not judged: " + n for t, n in zip(unjudged["status_text"], unjudged["note"]))
    assert out.loc["lead_time_median_hours", "value"] == pytest.approx(336)  # median of 336, 720, 168 h
    assert out.loc["lead_time_median_hours", "status"] == "green"  # 336 h = 2 weeks, the range's min
    # MTTR over all incidents resolved in October: (0.5 + 6) / 2 = 3.25 h; sev1/sev2 only (i1): 0.5 h
    assert out.loc["mttr_hours", "value"] == pytest.approx(3.25)
    assert out.loc["mttr_hours", "scoped_value"] == pytest.approx(0.5)
    assert (out.loc["mttr_hours", "status"], out.loc["mttr_hours", "scope"]) == ("green", "sev1, sev2 incidents")
    # incidents: 2 in October, 2 in July (one quarter earlier): unchanged
    assert out.loc["incident_count", "previous_period"] == "2026-07"
    assert out.loc["incident_count", "status"] == "amber"
    # cost per 1k: 100 / 100000 × 1000 = 1.00 vs 1.20 a year earlier: -16.7%
    assert out.loc["cost_per_1k_predictions", "previous_value"] == pytest.approx(1.2)
    assert out.loc["cost_per_1k_predictions", "status"] == "green"
    # training cost per run: 50 vs 40 in September: +25%, not downward
    assert out.loc["training_cost_per_run", "status"] == "red"


def test_real_engine_lead_and_mle(tiny_db):
    lead = _october(tiny_db, "lead")
    # per team: search 2, fraud 1 successful deployments, both within 1–4
    assert lead.loc["deployment_count", "status_text"] == "all 2 teams within 1–4/month"
    assert lead.loc["deployment_count", "scope"] == "per team"
    assert lead.loc["deployment_count", "status"] == "green"
    # tier-1 incidents (i1): detected in 12 min (< 15 min), recovered in 0.5 h (< 1 h)
    assert lead.loc["ttd_median_hours", "scoped_value"] == pytest.approx(0.2)
    assert lead.loc["ttd_median_hours", "status"] == "green"
    assert lead.loc["mttr_median_hours", "status"] == "green"
    # lead time vs 2 quarters earlier (2026-04): no deployment then
    assert lead.loc["lead_time_median_hours", "note"] == "not enough history"
    assert lead.loc["training_cost_per_run", "status"] == "amber"  # +25%: at the amber bound

    mle = _october(tiny_db, "mle")
    # from approved_at: 96, 48 and 24 h -> median 48 h, faster than 2 weeks: green
    assert mle.loc["lead_time_median_hours", "value"] == pytest.approx(48)
    assert mle.loc["lead_time_median_hours", "status"] == "green"


def test_real_engine_dora(tiny_db):
    out = _october(tiny_db, "dora")
    # 3 deployments in 31 days: 3 / (31 / 7) = 0.68 per week, weekly – monthly
    assert (out.loc["deployments_per_week", "cluster"], out.loc["deployments_per_week", "status"]) == (
        "medium", "amber")
    assert out.loc["change_failure_rate", "cluster"] == "low"  # 25%: between high's 20% and low's 40%
    # 2024 judges failed deployment recovery time: d3 (rolled back 10-20) has no later success on its service
    # and no incident naming it: not recovered, so no value to place, and it says so
    fdrt = out.loc["failed_deployment_recovery_median_hours"]
    assert (fdrt["status"], fdrt["note"], fdrt["n"]) == ("none", "no data", 0)
    assert out.loc["mttr_median_hours", "status"] == "none" and pd.isna(out.loc["mttr_median_hours", "target"])
    # 2021 judged time to restore service: MTTR median (0.5 + 6) / 2 = 3.25 h, < 1 day: high
    assert _october(tiny_db, "dora-2021").loc["mttr_median_hours", "cluster"] == "high"


def test_dora_2025_has_no_clusters_and_says_what_stands_instead(tiny_db):
    p = load_profile("dora-2025")
    assert p.year == 2025 and p.targets == ()
    assert "no elite / high / medium / low clusters" in p.note and "seven archetypes" in p.note
    assert "throughput" in p.note and "instability" in p.note
    out = _october(tiny_db, "dora-2025")
    assert (out["status"] == "none").all() and out["cluster"].isna().all()


# --- error budget, DORA wording, target bands ---------------------------------------------


@pytest.mark.parametrize("remaining, status", [
    (-0.3, "red"),  # overspent: 30% more errors than the budget allows
    (-0.0001, "red"),  # overspent by a hair
    (0.0, "amber"),  # spent exactly: >= 0%
    (0.1, "amber"),  # 10% left: below 25%
    (0.25, "green"),  # a quarter left: >= 25%
    (0.8, "green"),
])
def test_error_budget_is_judged_against_its_slo(remaining, status):
    t = load_profile("senior").target_for("error_budget_remaining")
    assert t.slo == pytest.approx(0.999) and t.scope_text == "SLO 99.9%"
    assert evaluate(t, remaining) == (status, "green ≥ 25%, amber 0–25%, red < 0%")


def test_error_budget_of_another_slo_is_recomputed_with_it():
    # The frame was computed at the engine's 99.9%: availability 99.7% is 1 - 0.3 / 0.1 = -2 (overspent).
    # lead's SLO is 99.5%: 1 - 0.3 / 0.5 = 0.4 left, green.
    fake = FakeCompute(lambda *a: (0.4, 30))
    df = frame([("2026-10", "error_budget_remaining", -2.0, 30, "ratio")])
    out = attach_targets(None, df, load_profile("lead"), grain="month", compute=fake)
    assert fake.calls[0]["slo"] == pytest.approx(0.995)
    assert out.iloc[0]["scoped_value"] == 0.4 and out.iloc[0]["status"] == "green"
    assert out.iloc[0]["scope"] == "SLO 99.5%" and out.iloc[0]["status_text"] == ""
    # computed at the profile's SLO already: judged on the row itself
    fake = FakeCompute(lambda *a: (0.4, 30))
    out = attach_targets(None, df, load_profile("lead"), grain="month", compute=fake, slo=0.995)
    assert fake.calls == [] and out.iloc[0]["status"] == "red"  # -2 < 0
    assert out.iloc[0]["status_text"] == "budget overspent (SLO 99.5%)"


@pytest.mark.parametrize("body, message", [
    (CFR_BAND + "slo = 99.9\n", "slo applies to error_budget_remaining only"),
    ('kpi = "error_budget_remaining"\ntext = "t"\nsource = "s"\nform = "threshold"\nunit = "%"\n'
     'green = ">= 0"\nslo = 100\n', "slo = 100 must be a percentage between 0 and 100"),
])
def test_bad_slo_is_rejected(body, message):
    with pytest.raises(ProfileError, match=message):
        one_target(body)


@pytest.mark.parametrize("profile, year", [("dora", 2024), ("dora-2023", 2023)])
def test_dora_status_text_names_the_cluster_and_the_report_year(profile, year):
    df = frame([("2026-10", "change_failure_rate", 0.12, 25, "ratio")])
    out = attach_targets(None, df, load_profile(profile), grain="month", compute=FakeCompute(lambda *a: None))
    # 2024: 12% lies between medium's 10% and high's 20%: high. 2023: between high's 10% and medium's 15%: medium
    cluster = {2024: "High", 2023: "Medium"}[year]
    assert out.iloc[0]["status_text"] == f"{cluster} (DORA {year})"


def test_a_range_band_runs_between_its_bounds_in_the_targets_words():
    # senior lead time "Median 2–6 weeks": the band is 2 x 168 = 336 h to 6 x 168 = 1008 h, though faster is green
    df = frame([("2026-10", "lead_time_median_hours", 100.0, 9, "hours")])
    out = attach_targets(None, df, load_profile("senior"), grain="month", compute=FakeCompute(lambda *a: None))
    row = out.iloc[0]
    assert row["status"] == "green"  # 100 h is below 2 weeks, and below is green
    assert (row["green_low"], row["green_high"]) == (336.0, 1008.0)
    assert row["band_text"] == "target 2–6 weeks (below also green)"
    # a lower-is-better band runs from 0 and says so
    assert targets.band_text(load_profile("senior").target_for("mttr_hours")) == \
        "target < 1 h (amber ≤ 4 h) — band from 0"


def test_a_total_of_the_period_in_progress_is_not_judged_yet():
    # Data through 2026-11-20: November has 20 of its 30 days. 9 incidents so far against 12 in August is not
    # "down"; 2 deployments so far is not "below 1–4/month". Their status waits for the month's end, and says so.
    from datetime import date

    fake = FakeCompute(lambda kpi, period, group, filters, lts: (12.0, 12) if kpi == "incident_count" else (2.0, 2))
    df = frame([("2026-10", "incident_count", 10.0, 10, "count"), ("2026-11", "incident_count", 9.0, 9, "count"),
                ("2026-11", "deployment_count", 2.0, 2, "count"),
                ("2026-11", "change_failure_rate", 0.2, 10, "ratio")])
    out = attach_targets(None, df, load_profile("senior"), grain="month", compute=fake, as_of=date(2026, 11, 20))
    october, november, deployments, cfr = (out.iloc[i] for i in range(4))
    assert october["status"] == "green"  # a whole month: 10 vs 12 in 2026-07, down
    why = "2026-11 is to date (20 of 30 days): a total is judged once the month is over"
    assert (november["status"], november["note"], november["status_text"]) == ("none", why, f"not judged: {why}")
    assert (deployments["status"], deployments["note"]) == ("none", why)
    assert cfr["status"] == "red"  # a share is judged on the days so far: 20% > 15%
    assert targets.is_total("inference_cost") and not targets.is_total("training_cost_per_run")


def test_error_budget_is_computed_against_the_profiles_slo(sample_db):
    """lead's error budget target names SLO 99.5%: the value shown is the budget at 99.5%, the one judged."""
    import kpis
    from kpis import targets as t

    con = kpis.connect(sample_db, read_only=True)
    try:
        args = dict(grain="month", start=date(2026, 9, 1), end=date(2026, 9, 30), kpis=["error_budget_remaining"])
        judged = t.compute_with_targets(con, "lead", **args)["value"].iloc[0]
        at_995 = kpis.compute(con, slo=0.995, **args)["value"].iloc[0]
        at_999 = kpis.compute(con, **args)["value"].iloc[0]
        explicit = t.compute_with_targets(con, "lead", slo=0.999, **args)["value"].iloc[0]
    finally:
        con.close()
    assert t.load_profile("lead").slo == pytest.approx(0.995)
    assert judged == pytest.approx(at_995) and judged != pytest.approx(at_999)
    assert explicit == pytest.approx(at_999)  # an SLO the caller names wins


def test_a_profile_with_several_problems_reports_them_all_with_their_lines():
    raw = (
        'name = "ours"\n'                     # 1
        'lead_time_strat = "approved_at"\n'   # 2  misspelt top-level key
        '\n'                                  # 3
        '[[target]]\n'                        # 4
        'kpi = "mttr_hour"\n'                 # 5  unknown KPI id
        'text = "t"\n'                        # 6
        'source = "s"\n'                      # 7
        'form = "threshold"\n'                # 8
        'unit = "hours"\n'                    # 9
        'green = "< 1"\n'                     # 10
        '\n'                                  # 11
        '[[target]]\n'                        # 12
        'kpi = "change_failure_rate"\n'       # 13
        'text = "t"\n'                        # 14
        'source = "s"\n'                      # 15
        'form = "band"\n'                     # 16
        'unit = "%"\n'                        # 17
        'green = "< 10"\n'                    # 18
        'amber = "<= 5"\n'                    # 19 amber below green
        '\n'                                  # 20
        '[[target]]\n'                        # 21
        'kpi = "incident_count"\n'            # 22
        'text = "t"\n'                        # 23
        'source = "s"\n'                      # 24
        'form = "range"\n'                    # 25
        'unit = "count"\n'                    # 26
        'min = "1"\n'                         # 27 a number as text
        'max = 4\n'                           # 28
        '\n'                                  # 29
        '[[pending]]\n'                       # 30
        'metric = "Availability"\n'           # 31
        'source = "s"\n')                     # 32 no text
    with pytest.raises(ProfileError) as e:
        parse_profile(raw, label="ours.toml")
    lines = str(e.value).splitlines()
    assert lines[0].startswith("ours.toml line 2: unknown key 'lead_time_strat' (did you mean 'lead_time_start'?)")
    assert lines[1].startswith("ours.toml line 5: unknown KPI id 'mttr_hour' (did you mean 'mttr_hours'?)")
    assert lines[2].startswith("ours.toml line 19: bad bound: green < 10% must lie below amber ≤ 5%")
    assert lines[3] == "ours.toml line 27: bad bound: min = '1' is not a number"
    assert lines[4] == "ours.toml line 30: missing 'text'"
    assert len(lines) == 5 and e.value.line == 2


def test_every_bundled_profile_fits_the_declared_schema():
    import jsonschema

    from kpis import tomlfile, validation
    for clusters in (False, True):
        jsonschema.Draft202012Validator.check_schema(targets.profile_schema(clusters))
    for name in targets.BUNDLED:
        path = targets.PROFILE_DIR / f"{name}.toml"
        f = tomlfile.read(str(path), path.read_text(encoding="utf-8"))
        assert validation.check(targets.profile_schema("years" in f.data), f.data) == [], name
        assert load_profile(name).targets


def test_every_problem_inside_one_target_is_reported():
    raw = ('[[target]]\n'                            # 1
           'kpi = "change_failure_rate"\n'           # 2
           'text = "t"\n'                            # 3
           'source = "s"\n'                          # 4
           'form = "threshold"\n'                    # 5
           'unit = "%"\n'                            # 6
           'green = "< 150"\n'                       # 7  above 100%
           'scope = { severity = ["sev1"] }\n'       # 8  no severity on deployments
           'slo = 99.9\n')                           # 9  slo is for error_budget_remaining
    with pytest.raises(ProfileError) as e:
        parse_profile(raw, label="ours.toml")
    assert str(e.value).splitlines() == [
        "ours.toml line 7: bad bound: green 150% is above 100%",
        "ours.toml line 8: scope 'severity' does not apply to change_failure_rate (its events have no severity; "
        "it can be scoped by tier)",
        "ours.toml line 9: slo applies to error_budget_remaining only (the availability objective its budget is of)",
    ]


def test_a_cluster_profile_reports_the_problems_of_every_year():
    raw = (targets.PROFILE_DIR / "dora.toml").read_text()
    lines = raw.splitlines()
    bad = raw.replace("[years.2023.high]", "[years.2023.hihg]").replace(
        'lead_time = { text = "1 day – 1 week", min = 24, max = 168 }',
        'lead_time = { text = "1 day – 1 week", min = 168, max = 24 }', 1)
    with pytest.raises(ProfileError) as e:
        parse_profile(bad, label="ours.toml")
    found = str(e.value).splitlines()
    hihg = lines.index("[years.2023.high]") + 1
    swapped = next(n for n, line in enumerate(lines, 1) if "min = 24, max = 168" in line)
    assert any(x.startswith(f"ours.toml line {hihg}: unknown key or cluster 'hihg'") for x in found), found
    assert any(x.startswith(f"ours.toml line {swapped}: bad bound: lead_time of") for x in found), found
    assert len(found) == 2
