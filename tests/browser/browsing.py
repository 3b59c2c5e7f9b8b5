"""What every browser test needs: Chromium (the module skips without it), and waiting for the app to settle."""

from __future__ import annotations

import re
import time

import pytest

from dashboard.server import CHROMIUM, ROOT

if not CHROMIUM.exists():
    pytest.skip(
        f"Chromium is not installed at {CHROMIUM} (on Debian: apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api")
SHOTS = ROOT / "test-artifacts" / "screenshots"
HEADINGS = {"Home": "how matrix factorization", "Compare & tune": "Compare", "Rate movies": "Rate movies"}
WIDTH, HEIGHT = 1400, 1000


def settle(page, quiet: float = 0.5, timeout: float = 60) -> None:
    """Wait until no script run has been under way for ``quiet`` seconds (the app's script state)."""
    app = page.locator('[data-testid="stApp"]')
    deadline = time.monotonic() + timeout
    calm_since = None
    while time.monotonic() < deadline:
        if app.get_attribute("data-test-script-state") in ("running", "rerunRequested", "initial"):
            calm_since = None
        elif calm_since is None:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= quiet:
            return
        time.sleep(0.05)
    raise AssertionError("the app never became idle")


def no_exception(page, where: str) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, f"{where}: {errors.first.inner_text()[:2000]}"


def open_at(browser, url: str, heading: str):
    """A new page at the tests' window size on ``url``, once the page headed ``heading`` has drawn."""
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.goto(url)
    page.get_by_role("heading", name=heading).wait_for(timeout=60_000)
    settle(page)
    return page


def visit(page, name: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=name, exact=True).click()
    heading = re.compile(HEADINGS.get(name, name), re.IGNORECASE)
    page.get_by_role("heading", level=1).filter(has_text=heading).first.wait_for()
    settle(page)
    no_exception(page, name)


def choose_option(
    page, box: str, option: str, typed: str | None = None, exact: bool = True, tries: int = 4
) -> None:
    """Open the select box with CSS selector ``box`` (typing ``typed`` to filter it) and click ``option``.

    A click or key press that lands while the page redraws is lost, so the box is opened again until the
    option shows.
    """
    wanted = page.get_by_role("option", name=option, exact=exact).first
    for attempt in range(tries):
        settle(page)
        page.locator(box).click()
        if typed is not None:
            field = page.locator(f"{box} input")
            field.fill("")
            field.press_sequentially(typed, delay=20)
        try:
            wanted.wait_for(timeout=10_000)
            break
        except sync_api.TimeoutError:
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")
    wanted.click()


def shoot(page, name: str) -> None:
    """The whole page: the app scrolls inside its main block, so grow the window to its height first."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": min(max(int(height), HEIGHT), 8000)})
    time.sleep(0.4)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
