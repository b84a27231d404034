"""A review pack of a large organisation stays small, and its charts still show the outliers.

The sample database gets 3,000 more training runs (seeded, 150 to 1,500 USD
each) and five planted ones at 40,000 to 80,000 USD, so the 2026-Q3 review's
run chart covers more runs than ``charts.MAX_CHART_POINTS``. Before the cap,
every run was a marker with its hover text: a 24 MB pack on the benchmark
data, 20 MB of it this one chart.
"""

from __future__ import annotations

import collections
import csv
import functools
import json
import random
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

import kpis
import review
from kpis import charts, details, drivers, engine, targets
from review import figures
from review import html as review_html

PERIOD, PROFILE = "2026-Q3", "lead"
EXTRA_RUNS = 3000
PLANTED = {"planted-outlier-1": 80_000.0, "planted-outlier-2": 65_000.0, "planted-outlier-3": 55_000.0,
           "planted-outlier-4": 45_000.0, "planted-outlier-5": 40_000.0}
FIGURES_JSON_BYTES = 400_000  # every chart's data together: 16 trend charts of ~12 kB, the run chart ~200 kB
HTML_BYTES = 2_000_000  # the whole pack: plotly.js's basic build (1.2 MB), the charts, the tables


@pytest.fixture(scope="module")
def many_runs_db(sample_db, tmp_path_factory) -> Path:
    """The sample data plus EXTRA_RUNS training runs and the PLANTED outliers (from a source of their own, so
    they add to the sample's cost lines rather than replace them)."""
    folder = tmp_path_factory.mktemp("many_runs")
    path = folder / "kpi.duckdb"
    shutil.copy(sample_db, path)
    rng = random.Random(7)
    first = date(2025, 6, 1)
    days = (date(2026, 9, 30) - first).days
    rows = [(f"bulk-run-{i:05d}", round(rng.uniform(150, 1500), 2)) for i in range(EXTRA_RUNS)]
    rows += list(PLANTED.items())
    lines = folder / "training_costs.csv"
    with lines.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["date", "amount", "service", "team", "category", "run_id", "currency", "source"])
        for i, (run_id, amount) in enumerate(rows):
            day = first + timedelta(days=rng.randrange(days + 1)) if not run_id.startswith("planted") \
                else date(2026, 8, 3 + i % 5)
            w.writerow([day.isoformat(), amount, "fraud-scoring", "risk", "training", run_id, "USD", "bulk-training"])
    con = kpis.connect(path)
    try:
        kpis.ingest_files(con, [lines])
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def counted_build(many_runs_db):
    """(the review, the engine and details queries its build made, counted by their arguments)."""
    counts: collections.Counter = collections.Counter()
    patch = pytest.MonkeyPatch()

    def wrap(module, name):
        fn = getattr(module, name)

        @functools.wraps(fn)
        def counted(*args, **kwargs):
            counts[(module.__name__, name, json.dumps([args[1:], kwargs], default=str, sort_keys=True))] += 1
            return fn(*args, **kwargs)

        patch.setattr(module, name, counted)

    for module, name in ((engine, "compute"), (targets, "compute_with_targets"), (drivers, "drivers"),
                         (details, "training_runs"), (details, "training_run_chart"), (details, "deployments"),
                         (details, "incidents"),
                         (details, "prediction_count_kinds")):
        wrap(module, name)
    con = kpis.connect(many_runs_db, read_only=True)
    try:
        built = review.build_review(con, period=PERIOD, profile=PROFILE, commentary={})
        runs = details.training_runs(con, date(2025, 4, 1), date(2026, 10, 1))
    finally:
        con.close()
        patch.undo()
    return built, counts, runs


def _runs_chart(built: review.Review) -> review.Chart:
    return next(c for c in built.section("cost").charts if c.id == "cost-training_runs")


