"""Drill-down queries: the events behind the KPI numbers.

Where ``kpis.engine.compute`` aggregates, these return the rows a reviewer
wants to see behind a number: the deployments of a period with why each one
counts as failed, the incidents with their durations, the incidents still open
at a moment and how old they are, the services with the most incidents, the
training runs with outliers marked, serving health per service, the pipeline
runs with what went wrong in each, the model inventory with its coverage gaps,
and the cost lines no rule or tag could attribute.

Conventions shared by every function here:

* ``con`` is a DuckDB connection (a read-only one is enough); each query runs on
  its own ``cursor()``.
* ``start`` and ``end`` are dates in the reporting time zone ``tz``; ``start``
  is inclusive and ``end`` **exclusive** (pass the first day after the range,
  e.g. ``periods.next_start``). ``None`` leaves that side open.
* ``filters`` has the same meaning as in :func:`kpis.engine.compute`: team /
  service / model / tier / severity / category mapped to the allowed values,
  each applied to the tables that have that column.
* Every value reaches SQL as a bound parameter; the only text put into SQL is
  from allow-lists (column names of our own schema).
* Timestamps come back as stored: naive UTC.
* The same events count as in the engine: production deployments only, and
  ML-related incidents only.
* Where ``limit`` keeps the first rows of a table a page draws (deployments,
  failed_deployments, incidents), the column ``ROWS_TOTAL`` says how many rows
  there are without it: one query, no second pass to count them (a month of the
  3x benchmark's 150k deployments took 0.5 s to fetch, its first 500 and the
  count 0.2 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

import duckdb
import pandas as pd

from kpis import catalog, engine, rollups, schema

# Outlier rule for training runs (Tukey's fences): a run is an outlier when its
# cost is above Q3 + 1.5 x IQR of the costs of the runs in the same range and
# currency. Fewer than four runs give no meaningful quartiles: none is flagged.
OUTLIER_IQR_FACTOR = 1.5
OUTLIER_MIN_RUNS = 4

HIGH_SEVERITIES = ("sev1", "sev2")

ROWS_TOTAL = "rows_total"  # with ``limit``: how many rows there are in all
OPEN_TOTAL = "open_total"  # failed_deployments with ``limit``: how many of them have not recovered


def _total(limit: int | None, extra: str = "") -> str:
    """The select list's window columns counting every row before ``limit`` (none without it)."""
    return "" if limit is None else f", count(*) OVER () AS {ROWS_TOTAL}{extra}"


# Lead-time distribution bins, in days: [lower, upper) and a label for each.
LEAD_TIME_BINS_DAYS = (0, 1, 3, 7, 14, 21, 28, 42, 56, 84)


def _filters(filters: dict | None, table: str, alias: str = "d") -> tuple[str, dict]:
    """SQL conditions (`` AND list_contains($f_team, d.team)`` ...) and their parameters."""
    sql, params = [], {}
    for key, values in engine._normalise_filters(filters):
        if key not in engine.FILTER_KEYS:
            raise ValueError(f"cannot filter on {key!r}; filters: {', '.join(engine.FILTER_KEYS)}")
        if key in engine.FILTER_COLUMNS[table]:
            sql.append(f" AND list_contains($f_{key}, {alias}.{key})")
            params[f"f_{key}"] = list(values)
    return "".join(sql), params


def _utc_bound(name: str) -> str:
    """SQL for a local date parameter as a naive UTC timestamp (midnight in $tz)."""
    return f"timezone('UTC', timezone($tz, ${name}::TIMESTAMP))"


def _range(column: str, start: date | None, end: date | None, tz: str) -> tuple[str, dict]:
    """Condition that a UTC timestamp column falls in [start, end) of local dates."""
    sql, params = "", {}
    if start is not None:
        sql += f" AND {column} >= {_utc_bound('start')}"
        params["start"] = start
    if end is not None:
        sql += f" AND {column} < {_utc_bound('end')}"
        params["end"] = end
    if params:
        params["tz"] = tz
    return sql, params


def _check(start: date | None, end: date | None, tz: str) -> None:
    if start is not None and end is not None and start >= end:
        raise ValueError(f"the range is empty: start {start} is not before end {end} (end is exclusive)")
    if not tz:
        raise ValueError("a time zone is required (e.g. UTC)")


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> pd.DataFrame:
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    return con.cursor().execute(sql, used).df()


def _deployment_rows(req: engine.Request, source: str, start: date | None, end: date | None, tz: str,
                     recovery: bool = True, limit: int | None = None) -> tuple[str, str, str, dict]:
    """What the deployment drill-downs share: the WITH header defining ``src`` as the engine's ``source``
    relation (kpis/sql/deployments.sql, or changes.sql over it), the condition keeping its rows in [start, end)
    of local dates, the LIMIT clause and their parameters. With both ends given, the relation reads (and
    recovers) only the deployments within the engine's bounds of the range, wide enough for any zone."""
    rng, params = _range("s.deployed_at", start, end, tz)
    bounded = start is not None and end is not None
    if bounded:
        params.update(engine._bounds(start, end))
    lim = ""
    if limit is not None:
        lim = " LIMIT $limit"
        params["limit"] = int(limit)
    head = (f"WITH {engine.deployment_ctes(req, recovery=recovery, bounded=bounded)},\n"
            f"    src AS ({engine._render(source, req, 'deployments', bounded=bounded)})")
    return head, rng, lim, params


