"""``recengine ask``: the next films to ask a newcomer about, from their answers so far."""

from __future__ import annotations

import argparse
import sys

from recengine.cli import print_json
from recengine.cli.answers import read_answers
from recengine.cli.data import add_data_arguments
from recengine.cli.use import _model_and_data, _model_argument
from recengine.serving.ask import DEFAULT_STRATEGY, STRATEGIES, Answers, next_questions

_ASK = (
    "The next films to ask a newcomer about, chosen from their answers so far (--answers: item,rating lines, "
    'an empty rating meaning "haven\'t seen it"; none: a newcomer with no answers yet). Each film comes with '
    "why it was chosen. Rate them, add the lines to the file, ask again, and when enough are rated: recengine "
    "recommend --ratings FILE. Strategies (recengine.serving.ask): popularity, popularity-entropy (Rashid et "
    "al. 2002), likely-seen, information (adaptive: the answer expected to teach the model most)."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    ask = subparsers.add_parser("ask", help="the next films to ask a newcomer to rate", description=_ASK)
    _model_argument(ask)
    ask.add_argument("--answers", metavar="FILE", help="item,rating lines (empty rating: not seen)")
    ask.add_argument("-n", type=int, default=5, help="how many films (default 5)")
    ask.add_argument(
        "--strategy",
        choices=tuple(STRATEGIES),
        default=DEFAULT_STRATEGY,
        help=f"how the films are chosen (default {DEFAULT_STRATEGY})",
    )
    ask.add_argument("--json", action="store_true", help='print {"items": [{"item", "title", "why"}, ...]}')
    add_data_arguments(ask)
    ask.set_defaults(handler=ask_command)


def ask_command(args: argparse.Namespace) -> int:
    model, train = _model_and_data(args)
    answers, unknown = Answers(), []
    if args.answers is not None:
        found = read_answers(args.answers, train)
        answers, unknown = found.answers, found.unknown
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        print(f"Skipped {len(unknown)} item id(s) the data set lacks: {shown}.", file=sys.stderr)
    table = next_questions(model, train, answers, args.n, args.strategy)
    if args.json:
        items = [{"item": row.item, "title": row.title, "why": row.why} for row in table.itertuples()]
        print_json({"items": items, "strategy": args.strategy, "rated": len(answers.rated),
                    "not_seen": len(answers.skipped)})  # fmt: skip
        return 0
    so_far = f"{len(answers.rated)} rated, {len(answers.skipped)} not seen so far"
    if not len(table):
        print(f"Nothing left to ask about ({so_far}): every film of the question pool has an answer.")
        return 0
    print(f"Next {len(table)} films to ask about ({args.strategy}; {so_far}; {model.name}):")
    for rank, row in enumerate(table.itertuples(), start=1):
        genres = ", ".join(row.genres) if len(row.genres) else "no genres"
        print(f"{rank:>3}. {row.title}  [{row.item}]  {genres}")
        print(f"     {row.why}")
    return 0
