#!/usr/bin/env python
"""Benchmark the ingest and the KPI engine on generated data at scale.

    python benchmarks/bench_engine.py [--deployments 1000000] [--incidents 200000]
        [--costs 10000000] [--predictions 10000000] [--workdir DIR] [--threads 2] [--repeat 3] [--small]

What it does, in one run (see benchmarks/README.md for the figures and goals):

1. Generates the four canonical CSV files (columns as kpis/schema.py) with DuckDB
   SQL, ``COPY (SELECT ... FROM range(N)) TO 'x.csv'``, seeded with ``setseed``
   (``range`` is a single-threaded source, so the files are byte-identical for a
   given seed and size). ~18 months (2025-05-01 .. 2026-10-31) of timestamps,
   most services exporting UTC ``...Z``, five exporting ``+02:00``; 5 teams (--teams N: N),
   40 services, 60 models; statuses mostly success; 1% of incidents open; cost
   categories inference / training (with run_id) / storage, currency USD. Also
   two overlapping exports: the last month's cost lines re-issued with restated
   amounts, and the last month's incidents re-exported with the open ones now
   resolved. Generation runs in a child process, so it does not count towards
   the peak memory reported.
2. For each file: DuckDB's bare read (``CREATE TABLE t AS SELECT * FROM
   read_csv(file)``, auto-detected types, into a fresh DuckDB file) and our
   ingest (``kpis.ingest_files(con, [file])``). Ours goes into one database
   file created fresh by ``kpis.connect`` for the first file; every file is the
   first load of its own (still empty) table, and ingest reads nothing from the
   other tables, so each is timed as into a fresh database. Bare and ours
   alternate ``--repeat`` times (default 3; earlier rounds of ours load into a
   fresh scratch file) and the medians are compared: on a shared machine a
   single run of either can be 20% off. Then the same files again (skipped by
   content hash) and the overlapping exports.
3. ``kpis.compute(con, grain="month")`` and ``kpis.compute(con, grain="month",
   by="team")`` over the full database through a read-only connection: cold
   (first call on a newly opened connection; the OS page cache is warm, the
   file was just written) and warm (median of 3 further calls), and warm from
   the events (``use_rollups=False``: no daily rollups), alternating with it.
4. Peak memory: ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, the peak resident
   set of this (benchmark) process over the whole run; it is also printed after
   each phase so the phase that set it can be seen.

Generated files go to --workdir (default: a new temporary directory, removed at
the end unless --keep). Nothing is written inside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

DEFAULTS = {"deployments": 1_000_000, "incidents": 200_000, "costs": 10_000_000, "predictions": 10_000_000}
SMALL_DIVISOR = 100
KINDS = ("deployments", "incidents", "costs", "predictions")

START = "2025-05-01"  # the data spans START .. START + DAYS - 1 (18 months)
DAYS = 549  # 2025-05-01 .. 2026-10-31
LAST_MONTH = "2026-10-01"
TEAMS = ("search", "recommendations", "fraud", "forecasting", "ads")
N_SERVICES = 40  # service s belongs to team s % 5; services with s % 8 = 3 export +02:00
# 60 models: every service has model-<s>; services 0..19 replace it by model-<40+s> half-way.

GOAL_INGEST_RATIO = 1.5
GOAL_COMPUTE_S = 0.5
GOAL_PEAK_MB = 2048


# ---------------------------------------------------------------------------
# Generation (DuckDB SQL only; no Python loop over rows)

_MACROS = f"""
CREATE OR REPLACE TEMP MACRO fmt_ts(ts, off) AS
    CASE WHEN ts::TIMESTAMP IS NULL THEN NULL
         WHEN off THEN strftime(ts::TIMESTAMP + INTERVAL 2 HOUR, '%Y-%m-%dT%H:%M:%S') || '+02:00'
         ELSE strftime(ts::TIMESTAMP, '%Y-%m-%dT%H:%M:%S') || 'Z' END;
