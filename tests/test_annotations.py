"""Annotations: stored all or none, never twice, filtered to the view, marked on the trend charts.

kpis.charts is imported inside the chart tests: imported at collection, before test_app.py imports
streamlit (which sets plotly's default template to its own when imported), it would leave streamlit's
template the default for tests/test_charts.py.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import kpis
from kpis import annotations
from kpis import db as kdb

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def con(tmp_path):
    c = kpis.connect(tmp_path / "kpi.duckdb")
    yield c
    c.close()


def test_add_and_filter_to_the_view(con):
    added = annotations.add(con, [
        annotations.Note(date(2026, 9, 14), "New on-call rota", team="search"),
        annotations.Note(date(2026, 10, 1), "Deploy freeze\nfor the migration"),  # one line on a marker
        annotations.Note(date(2026, 10, 20), "fraud reorg", team="fraud", service="fraud-scorer"),
    ], by="ana@example.com")
    assert added == 3
    every = annotations.notes(con)
    assert list(every["text"]) == ["New on-call rota", "Deploy freeze for the migration", "fraud reorg"]
    assert set(every["added_by"]) == {"ana@example.com"}
    # The search team's view: its own note and the one about everyone, not fraud's.
    search = annotations.notes(con, filters={"team": ["search"]})
    assert list(search["text"]) == ["New on-call rota", "Deploy freeze for the migration"]
    # A date range, both ends included.
    october = annotations.notes(con, date(2026, 10, 1), date(2026, 10, 31))
    assert list(october["text"]) == ["Deploy freeze for the migration", "fraud reorg"]
    # The same note again is not stored twice.
    assert annotations.add(con, [annotations.Note(date(2026, 9, 14), "New on-call rota", team="search")]) == 0
    assert len(annotations.notes(con)) == 3


def test_no_table_yet_reads_as_no_notes(tmp_path):
    c = kdb.connect(tmp_path / "missing.duckdb", read_only=True)
    try:
        assert annotations.notes(c).empty
    finally:
        c.close()


def test_a_bad_csv_is_reported_whole_and_nothing_is_written(con, tmp_path):
    annotations.add(con, [annotations.Note(date(2026, 1, 5), "kept")])
    bad = tmp_path / "notes.csv"
    bad.write_text("date,team,text\n2026-02-01,search,fine\n2026-13-01,,x\n1990-01-01,,too early\n2026-03-01,,\n")
    with pytest.raises(annotations.AnnotationError) as e:
        annotations.load_csv(con, bad)
    message = str(e.value)
    assert "notes.csv row 3 column date: '2026-13-01' is not a date (YYYY-MM-DD)" in message
    assert "notes.csv row 4 column date: 1990-01-01 is outside 2000-01-01" in message
    assert "notes.csv row 5 column text: empty" in message
    assert list(annotations.notes(con)["text"]) == ["kept"]  # the good row 2 was not written either
    unknown = tmp_path / "odd.csv"
    unknown.write_text("when,text\n2026-01-01,x\n")
    with pytest.raises(annotations.AnnotationError, match="odd.csv: missing column date"):
        annotations.read_csv(unknown)


def test_the_cli_adds_from_a_csv_and_lists(tmp_path):
    db = tmp_path / "kpi.duckdb"
    notes = tmp_path / "notes.csv"
    notes.write_text("date,team,service,text\n2026-06-03,,,Platform freeze\n2026-09-14,search,,On-call rota\n")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "kpis", "annotate", "--db", str(db), *map(str, args)],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)

    r = run(notes)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "added 2 of 2 note(s)"
    r = run(notes)
    assert r.stdout.strip() == "added 0 of 2 note(s); 2 were there already"
    r = run("--date", "2026-10-01", "--text", "Reorg", "--team", "fraud", "--list")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "added 1 of 1 note(s)"
    assert [x.split()[0] for x in lines[3:]] == ["2026-06-03", "2026-09-14", "2026-10-01"]
    r = run("--date", "2026-10-01")
    assert r.returncode == 2 and "--date and --text go together" in r.stderr


def _frame():
    rows = [{"period": p, "kpi": "incident_count", "value": v, "n": v, "unit": "count"}
            for p, v in (("2026-08", 4), ("2026-09", 6), ("2026-10", 5))]
    return pd.DataFrame(rows)


def test_the_trend_chart_marks_the_period_of_each_note():
    from kpis import charts

    notes = pd.DataFrame([
        {"day": date(2026, 9, 14), "team": "search", "service": "", "text": "New on-call rota for search"},
        {"day": date(2026, 9, 30), "team": "", "service": "", "text": "Freeze"},
        {"day": date(2026, 12, 1), "team": "", "service": "", "text": "outside the chart"},
    ])
    fig = charts.trend(_frame(), ["incident_count"], "ML incidents", notes=notes).to_plotly_json()
    lines = [s for s in fig["layout"]["shapes"] if s.get("line", {}).get("dash") == "dot"]
    assert [(s["x0"], s["x1"]) for s in lines] == [("2026-09", "2026-09")]  # both September notes, one line
    marks = [a for a in fig["layout"]["annotations"] if a["text"].startswith("✎")]
    assert len(marks) == 1 and marks[0]["x"] == "2026-09"
    assert marks[0]["text"] == "✎ New on-call rota for search +1"  # 27 characters: not cut
    assert marks[0]["hovertext"] == "2026-09-14 · team search: New on-call rota for search<br>2026-09-30 · Freeze"


def test_a_note_is_escaped_and_cut_on_the_chart():
    from kpis import charts

    notes = pd.DataFrame([{"day": date(2026, 10, 2), "team": "", "service": "",
                           "text": "<b>bold</b> <a href='x'>link</a> and a long tail"}])
    fig = charts.trend(_frame(), ["incident_count"], "ML incidents", notes=notes).to_plotly_json()
    mark = [a for a in fig["layout"]["annotations"] if a["text"].startswith("✎")][0]
    assert "<b>" not in mark["text"] and "<a" not in mark["text"] and "<a" not in mark["hovertext"]
    # Cut to 27 characters and '…': '<b>bold</b>' (11) + ' ' (1) + "<a href='x'>" (12) + 'lin' (3) = 27.
    assert mark["text"] == "✎ " + charts.esc("<b>bold</b> <a href='x'>lin…")


def test_the_review_pack_lists_the_periods_notes_and_marks_its_charts(sample_db, tmp_path):
    import shutil

    import review

    db = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, db)
    con = kpis.connect(db)
    annotations.add(con, [annotations.Note(date(2026, 10, 6), "Freeze <script>x</script>"),
                          annotations.Note(date(2026, 9, 1), "September: not this period's", team="search")])
    pack = review.build_review(con, period="2026-10", profile="lead")
    con.close()
    notes = pack.section("annotations")
    assert notes.title == "Annotations · 2026-10"
    table = notes.tables[0].frame
    assert table.to_dict("records") == [{"Date": "2026-10-06", "Team": "all", "Service": "all",
                                         "Note": "Freeze <script>x</script>"}]
    # The trend charts of the window mark both notes (September's and October's), escaped.
    fig = pack.section("delivery").charts[0].figure.to_plotly_json()
    marks = [a["text"] for a in fig["layout"]["annotations"] if a["text"].startswith("✎")]
    assert marks == ["✎ September: not this period's", "✎ Freeze &lt;script&gt;x&lt;/script&gt;"]
    from review import html as review_html

    page = review_html.render(pack)
    assert "Freeze &lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page


def test_no_annotations_no_section(sample_db):
    import review

    con = kpis.connect(sample_db, read_only=True)
    pack = review.build_review(con, period="2026-10", profile="lead")
    con.close()
    assert "annotations" not in [s.id for s in pack.sections]
