"""`lrdecay search`: from flags to a tracked KerasTuner search and a ranked table.

Everything that can be wrong with the input (data, model spec, search space,
tracking server) is checked before TensorFlow loads and before any MLflow run
is created; such errors are `UsageError`s (one line, exit 2). A search that
starts and then fails exits 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any

from lrdecay.cli import main as cli
from lrdecay.cli.main import UsageError
from lrdecay.tracking import uri as tracking_uri

# Shared by the progress printer and the per-epoch callback. KerasTuner
# deep-copies callbacks for every trial, so the callback keeps no state of
# its own and writes here instead.
_STATE: dict[str, Any] = {}

# Settings a trial carries that say nothing about when the rate decays.
_HIDDEN_SETTINGS = frozenset({"monitor"})
_SETTINGS_ORDER = ("epochs_drop", "half_life", "k", "patience", "drop", "factor")


def search_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The flags with the defaults filled in."""
    algorithm = args.algorithm or "grid"
    decay_epochs = (
        args.decay_epochs
        if args.decay_epochs is not None
        else cli.decay_epochs_spec(cli.DEFAULT_DECAY_EPOCHS)
    )
    initial_lr = args.initial_lr
    if isinstance(initial_lr, list) and len(initial_lr) == 1:
        initial_lr = initial_lr[0]
    return {
        "algorithm": algorithm,
        "kinds": tuple(args.kinds or cli.KINDS),
        "decay_epochs": decay_epochs,
        "initial_lr": initial_lr,
        "epochs": args.epochs or cli.DEFAULT_EPOCHS,
        "max_trials": args.max_trials,
        "batch_size": args.batch_size or cli.DEFAULT_BATCH_SIZE,
        "objective": args.objective or "val_loss",
        "seed": 0 if args.seed is None else args.seed,
        "project_dir": args.project_dir or cli.DEFAULT_PROJECT_DIR,
        "experiment_name": args.experiment
        or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        or cli.DEFAULT_EXPERIMENT,
        "tracking_uri": tracking_uri.resolve(args.tracking_uri),
    }


def default_project_name(args: argparse.Namespace, settings: dict[str, Any]) -> str:
    """`<algorithm>-<data>-<hash of the settings>`: the same command resumes.

    Settings that change what a trial means are hashed (a different space in
    the same KerasTuner project would mix incomparable trials); `max_trials`
    is not, so raising it continues the same search.
    """
    identity: dict[str, Any] = {
        key: repr(settings[key])
        for key in (
            "algorithm",
            "kinds",
            "decay_epochs",
            "initial_lr",
            "epochs",
            "batch_size",
            "objective",
            "seed",
        )
    }
    identity.update(
        data=os.path.abspath(args.data) if args.data else None,
        target=args.target,
        task=args.task,
        val_split=args.val_split,
        model=args.model,
    )
    digest = hashlib.sha1(
        json.dumps(identity, sort_keys=True).encode("utf-8")
    ).hexdigest()[:8]
    data_name = (
        os.path.splitext(os.path.basename(args.data))[0] if args.data else "digits"
    )
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in data_name)
    return f"{settings['algorithm']}-{safe}-{digest}"


def check_space(settings: dict[str, Any]) -> None:
    """Raise `UsageError` for a search space that cannot run (before training)."""
    from lrdecay.tuning.space import DecaySpace

    try:
        space = DecaySpace(
            settings["kinds"],
            settings["decay_epochs"],
            initial_lr=settings["initial_lr"],
        )
        space.check_budget(settings["epochs"])
    except (TypeError, ValueError) as error:
        raise UsageError(cli.one_line(error)) from None
    if settings["algorithm"] == "hyperband" and settings["max_trials"] is not None:
        raise UsageError(
            "--max-trials does not apply to hyperband, which sets its trials "
            f"from --epochs. Received: --max-trials {settings['max_trials']}"
        )


