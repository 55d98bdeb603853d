"""What `find_lr` reads: the batches of whatever `model.fit` takes.

- Arrays (and dicts or lists of arrays): shuffled batches of `batch_size`,
  as many epochs as `num_steps` needs (the source cycles).
- A `keras.utils.PyDataset` or a re-iterable source (`tf.data.Dataset`, a
  torch `DataLoader`): its own batches, epoch after epoch until `num_steps`
  batches were read (a finite source cycles; an infinite one is read once).
- A bare iterator (a generator): read once; it gives what it gives. If it
  ends before `num_steps` batches, the test covers only the rates it
  reached, and `find_lr` warns.

Its first batch is read first, to build the model and check its loss, and
is the first batch of the test: a generator loses nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import keras

from lrdecay.tuning.data.checks import first_batch, is_arrays, unpack_batch


@dataclasses.dataclass(frozen=True)
class RangeTestData:
    """The data of one range test: its first batch and `fit`'s arguments."""

    first: tuple[Any, ...]
    fit_arguments: dict[str, Any]
    # A bare iterator: read once, it may end before `num_steps` batches.
    once: bool

    @classmethod
    def of(cls, x: Any, y: Any, batch_size: int, num_steps: int) -> RangeTestData:
        """Raises `ValueError` for a source that gives no batch."""
        if is_arrays(x):
            samples = len(keras.tree.flatten(x)[0])
            steps_per_epoch = math.ceil(samples / batch_size)
            first = first_batch(x, y, batch_size)
            arguments = {
                "x": x,
                "y": y,
                "batch_size": batch_size,
                "epochs": math.ceil(num_steps / steps_per_epoch),
                "shuffle": True,
            }
            return cls(_checked(first, x), arguments, once=False)
        _no_labels(x, y)
        if isinstance(x, keras.utils.PyDataset):
            epochs = math.ceil(num_steps / max(len(x), 1))
            first = first_batch(x, None, None)
            return cls(_checked(first, x), {"x": x, "epochs": epochs}, once=False)
        try:
            iterator = iter(x)
        except TypeError:
            raise ValueError(
                "find_lr() reads what `model.fit` takes: arrays (or a dict or "
                "list of arrays), a tf.data.Dataset, a keras.utils.PyDataset, "
                f"a generator. Received: x={type(x).__name__}"
            ) from None
        if iterator is not x:
            # Each epoch a fresh pass; the test stops itself at `num_steps`.
            first = first_batch(x, None, None)
            return cls(_checked(first, x), {"x": x, "epochs": num_steps}, once=False)
        try:
            element = next(iterator)
        except StopIteration:
            element = None
        if element is None:
            _checked(None, x)
        arguments = {
            "x": _chained(element, iterator),
            "epochs": 1,
            "steps_per_epoch": num_steps,
        }
        return cls(unpack_batch(element), arguments, once=True)


def _chained(element: Any, iterator: Any) -> Iterator[Any]:
    """The iterator's batches, `element` (read already) first, as a generator.

    `fit` takes Python generators, not other iterators.
    """
    yield element
    yield from iterator


def _no_labels(x: Any, y: Any) -> None:
    if y is not None:
        raise ValueError(
            "find_lr(): `y` is given with the labels inside `x` "
            f"({type(x).__name__}); pass `y` only with arrays. Received: "
            f"y={type(y).__name__}"
        )


def _checked(first: tuple[Any, ...] | None, x: Any) -> tuple[Any, ...]:
    if first is None:
        raise ValueError(
            f"find_lr(): the data gave no batch. Received: x={type(x).__name__}"
        )
    return first
