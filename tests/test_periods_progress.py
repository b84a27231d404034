"""Periods in progress and a selection that follows the data (kpis.periods, kpis.engine, ui.state).

The data runs through ``as_of`` (kpis.through_date: its last event day, or
today if that is earlier); the period holding that day is in progress unless
it is the period's last day. The sidebar's defaults follow the data's extent.
"""

from __future__ import annotations

from datetime import date

import golden
import pytest

import kpis
from kpis import periods
from ui import state

NOV20 = date(2026, 11, 20)


@pytest.mark.parametrize("start, grain, as_of, elapsed, total, partial", [
    (date(2026, 11, 1), "month", NOV20, 20, 30, True),  # Nov 1..20 of 30 days
    (date(2026, 10, 1), "month", NOV20, 31, 31, False),  # October ended before Nov 20
    (date(2026, 10, 1), "quarter", NOV20, 51, 92, True),  # Oct 31 + Nov 20 = 51 of 92 days
    (date(2026, 11, 16), "week", NOV20, 5, 7, True),  # Mon 16 .. Fri 20
    (date(2026, 11, 1), "month", date(2026, 11, 30), 30, 30, False),  # the last day: complete
    (date(2026, 12, 1), "month", NOV20, 0, 31, False),  # not begun
    (date(2026, 11, 1), "month", None, 30, 30, False),  # no as_of: whole periods
])
def test_elapsed_days(start, grain, as_of, elapsed, total, partial):
    assert periods.elapsed_days(start, grain, as_of) == elapsed
    assert periods.days_in(start, grain) == total
    assert periods.is_partial(start, grain, as_of) is partial


@pytest.mark.parametrize("grain, as_of, expected", [
    ("month", NOV20, date(2026, 10, 1)),
    ("month", date(2026, 11, 30), date(2026, 11, 1)),  # its last day: November is complete
    ("quarter", NOV20, date(2026, 7, 1)),  # Q4 in progress -> Q3
    ("week", NOV20, date(2026, 11, 9)),  # W47 (Nov 16-22) in progress -> W46
    ("week", date(2026, 11, 22), date(2026, 11, 16)),  # Sunday: W47 complete
])
def test_last_complete(grain, as_of, expected):
    assert periods.last_complete(grain, as_of) == expected


def test_to_date_label():
    assert periods.to_date_label(date(2026, 11, 1), "month", NOV20) == "2026-11 (to date: 20 of 30 days)"
    assert periods.to_date_label(date(2026, 10, 1), "month", NOV20) == "2026-10"


# --------------------------------------------------------------------------- defaults and corrections


def test_defaults_follow_the_data():
    d = state.defaults("month", date(2025, 5, 20), NOV20, today=date(2026, 11, 25))
    assert d.period == "2026-10"  # the last complete month, not the November in progress
    assert d.range == (date(2025, 5, 20), NOV20)  # the trends span the data
    assert state.defaults("quarter", date(2025, 5, 20), NOV20, date(2026, 11, 25)).period == "2026-Q3"
    # Data newer than today (a bill dated ahead): today decides what is complete.
    assert state.defaults("month", date(2025, 5, 20), date(2026, 12, 31), date(2026, 11, 25)).period == "2026-10"
    # Less than one whole period of data: the period in progress, since there is no other.
    assert state.defaults("month", date(2026, 11, 3), NOV20, date(2026, 11, 25)).period == "2026-11"
    # An empty database: today's period and a one-day range (replaced once data arrives).
    empty = state.defaults("month", None, None, date(2026, 11, 25))
    assert empty == state.Defaults("2026-11", (date(2026, 11, 25), date(2026, 11, 25)))


@pytest.mark.parametrize("label, grain, as_of, expected", [
    ("2026-10", "quarter", NOV20, "2026-Q3"),  # Oct 31 is in Q4, still in progress -> Q3
    ("2026-08", "quarter", NOV20, "2026-Q3"),  # Aug 31 is in Q3, complete
    ("2026-Q3", "month", NOV20, "2026-09"),  # the quarter's last day, Sep 30
    ("2026-Q3", "week", NOV20, "2026-W40"),  # Wed Sep 30 is in ISO week 40
    ("2026-11", "quarter", NOV20, "2026-Q3"),  # the month in progress -> the last complete quarter
    ("2026-W46", "month", NOV20, "2026-10"),  # Sun Nov 15 is in November, in progress -> October
])
def test_grain_switch_keeps_the_point_in_time(label, grain, as_of, expected):
    assert state.regrain(label, grain, as_of) == expected


