"""Uploads private to their session, archives checked from their directory and unpacked with a hard cap,
nothing left behind on refusal, the cache of unpacked archives size-capped (issue 12, point 2)."""

from __future__ import annotations

import functools
import gc
import io
import os
import stat
import struct
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from outcomes import tally

from dashboard import config
from dashboard.uploads import PrivateFolder, check_server_path, keep_only, save_upload
from recengine.data import load
from recengine.data.download import MAX_MEMBERS
from recengine.errors import ArchiveError, DataError, RecEngineError, TooLargeError

RATINGS = b"user,item,rating\n" + b"".join(
    f"{u},{i},{(u + i) % 5 + 1}\n".encode() for u in range(20) for i in range(9)
)
BOMB_BYTES = 2_100_000_000
ZEROS_CRC = 0xAF6593A0  # zlib.crc32 of 125 × 16 MiB of zeros (2 s to compute; read back whole, it checks)


def written(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def bomb(declared: int = BOMB_BYTES) -> bytes:
    """A real zip bomb: one member that inflates to ``declared`` zero bytes (CRC and all), made without
    compressing them: 16 MB of zeros deflated once with a full flush is a block that can be repeated."""
    block = bytes(1 << 24)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = declared // len(block)
    stream = piece * count + b"\x03\x00"  # an empty final block ends the stream
    crc = ZEROS_CRC if count == 125 else functools.reduce(lambda c, _: zlib.crc32(block, c), range(count), 0)
    size, name = count * len(block), b"ratings.csv"
    fields = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0, crc, len(stream), size)
    local = b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name
    central = (
        b"PK\x01\x02"
        + struct.pack("<H", 20)
        + fields
        + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, 0)
        + name
    )
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(central), len(local) + len(stream), 0)
    return local + stream + central + end


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    return bomb()


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


def test_each_session_gets_an_unguessable_private_folder_removed_when_it_ends(uploads: Path):
    first, second = PrivateFolder(uploads), PrivateFolder(uploads)
    assert first.path != second.path and first.path.parent == second.path.parent == uploads.resolve()
    assert len(first.path.name) == 32 and set(first.path.name) <= set("0123456789abcdef")  # 128 random bits
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o700 and stat.S_IMODE(uploads.stat().st_mode) == 0o700
    path = save_upload(first.path, "ratings.csv", RATINGS)
    assert path.is_relative_to(first.path)
    kept = first.path
    del first
    gc.collect()
    assert not kept.exists() and second.path.is_dir()  # a session's end removes its uploads only
    second.remove()
    assert not second.path.exists()
    tally("uploads", "private folders", "removed at session end")


def test_folders_left_by_a_killed_server_are_removed_a_day_later(uploads: Path):
    killed = [PrivateFolder(uploads), PrivateFolder(uploads)]
    for folder in killed:
        folder._finalizer.detach()  # as when the server was killed: no clean-up ran
    old, recent = (folder.path for folder in killed)
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    new = PrivateFolder(uploads)
    assert not old.exists() and recent.exists() and new.path.exists()


def test_another_sessions_upload_cannot_be_read_even_when_the_operator_lists_its_folder(
    uploads: Path, monkeypatch
):
    monkeypatch.setenv("RECENGINE_UPLOADS", str(uploads))
    monkeypatch.setenv("RECENGINE_DATA_DIRS", str(uploads.parent))
    alice = PrivateFolder(uploads)
    path = save_upload(alice.path, "ratings.csv", RATINGS)
    for text in (str(path), str(path.parent), str(alice.path), str(uploads)):
        with pytest.raises(DataError, match="private"):
            check_server_path(text, config.data_roots(), config.private_folders())
        tally("uploads", "read by another session", "refused")


def test_a_new_upload_replaces_the_sessions_previous_one(uploads: Path):
    folder = PrivateFolder(uploads).path
    first = save_upload(folder, "a.csv", RATINGS)
    second = save_upload(folder, "b.csv", RATINGS + b"99,99,5\n")
    keep_only(folder, second)
    assert not first.exists() and second.exists() and len(list(folder.iterdir())) == 1


def test_a_zipped_upload_is_unpacked_in_the_session_folder_and_loads(uploads: Path, monkeypatch, tmp_path):
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path / "cache"))
    folder = PrivateFolder(uploads).path
    path = save_upload(folder, "data.zip", zip_of({"ml/ratings.csv": RATINGS}))
    assert path.is_dir() and path.is_relative_to(folder)
    assert load(path).n_ratings == 180
    assert not list(folder.rglob("*.zip")) and not (tmp_path / "cache").exists()