def _say(verbosity: int, level: int, text: str = "") -> None:
    if verbosity >= level:
        print(text, flush=True)


def run_search(args: argparse.Namespace) -> int:
    """`lrdecay search`: validate, search, print the ranked table."""
    from lrdecay.cli import data

    verbosity = args.verbosity
    settings = search_settings(args)
    check_space(settings)
    if args.target is not None and args.data is None:
        raise UsageError(f"--target {args.target!r} needs --data FILE.")
    dataset = data.load_dataset(
        args.data,
        target=args.target,
        task=args.task,
        val_split=0.2 if args.val_split is None else args.val_split,
        seed=settings["seed"],
    )
    objective = settings["objective"]
    if not objective.startswith("val_"):
        raise UsageError(
            f"--objective {objective!r}: rank trials by a validation metric "
            "such as val_loss or val_accuracy."
        )
    try:
        tracking_uri.check_reachable(settings["tracking_uri"])
    except tracking_uri.TrackingUnreachable as error:
        raise UsageError(str(error)) from None
    project_name = args.project_name or default_project_name(args, settings)

    if verbosity < 2:
        # TensorFlow's C++ start-up chatter and MLflow's store set-up notes
        # are noise for a CLI user.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    if args.model:
        build_model: Any = data.load_model_builder(args.model, dataset)
    else:
        build_model = data.default_model_builder(dataset)
    _say(verbosity, 1, f"lrdecay search: {dataset.describe()}")
    _say(
        verbosity,
        1,
        f"  {settings['algorithm']} search of {', '.join(settings['kinds'])} decay, "
        f"decay epochs {_describe_epochs(settings['decay_epochs'])}, "
        f"{settings['epochs']} epochs per trial, objective {objective}",
    )
    _say(
        verbosity,
        1,
        f"  search {project_name!r} in {settings['project_dir']}; MLflow "
        f"experiment {settings['experiment_name']!r} at "
        f"{settings['tracking_uri'] or tracking_uri.MLFLOW_DEFAULT_URI}",
    )

    if not args.overwrite and os.path.exists(
        os.path.join(settings["project_dir"], project_name, "oracle.json")
    ):
        _say(verbosity, 1, "  resuming: finished trials are kept, not re-run")

    from lrdecay.tuning import distributed
    from lrdecay.tuning import runner as tuning

    try:  # chief or worker of a distributed search: options, else KERASTUNER_*
        role = distributed.resolve_role(
            getattr(args, "tuner_id", None),
            getattr(args, "oracle_ip", None),
            getattr(args, "oracle_port", None),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    role.export()  # KerasTuner reads the variables
    # KerasTuner prints every failed trial's traceback in debug mode (its
    # default); the trial's message and its FAILED run keep the reason.
    from keras_tuner.src import config as keras_tuner_config

    keras_tuner_debug = keras_tuner_config.DEBUG
    keras_tuner_config.DEBUG = verbosity >= 2
    _STATE.clear()
    _STATE.update(trained=False, verbosity=verbosity, started=time.monotonic())
    callbacks = [_epoch_ticker(settings["epochs"], objective, verbosity)]
    try:
        result = tuning.search(
            build_model,
            dataset.x_train,
            dataset.y_train,
            validation_data=(dataset.x_val, dataset.y_val),
            algorithm=settings["algorithm"],
            kinds=settings["kinds"],
            decay_epochs=settings["decay_epochs"],
            epochs=settings["epochs"],
            max_trials=settings["max_trials"],
            objective=objective,
            batch_size=settings["batch_size"],
            seed=settings["seed"],
            initial_lr=settings["initial_lr"],
            project_dir=settings["project_dir"],
            project_name=project_name,
            overwrite=args.overwrite,
            tracking_uri=settings["tracking_uri"],
            experiment_name=settings["experiment_name"],
            callbacks=callbacks,
            progress=_progress_printer(verbosity),
            verbose=2 if verbosity >= 2 else 0,
        )
    except KeyboardInterrupt:
        _end_line()
        print(
            "lrdecay: interrupted; run the same command again to resume the search.",
            file=sys.stderr,
        )
        return cli.EXIT_INTERRUPTED
    except distributed.SearchEndedError as error:
        _end_line()
        print(f"lrdecay: {error}", file=sys.stderr)
        return cli.EXIT_OK
    except Exception as error:
        _end_line()
        if isinstance(error, (TypeError, ValueError)) and not _STATE["trained"]:
            # Rejected before any training: bad input, nothing to clean up.
            if verbosity >= 2:
                traceback.print_exc()
            raise UsageError(cli.one_line(error)) from None
        if verbosity >= 2:
            traceback.print_exc()
        print(f"lrdecay: search failed: {failure_line(error)}", file=sys.stderr)
        return cli.EXIT_FAILED
    finally:
        keras_tuner_config.DEBUG = keras_tuner_debug
    _end_line()
    if role.is_worker:
        print(
            f"Worker {role.tuner_id}: no trial left. The chief ({role.address}) "
            "prints the ranked trials and the best one."
        )
        return cli.EXIT_OK
    _print_result(result, dataset, objective, settings, project_name, verbosity)
    return cli.EXIT_OK


def failure_line(error: BaseException) -> str:
    """One line for a failed search: the error's first and last lines.

    KerasTuner's "too many failed trials" error carries the last trial's
    whole traceback; its first line says what happened and its last
    meaningful line why.
    """
    lines = [
        line.strip()
        for line in str(error).splitlines()
        if line.strip() and not _is_noise(line)
    ]
    if not lines:
        return type(error).__name__
    if len(lines) == 1:
        return lines[0]
    return f"{lines[0]} Last error: {lines[-1]}"


def _is_noise(line: str) -> bool:
    # TensorFlow appends graph-node locations to op errors.
    return line.strip().startswith("[[") or line.strip().startswith("File ")


def _describe_epochs(spec: Any) -> str:
    if isinstance(spec, list):
        return ",".join(str(value) for value in spec)
    step = f":{spec.step}" if spec.step is not None else ""
    return f"{spec.low}:{spec.high}{step}"


def format_settings(settings: dict[str, Any]) -> str:
    """`epochs_drop=20 drop=0.5`: a trial's decay settings, compactly.

    Exponential decay is shown by its half-life (`ln 2 / k`), the number of
    epochs the search's decay epochs set; the order is fixed, so the search's
    table and `lrdecay report` print a trial alike.
    """
    shown = dict(settings)
    k = shown.get("k")
    if isinstance(k, (int, float)) and k > 0 and "half_life" not in shown:
        del shown["k"]
        shown["half_life"] = round(math.log(2) / k, 4)
    names = sorted(
        (name for name in shown if name not in _HIDDEN_SETTINGS),
        key=lambda name: (
            _SETTINGS_ORDER.index(name) if name in _SETTINGS_ORDER else 99,
            name,
        ),
    )
    return " ".join(f"{name}={_format_value(shown[name])}" for name in names)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}" if value.is_integer() else f"{value:.4g}"
    return str(value)


