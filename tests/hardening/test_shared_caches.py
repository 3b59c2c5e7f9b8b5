"""Issue 25, point 1: an upload never changes what another session sees. Student A uploads the bundled
ratings under a ``movies.csv`` that retitles Forrest Gump (film 356) with a Markdown link and an image, and
adds a genre of its own; student B, on the bundled set, must still see the bundled title and genres."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import streamlit as st

from dashboard import data as pages_data
from dashboard.state import DataChoice
from recengine.data import load, load_bundled
from recengine.data.loading import BUNDLED

INJECTED = "[Class password expired: click here](https://evil.example/login) ![x](https://evil.example/p.png)"
FORREST = "Forrest Gump (1994)"


@pytest.fixture
def retitled(tmp_path: Path) -> Path:
    folder = tmp_path / "upload"
    folder.mkdir()
    shutil.copy(BUNDLED / "ratings.csv", folder / "ratings.csv")
    lines = (BUNDLED / "movies.csv").read_text().splitlines()
    lines = [
        f'356,"{INJECTED} (1994)",Comedy|Click here' if line.startswith("356,") else line for line in lines
    ]
    (folder / "movies.csv").write_text("\n".join(lines) + "\n")
    return folder


def as_session(monkeypatch: pytest.MonkeyPatch, choice: DataChoice) -> None:
    monkeypatch.setattr(pages_data, "data_choice", lambda: choice)


@pytest.mark.slow
def test_a_retitled_upload_of_the_bundled_ratings_is_not_shown_to_another_session(retitled, monkeypatch):
    st.cache_resource.clear()
    upload, bundled = load(retitled), load_bundled()
    assert upload.fingerprint == bundled.fingerprint  # the exact case: the ratings equal the bundled set's
    code = bundled.item_code(356)

    as_session(monkeypatch, DataChoice("upload", "evil.zip", (("path", str(retitled)),)))  # student A
    assert INJECTED in pages_data.catalogue(upload).at[code, "title"]
    assert "Click here" in pages_data.genres(upload)
    assert INJECTED in pages_data.split(upload, "user:0.2", 0)[0].items.at[code, "title"]

    as_session(monkeypatch, DataChoice())  # student B, on the bundled set
    assert pages_data.catalogue(bundled).at[code, "title"] == FORREST
    assert pages_data.titles_of(bundled, [356]) == {356: FORREST}
    assert "Click here" not in pages_data.genres(bundled)
    assert pages_data.split(bundled, "user:0.2", 0)[0].items.at[code, "title"] == FORREST


def test_the_same_upload_in_two_sessions_is_cached_for_each_apart(retitled, monkeypatch):
    """Keyed by whose it is: A's catalogue object is never handed to B, even for identical files."""
    st.cache_resource.clear()
    upload = load(retitled)
    as_session(monkeypatch, DataChoice("upload", "a.zip", (("path", str(retitled / "a")),)))
    first = pages_data.catalogue(upload)
    as_session(monkeypatch, DataChoice("upload", "b.zip", (("path", str(retitled / "b")),)))
    assert pages_data.catalogue(upload) is not first


def test_an_uploads_data_and_splits_stay_in_its_session_and_leave_when_it_ends(retitled, monkeypatch):
    """probe6's finding 8: the shared caches are bounded by entries, not bytes, and an 8-million-rating upload
    still held 165 MB there 8 minutes after its tab closed. An upload's data set and splits are kept in its
    session's own cache, which the trainers' watchdog empties seconds after the tab closes; the bundled
    set's stay shared."""
    from dashboard import jobs

    endings = {}
    monkeypatch.setattr(
        jobs, "when_session_ends", lambda name, call, session=None: endings.update({name: call})
    )
    st.session_state.pop(pages_data.SESSION_CACHE, None)
    st.cache_resource.clear()
    choice = DataChoice("upload", "a.zip", (("path", str(retitled)),))
    as_session(monkeypatch, choice)
    upload = pages_data.load_choice(choice)
    train, _ = pages_data.split(upload, "user:0.2", 0)
    assert pages_data.load_choice(choice) is upload and pages_data.split(upload, "user:0.2", 0)[0] is train
    assert len(pages_data.session_cache()) == 2
    endings["upload data"]()  # what the watchdog calls once the tab has been gone its grace seconds
    assert pages_data.session_cache() == {} and pages_data.load_choice(choice) is not upload
    as_session(monkeypatch, DataChoice())
    bundled = pages_data.load_choice(DataChoice())
    assert pages_data.split(bundled, "user:0.2", 0)[0] is pages_data.split(bundled, "user:0.2", 0)[0]
    assert len(pages_data.session_cache()) == 1  # the upload loaded again above; the bundled set's are shared
