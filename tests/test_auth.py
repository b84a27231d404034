"""Who may do what (issue 16, item 6): localhost by default, login with roles, and who wrote what.

* The server binds to 127.0.0.1 (.streamlit/config.toml): the real app answers
  on the loopback address and not on this machine's other address.
* With ``[auth]`` in the secrets (Streamlit's OpenID Connect login) a signed-out
  visitor sees only the login page; a signed-in viewer reads every page without
  the upload form, the sample-data button or the commentary editor; an editor
  (``[kpis] editors`` or ``$KPI_EDITORS``) has them. AppTest seeds ``st.user``.
* The write functions check the role themselves: a viewer calling them (or a
  session whose text area outlived its editor role) gets a message and the
  database stays as it was.
* ``ingest_log.ingested_by`` and the commentary's ``updated_by`` record who; a
  database made before those columns existed opens, shows its history and
  gains them on the first write.

The login flow itself, through a real OpenID Connect provider, is
tests/test_browser_login.py.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tomllib
import urllib.request
from pathlib import Path

import duckdb
import pytest
import streamlit
from authserver import serve_app
from streamlit.runtime.secrets import Secrets
from streamlit.testing.v1 import AppTest
from test_app import APP, run_app

import kpis
from kpis import db as kdb
from kpis import rollups, schema
from review import commentary
from ui import auth, data

ROOT = Path(__file__).resolve().parent.parent
AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "s" * 40,
        "client_id": "kpi-dashboard", "client_secret": "secret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
EDITOR, VIEWER = "Ed.Itor@example.com", "vi.ewer@example.com"
SECRETS = {"auth": AUTH, "kpis": {"editors": [EDITOR.lower(), "someone@example.com"]}}
CSV = b"deployment_id,service,deployed_at,team,status\nd-1,search-api,2026-10-05T10:00:00Z,search,success\n"


def signed_in(email: str, **claims) -> dict:
    return {"is_logged_in": True, "email": email, "sub": email, **claims}


def app_as(db: Path, page: str, user: dict | None, secrets: dict | None = SECRETS) -> AppTest:
    """Run ``page`` of the app on ``db`` as ``user`` (None: AppTest's default), login configured by ``secrets``."""
    os.environ["KPI_DB"] = str(db)
    at = AppTest.from_file(APP, default_timeout=180)
    if secrets:
        at.secrets.update(secrets)
    if user is not None:
        at.user = user
    at.run()
    signed_out = any(b.key == "auth-login" for b in at.button)
    if page != "app_pages/scorecard.py" and not signed_out and not at.exception:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at) -> str:
    """The page's text as a reader sees it: markdown escapes resolved."""
    raw = "\n".join(str(e.value) for kind in ("title", "header", "subheader", "caption", "markdown", "info",
                                              "warning", "error", "text")
                    for e in at.get(kind))
    return re.sub(r"\\(.)", r"\1", raw)


# --- localhost by default --------------------------------------------------------------------------------


def test_the_config_binds_the_server_to_localhost():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"


