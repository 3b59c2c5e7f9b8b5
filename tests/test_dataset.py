"""RatingsDataset: coding, validation, duplicates, scale, fingerprint, summary, subsets."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pandas as pd
import pytest

from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.data.loading import load_bundled
from recengine.errors import BadValuesError, EmptyDataError, MissingColumnsError, UnknownIdError
from recengine.serving.rerank import genre_shares


def frame(**columns: list) -> pd.DataFrame:
    return pd.DataFrame(columns)


@pytest.fixture
def small() -> RatingsDataset:
    ratings = frame(user=[30, 10, 10, 20], item=["b", "a", "c", "a"], rating=[4.0, 3.5, 5.0, 1.0])
    items = pd.DataFrame(
        {"title": ["A", "B", "C", "D"], "year": [1990, 1991, None, 2000]}, index=list("abcd")
    )
    return RatingsDataset.from_frame(ratings, items=items, name="small")


def test_from_frame_codes_ids_in_sorted_order(small: RatingsDataset):
    assert small.user_ids.tolist() == [10, 20, 30]
    assert small.item_ids.tolist() == ["a", "b", "c", "d"]  # "d" is in the catalogue, unrated
    assert small.user_codes.tolist() == [2, 0, 0, 1] and small.item_codes.tolist() == [1, 0, 2, 0]
    assert small.user_codes.dtype == np.int32 and small.ratings.dtype == np.float32
    assert (small.n_users, small.n_items, small.n_ratings) == (3, 4, 4)
    assert small.items["title"].tolist() == ["A", "B", "C", "D"] and small.title(3) == "D"
    assert small.items["genres"].tolist() == [[], [], [], []]


def test_raw_id_lookups(small: RatingsDataset):
    assert small.user_code(20) == small.user_code("20") == small.user_code(np.int64(20)) == 1
    assert small.item_code("c") == 2
    with pytest.raises(UnknownIdError, match="no user with id 99"):
        small.user_code(99)


def test_matrix_views_and_counts(small: RatingsDataset):
    dense = small.csr.toarray()
    assert dense.shape == (3, 4) and dense[0, 0] == 3.5 and dense[2, 1] == 4.0
    assert (small.csc.toarray() == dense).all()
    assert small.user_counts().tolist() == [2, 1, 1] and small.item_counts().tolist() == [2, 1, 1, 0]
    assert small.density == pytest.approx(4 / 12)


def test_scale_is_inferred_or_declared():
    assert RatingScale.infer(np.array([1.0, 3.0, 5.0])) == RatingScale(1, 5, 1)
    assert RatingScale.infer(np.array([0.5, 3.5, 5.0])) == RatingScale(0.5, 5, 0.5)
    assert RatingScale.infer(np.array([1.0, 2.33])).step is None
    scale = RatingScale(1, 5, 1)
    assert scale.contains(np.array([1.0, 4.5, 6.0])).tolist() == [True, False, False]
    assert scale.levels().tolist() == [1, 2, 3, 4, 5]
    assert RatingScale.from_dict(scale.to_dict()) == scale
    with pytest.raises(BadValuesError, match="min < max"):
        RatingScale(5, 1)


def test_an_inferred_scale_unlike_a_rating_scale_is_noted():
    def frame(ratings):
        return pd.DataFrame({"user": [1, 2, 3], "item": [1, 1, 2], "rating": ratings})

    odd = RatingsDataset.from_frame(frame([4, 99, -5]))
    assert any("from -5 to 99, an unusual rating scale" in note for note in odd.report)
    assert not RatingsDataset.from_frame(frame([0.5, 3, 10])).report  # 0 to 10 is a rating scale
    declared = RatingsDataset.from_frame(frame([4, 99, -5]), scale=RatingScale(-5, 100))
    assert not declared.report  # declared: the user said so


def test_duplicates_keep_latest_by_timestamp_else_last():
    rows = frame(user=[1, 1, 2, 1], item=[1, 1, 1, 1], rating=[2.0, 5.0, 3.0, 4.0], t=[30, 10, 5, 20])
    timed = RatingsDataset.from_frame(rows, timestamp="t")
    assert timed.to_frame().query("user == 1")["rating"].tolist() == [2.0]
    assert "2 duplicate (user, item) pairs found; kept the latest by timestamp." in timed.report
    untimed = RatingsDataset.from_frame(rows)
    assert untimed.to_frame().query("user == 1")["rating"].tolist() == [4.0]
    assert any("last row" in note for note in untimed.report)


def test_rows_sorted_or_not_give_the_same_duplicate_handling():
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 500), rng.integers(0, 20, 500)
    rows = frame(user=users, item=items, rating=rng.integers(1, 6, 500).astype(float))
    shuffled = RatingsDataset.from_frame(rows)
    expected = rows.drop_duplicates(["user", "item"], keep="last")
    assert shuffled.n_ratings == len(expected)
    got = shuffled.to_frame().sort_values(["user", "item"]).reset_index(drop=True)
    assert got.equals(expected.sort_values(["user", "item"]).reset_index(drop=True).astype(got.dtypes))
    ordered = RatingsDataset.from_frame(expected.sort_values(["user", "item"]))  # the linear no-repeat path
    assert ordered.report == [] and ordered.to_frame().equals(got)


def test_int32_and_int64_ids_give_the_same_data_set_and_fingerprint():
    rows = frame(user=[3, 1, 2], item=[7, 7, 9], rating=[1.0, 2.0, 3.0])
    wide = RatingsDataset.from_frame(rows)
    narrow = RatingsDataset.from_frame(
        rows.astype({"user": np.int32, "item": np.int32, "rating": np.float32})
    )
    assert narrow.user_ids.tolist() == wide.user_ids.tolist() and narrow.fingerprint == wide.fingerprint


def test_validation_refuses_bad_tables():
    with pytest.raises(MissingColumnsError, match=r"\['rating'\] are missing"):
        RatingsDataset.from_frame(frame(user=[1], item=[1], score=[1]))
    with pytest.raises(EmptyDataError):
        RatingsDataset.from_frame(frame(user=[], item=[], rating=[]))
    with pytest.raises(BadValuesError, match="infinite"):
        RatingsDataset.from_frame(frame(user=[1], item=[1], rating=[np.inf]))
    with pytest.raises(BadValuesError, match="off the scale"):
        RatingsDataset.from_frame(frame(user=[1], item=[1], rating=[9.0]), scale=RatingScale(1, 5, 1))
    with pytest.raises(BadValuesError, match="neither numbers nor dates"):
        RatingsDataset.from_frame(frame(user=[1], item=[1], rating=[3.0], t=["soon"]), timestamp="t")


def test_fingerprint_is_stable_and_sensitive(small: RatingsDataset):
    again = RatingsDataset.from_frame(small.to_frame(), items=None)
    changed = small.to_frame()
    changed.loc[0, "rating"] = 1.0
    assert RatingsDataset.from_frame(small.to_frame()).fingerprint == again.fingerprint
    assert RatingsDataset.from_frame(changed).fingerprint != again.fingerprint


def test_summary_has_the_documented_keys(small: RatingsDataset):
    summary = small.summary()
    for key in ("users", "items", "ratings", "density", "rating_scale", "fingerprint", "ratings_per_user"):
        assert key in summary
    assert summary["ratings_per_item"]["q0"] == 0 and summary["mean_rating"] == pytest.approx(13.5 / 4)


def test_subset_keeps_the_id_space_and_compact_renumbers(small: RatingsDataset):
    part = small.subset(np.array([1, 2]), name="part")
    assert part.n_users == 3 and part.n_items == 4 and part.user_codes.tolist() == [0, 0]
    assert part.scale == small.scale and part.name == "part"
    compact = part.compact()
    assert compact.user_ids.tolist() == [10] and compact.item_ids.tolist() == ["a", "c"]
    assert compact.items["title"].tolist() == ["A", "C"]


@pytest.mark.parametrize(
    "ids",
    [
        np.array([7, 3, 7, 5, 3], dtype=np.int32),  # a compact range: the lookup table
        np.array([-4, 2, -4, 0], dtype=np.int64),  # negative ids
        np.array([10**12, 5, -3, 5], dtype=np.int64),  # a sparse range: hashing
        np.array(["b", "a", "b"], dtype=object),
    ],
)
def test_every_id_kind_is_coded_into_sorted_distinct_ids(ids: np.ndarray):
    data = RatingsDataset.from_frame(frame(user=ids, item=np.arange(len(ids)), rating=np.ones(len(ids))))
    expected_codes, expected_ids = pd.factorize(ids, sort=True)
    assert (
        data.user_ids.tolist() == list(expected_ids) and data.user_codes.tolist() == expected_codes.tolist()
    )
    assert data.user_ids[data.user_codes].tolist() == ids.tolist()


def test_unsorted_rows_without_repeats_keep_their_order():
    rng = np.random.default_rng(1)
    pairs = rng.permutation(400)
    rows = frame(user=pairs // 20, item=pairs % 20, rating=np.arange(400) % 5 + 1.0)
    data = RatingsDataset.from_frame(rows)
    assert data.report == [] and data.n_ratings == 400
    assert data.to_frame()["rating"].tolist() == rows["rating"].tolist()


def test_a_pickle_leaves_out_the_rebuildable_caches(small: RatingsDataset):
    small.items  # noqa: B018 - the item table completed first: a part of the data set, pickled
    bare = pickle.dumps(small)
    small.csc, small.item_code("a"), small.user_code(10), genre_shares(small)
    assert pickle.dumps(small) == bare  # the sparse views, id lookups and genre shares are not carried
    copy = pickle.loads(bare)
    assert copy.item_code("a") == 0 and (copy.csr != small.csr).nnz == 0
    assert copy.fingerprint == small.fingerprint and copy.items.equals(small.items)


def test_a_data_set_pickles_while_another_session_fills_its_caches():
    """The server shares one data set across sessions; pickling it for a training worker while
    another session builds a lookup used to fail with "dictionary changed size during iteration"."""
    data = load_bundled()
    data.items  # noqa: B018 - a table whose pickling runs Python code, where threads switch
    done = threading.Event()
    found = set()

    def fill_caches() -> None:
        while not done.is_set():
            for cache in ("_user_lookup", "_item_lookup"):
                data.__dict__.pop(cache, None)
            found.add((data.user_code(1), data.item_code(1)))

    other = threading.Thread(target=fill_caches)
    other.start()
    try:
        for _ in range(60):
            pickled = pickle.dumps(data)
    finally:
        done.set()
        other.join(30)
    assert not other.is_alive(), "the other session's thread did not stop"
    assert found == {(data.user_code(1), data.item_code(1))}  # it ran, and found the ids every time
    assert pickle.loads(pickled).fingerprint == data.fingerprint
