"""Data: upload exports, check them before anything is written, ingest, and see what was loaded."""

import pandas as pd
import streamlit as st

from kpis import annotations, ingest, schema
from ui import auth, components, data, state

view = state.current()
st.title("Data")
st.caption(f"Database `{data.db_path()}` · exports are CSV, Parquet or JSON: in the canonical columns, or a "
           "tool's export (PagerDuty, Opsgenie, FOCUS, GitHub, MLflow, ...) read through its preset")
components.flash()
ss = st.session_state


def read_with(report) -> str:
    if report.mapping:
        return f"preset {report.mapping}"
    return "— (already loaded)" if report.status == "skipped" else "canonical columns"


def file_summaries(reports, repeats: tuple[str, ...] = ()) -> None:
    """Per file: what read it, rows read, loaded, dropped per reason, defaulted columns; its warnings, and the
    hint of a file whose every row a preset dropped (it loads nothing, and that is not an error). A file of
    ``repeats`` (identical to one already loaded) is said to be skipped: the check does not know, and said
    'N loaded'."""
    lines = [f"{r.file}: already loaded (identical content), will be skipped" if r.file in repeats else r.summary
             for r in reports]
    st.markdown("\n".join(f"- {components.md_text(line)}" for line in lines))
    for r in reports:
        for w in r.warnings:
            st.warning(components.md_text(f"{r.file}: {w}"), icon=":material/warning:")
        if r.status == "loaded" and not r.loaded and r.hint:
            st.info(components.md_text(f"{r.file}: nothing to load. {' '.join(r.hint.split())}"),
                    icon=":material/lightbulb:")


def mapping_notes(reports, title: str) -> None:
    """What each preset did with its file: dropped rows, netted lines, defaulted columns (one expander per file)."""
    for r in reports:
        if r.notes:
            with st.expander(f"{title} {components.md_text(r.file)} ({read_with(r)})"):
                st.markdown("\n".join(f"- {components.md_text(n)}" for n in r.notes))


last = ss.pop("_last_ingest", None)
if last:  # the files of the batch just ingested (the page reran after the write)
    st.caption("What the last ingest read:")
    components.table(pd.DataFrame([{"file": r.file, "kind": r.kind, "read with": read_with(r), "status": r.status,
                                    "rows read": r.rows_read, "added": r.inserted, "replaced": r.updated,
                                    "removed": r.removed, "quarantined": r.rejected, "note": r.message}
                                   for r in last]),
                     "last ingest", key="last-ingest")
    file_summaries(last)
    mapping_notes(last, "What the preset did with")

counts = None
with components.section("The table counts"):  # a failing query leaves the upload below usable
    counts = data.query("table_counts")
if counts is not None:
    cols = st.columns(len(counts))
    for col, (table_name, n) in zip(cols, counts.items()):
        col.metric(table_name.replace("_", " ").capitalize(), f"{n:,}", help=f"rows in the {table_name} table")
if view.empty:
    st.info("The database is empty. Load the bundled sample data (18 months of deployments, incidents, "
            "costs, prediction volume and serving health, pipeline runs and a model inventory for four teams), "
            "or upload your own exports below.",
            icon=":material/database:")
    components.load_sample_button(key="sample-data-page")
elif view.data_first:
    st.caption(f"Events from {view.data_first} to {view.data_last}.")


def ingest_history() -> None:
    st.subheader("Ingest history")
    with components.section("Ingest history"):
        history = data.query("history")
        titles = {"batch_id": "batch", "file_name": "file", "mapping": "preset", "rows_read": "rows read",
                  "rows_inserted": "added", "rows_replaced": "replaced", "rows_removed": "removed",
                  "rows_rejected": "rejected", "content_hash": "content hash"}
        config = {col: st.column_config.Column(title) for col, title in titles.items()}
        config["ingested_at"] = st.column_config.DatetimeColumn("ingested at (UTC)", format="YYYY-MM-DD HH:mm:ss")
        config["ingested_by"] = st.column_config.TextColumn("ingested by")
        components.table(history, "ingest history", key="history", empty="Nothing has been ingested yet.",
                         column_config=config)


