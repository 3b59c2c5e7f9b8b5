"""Rating prediction on MovieLens 100k, canonical splits u1..u5: Surprise and our models side by side, in one run.

Every rating model in ``recengine.models.MODELS`` runs with its defaults (the dashboard's), plus the named
configurations below; Surprise runs BaselineOnly, SVD, NMF and SVD++ with their defaults. Our Bayesian SVD++
(``bsvdpp``) runs against myFM at the same rank, sweeps and features (issue 24; myFM is an optional
dependency, ``pip install myfm``, in the ``bench`` extra: without it its rows are left out). Only ``fit`` is timed; the table gives mean RMSE and MAE over the folds, the median fit seconds per
fold, and that time as a multiple of Surprise SVD's. Compiled kernels are loaded before timing; their cold
compile and cached load times are measured in fresh processes and reported under the table.

    ./dev bench rating_ml100k                       # or: /work/venv/bin/python benchmarks/rating_ml100k.py
    ./dev bench rating_ml100k --data PATH --folds 1 2

Writes benchmarks/results/rating_ml100k.md and prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np

from recengine.data import load_train_test
from recengine.data.synthetic import planted_low_rank
from recengine.models import MODELS, make
from recengine.models.bsvdpp import BURN_IN_SWEEPS, attribute_bags

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
RESULTS = Path(__file__).resolve().parent / "results" / "rating_ml100k.md"
QUICK_SECONDS = 1.0  # fits quicker than this are timed --repeats times per fold (median kept)
SURPRISE_SVD = "Surprise SVD (defaults: 100 factors, 20 epochs, lr 0.005, reg 0.02)"
SURPRISE_SVDPP = "Surprise SVD++ (defaults: 20 factors, 20 epochs)"

# Named configurations: (label, model name, parameters).
NAMED = [
    (
        "sgd with Surprise SVD's defaults (100 factors, 20 epochs, lr 0.005, reg 0.02, biases)",
        "sgd",
        dict(n_factors=100, n_epochs=20, lr=0.005, reg=0.02, biases=True),
    ),
    (
        "als tuned (32 factors, 8 epochs, weighted λ 0.13, biases)",
        "als",
        dict(n_factors=32, n_epochs=8, reg=0.13),
    ),
    (
        "svdpp one-sided, as Koren 2008 (50 factors, 30 epochs, λ 1.3·√n, λ_y 3·√n)",
        "svdpp",
        dict(item_implicit=False, n_epochs=30, reg=1.3, reg_implicit=3.0),
    ),
]


@dataclass
class Row:
    label: str
    rmse: list[float] = field(default_factory=list)
    mae: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    folds: list[int] = field(default_factory=list)


def errors(predicted: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    residual = np.asarray(predicted, dtype=np.float64) - np.asarray(actual, dtype=np.float64)
    return float(np.sqrt(np.mean(residual**2))), float(np.mean(np.abs(residual)))


# --- Surprise -------------------------------------------------------------------------------------------


def surprise_folds(root: Path, folds: list[int]) -> list:
    from surprise import Dataset, Reader
    from surprise.model_selection import PredefinedKFold

    reader = Reader(line_format="user item rating timestamp", sep="\t")
    pairs = [(str(root / f"u{n}.base"), str(root / f"u{n}.test")) for n in folds]
    return list(PredefinedKFold().split(Dataset.load_from_folds(pairs, reader=reader)))


def surprise_algorithms() -> list[tuple[str, Callable[[], object], bool]]:
    """(label, factory, every fold?) for the Surprise rows; seeded where Surprise takes a seed."""
    from surprise import NMF, SVD, BaselineOnly, SVDpp

    return [
        ("Surprise BaselineOnly (defaults)", lambda: BaselineOnly(verbose=False), True),
        (SURPRISE_SVD, lambda: SVD(random_state=0), True),
        ("Surprise NMF (defaults)", lambda: NMF(random_state=0), True),
        (SURPRISE_SVDPP, lambda: SVDpp(random_state=0), True),
    ]


Scorer = Callable[[], tuple[float, float]]


def fit_surprise(factory: Callable[[], object], trainset, testset) -> tuple[float, Scorer]:
    """Seconds to fit, and a function giving (RMSE, MAE) on the test set."""
    algorithm = factory()
    tick = time.perf_counter()
    algorithm.fit(trainset)
    seconds = time.perf_counter() - tick

    def score() -> tuple[float, float]:
        predictions = algorithm.test(testset)
        return errors([p.est for p in predictions], [p.r_ui for p in predictions])

    return seconds, score


# --- Bayesian SVD++ and myFM (issue 24) ------------------------------------------------------------------

_DEFAULTS = MODELS["bsvdpp"].Params()  # chosen on validation: benchmarks/bsvdpp_validation.py
RANK, SWEEPS, SEED = _DEFAULTS.n_factors, _DEFAULTS.n_epochs, 0  # myFM runs at the same rank, sweeps and seed
LINK = "ordered_probit"  # what bsvdpp's default link ("auto") takes for MovieLens' 1-5 stars; myFM's too
OTHER_LINK = "gaussian" if LINK == "ordered_probit" else "ordered_probit"
NAMES = {"gaussian": "Gaussian link", "ordered_probit": "ordered probit"}
MYFM_SIDE = f"myFM 0.4, same features (ids, bags, side information) and link ({NAMES[LINK]}), rank {RANK}, {SWEEPS} sweeps"
MYFM_OTHER = f"myFM 0.4, same features (ids, bags, side information), {NAMES[OTHER_LINK]}"
MYFM_PLAIN = f"myFM 0.4, ids + bags, {NAMES[LINK]}, rank {RANK}, {SWEEPS} sweeps (first fold only)"
BSVDPP = f"bsvdpp (defaults: {RANK} factors, {SWEEPS} sweeps, {NAMES[LINK]}, ids, bags, side information)"
BSVDPP_MEANS = f"{BSVDPP}: the saved model (posterior-mean vectors)"
BSVDPP_OTHER = f"bsvdpp with the {NAMES[OTHER_LINK]} (ids, bags, side information)"
BSVDPP_PLAIN = "bsvdpp ids + bags (side_information off)"
SHORT = 50
BSVDPP_SHORT = f"bsvdpp at {SHORT} sweeps (ids, bags, side information)"
BAYESIAN_ROWS = (
    BSVDPP,
    BSVDPP_MEANS,
    BSVDPP_OTHER,
    BSVDPP_PLAIN,
    BSVDPP_SHORT,
    MYFM_SIDE,
    MYFM_OTHER,
    MYFM_PLAIN,
)
CPU_SECONDS: dict[str, list[float]] = {}  # CPU seconds of each fit of the issue-24 rows, by label


def side_block(rows: np.ndarray, partners: np.ndarray, n_rows: int, n_partners: int, attributes):
    """The relation block of one side, from the training ratings only: row r is [one-hot r | its bag of
    partners, each |N(r)|^−½ | its attributes, when given] (users: the films they rated; films: the users
    who rated them), the features `bsvdpp` sees."""
    import scipy.sparse as sps

    counts = np.bincount(rows, minlength=n_rows)
    scale = 1 / np.sqrt(np.maximum(counts[rows], 1))
    bag = sps.csr_matrix((scale, (rows, partners)), shape=(n_rows, n_partners))
    blocks = [sps.identity(n_rows, format="csr"), bag] + ([attributes] if attributes is not None else [])
    return sps.hstack(blocks, format="csr")


def fit_myfm(label: str, side_information: bool, link: str, train, test) -> tuple[float, Scorer]:
    """myFM's Bayesian FM (Gibbs) over user, film, the user's bag and the film's bag (and the attribute bags
    `bsvdpp` uses), in its relation-block form (its fast path), bags from the training ratings only; a prior
    per group of columns, as `bsvdpp`; its regressor, or its ordered probit (classes: the rating values in
    order). Seconds to fit, and a function giving (RMSE, MAE) on the test set: the average of its kept
    samples' predictions (all but the first 5 sweeps; the ordered probit's: the expected rating under the
    averaged class probabilities), clipped to the scale."""
    import myfm
    import scipy.sparse as sps

    attributes = attribute_bags(train) if side_information else {}
    users, items = train.user_codes.astype(np.int64), train.item_codes.astype(np.int64)
    user_block = side_block(users, items, train.n_users, train.n_items, attributes.get("user"))
    item_block = side_block(items, users, train.n_items, train.n_users, attributes.get("item"))
    groups = [train.n_users, train.n_items] + [attributes[s].shape[1] for s in ("user",) if s in attributes]
    groups += [train.n_items, train.n_users] + [attributes[s].shape[1] for s in ("item",) if s in attributes]

    def blocks(data) -> list:
        return [
            myfm.RelationBlock(data.user_codes.astype(np.int64), user_block),
            myfm.RelationBlock(data.item_codes.astype(np.int64), item_block),
        ]

    ordinal = link == "ordered_probit"
    levels, classes = np.unique(train.ratings, return_inverse=True)
    model = (myfm.MyFMOrderedProbit if ordinal else myfm.MyFMRegressor)(rank=RANK, random_seed=SEED)
    tick, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stderr(io.StringIO()):  # its progress bar
        model.fit(
            sps.csr_matrix((train.n_ratings, 0)), classes if ordinal else train.ratings.astype(np.float64),
            X_rel=blocks(train), n_iter=SWEEPS, group_shapes=groups,
        )  # fmt: skip
    seconds = time.perf_counter() - tick
    CPU_SECONDS.setdefault(label, []).append(time.process_time() - cpu)

    def score() -> tuple[float, float]:
        empty = sps.csr_matrix((test.n_ratings, 0))
        if ordinal:
            predicted = model.predict_proba(empty, blocks(test)) @ levels
        else:
            predicted = model.predict(empty, blocks(test))
        return errors(train.scale.clip(predicted), test.ratings)

    return seconds, score


def fit_bayesian(label: str, params: dict, train, test, means: Row | None, fold: int) -> tuple[float, Scorer]:
    """`bsvdpp` fitted with the test set as its validation set, which it only predicts (the draws never see
    it: tests/test_bsvdpp.py checks a fit learns the same numbers with and without it). (RMSE, MAE) of the
    average of the sampled predictions, as myFM's; the saved model's own figures go to ``means``."""
    model = make("bsvdpp", **({"n_factors": RANK, "n_epochs": SWEEPS, "seed": SEED} | params))
    tick, cpu = time.perf_counter(), time.process_time()
    model.fit(train, valid=test)
    seconds = time.perf_counter() - tick
    CPU_SECONDS.setdefault(label, []).append(time.process_time() - cpu)

    def score() -> tuple[float, float]:
        if means is not None:
            rmse, mae = errors(model.predict(test.user_codes, test.item_codes), test.ratings)
            means.rmse.append(rmse)
            means.mae.append(mae)
            means.seconds.append(seconds)
            means.folds.append(fold)
        last = model.history_[-1]
        return last.valid_rmse, last.extra["valid_mae"]

    return seconds, score


def bayesian_jobs(rows: dict[str, Row], train, test, fold: int, first: bool) -> list:
    """The issue-24 rows of one fold (``means`` rows are filled by their fits, not run as jobs)."""
    plain, short, other = {"side_information": False}, {"n_epochs": SHORT}, {"link": OTHER_LINK}
    jobs = [
        (rows[BSVDPP], partial(fit_bayesian, BSVDPP, {}, train, test, rows[BSVDPP_MEANS], fold)),
        (rows[BSVDPP_OTHER], partial(fit_bayesian, BSVDPP_OTHER, other, train, test, None, fold)),
        (rows[BSVDPP_PLAIN], partial(fit_bayesian, BSVDPP_PLAIN, plain, train, test, None, fold)),
        (rows[BSVDPP_SHORT], partial(fit_bayesian, BSVDPP_SHORT, short, train, test, None, fold)),
    ]
    if importlib.util.find_spec("myfm") is not None:
        jobs.append((rows[MYFM_SIDE], partial(fit_myfm, MYFM_SIDE, True, LINK, train, test)))
        jobs.append((rows[MYFM_OTHER], partial(fit_myfm, MYFM_OTHER, True, OTHER_LINK, train, test)))
        if first:
            jobs.append((rows[MYFM_PLAIN], partial(fit_myfm, MYFM_PLAIN, False, LINK, train, test)))
    return jobs


BAYESIAN_NOTES = (
    "How the settings were chosen: on validation only (`benchmarks/bsvdpp_validation.py`, "
    "`results/bsvdpp_validation.md`): 20 % of `u1.base` held out at random, the model trained on the rest "
    "with bags and side information from the rest alone, seeds 0-2; `uN.test` was not read for any "
    "choice. There the ordered probit beat the Gaussian link, side information beat ids and bags alone, "
    "and the burn-in and number of sweeps were read off the same grid; rank 20 gained 0.0015 there at 2.2 "
    "times the CPU: left for a later round, the rank stays at the issue's 10 (myFM's). The u1 test "
    "figures below are therefore untouched by this round of choices (an earlier round, in the first rerun "
    "of this benchmark, had picked the Gaussian link's burn-in and side information on u1's test set; "
    "that is what this round replaced; while the ordered probit was being written, one 50-sweep fit of it "
    "was scored on u1's test set as a smoke test, 0.8846 against the Gaussian link's 0.8863: no setting "
    "was taken from it). Why the time ratio is what it is: bsvdpp draws each vector whole from its "
    "d-dimensional conditional, which costs d² per rating and per bag entry where myFM's "
    "one-coordinate-at-a-time draws cost d; its ordered probit (latent draws, a one-cut Metropolis step, "
    "expected ratings) adds about half to its CPU time, less than myFM's probit adds to myFM's (the two "
    "links' rows)."
)

# Published figures on u1 and whether their inputs used the test set's who-rated-what (implicit information).
PUBLISHED = [
    ("GLocal-K (Han et al., CIKM 2021), kernelised autoencoder", "0.8889",
     "No: a user-item matrix of the training ratings only; no side information"),
    ("IGMC (Zhang and Chen, ICLR 2020)", "0.905",
     "No: subgraphs of the training ratings; no side information"),
    ("GC-MC (van den Berg et al., 2017)", "0.910", "No: the training ratings' graph (0.905 with side features)"),
    ("myFM docs: Bayesian timeSVD++ flipped from the ids, rank 10", "about 0.889",
     "Yes: its bags are built from train and test ratings together"),
    ("myFM's example: + side information and an ordered-probit link", "0.8808",
     "Yes: its bags hold the test set's who-rated-what"),
]  # fmt: skip


def bayesian_report(rows: dict[str, Row]) -> str:
    """The issue-24 section: our Bayesian model against myFM in the same run (each row's times against myFM's
    with the same link), the published figures with their protocols, and the targets."""
    lines = [
        "| model | features | link | RMSE u1 | RMSE mean | MAE mean | fit s/fold (median) | × myFM time (same "
        "link) | CPU s/fold (median) | × myFM CPU | folds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label in (*BAYESIAN_ROWS, "svdpp (defaults)", "bpmf (defaults)", SURPRISE_SVDPP):
        row = rows.get(label)
        if row is None or not row.rmse:
            continue
        by_fold = dict(zip(row.folds, row.rmse, strict=True))
        seconds = float(np.median(row.seconds))
        other = label in (BSVDPP_OTHER, MYFM_OTHER)
        link = (
            NAMES[OTHER_LINK if other else LINK] if label.startswith(("bsvdpp", "myFM")) else "squared error"
        )
        base = rows.get(MYFM_OTHER if other else MYFM_SIDE)
        reference = float(np.median(base.seconds)) if base is not None and base.seconds else None
        cpu_reference = CPU_SECONDS.get(MYFM_OTHER if other else MYFM_SIDE)
        cpu_reference = float(np.median(cpu_reference)) if cpu_reference else None
        ratio = f"{seconds / reference:.2f}" if reference else ""
        cpu_of = CPU_SECONDS.get(label.split(": the saved model")[0])
        cpu = f"{np.median(cpu_of):.1f}" if cpu_of else ""
        cpu_ratio = f"{np.median(cpu_of) / cpu_reference:.2f}" if cpu_of and cpu_reference else ""
        features = "ids, bags" + (", side information" if "side information" in label else "")
        if label.startswith(("svdpp", "Surprise")):
            features = "ids, the user's bag" + (" and the film's" if label.startswith("svdpp") else "")
        if label.startswith("bpmf"):
            features = "ids"
        lines.append(
            f"| {label} | {features} | {link} | {by_fold.get(1, float('nan')):.4f} | {np.mean(row.rmse):.4f} | "
            f"{np.mean(row.mae):.4f} | {seconds:.1f} | {ratio} | {cpu} | {cpu_ratio} | "
            f"{','.join(f'u{n}' for n in row.folds)} |"
        )
    published = [
        "| published on u1 | RMSE | used the test set's implicit information? |",
        "| --- | --- | --- |",
    ]
    published += [f"| {name} | {rmse} | {used} |" for name, rmse, used in PUBLISHED]
    return "\n".join(lines) + "\n\n" + "\n".join(published) + "\n\n" + "\n".join(bayesian_targets(rows))


def bayesian_targets(rows: dict[str, Row]) -> list[str]:
    """Issue 24's targets, checked against this run."""
    ours = rows.get(BSVDPP)
    if ours is None or 1 not in ours.folds:
        return []
    u1 = dict(zip(ours.folds, ours.rmse, strict=True))[1]
    out = [f"- {'met' if u1 <= 0.885 else '**not met**'}: u1 test RMSE {u1:.4f} ≤ 0.885 (strict protocol)"]
    if len(ours.folds) == 5:
        mean = float(np.mean(ours.rmse))
        out.append(f"- {'met' if mean <= 0.880 else '**not met**'}: u1..u5 mean {mean:.4f} ≤ 0.880")
    u1_seconds = ours.seconds[ours.folds.index(1)]
    out.append(f"- {'met' if u1_seconds <= 60 else '**not met**'}: u1 fit {u1_seconds:.1f} s ≤ 60 s")
    myfm_row = rows.get(MYFM_SIDE)
    if myfm_row is not None and myfm_row.seconds:
        ratio = float(np.median(ours.seconds)) / float(np.median(myfm_row.seconds))
        cpu = float(np.median(CPU_SECONDS[BSVDPP])) / float(np.median(CPU_SECONDS[MYFM_SIDE]))
        out.append(
            f"- {'met' if ratio <= 0.5 else '**not met**'}: fit time {ratio:.2f}× myFM's at the same rank, "
            f"sweeps and features (≤ 0.5×); in CPU seconds {cpu:.2f}×"
        )
    return out


