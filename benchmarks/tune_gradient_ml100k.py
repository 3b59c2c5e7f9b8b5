"""Why the gradient models and svdpp have the defaults they have: validation RMSE of candidate settings.

The validation set is 10% of the ratings of each of u1.base, u2.base and u3.base (seed 0), the model trains
on the other 90%; the test files are never read. Each model's defaults are one of the candidates (marked).

    ./dev bench tune_gradient_ml100k          # or: /work/venv/bin/python benchmarks/tune_gradient_ml100k.py

Writes benchmarks/results/tune_gradient_ml100k.md and prints it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from recengine.data import load_train_test
from recengine.data.dataset import RatingsDataset
from recengine.models import MODELS, make

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
RESULTS = Path(__file__).resolve().parent / "results" / "tune_gradient_ml100k.md"

CANDIDATES: dict[str, list[dict]] = {
    "sgd": [
        dict(lr=0.005, reg=0.02, n_epochs=20),
        dict(lr=0.007, reg=0.05),
        dict(lr=0.01, reg=0.08),
        dict(lr=0.015, reg=0.1),
        dict(lr=0.015, reg=0.1, n_factors=50),
        dict(lr=0.015, reg=0.1, n_factors=200),
        dict(lr=0.015, reg=0.1, lr_decay=0.95, n_epochs=40),
        dict(lr=0.015, reg=0.12),
        dict(lr=0.015, reg=0.1, weighted_reg=False),
    ],
    "minibatch": [
        dict(batch_size=256),
        dict(batch_size=1024),
        dict(batch_size=4096),
        dict(batch_size=1024, lr=0.03),
    ],
    "gd": [
        dict(n_factors=20, reg=0.1, n_epochs=200),
        dict(n_factors=50, reg=0.1),
        dict(n_factors=50, reg=0.15),
        dict(n_factors=50, reg=0.2),
        dict(n_factors=50, reg=0.15, n_epochs=200),
        dict(n_factors=50, reg=0.15, lr=0.0005),
    ],
    "adam": [
        dict(lr=0.003, reg=0.1),
        dict(lr=0.01, reg=0.1),
        dict(lr=0.01, reg=0.12),
        dict(lr=0.01, reg=0.15),
        dict(lr=0.01, reg=0.12, n_factors=100),
    ],
    "svdpp": [
        dict(item_implicit=False, reg_power=1.0, reg=0.1, reg_implicit=1.0, n_epochs=30),
        dict(item_implicit=False, reg_power=0.5, reg=1.3, reg_implicit=3.0, n_epochs=30),
        dict(item_implicit=True, reg_power=0.5, reg=1.3, reg_implicit=3.0, n_epochs=30),
        dict(item_implicit=True, reg_power=0.5, reg=1.3, reg_implicit=3.0, n_epochs=12),
        dict(item_implicit=True, reg_power=0.5, reg=2.0, reg_implicit=3.0),
        dict(item_implicit=True, reg_power=0.5, reg=2.0, reg_implicit=3.0, n_factors=100),
        dict(item_implicit=True, reg_power=0.5, reg=2.0, reg_implicit=4.5, n_epochs=20),
    ],
}


def validation_splits(root: Path, folds: list[int]) -> list[tuple[RatingsDataset, RatingsDataset]]:
    """(90%, 10%) of each uN.base, the 10% drawn with seed 0."""
    out = []
    for fold in folds:
        base, _ = load_train_test(root / f"u{fold}.base", root / f"u{fold}.test")
        held = np.random.default_rng(0).random(base.n_ratings) < 0.1
        positions = np.arange(base.n_ratings)
        out.append((base.subset(positions[~held]), base.subset(positions[held])))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("RECENGINE_ML100K", DATA)))
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not (args.data / "u1.base").exists():
        print(f"MovieLens 100k is not at {args.data}: pass --data or set RECENGINE_ML100K.", file=sys.stderr)
        return 2
    splits = validation_splits(args.data, args.folds)
    sections = []
    for name, candidates in CANDIDATES.items():
        defaults = MODELS[name].Params().to_dict()
        lines = ["| settings (others at their defaults) | validation RMSE | fit s |", "| --- | --- | --- |"]
        for changes in candidates:
            params = make(name, **changes).params.to_dict()
            rmses, seconds = [], []
            for train, valid in splits:
                tick = time.perf_counter()
                model = make(name, **changes).fit(train)
                seconds.append(time.perf_counter() - tick)
                rmses.append(model.rmse(valid))
            shown = ", ".join(f"{k}={v}" for k, v in changes.items())
            mark = " **(defaults)**" if params == defaults else ""
            lines.append(f"| {shown}{mark} | {np.mean(rmses):.4f} | {np.median(seconds):.2f} |")
            print(f"{name}: {shown}: {np.mean(rmses):.4f}", file=sys.stderr, flush=True)
        sections.append(f"## {name}\n\n" + "\n".join(lines))
    report = "\n\n".join(
        [
            "# Validation RMSE of candidate defaults: MovieLens 100k",
            f"Mean over {', '.join(f'u{n}.base' for n in args.folds)} of the RMSE on 10% of each (seed 0) after "
            "training on the other 90%; the test files are not used. Written by "
            "`benchmarks/tune_gradient_ml100k.py`.",
            *sections,
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
