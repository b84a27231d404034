"""The charts show what is judged: the judged series first, in its status colours and on the scale; target
bands between their bounds, named in the target's words; the period in progress marked 'to date'."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kpis import charts
from kpis.targets import attach_targets, load_profile

# every chart a test here builds is checked against plotly's validated figure (conftest.checked_charts)
pytestmark = pytest.mark.usefixtures("checked_charts")

GREEN, AMBER, RED = (charts.STATUS_COLOURS[s] for s in ("green", "amber", "red"))


class Fake:
    """An engine that answers scoped recomputations from a dict: (period, severity-scoped?) -> (value, n)."""

    def __init__(self, values):
        self.values = values

    def __call__(self, con, grain="month", by=None, start=None, end=None, filters=None, kpis=None, **more):
        from kpis import periods

        rows = []
        for s in periods.spine(start, end, grain):
            label = periods.label(s, grain)
            for kpi in kpis:
                value, n = self.values[(label, bool((filters or {}).get("severity")))]
                rows.append({"period": label, "kpi": kpi, "value": value, "n": n, "unit": "hours"})
        return pd.DataFrame(rows, columns=["period", "kpi", "value", "n", "unit"])


def frame(rows):
    return pd.DataFrame(rows, columns=["period", "kpi", "value", "n", "unit"])


@pytest.fixture
def mttr():
    """senior's MTTR target (<1–4 h, sev1 and sev2 incidents): all incidents 3, 5, 8 h; sev1/sev2 0.5, 2, 30 h."""
    scoped = {"2026-08": 0.5, "2026-09": 2.0, "2026-10": 30.0}
    every = {"2026-08": 3.0, "2026-09": 5.0, "2026-10": 8.0}
    values = {(p, True): (v, 2) for p, v in scoped.items()} | {(p, False): (v, 9) for p, v in every.items()}
    df = frame([(p, "mttr_hours", v, 9, "hours") for p, v in every.items()])
    return attach_targets(None, df, load_profile("senior"), grain="month", compute=Fake(values))


def test_the_judged_series_is_primary_in_its_status_colours_and_on_the_scale(mttr):
    fig = charts.trend(mttr, ["mttr_hours"], "MTTR", names={"mttr_hours": "MTTR"})
    judged = fig.data[0]
    assert judged.name == "MTTR, sev1, sev2 incidents — judged"
    assert list(judged.y) == [0.5, 2.0, 30.0]
    # 0.5 h < 1 h green; 2 h within 1–4 h amber; 30 h > 4 h red
    assert list(judged.marker.color) == [GREEN, AMBER, RED]
    # the all-incident line is secondary: thin, grey, dotted, and says it is not judged
    context = next(t for t in fig.data if t.name == "MTTR, all (not judged)")
    assert context.line.color == charts.SECONDARY and context.line.width < judged.line.width
    assert context.marker.color is None or set(context.marker.color) == {charts.SECONDARY}
    # nothing clipped: the judged 30 h lies under the top of the axis (the all-incident max is 8 h)
    low, top = fig.layout.yaxis.range
    assert low <= 0.5 and top >= 30.0


def test_a_range_band_runs_between_its_bounds_and_the_legend_names_it():
    # senior lead time "Median 2–6 weeks": band 2 x 7 = 14 to 6 x 7 = 42 days (values above 72 h: a days axis)
    df = frame([("2026-09", "lead_time_median_hours", 240.0, 5, "hours"),
                ("2026-10", "lead_time_median_hours", 1200.0, 5, "hours")])
    out = attach_targets(None, df, load_profile("senior"), grain="month", compute=Fake({}))
    fig = charts.trend(out, ["lead_time_median_hours"], "Lead time")
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(bands) == 2
    assert all((s.y0, s.y1) == (14.0, 42.0) for s in bands)
    names = [t.name for t in fig.data]
    assert "target 2–6 weeks (below also green)" in names
    # 240 h = 10 d (below 2 weeks, green as the target says); 1200 h = 50 d, above 6 weeks: red
    assert list(fig.data[0].y) == [10.0, 50.0] and list(fig.data[0].marker.color) == [GREEN, RED]
    assert fig.layout.yaxis.range[1] >= 50.0


