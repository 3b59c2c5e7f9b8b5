"""The new-user protocol (strong generalization): how well a model serves people it was not trained on.

Users are split at random (seeded) into train, validation and test users; models see the train users' ratings
only. Each held-out user's ratings are shuffled (seeded) and split into the ``given`` ones (a share such as
80 %, or a count such as 10: what a person rates in the dashboard) and the rest to find; relevant = the
ones to find rated at or above the liked threshold (4 on a 1–5 or 0.5–5 scale: three quarters of the way up
the scale). The given ratings are folded in with no retraining.

A recommender under test is a plain callable ``(given item codes, given ratings) -> a score per item``
(`Scorer`); adapters make one of our models (`model_scorer`) and most-popular (`popular_scorer`); peers
(EASE, implicit's ALS) are written the same way in ``benchmarks/``. An optional re-ranking step
``(scores, given codes, given ratings, n) -> item codes`` (`recengine.serving.rerank.CalibratedReranker`) builds
the list from the scores.

Candidates: items some train user rated, minus the person's given ones. Per person, over the users with at
least one relevant item: Recall@20 normalised by min(20, R) (Liang et al. 2018) and NDCG@100; over the top
20 lists: catalogue coverage, mean popularity (train ratings of what is recommended), personalization and
genre miscalibration KL(p‖q̃) (`recengine.evaluation.metrics`) with p the genre mix of the given ratings rated highly
(all given ones when none is), what the person told us, as in Steck 2018, where p comes from the history
the recommender sees; ``miscalibration_all`` takes p from everything they rated highly (given and to find).

`taste_profiles` checks three made-up people with a distinct taste (Disney animated films, children's
films, dramas, all at 5 stars) on the bundled MovieLens latest-small.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from recengine.blas import single_threaded_blas
from recengine.data.dataset import RatingsDataset, liked_threshold
from recengine.data.genres import genre_matrix, genre_mix
from recengine.errors import EmptyDataError, ParameterError
from recengine.evaluation.metrics import miscalibration, personalization
from recengine.models.base import Recommender
from recengine.models.foldin import fold_in
from recengine.serving.rerank import (
    DEFAULT_WEIGHT,
    CalibratedReranker,
    genre_background,
    genre_shares,
    taste_mix,
)

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
Reranker = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]

# What the benchmark (benchmarks/results/newuser.md) recommends for "you": wals with its defaults, then
# calibrated re-ranking at this weight for a distinct taste (less for a mainstream one, `rerank.personal_weight`)
# with scores normalised by rank inside the pool (chosen on validation users).
CALIBRATION_WEIGHT = DEFAULT_WEIGHT  # what recommend() uses for wals unless told
CALIBRATION_NORMALISE = "rank"

RECALL_AT = 20
NDCG_AT = 100
LIST_LENGTH = 20  # what a person sees: the beyond-accuracy measures are over lists of this length


# --- the split ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldOutUsers:
    """Held-out people: per person the given (item codes, ratings), the relevant items to find and every
    item they rated highly (given or to find)."""

    users: np.ndarray
    given: list[tuple[np.ndarray, np.ndarray]]
    relevant: list[np.ndarray]
    liked: list[np.ndarray]
    threshold: float

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class NewUserSplit:
    """The train users' ratings (same codes as the whole set) and the validation and test people."""

    train: RatingsDataset
    validation: HeldOutUsers
    test: HeldOutUsers
    given: float | int
    threshold: float


