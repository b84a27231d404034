"""Scorecard: triage of every KPI for the chosen period.

Off-target KPIs first, furthest off first, each with what drives it (the
teams, services or models that contribute most to its change, kpis.drivers)
and the rows behind it one click away; then near target, on target, and the
KPIs without a target folded away. The period in progress is "to date" and is
compared with the same elapsed days of the previous period, never a whole one.
"""

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from kpis import catalog, drivers, lines, periods
from kpis import format as fmt
from ui import components, data, state
from ui.components import md_text

view = state.current()
components.page_header(f"Scorecard · {view.period}", view, "Every KPI for the chosen period, most urgent first")
components.stop_if_no_data(view, "scorecard")

with components.section("The scorecard") as whole:
    # Twelve periods ending with the chosen one: the value, the previous period and the sparkline.
    first = periods.shift(view.period_start, view.grain, -11)
    frame = data.query("compute", **view.compute_args(start=first, end=view.period_last_day))
    if frame is None:
        st.stop()

    FAMILY_PAGES = {"delivery": "delivery", "reliability": "reliability", "cost": "cost", "serving": "serving",
                    "pipelines": "serving", "coverage": "serving"}
    DIMENSIONS = ("team", "service", "model")

    # The period in progress is compared with the same elapsed days of the previous one (equal spans), never
    # with the whole of it.
    span = lines.span_days(view.period, view.as_of)
    span_frame = None
    if span is not None:
        span_frame = data.query("compute", **view.compute_args(
            start=periods.shift(view.period_start, view.grain, -1), end=view.period_last_day, span_days=span,
            profile=None))
    all_lines = lines.build_lines(frame, view.period, view.previous_period, as_of=view.as_of, span_rows=span_frame)
    by_kpi = {kpi_id: rows for kpi_id, rows in frame.groupby("kpi", sort=False)}

    if span is not None:
        st.info(f"{view.period_text(view.period)} is in progress: its values are to date and are compared with the "
                f"same {span} days of {view.previous_period}, never with the whole of it.",
                icon=":material/hourglass_top:")
if whole.failed:  # nothing below can be shown without the KPIs
    st.stop()

if not any(line.has_value for line in all_lines):
    st.info(f"No events match the filters ({md_text(view.filters_text())}) in {view.period}. "
            "Widen the filters or pick another period in the sidebar.", icon=":material/filter_alt_off:")

triaged = lines.triage(all_lines)
tiers = {s: [line for line in triaged if line.status == s] for s in lines.STATUS_ORDER}
tiers["none"] = [line for line in triaged if line.status not in ("red", "amber", "green")]
BADGES = {"red": "red", "amber": "orange", "green": "green", "none": "gray"}
if view.profile:
    st.markdown(f"**{md_text(lines.summary(all_lines))}**  " + " ".join(
        f":{BADGES[s]}-badge[{len(tiers[s])} {lines.TIER_TITLES[s].lower()}]" for s in lines.STATUS_ORDER))
else:
    st.markdown("No target profile is selected: every KPI is shown without a verdict (pick one in the sidebar).")


def primary_dimension() -> str:
    """Team, unless the view is one team already: then its services."""
    teams = view.filters.get("team") or []
    return "service" if len(teams) == 1 else "team"


def named_breakdown(line: lines.KpiLine):
    """(dimension, drivers) for the sentence: the primary dimension, or the next one (service, model)
    when the primary's largest driver is the events without one (pipeline runs often name no service)."""
    first = primary_dimension()
    candidates = [first] + [d_ for d_ in ("service", "model") if d_ != first]
    chosen = None
    for dimension in candidates:
        d = breakdown(line, dimension)
        top = drivers.top_drivers(d) if d is not None else None
        if chosen is None:
            chosen = (dimension, d)
        if top is not None and len(top) and top["group"].iloc[0] != drivers.no_group(dimension):
            return dimension, d
    return chosen


def breakdown_args(line: lines.KpiLine, dimension: str) -> dict:
    """The drivers query of the KPI by ``dimension`` (``breakdown``'s first ask)."""
    return dict(kpi=line.kpi, dimension=dimension, period=view.period, filters=view.filters, tz=view.tz,
                lead_time_start=view.lead_time_start, as_of=view.as_of, unit=line.unit,
                span_days=span if line.compared else None, previous=line.previous_period if line.compared else None)


