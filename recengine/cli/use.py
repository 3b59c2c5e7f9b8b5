"""Using a saved model: ``recengine recommend``, ``similar``, ``clusters`` and ``evaluate``.

A model file knows its data set by the spec, split and seed stored in its metadata (see
`recengine.store`); the commands reload that data (for titles and a user's ratings) and check its
fingerprint against the model's. ``--data SPEC`` (with the usual data options) loads another copy, for
example when the file was saved without a spec or the data moved.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from recengine.cli import print_json
from recengine.cli.answers import read_answers
from recengine.cli.data import add_data_arguments, data_from_args
from recengine.data import KNOWN_DATASETS, cached_datasets, load, load_train_test
from recengine.data.dataset import RatingsDataset
from recengine.data.download import where_to_put
from recengine.data.genres import genre_matrix
from recengine.data.loading import BUNDLED
from recengine.errors import DataError, DownloadError, ModelFileError, RecEngineError
from recengine.evaluation.metrics import ranking_report, rating_report
from recengine.evaluation.newuser import evaluate_new_users, model_scorer, popular_scorer, split_new_users
from recengine.evaluation.split import split_by_spec
from recengine.lazy import pandas as pd
from recengine.models import make
from recengine.models.base import Recommender
from recengine.models.foldin import fold_in
from recengine.serving.recommend import recommend, similar_items
from recengine.serving.rerank import DEFAULT_WEIGHT, CalibratedReranker, genre_background
from recengine.store import check_data, load_model

ROW_FIELDS = (
    "item", "title", "year", "genres", "score", "model_rank", "predicted_rating", "because", "explanation",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    rec = subparsers.add_parser(
        "recommend",
        help="top-N for a user of the data set or for ratings in a CSV file",
        description=_RECOMMEND,
    )
    _model_argument(rec)
    who = rec.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="ID", help="a user id of the model's data set")
    who.add_argument(
        "--ratings",
        metavar="FILE.csv",
        help="a file of item,rating lines (raw item ids; an empty rating, a film not seen, is left out), "
        "as recengine ask reads",
    )
    rec.add_argument("-n", type=int, default=10, help="how many items (default 10)")
    rec.add_argument(
        "--min-ratings",
        type=int,
        default=0,
        metavar="N",
        help="only items with at least N ratings in the data (rating models favour rarely rated films)",
    )
    rec.add_argument(
        "--taste",
        type=float,
        default=None,
        metavar="λ",
        help=f"how strongly the list follows the genre mix of what the person rated highly, 0 to 1, for a "
        f"taste unlike most people's (a mainstream one gets down to a third of it; calibrated re-ranking; "
        f"default for --ratings: {DEFAULT_WEIGHT:g} with wals and {Recommender.default_taste:g} with the other "
        f"models; for --user: {DEFAULT_WEIGHT:g}; 0: by score alone)",
    )
    rec.add_argument("--json", action="store_true", help='print {"items": [...]} as JSON')
    add_data_arguments(rec)
    rec.set_defaults(handler=recommend_command)

    groups = subparsers.add_parser(
        "clusters",
        help="groups of similar users (KMeans on their factors), their sizes and favourite films",
        description="Groups the users of a saved model by KMeans on their (unit-length) factors and lists each "
        "group's size and the films it rates best (damped mean rating within the group).",
    )
    _model_argument(groups)
    groups.add_argument(
        "-k", "--clusters", type=int, default=8, metavar="K", help="how many groups (default 8)"
    )
    groups.add_argument("-n", type=int, default=5, help="favourite films listed per group (default 5)")
    groups.add_argument(
        "--min-ratings", type=int, default=5, metavar="N", help="a favourite needs N ratings from the group"
    )
    groups.add_argument("--seed", type=int, default=0, help="KMeans seed (default 0)")
    groups.add_argument("--json", action="store_true", help='print {"clusters": [...]} as JSON')
    add_data_arguments(groups)
    groups.set_defaults(handler=clusters_command)

    similar = subparsers.add_parser("similar", help="items closest to an item in the model's factor space")
    _model_argument(similar)
    similar.add_argument("--item", required=True, metavar="ID", help="an item id of the model's data set")
    similar.add_argument("-n", type=int, default=10, help="how many items (default 10)")
    similar.add_argument(
        "--min-ratings",
        type=int,
        default=5,
        metavar="N",
        help="only items with at least N ratings (default 5: rarer films have noisy factors)",
    )
    similar.add_argument("--json", action="store_true", help='print {"items": [...]} as JSON')
    add_data_arguments(similar)
    similar.set_defaults(handler=similar_command)

    evaluate = subparsers.add_parser(
        "evaluate", help="rating and ranking metrics of a saved model", description=_EVALUATE
    )
    _model_argument(evaluate)
    side = evaluate.add_mutually_exclusive_group()
    side.add_argument(
        "--split",
        metavar="SPEC",
        help="split the data as in training, e.g. user:0.2 (default: the split stored in the model)",
    )
    side.add_argument("--test", metavar="FILE", help="a file of test ratings (ids of the model's data set)")
    evaluate.add_argument("--seed", type=int, help="the split's seed (default: the one stored in the model)")
    evaluate.add_argument("-k", type=int, default=10, help="list length for the ranking metrics (default 10)")
    evaluate.add_argument(
        "--protocol",
        choices=("existing-users", "new-user"),
        default="existing-users",
        help="existing-users: the model's own test side (default); new-user: people absent from training "
        "(the model's settings refitted on the other users; see recengine.evaluation.newuser)",
    )
    evaluate.add_argument(
        "--given",
        type=_given,
        default=0.8,
        metavar="N|SHARE",
        help="new-user: each held-out person's ratings folded in, a count such as 10 or a share such as 0.8 "
        "(default 0.8)",
    )
    evaluate.add_argument(
        "--calibration",
        type=float,
        default=0.0,
        metavar="λ",
        help="new-user: weight λ in [0, 1] of calibrated re-ranking by genre (Steck 2018) for a distinct taste, "
        "each person's share of it as recommend() serves them (default 0: plain)",
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    add_data_arguments(evaluate)
    evaluate.set_defaults(handler=evaluate_command)


_RECOMMEND = (
    "Recommend for a user of the model's data set (--user) or for a new user whose ratings are in a CSV "
    "file with columns item,rating (--ratings; folded in without retraining). Items the user rated are "
    "never recommended; each row says which of the user's ratings it comes from."
)
_EVALUATE = (
    "Rating metrics (RMSE, MAE; rating models only) and ranking metrics at k (precision, recall, NDCG, MAP, "
    "hit rate, coverage) of a saved model on the test side of --split or on the ratings in --test. "
    "Relevant items are test ratings of 4 or more; candidates are every item the user did not rate in "
    "training (the top-N protocol of docs/protocols.md). --protocol new-user measures people the model never "
    "saw instead: Recall@20, NDCG@100, coverage, popularity, personalization and genre miscalibration of "
    "held-out users whose --given ratings are folded in."
)


def _model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, metavar="FILE", help="a model saved by recengine train --out"
    )
    parser.add_argument(
        "--stored-data",
        action="store_true",
        help="open the data files the model file names, in the working folder (a model file records only "
        "their names; by default only --data, the bundled sample and downloaded data sets are opened)",
    )


# --- the model's data -----------------------------------------------------------------------------------


def _stored_data(extra: dict[str, Any], trusted: bool) -> RatingsDataset:
    """The data set named in a model file's metadata (validated by `recengine.store.check_extra`): a spec
    string, a dict of `load` arguments, or the predefined train and test files it was trained with (the
    train side is returned). Files it names are opened only when the person said so (``trusted``, from
    ``--stored-data``); the bundled sample and downloaded data sets by name always."""
    if extra.get("train"):
        _refuse_unless(trusted, f"{extra['train']} and {extra['test']}")
        options = {k: extra[k] for k in ("format", "columns") if extra.get(k)}
        return load_train_test(extra["train"], extra["test"], **options)[0]
    source = extra.get("data")
    options = dict(source) if isinstance(source, dict) else {"spec": source}
    spec = options.pop("spec", None)
    if spec in KNOWN_DATASETS and not trusted:
        return load(_downloaded(spec), **options)
    if spec is not None:
        _refuse_unless(trusted, spec)
    return load(spec, **options, hide_content=spec is not None and spec not in KNOWN_DATASETS)


def _downloaded(name: str) -> Path:
    """A known data set by name: its folder in the download cache (or the bundled copy of latest-small),
    never a file or folder of that name where the command runs."""
    if name in (cached := cached_datasets()):
        return cached[name]
    if name == "ml-latest-small":
        return BUNDLED
    raise DownloadError(
        f"This model was trained on {name}, which is not downloaded yet. {where_to_put(name)}"
    )


def _refuse_unless(trusted: bool, named: str) -> None:
    if not trusted:
        raise ModelFileError(
            f"This model was trained on {named}. A model file may name any file, so it is not opened on the "
            "file's word: give the data with --data SPEC, or add --stored-data to open what the file names."
        )


def _source(args: argparse.Namespace, metadata: dict[str, Any]) -> RatingsDataset:
    if args.data is not None:
        return data_from_args(args)
    try:
        return _stored_data(metadata.get("extra") or {}, args.stored_data)
    except DataError as error:
        why = str(error).replace(
            str(BUNDLED), f"the bundled {BUNDLED.name}"
        )  # not where recengine is installed
        raise ModelFileError(
            f"The data set this model was trained on could not be loaded ({why}). Give it with --data SPEC."
        ) from error


def _training_side(args: argparse.Namespace, metadata: dict[str, Any], path: str) -> RatingsDataset:
    """The ratings the model was trained on: the stored data and split, checked by fingerprint."""
    data = _source(args, metadata)
    if data.fingerprint == metadata.get("fingerprint"):
        return data
    extra = metadata.get("extra") or {}
    split, seed = extra.get("split") or "none", int(extra.get("seed") or 0)
    train = data if split == "none" else split_by_spec(data, split, seed)[0]
    try:
        check_data(metadata, train, path)
    except ModelFileError as error:
        raise ModelFileError(f"{error} (tried split {split!r} with seed {seed})") from None
    return train


def _model_and_data(args: argparse.Namespace) -> tuple[Recommender, RatingsDataset]:
    model = load_model(args.model)  # every check of the file before any data is read
    return model, _training_side(args, model.metadata_, args.model)


# --- commands -------------------------------------------------------------------------------------------


def recommend_command(args: argparse.Namespace) -> int:
    model, train = _model_and_data(args)
    if args.user is not None:
        table = recommend(
            model, train, user=args.user, n=args.n, min_ratings=args.min_ratings, taste=args.taste
        )
        header = f"Top {len(table)} for user {args.user} ({model.name})"
    else:
        codes, ratings, unknown = _ratings_file(args.ratings, train)
        if unknown:
            shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            print(f"Skipped {len(unknown)} item id(s) the data set lacks: {shown}.", file=sys.stderr)
        vector = fold_in(model, codes, ratings)
        table = recommend(
            model, train, vector=vector, n=args.n, min_ratings=args.min_ratings, taste=args.taste
        )
        header = (
            f"Top {len(table)} for the {len(codes)} ratings in {args.ratings} ({model.name}, {vector.method})"
        )
    _emit(args, table, header)
    return 0


def clusters_command(args: argparse.Namespace) -> int:
    from recengine.serving.cluster import cluster_factors, cluster_favourites  # scikit-learn only when asked

    model, train = _model_and_data(args)
    groups = cluster_factors(model, "users", args.clusters, seed=args.seed)
    table = cluster_favourites(groups, train, args.n, min_ratings=args.min_ratings)
    if args.json:
        print_json({"clusters": table.to_dict(orient="records"), "note": groups.sample_note})
        return 0
    print(
        f"{groups.n_clusters} groups of users ({model.name}){'; ' + groups.sample_note if groups.sample_note else ''}"
    )
    for row in table.itertuples(index=False):
        print(
            f"  group {row.cluster}: {row.size:,} users; favourites: {'; '.join(row.favourites) or '(none yet)'}"
        )
    return 0


def similar_command(args: argparse.Namespace) -> int:
    model, train = _model_and_data(args)
    table = similar_items(model, train, args.item, n=args.n, min_ratings=args.min_ratings)
    _emit(args, table, f"Closest to {train.title(train.item_code(args.item))} ({model.name})")
    return 0


def _given(text: str) -> float | int:
    """--given: a whole number of ratings (10) or a share (0.8)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number: give a count such as 10 or a share such as 0.8"
        ) from None
    return int(value) if value >= 1 and value == int(value) else value


