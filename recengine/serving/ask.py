"""Which film to ask a newcomer about next: learning a taste in a few questions.

A newcomer's `Answers` are the films they rated, on the data set's scale, and the films they have not seen
("haven't seen it" is an answer too). A strategy is a small object with one method,
``next_items(model, data, answers, n)``, returning the next ``n`` films to ask about as `Question` s (an item
code and a one-line reason), drawn from the question pool: the `POOL_SIZE` most rated films of the data set
(a film few people rated is one few can answer), minus those already asked.

- `Popularity`: the most rated films first. Most people can answer; the answers say little (most people like
  Forrest Gump).
- `PopularityEntropy`: ln(ratings) × the entropy of the film's rating distribution (Rashid et al., "Getting to
  Know You", IUI 2002): a film people disagree about tells more, and the popularity factor keeps it one they
  can rate (entropy alone picks films nobody has seen).
- `LikelySeen`: the film the person most probably has seen (`seen_probability`), from the answers so far.
- `ExpectedInformation`: the film whose answer is expected to shrink most the uncertainty of the person's
  folded-in factors (a D-optimal design, adaptive as in Golbandi, Koren and Lempel, WSDM 2011).

Seen probability (`seen_probability`): naive Bayes over the answers, from who rated what in the data.
A film's prior is the share of people who rated it; each film j the person has seen multiplies the odds
that they have seen film i by P(j seen | i seen) / P(j seen | i not), each film they have not seen by
P(j not seen | i seen) / P(j not seen | i not), counted among the data set's users (add-one smoothed), every
log ratio weighted by ``evidence`` (< 1: the answers are not independent, naive Bayes over-counts them). A
skip thus lowers the odds of the films seen by the people who saw the skipped one.

Expected information (`ExpectedInformation`): with the item factors q fixed, the person's factors p have,
in the Gaussian model of a fold-in, the precision (inverse covariance)

    A = λ₀ I + Σ_{j rated} q_j q_jᵀ + w Σ_{j skipped} q_j q_jᵀ,

λ₀ the mean ‖q‖² over the pool (one answer about an average film halves the uncertainty of its prediction)
and w < 1 what a skip tells about the factors relative to a rating. An answer about film i adds q_i q_iᵀ (w q_i
q_iᵀ if skipped), which raises log det A by log(1 + g_i), g_i = q_iᵀ A⁻¹ q_i (the matrix determinant lemma:
g_i is the variance of the prediction for film i). The strategy asks about the film with the largest expected
gain P_i log(1 + g_i) + (1 − P_i) log(1 + w g_i), P_i its `seen_probability`. The ratings' values play no part
(in a linear-Gaussian model the covariance does not depend on them): which films were seen or skipped does.
``n`` > 1 films are chosen greedily, A updated after each by its expected weight P_i + (1 − P_i) w.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

import numpy as np

from recengine.blas import single_threaded_blas
from recengine.data.dataset import RatingsDataset
from recengine.errors import ParameterError, RecEngineError
from recengine.lazy import pandas as pd
from recengine.models.base import Recommender
from recengine.models.person import solved

POOL_SIZE = 1000  # films a question may be about: the most rated ones
ENTROPY_BINS = 10  # rating distributions of a continuous scale are binned this finely


# --- what the person told us ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answers:
    """A newcomer's answers: item codes they rated (``rated``, with ``ratings``) and codes they have not seen
    (``skipped``). A film both rated and skipped counts as rated."""

    rated: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    ratings: np.ndarray = field(default_factory=lambda: np.empty(0))
    skipped: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __post_init__(self) -> None:
        rated = np.asarray(self.rated, np.int64).ravel()
        ratings = np.asarray(self.ratings, np.float64).ravel()
        if rated.shape != ratings.shape:
            raise ParameterError("ratings", f"{len(ratings)} values", f"one per rated film ({len(rated)})")
        skipped = np.setdiff1d(np.asarray(self.skipped, np.int64).ravel(), rated)
        object.__setattr__(self, "rated", rated)
        object.__setattr__(self, "ratings", ratings)
        object.__setattr__(self, "skipped", skipped)

    @classmethod
    def of(cls, data: RatingsDataset, answers: Mapping[Any, float | None]) -> Answers:
        """From ``{raw item id: rating, or None for "haven't seen it"}``; an id the data set lacks raises
        `UnknownIdError`."""
        rated = [(data.item_code(item), rating) for item, rating in answers.items() if rating is not None]
        skipped = [data.item_code(item) for item, rating in answers.items() if rating is None]
        return cls(
            np.array([code for code, _ in rated], np.int64),
            np.array([rating for _, rating in rated], np.float64),
            np.array(skipped, np.int64),
        )

    @property
    def asked(self) -> np.ndarray:
        """Every film answered about, rated or skipped."""
        return np.concatenate([self.rated, self.skipped])

    def __len__(self) -> int:
        return len(self.rated) + len(self.skipped)

    def rate(self, code: int, rating: float) -> Answers:
        """These answers and one more rating."""
        return Answers(np.append(self.rated, code), np.append(self.ratings, rating), self.skipped)

    def skip(self, code: int) -> Answers:
        """These answers and one more film not seen."""
        return Answers(self.rated, self.ratings, np.append(self.skipped, code))


@dataclass(frozen=True)
class Question:
    """A film to ask about (an item code) and why it was chosen, in one line."""

    code: int
    why: str


class Strategy(Protocol):
    """Chooses the next films to ask a newcomer about."""

    name: str

    def next_items(
        self, model: Recommender | None, data: RatingsDataset, answers: Answers, n: int = 1
    ) -> list[Question]: ...


# --- what the data says about each film -------------------------------------------------------------------


@dataclass(frozen=True)
class FilmStatistics:
    """The question pool (item codes, most rated first), every film's rating count and rating entropy (bits),
    the number of people with a rating, and the pool's co-occurrence counts (people who rated both films)."""

    pool: np.ndarray
    place: np.ndarray  # item code -> its place in the pool, -1 outside it
    counts: np.ndarray
    entropy: np.ndarray
    people: int
    together: np.ndarray  # pool × pool

    @classmethod
    def of(cls, data: RatingsDataset) -> FilmStatistics:
        """Built once per data set object (cached on it): 0.14 s for the bundled set, about 14 s for 25 million
        ratings (synthetic, with MovieLens 25M's sizes; the pool's co-occurrences dominate)."""
        cached = getattr(data, "_ask_statistics_cache", None)
        if cached is None:
            cached = cls._build(data)
            data._ask_statistics_cache = cached
        return cached

    @classmethod
    def _build(cls, data: RatingsDataset) -> FilmStatistics:
        counts = data.item_counts().astype(np.float64)
        rated = np.flatnonzero(counts > 0)
        pool = rated[np.lexsort((rated, -counts[rated]))][:POOL_SIZE]
        place = np.full(data.n_items, -1, np.int64)
        place[pool] = np.arange(len(pool))
        seen = data.csc[:, pool]
        seen.data = np.ones_like(seen.data, dtype=np.float32)
        together = (seen.T @ seen).toarray().astype(np.float64)
        people = int((data.user_counts() > 0).sum())
        arrays = (pool, place, counts, rating_entropy(data), together)
        for array in arrays:  # shared by every session using the data set
            array.flags.writeable = False
        return cls(*arrays[:4], people, arrays[4])

    def together_with(self, data: RatingsDataset, codes: np.ndarray) -> np.ndarray:
        """pool × len(codes): how many people rated both each pool film and each of ``codes``."""
        out = np.empty((len(self.pool), len(codes)))
        inside = self.place[codes] >= 0
        out[:, inside] = self.together[:, self.place[codes[inside]]]
        for column in np.flatnonzero(~inside):
            raters = data.csc[:, int(codes[column])].indices
            films = self.place[data.csr[raters].indices]
            out[:, column] = np.bincount(films[films >= 0], minlength=len(self.pool))
        return out


