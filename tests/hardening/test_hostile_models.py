"""Hostile model files (issue 12, point 5): sizes and shapes checked from the zip directory and the .npy
headers before anything is unpacked, unknown arrays refused unread, every metadata field validated with a
one-line message and exit 2, and no file a model names opened unless the person asks."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from outcomes import tally

from recengine.cli import main
from recengine.data.synthetic import planted_low_rank
from recengine.errors import ModelFileError
from recengine.models import make
from recengine.store import METADATA, ModelStore, load_model, read_metadata, save_model

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Zq7SECRET"
PEAK_LIMIT_MB = 600


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    data = planted_low_rank(n_users=30, n_items=20, rank=2, density=0.4, seed=1)[0]
    folder = tmp_path_factory.mktemp("hostile")
    model = make("sgd", n_factors=4, n_epochs=2).fit(data)
    return save_model(model, folder / "sgd.npz", data=data, extra={"data": None, "split": "none", "seed": 0})


def members_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def with_members(path: Path, out: Path, replace: dict[str, bytes], metadata: dict | None = None) -> Path:
    members = members_of(path) | replace
    if metadata is not None:
        members[f"{METADATA}.npy"] = npy(np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out


def metadata_of(path: Path) -> dict:
    return json.loads(np.load(path)[METADATA].tobytes())


def with_bomb(path: Path, out: Path, name: str, shape: tuple[int, ...]) -> Path:
    """``path`` with array ``name`` replaced by a deflated .npy of zeros of ``shape`` (float64), written
    without compressing them: one 16 MB block of zeros deflated with a full flush, repeated. Its CRC is left
    wrong: zipfile checks it only after inflating the whole array, which is what must never happen."""
    header = npy_header("<f8", shape)
    size = len(header) + 8 * int(np.prod(shape))
    block = 1 << 24
    first, piece = zlib.compressobj(9, zlib.DEFLATED, -15), zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = first.compress(header) + first.flush(zlib.Z_FULL_FLUSH)
    zeros = piece.compress(bytes(block)) + piece.flush(zlib.Z_FULL_FLUSH)
    stream += zeros * ((size - len(header)) // block)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream += tail.compress(bytes((size - len(header)) % block)) + tail.flush()
    with_members(path, out, {})
    members = members_of(out)
    members.pop(f"{name}.npy")
    raw = _zip_with_raw_member(members, f"{name}.npy", stream, size)
    out.write_bytes(raw)
    return out


def _zip_with_raw_member(members: dict[str, bytes], name: str, stream: bytes, size: int) -> bytes:
    """A zip of ``members`` (stored) plus ``name`` whose deflate ``stream`` inflates to ``size`` bytes
    (zip64 sizes, since they may pass 4 GB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    head = buffer.getvalue()
    end = head.rindex(b"PK\x05\x06")
    central_size, central_offset = struct.unpack("<II", head[end + 12 : end + 20])
    entries = head[central_offset : central_offset + central_size]
    body = head[:central_offset]
    encoded = name.encode()
    zip64 = struct.pack("<HHQQ", 1, 16, size, len(stream))
    fields = struct.pack("<HHHHHIII", 45, 0, 8, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF)
    local = b"PK\x03\x04" + fields + struct.pack("<HH", len(encoded), len(zip64)) + encoded + zip64
    offset = len(body)
    zip64_central = struct.pack("<HHQQQ", 1, 24, size, len(stream), offset)
    central = (
        b"PK\x01\x02"
        + struct.pack("<H", 45)
        + fields
        + struct.pack("<HHHHHII", len(encoded), len(zip64_central), 0, 0, 0, 0, 0xFFFFFFFF)
        + encoded
        + zip64_central
    )
    body += local + stream
    directory = entries + central
    count = directory.count(b"PK\x01\x02")
    record_offset = len(body) + len(directory)
    zip64_end = b"PK\x06\x06" + struct.pack(
        "<QHHIIQQQQ", 44, 45, 45, 0, 0, count, count, len(directory), len(body)
    )
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, record_offset, 1)
    end_record = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return body + directory + zip64_end + locator + end_record


# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would report pytest's own peak.
PEAK_SCRIPT = """
import sys
from recengine.cli import main
status = main(sys.argv[1:])
with open("/proc/self/status") as status_file:
    peak = next(int(line.split()[1]) for line in status_file if line.startswith("VmHWM")) / 1024
print(f"peak {peak:.0f} status {status}", flush=True)
"""


