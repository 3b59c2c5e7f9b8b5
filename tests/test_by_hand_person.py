"""What a fold-in hands back besides the vector: the ratings it used (checked, one per item), how it was found,
and the answers for no ratings or a model without factors; codes and ratings in other number types; codes
outside the model refused by name. The vector itself is checked against an independent ridge solve.
"""

from __future__ import annotations

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.errors import UnknownIdError
from recengine.models import make
from recengine.models.foldin import fold_in

USERS = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3])
ITEMS = np.array([0, 1, 2, 0, 3, 4, 1, 2, 3, 4, 0, 4])
RATINGS = np.array([5.0, 3.0, 4.0, 4.0, 2.0, 1.0, 1.0, 5.0, 3.0, 4.0, 2.0, 4.0])
CODES, GIVEN = np.array([0, 2, 3]), np.array([5.0, 1.0, 4.0])


def data() -> RatingsDataset:
    return RatingsDataset(USERS, ITEMS, RATINGS, np.arange(4), np.arange(5))


@pytest.fixture(scope="module")
def als():
    return make("als", n_factors=2, n_epochs=3, reg=0.3, seed=1).fit(data())


def ridge_vector(model) -> np.ndarray:
    """[p, b_u] = (XᵀX + λ n I)⁻¹ Xᵀ e, X = [q_j, 1], e = r − μ − b_j (ALS's λ_u = λ n)."""
    design = np.hstack([model.item_factors_[CODES].astype(np.float64), np.ones((3, 1))])
    errors = GIVEN - model.global_mean_ - model.item_bias_[CODES]
    return np.linalg.solve(design.T @ design + 0.3 * 3 * np.eye(3), design.T @ errors)


def test_a_fold_in_carries_its_ratings_and_method(als):
    vector = fold_in(als, [3, 0, 2, 0], [4.0, 1.0, 1.0, 5.0])  # item 0 twice: the last rating counts
    assert vector.item_codes.tolist() == [3, 2, 0] and vector.item_codes.dtype == np.int64
    assert vector.ratings.tolist() == [4.0, 1.0, 5.0]
    assert vector.method == als.fold_in_method and not vector.is_fallback
    assert np.append(vector.factors, vector.bias) == pytest.approx(ridge_vector(als), abs=1e-9)


def test_codes_and_ratings_of_other_number_types(als):
    # Codes as int32 or as whole floats, ratings as ints: the same checked arrays (int64 codes, float ratings)
    # and the same vector.
    expected = fold_in(als, CODES, GIVEN)
    for codes, ratings in ((CODES.astype(np.int32), GIVEN), (CODES.astype(np.float64), [5, 1, 4])):
        vector = fold_in(als, codes, ratings)
        assert vector.item_codes.dtype == np.int64 and vector.ratings.dtype == np.float64
        assert vector.factors == pytest.approx(expected.factors)
        assert vector.bias == pytest.approx(expected.bias)


def test_no_ratings_give_the_labelled_fallback(als):
    vector = fold_in(als, [], [])
    assert vector.is_fallback
    assert vector.factors.tolist() == [0.0, 0.0] and vector.bias == 0.0
    assert vector.item_codes.shape == (0,) and vector.item_codes.dtype == np.int64
    assert vector.ratings.shape == (0,)


def test_a_model_without_factors_needs_no_vector_but_keeps_the_ratings():
    popular = make("popular").fit(data())
    vector = fold_in(popular, CODES, GIVEN)
    assert vector.factors.shape == (0,) and vector.bias == 0.0
    assert isinstance(vector.method, str) and not vector.is_fallback
    assert vector.item_codes.tolist() == [0, 2, 3] and vector.ratings.tolist() == [5.0, 1.0, 4.0]


@pytest.mark.parametrize(
    ("codes", "named"), [([0, 7], "7"), ([0, -1], "-1"), ([0, 5], "5"), ([2, -3, 9], "-3")]
)
def test_codes_outside_the_model_are_refused_by_the_first_of_them(als, codes, named):
    # The model has items 0–4: 5 is the first code outside; the message names the first bad code given.
    with pytest.raises(UnknownIdError, match=f"code {named} "):
        fold_in(als, codes, np.full(len(codes), 3.0))
