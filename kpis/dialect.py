"""The SQL dialect seam: the engine's SQL, written once, run on DuckDB or Spark.

The KPI SQL (kpis/sql/, the catalog's aggregates, the engine's spine) is
written in DuckDB's syntax, in the portable subset that a transpiler (SQLGlot)
carries to another engine without changing a result: explicit casts to DOUBLE
(no decimal literals such as ``1.0``, which Spark keeps as DECIMAL and rounds),
the period spine as a relation with one unnest per SELECT (two are zipped by
DuckDB and crossed by Spark), joins instead of DuckDB's ASOF JOIN, no
``AT TIME ZONE`` chains. tests/test_sql_lint.py rejects those patterns.

What is left are the two real differences between the engines, and they are
written here only:

- an exact, interpolated percentile: the SQL says ``quantile_cont(x, q)``
  (DuckDB's exact one); Spark's ``percentile(x, q)`` is the same (SQLGlot
  would write ``percentile_cont``, and turns ``percentile_cont ... WITHIN
  GROUP`` into ``percentile_approx``: off by up to 97% on small groups);
- a UTC timestamp to the reporting zone's wall time, and back
  (:meth:`Dialect.to_local`, :meth:`Dialect.to_utc`), the zone being the bound
  parameter ``$tz``.

Parameters stay bound: DuckDB's ``$name`` becomes Spark's ``:name``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Dialect:
    name: str

    def to_local(self, ts: str) -> str:
        """SQL: the UTC timestamp ``ts`` as wall time in the reporting zone ``$tz``."""
        if self.name == "spark":
            return f"from_utc_timestamp({ts}, $tz)"
        return f"timezone($tz, timezone('UTC', {ts}))"

    def to_utc(self, ts: str) -> str:
        """SQL: the wall time ``ts`` in the reporting zone ``$tz`` as a UTC timestamp."""
        if self.name == "spark":
            return f"to_utc_timestamp({ts}, $tz)"
        return f"timezone('UTC', timezone($tz, {ts}))"

    def next_later(self, probes: str, marks: str) -> str:
        """SQL: ``id``, ``next_at`` for each row (id, k, t) of ``probes``: the earliest ``t`` of the rows (k, t)
        of ``marks`` with the same ``k`` strictly after it, null when there is none. DuckDB has an ASOF join
        for it (a merge of the two sorted inputs); elsewhere a window over both, the marks sorted before the
        probes at the same moment, so the rows after a probe hold only marks strictly later."""
        if self.name == "duckdb":
            return (f"SELECT p.id, m.t AS next_at FROM ({probes}) p "
                    f"ASOF LEFT JOIN ({marks}) m ON p.k = m.k AND m.t > p.t")
        return ("SELECT w.id, w.next_at FROM ("
                "SELECT u.id, u.kind, min(u.mark_t) OVER (PARTITION BY u.k ORDER BY u.t, u.kind "
                "ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_at FROM ("
                f"SELECT CAST(NULL AS VARCHAR) AS id, m.k, m.t, 0 AS kind, m.t AS mark_t FROM ({marks}) m "
                f"UNION ALL SELECT p.id, p.k, p.t, 1 AS kind, CAST(NULL AS TIMESTAMP) AS mark_t FROM ({probes}) p"
                ") u) w WHERE w.kind = 1")

    def translate(self, sql: str) -> str:
        """The engine's SQL (DuckDB syntax) in this dialect."""
        if self.name == "duckdb":
            return sql
        return _to_spark(sql)


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")


class NotPortable(ValueError):
    """SQL that would give another engine different results (an approximate percentile)."""


@lru_cache(maxsize=512)
def _to_spark(sql: str) -> str:
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")

    def exact(node):
        if isinstance(node, (exp.ApproxQuantile, exp.WithinGroup)):
            raise NotPortable(f"not portable (approximate or ordered-set percentile): {node.sql('duckdb')}")
        if isinstance(node, exp.PercentileCont):
            return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
        return node

    return tree.transform(exact).sql(dialect="spark")
