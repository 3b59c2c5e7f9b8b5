"""Model files on disk: truncated, bit-flipped, hand-edited, crafted, foreign and newer files fail with
ModelFileError; a pickle payload never runs; a writer killed mid-save leaves the previous file intact;
concurrent writers keep the store consistent; no key or name writes outside its folder."""

from __future__ import annotations

import hashlib
import io
import json
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from outcomes import fuzz_settings, tally

from recengine.data.dataset import RatingsDataset
from recengine.data.synthetic import planted_low_rank
from recengine.errors import ModelFileError, RecEngineError
from recengine.models import make
from recengine.store import METADATA, ModelStore, load_model, read_metadata, save_model

ALGOS = ("sgd", "wals", "svdpp", "popular", "bpmf")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small() -> RatingsDataset:
    return planted_low_rank(n_users=30, n_items=20, rank=2, density=0.4, seed=1)[0]


class Saved(dict):
    def __repr__(self) -> str:  # hypothesis prints the fixture with a failing case
        return f"<saved models: {', '.join(self)}>"


@pytest.fixture(scope="module")
def saved(small: RatingsDataset, sandbox: Path) -> dict[str, bytes]:
    """The bytes of one saved model per algorithm (with id maps)."""
    out = Saved()
    for algo in ALGOS:
        model = make(algo, **({} if algo == "popular" else {"n_epochs": 2})).fit(small)
        path = save_model(model, sandbox / f"{algo}.npz", data=small, metrics={"rmse": 1.0})
        out[algo] = path.read_bytes()
    return out


def states_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def load_outcome(path: Path, reference: bytes, what: str) -> str:
    """Load a damaged file: ModelFileError, or a model identical to the undamaged one (a harmless change)."""
    try:
        model = load_model(path)
    except ModelFileError as error:
        assert str(error).strip()
        tally("model files", what, "ModelFileError")
        return "ModelFileError"
    scratch = path.with_name("reference.npz")
    scratch.write_bytes(reference)
    assert states_equal(model.state(), load_model(scratch).state()), "a damaged file loaded with other values"
    tally("model files", what, "loaded unchanged")
    return "loaded unchanged"


@fuzz_settings(300)
@given(algo=st.sampled_from(ALGOS), cut=st.floats(0, 1, exclude_max=True))
def test_a_truncated_model_file_fails_clearly(saved, sandbox: Path, algo: str, cut: float):
    raw = saved[algo]
    path = sandbox / "cut.npz"
    path.write_bytes(raw[: int(cut * len(raw))])
    assert load_outcome(path, raw, "truncated") == "ModelFileError"


@fuzz_settings(400)
@given(
    algo=st.sampled_from(ALGOS),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=3),
)
def test_flipped_bits_fail_clearly_or_change_nothing(saved, sandbox: Path, algo: str, flips):
    raw = bytearray(saved[algo])
    for where, bit in flips:
        raw[int(where * len(raw))] ^= 1 << bit
    path = sandbox / "flipped.npz"
    path.write_bytes(bytes(raw))
    load_outcome(path, saved[algo], "bit flips")


def test_array_headers_that_no_longer_parse_or_claim_impossible_sizes(saved, sandbox: Path):
    """Found by the thorough profile: a flipped bit in a ``.npy`` header made NumPy's header parser raise
    SyntaxError / tokenize.TokenError; a header claiming 10¹³ rows raised MemoryError."""
    raw = saved["wals"]
    header = re.search(rb"'shape': \((\d+), (\d+)\), \} +", raw)
    unparsable = raw[: header.start()] + raw[header.start() :].replace(b"}", b"(", 1)
    claimed = b"'shape': (9999999999999, %s), }" % header.group(2)
    huge = raw.replace(header.group(0), claimed.ljust(len(header.group(0))), 1)
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 1 << 3  # the very case: wals, flips=[(0.5, 3)]
    for damaged in (unparsable, huge, bytes(flipped)):
        path = _write(sandbox / "header.npz", damaged)
        with pytest.raises(ModelFileError, match="corrupted|not a readable"):
            load_model(path)
    tally("model files", "array headers (unparsable, impossible size)", "ModelFileError")


