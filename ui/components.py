"""Page building blocks: tables with CSV download, empty states, scorecard cards, charts.

Pages compose these; the look (and the rule that every table can be
downloaded, every chart says what is good, a KPI without data says so) lives
here once.
"""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from kpis import catalog
from kpis import format as fmt
from ui import charts, data, state
from ui.state import View

STATUS_BADGE = {"green": ("green", "On target"), "amber": ("orange", "Near target"),
                "red": ("red", "Off target"), "none": ("gray", "No target")}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


STYLED_CELLS_MAX = 30_000  # styling 24k cells took 0.26 s per rerun, 48k 0.82 s (it grows faster than the cells)


def table(df: pd.DataFrame, name: str, *, kind: str | None = None, column_config: dict | None = None,
          height: int | str = "auto", empty: str = "Nothing to show.", key: str | None = None,
          tz: str | None = None) -> None:
    """A sortable table and a button that downloads exactly these rows as CSV.

    With ``kind`` (a ``kpis.format.TABLES`` key) the table is written as
    ``kpis.format.table_frame`` says: human titles, the columns that explain a
    row first, words for codes, money with its currency, long ids shortened.
    The cells keep their raw values (a pandas Styler only changes what is
    drawn), so sorting is by number or time and selecting a cell (double-click)
    shows the full id; st.dataframe 1.67 has no per-cell hover text. The CSV
    has the raw rows: full ids, ISO timestamps, numbers in base units, with
    formula cells neutralised. Empty cells are blank, never "None". Times are
    shown in the reporting time zone (``tz``, default the sidebar's); the CSV
    keeps them in UTC.
    """
    if df is None or df.empty:
        st.info(empty)
        return
    shown, order, config = df, None, dict(column_config or {})
    if kind is not None:
        view = fmt.table_frame(df, kind, tz=tz or state.current().tz)
        order = list(view.shown)
        for col in view.shown:
            c = view.columns[col]
            help_text = c.help or ("Shortened; select the cell (double-click) for the full id, which is also in "
                                   "the CSV." if c.kind in ("id", "ids") else None)
            base = (st.column_config.CheckboxColumn(c.title, help=help_text) if c.kind == "bool"
                    else st.column_config.Column(c.title, help=help_text))
            config.setdefault(col, base)
        df = view.data
        if df.size <= STYLED_CELLS_MAX:
            styler = df.style
            for col, rows, write in view.formatters():
                if view.columns[col].kind != "bool":
                    styler = styler.format(write, subset=(slice(None) if rows is None else rows, [col]))
            shown = styler
        else:  # too many cells to style on every rerun: the written text (sorted as text)
            text = view.text()
            text.columns = list(view.shown)
            for col in view.shown:
                if view.columns[col].kind == "bool":
                    text[col] = df[col]  # stays a checkbox
            shown = text
    st.dataframe(shown, hide_index=True, column_config=config, column_order=order, height=height, key=key,
                 placeholder="")
    st.download_button(f"Download {name} (CSV)", fmt.csv_text(df).encode("utf-8"),
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
    """Show a message left by the previous run (e.g. after an ingest and rerun), and any correction the
    sidebar made to the selection (a link's period outside the data, ...)."""
    msg = st.session_state.pop("_flash", None)
    if msg:
        st.success(msg, icon=":material/check_circle:")
    for text in state.take_notices():
        st.info(text, icon=":material/event_repeat:")


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
    """A KPI trend over the date range with its target band, or the plain no-data sentence; the period in
    progress is marked 'to date'."""
    if no_data_message(kpi_ids, frame, span_text(view)):
        return
    chart(charts.trend(frame, kpi_ids, title or fmt.chart_title(kpi_ids[0]), by=by, names=names,
                       partial=view.in_progress), key=key)


# --- the scorecard card ---------------------------------------------------------------------


def _pick_unit(rows: pd.DataFrame) -> str | None:
    """For money KPIs with several currencies, the one with the most events."""
    units = rows.groupby("unit")["n"].sum().sort_values(ascending=False)
    return units.index[0] if len(units) else None


def scorecard_card(kpi_id: str, rows: pd.DataFrame, view: View) -> None:
    """One KPI: value, status badge, target, change vs the previous period, 12-period sparkline."""
    kpi_card(kpi_id, rows, view.period, view.previous_period)


def kpi_card(kpi_id: str, rows: pd.DataFrame, period: str, previous_period: str, *, sparkline: bool = True,
             value_text=None, key: str | None = None) -> None:
    """One KPI of ``period``: value, status badge, target, change vs ``previous_period``, optional sparkline.

    ``rows`` is the KPI's ``kpis.compute`` output (with target columns when a
    profile is active). ``value_text(value, unit)`` overrides how the value is
    written (e.g. availability with two decimals, CI durations in minutes).
    """
    k = catalog.get(kpi_id)
    show = value_text or (lambda v, u: fmt.fmt_value(v, u, kpi_id))
    unit = _pick_unit(rows)
    rows = rows[rows["unit"] == unit] if unit else rows
    now = rows[rows["period"] == period]
    prev = rows[rows["period"] == previous_period]
    value = now["value"].iloc[0] if len(now) else float("nan")
    before = prev["value"].iloc[0] if len(prev) else float("nan")
    status = now["status"].iloc[0] if "status" in now and len(now) else "none"
    with st.container(border=True):
        if fmt.is_missing(value):
            st.metric(k.title, "No data", help=k.definition)
            st.caption(fmt.no_data(kpi_id, period))
        else:
            delta = value - before if not fmt.is_missing(before) else None
            judged = fmt.judgement(kpi_id, delta)
            colour = {"better": "green", "worse": "red"}.get(judged, "gray")
            desc = (f"vs {previous_period} · {judged}" if delta is not None
                    else f"no data in {previous_period} to compare")
            st.metric(k.title, show(value, unit or k.unit),
                      delta=fmt.fmt_delta(delta, unit or k.unit, kpi_id, like=value) if delta is not None else None,
                      delta_color=colour, delta_description=desc, help=k.definition)
        badge_colour, word = STATUS_BADGE.get(status if isinstance(status, str) else "none", STATUS_BADGE["none"])
        target = now["target"].iloc[0] if "target" in now and len(now) else None
        if isinstance(target, str) and target:
            st.markdown(f":{badge_colour}-badge[{word}] target {_md_safe(target)}")
        else:
            st.markdown(f":{badge_colour}-badge[{word}]")
        if sparkline and charts.has_values(rows):
            chart(charts.sparkline(rows, status if isinstance(status, str) else "none"),
                  key=key or f"spark-{kpi_id}")


def kpi_cards(frame: pd.DataFrame | None, kpi_ids: list[str], period: str, previous_period: str, *,
              per_row: int = 4, sparkline: bool = False, value_text: dict | None = None) -> None:
    """A row (or rows) of KPI cards for ``period``; a notice while the database is being updated."""
    if frame is None:
        st.warning("These numbers are not available while the database is being updated.")
        return
    for i in range(0, len(kpi_ids), per_row):
        cols = st.columns(per_row)
        for col, kpi_id in zip(cols, kpi_ids[i:i + per_row]):
            with col:
                kpi_card(kpi_id, frame[frame["kpi"] == kpi_id], period, previous_period, sparkline=sparkline,
                         value_text=(value_text or {}).get(kpi_id))


def _md_safe(text: str) -> str:
    """Target words from a profile file, shown as text (no markdown or HTML from data)."""
    return re.sub(r"([\\`*_\[\]{}()<>#+!|~:$])", r"\\\1", str(text))


def md_text(text: str) -> str:
    """Text from data or a file (target words, mapping notes) for st.markdown, shown literally."""
    return _md_safe(text)


# --- comparisons ----------------------------------------------------------------------------


def comparison_table(frame: pd.DataFrame | None, kpi_ids: list[str], current: str, earlier: list[str] | str, *,
                     name: str, key: str, earlier_names: list[str] | None = None, partial: str | None = None) -> None:
    """KPIs of ``current`` against one or more earlier periods: values, change, better or worse.

    ``partial`` is the label of a period still in progress: its column reads '2026-Q4 (to date)' and a
    comparison involving it is not called better or worse (a part of a period against a whole one).
    """
    if frame is None:
        st.warning("These numbers are not available while the database is being updated.")
        return
    earlier = [earlier] if isinstance(earlier, str) else list(earlier)
    earlier_names = list(earlier_names or earlier)
    shown_now = charts.to_date_label(current) if current == partial else current
    earlier_names = [charts.to_date_label(n) if label == partial else n for label, n in zip(earlier, earlier_names)]
    rows = []
    for kpi_id in kpi_ids:
        sub = frame[frame["kpi"] == kpi_id]
        for unit, g in sub.groupby("unit", sort=False):
            values = dict(zip(g["period"], g["value"]))
            now = values.get(current, float("nan"))
            title = catalog.get(kpi_id).title + (f" ({unit})" if catalog.get(kpi_id).unit == catalog.CURRENCY else "")
            row = {"KPI": title, shown_now: fmt.fmt_value(now, unit, kpi_id, empty="")}
            for label, shown in zip(earlier, earlier_names):
                old = values.get(label, float("nan"))
                row[shown] = fmt.fmt_value(old, unit, kpi_id, empty="")
                delta = now - old if not (fmt.is_missing(now) or fmt.is_missing(old)) else None
                row[f"change vs {shown}"] = (f"{fmt.fmt_delta(delta, unit, kpi_id, like=now)} "
                                             f"({fmt.fmt_change_pct(now, old)})"
                                             if delta is not None else "")
                if partial in (current, label) and delta is not None:
                    row[f"vs {shown}"] = f"not judged: {partial} is to date"
                else:
                    row[f"vs {shown}"] = fmt.judgement(kpi_id, delta)
            rows.append(row)
    table(pd.DataFrame(rows), name, key=key)