def non_loopback_address() -> str | None:
    """This machine's address on its default route (None when it has only loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def reachable(url: str) -> bool:
    try:
        return urllib.request.urlopen(url, timeout=3).read() == b"ok"
    except OSError:
        return False


def test_the_app_answers_on_loopback_only(empty_db):
    address = non_loopback_address()
    with serve_app(empty_db) as (url, log):  # no --server.address: .streamlit/config.toml decides
        port = url.rsplit(":", 1)[1]
        assert reachable(f"http://127.0.0.1:{port}/_stcore/health")
        if address is None:
            pytest.skip("this machine has no address but loopback: nothing else to reach the app on")
        assert not reachable(f"http://{address}:{port}/_stcore/health"), f"the app answered on {address}"


def test_an_address_set_for_a_team_is_honoured(empty_db):
    """The check above can fail: the same app told to listen everywhere answers on the other address."""
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    with serve_app(empty_db, args=("--server.address", "0.0.0.0")) as (url, log):
        port = url.rsplit(":", 1)[1]
        assert reachable(f"http://{address}:{port}/_stcore/health")


# --- roles: ui.auth on its own ---------------------------------------------------------------------------


@pytest.fixture
def session(monkeypatch):
    """Set the secrets and the signed-in user that ui.auth reads, outside an app run."""
    monkeypatch.delenv(auth.EDITORS_ENV, raising=False)

    def set_(secrets: dict | None, user: dict | None = None):
        s = Secrets()
        if secrets is not None:
            s._secrets = secrets  # as AppTest seeds st.secrets
        else:
            monkeypatch.setattr(s, "load_if_toml_exists", lambda: False)
        monkeypatch.setattr(streamlit, "secrets", s)
        monkeypatch.setattr(streamlit, "user", user or {})

    return set_


def test_without_login_the_local_user_may_do_everything(session):
    session(None)
    who = auth.user()
    assert not auth.login_configured()
    assert (who.name, who.role, who.signed_in) == (kdb.local_user(), "editor", False)
    assert auth.require_editor("ingest files") == kdb.local_user()


def test_with_login_editors_are_the_listed_emails_in_any_case(session):
    session(SECRETS, signed_in(EDITOR))
    assert auth.login_configured()
    assert (auth.user().name, auth.user().role) == (EDITOR, "editor")
    assert auth.require_editor("ingest files") == EDITOR
    session(SECRETS, signed_in(VIEWER))
    assert (auth.user().name, auth.user().role) == (VIEWER, "viewer")
    with pytest.raises(auth.NotAllowed, match=f"{VIEWER} may not ingest files: only editors can"):
        auth.require_editor("ingest files")


def test_signed_out_unverified_or_without_email_is_a_viewer(session):
    session(SECRETS, {"is_logged_in": False})
    assert not auth.can_edit() and not auth.user().signed_in
    session(SECRETS, signed_in(EDITOR, email_verified=False))  # anyone can claim an unverified address
    assert not auth.can_edit()
    session(SECRETS, {"is_logged_in": True, "sub": "abc-123"})
    assert auth.user().name == "abc-123" and not auth.can_edit()


def test_editors_from_the_environment(session, monkeypatch):
    session({"auth": AUTH}, signed_in(VIEWER))
    assert auth.editors() == frozenset() and not auth.can_edit()
    monkeypatch.setenv(auth.EDITORS_ENV, f"someone@example.com, {VIEWER.upper()}")
    assert auth.editors() == {"someone@example.com", VIEWER} and auth.can_edit()


def test_the_write_functions_refuse_a_viewer_and_write_nothing(session, monkeypatch, tmp_path, sample_db):
    db = tmp_path / "kpi.duckdb"
    shutil.copy(sample_db, db)
    monkeypatch.setenv("KPI_DB", str(db))
    before = db.read_bytes()
    session(SECRETS, signed_in(VIEWER))
    with pytest.raises(auth.NotAllowed, match="may not ingest files"):
        data.ingest_uploads([data.Upload("deployments.csv", CSV)])
    with pytest.raises(auth.NotAllowed, match="may not load the sample data"):
        data.load_sample()
    assert db.read_bytes() == before  # not even opened for writing
    session(SECRETS, signed_in(EDITOR))
    reports = data.ingest_uploads([data.Upload("deployments.csv", CSV)])
    assert [(r.file, r.inserted) for r in reports] == [("deployments.csv", 1)]
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT file_name, ingested_by FROM ingest_log WHERE batch_id = "
                           "(SELECT max(batch_id) FROM ingest_log)").fetchall() == [("deployments.csv", EDITOR)]
    finally:
        con.close()


# --- roles: the pages ------------------------------------------------------------------------------------


def test_signed_out_sees_only_the_login_page(sample_db):
    at = app_as(sample_db, "app_pages/data.py", {"is_logged_in": False})
    assert [b.label for b in at.button] == ["Log in"]
    assert [t.value for t in at.title] == ["ML engineering KPIs"]
    assert "Sign in to see the dashboard." in texts(at)
    assert len(at.selectbox) == 0 and len(at.segmented_control) == 0  # no sidebar, no page
    assert len(at.file_uploader) == 0 and len(at.metric) == 0 and len(at.dataframe) == 0


def test_a_viewer_reads_the_data_page_without_the_upload_form(sample_db):
    at = app_as(sample_db, "app_pages/data.py", signed_in(VIEWER))
    shown = texts(at)
    assert f"Signed in as {VIEWER} (viewer)" in shown
    assert "Read only: uploading and ingesting exports is for editors." in shown
    assert "Ingest history" in shown
    assert len(at.file_uploader) == 0
    assert not [b for b in at.button if b.label.startswith(("Ingest", "Load sample"))]
    history = at.dataframe[-1].value
    assert "ingested_by" in history.columns and len(history) > 0


def test_an_editor_has_the_upload_form(sample_db):
    at = app_as(sample_db, "app_pages/data.py", signed_in(EDITOR))
    assert f"Signed in as {EDITOR} (editor)" in texts(at)
    assert len(at.file_uploader) == 1
    assert "Read only" not in texts(at)


def test_without_login_the_app_runs_for_the_local_user(sample_db):
    at = app_as(sample_db, "app_pages/data.py", None, secrets=None)
    assert "Single local user: no login configured" in texts(at)
    assert len(at.file_uploader) == 1
    assert not [b for b in at.button if b.key in ("auth-login", "auth-logout")]


def test_listening_beyond_localhost_without_login_is_flagged(sample_db):
    from streamlit.testing.v1.util import patch_config_options

    with patch_config_options({"server.address": "0.0.0.0"}):
        at = app_as(sample_db, "app_pages/data.py", None, secrets=None)
    assert "Listening on 0.0.0.0 without login: anyone who reaches this server can ingest and edit." in texts(at)
    assert "Single local user" not in texts(at)


def test_the_sample_data_button_is_for_editors(empty_db):
    at = app_as(empty_db, "app_pages/scorecard.py", signed_in(VIEWER))
    assert not [b for b in at.button if b.label == "Load sample data"]
    assert "Read only: loading data is for editors." in texts(at)
    at = app_as(empty_db, "app_pages/scorecard.py", signed_in(EDITOR))
    assert [b for b in at.button if b.label == "Load sample data"]


@pytest.fixture
def review_db(tmp_path, sample_db) -> Path:
    db = tmp_path / "review.duckdb"
    shutil.copy(sample_db, db)
    return db


def saved_rows(db: Path, table: str = commentary.TABLE) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT section, text, updated_by FROM {table} ORDER BY section").fetchall()
    except duckdb.CatalogException:
        return []
    finally:
        con.close()


def test_review_commentary_is_written_by_editors_only(review_db):
    at = app_as(review_db, "app_pages/review.py", signed_in(EDITOR))
    areas = {a.label: a for a in at.text_area}
    assert "Commentary on Delivery" in areas
    areas["Commentary on Delivery"].input("Lead time fell again.").run()  # a draft, written by keep_draft
    assert not at.exception
    save = [b for b in at.button if b.label == "Save commentary" and "delivery" in b.key]
    save[0].click().run()
    assert not at.exception
    assert ("delivery", "Lead time fell again.", EDITOR) in saved_rows(review_db)

    at = app_as(review_db, "app_pages/review.py", signed_in(VIEWER))
    assert len(at.text_area) == 0
    assert not [b for b in at.button if b.label in ("Save commentary", "Discard draft")]
    assert "Lead time fell again." in texts(at)  # the saved commentary, read only


def test_a_session_that_lost_its_editor_role_cannot_write_a_draft(review_db):
    at = app_as(review_db, "app_pages/review.py", signed_in(EDITOR))
    area = next(a for a in at.text_area if a.label == "Commentary on Cost")
    at.user = signed_in(VIEWER)  # e.g. removed from the editors list while the tab was open
    area.input("Typed by a viewer.").run()
    assert not at.exception
    assert saved_rows(review_db, commentary.DRAFTS) == []
    assert "may not change the review commentary" in texts(at)


# --- who: ingest_log and commentary, old databases ---------------------------------------------------------


def test_the_command_line_records_the_os_user(tmp_path):
    (tmp_path / "deployments.csv").write_bytes(CSV)
    con = kpis.connect(tmp_path / "kpi.duckdb")
    try:
        kpis.ingest_files(con, [tmp_path / "deployments.csv"])
        kpis.ingest_files(con, [tmp_path / "deployments.csv"], user="ci@example.com")  # skipped: still logged
        assert con.execute("SELECT status, ingested_by FROM ingest_log ORDER BY batch_id").fetchall() == [
            ("loaded", kdb.local_user()), ("skipped", "ci@example.com")]
    finally:
        con.close()


def test_commentary_and_drafts_record_who(tmp_path):
    con = kpis.connect(tmp_path / "kpi.duckdb")
    try:
        commentary.save_draft(con, "2026-10", None, "all", "cost", "Draft.", by=EDITOR)
        assert con.execute(f"SELECT updated_by FROM {commentary.DRAFTS}").fetchall() == [(EDITOR,)]
        commentary.save(con, "2026-10", None, "all", "cost", "Saved.", by=EDITOR)
        commentary.save(con, "2026-10", None, "all", "delivery", "From the CLI.")
        assert con.execute(f"SELECT section, updated_by FROM {commentary.TABLE} ORDER BY 1").fetchall() == [
            ("cost", EDITOR), ("delivery", kdb.local_user())]
    finally:
        con.close()


# The tables as the code before issue 16 made them (main at 6d62c2f): no ingested_by, no updated_by.
OLD_INGEST_LOG = """CREATE TABLE ingest_log (
    batch_id BIGINT, file_name VARCHAR, file_path VARCHAR, content_hash VARCHAR,
    kind VARCHAR, status VARCHAR, rows_read BIGINT, rows_inserted BIGINT,
    rows_updated BIGINT, rows_rejected BIGINT, ingested_at TIMESTAMP,
    source_tz VARCHAR, mapping JSON, message VARCHAR, file_size BIGINT)"""
OLD_COMMENTARY = """CREATE TABLE {table} (
    period VARCHAR NOT NULL, profile VARCHAR NOT NULL, scope VARCHAR NOT NULL, section VARCHAR NOT NULL,
    text VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL, PRIMARY KEY (period, profile, scope, section))"""


@pytest.fixture
def old_db(tmp_path) -> Path:
    """A database as the previous release left it: one loaded file, one saved commentary, one draft."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for table in schema.TABLES.values():  # the rest of the schema as it was (kpis.db.ensure_schema then)
        con.execute(schema.ddl(table))
    con.execute(kdb.QUARANTINE_DDL)
    rollups.ensure(con)
    con.execute(OLD_INGEST_LOG)
    con.execute("INSERT INTO ingest_log VALUES (1, 'old.csv', '/x/old.csv', 'abc', 'deployments', 'loaded', 1, 1, "
                "0, 0, TIMESTAMP '2026-10-01 09:00:00', 'UTC', '{\"mapping\": \"canonical columns\"}', '', 10)")
    for table in (commentary.TABLE, commentary.DRAFTS):
        con.execute(OLD_COMMENTARY.format(table=table))
        con.execute(f"INSERT INTO {table} VALUES ('2026-10', '(none)', 'all', 'cost', 'Old text.', now()::TIMESTAMP)")
    con.close()
    return path


