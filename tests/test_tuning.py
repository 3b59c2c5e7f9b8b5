"""Cross-validation and grid search tables."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.errors import ParameterError
from recengine.evaluation.metrics import rmse
from recengine.evaluation.split import kfold
from recengine.evaluation.tuning import cross_validate, grid_search, summarize
from recengine.models import make


def test_cross_validation_scores_each_fold_like_a_fit_by_hand(planted):
    data, _ = planted
    table = cross_validate(make("baseline", reg_user=2.0), data, cv=3, k=5, seed=4)
    assert table["fold"].tolist() == [1, 2, 3] and (table["reg_user"] == 2.0).all()
    assert {"fit_seconds", "rmse", "mae", "precision@5", "recall@5", "ndcg@5", "map@5", "coverage"} <= set(
        table
    )
    train, test = list(kfold(data, 3, seed=4))[1]
    by_hand = make("baseline", reg_user=2.0).fit(train)
    expected = rmse(test.ratings, by_hand.predict(test.user_codes, test.item_codes))
    assert table["rmse"].iloc[1] == pytest.approx(expected)


@pytest.mark.slow
def test_grid_search_is_tidy_and_ranking_models_have_no_rmse(planted):
    data, _ = planted
    seen = []
    table = grid_search(
        "wals",
        {"n_factors": [2, 4], "reg": [0.1, 1.0]},
        data,
        cv=2,
        k=5,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert len(table) == 8 and seen[-1] == (8, 8)
    assert table.groupby("setting")[["n_factors", "reg"]].nunique().eq(1).all().all()
    assert sorted(map(tuple, table[["n_factors", "reg"]].drop_duplicates().to_numpy())) == [
        (2, 0.1), (2, 1.0), (4, 0.1), (4, 1.0),
    ]  # fmt: skip
    assert table["rmse"].isna().all() and table["precision@5"].between(0, 1).all()
    summary = summarize(table)
    assert len(summary) == 4 and {"precision@5", "precision@5_std", "fit_seconds"} <= set(summary)
    first = table[table["setting"] == 0]["precision@5"]
    assert summary["precision@5"].iloc[0] == pytest.approx(first.mean())
    assert summary["precision@5_std"].iloc[0] == pytest.approx(np.std(first))


def test_a_failing_setting_is_a_row_with_its_error_and_the_search_goes_on(planted):
    """lr=1 diverges in training (TrainingDiverged); the others fit; every fold of every setting is a row."""
    data, _ = planted
    seen = []
    table = grid_search(
        "sgd", {"lr": [0.01, 1.0]}, data, cv=2, k=5, progress=lambda d, t: seen.append((d, t))
    )
    assert len(table) == 4 and seen[-1] == (4, 4)
    failed = table[table["lr"] == 1.0]
    assert failed["error"].str.startswith("TrainingDiverged: Training diverged at epoch").all()
    assert failed[["rmse", "precision@5"]].isna().all().all()
    fine = table[table["lr"] == 0.01]
    assert fine["error"].isna().all() and fine["rmse"].notna().all()
    summary = summarize(table)
    assert summary["failed_folds"].tolist() == [0, 2] and np.isnan(summary["rmse"].iloc[1])
    assert "error" not in summary


@pytest.mark.slow
def test_settings_refused_before_or_during_training_are_rows_too(planted):
    data, _ = planted
    calls = []
    table = grid_search("wals", {"reg": [1.0, -1]}, data, cv=2, k=5, progress=lambda d, t: calls.append(d))
    assert calls == [1, 2, 3, 4]
    refused = table[table["reg"] == -1]
    assert len(refused) == 2 and refused["error"].str.contains("ParameterError: reg=-1 is not allowed").all()
    assert refused["fit_seconds"].isna().all() and table[table["reg"] == 1.0]["error"].isna().all()
    too_many = grid_search("svd", {"n_factors": [2, 150]}, data, cv=2, k=5)  # 150: not < the smaller side
    assert too_many.loc[too_many["n_factors"] == 150, "error"].str.contains("n_factors=150").all()
    assert too_many.loc[too_many["n_factors"] == 2, "rmse"].notna().all()


def test_an_empty_grid_is_refused(planted):
    data, _ = planted
    with pytest.raises(ParameterError, match="param_grid"):
        grid_search("wals", {"reg": []}, data)
