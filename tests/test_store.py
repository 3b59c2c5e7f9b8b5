"""Saved models: exact round trips of every model, damaged and foreign files, the size-capped store."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from recengine.data.dataset import RatingsDataset
from recengine.data.synthetic import planted_low_rank
from recengine.errors import ModelFileError, RecEngineError
from recengine.models import MODELS, make
from recengine.models.scoring import score_matrix
from recengine.store import METADATA, ModelStore, cache_key, load_model, read_metadata, save_model


@pytest.fixture(scope="module")
def small_data() -> RatingsDataset:
    data, _ = planted_low_rank(n_users=40, n_items=30, rank=2, density=0.4, seed=3)
    return data


def _quick(name: str, **params):
    fields = MODELS[name].Params.__dataclass_fields__
    quick = {"n_epochs": 2} if "n_epochs" in fields else {}
    return make(name, **(quick | params))


def _fitted(name: str, data: RatingsDataset, **params):
    return _quick(name, **params).fit(data)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_round_trips_exactly(name, small_data, tmp_path):
    model = _fitted(name, small_data)
    path = save_model(model, tmp_path / f"{name}.npz", data=small_data, metrics={"rmse": np.float32(0.9)},
                      extra={"data": "planted", "split": "none", "seed": 0})  # fmt: skip
    loaded = load_model(path, data=small_data)
    assert type(loaded) is type(model) and loaded.params == model.params
    original, restored = model.state(), loaded.state()
    assert sorted(original) == sorted(restored)
    for key, array in original.items():
        assert restored[key].dtype == np.asarray(array).dtype
        np.testing.assert_array_equal(restored[key], array)
    users = np.arange(small_data.n_users)
    np.testing.assert_array_equal(score_matrix(loaded, users), score_matrix(model, users))
    if model.kind == "rating":
        np.testing.assert_array_equal(
            loaded.predict(small_data.user_codes, small_data.item_codes),
            model.predict(small_data.user_codes, small_data.item_codes),
        )
    assert loaded.history_ == model.history_
    assert loaded.scale_ == model.scale_ and loaded.fingerprint_ == model.fingerprint_
    assert loaded.metadata_["metrics"] == {"rmse": pytest.approx(0.9)}
    assert loaded.metadata_["extra"]["data"] == "planted"
    np.testing.assert_array_equal(loaded.item_ids_, small_data.item_ids)


def test_string_ids_are_stored_without_pickle(tmp_path, tiny):
    data = RatingsDataset(tiny.user_codes, tiny.item_codes, tiny.ratings, np.array(["a", "b", "c", "d"]),
                          np.array(["x1", "x2", "x3", "x4", "x5"]))  # fmt: skip
    path = save_model(_fitted("baseline", data), tmp_path / "m.npz", data=data)
    loaded = load_model(path)
    assert loaded.user_ids_.tolist() == ["a", "b", "c", "d"]


@pytest.fixture
def saved(small_data, tmp_path) -> Path:
    return save_model(_fitted("wals", small_data), tmp_path / "model.npz", data=small_data)


def _open_descriptors_of(path: Path) -> list[str]:
    folder = Path("/proc/self/fd")
    if not folder.is_dir():
        pytest.skip("needs /proc to list open files")
    found = []
    for fd in folder.iterdir():
        with contextlib.suppress(OSError):
            if Path(os.readlink(fd)) == path.resolve():
                found.append(fd.name)
    return found


def test_a_truncated_file_fails_clearly_and_is_closed(saved):
    content = saved.read_bytes()
    saved.write_bytes(content[: len(content) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupted") as caught:
        load_model(saved)
    assert caught.value and not _open_descriptors_of(saved)  # NumPy's np.load(path) left it open


def test_flipped_bytes_fail_clearly(saved):
    content = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        member = archive.getinfo("item_factors_.npy")
    middle = member.header_offset + 200 + member.compress_size // 2
    content[middle] ^= 0xFF
    saved.write_bytes(bytes(content))
    with pytest.raises(ModelFileError, match="corrupted"):
        load_model(saved)


def _rewrite(path: Path, change) -> None:
    """Rewrite a model file with its metadata changed by ``change(metadata)``."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    metadata = json.loads(arrays[METADATA].tobytes())
    change(metadata)
    arrays[METADATA] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_a_newer_format_version_is_refused(saved):
    _rewrite(saved, lambda m: m.update(format_version=99))
    with pytest.raises(ModelFileError, match="newer recengine.*format 99"):
        load_model(saved)


def test_an_unknown_algorithm_and_a_changed_array_are_refused(saved, tmp_path):
    _rewrite(saved, lambda m: m.update(algorithm="quantum"))
    with pytest.raises(ModelFileError, match="'quantum'.*does not know"):
        load_model(saved)
    _rewrite(saved, lambda m: m.update(algorithm="wals", digest="0" * 32))
    with pytest.raises(ModelFileError, match="digest"):
        load_model(saved)


