"""``recengine train``: fit any model on a data set, report each epoch, evaluate on the test side, save it.

Flags such as ``--factors`` map onto the chosen model's hyperparameters (``n_factors``); ``--param NAME=VALUE``
sets any other one. A flag the model does not have, or a value out of range, is refused with one line and
exit status 2. Per-epoch progress goes to stderr; ``--json`` prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from recengine.cli import print_json
from recengine.cli.backend import add_backend_arguments, backend_defaults, fit_on_spark
from recengine.cli.data import StderrProgress, add_data_arguments, data_from_args, parse_columns
from recengine.data import load_train_test
from recengine.data.dataset import RatingsDataset
from recengine.errors import EmptyDataError, ParameterError, RecEngineError
from recengine.evaluation.metrics import ranking_report, rating_report
from recengine.evaluation.split import split_by_spec
from recengine.models import MODELS
from recengine.models.base import ParamSpec, Recommender
from recengine.store import save_model
from recengine.training import ProgressPrinter

DEFAULT_SPLIT = "user:0.2"

# command-line flag (its argparse destination) → hyperparameter name
FLAGS = {
    "factors": "n_factors",
    "epochs": "n_epochs",
    "lr": "lr",
    "reg": "reg",
    "batch_size": "batch_size",
    "clip": "clip",
    "biases": "biases",
    "seed": "seed",
}
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train a model and evaluate it", description=_DESCRIPTION)
    add_data_arguments(train)
    train.add_argument("--algo", required=True, choices=sorted(MODELS), help="the algorithm")
    hyper = train.add_argument_group("hyperparameters (only those the algorithm has)")
    hyper.add_argument("--factors", type=int, metavar="N", help="latent factors (n_factors)")
    hyper.add_argument("--epochs", type=int, metavar="N", help="epochs (n_epochs)")
    hyper.add_argument("--lr", type=float, metavar="X", help="learning rate")
    hyper.add_argument("--reg", type=float, metavar="X", help="regularization λ")
    hyper.add_argument("--batch-size", type=int, metavar="N", help="ratings per step")
    hyper.add_argument("--clip", type=float, metavar="X", help="gradient clipping threshold")
    hyper.add_argument("--biases", action=argparse.BooleanOptionalAction, help="learn user and item biases")
    hyper.add_argument("--seed", type=int, metavar="N", help="random seed of the model and the split")
    hyper.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other hyperparameter, e.g. --param weighted_reg=false (repeatable)",
    )
    sides = train.add_argument_group("evaluation")
    sides.add_argument(
        "--split", metavar="SPEC", help=f"random:F, user:F, temporal:F or none (default {DEFAULT_SPLIT})"
    )
    sides.add_argument("--train", metavar="FILE", help="training ratings (with --test instead of --data)")
    sides.add_argument("--test", metavar="FILE", help="test ratings, in the same format as --train")
    add_backend_arguments(train)
    train.add_argument("--out", metavar="FILE", help="save the trained model here (.npz)")
    train.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    train.set_defaults(handler=train_command)


_DESCRIPTION = (
    "Train a model on --data (split by --split) or on --train/--test files, print each epoch's losses and "
    "RMSE to stderr, then the test RMSE and MAE. Flags set the model's hyperparameters; --param NAME=VALUE "
    "sets any other."
)


def train_command(args: argparse.Namespace) -> int:
    cls = MODELS[args.algo]
    params = cls.Params.from_dict(backend_defaults(args) | model_params(cls, args))
    seed = int(params.seed) if hasattr(params, "seed") else 0
    split = args.split or DEFAULT_SPLIT
    train, test, source = _sides(args, split, seed)
    if args.backend == "spark":
        model = fit_on_spark(args, params, train)
    else:
        model = cls(params).fit(train, callbacks=[ProgressPrinter(prefix=f"{args.algo} ")])
    scores = _test_scores(model, train, test)
    payload = _report(args, model, train, test, scores)
    if args.out:
        extra = source | {"split": "none" if args.train else split, "seed": seed}
        path = save_model(model, args.out, data=train, metrics=scores, extra=extra)
        payload["out"] = str(path)
    if args.json:
        print_json(payload)
    else:
        _print_summary(payload)
    return 0


# --- hyperparameters ------------------------------------------------------------------------------------


def model_params(cls: type[Recommender], args: argparse.Namespace) -> dict[str, Any]:
    """The hyperparameters the flags and ``--param`` pairs ask for, checked against the model's names."""
    specs = {spec.name: spec for spec in cls.Params.specs()}
    chosen: dict[str, Any] = {}
    for dest, name in FLAGS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if name not in specs:
            flag = "--" + dest.replace("_", "-")
            if dest == "biases" and not value:
                flag = "--no-biases"
            raise RecEngineError(
                f"{cls.name} has no parameter {name} (from {flag}); its parameters are {', '.join(specs)}."
            )
        chosen[name] = value
    for pair in args.param:
        name, equals, text = pair.partition("=")
        name = name.strip()
        if not equals or not name:
            raise ParameterError("--param", pair, "NAME=VALUE, e.g. --param weighted_reg=false")
        if name not in specs:
            raise RecEngineError(
                f"{cls.name} has no parameter {name} (from --param); its parameters are {', '.join(specs)}."
            )
        chosen[name] = parse_value(specs[name], text.strip())
    return chosen


