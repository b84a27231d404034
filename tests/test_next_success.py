"""deployment_next_success (kpis.rollups, "The next successful deployment") and deployment_links ("What other
events say of a deployment"): kept at ingest, exact after any re-export, and the engine's values the same whether
it reads the tables or computes them from the events."""

from __future__ import annotations

from datetime import date

import pytest

import kpis
from kpis import dialect, engine, rollups

HEADER = "deployment_id,service,deployed_at,team,status\n"
MAY = dict(grain="month", start=date(2026, 5, 1), end=date(2026, 5, 31))
RECOVERY = ["failed_deployment_recovery_median_hours", "failed_deployment_recovery_mean_hours"]


def _write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return path


def _table(con) -> dict:
    return dict(con.execute(f"SELECT deployment_id, next_success_at FROM {rollups.NEXT_SUCCESS}").fetchall())


def _computed(con) -> dict:
    """What the engine computes without the table, for the deployments the table covers."""
    links = engine._render("incident_links", engine.Request(), "incidents")
    sql = f"WITH incident_links AS ({links}) {dialect.DUCKDB.next_later(*engine._recovery_parts(False))}"
    return dict(con.execute(sql).fetchall())


def _recovery(con, use_rollups: bool) -> list:
    df = kpis.compute(con, kpis=RECOVERY, use_rollups=use_rollups, **MAY)
    return sorted((r.kpi, r.period, None if r.value != r.value else r.value, r.n) for r in df.itertuples())


def _links(con, kept: bool) -> list:
    """deployment_links' rows, or what the engine computes from the events for every deployment."""
    if kept:  # with each deployment's time (a bounded request reads its range's), which must be the deployment's
        assert con.execute(f"SELECT count(*) FROM {rollups.LINKS} l LEFT JOIN deployments d USING (deployment_id) "
                           "WHERE l.deployed_at IS DISTINCT FROM d.deployed_at").fetchone()[0] == 0
        sql = (f"SELECT deployment_id, incident_named, fix_named, next_success_at, incidents_resolved_at "
               f"FROM {rollups.LINKS}")
    else:
        req = engine.Request()  # no table is current for it: the next successes computed too
        sql = (f"WITH incident_links AS ({engine._render('incident_links', req, 'incidents')}) "
               f"{engine.deployment_facts(req)}")
    return sorted(con.execute(sql).fetchall(), key=str)


DELIVERY = ["change_failure_rate", "deployment_rework_rate", "deployment_count"]


def _check(con, exact: bool = True) -> dict:
    """``exact`` False: the table may also keep a deployment that no longer needs recovering (an incident
    re-exported naming another); the engine never reads it (it looks up the ones that need recovering)."""
    assert {rollups.NEXT_SUCCESS, rollups.LINKS} <= rollups.current(con)
    table = _table(con)
    computed = _computed(con)
    assert table == computed if exact else table.items() >= computed.items()
    assert _links(con, True) == _links(con, False)
    assert _recovery(con, True) == _recovery(con, False)
    ours, events = (kpis.compute(con, kpis=DELIVERY, use_rollups=u, **MAY) for u in (True, False))
    assert ours.equals(events)
    return table