def rewritten(raw: bytes, metadata: dict | None = None, arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """The model file ``raw`` with its metadata and some arrays replaced (digest as it is in ``metadata``)."""
    archive = np.load(io.BytesIO(raw), allow_pickle=False)
    content = {name: archive[name] for name in archive.files}
    content.update(arrays or {})
    if metadata is not None:
        content[METADATA] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **content)
    return buffer.getvalue()


def metadata_of(raw: bytes) -> dict[str, Any]:
    return json.loads(np.load(io.BytesIO(raw), allow_pickle=False)[METADATA].tobytes())


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)


@fuzz_settings(300)
@given(algo=st.sampled_from(ALGOS), data=st.data())
def test_hand_edited_metadata_fails_clearly_or_loads_a_usable_model(saved, sandbox: Path, algo: str, data):
    metadata = metadata_of(saved[algo])
    for key in data.draw(st.lists(st.sampled_from(sorted(metadata)), min_size=1, max_size=3, unique=True)):
        choice = data.draw(st.integers(0, 3))
        if key == "params" and choice == 0:
            metadata["params"][data.draw(st.sampled_from(sorted(metadata["params"])))] = data.draw(JSON)
        elif choice == 1 and isinstance(metadata[key], int):
            metadata[key] = data.draw(st.sampled_from([0, -1, 1, 10**6, metadata[key] + 1]))
        elif choice == 2:
            del metadata[key]
        else:
            metadata[key] = data.draw(JSON)
    path = sandbox / "edited.npz"
    path.write_bytes(rewritten(saved[algo], metadata))
    try:
        model = load_model(path)
    except ModelFileError as error:
        assert str(error).strip()
        tally("model files", "hand-edited metadata", "ModelFileError")
        return
    users = np.arange(model.n_users_)  # every code the model admits must be usable
    assert np.isfinite(model.item_scores(int(users[-1]))).all()
    if model.kind == "rating":
        assert np.isfinite(model.predict(users, np.full(len(users), model.n_items_ - 1))).all()
    tally("model files", "hand-edited metadata", "loaded, usable")


