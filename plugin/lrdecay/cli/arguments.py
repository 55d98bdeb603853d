"""Argument types and option groups shared by the `lrdecay` commands.

Each type raises `argparse.ArgumentTypeError` naming the value, so argparse
reports it as `argument --flag: ...`. The choices come from
`lrdecay.defaults`, the one home of the search's vocabulary and defaults.
Nothing here imports more than the standard library (and, for a decay-epoch
range, `lrdecay.tuning.searchspace.space`).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from lrdecay import defaults, schedules


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


def jobs_spec(text: str) -> int | str:
    """`--jobs`: a whole number >= 1, or `auto`."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a number of trials at a time >= 1 or 'auto', got {text!r}"
        ) from None


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
            f"expected one or more of {','.join(schedules.SEARCHABLE_KINDS)}, "
            f"got {text!r}"
        )
    for kind in kinds:
        if kind not in schedules.SEARCHABLE_KINDS:
            raise argparse.ArgumentTypeError(
                f"unknown decay kind {kind!r}; choose from "
                f"{', '.join(schedules.SEARCHABLE_KINDS)}"
            )
    if len(set(kinds)) != len(kinds):
        raise argparse.ArgumentTypeError(f"a decay kind is repeated in {text!r}")
    return kinds


def algorithm_name(text: str) -> str:
    name = text.strip().lower()
    if name not in defaults.ALGORITHMS:
        raise argparse.ArgumentTypeError(
            f"unknown algorithm {text!r}; choose from {', '.join(defaults.ALGORITHMS)}"
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
    budget (`0.25,0.5`). Returns a list (grid) or an
    `lrdecay.tuning.searchspace.space.Range`.
    """
    spec = text.strip()
    try:
        if ":" in spec:
            return _decay_epochs_range(spec, text)
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


def _decay_epochs_range(spec: str, text: str) -> Any:
    parts = [_number(part) for part in spec.split(":")]
    if len(parts) not in (2, 3):
        raise ValueError(spec)
    low, high = parts[0], parts[1]
    step = parts[2] if len(parts) == 3 else None
    if low <= 0 or high < low or (step is not None and step <= 0):
        raise argparse.ArgumentTypeError(
            f"empty or non-positive decay-epoch range {text!r}: write "
            "LOW:HIGH or LOW:HIGH:STEP with 0 < LOW <= HIGH"
        )
    from lrdecay.tuning.searchspace.space import Range

    return Range(low, high, step)


def initial_lr_spec(text: str) -> list[float] | str:
    """`auto`, a rate `0.1`, or a grid of rates `0.01,0.1`."""
    if text.strip().lower() == defaults.AUTO_INITIAL_LR:
        return defaults.AUTO_INITIAL_LR
    return float_list(text)


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
# Option groups more than one command has


def add_common(parser: argparse.ArgumentParser) -> None:
    """`--config FILE`, `-q/--quiet` and `-v/--verbose`."""
    command = parser.prog.split()[-1]  # "lrdecay budget": budget
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML or YAML file of settings named like this command's long "
        f"flags, at its top level or under a [{command}] table (which wins); "
        "flags given here win",
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


def add_tracking(parser: argparse.ArgumentParser) -> None:
    """`--tracking-uri URI` and `--experiment NAME`."""
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
        f"{defaults.EXPERIMENT!r})",
    )


def experiment_name(given: str | None) -> str:
    """`--experiment`, else `$MLFLOW_EXPERIMENT_NAME`, else the default."""
    return given or os.environ.get("MLFLOW_EXPERIMENT_NAME") or defaults.EXPERIMENT


def add_data_source(group: Any) -> None:
    """`--data`, `--target`, `--task`: what a command trains on (search, find-lr)."""
    group.add_argument(
        "--data",
        metavar="FILE",
        help="a CSV, TSV or Parquet file (with --target) or an .npz file "
        "holding x and y (default: the bundled digits)",
    )
    group.add_argument(
        "--target", metavar="COLUMN", help="the table's column to predict"
    )
    group.add_argument(
        "--task",
        choices=("classification", "regression"),
        help="default: detected from the target",
    )
    group.add_argument(
        "--categorical",
        type=column_list,
        metavar="COLS",
        help="comma-separated columns to one-hot encode (hashed above 100 "
        "values), whatever they hold (default: text columns, and integer "
        "columns with at most 10 distinct values)",
    )
    group.add_argument(
        "--numeric",
        type=column_list,
        metavar="COLS",
        help="comma-separated columns to read as numbers and normalize "
        "(default: every other column)",
    )
    group.add_argument(
        "--impute",
        action="store_true",
        help="fill missing values with the training split's median (numeric "
        "columns) or most frequent value (categorical ones) instead of stopping",
    )
    group.add_argument(
        "--memory-budget",
        type=positive_int,
        metavar="MIB",
        help="memory the table may take: a file larger than a tenth of it is "
        "read in chunks, split by a hash of each row, and only its encoded "
        "features are kept (default: 1024)",
    )


def column_list(text: str) -> tuple[str, ...]:
    """`a, b,c` -> `("a", "b", "c")`; argparse's type for a list of columns."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated column names. Received: {text!r}"
        )
    return names


def table_options(args: argparse.Namespace) -> Any:
    """A command's `--categorical`, `--numeric`, `--impute`, `--memory-budget`."""
    from lrdecay.cli.columns import TableOptions

    budget = getattr(args, "memory_budget", None)
    return TableOptions(
        categorical=getattr(args, "categorical", None) or (),
        numeric=getattr(args, "numeric", None) or (),
        impute=bool(getattr(args, "impute", False)),
        **({} if budget is None else {"memory_budget_mib": budget}),
    )
