"""A trainer of shared prefixes outside `search()`: the reference for tests.

`train_shared_prefix` trains the constant-rate *trunk* of many decays once,
keeps its state at every epoch where a decay departs from it
(`lrdecay.tuning.prefixes.prefix.departure_epoch`), and continues each decay
from its departure epoch with `fit(initial_epoch=...)`; `train_independent`
is the independent run a branch equals (the same `build_model`, data, seed
and batch size). `search()` branches its trials through
`lrdecay.tuning.prefixes.branch` instead; this trainer checks the departure
rules and the exactness of a branch (tests/test_prefix.py) and measures them
(benchmarks/bench_prefix.py, which imports it from here).
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
from lrdecay._validation import check_epoch_count, check_positive_int
from lrdecay.callbacks import (
    DecayEvent,
    PlateauDecay,
    StepDecay,
    current_learning_rate,
)
from lrdecay.tuning.prefixes.prefix import (
    Logs,
    TrunkState,
    _first_reduction,
    _plateau_mode,
    _Resume,
    departure_epoch,
    restore_state,
)


@dataclasses.dataclass
class TrainedBranch:
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
        branches: List of `TrainedBranch`, one per decay, in the order given.
        trunk_history: List of dict. The trunk's per-epoch logs.
        epochs_trained: Int. Trunk and branch epochs actually trained.
        epochs_independent: Int. Epochs independent runs would train.
    """

    branches: list[TrainedBranch]
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
        branches.append(TrainedBranch(decay, departure, history, trained))
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
