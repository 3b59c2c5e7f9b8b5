"""Challenge: a class tunes one model family on one split; a leaderboard on the public part of the held-out
ratings, the private part kept for the end; the teacher opens challenges and reveals what won."""

from __future__ import annotations

import datetime as dt
import os
import time

import streamlit as st

from dashboard import challenge as store
from dashboard import classroom, roster, roster_view, state
from dashboard.data import active_data, load_choice, split
from dashboard.names import in_code
from dashboard.navigation import inside_app
from dashboard.profiles import current_owner
from dashboard.ui import engine_errors
from recengine.errors import RecEngineError
from recengine.evaluation.challenge import MEASURES, Challenge, ChallengeSpec
from recengine.models import MODELS

inside_app()

PICKED = "challenge_pick"


def teacher_sign_in() -> None:
    password = classroom.teacher_password()
    if password is None:
        if os.environ.get(classroom.TEACHER_ENV, "").strip():
            st.warning(
                f"{classroom.TEACHER_ENV} is the class password: set a different one for the teacher's view."
            )
        return
    if classroom.is_teacher() or (classroom.class_password() is not None and roster.in_use()):
        return  # under a class roster the teacher signs in with the teacher code, at the sign-in form
    with st.expander("Teacher"), st.form("challenge_teacher_form"):
        given = st.text_input(
            "Teacher password", type="password", key="challenge_teacher_password",
            max_chars=classroom.MAX_PASSWORD_TYPED,
        )  # fmt: skip
        if st.form_submit_button("Sign in", key="challenge_teacher_enter"):
            wrong = "That is not the teacher password."
            refused = classroom.sign_in(given, password, classroom.teacher_tries(), wrong)
            if refused is None:
                st.session_state[classroom.TEACHER] = True
                st.rerun()
            st.error(refused)


def open_form() -> None:
    """The teacher's form to open a challenge on the active data set."""
    choice = state.data_choice()
    with st.expander("Open a challenge", expanded=not store.all_challenges()), st.form("challenge_open_form"):
        st.caption(f"On the active data set, {choice.label} (choose another on the Data page).")
        title = st.text_input(
            "Title", placeholder="Beat the baseline", key="challenge_title", max_chars=store.MAX_TITLE_CHARS
        )
        left, right = st.columns(2)
        method = left.selectbox("Hold out", ("user", "temporal"), key="challenge_split",
                                format_func={"user": "by user", "temporal": "by time"}.get)  # fmt: skip
        share = right.slider("Test share", 0.05, 0.5, 0.2, 0.05, key="challenge_share")
        measure = left.selectbox("Measure", list(MEASURES), format_func=MEASURES.get, key="challenge_measure")
        hours = right.number_input("Open for (hours)", 0.1, 24.0 * 60, 2.0, key="challenge_hours")
        models = st.multiselect(
            "Models allowed", list(MODELS), default=["sgd", "als"], key="challenge_models"
        )
        if st.form_submit_button("Open the challenge", type="primary", key="challenge_open"):
            with engine_errors():
                spec = ChallengeSpec(split=f"{method}:{share:g}", measure=measure, models=tuple(models),
                                     deadline=time.time() + hours * 3600, title=title.strip())  # fmt: skip
                opened = store.create(spec, choice, active_data())  # refuses a split the data cannot have
                st.session_state[PICKED] = opened.challenge_id
                st.rerun()


def engine_for(stored: store.StoredChallenge) -> Challenge:
    """The challenge's parts, from its data set and split (both in the pages' shared caches: a submission
    costs no new split)."""
    data = load_choice(stored.choice)
    if data.fingerprint != stored.fingerprint:
        raise store.ChallengeError("The challenge's data set has changed since it opened: ask your teacher.")
    return Challenge(data, stored.spec, sides=split(data, stored.spec.split, stored.spec.seed))


@st.cache_resource(max_entries=1024, show_spinner=False)
def scores(challenge_id: str, run_id: str, _engine: Challenge, _run: state.Run) -> dict[str, float]:
    """A run's scores on both parts, once per challenge and model: a run id is its model's cache key (the
    data, algorithm, settings, split and seed), so a class submitting the same settings is scored once."""
    return _engine.scores(_run.model)