def test_an_old_database_reads_and_gains_the_who_columns(old_db, tmp_path):
    con = kpis.connect(old_db, read_only=True)  # the app's readers: nothing is added
    try:
        history = kpis.ingest.history(con)
        assert history["file_name"].tolist() == ["old.csv"] and history["ingested_by"].isna().all()
        assert commentary.load(con, "2026-10", None, "all") == {"cost": "Old text."}
    finally:
        con.close()

    (tmp_path / "deployments.csv").write_bytes(CSV)
    con = kpis.connect(old_db)  # a writer: ensure_schema adds the columns
    try:
        columns = {t: {r[0] for r in con.execute(f"DESCRIBE {t}").fetchall()}
                   for t in ("ingest_log", commentary.TABLE, commentary.DRAFTS)}
        assert "ingested_by" in columns["ingest_log"]
        assert "updated_by" in columns[commentary.TABLE] and "updated_by" in columns[commentary.DRAFTS]
        kpis.ingest_files(con, [tmp_path / "deployments.csv"], user=EDITOR)
        commentary.save(con, "2026-10", None, "all", "delivery", "New text.", by=EDITOR)
        history = kpis.ingest.history(con)
        assert history["file_name"].tolist() == ["deployments.csv", "old.csv"]
        assert history["ingested_by"].iloc[0] == EDITOR and history["ingested_by"].isna().iloc[1]
        assert con.execute(f"SELECT section, text, updated_by FROM {commentary.TABLE} ORDER BY 1").fetchall() == [
            ("cost", "Old text.", None), ("delivery", "New text.", EDITOR)]
    finally:
        con.close()


def test_a_connection_that_skipped_ensure_schema_still_saves_with_who(old_db):
    con = duckdb.connect(str(old_db))  # a plain DuckDB connection: review.commentary adds its column itself
    try:
        commentary.save_draft(con, "2026-10", None, "all", "cost", "Edited.", by=EDITOR)
        assert con.execute(f"SELECT text, updated_by FROM {commentary.DRAFTS}").fetchall() == [("Edited.", EDITOR)]
    finally:
        con.close()


def test_the_data_page_shows_who_ingested_on_an_old_database(old_db):
    at = run_app(old_db, "app_pages/data.py")
    assert not at.exception
    history = at.dataframe[-1].value
    assert history["file_name"].tolist() == ["old.csv"] and "ingested_by" in history.columns


def test_a_signed_in_name_is_shown_literally(sample_db):
    """A provider's subject is data: it never becomes markup (an image fetched from elsewhere, a link)."""
    at = app_as(sample_db, "app_pages/scorecard.py", {"is_logged_in": True, "sub": "![t](http://host/x.png)"})
    assert [t.value for t in at.text] == ["Signed in as ![t](http://host/x.png) (viewer)"]  # st.text: no markdown
    assert not [m for m in at.markdown if "http://host" in m.value]
