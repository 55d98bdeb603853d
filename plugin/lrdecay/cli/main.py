"""The `lrdecay` command: `search`, `preview`, `report` (and `replay`).

This module builds the parser and dispatches; the work lives in
`lrdecay.cli.search`, `lrdecay.cli.preview`, `lrdecay.cli.report` and
`lrdecay.cli.data`. Building the parser imports neither TensorFlow nor MLflow, so
`lrdecay --help` and `lrdecay preview` are instant, and bad input is reported
before anything heavy loads.

Exit codes: 0 success; 1 the search (or report) failed; 2 bad input (one
line on stderr, no traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from lrdecay import __version__

ALGORITHMS = ("grid", "random", "hyperband", "bayesian")
KINDS = ("step", "exponential", "plateau")
DEFAULT_PROJECT_DIR = "lrdecay_project"
DEFAULT_EXPERIMENT = "lrdecay"

# The default `lrdecay search`: 3 kinds x 4 decay-epoch values = 12 trials of
# DEFAULT_EPOCHS epochs on the digits. Measured on 2 busy CPU cores in the
# README ("what the default run costs").
DEFAULT_EPOCHS = 40
DEFAULT_DECAY_EPOCHS = "5,10,20,30"
DEFAULT_BATCH_SIZE = 32

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# --------------------------------------------------------------------------
# Argument types: each raises `argparse.ArgumentTypeError` naming the value.


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def kind_list(text: str) -> tuple[str, ...]:
    kinds = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    if not kinds:
        raise argparse.ArgumentTypeError(
            f"expected one or more of {','.join(KINDS)}, got {text!r}"
        )
    for kind in kinds:
        if kind not in KINDS:
            raise argparse.ArgumentTypeError(
                f"unknown decay kind {kind!r}; choose from {', '.join(KINDS)}"
            )
    if len(set(kinds)) != len(kinds):
        raise argparse.ArgumentTypeError(f"a decay kind is repeated in {text!r}")
    return kinds


def algorithm_name(text: str) -> str:
    name = text.strip().lower()
    if name not in ALGORITHMS:
        raise argparse.ArgumentTypeError(
            f"unknown algorithm {text!r}; choose from {', '.join(ALGORITHMS)}"
        )
    return name


def _number(text: str) -> int | float:
    value = float(text)
    if value.is_integer() and "." not in text and "e" not in text.lower():
        return int(value)
    return value


def decay_epochs_spec(text: str) -> Any:
    """`10,20,30,50` (a grid), `10:50` or `10:50:5` (a range), fractions.

    Values in (0, 1) given with a decimal point are fractions of the epoch
    budget (`0.25,0.5`). Returns a list (grid) or an `lrdecay.tuning.space.Range`.
    """
    spec = text.strip()
    try:
        if ":" in spec:
            parts = [_number(part) for part in spec.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            low, high = parts[0], parts[1]
            step = parts[2] if len(parts) == 3 else None
            if low <= 0 or high < low or (step is not None and step <= 0):
                raise argparse.ArgumentTypeError(
                    f"empty or non-positive decay-epoch range {text!r}: write "
                    "LOW:HIGH or LOW:HIGH:STEP with 0 < LOW <= HIGH"
                )
            from lrdecay.tuning.space import Range

            return Range(low, high, step)
        values = [_number(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected epochs like 10,20,30,50 or a range like 10:50, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(
            f"empty decay-epoch grid {text!r}: give at least one value, e.g. "
            "10,20,30,50"
        )
    for value in values:
        if value <= 0:
            raise argparse.ArgumentTypeError(
                f"decay epochs must be > 0, got {value!r} in {text!r}"
            )
        if isinstance(value, float) and value > 1:
            raise argparse.ArgumentTypeError(
                f"decay epochs must be whole epochs or fractions in (0, 1], "
                f"got {value!r} in {text!r}"
            )
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"a decay-epoch value is repeated in {text!r}")
    return values


def float_list(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers like 0.1 or 0.01,0.1, got {text!r}"
        ) from None
    if not values or any(not value > 0 for value in values):
        raise argparse.ArgumentTypeError(f"expected rates > 0, got {text!r}")
    return values


# --------------------------------------------------------------------------
# The parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML or YAML file of settings named like the long flags "
        "(epochs, decay-epochs, ...), at its top level or under a table named "
        "after the command; flags given here win",
    )
    verbosity = parser.add_argument_group("output")
    verbosity.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=0,
        help="print only the result (and errors)",
    )
    verbosity.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const=2,
        help="also print every epoch, library logs and tracebacks",
    )


def _add_tracking(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("MLflow")
    group.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking URI, e.g. http://host:5000 (default: "
        "$MLFLOW_TRACKING_URI, else MLflow's default store, sqlite:///mlflow.db "
        "in the current directory)",
    )
    group.add_argument(
        "--experiment",
        metavar="NAME",
        help=f"MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else "
        f"{DEFAULT_EXPERIMENT!r})",
    )


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

    search = commands.add_parser(
        "search",
        help="search the decay kind and epochs (KerasTuner), tracked in MLflow",
        description="Train one model per decay setting and rank them by the "
        "validation metric. Without --data it uses scikit-learn's digits and a "
        "small dense model. Every trial is an MLflow run; running the same "
        "command again resumes the search from --project-dir.",
        epilog="A config file (--config) holds the same settings, named like "
        'the flags, e.g. TOML:  [search]  algorithm = "random"  '
        'decay-epochs = "10:50"  max-trials = 8',
    )
    space = search.add_argument_group("search space")
    space.add_argument(
        "--algorithm",
        type=algorithm_name,
        metavar="{grid,random,hyperband,bayesian}",
        help="the KerasTuner search algorithm (default: grid)",
    )
    space.add_argument(
        "--kinds",
        type=kind_list,
        metavar="KINDS",
        help="comma-separated decay kinds: step, exponential, plateau "
        "(default: all three)",
    )
    space.add_argument(
        "--decay-epochs",
        type=decay_epochs_spec,
        metavar="SPEC",
        help="when the decay acts: epochs between drops (step), half-life "
        "(exponential), patience (plateau). A grid 10,20,30,50; a range "
        "10:50 (random/bayesian sample it, grid walks it) or 10:50:10; or "
        f"fractions of the epoch budget 0.25,0.5 (default: {DEFAULT_DECAY_EPOCHS})",
    )
    space.add_argument(
        "--initial-lr",
        type=float_list,
        metavar="LR",
        help="initial learning rate, or a comma-separated grid to search "
        "(default: the model's own, 0.1 for the bundled model)",
    )
    budget = search.add_argument_group("budget")
    budget.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        help=f"epochs per trial (default: {DEFAULT_EPOCHS})",
    )
    budget.add_argument(
        "--max-trials",
        type=positive_int,
        metavar="N",
        help="most trials to run (default: the whole grid; 10 for random/bayesian)",
    )
    budget.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help=f"training batch size (default: {DEFAULT_BATCH_SIZE})",
    )
    budget.add_argument(
        "--objective",
        metavar="METRIC",
        help="validation metric to rank trials by, e.g. val_loss or "
        "val_accuracy (default: val_loss)",
    )
    budget.add_argument(
        "--seed", type=int, metavar="N", help="random seed (default: 0)"
    )
    data_group = search.add_argument_group("data and model")
    data_group.add_argument(
        "--data",
        metavar="FILE",
        help="a CSV file (with --target) or an .npz file holding x and y "
        "(default: the bundled digits)",
    )
    data_group.add_argument(
        "--target", metavar="COLUMN", help="the CSV column to predict"
    )
    data_group.add_argument(
        "--task",
        choices=("classification", "regression"),
        help="default: detected from the target",
    )
    data_group.add_argument(
        "--val-split",
        type=fraction,
        metavar="FRACTION",
        help="fraction of the data used for validation (default: 0.2)",
    )
    data_group.add_argument(
        "--model",
        metavar="MODULE:FUNCTION",
        help="your own model: a function returning a compiled Keras model; it "
        "may take hp, input_shape, num_outputs, task (default: one hidden "
        "Dense(32) layer, SGD)",
    )
    cluster = search.add_argument_group(
        "several machines (KerasTuner's chief/worker mode; see docs/distributed.md)"
    )
    cluster.add_argument(
        "--tuner-id",
        metavar="ID",
        help="'chief', or a unique worker id (else KERASTUNER_TUNER_ID)",
    )
    cluster.add_argument(
        "--oracle-ip",
        metavar="IP",
        help="the chief's address (else KERASTUNER_ORACLE_IP)",
    )
    cluster.add_argument(
        "--oracle-port",
        metavar="PORT",
        help="the chief's oracle port (else KERASTUNER_ORACLE_PORT)",
    )
    where = search.add_argument_group("where results go")
    where.add_argument(
        "--project-dir",
        metavar="DIR",
        help=f"KerasTuner's directory; re-running resumes from it (default: "
        f"{DEFAULT_PROJECT_DIR})",
    )
    where.add_argument(
        "--project-name",
        metavar="NAME",
        help="name of this search inside --project-dir and in MLflow "
        "(default: derived from the settings)",
    )
    where.add_argument(
        "--overwrite",
        action="store_true",
        help="start the search afresh instead of resuming",
    )
    _add_tracking(search)
    _add_common(search)
    search.set_defaults(handler=_run_search)

    preview = commands.add_parser(
        "preview",
        help="draw learning-rate curves before training (PNG + table)",
        description="Draw the learning-rate curve of decay settings over N "
        "epochs, without training: a PNG and a table on the terminal. Give one "
        "decay with --kind and its flags, or several with repeated --decay "
        "KIND:NAME=VALUE,...",
        epilog="Examples:  lrdecay preview --kind step --initial-lr 0.1 --drop "
        "0.5 --epochs-drop 30 --epochs 100   |   lrdecay preview --decay "
        "step:epochs_drop=30 --decay exponential:k=0.05 --epochs 100",
    )
    preview.add_argument(
        "--kind",
        choices=("step", "multistep", "exponential"),
        help="one decay, set by the flags below",
    )
    preview.add_argument(
        "--decay",
        action="append",
        metavar="KIND:NAME=VALUE,...",
        help="a decay to draw, e.g. step:epochs_drop=30,drop=0.5 or "
        "exponential:k=0.05 or multistep:milestones=30,60; repeat for several",
    )
    preview.add_argument(
        "--initial-lr", type=positive_float, metavar="LR", help="default: 0.1"
    )
    preview.add_argument(
        "--drop", type=positive_float, help="step/multistep factor (default: 0.5)"
    )
    preview.add_argument(
        "--epochs-drop", type=positive_int, metavar="N", help="step period"
    )
    preview.add_argument("--k", type=float, help="exponential rate per epoch")
    preview.add_argument(
        "--half-life",
        type=positive_int,
        metavar="N",
        help="exponential: epochs to halve the rate (k = ln 2 / N)",
    )
    preview.add_argument(
        "--milestones", metavar="E1,E2,...", help="multistep decay epochs"
    )
    preview.add_argument("--min-lr", type=float, metavar="LR", help="a floor")
    preview.add_argument(
        "--warmup-epochs", type=int, metavar="N", help="linear warm-up epochs"
    )
    preview.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        help="epochs to draw (default: 100)",
    )
    preview.add_argument(
        "--out",
        metavar="FILE.png",
        help="where the plot goes (default: lrdecay_preview.png)",
    )
    preview.add_argument(
        "--every",
        type=positive_int,
        metavar="N",
        help="table rows every N epochs, plus every step change (default: "
        "about 20 rows)",
    )
    preview.add_argument("--log-scale", action="store_true", help="log y axis")
    _add_common(preview)
    preview.set_defaults(handler=_run_preview)

    report = commands.add_parser(
        "report",
        help="rank the trials of a search from MLflow, with a comparison plot",
        description="Read an MLflow experiment and print the ranked trials of "
        "its latest search (or --search NAME), and write a plot comparing "
        "their learning-rate and validation curves.",
    )
    report.add_argument(
        "--search",
        metavar="NAME",
        help="the search's project name (tag lrdecay.search); default: the "
        "latest search in the experiment",
    )
    report.add_argument(
        "--out",
        metavar="FILE.png",
        help="where the comparison plot goes (default: lrdecay_report.png)",
    )
    report.add_argument(
        "--objective",
        metavar="METRIC",
        help="metric to rank by (default: the search's objective)",
    )
    _add_tracking(report)
    _add_common(report)
    report.set_defaults(handler=_run_report)

    replay = commands.add_parser(
        "replay",
        help="send an offline run file (written when the server was down) to MLflow",
        description="Re-import the runs that lrdecay wrote to a local file "
        "because the tracking server could not be reached.",
    )
    replay.add_argument("file", metavar="FILE", help="the offline run file")
    replay.add_argument(
        "--tracking-uri", metavar="URI", help="default: $MLFLOW_TRACKING_URI"
    )
    replay.set_defaults(handler=_run_replay)
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

    subparser = _subparser(parser, args.command)
    settings = read_config(config_path, args.command)
    given = {name for name, value in vars(args).items() if value not in (None, False)}
    tokens = config_arguments(
        settings, subparser, given=given, source=f"config file {config_path!r}"
    )
    position = list(argv).index(args.command) + 1
    merged = [*argv[:position], *tokens, *argv[position:]]
    return parser.parse_args(merged)


def _subparser(
    parser: argparse.ArgumentParser, command: str
) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    raise AssertionError("the parser has no commands")


# --------------------------------------------------------------------------
# Dispatch


def main(argv: Sequence[str] | None = None) -> int:
    """Run `lrdecay` with `argv` (default: `sys.argv[1:]`); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args: argparse.Namespace | None = None
    try:
        args = parse_args(parser, argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        if getattr(args, "verbosity", None) is None:
            args.verbosity = 1
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except KeyboardInterrupt:
        print("lrdecay: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if not is_usage_error(error):
            raise
        print(f"lrdecay: error: {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE


def is_usage_error(error: BaseException) -> bool:
    """Whether `error` is bad input (exit 2) rather than a bug or a failure."""
    from lrdecay.cli.config import ConfigError
    from lrdecay.cli.data import DataError
    from lrdecay.cli.preview import PreviewError

    return isinstance(error, (UsageError, ConfigError, DataError, PreviewError))


def one_line(error: BaseException | str) -> str:
    """The message of `error` on one line."""
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())


def _run_search(args: argparse.Namespace) -> int:
    from lrdecay.cli.search import run_search

    return run_search(args)


def _run_preview(args: argparse.Namespace) -> int:
    from lrdecay.cli.preview import run_preview

    return run_preview(args)


def _run_report(args: argparse.Namespace) -> int:
    from lrdecay.cli.report import run_report

    return run_report(args)


def _run_replay(args: argparse.Namespace) -> int:
    from lrdecay.tracking.uri import TrackingUnreachable, check_reachable

    path = args.file
    if not os.path.isfile(path):
        raise UsageError(f"offline run file not found: {path!r}")
    try:
        check_reachable(args.tracking_uri)
    except TrackingUnreachable as error:
        raise UsageError(str(error)) from None
    from lrdecay.tracking.offline import replay

    try:
        run_id = replay(path, tracking_uri=args.tracking_uri)
    except (ValueError, KeyError) as error:
        raise UsageError(f"cannot replay {path!r}: {one_line(error)}") from None
    except Exception as error:
        print(f"lrdecay: replay failed: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    print(run_id)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    # `python -m lrdecay.cli.main`: run the importable module's `main`, so that
    # the modules it imports share its classes (e.g. `UsageError`).
    from lrdecay.cli.main import main as package_main

    sys.exit(package_main())
