"""`lrdecay search`: from flags to a tracked KerasTuner search and a ranked table.

Everything that can be wrong with the input (data, model spec, search space,
tracking server) is checked before TensorFlow loads and before any MLflow run
is created; such errors are `UsageError`s (one line, exit 2). A search that
starts and then fails exits 1.

Every default is `lrdecay.defaults`', as for `lrdecay.search()`: the same
search started from Python resumes from the command line, and the reverse.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any

from lrdecay import defaults, schedules
from lrdecay.cli import arguments, progress, search_flags
from lrdecay.cli.errors import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    one_line,
    report_stop,
)
from lrdecay.cli.output import (
    EPOCH_BUDGET,
    failure_line,
    print_banner,
    print_range_test,
    print_rate_warning,
    print_result,
)
from lrdecay.cli.search_flags import DEFAULT_TEST_SPLIT, DEFAULT_VAL_SPLIT
from lrdecay.tracking import uri as tracking_uri

# The flags that say which data and model a search trains; without any of
# them it is the bundled digits and the default model, as from Python.
_DATA_FLAGS = ("data", "target", "task", "val_split", "test_split", "model")


def search_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The flags with `lrdecay.defaults` filled in."""
    initial_lr = args.initial_lr
    if isinstance(initial_lr, list) and len(initial_lr) == 1:
        initial_lr = initial_lr[0]
    epochs = args.epochs or defaults.EPOCHS
    algorithm = args.algorithm or defaults.ALGORITHM
    return {
        "algorithm": algorithm,
        "kinds": tuple(args.kinds or schedules.DEFAULT_KINDS),
        "decay_epochs": _decay_epochs(args.decay_epochs, epochs, algorithm),
        "initial_lr": initial_lr,
        "epochs": epochs,
        "max_trials": args.max_trials,
        "batch_size": args.batch_size or defaults.BATCH_SIZE,
        "objective": args.objective or defaults.OBJECTIVE,
        "seed": defaults.SEED if args.seed is None else args.seed,
        "control": defaults.CONTROL and not args.no_control,
        "share_prefix": defaults.SHARE_PREFIX and not args.no_share_prefix,
        "repeats": args.repeats or defaults.REPEATS,
        "project_dir": args.project_dir or defaults.PROJECT_DIR,
        "experiment_name": arguments.experiment_name(args.experiment),
        "tracking_uri": tracking_uri.resolve(args.tracking_uri),
    }


def _decay_epochs(given: Any, epochs: int, algorithm: str) -> Any:
    """The decay epochs searched: the default follows `--epochs`; a range cut at it.

    `lrdecay.tuning.searchspace.budget.fit_to_budget`, as for `lrdecay.search()`; a
    range cut to the budget is said in one warning line.
    """
    from lrdecay.tuning.searchspace.budget import fit_to_budget

    budgeted = fit_to_budget(given, epochs, algorithm)
    if budgeted.note is not None:
        print(f"lrdecay: warning: {budgeted.note}", file=sys.stderr)
    if given is None:
        return list(budgeted.decay_epochs)
    return budgeted.decay_epochs


def data_identity(args: argparse.Namespace) -> dict[str, Any] | None:
    """What the data and model flags add to the search's identity.

    `None` for the bundled digits with the default model and split: the
    search `lrdecay.search()` runs on them with its defaults is this one.
    """
    if all(getattr(args, flag, None) is None for flag in _DATA_FLAGS):
        return None
    return {
        "name": os.path.splitext(os.path.basename(args.data))[0]
        if args.data
        else "digits",
        "data": os.path.abspath(args.data) if args.data else None,
        "target": args.target,
        "task": args.task,
        "val_split": args.val_split,
        "test_split": getattr(args, "test_split", None),  # not `lrdecay budget`
        "model": args.model,
    }


