"""What the `lrdecay` commands print: trials, settings, scores, ranked tables.

`lrdecay search` and `lrdecay report` print a trial alike, from the same
functions, whether the trial comes from the tuner or from MLflow.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrdecay.tracking import uri as tracking_uri
from lrdecay.tuning.evidence import labels
from lrdecay.tuning.evidence.table import (
    EPOCH_BUDGET,  # noqa: F401 (lrdecay.cli.search, tests import it from here)
    column_name,
    format_ranking_table,
    format_score,
    table,
    varying_names,
)
from lrdecay.tuning.evidence.verdict import ranking_key
from lrdecay.tuning.searchspace.space import CONTROL_KIND

# Settings a trial carries that say nothing about when the rate decays.


def format_settings(settings: Mapping[str, Any]) -> str:
    """`epochs_drop=20 drop=0.5`: a trial's decay settings, as every place names them.

    The one rule is `lrdecay.tuning.evidence.labels.settings_text` (run names, plot
    legends): the search's table and `lrdecay report` print a trial alike.
    """
    return labels.settings_text(settings)


def ranked(trials: Sequence[Any], direction: str) -> list[Any]:
    """Trials best first; trials without a finite score last, by id.

    Exact ties by the search's one rule (`verdict.ranking_key`): the
    constant-rate control first, then the earlier trial; a trial's
    repeats (one run each) keep their order.
    """
    scored = [t for t in trials if t.score is not None and math.isfinite(t.score)]
    unscored = [t for t in trials if t not in scored]
    scored.sort(
        key=lambda t: ranking_key(
            t.score, direction, t.kind == CONTROL_KIND, t.trial_id
        )
    )
    return scored + sorted(unscored, key=lambda t: t.trial_id)


def format_trials_table(
    trials: Sequence[Any],
    objective: str,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The ranked table: rank, trial, kind, settings, best objective, status.

    `hyperparameters` maps a trial id to its values beyond the decay's (the
    model's own `hp`, Hyperband's epoch budget); each one that differs
    between the trials gets a column after the settings, so no two rows of
    different trials look alike.
    """
    values = hyperparameters or {}
    names = varying_names([values.get(t.trial_id, {}) for t in trials])
    headers = [
        "rank", "trial", "kind", "settings",
        *(column_name(name) for name in names),
        f"best {objective}", "status",
    ]  # fmt: skip
    rows = [
        [
            str(rank) if trial.score is not None else "-",
            str(trial.trial_id),
            str(trial.kind or "?"),
            format_settings(trial.settings),
            *(
                labels.value_text(values.get(trial.trial_id, {}).get(name, "-"))
                for name in names
            ),
            format_score(trial.score),
            str(trial.status),
        ]
        for rank, trial in enumerate(trials, start=1)
    ]
    return table(headers, rows, numeric={0, len(headers) - 2})


# KerasTuner's own bookkeeping values in a trial's hyperparameters: only the
# epoch budget says something about the trial.
_TUNER_VALUES = (
    "tuner/initial_epoch",
    "tuner/bracket",
    "tuner/round",
    "tuner/trial_id",
)


