"""Helpers for the AppTest tests."""

from __future__ import annotations

import time
from collections.abc import Callable

from streamlit.testing.v1 import AppTest

TIMEOUT = 60


def open_page(at: AppTest, name: str) -> AppTest:
    at.switch_page(f"pages/{name}.py").run()
    assert_no_exception(at)
    return at


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` until it holds; fail saying ``what`` did not happen within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.01)


def wait_for_job(at: AppTest, timeout: float = TIMEOUT) -> AppTest:
    """Run the page until the background training job has ended and the page has shown its result."""
    job = at.session_state["training_job"] if "training_job" in at.session_state else None  # noqa: SIM401
    assert job is None or job.join(timeout), "training did not finish in time"
    at.run()
    assert_no_exception(at)
    return at
