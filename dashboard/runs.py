"""Trained models for the pages: start a fit, or take it from the cache when it was trained before.

Two cache levels, both keyed by (data fingerprint, algorithm, hyperparameters, split, seed) through the
engine's ``cache_key``: models in memory with ``st.cache_resource`` (shared by every session),
and the engine's on-disk ``ModelStore`` (size-capped, least recently used evicted), so the same
configuration is never trained twice, even after a restart. Each model is stored with a digest of the person
who trained it (`stored_by`), so one person's many large models evict their own, not the class's.
"""

from __future__ import annotations

import copy
import functools
import threading
from types import MappingProxyType
from typing import Any

import numpy as np
import streamlit as st

from dashboard import challenge, classroom, config, joblog, jobs, state
from dashboard.data import split
from dashboard.jobs import TrainingJob
from dashboard.ui import described
from dashboard.uploads import upload_owner
from recengine.data.dataset import RatingsDataset
from recengine.errors import ModelFileError, ParameterError, RecEngineError, TrainingDiverged
from recengine.evaluation.metrics import evaluate
from recengine.models import MODELS, make
from recengine.models.base import Recommender
from recengine.store import ModelStore, cache_key

DEFAULT_ALGO = "wals"
DEFAULT_SPLIT = "user:0.2"
K = 10
# Ranking metrics of a training, and of each fold of a sweep, rank at most this many users (a seeded sample
# above it): every user of MovieLens 25M (162,000) would take minutes on two cores, a sample of 3,000 a few
# seconds. The class ceiling prices that ranking with the fit (jobs.job_seconds).
RANKED_USERS = 3_000


class NotCached(LookupError):
    """No model is stored under this key (yet)."""


@st.cache_resource(show_spinner=False)
def model_store() -> ModelStore:
    return ModelStore(config.store_folder(), max_bytes=config.store_max_bytes())


@st.cache_resource(max_entries=32, show_spinner="Loading the model from the cache…")
def _cached(key: str) -> Recommender:
    model = model_store().get(key)
    if model is None:
        raise NotCached(key)  # exceptions are not cached: a later call finds the model once stored
    return model


@st.cache_resource(show_spinner=False)
def diverged_curves() -> dict[str, tuple[TrainingDiverged, float]]:
    """The divergences seen on this server, by run key: the error (its curve and message) and the seconds
    training took. Shared like the model cache: the same data, settings, split and seed diverge the same
    way, so a lesson's diverging run is trained once per server, not once per student (a diverged model is
    never stored; its curve is all there is). Bounded by `MAX_DIVERGED`."""
    return {}


MAX_DIVERGED = 256


def cache_notice() -> str | None:
    """Why trained models are not being cached (a read-only or full folder, a bad size cap), or None."""
    store = model_store()
    if not store.writable:
        reason = "its folder is read-only or missing"
    elif store.failure:
        reason = described(store.failure)  # the folder named by what it is, not where
    else:
        return config.store_max_bytes_problem()
    return f"The model cache is off ({reason}): trained models are kept for this session only."


def cached(key: str) -> Recommender | None:
    """The model stored under ``key`` (its ``metadata_`` holds metrics and history), or None."""
    try:
        return _cached(key)
    except NotCached:
        return None


def run_key(data: RatingsDataset, algo: str, params: dict[str, Any], split_spec: str) -> str:
    """The cache key of this training: the ratings' fingerprint and, for a model that reads side information
    (genres, years, user attributes), the digest of those tables too: an upload of the bundled ratings with
    rewritten genres must not share a stored model with the bundled set."""
    side = data.side_fingerprint if make(algo, **params).reads_side_information() else None
    return cache_key(data.fingerprint, algo, params, split_spec, int(params.get("seed", 0)), side)


def settings_key(data: RatingsDataset, algo: str, params: dict[str, Any], split_spec: str) -> str | None:
    """The run id that these widget settings train (their cache key), or None when they are refused."""
    try:
        model = make(algo, **params)
    except ParameterError:
        return None
    return run_key(data, algo, model.get_params(), split_spec)


def same_settings(run: state.Run, key: str | None) -> bool:
    """Whether ``run`` was trained with the settings whose key is ``key`` (a stopped or diverged run too)."""
    return key is not None and (run.run_id == key or run.run_id.startswith(f"{key}-"))


