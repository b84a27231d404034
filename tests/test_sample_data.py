"""The sample-data generator (sample_data/generate.py): shape, consistency, stories, determinism."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "sample_data"
CSV_FILES = ("deployments.csv", "incidents.csv")
PARQUET_FILES = ("costs.parquet", "predictions.parquet")
FILES = CSV_FILES + PARQUET_FILES


def _load_generator():
    spec = importlib.util.spec_from_file_location("sample_data_generate", SAMPLE_DIR / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator():
    return _load_generator()


@pytest.fixture(scope="module")
def out(generator, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sample")
    generator.main(["--out", str(path), "--seed", "7", "--scale", "1"])
    return path


def _views(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Views over the files, timestamps read as instants and shown in UTC."""
    tz = ["started_at", "detected_at", "acknowledged_at", "resolved_at"]
    dz = ["deployed_at", "change_started_at", "approved_at", "rolled_back_at"]

    def utc(cols):
        return ", ".join(f"timezone('UTC', CAST({c} AS TIMESTAMPTZ)) AS {c}" for c in cols)

    con.execute(f"""
        CREATE OR REPLACE VIEW deployments AS SELECT * REPLACE ({utc(dz)},
            CAST(is_hotfix AS BOOLEAN) AS is_hotfix, CAST(caused_regression AS BOOLEAN) AS caused_regression)
        FROM read_csv('{folder / "deployments.csv"}', all_varchar = true);
        CREATE OR REPLACE VIEW incidents AS SELECT * REPLACE ({utc(tz)},
            CAST(ml_related AS BOOLEAN) AS ml_related)
        FROM read_csv('{folder / "incidents.csv"}', all_varchar = true);
        CREATE OR REPLACE VIEW raw_deployments AS
            SELECT * FROM read_csv('{folder / "deployments.csv"}', all_varchar = true);
        CREATE OR REPLACE VIEW costs AS SELECT * FROM read_parquet('{folder / "costs.parquet"}');
        CREATE OR REPLACE VIEW predictions AS SELECT * FROM read_parquet('{folder / "predictions.parquet"}');
        CREATE OR REPLACE VIEW prod AS
            SELECT d.*, date_trunc('quarter', deployed_at) AS quarter,
                   (status <> 'success' OR is_hotfix OR caused_regression
                    OR deployment_id IN (SELECT deployment_id FROM incidents WHERE deployment_id IS NOT NULL))
                   AS failed
            FROM deployments d WHERE environment = 'production';
    """)


@pytest.fixture(scope="module")
def con(out):
    c = duckdb.connect()
    _views(c, out)
    yield c
    c.close()


def one(con, sql):
    return con.execute(sql).fetchone()[0]


def test_files_present_and_small(out):
    sizes = {name: (out / name).stat().st_size for name in FILES}
    assert all(sizes.values()), sizes
    assert sum(sizes.values()) < 3 * 1024 * 1024, sizes


@pytest.mark.parametrize("table, lo, hi", [
    ("deployments", 1000, 1500),
    ("incidents", 200, 350),
    ("costs", 15_000, 30_000),
    ("predictions", 10_000, 20_000),
])
def test_row_counts(con, table, lo, hi):
    assert lo <= one(con, f"SELECT count(*) FROM {table}") <= hi


def test_parquet_types(con):
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE costs)").fetchall())
    assert types["date"] == "DATE" and types["amount"] == "DOUBLE"
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE predictions)").fetchall())
    assert types["date"] == "DATE" and types["predictions"] == "BIGINT" and types["availability"] == "DOUBLE"


def test_canonical_columns(out, con):
    sys.path.insert(0, str(ROOT))
    try:
        from kpis.schema import TABLES
    finally:
        sys.path.remove(str(ROOT))
    for table in ("deployments", "incidents", "costs", "predictions"):
        cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        canonical = TABLES[table].names
        assert set(cols) <= set(canonical), (table, set(cols) - set(canonical))
        assert set(TABLES[table].required) <= set(cols), table


