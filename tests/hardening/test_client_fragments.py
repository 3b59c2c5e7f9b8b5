"""The headless client (`dashboard.client.Session`) sees fragment reruns as a browser does: a widget of a
fragment reruns that fragment alone, a callback's rerun of named fragments leaves the rest of the page in
place, and values of widgets no longer drawn are not sent again."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

from dashboard.client import Session
from dashboard.server import free_port

APP = textwrap.dedent(
    """
    import streamlit as st

    st.session_state.setdefault("count", 0)
    st.session_state.setdefault("whole_runs", 0)
    st.session_state.whole_runs += 1


    @st.fragment(key="counter")
    def counter():
        st.markdown(f"count {st.session_state.count}")
        if st.button("Ten more", key="ten"):
            st.session_state.count += 10
            st.markdown(f"now {st.session_state.count}")


    def one_more():
        st.session_state.count += 1
        st.rerun(["counter", "side"])


    st.markdown(f"whole runs {st.session_state.whole_runs}")
    st.button("One more", key="one", on_click=one_more)
    if not st.session_state.get("hide"):
        st.checkbox("Hide me", key="hide")
    counter()
    with st.sidebar:
        st.fragment(lambda: st.markdown(f"side {st.session_state.count}"), key="side")()
    """
)


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    script = tmp_path_factory.mktemp("app") / "app.py"
    script.write_text(APP)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{address}/_stcore/health", timeout=1) as answer:
                    if answer.read().strip() == b"ok":
                        break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.1)
        yield address
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow
def test_fragment_reruns_keep_the_rest_of_the_page(url):
    with Session(url, timeout=30) as session:
        session.run()
        assert session.texts("markdown") == ["whole runs 1", "count 0", "side 0"]
        session.click("one")  # a callback reruns the two fragments it names, not the app
        assert session.texts("markdown") == ["whole runs 1", "count 1", "side 1"]
        assert session.keys() == ["one", "hide", "ten"]
        session.click("ten")  # a widget of a fragment reruns that fragment alone
        assert session.texts("markdown") == ["whole runs 1", "count 1", "now 11", "side 1"]
        session.run()
        assert session.texts("markdown") == ["whole runs 2", "count 11", "side 11"]


@pytest.mark.slow
def test_values_of_widgets_no_longer_drawn_are_not_sent_again(url):
    with Session(url, timeout=30) as session:
        session.run()
        session.set("hide", True)
        assert "hide" not in session.keys("hide")
        session.run()  # a browser forgets the value of a widget the page no longer shows, and so does Streamlit
        assert "hide" in session.keys("hide") and session.texts("markdown")[0] == "whole runs 3"
