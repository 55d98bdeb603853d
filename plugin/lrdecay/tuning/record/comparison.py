"""The search's comparison plots: every trial's learning rate and objective.

Logged to the parent run under `lrdecay/` (`lr_curves.png`,
`<objective>_curves.png`), from the curves the trial runs logged; drawn
in a thread (`Drawing`) while the search's last writes go on.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrdecay.tracking.settings_plot import Curve, settings_plot
from lrdecay.tracking.tags import run_kind
from lrdecay.tuning.evidence import labels
from lrdecay.tuning.searchspace.space import CONTROL_KIND


def log_comparison(
    client: Any, parent_run_id: str, by_trial: Mapping[str, list[Any]], objective: str
) -> None:
    """Log two plots to the parent run: every setting's rate, and its objective.

    One line per setting, the mean over its repeats with their spread as a
    band, the control on top (`lrdecay.tracking.settings_plot`).

    Args:
        client: `mlflow.MlflowClient`.
        parent_run_id: String. The search's run.
        by_trial: Trial id -> its runs (one per execution).
        objective: String. The metric of the second plot.
    """
    lr_curves: dict[str, list[Curve]] = {}
    val_curves: dict[str, list[Curve]] = {}
    control = None
    for trial_id, run in (
        (trial_id, run) for trial_id, runs in sorted(by_trial.items()) for run in runs
    ):
        # The run's name says what the execution holds (`labels.trial_label`);
        # runs named otherwise (before lrdecay named them) get the kind. The
        # repeats of a setting (its seeds) are one line.
        kind = run_kind(run.data.params, run.data.tags) or ""
        name = run.info.run_name or ""
        label = name if name.startswith(kind) and kind else f"{trial_id} {kind}"
        setting = labels.setting_of(label.strip())
        if kind == CONTROL_KIND:
            control = setting
        for metric, curves in (
            ("learning_rate", lr_curves),
            (objective, val_curves),
        ):
            history = sorted(
                client.get_metric_history(run.info.run_id, metric),
                key=lambda point: point.step,
            )
            if history:
                curves.setdefault(setting, []).append(
                    (
                        [point.step for point in history],
                        [point.value for point in history],
                    )
                )
    with tempfile.TemporaryDirectory(prefix="lrdecay-search-") as folder:
        paths = []
        if lr_curves:
            paths.append(
                settings_plot(
                    lr_curves,
                    Path(folder) / "lr_curves.png",
                    control=control,
                    title="learning rate of every setting",
                    log_scale=True,
                )
            )
        if val_curves:
            paths.append(
                settings_plot(
                    val_curves,
                    Path(folder) / f"{objective}_curves.png",
                    control=control,
                    ylabel=objective,
                    title=f"{objective} of every setting "
                    "(mean over repeats, band: lowest to highest)",
                    log_scale=_is_loss(objective),
                    steps=False,
                )
            )
        for path in paths:
            client.log_artifact(parent_run_id, str(path), "lrdecay")


def _is_loss(metric: str) -> bool:
    # A loss falls by orders of magnitude, and the trials differ near the
    # end, where a linear axis squeezes them together; accuracies don't.
    return metric.endswith("loss")


class Drawing:
    """`log_comparison` in a thread, started at once; `join` waits for it.

    Drawing the two plots takes tenths of a second of CPU, and the search's
    other last steps (tagging the runs, the summary, the best model's
    reload) wait mostly on the store and the disk: each goes on beside the
    other. `join` raises what `log_comparison` raised.

    Args:
        client: `mlflow.MlflowClient` (its store is safe across threads:
            a session per call).
        parent_run_id, by_trial, objective: As `log_comparison`'s.
    """

    def __init__(
        self,
        client: Any,
        parent_run_id: str,
        by_trial: Mapping[str, list[Any]],
        objective: str,
    ) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._draw,
            args=(client, parent_run_id, by_trial, objective),
            name="lrdecay-comparison",
        )
        self._thread.start()

    def _draw(self, *args: Any) -> None:
        try:
            log_comparison(*args)
        except BaseException as error:  # handed to the caller by `join`
            self._error = error

    def join(self) -> None:
        """Wait until the plots are logged; raise what stopped them."""
        self._thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error