def test_clamp_range():
    first, last = date(2025, 5, 20), NOV20
    assert state.clamp_range((date(2025, 1, 1), date(2025, 12, 31)), first, last) == (first, date(2025, 12, 31))
    assert state.clamp_range((date(2026, 11, 25), date(2026, 11, 25)), first, last) is None
    assert state.clamp_range((first, last), first, last) == (first, last)


def test_valid_tz():
    assert state.valid_tz("Europe/Berlin") and state.valid_tz("UTC")
    assert not state.valid_tz("Mars/Olympus") and not state.valid_tz("") and not state.valid_tz("../etc/passwd")


# --------------------------------------------------------------------------- the engine


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    folder = golden.write(tmp_path_factory.mktemp("golden_progress"))
    c = kpis.connect(folder / "kpi.duckdb")
    kpis.ingest_files(c, [folder])
    yield c
    c.close()


def _value(df, kpi, period):
    return df[(df["kpi"] == kpi) & (df["period"] == period)]["value"].iloc[0]


def test_deployments_per_week_divides_by_the_weeks_elapsed(con):
    args = dict(grain="month", start=date(2026, 10, 1), end=date(2026, 11, 30), kpis=["deployments_per_week"])
    # October is whole on Nov 1: 5 successful deployments / (31 / 7) weeks, as without as_of.
    df = kpis.compute(con, as_of=date(2026, 11, 1), **args)
    assert _value(df, "deployments_per_week", "2026-10") == pytest.approx(5 / (31 / 7))
    # November so far: d9 (Nov 1, UTC) on the first day -> 1 / (1 / 7) = 7 per week, not 1 / (30 / 7).
    assert _value(df, "deployments_per_week", "2026-11") == pytest.approx(7.0)
    # As of Oct 14, October has had 14 days = 2 weeks: the period's 5 successful deployments in the
    # database / 2 weeks = 2.5 (as_of says how many weeks have passed; the events are what was loaded).
    early = kpis.compute(con, as_of=date(2026, 10, 14), grain="month", start=date(2026, 10, 1),
                         end=date(2026, 10, 31), kpis=["deployments_per_week", "deployment_count"])
    assert _value(early, "deployment_count", "2026-10") == 5
    assert _value(early, "deployments_per_week", "2026-10") == pytest.approx(2.5)
    # Without as_of the periods are whole (the CLI's and the golden tests' behaviour).
    whole = kpis.compute(con, **args)
    assert _value(whole, "deployments_per_week", "2026-11") == pytest.approx(1 / (30 / 7))


def test_through_date(con):
    # The golden data's last event: i2 resolved 2026-11-02 (d9 on Nov 1, a cost and predictions on Nov 1).
    assert kpis.through_date(con, today=date(2026, 12, 1)) == date(2026, 11, 2)
    assert kpis.through_date(con, today=date(2026, 10, 20)) == date(2026, 10, 20)  # today is earlier


def test_equal_spans_count_only_the_first_days_of_every_period(con):
    """A period in progress (20 days in) is compared with the same 20 days of the one before."""
    both = dict(grain="month", start=date(2026, 10, 1), end=date(2026, 11, 30))
    df = kpis.compute(con, span_days=10, **both)
    # Oct 1-10: d1 (Oct 2) and d2 (Oct 10 10:00Z, before Oct 11) succeed -> 2; d3 (Oct 20) and later are out.
    assert _value(df, "deployment_count", "2026-10") == 2
    # ... per week over the 10 days counted: 2 / (10 / 7) = 1.4
    assert _value(df, "deployments_per_week", "2026-10") == pytest.approx(1.4)
    # Nov 1-10: d9 (Nov 1 03:30Z) -> 1
    assert _value(df, "deployment_count", "2026-11") == 1
    # ML incidents started Oct 1-10: i6 (Oct 1 03:00Z), i7 (Oct 2), i3 (Oct 5) -> 3 (i4 is not ML-related)
    assert _value(df, "incident_count", "2026-10") == 3
    # Open at the end of the span (Oct 11 00:00Z): i3 resolved Oct 8, i6 and i7 the same day -> 0 of 3
    open_oct = df[(df["kpi"] == "open_incidents") & (df["period"] == "2026-10")].iloc[0]
    assert (open_oct["value"], open_oct["n"]) == (0, 3)
    # Inference cost USD Oct 1-10: 100 (Oct 1) + 70 (svc-b, Oct 10) = 170; the Oct 15 and Oct 31 lines are out.
    cost = df[(df["kpi"] == "inference_cost") & (df["period"] == "2026-10") & (df["unit"] == "USD")]
    assert cost["value"].iloc[0] == pytest.approx(170.0)
    # Whole periods are unchanged without span_days: 5 deployments, 2 incidents open at Nov 1 (i2, i5).
    whole = kpis.compute(con, **both)
    assert _value(whole, "deployment_count", "2026-10") == 5
    assert _value(whole, "open_incidents", "2026-10") == 2
    with pytest.raises(ValueError, match="span_days"):
        kpis.compute(con, span_days=0, **both)


