"""How a trial of `search()` continues its trunk instead of training it again.

`DecayHyperModel.fit` applies one rule to every trial when prefixes are
shared (`search(share_prefix=True)`): the decay departs from its constant-rate
trunk at epoch D (`lrdecay.tuning.prefixes.prefix.departure_epoch`, against the trunk
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

Exact only when every fit is seeded and its data are exact: arrays, or
what `search()` read once (`lrdecay.tuning.data.inputs`); the data of each epoch
are then a function of (seed, epoch) (`OrderedData`,
`lrdecay.tuning.data.epoch_order.EpochOrderedData`) or a recorded stream.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lrdecay._compat.keras import monitor_direction
from lrdecay.callbacks import DecayEvent, PlateauDecay, current_learning_rate
from lrdecay.tuning.data.inputs import OrderedData, ordered_arrays
from lrdecay.tuning.prefixes import trunk_lock, trunks
from lrdecay.tuning.prefixes.prefix import (
    _plateau_mode,
    _Resume,
    departure_epoch,
    plateau_state,
)

Logs = dict[str, float]
__all__ = ["Branch", "OrderedData", "ordered_data", "start_branch"]


# Array data as `OrderedData` (kept here for the callers that import it).
ordered_data = ordered_arrays


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
    mode = monitor_direction(decay, model) if isinstance(decay, PlateauDecay) else None

    def departure(known: Sequence[Logs]) -> int | None:
        return departure_epoch(decay, epochs, trunk_lr, known, mode)

    stored: int = 0
    history: list[Logs] = []

    def stored_enough() -> bool:
        # What this fit needs of the trunk: up to its departure, or all of
        # its epochs while it is not known to depart.
        nonlocal stored, history
        stored = store.length()
        history = store.history(stored)
        departs = departure(history)
        return stored >= min(epochs, epochs if departs is None else departs)

    # Another process training this trunk now: its epochs, not ours again.
    trunk_lock.wait_for_trunk(directory, stored_enough)
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
