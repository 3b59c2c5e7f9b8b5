"""Data commands: ``recengine datasets``, ``recengine download NAME`` and ``recengine info``.

Other commands reuse :func:`add_data_arguments` and :func:`data_from_args` for their ``--data SPEC``
option, so every command reads data the same way.
"""

from __future__ import annotations

import argparse
import sys
import time

from recengine.cli import print_json
from recengine.data import (
    BUNDLED,
    FORMATS,
    KNOWN_DATASETS,
    cache_dir,
    cached_datasets,
    download,
    load,
)
from recengine.data.dataset import RatingsDataset
from recengine.errors import ParameterError

SPEC_HELP = (
    "the ratings to use: a file or folder (format detected), a data set name such as ml-100k (from the "
    "download cache), or FORMAT:PATH; default: the bundled MovieLens latest-small"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    datasets = subparsers.add_parser(
        "datasets", help="list the bundled, downloadable and cached data sets", description=_DATASETS
    )
    datasets.add_argument("--json", action="store_true", help="print one JSON object")
    datasets.set_defaults(handler=datasets_command)

    fetch = subparsers.add_parser(
        "download", help="download an official MovieLens data set", description=_DOWNLOAD
    )
    fetch.add_argument("name", help=f"one of {', '.join(KNOWN_DATASETS)}")
    fetch.add_argument(
        "--cache-dir", metavar="DIR", help="where to keep it (default: $RECENGINE_CACHE or ~/.cache)"
    )
    fetch.add_argument("--base-url", metavar="URL", help="a mirror that serves the same zip files")
    fetch.set_defaults(handler=download_command)

    info = subparsers.add_parser("info", help="sizes, density, scale and fingerprint of a data set")
    add_data_arguments(info)
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(handler=info_command)


_DATASETS = "Data sets you can use with --data: the bundled one, official downloads, and what is cached."
_DOWNLOAD = "Download an official MovieLens archive, check its checksum and unpack it into the cache."


# --- shared --data option -------------------------------------------------------------------------------


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--data SPEC``, ``--format``, ``--columns`` and the minimum-ratings filters to ``parser``."""
    group = parser.add_argument_group("data")
    group.add_argument("--data", metavar="SPEC", help=SPEC_HELP)
    group.add_argument("--format", choices=FORMATS, help="the file layout, when detection is not enough")
    group.add_argument(
        "--columns",
        metavar="ROLE=NAME,...",
        help="map roles user, item, rating, timestamp to column names, e.g. user=reader,item=book",
    )
    group.add_argument(
        "--min-item-ratings", type=int, default=0, metavar="N", help="drop items rated fewer times"
    )
    group.add_argument(
        "--min-user-ratings", type=int, default=0, metavar="N", help="drop users with fewer ratings"
    )
    group.add_argument(
        "--repeat-filters", action="store_true", help="repeat both filters until every item and user passes"
    )


def data_from_args(args: argparse.Namespace) -> RatingsDataset:
    """The data set the ``--data`` options of ``args`` describe (progress on stderr)."""
    return load(
        args.data,
        format=args.format,
        columns=parse_columns(args.columns),
        min_item_ratings=args.min_item_ratings,
        min_user_ratings=args.min_user_ratings,
        repeat_filters=args.repeat_filters,
        progress=StderrProgress("reading"),
    )


def parse_columns(text: str | None) -> dict[str, str | None] | None:
    """``user=reader,item=book,timestamp=`` → {"user": "reader", "item": "book", "timestamp": None}."""
    if not text:
        return None
    mapping: dict[str, str | None] = {}
    for part in text.split(","):
        role, equals, column = part.partition("=")
        if not equals or not role.strip():
            raise ParameterError("--columns", text, "ROLE=NAME pairs separated by commas, e.g. user=reader")
        mapping[role.strip()] = column.strip() or None
    return mapping


class StderrProgress:
    """A progress callback ``(done, total)`` that prints to stderr, silent for the first second."""

    def __init__(self, label: str, quiet_seconds: float = 1.0):
        self.label = label
        self.start = time.monotonic()
        self.quiet_seconds = quiet_seconds
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if now - self.start < self.quiet_seconds or (now - self.last < 0.5 and not finished):
            return
        self.last, self.shown = now, True
        share = f"{done / total:4.0%} " if total else ""
        sys.stderr.write(f"\r{self.label}: {share}({done / 1e6:,.1f} MB)" + ("\n" if finished else ""))
        sys.stderr.flush()


# --- commands -------------------------------------------------------------------------------------------


def datasets_command(args: argparse.Namespace) -> int:
    cached = cached_datasets()
    rows = [
        {
            "name": name,
            "description": entry.description,
            "ratings": entry.ratings,
            "download_bytes": entry.size,
            "url": entry.url,
            "cached": name in cached,
        }
        for name, entry in KNOWN_DATASETS.items()
    ]
    others = {name: str(path) for name, path in cached.items() if name not in KNOWN_DATASETS}
    if args.json:
        print_json(
            {
                "bundled": {"name": "ml-latest-small", "path": str(BUNDLED)},
                "downloadable": rows,
                "cache_dir": str(cache_dir()),
                "cached_other": others,
            }
        )
        return 0
    print(f"bundled     ml-latest-small  (the default; {BUNDLED})")
    print(f"\ndownloadable with `recengine download NAME` into {cache_dir()}:")
    for row in rows:
        state = "cached" if row["cached"] else f"{row['download_bytes'] / 1e6:6.1f} MB"
        print(f"  {row['name']:<16} {state:>9}  {row['ratings']:>12,} ratings  {row['description']}")
    for name, path in others.items():
        print(f"  {name:<16} {'cached':>9}  {path}")
    return 0


def download_command(args: argparse.Namespace) -> int:
    was_cached = args.name in cached_datasets(args.cache_dir)
    path = download(
        args.name, cache_dir=args.cache_dir, base_url=args.base_url, progress=StderrProgress(args.name, 0.0)
    )
    print(f"{args.name} {'was already' if was_cached else 'is now'} in {path}", file=sys.stderr)
    print(path)
    return 0


def info_command(args: argparse.Namespace) -> int:
    data = data_from_args(args)
    summary = data.summary() | {"report": data.report}
    if args.json:
        print_json(summary)
        return 0
    scale = data.scale
    step = f" in steps of {scale.step:g}" if scale.step else " (continuous)"
    per_user, per_item = summary["ratings_per_user"], summary["ratings_per_item"]
    lines = [
        f"data set     {data.name}",
        f"users        {data.n_users:,}",
        f"items        {data.n_items:,}",
        f"ratings      {data.n_ratings:,}",
        f"density      {data.density:.4%}",
        f"scale        {scale.low:g} to {scale.high:g}{step}",
        f"mean rating  {summary['mean_rating']:.3f}" if summary["mean_rating"] is not None else "",
        _spread("per user", per_user),
        _spread("per item", per_item),
        f"timestamps   {'yes' if data.timestamps is not None else 'no'}",
        f"fingerprint  {data.fingerprint}",
        *(f"note         {note}" for note in data.report),
    ]
    print("\n".join(line for line in lines if line))
    return 0


def _spread(label: str, spread: dict) -> str:
    if not spread:
        return ""
    return (
        f"{label:<12} median {spread['q50']:,.0f}, mean {spread['mean']:,.1f}, "
        f"min {spread['q0']:,.0f}, max {spread['q100']:,.0f} ratings"
    )
