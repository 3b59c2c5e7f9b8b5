"""Your recommendations: the model to use, your folded-in vector, and a small live preview."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import state
from dashboard.runs import cached, run_key, train_now
from dashboard.widgets import movie_title
from recengine.data.dataset import RatingsDataset
from recengine.errors import ParameterError, UnknownIdError
from recengine.evaluation.split import SplitSpec
from recengine.models.foldin import UserVector, fold_in
from recengine.serving.cluster import Clusters, Projection, cluster_factors, project
from recengine.serving.recommend import recommend

PREVIEW_N = 5
AUTO_FULL_FIT = 2_000_000  # ratings up to which the model serving a person is refitted on all of them at once
FULL_FIT_KEY = "recs_full_fit_"  # + run id: the person asked for the all-ratings fit of a large data set
TSNE_POINTS = 1000  # t-SNE samples above this: about 5 s on a busy 2-core machine


def recommending_run(data: RatingsDataset) -> state.Run | None:
    """The run to recommend with by default: the active one if it ranks and has taste factors, else the
    latest ranking run with them, else the active or latest rating model; None when no run has taste factors
    (most popular and the baseline make no list for a person)."""
    runs = [run for run in state.runs_on(data.fingerprint) if run.model.has_taste]
    active = state.active_run(data.fingerprint)
    active = active if any(run is active for run in runs) else None
    if active is not None and active.kind == "ranking":
        return active
    ranking = [run for run in runs if run.kind == "ranking"]
    return ranking[-1] if ranking else active or (runs[-1] if runs else None)


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
    with st.spinner(f"Fitting {run.label} with the same settings on all {data.n_ratings:,} ratings…"):
        return train_now(data, run.algo, run.params, "none")


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


def for_me(run: state.Run, data: RatingsDataset, n: int = 10, **filters) -> pd.DataFrame:
    served = serving_run(run, data)
    return recommend(served.model, data, vector=my_vector(served, data), n=n, **filters)


def preview(data: RatingsDataset) -> None:
    """Your top picks right now, updated with every rating (shown beside the rating widgets)."""
    run = recommending_run(data)
    with st.container(border=True, key="rate_preview"):
        if run is None:
            st.markdown("**Your top picks** appear here once a model that follows a taste is trained.")
            st.page_link(
                "pages/train.py", label="Train one (a few seconds)", icon=":material/model_training:"
            )
            return
        st.markdown(f"**Your top picks now** ({run.label})")
        if not state.my_ratings():
            st.caption("Rate a movie to personalise this list.")
        table = for_me(run, data, n=PREVIEW_N)
        for row in table.itertuples():
            st.markdown(
                f"{row.Index + 1}. **{movie_title(row.title, row.year)}**  \n:gray[{row.explanation}]"
            )


def has_factors(run: state.Run, side: str = "item") -> bool:
    factors = getattr(run.model, f"{side}_factors_", None)
    return factors is not None and factors.ndim == 2 and factors.shape[1] >= 2


@st.cache_resource(max_entries=16, show_spinner="Clustering…")
def _clusters(_run: state.Run, run_id: str, side: str, n_clusters: int) -> Clusters:
    return cluster_factors(_run.model, side, n_clusters, seed=0)


def clusters_of(run: state.Run, side: str, n_clusters: int) -> Clusters:
    """KMeans groups of ``run``'s user or item factors (cached: a run's model never changes)."""
    return _clusters(run, run.run_id, side, n_clusters)


@st.cache_resource(max_entries=16, show_spinner="Projecting…")
def _projection(_run: state.Run, run_id: str, method: str, _rows: np.ndarray, rows_key: int) -> Projection:
    return project(_run.model, "items", method, rows=_rows, max_points=TSNE_POINTS, seed=0)  # one thread


def item_projection(run: state.Run, method: str, rows: np.ndarray, rows_key: int) -> Projection:
    """A 2-D map of the items ``rows`` (named by ``rows_key``, e.g. the minimum number of ratings)."""
    return _projection(run, run.run_id, method, rows, rows_key)
