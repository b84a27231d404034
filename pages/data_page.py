"""Data: upload exports, check them before anything is written, ingest, and see what was loaded."""

import io

import pandas as pd
import streamlit as st

from kpis import schema
from ui import components, data, state

view = state.current()
st.title("Data")
st.caption(f"Database `{data.db_path()}` · exports are CSV or Parquet in the canonical columns")
components.flash()

counts = data.query("table_counts")
if counts is not None:
    cols = st.columns(len(counts))
    for col, (table_name, n) in zip(cols, counts.items()):
        col.metric(table_name.capitalize(), f"{n:,}", help=f"rows in the {table_name} table")
if view.empty:
    st.info("The database is empty. Load the bundled sample data (18 months of deployments, incidents, "
            "costs and prediction volume for four teams), or upload your own exports below.",
            icon=":material/database:")
    components.load_sample_button(key="sample-data-page")
elif view.data_first:
    st.caption(f"Events from {view.data_first} to {view.data_last}.")

st.subheader("Upload exports")
ss = st.session_state
ss.setdefault("upload_gen", 0)
files = st.file_uploader("Drag and drop CSV or Parquet files (several at once)", accept_multiple_files=True,
                         type=["csv", "tsv", "parquet", "pq", "gz"], key=f"uploads-{ss['upload_gen']}")
left, mid, right = st.columns(3)
kind = left.selectbox("Kind", ["detect from columns", *schema.TABLES], key="upload_kind")
source_tz = mid.text_input("Time zone of timestamps without an offset", "UTC", key="upload_tz")
skip_bad = right.checkbox("Skip bad rows (keep them in quarantine)", key="upload_skip")

if files:
    uploads = [data.Upload(f.name, f.getvalue()) for f in files]
    kind_arg = None if kind == "detect from columns" else kind
    with st.expander(f"Preview ({len(uploads)} file{'s' if len(uploads) > 1 else ''})", expanded=True):
        for u in uploads:
            st.markdown(f"**{u.name}** · {len(u.data):,} bytes")
            try:
                if u.name.lower().endswith((".parquet", ".pq")):
                    preview = pd.read_parquet(io.BytesIO(u.data)).head(10)
                else:
                    preview = pd.read_csv(io.BytesIO(u.data), nrows=10, dtype=str,
                                          sep="\t" if u.name.lower().endswith(".tsv") else ",",
                                          compression="gzip" if u.name.lower().endswith(".gz") else None)
                st.dataframe(preview, hide_index=True)
            except Exception as e:  # unreadable files are reported by the validation below
                st.caption(f"No preview: {e}")

    check_key = (tuple((u.name, u.digest) for u in uploads), kind_arg, source_tz, skip_bad)
    if ss.get("_checked", (None,))[0] != check_key:
        bar = st.progress(0.0, text="Validating ...")
        reports, error = data.validate(uploads, kind=kind_arg, source_tz=source_tz, skip_bad_rows=skip_bad,
                                       progress=lambda i, n, name: bar.progress(i / n, text=f"Validated {name}"))
        bar.empty()
        ss["_checked"] = (check_key, reports, error)
    _, reports, error = ss["_checked"]

    st.subheader("Validation report")
    history = data.query("history")
    loaded = set(history["content_hash"]) if history is not None and not history.empty else set()
    repeats = [u.name for u in uploads if u.digest in loaded]
    if repeats:
        st.info(f"Already loaded (identical content, will be skipped): {', '.join(repeats)}")
    if error is not None:
        st.error(f"{error.total} problem(s) found; nothing will be written unless you fix the files"
                 + ("" if skip_bad else " or choose to skip bad rows") + ".", icon=":material/error:")
        problems = pd.DataFrame([{"file": e.file, "row": e.row, "column": e.column, "reason": e.reason}
                                 for e in error.errors])
        components.table(problems, "validation report", key="problems")
    else:
        report = pd.DataFrame([{"file": r.file, "kind": r.kind, "rows read": r.rows_read,
                                "bad rows (quarantined)": r.rejected, "note": r.message} for r in reports])
        st.success(f"All {len(reports)} file(s) are valid: {sum(r.rows_read for r in reports):,} rows.",
                   icon=":material/task_alt:")
        components.table(report, "validation report", key="report")
        if any(r.errors for r in reports):
            quarantined = pd.DataFrame([{"file": e.file, "row": e.row, "column": e.column, "reason": e.reason}
                                        for r in reports for e in r.errors])
            st.caption("Rows that will go to the quarantine table:")
            components.table(quarantined, "quarantined rows", key="quarantined")

    if st.button(f"Ingest {len(uploads)} file(s)", type="primary", disabled=error is not None,
                 icon=":material/publish:", key="ingest"):
        bar = st.progress(0.1, text=f"Writing {len(uploads)} file(s) in one transaction ...")
        try:
            done = data.ingest_uploads(uploads, kind=kind_arg, source_tz=source_tz, skip_bad_rows=skip_bad)
        except Exception as e:  # a rejected batch or a locked file: nothing was written
            bar.empty()
            st.error(f"Nothing was written: {e}")
        else:
            bar.progress(1.0, text="Done")
            inserted = sum(r.inserted for r in done)
            updated = sum(r.updated for r in done)
            skipped = [r.file for r in done if r.status == "skipped"]
            msg = f"Ingested {len(done)} file(s): {inserted:,} rows added, {updated:,} replaced."
            if skipped:
                msg += f" Skipped as already loaded: {', '.join(skipped)}."
            ss["_flash"] = msg
            ss["upload_gen"] += 1  # a fresh uploader: the batch is done
            ss.pop("_checked", None)
            st.rerun()

st.subheader("Ingest history")
history = data.query("history")
components.table(history, "ingest history", key="history", empty="Nothing has been ingested yet.",
                 column_config={"ingested_at": st.column_config.DatetimeColumn("ingested at (UTC)",
                                                                               format="YYYY-MM-DD HH:mm:ss")})
