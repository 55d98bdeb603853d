"""How a trial of `search()` continues its trunk instead of training it again.

`DecayHyperModel.fit` applies one rule to every trial when prefixes are
shared (`search(share_prefix=True)`): the decay departs from its constant-rate
trunk at epoch D (`lrdecay.tuning.prefix.departure_epoch`, against the trunk
history stored so far; a plateau rule not triggered yet departs at D >= the
history's length). The fit starts at S = the largest stored trunk epoch
<= min(D, epochs): the stored state of epoch S goes into the model KerasTuner
built (right after seeding, as the trunk's was), the decay gets the state it
has in an independent run at S (`prefix._Resume`), and the fit runs from
`initial_epoch=S`. While it still follows the trunk (before D) a
`trunks.TrunkWriter`, listed before the decay, stores every new trunk epoch.
So the constant-rate control (which never departs) writes the trunk; a decay
whose trunk is missing extends it itself; a trunk cut short resumes where it
stopped. `Branch.full_history` gives KerasTuner the whole run from epoch 0,
so the trial's objective is its independent run's.

The best-epoch checkpoint: when a branch's best epoch lies in the shared
prefix, KerasTuner's `SaveBestEpoch` never sees it. `start_branch` replays
its rule over the prefix and, if the prefix holds a better epoch, writes
that epoch's weights to the checkpoint and sets its `best_value`: the file
an independent run would have written.

Exact only when every fit is seeded and the training data are arrays: the
data order of each epoch is then a function of (seed, epoch)
(`OrderedData`, `lrdecay.tuning.epoch_order.EpochOrderedData`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from lrdecay._compat.keras import monitor_direction
from lrdecay.callbacks import DecayEvent, PlateauDecay, current_learning_rate
from lrdecay.tuning import trunks
from lrdecay.tuning.epoch_order import EpochOrderedData
from lrdecay.tuning.prefix import _plateau_mode, _Resume, departure_epoch, plateau_state

Logs = dict[str, float]
_DEFAULT_BATCH_SIZE = 32  # Keras' own, when `batch_size=None`
_DIGEST_VALUES = 1 << 16
# `fit` arguments an `EpochOrderedData` cannot carry: the fit runs as given.
_UNORDERED = ("sample_weight", "class_weight", "steps_per_epoch")


@dataclasses.dataclass(frozen=True)
class OrderedData:
    """Array training data a seeded fit reads in the order of (seed, epoch)."""

    x: np.ndarray
    y: np.ndarray
    validation_data: Any
    batch_size: int
    seed: int

    def shapes(self) -> list[Any]:
        """What identifies the data in a trunk's key: shapes and a digest.

        The digest reads at most `_DIGEST_VALUES` values of each array, evenly
        spaced (all of them for data up to that size): other data of the same
        shapes get another trunk, at the cost of microseconds per trial.
        """
        shapes: list[Any] = []
        for part in (self.x, self.y, *(self.validation_data or ())):
            array = np.asarray(part)
            if array.dtype == object:  # e.g. a dataset as validation data
                shapes.append([list(array.shape), "object"])
                continue
            flat = array.reshape(-1)
            step = max(1, flat.size // _DIGEST_VALUES)
            digest = hashlib.sha1(np.ascontiguousarray(flat[::step]).tobytes())
            shapes.append([list(array.shape), str(array.dtype), digest.hexdigest()])
        return shapes

    def fit_arguments(
        self, kwargs: Mapping[str, Any], initial_epoch: int
    ) -> dict[str, Any]:
        """`kwargs` for `model.fit` reading this data from `initial_epoch`."""
        arguments = {
            key: value
            for key, value in kwargs.items()
            if key not in ("x", "y", "batch_size", "shuffle", "validation_split")
        }
        data = EpochOrderedData(
            self.x, self.y, self.batch_size, self.seed, initial_epoch
        )
        arguments.update(
            x=data,
            steps_per_epoch=data.steps_per_epoch,
            initial_epoch=initial_epoch,
            shuffle=False,  # the order is the data's own
        )
        if self.validation_data is not None:
            arguments["validation_data"] = self.validation_data
        return arguments


def ordered_data(
    args: Sequence[Any], kwargs: Mapping[str, Any], seed: int
) -> OrderedData | None:
    """`fit(*args, **kwargs)`'s training data as `OrderedData`, if arrays.

    Arrays are NumPy arrays and array-likes with a length (pandas, tensors);
    not dicts, lists or tuples of them, and not datasets or generators.
    `validation_split` is applied as Keras does (the last fraction of the
    samples, before any shuffling). `None` when the data are anything else,
    or the fit has `sample_weight`, `class_weight` or `steps_per_epoch`.
    """
    if len(args) > 2 or any(kwargs.get(name) is not None for name in _UNORDERED):
        return None
    x = args[0] if args else kwargs.get("x")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    x_array, y_array = _array(x), _array(y)
    if x_array is None or y_array is None or len(x_array) != len(y_array):
        return None
    validation_data = kwargs.get("validation_data")
    split = kwargs.get("validation_split")
    if validation_data is None and split:
        # keras.src.trainers.data_adapters.array_slicing.train_validation_split
        split_at = math.floor(len(x_array) * (1.0 - float(split)))
        if split_at in (0, len(x_array)):
            return None  # Keras raises its own error for this
        validation_data = (x_array[split_at:], y_array[split_at:])
        x_array, y_array = x_array[:split_at], y_array[:split_at]
    batch_size = kwargs.get("batch_size") or _DEFAULT_BATCH_SIZE
    return OrderedData(x_array, y_array, validation_data, int(batch_size), seed)


def _array(value: Any) -> np.ndarray | None:
    if value is None or isinstance(value, (dict, list, tuple, str)):
        return None
    if not (hasattr(value, "__array__") and hasattr(value, "__len__")):
        return None
    array = np.asarray(value)
    if array.dtype == object or array.ndim == 0 or len(array) == 0:
        return None
    return array


@dataclasses.dataclass
class Branch:
    """One fit's place on its trunk (see the module docstring).

    Attributes:
        start: Int. S, the fit's `initial_epoch`; 0: it trains from scratch.
        prefix: List of dict. The trunk's logs of epochs `0 .. start - 1`.
        writer: The `TrunkWriter` to list before the decay, or `None`.
        resume: The `_Resume` to list right after the decay, or `None`.
        branch_of: String or `None`. The trial that trained epoch `start - 1`
            of the trunk, else the trunk's key; `None` when `start` is 0.
    """

    start: int
    prefix: list[Logs]
    writer: trunks.TrunkWriter | None
    resume: _Resume | None
    branch_of: str | None

    def full_history(self, fitted: Any) -> Any:
        """`fit`'s `History`, with the prefix's epochs put in front."""
        if not self.prefix:
            return fitted
        own = dict(fitted.history)
        keys = list(own) or list(self.prefix[0])
        own_epochs = len(fitted.epoch)
        fitted.history = {
            key: [logs.get(key, math.nan) for logs in self.prefix]
            + list(own.get(key, [math.nan] * own_epochs))
            for key in keys
        }
        fitted.epoch = list(range(self.start)) + list(fitted.epoch)
        return fitted


def start_branch(
    *,
    model: Any,
    decay: Any,
    trunk_lr: float,
    epochs: int,
    directory: str,
    trial_id: str | None,
    checkpoint: Any | None,
) -> Branch:
    """Put the stored trunk's state at S into `model`; say how the fit goes on.

    Args:
        model: The trial's model, built right after seeding the execution.
        decay: The trial's decay callback (its `on_train_begin` not run yet).
        trunk_lr: Float. The trunk's constant rate (the decay's initial rate).
        epochs: Int. The fit's epochs.
        directory: String. The trunk's folder (`trunks.TrunkStore`).
        trial_id: String or `None`. Recorded in the trunk files it writes.
        checkpoint: KerasTuner's `SaveBestEpoch` of the trial, or `None`.
    """
    store = trunks.TrunkStore(directory)
    stored = store.length()
    history = store.history(stored)
    mode = monitor_direction(decay, model) if isinstance(decay, PlateauDecay) else None

    def departure(known: Sequence[Logs]) -> int | None:
        return departure_epoch(decay, epochs, trunk_lr, known, mode)

    departs = departure(history)
    start = min(stored, epochs, stored if departs is None else departs)
    prefix = history[:start]
    writer = None
    if departs is None or departs > start:
        writer = trunks.TrunkWriter(store, list(prefix), departure, trunk_lr, trial_id)
    if start == 0:
        return Branch(0, [], writer, None, None)
    if checkpoint is not None:
        _seed_checkpoint(model, checkpoint, store, prefix)
    trunks.restore(model, store.load(start))
    resume = _resume(model, decay, trunk_lr, prefix, mode)
    branch_of = store.writer(start) or os.path.basename(directory)
    return Branch(start, prefix, writer, resume, branch_of)


def _resume(
    model: Any,
    decay: Any,
    trunk_lr: float,
    prefix: list[Logs],
    mode: str | None,
) -> _Resume:
    """The decay's state at the branch point, as an independent run has it."""
    rate = float(np.float32(trunk_lr))
    resume = _Resume(decay, rate, len(prefix))
    if not isinstance(decay, PlateauDecay):
        return resume
    best, wait, reduction = plateau_state(
        [logs.get(decay.monitor) for logs in prefix],
        decay.patience,
        decay.min_delta,
        _plateau_mode(decay, mode),
        decay.cooldown,
    )
    resume.plateau_best = best
    resume.plateau_wait = wait
    if reduction is not None:
        # The rule reduced at the end of the prefix's last epoch (the
        # stored state is from before it), as Keras' ReduceLROnPlateau does.
        model.optimizer.learning_rate = max(rate * decay.factor, decay.min_lr)
        resume.plateau_wait = 0
        resume.decay_event = DecayEvent(
            reduction,
            rate,
            current_learning_rate(model.optimizer),
            float(prefix[reduction].get(decay.monitor, math.nan)),
        )
    return resume


