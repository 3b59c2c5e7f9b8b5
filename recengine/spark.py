"""Train with Apache Spark's ALS, then bring the factors home as one of our models.

When the ratings outgrow one machine, or already live in a cluster (HDFS, S3, a warehouse), Spark's
``pyspark.ml.recommendation.ALS`` trains where the data is; this module runs it and imports its user and item
factors into an ``als`` or ``wals`` model with our id maps, so ``recommend``, ``evaluate``, fold-in,
``save_model`` and every dashboard page use it like a model trained here::

    from recengine.spark import SparkRunner
    with SparkRunner() as spark:                       # local[2]; SparkSettings(master=...) for a cluster
        fitted = spark.fit(train, "als", n_factors=32, reg=0.05, n_epochs=10)
    fitted.model.rmse(test); fitted.save("als-spark.npz")

What Spark reads: our `RatingsDataset` (handed over as a Parquet file in a scratch folder on a local
master, through Arrow otherwise), or any path Spark can read itself (``hdfs://``, ``s3a://``, a local file):
CSV with a header or Parquet, with user, item and rating columns (names guessed as our loaders do, or given
by ``columns``). Spark's ALS needs whole-number ids that fit in 32 bits.

Hyperparameters keep our names: ``n_factors`` → ``rank``, ``n_epochs`` → ``maxIter``, ``reg`` →
``regParam``, ``alpha`` → ``alpha`` (``wals``), ``seed`` → ``seed``. Regularization differs from the plain
λ of docs/protocols.md: Spark always scales ``regParam`` by the row's number of ratings (ALS-WR; for implicit
feedback, by its number of positive ratings). Our ``als`` does the same with ``weighted_reg`` (its default)
and ``wals`` with ``weighted_reg=True``, so the imported model states the objective Spark minimized:

- ``als`` (explicit ratings): ``weighted_reg=True``, ``biases=False`` (Spark learns no biases). Spark fits
  the raw ratings, r ≈ p·q, so the model's global mean is 0 and its predictions are Spark's own. With
  ``center=True`` Spark is handed r − μ and the model keeps μ: exactly the objective of our ``als`` without
  biases (how ``benchmarks/spark_vs_als.py`` compares the two). Raw ratings usually do better (MovieLens
  100k u1..u5: RMSE 0.926 raw, 0.941 centred, at rank 10, λ 0.1): a factor can carry the mean and biases.
- ``wals`` (``implicitPrefs=True``): ``weighted_reg=True``; confidence 1 + α·r as our ``weighting="rating"``
  (``weighting="binary"`` hands Spark ratings of 1); Spark solves each row exactly (``solver="cholesky"``).

Factors come back in float32, Spark's precision. Spark's random start differs from ours, so the two
engines agree on the objective, not on the last digit of the factors.

Spark's own needs, handled here: a Java 17 runtime (a clear error when ``java`` is missing), a checkpoint
folder (a temporary one, removed on close; a cluster needs a shared one, e.g. ``hdfs:///tmp/ckpt``), a deep
driver stack (``-Xss32m``: ALS's lineage overflows the default stack at about 15 iterations), quiet logs,
no web UI, and ``local[2]`` unless told otherwise. Importing recengine never needs pyspark; this module
imports it only when a session starts (``pip install 'recengine[spark]'``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.errors import (
    BadValuesError,
    EmptyDataError,
    MissingColumnsError,
    ParameterError,
    RecEngineError,
)
from recengine.models import MODELS, Hyperparameters, Recommender
from recengine.training import EpochRecord, History

ALGORITHMS = ("als", "wals")
DEFAULT_MASTER = "local[2]"
INSTALL_PYSPARK = "Install the Spark extra: pip install 'recengine[spark]' (it brings pyspark)."
INSTALL_JAVA = (
    "Spark runs on Java 17. On Debian or Ubuntu: sudo apt-get install openjdk-17-jre-headless; elsewhere "
    "install a Java 17 runtime (for example Eclipse Temurin) and put its java on PATH or set JAVA_HOME."
)
COLUMN_NAMES = {
    "user": ("user", "userid", "user_id"),
    "item": ("item", "itemid", "item_id", "movieid", "movie_id"),
    "rating": ("rating", "ratings", "score"),
}
MAX_SCALE_LEVELS = 100  # distinct rating values collected to infer a rating scale from Spark-read data
LOG4J2 = """\
rootLogger.level = {level}
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = spark %p %c{{1}}: %m%n
logger.shell.name = org.apache.spark.api.python.PythonGatewayServer
logger.shell.level = {level}
"""


class SparkUnavailableError(RecEngineError):
    """pyspark or a suitable Java runtime is missing; the message says how to install it."""


@dataclass(frozen=True)
class SparkSettings:
    """How to start Spark. ``conf`` entries (any ``spark.*`` key) are applied last and win."""

    master: str = DEFAULT_MASTER
    driver_memory: str = "4g"
    stack_size: str = "32m"
    checkpoint_dir: str | None = None  # None: a temporary folder on a local master; a cluster needs one
    checkpoint_interval: int = 10
    blocks: int | None = None  # ALS user and item blocks; None: Spark's default (10)
    log_level: str = "ERROR"
    java_options: str = ""  # more driver JVM flags, after -Xss and the log settings
    conf: dict[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.master.startswith("local")


@dataclass
class SparkFit:
    """A model trained by Spark and imported: ``model`` is ours; ``spark_model`` is Spark's ALSModel."""

    model: Recommender
    spark_model: Any
    data: RatingsDataset  # the ratings' id space (the local data set, or ids only for Spark-read data)
    seconds: dict[str, float]
    mean: float  # what was taken off the ratings before Spark saw them (0 without centering)

    def save(self, path: str | os.PathLike, **kwargs: Any) -> Path:
        """`recengine.store.save_model` with this fit's id maps."""
        from recengine.store import save_model

        return save_model(self.model, path, data=self.data, **kwargs)


