"""Top-N lists people can read: filters, the rating the model expects, and why each film is there.

``recommend`` ranks every item the user has not rated, for a user of the data set or for a folded-in
`UserVector`. Each row names the user's own rated items that contributed most to its score (``because``),
as the model measures it (`Recommender.attribution`): the exact split of the score over the rated items
where the model's fold-in is a linear solve (``wals``, ``svd``, the biased rating models, ``bpmf``,
``svdpp``), the cosine similarity of item factors times the rating otherwise (``bpr``, ``nmf``, ...).

Only positive contributions are named, largest first, and only in words that are true for the reader:
a rated item the model counts as liked (rated above expectation, or any rating for the implicit and
cosine measures) is a reason, "Because you rated X 5★", unless it was rated low (below the middle of
the scale: a film someone rated low is never offered as a reason to like a similar one); an item rated low
and below expectation whose pull on the target is negative is named as the contrast it is, "it is unlike
Y, which you rated low (1★)". For a user of the data set the sentences say "user 42" and "they" instead
of "you". Models without factors (``baseline``, ``popular``) explain with the item's popularity and
average rating instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recengine.blas import single_threaded_blas
from recengine.data.dataset import RatingScale, RatingsDataset, liked_threshold
from recengine.errors import RecEngineError
from recengine.lazy import pandas as pd
from recengine.models.base import Recommender
from recengine.models.foldin import UserVector
from recengine.models.scoring import score_matrix
from recengine.serving.rerank import (
    DEFAULT_WEIGHT,
    calibrated,
    genre_background,
    genre_columns,
    genre_shares,
    personal_weight,
    taste_mix,
)

DEFAULT_RANKING_MODEL = "wals"  # what people's recommendations come from unless they choose otherwise
BECAUSE = 3  # rated items named per recommendation
PRIOR_RATINGS = 10  # popular(): strength of the pull of an item's mean rating toward the global mean
COLUMNS = [
    "item",
    "title",
    "year",
    "genres",
    "score",
    "model_rank",
    "predicted_rating",
    "personal",
    "because",
    "explanation",
]
GENERAL_APPEAL = 0.5  # below this personal share a film is listed mostly for its general appeal, and says so


# --- recommendations ------------------------------------------------------------------------------------


def recommend(
    model: Recommender,
    data: RatingsDataset,
    *,
    user: Any = None,
    vector: UserVector | None = None,
    n: int = 10,
    exclude: Iterable[Any] | None = None,
    genres: Sequence[str] | None = None,
    min_ratings: int = 0,
    years: tuple[float | None, float | None] | None = None,
    taste: float | None = None,
) -> pd.DataFrame:
    """The top ``n`` items for ``user`` (a raw user id of ``data``) or for a folded-in ``vector``.

    ``data`` is the data set the model was trained on (or the one its training split came from): it gives
    titles, the user's rated items (never recommended) and rating counts. ``exclude`` holds more raw item
    ids to leave out; ``genres`` keeps items with any of these genres; ``min_ratings`` keeps items with at
    least that many ratings in ``data``; ``years`` = (from, to), inclusive, either end may be None.

    The list is ordered by the model's `Recommender.list_scores` (a ranking model's scores; a rating
    model's lift over an average person among films with enough ratings); its films are chosen to follow the
    genre mix of what the person rated highly (calibrated re-ranking, Steck 2018, `recengine.serving.rerank`: the
    films it chooses are shown in list-score order) with weight
    ``taste`` from 0 (the list scores alone) to 1 for a person whose taste is distinct from everyone's, less for
    a mainstream one (`taste_weight`); None means the model's own `Recommender.default_taste` for a folded-in
    ``vector`` and `rerank.DEFAULT_WEIGHT` for a user of the data set (`default_taste_for`).

    Columns: item, title, year, genres, score (the list score the re-ranking starts from; higher is better),
    model_rank (where that score alone puts the film among the candidates, 1 first: the re-ranking brings
    films from further down), predicted_rating (on the data set's scale for rating models, NaN for ranking models), personal (the
    share of the film's lead over a typical film owed to the person, `personal_share`), because (titles of
    the user's rated items that contributed most as reasons: never one they rated low, and none when the
    film is there mostly for its general appeal), explanation (one sentence about "you" for a vector, about
    "user <id>" for a user of the data set).
    """
    _check_model_fits_data(model, data)
    taste = default_taste_for(model, vector is not None) if taste is None else taste
    reader = Reader.of(user, vector)
    if vector is not None and vector.is_fallback:
        seen = np.asarray(vector.item_codes, dtype=np.int64)
        return popular(data, n, exclude=_raw_ids(data, seen, exclude), genres=genres,
                       min_ratings=min_ratings, years=years)  # fmt: skip
    with single_threaded_blas():
        if vector is not None:
            rated, values = np.asarray(vector.item_codes, np.int64), np.asarray(vector.ratings, np.float64)
            scores, bias = model.scores_for(vector.factors, vector.bias).astype(np.float64), vector.bias
        else:
            code = data.user_code(user)
            row = data.csr[code]
            rated, values = row.indices.astype(np.int64), row.data.astype(np.float64)
            scores, bias = score_matrix(model, np.array([code]))[0], model._user_bias_of(code)
        general = model.general_scores(bias)
        ranked = model.list_scores(scores, general, data.item_counts())
        keep = candidates(data, rated, exclude=exclude, genres=genres, min_ratings=min_ratings, years=years)
        keep &= np.isfinite(ranked)
        chosen = _listed(data, ranked, keep, rated, values, n, taste)
        liked, contrast = model.attribution(rated, values, chosen)
    named = [_named(data.scale, values, like, unlike) for like, unlike in zip(liked, contrast, strict=True)]
    shares = personal_share(scores, general, keep, chosen)
    listed = Listed(chosen, ranked[chosen], model_ranks(ranked, keep, chosen), scores[chosen], shares)
    brought = bool(np.any(listed.places > len(chosen)))  # only then is the person's genre list needed
    favoured = favoured_genres(data, rated, values) if brought else []
    return _table(model, data, listed, rated, values, named, reader, favoured)


def _listed(
    data: RatingsDataset,
    ranked: np.ndarray,
    keep: np.ndarray,
    rated: np.ndarray,
    ratings: np.ndarray,
    n: int,
    taste: float,
) -> np.ndarray:
    """Codes of the list, best first: the ``n`` best list scores among ``keep``, re-ranked toward the genre
    mix of the person's well-rated items with their `taste_weight` when the data set has genres."""
    weight = taste_weight(data, rated, ratings, taste)
    if not weight:
        return _best(ranked, keep, n)
    target = taste_mix(rated, ratings, genre_shares(data), liked_threshold(data.scale))
    return calibrated(np.where(keep, ranked, -np.inf), genre_shares(data), target, n, weight)


