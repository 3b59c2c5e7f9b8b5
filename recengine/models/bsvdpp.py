"""`bsvdpp`: Bayesian SVD++ with the flipped bags, a factorization machine sampled by Gibbs (Freudenthaler,
Schmidt-Thieme and Rendle 2011; Rendle, Zhang and Koren 2019, "On the difficulty of evaluating baselines").

    r_ui ~ N(μ + β_u + β_i + a_u·c_i, 1/α)
    [a_u, β_u] = x_u + |N(u)|^−½ Σ_{j∈N(u)} y_j      user u and the bag N(u) of films u rated
    [c_i, β_i] = x_i + |R(i)|^−½ Σ_{v∈R(i)} z_v      film i and the bag R(i) of users who rated it

Each of x_u, y_j, x_i, z_v holds k factors and one linear weight (x_u = [p_u, b_u], ...): a factorization
machine over four groups of features, the user, the film, the user's bag and the film's bag, with the
interactions between the user's side and the film's side (SVD++ with its "flipped" mirror). N(u) and R(i) come
from the training ratings only: nothing of who rated what in a test set enters the model.

Priors, sampled (no λ to tune): the vectors of each group g ~ N(m_g, diag(λ_g)⁻¹), with λ_g,f ~ Gamma(1, 1)
and m_g,f ~ N(0, 1/λ_g,f) per dimension f, and the noise precision α ~ Gamma(1, 1) (the hyperpriors of
Bayesian factorization machines and libFM's MCMC). μ is the training mean, fixed (the groups' prior means
absorb any shift).

One epoch is one Gibbs sweep: α given the residuals; then the user side given the film side — the priors of
the x_u and of the y_j, every x_u (in parallel), every y_j (in turn) — then the film side the same way. Each
draw is of a whole vector from its Gaussian conditional, made from per-row Gram matrices computed once per
side and sweep (the relation-block trick; `kernels/bags.py` gives the formulas).

Prediction averages the sweeps after the burn-in (the first tenth): the model keeps running means of the
effective vectors [a_u, β_u] and [c_i, β_i] and predicts from them (product of averages, as `bpmf`). The
validation RMSE of each epoch is that of the running average of the sampled predictions themselves (what a
Bayesian model predicts); the RMSE of the averaged vectors is kept beside it as ``valid_rmse_of_means``.

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
from recengine.lazy import scipy_sparse as sp
from recengine.models import formulas as maths
from recengine.models.base import Hyperparameters, Recommender, hyper
from recengine.models.kernels import bags, jit, rowsolve
from recengine.models.objective import n_factors_field
from recengine.models.person import LinearSystem, evidence
from recengine.training import EpochRecord

HYPER_SHAPE = HYPER_RATE = 1.0  # the Gamma(1, 1) hyperpriors of α and of every group's precisions
MEAN_STRENGTH = 1.0  # γ₀: the prior mean m_g,f ~ N(0, 1/(γ₀ λ_g,f))
INIT_STD = 0.1  # the factors' random start (linear weights start at 0)
BURN_IN_SHARE = 0.1  # sweeps left out of the average: the first tenth
GROUPS = ("user", "user_bag", "item", "item_bag")


@dataclass(frozen=True)
class BayesianSVDppParams(Hyperparameters):
    n_factors: int = n_factors_field(10, high=rowsolve.MAX_FACTORS)
    n_epochs: int = hyper(
        200,
        low=1,
        high=100_000,
        help="Gibbs sweeps in all; the first tenth is burn-in, the rest are averaged.",
    )


class Side(NamedTuple):
    """One side's ratings by row (users: by user, partners the films) and its bags' weights."""

    indptr: np.ndarray
    partners: np.ndarray
    values: np.ndarray
    scales: np.ndarray  # |N(r)|^−½ per row (0 for a row without ratings)
    averaging: sp.csr_matrix  # rows × partners with the row's scale: averaging @ bags = the bag sums

    @classmethod
    def of(cls, indptr: np.ndarray, partners: np.ndarray, values: np.ndarray, n_partners: int,
           dtype: np.dtype) -> Side:  # fmt: skip
        indptr = indptr.astype(np.int64)
        counts = np.diff(indptr)
        scales = np.where(counts > 0, 1 / np.sqrt(np.maximum(counts, 1)), 0).astype(dtype)
        averaging = sp.csr_matrix(
            (np.repeat(scales, counts), partners, indptr), shape=(len(counts), n_partners)
        )
        return cls(indptr, partners.astype(np.int32), values.astype(dtype), scales, averaging)


class Prior(NamedTuple):
    """A group's prior: mean m and precision λ per dimension."""

    mean: np.ndarray
    precision: np.ndarray


