"""Canonical tables: the columns every export is mapped onto (DESIGN.md, "Canonical tables").

Each table is declared once as data; ingest derives its parsing, validation and
the DuckDB DDL from these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Column kinds. Each has a parser in kpis/ingest/parsing.py (SQL over the raw text).
TEXT = "text"
TIMESTAMP = "timestamp"  # stored as UTC TIMESTAMP
DATE = "date"
NUMBER = "number"  # DOUBLE
COUNT = "count"  # BIGINT, >= 0
BOOL = "bool"
SEVERITY = "severity"  # normalised to sev1..sev5
ENUM = "enum"  # one of Column.choices
TIER = "tier"  # "Tier 1", "T1", "tier1", "1" -> "tier-1"; other labels lower-cased

SQL_TYPES = {
    TEXT: "VARCHAR",
    TIMESTAMP: "TIMESTAMP",
    DATE: "DATE",
    NUMBER: "DOUBLE",
    COUNT: "BIGINT",
    BOOL: "BOOLEAN",
    SEVERITY: "VARCHAR",
    ENUM: "VARCHAR",
    TIER: "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = TEXT
    required: bool = False
    default: object = None
    choices: tuple[str, ...] = ()
    # Synonyms accepted for an ENUM value (lower-cased input -> canonical value).
    synonyms: tuple[tuple[str, str], ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    # Deployments and incidents are keyed by id (a later version replaces the
    # earlier). A table without a key is replaced by unit (kpis/ingest/loading.py,
    # "The replace unit"): the rows of earlier batches with the file's values of
    # ``replace_scope`` and, when ``replace_period`` names a date column, a date
    # from the file's first to its last; ``line_key`` tells a replaced row (the
    # new export has the same line) from a removed one (it no longer has it).
    # A key of several columns (a change is keyed by its id and the deployment that shipped it) is a tuple.
    key: str | tuple[str, ...] | None = None
    replace_scope: tuple[str, ...] = ()
    replace_period: str | None = None
    line_key: tuple[str, ...] = ()
    # Row checks across columns: (sql condition that must hold, column, reason).
    checks: tuple[tuple[str, str, str], ...] = ()
    # Columns whose presence identifies a file of this kind.
    signature: tuple[str, ...] = field(default=())

    @property
    def key_sql(self) -> str:
        """The key's columns as SQL (``change_id, deployment_id``); compare a row of them as ``(key_sql)``."""
        return self.key if isinstance(self.key, str) else ", ".join(self.key or ())

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


DEPLOYMENT_STATUS = Column(
    "status",
    ENUM,
    default="success",
    choices=("success", "failed", "rolled_back"),
    synonyms=(
        ("succeeded", "success"), ("successful", "success"), ("ok", "success"),
        ("deployed", "success"), ("completed", "success"), ("done", "success"),
        ("failure", "failed"), ("fail", "failed"), ("error", "failed"),
        ("rollback", "rolled_back"), ("rolled back", "rolled_back"),
        ("rolled-back", "rolled_back"), ("reverted", "rolled_back"),
    ),
)

DEPLOYMENTS = Table(
    name="deployments",
    key="deployment_id",
    signature=("deployment_id", "deployed_at"),
    columns=(
        Column("deployment_id", required=True),
        Column("service", required=True),
        Column("deployed_at", TIMESTAMP, required=True),
        Column("model"),
        Column("model_version"),
        Column("team"),
        Column("tier", TIER),
        Column("environment", ENUM, default="production",
               synonyms=(("prod", "production"), ("prd", "production"), ("live", "production"))),
        DEPLOYMENT_STATUS,
        Column("change_started_at", TIMESTAMP),
        Column("approved_at", TIMESTAMP),
        Column("rolled_back_at", TIMESTAMP),
        Column("is_hotfix", BOOL, default=False),
        Column("caused_regression", BOOL, default=False),
        # The incident this deployment was made to fix (deployment rework rate counts it as unplanned).
        Column("fixes_incident_id"),
    ),
    checks=(
        ("change_started_at IS NULL OR change_started_at <= deployed_at", "change_started_at",
         "change started after the deployment"),
        ("approved_at IS NULL OR approved_at <= deployed_at", "approved_at",
         "approved after the deployment"),
        ("rolled_back_at IS NULL OR rolled_back_at >= deployed_at", "rolled_back_at",
         "rolled back before it was deployed"),
    ),
)