def default_taste_for(model: Recommender, folded_in: bool) -> float:
    """λ of a list unless the person chooses: the model's own for a new person whose ratings are folded in,
    `rerank.DEFAULT_WEIGHT` for a user of the data set (their factors know them from all their ratings)."""
    return model.default_taste if folded_in else DEFAULT_WEIGHT


def favoured_genres(data: RatingsDataset, rated: np.ndarray, ratings: np.ndarray) -> list[str]:
    """The genres of the person's taste mix p (what they rated highly), largest share first."""
    genres = genre_shares(data)
    if not len(rated) or genres.shape[1] == 0:
        return []
    target = taste_mix(np.asarray(rated, np.int64), np.asarray(ratings, np.float64), genres,
                       liked_threshold(data.scale))  # fmt: skip
    names = genre_columns(data)
    return [names[j] for j in np.argsort(-target, kind="stable") if target[j] > 0]


def taste_weight(data: RatingsDataset, rated: np.ndarray, ratings: np.ndarray, taste: float) -> float:
    """The calibration weight λ of one person's list: ``taste`` scaled by how distinct the genre mix of what
    they rated highly is from everyone's (`rerank.personal_weight`); 0 when there is nothing to calibrate
    (no ratings, or a data set without genres)."""
    weight = taste
    genres = genre_shares(data) if weight and len(rated) else None
    if genres is None or genres.shape[1] == 0:
        return 0.0
    target = taste_mix(np.asarray(rated, np.int64), np.asarray(ratings, np.float64), genres,
                       liked_threshold(data.scale))  # fmt: skip
    return personal_weight(weight, target, genre_background(data)) if target.any() else 0.0


