"""Lead time per change and its phases (issue 15, item 5), from the optional changes table, worked by hand.

The timeline (UTC unless an offset is written):

deployments (service search, team alpha; production unless noted)
  d1  2026-03-02 10:00Z  success
  d2  2026-04-01 12:00Z  success
  d3  2026-04-10 09:00Z  failed               (its change does not count)
  d4  2026-04-10 15:00Z  success  staging     (never counts)
  d6  2026-04-11 21:00Z  success              (ships c5 again, after d3 failed)
  d5  2026-06-15 00:00Z  success              (no deployment in May: an empty period)
  dx  2026-04-20 00:00Z  success  team beta   (no change names it)

changes              authored               opened          merged          -> lead  coding review merge->deploy
  c1 d1  2026-03-01 12:00+02:00 = 10:00Z  03-01 16:00Z  03-02 08:00Z  -> 24 h   6 h   16 h   2 h
  c2 d2  2026-03-30 12:00Z (March!)       03-31 00:00Z  04-01 00:00Z  -> 48 h  12 h   24 h  12 h   (April: deployed)
  c3 d2  2026-03-31 12:00Z                (none)        04-01 06:00Z  -> 24 h   null  null   6 h   (a direct push)
  c4 d2  2026-04-01 06:00Z                04-01 07:00Z  04-01 09:00Z  ->  6 h   1 h    2 h   3 h
  c5 d3  2026-04-09 09:00Z                04-09 12:00Z  04-10 00:00Z  -> failed deployment: not counted
  c5 d6  the same change, shipped by d6   ...                         -> 60 h   3 h   12 h  45 h
  c6 d4  2026-04-10 10:00Z                (staging: not a production deployment, not even a row)
  c7 d5  2026-06-14 00:00Z                (none)        (none)        -> 24 h   null  null  null
"""

from __future__ import annotations

import math
from datetime import date

import pytest

import kpis
from kpis import details

DEPLOYMENTS = """deployment_id,service,deployed_at,status,environment,team
d1,search,2026-03-02T10:00:00Z,success,production,alpha
d2,search,2026-04-01T12:00:00Z,success,production,alpha
d3,search,2026-04-10T09:00:00Z,failed,production,alpha
d4,search,2026-04-10T15:00:00Z,success,staging,alpha
d6,search,2026-04-11T21:00:00Z,success,production,alpha
d5,search,2026-06-15T00:00:00Z,success,production,alpha
dx,ranker,2026-04-20T00:00:00Z,success,production,beta
"""

CHANGES = """change_id,deployment_id,authored_at,opened_at,merged_at,repo
c1,d1,2026-03-01T12:00:00+02:00,2026-03-01T16:00:00Z,2026-03-02T08:00:00Z,ml/search
c2,d2,2026-03-30T12:00:00Z,2026-03-31T00:00:00Z,2026-04-01T00:00:00Z,ml/search
c3,d2,2026-03-31T12:00:00Z,,2026-04-01T06:00:00Z,ml/search
c4,d2,2026-04-01T06:00:00Z,2026-04-01T07:00:00Z,2026-04-01T09:00:00Z,ml/search
c5,d3,2026-04-09T09:00:00Z,2026-04-09T12:00:00Z,2026-04-10T00:00:00Z,ml/search
c5,d6,2026-04-09T09:00:00Z,2026-04-09T12:00:00Z,2026-04-10T00:00:00Z,ml/search
c6,d4,2026-04-10T10:00:00Z,,,ml/search
c7,d5,2026-06-14T00:00:00Z,,,ml/search
"""

CHANGE_KPIS = ["change_lead_time_median_hours", "change_lead_time_mean_hours", "change_lead_time_p90_hours",
               "coding_time_median_hours", "review_time_median_hours", "merge_to_deploy_median_hours"]


def _write(folder, files: dict[str, str]):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    folder = _write(tmp_path_factory.mktemp("changes"), {"deployments.csv": DEPLOYMENTS, "changes.csv": CHANGES})
    c = kpis.connect(folder / "kpi.duckdb")
    kpis.ingest_files(c, [folder])
    yield c
    c.close()


