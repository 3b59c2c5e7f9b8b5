"""What a training costs in time, estimated before it starts: the class server's work ceiling reads it.

Each model counts the work units of one epoch from what its epoch really does (k factors, R training
ratings, N = users + items rows, d = k + 1: a bias solved beside the factors):

- row solvers (``als`` and ``wals`` with Cholesky, ``bpmf``, ``bsvdpp``) build a d × d system from each row's
  ratings and factor it: R·d² + N·d³. The cube is what makes 256 factors dear.
- conjugate gradient (``als``, ``wals`` with ``solver="cg"``): each step is one pass over the row's ratings
  and one d × d product: cg_steps · (R·d + N·d²).
- per-rating updates (``sgd``, ``bpr``, ``gd``): R·k; ``svdpp`` adds its bag term (each user's implicit sum
  and the steps of the y_j in the bag: R·k again, twice with the ``item_implicit`` mirror pass);
  ``minibatch`` and ``adam`` count their batches (each a few NumPy calls over all factors: the overhead a
  small batch size multiplies), their R·k being the per-rating part below.
- ``nmf``, ``svd``: sparse products R·k and dense N·k² products; ``baseline``, ``popular``: R.

An epoch also computes its losses and the validation error, and pays Python and NumPy overhead per rating:
R·d more units of a second kind. `RATES` turns both into seconds on this class server's two cores: per model,
(seconds per work unit, seconds per rating × factor), fitted by ``benchmarks/training_cost.py`` to a few short
fits of each model on the bundled set (non-negative least squares, then scaled up so that no measured epoch
took longer than its estimate).

Evaluating a model costs time of its own, priced by `ranking_seconds`: ranking the test side (a sweep's every
fold, a training's test metrics) scores every item for each ranked user (a product of k factors) and takes the
top k over them, the user's training items masked: users × items × (k · `RANK_PER_FACTOR` + `RANK_PER_ITEM`).
On a wide upload (40,000 items, few ratings) that, not the fit, is the whole cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

RATES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {  # (seconds per unit, per rating × factor)
        "baseline": (0.0, 2.23e-07),
        "popular": (0.0, 2.48e-09),
        "sgd": (5.95e-09, 0.0),
        "bpr": (0.0, 1.96e-08),
        "gd": (1.46e-08, 0.0),
        "svdpp": (0.0, 8.68e-08),
        "minibatch": (0.00243, 3.5e-08),
        "adam": (0.00156, 5.94e-08),
        "nmf": (7.97e-11, 2.13e-08),  # fitted values times 1.5: probe 9 timed settings at 1.43 times
        "svd": (5.96e-10, 1.21e-07),
        "als": (1.43e-10, 5.64e-08),
        "als/cg": (0.0, 4.5e-08),
        "wals": (1.02e-10, 1.23e-07),
        "wals/cg": (3.1e-10, 2.35e-08),
        "bpmf": (2.46e-10, 1.46e-07),  # fitted values times 1.5: probe 9 timed 100 factors at 1.44 times
        "bsvdpp": (9.69e-10, 2.35e-07),
    }
)
UNMEASURED = "bsvdpp"  # the rates of a model not in RATES: the dearest row solver's


def _param(model: Any, name: str, default: Any) -> Any:
    return getattr(getattr(model, "params", None), name, default)


def _factors(model: Any) -> int:
    return max(int(_param(model, "n_factors", 1) or 1), 1)


def _row_solves(model: Any, ratings: int, rows: int) -> float:
    d = _factors(model) + int(bool(_param(model, "biases", True)))
    if _param(model, "solver", "cholesky") == "cg":
        return int(_param(model, "cg_steps", 1)) * (ratings * d + rows * d * d)
    return ratings * d * d + rows * d**3


def _per_rating(model: Any, ratings: int, rows: int) -> float:
    return ratings * _factors(model)


def _with_bags(model: Any, ratings: int, rows: int) -> float:
    return (2 if _param(model, "item_implicit", False) else 1) * 2 * ratings * _factors(model)


def _in_batches(model: Any, ratings: int, rows: int) -> float:
    return float(-(-ratings // max(int(_param(model, "batch_size", ratings)), 1)))


def _dense(model: Any, ratings: int, rows: int) -> float:
    k = _factors(model)
    return ratings * k + rows * k * k


def _ratings_only(model: Any, ratings: int, rows: int) -> float:
    return float(ratings)


# How each registered model counts one epoch's work units (ratings, rows = users + items).
UNITS_PER_EPOCH: Mapping[str, Callable[[Any, int, int], float]] = MappingProxyType(
    {
        "als": _row_solves,
        "wals": _row_solves,
        "bpmf": _row_solves,
        "bsvdpp": _row_solves,
        "sgd": _per_rating,
        "bpr": _per_rating,
        "gd": _per_rating,
        "svdpp": _with_bags,
        "minibatch": _in_batches,
        "adam": _in_batches,
        "nmf": _dense,
        "svd": _dense,
        "baseline": _ratings_only,
        "popular": _ratings_only,
    }
)


def rate_key(model: Any) -> str:
    """Which measured rate applies: the model's name, with ``/cg`` for a conjugate-gradient solver."""
    name = str(getattr(model, "name", ""))
    return f"{name}/cg" if _param(model, "solver", "") == "cg" else name


