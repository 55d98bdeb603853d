"""What the decay callbacks of one fit share: a registry, the optimizer's rate.

The tracking callback reads `decays_in_fit(model)` to log the settings of the
decays in the same fit, without the user passing them twice. A decay built
without `initial_lr` starts from `starting_learning_rate(optimizer)`.
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np

from lrdecay._compat.keras import learning_rate_schedule

# The lrdecay decay callbacks taking part in each model's current fit, so the
# tracking callback can log their settings. Keras calls `set_model` on every
# callback of a fit before it calls any `on_train_begin`, so a `set_model`
# starts a new, empty list and `on_train_begin` fills it.
_DECAYS_IN_FIT: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()

# The rate each optimizer had when a decay first read it, as PyTorch keeps an
# optimizer's `initial_lr` in its param groups: a second fit continuing the
# first (`initial_epoch=10`) starts the schedule from the same rate, not from
# the rate the first fit decayed it to.
_STARTING_RATES: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def start_fit_registry(model: Any) -> None:
    """Forget the decays of `model`'s previous fit; called from `set_model`."""
    _DECAYS_IN_FIT[model] = []


def decays_in_fit(model: Any) -> list[Any]:
    """The lrdecay decay callbacks in `model`'s current (or last) fit.

    Complete once every callback's `on_train_begin` has run.
    """
    return list(_DECAYS_IN_FIT.get(model, ()))


def join_fit(callback: Any) -> None:
    """Register `callback` as a decay of its model's current fit."""
    _DECAYS_IN_FIT.setdefault(callback.model, []).append(callback)


def current_learning_rate(optimizer: Any) -> float:
    """The optimizer's learning rate now, as a Python float."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def starting_learning_rate(optimizer: Any) -> float:
    """The rate a decay without `initial_lr` starts from.

    The optimizer's rate when an lrdecay decay first read it (PyTorch's
    convention: its schedulers keep the optimizer's first rate as
    `initial_lr`), written as the user wrote it: the float32 `0.001` reads
    back as `0.001`, not `0.0010000000474974513`. Compile the model again
    (a new optimizer) to start a decay from another rate.
    """
    rate = _STARTING_RATES.get(optimizer)
    if rate is None:
        held = current_learning_rate(optimizer)
        rate = float(str(np.float32(held)))
        _STARTING_RATES[optimizer] = rate
    return rate


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
