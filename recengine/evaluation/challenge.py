"""A tuning challenge on one data set: a fixed split, one measure, the models allowed and a deadline.

The split (``user:F`` or ``temporal:F``, `recengine.evaluation.split`) is made once with the challenge's
``seed``: every submitted model must be trained on its training side alone (``Challenge.train``, a data set
of its own; a model tuned there carves its validation ratings from it, never from the test side). The test
side is then divided once, by user, into a **public** part (scored at once, shown on the leaderboard) and a
**private** part (scored too, kept until the end): a ``public_share`` of the test users, drawn with the fixed
``part_seed``, are public, the rest private. Dividing by user keeps each person's held-out ratings together,
so a ranking measure on a part is the same protocol as on the whole test side (docs/protocols.md).

Measures: ``rmse`` (rating models only; lower is better), ``ndcg@10`` and ``recall@20`` (the top-N protocol
of `recengine.evaluation.metrics.ranking_report`, every user of the part ranked, or the same sample of
`MAX_RANKED_USERS` for every submission on larger data; higher is better).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.errors import ParameterError, RecEngineError
from recengine.evaluation.metrics import ranking_report, rmse
from recengine.evaluation.split import SplitSpec, split_by_spec
from recengine.lazy import pandas as pd
from recengine.models.base import Recommender

MEASURES = {"rmse": "RMSE", "ndcg@10": "NDCG@10", "recall@20": "Recall@20"}
LOWER_IS_BETTER = frozenset({"rmse"})
SPLIT_METHODS = ("user", "temporal")
PARTS = ("public", "private")
# A ranking measure ranks every user up to this many, else the same seeded sample of this many for every
# submission (MovieLens 25M's 162,000 users would take minutes per submission; 5,000 take seconds).
MAX_RANKED_USERS = 5_000


class ChallengeError(RecEngineError):
    """A challenge or a submission that cannot be accepted; the message says why and what to do."""


@dataclass(frozen=True)
class ChallengeSpec:
    """What a challenge is: ``split`` a spec such as ``user:0.2``, ``measure`` one of `MEASURES`, ``models``
    the algorithm names allowed, ``deadline`` in seconds since the epoch (UTC), ``seed`` the split's,
    ``public_share`` of the test users on the public part."""

    split: str
    measure: str
    models: tuple[str, ...]
    deadline: float
    seed: int = 0
    public_share: float = 0.5
    part_seed: int = 20_231
    title: str = ""

    def __post_init__(self) -> None:
        parsed = SplitSpec.parse(self.split)
        if parsed.method not in SPLIT_METHODS:
            raise ParameterError("challenge split", self.split, "user:FRACTION or temporal:FRACTION")
        object.__setattr__(self, "split", str(parsed))
        if self.measure not in MEASURES:
            raise ParameterError("challenge measure", self.measure, "one of " + ", ".join(MEASURES))
        if not self.models:
            raise ParameterError("challenge models", "none", "at least one algorithm")
        object.__setattr__(self, "models", tuple(self.models))
        from recengine.models import MODELS

        unknown = [name for name in self.models if name not in MODELS]
        if unknown:
            raise ParameterError("challenge models", ", ".join(unknown), "among " + ", ".join(MODELS))
        ranking = [name for name in self.models if MODELS[name].kind != "rating"]
        if self.measure == "rmse" and ranking:
            raise ParameterError(
                "challenge models",
                ", ".join(ranking),
                "rating models for RMSE (these only rank: use NDCG@10)",
            )
        if not 0 < self.public_share < 1:
            raise ParameterError("public share", self.public_share, "a number > 0 and < 1")
        if not (isinstance(self.seed, int) and 0 <= self.seed < 2**32):
            raise ParameterError("challenge seed", self.seed, "an integer from 0 to 2**32 − 1")
        if not math.isfinite(self.deadline):
            raise ParameterError("challenge deadline", self.deadline, "a time in seconds since 1970")

    @property
    def lower_is_better(self) -> bool:
        return self.measure in LOWER_IS_BETTER

    def is_open(self, now: float) -> bool:
        return now < self.deadline

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"models": list(self.models)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ChallengeSpec:
        known = {"split", "measure", "models", "deadline", "seed", "public_share", "part_seed", "title"}
        return cls(**{key: value for key, value in values.items() if key in known})

    def check_model(self, algo: str) -> None:
        """Raise `ChallengeError` unless ``algo`` is an algorithm this challenge accepts."""
        if algo not in self.models:
            raise ChallengeError(
                f"This challenge accepts {', '.join(self.models)}; this run is {algo}. Train an allowed model."
            )


class Challenge:
    """A challenge's data, split once: ``train`` (what models learn from), ``public`` and ``private`` (the
    two parts of the test side, disjoint, together the whole of it). All three keep the data set's codes."""

    def __init__(
        self,
        data: RatingsDataset,
        spec: ChallengeSpec,
        sides: tuple[RatingsDataset, RatingsDataset] | None = None,
    ):
        """``sides``: ``split_by_spec(data, spec.split, seed=spec.seed)`` when the caller has it already (a
        cache); else it is made here."""
        self.spec = spec
        self.fingerprint = data.fingerprint
        self.train, test = sides if sides is not None else split_by_spec(data, spec.split, seed=spec.seed)
        is_public = public_mask(test.user_codes, spec.public_share, spec.part_seed)
        self.public = test.subset(is_public, name=f"{data.name} public part")
        self.private = test.subset(~is_public, name=f"{data.name} private part")

    def part(self, name: str) -> RatingsDataset:
        if name not in PARTS:
            raise ParameterError("challenge part", name, "public or private")
        return self.public if name == "public" else self.private

    def score(self, model: Recommender, part: str) -> float:
        """The challenge's measure of ``model`` (trained on ``train``) on the ``part`` of the test side."""
        ratings = self.part(part)
        measure = self.spec.measure
        if measure == "rmse":
            if model.kind != "rating":
                raise ChallengeError(
                    f"{model.name} ranks items but predicts no ratings: this challenge measures RMSE."
                )
            return rmse(ratings.ratings, model.predict(ratings.user_codes, ratings.item_codes))
        k = int(measure.partition("@")[2])
        report = ranking_report(
            model, self.train, ratings, k=k, max_users=MAX_RANKED_USERS, seed=self.spec.seed
        )
        return float(report[measure])

    def scores(self, model: Recommender) -> dict[str, float]:
        return {part: self.score(model, part) for part in PARTS}


