"""The sidebar every page shows: the active data set, how many movies you rated, the model serving your
lists, and whether your work is kept."""

from __future__ import annotations

import streamlit as st

from dashboard import classroom, state, workspace
from dashboard.data import active_data
from dashboard.recs import served_name, serving_choice
from dashboard.runs import collect_finished_job
from dashboard.ui import counted
from recengine.errors import RecEngineError


def show() -> None:
    collect_finished_job()
    with st.sidebar:
        signed_in()
        try:
            data = active_data()
        except RecEngineError as error:
            st.error(f"The chosen data set cannot be loaded: {error}")
            st.caption("Choose another one on the Data page; your ratings are kept.")
            return
        st.markdown(f"**Data:** {state.data_choice().label}")
        st.caption(
            " · ".join(
                [
                    counted(data.n_users, "user"),
                    counted(data.n_items, "movie"),
                    counted(data.n_ratings, "rating"),
                ]
            )
        )
        rated_count()
        run, _ = serving_choice(data)
        st.markdown(f"**Your lists:** {served_name(run) if run else 'no model yet'}")
        st.caption(runs_line(data.fingerprint))
        job = st.session_state.get(state.JOB)
        if job is not None and job.running:
            st.caption(f"Training {job.label}…")
        kept_note()


RATED = "side_rated"  # the key of `rated_count`'s fragment: a rating rerunning only what shows it names it


@st.fragment(key=RATED)
def rated_count() -> None:
    """How many movies you rated here, and where your other ratings are when you have none here."""
    classroom.guard_fragment()  # signed out meanwhile (a new code, Sign out elsewhere): the app says so
    st.markdown(f"**You rated:** {counted(len(state.my_ratings()), 'movie')}")
    elsewhere = ratings_elsewhere()
    if elsewhere and not state.my_ratings():
        st.caption(
            f"Your {' and '.join(elsewhere)} belong to another data set: ratings are kept by each data set's "
            "own film ids, which this one does not share, so they do not apply here. They are back when you "
            "choose that data set again on the Data page."
        )


def runs_line(fingerprint: str) -> str:
    """How many runs the person has on this data set, by group: "Your runs: 2 · lessons' runs: 5"."""
    runs = state.runs_on(fingerprint, diverged=True)
    counts = {group: sum(run.group == group for run in runs) for group in state.GROUPS}
    parts = [
        f"{state.GROUPS[group].capitalize()}: {count}"
        for group, count in counts.items()
        if count or group == "mine"
    ]
    return " · ".join(parts)


def signed_in() -> None:
    """Under a class roster: who is signed in here, and a way out for the next person at this computer."""
    name = classroom.signed_in_name()
    if name is None:
        return
    st.text(f"Signed in as {name}")  # plain text: a name is never Markdown
    if st.button("Sign out", key="side_sign_out", icon=":material/logout:"):
        classroom.sign_out()
        st.rerun()


def kept_note() -> None:
    """Whether the person's work outlives the tab, and a way to start over."""
    if notice := st.session_state.pop(workspace.RESTORED, None):
        st.toast(notice, icon=":material/history:")
    if workspace.kept() and (refusal := st.session_state.get(workspace.NOT_KEPT)):
        st.warning(refusal, icon=":material/save:")
    elif classroom.signed_in_student() is not None:
        st.caption(
            "Your ratings, runs and choices are kept on this server for you: sign in with your join code on "
            "any computer to have them back."
        )
    elif workspace.kept():
        st.caption(
            f"Your ratings, runs and choices are kept on this server for this browser for "
            f"{workspace.MAX_AGE_DAYS} days after your last visit: a reload or a restart brings them back; "
            "another browser or a shared link does not."
        )
    else:
        st.caption(
            "Kept while this tab stays open (this server gives no workspace cookie: start it with "
            "./dev app to keep your work across reloads). To keep your ratings, save a profile or export a CSV."
        )
    with st.popover("Start over", icon=":material/restart_alt:"):
        st.markdown("Forget your ratings, runs and choices, here and on the server? Saved profiles stay.")
        if st.button("Forget everything", key="side_start_over", type="primary"):
            workspace.start_over()
            st.rerun()


def ratings_elsewhere() -> list[str]:
    """ "5 ratings on bundled:ml-latest-small" for each other data source you rated films on."""
    here = state.data_choice().source_key
    by_source = st.session_state.get(state.RATINGS, {})
    return [f"{counted(len(r), 'rating')} on {source.split(':', 1)[-1]}" for source, r in by_source.items()
            if source != here and r]  # fmt: skip


def training_elsewhere() -> None:
    """On pages other than Train, while a model trains: a line with its progress, and when it is done the
    page again, so the new model is active wherever you are. (A fragment in the main area: one in the
    sidebar would wipe the navigation when it reruns.)"""
    job = st.session_state.get(state.JOB)
    if job is not None and job.running:
        _training_status()
    elif collect_finished_job():  # it ended between the sidebar and here: show the page with it
        st.rerun()


@st.fragment(run_every=1.0)
def _training_status() -> None:
    classroom.guard_fragment()  # signed out meanwhile (a new code, Sign out elsewhere): the app says so
    job = st.session_state.get(state.JOB)
    if job is not None and job.running:
        st.caption(f"Training {job.label} in the background: epoch {job.epochs_done} of {job.n_epochs}.")
    elif collect_finished_job():
        st.rerun()
