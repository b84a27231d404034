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


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    assert "streamlit run app.py" in first_block
    assert "python -m pytest" in first_block


def test_cli_flags_in_readme_exist():
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices  # argparse keeps subparsers here
    known = {opt for p in sub.values() for a in p._actions for opt in a.option_strings}
    documented = set(re.findall(r"\[(--[a-z-]+)", README))
    assert documented <= known, documented - known


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "pip install -q -r requirements-dev.txt && python -m pytest" in ci
    assert "pip install -r requirements-dev.txt && python -m pytest" in README
