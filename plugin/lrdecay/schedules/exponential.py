"""Exponential decay, given by its rate or its half-life."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, cast

from lrdecay._validation import check_non_negative_finite, check_positive_finite
from lrdecay.kinds import Extra, KindSpec
from lrdecay.schedules.base import Schedule


@dataclasses.dataclass(frozen=True)
class ExponentialSchedule(Schedule):
    """`initial_lr * exp(-k * epoch)`, given by `k` or by its half-life.

    `half_life` is the name the search, the CLI tables and `preview` use:
    the epochs it takes to halve the rate, `k = ln 2 / half_life`. Give one
    of the two; the config keeps the one given.

    Args:
        k: Float >= 0 or `None`. The decay rate per epoch. Defaults to
            `0.1` unless `half_life` is given.
        half_life: Float > 0 or `None`. Epochs to halve the rate. Defaults
            to `None` (use `k`).
    """

    spec: ClassVar[KindSpec | None] = KindSpec(
        name="exponential",
        decay_arg="half_life",
        rate_arg=Extra("k", 0, low_open=False),
        rate_of_epochs=lambda half_life: math.log(2.0) / half_life,
        default=True,
    )

    k: float | None = None
    half_life: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.half_life is None:
            # Only `k` is stored when given or defaulted, so `replace()` and
            # the config see exactly what the user chose.
            object.__setattr__(self, "k", 0.1 if self.k is None else self.k)
            check_non_negative_finite("k", self.k)
            return
        if self.k is not None:
            raise ValueError(
                "Give exponential decay `k` or `half_life`, not both "
                "(k = ln 2 / half_life). "
                f"Received: k={self.k!r}, half_life={self.half_life!r}"
            )
        check_positive_finite("half_life", self.half_life)

    @property
    def decay_rate(self) -> float:
        """`k`, also when the decay was given by its `half_life`."""
        if self.half_life is not None:
            return math.log(2) / self.half_life
        return cast(float, self.k)

    def _decayed(self, epochs_since_warmup: int) -> float:
        return self.require_initial_lr() * math.exp(
            -self.decay_rate * epochs_since_warmup
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["k" if self.half_life is not None else "half_life"]
        return config