def deployments(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
                filters: dict | None = None, tz: str = "UTC", link_window_hours: float | None = None,
                lead_time_start: str = "change_started_at", limit: int | None = None,
                failed_only: bool = False) -> pd.DataFrame:
    """Production deployments in [start, end), newest first, with why each one failed.

    Columns: deployment_id, deployed_at, service, team, model, model_version,
    tier, status, lead_time_hours (from ``lead_time_start``), failed (bool),
    failure_reason (``status failed`` / ``rolled back``, ``hotfix``,
    ``regression``, ``incident``, comma separated; empty when not failed) and
    incident_ids (the incidents that name it, comma separated), rework
    (unplanned, made because of an incident: deployment_rework_rate's
    numerator), fixes_incident_id, recovery_needed (failed deployment
    recovery time counts it: status failed or rolled_back, or named by an
    incident) and recovery_hours (to its recovery, once recovered: see
    ``failed_deployments``). ``failed`` is
    the engine's definition, so the share of failed rows in a period is its
    change failure rate. ``failed_only`` returns only the failed ones. With
    ``limit``, the first ``limit`` rows and ``ROWS_TOTAL``.
    """
    _check(start, end, tz)
    if lead_time_start not in engine.LEAD_TIME_STARTS:
        raise ValueError(f"lead time start must be one of {', '.join(engine.LEAD_TIME_STARTS)}")
    if link_window_hours is not None and not link_window_hours > 0:
        raise ValueError("the link window must be a positive number of hours")
    # The engine's deployments relation (kpis/sql/deployments.sql and incident_links.sql): the failure rule,
    # its reasons, the incident links and the lead time are written there once.
    req = engine.Request(filters=engine._normalise_filters(filters), tz=tz, link_window_hours=link_window_hours,
                         lead_time_start=lead_time_start, rollups=rollups.current(con))
    head, rng, lim, rparams = _deployment_rows(req, "deployments", start, end, tz, limit=limit)
    sql = f"""
    {head},
    named AS (
        SELECT deployment_id, string_agg(DISTINCT incident_id, ', ' ORDER BY incident_id) AS incident_ids
        FROM incident_links GROUP BY deployment_id
    )
    SELECT s.deployment_id, s.deployed_at, s.service, s.team, s.model, s.model_version, s.tier, s.status,
        s.lead_time_hours, s.failed,
        concat_ws(', ',
            CASE WHEN s.status_failed THEN CASE s.status WHEN 'failed' THEN 'status failed' ELSE 'rolled back' END
                 END,
            CASE WHEN s.hotfix THEN 'hotfix' END,
            CASE WHEN s.regression THEN 'regression' END,
            CASE WHEN s.incident_named THEN 'incident' END) AS failure_reason,
        coalesce(n.incident_ids, '') AS incident_ids,
        s.rework, s.fixes_incident_id, s.recovery_needed, s.recovery_hours{_total(limit)}
    FROM src s LEFT JOIN named n ON n.deployment_id = s.deployment_id
    WHERE TRUE{rng}{" AND s.failed" if failed_only else ""}
    ORDER BY s.deployed_at DESC, s.deployment_id{lim}"""
    params = engine._params(sql, req, rparams)
    return _run(con, sql, params)


def failed_deployments(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
                       filters: dict | None = None, tz: str = "UTC", link_window_hours: float | None = None,
                       at: datetime | None = None, limit: int | None = None) -> pd.DataFrame:
    """The production deployments in [start, end) that had to be recovered from, not yet recovered first
    (oldest first), then newest first: the rows behind failed deployment recovery time.

    A deployment needs recovering when its status is failed or rolled_back, or an incident names it; it
    recovered at the first of its rolled_back_at, the next successful production deployment of the same
    service, and the resolution of the last incident naming it (kpis/sql/deployments.sql). The recovered rows'
    ``recovery_hours`` are the values the KPI's median and mean are over; the others are ``open`` with their
    ``age_hours`` at ``at`` (a UTC datetime; default now), never left out.

    Columns: deployment_id, deployed_at, service, team, model, status, failure_reason (status failed, rolled
    back, incident), incident_ids, recovered_at, recovered_by (``rolled back``, ``deployment <id>``,
    ``incidents resolved``), recovery_hours (NaN while open), open, age_hours (NaN once recovered). With
    ``limit``, the first ``limit`` rows, ``ROWS_TOTAL`` and ``OPEN_TOTAL`` (how many are open in all).
    """
    _check(start, end, tz)
    if link_window_hours is not None and not link_window_hours > 0:
        raise ValueError("the link window must be a positive number of hours")
    if at is None:
        at = datetime.now(timezone.utc).replace(tzinfo=None)
    elif at.tzinfo is not None:
        at = at.astimezone(timezone.utc).replace(tzinfo=None)
    req = engine.Request(filters=engine._normalise_filters(filters), tz=tz, link_window_hours=link_window_hours,
                         rollups=rollups.current(con))
    head, rng, lim, rparams = _deployment_rows(req, "deployments", start, end, tz, limit=limit)
    rparams["at"] = at
    # the next success is after its failed deployment: with the range bounded, only the deployments from the
    # range's first moment on can be it (a scan of them all took 0.4 s of the 3x benchmark's 0.7)
    later = " AND p.deployed_at >= $lo_ts" if "lo_ts" in rparams else ""
    sql = f"""
    {head},
    named AS (
        SELECT deployment_id, string_agg(DISTINCT incident_id, ', ' ORDER BY incident_id) AS incident_ids
        FROM incident_links GROUP BY deployment_id
    ),
    nxt AS (
        SELECT s.deployment_id, min(p.deployment_id) AS next_id
        FROM src s JOIN deployments p
          ON p.service = s.service AND p.deployed_at = s.next_success_at
         AND p.environment = 'production' AND p.status = 'success'{later}
        GROUP BY s.deployment_id
    )
    SELECT s.deployment_id, s.deployed_at, s.service, s.team, s.model, s.status,
        concat_ws(', ',
            CASE WHEN s.status_failed THEN CASE s.status WHEN 'failed' THEN 'status failed' ELSE 'rolled back' END
                 END,
            CASE WHEN s.incident_named THEN 'incident' END) AS failure_reason,
        coalesce(n.incident_ids, '') AS incident_ids,
        s.recovered_at,
        CASE WHEN s.recovered_at IS NULL THEN NULL
             WHEN s.recovered_at = s.rolled_back_at THEN 'rolled back'
             WHEN s.recovered_at = s.next_success_at THEN 'deployment ' || x.next_id
             ELSE 'incidents resolved' END AS recovered_by,
        s.recovery_hours,
        s.recovered_at IS NULL AS open,
        CASE WHEN s.recovered_at IS NULL
             THEN date_diff('second', s.deployed_at, $at::TIMESTAMP) / CAST(3600 AS DOUBLE) END AS age_hours
        {_total(limit, f", count(*) FILTER (WHERE s.recovered_at IS NULL) OVER () AS {OPEN_TOTAL}")}
    FROM src s
    LEFT JOIN named n ON n.deployment_id = s.deployment_id
    LEFT JOIN nxt x ON x.deployment_id = s.deployment_id
    WHERE s.recovery_needed{rng}
    ORDER BY s.recovered_at IS NULL DESC,
             CASE WHEN s.recovered_at IS NULL THEN s.deployed_at END,
             s.deployed_at DESC, s.deployment_id{lim}"""
    params = engine._params(sql, req, rparams)
    return _run(con, sql, params)


