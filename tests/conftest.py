"""Shared fixtures: small data sets the tests make themselves, and the path to MovieLens 100k."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import app_test

from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.data.synthetic import planted_low_rank

TESTS = Path(__file__).resolve().parent
# Trainers run at their server's priority in the tests: two workers share two cores with their servers and
# browsers, and trainers niced below all of them starved (a 2-epoch training still at epoch 0 after 150 s).
# The niceness itself is tested in a process of its own (tests/app/test_jobs.py).
os.environ["RECENGINE_TRAINER_NICENESS"] = "0"
# `pytest -m "not slow"` is the quick loop while coding (the README names it). Marked slow here, besides the
# tests marked one by one (any test over about 3 s): whole places slow by nature, and the slow cases of
# otherwise quick parametrized tests (measured with --durations on a loaded two-core machine).
SLOW_PLACES = (
    "browser/",  # a real server in headless Chromium
    "hardening/test_fuzz_loaders.py",  # property-based fuzzing, 1,000 cases per format
    "hardening/test_load.py",  # 20 clients on one server
    "hardening/test_sessions.py",
    "hardening/test_model_extremes.py",  # every hyperparameter at its extremes
    "hardening/test_memory_estimates.py",  # every model's peak memory measured in a fresh process
)
SLOW_CASES = {  # "file::test" for every case of a test, "file::test[case]" for one
    "hardening/test_hostile_models.py::test_the_issues_bomb_is_refused_unread_with_a_small_peak",
    "hardening/test_memory_budget.py::test_training_beyond_the_budget_is_refused_before_anything_is_allocated[als]",
    "hardening/test_memory_budget.py::test_training_beyond_the_budget_is_refused_before_anything_is_allocated[bpmf]",
    "hardening/test_model_files.py::test_hand_edited_metadata_fails_clearly_or_loads_a_usable_model",
    "hardening/test_server_files.py::test_fuzzed_server_files_never_leak_into_messages",
    "hardening/test_small_points.py::test_sigterm_while_saving_a_model_leaves_no_temporary_file",
    "hardening/test_training_faults.py::test_parallel_kernels_in_several_threads_survive_numba_s_workqueue_layer",
    "hardening/test_unwritable_folders.py::test_the_app_trains_saves_and_uploads_without_writable_folders",
    "test_base.py::test_a_fitted_model_holds_its_learned_state_only[bpr]",
    "test_gradient_models.py::test_noisy_planted_matrix_test_rmse_is_within_ten_percent_of_the_noise[minibatch]",
    "test_nmf.py::test_noise_free_planted_matrix_is_recovered[random]",
    "test_recommend.py::test_a_film_rated_low_is_never_a_reason_only_an_honest_contrast[als]",
    "test_recommend.py::test_a_film_rated_low_is_never_a_reason_only_an_honest_contrast[bpr]",
    "test_svdpp.py::test_noisy_planted_matrix_test_rmse_is_within_ten_percent_of_the_noise[True]",
}


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


# The longest modules (40 s to 170 s a test, measured with --durations) go first: pytest-xdist deals the first
# tests out one by one to its workers, so these start at once on all of them instead of ending the run on one.
FIRST = (
    "browser/test_workspace_browser.py", "browser/test_challenge_browser.py", "browser/test_e2e.py",
    "hardening/test_sessions.py", "browser/test_asking_browser.py",
)  # fmt: skip


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not item.path.is_relative_to(TESTS):
            continue
        where = item.path.relative_to(TESTS).as_posix()
        spark = item.get_closest_marker("spark") is not None  # a Java virtual machine per module
        cases = {f"{where}::{item.name}", f"{where}::{getattr(item, 'originalname', item.name)}"}
        if spark or where.startswith(SLOW_PLACES) or cases & SLOW_CASES:
            item.add_marker(pytest.mark.slow)
    items.sort(key=_start_rank)  # stable: each module keeps its own order


def _start_rank(item: pytest.Item) -> int:
    where = item.path.relative_to(TESTS).as_posix() if item.path.is_relative_to(TESTS) else ""
    return FIRST.index(where) if where in FIRST else len(FIRST)


ML100K = Path(
    os.environ.get(
        "RECENGINE_ML100K", Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
    )
)


@pytest.fixture
def ml100k_path() -> Path:
    """MovieLens 100k from ../shared (never bundled: its licence forbids redistribution)."""
    if not (ML100K / "u.data").exists():
        pytest.skip(f"MovieLens 100k is not at {ML100K}; these tests need it there.")
    return ML100K


@pytest.fixture
def planted() -> tuple[RatingsDataset, np.ndarray]:
    """A noise-free rank-3 matrix, 30% observed."""
    return planted_low_rank(n_users=200, n_items=150, rank=3, density=0.3, seed=1)


@pytest.fixture
def tiny() -> RatingsDataset:
    """Four users, five items, on a 1..5 integer scale."""
    users = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
    items = np.array([0, 1, 2, 0, 3, 1, 2, 4, 0, 4])
    ratings = np.array([5, 3, 4, 4, 2, 1, 5, 3, 2, 4], dtype=float)
    return RatingsDataset(users, items, ratings, np.array([10, 11, 12, 13]), np.array([1, 2, 3, 4, 5]))


@pytest.fixture(scope="session")
def blocks() -> tuple[RatingsDataset, RatingsDataset]:
    """Users of group g rate only items of block g (with probability ``density``); a fifth of each user's
    items is held out. A model that finds the blocks ranks held-out items of the user's own block first."""
    n_groups, users_per_group, items_per_group, density = 4, 30, 25, 0.5
    rng = np.random.default_rng(0)
    users, items = [], []
    for g in range(n_groups):
        for u in range(g * users_per_group, (g + 1) * users_per_group):
            block = np.arange(g * items_per_group, (g + 1) * items_per_group)
            chosen = block[rng.random(items_per_group) < density]
            users += [u] * len(chosen)
            items += chosen.tolist()
    users, items = np.array(users), np.array(items)
    ratings = rng.integers(3, 6, len(users)).astype(float)
    data = RatingsDataset(
        users,
        items,
        ratings,
        np.arange(n_groups * users_per_group),
        np.arange(n_groups * items_per_group),
        scale=RatingScale(1, 5, 1),
    )
    is_test = rng.random(len(users)) < 0.2
    return data.subset(~is_test), data.subset(is_test)
