"""One small Gaussian (ridge) solve per row of a sparse matrix: the compiled engine of `als` and `bpmf`.

For every row u (a user, or an item) with observed columns I_u, the kernel forms

    A_u = s Σ_{i∈I_u} y_i y_iᵀ + Λ + c_u I        h_u = s Σ_{i∈I_u} (v_ui − o_i) y_i + η

and writes ``x_u = A_u⁻¹ h_u`` (ALS: s = 1, Λ = 0, η = 0, c_u = λ w_u), or a draw from N(A_u⁻¹ h_u, A_u⁻¹)
(Gibbs sampling in BPMF: s = α, Λ and η = Λμ from the prior, c_u = 0), by a Cholesky factorization.

Why numba: the alternatives measured on a synthetic MovieLens-25M-shaped set (25M ratings, 65 unknowns per
row, float64, 2 busy cores): NumPy with rows grouped by count, gathered into zero-padded blocks and solved by
batched ``matmul`` and ``np.linalg.solve`` took 36 s (users) + 13 s (items) per alternation with BLAS on one
thread, and over 200 s per side with OpenBLAS's default threading; this kernel, parallel over rows, took
9-11 s + 8-10 s. Each row's arithmetic is sequential and private to it, so results do not depend on thread
timing: the same inputs give the same bits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from recengine.models.kernels import jit
from recengine.models.kernels.jit import kernel, prange

# The most unknowns per row the dense k × k solves allow: their cost grows as k³ (one als epoch on the bundled
# set: 1.4 s at 128 factors, 9 s at 256, minutes at 1000), and a Stop request waits for the epoch to end.
MAX_FACTORS = 256

# Below this much work (entries × unknowns²) one thread is faster: on a busy machine, waking and waiting for
# a second thread cost 6-14 ms per call on MovieLens 100k, where the whole solve takes 1-2 ms on one.
PARALLEL_WORK = 2e8


@kernel(fastmath=jit.FASTMATH, parallel=True)
def solve_rows(
    indptr, indices, values, offsets, features, scale, prior_precision, prior_shift, penalties, noise, out
):
    """``out[u]`` for every row as described in the module docstring.

    ``offsets`` has one value per column (o_i), ``penalties`` one per row (c_u). With an empty ``noise``
    (shape (0, d)) the kernel solves, and leaves rows without entries untouched; with ``noise`` of shape
    (n_rows, d) of standard normal draws it samples every row (rows without entries from the prior).
    """
    d = features.shape[1]
    sampling = noise.shape[0] > 0
    for row in prange(len(indptr) - 1):
        start, stop = indptr[row], indptr[row + 1]
        if start == stop and not sampling:
            continue
        gram = np.zeros((d, d), dtype=features.dtype)
        rhs = np.zeros(d, dtype=features.dtype)
        _accumulate(indices, values, offsets, features, start, stop, gram, rhs)
        for a in range(d):
            rhs[a] = scale * rhs[a] + prior_shift[a]
            for b in range(a + 1):
                gram[a, b] = scale * gram[a, b] + prior_precision[a, b]
            gram[a, a] += penalties[row]
        _cholesky(gram)
        _solve_lower(gram, rhs)
        if sampling:
            for a in range(d):
                rhs[a] += noise[row, a]
        _solve_upper(gram, rhs)
        out[row] = rhs


@kernel(fastmath=jit.FASTMATH, inline="always")
def _accumulate(indices, values, offsets, features, start, stop, gram, rhs):
    """Lower triangle of Σ y yᵀ and Σ t y over the row's entries, four entries per pass over the triangle."""
    d = features.shape[1]
    p = start
    while p + 4 <= stop:
        y0, y1 = features[indices[p]], features[indices[p + 1]]
        y2, y3 = features[indices[p + 2]], features[indices[p + 3]]
        t0 = values[p] - offsets[indices[p]]
        t1 = values[p + 1] - offsets[indices[p + 1]]
        t2 = values[p + 2] - offsets[indices[p + 2]]
        t3 = values[p + 3] - offsets[indices[p + 3]]
        for a in range(d):
            a0, a1, a2, a3 = y0[a], y1[a], y2[a], y3[a]
            rhs[a] += t0 * a0 + t1 * a1 + t2 * a2 + t3 * a3
            for b in range(a + 1):
                gram[a, b] += a0 * y0[b] + a1 * y1[b] + a2 * y2[b] + a3 * y3[b]
        p += 4
    while p < stop:
        y = features[indices[p]]
        t = values[p] - offsets[indices[p]]
        for a in range(d):
            rhs[a] += t * y[a]
            for b in range(a + 1):
                gram[a, b] += y[a] * y[b]
        p += 1


