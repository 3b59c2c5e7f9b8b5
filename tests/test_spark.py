"""The Spark backend: Spark's ALS on local[2], its factors imported into our models.

The tests that run Spark share one session (module fixture) and are skipped, with the reason, only when
pyspark or a Java 17 runtime is missing; the others check the refusals and run everywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recengine.cli import main
from recengine.data.dataset import RatingsDataset
from recengine.data.synthetic import movielens_like
from recengine.errors import RecEngineError
from recengine.evaluation.metrics import evaluate
from recengine.evaluation.split import split_by_spec
from recengine.models import implicit
from recengine.models.foldin import fold_in
from recengine.models.scoring import score_matrix
from recengine.serving.cluster import cluster_factors, project
from recengine.serving.recommend import recommend, similar_items
from recengine.spark import (
    SparkRunner,
    SparkSettings,
    SparkUnavailableError,
    check_available,
    codes_of,
    factor_table,
    id_space,
    imported_model,
    java_executable,
    spark_params,
)
from recengine.store import load_model


def _missing_spark() -> str | None:
    try:
        check_available()
    except SparkUnavailableError as error:
        return str(error)
    return None


MISSING = _missing_spark()


def needs_spark(test):
    """Mark a test ``spark`` and skip it, saying why, when Spark cannot run here."""
    return pytest.mark.spark(
        pytest.mark.skipif(MISSING is not None, reason=f"Spark cannot run here: {MISSING}")(test)
    )


@pytest.fixture(scope="module")
def spark():
    if MISSING is not None:
        pytest.skip(f"Spark cannot run here: {MISSING}")
    settings = SparkSettings(
        blocks=1,
        driver_memory="1g",
        java_options="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",  # a short-lived JVM: quick JIT, small GC
        conf={"spark.sql.shuffle.partitions": "2"},
    )
    with SparkRunner(settings) as runner:
        yield runner


@pytest.fixture(scope="module")
def frame():
    return movielens_like(n_users=120, n_items=80, n_ratings=3000, seed=3, min_per_user=10)


@pytest.fixture(scope="module")
def sides(frame) -> tuple[RatingsDataset, RatingsDataset]:
    data = RatingsDataset.from_frame(frame, user="userId", item="movieId", rating="rating", name="small")
    return split_by_spec(data, "random:0.2", 0)


def _predictions(spark_model, runner, users, items) -> np.ndarray:
    """Spark's own predictions for (user, item) pairs, in their order (pairs handed over as Parquet)."""
    path = runner.scratch / f"pairs-{len(list(runner.scratch.glob('pairs-*')))}.parquet"
    position = np.arange(len(users), dtype=np.int32)
    columns = {"user": np.asarray(users, np.int32), "item": np.asarray(items, np.int32), "position": position}
    pq.write_table(pa.table(columns), path)
    pairs = runner.session.read.parquet(path.as_uri())
    table = spark_model.transform(pairs).orderBy("position").toArrow()
    return table.column("prediction").to_numpy().astype(np.float64)


# --- with Spark -----------------------------------------------------------------------------------------


@needs_spark
def test_imported_als_predicts_what_spark_predicts_and_folds_in_as_spark_solves(spark, sides, tmp_path):
    train, test = sides
    fitted = spark.fit(train, "als", n_factors=5, reg=0.1, n_epochs=4, seed=1)
    model = fitted.model
    assert (model.name, model.params.biases, model.params.weighted_reg) == ("als", False, True)
    assert fitted.mean == model.global_mean_ == 0.0  # Spark fits the raw ratings: r ≈ p·q
    users = np.concatenate([train.user_codes, test.user_codes])
    items = np.concatenate([train.item_codes, test.item_codes])
    theirs = _predictions(fitted.spark_model, spark, users, items)
    known = ~np.isnan(theirs)  # pairs whose user or item Spark never saw in training: NaN (cold start)
    assert known.mean() > 0.9
    ours = model.predict(users, items)
    np.testing.assert_allclose(ours[known], train.scale.clip(theirs[known] + fitted.mean), atol=2e-5)
    # Spark's last half-step solves every user against the final items with λ·n: fold-in solves the same.
    for user in (0, 7, 42):
        mine = train.user_codes == user
        vector = fold_in(model, train.item_codes[mine], train.ratings[mine])
        np.testing.assert_allclose(vector.factors, model.user_factors_[user], rtol=1e-3, atol=1e-4)
    # Measured on this split with seeds 1-3: the first epoch's train RMSE 0.58-0.60, test RMSE 0.91-0.92
    # (0.83-0.92 over split seeds 0-2), where the mean rating scores 0.958 and the baseline 0.840.
    assert model.history_[0].train_rmse < 0.65 and np.isfinite(model.history_[0].total_loss)
    _serves_every_page(fitted, train, test, tmp_path)