def level_args(line: lines.KpiLine, dimension: str) -> dict:
    """The drivers query of what makes up the KPI's value (an off-target KPI that did not get worse)."""
    return dict(kpi=line.kpi, dimension=dimension, period=view.period, previous=None, filters=view.filters,
                tz=view.tz, lead_time_start=view.lead_time_start, as_of=view.as_of, unit=line.unit)


def breakdown(line: lines.KpiLine, dimension: str):
    """The KPI's drivers by ``dimension``: against the previous period when compared, else of the value."""
    args = breakdown_args(line, dimension)
    d = data.query("drivers", **args)
    if d is not None and line.compared and not drivers.describe(d):
        d = data.query("drivers", **{**args, "previous": None})  # nothing moved: what makes up the value
    return d


def rows_link(line: lines.KpiLine, dimension: str, group: str) -> str:
    """A link to the KPI's page filtered to one group, for this period (a new page load reads the URL)."""
    params = {"grain": view.grain, "period": view.period, "from": view.start.isoformat(),
              "to": view.end.isoformat(), "profile": view.profile or state.NO_PROFILE}
    for dim in DIMENSIONS:
        if dim == dimension:
            params[dim] = group
        elif view.filters.get(dim):
            params[dim] = ",".join(view.filters[dim])
    return f"/{FAMILY_PAGES.get(line.family, '')}?{urlencode(params)}"


def drivers_table(line: lines.KpiLine, d: drivers.Drivers | None, dimension: str) -> None:
    """The breakdown as a table (with its CSV), and links to the rows behind the top drivers."""
    if d is None or d.rows.empty:
        st.caption(f"No {dimension} breakdown: {md_text(line.change_line or line.no_data)}")
        return
    unit = d.unit
    columns = {dimension: d.rows["group"],
               d.label: [fmt.fmt_delta(c, unit, line.kpi) if d.previous else fmt.fmt_value(c, unit, line.kpi)
                         for c in d.rows["contribution"]],
               "share": [fmt.fmt_share(s) if s == s else "—" for s in d.rows["share"]],
               f"its value {view.period}": [fmt.fmt_value(v, unit, line.kpi) for v in d.rows["value_now"]]}
    if d.previous:
        columns[f"its value {d.previous}"] = [fmt.fmt_value(v, unit, line.kpi) for v in d.rows["value_before"]]
    columns[f"events {view.period}"] = d.rows["n_now"].astype("int64")
    if d.previous:
        columns[f"events {d.previous}"] = d.rows["n_before"].astype("int64")
    frame_ = pd.DataFrame(columns)
    if not d.additive:
        st.caption("A median or percentile does not split into parts: these are the groups whose own value moved "
                   "most, weighted by their share of the events; they do not add up to the change.")
    components.table(frame_, f"{line.title} by {dimension} {view.period}", key=f"drv-{line.kpi}-{dimension}")
    top = drivers.top_drivers(d)
    links = [f"[{md_text(g)}]({rows_link(line, dimension, g)})" for g in top["group"] if g != drivers.no_group(dimension)]
    if links:
        st.markdown(f"The rows behind it, on the {FAMILY_PAGES.get(line.family, 'KPI')} page filtered to one "
                    f"{dimension}: " + " · ".join(links))


def triage_row(line: lines.KpiLine) -> None:
    """An off- or near-target KPI: its card, what drives it in words, the breakdown one click away."""
    card, why = st.columns([1, 2])
    with card:
        components.scorecard_card(line, by_kpi.get(line.kpi, frame.iloc[0:0]), key=f"spark-{line.kpi}")
    with why:
        st.markdown(f"**{md_text(line.title)}** · {md_text(catalog.FAMILY_TITLES.get(line.family, line.family))}")
        if line.rule:
            st.caption(md_text(f"Rule: {line.rule}" + (f" · judged on {line.scope}" if line.scope else "")))
        if not line.has_value:
            return
        dim, d = named_breakdown(line)
        text = drivers.describe(d) if d is not None else ""
        st.markdown(md_text(text + ".") if text else "No group stands out: "
                    f"{md_text(line.change_line)}.")
        if line.status == "red" and line.compared and line.judgement != "worse":
            # Off target but not worse than before: who moved it explains the change, not the miss; say
            # also who makes up the value (or, for a rate that should be high, its shortfall).
            level = data.query("drivers", **level_args(line, dim))
            level_text = drivers.describe(level) if level is not None else ""
            if level_text:
                st.markdown(md_text(level_text + "."))
        with st.expander(f"What drives it: {md_text(line.title)} by team, service and model, and the rows behind it"):
            # One dimension at a time (a choice, not tabs: tabs would run every breakdown on every load).
            dimension = st.segmented_control("Break down by", DIMENSIONS, default=dim, key=f"drv-dim-{line.kpi}")
            dimension = dimension or dim
            drivers_table(line, d if dimension == dim else breakdown(line, dimension), dimension)


