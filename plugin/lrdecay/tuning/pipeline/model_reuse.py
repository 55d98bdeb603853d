"""A trial trains the compiled model of an earlier one, when it built the same.

Keras traces a model's train and test steps (`tf.function`) in its first
`fit`: ~0.3 s of CPU for the digits model, as long as two of its epochs, paid
again by every trial, because KerasTuner builds a new model for each. The
trials of a decay search build the same model (only the decay differs), so
`ModelReuse.take(built, hyperparameters)` gives the trial the model this
process's previous trial trained, with every variable of `built` copied in:
its seeded weights, its layers' seed-generator states, and its optimizer's
variables as Keras builds them before the first step (iteration 0, slots at
their start, the rate). Keras resets the compiled metrics every epoch and
`stop_training` every fit, so the fit gives the numbers `built` would have
given, bit for bit, without tracing again (`tests/test_model_reuse.py`).

Only where that is certain; otherwise the trial trains `built`, as before:

- the TensorFlow backend (JAX compiles per model too: not done yet; torch
  does not trace);
- a `keras.Sequential` or functional `keras.Model`, every layer one of
  Keras' own except `Lambda` and the wrappers of other frameworks' code, so
  no user code runs inside the traced step, and every random draw comes
  from a seed generator among the model's variables (a custom layer's
  `tf.random` op keeps its own state in the trace);
- the same model config (layer names included: KerasTuner clears the
  session before each build, so they repeat), the same compile arguments,
  the same optimizer class and config (the rate is a variable, copied), the
  same variables (shapes, dtypes, trainable), the same values of the user's
  own hyperparameters; a function that is not Keras' (a custom activation,
  loss or metric) must be the same object, not a look-alike closure;
- an optimizer of its own (`built.optimizer` is not the earlier model's).

What a user sees: the `model` that callbacks get in `set_model` is the
earlier trial's object with this trial's state, so a callback that keeps
the model objects of several trials (rather than their weights) holds one
object. Memory: one more model per search process.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from typing import Any

import keras

from lrdecay._compat import keras as keras_compat

# Keras' own layers that run code given by the user or another framework.
_FOREIGN_LAYERS = frozenset({"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer"})


class ModelReuse:
    """The model of this process's last trial, for the next trial that builds it."""

    def __init__(self) -> None:
        self._model: Any | None = None
        self._signature: Any | None = None

    def take(self, built: Any, hyperparameters: Mapping[str, Any]) -> Any:
        """The model to train: the kept one with `built`'s state, else `built`.

        Args:
            built: The model KerasTuner built for this trial (seeded).
            hyperparameters: Dict. The user's own hyperparameters' values
                (not the decay's).
        """
        signature = _signature(built, hyperparameters)
        if signature is None:
            return built
        kept = self._model
        if (
            kept is not None
            and kept is not built
            and signature == self._signature
            and kept.optimizer is not built.optimizer
            and _copy_state(built, kept)
        ):
            return kept
        self._model, self._signature = built, signature
        return built


def _signature(model: Any, hyperparameters: Mapping[str, Any]) -> Any | None:
    """What must match for one model to stand in for another; `None`: never."""
    if keras.backend.backend() != "tensorflow":
        return None
    if not _keras_own(model, "keras.src.models."):
        return None
    layers = keras_compat.all_layers(model)
    for layer in layers:
        if not _keras_own(layer, "keras.src.") or type(layer).__name__ in (
            _FOREIGN_LAYERS
        ):
            return None
    arguments = keras_compat.compile_arguments(model)
    optimizer = getattr(model, "optimizer", None)
    if arguments is None or optimizer is None or model.run_eagerly:
        return None
    if not _keras_own(optimizer, "keras.src.optimizers."):
        return None
    try:
        config = json.dumps(model.get_config(), sort_keys=True, default=repr)
        optimizer_config = dict(optimizer.get_config())
    except Exception:
        return None
    optimizer_config.pop("learning_rate", None)
    arguments.pop("optimizer", None)
    return (
        type(model),
        config,
        tuple(_functions(layer) for layer in layers),
        _describe(arguments),
        type(optimizer),
        json.dumps(optimizer_config, sort_keys=True, default=repr),
        tuple((tuple(v.shape), str(v.dtype), v.trainable) for v in model.variables),
        json.dumps(dict(hyperparameters), sort_keys=True, default=repr),
    )


def _keras_own(value: Any, prefix: str) -> bool:
    return type(value).__module__.startswith(prefix)


def _functions(layer: Any) -> tuple[Any, ...]:
    """The functions a layer holds (its activation, ...), as compared."""
    return tuple(
        (name, _describe(value))
        for name, value in sorted(vars(layer).items())
        if callable(value) and not isinstance(value, type)
    )


def _describe(value: Any) -> Any:
    """A compile argument as compared: Keras' things by value, others by identity."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return tuple(_describe(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _describe(v)) for k, v in value.items()))
    if isinstance(value, types.MethodType) and _keras_own(value.__self__, "keras."):
        return ("method", type(value.__self__), value.__qualname__)
    module = str(getattr(value, "__module__", None) or "")
    if module.startswith("keras.") and isinstance(value, types.FunctionType):
        return ("function", module, value.__qualname__)
    if _keras_own(value, "keras.") and hasattr(value, "get_config"):
        try:
            config = json.dumps(value.get_config(), sort_keys=True, default=repr)
        except Exception:
            return ("object", id(value))
        return (type(value), config, _functions(value))
    return ("object", id(value))


def _copy_state(source: Any, target: Any) -> bool:
    """Put `source`'s variables, and its optimizer's, into `target`'s.

    `source`'s optimizer is built first, as `fit` would build it. False
    (nothing copied) when the variables do not pair up.
    """
    optimizer = source.optimizer
    if not optimizer.built:
        optimizer.build(source.trainable_variables)
    fresh = [*source.variables, *optimizer.variables]
    kept = [*target.variables, *target.optimizer.variables]
    # The signature matched, so the models' own variables pair up; this
    # covers the optimizers' too.
    if [(tuple(v.shape), v.dtype) for v in kept] != [
        (tuple(v.shape), v.dtype) for v in fresh
    ]:
        return False
    for variable, value in zip(kept, fresh, strict=True):
        variable.assign(value.value)
    return True
