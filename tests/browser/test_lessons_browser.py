"""In headless Chromium: every lesson opened from its shared link, the formulas rendered without a KaTeX error
for every algorithm, a Train link opening its settings, and the curves above the fold at 1400 × 900.
Screenshots go to ``test-artifacts/screenshots/`` (the README's come from here)."""

from __future__ import annotations

import re
import time

import pytest
from browsing import no_exception, settle, sync_api

from dashboard.lessons import LESSONS
from dashboard.runs import DEFAULT_ALGO
from dashboard.server import CHROMIUM, CHROMIUM_ARGS, ROOT, running_app
from recengine.models import MODELS

pytestmark = pytest.mark.browser
SHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTH, HEIGHT = 1400, 900


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("lessons") / "home") as running:
        yield running


@pytest.fixture(scope="module")
def page(server):
    assert CHROMIUM.exists()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        browser.close()


def no_formula_errors(page, where: str) -> None:
    page.locator(".katex").first.wait_for(timeout=60_000)  # a link's first run reruns once before drawing
    settle(page)
    errors = page.locator(".katex-error")
    assert errors.count() == 0, f"{where}: KaTeX could not render {errors.first.get_attribute('title')}"


def whole_page(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": min(max(int(height), HEIGHT), 6000)})
    time.sleep(0.5)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})


@pytest.mark.parametrize("lesson", list(LESSONS))
def test_a_shared_lesson_link_runs_the_lesson(server, page, lesson):
    page.goto(f"{server.url}/lessons?lesson={lesson}")
    page.locator(f".st-key-lessons_evidence_{lesson}").wait_for(timeout=180_000)
    settle(page)
    no_exception(page, lesson)
    assert f"lesson={lesson}" in page.url
    page.locator(".js-plotly-plot, [data-testid='stDataFrame'], [data-testid='stTable']").first.wait_for(
        timeout=30_000
    )
    if lesson == "learning-rate":
        no_formula_errors(page, lesson)
        whole_page(page, "lessons")
    if lesson == "small-matrix":
        whole_page(page, "lessons-matrix")


@pytest.mark.parametrize("algo", sorted(MODELS))
def test_the_formulas_of_every_algorithm_render(server, page, algo):
    page.goto(f"{server.url}/train?algo={algo}")
    page.get_by_role("heading", name="Train a model").wait_for(timeout=60_000)
    settle(page)
    no_exception(page, algo)
    assert (f"algo={algo}" in page.url) == (algo != DEFAULT_ALGO)  # the default's address stays bare
    no_formula_errors(page, algo)


def test_a_train_link_opens_its_settings_and_the_curves_show_above_the_fold(server, page):
    page.goto(f"{server.url}/train?algo=sgd&n_factors=2&lr=0.05&n_epochs=5")
    page.get_by_role("heading", name="Train a model").wait_for(timeout=60_000)
    settle(page)
    factors = page.get_by_role("spinbutton", name="n_factors")
    sync_api.expect(factors).to_have_value("2", timeout=90_000)  # the link's settings, applied in a rerun
    settle(page)
    assert page.get_by_text("SGD (per rating, Funk/Koren)").count() > 0
    assert page.get_by_role("spinbutton", name="n_epochs").input_value() == "5"
    page.get_by_role("button", name=re.compile("^Train$")).click()
    page.get_by_text(re.compile("trained in .* and cached|came from the cache")).wait_for(timeout=120_000)
    settle(page)
    no_exception(page, "Train")
    assert (
        page.get_by_role("textbox", name="Name of this run").input_value()
        == "SGD · 2 factors · 5 epochs · lr 0.05"
    )
    scrolled = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop")
    chart = page.locator(".js-plotly-plot").first.bounding_box()
    assert scrolled == 0 and chart is not None, (scrolled, chart)
    assert chart["y"] >= 0 and chart["y"] + chart["height"] <= HEIGHT, (
        f"the curves are not all in view: {chart}"
    )
    no_formula_errors(page, "Train")
    page.screenshot(path=str(SHOTS / "train-first-screen.png"))
    whole_page(page, "train-formulas")
