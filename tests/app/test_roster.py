"""A class roster (issue 25, the sixth re-probe's open cause): per-student join codes the teacher hands out.

Behind one router people were told apart by a cookie alone, which costs one request, so one student with
minted cookies used up every per-address backstop. With a roster, sign-in names a person: every budget counts
the student, however many tabs, cookies or computers, and nothing is counted per address.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import classroom, roster, workspace

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "bundled:ml-latest-small"


# --- the roster itself ----------------------------------------------------------------------------------------


def test_a_code_is_too_many_to_guess_and_reads_without_doubt(home):
    codes = {roster.new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 14 and code.count("-") == 2
        assert not set(code) & set("IL01O")  # no letter that reads as another
    assert math.log2(len(roster.ALPHABET)) * roster.CODE_LENGTH > 58
    code = next(iter(codes))
    assert roster.normalized_code(code) == code.replace("-", "")
    assert roster.normalized_code(f"  {code.lower().replace('-', ' ')} ") == code.replace("-", "")
    assert roster.normalized_code(code[:-1]) is None  # one letter short
    assert roster.normalized_code(code.replace(code[0], "O")) is None  # O is no code letter
    assert roster.normalized_code("tulip-42") is None


def test_the_roster_keeps_no_code_and_finds_each_student_by_theirs(home):
    made = roster.add("Ada Lovelace\n\n  Alan   Turing \nGrace Hopper\n")
    assert [s.name for s, _ in made] == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    text = roster.path().read_text()
    for student, code in made:
        assert roster.find(code) == student
        assert roster.find(code.lower().replace("-", "")) == student
        assert code not in text and code.replace("-", "") not in text  # a fingerprint, never the code
    assert oct(roster.path().stat().st_mode & 0o777) == "0o600"
    assert roster.find("ABCD-EFGH-JKMN") is None
    assert len({s.student_id for s, _ in made}) == 3


def test_a_new_code_replaces_the_old_and_a_removed_student_signs_in_no_more(home):
    (ada, old), (alan, alans) = roster.add("Ada\nAlan")
    renewed, new = roster.new_code_for(ada.student_id)
    assert roster.find(old) is None and roster.find(new) == renewed
    assert roster.current(ada.student_id, ada.code_digest) is None  # sessions with the old code end
    assert roster.current(ada.student_id, renewed.code_digest) == renewed
    roster.remove(alan.student_id)
    assert roster.find(alans) is None and roster.current(alan.student_id, alan.code_digest) is None
    with pytest.raises(roster.RosterError, match="no longer on the roster"):
        roster.new_code_for(alan.student_id)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("Alice\naIice", "looks like “Alice”"),  # a capital I drawn as l
        ("Alice\nАlice", "looks like"),  # a Cyrillic А
        ("x" * 41, "longer than 40"),
        ("Bob\u200b", "invisible"),
        ("\n \n", "one per line"),
    ],
)
def test_names_that_cannot_be_told_apart_are_refused_whole(home, typed, message):
    with pytest.raises(roster.RosterError, match=message):
        roster.add(typed)
    assert roster.students() == []  # nothing half added


def test_a_roster_is_bounded(home, monkeypatch):
    monkeypatch.setattr(roster, "MAX_STUDENTS", 3)
    roster.add("A1\nA2")
    with pytest.raises(roster.RosterError, match="at most 3"):
        roster.add("A3\nA4")


def test_teachers_adding_at_once_lose_no_student(home):
    names = [f"Student {i}" for i in range(16)]
    threads = [threading.Thread(target=roster.add, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(s.name for s in roster.students()) == sorted(names)


def test_a_students_workspace_key_is_theirs_the_same_everywhere_and_not_their_code(home):
    (ada, code), (alan, _) = roster.add("Ada\nAlan")
    key = roster.workspace_key(ada.student_id)
    assert workspace.valid_key(key) and key == roster.workspace_key(ada.student_id)
    assert key != roster.workspace_key(alan.student_id) and code.replace("-", "") not in key


def test_a_damaged_roster_says_so_and_can_be_discarded(home):
    roster.add("Ada")
    roster.path().write_text('{"students": [{"id": 1}]}')
    with pytest.raises(roster.RosterError, match="damaged"):
        roster.students()
    assert roster.current("x", "y") is None
    roster.discard()
    assert not roster.in_use() and roster.students() == []


# --- signing in -------------------------------------------------------------------------------------------


@pytest.fixture
def class_server(home, monkeypatch):
    """Classroom mode with a roster of two; ``open_tab(browser_key)`` is a new session of a browser."""
    monkeypatch.setenv(classroom.ENV, "tulip-42")
    monkeypatch.setenv(classroom.TEACHER_ENV, "teach-99")
    monkeypatch.setattr(classroom, "FAILURE_DELAY_SECONDS", 0.0)
    current = {"key": None}
    monkeypatch.setattr(workspace, "browser_key", lambda: current["key"])

    def open_tab(browser_key: str | None = None) -> AppTest:
        current["key"] = browser_key
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        return at.run()

    return open_tab


def enter(at: AppTest, text: str) -> AppTest:
    at.text_input(key="class_code").input(text)
    return at.button(key="class_code_enter").click().run()


def signed_in_as(at: AppTest) -> str | None:
    shown = [t.value for t in at.sidebar.text if t.value.startswith("Signed in as ")]
    return shown[0].removeprefix("Signed in as ") if shown else None


def test_with_a_roster_a_join_code_signs_in_and_the_class_password_no_longer_does(class_server):
    (ada, code), _ = roster.add("Ada\nAlan")
    tab = class_server()
    assert [t.label for t in tab.text_input] == ["Your join code"] and not tab.metric
    enter(tab, "tulip-42")
    assert any("That is not a join code: a code has twelve" in e.value for e in tab.error) and not tab.metric
    enter(tab, "ABCD-EFGH-JKMN")
    assert any("not a join code on this class's roster" in e.value for e in tab.error) and not tab.metric
    enter(tab, code.lower())
    assert not tab.exception and tab.metric and signed_in_as(tab) == "Ada"
    assert tab.session_state[workspace.KEY] == roster.workspace_key(ada.student_id)


def test_a_students_work_follows_them_to_another_computer_and_no_one_elses(class_server):
    (_, ada_code), (_, alan_code) = roster.add("Ada\nAlan")
    lab_pc = enter(class_server(secrets.token_urlsafe(32)), ada_code)
    lab_pc.session_state["my_ratings"] = {SOURCE: {318: 5.0, 858: 4.5}}
    lab_pc.run()  # the run's end writes the workspace
    laptop = enter(class_server(secrets.token_urlsafe(32)), ada_code)
    assert laptop.session_state["my_ratings"] == {SOURCE: {318: 5.0, 858: 4.5}}
    neighbour = enter(class_server(secrets.token_urlsafe(32)), alan_code)
    assert not neighbour.session_state["my_ratings"].get(SOURCE)


def test_a_browser_is_not_remembered_so_a_copied_cookie_becomes_nobody(class_server):
    """Probe 7b: Mallory copied a lab browser's cookie before Ada signed in there; as the browser was
    remembered, Mallory's own computer then came in as Ada with no code. A reload or a new tab signs in again,
    and the work comes back with the code."""
    (_, code), _ = roster.add("Ada\nAlan")
    lab_browser = secrets.token_urlsafe(32)  # Mallory read this cookie off the lab computer beforehand
    ada = enter(class_server(lab_browser), code)
    ada.session_state["my_ratings"] = {SOURCE: {318: 5.0}}
    ada.run()
    mallory = class_server(lab_browser)
    assert not mallory.metric and [t.label for t in mallory.text_input] == ["Your join code"]
    reload = enter(class_server(lab_browser), code)  # Ada's own reload: the code, then all her work
    assert signed_in_as(reload) == "Ada" and reload.session_state["my_ratings"] == {SOURCE: {318: 5.0}}
    reload.button(key="side_sign_out").click().run()
    assert [t.label for t in reload.text_input] == ["Your join code"] and not reload.metric
    assert any("signed out" in i.value for i in reload.info)


def test_a_new_code_ends_the_sessions_signed_in_with_the_old_one(class_server):
    (ada, code), _ = roster.add("Ada\nAlan")
    browser = secrets.token_urlsafe(32)
    tab = enter(class_server(browser), code)
    roster.new_code_for(ada.student_id)  # Ada's code was seen by someone else
    tab.run()
    assert not tab.metric and any("your code changed" in i.value for i in tab.info)
    assert [t.label for t in class_server(browser).text_input] == ["Your join code"]


def test_a_flood_of_wrong_codes_from_one_router_never_delays_a_classmates_right_code(
    class_server, monkeypatch
):
    """The sixth re-probe: wrong class passwords from many cookieless tabs made every try from the address
    wait its turn, then refused them unchecked. Codes cannot be guessed, so only each tab is slowed."""
    (_, code), _ = roster.add("Ada\nAlan")
    slept: list[float] = []
    monkeypatch.setattr(classroom, "sleep", slept.append)
    for _ in range(8):  # tabs without a cookie, as many as the attacker likes
        tab = class_server()
        for _ in range(classroom.MAX_FAILURES + 2):
            enter(tab, roster.new_code())
        assert any("Too many wrong join codes" in e.value for e in tab.error)
    slept.clear()
    classmate = enter(class_server(secrets.token_urlsafe(32)), code)
    assert classmate.metric and signed_in_as(classmate) == "Ada" and slept == []


def test_the_teacher_signs_in_with_the_teacher_code_and_sees_the_roster(class_server):
    roster.add("Ada")
    code = roster.new_teacher_code()
    browser = secrets.token_urlsafe(32)
    tab = enter(class_server(browser), "teach-99")  # the teacher password is not taken under a roster
    assert not tab.metric and any("That is not a join code" in e.value for e in tab.error)
    enter(tab, code)
    assert tab.metric and tab.session_state[classroom.TEACHER] and signed_in_as(tab) == "the teacher"
    tab.switch_page("pages/challenge.py").run()
    assert not tab.exception and any(e.label == "Class roster and join codes" for e in tab.expander)
    roster.new_teacher_code()  # the old one was seen: its sessions end
    tab.run()
    assert not tab.metric and [t.label for t in tab.text_input] == ["Your join code"]
    refused = enter(class_server(browser), code)  # the old code no longer signs anyone in
    assert not refused.metric and any(
        "not a join code on this class's roster" in e.value for e in refused.error
    )


def test_a_flood_of_guesses_from_one_router_never_keeps_the_teacher_out(class_server, monkeypatch):
    """Probe 7b: wrong "teacher passwords" typed in the join code field from cookieless tabs kept the
    router's address refused, the teacher included. The field no longer takes the teacher password, and
    nothing typed in it is counted per address."""
    roster.add("Ada")
    code = roster.new_teacher_code()
    slept: list[float] = []
    monkeypatch.setattr(classroom, "sleep", slept.append)
    for _ in range(6):
        tab = class_server()
        for guess in ("teach-98", "not-the-teacher-password", "teach-99", roster.new_code()):
            enter(tab, guess)
    assert not any(tab.session_state.get(classroom.TEACHER) for tab in [tab])
    slept.clear()
    teacher = enter(class_server(secrets.token_urlsafe(32)), code)
    assert teacher.metric and signed_in_as(teacher) == "the teacher" and slept == []
    teacher.switch_page("pages/challenge.py").run()
    assert not [t for t in teacher.text_input if t.key == "challenge_teacher_password"]  # no second way in


def test_sign_out_in_one_tab_signs_out_every_tab_of_the_browser(class_server):
    """Probe 7b: the next person at a shared computer found the student's other tab still signed in."""
    (_, code), _ = roster.add("Ada\nAlan")
    browser = secrets.token_urlsafe(32)
    first = enter(class_server(browser), code)
    second = enter(class_server(browser), code)  # another tab of the same browser
    assert signed_in_as(second) == "Ada"
    first.button(key="side_sign_out").click().run()
    second.run()
    assert not second.metric and [t.label for t in second.text_input] == ["Your join code"]
    assert any("this browser signed out in another tab" in i.value for i in second.info)


