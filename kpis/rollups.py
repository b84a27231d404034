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
    names = [STATE, *(r.name for r in ROLLUPS)]
    # duckdb_tables(), not information_schema.tables: 1 ms against 10-13 ms on a new connection
    have = set(con.execute("SELECT coalesce(list(table_name), []) FROM duckdb_tables() "
                           "WHERE NOT temporary AND list_contains($names, table_name)",
                           {"names": names}).fetchone()[0])
    if STATE not in have:
        return frozenset()
    tables = sorted({r.table for r in ROLLUPS})
    counts = ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
    rows = con.execute(f"SELECT name, version, base_rows, {counts} FROM {STATE}").fetchall()
    out = set()
    for name, version, base_rows, *n in rows:
        r = BY_NAME.get(name)
        if r is not None and r.name in have and version == r.version and base_rows == n[tables.index(r.table)]:
            out.add(name)
    return frozenset(out)
