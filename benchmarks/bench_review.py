"""Review pack times and sizes on a large database: build once, then each export on its own.

    python benchmarks/bench_engine.py --workdir /tmp/kb --keep      # builds /tmp/kb/kpi_bench.duckdb
    python benchmarks/bench_review.py --db /tmp/kb/kpi_bench.duckdb --period 2026-10

Prints, for ``review.build_review`` and for each format's export (HTML, PDF,
slides, each in a browser session of its own as ``review.export`` makes it,
then all three in one ``review.export_all``): wall and CPU seconds
(``time.process_time``: this process only, not the browser's), the size of
each file, the points each chart holds, and how many times each engine /
details query ran during the build (one compute per need). The database is
opened read-only. Nothing is written inside the repository.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _count_calls(counts: collections.Counter) -> None:
    """Wrap the engine and details queries the review makes, counting identical calls."""
    from kpis import details, drivers, engine, targets

    def wrap(mod, name):
        fn = getattr(mod, name)

        @functools.wraps(fn)
        def counted(*args, **kwargs):
            shown = json.dumps([args[1:], kwargs], default=str, sort_keys=True)  # args[0] is the connection
            key = f"{mod.__name__}.{name}({shown if len(shown) <= 200 else shown[:200] + '...'})"
            counts[key] += 1
            return fn(*args, **kwargs)

        setattr(mod, name, counted)

    for name in ("compute",):
        wrap(engine, name)
    wrap(targets, "compute_with_targets")
    wrap(drivers, "drivers")
    for name in ("training_runs", "training_run_chart", "deployments", "incidents", "prediction_count_kinds"):
        wrap(details, name)


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def _points(review) -> list[tuple[str, int]]:
    out = []
    for s in review.sections:
        for c in s.charts:
            n = 0
            for t in c.figure.data:
                x = getattr(t, "x", None)
                n += 0 if x is None else len(x)
            out.append((c.id, n))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--period", default="2026-10")
    p.add_argument("--profile", default="lead")
    p.add_argument("--out", type=Path, help="directory for the files (default: a temp dir)")
    p.add_argument("--skip-separate", action="store_true", help="only export_all, not each format alone")
    args = p.parse_args()

    import kpis
    import review

    print(f"machine: {platform.machine()} · {os.cpu_count()} cores · python {platform.python_version()}")
    print(f"load before: {os.getloadavg()}")
    counts: collections.Counter = collections.Counter()
    _count_calls(counts)
    con = kpis.connect(str(args.db), read_only=True)
    pack, w, c = _timed(lambda: review.build_review(con, period=args.period, profile=args.profile,
                                                    commentary={}))
    print(f"build_review: {w:6.2f} s wall, {c:6.2f} s CPU")
    repeated = {k: n for k, n in counts.items() if n > 1}
    print(f"queries during the build: {sum(counts.values())} calls, {len(counts)} distinct"
          + (f"; repeated: {repeated}" if repeated else ""))
    for k, n in sorted(counts.items()):
        print(f"  {n} x {k}")
    for chart_id, n in _points(pack):
        if n > 200:
            print(f"  chart {chart_id}: {n:,} points")

    out = args.out or Path(tempfile.mkdtemp(prefix="bench_review_"))
    out.mkdir(parents=True, exist_ok=True)
    if not args.skip_separate:
        for suffix in (".html", ".pdf", ".pptx"):
            path = out / f"pack{suffix}"
            _, w, c = _timed(lambda: review.export_all(pack, [path]))
            print(f"export {suffix:5}: {w:6.2f} s wall, {c:6.2f} s CPU, {path.stat().st_size / 1e6:7.2f} MB")
    paths = [out / f"all{s}" for s in (".html", ".pdf", ".pptx")]
    _, w, c = _timed(lambda: review.export_all(pack, paths))
    print(f"export_all (html+pdf+pptx): {w:6.2f} s wall, {c:6.2f} s CPU; "
          + ", ".join(f"{q.suffix} {q.stat().st_size / 1e6:.2f} MB" for q in paths))
    print(f"files in {out}")
    print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
