"""Page building blocks: tables with CSV download, empty states, scorecard cards, charts.

Pages compose these; the look (and the rule that every table can be
downloaded, every chart says what is good, a KPI without data says so) lives
here once.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date, timedelta

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from kpis import catalog, charts, details, lines, periods
from kpis import format as fmt
from kpis.lines import KpiLine
from ui import auth, data, state
from ui.state import View

STATUS_BADGE = {"green": ("green", "On target"), "amber": ("orange", "Near target"),
                "red": ("red", "Off target"), "none": ("gray", "No target")}


log = logging.getLogger(__name__)
SECTION_ERROR_CHARS = 200  # of the error's first line shown on the page; the whole traceback goes to the log


class SectionOutcome:
    """What ``section`` yields: ``failed`` is True after the section's body raised (its message is shown)."""

    failed = False


@contextmanager
def section(title: str):
    """A page section that fails alone: an exception inside shows a short message in its place (the
    traceback goes to the server log) and the rest of the page renders.

    One implausible row (a year 9999 timestamp) or a query that breaks must not take every section of a
    page with it. Streamlit's control flow (st.stop, st.rerun, st.switch_page) passes through untouched.
    ``with section("Lead time") as s: ...``; afterwards ``s.failed`` says whether it failed.
    """
    outcome = SectionOutcome()
    try:  # no container of its own: the layout (a presentation slide's height) is the page's
        yield outcome
    except ScriptControlException:
        raise
    except Exception as e:  # noqa: BLE001 - the point: any failure stays inside its section
        log.exception("page section %r failed", title)
        outcome.failed = True
        st.error(section_error_text(title, e), icon=":material/error:")


