"""Every chart of the dashboard: trends with target bands, status colours, the sparkline.

Pages never build plotly figures themselves; they call these so that every
chart says what is good in its title, shows readable units and draws the
target where one exists. Inputs are the frames of ``kpis.compute`` (with the
target columns of ``kpis.targets.attach_targets`` when a profile is active) or
of ``kpis.details``.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from kpis import catalog
from kpis import format as fmt

STATUS_COLOURS = {"green": "#2e7d32", "amber": "#f9a825", "red": "#c62828", "none": "#9e9e9e"}
STATUS_WORDS = {"green": "on target", "amber": "near target", "red": "off target", "none": "no target"}
SEVERITY_COLOURS = {"sev1": "#7f0000", "sev2": "#c62828", "sev3": "#ef6c00", "sev4": "#f9a825",
                    "sev5": "#90a4ae", "unspecified": "#cfd8dc"}
BAND_FILL = "rgba(46, 125, 50, 0.12)"
BAND_LINE = "rgba(46, 125, 50, 0.8)"
SERIES = ["#1f77b4", "#ff7f0e", "#6a3d9a", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#393b79", "#637939", "#8c6d31", "#843c39"]
FONT = dict(family="Source Sans Pro, sans-serif", size=13)
CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def status_colour(status) -> str:
    return STATUS_COLOURS.get(status if isinstance(status, str) else "none", STATUS_COLOURS["none"])


def _layout(fig: go.Figure, title: str, y_title: str, height: int = 330, x_title: str = "") -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=16)),
        template="plotly_white", height=height, font=FONT,
        margin=dict(l=10, r=10, t=48, b=10),
        legend=dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.01, font=dict(size=12)),
        hovermode="x unified",
    )
    fig.update_yaxes(title_text=y_title, rangemode="tozero", zeroline=True)
    fig.update_xaxes(title_text=x_title, type="category", tickangle=-45, automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def _band(rows: pd.DataFrame, div: float) -> tuple[list, list] | None:
    """(low, high) of the green region per period, scaled, or None when no row has a target bound."""
    if "green_low" not in rows or "green_high" not in rows:
        return None
    lo, hi = rows["green_low"].astype("float64"), rows["green_high"].astype("float64")
    if lo.isna().all() and hi.isna().all():
        return None
    return [None if math.isnan(v) else v / div for v in lo], [None if math.isnan(v) else v / div for v in hi]


def _add_band(fig: go.Figure, x: list, band: tuple[list, list], top: float, label: str = "target (green)") -> None:
    """Shade the green region of each period (an open side runs to 0 or past the data); periods
    without a judged bound (no data, not enough history) get no shading."""
    lows, highs = band
    # All rectangles in one layout update: add_shape re-validates every earlier shape on each call, which made
    # a weekly trend (80 periods) take seconds per chart.
    rects = [dict(type="rect", xref="x", yref="y", x0=i - 0.5, x1=i + 0.5, y0=0.0 if lo is None else lo,
                  y1=top if hi is None else hi, fillcolor=BAND_FILL, line=dict(width=0), layer="below")
             for i, (lo, hi) in enumerate(zip(lows, highs)) if not (lo is None and hi is None)]
    fig.update_layout(shapes=list(fig.layout.shapes) + rects)
    # A legend entry for the shading, and the bound that matters as a dashed line: the upper one for
    # lower-is-better targets, else the lower one.
    fig.add_trace(go.Scatter(x=[x[0]], y=[None], mode="markers", name=label, hoverinfo="skip",
                             marker=dict(symbol="square", size=12, color=BAND_FILL)))
    edge = highs if any(v is not None for v in highs) else lows
    fig.add_trace(go.Scatter(x=x, y=edge, mode="lines", connectgaps=False,
                             line=dict(color=BAND_LINE, dash="dash", width=1.5, shape="hvh"),
                             name="target bound", hovertemplate="target %{y:.3g}<extra></extra>"))


def _ratio_title(kpi_id: str) -> str:
    return {"change_failure_rate": "% of deployments", "rollback_rate": "% of deployments",
            "error_rate": "% of requests", "availability": "% of requests served"}.get(kpi_id, "%")


def has_values(frame: pd.DataFrame) -> bool:
    return not frame.empty and frame["value"].notna().any()


def trend(frame: pd.DataFrame, kpi_ids: list[str], title: str, by: str | None = None, height: int = 330,
          band_kpi: str | None = None, names: dict[str, str] | None = None) -> go.Figure:
    """KPI lines over periods, the green target band of ``band_kpi`` behind them.

    ``frame`` is ``kpis.compute`` output (possibly with target columns). One
    line per KPI, or per ``by`` group for a single KPI. Gaps (no data) stay
    gaps. Markers are coloured by status for an ungrouped KPI with targets.
    """
    frame = frame[frame["kpi"].isin(kpi_ids)]
    unit = fmt.kpi_unit(kpi_ids[0])
    units = frame["unit"].dropna().unique()
    money = unit == catalog.CURRENCY
    div, y_title, tickformat = fmt.axis_for(units[0] if money and len(units) else unit, frame["value"].tolist())
    if money and len(units) > 1:
        y_title = " / ".join(units)
    periods = list(dict.fromkeys(frame["period"]))
    fig = go.Figure()
    band_kpi = band_kpi or kpi_ids[0]
    top = (frame["value"].max() / div * 1.15) if has_values(frame) else 1.0
    band_rows = frame[frame["kpi"] == band_kpi]
    if by is not None and band_rows[by].nunique(dropna=False) != 1:
        band_rows = band_rows.iloc[0:0]
    if not band_rows.empty and (not money or len(units) <= 1):
        brows = band_rows.drop_duplicates("period")
        brows = brows.set_index("period").reindex(periods).reset_index()
        b = _band(brows, div)
        if b is not None:
            finite = [v for v in b[0] + b[1] if v is not None]
            top = max([top] + [v * 1.15 for v in finite])
            scope = next((t for t in brows.get("scope", pd.Series(dtype=object)) if isinstance(t, str) and t), "")
            # the scope on a line of its own: a long legend on the right squeezes a half-width chart
            _add_band(fig, periods, b, top, label="target (green)" + (f":<br>{scope}" if scope else ""))
            if scope and "scoped_value" in brows and brows["scoped_value"].notna().any():
                fig.add_trace(go.Scatter(
                    x=periods, y=brows["scoped_value"] / div, mode="lines+markers", name=f"as judged:<br>{scope}",
                    line=dict(color=BAND_LINE, width=1.5, dash="dot"), marker=dict(size=5), connectgaps=False))
    series = []
    if by is None:
        for k in kpi_ids:
            for cur, rows in frame[frame["kpi"] == k].groupby("unit", sort=False):
                label = (names or {}).get(k, catalog.get(k).title) + (f" ({cur})" if money and len(units) > 1 else "")
                series.append((label, rows, k))
    else:
        for g, rows in frame.groupby(by, sort=True, dropna=False):
            series.append(("(none)" if fmt.is_missing(g) else str(g), rows, kpi_ids[0]))
    for i, (label, rows, k) in enumerate(series):
        colour = SERIES[i % len(SERIES)]
        marker = dict(size=7, color=colour)
        if by is None and "status" in rows and rows["status"].ne("none").any():
            marker = dict(size=9, color=[status_colour(s) for s in rows["status"]],
                          line=dict(color=colour, width=1.5))
        text = [fmt.fmt_value(v, u) for v, u in zip(rows["value"], rows["unit"])]
        fig.add_trace(go.Scatter(
            x=rows["period"], y=rows["value"] / div, mode="lines+markers", name=label,
            line=dict(color=colour, width=2.2), marker=marker, connectgaps=False,
            text=text, hovertemplate="%{text}<extra>" + label + "</extra>"))
    _layout(fig, title, y_title, height)
    fig.update_xaxes(categoryorder="array", categoryarray=periods)
    fig.update_yaxes(tickformat=tickformat, range=[0, top] if top > 0 else None,
                     **(_whole_ticks(frame["value"]) if tickformat == ",.0f" else {}))
    values = (frame["value"] / div).dropna()
    if len(values) and values.min() > 0.6 * values.max() and values.min() > 0:
        # Values far from zero (availability near 100%): zoom in instead of flattening the line.
        pad = max((values.max() - values.min()) * 0.5, abs(values.max()) * 0.002)
        lo, hi = values.min() - pad, values.max() + pad
        if unit == catalog.RATIO:
            hi = min(hi, 100.0 + pad * 0.25)  # a share never passes 100%: the axis stops just above it
            tickformat = ",.2f" if hi - lo < 2 else ",.1f" if hi - lo < 20 else ",.0f"
            fig.update_yaxes(tickformat=tickformat)
        fig.update_yaxes(range=[lo, hi], rangemode="normal")
    elif by is not None and len(values) and values.min() > 0 and values.max() / values.min() > 30:
        fig.update_yaxes(type="log", range=None, rangemode="normal", title_text=f"{y_title} (log scale)")
    elif unit == catalog.RATIO and len(values) and values.max() < 5:
        # Small shares (error rates of a fraction of a percent): ticks with decimals, not "0%" four times.
        fig.update_yaxes(tickformat=",.2f" if values.max() < 0.5 else ",.1f")
    if unit == catalog.RATIO:
        fig.update_yaxes(ticksuffix="%", title_text=_ratio_title(kpi_ids[0]))
    return fig


def stacked_bars(frame: pd.DataFrame, x: str, y: str, colour: str, title: str, y_title: str,
                 height: int = 330, colours: dict[str, str] | None = None, order: list[str] | None = None) -> go.Figure:
    """Bars per ``x`` stacked by ``colour`` (deployments by team, incidents by severity)."""
    fig = go.Figure()
    groups = order or sorted(frame[colour].dropna().unique())
    for i, g in enumerate(groups):
        rows = frame[frame[colour] == g]
        fig.add_trace(go.Bar(x=rows[x], y=rows[y], name=str(g),
                             marker_color=(colours or {}).get(g, SERIES[i % len(SERIES)]),
                             hovertemplate="%{y:,.0f}<extra>" + str(g) + "</extra>"))
    fig.update_layout(barmode="stack")
    _layout(fig, title, y_title, height)
    fig.update_xaxes(categoryorder="array", categoryarray=sorted(frame[x].dropna().unique()))
    fig.update_yaxes(tickformat=",.0f")
    return fig


def lead_time_histogram(bins: pd.DataFrame, title: str, height: int = 330) -> go.Figure:
    """Deployments per lead-time bin (``kpis.details.lead_time_distribution``)."""
    fig = go.Figure(go.Bar(x=bins["bin"], y=bins["deployments"], marker_color=SERIES[0],
                           hovertemplate="%{x}: %{y:,} deployments<extra></extra>"))
    _layout(fig, title, "deployments", height, x_title="lead time (days)")
    return fig


def cost_and_volume(frame: pd.DataFrame, title: str, height: int = 350) -> go.Figure:
    """Inference cost (bars, left axis) and prediction volume (line, right axis) per period."""
    cost = frame[frame["kpi"] == "inference_cost"]
    vol = frame[frame["kpi"] == "predictions"]
    fig = go.Figure()
    currencies = list(cost["unit"].dropna().unique())
    for i, (cur, rows) in enumerate(cost.groupby("unit", sort=False)):
        fig.add_trace(go.Bar(x=rows["period"], y=rows["value"], name=f"inference cost ({cur})",
                             marker_color=SERIES[i], opacity=0.85,
                             text=[fmt.fmt_money(v, cur) for v in rows["value"]], textposition="none",
                             hovertemplate="%{text}<extra>inference cost</extra>"))
    fig.add_trace(go.Scatter(x=vol["period"], y=vol["value"], name="predictions", yaxis="y2", mode="lines+markers",
                             line=dict(color=SERIES[1], width=2.2), connectgaps=False,
                             text=[fmt.fmt_count(v) for v in vol["value"]],
                             hovertemplate="%{text}<extra>predictions</extra>"))
    _layout(fig, title, f"inference cost ({' / '.join(currencies) or 'USD'})", height)
    fig.update_layout(yaxis2=dict(title="predictions", overlaying="y", side="right", rangemode="tozero",
                                  tickformat=",.0f", showgrid=False))
    fig.update_yaxes(tickformat=",.0f", selector=dict(overlaying=None))
    return fig


def training_runs(runs: pd.DataFrame, title: str, height: int = 350) -> go.Figure:
    """Cost of each training run by its first day; outliers red, the outlier fence dashed."""
    fig = go.Figure()
    for flag, name, colour in ((False, "run", SERIES[0]), (True, "outlier run", STATUS_COLOURS["red"])):
        rows = runs[runs["outlier"] == flag]
        if rows.empty:
            continue
        fig.add_trace(go.Scatter(
            x=rows["first_date"], y=rows["cost"], mode="markers", name=name,
            marker=dict(color=colour, size=9 if flag else 6, symbol="diamond" if flag else "circle"),
            text=[f"{r} · {s} · {fmt.fmt_money(c, cur)}" for r, s, c, cur in
                  zip(rows["run_id"], rows["service"], rows["cost"], rows["currency"])],
            hovertemplate="%{text}<extra></extra>"))
    fence = runs["outlier_threshold"].dropna()
    if not fence.empty:
        fig.add_hline(y=float(fence.iloc[0]), line=dict(color=STATUS_COLOURS["red"], dash="dash", width=1),
                      annotation_text="outlier fence (Q3 + 1.5 IQR)", annotation_position="top left")
    cur = " / ".join(runs["currency"].dropna().unique()) or "USD"
    _layout(fig, title, f"cost per run ({cur})", height, x_title="run start")
    fig.update_xaxes(type="date")
    fig.update_yaxes(tickformat=",.0f")
    fig.update_layout(hovermode="closest")
    return fig


def ranked_bars(frame: pd.DataFrame, label: str, value: str, title: str, x_title: str,
                height: int = 330) -> go.Figure:
    """Horizontal bars, largest on top (worst services)."""
    rows = frame.sort_values(value, ascending=True)
    fig = go.Figure(go.Bar(x=rows[value], y=rows[label], orientation="h", marker_color=STATUS_COLOURS["red"],
                           opacity=0.8, hovertemplate="%{y}: %{x:,}<extra></extra>"))
    _layout(fig, title, "", height, x_title=x_title)
    fig.update_yaxes(type="category", rangemode=None)
    fig.update_xaxes(type="linear", tickformat=",.0f", **_whole_ticks(rows[value]))
    fig.update_layout(hovermode="closest")
    return fig


def _whole_ticks(values) -> dict:
    """Axis settings for small whole counts: a tick per unit, so 0-2 does not read "0 1 1 2 2"."""
    vals = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    if len(vals) and (vals == vals.round()).all() and vals.abs().max() <= 10:
        return {"dtick": 1}
    return {}


def sparkline(rows: pd.DataFrame, status: str = "none", height: int = 64) -> go.Figure:
    """The scorecard's 12-period sparkline: the KPI's line in its status colour, the green band behind."""
    colour = status_colour(status)
    div, _, _ = fmt.axis_for(rows["unit"].iloc[0] if len(rows) else "count", rows["value"].tolist())
    fig = go.Figure()
    b = _band(rows, div) if len(rows) else None
    top = (rows["value"].max() / div * 1.15) if has_values(rows) else 1.0
    if b is not None:
        finite = [v for v in b[0] + b[1] if v is not None]
        top = max([top] + [v * 1.1 for v in finite])
        lows, highs = b
        x = list(rows["period"])
        fig.add_trace(go.Scatter(x=x, y=[0.0 if v is None else v for v in lows], mode="lines",
                                 line=dict(width=0, shape="hv"), hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=x, y=[top if v is None else v for v in highs], mode="lines",
                                 line=dict(width=0, shape="hv"), fill="tonexty", fillcolor=BAND_FILL,
                                 hoverinfo="skip"))
    text = [f"{p}: {fmt.fmt_value(v, u)}" for p, v, u in zip(rows["period"], rows["value"], rows["unit"])]
    fig.add_trace(go.Scatter(x=list(rows["period"]), y=rows["value"] / div, mode="lines+markers",
                             line=dict(color=colour, width=2), marker=dict(size=4, color=colour),
                             connectgaps=False, text=text, hovertemplate="%{text}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=2, b=2), showlegend=False,
                      template="plotly_white", hovermode="closest")
    fig.update_xaxes(visible=False, type="category")
    fig.update_yaxes(visible=False, range=[0, top] if top > 0 else None)
    return fig


def error_budget(frame: pd.DataFrame, title: str, slo: float, height: int = 330) -> go.Figure:
    """Error budget remaining per period as bars: green while some is left, red once overspent (below 0).

    ``frame`` is ``kpis.compute`` output holding ``error_budget_remaining``;
    periods without serving data stay empty.
    """
    rows = frame[frame["kpi"] == "error_budget_remaining"]
    periods = list(dict.fromkeys(rows["period"]))
    values = rows["value"].astype("float64")
    colours = [STATUS_COLOURS["none"] if math.isnan(v) else STATUS_COLOURS["green"] if v >= 0
               else STATUS_COLOURS["red"] for v in values]
    text = [fmt.fmt_percent(v, 0) for v in values]
    fig = go.Figure(go.Bar(x=rows["period"], y=values * 100, marker_color=colours, name="budget remaining",
                           text=text, textposition="none",
                           hovertemplate="%{text} of the budget left<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="#424242", width=1.2),
                  annotation_text=f"budget spent (SLO {fmt.fmt_percent(slo, 1)})",
                  annotation_position="top left", annotation_font=dict(size=11, color="#424242"))
    _layout(fig, title, "% of the error budget left", height)
    fig.update_xaxes(categoryorder="array", categoryarray=periods)
    finite = [v * 100 for v in values if not math.isnan(v)]
    lo, hi = min(finite + [0.0]), max(finite + [100.0 if not finite or max(finite) > 0 else 0.0])
    pad = (hi - lo) * 0.08 or 10
    fig.update_yaxes(range=[lo - pad, hi + pad], rangemode="normal", ticksuffix="%", tickformat=",.0f")
    fig.update_layout(showlegend=False, hovermode="closest")
    return fig
