"""Where the period in progress is heading (kpis.projection), worked by hand.

Every case is 2026-11 (30 days) as of 2026-11-15: 15 of 30 days elapsed, 15 to go.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from kpis import lines, projection, targets

AS_OF = date(2026, 11, 15)


def line(kpi: str, value, n: int, unit: str, *, period="2026-11", status="none", green_low=None, green_high=None):
    frame = pd.DataFrame([{"period": period, "kpi": kpi, "value": value, "n": n, "unit": unit, "status": status,
                           "green_low": green_low, "green_high": green_high}])
    return lines.build_line(frame, kpi, period, "2026-10", as_of=AS_OF)


def profile(toml_targets: str) -> targets.Profile:
    return targets.parse_profile(f'name = "t"\ntitle = "t"\nsource = "test"\n{toml_targets}', "t.toml")


def test_a_half_elapsed_month_with_6_deployments_projects_12():
    p = projection.project(line("deployment_count", 6, 6, "count"), AS_OF)
    assert (p.elapsed_days, p.total_days) == (15, 30)
    assert p.method == projection.SCALED
    assert p.projected == pytest.approx(12.0)  # 6 x 30 / 15
    assert p.heading_text == "projected 12 by the end of 2026-11"
    assert p.reach == ""  # no target


def test_a_sum_scales_the_same_way():
    p = projection.project(line("inference_cost", 1500.0, 40, "USD"), AS_OF)
    assert p.projected == pytest.approx(3000.0)  # $1,500 x 30 / 15


def test_a_rate_with_n_3_shows_a_wide_interval():
    p = projection.project(line("change_failure_rate", 1 / 3, 3, "ratio"), AS_OF)
    assert p.method == projection.PACE and p.projected == pytest.approx(1 / 3)  # the pace so far
    lo, hi = p.interval
    # Wilson, z = 1.96: denom = 1 + 3.8415/3 = 2.2805; centre = (0.3333 + 3.8415/6) / 2.2805 = 0.4269;
    # half = 1.96 x sqrt(0.3333 x 0.6667 / 3 + 3.8415 / 36) / 2.2805 = 1.96 x 0.4252 / 2.2805 = 0.3654.
    assert lo == pytest.approx(0.0615, abs=5e-4) and hi == pytest.approx(0.7923, abs=5e-4)
    assert hi - lo > 0.7  # compatible with almost anything
    assert p.heading_text == "pace so far 33.3% (1 of 3 · 95% interval 6.1%–79.2%)"


def test_no_projection_outside_the_period_in_progress_or_for_a_level():
    assert projection.project(line("deployment_count", 6, 6, "count", period="2026-10"), AS_OF) is None
    assert projection.project(line("open_incidents", 2, 2, "count"), AS_OF) is None  # a level, not a flow
    assert projection.project(line("deployment_count", None, 0, "count"), AS_OF) is None  # no value


def test_a_count_already_over_its_bound_is_not_reachable():
    # At most 4 incidents a month; 5 by the 15th: a count cannot come down.
    target = profile('[[target]]\nkpi = "incident_count"\ntext = "<= 4"\nsource = "t"\nform = "threshold"\n'
                     'unit = "/month"\ngreen = "<= 4"').target_for("incident_count")
    p = projection.project(line("incident_count", 5, 5, "count"), AS_OF, target)
    assert p.projected == pytest.approx(10.0)  # 5 x 30 / 15
    assert p.reach == projection.NOT_REACHABLE
    assert p.reach_text == "target not reachable: already 5 against at most 4 with 15 days to go"


def test_a_count_heading_over_its_bound_is_reachable_if_the_pace_slows():
    target = profile('[[target]]\nkpi = "incident_count"\ntext = "<= 4"\nsource = "t"\nform = "threshold"\n'
                     'unit = "/month"\ngreen = "<= 4"').target_for("incident_count")
    p = projection.project(line("incident_count", 3, 3, "count"), AS_OF, target)
    # 3 x 30 / 15 = 6 > 4: at most 4 - 3 = 1 more in 15 days (0.07 a day against 3 / 15 = 0.2 so far).
    assert p.reach == projection.REACHABLE
    assert p.reach_text == ("reachable if the pace slows: at most 1 more in the 15 remaining days "
                            "(0.1 a day against 0.2 so far)")
    p = projection.project(line("incident_count", 2, 2, "count"), AS_OF, target)
    assert p.reach == projection.ON_PACE  # 2 x 30 / 15 = 4, at most 4


def test_a_count_short_of_a_lower_bound_says_what_it_needs():
    # Deployments per month: at least 10. 3 by the 15th project to 6: 7 more needed in 15 days.
    target = profile('[[target]]\nkpi = "deployment_count"\ntext = ">= 10"\nsource = "t"\nform = "threshold"\n'
                     'unit = "/month"\ngreen = ">= 10"').target_for("deployment_count")
    p = projection.project(line("deployment_count", 3, 3, "count"), AS_OF, target)
    assert p.projected == pytest.approx(6.0)
    assert p.reach == projection.REACHABLE
    # 7 / 15 = 0.47 a day needed against 3 / 15 = 0.2 a day so far.
    assert p.reach_text == "reachable: needs 7 more in the 15 remaining days (0.5 a day against 0.2 so far)"


def test_a_rate_that_cannot_come_back_at_the_current_volume():
    # Change failure rate green below 10%: 3 failed of 10 by the 15th. At this volume the month has
    # 10 x 30 / 15 = 20 deployments; even if none of the other 10 failed it would end at 3 / 20 = 15%.
    p = projection.project(line("change_failure_rate", 0.3, 10, "ratio", status="red", green_high=0.10), AS_OF)
    assert p.reach == projection.NOT_REACHABLE
    assert "even if none of the ~10 remaining events counted, it would end at 15.0% against at most 10.0%" \
        in p.reach_text
    # 1 of 10 (10%) is on pace; 2 of 10 (20%) can still end at 2 / 20 = 10%: reachable.
    assert projection.project(line("change_failure_rate", 0.1, 10, "ratio", status="green", green_high=0.10),
                              AS_OF).reach == projection.ON_PACE
    assert projection.project(line("change_failure_rate", 0.2, 10, "ratio", status="red", green_high=0.10),
                              AS_OF).reach == projection.REACHABLE


def test_a_higher_is_better_rate_cannot_come_back_either():
    # Training success rate at least 99%: 15 of 20 by the 15th; at best all 20 more succeed: 35 / 40 = 87.5%.
    p = projection.project(line("training_success_rate", 0.75, 20, "ratio", status="red", green_low=0.99), AS_OF)
    assert p.reach == projection.NOT_REACHABLE and "it would end at 87.5%" in p.reach_text


def test_a_median_is_only_on_or_off_pace():
    p = projection.project(line("mttr_median_hours", 6.0, 5, "hours", status="red", green_high=4.0), AS_OF)
    assert p.method == projection.SO_FAR and p.interval is None
    assert p.reach == projection.OFF_PACE and p.heading_text == "so far 6.0 h (n = 5)"


def test_quarter_of():
    assert projection.quarter_of("2026-11") == "2026-Q4"
    assert projection.quarter_of("2026-W45") == "2026-Q4"
    assert projection.quarter_of("2026-Q4") is None


def test_order_ranks_of_a_median():
    # n = 3: no pair of order statistics covers the median with 95%; the range covers it with
    # 1 - 2 x 0.5^3 = 75%.
    assert projection.order_ranks(3, 0.5) == (1, 3, 0.75)
    # n = 9: x_(2)..x_(8), P(B <= 1) = (1 + 9) / 512 on each side: coverage 1 - 20/512 = 0.9609375.
    assert projection.order_ranks(9, 0.5) == (2, 8, pytest.approx(1 - 20 / 512))
    # n = 20: x_(6)..x_(15), the textbook pair (P(B <= 5) = 0.0207 on each side).
    lo, hi, coverage = projection.order_ranks(20, 0.5)
    assert (lo, hi) == (6, 15) and coverage == pytest.approx(0.9586, abs=1e-4)


def test_a_median_with_n_3_shows_its_range_as_the_interval(tmp_path):
    import kpis

    exports = tmp_path / "exports"
    exports.mkdir()
    # Three incidents in November, recovered in 1 h, 2 h and 10 h: median 2 h; the interval of a median of
    # 3 values is their range, 1 h to 10 h, which covers it with probability 75%.
    (exports / "incidents.csv").write_text(
        "incident_id,service,started_at,resolved_at,team\n"
        "a,svc,2026-11-02T10:00:00Z,2026-11-02T11:00:00Z,alpha\n"
        "b,svc,2026-11-05T10:00:00Z,2026-11-05T12:00:00Z,alpha\n"
        "c,svc,2026-11-09T10:00:00Z,2026-11-09T20:00:00Z,alpha\n"
        "d,svc,2026-10-09T10:00:00Z,2026-10-09T20:00:00Z,beta\n")
    con = kpis.connect(tmp_path / "kpi.duckdb")
    kpis.ingest_files(con, [exports])
    assert projection.quantile_interval(con, "mttr_median_hours", "2026-11", as_of=AS_OF) == (1.0, 10.0, 0.75)
    # The filters mean what they mean in compute: team beta has no incident resolved in November.
    assert projection.quantile_interval(con, "mttr_median_hours", "2026-11", filters={"team": ["beta"]},
                                        as_of=AS_OF) is None
    assert projection.quantile_interval(con, "mttr_hours", "2026-11", as_of=AS_OF) is None  # a mean
    con.close()
    p = projection.project(line("mttr_median_hours", 2.0, 3, "hours", status="red", green_high=1.0), AS_OF,
                           quantile=(1.0, 10.0, 0.75))
    assert p.heading_text == "so far 2.0 h (n = 3 · 75% interval 1.0 h–10.0 h)"
    assert p.reach_text == "off pace (at most 1.0 h); the value can still move either way"  # 1 h is inside it
    p = projection.project(line("mttr_median_hours", 6.0, 9, "hours", status="red", green_high=4.0), AS_OF,
                           quantile=(4.3, 12.7, 0.96))
    assert p.heading_text == "so far 6.0 h (n = 9 · 95% interval 4.3 h–12.7 h)"
    assert p.reach_text == "off pace (at most 4.0 h): the whole interval of the events so far misses it"