def _serves_every_page(fitted, train, test, folder) -> None:
    """What the pages and the use commands call, on the imported model and on its saved-and-loaded copy."""
    loaded = load_model(fitted.save(folder / "imported.npz", extra={"backend": "spark"}), data=train)
    np.testing.assert_array_equal(
        loaded.predict(test.user_codes, test.item_codes),
        fitted.model.predict(test.user_codes, test.item_codes),
    )
    for model in (fitted.model, loaded):
        report = evaluate(model, train, test, k=5)
        assert 0.85 < report["rmse"] < 0.95 and 0 <= report["precision@5"] <= 1  # the mean rating: 0.958
        user = train.user_ids[0]
        assert len(recommend(model, train, user=user, n=5)) == 5
        assert len(similar_items(model, train, train.item_ids[0], n=3)) == 3
        assert np.unique(cluster_factors(model, "users", 3).labels).tolist() == [0, 1, 2]
        assert project(model, "items", "pca").coords.shape == (train.n_items, 2)


@needs_spark
def test_imported_wals_ranks_as_spark_recommends_for_all_users(spark, sides, monkeypatch):
    train, _ = sides
    fitted = spark.fit(train, "wals", n_factors=6, reg=0.05, alpha=3.0, n_epochs=4, seed=2)
    model = fitted.model
    assert (model.kind, model.params.weighted_reg, model.params.solver) == ("ranking", True, "cholesky")
    k = 8
    table = fitted.spark_model.recommendForAllUsers(k).toArrow().to_pylist()
    spark_top = {row["user"]: [r["item"] for r in row["recommendations"]] for row in table}
    users = np.array(sorted(spark_top))
    scores = score_matrix(model, users)
    for row, user in enumerate(users):
        ours = np.argsort(-scores[row], kind="stable")[:k]
        theirs = np.array(spark_top[user])
        if not np.array_equal(ours, theirs):  # only near-ties (float32 rounding) may swap places
            np.testing.assert_allclose(scores[row][ours], scores[row][theirs], atol=1e-5)
    monkeypatch.setattr(implicit, "FOLD_IN_RATINGS", 1)  # no extra confidence for few ratings: as trained
    user = 3
    mine = train.user_codes == user
    vector = fold_in(model, train.item_codes[mine], train.ratings[mine])
    np.testing.assert_allclose(vector.factors, model.user_factors_[user], rtol=1e-3, atol=1e-4)


@needs_spark
def test_a_file_spark_reads_itself_lands_in_the_local_id_space(spark, sides, frame, tmp_path):
    train, _ = sides
    path = tmp_path / "train.csv"
    rows = train.to_frame().rename(columns={"user": "userId", "item": "movieId"})
    rows[["userId", "movieId", "rating"]].to_csv(path, index=False)
    fitted = spark.fit(str(path), "als", data=train, center=True, n_factors=4, reg=0.1, n_epochs=3)
    model = fitted.model
    assert model.fingerprint_ == train.fingerprint and fitted.mean == pytest.approx(train.ratings.mean())
    raw = _predictions(
        fitted.spark_model, spark, train.user_ids[train.user_codes], train.item_ids[train.item_codes]
    )
    ours = model.predict(train.user_codes, train.item_codes)
    np.testing.assert_allclose(ours, train.scale.clip(raw + fitted.mean), atol=2e-5)
    # Without a local copy, the model lives in the ids Spark saw.
    users, items = factor_table(fitted.spark_model.userFactors), factor_table(fitted.spark_model.itemFactors)
    space = id_space(users[0], items[0], train.scale, str(path))
    alone = imported_model(
        "als", model.params, space, users, items, spark_ids="ids", mean=fitted.mean, seconds=1.0
    )
    codes = codes_of(train.user_ids[train.user_codes], space.user_ids, "user")
    item_codes = codes_of(train.item_ids[train.item_codes], space.item_ids, "item")
    np.testing.assert_allclose(alone.predict(codes, item_codes), ours, atol=1e-6)
    assert np.isnan(alone.history_[0].total_loss)


