"""Page render times on a large database: first visit (cold cache) and later visits.

Each page of app.py is run with streamlit.testing.v1.AppTest, in this process;
the time is the app's own measure of its script run (app.py stores it in
session state): the sidebar, the KPI queries, the figure building and the
element tree, not the browser's drawing nor AppTest's start-up. Each visit
opens the page's own link in a new session (the page is the session's first
run: no other page ran before it to fill the caches). A first visit starts
from empty caches; the page is visited that way three times (--first-visits)
and the median is reported with the range, since one run of the same page
varies by up to 50% on a shared machine. The later visits come after, with
the caches the first ones filled: a user coming back to the page or changing
a widget back.

    python benchmarks/bench_engine.py --workdir /tmp/kb --keep      # builds /tmp/kb/kpi_bench.duckdb
    python benchmarks/bench_pages.py --db /tmp/kb/kpi_bench.duckdb

Goals (issue 12): every page's first visit under 1.5 s at 1x (1M deployments,
10M cost lines, 10M prediction rows) and under 3 s at 3x; later visits under
0.5 s. Each page's first visit starts from empty caches (st.cache_data and
st.cache_resource are cleared first), as a user opening that page's link would find them after an
ingest. Every page is run once, untimed, before any is timed: the modules a
page imports (plotly, the review exporters, ...) are imported once per server
process, and without the warm-up the first page timed would carry them all
(`--no-warm-up` times that too). Without --db the bundled sample data is loaded
into a temporary database.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
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


GOAL_FIRST_S = 1.5
GOAL_FIRST_3X_S = 3.0
GOAL_LATER_S = 0.5


def visit(page: str) -> tuple[float, float]:
    """One run of the page's own link in a new session: (the app's own measure of its script run, CPU s)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.switch_page(page)  # the page's own link: its first run is the page (not the scorecard, then it)
    cpu0 = time.process_time()
    at.run()
    cpu = time.process_time() - cpu0  # this process: the script thread and DuckDB's threads
    if at.exception:
        raise SystemExit(f"{page}: {at.exception[0].value}")
    # The app's own measure of its script run (sidebar + page), without AppTest's overhead.
    return at.session_state["_render_seconds"], cpu


def time_page(page: str, first_visits: int, later_visits: int) -> tuple[list, list]:
    """(first visits, later visits), each a list of (seconds, CPU seconds)."""
    import streamlit as st

    firsts = []
    for _ in range(first_visits):
        st.cache_data.clear()  # a first visit: nothing cached by the pages timed before (nor the warm-up) ...
        st.cache_resource.clear()  # ... including the built review (app_pages/review.py caches it as a resource)
        firsts.append(visit(page))
    return firsts, [visit(page) for _ in range(later_visits)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", type=Path, help="database to render (default: the sample data in a temp database)")
    p.add_argument("--first-visits", type=int, default=3,
                   help="first visits per page, each from empty caches; the median is reported (default 3)")
    p.add_argument("--later-visits", type=int, default=2, help="later visits per page (default 2)")
    p.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                   help="time the first page with the process's imports (a server's very first request)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="the data's size as a multiple of bench_engine.py's defaults (3: the 3x goal applies)")
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

    if not any(counts.values()):
        raise SystemExit(f"{args.db} holds no rows: build it first (see the docstring)")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"duckdb {duckdb.__version__}, load average {os.getloadavg()[0]:.1f}")
    print("database: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    first_goal = GOAL_FIRST_3X_S if args.scale == 3 else GOAL_FIRST_S
    print(f"goals: first visit < {first_goal:g} s ({args.scale:g}x data), later visits < {GOAL_LATER_S:g} s")
    print(f"{'page':<22} {'first visit s (median, range)':>30} {'cpu s*':>7} {'later visits s (median)':>24}  goals")
    worst_first = worst_later = 0.0
    if args.warm_up:  # imports, once per process (the caches are cleared again before each timed first visit)
        for _, page in PAGES:
            time_page(page, 1, 0)
    for title, page in PAGES:
        firsts, laters = time_page(page, args.first_visits, args.later_visits)
        first = statistics.median(t for t, _ in firsts)
        cpu = statistics.median(c for _, c in firsts)
        later = statistics.median(t for t, _ in laters) if laters else float("nan")
        worst_first, worst_later = max(worst_first, first), max(worst_later, later)
        met = ("first " + ("met" if first < first_goal else "MISSED") + ", later "
               + ("met" if later < GOAL_LATER_S else "MISSED"))
        spread = f"{min(t for t, _ in firsts):.2f}-{max(t for t, _ in firsts):.2f}"
        print(f"{title:<22} {first:>18.2f} ({spread:>9}) {cpu:>7.2f} {later:>24.2f}  {met}")
    print("* cpu s: this process during a first visit, median (the script thread and DuckDB's threads)")
    print(f"slowest first visit: {worst_first:.2f} s; slowest later visit: {worst_later:.2f} s; "
          f"load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