def evaluate_command(args: argparse.Namespace) -> int:
    model = load_model(args.model)  # every check of the file before any data is read
    metadata = model.metadata_
    if args.protocol == "new-user":
        return _new_user_command(args, model)
    if args.test is None:
        split = args.split or _stored_split(metadata, args.model)
        data = _source(args, metadata)
        seed = args.seed if args.seed is not None else int((metadata.get("extra") or {}).get("seed") or 0)
        train, test = split_by_spec(data, split, seed)
        _check_split(metadata, train, args.model, split, seed)
    else:
        train = _training_side(args, metadata, args.model)
        test = _remapped(load(args.test), train)
    k = args.k
    report: dict[str, Any] = {"model": model.name, "rmse": None, "mae": None}
    report |= rating_report(model, test)
    report |= ranking_report(model, train, test, k=k)
    report["test_ratings"] = test.n_ratings
    if args.json:
        print_json(report)
        return 0
    print(
        f"{model.name} on {test.n_ratings:,} test ratings (k = {k}, {report['users']:,} users with a relevant item)"
    )
    for key, value in report.items():
        if key not in ("model", "k", "users", "test_ratings") and value is not None:
            print(f"  {key:<18} {value:.4f}" if isinstance(value, float) else f"  {key:<18} {value}")
    return 0


