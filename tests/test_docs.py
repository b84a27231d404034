"""The README documents what the code does: every KPI, and the CLI's flags."""

from __future__ import annotations

import re
from pathlib import Path

from kpis import catalog
from kpis.__main__ import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_catalog_kpi_has_a_definition_row_in_the_readme():
    rows = set(re.findall(r"^\| `([a-z0-9_]+)` \|", README, flags=re.M))
    assert rows == set(catalog.KPI_IDS)


def test_readme_starts_with_the_venv_and_the_two_commands():
    blocks = [b.split("```", 1)[0] for b in README.split("```bash")[1:3]]
    assert "-m venv" in blocks[0]
    assert "streamlit run app.py" in blocks[1]
    assert "python -m pytest" in blocks[1]
    assert "Start again from an empty database" in README


def test_readme_page_table_matches_the_app():
    app = (Path(__file__).resolve().parents[1] / "app.py").read_text()
    pages = re.findall(r'st\.Page\("app_pages/\w+\.py", title="([^"]+)"', app)
    table = README.split("## The dashboard", 1)[1].split("\n\n|", 2)[1]
    rows = re.findall(r"^\|? ?([^|]+?) \| [^|]+ \| ", "|" + table, flags=re.M)
    assert len(pages) == 7
    assert [r.strip() for r in rows if r.strip() not in ("page", "---")] == pages


def test_cli_flags_in_readme_exist():
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices  # argparse keeps subparsers here
    known = {opt for p in sub.values() for a in p._actions for opt in a.option_strings}
    documented = set(re.findall(r"\[(--[a-z-]+)", README))
    assert documented <= known, documented - known


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "pip install -q -r requirements-dev.txt\nruff check .\npython -m pytest" in ci
    assert "pip install -r requirements-dev.txt && python -m pytest" in README
