"""The KPI SQL stays portable (kpis/dialect.py): no construct that another engine runs without an error but
with other results.

Checked twice: the text of every file in kpis/sql/ (so a new file is checked before it is wired in), and every
statement the engine sends for a range of requests (the files rendered, the catalog's aggregates, the spine).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

import kpis
from kpis import dialect, engine, runners

SQL_DIR = Path(kpis.__file__).parent / "sql"

# (pattern, why): each is a silent mistranslation measured on Spark (issue 13).
TEXT_RULES = (
    (re.compile(r"\bpercentile_(cont|disc)\b|\bwithin\s+group\b", re.I),
     "ordered-set percentile: becomes an approximate one on Spark and Trino; write quantile_cont(x, q)"),
    (re.compile(r"\b(approx_quantile|approx_percentile|percentile_approx|reservoir_quantile)\b", re.I),
     "approximate percentile: the KPIs are exact; write quantile_cont(x, q)"),
    (re.compile(r"\bat\s+time\s+zone\b", re.I),
     "AT TIME ZONE: translated to a conversion that is wrong for local period ends; use the dialect seam "
     "(kpis.dialect: to_local / to_utc, the {period:...} and {utc:...} placeholders)"),
    (re.compile(r"\basof\b", re.I), "ASOF JOIN: DuckDB only; a join and row_number() give the same rows"),
    (re.compile(r"(?<![\w.$'])\d+\.\d+(?![\w.])"),
     "decimal literal: Spark keeps it DECIMAL and rounds ratios to its scale; write CAST(x AS DOUBLE) / 3600"),
)


def _strip(sql: str) -> str:
    """The SQL without comments and string literals (which may say anything)."""
    sql = re.sub(r"--[^\n]*", " ", sql)
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def _allowed_fractions(sql: str) -> str:
    """The percentile's fraction is a literal by nature: quantile_cont(x, 0.5) is exact on every engine."""
    return re.sub(r"(quantile_cont\s*\([^()]*,\s*)\d*\.\d+(\s*\))", r"\1q\2", sql, flags=re.I)


def _unnests_per_select(sql: str) -> list[str]:
    """The SELECTs that unnest more than one list: DuckDB zips them, Spark crosses them."""
    bad = []
    for select in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Select):
        n = sum(1 for e in select.expressions for _ in e.find_all(exp.Unnest, exp.Explode))
        if n > 1:
            bad.append(select.sql("duckdb")[:200])
    return bad


def _placeholder(m: re.Match) -> str:
    key = m.group(1)
    if key in ("filters", "union", "link_window"):  # conditions, or nothing
        return ""
    return "t" if key in ("rel", "events", "spine", "next_success") else "NULL"


def problems(sql: str) -> list[str]:
    """What is not portable in ``sql``, one message per finding."""
    text = _allowed_fractions(_strip(sql))
    out = [f"{why}: {m.group(0)!r}" for rule, why in TEXT_RULES for m in rule.finditer(text)]
    parsed = re.sub(r"\{(\w+)[^{}]*\}", _placeholder, sql)  # an unrendered file: its placeholders filled
    out += [f"two unnest() in one SELECT: {s}" for s in _unnests_per_select(parsed)]
    return out


def test_the_lint_finds_each_pattern():
    bad = {
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t": "ordered-set",
        "SELECT approx_quantile(x, 0.5) FROM t": "approximate percentile",
        "SELECT ts AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/Berlin' FROM t": "AT TIME ZONE",
        "SELECT unnest($a::DATE[]) AS s, unnest($b::DATE[]) AS e": "two unnest",
        "SELECT date_diff('second', a, b) / 3600.0 FROM t": "decimal literal",
        "SELECT avg(CASE WHEN f THEN 1.0 ELSE 0.0 END) FROM t": "decimal literal",
        "SELECT * FROM a ASOF JOIN b ON a.k = b.k AND a.t >= b.t": "ASOF",
    }
    for sql, finding in bad.items():
        found = problems(sql)
        assert any(finding in f for f in found), (sql, found)
    ok = ("SELECT quantile_cont(x, 0.9), CAST(date_diff('second', a, b) AS DOUBLE) / 3600, "
          "'1.0 AT TIME ZONE' AS note FROM (SELECT unnest($a::DATE[]) AS s) x -- 3600.0 in a comment")
    assert problems(ok) == []


