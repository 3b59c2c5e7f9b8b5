"""Small page helpers: engine errors as messages, and the "nothing to show yet" notes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from recengine.errors import RecEngineError, TrainingDiverged


@contextmanager
def engine_errors(what_to_do: str = "") -> Iterator[None]:
    """Show an engine error raised inside the block as a message with what to do, not a traceback."""
    try:
        yield
    except TrainingDiverged as error:
        st.warning(f"**Training diverged.** {error}")
    except RecEngineError as error:
        st.error(f"{error}" + (f"\n\n{what_to_do}" if what_to_do else ""))


def need_model(page: str = "views/train.py", label: str = "Train a model first") -> None:
    st.info("There is no trained model for this data set yet.")
    st.page_link(page, label=label, icon=":material/model_training:")
