"""Cost: cost per 1k predictions vs target, inference cost with volume, training runs, MoM / YoY, unattributed cost."""

import streamlit as st

from kpis import charts, periods
from kpis import format as fmt
from ui import components, data, state

view = state.current()
components.page_header("Cost", view, f"Trends {components.span_text(view)}")
components.stop_if_no_data(view, "cost")

span = components.span_text(view)
COST = ["inference_cost", "predictions", "cost_per_1k_predictions", "training_cost_per_run"]


MAX_RUNS_TABLED = components.TABLE_ROWS_MAX  # the costliest runs, as many as a table draws
BACK = {"day": (1, 364, "previous day", "same weekday last year"),
        "week": (1, 52, "previous week", "same week last year"),
        "month": (1, 12, "previous month", "same month last year"),
        "quarter": (1, 4, "previous quarter", "same quarter last year")}
changes_args = view.compute_args(start=periods.shift(view.period_start, view.grain, -BACK[view.grain][1]),
                                 end=view.period_last_day, kpis=COST)
days_so_far = view.span_days(view.period)  # the period in progress: the same days of the earlier ones

# Every section's query, started now: each runs while the sections above it are drawn (ui.data.ahead).
cost_frame = data.ahead("compute", **view.compute_args(kpis=COST))  # the sections ask; cached
kinds_later = data.ahead("prediction_count_kinds", start=view.range_start, end=view.end_exclusive,
                         filters=view.filters)
per_service_later = data.ahead("compute", **view.compute_args(kpis=["cost_per_1k_predictions", "inference_cost"],
                                                              by="service"))
# The run chart: at most charts.MAX_CHART_POINTS runs one by one (the costliest outliers), the rest as a median
# and range per day or week, summarised in SQL (kpis.details.training_run_chart); its caption says how many of how
# many. The table: the costliest runs only, named (fetching and naming all of 100k+ runs took seconds).
run_chart_later = data.ahead("training_run_chart", start=view.range_start, end=view.end_exclusive,
                             filters=view.filters)
runs_later = data.ahead("training_runs", start=view.range_start, end=view.end_exclusive, filters=view.filters,
                        limit=MAX_RUNS_TABLED, named=MAX_RUNS_TABLED)
changes_later = data.ahead("compute", **changes_args)
changes_span_later = None if days_so_far is None else data.ahead(
    "compute", **{**changes_args, "span_days": days_so_far, "profile": None})
attribution_later = data.ahead("cost_attribution", start=view.range_start, end=view.end_exclusive,
                               filters=view.filters)


with components.section("Cost per 1k predictions"):
    st.subheader("Cost per 1k predictions")
    frame = cost_frame()
    kinds = kinds_later() or []
    if "requests" in kinds:
        st.caption("Some sources count serving requests, not predictions: for them the cost is per 1k requests.")
    components.trend_chart(frame, ["cost_per_1k_predictions"], view, key="cpk",
                           title="Cost per 1k predictions, all selected services — lower is better")
    per_service = per_service_later()
    if per_service is not None and per_service["value"].notna().any():
        spend = (per_service[per_service["kpi"] == "inference_cost"].groupby("service")["value"].sum()
                 .sort_values(ascending=False))
        options = [s for s in spend.index if isinstance(s, str)]
        chosen = st.multiselect("Services (the five with the highest inference cost by default)", options,
                                default=options[:5], key="cost_services")
        shown = per_service[(per_service["kpi"] == "cost_per_1k_predictions") & per_service["service"].isin(chosen)]
        if chosen:
            title = "Cost per 1k predictions per service — lower is better"
            if len(chosen) > 1:
                st.caption("Pick one service to see its own target band.")
            components.trend_chart(shown, ["cost_per_1k_predictions"], view, by="service", title=title,
                                   key="cpk-service")
        current = per_service[(per_service["period"] == view.period) & (per_service["kpi"] == "cost_per_1k_predictions")]
        keep = [c for c in ("service", "value", "unit", "n", "target", "status", "rule") if c in current]
        components.table(current[keep].dropna(subset=["value"]).sort_values("value", ascending=False),
                         f"cost per 1k predictions by service {view.period}", key="cpk-table",
                         kind="cost_per_1k_by_service",
                         empty=f"No inference cost and prediction volume in {view.period}.")

with components.section("Inference cost and prediction volume"):
    st.subheader("Inference cost and prediction volume")
    frame = cost_frame()
    if not components.no_data_message(["inference_cost", "predictions"], frame, span):
        components.chart(charts.cost_and_volume,
            frame, f"Inference cost (bars) and predictions (line) per {view.grain} — cost should grow slower "
                   "than volume", partial=view.in_progress, first=view.first_partial, key="cost-volume")

