"""The flags of `lrdecay search`, by group, with the defaults they show.

`lrdecay.cli.search` adds them to its parser (`add_parser`) and reads them;
every default not named here is `lrdecay.defaults`', as for `lrdecay.search()`.
"""

from __future__ import annotations

import argparse

from lrdecay import defaults, kinds, schedules
from lrdecay.cli import arguments

# The fractions of the data `lrdecay search` validates on without
# --val-split, and holds out to score the best model on without --test-split.
DEFAULT_VAL_SPLIT = 0.2
DEFAULT_TEST_SPLIT = 0.2


def add_search_flags(parser: argparse.ArgumentParser) -> None:
    """Add the search space, budget, data, cluster and project flags."""
    _add_space(parser)
    _add_budget(parser)
    _add_data(parser)
    _add_cluster(parser)
    _add_project(parser)


def _add_space(parser: argparse.ArgumentParser) -> None:
    space = parser.add_argument_group("search space")
    space.add_argument(
        "--algorithm",
        type=arguments.algorithm_name,
        metavar="{" + ",".join(defaults.ALGORITHMS) + "}",
        help=f"the KerasTuner search algorithm (default: {defaults.ALGORITHM})",
    )
    space.add_argument(
        "--kinds",
        type=arguments.kind_list,
        metavar="KINDS",
        help=f"comma-separated decay kinds: {', '.join(schedules.SEARCHABLE_KINDS)} "
        f"(default: {','.join(schedules.DEFAULT_KINDS)})",
    )
    space.add_argument(
        "--decay-epochs",
        type=arguments.decay_epochs_spec,
        metavar="SPEC",
        help="when the decay acts, in epochs; they set each kind's argument: "
        f"{kinds.decay_args_text()}. A grid 10,20,30,50; a range "
        "10:50 (random/bayesian sample it, grid walks it) or 10:50:10; or "
        "fractions of the epoch budget 0.25,0.5 (default: "
        f"{','.join(str(value) for value in defaults.DECAY_EPOCHS)}; hyperband: "
        f"{','.join(str(value) for value in defaults.HYPERBAND_DECAY_EPOCHS)} "
        "of each trial's budget)",
    )
    space.add_argument(
        "--initial-lr",
        type=arguments.initial_lr_spec,
        metavar="LR",
        help="initial learning rate, or a comma-separated grid to search, or "
        "'auto': run the LR range test (`lrdecay find-lr`) on the training "
        "data first and search the suggestion x0.3, x1 and x3 (default: the "
        "model's own, 0.1 for the bundled model)",
    )


def _add_budget(parser: argparse.ArgumentParser) -> None:
    budget = parser.add_argument_group("budget")
    budget.add_argument(
        "--epochs",
        type=arguments.positive_int,
        metavar="N",
        help=f"epochs per trial (default: {defaults.EPOCHS})",
    )
    budget.add_argument(
        "--max-trials",
        type=arguments.positive_int,
        metavar="N",
        help="most trials to run (default: the whole grid; 10 for random/bayesian)",
    )
    budget.add_argument(
        "--batch-size",
        type=arguments.positive_int,
        metavar="N",
        help=f"training batch size (default: {defaults.BATCH_SIZE})",
    )
    budget.add_argument(
        "--objective",
        metavar="METRIC",
        help="validation metric to rank trials by, e.g. val_loss or "
        f"val_accuracy (default: {defaults.OBJECTIVE})",
    )
    budget.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="the search's seed: every setting's runs start from the same "
        "seeded weights and data order, and the same seed repeats the search "
        "exactly (default: one is picked, printed and recorded)",
    )
    budget.add_argument(
        "--repeats",
        type=arguments.positive_int,
        metavar="N",
        help="runs per setting, one seed each (one MLflow child run each): "
        "the ranking shows mean ± std and marks the settings indistinguishable "
        f"from the best (default: {defaults.REPEATS})",
    )
    budget.add_argument(
        "--no-control",
        action="store_true",
        help="leave out the constant-rate control (the model at its initial "
        "rate without decay), which tells whether decaying helped at all",
    )
    budget.add_argument(
        "--no-share-prefix",
        action="store_true",
        help="train every trial whole instead of continuing the constant-rate "
        "epochs it shares with the control (the same numbers, at full cost)",
    )
    budget.add_argument(
        "--jobs",
        type=arguments.jobs_spec,
        metavar="N",
        help="trials at a time, in worker processes on this machine, the same "
        "numbers as one at a time; 'auto': as many as its cores and memory "
        "allow (default: 1)",
    )


def _add_data(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data and model")
    arguments.add_data_source(group)
    group.add_argument(
        "--val-split",
        type=arguments.fraction,
        metavar="FRACTION",
        help=f"fraction of the data used for validation (default: {DEFAULT_VAL_SPLIT})",
    )
    group.add_argument(
        "--test-split",
        type=arguments.fraction,
        metavar="FRACTION",
        help="fraction of the data held out to score the best model on, once, "
        f"at the end (default: {DEFAULT_TEST_SPLIT}; an .npz file's own split "
        "has none)",
    )
    group.add_argument(
        "--model",
        metavar="MODULE:FUNCTION",
        help="your own model: a function returning a compiled Keras model; it "
        "may take hp, input_shape, num_outputs, task (default: one hidden "
        "Dense(32) layer, SGD)",
    )


def _add_cluster(parser: argparse.ArgumentParser) -> None:
    cluster = parser.add_argument_group(
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


def _add_project(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("where results go")
    where.add_argument(
        "--project-dir",
        metavar="DIR",
        help="KerasTuner's directory; re-running resumes from it (default: "
        f"{defaults.PROJECT_DIR})",
    )
    where.add_argument(
        "--project-name",
        metavar="NAME",
        help="name of this search inside --project-dir and in MLflow "
        "(default: derived from the settings and the data, the same as "
        "lrdecay.search() for the same search)",
    )
    where.add_argument(
        "--overwrite",
        action="store_true",
        help="start the search afresh instead of resuming",
    )
    where.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything (arguments, data, model, tracking store) and "
        "print the plan: trials, epochs per trial, epochs trained with shared "
        "prefixes; train nothing, create no project file or MLflow run",
    )