def test_the_run_chart_draws_at_most_the_cap_and_every_outlier(counted_build):
    built, _, runs = counted_build
    assert len(runs) > charts.MAX_CHART_POINTS  # the window's runs: more than one chart should draw
    chart = _runs_chart(built)
    markers = [t for t in chart.figure.data if t.mode == "markers"]
    assert sum(len(t.x) for t in markers) <= charts.MAX_CHART_POINTS
    # Every outlier of the window is a point (fewer of them than the cap here), the planted ones among them.
    drawn = {text.split(" · ")[0] for t in markers if t.name == "outlier run" for text in t.text}
    outliers = set(runs.loc[runs["outlier"], "run_id"])
    assert 0 < len(outliers) <= charts.MAX_CHART_POINTS
    assert drawn == outliers
    assert set(PLANTED) <= drawn
    # The others are summarised, not dropped: the per-week range holds the cheapest and costliest of them.
    rest = runs[~runs["outlier"]]
    band = next(t for t in chart.figure.data if t.name == "other runs, range per week")
    low = next(t for t in chart.figure.data if t.fill is None and t.mode == "lines" and t.showlegend is False)
    assert [t.name for t in chart.figure.data if t.showlegend is not False] == ["other runs: median, range per week",
                                                                               "outlier run"]
    assert max(band.y) == pytest.approx(rest["cost"].max())
    assert min(low.y) == pytest.approx(rest["cost"].min())
    # The caption says what is drawn of how many.
    assert chart.caption == (f"{len(outliers):,} outlier runs drawn one by one; the other {len(rest):,} of "
                             f"{len(runs):,} runs as their median and range per week.")


def test_no_chart_of_the_pack_holds_more_than_the_cap(counted_build):
    built, _, _ = counted_build
    for section in built.sections:
        for chart in section.charts:
            for trace in chart.figure.data:
                assert len(trace.x if trace.x is not None else ()) <= charts.MAX_CHART_POINTS, chart.id


def test_the_pack_stays_small(counted_build):
    built, _, _ = counted_build
    specs = {c.id: figures.spec(c.figure) for s in built.sections for c in s.charts}
    assert len(figures.script_json(specs).encode()) < FIGURES_JSON_BYTES
    page = review_html.render(built)
    assert len(page.encode()) < HTML_BYTES
    assert "planted-outlier-1" in page
    assert _runs_chart(built).caption in page.replace("&#x27;", "'")


def test_the_build_asks_each_query_once(counted_build):
    _, counts, _ = counted_build
    repeated = {k: n for k, n in counts.items() if n > 1}
    assert not repeated
    # One compute for the trends and the scorecard (with the targets' scoped values), one per driver
    # breakdown, one for the events' cost changes; the run chart and the outlier table differ in range.
    assert sum(1 for k in counts if k[1] == "compute_with_targets") == 1


# Fifteen runs of 2026-07 and one of January. Of the July runs (sorted: 8, 9, 10, 10, 10, 10, 10, 10.5, 11, 11,
# 11.5, 12, 70, 80, 90), Q1 is at position 3.5 (10, 10: 10) and Q3 at 10.5 (11.5, 12: 11.75): IQR 1.75, fence
# 11.75 + 1.5 x 1.75 = 14.375, so c70, c80 and c90 are outliers.
RUNS_CSV = "date,amount,service,team,category,run_id,currency\n" + "".join(
    f"{day},{cost},svc-{run[0]},team-a,training,{run},USD\n" for day, run, cost in (
        [("2026-07-01", f"a{i}", c) for i, c in enumerate([8, 9, 10, 10, 10, 10])] + [("2026-07-01", "c70", 70)]
        + [("2026-07-02", f"b{i}", c) for i, c in enumerate([10, 10.5, 11, 11, 11.5, 12])]
        + [("2026-07-03", "c80", 80), ("2026-07-03", "c90", 90), ("2026-01-07", "early", 10)]))
JULY, AUGUST = date(2026, 7, 1), date(2026, 8, 1)


