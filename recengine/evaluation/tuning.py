"""Cross-validation and grid search, as tidy tables: one row per (setting, fold).

Columns: ``setting`` (grid search), ``fold``, every hyperparameter of the model, ``fit_seconds``,
``rmse`` and ``mae`` (rating models; NaN for ranking models), and the ranking metrics at k by the
top-N protocol of docs/protocols.md (``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k``, ``coverage``, with k's
value), and ``error``: None, or for a setting that could not be trained (refused by its parameters,
diverged, or too large for the memory budget) the error's name and message, with NaN metrics. One
failing setting does not stop the search. Every setting of a grid sees the same folds
(``kfold(data, cv, seed)``), so differences come from the settings, not from the splits.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.errors import ParameterError, TooLargeError, TrainingDiverged
from recengine.evaluation.metrics import ranking_report, rating_report
from recengine.evaluation.split import kfold
from recengine.lazy import pandas as pd
from recengine.models import make
from recengine.models.base import Recommender

Progress = Callable[[int, int], Any]  # (folds done, folds in all)
RANKING_KEYS = ("precision", "recall", "ndcg", "map")
SETTING_ERRORS = (ParameterError, TrainingDiverged, TooLargeError)  # owed to one setting: a row, not a stop


def _template(model: Recommender | str) -> Recommender:
    return make(model) if isinstance(model, str) else model


def _fresh(template: Recommender, overrides: Mapping[str, Any]) -> Recommender:
    return type(template)(template.params.replace(**overrides) if overrides else template.params)


def _failed(error: Exception, k: int, fit_seconds: float = np.nan) -> dict[str, Any]:
    """The row of a setting that could not be trained: its error and NaN metrics."""
    metrics = ["rmse", "mae", *(f"{name}@{k}" for name in RANKING_KEYS), "coverage"]
    return {
        "fit_seconds": fit_seconds,
        **dict.fromkeys(metrics, np.nan),
        "error": f"{type(error).__name__}: {error}",
    }


def _fold_row(
    model: Recommender,
    train: RatingsDataset,
    test: RatingsDataset,
    k: int,
    relevance_threshold: float,
    max_users: int | None = None,
) -> dict[str, Any]:
    tick = time.perf_counter()
    try:
        model.fit(train)
    except SETTING_ERRORS as error:
        return _failed(error, k, time.perf_counter() - tick)
    row: dict[str, Any] = {"fit_seconds": time.perf_counter() - tick}
    errors = rating_report(model, test)
    row["rmse"], row["mae"] = errors.get("rmse", np.nan), errors.get("mae", np.nan)
    ranking = ranking_report(
        model, train, test, k=k, relevance_threshold=relevance_threshold, max_users=max_users
    )
    row |= {f"{name}@{k}": ranking[f"{name}@{k}"] for name in RANKING_KEYS}
    row["coverage"] = ranking["coverage"]
    row["error"] = None
    return row


def cross_validate(
    model: Recommender | str,
    data: RatingsDataset,
    cv: int = 5,
    *,
    k: int = 10,
    seed: int = 0,
    relevance_threshold: float = 4.0,
    progress: Progress | None = None,
    max_users: int | None = None,
) -> pd.DataFrame:
    """Fit a fresh copy of ``model`` (an unfitted model or an algorithm name) on each of ``cv`` folds and
    score it on the held-out fold; one row per fold."""
    return grid_search(
        model,
        {},
        data,
        cv,
        k=k,
        seed=seed,
        relevance_threshold=relevance_threshold,
        progress=progress,
        max_users=max_users,
    ).drop(columns="setting")


def grid_search(
    model: Recommender | str,
    param_grid: Mapping[str, Iterable[Any]],
    data: RatingsDataset,
    cv: int = 3,
    *,
    k: int = 10,
    seed: int = 0,
    relevance_threshold: float = 4.0,
    progress: Progress | None = None,
    max_users: int | None = None,
) -> pd.DataFrame:
    """Cross-validate every combination of ``param_grid`` (name → values) on the same folds.

    Settings are validated before any training; one that is refused (the value or the combination is not
    allowed), diverges or does not fit in memory gives rows with its error (see the module docstring)
    and the search goes on. ``progress(done, total)`` is called after each fit or refused fold. Each fold
    ranks every user, or when ``max_users`` is given and there are more, the same seeded sample of that many
    for every setting (`ranking_report`'s; seconds instead of minutes on a wide data set).
    """
    template = _template(model)
    names = list(param_grid)
    settings = [dict(zip(names, values, strict=True)) for values in itertools.product(*param_grid.values())]
    if not settings:
        raise ParameterError(
            "param_grid", dict(param_grid), "a mapping with at least one value per parameter"
        )
    models = [_validated(template, setting) for setting in settings]  # every setting before any training
    folds = list(kfold(data, cv, seed))
    rows, total = [], len(models) * len(folds)
    for number, (setting, candidate) in enumerate(zip(settings, models, strict=True)):
        for fold, (train, test) in enumerate(folds, start=1):
            row = {"setting": number, "fold": fold, "algorithm": template.name}
            if isinstance(candidate, ParameterError):
                rows.append(row | template.get_params() | setting | _failed(candidate, k))
            else:
                fitted = type(candidate)(candidate.params)
                rows.append(
                    row
                    | fitted.get_params()
                    | _fold_row(fitted, train, test, k, relevance_threshold, max_users)
                )
            if progress is not None:
                progress(len(rows), total)
    return pd.DataFrame(rows)


def _validated(template: Recommender, setting: Mapping[str, Any]) -> Recommender | ParameterError:
    try:
        return _fresh(template, setting)
    except ParameterError as error:
        return error


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over the folds that trained for each setting (``<metric>`` and
    ``<metric>_std``) and ``failed_folds``, how many did not."""
    metrics = [c for c in results.columns if c in ("fit_seconds", "rmse", "mae", "coverage") or "@" in c]
    keys = [c for c in results.columns if c not in (*metrics, "fold", "error")]
    trained = results.assign(**{m: results[m].where(results["error"].isna()) for m in metrics})
    grouped = trained.groupby(keys, dropna=False, sort=False)
    means, stds = grouped[metrics].mean(), grouped[metrics].std(ddof=0).add_suffix("_std")
    failed = grouped["error"].count().rename("failed_folds")
    return means.join(stds).join(failed).reset_index()
