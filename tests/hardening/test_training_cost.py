"""The re-probe's first finding: Bayesian MF at 256 factors × 200 epochs passed the class work ceiling
(factors × epochs × ratings) while its cost is cubic in the factors (about 20 s an epoch): two contexts
held both trainers for 15 minutes. The ceiling is now a time, from each family's real cost: row solvers
R·d² + N·d³ per epoch, per-rating models R·k, and the rates measured on this machine."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from outcomes import tally

from dashboard import jobs, training_cost
from dashboard.jobs import TooMuchWork, TrainingJob
from recengine.data import load_bundled
from recengine.errors import TooLargeError
from recengine.evaluation.split import holdout_random
from recengine.models import MODELS, make

BUNDLED = load_bundled()
TRAIN = holdout_random(BUNDLED, test_size=0.2, seed=0)[0]  # as the Train page holds it out


def number(pattern: str, text: str) -> int:
    """The number (written with thousands commas) in ``pattern``'s group in ``text``."""
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in {text!r}"
    return int(found.group(1).replace(",", ""))


@pytest.fixture
def in_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECENGINE_CLASS_PASSWORD", "tulip-42")
    monkeypatch.delenv(jobs.CLASS_WORK_ENV, raising=False)


def test_every_model_has_its_cost_and_its_measured_rates():
    assert set(training_cost.UNITS_PER_EPOCH) == set(MODELS)
    keys = {training_cost.rate_key(make(name)) for name in MODELS}
    keys |= {training_cost.rate_key(make(name, solver=solver)) for name in ("als", "wals") for solver in ("cg", "cholesky")}  # fmt: skip
    assert keys == set(training_cost.RATES)
    assert all(per_unit >= 0 and per_rating >= 0 for per_unit, per_rating in training_cost.RATES.values())


def test_bpmf_with_256_factors_and_200_epochs_is_refused_and_says_what_is_allowed(in_class):
    greedy = make("bpmf", n_factors=256, n_epochs=200)
    assert 256 * 200 * TRAIN.n_ratings < 5e9  # what the old ceiling let through
    with pytest.raises(TooMuchWork) as refused:
        jobs.check_class_work(greedy, TRAIN)
    message = str(refused.value)
    assert f"bpmf with 256 factors for 200 epochs on {TRAIN.n_ratings:,} ratings would take about" in message
    most_epochs = number(r"256 factors for at most ([\d,]+) epochs", message)
    most_factors = number(r"200 epochs with at most ([\d,]+) factors", message)
    assert 1 <= most_epochs < 20 and 1 <= most_factors < 128  # the cube: a few epochs, or far fewer factors
    jobs.check_class_work(make("bpmf", n_factors=256, n_epochs=most_epochs), TRAIN)
    jobs.check_class_work(make("bpmf", n_factors=most_factors, n_epochs=200), TRAIN)
    with pytest.raises(TooMuchWork):
        jobs.check_class_work(make("bpmf", n_factors=256, n_epochs=most_epochs + 1), TRAIN)
    with pytest.raises(TooMuchWork):
        jobs.check_class_work(make("bpmf", n_factors=most_factors + 1, n_epochs=200), TRAIN)
    assert jobs.CLASS_WORK_ENV in message
    tally("trainers", "bpmf 256 factors x 200 epochs in class", "refused, allowance stated")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_models_defaults_on_the_bundled_set_pass(in_class, name):
    model = make(name)
    jobs.check_class_work(model, TRAIN)
    assert training_cost.seconds(model, TRAIN) < jobs.DEFAULT_CLASS_WORK / 2  # with room to spare


def test_a_row_solvers_cost_grows_with_the_cube_of_the_factors():
    def per_epoch(name: str, k: int) -> float:
        return training_cost.seconds(make(name, n_factors=k, n_epochs=1), TRAIN)

    for name in ("bpmf", "bsvdpp", "als"):
        assert 5 < per_epoch(name, 256) / per_epoch(name, 128) < 8.5, name  # 8 in the limit
    assert 1.8 < per_epoch("sgd", 256) / per_epoch("sgd", 128) < 2.1  # per rating: linear


def test_small_batches_cost_more_than_large_ones():
    small, large = (make("minibatch", batch_size=size, n_epochs=1) for size in (1, 4096))
    assert training_cost.seconds(small, TRAIN) > 10 * training_cost.seconds(large, TRAIN)


def test_the_ceiling_is_a_time_the_teacher_sets(in_class, monkeypatch):
    greedy = make("bpmf", n_factors=256, n_epochs=200)
    monkeypatch.setenv(jobs.CLASS_WORK_ENV, str(2 * training_cost.seconds(greedy, TRAIN)))
    jobs.check_class_work(greedy, TRAIN)
    monkeypatch.setenv(jobs.CLASS_WORK_ENV, "1")
    with pytest.raises(TooMuchWork, match="each training may take 1 second[.]"):
        jobs.check_class_work(make("als"), TRAIN)