def held_out_share(held_out: RatingsDataset, test: RatingsDataset) -> float:
    """The share of ``held_out``'s ratings (a challenge's test side) whose (user, item) pair, by raw ids, is
    also in ``test`` (another split's test side, of the same data set or of a filtered or partial copy)."""
    if not held_out.n_ratings:
        return 0.0
    users = pd.Index(held_out.user_ids).get_indexer(test.user_ids)[test.user_codes].astype(np.int64)
    items = pd.Index(held_out.item_ids).get_indexer(test.item_ids)[test.item_codes].astype(np.int64)
    known = (users >= 0) & (items >= 0)
    width = len(held_out.item_ids)
    tested = users[known] * width + items[known]
    kept = held_out.user_codes.astype(np.int64) * width + held_out.item_codes
    return float(np.isin(kept, tested).mean())


def beyond_chance(share: float, test_fraction: float) -> bool:
    """Whether a test side holding ``test_fraction`` of the ratings, found to hold ``share`` of a challenge's
    held-out ratings, holds far more of them than a split blind to them would (about ``test_fraction``): by
    more than the fraction itself plus 5 points, or than half the way to all of them."""
    return share > test_fraction + min(test_fraction + 0.05, (1 - test_fraction) / 2)


def public_mask(user_codes: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Which of the ratings (by their users' codes) are public: all those of a ``share`` of the distinct
    users (rounded, at least one and at most all but one when there are two or more), drawn with ``seed``."""
    users = np.unique(user_codes)
    n_public = round(share * len(users))
    if len(users) >= 2:
        n_public = min(max(n_public, 1), len(users) - 1)
    chosen = np.random.default_rng(seed).permutation(users)[:n_public]
    return np.isin(user_codes, chosen)


def better(spec: ChallengeSpec, first: float, second: float) -> bool:
    """Whether score ``first`` beats ``second`` under the challenge's measure."""
    return first < second if spec.lower_is_better else first > second


@dataclass(frozen=True)
class WinnersCurse:
    """What choosing the best on the public part costs: ``winner`` (its index), its ``private_rank`` (1 is
    the best private score), its ``optimism`` (how much better its public score looked than its private
    one, positive when it looked better) and the ``mean_optimism`` of the ``top`` entries by public score."""

    winner: int
    private_rank: int
    optimism: float
    mean_optimism: float
    top: int


def winners_curse(public: Any, private: Any, lower_is_better: bool, top: int = 5) -> WinnersCurse:
    """The winner's curse among entries scored on both parts: an entry chosen for its public score is on
    average worse on data nobody chose it on (ties go to the earlier entry)."""
    public, private = np.asarray(public, dtype=np.float64), np.asarray(private, dtype=np.float64)
    if public.shape != private.shape or not len(public):
        raise ChallengeError("Winner's curse: give one public and one private score per entry, at least one.")
    sign = 1.0 if lower_is_better else -1.0  # sign × score: smaller is better
    by_public = np.argsort(sign * public, kind="stable")
    winner = int(by_public[0])
    private_rank = int(np.sum(sign * private < sign * private[winner])) + 1
    optimism = sign * (private - public)  # > 0: the public score looked better than the private one
    top = min(top, len(public))
    return WinnersCurse(
        winner, private_rank, float(optimism[winner]), float(optimism[by_public[:top]].mean()), top
    )
