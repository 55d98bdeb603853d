"""What `DecayHyperModel.fit` knows about the trial it trains."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class TrialContext:
    """What `DecayHyperModel.fit` knows about the trial it trains.

    `seed` is the execution's seed (`search()` seeds every execution), or
    `None` when nothing seeded it.
    """

    trial_id: str | None
    execution: int
    tuner: Any | None
    hyperparameters: dict[str, Any]
    seed: int | None = None

    @property
    def continued_from(self) -> str | None:
        value = self.hyperparameters.get("tuner/trial_id")
        return None if value is None else str(value)
