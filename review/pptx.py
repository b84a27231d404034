"""The review as a PowerPoint deck (python-pptx): one 16:9 slide per section.

* a title slide (period, scope, targets, data range);
* the scorecard as a table (value, status in its colour, target, previous
  value, change), on a second slide when the families do not fit one;
* one slide per KPI family: its KPIs down the left, its charts (PNG, drawn by
  plotly.js in headless Chromium: ``review.browser.figures_to_png``) in a grid;
* the notable events as four tables.

The presenter's commentary is in each slide's notes and, when there is some,
in a text box on the slide. Every shape is plain text, tables and pictures, so
the deck stays editable.
"""

from __future__ import annotations

import io
from pathlib import Path

from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.util import Emu, Inches, Pt

from review import browser, figures
from review.html import scorecard_columns
from review.model import STATUS_COLOURS, KpiLine, Review, Section, Table

SLIDE_W, SLIDE_H = 13.333, 7.5  # inches: PowerPoint's 16:9
MARGIN = 0.45
TOP = 1.3  # below the title and subtitle
BOTTOM = 7.05  # above the footer
PX_PER_IN = 100  # a chart is laid out at 100 CSS px per inch of its place, so its 14 px text shows at 10 pt
CHART_FONT = 14
IMAGE_SCALE = 2.5
TILES_W = 2.75  # the KPI column of a family slide
GAP = 0.2
CHART_TITLE_H = 0.3
COMMENTARY_H = 0.6
NOTE_H = 0.26
SCORECARD_ROWS = 21  # rows (KPIs and family headings) on one scorecard slide

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
STATUS_TEXT_RGB = {"amber": RGBColor(0x3B, 0x2F, 0x00)}


def render(review: Review) -> bytes:
    """The deck's bytes. Raises browser.BrowserMissingError without a Chromium (the charts need it)."""
    plan = []  # (section, part): the scorecard takes a slide per group of families that fits
    for section in review.sections:
        if section.id == "scorecard":
            chunks = _scorecard_chunks(section)
            plan += [(section, (i, chunk, len(chunks))) for i, chunk in enumerate(chunks)]
        else:
            plan.append((section, None))
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
        else:
            _header(slide, section.title, section.subtitle)
            bottom = _events(slide, section.tables) if section.tables else _family(slide, section, images)
            _notes_and_commentary(slide, section, bottom)
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
    return (COMMENTARY_H + 0.1 if section.commentary else 0) + NOTE_H * len(section.notes)


def _chart_images(sections: list[Section]) -> dict[str, bytes]:
    """Each chart drawn at the size of its place on the slide (PX_PER_IN CSS px per inch)."""
    charts, specs = [], []
    for section in sections:
        _, _, _, cell_w, cell_h = _chart_layout(section)
        w, h = round(cell_w * PX_PER_IN), round((cell_h - CHART_TITLE_H) * PX_PER_IN)
        for c in section.charts:
            charts.append(c)
            specs.append(figures.spec(c.figure, width=w, height=h, font_size=CHART_FONT))
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
    _text(slide, MARGIN, 0.3, SLIDE_W - 2 * MARGIN, 0.6, title, 26, bold=True)
    _text(slide, MARGIN, 0.85, SLIDE_W - 2 * MARGIN, 0.35, subtitle, 13, colour=MUTED)


def _footer(slide, review: Review, number: int, total: int) -> None:
    left = f"{review.title} · {review.filters_text} · targets: {review.profile or 'none'}"
    _text(slide, MARGIN, BOTTOM + 0.1, SLIDE_W - 2 * MARGIN - 1, 0.3, left, 9, colour=MUTED)
    _text(slide, SLIDE_W - MARGIN - 1, BOTTOM + 0.1, 1, 0.3, f"{number} / {total}", 9, colour=MUTED,
          align=PP_ALIGN.RIGHT)


