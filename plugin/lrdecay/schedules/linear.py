"""Linear (or polynomial) decay to an end rate."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from lrdecay._validation import (
    check_epoch_count,
    check_non_negative_finite,
    check_positive_finite,
)
from lrdecay.kinds import KindSpec
from lrdecay.schedules.base import Schedule


@dataclasses.dataclass(frozen=True)
class LinearSchedule(Schedule):
    """Linear (or polynomial) decay from `initial_lr` to `end_lr` in `decay_epochs`.

    Keras' `keras.optimizers.schedules.PolynomialDecay` (`cycle=False`)
    evaluated at step = epoch: the rate of epoch `e` is
    `(initial_lr - end_lr) * (1 - min(e, D) / D) ** power + end_lr` with
    `D = decay_epochs`, so it stays at `end_lr` from epoch `D` on.

    Args:
        decay_epochs: Int > 0. Epochs the rate takes to reach `end_lr`;
            usually the length of the fit. Required.
        end_lr: Float >= 0, not above `initial_lr`. The final rate.
            Defaults to `0.0`.
        power: Float > 0. The polynomial's power; `1.0` is linear. Defaults
            to `1.0`.
    """

    spec: ClassVar[KindSpec | None] = KindSpec(name="linear", decay_arg="decay_epochs")

    decay_epochs: int = dataclasses.field(kw_only=True)
    end_lr: float = 0.0
    power: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_epoch_count("decay_epochs", self.decay_epochs, allow_zero=False)
        check_non_negative_finite("end_lr", self.end_lr)
        if self.initial_lr is not None and self.end_lr > self.initial_lr:
            raise ValueError(
                "Argument `end_lr` must not exceed `initial_lr`. "
                f"Received: end_lr={self.end_lr!r}, initial_lr={self.initial_lr!r}"
            )
        check_positive_finite("power", self.power)

    def _decayed(self, epochs_since_warmup: int) -> float:
        fraction = min(epochs_since_warmup, self.decay_epochs) / self.decay_epochs
        span = self.require_initial_lr() - self.end_lr
        return span * (1 - fraction) ** self.power + self.end_lr