def split_new_users(
    data: RatingsDataset,
    *,
    given: float | int = 0.8,
    validation: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    threshold: float | None = None,
) -> NewUserSplit:
    """Train / validation / test users and each held-out person's given ratings and items to find.

    ``given``: a share in (0, 1) of each person's ratings, or a whole number of ratings (people with no more
    than that have nothing to find and are left out); ``validation`` and ``test``: shares of the users.
    """
    _check_shares(given, validation, test)
    threshold = liked_threshold(data.scale) if threshold is None else float(threshold)
    rng = np.random.default_rng(seed)
    active = np.flatnonzero(data.user_counts() > 0)
    order = rng.permutation(active)
    n_valid, n_test = round(validation * len(order)), round(test * len(order))
    if n_valid < 1 or n_test < 1 or n_valid + n_test >= len(order):
        raise EmptyDataError(
            f"{len(order)} users cannot be split into train, validation and test users: use a larger data set."
        )
    valid_users, test_users = np.sort(order[:n_valid]), np.sort(order[n_valid : n_valid + n_test])
    train = data.subset(
        ~np.isin(data.user_codes, order[: n_valid + n_test]), name=f"{data.name} (train users)"
    )
    return NewUserSplit(
        train,
        _held_out(data, valid_users, given, threshold, rng),
        _held_out(data, test_users, given, threshold, rng),
        given,
        threshold,
    )


def _check_shares(given: float | int, validation: float, test: float) -> None:
    whole = isinstance(given, (int, np.integer)) and not isinstance(given, bool)
    if not (whole and given >= 1) and not (not whole and 0 < given < 1):
        raise ParameterError(
            "given", given, "a share > 0 and < 1 (such as 0.8) or a whole number ≥ 1 (such as 10)"
        )
    for name, share in (("validation", validation), ("test", test)):
        if not 0 < share < 0.5:
            raise ParameterError(f"{name} share of users", share, "a number > 0 and < 0.5")


def _held_out(
    data: RatingsDataset, users: np.ndarray, given: float | int, threshold: float, rng: np.random.Generator
) -> HeldOutUsers:
    csr = data.csr
    kept, gives, relevant, liked = [], [], [], []
    for user in users:
        row = csr[int(user)]
        codes, ratings = row.indices.astype(np.int64), row.data.astype(np.float64)
        count = (
            int(given)
            if isinstance(given, (int, np.integer))
            else min(max(round(given * len(codes)), 1), len(codes) - 1)
        )
        if count >= len(codes):
            continue
        order = rng.permutation(len(codes))
        shown, hidden = order[:count], order[count:]
        kept.append(int(user))
        gives.append((codes[shown], ratings[shown]))
        relevant.append(codes[hidden][ratings[hidden] >= threshold])
        liked.append(codes[ratings >= threshold])
    return HeldOutUsers(np.array(kept, dtype=np.int64), gives, relevant, liked, threshold)


# --- recommenders under test ----------------------------------------------------------------------------