def test_the_period_in_progress_is_hollow_dotted_and_ticked_to_date(mttr):
    fig = charts.trend(mttr, ["mttr_hours"], "MTTR", partial="2026-10")
    ticks = dict(zip(fig.layout.xaxis.tickvals, fig.layout.xaxis.ticktext))
    assert ticks == {"2026-08": "2026-08", "2026-09": "2026-09", "2026-10": "2026-10 (to date)"}
    judged, to_date = fig.data[0], fig.data[1]
    assert list(judged.y) == [0.5, 2.0, None]  # the solid line stops at the last whole month
    assert list(to_date.x) == ["2026-09", "2026-10"] and list(to_date.y) == [2.0, 30.0]
    assert to_date.line.dash == "dot" and to_date.marker.symbol == "circle-open"
    assert to_date.marker.color == RED and to_date.showlegend is False
    assert fig.layout.yaxis.range[1] >= 30.0


def test_the_period_the_data_begins_in_is_hollow_dotted_and_ticked_from_its_first_day(mttr):
    # the data begins on 2026-08-20: August holds 12 of its 31 days, drawn like the period in progress but at the
    # start, and October is in progress too
    fig = charts.trend(mttr, ["mttr_hours"], "MTTR", partial="2026-10", first=("2026-08", "from 08-20"))
    ticks = dict(zip(fig.layout.xaxis.tickvals, fig.layout.xaxis.ticktext))
    assert ticks == {"2026-08": "2026-08 (from 08-20)", "2026-09": "2026-09", "2026-10": "2026-10 (to date)"}
    judged = fig.data[0]
    assert list(judged.y) == [None, 2.0, None]  # the solid line holds the whole months only
    group = [t for t in fig.data if t.legendgroup == judged.name and t is not judged]
    lead, to_date = group[0], group[1]
    assert list(lead.x) == ["2026-08", "2026-09"] and list(lead.y) == [0.5, 2.0]
    assert lead.line.dash == "dot" and lead.marker.symbol == "circle-open" and lead.showlegend is False
    assert list(lead.marker.size) == [12, 0]  # the hollow marker on August only (size 9 + 3)
    assert "(from 08-20)" in lead.hovertemplate
    assert list(to_date.x) == ["2026-09", "2026-10"] and list(to_date.y) == [2.0, 30.0]


def test_a_period_both_begun_late_and_in_progress_says_both():
    df = pd.DataFrame({"period": ["2026-11"], "team": ["a"], "value": [4]})
    fig = charts.stacked_bars(df, x="period", y="value", colour="team", title="t", y_title="n", partial="2026-11",
                              first=("2026-11", "from 11-05"))
    assert list(fig.layout.xaxis.ticktext) == ["2026-11 (from 11-05, to date)"]
    assert list(fig.data[0].marker.pattern.shape) == ["/"]


def test_bars_and_cost_of_the_period_the_data_begins_in_are_hatched():
    df = pd.DataFrame({"period": ["2025-05", "2025-06", "2025-05", "2025-06"], "team": ["a", "a", "b", "b"],
                       "value": [1, 5, 2, 6]})
    fig = charts.stacked_bars(df, x="period", y="value", colour="team", title="t", y_title="n",
                              first=("2025-05", "from 05-20"))
    for trace in fig.data:
        assert dict(zip(trace.x, trace.marker.pattern.shape)) == {"2025-05": "/", "2025-06": ""}
        assert trace.marker.pattern.shape[0] == ""  # the legend's swatch (the first bar's) stays plain
    assert list(fig.layout.xaxis.ticktext) == ["2025-05 (from 05-20)", "2025-06"]
    assert list(fig.layout.xaxis.categoryarray) == ["2025-05", "2025-06"]  # the axis in the periods' order
    cv = frame([("2025-05", "inference_cost", 30.0, 3, "USD"), ("2025-06", "inference_cost", 90.0, 3, "USD"),
                ("2025-05", "predictions", 2e5, 3, "predictions"), ("2025-06", "predictions", 6e5, 3, "predictions")])
    fig = charts.cost_and_volume(cv, "cost", first=("2025-05", "from 05-20"))
    assert dict(zip(fig.data[0].x, fig.data[0].marker.pattern.shape)) == {"2025-05": "/", "2025-06": ""}
    assert fig.data[-1].line.dash == "dot" and list(fig.data[-1].x) == ["2025-05", "2025-06"]
    assert list(fig.layout.xaxis.ticktext) == ["2025-05 (from 05-20)", "2025-06"]


