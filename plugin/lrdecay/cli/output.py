"""What the `lrdecay` commands print: trials, settings, scores, ranked tables.

`lrdecay search` and `lrdecay report` print a trial alike, from the same
functions, whether the trial comes from the tuner or from MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lrdecay.tracking import uri as tracking_uri

# Settings a trial carries that say nothing about when the rate decays.
_HIDDEN_SETTINGS = frozenset({"monitor"})
_SETTINGS_ORDER = ("epochs_drop", "half_life", "k", "patience", "drop", "factor")


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


def format_score(score: float | None) -> str:
    """A score with 4 decimals, or `-` for none (or a non-finite one)."""
    if score is None or not math.isfinite(score):
        return "-"
    return f"{score:.4f}"


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
            format_score(trial.score),
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
) -> None:
    """The ranked trials, the best one and its test score, where to look next."""
    objective = settings["objective"]
    direction = result.tuner.oracle.objective.direction
    print()
    print(
        f"Trials ranked by {objective} "
        f"({'higher' if direction == 'max' else 'lower'} is better):"
    )
    print(format_trials_table(ranked(result.trials, direction), objective))
    print()
    best_decay = dict(result.best_decay)
    kind = best_decay.pop("kind", "?")
    print(
        f"Best: trial {result.best_trial_id}, {kind} {format_settings(best_decay)}"
        f" — {objective} {format_score(result.best_score)}"
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
