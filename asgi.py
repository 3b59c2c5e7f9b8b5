"""The dashboard as an ASGI app: Streamlit's `st.App` over app.py, with the middleware that gives each browser
its workspace key (`dashboard.workspace.WorkspaceCookie`). ``./dev app`` serves it (``streamlit run asgi.py``
through `dashboard.serve`); ``streamlit run app.py`` serves the pages alone, whose work then lasts a tab."""

import streamlit as st
from starlette.middleware import Middleware

from dashboard.workspace import WorkspaceCookie

app = st.App("app.py", middleware=[Middleware(WorkspaceCookie)])