# --- availability ---------------------------------------------------------------------------------------


def check_available() -> str:
    """The pyspark version, once pyspark imports and a recent enough ``java`` runs; else a clear error."""
    try:
        import pyspark
    except ImportError:
        raise SparkUnavailableError(
            f"The Spark backend needs pyspark, which is not installed. {INSTALL_PYSPARK}"
        ) from None
    needed = 17 if int(pyspark.__version__.split(".")[0]) >= 4 else 8
    found = java_major_version(java_executable())
    if found < needed:
        raise SparkUnavailableError(
            f"pyspark {pyspark.__version__} needs Java {needed} or newer; the java found is version {found}. "
            + INSTALL_JAVA
        )
    return pyspark.__version__


def java_executable() -> str:
    """The ``java`` Spark will start: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise SparkUnavailableError(
            f"Spark needs Java, and no java was found (not on PATH, no JAVA_HOME). {INSTALL_JAVA}"
        )
    return found


def java_major_version(java: str) -> int:
    """17 for ``openjdk version "17.0.15"``, 8 for ``"1.8.0_392"``."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SparkUnavailableError(f"{java} -version failed ({error}). {INSTALL_JAVA}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match is None:
        raise SparkUnavailableError(f"Could not read the Java version from {java} -version. {INSTALL_JAVA}")
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return minor if major == 1 else major


# --- hyperparameters ------------------------------------------------------------------------------------

# What the Spark backend sets when the caller does not: Spark learns no biases, and always weights λ.
BACKEND_DEFAULTS: dict[str, dict[str, Any]] = {
    "als": {"biases": False},
    "wals": {"weighted_reg": True, "reg": 0.1},
}


def spark_params(algo: str, params: Hyperparameters | None = None, **overrides: Any) -> Hyperparameters:
    """Our hyperparameters for a Spark fit: the backend defaults under ``params`` and ``overrides``, checked
    against what Spark can do, with the settings Spark fixes (float32, exact solves) filled in."""
    if algo not in ALGORITHMS:
        raise ParameterError("algo", algo, f"one of {', '.join(ALGORITHMS)} (the models Spark's ALS trains)")
    cls = MODELS[algo].Params
    chosen = params.to_dict() if params is not None else BACKEND_DEFAULTS[algo]
    params = cls.from_dict({**chosen, **overrides})
    if not params.weighted_reg:
        raise RecEngineError(
            "Spark's ALS always scales λ (regParam) by each row's rating count: use weighted_reg=True "
            "and choose reg on that scale (Spark's default is 0.1)."
        )
    if algo == "als" and params.biases:
        raise RecEngineError("Spark's ALS learns no biases: set biases=False (--no-biases).")
    fixed = {"dtype": "float32"} | ({"solver": "cholesky"} if algo == "wals" else {})
    return params.replace(**fixed)


