"""A headless dashboard session over Streamlit's own websocket protocol, for the many-sessions test and the
load test: it asks the server for script runs as a browser does (BackMsg ``rerun_script`` with widget
states and the page), and keeps the elements of the last run (ForwardMsg deltas), so a test can read the
page, find widgets by key, set them and click buttons. The server cannot tell it from a browser tab; it is
only much lighter than one, so dozens fit on a small machine.

Widgets are found by the ``key`` a page gives them (Streamlit puts it at the end of the widget's id), and
set with the value a browser would send: the formatted option for select boxes, segmented controls and
multiselects, numbers for number inputs and sliders, a trigger for buttons. As a browser does, a change to a
widget drawn inside a fragment (``st.fragment``) asks for a rerun of that fragment alone, and a run of some
fragments replaces only their elements, the rest of the page staying as the last full run drew it.
"""

from __future__ import annotations

import html
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.sync.client import connect

FINISHED = (
    ForwardMsg.FINISHED_SUCCESSFULLY,
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
)
ALERTS = {1: "error", 2: "warning", 3: "info", 4: "success"}
TRIGGERS = ("button", "download_button", "form_submit_button")
STRING_LISTS = ("button_group", "multiselect")


class ProtocolError(RuntimeError):
    """The server answered in a way this client does not expect (or not in time)."""


@dataclass
class Element:
    path: tuple[int, ...]
    kind: str  # the Element proto's field: markdown, alert, button, selectbox, exception, ...
    proto: Any
    fragment: str = ""  # the id of the fragment that drew it ("" outside any)

    @property
    def key(self) -> str | None:
        """The key the page gave this widget (None for elements that are not widgets)."""
        element_id = getattr(self.proto, "id", "")
        return element_id.split("-", 2)[2] if element_id.startswith("$$ID-") else None

    @property
    def text(self) -> str:
        for field in ("body", "label", "message"):
            value = getattr(self.proto, field, None)
            if isinstance(value, str) and value:
                return value
        return ""


def browser_cookie(url: str, timeout: float = 30.0) -> str:
    """The cookie a browser gets on its first visit to the server at ``url`` (``name=value``, "" for none):
    the workspace cookie that makes it a person."""
    with urllib.request.urlopen(url.rstrip("/") + "/", timeout=timeout) as answer:
        cookies = answer.headers.get_all("Set-Cookie") or []
    return "; ".join(cookie.split(";", 1)[0] for cookie in cookies)


