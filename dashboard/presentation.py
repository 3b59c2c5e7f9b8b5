"""Presentation mode, for a projector read from the back of a room: large type, no sidebar, no small print.

One switch per page (`switch`) and a link (``?present=1``) turn it on for the whole session; a page calls
`apply` once per run to set the type, `presenting` to lay itself out tighter, and `table` to show a table in
large type with every column in view.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

MODE = "presenting"  # session key: whether presentation mode is on
LINK = "present"  # the address parameter (?present=1)
FONT_PX = 20  # the pages' text
TABLE_PX = 19
CHART_PX = 18  # the charts' smallest text (dashboard.charts.large_type)

STYLE = f"""
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
header[data-testid="stHeader"], [data-testid="stCaptionContainer"], [data-testid="stDecoration"],
[data-testid="stElementContainer"]:has([data-testid="stCaptionContainer"]) {{
  display: none !important;  /* a hidden caption's container too: no gap where the small print was */
}}
[data-testid="stMainBlockContainer"] {{ padding: 0.6rem 1.5rem 3rem 1.5rem; max-width: none; }}
[data-testid="stMain"] .stMarkdown p, [data-testid="stMain"] .stMarkdown li,
[data-testid="stMain"] [data-testid="stWidgetLabel"] p, [data-testid="stMain"] .stRadio label p,
[data-testid="stMain"] [data-testid="stSelectbox"] *, [data-testid="stMain"] button p,
[data-testid="stMain"] [data-testid="stAlert"] p,
[data-testid="stMain"] [data-testid="stSliderThumbValue"], [data-testid="stMain"] [data-testid="stTooltipIcon"],
[data-testid="stMain"] [data-testid="stAlertContentInfo"] p, [data-testid="stMain"] [data-testid="stExpander"] summary p {{
  font-size: {FONT_PX}px !important;
}}
[data-testid="stMain"] [data-testid="stTable"] th, [data-testid="stMain"] [data-testid="stTable"] td {{
  font-size: {TABLE_PX}px !important; padding: 0.2rem 0.5rem !important; line-height: 1.35;
}}
[data-testid="stMain"] [data-testid="stMetricValue"] {{ font-size: 2rem !important; }}
[data-testid="stMain"] [data-testid="stMetricLabel"] p {{ font-size: {FONT_PX}px !important; }}
[data-testid="stMain"] h2 {{ font-size: 1.9rem !important; padding: 0.2rem 0 !important; }}
[data-testid="stMain"] .katex {{ font-size: 1.5rem !important; }}
</style>
"""


def presenting() -> bool:
    return bool(st.session_state.get(MODE, False))


def link_values(key: str) -> dict[str, Any]:
    """The session values an address with ``?present=1`` sets (for `urlstate.open_link`): the mode and
    the page's switch ``key``; none without it."""
    return {MODE: True, key: True} if st.query_params.get(LINK) == "1" else {}


def address() -> dict[str, str]:
    """The address parameter that keeps the mode in a shared link."""
    return {LINK: "1"} if presenting() else {}


def switch(key: str, where: Any = st) -> bool:
    """The page's switch (widget ``key``); on for every page once turned on."""

    def turned() -> None:
        st.session_state[MODE] = st.session_state[key]

    if key not in st.session_state:
        st.session_state[key] = presenting()
    where.toggle(
        "Presentation", key=key, on_change=turned,  # a short label: the whole of it shows beside a heading at 1280 px
        help="Presentation mode: large type for a projector; no sidebar and no small print. The link keeps it: ?present=1.",
    )  # fmt: skip
    return presenting()


def apply() -> None:
    """Large type and no sidebar or captions, when presenting (call once per run)."""
    if presenting():
        st.html(STYLE)


def table(
    frame: pd.DataFrame, key: str, where: Any = st, precision: int = 3, plain: bool = False, **options: Any
) -> None:
    """``frame`` without its index: an interactive grid normally; when presenting (or ``plain``: a narrow
    place where every column must show) a plain table, in large type when presenting, whose columns all
    show (a grid scrolls columns out of view), numbers to ``precision`` decimals. ``options`` go to the
    grid."""
    with where.container(key=key):  # the key names the element on the page (class st-key-<key>)
        if presenting() or plain:
            st.table(frame.style.hide(axis="index").format(precision=precision))
        else:
            st.dataframe(frame, hide_index=True, **options)
