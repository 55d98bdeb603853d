"""Internals of keras that lrdecay relies on, each in one place.

Every item says what it relies on and the versions it was verified with.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import keras

# ---------------------------------------------------------------------------
# Used by lrdecay.callbacks and lrdecay.tracking.


def learning_rate_schedule(optimizer: Any) -> Any | None:
    """The `LearningRateSchedule` `optimizer` was built with, or `None`.

    The public `optimizer.learning_rate` evaluates the schedule at the current
    step; neither it nor `get_config()` (a serialized copy) gives the object.
    """
    # Relies on BaseOptimizer keeping its rate (variable or schedule) in
    # `_learning_rate`; verified keras 3.15.1 (same attribute since 3.0).
    rate = getattr(optimizer, "_learning_rate", None)
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return rate
    return None


def fit_batch_size(model: Any) -> int | None:
    """The batch size of the `fit` now running on `model`, if it can be seen.

    Keras 3 does not pass the batch size to callbacks (`params` has `epochs`,
    `steps` and `verbose` only); call this from a callback hook.
    """
    # Relies on the backend trainers' `fit(self, ...)` holding a local
    # `epoch_iterator` whose `data_adapter.batch_size` is the batch size, else
    # the `batch_size` argument; verified keras 3.15.1 (tensorflow, jax).
    frame: Any = sys._getframe(1)
    for _ in range(40):
        if frame is None:
            return None
        if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
            iterator = frame.f_locals.get("epoch_iterator")
            adapter = getattr(iterator, "data_adapter", None)
            size = getattr(adapter, "batch_size", None)
            if size is None:
                size = frame.f_locals.get("batch_size")
            return int(size) if isinstance(size, int) else None
        frame = frame.f_back
    return None


# ---------------------------------------------------------------------------
# Used by lrdecay.tuning.prefix.


def monitor_direction(callback: Any, model: Any) -> str:
    """`"min"` or `"max"`: how a `ReduceLROnPlateau` judges its monitor.

    Resolves `mode="auto"` exactly as the callback will (the metric's own
    direction, e.g. up for accuracy), on a copy, so `callback` is untouched.
    """
    probe = copy.copy(callback)
    probe.monitor_op = None
    # Not `set_model`: lrdecay's decays start a new fit registry there.
    keras.callbacks.Callback.set_model(probe, model)
    # Relies on MonitorCallback._set_monitor_op() setting `monitor_op` to
    # keras.ops.less or keras.ops.greater from mode, the monitor's name and
    # the compiled metrics' `_direction` (and flipping `min_delta` on the
    # copy); verified keras 3.15.1 (since 3.6).
    probe._set_monitor_op()
    return "min" if probe.monitor_op is keras.ops.less else "max"
