"""DuckDB vs Spark: the same request (all KPIs by month and team) at two data sizes.

    python benchmarks/bench_spark.py                       # 1/1000 and 1/100 of bench_engine's sizes
    python benchmarks/bench_spark.py --scales 0.01 0.1     # larger (0.1: 1M cost lines, 1M prediction rows)

For each scale: bench_engine.py's generator writes the exports (DuckDB SQL, seeded), ``kpis ingest`` loads
them into a DuckDB file and ``kpis export`` writes its tables as Parquet; then

- DuckDB: ``compute`` over the database file (read-only connection; daily rollups current, as after an
  ingest), and over the Parquet lake (``compute --lake``: views, no rollups);
- Spark, local mode (``local[2]``): ``compute`` over the same Parquet (``compute --engine spark --lake``);

every value is first checked equal on both engines (relative 1e-9, the same n), then each is timed cold (the
first call) and warm (the median of ``--repeat`` calls). Wall seconds, and CPU seconds: this process's for
DuckDB, the Spark JVM's (read from /proc) for Spark. Spark's session start is printed on its own.
Nothing is written inside the repository.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_engine  # noqa: E402

import kpis  # noqa: E402
from kpis import engine, lake, runners  # noqa: E402

REQUEST = dict(grain="month", by="team")


def jvm_cpu_s(spark) -> float:
    """User + system CPU seconds of the Spark driver JVM (local mode: all of Spark's work)."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Timer:
    def __init__(self, cpu):
        self.cpu_of = cpu

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), self.cpu_of()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w0, self.cpu_of() - self.c0


def timed(run, cpu, repeat: int) -> dict:
    with Timer(cpu) as cold:
        run()
    warm = []
    for _ in range(repeat):
        with Timer(cpu) as t:
            run()
        warm.append(t)
    mid = sorted(warm, key=lambda t: t.wall)[len(warm) // 2]
    return {"cold": cold.wall, "cold_cpu": cold.cpu, "warm": mid.wall, "warm_cpu": mid.cpu}


def same(a, b) -> int:
    ra, rb = engine.to_records(a), engine.to_records(b)
    assert len(ra) == len(rb), (len(ra), len(rb))
    for x, y in zip(ra, rb):
        assert {k: v for k, v in x.items() if k != "value"} == {k: v for k, v in y.items() if k != "value"}, (x, y)
        assert (x["value"] is None and y["value"] is None) or math.isclose(x["value"], y["value"], rel_tol=1e-9), \
            (x, y)
    return len(ra)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scales", type=float, nargs="+", default=[0.001, 0.01],
                   help="fractions of bench_engine.py's default sizes (default 0.001 0.01)")
    p.add_argument("--repeat", type=int, default=3, help="warm calls per engine (the median is shown)")
    p.add_argument("--seed", type=float, default=0.42)
    args = p.parse_args(argv)

    print(f"{bench_engine.machine_line(2)}; load average {os.getloadavg()[0]:.1f}")
    with Timer(time.process_time) as start:
        spark = runners.spark_session()
    print(f"Spark {spark.version} local[2] session start: {start.wall:.1f} s")
    rows = []
    root = Path(tempfile.mkdtemp(prefix="kpi-bench-spark-"))
    try:
        for scale in args.scales:
            sizes = {k: max(int(v * scale), 10) for k, v in bench_engine.DEFAULTS.items()}
            work = root / f"x{scale:g}"
            paths = bench_engine.generate(work, sizes, args.seed, 2)
            db = work / "kpi.duckdb"
            con = kpis.connect(db)
            kpis.ingest_files(con, [paths[k] for k in bench_engine.KINDS])
            con.close()
            con = kpis.connect(db, read_only=True)
            folder = work / "lake"
            lake.export(con, str(folder))
            over_lake = lake.connect(str(folder))
            on_spark = runners.spark_from_lake(spark, str(folder))
            n = same(engine.compute(con, **REQUEST), engine.compute(on_spark, **REQUEST))
            events = sum(sizes.values())
            print(f"\nx{scale:g}: {events:,} events ({sizes}); {n:,} KPI values equal on both engines")
            figures = {
                "DuckDB, database file": timed(lambda: engine.compute(con, **REQUEST), time.process_time,
                                               args.repeat),
                "DuckDB, Parquet lake": timed(lambda: engine.compute(over_lake, **REQUEST), time.process_time,
                                              args.repeat),
                "Spark local[2], Parquet lake": timed(lambda: engine.compute(on_spark, **REQUEST),
                                                      lambda: jvm_cpu_s(spark), args.repeat),
            }
            for name, f in figures.items():
                print(f"  {name:30s} cold {f['cold']:7.2f} s (CPU {f['cold_cpu']:7.2f} s)   "
                      f"warm {f['warm']:7.2f} s (CPU {f['warm_cpu']:7.2f} s)")
                rows.append((f"x{scale:g} ({events:,} events)", name, f))
            con.close()
            over_lake.close()
    finally:
        spark.stop()
        shutil.rmtree(root, ignore_errors=True)
    print("\n| data | engine | cold (wall / CPU) | warm (wall / CPU) |\n|---|---|---|---|")
    for data, name, f in rows:
        print(f"| {data} | {name} | {f['cold']:.2f} s / {f['cold_cpu']:.2f} s | {f['warm']:.2f} s / "
              f"{f['warm_cpu']:.2f} s |")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
