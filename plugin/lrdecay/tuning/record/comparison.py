"""The search's comparison plots: every trial's learning rate and objective.

Logged to the parent run under `lrdecay/` (`lr_curves.png`,
`<objective>_curves.png`), from the curves the trial runs logged.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrdecay.tracking import plots
from lrdecay.tuning.evidence import labels
from lrdecay.tuning.record import runs as layout


def log_comparison(
    client: Any, parent_run_id: str, by_trial: Mapping[str, list[Any]], objective: str
) -> None:
    """Log two plots to the parent run: every trial's rate, and its objective.

    Args:
        client: `mlflow.MlflowClient`.
        parent_run_id: String. The search's run.
        by_trial: Trial id -> its runs (one per execution), all plotted.
        objective: String. The metric of the second plot.
    """
    lr_curves: dict[str, tuple[list[int], list[float]]] = {}
    val_curves: dict[str, tuple[list[int], list[float]]] = {}
    groups: dict[str, str] = {}
    for trial_id, run in (
        (trial_id, run) for trial_id, runs in sorted(by_trial.items()) for run in runs
    ):
        # The run's name says what the execution holds (`labels.trial_label`);
        # runs named otherwise (before lrdecay named them) get the kind.
        kind = run.data.tags.get(layout.KIND_TAG, "")
        name = run.info.run_name or ""
        label = name if name.startswith(kind) and kind else f"{trial_id} {kind}"
        label = label.strip()
        if label in groups:  # two runs alike but for what the name omits
            label = f"{label} (trial {trial_id}, run {run.info.run_id[:8]})"
        # The repeats of a setting (its seeds) share one colour and entry.
        groups[label] = labels.setting_of(label)
        for metric, curves in (
            ("learning_rate", lr_curves),
            (objective, val_curves),
        ):
            history = sorted(
                client.get_metric_history(run.info.run_id, metric),
                key=lambda point: point.step,
            )
            if history:
                curves[label] = (
                    [point.step for point in history],
                    [point.value for point in history],
                )
    with tempfile.TemporaryDirectory(prefix="lrdecay-search-") as folder:
        paths = []
        if lr_curves:
            paths.append(
                plots.comparison_plot(
                    lr_curves,
                    Path(folder) / "lr_curves.png",
                    title="learning rate of every trial",
                    log_scale=True,
                    groups=groups,
                )
            )
        if val_curves:
            paths.append(
                plots.comparison_plot(
                    val_curves,
                    Path(folder) / f"{objective}_curves.png",
                    ylabel=objective,
                    title=f"{objective} of every trial",
                    log_scale=_is_loss(objective),
                    groups=groups,
                    steps=False,
                )
            )
        for path in paths:
            client.log_artifact(parent_run_id, str(path), "lrdecay")


def _is_loss(metric: str) -> bool:
    # A loss falls by orders of magnitude, and the trials differ near the
    # end, where a linear axis squeezes them together; accuracies don't.
    return metric.endswith("loss")
