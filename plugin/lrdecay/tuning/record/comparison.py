"""The search's comparison plots: every trial's learning rate and objective.

Logged to the parent run under `lrdecay/` (`lr_curves.png`,
`<objective>_curves.png`), from the curves the trial runs logged. `Drawing`
draws them in a thread while the search's last steps go on; only the
drawing: the store is read and written from the caller's thread.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrdecay._compat.python import Thread
from lrdecay.tracking.settings_plot import Curve, settings_plot
from lrdecay.tracking.tags import run_kind
from lrdecay.tuning.evidence import labels
from lrdecay.tuning.searchspace.space import CONTROL_KIND

Curves = dict[str, list[Curve]]


def read_curves(
    client: Any, by_trial: Mapping[str, list[Any]], objective: str
) -> tuple[Curves, Curves, str | None]:
    """Each setting's learning-rate and objective curves, and the control's name."""
    lr_curves: Curves = {}
    val_curves: Curves = {}
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
    return lr_curves, val_curves, control


def draw(
    lr_curves: Curves,
    val_curves: Curves,
    control: str | None,
    objective: str,
    folder: Path,
) -> list[Path]:
    """Draw the plots of the curves there are into `folder`; their paths."""
    paths = []
    if lr_curves:
        paths.append(
            settings_plot(
                lr_curves,
                folder / "lr_curves.png",
                control=control,
                title="learning rate of every setting",
                log_scale=True,
            )
        )
    if val_curves:
        paths.append(
            settings_plot(
                val_curves,
                folder / f"{objective}_curves.png",
                control=control,
                ylabel=objective,
                title=f"{objective} of every setting "
                "(mean over repeats, band: lowest to highest)",
                log_scale=_is_loss(objective),
                steps=False,
            )
        )
    return paths


class Drawing:
    """Log two plots to the parent run: every setting's rate, and its objective.

    One line per setting, the mean over its repeats with their spread as a
    band, the control on top (`lrdecay.tracking.settings_plot`); drawn in
    a thread, started at once; `join` logs them to the parent.

    Drawing the two plots takes tenths of a second of CPU, and the search's
    other last steps (tagging the runs, the summary, the best model's
    reload) wait mostly on the store and the disk: each goes on beside the
    other. The curves are read here and the plots logged by `join`, in the
    caller's thread: the thread only draws.

    Args:
        client: `mlflow.MlflowClient`.
        parent_run_id: String. The search's run.
        by_trial: Trial id -> its runs (one per execution).
        objective: String. The metric of the second plot.
    """

    def __init__(
        self,
        client: Any,
        parent_run_id: str,
        by_trial: Mapping[str, list[Any]],
        objective: str,
    ) -> None:
        self.client = client
        self.parent_run_id = parent_run_id
        self._paths: list[Path] = []
        self._error: BaseException | None = None
        lr_curves, val_curves, control = read_curves(client, by_trial, objective)
        self._folder = Path(tempfile.mkdtemp(prefix="lrdecay-search-"))
        self._thread = Thread(
            target=self._draw,
            args=(lr_curves, val_curves, control, objective),
            name="lrdecay-comparison",
        )
        self._thread.start()

    def _draw(
        self, lr_curves: Curves, val_curves: Curves, control: str | None, objective: str
    ) -> None:
        try:
            self._paths = draw(lr_curves, val_curves, control, objective, self._folder)
        except BaseException as error:  # handed to the caller by `join`
            self._error = error

    def join(self) -> None:
        """Wait for the plots and log them; raise what stopped either."""
        try:
            self._thread.join()
            if self._error is not None:
                raise self._error
            for path in self._paths:
                self.client.log_artifact(self.parent_run_id, str(path), "lrdecay")
        finally:
            self._error = None
            shutil.rmtree(self._folder, ignore_errors=True)


def _is_loss(metric: str) -> bool:
    # A loss falls by orders of magnitude, and the trials differ near the
    # end, where a linear axis squeezes them together; accuracies don't.
    return metric.endswith("loss")
