"""In real headless Chromium: the Rate page's questions, "Help us learn your taste", answered ten times, the top
picks beside them following the answers."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from test_e2e import HEIGHT, WIDTH, browser, no_exception, settle, shoot, visit  # noqa: F401 (fixture)

from dashboard.server import running_app

pytestmark = pytest.mark.browser


def asked_item(page) -> int:
    widget = page.locator('[class*="st-key-ask_rate_"]')
    assert widget.count() == 1
    return int(re.search(r"st-key-ask_rate_(\d+)", widget.get_attribute("class")).group(1))


def test_ten_answers_and_the_top_picks_follow_them(browser, tmp_path):  # noqa: F811 (the fixture)
    with running_app(tmp_path / "home") as server:
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.goto(f"{server.url}/train")
        page.get_by_role("heading", name="Train").first.wait_for(timeout=60_000)
        settle(page)
        page.get_by_role("button", name=re.compile("Train")).first.click()
        page.get_by_text(re.compile("trained in .* and cached|came from the cache")).wait_for(timeout=120_000)
        visit(page, "Rate movies")
        box, preview = page.locator(".st-key-ask_box"), page.locator(".st-key-rate_preview")
        assert "Help us learn your taste" in box.inner_text()
        preview.get_by_text("Your top picks now").wait_for(timeout=120_000)
        settle(page)
        lists, asked = [preview.inner_text()], []
        for answer in range(10):
            item = asked_item(page)
            asked.append(item)
            if answer % 3 == 2:
                box.get_by_role("button", name="Haven't seen it").click()
            else:
                page.locator(f".st-key-ask_rate_{item}").get_by_role("radio", name="5", exact=True).click()
            settle(page, quiet=0.3)
            no_exception(page, f"answer {answer + 1}")
            lists.append(preview.inner_text())
        assert len(set(asked)) == 10 and asked_item(page) not in asked
        assert "7 rated, 3 not seen so far" in box.inner_text()
        assert "You rated: 7 movies" in page.locator('[data-testid="stSidebar"]').inner_text()
        assert lists[-1] != lists[0] and sum(a != b for a, b in pairwise(lists)) >= 5
        shoot(page, "03b-rate-asking")
        box.get_by_role("button", name="Stop asking").click()
        settle(page)
        assert page.locator('[class*="st-key-ask_rate_"]').count() == 0
        page.close()