@pytest.fixture(scope="module")
def runs_con(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run_chart")
    (folder / "training.csv").write_text(RUNS_CSV)
    con = kpis.connect(folder / "kpi.duckdb")
    kpis.ingest_files(con, [folder / "training.csv"])
    yield con
    con.close()


def test_a_small_run_chart_draws_every_run(runs_con):
    chart = details.training_run_chart(runs_con, JULY, AUGUST)
    # 15 runs, fewer than the cap: each one a point, costliest first, no bins; the counts and fence as above.
    assert (chart.runs, chart.outliers, chart.binned, chart.fence) == (15, 3, 0, pytest.approx(14.375))
    assert chart.bins.empty and list(chart.drawn["run_id"][:3]) == ["c90", "c80", "c70"]
    assert chart.drawn["service"].iloc[0] == "svc-c"  # the drawn runs are named
    fig = charts.training_runs(chart, "runs")
    assert [(t.name, len(t.x)) for t in fig.data] == [("run", 12), ("outlier run", 3)]
    assert charts.training_runs_caption(chart) == ""
    # The same runs, costs and fence as the run table's query
    table = details.training_runs(runs_con, JULY, AUGUST)
    assert sorted(chart.drawn["run_id"]) == sorted(table["run_id"])
    assert chart.fence == pytest.approx(table["outlier_threshold"].iloc[0])


def test_past_the_cap_only_the_costliest_outliers_are_points(runs_con, monkeypatch):
    import pandas as pd

    monkeypatch.setattr(details, "RUN_CHART_POINTS", 2)
    chart = details.training_run_chart(runs_con, JULY, AUGUST)
    fig = charts.training_runs(chart, "runs")
    points = next(t for t in fig.data if t.name == "outlier run")
    assert sorted(points.y) == [80.0, 90.0]  # the two costliest outliers; c70 is in its day's range
    assert [t.name for t in fig.data if t.showlegend is not False] == ["other runs: median, range per day",
                                                                      "outlier run"]
    band = next(t for t in fig.data if t.name == "other runs, range per day")
    low = next(t for t in fig.data if t.mode == "lines" and t.showlegend is False and t.fill is None)
    median = next(t for t in fig.data if t.name == "other runs: median, range per day")
    # 07-01: 8, 9, 10, 10, 10, 10 and c70 (min 8, median the 4th of 7: 10, max 70);
    # 07-02: 10, 10.5, 11, 11, 11.5, 12 (min 10, median (11 + 11) / 2 = 11, max 12).
    assert list(low.x) == [pd.Timestamp("2026-07-01"), pd.Timestamp("2026-07-02")]
    assert (list(low.y), list(median.y), list(band.y)) == ([8.0, 10.0], [10.0, 11.0], [70.0, 12.0])
    assert list(median.text) == ["day 2026-07-01: 7 runs, median $10.00, $8.00 – $70.00",
                                 "day 2026-07-02: 6 runs, median $11.00, $10.00 – $12.00"]
    assert charts.training_runs_caption(chart) == ("The 2 costliest of 3 outlier runs drawn one by one; the other "
                                                   "13 of 15 runs as their median and range per day.")


def test_runs_spread_over_more_than_a_quarter_are_binned_per_week(runs_con, monkeypatch):
    monkeypatch.setattr(details, "RUN_CHART_POINTS", 2)
    chart = details.training_run_chart(runs_con, date(2026, 1, 1), AUGUST)
    # With January's run (10 on Wednesday 2026-01-07), 16 runs: Q1 at position 3.75 (10), Q3 at 11.25 (11.5 +
    # 0.25 x 0.5 = 11.625), IQR 1.625, fence 14.0625: the same three outliers, the two costliest drawn. The 14
    # others start 176 days apart (> 92): per week, each bin the Monday of its week.
    assert (chart.per, chart.runs, chart.outliers, chart.binned) == ("week", 16, 3, 14)
    assert chart.fence == pytest.approx(14.0625)
    bins = chart.bins
    assert [f"{d:%Y-%m-%d}" for d in bins["bin"]] == ["2026-01-05", "2026-06-29"]
    # 2026-06-29's week: the 13 July runs not drawn, sorted 8 ... 70, the 7th of them 10
    assert bins[["min", "median", "max", "size"]].values.tolist() == [[10, 10, 10, 1], [8, 10, 70, 13]]
    assert charts.training_runs_caption(chart) == ("The 2 costliest of 3 outlier runs drawn one by one; the other "
                                                   "14 of 16 runs as their median and range per week.")


def test_a_run_chart_of_no_runs_is_empty(runs_con):
    chart = details.training_run_chart(runs_con, date(2030, 1, 1), date(2030, 2, 1))
    assert chart.empty and chart.drawn.empty and chart.bins.empty and chart.fence is None
    assert chart.currencies == () and charts.training_runs_caption(chart) == ""


def test_the_basic_plotly_build_is_the_version_plotly_ships():
    """A plotly upgrade must come with its basic build (review/static/README.md says how); until then the pack
    falls back to the full 4.8 MB bundle and test_the_pack_stays_small fails."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    assert review_html.basic_bundle_version() == get_plotlyjs_version()
    assert review_html.plotly_js(True).startswith("/**\n* plotly.js (basic - minified) v")
    assert review_html.plotly_js(False) == get_plotlyjs()
    assert review_html.basic_enough([{"data": [{"type": "bar"}, {"mode": "lines"}]}])
    assert not review_html.basic_enough([{"data": [{"type": "scatter"}, {"type": "box"}]}])