CREATE OR REPLACE TEMP MACRO svc(s) AS 'svc-' || lpad(s::VARCHAR, 2, '0');
CREATE OR REPLACE TEMP MACRO team_of(s) AS {{teams}}[1 + (s % {{n_teams}})];
CREATE OR REPLACE TEMP MACRO model_of(s, t) AS
    'model-' || lpad((CASE WHEN s < 20 AND t >= TIMESTAMP '2026-01-01' THEN 40 + s ELSE s END)::VARCHAR, 2, '0');
CREATE OR REPLACE TEMP MACRO offset_of(s) AS (s % 8 = 3);
CREATE OR REPLACE TEMP MACRO at_frac(i, r, n) AS
    date_trunc('second', TIMESTAMP '{START}' + to_seconds(((i + r) / n) * {DAYS} * 86400.0));
"""


def _deployments_sql(n: int) -> str:
    return f"""
SELECT
    'dep-' || lpad(i::VARCHAR, 8, '0') AS deployment_id,
    svc(s) AS service,
    fmt_ts(t, off) AS deployed_at,
    model_of(s, t) AS model,
    'v' || (1 + floor(r_ver * 40))::INT AS model_version,
    team_of(s) AS team,
    'tier' || (1 + s % 3) AS tier,
    CASE WHEN r_env < 0.9 THEN 'production' ELSE 'staging' END AS environment,
    status,
    fmt_ts(CASE WHEN r_has_lead < 0.95 THEN t - to_seconds(lead_h * 3600) END, off) AS change_started_at,
    fmt_ts(CASE WHEN r_has_appr < 0.8 THEN t - to_seconds(lead_h * 3600 * r_appr) END, off) AS approved_at,
    fmt_ts(CASE WHEN status = 'rolled_back' THEN t + to_seconds(600 + r_rb * 18000) END, off) AS rolled_back_at,
    CASE WHEN r_hot < 0.03 THEN 'true' ELSE 'false' END AS is_hotfix,
    CASE WHEN r_reg < 0.02 THEN 'true' ELSE 'false' END AS caused_regression
FROM (
    SELECT i, s, offset_of(s) AS off, at_frac(i, r_t, {n}) AS t,
           CASE WHEN r_st < 0.92 THEN 'success' WHEN r_st < 0.97 THEN 'failed' ELSE 'rolled_back' END AS status,
           1 + 1000 * r_lead * r_lead AS lead_h,
           r_ver, r_env, r_has_lead, r_has_appr, r_appr, r_rb, r_hot, r_reg
    FROM (
        SELECT i, floor(random() * {N_SERVICES})::INT AS s, random() AS r_t, random() AS r_st,
               random() AS r_lead, random() AS r_ver, random() AS r_env, random() AS r_has_lead,
               random() AS r_has_appr, random() AS r_appr, random() AS r_rb, random() AS r_hot, random() AS r_reg
        FROM range({n}) t(i)
    )
)"""


def _incidents_sql(n: int, n_deployments: int) -> str:
    sev = ["SEV1", "SEV2", "SEV3", "SEV4", "P2", "P3", "critical", "high", "sev3", "low"]
    cat = ["drift", "data_quality", "deployment", "infrastructure", "model_quality", "other",
           "infra", "data quality"]
    return f"""
SELECT
    'inc-' || lpad(i::VARCHAR, 8, '0') AS incident_id,
    svc(s) AS service,
    fmt_ts(t, off) AS started_at,
    fmt_ts(det, off) AS detected_at,
    fmt_ts(det + to_seconds(r_ack * 1800), off) AS acknowledged_at,
    fmt_ts(CASE WHEN r_open >= 0.01
                THEN coalesce(det + to_seconds(r_ack * 1800), t) + to_seconds(900 + r_res * r_res * 345600) END, off)
        AS resolved_at,
    {sev!r}[1 + floor(r_sev * {len(sev)})::INT] AS severity,
    model_of(s, t) AS model,
    team_of(s) AS team,
    'tier' || (1 + s % 3) AS tier,
    {cat!r}[1 + floor(r_cat * {len(cat)})::INT] AS category,
    CASE WHEN r_ml < 0.9 THEN 'true' ELSE 'false' END AS ml_related,
    CASE WHEN r_dep < 0.1 THEN 'dep-' || lpad(floor(r_depid * {n_deployments})::BIGINT::VARCHAR, 8, '0') END
        AS deployment_id
