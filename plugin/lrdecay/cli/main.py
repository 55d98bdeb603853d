"""The `lrdecay` command: `search`, `budget`, `find-lr`, `preview`, `report`, `replay`.

This module assembles the parser from the commands' own modules and
dispatches; the work lives in `lrdecay.cli.search`, `lrdecay.cli.budget`,
`lrdecay.cli.find_lr`,
`lrdecay.cli.preview`,
`lrdecay.cli.report` and `lrdecay.cli.replay`. Building the parser imports
neither TensorFlow, MLflow nor matplotlib, so `lrdecay --help` and
`lrdecay preview` are instant, and bad input is reported before anything
heavy loads.

Exit codes (`lrdecay.cli.errors`): 0 success; 1 the search (or report)
failed; 2 bad input (one line on stderr, no traceback); 130 interrupted
(Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from lrdecay import __version__
from lrdecay.cli import budget, find_lr, preview, replay, report, search
from lrdecay.cli.errors import (
    EXIT_USAGE,
    UsageError,
    one_line,
    report_stop,
)
from lrdecay.tuning.termination import stop_on_signals


class _Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    """The `lrdecay` argument parser (imports nothing heavy)."""
    parser = _Parser(
        prog="lrdecay",
        description="Learning-rate decay for Keras, chosen by evidence: search "
        "the decay kind and its epochs, track every trial in MLflow.",
        epilog="Start with `lrdecay search` (about 3 minutes on 2 CPU cores), "
        "then `mlflow ui`. Each command has --help.",
    )
    parser.add_argument("--version", action="version", version=f"lrdecay {__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser
    )
    for command in (search, budget, find_lr, preview, report, replay):
        command.add_parser(commands)
    return parser


def parse_args(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> argparse.Namespace:
    """Parse `argv`, with the settings of `--config FILE` under the flags."""
    args = parser.parse_args(argv)
    config_path = getattr(args, "config", None)
    if not config_path:
        return args
    from lrdecay.cli.config import config_arguments, read_config

    commands = _commands(parser)
    subparser = commands.choices[args.command]
    settings = read_config(config_path, args.command, commands=list(commands.choices))
    given = {name for name, value in vars(args).items() if value not in (None, False)}
    tokens = config_arguments(
        settings, subparser, given=given, source=f"config file {config_path!r}"
    )
    position = list(argv).index(args.command) + 1
    merged = [*argv[:position], *tokens, *argv[position:]]
    return parser.parse_args(merged)


def _commands(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise AssertionError("the parser has no commands")


def main(argv: Sequence[str] | None = None) -> int:
    """Run `lrdecay` with `argv` (default: `sys.argv[1:]`); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        # Ctrl-C and SIGTERM stop the command wherever they land (a search
        # stops at its next batch even when the exception was swallowed);
        # the handlers are restored when it ends.
        with stop_on_signals():
            return _run(argv)
    except KeyboardInterrupt as error:
        return report_stop(error)


def _run(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parse_args(parser, argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        if getattr(args, "verbosity", None) is None:
            args.verbosity = 1
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except UsageError as error:
        print(f"lrdecay: error: {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
