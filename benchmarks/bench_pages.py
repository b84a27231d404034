"""Page render times on a large database: first visit (cold cache) and later visits.

Each page of app.py is run with streamlit.testing.v1.AppTest, in this process;
the time is the app's own measure of its script run (app.py stores it in
session state): the sidebar, the KPI queries, the figure building and the
element tree, not the browser's drawing nor AppTest's start-up. The first
run of a page fills the st.cache_data caches; the second and third runs are
what a user sees when coming back to the page or changing a widget back.

    python benchmarks/bench_engine.py --workdir /tmp/kb --keep      # builds /tmp/kb/kpi_bench.duckdb
    python benchmarks/bench_pages.py --db /tmp/kb/kpi_bench.duckdb

Goal (issue 3): every page under 3 s after the first visit. Without --db the
bundled sample data is loaded into a temporary database.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = [
    ("Scorecard", "app_pages/scorecard.py"),
    ("Delivery", "app_pages/delivery.py"),
    ("Reliability", "app_pages/reliability.py"),
    ("Cost", "app_pages/cost.py"),
    ("Serving & pipelines", "app_pages/serving.py"),
    ("Review", "app_pages/review.py"),
    ("Data", "app_pages/data.py"),
]


def time_page(page: str, runs: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    times = []
    for _ in range(runs):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.run()
        if page != "app_pages/scorecard.py":
            at.switch_page(page)
            at.run()
        # The app's own measure of its script run (sidebar + page), without AppTest's overhead.
        times.append(at.session_state["_render_seconds"])
        if at.exception:
            raise SystemExit(f"{page}: {at.exception[0].value}")
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", type=Path, help="database to render (default: the sample data in a temp database)")
    p.add_argument("--runs", type=int, default=3, help="runs per page; the first is the cold one (default 3)")
    args = p.parse_args()

    import duckdb

    import kpis

    if args.db is None:
        tmp = Path(tempfile.mkdtemp())
        args.db = tmp / "sample.duckdb"
        con = kpis.connect(args.db)
        kpis.ingest_files(con, [ROOT / "sample_data"])
        con.close()
    os.environ["KPI_DB"] = str(args.db)
    con = kpis.connect(args.db, read_only=True)
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("deployments", "incidents", "costs", "predictions", "pipeline_runs", "models")}
    con.close()

    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"duckdb {duckdb.__version__}, load average {os.getloadavg()[0]:.1f}")
    print("database: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    print(f"{'page':<22} {'first visit s':>14} {'later visits s (median)':>24}  goal < 3 s")
    worst = 0.0
    for title, page in PAGES:
        times = time_page(page, args.runs)
        later = statistics.median(times[1:]) if len(times) > 1 else float("nan")
        worst = max(worst, later)
        print(f"{title:<22} {times[0]:>14.2f} {later:>24.2f}  {'met' if later < 3 else 'MISSED'}")
    print(f"slowest later visit: {worst:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
