"""Who is using the app, and whether they may write (DESIGN.md, "Serving a team").

Two modes, chosen by ``.streamlit/secrets.toml``:

* **No ``[auth]`` section** (the default): one local user. The server binds to
  127.0.0.1 (``.streamlit/config.toml``), so only this machine reaches it, and
  that user may do everything; writes are recorded under the OS user name.
* **``[auth]`` configured** (Streamlit's OpenID Connect login, ``st.login``):
  nothing but a login page until the user signs in. A signed-in user whose
  e-mail is in ``[kpis] editors`` (secrets) or ``$KPI_EDITORS`` (comma
  separated) is an *editor*: ingests, loads the sample data, writes review
  commentary and drafts, recorded under their e-mail. Everyone else is a
  *viewer* and reads every page.

Every write path calls :func:`require_editor` itself (hiding a widget is not the
check), and records the name it returns.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

import streamlit as st
from streamlit import config

from kpis.db import local_user

EDITORS_ENV = "KPI_EDITORS"
EDITOR, VIEWER = "editor", "viewer"


class NotAllowed(PermissionError):
    """A viewer (or a signed-out user) tried to write."""


@dataclass(frozen=True)
class User:
    """The person behind this browser session.

    ``name`` is what the database records for their writes: the e-mail with
    login, the OS user name without it.
    """

    name: str
    role: str
    signed_in: bool  # through OpenID Connect (False in the single-user local mode)

    @property
    def can_edit(self) -> bool:
        return self.role == EDITOR


def _secrets() -> dict:
    """The app's secrets ({} when there is no secrets.toml, or it cannot be read)."""
    try:
        if not st.secrets.load_if_toml_exists():
            return {}
        return st.secrets.to_dict()
    except FileNotFoundError:  # StreamlitSecretNotFoundError: missing or unparsable file
        return {}


def login_configured() -> bool:
    """Is Streamlit's OpenID Connect login set up (an ``[auth]`` section in secrets.toml)?"""
    return bool(_secrets().get("auth"))


def editors() -> frozenset[str]:
    """The editors' e-mail addresses (lower case): ``[kpis] editors`` in secrets.toml plus ``$KPI_EDITORS``."""
    listed = _secrets().get("kpis", {}).get("editors", [])
    if isinstance(listed, str):
        listed = listed.split(",")
    listed = [*listed, *os.environ.get(EDITORS_ENV, "").split(",")]
    return frozenset(e.strip().lower() for e in listed if isinstance(e, str) and e.strip())


def user() -> User:
    """Who this session is, and their role."""
    if not login_configured():
        return User(local_user(), EDITOR, signed_in=False)
    info = st.user
    if not info.get("is_logged_in"):
        return User("", VIEWER, signed_in=False)
    email = str(info.get("email") or "").strip()
    name = email or str(info.get("sub") or info.get("name") or "unknown")
    # An e-mail the provider has not verified is anyone's to claim: it does not make an editor.
    verified = info.get("email_verified", True) not in (False, "false")
    role = EDITOR if email and verified and email.lower() in editors() else VIEWER
    return User(name, role, signed_in=True)


def can_edit() -> bool:
    """May this session ingest, load the sample data and write review commentary?"""
    return user().can_edit


def require_editor(action: str) -> str:
    """The name to record for a write, or :class:`NotAllowed` when this session may not ``action``."""
    who = user()
    if not who.can_edit:
        raise NotAllowed(f"{who.name or 'You'} may not {action}: only editors can (ask an administrator to add "
                         f"your e-mail to the editors list).")
    return who.name


def viewer_notice(what: str) -> None:
    """Say, in place of a write widget, why it is not there."""
    st.caption(f":material/lock: Read only: {what} is for editors.")


def _loopback(address: str) -> bool:
    """Does the server listen on this machine only? ("" is every interface.)"""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name
        return False


def gate() -> None:
    """Before any page: with login configured, a login page until signed in; then who is signed in, and how.

    Without login the sidebar says so in one caption (and warns when the server listens beyond this machine).
    """
    if not login_configured():
        address = config.get_option("server.address") or ""
        if _loopback(address):
            st.sidebar.caption(":material/person: Single local user: no login configured (see README, "
                               "\"Running for a team\").")
        else:
            st.sidebar.warning(f"Listening on {address or 'every interface'} without login: anyone who reaches "
                               "this server can ingest and edit. See README, \"Running for a team\".",
                               icon=":material/lock_open:")
        return
    who = user()
    if not who.signed_in:
        st.title("ML engineering KPIs")
        st.write("Sign in to see the dashboard.")
        st.button("Log in", type="primary", icon=":material/login:", on_click=st.login, key="auth-login")
        st.stop()
    with st.sidebar:
        st.text(f"Signed in as {who.name} ({who.role})")  # plain text: a name is never markdown, nor a link
        st.button("Log out", on_click=st.logout, key="auth-logout", icon=":material/logout:")
