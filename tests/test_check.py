"""python -m kpis check: the triage of a period, its exit code, and its delivery to a webhook and by e-mail.

A small dataset, worked by hand (one team, alpha; one service, svc):

* deployments: 2026-09 four, all successful (change failure rate 0 of 4 = 0%); 2026-10 four, one rolled back
  (1 of 4 = 25%); 2026-11 six successful by the 15th;
* incidents: 2026-09 three, 2026-10 three, 2026-11 one (on the 10th);
* the profile: change failure rate green < 10%, amber <= 15% (red above); incidents at most 2 a month.

So 2026-10 has two KPIs off target: the change failure rate (25% > 15%; green in 2026-09: a new breach) and the
incident count (3 > 2; also 3 in 2026-09: not new). The data's last day is 2026-11-15: November is in progress,
15 of 30 days.

The servers the delivery tests need (an HTTP receiver, an SMTP server) are started here on 127.0.0.1 on free
ports.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

import kpis
from kpis import db as kdb
from kpis import notify
from kpis.__main__ import main

DEPLOYMENTS = """deployment_id,service,deployed_at,team,environment,status
s1,svc,2026-09-02T10:00:00Z,alpha,production,success
s2,svc,2026-09-09T10:00:00Z,alpha,production,success
s3,svc,2026-09-16T10:00:00Z,alpha,production,success
s4,svc,2026-09-23T10:00:00Z,alpha,production,success
o1,svc,2026-10-02T10:00:00Z,alpha,production,success
o2,svc,2026-10-09T10:00:00Z,alpha,production,rolled_back
o3,svc,2026-10-16T10:00:00Z,alpha,production,success
o4,svc,2026-10-23T10:00:00Z,alpha,production,success
n1,svc,2026-11-02T10:00:00Z,alpha,production,success
n2,svc,2026-11-04T10:00:00Z,alpha,production,success
n3,svc,2026-11-06T10:00:00Z,alpha,production,success
n4,svc,2026-11-09T10:00:00Z,alpha,production,success
n5,svc,2026-11-12T10:00:00Z,alpha,production,success
n6,svc,2026-11-15T10:00:00Z,alpha,production,success
"""
INCIDENTS = """incident_id,service,started_at,resolved_at,team,severity
i1,svc,2026-09-05T10:00:00Z,2026-09-05T12:00:00Z,alpha,sev3
i2,svc,2026-09-12T10:00:00Z,2026-09-12T12:00:00Z,alpha,sev3
i3,svc,2026-09-19T10:00:00Z,2026-09-19T12:00:00Z,alpha,sev3
j1,svc,2026-10-05T10:00:00Z,2026-10-05T12:00:00Z,alpha,sev3
j2,svc,2026-10-12T10:00:00Z,2026-10-12T12:00:00Z,alpha,sev3
j3,svc,2026-10-19T10:00:00Z,2026-10-19T12:00:00Z,alpha,sev3
k1,svc,2026-11-10T10:00:00Z,2026-11-10T12:00:00Z,alpha,sev3
"""
PROFILE = """name = "check-test"
title = "Targets of the check tests"
source = "tests/test_check.py"

[[target]]
kpi = "change_failure_rate"
text = "<10-15%"
source = "test"
form = "band"
unit = "%"
green = "< 10"
amber = "<= 15"