def describe(stored: store.StoredChallenge) -> None:
    spec = stored.spec
    deadline = dt.datetime.fromtimestamp(spec.deadline, dt.UTC)
    left = spec.deadline - time.time()
    status = f"closes {deadline:%d %b %H:%M} UTC" if left > 0 else f"closed {deadline:%d %b %H:%M} UTC"
    method, _, share = spec.split.partition(":")
    whose = "of each user's ratings, at random" if method == "user" else "of each user's ratings, the latest"
    held_out = f"{float(share):.0%} {whose},"
    st.markdown(
        f"**{stored.title}**: {MEASURES[spec.measure]} "
        f"({'lower' if spec.lower_is_better else 'higher'} is better) on **{stored.data_label}**; models: "
        f"{', '.join(spec.models)}; {status}.  \n"
        f"{held_out} are held out; the rest, the **training part**, is yours to train, tune and validate on. "
        "The board scores your model on half of the held-out users (the public part); the other half (the "
        "private part) decides at the end. Neither part's ratings are shown, nor used by any page."
    )


def work_on(stored: store.StoredChallenge) -> None:
    """Make the challenge's training part the active data set of every page (or go back to the whole set)."""
    working = state.data_choice() == stored.working_choice
    if working:
        st.success(
            "You are working on this challenge's training part: Train, Compare & tune, Evaluate and the "
            "lessons use it alone, and their test and validation ratings are carved from it.",
            icon=":material/lock:",
        )
        if st.button(f"Back to the whole {stored.data_label}", key="challenge_leave"):
            state.set_data_choice(stored.choice)
            st.rerun()
    elif st.button("Work on this challenge", key="challenge_work", type="primary"):
        with engine_errors():
            load_choice(stored.working_choice)  # a challenge whose data set changed says so here
            state.set_data_choice(stored.working_choice)
            st.rerun()


def submit_form(stored: store.StoredChallenge) -> None:
    owner = current_owner()
    if not owner.startswith("person:"):  # no workspace cookie: each new tab would be a new person
        st.warning(store.NEEDS_COOKIES, icon=":material/cookie:")
        return
    fitting = [run for run in state.runs().values() if store.accepts(stored, run)]
    if not fitting:
        st.info(
            f"To take part, press **Work on this challenge**, then train one of {', '.join(stored.spec.models)} "
            "on the Train page: runs trained on the challenge's training part can be submitted."
        )
        return
    own_name = stored.name_of(owner) or ""
    student = classroom.signed_in_student()
    reserved = classmates(student) if student is not None else []
    with st.form("challenge_submit_form"):
        titles = {run.run_id: run.title for run in fitting}
        run_id = st.selectbox("Your run", list(titles), format_func=titles.get, key="challenge_run")
        name = st.text_input("Display name on the board", value=own_name or (student.name if student else ""),
                             max_chars=store.MAX_NAME_LENGTH,
                             key="challenge_name", disabled=bool(own_name))  # fmt: skip
        pressed = st.form_submit_button("Submit", type="primary", key="challenge_submit")
    if pressed:
        try:
            engine = engine_for(stored)
            made = store.submit(
                stored.challenge_id, owner, own_name or name, state.runs()[run_id], engine,
                scorer=lambda run: scores(stored.challenge_id, run.run_id, engine, run),
                address=store.address_digest(address) if (address := classroom.counted_address()) else "",
                reserved=reserved,
            )  # fmt: skip
        except RecEngineError as error:
            st.error(str(error))
        else:
            shown = in_code(made.name)
            st.success(f"Submitted as {shown}: public {MEASURES[stored.spec.measure]} {made.public:.4f}.")
    recent = len(store.load(stored.challenge_id).recent(owner, time.time()))
    st.caption(f"{recent} of your {store.MAX_PER_HOUR} submissions this hour used.")


def classmates(student: roster.Student) -> list[str]:
    """The roster's other names: a display name may not pass for a classmate's (probe 7b)."""
    try:
        return [other.name for other in roster.students() if other.student_id != student.student_id]
    except roster.RosterError:
        return []


def board(stored: store.StoredChallenge, teacher: bool) -> None:
    st.subheader("Leaderboard")
    shown = store.with_private_rank(store.leaderboard(stored, teacher=teacher), stored)
    if shown.empty:
        st.caption("No submissions yet.")
    else:
        with st.container(key="challenge_board"):  # a plain table: a class's board is a few dozen rows
            st.table(store.as_markdown_cells(shown).set_index("rank"), border="horizontal")
    hidden = [what for what, off in (("settings", not stored.settings_revealed),
                                     ("private scores", not stored.private_revealed)) if off]  # fmt: skip
    if hidden and not teacher:
        st.caption(f"The {' and '.join(hidden)} stay hidden until the teacher reveals them.")
    st.button("Refresh the board", key="challenge_refresh")