def test_a_replaced_codes_open_tab_loses_the_upload_gate_and_its_files(class_server, monkeypatch):
    """Probe 7b: after "Give a new code" the old code's open tab, never run again, kept uploading (counted as
    the student) through the HTTP gate, which asked only whether the session had ever signed in."""
    (ada, code), _ = roster.add("Ada\nAlan")
    sessions: list[str] = []
    monkeypatch.setattr(classroom, "_session_id", lambda: sessions[-1])
    forgotten: list[str] = []
    monkeypatch.setattr(classroom, "forget_session", forgotten.append)
    sessions.append("mallory-tab")
    enter(class_server(secrets.token_urlsafe(32)), code)
    assert classroom.session_admitted("mallory-tab")
    roster.new_code_for(ada.student_id)
    assert not classroom.session_admitted("mallory-tab") and forgotten == ["mallory-tab"]


def test_forgetting_a_session_frees_its_uploaded_files(monkeypatch):
    removed: list[str] = []

    class Manager:
        def remove_session_files(self, session_id: str) -> None:
            removed.append(session_id)

    from streamlit.runtime import Runtime

    monkeypatch.setattr(Runtime, "exists", staticmethod(lambda: True))
    monkeypatch.setattr(
        Runtime, "instance", staticmethod(lambda: type("R", (), {"uploaded_file_mgr": Manager()}))
    )
    classroom._admitted_sessions["gone"] = None
    classroom.forget_session("gone")
    assert "gone" not in classroom._admitted_sessions and removed == ["gone"]