[[target]]
kpi = "incident_count"
text = "at most 2 a month"
source = "test"
form = "threshold"
unit = "/month"
green = "<= 2"
"""
ONLY_CFR = PROFILE.split("[[target]]\nkpi = \"incident_count\"")[0]

SECRET_PASSWORD = "pa55-w0rd-never-shown"
SECRET_TOKEN = "T000/B000/XXXXsecrettoken"
DASH = "http://dash.example:8501"
LINK = f"{DASH}/?grain=month&period=2026-10&profile=check-test"


@pytest.fixture
def small_db(tmp_path) -> Path:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "deployments.csv").write_text(DEPLOYMENTS)
    (exports / "incidents.csv").write_text(INCIDENTS)
    path = tmp_path / "kpi.duckdb"
    con = kpis.connect(path)
    kpis.ingest_files(con, [exports])
    con.close()
    return path


@pytest.fixture
def profile(tmp_path) -> Path:
    p = tmp_path / "check-test.toml"
    p.write_text(PROFILE)
    return p


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("KPI_WEBHOOK_URL", "KPI_DASHBOARD_URL", "KPI_SMTP_HOST", "KPI_SMTP_PORT", "KPI_SMTP_USER",
                 "KPI_SMTP_PASSWORD", "KPI_SMTP_FROM", "KPI_SMTP_STARTTLS", "KPI_SMTP_SSL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here


def check(capsys, small_db, profile, *extra):
    code = main(["check", "--db", str(small_db), "--profile", str(profile), "--as-of", "2026-11-15", *map(str, extra)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_json_marks_new_breaches_and_exits_1(capsys, small_db, profile):
    code, out, err = check(capsys, small_db, profile, "--period", "2026-10", "--format", "json")
    assert code == 1, err
    doc = json.loads(out)
    assert doc["period"] == "2026-10" and doc["exit_code"] == 1
    by = {k["kpi"]: k for k in doc["kpis"]}
    cfr = by["change_failure_rate"]
    assert cfr["status"] == "red" and cfr["value"] == pytest.approx(0.25)  # 1 rolled back of 4
    assert cfr["previous_status"] == "green" and cfr["new_breach"] is True  # 0 of 4 = 0% in 2026-09
    inc = by["incident_count"]
    assert inc["status"] == "red" and inc["value"] == 3  # 3 > at most 2
    assert inc["previous_status"] == "red" and inc["new_breach"] is False  # 3 in 2026-09 too
    assert doc["new_breaches"] == ["change_failure_rate"]
    # Triage order: off target first, the furthest off first: incidents 3 vs 2 is (3-2)/2 = 0.5 off,
    # the change failure rate 25% vs 10% is (0.25-0.10)/0.10 = 1.5 off.
    assert [k["kpi"] for k in doc["kpis"][:2]] == ["change_failure_rate", "incident_count"]
    # Drivers as the scorecard says them: by team (one team, alpha, carries the whole change).
    assert "alpha" in cfr["drivers"]
    # November is in progress (15 of 30 days): where it is heading.
    assert doc["heading"]["period"] == "2026-11 (to date: 15 of 30 days)"
    heading = {k["kpi"]: k for k in doc["heading"]["kpis"]}
    nov_incidents = heading["incident_count"]["projections"][0]
    # 1 incident in 15 of 30 days: 1 x 30 / 15 = 2, at most 2 a month: on pace.
    assert nov_incidents["projected"] == pytest.approx(2.0) and nov_incidents["reach"] == "on pace"


def test_check_text_and_markdown(capsys, small_db, profile):
    code, out, _ = check(capsys, small_db, profile, "--period", "2026-10")
    assert code == 1
    assert out.splitlines()[0].startswith("KPI check 2026-10: 2 off target (1 new)")
    assert "[NEW] Change failure rate: 25.0% (off target; target <10-15%)" in out
    assert "  ML incidents: 3 (off target" in out  # not new: no mark
    assert "WHERE 2026-11 (TO DATE: 15 OF 30 DAYS) IS HEADING" in out
    code, out, _ = check(capsys, small_db, profile, "--period", "2026-10", "--format", "markdown")
    assert code == 1
    # Data (the target's words) escaped for markdown: '<' and '-' never render as markup.
    assert "- **new** · **Change failure rate**: 25.0% (off target; target \\<10\\-15%)" in out


def test_check_exit_0_when_nothing_is_off_target(capsys, small_db, tmp_path):
    only_cfr = tmp_path / "only-cfr.toml"
    only_cfr.write_text(ONLY_CFR)
    code, out, err = check(capsys, small_db, only_cfr, "--period", "2026-09", "--format", "json")
    assert code == 0, err  # 0 of 4 failed in 2026-09: green
    assert json.loads(out)["off_target"] == 0


def test_check_last_complete_is_the_default_period(capsys, small_db, profile):
    code, out, _ = check(capsys, small_db, profile, "--format", "json")
    assert json.loads(out)["period"] == "2026-10"  # as of 2026-11-15 the last whole month is October
    assert code == 1


def test_check_in_progress_period_projects_the_count(capsys, small_db, profile):
    code, out, _ = check(capsys, small_db, profile, "--period", "2026-11", "--format", "json")
    doc = json.loads(out)
    dep = {k["kpi"]: k for k in doc["kpis"]}["deployment_count"]
    assert dep["value"] == 6
    # 6 deployments in the first 15 of 30 days: 6 x 30 / 15 = 12 by the end of the month.
    month = dep["projections"][0]
    assert month["period"] == "2026-11" and month["projected"] == pytest.approx(12.0)
    # And the quarter: 9 successful deployments (October's 4 less the rolled-back one, November's 6) in the
    # first 46 of 92 days of 2026-Q4 (October's 31 and November's 15): 9 x 92 / 46 = 18.
    quarter = dep["projections"][1]
    assert quarter["period"] == "2026-Q4" and quarter["projected"] == pytest.approx(18.0)


def test_check_usage_errors_exit_2(capsys, small_db, profile):
    code, _, err = check(capsys, small_db, profile, "--period", "2026-13")
    assert code == 2 and "month" in err
    code, _, err = check(capsys, small_db, profile, "--email", "boss@example.com")
    assert code == 2 and "KPI_SMTP_HOST" in err
    code, _, err = check(capsys, small_db, profile, "--notify")
    assert code == 2 and "KPI_WEBHOOK_URL" in err
    code, _, err = check(capsys, small_db, profile, "--notify", "http://127.0.0.1:1/x", "--dashboard-url", "ftp://x")
    assert code == 2 and "dashboard URL" in err


# --- delivery -----------------------------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 (a free port) that records every POST."""

    def __init__(self, status: int = 200):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"path": self.path, "type": self.headers["Content-Type"], "body": json.loads(body)})
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/{SECRET_TOKEN}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _rows(db_path) -> list[tuple]:
    con = kdb.connect(db_path, read_only=True)
    try:
        return con.execute("SELECT period, profile, scope, channel, target, sent_by FROM notifications "
                           "ORDER BY channel, target").fetchall()
    finally:
        con.close()