def changes(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
            filters: dict | None = None, tz: str = "UTC", limit: int | None = None) -> pd.DataFrame:
    """The changes (optional changes table) shipped by production deployments in [start, end), newest deployment
    first: the rows behind lead time per change and its phases.

    Read from the engine's relation (kpis/sql/changes.sql), so the ``counted`` rows (their deployment succeeded)
    reproduce the KPIs: the median, mean and p90 of their ``lead_time_hours``, the medians of their phases (a
    phase is NaN where a timestamp is missing, and left out of its median). A change of a failed deployment is
    listed, not counted. ``filters`` apply to the deployment (team / service / model / tier).

    Columns: change_id, deployment_id, deployed_at, service, team, repo, status (the deployment's), counted,
    authored_at, opened_at, merged_at, lead_time_hours, coding_hours, review_hours, merge_to_deploy_hours.
    """
    _check(start, end, tz)
    req = engine.Request(filters=engine._normalise_filters(filters), tz=tz)
    head, rng, lim, rparams = _deployment_rows(req, "changes", start, end, tz, recovery=False, limit=limit)
    sql = f"""
    {head}
    SELECT s.change_id, s.deployment_id, s.deployed_at, s.service, s.team, s.repo, s.status,
        coalesce({catalog.SUCCESSFUL_DEPLOYMENT}, FALSE) AS counted,
        s.authored_at, s.opened_at, s.merged_at,
        s.change_lead_time_hours AS lead_time_hours, s.coding_hours, s.review_hours, s.merge_to_deploy_hours
    FROM src s
    WHERE TRUE{rng}
    ORDER BY s.deployed_at DESC, s.deployment_id, s.authored_at, s.change_id{lim}"""
    return _run(con, sql, engine._params(sql, req, rparams))


def lead_time_distribution(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
                           filters: dict | None = None, tz: str = "UTC",
                           lead_time_start: str = "change_started_at") -> pd.DataFrame:
    """How many successful production deployments in [start, end) had each lead time.

    The lead times the engine's median and p90 rest on, counted in day bins
    (``LEAD_TIME_BINS_DAYS``; the last bin is open-ended). Columns: bin (label
    such as ``1-3 d``), lower_days, upper_days (NaN for the last), deployments.
    Every bin is returned, empty ones with 0, so the axis is stable.
    """
    _check(start, end, tz)
    if lead_time_start not in engine.LEAD_TIME_STARTS:
        raise ValueError(f"lead time start must be one of {', '.join(engine.LEAD_TIME_STARTS)}")
    where, params = _filters(filters, "deployments")
    rng, rparams = _range("d.deployed_at", start, end, tz)
    params.update(rparams)
    params["edges"] = [float(b) for b in LEAD_TIME_BINS_DAYS]
    sql = f"""
    WITH lt AS (
        SELECT date_diff('second', d.{lead_time_start}, d.deployed_at) / 86400.0 AS days
        FROM deployments d
        WHERE d.environment = 'production' AND d.status = 'success'
          AND d.{lead_time_start} IS NOT NULL{rng}{where}
    )
    SELECT len(list_filter($edges::DOUBLE[], lambda e: e <= days)) AS bin_no, count(*) AS deployments
    FROM lt GROUP BY ALL"""
    counts = dict(_run(con, sql, params).itertuples(index=False, name=None))
    rows = []
    edges = LEAD_TIME_BINS_DAYS
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        lab = f"{lo}-{hi} d" if hi is not None else f"{lo}+ d"
        # bin_no counts the edges <= days: 1 for [0, 1), 2 for [1, 3), ...
        rows.append((lab, float(lo), float(hi) if hi is not None else float("nan"), int(counts.get(i + 1, 0))))
    return pd.DataFrame(rows, columns=["bin", "lower_days", "upper_days", "deployments"])


def incidents(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
              filters: dict | None = None, tz: str = "UTC", limit: int | None = None) -> pd.DataFrame:
    """ML-related incidents that started or were resolved in [start, end), newest first.

    Columns: incident_id, severity, service, team, model, tier, category,
    started_at, detected_at, resolved_at, time_to_detect_hours,
    time_to_recover_hours (NaN while open), open (no resolved_at),
    deployment_id, started_in_range (counted by incident_count and TTD for
    the range) and resolved_in_range (counted by MTTR for the range). With
    ``limit``, the first ``limit`` rows and ``ROWS_TOTAL``.
    """
    _check(start, end, tz)
    where, params = _filters(filters, "incidents")
    s_rng, rparams = _range("d.started_at", start, end, tz)
    r_rng, _ = _range("d.resolved_at", start, end, tz)
    params.update(rparams)
    started = f"(TRUE{s_rng})"
    resolved = f"(d.resolved_at IS NOT NULL{r_rng})"
    lim = ""
    if limit is not None:
        lim = " LIMIT $limit"
        params["limit"] = int(limit)
    sql = f"""
    SELECT d.incident_id, d.severity, d.service, d.team, d.model, d.tier, d.category,
        d.started_at, d.detected_at, d.resolved_at,
        d.detect_hours AS time_to_detect_hours,
        d.recovery_hours AS time_to_recover_hours,
        d.resolved_at IS NULL AS open,
        d.deployment_id,
        {started} AS started_in_range,
        {resolved} AS resolved_in_range{_total(limit)}
    FROM {engine.events("incident_rows")} d
    WHERE ({started} OR {resolved}){where}
    ORDER BY d.started_at DESC, d.incident_id{lim}"""
    return _run(con, sql, params)