class BayesianSVDpp(Recommender):
    name = "bsvdpp"
    label = "Bayesian SVD++ with flipped bags (Gibbs sampling)"
    description = (
        "SVD++ in both directions, sampled instead of optimised: each user is also described by the films "
        "they rated and each film by the people who rated it, and Gibbs sampling draws many plausible sets "
        "of factors and averages them. Every penalty is learned from the data: the number of factors and of "
        "sweeps are its only settings. The most accurate rating model here."
    )
    formulas = maths.BSVDPP
    Params = BayesianSVDppParams
    fold_in_method = (
        "posterior mode of p and b_u on top of the rated films' bag, under the sampled user prior"
    )
    divergence_hint = "Use float64, or fewer factors."
    factor_copies = 12.0  # four groups, their effective vectors, features, noise and running sums
    state_names = (
        "user_factors_", "item_factors_", "user_bias_", "item_bias_", "implicit_factors_", "implicit_bias_",
        "prior_mean_", "prior_precision_", "noise_precision_",
    )  # fmt: skip

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
        """Sweeps before the averaging starts: the first tenth."""
        return int(BURN_IN_SHARE * self.n_epochs)

    def _initialize(self, train: RatingsDataset) -> None:
        k, dtype = self.params.n_factors, self.dtype_
        d = k + 1
        self.compile_seconds_ = jit.ready("bsvdpp_bags", dtype, bags.first_call)
        csr, csc = train.csr, train.csc
        self._users = Side.of(csr.indptr, csr.indices, csr.data, train.n_items, dtype)
        self._items = Side.of(csc.indptr, csc.indices, csc.data, train.n_users, dtype)
        sizes = {
            "user": train.n_users,
            "user_bag": train.n_items,
            "item": train.n_items,
            "item_bag": train.n_users,
        }
        self._vectors = {}
        for group in GROUPS:
            vectors = self.rng_.normal(0, INIT_STD, (sizes[group], d)).astype(dtype)
            vectors[:, -1] = 0
            self._vectors[group] = vectors
        self._priors = {group: Prior(np.zeros(d), np.ones(d)) for group in GROUPS}
        self._alpha = 1.0
        self._grams = {
            side: (np.zeros((n, d, d), dtype), np.zeros((n, d), dtype))
            for side, n in (("user", train.n_users), ("item", train.n_items))
        }
        self._user_effective = self._vectors["user"] + self._users.averaging @ self._vectors["user_bag"]
        self._item_effective = self._vectors["item"] + self._items.averaging @ self._vectors["item_bag"]
        self._pairs = (train.user_codes.astype(np.int64), train.item_codes.astype(np.int64))
        self._ratings = train.ratings.astype(np.float64)
        self._sums = {name: 0.0 for name in ("users", "items", "bags", "mean", "precision", "alpha")}
        self.n_averaged_ = 0
        valid = getattr(self, "_valid", None)
        self._valid_sum = np.zeros(len(valid)) if valid is not None else None
        self._publish()

    def _run_epoch(self, train: RatingsDataset, epoch: int) -> dict:
        self._alpha = self._draw_alpha()
        self._user_effective = self._draw_side("user", self._users, self._items, self._item_effective)
        self._item_effective = self._draw_side("item", self._items, self._users, self._user_effective)
        if epoch > self.burn_in:
            self._accumulate()
        self._publish()
        extra = {"samples_averaged": float(self.n_averaged_), "noise_precision": float(self._alpha)}
        return {"extra": extra | ({"compile_seconds": self.compile_seconds_} if epoch == 1 else {})}

    def _draw_side(
        self, side_name: str, side: Side, other: Side, partners_effective: np.ndarray
    ) -> np.ndarray:
        """Draw one side's own vectors and bag vectors given the other side; return its effective vectors."""
        own, bag = self._vectors[side_name], self._vectors[side_name + "_bag"]
        own_prior = self._priors[side_name] = self._draw_prior(own, self._priors[side_name])
        bag_prior = self._priors[side_name + "_bag"] = self._draw_prior(bag, self._priors[side_name + "_bag"])
        features = _features(partners_effective)
        offsets = (self.global_mean_ + partners_effective[:, -1]).astype(self.dtype_)
        grams, targets = self._grams[side_name]
        dtype, alpha = self.dtype_, self.dtype_.type(self._alpha)
        with rowsolve._threads_for(len(side.values), own.shape[1]):
            bags.side_grams(side.indptr, side.partners, side.values, offsets, features, grams, targets)
            bag_sums = np.ascontiguousarray(side.averaging @ bag, dtype=dtype)
            noise = self.rng_.standard_normal(own.shape).astype(dtype)
            bags.draw_rows(
                grams, targets, bag_sums, own_prior.precision.astype(dtype),
                (own_prior.precision * own_prior.mean).astype(dtype), alpha, noise, own,
            )  # fmt: skip
        noise = self.rng_.standard_normal(bag.shape).astype(dtype)
        bags.draw_bags(
            other.indptr, other.partners, side.scales, grams, targets, own, bag_sums,
            bag_prior.precision.astype(dtype), (bag_prior.precision * bag_prior.mean).astype(dtype), alpha,
            noise, bag,
        )  # fmt: skip
        return own + bag_sums

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
        squared = float(np.sum(self._residuals() ** 2))
        return float(self.rng_.gamma(HYPER_SHAPE + len(self._ratings) / 2, 1 / (HYPER_RATE + 0.5 * squared)))

    def _residuals(self) -> np.ndarray:
        """r − μ − β_i − [a_u, β_u]·[c_i, 1] for every training rating, from the current sample."""
        users, items = self._pairs
        return self._ratings - self._sample_predictions(users, items)

    def _sample_predictions(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        features = _features(self._item_effective)
        return (
            self.global_mean_
            + self._item_effective[items, -1]
            + jit.row_dots(self._user_effective, features, users, items)
        )

    def _accumulate(self) -> None:
        """Add the current sample to the running sums (and its predictions for ``valid`` to theirs)."""
        prior = self._priors["user"]
        for name, value in (
            ("users", self._user_effective), ("items", self._item_effective),
            ("bags", self._vectors["user_bag"]), ("mean", prior.mean), ("precision", prior.precision),
            ("alpha", self._alpha),
        ):  # fmt: skip
            self._sums[name] = self._sums[name] + np.asarray(value, dtype=np.float64)
        self.n_averaged_ += 1
        if self._valid_sum is not None:
            codes = (self._valid.user_codes.astype(np.int64), self._valid.item_codes.astype(np.int64))
            self._valid_sum += self._sample_predictions(*codes)

    def _publish(self) -> None:
        """Set the prediction and fold-in arrays: the running means after burn-in, else the current sample."""
        if self.n_averaged_:
            mean = {name: np.asarray(total) / self.n_averaged_ for name, total in self._sums.items()}
        else:
            prior = self._priors["user"]
            mean = {
                "users": self._user_effective, "items": self._item_effective, "bags": self._vectors["user_bag"],
                "mean": prior.mean, "precision": prior.precision, "alpha": self._alpha,
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

    # --- what an epoch reports ---------------------------------------------------------------------------

    def _losses(self, train: RatingsDataset) -> tuple[float, float, float]:
        reconstruction = 0.5 * float(np.sum(self._residuals() ** 2))
        penalty = sum(
            float(np.sum(prior.precision * (self._vectors[group] - prior.mean) ** 2))
            for group, prior in self._priors.items()
        )
        regularization = 0.5 * penalty / self._alpha
        return reconstruction, regularization, reconstruction + regularization

    def _record(
        self, epoch: int, seconds: float, train: RatingsDataset, valid: RatingsDataset | None, info: dict
    ) -> EpochRecord:
        """The base record, its validation RMSE that of the running average of the sampled predictions."""
        record = super()._record(epoch, seconds, train, valid, info)
        if self._valid_sum is not None and self.n_averaged_:
            averaged = self.scale_.clip(self._valid_sum / self.n_averaged_)
            record.extra["valid_rmse_of_means"] = record.valid_rmse
            record.valid_rmse = float(np.sqrt(np.mean((self._valid.ratings - averaged) ** 2)))
        return record

    # --- one person -------------------------------------------------------------------------------------

    def fold_in_user(self, item_codes: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, float]:
        """The posterior mode of x = [p, b_u] (`foldin_system`); the bag's linear weights join the bias."""
        factors, bias = self.foldin_system(item_codes, ratings).solve()
        return factors, bias + self._bag_bias(item_codes)

    def foldin_system(self, item_codes: np.ndarray, ratings: np.ndarray) -> LinearSystem:
        """x = [p, b_u] for a new user whose bag is the films S they rated, the films at their posterior means:
        M = diag(λ) + α XᵀX, w = α, prior λ m (the sampled user prior), on top of |S|^−½ Σ_{j∈S} y_j."""
        parts = evidence(self, item_codes, ratings, implicit=self.implicit_factors_)
        alpha = float(self.noise_precision_)
        precision = self.prior_precision_
        matrix = np.diag(precision) + alpha * parts.design.T @ parts.design
        residuals = parts.residuals - self._bag_bias(item_codes)
        return LinearSystem(
            parts.design, residuals, alpha, matrix, precision * self.prior_mean_, parts.offset, True
        )

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


def _features(effective: np.ndarray) -> np.ndarray:
    """[c, 1] for effective vectors [c, β]: the other side's features in one side's draws."""
    features = effective.copy()
    features[:, -1] = 1
    return features