def test_slack_webhook_once_with_link_and_no_secret(capsys, small_db, profile, monkeypatch):
    monkeypatch.setenv("KPI_SMTP_PASSWORD", SECRET_PASSWORD)  # a secret in the environment never travels
    with Receiver() as hook:
        monkeypatch.setenv("KPI_WEBHOOK_URL", hook.url)
        code, out, err = check(capsys, small_db, profile, "--period", "2026-10", "--notify",
                               "--dashboard-url", DASH)
        assert code == 1, err  # the KPIs' verdict, delivered or not
        assert len(hook.received) == 1
        got = hook.received[0]
        assert got["type"] == "application/json" and got["path"] == f"/services/{SECRET_TOKEN}"
        text = json.dumps(got["body"])
        assert got["body"]["text"].startswith("KPI check 2026-10: 2 off target (1 new)")
        assert ":new: *Change failure rate*: 25.0%" in text
        assert f"<{LINK}|Open in the dashboard>" in text
        assert SECRET_PASSWORD not in text and SECRET_TOKEN not in text
        for printed in (out, err):
            assert SECRET_TOKEN not in printed and SECRET_PASSWORD not in printed
        assert "sent the 2026-10 digest to 127.0.0.1/…#" in err
        rows = _rows(small_db)
        assert len(rows) == 1 and rows[0][:4] == ("2026-10", "check-test", "all", "slack")
        assert SECRET_TOKEN not in rows[0][4]

        # The same period again: not sent twice.
        code, _, err = check(capsys, small_db, profile, "--period", "2026-10", "--notify", "--dashboard-url", DASH)
        assert code == 1 and len(hook.received) == 1
        assert "not sent to 127.0.0.1/…#" in err and "--force" in err
        # Unless asked.
        code, _, err = check(capsys, small_db, profile, "--period", "2026-10", "--notify", "--dashboard-url", DASH,
                             "--force")
        assert len(hook.received) == 2 and len(_rows(small_db)) == 1
        # Another scope is another digest.
        check(capsys, small_db, profile, "--period", "2026-10", "--notify", "--team", "alpha")
        assert len(hook.received) == 3
        assert [r[2] for r in _rows(small_db)] == ["all", "team=alpha"]


