"""In headless Chromium: the Embeddings page's map the class can steer. Moving your point with a slider
changes your top 10 on the screen within half a second (median, timed from the key press to the new list
drawn); clicking a film on the map lists its neighbours and draws them. The page in presentation mode at
1280 × 720 is the README's screenshot (``docs/screenshots/present-embeddings.png``)."""

from __future__ import annotations

import os
import statistics
import time

import pytest
from browsing import no_exception, settle, sync_api

from dashboard.server import CHROMIUM, CHROMIUM_ARGS, ROOT, running_app

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"
MOVES = 9
LIST = ".st-key-embed_steered_list"
PIXEL_OF_A_FILM = """(plot) => {
    const layout = plot._fullLayout;
    const trace = plot._fullData.find((t) => t.name !== 'other' && t.customdata) || plot._fullData[0];
    const at = Math.floor(trace.x.length / 2);
    return [layout.xaxis.l2p(trace.x[at]) + layout._size.l, layout.yaxis.l2p(trace.y[at]) + layout._size.t];
}"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    assert CHROMIUM.exists()
    with running_app(tmp_path_factory.mktemp("steer") / "home") as server, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(f"{server.url}/recommendations")
        page.get_by_role("button", name="Train the default ranking model").click()
        time.sleep(1)
        settle(page, timeout=180)  # trained (a few seconds)
        page.locator("[data-testid='stSidebarNav']").get_by_role(
            "link", name="Embeddings"
        ).click()  # same session
        page.locator(LIST).wait_for(timeout=120_000)
        settle(page)
        yield page
        browser.close()


def list_text(page) -> str:
    return page.locator(LIST).inner_text()


def test_moving_your_point_redraws_your_top_10_within_half_a_second(page):
    no_exception(page, "Embeddings")
    thumb = page.locator(".st-key-embed_steer_x input[type='range']")
    seconds = []
    for move in range(MOVES):
        before = list_text(page)
        thumb.focus()
        began = time.perf_counter()
        thumb.press("ArrowRight" if move % 2 == 0 else "ArrowLeft")  # one step: 0.05 map units
        page.wait_for_function(
            "([selector, before]) => document.querySelector(selector)?.innerText !== before",
            arg=[LIST, before],
            timeout=10_000,
        )
        seconds.append(time.perf_counter() - began)
        settle(page, quiet=0.3)
    median, load = statistics.median(seconds), os.getloadavg()[0]
    print(f"key press to a new top 10 on the screen: median {median:.3f} s, all {[round(s, 3) for s in seconds]}, "
          f"load average {load:.1f} on {os.cpu_count()} cores")  # fmt: skip
    quiet = load < (
        os.cpu_count() or 1
    )  # the target is for a quiet machine; a busy one gets four times as long
    assert median <= (0.5 if quiet else 2.0), seconds


def test_clicking_a_film_draws_and_lists_its_neighbours(page):
    plot = page.locator(".st-key-embed_map .js-plotly-plot")
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    x, y = plot.evaluate(PIXEL_OF_A_FILM)  # thousands of points: WebGL, no element per point to click
    page.mouse.move(box["x"] + x, box["y"] + y)
    time.sleep(0.5)  # plotly finds the point under the mouse on hover; a click then selects it
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.get_by_text("The 10 films nearest to").wait_for(timeout=30_000)
    settle(page)
    plot.wait_for(state="visible")  # plotly redraws the figure with the neighbours: wait until it is back
    assert plot.bounding_box()["y"] == box["y"], "the map moved under the mouse"
    no_exception(page, "a click on the map")
    assert plot.locator(".legendtext", has_text="neighbours (numbered)").count() == 1


def test_the_map_in_presentation_mode(page):
    page.set_viewport_size({"width": 1280, "height": 720})
    page.locator(".st-key-embed_present label").click()
    page.locator("[data-testid='stSidebar']").wait_for(state="hidden", timeout=30_000)
    settle(page)
    no_exception(page, "Embeddings, presenting")
    page.locator(".st-key-embed_map").scroll_into_view_if_needed()
    time.sleep(0.5)
    page.screenshot(path=str(SHOTS / "present-embeddings.png"))
    rows = page.evaluate(
        f"() => [...document.querySelectorAll('{LIST} tr')].map(r => r.getBoundingClientRect().bottom)"
    )
    assert len(rows) == 11 and max(rows) <= 720, f"your top 10 reaches y = {max(rows)} of 720"
    fonts = page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot svg text')].filter(t => t.textContent.trim())"
        ".map(t => parseFloat(getComputedStyle(t).fontSize))"
    )
    assert fonts and min(fonts) >= 18, sorted(fonts)[:5]
    cells = page.evaluate(  # the clicked film's neighbours, a table in large type too
        "() => [...document.querySelectorAll('.st-key-embed_neighbours td')].map(c => parseFloat(getComputedStyle(c).fontSize))"
    )
    assert len(cells) == 30 and min(cells) >= 18, cells
