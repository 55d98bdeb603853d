"""Shared prefixes: train the constant-rate start of many decays once, branch each.

A step decay with `epochs_drop=30` trains epochs 0-29 exactly as the
constant-rate control does; a multi-step decay shares everything before its
first milestone; a plateau decay shares everything up to the epoch where the
constant run's own history triggers its first reduction. `train_shared_prefix`
trains that constant-rate *trunk* once, keeps its state at every epoch where a
decay departs from it, and continues each decay from its departure epoch with
`fit(initial_epoch=...)`: the same numbers as independent runs, at a fraction
of their epochs.

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

The independent run a branch equals is `train_independent` with the same
`build_model`, data, seed and batch size.
"""

from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from lrdecay._compat.keras import monitor_direction
from lrdecay._validation import check_choice, check_epoch_count, check_positive_int
from lrdecay.callbacks import (
    DecayEvent,
    PlateauDecay,
    ScheduledDecay,
    StepDecay,
    current_learning_rate,
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


@dataclasses.dataclass
class Branch:
    """One decay's run: its full per-epoch history and what it cost.

    Attributes:
        decay: The callback the run used (a copy of the one given).
        departure: Int or `None`. The first epoch it ran apart from the
            trunk; 0 for a whole independent run, `None` if it never left.
        history: List of dict. Its logs of every epoch from 0: the trunk's
            before `departure`, its own after.
        epochs_trained: Int. Epochs this run trained itself.
    """

    decay: Any
    departure: int | None
    history: list[Logs]
    epochs_trained: int


@dataclasses.dataclass
class SharedPrefixResult:
    """What `train_shared_prefix` trained.

    Attributes:
        branches: List of `Branch`, one per decay, in the order given.
        trunk_history: List of dict. The trunk's per-epoch logs.
        epochs_trained: Int. Trunk and branch epochs actually trained.
        epochs_independent: Int. Epochs independent runs would train.
    """

    branches: list[Branch]
    trunk_history: list[Logs]
    epochs_trained: int
    epochs_independent: int


def train_independent(
    build_model: Callable[[], Any],
    decay: Any,
    x: Any,
    y: Any,
    *,
    validation_data: Any,
    epochs: int,
    seed: int,
    batch_size: int = 32,
    callbacks: Sequence[Any] = (),
) -> list[Logs]:
    """One decay's whole run, the reference a shared-prefix branch equals.

    Seeds Keras, NumPy and Python with `seed`, builds the model, and fits it
    for `epochs` on `EpochOrderedData(x, y, batch_size, seed)`. Returns the
    per-epoch logs.
    """
    spec = _FitSpec(x, y, validation_data, epochs, seed, batch_size, callbacks)
    return _run_whole(build_model, decay, spec)


def train_shared_prefix(
    build_model: Callable[[], Any],
    decays: Sequence[Any],
    x: Any,
    y: Any,
    *,
    validation_data: Any,
    epochs: int,
    seed: int,
    batch_size: int = 32,
    callbacks: Sequence[Any] = (),
) -> SharedPrefixResult:
    """Train the decays' shared constant-rate prefix once, then branch each.

    The trunk is a fit at the rate `build_model` compiles the optimizer
    with; it runs until the last epoch some decay still follows it, and its
    state is kept at each decay's departure epoch (`departure_epoch`). Each
    decay then continues from its own departure on a fresh model with that
    state; decays that depart at 0 run whole; a decay that never departs
    (the constant-rate control) trains nothing of its own: its history is
    the trunk's. Every decay's history equals its `train_independent` run's.

    `build_model` is called after `keras.utils.set_random_seed(seed)` and
    must return a compiled model, the same every time. Each decay is copied
    (`copy.deepcopy`), as KerasTuner does; `callbacks` join every branch's
    fit (not the trunk's), after the decay. The process's Keras, NumPy and
    Python random states are left as the last branch leaves them.

    Example:

    ```python
    result = train_shared_prefix(
        build_model, [StepDecay(epochs_drop=10), PlateauDecay(patience=3)],
        x, y, validation_data=(x_val, y_val), epochs=40, seed=0)
    result.branches[0].history[-1]["val_loss"], result.epochs_trained
    ```

    Args:
        build_model: Callable returning a compiled Keras model.
        decays: Sequence of decay callbacks, one per run.
        x: Array. Training inputs.
        y: Array. Training targets.
        validation_data: `(x_val, y_val)`, as for `fit`.
        epochs: Int. The epochs of every run.
        seed: Int. Seeds the model and every epoch's data order.
        batch_size: Int. Defaults to `32`.
        callbacks: Sequence of callbacks added to every branch's fit.

    Returns:
        A `SharedPrefixResult`.
    """
    check_epoch_count("epochs", epochs, allow_zero=False)
    check_positive_int("batch_size", batch_size)
    spec = _FitSpec(x, y, validation_data, epochs, seed, batch_size, callbacks)
    decays = [copy.deepcopy(decay) for decay in decays]
    trunk = _train_trunk(build_model, decays, spec)
    branches = []
    for decay, mode in zip(decays, trunk.modes, strict=True):
        departure = departure_epoch(decay, epochs, trunk.lr, trunk.history, mode)
        if departure is None:
            history = trunk.history[:epochs]
        elif departure == 0:
            history = _run_whole(build_model, decay, spec)
        else:
            history = _branch(build_model, decay, mode, trunk, departure, spec)
        trained = 0 if departure is None else epochs - departure
        branches.append(Branch(decay, departure, history, trained))
    return SharedPrefixResult(
        branches=branches,
        trunk_history=trunk.history,
        epochs_trained=len(trunk.history)
        + sum(branch.epochs_trained for branch in branches),
        epochs_independent=epochs * len(decays),
    )


@dataclasses.dataclass(frozen=True)
class _FitSpec:
    """What every fit of one grid shares."""

    x: Any
    y: Any
    validation_data: Any
    epochs: int
    seed: int
    batch_size: int
    callbacks: Sequence[Any]

    def fit(self, model: Any, initial_epoch: int, callbacks: list[Any]) -> None:
        from lrdecay.tuning.data.epoch_order import EpochOrderedData

        data = EpochOrderedData(
            self.x, self.y, self.batch_size, self.seed, initial_epoch
        )
        model.fit(
            data,
            steps_per_epoch=data.steps_per_epoch,
            validation_data=self.validation_data,
            initial_epoch=initial_epoch,
            epochs=self.epochs,
            callbacks=callbacks,
            verbose=0,
            shuffle=False,  # the order is the data's own
        )


def _run_whole(
    build_model: Callable[[], Any], decay: Any, spec: _FitSpec
) -> list[Logs]:
    keras.utils.set_random_seed(spec.seed)
    model = build_model()
    recorder = _Recorder()
    spec.fit(model, 0, [decay, *spec.callbacks, recorder])
    return recorder.history


def _train_trunk(
    build_model: Callable[[], Any], decays: list[Any], spec: _FitSpec
) -> _Trunk:
    """The constant-rate run, as long as some decay follows it."""
    keras.utils.set_random_seed(spec.seed)
    model = build_model()
    lr = current_learning_rate(model.optimizer)
    modes = [
        monitor_direction(decay, model) if isinstance(decay, PlateauDecay) else None
        for decay in decays
    ]
    trunk = _Trunk(decays, modes, spec.epochs, lr)
    if trunk.length() > 0:
        constant = StepDecay(initial_lr=lr, drop=1.0, epochs_drop=1)
        spec.fit(model, 0, [constant, trunk])
    return trunk


def _branch(
    build_model: Callable[[], Any],
    decay: Any,
    mode: str | None,
    trunk: _Trunk,
    departure: int,
    spec: _FitSpec,
) -> list[Logs]:
    """Continue `decay` from the trunk's state at `departure`."""
    keras.utils.set_random_seed(spec.seed)
    model = build_model()
    restore_state(model, trunk.snapshots[departure])
    resume = _Resume(decay, trunk.lr, departure)
    if isinstance(decay, PlateauDecay):
        reduction = _first_reduction(
            [logs.get(decay.monitor) for logs in trunk.history[:departure]],
            decay.patience,
            decay.min_delta,
            _plateau_mode(decay, mode),
            decay.cooldown,
        )
        assert reduction is not None and reduction[0] == departure - 1
        # As Keras' ReduceLROnPlateau does at the end of the reduction epoch.
        model.optimizer.learning_rate = max(trunk.lr * decay.factor, decay.min_lr)
        resume.plateau_best = reduction[1]
        resume.decay_event = DecayEvent(
            departure - 1,
            trunk.lr,
            current_learning_rate(model.optimizer),
            float(trunk.history[departure - 1].get(decay.monitor, np.nan)),
        )
    recorder = _Recorder()
    spec.fit(model, departure, [decay, resume, *spec.callbacks, recorder])
    return trunk.history[:departure] + recorder.history


def _capture(model: Any, epoch: int) -> TrunkState:
    return TrunkState(
        epoch=epoch,
        model_variables=[np.array(v.numpy(), copy=True) for v in model.variables],
        optimizer_variables=[
            np.array(v.numpy(), copy=True) for v in model.optimizer.variables
        ],
        python_random=random.getstate(),
        numpy_random=np.random.get_state(),
    )


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


def _floats(logs: dict[str, Any] | None) -> Logs:
    return {key: float(value) for key, value in (logs or {}).items()}


class _Recorder(keras.callbacks.Callback):
    """Keeps every epoch's logs, as the callbacks before it left them."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[Logs] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.history.append(_floats(logs))


class _Trunk(_Recorder):
    """The constant-rate run: snapshots at departures, stops after the last."""

    def __init__(
        self, decays: list[Any], modes: list[str | None], epochs: int, lr: float
    ) -> None:
        super().__init__()
        self.decays = decays
        self.modes = modes
        self.epochs = epochs
        self.lr = float(np.float32(lr))
        self.snapshots: dict[int, TrunkState] = {}

    def length(self) -> int:
        """Epochs the trunk must run, given the history so far."""
        length = 0
        for decay, mode in zip(self.decays, self.modes, strict=True):
            departure = departure_epoch(decay, self.epochs, self.lr, self.history, mode)
            if departure is None:
                # Never left the trunk, or a plateau rule not triggered yet.
                length = self.epochs
            length = max(length, departure or 0)
        return length

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        done = epoch + 1
        departures = {
            departure_epoch(decay, self.epochs, self.lr, self.history, mode)
            for decay, mode in zip(self.decays, self.modes, strict=True)
        }
        if done in departures and done < self.epochs:
            self.snapshots[done] = _capture(self.model, done)
        if self.length() <= done:
            self.model.stop_training = True


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
