"""ML engineering KPIs: ingest exports into DuckDB and compute the role documents' KPIs.

The public API the pages and the command line use::

    con = kpis.connect("kpi.duckdb")
    kpis.ingest_files(con, ["exports/"])
    df = kpis.compute(con, grain="month", by="team", filters={"team": ["search"]})

This package never imports streamlit (a test checks it).
"""

from kpis.catalog import CATALOG, KPI_IDS
from kpis.db import connect, data_version, default_path
from kpis.engine import compute, data_range, through_date, to_records
from kpis.ingest import FileReport, IngestError, RowError
from kpis.ingest import ingest as ingest_files

__all__ = [
    "CATALOG", "KPI_IDS", "connect", "data_version", "default_path", "compute", "data_range", "through_date", "to_records",
    "FileReport", "IngestError", "RowError", "ingest_files",
]
