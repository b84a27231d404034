"""Every chart of the dashboard: trends with target bands, status colours, the sparkline.

Pages never build plotly figures themselves; they call these so that every
chart says what is good in its title, shows readable units and draws the
target where one exists. Inputs are the frames of ``kpis.compute`` (with the
target columns of ``kpis.targets.attach_targets`` when a profile is active) or
of ``kpis.details``.
"""

from __future__ import annotations

import functools
import html
import math
import re

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from kpis import catalog, details
from kpis import format as fmt

STATUS_COLOURS = {"green": "#2e7d32", "amber": "#f9a825", "red": "#c62828", "none": "#9e9e9e"}
STATUS_WORDS = fmt.STATUS_WORDS
SEVERITY_COLOURS = {"sev1": "#7f0000", "sev2": "#c62828", "sev3": "#ef6c00", "sev4": "#f9a825",
                    "sev5": "#90a4ae", "unspecified": "#cfd8dc"}
BAND_FILL = "rgba(46, 125, 50, 0.12)"
BAND_LINE = "rgba(46, 125, 50, 0.8)"
SERIES = ["#1f77b4", "#ff7f0e", "#6a3d9a", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#393b79", "#637939", "#8c6d31", "#843c39"]
FONT = dict(family="Source Sans Pro, sans-serif", size=13)
CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
# Every figure's template, set on each figure (unvalidated, so not rebuilt: validated, the template took 10 ms
# a figure). Not plotly's default, which `import streamlit` sets to its own, so a figure's template depended on
# which module a process imported last.
TEMPLATE = "plotly_white"


LEGEND_ROW_PX = 21
HALF_WIDTH_PX = 430  # the plot width of a chart in half a page at 1440 px: legends are laid out for that


# --- figures as plain dicts ---------------------------------------------------------------------------
# A chart is written into dicts and becomes a plotly Figure once, at the end (``_Fig.done``): each plotly update
# call walks and validates the figure's object tree, and a trend built that way took 25-30 ms, a review's 15
# charts half a second; one Figure from the finished dicts is validated once (2-3 ms).

_UNDERSCORED = {"paper_bgcolor", "plot_bgcolor"}  # layout names with an underscore of their own


def _expand(kw: dict) -> dict:
    """plotly's magic underscores, as plotly reads them: ``title_text=...`` is ``title=dict(text=...)``."""
    out: dict = {}
    for key, value in kw.items():
        if "_" in key and key not in _UNDERSCORED:
            head, rest = key.split("_", 1)
            _merge(out, {head: _expand({rest: value})})
        else:
            _merge(out, {key: value})
    return out


def _merge(into: dict, update: dict) -> None:
    """plotly's update: nested dicts merge, anything else (a list of shapes, None, a value) replaces."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], _expand(value))
        elif isinstance(value, dict):
            into[key] = _expand(value)
        else:
            into[key] = value


def _trace(kind: str, **kw) -> dict:
    return {"type": kind, **kw}


class _Fig:
    """The part of plotly's Figure API these charts use, on plain dicts; ``done()`` makes the Figure."""

    def __init__(self, *traces: dict):
        self.data: list[dict] = list(traces)
        self.layout: dict = {}

    def add_trace(self, trace: dict) -> None:
        self.data.append(trace)

    def update_layout(self, **kw) -> None:
        _merge(self.layout, _expand(kw))

    def _axes(self, prefix: str, selector: dict | None, kw: dict) -> None:
        # plotly updates every axis of the layout of that kind (the first always exists)
        names = [prefix] + [k for k in self.layout if re.fullmatch(prefix + r"\d+", k)]
        for name in names:
            axis = self.layout.setdefault(name, {})
            if selector and any(axis.get(k) != v for k, v in selector.items()):
                continue
            _merge(axis, _expand(kw))

    def update_xaxes(self, selector: dict | None = None, **kw) -> None:
        self._axes("xaxis", selector, kw)

    def update_yaxes(self, selector: dict | None = None, **kw) -> None:
        self._axes("yaxis", selector, kw)

    def add_hline(self, y: float, line: dict, annotation_text: str | None = None) -> None:
        """A horizontal line across the plot; its text at the line's left end, below it (plotly's
        ``annotation_position="bottom left"``)."""
        self.layout.setdefault("shapes", []).append(
            dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=y, y1=y, line=line))
        if annotation_text is not None:
            self.layout.setdefault("annotations", []).append(
                dict(text=annotation_text, showarrow=False, xref="x domain", x=0, xanchor="left", yref="y", y=y,
                     yanchor="top"))

    def done(self) -> go.Figure:
        # Unvalidated: plotly's check of every property was half of a chart's build and Streamlit's copy of it
        # (a review's 16 charts: 103 ms validated, 50 ms not). Unset properties are left out, as a validated
        # figure leaves them (tests: conftest.checked_charts builds every chart both ways and compares the JSON
        # Streamlit sends, in the chart, review and page tests).
        layout = {"template": _template(), **_pruned(self.layout)}
        return go.Figure(data=_pruned(self.data), layout=layout, _validate=False)


