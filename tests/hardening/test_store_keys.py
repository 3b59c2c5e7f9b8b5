"""The third re-probe: an upload of the bundled ratings with every film's genres rewritten had the bundled
set's fingerprint, so the Bayesian SVD++ a student trained on it (it learns from genres) was served from the
shared model store to classmates on the bundled set. A model that reads side information is now keyed by the
ratings' fingerprint and a digest of the item and user tables too."""

from __future__ import annotations

import numpy as np
import pandas as pd
from outcomes import tally

from dashboard.runs import run_key
from recengine.data.dataset import RatingsDataset
from recengine.models import make


def dataset(genres: list[list[str]], ages: list[float] = (20, 40, 60)) -> RatingsDataset:
    items = pd.DataFrame({"title": ["a", "b", "c", "d"], "year": [1990.0, 1970.0, 1985.0, 1980.0],
                          "genres": genres})  # fmt: skip
    users = pd.DataFrame({"age": list(ages), "gender": ["F", "M", "F"]})
    users_of, items_of = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 1, 2, 3, 0])
    ratings = np.array([5, 3, 4, 2, 1, 4.0])
    return RatingsDataset(users_of, items_of, ratings, np.arange(3), np.arange(4), items=items, users=users)


GENRES = [["Drama"], ["Drama", "Comedy"], [], ["Comedy"]]
REWRITTEN = [["Horror", "Film-Noir"]] * 4


def key(data: RatingsDataset, algo: str, **params) -> str:
    return run_key(data, algo, make(algo, **params).get_params(), "random:0.2")


def test_same_ratings_with_other_side_information_never_share_a_stored_model():
    bundled, poisoned, copy = dataset(GENRES), dataset(REWRITTEN), dataset([list(g) for g in GENRES])
    assert bundled.fingerprint == poisoned.fingerprint  # the ratings alone cannot tell them apart
    assert key(bundled, "bsvdpp") != key(poisoned, "bsvdpp")
    assert key(bundled, "bsvdpp") != key(dataset(GENRES, ages=[20, 40, 61]), "bsvdpp")  # a user's age
    assert key(bundled, "bsvdpp") == key(copy, "bsvdpp")  # the same ratings and tables still share
    # models that learn from the ratings alone share across side tables, as before
    assert key(bundled, "bsvdpp", side_information=False) == key(poisoned, "bsvdpp", side_information=False)
    assert key(bundled, "svd") == key(poisoned, "svd")
    tally("store", "same ratings, rewritten genres: a side-information model's key", "differs")