def _format_score(score: float | None) -> str:
    if score is None or not math.isfinite(score):
        return "-"
    return f"{score:.4f}"


# --------------------------------------------------------------------------
# Progress


def _end_line() -> None:
    """Finish an open `\\r` progress line so the next print starts clean."""
    if _STATE.pop("open_line", False):
        print(flush=True)


def _progress_printer(verbosity: int) -> Any:
    def on_trial_end(event: Any) -> None:
        _end_line()
        if verbosity < 1:
            return
        total = f"/{event.total}" if event.total else ""
        decay = f"{event.kind or '?'} {format_settings(event.settings)}".strip()
        if event.status == "COMPLETED":
            outcome = f"{_format_score(event.score)}"
        else:
            reason = (
                event.message
                if event.message and not _is_noise(event.message)
                else None
            )
            outcome = event.status + (f" ({reason})" if reason else "")
        best = (
            f"best {_format_score(event.best_score)} (trial {event.best_trial_id})"
            if event.best_trial_id is not None
            else "no best yet"
        )
        elapsed = time.monotonic() - _STATE.get("started", time.monotonic())
        print(
            f"[{event.index}{total}] trial {event.trial_id}  {decay}: {outcome}"
            f"  | {best}  [{elapsed:.0f}s]",
            flush=True,
        )

    return on_trial_end