# --- ours -----------------------------------------------------------------------------------------------


def our_configurations() -> list[tuple[str, str, dict]]:
    """Every rating model with its defaults, then the named configurations of models that exist."""
    defaults = [
        (f"{name} (defaults)", name, {})
        for name, cls in MODELS.items()
        if cls.kind == "rating" and name != "bsvdpp"  # bsvdpp: its own rows, against myFM (`bayesian_jobs`)
    ]
    return defaults + [(label, name, params) for label, name, params in NAMED if name in MODELS]


def load_kernels(configurations: list[tuple[str, str, dict]]) -> dict[str, float]:
    """Fit each configuration for one epoch on a small planted set, so no timed fit compiles or loads code."""
    data, _ = planted_low_rank(n_users=40, n_items=30, rank=2, density=0.5, seed=0, biases=True)
    seconds = {}
    for _, name, params in configurations:
        if name in seconds:
            continue
        short = params | (
            {"n_epochs": 1} if "n_epochs" in {s.name for s in MODELS[name].Params.specs()} else {}
        )
        for dtype in ("float64", "float32"):
            tick = time.perf_counter()
            make(name, **(short | {"dtype": dtype})).fit(data).predict(data.user_codes, data.item_codes)
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - tick
    return seconds


def fit_ours(name: str, params: dict, train, test) -> tuple[float, Scorer]:
    """Seconds to fit, and a function giving (RMSE, MAE) on the test set."""
    model = make(name, **params)
    tick = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - tick
    return seconds, lambda: errors(model.predict(test.user_codes, test.item_codes), test.ratings)


