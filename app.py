"""ML engineering KPI dashboard: ``streamlit run app.py``.

The entry point: it registers every page in ``pages/`` with ``st.navigation``,
builds the shared sidebar (period grain, period, date range, team / service /
model, target profile) before ``pg.run()`` so the selection survives page
switches and is mirrored in the URL, then runs the chosen page. The database
is ``$KPI_DB`` or ``kpi.duckdb`` in the working directory.
"""

import streamlit as st

from ui import state

st.set_page_config(page_title="ML engineering KPIs", page_icon=":material/monitoring:", layout="wide")

# Page files end in _page so that no file name equals a url_path: Streamlit's legacy
# multipage shim still sees pages/, and a page whose url_path equals its file stem
# would be run by that shim on its own, without this entry point (no sidebar).
PAGES = [
    st.Page("pages/scorecard_page.py", title="Scorecard", icon=":material/dashboard:", url_path="scorecard", default=True),
    st.Page("pages/delivery_page.py", title="Delivery", icon=":material/rocket_launch:", url_path="delivery"),
    st.Page("pages/reliability_page.py", title="Reliability", icon=":material/healing:", url_path="reliability"),
    st.Page("pages/cost_page.py", title="Cost", icon=":material/payments:", url_path="cost"),
    st.Page("pages/serving_page.py", title="Serving & pipelines", icon=":material/dns:", url_path="serving"),
    st.Page("pages/review_page.py", title="Review", icon=":material/co_present:", url_path="review"),
    st.Page("pages/data_page.py", title="Data", icon=":material/upload_file:", url_path="data"),
]

pg = st.navigation(PAGES)
state.sidebar()
pg.run()
