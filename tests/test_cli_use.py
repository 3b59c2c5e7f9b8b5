"""The recommend, similar and evaluate commands on saved models."""

from __future__ import annotations

import json
import math

import pytest

from recengine.cli import main
from recengine.data import load_bundled
from recengine.evaluation.split import split_by_spec
from recengine.models import make
from recengine.store import save_model

HORROR_IDS = (1982, 1258, 1997, 2288)  # Halloween, The Shining, The Exorcist, The Thing


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    data = load_bundled()
    train, test = split_by_spec(data, "user:0.2", 3)
    ranking = save_model(make("wals").fit(train), folder / "wals.npz", data=train,
                         extra={"data": None, "split": "user:0.2", "seed": 3})  # fmt: skip
    rating = save_model(make("baseline").fit(train), folder / "baseline.npz", data=train,
                        extra={"data": None, "split": "user:0.2", "seed": 3})  # fmt: skip
    everything = save_model(make("baseline").fit(data), folder / "full.npz", data=data,
                            extra={"data": None, "split": "none", "seed": 0})  # fmt: skip
    test_file = folder / "test.csv"
    test.to_frame().to_csv(test_file, index=False)
    return {"wals": ranking, "baseline": rating, "full": everything, "test": test_file, "folder": folder}


def _json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_recommend_for_ratings_in_a_file(saved, capsys):
    ratings = saved["folder"] / "mine.csv"
    ratings.write_text("item,rating\n" + "".join(f"{i},5\n" for i in HORROR_IDS))
    payload = _json(
        capsys, "recommend", "--model", str(saved["wals"]), "--ratings", str(ratings), "-n", "4", "--json"
    )
    items = payload["items"]
    assert len(items) == 4 and not {row["item"] for row in items} & set(HORROR_IDS)
    assert {"item", "title", "score", "because", "explanation"} <= set(items[0])
    assert any("Horror" in row["genres"] for row in items)
    by_score = _json(capsys, "recommend", "--model", str(saved["wals"]), "--ratings", str(ratings), "-n", "4",
                     "--taste", "0", "--json")["items"]  # fmt: skip
    assert by_score[0]["score"] >= by_score[-1]["score"]
    assert [row["model_rank"] for row in by_score] == [1, 2, 3, 4]
    places = [row["model_rank"] for row in items]  # re-ranked by genre: where the score alone put them
    assert all(isinstance(p, int) and p >= 1 for p in places) and len(set(places)) == 4
    assert main(["recommend", "--model", str(saved["wals"]), "--ratings", str(ratings), "-n", "4"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line[:3].strip().isdigit()]
    for rank, (line, place) in enumerate(zip(lines, places, strict=True), start=1):
        assert (f"(the model's #{place})" in line) == (place != rank), line


def test_recommend_for_a_known_user_as_text(saved, capsys):
    assert main(["recommend", "--model", str(saved["baseline"]), "--user", "1", "-n", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Top 3 for user 1 (baseline)" and out[1].startswith("  1. ") and "★" in out[1]


def test_similar_items(saved, capsys):
    payload = _json(capsys, "similar", "--model", str(saved["wals"]), "--item", "1", "-n", "5", "--json")
    assert len(payload["items"]) == 5 and all(row["item"] != 1 for row in payload["items"])
    assert all(isinstance(row["year"], int) for row in payload["items"])  # 1995, not 1995.0
    assert all(-1 <= row["score"] <= 1 for row in payload["items"])


@pytest.mark.slow
def test_evaluate_on_the_split_and_on_a_test_file_agree(saved, capsys):
    split = _json(
        capsys, "evaluate", "--model", str(saved["wals"]), "--split", "user:0.2", "-k", "5", "--json"
    )
    assert {"rmse", "mae", "precision@5", "recall@5", "ndcg@5", "coverage", "k"} <= set(split)
    assert split["k"] == 5 and split["rmse"] is None and 0 < split["precision@5"] <= 1
    by_file = _json(capsys, "evaluate", "--model", str(saved["wals"]), "--test", str(saved["test"]), "-k", "5",
                    "--json")  # fmt: skip
    assert by_file["precision@5"] == pytest.approx(split["precision@5"])
    rating = _json(
        capsys, "evaluate", "--model", str(saved["baseline"]), "--test", str(saved["test"]), "--json"
    )
    assert 0.85 < rating["rmse"] < 0.9 and "precision@10" in rating  # user:0.2 seeds 0-3: 0.869-0.875


def test_mistakes_are_one_line_and_status_2(saved, capsys, tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(saved["wals"].read_bytes()[:500])
    bad_columns = tmp_path / "bad.csv"
    bad_columns.write_text("movie,stars\n1,5\n")
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("item,rating\n99999999,5\n")
    cases = [
        (["recommend", "--model", str(broken), "--user", "1"], "truncated or corrupted"),
        (["recommend", "--model", str(saved["wals"]), "--ratings", str(bad_columns)], "item,rating"),
        (["recommend", "--model", str(saved["wals"]), "--ratings", str(unknown)], "item ids in"),
        (
            ["evaluate", "--model", str(saved["full"]), "--split", "user:0.2"],
            "it was trained with split 'none'",
        ),
        (["evaluate", "--model", str(saved["full"]), "--test", str(saved["test"])], "model's training data"),
        (
            ["similar", "--model", str(saved["wals"]), "--item", "1", "--data", str(saved["test"])],
            "another data",
        ),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err


def test_models_trained_on_predefined_files_can_be_used_afterwards(
    ml100k_path, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "u1.npz"
    train, test = str(ml100k_path / "u1.base"), str(ml100k_path / "u1.test")
    assert main(["train", "--algo", "baseline", "--train", train, "--test", test, "--out", str(out)]) == 0
    capsys.readouterr()
    monkeypatch.chdir(ml100k_path)  # the model file names u1.base and u1.test, not their folder
    assert main(["recommend", "--model", str(out), "--user", "1", "-n", "3", "--json"]) == 2
    assert "--stored-data" in capsys.readouterr().err  # files a model names are opened only when asked
    assert main(["recommend", "--model", str(out), "--user", "1", "-n", "3", "--json", "--stored-data"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 3
    assert main(["evaluate", "--model", str(out), "--test", test, "--json", "--stored-data"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["test_ratings"] == 20_000 and 0.93 < report["rmse"] < 0.97  # 0.960 (u1-u5: 0.938-0.960)


def test_evaluate_uses_the_stored_split_and_says_which_one_a_model_was_trained_with(saved, capsys):
    stored = _json(capsys, "evaluate", "--model", str(saved["wals"]), "-k", "5", "--json")
    split = _json(
        capsys, "evaluate", "--model", str(saved["wals"]), "--split", "user:0.2", "-k", "5", "--json"
    )
    assert stored["precision@5"] == pytest.approx(split["precision@5"])
    assert main(["evaluate", "--model", str(saved["wals"]), "--split", "random:0.2"]) == 2
    err = capsys.readouterr().err
    assert "trained with split 'user:0.2' and seed 3; leave out --split and --seed" in err


def test_recommend_can_leave_out_rarely_rated_items(saved, capsys):
    payload = _json(capsys, "recommend", "--model", str(saved["baseline"]), "--user", "1", "--min-ratings", "50",
                    "--json")  # fmt: skip
    counts = load_bundled().item_counts()
    codes = [load_bundled().item_code(row["item"]) for row in payload["items"]]
    assert len(codes) == 10 and all(counts[code] >= 50 for code in codes)


def test_unknown_ids_in_a_ratings_file_are_skipped_with_a_note(saved, capsys):
    ratings = saved["folder"] / "partly.csv"
    ratings.write_text("item,rating\n" + "".join(f"{i},5\n" for i in HORROR_IDS) + "99999999,4\nabc,3\n")
    assert main(["recommend", "--model", str(saved["wals"]), "--ratings", str(ratings), "-n", "3"]) == 0
    captured = capsys.readouterr()
    assert "Skipped 2 item id(s) the data set lacks: 99999999, abc." in captured.err
    assert "for the 4 ratings" in captured.out and captured.out.count("  1. ") == 1


def test_clusters_lists_groups_with_sizes_and_favourites(saved, capsys):
    payload = _json(capsys, "clusters", "--model", str(saved["wals"]), "-k", "4", "-n", "3", "--json")
    groups = payload["clusters"]
    assert [g["cluster"] for g in groups] == [0, 1, 2, 3]
    assert sum(g["size"] for g in groups) == 610 and all(1 <= len(g["favourites"]) <= 3 for g in groups)
    assert main(["clusters", "--model", str(saved["wals"]), "-k", "3"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("3 groups of users (wals)") and text[1].startswith("  group 0: ")
    assert main(["clusters", "--model", str(saved["wals"]), "-k", "1"]) == 2
    assert "n_clusters=1 is not allowed" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_new_users_refits_on_the_other_users_and_reports_beyond_accuracy(saved, capsys):
    report = _json(capsys, "evaluate", "--model", str(saved["wals"]), "--protocol", "new-user", "--given", "10",
                   "--calibration", "0.4", "--json")  # fmt: skip
    assert report["protocol"] == "new-user" and report["given"] == 10 and report["users"] > 30
    for key in ("recall@20", "ndcg@100", "coverage", "popularity", "personalization", "miscalibration"):
        assert math.isfinite(report[key]) and math.isfinite(report["most_popular"][key]), key
    assert report["recall@20"] > report["most_popular"]["recall@20"]
    assert report["personalization"] > report["most_popular"]["personalization"]


def test_evaluate_new_users_refuses_a_bad_calibration_weight(saved, capsys):
    argv = ["evaluate", "--model", str(saved["wals"]), "--protocol", "new-user", "--calibration", "2"]
    assert main(argv) == 2
    assert "λ" in capsys.readouterr().err