def run_fold(jobs: list[tuple[Row, Callable[[], tuple[float, Scorer]]]], fold: int, repeats: int) -> None:
    """Every job once (scored), then ``repeats − 1`` more timed rounds of the quick ones, interleaved so that
    all rows see the same load; each row keeps the fold's median time."""
    timings: dict[str, list[float]] = {row.label: [] for row, _ in jobs}
    for round_ in range(repeats):
        for row, fit in jobs:
            if round_ and timings[row.label][0] > QUICK_SECONDS:
                continue
            seconds, score = fit()
            timings[row.label].append(seconds)
            if not round_:
                rmse, mae = score()
                row.rmse.append(rmse)
                row.mae.append(mae)
                row.folds.append(fold)
    for row, _ in jobs:
        row.seconds.append(float(np.median(timings[row.label])))


def compile_times() -> dict[str, tuple[float, float]]:
    """Seconds to make kernels ready (float64 and float32) in a fresh process, with an empty numba cache
    (cold compile) and then with the cache that left (cached load). The shared prediction kernels go first
    and carry numba's own start-up."""
    code = (
        "import recengine.models.kernels.jit as shared, recengine.models.sgd as sgd, recengine.models.svdpp as svdpp\n"
        "print(shared.warm_up(), sgd.warm_up(), svdpp.warm_up())\n"
    )
    names = ("shared prediction and metric kernels, with numba's start-up", "sgd kernel", "svdpp kernel")
    seconds = {}
    with tempfile.TemporaryDirectory() as cache:
        env = os.environ | {"NUMBA_CACHE_DIR": cache}
        for state in ("cold", "cached"):
            result = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            )
            seconds[state] = [float(x) for x in result.stdout.split()]
    return {name: (seconds["cold"][n], seconds["cached"][n]) for n, name in enumerate(names)}


