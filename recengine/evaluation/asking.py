"""Asking newcomers about films, measured on the new-user protocol (`recengine.evaluation.newuser`).

A held-out person can answer about every film they rated: asked about one, they give the rating they gave;
asked about any other film, they answer "haven't seen it". After each number of questions in
``checkpoints`` the films they rated so far are folded in (as the protocol's given ratings) and their list
is measured as `evaluate_new_users` measures it, the films to find being everything else they rated ≥ the
liked threshold, with the share of questions they could answer. (The protocol's own split of their ratings
into given and to find is not used: what they tell us decides what is left to find.)

People who pick films themselves are simulated from the same ratings: a random order of them, or one drawn
with probabilities proportional to the films' train ratings (people think of popular films first); every
film they pick is one they can rate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.evaluation.newuser import HeldOutUsers, Reranker, Scorer, evaluate_new_users
from recengine.models.base import Recommender
from recengine.models.foldin import fold_in
from recengine.serving.ask import Answers, Strategy

CHECKPOINTS = (3, 5, 10, 15)


@dataclass(frozen=True)
class Interviews:
    """Per checkpoint, each person's (rated codes, ratings) and their questions answered (not "haven't seen");
    ``seconds``: each question's choice plus the fold-in of the answers so far."""

    checkpoints: tuple[int, ...]
    given: dict[int, list[tuple[np.ndarray, np.ndarray]]]
    answered: dict[int, list[int]]
    seconds: list[float]


def everything_rated(data: RatingsDataset, people: HeldOutUsers) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each held-out person's every rating in ``data`` (the whole set the split came from): codes, ratings."""
    rows = [data.csr[int(user)] for user in people.users]
    return [(row.indices.astype(np.int64), row.data.astype(np.float64)) for row in rows]


def interview(
    strategy: Strategy,
    model: Recommender,
    train: RatingsDataset,
    rated: list[tuple[np.ndarray, np.ndarray]],
    checkpoints: Sequence[int] = CHECKPOINTS,
) -> Interviews:
    """Ask each person ``max(checkpoints)`` questions chosen by ``strategy``, one at a time; ``rated``: each
    person's ratings (`everything_rated`), what they can answer."""
    given: dict[int, list] = {c: [] for c in checkpoints}
    answered: dict[int, list[int]] = {c: [] for c in checkpoints}
    seconds = []
    for codes, ratings in rated:
        known = dict(zip(codes.tolist(), ratings.tolist(), strict=True))
        answers = Answers()
        for asked in range(1, max(checkpoints) + 1):
            tick = time.perf_counter()
            question = strategy.next_items(model, train, answers, 1)[0]
            fold_in(model, answers.rated, answers.ratings)
            seconds.append(time.perf_counter() - tick)
            rating = known.get(question.code)
            answers = answers.skip(question.code) if rating is None else answers.rate(question.code, rating)
            if asked in given:
                given[asked].append((answers.rated, answers.ratings))
                answered[asked].append(len(answers.rated))
    return Interviews(tuple(checkpoints), given, answered, seconds)


def self_picked(
    train: RatingsDataset,
    rated: list[tuple[np.ndarray, np.ndarray]],
    *,
    weighted: bool,
    seed: int = 0,
    checkpoints: Sequence[int] = CHECKPOINTS,
) -> Interviews:
    """People who rate films they pick themselves: the first n of a random order of their ratings,
    ``weighted`` by the films' train ratings (+1) or uniform; every pick is answered."""
    rng = np.random.default_rng(seed)
    counts = train.item_counts().astype(np.float64) + 1.0
    given: dict[int, list] = {c: [] for c in checkpoints}
    answered: dict[int, list[int]] = {c: [] for c in checkpoints}
    for codes, ratings in rated:
        size = min(max(checkpoints), len(codes))
        chances = counts[codes] / counts[codes].sum() if weighted else None
        order = rng.choice(len(codes), size=size, replace=False, p=chances)
        for n in checkpoints:
            given[n].append((codes[order[:n]], ratings[order[:n]]))
            answered[n].append(min(n, len(codes)))
    return Interviews(tuple(checkpoints), given, answered, [])


def measure_interviews(
    interviews: Interviews,
    people: HeldOutUsers,
    train: RatingsDataset,
    scorer: Scorer,
    *,
    rerank: Reranker | None = None,
    genres: np.ndarray | None = None,
) -> dict[int, dict[str, float]]:
    """Per checkpoint: `evaluate_new_users` of the lists made from the ratings given so far, the films to find
    being the rest of what they rated highly (``people.liked``), and ``answerable``, the share of the questions
    asked that the people could answer."""
    out = {}
    for n in interviews.checkpoints:
        given = interviews.given[n]
        relevant = [np.setdiff1d(liked, codes) for liked, (codes, _) in zip(people.liked, given, strict=True)]
        asked = HeldOutUsers(people.users, given, relevant, people.liked, people.threshold)
        report = evaluate_new_users(scorer, asked, train, rerank=rerank, genres=genres)
        report["answerable"] = float(np.sum(interviews.answered[n]) / (n * len(people)))
        out[n] = report
    return out
