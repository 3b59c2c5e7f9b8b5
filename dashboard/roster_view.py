"""The teacher's class roster panel (Challenge page, teacher view): add students and hand out their join
codes, give a student a new code, take one off, or stop using the roster. See `dashboard.roster`."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import classroom, roster
from dashboard.challenge import spreadsheet_safe
from dashboard.names import in_code

MADE = "roster_made_codes"  # session_state: [(name, code)] made in this session, shown until dismissed
TEACHER_MADE = "roster_made_teacher"  # session_state: the teacher code made in this session, shown once


def show() -> None:
    with st.expander("Class roster and join codes", expanded=roster.in_use() and MADE in st.session_state):
        st.markdown(
            "With a roster, students sign in with **their own join code** instead of the class password. Each "
            "student is then one person to every limit (trainings, uploads, profiles, display names), however "
            "many tabs or computers they use, and their work follows them to any computer they sign in on. "
            "You sign in with your own teacher code (shown once, when the first codes are made) in the same field: "
            "the teacher password is not taken there while the roster is in use."
        )
        try:
            students = roster.students()
        except roster.RosterError as error:
            st.error(str(error))
            _discard_button("Discard the damaged roster")
            return
        _codes_just_made()
        _add_form(len(students))
        if students:
            _manage(students)
        if roster.in_use():
            _teacher_code()
            _discard_button("Stop using the roster")


def _codes_just_made() -> None:
    made = st.session_state.get(MADE)
    if not made:
        return
    st.warning(
        "These codes are shown once: the server keeps only a fingerprint of each. Download or print them now, "
        "and hand each student theirs.",
        icon=":material/key:",
    )
    table = pd.DataFrame(made, columns=["student", "join code"])
    st.table(table.assign(student=table["student"].map(in_code)))  # a table prints as it shows
    left, right = st.columns(2)
    left.download_button(
        "Download the codes (CSV)", spreadsheet_safe(table).to_csv(index=False).encode(),
        file_name="join-codes.csv", mime="text/csv", key="roster_codes_csv",
    )  # fmt: skip
    if right.button("I have handed them out", key="roster_codes_done"):
        del st.session_state[MADE]
        st.rerun()


def _add_form(count: int) -> None:
    with st.form("roster_add_form", clear_on_submit=True):
        typed = st.text_area(
            "Students to add, one name per line", key="roster_names", height=120,
            max_chars=roster.MAX_STUDENTS * (roster.MAX_NAME_LENGTH + 1),
            help=f"At most {roster.MAX_STUDENTS} students, {roster.MAX_NAME_LENGTH} characters a name.",
        )  # fmt: skip
        pressed = st.form_submit_button("Make join codes", type="primary", key="roster_add")
    if not pressed:
        st.caption(
            f"{count} students on the roster." if count else "No roster yet: students use the class password."
        )
        return
    try:
        made = roster.add(typed)
    except roster.RosterError as error:
        st.error(str(error))
        return
    st.session_state[MADE] = st.session_state.get(MADE, []) + [(s.name, code) for s, code in made]
    if not roster.teacher_digest():  # the first roster: the teacher's own code, to sign in with from now on
        st.session_state[TEACHER_MADE] = classroom.renew_teacher_code()
    st.rerun()


def _teacher_code() -> None:
    """The teacher's own code, shown once; a new one on request (the old one's sessions end)."""
    if code := st.session_state.get(TEACHER_MADE):
        st.info(
            f"**Your teacher code: {code}** (not in the CSV). While the roster is in use you sign in with it in "
            "the join code field; the teacher password is not taken there, so no guess typed by a student can "
            "keep you out. Note it, then hide it before this screen is projected: anyone who reads it is the "
            "teacher. Lost it? On the server run `python -m dashboard.roster teacher-code`.",
            icon=":material/badge:",
        )
        if st.button("I have noted it: hide it", key="roster_teacher_code_done", type="primary"):
            del st.session_state[TEACHER_MADE]
            st.rerun()
    if st.button("Give me a new teacher code", key="roster_teacher_code"):
        st.session_state[TEACHER_MADE] = classroom.renew_teacher_code()
        st.rerun()


def _manage(students: list[roster.Student]) -> None:
    by_id = {s.student_id: s for s in students}
    picked = st.selectbox(
        f"The roster ({len(students)} students)", list(by_id), format_func=lambda i: by_id[i].name,
        key="roster_pick", help="A new code ends the sessions signed in with the old one.",
    )  # fmt: skip
    left, right = st.columns(2)
    if left.button("Give a new code", key="roster_new_code"):
        _changed(lambda: [roster.new_code_for(picked)])
    if right.button("Take off the roster", key="roster_remove"):
        _changed(lambda: roster.remove(picked) or [])


def _changed(change) -> None:
    try:
        made = change()
    except roster.RosterError as error:
        st.error(str(error))
        return
    if made:
        st.session_state[MADE] = st.session_state.get(MADE, []) + [(s.name, code) for s, code in made]
    st.rerun()


def _discard_button(label: str) -> None:
    with st.popover(label, icon=":material/group_remove:"):
        st.markdown("Students then sign in with the class password again; their work stays on the server.")
        if st.button("Discard the roster", key="roster_discard", type="primary"):
            roster.discard()
            st.session_state.pop(MADE, None)
            st.rerun()
