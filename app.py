"""ML engineering KPI dashboard: ``streamlit run app.py``.

The entry point: it registers every page in ``pages/`` with ``st.navigation``,
builds the shared sidebar (period grain, period, date range, team / service /
model, target profile) before ``pg.run()`` so the selection survives page
switches and is mirrored in the URL, then runs the chosen page. The database
is ``$KPI_DB`` or ``kpi.duckdb`` in the working directory. With login
configured (``ui/auth.py``) a signed-out visitor sees only the login page.
"""

import time

import streamlit as st

from ui import auth, components, data, state

st.set_page_config(page_title="ML engineering KPIs", page_icon=":material/monitoring:", layout="wide")

# The pages live in app_pages/, not pages/: a pages/ folder next to st.navigation switches on
# Streamlit's legacy multipage handling, which shows "Page not found" on a shared link to any
# page but the first (Streamlit's own guidance is to name the folder app_pages/).
PAGES = [
    st.Page("app_pages/scorecard.py", title="Scorecard", icon=":material/dashboard:", url_path="scorecard", default=True),
    st.Page("app_pages/delivery.py", title="Delivery", icon=":material/rocket_launch:", url_path="delivery"),
    st.Page("app_pages/reliability.py", title="Reliability", icon=":material/healing:", url_path="reliability"),
    st.Page("app_pages/cost.py", title="Cost", icon=":material/payments:", url_path="cost"),
    st.Page("app_pages/serving.py", title="Serving & pipelines", icon=":material/dns:", url_path="serving"),
    st.Page("app_pages/review.py", title="Review", icon=":material/co_present:", url_path="review"),
    st.Page("app_pages/data.py", title="Data", icon=":material/upload_file:", url_path="data"),
]

_started = time.perf_counter()
# With OpenID Connect configured (.streamlit/secrets.toml [auth]) nothing but the login page until signed in.
auth.gate()
pg = st.navigation(PAGES)
data.begin_run()
try:
    with components.section("The sidebar (period, range, filters)") as sidebar:
        state.sidebar()
    if sidebar.failed:  # every page reads the sidebar's selection: say so once, not as each page's error
        st.stop()
    pg.run()
finally:
    data.end_run()  # the run's connection closes with the run (also on st.stop, a rerun or an error)
# How long this run took on the server: benchmarks/bench_pages.py reads it.
st.session_state["_render_seconds"] = time.perf_counter() - _started