# How a setting reads in a run's name; any other reads "name value".
SETTING_NAMES = MappingProxyType(
    {"n_factors": "{} factors", "n_epochs": "{} epochs", "reg": "λ {}", "alpha": "α {}"}
)


def short_label(cls: type[Recommender]) -> str:
    """The model's label without its parenthesis: "SGD", "ALS", "Weighted ALS"."""
    return (cls.label or cls.name).split(" (")[0]


def auto_name(cls: type[Recommender], params: dict[str, Any], split_spec: str = DEFAULT_SPLIT) -> str:
    """What a run is, from the algorithm and the settings that differ from its defaults:
    "SGD · lr 0.05 · 2 factors"."""
    defaults = cls.Params().to_dict()
    parts = [short_label(cls)]
    for name, value in params.items():
        if name not in defaults or value == defaults[name]:
            continue
        if isinstance(value, bool):
            parts.append(f"{name.replace('_', ' ')} {'on' if value else 'off'}")
        elif name == "n_factors" and value == 1:
            parts.append("1 factor")
        else:
            shown = f"{value:g}" if isinstance(value, float) else str(value).replace("_", "-")
            parts.append(SETTING_NAMES.get(name, name.replace("_", " ") + " {}").format(shown))
    if split_spec != DEFAULT_SPLIT:
        parts.append(f"split {split_spec}")
    return " · ".join(parts)


def _described(model: Recommender, data: RatingsDataset, split_spec: str, source_key: str) -> dict[str, Any]:
    """What every run says of its model and data: name, algorithm, settings, split and data set."""
    return {
        "name": auto_name(type(model), model.get_params(), split_spec),
        "algo": model.name,
        "label": model.label or model.name,
        "kind": model.kind,
        "params": model.get_params(),
        "split": split_spec,
        "fingerprint": data.fingerprint,
        "source_key": source_key,
    }


def make_run(
    key: str,
    data: RatingsDataset,
    split_spec: str,
    model: Recommender,
    metadata: dict[str, Any],
    from_cache: bool,
    source_key: str | None = None,
) -> state.Run:
    return state.Run(
        run_id=key,
        **_described(model, data, split_spec, source_key or state.data_choice().source_key),
        model=model,
        history=model.history_.to_dicts(),
        metrics=dict(metadata.get("metrics", {})),
        fit_seconds=float(getattr(model, "fit_seconds_", 0.0)),
        from_cache=from_cache,
        stopped_at=metadata.get("extra", {}).get("stopped_at"),
    )


class TooManyModels(RecEngineError):
    """A person's runs (or everyone's) keep as many models in the server's memory as they may; the message
    says how to make room."""


RUNS_MEMORY_ENV, DEFAULT_RUNS_MB = "RECENGINE_RUNS_MB", 500  # per person: their runs' models, all their tabs
SERVER_RUNS_MEMORY_ENV, DEFAULT_SERVER_RUNS_MB = "RECENGINE_SERVER_RUNS_MB", 6_000  # every session's together
_held: dict[str, tuple[str, int]] = {}  # session id -> (person, bytes its runs' models take), as last counted
_held_lock = threading.Lock()


def model_bytes(model: Any) -> int:
    """What a fitted model's learned arrays take in memory."""
    return int(sum(np.asarray(array).nbytes for array in model.state().values()))


def runs_bytes(runs: list[state.Run]) -> int:
    """What the models these runs hold in memory take (a restored run not yet used holds none)."""
    models = [run._model if isinstance(run, state.RestoredRun) else run.model for run in runs]
    return sum(model_bytes(model) for model in models if model is not None)