def test_open_incidents_are_listed_at_midnight_in_the_reporting_time_zone():
    v = state.View(grain="month", period="2026-10", period_start=date(2026, 10, 1), period_end=date(2026, 11, 1),
                   start=date(2026, 1, 1), end=date(2026, 10, 31), tz="America/New_York")
    at = v.open_at()
    # Nov 1 00:00 in New York (EDT, UTC-4) is 04:00Z: the moment October ends there.
    assert at.utcoffset().total_seconds() == -4 * 3600
    assert (at.year, at.month, at.day, at.hour) == (2026, 11, 1, 0)


@pytest.mark.parametrize("grain, first, expected", [
    ("month", date(2025, 5, 20), ("2025-05", "from 05-20")),  # 12 of May's 31 days
    ("quarter", date(2025, 5, 20), ("2025-Q2", "from 05-20")),  # 42 of Q2's 91 days
    ("week", date(2025, 5, 20), ("2025-W21", "from 05-20")),  # a Tuesday: 6 of the week's 7 days
    ("week", date(2025, 5, 19), None),  # a Monday begins its week
    ("month", date(2025, 5, 1), None),  # the first of the month: May is whole
    ("day", date(2025, 5, 20), None),  # a day is never begun late
])
def test_the_period_the_data_begins_in_after_its_first_day(grain, first, expected):
    v = state.View(grain=grain, period="x", period_start=date(2026, 10, 1), period_end=date(2026, 11, 1),
                   start=first, end=date(2026, 10, 31), data_first=first, data_last=date(2026, 10, 31))
    assert v.first_partial == expected
    assert state.View(grain=grain, period="x", period_start=date(2026, 10, 1), period_end=date(2026, 11, 1),
                      start=first, end=date(2026, 10, 31)).first_partial is None  # no data


# --------------------------------------------------------------------------- day grain


def test_day_grain_periods():
    day = date(2026, 7, 14)
    assert periods.period_start(day, "day") == day and periods.next_start(day, "day") == date(2026, 7, 15)
    assert periods.label(day, "day") == "2026-07-14"
    assert periods.parse_label("2026-07-14") == ("day", day, date(2026, 7, 15))
    with pytest.raises(ValueError, match="bad day"):
        periods.parse_label("2026-02-30")
    # Feb 27 .. Mar 2 2026: 4 days (2026 is not a leap year)
    assert periods.spine(date(2026, 2, 27), date(2026, 3, 2), "day") == [date(2026, 2, 27), date(2026, 2, 28),
                                                                        date(2026, 3, 1), date(2026, 3, 2)]
    assert periods.count(date(2026, 2, 27), date(2026, 3, 2), "day") == 4
    assert periods.shift(date(2026, 3, 1), "day", -1) == date(2026, 2, 28)
    assert periods.weeks_in(day, "day") == pytest.approx(1 / 7)
    # a day is never in progress: it is over once as_of reaches it
    assert periods.is_partial(NOV20, "day", NOV20) is False
    assert periods.last_complete("day", NOV20) == NOV20


def test_day_grain_defaults_to_the_last_90_days():
    d = state.defaults("day", date(2025, 5, 20), NOV20, today=date(2026, 11, 25))
    assert d.period == "2026-11-20"  # the data's last day is complete once it is reached
    # Nov 20 and the 89 days before it: from Aug 23 (Aug 23..31 is 9 days, Sep 30, Oct 31, Nov 20: 90)
    assert d.range == (date(2026, 8, 23), NOV20)
    assert state.regrain("2026-10", "day", NOV20) == "2026-10-31"
