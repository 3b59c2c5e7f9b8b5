"""Whole processes, as a user times them: `recengine train` against a Surprise script, wals against implicit.

1. ``recengine train --algo sgd --factors 100 --epochs 20 --lr 0.005 --reg 0.02 --train u1.base --test
   u1.test`` against a Python script that does the same with Surprise (read the two files, fit SVD at those
   settings, score the test set): wall time of each whole process, from start to exit.
2. Our ``wals`` against implicit's ALS at the same settings (64 factors, reg 0.05, alpha 10, binary,
   conjugate gradient with 3 steps, float32, 2 threads, BLAS on one thread) on synthetic ratings
   (`recengine.data.synthetic.movielens_like`, seed 0; users a fifth of MovieLens 25M's, its 59,047 items),
   5 epochs: each run is a process that loads the ratings, makes its compiled code ready, then times
   ``fit`` alone.

Runs alternate (ours, peer, ours, peer, ...) so both meet the same load on a shared machine; figures are
medians of 5 and ratios are ours over the peer's. Compiled kernels are made once before the first timed run
(a fresh checkout builds them once; later processes load them), and Python keeps compiled bytecode for both.

    ./dev bench whole_process            # or: python benchmarks/whole_process.py [--repeats 5] [--25m]

Writes benchmarks/results/whole_process.md. MovieLens 100k is read from ../shared/datasets/ml-100k or
RECENGINE_ML100K; the synthetic ratings are cached under RECENGINE_CACHE (or ~/.cache/recengine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RECENGINE_ML100K", ROOT.parent / "shared/datasets/ml-100k"))
RESULTS = ROOT / "benchmarks" / "results" / "whole_process.md"
CACHE = Path(os.environ.get("RECENGINE_CACHE", Path.home() / ".cache" / "recengine")) / "bench"
SGD_FLAGS = ["--factors", "100", "--epochs", "20", "--lr", "0.005", "--reg", "0.02"]
SIZES = {"5M": (32_508, 59_047, 5_000_000), "25M": (162_541, 59_047, 25_000_000)}
EPOCHS = 5

SURPRISE_SCRIPT = """
import sys
from surprise import SVD, Dataset, Reader, accuracy
from surprise.model_selection import PredefinedKFold
reader = Reader(line_format="user item rating timestamp", sep="\\t")
data = Dataset.load_from_folds([(sys.argv[1], sys.argv[2])], reader)
train, test = next(PredefinedKFold().split(data))
model = SVD(n_factors=100, n_epochs=20, lr_all=0.005, reg_all=0.02, random_state=0).fit(train)
predictions = model.test(test)
print(accuracy.rmse(predictions, verbose=False), accuracy.mae(predictions, verbose=False))
"""

# A timed fit in its own process: argv = which, ratings file, epochs. Prints {"fit": s, "epochs": [...]}.
FIT_SCRIPT = """
import json, sys, time
import numpy as np, scipy.sparse as sp
from threadpoolctl import threadpool_limits
which, path, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
matrix = sp.load_npz(path).tocsr()
threadpool_limits(1, "blas")
if which == "implicit":
    from implicit.cpu.als import AlternatingLeastSquares
    settings = dict(factors=64, regularization=0.05, alpha=10.0, use_cg=True, dtype=np.float32,
                    num_threads=2, calculate_training_loss=False, random_state=0)  # 3 CG steps, its default
    AlternatingLeastSquares(**settings, iterations=1).fit(matrix[:50], show_progress=False)
    model = AlternatingLeastSquares(**settings, iterations=epochs)
    tick = time.perf_counter()
    model.fit(matrix, show_progress=False)
    print(json.dumps({"fit": time.perf_counter() - tick}))
else:
    from recengine.data.dataset import RatingScale, RatingsDataset
    from recengine.models import make
    coo = matrix.tocoo()
    data = RatingsDataset(coo.row, coo.col, coo.data, np.arange(matrix.shape[0]), np.arange(matrix.shape[1]),
                          scale=RatingScale(0.5, 5.0, 0.5))
    settings = dict(n_factors=64, reg=0.05, alpha=10.0, weighting="binary", solver="cg", cg_steps=3,
                    dtype="float32")
    make("wals", **settings, n_epochs=1).fit(data.subset(np.arange(1000)))
    model = make("wals", **settings, n_epochs=epochs)
    tick = time.perf_counter()
    model.fit(data)
    print(json.dumps({"fit": time.perf_counter() - tick, "epochs": [r.seconds for r in model.history_]}))
"""


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds of a whole process and its stdout; a failed run stops the benchmark, showing its stderr."""
    tick = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - tick
    if done.returncode:
        raise SystemExit(f"{' '.join(command[:4])} ... failed:\n{done.stderr}")
    return seconds, done.stdout


def engine_env() -> dict[str, str]:
    return peer_env() | {"PYTHONPATH": str(ROOT)}


