"""Trained models for the pages: start a fit, or take it from the cache when it was trained before.

Two cache levels, both keyed by (data fingerprint, algorithm, hyperparameters, split, seed) through the
engine's ``ModelStore.cache_key``: models in memory with ``st.cache_resource`` (shared by every session),
and the engine's on-disk ``ModelStore`` (size-capped, least recently used evicted), so the same
configuration is never trained twice, even after a restart.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from recengine.store import ModelStore

from dashboard import config, state
from dashboard.data import split
from dashboard.jobs import TrainingJob
from recengine.dataset import RatingsDataset
from recengine.metrics import evaluate
from recengine.models import MODELS, make

DEFAULT_ALGO = "wals"
DEFAULT_SPLIT = "user:0.2"
K = 10


class NotCached(LookupError):
    """No model is stored under this key (yet)."""


@st.cache_resource(show_spinner=False)
def model_store() -> ModelStore:
    return ModelStore(config.store_folder(), max_bytes=config.store_max_bytes())


@st.cache_resource(max_entries=32, show_spinner="Loading the model from the cache…")
def _cached(key: str) -> tuple[Any, dict[str, Any]]:
    found = model_store().get(key)
    if found is None:
        raise NotCached(key)  # exceptions are not cached: a later call finds the model once stored
    return found


def cached(key: str) -> tuple[Any, dict[str, Any]] | None:
    """(model, metadata) stored under ``key``, from memory or disk, or None."""
    try:
        return _cached(key)
    except NotCached:
        return None


def run_key(data: RatingsDataset, algo: str, params: dict[str, Any], split_spec: str) -> str:
    return model_store().cache_key(
        fingerprint=data.fingerprint,
        algo=algo,
        params=params,
        split=split_spec,
        seed=int(params.get("seed", 0)),
    )


def make_run(
    key: str, data: RatingsDataset, split_spec: str, model: Any, metadata: dict[str, Any], from_cache: bool
) -> state.Run:
    return state.Run(
        run_id=key,
        algo=model.name,
        label=model.label or model.name,
        kind=model.kind,
        params=model.get_params(),
        split=split_spec,
        fingerprint=data.fingerprint,
        source_key=state.data_choice().source_key,
        model=model,
        history=model.history_.to_dicts(),
        metrics=dict(metadata.get("metrics", {})),
        fit_seconds=float(getattr(model, "fit_seconds_", 0.0)),
        from_cache=from_cache,
        stopped_at=metadata.get("stopped_at"),
    )


def start(
    data: RatingsDataset, algo: str, params: dict[str, Any], split_spec: str
) -> state.Run | TrainingJob:
    """The run from the cache when this configuration was trained before, else a started `TrainingJob`.

    A `ParameterError` (impossible hyperparameters) or a `DataError` (a split that cannot be made)
    raises here, before any thread starts.
    """
    model = make(algo, **params)
    key = run_key(data, algo, model.get_params(), split_spec)
    found = cached(key)
    if found is not None:
        return make_run(key, data, split_spec, found[0], found[1], from_cache=True)
    train, test = split(data, split_spec, int(model.params.seed))
    valid = test if test.n_ratings else None
    source_key = state.data_choice().source_key

    def finish(job: TrainingJob) -> state.Run:
        metrics = evaluate(job.model, train, test, k=K) if test.n_ratings else {}
        stopped = job.epochs_done < job.n_epochs
        metadata = {
            "metrics": metrics,
            "split": split_spec,
            "stopped_at": job.epochs_done if stopped else None,
        }
        if not stopped:  # a stopped model is not what its settings describe: keep it in the session only
            model_store().put(key, job.model, metadata)
        run = make_run(
            key if not stopped else f"{key}-stop{job.epochs_done}",
            data,
            split_spec,
            job.model,
            metadata,
            False,
        )
        run.source_key = source_key
        return run

    return TrainingJob(model, train, valid, finish, label=model.label or algo).start()


def train_now(
    data: RatingsDataset, algo: str, params: dict[str, Any] | None = None, split_spec: str = DEFAULT_SPLIT
) -> state.Run:
    """Train (or take from the cache) and wait: for small default models a page needs right away."""
    outcome = start(data, algo, params or {}, split_spec)
    if isinstance(outcome, state.Run):
        return outcome
    outcome.join()
    if outcome.error is not None:
        raise outcome.error
    return outcome.result


def algorithms() -> dict[str, Any]:
    """Every registered model class by name, the default first."""
    names = sorted(MODELS, key=lambda n: (n != DEFAULT_ALGO, n))
    return {name: MODELS[name] for name in names}
