"""The ``recengine`` command line.

Each command module exposes ``register(subparsers)``; a handler returns an exit status. Errors the engine
raises on purpose print as one line on stderr and exit with status 2, never as a traceback. What the
commands print passes through `printable`: titles, genres and names come from data files, and an escape
code in one (a hyperlink, a cleared screen, a retitled window) must never reach the terminal.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import signal
import sys
import threading
from typing import Any, TextIO

from recengine.errors import RecEngineError
from recengine.jsonsafe import json_safe

COMMAND_MODULES: tuple[str, ...] = ("data", "use", "train", "ask")
# Terminal escape sequences (CSI, OSC, and two-byte ESC ones, 7- and 8-bit), then every other control
# character but newline and tab, and the bidirectional overrides that reorder what is shown.
_ESCAPES = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -~]?)|\x9b[0-?]*[ -/]*[@-~]?|\x9d[^\x07]*\x07?"
)
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (newlines and tabs kept)."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


class _Printable:
    """A text stream that writes `printable` text to ``stream``."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(printable(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with status 2 and one line, like every other refusal."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="recengine", description="Matrix-factorization recommenders: data, training, use.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for module in COMMAND_MODULES:
        importlib.import_module(f"recengine.cli.{module}").register(commands)
    return parser


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM ends the command as Ctrl-C does, so that partial downloads and model files are removed."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    stdout, sys.stdout = sys.stdout, _Printable(sys.stdout)
    try:
        return int(args.handler(args) or 0)
    except RecEngineError as error:  # one line, whatever a file or a name inside it held
        print(f"recengine {args.command}: {printable(' '.join(str(error).split()))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`recengine ... | head`): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141
    finally:
        sys.stdout = stdout
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def print_json(payload: Any) -> None:
    """One JSON object on stdout (strict JSON: NaN and inf become null)."""
    json.dump(json_safe(payload), sys.stdout, allow_nan=False)
    sys.stdout.write("\n")
