"""Daily rollups of the high-volume sources, maintained at ingest.

Costs and predictions arrive as millions of lines a month, but every KPI over
them is a sum, a count or a traffic-weighted mean: a sum of additive columns.
Each such source has one event relation in additive columns
(``kpis/sql/cost_lines.sql``, ``kpis/sql/prediction_days.sql``); a rollup
table holds the same columns summed per date and key (team, service, model,
and for costs currency and category; ``cost_runs_daily`` per training run,
what training cost per run counts). The KPI sources read ``{rel:<rollup>}``:
the rollup table when it is current, else the event relation, with the same
aggregates and the same results (tests compare both, value by value).
Medians and percentiles (deployments, incidents) have no rollup: they read
the events.

Maintenance: ``refresh`` runs inside the ingest batch's transaction, before
its commit, and rebuilds the rollup rows of every date from the batch's first
to its last. A costs or predictions batch replaces the earlier rows of each
file's source from the file's first to its last date (kpis/ingest/loading.py, "The
replace unit"), so every row it replaces or removes is dated within the days
it wrote: a restated month replaces its rollup rows too (a service it no
longer lists drops out of them), and a rolled-back batch leaves the rollups as
they were.

``rollup_state`` records, per rollup, the version of its definition (a hash of
the relation's SQL, keys and sums) and the row count of its table when it was
built. A rollup is used only when both still match: after an upgrade that
changes a definition, or rows added or deleted around ``kpis ingest``, the
engine reads the events until a read-write open (``kpis.connect``) rebuilds it.

``deployment_next_success`` is kept the same way for failed deployment
recovery time (see "The next successful deployment" below), and
``deployment_links`` for what incidents say of each deployment (see "What
other events say of a deployment").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).parent / "sql"
STATE = "rollup_state"
STATE_DDL = f"""
CREATE TABLE IF NOT EXISTS {STATE} (
    name VARCHAR PRIMARY KEY, version VARCHAR, base_rows BIGINT, built_at TIMESTAMP
)"""


@dataclass(frozen=True)
class Rollup:
    name: str  # the rollup table
    table: str  # the canonical table it sums
    relation: str  # kpis/sql/<relation>.sql: one row per event, additive columns
    keys: tuple[str, ...]  # grouped by (date first)
    sums: dict[str, str]  # summed column -> its type in the rollup (counts stay BIGINT, not HUGEINT)
    where: str = ""  # the relation's rows it sums (a condition on its columns), "" = all

    def events(self) -> str:
        """The relation's rows this rollup sums, as a FROM item (the event path of the engine)."""
        body = f"({self.sql()})"
        return f"(SELECT * FROM {body} d WHERE {self.where})" if self.where else body

    def sql(self) -> str:
        return (SQL_DIR / f"{self.relation}.sql").read_text()

    @property
    def version(self) -> str:
        text = "\n".join([self.sql(), ",".join(self.keys), ",".join(f"{c} {t}" for c, t in self.sums.items()),
                          self.where])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def select(self, where: str = "") -> str:
        """The rollup's rows, computed from the events (``where``: a further condition on them, alias d)."""
        sums = ", ".join(f"sum(d.{c})::{t} AS {c}" for c, t in self.sums.items())
        keys = ", ".join(f"d.{c}" for c in self.keys)
        cond = " AND ".join(f"({c})" for c in (self.where, where) if c)
        return f"SELECT {keys}, {sums} FROM ({self.sql()}) d{' WHERE ' + cond if cond else ''} GROUP BY {keys}"