@pytest.mark.parametrize("path", sorted(SQL_DIR.glob("*.sql")), ids=lambda p: p.name)
def test_sql_files_are_portable(path):
    assert problems(path.read_text()) == []


def test_catalog_aggregates_are_portable():
    for k in kpis.catalog.CATALOG:
        for sql in (k.value, k.n):
            if sql:
                assert problems(f"SELECT {sql} FROM t") == [], k.id


class Recording(runners.DuckDBRunner):
    def __init__(self, con):
        super().__init__(con)
        self.sent: list[str] = []

    def rows(self, sql, params):
        self.sent.append(sql)
        return super().rows(sql, params)

    def frame(self, sql, params):
        self.sent.append(sql)
        return super().frame(sql, params)


def test_every_statement_the_engine_sends_is_portable(sample_db):
    con = kpis.connect(sample_db, read_only=True)
    run = Recording(con)
    shapes = (dict(grain="month", by="team"), dict(grain="quarter", by="service", tz="America/New_York"),
              dict(grain="week", span_days=3, as_of=None, link_window_hours=2.0, lead_time_start="approved_at"),
              dict(grain="month", tz="Asia/Kolkata", filters={"team": ["search"]}, use_rollups=False))
    for shape in shapes:
        engine.compute(run, **shape)
    con.close()
    assert sum("grid AS" in sql for sql in run.sent) == len(shapes)  # one KPI statement per request
    # The one construct the DuckDB dialect gives itself (kpis.dialect.next_later: an ASOF join) is checked in
    # the form another engine is sent; everything around it must be portable as it is.
    seam = {dialect.DUCKDB.next_later(*engine._recovery_parts(b)): dialect.SPARK.next_later(*engine._recovery_parts(b))
            for b in (True, False)}
    for sql in run.sent:
        for duck, other in seam.items():
            sql = sql.replace(duck, other)
        assert problems(sql) == [], sql[:300]
        dialect.SPARK.translate(sql)  # and it translates (an approximate percentile would be refused)


def test_spark_translation_keeps_percentiles_exact_and_parameters_bound():
    sql = dialect.SPARK.translate("SELECT quantile_cont(x, 0.5) FILTER (WHERE ok), list_contains($teams, team) FROM t")
    assert "percentile(x, 0.5)" in sql.lower() and "percentile_cont" not in sql.lower()
    assert ":teams" in sql
    with pytest.raises(dialect.NotPortable):
        dialect.SPARK.translate("SELECT approx_quantile(x, 0.5) FROM t")
    with pytest.raises(dialect.NotPortable):
        dialect.SPARK.translate("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t")


def test_the_time_zone_seam_on_duckdb():
    """Midnight 2026-11-01 in New York is 04:00Z (EDT, UTC-4); 2026-11-02 05:00Z is midnight there (EST)."""
    import duckdb

    con = duckdb.connect()
    d = dialect.DUCKDB
    to_utc = d.to_utc("TIMESTAMP '2026-11-01 00:00:00'")
    to_local = d.to_local("TIMESTAMP '2026-11-02 05:00:00'")
    utc, local = con.execute(f"SELECT {to_utc}, {to_local}", {"tz": "America/New_York"}).fetchone()
    assert str(utc) == "2026-11-01 04:00:00" and str(local) == "2026-11-02 00:00:00"


def test_next_later_is_the_same_on_both_forms(sample_db):
    """The dialect seam's next successful deployment: DuckDB's ASOF join and the window another engine runs give
    the same rows (bounded and not)."""
    con = kpis.connect(sample_db, read_only=True)
    links = "SELECT deployment_id, incident_id FROM incidents WHERE deployment_id IS NOT NULL"
    lo, hi = engine.data_range(con)
    params = {k: v for k, v in engine._bounds(lo, hi).items() if k in ("lo_ts", "hi_ts")}
    for bounded in (False, True):
        parts = engine._recovery_parts(bounded)
        got = [con.execute(f"WITH incident_links AS ({links}) SELECT * FROM ({d.next_later(*parts)}) ORDER BY 1",
                           params if bounded else {}).fetchall() for d in (dialect.DUCKDB, dialect.SPARK)]
        assert got[0] == got[1] and len(got[0]) > 10 and sum(r[1] is not None for r in got[0]) > 10
    con.close()