INCIDENT_CATEGORIES = ("drift", "data_quality", "deployment", "infrastructure", "model_quality", "other")

INCIDENTS = Table(
    name="incidents",
    key="incident_id",
    signature=("incident_id", "started_at"),
    columns=(
        Column("incident_id", required=True),
        Column("service", required=True),
        Column("started_at", TIMESTAMP, required=True),
        Column("detected_at", TIMESTAMP),
        Column("acknowledged_at", TIMESTAMP),
        Column("resolved_at", TIMESTAMP),
        Column("severity", SEVERITY),
        Column("model"),
        Column("team"),
        Column("tier", TIER),
        Column("category", ENUM, choices=INCIDENT_CATEGORIES,
               synonyms=(("data quality", "data_quality"), ("data-quality", "data_quality"),
                         ("infra", "infrastructure"), ("model quality", "model_quality"),
                         ("model-quality", "model_quality"), ("deploy", "deployment"))),
        Column("ml_related", BOOL, default=True),
        Column("deployment_id"),
        # The deployment that fixed it (a hotfix or roll-forward; deployment rework rate counts it as unplanned).
        Column("fix_deployment_id"),
    ),
    checks=(
        ("resolved_at IS NULL OR resolved_at >= started_at", "resolved_at", "resolved before it started"),
        ("detected_at IS NULL OR detected_at >= started_at", "detected_at", "detected before it started"),
        ("acknowledged_at IS NULL OR acknowledged_at >= started_at", "acknowledged_at",
         "acknowledged before it started"),
    ),
)

COST_CATEGORIES = ("inference", "training", "storage", "data", "other")

COSTS = Table(
    name="costs",
    replace_scope=("source",),
    replace_period="date",
    line_key=("source", "date", "service", "category", "currency", "model", "team", "run_id", "resource_id"),
    signature=("amount", "date"),
    columns=(
        Column("date", DATE, required=True),
        Column("amount", NUMBER, required=True, minimum=0),
        Column("service", required=True),
        Column("currency", TEXT, default="USD"),
        Column("category", ENUM, choices=COST_CATEGORIES,
               synonyms=(("serving", "inference"), ("train", "training"))),
        Column("model"),
        Column("team"),
        Column("run_id"),
        Column("resource_id"),
        Column("source", TEXT, default="default"),
    ),
)

PREDICTIONS = Table(
    name="predictions",
    replace_scope=("source",),
    replace_period="date",
    line_key=("source", "date", "service", "model", "team", "count_kind"),
    signature=("predictions", "date"),
    columns=(
        Column("date", DATE, required=True),
        Column("service", required=True),
        Column("predictions", COUNT, required=True, minimum=0),
        Column("model"),
        Column("team"),
        Column("errors", COUNT, minimum=0),
        Column("latency_p95_ms", NUMBER, minimum=0),
        Column("latency_p99_ms", NUMBER, minimum=0),
        Column("availability", NUMBER, minimum=0, maximum=1),
        Column("good_requests", COUNT, minimum=0),
        Column("total_requests", COUNT, minimum=0),
        # What `predictions` counts: predictions, or serving requests (a batched
        # request holds many predictions). Cost per 1k is then per 1k requests.
        Column("count_kind", ENUM, default="predictions", choices=("predictions", "requests"),
               synonyms=(("request", "requests"), ("invocations", "requests"), ("prediction", "predictions"))),
        Column("source", TEXT, default="default"),
    ),
    checks=(
        ("errors IS NULL OR total_requests IS NULL OR errors <= total_requests", "errors",
         "more errors than requests"),
        ("good_requests IS NULL OR total_requests IS NULL OR good_requests <= total_requests",
         "good_requests", "more good requests than requests"),
    ),
)

PIPELINE_KINDS = ("training", "batch_scoring", "feature", "validation", "ci")

