"""`lrdecay report`: a search's trials, ranked, read back from MLflow.

The same view as the MLflow UI's compare page, in the terminal: the latest
(or a named) search of an experiment, its trial runs ranked by the
objective's best epoch, and a PNG comparing every trial's learning-rate curve
and validation curve.

Runs are found by the tags the search writes: the parent run has
`lrdecay.role=search` and `lrdecay.search=<name>`; each trial run has
`lrdecay.role=trial`, `lrdecay.trial_id` and `mlflow.parentRunId`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any

from lrdecay import defaults
from lrdecay.cli import arguments
from lrdecay.cli.errors import EXIT_OK, UsageError
from lrdecay.cli.output import format_settings, format_trials_table, ranked
from lrdecay.tracking import plots
from lrdecay.tracking import uri as tracking_uri
from lrdecay.tracking.tags import run_kind, run_status
from lrdecay.tuning.record import runs as runs_layout

# Settings of the decay callbacks that are plumbing rather than the decay.
_HIDDEN_SETTINGS = {
    "min_lr",
    "warmup_epochs",
    "warmup_start_lr",
    "monitor",
    "mode",
    "min_delta",
    "cooldown",
    "verbose",
}
_MAX_METRIC_WORDS = ("acc", "auc", "precision", "recall", "f1", "iou", "r2")


@dataclasses.dataclass
class ReportedTrial:
    """One trial run of a search, as the report shows it."""

    run_id: str
    trial_id: str
    kind: str
    settings: dict[str, Any]
    status: str
    score: float | None
    learning_rates: list[tuple[int, float]]
    objective_curve: list[tuple[int, float]]
    run_status: str = "FINISHED"

    @property
    def label(self) -> str:
        return f"{self.trial_id} {self.kind} {format_settings(self.settings)}".strip()


def metric_direction(objective: str) -> str:
    """`"max"` for accuracy-like metrics, else `"min"` (losses, errors)."""
    name = objective.lower()
    if "loss" in name or "error" in name:
        return "min"
    return "max" if any(word in name for word in _MAX_METRIC_WORDS) else "min"


def _client(uri: str | None) -> Any:
    import mlflow

    from lrdecay.tracking import store, store_setup

    # Created or upgraded once, under a lock; a half-migrated store is named.
    uri = store.absolute_uri(uri or mlflow.get_tracking_uri())
    try:
        return store_setup.client(uri)
    except tracking_uri.TrackingUnreachable as error:
        raise UsageError(str(error)) from None


def find_search_run(
    client: Any, experiment_id: str, search_name: str | None
) -> Any | None:
    """The latest parent run of `search_name` (or of any search)."""
    return runs_layout.find_parent_run(client, experiment_id, search_name)


def _trial_settings(params: dict[str, str], kind: str) -> dict[str, Any]:
    # A trial's decay callback and its hyperparameters share one scheme,
    # `<kind>/<setting>`: the callback's value is what the trial ran, also
    # when the search gave a fraction of the budget (`..._fraction`); an
    # `initial_lr` hyperparameter means the rate itself was searched.
    settings: dict[str, Any] = {}
    for key, value in params.items():
        prefix, _, name = key.partition("/")
        if prefix != kind or name in _HIDDEN_SETTINGS or name == "initial_lr":
            continue
        if not name.endswith("_fraction"):
            settings[name] = _number(value)
    if "half_life" in settings:
        settings.pop("k", None)  # the callback's k = ln 2 / half_life
    if "initial_lr" in params:
        settings["initial_lr"] = _number(params["initial_lr"])
    return settings


def _number(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def _history(client: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    points = client.get_metric_history(run_id, key)
    by_step = {int(point.step): float(point.value) for point in points}
    return sorted(by_step.items())


def load_trials(
    client: Any,
    experiment_id: str,
    parent_run_id: str,
    objective: str,
    default_objective: str | None = None,
) -> list[ReportedTrial]:
    """Every trial run under `parent_run_id`, with its curves."""
    runs = runs_layout.trial_runs(client, experiment_id, parent_run_id)
    direction = metric_direction(objective)
    trials = []
    for run in runs:
        tags, params = run.data.tags, run.data.params
        kind = run_kind(params, tags) or "?"
        curve = _history(client, run.info.run_id, objective)
        finite = [value for _, value in curve if math.isfinite(value)]
        score = (max(finite) if direction == "max" else min(finite)) if finite else None
        if runs_layout.SCORE_TAG in tags and objective == default_objective:
            # The tuner's own score of the trial, as the search ranked it.
            score = _number(tags[runs_layout.SCORE_TAG])
            score = score if isinstance(score, float) and math.isfinite(score) else None
        trials.append(
            ReportedTrial(
                run_id=run.info.run_id,
                trial_id=tags.get(runs_layout.TRIAL_TAG, run.info.run_name or "?"),
                kind=kind,
                settings=_trial_settings(params, kind),
                # The tuner's word (COMPLETED, FAILED), as the search printed
                # it; the run's own status where the search wrote none.
                status=(
                    run_status(tags) or run.info.status
                    if run.info.status == "FINISHED"
                    else run.info.status
                ),
                score=score,
                learning_rates=_history(client, run.info.run_id, "learning_rate"),
                objective_curve=curve,
                run_status=run.info.status,
            )
        )
    # A resumed search closed the interrupted trial's stale run as KILLED and
    # re-ran the trial: show the re-run only.
    rerun = {trial.trial_id for trial in trials if trial.run_status != "KILLED"}
    trials = [
        trial
        for trial in trials
        if trial.run_status != "KILLED" or trial.trial_id not in rerun
    ]
    trials.sort(key=lambda trial: trial.trial_id)
    return trials


def comparison_figure(
    trials: Sequence[ReportedTrial], objective: str, path: str | os.PathLike[str]
) -> None:
    """Two panels: every trial's learning rate, and its `objective`, per epoch.

    One colour per setting, never repeated (`plots.distinct_colors`): the
    repeats of a setting (its seeds) share it and one legend entry, which sits
    right of the curves.
    """
    figure, (lr_axis, metric_axis) = plots.new_figure(2, purpose="report")
    settings_of = [
        f"{trial.kind} {format_settings(trial.settings)}".strip() for trial in trials
    ]
    names = list(dict.fromkeys(settings_of))
    colors = dict(zip(names, plots.distinct_colors(len(names)), strict=True))
    positive = True
    labelled: set[str] = set()
    for trial, name in zip(trials, settings_of, strict=True):
        look = {
            "color": colors[name],
            "linewidth": 1.2,
            "label": None if name in labelled else name,
        }
        labelled.add(name)
        if trial.learning_rates:
            epochs, rates = zip(*trial.learning_rates, strict=True)
            lr_axis.step(epochs, rates, where="post", **look)
        if trial.objective_curve:
            epochs, values = zip(*trial.objective_curve, strict=True)
            finite = [value if math.isfinite(value) else math.nan for value in values]
            positive = positive and all(not value <= 0 for value in finite)
            metric_axis.plot(epochs, finite, **look)
    if "loss" in objective and positive:
        # Losses of good and bad trials differ by orders of magnitude late
        # in training, where the decay matters.
        metric_axis.set_yscale("log")
    lr_axis.set(xlabel="epoch", ylabel="learning rate", title="learning rate")
    metric_axis.set(xlabel="epoch", ylabel=objective, title=objective)
    for axis in (lr_axis, metric_axis):
        axis.grid(alpha=0.3)
    if 0 < len(names) <= 40:
        metric_axis.legend(
            fontsize="x-small",
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
            frameon=False,
        )
    plots.save(figure, path, tight=True)


def run_report(args: argparse.Namespace) -> int:
    """`lrdecay report`: print the ranked trials, write the comparison plot."""

    uri = tracking_uri.resolve(args.tracking_uri)
    if uri is None and not os.path.exists("mlflow.db"):
        raise UsageError(
            "No MLflow store here (mlflow.db not found in the current "
            "directory): run `lrdecay search` first, or pass --tracking-uri."
        )
    try:
        tracking_uri.check_reachable(uri)
    except tracking_uri.TrackingUnreachable as error:
        raise UsageError(str(error)) from None
    uri = tracking_uri.hand_credentials_to_mlflow(uri)
    out = args.out or "lrdecay_report.png"
    if not str(out).lower().endswith(".png"):
        raise UsageError(f"--out must name a .png file. Received: {out!r}")
    experiment_name = arguments.experiment_name(args.experiment)
    if args.verbosity < 2:
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    client = _client(uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        names = [e.name for e in client.search_experiments(max_results=50)]
        raise UsageError(
            f"No MLflow experiment {experiment_name!r} at "
            f"{tracking_uri.redact(uri or tracking_uri.MLFLOW_DEFAULT_URI)} "
            "(experiments: "
            f"{', '.join(repr(n) for n in names) or 'none'}); pass --experiment."
        )
    parent = find_search_run(client, experiment.experiment_id, args.search)
    if parent is None:
        what = f"search {args.search!r}" if args.search else "lrdecay search"
        raise UsageError(
            f"No {what} in experiment {experiment_name!r}; run `lrdecay search` "
            "or check --search."
        )
    search_name = parent.data.tags.get("lrdecay.search", parent.info.run_name)
    objective = (
        args.objective or parent.data.params.get("objective") or defaults.OBJECTIVE
    )
    trials = load_trials(
        client, experiment.experiment_id, parent.info.run_id, objective
    )
    if not trials:
        raise UsageError(
            f"Search {search_name!r} in experiment {experiment_name!r} has no "
            "trial runs yet."
        )
    direction = metric_direction(objective)
    shown = ranked(trials, direction)
    if args.verbosity >= 1:
        print(
            f"Search {search_name!r} (run {parent.info.run_id}, "
            f"{parent.info.status}) in experiment {experiment_name!r}: "
            f"{len(trials)} trial runs"
        )
        print(
            f"Trials ranked by {objective} "
            f"({'higher' if direction == 'max' else 'lower'} is better):"
        )
    print(format_trials_table(shown, objective))
    comparison_figure(shown, objective, out)
    if args.verbosity >= 1:
        print(f"\nComparison plot written to {out}")
        print(
            tracking_uri.ui_hint(
                uri,
                experiment.experiment_id,
                parent.info.run_id,
                objective,
                lower_is_better=direction != "max",
                # A search before lrdecay saved views has none.
                saved=tracking_uri.saved_view(parent.info.run_id, objective)[0]
                in experiment.tags,
            )
        )
    return EXIT_OK


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `report` and its flags to the `lrdecay` subcommands."""
    parser = commands.add_parser(
        "report",
        help="rank the trials of a search from MLflow, with a comparison plot",
        description="Read an MLflow experiment and print the ranked trials of "
        "its latest search (or --search NAME), and write a plot comparing "
        "their learning-rate and validation curves.",
    )
    parser.add_argument(
        "--search",
        metavar="NAME",
        help="the search's project name (tag lrdecay.search); default: the "
        "latest search in the experiment",
    )
    parser.add_argument(
        "--out",
        metavar="FILE.png",
        help="where the comparison plot goes (default: lrdecay_report.png)",
    )
    parser.add_argument(
        "--objective",
        metavar="METRIC",
        help="metric to rank by (default: the search's objective)",
    )
    arguments.add_tracking(parser)
    arguments.add_common(parser)
    parser.set_defaults(handler=run_report)
