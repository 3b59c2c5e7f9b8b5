"""Load a ratings file shaped like MovieLens 25M with ``recengine.data.load``: seconds and peak memory.

    ./dev bench load_25m [--repeats 3] [--ratings 25000000]

The synthetic file (162,541 users, 59,047 items, 25,000,000 ratings; columns userId,movieId,rating; skewed
popularity and activity; see ``recengine.data.synthetic.movielens_like``) is generated once under
``benchmarks/.cache/`` and reused. Every measurement runs in a fresh child process, which reports its own
wall time for the load and its peak resident memory (``VmHWM``, the high-water mark of the whole
process, imports included). Rows: our ``load`` on the file as MovieLens ships it (sorted by user, then
item), on the same rows shuffled (the duplicate check then sorts), and pandas ``read_csv`` with compact
types alone, as the floor any loader pays. Results go to ``benchmarks/results/load_25m.md``.
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
import pandas as pd
from memory import machine, peak_bytes

from recengine.data.synthetic import movielens_like, write_movielens_like

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results" / "load_25m.md"
SHAPE = {"n_users": 162_541, "n_items": 59_047}
TARGET_SECONDS, TARGET_BYTES = 30.0, 2e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ratings", type=int, default=25_000_000)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sorted_file, shuffled_file = prepare(args.ratings)
    rows = [
        ("recengine `load`, rows sorted by user and item (as MovieLens ships)", "load", sorted_file),
        ("recengine `load`, same rows shuffled", "load", shuffled_file),
        ("pandas `read_csv`, int32/int32/float32, nothing else", "pandas", sorted_file),
    ]
    results = [(label, measure(kind, path, args.repeats)) for label, kind, path in rows]
    generated = measure("generate", str(args.ratings), 1)  # the "path" of a generation is its size
    results.append(
        (f"`movielens_like` generating the same {args.ratings:,} ratings in memory (1 run)", generated)
    )
    report = render(results, sorted_file, args.ratings, args.repeats)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print(report)


def prepare(n_ratings: int) -> tuple[Path, Path]:
    """The sorted and shuffled synthetic files, generated on first use."""
    CACHE.mkdir(exist_ok=True)
    stem = f"ml25m-shape-{n_ratings}-seed0"
    sorted_file, shuffled_file = CACHE / f"{stem}.csv", CACHE / f"{stem}-shuffled.csv"
    if not sorted_file.exists():
        start = time.perf_counter()
        write_movielens_like(sorted_file, SHAPE["n_users"], SHAPE["n_items"], n_ratings, 0)
        print(f"generated {sorted_file.name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if not shuffled_file.exists():
        frame = pd.read_csv(
            sorted_file, dtype={"userId": np.int32, "movieId": np.int32, "rating": np.float32}
        )
        frame = frame.iloc[np.random.default_rng(1).permutation(len(frame))]
        partial = shuffled_file.with_suffix(".partial")
        frame.to_csv(partial, index=False, float_format="%.1f")
        partial.replace(shuffled_file)
    return sorted_file, shuffled_file


def measure(kind: str, path: Path | str, repeats: int) -> list[dict]:
    runs = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stdout))
        print(f"{kind} {Path(path).name}: {runs[-1]}", file=sys.stderr)
    return runs


def child(kind: str, path: str) -> None:
    """One measurement in this fresh process: load ``path`` and print seconds and peak memory as JSON."""
    from recengine.data import load

    imported = peak_bytes()
    start = time.perf_counter()
    if kind == "pandas":
        size = len(pd.read_csv(path, dtype={"userId": np.int32, "movieId": np.int32, "rating": np.float32}))
    elif kind == "generate":
        size = len(movielens_like(SHAPE["n_users"], SHAPE["n_items"], int(path), seed=0))
    else:
        data = load(path)
        assert data.n_users == SHAPE["n_users"] and data.n_items <= SHAPE["n_items"], data
        size = data.n_ratings
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak": peak_bytes(), "imported": imported, "ratings": size}))


def render(results: list[tuple[str, list[dict]]], path: Path, n_ratings: int, repeats: int) -> str:
    size = path.stat().st_size
    lines = [
        "# Loading 25M ratings",
        "",
        f"Synthetic file shaped like MovieLens 25M: {SHAPE['n_users']:,} users, {SHAPE['n_items']:,} items, "
        f"{n_ratings:,} ratings, columns userId,movieId,rating ({size / 1e6:,.0f} MB), made by "
        "`recengine.data.synthetic.write_movielens_like` (seed 0).",
        f"Measured {time.strftime('%Y-%m-%d')} on {machine(f'pandas {pd.__version__}')}; each run in a fresh process, median of "
        f"{repeats} (load average {os.getloadavg()[0]:.1f} at the end: other work shared the machine). "
        "Peak memory is the process's resident high-water mark (`VmHWM`), imports included; "
        "the import-only figure is shown for reference. Timings move with the machine's load; read the "
        "rows side by side.",
        "",
        "| what | seconds (median) | runs, s | peak memory GB (max) | after imports GB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, runs in results:
        seconds = [r["seconds"] for r in runs]
        peak = max(r["peak"] for r in runs)
        imported = statistics.median(r["imported"] for r in runs)
        lines.append(
            f"| {label} | {statistics.median(seconds):.1f} | {', '.join(f'{s:.1f}' for s in seconds)} "
            f"| {peak / 1e9:.2f} | {imported / 1e9:.2f} |"
        )
    ours = results[0][1]
    ok = (
        statistics.median(r["seconds"] for r in ours) < TARGET_SECONDS
        and max(r["peak"] for r in ours) < TARGET_BYTES
    )
    lines += [
        "",
        f"Target (issue 2): under {TARGET_SECONDS:.0f} s and under {TARGET_BYTES / 1e9:.0f} GB — "
        + ("met." if ok else "NOT met."),
        "",
        "Rerun: `./dev bench load_25m` (the first run also generates the files, about half a minute).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
