"""Upload boxes whose files leave the server's memory on the run they arrive.

Streamlit keeps an uploaded file in memory for as long as its box shows it, so a few tabs each showing a
large file could hold every byte the class may upload (`guards.UploadGate` counts what is held). Here a
box's file is read once, by the page's own ``read`` (saved to the session's folder, or parsed), and freed
at once; later runs get what ``read`` gave, or raise what it raised, while the box still shows that file.
A file no box read in time is freed by the gate (`guards.UNREAD_SECONDS`); the box then says to upload it
again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import DeletedFile, UploadedFile

from recengine.errors import RecEngineError

T = TypeVar("T")
LOST = (
    "Your file left the server's memory before this page could read it (the server was busy): remove it from "
    "the box and upload it again."
)
READ = "upload_box_read_"  # session_state prefix: {box key: the `ReadFile` of the file it shows}


@dataclass(frozen=True)
class ReadFile(Generic[T]):
    """What reading one uploaded file gave: its ``value``, or the ``error`` reading it raised."""

    file_id: str
    name: str
    value: T | None = None
    error: Exception | None = None

    def result(self) -> T:
        """The value; the error reading it raised, raised again."""
        if self.error is not None:
            raise self.error.with_traceback(None)  # else each run's frames pile up on the stored error
        return self.value  # type: ignore[return-value]


def read_once(key: str, file: UploadedFile | None, read: Callable[[UploadedFile], T]) -> ReadFile[T] | None:
    """The file the upload box ``key`` shows (``file``, what `st.file_uploader` returned), read by ``read``
    on the run it arrives and then freed from memory; None once the person removes it from the box."""
    kept: ReadFile[T] | None = st.session_state.get(READ + key)
    if file is not None:
        if kept is None or kept.file_id != file.file_id:
            kept = _read(file, read)
            st.session_state[READ + key] = kept
        free(file)
        return kept
    shown = st.session_state.get(key)  # a freed file the box still shows is a DeletedFile
    if isinstance(shown, DeletedFile):
        if kept is not None and shown.file_id == kept.file_id:
            return kept
        return ReadFile(
            shown.file_id, "", error=RecEngineError(LOST)
        )  # freed before a run read it (a busy server)
    st.session_state.pop(READ + key, None)
    return None


def _read(file: UploadedFile, read: Callable[[UploadedFile], T]) -> ReadFile[T]:
    try:
        return ReadFile(file.file_id, file.name, value=read(file))
    except Exception as error:  # kept to be raised again where the page shows it; never swallowed
        return ReadFile(file.file_id, file.name, error=error)


def free(file: UploadedFile) -> None:
    """Drop ``file``'s bytes from Streamlit's memory (the box in the browser still shows it)."""
    context = get_script_run_ctx()
    if context is not None:
        context.uploaded_file_mgr.remove_file(context.session_id, file.file_id)
