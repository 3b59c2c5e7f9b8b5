"""Cached data: the active data set, its splits and a browsable catalogue of its movies.

Data sets and splits are immutable, large, and the same for every session, so they are cached with
``st.cache_resource`` (shared, never copied): ``st.cache_data`` would pickle and unpickle the arrays on
every access (see ``benchmarks/results/dashboard.md`` for the measured cost).

Every cache is keyed by all that it returns: a data set's fingerprint covers its ratings, ids and scale
but not its titles, years and genres, so the splits, the catalogue and the genre list are keyed by
`content_key` (the fingerprint and a digest of the item table) and, for an upload, by whose it is
(`owner`): an upload that copies the bundled ratings under other titles never shows them to anyone else.
Data sets and splits are bounded by bytes, not entries (a large set's filtered copies and splits are
hundreds of megabytes each): those anyone may load share `SharedData` (``RECENGINE_DATA_CACHE_MB`` in
all, least recently used dropped first); an upload's are in its session's own cache (`session_cache`),
which keeps one upload's only, counts against its person's ``RECENGINE_UPLOAD_MB`` (all their tabs) and
empties seconds after its tab closes (an 8-million-rating upload held 165 MB of the shared caches minutes
after its session ended, probe 6).
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import scipy.sparse as sp
import streamlit as st

from dashboard import charts, config
from dashboard.state import DataChoice, data_choice
from recengine import data as loaders
from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.errors import TooLargeError
from recengine.evaluation.split import split_by_spec
from recengine.memory import format_size

SESSION_CACHE = "upload_data_cache"  # session_state: the session's upload, its filtered copy and its splits


def held_bytes(values: Iterable[object]) -> int:
    """The bytes ``values`` (data sets, tuples of them) hold in arrays, sparse matrices and tables, each array
    counted once however many data sets share it (a split's halves share the ids and the item table)."""
    seen: dict[int, int] = {}

    def count(value: object) -> None:
        if isinstance(value, np.ndarray):
            while isinstance(value.base, np.ndarray):  # a view counts as what it views
                value = value.base
            seen[id(value)] = value.nbytes
        elif isinstance(value, sp.spmatrix | sp.sparray):
            for array in (value.data, getattr(value, "indices", None), getattr(value, "indptr", None)):
                if array is not None:
                    count(array)
        elif isinstance(value, pd.DataFrame | pd.Series):
            seen[id(value)] = int(value.memory_usage(index=True).sum()) if isinstance(
                value, pd.DataFrame) else int(value.memory_usage(index=True))  # fmt: skip
        elif isinstance(value, tuple | list):
            for part in value:
                count(part)
        elif isinstance(value, RatingsDataset):
            for part in vars(value).values():  # its arrays, and the matrices it built once asked (csr, csc)
                count(part)

    for value in values:
        count(value)
    return sum(seen.values())


class SharedData:
    """Data sets and splits every session shares (a bundled set, a download, a server file, their filtered
    copies and splits), the least recently used dropped first once all together hold more than
    `config.data_cache_bytes` (``RECENGINE_DATA_CACHE_MB``): however many filters and splits one student
    asks for, the server keeps at most that much of them (probe 7, finding 4: 24 copies of a large set were
    allowed by the entry counts). The newest entry is kept whatever its size, so a set larger than the
    budget is not read again on every click. One session makes an entry while the others asking for it wait."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._making: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, make: Callable[[], Any], spinner: str) -> Any:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]
            try:
                with st.spinner(spinner):
                    value = make()
            finally:
                with self._lock:
                    self._making.pop(key, None)
            with self._lock:
                self._entries[key] = value
                budget = config.data_cache_bytes()
                while len(self._entries) > 1 and held_bytes(self._entries.values()) > budget:
                    self._entries.popitem(last=False)
        return value

    def held(self) -> int:
        """The bytes the entries hold now."""
        with self._lock:
            return held_bytes(list(self._entries.values()))


@st.cache_resource(show_spinner=False)
def shared_data() -> SharedData:
    """The server's one `SharedData` (``st.cache_resource.clear()`` empties it with the other caches)."""
    return SharedData()


class SessionData(dict):
    """One session's own cache of what its upload makes (the data set, its filtered copy, its splits), emptied
    seconds after its tab closes. It keeps one upload's only: reading another drops the earlier one's (as the
    upload folder keeps one file), and what a person's sessions hold together, all their tabs, may not pass
    `config.upload_max_bytes` (probe 7, finding 6: five uploads read in two tabs held 1 GB)."""

    def __init__(self, person: str) -> None:
        super().__init__()
        self.person = person


_live_session_data: weakref.WeakValueDictionary[int, SessionData] = weakref.WeakValueDictionary()  # by id


def session_cache() -> SessionData:
    """This session's own cache of what its upload makes, emptied seconds after its tab closes (the trainers'
    watchdog, `jobs.when_session_ends`) and gone with the session."""
    cache = st.session_state.get(SESSION_CACHE)
    if cache is None:
        from dashboard import jobs
        from dashboard.profiles import current_owner

        cache = st.session_state[SESSION_CACHE] = SessionData(current_owner())
        _live_session_data[id(cache)] = cache
        jobs.when_session_ends("upload data", cache.clear)
    return cache


def _kept_in_session(upload: str, key: tuple, make: Callable[[], Any]) -> Any:
    """``make()`` kept under ``(upload, *key)`` in the session's own cache, ``upload`` naming the upload it
    comes from (`owner`): another upload's entries leave first, then the least recently used until the
    person's uploads in memory fit their budget (a split never pushes out the data set it splits, which the
    page goes on using: that would read the file again on every click); `TooLargeError` when they do not."""
    cache = session_cache()
    key = (upload, *key)
    if key in cache:
        cache[key] = cache.pop(key)  # the most recently used last
        return cache[key]
    for stale in [k for k in cache if k[0] != upload]:
        del cache[stale]
    value = make()
    others = sum(
        held_bytes(other.values()) for other in list(_live_session_data.values())
        if other is not cache and cache.person and other.person == cache.person
    )  # fmt: skip
    budget = config.upload_max_bytes()
    kept = (upload, "data", data_choice()) if key[1] == "split" else None
    while held_bytes([*cache.values(), value]) + others > budget:
        leaving = [k for k in cache if k != kept]
        if not leaving:
            raise TooLargeError(_over_memory_budget(held_bytes([*cache.values(), value]), others, budget))
        del cache[leaving[0]]
    cache[key] = value
    return value


def _over_memory_budget(size: int, others: int, budget: int) -> str:
    held = f" (your other tabs hold {format_size(others)} of it)" if others else ""
    return (
        f"Your upload, with what this page makes of it (a filtered copy, a split), would take "
        f"{format_size(size)} of the server's memory; your uploads, read in all your tabs, may take "
        f"{format_size(budget)}{held}. Load another data set in your other tabs, upload a smaller file (fewer "
        f"ratings, or only its ratings), or ask whoever runs the server to raise {config.UPLOAD_ENV}."
    )


def _source(kind: str, value: str, options: tuple[tuple[str, object], ...]) -> RatingsDataset:
    return shared_data().get(
        ("source", kind, value, options), lambda: _read_source(kind, value, options), "Loading the data set…"
    )


def _read_source(kind: str, value: str, options: tuple[tuple[str, object], ...]) -> RatingsDataset:
    if kind == "bundled":
        return loaders.load_bundled()
    settings = dict(options)
    columns = settings.get("columns")
    scale = settings.get("scale")
    return loaders.load(
        settings.get("path", value),
        format=settings.get("format"),
        columns=dict(columns) if columns else None,
        scale=RatingScale(*scale) if scale else None,
        hide_content=kind == "path",  # a server file is not the reader's: messages quote none of it
    )


def load_choice(choice: DataChoice) -> RatingsDataset:
    """The data set ``choice`` names, with its filters applied (an upload's from its session's own cache)."""
    if choice.kind == "upload":
        return _kept_in_session(repr(choice.options), ("data", choice), lambda: _filtered(choice))
    return _shared_choice(choice)


def _shared_choice(choice: DataChoice) -> RatingsDataset:
    return shared_data().get(("choice", choice), lambda: _filtered(choice), "Filtering…")


def _filtered(choice: DataChoice) -> RatingsDataset:
    if choice.kind == "challenge":
        return _challenge_training(choice.value)
    read = _read_source if choice.kind == "upload" else _source
    data = read(choice.kind, choice.value, choice.options)
    if choice.min_item_ratings > 1 or choice.min_user_ratings > 1:
        data = loaders.filter_min_ratings(data, choice.min_item_ratings, choice.min_user_ratings)
    return data


def _challenge_training(challenge_id: str) -> RatingsDataset:
    """The training part of a challenge: every rating of its data set but those it holds out (the split is
    the shared cached one its scoring uses)."""
    from dashboard import challenge

    stored = challenge.load(challenge_id)
    data = load_choice(stored.choice)
    train, _ = split(data, stored.spec.split, stored.spec.seed)
    if train.fingerprint != stored.train_fingerprint:
        raise challenge.ChallengeError(
            "The challenge's data set has changed since it opened: ask your teacher to open a new one."
        )
    return train


def active_data() -> RatingsDataset:
    choice = data_choice()
    data = load_choice(choice)
    if choice.kind == "upload":  # its models leave the shared store when the session ends
        from dashboard.uploads import note_upload_data

        note_upload_data(data.fingerprint)
    return data


def content_key(data: RatingsDataset) -> str:
    """The fingerprint (ratings, ids, scale) and a digest of the item table (titles, years, genres): two
    data sets with one key show the same thing everywhere. Kept on the data set like the engine's other
    derived ``_*_cache`` attributes (the same value whoever computes it; 30 ms on the bundled set)."""
    cached = getattr(data, "_content_key_cache", None)
    if cached is None:
        digest = hashlib.blake2b(data.fingerprint.encode(), digest_size=16)
        items = data.items
        for column in items.columns:
            values = items[column].map(lambda v: "|".join(map(str, v)) if isinstance(v, list | tuple) else v)
            digest.update(f"|{column}|".encode())
            digest.update(pd.util.hash_pandas_object(values.astype(str), index=False).to_numpy().tobytes())
        cached = data._content_key_cache = digest.hexdigest()
    return cached


def owner() -> str:
    """Whose the session's data is: while an upload is active, its path inside the session's own upload
    folder; "" for data anyone may load."""
    choice = data_choice()
    return repr(choice.options) if choice.kind == "upload" else ""


def cache_key(data: RatingsDataset) -> str:
    """What the shared caches of this module key ``data`` by: its content and, for an upload, its owner."""
    return f"{content_key(data)}|{owner()}"


def _split(data: RatingsDataset, key: str, spec: str, seed: int) -> tuple[RatingsDataset, RatingsDataset]:
    return shared_data().get(
        ("split", key, spec, seed), lambda: split_by_spec(data, spec, seed), "Splitting…"
    )


def split(data: RatingsDataset, spec: str, seed: int) -> tuple[RatingsDataset, RatingsDataset]:
    """(train, test) of ``data`` by a split spec such as ``user:0.2`` (they carry its item table, so they
    are cached by `cache_key`, not by fingerprint alone; an upload's in its session's own cache)."""
    if owner():
        return _kept_in_session(
            owner(), ("split", content_key(data), spec, seed), lambda: split_by_spec(data, spec, seed)
        )
    return _split(data, cache_key(data), spec, seed)


@st.cache_resource(max_entries=8, show_spinner=False)
def _catalogue(_data: RatingsDataset, key: str) -> pd.DataFrame:
    counts = _data.item_counts()
    sums = np.bincount(_data.item_codes, weights=_data.ratings, minlength=_data.n_items)
    frame = _data.items[["title", "year"]].copy()
    frame["genre_list"] = _data.items["genres"]
    frame["genres"] = [", ".join(g) for g in frame["genre_list"]]
    frame["item"] = _data.item_ids
    frame["ratings"] = counts
    frame["mean_rating"] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    frame["search"] = [title_key(title) for title in frame["title"].fillna("").astype(str)]
    return frame


# MovieLens files an article after the title ("Shining, The (1980)", "Postman, The (Postino, Il)").
# ", The" at the end of a title or before its "(1980)": the phrase before it, back to a parenthesis or the start,
# takes it in front. Found by its literal ", " and each phrase's start looked up (linear in the title's length:
# a lazy "phrase, article" pattern tried every start and froze the server on one 100,000-letter title).
_TRAILING_ARTICLE = re.compile(
    r", (the|a|an|les|la|le|l'|il|el|das|der|die|los|las)(?=\s*(?:\(|\)|$))", re.IGNORECASE
)
COMPACT_MATCH = 6  # letters from which a query also matches with spaces and hyphens ignored ("spiderman")
_UNSPLIT = MappingProxyType(  # letters NFKD does not split, and "&": read-only, shared by every session
    str.maketrans({"æ": "ae", "œ": "oe", "ø": "o", "ß": "ss", "ł": "l", "đ": "d", "þ": "th", "&": " and "})
)


def _article_first(title: str) -> str:
    """ "Shining, The (1980)" → "The Shining (1980)", for each trailing article of each phrase."""
    parts, done, floor = [], 0, 0  # floor: where the phrase before the next article may start
    for match in _TRAILING_ARTICLE.finditer(title):
        paren = max(title.rfind("(", floor, match.start()), title.rfind(")", floor, match.start()))
        floor = paren + 1 if paren >= 0 else floor
        if floor >= match.start():  # no phrase before it
            continue
        parts += [title[done:floor], f"{match.group(1)} {title[floor : match.start()]}"]
        done = floor = match.end()
    return "".join(parts) + title[done:]


def title_key(title: str) -> str:
    """A title as people type it: the article in front, lower case, accents and apostrophes gone, "&" as
    "and", other punctuation a space, words of any script kept ("Shining, The (1980)" → "the shining
    1980", "Æon Flux" → "aeon flux", "Don't Look Now" → "dont look now")."""
    title = _article_first(title).casefold().translate(_UNSPLIT)
    plain = "".join(c for c in unicodedata.normalize("NFKD", title) if not unicodedata.combining(c))
    plain = re.sub(r"['’`]", "", plain)
    return " ".join(re.sub(r"[\W_]+", " ", plain).split())


def title_matches(keys: pd.Series, query: str) -> pd.Series:
    """How well each `title_key` matches a typed ``query``: 0 not at all; 1 when each of its words starts a
    word of the title ("the thing" finds The Thing, not There's Something About Mary; "omen" finds The Omen,
    not What Women Want) or, for a query of `COMPACT_MATCH` letters or more, it is in the title with spaces
    ignored ("spiderman"); 2 when the title holds its words in a row ("e.t." finds E.T. first)."""
    words = title_key(query).split()
    if not words:  # nothing typed keeps every title; only punctuation typed matches none
        return pd.Series(0 if query.strip() else 1, index=keys.index)
    found = pd.Series(True, index=keys.index)
    for word in words:
        found &= keys.str.contains(r"(?:^| )" + re.escape(word), regex=True)
    compact = "".join(words)
    if len(compact) >= COMPACT_MATCH:
        found |= keys.str.replace(" ", "", regex=False).str.contains(compact, regex=False)
    phrase = keys.str.contains(r"(?:^| )" + re.escape(" ".join(words)) + r"(?: |$)", regex=True)
    return found.astype(int) + (found & phrase).astype(int)


def catalogue(data: RatingsDataset) -> pd.DataFrame:
    """One row per item code: title, year, genres (text), genre_list, item (raw id), ratings, mean_rating,
    search (`title_key`: what `title_matches` searches); shared between sessions, so read-only."""
    return _catalogue(data, cache_key(data))


@st.cache_resource(max_entries=64, show_spinner=False)
def _browsed(
    _data: RatingsDataset,
    key: str,
    query: str,
    genre: str | None,
    column: str,
    ascending: bool,
    min_ratings: int,
) -> np.ndarray:
    table = _catalogue(_data, key)
    shown = table.assign(match=title_matches(table["search"], query))
    shown = shown[(shown["match"] > 0) & (shown["ratings"] >= min_ratings)]
    if genre is not None:
        shown = shown[shown["genre_list"].map(lambda names: genre in names)]
    shown = shown.sort_values(  # the titles holding the typed words in a row first
        ["match", column, "ratings"], ascending=[False, ascending, False], na_position="last"
    )
    codes = shown.index.to_numpy(dtype=np.int32)
    codes.flags.writeable = False  # shared by every session
    return codes


def browsed(
    data: RatingsDataset, query: str, genre: str | None, column: str, ascending: bool, min_ratings: int = 0
) -> np.ndarray:
    """The item codes of the catalogue's movies a person browsing sees, in order: those whose title matches
    ``query`` (`title_matches`, the titles holding its words in a row first), of ``genre`` (None: any), with
    at least ``min_ratings`` ratings, sorted by the catalogue's ``column``, then the most rated first. Made
    once per data set and choice, and shared (a page turn, or opening the page again, sorted every movie)."""
    return _browsed(data, cache_key(data), query, genre, column, ascending, min_ratings)


@st.cache_resource(max_entries=8, show_spinner=False)
def _most_rated(_data: RatingsDataset, key: str, n: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
    table = _catalogue(_data, key).sort_values("ratings", ascending=False, kind="stable").head(n)
    return tuple(table.index.to_list()), tuple(table["title"].astype(str))


def most_rated(data: RatingsDataset, n: int) -> dict[int, str]:
    """The ``n`` most rated movies' codes and titles, most rated first: a picker's options. Sorted once per
    data set (a picker of 5,000 that looked each title up in the catalogue took 0.3 s of every script run)."""
    codes, titles = _most_rated(data, cache_key(data), n)
    return dict(zip(codes, titles, strict=True))


@st.cache_resource(max_entries=8, show_spinner=False)
def _genres(_data: RatingsDataset, key: str) -> tuple[str, ...]:
    names = {g for row in _catalogue(_data, key)["genre_list"] for g in row if g and not g.startswith("(")}
    return tuple(sorted(names))  # shared by every session: immutable


def genres(data: RatingsDataset) -> tuple[str, ...]:
    return _genres(data, cache_key(data))


@st.cache_resource(max_entries=8, show_spinner=False)
def _overview_charts(_data: RatingsDataset, key: str) -> dict[str, go.Figure | None]:
    return {
        "ratings": charts.rating_distribution(_data),
        "tail": charts.popularity_long_tail(_data),
        "users": charts.ratings_per_user(_data),
        "time": charts.ratings_over_time(_data),
        "genres": charts.genre_counts(_data),
    }


def overview_charts(data: RatingsDataset) -> dict[str, go.Figure | None]:
    """The Data page's charts of ``data`` (None where it has no timestamps or no genres): made once per data
    set, by `cache_key`, and shared, so read-only (``st.plotly_chart`` only reads a figure)."""
    return _overview_charts(data, cache_key(data))


@st.cache_resource(max_entries=8, show_spinner=False)
def _year_span(_data: RatingsDataset, key: str) -> tuple[int, int] | None:
    years = _catalogue(_data, key)["year"].dropna()
    return (int(years.min()), int(years.max())) if len(years) else None


def year_span(data: RatingsDataset) -> tuple[int, int] | None:
    """The first and last year of the data set's movies (None when it has no years)."""
    return _year_span(data, cache_key(data))


@st.cache_resource(max_entries=8, show_spinner=False)
def _titles(_data: RatingsDataset, key: str) -> MappingProxyType:
    table = _catalogue(_data, key)
    return MappingProxyType(dict(zip(table["item"], table["title"].astype(str), strict=True)))


def titles_of(data: RatingsDataset, items: list[object]) -> dict[object, str]:
    """Titles of raw item ids (for files and messages): looked up in one table per data set, an id written
    otherwise ("42" for 42) through the data set's own lookup."""
    titles, out = _titles(data, cache_key(data)), {}
    for item in items:
        try:
            out[item] = titles[item] if item in titles else str(titles[data.item_ids[data.item_code(item)]])
        except Exception:  # an id from another data set: no title
            out[item] = ""
    return out