PIPELINE_RUNS = Table(
    name="pipeline_runs",
    key="run_id",
    signature=("run_id", "pipeline"),
    columns=(
        Column("run_id", required=True),
        Column("pipeline", required=True),
        Column("kind", ENUM, required=True, choices=PIPELINE_KINDS,
               synonyms=(("train", "training"), ("batch scoring", "batch_scoring"), ("batch-scoring", "batch_scoring"),
                         ("scoring", "batch_scoring"), ("features", "feature"), ("feature_pipeline", "feature"),
                         ("data_validation", "validation"), ("build", "ci"))),
        Column("scheduled_at", TIMESTAMP),
        Column("started_at", TIMESTAMP),
        Column("finished_at", TIMESTAMP),
        Column("status", ENUM, required=True, choices=("success", "failed", "cancelled", "running"),
               synonyms=(("succeeded", "success"), ("successful", "success"), ("completed", "success"),
                         ("ok", "success"), ("failure", "failed"), ("error", "failed"), ("timed_out", "failed"),
                         ("canceled", "cancelled"), ("skipped", "cancelled"), ("in_progress", "running"),
                         ("queued", "running"))),
        Column("on_time", BOOL),
        Column("data_fresh", BOOL),
        Column("validation_passed", BOOL),
        Column("reproducible", BOOL),
        Column("model"),
        Column("team"),
        Column("service"),
        Column("tier", TIER),
    ),
    checks=(
        ("started_at IS NOT NULL OR scheduled_at IS NOT NULL", "started_at",
         "a run needs started_at or scheduled_at"),
        ("finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at", "finished_at",
         "finished before it started"),
    ),
)

MODELS = Table(
    name="models",
    # An inventory is a snapshot: a new one for the same date replaces the old.
    replace_scope=("source", "as_of"),
    line_key=("source", "as_of", "model", "service"),
    signature=("model", "monitored"),
    columns=(
        Column("model", required=True),
        Column("service"),
        Column("team"),
        Column("tier", TIER),
        Column("in_production", BOOL, default=True),
        Column("monitored", BOOL),
        Column("drift_monitored", BOOL),
        Column("documented", BOOL),
        Column("as_of", DATE),  # snapshot date; default: the day it was ingested
        Column("source", TEXT, default="default"),
    ),
)

# Optional (issue 15): the changes each deployment shipped, for lead time per change and its phases. A change is
# keyed by its id and its deployment: a commit shipped by a failed deployment and then by its retry is two rows (the
# failed one is not counted), and a re-ingested export replaces its rows.
CHANGES = Table(
    name="changes",
    key=("change_id", "deployment_id"),
    signature=("change_id", "authored_at"),
    columns=(
        Column("change_id", required=True),  # a commit sha or a pull request id
        Column("deployment_id", required=True),  # the deployment that shipped it (deployments.deployment_id)
        Column("authored_at", TIMESTAMP, required=True),  # its first commit
        Column("opened_at", TIMESTAMP),  # pull request opened
        Column("merged_at", TIMESTAMP),
        Column("service"),
        Column("repo"),
    ),
    checks=(
        ("merged_at IS NULL OR opened_at IS NULL OR merged_at >= opened_at", "merged_at",
         "merged before it was opened"),
        ("merged_at IS NULL OR merged_at >= authored_at", "merged_at", "merged before its first commit"),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (DEPLOYMENTS, INCIDENTS, COSTS, PREDICTIONS, PIPELINE_RUNS, MODELS,
                                                CHANGES)}

# Lineage columns every canonical table carries: the file's columns that are not
# canonical (attributes), the ingest batch and file, and the row in the file where
# the reader numbers rows for free (Parquet files, mapped exports, files that had
# problems); null for a clean CSV file, which is read in one parallel pass.
LINEAGE_DDL = "attributes JSON, batch_id BIGINT, source_file VARCHAR, source_row BIGINT"

DIMENSIONS = ("team", "service", "model")

SEVERITY_MAP = {
    # canonical: accepted spellings (lower case, spaces and dashes removed)
    "sev1": ("sev1", "1", "p1", "critical", "crit", "sev0", "p0", "0", "emergency", "major", "highest"),
    "sev2": ("sev2", "2", "p2", "high", "error"),
    "sev3": ("sev3", "3", "p3", "medium", "moderate", "warning", "normal"),
    "sev4": ("sev4", "4", "p4", "low", "minor"),
    "sev5": ("sev5", "5", "p5", "info", "informational", "lowest", "trivial"),
}


def ddl(table: Table) -> str:
    """CREATE TABLE statement for a canonical table."""
    cols = ", ".join(f"{c.name} {c.sql_type}" for c in table.columns)
    return f"CREATE TABLE IF NOT EXISTS {table.name} ({cols}, {LINEAGE_DDL})"
