"""Who can reach the server: localhost by default; classroom mode behind one class password, compared in
constant time, with wrong tries limited (issue 12, point 4)."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import pytest
from outcomes import tally
from streamlit.testing.v1 import AppTest

from dashboard import classroom
from dashboard.classroom import MAX_ADDRESS_FAILURES, Attempts, matches
from dashboard.serve import address_options

ROOT = Path(__file__).resolve().parents[2]


def test_the_server_listens_on_localhost_by_default(monkeypatch):
    monkeypatch.delenv(classroom.ENV, raising=False)
    monkeypatch.delenv("STREAMLIT_SERVER_ADDRESS", raising=False)
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert address_options([]) == ["--server.address", "127.0.0.1"]
    assert address_options(["--server.port", "9000"]) == ["--server.address", "127.0.0.1"]


def test_an_uncaught_exception_shows_students_no_traceback():
    """The third re-probe: with Streamlit's default ("full"), an uncaught exception shows its message and
    traceback, with the server's paths. The config asks for its type only."""
    from streamlit import config as streamlit_config
    from streamlit.elements.exception import _error_detail_visibility

    value = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["client"]["showErrorDetails"]
    assert value == streamlit_config.ShowErrorDetailsConfigOptions.TYPE
    before = streamlit_config.get_option("client.showErrorDetails")
    try:
        streamlit_config.set_option("client.showErrorDetails", value)
        shown = _error_detail_visibility(apply_show_error_details=True)
    finally:
        streamlit_config.set_option("client.showErrorDetails", before)
    assert not shown.show_trace and not shown.show_message and shown.show_type
    tally("network", "an uncaught exception's traceback in the browser", "hidden")


def test_classroom_mode_serves_the_network_and_an_explicit_address_wins(monkeypatch, capsys):
    monkeypatch.delenv("STREAMLIT_SERVER_ADDRESS", raising=False)
    monkeypatch.setenv(classroom.ENV, "tulip-42")
    assert address_options([]) == ["--server.address", "0.0.0.0"]
    assert address_options(["--server.address=10.0.0.5"]) == []
    monkeypatch.delenv(classroom.ENV)
    assert address_options(["--server.address", "0.0.0.0"]) == []
    assert "without a class password" in capsys.readouterr().err


def test_the_password_comparison_takes_digests_of_both_sides():
    assert matches("tulip-42", "tulip-42")
    for wrong in ("", "tulip-4", "tulip-421", "TULIP-42", "tulip-42 ", "t" * 10_000, "élève"):
        assert not matches(wrong, "tulip-42")


def test_wrong_tries_are_limited_per_address_in_a_sliding_window():
    attempts = Attempts(limit=3, window=60)
    for second in range(3):
        assert attempts.wait_seconds("10.0.0.7", now=second) == 0
        attempts.failed("10.0.0.7", now=second)
    assert attempts.wait_seconds("10.0.0.7", now=10) == pytest.approx(50)
    assert attempts.wait_seconds("10.0.0.8", now=10) == 0  # another computer is not locked out
    assert attempts.wait_seconds("10.0.0.7", now=60.5) == 0  # the first failure left the window


@pytest.fixture
def gated(home, monkeypatch):
    monkeypatch.setenv(classroom.ENV, "tulip-42")
    monkeypatch.setattr(classroom, "FAILURE_DELAY_SECONDS", 0.0)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    return at


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RECENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path / "downloads"))
    import streamlit as st

    st.cache_resource.clear()


def test_no_page_runs_before_the_class_password(gated):
    assert not gated.exception
    assert [t.label for t in gated.text_input] == ["Class password"]
    assert not gated.metric and not gated.sidebar.markdown  # no page, no sidebar
    gated.text_input(key="class_password").input("wrong")
    gated.button(key="class_password_enter").click().run()
    assert any("not the class password" in e.value for e in gated.error) and not gated.metric
    gated.text_input(key="class_password").input("tulip-42")
    gated.button(key="class_password_enter").click().run()
    assert not gated.exception and gated.metric  # the Home page
    tally("network", "class password", "wrong refused, right admitted")


def test_too_many_wrong_passwords_lock_the_tab_out(gated, monkeypatch):
    for _ in range(classroom.MAX_FAILURES):
        gated.text_input(key="class_password").input("guess")
        gated.button(key="class_password_enter").click().run()
    gated.text_input(key="class_password").input("tulip-42")  # even the right one, for now
    gated.button(key="class_password_enter").click().run()
    assert any("Too many wrong passwords" in e.value for e in gated.error) and not gated.metric
    tally("network", "password guessing", "locked out after 10")


def enter(at: AppTest, password: str) -> AppTest:
    at.text_input(key="class_password").input(password)
    return at.button(key="class_password_enter").click().run()


@pytest.mark.slow
def test_a_hostile_student_cannot_lock_the_class_out(home, monkeypatch):
    """The re-probe: 60 wrong passwords from one address (a class behind one router) locked everyone behind
    it out for ten minutes. Now the hostile tabs are refused and the address is only slowed down."""
    monkeypatch.setenv(classroom.ENV, "tulip-42")
    monkeypatch.setattr(classroom, "FAILURE_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(classroom, "ADDRESS_DELAY_STEP", 0.01, raising=False)  # the test's seconds, scaled
    monkeypatch.setattr(classroom, "MAX_ADDRESS_DELAY", 0.2, raising=False)
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(classroom, "sleep", sleep, raising=False)
    tabs = MAX_ADDRESS_FAILURES // classroom.MAX_FAILURES + 1  # past the address's budget, every tab its own
    hostile = [AppTest.from_file(str(ROOT / "app.py"), default_timeout=60) for _ in range(tabs)]
    for at in hostile:
        at.run()
        for _ in range(classroom.MAX_FAILURES):
            enter(at, "guess")
    assert sum(waited) > 0  # the address's last tries took turns
    enter(hostile[0], "tulip-42")  # the hostile tab itself is refused, even with the right password
    refused = " ".join(e.value for e in hostile[0].error)
    assert "Too many wrong passwords in this browser" in refused and "try again in" in refused
    assert not hostile[0].metric
    classmate = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)  # behind the same address
    classmate.run()
    waited.clear()
    enter(classmate, "tulip-42")
    assert not classmate.error and classmate.metric  # the Home page
    assert sum(waited) <= classroom.MAX_ADDRESS_DELAY  # within one turn
    tally("network", "one student's wrong passwords", "their tabs refused, the classmate admitted")
