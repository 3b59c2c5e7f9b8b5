"""The dashboard's pages in menu order: the script, title and icon of each. ``app.py`` builds its navigation
from them; tests and benchmarks that visit every page take the titles from here."""

from __future__ import annotations

from typing import NamedTuple


class PageEntry(NamedTuple):
    script: str
    title: str
    icon: str


PAGES = (
    PageEntry("views/home.py", "Home", ":material/home:"),
    PageEntry("views/data.py", "Data", ":material/table_chart:"),
    PageEntry("views/rate.py", "Rate movies", ":material/star:"),
    PageEntry("views/train.py", "Train", ":material/model_training:"),
    PageEntry("views/recommendations.py", "Recommendations", ":material/recommend:"),
    PageEntry("views/compare.py", "Compare & tune", ":material/tune:"),
    PageEntry("views/evaluate.py", "Evaluate", ":material/analytics:"),
    PageEntry("views/embeddings.py", "Embeddings", ":material/scatter_plot:"),
)
TITLES = tuple(entry.title for entry in PAGES)
