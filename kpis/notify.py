"""Where the digest goes: a webhook (Slack or Teams) and e-mail, each period's digest once.

Secrets come from the environment (or ``.streamlit/secrets.toml``'s
``[notify]`` table, same names in lower case without the ``KPI_`` prefix:
``smtp_host``, ``smtp_password``, ``webhook_url``, ...), never from a file
the project commits, and never reach a log line, an error message or the
``notifications`` table:

* ``KPI_WEBHOOK_URL``: the webhook when ``--notify`` is given without a URL (a
  Slack or Teams webhook URL is itself a secret: it is written nowhere but as
  ``host/…#<hash>``);
* ``KPI_SMTP_HOST``, ``KPI_SMTP_PORT`` (default 587 with STARTTLS, 465 with
  SSL, else 25), ``KPI_SMTP_USER``, ``KPI_SMTP_PASSWORD``, ``KPI_SMTP_FROM``
  (default: the user), ``KPI_SMTP_STARTTLS`` (``1`` / ``0``; default ``1``
  when a user is set), ``KPI_SMTP_SSL`` (``1``: TLS from the first byte,
  port 465).

**Idempotent**: every delivery is recorded in ``notifications`` (period,
profile, scope, channel, target, sent_at, sent_by); a digest of the same
period, profile and scope is not sent again to the same channel and target
unless forced.
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import ssl
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from kpis.db import local_user

TABLE = "notifications"
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    period VARCHAR NOT NULL, profile VARCHAR NOT NULL, scope VARCHAR NOT NULL, channel VARCHAR NOT NULL,
    target VARCHAR NOT NULL, sent_at TIMESTAMP NOT NULL, sent_by VARCHAR,
    PRIMARY KEY (period, profile, scope, channel, target)
)"""
CHANNELS = ("slack", "teams", "email")
NO_PROFILE = "(none)"
TIMEOUT_SECONDS = 20.0
SECRETS_FILE = Path(".streamlit") / "secrets.toml"


class DeliveryError(RuntimeError):
    """A digest could not be delivered; the message names the target (redacted) and the reason, never a secret."""


def setting(name: str, default: str | None = None) -> str | None:
    """``$KPI_<NAME>``, else ``[notify] <name>`` of .streamlit/secrets.toml, else ``default``."""
    value = os.environ.get(f"KPI_{name.upper()}")
    if value is not None and value.strip() != "":
        return value.strip()
    try:
        with SECRETS_FILE.open("rb") as f:
            table = tomllib.load(f).get("notify", {})
    except (OSError, tomllib.TOMLDecodeError):
        table = {}
    found = table.get(name.lower()) if isinstance(table, dict) else None
    return str(found).strip() if found not in (None, "") else default


def _flag(name: str, default: bool) -> bool:
    value = setting(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"KPI_{name.upper()} must be 1 or 0, not {value!r}")