def _new_user_command(args: argparse.Namespace, saved: Recommender) -> int:
    """The new-user protocol: the saved model's settings refitted on the train users, the test users'
    given ratings folded in; most popular alongside for reference."""
    if args.test is not None or args.split is not None:
        raise RecEngineError(
            "--protocol new-user makes its own split of the users: leave out --test and --split."
        )
    data = _source(args, saved.metadata_)
    seed = args.seed if args.seed is not None else 0
    split = split_new_users(data, given=args.given, seed=seed)
    genres = genre_matrix(data.items).toarray()
    rerank = None
    if args.calibration:  # as recommend() re-ranks: each person's share of λ (rerank.personal_weight)
        background = genre_background(split.train)
        rerank = CalibratedReranker(genres, args.calibration, split.threshold, background=background)
    model = make(saved.name, **saved.get_params()).fit(split.train)
    scorer = model_scorer(model, split.train.item_counts())  # ordered as recommend() orders a list
    report = evaluate_new_users(scorer, split.test, split.train, rerank=rerank, genres=genres)
    reference = evaluate_new_users(popular_scorer(split.train), split.test, split.train, genres=genres)
    header = {"model": saved.name, "protocol": "new-user", "given": args.given, "calibration": args.calibration,
              "seed": seed}  # fmt: skip
    if args.json:
        print_json(header | report | {"most_popular": reference})
        return 0
    print(
        f"{saved.name} refitted on {split.train.n_ratings:,} ratings of the train users; {report['users']} test "
        f"users absent from training, given {args.given} of their ratings each (λ = {args.calibration:g})"
    )
    print(f"  {'':<18} {'model':>8} {'most popular':>13}")
    for key, value in report.items():
        if key != "users":
            print(f"  {key:<18} {value:>8.4f} {reference[key]:>13.4f}")
    return 0