ROLLUPS = (
    Rollup("costs_daily", "costs", "cost_lines",
           keys=("date", "team", "service", "model", "currency", "category", "run_named"),
           sums={"amount": "DOUBLE", "lines": "BIGINT"}),
    # The training runs per day: what training cost per run counts (distinct runs per period).
    Rollup("cost_runs_daily", "costs", "cost_lines",
           keys=("date", "team", "service", "model", "currency", "run_id"),
           sums={"amount": "DOUBLE", "lines": "BIGINT"}, where="d.category = 'training' AND d.run_id IS NOT NULL"),
    Rollup("predictions_daily", "predictions", "prediction_days",
           keys=("date", "team", "service", "model"),
           sums={**dict.fromkeys(("rows", "predictions", "served_days", "served_predictions", "p95_days",
                                  "p99_days", "errors", "errors_days", "avail_days"), "BIGINT"),
                 **dict.fromkeys(("w", "p95_w", "p95_weight", "p99_w", "p99_weight", "errors_weight", "good_w",
                                  "avail_w"), "DOUBLE")}),
)
BY_NAME = {r.name: r for r in ROLLUPS}


def _exists(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE NOT temporary AND table_name = ?",
                            [name]).fetchone()[0])


def _count(con, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _record(con, r: Rollup) -> None:
    con.execute(f"INSERT OR REPLACE INTO {STATE} VALUES (?, ?, ?, now()::TIMESTAMP)",
                [r.name, r.version, _count(con, r.table)])


def rebuild(con, r: Rollup) -> None:
    """Build ``r`` from all events (a new or outdated rollup)."""
    con.execute(f"CREATE OR REPLACE TABLE {r.name} AS {r.select()}")
    _record(con, r)


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Create the rollups, and rebuild any that is missing or not ``current`` (on a read-write open)."""
    con.execute(STATE_DDL)
    fresh = current(con)
    for r in ROLLUPS:
        if r.name not in fresh:
            rebuild(con, r)  # its state row is written last: an interrupted rebuild is redone next time
    if NEXT_SUCCESS not in fresh:
        refresh_next_success(con)
    if LINKS not in fresh:
        refresh_links(con)
    if RUN_TEAMS not in fresh or "cost_runs_daily" not in fresh:
        refresh_run_teams(con)


def refresh_batch(con: duckdb.DuckDBPyConnection, tables, batch_id: int) -> None:
    """Everything kept at ingest that reads ``tables``, after batch ``batch_id`` wrote them (in its transaction):
    each rollup's days, and the next successful deployments once however many of their tables it wrote."""
    if set(tables) & set(NEXT_SUCCESS_BASE):
        refresh_next_success(con)
        refresh_links(con)  # reads the next successes
    for table in sorted(set(tables)):
        refresh(con, table, batch_id)
    if "costs" in tables:
        refresh_run_teams(con)  # reads the training runs' rollup just refreshed


def refresh(con: duckdb.DuckDBPyConnection, table: str, batch_id: int) -> None:
    """Rebuild the rollup rows of the days batch ``batch_id`` wrote to ``table`` (inside its transaction).

    Every day from the batch's first to its last is rebuilt from the events: a day in between that the
    batch did not touch gets the same rows again, and a range is a filter DuckDB applies while it scans
    (a semi-join against the batch's days cost a third more on a first load of 10M lines)."""
    mine = [r for r in ROLLUPS if r.table == table]
    if not mine:
        return
    lo, hi = con.execute(f"SELECT min(date), max(date) FROM {table} WHERE batch_id = ?", [batch_id]).fetchone()
    for r in mine:
        if not _exists(con, r.name):
            rebuild(con, r)
            continue
        if lo is not None:
            con.execute(f"DELETE FROM {r.name} WHERE date BETWEEN ? AND ?", [lo, hi])
            con.execute(f"INSERT INTO {r.name} {r.select('d.date BETWEEN $lo AND $hi')}", {"lo": lo, "hi": hi})
        _record(con, r)


def current(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The rollups that are current: their definition unchanged and their table's row count as recorded.

    Two small queries (every compute asks, once per read-only connection): which tables exist, then the
    state and the row counts."""
    from kpis import db  # kpis.db imports this module in ensure_schema

    return db.once_per_snapshot(con, ("rollups",), lambda: _current(con))


def _current(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    names = [STATE, *(r.name for r in ROLLUPS), NEXT_SUCCESS, LINKS, RUN_TEAMS]
    # duckdb_tables(), not information_schema.tables: 1 ms against 10-13 ms on a new connection
    have = set(con.execute("SELECT coalesce(list(table_name), []) FROM duckdb_tables() "
                           "WHERE NOT temporary AND list_contains($names, table_name)",
                           {"names": names}).fetchone()[0])
    if STATE not in have:
        return frozenset()
    tables = sorted({*(r.table for r in ROLLUPS), *NEXT_SUCCESS_BASE})
    counts = ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
    rows = con.execute(f"SELECT name, version, base_rows, {counts} FROM {STATE}").fetchall()
    out = set()
    states = {name: (version, base_rows) for name, version, base_rows, *_ in rows}
    n = dict(zip(tables, rows[0][3:])) if rows else {}
    for r in ROLLUPS:
        if r.name in have and states.get(r.name) == (r.version, n.get(r.table)):
            out.add(r.name)
    if NEXT_SUCCESS in have and all(states.get(_state_name(t)) == (_next_success_version(), n.get(t))
                                    for t in NEXT_SUCCESS_BASE):
        out.add(NEXT_SUCCESS)
    if NEXT_SUCCESS in out and LINKS in have and all(
            states.get(_state_name(t, LINKS)) == (_links_version(), n.get(t)) for t in NEXT_SUCCESS_BASE):
        out.add(LINKS)
    if "cost_runs_daily" in out and RUN_TEAMS in have and states.get(RUN_TEAMS) == (_run_teams_version(),
                                                                                    n.get("costs")):
        out.add(RUN_TEAMS)
    return frozenset(out)


# ---------------------------------------------------------------------------
# The next successful deployment
#
# Failed deployment recovery time (kpis/sql/deployment_facts.sql) needs, for
# each deployment that needs recovering, the next successful production
# deployment of its service: a merge of every successful deployment, sorted, on
# each request (0.3 s of the benchmark's 1M). ``deployment_next_success`` holds
# it for every deployment that needs recovering whatever the request (status
# failed or rolled_back, or named by an incident's deployment_id:
# engine.recovery_probes with the incidents' own links), with the service and
# time it was computed for. The engine reads it when it is current and no link
# window adds deployments (engine._next_success), else computes it.
#
# Kept at ingest, after each deployments or incidents batch, inside its
# transaction, and on a read-write open when not current; each pass is exact
# whatever changed (an id re-exported with another time, service or status):
# 1. the services whose successful deployments changed lose their rows: a
#    per-service fingerprint of those deployments (count and summed hash of
#    id and time) against the one stored last time, in
#    ``deployment_next_success_marks``;
# 2. rows whose deployment is gone or has another service or time go too;
# 3. the deployments that need recovering and have no row get one (the
#    dialect's next_later over their services' successes only).
# A first load computes every row; a later monthly batch recomputes the
# services it touched. Current when its definition and the deployments' and
# incidents' row counts are those recorded (state rows ``NAME:<table>``).

NEXT_SUCCESS = "deployment_next_success"
NEXT_SUCCESS_BASE = ("deployments", "incidents")
_MARKS = "deployment_next_success_marks"
_FINGERPRINTS = ("SELECT service, count(*) AS n, sum(hash(deployment_id, deployed_at))::HUGEINT AS fp "
                 "FROM deployments WHERE environment = 'production' AND status = 'success' GROUP BY service")


def _state_name(table: str, kept: str = NEXT_SUCCESS) -> str:
    return f"{kept}:{table}"


def _next_success_sql() -> str:
    """The rows to add: (deployment_id, service, deployed_at, next_success_at) of the deployments that need
    recovering and have none (over their services' successes only)."""
    from kpis import dialect, engine  # engine imports this module

    missing = engine.recovery_probes(f" AND p.deployment_id NOT IN (SELECT deployment_id FROM {NEXT_SUCCESS})")
    marks = engine.success_marks(" AND p.service IN (SELECT k FROM missing)")
    links = engine._render("incident_links", engine.Request(), "incidents")  # the incidents' own links only
    return (f"WITH incident_links AS ({links}), missing AS ({missing}) "
            f"SELECT n.id, p.k, p.t, n.next_at FROM ({dialect.DUCKDB.next_later('SELECT * FROM missing', marks)}) n "
            "JOIN missing p ON p.id = n.id")


def _next_success_version() -> str:
    text = "\n".join([_next_success_sql(), _FINGERPRINTS])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def refresh_next_success(con: duckdb.DuckDBPyConnection) -> None:
    """Bring ``deployment_next_success`` up to date with the deployments and incidents (see above)."""
    if not (_exists(con, "deployments") and _exists(con, "incidents")):
        return
    con.execute(STATE_DDL)
    stale = [name for name, version in con.execute(
        f"SELECT name, version FROM {STATE} WHERE starts_with(name, ?)", [NEXT_SUCCESS + ":"]).fetchall()
        if version != _next_success_version()]
    if stale or not (_exists(con, NEXT_SUCCESS) and _exists(con, _MARKS)):  # new, or another definition
        con.execute(f"CREATE OR REPLACE TABLE {NEXT_SUCCESS} (deployment_id VARCHAR, service VARCHAR, "
                    "deployed_at TIMESTAMP, next_success_at TIMESTAMP)")
        con.execute(f"CREATE OR REPLACE TABLE {_MARKS} (service VARCHAR, n BIGINT, fp HUGEINT)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _fingerprints AS {_FINGERPRINTS}")
    con.execute(f"DELETE FROM {NEXT_SUCCESS} WHERE service IN ("
                f"SELECT coalesce(f.service, m.service) FROM _fingerprints f FULL JOIN {_MARKS} m "
                "ON f.service IS NOT DISTINCT FROM m.service "
                "WHERE f.n IS DISTINCT FROM m.n OR f.fp IS DISTINCT FROM m.fp)")
    con.execute(f"DELETE FROM {NEXT_SUCCESS} WHERE deployment_id NOT IN ("
                f"SELECT n.deployment_id FROM {NEXT_SUCCESS} n JOIN deployments d "
                "ON d.deployment_id = n.deployment_id AND d.environment = 'production' "
                "AND d.service IS NOT DISTINCT FROM n.service AND d.deployed_at = n.deployed_at)")
    con.execute(f"INSERT INTO {NEXT_SUCCESS} {_next_success_sql()}")
    con.execute(f"DELETE FROM {_MARKS}")
    con.execute(f"INSERT INTO {_MARKS} SELECT * FROM _fingerprints")
    con.execute("DROP TABLE _fingerprints")
    for t in NEXT_SUCCESS_BASE:
        con.execute(f"INSERT OR REPLACE INTO {STATE} VALUES (?, ?, ?, now()::TIMESTAMP)",
                    [_state_name(t), _next_success_version(), _count(con, t)])


# ---------------------------------------------------------------------------
# What other events say of a deployment
#
# kpis/sql/deployments.sql joins each deployment with kpis/sql/deployment_facts.sql: whether an incident names
# it, whether an incident names it as its fix, and for those that need recovering their next successful
# deployment and when the incidents naming it were resolved. Computed per request it tested every deployment
# against the links twice and joined its recovery (40% of the 9 delivery KPIs' query, half of the recovery
# times', on the 3x benchmark). ``deployment_links`` holds it for every deployment, unbounded and unfiltered
# (the facts depend on neither), from the incidents' own links (no link window: the engine computes it when
# one is asked), with each deployment's deployed_at: a request bounded in time reads the rows of its range only
# (joining all of them made a month's query slower than before). Rebuilt whole after each deployments or incidents batch, inside its transaction, after the
# next successes it reads (0.25 s on the 3x benchmark's 3M deployments); current when its definition and the
# deployments' and incidents' row counts are those recorded (state rows ``deployment_links:<table>``) and the
# next successes are current.

LINKS = "deployment_links"


def _links_sql() -> str:
    from kpis import engine  # engine imports this module

    req = engine.Request(rollups=frozenset({NEXT_SUCCESS}))  # no link window; the next successes kept above
    links = engine._render("incident_links", req, "incidents")
    # with the deployment's time, so that a request bounded in time joins only the facts of its deployments
    return (f"WITH incident_links AS ({links}) SELECT f.*, d.deployed_at FROM ({engine.deployment_facts(req)}) f "
            "LEFT JOIN deployments d ON d.deployment_id = f.deployment_id")


def _links_version() -> str:
    return hashlib.sha256(_links_sql().encode()).hexdigest()[:16]


def refresh_links(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild ``deployment_links`` from the deployments, the incidents and the next successes (see above)."""
    if not (_exists(con, "deployments") and _exists(con, "incidents") and _exists(con, NEXT_SUCCESS)):
        return
    con.execute(STATE_DDL)
    con.execute(f"CREATE OR REPLACE TABLE {LINKS} AS {_links_sql()}")
    for t in NEXT_SUCCESS_BASE:
        con.execute(f"INSERT OR REPLACE INTO {STATE} VALUES (?, ?, ?, now()::TIMESTAMP)",
                    [_state_name(t, LINKS), _links_version(), _count(con, t)])


# ---------------------------------------------------------------------------
# The training runs per team, each row marked when its run is alone in its key
#
# Training cost per run divides by the distinct runs per period, group and
# currency: grouped by team, a DISTINCT over every (period, team, currency, run)
# of the training runs' rollup (1.3M of them on the 20-team benchmark: 40% of all
# KPIs by month and team, and most of a first request's fresh memory).
# ``cost_run_teams`` holds the distinct (date, team, currency, run_id) of
# ``cost_runs_daily`` with two marks: ``single_team``, the row is the only one of
# its run, currency and team; ``single_run``, the only one of its run and currency.
# A row alone in its key stays alone in any range or team filter, so it counts one
# run without being made distinct; only the others are (kpis/sql/cost_run_teams.sql,
# which the engine reads for a request grouped by team or not at all and filtered
# on the team only: ``engine._run_teams``). Rebuilt whole after each costs batch,
# inside its transaction, after the training runs' rollup it reads (0.25 s, CPU 0.45 s
# on the 1x benchmark); current when that rollup is, and its definition and the costs' row
# count are those recorded.

RUN_TEAMS = "cost_run_teams"


def _run_teams_sql() -> str:
    # Each key's first and last day, one pass: a key on one day is one row (most runs); only the keys over
    # several days are made distinct day by day (0.71 -> 0.45 s CPU at 1x against a DISTINCT of every row).
    return """
    WITH t AS (
        SELECT team, currency, run_id, min(date) AS lo, max(date) AS hi FROM cost_runs_daily
        GROUP BY team, currency, run_id
    ), r AS (
        SELECT currency, run_id, count(*) = 1 AND bool_and(lo = hi) AS single_run FROM t GROUP BY currency, run_id
    ), multi AS (
        SELECT DISTINCT d.date, d.team, d.currency, d.run_id FROM cost_runs_daily d
        SEMI JOIN (SELECT * FROM t WHERE lo < hi) m
               ON m.team IS NOT DISTINCT FROM d.team AND m.currency IS NOT DISTINCT FROM d.currency
              AND m.run_id = d.run_id
    )
    SELECT u.date, u.team, u.currency, u.run_id, u.single_team, r.single_run
    FROM (SELECT lo AS date, team, currency, run_id, TRUE AS single_team FROM t WHERE lo = hi
          UNION ALL SELECT date, team, currency, run_id, FALSE FROM multi) u
    JOIN r ON r.currency IS NOT DISTINCT FROM u.currency AND r.run_id = u.run_id
    ORDER BY u.date"""


def _run_teams_version() -> str:
    text = "\n".join([_run_teams_sql(), BY_NAME["cost_runs_daily"].version])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def refresh_run_teams(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild ``cost_run_teams`` from the training runs' rollup (see above)."""
    if not (_exists(con, "costs") and _exists(con, "cost_runs_daily")):
        return
    con.execute(STATE_DDL)
    con.execute(f"CREATE OR REPLACE TABLE {RUN_TEAMS} AS {_run_teams_sql()}")
    con.execute(f"INSERT OR REPLACE INTO {STATE} VALUES (?, ?, ?, now()::TIMESTAMP)",
                [RUN_TEAMS, _run_teams_version(), _count(con, "costs")])
