"""Probe 7, findings 3 and 5: the ranking that evaluates a model was not priced. A sweep ranked every user of
every fold over every item in the server (an upload of 40,000 users × 40,000 items and 120,000 ratings: a
sweep priced at 1 s ran 250 s of server CPU), and Train's test metrics (3,000 sampled users over 200,000
items: priced 0.10 s, took 16 s) were outside the class ceiling. Now each sweep fold ranks the same seeded
sample of users as Train's metrics, and the ceiling counts users × items × factors of ranking with the fit."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from outcomes import tally

from dashboard import jobs, training_cost
from dashboard.jobs import TooMuchWork, TrainingJob
from dashboard.runs import RANKED_USERS
from recengine.data import load_bundled
from recengine.data.dataset import RatingsDataset
from recengine.evaluation.metrics import ranking_report
from recengine.evaluation.split import kfold
from recengine.evaluation.tuning import grid_search
from recengine.models import make

# The probe's uploads, by their shapes (the ceiling reads only these).
SWEPT = SimpleNamespace(n_ratings=120_000, n_users=40_000, n_items=40_000)  # p1: 3 ratings a user
MEASURED = SimpleNamespace(n_ratings=160_000, n_users=20_000, n_items=200_000)  # p3: 80 % of 10 a user


@pytest.fixture
def in_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECENGINE_CLASS_PASSWORD", "tulip-42")
    monkeypatch.delenv(jobs.CLASS_WORK_ENV, raising=False)


def test_ranking_is_priced_by_users_items_and_factors():
    wide = make("sgd", n_factors=1000, n_epochs=1)
    one_fold = training_cost.ranking_seconds(wide, RANKED_USERS, SWEPT.n_items)
    assert training_cost.seconds(wide, SWEPT) < one_fold / 3  # the fit is cheap, its ranking is not
    assert training_cost.ranking_seconds(wide, 2 * RANKED_USERS, SWEPT.n_items) == pytest.approx(2 * one_fold)
    assert training_cost.ranking_seconds(wide, RANKED_USERS, 2 * SWEPT.n_items) == pytest.approx(2 * one_fold)
    narrow = make("sgd", n_factors=10, n_epochs=1)
    assert training_cost.ranking_seconds(narrow, RANKED_USERS, SWEPT.n_items) < one_fold / 2
    assert jobs.job_seconds(wide, SWEPT, RANKED_USERS) == pytest.approx(
        training_cost.seconds(wide, SWEPT) + one_fold
    )
    assert jobs.job_seconds(wide, SWEPT) == training_cost.seconds(wide, SWEPT)  # nothing ranked


def test_the_probes_sweep_on_a_wide_upload_is_priced_with_its_ranking(in_class):
    """p1c: SGD, 1,000 factors, 1 epoch, 2 folds: priced 0.7 s by its fits, it ranked 40,000 users a fold."""
    swept = {"n_factors": [1000], "n_epochs": [1]}
    with pytest.raises(TooMuchWork) as everyone:
        jobs.check_sweep_work("sgd", swept, SWEPT, 2)  # every user ranked
    assert "ranking 40,000 users over 40,000 items" in str(everyone.value)
    assert "fewer factors rank faster" in str(everyone.value) and jobs.CLASS_WORK_ENV in str(everyone.value)
    jobs.check_sweep_work("sgd", swept, SWEPT, 2, RANKED_USERS)  # a sample: bounded, and within the ceiling
    fold = SimpleNamespace(n_ratings=SWEPT.n_ratings // 2, n_users=SWEPT.n_users, n_items=SWEPT.n_items)
    wide = make("sgd", n_factors=1000, n_epochs=1)
    assert jobs.job_seconds(wide, fold, RANKED_USERS) > 17  # measured: 14-17 s a fold
    greedy = {"n_factors": list(range(981, 1001)), "n_epochs": [1]}  # the page's 60 fits, priced 29 s before
    with pytest.raises(TooMuchWork, match=r"its 60 fits, each scored by ranking 3,000 users over 40,000"):
        jobs.check_sweep_work("sgd", greedy, SWEPT, 3, RANKED_USERS)
    tally("trainers", "sweep of 60 fits on a 40,000 x 40,000 upload", "refused: its ranking is priced")


def test_a_wide_uploads_fit_is_priced_by_its_rows_too():
    """The probe's sweep fold: SGD at 1,000 factors, 1 epoch, on 40,000 + 40,000 rows and 60,000 ratings was
    priced 0.36 s by its ratings and took 5.2 s here (drawing 80 million starting factors, then passes over
    them): the rows are most of its price. On the bundled set they are a small part."""
    fold = SimpleNamespace(n_ratings=SWEPT.n_ratings // 2, n_users=SWEPT.n_users, n_items=SWEPT.n_items)

    def rows_share(model, train) -> float:
        per_row = training_cost.ROW_EPOCH_RATE * training_cost.epochs(model) + training_cost.ROW_START_RATE
        return per_row * training_cost.row_units(model, train) / training_cost.seconds(model, train)

    wide = make("sgd", n_factors=1000, n_epochs=1)
    assert training_cost.seconds(wide, fold) > 5.2 and rows_share(wide, fold) > 0.8
    assert rows_share(make("sgd"), load_bundled()) < 0.25


def wider(times: float, model) -> SimpleNamespace:
    """The probe's upload with ``times`` as many items as the ceiling lets ``model``'s test metrics rank."""
    items = times * jobs.DEFAULT_CLASS_WORK / training_cost.ranking_seconds(model, RANKED_USERS, 1)
    return SimpleNamespace(n_ratings=MEASURED.n_ratings, n_users=MEASURED.n_users, n_items=int(items))


def test_the_probes_training_on_a_wide_upload_prices_its_test_metrics(in_class):
    """p3: SGD at 100 factors, 1 epoch, 3,000 users ranked over 200,000 items: estimated 0.10 s, took 16 s.
    Its estimate now holds the ranking; with more items it is refused before it starts, saying what fits."""
    model = make("sgd", n_factors=100, n_epochs=1)
    assert training_cost.seconds(model, MEASURED) < 3 < 16 < jobs.job_seconds(model, MEASURED, RANKED_USERS)
    measure = lambda model: {}  # noqa: E731
    wide = wider(1.2, model)
    TrainingJob(model, wide, None, finish=lambda job: None, ranked_users=RANKED_USERS)  # nothing measured
    with pytest.raises(TooMuchWork) as refused:
        TrainingJob(model, wide, None, finish=lambda job: None, measure=measure, ranked_users=RANKED_USERS)
    message = str(refused.value)
    assert f"for the test metrics, ranking 3,000 users over {wide.n_items:,} items" in message
    assert jobs.CLASS_WORK_ENV in message
    most = int(message.split("1 epochs with at most ")[1].split(" factors")[0].replace(",", ""))
    assert 1 <= most < 100  # fewer factors rank faster
    jobs.check_class_work(make("sgd", n_factors=most, n_epochs=1), wide, RANKED_USERS)
    with pytest.raises(TooMuchWork):
        jobs.check_class_work(make("sgd", n_factors=most + 1, n_epochs=1), wide, RANKED_USERS)
    with pytest.raises(TooMuchWork) as widest:
        jobs.check_class_work(model, wider(2, model), RANKED_USERS)  # not even 1 factor: the ranking's cells
    assert "Train on a smaller data set (filter it on the Data page) or hold out nothing" in str(widest.value)
    tally("trainers", "training on an upload of many items", "refused: its test metrics are priced")


def wide_ratings(n_users: int, n_items: int, per_user: int) -> RatingsDataset:
    """The probe's upload, smaller: each user rates ``per_user`` random items 4 or 5 stars."""
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(1, n_users + 1), per_user)
    items = rng.integers(1, n_items + 1, size=len(users))
    items[:n_items] = np.arange(1, n_items + 1)
    ratings = rng.choice([4.0, 5.0], size=len(users)).astype(np.float32)
    return RatingsDataset.from_columns(users, items, ratings)


