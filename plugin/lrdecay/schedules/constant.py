"""The constant-rate control's schedule."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from lrdecay.schedules.base import Schedule


@dataclasses.dataclass(frozen=True)
class ConstantSchedule(Schedule):
    """The constant-rate control's schedule: `initial_lr` at every epoch.

    A `Schedule` of kind `"constant"` (not a searchable kind: the search's
    control), so that the control trains through the same `ScheduledDecay`
    as the decays (its rate recorded per epoch, its MLflow param
    `decay_kind=constant`). It logs no settings of its own
    (`logs_settings`): it has none but the rate, which the decays' runs hold
    too, and MLflow's compare page opens its parallel-coordinates plot on the
    first three differing params by name, which `constant/...` would take
    before `decay_epochs` and `decay_kind`.
    """

    kind: ClassVar[str] = "constant"
    logs_settings: ClassVar[bool] = False

    def _decayed(self, epochs_since_warmup: int) -> float:
        return self.require_initial_lr()
