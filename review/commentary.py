"""The presenter's commentary, saved with the review in the database.

One row per (period, profile, scope, section) in ``review_commentary``; the
scope is ``review.model.scope_key`` of the filters, so the commentary of the
fraud team's review is not the whole organisation's. The table is created on
demand by the first save (through the writer path: ``ui.data``'s writer lock in
the app, ``kpis.connect`` in the command line); reading a database without it
simply finds no commentary. The text is data: exporters escape it.

Drafts: what the presenter has typed but not saved sits in ``review_drafts``
under the same key, so it survives a page switch and a reload (a new browser
session) until it is saved (``save`` clears it) or discarded. The exporters
never read drafts.
"""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb

from kpis.db import local_user

TABLE = "review_commentary"
DRAFTS = "review_drafts"  # typed, not saved yet: the same key and columns


def _ddl(table: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    period VARCHAR NOT NULL, profile VARCHAR NOT NULL, scope VARCHAR NOT NULL, section VARCHAR NOT NULL,
    text VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL, updated_by VARCHAR,
    PRIMARY KEY (period, profile, scope, section)
)"""


DDL = _ddl(TABLE)
DRAFTS_DDL = _ddl(DRAFTS)
NO_PROFILE = "(none)"
MAX_CHARS = 20_000  # a slide's worth many times over; protects the pack from pasted logs


def _create(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Create ``table`` if missing; one made before ``updated_by`` existed gets the column (as in
    ``kpis.db.ensure_schema``, for connections that did not go through it)."""
    con.execute(_ddl(table))
    con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS updated_by VARCHAR")


def _profile_key(profile: str | None) -> str:
    return profile or NO_PROFILE


def _exists(con: duckdb.DuckDBPyConnection, table: str = TABLE) -> bool:
    row = con.cursor().execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = $t AND schema_name = 'main'", {"t": table}
    ).fetchone()
    return bool(row and row[0])


def _texts(con: duckdb.DuckDBPyConnection, table: str, period: str, profile: str | None,
           scope: str) -> dict[str, str]:
    """Section id -> text of one review in ``table`` ({} when none, or no table yet)."""
    if not _exists(con, table):
        return {}
    rows = con.cursor().execute(
        f"SELECT section, text FROM {table} WHERE period = $period AND profile = $profile AND scope = $scope",
        {"period": period, "profile": _profile_key(profile), "scope": scope}).fetchall()
    return {section: text for section, text in rows}


def load(con: duckdb.DuckDBPyConnection, period: str, profile: str | None, scope: str) -> dict[str, str]:
    """Saved commentary of one review: section id -> text ({} when none, or no table yet)."""
    return _texts(con, TABLE, period, profile, scope)


def save(con: duckdb.DuckDBPyConnection, period: str, profile: str | None, scope: str, section: str,
         text: str, by: str | None = None) -> None:
    """Save (or, for empty text, delete) one section's commentary. ``con`` must be writable.

    ``by`` is who wrote it, stored in ``updated_by`` (default: the OS user name).
    """
    text = (text or "").strip()
    if len(text) > MAX_CHARS:
        raise ValueError(f"the commentary is {len(text):,} characters; keep it under {MAX_CHARS:,}")
    _create(con, TABLE)
    key = {"period": period, "profile": _profile_key(profile), "scope": scope, "section": section}
    if _exists(con, DRAFTS):  # what was typed is now saved: no draft left behind
        con.execute(f"DELETE FROM {DRAFTS} WHERE period = $period AND profile = $profile AND scope = $scope "
                    "AND section = $section", key)
    if not text:
        con.execute(f"DELETE FROM {TABLE} WHERE period = $period AND profile = $profile AND scope = $scope "
                    "AND section = $section", key)
        return
    con.execute(
        f"""INSERT INTO {TABLE} (period, profile, scope, section, text, updated_at, updated_by)
            VALUES ($period, $profile, $scope, $section, $text, $updated_at, $updated_by)
            ON CONFLICT (period, profile, scope, section) DO UPDATE
            SET text = excluded.text, updated_at = excluded.updated_at, updated_by = excluded.updated_by""",
        {**key, "text": text, "updated_at": datetime.now(timezone.utc).replace(tzinfo=None),
         "updated_by": by or local_user()})


def save_all(con: duckdb.DuckDBPyConnection, period: str, profile: str | None, scope: str,
             texts: dict[str, str], by: str | None = None) -> None:
    """Save several sections' commentary in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        for section, text in texts.items():
            save(con, period, profile, scope, section, text, by)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


# --- drafts: typed, not saved yet ---------------------------------------------------------------


def load_drafts(con: duckdb.DuckDBPyConnection, period: str, profile: str | None, scope: str) -> dict[str, str]:
    """Unsaved drafts of one review: section id -> text as typed ({} when none, or no table yet)."""
    return _texts(con, DRAFTS, period, profile, scope)


def save_draft(con: duckdb.DuckDBPyConnection, period: str, profile: str | None, scope: str, section: str,
               text: str, by: str | None = None) -> None:
    """Keep what was typed (exactly, spaces included) until it is saved or discarded. ``con`` must be writable.

    Text that equals the saved commentary is no draft: the row is dropped. ``by``: who typed it (``updated_by``).
    """
    text = text or ""
    if len(text) > MAX_CHARS:
        raise ValueError(f"the commentary is {len(text):,} characters; keep it under {MAX_CHARS:,}")
    if text.strip() == load(con, period, profile, scope).get(section, ""):
        discard_draft(con, period, profile, scope, section)
        return
    _create(con, DRAFTS)
    con.execute(
        f"""INSERT INTO {DRAFTS} (period, profile, scope, section, text, updated_at, updated_by)
            VALUES ($period, $profile, $scope, $section, $text, $updated_at, $updated_by)
            ON CONFLICT (period, profile, scope, section) DO UPDATE
            SET text = excluded.text, updated_at = excluded.updated_at, updated_by = excluded.updated_by""",
        {"period": period, "profile": _profile_key(profile), "scope": scope, "section": section, "text": text,
         "updated_at": datetime.now(timezone.utc).replace(tzinfo=None), "updated_by": by or local_user()})


def discard_draft(con: duckdb.DuckDBPyConnection, period: str, profile: str | None, scope: str,
                  section: str) -> None:
    """Drop one section's draft (the saved commentary, if any, stays). ``con`` must be writable."""
    if not _exists(con, DRAFTS):
        return
    con.execute(f"DELETE FROM {DRAFTS} WHERE period = $period AND profile = $profile AND scope = $scope "
                "AND section = $section",
                {"period": period, "profile": _profile_key(profile), "scope": scope, "section": section})
