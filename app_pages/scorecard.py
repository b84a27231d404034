"""Scorecard: every KPI for the chosen period, vs target, vs the previous period, 12-period sparkline."""

import streamlit as st

from kpis import catalog, periods
from kpis import format as fmt
from ui import components, data, state

view = state.current()
components.page_header(f"Scorecard · {view.period}", view, "Every KPI for the chosen period")
components.stop_if_no_data(view, "scorecard")

# Twelve periods ending with the chosen one: the value, the previous period and the sparkline.
first = periods.shift(view.period_start, view.grain, -11)
frame = data.query("compute", **view.compute_args(start=first, end=view.period_last_day))
if frame is None:
    st.stop()

now = frame[frame["period"] == view.period]
if not now["value"].notna().any():
    st.info(f"No events match the filters ({view.filters_text()}) in {view.period}. "
            "Widen the filters or pick another period in the sidebar.", icon=":material/filter_alt_off:")
elif "status" in now:
    counts = now.drop_duplicates("kpi")["status"].value_counts()
    st.markdown(" ".join(f":{colour}-badge[{counts.get(s, 0)} {word.lower()}]"
                         for s, (colour, word) in components.STATUS_BADGE.items()))

families = list(dict.fromkeys(k.family for k in catalog.CATALOG))
for family in families:
    ids = [k.id for k in catalog.CATALOG if k.family == family]
    st.subheader(catalog.FAMILY_TITLES[family])
    rows = frame[frame["kpi"].isin(ids)]
    if not rows["value"].notna().any():
        # A whole family without data (its export was never loaded): one plain sentence, not empty cards.
        titles = ", ".join(catalog.get(i).title for i in ids)
        st.info(f"{fmt.no_data(ids[0], view.period)} or the 11 periods before it, so these KPIs have no "
                f"value: {titles}.", icon=":material/info:")
        continue
    cols = st.columns(3)
    for i, kpi_id in enumerate(ids):
        with cols[i % 3]:
            components.scorecard_card(kpi_id, frame[frame["kpi"] == kpi_id], view)