# --- report ---------------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    reference = next((r for r in rows if r.label == SURPRISE_SVD and r.seconds), None)
    base = float(np.median(reference.seconds)) if reference else None
    lines = [
        "| model | RMSE | MAE | fit s/fold (median) | × Surprise SVD time | folds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        seconds = float(np.median(row.seconds))
        ratio = f"{seconds / base:.2f}" if base else ""
        folds = ",".join(f"u{n}" for n in row.folds)
        lines.append(
            f"| {row.label} | {np.mean(row.rmse):.4f} | {np.mean(row.mae):.4f} | {seconds:.3f} | {ratio} | {folds} |"
        )
    return "\n".join(lines)


def fold_table(rows: list[Row], folds: list[int]) -> str:
    lines = ["| model | " + " | ".join(f"u{n}" for n in folds) + " |", "| --- |" + " --- |" * len(folds)]
    for row in rows:
        by_fold = dict(zip(row.folds, row.rmse, strict=True))
        cells = [f"{by_fold[n]:.4f}" if n in by_fold else "" for n in folds]
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(rows: dict[str, Row]) -> list[str]:
    """The issue's targets, checked against this run."""

    def mean(label: str) -> float:
        return float(np.mean(rows[label].rmse))

    def seconds(label: str) -> float:
        return float(np.median(rows[label].seconds))

    out = []

    def check(ok: bool, text: str) -> None:
        out.append(f"- {'met' if ok else '**not met**'}: {text}")

    svd = SURPRISE_SVD
    sgd = NAMED[0][0]
    if svd in rows and sgd in rows:
        check(
            mean(sgd) <= mean(svd),
            f"sgd with Surprise SVD's defaults, RMSE {mean(sgd):.4f} ≤ Surprise SVD {mean(svd):.4f}",
        )
        check(
            seconds(sgd) <= 0.5 * seconds(svd),
            f"its fit time {seconds(sgd):.3f} s ≤ half of Surprise SVD's {seconds(svd):.3f} s "
            f"(ratio {seconds(sgd) / seconds(svd):.2f})",
        )
    als = NAMED[1][0]
    if als in rows and svd in rows:
        check(mean(als) <= 0.920, f"tuned als RMSE {mean(als):.4f} ≤ 0.920")
        check(
            seconds(als) <= seconds(svd),
            f"tuned als fit {seconds(als):.3f} s ≤ Surprise SVD's {seconds(svd):.3f} s",
        )
    ours = {label: row for label, row in rows.items() if not label.startswith(("Surprise", "myFM"))}
    best = min(ours, key=mean)
    check(mean(best) <= 0.905, f"best model, {best}: RMSE {mean(best):.4f} ≤ 0.905")
    for name in ("gd", "minibatch", "adam", "nmf"):
        label = f"{name} (defaults)"
        if label in rows:
            check(mean(label) <= 0.96, f"{label} RMSE {mean(label):.4f} ≤ 0.96")
    return out


def parameters_note(configurations: list[tuple[str, str, dict]]) -> str:
    lines = []
    for label, name, params in configurations:
        if not params:
            values = MODELS[name].Params().to_dict()
            shown = ", ".join(f"{k}={v}" for k, v in values.items() if k not in ("seed", "dtype"))
            lines.append(f"- {label}: {shown}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("RECENGINE_ML100K", DATA)))
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed fits per fold of the models that fit in under a second"
    )
    args = parser.parse_args(argv)
    if not (args.data / "u1.base").exists():
        print(f"MovieLens 100k is not at {args.data}: pass --data or set RECENGINE_ML100K.", file=sys.stderr)
        return 2

    started = time.perf_counter()
    load_before = os.getloadavg()
    configurations = our_configurations()
    kernel_seconds = load_kernels([*configurations, (BSVDPP, "bsvdpp", {})])
    surprise = surprise_algorithms()
    splits = dict(zip(args.folds, surprise_folds(args.data, args.folds), strict=True))
    rows: dict[str, Row] = {label: Row(label) for label, _, _ in surprise}
    rows |= {label: Row(label) for label, _, _ in configurations}
    rows |= {label: Row(label) for label in BAYESIAN_ROWS}
    for fold in args.folds:
        train, test = load_train_test(args.data / f"u{fold}.base", args.data / f"u{fold}.test")
        trainset, testset = splits[fold]
        jobs = [
            (rows[label], partial(fit_surprise, factory, trainset, testset))
            for label, factory, every_fold in surprise
            if every_fold or fold == args.folds[0]
        ]
        jobs += [
            (rows[label], partial(fit_ours, name, params, train, test))
            for label, name, params in configurations
        ]
        if fold == args.folds[0]:  # pandas' binning loads on its first call (1.3 s), like a kernel: untimed
            attribute_bags(train)
        jobs += bayesian_jobs(rows, train, test, fold, first=fold == args.folds[0])
        run_fold(jobs, fold, args.repeats)
        print(f"u{fold} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    compiled = compile_times()

    ordered = [row for row in rows.values() if row.rmse]
    report = "\n\n".join(
        [
            "# Rating prediction: MovieLens 100k, u1..u5",
            f"Run of `benchmarks/rating_ml100k.py` on {date.today().isoformat()}, {platform.machine()} with "
            f"{os.cpu_count()} cores, Python {platform.python_version()}; load average "
            f"{load_before[0]:.1f} at the start and {os.getloadavg()[0]:.1f} at the end (other work shares the "
            "machine: compare times as ratios within this table). Mean over folds of RMSE and MAE on "
            "`uN.test` after training on `uN.base`; fit seconds are the median over folds of `fit` alone (fits "
            f"under {QUICK_SECONDS:g} s timed {args.repeats} times per fold, interleaved, median kept).",
            table(ordered),
            "## Targets (issue 3)\n\n" + "\n".join(targets(rows)),
            "## Bayesian SVD++ with the flipped bags against myFM (issue 24)\n\n"
            "Strict protocol: every model's bags (who rated what) and side information come from `uN.base` "
            "alone; nothing of `uN.test` enters a fit (`bsvdpp` only predicts it, for the running average). "
            f"`bsvdpp` and myFM at rank {RANK}, {SWEEPS} Gibbs sweeps, seed {SEED}, in the same run; their RMSE "
            "and MAE are those of the average of the sampled predictions (bsvdpp leaves out the first "
            f"{BURN_IN_SWEEPS} sweeps, myFM the first 5; with the ordered probit, of the expected ratings), "
            "clipped to the scale; the saved model's row predicts from the posterior-mean "
            "vectors. Times were taken on the shared, loaded machine (load averages above): compare them as "
            "ratios within the run.\n\n" + BAYESIAN_NOTES + "\n\n" + bayesian_report(rows),
            "## RMSE per fold\n\n" + fold_table(ordered, args.folds),
            "## Defaults used\n\n" + parameters_note([*configurations, (BSVDPP, "bsvdpp", {})]),
            "## Compiled kernels\n\n"
            + "\n".join(
                f"- {name}: {cold:.2f} s to compile (empty numba cache), {cached:.2f} s to load from the cache "
                "(float64 and float32, measured in fresh processes)"
                for name, (cold, cached) in compiled.items()
            )
            + "\n- first fit of each model in this run (kernel loads, both dtypes, untimed above): "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in kernel_seconds.items()),
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    print(report)
    print(f"\nwritten to {args.out} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
