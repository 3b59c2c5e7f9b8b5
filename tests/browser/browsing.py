"""What every browser test needs: Chromium (the module skips without it), and waiting for the app to settle."""

from __future__ import annotations

import time

import pytest

from dashboard.server import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip(
        f"Chromium is not installed at {CHROMIUM} (on Debian: apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api")


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