@functools.cache
def _template() -> dict:
    """The white template as plotly's JSON, made once: a Template object was copied into each figure (1.7-2.8 ms
    a figure; from this dict 0.75 ms). A figure builds its own objects from it, so none can change it."""
    return pio.templates[TEMPLATE].to_plotly_json()


def _pruned(value):
    """``value`` without the None-valued keys of its dicts, at any depth: a property set to None is unset in a
    validated figure (left out of its JSON), written as null in an unvalidated one. A list keeps its Nones (a
    gap in a line)."""
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    if isinstance(value, (pd.Series, pd.Index)):
        # plotly copies the figure's data on building it and Streamlit on sending it: copying pandas Series took
        # a third of a trend chart's time; their arrays are sent the same (as the validated figure sends them)
        return value.to_numpy()
    return value


def _fit_legend(fig: _Fig) -> _Fig:
    """Room above the plot for the title and the legend rows (plotly wraps a horizontal legend but does not
    move the title out of its way), estimated for a half-width chart."""
    names = [t["name"] for t in fig.data if t.get("showlegend") is not False and t.get("name")]
    if not names or fig.layout.get("showlegend") is False:
        return fig
    rows, used = 1, 0.0
    for name in names:
        width = 40 + 6.6 * len(name.replace("<br>", " "))
        if used and used + width > HALF_WIDTH_PX:
            rows, used = rows + 1, 0.0
        used += width
    fig.update_layout(margin=dict(t=44 + LEGEND_ROW_PX * rows))
    return fig


def esc(value) -> str:
    """A name from the data (a team, service, resource, currency, a profile's words) as plotly text: plotly
    draws <a href>, <b>, <br> and entities in titles, legends, ticks and hover labels, so < > & are escaped
    (plotly shows the entities as the characters). The review's slides unescape them (review.pptx)."""
    return html.escape(str(value), quote=False)


def status_colour(status) -> str:
    return STATUS_COLOURS.get(status if isinstance(status, str) else "none", STATUS_COLOURS["none"])


def _layout(fig: _Fig, title: str, y_title: str, height: int = 330, x_title: str = "") -> _Fig:
    fig.update_layout(
        title=dict(text=esc(title), x=0, xanchor="left", y=1.0, yref="container", yanchor="top", pad=dict(t=8),
                   font=dict(size=16)),
        height=height, font=FONT,
        margin=dict(l=10, r=10, t=44, b=10),
        # The legend in rows above the plot, not in a column beside it: a half-width chart keeps its width.
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, font=dict(size=12)),
        hovermode="x unified",
        # One update: each plotly update call re-validates and re-dispatches (a third of a chart's time).
        # titles are escaped (a currency or a team may be in them); a y title may break its line with <br>
        yaxis=dict(title_text=esc(y_title).replace("&lt;br&gt;", "<br>"), rangemode="tozero", zeroline=True,
                   automargin=True),
        xaxis=dict(title_text=esc(x_title), type="category", tickangle=-45, automargin=True),
    )
    return _fit_legend(fig)


SECONDARY = "#9e9e9e"  # a series shown for context, not judged
MAX_TICKS = 24
TO_DATE = "to date"


def to_date_label(label: str) -> str:
    """The x tick of the period in progress: '2026-11 (to date)'."""
    return f"{label} ({TO_DATE})"


def _tick(p: str, partial: str | None, first: tuple[str, str] | None) -> str:
    """A period's x tick: '2026-11 (to date)' in progress, '2025-05 (from 05-20)' where the data begins."""
    notes = [first[1]] if first is not None and p == first[0] else []
    notes += [TO_DATE] if p == partial else []
    return f"{p} ({', '.join(notes)})" if notes else p


def _period_ticks(fig: _Fig, periods: list, partial: str | None, first: tuple[str, str] | None = None) -> None:
    """Category x axis in period order; the period in progress reads '2026-11 (to date)', and the period the
    data begins in after its first day (``first``: its label and 'from 05-20') '2025-05 (from 05-20)'."""
    axis = dict(categoryorder="array", categoryarray=periods)
    if partial in periods or (first is not None and first[0] in periods):
        # Listed ticks are all drawn (plotly thins only automatic ones): a weekly range keeps about 20.
        step = max(1, math.ceil(len(periods) / MAX_TICKS))
        shown = [p for i, p in enumerate(periods) if (len(periods) - 1 - i) % step == 0]
        axis.update(tickmode="array", tickvals=shown, ticktext=[_tick(p, partial, first) for p in shown])
    fig.update_xaxes(**axis)


def _lead_last(rows: pd.DataFrame, x: str, first: tuple[str, str] | None) -> pd.DataFrame:
    """``rows`` with those of the period the data begins in (``first``) moved last: a bar trace's legend swatch
    takes its first bar's pattern, which would then be hatched. The axis keeps the periods' order."""
    if first is None:
        return rows
    lead = rows[x] == first[0]
    return pd.concat([rows[~lead], rows[lead]]) if lead.any() else rows