def estimator_arguments(algo: str, params: Hyperparameters, settings: SparkSettings) -> dict[str, Any]:
    """Keyword arguments of ``pyspark.ml.recommendation.ALS`` for our hyperparameters."""
    arguments = {
        "rank": params.n_factors,
        "maxIter": params.n_epochs,
        "regParam": params.reg,
        "seed": params.seed,
        "implicitPrefs": algo == "wals",
        "userCol": "user",
        "itemCol": "item",
        "ratingCol": "rating",
        "checkpointInterval": settings.checkpoint_interval,
        "coldStartStrategy": "nan",
    }
    if algo == "wals":
        arguments["alpha"] = params.alpha
    if settings.blocks:
        arguments |= {"numUserBlocks": settings.blocks, "numItemBlocks": settings.blocks}
    return arguments


@contextlib.contextmanager
def quiet_pyspark() -> Iterator[None]:
    """pyspark 4 warns once that it does not fully support pandas 3; nothing here goes through pandas."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*does not yet fully support pandas", category=FutureWarning
        )
        yield


# --- the session ----------------------------------------------------------------------------------------


class SparkRunner:
    """One Spark session set up for ALS, with a scratch folder (checkpoints, handed-over ratings, log
    settings) that is removed on close. Use it as a context manager.

    A process holds one Spark session: when one is already running (started by another runner, or by the
    caller), the runner borrows it as it is (its master and memory stay), gives it our checkpoint folder for
    its fits, and leaves it running on close.
    """

    def __init__(self, settings: SparkSettings | None = None):
        self.settings = settings or SparkSettings()
        self.session: Any = None
        self.scratch: Path | None = None
        self.checkpoints = ""
        self.borrowed = False
        self.start_seconds = 0.0

    def __enter__(self) -> SparkRunner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        check_available()
        tick = time.perf_counter()
        self.scratch = Path(tempfile.mkdtemp(prefix="recengine-spark-"))
        try:
            self.checkpoints = self._checkpoint_dir()
            with quiet_pyspark():
                from pyspark.sql import SparkSession

                self.session = SparkSession.getActiveSession()
                self.borrowed = self.session is not None
                if not self.borrowed:
                    self.session = self._builder().getOrCreate()
                    self.session.sparkContext.setLogLevel(self.settings.log_level)
        except BaseException:
            self.close()
            raise
        self.start_seconds = time.perf_counter() - tick

    def close(self) -> None:
        if self.session is not None and not self.borrowed:
            self.session.stop()
        self.session = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def _checkpoint_dir(self) -> str:
        chosen = self.settings.checkpoint_dir or self.settings.conf.get("spark.checkpoint.dir")
        if chosen:
            return chosen
        if not self.settings.is_local:
            raise RecEngineError(
                f"On {self.settings.master}, Spark needs a checkpoint folder every executor can reach, "
                "e.g. hdfs:///tmp/recengine-checkpoints: give spark.checkpoint.dir (--spark-conf "
                "spark.checkpoint.dir=URL)."
            )
        return str(self.scratch / "checkpoints")

    def _builder(self) -> Any:
        from pyspark.sql import SparkSession

        settings = self.settings
        log_file = self.scratch / "log4j2.properties"
        log_file.write_text(LOG4J2.format(level=settings.log_level.lower()))
        java_options = f"-Xss{settings.stack_size} -Dlog4j2.configurationFile={log_file.as_uri()}"
        java_options = f"{java_options} {settings.java_options}".strip()
        conf = {
            "spark.driver.memory": settings.driver_memory,
            "spark.driver.extraJavaOptions": java_options,
            "spark.executor.extraJavaOptions": f"-Xss{settings.stack_size}",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.pyspark.python": sys.executable,
        }
        if settings.is_local:
            conf["spark.sql.shuffle.partitions"] = "8"  # 200 tiny tasks cost more than they share on 2 cores
        builder = SparkSession.builder.master(settings.master).appName("recengine")
        for key, value in (conf | settings.conf).items():
            builder = builder.config(key, value)
        return builder

    # --- training ---------------------------------------------------------------------------------------

    def fit(
        self,
        source: RatingsDataset | str | os.PathLike,
        algo: str,
        params: Hyperparameters | None = None,
        *,
        data: RatingsDataset | None = None,
        columns: dict[str, str] | None = None,
        center: bool = False,
        **overrides: Any,
    ) -> SparkFit:
        """Train Spark's ALS on ``source`` and import the factors as our ``algo`` model.

        ``source`` is a `RatingsDataset` or a path Spark reads (CSV with a header, or Parquet). For a path,
        ``data`` may give the same ratings loaded locally: the model then lives in its id space (and
        ``recommend`` can hide what users rated); without it, the ids are those Spark saw and the history's
        losses are unknown. ``params`` and ``overrides`` are our hyperparameter names (see the module
        docstring); ``center`` hands explicit ratings to Spark as r − μ.
        """
        if self.session is None:
            raise RecEngineError("The Spark session is not started: use `with SparkRunner() as spark:`.")
        params = spark_params(algo, params, **overrides)
        center = center and algo == "als"
        binary = algo == "wals" and params.weighting == "binary"
        seconds: dict[str, float] = {"spark_start": self.start_seconds}
        self.session.sparkContext.setCheckpointDir(self.checkpoints)
        tick = time.perf_counter()
        if isinstance(source, RatingsDataset):
            frame, mean = self._handed_over(source, center, binary)
            local, spark_ids = source, "codes"
        else:
            frame, mean, scale = self._read(os.fspath(source), columns, center, binary)
            local, spark_ids = data, "ids"
        seconds["handover"] = time.perf_counter() - tick
        from pyspark.ml.recommendation import ALS

        tick = time.perf_counter()
        spark_model = ALS(**estimator_arguments(algo, params, self.settings)).fit(frame)
        seconds["fit"] = time.perf_counter() - tick
        tick = time.perf_counter()
        users, items = factor_table(spark_model.userFactors), factor_table(spark_model.itemFactors)
        if local is None:
            local = id_space(users[0], items[0], scale, os.fspath(source))
        model = imported_model(
            algo, params, local, users, items, spark_ids=spark_ids, mean=mean, seconds=seconds["fit"]
        )
        seconds["import"] = time.perf_counter() - tick
        model.history_[0].extra.update(
            {f"spark_{name}_seconds": value for name, value in seconds.items()} | {"spark": 1.0}
        )
        return SparkFit(model, spark_model, local, seconds, mean)

    def _handed_over(self, data: RatingsDataset, center: bool, binary: bool) -> tuple[Any, float]:
        """``data`` as a Spark DataFrame of (user code, item code, rating), and the mean taken off."""
        if data.n_ratings == 0:
            raise EmptyDataError("The training set holds no ratings: there is nothing for Spark to learn.")
        import pyarrow as pa

        ratings = np.ones(data.n_ratings, np.float32) if binary else data.ratings
        mean = float(data.ratings.mean(dtype=np.float64)) if center else 0.0
        table = pa.table(
            {
                "user": data.user_codes,
                "item": data.item_codes,
                "rating": (ratings - np.float32(mean)).astype(np.float32),
            }
        )
        if not self.settings.is_local:  # executors elsewhere cannot read our scratch folder: send it
            import pyspark

            arrow_tables = int(pyspark.__version__.split(".")[0]) >= 4  # else through pandas
            with quiet_pyspark():
                return self.session.createDataFrame(table if arrow_tables else table.to_pandas()), mean
        import pyarrow.parquet as pq

        path = (
            self.scratch
            / f"ratings-{data.fingerprint[:12]}-{len(list(self.scratch.glob('ratings-*')))}.parquet"
        )
        pq.write_table(table, path)
        return self.session.read.parquet(path.as_uri()), mean

    def _read(
        self, path: str, columns: dict[str, str] | None, center: bool, binary: bool
    ) -> tuple[Any, float, RatingScale]:
        """Ratings Spark reads itself: (frame of user, item, rating; the mean taken off; the scale)."""
        from pyspark.sql import functions as F

        raw = read_table(self.session, path)
        names = rating_columns(list(raw.columns), columns, path)
        frame = raw.select(*(F.expr(f"try_cast(`{names[r]}` AS {t})").alias(r) for r, t in _TYPES.items()))
        summary = frame.agg(
            F.count(F.lit(1)).alias("rows"),
            *(F.count(F.when(F.col(r).isNull(), 1)).alias(f"bad_{r}") for r in _TYPES),
            F.avg("rating").alias("mean"),
        ).first()
        check_summary(summary, path)
        levels = [row[0] for row in frame.select("rating").distinct().limit(MAX_SCALE_LEVELS + 1).collect()]
        if len(levels) > MAX_SCALE_LEVELS:
            bounds = frame.agg(F.min("rating"), F.max("rating")).first()
            levels = [bounds[0], bounds[1]]
        scale = RatingScale.infer(np.asarray(levels, dtype=np.float64))
        mean = float(summary["mean"]) if center else 0.0
        rating = F.lit(1.0) if binary else F.col("rating") - F.lit(mean)
        return frame.withColumn("rating", rating.cast("float")), mean, scale


_TYPES = {"user": "INT", "item": "INT", "rating": "FLOAT"}


def read_table(session: Any, path: str) -> Any:
    """A CSV (with a header) or Parquet file or folder, as Spark reads it."""
    lowered = path.lower().rstrip("/")
    local = Path(path.removeprefix("file://"))
    parquet = lowered.endswith((".parquet", ".pq")) or (local.is_dir() and any(local.glob("*.parquet")))
    if not parquet and "://" not in path and not local.exists():
        raise RecEngineError(f"There is no file or folder at {path}.")
    try:
        if parquet:
            return session.read.parquet(path)
        return session.read.csv(path, header=True, sep="\t" if lowered.endswith(".tsv") else ",")
    except Exception as error:  # Spark's AnalysisException and Py4J errors carry the reason
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RecEngineError(f"Spark could not read {path}: {reason}") from None


def rating_columns(found: list[str], columns: dict[str, str] | None, path: str) -> dict[str, str]:
    """The file's column for each role: as given in ``columns``, else by the usual names."""
    by_lower = {name.lower(): name for name in found}
    chosen = {}
    for role, usual in COLUMN_NAMES.items():
        wanted = (columns or {}).get(role)
        if wanted is not None:
            match = wanted if wanted in found else None
        else:
            match = next((by_lower[name] for name in usual if name in by_lower), None)
        if match is None:
            raise MissingColumnsError(
                f"{path} has no {role} column ({'named ' + repr(wanted) if wanted else 'looked for ' + ', '.join(usual)}); "
                f"its columns are {', '.join(found)}. Name it with columns={{'{role}': NAME}} "
                f"(--columns {role}=NAME)."
            )
        chosen[role] = match
    return chosen


