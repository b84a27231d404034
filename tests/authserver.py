"""A local OpenID Connect provider and the app with login on, for the login tests.

``with oidc_provider() as issuer:`` runs ``oidc-provider-mock`` on 127.0.0.1 at
a free port (any client id and secret are accepted; the user is chosen at its
login form by typing the subject, which this project's tests make the e-mail).
``with serve_app(db, args=..., secrets=...) as (url, log):`` starts
``streamlit run app.py`` with extra command-line options and, given
``secrets``, a secrets.toml written to a temporary file (``--secrets.files``),
waits for its health check on ``url`` and stops it on exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from appserver import ROOT, free_port


def _wait_for(url: str, proc: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail(f"{url} did not answer in {seconds:.0f} s: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def oidc_provider(folder: Path):
    """The mock provider's issuer URL, ``http://127.0.0.1:PORT``."""
    port = free_port()
    log_path = folder / f"oidc-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
        issuer = f"http://127.0.0.1:{port}"
        try:
            _wait_for(f"{issuer}/.well-known/openid-configuration", proc, log_path)
            yield issuer
        finally:
            _stop(proc)


def toml_value(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def login_secrets(issuer: str, editors: list[str]) -> dict:
    """secrets.toml for Streamlit's login against ``issuer`` (keys as documented for st.login), and the editors."""
    return {
        "auth": {"redirect_uri": "http://127.0.0.1:{port}/oauth2callback", "cookie_secret": "test-" + "x" * 40,
                 "client_id": "kpi-dashboard", "client_secret": "test-client-secret",
                 "server_metadata_url": f"{issuer}/.well-known/openid-configuration"},
        "kpis": {"editors": editors},
    }


def write_secrets(path: Path, secrets: dict) -> Path:
    lines = []
    for section, values in secrets.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def serve_app(db: Path, args: tuple[str, ...] = (), secrets: dict | None = None, env: dict | None = None,
              host: str = "127.0.0.1"):
    """``(url, log path)`` of ``streamlit run app.py`` on a free port with ``args``; ``secrets`` written to a file
    the app reads instead of .streamlit/secrets.toml."""
    port = free_port()
    log_path = Path(db).parent / f"streamlit-{port}.log"
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
           str(port), "--browser.gatherUsageStats", "false", *args]
    if secrets is not None:
        cmd += ["--secrets.files", str(write_secrets(Path(db).parent / f"secrets-{port}.toml", secrets))]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "KPI_DB": str(db), "PYTHONUNBUFFERED": "1", **(env or {})})
        url = f"http://{host}:{port}"
        try:
            _wait_for(f"{url}/_stcore/health", proc, log_path)
            yield url, log_path
        finally:
            _stop(proc)
