"""`bsvdpp`: Bayesian SVD++ with the flipped bags, a factorization machine sampled by Gibbs (Freudenthaler,
Schmidt-Thieme and Rendle 2011; Rendle, Zhang and Koren 2019, "On the difficulty of evaluating baselines").

    r_ui ~ N(μ + β_u + β_i + a_u·c_i, 1/α)
    [a_u, β_u] = x_u + |N(u)|^−½ Σ_{j∈N(u)} y_j (+ Σ_g s_ug t_g)    user u, the bag N(u) of films u rated
    [c_i, β_i] = x_i + |R(i)|^−½ Σ_{v∈R(i)} z_v (+ Σ_g s_ig t_g)    film i, the bag R(i) of users who rated it

Each of x_u, y_j, x_i, z_v holds k factors and one linear weight (x_u = [p_u, b_u], ...): a factorization
machine over the groups of features user, film, the user's bag and the film's bag, with the interactions
between the user's side and the film's side (SVD++ with its "flipped" mirror). With ``side_information`` and
a data set that has them, each side also has a bag of attributes t_g (`attribute_bags`: a film's genres and
year, a user's age, gender and occupation). N(u) and R(i) come from the training ratings only: nothing of who
rated what in a test set enters the model.

Priors, sampled (no λ to tune): the vectors of each group g ~ N(m_g, diag(λ_g)⁻¹), with λ_g,f ~ Gamma(1, 1)
and m_g,f ~ N(0, 1/λ_g,f) per dimension f, and the noise precision α ~ Gamma(1, 1) (the hyperpriors of
Bayesian factorization machines and libFM's MCMC). μ is the training mean, fixed (the groups' prior means
absorb any shift).

With ``link="ordered_probit"`` (what the default, "auto", takes for ratings on a grid of values: stars) the
rating values v_0 < … < v_{K−1} are ordered categories of a latent score: r_ui = v_k when z_ui ~ N(η_ui, 1)
falls between the cut points τ_k and τ_{k+1} (τ_0 = −∞, τ_K = +∞, a flat prior on the ordered cuts),
η_ui = μ + β_u + β_i + a_u·c_i the score above; α is 1 (the cuts set the scale). Each sweep then starts with
one cut point (in turn) by a Metropolis random walk with the latent scores integrated out (Cowles 1996), then
every z_ui from its truncated normal given η and the cuts (Albert and Chib 1993, `kernels/ordinal.py`); the
sides regress on z as they would on r. A prediction is the expected rating Σ_k v_k P(r = v_k | η, τ); a new
person's fold-in regresses on latent targets, the middle of each rating's interval between the mean cuts.

One epoch is one Gibbs sweep: α given the residuals (or the ordered probit's cut and latent scores); then the
user side given the film side — the priors of its groups, every x_u (in parallel), every bag vector (in
turn) — then the film side the same way. Each draw is of a whole vector from its Gaussian conditional, made
from per-row Gram matrices computed once per side and sweep (the relation-block trick; `kernels/bags.py`
gives the formulas).

Prediction averages the sweeps after a short burn-in (`BURN_IN_SWEEPS`): the model keeps running means of
the effective vectors [a_u, β_u] and [c_i, β_i] and predicts from them (product of averages, as `bpmf`). The
validation RMSE of each epoch is that of the running average of the sampled predictions themselves (what a
Bayesian model predicts, and what myFM reports; on MovieLens 100k u1 the averaged vectors' RMSE is
0.001-0.003 higher). ``valid`` is only predicted: the draws never see it, so a fit with or without it learns
the same numbers.

Reported per epoch: the losses of the current sample (the negative log posterior over α, up to constants):
reconstruction ½ Σ (r − r̂)², regularization ½ α⁻¹ Σ_g Σ_rows Σ_f λ_g,f (θ_f − m_g,f)²; the train RMSE is that
of the averaged vectors (during burn-in, of the current sample).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from recengine.blas import single_threaded_blas
from recengine.data.dataset import RatingsDataset
from recengine.data.genres import genre_matrix
from recengine.errors import ParameterError
from recengine.lazy import pandas as pd
from recengine.lazy import scipy_sparse as sp
from recengine.models import formulas as maths
from recengine.models.base import Hyperparameters, Recommender, finite_scores, hyper
from recengine.models.kernels import bags, jit, ordinal, rowsolve
from recengine.models.objective import n_factors_field
from recengine.models.person import LinearSystem, evidence
from recengine.training import EpochRecord

HYPER_SHAPE = HYPER_RATE = 1.0  # the Gamma(1, 1) hyperpriors of α and of every group's precisions
MEAN_STRENGTH = 1.0  # γ₀: the prior mean m_g,f ~ N(0, 1/(γ₀ λ_g,f))
INIT_STD = 0.1  # the factors' random start (linear weights start at 0)
# Sweeps left out of the average, and the defaults below (the link, side information, 10 factors, 200 sweeps),
# chosen on a validation split of MovieLens 100k's u1.base (20 % held out, seeds 0-2; u1.test unread:
# benchmarks/results/bsvdpp_validation.md). Ordered probit with side information, 200 sweeps: leaving out 0,
# 2 or 4 sweeps gives 0.8824-0.8825 (the seeds' spread 0.0001), 10 0.8827, 20 0.8831, 50 0.8840; 4 keeps the
# random start out at no measurable cost. 300 sweeps did worse than 200 (0.8831), 100 0.8837. 20 factors gave
# 0.8809 at 2.2 times the CPU: left for a later round (myFM at the same rank doubles the benchmark's run).
BURN_IN_SWEEPS = 4
LINKS = ("auto", "ordered_probit", "gaussian")
MAX_LEVELS = 64  # "auto" takes the ordered probit for ratings of at most this many values on a grid
# A cut point's random-walk step: CUT_STEP / √(ratings of the two categories it separates). On MovieLens 100k
# u1 a step of 2 was accepted 56 % of the time and 3 47 % (sweeps 21-120), near a one-dimensional random
# walk's best (about 44 %).
CUT_STEP = 3.0


@dataclass(frozen=True)
class BayesianSVDppParams(Hyperparameters):
    n_factors: int = n_factors_field(10, high=rowsolve.MAX_FACTORS)
    n_epochs: int = hyper(
        200,
        low=1,
        high=100_000,
        help="Gibbs sweeps in all; the first 4 are burn-in, the rest are averaged.",
    )
    side_information: bool = hyper(
        True,
        help="Also describe users by their age, gender and occupation and films by their genres and year, when "
        "the data set has them.",
    )
    link: str = hyper(
        "auto",
        choices=LINKS,
        help="ordered_probit: the rating values are ordered categories of a latent Gaussian score, cut at "
        "sampled thresholds, and a prediction is the expected rating; gaussian: a rating is the score plus "
        "Gaussian noise; auto: the ordered probit for ratings on a grid of values (1..5 stars, half stars), "
        "else Gaussian.",
    )


class Bags(NamedTuple):
    """One group of bag features of a side: B, rows × features holding each row's weights (the row's vector
    adds B @ Y), and B by feature (the rows holding each feature and their weights)."""

    matrix: sp.csr_matrix
    indptr: np.ndarray
    members: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, matrix: sp.csr_matrix, dtype: np.dtype) -> Bags:
        matrix = sp.csr_matrix(matrix, dtype=dtype)
        by_feature = matrix.tocsc()
        by_feature.sort_indices()
        indptr, members = by_feature.indptr.astype(np.int64), by_feature.indices.astype(np.int32)
        return cls(matrix, indptr, members, by_feature.data.astype(dtype))


class Side(NamedTuple):
    """One side's ratings by row (users: by user, partners the films), where each sits in the data set's
    order (``values`` = the data set's values[order]), and its bag groups."""

    indptr: np.ndarray
    partners: np.ndarray
    values: np.ndarray
    order: np.ndarray
    bags: dict[str, Bags]

    @classmethod
    def of(
        cls,
        rows: np.ndarray,
        partners: np.ndarray,
        values: np.ndarray,
        shape: tuple[int, int],
        dtype: np.dtype,
    ) -> Side:
        """A side from its ratings (row, partner, value), one per pair; its bag: each row's partners,
        |N(r)|^−½."""
        order = np.lexsort((partners, rows))
        counts = np.bincount(rows, minlength=shape[0])
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        scales = np.repeat(1 / np.sqrt(np.maximum(counts, 1)), counts)
        sorted_partners = np.asarray(partners)[order].astype(np.int32)
        rated = sp.csr_matrix((scales, sorted_partners, indptr), shape=shape)
        bags = {"bag": Bags.of(rated, dtype)}
        return cls(indptr, sorted_partners, np.asarray(values)[order].astype(dtype), order, bags)

    def bag_sums(self, vectors: dict[str, np.ndarray], side: str) -> np.ndarray:
        """Σ over the side's bag groups of B @ Y: each row's bag part."""
        return sum(bags.matrix @ vectors[f"{side}_{name}"] for name, bags in self.bags.items())


class Prior(NamedTuple):
    """A group's prior: mean m and precision λ per dimension."""

    mean: np.ndarray
    precision: np.ndarray


class BayesianSVDpp(Recommender):
    name = "bsvdpp"
    label = "Bayesian SVD++ with flipped bags (Gibbs sampling)"
    description = (
        "SVD++ in both directions, sampled instead of optimised: each user is also described by the films "
        "they rated (and their age, gender and occupation when known), each film by the people who rated it "
        "(and its genres and year), and Gibbs sampling draws many plausible sets of factors and averages "
        "them. Every penalty is learned from the data: the number of factors and of sweeps are its only "
        "settings. The most accurate rating model here."
    )
    formulas = maths.BSVDPP
    Params = BayesianSVDppParams
    fold_in_method = (
        "posterior mode of p and b_u on top of the rated films' bag, under the sampled user prior"
    )
    divergence_hint = "Use float64, or fewer factors."
    factor_copies = 12.0  # the groups' vectors, effective vectors, features, noise and running sums
    state_names = (
        "user_factors_", "item_factors_", "user_bias_", "item_bias_", "implicit_factors_", "implicit_bias_",
        "prior_mean_", "prior_precision_", "noise_precision_", "cutpoints_", "levels_",
    )  # fmt: skip

    def reads_side_information(self) -> bool:
        return bool(self.params.side_information)

    def fit(
        self, train: RatingsDataset, valid: RatingsDataset | None = None, callbacks: Iterable[Any] = ()
    ) -> BayesianSVDpp:
        """As `Recommender.fit`; ``valid`` (never used for the bags) also gets the running average of the
        sampled predictions, whose RMSE each epoch reports."""
        self._valid = valid if valid is not None and len(valid) else None
        with single_threaded_blas():
            return super().fit(train, valid, callbacks)

    def memory_estimate(self, train: RatingsDataset) -> int:
        """The base estimate plus the per-row Gram matrices (d × d per user and per film) and targets."""
        d = int(self.params.n_factors) + 1
        itemsize = np.dtype(self.params.dtype).itemsize
        return super().memory_estimate(train) + (train.n_users + train.n_items) * (d * d + d) * itemsize

    # --- the sweep ------------------------------------------------------------------------------------

    @property
    def burn_in(self) -> int:
        """Sweeps before the averaging starts: `BURN_IN_SWEEPS`, or half of a shorter fit."""
        return min(BURN_IN_SWEEPS, self.n_epochs // 2)

    def _initialize(self, train: RatingsDataset) -> None:
        k, dtype = self.params.n_factors, self.dtype_
        d = k + 1
        self.compile_seconds_ = jit.ready("bsvdpp_bags", dtype, bags.first_call)
        users, items, ratings = train.user_codes, train.item_codes, train.ratings.astype(np.float64)
        shape = (train.n_users, train.n_items)
        self._sides = {
            "user": Side.of(users, items, ratings, shape, dtype),
            "item": Side.of(items, users, ratings, shape[::-1], dtype),
        }
        self._ordinal = self.params.link == "ordered_probit" or (
            self.params.link == "auto"
            and self.scale_.step is not None
            and 2 <= len(np.unique(ratings)) <= MAX_LEVELS
        )
        if self._ordinal:
            self.compile_seconds_ += jit.ready("bsvdpp_ordinal", dtype, ordinal.first_call)
            self._start_ordinal(ratings)
        else:
            self.levels_, self._cuts = np.zeros(0), np.zeros(0)
        if self.params.side_information:
            for name, matrix in attribute_bags(train).items():
                self._sides[name].bags["attributes"] = Bags.of(matrix, dtype)
        sizes = {"user": train.n_users, "item": train.n_items}
        sizes |= {
            f"{name}_{bag}": bags.matrix.shape[1]
            for name, side in self._sides.items()
            for bag, bags in side.bags.items()
        }
        self._vectors = {}
        for group, size in sizes.items():
            vectors = self.rng_.normal(0, INIT_STD, (size, d)).astype(dtype)
            vectors[:, -1] = 0
            self._vectors[group] = vectors
        self._priors = {group: Prior(np.zeros(d), np.ones(d)) for group in sizes}
        self._alpha = 1.0
        self._grams = {
            side: (np.zeros((n, d, d), dtype), np.zeros((n, d), dtype), np.zeros(n, dtype))
            for side, n in (("user", train.n_users), ("item", train.n_items))
        }
        self._user_effective = self._vectors["user"] + self._sides["user"].bag_sums(self._vectors, "user")
        self._item_effective = self._vectors["item"] + self._sides["item"].bag_sums(self._vectors, "item")
        self._train_arrays = (train.user_codes, train.item_codes, ratings if self._ordinal else train.ratings)
        self._sums = {name: 0.0 for name in ("users", "items", "bags", "mean", "precision", "alpha", "cuts")}
        self.n_averaged_ = 0
        valid = getattr(self, "_valid", None)
        self._valid_sum = np.zeros(len(valid)) if valid is not None else None
        if valid is not None:
            self._valid_codes = (valid.user_codes.astype(np.int64), valid.item_codes.astype(np.int64))
        self._sum_squares = None
        self._publish()

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        if self._ordinal:
            accepted = self._draw_latent()
        else:
            self._alpha = self._draw_alpha()
        self._user_effective = self._draw_side("user", self._item_effective)
        self._item_effective = self._draw_side("item", self._user_effective)
        self._sum_squares = bags.squared_errors(*self._grams["item"], self._item_effective)
        if epoch > self.burn_in:
            self._accumulate()
        self._publish()
        extra = {"samples_averaged": float(self.n_averaged_), "noise_precision": float(self._alpha)}
        if self._ordinal:
            extra |= {"cuts_moved": float(accepted)} | {
                f"cut_{k + 1}": float(c) for k, c in enumerate(self._cuts)
            }
        return {"extra": extra | ({"compile_seconds": self.compile_seconds_} if epoch == 1 else {})}

    def _draw_side(self, name: str, partners_effective: np.ndarray) -> np.ndarray:
        """Draw one side's own vectors and bag vectors given the other side; return its effective vectors."""
        side, own = self._sides[name], self._vectors[name]
        for group in self._priors:
            if group.startswith(name):
                self._priors[group] = self._draw_prior(self._vectors[group], self._priors[group])
        features = _features(partners_effective)
        offsets = (self.global_mean_ + partners_effective[:, -1]).astype(self.dtype_)
        grams, targets, squares = self._grams[name]
        dtype, alpha = self.dtype_, self.dtype_.type(self._alpha)
        bag_sums = np.ascontiguousarray(side.bag_sums(self._vectors, name), dtype=dtype)
        with rowsolve._threads_for(len(side.values), own.shape[1]):
            bags.side_grams(
                side.indptr, side.partners, side.values, offsets, features, grams, targets, squares
            )
            prior = self._priors[name]
            noise = self.rng_.standard_normal(own.shape).astype(dtype)
            bags.draw_rows(
                grams, targets, bag_sums, prior.precision.astype(dtype), (prior.precision * prior.mean).astype(dtype),
                alpha, noise, own,
            )  # fmt: skip
        for bag_name, group in side.bags.items():
            vectors, prior = self._vectors[f"{name}_{bag_name}"], self._priors[f"{name}_{bag_name}"]
            noise = self.rng_.standard_normal(vectors.shape).astype(dtype)
            bags.draw_bags(
                group.indptr, group.members, group.weights, grams, targets, own, bag_sums,
                prior.precision.astype(dtype), (prior.precision * prior.mean).astype(dtype), alpha, noise, vectors,
            )  # fmt: skip
        return own + bag_sums

    # --- the ordered-probit link -------------------------------------------------------------------------

    def _start_ordinal(self, ratings: np.ndarray) -> None:
        """Categories from the training rating values; cut points halfway between them (so the latent score
        starts on the rating scale, noise variance 1); the random-walk steps of each cut."""
        if self.scale_.step is None:
            raise ParameterError(
                "link",
                "ordered_probit",
                "'gaussian' for ratings that are not on a grid of values (1, 2, .., 5)",
            )
        self.levels_, categories = np.unique(ratings, return_inverse=True)
        if len(self.levels_) < 2:
            raise ParameterError(
                "link",
                "ordered_probit",
                f"'gaussian': every training rating is {self.levels_[0]:g}, and the "
                "ordered probit needs at least two rating values",
            )
        self._categories = categories.astype(np.int64)
        self._cuts = (self.levels_[1:] + self.levels_[:-1]) / 2
        counts = np.bincount(self._categories, minlength=len(self.levels_))
        self._cut_steps = CUT_STEP / np.sqrt(counts[1:] + counts[:-1])
        self._latent = ratings.copy()
        self._alpha = 1.0
        self._turn = 0  # the cut the next Metropolis step moves, in turn

    def _draw_latent(self) -> bool:
        """One cut point given the scores η (the cuts in turn, one per sweep; z integrated out: a Metropolis
        step of a Gaussian random walk under a flat prior on ordered cuts, as Cowles 1996), then every latent z
        given η and the cuts (Albert and Chib 1993); the sides then regress on z with noise precision 1.
        Returns whether the cut moved."""
        users, items, _ = self._train_arrays
        eta = self._linear_predictor(users.astype(np.int64), items.astype(np.int64))
        cut, self._turn = self._turn, (self._turn + 1) % len(self._cuts)
        moved = self._cuts[cut] + self._cut_steps[cut] * self.rng_.standard_normal()
        threshold = np.log(self.rng_.random())
        padded = _padded(self._cuts)
        accepted = padded[cut] < moved < padded[cut + 2]
        if accepted:
            accepted = (
                ordinal.log_likelihood_change(eta, self._categories, padded, moved, cut + 1) > threshold
            )
        if accepted:
            self._cuts = self._cuts.copy()
            self._cuts[cut] = moved
        uniforms = 1 - self.rng_.random(len(eta))
        with rowsolve._threads_for(len(eta), 4):
            ordinal.draw_latent(eta, self._categories, _padded(self._cuts), uniforms, self._latent)
        for side in self._sides.values():
            side.values[:] = self._latent[side.order]
        return accepted

    def _expected(self, eta: np.ndarray, cuts: np.ndarray) -> np.ndarray:
        """E[r | η, c] per score (ordered probit); η itself with the Gaussian link."""
        if not len(cuts):
            return eta
        out = np.empty(len(eta))
        with rowsolve._threads_for(len(eta), len(cuts)):
            ordinal.expected_ratings(np.ascontiguousarray(eta, dtype=np.float64), cuts, self.levels_, out)
        return out

    def _draw_prior(self, rows: np.ndarray, current: Prior) -> Prior:
        """λ given m, then m given λ, per dimension, from their Normal-Gamma conditionals given the rows."""
        n = len(rows)
        total = rows.sum(axis=0, dtype=np.float64)
        spread = np.sum((rows - current.mean) ** 2, axis=0, dtype=np.float64)
        shape = HYPER_SHAPE + (n + 1) / 2
        rate = HYPER_RATE + 0.5 * (spread + MEAN_STRENGTH * current.mean**2)
        precision = self.rng_.gamma(shape, 1 / rate)
        strength = n + MEAN_STRENGTH
        mean = total / strength + self.rng_.standard_normal(len(total)) / np.sqrt(strength * precision)
        return Prior(mean, precision)

    def _draw_alpha(self) -> float:
        """α from Gamma(a₀ + N/2, b₀ + ½ Σ e²) given the current sample's residuals."""
        squared = self._current_sum_squares()
        shape = HYPER_SHAPE + len(self._train_arrays[2]) / 2
        return float(self.rng_.gamma(shape, 1 / (HYPER_RATE + 0.5 * squared)))

    def _current_sum_squares(self) -> float:
        """Σ e² of the current sample over the training ratings (the latent scores with the ordered probit):
        after a sweep, from the films' Gram matrices (`bags.squared_errors`); before the first, directly."""
        if self._sum_squares is None:
            k, users, items = self.params.n_factors, self._user_effective, self._item_effective
            self._sum_squares, _ = jit.prediction_errors(
                np.ascontiguousarray(users[:, :k]), np.ascontiguousarray(items[:, :k]),
                np.ascontiguousarray(users[:, k]), np.ascontiguousarray(items[:, k]), self.global_mean_,
                *self._train_arrays, -np.inf, np.inf,
            )  # fmt: skip
        return self._sum_squares

    def _linear_predictor(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The current sample's scores η = μ + β_i + [a_u, β_u]·[c_i, 1]."""
        features = _features(self._item_effective)
        return (
            self.global_mean_
            + self._item_effective[items, -1]
            + jit.row_dots(self._user_effective, features, users, items)
        )

    def _sample_predictions(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The current sample's predicted ratings: η, or E[r | η, c] with the ordered probit."""
        return self._expected(self._linear_predictor(users, items), self._cuts)

    def _accumulate(self) -> None:
        """Add the current sample to the running sums (and its predictions for ``valid`` to theirs)."""
        prior = self._priors["user"]
        for name, value in (
            ("users", self._user_effective), ("items", self._item_effective),
            ("bags", self._vectors["user_bag"]), ("mean", prior.mean), ("precision", prior.precision),
            ("alpha", self._alpha), ("cuts", self._cuts),
        ):  # fmt: skip
            self._sums[name] = self._sums[name] + np.asarray(value, dtype=np.float64)
        self.n_averaged_ += 1
        if self._valid_sum is not None:
            self._valid_sum += self._sample_predictions(*self._valid_codes)

    def _publish(self) -> None:
        """Set the prediction and fold-in arrays: the running means after burn-in, else the current sample."""
        if self.n_averaged_:
            mean = {name: np.asarray(total) / self.n_averaged_ for name, total in self._sums.items()}
        else:
            prior = self._priors["user"]
            mean = {
                "users": self._user_effective, "items": self._item_effective, "bags": self._vectors["user_bag"],
                "mean": prior.mean, "precision": prior.precision, "alpha": self._alpha, "cuts": self._cuts,
            }  # fmt: skip
        k, dtype = self.params.n_factors, self.dtype_
        for side, name in (("user", "users"), ("item", "items")):
            setattr(self, f"{side}_factors_", np.ascontiguousarray(mean[name][:, :k], dtype=dtype))
            setattr(self, f"{side}_bias_", np.ascontiguousarray(mean[name][:, k], dtype=dtype))
        self.implicit_factors_ = np.ascontiguousarray(mean["bags"][:, :k], dtype=dtype)
        self.implicit_bias_ = np.ascontiguousarray(mean["bags"][:, k], dtype=dtype)
        self.prior_mean_ = np.asarray(mean["mean"], dtype=np.float64)
        self.prior_precision_ = np.asarray(mean["precision"], dtype=np.float64)
        self.noise_precision_ = np.asarray(mean["alpha"], dtype=np.float64)
        self.cutpoints_ = np.asarray(mean["cuts"], dtype=np.float64)

    # --- what an epoch reports ---------------------------------------------------------------------------

    def _losses(self, train: RatingsDataset) -> tuple[float, float, float]:
        reconstruction = 0.5 * self._current_sum_squares()
        penalty = sum(
            float(np.sum(prior.precision * (self._vectors[group] - prior.mean) ** 2))
            for group, prior in self._priors.items()
        )
        regularization = 0.5 * penalty / self._alpha
        return reconstruction, regularization, reconstruction + regularization

    def _train_metrics(self, train: RatingsDataset) -> tuple[float, float, float, float | None]:
        """The current sample's losses and the averaged model's train RMSE, in one compiled pass."""
        reconstruction, regularization, total = self._losses(train)
        if self._ordinal:
            error = train.ratings - self.scale_.clip(self._raw_predict(train.user_codes, train.item_codes))
            squared_clipped = float(np.sum(error**2))
        else:
            _, squared_clipped = jit.prediction_errors(
                self.user_factors_, self.item_factors_, self.user_bias_, self.item_bias_, self.global_mean_,
                train.user_codes, train.item_codes, train.ratings, self.scale_.low, self.scale_.high,
            )  # fmt: skip
        return reconstruction, regularization, total, float(np.sqrt(squared_clipped / train.n_ratings))

    def _record(
        self, epoch: int, seconds: float, train: RatingsDataset, valid: RatingsDataset | None, info: dict
    ) -> EpochRecord:
        """The base record with the validation RMSE (and MAE) of the running average of the sampled
        predictions (during burn-in, of the current sample's)."""
        record = super()._record(epoch, seconds, train, None, info)
        if self._valid_sum is not None:
            if self.n_averaged_:
                predicted = self._valid_sum / self.n_averaged_
            else:
                predicted = self._sample_predictions(*self._valid_codes)
            error = self._valid.ratings - self.scale_.clip(predicted)
            record.valid_rmse = float(np.sqrt(np.mean(error**2)))
            record.extra["valid_mae"] = float(np.mean(np.abs(error)))
        return record

    # --- predictions ------------------------------------------------------------------------------------

    def _raw_predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The posterior-mean vectors' score, or with the ordered probit its expected rating under the mean
        cut points."""
        return self._expected(super()._raw_predict(users, items), self.cutpoints_)

    def scores_for(self, user_vector: np.ndarray, user_bias: float = 0.0) -> np.ndarray:
        """As `Recommender.scores_for`, through the link (a monotone map: the order is the score's)."""
        with np.errstate(over="ignore", invalid="ignore"):
            scores = self._expected(super().scores_for(user_vector, user_bias), self.cutpoints_)
        return finite_scores(self, scores)

    # --- one person -------------------------------------------------------------------------------------

    def fold_in_user(self, item_codes: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, float]:
        """The posterior mode of x = [p, b_u] (`foldin_system`); the bag's linear weights join the bias."""
        factors, bias = self.foldin_system(item_codes, ratings).solve()
        return factors, bias + self._bag_bias(item_codes)

    def foldin_system(self, item_codes: np.ndarray, ratings: np.ndarray) -> LinearSystem:
        """x = [p, b_u] for a new user whose bag is the films S they rated, the films at their posterior means:
        M = diag(λ) + α XᵀX, w = α, prior λ m (the sampled user prior), on top of |S|^−½ Σ_{j∈S} y_j. A new
        person's age, gender and occupation are not known: their attribute part is 0."""
        parts = evidence(self, item_codes, self._latent_targets(ratings), implicit=self.implicit_factors_)
        alpha = float(self.noise_precision_)
        precision = self.prior_precision_
        matrix = np.diag(precision) + alpha * parts.design.T @ parts.design
        residuals = parts.residuals - self._bag_bias(item_codes)
        return LinearSystem(
            parts.design, residuals, alpha, matrix, precision * self.prior_mean_, parts.offset, True
        )

    def _latent_targets(self, ratings: np.ndarray) -> np.ndarray:
        """The ratings themselves (Gaussian link), or with the ordered probit each rating's latent target: the
        middle of its category's interval between the mean cut points, the two open-ended categories
        √(2/π) (a unit normal's mean distance past its mean) beyond their cut; values between two
        categories in between."""
        cuts = self.cutpoints_
        if not len(cuts):
            return ratings
        past = np.sqrt(2 / np.pi)
        bounds = np.concatenate([[cuts[0] - 2 * past], cuts, [cuts[-1] + 2 * past]])
        return np.interp(ratings, self.levels_, (bounds[1:] + bounds[:-1]) / 2)

    def _bag_bias(self, item_codes: np.ndarray) -> float:
        """|S|^−½ Σ_{j∈S} w_j: the bag's part of the user's bias."""
        return float(self.implicit_bias_[item_codes].astype(np.float64).sum() / np.sqrt(len(item_codes)))

    def attribute(
        self, rated: np.ndarray, ratings: np.ndarray, target: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The fold-in's split plus q_i·y_j / √|S|: the bag's part is owed to having rated j at all."""
        liked, contrast = super().attribute(rated, ratings, target)
        liked += target @ self.implicit_factors_[rated].astype(np.float64).T / np.sqrt(len(rated))
        return liked, contrast

    def reference_user(self) -> np.ndarray:
        """The trained users' mean vector, as `bpmf`: the prior a new person starts from is not 0."""
        return self.mean_user()


def _padded(cuts: np.ndarray) -> np.ndarray:
    """The cut points with −∞ and +∞ at the ends (every category's interval)."""
    return np.concatenate([[-np.inf], cuts, [np.inf]])


def _features(effective: np.ndarray) -> np.ndarray:
    """[c, 1] for effective vectors [c, β]: the other side's features in one side's draws."""
    features = effective.copy()
    features[:, -1] = 1
    return features


# --- side information ---------------------------------------------------------------------------------

USER_CATEGORIES = ("gender", "occupation")  # user metadata columns taken as categories when present
QUANTILE_BINS = 8  # a number (a film's year, a user's age) becomes one of this many quantile bins


def attribute_bags(train: RatingsDataset) -> dict[str, sp.csr_matrix]:
    """Each side's bag of attributes, from the data set's metadata, when it has some: a film's genres (shares
    of 1) and its year's quantile bin; a user's age bin, gender and occupation. Each kind is a block of
    columns; a row's blocks are weighted 1/√(blocks it has), so every row's attributes weigh alike."""
    items = train.items
    film_blocks = [genre_matrix(items), _binned(items["year"])]
    out = {"item": _joined(film_blocks)}
    users = train.users
    if users is not None and len(users) == train.n_users:
        blocks = [_binned(users["age"])] if "age" in users else []
        blocks += [_categories(users[column]) for column in USER_CATEGORIES if column in users]
        out["user"] = _joined(blocks)
    return {side: matrix for side, matrix in out.items() if matrix is not None}


def _binned(values: pd.Series) -> sp.csr_matrix:
    """One-hot quantile bins of a numeric column, equal values in one bin (fewer bins where many values are
    equal); a missing value: no bin."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.nunique() < 2:
        return sp.csr_matrix((len(values), 0))
    return _categories(pd.qcut(numbers, QUANTILE_BINS, labels=False, duplicates="drop"))


def _categories(values: pd.Series) -> sp.csr_matrix:
    """One-hot categories (a missing value: none)."""
    codes, uniques = pd.factorize(values)
    rows = np.flatnonzero(codes >= 0)
    ones = np.ones(len(rows))
    return sp.csr_matrix((ones, (rows, codes[rows])), shape=(len(values), len(uniques)))


def _joined(blocks: list[sp.csr_matrix]) -> sp.csr_matrix | None:
    """The blocks side by side, each row scaled by 1/√(blocks with an entry in it); None without columns."""
    blocks = [block for block in blocks if block.shape[1]]
    if not blocks:
        return None
    present = sum((np.diff(sp.csr_matrix(block).indptr) > 0).astype(float) for block in blocks)
    scale = 1 / np.sqrt(np.maximum(present, 1))
    return sp.csr_matrix(sp.diags(scale) @ sp.hstack(blocks, format="csr"))
