"""The Rate page's questions, "Help us learn your taste": one film at a time, chosen from the answers so far.

Each rating goes into your ratings (`state.my_ratings`), so the top picks beside the questions follow it;
"Haven't seen it" is kept as an answer of its own, which the next choice uses (`recengine.serving.ask`).
The person can stop at any time, or search and rate films themselves below.

=====================  ===================================================================================
session key            what it holds
=====================  ===================================================================================
``ask_not_seen``       ``{source key: [raw item id, ...]}``: films you said you have not seen, per data source
``ask_stopped``        True once you closed the questions (a button brings them back)
=====================  ===================================================================================

Widget keys start with ``ask_``: ``ask_rate_<item>`` (the rating buttons of the film asked about),
``ask_skip``, ``ask_stop``, ``ask_resume``.
"""

from __future__ import annotations

import contextlib

import streamlit as st

from dashboard import state
from dashboard.names import escaped
from dashboard.recs import serving_choice, serving_run
from dashboard.widgets import movie_title, rating_input, tight_rating_buttons
from recengine.data.dataset import RatingsDataset
from recengine.errors import UnknownIdError
from recengine.serving.ask import DEFAULT_STRATEGY, Answers, next_questions

NOT_SEEN = "ask_not_seen"
STOPPED = "ask_stopped"


def not_seen() -> list:
    """The films you said you have not seen, on the active data source (the list itself: edit it in place)."""
    by_source = st.session_state.setdefault(NOT_SEEN, {})
    return by_source.setdefault(state.data_choice().source_key, [])


def skip(item: object) -> None:
    """ "Haven't seen it": kept as a skip (never a rating)."""
    films = not_seen()
    if item not in films:
        films.append(item)


def skip_and_rerun(item: object) -> None:
    """The "Haven't seen it" button: a skip, then the whole app again (the box may be a fragment, and the
    answer is kept with the workspace at the end of a whole run)."""
    skip(item)
    st.rerun()


def set_stopped(stopped: bool) -> None:
    """The "Stop asking" and "ask me" buttons: the choice, then the whole app again (as `skip_and_rerun`)."""
    st.session_state[STOPPED] = stopped
    st.rerun()


def your_answers(data: RatingsDataset) -> Answers:
    """Your ratings and the films you have not seen, as item codes of ``data`` (films a filter left out of
    the data set are left out)."""
    answers: dict[object, float | None] = {}
    for item, rating in [*((i, None) for i in not_seen()), *state.my_ratings().items()]:
        with contextlib.suppress(UnknownIdError):
            data.item_code(item)
            answers[item] = rating
    return Answers.of(data, answers)


ASKED_MEMO = "ask_memo"  # session_state: (what the last question was chosen from, the question)


def questions(data: RatingsDataset) -> None:
    """The "Help us learn your taste" box: the next film to ask about, its rating buttons and "Haven't seen
    it", or a button to bring the questions back."""
    if st.session_state.get(STOPPED):
        st.button("Help us learn your taste: ask me about films", key="ask_resume", icon=":material/quiz:",
                  on_click=set_stopped, args=(False,), type="tertiary")  # fmt: skip
        return
    answers = your_answers(data)
    run, _ = serving_choice(data)
    served = serving_run(run, data) if run is not None else None
    # Asked again only when the answers or the model changed (not on a page turn).
    model = served.model if served is not None else None
    served_by = served.run_id if served is not None else None
    wanted = (data.fingerprint, served_by, tuple(state.my_ratings().items()), tuple(not_seen()))
    kept = st.session_state.get(ASKED_MEMO)
    if kept is not None and kept[0] == wanted:
        asked = kept[1]
    else:
        # The question pool's statistics are built once per data set: 0.1 s for the bundled set, 15 s for 25M.
        with st.spinner("Choosing a film to ask about…"):
            asked = next_questions(model, data, answers, n=1, strategy=DEFAULT_STRATEGY)
        st.session_state[ASKED_MEMO] = (wanted, asked)
    with st.container(border=True, key="ask_box"):
        tight_rating_buttons("ask_box")
        st.markdown("#### Help us learn your taste")
        if not len(asked):
            st.caption("You have answered about every film we would ask about. Search for more below.")
            return
        film = asked.iloc[0]
        genres = ", ".join(film["genres"]) or "no genres"
        title = escaped(movie_title(film["title"], film["year"]))
        st.markdown(f":material/movie: **{title}**  \n:gray[{escaped(genres)}]")
        st.caption(film["why"])
        rating_input(film["item"], data.scale, key=f"ask_rate_{film['item']}")
        skip_column, stop_column = st.columns(2)
        skip_column.button("Haven't seen it", key="ask_skip", on_click=skip_and_rerun, args=(film["item"],))
        stop_column.button("Stop asking", key="ask_stop", on_click=set_stopped, args=(True,),
                           type="tertiary")  # fmt: skip
        st.caption(
            f"{len(answers.rated)} rated, {len(answers.skipped)} not seen so far. Stop whenever you like, or "
            "search for films yourself below; five or more ratings give useful recommendations."
        )
