"""`dashboard.upload_box.read_once`: an upload box's file is read on the run it arrives and leaves the
server's memory at once; later runs get what reading it gave (or the same error) while the box still shows
it, and nothing once it is removed. The final re-probe's medium (probe7d): a few tabs showing large files held the
upload memory of everyone behind the same router for as long as the tabs stayed open."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def box_script() -> None:
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.runtime.uploaded_file_manager import DeletedFile

    from dashboard.upload_box import read_once

    context = get_script_run_ctx()

    def read(file) -> str:
        st.session_state["reads"] = st.session_state.get("reads", 0) + 1
        text = file.getvalue().decode()
        if text == "bad":
            raise ValueError("the file says bad")
        return text.upper()

    if freed := st.session_state.get("freed"):  # a later run, as a real server has it: the box shows a file
        st.session_state["box"] = DeletedFile(freed)  # no longer held (AppTest sends its files every run)
        file = None
    else:
        file = st.file_uploader("A file", key="box")
    kept = read_once("box", file, read)
    held = context.uploaded_file_mgr.get_files(context.session_id, [file.file_id] if file else [])
    st.session_state["held"] = len(held)
    st.session_state["file_id"] = file.file_id if file else st.session_state.get("file_id")
    if kept is not None:
        try:
            st.session_state["shown"] = f"{kept.name}: {kept.result()}"
        except Exception as error:
            st.session_state["shown"] = f"{kept.name}: refused, {error}"
    else:
        st.session_state["shown"] = "nothing"


def test_a_file_is_read_once_freed_at_once_and_kept_while_the_box_shows_it():
    at = AppTest.from_function(box_script, default_timeout=30).run()
    assert at.session_state["shown"] == "nothing"
    at.file_uploader(key="box").upload("r.csv", b"hello", "text/csv").run()
    assert at.session_state["shown"] == "r.csv: HELLO" and at.session_state["reads"] == 1
    assert at.session_state["held"] == 0  # freed on the run it arrived
    at.session_state["freed"] = at.session_state["file_id"]
    at.run()  # the box still shows the file, which the server no longer holds
    assert at.session_state["shown"] == "r.csv: HELLO" and at.session_state["reads"] == 1
    at.session_state["freed"] = None
    at.run().file_uploader(key="box").set_value(None).run()
    assert at.session_state["shown"] == "nothing"


def test_a_new_file_is_read_again_and_an_error_is_raised_again_on_later_runs():
    at = AppTest.from_function(box_script, default_timeout=30).run()
    at.file_uploader(key="box").upload("a.csv", b"bad", "text/csv").run()
    assert at.session_state["shown"] == "a.csv: refused, the file says bad"
    at.session_state["freed"] = at.session_state["file_id"]
    at.run()
    assert at.session_state["shown"] == "a.csv: refused, the file says bad" and at.session_state["reads"] == 1
    at.session_state["freed"] = None
    at.run().file_uploader(key="box").upload("b.csv", b"fine", "text/csv").run()
    assert at.session_state["shown"] == "b.csv: FINE" and at.session_state["reads"] == 2


def test_a_file_freed_before_any_run_read_it_says_to_upload_it_again():
    """The gate frees a file no box read in time (a busy server): the box still shows it, and the page says
    so rather than nothing."""
    at = AppTest.from_function(box_script, default_timeout=30).run()
    at.session_state["freed"] = "a file no run read"
    at.run()
    assert "left the server's memory before this page could read it" in at.session_state["shown"]
    assert "reads" not in at.session_state
