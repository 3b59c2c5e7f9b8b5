"""`svd`: exact on a fully observed low-rank matrix, shrunk toward the biases where cells are missing."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.data.synthetic import planted_low_rank
from recengine.errors import ParameterError
from recengine.evaluation.split import holdout_random
from recengine.models import make


@pytest.mark.parametrize("biases", [False, True])
def test_noise_free_fully_observed_planted_matrix_is_recovered(biases):
    data, _ = planted_low_rank(60, 40, rank=3, density=1.0, seed=1, biases=biases)
    # without bias removal, the planted mean minus the data's mean is a constant: one more (rank-1) factor
    model = make("svd", n_factors=3 if biases else 4, biases=biases, reg=0.0).fit(data)
    assert len(model.history_) == 1
    assert model.history_[0].train_rmse < 0.05


def test_noisy_planted_matrix_with_few_missing_cells_test_rmse_is_within_ten_percent_of_the_noise():
    """The SVD fits the zero-filled matrix: held-out cells count as 0, so only a small share may be held out."""
    noise = 0.3
    data, _ = planted_low_rank(300, 200, rank=3, density=1.0, noise=noise, seed=2, biases=True)
    train, test = holdout_random(data, 0.05, seed=0)
    model = make("svd", n_factors=3, reg=1.0).fit(train)
    assert model.rmse(test) < 1.1 * noise


def test_missing_cells_shrink_the_factors_toward_the_biases():
    full, _ = planted_low_rank(200, 150, rank=3, density=1.0, seed=3)
    sparse, _ = planted_low_rank(200, 150, rank=3, density=0.3, seed=3)
    norm = [np.linalg.norm(make("svd", n_factors=3).fit(d).user_factors_) for d in (full, sparse)]
    assert norm[1] < 0.7 * norm[0]


def test_biases_are_the_baseline_ridge_solution(planted):
    data, _ = planted
    svd = make("svd", reg=4.0, n_factors=2).fit(data)
    baseline = make("baseline", reg_user=4.0, reg_item=4.0, n_epochs=10).fit(data)
    np.testing.assert_allclose(svd.user_bias_, baseline.user_bias_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(svd.item_bias_, baseline.item_bias_, rtol=1e-6, atol=1e-9)
    record = svd.history_[0]
    expected = 0.5 * 4.0 * (np.sum(svd.user_bias_**2) + np.sum(svd.item_bias_**2))
    assert record.regularization_loss == pytest.approx(expected)


def test_factors_share_the_singular_values_and_are_orthogonal(planted):
    data, _ = planted
    model = make("svd", n_factors=3).fit(data)
    users, items = model.user_factors_.T @ model.user_factors_, model.item_factors_.T @ model.item_factors_
    np.testing.assert_allclose(users, items, atol=1e-8)
    np.testing.assert_allclose(users, np.diag(np.diag(users)), atol=1e-8)
    assert np.all(np.diff(np.diag(users)) <= 0)  # largest singular value first


def test_same_seed_same_factors_and_float32(planted):
    data, _ = planted
    first, again = (make("svd", n_factors=4, seed=7).fit(data) for _ in range(2))
    np.testing.assert_array_equal(first.user_factors_, again.user_factors_)
    small = make("svd", n_factors=4, dtype="float32").fit(data)
    assert small.user_factors_.dtype == np.float32 and small.item_bias_.dtype == np.float32


def test_too_many_factors_are_refused(tiny):
    with pytest.raises(ParameterError, match="n_factors=4 is not allowed"):
        make("svd", n_factors=4).fit(tiny)