def test_dimensions(con):
    assert one(con, "SELECT count(DISTINCT team) FROM predictions") >= 3
    assert one(con, "SELECT count(DISTINCT service) FROM predictions") >= 6
    assert one(con, "SELECT count(DISTINCT model) FROM predictions") >= 6
    assert one(con, "SELECT count(DISTINCT model) FROM deployments") >= 6
    # Every service deploys and costs money (a quiet tier-3 service may have had no incident).
    for table in ("deployments", "costs"):
        assert one(con, f"SELECT count(DISTINCT service) FROM {table}") == one(
            con, "SELECT count(DISTINCT service) FROM predictions"), table


def test_date_span(con):
    for table, col in (("predictions", "date"), ("costs", "date"), ("deployments", "deployed_at"),
                       ("incidents", "started_at")):
        months = one(con, f"SELECT date_diff('month', min({col}), max({col})) FROM {table}")
        assert months >= 17, (table, months)


def test_open_incidents(con):
    assert one(con, "SELECT count(*) FROM incidents WHERE resolved_at IS NULL") >= 2


def test_slow_drift_detection(con):
    assert one(con, """SELECT count(*) FROM incidents
                       WHERE category = 'drift' AND detected_at - started_at > INTERVAL 48 HOUR""") >= 1


def test_timestamps_mix_utc_and_offsets(con):
    kinds = {r[0] for r in con.execute(
        r"SELECT regexp_extract(deployed_at, '(Z|[+-]\d\d:\d\d)$') FROM raw_deployments").fetchall()}
    assert "Z" in kinds and len(kinds) >= 2, kinds


