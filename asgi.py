"""The dashboard as an ASGI app: Streamlit's `st.App` over app.py, with the middleware that gives each browser
its workspace key (`dashboard.workspace.WorkspaceCookie`), behind the HTTP guards of `dashboard.guards`
(forwarded headers believed only from the named proxy, outermost so everything after sees the real address;
``/_stcore/metrics`` and uploads behind the class password; uploads held in memory capped). ``./dev app``
serves it (``streamlit run asgi.py`` through `dashboard.serve`); ``streamlit run app.py`` serves the pages
alone, whose work then lasts a tab."""

import streamlit as st
from starlette.middleware import Middleware

from dashboard.guards import ForwardedHeaders, MetricsGate, UploadGate
from dashboard.workspace import WorkspaceCookie

app = st.App(
    "app.py",
    middleware=[
        Middleware(ForwardedHeaders),
        Middleware(MetricsGate),
        Middleware(UploadGate),
        Middleware(WorkspaceCookie),
    ],
)