def test_every_budget_counts_the_student_not_the_address(class_server, monkeypatch):
    """One new workspace an hour per address: without a roster the second browser behind the router is
    not kept; with one, each student is."""
    monkeypatch.setenv(workspace.NEW_PER_ADDRESS_ENV, "1")
    (_, ada_code), (_, alan_code) = roster.add("Ada\nAlan")
    for code in (ada_code, alan_code):
        tab = enter(class_server(secrets.token_urlsafe(32)), code)
        tab.session_state["my_ratings"] = {SOURCE: {318: 5.0}}
        tab.run()
        assert workspace.NOT_KEPT not in tab.session_state
    assert len(list((Path(workspace.config.home()) / "workspaces").glob("*.json"))) == 2


def test_without_a_roster_the_address_is_still_counted(class_server, monkeypatch):
    monkeypatch.setenv(workspace.NEW_PER_ADDRESS_ENV, "1")
    refused = []
    for _ in range(2):
        tab = class_server(secrets.token_urlsafe(32))
        tab.text_input(key="class_password").input("tulip-42")
        tab.button(key="class_password_enter").click().run()
        tab.session_state["my_ratings"] = {SOURCE: {318: 5.0}}
        tab.run()
        refused.append(workspace.NOT_KEPT in tab.session_state)
    assert refused == [False, True]