def section_error_text(title: str, error: BaseException) -> str:
    """What a failed section says: which section, the error's first line (escaped, shortened), what to do."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if len(first) > SECTION_ERROR_CHARS:
        first = first[:SECTION_ERROR_CHARS - 1] + "…"
    return (f"{md_text(title)} could not be shown: {md_text(first)} "
            f"({type(error).__name__}). The rest of the page is unaffected. Try a narrower date range or "
            "other filters; the full error is in the server log.")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


STYLED_CELLS_MAX = 30_000  # styling 24k cells took 0.26 s per rerun, 48k 0.82 s (it grows faster than the cells)
# Rows drawn on screen; the CSV has them all. Writing the 50,798 deployments of a month on the benchmark
# database cell by cell took 2.7 s on every rerun, and nobody reads that far down a table; 2,000 styled rows
# still took 0.27 s of a page's first visit (1,000: 0.13 s). The Reliability page draws two such tables:
# 1,000 rows of its incidents and failed deployments took 0.24 s and 0.16 s to style, 500 rows 0.11 and 0.10 s.
TABLE_ROWS_MAX = 500
ROWS_TOTAL = details.ROWS_TOTAL
TOTAL_COLUMNS = (details.ROWS_TOTAL, details.OPEN_TOTAL)  # what a capped drill-down adds: not in the table


def table(df: pd.DataFrame, name: str, *, kind: str | None = None, column_config: dict | None = None,
          height: int | str = "auto", empty: str = "Nothing to show.", key: str | None = None,
          tz: str | None = None, order: str | None = None,
          everything: Callable[[], pd.DataFrame] | None = None) -> None:
    """A sortable table and a button that downloads all its rows as CSV.

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

    At most ``TABLE_ROWS_MAX`` rows are drawn, the first ones in the caller's
    order (``order`` says which in words, e.g. "newest first"), and a caption
    under the table says so; the CSV still has every row, and is written only
    when its button is clicked. The drawn table is cached on its rows
    (``_drawn``): a rerun with the same rows replays it.

    A query can fetch only the first rows (``limit=TABLE_ROWS_MAX``: a drill-down of
    ``kpis.details`` then adds the column ``ROWS_TOTAL``, how many there are in
    all); ``everything`` then returns them all, for the CSV (``ui.data.fetch``,
    run when the button is clicked).
    """
    if df is None or df.empty:
        st.info(empty)
        return
    if ROWS_TOTAL in df.columns:
        if everything is None:
            raise ValueError(f"table {name!r} has only its first rows and no way to fetch them all")
        total = int(df[ROWS_TOTAL].iloc[0])
        df = df.drop(columns=[c for c in TOTAL_COLUMNS if c in df.columns])
        if total <= len(df):  # the query's first rows are all of them: the CSV needs no second query
            everything = None
    else:
        total, everything = len(df), None
    capped = total > TABLE_ROWS_MAX
    rows = df.head(TABLE_ROWS_MAX) if capped else df
    tz = (tz or state.current().tz) if kind is not None else None
    columns = _drawn(rows, kind, tz, column_config, height, STYLED_CELLS_MAX)
    if capped:
        st.caption(f"Showing the first {TABLE_ROWS_MAX:,} of {total:,} rows{f' ({order})' if order else ''}; "
                   f"sorting a column sorts these. The CSV has all {total:,}.")

    def csv_bytes() -> bytes:  # every row (UTC times), in the table's column order
        every = df if everything is None else everything()
        return fmt.csv_text(every[columns]).encode("utf-8")

    # on_click="ignore": a download changes nothing on the page, so it does not rerun it (a rerun of a page
    # with a big table cost seconds, and one still running when the server stopped left a traceback). The CSV
    # is written when the button is clicked (a callable), not on every rerun of the page.
    st.download_button(f"Download {md_text(name)} (CSV)", csv_bytes,
                       file_name=f"{_slug(name)}.csv", mime="text/csv", key=f"dl-{key or _slug(name)}",
                       icon=":material/download:", on_click="ignore")


def _frame_key(df: pd.DataFrame) -> bytes:
    """A drawn table's or chart's frame as a cache key: the digest of its pickle. Streamlit's own hash of a
    frame took 5 ms for a sparkline's 12 rows (a third of a scorecard rerun); this one 0.15 ms. Equal pickles
    are equal frames; an equal frame built another way may pickle otherwise, which only costs a redraw."""
    return hashlib.blake2b(pickle.dumps(df, protocol=5), digest_size=16).digest()


DRAWN_HASH = {pd.DataFrame: _frame_key, details.RunChart: _frame_key}  # a run chart: two frames and counts


@st.cache_data(show_spinner=False, max_entries=128, hash_funcs=DRAWN_HASH)
def _drawn(rows: pd.DataFrame, kind: str | None, tz: str | None, column_config: dict | None,
           height: int | str, styled_cells_max: int) -> list[str]:
    """Draw ``rows`` as ``table`` says; returns the CSV's columns, in the table's order.

    Cached on the rows (Streamlit hashes the frame): writing a few thousand cells through a pandas Styler took
    a third of a page's rerun, and on a rerun with the same rows Streamlit replays the drawn table instead.
    """
    shown, columns, config = rows, list(rows.columns), dict(column_config or {})
    order_columns = None
    if kind is not None:
        view = fmt.table_frame(rows, kind, tz=tz)
        order_columns, columns = list(view.shown), list(view.data.columns)
        for col in view.shown:
            c = view.columns[col]
            help_text = c.help or ("Shortened; select the cell (double-click) for the full id, which is also in "
                                   "the CSV." if c.kind in ("id", "ids") else None)
            base = (st.column_config.CheckboxColumn(c.title, help=help_text) if c.kind == "bool"
                    else st.column_config.Column(c.title, help=help_text))
            config.setdefault(col, base)
        frame = view.data
        if frame.size <= styled_cells_max:
            styler = frame.style
            for col, which, write in view.formatters():
                if view.columns[col].kind != "bool":
                    styler = styler.format(write, subset=(slice(None) if which is None else which, [col]))
            shown = styler
        else:  # too many cells to style: the written text (sorted as text)
            text = view.text()
            text.columns = list(view.shown)
            for col in view.shown:
                if view.columns[col].kind == "bool":
                    text[col] = frame[col]  # stays a checkbox
            shown = text
    st.dataframe(shown, hide_index=True, column_config=config, column_order=order_columns, height=height,
                 placeholder="")
    return columns


def chart(build, *args, key: str | None = None, **kwargs) -> None:
    """Draw the figure ``build(*args, **kwargs)`` returns (``build`` is a ``kpis.charts`` function).

    Cached on the arguments (Streamlit hashes the frames): building a plotly figure and Streamlit's check of it
    took a quarter of a page's rerun, and on a rerun with the same data Streamlit replays the drawn chart.
    """
    if getattr(charts, build.__name__, None) is not build:
        raise ValueError(f"{build!r} is not a kpis.charts function")
    _drawn_chart(build.__name__, args, kwargs, key)


@st.cache_data(show_spinner=False, max_entries=512, hash_funcs=DRAWN_HASH)
def _drawn_chart(build: str, args: tuple, kwargs: dict, key: str | None) -> None:
    figure(getattr(charts, build)(*args, **kwargs), key=key)


def figure(fig, key: str | None = None) -> None:
    """Draw a figure built elsewhere (the review's, built once per review)."""
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
    if not auth.can_edit():
        auth.viewer_notice("loading data")
        return
    if st.button("Load sample data", type="primary", key=key, icon=":material/download_for_offline:"):
        with st.spinner("Loading the sample data ..."):
            try:
                reports = data.load_sample()
            except Exception as e:  # lock held elsewhere, files missing: a message, not a traceback
                st.error(f"Could not load the sample data: {md_text(e)}")
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
    for text in state.take_notices():  # may quote a link's values: shown literally
        st.info(md_text(text), icon=":material/event_repeat:")


def page_header(title: str, view: View, what: str) -> None:
    st.title(title)
    st.caption(f"{what} · {view.grain} grain · {md_text(view.filters_text())} · "
               f"targets: {md_text(view.profile or 'none')}")
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
    progress is marked 'to date', and the period the data begins in after its first day 'from 05-20'."""
    if no_data_message(kpi_ids, frame, span_text(view)):
        return
    # The annotations of the view (kpis.annotations), marked at their periods.
    notes = data.query("annotations", start=view.range_start, end=view.end_exclusive, filters=view.filters)
    chart(charts.trend, frame, kpi_ids, title or fmt.chart_title(kpi_ids[0]), by=by, names=names,
          partial=view.in_progress, first=view.first_partial, notes=notes, key=key)


# --- the scorecard card ---------------------------------------------------------------------


JUDGED_COLOURS = {"better": "green", "worse": "red"}


REACH_ICONS = {"on pace": ":green[:material/check_circle:]", "reachable": ":orange[:material/schedule:]",
               "off pace": ":orange[:material/trending_down:]", "not reachable": ":red[:material/block:]"}


# A bordered card's value (st.metric) is cut with an ellipsis when it is wider than the card: four cards to a row of
# the main column at 1440 px hold about 11 characters ('$58,356', '13.7 d', '99.83%'); the review's cost cards cut
# 6,371,072,415 predictions to '6,371,072,…'. A row with a longer value holds three cards (about 15 characters).
CARD_VALUE_CHARS = {4: 11, 3: 15}


def cards_per_row(values: list[str], most: int = 4) -> int:
    """How many cards of ``values`` (their value texts) go in a row: ``most``, fewer when a value would not fit."""
    longest = max((len(v) for v in values), default=0)
    fitting = [n for n, chars in sorted(CARD_VALUE_CHARS.items(), reverse=True) if n <= most and longest <= chars]
    return max(1, min(len(values), fitting[0] if fitting else min(most, 2)))


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
                          delta_description=f"vs {line.compared_with} · {line.judgement}", help=line.definition)
            else:
                st.metric(line.title, shown, help=line.definition)
                st.caption(md_text(f"to date · {line.withheld}" if line.withheld else line.change_line))
            if line.sample_text:
                st.caption(md_text(f"few events: {line.sample_text}"))
            for p in line.projections:  # the period in progress: where it is heading (kpis.projection)
                icon = REACH_ICONS.get(p.reach, ":material/trending_flat:")
                st.caption(f"{icon} **{md_text(p.label)}**: {md_text(p.text)}")
        badge_colour, word = STATUS_BADGE.get(line.status, STATUS_BADGE["none"])
        if line.target and line.status == "none":
            word = "Not judged"  # a target exists: say it was not applied (and why), never "No target"
        target = f" {md_text(fmt.target_text(line.target))}" if line.target else ""
        st.markdown(f":{badge_colour}-badge[{word}]{target}")
        if line.scope and line.judged_value is not None and line.judged_value != line.value:
            # The status rests on the scoped value (sev1/sev2 incidents, tier-1 models): show that value.
            st.caption(md_text(f"judged on {line.scope}: {fmt.fmt_value(line.judged_value, line.unit, line.kpi)}"))
        if line.verdict:  # per-team summary, DORA cluster, budget overspent, or why it was not judged
            st.caption(md_text(line.verdict))
        elif line.target and line.status == "none" and line.note and line.has_value:
            st.caption(md_text(f"not judged: {line.note}"))
        if line.drivers:
            st.caption(md_text(line.drivers))
        if sparkline and charts.has_values(rows):
            chart(charts.sparkline, rows, line.status, partial=line.period if line.partial else None,
                  key=key or f"spark-{line.kpi}")


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


md_text = fmt.md_text  # text from data or a file, shown literally in markdown


# --- comparisons ----------------------------------------------------------------------------


def comparison_table(frame: pd.DataFrame | None, kpi_ids: list[str], current: str, earlier: list[str] | str, *,
                     name: str, key: str, earlier_names: list[str] | None = None, partial: str | None = None,
                     span_frame: pd.DataFrame | None = None) -> None:
    """KPIs of ``current`` against one or more earlier periods: values, change, better or worse.

    ``partial`` is the label of a period still in progress: its column reads '2026-Q4 (to date)'. It is
    compared with the same elapsed days of the earlier periods when ``span_frame`` holds them
    (``kpis.compute(span_days=...)``: 'vs 2026-Q3 days 1–51'); without it a comparison involving it is not
    called better or worse (a part of a period against a whole one).
    """
    if frame is None:
        st.warning("These numbers are not available while the database is being updated.")
        return
    earlier = [earlier] if isinstance(earlier, str) else list(earlier)
    earlier_names = list(earlier_names or earlier)
    span = state.current().span_days(current) if current == partial else None
    equal_spans = span is not None and span_frame is not None
    if equal_spans:
        earlier_names = [f"{n} days 1–{span}" for n in earlier_names]
    shown_now = charts.to_date_label(current) if current == partial else current
    earlier_names = [charts.to_date_label(n) if label == partial else n for label, n in zip(earlier, earlier_names)]
    rows = []
    for kpi_id in kpi_ids:
        sub = frame[frame["kpi"] == kpi_id]
        spans = span_frame[span_frame["kpi"] == kpi_id] if equal_spans else None
        for unit, g in sub.groupby("unit", sort=False):
            values = dict(zip(g["period"], g["value"]))
            before = values if spans is None else dict(zip(*(spans[spans["unit"] == unit][c] for c in ("period", "value"))))
            now = values.get(current, float("nan"))
            title = catalog.get(kpi_id).title + (f" ({unit})" if catalog.get(kpi_id).unit == catalog.CURRENCY else "")
            row = {"KPI": title, shown_now: fmt.fmt_value(now, unit, kpi_id, empty="")}
            for label, shown in zip(earlier, earlier_names):
                old = before.get(label, float("nan"))
                row[shown] = fmt.fmt_value(old, unit, kpi_id, empty="")
                delta = now - old if not (fmt.is_missing(now) or fmt.is_missing(old)) else None
                row[f"change vs {shown}"] = (f"{fmt.fmt_delta(delta, unit, kpi_id, like=now)} "
                                             f"({fmt.fmt_change_pct(now, old)})"
                                             if delta is not None else "")
                if partial in (current, label) and delta is not None and not equal_spans:
                    row[f"vs {shown}"] = f"not judged: {partial} is to date"
                else:
                    row[f"vs {shown}"] = fmt.judgement(kpi_id, delta)
            rows.append(row)
    table(pd.DataFrame(rows), name, key=key)


# --- trailing windows -----------------------------------------------------------------------


def _window_args(view: View, kpi_ids: list[str], days: int) -> dict:
    """The compute arguments of ``trailing_window``'s table: two windows of ``days`` up to the data's last day."""
    end = view.as_of
    return view.compute_args(kpis=kpi_ids, window_days=days, start=end - timedelta(days=2 * days - 1), end=end,
                             profile=None, as_of=None)


def start_trailing_window(view: View, kpi_ids: list[str], *, key: str) -> None:
    """Start the query of ``trailing_window(view, kpi_ids, key=key)`` now, for the window chosen (ui.data.ahead)."""
    if view.as_of is not None:
        chosen = st.session_state.get(f"{key}-days") or "30 days"
        data.ahead("compute", **_window_args(view, kpi_ids, int(chosen.split()[0])))


def trailing_window(view: View, kpi_ids: list[str], *, key: str) -> None:
    """The page's KPIs over the last 7 / 30 / 90 days up to the data's last day, against the same number of
    days before (kpis.compute(window_days=...)), for a team that reviews continuously."""
    options = [f"{d} days" for d in periods.WINDOWS]
    chosen = st.segmented_control("Trailing window", options, default="30 days", key=f"{key}-days",
                                  required=True) or "30 days"
    days = int(chosen.split()[0])
    end = view.as_of
    if end is None:
        st.info("No data loaded yet.")
        return
    first = end - timedelta(days=2 * days - 1)
    st.subheader(f"The last {days} days, to {end}, against the {days} days before")
    frame = data.query("compute", **_window_args(view, kpi_ids, days))
    current, previous = periods.window_label(end - timedelta(days=days - 1), days), periods.window_label(first, days)
    comparison_table(frame, kpi_ids, current, previous, name=f"last {days} days to {end}", key=f"{key}-table")
    st.caption(f"Windows of {days} days ending on the data's last day ({view.tz}); the sidebar's filters apply, "
               "its period and grain do not.")
