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
    PageEntry("views/home.py", "Home", ":material/home:"),
    PageEntry("views/data.py", "Data", ":material/table_chart:"),
    PageEntry("views/rate.py", "Rate movies", ":material/star:", "rate_"),
    PageEntry("views/train.py", "Train", ":material/model_training:", "train_"),
    PageEntry("views/recommendations.py", "Recommendations", ":material/recommend:", "recs_"),
    PageEntry("views/compare.py", "Compare & tune", ":material/tune:", "sweep_"),
    PageEntry("views/evaluate.py", "Evaluate", ":material/analytics:"),
    PageEntry("views/embeddings.py", "Embeddings", ":material/scatter_plot:", "embed_"),
)
TITLES = tuple(entry.title for entry in PAGES)


def entry(title: str) -> PageEntry:
    return next(page for page in PAGES if page.title == title)