with components.section("Training cost per run"):
    st.subheader("Training cost per run")
    frame = cost_frame()
    left, right = st.columns(2)
    with left:
        components.trend_chart(frame, ["training_cost_per_run"], view, key="train")
    with right:
        run_chart = run_chart_later()
        if run_chart is None or run_chart.empty:
            st.info(f"No training runs with cost in {components.md_text(span)}.")
        else:
            components.chart(charts.training_runs, run_chart, "Cost per training run, outliers red — lower is better",
                             key="runs")
            caption = charts.training_runs_caption(run_chart)
            if caption:
                st.caption(caption)
    # The table: the costliest runs, named (a run's rank in its currency is no worse than its rank overall).
    tabled = runs = runs_later()
    if runs is not None and run_chart is not None and run_chart.runs > len(runs):
        # A large organisation has 100k+ runs in a range: tabling them all took seconds per rerun. The outliers
        # and the costliest runs are what a reviewer looks at; the counts are of all runs.
        tabled = runs.sort_values(["outlier", "cost"], ascending=[False, False])
        total, outliers = run_chart.runs, run_chart.outliers
        st.caption(f"The table lists the {MAX_RUNS_TABLED:,} costliest runs (outliers first) of {total:,}. "
                   f"Outliers among all {total:,}: {outliers:,}.")
    components.table(tabled, f"training runs {span}", key="runs-table", kind="training_runs",
                     empty=f"No training runs with cost in {span}.")

with components.section("Period-over-period change"):
    step, year, prev_word, year_word = BACK[view.grain]
    prev_label = periods.label(periods.shift(view.period_start, view.grain, -step), view.grain)
    year_label = periods.label(periods.shift(view.period_start, view.grain, -year), view.grain)
    short = {"day": ("DoD", "YoY"), "week": ("WoW", "YoY"), "month": ("MoM", "YoY"),
             "quarter": ("QoQ", "YoY")}[view.grain]
    st.subheader(f"{short[0]} and {short[1]} change: {view.period_text(view.period)} vs {prev_label} and {year_label}")
    changes = changes_later()
    changes_span = None if changes_span_later is None else changes_span_later()
    components.comparison_table(changes, COST, view.period, [prev_label, year_label], name=f"cost changes {view.period}",
                                key="cost-changes", earlier_names=[f"{prev_label} ({prev_word})",
                                                                    f"{year_label} ({year_word})"],
                                partial=view.in_progress, span_frame=changes_span)

with components.section("Unattributed cost"):
    # Cost lines no rule or tag could attribute (category 'other' or service 'unattributed', what the cost presets
    # write then): how much, what share, and where to add a tag or a mapping rule first.
    attribution = attribution_later()
    if attribution is None:
        st.warning("The unattributed cost is not available while the database is being updated.")
    elif attribution.empty:
        st.caption(f"No cost lines in {span} match the filters, so none is unattributed.")
    elif not attribution["unattributed_lines"].any():
        st.caption(f":material/check_circle: All cost lines are attributed in {span} (no category 'other', no service "
                   "'unattributed').")
    else:
        st.subheader(f"Unattributed cost, {span}")
        st.caption("Cost lines with category 'other' or service 'unattributed': what the cost presets write when no "
                   "rule or tag matches a line. Tag the resources (ml-service, ml-category) or add a rule to a mapping "
                   "file (docs/exports.md); until then these lines stay out of inference cost and cost per 1k "
                   "predictions.")
        shown = attribution[attribution["unattributed_lines"] > 0]
        cols = st.columns(3)
        for _, row in shown.iterrows():
            cur = row["currency"]
            cur_text = components.md_text(cur)  # a currency code from the data: shown literally
            cols[0].metric(f"Unattributed cost ({cur_text})", fmt.fmt_money(row["unattributed_cost"], cur),
                           help=components.md_text(
                               f"category other: {fmt.fmt_money(row['other_category_cost'], cur)}; service "
                               f"unattributed: {fmt.fmt_money(row['unattributed_service_cost'], cur)} "
                               "(a line can be both)"))
            cols[1].metric(f"Share of all cost ({cur_text})", fmt.fmt_share(row["unattributed_share"]),
                           help=components.md_text(f"of {fmt.fmt_money(row['total_cost'], cur)} in {span}"))
            cols[2].metric(f"Unattributed lines ({cur_text})", f"{int(row['unattributed_lines']):,}")
        lines = data.query("unattributed_costs", start=view.range_start, end=view.end_exclusive, filters=view.filters)
        if lines is not None and not lines.empty:
            # One chart per currency (amounts in different currencies are never put on one axis).
            for cur in [c for c in shown["currency"] if c in set(lines["currency"])]:
                top = lines[(lines["currency"] == cur) & (lines["amount"] > 0)].head(10)
                if top.empty:
                    continue
                top = top.assign(where=[f"{s} · {r if isinstance(r, str) and r else '(no resource id)'}"
                                        for s, r in zip(top["service"], top["resource_id"])])
                components.chart(charts.ranked_bars,
                    top, "where", "amount", f"Top unattributed cost ({cur}) by service and resource, {span} — less is "
                                            "better", f"cost ({cur})", height=max(240, 34 * len(top) + 110),
                    key=f"unattributed-top-{cur}")
        components.table(lines, f"unattributed cost {span}", key="unattributed-table", kind="unattributed_costs",
                         order="largest first",
                         empty=f"No unattributed cost lines in {span}.")
