"""recengine dashboard: `streamlit run app.py` (or `./dev app`).

The entry point: page setup, navigation between the eight pages, and the sidebar every page shares.
"""

import streamlit as st

from dashboard import classroom, navigation, runs, sidebar, state, workspace
from dashboard.runs import warm_up_trainers
from dashboard.ui import show_notices

st.set_page_config(page_title="recengine", page_icon="🎬", layout="wide")
PAGES = [
    st.Page(entry.script, title=entry.title, icon=entry.icon, default=entry.title == "Home")
    for entry in navigation.PAGES
]
admitted = classroom.admitted()
# Before the sign-in form too: a session whose first runs skip st.navigation stays in Streamlit's old pages/
# mode, and once another session calls it, every later click of the form is dropped (a class arriving at a
# fresh server: all but the first were stuck on the form until they reloaded).
page = st.navigation(PAGES, position="sidebar" if admitted else "hidden")
if not admitted:  # classroom mode: the class password, or a join code, before any page
    classroom.sign_in_form()
    st.stop()
workspace.attach()  # the person's ratings, runs and choices, back after a reload or a restart
classroom.return_to_link(PAGES, page)  # the shared link the class password form interrupted
state.keep_settings(shown.keys if (shown := navigation.entry(page.title)) else "")
sidebar.show()
if notice := runs.cache_notice():  # a read-only or full model cache: training still works, for the session
    st.sidebar.warning(notice, icon=":material/cloud_off:")
show_notices()
if page.title != "Train":
    sidebar.training_elsewhere()
try:
    page.run()
finally:
    was_refused = workspace.NOT_KEPT in st.session_state
    workspace.save()  # what changed in this run, kept for the next visit (a page that stops early too)
if not was_refused and workspace.NOT_KEPT in st.session_state:
    st.rerun()  # the sidebar, drawn before the save, says at once that this work is not kept
warm_up_trainers()  # once per server, after the first page is drawn: a training process gets ready
