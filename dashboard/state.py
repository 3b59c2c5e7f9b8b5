"""A person's workspace: everything the app knows of the person in front of it, under a few documented keys
of ``st.session_state``, kept on the server between visits by `dashboard.workspace`.

=================  =========================================================================================
key                what it holds
=================  =========================================================================================
``data_choice``    `DataChoice`: the active data set (its source and filters); bundled by default
``my_ratings``     ``{source key: {raw item id: rating}}``: the person's ratings, per data source
``runs``           ``{run id: Run}``: the person's runs, oldest first, each in a group (`GROUPS`): their own,
                   a lesson's, a sweep's
``serving_run``    ``{data fingerprint: run id}``: the model the person chose to serve their lists
``train_run``      the run id the Train page shows (the last one trained or taken from the cache there)
``training_job``   the `TrainingJob` running or just finished in the background (or absent)
``profile_name``   the profile name last saved or loaded
=================  =========================================================================================

Nothing picks "the latest run" on a person's behalf: the model serving their lists is the one they chose,
else the best measured among their own runs (`dashboard.recs.serving_choice`). Pages keep a few results of
their own, prefixed by the page: ``train_figure`` (the live chart, rebuilt only when an epoch arrives),
``sweep_result`` (the last sweep's table). Widgets keep their own keys, prefixed the same way. Nothing here
is module-level mutable state, so sessions never share ratings or runs. Trained models themselves are shared
through the model cache, which holds only what a data set and settings determine, never anyone's ratings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import streamlit as st

MAX_RUN_NAME = 80  # characters of a run's name

DATA = "data_choice"
RATINGS = "my_ratings"
RUNS = "runs"
SERVING = "serving_run"
TRAIN_RUN = "train_run"
JOB = "training_job"
PROFILE = "profile_name"


@dataclass(frozen=True)
class DataChoice:
    """Which data set is active: ``kind`` in bundled, download, upload, path, or challenge (the training part
    of the challenge whose id is ``value``: `dashboard.challenge`); and its filters."""

    kind: str = "bundled"
    value: str = "ml-latest-small"
    # "path", "format", "columns" ((role, column), ...), "scale"; a challenge's: "source", "title"
    options: tuple[tuple[str, Any], ...] = ()
    min_item_ratings: int = 1
    min_user_ratings: int = 1

    @property
    def source_key(self) -> str:
        """Names the id space your ratings belong to (filters do not change it; a challenge's training part
        is in its whole data set's)."""
        if self.kind == "challenge":
            return str(dict(self.options).get("source", f"challenge:{self.value}"))
        return f"{self.kind}:{self.value}"

    @property
    def label(self) -> str:
        if self.kind == "challenge":
            return f"{dict(self.options).get('title', 'a challenge')}: its training part"
        filters = []
        if self.min_item_ratings > 1:
            filters.append(f"movies with ≥ {self.min_item_ratings} ratings")
        if self.min_user_ratings > 1:
            filters.append(f"users with ≥ {self.min_user_ratings} ratings")
        return self.value + (f" ({', '.join(filters)})" if filters else "")


@dataclass(eq=False)  # a run is itself: compared by identity, never field by field
class Run:
    """A trained model and what it came from: settings, split, history and test metrics."""

    run_id: str
    algo: str
    label: str
    kind: str
    params: dict[str, Any]
    split: str
    fingerprint: str
    source_key: str
    model: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float | None] = field(default_factory=dict)
    fit_seconds: float = 0.0
    from_cache: bool = False
    stopped_at: int | None = None
    name: str = ""  # what the run is ("SGD · lr 0.05 · 2 factors"), editable; unique among a session's runs
    diverged: str = ""  # why training diverged: the run keeps its curves but has no usable model
    start_loss: float | None = None  # the total loss before the first epoch (kept for diverged runs)
    group: str = "mine"  # one of GROUPS: the person's own run, a lesson's or a sweep's
    # a model picked from the cache's list (Compare & tune), not trained here: who stored it (the store's
    # `stored_by`, "" when unknown); None for a run trained here (or its settings found in the cache)
    taken_from: str | None = None

    @property
    def title(self) -> str:
        """The name, and how training ended when it did not run its course (ids: `details`)."""
        ended = f" (stopped at epoch {self.stopped_at})" if self.stopped_at else ""
        ended = f" (diverged at epoch {len(self.history)})" if self.diverged else ended
        return f"{self.name or self.label}{ended}"


GROUPS = MappingProxyType({"mine": "your runs", "lessons": "lessons' runs", "sweeps": "sweeps' runs"})


class RestoredRun(Run):
    """A run brought back from a stored workspace: its model loads from the model cache on first use."""

    loader: Callable[[], Any] | None = None
    _model: Any = None

    @property  # type: ignore[override]
    def model(self) -> Any:
        if self._model is None and self.loader is not None:
            self._model, self.loader = self.loader(), None
        return self._model

    @model.setter
    def model(self, value: Any) -> None:
        self._model = value


def data_choice() -> DataChoice:
    return st.session_state.setdefault(DATA, DataChoice())


def set_data_choice(choice: DataChoice) -> None:
    st.session_state[DATA] = choice


