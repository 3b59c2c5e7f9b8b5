"""recengine dashboard: `streamlit run app.py` (or `./dev app`).

The entry point: page setup, navigation between the eight pages, and the sidebar every page shares.
"""

import streamlit as st

from dashboard import sidebar
from dashboard.runs import warm_up_trainers

st.set_page_config(page_title="recengine", page_icon="🎬", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/table_chart:"),
    st.Page("pages/rate.py", title="Rate movies", icon=":material/star:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/recommendations.py", title="Recommendations", icon=":material/recommend:"),
    st.Page("pages/compare.py", title="Compare & tune", icon=":material/tune:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:"),
]

page = st.navigation(PAGES)
sidebar.show()
page.run()
warm_up_trainers()  # once per server, after the first page: a training process gets ready in the background
