"""Review: a month or quarter as it will be presented, the presenter's commentary, the pack downloads.

The review itself is ``review.build_review`` (the same model the HTML, PDF and
slides render), for the sidebar's profile and filters; this page only lays it
out, saves the commentary through the app's writer path and offers the files.
"""

import hashlib
import re

import pandas as pd
import streamlit as st

import review
import review.html
from kpis import db, periods
from review import browser, commentary
from ui import charts, components, data, state

view = state.current()
ss = st.session_state

PRESENT_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header[data-testid="stHeader"] { display: none; }
[data-testid="stMainBlockContainer"] { max-width: 100%; padding: 1.2rem 2.5rem 1rem; }
.st-key-review_slide h2 { font-size: 2.6rem; }
.st-key-review_slide [data-testid="stMetricValue"] { font-size: 2.6rem; }
.st-key-review_slide [data-testid="stMetricLabel"] p { font-size: 1.15rem; }
.st-key-review_slide [data-testid="stMetricDelta"] { font-size: 1.05rem; }
.st-key-review_slide [data-testid="stVerticalBlockBorderWrapper"] [data-testid="stMarkdownContainer"] p
  { font-size: 1.25rem; }
.st-key-review_slide [data-testid="stCaptionContainer"] p { font-size: 1.15rem; }
.st-key-review_slide [data-testid="stTable"] td, .st-key-review_slide [data-testid="stTable"] th {
  font-size: .95rem; padding: .2rem .45rem; line-height: 1.3; }
.st-key-review_slide [data-testid="stTable"] td:nth-child(2), .st-key-review_slide [data-testid="stTable"] td:nth-child(3)
  { white-space: nowrap; }
