"""Ingest: CSV / Parquet exports -> canonical DuckDB tables.

One call is one batch and one transaction. Each file is read by DuckDB's own
reader as text, parsed and validated in one SQL pass (the errors of each row
are collected in a list column), de-duplicated, and merged:

* deployments and incidents are keyed by id: a later version replaces the earlier;
* costs and predictions replace, at the end of the batch, the rows of earlier
  batches in the unit each file covers: its source, from its first to its last
  date (cloud bills are restated until the month closes; see "The replace
  unit" below); files of one batch are one export and never replace each
  other; ``append`` adds rows without replacing any;
* a file whose content hash was loaded before is skipped.

A batch with any invalid row is rejected whole with a report naming file, row,
column and reason, and the database is left exactly as it was, unless the
caller asked to skip bad rows: then they go to the ``quarantine`` table.

The modules, each importing only those above it:

* ``sql``: SQL text helpers (quoted identifiers, literals of our own constants, timestamps);
* ``errors``: ``RowError`` and ``IngestError``;
* ``report``: ``FileReport``, what happened to one file;
* ``parsing``: the one-pass SELECT that parses and validates every column;
* ``reading``: limits, hashing, the CSV / Parquet / JSON readers, detection, read errors;
* ``loading``: one file into its table, the replace unit, the ingest log (it reads exports of other
  tools through ``kpis.mapping``, which imports only ``sql``, ``errors`` and ``reading``);
* ``batch``: the batch transaction (:func:`ingest`) and the ingest history.
"""

from __future__ import annotations

from kpis.ingest.batch import history, ingest
from kpis.ingest.errors import MAX_REPORTED_ERRORS, IngestError, RowError
from kpis.ingest.parsing import repr_reason
from kpis.ingest.reading import (
    HASH_PREFIX,
    READABLE_SUFFIXES,
    Limits,
    content_hash,
    detect_kind,
    expand,
    file_hash,
    json_read_error,
    legacy_hash,
)
from kpis.ingest.report import FileReport
from kpis.ingest.sql import quote_ident
from kpis.periods import plausible_window  # the rule lives in kpis.periods

__all__ = ["FileReport", "HASH_PREFIX", "IngestError", "Limits", "MAX_REPORTED_ERRORS", "READABLE_SUFFIXES", "RowError",
           "content_hash", "detect_kind", "expand", "file_hash", "history", "ingest", "json_read_error",
           "legacy_hash", "plausible_window", "quote_ident", "repr_reason"]