def my_ratings() -> dict[object, float]:
    """Your ratings on the active data source (the dict itself: edit it in place)."""
    by_source = st.session_state.setdefault(RATINGS, {})
    return by_source.setdefault(data_choice().source_key, {})


def runs() -> dict[str, Run]:
    return st.session_state.setdefault(RUNS, {})


def runs_on(fingerprint: str, diverged: bool = False) -> list[Run]:
    """This session's runs on the data set with ``fingerprint``, oldest first; diverged runs (curves, no
    model) only when asked for."""
    return [
        run for run in runs().values() if run.fingerprint == fingerprint and (diverged or not run.diverged)
    ]


def add_run(run: Run, group: str = "mine") -> None:
    """Keep ``run`` in ``group`` (under a name no other run has); a run already kept keeps its name and
    group, unless it moves to the person's own (trained again from Train)."""
    known = runs().get(run.run_id)
    run.name = known.name if known is not None else unique_name(run.name or run.label)
    run.group = group if known is None or group == "mine" else known.group
    runs()[run.run_id] = run


def remove_runs(run_ids: list[str]) -> None:
    """Forget these runs (their models leave the session's memory; the model cache keeps its copies)."""
    for run_id in run_ids:
        runs().pop(run_id, None)


def unique_name(name: str, exclude: str = "") -> str:
    """``name``, or ``name (2)``, ``name (3)``, ... when another run (not ``exclude``) has it."""
    taken = {run.name for run in runs().values() if run.run_id != exclude}
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name} ({number})"
    return candidate


def rename(run_id: str, name: str) -> None:
    """Name the run ``name``, cut to `MAX_RUN_NAME` characters (a name travels: the sidebar, pickers, a
    challenge's board that the whole class reads); blank gives back its label."""
    run = runs()[run_id]
    run.name = unique_name(" ".join(name.split())[:MAX_RUN_NAME].strip() or run.label, exclude=run_id)


def chosen_serving(fingerprint: str) -> Run | None:
    """The run the person chose to serve their lists on the data set with ``fingerprint``, or None."""
    run = runs().get(st.session_state.get(SERVING, {}).get(fingerprint, ""))
    return run if run is not None and not run.diverged and run.fingerprint == fingerprint else None


def choose_serving(run: Run) -> None:
    """Serve the person's lists on ``run``'s data set with ``run`` (their choice, kept until they change it)."""
    st.session_state[SERVING] = {**st.session_state.get(SERVING, {}), run.fingerprint: run.run_id}


def train_run(fingerprint: str) -> Run | None:
    """The run the Train page shows, if it was trained on the data set with ``fingerprint``."""
    run = runs().get(st.session_state.get(TRAIN_RUN, ""))
    return run if run is not None and run.fingerprint == fingerprint else None


def start_over() -> None:
    """Forget everything of the person: ratings, runs, choices and kept settings (the stored workspace
    follows at the end of this script run)."""
    for key in list(st.session_state):
        if key not in (JOB,) and not str(key).startswith(("class_", "workspace_")):
            del st.session_state[key]


# Widget settings that outlive a visit to another page. Streamlit drops the value of a widget that a run
# does not draw, so without this the Train form or the recommendation filters would be back at their
# defaults after one look at another page. Buttons, uploads, tables and charts are left out: their state is
# an event, not a setting, and Streamlit refuses to have it set.
KEPT_SETTINGS = (
    "train_algo", "train_split", "train_share",
    "recs_n", "recs_who", "recs_user", "recs_genres", "recs_min_ratings", "recs_years", "recs_groups",
    "recs_like", "recs_like_min_ratings",
    "sweep_algo", "sweep_best_by", "sweep_folds",
    "embed_method", "embed_colour", "embed_genres", "embed_min_ratings", "embed_item_groups",
    "embed_user_groups", "embed_search", "embed_neighbours",
    "rate_query", "rate_genre", "rate_sort", "rate_page", "lessons_pick", "lessons_user", "lessons_epoch",
)  # fmt: skip
KEPT_PREFIXES = ("sweep_params_", "sweep_values_")  # one per algorithm
# Settings whose choices come from the data set (its users, movies, genres, years): forgotten when the
# active data set changes, since the old choice may not exist in the new one.
OF_THE_DATA = (
    "recs_user", "recs_genres", "recs_years", "recs_like", "embed_genres", "embed_search", "rate_genre",
    "rate_page",
)  # fmt: skip


def keep_settings(drawn: str) -> None:
    """Turn the kept widget settings of the other pages into session values, which last until the session
    ends (call it once per run, before the page draws its widgets). The widgets of the page being drawn,
    those whose keys start with ``drawn``, keep their own state: setting a widget's value through the
    Session State API in the run that draws it makes Streamlit warn, and resends it to the browser."""
    from recengine.models import MODELS

    data = repr(data_choice())
    if st.session_state.get("kept_for_data", data) != data:
        for key in OF_THE_DATA:
            st.session_state.pop(key, None)
    st.session_state["kept_for_data"] = data
    per_model = tuple(f"train_{name}_" for name in MODELS)  # each algorithm's hyperparameters
    for key in list(st.session_state):
        if not isinstance(key, str) or (drawn and key.startswith(drawn)):
            continue
        if key in KEPT_SETTINGS or key.startswith(KEPT_PREFIXES + per_model):
            st.session_state[key] = st.session_state[key]