def _title_slide(slide, review: Review) -> None:
    _text(slide, 0.8, 0.9, 11.7, 0.4, "ML engineering KPIs", 16, colour=MUTED)
    _text(slide, 0.8, 1.35, 11.7, 1.4, review.title, 34 if len(review.title) <= 45 else 28, bold=True)
    _text(slide, 0.8, 2.75, 11.7, 1.8, "\n".join(review.subtitle_lines), 16, colour=MUTED)
    contents = "\n".join(f"{i}. {s.title}" for i, s in enumerate(review.sections, start=1))
    _text(slide, 0.8, 4.6, 11.5, 2.4, contents, 14)
    if review.left_out:
        _text(slide, 0.8, 6.7, 11.5, 0.4, review.left_out_text, 11, colour=MUTED)
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
        _cell(table.cell(0, c), name, size - 1, bold=True, colour=MUTED, fill=HEAD_FILL)
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
        if chunks and len(chunks[-1]) + len(fam) <= SCORECARD_ROWS:
            chunks[-1] += fam
        else:
            chunks.append(list(fam))
    return chunks or [[]]


def _scorecard(slide, review: Review, rows: list) -> float:
    cols = list(scorecard_columns(review))
    cols.insert(4, review.previous_period)
    room = BOTTOM - TOP - COMMENTARY_H - 0.2
    row_h = min(0.27, room / (SCORECARD_ROWS + 1))
    size = 10
    body = []
    for r in rows:
        if isinstance(r, str):
            body.append([r] + [""] * (len(cols) - 1))
        else:
            change = f"{r.change_text} · {r.judgement}" if r.change_text else "—"
            body.append([r.title, r.value_text, r.status_text, r.target or "—", r.previous_text, change])
    table = _table(slide, MARGIN, TOP, SLIDE_W - 2 * MARGIN, cols, body, [3.0, 1.1, 1.05, 4.0, 1.1, 1.75], size,
                   row_h)
    for i, r in enumerate(rows, start=1):
        if isinstance(r, str):
            first = table.cell(i, 0)
            first.merge(table.cell(i, len(cols) - 1))
            _cell(first, r, size, bold=True, fill=HEAD_FILL)
            continue
        _cell(table.cell(i, 1), r.value_text, size, bold=True, align=PP_ALIGN.RIGHT)
        _cell(table.cell(i, 2), r.status_text, size - 1, bold=True, fill=STATUS_RGB.get(r.status),
              colour=STATUS_TEXT_RGB.get(r.status, WHITE), align=PP_ALIGN.CENTER)
        _cell(table.cell(i, 3), r.target or "—", size - 1, colour=MUTED)
        _cell(table.cell(i, 4), r.previous_text, size - 1, colour=MUTED, align=PP_ALIGN.RIGHT)
        _cell(table.cell(i, 5), table.cell(i, 5).text, size - 1, align=PP_ALIGN.RIGHT)
    return TOP + row_h * (len(rows) + 1)


def _tile(slide, x, y, w, h, line: KpiLine) -> None:
    bar = slide.shapes.add_shape(1, Inches(x), Inches(y), Inches(0.07), Inches(h))  # 1: rectangle
    bar.fill.solid()
    bar.fill.fore_color.rgb = STATUS_RGB.get(line.status, STATUS_RGB["none"])
    bar.line.fill.background()
    box = slide.shapes.add_textbox(Inches(x + 0.12), Inches(y), Inches(w - 0.12), Inches(h))
    tf = box.text_frame
    tf.word_wrap = True
    for side in ("margin_left", "margin_right", "margin_top", "margin_bottom"):
        setattr(tf, side, Inches(0.01))
    tf.vertical_anchor = MSO_ANCHOR.MIDDLE
    p = tf.paragraphs[0]
    _runs(p, [(line.title, 9, False, MUTED)])
    p = tf.add_paragraph()
    _runs(p, [(line.value_text, 16, True, INK), (f"  {line.status_text}", 9, True,
                                                  STATUS_RGB.get(line.status, MUTED))])
    p = tf.add_paragraph()
    _runs(p, [(line.change_line or line.no_data, 8, False, MUTED)])


