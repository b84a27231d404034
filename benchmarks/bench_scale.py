#!/usr/bin/env python
"""How compute and ingest grow with the data: bench_engine.py at several scales, and the growth exponents.

    python benchmarks/bench_scale.py [--scales 0.1,1,3] [--workdir DIR] [--teams 5] [--keep]

Each scale runs ``bench_engine.py --repeat 1`` in its own process (so each
reports its own peak memory) with every default size times the scale
(1x = 1M deployments, 200k incidents, 10M cost lines, 10M prediction rows),
and prints, per scale, all-KPI compute by month and team (warm median, from
the daily rollups and from the events), our ingest of the four files, and
the peak memory; then the growth exponent k of each (time ~ scale^k, a least
squares fit of log time on log scale). With rollups the engine's cost should
grow sub-linearly (k < 1): the rollups grow with days x keys, not with events;
medians and percentiles (deployments, incidents) still read every event.

Goals (issue 12): compute by month and team < 0.5 s at 1x; k < 1; peak memory
< 2 GB at 3x. The 3x run writes ~6 GB of CSV and takes several minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_engine import DEFAULTS, GOAL_COMPUTE_S, GOAL_PEAK_MB, KINDS  # noqa: E402


def exponent(scales: list[float], values: list[float]) -> float:
    """The slope of log(value) on log(scale): value ~ scale^k."""
    xs, ys = [math.log(s) for s in scales], [math.log(max(v, 1e-9)) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def run_scale(scale: float, workdir: Path, teams: int, threads: int, keep: bool = False) -> dict:
    out = workdir / f"scale-{scale:g}"
    out.mkdir(parents=True, exist_ok=True)
    figures = out / "figures.json"
    cmd = [sys.executable, str(HERE / "bench_engine.py"), "--workdir", str(out), "--repeat", "1",
           "--teams", str(teams), "--threads", str(threads), "--json", str(figures)]
    cmd += [a for k in KINDS for a in (f"--{k}", str(max(1, round(DEFAULTS[k] * scale))))]
    if keep:  # each scale's database stays for bench_pages.py --db <workdir>/scale-3/kpi_bench.duckdb --scale 3
        cmd.append("--keep")
    print(f"\n=== scale {scale:g}x: {' '.join(cmd[1:])}", flush=True)
    subprocess.run(cmd, check=True)
    return json.loads(figures.read_text())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scales", default="0.1,1,3", help="comma-separated multiples of the default sizes")
    p.add_argument("--workdir", type=Path, default=None, help="where each scale's files go (default: a temp dir)")
    p.add_argument("--teams", type=int, default=5, help="teams (bench_engine.py --teams), default 5")
    p.add_argument("--threads", type=int, default=2, help="DuckDB threads, default 2")
    p.add_argument("--keep", action="store_true",
                   help="keep each scale's generated files and database (<workdir>/scale-<s>/kpi_bench.duckdb)")
    args = p.parse_args(argv)
    scales = sorted(float(s) for s in args.scales.split(","))
    if len(scales) < 2 or scales[0] <= 0:
        p.error("give at least two positive scales")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kpi-scale-"))
    try:
        res = {s: run_scale(s, workdir, args.teams, args.threads, args.keep) for s in scales}
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    def compute(s, key):
        return res[s]["compute"]["month by team"][key]

    def ingest(s, key="ingest_s"):
        return sum(f[key] for f in res[s]["files"].values())

    print("\n## Growth with the data\n")
    print(f"Machine: {res[scales[0]]['machine']}; load before the first scale: {res[scales[0]]['load_before']}, "
          f"after the last: {res[scales[-1]]['load_after']}.\n")
    print("| scale | events (costs + predictions rows) | compute month x team, rollups: wall (cpu) s | "
          "from the events: wall (cpu) s | ingest, four files: wall (cpu) s | peak MB |")
    print("|---|---|---|---|---|---|")
    for s in scales:
        rows = res[s]["sizes"]["costs"] + res[s]["sizes"]["predictions"]
        print(f"| {s:g}x | {rows:,} | {compute(s, 'warm_median_s'):.3f} ({compute(s, 'warm_median_cpu_s'):.2f}) | "
              f"{compute(s, 'events_median_s'):.3f} ({compute(s, 'events_median_cpu_s'):.2f}) | "
              f"{ingest(s):.1f} ({ingest(s, 'ingest_cpu_s'):.1f}) | {res[s]['peak_mb']:,.0f} |")
    k_roll = exponent(scales, [compute(s, "warm_median_cpu_s") for s in scales])
    k_ev = exponent(scales, [compute(s, "events_median_cpu_s") for s in scales])
    k_ing = exponent(scales, [ingest(s, "ingest_cpu_s") for s in scales])
    print(f"\nGrowth exponent k (cpu time ~ scale^k, {scales[0]:g}x to {scales[-1]:g}x): compute from the rollups "
          f"**{k_roll:.2f}**, from the events {k_ev:.2f}, ingest {k_ing:.2f}.")
    one = min(scales, key=lambda s: abs(s - 1))
    top = scales[-1]
    print(f"Goals: compute by month x team at {one:g}x {compute(one, 'warm_median_s'):.3f} s "
          f"(< {GOAL_COMPUTE_S:g} s: {'met' if compute(one, 'warm_median_s') < GOAL_COMPUTE_S else 'MISSED'}); "
          f"k < 1: {'met' if k_roll < 1 else 'MISSED'}; peak memory at {top:g}x {res[top]['peak_mb']:,.0f} MB "
          f"(< {GOAL_PEAK_MB:,} MB: {'met' if res[top]['peak_mb'] < GOAL_PEAK_MB else 'MISSED'}).")
    print(f"(cores: {os.cpu_count()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
