"""Scheduled decays: Keras `LearningRateScheduler`s driven by `lrdecay.schedules`.

`ScheduledDecay` is the base (argument checks, the applied history, the curve
before training, composition with a plateau rule); `StepDecay`,
`MultiStepDecay` and `ExponentialDecay` are its schedules.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras.callbacks import LearningRateScheduler

from lrdecay.callbacks.fit import (
    check_settable_learning_rate,
    current_learning_rate,
    join_fit,
    start_fit_registry,
    starting_learning_rate,
)
from lrdecay.callbacks.registry import decay_of
from lrdecay.schedules import (
    ExponentialSchedule,
    MultiStepSchedule,
    Schedule,
    StepSchedule,
)


class ScheduledDecay(LearningRateScheduler):
    """A `LearningRateScheduler` that follows a `lrdecay.schedules.Schedule`.

    The base of `StepDecay`, `MultiStepDecay`, `ExponentialDecay`,
    `CosineDecay` and `CosineDecayRestarts`; use it directly to drive a fit
    from any `Schedule`.

    Without an `initial_lr` (the default of every decay) the schedule starts
    from the optimizer's rate, as PyTorch's schedulers do: the rate the
    model was compiled with, read when the fit begins (`on_train_begin`;
    `lrdecay.callbacks.starting_learning_rate`). An explicit `initial_lr`
    wins. The rate read is kept per optimizer, so a second fit continuing
    the first (`initial_epoch=10`) starts the schedule from the same rate,
    not from the decayed one; a fit resuming a decayed run in a new process
    (the optimizer restored at a decayed rate) should pass `initial_lr`.
    `get_config()` keeps what was given (`initial_lr=None` stays relative);
    `applied_config()`, which `MlflowLogger` logs, holds the rate the fit
    started from.

    `lr_at(epoch)` and `curve(epochs)` need the rate the schedule starts
    from: its `initial_lr`, else the `optimizer_lr` argument, else the rate
    the current (or last) fit started from; before any fit, a decay without
    `initial_lr` raises a `ValueError` asking for one of them.

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
        # The schedule of the current (or last) fit, its initial rate known.
        self._fit_schedule: Schedule | None = None

    @property
    def kind(self) -> str:
        """The decay kind, e.g. `"step"`, `"exponential"` or `"cosine"`."""
        return self.decay_schedule.kind

    @property
    def initial_lr(self) -> float | None:
        """The rate given at construction; `None`: the optimizer's."""
        return self.decay_schedule.initial_lr

    def _schedule(self, optimizer_lr: float | None) -> Schedule:
        if self.decay_schedule.initial_lr is not None:
            return self.decay_schedule
        if optimizer_lr is not None:
            return self.decay_schedule.with_initial_lr(optimizer_lr)
        if self._fit_schedule is not None:
            return self._fit_schedule
        raise ValueError(
            f"{type(self).__name__}() was built without `initial_lr`: it starts "
            "from the optimizer's rate, known once a fit begins. To read its "
            "rates before training, give that rate, e.g. "
            "`decay.curve(epochs, optimizer_lr=0.001)`, or build it with "
            "`initial_lr=...`."
        )

    def lr_at(self, epoch: int, optimizer_lr: float | None = None) -> float:
        """The scheduled learning rate of `epoch` (from 0).

        Args:
            epoch: Int. The epoch, counted from 0 as Keras counts it.
            optimizer_lr: Float or `None`. The optimizer's rate, which a
                decay without `initial_lr` starts from; ignored when the
                decay has its own `initial_lr`. Defaults to `None`: the rate
                the current (or last) fit started from.

        Raises:
            ValueError: If the decay has no `initial_lr`, no `optimizer_lr`
                is given and no fit has begun.
        """
        return self._schedule(optimizer_lr).lr_at(epoch)

    def curve(self, epochs: int, optimizer_lr: float | None = None) -> list[float]:
        """The scheduled learning rates of epochs `0 .. epochs - 1`.

        Args:
            epochs: Int. The number of epochs.
            optimizer_lr: Float or `None`. As for `lr_at`.

        Raises:
            ValueError: As `lr_at`.
        """
        return self._schedule(optimizer_lr).curve(epochs)

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        start_fit_registry(model)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        check_settable_learning_rate(optimizer, type(self).__name__)
        self._fit_schedule = (
            self.decay_schedule
            if self.decay_schedule.initial_lr is not None
            else self.decay_schedule.with_initial_lr(starting_learning_rate(optimizer))
        )
        self.lr_history = []
        self._scale = 1.0
        self._last_applied_lr = None
        join_fit(self)

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
        return float(self._schedule(None).lr_at(epoch, self._scale))

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

    def applied_config(self) -> dict[str, Any]:
        """`get_config()` with the `initial_lr` of the current (or last) fit.

        What the fit ran: for a decay without `initial_lr`, the optimizer's
        rate it started from. Before any fit, `get_config()`.
        """
        schedule = self._fit_schedule or self.decay_schedule
        return {**schedule.get_config(), "verbose": self.verbose}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScheduledDecay:
        return cls(**config)


@keras.saving.register_keras_serializable(package="lrdecay")
@decay_of(StepSchedule.spec)
class StepDecay(ScheduledDecay):
    """Step decay: multiply the learning rate by `drop` every `epochs_drop` epochs.

    The rate of epoch `e` (from 0) is
    `initial_lr * drop ** floor(e / epochs_drop)`, never below `min_lr`,
    after an optional linear warm-up of `warmup_epochs` epochs. Without
    `initial_lr`, it starts from the optimizer's rate (see `ScheduledDecay`).

    Example:

    ```python
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    decay = StepDecay(drop=0.5, epochs_drop=30)  # from Adam's 1e-3
    decay.curve(61, optimizer_lr=1e-3)[::30]  # [0.001, 0.0005, 0.00025]
    model.fit(x, y, epochs=90, callbacks=[decay])
    StepDecay(initial_lr=0.1, epochs_drop=30).curve(61)[::30]  # [0.1, 0.05, 0.025]
    ```

    Args:
        initial_lr: Float or `None`. The rate of epoch 0 (after warm-up).
            Defaults to `None`: the optimizer's rate when the fit begins.
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
        initial_lr: float | None = None,
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
@decay_of(MultiStepSchedule.spec)
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
        initial_lr: Float or `None`. The rate before the first milestone.
            Defaults to `None`: the optimizer's rate when the fit begins.
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
        initial_lr: float | None = None,
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
@decay_of(ExponentialSchedule.spec)
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
        initial_lr: Float or `None`. The rate of epoch 0 (after warm-up).
            Defaults to `None`: the optimizer's rate when the fit begins.
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
        initial_lr: float | None = None,
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
