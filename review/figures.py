"""The review's charts as the exporters need them: the app's figure, restyled for a page or a slide.

The model keeps the figures exactly as ``kpis.charts`` builds them for the app.
An exported chart gets its title as text above it (crisp, and editable on a
slide), so the figure drops its own title and puts its legend in a row on top,
which leaves the plot the full width of a half-page cell. The changes are made
on the figure's JSON (plotly's validation of a figure copy costs more than the
whole export).
"""

from __future__ import annotations

import json

import plotly.graph_objects as go

from kpis import charts

CONFIG = {**charts.CONFIG, "responsive": True}


def spec(fig: go.Figure, *, height: int | None = None, width: int | None = None,
         font_size: int | None = None) -> dict:
    """The figure as plain JSON data (``data`` and ``layout``) for Plotly.newPlot / Plotly.toImage: no
    title, the legend in a row above the plot, sized by its container (or ``width`` x ``height`` px)."""
    out = json.loads(fig.to_json())
    layout = out.setdefault("layout", {})
    layout.pop("title", None)
    legend = {**layout.get("legend", {}), "orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left",
              "x": 0.0, "bgcolor": "rgba(255,255,255,0)", "font": {"size": font_size - 1 if font_size else 12}}
    legend.pop("title", None)
    layout.update(legend=legend, margin={"l": 10, "r": 14, "t": 34, "b": 10}, autosize=width is None)
    layout.pop("height", None)
    layout.pop("width", None)
    if width is not None:
        layout.update(width=width, height=height)
    elif height is not None:
        layout["height"] = height
    if font_size:
        layout["font"] = {**layout.get("font", {}), "size": font_size}
    for name, axis in layout.items():
        if not (name.startswith("xaxis") or name.startswith("yaxis")) or not isinstance(axis, dict):
            continue
        # Category axes (periods) turn their labels only when they would overlap.
        if name.startswith("xaxis") and axis.get("type") == "category":
            axis.pop("tickangle", None)
        if font_size:
            axis["tickfont"] = {**axis.get("tickfont", {}), "size": font_size - 1}
            title = axis.get("title")
            if isinstance(title, dict):
                title["font"] = {**title.get("font", {}), "size": font_size}
    return out


def script_json(obj) -> str:
    """JSON that is safe inside an HTML <script> element (no '</script>', no HTML-significant characters)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text
