"""Clusters of factors, what each group likes, and 2-D maps."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from recengine.data import load_bundled
from recengine.errors import RecEngineError
from recengine.models import make
from recengine.models.foldin import UserVector, fold_in
from recengine.serving import cluster
from recengine.serving.cluster import (
    TSNE_LIMIT,
    cluster_factors,
    cluster_favourites,
    cluster_recommendations,
    project,
)


def _two_groups(tiny):
    """Users 0, 1 point one way and users 2, 3 the other; items likewise split."""
    model = make("wals", n_factors=2, n_epochs=1).fit(tiny)
    model.user_factors_ = np.array([[1, 0], [2, 0.1], [0, 1], [0.1, 3]], dtype=np.float32)
    model.item_factors_ = np.array([[1, 0], [0, 1], [1, 0.1], [0, 0], [0.2, 1]], dtype=np.float32)
    return model


def test_kmeans_on_user_factors_finds_the_planted_groups(blocks):
    train, _ = blocks
    model = make("wals", n_factors=8, reg=10.0, alpha=5.0).fit(train)
    clusters = cluster_factors(model, "users", n_clusters=4, seed=0)
    groups = np.arange(train.n_users) // 30
    for g in range(4):
        assert len(set(clusters.labels[groups == g])) == 1  # each planted group is one cluster ...
    assert len(set(clusters.labels)) == 4  # ... and the groups are different clusters
    assert clusters.sizes()["size"].tolist() == [30, 30, 30, 30]


def test_kmeans_learns_from_a_sample_of_many_rows_and_assigns_them_all(monkeypatch, tiny):
    """Four planted directions among 600 users; centres learned from 100 of them still group all 600."""
    model = _two_groups(tiny)
    directions = np.eye(4, dtype=np.float32)
    model.user_factors_ = np.repeat(directions, 150, axis=0) + 0.05 * np.random.default_rng(0).random(
        (600, 4)
    )
    model.item_factors_ = np.ones((tiny.n_items, 4), dtype=np.float32)
    monkeypatch.setattr(cluster, "KMEANS_SAMPLE", 100)
    clusters = cluster_factors(model, "users", n_clusters=4, seed=0)
    assert clusters.fitted_on == 100
    assert clusters.sample_note == "centres learned from a sample of 100 of the 600 users"
    labels = clusters.labels.reshape(4, 150)
    assert all(len(set(group)) == 1 for group in labels) and len(set(labels[:, 0])) == 4
    monkeypatch.setattr(cluster, "KMEANS_SAMPLE", 10_000)
    everyone = cluster_factors(model, "users", n_clusters=4, seed=0)
    assert everyone.fitted_on == 600 and everyone.sample_note == ""


def test_rows_without_factors_have_no_cluster(tiny):
    model = _two_groups(tiny)
    clusters = cluster_factors(model, "items", n_clusters=2)
    assert clusters.labels[3] == -1
    assert clusters.labels[0] == clusters.labels[2] != clusters.labels[1] == clusters.labels[4]
    assert clusters.sizes()["size"].sum() == 4
    with pytest.raises(RecEngineError, match="n_clusters=5"):
        cluster_factors(model, "items", n_clusters=5)
    with pytest.raises(RecEngineError, match="no user factors"):
        cluster_factors(make("popular").fit(tiny), "users")


def test_cluster_recommendations_by_hand(tiny):
    clusters = cluster_factors(_two_groups(tiny), "users", n_clusters=2)
    # Users 10 and 11 (codes 0, 1) form one cluster; they rated item codes 0 (5, 4), 1 (3), 2 (4), 3 (2).
    mine = cluster_recommendations(clusters, tiny, user=11, min_ratings=1, prior=0)
    assert mine["item"].tolist() == [3, 2]  # code 2 (mean 4) before code 1 (mean 3); 0 and 3 are seen
    assert mine["cluster_mean"].tolist() == [4.0, 3.0]
    assert (
        mine["explanation"].iloc[0]
        == f"Rated 4.0★ on average by 1 of the 2 users in user 11's group (cluster {clusters.labels[1]})."
    )
    damped = cluster_recommendations(clusters, tiny, user=10, min_ratings=1, prior=2)
    assert damped["item"].tolist() == [4]
    assert damped["score"].iloc[0] == pytest.approx((2 + 2 * tiny.ratings.mean()) / 3)
    newcomer = UserVector(np.array([1.0, 0.05]), 0.0, "test", np.array([2]), np.array([4.0]))
    theirs = cluster_recommendations(clusters, tiny, vector=newcomer, min_ratings=1)
    assert theirs["item"].tolist()[0] == 1 and "users in your group" in theirs["explanation"].iloc[0]
    favourites = cluster_favourites(clusters, tiny, n=2, min_ratings=1, prior=0)
    assert favourites["size"].tolist() == [2, 2]


def test_pca_maps_every_row_and_places_a_new_user(tiny):
    model = _two_groups(tiny)
    projection = project(model, "items", "pca")
    assert projection.coords.shape == (4, 2) and projection.rows.tolist() == [0, 1, 2, 4]
    assert "PCA of 4 items" in projection.note
    np.testing.assert_allclose(
        projection.transform(model.item_factors_[[0]]), projection.coords[[0]], atol=1e-9
    )


def test_tsne_samples_or_refuses_above_its_limit(blocks):
    train, _ = blocks
    model = make("wals", n_factors=8, reg=10.0).fit(train)
    sampled = project(model, "users", "tsne", max_points=50)
    assert sampled.coords.shape == (50, 2) and "random sample of 50 of the 120 users" in sampled.note
    with pytest.raises(RecEngineError, match="t-SNE is limited to 50 points and this map has 120 users"):
        project(model, "users", "tsne", max_points=50, on_large="refuse")
    with pytest.raises(RecEngineError, match="Only a PCA map"):
        sampled.transform(np.zeros(8))
    assert TSNE_LIMIT >= 1000


def test_tsne_gives_the_same_map_for_the_same_seed(blocks):
    train, _ = blocks
    model = make("wals", n_factors=8, reg=10.0).fit(train)
    rows = np.arange(0, 120, 2)
    first = project(model, "users", "tsne", rows=rows, seed=3)
    again = project(model, "users", "tsne", rows=rows, seed=3)
    np.testing.assert_array_equal(first.coords, again.coords)
    assert first.coords.shape == (60, 2) and np.isfinite(first.coords).all()


def _openmp_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"]


def test_tsne_and_kmeans_run_on_one_thread(monkeypatch, blocks):
    """Beside the dashboard's trainer processes on two cores, scikit-learn's OpenMP threads would fight
    them: both run with n_jobs=1 (t-SNE) and OpenMP limited to one thread in the calling thread."""
    seen = {}

    class TSNE(cluster.TSNE):
        def fit_transform(self, *args, **kwargs):
            seen["tsne"] = (_openmp_threads(), self.n_jobs)
            return super().fit_transform(*args, **kwargs)

    class KMeans(cluster.KMeans):
        def fit(self, *args, **kwargs):
            seen["kmeans"] = _openmp_threads()
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(cluster, "TSNE", TSNE)
    monkeypatch.setattr(cluster, "KMeans", KMeans)
    train, _ = blocks
    model = make("wals", n_factors=8, reg=10.0).fit(train)
    project(model, "users", "tsne", rows=np.arange(40))
    cluster_factors(model, "users", n_clusters=3)
    assert _openmp_threads(), "no OpenMP runtime loaded: nothing to check"
    assert seen == {"tsne": ([1] * len(_openmp_threads()), 1), "kmeans": [1] * len(_openmp_threads())}


@pytest.mark.slow
def test_a_groups_list_follows_the_persons_genres():
    """Eight animated favourites: the group's own best are mostly classics everyone rates highly; re-ranked
    toward the person's genres (the default) they are mostly animated or children's films."""
    data = load_bundled()
    model = make("wals").fit(data)
    clusters = cluster_factors(model, "users", n_clusters=8)
    codes = data.item_codes_of((1, 364, 588, 6377, 4306, 4886, 595, 8961))  # Toy Story, The Lion King, ...
    vector = fold_in(model, codes, np.full(len(codes), 5.0))

    def family(table) -> int:
        return sum(bool({"Animation", "Children"} & set(genres)) for genres in table["genres"])

    plain = cluster_recommendations(clusters, data, vector=vector, taste=0.0)
    followed = cluster_recommendations(clusters, data, vector=vector)
    assert plain["score"].is_monotonic_decreasing and family(plain) <= 4
    assert family(followed) >= 8 and not set(followed["item"]) & set(data.item_ids[codes])