# Each query counts rows that break a rule; all must be 0.
VIOLATIONS = {
    # deployments
    "deployment ids unique": "SELECT count(*) - count(DISTINCT deployment_id) FROM deployments",
    "change_started <= approved": "SELECT count(*) FROM deployments WHERE change_started_at > approved_at",
    "approved <= deployed": "SELECT count(*) FROM deployments WHERE approved_at > deployed_at",
    "change_started <= deployed": "SELECT count(*) FROM deployments WHERE change_started_at > deployed_at",
    "rolled_back_at >= deployed": "SELECT count(*) FROM deployments WHERE rolled_back_at < deployed_at",
    "rolled back rows have rolled_back_at": """SELECT count(*) FROM deployments
        WHERE (status = 'rolled_back') <> (rolled_back_at IS NOT NULL)""",
    "deployment enums": """SELECT count(*) FROM deployments
        WHERE status NOT IN ('success', 'failed', 'rolled_back')
           OR environment NOT IN ('production', 'staging')
           OR tier NOT IN ('tier-1', 'tier-2', 'tier-3')""",
    "required deployment columns": """SELECT count(*) FROM deployments
        WHERE deployment_id IS NULL OR service IS NULL OR deployed_at IS NULL OR model IS NULL
           OR team IS NULL OR model_version IS NULL""",
    # incidents
    "incident ids unique": "SELECT count(*) - count(DISTINCT incident_id) FROM incidents",
    "detected >= started": "SELECT count(*) FROM incidents WHERE detected_at < started_at",
    "acknowledged >= detected": "SELECT count(*) FROM incidents WHERE acknowledged_at < detected_at",
    "resolved >= detected": "SELECT count(*) FROM incidents WHERE resolved_at < detected_at",
    "resolved >= acknowledged": "SELECT count(*) FROM incidents WHERE resolved_at < acknowledged_at",
    "incident timestamps present": """SELECT count(*) FROM incidents
        WHERE started_at IS NULL OR detected_at IS NULL OR acknowledged_at IS NULL""",
    "incident enums": """SELECT count(*) FROM incidents
        WHERE severity NOT IN ('sev1', 'sev2', 'sev3', 'sev4')
           OR category NOT IN ('drift', 'data_quality', 'deployment', 'infrastructure', 'model_quality', 'other')
           OR tier NOT IN ('tier-1', 'tier-2', 'tier-3') OR ml_related IS NULL""",
    "deployment incidents name a deployment, others none": """SELECT count(*) FROM incidents
        WHERE (category = 'deployment') <> (deployment_id IS NOT NULL)""",
    "incident deployment_id is a production deployment before it": """SELECT count(*) FROM incidents i
        LEFT JOIN deployments d USING (deployment_id)
        WHERE i.deployment_id IS NOT NULL
          AND (d.deployment_id IS NULL OR d.environment <> 'production' OR d.deployed_at > i.started_at
               OR d.service <> i.service)""",
    # nothing after the export (end of the --end day)
    "no events after the end": """SELECT
        (SELECT count(*) FROM deployments WHERE deployed_at >= (SELECT max(date) + 1 FROM predictions)
                                             OR rolled_back_at >= (SELECT max(date) + 1 FROM predictions))
      + (SELECT count(*) FROM incidents WHERE greatest(started_at, detected_at, acknowledged_at, resolved_at)
                                             >= (SELECT max(date) + 1 FROM predictions))""",
    # predictions
    "one prediction row per service and day": """SELECT count(*) - count(DISTINCT (service, date))
        FROM predictions""",
    "prediction days without gaps": """SELECT count(*) FROM (
        SELECT service, count(*) n, date_diff('day', min(date), max(date)) + 1 span
        FROM predictions GROUP BY service) WHERE n <> span""",
    "errors <= total_requests": "SELECT count(*) FROM predictions WHERE errors > total_requests",
    "good_requests <= total_requests": "SELECT count(*) FROM predictions WHERE good_requests > total_requests",
    "good + errors = total": "SELECT count(*) FROM predictions WHERE good_requests + errors <> total_requests",
    "availability in 0..1": "SELECT count(*) FROM predictions WHERE availability < 0 OR availability > 1",
    "counts positive": """SELECT count(*) FROM predictions
        WHERE predictions <= 0 OR errors < 0 OR total_requests <= 0 OR latency_p95_ms <= 0""",
    "p99 >= p95": "SELECT count(*) FROM predictions WHERE latency_p99_ms < latency_p95_ms",
    "count_kind": "SELECT count(*) FROM predictions WHERE count_kind <> 'predictions'",
    # costs
    "amount >= 0": "SELECT count(*) FROM costs WHERE amount < 0 OR amount IS NULL",
    "currency USD": "SELECT count(*) FROM costs WHERE currency <> 'USD'",
    "cost categories": """SELECT count(*) FROM costs
        WHERE category NOT IN ('inference', 'training', 'storage', 'data')""",
    "run_id exactly on training lines": """SELECT count(*) FROM costs
        WHERE (category = 'training') <> (run_id IS NOT NULL)""",
    "one inference line per service and day": """SELECT count(*) FROM (
        SELECT service, date FROM costs WHERE category = 'inference' GROUP BY ALL HAVING count(*) <> 1)""",
    "training runs last 1-3 days": """SELECT count(*) FROM (
        SELECT run_id FROM costs WHERE run_id IS NOT NULL GROUP BY run_id
        HAVING date_diff('day', min(date), max(date)) > 2 OR count(*) < 2 OR count(DISTINCT service) > 1)""",
}


@pytest.mark.parametrize("rule", list(VIOLATIONS))
def test_consistency(con, rule):
    assert one(con, VIOLATIONS[rule]) == 0, rule


def test_story_change_failure_spike(con):
    """2026-Q1: the search and fraud migration; CFR well above 15% there, low elsewhere."""
    rows = dict(con.execute("""
        SELECT team, avg(failed::INT) FROM prod WHERE quarter = DATE '2026-01-01' GROUP BY team""").fetchall())
    assert rows["search"] > 0.25 and rows["fraud"] > 0.25, rows
    assert rows["recommendations"] < 0.15 and rows["forecasting"] < 0.15, rows
    overall_other = one(con, "SELECT avg(failed::INT) FROM prod WHERE quarter <> DATE '2026-01-01'")
    assert 0.03 < overall_other < 0.11, overall_other