# --- the teacher's panel ------------------------------------------------------------------------------------


@pytest.fixture
def teacher(class_server):
    tab = class_server(secrets.token_urlsafe(32))
    tab.text_input(key="class_password").input("tulip-42")
    tab.button(key="class_password_enter").click().run()
    tab.switch_page("pages/challenge.py").run()
    tab.text_input(key="challenge_teacher_password").input("teach-99")
    tab.button(key="challenge_teacher_enter").click().run()
    assert not tab.exception
    return tab


def shown_codes(tab: AppTest) -> dict[str, str]:
    """The codes table's rows: student (as drawn, a code span) to code."""
    frames = [t.value for t in tab.table if "join code" in t.value.columns]
    rows = zip(frames[0]["student"], frames[0]["join code"], strict=True) if frames else []
    return {student.strip("`"): code for student, code in rows}


def test_the_teacher_makes_codes_sees_them_once_and_students_sign_in_with_them(teacher, class_server):
    teacher.text_area(key="roster_names").input("Ada\nAlan\n=HYPERLINK(1)")
    teacher.button(key="roster_add").click().run()
    codes = shown_codes(teacher)
    assert list(codes) == ["Ada", "Alan", "=HYPERLINK(1)"]
    csv = teacher.get("download_button")[0]
    assert csv.proto.label == "Download the codes (CSV)"
    teacher.button(key="roster_codes_done").click().run()
    assert shown_codes(teacher) == {} and teacher.session_state[classroom.TEACHER]  # the teacher stays in
    student = enter(class_server(secrets.token_urlsafe(32)), codes["Alan"])
    assert signed_in_as(student) == "Alan"
    stored = json.loads(roster.path().read_text())
    assert codes["Alan"] not in json.dumps(stored)


