"""Annotations: dated notes that explain a change (a reorg, a new on-call policy, a freeze).

One row per note in ``annotations``: ``day`` (a date), ``team`` and ``service``
('' when the note is about everyone), ``text``, who added it and when. The
trend charts mark the period holding each note (``kpis.charts.trend``'s
``notes``), and the review pack lists the period's notes.

Added from the app (editors, on the Data page) or from a CSV with the columns
``date``, ``text`` and optionally ``team`` and ``service``
(``python -m kpis annotate FILE``). A CSV is loaded whole or not at all: every
bad row is reported with file, row, column and reason, and nothing is written.
The same note (day, team, service, text) is never stored twice.

A note is shown in a view when its team (service) is empty or among the view's
team (service) filter, or the view has no such filter.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from kpis import periods
from kpis.db import local_user

TABLE = "annotations"
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    day DATE NOT NULL, team VARCHAR NOT NULL DEFAULT '', service VARCHAR NOT NULL DEFAULT '',
    text VARCHAR NOT NULL, added_at TIMESTAMP NOT NULL, added_by VARCHAR,
    PRIMARY KEY (day, team, service, text)
)"""
COLUMNS = ("date", "team", "service", "text")
MAX_TEXT = 300  # a marker's note, not a report
MAX_NAME = 200


class AnnotationError(ValueError):
    """Notes that cannot be stored; the message lists every problem (file, row, column, reason)."""


@dataclass(frozen=True)
class Note:
    day: date
    text: str
    team: str = ""
    service: str = ""


def _clean(value) -> str:
    return "" if value is None else " ".join(str(value).split())  # one line: no newlines in a marker


def check(note: Note, where: str = "") -> list[str]:
    """The note's problems ('' fields are fine for team and service); [] when it can be stored."""
    at = f"{where} " if where else ""
    problems = []
    lo, hi = periods.plausible_window()
    if not isinstance(note.day, date):
        problems.append(f"{at}column date: not a date")
    elif not lo <= note.day <= hi:
        problems.append(f"{at}column date: {note.day} is outside {lo} to {hi}")
    if not note.text:
        problems.append(f"{at}column text: empty")
    elif len(note.text) > MAX_TEXT:
        problems.append(f"{at}column text: {len(note.text)} characters; keep it under {MAX_TEXT}")
    for col, value in (("team", note.team), ("service", note.service)):
        if len(value) > MAX_NAME:
            problems.append(f"{at}column {col}: longer than {MAX_NAME} characters")
    return problems


def _exists(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.cursor().execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = $t AND schema_name = 'main'",
                               {"t": TABLE}).fetchone()
    return bool(row and row[0])


def add(con: duckdb.DuckDBPyConnection, notes: list[Note], by: str | None = None) -> int:
    """Store ``notes`` in one transaction (all or none); the number added (a note stored before is not
    added again). Raises AnnotationError listing every problem. ``con`` must be writable."""
    notes = [Note(n.day, _clean(n.text), _clean(n.team), _clean(n.service)) for n in notes]
    problems = [p for i, n in enumerate(notes, 1) for p in check(n, f"note {i}" if len(notes) > 1 else "")]
    if problems:
        raise AnnotationError("; ".join(problems))
    return _insert(con, notes, by)


def _insert(con: duckdb.DuckDBPyConnection, notes: list[Note], by: str | None) -> int:
    con.execute(DDL)
    before = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        for n in notes:
            con.execute(f"INSERT INTO {TABLE} (day, team, service, text, added_at, added_by) "
                        "VALUES ($day, $team, $service, $text, $at, $by) ON CONFLICT DO NOTHING",
                        {"day": n.day, "team": n.team, "service": n.service, "text": n.text, "at": now,
                         "by": by or local_user()})
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] - before


def read_csv(path: str | Path) -> list[Note]:
    """The notes of a CSV (columns date, text; optionally team, service); AnnotationError naming file, row,
    column and reason for every bad row (row 2 is the first after the header)."""
    path = Path(path)
    name = path.name
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            missing = [c for c in ("date", "text") if c not in header]
            if missing:
                raise AnnotationError(f"{name}: missing column {', '.join(missing)} (columns: date, team, service, "
                                      "text)")
            unknown = [h for h in header if h not in COLUMNS]
            if unknown:
                raise AnnotationError(f"{name}: unknown column {', '.join(unknown)} (columns: date, team, service, "
                                      "text)")
            reader.fieldnames = header
            notes, problems = [], []
            for i, row in enumerate(reader, start=2):
                where = f"{name} row {i}"
                raw = (row.get("date") or "").strip()
                try:
                    day = date.fromisoformat(raw)
                except ValueError:
                    problems.append(f"{where} column date: {raw!r} is not a date (YYYY-MM-DD)")
                    continue
                note = Note(day, _clean(row.get("text")), _clean(row.get("team")), _clean(row.get("service")))
                found = check(note, where)
                problems += found
                if not found:
                    notes.append(note)
    except UnicodeDecodeError:
        raise AnnotationError(f"{name}: not UTF-8 text") from None
    if problems:
        raise AnnotationError("; ".join(problems))
    if not notes:
        raise AnnotationError(f"{name}: no notes (a header and no rows)")
    return notes


def load_csv(con: duckdb.DuckDBPyConnection, path: str | Path, by: str | None = None) -> int:
    """Store the notes of a CSV, all or none; the number added."""
    return _insert(con, read_csv(path), by)


def notes(con: duckdb.DuckDBPyConnection, start: date | None = None, end: date | None = None,
          filters: dict | None = None) -> pd.DataFrame:
    """The notes from ``start`` to ``end`` (inclusive) shown in a view with ``filters``, oldest first:
    columns day, team, service, text, added_by. Empty when there are none (or no table yet)."""
    cols = ["day", "team", "service", "text", "added_by"]
    if not _exists(con):
        return pd.DataFrame(columns=cols)
    filters = filters or {}
    where, params = ["TRUE"], {}
    if start is not None:
        where.append("day >= $start")
        params["start"] = start
    if end is not None:
        where.append("day <= $end")
        params["end"] = end
    for col in ("team", "service"):
        chosen = [str(v) for v in filters.get(col) or []]
        if chosen:
            where.append(f"({col} = '' OR list_contains(${col}, {col}))")  # col from the fixed tuple above
            params[col] = chosen
    sql = f"SELECT {', '.join(cols)} FROM {TABLE} WHERE {' AND '.join(where)} ORDER BY day, team, service, text"
    return con.cursor().execute(sql, params).df()


def describe(row) -> str:
    """'2026-10-05 · team search: New on-call rota' (the note in one line)."""
    scope = ", ".join(f"{k} {row[k]}" for k in ("team", "service") if row.get(k))
    day = pd.Timestamp(row["day"]).date()
    return f"{day} · {scope + ': ' if scope else ''}{row['text']}"
