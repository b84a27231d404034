"""The paths that make a first page visit fast must not change what it shows (issue 12).

* ``ui.data.ahead`` starts a query on a worker thread; ``query`` with the same arguments takes its result, so
  the query runs once, its errors reach the section that asks, and a run waits for what it started.
* Facts about a read-only connection's data (the data range, the current rollups) are asked once per
  connection (no process can write the file while it is open); a connection that may write asks every time.
* Targets of the same scope share one compute over all their periods.
"""

from __future__ import annotations

import shutil
import threading
import time
from datetime import date, timedelta

import pytest

import kpis
from kpis import engine, targets
from ui import data


@pytest.fixture
def probe(monkeypatch, sample_db):
    """An allow-listed query 'probe' that counts its calls (x=0 raises), on the sample database."""
    monkeypatch.setenv("KPI_DB", str(sample_db))
    calls: list = []

    def run(con, x):
        time.sleep(0.05)
        calls.append(x)
        if x == 0:
            raise ValueError("probe failed")
        return x * 10

    monkeypatch.setitem(data.QUERIES, "probe", run)
    data.clear_cache()
    yield calls
    data.clear_cache()


def _in_run(fn):
    """``fn()`` inside an app run (begin_run .. end_run) on a thread of its own, as a script run is."""
    out: dict = {}

    def body():
        data.begin_run()
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e
        finally:
            data.end_run()

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def test_a_query_started_ahead_runs_once_and_is_taken_by_query(probe):
    def page():
        later = data.ahead("probe", x=3)
        data.ahead("probe", x=3)  # asked twice ahead: still one run
        return later(), data.query("probe", x=3)

    assert _in_run(page) == (30, 30)
    assert probe == [3]


def test_a_run_waits_for_what_it_started_and_gives_the_connection_back(probe):
    _in_run(lambda: data.ahead("probe", x=4))  # started, never asked (a section that stopped early)
    assert probe == [4]  # finished before the run ended
    got = threading.Event()

    def writer():
        with data._lock().write():
            got.set()

    threading.Thread(target=writer, daemon=True).start()
    assert got.wait(5)


def test_an_error_of_a_query_started_ahead_reaches_the_section_that_asks(probe):
    def page():
        later = data.ahead("probe", x=0)
        with pytest.raises(ValueError, match="probe failed"):
            later()
        return True

    assert _in_run(page)


def test_outside_a_run_ahead_only_returns_the_query(probe):
    later = data.ahead("probe", x=5)
    assert probe == []  # nothing started
    assert later() == 50 and probe == [5]


def test_read_only_facts_are_asked_once_and_a_writer_asks_every_time(sample_db, tmp_path, monkeypatch):
    asked = []
    real = engine._data_range
    monkeypatch.setattr(engine, "_data_range", lambda *a: asked.append(a) or real(*a))
    con = kpis.connect(sample_db, read_only=True)
    first = engine.data_range(con)
    assert engine.data_range(con) == first and engine.through_date(con) is not None
    assert len(asked) == 1
    engine.data_range(con, "Asia/Tokyo")  # another zone: another fact
    assert len(asked) == 2
    con.close()

    copy = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, copy)
    asked.clear()
    rw = kpis.connect(copy)
    lo, hi = engine.data_range(rw)
    rw.execute("INSERT INTO deployments (deployment_id, service, deployed_at, environment, status) "
               "VALUES ('later', 'svc', ?, 'production', 'success')", [f"{hi.year + 1}-01-15 10:00:00"])
    assert engine.data_range(rw) == (lo, date(hi.year + 1, 1, 15))  # the writer sees its own new row
    assert len(asked) == 2
    rw.close()


def test_targets_of_one_scope_share_one_compute(sample_db):
    """The lead profile judges trends (earlier periods of lead time, incidents, cost per 1k and training cost)
    and scoped targets (tier-1, per team): each scope is computed once, over all the periods it needs."""
    calls = []

    def counted(con, **kw):
        calls.append((tuple(sorted((k, tuple(v)) for k, v in (kw.get("filters") or {}).items())), kw.get("by"),
                      kw.get("slo")))
        return engine.compute(con, **kw)

    con = kpis.connect(sample_db, read_only=True)
    rng = engine.data_range(con)
    frame = targets.compute_with_targets(con, "lead", grain="month", start=date(rng[1].year, 1, 1), end=rng[1],
                                         compute=counted)
    con.close()
    fetches = calls[1:]  # the first computes the rows themselves; then one call per scope
    assert fetches and len(fetches) == len(set(fetches)), calls
    assert frame["status"].isin(["red", "amber", "green"]).any()


def test_recovery_is_computed_only_when_read_and_only_near_the_range(sample_db):
    """Failed deployment recovery sorts the deployments that need recovering among the successes; a compute
    that reads no recovery column leaves it empty, and a compute of some months recovers only the deployments
    near them (the successes from their start on): each month's values equal those of the whole range."""
    from kpis import catalog, periods, rollups

    recovery = ["failed_deployment_recovery_median_hours", "failed_deployment_recovery_mean_hours"]
    con = kpis.connect(sample_db, read_only=True)
    req = engine.Request(rollups=rollups.current(con))
    first, last = date(2026, 1, 1), date(2026, 3, 1)
    # With the facts kept at ingest (deployment_links) neither computes a recovery: both read the kept rows of
    # the deployments near the range.
    assert rollups.LINKS in req.rollups
    for kpi_ids in (["deployment_count"], recovery):
        sql, _ = engine._source_query("deployments", [catalog.get(k) for k in kpi_ids], req, first, last)
        assert f"FROM {rollups.LINKS} WHERE deployed_at >= $lo_ts AND deployed_at < $hi_ts" in sql
    # Computed per request (a link window, rows written around ingest): only when read, only near the range.
    events = engine.Request(rollups=req.rollups - {rollups.LINKS})
    plain, _ = engine._source_query("deployments", [catalog.get("deployment_count")], events, first, last)
    read, _ = engine._source_query("deployments", [catalog.get(k) for k in recovery], events, first, last)
    assert "WHERE FALSE" in plain and "WHERE FALSE" not in read and "$lo_ts" in read
    assert f"FROM {rollups.LINKS}" not in plain + read
    judged = 0
    for use_rollups in (True, False):
        whole = kpis.compute(con, grain="month", kpis=recovery, use_rollups=use_rollups)
        for label in whole["period"].unique()[:-1]:
            _, start, end = periods.parse_label(label)
            one = kpis.compute(con, grain="month", kpis=recovery, start=start, end=end - timedelta(days=1),
                               use_rollups=use_rollups)
            for k in recovery:
                a = whole[(whole["period"] == label) & (whole["kpi"] == k)].iloc[0]
                b = one[(one["period"] == label) & (one["kpi"] == k)].iloc[0]
                assert ((a["n"], round(a["value"], 9) if a["n"] else None) ==
                        (b["n"], round(b["value"], 9) if b["n"] else None))
                judged += a["n"] > 0
    con.close()
    assert judged > 20
