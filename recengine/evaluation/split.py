"""Train/test splits for honest evaluation. Same seed, same split; no (user, item) pair on both sides.

Both sides of every split keep the parent's user and item codes, so a model fitted on the train side
scores the test side directly.

Split specs (the command line and the dashboard use them): ``random:0.2`` (random holdout),
``user:0.2`` (per-user stratified holdout), ``temporal:0.2`` (each user's most recent share), ``none``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.errors import DataError, EmptyDataError, ParameterError


@dataclass(frozen=True)
class SplitSpec:
    """A parsed split spec: ``method`` in random, user, temporal, none; ``test_size`` in (0, 1)."""

    method: str
    test_size: float = 0.2

    METHODS = ("random", "user", "temporal", "none")

    @classmethod
    def parse(cls, spec: str) -> SplitSpec:
        method, _, size = spec.strip().partition(":")
        if method not in cls.METHODS:
            raise ParameterError(
                "split", spec, "one of random:FRACTION, user:FRACTION, temporal:FRACTION or none"
            )
        if method == "none":
            return cls("none", 0.0)
        try:
            test_size = float(size) if size else 0.2
        except ValueError:
            raise ParameterError("split", spec, f"{method}:FRACTION with a fraction such as 0.2") from None
        if not 0 < test_size < 1:
            raise ParameterError("split test fraction", test_size, "a number > 0 and < 1")
        return cls(method, test_size)

    def __str__(self) -> str:
        return self.method if self.method == "none" else f"{self.method}:{self.test_size:g}"

    def in_words(self) -> str:
        """The split as a sentence part: "20 % of each user's ratings held out for testing"."""
        share = f"{self.test_size:.0%}".replace("%", " %")
        return {
            "none": "every rating, none held out",
            "random": f"{share} of the ratings held out at random for testing",
            "user": f"{share} of each user's ratings held out for testing",
            "temporal": f"each user's latest {share} of ratings held out for testing",
        }[self.method]


def split_by_spec(
    data: RatingsDataset, spec: str | SplitSpec, seed: int = 0
) -> tuple[RatingsDataset, RatingsDataset]:
    """(train, test) by a spec such as ``user:0.2``; with ``none`` the test side is empty."""
    parsed = spec if isinstance(spec, SplitSpec) else SplitSpec.parse(spec)
    if parsed.method == "none":
        return data, data.subset(np.zeros(data.n_ratings, dtype=bool), name=f"{data.name} (no test)")
    method = {"random": holdout_random, "user": holdout_per_user, "temporal": holdout_temporal}[parsed.method]
    return method(data, parsed.test_size, seed=seed)


def holdout_random(
    data: RatingsDataset, test_size: float = 0.2, seed: int = 0
) -> tuple[RatingsDataset, RatingsDataset]:
    """A uniformly random share of all ratings goes to the test side."""
    _check_size(data, test_size)
    rng = np.random.default_rng(seed)
    n_test = round(test_size * data.n_ratings)
    is_test = np.zeros(data.n_ratings, dtype=bool)
    is_test[rng.permutation(data.n_ratings)[:n_test]] = True
    return _sides(data, is_test, f"random {test_size:g}")


def holdout_per_user(
    data: RatingsDataset, test_size: float = 0.2, seed: int = 0
) -> tuple[RatingsDataset, RatingsDataset]:
    """Each user's own random share goes to test; every user with two or more ratings is on both sides."""
    _check_size(data, test_size)
    key = np.random.default_rng(seed).random(data.n_ratings)
    return _sides(data, _latest_share(data, key, test_size), f"per-user {test_size:g}")


def holdout_temporal(
    data: RatingsDataset, test_size: float = 0.2, seed: int = 0
) -> tuple[RatingsDataset, RatingsDataset]:
    """Each user's most recent share goes to test (ties broken at random by ``seed``)."""
    _check_size(data, test_size)
    if data.timestamps is None:
        raise DataError(
            "A temporal split needs timestamps, and this data set has none. Use user:0.2 instead."
        )
    jitter = np.random.default_rng(seed).random(data.n_ratings)
    order_key = np.lexsort((jitter, data.timestamps))
    rank = np.empty(data.n_ratings, dtype=np.float64)
    rank[order_key] = np.arange(data.n_ratings)
    return _sides(data, _latest_share(data, rank, test_size), f"temporal {test_size:g}")


def kfold(data: RatingsDataset, k: int = 5, seed: int = 0) -> Iterator[tuple[RatingsDataset, RatingsDataset]]:
    """``k`` (train, test) pairs; every rating is in exactly one test fold."""
    if not 2 <= k <= data.n_ratings:
        raise ParameterError("cv", k, f"an integer ≥ 2 and ≤ the number of ratings ({data.n_ratings:,})")
    fold_of = np.random.default_rng(seed).permutation(data.n_ratings) % k
    for fold in range(k):
        yield _sides(data, fold_of == fold, f"fold {fold + 1}/{k}")


def predefined(train: str, test: str, **options) -> tuple[RatingsDataset, RatingsDataset]:
    """Given train and test files (e.g. MovieLens ``u1.base``/``u1.test``) in one id space."""
    from recengine.data import load_train_test

    return load_train_test(train, test, **options)


# --- helpers --------------------------------------------------------------------------------------------


def _check_size(data: RatingsDataset, test_size: float) -> None:
    if not 0 < test_size < 1:
        raise ParameterError("test_size", test_size, "a number > 0 and < 1")
    if data.n_ratings < 2:
        raise EmptyDataError("A split needs at least two ratings.")


def _latest_share(data: RatingsDataset, key: np.ndarray, test_size: float) -> np.ndarray:
    """Mask of each user's ratings with the highest ``key``: round(share × count), at most count − 1."""
    order = np.lexsort((key, data.user_codes))
    counts = data.user_counts()
    n_test = np.minimum(np.round(test_size * counts), np.maximum(counts - 1, 0)).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    sorted_users = data.user_codes[order]
    position = np.arange(data.n_ratings) - starts[sorted_users]
    is_test = np.zeros(data.n_ratings, dtype=bool)
    is_test[order] = position >= counts[sorted_users] - n_test[sorted_users]
    return is_test


def _sides(data: RatingsDataset, is_test: np.ndarray, label: str) -> tuple[RatingsDataset, RatingsDataset]:
    train = data.subset(~is_test, name=f"{data.name} train ({label})")
    test = data.subset(is_test, name=f"{data.name} test ({label})")
    if train.n_ratings == 0:
        raise EmptyDataError(f"The {label} split left no training ratings: use a smaller test share.")
    return train, test