class Session:
    """One app session (a browser tab): ``run`` a page, read ``elements``, ``set`` widgets, ``click``."""

    def __init__(self, url: str, timeout: float = 120.0, cookie: str | None = None):
        """``cookie``: a cookie jar's ``name=value`` pairs sent with the connection, as a browser sends the
        workspace cookie the server gave it (`browser_cookie`); without it the session is a cookieless tab."""
        self.timeout = timeout
        stream = url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
        headers = {"Cookie": cookie} if cookie else {}
        self._connection = connect(
            stream,
            subprotocols=["streamlit"],
            max_size=None,
            open_timeout=timeout,
            additional_headers=headers,
        )
        self._socket = self._connection.__enter__()
        self.pages: dict[str, str] = {}  # page title -> page script hash
        self.page_hash = ""
        self.session_id = ""  # the server's name for this session (in upload URLs), from its first run
        self.elements: list[Element] = []
        self._tree: dict[tuple[int, ...], Element] = {}  # the elements by delta path
        self.runs = 0
        # the values set so far of the widgets on the page, by widget id: a browser resends them, and forgets
        # those of widgets a run no longer draws
        self._values: dict[str, WidgetState] = {}

    def close(self) -> None:
        self._connection.__exit__(None, None, None)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- running the script ---------------------------------------------------------------------------

    def run(self, page: str | None = None, widgets: Iterable[WidgetState] = ()) -> float:
        """One script run (and the reruns it asks for) on ``page`` (a title; default: the current one), with
        ``widgets`` set and, as a browser does, every value set before; returns the seconds until the server
        finished it."""
        if page is not None and not self.pages:  # the first run tells the pages' names
            self.run()
        if page is not None:
            if page not in self.pages:
                raise ProtocolError(f"no page named {page!r}: {sorted(self.pages)}")
            self.page_hash = self.pages[page]
        message = BackMsg()
        message.rerun_script.query_string = ""
        message.rerun_script.page_script_hash = self.page_hash
        widgets = list(widgets)
        drawn_by = {element.proto.id: element.fragment for element in self.elements if element.key}
        fragments = {drawn_by.get(w.id, "") for w in widgets}
        if page is None and len(fragments) == 1:  # widgets of one fragment: a browser reruns it alone
            message.rerun_script.fragment_id = fragments.pop()
        self._values |= {w.id: w for w in widgets if w.WhichOneof("value") != "trigger_value"}
        clicked = [w for w in widgets if w.WhichOneof("value") == "trigger_value"]
        message.rerun_script.widget_states.widgets.extend([*self._values.values(), *clicked])
        started = time.perf_counter()
        self._socket.send(message.SerializeToString())
        self._receive_run(started + self.timeout)
        self.runs += 1
        return time.perf_counter() - started

    def _receive_run(self, deadline: float) -> None:
        """Read the server's messages until a run ends. As in a browser, the elements a run does not draw
        again go only when it ends (a run interrupted by a rerun, as when a callback reruns some fragments,
        leaves the page as it was); a run of fragments replaces only theirs."""
        tree, fresh, rerun = self._tree, set(), set()
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise ProtocolError(f"no end of the script run within {self.timeout} s")
            try:
                raw = self._socket.recv(timeout=left)
            except TimeoutError:
                continue
            message = ForwardMsg()
            message.ParseFromString(raw)
            kind = message.WhichOneof("type")
            if kind == "new_session":  # a (re)run starts: of the page, or of the fragments named
                fresh, rerun = set(), set(message.metadata.run.fragment_ids)
                self.session_id = message.new_session.initialize.session_id or self.session_id
                if message.new_session.page_script_hash:
                    self.page_hash = message.new_session.page_script_hash
            elif kind == "navigation":
                self.pages = {p.page_name: p.page_script_hash for p in message.navigation.app_pages}
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                path, delta = tuple(message.metadata.delta_path), message.delta
                element_kind = delta.new_element.WhichOneof("type")
                element = getattr(delta.new_element, element_kind)
                tree[path] = Element(path, element_kind, element, delta.fragment_id)
                fresh.add(path)
            elif kind == "script_finished" and message.script_finished in FINISHED:
                stale = [p for p, e in tree.items() if p not in fresh and (not rerun or e.fragment in rerun)]
                for path in stale:
                    del tree[path]
                self.elements = [tree[path] for path in sorted(tree)]
                shown = {element.proto.id for element in self.elements if element.key}
                self._values = {wid: value for wid, value in self._values.items() if wid in shown}
                return

    # --- reading the page -------------------------------------------------------------------------------

    def find(self, kind: str | None = None, sidebar: bool | None = None) -> list[Element]:
        return [
            e
            for e in self.elements
            if (kind is None or e.kind == kind) and (sidebar is None or (e.path[0] == 1) == sidebar)
        ]

    def widget(self, key: str) -> Element:
        for element in self.elements:
            if element.key == key:
                return element
        raise ProtocolError(f"no widget with key {key!r} on the page")

    def keys(self, prefix: str = "") -> list[str]:
        return [e.key for e in self.elements if e.key is not None and e.key.startswith(prefix)]

    def texts(self, kind: str | None = None, sidebar: bool | None = None) -> list[str]:
        return [e.text for e in self.find(kind, sidebar) if e.text]

    def table(self, key: str) -> pd.DataFrame:
        """The rows of the table (``st.dataframe`` or ``st.data_editor``) with ``key``, as the server sent them
        (a data editor's without the edits made in the browser)."""
        element = self.widget(key)
        if element.kind != "dataframe":
            raise ProtocolError(f"widget {key!r} is a {element.kind}, not a table")
        return convert_arrow_bytes_to_pandas_df(element.proto.arrow_data.data)

    def alerts(self, level: str) -> list[str]:
        """Bodies of ``st.error`` / ``warning`` / ``info`` / ``success`` messages on the page."""
        return [e.proto.body for e in self.find("alert") if ALERTS.get(e.proto.format) == level]

    def exceptions(self) -> list[str]:
        return [f"{e.proto.type}: {e.proto.message}" for e in self.find("exception")]

    def sidebar_text(self) -> str:
        return "\n".join(self.texts(sidebar=True))

    def page_text(self) -> str:
        return "\n".join(self.texts(sidebar=False))

    # --- acting ---------------------------------------------------------------------------------------

    def click(self, key: str) -> float:
        return self.run(widgets=[self.state(key, True)])

    def set(self, key: str, value: Any) -> float:
        return self.run(widgets=[self.state(key, value)])

    def state(self, key: str, value: Any) -> WidgetState:
        """The widget state a browser sends when ``value`` is chosen in the widget with ``key``."""
        element = self.widget(key)
        state = WidgetState(id=element.proto.id)
        if element.kind in TRIGGERS:
            state.trigger_value = bool(value)
        elif element.kind in STRING_LISTS:
            values = value if isinstance(value, list | tuple) else [value]
            state.string_array_value.data.extend(self._option(element, str(v)) for v in values)
        elif element.kind in ("selectbox", "radio", "text_input", "text_area"):
            state.string_value = str(value)
        elif element.kind == "number_input":
            state.double_value = float(value)
        elif element.kind == "slider" and element.proto.type == Slider.SELECT_SLIDER:
            values = value if isinstance(value, list | tuple) else [value]
            state.string_array_value.data.extend(str(v) for v in values)
        elif element.kind == "slider":
            values = value if isinstance(value, list | tuple) else [value]
            state.double_array_value.data.extend(float(v) for v in values)
        elif element.kind == "checkbox":  # toggles too
            state.bool_value = bool(value)
        elif element.kind == "pagination":
            state.int_value = int(value)
        else:
            raise ProtocolError(f"widget {key!r} is a {element.kind}, which this client cannot set")
        return state

    @staticmethod
    def _option(element: Element, shown: str) -> str:
        """The option a button group sends for the label ``shown`` on its button: the option's Markdown, whose
        entities a browser shows as characters ("4&frac12;" for 4½)."""
        if element.kind != "button_group":
            return shown
        return next((o.content for o in element.proto.options if html.unescape(o.content) == shown), shown)