def rating_entropy(data: RatingsDataset) -> np.ndarray:
    """Each film's entropy (bits) of its ratings over the scale's levels (`ENTROPY_BINS` bins on a continuous
    scale): 0 when everyone gave it the same rating or nobody rated it."""
    scale = data.scale
    if scale.step is not None:
        bins = len(scale.levels())
        level = np.rint((data.ratings - scale.low) / scale.step)
    else:
        bins = ENTROPY_BINS
        level = np.floor((data.ratings - scale.low) / (scale.high - scale.low) * bins)
    level = np.clip(level, 0, bins - 1).astype(np.int64)
    table = np.bincount(data.item_codes * bins + level, minlength=data.n_items * bins).reshape(-1, bins)
    shares = table / np.maximum(table.sum(axis=1, keepdims=True), 1)
    logs = np.log2(shares, out=np.zeros_like(shares), where=shares > 0)
    return -(shares * logs).sum(axis=1)


def seen_probability(
    data: RatingsDataset, answers: Answers, evidence: float = 1.0, codes: np.ndarray | None = None
) -> np.ndarray:
    """P(the person has seen each film of ``codes``, pool films by default | their answers): naive Bayes on
    who rated what (see the module docstring), each answer's log ratio weighted by ``evidence``."""
    stats = FilmStatistics.of(data)
    places = np.arange(len(stats.pool)) if codes is None else stats.place[np.asarray(codes, np.int64)]
    if (places < 0).any():
        raise RecEngineError("seen_probability is known for the question pool's films only.")
    people, n_i = float(stats.people), stats.counts[stats.pool][places]
    logit = np.log(n_i + 1) - np.log(people - n_i + 1)
    for answered, was_seen in ((answers.rated, True), (answers.skipped, False)):
        if not len(answered):
            continue
        both = stats.together_with(data, answered)[places]  # people who rated i and j
        n_j = stats.counts[answered][None, :]
        n = n_i[:, None]
        if was_seen:  # P(j | i) / P(j | not i)
            ratio = np.log((both + 1) / (n + 2)) - np.log((n_j - both + 1) / (people - n + 2))
        else:  # P(not j | i) / P(not j | not i)
            ratio = np.log((n - both + 1) / (n + 2)) - np.log(
                (people - n - n_j + both + 1) / (people - n + 2)
            )
        logit = logit + evidence * ratio.sum(axis=1)
    return 1.0 / (1.0 + np.exp(-logit))


