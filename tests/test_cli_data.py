"""The data commands: datasets, download, info, and the shared --data options."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from recengine.cli import main
from recengine.cli.data import add_data_arguments, data_from_args, parse_columns
from recengine.data import KNOWN_DATASETS
from recengine.errors import ParameterError


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_info_json_on_the_bundled_set(capsys):
    status, out, err = run(capsys, "info", "--json")
    payload = json.loads(out)
    assert status == 0 and out.count("\n") == 1 and err == ""
    assert (payload["users"], payload["items"], payload["ratings"]) == (610, 9742, 100_836)
    assert payload["rating_scale"] == {"min": 0.5, "max": 5.0, "step": 0.5}
    assert 0 < payload["density"] < 1 and len(payload["fingerprint"]) == 32


def test_info_json_on_movielens_100k(capsys, ml100k_path: Path):
    status, out, _ = run(capsys, "info", "--data", str(ml100k_path), "--json")
    payload = json.loads(out)
    assert status == 0 and (payload["users"], payload["items"], payload["ratings"]) == (943, 1682, 100_000)


def test_info_as_text_with_options(capsys, tmp_path: Path):
    path = tmp_path / "r.txt"
    path.write_text("reader,book,grade\n1,1,4\n2,1,5\n2,2,3\n")
    status, out, _ = run(
        capsys, "info", "--data", f"csv:{path}", "--columns", "user=reader,item=book,rating=grade",
        "--min-item-ratings", "2",
    )  # fmt: skip
    assert status == 0
    assert "users        2" in out and "items        1" in out and "ratings      2" in out
    assert "note         Filters dropped 1 ratings" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("person,film,when\n1,2,3\n", "Found columns: ['person', 'film', 'when']"),
        ("user,item,rating\n1,2,x\n", "not numbers"),
        ("", "is empty"),
    ],
)
def test_bad_data_prints_one_line_and_exits_2(capsys, tmp_path: Path, content: str, expected: str):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    status, out, err = run(capsys, "info", "--data", str(path))
    assert status == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("recengine info: ") and expected in err and "Traceback" not in err


def test_an_unknown_format_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["info", "--format", "excel"])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_datasets_lists_bundled_downloadable_and_cached(capsys, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path))
    (tmp_path / "ml-1m").mkdir()
    (tmp_path / "ml-1m" / "ratings.dat").write_text("1::1::1::1\n")
    (tmp_path / "my-own").mkdir()
    (tmp_path / "my-own" / ".complete").touch()
    status, out, _ = run(capsys, "datasets")
    assert status == 0 and "ml-latest-small" in out and "ml-25m" in out and "262.0 MB" in out
    assert "cached" in next(line for line in out.splitlines() if "ml-1m " in line)
    status, out, _ = run(capsys, "datasets", "--json")
    payload = json.loads(out)
    rows = {row["name"]: row for row in payload["downloadable"]}
    assert set(rows) == set(KNOWN_DATASETS) and rows["ml-1m"]["cached"] and not rows["ml-25m"]["cached"]
    assert payload["cached_other"] == {"my-own": str(tmp_path / "my-own")}


def test_download_command_with_a_mirror(capsys, tmp_path: Path, monkeypatch):
    import dataclasses
    import hashlib
    import http.server
    import threading

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t1\t5\t1\n2\t1\t3\t2\n")
    body = buffer.getvalue()
    entry = KNOWN_DATASETS["ml-100k"]
    monkeypatch.setitem(
        KNOWN_DATASETS, "ml-100k", dataclasses.replace(entry, sha256=hashlib.sha256(body).hexdigest())
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        status, out, err = run(capsys, "download", "ml-100k", "--cache-dir", str(tmp_path), "--base-url", url)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert status == 0 and out.strip() == str(tmp_path / "ml-100k")
    assert "ml-100k: 100%" in err and "is now in" in err
    status, out, err = run(capsys, "download", "ml-100k", "--cache-dir", str(tmp_path))
    assert status == 0 and "was already in" in err


def test_download_of_an_unknown_name_exits_2(capsys):
    status, _, err = run(capsys, "download", "ml-7m")
    assert status == 2 and "Known: ml-latest-small" in err


def test_shared_data_arguments_for_other_commands(tmp_path: Path):
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    data = data_from_args(parser.parse_args([]))
    assert data.n_ratings == 100_836
    path = tmp_path / "r.csv"
    path.write_text("u,i,r\n1,1,4\n1,2,5\n2,1,3\n")
    args = parser.parse_args(
        ["--data", str(path), "--columns", "user=u,item=i,rating=r", "--min-user-ratings", "2"]
    )
    assert data_from_args(args).user_ids.tolist() == [1]


def test_parse_columns():
    assert parse_columns("user=a, item=b,timestamp=") == {"user": "a", "item": "b", "timestamp": None}
    assert parse_columns(None) is None
    with pytest.raises(ParameterError, match="ROLE=NAME"):
        parse_columns("user")


def test_python_dash_m_recengine_info():
    result = subprocess.run(
        [sys.executable, "-m", "recengine", "info", "--json"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ratings"] == 100_836


def test_a_closed_pipe_ends_the_command_quietly():
    """`recengine datasets | head -1` when head has already left: no traceback, the pipe's exit status."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "recengine", "datasets"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert finished.stderr == "" and finished.returncode == 141