def test_a_model_from_another_data_set_is_refused(saved, tiny):
    with pytest.raises(ModelFileError, match="trained on another data set"):
        load_model(saved, data=tiny)


def test_files_that_are_not_models_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="no model file"):
        load_model(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError, match="not a recengine model file") as refused:
        load_model(tmp_path / "text.npz")
    assert "pickle" not in str(refused.value)  # NumPy's advice to unpickle is not passed on
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04cut")  # a zip archive cut short
    with pytest.raises(ModelFileError, match="not a readable model file"):
        load_model(tmp_path / "cut.npz")
    np.savez(tmp_path / "plain.npz", x=np.arange(3))
    with pytest.raises(ModelFileError, match="no metadata"):
        load_model(tmp_path / "plain.npz")


def test_object_arrays_are_never_unpickled(saved):
    with np.load(saved, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["user_factors_"] = np.array([{"evil": 1}], dtype=object)
    np.savez(saved, **arrays)
    with pytest.raises(ModelFileError, match="corrupted"):
        load_model(saved)


def test_a_failed_write_leaves_the_old_file_and_no_debris(saved, small_data, monkeypatch):
    before = saved.read_bytes()

    def broken(stream, **arrays):
        stream.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr("recengine.store.np.savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save_model(_fitted("baseline", small_data), saved)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


# --- the store ------------------------------------------------------------------------------------------


def test_cache_keys_are_stable_and_tell_every_part_apart():
    key = cache_key("abc", "wals", {"reg": 1.0, "n_factors": 8}, "user:0.2", 0)
    assert key == cache_key("abc", "wals", {"n_factors": 8, "reg": 1.0}, "user:0.2", 0)
    others = [
        cache_key("abd", "wals", {"reg": 1.0, "n_factors": 8}, "user:0.2", 0),
        cache_key("abc", "bpr", {"reg": 1.0, "n_factors": 8}, "user:0.2", 0),
        cache_key("abc", "wals", {"reg": 2.0, "n_factors": 8}, "user:0.2", 0),
        cache_key("abc", "wals", {"reg": 1.0, "n_factors": 8}, "random:0.2", 0),
        cache_key("abc", "wals", {"reg": 1.0, "n_factors": 8}, "user:0.2", 1),
    ]
    assert len({key, *others}) == 6


def test_get_or_train_trains_once(small_data, tmp_path):
    store = ModelStore(tmp_path / "store")
    calls = []

    def train():
        calls.append(1)
        return _fitted("wals", small_data), {"precision@10": 0.5}

    first = store.get_or_train("k1", train, data=small_data)
    second = store.get_or_train("k1", train, data=small_data)
    assert len(calls) == 1 and not first.from_cache_ and second.from_cache_
    np.testing.assert_array_equal(first.item_factors_, second.item_factors_)
    (entry,) = store.list()
    assert entry["key"] == "k1" and entry["algorithm"] == "wals" and entry["metrics"] == {"precision@10": 0.5}
    assert "k1" in store and store.get("nope") is None
    with pytest.raises(RecEngineError, match="not a valid cache key"):
        store.get("../escape")


def test_a_damaged_entry_is_a_miss_and_goes_away(small_data, tmp_path):
    store = ModelStore(tmp_path)
    path = store.put("k", _fitted("baseline", small_data))
    path.write_bytes(path.read_bytes()[:100])
    assert store.get("k") is None and not path.exists()


def test_least_recently_used_entries_are_evicted_over_the_cap(small_data, tmp_path):
    model = _fitted("wals", small_data)
    probe = ModelStore(tmp_path / "probe")
    size = probe.put("p", model).stat().st_size
    store = ModelStore(tmp_path / "store", max_bytes=int(2.5 * size))
    store.put("a", model)
    store.put("b", model)
    os.utime(store.path("a"), (1000, 1000))
    os.utime(store.path("b"), (2000, 2000))
    assert store.get("a") is not None  # a is now the most recently used
    store.put("c", model)
    assert sorted(p.stem for p in store.entries()) == ["a", "c"]
    assert store.total_bytes() <= store.max_bytes
    tiny_store = ModelStore(tmp_path / "tiny", max_bytes=1)
    tiny_store.put("only", model)  # the entry just written always stays
    assert [p.stem for p in tiny_store.entries()] == ["only"]


def _put_in_turn(store: ModelStore, key: str, model, stored_by: str, used_at: float) -> None:
    store.put(key, model, stored_by=stored_by)
    if store.path(key).exists():
        os.utime(store.path(key), (used_at, used_at))  # distinct last uses, oldest first


def test_one_person_storing_many_large_models_evicts_their_own_first(small_data, tmp_path):
    """The re-probe: eight large models of one student evicted everyone's from the shared store. B stores two
    small models (s each), then A eight large ones (S each, s < S/4), in a store of 4.5S + 2s whose share
    per person is a quarter of that (< 1.7S). Plain LRU evicts B's two (the oldest) at A's fifth; with
    shares, A's fifth evicts A's first, and so on: B's two and A's last four stay."""
    small, large = _fitted("wals", small_data, n_factors=2), _fitted("wals", small_data, n_factors=64)
    probe = ModelStore(tmp_path / "probe")
    s = probe.put("s", small, stored_by="b" * 16).stat().st_size
    big = probe.put("S", large, stored_by="a" * 16).stat().st_size
    assert s < big / 4
    store = ModelStore(tmp_path / "store", max_bytes=int(4.5 * big) + 2 * s)
    for i in range(2):
        _put_in_turn(store, f"b{i}", small, "b" * 16, used_at=1000 + i)
    for i in range(8):
        _put_in_turn(store, f"a{i}", large, "a" * 16, used_at=2000 + i)
    assert sorted(p.stem for p in store.entries()) == ["a4", "a5", "a6", "a7", "b0", "b1"]
    assert store.total_bytes() <= store.max_bytes


def test_when_nobody_holds_more_than_a_share_the_least_recently_used_goes(small_data, tmp_path):
    """Five people, one model of S each, in a store of 4.5S: each holds S, under a share of 1.125S, so the
    fifth put evicts the first person's model, the least recently used."""
    model = _fitted("wals", small_data)
    size = ModelStore(tmp_path / "probe").put("p", model, stored_by="p0").stat().st_size
    store = ModelStore(tmp_path / "store", max_bytes=int(4.5 * size))
    for i in range(5):
        _put_in_turn(store, f"m{i}", model, f"p{i}", used_at=1000 + i)
    assert sorted(p.stem for p in store.entries()) == ["m1", "m2", "m3", "m4"]
    assert read_metadata(store.path("m1"))["stored_by"] == "p1"


WRITER = textwrap.dedent(
    """
    import sys
    from recengine.models import make
    from recengine.store import ModelStore
    from recengine.data.synthetic import planted_low_rank
    data, _ = planted_low_rank(n_users=40, n_items=30, rank=2, density=0.4, seed=3)
    model = make("wals", n_epochs=2).fit(data)
    store = ModelStore(sys.argv[1], max_bytes=int(sys.argv[2]))
    print("ready", flush=True)
    for i in range(int(sys.argv[3])):
        store.put(f"{sys.argv[4]}{i}", model)
    """
)


def _writer(folder: Path, cap: int, count: int, prefix: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), str(cap), str(count), prefix],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_two_processes_writing_at_once_leave_a_consistent_store(small_data, tmp_path):
    size = ModelStore(tmp_path / "probe").put("p", _fitted("wals", small_data)).stat().st_size
    folder, cap = tmp_path / "shared", 4 * size
    writers = [_writer(folder, cap, 12, prefix) for prefix in ("x", "y")]
    for writer in writers:
        _, errors = writer.communicate(timeout=120)  # reads and closes the pipes
        assert writer.returncode == 0, errors
    store = ModelStore(folder, max_bytes=cap)
    entries = store.entries()
    assert 1 <= len(entries) <= 4 and store.total_bytes() <= cap
    written = _fitted("wals", small_data)  # what each writer fits and puts
    for path in entries:
        np.testing.assert_allclose(load_model(path).item_factors_, written.item_factors_, rtol=1e-6)
    assert not [p for p in folder.iterdir() if p.suffix == ".tmp"]


def _wait_until_waiting_for_a_lock(writer: subprocess.Popen, written: Path, seconds: float = 120) -> None:
    """Until the kernel lists ``writer`` as waiting for an flock (/proc/locks); fails if it writes first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert not written.exists() and writer.poll() is None, "the second writer did not wait for the lock"
        waiting = [line.split() for line in Path("/proc/locks").read_text().splitlines() if " -> " in line]
        if any(fields[5] == str(writer.pid) for fields in waiting):
            return
        time.sleep(0.02)
    pytest.fail(f"the second writer neither waited for the lock nor wrote within {seconds} s")


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux's /proc/locks to see a writer wait")
@pytest.mark.slow
def test_the_lock_keeps_a_second_writer_waiting(tmp_path):
    store = ModelStore(tmp_path / "locked")
    with open(store.folder / ".lock", "a+") as lock:  # the lock file every writer takes (fcntl.flock)
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        writer = _writer(store.folder, 10**9, 1, "w")
        assert writer.stdout.readline().strip() == "ready"  # the writer is about to put ...
        _wait_until_waiting_for_a_lock(writer, store.path("w0"))  # ... and waits for the lock
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    _, errors = writer.communicate(timeout=120)
    assert writer.returncode == 0, errors
    assert read_metadata(store.path("w0"))["algorithm"] == "wals"
