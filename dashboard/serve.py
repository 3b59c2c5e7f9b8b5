"""Start the dashboard: ``python -m dashboard.serve [streamlit options]``, what ``./dev app`` runs.

It is ``streamlit run app.py`` on localhost (every interface in classroom mode, see
`dashboard.classroom`) plus a head start: Streamlit imports nothing of the app before the first
browser connects, so the first script run would import NumPy, pandas, SciPy and the engine (about 0.9 s on
two cores). Here a thread imports them while the server starts and the browser loads the page's
JavaScript, and the first page is drawn that much sooner. ``streamlit run app.py`` works too.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from pathlib import Path

from dashboard import classroom

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


def address_options(args: list[str]) -> list[str]:
    """Localhost unless told otherwise; every interface in classroom mode (a class password is set).
    Serving a network without a password is allowed (an operator may have a proxy in front) but warned of."""
    given = None
    for index, arg in enumerate(args):
        if arg == "--server.address":
            given = args[index + 1] if index + 1 < len(args) else ""
        elif arg.startswith("--server.address="):
            given = arg.split("=", 1)[1]
    if given is None and not os.environ.get("STREAMLIT_SERVER_ADDRESS"):
        return ["--server.address", "0.0.0.0" if classroom.class_password() else "127.0.0.1"]
    if given not in (None, "", "127.0.0.1", "localhost", "::1") and not classroom.class_password():
        print(
            f"Warning: serving {given} without a class password; anyone who reaches this port sees the app. "
            f"Set {classroom.ENV} (docs/threat-model.md).",
            file=sys.stderr,
        )
    return []


def main() -> None:
    threading.Thread(target=_import_ahead, name="import-ahead", daemon=True).start()
    from streamlit.web import cli

    args = sys.argv[1:]
    sys.argv = ["streamlit", "run", str(APP), *address_options(args), *args]
    cli.main()


if __name__ == "__main__":
    main()
