"""The sample-data generator (sample_data/generate.py): shape, consistency, stories, determinism."""

from __future__ import annotations

import importlib.util
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "sample_data"
CSV_FILES = ("deployments.csv", "incidents.csv", "pipeline_runs.csv", "models.csv", "changes.csv")
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
    """The files loaded once into tables, timestamps read as instants and shown in UTC."""
    tz = ["started_at", "detected_at", "acknowledged_at", "resolved_at"]
    dz = ["deployed_at", "change_started_at", "approved_at", "rolled_back_at"]
    rz = ["scheduled_at", "started_at", "finished_at"]
    flags = ["on_time", "data_fresh", "validation_passed", "reproducible"]

    def utc(cols):
        return ", ".join(f"timezone('UTC', CAST({c} AS TIMESTAMPTZ)) AS {c}" for c in cols)

    con.execute(f"""
        CREATE OR REPLACE TABLE deployments AS SELECT * REPLACE ({utc(dz)},
            CAST(is_hotfix AS BOOLEAN) AS is_hotfix, CAST(caused_regression AS BOOLEAN) AS caused_regression)
        FROM read_csv('{folder / "deployments.csv"}', all_varchar = true);
        CREATE OR REPLACE TABLE incidents AS SELECT * REPLACE ({utc(tz)},
            CAST(ml_related AS BOOLEAN) AS ml_related)
        FROM read_csv('{folder / "incidents.csv"}', all_varchar = true);
        CREATE OR REPLACE TABLE raw_deployments AS
            SELECT * FROM read_csv('{folder / "deployments.csv"}', all_varchar = true);
        CREATE OR REPLACE TABLE costs AS SELECT * FROM read_parquet('{folder / "costs.parquet"}');
        CREATE OR REPLACE TABLE predictions AS SELECT * FROM read_parquet('{folder / "predictions.parquet"}');
        CREATE OR REPLACE TABLE pipeline_runs AS SELECT * REPLACE ({utc(rz)},
            {", ".join(f"CAST({c} AS BOOLEAN) AS {c}" for c in flags)})
        FROM read_csv('{folder / "pipeline_runs.csv"}', all_varchar = true);
        CREATE OR REPLACE TABLE models AS SELECT * REPLACE (CAST(as_of AS DATE) AS as_of,
            CAST(in_production AS BOOLEAN) AS in_production, CAST(monitored AS BOOLEAN) AS monitored,
            CAST(drift_monitored AS BOOLEAN) AS drift_monitored, CAST(documented AS BOOLEAN) AS documented)
        FROM read_csv('{folder / "models.csv"}', all_varchar = true);
        CREATE OR REPLACE TABLE changes AS SELECT * REPLACE ({utc(["authored_at", "opened_at", "merged_at"])})
        FROM read_csv('{folder / "changes.csv"}', all_varchar = true);
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
    assert sizes["pipeline_runs.csv"] < 1.5 * 1024 * 1024, sizes


@pytest.mark.parametrize("table, lo, hi", [
    ("deployments", 1000, 1500),
    ("incidents", 200, 350),
    ("costs", 15_000, 30_000),
    ("predictions", 10_000, 20_000),
    ("pipeline_runs", 9_000, 13_000),
    ("models", 150, 300),
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
    for table in ("deployments", "incidents", "costs", "predictions", "pipeline_runs", "models"):
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
    # pipeline runs
    "run ids unique": "SELECT count(*) - count(DISTINCT run_id) FROM pipeline_runs",
    "required run columns": """SELECT count(*) FROM pipeline_runs
        WHERE run_id IS NULL OR pipeline IS NULL OR kind IS NULL OR status IS NULL OR team IS NULL
           OR coalesce(started_at, scheduled_at) IS NULL""",
    "pipeline enums": """SELECT count(*) FROM pipeline_runs
        WHERE kind NOT IN ('training', 'batch_scoring', 'feature', 'validation', 'ci')
           OR status NOT IN ('success', 'failed', 'cancelled', 'running')
           OR coalesce(tier, 'tier-1') NOT IN ('tier-1', 'tier-2', 'tier-3')""",
    "finished_at >= started_at": "SELECT count(*) FROM pipeline_runs WHERE finished_at < started_at",
    "started_at >= scheduled_at": "SELECT count(*) FROM pipeline_runs WHERE started_at < scheduled_at",
    "running = started and not finished": """SELECT count(*) FROM pipeline_runs
        WHERE (status = 'running') <> (started_at IS NOT NULL AND finished_at IS NULL)""",
    "never started = cancelled": """SELECT count(*) FROM pipeline_runs
        WHERE started_at IS NULL AND (status <> 'cancelled' OR finished_at IS NOT NULL)""",
    "scheduled except CI": "SELECT count(*) FROM pipeline_runs WHERE (kind = 'ci') <> (scheduled_at IS NULL)",
    "flags only where they apply": """SELECT count(*) FROM pipeline_runs
        WHERE (kind <> 'training' AND (on_time IS NOT NULL OR reproducible IS NOT NULL))
           OR (kind <> 'validation' AND validation_passed IS NOT NULL)
           OR (kind IN ('validation', 'ci') AND data_fresh IS NOT NULL)""",
    "finished training runs report on_time": """SELECT count(*) FROM pipeline_runs
        WHERE kind = 'training' AND (on_time IS NULL) <> (status = 'running')""",
    "service runs name service, model and tier": """SELECT count(*) FROM pipeline_runs
        WHERE kind IN ('training', 'batch_scoring') AND (service IS NULL OR model IS NULL OR tier IS NULL)""",
    "training runs are the costs' training runs": """SELECT
        (SELECT count(*) FROM (
            SELECT run_id, service, model, started_at::DATE FROM pipeline_runs WHERE kind = 'training'
            EXCEPT SELECT run_id, any_value(service), arg_min(model, date), min(date) FROM costs
                   WHERE run_id IS NOT NULL GROUP BY run_id))
      + (SELECT count(*) FROM (
            SELECT run_id FROM costs WHERE run_id IS NOT NULL
            EXCEPT SELECT run_id FROM pipeline_runs WHERE kind = 'training'))""",
    "training runs finish on their last cost day": """SELECT count(*) FROM pipeline_runs r
        JOIN (SELECT run_id, max(date) last FROM costs WHERE run_id IS NOT NULL GROUP BY run_id) c USING (run_id)
        WHERE r.finished_at::DATE <> c.last""",
    "no runs after the end": """SELECT count(*) FROM pipeline_runs
        WHERE greatest(scheduled_at, started_at, finished_at) >= (SELECT max(date) + 1 FROM predictions)""",
    # model inventory
    "every model row has a team": "SELECT count(*) FROM models WHERE team IS NULL OR service IS NULL",
    "one row per model and snapshot": "SELECT count(*) - count(DISTINCT (as_of, model)) FROM models",
    "one production model per service and snapshot": """SELECT count(*) FROM (
        SELECT as_of, count(*) FILTER (WHERE in_production) n, count(DISTINCT service) FILTER (WHERE in_production) s
        FROM models GROUP BY as_of HAVING n <> s OR s <> (SELECT count(DISTINCT service) FROM predictions))""",
    "inventory models are served models": """SELECT count(*) FROM (
        SELECT model FROM models EXCEPT SELECT model FROM predictions)""",
    "model enums and flags": """SELECT count(*) FROM models
        WHERE tier NOT IN ('tier-1', 'tier-2', 'tier-3') OR in_production IS NULL OR monitored IS NULL
           OR drift_monitored IS NULL OR documented IS NULL""",
    "drift monitoring implies monitoring": "SELECT count(*) FROM models WHERE drift_monitored AND NOT monitored",
    "retired models are not monitored": """SELECT count(*) FROM models
        WHERE NOT in_production AND (monitored OR drift_monitored)""",
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


# --------------------------------------------------------------------------- #
# Serving, pipeline and coverage stories, through the project's own ingest and KPIs
# --------------------------------------------------------------------------- #


def _kpis():
    sys.path.insert(0, str(ROOT))
    try:
        import kpis
    finally:
        sys.path.remove(str(ROOT))
    return kpis


@pytest.fixture(scope="module")
def ingested(out, tmp_path_factory):
    """The generated folder ingested with kpis' own ingest (kinds told from the columns)."""
    kpis = _kpis()
    c = kpis.connect(tmp_path_factory.mktemp("db") / "kpi.duckdb")
    reports = kpis.ingest_files(c, [out])
    yield kpis, c, reports
    c.close()


def _series(ingested, kpi, grain="month", **kw) -> dict:
    """{period: value} (or {(period, group): value} with by=...) of one KPI, periods with data only."""
    kpis, c, _ = ingested
    df = kpis.compute(c, grain=grain, kpis=[kpi], **kw)
    df = df[df["n"] > 0]
    if kw.get("by"):
        return {(p, g): v for p, g, v in zip(df["period"], df[kw["by"]], df["value"])}
    return dict(zip(df["period"], df["value"]))


def test_ingest_recognises_every_file(ingested, con):
    _, _, reports = ingested
    kinds = {r.file: r.kind for r in reports}
    assert kinds == {"deployments.csv": "deployments", "incidents.csv": "incidents", "costs.parquet": "costs",
                     "predictions.parquet": "predictions", "pipeline_runs.csv": "pipeline_runs",
                     "models.csv": "models", "changes.csv": "changes"}, kinds
    for r in reports:
        assert r.status == "loaded" and r.rejected == 0 and r.inserted == r.rows_read, r
        assert r.inserted == one(con, f"SELECT count(*) FROM {r.kind}"), r.file


def test_pipeline_rates(con):
    """Success ~98% (CI ~96%), training on time ~95%, reproducible ~90%."""
    rates = con.execute("""SELECT
        avg((status = 'success')::INT) FILTER (WHERE status <> 'running'),
        avg((status = 'success')::INT) FILTER (WHERE status <> 'running' AND kind = 'training'),
        avg((status = 'success')::INT) FILTER (WHERE kind = 'ci'),
        avg(on_time::INT) FILTER (WHERE kind = 'training'),
        avg(reproducible::INT) FILTER (WHERE kind = 'training')
        FROM pipeline_runs""").fetchone()
    overall, training, ci, on_time, reproducible = rates
    assert 0.97 < overall < 0.99 and 0.96 < training < 0.995 and 0.93 < ci < 0.98, rates
    assert 0.92 < on_time < 0.97 and 0.85 < reproducible < 0.95, rates
    kinds = dict(con.execute("SELECT kind, count(*) FROM pipeline_runs GROUP BY kind").fetchall())
    assert kinds["feature"] == kinds["validation"] == 4 * one(con, "SELECT count(DISTINCT date) FROM predictions")
    assert 2500 < kinds["ci"] < 4500 and 900 < kinds["training"] < 1500, kinds
    assert one(con, "SELECT count(*) FROM pipeline_runs WHERE status = 'running'") >= 1


def test_story_data_freshness_streak(ingested, con):
    """2026-07: the fraud feed is stale ten days running; adherence well below 95% that month, ~99% otherwise."""
    overall = _series(ingested, "data_freshness_adherence")
    assert overall["2026-07"] < 0.94, overall
    assert all(v > 0.97 for p, v in overall.items() if p != "2026-07"), overall
    fraud = _series(ingested, "data_freshness_adherence", filters={"team": ["fraud"]})
    assert fraud["2026-07"] < 0.8 and min(v for p, v in fraud.items() if p != "2026-07") > 0.95, fraud
    stale = [r[0] for r in con.execute("""SELECT started_at::DATE FROM pipeline_runs
        WHERE pipeline = 'fraud-features' AND NOT data_fresh ORDER BY 1""").fetchall()]
    streak = [d for d in stale if d.year == 2026 and d.month == 7]
    assert len(streak) == 10 and (streak[-1] - streak[0]).days == 9, stale


def test_story_ci_duration_creep_and_fix(ingested):
    """search's CI median creeps from ~12 to ~25 minutes, then build caching (2026-09-14) cuts it to ~10."""
    minutes = {k: v * 60 for k, v in _series(ingested, "ci_duration_median_hours", by="team").items()}
    search = {p: v for (p, team), v in minutes.items() if team == "search"}
    assert 10 < search["2025-06"] < 14 and 22 < search["2026-08"] < 28, search
    assert search["2026-10"] < 12 and search["2026-11"] < 12, search
    assert search["2026-03"] > search["2025-09"] + 3, search
    others = [v for (p, team), v in minutes.items() if team != "search"]
    assert max(others) < 18, max(others)


def test_story_validation_failures_with_migration(ingested):
    """2026-Q1 (the migration): data validation failures ~10% overall, ~2% in other quarters."""
    rate = _series(ingested, "data_validation_failure_rate", grain="quarter")
    assert rate["2026-Q1"] > 0.08, rate
    assert all(v < 0.04 for p, v in rate.items() if p != "2026-Q1"), rate
    by_team = _series(ingested, "data_validation_failure_rate", grain="quarter", by="team")
    assert by_team[("2026-Q1", "search")] > 0.1 and by_team[("2026-Q1", "fraud")] > 0.1, by_team
    assert by_team[("2026-Q1", "recommendations")] < 0.06, by_team


def test_story_latency_regression_after_release(ingested, con):
    """recs-api release dep-00832 (2026-07-04) lifts p95 ~68 -> ~120 ms until dep-00873 (2026-07-27) fixes it."""
    deps = dict(con.execute("""SELECT deployment_id, deployed_at FROM deployments
        WHERE deployment_id IN ('dep-00832', 'dep-00873') AND service = 'recs-api'
          AND environment = 'production' AND status = 'success'""").fetchall())
    bad, fix = deps["dep-00832"].date(), deps["dep-00873"].date()
    assert 18 <= (fix - bad).days <= 28
    assert one(con, f"""SELECT count(*) FROM deployments WHERE service = 'recs-api' AND environment = 'production'
                        AND deployed_at::DATE > DATE '{bad}' AND deployed_at::DATE < DATE '{fix}'""") == 0

    def p95(lo, hi):
        return one(con, f"""SELECT median(latency_p95_ms) FROM predictions
                           WHERE service = 'recs-api' AND date BETWEEN DATE '{lo}' AND DATE '{hi}'""")

    before, during, after = p95(bad - timedelta(21), bad - timedelta(1)), p95(bad, fix), p95(
        fix + timedelta(1), fix + timedelta(21))
    assert 60 < before < 75 and 110 < during < 135 and 60 < after < 78, (before, during, after)
    weekly = _series(ingested, "latency_p95_ms", grain="week", filters={"service": ["recs-api"]})
    assert weekly["2026-W26"] < 75 and min(weekly[w] for w in ("2026-W28", "2026-W29", "2026-W30")) > 110, weekly
    assert weekly["2026-W32"] < 75, weekly


def test_story_coverage_improves(ingested, con):
    """Monitoring ~70% -> ~90%, tier-1 drift monitoring ~60% -> 100%, documentation ~75% -> ~95%."""
    def snapshots(kpi):
        values = _series(ingested, kpi)
        return [values[p] for p in sorted(values)]

    monitored = snapshots("monitoring_coverage")
    drift_t1 = snapshots("drift_monitoring_coverage_tier1")
    documented = snapshots("documentation_completeness")
    assert len(monitored) == 7  # 2025-07-01 .. 2026-10-01 quarterly, and 2026-11-20
    assert monitored[0] < 0.72 and monitored[-1] > 0.86 and monitored == sorted(monitored), monitored
    assert 0.55 < drift_t1[0] < 0.7 and drift_t1[-1] == 1.0 and drift_t1 == sorted(drift_t1), drift_t1
    assert documented[0] < 0.8 and documented[-1] > 0.92, documented
    # demand-forecast had no drift monitoring when its drift went unnoticed for days (2026-07), then got it.
    flags = dict(con.execute("""SELECT as_of, drift_monitored FROM models
        WHERE service = 'demand-forecast' AND in_production""").fetchall())
    assert [flags[d] for d in sorted(flags)][-3:] == [False, True, True], flags
    retired = one(con, """SELECT count(*) FROM models
                          WHERE NOT in_production AND as_of = (SELECT max(as_of) FROM models)""")
    assert retired == 4  # the four replaced models


def test_changes_ship_with_production_deployments_in_order(ingested):
    """The optional changes table: each change names a production deployment of the search or recommendations
    team, and its timestamps run first commit <= pull request opened <= merged <= deployed."""
    _, c, _ = ingested
    teams = {r[0] for r in c.execute("SELECT DISTINCT d.team FROM changes ch JOIN deployments d USING "
                                     "(deployment_id)").fetchall()}
    assert teams == {"search", "recommendations"}
    assert one(c, "SELECT count(*) FROM changes ch LEFT JOIN deployments d USING (deployment_id) "
                  "WHERE d.deployment_id IS NULL OR d.environment <> 'production'") == 0
    assert one(c, """SELECT count(*) FROM changes ch JOIN deployments d USING (deployment_id)
                     WHERE ch.authored_at > coalesce(ch.opened_at, ch.authored_at)
                        OR coalesce(ch.opened_at, ch.authored_at) > coalesce(ch.merged_at, d.deployed_at)
                        OR coalesce(ch.merged_at, ch.authored_at) > d.deployed_at
                        OR ch.authored_at > d.deployed_at""") == 0
    # some pushed without a pull request, some shipped again after a failed deployment
    assert one(c, "SELECT count(*) FROM changes WHERE opened_at IS NULL") > 0
    assert one(c, "SELECT count(*) FROM (SELECT change_id FROM changes GROUP BY change_id HAVING count(*) > 1)") > 0
