"""Top-N ranking on MovieLens 100k u1: the `implicit` library's ALS, most popular and our models, in one run.

The top-N protocol of docs/protocols.md (``recengine.evaluation.metrics.ranking_report``): relevant = test ratings of 4 or more,
candidates = every item the user did not rate in training, metrics at 10 averaged over users with a
relevant test item, coverage = share of the catalogue in anyone's top 10.

Rows:
- most popular;
- implicit's ALS at the settings of docs/protocols.md (64 factors, reg 0.05, alpha 10, 15 iterations, binarized);
- our ``wals`` at the same settings; implicit's confidence is α·w and ours 1 + α·w, so a second row uses
  α = 9, the same confidence as implicit's α = 10;
- our ``bpr`` with its defaults;
- our best ranking configuration: ``wals`` with the settings that rank best on a validation holdout
  (a random 20% of u1.base, seed 0) over the grid ``GRID``; u1.test plays no part in choosing them.

Each model is fitted with seeds 0 to 9; implicit and our runs are interleaved so they share the machine's
load. Metrics are means over the ten seeds (P@10 also with the standard error of that mean: runs of one
algorithm differ by about ±0.004 from seed to seed, which is as large as the differences between implicit's
ALS and ours at the same settings); fit seconds are the median of the ten fits, and "× implicit" is that
median over implicit's (ten rather than three fits: the machine is shared and timings are noisy). BLAS is held to one thread, as implicit asks;
implicit and our kernels both use every core for their own loops. Compiled kernels are loaded before timing.

    ./dev bench ranking_ml100k             # or: /work/venv/bin/python benchmarks/ranking_ml100k.py
    ./dev bench ranking_ml100k --data PATH

Writes benchmarks/results/ranking_ml100k.md and prints it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recengine.data import load_train_test
from recengine.data.dataset import RatingsDataset
from recengine.evaluation.metrics import ranking_report
from recengine.evaluation.split import holdout_random
from recengine.models import make
from recengine.models.base import Recommender
from recengine.training import History

DATA = Path(
    os.environ.get("RECENGINE_ML100K", Path(__file__).resolve().parents[2] / "shared/datasets/ml-100k")
)
RESULTS = Path(__file__).resolve().parent / "results" / "ranking_ml100k.md"
SEEDS = tuple(range(10))
IMPLICIT = dict(factors=64, regularization=0.05, alpha=10.0, iterations=15)
SAME = dict(n_factors=64, reg=0.05, alpha=10.0, n_epochs=15, weighting="binary")
GRID = {"reg": [25.0, 50.0, 100.0, 200.0], "alpha": [2.0, 5.0, 10.0], "weighting": ["binary", "rating"]}
METRICS = ("precision@10", "recall@10", "ndcg@10", "coverage")


@dataclass
class Row:
    label: str
    reports: list[dict] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def mean(self, key: str) -> float:
        return float(np.mean([r[key] for r in self.reports]))

    def spread(self, key: str) -> float:
        """Standard error of the mean over seeds."""
        values = [r[key] for r in self.reports]
        return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0

    @property
    def fit_seconds(self) -> float:
        return float(np.median(self.seconds)) if self.seconds else 0.0


def timed_fit(fit: Callable[[], Recommender]) -> tuple[Recommender, float]:
    tick = time.perf_counter()
    model = fit()
    return model, time.perf_counter() - tick


def implicit_fit(train: RatingsDataset, seed: int) -> Recommender:
    """implicit's ALS on the binarized training matrix, wrapped as a fitted ranking model of ours."""
    from implicit.als import AlternatingLeastSquares

    matrix = sp.csr_matrix(
        (np.ones(train.n_ratings, dtype=np.float32), (train.user_codes, train.item_codes)),
        shape=(train.n_users, train.n_items),
    )
    als = AlternatingLeastSquares(**IMPLICIT, random_state=seed)
    als.fit(matrix, show_progress=False)
    wrapped = make("wals", **SAME)
    wrapped.set_state(
        {"user_factors_": als.user_factors, "item_factors_": als.item_factors, "global_mean_": 0.0}
    )
    wrapped.n_users_, wrapped.n_items_, wrapped.history_ = train.n_users, train.n_items, History()
    return wrapped


def select_best(train: RatingsDataset) -> tuple[dict, list[tuple[dict, float]]]:
    """The GRID setting of wals with the best P@10 on a random 20% of the training ratings."""
    fit_side, valid = holdout_random(train, 0.2, seed=0)
    scored = []
    for values in itertools.product(*GRID.values()):
        params = SAME | dict(zip(GRID, values, strict=True))
        report = ranking_report(make("wals", **params).fit(fit_side), fit_side, valid)
        scored.append((params, report["precision@10"]))
    return max(scored, key=lambda pair: pair[1])[0], scored


