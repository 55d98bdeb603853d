"""Plateau decay: Keras' `ReduceLROnPlateau` with its reductions as data."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import keras
from keras.callbacks import ReduceLROnPlateau

from lrdecay._validation import (
    check_epoch_count,
    check_non_negative_finite,
    check_number,
)
from lrdecay.callbacks.fit import (
    check_settable_learning_rate,
    current_learning_rate,
    join_fit,
    start_fit_registry,
)
from lrdecay.callbacks.registry import decay_of
from lrdecay.schedules import PLATEAU


class DecayEvent(NamedTuple):
    """One reduction made by a `PlateauDecay`."""

    epoch: int
    old_lr: float
    new_lr: float
    monitor_value: float


@keras.saving.register_keras_serializable(package="lrdecay")
@decay_of(PLATEAU)
class PlateauDecay(ReduceLROnPlateau):
    """Reduce the learning rate when a monitored metric stops improving.

    Keras' `ReduceLROnPlateau` with its semantics unchanged (`min_delta`,
    `cooldown`, `min_lr`, `mode`), plus argument checks, the applied history
    and a record of each reduction. Listed beside a scheduled decay
    (`StepDecay`, `ExponentialDecay`, ...), each reduction multiplies the
    schedule from then on, instead of being overwritten at the next epoch.

    Example:

    ```python
    plateau = PlateauDecay(monitor="val_loss", factor=0.1, patience=10)
    model.fit(x, y, validation_split=0.2, epochs=100, callbacks=[plateau])
    plateau.decay_events  # [DecayEvent(epoch=..., old_lr=..., new_lr=..., ...)]
    ```

    Args:
        monitor: String. The metric to watch. Defaults to `"val_loss"`.
        factor: Float in (0, 1). `new_lr = lr * factor`. Defaults to `0.1`.
        patience: Int >= 0. Epochs without improvement before a reduction.
            Defaults to `10`.
        verbose: Int. 0: quiet, 1: print each reduction. Defaults to `0`.
        mode: One of `"auto"`, `"min"`, `"max"`. Defaults to `"auto"`.
        min_delta: Float >= 0. The smallest change that counts as an
            improvement. Defaults to `1e-4`.
        cooldown: Int >= 0. Epochs to wait after a reduction before counting
            again. Defaults to `0`.
        min_lr: Float >= 0. The rate is never reduced below it. Defaults to
            `0.0`.

    Raises:
        ValueError: If an argument is out of range or `mode` is unknown.
        TypeError: At `on_train_begin`, if the optimizer's rate is a
            `LearningRateSchedule`.
    """

    kind = PLATEAU.name

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(
                "Argument `monitor` must be a metric name such as 'val_loss'. "
                f"Received: monitor={monitor!r}"
            )
        check_number("factor", factor)
        if not 0 < factor < 1:
            raise ValueError(
                f"Argument `factor` must be in (0, 1). Received: factor={factor!r}"
            )
        check_epoch_count("patience", patience, allow_zero=True)
        check_epoch_count("cooldown", cooldown, allow_zero=True)
        if mode not in ("auto", "min", "max"):
            raise ValueError(
                "Argument `mode` must be one of 'auto', 'min', 'max'. "
                f"Received: mode={mode!r}"
            )
        check_non_negative_finite("min_delta", min_delta)
        check_non_negative_finite("min_lr", min_lr)
        super().__init__(
            monitor=monitor,
            factor=factor,
            patience=patience,
            verbose=verbose,
            mode=mode,
            min_delta=min_delta,
            cooldown=cooldown,
            min_lr=min_lr,
            **kwargs,
        )
        self.lr_history: list[tuple[int, float]] = []
        self.decay_events: list[DecayEvent] = []

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        start_fit_registry(model)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        check_settable_learning_rate(self.model.optimizer, type(self).__name__)
        super().on_train_begin(logs)
        self.lr_history = []
        self.decay_events = []
        join_fit(self)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        if hasattr(optimizer, "optimizers"):
            super().on_epoch_end(epoch, logs)
            return
        old_lr = current_learning_rate(optimizer)
        self.lr_history.append((epoch, old_lr))
        super().on_epoch_end(epoch, logs)
        new_lr = current_learning_rate(optimizer)
        if new_lr != old_lr:
            monitor_value = (logs or {}).get(self.monitor, math.nan)
            self.decay_events.append(
                DecayEvent(epoch, old_lr, new_lr, float(monitor_value))
            )

    def get_config(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "factor": self.factor,
            "patience": self.patience,
            "verbose": self.verbose,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "cooldown": self.cooldown,
            "min_lr": self.min_lr,
        }

    def applied_config(self) -> dict[str, Any]:
        """The settings of the fit, as the scheduled decays': `get_config()`."""
        return self.get_config()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PlateauDecay:
        return cls(**config)
