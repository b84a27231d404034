"""DORA's deployment frequency bucket and the failed-deployment recovery drill-down, worked by hand on
tests/golden.py's DORA set (its timeline is there)."""

from __future__ import annotations

import math
from datetime import date, datetime

import golden
import pytest

import kpis
from kpis import details, dora


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    folder = golden.write(tmp_path_factory.mktemp("golden_dora"), golden.DORA_FILES)
    c = kpis.connect(folder / "kpi.duckdb")
    kpis.ingest_files(c, [folder])
    yield c
    c.close()


@pytest.mark.parametrize(("median_week", "per_week", "bucket"), [
    (5.0, 5.0, "on demand"),   # a deployment on every working day of the median week
    (4.5, 4.0, "daily"),       # 3 or more
    (3.0, 3.0, "daily"),
    (2.5, 2.0, "weekly"),      # 1 or more
    (1.0, 0.5, "weekly"),
    (0.5, 7 / 31, "monthly"),  # one deployment day in a 31-day month: 7 / 31 x 31 / 7 = 1
    (0.0, 0.2, "yearly"),      # 0.2 x 31 / 7 = 0.886 deployment days a month: fewer than one
    (None, 1.0, None),
])
def test_frequency_bucket_rule(median_week, per_week, bucket):
    assert dora.frequency_bucket(median_week, per_week) == bucket


def test_weeks_of_a_period_are_the_iso_weeks_whose_thursday_is_in_it():
    # April 2026 starts on a Wednesday: the week of Mon 03-30 has its Thursday on 04-02, so it is April's;
    # the week of Mon 04-27 has its Thursday on 04-30: April's too. 5 weeks.
    assert dora.weeks_of(date(2026, 4, 1), "month") == [date(2026, 3, 30), date(2026, 4, 6), date(2026, 4, 13),
                                                         date(2026, 4, 20), date(2026, 4, 27)]
    # March 2026 starts on a Sunday: the week of Mon 02-23 (Thursday 02-26) is February's; 03-30 is April's
    assert dora.weeks_of(date(2026, 3, 1), "month") == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16),
                                                         date(2026, 3, 23)]
    assert dora.weeks_of(date(2026, 4, 6), "week") == [date(2026, 4, 6)]
    assert len(dora.weeks_of(date(2026, 4, 1), "quarter")) == 13


def test_deployment_frequency_per_month(con):
    df = dora.deployment_frequency(con, grain="month", start=date(2026, 3, 1), end=date(2026, 4, 30), as_of=None)
    rows = {r["period"]: r for r in df.to_dict(orient="records")}
    # March's weeks (03-02, 03-09, 03-16, 03-23): deployment days 1 (x1), 0, 0, 0 -> median 0;
    # the month averages 7 / 31 per week = one day in 31 days -> monthly
    assert rows["2026-03"]["weeks"] == 4
    assert rows["2026-03"]["median_week_days"] == 0.0
    assert rows["2026-03"]["deployment_days_per_week"] == pytest.approx(7 / 31)
    assert rows["2026-03"]["bucket"] == "monthly"
    # April's weeks: 03-30 (x3 on 04-01; x2 on 03-31 failed) 1, 04-06 (y2; y1 failed) 1, 04-13 (x5) 1,
    # 04-20 (x6) 1, 04-27 (y4) 1 -> median 1 -> weekly
    assert rows["2026-04"]["weeks"] == 5
    assert rows["2026-04"]["median_week_days"] == 1.0
    assert rows["2026-04"]["bucket"] == "weekly"


def test_deployment_frequency_per_team_and_empty_period(con):
    df = dora.deployment_frequency(con, grain="month", by="team", start=date(2026, 2, 1), end=date(2026, 4, 30),
                                   as_of=None)
    rows = {(r["period"], r["team"]): r for r in df.to_dict(orient="records")}
    # ml in April: weeks 03-30 0, 04-06 1 (y2), 04-13 0, 04-20 0, 04-27 1 (y4) -> median 0;
    # 2 days / (30 / 7) = 0.467 a week x 31 / 7 = 2.07 a month -> monthly
    assert rows[("2026-04", "ml")]["median_week_days"] == 0.0
    assert rows[("2026-04", "ml")]["bucket"] == "monthly"
    # ops in April: 03-30 1 (x3), 04-06 0, 04-13 1 (x5), 04-20 1 (x6), 04-27 0 -> median 1 -> weekly
    assert rows[("2026-04", "ops")]["bucket"] == "weekly"
    # February has no deployments: no value, no bucket (never "yearly")
    feb = rows[("2026-02", "ops")]
    assert feb["n"] == 0 and math.isnan(feb["deployment_days_per_week"]) and feb["bucket"] is None


def test_deployment_frequency_leaves_out_weeks_not_begun(con):
    # as of 2026-04-15 only April's weeks of 03-30, 04-06 and 04-13 have begun: 1, 1, 1 -> median 1 over 3 weeks
    df = dora.deployment_frequency(con, grain="month", start=date(2026, 4, 1), end=date(2026, 4, 30),
                                   as_of=date(2026, 4, 15))
    row = df.iloc[0]
    assert row["weeks"] == 3 and row["median_week_days"] == 1.0