def redact_url(url: str) -> str:
    """'hooks.slack.com/…#1a2b3c4d5e6f': the host and a hash of the whole URL (its path holds the token)."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"{urlsplit(url).hostname or 'webhook'}/…#{digest}"


def check_webhook_url(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the webhook must be an http(s) URL (give it with --notify URL or $KPI_WEBHOOK_URL)")
    return url


# --- the record of what went where ---------------------------------------------------------------


def _exists(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.cursor().execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = $t AND schema_name = 'main'",
                               {"t": TABLE}).fetchone()
    return bool(row and row[0])


def _key(period: str, profile: str | None, scope: str, channel: str, target: str) -> dict:
    return {"period": period, "profile": profile or NO_PROFILE, "scope": scope, "channel": channel, "target": target}


def sent_at(con: duckdb.DuckDBPyConnection, period: str, profile: str | None, scope: str, channel: str,
            target: str) -> datetime | None:
    """When this digest was delivered to ``target`` on ``channel`` (UTC), or None."""
    if not _exists(con):
        return None
    row = con.cursor().execute(
        f"SELECT sent_at FROM {TABLE} WHERE period = $period AND profile = $profile AND scope = $scope "
        "AND channel = $channel AND target = $target", _key(period, profile, scope, channel, target)).fetchone()
    return row[0] if row else None


def record(con: duckdb.DuckDBPyConnection, period: str, profile: str | None, scope: str, channel: str,
           target: str, by: str | None = None, when: datetime | None = None) -> None:
    """Record a delivery (a forced resend moves ``sent_at``). ``con`` must be writable."""
    con.execute(DDL)
    when = (when or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    con.execute(
        f"""INSERT INTO {TABLE} (period, profile, scope, channel, target, sent_at, sent_by)
            VALUES ($period, $profile, $scope, $channel, $target, $sent_at, $sent_by)
            ON CONFLICT (period, profile, scope, channel, target) DO UPDATE
            SET sent_at = excluded.sent_at, sent_by = excluded.sent_by""",
        {**_key(period, profile, scope, channel, target), "sent_at": when, "sent_by": by or local_user()})


# --- delivery ------------------------------------------------------------------------------------


def post_json(url: str, body: dict, timeout: float = TIMEOUT_SECONDS) -> int:
    """POST ``body`` as JSON to ``url``; the HTTP status (2xx). Raises DeliveryError naming the redacted URL."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(check_webhook_url(url), data=data, method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "ml-kpis-digest"})
    where = redact_url(url)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (an http(s) URL, checked)
            return resp.status
    except urllib.error.HTTPError as e:
        raise DeliveryError(f"the webhook {where} answered HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DeliveryError(f"the webhook {where} could not be reached ({type(reason).__name__})") from None


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    sender: str
    starttls: bool
    ssl: bool

    def __repr__(self) -> str:  # never print the password
        return (f"SmtpSettings(host={self.host!r}, port={self.port}, user={self.user!r}, sender={self.sender!r}, "
                f"starttls={self.starttls}, ssl={self.ssl})")


def smtp_settings() -> SmtpSettings:
    """The SMTP server from KPI_SMTP_* (see the module docstring); ValueError naming what is missing."""
    host = setting("smtp_host")
    if not host:
        raise ValueError("--email needs an SMTP server: set KPI_SMTP_HOST (and KPI_SMTP_PORT, KPI_SMTP_USER, "
                         "KPI_SMTP_PASSWORD, KPI_SMTP_FROM as needed)")
    user, password = setting("smtp_user"), setting("smtp_password")
    use_ssl = _flag("smtp_ssl", False)
    starttls = _flag("smtp_starttls", bool(user) and not use_ssl)
    port_text = setting("smtp_port") or ("465" if use_ssl else "587" if starttls else "25")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"KPI_SMTP_PORT must be a port number, not {port_text!r}") from None
    sender = setting("smtp_from") or user
    if not sender:
        raise ValueError("--email needs a sender: set KPI_SMTP_FROM")
    if user and not password:
        raise ValueError("KPI_SMTP_USER is set without KPI_SMTP_PASSWORD")
    return SmtpSettings(host=host, port=port, user=user, password=password, sender=sender, starttls=starttls,
                        ssl=use_ssl)


def send_email(settings: SmtpSettings, msg: EmailMessage, timeout: float = TIMEOUT_SECONDS) -> None:
    """Send ``msg`` through the server; DeliveryError naming host and port (never the password)."""
    where = f"{settings.host}:{settings.port}"
    try:
        if settings.ssl:
            server = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout,
                                      context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with server:
            if settings.starttls:
                server.starttls(context=ssl.create_default_context())
            if settings.user:
                server.login(settings.user, settings.password or "")
            server.send_message(msg)
    except smtplib.SMTPAuthenticationError as e:
        raise DeliveryError(f"the SMTP server {where} refused the login of {settings.user} ({e.smtp_code})") from None
    except smtplib.SMTPException as e:
        raise DeliveryError(f"the SMTP server {where} refused the message ({type(e).__name__})") from None
    except OSError as e:
        raise DeliveryError(f"the SMTP server {where} could not be reached ({type(e).__name__})") from None
