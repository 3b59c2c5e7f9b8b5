"""AppTest fixtures: a fresh app session whose files live in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


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