def check_summary(summary: Any, path: str) -> None:
    if not summary["rows"]:
        raise EmptyDataError(f"{path} holds no ratings.")
    for role in ("user", "item"):
        if summary[f"bad_{role}"]:
            raise BadValuesError(
                f"{summary[f'bad_{role}']:,} {role} ids in {path} are missing or not whole numbers within "
                "±2,147,483,647, which Spark's ALS needs. Map them to integers first (for example with "
                "pyspark.ml.feature.StringIndexer), or load the file locally and train on it."
            )
    if summary["bad_rating"]:
        raise BadValuesError(f"{summary['bad_rating']:,} ratings in {path} are missing or not numbers.")


# --- import ---------------------------------------------------------------------------------------------


def factor_table(frame: Any) -> tuple[np.ndarray, np.ndarray]:
    """(ids, factors) of Spark's ``userFactors`` or ``itemFactors`` (columns id, features)."""
    if hasattr(frame, "toArrow"):  # pyspark ≥ 4: no pandas detour
        table = frame.toArrow()
        ids = table.column("id").to_numpy().astype(np.int64)
        flat = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    else:
        pandas = frame.toPandas()
        ids = pandas["id"].to_numpy(dtype=np.int64)
        flat = np.concatenate(pandas["features"].to_numpy()) if len(pandas) else np.zeros(0)
    rank = len(flat) // max(len(ids), 1)
    return ids, np.asarray(flat, dtype=np.float32).reshape(len(ids), rank)


