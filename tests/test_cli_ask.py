"""``recengine ask`` and the answers files it shares with ``recengine recommend --ratings``."""

from __future__ import annotations

import json

import pytest

from recengine.cli import main
from recengine.data import load_bundled
from recengine.models import make
from recengine.store import save_model

FORREST_GUMP, SHAWSHANK, PULP_FICTION, SILENCE, MATRIX = 356, 318, 296, 593, 2571  # the most rated, in order
TOY_STORY, JUMANJI, HEAT = 1, 2, 6


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ask")
    data = load_bundled()
    model = make("wals", n_factors=8, n_epochs=3).fit(data)
    return save_model(model, folder / "wals.npz", data=data, extra={"data": None, "split": "none", "seed": 0})


def _ask(capsys, *argv):
    assert main(["ask", *argv]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_a_newcomer_without_answers_is_asked_about_the_most_rated_films(model_file, capsys):
    payload = _ask(capsys, "--model", str(model_file), "--strategy", "popularity", "-n", "3", "--json")
    assert [row["item"] for row in payload["items"]] == [FORREST_GUMP, SHAWSHANK, PULP_FICTION]
    assert payload["items"][0]["title"] == "Forrest Gump (1994)"
    assert "54% of people here rated it" in payload["items"][0]["why"]
    assert payload["rated"] == 0 and payload["not_seen"] == 0


def test_answers_rated_or_not_seen_are_never_asked_again(model_file, capsys, tmp_path):
    with_header = tmp_path / "with_header.csv"
    with_header.write_text(f"item,rating\n{FORREST_GUMP},4.5\n{SHAWSHANK},\n{PULP_FICTION},2\n99999999,3\n")
    bare = tmp_path / "bare.csv"
    bare.write_text(f"{FORREST_GUMP},4.5\n{SHAWSHANK},\n{PULP_FICTION},2\n")
    popular = _ask(capsys, "--model", str(model_file), "--answers", str(bare), "--strategy", "popularity",
                   "-n", "2", "--json")  # fmt: skip
    assert [row["item"] for row in popular["items"]] == [SILENCE, MATRIX]
    assert popular["rated"] == 2 and popular["not_seen"] == 1
    assert main(["ask", "--model", str(model_file), "--answers", str(with_header), "-n", "20", "--json"]) == 0
    captured = capsys.readouterr()
    assert "Skipped 1 item id(s) the data set lacks: 99999999." in captured.err
    adaptive = json.loads(captured.out)
    asked = {row["item"] for row in adaptive["items"]}
    assert len(asked) == 20 and not asked & {FORREST_GUMP, SHAWSHANK, PULP_FICTION}
    assert all(row["why"] for row in adaptive["items"])
    same = _ask(capsys, "--model", str(model_file), "--answers", str(bare), "-n", "20", "--json")
    assert same == adaptive  # a header, or an id the data set lacks, changes nothing


def test_ask_as_text(model_file, capsys):
    assert main(["ask", "--model", str(model_file), "-n", "2", "--strategy", "popularity-entropy"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Next 2 films to ask about (popularity-entropy; 0 rated, 0 not seen so far")
    assert lines[1].startswith("  1. ") and "opinions of it differ" in lines[2]


def test_recommend_leaves_out_the_films_not_seen(model_file, capsys, tmp_path):
    rated = f"{TOY_STORY},5\n{JUMANJI},4\n{HEAT},3\n"
    plain, with_skips = tmp_path / "plain.csv", tmp_path / "skips.csv"
    plain.write_text("item,rating\n" + rated)
    with_skips.write_text("item,rating,title\n" + rated + f"{FORREST_GUMP},,Forrest Gump\n{MATRIX},,\n")
    lists = []
    for path in (plain, with_skips):
        assert (
            main(["recommend", "--model", str(model_file), "--ratings", str(path), "-n", "5", "--json"]) == 0
        )
        lists.append(json.loads(capsys.readouterr().out)["items"])
    assert lists[0] == lists[1] and len(lists[0]) == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("item,rating\n1,abc\n", "line 2: the rating is not a number (leave it empty"),
        ("1,9\n", "line 1: the rating is off the data set's scale 0.5..5"),
        ("1,4\n2\n", "line 2: write item,rating (an empty rating for a film not seen)"),
        ("movie,stars\n1,5\n", "Write a header line item,rating"),
        ("99999999,4\n", "None of the 1 item ids"),
    ],
)
def test_bad_answers_files_are_one_line_and_status_2(model_file, capsys, tmp_path, content, message):
    path = tmp_path / "answers.csv"
    path.write_text(content)
    for command in (["ask", "--answers"], ["recommend", "--ratings"]):
        assert main([command[0], "--model", str(model_file), command[1], str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err


def test_an_answers_file_is_never_quoted(model_file, capsys, tmp_path):
    """A path given by mistake (a secrets file) must not be printed back: no message quotes a line of it."""
    for content in ("API_KEY=hunter2\n", "key,secret\nAPI_KEY,hunter2\n", "1,hunter2\n"):
        path = tmp_path / ".env"
        path.write_text(content)
        for command in (["ask", "--answers"], ["recommend", "--ratings"]):
            assert main([command[0], "--model", str(model_file), command[1], str(path)]) == 2
            captured = capsys.readouterr()
            assert (
                "hunter2" not in captured.err + captured.out and "API_KEY" not in captured.err + captured.out
            )


def test_a_missing_answers_file_is_named(model_file, capsys, tmp_path):
    assert main(["ask", "--model", str(model_file), "--answers", str(tmp_path / "nowhere.csv")]) == 2
    assert "There is no answers file at" in capsys.readouterr().err
