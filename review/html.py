"""The review as one self-contained HTML file: interactive charts, print layout, presentation mode.

Everything is inside the file: the CSS, plotly.js (inlined once) and each
chart's data as JSON, so it opens offline from an e-mail or a share. Three
ways to look at it, one document:

* on screen: a report, section after section, with interactive charts;
* printed (or ``review.pdf``): one section per 16:9 page (13.333 x 7.5 in, the
  size of a slide);
* presentation mode (the Present button, the P key, or ``#present`` in the
  URL): one section per screen, full width, large type; arrow keys, PageUp /
  PageDown and Space move between sections, F goes full screen, Esc leaves.

Every text from the data (service names, targets, the presenter's commentary)
is HTML-escaped; chart data sits in a JSON script element with ``<`` escaped.
"""

from __future__ import annotations

import html as _html
import math
import re
from functools import lru_cache
from pathlib import Path

from review import figures
from review.model import STATUS_COLOURS, Chart, KpiLine, Review, Section, Table

PAGE_WIDTH_IN = 13.333  # the print page: 16:9, the size of a PowerPoint slide
PAGE_HEIGHT_IN = 7.5
CSS_PX_PER_IN = 96


BASIC_BUNDLE = Path(__file__).parent / "static" / "plotly-basic.min.js"
BASIC_TRACE_TYPES = frozenset({"scatter", "bar", "pie"})  # what plotly.js's basic bundle draws


@lru_cache(maxsize=1)
def basic_bundle_version() -> str | None:
    """The plotly.js version of the bundled basic build (review/static), or None without one."""
    if not BASIC_BUNDLE.exists():
        return None
    head = BASIC_BUNDLE.read_text(encoding="utf-8")[:200]
    match = re.search(r"plotly\.js \(basic - minified\) v(\S+)", head)
    return match.group(1) if match else None


def basic_enough(specs) -> bool:
    """True when plotly.js's basic bundle draws every trace of these figure specs (scatter, bar, pie)."""
    return all(t.get("type", "scatter") in BASIC_TRACE_TYPES for spec in specs for t in spec.get("data", ()))