@dataclass(frozen=True)
class Listed:
    """The items of a list, best first: their list scores and places by them, the model's scores and their
    personal shares."""

    codes: np.ndarray
    ranked: np.ndarray
    places: np.ndarray
    scores: np.ndarray
    personal: np.ndarray


def model_ranks(ranked: np.ndarray, keep: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Each chosen item's place by list score among the candidates ``keep`` (1 + how many score higher: ties share a place)."""
    pool = np.sort(ranked[keep])
    return len(pool) - np.searchsorted(pool, ranked[chosen], side="right") + 1


def personal_share(
    scores: np.ndarray, general: np.ndarray, keep: np.ndarray, chosen: np.ndarray
) -> np.ndarray:
    """For each chosen item, the share of its lead over a typical candidate that is owed to the person:
    (s − a·g) / (s − a·median g), 0 to 1, s the person's score and g an average person's, put on the
    person's scale by a = s·g / g·g over the candidates (a new person with ten ratings scores everything
    lower than the average trained user with hundreds). The rest of the lead is the film's general appeal
    (its popularity, or its bias in a rating model)."""
    if not len(chosen):
        return np.empty(0)
    pool = keep if keep.any() else np.ones(len(scores), dtype=bool)
    reference = general[pool]
    scale = max(float(scores[pool] @ reference) / max(float(reference @ reference), 1e-300), 0.0)
    general = scale * general
    typical = scale * float(np.median(reference))
    lift = scores[chosen] - general[chosen]
    lead = scores[chosen] - typical
    share = np.divide(lift, lead, out=(lift > 0).astype(np.float64), where=lead > 1e-12)
    return np.clip(share, 0.0, 1.0)


def candidates(
    data: RatingsDataset,
    rated: np.ndarray,
    *,
    exclude: Iterable[Any] | None = None,
    genres: Sequence[str] | None = None,
    min_ratings: int = 0,
    years: tuple[float | None, float | None] | None = None,
) -> np.ndarray:
    """Boolean mask over item codes: not rated, not excluded, and passing the filters."""
    keep = np.ones(data.n_items, dtype=bool)
    keep[np.asarray(rated, dtype=np.int64)] = False
    if exclude is not None:
        keep[[data.item_code(raw) for raw in exclude]] = False
    if min_ratings > 0:
        keep &= data.item_counts() >= min_ratings
    if genres:
        wanted = {g.casefold() for g in genres}
        keep &= np.array([any(g.casefold() in wanted for g in gs) for gs in data.items["genres"]], dtype=bool)
    if years is not None:
        low, high = years
        year = data.items["year"].to_numpy(dtype=np.float64)
        if low is not None:
            keep &= year >= low
        if high is not None:
            keep &= year <= high
    return keep


def _best(scores: np.ndarray, keep: np.ndarray, n: int) -> np.ndarray:
    """Codes of the ``n`` best-scoring items among ``keep``, best first (ties: lower code first)."""
    pool = np.flatnonzero(keep)
    if n <= 0 or not len(pool):
        return np.empty(0, dtype=np.int64)
    if len(pool) > n:
        pool = pool[np.argpartition(-scores[pool], n - 1)[:n]]
    return pool[np.lexsort((pool, -scores[pool]))]


def _check_model_fits_data(model: Recommender, data: RatingsDataset) -> None:
    model._check_fitted()
    if model.n_items_ != data.n_items:
        raise RecEngineError(
            f"The model knows {model.n_items_:,} items but the data set has {data.n_items:,}: use the data "
            "set the model was trained on."
        )


def item_columns(data: RatingsDataset, codes: np.ndarray) -> dict[str, np.ndarray]:
    """The first columns of every table of items: item (raw id), title, year and genres of ``codes``."""
    items = data.items.iloc[codes]
    return {
        "item": data.item_ids[codes],
        "title": items["title"].to_numpy(),
        "year": items["year"].to_numpy(),
        "genres": items["genres"].to_numpy(),
    }


def _raw_ids(data: RatingsDataset, codes: np.ndarray, more: Iterable[Any] | None) -> list[Any]:
    return [*data.item_ids[codes].tolist(), *(more or [])]


# --- attribution ----------------------------------------------------------------------------------------


def contributions(
    model: Recommender, rated: np.ndarray, ratings: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """How much each rated item pushed each target item's score up (targets × rated): the two parts of
    `Recommender.attribution` added up. Zeros for models without factors."""
    liked, contrast = model.attribution(rated, ratings, targets)
    return liked + contrast


@dataclass(frozen=True)
class Reader:
    """Whom the sentences are about: "you" (a folded-in vector) or a user of the data set."""

    subject: str
    pronoun: str
    possessive: str

    @classmethod
    def you(cls) -> Reader:
        return cls("you", "you", "your")

    @classmethod
    def user(cls, user: Any) -> Reader:
        return cls(f"user {user}", "they", f"user {user}'s")

    @classmethod
    def of(cls, user: Any, vector: UserVector | None) -> Reader:
        """The reader of a request for ``user`` (a raw id) or a folded-in ``vector``: exactly one is given."""
        if (user is None) == (vector is None):
            raise RecEngineError(
                "Give either a user id of the data set or a folded-in user vector, not both."
            )
        return cls.you() if vector is not None else cls.user(user)


@dataclass(frozen=True)
class Named:
    """Positions (in the rated items) named for one recommendation: reasons and contrasts, largest first."""

    reasons: list[int]
    contrasts: list[int]


def _named(scale: RatingScale, ratings: np.ndarray, liked: np.ndarray, contrast: np.ndarray) -> Named:
    """The (at most `BECAUSE`) largest contributions that can be named truthfully: liked items not rated
    low as reasons, items rated low that the target is unlike as contrasts; nothing else."""
    low = ratings < (scale.low + scale.high) / 2
    value = np.concatenate([np.where(low, 0.0, liked), np.where(low, contrast, 0.0)])
    order = [int(j) for j in np.argsort(-value, kind="stable")[:BECAUSE] if value[j] > 0]
    n = len(ratings)
    return Named([j for j in order if j < n], [j - n for j in order if j >= n])


def _stars(value: float) -> str:
    return f"{value:g}★"


def _sentence(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _reason_text(reader: Reader, titles: list[str], reasons: list[float], contrasts: list[float]) -> str:
    """ "Because you rated A 5★ and B 4.5★, and it is unlike C, which you rated low (1★)." from the titles
    of the reasons then the contrasts and their ratings; empty when there is nothing to name."""
    liked = [f"{t} {_stars(r)}" for t, r in zip(titles, reasons, strict=False)]
    unlike = titles[len(reasons) :]
    text = f"Because {reader.subject} rated {_sentence(liked)}" if liked else ""
    if unlike:
        same = len(contrasts) > 1 and len(set(contrasts)) == 1
        stars = f"{_stars(contrasts[0])} each" if same else _sentence([_stars(r) for r in contrasts])
        contrast = f"it is unlike {_sentence(unlike)}, which {reader.pronoun} rated low ({stars})"
        text = f"{text}, and {contrast}" if text else contrast[0].upper() + contrast[1:]
    return f"{text}." if text else ""


def _table(
    model: Recommender,
    data: RatingsDataset,
    listed: Listed,
    rated: np.ndarray,
    ratings: np.ndarray,
    named: list[Named],
    reader: Reader,
    favoured: list[str],
) -> pd.DataFrame:
    """The list's rows; a film the re-ranking brought in from below the list's length for the person's genres
    (``favoured``, theirs first) says so when its score is mostly general appeal, since the genres, not the
    score, put it there."""
    chosen = listed.codes
    counts = data.item_counts()[chosen]
    rating_model = model.kind == "rating"
    taste = model.has_taste
    predicted = model.scale_.clip(listed.scores) if rating_model else np.full(len(chosen), np.nan)
    because, explanation = [], []
    for row, code in enumerate(chosen):
        general = taste and listed.personal[row] < GENERAL_APPEAL
        these = Named([], []) if general else named[row]
        because.append([data.title(int(rated[j])) for j in these.reasons])
        titles = [data.title(int(rated[j])) for j in these.reasons + these.contrasts]
        reason = _reason_text(
            reader, titles, ratings[these.reasons].tolist(), ratings[these.contrasts].tolist()
        )
        lead = f"Predicted {float(predicted[row]):.1f}★. " if rating_model else ""
        if not reason:
            share = float(listed.personal[row]) if taste else None
            brought = general and listed.places[row] > len(chosen)
            where = _brought_in(data, int(code), int(listed.places[row]), favoured, reader) if brought else ""
            reason = _popularity_note(data, int(code), int(counts[row]), share, reader, where)
            if general and named[row].reasons:
                top = data.title(int(rated[named[row].reasons[0]]))
                reason += f" What {reader.possessive} ratings add comes mostly from {top}."
        explanation.append(lead + reason)
    return pd.DataFrame(
        {
            **item_columns(data, chosen),
            "score": listed.ranked,
            "model_rank": listed.places,
            "predicted_rating": predicted,
            "personal": listed.personal,
            "because": because,
            "explanation": explanation,
        },
        columns=COLUMNS,
    )


def _brought_in(data: RatingsDataset, code: int, place: int, favoured: list[str], reader: Reader) -> str:
    """Where a film brought into the list by the person's genres came from: the model's #``place``."""
    own = set(data.items["genres"].iat[code])
    shared = [genre for genre in favoured if genre in own][:3]
    genres = f" ({', '.join(shared)})" if shared else ""
    return f"Brought in for {reader.possessive} genres{genres} from the model's #{place}"


def _popularity_note(
    data: RatingsDataset, code: int, count: int, share: float | None, reader: Reader, brought: str = ""
) -> str:
    """Why a film without a nameable reason is listed: the model has no taste factors (``share`` None),
    the film is mostly there for its general appeal (a small personal ``share``; ``brought``: the re-ranking
    brought it in for the person's genres, `_brought_in`), or no single rated film points to it strongly."""
    if share is None:
        opening = "Ranked by general appeal (this model has no taste factors)"
    elif share < GENERAL_APPEAL and brought:
        opening = (
            f"{brought}; its score there is mostly general appeal: {reader.possessive} ratings give "
            f"{share:.0%} of its lead over a typical film"
        )
    elif share < GENERAL_APPEAL:
        opening = (
            f"Mostly for its general appeal: {reader.possessive} ratings give {share:.0%} of its lead over a "
            "typical film, the rest is what an average person gets"
        )
    else:
        opening = f"Nothing {reader.subject} rated highly points to it strongly"
    if not count:
        return f"{opening}; nobody in the data has rated it yet."
    mean = float(data.csc[:, code].data.mean())
    raters = "one person rated it" if count == 1 else f"{count:,} people rated it"
    return f"{opening}; {raters}, {_stars(round(mean, 1))} on average."


# --- the fallback ----------------------------------------------------------------------------------------


def popular(
    data: RatingsDataset,
    n: int = 10,
    *,
    exclude: Iterable[Any] | None = None,
    genres: Sequence[str] | None = None,
    min_ratings: int = 0,
    years: tuple[float | None, float | None] | None = None,
    prior: float = PRIOR_RATINGS,
) -> pd.DataFrame:
    """Popular and well-liked items: for someone with no ratings yet, labelled as such.

    score = (m̃ − low) / (high − low) · ln(1 + n_i), where n_i is the item's number of ratings and m̃ its
    mean rating pulled toward the global mean as if ``prior`` more ratings at the global mean existed
    (a damped mean: few ratings cannot make an item look great). The same columns as `recommend`, plus
    mean_rating and n_ratings.
    """
    counts = data.item_counts().astype(np.float64)
    sums = np.bincount(data.item_codes, data.ratings.astype(np.float64), minlength=data.n_items)
    global_mean = float(data.ratings.mean()) if data.n_ratings else 0.0
    damped = (sums + prior * global_mean) / (counts + prior)
    scale = data.scale
    scores = (damped - scale.low) / (scale.high - scale.low) * np.log1p(counts)
    keep = candidates(data, np.empty(0, np.int64), exclude=exclude, genres=genres, min_ratings=min_ratings,
                      years=years)  # fmt: skip
    chosen = _best(scores, keep, n)
    means = np.divide(sums, counts, out=np.full(data.n_items, np.nan), where=counts > 0)[chosen]
    return pd.DataFrame(
        {
            **item_columns(data, chosen),
            "score": scores[chosen],
            "model_rank": np.arange(1, len(chosen) + 1),
            "predicted_rating": np.full(len(chosen), np.nan),
            "because": [[] for _ in chosen],
            "explanation": [
                f"Popular and well liked (you have not rated anything yet): {int(c):,} rating{'' if c == 1 else 's'}, "
                f"{_stars(round(float(m), 1))} on average."
                for c, m in zip(counts[chosen], means, strict=True)
            ],
            "mean_rating": means,
            "n_ratings": counts[chosen].astype(np.int64),
        }
    )


# --- neighbours ----------------------------------------------------------------------------------------


def _cosine_neighbours(
    factors: np.ndarray, index: int, n: int, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` rows most similar to row ``index`` by cosine, among rows ``keep`` (all by default)."""
    matrix = factors.astype(np.float64)
    norms = np.linalg.norm(matrix, axis=1)
    if norms[index] == 0:
        return np.empty(0, np.int64), np.empty(0)
    similarity = matrix @ matrix[index] / np.maximum(norms * norms[index], 1e-12)
    similarity[norms == 0] = -np.inf
    keep = np.ones(len(matrix), dtype=bool) if keep is None else keep.copy()
    keep[index] = False
    chosen = _best(similarity, keep & np.isfinite(similarity), n)
    return chosen, similarity[chosen]


def _factors_of(model: Recommender, side: str) -> np.ndarray:
    model._check_fitted()
    factors = getattr(model, f"{side}_factors_", None)
    if factors is None or factors.shape[1] == 0:
        raise RecEngineError(
            f"{model.name} has no {side} factors to compare: choose a factorization model for similar {side}s."
        )
    return factors


GENRE_WEIGHT = 0.3  # similar_items: weight of the genre overlap added to the cosine of the factors
NEIGHBOUR_POOL = 50  # similar_items: the nearest items by cosine among which genres may reorder


def genre_overlap(data: RatingsDataset, code: int, others: np.ndarray) -> np.ndarray:
    """Jaccard overlap |G_i ∩ G_j| / |G_i ∪ G_j| of the genres of items ``others`` with item ``code``'s (0 when
    either has none)."""
    ignore = {"(no genres listed)", "unknown"}
    genres = data.items["genres"]
    mine = set(genres.iat[code]) - ignore
    theirs = [set(genres.iat[int(j)]) - ignore for j in others]
    return np.array([len(mine & g) / len(mine | g) if mine and g else 0.0 for g in theirs])


def neighbour_genre_agreement(
    model: Recommender,
    data: RatingsDataset,
    *,
    n: int = 10,
    min_ratings: int = 10,
    query_ratings: int = 20,
    genre_weight: float = GENRE_WEIGHT,
) -> dict[str, float]:
    """How alike in kind `similar_items` neighbours are, over every item with at least ``query_ratings``
    ratings: mean genre overlap (Jaccard) with the item, share of neighbours sharing a genre with it, and
    their mean cosine (what the factors say)."""
    counts = data.item_counts()
    queries = np.flatnonzero(counts >= query_ratings)
    overlap, shared, cosine = [], [], []
    for code in queries:
        table = similar_items(
            model, data, data.item_ids[code], n, min_ratings=min_ratings, genre_weight=genre_weight
        )
        overlap.extend(table["genre_overlap"])
        shared.extend(table["genre_overlap"] > 0)
        cosine.extend(table["similarity"])
    return {"items": len(queries), "genre_overlap": float(np.mean(overlap)),
            "share_sharing_a_genre": float(np.mean(shared)), "cosine": float(np.mean(cosine))}  # fmt: skip


def similar_items(
    model: Recommender,
    data: RatingsDataset,
    item: Any,
    n: int = 10,
    *,
    min_ratings: int = 0,
    genre_weight: float = GENRE_WEIGHT,
) -> pd.DataFrame:
    """The ``n`` items most like ``item`` (a raw item id), among items with at least ``min_ratings`` ratings in
    ``data`` (the direction of a film rated once or twice is mostly noise).

    The `NEIGHBOUR_POOL` nearest by cosine similarity of the factors are ranked by cosine + ``genre_weight`` ×
    the genre overlap (Jaccard) with the item: factors alone put films next to what the same people rated
    (Toy Story next to Independence Day, the same years), the overlap prefers films of the same kind among
    them. Measured on the bundled set (wals, every item with 20+ ratings, 10 neighbours with 10+ ratings):
    mean genre overlap 0.38 → 0.61, neighbours sharing a genre 86 % → 99 %, mean cosine 0.69 → 0.66. 0: the
    cosine alone. Columns: item, title, year, genres, score (the ranking value), similarity (the cosine),
    genre_overlap, n_ratings."""
    _check_model_fits_data(model, data)
    code = data.item_code(item)
    counts = data.item_counts()
    pool, cosine = _cosine_neighbours(
        _factors_of(model, "item"), code, max(n, NEIGHBOUR_POOL), counts >= min_ratings
    )
    overlap = genre_overlap(data, code, pool)
    score = cosine + genre_weight * overlap
    order = np.lexsort((pool, -score))[:n]
    chosen = pool[order]
    return pd.DataFrame(
        {
            **item_columns(data, chosen),
            "score": score[order],
            "similarity": cosine[order],
            "genre_overlap": overlap[order],
            "n_ratings": counts[chosen],
        }
    )


def similar_users(model: Recommender, data: RatingsDataset, user: Any, n: int = 10) -> pd.DataFrame:
    """The ``n`` users closest to ``user`` (a raw user id) by cosine similarity of their factors."""
    factors = _factors_of(model, "user")
    if len(factors) != data.n_users:
        raise RecEngineError("The model and the data set do not have the same users.")
    chosen, similarity = _cosine_neighbours(factors, data.user_code(user), n)
    return pd.DataFrame(
        {"user": data.user_ids[chosen], "similarity": similarity, "n_ratings": data.user_counts()[chosen]}
    )