def _hatch(x: list, partial: str | None, first: tuple[str, str] | None = None) -> dict:
    """A bar trace's marker pattern: the period in progress and a period the data begins in after its first
    day hatched, the others plain."""
    lead = first[0] if first is not None else None
    return dict(shape=["/" if p == partial or p == lead else "" for p in x], solidity=0.45, fgcolor="#ffffff")


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _series(fig: _Fig, x: list, y: list, *, name: str, colour: str, width: float = 2.2,
            dash: str | None = None, size: int = 7, marker_colours: list | None = None, text: list | None = None,
            partial: str | None = None, yaxis: str | None = None, showlegend: bool = True,
            first: tuple[str, str] | None = None) -> None:
    """One line; the period in progress (``partial``) as a hollow marker at the end of a dotted segment, and
    the period the data begins in after its first day (``first``) as one at the start of another.

    The line itself runs over the whole periods only; each segment into a partial period is a trace of its
    own in the same legend group (plotly dashes a whole trace, not one segment).
    """
    x, y = list(x), [None if _missing(v) else float(v) for v in y]
    text = list(text) if text is not None else [None] * len(x)
    colours = list(marker_colours) if marker_colours is not None else [colour] * len(x)
    at = x.index(partial) if partial in x else None
    lead = x.index(first[0]) if first is not None and first[0] in x else None
    main = [None if i in (at, lead) else v for i, v in enumerate(y)]
    marker = dict(size=size, color=colours)
    if marker_colours is not None:
        marker["line"] = dict(color=colour, width=1.5)
    extra = {"yaxis": yaxis} if yaxis else {}
    fig.add_trace(_trace("scatter", x=x, y=main, mode="lines+markers", name=name, legendgroup=name, showlegend=showlegend,
                             line=dict(color=colour, width=width, dash=dash), marker=marker, connectgaps=False,
                             text=text, hovertemplate="%{text}<extra>" + name + "</extra>", **extra))
    def dotted(i: int, beside: int, note: str) -> None:
        """The dotted segment from the whole period ``beside`` into the partial period ``i``, hollow at ``i``."""
        whole = 0 <= beside < len(x) and beside not in (lead, at) and y[beside] is not None
        idx = sorted({i, beside}) if whole else [i]
        fig.add_trace(_trace("scatter",
            x=[x[j] for j in idx], y=[y[j] for j in idx], mode="lines+markers", name=f"{name} ({note})",
            legendgroup=name, showlegend=False, line=dict(color=colour, width=width, dash="dot"),
            marker=dict(symbol="circle-open", size=[size + 3 if j == i else 0 for j in idx], color=colours[i],
                        line=dict(width=2.5, color=colours[i])),
            text=[text[j] for j in idx], hovertemplate="%{text} (" + esc(note) + ")<extra>" + name + "</extra>",
            **extra))

    if lead is not None and lead != at and y[lead] is not None:
        dotted(lead, lead + 1, first[1])
    if at is not None and y[at] is not None:
        dotted(at, at - 1, TO_DATE)


def _band(rows: pd.DataFrame, div: float) -> tuple[list, list] | None:
    """(low, high) of the target band per period, scaled, or None when no row has a target bound."""
    if "green_low" not in rows or "green_high" not in rows:
        return None
    lo, hi = rows["green_low"].astype("float64"), rows["green_high"].astype("float64")
    if lo.isna().all() and hi.isna().all():
        return None
    return [None if math.isnan(v) else v / div for v in lo], [None if math.isnan(v) else v / div for v in hi]


def _add_band(fig: _Fig, x: list, band: tuple[list, list], top: float, label: str = "target") -> None:
    """Shade the target band of each period between its bounds (an open side runs to 0 or past the data, and
    the label says so); periods without a judged bound (no data, not enough history) get no shading."""
    lows, highs = band
    # All rectangles in one layout update: add_shape re-validates every earlier shape on each call, which made
    # a weekly trend (80 periods) take seconds per chart.
    rects = [dict(type="rect", xref="x", yref="y", x0=i - 0.5, x1=i + 0.5, y0=0.0 if lo is None else lo,
                  y1=top if hi is None else hi, fillcolor=BAND_FILL, line=dict(width=0), layer="below")
             for i, (lo, hi) in enumerate(zip(lows, highs)) if not (lo is None and hi is None)]
    fig.update_layout(shapes=list(fig.layout.get("shapes", [])) + rects)
    # The legend entry names the band in the target's words ("target 2–6 weeks").
    fig.add_trace(_trace("scatter", x=[x[0]], y=[None], mode="markers", name=label, hoverinfo="skip",
                             marker=dict(symbol="square", size=12, color=BAND_FILL,
                                         line=dict(color=BAND_LINE, width=1))))


def _ratio_title(kpi_id: str) -> str:
    return {"change_failure_rate": "% of deployments", "rollback_rate": "% of deployments",
            "deployment_rework_rate": "% of deployments",
            "error_rate": "% of requests", "availability": "% of requests served"}.get(kpi_id, "%")


def has_values(frame: pd.DataFrame) -> bool:
    return not frame.empty and frame["value"].notna().any()


def _first_text(rows: pd.DataFrame, col: str) -> str:
    return next((t for t in rows.get(col, pd.Series(dtype=object)) if isinstance(t, str) and t), "")


NOTE_COLOUR = "#5c6bc0"
NOTE_CHARS = 28  # a marker's label; the whole text is in its hover


