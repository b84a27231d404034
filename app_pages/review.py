"""Review: a month or quarter as it will be presented, the presenter's commentary, the pack downloads.

The review itself is ``review.build_review`` (the same model the HTML, PDF and
slides render), for the sidebar's profile and filters; this page only lays it
out, saves the commentary through the app's writer path and offers the files.
"""

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor

import pandas as pd
import streamlit as st

import review
import review.html
from kpis import charts, db, periods
from kpis import format as fmt
from review import browser, commentary, figures
from ui import auth, components, data, state

view = state.current()
ss = st.session_state

# Presentation view: one section per screen. Streamlit cannot read the viewport, so the type is sized in vh
# (it grows with the screen) and the charts get a pixel height that fits a 900 px screen (review_chart_height).
PRESENT_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header[data-testid="stHeader"],
[data-testid="stToolbar"] { display: none; }
[data-testid="stMainBlockContainer"] { max-width: 100%%; padding: 0.8rem 2.2rem 0.5rem; }
.st-key-review_slide { gap: 1.4vh; }
.st-key-review_slide [data-testid="stColumn"] [data-testid="stVerticalBlock"] { gap: .25rem; }
.st-key-review_slide .rp-head h2 { font-size: 4vh; line-height: 1.3; margin: 0; padding: 0; font-weight: 700; }
.st-key-review_slide .rp-head .sub { font-size: 1.9vh; color: #5f6b7a; margin-top: .3vh; }
.st-key-review_slide .chip { display: inline-block; padding: 0 .45em; border-radius: 1em; color: #fff;
  font-size: .85em; font-weight: 600; white-space: nowrap; background: #9e9e9e; }
.st-key-review_slide .chip.green { background: %(green)s; } .st-key-review_slide .chip.red { background: %(red)s; }
.st-key-review_slide .chip.amber { background: %(amber)s; color: #3b2f00; }
.st-key-review_slide .counts { font-size: 1.8vh; display: flex; gap: .8vw; }
.st-key-review_slide .tiles { display: grid; grid-template-columns: repeat(var(--n), minmax(0, 1fr)); gap: .8vw; }
.st-key-review_slide .tile { border: 1px solid #d9dee5; border-left: 6px solid #9e9e9e; border-radius: 6px;
  padding: .6vh .6vw; min-width: 0; }
.st-key-review_slide .tile.s-green { border-left-color: %(green)s; }
.st-key-review_slide .tile.s-amber { border-left-color: %(amber)s; }
.st-key-review_slide .tile.s-red { border-left-color: %(red)s; }
.st-key-review_slide .tile .t { font-size: 1.65vh; color: #5f6b7a; line-height: 1.2; min-height: 2.4em; }
.st-key-review_slide .tile .v { font-size: 3.4vh; font-weight: 700; line-height: 1.3; white-space: nowrap; }
.st-key-review_slide .tiles.many .tile .v { font-size: 2.8vh; }
.st-key-review_slide .tiles.compact .tile .c { display: none; }
.st-key-review_slide .tiles.compact .tile .t { min-height: 0; }
.st-key-review_slide .tile .s, .st-key-review_slide .tile .c { font-size: 1.5vh; color: #5f6b7a; line-height: 1.3; }
.st-key-review_slide .chart-title { font-size: 1.9vh; font-weight: 600; margin: 0; line-height: 1.3; }
.st-key-review_slide .chart-cap { font-size: 1.5vh; color: #5f6b7a; margin: 0; line-height: 1.25; }
.st-key-review_slide table { border-collapse: collapse; width: 100%%; font-size: 1.6vh; line-height: 1.25; }
.st-key-review_slide th, .st-key-review_slide td { text-align: left; padding: .25vh .4vw;
  border-bottom: 1px solid #d9dee5; vertical-align: top; }
.st-key-review_slide th { color: #5f6b7a; font-weight: 600; font-size: 1.45vh; white-space: nowrap; }
.st-key-review_slide td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.st-key-review_slide tr.family td { font-weight: 700; background: #eef1f5; }
.st-key-review_slide td.target { color: #5f6b7a; font-size: 1.45vh; }
.st-key-review_slide .score { display: grid; grid-template-columns: 1fr 1fr; gap: 1.6vw; align-items: start; }
.st-key-review_slide .events { display: grid; grid-template-columns: minmax(0, 1.3fr) minmax(0, 1fr);
  gap: 2.4vh 1.6vw; align-items: start; }
.st-key-review_slide .events table { font-size: 1.85vh; }
.st-key-review_slide .events th { font-size: 1.6vh; }
.st-key-review_slide .events h3 { font-size: 2.3vh; margin: 0 0 .4vh; padding: 0; font-weight: 600; }
.st-key-review_slide .events .cap, .st-key-review_slide .notes { color: #5f6b7a; font-size: 1.5vh;
  margin: .4vh 0 0; }
.st-key-review_slide .notes { padding-left: 1.2em; margin: 0; }
.st-key-review_slide .empty { color: #5f6b7a; font-style: italic; font-size: 1.7vh; margin: 0; }
.st-key-review_slide .commentary { border-left: 4px solid #1f77b4; background: #f0f6fc; padding: .6vh .8vw;
  border-radius: 4px; font-size: 1.9vh; max-height: %(commentary_vh)svh; overflow-y: auto; }
.st-key-review_slide .commentary h3 { margin: 0; padding: 0; font-size: 1.4vh; text-transform: uppercase;
  letter-spacing: .04em; color: #1f77b4; }
.st-key-review_slide .commentary p { margin: .3vh 0; }
</style>"""

COMMENTARY_VH = 10  # the commentary box's height at most, in % of the screen (longer text scrolls in it)
PRESENT_CSS = PRESENT_CSS % {**review.model.STATUS_COLOURS, "commentary_vh": COMMENTARY_VH}
PRESENT_MIN_HEIGHT = 900  # the smallest screen the presentation view is laid out for (1440 x 900)
BADGE = {"green": "green", "amber": "orange", "red": "red", "none": "gray"}
JUDGED = {"better": "green", "worse": "red"}  # the colour says better / worse whatever the sign


md_text = fmt.md_text  # text from the data or the presenter, shown literally


@st.cache_resource(show_spinner="Building the review ...", max_entries=16)
def build(version: tuple, path: str, period: str, profile: str | None, filters: tuple, tz: str) -> review.Review:
    """The review without commentary, once per data version and selection (the model is immutable)."""
    with data.read_connection(path) as con:
        return review.build_review(con, period=period, profile=profile, filters=dict(filters), tz=tz,
                                   commentary={})


@st.cache_data(show_spinner=False, max_entries=64)
def saved_commentary(version: tuple, path: str, period: str, profile: str | None, scope: str) -> dict:
    with data.read_connection(path) as con:
        return commentary.load(con, period, profile, scope)


def unsaved_drafts(path: str, period: str, profile: str | None, scope: str) -> dict:
    """Drafts, read on every run: they are written on the writer's thread, after the run that typed them."""
    with data.read_connection(path) as con:
        return commentary.load_drafts(con, period, profile, scope)


# --- the selection ----------------------------------------------------------------------------

presenting = bool(ss.get("review_present"))
if not presenting:
    components.page_header("Review", view, "The period as it will be presented")
components.stop_if_no_data(view, "review")

grains = list(review.model.GRAINS)
if ss.get("review_grain") not in grains:
    ss["review_grain"] = "quarter" if view.grain == "quarter" else "month"


def period_controls() -> str:
    """Month or quarter, and which one (default: the sidebar's period, or the one of this grain at the same
    point in time, never landing on a period still in progress)."""
    left, right = st.columns(2, vertical_alignment="bottom")
    with left:
        grain = st.segmented_control("Review a", grains, key="review_grain", required=True) or "month"
    starts = periods.spine(view.data_first, view.data_last, grain)
    labels = [periods.label(s, grain) for s in reversed(starts)]
    wanted = view.period if grain == view.grain else state.regrain(view.period, grain, view.as_of)
    if ss.get("review_period") not in labels:
        ss["review_period"] = wanted if wanted in labels else labels[0]
    shown = {periods.label(s, grain): periods.to_date_label(s, grain, view.as_of) for s in starts}
    with right:
        return st.selectbox("Period", labels, key="review_period", format_func=lambda p: shown.get(p, p))


def present_toggle() -> None:
    st.toggle("Presentation view", key="review_present",
              help="Full width, large type, one section per screen; the Left / Right keys move.")


if presenting:
    st.html(PRESENT_CSS)  # a static style sheet; no data in it
    nav_prev, nav_where, nav_period, nav_next, nav_exit = st.columns([1, 3, 1, 1, 1.3], vertical_alignment="center")
    with nav_period, st.popover("Period", icon=":material/date_range:", width="stretch"):
        period = period_controls()
else:
    controls, toggle = st.columns([2, 1], vertical_alignment="bottom")
    with controls:
        period = period_controls()
    with toggle:
        present_toggle()

filters = {k: list(v) for k, v in view.filters.items() if v}
path = data.db_path()
frozen = tuple(sorted((k, tuple(v)) for k, v in filters.items()))
# A commentary save (or a draft) rewrites the database file; the review built before it is still right.
aliases = ss.setdefault("_review_versions", {})
version = data.version()
with components.section("The review") as whole:
    try:
        built = build(aliases.get(version, version), path, period, view.profile, frozen, view.tz)
        saved = saved_commentary(version, path, period, view.profile, review.scope_key(filters, view.tz))
        drafts = unsaved_drafts(path, period, view.profile, review.scope_key(filters, view.tz))
    except db.DatabaseLockedError:
        st.warning(data.LOCKED_NOTICE, icon=":material/hourglass_top:")
        st.stop()
    except review.ReviewError as e:
        st.info(md_text(e), icon=":material/info:")
        st.stop()
if whole.failed:  # nothing of the review can be shown
    st.stop()

slug = hashlib.sha1(f"{built.period}|{built.profile}|{built.scope}".encode()).hexdigest()[:10]


def note_key(section_id: str) -> str:
    return f"note-{slug}-{section_id}"


if not auth.can_edit():  # drafts are an editor's unsaved typing: a viewer sees (and downloads) the saved text
    drafts = {}
for s in built.sections:  # the text areas start from the unsaved draft, else from what was saved
    ss.setdefault(note_key(s.id), drafts.get(s.id, saved.get(s.id, "")))
typed = {s.id: ss.get(note_key(s.id), "") for s in built.sections}
pack = built.with_commentary(typed)  # downloads carry the commentary as it is on screen


def unsaved(section_id: str) -> bool:
    """Is the text on screen other than the saved commentary (a draft)?"""
    return (ss.get(note_key(section_id)) or "").strip() != saved.get(section_id, "")


# --- writing: the commentary, its drafts ------------------------------------------------------


@st.cache_resource
def writer() -> ThreadPoolExecutor:
    """One thread for every commentary and draft write of the process, so they land in the order they were made."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="review-commentary")


def _write(fn, wait: bool = True) -> Future:
    """Run ``fn(con, by)`` on the writable database (after any write queued before it), ``by`` the editor
    writing (``auth.NotAllowed``, raised here, for anyone else); the review built before the write stays
    cached. ``wait=False`` returns at once (errors are then shown on the next run)."""
    by = auth.require_editor("change the review commentary")  # here: the writer thread has no session

    def run() -> None:
        before = aliases.get(data.version(), data.version())
        data._write(lambda con: fn(con, by))
        aliases[data.version()] = before  # only commentary changed: keep the review built for `before`

    # The write waits for every open read; this run's own connection would make a waiting save wait forever.
    data.release_run_connection()
    done = writer().submit(run)
    if wait:
        done.result()  # raises what the write raised
    return done


def keep_draft(section_id: str) -> None:
    """The text area changed: keep what it holds as the section's draft (until saved or discarded).

    It does not wait for the write: a callback that holds the script run makes Streamlit drop a page switch
    clicked meanwhile (typing, then clicking another page, would bring the user back here).
    """
    text = ss.get(note_key(section_id)) or ""
    errors = ss.setdefault("_review_draft_errors", [])  # shown on the next run

    def failed(done) -> None:
        if done.exception() is not None:
            errors.append(f"The draft is only in this browser tab for now: {done.exception()}")

    try:
        _write(lambda con, by: commentary.save_draft(con, built.period, built.profile, built.scope, section_id,
                                                     text, by), wait=False).add_done_callback(failed)
    except auth.NotAllowed as e:
        errors.append(str(e))


def discard_draft(section_id: str) -> None:
    try:
        _write(lambda con, by: commentary.discard_draft(con, built.period, built.profile, built.scope,
                                                        section_id))
    except (db.DatabaseLockedError, auth.NotAllowed) as e:
        ss["_review_draft_error"] = f"Could not discard the draft: {e}"
        return
    ss[note_key(section_id)] = saved.get(section_id, "")


def save(section_id: str, text: str) -> None:
    try:
        _write(lambda con, by: commentary.save(con, built.period, built.profile, built.scope, section_id, text,
                                               by))
    except (db.DatabaseLockedError, ValueError, auth.NotAllowed) as e:
        st.error(f"Could not save the commentary: {md_text(e)}")
        return
    st.toast("Commentary saved.", icon=":material/check_circle:")
    st.rerun()


# --- downloads --------------------------------------------------------------------------------


def downloads() -> None:
    ok, why = browser.available()
    cols = st.columns(3)
    for col, kind in zip(cols, ("html", "pdf", "pptx")):
        suffix = f".{kind}"
        needs_browser = suffix in review.NEEDS_BROWSER
        with col:
            st.download_button(
                f"Download {review.FORMATS[suffix]}", data=lambda kind=kind: review.render(pack, kind),
                file_name=review.file_name(pack, kind), mime=review.MIME[suffix], key=f"dl-review-{kind}",
                on_click="ignore", icon=":material/download:", disabled=needs_browser and not ok,
                help="Made when you click: the review as shown here, with the commentary as typed.")
    if not ok:
        st.info(f"{md_text(why)} The HTML pack works without it (print it from a browser for a PDF).",
                icon=":material/picture_as_pdf:")


# --- one section, on the page -----------------------------------------------------------------


def kpi_metrics(section: review.Section, per_row: int) -> None:
    lines = list(section.kpis)
    for i in range(0, len(lines), per_row):
        cols = st.columns(per_row)
        for col, line in zip(cols, lines[i:i + per_row]):
            with col, st.container(border=True):
                if line.has_value:
                    st.metric(line.title, line.value_text, delta=line.change_text or None,
                              delta_color=JUDGED.get(line.judgement, "gray"),
                              delta_description=(f"vs {line.compared_with}" if line.change_text
                                                 else md_text(line.change_line)),
                              help=line.definition)
                else:
                    st.metric(line.title, "No data", help=line.definition)
                    st.caption(md_text(line.no_data))
                st.markdown(f":{BADGE.get(line.status, 'gray')}-badge[{md_text(line.status_text)}]")
                if line.target:
                    st.caption(md_text(fmt.target_text(line.target)))


def scorecard_frame(lines) -> pd.DataFrame:
    now, before = review.html.compared_with(built)
    return pd.DataFrame([{
        "Family": review.model.FAMILY_TITLES.get(k.family, k.family), "KPI": k.title, now: k.value_text,
        "Status": k.status_text, "Target": k.target or "", before: k.previous_text,
        f"vs {before}": f"{k.change_text} · {k.judgement}" if k.change_text else "",
    } for k in lines])


def coloured(frame: pd.DataFrame):
    colours = {review.model.STATUS_WORDS[s]: c for s, c in charts.STATUS_COLOURS.items() if s != "none"}
    return frame.style.map(lambda v: f"background-color: {colours[v]}; color: white; font-weight: 600"
                           if v in colours else "", subset=["Status"]).hide(axis="index")


def scorecard_table(section: review.Section) -> None:
    """The scorecard as the pack shows it: one row per KPI, the status in its colour."""
    frame = scorecard_frame(section.kpis)
    # Values and changes sized to their text ("11.7 / week" whole), the target words given the rest.
    widths = {c: st.column_config.Column(width="medium") for c in frame.columns if c not in ("Family", "Target", "KPI")}
    st.dataframe(coloured(frame), hide_index=True, key=f"review-scorecard-{slug}", column_config=widths,
                 height=min(36 * (len(frame) + 1), 640))
    st.download_button("Download scorecard (CSV)", fmt.csv_text(frame).encode("utf-8"),
                       file_name=f"scorecard-{built.period}.csv", mime="text/csv", key=f"dl-scorecard-{slug}",
                       icon=":material/download:")


def commentary_box(section: review.Section) -> None:
    key = note_key(section.id)
    if not auth.can_edit():  # a viewer reads the saved commentary
        if saved.get(section.id):
            st.caption("Commentary")
            st.markdown(md_text(saved[section.id]).replace("\n", "  \n"))
        return
    st.text_area(f"Commentary on {section.title}", key=key, height=90, max_chars=commentary.MAX_CHARS,
                 on_change=keep_draft, args=(section.id,),
                 placeholder="What the presenter will say about this section (saved with the review).")
    if not unsaved(section.id):
        if st.button("Save commentary", key=f"save-{key}", icon=":material/save:"):
            save(section.id, ss.get(key, ""))
        return
    marker, save_col, discard_col = st.columns([2, 1, 1], vertical_alignment="center")
    with marker:
        st.markdown(":orange-badge[:material/edit_note: Draft — not saved]",
                    help="Kept across page switches and reloads until you save or discard it.")
    with save_col:
        if st.button("Save commentary", key=f"save-{key}", icon=":material/save:", width="stretch"):
            save(section.id, ss.get(key, ""))
    with discard_col:
        st.button("Discard draft", key=f"discard-{key}", icon=":material/delete:", width="stretch",
                  on_click=discard_draft, args=(section.id,),
                  help="Back to the saved commentary" if saved.get(section.id) else "Back to no commentary")


def render_section(section: review.Section) -> None:
    st.header(section.title, anchor=section.id)
    st.caption(md_text(section.subtitle))
    if section.id == "scorecard":
        counts = {s: sum(1 for k in section.kpis if k.status == s) for s in BADGE}
        st.markdown(" ".join(f":{BADGE[s]}-badge[{counts[s]} {review.model.STATUS_WORDS[s]}]" for s in BADGE))
        scorecard_table(section)
    else:
        if section.kpis:
            kpi_metrics(section, components.cards_per_row(
                [line.value_text if line.has_value else "No data" for line in section.kpis]))
        for i in range(0, len(section.charts), 2):
            cols = st.columns(2)
            for col, chart in zip(cols, section.charts[i:i + 2]):
                with col:
                    components.figure(chart.figure, key=f"review-{chart.id}-page")
                    if chart.caption:
                        st.caption(md_text(chart.caption))
        for table in section.tables:
            st.subheader(table.title)  # a fixed title (review.model), no data in it
            components.table(table.frame, f"{table.title} {built.period}", empty=table.empty,
                             key=f"review-{table.id}-{slug}")
            if table.note:
                st.caption(md_text(table.note))
    for note in section.notes:
        st.caption(md_text(note))
    commentary_box(section)


# --- one section, presented -------------------------------------------------------------------
# Everything but the charts is the HTML pack's markup (review.html: every text escaped), sized in vh.

# At 900 px: the navigation row, the title, a row of KPI tiles (more tiles: narrower, their text wraps more),
# the gap between blocks, a chart's title (and the gap under it), a line of notes.
NAV_PX, HEAD_PX, TILES_PX, WIDE_TILES_PX, COMPACT_TILES_PX, GAP_PX = 58, 78, 150, 178, 100, 13
CHART_TITLE_PX, NOTE_PX = 30, 22
CHART_CAPTION_PX = 2 * NOTE_PX  # a chart that does not draw every point says so in two lines under it
SHORT_CHART_PX = 200
PRESENT_CHART_CONFIG = {**charts.CONFIG, "displayModeBar": False}  # no toolbar (and no image download) on a slide


def chart_height(section: review.Section) -> int:
    """Pixels per chart so that the section's rows of charts fit a PRESENT_MIN_HEIGHT screen."""
    rows = max(1, (len(section.charts) + 1) // 2)
    n = len(section.kpis)
    tiles = 0 if not n else TILES_PX if min(n, review.html.TILES_PER_ROW) <= 6 else WIDE_TILES_PX
    if n > review.html.TILES_PER_ROW:  # the rest: a row of compact tiles
        tiles += COMPACT_TILES_PX + GAP_PX
    used = NAV_PX + HEAD_PX + tiles + 28  # 28: the page's bottom padding and a margin
    used += (NOTE_PX * len(section.notes) + GAP_PX) if section.notes else 0
    used += (COMMENTARY_VH * PRESENT_MIN_HEIGHT / 100 + GAP_PX) if section.commentary else 0
    used += CHART_CAPTION_PX * len({i // 2 for i, c in enumerate(section.charts) if c.caption})
    per_row = (PRESENT_MIN_HEIGHT - used) / rows - CHART_TITLE_PX - GAP_PX
    # a slide with a second row of tiles lets its charts get shorter (a trend still reads at 100 px)
    return max(100 if len(section.kpis) > review.html.TILES_PER_ROW else 140, int(per_row))


def present_figure(chart: review.Chart, height: int) -> dict:
    """The chart for a slide: its title above it as text, the legend on top; on a short chart the value axis
    loses its title (the chart's title and the tick labels say what it is), which would not fit beside it."""
    spec = figures.spec(chart.figure, height=height, font_size=15)
    if height < SHORT_CHART_PX:
        for name, axis in spec["layout"].items():
            if name.startswith("yaxis") and isinstance(axis, dict):
                axis["title"] = {"text": ""}
    return spec


def present_section(section: review.Section) -> None:
    st.html(f"<div class=\"rp-head\" id=\"{review.html.e(section.id)}\"><h2>{review.html.e(section.title)}</h2>"
            f"<div class=\"sub\">{review.html.e(section.subtitle)}</div></div>")
    if section.id == "scorecard":
        counts = {s: sum(1 for k in section.kpis if k.status == s) for s in BADGE}
        chips = "".join(f"<span class=\"chip {review.html.e(s)}\">{counts[s]} {review.model.STATUS_WORDS[s]}</span>"
                        for s in BADGE)
        st.html(f"<div class=\"counts\">{chips}</div>" + review.html.scorecard_html(built, section))
    if section.kpis and section.id != "scorecard":
        # One row of tiles; more KPIs than fit one (delivery with lead time per change has 14): the first
        # TILES_PER_ROW, then the rest in a row of compact tiles (no change line), so the charts keep their room.
        first, rest = section.kpis[:review.html.TILES_PER_ROW], section.kpis[review.html.TILES_PER_ROW:]
        st.html(review.html.tiles_html(first))
        if rest:
            st.html(review.html.tiles_html(rest, compact=True))
    if section.charts:
        height = chart_height(section)
        for i in range(0, len(section.charts), 2):
            for col, chart in zip(st.columns(2, gap="medium"), section.charts[i:i + 2]):
                with col:
                    st.html(f"<p class=\"chart-title\">{review.html.e(chart.title)}</p>")
                    st.plotly_chart(present_figure(chart, height), height=height,
                                    config=PRESENT_CHART_CONFIG, key=f"review-{chart.id}-big-{height}")
                    if chart.caption:
                        st.html(f"<p class=\"chart-cap\">{review.html.e(chart.caption)}</p>")
    if section.tables:
        st.html("<div class=\"events\">" + "".join(review.html.table_html(t) for t in section.tables) + "</div>")
    if section.notes:
        st.html("<ul class=\"notes\">" + "".join(f"<li>{review.html.e(n)}</li>" for n in section.notes) + "</ul>")
    if section.commentary.strip():
        st.html(f"<div class=\"commentary\"><h3>Commentary</h3>"
                f"{review.html.paragraphs_html(section.commentary)}</div>")


# --- the page ---------------------------------------------------------------------------------

if presenting:
    n = len(built.sections)
    current = min(max(int(ss.get("review_slide", 0)), 0), n - 1)
    with nav_prev:
        if st.button("Previous", key="review-prev", shortcut="Left", icon=":material/arrow_back:",
                     disabled=current == 0, width="stretch"):
            ss["review_slide"] = current - 1
            st.rerun()
    with nav_where:
        st.caption(f"{md_text(built.title)} · section {current + 1} of {n}")
    with nav_next:
        if st.button("Next", key="review-next", shortcut="Right", icon=":material/arrow_forward:",
                     disabled=current == n - 1, width="stretch"):
            ss["review_slide"] = current + 1
            st.rerun()
    with nav_exit:
        present_toggle()
    with st.container(key="review_slide"), components.section(pack.sections[current].title):
        present_section(pack.sections[current])
else:
    for error in ss.pop("_review_draft_errors", []) + [ss.pop("_review_draft_error", None)]:
        if error:
            st.warning(md_text(error), icon=":material/warning:")
    st.caption(" · ".join(md_text(t) for t in built.subtitle_lines[:4]))
    if built.left_out:
        st.caption(md_text(built.left_out_text))
    with components.section("The downloads"):
        downloads()
    for section in pack.sections:
        with components.section(section.title):  # one section failing leaves the others
            render_section(section)