def test_kept_exact_through_re_exports(tmp_path):
    con = kpis.connect(tmp_path / "kpi.duckdb")
    kpis.ingest_files(con, [_write(tmp_path, "d1.csv", HEADER +
                                   "f1,svc-a,2026-05-04T10:00:00Z,ops,failed\n"
                                   "s1,svc-a,2026-05-04T12:00:00Z,ops,success\n"
                                   "s2,svc-a,2026-05-04T15:00:00Z,ops,success\n"
                                   "f2,svc-b,2026-05-06T08:00:00Z,ml,rolled_back\n"
                                   "s3,svc-b,2026-05-07T08:00:00Z,ml,success\n")])
    table = _check(con)
    # f1 -> s1 (12:00 - 10:00 = 2 h), f2 -> s3 (24 h); the successes need no recovery: not in the table
    assert set(table) == {"f1", "f2"}
    df = kpis.compute(con, kpis=RECOVERY, **MAY)
    assert df.set_index("kpi").loc["failed_deployment_recovery_mean_hours", "value"] == pytest.approx(13.0)

    # s1 re-exported on svc-b: f1's next success is s2 (15:00 - 10:00 = 5 h); f2's is now s1?  No: s1 at
    # 05-04 12:00 is before f2 (05-06), so f2 keeps s3 (24 h). Mean (5 + 24) / 2 = 14.5
    kpis.ingest_files(con, [_write(tmp_path, "d2.csv", HEADER + "s1,svc-b,2026-05-04T12:00:00Z,ops,success\n")])
    table = _check(con)
    assert str(table["f1"]) == "2026-05-04 15:00:00"
    df = kpis.compute(con, kpis=RECOVERY, **MAY)
    assert df.set_index("kpi").loc["failed_deployment_recovery_mean_hours", "value"] == pytest.approx(14.5)

    # s3 moved later (05-08 08:00): f2 recovers in 48 h; mean (5 + 48) / 2 = 26.5
    kpis.ingest_files(con, [_write(tmp_path, "d3.csv", HEADER + "s3,svc-b,2026-05-08T08:00:00Z,ml,success\n")])
    _check(con)
    df = kpis.compute(con, kpis=RECOVERY, **MAY)
    assert df.set_index("kpi").loc["failed_deployment_recovery_mean_hours", "value"] == pytest.approx(26.5)

    # f2 (rolled back) re-exported two days earlier, 05-04 11:00; no success changed: its next success is now
    # s1 (svc-b since d2, 05-04 12:00): 1 h
    kpis.ingest_files(con, [_write(tmp_path, "d3b.csv", HEADER + "f2,svc-b,2026-05-04T11:00:00Z,ml,rolled_back\n")])
    assert str(_check(con)["f2"]) == "2026-05-04 12:00:00"

    # s2 re-exported as failed: f1 has no later success on svc-a (open); s2 itself needs recovering, never
    # recovered either. Only f2 counts: 1 h, n = 1
    kpis.ingest_files(con, [_write(tmp_path, "d4.csv", HEADER + "s2,svc-a,2026-05-04T15:00:00Z,ops,failed\n")])
    table = _check(con)
    assert table["f1"] is None and table["s2"] is None
    df = kpis.compute(con, kpis=RECOVERY, **MAY).set_index("kpi")
    assert (df.loc["failed_deployment_recovery_mean_hours", "value"], df.loc["failed_deployment_recovery_mean_hours",
                                                                            "n"]) == (pytest.approx(1.0), 1)

    # an incident names s1 (a success, now on svc-b): it needs recovering; the next svc-b success after
    # 05-04 12:00 is s3 (05-08 08:00): 92 h. Mean (1 + 92) / 2 = 46.5
    kpis.ingest_files(con, [_write(tmp_path, "i1.csv", "incident_id,service,started_at,resolved_at,deployment_id\n"
                                   "k1,svc-b,2026-05-04T13:00:00Z,,s1\n")])
    table = _check(con)
    assert str(table["s1"]) == "2026-05-08 08:00:00"
    df = kpis.compute(con, kpis=RECOVERY, **MAY)
    assert df.set_index("kpi").loc["failed_deployment_recovery_mean_hours", "value"] == pytest.approx(46.5)
    con.close()


def test_rows_changed_outside_ingest_are_not_read_until_rebuilt(tmp_path):
    con = kpis.connect(tmp_path / "kpi.duckdb")
    kpis.ingest_files(con, [_write(tmp_path, "d1.csv", HEADER +
                                   "f1,svc-a,2026-05-04T10:00:00Z,ops,failed\n"
                                   "s1,svc-a,2026-05-04T12:00:00Z,ops,success\n")])
    assert rollups.NEXT_SUCCESS in rollups.current(con)
    con.execute("INSERT INTO deployments (deployment_id, service, deployed_at, environment, status) "
                "VALUES ('s0', 'svc-a', TIMESTAMP '2026-05-04 11:00:00', 'production', 'success')")
    con.close()
    ro = kpis.connect(tmp_path / "kpi.duckdb", read_only=True)
    assert rollups.NEXT_SUCCESS not in rollups.current(ro)  # a row count it was not built for
    # f1 -> s0 (1 h), computed without the table
    assert kpis.compute(ro, kpis=RECOVERY, **MAY).set_index("kpi").loc[
        "failed_deployment_recovery_mean_hours", "value"] == pytest.approx(1.0)
    ro.close()
    rw = kpis.connect(tmp_path / "kpi.duckdb")  # a read-write open brings it up to date
    assert _check(rw)["f1"] is not None
    rw.close()