def note_label(texts: list[str]) -> str:
    """A marker's label: the first note cut to NOTE_CHARS, and how many more ('Reorg: search spl… +1')."""
    first = texts[0] if len(texts[0]) <= NOTE_CHARS else texts[0][:NOTE_CHARS - 1] + "…"
    return first + (f" +{len(texts) - 1}" if len(texts) > 1 else "")


def _add_notes(fig: _Fig, x: list, notes: pd.DataFrame | None) -> None:
    """A dotted vertical line at each period holding an annotation (``kpis.annotations``), labelled at the top
    with the note (all of them in its hover). Notes outside the chart's periods are left out."""
    if notes is None or notes.empty or not x:
        return
    from kpis import annotations
    from kpis import periods as kperiods

    grain = kperiods.parse_label(x[0])[0]
    by_period: dict[str, list[dict]] = {}
    for row in notes.to_dict("records"):
        label = kperiods.label(kperiods.period_start(pd.Timestamp(row["day"]).date(), grain), grain)
        if label in x:
            by_period.setdefault(label, []).append(row)
    for i, label in enumerate(sorted(by_period, key=x.index)):
        rows = by_period[label]
        fig.layout.setdefault("shapes", []).append(
            dict(type="line", xref="x", x0=label, x1=label, yref="paper", y0=0, y1=1,
                 line=dict(color=NOTE_COLOUR, width=1.5, dash="dot")))
        # Inside the plot's top edge (the legend sits above it), on a light background over the lines; a label
        # in the right half reads leftwards from its line, and neighbours step down so they do not overlap.
        right = x.index(label) > (len(x) - 1) / 2
        fig.layout.setdefault("annotations", []).append(
            dict(text="✎ " + esc(note_label([str(r["text"]) for r in rows])),
                 hovertext="<br>".join(esc(annotations.describe(r)) for r in rows), showarrow=False, xref="x",
                 x=label, yref="paper", y=1.0 - 0.1 * (i % 3), yanchor="top", xanchor="right" if right else "left",
                 font=dict(size=11, color=NOTE_COLOUR), bgcolor="rgba(255,255,255,0.85)"))
    # The labels must not widen the axis (plotly's autorange makes room for annotation text).
    fig.update_xaxes(range=[-0.5, len(x) - 0.5])


def _per_period(rows: pd.DataFrame, periods: list[str]) -> pd.DataFrame:
    """The first of ``rows`` of each of ``periods``, in that order; a period without a row is a row of NaN (a
    gap in the line). Picked by position when every period has a row (drop_duplicates, set_index, reindex and
    reset_index took a third of a trend chart's build)."""
    first: dict[str, int] = {}
    for i, p in enumerate(rows["period"].tolist()):
        first.setdefault(p, i)
    if all(p in first for p in periods):
        return rows.iloc[[first[p] for p in periods]].reset_index(drop=True)
    return rows.drop_duplicates("period").set_index("period").reindex(periods).reset_index()