def _values(con, **kw) -> dict:
    df = kpis.compute(con, grain="month", start=date(2026, 3, 1), end=date(2026, 6, 30),
                      kpis=CHANGE_KPIS + ["lead_time_median_hours"], **kw)
    return {(r["period"], r["kpi"]): (r["value"], r["n"]) for r in kpis.to_records(df)}


def test_changes_file_is_detected_by_its_header_and_keyed_by_change_and_deployment(con):
    kinds = {r[0]: r[1] for r in con.execute("SELECT file_name, kind FROM ingest_log").fetchall()}
    assert kinds["changes.csv"] == "changes"
    # c5 is two rows (shipped by d3, then by d6); the +02:00 offset is stored in UTC
    assert con.execute("SELECT count(*) FROM changes").fetchone()[0] == 8
    assert con.execute("SELECT strftime(authored_at, '%Y-%m-%d %H:%M') FROM changes WHERE change_id = 'c1'"
                       ).fetchone()[0] == "2026-03-01 10:00"


def test_lead_time_per_change_per_month(con):
    v = _values(con)
    # March: c1 only: 2026-03-02 10:00 - 2026-03-01 10:00 (12:00+02:00) = 24 h
    assert v[("2026-03", "change_lead_time_median_hours")] == (pytest.approx(24.0), 1)
    assert v[("2026-03", "change_lead_time_mean_hours")] == (pytest.approx(24.0), 1)
    assert v[("2026-03", "change_lead_time_p90_hours")] == (pytest.approx(24.0), 1)
    # April (by deployed_at: c2 was authored in March): c2 48, c3 24, c4 6 (all d2), c5 60 (d6; its d3 row failed)
    # sorted 6, 24, 48, 60: median (24 + 48) / 2 = 36; mean 138 / 4 = 34.5;
    # p90 at position 0.9 x (4 - 1) = 2.7: 48 + 0.7 x (60 - 48) = 56.4
    assert v[("2026-04", "change_lead_time_median_hours")] == (pytest.approx(36.0), 4)
    assert v[("2026-04", "change_lead_time_mean_hours")] == (pytest.approx(34.5), 4)
    assert v[("2026-04", "change_lead_time_p90_hours")] == (pytest.approx(56.4), 4)
    # May: no deployment, no change: null with n = 0, never 0
    for k in CHANGE_KPIS:
        value, n = v[("2026-05", k)]
        assert value is None and n == 0, k
    # June: c7 only: 2026-06-15 00:00 - 2026-06-14 00:00 = 24 h
    assert v[("2026-06", "change_lead_time_median_hours")] == (pytest.approx(24.0), 1)


def test_lead_time_phases_are_medians_over_the_changes_that_have_both_timestamps(con):
    v = _values(con)
    # March: c1 coding 16:00 - 10:00 = 6 h, review 08:00 - 16:00 (previous day) = 16 h, merge to deploy 2 h
    assert v[("2026-03", "coding_time_median_hours")] == (pytest.approx(6.0), 1)
    assert v[("2026-03", "review_time_median_hours")] == (pytest.approx(16.0), 1)
    assert v[("2026-03", "merge_to_deploy_median_hours")] == (pytest.approx(2.0), 1)
    # April coding: c2 12, c4 1, c5 3 (c3 has no opened_at: left out, not 0) -> sorted 1, 3, 12: median 3
    assert v[("2026-04", "coding_time_median_hours")] == (pytest.approx(3.0), 3)
    # review: c2 24, c4 2, c5 12 -> median 12
    assert v[("2026-04", "review_time_median_hours")] == (pytest.approx(12.0), 3)
    # merge to deploy: c2 12, c3 6, c4 3, c5 45 (04-11 21:00 - 04-10 00:00) -> sorted 3, 6, 12, 45: (6 + 12) / 2 = 9
    assert v[("2026-04", "merge_to_deploy_median_hours")] == (pytest.approx(9.0), 4)
    # June: c7 has neither opened_at nor merged_at: every phase is null, n = 0
    for k in ("coding_time_median_hours", "review_time_median_hours", "merge_to_deploy_median_hours"):
        assert v[("2026-06", k)] == (None, 0), k