def digest_of(arrays: dict[str, np.ndarray]) -> str:
    """The file format's checksum, as an attacker would recompute it: BLAKE2b-128 over each array in name
    order, its name, dtype and shape first."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def crafted(raw: bytes, change) -> bytes:
    """``raw`` with its arrays changed by ``change(arrays, metadata)`` and the digest recomputed to match."""
    archive = np.load(io.BytesIO(raw), allow_pickle=False)
    arrays = {name: archive[name] for name in archive.files if name != METADATA}
    metadata = metadata_of(raw)
    change(arrays, metadata)
    metadata["digest"] = digest_of(arrays)
    return rewritten(raw, metadata, arrays)


CRAFTED = {
    # Before: the compiled prediction kernel read past the factor arrays and the process crashed (SIGSEGV).
    "more users in the metadata than in the arrays": lambda a, m: m.update(n_users=1_000_000),
    "fewer item factors than item biases": lambda a, m: a.update(item_factors_=a["item_factors_"][:-3]),
    "user and item factors of different widths": lambda a, m: a.update(
        user_factors_=a["user_factors_"][:, :-1]
    ),
    "a NaN in the factors": lambda a, m: a["user_factors_"].__setitem__((0, 0), np.nan),
    "integer factors": lambda a, m: a.update(user_factors_=a["user_factors_"].astype(np.int64)),
    "factors as a 3-d array": lambda a, m: a.update(user_factors_=a["user_factors_"][None]),
    "more user ids than users": lambda a, m: a.update(__user_ids__=np.arange(99)),
    "n_factors in the parameters that the arrays do not have": lambda a, m: m["params"].update(n_factors=3),
}


@pytest.mark.parametrize("what", sorted(CRAFTED))
def test_crafted_arrays_with_a_matching_digest_are_refused(saved, sandbox: Path, what: str):
    path = sandbox / "crafted.npz"
    path.write_bytes(crafted(saved["sgd"], CRAFTED[what]))
    with pytest.raises(ModelFileError, match="corrupted"):
        load_model(path)
    tally("model files", "crafted arrays (digest recomputed)", "ModelFileError")


def test_foreign_and_newer_files_are_refused(saved, sandbox: Path, small: RatingsDataset):
    other = planted_low_rank(n_users=30, n_items=20, rank=2, density=0.4, seed=9)[0]
    path = sandbox / "model.npz"
    path.write_bytes(saved["wals"])
    assert load_model(path, data=small).n_users_ == small.n_users
    with pytest.raises(ModelFileError, match="trained on another data set"):
        load_model(path, data=other)
    store = ModelStore(sandbox / "store-foreign")
    store.put("k", load_model(path), data=small)
    with pytest.raises(ModelFileError, match="another data set"):
        store.get("k", data=other)
    newer = metadata_of(saved["wals"]) | {"format_version": 2}
    path.write_bytes(rewritten(saved["wals"], newer))
    with pytest.raises(ModelFileError, match="newer recengine"):
        load_model(path)
    tally("model files", "foreign data set", "ModelFileError")
    tally("model files", "newer format version", "ModelFileError")


class Payload:
    """Unpickling this creates a file: the side effect that proves code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("slot", [METADATA, "user_factors_", "__item_ids__"])
def test_a_pickle_payload_never_runs(saved, sandbox: Path, slot: str):
    marker = sandbox / f"pwned-{slot}"
    evil = np.array([Payload(marker)], dtype=object)
    archive = np.load(io.BytesIO(saved["sgd"]), allow_pickle=False)
    content = {name: archive[name] for name in archive.files} | {slot: evil}
    store = ModelStore(sandbox / f"store-{slot}")
    path = store.path("evil")
    np.savez(path, **content)  # allow_pickle is the default when saving: the object array is pickled
    with pytest.raises(ModelFileError):
        load_model(path)
    if slot == METADATA:
        with pytest.raises(ModelFileError):
            read_metadata(path)
    assert store.list() == [] or slot != METADATA
    assert store.get("evil") is None  # a damaged entry is a miss (and is removed)
    assert not marker.exists(), "the pickle payload ran"
    with np.load(path if path.exists() else _resave(path, content), allow_pickle=True) as control:
        control[
            slot
        ].item().close()  # the same file, unpickled on purpose: the payload runs (and opens a file)
    assert marker.exists()
    marker.unlink()
    tally("model files", "pickle payload", "ModelFileError, payload not run")


def _resave(path: Path, content: dict) -> Path:
    np.savez(path, **content)
    return path


# --- a writer killed mid-save -----------------------------------------------------------------------------

KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, time
    import recengine.store as store
    from recengine.store import ModelStore, load_model

    folder, source, stage, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    model = load_model(source)
    real_fdopen, real_replace = os.fdopen, os.replace

    class Slow:
        '''A file whose writes report and then crawl from the count-th on, so the parent can kill mid-write.'''
        def __init__(self, handle):
            self.handle, self.writes = handle, 0
        def write(self, data):
            written = self.handle.write(data)
            self.writes += 1
            if stage == "write" and self.writes == count:
                self.handle.flush()
                print("writing", flush=True)
            if stage == "write" and self.writes >= count:
                time.sleep(0.2)
            return written
        def __getattr__(self, name):
            return getattr(self.handle, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    def paused_replace(source, target):
        print("renaming", flush=True)  # the new file is complete and synced, not yet in place
        time.sleep(30)
        real_replace(source, target)

    os.fdopen = lambda fd, mode: Slow(real_fdopen(fd, mode))
    if stage == "rename":
        os.replace = paused_replace
    ModelStore(folder).put("entry", model)
    print("finished", flush=True)
    """
)


def _kill_during(stage: str, count: int, folder: Path, source: Path, cwd: Path = ROOT) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(folder), str(source), stage, str(count)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
    )  # fmt: skip
    try:
        line = writer.stdout.readline().strip()
        assert line in ("writing", "renaming"), (
            f"the writer did not reach {stage}: {line!r} {writer.stderr.read()}"
        )
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(timeout=60) == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.communicate()  # closes the pipes


@pytest.mark.parametrize(("stage", "count"), [("write", 1), ("write", 4), ("write", 12), ("rename", 0)])
def test_a_writer_killed_mid_save_leaves_the_previous_file_intact(saved, sandbox: Path, small, stage, count):
    folder = sandbox / f"store-kill-{stage}-{count}"
    store = ModelStore(folder)
    old = load_model(_write(sandbox / "old.npz", saved["sgd"]))
    store.put("entry", old, data=small)
    before = store.path("entry").read_bytes()
    _kill_during(stage, count, folder, _write(sandbox / "new.npz", saved["svdpp"]))
    partial = list(folder.glob(".entry.npz.*.tmp"))
    assert len(partial) == 1 and partial[0].stat().st_size > 0  # killed mid-save, not before it began
    assert store.path("entry").read_bytes() == before
    assert states_equal(store.get("entry").state(), old.state())
    assert [p.stem for p in store.entries()] == ["entry"]
    store.put("other", old)  # the next writer, holding the lock, clears the dead writer's debris
    assert not list(folder.glob(".*.tmp"))
    tally("model files", "SIGKILL while saving", "previous file intact")


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


KILLED_PROFILE_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from dashboard.profiles import Profile, save_profile

    real_fdopen = os.fdopen

    class Slow:
        def __init__(self, handle):
            self.handle = handle
        def write(self, data):
            written = self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            print("writing", flush=True)
            time.sleep(30)
            return written + self.handle.write(data[len(data) // 2 :])
        def __getattr__(self, name):
            return getattr(self.handle, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    os.fdopen = lambda fd, mode: Slow(real_fdopen(fd, mode))
    save_profile(sys.argv[1], Profile("mine", "bundled", {i: 5.0 for i in range(1000)}), replace=True)
    """
)


def test_a_profile_writer_killed_mid_save_leaves_the_previous_profile(sandbox: Path):
    from dashboard.profiles import Profile, load_profile, save_profile

    folder = sandbox / "profiles-kill"
    save_profile(folder, Profile("mine", "bundled", {1: 4.0, 2: 3.5}))
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_PROFILE_WRITER, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.communicate(timeout=60)  # waits, and closes the pipe
    assert load_profile(folder, "mine").ratings == {1: 4.0, 2: 3.5}
    tally("profiles", "SIGKILL while saving", "previous file intact")


# --- many writers at once ----------------------------------------------------------------------------------

STRESS_WRITER = textwrap.dedent(
    """
    import random, sys
    import numpy as np
    from recengine.store import ModelStore, load_model

    folder, cap, seed, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    sources = sys.argv[5:]
    models = [load_model(path) for path in sources]
    store = ModelStore(folder, max_bytes=cap)
    rng = random.Random(seed)
    hits = 0
    for _ in range(rounds):
        j = rng.randrange(len(models))
        if rng.random() < 0.5:
            store.put(f"k{j}", models[j])
        else:
            found = store.get(f"k{j}")
            if found is not None:
                hits += 1
                expected = models[j].state()
                got = found.state()
                assert got.keys() == expected.keys() and all(np.array_equal(got[k], expected[k]) for k in got), j
    print("ok", hits, flush=True)
    """
)


