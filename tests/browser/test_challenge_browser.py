"""A challenge in three Chromium contexts on one fresh server: the teacher signs in and opens it, two students
work on its training part, train ALS from a shared link and submit; a name that looks like a taken one is
refused with a message; each submission is on all three boards after one refresh; the students see no
settings before the reveal, and the private scores only after it."""

from __future__ import annotations

import re

import pytest
from browsing import no_exception, settle, shoot

from dashboard.server import running_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "teacher only"
WIDTH, HEIGHT = 1280, 900


def open_page(page, url: str, heading: str) -> None:
    page.goto(url)
    page.get_by_role("heading", level=1).filter(has_text=re.compile(heading)).first.wait_for(timeout=180_000)
    settle(page)
    no_exception(page, url)


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def board(page, expect: str) -> str:
    """The board's text after one click on Refresh, once ``expect`` is on it."""
    page.get_by_role("button", name="Refresh the board").click()
    found = page.locator(".st-key-challenge_board")
    found.get_by_text(expect).first.wait_for(timeout=30_000)
    settle(page)
    return found.inner_text()


def work_on_challenge(page, url: str) -> None:
    open_page(page, f"{url}/challenge", "Challenge")
    page.get_by_role("button", name="Work on this challenge").click()
    page.get_by_text("You are working on this challenge's training part").wait_for(timeout=60_000)
    settle(page)


def train_als(page, url: str, epochs: int) -> None:
    open_page(page, f"{url}/train?algo=als&n_epochs={epochs}", "Train a model")
    assert "its training part" in page.locator('[data-testid="stSidebar"]').inner_text()  # the active data
    page.get_by_role("button", name=re.compile("^Train$")).first.click()
    page.get_by_text(re.compile("trained in .* and cached|came from the cache")).wait_for(timeout=180_000)
    settle(page)


def submit(page, url: str, name: str, expect: str) -> None:
    if "/challenge" not in page.url:
        open_page(page, f"{url}/challenge", "Challenge")
    page.get_by_label("Display name on the board").fill(name)
    page.get_by_role("button", name="Submit", exact=True).click()
    page.get_by_text(expect).first.wait_for(timeout=120_000)
    settle(page)


def test_a_challenge_for_two_students_and_a_teacher(browser, tmp_path, monkeypatch):
    monkeypatch.setenv("RECENGINE_TEACHER_PASSWORD", PASSWORD)
    monkeypatch.delenv("RECENGINE_CLASS_PASSWORD", raising=False)
    with running_app(tmp_path / "home") as server:
        url = server.url
        teacher, ada, bob = (
            browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}).new_page() for _ in range(3)
        )
        open_page(teacher, f"{url}/challenge", "Challenge")
        teacher.get_by_text("Teacher", exact=True).click()
        teacher.get_by_label("Teacher password").fill(PASSWORD)
        teacher.get_by_role("button", name="Sign in").click()
        teacher.get_by_role("button", name="Open the challenge").wait_for(timeout=60_000)
        teacher.get_by_label("Title").fill("Tune ALS")
        teacher.get_by_role("button", name="Open the challenge").click()
        teacher.get_by_text(re.compile("Tune ALS.*closes")).first.wait_for(timeout=60_000)
        settle(teacher)

        work_on_challenge(ada, url)
        train_als(ada, url, 6)
        submit(ada, url, "www.ada.example", "Submitted as www.ada.example")  # in a code span
        board(teacher, "www.ada.example")  # the teacher's page was open before: one refresh shows it
        open_page(bob, f"{url}/challenge", "Challenge")
        board(bob, "www.ada.example")
        assert bob.locator(".st-key-challenge_board a").count() == 0  # a name is text, never a link (probe 6)
        work_on_challenge(bob, url)
        train_als(bob, url, 1)
        submit(bob, url, " WWW.Ada.example", "is taken in this challenge")
        submit(bob, url, "Bob", "Submitted as Bob")

        boards = {who: board(page, "Bob") for who, page in (("teacher", teacher), ("ada", ada), ("bob", bob))}
        for who, text in boards.items():
            assert text.index("www.ada.example") < text.index("Bob"), (who, text)  # 6 epochs of ALS beat 1
        for student in ("ada", "bob"):
            assert "als:" not in boards[student] and "private" not in boards[student], boards[student]
        assert "als:" in boards["teacher"] and "private RMSE" in boards["teacher"]
        assert "hidden until the teacher reveals" in main_text(bob)

        teacher.get_by_role("button", name="Reveal the settings to the class").click()
        settle(teacher)
        assert "private" not in board(bob, "als:")
        teacher.get_by_role("button", name="Reveal the private scores").click()
        settle(teacher)
        board(ada, "private RMSE")
        board(bob, "private RMSE")
        bob.get_by_text("won the public part").wait_for(timeout=60_000)  # the lesson names the winner
        links = bob.locator('[data-testid="stMain"] a').evaluate_all("found => found.map(a => a.href)")
        assert not [href for href in links if "ada.example" in href], links  # text, never a link (probe 7)
        no_exception(teacher, "teacher's view")
        shoot(teacher, "challenge-teacher")
        shoot(bob, "challenge-student")
