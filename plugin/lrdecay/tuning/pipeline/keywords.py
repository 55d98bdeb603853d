"""`search()`'s extra keywords: `model.fit` arguments, or the tuner's options.

One place for each: a keyword that is a `model.fit` parameter (read from
`keras.Model.fit`'s signature, minus those `search()` takes itself) reaches
every trial's `fit`, as KerasTuner's own `search()` passes them; the
tuner's options go in `search(tuner_options={...})`. For one release a tuner
option passed as a bare keyword still reaches the tuner, with a
`DeprecationWarning`; any other keyword is a `TypeError` naming both places.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Mapping
from typing import Any

# `model.fit` parameters `search()` takes (or sets) itself.
SEARCH_OWNS_FIT = frozenset(
    {
        "x",
        "y",
        "epochs",
        "batch_size",
        "callbacks",
        "verbose",
        "validation_data",
        "validation_split",
        "initial_epoch",
    }
)


@functools.cache
def fit_parameters() -> frozenset[str]:
    """The `model.fit` parameters a search passes on to every trial's `fit`."""
    import keras

    names = inspect.signature(keras.Model.fit).parameters
    return (
        frozenset(
            name
            for name, parameter in names.items()
            if name != "self" and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
        )
        - SEARCH_OWNS_FIT
    )


@functools.cache
def tuner_parameters() -> frozenset[str]:
    """The keyword arguments of the stock tuners and their base classes."""
    import keras_tuner

    classes = (
        keras_tuner.GridSearch,
        keras_tuner.RandomSearch,
        keras_tuner.Hyperband,
        keras_tuner.BayesianOptimization,
        keras_tuner.Tuner,
        keras_tuner.engine.base_tuner.BaseTuner,
    )
    names: set[str] = set()
    for tuner_class in classes:
        for name, parameter in inspect.signature(tuner_class).parameters.items():
            if parameter.kind is parameter.KEYWORD_ONLY or (
                parameter.kind is parameter.POSITIONAL_OR_KEYWORD
            ):
                names.add(name)
    return frozenset(names - {"hypermodel", "oracle"})


def split_keywords(
    keywords: Mapping[str, Any], tuner_options: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`search()`'s extra keywords as (fit arguments, tuner options).

    Args:
        keywords: Dict. The keywords `search()` did not name itself.
        tuner_options: Mapping or `None`. `search(tuner_options=...)`.

    Returns:
        The `model.fit` arguments of every trial, and the tuner's options.

    Raises:
        TypeError: For `tuner_options` that is not a mapping of names, a
            `fit` argument in `tuner_options`, or a keyword that is neither
            a `fit` argument nor a tuner option.
    """
    if tuner_options is None:
        options: dict[str, Any] = {}
    elif isinstance(tuner_options, Mapping) and all(
        isinstance(name, str) for name in tuner_options
    ):
        options = dict(tuner_options)
    else:
        raise TypeError(
            "Argument `tuner_options` must be a dict of KerasTuner tuner "
            "arguments, e.g. {'max_consecutive_failed_trials': 5}. "
            f"Received: tuner_options={tuner_options!r}"
        )
    for name in options:
        if name in fit_parameters():
            raise TypeError(
                f"`{name}` is a `model.fit` argument, not a tuner option: pass "
                f"it to `search()` as a keyword (`search(..., {name}=...)`). "
                f"Received: tuner_options={{{name!r}: {options[name]!r}}}"
            )
    fit: dict[str, Any] = {}
    for name, value in keywords.items():
        if name in fit_parameters():
            fit[name] = value
        elif name in tuner_parameters():
            warnings.warn(
                f"Passing the tuner option `{name}` to `search()` as a keyword "
                "is deprecated and will stop working in the next release: "
                f"use `search(..., tuner_options={{{name!r}: {value!r}}})`.",
                DeprecationWarning,
                stacklevel=3,
            )
            options.setdefault(name, value)
        else:
            raise TypeError(
                f"`search()` got an unexpected keyword argument `{name}`: it is "
                "neither a `model.fit` argument (passed to every trial's `fit`, "
                "e.g. `steps_per_epoch=`) nor a KerasTuner tuner option (those "
                f"go in `tuner_options={{...}}`). Received: {name}={value!r}"
            )
    return fit, options