def annotations_section() -> None:
    """The notes marked on the trend charts: the list, and (editors) a form to add one."""
    st.subheader("Annotations", anchor="annotations")
    st.caption("Events that explain a change (a reorg, a new on-call policy, a freeze): marked on every trend "
               "chart at their period and listed in the review pack. Many at once: "
               "`python -m kpis annotate notes.csv` (columns date, team, service, text).")
    with components.section("Annotations"):
        notes = data.query("annotations")
        if notes is not None:
            shown = notes.rename(columns={"day": "date", "added_by": "added by"})
            components.table(shown, "annotations", key="annotations", empty="No annotations yet.")
        if not auth.can_edit():
            auth.viewer_notice("adding annotations")
            return
        with st.form("add-annotation", clear_on_submit=True, border=True):
            day_col, team_col, service_col = st.columns(3)
            day = day_col.date_input("Date", value=view.data_last, format="YYYY-MM-DD", key="note-day")
            values = data.query("distinct_values") or {}
            team = team_col.selectbox("Team (empty: everyone)", ["", *values.get("team", [])], key="note-team")
            service = service_col.selectbox("Service (empty: every service)", ["", *values.get("service", [])],
                                            key="note-service")
            text = st.text_input("Note", max_chars=annotations.MAX_TEXT, key="note-text",
                                 placeholder="e.g. search team split into search-core and search-ranking")
            if st.form_submit_button("Add annotation", icon=":material/add_comment:"):
                try:
                    added = data.add_annotation(annotations.Note(day, text, team or "", service or ""))
                except (annotations.AnnotationError, auth.NotAllowed) as e:
                    st.error(components.md_text(e))
                else:
                    ss["_flash"] = "Annotation added." if added else "That annotation was there already."
                    st.rerun()


st.subheader("Upload exports")
if not auth.can_edit():  # a viewer reads the history; the upload form is not there (and ingest checks the role)
    auth.viewer_notice("uploading and ingesting exports")
    ingest_history()
    annotations_section()
    st.stop()
ss.setdefault("upload_gen", 0)
files = st.file_uploader("Drag and drop CSV, Parquet or JSON files (several at once; .gz too)",
                         accept_multiple_files=True, type=list(data.UPLOAD_TYPES), key=f"uploads-{ss['upload_gen']}")
kind_col, preset_col = st.columns([1, 2], vertical_alignment="bottom")
tz_col, skip_col = st.columns([1, 2], vertical_alignment="bottom")
kind = kind_col.selectbox("Kind", ["detect from columns", *schema.TABLES], key="upload_kind")
preset = preset_col.selectbox("Read with preset", data.preset_options(), key="upload_preset",
                              format_func=data.preset_label,
                              help="auto-detect: canonical columns load as they are, a known tool's export is "
                                   "recognised from its columns. Pick a preset to read every file with it.")
source_tz = tz_col.text_input("Time zone of timestamps without an offset", "UTC", key="upload_tz")
skip_bad = skip_col.checkbox("Skip bad rows (keep them in quarantine)", key="upload_skip")
append = st.checkbox("Append: keep the earlier cost, prediction and model rows of the same source and dates",
                     key="upload_append",
                     help="By default the files uploaded together are one export and replace the earlier rows of "
                          "their source from their first to their last date (a restated bill); the summary counts "
                          "every row replaced and removed. Deployments and incidents always replace by id.")
preset_arg = None if preset == data.AUTO_DETECT else preset