def test_the_teacher_gives_a_new_code_and_takes_a_student_off(teacher, class_server):
    (ada, old), (alan, alans) = roster.add("Ada\nAlan")
    teacher.run()
    teacher.selectbox(key="roster_pick").set_value(ada.student_id)
    teacher.button(key="roster_new_code").click().run()
    new = shown_codes(teacher)["Ada"]
    assert roster.find(old) is None and roster.find(new).name == "Ada"
    teacher.selectbox(key="roster_pick").set_value(alan.student_id)
    teacher.button(key="roster_remove").click().run()
    assert [s.name for s in roster.students()] == ["Ada"]
    assert any("not a join code" in e.value for e in enter(class_server(), alans).error)
    teacher.button(key="roster_discard").click().run()
    assert not roster.in_use()
    assert [t.label for t in class_server().text_input] == ["Class password"]


def test_a_teacher_who_lost_their_code_gets_a_new_one_on_the_server(home, capsys):
    with pytest.raises(SystemExit) as refused:
        roster.main(["teacher-code"])
    assert refused.value.code == 2 and "no class roster" in capsys.readouterr().err
    roster.add("Ada")
    old = roster.new_teacher_code()
    roster.main(["teacher-code"])
    new = capsys.readouterr().out.split("code: ")[1].split(" ")[0]
    assert roster.is_teacher_code(new) and not roster.is_teacher_code(old)
    assert roster.find(new) is None  # a teacher code is no student's
    roster.main(["discard"])
    assert not roster.in_use()


def test_a_replaced_codes_open_tab_changes_nothing_through_a_fragment(class_server):
    """Probe 7b: clicks inside a fragment (the Rate page's film list) never reach app.py's sign-in check, so
    the old code's open tab kept rating in the student's name after "Give a new code"."""
    (ada, code), _ = roster.add("Ada\nAlan")
    tab = enter(class_server(secrets.token_urlsafe(32)), code)
    tab.switch_page("pages/rate.py").run()
    saved = workspace.read_text(roster.workspace_key(ada.student_id))
    roster.new_code_for(ada.student_id)
    film = next(w for w in tab.button_group if w.key and w.key.startswith("rate_item_"))
    film.set_value(5.0).run()
    assert workspace.read_text(roster.workspace_key(ada.student_id)) == saved  # nothing written as Ada
    assert not tab.metric and [t.label for t in tab.text_input] == ["Your join code"]


def test_the_watchdog_cancels_the_trainings_of_a_session_let_go(monkeypatch):
    from dashboard import jobs

    cancelled: list[str] = []
    job = type("Job", (), {"session_id": "kicked", "running_since": None, "cancelled_at": None,
                           "cancel": lambda self, why, keep=False: cancelled.append(why)})()  # fmt: skip
    scheduler = type("S", (), {"sessions_with_endings": lambda self: set()})()
    monkeypatch.setattr(jobs, "in_class_mode", lambda: True)
    monkeypatch.setattr(jobs, "session_alive", lambda session: True)
    monkeypatch.setattr(classroom, "let_go", lambda session: session == "kicked")
    jobs._look_at([job], {}, 0.0, scheduler)
    assert cancelled == ["its session was signed out (a new join code, or Sign out)"]


