"""Classroom mode: one class password in front of every page when the dashboard serves a network.

Set ``RECENGINE_CLASS_PASSWORD`` and start ``./dev app``: the server then listens on every interface
(``dashboard.serve``) and each new browser session must type the password before any page runs. The
password is compared in constant time (``hmac.compare_digest`` of SHA-256 digests). Wrong tries are
counted twice: each session gets `MAX_FAILURES` per `WINDOW_SECONDS`, and each connection address
`MAX_ADDRESS_FAILURES` (a class behind one router or proxy shares an address, so it gets more; a student
opening new tabs gets no more than the address). The address is the connection's own: forwarded headers
count only from the proxy the operator names (``RECENGINE_TRUSTED_PROXY``, see `dashboard.serve` and
`dashboard.guards`). Every wrong try costs its session `FAILURE_DELAY_SECONDS`. Without the variable the
server listens on localhost only and asks nothing. See docs/threat-model.md.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import deque

import streamlit as st

ENV = "RECENGINE_CLASS_PASSWORD"
ADMITTED = "class_admitted"
MAX_FAILURES = 10  # per session
MAX_ADDRESS_FAILURES = 60  # per connection address: a class of 30 mistyping twice
WINDOW_SECONDS = 600
FAILURE_DELAY_SECONDS = 1.0


def class_password() -> str | None:
    """The class password; None when the variable is unset, empty or blank."""
    value = os.environ.get(ENV, "")
    return value if value.strip() else None


def matches(given: str, password: str) -> bool:
    """Whether ``given`` is ``password``, in time that does not depend on where they differ."""
    digest = hashlib.sha256
    return hmac.compare_digest(digest(given.encode()).digest(), digest(password.encode()).digest())


class Attempts:
    """Wrong passwords per client address in a sliding window (thread-safe: sessions run in threads)."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS):
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, client: str, now: float | None = None) -> float:
        """0 when ``client`` may try now, else how long until it may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = self._recent(client, now)
            return 0.0 if len(recent) < self.limit else recent[0] + self.window - now

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(client, now).append(now)

    def _recent(self, client: str, now: float) -> deque[float]:
        for key in [k for k, times in self._failures.items() if times and times[-1] <= now - self.window]:
            del self._failures[key]  # sessions long gone: their tries left the window
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures


class Tries:
    """Wrong passwords counted per session and per connection address together."""

    def __init__(self, per_session: int = MAX_FAILURES, per_address: int = MAX_ADDRESS_FAILURES):
        self.sessions = Attempts(per_session)
        self.addresses = Attempts(per_address)

    def wait_seconds(self, session: str, address: str, now: float | None = None) -> float:
        return max(self.sessions.wait_seconds(session, now), self.addresses.wait_seconds(address, now))

    def failed(self, session: str, address: str, now: float | None = None) -> None:
        self.sessions.failed(session, now)
        self.addresses.failed(address, now)


@st.cache_resource
def _attempts() -> Tries:
    return Tries()


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx(suppress_warning=True)
    return context.session_id if context is not None else ""


def admitted() -> bool:
    """True when no class password is set or this session typed it; else draw the password form."""
    password = class_password()
    if password is None or st.session_state.get(ADMITTED):
        return True
    address = st.context.ip_address  # the connection's (None on localhost): see dashboard.guards
    client, session = (address if isinstance(address, str) else "localhost"), _session_id()
    st.title("recengine")
    with st.form("class_password_form"):
        given = st.text_input("Class password", type="password", key="class_password")
        submitted = st.form_submit_button("Enter", type="primary", key="class_password_enter")
    if submitted:
        attempts = _attempts()
        if (wait := attempts.wait_seconds(session, client)) > 0:
            st.error(f"Too many wrong passwords from here. Try again in {wait:,.0f} seconds.")
        elif matches(given, password):
            st.session_state[ADMITTED] = True
            st.rerun()
        else:
            attempts.failed(session, client)
            time.sleep(FAILURE_DELAY_SECONDS)
            st.error("That is not the class password. Ask your teacher for it.")
    return False
