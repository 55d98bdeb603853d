"""`lrdecay budget`: how many epochs to train, from one constant-rate trunk.

`lrdecay budget --budgets 10,20,40,80` runs `lrdecay.budget()` on the
bundled digits (or `--data`) and prints one row per budget (the WSD run's
score, mean ± spread over `--repeats`, and the constant rate's after the
same epochs), the verdict on length, the line to paste and
`epochs: N trained of M (P%)`. Bad input is one line on stderr, exit 2,
before TensorFlow loads where it can be.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
import warnings
from typing import Any

from lrdecay import defaults
from lrdecay.cli import arguments
from lrdecay.cli.errors import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    one_line,
    report_stop,
)
from lrdecay.schedules import WSDSchedule
from lrdecay.tracking import uri as tracking_uri

# The splits of `lrdecay search`, so both commands validate on the same data.
DEFAULT_VAL_SPLIT = 0.2
DEFAULT_TEST_SPLIT = 0.2


def budget_list(text: str) -> list[int]:
    """`10,20,40`: whole numbers of epochs > 0."""
    return [arguments.positive_int(part) for part in text.split(",")]


def run_budget(args: argparse.Namespace) -> int:
    """`lrdecay budget`: check, run the budget search, print its evidence."""
    from lrdecay.cli import quiet

    with quiet.framework_output(args.verbosity):
        return _run_budget(args)


def _run_budget(args: argparse.Namespace) -> int:
    from lrdecay.cli import data, models, quiet
    from lrdecay.tuning.budgets.plan import make_budget_plan

    try:
        plan = make_budget_plan(
            args.budgets or list(defaults.BUDGETS),
            defaults.BUDGET_COOLDOWN if args.cooldown is None else args.cooldown,
            args.shape or defaults.BUDGET_SHAPE,
        )
    except (TypeError, ValueError) as error:
        raise UsageError(one_line(error)) from None
    objective = args.objective or defaults.OBJECTIVE
    if not objective.startswith("val_"):
        raise UsageError(
            f"--objective {objective!r}: score budgets by a validation metric "
            "such as val_loss or val_accuracy."
        )
    if args.model:
        models.check_model_spec(args.model)
    uri = tracking_uri.resolve(args.tracking_uri)
    experiment = arguments.experiment_name(args.experiment)
    try:
        tracking_uri.check_reachable(uri, experiment_name=experiment)
    except tracking_uri.TrackingUnreachable as error:
        raise UsageError(str(error)) from None
    uri = tracking_uri.hand_credentials_to_mlflow(uri)
    if args.target is not None and args.data is None:
        raise UsageError(f"--target {args.target!r} needs --data FILE.")
    dataset = data.load_dataset(
        args.data,
        target=args.target,
        task=args.task,
        val_split=DEFAULT_VAL_SPLIT if args.val_split is None else args.val_split,
        test_split=DEFAULT_TEST_SPLIT,
        seed=data.DEFAULT_SPLIT_SEED if args.seed is None else args.seed,
        table_options=arguments.table_options(args),
    )
    quiet.import_backend(args.verbosity)
    if args.model:
        build: Any = models.load_model_builder(args.model, dataset)
        models.check_model(build, dataset)
    else:
        build = models.default_model_builder(dataset)
    if args.dry_run:
        _print_dry_run(args, plan, dataset, uri, experiment)
        return EXIT_OK
    if args.verbosity >= 1:
        repeats = args.repeats or defaults.REPEATS
        independent = plan.epochs_independent(repeats)
        trained = independent if args.no_share_prefix else plan.epochs_trained(repeats)
        print(f"data      {dataset.describe()}")
        print(
            f"budgets   {', '.join(str(b) for b in plan.budgets)} epochs; WSD "
            f"cooldown {plan.cooldown:g} ({plan.shape}); {trained} epochs to "
            f"train of {independent}"
        )
    tracking = {"tracking_uri": uri, "experiment_name": experiment}
    result = _budget(args, plan, build, dataset, objective, tracking)
    if isinstance(result, int):
        return result
    print()
    print(result)
    if result.search.parent_run_id is not None and args.verbosity >= 1:
        print(
            f"MLflow: parent run {result.search.parent_run_id} holds "
            "lrdecay/budget_curve.png"
        )
    return EXIT_OK


def _print_dry_run(
    args: argparse.Namespace,
    plan: Any,
    dataset: Any,
    uri: str | None,
    experiment: str,
) -> None:
    """`--dry-run`, after the checks a run makes first: what it would train.

    Its last lines are those of `lrdecay search --dry-run`.
    """
    from lrdecay.tracking.credentials import redact
    from lrdecay.tracking.preflight import MLFLOW_DEFAULT_URI

    repeats = args.repeats or defaults.REPEATS
    print(f"data      {dataset.describe()}")
    print(plan.outline(repeats, share_prefix=not args.no_share_prefix))
    print(f"tracking  {redact(uri or MLFLOW_DEFAULT_URI)}, experiment {experiment!r}")
    print(f"seed      {'picked when it runs' if args.seed is None else args.seed}")
    print("Dry run: nothing trained, no project file or MLflow run created.")


def _budget(
    args: argparse.Namespace,
    plan: Any,
    build: Any,
    dataset: Any,
    objective: str,
    tracking: dict[str, Any],
) -> Any:
    """Run `lrdecay.budget()`: its `BudgetResult`, or the exit code it ended with."""
    from lrdecay.cli.search import data_identity
    from lrdecay.tuning.budgets.runner import budget
    from lrdecay.tuning.evidence.result import EvidenceWarning
    from lrdecay.tuning.termination import stop_handled

    started = time.monotonic()
    trained = []

    def progress(event: Any) -> None:
        trained.append(event)
        if args.verbosity >= 1:
            budget_epochs = event.settings.get("decay_epochs", "?")
            print(
                f"[{event.index}/{event.total or '?'}] budget {budget_epochs}: "
                f"{event.status}  [{time.monotonic() - started:.0f}s]",
                flush=True,
            )

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EvidenceWarning)
            return budget(
                build, dataset.x_train, dataset.y_train,
                validation_data=(dataset.x_val, dataset.y_val),
                budgets=plan.budgets, cooldown=plan.cooldown, shape=plan.shape,
                initial_lr=args.initial_lr, objective=objective,
                repeats=args.repeats, seed=args.seed,
                share_prefix=not args.no_share_prefix,
                project_dir=args.project_dir or defaults.PROJECT_DIR,
                project_name=args.project_name, overwrite=args.overwrite,
                tracking=tracking, progress=progress,
                data_identity=data_identity(args),
                batch_size=args.batch_size or defaults.BATCH_SIZE,
            )  # fmt: skip
    except KeyboardInterrupt as error:
        stop_handled()
        return report_stop(error, "run the same command again to resume.")
    except Exception as error:
        if args.verbosity >= 2:
            traceback.print_exc()
        if isinstance(error, (TypeError, ValueError)) and not trained:
            raise UsageError(one_line(error)) from None
        print(f"lrdecay: budget search failed: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILED


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `budget` and its flags to the `lrdecay` subcommands."""
    parser = commands.add_parser(
        "budget",
        help="how many epochs to train: WSD cooldowns off one constant-rate run",
        description="Score a warmup-stable-decay run of each budget (epochs): "
        "one constant-rate trunk trained once, a cooldown branched off it per "
        "budget, each exactly the independent run of that length, at about "
        "half the epochs. Without --data it uses scikit-learn's digits and a "
        "small dense model; every run is an MLflow run.",
    )
    _add_budget_flags(parser.add_argument_group("budgets"))
    _add_other_flags(parser)