# --- the strategies ---------------------------------------------------------------------------------------


def _open_places(stats: FilmStatistics, answers: Answers) -> np.ndarray:
    """Places in the pool of the films not asked about yet."""
    open_ = np.ones(len(stats.pool), dtype=bool)
    asked = stats.place[answers.asked]
    open_[asked[asked >= 0]] = False
    return np.flatnonzero(open_)


def _best(values: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` largest ``values``, largest first (ties: the earlier position, i.e. the more
    rated film)."""
    order = np.lexsort((np.arange(len(values)), -values))
    return order[: max(n, 0)]


def _check(model: Recommender | None, data: RatingsDataset, n: int) -> None:
    """A fitted model of ``data``'s items (or none: only `ExpectedInformation` uses one) and n ≥ 1."""
    if model is not None:
        model._check_fitted()
        if model.n_items_ != data.n_items:
            raise RecEngineError(
                f"The model knows {model.n_items_:,} items but the data set has {data.n_items:,}: use the data "
                "set the model was trained on."
            )
    if n < 1:
        raise ParameterError("n", n, "a whole number ≥ 1")


def _share(stats: FilmStatistics, code: int) -> str:
    return f"{stats.counts[code] / max(stats.people, 1):.0%} of people here rated it"


@dataclass(frozen=True)
class Popularity:
    """The most rated films not asked about yet."""

    name: ClassVar[str] = "popularity"

    def next_items(
        self, model: Recommender | None, data: RatingsDataset, answers: Answers, n: int = 1
    ) -> list[Question]:
        _check(model, data, n)
        stats = FilmStatistics.of(data)
        chosen = stats.pool[_open_places(stats, answers)][:n]  # the pool is in order of ratings
        return [Question(int(c), f"One of the most rated films here ({_share(stats, c)}).") for c in chosen]


@dataclass(frozen=True)
class PopularityEntropy:
    """ln(ratings) × entropy of the rating distribution, largest first (Rashid et al. 2002)."""

    name: ClassVar[str] = "popularity-entropy"

    def next_items(
        self, model: Recommender | None, data: RatingsDataset, answers: Answers, n: int = 1
    ) -> list[Question]:
        _check(model, data, n)
        stats = FilmStatistics.of(data)
        codes = stats.pool[_open_places(stats, answers)]
        value = np.log(stats.counts[codes]) * stats.entropy[codes]
        return [
            Question(
                int(c),
                f"Widely seen ({_share(stats, c)}) and opinions of it differ "
                f"(entropy {stats.entropy[c]:.1f} bits): your rating tells us much.",
            )
            for c in codes[_best(value, n)]
        ]


@dataclass(frozen=True)
class LikelySeen:
    """The films the person most probably has seen, given their answers (`seen_probability`)."""

    evidence: float = 0.5
    name: ClassVar[str] = "likely-seen"

    def next_items(
        self, model: Recommender | None, data: RatingsDataset, answers: Answers, n: int = 1
    ) -> list[Question]:
        _check(model, data, n)
        stats = FilmStatistics.of(data)
        codes = stats.pool[_open_places(stats, answers)]
        seen = seen_probability(data, answers, self.evidence, codes)
        return [Question(int(codes[j]), _seen_words(stats, answers, codes[j], seen[j]) + ".")
                for j in _best(seen, n)]  # fmt: skip


def _seen_words(stats: FilmStatistics, answers: Answers, code: int, seen: float) -> str:
    source = "judging by the films you have and haven't seen" if len(answers) else _share(stats, code)
    return f"About {seen:.0%} likely you have seen it ({source})"


@dataclass(frozen=True)
class ExpectedInformation:
    """The film whose answer is expected to shrink the uncertainty of the person's factors most (see the
    module docstring): ``skip_weight`` w, ``evidence`` the weight of each answer in `seen_probability`."""

    skip_weight: float = 0.25  # these two chosen on validation users (benchmarks/results/asking.md)
    evidence: float = 1.0
    name: ClassVar[str] = "information"

    def next_items(
        self, model: Recommender | None, data: RatingsDataset, answers: Answers, n: int = 1
    ) -> list[Question]:
        _check(model, data, n)
        stats = FilmStatistics.of(data)
        codes = stats.pool[_open_places(stats, answers)]
        seen = seen_probability(data, answers, self.evidence, codes)
        factors = None if model is None else model.item_factors_
        if (
            factors is None or factors.shape[1] == 0
        ):  # no taste factors: ask what they can most probably answer
            return LikelySeen(self.evidence).next_items(model, data, answers, n)
        with single_threaded_blas():
            chosen = self.choose(factors, stats.pool, answers, codes, seen, n)
        return [
            Question(int(codes[j]), _information_words(stats, answers, codes[j], seen[j], first=place == 0))
            for place, j in enumerate(chosen)
        ]

    def choose(
        self,
        factors: np.ndarray,
        pool: np.ndarray,
        answers: Answers,
        codes: np.ndarray,
        seen: np.ndarray,
        n: int,
    ) -> list[int]:
        """Positions in ``codes`` of the ``n`` films chosen greedily (each answer's expected weight added to A
        before the next choice); ``factors``: the model's item factors."""
        items = factors[codes].astype(np.float64)
        precision = self.precision(factors, pool, answers)
        inverse = solved(precision, np.eye(len(precision)))
        variance = np.einsum("ik,ik->i", items @ inverse, items)
        chosen: list[int] = []
        for _ in range(min(n, len(codes))):
            value = seen * np.log1p(variance) + (1 - seen) * np.log1p(self.skip_weight * variance)
            value[chosen] = -np.inf
            best = int(_best(value, 1)[0])
            chosen.append(best)
            weight = seen[best] + (1 - seen[best]) * self.skip_weight
            direction = inverse @ items[best]
            shrink = weight / (1 + weight * variance[best])
            variance = variance - shrink * (items @ direction) ** 2
            inverse = inverse - shrink * np.outer(direction, direction)
        return chosen

    def precision(self, factors: np.ndarray, pool: np.ndarray, answers: Answers) -> np.ndarray:
        """A = λ₀ I + Σ_rated q qᵀ + w Σ_skipped q qᵀ, λ₀ the mean ‖q‖² over the pool's films."""
        films = factors[pool].astype(np.float64)
        prior = float(np.mean(np.einsum("ik,ik->i", films, films)))
        rated = factors[answers.rated].astype(np.float64)
        skipped = factors[answers.skipped].astype(np.float64)
        precision = max(prior, 1e-12) * np.eye(factors.shape[1]) + rated.T @ rated
        return precision + self.skip_weight * (skipped.T @ skipped)


def _information_words(stats: FilmStatistics, answers: Answers, code: int, seen: float, first: bool) -> str:
    teaches = "your answer should teach" if first else "with the films above, your answers should teach"
    return f"{_seen_words(stats, answers, code, seen)}; of the films left, {teaches} the model most."


STRATEGIES: Mapping[str, Strategy] = MappingProxyType(
    {
        strategy.name: strategy
        for strategy in (Popularity(), PopularityEntropy(), LikelySeen(), ExpectedInformation())
    }
)
DEFAULT_STRATEGY = "information"


def strategy_named(name: str) -> Strategy:
    """One of `STRATEGIES` by name."""
    if name not in STRATEGIES:
        raise ParameterError("strategy", name, f"one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def next_questions(
    model: Recommender | None,
    data: RatingsDataset,
    answers: Answers | Mapping[Any, float | None],
    n: int = 1,
    strategy: str | Strategy = DEFAULT_STRATEGY,
) -> pd.DataFrame:
    """The next ``n`` films to ask about, as a table: item (raw id), title, year, genres and why. ``answers``
    is an `Answers` or ``{raw item id: rating, or None for "haven't seen it"}``; ``model`` None (no model yet):
    `ExpectedInformation` asks what is most likely seen."""
    from recengine.serving.recommend import item_columns

    chosen = strategy_named(strategy) if isinstance(strategy, str) else strategy
    if not isinstance(answers, Answers):
        answers = Answers.of(data, answers)
    questions = chosen.next_items(model, data, answers, n)
    codes = np.array([q.code for q in questions], np.int64)
    return pd.DataFrame({**item_columns(data, codes), "why": [q.why for q in questions]})