def test_bars_of_the_period_in_progress_are_hatched():
    df = pd.DataFrame({"period": ["2026-10", "2026-11", "2026-10", "2026-11"], "team": ["a", "a", "b", "b"],
                       "value": [3, 1, 2, 2]})
    fig = charts.stacked_bars(df, x="period", y="value", colour="team", title="t", y_title="n", partial="2026-11")
    for trace in fig.data:
        assert list(trace.marker.pattern.shape) == ["", "/"]
    assert list(fig.layout.xaxis.ticktext) == ["2026-10", "2026-11 (to date)"]


def test_error_budget_bars_take_their_status_and_the_period_in_progress_is_hatched():
    df = frame([("2026-09", "error_budget_remaining", 0.4, 30, "ratio"),
                ("2026-10", "error_budget_remaining", 0.1, 31, "ratio"),
                ("2026-11", "error_budget_remaining", -0.3, 20, "ratio")])
    out = attach_targets(None, df, load_profile("senior"), grain="month", compute=Fake({}))
    fig = charts.error_budget(out, "Error budget", slo=0.999, partial="2026-11")
    bars = fig.data[0]
    # 40% left: green (>= 25%); 10%: amber; -30%: overspent, red
    assert list(bars.marker.color) == [GREEN, AMBER, RED]
    assert list(bars.marker.pattern.shape) == ["", "", "/"]
    assert list(fig.layout.xaxis.ticktext)[-1] == "2026-11 (to date)"
    assert any(math.isclose(s.y0, 25.0) for s in fig.layout.shapes)  # the green bound, 25% left
    assert fig.data[1].name == "target ≥ 25% (amber ≥ 0%): green above the line"


def test_sparkline_and_cost_and_volume_mark_the_period_in_progress():
    rows = frame([("2026-09", "change_failure_rate", 0.1, 10, "ratio"),
                  ("2026-10", "change_failure_rate", 0.2, 10, "ratio")])
    fig = charts.sparkline(rows, "red", partial="2026-10")
    assert fig.data[-1].marker.symbol == "circle-open" and fig.data[-1].line.dash == "dot"

    cv = frame([("2026-10", "inference_cost", 100.0, 3, "USD"), ("2026-11", "inference_cost", 40.0, 3, "USD"),
                ("2026-10", "predictions", 1e6, 3, "predictions"), ("2026-11", "predictions", 5e5, 3, "predictions")])
    fig = charts.cost_and_volume(cv, "cost", partial="2026-11")
    assert list(fig.data[0].marker.pattern.shape) == ["", "/"]
    assert fig.data[-1].line.dash == "dot" and fig.data[-1].yaxis == "y2"
    assert list(fig.layout.xaxis.ticktext) == ["2026-10", "2026-11 (to date)"]


def test_a_long_weekly_axis_keeps_about_twenty_ticks_and_the_one_to_date():
    # 80 weeks: every 4th tick counted back from the last (ceil(80 / 24) = 4), so the week in progress has its own
    from datetime import date

    from kpis import periods

    weeks = [periods.label(periods.shift(date(2025, 5, 5), "week", i), "week") for i in range(80)]
    df = frame([(w, "incident_count", 3.0, 3, "count") for w in weeks])
    fig = charts.trend(df, ["incident_count"], "Incidents", partial=weeks[-1])
    assert len(fig.layout.xaxis.tickvals) == 20
    assert fig.layout.xaxis.tickvals[-1] == weeks[-1] and fig.layout.xaxis.ticktext[-1] == f"{weeks[-1]} (to date)"


