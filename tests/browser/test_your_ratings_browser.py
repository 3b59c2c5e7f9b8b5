"""Your ratings' table on Rate movies in headless Chromium: rate three films, change one rating in its cell,
remove another with the table's bin; the sidebar, the list of films and the table show it, and a reload (the
workspace kept on the server under the browser's cookie) brings the same ratings back."""

from __future__ import annotations

import time

import pytest
from browsing import no_exception, open_at, settle

from dashboard.server import running_app

pytestmark = pytest.mark.browser
ROW = 35  # the height of the table's header and of each of its rows, in pixels


def table_rows(page) -> list[tuple[str, float]]:
    """The table's rows, newest first: (title, rating). Its cells are drawn on a canvas; the grid mirrors
    them, as raw values, in an accessible table, filled in once it is drawn."""
    rows = page.locator(".st-key-rate_mine [role='row']:has([role='gridcell'])")
    cells = [rows.nth(i).locator("[role='gridcell']") for i in range(rows.count())]
    return [(row.nth(0).text_content(), float(row.nth(1).text_content())) for row in cells]


def shown_ratings(page, expected: list[float], timeout: float = 10) -> list[tuple[str, float]]:
    """The table's rows once its ratings are ``expected`` (it fails with what it shows after ``timeout``)."""
    page.locator(".st-key-rate_mine").scroll_into_view_if_needed()
    deadline = time.monotonic() + timeout
    rows = table_rows(page)
    while [rating for _, rating in rows] != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = table_rows(page)
    assert [rating for _, rating in rows] == expected, rows
    return rows


def test_a_rating_is_changed_in_its_cell_and_removed_with_its_row(browser, tmp_path):
    with running_app(tmp_path / "home") as server:
        page = open_at(browser, f"{server.url}/rate", "Rate movies")
        films = page.locator('[class*="st-key-rate_item_"]')
        for index, stars in enumerate(("5", "4½", "4")):
            films.nth(index).get_by_role("radio", name=stars, exact=True).click()
            settle(page, quiet=0.3)
        sidebar = page.locator('[data-testid="stSidebar"]')
        assert "You rated: 3 movies" in sidebar.inner_text()
        shown_ratings(page, [4.0, 4.5, 5.0])

        grid = page.locator(".st-key-rate_mine [data-testid='stDataFrameResizable']")
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        page.mouse.dblclick(box["x"] + box["width"] - 40, box["y"] + ROW * 1.5)  # the newest's rating
        page.get_by_role("option", name="2½ ★", exact=True).click()
        settle(page)
        no_exception(page, "a rating changed in the table")
        shown_ratings(page, [2.5, 4.5, 5.0])
        assert (
            films.nth(2).get_by_role("radio", name="2½", exact=True).get_attribute("aria-checked") == "true"
        )

        box = grid.bounding_box()
        page.mouse.click(box["x"] + 15, box["y"] + ROW * 2.5)  # the second row's check box
        page.locator(".st-key-rate_mine").get_by_role("button", name="Delete row(s)").click()
        settle(page)
        no_exception(page, "a row removed from the table")
        assert "You rated: 2 movies" in sidebar.inner_text()
        kept = shown_ratings(page, [2.5, 5.0])
        assert (
            films.nth(1).get_by_role("radio", name="4½", exact=True).get_attribute("aria-checked") == "false"
        )

        page.reload()  # a new session, the same cookie: the workspace saved after each change comes back
        page.get_by_role("heading", name="Rate movies").wait_for(timeout=60_000)
        settle(page)
        assert "You rated: 2 movies" in sidebar.inner_text()
        assert shown_ratings(page, [2.5, 5.0]) == kept
        page.close()