def peer_env() -> dict[str, str]:
    """As a user's shell: Python keeps compiled bytecode (an installed package has it; a checkout writes it on
    its first run), whatever this session's PYTHONDONTWRITEBYTECODE says."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def build_kernels() -> None:
    """Make the kernels built ahead of time now (a first process would start their build in the background)."""
    timed([sys.executable, "-c", "from recengine.models.kernels.build import main; main([])"], engine_env())


def sgd_rows(repeats: int) -> list[dict]:
    base, test = str(DATA / "u1.base"), str(DATA / "u1.test")
    ours = [sys.executable, "-m", "recengine", "train", "--algo", "sgd", *SGD_FLAGS]
    ours += ["--train", base, "--test", test, "--json"]
    peer = [sys.executable, "-c", SURPRISE_SCRIPT, base, test]
    timed(ours, engine_env())  # bytecode written, files cached; the peer's too
    timed(peer, peer_env())
    mine, theirs, reports = [], [], []
    for _ in range(repeats):
        seconds, out = timed(ours, engine_env())
        mine.append(seconds)
        reports.append(json.loads(out))
        theirs.append(timed(peer, peer_env())[0])
    last = reports[-1]
    compile_seconds = [r["history"][0]["extra"].get("compile_seconds", 0.0) for r in reports]
    return [
        {
            "what": "`recengine train --algo sgd` (Surprise SVD's settings, u1) against a Surprise script",
            "ours": statistics.median(mine),
            "peer": statistics.median(theirs),
            "note": f"test RMSE {last['test']['rmse']:.4f}; fit {statistics.median(r['fit_seconds'] for r in reports):.2f} s"
            f" of which kernels loaded in {statistics.median(compile_seconds):.3f} s",
            "runs": (mine, theirs),
        }
    ]


def ratings_file(size: str) -> Path:
    """The synthetic ratings as a binary users × items CSR file, made once and cached."""
    import numpy as np
    import scipy.sparse as sp

    from recengine.data.synthetic import movielens_like

    n_users, n_items, n_ratings = SIZES[size]
    path = CACHE / f"synthetic_{size}_seed0.npz"
    if not path.exists():
        frame = movielens_like(n_users, n_items, n_ratings, seed=0)
        users = frame["userId"].to_numpy() - 1
        items = frame["movieId"].to_numpy() - 1
        ones = np.ones(len(frame), dtype=np.float32)
        matrix = sp.csr_matrix((ones, (users, items)), shape=(users.max() + 1, n_items))
        path.parent.mkdir(parents=True, exist_ok=True)
        sp.save_npz(path, matrix)
    return path


def wals_rows(size: str, repeats: int) -> list[dict]:
    path = str(ratings_file(size))
    runs: dict[str, list[dict]] = {"ours": [], "implicit": []}
    whole: dict[str, list[float]] = {"ours": [], "implicit": []}
    timed([sys.executable, "-c", FIT_SCRIPT, "ours", path, "1"], engine_env())  # kernels made once
    for _ in range(repeats):
        for which in ("ours", "implicit"):
            seconds, out = timed([sys.executable, "-c", FIT_SCRIPT, which, path, str(EPOCHS)], engine_env())
            runs[which].append(json.loads(out))
            whole[which].append(seconds)
    fits = {which: [r["fit"] for r in found] for which, found in runs.items()}
    epoch = statistics.median(s for r in runs["ours"] for s in r["epochs"])
    return [
        {
            "what": f"wals `fit`, {size} synthetic ratings, {EPOCHS} epochs, against implicit's ALS",
            "ours": statistics.median(fits["ours"]),
            "peer": statistics.median(fits["implicit"]),
            "note": f"our epoch {epoch:.2f} s (median), loss and its history included",
            "runs": (fits["ours"], fits["implicit"]),
        },
        {
            "what": f"the same, whole processes (read the ratings, load the kernels, fit), {size}",
            "ours": statistics.median(whole["ours"]),
            "peer": statistics.median(whole["implicit"]),
            "note": "",
            "runs": (whole["ours"], whole["implicit"]),
        },
    ]


def write(rows: list[dict], repeats: int) -> None:
    lines = [
        "# Whole processes against the peers",
        "",
        f"`python benchmarks/whole_process.py` on {platform.node() or 'this machine'}, "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Medians of {repeats} "
        "alternating runs (ours, peer, ours, ...); the ratio is ours over the peer's. The machine is shared, "
        "so absolute seconds move from run to run: read the ratios. See the script's docstring for the settings.",
        "",
        "| comparison | ours, s | peer, s | ratio | notes |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        ratio = row["ours"] / row["peer"]
        lines.append(
            f"| {row['what']} | {row['ours']:.2f} | {row['peer']:.2f} | {ratio:.2f}× | {row['note']} |"
        )
    lines += ["", "Every run, in seconds (ours; peer):", ""]
    for row in rows:
        mine, theirs = row["runs"]
        lines.append(
            f"- {row['what']}: {', '.join(f'{s:.2f}' for s in mine)}; {', '.join(f'{s:.2f}' for s in theirs)}"
        )
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--25m", dest="large", action="store_true", help="also wals against implicit at 25M")
    parser.add_argument("--only", choices=("sgd", "wals"), help="run one comparison")
    args = parser.parse_args()
    build_kernels()
    rows = []
    if args.only != "wals":
        rows += sgd_rows(args.repeats)
    if args.only != "sgd":
        rows += wals_rows("5M", args.repeats)
        if args.large:
            rows += wals_rows("25M", args.repeats)
    write(rows, args.repeats)


if __name__ == "__main__":
    main()