def trend(frame: pd.DataFrame, kpi_ids: list[str], title: str, by: str | None = None, height: int = 330,
          band_kpi: str | None = None, names: dict[str, str] | None = None, partial: str | None = None,
          notes: pd.DataFrame | None = None, first: tuple[str, str] | None = None) -> go.Figure:
    """KPI lines over periods, the judged one first, the target band of ``band_kpi`` behind them.

    ``band_kpi`` is the KPI the target judges (default: the first of ``kpi_ids`` with a target).

    ``frame`` is ``kpis.compute`` output (possibly with target columns). One
    line per KPI, or per ``by`` group for a single KPI. The judged series is
    the primary one: the scoped value where the target has a scope (MTTR of
    sev1/sev2 incidents), with markers in its status colours; the unscoped
    value is then a thin grey line for context. Every plotted series lies on
    the y scale. Gaps (no data) stay gaps. ``partial`` is the label of the
    period in progress: a hollow marker on a dotted segment, its tick '... (to date)'; ``first`` (label,
    'from 05-20') the period the data begins in after its first day, drawn the same way at the start. ``notes``
    (``kpis.annotations.notes``) are marked at their periods.
    """
    frame = frame[frame["kpi"].isin(kpi_ids)]
    unit = fmt.kpi_unit(kpi_ids[0])
    units = frame["unit"].dropna().unique()
    money = unit == catalog.CURRENCY
    periods = list(dict.fromkeys(frame["period"]))
    if band_kpi is None:  # the judged KPI: the first with a target, else the first
        with_target = [k for k in kpi_ids if "target" in frame and frame.loc[frame["kpi"] == k, "target"].notna().any()]
        band_kpi = (with_target or kpi_ids)[0]
    band_rows = frame[frame["kpi"] == band_kpi]
    if by is not None and band_rows[by].nunique(dropna=False) != 1:
        band_rows = band_rows.iloc[0:0]
    brows = None
    if not band_rows.empty and (not money or len(units) <= 1):
        brows = _per_period(band_rows, periods)
    scope = _first_text(brows, "scope") if brows is not None else ""
    scoped = (brows is not None and scope and "scoped_value" in brows and brows["scoped_value"].notna().any())
    every = frame["value"].tolist() + (brows["scoped_value"].tolist() if scoped else [])
    div, y_title, tickformat = fmt.axis_for(units[0] if money and len(units) else unit, every,
                                            kpi_ids[0] if len(kpi_ids) == 1 else None)
    if money and len(units) > 1:
        y_title = " / ".join(units)
    fig = _Fig()
    plotted: list[float] = []

    def status_marks(rows):
        if "status" in rows and rows["status"].ne("none").any():
            return [status_colour(s) for s in rows["status"]]
        return None

    def label_of(k):
        return (names or {}).get(k, catalog.get(k).title)

    # The judged series first: the scoped value of band_kpi, or band_kpi's own value.
    secondary = []
    if scoped:
        y = brows["scoped_value"] / div
        text = [fmt.fmt_value(v, u, band_kpi) for v, u in zip(brows["scoped_value"], brows["unit"])]
        _series(fig, periods, y, name=f"{label_of(band_kpi)}, {esc(scope)} — judged", colour=SERIES[0], width=2.6,
                size=9, marker_colours=status_marks(brows), text=text, partial=partial, first=first)
        plotted += [v for v in y if not _missing(v)]
    series = []
    if by is None:
        order = [band_kpi] + [k for k in kpi_ids if k != band_kpi] if band_kpi in kpi_ids else list(kpi_ids)
        for k in order:
            for cur, rows in frame[frame["kpi"] == k].groupby("unit", sort=False):
                label = label_of(k) + (f" ({cur})" if money and len(units) > 1 else "")
                series.append((label, rows, k))
    else:
        for g, rows in frame.groupby(by, sort=True, dropna=False):
            series.append(("(none)" if fmt.is_missing(g) else esc(g), rows, kpi_ids[0]))
    for i, (label, rows, k) in enumerate(series):
        rows = _per_period(rows, periods)
        y = rows["value"] / div
        text = [fmt.fmt_value(v, u, k) for v, u in zip(rows["value"], rows["unit"])]
        plotted += [v for v in y if not _missing(v)]
        if scoped and k == band_kpi:
            # The same KPI over everything selected: context, not what the target judges.
            secondary.append((f"{label}, all (not judged)", y, text))
            continue
        colour = SERIES[(i + (1 if scoped else 0)) % len(SERIES)]
        marks = status_marks(rows) if by is None else None
        primary = by is None and k == band_kpi
        _series(fig, periods, y, name=label, colour=colour, width=2.4 if primary or by is not None else 1.8,
                size=9 if marks else 7, marker_colours=marks, text=text, partial=partial, first=first)
    for label, y, text in secondary:
        _series(fig, periods, y, name=label, colour=SECONDARY, width=1.3, dash="dot", size=4, text=text,
                partial=partial, first=first)

    top = max(plotted) * 1.15 if plotted else 1.0
    if brows is not None:
        b = _band(brows, div)
        if b is not None:
            finite = [v for v in b[0] + b[1] if v is not None]
            top = max([top] + [v * 1.15 for v in finite])
            words = _first_text(brows, "band_text") or "target"
            _add_band(fig, periods, b, top, label=esc(words + (f" ({scope})" if scope else "")))
    _layout(fig, title, y_title, height)
    _period_ticks(fig, periods, partial, first)
    _add_notes(fig, periods, notes)
    fig.update_yaxes(tickformat=tickformat, range=[0, top] if top > 0 else None,
                     **(_whole_ticks(frame["value"]) if tickformat == ",.0f" else {}))
    values = pd.Series(plotted, dtype="float64")
    if len(values) and values.min() > 0.6 * values.max() and values.min() > 0:
        # Values far from zero (availability near 100%): zoom in instead of flattening the line.
        pad = max((values.max() - values.min()) * 0.5, abs(values.max()) * 0.002)
        lo, hi = values.min() - pad, values.max() + pad
        if unit == catalog.RATIO:
            hi = min(hi, 100.0 + pad * 0.25)  # a share never passes 100%: the axis stops just above it
            tickformat = ",.2f" if hi - lo < 2 else ",.1f" if hi - lo < 20 else ",.0f"
            fig.update_yaxes(tickformat=tickformat)
        else:
            lo, hi = _spread(lo, hi, tickformat, fig)
        fig.update_yaxes(range=[lo, max(hi, values.max())], rangemode="normal")
    elif by is not None and len(values) and values.min() > 0 and values.max() / values.min() > 30:
        fig.update_yaxes(type="log", range=None, rangemode="normal", title_text=f"{y_title} (log scale)")
    elif unit == catalog.RATIO and len(values) and values.max() < 5:
        # Small shares (error rates of a fraction of a percent): ticks with decimals, not "0%" four times.
        fig.update_yaxes(tickformat=",.2f" if values.max() < 0.5 else ",.1f")
    if unit == catalog.RATIO:
        fig.update_yaxes(ticksuffix="%", title_text=_ratio_title(kpi_ids[0]))
    return fig.done()


