"""Start the dashboard: ``python -m dashboard.serve [streamlit options]``, what ``./dev app`` runs.

It is ``streamlit run app.py`` plus a head start: Streamlit imports nothing of the app before the first
browser connects, so the first script run would import NumPy, pandas, SciPy and the engine (about 0.9 s on
two cores). Here a thread imports them while the server starts and the browser loads the page's
JavaScript, and the first page is drawn that much sooner. ``streamlit run app.py`` works too.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app.py"
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


def main() -> None:
    threading.Thread(target=_import_ahead, name="import-ahead", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