@needs_spark
def test_cli_trains_on_spark_saves_a_model_and_recommends_from_it(
    spark, frame, tmp_path, capsys, monkeypatch
):
    data_file, model_file = tmp_path / "ratings.csv", tmp_path / "als-spark.npz"
    frame.to_csv(data_file, index=False)
    argv = ["train", "--backend", "spark", "--data", str(data_file), "--algo", "als", "--factors", "4",
            "--epochs", "3", "--reg", "0.1", "--split", "random:0.2", "--json", "--out", str(model_file)]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["algo"] == "als" and report["params"]["biases"] is False
    assert report["history"][0]["extra"]["spark"] == 1.0
    # 4 factors, 3 epochs, seeds 1-3 on split seeds 0-2: test RMSE 0.83-0.91; the mean rating scores 0.95-0.96
    assert 0.8 < report["test"]["rmse"] < 0.95 and report["out"] == str(model_file)
    user = str(int(frame["userId"].iloc[0]))
    monkeypatch.chdir(tmp_path)  # a model file names its data by the file's name alone, never its folders
    assert (
        main(["recommend", "--model", str(model_file), "--user", user, "-n", "5", "--json", "--stored-data"])
        == 0
    )
    items = json.loads(capsys.readouterr().out)["items"]
    assert len(items) == 5


# --- without Spark --------------------------------------------------------------------------------------


def test_hyperparameters_spark_cannot_honour_are_refused():
    with pytest.raises(RecEngineError, match="no biases"):
        spark_params("als", biases=True)
    with pytest.raises(RecEngineError, match="weighted_reg=True"):
        spark_params("wals", weighted_reg=False)
    with pytest.raises(RecEngineError, match="als, wals"):
        spark_params("sgd")
    params = spark_params("wals", n_factors=12)
    assert (params.reg, params.weighted_reg, params.dtype, params.n_factors) == (0.1, True, "float32", 12)


def test_a_missing_java_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SparkUnavailableError, match="openjdk-17-jre-headless"):
        java_executable()


def test_importing_recengine_does_not_need_pyspark():
    code = (
        "import sys; sys.modules['pyspark'] = None\n"
        "import recengine, recengine.spark, recengine.cli.train\n"
        "from recengine.spark import check_available, SparkUnavailableError\n"
        "try:\n    check_available()\nexcept SparkUnavailableError as error:\n    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'recengine[spark]'" in done.stdout


def test_cli_refuses_spark_for_other_algorithms_and_spark_flags_without_spark(capsys):
    assert main(["train", "--backend", "spark", "--algo", "sgd"]) == 2
    assert "als, wals" in capsys.readouterr().err
    assert main(["train", "--algo", "als", "--spark-master", "local[2]"]) == 2
    assert "--backend spark" in capsys.readouterr().err


@needs_spark
def test_on_a_cluster_master_local_ratings_travel_through_arrow(spark, sides, monkeypatch):
    """Executors elsewhere cannot read our scratch folder: the ratings go to Spark in memory, and Spark learns
    from them what it learns from the Parquet file it reads on local[N]."""
    train, _ = sides
    settings = dict(center=True, n_factors=3, reg=0.1, n_epochs=2, seed=1)
    on_disk = spark.fit(train, "als", **settings)
    written = set(spark.scratch.glob("ratings-*"))
    monkeypatch.setattr(SparkSettings, "is_local", property(lambda self: False))
    in_memory = spark.fit(train, "als", **settings)
    assert set(spark.scratch.glob("ratings-*")) == written  # no file for the executors this time
    assert in_memory.mean == on_disk.mean == pytest.approx(train.ratings.mean())
    np.testing.assert_allclose(
        in_memory.model.item_factors_, on_disk.model.item_factors_, rtol=1e-4, atol=1e-5
    )