@lru_cache(maxsize=2)
def plotly_js(basic: bool = True) -> str:
    """plotly.js, minified, inlined once per file: the basic build (scatter, bar and pie: 1.2 MB instead of
    4.8) when ``basic`` and it is the version the installed plotly ships, else plotly's full bundle."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    if basic and basic_bundle_version() == get_plotlyjs_version():
        return BASIC_BUNDLE.read_text(encoding="utf-8")
    return get_plotlyjs()


def e(text) -> str:
    """HTML-escape any value (None -> '')."""
    return _html.escape("" if text is None else str(text), quote=True)


def _paragraphs(text: str) -> str:
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return "".join(f"<p>{'<br>'.join(e(line) for line in b.split(chr(10)))}</p>" for b in blocks)


CSS = """
:root { --ink:#1f2933; --muted:#5f6b7a; --line:#d9dee5; --bg:#f5f7fa; --card:#fff;
  --green:%(green)s; --amber:%(amber)s; --red:%(red)s; --none:%(none)s; --accent:#1f77b4; }
* { box-sizing: border-box; }
html { font-family: "Source Sans Pro", "Liberation Sans", "DejaVu Sans", Arial, sans-serif; color: var(--ink);
  background: var(--bg); font-size: 15px; }
body { margin: 0; }
.toolbar { position: sticky; top: 0; z-index: 5; display: flex; gap: .75rem; align-items: center;
  padding: .5rem 1.25rem; background: #fff; border-bottom: 1px solid var(--line); }
.toolbar .name { font-weight: 600; flex: 1; }
.toolbar button { font: inherit; padding: .3rem .8rem; border: 1px solid var(--line); border-radius: 6px;
  background: #fff; cursor: pointer; }
.toolbar button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
main { max-width: 1280px; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
section.slide { background: var(--card); border: 1px solid var(--line); border-radius: 10px; margin: 1rem 0;
  padding: 1.1rem 1.4rem; display: flex; flex-direction: column; gap: .7rem; }
section.slide > header h2 { margin: 0; font-size: 1.6rem; }
section.slide > header .sub { color: var(--muted); margin-top: .15rem; }
.cover h1 { font-size: 2.3rem; margin: .2rem 0 .6rem; }
.cover .lines p { margin: .2rem 0; color: var(--muted); font-size: 1.1rem; }
.cover ol { columns: 2; margin: .6rem 0 0; padding-left: 1.3rem; font-size: 1.1rem; line-height: 1.45; }
.cover .hint { color: var(--muted); font-size: .9rem; margin-top: auto; }
.tiles { display: grid; grid-template-columns: repeat(var(--n), minmax(0, 1fr)); gap: .5rem; }
.tile { border: 1px solid var(--line); border-left: 6px solid var(--none); border-radius: 6px; padding: .35rem .55rem;
  min-width: 0; }
.tile .t { font-size: .8rem; color: var(--muted); line-height: 1.15; min-height: 2.3em; }
.tile .v { font-size: 1.45rem; font-weight: 700; line-height: 1.2; }
.tile .s, .tile .c { font-size: .75rem; color: var(--muted); line-height: 1.2; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; }
.s-green { border-left-color: var(--green) !important; } .s-amber { border-left-color: var(--amber) !important; }
.s-red { border-left-color: var(--red) !important; }
.chip { display: inline-block; padding: 0 .45em; border-radius: 1em; color: #fff; font-size: .8em; font-weight: 600;
  white-space: nowrap; background: var(--none); }
.chip.green { background: var(--green); } .chip.amber { background: var(--amber); color: #3b2f00; }
.chip.red { background: var(--red); }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: .6rem 1rem; }
.chart { display: flex; flex-direction: column; min-width: 0; min-height: 0; }
.chart h3 { font-size: .95rem; margin: 0 0 .1rem; font-weight: 600; }
.plot { height: 330px; min-height: 0; }
.chart .cap { color: var(--muted); font-size: .78rem; margin: .15rem 0 0; line-height: 1.25; }
.notes { margin: 0; padding-left: 1.1rem; color: var(--muted); font-size: .9rem; }
.commentary { border-left: 4px solid var(--accent); background: #f0f6fc; padding: .4rem .8rem; border-radius: 4px; }
.commentary h3 { margin: 0; font-size: .85rem; text-transform: uppercase; letter-spacing: .04em; color: var(--accent); }
.commentary p { margin: .25rem 0; white-space: normal; }
table { border-collapse: collapse; width: 100%%; font-size: .85rem; }
th, td { text-align: left; padding: .22rem .45rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: .78rem; white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.family td { font-weight: 700; background: #eef1f5; color: var(--ink); }
.score { display: grid; grid-template-columns: 1fr 1fr; gap: 1.2rem; align-items: start; }
.score td.target { color: var(--muted); }
.events { display: grid; grid-template-columns: minmax(0, 1.25fr) minmax(0, 1fr); gap: .8rem 1.2rem;
  align-items: start; }
.events table { font-size: .8rem; } .events td { white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  max-width: 14em; }
.events h3 { margin: 0 0 .2rem; font-size: 1rem; }
.events .cap { color: var(--muted); font-size: .78rem; margin: .2rem 0 0; }
.empty { color: var(--muted); font-style: italic; margin: .2rem 0; }
.counter { display: none; }

/* Presentation mode: one section per screen, large type. */
html.present { font-size: 1.55vh; background: #fff; overflow-y: scroll; scroll-snap-type: y mandatory; }
html.present .toolbar { display: none; }
html.present main { max-width: none; padding: 0; margin: 0; }
html.present section.slide { height: 100vh; margin: 0; border: 0; border-radius: 0; scroll-snap-align: start;
  padding: 2.2vh 2.6vw; overflow: hidden; gap: 1.2vh; }
html.present section.slide > header h2 { font-size: 4.2vh; }
html.present section.slide > header .sub { font-size: 2.1vh; }
html.present .tile .t { font-size: 1.7vh; } html.present .tile .v { font-size: 3.6vh; }
html.present .tiles.many .tile .v { font-size: 3vh; }
html.present .tile .s, html.present .tile .c { font-size: 1.55vh; white-space: normal; overflow: visible; }
html.present .charts { flex: 1; min-height: 0; grid-auto-rows: minmax(0, 1fr); }
html.present .chart h3 { font-size: 2vh; }
html.present .plot { flex: 1; height: auto; }
html.present table { font-size: 1.75vh; } html.present th { font-size: 1.55vh; }
html.present .events { gap: 3vh 2vw; }
html.present .events table { font-size: 2vh; } html.present .events th { font-size: 1.7vh; }
html.present .events h3 { font-size: 2.5vh; } html.present .events .cap { font-size: 1.6vh; }
html.present .cover ol { font-size: 2.6vh; line-height: 1.5; }
html.present .cover h1 { font-size: 6vh; } html.present .cover .lines p { font-size: 2.6vh; }
html.present .commentary { font-size: 2.2vh; } html.present .notes { font-size: 1.7vh; }
html.present .counter { display: block; position: fixed; right: 1.2vw; bottom: .8vh; color: var(--muted);
  font-size: 1.5vh; background: rgba(255,255,255,.85); padding: .2vh .6vw; border-radius: 4px; z-index: 9; }

/* Print (and the PDF): one section per 16:9 page. */
@page { size: %(w)sin %(h)sin; margin: 0; }
@media print { * { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"""
# The page layout, for print media and for html.printing: a browser's own Print lays the document out
# with this class on screen first, so each chart can be drawn at its size on the page (see JS).
PRINT_RULES = (
    (("html",), "background: #fff; font-size: 13px;"),
    ((".toolbar", ".counter", ".modebar-container"), "display: none !important;"),
    (("main",), "max-width: none; margin: 0; padding: 0;"),
    (("section.slide",), f"width: {PAGE_WIDTH_IN}in; height: {PAGE_HEIGHT_IN}in; margin: 0; border: 0; "
                         "border-radius: 0; padding: .32in .42in; overflow: hidden; break-after: page; "
                         "page-break-after: always; gap: 8px;"),
    (("section.slide:last-child",), "break-after: auto; page-break-after: auto;"),
    ((".charts",), "flex: 1; min-height: 0; grid-auto-rows: minmax(0, 1fr);"),
    ((".plot",), "flex: 1; height: auto;"),
)


def _print_css(prefix: str) -> str:
    def sel(s: str) -> str:
        return f"html{prefix}" if s == "html" else f"html{prefix} {s}"
    return "\n".join(f"{', '.join(sel(x) for x in sels)} {{ {body} }}" for sels, body in PRINT_RULES)


CSS = CSS % {**STATUS_COLOURS, "w": PAGE_WIDTH_IN, "h": PAGE_HEIGHT_IN}
CSS += "@media print {\n" + _print_css("") + "\n}\n" + _print_css(".printing") + "\n"

JS = """
(function () {
  var specs = JSON.parse(document.getElementById('review-figures').textContent);
  var config = JSON.parse(document.getElementById('review-config').textContent);
  var plots = [];
  var pending = Object.keys(specs).map(function (id) {
    var el = document.getElementById(id);
    if (!el || !window.Plotly) { return Promise.resolve(); }
    plots.push(el);
    return Plotly.newPlot(el, specs[id].data, specs[id].layout, config);
  });
  Promise.all(pending).then(function () { window.reviewReady = true; },
                            function (err) { window.reviewError = String(err); window.reviewReady = true; });
  function resizeAll() { plots.forEach(function (el) { if (el.data) { Plotly.Plots.resize(el); } }); }
  // Larger chart text on a projector; the file's own sizes otherwise.
  var sizes = {};
  function chartText(big) {
    plots.forEach(function (el) {
      if (!el.layout) { return; }
      if (!sizes[el.id]) {
        sizes[el.id] = {font: (el.layout.font || {}).size || 13, legend: ((el.layout.legend || {}).font || {}).size || 12};
      }
      var s = sizes[el.id];
      Plotly.relayout(el, {'font.size': big ? Math.round(s.font * 1.35) : s.font,
                           'legend.font.size': big ? Math.round(s.legend * 1.35) : s.legend});
    });
  }
  // A browser's own Print: lay the document out as pages on screen, draw each chart at its size there
  // (plotly draws in pixels, so it cannot follow the print layout by itself), then undo it afterwards.
  function fitForPrint(on) {
    if (on && root.classList.contains('present')) { present(false); }
    root.classList.toggle('printing', on);
    plots.forEach(function (el) {
      if (!el.data) { return; }
      if (on) {
        var r = el.getBoundingClientRect();
        Plotly.relayout(el, {autosize: false, width: Math.floor(r.width), height: Math.floor(r.height)});
      } else {
        Plotly.relayout(el, {autosize: true, width: null, height: null});
      }
    });
  }
  window.addEventListener('beforeprint', function () { fitForPrint(true); });
  window.addEventListener('afterprint', function () { fitForPrint(false); });
  var root = document.documentElement;
  var slides = Array.prototype.slice.call(document.querySelectorAll('section.slide'));
  var counter = document.getElementById('counter');
  function index() {
    var best = 0, bestDist = Infinity;
    slides.forEach(function (s, i) {
      var d = Math.abs(s.getBoundingClientRect().top);
      if (d < bestDist) { best = i; bestDist = d; }
    });
    return best;
  }
  function show(i) {
    i = Math.max(0, Math.min(slides.length - 1, i));
    slides[i].scrollIntoView({block: 'start'});
    counter.textContent = (i + 1) + ' / ' + slides.length + ' · ← → to move · Esc to leave';
  }
  function present(on) {
    var i = index();
    root.classList.toggle('present', on);
    if (!on && document.fullscreenElement) { document.exitFullscreen(); }
    chartText(on);
    resizeAll();
    show(i);
    if (on) { history.replaceState(null, '', '#present'); } else { history.replaceState(null, '', '#'); }
  }
  window.reviewPresent = present;
  document.getElementById('present').addEventListener('click', function () { present(true); });
  document.getElementById('print').addEventListener('click', function () { window.print(); });
  window.addEventListener('resize', function () { if (root.classList.contains('present')) { show(index()); } });
  document.addEventListener('keydown', function (ev) {
    if (ev.target && /INPUT|TEXTAREA|SELECT/.test(ev.target.tagName)) { return; }
    var on = root.classList.contains('present');
    var k = ev.key;
    if (k === 'p' || k === 'P') { present(!on); ev.preventDefault(); return; }
    if (!on) { return; }
    if (k === 'ArrowRight' || k === 'ArrowDown' || k === 'PageDown' || k === ' ' || k === 'Enter') {
      show(index() + 1); ev.preventDefault();
    } else if (k === 'ArrowLeft' || k === 'ArrowUp' || k === 'PageUp' || k === 'Backspace') {
      show(index() - 1); ev.preventDefault();
    } else if (k === 'Home') { show(0); ev.preventDefault(); }
    else if (k === 'End') { show(slides.length - 1); ev.preventDefault(); }
    else if (k === 'Escape') { present(false); }
    else if (k === 'f' || k === 'F') {
      if (document.fullscreenElement) { document.exitFullscreen(); } else { root.requestFullscreen(); }
    }
  });
  if (location.hash === '#present') { present(true); }
})();
"""


def render(review: Review) -> str:
    """The review as one self-contained HTML document (a string)."""
    specs: dict[str, dict] = {}
    body = [_cover(review)]
    for section in review.sections:
        body.append(_section(review, section, specs))
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        f"<meta name=\"generator\" content=\"ml-kpi-dashboard review\">\n<title>{e(review.title)}</title>\n",
        f"<style>{CSS}</style>\n",
        f"<script>{plotly_js(basic_enough(specs.values()))}</script>\n",  # plotly.js, once, before the charts
        "</head>\n<body>\n",
        "<div class=\"toolbar\">",
        f"<span class=\"name\">{e(review.title)}</span>",
        "<button id=\"present\" class=\"primary\" title=\"One section per screen (P)\">Present</button>",
        "<button id=\"print\" title=\"Print, or save as PDF: one section per page\">Print</button>",
        "</div>\n<main>\n",
        "\n".join(body),
        "\n</main>\n<div class=\"counter\" id=\"counter\"></div>\n",
        f"<script type=\"application/json\" id=\"review-figures\">{figures.script_json(specs)}</script>\n",
        f"<script type=\"application/json\" id=\"review-config\">{figures.script_json(figures.CONFIG)}</script>\n",
        f"<script>{JS}</script>\n</body>\n</html>\n",
    ])


def write(review: Review, path) -> None:
    """Write the HTML file."""
    from pathlib import Path

    Path(path).write_text(render(review), encoding="utf-8")


def _cover(review: Review) -> str:
    lines = "".join(f"<p>{e(line)}</p>" for line in review.subtitle_lines)
    items = "".join(f"<li>{e(s.title)}</li>" for s in review.sections)
    left = f"<p class=\"empty\">{e(review.left_out_text)}</p>" if review.left_out else ""
    return (f"<section class=\"slide cover\" id=\"cover\" data-section=\"cover\">"
            f"<header><div class=\"sub\">ML engineering KPIs</div><h1>{e(review.title)}</h1></header>"
            f"<div class=\"lines\">{lines}</div><ol>{items}</ol>{left}"
            "<p class=\"hint\">Present: the Present button or P (arrows move, F full screen, Esc leaves). "
            "Print: one section per page.</p></section>")


def _section(review: Review, section: Section, specs: dict) -> str:
    parts = [f"<section class=\"slide\" id=\"{e(section.id)}\" data-section=\"{e(section.id)}\">",
             f"<header><h2>{e(section.title)}</h2><div class=\"sub\">{e(section.subtitle)}</div></header>"]
    if section.id == "scorecard":
        parts.append(_scorecard(review, section))
    else:
        if section.kpis:
            parts.append(_tiles(section.kpis))
        if section.charts:
            parts.append(_charts(section.charts, specs))
        if section.tables:
            parts.append("<div class=\"events\">" + "".join(_table(t) for t in section.tables) + "</div>")
    if section.notes:
        parts.append("<ul class=\"notes\">" + "".join(f"<li>{e(n)}</li>" for n in section.notes) + "</ul>")
    if section.commentary:
        parts.append(f"<div class=\"commentary\"><h3>Commentary</h3>{_paragraphs(section.commentary)}</div>")
    parts.append("</section>")
    return "".join(parts)


# The pieces, for the app's presentation view (the same markup, every text escaped).


def tiles_html(lines: tuple[KpiLine, ...], compact: bool = False) -> str:
    """A row of KPI tiles: title, value, status chip and target, change against the previous period.
    ``compact``: the tiles' class says so (a slide's second row draws them without the change line)."""
    return _tiles(lines, compact)


def scorecard_html(review: Review, section: Section) -> str:
    """The scorecard as two tables side by side, one row per KPI under its family heading."""
    return _scorecard(review, section)


def table_html(table: Table) -> str:
    """One notable-events table with its title and note (or its empty sentence)."""
    return _table(table)


def paragraphs_html(text: str) -> str:
    """Plain text (the presenter's commentary) as escaped paragraphs."""
    return _paragraphs(text)


def _status_chip(line: KpiLine) -> str:
    return f"<span class=\"chip {e(line.status)}\">{e(line.status_text)}</span>"


MANY_TILES = 7  # a row of more tiles than this writes their values smaller (delivery has 8: "12.8 / week" fits)
TILES_PER_ROW = 8  # more wrap onto rows of equal length (delivery with lead time per change has 14: two of 7)


def tile_rows(n: int) -> tuple[int, int]:
    """(rows, tiles per row) for ``n`` KPI tiles: at most TILES_PER_ROW a row, the rows as even as they go."""
    rows = max(1, math.ceil(n / TILES_PER_ROW))
    return rows, max(1, math.ceil(n / rows))


def _tiles(lines: tuple[KpiLine, ...], compact: bool = False) -> str:
    _, per_row = tile_rows(len(lines))
    many = " many" if per_row > MANY_TILES else ""
    out = [f"<div class=\"tiles{many}{' compact' if compact else ''}\" style=\"--n:{per_row}\">"]
    for line in lines:
        target = f" · {line.target}" if line.target else ""
        out.append(
            f"<div class=\"tile s-{e(line.status)}\" data-kpi=\"{e(line.kpi)}\" title=\"{e(line.definition)}\">"
            f"<div class=\"t\">{e(line.title)}</div><div class=\"v\">{e(line.value_text)}</div>"
            f"<div class=\"s\" title=\"{e(line.rule)}\">{_status_chip(line)}{e(target)}</div>"
            f"<div class=\"c\">{e(line.change_line or line.no_data)}</div></div>")
    out.append("</div>")
    return "".join(out)


def compared_with(review: Review) -> tuple[str, str]:
    """(the period as its lines show it, what they are compared with): '2026-11 (to date: 20 of 30 days)' and
    '2026-10 days 1–20' for a period in progress, else the two labels."""
    lines = next((s.kpis for s in review.sections if s.kpis), ())
    if not lines:
        return review.period, review.previous_period
    return lines[0].period_text, lines[0].compared_with


def scorecard_columns(review: Review) -> tuple[str, ...]:
    now, before = compared_with(review)
    return ("KPI", now, "Status", "Target", f"vs {before}")


def scorecard_halves(lines: tuple[KpiLine, ...]) -> tuple[list, list]:
    """The scorecard rows (status headings, as the lines come in triage order, and KPI lines) split into
    two balanced columns, never leaving a heading at the bottom of the first."""
    rows: list = []
    heading = None
    for line in lines:
        if line.tier_title != heading:
            heading = line.tier_title
            rows.append(heading)
        rows.append(line)
    cut = (len(rows) + 1) // 2
    # Prefer cutting at a family boundary close to the middle.
    heads = [i for i, r in enumerate(rows) if isinstance(r, str) and i > 0]
    if heads:
        near = min(heads, key=lambda i: abs(i - cut))
        if abs(near - cut) <= 3:
            cut = near
    while 0 < cut < len(rows) and isinstance(rows[cut - 1], str):
        cut -= 1
    return rows[:cut], rows[cut:]


def _scorecard(review: Review, section: Section) -> str:
    cols = scorecard_columns(review)
    halves = scorecard_halves(section.kpis)
    out = ["<div class=\"score\">"]
    for rows in halves:
        if not rows:
            continue
        out.append("<table class=\"scorecard\"><thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols)
                   + "</tr></thead><tbody>")
        for r in rows:
            if isinstance(r, str):
                out.append(f"<tr class=\"family\"><td colspan=\"{len(cols)}\">{e(r)}</td></tr>")
                continue
            change = f"{r.change_text} · {r.judgement}" if r.change_text else "—"
            out.append(
                f"<tr data-kpi=\"{e(r.kpi)}\"><td title=\"{e(r.definition)}\">{e(r.title)}</td>"
                f"<td class=\"num value\">{e(r.value_text)}</td><td>{_status_chip(r)}</td>"
                f"<td class=\"target\" title=\"{e(r.rule)}\">{e(r.target or '—')}</td>"
                f"<td class=\"num\">{e(change)}</td></tr>")
        out.append("</tbody></table>")
    out.append("</div>")
    return "".join(out)


def _charts(charts: tuple[Chart, ...], specs: dict) -> str:
    out = ["<div class=\"charts\">"]
    for chart in charts:
        dom_id = f"plot-{chart.id}"
        specs[dom_id] = figures.spec(chart.figure)
        cap = f"<p class=\"cap\">{e(chart.caption)}</p>" if chart.caption else ""
        out.append(f"<div class=\"chart\" data-chart=\"{e(chart.id)}\"><h3>{e(chart.title)}</h3>"
                   f"<div class=\"plot\" id=\"{e(dom_id)}\"></div>{cap}</div>")
    out.append("</div>")
    return "".join(out)


def _table(table: Table) -> str:
    head = f"<div class=\"event\" data-table=\"{e(table.id)}\"><h3>{e(table.title)}</h3>"
    if table.frame is None or table.frame.empty:
        return head + f"<p class=\"empty\">{e(table.empty)}</p></div>"
    cols = list(table.frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in rec) + "</tr>"
                   for rec in table.frame.itertuples(index=False, name=None))
    cap = f"<p class=\"cap\">{e(table.note)}</p>" if table.note else ""
    return (head + "<table><thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr></thead><tbody>"
            + rows + "</tbody></table>" + cap + "</div>")