def parse_value(spec: ParamSpec, text: str) -> Any:
    """A ``--param`` value as the parameter's type; a `ParameterError` naming the range when it is not."""
    try:
        if spec.kind == "int":
            return int(text)
        if spec.kind == "float":
            return float(text)
    except ValueError:
        raise ParameterError(spec.name, text, spec.allowed()) from None
    if spec.kind == "bool":
        if text.lower() in TRUE_WORDS + FALSE_WORDS:
            return text.lower() in TRUE_WORDS
        raise ParameterError(spec.name, text, spec.allowed())
    return text


# --- data -----------------------------------------------------------------------------------------------


def _sides(
    args: argparse.Namespace, split: str, seed: int
) -> tuple[RatingsDataset, RatingsDataset, dict[str, Any]]:
    """(train, test, where the data came from, for the model file's ``extra``)."""
    if args.train or args.test:
        if not (args.train and args.test):
            raise RecEngineError("Give both --train FILE and --test FILE (or --data with --split).")
        if args.data is not None or args.split is not None:
            raise RecEngineError("--train/--test replace --data and --split: give one or the other.")
        train, test = load_train_test(
            args.train,
            args.test,
            format=args.format,
            columns=parse_columns(args.columns),
            progress=StderrProgress("reading"),
        )
        files = {"train": _file_name(args.train), "test": _file_name(args.test)}
        options = {"format": args.format, "columns": parse_columns(args.columns)}
        return train, test, files | {k: v for k, v in options.items() if v}
    data = data_from_args(args)
    train, test = split_by_spec(data, split, seed)
    return train, test, {"data": _data_source(args)}


def _data_source(args: argparse.Namespace) -> dict[str, Any] | str | None:
    """The ``--data`` options as `recengine.data.load` takes them (a spec, or a dict with ``spec``)."""
    spec = None if args.data is None else _file_name(args.data)
    options = {
        "format": args.format,
        "columns": parse_columns(args.columns),
        "min_item_ratings": args.min_item_ratings,
        "min_user_ratings": args.min_user_ratings,
        "repeat_filters": args.repeat_filters,
    }
    used = {key: value for key, value in options.items() if value}
    return {"spec": spec, **used} if used else spec


def _file_name(spec: str) -> str:
    """``spec`` with only the name of the file or folder it names (``FORMAT:PATH`` too), or as given (a data
    set's name): a model file shared in a class must not tell its author's folders and account name.
    ``--stored-data`` opens that name in the working folder."""
    if Path(spec).exists():
        return Path(spec).resolve().name
    fmt, colon, rest = spec.partition(":")
    if colon and Path(rest).exists():
        return f"{fmt}:{Path(rest).resolve().name}"
    return spec


# --- output ---------------------------------------------------------------------------------------------


def _report(
    args: argparse.Namespace,
    model: Recommender,
    train: RatingsDataset,
    test: RatingsDataset,
    scores: dict[str, float],
) -> dict[str, Any]:
    return {
        "algo": args.algo,
        "kind": model.kind,
        "params": model.get_params(),
        "data": train.name,
        "n_users": train.n_users,
        "n_items": train.n_items,
        "train_ratings": train.n_ratings,
        "test_ratings": test.n_ratings,
        "fit_seconds": model.fit_seconds_,
        "epochs_run": len(model.history_),
        "history": model.history_.to_dicts(),
        "test": {"rmse": scores.get("rmse"), "mae": scores.get("mae")}
        | {key: scores[key] for key in RANKING_KEYS if key in scores},
    }


RANKED_USERS = 5_000  # a ranking model's test metrics rank at most this many users (a seeded sample)
RANKING_KEYS = ("precision@10", "recall@10", "ndcg@10", "coverage", "users", "sampled_from")


def _test_scores(model: Any, train: RatingsDataset, test: RatingsDataset) -> dict[str, Any]:
    """RMSE and MAE of a rating model; precision and NDCG at 10 of a ranking model (on a sample of at most
    RANKED_USERS users, which the result says)."""
    if not len(test):
        return {}
    if model.kind == "rating":
        return rating_report(model, test)
    try:
        return ranking_report(model, train, test, k=10, max_users=RANKED_USERS)
    except EmptyDataError:  # no test rating is relevant (≥ 4): nothing to rank against
        return {}


def _print_summary(payload: dict[str, Any]) -> None:
    line = (
        f"{payload['algo']}: {payload['epochs_run']} epochs in {payload['fit_seconds']:.2f} s on "
        f"{payload['train_ratings']:,} ratings"
    )
    test = payload["test"]
    if test["rmse"] is not None:
        line += f"; test RMSE {test['rmse']:.4f}, MAE {test['mae']:.4f} ({payload['test_ratings']:,} ratings)"
    elif "precision@10" in test:
        line += (
            f"; test P@10 {test['precision@10']:.4f}, NDCG@10 {test['ndcg@10']:.4f} "
            f"({test['users']:,} users"
            + (f" of a sample of {test['sampled_from']:,})" if "sampled_from" in test else ")")
        )
    print(line)
    if "out" in payload:
        print(f"saved to {payload['out']}")
    sys.stdout.flush()
