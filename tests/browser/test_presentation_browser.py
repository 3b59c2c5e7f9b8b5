"""In headless Chromium at a projector's 1280 × 720, in presentation mode (``?present=1``): every lesson's
evidence (its curves, its compared columns, its matrix with the labels) is inside the screen after Run without
scrolling, and every text of its charts is at least 18 px. The screenshots of each lesson are the README's
(``docs/screenshots/present-<lesson>.png``)."""

from __future__ import annotations

import pytest
from browsing import no_exception, settle, sync_api

from dashboard.lessons import LESSONS
from dashboard.presentation import CHART_PX
from dashboard.server import CHROMIUM, CHROMIUM_ARGS, ROOT, running_app

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 1280, 720

# Per lesson, what must be in view: CSS selectors inside the lesson's evidence, each matching at least once.
EVIDENCE = {
    "learning-rate": [".js-plotly-plot .legend", ".js-plotly-plot .xtick", ".js-plotly-plot .scatterlayer"],
    "fitting": [".js-plotly-plot .legend", ".js-plotly-plot .xtick", ".js-plotly-plot .scatterlayer"],
    "factors": ["[data-testid='stMetric']", "[data-testid='stTable'] th", "[data-testid='stTable'] td"],
    "rating-vs-ranking": ["[data-testid='stTable'] th", "[data-testid='stTable'] td"],
    "nmf": ["[data-testid='stTable'] th", "[data-testid='stTable'] td"],
    "biases": ["[data-testid='stTable'] th", "[data-testid='stTable'] td"],
    "taste": ["[data-testid='stTable'] th", "[data-testid='stTable'] td"],
    "small-matrix": [
        ".js-plotly-plot .xtick",
        ".js-plotly-plot .ytick",
        ".js-plotly-plot .colorbar",
        ".js-plotly-plot .xtitle",
    ],
    "gradient-check": ["[data-testid='stTable'] th", "[data-testid='stTable'] td"],
}
OUT_OF_VIEW = """(selector) => [...document.querySelectorAll(selector)].map((element) => {
    const box = element.getBoundingClientRect();
    const text = (element.textContent || element.getAttribute('class') || '').slice(0, 40);
    return {text, left: box.left, top: box.top, right: box.right, bottom: box.bottom};
})"""
CHART_FONTS = """() => [...document.querySelectorAll('.js-plotly-plot svg text')]
    .filter((text) => text.textContent.trim() && text.getBoundingClientRect().width > 0)
    .map((text) => [text.textContent.slice(0, 30), parseFloat(getComputedStyle(text).fontSize)])"""

TABLE_FONTS = """(evidence) => [...document.querySelectorAll(`${evidence} [data-testid='stTable'] :is(th, td)`)]
    .map((cell) => parseFloat(getComputedStyle(cell).fontSize))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("present") / "home") as running:
        yield running


@pytest.fixture(scope="module")
def page(server):
    assert CHROMIUM.exists()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        browser.close()


def boxes(page, selector: str) -> list[dict]:
    return page.evaluate(OUT_OF_VIEW, selector)


def outside(box: dict) -> bool:
    return (
        box["left"] < -0.5 or box["top"] < -0.5 or box["right"] > WIDTH + 0.5 or box["bottom"] > HEIGHT + 0.5
    )


@pytest.mark.parametrize("lesson", list(LESSONS))
def test_the_evidence_is_in_view_in_large_type_at_1280_by_720(server, page, lesson):
    page.goto(f"{server.url}/lessons?lesson={lesson}&present=1")
    evidence = f".st-key-lessons_evidence_{lesson}"
    page.locator(evidence).first.wait_for(timeout=120_000)
    page.locator(f"{evidence} .js-plotly-plot, {evidence} [data-testid='stTable']").first.wait_for(
        timeout=60_000
    )
    settle(page)
    no_exception(page, lesson)
    assert "present=1" in page.url and f"lesson={lesson}" in page.url
    assert not page.locator("[data-testid='stSidebar']").is_visible()
    scrolled = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop")
    assert scrolled == 0
    page.screenshot(path=str(SHOTS / f"present-{lesson}.png"))
    lowest = 0.0
    for selector in EVIDENCE[lesson]:
        found = boxes(page, f"{evidence} {selector}")
        assert found, f"{lesson}: nothing matches {selector}"
        cut = [box for box in found if outside(box)]
        assert not cut, f"{lesson}: {selector} out of the {WIDTH} × {HEIGHT} screen: {cut[:3]}"
        lowest = max([lowest, *(box["bottom"] for box in found)])
    fonts = page.evaluate(CHART_FONTS)
    small = [(text, size) for text, size in fonts if size < CHART_PX]
    smallest = min((size for _, size in fonts), default=None)
    cells = page.evaluate(TABLE_FONTS, evidence)
    print(
        f"{lesson}: evidence down to y = {lowest:.0f} of {HEIGHT} px; smallest chart text {smallest} px, "
        f"table text {min(cells, default=None)} px"
    )
    assert not small, f"{lesson}: chart text under {CHART_PX} px: {small[:5]}"
    assert all(size >= CHART_PX for size in cells), f"{lesson}: table text under {CHART_PX} px: {cells}"