def grid(tier_lines: list, per_row: int = 3, by_family: bool = True) -> None:
    """Cards in rows, under family headings (catalog order inside the tier)."""
    families = list(dict.fromkeys(line.family for line in tier_lines)) if by_family else [None]
    for family in families:
        group = [line for line in tier_lines if family is None or line.family == family]
        if family is not None:
            st.markdown(f"**{catalog.FAMILY_TITLES.get(family, family.capitalize())}**")
        for i in range(0, len(group), per_row):
            cols = st.columns(per_row)
            for col, line in zip(cols, group[i:i + per_row]):
                if line.needs_drivers:  # changed much: say what moved it, inside the card
                    d = breakdown(line, primary_dimension())
                    line = lines.with_drivers(line, drivers.describe(d) if d is not None else "")
                with col:
                    components.scorecard_card(line, by_kpi.get(line.kpi, frame.iloc[0:0]), key=f"spark-{line.kpi}")


# The breakdowns the cards below ask first, started now: they run while the cards are drawn.
for line in tiers["red"] + tiers["amber"]:
    if line.has_value:
        data.ahead("drivers", **breakdown_args(line, primary_dimension()))
        if line.status == "red" and line.compared and line.judgement != "worse":
            data.ahead("drivers", **level_args(line, primary_dimension()))
for line in tiers["green"] + tiers["none"]:
    if line.needs_drivers:
        data.ahead("drivers", **breakdown_args(line, primary_dimension()))

if tiers["red"]:
    st.subheader(f"Off target ({len(tiers['red'])})", anchor="off-target")
    since = f"the same {span} days of {view.previous_period}" if span is not None else view.previous_period
    st.caption("Furthest from the green region first. What drives each: the groups that contribute most to its "
               f"change since {since} (or to its value, when there is nothing to compare).")
    for line in tiers["red"]:
        with components.section(line.title):  # one KPI's breakdown failing leaves the others
            triage_row(line)
if tiers["amber"]:
    st.subheader(f"Near target ({len(tiers['amber'])})", anchor="near-target")
    for line in tiers["amber"]:
        with components.section(line.title):
            triage_row(line)
if tiers["green"]:
    st.subheader(f"On target ({len(tiers['green'])})", anchor="on-target")
    with components.section("The KPIs on target"):
        grid(sorted(tiers["green"], key=lambda x: catalog.KPI_IDS.index(x.kpi)))

rest = sorted(tiers["none"], key=lambda x: catalog.KPI_IDS.index(x.kpi))
if rest:
    title = (f"Without a target or not judged ({len(rest)})" if view.profile else f"Every KPI ({len(rest)})")
    st.subheader(title, anchor="no-target")
    with st.expander(f"Show the {len(rest)} KPIs without a verdict", expanded=not view.profile):
        for family in dict.fromkeys(line.family for line in rest):
            fam_lines = [line for line in rest if line.family == family]
            rows = frame[frame["kpi"].isin([line.kpi for line in fam_lines])]
            if not rows["value"].notna().any():
                # A whole family without data (its export was never loaded): one plain sentence, not empty cards.
                st.markdown(f"**{catalog.FAMILY_TITLES.get(family, family.capitalize())}**")
                titles = ", ".join(line.title for line in fam_lines)
                st.info(f"{fmt.no_data(fam_lines[0].kpi, view.period)} or the 11 periods before it, so these KPIs "
                        f"have no value: {titles}.", icon=":material/info:")
                continue
            with components.section(catalog.FAMILY_TITLES.get(family, family.capitalize())):
                grid(fam_lines)
