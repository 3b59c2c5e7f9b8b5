"""Cross-validation and grid search, as tidy tables: one row per (setting, fold).

Columns: ``setting`` (grid search), ``fold``, every hyperparameter of the model, ``fit_seconds``,
``rmse`` and ``mae`` (rating models; NaN for ranking models), and the ranking metrics at k by the
BENCHMARKS.md protocol (``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k``, ``coverage``, with k's
value). Every setting of a grid sees the same folds (``kfold(data, cv, seed)``), so differences come from
the settings, not from the splits.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from recengine.dataset import RatingsDataset
from recengine.errors import ParameterError
from recengine.metrics import ranking_report, rating_report
from recengine.models import make
from recengine.models.base import Recommender
from recengine.split import kfold

Progress = Callable[[int, int], Any]  # (folds done, folds in all)
RANKING_KEYS = ("precision", "recall", "ndcg", "map")


def _template(model: Recommender | str) -> Recommender:
    return make(model) if isinstance(model, str) else model


def _fresh(template: Recommender, overrides: Mapping[str, Any]) -> Recommender:
    return type(template)(template.params.replace(**overrides) if overrides else template.params)


def _fold_row(
    model: Recommender, train: RatingsDataset, test: RatingsDataset, k: int, relevance_threshold: float
) -> dict[str, Any]:
    tick = time.perf_counter()
    model.fit(train)
    row: dict[str, Any] = {"fit_seconds": time.perf_counter() - tick}
    errors = rating_report(model, test)
    row["rmse"], row["mae"] = errors.get("rmse", np.nan), errors.get("mae", np.nan)
    ranking = ranking_report(model, train, test, k=k, relevance_threshold=relevance_threshold)
    row |= {f"{name}@{k}": ranking[f"{name}@{k}"] for name in RANKING_KEYS}
    row["coverage"] = ranking["coverage"]
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
) -> pd.DataFrame:
    """Fit a fresh copy of ``model`` (an unfitted model or an algorithm name) on each of ``cv`` folds and
    score it on the held-out fold; one row per fold."""
    return grid_search(
        model, {}, data, cv, k=k, seed=seed, relevance_threshold=relevance_threshold, progress=progress
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
) -> pd.DataFrame:
    """Cross-validate every combination of ``param_grid`` (name → values) on the same folds.

    Settings are validated before any training, so a bad value fails at once with the parameter's name
    and range. ``progress(done, total)`` is called after each fit.
    """
    template = _template(model)
    names = list(param_grid)
    settings = [dict(zip(names, values, strict=True)) for values in itertools.product(*param_grid.values())]
    if not settings:
        raise ParameterError(
            "param_grid", dict(param_grid), "a mapping with at least one value per parameter"
        )
    models = [_fresh(template, setting) for setting in settings]  # validates every setting first
    folds = list(kfold(data, cv, seed))
    rows, total = [], len(models) * len(folds)
    for number, candidate in enumerate(models):
        for fold, (train, test) in enumerate(folds, start=1):
            fitted = type(candidate)(candidate.params)
            row = {"setting": number, "fold": fold, "algorithm": template.name, **fitted.get_params()}
            rows.append(row | _fold_row(fitted, train, test, k, relevance_threshold))
            if progress is not None:
                progress(len(rows), total)
    return pd.DataFrame(rows)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds for each setting (``<metric>`` and ``<metric>_std``)."""
    metrics = [c for c in results.columns if c in ("fit_seconds", "rmse", "mae", "coverage") or "@" in c]
    keys = [c for c in results.columns if c not in (*metrics, "fold")]
    grouped = results.groupby(keys, dropna=False, sort=False)[metrics]
    means, stds = grouped.mean(), grouped.std(ddof=0).add_suffix("_std")
    return means.join(stds).reset_index()
