"""Page building blocks: tables with CSV download, empty states, scorecard cards, charts.

Pages compose these; the look (and the rule that every table can be
downloaded, every chart says what is good, a KPI without data says so) lives
here once.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import streamlit as st

from kpis import catalog, lines
from kpis import format as fmt
from kpis.lines import KpiLine
from ui import charts, data
from ui.state import View

STATUS_BADGE = {"green": ("green", "On target"), "amber": ("orange", "Near target"),
                "red": ("red", "Off target"), "none": ("gray", "No target")}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def table(df: pd.DataFrame, name: str, *, column_config: dict | None = None, height: int | str = "auto",
          empty: str = "Nothing to show.", key: str | None = None) -> None:
    """A sortable table and a button that downloads exactly these rows as CSV."""
    if df is None or df.empty:
        st.info(empty)
        return
    st.dataframe(df, hide_index=True, column_config=column_config, height=height, key=key)
    st.download_button(f"Download {name} (CSV)", df.to_csv(index=False).encode("utf-8"),
                       file_name=f"{_slug(name)}.csv", mime="text/csv", key=f"dl-{key or _slug(name)}",
                       icon=":material/download:")


def chart(fig, key: str | None = None) -> None:
    st.plotly_chart(fig, config=charts.CONFIG, key=key)


def empty_database(where: str = "") -> None:
    """The fresh-install message with the one-click sample data."""
    st.info("The database is empty. Load the bundled sample data to explore the dashboard, "
            "or upload your own exports on the Data page.", icon=":material/database:")
    load_sample_button(key=f"sample-{where}")


def stop_if_no_data(view: View, where: str) -> None:
    """Empty database: the sample-data offer; locked with nothing loaded yet: say so. Then stop the page."""
    if view.locked:
        st.info("The numbers will appear when the update has finished; reload the page in a moment.")
        st.stop()
    if view.empty:
        empty_database(where)
        st.stop()


def load_sample_button(key: str = "sample") -> None:
    if st.button("Load sample data", type="primary", key=key, icon=":material/download_for_offline:"):
        with st.spinner("Loading the sample data ..."):
            try:
                reports = data.load_sample()
            except Exception as e:  # lock held elsewhere, files missing: a message, not a traceback
                st.error(f"Could not load the sample data: {e}")
                return
        st.session_state["_flash"] = (f"Loaded the sample data: "
                                      f"{sum(r.inserted for r in reports):,} rows from {len(reports)} files.")
        st.rerun()


def flash() -> None:
    """Show a message left by the previous run (e.g. after an ingest and rerun)."""
    msg = st.session_state.pop("_flash", None)
    if msg:
        st.success(msg, icon=":material/check_circle:")


def page_header(title: str, view: View, what: str) -> None:
    st.title(title)
    st.caption(f"{what} · {view.grain} grain · {view.filters_text()} · "
               f"targets: {view.profile or 'none'}")
    flash()


def no_data_message(kpi_ids: list[str], frame: pd.DataFrame | None, span: str) -> bool:
    """Say plainly when a chart's KPIs have no data; returns True when there is nothing to chart."""
    if frame is None:
        st.warning("These numbers are not available while the database is being updated.")
        return True
    sub = frame[frame["kpi"].isin(kpi_ids)]
    if charts.has_values(sub):
        return False
    st.info(fmt.no_data(kpi_ids[0], span) + ".", icon=":material/info:")
    return True


def span_text(view: View) -> str:
    from kpis import periods

    a = periods.label(view.range_start, view.grain)
    b = periods.label(periods.period_start(view.end, view.grain), view.grain)
    return a if a == b else f"{a} – {b}"


def trend_chart(frame: pd.DataFrame | None, kpi_ids: list[str], view: View, *, title: str | None = None,
                by: str | None = None, key: str | None = None, names: dict | None = None) -> None:
    """A KPI trend over the date range with its target band, or the plain no-data sentence."""
    if no_data_message(kpi_ids, frame, span_text(view)):
        return
    chart(charts.trend(frame, kpi_ids, title or fmt.chart_title(kpi_ids[0]), by=by, names=names), key=key)


# --- the scorecard card ---------------------------------------------------------------------


JUDGED_COLOURS = {"better": "green", "worse": "red"}


def scorecard_card(line: KpiLine, rows: pd.DataFrame, *, key: str | None = None) -> None:
    """One KPI of the scorecard: its line (value, change, status, target, small sample) and a sparkline."""
    line_card(line, rows, sparkline=True, key=key)


