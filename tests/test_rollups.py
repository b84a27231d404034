"""Daily rollups of costs and predictions (kpis/rollups.py): the same KPIs as the events, kept current by ingest.

The engine reads a rollup only when it is current; these tests compare every
KPI computed from the rollups with the same KPI computed from the events,
value by value, and follow the rollups through restatements, rejected
batches, rows written around ingest and databases made before rollups.
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

import kpis
from kpis import drivers, engine, rollups
from tests import golden

BOTH = frozenset({"costs_daily", "cost_runs_daily", "predictions_daily", rollups.NEXT_SUCCESS, rollups.LINKS,
                  rollups.RUN_TEAMS})

REQUESTS = [
    dict(grain="month"),
    dict(grain="month", by="team"),
    dict(grain="quarter", by="service"),
    dict(grain="week", by="model"),
    dict(grain="month", by="team", tz="America/New_York"),
    dict(grain="month", filters={"team": ["search", "recs", "fraud"]}),
    dict(grain="month", by="service", span_days=10),
    dict(grain="quarter", span_days=40, slo=0.99),
]


def _same(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _assert_rollups_agree(con, **kw) -> int:
    ours = engine.compute(con, **kw)
    events = engine.compute(con, use_rollups=False, **kw)
    assert len(ours) == len(events) and list(ours.columns) == list(events.columns)
    keys = [c for c in ours.columns if c not in ("value", "n")]
    assert ours[keys].astype(str).equals(events[keys].astype(str))
    for a, b, kpi, period, n1, n2 in zip(ours["value"], events["value"], ours["kpi"], ours["period"],
                                         ours["n"], events["n"]):
        assert _same(a, b), (kw, kpi, period, a, b)
        assert n1 == n2, (kw, kpi, period, n1, n2)
    return int(ours["value"].notna().sum())


@pytest.fixture(scope="module")
def golden_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("rollup_golden") / "golden.duckdb"
    con = kpis.connect(path)
    kpis.ingest_files(con, [golden.write(tmp_path_factory.mktemp("golden_csv"))])
    con.close()
    return path


@pytest.mark.parametrize("kw", REQUESTS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("data", ["golden", "sample"])
def test_every_kpi_from_the_rollups_equals_the_events(data, kw, golden_db, sample_db):
    con = kpis.connect(golden_db if data == "golden" else sample_db, read_only=True)
    try:
        assert rollups.current(con) == BOTH  # else both sides read the events and the test proves nothing
        assert _assert_rollups_agree(con, **kw) > 0
    finally:
        con.close()


def test_rollups_are_far_smaller_than_the_events(sample_db):
    con = kpis.connect(sample_db, read_only=True)
    try:
        for r in rollups.ROLLUPS:
            events = con.execute(f"SELECT count(*) FROM {r.table}").fetchone()[0]
            rows = con.execute(f"SELECT count(*) FROM {r.name}").fetchone()[0]
            # every event is in exactly one rollup row: the row counts add up to the events
            counted = "rows" if r.table == "predictions" else "lines"
            in_scope = con.execute(f"SELECT count(*) FROM {r.events()}").fetchone()[0]
            assert con.execute(f"SELECT sum({counted}) FROM {r.name}").fetchone()[0] == in_scope <= events
            assert 0 < rows <= events
    finally:
        con.close()


COSTS = """date,amount,service,category,team,run_id
2026-10-01,100,svc-a,inference,t1,
2026-10-01,40,svc-b,inference,t2,
2026-10-02,10,svc-a,training,t1,r1
2026-10-03,30,svc-a,training,t1,r1
2026-10-03,20,svc-b,training,t2,r2
"""
# The same source restates October 1st to 3rd: svc-a's 1st is now 70 (was 100) and svc-b's run r2 50 (was 20).
# A restated export lists every line of its period (lines it leaves out are removed: tests/test_ingest_restate.py).
RESTATED = """date,amount,service,category,team,run_id
2026-10-01,70,svc-a,inference,t1,
2026-10-01,40,svc-b,inference,t2,
2026-10-02,10,svc-a,training,t1,r1
2026-10-03,30,svc-a,training,t1,r1
2026-10-03,50,svc-b,training,t2,r2
"""
PREDICTIONS = """date,service,predictions,team,total_requests,errors,latency_p95_ms
2026-10-01,svc-a,1000,t1,1000,10,100
2026-10-02,svc-a,3000,t1,3000,30,200
2026-10-01,svc-b,500,t2,0,,
"""


def _rollup_rows(con, r):
    return sorted(con.execute(f"SELECT * FROM {r.name}").fetchall(), key=str)


def _rebuilt_rows(con, r):
    return sorted(con.execute(r.select()).fetchall(), key=str)


def _october(con, kpi, **kw):
    df = engine.compute(con, grain="month", start=date(2026, 10, 1), end=date(2026, 10, 31), kpis=[kpi], **kw)
    row = df[df["period"] == "2026-10"].iloc[0]
    return row["value"], int(row["n"])


def test_a_restated_month_replaces_its_rollup_rows(tmp_path):
    (tmp_path / "costs.csv").write_text(COSTS)
    (tmp_path / "restated.csv").write_text(RESTATED)
    (tmp_path / "predictions.csv").write_text(PREDICTIONS)
    con = kpis.connect(tmp_path / "kpi.duckdb")
    kpis.ingest_files(con, [tmp_path / "costs.csv", tmp_path / "predictions.csv"])
    # inference 100 + 40 = 140 over 2 lines; training (10 + 30 + 20) / 2 runs = 30
    assert _october(con, "inference_cost") == (140.0, 2)
    assert _october(con, "training_cost_per_run") == (30.0, 2)
    kpis.ingest_files(con, [tmp_path / "restated.csv"])
    assert rollups.current(con) == BOTH
    for r in rollups.ROLLUPS:
        assert _rollup_rows(con, r) == _rebuilt_rows(con, r)
    # inference 70 + 40 = 110; training (10 + 30 + 50) / 2 runs = 45
    assert _october(con, "inference_cost") == (110.0, 2)
    assert _october(con, "training_cost_per_run") == (45.0, 2)
    assert _october(con, "inference_cost", use_rollups=False) == (110.0, 2)
    # predictions 1000 + 3000 + 500 = 4500 over 3 rows; cost per 1k = 110 / 4500 * 1000
    assert _october(con, "predictions") == (4500.0, 3)
    value, _ = _october(con, "cost_per_1k_predictions")
    assert value == pytest.approx(110 / 4500 * 1000)
    # serving: svc-b's day has no traffic (0 requests) and no serving columns;
    # p95 weighted by requests: (100 x 1000 + 200 x 3000) / 4000 = 175 over 2 days; errors 40 / 4000
    assert _october(con, "latency_p95_ms") == (pytest.approx(175.0), 2)
    assert _october(con, "error_rate") == (pytest.approx(0.01), 2)
    con.close()


def test_a_rejected_batch_leaves_the_rollups_as_they_were(tmp_path):
    (tmp_path / "costs.csv").write_text(COSTS)
    con = kpis.connect(tmp_path / "kpi.duckdb")
    kpis.ingest_files(con, [tmp_path / "costs.csv"])
    before = {r.name: _rollup_rows(con, r) for r in rollups.ROLLUPS}
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a_restated.csv").write_text(RESTATED)  # good on its own ...
    (bad / "b_broken.csv").write_text("date,amount,service\n2026-10-05,-3,svc-a\n")  # ... but the batch fails
    with pytest.raises(kpis.IngestError):
        kpis.ingest_files(con, [bad])
    assert {r.name: _rollup_rows(con, r) for r in rollups.ROLLUPS} == before
    assert rollups.current(con) == BOTH
    assert _october(con, "inference_cost") == (140.0, 2)
    con.close()


def test_rows_written_around_ingest_are_read_from_the_events_until_rebuilt(tmp_path):
    (tmp_path / "costs.csv").write_text(COSTS)
    path = tmp_path / "kpi.duckdb"
    con = kpis.connect(path)
    kpis.ingest_files(con, [tmp_path / "costs.csv"])
    con.execute("INSERT INTO costs (date, amount, service, currency, category, source) "
                "VALUES ('2026-10-09', 5, 'svc-c', 'USD', 'inference', 'manual')")
    # the rollup no longer counts every row (the next successful deployments do not read costs)
    assert rollups.current(con) == {"predictions_daily", rollups.NEXT_SUCCESS, rollups.LINKS}
    assert _october(con, "inference_cost") == (145.0, 3)  # read from the events: 100 + 40 + 5
    con.close()
    con = kpis.connect(path)  # a read-write open rebuilds it
    assert rollups.current(con) == BOTH
    assert _october(con, "inference_cost") == (145.0, 3)
    con.close()


def test_a_database_from_before_rollups(tmp_path):
    (tmp_path / "costs.csv").write_text(COSTS)
    path = tmp_path / "kpi.duckdb"
    con = kpis.connect(path)
    kpis.ingest_files(con, [tmp_path / "costs.csv"])
    for r in rollups.ROLLUPS:
        con.execute(f"DROP TABLE {r.name}")
    con.execute(f"DROP TABLE {rollups.STATE}")
    con.close()
    ro = kpis.connect(path, read_only=True)  # the dashboard reads it as it is: from the events
    assert rollups.current(ro) == frozenset()
    assert _october(ro, "inference_cost") == (140.0, 2)
    assert drivers.drivers(ro, "inference_cost", "team", "2026-10").value == 140.0
    ro.close()
    con = kpis.connect(path)
    assert rollups.current(con) == BOTH
    assert _october(con, "inference_cost") == (140.0, 2)
    con.close()


def test_an_outdated_definition_is_rebuilt(tmp_path, monkeypatch):
    (tmp_path / "costs.csv").write_text(COSTS)
    path = tmp_path / "kpi.duckdb"
    con = kpis.connect(path)
    kpis.ingest_files(con, [tmp_path / "costs.csv"])
    con.execute(f"UPDATE {rollups.STATE} SET version = 'old' WHERE name = 'costs_daily'")
    con.execute(f"UPDATE {rollups.STATE} SET version = 'old' WHERE name = ?", [f"{rollups.NEXT_SUCCESS}:incidents"])
    assert rollups.current(con) == {"cost_runs_daily", "predictions_daily", rollups.RUN_TEAMS}
    con.close()
    con = kpis.connect(path)
    assert rollups.current(con) == BOTH
    con.close()


@pytest.mark.parametrize("data", ["golden", "sample"])
def test_drilldowns_read_the_rollups_with_the_same_rows(data, golden_db, sample_db, monkeypatch):
    from kpis import details

    con = kpis.connect(golden_db if data == "golden" else sample_db, read_only=True)
    try:
        first, last = kpis.data_range(con)
        calls = [lambda: details.serving_by_service(con, first, last), lambda: details.cost_attribution(con),
                 lambda: details.training_runs(con, first, last),
                 lambda: pd.DataFrame(details.distinct_values(con).items()),
                 lambda: pd.DataFrame(details.distinct_values(con, teams=["search"]).items()),
                 lambda: details.cost_attribution(con, first, last, filters={"team": ["search"]})]
        ours = [f() for f in calls]
        monkeypatch.setattr(rollups, "current", lambda con: frozenset())  # the events
        events = [f() for f in calls]
    finally:
        con.close()
    for a, b in zip(ours, events):
        assert len(a) and list(a.columns) == list(b.columns)
        pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-9)


def test_rollups_hold_no_other_tables():
    # each rollup sums one canonical table; the engine's {rel:...} placeholder accepts only these
    assert {r.table for r in rollups.ROLLUPS} == {"costs", "predictions"}
    with pytest.raises(ValueError):
        engine.relation("deployments", frozenset())


def test_training_runs_are_counted_only_when_a_kpi_reads_them(golden_db):
    from kpis import catalog

    req = engine.Request()
    first, last = date(2026, 10, 1), date(2026, 10, 1)
    alone, _ = engine._source_query("costs", [catalog.get("inference_cost")], req, first, last)
    both, _ = engine._source_query("costs", [catalog.get("inference_cost"), catalog.get("training_cost_per_run")],
                                   req, first, last)
    assert "DISTINCT" not in alone and "SELECT DISTINCT" in both  # the runs (kpis/sql/cost_runs.sql)
    con = kpis.connect(golden_db, read_only=True)
    try:
        one = engine.compute(con, grain="month", kpis=["inference_cost"])
        every = engine.compute(con, grain="month")
    finally:
        con.close()
    every = every[every["kpi"] == "inference_cost"].reset_index(drop=True)
    pd.testing.assert_frame_equal(one, every)


# Training runs that cross days, months and teams (kpis/sql/cost_run_teams.sql and its table rollups.RUN_TEAMS):
# r1 alpha over two October days; r2 on one day for alpha and beta; r3 beta on 31 October and 1 November;
# r4 gamma on one November day; r5 alpha on one day, on two services (one row of the table).
RUNS = """date,amount,service,category,team,run_id,currency
2026-10-01,10,svc-a,training,alpha,r1,USD
2026-10-02,20,svc-a,training,alpha,r1,USD
2026-10-05,30,svc-a,training,alpha,r2,USD
2026-10-05,40,svc-b,training,beta,r2,USD
2026-10-31,5,svc-b,training,beta,r3,USD
2026-11-01,15,svc-b,training,beta,r3,USD
2026-11-10,50,svc-c,training,gamma,r4,USD
2026-10-07,6,svc-a,training,alpha,r5,USD
2026-10-07,4,svc-b,training,alpha,r5,USD
"""


def _runs(con, **kw) -> dict:
    df = engine.compute(con, kpis=["training_cost_per_run"], start=date(2026, 10, 1), end=date(2026, 12, 31), **kw)
    key = [c for c in ("period", "team") if c in df]
    return {tuple(r[c] for c in key): (None if pd.isna(r["value"]) else round(r["value"], 6), int(r["n"]))
            for r in df.to_dict("records")}


def test_runs_alone_in_their_key_are_counted_and_the_others_made_distinct(tmp_path):
    (tmp_path / "runs.csv").write_text(RUNS)
    con = kpis.connect(tmp_path / "kpi.duckdb")
    kpis.ingest_files(con, [tmp_path / "runs.csv"])
    assert rollups.RUN_TEAMS in rollups.current(con)
    marks = {(t, r): (st, sr) for t, r, st, sr in con.execute(
        f"SELECT team, run_id, bool_and(single_team), bool_and(single_run) FROM {rollups.RUN_TEAMS} GROUP BY ALL"
    ).fetchall()}
    # r1 and r3 span two days of one team; r2 is one day of each of two teams; r4 and r5 are one row each
    assert marks == {("alpha", "r1"): (False, False), ("alpha", "r2"): (True, False), ("beta", "r2"): (True, False),
                     ("beta", "r3"): (False, False), ("gamma", "r4"): (True, True), ("alpha", "r5"): (True, True)}
    by_team = _runs(con, grain="month", by="team")
    # October: alpha r1 (10 + 20), r2 (30), r5 (6 + 4) = 70 / 3 runs; beta r2 (40), r3 (5) = 45 / 2.
    # November: beta r3 (15) / 1; gamma r4 (50) / 1. December: no runs.
    assert by_team[("2026-10", "alpha")] == (round(70 / 3, 6), 3) and by_team[("2026-10", "beta")] == (22.5, 2)
    assert by_team[("2026-10", "gamma")] == (None, 0)
    assert by_team[("2026-11", "beta")] == (15.0, 1) and by_team[("2026-11", "gamma")] == (50.0, 1)
    # Ungrouped, r2 is one run: October r1, r2, r3, r5 = (30 + 70 + 5 + 10) / 4; November r3, r4 = 65 / 2.
    assert _runs(con, grain="month") == {("2026-10",): (28.75, 4), ("2026-11",): (32.5, 2), ("2026-12",): (None, 0)}
    # The quarter: r3 is one run of beta's (5 + 15 + 40 for r2 = 60 / 2); every run once ungrouped: 180 / 5.
    q = _runs(con, grain="quarter", by="team")
    assert q[("2026-Q4", "alpha")] == (round(70 / 3, 6), 3) and q[("2026-Q4", "beta")] == (30.0, 2)
    assert _runs(con, grain="quarter") == {("2026-Q4",): (36.0, 5)}
    # Filtered to alpha and beta, ungrouped: r2 still once; the first day of each month only: r1 (10), r3 (15).
    assert _runs(con, grain="month", filters={"team": ["alpha", "beta"]})[("2026-10",)] == (28.75, 4)
    assert _runs(con, grain="month", span_days=1)[("2026-10",)] == (10.0, 1)
    assert _runs(con, grain="month", span_days=1)[("2026-11",)] == (15.0, 1)
    # Every shape equals the events (cost_runs.sql's DISTINCT), and reads the table only where it may.
    for kw in (dict(grain="month", by="team"), dict(grain="month"), dict(grain="week", by="team"),
               dict(grain="quarter"), dict(grain="month", filters={"team": ["alpha"]}),
               dict(grain="month", by="team", span_days=3), dict(grain="month", by="service")):
        assert _assert_rollups_agree(con, kpis=["training_cost_per_run"], **kw) > 0, kw
    from kpis import catalog

    k = [catalog.get("training_cost_per_run")]
    first, last = date(2026, 10, 1), date(2026, 11, 1)
    reads = {shape: f"FROM {rollups.RUN_TEAMS} d" in engine._source_query(
        "costs", k, engine.Request(rollups=rollups.current(con), **kw), first, last)[0]
        for shape, kw in {"team": dict(by="team"), "none": {}, "team filter": dict(filters=(("team", ("a",)),)),
                          "service": dict(by="service"),
                          "service filter": dict(filters=(("service", ("svc-a",)),))}.items()}
    assert reads == {"team": True, "none": True, "team filter": True, "service": False, "service filter": False}
    con.close()