def _spread(lo: float, hi: float, tickformat: str, fig: _Fig) -> tuple[float, float]:
    """A zoomed axis from ``lo`` to ``hi`` at least two steps of its tick format wide, a tick on each step: a
    flat line (7 deployment days a week every month) was zoomed to 6.99-7.01 and ticked "7, 7, 7"."""
    m = re.fullmatch(r",?\.(\d+)~?f", tickformat or "")
    if not m:
        return lo, hi
    step = 10.0 ** -int(m.group(1))
    if hi - lo >= 2 * step:
        return lo, hi
    mid = (lo + hi) / 2
    lo = mid - step if lo < 0 else max(mid - step, 0.0)  # values above zero keep the axis above it
    fig.update_yaxes(dtick=step)
    return lo, lo + 2 * step


def stacked_bars(frame: pd.DataFrame, x: str, y: str, colour: str, title: str, y_title: str,
                 height: int = 330, colours: dict[str, str] | None = None, order: list[str] | None = None,
                 partial: str | None = None, first: tuple[str, str] | None = None) -> go.Figure:
    """Bars per ``x`` stacked by ``colour`` (deployments by team, incidents by severity); the period in
    progress (``partial``) and the one the data begins in after its first day (``first``) hatched, their
    ticks '... (to date)' and '... (from 05-20)'."""
    fig = _Fig()
    groups = order or sorted(frame[colour].dropna().unique())
    for i, g in enumerate(groups):
        rows = _lead_last(frame[frame[colour] == g], x, first)
        fig.add_trace(_trace("bar", x=rows[x], y=rows[y], name=esc(g),
                             marker=dict(color=(colours or {}).get(g, SERIES[i % len(SERIES)]),
                                         pattern=_hatch(list(rows[x]), partial, first)),
                             hovertemplate="%{y:,.0f}<extra>" + esc(g) + "</extra>"))
    fig.update_layout(barmode="stack")
    _layout(fig, title, y_title, height)
    _period_ticks(fig, sorted(frame[x].dropna().unique()), partial, first)
    fig.update_yaxes(tickformat=",.0f")
    return fig.done()


def lead_time_histogram(bins: pd.DataFrame, title: str, height: int = 330) -> go.Figure:
    """Deployments per lead-time bin (``kpis.details.lead_time_distribution``)."""
    fig = _Fig(_trace("bar", x=bins["bin"], y=bins["deployments"], marker_color=SERIES[0],
                           hovertemplate="%{x}: %{y:,} deployments<extra></extra>"))
    _layout(fig, title, "deployments", height, x_title="lead time (days)")
    return fig.done()


def cost_and_volume(frame: pd.DataFrame, title: str, height: int = 350, partial: str | None = None,
                    first: tuple[str, str] | None = None) -> go.Figure:
    """Inference cost (bars, left axis) and prediction volume (line, right axis) per period; the period in
    progress (``partial``) and the one the data begins in after its first day (``first``) hatched and
    dotted, their ticks '... (to date)' and '... (from 05-20)'."""
    cost = frame[frame["kpi"] == "inference_cost"]
    vol = frame[frame["kpi"] == "predictions"]
    fig = _Fig()
    currencies = list(cost["unit"].dropna().unique())
    for i, (cur, rows) in enumerate(cost.groupby("unit", sort=False)):
        rows = _lead_last(rows, "period", first)
        fig.add_trace(_trace("bar", x=rows["period"], y=rows["value"], name=f"inference cost ({esc(cur)})",
                             marker=dict(color=SERIES[i], pattern=_hatch(list(rows["period"]), partial, first)),
                             opacity=0.85, text=[fmt.fmt_money(v, cur) for v in rows["value"]], textposition="none",
                             hovertemplate="%{text}<extra>inference cost</extra>"))
    # The volume axis in a named scale ('predictions (billions)'), never SI suffixes or ten-digit ticks.
    vdiv, v_title, v_ticks = fmt.axis_for(catalog.PREDICTIONS_UNIT, vol["value"].tolist(), "predictions")
    _series(fig, list(vol["period"]), list(vol["value"] / vdiv), name="predictions", colour=SERIES[1], yaxis="y2",
            text=[fmt.fmt_value(v, catalog.PREDICTIONS_UNIT, "predictions") for v in vol["value"]], partial=partial,
            first=first)
    _layout(fig, title, f"inference cost ({esc(' / '.join(currencies)) or 'USD'})", height)
    _period_ticks(fig, list(dict.fromkeys(frame["period"])), partial, first)
    fig.update_layout(yaxis2=dict(title=v_title, overlaying="y", side="right", rangemode="tozero",
                                  tickformat=v_ticks, showgrid=False))
    fig.update_yaxes(tickformat=",.0f", selector=dict(overlaying=None))
    return fig.done()


MAX_CHART_POINTS = details.RUN_CHART_POINTS  # markers one chart draws one by one (the run chart's cap)


def training_runs_caption(chart: details.RunChart) -> str:
    """What ``training_runs`` draws of ``chart``'s runs: '' when every run is a point, else how many of how
    many."""
    if chart.binned == 0:
        return ""
    if chart.outliers == 0:
        return f"No outlier runs: all {chart.runs:,} runs as their median and range per {chart.per}."
    drawn = len(chart.drawn)
    points = (f"{chart.outliers:,} outlier runs drawn one by one" if drawn == chart.outliers else
              f"The {drawn:,} costliest of {chart.outliers:,} outlier runs drawn one by one")
    return f"{points}; the other {chart.binned:,} of {chart.runs:,} runs as their median and range per {chart.per}."