def test_the_kpi_with_a_target_leads_though_listed_second():
    # lead judges training_success_rate (>95–99%), not pipeline_success_rate: 0.97 is amber (95–99%)
    df = frame([("2026-10", "pipeline_success_rate", 0.98, 50, "ratio"),
                ("2026-10", "training_success_rate", 0.97, 20, "ratio")])
    out = attach_targets(None, df, load_profile("lead"), grain="month", compute=Fake({}))
    fig = charts.trend(out, ["pipeline_success_rate", "training_success_rate"], "Pipelines",
                       names={"pipeline_success_rate": "all pipelines", "training_success_rate": "training"})
    assert fig.data[0].name == "training" and list(fig.data[0].marker.color) == [AMBER]
    assert fig.data[1].name == "all pipelines" and fig.data[1].line.width < fig.data[0].line.width
    # plotly text: ">" is written as an entity, which plotly draws as ">"
    assert "target &gt; 99% (amber ≥ 95%)" in [t.name for t in fig.data]


MARKUP = '<a href="http://evil.example/">x</a> & <b>y</b><br><img src=x>'


def test_names_from_the_data_are_plotly_text_not_markup():
    """Plotly draws <a href>, <b>, <br> and entities in legends, ticks, hover labels and titles: a team, a
    service, a run or a currency from the data is escaped (and shown as typed); the review's slides unescape."""
    import html
    import json

    from review import pptx as review_pptx

    by_team = pd.DataFrame({"period": ["2026-09", "2026-10"] * 2, "team": [MARKUP] * 2 + ["plain"] * 2,
                            "kpi": "deployment_count", "value": [3.0, 4.0, 1.0, 2.0], "n": [3, 4, 1, 2],
                            "unit": "count"})
    figs = [charts.trend(by_team, ["deployment_count"], f"Deployments of {MARKUP}", by="team"),
            charts.stacked_bars(by_team, x="period", y="value", colour="team", title=MARKUP, y_title="deployments"),
            charts.ranked_bars(pd.DataFrame({"service": [MARKUP, "b"], "incidents": [3, 1]}), "service", "incidents",
                               "Incidents", MARKUP)]
    def strings(x):  # every text of the figure as plotly.js receives it
        if isinstance(x, dict):
            return [s for v in x.values() for s in strings(v)]
        if isinstance(x, list):
            return [s for v in x for s in strings(v)]
        return [x] if isinstance(x, str) else []

    for fig in figs:
        texts = strings(json.loads(fig.to_json()))
        assert not [t for t in texts if "<a href" in t or "<b>y" in t or "<img" in t]  # no markup reaches plotly
        assert [t for t in texts if MARKUP in html.unescape(t)]  # the name, shown as typed
    # the slides show the names as typed
    kind, categories, series, _, _ = review_pptx.native_chart(figs[1])
    assert MARKUP in [name for name, _, _ in series]


def test_prediction_volume_axis_names_its_scale_and_hover_writes_counts_in_full():
    df = frame([("2026-09", "inference_cost", 1200.0, 30, "USD"), ("2026-10", "inference_cost", 1500.0, 31, "USD"),
                ("2026-09", "predictions", 2_100_000_000.0, 30, "predictions"),
                ("2026-10", "predictions", 925_000_000.0, 31, "predictions")])
    fig = charts.cost_and_volume(df, "cost and volume")
    assert fig.layout.yaxis2.title.text == "predictions (billions)"
    assert "s" not in fig.layout.yaxis2.tickformat  # never SI: no '925M' / '2.1G'
    volume = next(t for t in fig.data if t.yaxis == "y2")
    assert list(volume.y) == pytest.approx([2.1, 0.925])  # 2.1e9 and 9.25e8 in billions
    assert list(volume.text) == ["2,100,000,000", "925,000,000"]


