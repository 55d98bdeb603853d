"""The base of the scheduled decays: warm-up, the decay itself, a floor.

`Schedule` evaluates a rate per epoch; a subclass that declares a `spec`
(`lrdecay.kinds.KindSpec`) is registered in `lrdecay.kinds.KIND_TABLE` and in
`SCHEDULES` as it is defined.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from lrdecay._validation import (
    check_epoch_count,
    check_non_negative_finite,
    check_number,
    check_positive_finite,
)
from lrdecay.kinds import KindSpec, register_kind

SCHEDULES: dict[str, type[Schedule]] = {}
"""The schedule class of each kind that has one, filled as the classes are defined."""


def _check_epoch(epoch: int) -> None:
    if epoch < 0:
        raise ValueError(f"Epochs count from 0. Received: epoch={epoch!r}")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Base of the scheduled decays: warm-up, the decay itself, a floor.

    Subclasses implement `_decayed(epochs_since_warmup)`, the rate the decay
    formula gives `epochs_since_warmup` epochs after the warm-up ended.

    A schedule without `initial_lr` is relative to a rate not known yet (the
    decay callbacks fill in the optimizer's rate when a fit begins): it
    gives no rates until `with_initial_lr(rate)` names one; `lr_at` and
    `curve` raise a `ValueError` that says so.

    Args:
        initial_lr: Float or `None`. The rate the decay starts from (and the
            warm-up rises to). Defaults to `None`: the optimizer's rate,
            filled in by the decay callback (`with_initial_lr`).
        min_lr: Float. A floor the decayed rate never goes below. Defaults
            to `0.0`.
        warmup_epochs: Int. Number of epochs of linear warm-up before the
            decay starts. Defaults to `0` (no warm-up).
        warmup_start_lr: Float or `None`. The rate of epoch 0 when warming
            up. Defaults to `initial_lr / (warmup_epochs + 1)`, so epoch `e`
            of the warm-up runs at `initial_lr * (e + 1) / (warmup_epochs + 1)`.
    """

    kind: ClassVar[str] = ""
    # The kind's row of the kind table (`lrdecay.kinds.KindSpec`); a class
    # that declares one is registered under `spec.name`.
    spec: ClassVar[KindSpec | None] = None

    initial_lr: float | None = None
    min_lr: float = 0.0
    warmup_epochs: int = 0
    warmup_start_lr: float | None = None

    def __post_init__(self) -> None:
        if self.initial_lr is not None:
            check_positive_finite("initial_lr", self.initial_lr)
        check_non_negative_finite("min_lr", self.min_lr)
        if self.initial_lr is not None and self.min_lr > self.initial_lr:
            raise ValueError(
                "Argument `min_lr` must not exceed `initial_lr`. "
                f"Received: min_lr={self.min_lr!r}, initial_lr={self.initial_lr!r}"
            )
        check_epoch_count("warmup_epochs", self.warmup_epochs, allow_zero=True)
        if self.warmup_start_lr is not None:
            check_number("warmup_start_lr", self.warmup_start_lr)
            if self.warmup_start_lr < 0 or (
                self.initial_lr is not None and self.warmup_start_lr > self.initial_lr
            ):
                raise ValueError(
                    "Argument `warmup_start_lr` must be between 0 and "
                    f"`initial_lr`. Received: warmup_start_lr="
                    f"{self.warmup_start_lr!r}, initial_lr={self.initial_lr!r}"
                )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            register_kind(spec)
            cls.kind = spec.name
            SCHEDULES[spec.name] = cls

    def _decayed(self, epochs_since_warmup: int) -> float:
        raise NotImplementedError

    def require_initial_lr(self) -> float:
        """`initial_lr`; a `ValueError` naming the fix when it is not set yet."""
        if self.initial_lr is None:
            raise ValueError(
                f"This {type(self).__name__} has no `initial_lr`: it starts from "
                "the optimizer's rate, known once a fit begins. To read its "
                "rates before training, give the rate it starts from, e.g. "
                "`schedule.with_initial_lr(0.001).curve(epochs)`."
            )
        return self.initial_lr

    def with_initial_lr(self, initial_lr: float) -> Schedule:
        """This schedule starting from `initial_lr` (its other settings kept).

        Raises:
            ValueError: If `initial_lr` is not a positive number, or is below
                `min_lr` or `warmup_start_lr`.
        """
        return dataclasses.replace(self, initial_lr=initial_lr)

    def lr_at(self, epoch: int, scale: float = 1.0) -> float:
        """The learning rate of `epoch` (from 0).

        Args:
            epoch: Int. The epoch, counted from 0 as Keras counts it.
            scale: Float. A multiplier on the schedule, e.g. the product of
                the plateau reductions so far. The `min_lr` floor applies
                after it. Defaults to `1.0`.

        Raises:
            ValueError: If the schedule has no `initial_lr` (see
                `with_initial_lr`).
        """
        _check_epoch(epoch)
        initial_lr = self.require_initial_lr()
        if epoch < self.warmup_epochs:
            start = (
                initial_lr / (self.warmup_epochs + 1)
                if self.warmup_start_lr is None
                else self.warmup_start_lr
            )
            fraction = epoch / self.warmup_epochs
            return scale * (start + (initial_lr - start) * fraction)
        return max(scale * self._decayed(epoch - self.warmup_epochs), self.min_lr)

    def curve(self, epochs: int) -> list[float]:
        """The learning rates of epochs `0 .. epochs - 1`.

        Raises:
            ValueError: If the schedule has no `initial_lr` (see
                `with_initial_lr`).
        """
        check_epoch_count("epochs", epochs, allow_zero=True)
        return [self.lr_at(epoch) for epoch in range(epochs)]

    def get_config(self) -> dict[str, Any]:
        config = dataclasses.asdict(self)
        for key, value in config.items():
            if isinstance(value, tuple):
                config[key] = list(value)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Schedule:
        return cls(**config)