def training_runs(chart: details.RunChart, title: str, height: int = 350) -> go.Figure:
    """Cost of each training run by its first day; outliers red, the outlier fence dashed.

    ``chart`` is ``kpis.details.training_run_chart``: at most
    ``MAX_CHART_POINTS`` runs are points (the costliest outliers); the others
    are a median line in a shaded range per day (up to a quarter) or week, so
    every run is inside what is drawn. ``training_runs_caption`` says how many
    of how many.
    """
    fig = _Fig()
    stats = chart.bins
    if not stats.empty:
        cur = " / ".join(chart.binned_currencies) or "USD"
        word = "day" if chart.per == "day" else "week of"
        x = pd.DatetimeIndex(stats["bin"])  # a figure's arrays go to JSON as they are (a list is cleaned first)
        text = [f"{word} {d:%Y-%m-%d}: {n:,} runs, median {fmt.fmt_money(md, cur)}, "
                f"{fmt.fmt_money(lo, cur)} – {fmt.fmt_money(hi, cur)}"
                for d, lo, md, hi, n in zip(x, stats["min"], stats["median"], stats["max"], stats["size"])]
        fig.add_trace(_trace("scatter", x=x, y=stats["min"], mode="lines", line=dict(width=0, shape="hv"),
                             showlegend=False, hoverinfo="skip", legendgroup="rest"))
        fig.add_trace(_trace("scatter", x=x, y=stats["max"], mode="lines", line=dict(width=0, shape="hv"),
                             fill="tonexty", fillcolor="rgba(31, 119, 180, 0.18)", legendgroup="rest",
                             name=f"other runs, range per {chart.per}", showlegend=False, hoverinfo="skip"))
        # One legend entry for the line and its shaded range: a third entry took a row of a small chart.
        fig.add_trace(_trace("scatter", x=x, y=stats["median"], mode="lines",
                             name=f"other runs: median, range per {chart.per}",
                             line=dict(color=SERIES[0], width=2, shape="hv"), legendgroup="rest", text=text,
                             hovertemplate="%{text}<extra></extra>"))
    drawn = chart.drawn
    for flag, name, colour in ((False, "run", SERIES[0]), (True, "outlier run", STATUS_COLOURS["red"])):
        rows = drawn[drawn["outlier"] == flag]
        if rows.empty:
            continue
        fig.add_trace(_trace("scatter",
            x=rows["first_date"], y=rows["cost"], mode="markers", name=name,
            marker=dict(color=colour, size=9 if flag else 6, symbol="diamond" if flag else "circle"),
            text=[esc(f"{r} · {s} · {fmt.fmt_money(c, cur)}") for r, s, c, cur in
                  zip(rows["run_id"], rows["service"], rows["cost"], rows["currency"])],
            hovertemplate="%{text}<extra></extra>"))
    if chart.fence is not None:
        fig.add_hline(y=chart.fence, line=dict(color=STATUS_COLOURS["red"], dash="dash", width=1),
                      annotation_text="outlier fence (Q3 + 1.5 IQR)")
    cur = " / ".join(chart.currencies) or "USD"
    _layout(fig, title, f"cost per run ({esc(cur)})", height, x_title="run start")
    fig.update_xaxes(type="date")
    fig.update_yaxes(tickformat=",.0f")
    fig.update_layout(hovermode="closest")
    return fig.done()


def ranked_bars(frame: pd.DataFrame, label: str, value: str, title: str, x_title: str,
                height: int = 330) -> go.Figure:
    """Horizontal bars, largest on top (worst services)."""
    rows = frame.sort_values(value, ascending=True)
    fig = _Fig(_trace("bar", x=rows[value], y=[esc(v) for v in rows[label]], orientation="h",
                      marker_color=STATUS_COLOURS["red"],
                           opacity=0.8, hovertemplate="%{y}: %{x:,}<extra></extra>"))
    _layout(fig, title, "", height, x_title=x_title)
    fig.update_yaxes(type="category", rangemode=None)
    fig.update_xaxes(type="linear", tickangle=0, tickformat=",.0f", **_whole_ticks(rows[value]))
    fig.update_layout(hovermode="closest")
    return fig.done()


def _whole_ticks(values) -> dict:
    """Axis settings for small whole counts: a tick per unit, so 0-2 does not read "0 1 1 2 2"."""
    vals = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    if len(vals) and (vals == vals.round()).all() and vals.abs().max() <= 10:
        return {"dtick": 1}
    return {}