def check_space(settings: dict[str, Any]) -> None:
    """Raise `UsageError` for a search space that cannot run (before training)."""
    from lrdecay.tuning.searchspace.space import DecaySpace

    try:
        initial_lr = settings["initial_lr"]
        space = DecaySpace(
            settings["kinds"],
            settings["decay_epochs"],
            # `auto` is a grid the range test makes once the search starts.
            initial_lr=None if initial_lr == defaults.AUTO_INITIAL_LR else initial_lr,
        )
        space.check_budget(settings["epochs"])
    except (TypeError, ValueError) as error:
        raise UsageError(one_line(error)) from None
    if settings["algorithm"] == "hyperband" and settings["max_trials"] is not None:
        raise UsageError(
            "--max-trials does not apply to hyperband, which sets its trials "
            f"from --epochs. Received: --max-trials {settings['max_trials']}"
        )


def run_search(args: argparse.Namespace) -> int:
    """`lrdecay search`: validate, search, print the ranked table."""
    from lrdecay.cli import quiet

    # Before anything can import TensorFlow or MLflow.
    with quiet.framework_output(args.verbosity):
        return _run_search(args)


def _run_search(args: argparse.Namespace) -> int:

    settings = search_settings(args)
    check_space(settings)
    if args.model:
        from lrdecay.cli import models

        # The file and its function, in a second, before TensorFlow loads.
        models.check_model_spec(args.model)
    # The store first: before the data, TensorFlow, or anything is created.
    try:
        tracking_uri.check_reachable(
            settings["tracking_uri"], experiment_name=settings["experiment_name"]
        )
    except tracking_uri.TrackingUnreachable as error:
        raise UsageError(str(error)) from None
    # MLflow prints the URI it logs to: it gets one without a password.
    settings["tracking_uri"] = tracking_uri.hand_credentials_to_mlflow(
        settings["tracking_uri"]
    )
    with _workers_ahead(args):
        return _run_checked_search(args, settings)


def _workers_ahead(args: argparse.Namespace) -> Any:
    """`--jobs N`'s workers, started before the data and TensorFlow load.

    They import while this process (the chief) loads; the search takes
    them, and they are stopped if it never starts.
    """
    import contextlib

    from lrdecay.tuning import distributed

    if args.jobs in (None, 1) or args.dry_run:
        return contextlib.nullcontext()
    try:
        if _resolve_role(args).is_distributed:
            return contextlib.nullcontext()  # refused later, in one line
        jobs = distributed.resolve_jobs(args.jobs)
    except (TypeError, ValueError):  # UsageError too: said later, in one line
        return contextlib.nullcontext()
    return distributed.prestarted_workers(jobs)