def test_the_zip_bomb_is_refused_from_its_directory_with_almost_nothing_written(
    zip_bomb: bytes, uploads: Path
):
    """The issue's case: 2 MB that unpacks to 2.1 GB."""
    assert len(zip_bomb) < 3_000_000
    session = PrivateFolder(uploads)
    folder = session.path
    with pytest.raises(ArchiveError, match="compressed"):
        save_upload(folder, "bomb.zip", zip_bomb)
    assert written(uploads) == 0 and list(folder.iterdir()) == []  # nothing left behind
    tally("archives", "zip bomb (2 MB to 2.1 GB)", "refused, 0 bytes left")


def test_the_zip_bomb_given_to_load_writes_nothing_to_the_cache(zip_bomb: bytes, tmp_path, monkeypatch):
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path / "cache"))
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(zip_bomb)
    for _ in range(3):  # re-uploads add nothing either
        with pytest.raises(ArchiveError):
            load(archive)
    assert written(tmp_path / "cache") == 0 if (tmp_path / "cache").exists() else True


def _lying(content: bytes, declared: int) -> bytes:
    """A zip of one stored member whose headers claim ``declared`` bytes while holding more."""
    data = bytearray(zip_of({"ratings.csv": content}, zipfile.ZIP_STORED))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature)
        data[at + offset : at + offset + 4] = struct.pack("<I", declared)
    return bytes(data)


def test_a_member_larger_than_it_declares_is_cut_at_the_declared_size_and_refused(tmp_path, uploads):
    folder = PrivateFolder(uploads).path
    with pytest.raises(DataError):
        save_upload(folder, "liar.zip", _lying(RATINGS * 100, 100))
    assert written(uploads) == 0
    tally("archives", "member larger than declared", "refused")


@pytest.mark.parametrize(
    "members, match",
    [
        ({f"f{i}.csv": b"" for i in range(MAX_MEMBERS + 1)}, "members"),
        ({"../evil.csv": RATINGS}, "unsafe"),
        ({"/tmp/evil.csv": RATINGS}, "unsafe"),
        ({"a/../../evil.csv": RATINGS}, "unsafe"),
        ({"C:\\evil.csv": RATINGS}, "unsafe"),
        ({"..\\evil.csv": RATINGS}, "unsafe"),
    ],
)
def test_archive_tricks_are_refused_before_anything_is_written(uploads: Path, members, match):
    folder = PrivateFolder(uploads).path
    with pytest.raises(ArchiveError, match=match):
        save_upload(folder, "tricks.zip", zip_of(members))
    assert written(uploads) == 0 and not Path("/tmp/evil.csv").exists()
    tally("archives", "tricks", "refused")


def test_members_larger_than_the_memory_budget_are_refused(uploads: Path, monkeypatch):
    monkeypatch.setenv("RECENGINE_MEMORY_BUDGET", "100kB")
    folder = PrivateFolder(uploads).path
    with pytest.raises(TooLargeError, match="largest member"):
        save_upload(folder, "big.zip", zip_of({"ratings.csv": RATINGS * 200}, zipfile.ZIP_STORED))
    with pytest.raises(TooLargeError, match="Unpacking"):
        save_upload(
            folder, "many.zip", zip_of({f"r{i}.csv": RATINGS * 10 for i in range(10)}, zipfile.ZIP_STORED)
        )
    assert written(uploads) == 0


def test_the_cache_of_unpacked_archives_is_size_capped(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RECENGINE_UNZIPPED_MB", "0.01")  # 10 kB: room for two of the archives below
    for index in range(4):
        archive = tmp_path / f"set{index}.zip"
        archive.write_bytes(zip_of({"ratings.csv": RATINGS + f"99,{index},5\n".encode()}))
        assert load(archive).n_ratings == 181
        assert written(tmp_path / "cache") <= 10_000
    big = tmp_path / "big.zip"
    big.write_bytes(zip_of({"ratings.csv": RATINGS * 10}))
    with pytest.raises(ArchiveError, match="RECENGINE_UNZIPPED_MB"):
        load(big)
    monkeypatch.setenv("RECENGINE_UNZIPPED_MB", "abc")
    with pytest.raises(RecEngineError, match="RECENGINE_UNZIPPED_MB"):
        load(big)
