"""Bayesian SVD++ (`bsvdpp`): every setting chosen on a validation split of the training ratings (issue 24).

For each fold named (u1 by default) a random share (`VALID_SHARE`) of ``uN.base`` is held out as the validation
set; the model learns from the rest, whose who-rated-what alone makes the bags (strict protocol), and
``uN.test`` is never read. Each setting runs with several seeds for `MAX_SWEEPS` sweeps; a callback keeps every
sweep's sampled predictions of the validation ratings, so one fit gives the validation RMSE of the average
over sweeps b+1..T for every burn-in b and number of sweeps T. The settings are the model's switches (side
information, the link, the rank); the table gives the mean over seeds, `bsvdpp`'s defaults are read off it
(its `BURN_IN_SWEEPS` comment says how) and `benchmarks/rating_ml100k.py` then reports them on the test sets.

    PYTHONPATH=$PWD python benchmarks/bsvdpp_validation.py [--folds 1] [--seeds 0 1 2]

Writes benchmarks/results/bsvdpp_validation.md and prints it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from recengine.data import load_train_test
from recengine.evaluation.split import holdout_random
from recengine.models import make

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
RESULTS = Path(__file__).resolve().parent / "results" / "bsvdpp_validation.md"
VALID_SHARE, VALID_SEED = 0.2, 0  # the validation split: 20 % of uN.base at random (uN.test is 20 % of all)
MAX_SWEEPS = 300
BURN_INS = (0, 2, 4, 10, 20, 50)
SWEEPS = (50, 100, 200, 300)

# (label, parameters): the switches compared, each against the defaults of the rank-10 model.
SETTINGS = [
    ("gaussian, side information (10 factors)", dict(link="gaussian")),
    ("gaussian, ids + bags only", dict(link="gaussian", side_information=False)),
    ("ordered probit, side information", dict(link="ordered_probit")),
    ("ordered probit, ids + bags only", dict(link="ordered_probit", side_information=False)),
    ("ordered probit, side information, 20 factors", dict(link="ordered_probit", n_factors=20)),
]


def sampled_predictions(train, valid, params: dict, seed: int) -> tuple[np.ndarray, float, float]:
    """Every sweep's sampled predictions of ``valid`` (sweeps × ratings), and the fit's wall and CPU seconds."""
    users, items = valid.user_codes.astype(np.int64), valid.item_codes.astype(np.int64)
    kept: list[np.ndarray] = []

    def keep(record, model) -> None:
        kept.append(model._sample_predictions(users, items))

    model = make("bsvdpp", **(params | {"n_epochs": MAX_SWEEPS, "seed": seed}))
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(train, callbacks=[keep])
    return np.array(kept), time.perf_counter() - wall, time.process_time() - cpu


def averaged_rmse(predictions: np.ndarray, valid, burn_in: int, sweeps: int) -> float:
    """Validation RMSE of the clipped average of the sampled predictions of sweeps burn_in+1..sweeps (NaN when
    no sweep is left)."""
    if burn_in >= sweeps:
        return float("nan")
    average = valid.scale.clip(predictions[burn_in:sweeps].mean(axis=0))
    return float(np.sqrt(np.mean((valid.ratings - average) ** 2)))


def run(folds: list[int], seeds: list[int], data: Path) -> tuple[dict, dict]:
    """RMSE grids (setting → seeds × burn-ins × sweeps, every fold pooled) and CPU seconds per 200 sweeps."""
    grids: dict[str, list[np.ndarray]] = {label: [] for label, _ in SETTINGS}
    cpu: dict[str, list[float]] = {label: [] for label, _ in SETTINGS}
    make("bsvdpp", n_epochs=2).fit(holdout_random(load_train_test(data / "u1.base", data / "u1.test")[0])[0])
    for fold in folds:
        base, _ = load_train_test(data / f"u{fold}.base", data / f"u{fold}.test")  # the test set is unused
        train, valid = holdout_random(base, VALID_SHARE, seed=VALID_SEED)
        for label, params in SETTINGS:
            for seed in seeds:
                predictions, _, seconds = sampled_predictions(train, valid, params, seed)
                grid = [[averaged_rmse(predictions, valid, b, t) for t in SWEEPS] for b in BURN_INS]
                grids[label].append(np.array(grid))
                cpu[label].append(seconds * 200 / MAX_SWEEPS)
                print(f"u{fold} {label} seed {seed}: {grid[BURN_INS.index(4)]}", file=sys.stderr, flush=True)
    return {label: np.array(g) for label, g in grids.items()}, cpu


def report(grids: dict, cpu: dict, folds: list[int], seeds: list[int]) -> str:
    header = "| setting | burn-in | " + " | ".join(f"{t} sweeps" for t in SWEEPS) + " |"
    lines = [header, "| --- | --- |" + " --- |" * len(SWEEPS)]
    best = None
    for label, grid in grids.items():
        mean = grid.mean(axis=0)
        for b_index, burn_in in enumerate(BURN_INS):
            cells = " | ".join(f"{value:.4f}" if np.isfinite(value) else "" for value in mean[b_index])
            lines.append(f"| {label} | {burn_in} | {cells} |")
            for t_index, sweeps in enumerate(SWEEPS):
                if best is None or mean[b_index, t_index] < best[0]:
                    best = (mean[b_index, t_index], label, burn_in, sweeps)
    seconds = [
        f"- {label}: {np.median(values):.1f} s of CPU per 200 sweeps (median)"
        for label, values in cpu.items()
    ]
    spread = {
        label: grid[:, BURN_INS.index(4), SWEEPS.index(200)].std(ddof=1) if len(grid) > 1 else float("nan")
        for label, grid in grids.items()
    }
    return "\n\n".join(
        [
            "# Bayesian SVD++: settings chosen on validation (issue 24)",
            f"Run of `benchmarks/bsvdpp_validation.py` on {date.today().isoformat()}, load average "
            f"{os.getloadavg()[0]:.1f}. Folds {', '.join(f'u{n}' for n in folds)}: from each `uN.base`, "
            f"{VALID_SHARE:.0%} of the ratings at random (seed {VALID_SEED}) form the validation set, the model "
            "learns from the rest and its bags and side information come from the rest alone; `uN.test` is "
            f"never read. Seeds {', '.join(map(str, seeds))}; each cell is the mean over folds and seeds of the "
            "validation RMSE of the clipped average of the sampled predictions of sweeps burn-in+1..T. "
            f"Seed-to-seed standard deviation at burn-in 4, 200 sweeps: "
            + ", ".join(f"{label} {value:.4f}" for label, value in spread.items())
            + ".",
            "\n".join(lines),
            f"Best cell: {best[1]}, burn-in {best[2]}, {best[3]} sweeps: {best[0]:.4f}.",
            "## CPU time\n\n" + "\n".join(seconds),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("RECENGINE_ML100K", DATA)))
    parser.add_argument("--folds", type=int, nargs="+", default=[1])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not (args.data / "u1.base").exists():
        print(f"MovieLens 100k is not at {args.data}: pass --data or set RECENGINE_ML100K.", file=sys.stderr)
        return 2
    grids, cpu = run(args.folds, args.seeds, args.data)
    text = report(grids, cpu, args.folds, args.seeds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