def test_the_per_deployment_lead_time_stays_as_it_was(con):
    # no deployment has change_started_at: the per-deployment lead time is null; the changes do not stand in for it
    v = _values(con)
    assert v[("2026-04", "lead_time_median_hours")] == (None, 0)


def test_filters_and_groups_are_the_deployments(con):
    df = kpis.compute(con, grain="month", start=date(2026, 4, 1), end=date(2026, 4, 30), by="team",
                      kpis=["change_lead_time_median_hours"])
    rows = {r["team"]: (r["value"], r["n"]) for r in kpis.to_records(df)}
    # every April change shipped with a team-alpha deployment; beta's dx names no change
    assert rows["alpha"] == (pytest.approx(36.0), 4)
    assert rows.get("beta", (None, 0)) == (None, 0)
    only_beta = _values(con, filters={"team": ["beta"]})
    assert only_beta[("2026-04", "change_lead_time_median_hours")] == (None, 0)


def test_trailing_window_and_day_grain(con):
    # one day, 2026-04-01: c2, c3, c4 of d2 -> 48, 24, 6: median 24
    df = kpis.compute(con, grain="day", start=date(2026, 4, 1), end=date(2026, 4, 1),
                      kpis=["change_lead_time_median_hours"])
    (rec,) = kpis.to_records(df)
    assert (rec["period"], rec["value"], rec["n"]) == ("2026-04-01", pytest.approx(24.0), 3)


def test_without_a_changes_table_the_kpis_are_null(tmp_path):
    folder = _write(tmp_path / "d", {"deployments.csv": DEPLOYMENTS})
    c = kpis.connect(folder / "kpi.duckdb")
    kpis.ingest_files(c, [folder])
    v = _values(c)
    c.close()
    assert all(v[(p, k)] == (None, 0) for p in ("2026-03", "2026-04", "2026-05", "2026-06") for k in CHANGE_KPIS)


def test_drilldown_rows_reproduce_the_kpis(con):
    rows = details.changes(con, date(2026, 4, 1), date(2026, 5, 1))
    # every production change of April, counted or not: c2, c3, c4 (d2), c5 (d3, failed; d6)
    assert sorted(zip(rows["change_id"], rows["deployment_id"])) == [
        ("c2", "d2"), ("c3", "d2"), ("c4", "d2"), ("c5", "d3"), ("c5", "d6")]
    counted = rows[rows["counted"]]
    assert sorted(counted["change_id"]) == ["c2", "c3", "c4", "c5"]
    failed = rows[rows["deployment_id"] == "d3"].iloc[0]
    assert not failed["counted"] and failed["status"] == "failed"
    assert counted["lead_time_hours"].median() == pytest.approx(36.0)
    assert counted["lead_time_hours"].mean() == pytest.approx(34.5)
    assert counted["merge_to_deploy_hours"].median() == pytest.approx(9.0)
    c3 = counted[counted["change_id"] == "c3"].iloc[0]
    assert math.isnan(c3["coding_hours"]) and math.isnan(c3["review_hours"])
    assert details.changes(con, date(2026, 5, 1), date(2026, 6, 1)).empty


def test_reingest_replaces_a_change_by_its_id_and_deployment(tmp_path):
    folder = _write(tmp_path / "d", {"deployments.csv": DEPLOYMENTS, "changes.csv": CHANGES})
    c = kpis.connect(folder / "kpi.duckdb")
    kpis.ingest_files(c, [folder])
    # a later export: c3 got its pull request (opened 2026-03-31 18:00Z), c8 is new; the rest as before
    later = tmp_path / "changes-later.csv"
    later.write_text("change_id,deployment_id,authored_at,opened_at,merged_at\n"
                     "c3,d2,2026-03-31T12:00:00Z,2026-03-31T18:00:00Z,2026-04-01T06:00:00Z\n"
                     "c8,d2,2026-04-01T10:00:00Z,,\n")
    (rep,) = kpis.ingest_files(c, [later])
    assert (rep.kind, rep.inserted, rep.updated) == ("changes", 1, 1)
    # identical file again: skipped, nothing doubled
    kpis.ingest_files(c, [folder / "changes.csv"])
    kpis.ingest_files(c, [later])
    assert c.execute("SELECT count(*) FROM changes").fetchone()[0] == 9  # 8 + c8
    v = _values(c)
    c.close()
    # April now: 48, 24, 6, 60 and c8 2 h (12:00 - 10:00): sorted 2, 6, 24, 48, 60 -> median 24
    assert v[("2026-04", "change_lead_time_median_hours")] == (pytest.approx(24.0), 5)
    # coding gains c3's 6 h (18:00 - 12:00): 1, 3, 6, 12 -> (3 + 6) / 2 = 4.5
    assert v[("2026-04", "coding_time_median_hours")] == (pytest.approx(4.5), 4)


