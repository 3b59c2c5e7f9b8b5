"""The one small interface every model shares.

A model is made from a frozen, validated dataclass of hyperparameters (``Model.Params``); ``fit`` runs
epochs and reports an `EpochRecord` after each; learned state ends in ``_`` (``user_factors_``,
``item_bias_``, ...) and round-trips through `state` / `set_state` as plain arrays.

A subclass states its objective and step as ``formulas`` (LaTeX, `formulas.py`) and implements:

- ``_initialize(train)``: set the learned arrays (use ``self.rng_``, ``self.dtype_``);
- ``_run_epoch(train, epoch)``: one pass; may return ``{"grad_norms": {...}, "extra": {...}}``;
- ``_losses(train)``: (reconstruction, regularization, total) of its objective.

What a fitted model does for one person (fold-in, attribution) has shared defaults here and in
``person.py``; a model with a problem of its own overrides `fold_in_user`, `foldin_system` or `attribute`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any, ClassVar

import numpy as np

from recengine import memory
from recengine.blas import single_threaded_blas
from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.errors import (
    EmptyDataError,
    NotFittedError,
    ParameterError,
    RecEngineError,
    ScoreOverflowError,
    TrainingDiverged,
    UnknownIdError,
)
from recengine.models.formulas import Formulas
from recengine.models.kernels.jit import row_dots
from recengine.models.person import (
    FALLBACK,
    LinearSystem,
    UserVector,
    clean_ratings,
    cosine_attribution,
    evidence,
    ridge_system,
    system_attribution,
)
from recengine.training import AFTER_EPOCH, EpochRecord, History, as_callbacks

PREDICT_CHUNK = 1 << 20
EXPLOSION_FACTOR = 1e3
# What a fitted model keeps besides its learned arrays: what `restore` sets from a model file.
KEPT_AFTER_FIT = frozenset(
    ("params", "diverged_", "history_", "fit_seconds_", "dtype_", "scale_", "fingerprint_", "n_users_",
     "n_items_", "global_mean_")
)  # fmt: skip
FIT_BYTES_PER_RATING = 64  # per-rating work arrays of a fit (index copies, errors, sparse views)

# λ of calibrated re-ranking (`recengine.serving.rerank`) for a person the scores know well: a user of
# the data set, and a new person served by Weighted ALS (the default list), for a distinct taste: chosen on the new-user protocol's
# validation users with `personal_weight` (benchmarks/results/newuser.md: wals at its defaults, ten given
# ratings, scores normalised by rank in a pool of 300; every accuracy, calibration and taste-profile target
# met). Other models lean more on a person's genres (`Recommender.default_taste`).
DEFAULT_TASTE = 0.9


# --- hyperparameters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamSpec:
    """How one hyperparameter may be set: the basis of validation, command-line flags and widgets."""

    name: str
    default: Any
    kind: str  # "int", "float", "bool" or "choice"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None
    help: str = ""
    log: bool = False  # a slider on a log scale suits it

    def allowed(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(map(repr, self.choices or ()))
        noun = "an integer" if self.kind == "int" else "a number"
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '≥'} {self.low:g}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_open else '≤'} {self.high:g}")
        return noun + (" " + " and ".join(bounds) if bounds else "")

    def check(self, value: Any) -> Any:
        """The value, coerced to the parameter's type; a `ParameterError` when it is not allowed."""
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise ParameterError(self.name, value, self.allowed())
        if self.kind == "choice":
            if value in (self.choices or ()):
                return value
            raise ParameterError(self.name, value, self.allowed())
        number = _as_number(value, integer=self.kind == "int")
        if number is None or not math.isfinite(number):
            raise ParameterError(self.name, value, self.allowed())
        if self.low is not None and (number < self.low or (self.low_open and number == self.low)):
            raise ParameterError(self.name, value, self.allowed())
        if self.high is not None and (number > self.high or (self.high_open and number == self.high)):
            raise ParameterError(self.name, value, self.allowed())
        return number


