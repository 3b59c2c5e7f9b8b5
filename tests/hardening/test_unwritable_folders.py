"""Read-only or full folders (issue 12, point 6): the app keeps working with the cache off and says so,
reading the store needs no write access, and a model trained when the disk is full is kept for the session.

The tests run as root in CI, where permission bits stop nothing: a folder that cannot be written is a path
under a regular file (every write fails with NotADirectoryError), and a full disk is an ENOSPC raised by the
writer."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest
import streamlit as st
from outcomes import tally
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest, app_test

from dashboard import config
from recengine.data.synthetic import planted_low_rank
from recengine.models import make
from recengine.store import ModelStore, save_model

ROOT = Path(__file__).resolve().parents[2]


class _ServerPagesManager(PagesManager):
    """As in tests/app/conftest.py: the old pages/ mode ends once st.navigation has run, as on a server."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


@pytest.fixture
def unwritable(tmp_path: Path) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "inside"


@pytest.fixture
def small():
    return planted_low_rank(n_users=30, n_items=20, rank=2, density=0.4, seed=1)[0]


def test_a_store_that_cannot_be_written_is_read_and_refuses_puts_quietly(unwritable: Path, small):
    store = ModelStore(unwritable)
    assert not store.writable and store.get("k") is None
    model = make("baseline").fit(small)
    assert store.try_put("k", model, data=small) is None and store.failure
    tally("folders", "read-only store", "get None, try_put None, no exception")


def test_a_full_disk_keeps_the_model_and_leaves_no_debris(tmp_path: Path, small, monkeypatch):
    store = ModelStore(tmp_path / "store")
    model = make("baseline").fit(small)
    save_model(model, store.path("old"), data=small)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("recengine.store.np.savez", full)
    assert store.try_put("new", model, data=small) is None
    assert "No space left" in store.failure
    assert sorted(p.name for p in store.folder.iterdir()) == [".lock", "old.npz"]
    monkeypatch.undo()
    assert store.try_put("new", model, data=small) is not None and store.failure is None
    tally("folders", "full store", "model kept, notice, no debris")


def test_a_bad_store_cap_falls_back_to_the_default_with_a_notice(monkeypatch):
    for text in ("abc", "-5", "inf", "nan", "0"):
        monkeypatch.setenv("RECENGINE_STORE_MB", text)
        assert config.store_max_bytes() == 500_000_000
        assert "not a positive number" in config.store_max_bytes_problem()
    monkeypatch.setenv("RECENGINE_STORE_MB", "20")
    assert config.store_max_bytes() == 20_000_000 and config.store_max_bytes_problem() is None


@pytest.fixture
def session(tmp_path, monkeypatch, unwritable):
    """An app session whose model cache, profiles and uploads all sit in folders that cannot be written."""
    monkeypatch.setattr(app_test, "PagesManager", _ServerPagesManager)
    monkeypatch.setenv("RECENGINE_HOME", str(unwritable))
    monkeypatch.setenv("RECENGINE_STORE", str(unwritable / "models"))
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path / "downloads"))
    monkeypatch.delenv("RECENGINE_PROFILES", raising=False)
    monkeypatch.delenv("RECENGINE_UPLOADS", raising=False)
    st.cache_resource.clear()
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()


def test_the_app_trains_saves_and_uploads_without_writable_folders(session):
    at = session
    assert not at.exception
    assert any("model cache is off" in w.value for w in at.sidebar.warning)
    store = os.environ["RECENGINE_STORE"]
    assert not [w for w in at.sidebar.warning if store in w.value]  # the server's folder is never shown
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_algo").set_value("baseline").run()
    at.button(key="train_go").click().run()
    job = at.session_state["training_job"]
    assert job is None or job.join(60)
    time.sleep(0.1)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    run = at.session_state["runs"][at.session_state["train_run"]]
    assert run.model is not None  # kept for the session
    tally("folders", "training with the cache off", "model kept for the session")

    at.switch_page("pages/rate.py").run()
    at.session_state["rate_files_open"] = True  # "Save, load, import and export" opened
    at.run()
    at.text_input(key="rate_profile").input("mine").run()
    first = next(g.key for g in at.button_group if g.key.startswith("rate_item_"))
    at.button_group(key=first).set_value(4.0).run()
    at.button(key="rate_save").click().run()
    assert not at.exception and any("read-only or full" in e.value for e in at.error)
    tally("folders", "saving a profile, read-only home", "message")

    at.switch_page("pages/data.py").run()
    at.segmented_control(key="data_source").set_value("upload").run()
    at.file_uploader(key="data_upload").upload("r.csv", b"user,item,rating\n1,1,4\n", "text/csv").run()
    assert not at.exception and any("Uploads cannot be stored" in e.value for e in at.error)
    tally("folders", "uploading, read-only home", "message")