def check_room(new_bytes: int) -> None:
    """`TooManyModels` unless a model of ``new_bytes`` fits beside the models this person's runs keep, in all
    their tabs (``RECENGINE_RUNS_MB``), and those of every session (``RECENGINE_SERVER_RUNS_MB``): every run
    keeps its model in the server's memory, and a tab training 1,000-factor models grew it 1.66 GB in 98 s
    (probe 6)."""
    from dashboard.profiles import current_owner

    session, person = jobs.current_session(), current_owner()
    mine = runs_bytes(list(state.runs().values()))
    with _held_lock:
        for ended in [s for s in _held if s != session and not jobs.session_alive(s)]:
            del _held[ended]
        _held[session] = (person, mine)
        person_total = sum(held for owner, held in _held.values() if owner == person)
        server_total = sum(held for _, held in _held.values())
    per_person = config.megabytes(RUNS_MEMORY_ENV, DEFAULT_RUNS_MB)
    if person_total + new_bytes > per_person:
        raise TooManyModels(
            f"Your runs keep {person_total / 1e6:,.0f} MB of models in the server's memory and this one would "
            f"take about {new_bytes / 1e6:,.0f} MB more; one person may keep {per_person / 1e6:,.0f} MB "
            f'({RUNS_MEMORY_ENV}). Remove runs you no longer need (Compare & tune, "Remove runs"), or train '
            "with fewer factors."
        )
    if server_total + new_bytes > (
        server := config.megabytes(SERVER_RUNS_MEMORY_ENV, DEFAULT_SERVER_RUNS_MB)
    ):
        raise TooManyModels(
            f"The server keeps {server_total / 1e6:,.0f} MB of everyone's models, its limit of "
            f"{server / 1e6:,.0f} MB ({SERVER_RUNS_MEMORY_ENV}): remove runs you no longer need (Compare & "
            'tune, "Remove runs") or try again later.'
        )


def result_bytes(model: Recommender, data: RatingsDataset) -> int:
    """About what ``model`` fitted on ``data`` keeps: a vector of factors (twice for SVD++'s implicit ones)
    and a bias per user and item."""
    factors = int(getattr(model.params, "n_factors", 0) or 0)
    return (data.n_users + data.n_items) * (2 * factors + 2) * 8


def start(
    data: RatingsDataset, algo: str, params: dict[str, Any], split_spec: str
) -> state.Run | TrainingJob:
    """The run from the cache when this configuration was trained before, else a started `TrainingJob`.

    A `ParameterError` (impossible hyperparameters), a `DataError` (a split that cannot be made) or a
    `ChallengeError` (a split holding out an open challenge's test side) raises here, before any thread
    starts.
    """
    model = make(algo, **params)
    if not classroom.is_teacher():  # the teacher may hold out anything
        challenge.check_not_held_out(data, split_spec, int(model.params.seed))
    key = run_key(data, algo, model.get_params(), split_spec)
    if key not in state.runs():  # a run kept already takes no more memory when it comes back
        check_room(result_bytes(model, data))
    found = cached(key)
    if found is not None:
        return make_run(key, data, split_spec, found, found.metadata_, from_cache=True)
    curves = diverged_curves()  # here: the thread below must not touch Streamlit
    if key in curves:
        error, seconds = curves[key]
        return diverged_run(key, data, split_spec, model, error, seconds, state.data_choice().source_key)
    train, test = split(data, split_spec, int(model.params.seed))
    valid = test if test.n_ratings else None
    choice, store = state.data_choice(), model_store()  # the thread below must not touch Streamlit
    extra = {"split": split_spec, "seed": int(model.params.seed)}
    if choice.kind == "bundled" and choice.min_item_ratings <= 1 and choice.min_user_ratings <= 1:
        extra["data"] = choice.value  # how the command line reloads the data of this model
    else:
        extra["dashboard_data"] = choice.label
    if choice.kind == "upload" and (owner := upload_owner()):
        extra["owner"] = owner  # it leaves the store when this session ends, and only it
    storer = stored_by()

    def finish(job: TrainingJob) -> state.Run:
        if isinstance(job.error, TrainingDiverged):
            if len(curves) < MAX_DIVERGED:
                curves[key] = (job.error, job.seconds)
            return diverged_run(key, data, split_spec, job.model, job.error, job.seconds, choice.source_key)
        metrics = job.metrics
        stopped_at = job.epochs_done if job.epochs_done < job.n_epochs else None
        if stopped_at is None:  # a stopped model is not what its settings describe: session only
            store.try_put(key, job.model, data=data, metrics=metrics, extra=extra, stored_by=storer)
        run_id = key if stopped_at is None else f"{key}-stop{stopped_at}"
        metadata = {"metrics": metrics, "extra": extra | {"stopped_at": stopped_at}}
        return make_run(run_id, data, split_spec, job.model, metadata, False, choice.source_key)

    def trained_meanwhile() -> state.Run | None:
        """The stored model, or the curve of its divergence, when another session trained this configuration
        while this job waited."""
        if key in curves:
            error, seconds = curves[key]
            return diverged_run(key, data, split_spec, model, error, seconds, choice.source_key)
        found = store.get(key)
        if found is None:
            return None
        return make_run(key, data, split_spec, found, found.metadata_, True, choice.source_key)

    measure = functools.partial(test_metrics, train, test) if test.n_ratings else None
    job = TrainingJob(
        model,
        train,
        valid,
        finish,
        label=model.label or algo,
        measure=measure,
        shortcut=trained_meanwhile,
        ranked_users=min(RANKED_USERS, train.n_users),
    )
    job.start()
    joblog.follow(job)
    return job


