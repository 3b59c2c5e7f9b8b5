"""Memory guards: one budget (RECENGINE_MEMORY_BUDGET, else a share of available RAM), and every place that
could allocate a lot checks it first and refuses with a message saying what and why, or works in smaller
pieces and says so. Each guard is tried with a tiny budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from outcomes import tally

from recengine import memory
from recengine.data import load
from recengine.data.synthetic import planted_low_rank
from recengine.errors import ParameterError, TooLargeError
from recengine.evaluation.metrics import ranking_report
from recengine.evaluation.split import holdout_random
from recengine.models import make
from recengine.models.base import Recommender
from recengine.models.scoring import BATCH_CELLS, BYTES_PER_SCORE, batch_size, score_matrix
from recengine.serving.cluster import cluster_factors, cluster_favourites, project

ENV = memory.ENV


@pytest.fixture
def planted():
    return planted_low_rank(n_users=120, n_items=80, rank=3, density=0.3, seed=2)[0]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2000000", 2_000_000),
        ("2GB", 2 * 10**9),
        ("1.5 GiB", 3 * 2**29),
        ("512M", 512 * 10**6),
        ("10kb", 10_000),
    ],
)
def test_sizes_are_read_in_bytes_or_with_units(text: str, size: int):
    assert memory.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-5", "0", "2 parsecs", "1e9", "nan"])
def test_a_bad_budget_setting_names_the_variable(text: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV, text or "x")
    with pytest.raises(ParameterError, match=ENV):
        memory.budget_bytes()


def test_the_budget_comes_from_the_environment_else_a_share_of_available_memory(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(memory, "available_bytes", lambda: 10_000)
    assert memory.budget_bytes() == int(10_000 * memory.DEFAULT_SHARE)
    monkeypatch.setenv(ENV, "3MB")
    assert memory.budget_bytes() == 3_000_000
    assert memory.budget_bytes(override=5) == 5
    monkeypatch.setattr(memory, "available_bytes", lambda: None)
    monkeypatch.delenv(ENV)
    assert memory.budget_bytes() is None and memory.fits(10**15)


def test_a_refusal_says_what_how_much_the_budget_and_what_to_do(monkeypatch):
    monkeypatch.setenv(ENV, "1MB")
    with pytest.raises(TooLargeError) as error:
        memory.check(5_000_000, "A thing of 5 MB", "Make it smaller.")
    assert str(error.value) == (
        f"A thing of 5 MB would need about 5.0 MB of memory; the memory budget is 1.0 MB (set by {ENV}). "
        "Make it smaller."
    )
    tally("memory", "budget check", "TooLargeError")


def test_loading_a_file_larger_than_the_budget_is_refused(tmp_path: Path, monkeypatch):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating\n" + "".join(f"{u},{u % 7},3\n" for u in range(2000)))
    monkeypatch.setenv(ENV, "50KB")
    with pytest.raises(
        TooLargeError, match=rf"Loading ratings.csv, which holds about 2,\d{{3}} ratings.*{ENV}"
    ):
        load(path)
    monkeypatch.setenv(ENV, "50MB")
    assert load(path).n_ratings == 2000
    tally("memory", "loading a file", "TooLargeError")


@pytest.mark.parametrize("algo", ["sgd", "adam", "als", "svd", "wals", "bpmf"])
def test_training_beyond_the_budget_is_refused_before_anything_is_allocated(algo: str, planted, monkeypatch):
    model = make(algo, n_factors=40)
    need = model.memory_estimate(planted)
    assert need > make(algo, n_factors=4).memory_estimate(planted)
    monkeypatch.setenv(ENV, str(need - 1))
    with pytest.raises(
        TooLargeError, match=rf"Training {algo} with 40 factors on 120 users, 80 items.*n_factors"
    ):
        model.fit(planted)
    assert not hasattr(model, "user_factors_")
    monkeypatch.setenv(ENV, str(need))
    assert model.fit(planted).is_fitted
    tally("memory", "training", "TooLargeError")


def test_the_svd_estimate_counts_arpack_s_lanczos_basis(planted):
    svd = make("svd", n_factors=30)
    side = min(planted.n_users, planted.n_items)
    assert (
        svd.memory_estimate(planted) - Recommender.memory_estimate(svd, planted) == side * min(side, 61) * 8
    )


def test_ranking_evaluation_works_in_smaller_batches_with_the_same_results(planted, monkeypatch):
    train, test = holdout_random(planted, test_size=0.2, seed=0)
    model = make("als", n_factors=4, n_epochs=3).fit(train)
    monkeypatch.setenv(ENV, "1GB")
    assert batch_size(planted.n_items) == BATCH_CELLS // planted.n_items
    reference = ranking_report(model, train, test, k=5, relevance_threshold=3.0)
    monkeypatch.setenv(ENV, str(3 * planted.n_items * BYTES_PER_SCORE))
    assert batch_size(planted.n_items) == 3
    assert ranking_report(model, train, test, k=5, relevance_threshold=3.0) == reference
    with pytest.raises(TooLargeError, match=r"Scores of 4 users × 80 items.*batch_size"):
        score_matrix(model, np.arange(4))
    monkeypatch.setenv(ENV, str(planted.n_items * BYTES_PER_SCORE - 1))
    with pytest.raises(TooLargeError, match="Scores of 80 items for one user"):
        ranking_report(model, train, test, k=5, relevance_threshold=3.0)
    tally("memory", "dense score batches", "batched, same results")
    tally("memory", "dense score batches", "TooLargeError")


def test_a_cluster_by_item_table_beyond_the_budget_is_refused(planted, monkeypatch):
    model = make("als", n_factors=4, n_epochs=2).fit(planted)
    clusters = cluster_factors(model, "users", n_clusters=5)
    monkeypatch.setenv(ENV, str(5 * planted.n_items * 24 - 1))
    with pytest.raises(TooLargeError, match="A table of 5 user clusters × 80 items.*fewer clusters"):
        cluster_favourites(clusters, planted)
    tally("memory", "cluster × item table", "TooLargeError")


def test_tsne_samples_what_the_budget_allows_or_refuses(planted, monkeypatch):
    model = make("als", n_factors=4, n_epochs=2).fit(planted)
    per_point = 91 * 48 + 16 * 4 + 256
    monkeypatch.setenv(ENV, str(50 * per_point))
    sampled = project(model, "users", "tsne")
    assert sampled.coords.shape == (50, 2)
    assert "random sample of 50 of the 120 users (as many as the memory budget allows)" in sampled.note
    with pytest.raises(TooLargeError, match="limited to 50 points by the memory budget.*120 users"):
        project(model, "users", "tsne", on_large="refuse")
    monkeypatch.setenv(ENV, str(2 * per_point))
    with pytest.raises(TooLargeError):
        project(model, "users", "tsne")
    assert project(model, "users", "pca").coords.shape == (120, 2)  # PCA needs no more than the factors
    tally("memory", "t-SNE map", "sampled")
    tally("memory", "t-SNE map", "TooLargeError")
