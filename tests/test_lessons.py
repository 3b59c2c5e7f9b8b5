"""The engine side of the Lessons page: the small matrix, its filling in, the gradient check, list overlap,
and a diverged fit that keeps its curve."""

from __future__ import annotations

import re

import numpy as np
import pytest

from recengine import lessons, make
from recengine.data import load_bundled
from recengine.data.dataset import RatingsDataset
from recengine.errors import TrainingDiverged


def test_the_small_matrix_holds_the_most_rated_films_and_people_who_rated_two_thirds(planted):
    data, _ = planted
    small = lessons.small_matrix(data, n_users=12, n_items=15)
    assert (small.n_users, small.n_items) == (12, 15)
    most_rated = set(data.item_ids[np.argsort(-data.item_counts(), kind="stable")[:15]])
    assert set(small.item_ids) == most_rated
    assert 0.5 <= small.density <= 0.85
    grid = lessons.rating_grid(small)
    assert np.isfinite(grid).sum() == small.n_ratings
    user, item = small.user_codes[0], small.item_codes[0]
    assert grid[user, item] == small.ratings[0]


def test_the_matrix_fills_in_epoch_by_epoch_and_fits_its_ratings_better(planted):
    small = lessons.small_matrix(planted[0])
    frames, errors = lessons.filling_in(small, n_epochs=30)
    assert len(frames) == len(errors) == 30
    assert frames[0].shape == (small.n_users, small.n_items) and np.isfinite(frames[-1]).all()
    assert errors[-1] < 0.7 * errors[0]
    assert not np.allclose(frames[0], frames[-1])


def test_the_analytic_gradient_matches_the_numerical_one(planted):
    table = lessons.gradient_check(lessons.small_matrix(planted[0]), n_entries=10, seed=3)
    assert len(table) == 10 and set(table.columns) >= {"parameter", "analytic", "numerical"}
    assert (table["relative difference"] < 1e-6).all()
    assert table["analytic"].abs().max() > 1e-3  # not a check of zeros against zeros


def two_camps() -> RatingsDataset:
    """Users 0-19 watch films 0-19, users 20-39 films 20-39 (each about half of their camp's films)."""
    rng = np.random.default_rng(0)
    users, items = np.divmod(np.arange(40 * 40), 40)
    same_camp = (users < 20) == (items < 20)
    keep = same_camp & (rng.random(len(users)) < 0.5)
    ratings = rng.integers(1, 6, keep.sum()).astype(float)
    return RatingsDataset(users[keep], items[keep], ratings, np.arange(40), np.arange(40))


def test_a_one_factor_ranking_model_gives_everyone_the_same_list():
    data = two_camps()
    people = [0, 1, 2, 20, 21, 22]
    one = make("wals", n_factors=1, n_epochs=10, reg=1.0).fit(data)
    two = make("wals", n_factors=2, n_epochs=10, reg=1.0).fit(data)
    assert lessons.list_overlap(one, data, people) == pytest.approx(1.0)
    assert lessons.list_overlap(two, data, people) < 0.7
    assert lessons.best_scored(one, data, 0, n=5) == lessons.best_scored(one, data, 20, n=5)


def test_a_list_shows_each_films_popularity_and_mean_rating(tiny):
    model = make("baseline", reg_user=0.0, reg_item=0.0).fit(tiny)
    table = lessons.top_items(model, tiny, tiny.user_ids[1], n=2)
    assert list(table.columns) == ["title", "ratings", "mean rating"]
    # user 1 rated items 0 and 3; unseen: item 2 (4 and 5: mean 4.5), item 4 (3.5), item 1 (2)
    assert list(table["ratings"]) == [2, 2] and list(table["mean rating"]) == [4.5, 3.5]


def test_a_diverged_fit_keeps_its_curve_and_the_message_names_its_ends(planted):
    data, _ = planted
    model = make("gd", lr=0.02, momentum=0.0, n_factors=3, n_epochs=50)
    with pytest.raises(TrainingDiverged) as caught:
        model.fit(data)
    error = caught.value
    assert [r["epoch"] for r in error.history] == list(range(1, error.epoch + 1))
    ((start, last),) = re.findall(r"grew from (\S+) before the first epoch to (\S+)$", error.what)
    assert float(start) == pytest.approx(error.start_loss, rel=1e-3)  # the chart's point at epoch 0
    assert float(last) == pytest.approx(error.history[-1]["total_loss"], rel=1e-3)  # its last point
    losses = [r["total_loss"] for r in error.history]
    assert error.epoch > 10 and all(np.diff(losses[-8:]) > 0)  # rising for epochs