def _add_budget_flags(group: Any) -> None:
    """`--budgets`, the cooldown and what is repeated or shared."""
    group.add_argument(
        "--budgets",
        type=budget_list,
        metavar="N,N,...",
        help="the epochs of each run (default: "
        f"{','.join(str(b) for b in defaults.BUDGETS)})",
    )
    group.add_argument(
        "--cooldown",
        type=arguments.positive_float,
        metavar="FRACTION",
        help="the cooldown's fraction of each budget, in (0, 1] (default: "
        f"{defaults.BUDGET_COOLDOWN})",
    )
    group.add_argument(
        "--shape",
        choices=WSDSchedule.SHAPES,
        help=f"the cooldown's shape (default: {defaults.BUDGET_SHAPE})",
    )
    group.add_argument(
        "--initial-lr",
        type=arguments.positive_float,
        metavar="LR",
        help="the stable rate (default: the model's own)",
    )
    group.add_argument(
        "--batch-size",
        type=arguments.positive_int,
        metavar="N",
        help=f"training batch size (default: {defaults.BATCH_SIZE})",
    )
    group.add_argument(
        "--objective",
        metavar="METRIC",
        help=f"validation metric scored (default: {defaults.OBJECTIVE})",
    )
    group.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="the search's seed; run i of each budget uses seed + i "
        "(default: one is picked and recorded)",
    )
    group.add_argument(
        "--repeats",
        type=arguments.positive_int,
        metavar="N",
        help="runs per budget, one seed each: the verdict weighs the spread",
    )
    group.add_argument(
        "--no-share-prefix",
        action="store_true",
        help="train every run whole (the same numbers, at full cost)",
    )


def _add_other_flags(parser: argparse.ArgumentParser) -> None:
    """The data, model, results and tracking flags `lrdecay search` has too."""
    source = parser.add_argument_group("data and model")
    arguments.add_data_source(source)
    source.add_argument(
        "--val-split",
        type=arguments.fraction,
        metavar="FRACTION",
        help=f"fraction of the data used for validation (default: {DEFAULT_VAL_SPLIT})",
    )
    source.add_argument(
        "--model",
        metavar="MODULE:FUNCTION",
        help="your own model: a function returning a compiled Keras model, "
        "as for `lrdecay search --model`",
    )
    where = parser.add_argument_group("where results go")
    where.add_argument(
        "--project-dir",
        metavar="DIR",
        help=f"KerasTuner's directory; re-running resumes from it (default: "
        f"{defaults.PROJECT_DIR})",
    )
    where.add_argument(
        "--project-name",
        metavar="NAME",
        help="name of this search in --project-dir and in MLflow (default: "
        "budget-<data>-<hash>, <data> the --data file's name, as `lrdecay "
        "search` names its project)",
    )
    where.add_argument(
        "--overwrite", action="store_true", help="start afresh instead of resuming"
    )
    where.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything (flags, data, model, tracking store) and print "
        "what would train (each budget's cooldown, the trunk, the epochs); "
        "train nothing, create no project file or MLflow run",
    )
    arguments.add_tracking(parser)
    arguments.add_common(parser)
    parser.set_defaults(handler=run_budget)