def _family(slide, section: Section, images: dict[str, bytes]) -> float:
    x0, bottom, cols, cell_w, cell_h = _chart_layout(section)
    # KPIs down the left.
    n = max(len(section.kpis), 1)
    tile_h = min(0.85, (bottom - TOP) / n)
    for i, line in enumerate(section.kpis):
        _tile(slide, MARGIN, TOP + i * tile_h, TILES_W, tile_h - 0.06, line)
    # Charts in a grid on the right: titles as text, images (drawn at this cell's size) below.
    for i, chart in enumerate(section.charts):
        r, c = divmod(i, cols)
        x, y = x0 + c * (cell_w + GAP), TOP + r * (cell_h + GAP)
        # About 11 characters per inch at 11 pt bold: a long title gets smaller type, never a second line.
        size = 11 if len(chart.title) <= cell_w * 11 else max(8, 11 * cell_w * 11 / len(chart.title))
        _text(slide, x, y, cell_w, CHART_TITLE_H, chart.title, size, bold=True)
        png = images.get(chart.id)
        if png is not None:
            slide.shapes.add_picture(io.BytesIO(png), Inches(x), Inches(y + CHART_TITLE_H), Inches(cell_w),
                                     Inches(cell_h - CHART_TITLE_H))
    return bottom


def _events(slide, tables: tuple[Table, ...]) -> float:
    # Two columns, each as wide as its widest table needs (incidents carry the most columns).
    gap = 0.3
    widths_needed = [_chars(t) for t in tables]
    left = max(widths_needed[0::2] or [1]) or 1
    right = max(widths_needed[1::2] or [1]) or 1
    usable = SLIDE_W - 2 * MARGIN - gap
    col_w = [usable * left / (left + right), usable * right / (left + right)]
    rows = (len(tables) + 1) // 2
    cell_h = (BOTTOM - TOP - 0.1) / max(rows, 1)
    for i, t in enumerate(tables):
        r, c = divmod(i, 2)
        x, y, w = MARGIN + (col_w[0] + gap if c else 0), TOP + r * cell_h, col_w[c]
        _text(slide, x, y, w, 0.3, t.title, 12, bold=True)
        if t.frame is None or t.frame.empty:
            _text(slide, x, y + 0.35, w, 0.6, t.empty, 10, colour=MUTED)
            continue
        header = [str(h) for h in t.frame.columns]
        body = [[str(v) for v in rec] for rec in t.frame.itertuples(index=False, name=None)]
        # Columns as wide as their longest value (headings may wrap at a space).
        widths = [max([_longest_word(h)] + [len(row[j]) for row in body]) + 2 for j, h in enumerate(header)]
        # About 0.075 in per character at 9 pt; smaller type where the columns would wrap.
        size = 9 if sum(widths) * 0.075 <= w else 8
        row_h = min(0.26, (cell_h - 0.9) / (len(body) + 1))
        _table(slide, x, y + 0.32, w, header, body, widths, size, row_h)
        if t.note:
            _text(slide, x, y + 0.36 + row_h * (len(body) + 1), w, 0.45, t.note, 8, colour=MUTED)
    return BOTTOM


def _longest_word(text: str) -> int:
    return max((len(w) for w in str(text).split()), default=1)


def _chars(t: Table) -> int:
    if t.frame is None or t.frame.empty:
        return 40
    return sum(max([_longest_word(h)] + [len(str(v)) for v in t.frame[h]]) + 2 for h in t.frame.columns)


def _notes_and_commentary(slide, section: Section, bottom: float, *, on_slide: bool = True,
                          kpis: list | None = None) -> None:
    y = bottom + 0.05
    if section.notes and on_slide:
        _text(slide, MARGIN, y, SLIDE_W - 2 * MARGIN, NOTE_H * len(section.notes), "\n".join(section.notes), 9,
              colour=MUTED)
        y += NOTE_H * len(section.notes)
    notes = []
    if section.commentary:
        if on_slide:
            box = _text(slide, MARGIN, y + 0.05, SLIDE_W - 2 * MARGIN, COMMENTARY_H, "", 11)
            box.fill.solid()
            box.fill.fore_color.rgb = NOTE_FILL
            p = box.text_frame.paragraphs[0]
            _runs(p, [("Commentary  ", 10, True, ACCENT), (section.commentary.replace("\n", " "), 11, False, INK)])
        notes.append(section.commentary)
    lines = [k for k in (kpis if kpis is not None else section.kpis) if isinstance(k, KpiLine) and k.has_value]
    if lines:
        notes.append("\n".join(f"{k.title}: {k.value_text} ({k.status_text}"
                               f"{'; target ' + k.target if k.target else ''})"
                               f"{'; ' + k.change_line if k.change_line else ''}" for k in lines))
    slide.notes_slide.notes_text_frame.text = "\n\n".join(n for n in notes if n)
