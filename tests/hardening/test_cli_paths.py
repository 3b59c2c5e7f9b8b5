"""Issue 25, points 6 and 8 (model files): the command line opens no path it was not given, and every
model-file error is one line with exit status 2 and a bounded memory peak, however its metadata is built."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from outcomes import tally

from recengine.cli import main
from recengine.data.synthetic import planted_low_rank
from recengine.models import make
from recengine.store import METADATA, read_metadata, save_model

ROOT = Path(__file__).resolve().parents[2]
SECRET = "API_KEY=Zq7SECRET"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    data = planted_low_rank(n_users=30, n_items=20, rank=2, density=0.4, seed=1)[0]
    folder = tmp_path_factory.mktemp("paths")
    model = make("baseline", n_epochs=2).fit(data)
    return save_model(
        model, folder / "m.npz", data=data, extra={"data": "ml-100k", "split": "none", "seed": 0}
    )


def with_metadata_text(model: Path, out: Path, text: bytes) -> Path:
    """``model`` with its metadata member replaced by ``text`` (any bytes, even JSON json.dumps cannot make)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.frombuffer(text, dtype=np.uint8))
    with zipfile.ZipFile(model) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            content = buffer.getvalue() if info.filename == f"{METADATA}.npy" else source.read(info)
            target.writestr(info.filename, content)
    return out


def with_extra_json(model: Path, out: Path, json_value: bytes) -> Path:
    """``model`` whose metadata holds ``"pad": <json_value>`` beside its real fields."""
    text = json.dumps(read_metadata(model)).encode()
    return with_metadata_text(model, out, text[:-1] + b', "pad": ' + json_value + b"}")


def one_line_refusal(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_a_known_data_set_name_never_opens_a_file_of_that_name_here(
    model_file, tmp_path, monkeypatch, capsys
):
    """The issue: a model naming ml-100k, run in a folder holding a file ml-100k (a copy of a secrets file),
    printed "ml-100k has only 1 column ('API_KEY=...')"."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "ml-100k").write_text(f"{SECRET}\n")
    monkeypatch.chdir(work)
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path / "empty-cache"))
    err = one_line_refusal(["recommend", "--model", str(model_file), "--user", "1"], capsys)
    assert "Zq7SECRET" not in err and "not downloaded" in err
    tally("command line", "data-set name shadowed by a local file", "cache only, nothing quoted")


def test_a_known_data_set_name_resolves_to_the_download_cache(model_file, tmp_path, monkeypatch, capsys):
    cached = tmp_path / "cache" / "ml-100k"
    cached.mkdir(parents=True)
    (cached / "u.data").write_text("1\t1\t5\t0\n")
    (tmp_path / "ml-100k").write_text(f"{SECRET}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path / "cache"))
    err = one_line_refusal(["recommend", "--model", str(model_file), "--user", "1"], capsys)
    assert "Zq7SECRET" not in err and "fingerprint" in err  # the cached copy was read: not the same ratings


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_metadata_is_one_line_and_exit_2(model_file, tmp_path, capsys, depth):
    """The issue: a RecursionError traceback and exit 1."""
    path = with_extra_json(model_file, tmp_path / "deep.npz", b"[" * depth + b"]" * depth)
    err = one_line_refusal(["recommend", "--model", str(path), "--user", "1"], capsys)
    assert "nested" in err
    tally("model files", f"metadata nested {depth:,} deep", "one line, exit 2")


PEAK_SCRIPT = """
import sys
from recengine.cli import main
status = main(sys.argv[1:])
with open("/proc/self/status") as status_file:
    peak = next(int(line.split()[1]) for line in status_file if line.startswith("VmHWM")) / 1024
print(f"peak {peak:.0f} status {status}", flush=True)
"""


@pytest.mark.slow
def test_huge_metadata_is_refused_before_it_is_parsed(model_file, tmp_path):
    """The issue: 60 MB of JSON took 1.2 GB before it was refused. Here 24 MB of empty objects (a parse
    would take about 600 MB) must be refused with a peak of the engine's imports and the raw bytes."""
    path = with_extra_json(model_file, tmp_path / "huge.npz", b"[" + b",".join([b"{}"] * 8_000_000) + b"]")
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, "recommend", "--model", str(path), "--user", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env=os.environ | {"PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    words = done.stdout.split()
    peak, status = float(words[words.index("peak") + 1]), int(words[words.index("status") + 1])
    assert status == 2 and len(done.stderr.strip().splitlines()) == 1 and "metadata" in done.stderr
    assert peak < 350, peak
    tally("model files", "24 MB of JSON metadata", f"refused unparsed, peak {peak:.0f} MB")


HOSTILE = "\x1b]8;;https://evil.example\x07Class password expired\x1b]8;;\x07 \x1b[2J\x1b[31m\x9b1mloud\x1b[0m\u202e"


def test_titles_reach_the_terminal_without_their_escape_codes(tmp_path, capsys):
    """The re-probe: a data set's titles reached the terminal with their escape codes (a hyperlink, a
    cleared screen). Every film here is titled with them; the recommendations and a similar-films header
    print the words only."""
    from recengine.data import load

    folder = tmp_path / "hostile"
    folder.mkdir()
    ratings = planted_low_rank(n_users=30, n_items=20, rank=2, density=0.5, seed=4)[0].to_frame()
    ratings.columns = ["userId", "movieId", "rating", *ratings.columns[3:]]
    ratings["rating"] = ratings["rating"].clip(1, 5).round()
    ratings.to_csv(folder / "ratings.csv", index=False)
    items = sorted(ratings["movieId"].unique())
    titles = [f"Film {item} {HOSTILE} (1994)" for item in items]
    pd.DataFrame({"movieId": items, "title": titles, "genres": "Drama"}).to_csv(
        folder / "movies.csv", index=False
    )
    data = load(str(folder))
    model = save_model(make("wals", n_epochs=2).fit(data), tmp_path / "m.npz", data=data,
                       extra={"data": str(folder), "split": "none", "seed": 0})  # fmt: skip
    user, item = str(data.user_ids[0]), str(data.item_ids[0])
    assert main(["recommend", "--model", str(model), "--user", user, "-n", "3", "--stored-data"]) == 0
    assert main(["similar", "--model", str(model), "--item", item, "-n", "3", "--stored-data"]) == 0
    out = capsys.readouterr().out
    assert "Class password expired loud" in out and "Closest to Film" in out
    assert not [
        c for c in out if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F or c == "\u202e"
    ]
    tally("command line", "titles with terminal escape codes", "printed without them")


def test_a_number_too_long_to_read_in_metadata_is_one_line_and_exit_2(model_file, tmp_path, capsys):
    """The fifth re-probe: a 5,000-digit integer in the metadata ended in a traceback (Python's limit on
    integer strings raises ValueError, not a JSON error)."""
    path = with_extra_json(model_file, tmp_path / "long.npz", b"9" * 5_000)
    err = one_line_refusal(["recommend", "--model", str(path), "--user", "1"], capsys)
    assert "number too long" in err
    tally("model files", "a 5,000-digit number in metadata", "one line, exit 2")