def _epoch_ticker(epochs: int, objective: str, verbosity: int) -> Any:
    """A callback that marks training as started and, on a terminal, shows
    the epoch of the running trial on one self-overwriting line."""
    import keras

    interactive = verbosity == 1 and sys.stdout.isatty()

    class EpochTicker(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            _STATE["trained"] = True

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if not interactive:
                return
            value = (logs or {}).get(objective)
            shown = f" {objective} {float(value):.4f}" if value is not None else ""
            print(
                f"\r  epoch {epoch + 1}/{epochs}{shown}    ",
                end="",
                flush=True,
            )
            _STATE["open_line"] = True

    return EpochTicker()


# --------------------------------------------------------------------------
# The result


def ranked(trials: Sequence[Any], direction: str) -> list[Any]:
    """Trials best first; trials without a finite score last, by id."""
    scored = [t for t in trials if t.score is not None and math.isfinite(t.score)]
    unscored = [t for t in trials if t not in scored]
    scored.sort(key=lambda t: t.score, reverse=direction == "max")
    return scored + sorted(unscored, key=lambda t: t.trial_id)


def format_trials_table(trials: Sequence[Any], objective: str) -> str:
    """The ranked table: rank, trial, kind, settings, best objective, status."""
    headers = ["rank", "trial", "kind", "settings", f"best {objective}", "status"]
    rows = [
        [
            str(rank) if trial.score is not None else "-",
            str(trial.trial_id),
            str(trial.kind or "?"),
            format_settings(trial.settings),
            _format_score(trial.score),
            str(trial.status),
        ]
        for rank, trial in enumerate(trials, start=1)
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(6)]
    numeric = {0, 4}
    lines = [
        "  ".join(
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _print_result(
    result: Any,
    dataset: Any,
    objective: str,
    settings: dict[str, Any],
    project_name: str,
    verbosity: int,
) -> None:
    direction = result.tuner.oracle.objective.direction
    trials = ranked(result.trials, direction)
    print()
    print(
        f"Trials ranked by {objective} "
        f"({'higher' if direction == 'max' else 'lower'} is better):"
    )
    print(format_trials_table(trials, objective))
    print()
    best_decay = dict(result.best_decay)
    kind = best_decay.pop("kind", "?")
    print(
        f"Best: trial {result.best_trial_id}, {kind} {format_settings(best_decay)}"
        f" — {objective} {_format_score(result.best_score)}"
    )
    if (
        dataset.x_test is not None
        and verbosity >= 1
        and result.best_model is not None  # a chief without shared checkpoints
    ):
        scores = result.best_model.evaluate(
            dataset.x_test, dataset.y_test, verbose=0, return_dict=True
        )
        shown = ", ".join(
            f"test {name} {float(value):.4f}" for name, value in scores.items()
        )
        print(f"  on the held-out test set ({len(dataset.x_test)} samples): {shown}")
    print()
    print(
        tracking_uri.ui_hint(
            result.tracking_uri,
            result.experiment_id,
            result.parent_run_id,
            objective,
            lower_is_better=direction != "max",
        )
    )
    print(
        f"Search {project_name!r}; run the same command again to resume or "
        f"extend it, `lrdecay report --experiment {settings['experiment_name']} "
        f"--search {project_name}` to see this table again."
    )
