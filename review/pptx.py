"""The review as a PowerPoint deck (python-pptx): one 16:9 slide per section.

* a title slide (period, scope, targets, data range);
* the scorecard as a table (value, status in its colour, target, previous
  value, change), over as many slides as it takes at 14 pt (whole families
  per slide) rather than in smaller type;
* one slide per KPI family: its KPIs as a table down the left, its charts in a
  grid: native PowerPoint charts (editable, their data in the deck) for the
  trends and bars, with the target's bound as a dashed series (the green band
  is left out, and the chart's title says so); a picture (drawn by plotly.js in
  headless Chromium: ``review.browser.figures_to_png``) only where python-pptx
  cannot draw the chart (two value axes, runs on a date axis);
* the notable events, one table per slide.

Type is readable from the back of a room: titles 24 pt and more, everything
else 14 pt and more (tables, chart text, footers). The presenter's commentary
is in each slide's notes and, when there is some, in a text box on the slide.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.dml.color import RGBColor
from pptx.enum.chart import XL_CHART_TYPE, XL_LEGEND_POSITION, XL_MARKER_STYLE
from pptx.enum.dml import MSO_LINE_DASH_STYLE
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.util import Emu, Inches, Pt

from kpis import charts
from review import browser, figures
from review.html import compared_with, scorecard_columns
from review.model import STATUS_COLOURS, KpiLine, Review, Section, Table

SLIDE_W, SLIDE_H = 13.333, 7.5  # inches: PowerPoint's 16:9
MARGIN = 0.45
TOP = 1.45  # below the title and subtitle
BOTTOM = 6.9  # above the footer
TITLE_PT, SUBTITLE_PT, BODY_PT, VALUE_PT = 28, 16, 14, 14  # readable from the back of the room: nothing under 14
PX_PER_IN = 72  # a picture chart is laid out at 72 CSS px per inch, so its 19 px text shows at 14 pt
CHART_FONT = 19
IMAGE_SCALE = 3
TILES_W = 3.9  # the KPI table of a family slide
GAP = 0.2
CHART_TITLE_H = 0.34
COMMENTARY_H = 0.75
NOTE_H = 0.3
AXIS_TITLE_CHARS = 12
ROW_H = 0.3  # a table row of one line at 14 pt
SCORECARD_ROWS = 14  # rows (KPIs and family headings) on one scorecard slide: some targets take two lines
# KPIs in a family slide's table beside its charts (their titles take two lines in its narrow column): more (the
# delivery family with lead time per change) continue on a slide of their own.
FAMILY_ROWS = 8

INK = RGBColor(0x1F, 0x29, 0x33)
MUTED = RGBColor(0x5F, 0x6B, 0x7A)
LINE = RGBColor(0xD9, 0xDE, 0xE5)
HEAD_FILL = RGBColor(0xEE, 0xF1, 0xF5)
WHITE = RGBColor(0xFF, 0xFF, 0xFF)
ACCENT = RGBColor(0x1F, 0x77, 0xB4)
NOTE_FILL = RGBColor(0xF0, 0xF6, 0xFC)


def _rgb(hex_colour: str) -> RGBColor:
    return RGBColor.from_string(hex_colour.lstrip("#").upper())


STATUS_RGB = {k: _rgb(v) for k, v in STATUS_COLOURS.items()}
SERIES_RGB = [_rgb(c) for c in charts.SERIES]
BOUND_RGB = RGBColor(0x2E, 0x7D, 0x32)
STATUS_TEXT_RGB = {"amber": RGBColor(0x3B, 0x2F, 0x00)}


def render(review: Review) -> bytes:
    """The deck's bytes. Raises browser.BrowserMissingError without a Chromium (the picture charts need it)."""
    plan = []  # (section, part): the scorecard takes a slide per group of families that fits
    for section in review.sections:
        if section.id == "scorecard":
            chunks = _scorecard_chunks(section)
            plan += [(section, (i, chunk, len(chunks))) for i, chunk in enumerate(chunks)]
        elif section.tables:
            plan += [(section, (i, t, len(section.tables))) for i, t in enumerate(section.tables)]
        else:
            n = max(1, -(-len(section.kpis) // FAMILY_ROWS))
            plan += [(section, (i, section.kpis[i * FAMILY_ROWS:(i + 1) * FAMILY_ROWS], n)) for i in range(n)]
    images = _chart_images([s for s, _ in plan if s.charts])
    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(SLIDE_W), Inches(SLIDE_H)
    blank = prs.slide_layouts[6]
    _title_slide(prs.slides.add_slide(blank), review)
    total = len(plan) + 1
    for number, (section, part) in enumerate(plan, start=2):
        slide = prs.slides.add_slide(blank)
        if section.id == "scorecard":
            i, chunk, n = part
            title = section.title + (f" ({i + 1} of {n})" if n > 1 else "")
            _header(slide, title, section.subtitle)
            bottom = _scorecard(slide, review, chunk)
            _notes_and_commentary(slide, section, bottom, on_slide=i == 0, kpis=chunk)
        elif section.tables:
            i, table, n = part
            _header(slide, f"{section.title} ({i + 1} of {n})", f"{table.title} · {section.subtitle}")
            bottom = _event_table(slide, table)
            _notes_and_commentary(slide, section, bottom, on_slide=i == 0)
        elif part[0] == 0:
            _header(slide, section.title, section.subtitle)
            bottom = _family(slide, section, images, part[1])
            _notes_and_commentary(slide, section, bottom, kpis=part[1])
        else:  # the family's further KPIs, the table alone
            _header(slide, f"{section.title} (continued)", section.subtitle)
            bottom = _kpi_table(slide, MARGIN, TOP, TILES_W, part[1])
            _notes_and_commentary(slide, section, bottom, on_slide=False, kpis=part[1])
        _footer(slide, review, number, total)
    out = io.BytesIO()
    prs.save(out)
    return out.getvalue()


def write(review: Review, path) -> None:
    Path(path).write_bytes(render(review))


# --- pieces ---------------------------------------------------------------------------------


def _chart_layout(section: Section) -> tuple[float, float, int, float, float]:
    """(x0, bottom, columns, cell width, cell height) of a family slide's chart grid, in inches."""
    bottom = BOTTOM - _reserve(section)
    x0 = MARGIN + TILES_W + 0.25
    area_w = SLIDE_W - MARGIN - x0
    n = len(section.charts)
    cols = 1 if n == 1 else 2
    rows = max(1, (n + cols - 1) // cols)
    cell_w = (area_w - GAP * (cols - 1)) / cols
    cell_h = (bottom - TOP - GAP * (rows - 1)) / rows
    return x0, bottom, cols, cell_w, cell_h


def _reserve(section: Section) -> float:
    return (COMMENTARY_H + 0.1 if section.commentary else 0) + NOTE_H * _note_rows(section)


NOTE_CHARS = 130  # characters of a 14 pt note line across the slide (about 6.7 pt a character)


def _captions(section: Section) -> list[str]:
    """'Cost per training run: 552 outlier runs drawn one by one; ...': the chart named by its title's first
    clause, so that the line fits the width of the slide."""
    return [f"{c.title.split(' — ')[0].split(',')[0]}: {c.caption}" for c in section.charts if c.caption]


def _notes(section: Section) -> list[str]:
    """The lines under a slide's charts: what a chart leaves out of its points, then the section's notes."""
    return _captions(section) + list(section.notes)


def _note_rows(section: Section) -> int:
    return sum(-(-len(n) // NOTE_CHARS) for n in _captions(section)) + len(section.notes)


def _chart_images(sections: list[Section]) -> dict[str, bytes]:
    """Each chart drawn at the size of its place on the slide (PX_PER_IN CSS px per inch)."""
    charts, specs = [], []
    for section in sections:
        _, _, _, cell_w, cell_h = _chart_layout(section)
        w, h = round(cell_w * PX_PER_IN), round((cell_h - CHART_TITLE_H) * PX_PER_IN)
        for c in section.charts:
            if native_chart(c.figure) is not None:
                continue
            charts.append(c)
            specs.append(figures.spec(c.figure, width=w, height=h, font_size=CHART_FONT))
    if not specs:
        return {}
    pngs = browser.figures_to_png(specs, scale=IMAGE_SCALE)
    return {c.id: png for c, png in zip(charts, pngs)}


def _text(slide, x, y, w, h, text: str, size: float, *, bold=False, colour=INK, align=PP_ALIGN.LEFT,
          anchor=MSO_ANCHOR.TOP, wrap=True):
    box = slide.shapes.add_textbox(Inches(x), Inches(y), Inches(w), Inches(h))
    tf = box.text_frame
    tf.word_wrap = wrap
    tf.vertical_anchor = anchor
    for side in ("margin_left", "margin_right", "margin_top", "margin_bottom"):
        setattr(tf, side, Inches(0.02))
    lines = str(text).split("\n")
    for i, line in enumerate(lines):
        p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        p.alignment = align
        run = p.add_run()
        run.text = line
        run.font.size = Pt(size)
        run.font.bold = bold
        run.font.color.rgb = colour
    return box


def _runs(paragraph, parts: list[tuple[str, float, bool, RGBColor]]) -> None:
    for text, size, bold, colour in parts:
        run = paragraph.add_run()
        run.text = text
        run.font.size = Pt(size)
        run.font.bold = bold
        run.font.color.rgb = colour


def _header(slide, title: str, subtitle: str) -> None:
    _text(slide, MARGIN, 0.25, SLIDE_W - 2 * MARGIN, 0.6, title, TITLE_PT, bold=True)
    _text(slide, MARGIN, 0.88, SLIDE_W - 2 * MARGIN, 0.45, subtitle, SUBTITLE_PT, colour=MUTED)


def _footer(slide, review: Review, number: int, total: int) -> None:
    left = f"{review.title} · {review.filters_text} · targets: {review.profile or 'none'}"
    _text(slide, MARGIN, BOTTOM + 0.12, SLIDE_W - 2 * MARGIN - 1.2, 0.4, left, BODY_PT, colour=MUTED)
    _text(slide, SLIDE_W - MARGIN - 1.2, BOTTOM + 0.12, 1.2, 0.4, f"{number} / {total}", BODY_PT, colour=MUTED,
          align=PP_ALIGN.RIGHT)


def _title_slide(slide, review: Review) -> None:
    _text(slide, 0.8, 0.6, 11.7, 0.4, "ML engineering KPIs", 18, colour=MUTED)
    _text(slide, 0.8, 1.05, 11.7, 1.2, review.title, 36 if len(review.title) <= 45 else 30, bold=True)
    _text(slide, 0.8, 2.2, 11.7, 2.0, "\n".join(review.subtitle_lines), 16, colour=MUTED)
    contents = [f"{i}. {s.title}" for i, s in enumerate(review.sections, start=1)]
    half = (len(contents) + 1) // 2  # two columns: every section listed at 16 pt
    _text(slide, 0.8, 4.35, 5.8, 2.4, "\n".join(contents[:half]), 16)
    _text(slide, 6.8, 4.35, 5.8, 2.4, "\n".join(contents[half:]), 16)
    if review.left_out:
        _text(slide, 0.8, 6.75, 11.7, 0.5, review.left_out_text, BODY_PT, colour=MUTED)
    slide.notes_slide.notes_text_frame.text = "\n".join(review.subtitle_lines)


def _cell(cell, text: str, size: float, *, bold=False, colour=INK, fill: RGBColor | None = WHITE,
          align=PP_ALIGN.LEFT) -> None:
    cell.margin_left = cell.margin_right = Inches(0.04)
    cell.margin_top = cell.margin_bottom = Inches(0.01)
    cell.vertical_anchor = MSO_ANCHOR.MIDDLE
    if fill is not None:
        cell.fill.solid()
        cell.fill.fore_color.rgb = fill
    tf = cell.text_frame
    tf.word_wrap = True
    p = tf.paragraphs[0]
    p.alignment = align
    for r in list(p.runs):
        r._r.getparent().remove(r._r)
    _runs(p, [(str(text), size, bold, colour)])


def _table(slide, x, y, w, header: list[str], rows: list[list[str]], widths: list[float], size: float,
           row_h: float):
    shape = slide.shapes.add_table(len(rows) + 1, len(header), Inches(x), Inches(y), Inches(w),
                                   Inches(row_h * (len(rows) + 1)))
    table = shape.table
    table.first_row = True
    table.horz_banding = False
    total = sum(widths)
    for i, width in enumerate(widths):
        table.columns[i].width = Emu(int(Inches(w) * width / total))
    for r in range(len(rows) + 1):
        table.rows[r].height = Inches(row_h)
    for c, name in enumerate(header):
        _cell(table.cell(0, c), name, size, bold=True, colour=MUTED, fill=HEAD_FILL)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            _cell(table.cell(r, c), value, size)
    return table


def _scorecard_chunks(section: Section) -> list[list]:
    """The scorecard rows (status headings, as the lines come in triage order, and KPI lines) in groups
    that fit a slide; a group longer than a slide continues on the next under its heading."""
    families: list[list] = []
    for line in section.kpis:
        if not families or families[-1][1].tier_title != line.tier_title or len(families[-1]) >= SCORECARD_ROWS:
            cont = bool(families) and families[-1][1].tier_title == line.tier_title
            families.append([line.tier_title + (" (continued)" if cont else "")])
        families[-1].append(line)
    chunks: list[list] = []
    for fam in families:
        room = SCORECARD_ROWS - (3 if section.commentary and len(chunks) == 1 else 0)  # the first has the commentary
        if chunks and len(chunks[-1]) + len(fam) <= room:
            chunks[-1] += fam
        else:
            chunks.append(list(fam))
    return chunks or [[]]


def _scorecard(slide, review: Review, rows: list) -> float:
    cols = list(scorecard_columns(review))
    cols.insert(4, compared_with(review)[1])
    size = BODY_PT
    body = []
    for r in rows:
        if isinstance(r, str):
            body.append([r] + [""] * (len(cols) - 1))
        else:
            change = f"{r.change_text} · {r.judgement}" if r.change_text else "—"
            body.append([r.title, r.value_text, r.status_text, r.target or "—", r.previous_text, change])
    table = _table(slide, MARGIN, TOP, SLIDE_W - 2 * MARGIN, cols, body, [3.0, 1.2, 1.35, 3.6, 1.2, 2.0], size,
                   ROW_H)
    for i, r in enumerate(rows, start=1):
        if isinstance(r, str):
            first = table.cell(i, 0)
            first.merge(table.cell(i, len(cols) - 1))
            _cell(first, r, size, bold=True, fill=HEAD_FILL)
            continue
        _cell(table.cell(i, 1), r.value_text, size, bold=True, align=PP_ALIGN.RIGHT)
        _cell(table.cell(i, 2), r.status_text, size, bold=True, fill=STATUS_RGB.get(r.status),
              colour=STATUS_TEXT_RGB.get(r.status, WHITE), align=PP_ALIGN.CENTER)
        _cell(table.cell(i, 3), r.target or "—", size, colour=MUTED)
        _cell(table.cell(i, 4), r.previous_text, size, colour=MUTED, align=PP_ALIGN.RIGHT)
        _cell(table.cell(i, 5), table.cell(i, 5).text, size, align=PP_ALIGN.RIGHT)
    # A target of two lines makes its row taller.
    extra = sum(0.22 for r in rows if not isinstance(r, str) and len(r.target or "") > 34)
    return TOP + ROW_H * (len(rows) + 1) + extra


def _kpi_table(slide, x, y, w, lines: tuple[KpiLine, ...]) -> float:
    """A family's KPIs down the left: name, value, status in its colour (the change is in the notes)."""
    body = [[k.title, k.value_text, k.status_text] for k in lines]
    table = _table(slide, x, y, w, ["KPI", "Value", "Status"], body, [1.75, 1.3, 0.95], BODY_PT, ROW_H)
    for i, k in enumerate(lines, start=1):
        _cell(table.cell(i, 1), k.value_text, VALUE_PT, bold=True, align=PP_ALIGN.RIGHT)
        _cell(table.cell(i, 2), k.status_text, BODY_PT, bold=True, fill=STATUS_RGB.get(k.status),
              colour=STATUS_TEXT_RGB.get(k.status, WHITE), align=PP_ALIGN.CENTER)
    return y + ROW_H * (len(lines) + 1)


def native_chart(fig) -> tuple | None:
    """(chart type, categories, [(series name, values, is the target bound)], number format, axis title) of
    a figure PowerPoint can draw itself (lines over periods, or bars over periods, on one value axis), or
    None (two value axes, bars with a line, points on a date axis: python-pptx draws no combination charts):
    those become pictures."""
    layout = fig.layout
    if layout.xaxis.type != "category":
        return None
    traces = [t for t in fig.data if not (t.type == "scatter" and t.mode == "markers" and len(t.x or ()) <= 1)]
    if not traces or any((t.yaxis or "y") != "y" for t in traces):
        return None
    kinds = {t.type for t in traces}
    if kinds == {"bar"}:
        kind = XL_CHART_TYPE.COLUMN_CLUSTERED
    elif kinds == {"scatter"} and all("lines" in (t.mode or "") for t in traces):
        kind = XL_CHART_TYPE.LINE_MARKERS
    else:
        return None
    categories = list(layout.xaxis.categoryarray or dict.fromkeys(x for t in traces for x in t.x))
    series = []
    for t in traces:
        values = dict(zip(t.x, t.y))
        name = html.unescape(str(t.name or "").replace("<br>", " "))  # plotly text (kpis.charts.esc) as plain text
        series.append((name, [None if values.get(c) is None or values.get(c) != values.get(c) else
                              float(values[c]) for c in categories], name == "target bound"))
    tickformat = layout.yaxis.tickformat or ",.1f"
    decimals = tickformat.rstrip("f").split(".")[-1] if "." in tickformat else "0"
    number_format = "#,##0" + ("." + "0" * int(decimals) if decimals.isdigit() and int(decimals) else "")
    if layout.yaxis.ticksuffix == "%":
        number_format += '"%"'
    return kind, categories, series, number_format, html.unescape(layout.yaxis.title.text or "")


def _native(slide, x, y, w, h, spec) -> None:
    kind, categories, series, number_format, axis_title = spec
    data = CategoryChartData(number_format=number_format)
    data.categories = categories
    for name, values, _ in series:
        data.add_series(name, values)
    chart = slide.shapes.add_chart(kind, Inches(x), Inches(y), Inches(w), Inches(h), data).chart
    chart.font.size = Pt(BODY_PT)
    chart.has_title = False
    chart.has_legend = len(series) > 1
    if chart.has_legend:
        chart.legend.position = XL_LEGEND_POSITION.TOP
        chart.legend.include_in_layout = False
        chart.legend.font.size = Pt(BODY_PT)
    value_axis = chart.value_axis
    value_axis.has_major_gridlines = True
    value_axis.major_gridlines.format.line.color.rgb = LINE
    value_axis.tick_labels.font.size = Pt(BODY_PT)
    value_axis.tick_labels.number_format = number_format
    value_axis.tick_labels.number_format_is_linked = False
    if axis_title and len(axis_title) <= AXIS_TITLE_CHARS:  # a unit (days, USD); a longer one repeats the title
        value_axis.has_title = True
        value_axis.axis_title.text_frame.text = axis_title
        for p in value_axis.axis_title.text_frame.paragraphs:
            for run in p.runs:
                run.font.size = Pt(BODY_PT)
                run.font.bold = False
    chart.category_axis.tick_labels.font.size = Pt(BODY_PT)
    colours = iter(SERIES_RGB)
    for plot in chart.plots:
        for s_chart, (name, _, bound) in zip(plot.series, series):
            fmt = s_chart.format
            if bound:  # the target's bound: a dashed green line, no markers
                fmt.line.color.rgb = BOUND_RGB
                fmt.line.dash_style = MSO_LINE_DASH_STYLE.DASH
                fmt.line.width = Pt(1.75)
                s_chart.marker.style = XL_MARKER_STYLE.NONE
                s_chart.smooth = False
                continue
            colour = next(colours, ACCENT)
            if kind == XL_CHART_TYPE.COLUMN_CLUSTERED:
                fmt.fill.solid()
                fmt.fill.fore_color.rgb = colour
            else:
                fmt.line.color.rgb = colour
                fmt.line.width = Pt(2.25)
                s_chart.smooth = False
                s_chart.marker.style = XL_MARKER_STYLE.CIRCLE
                s_chart.marker.size = 7
                s_chart.marker.format.fill.solid()
                s_chart.marker.format.fill.fore_color.rgb = colour


def _family(slide, section: Section, images: dict[str, bytes], kpis: tuple[KpiLine, ...]) -> float:
    """A family's slide: ``kpis`` (its first FAMILY_ROWS) down the left, its charts in a grid on the right."""
    x0, bottom, cols, cell_w, cell_h = _chart_layout(section)
    if kpis:
        _kpi_table(slide, MARGIN, TOP, TILES_W, kpis)
    # Charts in a grid on the right: titles as text, native charts (or pictures drawn at this size) below.
    for i, chart in enumerate(section.charts):
        r, c = divmod(i, cols)
        x, y = x0 + c * (cell_w + GAP), TOP + r * (cell_h + GAP)
        spec = native_chart(chart.figure)
        title = chart.title  # the green band is left out; the target's bound is the dashed "target bound" series
        _text(slide, x, y, cell_w, CHART_TITLE_H * (2 if len(title) > cell_w * 9 else 1), title, BODY_PT,
              bold=True)
        top = y + CHART_TITLE_H * (2 if len(title) > cell_w * 9 else 1)
        if spec is not None:
            _native(slide, x, top, cell_w, y + cell_h - top, spec)
            continue
        png = images.get(chart.id)
        if png is not None:
            slide.shapes.add_picture(io.BytesIO(png), Inches(x), Inches(top), Inches(cell_w),
                                     Inches(y + cell_h - top))
    return bottom


def _event_table(slide, t: Table) -> float:
    """One notable-events table across the slide at 14 pt, its note below."""
    x, y, w = MARGIN, TOP, SLIDE_W - 2 * MARGIN
    if t.frame is None or t.frame.empty:
        _text(slide, x, y, w, 0.6, t.empty, SUBTITLE_PT, colour=MUTED)
        return y + 0.7
    header = [str(h) for h in t.frame.columns]
    body = [[str(v) for v in rec] for rec in t.frame.itertuples(index=False, name=None)]
    # Columns as wide as their longest value (headings may wrap at a space).
    widths = [max([_longest_word(h)] + [len(row[j]) for row in body]) + 2 for j, h in enumerate(header)]
    _table(slide, x, y, w, header, body, widths, BODY_PT, ROW_H + 0.04)
    bottom = y + (ROW_H + 0.04) * (len(body) + 1)
    if t.note:
        _text(slide, x, bottom + 0.15, w, 0.7, t.note, BODY_PT, colour=MUTED)
        bottom += 0.9
    return bottom


def _longest_word(text: str) -> int:
    return max((len(w) for w in str(text).split()), default=1)


def _notes_and_commentary(slide, section: Section, bottom: float, *, on_slide: bool = True,
                          kpis: list | None = None) -> None:
    y = bottom + 0.05
    if _notes(section) and on_slide:
        _text(slide, MARGIN, y, SLIDE_W - 2 * MARGIN, NOTE_H * _note_rows(section), "\n".join(_notes(section)),
              BODY_PT, colour=MUTED)
        y += NOTE_H * _note_rows(section)
    notes = []
    if section.commentary:
        if on_slide:
            box = _text(slide, MARGIN, y + 0.05, SLIDE_W - 2 * MARGIN, COMMENTARY_H, "", BODY_PT)
            box.fill.solid()
            box.fill.fore_color.rgb = NOTE_FILL
            p = box.text_frame.paragraphs[0]
            _runs(p, [("Commentary  ", BODY_PT, True, ACCENT),
                      (section.commentary.replace("\n", " "), BODY_PT, False, INK)])
        notes.append(section.commentary)
    lines = [k for k in (kpis if kpis is not None else section.kpis) if isinstance(k, KpiLine) and k.has_value]
    if lines:
        notes.append("\n".join(f"{k.title}: {k.value_text} ({k.status_text}"
                               f"{'; target ' + k.target if k.target else ''})"
                               f"{'; ' + k.change_line if k.change_line else ''}" for k in lines))
    slide.notes_slide.notes_text_frame.text = "\n\n".join(n for n in notes if n)