def extra_values(values: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The values of `names` (a model's own hp, the epoch budget) in `values`."""
    return {
        name: values[name]
        for name in names
        if name in values and name not in _TUNER_VALUES
    }


def failure_line(error: BaseException) -> str:
    """One line for a failed search: the error's first and last lines.

    KerasTuner's "too many failed trials" error carries the last trial's
    whole traceback; its first line says what happened and its last
    meaningful line why.
    """
    lines = [
        line.strip()
        for line in tracking_uri.redact_text(str(error)).splitlines()
        if line.strip() and not is_noise(line)
    ]
    if not lines:
        return type(error).__name__
    if len(lines) == 1:
        return lines[0]
    return f"{lines[0]} Last error: {lines[-1]}"


def is_noise(line: str) -> bool:
    """Whether `line` is a traceback or graph location rather than a reason."""
    # TensorFlow appends graph-node locations to op errors.
    return line.strip().startswith("[[") or line.strip().startswith("File ")


# --------------------------------------------------------------------------
# What `lrdecay search` prints before and after


def print_banner(
    settings: dict[str, Any], dataset: Any, project_name: str, resuming: bool
) -> None:
    """What `lrdecay search` is about to do: data, space, budget, where to."""
    print(f"lrdecay search: {dataset.describe()}", flush=True)
    print(
        f"  {settings['algorithm']} search of {', '.join(settings['kinds'])} decay, "
        f"decay epochs {_describe_epochs(settings['decay_epochs'])}, "
        f"{settings['epochs']} epochs per trial, objective {settings['objective']}",
        flush=True,
    )
    store = tracking_uri.redact(
        settings["tracking_uri"] or tracking_uri.MLFLOW_DEFAULT_URI
    )
    print(
        f"  search {project_name!r} in {settings['project_dir']}; MLflow "
        f"experiment {settings['experiment_name']!r} at {store}",
        flush=True,
    )
    if dataset.target_scaled:
        print(
            f"  target {dataset.target_name!r} standardized on the training split "
            f"(mean {format_in_units(dataset.target_mean)}, std "
            f"{format_in_units(dataset.target_std)}): losses are in stds, the "
            "test score in its own units",
            flush=True,
        )
    if resuming:
        print("  resuming: finished trials are kept, not re-run", flush=True)


def _describe_epochs(spec: Any) -> str:
    if isinstance(spec, list):
        return ",".join(str(value) for value in spec)
    step = f":{spec.step}" if spec.step is not None else ""
    return f"{spec.low}:{spec.high}{step}"


def print_result(
    result: Any,
    dataset: Any,
    settings: dict[str, Any],
    project_name: str,
    verbosity: int,
    hyperparameter_names: Sequence[str] = (),
) -> None:
    """The ranked trials, the decay to paste, its test score, what to run next.

    At `verbosity` 0 (`-q`) only the decay to paste and its held-out test
    score: two lines a script can read.
    """
    code_line = decay_line(result)
    score_line = test_score_line(result.best_model, dataset)
    if verbosity < 1:
        print(code_line)
        print(score_line)
        return
    objective = settings["objective"]
    direction = result.tuner.oracle.objective.direction
    print()
    print(
        f"Trials ranked by {objective} "
        f"({'higher' if direction == 'max' else 'lower'} is better):"
    )
    trial_values = {
        trial_id: extra_values(trial.hyperparameters.values, hyperparameter_names)
        for trial_id, trial in result.tuner.oracle.trials.items()
    }
    evidence = result.evidence
    if evidence.ranking:
        if result.repeats > 1:
            print(
                f"(mean ± std over {result.repeats} seeds; ≈: indistinguishable "
                "from the best, Welch's t-test at 5%)"
            )
        print(format_ranking_table(result, trial_values))
    else:
        print(
            format_trials_table(
                ranked(result.trials, direction), objective, trial_values
            )
        )
    print()
    winner = result.winner
    best_decay = dict(winner.decay) if winner is not None else {}
    kind = best_decay.pop("kind", "?")
    described = f"{kind} {format_settings(best_decay)}".rstrip()
    score = format_score(winner.score if winner is not None else math.nan)
    ranking = evidence.ranking
    if ranking and ranking[0].n > 1 and math.isfinite(ranking[0].std):
        score += f" ± {ranking[0].std:.4f}"
    trial_id = winner.trial_id if winner is not None else ""
    print(f"Best: trial {trial_id}, {described} — {objective} {score}")
    print(code_line)
    print(score_line)
    if evidence.verdict:
        print(evidence.verdict)
    if result.seed is not None:
        print(f"seed {result.seed} (re-run with --seed {result.seed})")
    line = epochs_line(result)
    if line:
        print(line)
    print()
    print(
        ui_hint(
            result.tracking_uri,
            result.experiment_id,
            result.parent_run_id,
            objective,
            lower_is_better=direction != "max",
            # The search saved the view: every trial drawn.
            saved=result.parent_run_id is not None,
        )
    )
    report = (
        f"{command('lrdecay', 'lrdecay')} report --experiment "
        f"{shlex.quote(settings['experiment_name'])} --search "
        f"{shlex.quote(project_name)}"
    )
    if settings.get("tracking_uri"):
        # Never a password: the login comes from the environment, as here.
        shown_uri = tracking_uri.without_credentials(settings["tracking_uri"])
        report += f" --tracking-uri {shlex.quote(shown_uri)}"
    print(
        f"Search {project_name!r}; run the same command again to resume or "
        f"extend it, `{report}` to see this table again."
    )


def epochs_line(result: Any) -> str:
    """What the search trained, e.g. "epochs: 291 trained of 520 (56%)".

    Empty when nothing is known (a worker, or a search of another tuner).
    """
    independent = result.cost.epochs_independent
    if not independent:
        return ""
    trained = result.cost.epochs_trained
    return (
        f"epochs: {trained} trained of {independent} "
        f"({100 * trained / independent:.0f}%)"
    )


def decay_line(result: Any) -> str:
    """The winning decay as the Python line to paste into `model.fit`."""
    winner = result.winner
    if winner is None:
        return "no best trial"
    if winner.control_won:
        rate = winner.decay.get("initial_lr")
        if rate is None:
            return "no decay: the constant rate scored best; keep the model's rate"
        # The rate was searched (e.g. --initial-lr auto): name the one that won.
        return (
            f"no decay: the constant rate scored best at "
            f"initial_lr={labels.value_text(rate)}; "
            "compile the model's optimizer with it"
        )
    return winner.code or "no best trial"


def test_score_line(model: Any, dataset: Any) -> str:
    """The best model's score on the held-out test set, in the target's units.

    Classification: accuracy. Regression: R² and the RMSE in the target's
    own units (the model trained on the standardized target).
    """
    if dataset.x_test is None or dataset.y_test is None:
        return "no held-out test score: the data has no test split (--test-split)"
    if model is None:
        return "no held-out test score: the best trial's model is not here"
    n = len(dataset.x_test)
    predicted = np.asarray(model.predict(dataset.x_test, verbose=0))
    if dataset.task == "classification":
        if predicted.ndim > 1 and predicted.shape[-1] > 1:
            labels = predicted.argmax(axis=-1)
        else:
            labels = (predicted.reshape(n) > 0.5).astype("int64")
        accuracy = float(np.mean(labels == np.asarray(dataset.y_test).reshape(n)))
        return f"test accuracy {accuracy:.4f} ({n} held-out samples)"
    actual = dataset.in_target_units(np.asarray(dataset.y_test).reshape(n))
    estimate = dataset.in_target_units(predicted.reshape(n))
    residual = float(np.sum((actual - estimate) ** 2))
    total = float(np.sum((actual - actual.mean()) ** 2))
    r_squared = 1 - residual / total if total > 0 else math.nan
    rmse = math.sqrt(residual / n)
    return (
        f"test R² {r_squared:.4f}, RMSE {format_in_units(rmse)} in "
        f"{dataset.target_name} ({n} held-out samples)"
    )


def format_in_units(value: float) -> str:
    """`12,345` for large values, `0.1234` for small ones."""
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def command(name: str, module: str) -> str:
    """How a fresh shell runs this environment's `name` command.

    `name` when it is on PATH and is this environment's own; else the path of
    the one beside this Python (a virtual environment used as
    `.venv/bin/lrdecay` is not on PATH); else `python -m module`.
    """
    beside = os.path.join(os.path.dirname(sys.executable), name)
    on_path = shutil.which(name)
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        if on_path and os.path.samefile(on_path, beside):
            return name
        return shlex.quote(beside)
    if on_path:
        return name
    return f"{shlex.quote(sys.executable)} -m {module}"


def ui_hint(*args: Any, **kwargs: Any) -> str:
    """`tracking.uri.ui_hint`, with the `mlflow` command a fresh shell runs."""
    hint: str = tracking_uri.ui_hint(*args, **kwargs)
    mlflow = command("mlflow", "mlflow")
    if mlflow != "mlflow":
        hint = hint.replace("  mlflow ui ", f"  {mlflow} ui ", 1)
    return hint


def print_range_test(result: Any, verbosity: int) -> None:
    """`--initial-lr auto`: what the LR range test found, and what was searched."""
    lr_range = getattr(result, "lr_range", None)
    if lr_range is None or verbosity < 1:
        return
    space = result.tuner.hypermodel.space
    rates = ", ".join(f"{rate:g}" for rate in space.initial_lr.values)
    print()
    print(
        f"LR range test: suggested initial rate {lr_range.suggested_lr:.3g} (a "
        f"tenth of the loss minimum at {lr_range.min_loss_lr:.3g}); searched "
        f"initial rates {rates}."
    )


def print_rate_warning(result: Any) -> None:
    warning = getattr(result, "rate_warning", None)
    if warning:
        print()
        print(f"Warning: {warning}")
