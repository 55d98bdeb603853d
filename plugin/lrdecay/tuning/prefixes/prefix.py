"""Shared prefixes: where a decay leaves the constant-rate run, and its state there.

A step decay with `epochs_drop=30` trains epochs 0-29 exactly as the
constant-rate control does; a multi-step decay shares everything before its
first milestone; a plateau decay shares everything up to the epoch where the
constant run's own history triggers its first reduction. `departure_epoch`
says where each decay departs; `search()` trains that constant-rate *trunk*
once, keeps its state (`TrunkState`) at every departure
(`lrdecay.tuning.prefixes.trunks`) and continues each decay from there with
`fit(initial_epoch=...)` (`lrdecay.tuning.prefixes.branch`): the same numbers
as independent runs, at a fraction of their epochs.

What makes a branch exact (CPU, one seed):
- the data order of each epoch is a function of (seed, epoch)
  (`lrdecay.tuning.data.epoch_order.EpochOrderedData`), so a branch sees the
  batches an independent run sees;
- the snapshot holds every model variable (weights, and the state of each
  layer's own `SeedGenerator`, so dropout draws continue where they were),
  every optimizer variable (iterations, momentum, the rate), and Python's
  and NumPy's global random states;
- a plateau branch starts with the plateau rule's state as the independent
  run has it after its first reduction (best value, wait, cooldown).

Not captured: the backend's global `SeedGenerator` (random ops called with
`seed=None` inside the model while training) and TensorFlow's own op seeds;
Keras layers use their own seed generators, and a dense model draws nothing.
The compiled metrics are not captured: Keras resets them every epoch.

A trainer of shared prefixes outside `search()`, the reference the tests and
`benchmarks/bench_prefix.py` compare against, is `tests/prefix_trainer.py`.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from lrdecay._validation import check_choice, check_epoch_count
from lrdecay.callbacks import (
    DecayEvent,
    PlateauDecay,
    ScheduledDecay,
)

Logs = dict[str, float]


def departure_epoch(
    decay: Any,
    epochs: int,
    trunk_lr: float,
    history: Sequence[Logs] | None = None,
    mode: str | None = None,
) -> int | None:
    """The first epoch whose learning rate differs from the constant `trunk_lr`.

    Rates are compared as the optimizer holds them (float32). `None` when
    the decay follows the constant rate for all `epochs` epochs, i.e. its
    whole fit is the trunk's.

    - A scheduled decay (`StepDecay`, `MultiStepDecay`, `ExponentialDecay`,
      cosine, ...): read off its schedule. Step decay departs at
      `epochs_drop` (plus any warm-up), multi-step at its first milestone,
      exponential and cosine at 1 (epoch 0 runs at the initial rate),
      unless a rate of 0 or a floor keeps them constant; a warm-up, or
      another initial rate, departs at 0. A decay built without
      `initial_lr` starts from `trunk_lr`, the optimizer's rate.
    - `PlateauDecay`: the epoch after the one where the trunk's `history`
      (its per-epoch logs) triggers the first reduction
      (`plateau_departure`); `None` also while `history` has not triggered
      it yet. A rule whose `min_lr` is not below the rate never reduces.
    - Any other callback departs at 0: nothing is known about it.

    Args:
        decay: The decay callback.
        epochs: Int. The epochs of the fit.
        trunk_lr: Float. The constant rate of the trunk.
        history: Sequence of dict or `None`. The trunk's per-epoch logs;
            needed for a `PlateauDecay`.
        mode: `"min"`, `"max"` or `None`. A plateau rule's direction when its
            `mode` is `"auto"` and the monitor is not a loss (see
            `_compat.keras.monitor_direction`).

    Raises:
        ValueError: For a `PlateauDecay` without `history`, or one whose
            direction is unknown.
    """
    check_epoch_count("epochs", epochs, allow_zero=True)
    trunk = np.float32(trunk_lr)
    if isinstance(decay, ScheduledDecay):
        for epoch in range(epochs):
            if np.float32(decay.lr_at(epoch, optimizer_lr=trunk_lr)) != trunk:
                return epoch
        return None
    if isinstance(decay, PlateauDecay):
        if history is None:
            raise ValueError(
                "A PlateauDecay departs where the trunk's history triggers its "
                "first reduction: pass `history`, the trunk's per-epoch logs."
            )
        if not trunk > np.float32(decay.min_lr):
            return None  # Keras reduces only above `min_lr`.
        departure = plateau_departure(
            [logs.get(decay.monitor) for logs in history],
            patience=decay.patience,
            min_delta=decay.min_delta,
            mode=_plateau_mode(decay, mode),
            cooldown=decay.cooldown,
        )
        return departure if departure is not None and departure < epochs else None
    return 0


def plateau_departure(
    values: Sequence[float | None],
    patience: int,
    min_delta: float = 1e-4,
    mode: str = "min",
    cooldown: int = 0,
) -> int | None:
    """The first epoch run at a reduced rate, from a constant run's monitor values.

    Keras' `ReduceLROnPlateau` rule, replayed: an epoch improves when its
    value beats the best so far by more than `min_delta` (compared in
    float32, as Keras does); otherwise the wait grows, and when it reaches
    `patience` the rate is reduced at the end of that epoch, so the next
    epoch is the first to differ. A missing value (`None`) counts for
    nothing, as Keras only warns. `cooldown` only matters after a
    reduction, so not for the first one; it is accepted for completeness.

    Example:

    ```python
    plateau_departure([1.0, 0.9, 0.95, 0.96], patience=2)  # 4
    ```

    Args:
        values: Sequence of float or `None`. The monitored value of each
            epoch from 0.
        patience: Int >= 0. Epochs without improvement before a reduction.
        min_delta: Float >= 0. The smallest change that counts as an
            improvement. Defaults to `1e-4`.
        mode: `"min"` or `"max"`. Defaults to `"min"`.
        cooldown: Int >= 0. Defaults to `0`.

    Returns:
        The epoch after the first reduction, or `None` if there is none.
    """
    reduction = _first_reduction(values, patience, min_delta, mode, cooldown)
    return None if reduction is None else reduction[0] + 1


def _first_reduction(
    values: Sequence[float | None],
    patience: int,
    min_delta: float,
    mode: str,
    cooldown: int,
) -> tuple[int, float] | None:
    """(epoch of the first reduction, best value then), or `None`."""
    best, _, reduction = plateau_state(values, patience, min_delta, mode, cooldown)
    return None if reduction is None else (reduction, best)  # type: ignore[return-value]


def plateau_state(
    values: Sequence[float | None],
    patience: int,
    min_delta: float = 1e-4,
    mode: str = "min",
    cooldown: int = 0,
) -> tuple[float | None, int, int | None]:
    """Keras' plateau rule after `values`, up to its first reduction.

    Returns `(best, wait, reduction)`: the best value and the wait after the
    last value, or at the first reduction (`reduction` its epoch, else
    `None`). `best` is `None` before the first value.
    """
    check_epoch_count("patience", patience, allow_zero=True)
    check_epoch_count("cooldown", cooldown, allow_zero=True)
    check_choice("mode", mode, ("min", "max"))
    # Keras flips the sign of `min_delta` for "min" and compares
    # `value - min_delta` with the best through keras.ops, in floatx.
    signed_delta = -abs(min_delta) if mode == "min" else abs(min_delta)
    best: float | None = None
    wait = 0
    for epoch, value in enumerate(values):
        if value is None:
            continue
        shifted = np.float32(value - signed_delta)
        improved = best is None or (
            shifted < np.float32(best) if mode == "min" else shifted > np.float32(best)
        )
        if improved:
            best = value
            wait = 0
            continue
        wait += 1
        if wait >= patience:
            return best, wait, epoch
    return best, wait, None


def _plateau_mode(decay: PlateauDecay, mode: str | None) -> str:
    if decay.mode in ("min", "max"):
        return str(decay.mode)
    if decay.monitor.removeprefix("val_") == "loss":
        return "min"
    if mode is None:
        raise ValueError(
            f"PlateauDecay(monitor={decay.monitor!r}, mode='auto'): pass `mode` "
            "('min' or 'max'); Keras reads it from the compiled metric."
        )
    return mode


@dataclasses.dataclass
class TrunkState:
    """The trunk at the start of `epoch`: all a branch needs to continue it."""

    epoch: int
    model_variables: list[np.ndarray]
    optimizer_variables: list[np.ndarray]
    python_random: Any
    numpy_random: Any


def restore_state(
    model: Any,
    state: TrunkState,
    mismatch: str = (
        "`build_model` returned a different model for a branch than for "
        "the trunk: {got} variables instead of {expected}."
    ),
) -> None:
    """Put `state` into `model` (built as the trunk's model was).

    Model and optimizer variables (the optimizer is built first if needed),
    then Python's and NumPy's global random states.

    Raises:
        ValueError: `mismatch`, formatted with `got` and `expected`, when
            `model` holds another number of variables than `state`.
    """
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    for variables, values in (
        (model.variables, state.model_variables),
        (optimizer.variables, state.optimizer_variables),
    ):
        if len(variables) != len(values):
            raise ValueError(mismatch.format(got=len(variables), expected=len(values)))
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
    random.setstate(state.python_random)
    np.random.set_state(state.numpy_random)


class _Resume(keras.callbacks.Callback):
    """Gives a branch's decay the state it has in an independent run.

    Listed right after the decay, so it runs after the decay's own
    `on_train_begin`, which resets that state.
    """

    def __init__(self, decay: Any, trunk_lr: float, departure: int) -> None:
        super().__init__()
        self.decay = decay
        self.trunk_lr = trunk_lr
        self.departure = departure
        self.plateau_best: float | None = None
        # The plateau rule's wait: 0 after a reduction; before the first
        # one, the epochs since the best so far.
        self.plateau_wait = 0
        self.decay_event: DecayEvent | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        trunk_rates = [(epoch, self.trunk_lr) for epoch in range(self.departure)]
        if isinstance(self.decay, ScheduledDecay):
            self.decay.lr_history = trunk_rates
        elif isinstance(self.decay, PlateauDecay):
            self.decay.lr_history = trunk_rates
            self.decay.decay_events = (
                [] if self.decay_event is None else [self.decay_event]
            )
            if self.plateau_best is not None:
                self.decay.best = self.plateau_best
            self.decay.wait = self.plateau_wait
            # Keras counts the cooldown down from a reduction only.
            self.decay.cooldown_counter = (
                0 if self.decay_event is None else self.decay.cooldown
            )
