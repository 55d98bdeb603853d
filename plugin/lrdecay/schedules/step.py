"""The piecewise-constant decays: step and multi-step."""

from __future__ import annotations

import bisect
import dataclasses
from typing import ClassVar

from lrdecay._validation import check_drop, check_epoch_count, check_milestones
from lrdecay.kinds import Extra, KindSpec
from lrdecay.schedules.base import Schedule


@dataclasses.dataclass(frozen=True)
class StepSchedule(Schedule):
    """`initial_lr * drop ** floor(epoch / epochs_drop)`.

    Args:
        drop: Float in (0, 1]. The factor applied at every decay. Defaults
            to `0.5`.
        epochs_drop: Int. Epochs between two decays. Defaults to `30`.
    """

    spec: ClassVar[KindSpec | None] = KindSpec(
        name="step",
        decay_arg="epochs_drop",
        extras=(Extra("drop", 0, 1, high_open=False),),
        piecewise=True,
        default=True,
    )

    drop: float = 0.5
    epochs_drop: int = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        check_drop(self.drop)
        check_epoch_count("epochs_drop", self.epochs_drop, allow_zero=False)

    def _decayed(self, epochs_since_warmup: int) -> float:
        return self.require_initial_lr() * self.drop ** (
            epochs_since_warmup // self.epochs_drop
        )


@dataclasses.dataclass(frozen=True)
class MultiStepSchedule(Schedule):
    """`initial_lr * drop ** (number of milestones <= epoch)`.

    PyTorch's `MultiStepLR`: decay at a given list of epochs.

    Args:
        drop: Float in (0, 1]. The factor applied at every milestone.
            Defaults to `0.1`.
        milestones: Sequence of int. Strictly increasing epochs (counted
            after any warm-up) at which the rate is multiplied by `drop`.
    """

    spec: ClassVar[KindSpec | None] = KindSpec(name="multistep", piecewise=True)

    drop: float = 0.1
    milestones: tuple[int, ...] = (30, 60, 90)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_drop(self.drop)
        object.__setattr__(self, "milestones", check_milestones(self.milestones))

    def _decayed(self, epochs_since_warmup: int) -> float:
        decays = bisect.bisect_right(self.milestones, epochs_since_warmup)
        return self.require_initial_lr() * self.drop**decays