def test_teams_webhook_body_is_an_adaptive_card(capsys, small_db, profile):
    with Receiver() as hook:
        code, _, err = check(capsys, small_db, profile, "--period", "2026-10", "--team", "alpha", "--notify",
                             hook.url, "--webhook-format", "teams", "--dashboard-url", DASH)
        assert code == 1, err
        body = hook.received[0]["body"]
        assert body["type"] == "message"
        card = body["attachments"][0]["content"]
        assert body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert card["type"] == "AdaptiveCard"
        texts = [b["text"] for b in card["body"]]
        # Data escaped where it would make markup in the card's markdown ('<'), not elsewhere.
        assert "NEW · **Change failure rate**: 25.0% (target \\<10-15%)" in texts
        assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in the dashboard",
                                    "url": f"{LINK}&team=alpha"}]
        assert SECRET_TOKEN not in json.dumps(body)


def test_webhook_failure_exits_3_and_records_nothing(capsys, small_db, profile):
    with Receiver(status=500) as hook:
        code, out, err = check(capsys, small_db, profile, "--period", "2026-10", "--notify", hook.url)
    assert code == 3
    assert "answered HTTP 500" in err and SECRET_TOKEN not in err + out
    con = kdb.connect(small_db, read_only=True)
    try:
        assert not notify._exists(con)
    finally:
        con.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An SMTP server (aiosmtpd) on 127.0.0.1 that takes a login and keeps the messages."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages, self.logins = [], []
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
                inbox.messages.append(envelope)
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            inbox.logins.append((auth_data.login.decode(), auth_data.password.decode()))
            ok = auth_data.password.decode() == SECRET_PASSWORD
            return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 on a refusal

        self.port = _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticator,
                                     auth_require_tls=False)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def test_email_once_through_smtp_settings(capsys, small_db, profile, monkeypatch):
    from email import message_from_bytes

    with Inbox() as inbox:
        monkeypatch.setenv("KPI_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("KPI_SMTP_PORT", str(inbox.port))
        monkeypatch.setenv("KPI_SMTP_USER", "kpi-bot")
        monkeypatch.setenv("KPI_SMTP_PASSWORD", SECRET_PASSWORD)
        monkeypatch.setenv("KPI_SMTP_FROM", "kpi-bot@example.com")
        monkeypatch.setenv("KPI_SMTP_STARTTLS", "0")  # the local server speaks plain SMTP
        monkeypatch.setenv("KPI_DASHBOARD_URL", DASH)
        code, out, err = check(capsys, small_db, profile, "--period", "2026-10", "--email", "manager@example.com")
        assert code == 1, err
        assert inbox.logins == [("kpi-bot", SECRET_PASSWORD)]
        assert len(inbox.messages) == 1
        env = inbox.messages[0]
        assert env.mail_from == "kpi-bot@example.com" and env.rcpt_tos == ["manager@example.com"]
        msg = message_from_bytes(env.original_content)
        assert msg["Subject"].startswith("KPI check 2026-10: 2 off target (1 new)")
        body = msg.get_payload(decode=True).decode()
        assert "[NEW] Change failure rate: 25.0%" in body
        assert f"Open in the dashboard: {LINK}" in body
        assert SECRET_PASSWORD not in env.original_content.decode() and SECRET_PASSWORD not in out + err
        assert [r[3:5] for r in _rows(small_db)] == [("email", "manager@example.com")]
        # Not twice.
        check(capsys, small_db, profile, "--period", "2026-10", "--email", "manager@example.com")
        assert len(inbox.messages) == 1
        # A wrong password: a clear error naming the server, never the password.
        monkeypatch.setenv("KPI_SMTP_PASSWORD", "wrong-" + SECRET_PASSWORD)
        code, out, err = check(capsys, small_db, profile, "--period", "2026-10", "--email", "other@example.com")
        assert code == 3 and f"127.0.0.1:{inbox.port} refused the login of kpi-bot" in err
        assert SECRET_PASSWORD not in out + err