def id_space(user_ids: np.ndarray, item_ids: np.ndarray, scale: RatingScale, name: str) -> RatingsDataset:
    """A data set with no ratings that holds the ids Spark saw (sorted), for data only Spark read."""
    empty = np.zeros(0, dtype=np.int32)
    return RatingsDataset(
        empty, empty, empty.astype(np.float32), np.sort(user_ids), np.sort(item_ids), scale=scale, name=name
    )


def codes_of(ids: np.ndarray, known: np.ndarray, what: str) -> np.ndarray:
    """The codes of Spark's ``ids`` among a data set's sorted ``known`` ids."""
    if known.dtype.kind not in "iu":
        raise BadValuesError(
            f"The local data set has text {what} ids, but Spark trained on whole numbers: load the same "
            "ratings locally, or hand the data set itself to Spark."
        )
    codes = np.clip(np.searchsorted(known, ids), 0, max(len(known) - 1, 0))
    missing = known[codes] != ids if len(known) else np.ones(len(ids), bool)
    if missing.any():
        raise BadValuesError(
            f"Spark saw {int(missing.sum()):,} {what} ids the local data set does not have "
            f"(e.g. {ids[missing][0]}): give the same ratings to both."
        )
    return codes


def imported_model(
    algo: str,
    params: Hyperparameters,
    data: RatingsDataset,
    users: tuple[np.ndarray, np.ndarray],
    items: tuple[np.ndarray, np.ndarray],
    *,
    spark_ids: str,
    mean: float,
    seconds: float,
) -> Recommender:
    """Our ``algo`` model holding Spark's factors in ``data``'s id space.

    ``spark_ids`` says what Spark's ids are: ``"codes"`` (``data``'s own codes, as handed over) or
    ``"ids"`` (raw ids, found in ``data``'s id maps). Rows Spark never saw stay zero, as ours do.
    """
    model = MODELS[algo](params)
    placed = []
    for (ids, factors), known, what in ((users, data.user_ids, "user"), (items, data.item_ids, "item")):
        codes = ids if spark_ids == "codes" else codes_of(ids, known, what)
        full = np.zeros((len(known), factors.shape[1]), np.float32)
        full[codes] = factors
        placed.append(full)
    model.user_factors_, model.item_factors_ = placed
    if algo == "als":
        model.user_bias_ = model.item_bias_ = None
    _describe(model, data, mean)
    if data.n_ratings:
        model.rng_ = np.random.default_rng(params.seed)
        record = model._record(params.n_epochs, seconds, data, None, {})
    else:
        nan = float("nan")
        record = EpochRecord(params.n_epochs, seconds, nan, nan, nan)
    model.history_ = History([record])
    model.fit_seconds_ = seconds
    model._release_work()  # the penalties and generator were for the record's losses only
    return model


def _describe(model: Recommender, data: RatingsDataset, mean: float) -> None:
    """What a fit would have set besides the factors: sizes, scale, fingerprint, global mean, penalties."""
    model.dtype_ = np.dtype(model.params.dtype)
    model.scale_ = data.scale
    model.n_users_, model.n_items_ = data.n_users, data.n_items
    model.fingerprint_ = data.fingerprint if data.n_ratings else _ids_fingerprint(data)
    model.global_mean_ = mean
    model._prepare_losses(data)


def _ids_fingerprint(data: RatingsDataset) -> str:
    return (
        "spark-" + hashlib.blake2b(data.fingerprint.encode() + data.name.encode(), digest_size=12).hexdigest()
    )