def peak_of(argv: list[str]) -> tuple[float, int, str]:
    """Peak resident megabytes and exit status of ``recengine ARGV`` in a fresh process, and its stderr."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, *argv], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    words = done.stdout.split()
    return float(words[words.index("peak") + 1]), int(words[words.index("status") + 1]), done.stderr


def test_the_issues_bomb_is_refused_unread_with_a_small_peak(model_file: Path, tmp_path: Path):
    """A 6 GB compressed array in a file of a few megabytes (the issue: 12.7 GB peak before failing)."""
    bomb = with_bomb(model_file, tmp_path / "bomb.npz", "user_factors_", (10_000_000, 75))
    assert bomb.stat().st_size < 8_000_000
    with pytest.raises(ModelFileError, match="compressed"):
        load_model(bomb)
    peak, status, err = peak_of(["recommend", "--model", str(bomb), "--user", "1"])
    assert status == 2 and len(err.strip().splitlines()) == 1 and "compressed" in err
    assert peak < PEAK_LIMIT_MB, peak
    tally("model files", f"6 GB bomb in {bomb.stat().st_size / 1e6:.1f} MB", f"refused, peak {peak:.0f} MB")


def test_a_bomb_whose_metadata_agrees_is_refused_too(model_file: Path, tmp_path: Path):
    metadata = metadata_of(model_file) | {"n_users": 10_000_000}
    edited = with_members(model_file, tmp_path / "edited.npz", {}, metadata)
    bomb = with_bomb(edited, tmp_path / "bomb.npz", "user_factors_", (10_000_000, 4))
    with pytest.raises(ModelFileError, match="compressed"):
        load_model(bomb)


@pytest.mark.parametrize(
    "what, replace, match",
    [
        ("an unknown array", {"evil.npy": npy(np.zeros(3))}, "does not name"),
        ("a member that is not an array", {"readme.txt": b"hello"}, "not a recengine model file"),
        ("an object array", {"user_bias_.npy": npy(np.array([{"a": 1}] * 30, dtype=object))}, "corrupted"),
        ("integer factors", {"user_factors_.npy": npy(np.zeros((30, 4), dtype=np.int64))}, "float"),
        ("3-d factors", {"user_factors_.npy": npy(np.zeros((30, 4, 1)))}, "expected"),
        ("narrow factors", {"user_factors_.npy": npy(np.zeros((30, 3)))}, "expected"),
        ("more users than the metadata", {"user_factors_.npy": npy(np.zeros((31, 4)))}, "expected"),
        ("huge text ids", {"__user_ids__.npy": npy(np.array(["x" * 5000] * 30))}, "expected"),
        (
            "a header claiming 10^12 rows",
            {"user_bias_.npy": npy_header("<f8", (10**12,)) + bytes(240)},
            "declares",
        ),
        (
            "a header claiming fewer bytes",
            {"user_bias_.npy": npy_header("<f8", (3,)) + bytes(240)},
            "declares",
        ),
        ("a version 3 header", {"user_bias_.npy": b"\x93NUMPY\x03\x00" + bytes(100)}, "readable"),
        (
            "a 100 MB metadata array",
            {f"{METADATA}.npy": npy(np.zeros(100_000_000, dtype=np.uint8))},
            "metadata",
        ),
        ("a scalar global mean as text", {"global_mean_.npy": npy(np.array("3.5"))}, "float"),
    ],
)
def test_crafted_arrays_are_refused_before_they_are_read(model_file, tmp_path, what, replace, match):
    path = with_members(model_file, tmp_path / "crafted.npz", replace)
    with pytest.raises(ModelFileError, match=match):
        load_model(path)
    assert main(["recommend", "--model", str(path), "--user", "1"]) == 2
    tally("model files", "crafted arrays (issue 12)", "ModelFileError")


@pytest.mark.parametrize(
    "extra",
    [
        {"data": 5},
        {"data": [1, 2]},
        {"data": {"evil": 1}},
        {"data": {"spec": None, "min_item_ratings": "many"}},
        {"data": None, "columns": "user"},
        {"data": None, "columns": {"owner": "x"}},
        {"data": None, "seed": "seven"},
        {"data": None, "seed": -1},
        {"data": None, "seed": True},
        {"data": None, "split": ["user", 0.2]},
        {"train": "/etc/passwd"},
        {"test": "/etc/passwd"},
        {"train": 1, "test": 2},
    ],
)
def test_every_stored_setting_is_validated_with_one_line_and_exit_2(model_file, tmp_path, capsys, extra):
    """The issue's cases: data a number, a list, an unknown dict; columns a string; seed text; split a
    list; train without test."""
    path = with_members(model_file, tmp_path / "edited.npz", {}, metadata_of(model_file) | {"extra": extra})
    for command in (["recommend", "--user", "1"], ["similar", "--item", "1"], ["evaluate"]):
        assert main([command[0], "--model", str(path), *command[1:]]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "stored setting" in err, err
    tally("model files", "stored settings edited", "exit 2, one line")


@pytest.mark.parametrize(
    "field, value",
    [("fit_seconds", -1), ("fit_seconds", "slow"), ("n_users", 0), ("metrics", {"rmse": "low"}),
     ("history", [1, 2]), ("state", ["../../etc/passwd"]), ("format_version", True), ("scale", {"low": "a"})],
)  # fmt: skip
def test_every_metadata_field_is_validated(model_file, tmp_path, field, value):
    path = with_members(model_file, tmp_path / "edited.npz", {}, metadata_of(model_file) | {field: value})
    with pytest.raises(ModelFileError):
        load_model(path)
    tally("model files", "metadata fields edited", "ModelFileError")


def test_a_data_path_named_in_a_model_file_is_not_opened_unless_asked(model_file, tmp_path, capsys):
    secret = tmp_path / ".env"
    secret.write_text(f"OPENAI_API_KEY=sk-{SECRET}\n")
    path = with_members(
        model_file, tmp_path / "named.npz", {}, metadata_of(model_file) | {"extra": {"data": str(secret)}}
    )
    assert main(["recommend", "--model", str(path), "--user", "1"]) == 2
    err = capsys.readouterr().err
    assert "--stored-data" in err and SECRET not in err
    assert main(["recommend", "--model", str(path), "--user", "1", "--stored-data"]) == 2
    assert SECRET not in capsys.readouterr().err  # opened on request, and still not quoted
    tally("model files", "data path named in the file", "not opened; not quoted when opened")


def test_fit_seconds_null_reads_as_zero_for_every_session(model_file, tmp_path):
    store = ModelStore(tmp_path / "store")
    with_members(model_file, store.path("abc"), {}, metadata_of(model_file) | {"fit_seconds": None})
    assert read_metadata(store.path("abc"))["fit_seconds"] == 0.0
    assert [row["fit_seconds"] for row in store.list()] == [0.0]


def test_the_store_skips_newer_files_instead_of_deleting_them(model_file, tmp_path):
    store = ModelStore(tmp_path / "store")
    with_members(model_file, store.path("newer"), {}, metadata_of(model_file) | {"format_version": 99})
    assert store.get("newer") is None and store.path("newer").exists()
    tally("model files", "newer format in the store", "skipped, kept")


def test_reading_the_store_needs_no_write_access(model_file, tmp_path, monkeypatch):
    store = ModelStore(tmp_path / "store")
    with_members(model_file, store.path("k"), {})
    real_open = open

    def read_only(file, mode="r", *args, **kwargs):
        if str(file).endswith(".lock") and mode != "r":
            raise PermissionError(13, "Read-only file system")
        if str(file).endswith(".lock"):
            raise FileNotFoundError(2, "No such file")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", read_only)
    assert store.get("k") is not None
    tally("model files", "read-only store", "read")


def with_item_ids(path: Path, out: Path, item_ids: np.ndarray) -> Path:
    """``path`` with its item map replaced and the metadata's digest written anew, as a careful forger would
    (blake2b-128 over each array's name, dtype, shape and bytes, in name order: the file format's digest)."""
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files if name != METADATA}
    arrays["__item_ids__"] = item_ids
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode() + array.tobytes())
    metadata = metadata_of(path) | {"digest": digest.hexdigest()}
    return with_members(path, out, {"__item_ids__.npy": npy(item_ids)}, metadata)


def test_a_model_file_whose_item_map_repeats_an_id_is_refused(model_file, tmp_path, capsys):
    """The fifth re-probe: a model file mapping two item rows to one film id loaded (which row's factors
    answer for the film?). The same file with the ids in another order loads."""
    with np.load(model_file) as archive:
        ids = archive["__item_ids__"]
    load_model(with_item_ids(model_file, tmp_path / "reordered.npz", ids[::-1].copy()))
    repeated = ids.copy()
    repeated[-1] = repeated[0]
    path = with_item_ids(model_file, tmp_path / "repeated.npz", repeated)
    with pytest.raises(ModelFileError, match=f"item id {repeated[0].item()!r} is held by 2 rows"):
        load_model(path)
    assert main(["recommend", "--model", str(path), "--user", "1"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    tally("model files", "an item map repeating an id", "ModelFileError, exit 2")
