"""Preflight: what every trial of a search would fail on, found before the first.

`search()` builds one model from `build_model` (its hyperparameters at their
defaults) before any MLflow run or trial exists and checks that it can be
searched:

- it is compiled (the decay needs its optimizer);
- its optimizer's rate is a float, not a `LearningRateSchedule` (which Keras
  lets no callback change);
- its loss computes on the first batch of the training data (outputs match
  the labels), and is finite;
- the objective is a metric the trials log: the keys of `evaluate()`, with
  `val_` before each when there is validation data.

Each failure is one `TypeError` or `ValueError` that names the fix, so the
command line prints one line and exits 2 in seconds, instead of every trial
failing with a traceback. `find_lr` runs the same checks on the user's model
in its own words (`check_model`, `check_loss`).

The first batch is read without consuming the data: arrays (and dicts or
lists of arrays) are sliced, a `keras.utils.PyDataset` is indexed, a
re-iterable source (`tf.data.Dataset`, a torch `DataLoader`) gives a fresh
iterator. A bare iterator (a generator) would lose its first batch, so its
data checks are skipped.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import keras

from lrdecay import schedules
from lrdecay._compat.keras import learning_rate_schedule

__all__ = ["check_loss", "check_model", "first_batch", "preflight"]

# What fit logs besides the model's metrics (decays add the rate).
_FIT_LOGS = ("learning_rate",)


def preflight(
    hypermodel: Any,
    x: Any,
    y: Any,
    *,
    validation_data: Any,
    validation_split: float | None,
    batch_size: int | None,
    objective: Any,
    callbacks: Sequence[Any] = (),
) -> None:
    """Check one model of a search before any trial (see the module docstring).

    Args:
        hypermodel: The search's `keras_tuner.HyperModel`; its model at the
            default hyperparameters is checked.
        x, y: The training data, as given to `search()`.
        validation_data, validation_split: As given to `search()`.
        batch_size: Int or `None`. The batch size of array data.
        objective: The KerasTuner objective: a name, an `Objective`, or a
            list of them.
        callbacks: The user's callbacks; one lrdecay does not know may add
            a log key, so a missing objective only warns with them.

    Raises:
        TypeError: If the model's optimizer's rate is a
            `LearningRateSchedule`.
        ValueError: If the model is not compiled, the loss does not compute
            (or is not finite) on the first batch, or the objective is not a
            metric the model logs.
    """
    import keras_tuner

    model = hypermodel.build(keras_tuner.HyperParameters())
    try:
        check_model(model, "search()")
        batch = first_batch(x, y, batch_size)
        if batch is None:
            # A bare iterator (a generator as given): its first batch would
            # be lost to the fit; its batches are checked by the first trial.
            return
        names = check_loss(model, batch, "search()")
        validated = validation_data is not None or bool(validation_split)
        check_objective(objective, names, validated, callbacks)
    finally:
        del model
        # What KerasTuner does before every trial: the trials start clean.
        keras.backend.clear_session()


def check_model(model: Any, owner: str) -> None:
    """Raise if `model` is not compiled or its rate cannot be decayed.

    Raises:
        ValueError: If `model` is not compiled.
        TypeError: If its optimizer's rate is a `LearningRateSchedule`.
        Both name the fix, in `owner`'s words (`"search()"`, `"find_lr()"`).
    """
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or optimizer is None:
        what = "`build_model` must return" if owner == "search()" else "it needs"
        raise ValueError(
            f"{owner} trains the model at rates it sets itself: {what} a "
            "compiled model. Call `model.compile(optimizer=..., loss=...)`"
            f"{' in `build_model`' if owner == 'search()' else ' first'}. "
            f"Received: an uncompiled {type(model).__name__}"
        )
    schedule = learning_rate_schedule(optimizer)
    if schedule is None:
        return
    doing = (
        "searches the learning-rate decay, setting the rate every epoch"
        if owner == "search()"
        else "sets the learning rate of every batch"
    )
    after = (
        "and let lrdecay decay it (the search tries decays, by default "
        f"{', '.join(schedules.DEFAULT_KINDS)}, against a constant rate)"
        if owner == "search()"
        else "for the test, then compile with the schedule starting at the "
        "suggested rate"
    )
    raise TypeError(
        f"{owner} {doing}, but the model's optimizer was compiled with a "
        f"`{type(schedule).__name__}` learning-rate schedule, whose rate Keras "
        "lets no callback change. Compile with a float rate, e.g. "
        f"`keras.optimizers.{type(optimizer).__name__}(learning_rate=1e-3)`, "
        f"{after}."
    )


def first_batch(x: Any, y: Any, batch_size: int | None) -> tuple[Any, ...] | None:
    """`(x, y, sample_weight)` of the first batch, without consuming `x`.

    `None` for a bare iterator (a generator), whose first batch would be
    lost to the fit, and for an empty source.
    """
    if is_arrays(x):
        size = batch_size or 32

        def head(array: Any) -> Any:
            return array[:size]

        labels = None if y is None else keras.tree.map_structure(head, y)
        return keras.tree.map_structure(head, x), labels, None
    if isinstance(x, keras.utils.PyDataset):
        element = x[0]
    else:
        try:
            iterator = iter(x)
        except TypeError:
            return None
        if iterator is x:
            return None
        try:
            element = next(iterator)
        except StopIteration:
            return None
    return unpack_batch(element)


def is_arrays(x: Any) -> bool:
    """Whether `x` is arrays, or a dict, list or tuple of them."""
    flat = keras.tree.flatten(x)
    return bool(flat) and all(hasattr(item, "shape") for item in flat)


def unpack_batch(element: Any) -> tuple[Any, ...]:
    """A batch as `(x, y, sample_weight)`, as `model.fit` reads it."""
    if isinstance(element, tuple):
        return keras.utils.unpack_x_y_sample_weight(element)
    return element, None, None


def check_loss(model: Any, batch: tuple[Any, ...], owner: str) -> list[str]:
    """Evaluate `model` on one batch; return the names of what it logs.

    Raises:
        ValueError: Naming the shapes and the fix, if the loss does not
            compute on the batch or is not finite.
    """
    inputs, labels, weights = batch
    size = _leading_size(inputs)
    _check_sparse_labels(model, inputs, labels, owner)
    try:
        logs = model.evaluate(
            inputs,
            labels,
            sample_weight=weights,
            batch_size=size,
            steps=1,
            verbose=0,
            return_dict=True,
        )
    except Exception as error:
        raise ValueError(
            f"{owner}: the model's loss does not compute on the first batch "
            f"of the training data: inputs {_shapes(inputs)}, labels "
            f"{_shapes(labels)}, model outputs {_output_shapes(model, inputs)} "
            f"({type(error).__name__}: {_reason(error)}). Make the last "
            "layer's units match the labels and the loss: integer class "
            "labels 0..n-1 with `sparse_categorical_crossentropy` and "
            "`Dense(n)`, one-hot labels with `categorical_crossentropy`."
        ) from None
    loss = logs.get("loss")
    if loss is not None and not math.isfinite(float(loss)):
        raise ValueError(
            f"{owner}: the model's loss is {float(loss)} on the first batch of "
            f"the training data, before any training (inputs {_shapes(inputs)}, "
            f"labels {_shapes(labels)}). Check for NaN in the data, and that "
            "class labels are below the number of output units."
        )
    return [str(name) for name in logs]


def _check_sparse_labels(model: Any, inputs: Any, labels: Any, owner: str) -> None:
    """Class labels at or above the output units: an error on every backend.

    TensorFlow raises on them; JAX silently reads a clamped index, and every
    trial would train on a wrong loss.
    """
    loss = getattr(model, "loss", None)
    sparse = loss == "sparse_categorical_crossentropy" or isinstance(
        loss, keras.losses.SparseCategoricalCrossentropy
    )
    if not sparse or labels is None or len(keras.tree.flatten(labels)) != 1:
        return
    try:
        outputs = keras.tree.flatten(model(inputs, training=False))
    except Exception:
        return  # evaluate() says what is wrong
    if len(outputs) != 1:
        return
    units = int(outputs[0].shape[-1])
    highest = int(keras.ops.convert_to_numpy(keras.ops.max(labels)))
    if highest >= units:
        raise ValueError(
            f"{owner}: the labels go up to {highest}, but the model outputs "
            f"{units} classes: inputs {_shapes(inputs)}, labels {_shapes(labels)}, "
            f"model outputs {_shapes(outputs[0])}. With "
            "`sparse_categorical_crossentropy`, class labels 0..n-1 need "
            "`Dense(n)` as the last layer."
        )


def check_objective(
    objective: Any,
    names: Sequence[str],
    validated: bool,
    callbacks: Sequence[Any] = (),
) -> None:
    """Raise if the objective is not among what the trials log.

    `names` are the keys of `evaluate()`; with validation data the trials
    log each also with `val_` before it.

    Raises:
        ValueError: Naming the objective and the metrics the model logs.
    """
    logged = list(names) + ([f"val_{name}" for name in names] if validated else [])
    for name in _objective_names(objective):
        if name in logged or name in _FIT_LOGS:
            continue
        message = (
            f"The objective {name!r} is not a metric this model logs; it logs "
            f"{', '.join(repr(item) for item in logged)}. Pass one of them "
            f"(e.g. objective={_closest(name, logged)!r}), or add the metric to "
            "`model.compile(metrics=...)` in `build_model`."
        )
        unknown = [c for c in callbacks if not _known_callback(c)]
        if unknown:
            # A callback of the user's may add the key to the epoch's logs.
            warnings.warn(
                f"{message} (Unless {type(unknown[0]).__name__} adds it.)",
                stacklevel=4,
            )
            continue
        raise ValueError(message)


def _objective_names(objective: Any) -> list[str]:
    if isinstance(objective, (list, tuple)):
        return [name for item in objective for name in _objective_names(item)]
    if isinstance(objective, str):
        return [objective]
    name = getattr(objective, "name", None)
    return [name] if isinstance(name, str) else []


def _known_callback(callback: Any) -> bool:
    """Keras' and lrdecay's callbacks add no metric to the logs."""
    module = type(callback).__module__
    return module.startswith(("keras.", "keras_tuner.", "lrdecay."))


def _closest(name: str, logged: Sequence[str]) -> str:
    """The logged name that shares the longest start with `name`."""

    def shared(candidate: str) -> int:
        count = 0
        for a, b in zip(name, candidate, strict=False):
            if a != b:
                break
            count += 1
        return count

    return max(logged, key=shared) if logged else name


def _leading_size(inputs: Any) -> int | None:
    for item in keras.tree.flatten(inputs):
        shape = getattr(item, "shape", None)
        if shape is not None and len(shape) > 0 and shape[0] is not None:
            return int(shape[0])
    return None


def _shapes(data: Any) -> str:
    if data is None:
        return "None"
    shapes = keras.tree.map_structure(
        lambda item: tuple(getattr(item, "shape", ())), data
    )
    return str(shapes)


def _output_shapes(model: Any, inputs: Any) -> str:
    try:
        outputs = model(inputs, training=False)
    except Exception as error:
        return f"none: the model cannot be called on the inputs ({_reason(error)})"
    return _shapes(outputs)


def _reason(error: BaseException) -> str:
    """The line of a (TensorFlow) error message that says what went wrong."""
    lines = [
        line.strip()
        for line in str(error).splitlines()
        if line.strip()
        and not line.strip().startswith(("File ", "[[", "Detected at node", "Graph "))
    ]
    text = lines[-1] if lines else type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."