def test_a_sweep_ranks_a_seeded_sample_of_each_folds_users():
    data = wide_ratings(400, 300, 4)
    table = grid_search("popular", {"seed": [0]}, data, cv=2, max_users=50)
    everyone = grid_search("popular", {"seed": [0]}, data, cv=2)
    for fold, (train, test) in enumerate(kfold(data, 2, 0)):
        sampled = ranking_report(make("popular").fit(train), train, test, k=10, max_users=50)
        assert sampled["sampled_from"] == 400 and sampled["users"] <= 50
        for metric in ("ndcg@10", "recall@10", "coverage"):
            assert table[metric].iloc[fold] == pytest.approx(sampled[metric])
    assert not table["coverage"].equals(everyone["coverage"])  # 50 users' lists cover less than 400's


def test_the_sample_leaves_a_bundled_sweep_as_it_was():
    """MovieLens small has 610 users, fewer than the sample: every one is ranked, as before."""
    bundled = load_bundled()
    assert bundled.n_users < RANKED_USERS
    grid = {"reg_user": [7.5]}
    before = grid_search("baseline", grid, bundled, cv=2)
    after = grid_search("baseline", grid, bundled, cv=2, max_users=RANKED_USERS)
    metrics = ["rmse", "precision@10", "ndcg@10", "map@10", "coverage"]
    assert after[metrics].equals(before[metrics])
