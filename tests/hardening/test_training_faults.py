"""Training faults at the engine level: divergence is caught in the epoch it happens and leaves no usable
NaN model; a Stop request from another thread ends training within one epoch; a failing callback or fit in
one thread leaves a concurrent fit and the model store unharmed."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from outcomes import tally

from recengine.data.dataset import RatingsDataset
from recengine.data.synthetic import planted_low_rank
from recengine.errors import NotFittedError, TrainingDiverged
from recengine.models import MODELS, make
from recengine.models.base import EXPLOSION_FACTOR
from recengine.store import ModelStore, save_model
from recengine.training import AFTER_EPOCH, StopRequest

GRADIENT_MODELS = ("sgd", "minibatch", "gd", "adam", "svdpp", "bpr")


@pytest.fixture(scope="module")
def planted() -> RatingsDataset:
    return planted_low_rank(n_users=60, n_items=40, rank=3, density=0.4, seed=1)[0]


def lr_high(algo: str) -> float:
    return next(spec.high for spec in MODELS[algo].Params.specs() if spec.name == "lr")


@pytest.mark.parametrize("algo", GRADIENT_MODELS)
@pytest.mark.parametrize("lr", ["3", "high"])
def test_a_divergent_learning_rate_is_caught_in_the_first_epoch(algo: str, lr: str, planted, tmp_path: Path):
    value = lr_high(algo) if lr == "high" else float(lr)
    seen = []
    model = make(algo, lr=value, n_epochs=50)
    with pytest.raises(TrainingDiverged, match=r"epoch 1: .*\. .*(learning rate|lr)") as caught:
        model.fit(planted, callbacks=[lambda record, _: seen.append(record.epoch)])
    assert caught.value.epoch == 1 and seen == []  # no callback ever saw a diverged epoch
    assert not model.is_fitted
    with pytest.raises(NotFittedError, match="no usable state: Training diverged at epoch 1"):
        model.predict([0], [0]) if model.kind == "rating" else model.item_scores(0)
    with pytest.raises(NotFittedError):
        save_model(model, tmp_path / "diverged.npz")
    tally("training", f"divergent lr ({algo})", "TrainingDiverged in epoch 1")


def finite(arrays: Iterable[np.ndarray | None]) -> bool:
    return all(np.isfinite(a).all() for a in arrays if a is not None)


def unhealthy(total_loss: float, arrays_finite: bool, start: float) -> bool:
    """What the fit must stop at: non-finite factors, or a loss that is not finite or grew past
    ``EXPLOSION_FACTOR`` times the loss before the first epoch."""
    exploded = not math.isfinite(total_loss) or total_loss > EXPLOSION_FACTOR * max(start, 1e-12)
    return not arrays_finite or exploded


@pytest.mark.parametrize(("algo", "lr"), [("gd", 0.3), ("gd", 1.0), ("minibatch", 0.3), ("svdpp", 0.5)])
def test_slow_divergence_is_caught_in_the_epoch_it_starts(algo: str, lr: float, planted):
    """Every epoch the callbacks saw was healthy, and the epoch that raises, right after them, was not."""
    model = make(algo, lr=lr, n_epochs=200)
    seen: list[tuple[int, float, bool]] = []

    def watch(record, fitted) -> None:
        assert record.measured == AFTER_EPOCH  # the loss is that of the state the callback sees
        seen.append((record.epoch, record.total_loss, finite(fitted.state().values())))

    with pytest.raises(TrainingDiverged) as caught:
        model.fit(planted, callbacks=[watch])
    start, epoch = caught.value.start_loss, caught.value.epoch
    assert [seen_epoch for seen_epoch, _, _ in seen] == list(range(1, epoch))
    assert not any(unhealthy(loss, arrays_finite, start) for _, loss, arrays_finite in seen)
    last, learned = model.history_[-1], (getattr(model, name, None) for name in model.state_names)
    assert last.epoch == epoch and unhealthy(last.total_loss, finite(learned), start)
    tally("training", "slow divergence", f"caught in the epoch it starts (epoch {caught.value.epoch})")


STOPPABLE = sorted(
    name for name, cls in MODELS.items() if any(s.name == "n_epochs" for s in cls.Params.specs())
)


@pytest.mark.parametrize("algo", STOPPABLE)
def test_a_stop_request_from_another_thread_ends_training_within_one_epoch(algo: str, planted):
    cls = MODELS[algo]
    most = int(next(spec.high for spec in cls.Params.specs() if spec.name == "n_epochs"))
    stop, lock, done = StopRequest(), threading.Lock(), []
    two_epochs = threading.Event()

    def count(record, _model) -> None:
        with lock:
            done.append(record.epoch)
        if len(done) >= 2:
            two_epochs.set()

    model = cls(
        cls.Params(n_epochs=most, **({"lr": 0.001} if "lr" in cls.Params.__dataclass_fields__ else {}))
    )
    failure: list[BaseException] = []

    def train() -> None:
        try:
            model.fit(planted, callbacks=[count, stop])
        except BaseException as error:  # reported below
            failure.append(error)

    trainer = threading.Thread(target=train)
    trainer.start()
    assert two_epochs.wait(timeout=120), "training did not start"
    with lock:  # the count and the request are one step: epochs done when Stop was pressed
        at_request = len(done)
        stop.request()
    trainer.join(timeout=120)
    assert not trainer.is_alive() and not failure, failure
    assert at_request <= len(model.history_) <= at_request + 1 < most
    assert model.is_fitted
    tally("training", "Stop from another thread", "honoured within one epoch")


class Boom(RuntimeError):
    pass


def explode_at(epoch: int):
    def callback(record, _model):
        if record.epoch == epoch:
            raise Boom(f"callback failed at epoch {epoch}")

    return callback


def concurrent_round(
    planted: RatingsDataset, small: RatingsDataset, store: ModelStore, key: str
) -> dict[str, object]:
    """Five fits at once: one good (then stored under ``key``), one whose callback raises, two that diverge
    (one in a numba kernel, on ``small``), one whose diverged model is then given to the store. Their results
    or errors."""
    start = threading.Barrier(5)
    results: dict[str, object] = {}

    def run(name: str, job) -> None:
        start.wait()
        try:
            results[name] = job()
        except BaseException as error:
            results[name] = error

    def good():
        model = make("sgd", n_epochs=30, seed=3).fit(planted, callbacks=[lambda r, m: None])
        store.put(key, model)
        return model

    def diverged_then_saved():
        model = make("sgd", lr=100.0, n_epochs=30)
        try:
            model.fit(planted)
        except TrainingDiverged:
            store.put("diverged", model)  # must be refused: it has no usable state

    jobs = {
        "good": good,
        "callback": lambda: make("als", n_epochs=10).fit(planted, callbacks=[explode_at(2)]),
        "diverged": lambda: make("adam", lr=100.0, n_epochs=30).fit(planted),
        "singular": lambda: make("wals", n_factors=50, reg=0, alpha=0, solver="cholesky").fit(small),
        "saved diverged": diverged_then_saved,
    }
    threads = [threading.Thread(target=run, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_a_failing_fit_or_callback_in_one_thread_leaves_a_concurrent_fit_and_the_store_unharmed(
    planted, tmp_path: Path
):
    larger = planted_low_rank(n_users=400, n_items=300, rank=3, density=0.1, seed=2)[0]
    reference = make("sgd", n_epochs=30, seed=3).fit(larger).state()
    store = ModelStore(tmp_path / "store")
    for round_ in range(3):
        results = concurrent_round(larger, planted, store, f"good{round_}")
        assert isinstance(results["callback"], Boom)
        assert isinstance(results["diverged"], TrainingDiverged)
        assert isinstance(results["singular"], TrainingDiverged)
        assert isinstance(results["saved diverged"], NotFittedError)
        good_model = results["good"]
        assert not isinstance(good_model, BaseException), good_model
        for name, array in good_model.state().items():  # bit for bit the model trained alone
            assert np.array_equal(array, reference[name]), name
        stored = store.get(f"good{round_}").state()
        assert all(np.array_equal(stored[name], reference[name]) for name in reference)
    assert sorted(p.stem for p in store.entries()) == ["good0", "good1", "good2"]
    assert not list(store.folder.glob(".*.tmp"))
    tally("training", "failing callback, divergence and a refused save beside a fit (3 rounds)", "unharmed")


PARALLEL_FITS_IN_THREADS = textwrap.dedent(
    """
    import threading
    from recengine.models import make
    from recengine.data.synthetic import planted_low_rank

    data = planted_low_rank(n_users=1500, n_items=1000, rank=3, density=0.05, seed=1)[0]
    errors = []

    def fit(algo):
        try:
            for _ in range(2):
                make(algo, n_epochs=4).fit(data)
        except BaseException as error:
            errors.append(repr(error))

    threads = [threading.Thread(target=fit, args=(algo,)) for algo in ("als", "wals", "bpmf", "als")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    import numba
    print(numba.threading_layer(), errors, flush=True)
    """
)


def test_parallel_kernels_in_several_threads_survive_numba_s_workqueue_layer():
    """Was: "Numba workqueue threading layer is terminating: Concurrent access has been detected", the whole
    process killed, where neither TBB nor OpenMP (libgomp) is installed and als, bpmf or wals fit in threads."""
    result = subprocess.run(
        [sys.executable, "-c", PARALLEL_FITS_IN_THREADS],
        env=os.environ | {"NUMBA_THREADING_LAYER": "workqueue"},
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "workqueue []"
    tally("training", "parallel kernels in 4 threads, workqueue layer", "no abort")
