"""Shared fixtures.

``sample_db``: a DuckDB file loaded from the bundled sample data
(``sample_data/*.csv|parquet``), built once per test session in a temp dir.
If the bundled files are missing (a checkout without them), the seeded
generator writes them into the temp dir first.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "sample_data"
SAMPLE_NAMES = ("deployments.csv", "incidents.csv", "costs.parquet", "predictions.parquet")


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory) -> list[Path]:
    """The bundled sample files (generated into a temp dir if they are not in sample_data/)."""
    files = [SAMPLE_DIR / n for n in SAMPLE_NAMES]
    if all(f.exists() for f in files):
        return sorted(p for p in SAMPLE_DIR.iterdir() if p.suffix in (".csv", ".parquet"))
    out = tmp_path_factory.mktemp("sample_generated")
    subprocess.run([sys.executable, str(SAMPLE_DIR / "generate.py"), "--out", str(out)], check=True,
                   capture_output=True)
    return sorted(p for p in out.iterdir() if p.suffix in (".csv", ".parquet"))


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory, sample_files) -> Path:
    """Path of a database file holding the sample data (closed: open it read-only in tests)."""
    import kpis

    path = tmp_path_factory.mktemp("sample_db") / "sample.duckdb"
    con = kpis.connect(path)
    kpis.ingest_files(con, sample_files)
    con.close()
    return path


@pytest.fixture
def empty_db(tmp_path) -> Path:
    """Path of a database that does not exist yet (a fresh install)."""
    return tmp_path / "fresh.duckdb"


@pytest.fixture(scope="module")
def browser():
    """Debian's headless chromium driven by Playwright (browser tests skip where it is missing)."""
    from appserver import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


# What the Spark parity tests (tests/test_spark_parity.py, marked spark) compared: printed at the end of the run.
PARITY: dict[str, set | int] = {"kpis": set(), "values": 0, "requests": 0}


def pytest_terminal_summary(terminalreporter):
    if PARITY["requests"]:
        terminalreporter.write_line(
            f"spark parity: {len(PARITY['kpis'])} KPIs, {PARITY['values']:,} values (value and n) compared "
            f"over {PARITY['requests']} requests, DuckDB vs Spark")


@pytest.fixture
def checked_charts(monkeypatch) -> list:
    """kpis.charts builds its figures unvalidated (for speed): with this fixture every chart is built validated
    too, by plotly (which refuses a property it does not know), and the two must give the same JSON, as
    Streamlit sends it. Returns the figures checked."""
    import copy
    import json

    import plotly.graph_objects as go
    import plotly.io as pio
    import plotly.tools

    from kpis import charts

    def sent(fig) -> dict:  # what st.plotly_chart sends
        return json.loads(pio.to_json(plotly.tools.return_figure_from_figure_or_data(fig, True), validate=False))

    checked, done = [], charts._Fig.done

    def checked_done(self):
        data, layout = copy.deepcopy(self.data), copy.deepcopy(self.layout)
        fig = done(self)
        assert sent(fig) == sent(go.Figure(data=data, layout={"template": charts.TEMPLATE, **layout}))
        checked.append(fig)
        return fig

    monkeypatch.setattr(charts._Fig, "done", checked_done)
    return checked