def _seed_checkpoint(
    model: Any, checkpoint: Any, store: trunks.TrunkStore, prefix: list[Logs]
) -> None:
    """Write the prefix's best epoch to the checkpoint, as the fit would have.

    Replays KerasTuner's `SaveBestEpoch` rule (see
    `_compat.keras_tuner.find_best_epoch_checkpoint`) over the prefix from
    the callback's current best (earlier executions of the trial count).
    """
    objective = checkpoint.objective
    best_value = checkpoint.best_value
    saved = None
    for epoch, logs in enumerate(prefix):
        if not objective.has_value(logs):
            saved = epoch
            continue
        value = objective.get_value(logs)
        if objective.better_than(value, best_value):
            best_value, saved = value, epoch
    if saved is None:
        return
    checkpoint.best_value = best_value
    # The end of epoch `saved` is the start of epoch `saved + 1`.
    trunks.restore(model, store.load(saved + 1))
    os.makedirs(os.path.dirname(os.path.abspath(checkpoint.filepath)), exist_ok=True)
    model.save_weights(checkpoint.filepath)


def decay_hyperparameter_names(declare: Callable[[Any], None]) -> set[str]:
    """The names a decay space declares (`declare(hp)`), to leave out of keys."""
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    declare(hp)
    return {parameter.name for parameter in hp.space}