def line_card(line: KpiLine, rows: pd.DataFrame, *, sparkline: bool = True, value_text=None,
              key: str | None = None) -> None:
    """A KPI line in a bordered card: value, change (or why it is withheld), status badge and target,
    the small-sample note, optional sparkline of ``rows`` (the KPI's compute rows over recent periods).

    ``value_text(value, unit)`` overrides how the value is written (e.g. availability with two decimals).
    """
    rows = rows[rows["unit"] == line.unit] if len(rows) else rows
    with st.container(border=True):
        if not line.has_value:
            st.metric(line.title, "No data", help=line.definition)
            st.caption(md_text(line.no_data))
        else:
            shown = value_text(line.value, line.unit) if value_text else line.value_text
            if line.compared:
                st.metric(line.title, shown, delta=line.change_text, delta_color=JUDGED_COLOURS.get(line.judgement,
                                                                                                    "gray"),
                          delta_description=f"vs {line.previous_period} · {line.judgement}", help=line.definition)
            else:
                st.metric(line.title, shown, help=line.definition)
                st.caption(md_text(f"to date · {line.withheld}" if line.withheld else line.change_line))
            if line.sample_text:
                st.caption(md_text(f"few events: {line.sample_text}"))
        badge_colour, word = STATUS_BADGE.get(line.status, STATUS_BADGE["none"])
        target = f" target {_md_safe(line.target)}" if line.target else ""
        st.markdown(f":{badge_colour}-badge[{word}]{target}")
        if line.target and line.status == "none" and line.note and line.has_value:
            st.caption(md_text(f"not judged: {line.note}"))
        if line.drivers:
            st.caption(md_text(line.drivers))
        if sparkline and charts.has_values(rows):
            chart(charts.sparkline(rows, line.status), key=key or f"spark-{line.kpi}")


def kpi_card(kpi_id: str, rows: pd.DataFrame, period: str, previous_period: str, *, sparkline: bool = True,
             value_text=None, key: str | None = None, as_of: date | None = None) -> None:
    """One KPI of ``period``: its KpiLine (kpis.lines) against ``previous_period``, in a card.

    ``rows`` is the KPI's ``kpis.compute`` output (with target columns when a
    profile is active); ``as_of`` the last day the data covers (the period in
    progress on it is not compared with a whole one).
    """
    if as_of is None:  # the view's: a page that does not pass it still never compares a partial period
        view = st.session_state.get("view")
        as_of = getattr(view, "as_of", None)
    line = lines.build_line(rows, kpi_id, period, previous_period, as_of=as_of)
    line_card(line, rows, sparkline=sparkline, value_text=value_text, key=key)


def kpi_cards(frame: pd.DataFrame | None, kpi_ids: list[str], period: str, previous_period: str, *,
              per_row: int = 4, sparkline: bool = False, value_text: dict | None = None,
              as_of: date | None = None) -> None:
    """A row (or rows) of KPI cards for ``period``; a notice while the database is being updated."""
    if frame is None:
        st.warning("These numbers are not available while the database is being updated.")
        return
    for i in range(0, len(kpi_ids), per_row):
        cols = st.columns(per_row)
        for col, kpi_id in zip(cols, kpi_ids[i:i + per_row]):
            with col:
                kpi_card(kpi_id, frame[frame["kpi"] == kpi_id], period, previous_period, sparkline=sparkline,
                         value_text=(value_text or {}).get(kpi_id), as_of=as_of)


def _md_safe(text: str) -> str:
    """Target words from a profile file, shown as text (no markdown or HTML from data)."""
    return re.sub(r"([\\`*_\[\]{}()<>#+!|~:$])", r"\\\1", str(text))


def md_text(text: str) -> str:
    """Text from data or a file (target words, mapping notes) for st.markdown, shown literally."""
    return _md_safe(text)


# --- comparisons ----------------------------------------------------------------------------


def comparison_table(frame: pd.DataFrame | None, kpi_ids: list[str], current: str, earlier: list[str] | str, *,
                     name: str, key: str, earlier_names: list[str] | None = None) -> None:
    """KPIs of ``current`` against one or more earlier periods: values, change, better or worse."""
    if frame is None:
        st.warning("These numbers are not available while the database is being updated.")
        return
    earlier = [earlier] if isinstance(earlier, str) else list(earlier)
    earlier_names = earlier_names or earlier
    rows = []
    for kpi_id in kpi_ids:
        sub = frame[frame["kpi"] == kpi_id]
        for unit, g in sub.groupby("unit", sort=False):
            values = dict(zip(g["period"], g["value"]))
            now = values.get(current, float("nan"))
            title = catalog.get(kpi_id).title + (f" ({unit})" if catalog.get(kpi_id).unit == catalog.CURRENCY else "")
            row = {"KPI": title, current: fmt.fmt_value(now, unit)}
            for label, shown in zip(earlier, earlier_names):
                old = values.get(label, float("nan"))
                row[shown] = fmt.fmt_value(old, unit)
                delta = now - old if not (fmt.is_missing(now) or fmt.is_missing(old)) else None
                row[f"change vs {shown}"] = (f"{fmt.fmt_delta(delta, unit)} ({fmt.fmt_change_pct(now, old)})"
                                             if delta is not None else "—")
                row[f"vs {shown}"] = fmt.judgement(kpi_id, delta) or "—"
            rows.append(row)
    table(pd.DataFrame(rows), name, key=key)
