"""A student's hour in headless Chromium, then a reload: rate eight dramas, train the default, run every
lesson, run a sweep and train its best setting. After the reload the ratings are there, "for you" still
comes from the person's own model (not a lesson's), at least 8 of its top 10 are dramas, the Rate preview is
the list's top 5, and a second browser sees none of it. Timings of the first drawing after a reload, against a
fresh browser's, go to ``test-artifacts/workspace-timings.json``."""

from __future__ import annotations

import json
import re
import statistics
import time

import pytest
from browsing import choose_option, no_exception, settle

from dashboard import workspace
from dashboard.lessons import LESSONS
from dashboard.server import ROOT, running_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTH, HEIGHT = 1280, 900
DRAMAS = {"shawshank": 318, "schindler": 527, "godfather": 858, "cuckoo": 1193, "life is beautiful": 2324,
          "mockingbird": 1207, "good will hunting": 1704, "green mile": 3147}  # fmt: skip


def sidebar_text(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def open_page(page, url: str, heading: str) -> float:
    """Load ``url`` (a reload: a new session) and wait for its heading and the end of its script runs."""
    started = time.perf_counter()
    page.goto(url)
    page.get_by_role("heading", level=1).filter(has_text=re.compile(heading, re.IGNORECASE)).first.wait_for(
        timeout=180_000
    )
    settle(page)
    no_exception(page, url)
    return time.perf_counter() - started


def rate_dramas(page, url: str) -> None:
    open_page(page, f"{url}/rate", "Rate movies")
    search = page.get_by_label("Search by title")
    for query, item in DRAMAS.items():
        search.fill(query)
        search.press("Enter")
        settle(page)
        page.locator(f".st-key-rate_item_{item}").get_by_role("radio", name="5", exact=True).click()
        settle(page, quiet=0.3)
    assert "You rated: 8 movies" in sidebar_text(page)


def train_default(page, url: str) -> None:
    open_page(page, f"{url}/train", "Train a model")
    page.get_by_role("button", name=re.compile("^Train$")).first.click()
    page.get_by_text(re.compile("trained in .* and cached|came from the cache")).wait_for(timeout=180_000)
    settle(page)


def sweep_and_train_the_best(page, url: str) -> None:
    open_page(page, f"{url}/compare", "Compare")
    choose_option(page, ".st-key-sweep_params_wals", "reg")
    page.keyboard.press("Escape")
    settle(page)
    page.get_by_role("button", name="Run the sweep").click()
    page.get_by_text("Best by").first.wait_for(timeout=300_000)
    settle(page)
    page.get_by_role("button", name="Train the best setting").click()
    page.get_by_text(re.compile("It is kept among the sweeps' runs|it is that run")).wait_for(timeout=180_000)
    settle(page)
    no_exception(page, "sweep")


def visit(page, name: str) -> float:
    """Open a page through the sidebar, in the same session (no reload)."""
    started = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=name, exact=True).click()
    page.get_by_role("heading", level=1).filter(has_text=name).first.wait_for(timeout=180_000)
    settle(page)
    return time.perf_counter() - started


def the_list(page) -> list[str]:
    entries = [
        e for e in page.locator(".st-key-recs_list").inner_text().split("\n") if re.match(r"^\d+\. ", e)
    ]
    return [re.sub(r"^\d+\. ", "", e).split(" (")[0] for e in entries]


def in_order(titles: list[str], text: str) -> bool:
    """Whether every title is in ``text``, each after the one before."""
    places = [text.find(title) for title in titles]
    return -1 not in places and places == sorted(places)


def test_a_students_hour_survives_a_reload_and_stays_theirs(browser, tmp_path):
    with running_app(tmp_path / "home") as server:
        url = server.url
        student = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        page = student.new_page()
        fresh = [open_page(page, f"{url}/recommendations", "Recommendations") for _ in range(3)]
        rate_dramas(page, url)
        train_default(page, url)
        for lesson in LESSONS:  # each a shared link: a new session, which finds the workspace again
            open_page(page, f"{url}/lessons?lesson={lesson}", "Lessons")
            page.locator(f".st-key-lessons_evidence_{lesson}").wait_for(timeout=180_000)
            settle(page)
        sweep_and_train_the_best(page, url)

        reloads = [open_page(page, f"{url}/recommendations", "Recommendations") for _ in range(3)]
        text = sidebar_text(page)
        assert "You rated: 8 movies" in text and "Your lists: Weighted ALS · 64 factors" in text
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert "Weighted ALS · 64 factors serves your lists here and on Rate movies: your run" in main
        listed = page.locator(".st-key-recs_list").inner_text()
        assert listed.count("Drama") >= 8, listed
        top = the_list(page)
        page.screenshot(path=str(SHOTS / "workspace-after-reload.png"))
        open_page(page, f"{url}/rate", "Rate movies")
        shown = page.locator(".st-key-rate_preview").inner_text()
        assert in_order(top[:5], shown) and top[5] not in shown, (top, shown)
        visited = []
        for _ in range(3):  # the same list drawn in the same session: what a reload adds is the restore
            visited.append(visit(page, "Recommendations"))
            visit(page, "Rate movies")

        cookie = next(c for c in student.cookies() if c["name"] == workspace.COOKIE)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert (
            cookie["value"] not in page.url and cookie["value"] not in page.content()
        )  # a link carries nothing
        assert page.evaluate("() => document.cookie").find(workspace.COOKIE) == -1  # no script can read it
        stranger = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}).new_page()
        open_page(stranger, f"{url}/recommendations", "Recommendations")
        text = sidebar_text(stranger)
        assert "You rated: 0 movies" in text and "Your lists: no model yet" in text and "Your runs: 0" in text
        SHOTS.mkdir(parents=True, exist_ok=True)
        timings = {
            "fresh browser, Recommendations, no model yet (s)": fresh,
            "after the hour, Recommendations reloaded (s)": reloads,
            "after the hour, Recommendations visited in the same session (s)": visited,
            "median reloaded / visited": statistics.median(reloads) / statistics.median(visited),
        }
        (ROOT / "test-artifacts" / "workspace-timings.json").write_text(json.dumps(timings, indent=2))