@kernel(fastmath=jit.FASTMATH, inline="always")
def _cholesky(a):
    """In place: the lower triangle of ``a`` becomes L with L Lᵀ = a (only the lower triangle is read)."""
    d = a.shape[0]
    for j in range(d):
        pivot = a[j, j]
        for k in range(j):
            pivot -= a[j, k] * a[j, k]
        pivot = np.sqrt(pivot)
        a[j, j] = pivot
        for i in range(j + 1, d):
            total = a[i, j]
            for k in range(j):
                total -= a[i, k] * a[j, k]
            a[i, j] = total / pivot


@kernel(fastmath=jit.FASTMATH, inline="always")
def _solve_lower(lower, b):
    """In place: b ← L⁻¹ b."""
    for i in range(b.shape[0]):
        total = b[i]
        for k in range(i):
            total -= lower[i, k] * b[k]
        b[i] = total / lower[i, i]


@kernel(fastmath=jit.FASTMATH, inline="always")
def _solve_upper(lower, b):
    """In place: b ← L⁻ᵀ b."""
    for i in range(b.shape[0] - 1, -1, -1):
        total = b[i]
        for k in range(i + 1, b.shape[0]):
            total -= lower[k, i] * b[k]
        b[i] = total / lower[i, i]


@contextmanager
def _threads_for(n_entries: int, width: int) -> Iterator[None]:
    """Run the kernel on one thread when the problem is too small to gain from more."""
    import numba

    before = numba.get_num_threads()
    if n_entries * width * width < PARALLEL_WORK:
        numba.set_num_threads(1)
    try:
        with jit.parallel_section():
            yield
    finally:
        numba.set_num_threads(before)


def ridge_solve(indptr, indices, values, offsets, features, penalties, out) -> None:
    """``out[u] = argmin_x Σ_i (v_ui − o_i − x·y_i)² + c_u ‖x‖²`` for every row with entries."""
    d, dtype = features.shape[1], features.dtype
    zeros = np.zeros((d, d), dtype)
    with _threads_for(len(values), d):
        solve_rows(
            indptr, indices, values, offsets, features, dtype.type(1), zeros, zeros[0], penalties,
            np.zeros((0, d), dtype), out,
        )  # fmt: skip


def gaussian_draw(
    indptr, indices, values, offsets, features, precision, prior_precision, prior_shift, noise, out
) -> None:
    """``out[u]`` ~ N(A_u⁻¹ h_u, A_u⁻¹) with s = ``precision``, given standard normal ``noise`` per row."""
    with _threads_for(len(values), features.shape[1]):
        solve_rows(
            indptr, indices, values, offsets, features, features.dtype.type(precision), prior_precision,
            prior_shift, np.zeros(len(indptr) - 1, features.dtype), noise, out,
        )  # fmt: skip


def check_solver_factors(n_factors: int, solver: str, most_with_cg: int) -> None:
    """Refuse more than `MAX_FACTORS` factors with exact Cholesky solves, naming the way out (``cg``)."""
    from recengine.errors import ParameterError

    if solver == "cholesky" and n_factors > MAX_FACTORS:
        raise ParameterError(
            "n_factors",
            n_factors,
            f"≤ {MAX_FACTORS} with solver='cholesky' (its k × k solves grow as k³); "
            f"choose solver='cg' for up to {most_with_cg} factors, or fewer factors",
        )


def warm_up(dtype: np.dtype) -> None:
    """The kernel's first call for ``dtype`` on a tiny problem (compiles it, or loads it from the cache)."""
    indptr = np.array([0, 1], dtype=np.int32)
    features = np.ones((1, 2), dtype)
    ridge_solve(
        indptr, np.zeros(1, np.int32), np.ones(1, np.float32), np.zeros(1, dtype), features,
        np.ones(1, dtype), np.zeros((1, 2), dtype),
    )  # fmt: skip