def sparkline(rows: pd.DataFrame, status: str = "none", height: int = 64, partial: str | None = None) -> go.Figure:
    """The scorecard's 12-period sparkline: the KPI's line in its status colour, the target band behind; the
    period in progress (``partial``) a hollow marker on a dotted segment."""
    colour = status_colour(status)
    kpi = rows["kpi"].iloc[0] if len(rows) and "kpi" in rows else None
    div, _, _ = fmt.axis_for(rows["unit"].iloc[0] if len(rows) else "count", rows["value"].tolist(), kpi)
    fig = _Fig()
    b = _band(rows, div) if len(rows) else None
    top = (rows["value"].max() / div * 1.15) if has_values(rows) else 1.0
    if b is not None:
        finite = [v for v in b[0] + b[1] if v is not None]
        top = max([top] + [v * 1.1 for v in finite])
        lows, highs = b
        x = list(rows["period"])
        fig.add_trace(_trace("scatter", x=x, y=[0.0 if v is None else v for v in lows], mode="lines",
                                 line=dict(width=0, shape="hv"), hoverinfo="skip"))
        fig.add_trace(_trace("scatter", x=x, y=[top if v is None else v for v in highs], mode="lines",
                                 line=dict(width=0, shape="hv"), fill="tonexty", fillcolor=BAND_FILL,
                                 hoverinfo="skip"))
    text = [f"{p}: {fmt.fmt_value(v, u, kpi)}" for p, v, u in zip(rows["period"], rows["value"], rows["unit"])]
    _series(fig, list(rows["period"]), list(rows["value"] / div), name="", colour=colour, width=2, size=4,
            text=text, partial=partial)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=2, b=2), showlegend=False,
                      hovermode="closest")
    fig.update_xaxes(visible=False, type="category")
    fig.update_yaxes(visible=False, range=_spark_range(rows["value"] / div, top))
    return fig.done()


def _spark_range(values: pd.Series, top: float) -> list[float] | None:
    """The sparkline's y-range: from 0 (or below it, for a negative value such as an overspent error budget)
    to ``top``; zoomed in on values far from zero (availability near 100%), so the line is not flat."""
    finite = values.dropna()
    if finite.empty:
        return [0, top] if top > 0 else None
    lo, hi = float(finite.min()), float(finite.max())
    if lo > 0 and lo > 0.6 * hi:
        pad = max((hi - lo) * 0.5, abs(hi) * 0.002)
        return [lo - pad, hi + pad]
    bottom = min(0.0, lo - 0.15 * abs(lo))
    ceiling = max(top, hi * 1.15 if hi > 0 else 0.0)
    return [bottom, ceiling] if ceiling > bottom else None


def error_budget(frame: pd.DataFrame, title: str, slo: float, height: int = 330,
                 partial: str | None = None, first: tuple[str, str] | None = None) -> go.Figure:
    """Error budget remaining per period as bars in their status colours; overspent (below 0) is red.

    ``frame`` is ``kpis.compute`` output holding ``error_budget_remaining``
    (with target columns when the profile judges it: green, amber, red as
    judged, and the green bound drawn). Without a target: green while some is
    left, red once overspent. Periods without serving data stay empty; the
    period in progress (``partial``) is hatched, its tick '... (to date)', and so is the period the data
    begins in after its first day (``first``), '... (from 05-20)'.
    """
    rows = frame[frame["kpi"] == "error_budget_remaining"].drop_duplicates("period")
    periods = list(dict.fromkeys(rows["period"]))
    rows = _lead_last(rows, "period", first)
    values = rows["value"].astype("float64")
    if "status" in rows and rows["status"].ne("none").any():
        colours = [status_colour(s) for s in rows["status"]]
    else:
        colours = [STATUS_COLOURS["none"] if math.isnan(v) else STATUS_COLOURS["green"] if v >= 0
                   else STATUS_COLOURS["red"] for v in values]
    text = [fmt.fmt_percent(v, 0) for v in values]
    fig = _Fig(_trace("bar", x=rows["period"], y=values * 100, name="budget remaining", showlegend=False,
                           marker=dict(color=colours, pattern=_hatch(list(rows["period"]), partial, first)),
                           text=text, textposition="none",
                           hovertemplate="%{text} of the budget left<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="#424242", width=1.2))  # below it the budget is overspent
    green = rows["green_low"].dropna() if "green_low" in rows else pd.Series(dtype="float64")
    if len(green) and green.iloc[0] > 0:
        words = _first_text(rows, "band_text") or "target"
        fig.add_hline(y=float(green.iloc[0]) * 100, line=dict(color=BAND_LINE, width=1.2, dash="dash"))
        # named in the legend, not by an annotation that the bars would cover
        fig.add_trace(_trace("scatter", x=[periods[0]], y=[None], mode="lines", name=f"{esc(words)}: green above the line",
                                 line=dict(color=BAND_LINE, width=1.2, dash="dash"), hoverinfo="skip"))
    _layout(fig, title, f"% of the budget left (SLO {fmt.fmt_percent(slo, 1)});<br>below 0: overspent", height)
    _period_ticks(fig, periods, partial, first)
    finite = [v * 100 for v in values if not math.isnan(v)]
    lo, hi = min(finite + [0.0]), max(finite + [100.0 if not finite or max(finite) > 0 else 0.0])
    if len(green):
        hi = max(hi, float(green.iloc[0]) * 100 * 1.3)  # the green bound stays in view
    pad = (hi - lo) * 0.08 or 10
    fig.update_yaxes(range=[lo - pad, hi + pad], rangemode="normal", ticksuffix="%", tickformat=",.0f")
    fig.update_layout(showlegend=len(fig.data) > 1, hovermode="closest")
    return fig.done()
