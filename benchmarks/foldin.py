"""Fold-in latency on the bundled set: how long a new user waits for a vector, and for a top-10 list.

200 new users, each made of 5 to 30 ratings drawn from a random real user of the bundled MovieLens
latest-small (so the ratings look like people's). Each model is trained once with its defaults; then each
new user is folded in (``fold_in``) and given a top 10 (``recommend`` with explanations). The first call of
each model is timed apart (it loads code and caches the item Gram matrix); the table gives the median,
90th percentile and maximum of the other calls. Target: fold-in under 20 ms.

    ./dev bench foldin                      # or: /work/venv/bin/python benchmarks/foldin.py

Writes benchmarks/results/foldin.md and prints it.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np

from recengine.data import load_bundled
from recengine.data.dataset import RatingsDataset
from recengine.models import MODELS, make
from recengine.models.foldin import fold_in
from recengine.serving.recommend import recommend

RESULTS = Path(__file__).resolve().parent / "results" / "foldin.md"
TARGET_MS = 20.0


def new_users(data: RatingsDataset, count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` (item codes, ratings) pairs of 5 to 30 ratings, each from one random real user."""
    rng = np.random.default_rng(seed)
    csr = data.csr
    users = []
    while len(users) < count:
        row = csr[int(rng.integers(data.n_users))]
        size = int(rng.integers(5, 31))
        if row.nnz < size:
            continue
        chosen = rng.choice(row.nnz, size, replace=False)
        users.append((row.indices[chosen].astype(np.int64), row.data[chosen].astype(np.float64)))
    return users


def measure(name: str, data: RatingsDataset, users: list) -> dict:
    model = make(name).fit(data)
    timings: dict[str, list[float]] = {"fold_in": [], "recommend": []}
    first: dict[str, float] = {}
    for number, (codes, ratings) in enumerate(users):
        tick = time.perf_counter()
        vector = fold_in(model, codes, ratings)
        middle = time.perf_counter()
        recommend(model, data, vector=vector, n=10)
        end = time.perf_counter()
        if number == 0:
            first = {"fold_in": middle - tick, "recommend": end - middle}
            continue
        timings["fold_in"].append(middle - tick)
        timings["recommend"].append(end - middle)
    return {"name": name, "method": vector.method, "first": first, **timings}


def markdown(rows: list[dict], count: int, load: tuple[float, float]) -> str:
    def ms(values: list[float], q: float) -> str:
        return f"{np.quantile(values, q) * 1000:.2f}"

    lines = [
        "# Fold-in latency: bundled MovieLens latest-small",
        "",
        f"Run {date.today()} on {platform.machine()}, {os.cpu_count()} cores (load average {load[0]:.1f} at "
        f"start, {load[1]:.1f} at end), Python {platform.python_version()}; `benchmarks/foldin.py`. "
        f"{count} new users with 5 to 30 ratings each; milliseconds; the first call of each model is "
        f"listed apart. Target: fold-in under {TARGET_MS:g} ms.",
        "",
        "| model | fold-in method | fold-in median | p90 | max | top-10 with explanations, median | p90 | "
        "first call (fold-in + top 10) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        first = (row["first"]["fold_in"] + row["first"]["recommend"]) * 1000
        lines.append(
            f"| {row['name']} | {row['method']} | {ms(row['fold_in'], 0.5)} | {ms(row['fold_in'], 0.9)} | "
            f"{ms(row['fold_in'], 1.0)} | {ms(row['recommend'], 0.5)} | {ms(row['recommend'], 0.9)} | "
            f"{first:.1f} |"
        )
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200, help="new users to fold in (default 200)")
    parser.add_argument(
        "--models", nargs="*", default=sorted(MODELS), help="models to measure (default: all)"
    )
    args = parser.parse_args()
    start = os.getloadavg()[0]
    data = load_bundled()
    users = new_users(data, args.users + 1, seed=0)  # one more: the first call is timed apart
    rows = [measure(name, data, users) for name in args.models]
    text = markdown(rows, args.users, (start, os.getloadavg()[0]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
