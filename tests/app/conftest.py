"""AppTest fixtures: a fresh app session whose files live in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest, app_test

ROOT = Path(__file__).resolve().parents[2]


class _ServerPagesManager(PagesManager):
    """As on a running server, where the old ``pages/`` mode ends for good once ``st.navigation`` has run
    (the browser tests cover a fresh server's first request); AppTest starts every run with it undecided,
    so each run would go through ``inside_app``'s rerun, which drops the run's button clicks. And as in a
    server's session, whose pages manager outlives a run, the app's pages are known in a run of fragments
    alone (it does not call ``st.navigation``, and a fragment's ``st.page_link`` needs them): AppTest makes
    a new manager for every run."""

    pages: dict | None = None  # those the last run's st.navigation registered

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False
        if _ServerPagesManager.pages is not None:
            self._set_pages(dict(_ServerPagesManager.pages))

    def set_pages_and_resolve(self, pages, fallback_page_hash=""):
        _ServerPagesManager.pages = dict(pages)
        return super().set_pages_and_resolve(pages, fallback_page_hash)


@pytest.fixture(autouse=True)
def _pages_as_on_a_server(monkeypatch) -> None:
    monkeypatch.setattr(_ServerPagesManager, "pages", None)
    monkeypatch.setattr(app_test, "PagesManager", _ServerPagesManager)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """Models, profiles, uploads and downloads all under ``tmp_path``; caches emptied."""
    monkeypatch.setenv("RECENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path / "downloads"))
    monkeypatch.delenv("RECENGINE_STORE", raising=False)
    monkeypatch.delenv("RECENGINE_PROFILES", raising=False)
    monkeypatch.delenv("RECENGINE_UPLOADS", raising=False)
    st.cache_resource.clear()
    st.cache_data.clear()
    return tmp_path / "home"


@pytest.fixture
def app(home) -> AppTest:
    """A new session on the Home page, already run once."""
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
