"""Train `als` and `sgd` at 64 factors on 25M ratings shaped like MovieLens 25M: seconds per epoch, peak memory.

    ./dev bench scale_25m [--epochs 3] [--repeats 2] [--ratings 25000000] [--runs als:float32,als:float64,sgd:float32]

The synthetic file (162,541 users, 59,047 items; `recengine.data.synthetic.write_movielens_like`, seed 0) is the
one `load_25m` uses, generated under ``benchmarks/.cache/`` on first use. Each run is a fresh child process
that does what ``recengine train --data FILE --algo NAME --factors 64 --split random:0.02`` does: load the
file, hold out 2% of the ratings, fit, and score the held-out ratings. It reports each epoch's training
step (the ``seconds`` of the epoch record), each epoch's wall time (the step plus the loss and train-RMSE
evaluation every epoch pays; from epoch 2 on, as epoch 1's wall time also holds the start-up), the kernel
compile-or-load time, and the process's resident high-water mark (``VmHWM``, load and imports included).
Runs are repeated in interleaved order (all rows, then all rows again), so that a burst of other work on the
machine does not land on one row only. Results go to ``benchmarks/results/scale_25m.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from memory import machine, peak_bytes

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results" / "scale_25m.md"
SHAPE = {"n_users": 162_541, "n_items": 59_047}
FACTORS, TEST_SHARE = 64, "random:0.02"
TARGET_SECONDS, TARGET_BYTES = 60.0, 4e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ratings", type=int, default=25_000_000)
    parser.add_argument("--runs", default="als:float32,als:float64,sgd:float32", help="ALGO:DTYPE,...")
    parser.add_argument(
        "--child", nargs=4, metavar=("ALGO", "DTYPE", "EPOCHS", "PATH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    path = data_file(args.ratings)
    runs = [tuple(run.split(":")) for run in args.runs.split(",")]
    results: dict[tuple[str, ...], list[dict]] = {run: [] for run in runs}
    for _ in range(args.repeats):
        for run in runs:
            results[run].append(measure(*run, args.epochs, path))
    report = render(list(results.values()), path, args.ratings, args.epochs)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print(report)


def data_file(n_ratings: int) -> Path:
    """The synthetic ratings file, generated on first use (shared with ``load_25m``)."""
    from recengine.data.synthetic import write_movielens_like

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"ml25m-shape-{n_ratings}-seed0.csv"
    if not path.exists():
        start = time.perf_counter()
        write_movielens_like(path, SHAPE["n_users"], SHAPE["n_items"], n_ratings, 0)
        print(f"generated {path.name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return path


def measure(algo: str, dtype: str, epochs: int, path: Path) -> dict:
    command = [sys.executable, __file__, "--child", algo, dtype, str(epochs), str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    print(f"{algo} {dtype}: {result}", file=sys.stderr)
    return result


def child(algo: str, dtype: str, epochs: str, path: str) -> None:
    """One run in this fresh process; prints its figures as JSON."""
    from recengine.data import load
    from recengine.evaluation.split import split_by_spec
    from recengine.models import make

    start = time.perf_counter()
    data = load(path)
    load_seconds = time.perf_counter() - start
    train, test = split_by_spec(data, TEST_SHARE, 0)
    del data
    ticks: list[float] = []
    model = make(algo, n_factors=FACTORS, n_epochs=int(epochs), dtype=dtype)
    start = time.perf_counter()
    model.fit(train, callbacks=[lambda record, fitted: ticks.append(time.perf_counter())])
    walls = np.diff([start, *ticks])
    history = model.history_
    print(
        json.dumps(
            {
                "algo": algo,
                "dtype": dtype,
                "params": model.get_params(),
                "load_seconds": load_seconds,
                "train_ratings": train.n_ratings,
                "step_seconds": [r.seconds for r in history],
                "wall_seconds": walls.tolist(),
                "compile_seconds": float(history[0].extra.get("compile_seconds", 0.0)),
                "fit_seconds": model.fit_seconds_,
                "train_rmse": [r.train_rmse for r in history],
                "test_rmse": model.rmse(test),
                "peak": peak_bytes(),
            }
        )
    )


def render(results: list[list[dict]], path: Path, n_ratings: int, epochs: int) -> str:
    repeats = len(results[0])
    lines = [
        "# Training on 25M ratings",
        "",
        f"Synthetic ratings shaped like MovieLens 25M: {SHAPE['n_users']:,} users, {SHAPE['n_items']:,} "
        f"items, {n_ratings:,} ratings (`{path.name}`, made by `recengine.data.synthetic.write_movielens_like`); "
        f"{TEST_SHARE} held out, {FACTORS} factors, {epochs} epochs, each model's other hyperparameters at "
        "their defaults.",
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; every run in a fresh process, {repeats} runs "
        f"per row in interleaved order (load average {os.getloadavg()[0]:.1f} at the end: other work shared "
        "the machine and moved single epochs by up to 2×, so read the medians and the rows side by side).",
        "Step: the epoch's training work (the epoch record's `seconds`). Wall: the step plus the loss and "
        "train-RMSE evaluation of every epoch (epochs 2 onward). Medians over every epoch of every run. "
        "Peak: the process's resident high-water mark (`VmHWM`), loading the file included; the largest run.",
        "",
        "| model | step s/epoch (median) | wall s/epoch (median) | median step of each run, s "
        "| kernel compile or load, s | load s | peak memory GB | train RMSE (last) | held-out RMSE |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    verdicts = []
    for runs in results:
        first = runs[0]
        step = statistics.median(s for r in runs for s in r["step_seconds"])
        wall = statistics.median(w for r in runs for w in r["wall_seconds"][1:] or r["wall_seconds"])
        peak = max(r["peak"] for r in runs)
        per_run = ", ".join(f"{statistics.median(r['step_seconds']):.1f}" for r in runs)
        lines.append(
            f"| `{first['algo']}` {first['dtype']} | {step:.1f} | {wall:.1f} | {per_run} "
            f"| {statistics.median(r['compile_seconds'] for r in runs):.1f} "
            f"| {statistics.median(r['load_seconds'] for r in runs):.1f} | {peak / 1e9:.2f} "
            f"| {first['train_rmse'][-1]:.4f} | {first['test_rmse']:.4f} |"
        )
        met = wall < TARGET_SECONDS and peak < TARGET_BYTES
        verdicts.append(f"`{first['algo']}` {first['dtype']}: " + ("met" if met else "NOT met"))
    lines += [
        "",
        f"Target (issues 3 and 7): under {TARGET_SECONDS:.0f} s per epoch and under {TARGET_BYTES / 1e9:.0f} GB "
        "— " + "; ".join(verdicts) + ".",
        "",
        "Rerun: `./dev bench scale_25m` (add `--runs als:float32 --repeats 1` for one quick row; the first run "
        "generates the file, about half a minute).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