.st-key-review_slide [data-testid="stMetricLabel"] p { white-space: normal; overflow: visible; }
</style>"""

BADGE = {"green": "green", "amber": "orange", "red": "red", "none": "gray"}
JUDGED = {"better": "green", "worse": "red"}  # the colour says better / worse whatever the sign


def md_text(text: str) -> str:
    """Text from the data or the presenter, shown literally (no markdown, no HTML)."""
    return re.sub(r"([\\`*_\[\]{}()<>#+!|~:$-])", r"\\\1", str(text))


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


# --- the selection ----------------------------------------------------------------------------

presenting = bool(ss.get("review_present"))
if not presenting:
    components.page_header("Review", view, "The period as it will be presented")
components.stop_if_no_data(view, "review")

grains = list(review.model.GRAINS)
if ss.get("review_grain") not in grains:
    ss["review_grain"] = "quarter" if view.grain == "quarter" else "month"


def period_controls() -> str:
    """Month or quarter, and which one (default: the one holding the sidebar's period)."""
    left, right = st.columns(2, vertical_alignment="bottom")
    with left:
        grain = st.segmented_control("Review a", grains, key="review_grain", required=True) or "month"
    starts = periods.spine(view.data_first, view.data_last, grain)
    labels = [periods.label(s, grain) for s in reversed(starts)]
    wanted = periods.label(periods.period_start(view.period_start, grain), grain)
    if ss.get("review_period") not in labels:
        ss["review_period"] = wanted if wanted in labels else labels[0]
    with right:
        return st.selectbox("Period", labels, key="review_period")


def present_toggle() -> None:
    st.toggle("Presentation view", key="review_present",
              help="Full width, large type, one section per screen; the Left / Right keys move.")


if presenting:
    st.markdown(PRESENT_CSS, unsafe_allow_html=True)  # a static style sheet; no data in it
    with st.expander("Period", expanded=False):
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
# A commentary save rewrites the database file; the review built before it is still right.
aliases = ss.setdefault("_review_versions", {})
version = data.version()
try:
    built = build(aliases.get(version, version), path, period, view.profile, frozen, view.tz)
    saved = saved_commentary(version, path, period, view.profile, review.scope_key(filters, view.tz))
except db.DatabaseLockedError:
    st.warning(data.LOCKED_NOTICE, icon=":material/hourglass_top:")
    st.stop()
except review.ReviewError as e:
    st.info(str(e), icon=":material/info:")
    st.stop()

slug = hashlib.sha1(f"{built.period}|{built.profile}|{built.scope}".encode()).hexdigest()[:10]


def note_key(section_id: str) -> str:
    return f"note-{slug}-{section_id}"


for s in built.sections:  # the text areas start from what was saved
    ss.setdefault(note_key(s.id), saved.get(s.id, ""))
typed = {s.id: ss.get(note_key(s.id), "") for s in built.sections}
pack = built.with_commentary(typed)  # downloads carry the commentary as it is on screen


# --- downloads --------------------------------------------------------------------------------


def downloads() -> None:
    ok, why = browser.available()
    cols = st.columns(3)
    for col, fmt in zip(cols, ("html", "pdf", "pptx")):
        suffix = f".{fmt}"
        needs_browser = suffix in review.NEEDS_BROWSER
        with col:
            st.download_button(
                f"Download {review.FORMATS[suffix]}", data=lambda fmt=fmt: review.render(pack, fmt),
                file_name=review.file_name(pack, fmt), mime=review.MIME[suffix], key=f"dl-review-{fmt}",
                on_click="ignore", icon=":material/download:", disabled=needs_browser and not ok,
                help="Made when you click: the review as shown here, with the commentary as typed.")
    if not ok:
        st.info(f"{why} The HTML pack works without it (print it from a browser for a PDF).",
                icon=":material/picture_as_pdf:")


# --- one section ------------------------------------------------------------------------------


def kpi_metrics(section: review.Section, per_row: int) -> None:
    lines = list(section.kpis)
    for i in range(0, len(lines), per_row):
        cols = st.columns(per_row)
        for col, line in zip(cols, lines[i:i + per_row]):
            with col, st.container(border=True):
                if line.has_value:
                    st.metric(line.title, line.value_text, delta=line.change_text or None,
                              delta_color=JUDGED.get(line.judgement, "gray"),
                              delta_description=(f"vs {line.previous_period}" if line.change_text
                                                 else line.change_line),
                              help=line.definition)
                else:
                    st.metric(line.title, "No data", help=line.definition)
                    st.caption(md_text(line.no_data))
                st.markdown(f":{BADGE.get(line.status, 'gray')}-badge[{line.status_text}]")
                if line.target:
                    st.caption(f"target {md_text(line.target)}")


def scorecard_frame(lines) -> pd.DataFrame:
    return pd.DataFrame([{
        "family": review.model.FAMILY_TITLES.get(k.family, k.family), "KPI": k.title, built.period: k.value_text,
        "status": k.status_text, "target": k.target or "—", built.previous_period: k.previous_text,
        f"vs {built.previous_period}": f"{k.change_text} · {k.judgement}" if k.change_text else "—",
    } for k in lines])


def coloured(frame: pd.DataFrame):
    colours = {md_text(w): charts.STATUS_COLOURS[s] for s, w in review.model.STATUS_WORDS.items() if s != "none"}
    colours.update({review.model.STATUS_WORDS[s]: c for s, c in charts.STATUS_COLOURS.items() if s != "none"})
    return frame.style.map(lambda v: f"background-color: {colours[v]}; color: white; font-weight: 600"
                           if v in colours else "", subset=["status"]).hide(axis="index")


def scorecard_table(section: review.Section, big: bool) -> None:
    """The scorecard as the pack shows it: one row per KPI, the status in its colour."""
    if big:  # two halves side by side, as on the printed page, in large type
        for col, half in zip(st.columns(2), review.html.scorecard_halves(section.kpis)):
            lines = [r for r in half if not isinstance(r, str)]
            frame = scorecard_frame(lines).drop(columns=["family", built.previous_period])
            with col:  # st.table reads cells as markdown: the data's own characters (">95%") are escaped
                st.table(coloured(frame.map(md_text)))
        return
    frame = scorecard_frame(section.kpis)
    st.dataframe(coloured(frame), hide_index=True, key=f"review-scorecard-{slug}",
                 height=min(36 * (len(frame) + 1), 640))
    st.download_button("Download scorecard (CSV)", frame.to_csv(index=False).encode("utf-8"),
                       file_name=f"scorecard-{built.period}.csv", mime="text/csv", key=f"dl-scorecard-{slug}",
                       icon=":material/download:")


def render_section(section: review.Section, big: bool) -> None:
    st.header(section.title, anchor=section.id)
    st.caption(md_text(section.subtitle))
    if section.id == "scorecard":
        counts = {s: sum(1 for k in section.kpis if k.status == s) for s in BADGE}
        st.markdown(" ".join(f":{BADGE[s]}-badge[{counts[s]} {review.model.STATUS_WORDS[s]}]" for s in BADGE))
        scorecard_table(section, big)
    else:
        if section.kpis:
            kpi_metrics(section, min(len(section.kpis), 6 if big else 4))
        for i in range(0, len(section.charts), 2):
            cols = st.columns(2)
            for col, chart in zip(cols, section.charts[i:i + 2]):
                with col:
                    fig = chart.figure
                    if big:
                        fig = type(fig)(fig).update_layout(height=340, font=dict(size=16))
                    components.chart(fig, key=f"review-{chart.id}-{'big' if big else 'page'}")
        for table in section.tables:
            st.subheader(table.title)
            components.table(table.frame, f"{table.title} {built.period}", empty=table.empty,
                             key=f"review-{table.id}-{slug}")
            if table.note:
                st.caption(md_text(table.note))
    for note in section.notes:
        st.caption(md_text(note))
    if big:
        text = ss.get(note_key(section.id), "")
        if text:
            with st.container(border=True):
                st.markdown("**Commentary**")
                st.markdown(md_text(text))
        return
    key = note_key(section.id)
    st.text_area(f"Commentary on {section.title}", key=key, height=90, max_chars=commentary.MAX_CHARS,
                 placeholder="What the presenter will say about this section (saved with the review).")
    if st.button("Save commentary", key=f"save-{key}", icon=":material/save:"):
        save(section.id, ss.get(key, ""))


def save(section_id: str, text: str) -> None:
    before = aliases.get(version, version)
    try:
        data._write(lambda con: commentary.save(con, built.period, built.profile, built.scope, section_id, text))
    except (db.DatabaseLockedError, ValueError) as e:
        st.error(f"Could not save the commentary: {e}")
        return
    aliases[data.version()] = before  # only the commentary changed: keep the review built for `before`
    st.toast("Commentary saved.", icon=":material/check_circle:")
    st.rerun()


# --- the page ---------------------------------------------------------------------------------

if presenting:
    n = len(built.sections)
    current = min(max(int(ss.get("review_slide", 0)), 0), n - 1)
    nav_prev, nav_where, nav_next, nav_exit = st.columns([1, 3, 1, 1], vertical_alignment="center")
    with nav_prev:
        if st.button("Previous", key="review-prev", shortcut="Left", icon=":material/arrow_back:",
                     disabled=current == 0, width="stretch"):
            ss["review_slide"] = current - 1
            st.rerun()
    with nav_where:
        st.caption(f"{built.title} · section {current + 1} of {n}")
    with nav_next:
        if st.button("Next", key="review-next", shortcut="Right", icon=":material/arrow_forward:",
                     disabled=current == n - 1, width="stretch"):
            ss["review_slide"] = current + 1
            st.rerun()
    with nav_exit:
        present_toggle()
    with st.container(key="review_slide"):
        render_section(pack.sections[current], big=True)
else:
    st.caption(" · ".join(built.subtitle_lines[:4]))
    if built.left_out:
        st.caption(md_text(built.left_out_text))
    downloads()
    for section in pack.sections:
        render_section(section, big=False)