def _shape(train: Any) -> tuple[int, int]:
    return max(int(train.n_ratings), 1), int(train.n_users) + int(train.n_items)


def units_per_epoch(model: Any, train: Any) -> float:
    """Work units of one epoch of ``model`` on ``train``; a model not listed counts as a row solver."""
    return UNITS_PER_EPOCH.get(str(getattr(model, "name", "")), _row_solves)(model, *_shape(train))


def overhead_per_epoch(model: Any, train: Any) -> float:
    """Ratings × (factors + 1): an epoch's losses, validation and per-rating overhead."""
    return _shape(train)[0] * (_factors(model) + 1)


def epochs(model: Any) -> int:
    return max(int(getattr(model, "n_epochs", 1) or 1), 1)


# A truncated SVD (SciPy's svds: Lanczos over about 2k vectors), once before the first epoch of ``svd`` and of
# ``nmf`` with its nndsvd start: R·k² + N·k³ units at this rate. Fitted to the re-probe's timings on the bundled
# set at 600 factors, the machine busy (svd 52 s, nmf 38 s, then priced at 10 s and 1 s: epochs alone).
SVD_START_RATE = 2.4e-11


def start_units(model: Any, train: Any) -> float:
    """Work units done once before the first epoch: the truncated SVD of ``svd`` and of nndsvd's ``nmf``."""
    name = str(getattr(model, "name", ""))
    if name == "svd" or (name == "nmf" and _param(model, "init", "") == "nndsvd"):
        ratings, rows, k = *_shape(train), _factors(model)
        return ratings * k * k + rows * k**3
    return 0.0


# Every model draws N × k starting factors once and passes over all of them each epoch (the losses' norms, a
# snapshot for the step size and the divergence check): seconds per row × factor. Nothing on the bundled set
# (10,000 rows), the whole fit on a wide upload: SGD at 1,000 factors on the probe's 80,000 rows took 5.2 s
# (4.5 s drawing the factors, 1.5 s an epoch of which 1 s over the factors, the machine busy), its ratings
# priced at 0.36 s. (On the bundled set the rates above already hold this per-epoch pass: a small overcount.)
ROW_START_RATE = 6e-8
ROW_EPOCH_RATE = 1.2e-8


def row_units(model: Any, train: Any) -> float:
    """Rows × factors: the factors every model draws once and passes over each epoch."""
    return float(_shape(train)[1] * _factors(model))


def seconds(model: Any, train: Any) -> float:
    """Estimated seconds to train ``model`` on ``train`` on this server (a model not measured is priced as
    the dearest row solver)."""
    per_unit, per_rating = RATES.get(rate_key(model), RATES[UNMEASURED])
    epoch = per_unit * units_per_epoch(model, train) + per_rating * overhead_per_epoch(model, train)
    epoch += ROW_EPOCH_RATE * row_units(model, train)
    start = SVD_START_RATE * start_units(model, train) + ROW_START_RATE * row_units(model, train)
    return epoch * epochs(model) + start


# Ranking's rates on this server (``ranking_seconds``): seconds per user × item × factor (the scores' product)
# and per user × item (the copy, the mask and the top-k partition), from `top_k_lists` timed on the probe's
# wide uploads with the machine busy: 26-35 ns a cell at 1 factor, 65-71 ns at 100 (40,000 and 200,000 items),
# 150 ns at 1,000; rounded up so that none took longer than its estimate.
RANK_PER_FACTOR = 2.0e-10
RANK_PER_ITEM = 5.0e-8


def ranking_seconds(model: Any, users: int, items: int) -> float:
    """Estimated seconds to rank ``items`` items for each of ``users`` users with ``model``'s factors."""
    return max(int(users), 0) * max(int(items), 0) * (RANK_PER_FACTOR * _factors(model) + RANK_PER_ITEM)