def _moment_utc(at: date | datetime, tz: str) -> tuple[str, dict]:
    """SQL + params for a moment: a datetime is taken as UTC (naive or aware);
    a date means midnight at its start in the reporting time zone."""
    if isinstance(at, datetime):
        if at.tzinfo is not None:
            at = at.astimezone(timezone.utc).replace(tzinfo=None)
        return "$at::TIMESTAMP", {"at": at}
    return _utc_bound("at"), {"at": at, "tz": tz}


def open_incidents(con: duckdb.DuckDBPyConnection, at: date | datetime, filters: dict | None = None,
                   tz: str = "UTC") -> pd.DataFrame:
    """ML-related incidents open at the moment ``at``, oldest first, with their age.

    Open means started before ``at`` and not resolved by then (the engine's
    ``open_incidents`` at a period's end uses the same test). ``at`` is a UTC
    datetime, or a date meaning its midnight in ``tz`` (pass a period's
    exclusive end date to list what was open at the period's end). Columns:
    incident_id, severity, service, team, model, category, started_at,
    detected_at, resolved_at (when it was resolved later), age_hours.
    """
    where, params = _filters(filters, "incidents")
    moment, mparams = _moment_utc(at, tz)
    params.update(mparams)
    sql = f"""
    SELECT d.incident_id, d.severity, d.service, d.team, d.model, d.category,
        d.started_at, d.detected_at, d.resolved_at,
        date_diff('second', d.started_at, {moment}) / 3600.0 AS age_hours
    FROM {engine.events("incident_rows")} d
    WHERE d.started_at < {moment}
      AND (d.resolved_at IS NULL OR d.resolved_at >= {moment}){where}
    ORDER BY d.started_at, d.incident_id"""
    return _run(con, sql, params)


def worst_services(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
                   filters: dict | None = None, tz: str = "UTC", limit: int = 10) -> pd.DataFrame:
    """Services ranked by ML incidents started in [start, end), then by MTTR.

    Columns: service, team (the teams named on its incidents), incidents
    (started in the range), high_severity (sev1 / sev2 among them),
    resolved (incidents resolved in the range), mttr_hours (mean recovery of
    those; NaN when none), impact_hours (sum of recovery time of the resolved
    ones). Services with incidents resolved but none started in the range are
    kept (with 0 incidents) so a long outage still shows.
    """
    _check(start, end, tz)
    where, params = _filters(filters, "incidents")
    s_rng, rparams = _range("d.started_at", start, end, tz)
    r_rng, _ = _range("d.resolved_at", start, end, tz)
    params.update(rparams)
    params["limit"] = int(limit)
    params["high"] = list(HIGH_SEVERITIES)
    sql = f"""
    WITH s AS (
        SELECT d.service, count(*) AS incidents,
               count(*) FILTER (WHERE list_contains($high, d.severity)) AS high_severity,
               string_agg(DISTINCT d.team, ', ' ORDER BY d.team) AS team
        FROM {engine.events("incident_rows")} d WHERE TRUE{s_rng}{where} GROUP BY d.service
    ), r AS (
        SELECT d.service, count(*) AS resolved,
               avg(d.recovery_hours) AS mttr_hours,
               sum(d.recovery_hours) AS impact_hours,
               string_agg(DISTINCT d.team, ', ' ORDER BY d.team) AS team
        FROM {engine.events("incident_rows")} d WHERE d.resolved_at IS NOT NULL{r_rng}{where} GROUP BY d.service
    )
    SELECT coalesce(s.service, r.service) AS service, coalesce(s.team, r.team) AS team,
           coalesce(s.incidents, 0) AS incidents, coalesce(s.high_severity, 0) AS high_severity,
           coalesce(r.resolved, 0) AS resolved, r.mttr_hours, r.impact_hours
    FROM s FULL JOIN r ON s.service = r.service
    ORDER BY incidents DESC, high_severity DESC, mttr_hours DESC NULLS LAST, service
    LIMIT $limit"""
    return _run(con, sql, params)


def _training_run_costs(con, filters: dict | None, start: date | None, end: date | None) -> tuple[str, dict]:
    """The CTEs ``lines`` (training cost lines in range naming a run: the engine's cost_runs_daily rollup,
    or its events, which training_cost_per_run counts), ``runs`` (one row per run and currency: first_date,
    last_date, cost) and ``scored`` (runs with outlier and outlier_threshold), and their parameters."""
    _check(start, end, "UTC")
    params = {"k": OUTLIER_IQR_FACTOR, "min_runs": OUTLIER_MIN_RUNS}
    sql = f"""
    lines AS ({_training_lines(con, filters, start, end, params)}), runs AS (
        SELECT run_id, currency, min(date) AS first_date, max(date) AS last_date, sum(amount) AS cost
        FROM lines GROUP BY run_id, currency
    ), fence AS (
        SELECT currency,
               CASE WHEN count(*) >= $min_runs THEN
                   quantile_cont(cost, 0.75) + $k * (quantile_cont(cost, 0.75) - quantile_cont(cost, 0.25))
               END AS outlier_threshold
        FROM runs GROUP BY currency
    ), scored AS (
        SELECT r.*, coalesce(r.cost > f.outlier_threshold, FALSE) AS outlier, f.outlier_threshold
        FROM runs r JOIN fence f ON f.currency = r.currency
    )"""
    return sql, params


def _training_lines(con, filters: dict | None, start: date | None, end: date | None, params: dict) -> str:
    """The training cost lines in [start, end) that name a run (alias d), their parameters added to ``params``."""
    rng, where, scope = _day_scope("costs", filters, start, end)
    params.update(scope)
    return (f"SELECT d.run_id, d.currency, d.service, d.team, d.model, d.date, d.amount "
            f"FROM {engine.relation('cost_runs_daily', rollups.current(con))} d WHERE TRUE{rng}{where}")