def run(root: Path) -> tuple[list[Row], dict, list[tuple[dict, float]]]:
    train, test = load_train_test(root / "u1.base", root / "u1.test")
    make("wals", n_epochs=1).fit(train)  # load compiled kernels before any timing
    make("bpr", n_epochs=1).fit(train)
    make("wals", n_epochs=1, solver="cholesky").fit(train)
    implicit_fit(train, 0)
    best, scored = select_best(train)
    popular = Row("most popular")
    popular.reports.append(ranking_report(make("popular").fit(train), train, test))
    popular.seconds.append(0.0)
    contenders: list[tuple[Row, Callable[[int], Recommender]]] = [
        (Row("implicit ALS (64 factors, reg 0.05, alpha 10, 15 iterations, binarized)"),
         lambda seed: implicit_fit(train, seed)),
        (Row("our wals, same settings (alpha 10: confidence 11)"),
         lambda seed: make("wals", **SAME, seed=seed).fit(train)),
        (Row("our wals, same confidence as implicit (alpha 9: confidence 10)"),
         lambda seed: make("wals", **(SAME | {"alpha": 9.0}), seed=seed).fit(train)),
        (Row("our bpr (its defaults: 64 factors, 40 epochs, lr 0.05, reg 0.02)"),
         lambda seed: make("bpr", seed=seed).fit(train)),
        (Row(f"our best: wals (64 factors, reg {best['reg']:g}, alpha {best['alpha']:g}, {best['weighting']} "
             "weights, 15 iterations), chosen on a validation holdout"),
         lambda seed: make("wals", **best, seed=seed).fit(train)),
    ]  # fmt: skip
    for seed in SEEDS:
        for row, fit in contenders:
            model, seconds = timed_fit(lambda fit=fit, seed=seed: fit(seed))
            row.seconds.append(seconds)
            row.reports.append(ranking_report(model, train, test))
    return [popular, *(row for row, _ in contenders)], best, scored


def markdown(rows: list[Row], best: dict, scored: list[tuple[dict, float]], load: tuple[float, float]) -> str:
    reference = rows[1].fit_seconds
    lines = [
        "# Top-N ranking: MovieLens 100k u1, top-N protocol of docs/protocols.md",
        "",
        f"Run {date.today()} on {platform.machine()}, {os.cpu_count()} cores (load average {load[0]:.1f} at "
        f"start, {load[1]:.1f} at end: other work shared the machine), Python {platform.python_version()}; "
        "`benchmarks/ranking_ml100k.py`. Metrics: mean over seeds 0 to 9 (P@10 ± the standard error of "
        "that mean); fit s: median of the ten fits; × implicit: that median over implicit's.",
        "",
        "| model | P@10 | R@10 | NDCG@10 | coverage | fit s | × implicit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        ratio = f"{row.fit_seconds / reference:.2f}" if row.fit_seconds else "–"
        lines.append(
            f"| {row.label} | {row.mean('precision@10'):.4f} ± {row.spread('precision@10'):.4f} | "
            f"{row.mean('recall@10'):.4f} | {row.mean('ndcg@10'):.4f} | {row.mean('coverage'):.3f} | "
            f"{row.fit_seconds:.3f} | {ratio} |"
        )
    lines += ["", "Per seed, P@10 and fit seconds:", ""]
    for row in rows[1:]:
        pairs = ", ".join(
            f"{r['precision@10']:.4f} / {s:.3f} s" for r, s in zip(row.reports, row.seconds, strict=True)
        )
        lines.append(f"- {row.label}: {pairs}")
    lines += [
        "",
        "Selection of the best configuration (P@10 on the validation holdout of u1.base, top five):",
        "",
    ]
    for params, score in sorted(scored, key=lambda pair: -pair[1])[:5]:
        lines.append(
            f"- reg {params['reg']:g}, alpha {params['alpha']:g}, {params['weighting']}: {score:.4f}"
        )
    lines += ["", f"Chosen: reg {best['reg']:g}, alpha {best['alpha']:g}, {best['weighting']} weights.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DATA, help="the ml-100k folder (u1.base, u1.test, u.item)"
    )
    args = parser.parse_args()
    start = os.getloadavg()[0]
    with threadpool_limits(1, "blas"):
        rows, best, scored = run(args.data)
    text = markdown(rows, best, scored, (start, os.getloadavg()[0]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