def _run_checked_search(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from lrdecay.cli import quiet

    dataset = _load_dataset(args, settings)
    if not settings["objective"].startswith("val_"):
        raise UsageError(
            f"--objective {settings['objective']!r}: rank trials by a validation "
            "metric such as val_loss or val_accuracy."
        )
    _warn_about_batch_size(settings["batch_size"], dataset)
    quiet.import_backend(args.verbosity)
    model = _model(args, settings, dataset)
    project_name = _project_name(args, settings, model, dataset)
    if args.verbosity >= 1 and not args.dry_run:
        resuming = not args.overwrite and os.path.exists(
            os.path.join(settings["project_dir"], project_name, "oracle.json")
        )
        print_banner(settings, dataset, project_name, resuming)
    role = _resolve_role(args)
    from lrdecay.tuning import distributed

    if args.dry_run:
        return _dry_run(args, settings, model, dataset, project_name)
    # KerasTuner reads the role from its variables; restored after the search.
    # The command owns the process: a worker whose chief is gone is
    # interrupted at once (or ended, if stuck).
    with role.exported(), distributed.on_chief_gone(distributed.interrupt_or_exit):
        outcome = _search(args, settings, model, dataset, project_name)
    if isinstance(outcome, int):
        return outcome
    if role.is_worker:
        print(
            f"Worker {role.tuner_id}: no trial left. The chief ({role.address}) "
            "prints the ranked trials and the best one."
        )
        return EXIT_OK
    print_range_test(outcome, args.verbosity)
    from lrdecay.cli.encoding_record import record_encoding

    record_encoding(
        dataset, outcome, os.path.join(settings["project_dir"], project_name)
    )
    print_result(
        outcome,
        dataset,
        settings,
        project_name,
        args.verbosity,
        hyperparameter_names=model.hyperparameter_names,
    )
    print_rate_warning(outcome)
    from lrdecay.tuning.evidence.failures import failures_note

    note = failures_note(outcome.tuner.oracle.trials.values())
    if note is not None:  # a damaged file, a lost connection: not evidence
        print(f"lrdecay: {note}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _project_name(
    args: argparse.Namespace, settings: dict[str, Any], model: _Model, dataset: Any
) -> str:
    """The search's project: `--project-name`, else named after its identity.

    The identity (`lrdecay.tuning.pipeline.identity`: the settings, the data and the
    model) is what `lrdecay.search()` names its project after, plus the
    data and model flags: the bundled digits with the default model get the
    name `lrdecay.search()` gives them. A project that holds another search
    stops here (exit 2) unless `--overwrite`.
    """
    from lrdecay.tuning.pipeline import identity

    search_identity = identity.identify(
        settings,
        model.build,
        dataset.x_train,
        dataset.y_train,
        (dataset.x_val, dataset.y_val),
        seed=settings["seed"],
    )
    project_name = args.project_name or search_identity.project_name(
        data_identity(args)
    )
    try:
        identity.check_project(
            os.path.join(settings["project_dir"], project_name),
            search_identity,
            overwrite=args.overwrite,
            arguments=("--project-name", "--overwrite"),
        )
    except ValueError as error:
        raise UsageError(one_line(error)) from None
    return project_name


@dataclasses.dataclass(frozen=True)
class _Model:
    """The model a search trains, and what its own hyperparameters add.

    `hyperparameter_names`: the values besides the decay's that trials
    differ in (the model's own `hp`, Hyperband's epoch budget), shown in the
    progress lines and the ranking. `grid_factor`: the grid points the
    model's own `hp` add per decay setting (`None`: unknown).
    """

    build: Callable[[Any], Any]
    hyperparameter_names: list[str]
    grid_factor: int | None


def _model(args: argparse.Namespace, settings: dict[str, Any], dataset: Any) -> _Model:
    """The default model, or the user's `--model`, checked before any run."""
    from lrdecay.cli import models

    own: list[Any] = []
    if args.model:
        build: Callable[..., Any] = models.load_model_builder(args.model, dataset)
        own = models.check_model(build, dataset)
    else:
        build = models.default_model_builder(dataset)
    names = [hyperparameter.name for hyperparameter in own]
    if settings["algorithm"] == "hyperband":
        names.append(EPOCH_BUDGET)
    return _Model(
        build=progress.recording(build, bool(args.model), names),
        hyperparameter_names=names,
        grid_factor=models.grid_points(own) if settings["algorithm"] == "grid" else 1,
    )


def _warn_about_batch_size(batch_size: int, dataset: Any) -> None:
    samples = len(dataset.x_train)
    if batch_size > samples:
        print(
            f"lrdecay: warning: --batch-size {batch_size} is larger than the "
            f"training set ({samples} samples): every epoch is one step on "
            "all of it.",
            file=sys.stderr,
        )


def _load_dataset(args: argparse.Namespace, settings: dict[str, Any]) -> Any:
    from lrdecay.cli import data

    if args.target is not None and args.data is None:
        raise UsageError(f"--target {args.target!r} needs --data FILE.")
    seed = settings["seed"]
    return data.load_dataset(
        args.data,
        target=args.target,
        task=args.task,
        val_split=DEFAULT_VAL_SPLIT if args.val_split is None else args.val_split,
        test_split=DEFAULT_TEST_SPLIT if args.test_split is None else args.test_split,
        # Without --seed the split is still the same every time: a resumed
        # search must validate on the data it started with.
        seed=data.DEFAULT_SPLIT_SEED if seed is None else seed,
        table_options=arguments.table_options(args),
    )


def _dry_run(
    args: argparse.Namespace,
    settings: dict[str, Any],
    model: _Model,
    dataset: Any,
    project_name: str,
) -> int:
    """`--dry-run`: the search's own last checks, then its outline; no training."""
    from lrdecay.tuning.pipeline import runner as tuning

    try:
        outline = tuning.search_outline(
            model.build,
            dataset.x_train,
            dataset.y_train,
            **_search_arguments(args, settings, dataset, project_name),
        )
    except (TypeError, ValueError) as error:
        raise UsageError(one_line(error)) from None
    print(f"data      {dataset.describe()}")
    print(outline)
    return EXIT_OK


def _search_arguments(
    args: argparse.Namespace,
    settings: dict[str, Any],
    dataset: Any,
    project_name: str,
) -> dict[str, Any]:
    """The keywords of `lrdecay.search()` the flags give."""
    return {
        "validation_data": (dataset.x_val, dataset.y_val),
        "algorithm": settings["algorithm"],
        "kinds": settings["kinds"],
        "decay_epochs": settings["decay_epochs"],
        "epochs": settings["epochs"],
        "max_trials": settings["max_trials"],
        "objective": settings["objective"],
        "batch_size": settings["batch_size"],
        "seed": settings["seed"],
        "control": settings["control"],
        "share_prefix": settings["share_prefix"],
        "repeats": settings["repeats"],
        "initial_lr": settings["initial_lr"],
        "project_dir": settings["project_dir"],
        "project_name": project_name,
        "tuner_options": {"overwrite": args.overwrite},
        "jobs": args.jobs or 1,
        "tracking": {
            name: settings[name]
            for name in ("tracking_uri", "experiment_name")
            if settings[name] is not None
        },
    }


def _resolve_role(args: argparse.Namespace) -> Any:
    """Chief or worker of a distributed search: options, else KERASTUNER_*."""
    from lrdecay.tuning import distributed

    try:
        role = distributed.resolve_role(
            getattr(args, "tuner_id", None),
            getattr(args, "oracle_ip", None),
            getattr(args, "oracle_port", None),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    return role


def _search(
    args: argparse.Namespace,
    settings: dict[str, Any],
    model: _Model,
    dataset: Any,
    project_name: str,
) -> Any:
    """Run the search: its `SearchResult`, or the exit code it ended with."""
    from lrdecay._compat.keras_tuner import debug_tracebacks
    from lrdecay.tuning import distributed
    from lrdecay.tuning.evidence.result import EvidenceWarning
    from lrdecay.tuning.pipeline import runner as tuning
    from lrdecay.tuning.termination import stop_handled

    verbosity = args.verbosity
    if args.jobs not in (None, 1) and verbosity >= 1:
        print(f"Trials at a time: {distributed.resolve_jobs(args.jobs).reason}")
    progress.start(verbosity)
    callbacks = [
        progress.epoch_ticker(settings["epochs"], settings["objective"], verbosity)
    ]
    try:
        # KerasTuner prints every failed trial's traceback in debug mode (its
        # default); the trial's message and its FAILED run keep the reason.
        # The verdict and the rate warning: printed with the result, once.
        with debug_tracebacks(verbosity >= 2), warnings.catch_warnings():
            warnings.simplefilter("ignore", EvidenceWarning)
            return tuning.search(
                model.build,
                dataset.x_train,
                dataset.y_train,
                **_search_arguments(args, settings, dataset, project_name),
                callbacks=callbacks,
                progress=progress.trial_printer(
                    verbosity, model.grid_factor, settings["max_trials"]
                ),
                verbose=2 if verbosity >= 2 else 0,
            )
    except KeyboardInterrupt as error:
        # SIGTERM (Kubernetes, Slurm, `docker stop`) ends it the same way.
        stop_handled()
        progress.end_line()
        return report_stop(error, "run the same command again to resume the search.")
    except distributed.SearchEndedError as error:
        progress.end_line()
        print(f"lrdecay: {error}", file=sys.stderr)
        return EXIT_OK
    except Exception as error:
        progress.end_line()
        if verbosity >= 2:
            traceback.print_exc()
        if isinstance(error, (TypeError, ValueError)) and not progress.trained():
            # Rejected before any training: bad input, nothing to clean up.
            raise UsageError(one_line(error)) from None
        print(f"lrdecay: search failed: {failure_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        progress.end_line()


# --------------------------------------------------------------------------
# The parser


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `search` and its flags to the `lrdecay` subcommands."""
    parser = commands.add_parser(
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
    search_flags.add_search_flags(parser)
    arguments.add_tracking(parser)
    arguments.add_common(parser)
    parser.set_defaults(handler=run_search)
