"""`initial_lr="auto"`: an LR range test before a search, and the rates it searches.

`search(initial_lr="auto")` builds one model with the user's `build_model`,
runs `find_lr` on the training data (never the validation data), and searches
the decay over the initial rates `suggested_lr * f` for `f` in
`lrdecay.defaults.AUTO_LR_FACTORS` (0.3, 1 and 3: half a decade either side
of the suggestion, each rounded to two significant digits). Why a set and
not the suggestion alone: `min_loss_lr / 10` is a rule of thumb, good to
about half a decade (the smoothed minimum moves by a few of the test's
steps from run to run, and the best rate for a long decayed run is often a
little above or below it); three rates a factor ~3 apart cover that at three
times the trials, and the search's own validation metric picks among them.

The range test is recorded in the project directory (`RANGE_TEST_FILE`),
so a resumed search searches the same rates without testing again.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from lrdecay import defaults
from lrdecay.tuning.lr_finder.lr_range import LRFinderResult, find_lr

__all__ = ["RANGE_TEST_FILE", "auto_initial_lrs", "range_test"]

RANGE_TEST_FILE = "lrdecay_lr_range.json"


def is_auto(initial_lr: Any) -> bool:
    """Whether `initial_lr` asks for the range test (`"auto"`)."""
    return isinstance(initial_lr, str) and initial_lr == defaults.AUTO_INITIAL_LR


def auto_initial_lrs(suggested_lr: float) -> list[float]:
    """The initial rates a search tries around `suggested_lr`, increasing.

    Example:

    ```python
    auto_initial_lrs(0.0123)  # [0.0037, 0.012, 0.037]
    ```
    """
    rates = sorted({float(f"{suggested_lr * f:.2g}") for f in defaults.AUTO_LR_FACTORS})
    return rates


def range_test(
    hypermodel: Any,
    x: Any,
    y: Any,
    *,
    batch_size: int | None,
    seed: int | None,
    validation_split: float | None,
    project_path: str,
    resuming: bool,
) -> tuple[LRFinderResult, bool]:
    """The search's range test: recorded (a resume), else run now.

    Runs `find_lr` on a model `hypermodel.build` returns (the space's and
    the model's hyperparameters at their defaults), on the training part of
    `x, y` only: with `validation_split`, the first `1 - validation_split`
    of the samples, as Keras' `fit` splits them. With a `seed`, Keras,
    NumPy and Python are seeded with it first (and stay seeded).

    Returns:
        The `LRFinderResult`, and whether the test ran now (`False`: read
        from the project of a resumed search).

    Raises:
        ValueError: If `x` is not arrays (the test needs to slice batches),
            or the range test fails (see `find_lr`).
    """
    if resuming:
        recorded = _read(project_path)
        if recorded is not None:
            return recorded, False
    import keras
    import keras_tuner

    flat = keras.tree.flatten(x)
    if not flat or not all(hasattr(array, "shape") for array in flat):
        raise ValueError(
            'initial_lr="auto" runs an LR range test on `x, y`, which must '
            f"be arrays (or a dict or list of arrays). Received: x={type(x)!r}"
        )
    if validation_split:
        samples = len(flat[0])
        train = int(samples * (1 - validation_split))
        x = keras.tree.map_structure(lambda array: array[:train], x)
        if y is not None:
            y = keras.tree.map_structure(lambda array: array[:train], y)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = hypermodel.build(keras_tuner.HyperParameters())
    result = find_lr(model, x, y, batch_size=batch_size or defaults.BATCH_SIZE)
    del model
    return result, True


def write(project_path: str, result: LRFinderResult) -> None:
    """Record the range test in the search's project directory."""
    os.makedirs(project_path, exist_ok=True)
    path = os.path.join(project_path, RANGE_TEST_FILE)
    with open(path, "w") as file:
        json.dump(dataclasses.asdict(result), file)


def _read(project_path: str) -> LRFinderResult | None:
    try:
        with open(os.path.join(project_path, RANGE_TEST_FILE)) as file:
            return LRFinderResult(**json.load(file))
    except (OSError, TypeError, ValueError):
        return None
