#!/usr/bin/env python
"""Benchmark lead time per change (the optional changes table) in the KPI engine.

    python benchmarks/bench_changes.py [--deployments 200000] [--changes-per-deployment 2.5] [--threads 2]
        [--repeat 3] [--workdir DIR]

Generates, with DuckDB SQL straight into a database made by ``kpis.connect`` (the engine is timed, not the
ingest: bench_engine.py times that), ``--deployments`` production deployments over 18 months (2025-05-01 ..
2026-10-31; 40 services, 5 teams; 92% success) and about ``--changes-per-deployment`` changes each (first commit
1 h .. 6 weeks before, two in three through a pull request). Then times ``kpis.compute(con, grain="month",
by="team")`` through a read-only connection, cold (first call) and warm (median of ``--repeat``), wall and CPU
(``time.process_time``: this process, DuckDB's threads included), for:

* the delivery KPIs of the deployments source (what a page asked before the changes table existed);
* the six change KPIs alone;
* both in one call (the Delivery page asks them separately; ``compute`` with every KPI asks both at once);
* every KPI, with the changes table emptied (a database without changes: the change KPIs are null).

Prints one line per case. Nothing is written inside the repository (a temp dir unless --workdir).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kpis  # noqa: E402
from kpis import catalog  # noqa: E402

CHANGE_KPIS = [k.id for k in catalog.CATALOG if k.optional_table == "changes"]
DELIVERY_KPIS = [k.id for k in catalog.CATALOG if k.source == "deployments" and k.family == "delivery"]


def generate(path: Path, deployments: int, per_deployment: float, threads: int) -> tuple[int, int]:
    con = kpis.connect(path)
    con.execute(f"SET threads = {threads}")
    con.execute("SELECT setseed(0.42)")
    con.execute(f"""
        INSERT INTO deployments (deployment_id, service, deployed_at, team, environment, status, change_started_at)
        SELECT 'dep-' || i, 'svc-' || (i % 40), t, 'team-' || (i % 5), 'production',
               CASE WHEN r < 0.92 THEN 'success' WHEN r < 0.97 THEN 'failed' ELSE 'rolled_back' END,
               t - to_seconds(CAST(3600 + random() * 3600 * 24 * 42 AS BIGINT))
        FROM (SELECT i, random() AS r,
                     TIMESTAMP '2025-05-01' + to_seconds(CAST(random() * 549 * 86400 AS BIGINT)) AS t
              FROM range({deployments}) s(i)) d""")
    # n changes per deployment: 1 + floor(random x (2 x (per - 1) + 1)), uniform on 1 .. 2 x per - 1: mean per
    con.execute(f"""
        INSERT INTO changes (change_id, deployment_id, authored_at, opened_at, merged_at)
        SELECT 'c-' || d.deployment_id || '-' || k, d.deployment_id, a,
               CASE WHEN pr THEN a + (d.deployed_at - a) * 0.3 END,
               CASE WHEN pr THEN a + (d.deployed_at - a) * 0.8 END
        FROM (SELECT deployment_id, deployed_at, change_started_at,
                     1 + CAST(floor(random() * (2 * ({per_deployment} - 1) + 1)) AS INTEGER) AS n FROM deployments) d,
             LATERAL (SELECT k, d.change_started_at + (d.deployed_at - d.change_started_at) * (random() * 0.7) AS a,
                             random() < 0.67 AS pr FROM range(d.n) r(k)) c""")
    counts = con.execute("SELECT (SELECT count(*) FROM deployments), (SELECT count(*) FROM changes)").fetchone()
    con.close()
    return counts


def timed(path: Path, threads: int, repeat: int, ids: list[str]) -> tuple[float, float, float, float]:
    """(cold wall, cold CPU, warm wall, warm CPU) of compute(ids) by month and team."""
    con = kpis.connect(path, read_only=True)
    con.execute(f"SET threads = {threads}")
    walls, cpus = [], []
    for _ in range(repeat + 1):
        w, c = time.perf_counter(), time.process_time()
        kpis.compute(con, grain="month", by="team", kpis=ids)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    con.close()
    return walls[0], cpus[0], statistics.median(walls[1:]), statistics.median(cpus[1:])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deployments", type=int, default=200_000)
    p.add_argument("--changes-per-deployment", type=float, default=2.5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workdir", type=Path, default=None)
    args = p.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_changes_"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "changes.duckdb"
    if db.exists():
        db.unlink()
    n_dep, n_chg = generate(db, args.deployments, args.changes_per_deployment, args.threads)
    print(f"{n_dep:,} deployments, {n_chg:,} changes; compute by month and team, {args.threads} threads; "
          f"cold, then the median of {args.repeat} warm calls")
    cases = [("delivery KPIs (deployments source)", DELIVERY_KPIS), ("change KPIs alone", CHANGE_KPIS),
             ("delivery + change KPIs in one call", DELIVERY_KPIS + CHANGE_KPIS), ("every KPI", None)]
    for name, ids in cases:
        cw, cc, ww, wc = timed(db, args.threads, args.repeat, ids)
        print(f"{name:<40} cold {cw:6.2f} s wall {cc:6.2f} s CPU   warm {ww:6.2f} s wall {wc:6.2f} s CPU")
    con = kpis.connect(db)
    con.execute("DELETE FROM changes")
    con.close()
    cw, cc, ww, wc = timed(db, args.threads, args.repeat, None)
    print(f"{'every KPI, changes table empty':<40} cold {cw:6.2f} s wall {cc:6.2f} s CPU   "
          f"warm {ww:6.2f} s wall {wc:6.2f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
