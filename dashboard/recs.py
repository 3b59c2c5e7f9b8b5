"""Your recommendations: the model to use, your folded-in vector, and a small live preview."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import jobs, state
from dashboard.names import escaped
from dashboard.profiles import current_owner
from dashboard.runs import cached, run_key, train_now
from dashboard.widgets import movie_title, shortened
from recengine.data.dataset import RatingsDataset
from recengine.errors import ParameterError, UnknownIdError
from recengine.evaluation.split import SplitSpec
from recengine.models.foldin import UserVector, fold_in
from recengine.serving.cluster import Clusters, Projection, cluster_factors, project
from recengine.serving.recommend import GENERAL_APPEAL, Reader, recommend

T = TypeVar("T")
PREVIEW_N = 5
PREVIEW_CHARS = 64  # a reason in at most two lines of the preview's narrow column at 1280 px
AUTO_FULL_FIT = 2_000_000  # ratings up to which the model serving a person is refitted on all of them at once
FULL_FIT_KEY = "recs_full_fit_"  # + run id: the person asked for the all-ratings fit of a large data set
TSNE_POINTS = 1000  # t-SNE samples above this: about 5 s on a busy 2-core machine


REASON_CHARS = 96  # a film's reason in one line: about 105 characters of body text fit at 1280 px
RANKED_BY = "precision@10"  # how the best of a person's own runs is measured, when they chose none


def taste_runs(data: RatingsDataset, groups: tuple[str, ...] = ("mine",)) -> list[state.Run]:
    """The runs in ``groups`` on this data set whose model has taste factors (can make a person's list)."""
    return [run for run in state.runs_on(data.fingerprint) if run.group in groups and run.model.has_taste]


def serving_choice(data: RatingsDataset) -> tuple[state.Run | None, str]:
    """The run that serves the person's lists, and why it is that one: the one they chose; else the best
    measured (`RANKED_BY` on its test split) among their own runs with taste factors, unmeasured ones last;
    else None (the caller offers the default, trained on demand). Never a lesson's or a sweep's run unless
    chosen, and never "the latest" for being latest."""
    chosen = state.chosen_serving(data.fingerprint)
    if chosen is not None and chosen.model.has_taste:
        return chosen, "you chose it"
    own = taste_runs(data)
    if not own:
        return None, ""
    measured = [run for run in own if run.metrics.get(RANKED_BY) is not None]
    if not measured:
        return own[0], "your first run with taste factors (none of them was measured on a test split)"
    best = max(measured, key=lambda run: run.metrics[RANKED_BY])
    if len(own) == 1:
        return best, "your run with taste factors"
    return best, f"the best P@10 among your runs ({best.metrics[RANKED_BY]:.3f} on its test split)"


def served_name(run: state.Run) -> str:
    """The run's name with its number of factors: "Weighted ALS · 64 factors"."""
    factors = run.params.get("n_factors")
    if factors is None or "factor" in run.title:
        return run.title
    return f"{run.title} · {factors} factor{'s' if factors != 1 else ''}"


def serving_run(run: state.Run, data: RatingsDataset) -> state.Run:
    """The run a person's list comes from: ``run`` itself when it was trained on every rating (or stopped
    early, which no setting reproduces), else the same settings fitted on every rating, trained once and
    cached like any model. A split measures a model; a person is served best from all the ratings. Above
    `AUTO_FULL_FIT` ratings that fit waits for a click (`serve_everything`)."""
    if run.split == "none" or run.stopped_at is not None:
        return run
    asked = st.session_state.get(f"{FULL_FIT_KEY}{run.run_id}")
    if (
        data.n_ratings > AUTO_FULL_FIT
        and not asked
        and cached(run_key(data, run.algo, run.params, "none")) is None
    ):
        return run
    served = st.session_state.setdefault(SERVED_MEMO, {})
    if run.run_id not in served:  # asked for by the questions and the picks of every run of the Rate page
        with st.spinner(f"Fitting {run.label} with the same settings on all {data.n_ratings:,} ratings…"):
            served[run.run_id] = train_now(data, run.algo, run.params, "none")
    return served[run.run_id]


SERVED_MEMO = "recs_served_memo"  # session_state: {a run's id: the run of its settings on every rating}


def _split_in_words(split: str) -> str:
    """A run's split as a sentence part; a stored split this version does not know stays as it was."""
    try:
        return SplitSpec.parse(split).in_words()
    except ParameterError:
        return f"split {split}"


def serving_note(run: state.Run, served: state.Run, data: RatingsDataset) -> str:
    """What the list is served from, in a sentence."""
    if served is not run:
        return (
            f"Served by {run.label} with the same settings fitted on all {data.n_ratings:,} ratings; the model "
            f"you trained ({_split_in_words(run.split)}) measured how good it is."
        )
    if run.split == "none":
        return f"Served by {run.label}, trained on all {data.n_ratings:,} ratings."
    return (
        f"Served by {run.label} as trained ({_split_in_words(run.split)}: a stopped run, or a large "
        "data set)."
    )


def my_vector(run: state.Run, data: RatingsDataset) -> UserVector:
    """Your ratings folded into ``run``'s model (no retraining); movies a filter left out are skipped."""
    pairs = []
    for item, rating in state.my_ratings().items():
        with contextlib.suppress(UnknownIdError):
            pairs.append((data.item_code(item), rating))
    codes = np.array([code for code, _ in pairs], dtype=np.int64)
    values = np.array([rating for _, rating in pairs], dtype=np.float64)
    return fold_in(run.model, codes, values)


def taste_key(run: state.Run) -> str:
    """The key of the λ slider for ``run``'s list for the person: lists whose default λ is the same share
    one slider (`pages/recommendations.py`), so the Rate page's preview reads the value set there."""
    return f"recs_taste_{run.model.default_taste:g}"


def list_settings(data: RatingsDataset, run: state.Run) -> dict:
    """How long the person's list is, its λ and its filters, as the Recommendations page has them set (the
    same session values its widgets write), or their defaults: one list wherever it is shown."""
    session = st.session_state
    years = session.get("recs_years")
    known = catalogue_years(data)
    span = tuple(years) if years and known and tuple(years) != known else None
    return {
        "n": int(session.get("recs_n", 10)),
        "taste": float(session.get(taste_key(run), run.model.default_taste)),
        "genres": list(session.get("recs_genres") or []) or None,
        "min_ratings": int(session.get("recs_min_ratings", 0)),
        "years": span,
    }


def catalogue_years(data: RatingsDataset) -> tuple[int, int] | None:
    from dashboard.data import year_span

    return year_span(data)


def my_list(
    run: state.Run, data: RatingsDataset, settings: dict
) -> tuple[pd.DataFrame, state.Run, UserVector]:
    """The person's list from ``run`` with ``settings`` (`list_settings`): the table, the run that served it
    (`serving_run`) and their folded-in vector. The Rate page's preview and the Recommendations page both
    call this, so they show the same films. Made again only when the ratings, the model or the settings
    changed since the session's last list (a page turn or a visit to another page reuses it)."""
    served = serving_run(run, data)
    wanted = (data.fingerprint, served.run_id, tuple(state.my_ratings().items()), repr(settings))
    kept = st.session_state.get(LIST_MEMO)
    if kept is not None and kept[0] == wanted:
        table, vector = kept[1], kept[2]
    else:
        vector = my_vector(served, data)
        table = recommend(served.model, data, vector=vector, **settings)
        st.session_state[LIST_MEMO] = (wanted, table, vector)
    return table.copy(), served, vector


LIST_MEMO = "recs_list_memo"  # session_state: (what the last list was made from, its table, the vector)


def remembered(name: str, wanted: tuple, make: Callable[[], T]) -> T:
    """``make()``, or what it gave last in this session when ``wanted`` (everything it is made from: the
    data set, the model, the person's ratings, the settings) is the same: a page's other reruns do not make
    a person's lists again. One value per ``name``, in session state: never shared between people."""
    key = f"recs_memo_{name}"
    kept = st.session_state.get(key)
    if kept is None or kept[0] != wanted:
        kept = st.session_state[key] = (wanted, make())
    return kept[1]


def preview(data: RatingsDataset) -> None:
    """The person's top picks right now (the first `PREVIEW_N` of their list on the Recommendations page),
    updated with every rating (shown beside the rating widgets)."""
    run, _ = serving_choice(data)
    with st.container(border=True, key="rate_preview"):
        if run is None:
            st.markdown("**Your top picks** appear here once you have a model that follows a taste.")
            st.page_link(
                "pages/recommendations.py",
                label="Train the default one (a few seconds)",
                icon=":material/model_training:",
            )
            return
        st.markdown(f"**Your top picks now** ({served_name(run)})")
        if not state.my_ratings():
            st.caption("Rate a movie to personalise this list.")
        table, served, _ = my_list(run, data, list_settings(data, run))
        for number, row in enumerate(table.head(PREVIEW_N).itertuples(), start=1):
            reason = one_line_reason(row, Reader.you(), len(table), served.model.has_taste, PREVIEW_CHARS)
            st.markdown(
                f"{number}. **{escaped(movie_title(row.title, row.year))}**  \n:gray[{escaped(reason)}]",
                help=reason_details(row, number, served.kind),
            )
        st.page_link(
            "pages/recommendations.py", label="The whole list, with its settings", icon=":material/recommend:"
        )


def has_factors(run: state.Run, side: str = "item") -> bool:
    factors = getattr(run.model, f"{side}_factors_", None)
    return factors is not None and factors.ndim == 2 and factors.shape[1] >= 2


class OneMapAtATime:
    """Maps and groups (t-SNE, KMeans) are computed in the server's process, one at a time for the whole
    server, on one thread at the trainers' priority (`jobs.like_a_trainer`), so they take one core at most,
    after every click, and trainings keep the other; and one at a time per person, so a
    person's many tabs queue behind each other, not in front of a classmate (the person's turn is taken
    before the server's)."""

    def __init__(self) -> None:
        self.server = threading.Lock()
        self.people: dict[str, tuple[threading.Lock, int]] = {}  # a person's lock, and how many want it
        self.guard = threading.Lock()

    @contextlib.contextmanager
    def turn(self, person: str) -> Iterator[None]:
        with self.guard:
            own, wanting = self.people.get(person, (threading.Lock(), 0))
            self.people[person] = (own, wanting + 1)
        try:
            with jobs.like_a_trainer(), own, self.server:
                yield
        finally:
            with self.guard:
                own, wanting = self.people[person]
                if wanting == 1:
                    del self.people[person]
                else:
                    self.people[person] = (own, wanting - 1)


MAPS = OneMapAtATime()


@st.cache_resource(max_entries=16, show_spinner="Clustering…")
def _clusters(_run: state.Run, run_id: str, side: str, n_clusters: int) -> Clusters:
    with MAPS.turn(current_owner()):
        return cluster_factors(_run.model, side, n_clusters, seed=0)


def clusters_of(run: state.Run, side: str, n_clusters: int) -> Clusters:
    """KMeans groups of ``run``'s user or item factors (cached: a run's model never changes)."""
    return _clusters(run, run.run_id, side, n_clusters)


@st.cache_resource(max_entries=16, show_spinner="Projecting…")
def _projection(_run: state.Run, run_id: str, method: str, _rows: np.ndarray, rows_key: int) -> Projection:
    with MAPS.turn(current_owner()) if method != "pca" else contextlib.nullcontext():
        return project(_run.model, "items", method, rows=_rows, max_points=TSNE_POINTS, seed=0)  # one thread


def item_projection(run: state.Run, method: str, rows: np.ndarray, rows_key: int) -> Projection:
    """A 2-D map of the items ``rows`` (named by ``rows_key``, e.g. the minimum number of ratings)."""
    return _projection(run, run.run_id, method, rows, rows_key)


# --- a film's reason: one line in plain words, the details on demand -------------------------------------


def one_line_reason(row, reader: Reader, listed: int, has_taste: bool, chars: int = REASON_CHARS) -> str:
    """Why a film of a list (a row of `recommend`'s table, ``listed`` films long) is there, in plain words
    within ``chars``: the rated films that led to it (as many as fit), else the first clause of its full
    explanation (`reason_details` gives the whole of it)."""
    because = list(row.because)
    if because:
        return _led_by(f"Because {reader.subject} rated ", because, chars)
    personal = getattr(row, "personal", np.nan)
    if has_taste and personal < GENERAL_APPEAL and row.model_rank > listed:
        return f"Brought in for {reader.possessive} genres; otherwise mostly general appeal"
    clause = re.split(r"; |: ", re.sub(r"^Predicted [\d.]+★\. ", "", row.explanation), maxsplit=1)[0]
    clause = clause.rstrip(".")
    if len(clause) <= chars:
        return clause
    return clause[: chars - 1].rsplit(" ", 1)[0] + "…"


def _led_by(opening: str, titles: list[str], chars: int) -> str:
    """``opening`` and the first of ``titles`` that fit in ``chars`` ("A, B and 1 more")."""
    for shown in range(len(titles), 0, -1):
        rest = len(titles) - shown
        names = titles[:shown] + ([f"{rest} more"] if rest else [])
        text = opening + (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0])
        if len(text) <= chars:
            return text
    more = f" and {len(titles) - 1} more" if len(titles) > 1 else ""
    return opening + shortened(titles[0], chars - len(opening) - len(more)) + more


def reason_details(row, number: int, kind: str) -> str:
    """The whole explanation of the ``number``-th film of a list and its numbers, for a tooltip (Markdown)."""
    place = f" (the model's #{row.model_rank})" if row.model_rank != number else ""
    predicted = f" · predicted rating {row.predicted_rating:.1f}★" if kind == "rating" else ""
    return f"{row.explanation}\n\nGenres: {', '.join(row.genres)} · score {row.score:.3g}{place}{predicted}"