def lesson(stored: store.StoredChallenge) -> None:
    """Public against private: the winner's curse on the class's own board."""
    found = store.public_against_private(stored)
    if found is None:
        return
    curse, figure = found
    entries = store.best_per_person(stored)
    measure = MEASURES[stored.spec.measure]
    winner = in_code(entries[curse.winner].name)  # a name is text, never a link (probes 4 and 7)
    st.subheader("Lesson: public against private")
    st.markdown(
        f"{winner} won the public part and is **#{curse.private_rank}** of "
        f"{len(entries)} on the private one: its public {measure} looked {abs(curse.optimism):.4f} "
        f"{'better' if curse.optimism > 0 else 'worse'} than its private {measure}. Over the top {curse.top} by "
        f"public score the gap averages {curse.mean_optimism:+.4f} (positive: the public score flattered). "
        "Every choice made by looking at the public score (a setting, a seed, which run to submit) fits that "
        "part's particular users a little: the more choices, the more the best public score is luck, and luck "
        "does not carry over to the private users. That is the winner's curse of tuning on one test set; the "
        "cure is a validation set for tuning and a test set looked at once."
    )
    st.plotly_chart(figure, key="challenge_lesson_chart")
    where = "above" if stored.spec.lower_is_better else "below"
    st.caption(f"Points {where} the dotted diagonal did worse on the private part than on the public one.")


def teacher_view(stored: store.StoredChallenge) -> None:
    st.subheader("Teacher")
    sessions, training, waiting = store.class_activity()
    columns = st.columns(4)
    columns[0].metric("Connected", "–" if sessions is None else sessions)
    columns[1].metric("Training now", training)
    columns[2].metric("Waiting to train", waiting)
    columns[3].metric("Submissions", len(stored.submissions))
    left, right = st.columns(2)
    settings_label = "Hide the settings" if stored.settings_revealed else "Reveal the settings to the class"
    if left.button(settings_label, key="challenge_reveal_settings"):
        store.reveal(stored.challenge_id, settings=not stored.settings_revealed)
        st.rerun()
    private_label = "Hide the private scores" if stored.private_revealed else "Reveal the private scores"
    if right.button(private_label, key="challenge_reveal_private", type="primary"):
        store.reveal(stored.challenge_id, private=not stored.private_revealed)
        st.rerun()
    if not stored.submissions:
        return
    table = store.submissions_table(stored)
    st.plotly_chart(store.submissions_figure(table), key="challenge_over_time")
    for figure in store.setting_figures(table, MEASURES[stored.spec.measure]):
        st.plotly_chart(figure)
    st.download_button("Download every submission (CSV)", store.spreadsheet_safe(table).to_csv(index=False).encode(),
                       file_name=f"challenge-{stored.challenge_id}.csv", mime="text/csv",
                       key="challenge_csv")  # fmt: skip


def main() -> None:
    st.title("Challenge")
    st.markdown(
        "Tune a model with your class: submit your best run, see where it stands on the public part of the "
        "held-out ratings, and find out at the end how it does on the private part, which nobody tuned on."
    )
    teacher_sign_in()
    teacher = classroom.is_teacher()
    if teacher:
        if classroom.class_password() is not None:
            roster_view.show()
        open_form()
    challenges = {stored.challenge_id: stored for stored in store.all_challenges()}
    if not challenges:
        st.info("No challenge is open yet: your teacher opens one.")
        return
    if st.session_state.get(PICKED) not in challenges:
        st.session_state[PICKED] = next(iter(challenges))
    picked = st.selectbox(
        "Challenge", list(challenges), format_func=lambda c: challenges[c].title, key=PICKED
    )
    stored = challenges[picked]
    describe(stored)
    if stored.spec.is_open(time.time()):
        work_on(stored)
        submit_form(stored)
        stored = store.load(stored.challenge_id)  # with this run's submission
    board(stored, teacher)
    if stored.private_revealed or teacher:
        lesson(stored)
    if teacher:
        teacher_view(stored)


main()