def stored_by() -> str:
    """Who stores this session's models, for the model store's shares: a digest of the person (their
    workspace) or else the session, never the key itself ("" outside a session)."""
    from dashboard.profiles import current_owner, owner_digest

    return owner_digest(current_owner())


def diverged_run(
    key: str,
    data: RatingsDataset,
    split_spec: str,
    model: Recommender,
    error: TrainingDiverged,
    seconds: float,
    source_key: str,
) -> state.Run:
    """A run of the curve a diverged training left (kept for Compare; no model, never in the model store)."""
    return state.Run(
        run_id=f"{key}-diverged",
        **_described(model, data, split_spec, source_key),
        model=None,
        history=list(error.history),
        fit_seconds=seconds,
        diverged=str(error),
        start_loss=error.start_loss,
    )


def test_metrics(train: RatingsDataset, test: RatingsDataset, model: Recommender) -> dict[str, float]:
    """Rating and ranking metrics at K on the held-out side (run in the training process)."""
    return evaluate(model, train, test, k=K, max_users=RANKED_USERS)


def from_store(key: str, data: RatingsDataset) -> state.Run:
    """A run for a model already in the store (listed by ``model_store().list()``)."""
    model = cached(key)
    if model is None:
        raise ModelFileError("That model is no longer in the cache (evicted or damaged): train it again.")
    split_spec = str(model.metadata_.get("extra", {}).get("split", "none"))
    run = make_run(key, data, split_spec, model, model.metadata_, from_cache=True)
    run.taken_from = str(model.metadata_.get("stored_by") or "")  # who trained it: not this run's author
    return run


def train_now(
    data: RatingsDataset,
    algo: str,
    params: dict[str, Any] | None = None,
    split_spec: str = DEFAULT_SPLIT,
    keep_diverged: bool = False,
) -> state.Run:
    """Train (or take from the cache) and wait: for small default models a page needs right away. A
    diverged training raises, unless ``keep_diverged``: then its run (curves, no model) is returned."""
    outcome = start(data, algo, params or {}, split_spec)
    if isinstance(outcome, TrainingJob):
        outcome.join()
        diverged = isinstance(outcome.error, TrainingDiverged) and outcome.result is not None
        if outcome.error is not None and not (diverged and keep_diverged):
            raise outcome.error
        outcome = outcome.result
    if outcome is not None and outcome.diverged and not keep_diverged:  # seen diverging on this server
        raise copy.copy(diverged_curves()[outcome.run_id.removesuffix("-diverged")][0])
    return outcome


def collect_finished_job() -> bool:
    """Take the result of this session's finished training job into its runs (once); True if it did.

    Called by the Train page and the sidebar, so a model that finishes while you are on another page
    becomes active there too.
    """
    job = st.session_state.get(state.JOB)
    if job is None or job.running or job.collected:
        return False
    job.collected = True
    if job.result is not None:
        state.add_run(job.result)
        st.session_state[state.TRAIN_RUN] = job.result.run_id
    return True


@st.cache_resource(show_spinner=False)
def warm_up_trainers() -> bool:
    """Start the training processes' fork server in the background, once per server."""
    jobs.warm_up()
    return True


def algorithms() -> dict[str, Any]:
    """Every registered model class by name, the default first."""
    names = sorted(MODELS, key=lambda n: (n != DEFAULT_ALGO, n))
    return {name: MODELS[name] for name in names}
