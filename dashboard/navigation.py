"""The dashboard's pages in menu order: the script, title and icon of each, and the prefix of its widget
keys. ``app.py`` builds its navigation from them; tests and benchmarks that visit every page take the
titles from here."""

from __future__ import annotations

from typing import NamedTuple


class PageEntry(NamedTuple):
    script: str
    title: str
    icon: str
    keys: str = ""  # the prefix of the page's widget keys (settings kept across pages: state.keep_settings)


PAGES = (
    PageEntry("pages/home.py", "Home", ":material/home:"),
    PageEntry("pages/data.py", "Data", ":material/table_chart:"),
    PageEntry("pages/rate.py", "Rate movies", ":material/star:", "rate_"),
    PageEntry("pages/train.py", "Train", ":material/model_training:", "train_"),
    PageEntry("pages/recommendations.py", "Recommendations", ":material/recommend:", "recs_"),
    PageEntry("pages/compare.py", "Compare & tune", ":material/tune:", "sweep_"),
    PageEntry("pages/evaluate.py", "Evaluate", ":material/analytics:"),
    PageEntry("pages/embeddings.py", "Embeddings", ":material/scatter_plot:", "embed_"),
    PageEntry("pages/lessons.py", "Lessons", ":material/school:", "lessons_"),
    PageEntry("pages/challenge.py", "Challenge", ":material/emoji_events:", "challenge_"),
)
TITLES = tuple(entry.title for entry in PAGES)


def entry(title: str) -> PageEntry | None:
    """The page titled ``title``; None for another (Streamlit names a page of its old ``pages/`` folder mode
    by its file, "train", for the runs of a fresh server that start before ``inside_app`` turned it off)."""
    return next((page for page in PAGES if page.title == title), None)


def inside_app() -> None:
    """Make sure the page runs inside ``app.py`` (its navigation and sidebar); the first line of every page.

    Streamlit runs a ``pages/`` folder beside the entry script the old (v1) way until ``st.navigation`` is
    first called: a link straight to a page (``/train``) as a fresh server's first request would run that
    page alone. Here such a run turns the old way off and starts again through ``app.py``, which opens the
    same page (its address names it) inside the app.
    """
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