FROM (
    SELECT i, s, offset_of(s) AS off, at_frac(i, r_t, {n}) AS t,
           CASE WHEN r_has_det < 0.97
                THEN at_frac(i, r_t, {n}) + to_seconds(60 + r_det * r_det * r_det * 172800) END AS det,
           r_ack, r_open, r_res, r_sev, r_cat, r_ml, r_dep, r_depid
    FROM (
        SELECT i, floor(random() * {N_SERVICES})::INT AS s, random() AS r_t, random() AS r_has_det,
               random() AS r_det, random() AS r_ack, random() AS r_open, random() AS r_res, random() AS r_sev,
               random() AS r_cat, random() AS r_ml, random() AS r_dep, random() AS r_depid
        FROM range({n}) t(i)
    )
)"""


def _costs_sql(n: int) -> str:
    # Sorted by date, as a bill export is: row i is charged on day floor(i * DAYS / n).
    return f"""
SELECT
    d AS date,
    round(CASE cat WHEN 'inference' THEN 0.01 + 40 * r_amt * r_amt
                   WHEN 'training' THEN 1 + 400 * r_amt
                   ELSE 0.001 + 5 * r_amt END, 4) AS amount,
    svc(s) AS service,
    'USD' AS currency,
    cat AS category,
    model_of(s, d) AS model,
    team_of(s) AS team,
    CASE WHEN cat = 'training' THEN 'run-' || strftime(d, '%Y%m%d') || '-' || floor(r_run * 200)::INT END AS run_id,
    'i-' || lpad(to_hex(((s * 1000 + floor(r_res * 500)::INT) * 2654435761) % 281474976710656), 12, '0')
        AS resource_id,
    'aws-cur' AS source
