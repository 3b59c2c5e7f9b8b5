"""``recengine train``: flags onto hyperparameters, JSON report, progress on stderr, refusals, saved models."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recengine.cli import main
from recengine.data import load
from recengine.evaluation.split import split_by_spec
from recengine.store import load_model, read_metadata


@pytest.fixture(scope="module")
def ratings_csv(tmp_path_factory):
    """A small ratings file: 60 users × 40 items, 40% rated, on the 1..5 scale."""
    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((60, 40)) < 0.4)
    taste = rng.normal(size=(60, 2)) @ rng.normal(size=(2, 40))
    stars = np.clip(np.round(3 + taste[users, items]), 1, 5)
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    pd.DataFrame({"userId": users + 1, "movieId": items + 100, "rating": stars}).to_csv(path, index=False)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["train", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_json_report_has_the_promised_fields(ratings_csv, capsys):
    status, out, err = run(capsys, "--data", str(ratings_csv), "--algo", "als", "--factors", "3",
                           "--epochs", "4", "--reg", "0.2", "--no-biases", "--seed", "5", "--json")  # fmt: skip
    assert status == 0
    report = json.loads(out)
    assert report["algo"] == "als" and report["epochs_run"] == 4 and len(report["history"]) == 4
    assert (
        report["params"] | {"n_factors": 3, "n_epochs": 4, "reg": 0.2, "biases": False, "seed": 5}
        == report["params"]
    )
    assert report["fit_seconds"] > 0
    assert {"epoch", "seconds", "total_loss", "train_rmse"} <= set(report["history"][0])
    # seeds 0-4: test RMSE 0.41-0.50, where the mean rating scores 1.06-1.14 and the baseline 1.09-1.14
    assert 0.3 < report["test"]["rmse"] < 0.6 and 0 < report["test"]["mae"] <= report["test"]["rmse"]
    assert report["train_ratings"] + report["test_ratings"] == len(pd.read_csv(ratings_csv))
    assert err.count("als epoch") == 4  # progress on stderr, one line per epoch


def test_the_split_and_the_seed_decide_the_test_side(ratings_csv, capsys):
    def report(spec: str) -> dict:
        argv = ("--data", str(ratings_csv), "--algo", "baseline", "--split", spec, "--seed", "1", "--json")
        return json.loads(run(capsys, *argv)[1])

    first, again, whole = report("random:0.3"), report("random:0.3"), report("none")
    assert first["test"] == again["test"] and first["test_ratings"] == again["test_ratings"]
    assert first["test_ratings"] == split_by_spec(load(str(ratings_csv)), "random:0.3", 1)[1].n_ratings
    assert whole["test_ratings"] == 0 and whole["test"] == {"rmse": None, "mae": None}


def test_param_sets_any_other_hyperparameter(ratings_csv, capsys):
    status, out, _ = run(capsys, "--data", str(ratings_csv), "--algo", "nmf", "--factors", "2", "--epochs",
                         "3", "--param", "mode=zero_filled", "--param", "init=random",
                         "--param", "weighted_reg=false", "--json")  # fmt: skip
    assert status == 0
    params = json.loads(out)["params"]
    assert (params["mode"], params["init"], params["weighted_reg"]) == ("zero_filled", "random", False)


def test_ranking_models_report_ranking_metrics_and_null_rating_metrics(ratings_csv, capsys):
    status, out, _ = run(capsys, "--data", str(ratings_csv), "--algo", "popular", "--json")
    assert status == 0
    test = json.loads(out)["test"]
    assert test["rmse"] is None and test["mae"] is None
    assert 0 <= test["precision@10"] <= 1 and 0 <= test["ndcg@10"] <= 1 and test["users"] > 0
    status, out, _ = run(capsys, "--data", str(ratings_csv), "--algo", "popular")
    assert status == 0 and "test P@10 " in out


def test_text_summary_without_json(ratings_csv, capsys):
    status, out, _ = run(capsys, "--data", str(ratings_csv), "--algo", "svd", "--factors", "2")
    assert status == 0
    assert out.startswith("svd: 1 epochs in") and "test RMSE" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--algo", "als", "--factors", "0"], "n_factors=0 is not allowed: n_factors must be an integer ≥ 1"),
        (["--algo", "als", "--lr", "0.1"], "als has no parameter lr (from --lr); its parameters are seed, "),
        (["--algo", "baseline", "--no-biases", "--factors", "3"], "baseline has no parameter n_factors"),
        (["--algo", "nmf", "--param", "mode=dense"], "mode='dense' is not allowed: mode must be one of"),
        (["--algo", "nmf", "--param", "reg=much"], "reg='much' is not allowed: reg must be a number ≥ 0"),
        (["--algo", "nmf", "--param", "weighted_reg=maybe"], "weighted_reg='maybe' is not allowed"),
        (["--algo", "nmf", "--param", "colour=red"], "nmf has no parameter colour (from --param)"),
        (["--algo", "nmf", "--param", "reg"], "--param='reg' is not allowed: --param must be NAME=VALUE"),
        (["--algo", "nmf", "--param", "biases=true", "--param", "mode=zero_filled"], "biases=True is not"),
        (["--algo", "als", "--split", "half"], "split='half' is not allowed"),
        (["--algo", "als", "--train", "a.csv"], "Give both --train FILE and --test FILE"),
        (["--algo", "alss"], "invalid choice: 'alss'"),
    ],
)
def test_mistakes_exit_with_status_2_and_one_line(ratings_csv, capsys, argv, message):
    with_data = ["--data", str(ratings_csv), *argv] if "--train" not in argv else argv
    try:
        status = main(["train", *with_data])
    except SystemExit as exit_:  # argparse refusals exit from inside main
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_out_saves_a_model_that_predicts_the_same(ratings_csv, capsys, tmp_path, monkeypatch):
    target = tmp_path / "model.npz"
    status, out, _ = run(capsys, "--data", str(ratings_csv), "--algo", "als", "--factors", "3",
                         "--epochs", "2", "--out", str(target), "--json")  # fmt: skip
    assert status == 0 and json.loads(out)["out"] == str(target)
    metadata = read_metadata(target)
    assert metadata["extra"] == {"data": ratings_csv.name, "split": "user:0.2", "seed": 0}
    assert metadata["metrics"]["rmse"] == pytest.approx(json.loads(out)["test"]["rmse"])
    train, test = split_by_spec(load(str(ratings_csv)), "user:0.2", 0)
    model = load_model(target)
    monkeypatch.chdir(ratings_csv.parent)  # --stored-data opens the recorded name in the working folder
    refit = main(["evaluate", "--model", str(target), "--split", "user:0.2", "--stored-data", "--json"])
    assert refit == 0
    evaluated = json.loads(capsys.readouterr().out)
    predicted = model.predict(test.user_codes, test.item_codes)
    assert evaluated["rmse"] == pytest.approx(np.sqrt(np.mean((test.ratings - predicted) ** 2)))
    assert train.fingerprint == metadata["fingerprint"]


def test_movielens_100k_u1_base_and_test(ml100k_path, capsys):
    status, out, _ = run(capsys, "--train", str(ml100k_path / "u1.base"), "--test",
                         str(ml100k_path / "u1.test"), "--algo", "als", "--json")  # fmt: skip
    assert status == 0
    report = json.loads(out)
    assert (report["train_ratings"], report["test_ratings"]) == (80_000, 20_000)
    assert report["test"]["rmse"] < 0.935  # tuned als on u1 (the hardest of the five folds): 0.926


def test_a_model_file_records_its_datas_name_not_its_authors_folders(ratings_csv, capsys, tmp_path):
    """The third re-probe: ``extra.data`` held the training data's absolute path (``/tmp/probe3/cli/evil``),
    so a model file shared in the class chat told its author's folders and account name."""
    target, folder = tmp_path / "model.npz", str(ratings_csv.resolve().parent)
    status, _, _ = run(capsys, "--data", f"csv:{ratings_csv}", "--algo", "baseline", "--out", str(target))
    assert status == 0 and read_metadata(target)["extra"]["data"] == f"csv:{ratings_csv.name}"
    train, test = str(tmp_path / "train.csv"), str(tmp_path / "test.csv")
    split = split_by_spec(load(str(ratings_csv)), "user:0.2", 0)
    for part, path in zip(split, (train, test), strict=True):
        part.to_frame().to_csv(path, index=False)
    status, _, _ = run(capsys, "--train", train, "--test", test, "--algo", "baseline", "--out", str(target))
    extra = read_metadata(target)["extra"]
    assert status == 0 and (extra["train"], extra["test"]) == ("train.csv", "test.csv")
    assert folder not in json.dumps(read_metadata(target)) and str(tmp_path) not in json.dumps(extra)