def test_sparkline_shows_negative_values_and_zooms_on_values_near_the_top():
    budget = frame([(f"2026-{m:02d}", "error_budget_remaining", v, 30, "ratio")
                    for m, v in ((8, -0.2), (9, -0.9), (10, -0.65))])
    lo, hi = charts.sparkline(budget, "red").layout.yaxis.range
    assert lo <= -90 and hi >= 0  # -90% (overspent) is on the chart, not cut off at 0
    avail = frame([(f"2026-{m:02d}", "availability", v, 30, "ratio") for m, v in ((8, 0.998), (9, 0.9981), (10, 0.9983))])
    lo, hi = charts.sparkline(avail, "red").layout.yaxis.range
    assert 99 < lo < 99.8 and 99.83 < hi < 100.1  # zoomed around 99.8-99.83%, not 0-115%


def test_every_figure_is_drawn_on_the_white_template(mttr, monkeypatch):
    # charts.TEMPLATE is set on each figure, whatever plotly's default (`import streamlit` makes it Streamlit's
    # own template, without white paper): white paper and plot
    import plotly.io as pio

    monkeypatch.setattr(pio.templates, "default", "streamlit" if "streamlit" in pio.templates else "plotly")
    rows = mttr.copy()
    for fig in (charts.sparkline(rows, "red"), charts.trend(rows, ["mttr_hours"], "MTTR")):
        template = fig.to_plotly_json()["layout"]["template"]["layout"]
        assert template["paper_bgcolor"] == "white" and template["plot_bgcolor"] == "white"


def test_the_unvalidated_charts_send_what_plotly_validates(sample_db, checked_charts):
    """kpis.charts skips plotly's validation (half of a chart's build): the sample review's charts (every
    trend, cost and volume, error budget, training runs) and a sparkline send the same JSON as the validated
    figures, and plotly knows every property they set (checked_charts builds each both ways)."""
    import kpis
    from review import model

    con = kpis.connect(sample_db, read_only=True)
    try:
        review = model.build_review(con, "2026-09", profile="lead")
    finally:
        con.close()
    drawn = {c.id for s in review.sections for c in s.charts}
    assert {"cost-cost_and_volume", "cost-training_runs"} <= drawn
    rows = pd.DataFrame({"kpi": "mttr_hours", "unit": "hours", "period": ["2026-08", "2026-09"], "value": [3.0, None],
                         "status": "green", "green_low": None, "green_high": 4.0})
    charts.sparkline(rows, "green", partial="2026-09")
    assert len(checked_charts) == len(drawn) + 1


def test_a_flat_line_is_zoomed_to_ticks_that_read_differently():
    # 7 deployment days a week every month: zoomed to 7 +- 0.014 the ticks 6.99, 7.00, 7.01 all read "7" in
    # the axis' one-decimal format (",.1~f"); the axis now spans two steps of that format (6.9-7.1), a tick on
    # each step
    rows = pd.DataFrame([{"period": f"2026-0{i}", "kpi": "deployment_days_per_week", "value": 7.0, "n": 50,
                          "unit": "per_week"} for i in range(1, 7)])
    axis = charts.trend(rows, ["deployment_days_per_week"], "Deployment days").layout.yaxis
    assert axis.tickformat == ",.1~f" and axis.dtick == pytest.approx(0.1)
    lo, hi = axis.range
    assert lo == pytest.approx(6.9) and hi == pytest.approx(7.1)
    ticks = [round(lo + k * axis.dtick, 6) for k in range(3)]
    assert [f"{t:,.1f}" for t in ticks] == ["6.9", "7.0", "7.1"]
    # a value near zero keeps the axis above it: 0.3 -> 0.2-0.4
    rows["value"] = 0.3
    assert charts.trend(rows, ["deployment_days_per_week"], "Deployment days").layout.yaxis.range == \
        pytest.approx((0.2, 0.4))
    # values that vary keep their zoom and plotly's ticks
    rows["value"] = [5.5, 6.0, 6.5, 7.0, 7.5, 8.0]
    axis = charts.trend(rows, ["deployment_days_per_week"], "Deployment days").layout.yaxis
    assert axis.dtick is None and axis.range == pytest.approx((4.25, 9.25))