@pytest.mark.slow
def test_a_new_persons_list_follows_their_taste_and_closes_the_genre_gap():
    """The animation lover (the lesson's first person): by wals's scores alone their top 10 is popular films
    of other kinds (Forrest Gump, Schindler's List); following their taste (λ 0.9) it is animated or
    children's films, and the genre gap falls."""
    data = load_bundled()
    tastes = lessons.tastes_in(data)
    assert len(tastes) == 4 and all(len(codes) >= 8 for codes in tastes.values())
    model = make("wals").fit(data)
    plain, followed, (gap_plain, gap_followed) = lessons.taste_lists(
        model, data, tastes[next(iter(tastes))], 0.9
    )

    def family(table) -> int:
        return sum("Animation" in genres or "Children" in genres for genres in table["genres"])

    assert len(plain) == len(followed) == 10 and family(followed) >= 8 and family(plain) <= 3
    assert "Schindler's List (1993)" in set(plain["title"]) - set(followed["title"])
    assert gap_followed < 0.5 * gap_plain


def test_tastes_are_offered_only_when_the_data_set_holds_their_films(tiny):
    assert lessons.tastes_in(tiny) == {}


def three_genres(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Films of three genres told apart along two quiet directions, hidden under wide noise in four others
    (a principal-component map would show the noise)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.array(["Animation", "Horror", "Romance"]), 100)
    centres = {"Animation": (1.0, 0.0), "Horror": (-0.5, 0.9), "Romance": (-0.5, -0.9)}
    factors = np.zeros((300, 6))
    factors[:, :2] = [centres[genre] for genre in labels]
    factors[:, :2] += rng.normal(0, 0.15, (300, 2))
    factors[:, 2:] = rng.normal(0, 2.0, (300, 4))
    factors[:, 0] += 6.0  # every film points one way too (unit rows, as the map uses)
    return factors, labels


def centroid_accuracy(coords: np.ndarray, labels: np.ndarray) -> float:
    genres = np.unique(labels)
    means = np.array([coords[labels == genre].mean(axis=0) for genre in genres])
    nearest = np.argmin(((coords[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    return float((genres[nearest] == labels).mean())


def test_the_genre_map_separates_genres_a_principal_component_map_mixes():
    factors, labels = three_genres()
    rows = np.arange(len(factors))
    plane = lessons.genre_map(factors, rows, labels)
    widest = lessons.genre_map(factors, rows, np.full(len(rows), ""))  # no genres: principal components
    assert np.allclose(plane.axes.T @ plane.axes, np.eye(2))
    assert centroid_accuracy(plane.coords, labels) > 0.95 > 0.7 > centroid_accuracy(widest.coords, labels)
    units = factors / np.linalg.norm(factors, axis=1, keepdims=True)
    centred = units - units.mean(axis=0)
    total = (centred**2).sum()
    assert plane.variance_kept == pytest.approx(((centred @ plane.axes) ** 2).sum() / total)
    assert 0 < plane.variance_kept < widest.variance_kept < 1  # the widest plane keeps the most
    top_two = np.linalg.svd(centred, compute_uv=False)[:2]
    assert widest.variance_kept == pytest.approx((top_two**2).sum() / total)
    assert np.allclose(plane.place(factors), plane.coords)


def test_two_genres_give_one_discriminant_and_the_widest_direction_beside_it():
    factors, labels = three_genres()
    keep = labels != "Romance"
    plane = lessons.genre_map(factors, np.flatnonzero(keep), labels[keep])
    assert np.allclose(plane.axes.T @ plane.axes, np.eye(2))
    assert centroid_accuracy(plane.coords[:, :1], labels[keep]) > 0.95  # the across axis tells them apart
    units = factors[keep] / np.linalg.norm(factors[keep], axis=1, keepdims=True)
    residual = (units - units.mean(axis=0)) @ (np.eye(6) - np.outer(plane.axes[:, 0], plane.axes[:, 0]))
    widest = np.linalg.svd(residual, compute_uv=False)[0] ** 2
    assert (plane.coords[:, 1] ** 2).sum() == pytest.approx(widest)  # the up axis: the widest spread left


def test_steering_moves_the_persons_point_the_way_asked_and_keeps_their_length():
    factors, labels = three_genres()
    plane = lessons.genre_map(factors, np.arange(len(factors)), labels)
    person = factors[0] * 0.3
    start = plane.place(person)[0]
    for shift in [(0.2, 0.0), (0.0, -0.2), (-0.15, 0.1)]:
        moved = lessons.steered(person, plane, shift, length=1.0)
        assert np.linalg.norm(moved) == pytest.approx(np.linalg.norm(person))
        assert plane.place(moved)[0] - start == pytest.approx(shift, abs=1e-9)  # exactly the way asked
    newcomer = lessons.steered(np.zeros(6), plane, (0.0, 0.0), length=2.0)
    assert np.linalg.norm(newcomer) == pytest.approx(2.0) and np.allclose(plane.place(newcomer), 0, atol=1e-9)
