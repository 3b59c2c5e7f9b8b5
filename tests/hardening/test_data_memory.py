"""Probe 7, findings 4 and 6: what a student's choices keep in the server's memory is bounded by bytes.

Finding 4: a large shared data set's filtered copies and splits were cached by entry counts (8 and 16), so
one student pinned a gigabyte with five filters and five seeds, kept after they left. Finding 6: each tab
kept up to six uploads' data sets, counted by no budget (five uploads in two tabs held 1 GB)."""

from __future__ import annotations

import gc
import shutil
import weakref
from pathlib import Path

import pytest
import streamlit as st

from dashboard import data as pages_data
from dashboard import profiles
from dashboard.state import DataChoice
from recengine.data.loading import BUNDLED
from recengine.errors import TooLargeError

FILTERS = [(1, 2), (2, 1), (2, 2), (1, 3), (3, 1)]


def alive_bytes(refs: list[weakref.ref]) -> int:
    """The bytes of the data sets still alive: what the caches keep once the pages have let go."""
    gc.collect()
    return pages_data.held_bytes([ref() for ref in refs if ref() is not None])


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(pages_data, "data_choice", lambda: DataChoice())
    st.cache_resource.clear()
    st.session_state.pop(pages_data.SESSION_CACHE, None)
    yield
    st.cache_resource.clear()
    st.session_state.pop(pages_data.SESSION_CACHE, None)


def test_one_students_filters_and_splits_of_a_shared_set_stay_within_the_byte_budget(fresh, monkeypatch):
    bundled = pages_data.load_choice(DataChoice())
    budget = 4 * pages_data.held_bytes([bundled])
    monkeypatch.setenv("RECENGINE_DATA_CACHE_MB", str(budget / 1e6))
    made = []
    for least_items, least_users in FILTERS:
        filtered = pages_data.load_choice(
            DataChoice(min_item_ratings=least_items, min_user_ratings=least_users)
        )
        made.append(weakref.ref(filtered))
    for seed in range(1, 6):
        made.extend(weakref.ref(half) for half in pages_data.split(bundled, "user:0.2", seed))
    del filtered
    assert alive_bytes(made) <= budget  # today's entry counts kept all ten, some 9 times the bundled set
    assert pages_data.shared_data().held() <= budget


def test_a_bundled_class_still_shares_one_data_set_and_its_splits(fresh):
    """The default budget keeps what a class on the bundled set asks for: every session gets the same objects."""
    first = pages_data.load_choice(DataChoice())
    train, test = pages_data.split(first, "user:0.2", 0)
    for seed in range(1, 6):
        pages_data.split(first, "user:0.2", seed)
    assert pages_data.load_choice(DataChoice()) is first
    assert pages_data.split(first, "user:0.2", 0) == (train, test)


def upload_of_bundled(tmp_path: Path, name: str) -> DataChoice:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(BUNDLED / "ratings.csv", folder / "ratings.csv")
    return DataChoice("upload", f"{name}.csv", (("path", str(folder / "ratings.csv")),))


def as_tab(monkeypatch, choice: DataChoice) -> None:
    """A new tab of the same person (their workspace cookie): its own session cache."""
    st.session_state.pop(pages_data.SESSION_CACHE, None)
    monkeypatch.setattr(pages_data, "data_choice", lambda: choice)


def test_a_tab_keeps_only_its_newest_upload_in_memory(fresh, monkeypatch, tmp_path):
    monkeypatch.setattr(profiles, "current_owner", lambda: "person:alice")
    made = []
    for name in ("a", "b", "c", "d"):
        choice = upload_of_bundled(tmp_path, name)
        monkeypatch.setattr(pages_data, "data_choice", lambda choice=choice: choice)
        data = pages_data.load_choice(choice)
        halves = pages_data.split(data, "user:0.2", 0)
        made.extend(weakref.ref(made_now) for made_now in (data, *halves))
    one_upload = pages_data.held_bytes([data, *halves])
    del data, halves
    assert alive_bytes(made) == one_upload  # today's kept all four uploads and their splits
    assert {key[0] for key in pages_data.session_cache()} == {repr(choice.options)}


def test_a_persons_tabs_together_hold_no_more_uploads_than_their_budget(fresh, monkeypatch, tmp_path):
    monkeypatch.setattr(profiles, "current_owner", lambda: "person:alice")
    first = upload_of_bundled(tmp_path, "a")
    as_tab(monkeypatch, first)
    kept = pages_data.load_choice(first)
    one_upload = pages_data.held_bytes([kept])
    monkeypatch.setenv("RECENGINE_UPLOAD_MB", str(1.5 * one_upload / 1e6))
    first_tab = pages_data.session_cache()

    second = upload_of_bundled(tmp_path, "b")
    as_tab(monkeypatch, second)
    with pytest.raises(
        TooLargeError, match=r"your uploads, read in all your tabs, may take .*other tabs hold"
    ):
        pages_data.load_choice(second)
    assert pages_data.session_cache() == {}

    monkeypatch.setattr(profiles, "current_owner", lambda: "person:bob")  # another person is not refused
    as_tab(monkeypatch, second)
    assert pages_data.load_choice(second).n_ratings == kept.n_ratings
    assert first_tab  # alice's first tab still holds hers


def test_a_split_that_does_not_fit_beside_its_upload_is_refused_not_read_again(fresh, monkeypatch, tmp_path):
    """A split never pushes out the data set it splits (the page would read the file again on every click)."""
    choice = upload_of_bundled(tmp_path, "a")
    as_tab(monkeypatch, choice)
    data = pages_data.load_choice(choice)
    monkeypatch.setenv("RECENGINE_UPLOAD_MB", str(1.5 * pages_data.held_bytes([data]) / 1e6))
    with pytest.raises(TooLargeError, match="with what this page makes of it"):
        pages_data.split(data, "user:0.2", 0)
    assert pages_data.load_choice(choice) is data
