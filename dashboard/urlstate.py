"""A page's settings in its address (``?algo=sgd&lr=0.05&n_factors=2``), so a link opens the same page.

A page calls `open_link(values)` before drawing its widgets: when the address carries settings it has not
applied yet, they become the widgets' session values and the page runs again (set in the run before the
widgets are drawn, so Streamlit does not warn about a widget given a value twice). After drawing its widgets,
the page calls `show_in_address(query)`, which writes the current settings back into the address.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from recengine.models.base import ParamSpec

APPLIED = "url_applied"  # the last address whose settings became widget values


def parse(spec: ParamSpec, text: str) -> Any:
    """A hyperparameter from its text in an address; a `ValueError` when the spec does not allow it."""
    if spec.kind == "bool":
        if text.lower() not in ("true", "false"):
            raise ValueError(text)
        value: Any = text.lower() == "true"
    elif spec.kind == "choice":
        value = text
    elif spec.kind == "int":
        value = int(text)
    else:
        value = float(text)
    try:
        return spec.check(value)
    except Exception as error:
        raise ValueError(text) from error


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def changed_settings(specs: list[ParamSpec], params: dict[str, Any]) -> dict[str, str]:
    """The hyperparameters that differ from their defaults, as address text."""
    defaults = {spec.name: spec.default for spec in specs}
    return {
        name: as_text(value) for name, value in params.items() if name in defaults and value != defaults[name]
    }


def open_link(values: dict[str, Any]) -> None:
    """Give the widgets ``values`` (widget key → value) once per new address, then run the page again."""
    address = st.query_params.to_dict()
    if not values or st.session_state.get(APPLIED) == address:
        return
    st.session_state[APPLIED] = address
    for key, value in values.items():
        st.session_state[key] = value
    st.rerun()


def show_in_address(query: dict[str, str]) -> None:
    """Make the address carry exactly ``query`` (remembered as applied: it holds what the widgets show)."""
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    st.session_state[APPLIED] = query