def test_concurrent_writers_and_readers_keep_the_store_consistent(saved, sandbox: Path):
    sources = [_write(sandbox / f"source-{algo}.npz", saved[algo]) for algo in ALGOS]
    cap = 3 * max(len(saved[a]) for a in ALGOS)
    folder = sandbox / "store-stress"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", STRESS_WRITER, str(folder), str(cap), str(seed), "25", *map(str, sources)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for seed in range(4)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0 and out.startswith("ok"), err[-2000:]
    store = ModelStore(folder, max_bytes=cap)
    entries = store.entries()
    assert 1 <= len(entries) <= len(ALGOS) and store.total_bytes() <= cap
    for path in entries:
        expected = load_model(sources[int(path.stem[1:])]).state()
        assert states_equal(load_model(path).state(), expected)
    assert not list(folder.glob(".*.tmp"))
    tally("model files", "4 processes put/get at once", "consistent")


# --- nothing outside the configured folders ----------------------------------------------------------------

DANGEROUS = (
    "../escape", "../../escape", "/tmp/escape", "/etc/passwd", "..", ".", "a/../../escape", "a\x00b", "C:\\x",
    "\\\\server\\share", "~/escape", "x" * 300, "", " ", "é", "CON", "-rf", "key.npz", "$(touch x)",
)  # fmt: skip
NAMES = st.one_of(
    st.sampled_from(DANGEROUS), st.text(alphabet=st.sampled_from("ab./\\\x00~:é -_"), max_size=20)
)


def only_inside(sandbox: Path, allowed: set[str]) -> None:
    outside = {p.name for p in sandbox.iterdir()} - allowed
    assert not outside, f"written outside the configured folder: {outside}"
    assert not Path("/tmp/escape").exists() and not (Path.home() / "escape").exists()


@fuzz_settings(300)
@given(key=NAMES)
def test_store_keys_never_leave_the_store_folder(saved, sandbox: Path, small, key: str):
    store = ModelStore(sandbox / "store-keys", max_bytes=10**9)
    model = load_model(_write(sandbox / "key-source.npz", saved["popular"]))
    before = {p.name for p in sandbox.iterdir()}
    try:
        path = store.put(key, model)
    except RecEngineError as error:
        assert "not a valid cache key" in str(error)
        tally("paths", "store keys", "refused")
    else:
        assert path.parent == store.folder and store.get(key) is not None
        tally("paths", "store keys", "inside the folder")
    only_inside(sandbox, before)


@fuzz_settings(300)
@given(name=NAMES)
def test_profile_names_never_leave_the_profile_folder(sandbox: Path, name: str):
    from dashboard.profiles import Profile, ProfileError, load_profile, save_profile

    folder = sandbox / "profiles-names"
    before = {p.name for p in sandbox.iterdir()} | {folder.name}
    try:
        path = save_profile(folder, Profile(name, "bundled", {1: 4.0}))
    except ProfileError as error:
        assert str(error).strip()
        tally("paths", "profile names", "refused")
    else:
        assert path.parent == folder.resolve() and load_profile(folder, name).ratings == {1: 4.0}
        tally("paths", "profile names", "inside the folder")
    only_inside(sandbox, before)


@fuzz_settings(200)
@given(name=NAMES, suffix=st.sampled_from([".csv", ".zip", ".parquet", ".exe", ""]))
def test_upload_names_never_leave_the_upload_folder(sandbox: Path, name: str, suffix: str):
    from dashboard.uploads import save_upload
    from recengine.errors import DataError

    folder = sandbox / "uploads"
    before = {p.name for p in sandbox.iterdir()} | {folder.name}
    try:
        path = save_upload(folder, name + suffix, b"user,item,rating\n1,1,1\n")
    except DataError as error:
        assert str(error).strip()
        tally("paths", "upload names", "refused")
    else:
        assert folder.resolve() in path.parents and path.read_bytes().startswith(b"user")
        tally("paths", "upload names", "inside the folder")
    only_inside(sandbox, before)