def training_runs(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
                  filters: dict | None = None, limit: int | None = None, named: int | None = None) -> pd.DataFrame:
    """Training runs with cost lines dated in [start, end), costliest first, outliers marked.

    A run is the training cost lines that name its run_id (the lines the
    engine's ``training_cost_per_run`` divides by distinct runs); its cost is
    the sum of those lines in the range, per currency. ``outlier`` is true when
    the cost is above Q3 + 1.5 x IQR (Tukey's upper fence, interpolated
    quartiles) of the costs of all runs in the same range and currency;
    ``outlier_threshold`` is that fence. With fewer than ``OUTLIER_MIN_RUNS``
    runs no fence is drawn and nothing is flagged. Cost dates are calendar
    days already, so no time zone applies.

    ``limit`` returns only the first ``limit`` runs of that order (cost
    descending, then run_id and currency); their fence and outlier flags are
    still those of all runs in the range. ``named`` names only the ``named`` costliest runs of each
    currency (the others' service, team and model are empty): a chart over
    every run that draws only the costliest one by one needs no more.

    Columns: run_id, service, team, model (each the names on the run's lines,
    sorted, comma separated), first_date, last_date, cost, currency, outlier,
    outlier_threshold.
    """
    runs_sql, params = _training_run_costs(con, filters, start, end)
    lim = ""
    if limit is not None:
        lim = " LIMIT $limit"
        params["limit"] = int(limit)
    # Two queries: the runs' sums and flags, then the names of the runs to name only. In one statement the
    # names' join back to every run took 0.65 s of 0.88 s for the 109,800 runs of the benchmark's 19 months.
    runs = _run(con, f"WITH {runs_sql} SELECT * FROM scored ORDER BY cost DESC, run_id, currency{lim}", params)
    to_name = runs if named is None else runs.groupby("currency", sort=False, dropna=False).head(int(named))
    names = _training_run_names(con, filters, start, end, to_name if named is not None else None)
    out = runs.merge(names, on=["run_id", "currency"], how="left")
    return out[["run_id", "service", "team", "model", "first_date", "last_date", "cost", "currency", "outlier",
                "outlier_threshold"]]


# The run chart (kpis.charts.training_runs): the runs a chart draws one by one at most (past that a half-width
# chart is a blot, and a review pack of a large organisation, 80k runs in a year, carried 16 MB of them in one
# chart), and the longest span of days whose other runs it summarises per day (per week beyond).
RUN_CHART_POINTS = 1000
RUN_CHART_DAILY_UP_TO_DAYS = 92


@dataclass(frozen=True)
class RunChart:
    """The training runs of a range as their chart draws them (``training_run_chart``)."""

    drawn: pd.DataFrame  # the runs drawn one by one, costliest first: training_runs's columns, named
    bins: pd.DataFrame  # every other run, per day or week: bin (its first day), min, median, max, size (runs)
    per: str  # what a bin is: "day" or "week"
    runs: int  # the runs in the range
    outliers: int  # the outliers among them
    fence: float | None  # the outlier fence of the costliest run's currency; None below OUTLIER_MIN_RUNS
    currencies: tuple[str, ...]  # of every run, the costliest run's first
    binned_currencies: tuple[str, ...]  # of the runs in the bins, likewise

    @property
    def empty(self) -> bool:
        return self.runs == 0

    @property
    def binned(self) -> int:
        """How many runs are in the bins only."""
        return self.runs - len(self.drawn)


def training_run_chart(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
                       filters: dict | None = None) -> RunChart:
    """The training runs of [start, end) (``training_runs``'s runs, costs and outlier flags) as a chart draws
    them, summarised in SQL: a chart of 100k runs needs 1,000 points and 60 bins, not 100k rows.

    Up to ``RUN_CHART_POINTS`` runs: every one is drawn. Beyond: the
    outliers, the costliest ``RUN_CHART_POINTS`` of them, are drawn one by one
    (named); every other run (outliers past the cap too) is only in the
    minimum, median and maximum of its bin: its first day when the binned runs
    start within ``RUN_CHART_DAILY_UP_TO_DAYS`` days of each other, else the
    Monday of its week. The counts are of every run.
    """
    runs_sql, params = _training_run_costs(con, filters, start, end)
    params.update(points=RUN_CHART_POINTS, daily=RUN_CHART_DAILY_UP_TO_DAYS)
    # One statement, three kinds of rows (the drawn runs, the bins, the totals) over the runs scored once; the
    # drawn ones are a top-N and a join, not a numbering of every run (0.08 -> 0.05 s for 79k runs).
    sql = f"""
    WITH {runs_sql}, top AS (
        SELECT run_id, currency FROM scored WHERE outlier ORDER BY cost DESC, run_id, currency LIMIT $points
    ), marked AS MATERIALIZED (
        SELECT s.*, (SELECT count(*) FROM scored) <= $points OR t.run_id IS NOT NULL AS drawn
        FROM scored s LEFT JOIN top t ON t.run_id = s.run_id AND t.currency IS NOT DISTINCT FROM s.currency
    ), binned AS (
        SELECT * FROM marked WHERE NOT drawn
    ), span AS (
        SELECT coalesce(max(first_date) - min(first_date), 0) <= $daily AS daily FROM binned
    ), currencies AS (
        SELECT currency, max(cost) AS top, bool_or(NOT drawn) AS binned FROM marked
        WHERE currency IS NOT NULL GROUP BY currency
    )
    SELECT 'run' AS kind, run_id, currency, first_date, last_date, cost, outlier, outlier_threshold
    FROM marked WHERE drawn
    UNION ALL BY NAME
    SELECT 'bin' AS kind, CASE WHEN s.daily THEN b.first_date ELSE date_trunc('week', b.first_date) END AS bin,
           min(b.cost) AS bin_min, median(b.cost) AS bin_median, max(b.cost) AS bin_max, count(*) AS bin_size,
           any_value(s.daily) AS daily
    FROM binned b, span s GROUP BY ALL
    UNION ALL BY NAME
    SELECT 'all' AS kind, count(*) AS n_runs, count(*) FILTER (outlier) AS n_outliers,
           arg_max(outlier_threshold, cost) FILTER (outlier_threshold IS NOT NULL) AS fence,
           (SELECT list(currency ORDER BY top DESC, currency) FROM currencies) AS currencies,
           (SELECT list(currency ORDER BY top DESC, currency) FILTER (binned) FROM currencies) AS binned_currencies
    FROM marked"""
    rows = _run(con, sql, params)
    total = rows[rows["kind"] == "all"].iloc[0]
    drawn = rows[rows["kind"] == "run"].sort_values(["cost", "run_id", "currency"], ascending=[False, True, True])
    names = _training_run_names(con, filters, start, end, drawn) if len(drawn) else None
    columns = ["run_id", "service", "team", "model", "first_date", "last_date", "cost", "currency", "outlier",
               "outlier_threshold"]
    drawn = drawn.merge(names, on=["run_id", "currency"], how="left") if names is not None \
        else drawn.assign(service=None, team=None, model=None)
    drawn = drawn[columns].astype({"outlier": bool}).reset_index(drop=True)
    bins = rows[rows["kind"] == "bin"].sort_values("bin")
    per = "day" if bins.empty or bool(bins["daily"].iloc[0]) else "week"
    bins = pd.DataFrame({"bin": pd.to_datetime(bins["bin"]), "min": bins["bin_min"], "median": bins["bin_median"],
                         "max": bins["bin_max"], "size": bins["bin_size"].astype("int64")}).reset_index(drop=True)
    fence = None if pd.isna(total["fence"]) else float(total["fence"])
    return RunChart(drawn=drawn, bins=bins, per=per, runs=int(total["n_runs"]), outliers=int(total["n_outliers"]),
                    fence=fence, currencies=_strings(total["currencies"]),
                    binned_currencies=_strings(total["binned_currencies"]))