FROM (
    SELECT (DATE '{START}' + (i * {DAYS} // {n})::INT) AS d, s,
           CASE WHEN r_cat < 0.7 THEN 'inference' WHEN r_cat < 0.9 THEN 'training' ELSE 'storage' END AS cat,
           r_amt, r_run, r_res
    FROM (
        SELECT i, floor(random() * {N_SERVICES})::INT AS s, random() AS r_cat, random() AS r_amt,
               random() AS r_run, random() AS r_res
        FROM range({n}) t(i)
    )
)"""


def _predictions_sql(n: int) -> str:
    # Finer than one row per service per day (per endpoint / hour); sorted by date.
    return f"""
SELECT
    d AS date,
    svc(s) AS service,
    preds AS predictions,
    model_of(s, d) AS model,
    team_of(s) AS team,
    errs AS errors,
    p95 AS latency_p95_ms,
    round(p95 * (1.2 + r_p99), 2) AS latency_p99_ms,
    CASE WHEN preds > 0 THEN round((preds - errs) / preds, 6) END AS availability,
    preds - errs AS good_requests,
    preds AS total_requests,
    'predictions' AS count_kind,
    'serving-metrics' AS source
FROM (
    SELECT (DATE '{START}' + (i * {DAYS} // {n})::INT) AS d, s,
           floor(r_n * r_n * 20000)::BIGINT AS preds,
           floor(floor(r_n * r_n * 20000) * r_err * 0.02)::BIGINT AS errs,
           round(15 + 185 * r_lat, 2) AS p95, r_p99
    FROM (
        SELECT i, floor(random() * {N_SERVICES})::INT AS s, random() AS r_n, random() AS r_err,
               random() AS r_lat, random() AS r_p99
        FROM range({n}) t(i)
    )
)"""


def team_names(n: int) -> list[str]:
    """The teams services belong to (service s: team s % n): the five default names, else team-01 .. team-<n>."""
    return list(TEAMS) if n == len(TEAMS) else [f"team-{i + 1:02d}" for i in range(n)]


def generate(workdir: Path, sizes: dict[str, int], seed: float, threads: int, teams: int = len(TEAMS)
             ) -> dict[str, Path]:
    """Write the four CSVs and the two overlapping exports; return their paths."""
    workdir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {int(threads)}")
    macros = _MACROS.replace("{teams}", repr(team_names(teams))).replace("{n_teams}", str(int(teams)))
    for stmt in filter(str.strip, macros.split(";")):
        con.execute(stmt)
    queries = {
        "deployments": _deployments_sql(sizes["deployments"]),
        "incidents": _incidents_sql(sizes["incidents"], sizes["deployments"]),
        "costs": _costs_sql(sizes["costs"]),
        "predictions": _predictions_sql(sizes["predictions"]),
    }
    paths = {}
    for i, kind in enumerate(KINDS):
        path = workdir / f"{kind}.csv"
        t0 = time.perf_counter()
        # One seed per file, so each file is reproducible on its own.
        con.execute("SELECT setseed(?)", [(seed + i * 0.1) % 1.0]).fetchall()
        con.execute(f"COPY ({queries[kind]}) TO '{path}' (HEADER, DELIMITER ',')")
        print(f"  generated {path.name}: {sizes[kind]:,} rows, {path.stat().st_size / 1e6:,.0f} MB "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        paths[kind] = path

    # Overlapping exports. Costs: the last month's lines re-issued (restated amounts);
    # incidents: the last month's incidents re-exported, the open ones now resolved.
    t0 = time.perf_counter()
    restated = workdir / "costs_restated_last_month.csv"
    con.execute(
        f"COPY (SELECT * REPLACE (round(amount::DOUBLE * 1.03, 4)::VARCHAR AS amount) "
        f"FROM read_csv('{paths['costs']}', all_varchar = true) WHERE date >= '{LAST_MONTH}') "
        f"TO '{restated}' (HEADER)"
    )
    reexport = workdir / "incidents_reexport_last_month.csv"
    con.execute(
        f"COPY (SELECT * REPLACE (coalesce(resolved_at, strftime(started_at::TIMESTAMPTZ AT TIME ZONE 'UTC' "
        f"+ INTERVAL 5 HOUR, '%Y-%m-%dT%H:%M:%S') || 'Z') AS resolved_at) "
        f"FROM read_csv('{paths['incidents']}', all_varchar = true) "
        f"WHERE started_at::TIMESTAMPTZ >= TIMESTAMPTZ '{LAST_MONTH} 00:00:00+00') TO '{reexport}' (HEADER)"
    )
    print(f"  generated overlapping exports in {time.perf_counter() - t0:.1f} s", flush=True)
    paths["costs_restated"] = restated
    paths["incidents_reexport"] = reexport
    con.close()
    return paths


# ---------------------------------------------------------------------------
# Measurement helpers


def cpu_s() -> float:
    """User + system CPU time of this process so far (all DuckDB threads included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Clock:
    """Wall and CPU seconds of a block. CPU time is far less disturbed than wall time when
    other processes compete for the cores; cpu / wall shows how many cores the work used."""

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), cpu_s()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w0, cpu_s() - self.c0


def peak_mb() -> float:
    """Peak resident set size of this process so far, in MB (ru_maxrss is KiB on Linux)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def csv_rows(path: Path) -> int:
    con = duckdb.connect(":memory:")
    try:
        return con.execute(f"SELECT count(*) FROM read_csv('{path}', all_varchar = true)").fetchone()[0]
    finally:
        con.close()


def remove_db(path: Path) -> None:
    for p in (path, Path(str(path) + ".wal")):
        if p.exists():
            p.unlink()


def set_threads(con, threads: int, memory_limit: str | None) -> None:
    con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])


def bare_read(path: Path, db_path: Path, threads: int, memory_limit: str | None) -> tuple[Clock, int]:
    remove_db(db_path)
    con = duckdb.connect(str(db_path))
    set_threads(con, threads, memory_limit)
    with Clock() as clock:
        con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{path}')")
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    remove_db(db_path)
    return clock, n


def timed_ingest(kpis, con, path: Path) -> tuple[Clock, list]:
    with Clock() as clock:
        reports = kpis.ingest_files(con, [path])
    return clock, reports


def timed_compute(kpis, db_path: Path, threads: int, memory_limit: str | None, **kw) -> dict:
    con = kpis.connect(db_path, read_only=True)
    set_threads(con, threads, memory_limit)
    try:
        with Clock() as cold:
            df = kpis.compute(con, **kw)
        # Warm: the rollup path and the event path (use_rollups=False) alternate, so load hits both alike.
        warm, events = [], []
        for _ in range(3):
            with Clock() as c:
                kpis.compute(con, **kw)
            warm.append(c)
            with Clock() as e:
                kpis.compute(con, use_rollups=False, **kw)
            events.append(e)
    finally:
        con.close()
    mid = sorted(warm, key=lambda c: c.wall)[1]
    ev = sorted(events, key=lambda c: c.wall)[1]
    return {"cold_s": cold.wall, "cold_cpu_s": cold.cpu, "warm_median_s": mid.wall, "warm_median_cpu_s": mid.cpu,
            "warm_s": [c.wall for c in warm], "events_median_s": ev.wall, "events_median_cpu_s": ev.cpu,
            "result_rows": len(df), "kpis": int(df["kpi"].nunique()) if len(df) else 0}


def machine_line(threads: int) -> str:
    import pandas as pd

    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem = f"{mem_gb:.1f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        mem = "RAM unknown"
    return (f"{code_version()}; cpu_count={os.cpu_count()}, {mem}, {platform.platform()}, "
            f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
            f"duckdb {duckdb.__version__}, pandas {pd.__version__}, DuckDB threads={threads}")


def code_version() -> str:
    """The commit of the code measured, and whether kpis/ differs from it."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "kpis"], capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "code version unknown (not a git checkout)"
    return f"commit {head}" + (" + uncommitted changes in kpis/" if dirty else " (kpis/ clean)")


def rate(n: int, s: float) -> str:
    return f"{n / s:,.0f}" if s > 0 else "-"


# ---------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    for kind in KINDS:
        p.add_argument(f"--{kind}", type=int, default=None,
                       help=f"rows of {kind} (default {DEFAULTS[kind]:,}; 1/{SMALL_DIVISOR} with --small)")
    p.add_argument("--small", action="store_true", help=f"quick run: 1/{SMALL_DIVISOR} of the default sizes")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where generated files and databases go (default: a new temp dir, removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the workdir's generated files and databases")
    p.add_argument("--reuse", action="store_true",
                   help="reuse CSVs already in --workdir (skip generation when all files exist)")
    p.add_argument("--threads", type=int, default=2, help="DuckDB threads (SET threads), default 2")
    p.add_argument("--repeat", type=int, default=3,
                   help="bare read / ingest pairs per file; the medians are compared (default 3)")
    p.add_argument("--memory-limit", default=None,
                   help="optional DuckDB memory_limit for every connection (default: DuckDB's own, 80%% of RAM)")
    p.add_argument("--seed", type=float, default=0.42, help="setseed value in [0, 1), default 0.42")
    p.add_argument("--teams", type=int, default=len(TEAMS),
                   help=f"teams the {N_SERVICES} services belong to (default {len(TEAMS)}; e.g. 20 for the 20-team set)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    p.add_argument("--generate-only", action="store_true", help="only write the CSV files into --workdir")
    args = p.parse_args(argv)
    div = SMALL_DIVISOR if args.small else 1
    args.sizes = {k: (getattr(args, k) if getattr(args, k) is not None else DEFAULTS[k] // div) for k in KINDS}
    if any(v <= 0 for v in args.sizes.values()):
        p.error("sizes must be positive")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if not 1 <= args.teams <= N_SERVICES:
        p.error(f"--teams must be between 1 and {N_SERVICES}")
    if args.generate_only and args.workdir is None:
        p.error("--generate-only needs --workdir")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.generate_only:
        generate(args.workdir, args.sizes, args.seed, args.threads, args.teams)
        return 0

    own_tmp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="kpi-bench-")) if own_tmp else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, workdir)
    finally:
        if own_tmp and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif not args.keep:
            for name in [f"{k}.csv" for k in KINDS] + ["costs_restated_last_month.csv",
                                                        "incidents_reexport_last_month.csv",
                                                        "kpi_bench.duckdb", "kpi_bench.duckdb.wal",
                                                        "bare.duckdb", "bare.duckdb.wal",
                                                        "ours_scratch.duckdb", "ours_scratch.duckdb.wal"]:
                (workdir / name).unlink(missing_ok=True)


def load_note() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def run(args, workdir: Path) -> int:
    threads, mlimit = args.threads, args.memory_limit
    machine = machine_line(threads)
    print(f"machine: {machine}")
    print(f"workdir: {workdir}")
    print("sizes:   " + ", ".join(f"{k}={v:,}" for k, v in args.sizes.items()))
    print(f"before:  {load_note()}", flush=True)

    # 1. Generate (in a child process, so its memory is not in our peak).
    names = {k: workdir / f"{k}.csv" for k in KINDS}
    names["costs_restated"] = workdir / "costs_restated_last_month.csv"
    names["incidents_reexport"] = workdir / "incidents_reexport_last_month.csv"
    if args.reuse and all(p.exists() for p in names.values()):
        print("\n[1] reusing generated files", flush=True)
    else:
        print("\n[1] generating CSVs with DuckDB SQL", flush=True)
        t0 = time.perf_counter()
        cmd = [sys.executable, str(Path(__file__).resolve()), "--generate-only", "--workdir", str(workdir),
               "--threads", str(threads), "--seed", str(args.seed), "--teams", str(args.teams)]
        cmd += [a for k in KINDS for a in (f"--{k}", str(args.sizes[k]))]
        subprocess.run(cmd, check=True)
        print(f"  generation took {time.perf_counter() - t0:.1f} s", flush=True)
    paths = names

    import kpis  # imported after generation: its import cost is not in anything timed

    results: dict = {"machine": machine, "sizes": args.sizes, "threads": threads, "memory_limit": mlimit,
                     "load_before": load_note(), "files": {}, "reingest": {}, "overlap": {}, "compute": {},
                     "peak_mb_after": {}}

    # 2. Bare DuckDB read vs our ingest, per file.
    db_path = workdir / "kpi_bench.duckdb"
    bare_db = workdir / "bare.duckdb"
    remove_db(db_path)
    print("\n[2] ingest: bare DuckDB read_csv vs kpis.ingest_files  (wall s; cpu s = user+sys of all threads)",
          flush=True)
    con = kpis.connect(db_path)
    set_threads(con, threads, mlimit)
    scratch_db = workdir / "ours_scratch.duckdb"
    for kind in KINDS:
        path = paths[kind]
        bares, ourss = [], []
        # Alternate bare and ours --repeat times and compare medians: on a shared machine one run
        # of either can be 20% off. Earlier rounds load into a fresh scratch file, the last into
        # the database the later phases use.
        for rnd in range(args.repeat):
            bare, n = bare_read(path, bare_db, threads, mlimit)
            results["peak_mb_after"][f"bare {kind}"] = peak_mb()
            last = rnd == args.repeat - 1
            if last:
                target = con
            else:
                remove_db(scratch_db)
                target = kpis.connect(scratch_db)
                set_threads(target, threads, mlimit)
            ours, reps = timed_ingest(kpis, target, path)
            if not last:
                target.close()
                remove_db(scratch_db)
            rep = reps[0]
            if rep.status != "loaded" or rep.rows_read != n:
                raise SystemExit(f"unexpected ingest of {path.name}: {rep}")
            results["peak_mb_after"][f"ingest {kind}"] = peak_mb()
            bares.append(bare)
            ourss.append(ours)
            print(f"  {kind:12s} round {rnd + 1}: bare {bare.wall:6.2f} s (cpu {bare.cpu:6.2f}), "
                  f"ours {ours.wall:6.2f} s (cpu {ours.cpu:6.2f}): {ours.wall / bare.wall:4.2f}x", flush=True)
        bw, bc = median(c.wall for c in bares), median(c.cpu for c in bares)
        ow, oc = median(c.wall for c in ourss), median(c.cpu for c in ourss)
        size_mb = path.stat().st_size / 1e6
        results["files"][kind] = {"rows": n, "mb": size_mb, "bare_s": bw, "bare_cpu_s": bc,
                                  "ingest_s": ow, "ingest_cpu_s": oc, "ratio": ow / bw,
                                  "cpu_ratio": oc / bc if bc else None, "rounds": args.repeat,
                                  "round_ratios": [o.wall / b.wall for o, b in zip(ourss, bares)]}
        print(f"  {kind:12s} {n:>11,} rows {size_mb:7,.0f} MB | median of {args.repeat}: bare {bw:6.2f} s "
              f"({rate(n, bw):>10} rows/s, cpu {bc:6.2f} s) | ours {ow:6.2f} s "
              f"({rate(n, ow):>10} rows/s, cpu {oc:6.2f} s) | ours/bare {ow / bw:4.2f}x "
              f"(cpu {oc / max(bc, 1e-9):4.2f}x) | peak so far {peak_mb():,.0f} MB", flush=True)

    # Re-ingest the same files: recognised by content hash and skipped.
    print("  re-ingest of the same files (skipped by hash):", flush=True)
    for kind in KINDS:
        c, reps = timed_ingest(kpis, con, paths[kind])
        if reps[0].status != "skipped":
            raise SystemExit(f"re-ingest of {kind} was not skipped: {reps[0]}")
        mb = paths[kind].stat().st_size / 1e6
        results["reingest"][kind] = {"s": c.wall, "mb": mb}
        print(f"    {kind:12s} {c.wall:6.2f} s ({mb / c.wall:,.0f} MB/s hashed)", flush=True)

    # Overlapping exports.
    print("  overlapping exports:", flush=True)
    for key, label in (("costs_restated", "costs: last month re-issued"),
                       ("incidents_reexport", "incidents: last month re-exported")):
        n_file = csv_rows(paths[key])
        c, reps = timed_ingest(kpis, con, paths[key])
        rep = reps[0]
        results["overlap"][key] = {"label": label, "rows": n_file, "s": c.wall, "cpu_s": c.cpu,
                                   "inserted": rep.inserted, "updated": rep.updated}
        print(f"    {label:34s} {n_file:>9,} rows {c.wall:6.2f} s (cpu {c.cpu:5.2f} s); inserted {rep.inserted:,}, "
              f"replaced/updated {rep.updated:,}", flush=True)
    results["peak_mb_after"]["re-ingest + overlap"] = peak_mb()
    counts = {k: con.execute(f"SELECT count(*) FROM {k}").fetchone()[0] for k in KINDS}
    if counts != dict(args.sizes):
        raise SystemExit(f"row counts after overlapping ingests {counts} != generated {args.sizes} (double counted?)")
    print(f"  table rows after all ingests (no double counting): {counts}", flush=True)
    con.close()
    results["db_mb"] = db_path.stat().st_size / 1e6

    # 3. Compute over the full database, read-only.
    print(f"\n[3] compute over the full database ({results['db_mb']:,.0f} MB), read-only connection", flush=True)
    for label, kw in (("month", {"grain": "month"}), ("month by team", {"grain": "month", "by": "team"})):
        r = timed_compute(kpis, db_path, threads, mlimit, **kw)
        results["compute"][label] = r
        print(f"  compute({', '.join(f'{k}={v!r}' for k, v in kw.items())}): cold {r['cold_s']:.3f} s "
              f"(cpu {r['cold_cpu_s']:.2f}), warm median {r['warm_median_s']:.3f} s (cpu {r['warm_median_cpu_s']:.2f}; "
              f"runs {', '.join(f'{w:.3f}' for w in r['warm_s'])}); from the events (no rollups) "
              f"{r['events_median_s']:.3f} s (cpu {r['events_median_cpu_s']:.2f}); {r['result_rows']:,} result rows, "
              f"{r['kpis']} KPIs", flush=True)
    results["peak_mb_after"]["compute"] = peak_mb()

    # 4. Summary.
    results["peak_mb"] = peak_mb()
    results["load_after"] = load_note()
    print(f"\nafter:   {results['load_after']}")
    print_summary(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nfigures written to {args.json}")
    return 0


def print_summary(res: dict) -> None:
    ok = lambda b: "yes" if b else "**no**"  # noqa: E731
    lines = ["", "## Figures", "", f"Machine: {res['machine']}",
             f"Load: {res['load_before']} before, {res['load_after']} after the run "
             f"(a load above the thread count means other processes shared the cores; trust cpu s more than wall s).",
             "", "| measure | figure | goal | met |", "|---|---|---|---|"]
    for kind, f in res["files"].items():
        lines.append(
            f"| ingest {kind} ({f['rows']:,} rows, {f['mb']:,.0f} MB CSV) | bare read {f['bare_s']:.2f} s "
            f"({rate(f['rows'], f['bare_s'])} rows/s); ours {f['ingest_s']:.2f} s "
            f"({rate(f['rows'], f['ingest_s'])} rows/s); **{f['ratio']:.2f}x** (cpu {f['cpu_ratio']:.2f}x; "
            f"rounds {', '.join(f'{r:.2f}' for r in f['round_ratios'])}) | "
            f"<= {GOAL_INGEST_RATIO}x bare | {ok(f['ratio'] <= GOAL_INGEST_RATIO)} |")
    tot_b = sum(f["bare_s"] for f in res["files"].values())
    tot_o = sum(f["ingest_s"] for f in res["files"].values())
    cpu_b = sum(f["bare_cpu_s"] for f in res["files"].values())
    cpu_o = sum(f["ingest_cpu_s"] for f in res["files"].values())
    lines.append(f"| ingest, all four files | bare {tot_b:.2f} s; ours {tot_o:.2f} s; **{tot_o / tot_b:.2f}x** "
                 f"(cpu {cpu_o / cpu_b:.2f}x) | <= {GOAL_INGEST_RATIO}x bare "
                 f"| {ok(tot_o / tot_b <= GOAL_INGEST_RATIO)} |")
    re_s = sum(r["s"] for r in res["reingest"].values())
    re_mb = sum(r["mb"] for r in res["reingest"].values())
    lines.append(f"| re-ingest of the same four files (skipped by hash) | {re_s:.2f} s for {re_mb:,.0f} MB | "
                 f"near-instant (hashing only) | - |")
    for o in res["overlap"].values():
        lines.append(f"| overlapping export: {o['label']} ({o['rows']:,} rows) | {o['s']:.2f} s "
                     f"(inserted {o['inserted']:,}, replaced/updated {o['updated']:,}) | no double counting | yes |")
    for label, c in res["compute"].items():
        worst = max(c["cold_s"], c["warm_median_s"])
        goal = f"< {GOAL_COMPUTE_S:g} s on 2 cores" if label == "month by team" else f"(< {GOAL_COMPUTE_S:g} s)"
        lines.append(f"| compute all KPIs, {label} ({c['result_rows']:,} rows) | cold {c['cold_s']:.3f} s "
                     f"(cpu {c['cold_cpu_s']:.2f}); warm median {c['warm_median_s']:.3f} s "
                     f"(cpu {c['warm_median_cpu_s']:.2f}); from the events {c['events_median_s']:.3f} s "
                     f"(cpu {c['events_median_cpu_s']:.2f}), **{c['events_median_s'] / c['warm_median_s']:.1f}x** "
                     f"slower | {goal} | {ok(worst < GOAL_COMPUTE_S)} |")
    lines.append(f"| peak memory (ru_maxrss of the whole benchmark process) | {res['peak_mb']:,.0f} MB | "
                 f"< {GOAL_PEAK_MB:,} MB | {ok(res['peak_mb'] < GOAL_PEAK_MB)} |")
    lines.append("")
    lines.append("Process peak RSS after each phase (MB): "
                 + ", ".join(f"{k} {v:,.0f}" for k, v in res["peak_mb_after"].items()))
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
