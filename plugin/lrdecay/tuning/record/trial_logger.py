"""The `MlflowLogger` of one trial execution of a search."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from lrdecay.tracking.logger import MlflowLogger


class TrialLogger(MlflowLogger):
    """An `MlflowLogger` whose run, when its fit ends well, says COMPLETED.

    A fit that ends well is a completed trial: KerasTuner's word for it goes
    in `lrdecay.status` with the fit's last points, in the same write, not
    in one of its own after the run ended (a store write is ~10 ms on the
    training path). A fit that fails or is interrupted ends FAILED or
    KILLED, as any `MlflowLogger`'s, and its `TrialRun` writes the trial's
    word (`lrdecay.tuning.record.trial_run.TrialRun.end`).

    Its run is created in `experiment_id`, the parent's experiment, when
    the search knows it: no lookup of the parent run per trial.

    Args:
        experiment_id: String or `None`. The experiment of the parent run,
            or `None` to look it up (`MlflowLogger`'s way).
        **options: `MlflowLogger`'s arguments.
    """

    end_status_tags = MappingProxyType({"FINISHED": "COMPLETED"})

    def __init__(self, *, experiment_id: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.run_experiment_id = experiment_id
