"""recengine dashboard: `streamlit run app.py` (or `./dev app`).

The entry point: page setup, navigation between the eight pages, and the sidebar every page shares.
"""

import streamlit as st

from dashboard import sidebar, state
from dashboard.runs import warm_up_trainers
from dashboard.ui import show_notices

st.set_page_config(page_title="recengine", page_icon="🎬", layout="wide")

PAGES = [
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/data.py", title="Data", icon=":material/table_chart:"),
    st.Page("views/rate.py", title="Rate movies", icon=":material/star:"),
    st.Page("views/train.py", title="Train", icon=":material/model_training:"),
    st.Page("views/recommendations.py", title="Recommendations", icon=":material/recommend:"),
    st.Page("views/compare.py", title="Compare & tune", icon=":material/tune:"),
    st.Page("views/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("views/embeddings.py", title="Embeddings", icon=":material/scatter_plot:"),
]

page = st.navigation(PAGES)
state.keep_settings()
sidebar.show()
show_notices()
if page.title != "Train":
    sidebar.training_elsewhere()
page.run()
warm_up_trainers()  # once per server, after the first page is drawn: a training process gets ready