# --- helpers --------------------------------------------------------------------------------------------


def _check_split(metadata: dict[str, Any], train: RatingsDataset, path: str, split: str, seed: int) -> None:
    """The model's training side must be this split's: else say which split and seed it was trained with."""
    try:
        check_data(metadata, train, path)
    except ModelFileError:
        extra = metadata.get("extra") or {}
        stored = (str(extra.get("split", "unknown")), extra.get("seed", "unknown"))
        hint = (
            "the data set differs: load the one it was trained on"
            if stored == (split, seed)
            else "leave out --split and --seed to use those"
        )
        raise ModelFileError(
            f"{path} was not trained on the training side of split {split!r} with seed {seed}: it was "
            f"trained with split {stored[0]!r} and seed {stored[1]}; {hint}."
        ) from None


def _stored_split(metadata: dict[str, Any], path: str) -> str:
    split = str((metadata.get("extra") or {}).get("split") or "none")
    if split == "none":
        raise RecEngineError(
            f"{path} was trained on all the ratings (no test side was held out): give --split SPEC to split "
            "the data anew, or --test FILE."
        )
    return split


def _ratings_file(path: str, data: RatingsDataset) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Item codes and ratings from a file of item,rating lines (raw item ids of ``data``; an empty rating, a
    film not seen, is left out: `recengine.cli.answers`), and the ids ``data`` lacks (skipped)."""
    found = read_answers(path, data)
    return found.answers.rated, found.answers.ratings, found.unknown


def _remapped(test: RatingsDataset, train: RatingsDataset) -> RatingsDataset:
    """``test``'s ratings in ``train``'s id space; users or items the model never saw are dropped."""
    users = pd.Index(train.user_ids).get_indexer(test.user_ids[test.user_codes])
    items = pd.Index(train.item_ids).get_indexer(test.item_ids[test.item_codes])
    known = (users >= 0) & (items >= 0)
    if not known.any():
        raise DataError("None of the test ratings are by users and of items of the model's data set.")
    remapped = RatingsDataset(
        users[known], items[known], test.ratings[known], train.user_ids, train.item_ids,
        items=train.items, scale=train.scale, name=f"{test.name} (test)",
    )  # fmt: skip
    seen = train.csr[remapped.user_codes, remapped.item_codes].A1 != 0
    if seen.all():
        raise DataError(
            f"All {len(seen):,} test ratings are in the model's training data: evaluate it on ratings it did "
            "not see (for example the other side of the split it was trained with)."
        )
    return remapped.subset(~seen) if seen.any() else remapped


def _emit(args: argparse.Namespace, table: pd.DataFrame, header: str) -> None:
    if args.json:
        columns = [c for c in (*ROW_FIELDS, "similarity", "n_ratings") if c in table.columns]
        years = pd.Series([None if pd.isna(y) else int(y) for y in table["year"]], table.index, dtype=object)
        print_json({"items": table[columns].assign(year=years).to_dict(orient="records")})  # 1995, not 1995.0
        return
    print(header)
    for rank, row in enumerate(table.itertuples(index=False), start=1):
        stars = getattr(row, "predicted_rating", np.nan)
        predicted = f"  {stars:.1f}★" if isinstance(stars, float) and np.isfinite(stars) else ""
        place = getattr(row, "model_rank", rank)
        moved = f" (the model's #{place})" if place != rank else ""
        print(f"{rank:>3}. {row.title}  [{row.item}]  score {row.score:.3f}{moved}{predicted}")
        if "explanation" in table.columns:
            print(f"     {row.explanation}")