def model_scorer(model: Recommender, counts: np.ndarray | None = None) -> Scorer:
    """One of our fitted models: the given ratings folded in, every item scored; with the train set's
    ratings per item ``counts``, ordered as `recommend()` orders a list (`Recommender.list_scores`: a rating
    model by lift among films with enough ratings), else by the model's scores (a predicted rating)."""

    def scores(codes: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        vector = fold_in(model, codes, ratings)
        scored = model.scores_for(vector.factors, vector.bias)
        if counts is None:
            return scored
        return model.list_scores(scored, model.general_scores(vector.bias), counts)

    return scores


def popular_scorer(train: RatingsDataset) -> Scorer:
    """Most popular: every person gets the items with the most train ratings."""
    counts = train.item_counts().astype(np.float64)
    return lambda codes, ratings: counts.copy()


def top_n(scores: np.ndarray, codes: np.ndarray, ratings: np.ndarray, n: int) -> np.ndarray:
    """The plain list: the ``n`` best-scoring allowed items (−inf marks the others), best first."""
    allowed = np.flatnonzero(np.isfinite(scores))
    n = min(n, len(allowed))
    if n == 0:
        return np.empty(0, dtype=np.int64)
    best = allowed[np.argpartition(-scores[allowed], n - 1)[:n]]
    return best[np.lexsort((best, -scores[best]))]


# --- the measures ---------------------------------------------------------------------------------------


def evaluate_new_users(
    scorer: Scorer,
    people: HeldOutUsers,
    train: RatingsDataset,
    *,
    rerank: Reranker | None = None,
    genres: Any = None,
) -> dict[str, float]:
    """Recall@20, NDCG@100, coverage, popularity, personalization and miscalibration of the top 20, and
    the median milliseconds per person of scoring plus list making (see the module docstring)."""
    genres = genre_matrix(train.items).toarray() if genres is None else genres
    counts = train.item_counts()
    known = counts > 0
    make_list = rerank or top_n
    threshold = people.threshold
    lists, recall, ndcg, kl, kl_all, seconds = [], [], [], [], [], []
    discounts = 1.0 / np.log2(np.arange(2, NDCG_AT + 2))
    with single_threaded_blas():
        for (codes, ratings), relevant, liked in zip(
            people.given, people.relevant, people.liked, strict=True
        ):
            tick = time.perf_counter()
            scores = np.where(known, np.asarray(scorer(codes, ratings), dtype=np.float64), -np.inf)
            scores[codes] = -np.inf
            ranked = make_list(scores, codes, ratings, NDCG_AT)
            seconds.append(time.perf_counter() - tick)
            shown = ranked[:LIST_LENGTH]
            lists.append(shown)
            mix = genre_mix(shown, genres)
            kl.append(miscalibration(taste_mix(codes, ratings, genres, threshold), mix))
            kl_all.append(miscalibration(genre_mix(liked, genres), mix))
            if not len(relevant):
                continue
            hits = np.isin(ranked, relevant)
            recall.append(hits[:RECALL_AT].sum() / min(RECALL_AT, len(relevant)))
            ideal = discounts[: min(len(relevant), NDCG_AT)].sum()
            ndcg.append((hits * discounts[: len(hits)]).sum() / ideal)
    if not recall:
        raise EmptyDataError("None of the held-out people has a relevant item to find: nothing to measure.")
    flat = np.concatenate(lists)
    return {
        f"recall@{RECALL_AT}": float(np.mean(recall)),
        f"ndcg@{NDCG_AT}": float(np.mean(ndcg)),
        "coverage": len(np.unique(flat)) / train.n_items,
        "popularity": float(counts[flat].mean()),
        "personalization": personalization(lists, train.n_items),
        "miscalibration": float(np.mean(kl)),
        "miscalibration_all": float(np.mean(kl_all)),
        "users": len(recall),
        "ms_per_user": float(np.median(seconds) * 1000),
    }


# --- three people with a distinct taste (bundled MovieLens latest-small) --------------------------------

# Eight well-known Walt Disney Animation Studios features rated 5 stars, and fourteen others to find.
DISNEY_QUERY = (588, 364, 595, 594, 2081, 596, 1022, 2078)  # Aladdin, The Lion King, Beauty and the
# Beast, Snow White and the Seven Dwarfs, The Little Mermaid, Pinocchio, Cinderella, The Jungle Book (1967)
DISNEY_TO_FIND = (48, 2080, 1282, 783, 616, 1907, 2085, 2087, 1032, 2018, 4016, 3034, 1029, 2096)
# Pocahontas, Lady and the Tramp, Fantasia, The Hunchback of Notre Dame, The Aristocats, Mulan,
# 101 Dalmatians (1961), Peter Pan, Alice in Wonderland (1951), Bambi, The Emperor's New Groove, Robin Hood,
# Dumbo, Sleeping Beauty
CHILDREN_QUERY = (1, 34, 1097, 1073, 586, 2, 919, 1028, 6377, 4306)  # Toy Story, Babe, E.T., Willy Wonka &
# the Chocolate Factory, Home Alone, Jumanji, The Wizard of Oz, Mary Poppins, Finding Nemo, Shrek
DRAMA_QUERY = (318, 527, 2858, 858, 1704, 1193, 1721, 4995, 2329, 1221)  # The Shawshank Redemption,
# Schindler's List, American Beauty, The Godfather, Good Will Hunting, One Flew Over the Cuckoo's Nest,
# Titanic, A Beautiful Mind, American History X, The Godfather: Part II

DISNEY_FOUND_TARGET = 7
CHILDREN_SHARE_TARGET = 0.6
DRAMA_SHARE_TARGET = 0.7
OVERLAP_TARGET = 4

Server = Callable[[Recommender, RatingsDataset, np.ndarray, np.ndarray, int], np.ndarray]


def served_by_recommend(
    model: Recommender,
    data: RatingsDataset,
    codes: np.ndarray,
    ratings: np.ndarray,
    n: int,
    taste: float | None = None,
) -> np.ndarray:
    """Item codes of ``recommend(model, data, vector=fold_in(...), n=n, taste=taste)``: the list the dashboard
    shows (re-ranked toward the person's genres at the default weight unless ``taste`` says otherwise)."""
    from recengine.serving.recommend import recommend

    table = recommend(model, data, vector=fold_in(model, codes, ratings), n=n, taste=taste)
    return data.item_codes_of(table["item"])


def plain_server(
    model: Recommender, data: RatingsDataset, codes: np.ndarray, ratings: np.ndarray, n: int
) -> np.ndarray:
    """`served_by_recommend` without re-ranking (taste 0): the model's own order."""
    return served_by_recommend(model, data, codes, ratings, n, taste=0.0)


def calibrated_server(
    weight: float = CALIBRATION_WEIGHT, normalise: str = CALIBRATION_NORMALISE, *, personal: bool = True
) -> Server:
    """A `Server` that folds the ratings in, orders every item not rated as `recommend()` does and re-ranks the
    top n by genre calibration at weight λ (`recengine.serving.rerank`), each person's `personal_weight` of it unless ``personal`` is
    False."""

    def serve(
        model: Recommender, data: RatingsDataset, codes: np.ndarray, ratings: np.ndarray, n: int
    ) -> np.ndarray:
        from recengine.serving.recommend import candidates

        background = genre_background(data) if personal else None
        reranker = CalibratedReranker(genre_shares(data), weight, liked_threshold(data.scale),
                                      normalise=normalise, background=background)  # fmt: skip
        scores = model_scorer(model, data.item_counts())(codes, ratings)
        return reranker(np.where(candidates(data, codes), scores, -np.inf), codes, ratings, n)

    return serve


def taste_profiles(
    model: Recommender, data: RatingsDataset, *, serve: Server = served_by_recommend, n: int = 20
) -> dict[str, Any]:
    """The three people's top ``n`` (item codes) and the checks: Disney films found (of 14), the share of
    Children or Animation in the children's-film lover's list, of Drama in the drama lover's, the films
    each pair of lists shares, and ``passes`` (every target met)."""
    has = [set(genres) for genres in data.items["genres"]]
    lists = {}
    for name, query in (("disney", DISNEY_QUERY), ("children", CHILDREN_QUERY), ("drama", DRAMA_QUERY)):
        codes = data.item_codes_of(query)
        lists[name] = np.asarray(serve(model, data, codes, np.full(len(codes), data.scale.high), n))
    disney = int(np.isin(lists["disney"], data.item_codes_of(DISNEY_TO_FIND)).sum())
    children = float(np.mean([bool(has[i] & {"Children", "Animation"}) for i in lists["children"]]))
    drama = float(np.mean(["Drama" in has[i] for i in lists["drama"]]))
    names = list(lists)
    overlaps = {
        f"{a}/{b}": len(np.intersect1d(lists[a], lists[b]))
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
    passes = (
        disney >= DISNEY_FOUND_TARGET
        and children >= CHILDREN_SHARE_TARGET
        and drama >= DRAMA_SHARE_TARGET
        and max(overlaps.values()) <= OVERLAP_TARGET
    )
    return {"lists": lists, "disney_found": disney, "children_share": children, "drama_share": drama,
            "overlaps": overlaps, "passes": passes}  # fmt: skip


def list_miscalibration(
    data: RatingsDataset, listed: np.ndarray, rated: np.ndarray, ratings: np.ndarray
) -> float:
    """Steck's miscalibration KL(p‖q̃) of one person's list: p the genre mix of what they rated at or above
    `liked_threshold`, q that of the ``listed`` item codes (0: the same mix)."""
    genres = genre_shares(data)
    target = taste_mix(
        np.asarray(rated, np.int64), np.asarray(ratings, np.float64), genres, liked_threshold(data.scale)
    )
    return float(miscalibration(target, genre_mix(np.asarray(listed, np.int64), genres)))
