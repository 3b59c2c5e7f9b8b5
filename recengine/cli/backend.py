"""Where ``recengine train`` runs the fit: here (``--backend local``) or on Apache Spark (``--backend spark``).

With Spark, ``--algo als`` or ``wals`` trains ``pyspark.ml.recommendation.ALS`` on the same training side
the local backend would use, and the factors come back as the same kind of model, so the JSON report and
the ``--out`` file are the ones the local backend writes (see `recengine.spark`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from recengine.data.dataset import RatingsDataset
from recengine.errors import ParameterError, RecEngineError
from recengine.models.base import Hyperparameters, Recommender
from recengine.spark import ALGORITHMS, BACKEND_DEFAULTS, DEFAULT_MASTER, SparkRunner, SparkSettings


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("backend")
    group.add_argument(
        "--backend",
        choices=("local", "spark"),
        default="local",
        help="train here (default) or with Spark's ALS (als and wals; needs recengine[spark] and Java 17)",
    )
    group.add_argument(
        "--spark-master",
        metavar="URL",
        help=f"where Spark runs: {DEFAULT_MASTER} (default), local[N], spark://HOST:7077 or yarn",
    )
    group.add_argument(
        "--spark-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting, e.g. spark.driver.memory=10g or spark.checkpoint.dir=hdfs:///tmp/ckpt "
        "(repeatable)",
    )


def backend_defaults(args: argparse.Namespace) -> dict[str, Any]:
    """Hyperparameters the backend sets unless the command line does (Spark: no biases, weighted λ)."""
    if args.backend != "spark":
        if args.spark_master or args.spark_conf:
            raise RecEngineError("--spark-master and --spark-conf need --backend spark.")
        return {}
    if args.algo not in ALGORITHMS:
        raise ParameterError("--algo", args.algo, f"one of {', '.join(ALGORITHMS)} with --backend spark")
    return dict(BACKEND_DEFAULTS[args.algo])


def fit_on_spark(args: argparse.Namespace, params: Hyperparameters, train: RatingsDataset) -> Recommender:
    """Train ``args.algo`` with Spark's ALS on ``train``; progress lines go to stderr."""
    settings = SparkSettings(master=args.spark_master or DEFAULT_MASTER, conf=spark_conf(args.spark_conf))
    print(f"spark: starting {settings.master} ...", file=sys.stderr, flush=True)
    with SparkRunner(settings) as runner:
        print(f"spark: started in {runner.start_seconds:.1f} s; training ...", file=sys.stderr, flush=True)
        fitted = runner.fit(train, args.algo, params)
    record, seconds = fitted.model.history_[-1], fitted.seconds
    line = (
        f"{args.algo} on spark: {record.epoch} iterations in {seconds['fit']:.2f} s "
        f"(hand-over {seconds['handover']:.2f} s, import {seconds['import']:.2f} s)  loss {record.total_loss:.5g}"
    )
    if record.train_rmse is not None:
        line += f"  train rmse {record.train_rmse:.4f}"
    print(line, file=sys.stderr, flush=True)
    return fitted.model


def spark_conf(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs as a dict; a clear refusal for anything else."""
    conf = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise ParameterError("--spark-conf", pair, "KEY=VALUE, e.g. spark.driver.memory=10g")
        conf[key.strip()] = value.strip()
    return conf