def _strings(value) -> tuple[str, ...]:
    """A list column's value as a tuple; a list of nothing comes back from SQL as null."""
    return () if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)) else tuple(value)


def _training_run_names(con, filters: dict | None, start: date | None, end: date | None,
                        runs: pd.DataFrame | None) -> pd.DataFrame:
    """run_id, currency and the sorted, comma-separated service, team and model names on the lines of each
    run in the range (of ``runs`` only, when given)."""
    params: dict = {}
    lines = _training_lines(con, filters, start, end, params)
    only = ""
    if runs is not None:
        only = " AND d.run_id IN (SELECT unnest($ids))"  # the other currencies of a run are not merged
        params["ids"] = list(dict.fromkeys(runs["run_id"]))
    # list_distinct over list(): an ordered string_agg(DISTINCT ...) per run was 3x slower
    sql = f"""
    SELECT d.run_id, d.currency,
           nullif(array_to_string(list_sort(list_distinct(list(d.service))), ', '), '') AS service,
           nullif(array_to_string(list_sort(list_distinct(list(d.team))), ', '), '') AS team,
           nullif(array_to_string(list_sort(list_distinct(list(d.model))), ', '), '') AS model
    FROM ({lines}) d WHERE TRUE{only}
    GROUP BY d.run_id, d.currency"""
    return _run(con, sql, params)


_TABLES = tuple(schema.TABLES)


