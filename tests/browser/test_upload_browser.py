"""In real headless Chromium: an upload leaves the server's memory on the run it arrives, and the page goes on
working from what it read while the box still shows the file (Streamlit then hands the page no file at all):
the column form survives the choices made in it, and Load loads. The final re-probe (probe7d) held a class's
upload memory with files left in boxes."""

from __future__ import annotations

import re
import urllib.request

import pytest
from browsing import no_exception, open_at, settle, shoot, visit

from dashboard.server import running_app

pytestmark = pytest.mark.browser


def upload_bytes_held(url: str) -> float:
    """What Streamlit's uploaded-file manager holds, from the server's metrics."""
    with urllib.request.urlopen(f"{url}/_stcore/metrics", timeout=10) as answer:
        lines = answer.read().decode().splitlines()
    held = [line for line in lines if "UploadedFileManager" in line and not line.startswith("#")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in held)


def test_an_upload_is_freed_at_once_and_its_column_form_still_loads(browser, tmp_path):
    rows = "".join(
        f"{reader},{book},{1 + (reader * book) % 5}\n" for reader in range(1, 30) for book in range(1, 40)
    )
    ratings = tmp_path / "books.csv"
    ratings.write_text("reader,book,stars\n" + rows)
    with running_app(tmp_path / "home") as server:
        page = open_at(browser, server.url, re.compile("how matrix factorization"))
        visit(page, "Data")
        page.locator(".st-key-data_source").get_by_text("Upload a file").click()
        settle(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(ratings))
        page.locator(".st-key-data_upload_form_user").wait_for(timeout=60_000)
        settle(page)
        assert upload_bytes_held(server.url) == 0  # read into the session's folder, then freed
        # The columns are matched by name. Load is a run in which Streamlit hands the page no file.
        page.locator(".st-key-data_upload_form_load button").click()
        page.get_by_text(re.compile("Loaded books: 29 users, 39 items")).wait_for(timeout=60_000)
        settle(page)
        no_exception(page, "Data")
        shoot(page, "data-upload-loaded")
        page.get_by_role("button", name="Remove books.csv").click()  # the person removes it
        settle(page)
        assert page.locator(".st-key-data_upload_form_user").count() == 0
        no_exception(page, "Data")
