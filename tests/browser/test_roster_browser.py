"""A class roster in Chromium at a classroom projector's 1280 × 720: the teacher makes join codes and signs in
with the teacher code at another computer, a student signs in with theirs on a shared link, again on a second
computer, and signs out for the next person."""

from __future__ import annotations

import re

import pytest
from browsing import SHOTS, no_exception, settle

from dashboard.server import running_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CLASS, TEACHER = "tulip-42", "teach-99"
VIEWPORT = {"width": 1280, "height": 720}


def type_into(page, label: str, text: str) -> None:
    box = page.get_by_role("textbox", name=label)
    box.wait_for(timeout=120_000)
    box.fill(text)
    box.press("Enter")


def made_codes(page) -> dict[str, str]:
    table = page.get_by_test_id("stTable").filter(has_text="join code")
    table.wait_for(timeout=60_000)
    rows = [row.locator("td, th").all_inner_texts() for row in table.locator("tbody tr").all()]
    return {cells[-2].strip(): cells[-1].strip() for cells in rows}


def test_the_teacher_hands_out_codes_and_a_student_signs_in_anywhere(browser, tmp_path, monkeypatch):
    monkeypatch.setenv("RECENGINE_CLASS_PASSWORD", CLASS)
    monkeypatch.setenv("RECENGINE_TEACHER_PASSWORD", TEACHER)
    with running_app(tmp_path / "home") as server:
        teacher = browser.new_context(viewport=VIEWPORT).new_page()
        teacher.goto(f"{server.url}/challenge")
        type_into(teacher, "Class password", CLASS)
        teacher.get_by_text("Teacher", exact=True).click()
        type_into(teacher, "Teacher password", TEACHER)
        teacher.get_by_text("Class roster and join codes").click()
        teacher.get_by_role("textbox", name="Students to add, one name per line").fill(
            "Ada Lovelace\nAlan Turing"
        )
        teacher.get_by_role("button", name="Make join codes").click()
        codes = made_codes(teacher)
        settle(teacher)
        no_exception(teacher, "the roster")
        assert list(codes) == ["Ada Lovelace", "Alan Turing"]
        assert all(re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code) for code in codes.values())
        SHOTS.mkdir(parents=True, exist_ok=True)
        teacher.get_by_text("These codes are shown once").scroll_into_view_if_needed()
        teacher.screenshot(path=str(SHOTS / "roster-codes.png"))

        shown = teacher.get_by_text("Your teacher code:").inner_text()
        teacher_code = re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", shown).group()
        projector = browser.new_context(viewport=VIEWPORT).new_page()  # the teacher at another computer
        projector.goto(f"{server.url}/challenge")
        type_into(projector, "Your join code", TEACHER)  # the teacher password is not taken at the sign-in
        projector.get_by_text("That is not a join code").wait_for(timeout=30_000)
        type_into(projector, "Your join code", teacher_code)
        projector.get_by_text("Signed in as the teacher").wait_for(timeout=120_000)
        projector.get_by_text("Class roster and join codes").wait_for(timeout=60_000)

        lab = browser.new_context(viewport=VIEWPORT).new_page()  # a student on a shared link
        lab.goto(f"{server.url}/train?algo=sgd")
        type_into(lab, "Your join code", "tulip-42")  # the class password no longer lets anyone in
        lab.get_by_text("signs in with join codes, not the class password").wait_for(timeout=30_000)
        lab.screenshot(path=str(SHOTS / "roster-sign-in.png"))
        type_into(lab, "Your join code", codes["Ada Lovelace"].lower())
        lab.get_by_text("Signed in as Ada Lovelace").wait_for(timeout=120_000)
        settle(lab)
        no_exception(lab, "signed in")
        assert lab.url == f"{server.url}/train?algo=sgd"  # the link survived the sign-in
        lab.reload()  # a browser is not remembered (a copied cookie would become Ada): the code again
        type_into(lab, "Your join code", codes["Ada Lovelace"])
        lab.get_by_text("Signed in as Ada Lovelace").wait_for(timeout=120_000)

        laptop = browser.new_context(viewport=VIEWPORT).new_page()  # the same student, another computer
        laptop.goto(server.url)
        type_into(laptop, "Your join code", codes["Ada Lovelace"])
        laptop.get_by_text("Signed in as Ada Lovelace").wait_for(timeout=120_000)

        lab.get_by_role("button", name="Sign out").click()
        lab.get_by_role("textbox", name="Your join code").wait_for(timeout=60_000)
        lab.get_by_text("You signed out").wait_for(timeout=30_000)
        lab.reload()  # the next person needs their own code
        lab.get_by_role("textbox", name="Your join code").wait_for(timeout=60_000)
        for page in (teacher, projector, lab, laptop):
            page.context.close()