def test_a_sweeps_whole_time_is_bounded(in_class):
    jobs.check_sweep_work("als", {"n_factors": [8, 16, 32], "n_epochs": [8]}, BUNDLED, 5)
    refused = r"its 10 fits, each scored by ranking 610 users over 9,742 items, would take about .* may take 2 minutes"
    with pytest.raises(TooMuchWork, match=refused):
        jobs.check_sweep_work("bpmf", {"n_factors": [128, 256]}, BUNDLED, 5)


def test_in_class_a_job_beyond_its_share_of_memory_is_refused_with_how_to_fit(planted, monkeypatch):
    """The memory budget is shared by the trainers: each job may hold its share."""
    data, _ = planted
    model = make("als", n_factors=200)
    need = model.memory_estimate(data)
    monkeypatch.setenv("RECENGINE_MAX_TRAINERS", "2")
    monkeypatch.setenv("RECENGINE_MEMORY_BUDGET", str(int(need * 1.5)))  # it fits the budget, not a half
    TrainingJob(model, data, None, finish=lambda job: None)  # not in class: the operator's own machine
    monkeypatch.setenv("RECENGINE_CLASS_PASSWORD", "tulip-42")
    with pytest.raises(TooLargeError) as refused:
        TrainingJob(model, data, None, finish=lambda job: None)
    message = str(refused.value)
    assert "shared by 2 trainers" in message and "or dtype float32" in message
    most = number(r"Train with at most ([\d,]+) factors", message)
    assert 1 <= most < 200
    TrainingJob(make("als", n_factors=most), data, None, finish=lambda job: None)
    with pytest.raises(TooLargeError):
        TrainingJob(make("als", n_factors=most + 1), data, None, finish=lambda job: None)
    tally("memory", "a class job beyond its share of the budget", "TooLargeError")


def test_the_allowance_names_only_the_settings_a_model_has(in_class, monkeypatch):
    monkeypatch.setenv(jobs.CLASS_WORK_ENV, "1")
    with pytest.raises(TooMuchWork) as refused:
        jobs.check_class_work(make("svd", n_factors=600), TRAIN)  # one solve: no epochs
    assert "Train at most " in str(refused.value) and "epochs" not in str(refused.value)
    with pytest.raises(
        TooMuchWork, match=r"Train a larger batch size \(batch_size\), or on a smaller data set"
    ):
        jobs.check_class_work(make("minibatch", batch_size=1), TRAIN)  # one epoch is beyond the ceiling


def test_a_model_not_measured_is_priced_as_the_dearest_row_solver():
    class Newcomer:
        name = "newcomer"
        n_epochs = 10
        params = SimpleNamespace(n_factors=32, n_epochs=10)

    like = make("bsvdpp", n_factors=32, n_epochs=10)
    assert training_cost.seconds(Newcomer(), TRAIN) == pytest.approx(training_cost.seconds(like, TRAIN))


def test_a_truncated_svd_start_is_priced(in_class):
    """The re-probe trained svd and nndsvd-started nmf with 600 factors (52 s and 38 s) priced at 10 s and 1 s:
    the truncated SVD before the first epoch, R·k² + N·k³, was not counted. Two such jobs held both trainers
    for minutes under the two-minute ceiling."""
    for name in ("svd", "nmf"):
        big = make(name, n_factors=600)
        assert training_cost.seconds(big, BUNDLED) > 30, name
        small_start = training_cost.start_units(make(name, n_factors=200), BUNDLED)
        assert training_cost.start_units(big, BUNDLED) > 20 * small_start  # k³ rows: 27 in the limit
    assert training_cost.start_units(make("nmf", init="random"), BUNDLED) == 0
    wide = SimpleNamespace(n_ratings=590_000, n_users=3_000, n_items=6_000)  # the re-probe's synthetic upload
    with pytest.raises(TooMuchWork, match="nmf with 1,000 factors for 1 epochs"):
        jobs.check_class_work(make("nmf", n_factors=1000, n_epochs=1), wide)
    nmf = make("nmf", n_factors=300, n_epochs=500)
    with pytest.raises(TooMuchWork) as refused:
        jobs.check_class_work(nmf, wide)
    most = number(r"300 factors for at most ([\d,]+) epochs", str(refused.value))
    jobs.check_class_work(make("nmf", n_factors=300, n_epochs=most), wide)
    with pytest.raises(TooMuchWork):
        jobs.check_class_work(make("nmf", n_factors=300, n_epochs=most + 1), wide)
