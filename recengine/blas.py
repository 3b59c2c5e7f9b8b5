"""BLAS threads for small products: one thread where a threaded BLAS costs more than it saves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from threadpoolctl import ThreadpoolController


@cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread inside the block (about 10 µs to enter).

    For the small products of one interactive request (a fold-in, one user's scores), a threaded BLAS
    costs more than it saves; on a busy machine, measured 20-180 ms against 0.1-30 ms single-threaded.
    """
    with _controller().limit(limits=1, user_api="blas"):
        yield
