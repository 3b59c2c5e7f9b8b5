"""The ordered-probit link of `bsvdpp`, compiled: ratings as categories of a latent Gaussian.

A rating of category k (its k-th smallest value, k = 0..K−1) is r = k when its latent z ~ N(η, 1) falls in
(c_k, c_{k+1}], with c_0 = −∞ < c_1 < … < c_{K−1} < c_K = +∞ (``cuts`` holds all K+1, the ends infinite):

    P(r = k | η, c) = Φ(c_{k+1} − η) − Φ(c_k − η)              (`log_likelihood_change`: of moving one cut)
    z | r = k, η, c ~ N(η, 1) truncated to (c_k, c_{k+1}]      (`draw_latent`, Albert and Chib 1993)
    E[r | η, c] = v_0 + Σ_{k≥1} (v_k − v_{k−1}) Φ(η − c_k)     (`expected_ratings`, rating values v_k)

Intervals are read from the side of η that keeps Φ accurate: an interval centred above η is mirrored below it
(Φ(−x) is exact in the lower tail where 1 − Φ(x) would cancel; an open-ended top category becomes a
bottom one, whose probabilities stay below 1). The truncated draw inverts Φ between the
interval's bounds, with Acklam's rational approximation of Φ⁻¹ (relative error below 1.2e−9, ample for a
draw; a refinement step would cost as much again).
"""

from __future__ import annotations

import math

import numpy as np

from recengine.models.kernels.jit import kernel, prange

SQRT_HALF = 1 / math.sqrt(2)
TINY = 1e-300  # the smallest probability a log is taken of (an interval Φ cannot resolve)


@kernel(inline="always")
def _cdf(x):
    """Φ(x), accurate in the lower tail."""
    return 0.5 * math.erfc(-x * SQRT_HALF)


@kernel(inline="always")
def _quantile(p):
    """Φ⁻¹(p) for 0 < p < 1 (Acklam's approximation)."""
    if p < 0.02425 or p > 1 - 0.02425:
        q = math.sqrt(-2 * math.log(p if p < 0.5 else 1 - p))
        x = (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838e00) * q
               - 2.549732539343734e00) * q + 4.374664141464968e00) * q + 2.938163982698783e00) / (
            (((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e00) * q
             + 3.754408661907416e00) * q + 1
        )  # fmt: skip
        if p > 0.5:
            x = -x
    else:
        q = p - 0.5
        r = q * q
        x = (((((-3.969683028665376e01 * r + 2.209460984245205e02) * r - 2.759285104469687e02) * r
               + 1.383577518672690e02) * r - 3.066479806614716e01) * r + 2.506628277459239e00) * q / (
            ((((-5.447609879822406e01 * r + 1.615858368580409e02) * r - 1.556989798598866e02) * r
              + 6.680131188771972e01) * r - 1.328068155288572e01) * r + 1
        )  # fmt: skip
    return x


@kernel(inline="always")
def _bounds(eta, category, cuts):
    """The interval (lo, hi] of z − η for a rating of ``category``, mirrored when its centre lies above 0
    (then ``flip`` is True: z − η is −x for x drawn in (lo, hi])."""
    lo = cuts[category] - eta
    hi = cuts[category + 1] - eta
    if lo + hi > 0:
        return -hi, -lo, True
    return lo, hi, False


@kernel(inline="always")
def _log_probability(eta, category, cuts):
    lo, hi, _ = _bounds(eta, category, cuts)
    return math.log(max(_cdf(hi) - _cdf(lo), TINY))


@kernel()
def log_likelihood_change(eta, categories, cuts, moved, cut):
    """Σ log P(r | η, c′) − log P(r | η, c) over the ratings (``categories`` their k, ``eta`` their η), c′
    being c with ``cuts[cut]`` set to ``moved``: only the two categories on either side of it count."""
    proposal = cuts.copy()
    proposal[cut] = moved
    total = 0.0
    for n in range(len(eta)):
        k = categories[n]
        if k == cut or k == cut - 1:
            total += _log_probability(eta[n], k, proposal) - _log_probability(eta[n], k, cuts)
    return total


@kernel(parallel=True)
def draw_latent(eta, categories, cuts, uniforms, out):
    """``out[n]`` = a draw of z_n from N(η_n, 1) truncated to its rating's interval, by inverting Φ at
    ``uniforms[n]`` ∈ (0, 1] (at 1 − u for a mirrored interval, in the interval's own terms)."""
    for n in prange(len(eta)):
        lo, hi, flip = _bounds(eta[n], categories[n], cuts)
        low, high = _cdf(lo), _cdf(hi)
        p = low + uniforms[n] * (high - low)
        x = hi  # an interval Φ cannot resolve, or p rounded to 1 (only where hi > 8): its bound nearest η
        if high > low and p < 1:
            x = min(max(_quantile(p), lo), hi)
        out[n] = eta[n] - x if flip else eta[n] + x


@kernel(parallel=True)
def expected_ratings(eta, cuts, values, out):
    """``out[n]`` = E[r | η_n, c]: v_0 + Σ_k (v_k − v_{k−1}) Φ(η_n − c_k), ``cuts`` the K−1 finite ones."""
    for n in prange(len(eta)):
        total = values[0]
        for k in range(1, len(values)):
            total += (values[k] - values[k - 1]) * _cdf(eta[n] - cuts[k - 1])
        out[n] = total


def first_call(dtype: np.dtype) -> None:
    """Each kernel once on a tiny problem (compiles it, or loads it from numba's cache)."""
    eta, categories = np.zeros(2), np.array([0, 1], np.int64)
    cuts = np.array([-np.inf, 0.0, np.inf])
    log_likelihood_change(eta, categories, cuts, 0.5, 1)
    draw_latent(eta, categories, cuts, np.ones(2), np.empty(2))
    expected_ratings(eta, cuts[1:2].copy(), np.array([1.0, 2.0]), np.empty(2))