def test_the_teacher_recovery_runs_as_a_module(home):
    """Probe 7c: `python -m dashboard.roster teacher-code` ended in a NameError (main ran before the
    module's end)."""
    import os
    import subprocess
    import sys

    roster.add("Ada")
    run = subprocess.run(
        [sys.executable, "-m", "dashboard.roster", "teacher-code"], capture_output=True, text=True, timeout=120,
        env=os.environ | {"PYTHONPATH": str(ROOT)}, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert roster.is_teacher_code(run.stdout.split("code: ")[1].split(" ")[0])


def test_tabs_in_by_the_class_password_before_the_roster_are_signed_out_by_it(class_server):
    """Probe 7c: they stayed admitted to the upload gate and their fragments ran as nobody on the roster."""
    tab = class_server(secrets.token_urlsafe(32))
    tab.text_input(key="class_password").input("tulip-42")
    tab.button(key="class_password_enter").click().run()
    assert tab.metric
    roster.add("Ada")  # the teacher makes a roster
    tab.run()
    assert not tab.metric and [t.label for t in tab.text_input] == ["Your join code"]
    assert any("signs in with a join code each" in i.value for i in tab.info)


def test_the_code_field_is_no_oracle_for_the_class_password_and_reads_a_bounded_text(
    class_server, monkeypatch
):
    """Probe 7c: the field answered the class password apart from wrong ones, unthrottled; and it normalised
    a 15 MB text (1 s of CPU) before refusing it."""
    roster.add("Ada")
    tab = class_server()
    answers = [enter(tab, typed).error[0].value for typed in ("tulip-42", "tulip-43")]
    assert answers[0] == answers[1]
    assert tab.text_input(key="class_code").max_chars == classroom.MAX_CODE_TYPED
    called: list[str] = []
    monkeypatch.setattr(roster, "normalized_code", lambda text: called.append(text))
    refused = classroom._code_sign_in("A" * 15_000_000, None)  # what a hand-made websocket message may send
    assert called == [] and refused is not None and "not a join code" in refused


def test_a_flood_of_sign_outs_never_brings_a_tab_back():
    """Probe 7c: past 20,000 browsers the oldest sign-out was forgotten, and a tab left open in that browser
    was signed in again."""
    sign_outs = classroom.SignOuts()
    sign_outs.KEPT = 3
    sign_outs.add("lab-pc", now=10.0)
    for number in range(5):  # fresh cookies, signing out
        sign_outs.add(f"mallory-{number}", now=11.0 + number)
    assert sign_outs.since("lab-pc", signed_in_at=5.0)  # the tab that signed in before is still out
    assert not sign_outs.since("lab-pc", signed_in_at=20.0)  # a sign-in after them stays in


def test_the_watchdog_stops_a_class_training_running_four_times_its_estimate(monkeypatch):
    """A setting the cost model priced too low could hold a trainer up to the 15-minute backstop (probe 9's
    worst was 1.44 times its estimate). A class job now stops at four times its estimate (at least a
    minute); one without an estimate does not."""
    from dashboard import jobs

    cancelled: list[tuple[str, str]] = []

    def job(name: str, estimated: float, running_for: float):
        return type("Job", (), {"session_id": name, "running_since": 1_000.0 - running_for, "cancelled_at": None,
                                "estimated_seconds": estimated,
                                "cancel": lambda self, why, keep=False: cancelled.append((name, why))})()  # fmt: skip

    scheduler = type("S", (), {"sessions_with_endings": lambda self: set()})()
    monkeypatch.setattr(jobs, "in_class_mode", lambda: True)
    monkeypatch.setattr(jobs, "session_alive", lambda session: True)
    monkeypatch.setattr(classroom, "let_go", lambda session: False)
    running = [
        job("priced-47", 47.0, 4 * 47.0 + 1), job("priced-47-ok", 47.0, 4 * 47.0 - 1),
        job("priced-2", 2.4, 59.0), job("priced-2-long", 2.4, 61.0), job("unpriced", 0.0, 600.0),
    ]  # fmt: skip
    jobs._look_at(running, {}, 1_000.0, scheduler)
    assert [name for name, _ in cancelled] == ["priced-47", "priced-2-long"]
    assert "4 times longer than its estimated 47 seconds" in cancelled[0][1]
