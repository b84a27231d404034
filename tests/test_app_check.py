"""What a person sees of issue 17 in the app: the projection on the Scorecard, annotations added on the Data
page and marked on the trend charts (Streamlit AppTest on the real app)."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import kpis
from kpis import format as fmt

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def run_app(db: Path, page: str | None = None, query: dict | None = None) -> AppTest:
    os.environ["KPI_DB"] = str(db)
    at = AppTest.from_file(APP, default_timeout=180)
    if query:
        at.query_params.update(query)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


@pytest.fixture(autouse=True)
def _restore_env():
    old = os.environ.get("KPI_DB")
    yield
    if old is None:
        os.environ.pop("KPI_DB", None)
    else:
        os.environ["KPI_DB"] = old


def _plain(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)  # md_text's escapes undone: the words a person reads


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_scorecard_projects_the_month_in_progress(sample_db):
    # The sample data ends on 2026-11-20: November is 20 of 30 days in.
    at = run_app(sample_db, query={"grain": "month", "period": "2026-11", "profile": "lead"})
    _no_exception(at)
    con = kpis.connect(sample_db, read_only=True)
    nov = kpis.compute(con, grain="month", start=date(2026, 11, 1), end=date(2026, 11, 30),
                       kpis=["deployment_count"], as_of=date(2026, 11, 20))
    q4 = kpis.compute(con, grain="quarter", start=date(2026, 10, 1), end=date(2026, 12, 31),
                      kpis=["deployment_count"], as_of=date(2026, 11, 20))
    con.close()
    to_date, quarter = nov["value"].iloc[0], q4["value"].iloc[0]
    captions = [_plain(c.value) for c in at.caption]
    # Beside the to-date value: deployments so far x 30 / 20 by the month's end, and x 92 / 51 by the quarter's.
    month_text = f"2026-11 (20 of 30 days)**: projected {fmt.fmt_value(to_date * 30 / 20, 'count')} by the end of 2026-11"
    quarter_text = (f"2026-Q4 (51 of 92 days)**: projected {fmt.fmt_value(quarter * 92 / 51, 'count')} "
                    "by the end of 2026-Q4")
    assert any(month_text in c for c in captions), [c for c in captions if "projected" in c][:3]
    assert any(quarter_text in c for c in captions)
    # A rate shows the interval of the events so far and whether its target can still be met.
    assert any("pace so far" in c and "95% interval" in c and ("on pace" in c or "reachable" in c) for c in captions)
    # A median shows the interval of its events so far (order statistics, computed in SQL).
    assert any(re.search(r"\*\*: so far [0-9.]+ (h|min|d) \(n = \d+ · \d+% interval ", c) for c in captions)
    assert any("Each card says where it is heading" in i.value for i in at.info)


def test_a_complete_month_has_no_projection(sample_db):
    at = run_app(sample_db, query={"grain": "month", "period": "2026-10", "profile": "lead"})
    _no_exception(at)
    assert not any("projected" in c.value or "pace so far" in c.value for c in at.caption)


def _chart_notes(at: AppTest) -> list[str]:
    out = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        out += [a["text"] for a in spec.get("layout", {}).get("annotations", []) if a.get("text", "").startswith("✎")]
    return out


def test_an_editor_adds_an_annotation_and_the_charts_mark_it(sample_db, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, db)
    at = run_app(db, "app_pages/data.py")
    _no_exception(at)
    assert any(i.value == "No annotations yet." for i in at.info)
    at.date_input(key="note-day").set_value(date(2026, 9, 14))
    at.selectbox(key="note-team").set_value("search")
    at.text_input(key="note-text").input("New on-call rota <b>for</b> search")
    at.button[[b.label for b in at.button].index("Add annotation")].click()
    at.run()
    _no_exception(at)
    assert any("Annotation added." in s.value for s in at.success)
    table = at.dataframe[-1].value
    assert list(table["text"]) == ["New on-call rota <b>for</b> search"]
    assert list(table["team"]) == ["search"]

    # The Delivery page's trend charts mark September 2026, the text escaped.
    at = run_app(db, "app_pages/delivery.py", query={"grain": "month", "period": "2026-10", "profile": "lead"})
    _no_exception(at)
    notes = _chart_notes(at)
    # Cut to 27 characters and '…': 'New on-call rota <b>for</b>' is 27 characters; escaped for plotly.
    assert notes and set(notes) == {"✎ New on-call rota &lt;b&gt;for&lt;/b&gt;…"}
    # Another team's view does not show the search team's note.
    at = run_app(db, "app_pages/delivery.py", query={"grain": "month", "period": "2026-10", "profile": "lead",
                                                      "team": "fraud"})
    _no_exception(at)
    assert _chart_notes(at) == []


def test_a_viewer_sees_annotations_but_no_form(sample_db, tmp_path, monkeypatch):
    from ui import auth

    monkeypatch.setattr(auth, "can_edit", lambda: False)
    at = run_app(sample_db, "app_pages/data.py")
    _no_exception(at)
    assert not [b for b in at.button if b.label == "Add annotation"]
    assert any("adding annotations is for editors" in c.value for c in at.caption)


def _ticks(at: AppTest) -> list[list[str]]:
    return [list(json.loads(c.proto.spec).get("layout", {}).get("xaxis", {}).get("ticktext") or [])
            for c in at.get("plotly_chart")]


def test_the_period_the_sample_data_begins_in_is_marked_on_the_trends(sample_db):
    # the sample data begins on 2025-05-20 (the Data page's "Events from 2025-05-20"): May 2025 holds 12 of its
    # 31 days, and every trend over the whole range says so on its first tick, as it says "to date" on its last
    con = kpis.connect(sample_db, read_only=True)
    first, _ = kpis.engine.data_range(con)
    con.close()
    assert first == date(2025, 5, 20)
    at = run_app(sample_db, "app_pages/delivery.py")
    _no_exception(at)
    ticks = [t for t in _ticks(at) if t]
    assert ticks and all(t[0] == "2025-05 (from 05-20)" for t in ticks), [t[:1] for t in ticks]
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]  # deployments per month by team
    for b in (b for b in bars if b.get("type") == "bar"):
        shapes = dict(zip(b["x"], b["marker"]["pattern"]["shape"]))
        assert shapes["2025-05"] == "/" and shapes["2025-06"] == "" and shapes["2026-11"] == "/"  # from 05-20; to date
        assert b["marker"]["pattern"]["shape"][0] == ""  # the legend's swatch stays plain
    # by quarter, 2025-Q2 holds 42 of its 91 days (May 20-31 and June)
    at = run_app(sample_db, "app_pages/reliability.py", query={"grain": "quarter"})
    _no_exception(at)
    assert any(t and t[0] == "2025-Q2 (from 05-20)" for t in _ticks(at))
