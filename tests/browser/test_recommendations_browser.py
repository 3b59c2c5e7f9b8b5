"""In headless Chromium at a projector's 1280 × 720: on the Recommendations page each film's reason takes one
line (the whole explanation is its tooltip), and every column of "More like this" shows without scrolling
sideways, as a grid and in presentation mode. Writes the README's screenshots
(``docs/screenshots/recommendations.png``, ``present-recommendations.png``)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from browsing import choose_option, no_exception, settle, sync_api

from dashboard.server import CHROMIUM, CHROMIUM_ARGS, ROOT, running_app

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 1280, 720
# Each film's reason (the text after the line break) and the lines it takes, its tooltip's mark counted too.
REASON_LINES = """() => [...document.querySelectorAll('.st-key-recs_list [data-testid="stMarkdownContainer"] p')]
    .map((p) => {
        const icon = p.querySelector('[data-testid="stTooltipIcon"]');
        const range = document.createRange();
        range.setStartAfter(p.querySelector('br'));
        range.setEndBefore(p.lastElementChild);  // the tooltip's mark
        const lines = [...range.getClientRects()].filter((r) => r.width > 1);
        const mark = icon.getBoundingClientRect();
        const middle = (mark.top + mark.bottom) / 2;
        const beside = lines.some((r) => r.top <= middle && middle <= r.bottom);
        return [range.toString().trim(), new Set(lines.map((r) => Math.round(r.top))).size + (beside ? 0 : 1)];
    })"""
GRID_OVERFLOW = """(selector) => [...document.querySelectorAll(selector + ' .dvn-scroller')]
    .map((scroller) => scroller.scrollWidth - scroller.clientWidth)"""


@pytest.fixture(scope="module")
def opened(tmp_path_factory):
    assert CHROMIUM.exists()
    with running_app(tmp_path_factory.mktemp("recs") / "home") as server, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.set_default_timeout(120_000)
        page.goto(f"{server.url}/rate")
        page.get_by_role("heading", name="Rate movies").wait_for()
        settle(page)
        rows = page.locator('[class*="st-key-rate_item_"]')
        for index, stars in enumerate(("5", "4½", "5", "4", "3½")):
            rows.nth(index).get_by_role("radio", name=stars, exact=True).click()
            settle(page, quiet=0.3)
        page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="Recommendations").click()
        page.get_by_role("button", name="Train the default ranking model").click()
        page.get_by_text("Your list comes from your 5 ratings", exact=False).wait_for(timeout=180_000)
        settle(page)
        yield SimpleNamespace(page=page, url=server.url)
        browser.close()


def whole_page(page, name: str) -> None:
    """The whole page at 1280 px wide: the app scrolls inside its main block, so the window grows first."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": min(int(height), 6000)})
    time.sleep(0.5)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})


def choose_a_film(page, title: str) -> None:
    choose_option(page, ".st-key-recs_like", title, typed=title, exact=False)
    page.locator(".st-key-recs_similar").wait_for()
    settle(page)


def test_each_reason_takes_one_line_with_the_details_on_demand(opened):
    page = opened.page
    no_exception(page, "Recommendations")
    lines = page.evaluate(REASON_LINES)
    assert len(lines) == 10
    assert all(count == 1 for _, count in lines), lines
    assert sum("Because you rated" in reason for reason, _ in lines) >= 5, lines
    whole_page(page, "recommendations")
    page.locator(".st-key-recs_list [data-testid='stTooltipIcon']").first.hover()
    tip = page.locator("[data-testid='stTooltipContent']").first
    tip.wait_for()
    assert "★" in tip.inner_text() and "score" in tip.inner_text()  # the stars and numbers, on demand


def test_more_like_this_shows_every_column_at_1280_px(opened):
    page = opened.page
    choose_a_film(page, "Toy Story (1995)")
    no_exception(page, "More like this")
    page.locator(".st-key-recs_similar").scroll_into_view_if_needed()
    time.sleep(0.5)
    overflow = page.evaluate(GRID_OVERFLOW, ".st-key-recs_similar")
    assert overflow and max(overflow) <= 0, f"the grid scrolls {overflow} px sideways"


def test_more_like_this_in_presentation_mode(opened):
    page = opened.page
    page.goto(f"{opened.url}/recommendations?present=1")
    page.locator(".st-key-recs_list").wait_for()
    settle(page)
    assert not page.locator("[data-testid='stSidebar']").is_visible()
    lines = page.evaluate(REASON_LINES)
    assert len(lines) == 10 and all(count == 1 for _, count in lines), lines
    page.locator("[data-testid='stToast']").wait_for(state="detached", timeout=30_000)  # "Welcome back"
    page.screenshot(path=str(SHOTS / "present-recommendations.png"))
    choose_a_film(page, "Toy Story (1995)")
    table = page.locator(".st-key-recs_similar [data-testid='stTable']")
    table.scroll_into_view_if_needed()
    time.sleep(0.5)
    box = table.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, box
    cells = page.locator(".st-key-recs_similar th").all_inner_texts()
    assert cells[-4:] == ["match", "same people", "same genres", "ratings"], cells
    sizes = page.evaluate(
        "() => [...document.querySelectorAll('.st-key-recs_similar td')]"
        ".map((cell) => parseFloat(getComputedStyle(cell).fontSize))"
    )
    assert min(sizes) >= 18, sizes
    page.screenshot(path=str(SHOTS / "present-more-like-this.png"))