def test_failed_deployments_drilldown_lists_the_open_one_with_its_age(con):
    rows = details.failed_deployments(con, date(2026, 4, 1), date(2026, 5, 1), at=datetime(2026, 5, 1))
    # never recovered first, then newest first
    assert list(rows["deployment_id"]) == ["x6", "y3", "x4", "y1"]
    x6 = rows.iloc[0]
    # x6 went out 04-20 10:00, still not recovered on 05-01 00:00: 10 days 14 h = 254 h old
    assert bool(x6["open"]) and x6["age_hours"] == pytest.approx(254.0) and math.isnan(x6["recovery_hours"])
    assert x6["failure_reason"] == "incident" and x6["incident_ids"] == "j2"
    by_id = rows.set_index("deployment_id")
    assert by_id.loc["y3", "recovered_by"] == "deployment y4" and by_id.loc["y3", "recovery_hours"] == 72.0
    assert by_id.loc["x4", "recovered_by"] == "rolled back" and by_id.loc["x4", "recovery_hours"] == 0.5
    assert by_id.loc["y1", "recovered_by"] == "incidents resolved" and by_id.loc["y1", "recovery_hours"] == 24.0
    # the recovered rows are the KPI's: median 24 of 3 (tests/test_engine.py)
    recovered = rows.loc[~rows["open"], "recovery_hours"]
    assert recovered.median() == 24.0 and len(recovered) == 3
    # March: x2, recovered in April by x3
    march = details.failed_deployments(con, date(2026, 3, 1), date(2026, 4, 1), at=datetime(2026, 5, 1))
    assert list(march["deployment_id"]) == ["x2"] and march.iloc[0]["recovered_by"] == "deployment x3"


def test_a_limited_drilldown_says_how_many_rows_there_are_in_all(con):
    # April's failed deployments are x6 (open), y3, x4, y1: 4 rows, 1 open (above). The first 2 of them, and
    # the totals of all 4; without a limit there is no total column.
    first = details.failed_deployments(con, date(2026, 4, 1), date(2026, 5, 1), at=datetime(2026, 5, 1), limit=2)
    assert list(first["deployment_id"]) == ["x6", "y3"]
    assert set(first[details.ROWS_TOTAL]) == {4} and set(first[details.OPEN_TOTAL]) == {1}
    every = details.failed_deployments(con, date(2026, 4, 1), date(2026, 5, 1), at=datetime(2026, 5, 1))
    assert details.ROWS_TOTAL not in every.columns and details.OPEN_TOTAL not in every.columns
    # The same for the deployments and the incidents: the first rows in their order, the count of all.
    deps = details.deployments(con, date(2026, 4, 1), date(2026, 5, 1))
    top = details.deployments(con, date(2026, 4, 1), date(2026, 5, 1), limit=3)
    assert list(top["deployment_id"]) == list(deps["deployment_id"][:3])
    assert set(top[details.ROWS_TOTAL]) == {len(deps)} and len(deps) > 3
    incidents = details.incidents(con, date(2026, 4, 1), date(2026, 5, 1))
    one = details.incidents(con, date(2026, 4, 1), date(2026, 5, 1), limit=1)
    assert list(one["incident_id"]) == list(incidents["incident_id"][:1])
    assert set(one[details.ROWS_TOTAL]) == {len(incidents)} and len(incidents) > 1


def test_deployments_drilldown_marks_rework(con):
    rows = details.deployments(con, date(2026, 4, 1), date(2026, 5, 1)).set_index("deployment_id")
    assert sorted(rows.index[rows["rework"]]) == ["x3", "x5", "y2"]
    assert rows.loc["x5", "fixes_incident_id"] == "j1"


def test_a_database_of_an_earlier_release_opens_read_only_with_the_new_columns(tmp_path):
    import duckdb

    from kpis import schema

    # deployments and incidents as the release before issue 15 made them: no fixes_incident_id, fix_deployment_id
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    for table in schema.TABLES.values():
        cols = [c for c in table.columns if c.name not in ("fixes_incident_id", "fix_deployment_id")]
        old.execute(f"CREATE TABLE {table.name} ({', '.join(f'{c.name} {c.sql_type}' for c in cols)}, "
                    f"{schema.LINEAGE_DDL})")
    old.execute("INSERT INTO deployments (deployment_id, service, deployed_at, environment, status, is_hotfix) "
                "VALUES ('a', 's', TIMESTAMP '2026-04-01 10:00:00', 'production', 'success', TRUE), "
                "('b', 's', TIMESTAMP '2026-04-02 10:00:00', 'production', 'success', FALSE)")
    old.close()
    con = kpis.connect(path, read_only=True)  # the dashboard's way in
    try:
        df = kpis.compute(con, kpis=["deployment_rework_rate"], start=date(2026, 4, 1), end=date(2026, 4, 30))
    finally:
        con.close()
    # a is a hotfix, b is not: 1 of 2
    assert df["value"].iloc[0] == pytest.approx(0.5)


def test_frequency_by_a_group_with_a_filter_that_keeps_no_deployment(con):
    # No team "nobody": each period of the spine has one row with no group, no deployment and no bucket (it was
    # a pandas error: the empty group column came back as float).
    df = dora.deployment_frequency(con, grain="month", by="service", start=date(2026, 3, 1), end=date(2026, 4, 30),
                                   filters={"team": ["nobody"]})
    assert list(df["period"]) == ["2026-03", "2026-04"]
    assert (df["n"] == 0).all() and df["bucket"].isna().all() and df["median_week_days"].isna().all()
