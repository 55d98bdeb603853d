"""Decay callbacks for `model.fit`: step, multi-step, exponential, cosine, plateau.

`StepDecay`, `MultiStepDecay`, `ExponentialDecay`, `CosineDecay` and
`CosineDecayRestarts` are Keras `LearningRateScheduler`s driven by the pure
schedules of `lrdecay.schedules`; `PlateauDecay` is a Keras
`ReduceLROnPlateau`. Each keeps Keras' arguments and behaviour and adds what
users miss: argument checks at construction, the applied history
(`lr_history`, and `decay_events` for plateau decay), the curve before
training (`lr_at`, `curve`), and a clear error for optimizers whose learning
rate is a `LearningRateSchedule`.

A scheduled decay and a plateau rule compose: when the optimizer's rate was
changed between two epochs by someone else (a `PlateauDecay`, Keras'
`ReduceLROnPlateau`, user code), the scheduled decay keeps that change as a
multiplier on its schedule instead of overwriting it. So a plateau reduction
by 0.1 multiplies every later scheduled rate by 0.1.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, NamedTuple

import keras
from keras.callbacks import LearningRateScheduler, ReduceLROnPlateau

from lrdecay._compat.keras import learning_rate_schedule
from lrdecay._validation import (
    check_epoch_count,
    check_non_negative_finite,
    check_number,
)
from lrdecay.schedules import (
    CosineRestartsSchedule,
    CosineSchedule,
    ExponentialSchedule,
    MultiStepSchedule,
    Schedule,
    StepSchedule,
)

# The lrdecay decay callbacks taking part in each model's current fit, so the
# tracking callback can log their settings. Keras calls `set_model` on every
# callback of a fit before it calls any `on_train_begin`, so a `set_model`
# starts a new, empty list and `on_train_begin` fills it.
_DECAYS_IN_FIT: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


def start_fit_registry(model: Any) -> None:
    """Forget the decays of `model`'s previous fit; called from `set_model`."""
    _DECAYS_IN_FIT[model] = []


def decays_in_fit(model: Any) -> list[ScheduledDecay | PlateauDecay]:
    """The lrdecay decay callbacks in `model`'s current (or last) fit.

    Complete once every callback's `on_train_begin` has run.
    """
    return list(_DECAYS_IN_FIT.get(model, ()))


def _join_fit(callback: ScheduledDecay | PlateauDecay) -> None:
    _DECAYS_IN_FIT.setdefault(callback.model, []).append(callback)


