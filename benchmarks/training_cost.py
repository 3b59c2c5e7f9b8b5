"""Seconds per work unit of each model (dashboard/training_cost.py): short fits on the bundled set.

Each configuration trains a few epochs; the first epoch (kernel loading, first allocations) is left out and
the median of the others is its time per epoch; over several runs (``--repeat``, or earlier runs' files
given with ``--runs``), the fastest (other work on the machine only adds time). Per model, two rates (seconds per work unit, seconds per
rating × factor) are fitted to its configurations by non-negative least squares, then scaled up so that no
configuration took longer than its estimate. Run it on the class server itself (its speed is what the rates
are), under ``nice -n 10``:

    PYTHONPATH=$PWD nice -n 10 .venv/bin/python benchmarks/training_cost.py --out run.json
    PYTHONPATH=$PWD .venv/bin/python benchmarks/training_cost.py --repeat 0 --runs run1.json run2.json

It prints the `RATES` table for dashboard/training_cost.py.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from dashboard import training_cost
from recengine.data import load_bundled
from recengine.evaluation.split import holdout_random
from recengine.models import make

CONFIGS: list[tuple[str, dict, int]] = [  # (model, settings, epochs)
    ("baseline", {}, 5),
    ("popular", {}, 1),
    ("sgd", {"n_factors": 100}, 4),
    ("sgd", {"n_factors": 400}, 3),
    ("bpr", {"n_factors": 64}, 4),
    ("bpr", {"n_factors": 256}, 3),
    ("gd", {"n_factors": 50}, 5),
    ("gd", {"n_factors": 400}, 4),
    ("svdpp", {"n_factors": 50}, 4),
    ("svdpp", {"n_factors": 200}, 3),
    ("svdpp", {"n_factors": 50, "item_implicit": True}, 3),
    ("minibatch", {"n_factors": 100, "batch_size": 1024}, 3),
    ("minibatch", {"n_factors": 100, "batch_size": 64}, 3),
    ("minibatch", {"n_factors": 400, "batch_size": 4096}, 3),
    ("adam", {"n_factors": 50, "batch_size": 1024}, 3),
    ("adam", {"n_factors": 50, "batch_size": 64}, 3),
    ("adam", {"n_factors": 400, "batch_size": 4096}, 3),
    ("nmf", {"n_factors": 10}, 5),
    ("nmf", {"n_factors": 200}, 3),
    ("nmf", {"n_factors": 100, "mode": "zero_filled", "biases": False}, 3),
    ("svd", {}, 1),
    ("svd", {"n_factors": 50}, 1),
    ("svd", {"n_factors": 300}, 1),
    ("als", {"n_factors": 32}, 4),
    ("als", {"n_factors": 64}, 3),
    ("als", {"n_factors": 128}, 3),
    ("als", {"n_factors": 64, "solver": "cg"}, 4),
    ("als", {"n_factors": 400, "solver": "cg"}, 3),
    ("wals", {"n_factors": 64, "solver": "cholesky"}, 4),
    ("wals", {"n_factors": 160, "solver": "cholesky"}, 3),
    ("wals", {"n_factors": 64}, 4),
    ("wals", {"n_factors": 400}, 3),
    ("bpmf", {}, 5),
    ("bpmf", {"n_factors": 32}, 4),
    ("bpmf", {"n_factors": 64}, 3),
    ("bpmf", {"n_factors": 128}, 3),
    ("bpmf", {"n_factors": 256}, 1),
    ("bsvdpp", {}, 5),
    ("bsvdpp", {"n_factors": 32}, 4),
    ("bsvdpp", {"n_factors": 64}, 3),
    ("bsvdpp", {"n_factors": 128}, 2),
]


def epoch_seconds(name: str, settings: dict, epochs: int, train, valid) -> list[float]:
    """Wall seconds of each epoch after the first (the whole fit, for a model without epochs)."""
    has_epochs = "n_epochs" in make(name).get_params()
    model = make(name, **settings, **({"n_epochs": epochs + 1} if has_epochs else {}))
    if not has_epochs:
        model.fit(train, valid)  # once to load everything, then timed
        started = time.perf_counter()
        model.fit(train, valid)
        return [time.perf_counter() - started]
    marks: list[float] = []
    model.fit(train, valid, callbacks=[lambda record, fitted: marks.append(time.perf_counter()) and False])
    return [later - earlier for earlier, later in itertools.pairwise(marks)]


def fitted_rates(rows: list[dict]) -> dict[str, tuple[float, float]]:
    """Per model: (per unit, per rating × factor) by non-negative least squares on relative errors, scaled
    so that every measured epoch is within its estimate."""
    rates = {}
    for key in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == key]
        features = np.array([[row["units"], row["overhead"]] for row in mine])
        times = np.array([row["seconds_per_epoch"] for row in mine])
        (per_unit, per_rating), _ = nnls(features / times[:, None], np.ones(len(mine)))
        worst = max(times / (features @ [per_unit, per_rating]))
        rates[key] = (float(f"{per_unit * worst:.3g}"), float(f"{per_rating * worst:.3g}"))
    return rates


def measure(train, valid, only: set[str]) -> list[dict]:
    rows = []
    for name, settings, epochs in CONFIGS:
        if only and name not in only:
            continue
        model = make(name, **settings)
        median = statistics.median(epoch_seconds(name, settings, epochs, train, valid))
        rows.append(
            {"model": training_cost.rate_key(model), "settings": settings, "seconds_per_epoch": median}
        )
        print(
            f"{training_cost.rate_key(model):10} {json.dumps(settings):55} {median:8.3f} s/epoch", flush=True
        )
    return rows


def fastest(runs: list[list[dict]], train) -> list[dict]:
    """Each configuration's fastest time over the runs, with its work units and rating × factors."""
    best: dict[tuple[str, str], float] = {}
    for run in runs:
        for row in run:
            key = (row["model"], json.dumps(row["settings"], sort_keys=True))
            best[key] = min(best.get(key, float("inf")), row["seconds_per_epoch"])
    rows = []
    for (key, settings), seconds in best.items():
        model = make(key.split("/")[0], **json.loads(settings))
        rows.append({"model": key, "settings": json.loads(settings), "seconds_per_epoch": seconds,
                     "units": training_cost.units_per_epoch(model, train),
                     "overhead": training_cost.overhead_per_epoch(model, train)})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the measured times here (JSON)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure every configuration this many times (0: fit only)"
    )
    parser.add_argument("--runs", type=Path, nargs="*", default=[], help="fit these earlier runs too")
    parser.add_argument("--only", default="", help="measure only these models (comma-separated)")
    args = parser.parse_args()
    train, valid = holdout_random(load_bundled(), test_size=0.2, seed=0)
    runs = [json.loads(path.read_text())["configs"] for path in args.runs]
    if args.repeat:
        measured = [
            measure(train, valid, set(filter(None, args.only.split(",")))) for _ in range(args.repeat)
        ]
        runs += measured
        if args.out:
            args.out.write_text(
                json.dumps({"configs": [row for run in measured for row in run]}, indent=1) + "\n"
            )
    rates = fitted_rates(fastest(runs, train))
    print("RATES = {\n" + "".join(f'    "{key}": {rate},\n' for key, rate in rates.items()) + "}")


if __name__ == "__main__":
    main()