def hyper(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: tuple | None = None,
    help: str = "",
    log: bool = False,
) -> Any:
    """A hyperparameter field with its allowed range and help text."""
    meta = dict(
        low=low, high=high, low_open=low_open, high_open=high_open, choices=choices, help=help, log=log
    )
    return field(default=default, metadata={"hyper": meta})


@dataclass(frozen=True)
class Hyperparameters:
    """Base of every model's hyperparameters: validated when made, plain-JSON round trip."""

    seed: int = hyper(0, low=0, high=2**32 - 1, help="Random seed: the same seed gives the same numbers.")
    dtype: str = hyper(
        "float64", choices=("float64", "float32"), help="Precision of the factors; float32 halves memory."
    )

    def __post_init__(self) -> None:
        for spec in self.specs():
            object.__setattr__(self, spec.name, spec.check(getattr(self, spec.name)))

    @classmethod
    def specs(cls) -> list[ParamSpec]:
        out = []
        for f in fields(cls):
            meta = dict(f.metadata.get("hyper", {}))
            default = f.default if f.default is not MISSING else None
            kind = "choice" if meta.get("choices") else _kind_of(default)
            out.append(ParamSpec(name=f.name, default=default, kind=kind, **meta))
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Hyperparameters:
        """Parameters from a plain dict; unknown names are an error that lists the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(
                unknown[0], values[unknown[0]], f"one of the known parameters {sorted(known)}"
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> Hyperparameters:
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ParameterError(
                unknown[0], changes[unknown[0]], f"one of {sorted(f.name for f in fields(self))}"
            )
        return replace(self, **changes)


def _kind_of(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    return "float"


def _as_number(value: Any, integer: bool) -> float | int | None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    if integer:
        number = float(value)
        if not math.isfinite(number) or number != round(number):
            return None
        return int(value)
    return float(value)


# --- models ---------------------------------------------------------------------------------------------


def finite_scores(model: Recommender, scores: np.ndarray) -> np.ndarray:
    """``scores`` when every one is a finite number of at most √(max / (4 n)) (float64's max, n scores a
    row), so that a sum of products of two rows (what a list computes from them) stays finite; else
    `ScoreOverflowError`. Compute them under ``np.errstate(over="ignore", invalid="ignore")``: an overflow
    is this error, never a NumPy warning."""
    limit = math.sqrt(float(np.finfo(np.float64).max) / (4 * max(scores.shape[-1] if scores.ndim else 1, 1)))
    if scores.size and not (scores.max() <= limit and scores.min() >= -limit):  # False for a NaN too
        raise ScoreOverflowError(
            f"The {model.name} model's scores overflow (some are not finite numbers, or too large to rank): "
            "its learned values are too large to use. Retrain the model and save it again."
        )
    return scores


class Recommender:
    """Base class: the fit loop, loss reporting, divergence checks, prediction and state."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    formulas: ClassVar[Formulas | None] = None  # objective and step as LaTeX (`formulas.py`)
    kind: ClassVar[str] = "rating"  # "rating": predicts ratings; "ranking": scores items for top-N only
    Params: ClassVar[type[Hyperparameters]] = Hyperparameters
    divergence_hint: ClassVar[str] = "Lower the learning rate (lr) or turn on gradient clipping (clip)."
    state_names: ClassVar[tuple[str, ...]] = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")
    # Arrays the size of all factors, (users + items) × n_factors, a fit holds at its peak (factors,
    # gradients, moments, copies); see `memory_estimate`.
    factor_copies: ClassVar[float] = 4.0
    # Bytes per rating a fit holds besides (index copies, errors, sparse views). Both are measured per model
    # by tests/hardening/test_memory_estimates.py, which keeps every estimate within 25 % of the peak.
    fit_bytes_per_rating: ClassVar[float] = FIT_BYTES_PER_RATING

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A model that states its ``formulas`` gets them in its docstring (``help(Model)``)."""
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("formulas") is not None:
            cls.__doc__ = f"{cls.__doc__ or cls.description}\n\n{cls.formulas.text()}"

    def __init__(self, params: Hyperparameters | None = None, **overrides: Any):
        base = params if params is not None else self.Params()
        if not isinstance(base, self.Params):
            raise TypeError(f"{type(self).__name__} takes {self.Params.__name__}, not {type(base).__name__}")
        self.params = base.replace(**overrides) if overrides else base

    def reads_side_information(self) -> bool:
        """Whether a fit learns from the data set's item or user tables (genres, years, ages), not only from
        its ratings: then the same ratings with other tables give another model (`RatingsDataset.side_fingerprint`)."""
        return False

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.params.to_dict().items() if v != getattr(self.Params(), k)}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def get_params(self) -> dict[str, Any]:
        return self.params.to_dict()

    @property
    def n_epochs(self) -> int:
        return int(getattr(self.params, "n_epochs", 1))

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "history_") and getattr(self, "diverged_", None) is None

    # --- fitting ----------------------------------------------------------------------------------------

    def fit(
        self, train: RatingsDataset, valid: RatingsDataset | None = None, callbacks: Iterable[Any] = ()
    ) -> Recommender:
        """Train on ``train``; report each epoch to ``callbacks``; return ``self``."""
        if train.n_ratings == 0:
            raise EmptyDataError(
                "The training set holds no ratings: choose a larger data set or a smaller test share."
            )
        listeners = as_callbacks(callbacks)
        started = time.perf_counter()
        self.__dict__.pop("history_", None)  # unfitted until this fit's arrays exist (a failed refit too)
        self.diverged_: TrainingDiverged | None = None
        self._prepare(train)
        self._check_memory(train)
        self._initialize(train)
        start_loss = self._losses(train)[2]
        self.history_ = History()
        try:
            for epoch in range(1, self.n_epochs + 1):
                tick = time.perf_counter()
                info = self._run_epoch(train, epoch) or {}
                seconds = time.perf_counter() - tick
                record = self._record(epoch, seconds, train, valid, info)
                self._check_divergence(record, start_loss)
                self.history_.append(record)
                if any([bool(listener.on_epoch(record, self)) for listener in listeners]):
                    break
        except TrainingDiverged as error:
            self.diverged_ = error  # its NaN or exploded arrays must not be used: see `_check_fitted`
            error.history, error.start_loss = self.history_.to_dicts(), start_loss  # the curve up to it
            raise
        finally:
            self._release_work()
        for listener in listeners:
            if hasattr(listener, "on_train_end"):
                listener.on_train_end(self)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _release_work(self) -> None:
        """Drop what only the fit needed (working arrays, sparse views, moments, samplers): a fitted model
        holds its learned state (`state_names`, `KEPT_AFTER_FIT`) and nothing else, so it pickles, travels
        between processes and sits in caches at the size of what it learned."""
        keep = KEPT_AFTER_FIT | set(self.state_names)
        for name in [n for n in vars(self) if n not in keep]:
            delattr(self, name)

    def _prepare(self, train: RatingsDataset) -> None:
        self.dtype_ = np.dtype(self.params.dtype)
        self.rng_ = np.random.default_rng(self.params.seed)
        self.scale_ = train.scale
        self.n_users_, self.n_items_ = train.n_users, train.n_items
        self.fingerprint_ = train.fingerprint
        self.global_mean_ = float(train.ratings.mean(dtype=np.float64))

    def memory_estimate(self, train: RatingsDataset) -> int:
        """Bytes a fit on ``train`` holds at its peak, roughly: `factor_copies` arrays the size of all factors,
        a few k × k matrices, and per-rating work arrays."""
        k = int(getattr(self.params, "n_factors", 0))
        itemsize = np.dtype(self.params.dtype).itemsize
        factors = (train.n_users + train.n_items) * k * itemsize * self.factor_copies
        return int(factors + 4 * k * k * 8 + train.n_ratings * self.fit_bytes_per_rating)

    def _check_memory(self, train: RatingsDataset) -> None:
        k = getattr(self.params, "n_factors", None)
        memory.check(
            self.memory_estimate(train),
            f"Training {self.name}"
            + (f" with {k:,} factors" if k else "")
            + f" on {train.n_users:,} users, {train.n_items:,} items and {train.n_ratings:,} ratings",
            "Use fewer factors (n_factors) or dtype float32, or train on a smaller data set (keep only users "
            "and items with more ratings).",
        )

    def _initialize(self, train: RatingsDataset) -> None:
        raise NotImplementedError

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict | None:
        raise NotImplementedError

    def _losses(self, train: RatingsDataset) -> tuple[float, float, float]:
        """(reconstruction, regularization, total) of the model's own objective on ``train``."""
        raise NotImplementedError

    def _prepare_losses(self, train: RatingsDataset) -> None:
        """Set what `_losses` needs besides the learned arrays (a fit's `_initialize` does it): nothing by
        default; used when factors come from elsewhere (the Spark backend)."""

    def _learned_arrays(self) -> list[np.ndarray]:
        return [a for a in (getattr(self, n, None) for n in self.state_names) if a is not None]

    def _train_metrics(self, train: RatingsDataset) -> tuple[float, float, float, float | None]:
        """(reconstruction, regularization, total, train RMSE) after an epoch.

        Models whose epochs take milliseconds override it to get all four from one pass over the ratings.
        """
        losses = self._losses(train)
        return (*losses, self.rmse(train) if self.kind == "rating" else None)

    def _record(
        self, epoch: int, seconds: float, train: RatingsDataset, valid: RatingsDataset | None, info: dict
    ) -> EpochRecord:
        """The epoch's losses and metrics; on a diverging fit they may overflow to inf or NaN, which
        `_check_divergence` reports as `TrainingDiverged`, so NumPy's overflow warnings are not raised.

        An epoch whose sweep measured them as it went returns them as ``info["train_metrics"]`` (and how, as
        ``info["measured"]``): no second pass over the ratings then."""
        with np.errstate(over="ignore", invalid="ignore"):
            measured = info.get("train_metrics") or self._train_metrics(train)
            reconstruction, regularization, total, train_rmse = measured
            scored = self.kind == "rating" and valid is not None and len(valid)
            valid_rmse = self.rmse(valid) if scored else None
        return EpochRecord(
            epoch=epoch,
            seconds=seconds,
            reconstruction_loss=reconstruction,
            regularization_loss=regularization,
            total_loss=total,
            train_rmse=train_rmse,
            valid_rmse=valid_rmse,
            grad_norms=info.get("grad_norms"),
            extra=info.get("extra", {}),
            measured=info.get("measured", AFTER_EPOCH),
        )

    def _check_divergence(self, record: EpochRecord, start_loss: float) -> None:
        """Raise `TrainingDiverged` when the epoch's losses or factors are not finite or the loss exploded;
        the epoch's record then joins the history, so the curve ends where the message says."""
        losses = (record.reconstruction_loss, record.regularization_loss, record.total_loss)
        what = None
        if not all(math.isfinite(x) for x in losses) or not all(
            np.isfinite(a).all() for a in self._learned_arrays()
        ):
            what = "the loss or the factors became NaN or infinite"
        elif record.total_loss > EXPLOSION_FACTOR * max(start_loss, 1e-12):
            what = f"the loss grew from {start_loss:.4g} before the first epoch to {record.total_loss:.4g}"
        if what is not None:
            self.history_.append(record)
            raise TrainingDiverged(record.epoch, what, self.divergence_hint)

    # --- prediction -------------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if getattr(self, "diverged_", None) is not None:
            raise NotFittedError(
                f"This {self.name} model has no usable state: {self.diverged_} Fit it again with other settings."
            )
        if not self.is_fitted:
            raise NotFittedError(
                f"This {self.name or type(self).__name__} model is not trained yet: call fit first."
            )

    def _raw_predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """μ + b_u + b_i + p_u·q_i, unclipped, in float64; computed in chunks to bound memory."""
        out = np.empty(len(users), dtype=np.float64)
        user_bias = getattr(self, "user_bias_", None)
        item_bias = getattr(self, "item_bias_", None)
        for start in range(0, len(users), PREDICT_CHUNK):
            u = users[start : start + PREDICT_CHUNK]
            i = items[start : start + PREDICT_CHUNK]
            chunk = row_dots(self.user_factors_, self.item_factors_, u.astype(np.int64), i.astype(np.int64))
            chunk += self.global_mean_
            if user_bias is not None:
                chunk += user_bias[u]
            if item_bias is not None:
                chunk += item_bias[i]
            out[start : start + len(u)] = chunk
        return out

    def predict(self, users: Any, items: Any) -> np.ndarray:
        """Predicted ratings for (user code, item code) pairs, clipped to the training set's scale."""
        self._check_fitted()
        if self.kind != "rating":
            raise RecEngineError(
                f"{self.name} is a ranking model: it scores items for top-N lists but does not predict ratings."
            )
        users, items = self._codes(users, items)
        return self.scale_.clip(self._raw_predict(users, items))

    def rmse(self, data: RatingsDataset) -> float:
        """Root mean squared error of the clipped predictions on ``data``."""
        error = data.ratings - self.predict(data.user_codes, data.item_codes)
        return float(np.sqrt(np.mean(error * error)))

    def item_scores(self, user: int) -> np.ndarray:
        """A score for every item for a known user (higher is better; a rating for rating models)."""
        self._check_fitted()
        (user,), _ = self._codes([user], [0])
        return self.scores_for(self.user_factors_[user], self._user_bias_of(user))

    def scores_for(self, user_vector: np.ndarray, user_bias: float = 0.0) -> np.ndarray:
        """Scores of every item for a user vector (a known user's or a folded-in one), unclipped."""
        with np.errstate(over="ignore", invalid="ignore"):
            scores = self.item_factors_ @ user_vector.astype(self.item_factors_.dtype)
            scores = scores.astype(np.float64)
            if self.kind == "rating":
                scores += self.global_mean_ + user_bias
                if getattr(self, "item_bias_", None) is not None:
                    scores += self.item_bias_
        return finite_scores(self, scores)

    # --- one person -------------------------------------------------------------------------------------

    fold_in_method: ClassVar[str] = "ridge regression with a user bias"

    def fold_in(self, item_codes: Any, ratings: Any) -> UserVector:
        """The vector of a user who is not in the training data, from ratings of items given by code, without
        retraining: the item side stays fixed and `fold_in_user` solves the model's problem for one user."""
        self._check_fitted()
        codes, values = clean_ratings(self.n_items_, item_codes, ratings)
        k = self.item_factors_.shape[1]
        if not len(codes):
            return UserVector(np.zeros(k), 0.0, FALLBACK, codes, values)
        if k == 0 and getattr(self, "user_bias_", None) is None:
            method = "none needed: this model scores every user alike"
            return UserVector(np.zeros(0), 0.0, method, codes, values)
        with single_threaded_blas():
            factors, bias = self.fold_in_user(codes, values)
        return UserVector(
            np.asarray(factors, dtype=np.float64), float(bias), self.fold_in_method, codes, values
        )

    def fold_in_user(self, item_codes: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, float]:
        """(factors, bias) for checked ratings; by default the solution of `foldin_system`."""
        return self.foldin_system(item_codes, ratings).solve()

    def foldin_system(self, item_codes: np.ndarray, ratings: np.ndarray) -> LinearSystem:
        """A biased rating model's problem for one user: ridge regression with λ_u = `foldin_penalty`."""
        return ridge_system(evidence(self, item_codes, ratings), self.foldin_penalty(len(item_codes)))

    def foldin_penalty(self, n_ratings: int) -> float:
        """λ_u of a user with ``n_ratings`` ratings: the model's λ times n^a, a = `_reg_power`."""
        return float(self.params.reg) * n_ratings ** self._reg_power()

    def _reg_power(self) -> float:
        """The exponent a of a row's penalty weight n^a (0: one λ for every row)."""
        return 0.0

    def attribution(
        self, rated: np.ndarray, ratings: np.ndarray, targets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """How much each rated item pushed each target item's score up (targets × rated each), in two parts:
        owed to items the model counts as liked, and owed to items it counts as disliked (rated below
        expectation), whose positive values mean "unlike them". Zeros for a model without factors."""
        factors = self.item_factors_
        if not len(rated) or not len(targets) or factors.shape[1] == 0:
            return np.zeros((len(targets), len(rated))), np.zeros((len(targets), len(rated)))
        return self.attribute(rated, ratings, factors[targets].astype(np.float64))

    def attribute(
        self, rated: np.ndarray, ratings: np.ndarray, target: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """`attribution` for the target items' factors ``target``: the exact split of the fold-in solution
        for a rating model with item biases (`person.system_attribution`), else the cosine measure."""
        if self.kind == "rating" and getattr(self, "item_bias_", None) is not None:
            return system_attribution(self.foldin_system(rated, ratings), target)
        source = self.item_factors_[rated].astype(np.float64)
        low = self.scale_.low if getattr(self, "scale_", None) is not None else 0.0
        return cosine_attribution(target, source, ratings, low)

    # --- a person's list ------------------------------------------------------------------------------

    list_min_ratings: ClassVar[int] = (
        10  # rating models: films a person's list may hold need this many ratings
    )
    # λ of a new person's list (ratings folded in) unless they choose (calibrated re-ranking,
    # `recengine.serving.rerank`), for a taste unlike most people's; users of the data set, whose factors were
    # trained on all their ratings, get `DEFAULT_TASTE`. Weighted ALS, whose scores know a new
    # person best, keeps that (0.9); every other model with taste factors leans more on the person's genres.
    # Measured on the new-user protocol's validation users, ten given ratings
    # (benchmarks/results/newuser.md): from λ 0.9 to 0.98 the rating models' Recall@20 moves by −3 % to +8 %
    # and their NDCG@100 by −1 % to +3 % (their lift lists for a new person know less than the genre mix of
    # what they rated), bpr's fall by 3 % and 1 %. On the bundled set, at 0.9 the Disney and children's-film
    # lovers' lists shared 5-8 of 20 films for svdpp, gd, adam, minibatch, bpr, nmf and bpmf (bpr, nmf and
    # bpmf found 4-5 of the 14 Disney films); at 0.98 at most 4, every taste target met (the counts sit near
    # the limit: trained with seeds 1 and 2, 11 and 9 of the 11 models met every target).
    default_taste: ClassVar[float] = 0.98

    @property
    def has_taste(self) -> bool:
        """Whether a fitted model has item factors to follow a person's taste with (most popular and the
        baseline have none: their lists are the same for everyone)."""
        return self.item_factors_.shape[1] > 0

    def general_scores(self, bias: float = 0.0) -> np.ndarray:
        """Every item's score for an average person (`reference_user`) with a person's own ``bias``: the part
        of a list that is not personal."""
        return self.scores_for(self.reference_user(), bias)

    def reference_user(self) -> np.ndarray:
        """The factors of the average person a list's lift and personal share are measured from: what the
        model's fold-in gives a person before any evidence of taste. A rating model's ridge fold-in shrinks
        toward 0 (μ + b_u + b_i is all it predicts for them); measured from the trained users' mean instead,
        a new person's few ratings leave them near 0, and their lift is led by films the average user rates
        below their biases (bundled set, svdpp: the Disney and children's-film lovers shared 10 of 20 films,
        Kazaam and Richie Rich among them; 5 from 0). Ranking models: the mean vector of the trained users."""
        if self.kind == "rating":
            return np.zeros(self.item_factors_.shape[1])
        return self.mean_user()

    def mean_user(self) -> np.ndarray:
        """The mean vector of the trained users who have one (cached with the factors it belongs to)."""
        cached = getattr(self, "_mean_user_cache", None)
        if cached is None or cached[0] is not self.user_factors_:
            users = self.user_factors_
            active = np.abs(users).sum(axis=1) > 0 if users.shape[1] else np.zeros(len(users), dtype=bool)
            mean = users[active].mean(axis=0, dtype=np.float64) if active.any() else np.zeros(users.shape[1])
            cached = (self.user_factors_, mean)
            self._mean_user_cache = cached
        return cached[1]

    def list_scores(self, scores: np.ndarray, general: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """What orders a person's list, from the model's ``scores`` for them, an average person's
        ``general`` scores and each item's number of ratings ``counts`` (−inf: not listed).

        A ranking model's scores already are that. A rating model's predicted ratings are led by item biases
        and by films one person rated highly, which hands everyone the same list of classics or obscure
        films; its list ranks by lift, how much more than an average person (`reference_user`: for a rating
        model, μ + b_u + b_i) this person is predicted to like a film (scores − general: their taste part
        q·p), among films with at least `list_min_ratings` ratings (half the most rated film's count when
        that is fewer). The predicted rating itself is unchanged.
        """
        if self.kind != "rating":
            return scores
        floor = min(float(self.list_min_ratings), float(counts.max()) / 2 if len(counts) else 0.0)
        personal = scores - general if self.has_taste else scores  # no taste: biases decide
        return np.where(counts >= floor, personal, -np.inf)

    def _user_bias_of(self, user: int) -> float:
        bias = getattr(self, "user_bias_", None)
        return 0.0 if bias is None else float(bias[user])

    def _codes(self, users: Any, items: Any) -> tuple[np.ndarray, np.ndarray]:
        users = np.asarray(users, dtype=np.int64).ravel()
        items = np.asarray(items, dtype=np.int64).ravel()
        if users.shape != items.shape:
            raise ValueError("users and items must have the same length")
        for codes, size, what in ((users, self.n_users_, "user"), (items, self.n_items_, "item")):
            if len(codes) and (codes.min() < 0 or codes.max() >= size):
                bad = codes[(codes < 0) | (codes >= size)][0]
                raise UnknownIdError(f"{what} code {bad} is outside the model's {size:,} {what}s.")
        return users, items

    # --- state ------------------------------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        """Learned arrays by name (scalars as 0-d arrays): what a saved model holds."""
        self._check_fitted()
        out = {n: getattr(self, n) for n in self.state_names if getattr(self, n, None) is not None}
        out["global_mean_"] = np.asarray(self.global_mean_)
        return out

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        for name in self.state_names:
            setattr(self, name, state.get(name))
        self.global_mean_ = float(state["global_mean_"])

    def restore(
        self, state: dict[str, np.ndarray], scale: RatingScale, fingerprint: str, history: History
    ) -> Recommender:
        """Make a fitted model from saved state (used by the model store)."""
        self.set_state(state)
        factors = state.get("item_factors_")
        self.n_items_ = len(factors) if factors is not None else len(state["item_bias_"])
        users = state.get("user_factors_")
        self.n_users_ = len(users) if users is not None else len(state["user_bias_"])
        self.dtype_ = np.dtype(self.params.dtype)
        self.scale_, self.fingerprint_, self.history_ = scale, fingerprint, history
        self.fit_seconds_ = float(sum(r.seconds for r in history))
        return self