def current_learning_rate(optimizer: Any) -> float:
    """The optimizer's learning rate now, as a Python float."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def check_settable_learning_rate(optimizer: Any, owner: str) -> None:
    """Raise a `TypeError` that says what to do if `optimizer`'s rate is fixed.

    Keras lets no callback set the rate of an optimizer built with a
    `keras.optimizers.schedules.LearningRateSchedule`; it would fail later with
    a `TypeError` that does not mention the callback.
    """
    learning_rate = learning_rate_schedule(optimizer)
    if learning_rate is not None:
        raise TypeError(
            f"{owner} sets the optimizer's learning rate at every epoch, but "
            f"this optimizer was built with a `{type(learning_rate).__name__}` "
            "learning-rate schedule, whose rate Keras does not let callbacks "
            "change. Build the optimizer with a float learning rate, e.g. "
            f"`keras.optimizers.{type(optimizer).__name__}(learning_rate=0.1)`, "
            f"and let {owner} decay it; or keep the schedule and drop {owner}."
        )


class DecayEvent(NamedTuple):
    """One reduction made by a `PlateauDecay`."""

    epoch: int
    old_lr: float
    new_lr: float
    monitor_value: float


class ScheduledDecay(LearningRateScheduler):
    """A `LearningRateScheduler` that follows a `lrdecay.schedules.Schedule`.

    The base of `StepDecay`, `MultiStepDecay`, `ExponentialDecay`,
    `CosineDecay` and `CosineDecayRestarts`; use it directly to drive a fit
    from any `Schedule`.

    Args:
        decay_schedule: `lrdecay.schedules.Schedule`. The epoch -> rate rule.
        verbose: Int. 0: quiet, 1: print each update. Defaults to `0`.
    """

    def __init__(self, decay_schedule: Schedule, verbose: int = 0) -> None:
        if not isinstance(decay_schedule, Schedule):
            raise TypeError(
                "Argument `decay_schedule` must be an lrdecay.schedules.Schedule. "
                f"Received: decay_schedule={decay_schedule!r}"
            )
        # Keras calls `self.schedule(epoch, current_lr)`; a bound method keeps
        # the callback deep-copyable (copy rebinds it to the copy).
        super().__init__(schedule=self._scheduled_lr, verbose=verbose)
        self.decay_schedule = decay_schedule
        self.lr_history: list[tuple[int, float]] = []
        self._scale = 1.0
        self._last_applied_lr: float | None = None

    @property
    def kind(self) -> str:
        """The decay kind, e.g. `"step"`, `"exponential"` or `"cosine"`."""
        return self.decay_schedule.kind

    def lr_at(self, epoch: int) -> float:
        """The scheduled learning rate of `epoch` (from 0), before training."""
        return self.decay_schedule.lr_at(epoch)

    def curve(self, epochs: int) -> list[float]:
        """The scheduled learning rates of epochs `0 .. epochs - 1`."""
        return self.decay_schedule.curve(epochs)

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        start_fit_registry(model)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        check_settable_learning_rate(self.model.optimizer, type(self).__name__)
        self.lr_history = []
        self._scale = 1.0
        self._last_applied_lr = None
        _join_fit(self)

    def _scheduled_lr(self, epoch: int, current_lr: float) -> float:
        last = self._last_applied_lr
        if (
            last is not None
            and last > 0
            and not math.isclose(current_lr, last, rel_tol=1e-6)
        ):
            # Someone (a plateau rule, user code) changed the rate since we
            # set it: keep their change as a multiplier on the schedule.
            self._scale *= current_lr / last
        return float(self.decay_schedule.lr_at(epoch, self._scale))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_epoch_begin(epoch, logs)
        # Record what the optimizer holds (float32), not what we asked for.
        self._last_applied_lr = current_learning_rate(self.model.optimizer)
        self.lr_history.append((epoch, self._last_applied_lr))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if hasattr(self.model.optimizer, "optimizers") or not self.lr_history:
            super().on_epoch_end(epoch, logs)
            return
        # Keras logs the optimizer's rate *now*, which a plateau rule listed
        # earlier may already have reduced; log the rate this epoch ran at.
        if logs is not None:
            logs["learning_rate"] = self.lr_history[-1][1]

    def get_config(self) -> dict[str, Any]:
        return {**self.decay_schedule.get_config(), "verbose": self.verbose}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScheduledDecay:
        return cls(**config)


@keras.saving.register_keras_serializable(package="lrdecay")
class StepDecay(ScheduledDecay):
    """Step decay: multiply the learning rate by `drop` every `epochs_drop` epochs.

    The rate of epoch `e` (from 0) is
    `initial_lr * drop ** floor(e / epochs_drop)`, never below `min_lr`,
    after an optional linear warm-up of `warmup_epochs` epochs.

    Example:

    ```python
    decay = StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=30)
    decay.curve(61)[::30]  # [0.1, 0.05, 0.025]
    model.fit(x, y, epochs=90, callbacks=[decay])
    ```

    Args:
        initial_lr: Float. The rate of epoch 0 (after warm-up). Defaults to
            `0.1`.
        drop: Float in (0, 1]. The factor applied at every decay. Defaults
            to `0.5`.
        epochs_drop: Int. Epochs between two decays. Defaults to `30`.
        min_lr: Float. A floor for the decayed rate. Defaults to `0.0`.
        warmup_epochs: Int. Epochs of linear warm-up before the decay, which
            then counts its epochs from the end of the warm-up. Defaults to
            `0`.
        warmup_start_lr: Float or `None`. The rate of epoch 0 when warming
            up. Defaults to `initial_lr / (warmup_epochs + 1)`.
        verbose: Int. 0: quiet, 1: print each update. Defaults to `0`.

    Raises:
        ValueError: If an argument is out of range (the message names it).
        TypeError: At `on_train_begin`, if the optimizer's rate is a
            `LearningRateSchedule`.
    """

    def __init__(
        self,
        initial_lr: float = 0.1,
        drop: float = 0.5,
        epochs_drop: int = 30,
        min_lr: float = 0.0,
        warmup_epochs: int = 0,
        warmup_start_lr: float | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            StepSchedule(
                initial_lr=initial_lr,
                drop=drop,
                epochs_drop=epochs_drop,
                min_lr=min_lr,
                warmup_epochs=warmup_epochs,
                warmup_start_lr=warmup_start_lr,
            ),
            verbose=verbose,
        )


@keras.saving.register_keras_serializable(package="lrdecay")
class MultiStepDecay(ScheduledDecay):
    """Decay at given epochs: multiply the rate by `drop` at each milestone.

    PyTorch's `MultiStepLR` as a Keras callback: the rate of epoch `e` is
    `initial_lr * drop ** (number of milestones <= e)`.

    Example:

    ```python
    decay = MultiStepDecay(initial_lr=0.1, drop=0.1, milestones=[30, 60])
    decay.lr_at(59), decay.lr_at(60)  # (0.01, 0.001)
    ```

    Args:
        initial_lr: Float. The rate before the first milestone. Defaults to
            `0.1`.
        drop: Float in (0, 1]. The factor applied at each milestone. Defaults
            to `0.1`.
        milestones: Sequence of int. Strictly increasing epochs (>= 0).
            Defaults to `(30, 60, 90)`.
        min_lr: Float. A floor for the decayed rate. Defaults to `0.0`.
        warmup_epochs: Int. Epochs of linear warm-up; milestones count from
            its end. Defaults to `0`.
        warmup_start_lr: Float or `None`. The rate of epoch 0 when warming
            up. Defaults to `initial_lr / (warmup_epochs + 1)`.
        verbose: Int. 0: quiet, 1: print each update. Defaults to `0`.
    """

    def __init__(
        self,
        initial_lr: float = 0.1,
        drop: float = 0.1,
        milestones: tuple[int, ...] | list[int] = (30, 60, 90),
        min_lr: float = 0.0,
        warmup_epochs: int = 0,
        warmup_start_lr: float | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            MultiStepSchedule(
                initial_lr=initial_lr,
                drop=drop,
                milestones=milestones,  # type: ignore[arg-type]
                min_lr=min_lr,
                warmup_epochs=warmup_epochs,
                warmup_start_lr=warmup_start_lr,
            ),
            verbose=verbose,
        )


@keras.saving.register_keras_serializable(package="lrdecay")
class ExponentialDecay(ScheduledDecay):
    """Exponential decay: the rate of epoch `e` is `initial_lr * exp(-k * e)`.

    Give the decay by its rate `k` or by its half-life, the epochs it takes
    to halve the rate (`k = ln 2 / half_life`), the name the search, the CLI
    tables and `lrdecay preview` use. `get_config()` keeps the one given.

    Example:

    ```python
    decay = ExponentialDecay(initial_lr=0.1, k=0.1)
    round(decay.lr_at(10), 6)  # 0.036788
    ExponentialDecay(initial_lr=0.1, half_life=10).lr_at(10)  # 0.05
    ```

    Args:
        initial_lr: Float. The rate of epoch 0 (after warm-up). Defaults to
            `0.1`.
        k: Float >= 0 or `None`. Decay rate per epoch. Defaults to `0.1`
            unless `half_life` is given.
        min_lr: Float. A floor for the decayed rate. Defaults to `0.0`.
        warmup_epochs: Int. Epochs of linear warm-up before the decay, which
            then counts its epochs from the end of the warm-up. Defaults to
            `0`.
        warmup_start_lr: Float or `None`. The rate of epoch 0 when warming
            up. Defaults to `initial_lr / (warmup_epochs + 1)`.
        verbose: Int. 0: quiet, 1: print each update. Defaults to `0`.
        half_life: Float > 0 or `None`. Epochs to halve the rate, instead
            of `k`. Defaults to `None`.

    Raises:
        ValueError: If an argument is out of range, or both `k` and
            `half_life` are given (the message names them).
    """

    def __init__(
        self,
        initial_lr: float = 0.1,
        k: float | None = None,
        min_lr: float = 0.0,
        warmup_epochs: int = 0,
        warmup_start_lr: float | None = None,
        verbose: int = 0,
        *,
        half_life: float | None = None,
    ) -> None:
        super().__init__(
            ExponentialSchedule(
                initial_lr=initial_lr,
                k=k,
                half_life=half_life,
                min_lr=min_lr,
                warmup_epochs=warmup_epochs,
                warmup_start_lr=warmup_start_lr,
            ),
            verbose=verbose,
        )


@keras.saving.register_keras_serializable(package="lrdecay")
class CosineDecay(ScheduledDecay):
    """Cosine decay: from `initial_lr` down to `alpha * initial_lr` in `decay_epochs`.

    The per-epoch values of Keras' `keras.optimizers.schedules.CosineDecay`
    evaluated at step = epoch: the rate of epoch `e` is
    `initial_lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(e, D) / D)) + alpha)`
    with `D = decay_epochs`. As a callback rather than an optimizer schedule,
    it composes with `PlateauDecay`, keeps `lr_history` and is tracked and
    searched like the other decays. Warm-up (as Keras' `warmup_steps`) rises
    linearly to `initial_lr`, and the cosine counts its epochs from its end.

    Example:

    ```python
    decay = CosineDecay(initial_lr=0.1, decay_epochs=50)
    decay.lr_at(0), decay.lr_at(25), decay.lr_at(50)  # (0.1, 0.05, 0.0)
    model.fit(x, y, epochs=50, callbacks=[decay])
    ```

    Args:
        initial_lr: Float. The rate of epoch 0 (after warm-up). Defaults to
            `0.1`.
        decay_epochs: Int > 0. Epochs the rate takes to reach its floor;
            usually the epochs of the fit. Required.
        alpha: Float in [0, 1). The floor, as a fraction of `initial_lr`.
            Defaults to `0.0`.
        min_lr: Float. A floor for the decayed rate. Defaults to `0.0`.
        warmup_epochs: Int. Epochs of linear warm-up before the decay.
            Defaults to `0`.
        warmup_start_lr: Float or `None`. The rate of epoch 0 when warming
            up. Defaults to `initial_lr / (warmup_epochs + 1)`.
        verbose: Int. 0: quiet, 1: print each update. Defaults to `0`.

    Raises:
        ValueError: If an argument is out of range (the message names it).
        TypeError: If `decay_epochs` is missing or not a whole number; at
            `on_train_begin`, if the optimizer's rate is a
            `LearningRateSchedule`.
    """

    def __init__(
        self,
        initial_lr: float = 0.1,
        decay_epochs: int | None = None,
        alpha: float = 0.0,
        min_lr: float = 0.0,
        warmup_epochs: int = 0,
        warmup_start_lr: float | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            CosineSchedule(
                initial_lr=initial_lr,
                # None fails the schedule's check, which names it.
                decay_epochs=decay_epochs,  # type: ignore[arg-type]
                alpha=alpha,
                min_lr=min_lr,
                warmup_epochs=warmup_epochs,
                warmup_start_lr=warmup_start_lr,
            ),
            verbose=verbose,
        )


@keras.saving.register_keras_serializable(package="lrdecay")
class CosineDecayRestarts(ScheduledDecay):
    """Cosine decay with warm restarts (SGDR): periods that grow by `t_mul`.

    The per-epoch values of Keras'
    `keras.optimizers.schedules.CosineDecayRestarts` evaluated at step =
    epoch. The first cosine period lasts `first_decay_epochs` epochs (SGDR's
    T_0), each next one `t_mul` times longer; each restart jumps back up to
    `m_mul` times the previous peak. The floor `alpha * initial_lr` stays
    the same in every period, as in Keras.

    Example:

    ```python
    decay = CosineDecayRestarts(initial_lr=0.1, first_decay_epochs=10)
    [round(lr, 4) for lr in decay.curve(31)[::10]]  # [0.1, 0.1, 0.05, 0.1]
    ```

    Args:
        initial_lr: Float. The rate of epoch 0 (after warm-up). Defaults to
            `0.1`.
        first_decay_epochs: Int > 0. Length of the first period. Required.
        t_mul: Float >= 1. Each period is `t_mul` times longer than the one
            before. Defaults to `2.0`.
        m_mul: Float in (0, 1]. Each restart peaks at `m_mul` times the peak
            before. Defaults to `1.0`.
        alpha: Float in [0, 1). The floor, as a fraction of `initial_lr`.
            Defaults to `0.0`.
        min_lr: Float. A floor for the decayed rate. Defaults to `0.0`.
        warmup_epochs: Int. Epochs of linear warm-up before the first
            period. Defaults to `0`.
        warmup_start_lr: Float or `None`. The rate of epoch 0 when warming
            up. Defaults to `initial_lr / (warmup_epochs + 1)`.
        verbose: Int. 0: quiet, 1: print each update. Defaults to `0`.

    Raises:
        ValueError: If an argument is out of range (the message names it).
        TypeError: If `first_decay_epochs` is missing or not a whole number;
            at `on_train_begin`, if the optimizer's rate is a
            `LearningRateSchedule`.
    """

    def __init__(
        self,
        initial_lr: float = 0.1,
        first_decay_epochs: int | None = None,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        min_lr: float = 0.0,
        warmup_epochs: int = 0,
        warmup_start_lr: float | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            CosineRestartsSchedule(
                initial_lr=initial_lr,
                first_decay_epochs=first_decay_epochs,  # type: ignore[arg-type]
                t_mul=t_mul,
                m_mul=m_mul,
                alpha=alpha,
                min_lr=min_lr,
                warmup_epochs=warmup_epochs,
                warmup_start_lr=warmup_start_lr,
            ),
            verbose=verbose,
        )


@keras.saving.register_keras_serializable(package="lrdecay")
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

    kind = "plateau"

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
        _join_fit(self)

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

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PlateauDecay:
        return cls(**config)


DECAYS: dict[str, type[ScheduledDecay] | type[PlateauDecay]] = {
    "step": StepDecay,
    "multistep": MultiStepDecay,
    "exponential": ExponentialDecay,
    "cosine": CosineDecay,
    "cosine_restarts": CosineDecayRestarts,
    "plateau": PlateauDecay,
}
