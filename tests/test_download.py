"""Downloads from a local HTTP server on 127.0.0.1: progress, checksum, safe unpacking, cache, offline."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import importlib
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from recengine.data import KNOWN_DATASETS, cache_dir, cached_datasets, download, load
from recengine.errors import ArchiveError, DownloadError

# The module, not the function of the same name that recengine.data exports.
dl = importlib.import_module("recengine.data.download")
U_DATA = "".join(
    f"{u}\t{i}\t{(u + i) % 5 + 1}\t88125{u:02d}{i:02d}\n" for u in range(1, 6) for i in range(1, 5)
)


def fake_archive(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buffer.getvalue()


class Server:
    """Serves ``files`` (name → bytes) from 127.0.0.1 and counts the requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def publish(
        self, name: str, body: bytes, monkeypatch: pytest.MonkeyPatch, sha256: str | None = None
    ) -> None:
        """Serve ``body`` as data set ``name``'s zip, with a matching (or given) checksum."""
        entry = KNOWN_DATASETS[name]
        self.files[entry.filename] = body
        checksum = sha256 or hashlib.sha256(body).hexdigest()
        monkeypatch.setitem(KNOWN_DATASETS, name, dataclasses.replace(entry, sha256=checksum, size=len(body)))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("RECENGINE_CACHE", str(folder))
    return folder


def test_known_datasets_point_at_grouplens_with_sha256_checksums():
    names = {"ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest-small"}
    assert names <= set(KNOWN_DATASETS)
    for name, entry in KNOWN_DATASETS.items():
        assert entry.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert len(entry.sha256) == 64 and int(entry.sha256, 16) and entry.size > 900_000


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here"
    monkeypatch.delenv("RECENGINE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "recengine"


def test_download_streams_verifies_unpacks_and_reuses(server: Server, cache: Path, monkeypatch):
    body = fake_archive({"ml-100k/u.data": U_DATA, "ml-100k/README": "fake"})
    server.publish("ml-100k", body, monkeypatch)
    calls: list[tuple[int, int | None]] = []
    monkeypatch.setattr(dl, "BLOCK", 64)  # several progress calls even for a small archive
    folder = download(
        "ml-100k", base_url=server.url, progress=lambda done, total: calls.append((done, total))
    )
    assert folder == cache / "ml-100k" and (folder / "u.data").read_text() == U_DATA
    assert len(calls) > 2 and calls[-1] == (len(body), len(body))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert cached_datasets() == {"ml-100k": folder}
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no partial files left
    assert download("ml-100k", base_url=server.url) == folder and len(server.requests) == 1
    assert load("ml-100k").n_ratings == 20


def test_download_into_a_given_cache_dir(server: Server, tmp_path: Path, monkeypatch):
    server.publish("ml-1m", fake_archive({"ml-1m/ratings.dat": "1::2::3::4\n"}), monkeypatch)
    folder = download("ml-1m", cache_dir=tmp_path / "elsewhere", base_url=server.url)
    assert folder == tmp_path / "elsewhere" / "ml-1m" and (folder / "ratings.dat").is_file()


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(server: Server, cache: Path, monkeypatch):
    server.publish("ml-100k", fake_archive({"ml-100k/u.data": U_DATA}), monkeypatch, sha256="0" * 64)
    with pytest.raises(DownloadError, match="damaged or not the official file"):
        download("ml-100k", base_url=server.url)
    assert list(cache.iterdir()) == []


def test_a_missing_file_on_the_server(server: Server, cache: Path):
    with pytest.raises(DownloadError, match="Could not download ml-100k .*Not Found"):
        download("ml-100k", base_url=server.url)


def test_offline_says_what_to_download_and_where_to_put_it(cache: Path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError) as error:
        download("ml-25m", base_url=f"http://127.0.0.1:{port}")
    message = str(error.value)
    assert "https://files.grouplens.org/datasets/movielens/ml-25m.zip" in message
    assert str(cache / "ml-25m") in message and "recengine download ml-25m" in message


def test_unknown_names_list_the_known_ones(cache: Path):
    with pytest.raises(
        DownloadError, match="no known data set named 'ml-7m'. Known: ml-latest-small, ml-100k"
    ):
        download("ml-7m")


def test_a_truncated_download_that_matches_its_checksum_is_still_refused(server: Server, cache, monkeypatch):
    body = fake_archive({"ml-100k/u.data": U_DATA * 50})
    server.publish("ml-100k", body[: len(body) // 2], monkeypatch)
    with pytest.raises(ArchiveError, match="truncated or corrupted"):
        download("ml-100k", base_url=server.url)
    assert not (cache / "ml-100k").exists()


def test_an_unsafe_archive_is_refused(server: Server, cache: Path, monkeypatch):
    server.publish("ml-100k", fake_archive({"ml-100k/u.data": U_DATA, "../../escape.txt": "x"}), monkeypatch)
    with pytest.raises(ArchiveError, match="unsafe path '../../escape.txt'"):
        download("ml-100k", base_url=server.url)
    assert not (cache / "ml-100k").exists() and not (cache.parent / "escape.txt").exists()


def test_an_archive_without_a_top_folder_unpacks_in_place(server: Server, cache: Path, monkeypatch):
    server.publish("ml-100k", fake_archive({"u.data": U_DATA, "u.genre": "unknown|0\n"}), monkeypatch)
    folder = download("ml-100k", base_url=server.url)
    assert sorted(p.name for p in folder.iterdir()) == [".complete", "u.data", "u.genre"]


def test_a_folder_unpacked_by_hand_counts_as_cached(cache: Path):
    (cache / "ml-100k").mkdir(parents=True)
    (cache / "ml-100k" / "u.data").write_text(U_DATA)
    assert cached_datasets() == {"ml-100k": cache / "ml-100k"}
    assert download("ml-100k") == cache / "ml-100k"  # nothing to fetch
    assert load("ml-100k").n_users == 5
