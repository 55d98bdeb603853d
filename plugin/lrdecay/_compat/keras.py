"""Internals of keras that lrdecay relies on, each in one place.

Every item says what it relies on and the versions it was verified with.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import threading
from collections.abc import Callable, Iterator
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
    fit_locals = _fit_locals(model, sys._getframe(1))
    if fit_locals is None:
        return None
    iterator = fit_locals.get("epoch_iterator")
    adapter = getattr(iterator, "data_adapter", None)
    size = getattr(adapter, "batch_size", None)
    if size is None:
        size = fit_locals.get("batch_size")
    return int(size) if isinstance(size, int) else None


def _fit_locals(model: Any, frame: Any) -> dict[str, Any] | None:
    """The locals of the `model.fit` call that `frame` runs inside, or `None`."""
    for _ in range(40):
        if frame is None:
            return None
        if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
            return dict(frame.f_locals)
        frame = frame.f_back
    return None


# ---------------------------------------------------------------------------
# Used by lrdecay.tracking: knowing at once that a fit raised.

# The `CallbackList` hooks fit calls outside the batch loop (validation
# calls the test hooks).
_WATCHED_HOOKS = ("on_epoch_begin", "on_epoch_end", "on_test_begin", "on_test_end")


class FitWatch:
    """Calls `on_error(error)` as an error leaves the parts of `fit` it watches.

    Keras 3 has no hook for a `fit` that raises: `on_train_end` is not
    called and, with the TensorFlow backend, `fit` has no `try` around its
    epoch loop. From a callback hook (`on_train_begin`), this wraps, on
    objects that belong to the running `fit` only (attributes set on the
    instances, never on a class):

    - the epoch iterator's `catch_stop_iteration()`, the context manager
      around each epoch's batch loop: an error in a training step or a batch
      hook, or a `KeyboardInterrupt` while the step runs, passes through it;
    - the fit's `CallbackList` hooks `on_epoch_begin`, `on_epoch_end`,
      `on_test_begin` and `on_test_end`: an error in any callback's epoch
      hook (and asynchronous batch hooks, whose errors surface in
      `on_epoch_end`);
    - the validation iterator's `catch_stop_iteration()` (wrapped in
      `on_test_begin`): an error in a validation step.

    Nothing in `fit` catches an error there, so `on_error` is only called
    for an error that `fit` then raises. Not seen (the caller needs another
    way to end its run): an error raised in another callback's
    `on_train_begin` after the one that started the watch, in the code of
    `fit` between these parts (resetting the metrics, reading the epoch's
    metrics, building the validation iterator before `on_test_begin`,
    finalizing the optimizer's variables after the last epoch), in an
    `on_train_end`, and a `KeyboardInterrupt` that lands there; with the
    torch backend (and JAX in keras 3.5.0; 3.15.1 has it), whose batch loop
    has no `catch_stop_iteration()`, an error in a training step or batch
    hook.

    `stop()` removes every wrapper (also called once `on_error` has run).
    The wrapped objects are local to the `fit` call, except a
    `CallbackList` passed to `fit` by the caller: `stop()` restores it.
    """

    # Relies on the backend trainers' `fit(self, ...)` holding the locals
    # `callbacks` (the `CallbackList`) and `epoch_iterator` (whose
    # `catch_stop_iteration()` wraps each epoch's batch loop), and on
    # `evaluate` during fit using `model._eval_epoch_iterator` the same way
    # after calling `callbacks.on_test_begin()`; verified keras 3.15.1
    # (tensorflow, jax) and 3.5.0 (tensorflow; jax's batch loop has no
    # `catch_stop_iteration()` there).

    def __init__(self, model: Any, on_error: Callable[[BaseException], None]) -> None:
        self._model = model
        self._on_error = on_error
        self._lock = threading.Lock()
        self._reported = False
        self._wrapped: list[tuple[Any, str, Any]] = []  # (object, name, wrapper)
        fit_locals = _fit_locals(model, sys._getframe(1))
        if fit_locals is None:
            return
        self._wrap_iterator(fit_locals.get("epoch_iterator"))
        callback_list = fit_locals.get("callbacks")
        for name in _WATCHED_HOOKS:
            if callable(getattr(callback_list, name, None)):
                self._wrap_hook(callback_list, name)

    @property
    def watching(self) -> bool:
        """Whether any part of the fit is watched (the fit could be found)."""
        return bool(self._wrapped)

    def stop(self) -> None:
        """Remove the wrappers; idempotent."""
        with self._lock:
            wrapped, self._wrapped = self._wrapped, []
        for owner, name, wrapper in wrapped:
            if vars(owner).get(name) is wrapper:
                del vars(owner)[name]

    def _report(self, error: BaseException) -> None:
        with self._lock:
            if self._reported:
                return
            self._reported = True
        self.stop()
        self._on_error(error)

    def _wrap_iterator(self, iterator: Any) -> None:
        original = getattr(iterator, "catch_stop_iteration", None)
        if original is None or "catch_stop_iteration" in vars(iterator):
            return

        @contextlib.contextmanager
        def catch_stop_iteration() -> Iterator[None]:
            try:
                with original():
                    yield
            except BaseException as error:
                self._report(error)
                raise

        self._install(iterator, "catch_stop_iteration", catch_stop_iteration)

    def _wrap_hook(self, callback_list: Any, name: str) -> None:
        original = getattr(callback_list, name)

        def hook(*args: Any, **kwargs: Any) -> Any:
            if name == "on_test_begin":
                # `evaluate` inside `fit` iterates this cached iterator.
                self._wrap_iterator(getattr(self._model, "_eval_epoch_iterator", None))
            try:
                return original(*args, **kwargs)
            except BaseException as error:
                self._report(error)
                raise

        self._install(callback_list, name, hook)

    def _install(self, owner: Any, name: str, wrapper: Any) -> None:
        with self._lock:
            if self._reported:
                return
            setattr(owner, name, wrapper)
            self._wrapped.append((owner, name, wrapper))


# ---------------------------------------------------------------------------
# Used by lrdecay.tuning.prefixes.prefix.


def monitor_direction(callback: Any, model: Any) -> str:
    """`"min"` or `"max"`: how a `ReduceLROnPlateau` judges its monitor.

    Resolves `mode="auto"` exactly as the callback will (the metric's own
    direction, e.g. up for accuracy), on a copy, so `callback` is untouched.
    """
    probe = copy.copy(callback)
    probe.monitor_op = None
    # Not `set_model`: lrdecay's decays start a new fit registry there.
    keras.callbacks.Callback.set_model(probe, model)
    if hasattr(probe, "_set_monitor_op"):
        # Relies on MonitorCallback._set_monitor_op() setting `monitor_op` to
        # keras.ops.less or keras.ops.greater from mode, the monitor's name and
        # the compiled metrics' `_direction` (and flipping `min_delta` on the
        # copy); verified keras 3.15.1 (since 3.6).
        probe._set_monitor_op()
        return "min" if probe.monitor_op is keras.ops.less else "max"
    # Keras 3.5's ReduceLROnPlateau._reset(): "min", or "auto" with no "acc"
    # in the monitor's name, is min; anything else max. Verified keras 3.5.0.
    if probe.mode == "min" or (probe.mode == "auto" and "acc" not in probe.monitor):
        return "min"
    return "max"


# ---------------------------------------------------------------------------
# Used by lrdecay.tuning.pipeline.model_reuse.


def compile_arguments(model: Any) -> dict[str, Any] | None:
    """The arguments `model.compile` was called with, as given, or `None`.

    `get_compile_config()` serializes them: a function loss becomes its
    name, so two closures of one name read the same. The objects themselves
    tell them apart.
    """
    # Relies on Trainer.compile() keeping its arguments in
    # `_compile_config`, a SerializableDict whose `config` is the dict of
    # them (optimizer, loss, loss_weights, metrics, weighted_metrics,
    # run_eagerly, steps_per_execution, jit_compile); verified keras 3.15.1
    # and 3.5.0.
    config = getattr(getattr(model, "_compile_config", None), "config", None)
    return dict(config) if isinstance(config, dict) else None


def all_layers(model: Any) -> list[Any]:
    """Every layer `model` holds, nested ones and wrapped ones, not itself."""
    # Relies on Layer._flatten_layers(include_self, recursive) walking the
    # tracked sublayers (a wrapper's inner layer, a nested model's layers);
    # verified keras 3.15.1 and 3.5.0.
    return list(model._flatten_layers(include_self=False, recursive=True))