def test_story_cost_per_1k_drop(con):
    """2026-04: recommendations cost per 1k predictions drops ~35% while volume grows."""
    rows = dict(con.execute("""
        WITH c AS (SELECT date_trunc('month', date) m, sum(amount) cost FROM costs
                   WHERE team = 'recommendations' AND category = 'inference' GROUP BY ALL),
             p AS (SELECT date_trunc('month', date) m, sum(predictions) n FROM predictions
                   WHERE team = 'recommendations' GROUP BY ALL)
        SELECT strftime(m, '%Y-%m'), cost / n * 1000 FROM c JOIN p USING (m)""").fetchall())
    drop = 1 - rows["2026-05"] / rows["2026-03"]
    assert 0.25 < drop < 0.45, drop
    volume = dict(con.execute("""SELECT strftime(date, '%Y-%m'), sum(predictions) FROM predictions
        WHERE team = 'recommendations' GROUP BY ALL""").fetchall())
    assert volume["2026-10"] > volume["2026-03"]


def test_staging_rows_exist_and_do_not_dominate(con):
    staging = one(con, "SELECT count(*) FROM deployments WHERE environment = 'staging'")
    total = one(con, "SELECT count(*) FROM deployments")
    assert 0 < staging < total * 0.2
    assert one(con, "SELECT count(*) FROM deployments WHERE environment = 'staging' AND status <> 'success'") > 0


def test_incident_mix(con):
    share = one(con, "SELECT avg((severity IN ('sev1', 'sev2'))::INT) FROM incidents")
    assert 0.15 < share < 0.35, share
    median = one(con, "SELECT median(epoch(resolved_at - started_at) / 3600) FROM incidents")
    assert 0.5 < median < 8, median
    assert 0 < one(con, "SELECT count(*) FROM incidents WHERE NOT ml_related") < 30


def test_lead_times_mostly_one_to_six_weeks(con):
    share = one(con, """SELECT avg((deployed_at - change_started_at BETWEEN INTERVAL 7 DAY AND INTERVAL 42 DAY)::INT)
                        FROM prod WHERE status = 'success' AND NOT is_hotfix""")
    assert share > 0.75, share


def _parquet_diff(con, a: Path, b: Path) -> int:
    return one(con, f"""SELECT
        (SELECT count(*) FROM (SELECT * FROM read_parquet('{a}') EXCEPT ALL SELECT * FROM read_parquet('{b}')))
      + (SELECT count(*) FROM (SELECT * FROM read_parquet('{b}') EXCEPT ALL SELECT * FROM read_parquet('{a}')))""")


def test_deterministic(generator, out, tmp_path):
    again = tmp_path / "again"
    generator.generate(again, seed=7, scale=1.0)
    for name in CSV_FILES:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    c = duckdb.connect()
    for name in PARQUET_FILES:
        assert _parquet_diff(c, out / name, again / name) == 0, name
        assert one(c, f"SELECT count(*) FROM '{out / name}'") == one(c, f"SELECT count(*) FROM '{again / name}'")


def test_seed_changes_data(generator, out, tmp_path):
    other = tmp_path / "other"
    generator.generate(other, seed=8, scale=0.25)
    assert (out / "deployments.csv").read_bytes() != (other / "deployments.csv").read_bytes()


def test_bundled_files_are_current(out):
    """The files shipped in sample_data/ are what the generator writes with its defaults."""
    missing = [n for n in FILES if not (SAMPLE_DIR / n).exists()]
    if missing:
        pytest.skip(f"bundled sample data not generated: {missing}")
    for name in CSV_FILES:
        assert (SAMPLE_DIR / name).read_bytes() == (out / name).read_bytes(), (
            f"{name} is stale: run python sample_data/generate.py")
    c = duckdb.connect()
    for name in PARQUET_FILES:
        assert _parquet_diff(c, SAMPLE_DIR / name, out / name) == 0, (
            f"{name} is stale: run python sample_data/generate.py")
