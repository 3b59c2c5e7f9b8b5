"""Messages about files whose content is not the reader's to see.

A server that loads files on behalf of other people (the dashboard's "File on the server") must not turn
its error messages into a way of reading those files: no first line, no column names, no values, no folder
listing. Loaders quote content only through :func:`quoted`, :func:`listing` and :func:`detail`, which
show a placeholder inside :func:`content_hidden`; :func:`redact` is the safety net applied to every
message raised while content is hidden.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_HIDDEN: ContextVar[bool] = ContextVar("recengine_content_hidden", default=False)
NOT_SHOWN = "(not shown)"
# A Python repr of a string (escapes included), then any bracketed list left: what messages quote.
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_LISTED = re.compile(r"\[[^\[\]\n]*\]")


@contextmanager
def content_hidden(hidden: bool = True) -> Iterator[None]:
    """Inside this block (when ``hidden``), messages about files quote none of their content."""
    token = _HIDDEN.set(hidden or _HIDDEN.get())
    try:
        yield
    finally:
        _HIDDEN.reset(token)


def is_hidden() -> bool:
    return _HIDDEN.get()


def quoted(text: object, limit: int = 60) -> str:
    """``text`` (cut to ``limit`` characters) as a quoted string, or a placeholder when content is hidden."""
    return NOT_SHOWN if is_hidden() else repr(str(text)[:limit])


def listing(names: Iterable[object], limit: int = 12) -> str:
    """A list of names (columns, files) for a message, or how many there are when content is hidden."""
    names = [str(name) for name in names]
    return f"{len(names)} {NOT_SHOWN}" if is_hidden() else str(names[:limit])


def detail(error: BaseException) -> str:
    """The first line of a library's error message, which may quote the file, or nothing when hidden."""
    text = str(error).strip()
    if is_hidden():
        return type(error).__name__
    return text.splitlines()[0][:200] if text else type(error).__name__


def redact(message: str) -> str:
    """``message`` with every quoted string and bracketed list replaced by a placeholder."""
    return _LISTED.sub(NOT_SHOWN, _QUOTED.sub(NOT_SHOWN, message))
