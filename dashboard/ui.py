"""Small page helpers: engine errors as messages, and the "nothing to show yet" notes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from recengine.errors import DataError, RecEngineError, TrainingDiverged


class TypedPathError(DataError):
    """A refused server path: its message names the path as the person typed it, which `engine_errors` shows
    as it is. `described` would name a typed private folder by what it is ("the profile folder"), and so
    confirm where the private folders are (probe 7, finding 9); the page names every refused path alike."""


@contextmanager
def engine_errors(what_to_do: str = "") -> Iterator[None]:
    """Show an engine error raised inside the block as a message with what to do, not a traceback."""
    try:
        yield
    except TrainingDiverged as error:
        st.warning(str(error), icon=":material/warning:")
    except RecEngineError as error:
        message = str(error) if isinstance(error, TypedPathError) else described(str(error))
        st.error(message + (f"\n\n{what_to_do}" if what_to_do else ""))


def described(message: str) -> str:
    """``message`` with the server's private folders (a session's upload, the profiles, the model store)
    named by what they are, never by where they are, and other paths under the home folder as ``~/...``."""
    from dashboard import config

    private = {config.uploads_folder(): "your upload", config.profiles_folder(): "the profile folder",
               config.store_folder(): "the model store"}  # fmt: skip
    for folder, what in private.items():
        message = re.sub(re.escape(str(folder)) + r"(?:/[^\s,;:'\"()]*[^\s,;:'\"().])?", what, message)
    home = str(Path.home())
    return message.replace(home + "/", "~/") if home != "/" else message


def need_model(page: str = "pages/train.py", label: str = "Train a model first") -> None:
    st.info("You have not trained a model on this data set yet.")
    st.page_link(page, label=label, icon=":material/model_training:")


NOTICES = "notices"


def announce(*messages: tuple[str, str]) -> None:
    """Rerun the whole app now (so the sidebar shows what just changed) and then show ``messages``, each
    ``(kind, text)`` with kind one of success, info, warning, error, at the top of the page."""
    st.session_state[NOTICES] = list(messages)
    st.rerun()


def show_notices() -> None:
    for kind, text in st.session_state.pop(NOTICES, []):
        getattr(st, kind)(text)


def counted(count: int, noun: str) -> str:
    """``1 movie``, ``2 movies``, ``1,204 ratings``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def shown_path(path: object) -> str:
    """A server path as a page shows it: under the home folder as ``~/...`` (the loaders expand it), so a
    shared server does not tell every student whose account it runs under."""
    text, home = str(path), str(Path.home())
    return "~" + text[len(home) :] if home != "/" and (text == home or text.startswith(home + "/")) else text
