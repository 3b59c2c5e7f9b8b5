"""The sidebar every page shows: the active data set, how many movies you rated, the active model."""

from __future__ import annotations

import streamlit as st

from dashboard import state
from dashboard.data import active_data
from recengine.errors import RecEngineError


def show() -> None:
    with st.sidebar:
        try:
            data = active_data()
        except RecEngineError as error:
            st.error(f"The chosen data set cannot be loaded: {error}")
            st.caption("Choose another one on the Data page; your ratings are kept.")
            return
        st.markdown(f"**Data:** {state.data_choice().label}")
        st.caption(f"{data.n_users:,} users · {data.n_items:,} movies · {data.n_ratings:,} ratings")
        st.markdown(f"**You rated:** {len(state.my_ratings())} movies")
        run = state.active_run(data.fingerprint)
        st.markdown(f"**Active model:** {run.title if run else 'none yet'}")
        job = st.session_state.get(state.JOB)
        if job is not None and job.running:
            st.caption(f"Training {job.label}… (see the Train page)")
