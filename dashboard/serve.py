"""Start the dashboard: ``python -m dashboard.serve [streamlit options]``, what ``./dev app`` runs.

It is ``streamlit run app.py`` on localhost (every interface in classroom mode, see
`dashboard.classroom`) plus a head start: Streamlit imports nothing of the app before the first
browser connects, so the first script run would import NumPy, pandas, SciPy and the engine (about 0.9 s on
two cores). Here a thread imports them while the server starts and the browser loads the page's
JavaScript, and the first page is drawn that much sooner. ``streamlit run app.py`` works too.

It also guards the network side: a warning when the server would listen beyond localhost without a class
password (however the address is given), a refusal when the class password variable is set but empty, and
forwarded headers believed only from the proxy the operator names (``RECENGINE_TRUSTED_PROXY``).
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import os
import socket
import sys
import threading
import time
from pathlib import Path

from dashboard import classroom, guards

APP = Path(__file__).resolve().parents[1] / "asgi.py"  # app.py behind the workspace cookie
# What the first script run imports, heaviest first: the app's own modules pull in the rest.
HEAD_START = ("numpy", "pandas", "scipy.sparse", "recengine.data", "dashboard.sidebar", "dashboard.runs")


def _import_ahead() -> None:
    """Once the server is up (importing beside Streamlit's own start-up would only slow both down)."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.runtime import RuntimeState

    while not (Runtime.exists() and Runtime.instance().state != RuntimeState.INITIAL):
        time.sleep(0.02)
    for name in HEAD_START:
        importlib.import_module(name)


LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
TRUSTED_PROXY_ENV = "RECENGINE_TRUSTED_PROXY"


def given_address(args: list[str]) -> str | None:
    """The address asked for, however it was given: ``--server.address`` (an empty value too) or
    ``STREAMLIT_SERVER_ADDRESS``; None when neither is (then `address_options` gives one, which overrides
    any ``server.address`` of a ``.streamlit/config.toml``)."""
    given = None
    for index, arg in enumerate(args):
        if arg == "--server.address":
            given = args[index + 1] if index + 1 < len(args) else ""
        elif arg.startswith("--server.address="):
            given = arg.split("=", 1)[1]
    return given if given is not None else os.environ.get("STREAMLIT_SERVER_ADDRESS")


def beyond_localhost(address: str) -> bool:
    """Whether listening on ``address`` serves more than this machine: an empty address (Streamlit's
    every interface), 0.0.0.0, ::, a network address, or a host name that resolves to one (or to
    nothing: then who knows)."""
    address = address.strip().strip("[]")
    if address.startswith("unix://"):
        return False
    if not address:
        return True
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        pass
    if address.lower() in LOCAL_NAMES:
        return False
    try:
        found = {info[4][0] for info in socket.getaddrinfo(address, None)}
    except (OSError, UnicodeError):
        return True
    return not found or any(not ipaddress.ip_address(ip.split("%")[0]).is_loopback for ip in found)


def address_options(args: list[str]) -> list[str]:
    """Localhost unless told otherwise; every interface in classroom mode (a class password is set).
    Serving beyond localhost without a password is allowed (an operator may have a proxy in front) but
    warned of, however the address is given."""
    given = given_address(args)
    if given is None:
        return ["--server.address", "0.0.0.0" if classroom.class_password() else "127.0.0.1"]
    if beyond_localhost(given) and not classroom.class_password():
        print(
            f"Warning: serving {given or 'every interface'!r} without a class password; anyone who reaches "
            f"this port sees the app. Set {classroom.ENV} (docs/threat-model.md).",
            file=sys.stderr,
        )
    return []


def class_mode_problem() -> str | None:
    """Why classroom mode cannot start: its variable is set but holds no password."""
    if classroom.ENV in os.environ and classroom.class_password() is None:
        return (
            f"{classroom.ENV} is set but empty: classroom mode needs a password. Set it to the class "
            "password, or unset it to serve this machine only."
        )
    return None


def trust_only_the_named_proxy() -> None:
    """Uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise (each student behind a proxy on
    this machine could claim any address); it believes it from the proxy named in
    ``RECENGINE_TRUSTED_PROXY`` only (addresses or networks, separated by commas), else from nobody."""
    os.environ["FORWARDED_ALLOW_IPS"] = os.environ.get(TRUSTED_PROXY_ENV, "").strip()


def short_password_warnings() -> list[str]:
    """A warning for each password set that is not `classroom.unguessable`."""
    passwords = {
        classroom.ENV: classroom.class_password(),
        classroom.TEACHER_ENV: classroom.teacher_password(),
    }
    return [
        f"Warning: {name} is short. Wrong tries at it are slowed down for the whole network address, so behind "
        "one router a student flooding wrong tries delays classmates who sign in late. A password of "
        f"{classroom.UNGUESSABLE_LENGTH} characters or more (four random words) is never slowed down that way."
        for name, password in passwords.items()
        if password is not None and not classroom.unguessable(password)
    ]


def open_files_up_to_the_hard_limit() -> None:
    """Raise the process's soft limit of open files to its hard limit (often 1,024 of 524,288): each browser
    holds a few connections, and a flood of half-open ones must not use up a small soft limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard)
            )


def main() -> None:
    if problem := class_mode_problem():
        sys.exit(f"dashboard.serve: {problem}")
    for warning in short_password_warnings():
        print(warning, file=sys.stderr)
    threading.Thread(target=_import_ahead, name="import-ahead", daemon=True).start()
    from streamlit.web import cli

    args = sys.argv[1:]
    trust_only_the_named_proxy()
    guards.time_out_unfinished_requests()
    guards.limit_incoming_messages()
    open_files_up_to_the_hard_limit()
    sys.argv = ["streamlit", "run", str(APP), *address_options(args), *args]
    cli.main()


if __name__ == "__main__":
    main()