def test_the_links_follow_the_incidents_that_name_a_deployment(tmp_path):
    con = kpis.connect(tmp_path / "kpi.duckdb")
    kpis.ingest_files(con, [_write(tmp_path, "d1.csv", HEADER +
                                   "s1,svc-a,2026-05-04T10:00:00Z,ops,success\n"
                                   "s2,svc-a,2026-05-05T10:00:00Z,ops,success\n"
                                   "s3,svc-a,2026-05-06T10:00:00Z,ops,success\n"
                                   "s4,svc-a,2026-05-07T10:00:00Z,ops,success\n")])
    _check(con)
    assert _links(con, True) == []  # no incident, nothing failed: no deployment has a fact yet

    def rates():
        df = kpis.compute(con, kpis=DELIVERY, **MAY).set_index("kpi")["value"]
        return df["change_failure_rate"], df["deployment_rework_rate"]

    assert rates() == (0.0, 0.0)
    # k1 names s2 (it failed: 1 of 4) and s3 as its fix (rework: 1 of 4); s2 recovers at s3 (24 h), k1 open
    kpis.ingest_files(con, [_write(tmp_path, "i1.csv",
                                   "incident_id,service,started_at,resolved_at,deployment_id,fix_deployment_id\n"
                                   "k1,svc-a,2026-05-05T11:00:00Z,,s2,s3\n")])
    _check(con)
    facts = {r[0]: r[1:] for r in _links(con, True)}
    assert facts["s2"][:2] == (True, False) and str(facts["s2"][2]) == "2026-05-06 10:00:00" and facts["s2"][3] is None
    assert facts["s3"][:2] == (False, True)
    assert rates() == (0.25, 0.25)
    # k1 re-exported resolved and naming s4 instead: s2 no longer failed, s4 did (its recovery: none after it)
    kpis.ingest_files(con, [_write(tmp_path, "i2.csv",
                                   "incident_id,service,started_at,resolved_at,deployment_id,fix_deployment_id\n"
                                   "k1,svc-a,2026-05-05T11:00:00Z,2026-05-08T11:00:00Z,s4,s3\n")])
    _check(con, exact=False)
    facts = {r[0]: r[1:] for r in _links(con, True)}
    assert "s2" not in facts and facts["s4"][0] and str(facts["s4"][3]) == "2026-05-08 11:00:00"
    assert rates() == (0.25, 0.25)
    con.close()


def test_a_link_window_reads_the_links_from_the_events(tmp_path):
    # the kept links are the incidents' own; a link window adds others, so the engine computes them then
    kept = engine.deployment_ctes(engine.Request(rollups=frozenset({rollups.NEXT_SUCCESS, rollups.LINKS})))
    window = engine.deployment_ctes(engine.Request(rollups=frozenset({rollups.NEXT_SUCCESS, rollups.LINKS}),
                                                   link_window_hours=24.0))
    assert f"FROM {rollups.LINKS}" in kept and f"FROM {rollups.LINKS}" not in window
    # ... and the table is not read when it is not current (a row count it was not built for)
    con = kpis.connect(tmp_path / "kpi.duckdb")
    kpis.ingest_files(con, [_write(tmp_path, "d1.csv", HEADER + "f1,svc-a,2026-05-04T10:00:00Z,ops,failed\n")])
    con.execute("INSERT INTO incidents (incident_id, service, started_at, ml_related, deployment_id) "
                "VALUES ('k9', 'svc-a', TIMESTAMP '2026-05-04 11:00:00', TRUE, 'f1')")
    assert rollups.LINKS not in rollups.current(con)
    con.close()