@pytest.mark.parametrize(("name", "text", "row", "column", "reason"), [
    ("dup.csv", "change_id,deployment_id,authored_at\nc1,d1,2026-03-01\nc2,d1,2026-03-01\nc1,d1,2026-03-02\n",
     3, "change_id, deployment_id", "duplicate change_id, deployment_id 'c1', 'd1' (first on row 1)"),
    ("no-dep.csv", "change_id,deployment_id,authored_at\nc1,,2026-03-01\n", 1, "deployment_id",
     "required value is missing"),
    ("bad-ts.csv", "change_id,deployment_id,authored_at\nc1,d1,yesterday\n", 1, "authored_at", ""),
    ("order.csv", "change_id,deployment_id,authored_at,opened_at,merged_at\n"
                  "c1,d1,2026-03-01T10:00:00Z,2026-03-02T10:00:00Z,2026-03-01T12:00:00Z\n",
     1, "merged_at", "merged before it was opened"),
])
def test_bad_changes_file_is_rejected_and_database_unchanged(tmp_path, name, text, row, column, reason):
    c = kpis.connect(tmp_path / "k.duckdb")
    kpis.ingest_files(c, [_write(tmp_path / "d", {"changes.csv": CHANGES})])
    before = c.execute("SELECT * FROM changes ORDER BY ALL").fetchall()
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(kpis.IngestError) as err:
        kpis.ingest_files(c, [p])
    e = err.value.errors[0]
    assert (e.file, e.row, e.column) == (name, row, column)
    assert reason in e.reason
    assert c.execute("SELECT * FROM changes ORDER BY ALL").fetchall() == before
    c.close()


def test_a_mapping_file_fills_the_changes_table_from_a_pull_request_export(tmp_path):
    # what a team's script might write from its pull requests: our columns under their names, times in Berlin
    export = tmp_path / "prs.csv"
    export.write_text("PR,Deploy,First commit,Opened,Merged\n"
                      "#101,d2,2026-03-31 14:00,2026-04-01 02:00,2026-04-01 08:00\n")
    mapping = tmp_path / "prs.toml"
    mapping.write_text('kind = "changes"\ntimezone = "Europe/Berlin"\n[columns]\nchange_id = "PR"\n'
                       'deployment_id = "Deploy"\nauthored_at = "First commit"\nopened_at = "Opened"\n'
                       'merged_at = "Merged"\n')
    folder = _write(tmp_path / "d", {"deployments.csv": DEPLOYMENTS})
    c = kpis.connect(folder / "kpi.duckdb")
    kpis.ingest_files(c, [folder])
    (rep,) = kpis.ingest_files(c, [export], mapping=mapping)
    assert (rep.kind, rep.inserted) == ("changes", 1)
    v = _values(c)
    c.close()
    # Berlin is UTC+2 in April (summer time; from 2026-03-29): first commit 12:00Z, opened 00:00Z, merged 06:00Z;
    # d2 deployed 2026-04-01 12:00Z -> lead 24 h, coding 12 h, review 6 h, merge to deploy 6 h
    assert v[("2026-04", "change_lead_time_median_hours")] == (pytest.approx(24.0), 1)
    assert v[("2026-04", "coding_time_median_hours")] == (pytest.approx(12.0), 1)
    assert v[("2026-04", "review_time_median_hours")] == (pytest.approx(6.0), 1)
    assert v[("2026-04", "merge_to_deploy_median_hours")] == (pytest.approx(6.0), 1)
