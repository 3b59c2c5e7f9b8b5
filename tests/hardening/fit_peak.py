"""``python fit_peak.py ALGO USERS,ITEMS,RATINGS``: one fit's peak resident memory beside its
`memory_estimate`, as one JSON line. A thread samples the resident size every 2 ms while the model fits
one epoch on random ratings of that shape; the kernels are compiled on a tiny fit first, so compilation is
not counted, and the training set's sparse view is built before the baseline is taken."""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.models import make

ONE_PASS = {"popular": {}, "svd": {}, "baseline": {}}  # models without epochs fit as they always do


def resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def random_ratings(n_users: int, n_items: int, n_ratings: int, seed: int = 0) -> RatingsDataset:
    rng = np.random.default_rng(seed)
    cells = np.unique(rng.integers(0, n_users * n_items, int(n_ratings * 1.05)))[:n_ratings]
    rng.shuffle(cells)
    users, items = (cells // n_items).astype(np.int32), (cells % n_items).astype(np.int32)
    ratings = rng.integers(1, 6, len(cells)).astype(np.float32)
    return RatingsDataset(users, items, ratings, np.arange(n_users), np.arange(n_items))


def measure(algo: str, shape: tuple[int, int, int]) -> dict[str, object]:
    settings = ONE_PASS.get(algo, {"n_epochs": 1})
    make(algo, **settings).fit(random_ratings(300, 200, 5_000, seed=1))
    train = random_ratings(*shape)
    _ = train.csr
    gc.collect()
    model = make(algo, **settings)
    baseline = resident()
    peak, done = [baseline], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], resident())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    measured = max(peak[0], resident()) - baseline
    return {"algo": algo, "estimate": model.memory_estimate(train), "measured": measured, "seconds": seconds}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], tuple(int(n) for n in sys.argv[2].split(",")))))