def distinct_values(con: duckdb.DuckDBPyConnection, teams: list[str] | tuple[str, ...] | None = None
                    ) -> dict[str, list[str]]:
    """Every team, service and model named in any table, sorted (for filter widgets).

    With ``teams``, the services and models are those named on a row of one of
    those teams (the sidebar narrows its service and model lists to the chosen
    teams); the teams are all of them still.
    """
    def scope(dim: str, t) -> str:
        # IN (unnest) is a hash lookup: list_contains per row took 3x as long on 10M cost lines
        return " AND team IN (SELECT unnest($teams))" if teams and dim != "team" and "team" in t.names else ""

    # Each table's values grouped on their own first: one DISTINCT over the union of every table's rows
    # (10M cost lines, 10M prediction rows) took 0.5 s, grouping each part first 0.15 s.
    # A table with a current daily rollup of all its rows (costs, predictions) is read from it: the same names.
    current = rollups.current(con)
    read = {r.table: r.name for r in rollups.ROLLUPS if not r.where and r.name in current}
    parts = [f"SELECT '{dim}' AS dim, {dim} AS value FROM {read.get(t.name, t.name)} WHERE {dim} IS NOT NULL"
             f"{scope(dim, t)} GROUP BY {dim}"
             for dim in engine.DIMENSIONS for t in schema.TABLES.values() if dim in t.names
             # a table without a team (changes: their deployment has it) cannot say which services a team has
             and not (teams and dim != "team" and "team" not in t.names)]
    rows = con.cursor().execute(
        f"SELECT DISTINCT dim, value FROM ({' UNION ALL '.join(parts)}) ORDER BY dim, value",
        {"teams": list(teams)} if teams else {}).fetchall()
    out: dict[str, list[str]] = {dim: [] for dim in engine.DIMENSIONS}
    for dim, value in rows:
        out[dim].append(value)
    return out


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows in each canonical table (the Data page's summary; zero everywhere = empty database)."""
    return {t: con.cursor().execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _TABLES}


def last_event(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The latest timestamp of any deployment or incident event (naive UTC), or None."""
    row = con.cursor().execute(
        """SELECT max(t) FROM (
            SELECT max(deployed_at) AS t FROM deployments
            UNION ALL SELECT max(greatest(started_at, coalesce(resolved_at, started_at))) FROM incidents)"""
    ).fetchone()
    return row[0] if row else None


def prediction_count_kinds(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
                           filters: dict | None = None) -> list[str]:
    """What the prediction rows in [start, end) count: ``predictions``, ``requests`` or both.

    Where a source counts serving requests, cost per 1k predictions is really
    per 1k requests, and the Cost page says so.
    """
    _check(start, end, "UTC")
    rng, where, params = _day_scope("predictions", filters, start, end)
    sql = f"SELECT DISTINCT coalesce(d.count_kind, 'predictions') FROM predictions d WHERE TRUE{rng}{where} ORDER BY 1"
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    return [r[0] for r in con.cursor().execute(sql, used).fetchall()]


def _day_scope(table: str, filters: dict | None, start: date | None, end: date | None,
               column: str = "d.date") -> tuple[str, str, dict]:
    """(date condition, filter condition, bound parameters) for a table of calendar days.

    The date condition keeps ``column`` in [start, end); dates are calendar days
    already, so no time zone applies.
    """
    where, params = _filters(filters, table)
    rng = ""
    if start is not None:
        rng += f" AND {column} >= $start"
        params["start"] = start
    if end is not None:
        rng += f" AND {column} < $end"
        params["end"] = end
    return rng, where, params


# --------------------------------------------------------------------------- serving health

def serving_by_service(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
                       filters: dict | None = None, slo: float = 0.999) -> pd.DataFrame:
    """Serving health of each service over the days in [start, end), worst error budget first.

    The engine's serving KPIs grouped by service, with the catalog's own
    aggregate expressions, so a service's row for a period equals
    ``compute(..., by="service")`` for it: latency_p95_ms / latency_p99_ms
    (traffic-weighted means of the daily percentiles), error_rate (errors /
    requests over the days that report errors), availability (good / total
    requests; a day with only a ratio counts it weighted by its traffic) and
    error_budget_remaining (1 - (1 - availability) / (1 - ``slo``); negative
    when overspent). ``requests`` is the traffic the weights use:
    total_requests where reported, else predictions. Prediction rows are
    calendar days, so no time zone applies.

    Columns: service, team (the teams named on its rows), days, requests,
    predictions, errors, error_rate, availability, error_budget_remaining,
    latency_p95_ms, latency_p99_ms.
    """
    _check(start, end, "UTC")
    if not 0 < slo < 1:
        raise ValueError("the SLO must be a ratio between 0 and 1, e.g. 0.999")
    rng, where, params = _day_scope("predictions", filters, start, end)
    params["slo"] = float(slo)
    kpi = {k: catalog.get(k).value for k in ("latency_p95_ms", "latency_p99_ms", "error_rate", "availability",
                                              "error_budget_remaining")}
    sql = f"""
    WITH rows AS (SELECT * FROM {engine.relation("predictions_daily", rollups.current(con))} d
                  WHERE d.served_days IS NOT NULL{rng}{where})
    SELECT service, string_agg(DISTINCT team, ', ' ORDER BY team) AS team,
        count(DISTINCT date) AS days, sum(w) AS requests, sum(served_predictions) AS predictions,
        sum(errors) AS errors,
        {kpi["error_rate"]} AS error_rate,
        {kpi["availability"]} AS availability,
        {kpi["error_budget_remaining"]} AS error_budget_remaining,
        {kpi["latency_p95_ms"]} AS latency_p95_ms,
        {kpi["latency_p99_ms"]} AS latency_p99_ms
    FROM rows d
    GROUP BY service
    ORDER BY error_budget_remaining NULLS LAST, error_rate DESC NULLS LAST, service"""
    return _run(con, sql, params)


# --------------------------------------------------------------------------- pipelines

def pipeline_runs(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
                  filters: dict | None = None, tz: str = "UTC") -> pd.DataFrame:
    """Pipeline runs of every kind in [start, end), the ones with a problem first, then newest first.

    A run belongs to the period it started in, or was scheduled for when it
    never started (the engine's pipeline KPIs use the same timestamp).
    ``flags`` names what went wrong, comma separated (empty when nothing did):
    ``failed`` or ``cancelled`` (not a success: lowers the success rate),
    ``late`` (on_time false), ``stale data`` (data_fresh false),
    ``validation failed`` (validation_passed false) and ``not reproducible``.
    ``duration_hours`` is finished_at - started_at (NaN until both are known).

    Columns: run_id, pipeline, kind, team, service, model, tier, scheduled_at,
    started_at, finished_at, duration_hours, status, on_time, data_fresh,
    validation_passed, reproducible, flags.
    """
    _check(start, end, tz)
    where, params = _filters(filters, "pipeline_runs")
    rng, rparams = _range("d.run_at", start, end, tz)
    params.update(rparams)
    # the pipeline KPIs' relation (kpis/sql/pipeline_rows.sql): run_at and duration_hours are written there
    sql = f"""
    SELECT d.run_id, d.pipeline, d.kind, d.team, d.service, d.model, d.tier,
        d.scheduled_at, d.started_at, d.finished_at, d.duration_hours,
        d.status, d.on_time, d.data_fresh, d.validation_passed, d.reproducible,
        concat_ws(', ',
            CASE d.status WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'cancelled' END,
            CASE WHEN NOT d.on_time THEN 'late' END,
            CASE WHEN NOT d.data_fresh THEN 'stale data' END,
            CASE WHEN NOT d.validation_passed THEN 'validation failed' END,
            CASE WHEN NOT d.reproducible THEN 'not reproducible' END) AS flags
    FROM {engine.events("pipeline_rows")} d
    WHERE TRUE{rng}{where}
    ORDER BY flags = '', d.run_at DESC, d.run_id"""
    return _run(con, sql, params)


# --------------------------------------------------------------------------- model coverage

def models_inventory(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
                     filters: dict | None = None) -> pd.DataFrame:
    """The production models of the latest inventory snapshot dated in [start, end), uncovered first.

    The rows the coverage KPIs of that snapshot's period count: production
    models (in_production) matching ``filters``, in the latest snapshot among
    them (as_of, or the day the snapshot was ingested when it has none).
    ``gaps`` names what a model lacks, comma separated: ``not monitored``,
    ``no drift monitoring``, ``not documented`` (a flag the inventory leaves
    empty is not a gap: the KPIs leave it out of their denominators).
    ``tier1`` marks the models the tier-1 coverage KPIs count. Order: models
    with gaps first (most gaps, tier-1 first), then by model. Snapshot dates
    are calendar days: no time zone applies. Empty when no snapshot is dated
    in the range; pass ``start=None`` for the latest snapshot before ``end``.

    Columns: model, service, team, tier, tier1, monitored, drift_monitored,
    documented, gaps, as_of.
    """
    _check(start, end, "UTC")
    rng, where, params = _day_scope("models", filters, start, end, column="d.snap")
    sql = f"""
    WITH inv AS (
        -- the coverage KPIs' relation (kpis/sql/model_rows.sql): snapshot date and tier-1 are written there
        SELECT d.*, d.is_tier1 AS tier1
        FROM {engine.events("model_rows")} d
        WHERE d.in_production{rng}{where}
    ), latest AS (
        SELECT d.*,
            concat_ws(', ',
                CASE WHEN NOT d.monitored THEN 'not monitored' END,
                CASE WHEN NOT d.drift_monitored THEN 'no drift monitoring' END,
                CASE WHEN NOT d.documented THEN 'not documented' END) AS gaps,
            (NOT coalesce(d.monitored, TRUE))::INT + (NOT coalesce(d.drift_monitored, TRUE))::INT
                + (NOT coalesce(d.documented, TRUE))::INT AS gap_count
        FROM inv d WHERE d.snap = (SELECT max(snap) FROM inv)
    )
    SELECT model, service, team, tier, tier1, monitored, drift_monitored, documented, gaps, snap AS as_of
    FROM latest
    ORDER BY gap_count DESC, tier1 DESC, model, service"""
    return _run(con, sql, params)


def source_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows behind the serving, pipeline, coverage and drift KPIs in the whole database.

    Tells "never loaded" (0: the page says which export to ingest) from "none
    in the chosen range". Keys: serving_metrics (prediction rows with latency,
    errors or availability), pipeline_runs, models (inventory rows) and
    drift_incidents (ML-related incidents of category drift).
    """
    cur = con.cursor()
    return {
        "serving_metrics": cur.execute(
            "SELECT count(*) FROM predictions WHERE latency_p95_ms IS NOT NULL OR latency_p99_ms IS NOT NULL "
            "OR errors IS NOT NULL OR availability IS NOT NULL OR good_requests IS NOT NULL").fetchone()[0],
        "pipeline_runs": cur.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0],
        "models": cur.execute("SELECT count(*) FROM models").fetchone()[0],
        "drift_incidents": cur.execute(
            "SELECT count(*) FROM incidents WHERE ml_related AND category = 'drift'").fetchone()[0],
    }


# --------------------------------------------------------------------------- cost attribution

# What the cost presets produce when no rule or tag matched a line (kpis/presets/focus.toml, ...).
UNATTRIBUTED_SERVICE = "unattributed"
UNATTRIBUTED_CATEGORY = "other"


def cost_attribution(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
                     filters: dict | None = None) -> pd.DataFrame:
    """How much of the cost dated in [start, end) could not be attributed, per currency.

    Unattributed lines are those with category ``other`` or service
    ``unattributed``: what the cost presets write when no rule or tag
    matched. Amounts in different currencies are never added together.

    Columns: currency, total_cost (every line in the range), unattributed_cost,
    unattributed_share (unattributed / total; NaN when the total is 0),
    unattributed_lines, other_category_cost, unattributed_service_cost (a line
    can be both). One row per currency with cost lines; empty when there are none.
    """
    _check(start, end, "UTC")
    rng, where, params = _day_scope("costs", filters, start, end)
    params["other"] = UNATTRIBUTED_CATEGORY
    params["unattributed"] = UNATTRIBUTED_SERVICE
    sql = f"""
    WITH c AS (
        -- the cost lines' relation or its daily rollup (kpis/sql/cost_lines.sql): amount and lines are sums
        SELECT d.currency, d.amount, d.lines,
               coalesce(d.category = $other, FALSE) AS is_other,
               coalesce(d.service = $unattributed, FALSE) AS is_unattributed
        FROM {engine.relation("costs_daily", rollups.current(con))} d WHERE TRUE{rng}{where}
    )
    SELECT currency, sum(amount) AS total_cost,
        coalesce(sum(amount) FILTER (WHERE is_other OR is_unattributed), 0) AS unattributed_cost,
        coalesce(sum(amount) FILTER (WHERE is_other OR is_unattributed), 0)
            / nullif(sum(amount), 0) AS unattributed_share,
        coalesce(sum(lines) FILTER (WHERE is_other OR is_unattributed), 0) AS unattributed_lines,
        coalesce(sum(amount) FILTER (WHERE is_other), 0) AS other_category_cost,
        coalesce(sum(amount) FILTER (WHERE is_unattributed), 0) AS unattributed_service_cost
    FROM c GROUP BY currency
    ORDER BY unattributed_cost DESC, total_cost DESC, currency"""
    return _run(con, sql, params)


def unattributed_costs(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
                       filters: dict | None = None) -> pd.DataFrame:
    """The unattributed cost lines dated in [start, end), by service and resource, largest first.

    Lines with category ``other`` or service ``unattributed`` (see
    :func:`cost_attribution`), summed per service, resource_id, category and
    currency: where to add a tag or a mapping rule first. ``share_of_cost`` is
    the amount over all cost in the same range and currency; ``reason`` says
    why the lines count (``category other``, ``service unattributed``, or both).

    Columns: service, resource_id, category, currency, amount, share_of_cost,
    lines, first_date, last_date, reason.
    """
    _check(start, end, "UTC")
    rng, where, params = _day_scope("costs", filters, start, end)
    params["other"] = UNATTRIBUTED_CATEGORY
    params["unattributed"] = UNATTRIBUTED_SERVICE
    sql = f"""
    WITH c AS (
        SELECT d.*, sum(d.amount) OVER (PARTITION BY d.currency) AS currency_total
        FROM costs d WHERE TRUE{rng}{where}
    )
    SELECT service, resource_id, category, currency, sum(amount) AS amount,
        sum(amount) / nullif(any_value(currency_total), 0) AS share_of_cost,
        count(*) AS lines, min(date) AS first_date, max(date) AS last_date,
        concat_ws(' and ',
            CASE WHEN category = $other THEN 'category other' END,
            CASE WHEN service = $unattributed THEN 'service unattributed' END) AS reason
    FROM c
    WHERE category = $other OR service = $unattributed
    GROUP BY service, resource_id, category, currency
    ORDER BY amount DESC, service, resource_id NULLS LAST"""
    return _run(con, sql, params)