if files:
    uploads = [data.Upload(f.name, f.getvalue()) for f in files]
    kind_arg = None if kind == "detect from columns" else kind
    with st.expander(f"Preview ({len(uploads)} file{'s' if len(uploads) > 1 else ''})", expanded=True):
        for u in uploads:
            st.markdown(f"**{components.md_text(u.name)}** · {len(u.data):,} bytes")
            try:
                st.dataframe(data.preview(u), hide_index=True)
            except Exception as e:  # unreadable files are reported by the validation below
                st.caption(f"No preview: {components.md_text(e)}")

    check_key = (tuple((u.name, u.digest) for u in uploads), kind_arg, source_tz, skip_bad, preset_arg)
    if ss.get("_checked", (None,))[0] != check_key:
        bar = st.progress(0.0, text="Validating ...")
        # the progress text is markdown: a file name is data
        reports, error = data.validate(
            uploads, kind=kind_arg, source_tz=source_tz, skip_bad_rows=skip_bad, preset=preset_arg,
            progress=lambda i, n, name: bar.progress(i / n, text=f"Validated {components.md_text(name)}"))
        bar.empty()
        ss["_checked"] = (check_key, reports, error)
    _, reports, error = ss["_checked"]

    st.subheader("Validation report")
    history = data.query("history")
    loaded = set(history["content_hash"]) if history is not None and not history.empty else set()
    legacy = any(isinstance(h, str) and not h.startswith(ingest.HASH_PREFIX) for h in loaded)  # before BLAKE3
    repeats = [u.name for u in uploads if u.digest in loaded or (legacy and u.legacy_digest in loaded)]
    if repeats:
        st.info(f"Already loaded (identical content, will be skipped): {components.md_text(', '.join(repeats))}")
    if error is not None:
        st.error(f"{error.total} problem(s) found; nothing will be written unless you fix the files"
                 + ("" if skip_bad else " or choose to skip bad rows") + ".", icon=":material/error:")
        problems = pd.DataFrame([{"file": e.file, "row": e.row, "column": e.column, "reason": e.reason}
                                 for e in error.errors])
        components.table(problems, "validation report", key="problems")
    else:
        report = pd.DataFrame([{"file": r.file, "kind": r.kind, "read with": read_with(r), "rows read": r.rows_read,
                                "bad rows (quarantined)": r.rejected, "note": r.message} for r in reports])
        st.success(f"All {len(reports)} file(s) are valid: {sum(r.rows_read for r in reports):,} rows.",
                   icon=":material/task_alt:")
        components.table(report, "validation report", key="report")
        file_summaries(reports, tuple(repeats))
        mapping_notes(reports, "What the preset will do with")
        if any(r.errors for r in reports):
            quarantined = pd.DataFrame([{"file": e.file, "row": e.row, "column": e.column, "reason": e.reason}
                                        for r in reports for e in r.errors])
            st.caption("Rows that will go to the quarantine table:")
            components.table(quarantined, "quarantined rows", key="quarantined")

    if st.button(f"Ingest {len(uploads)} file(s)", type="primary", disabled=error is not None,
                 icon=":material/publish:", key="ingest"):
        bar = st.progress(0.1, text=f"Writing {len(uploads)} file(s) in one transaction ...")
        try:
            done = data.ingest_uploads(uploads, kind=kind_arg, source_tz=source_tz, skip_bad_rows=skip_bad,
                                       preset=preset_arg, append=append)
        except Exception as e:  # a rejected batch or a locked file: nothing was written
            bar.empty()
            st.error(f"Nothing was written: {components.md_text(e)}")
        else:
            bar.progress(1.0, text="Done")
            inserted = sum(r.inserted for r in done)
            updated = sum(r.updated for r in done)
            skipped = [r.file for r in done if r.status == "skipped"]
            removed = sum(r.removed for r in done)
            msg = (f"Ingested {len(done)} file(s): {inserted:,} rows added, {updated:,} replaced, "
                   f"{removed:,} removed.")
            if removed:
                msg += (" Removed rows are earlier rows of a restated source and period that the new files no "
                        "longer list (choose Append to keep them).")
            if skipped:
                msg += f" Skipped as already loaded: {components.md_text(', '.join(skipped))}."
            ss["_flash"] = msg
            ss["_last_ingest"] = done
            ss["upload_gen"] += 1  # a fresh uploader: the batch is done
            ss.pop("_checked", None)
            st.rerun()

ingest_history()
annotations_section()
