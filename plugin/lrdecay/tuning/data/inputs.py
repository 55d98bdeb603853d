"""A search's data, read once so that every trial sees the control's batches.

`lrdecay.tuning.data.normalize_data.normalize` runs once, before the tuner, on
what `search()` was given (`x`, `y`, `validation_data`, `validation_split`
and the `model.fit` keywords), and returns `SearchInputs`: the data in one
of three forms.

- **Samples** (`OrderedData`): arrays, and dicts, lists or tuples of arrays
  (several inputs), with `sample_weight` carried per sample; and a finite
  `tf.data.Dataset` or `keras.utils.PyDataset` that fits in
  `readers.BUDGET_BYTES` (1 GiB), read into samples (batch size: that of
  its first batch). Read twice: the same samples in the same order stay in
  that order every epoch; the same samples in another order (a pipeline
  that shuffles) are put in one canonical order and read in the order of
  (seed, epoch) (`lrdecay.tuning.data.epoch_order.EpochOrderedData`), as arrays
  are (with `shuffle=False`, in their own order).
- **A recorded stream** (`RecordedData`): a generator, an endless
  `PyDataset` or a repeating dataset with `steps_per_epoch`: the
  `steps_per_epoch * epochs` batches the control needs, recorded once; a
  fit from epoch S reads them from `S * steps_per_epoch`. A finite
  generator without `steps_per_epoch` is read once and every epoch reads
  its batches in that order (Keras would have nothing left after the first
  epoch); a finite `tf.data.Dataset` with `steps_per_epoch` is recorded
  as Keras reads it (each epoch goes on where the last one stopped, a new
  pass after the last batch). Validation generators likewise
  (`validation_steps` per evaluation), so a trial never finds them
  exhausted.
- **As given**: anything else (more than the budget, a pipeline whose two
  passes hold other samples, i.e. random augmentation, a torch
  `DataLoader`, steps that run past the end of a finite dataset): each
  trial reads it as `model.fit` would, nothing is shared, and `normalize`
  says so once (`SearchInputs.reason`, a `UserWarning`).

Samples and streams are exact: with a seed, a trial's epochs before its
first decay equal the control's, and shared prefixes continue the control's
trunk. `SearchInputs.digest()` identifies the data: samples by their values
(a pipeline that shuffles gives the same digest on every run), a stream by
its batches in order (a generator drawing other batches on another run is
other data).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from lrdecay.tuning.data import readers
from lrdecay.tuning.data.epoch_order import EpochOrderedData, RecordedBatches

DEFAULT_BATCH_SIZE = 32  # Keras' own, when `batch_size=None`
# `model.fit` arguments the normalized data carry themselves.
CONSUMED = (
    "sample_weight",
    "steps_per_epoch",
    "validation_steps",
    "validation_batch_size",
    "shuffle",
)
_DATA_ARGUMENTS = ("x", "y", "batch_size", "shuffle", "validation_split")


@dataclasses.dataclass(frozen=True)
class Validation:
    """The validation arguments of every trial's `fit`.

    `arguments` as `fit` takes them (`validation_data`,
    `validation_batch_size`); or a recorded stream of batches
    (`validation_steps` per evaluation; cyclic: a finite one read once).
    """

    arguments: Mapping[str, Any]
    stream: list[Any] | None = None
    steps: int | None = None
    cyclic: bool = False
    freq: Any = 1

    def fit_arguments(self, initial_epoch: int) -> dict[str, Any]:
        if self.stream is None:
            return dict(self.arguments)
        done = sum(evaluates(epoch, self.freq) for epoch in range(initial_epoch))
        start = 0 if self.cyclic else done * int(self.steps or 0)
        return {
            "validation_data": RecordedBatches(self.stream, start, self.cyclic),
            "validation_steps": self.steps,
        }


def evaluates(epoch: int, freq: Any) -> bool:
    """Whether Keras evaluates after `epoch` (`Trainer._should_eval`)."""
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return epoch + 1 in freq


def _strip(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in kwargs.items()
        if key not in _DATA_ARGUMENTS + CONSUMED and key != "validation_data"
    }


@dataclasses.dataclass(frozen=True)
class OrderedData:
    """Samples a seeded fit reads in the order of (seed, epoch)."""

    x: Any
    y: Any
    validation_data: Any
    batch_size: int
    seed: int
    sample_weight: Any = None
    shuffle: bool = True
    validation: Validation | None = None
    digest: str | None = None

    def shapes(self) -> list[Any]:
        """What identifies the data in a trunk's key: shapes and a digest.

        The digest of data read from a pipeline covers every value; of
        arrays, at most 65536 values of each, evenly spaced (all of them for
        data up to that size): other data of the same shapes get another
        trunk, at the cost of microseconds per trial.
        """
        if self.digest is not None:
            return [self.digest]
        parts = (self.x, self.y, self.sample_weight, self.validation_data)
        return [
            readers.element_spec((self.x, self.y)),
            readers.digest(*(part for part in parts if part is not None), sampled=True),
        ]

    def fit_arguments(
        self, kwargs: Mapping[str, Any], initial_epoch: int
    ) -> dict[str, Any]:
        """`kwargs` for `model.fit` reading this data from `initial_epoch`."""
        arguments = _strip(kwargs)
        data = EpochOrderedData(
            self.x,
            self.y,
            self.batch_size,
            self.seed,
            initial_epoch,
            sample_weight=self.sample_weight,
            shuffle=self.shuffle,
        )
        arguments.update(
            x=data,
            steps_per_epoch=data.steps_per_epoch,
            initial_epoch=initial_epoch,
            shuffle=False,  # the order is the data's own
        )
        if self.validation is not None:
            arguments.update(self.validation.fit_arguments(initial_epoch))
        elif self.validation_data is not None:
            arguments["validation_data"] = self.validation_data
        return arguments


@dataclasses.dataclass(frozen=True)
class RecordedData:
    """A recorded stream of batches; a fit from epoch S reads it from S."""

    batches: list[Any]
    steps_per_epoch: int
    cyclic: bool
    batch_size: int
    validation: Validation | None
    digest: str

    def shapes(self) -> list[Any]:
        return [self.digest]

    def fit_arguments(
        self, kwargs: Mapping[str, Any], initial_epoch: int
    ) -> dict[str, Any]:
        arguments = _strip(kwargs)
        start = 0 if self.cyclic else initial_epoch * self.steps_per_epoch
        arguments.update(
            x=RecordedBatches(self.batches, start, self.cyclic),
            steps_per_epoch=self.steps_per_epoch,
            initial_epoch=initial_epoch,
            shuffle=False,
        )
        if self.validation is not None:
            arguments.update(self.validation.fit_arguments(initial_epoch))
        return arguments


@dataclasses.dataclass(frozen=True)
class SearchInputs:
    """A search's training and validation data, normalized once (`normalize`).

    Attributes:
        kind: String. What the training data are: `"arrays"`,
            `"tf.data.Dataset"`, `"PyDataset"`, `"generator"`, or a type name.
        exact: Bool. Whether every trial reads the control's batches, epoch
            by epoch (shared prefixes work); else the data run as given.
        reason: String or `None`. Why the data are not exact.
        batch_size: Int or `None`. The training batch size, as the data
            have it (a dataset's own); `None` when unknown.
        steps_per_epoch: Int or `None`. Training batches per epoch.
        element_spec: The shape after the first axis and the dtype of each
            part of a sample (`(x, y)` or `(x, y, sample_weight)`).
    """

    kind: str
    exact: bool
    reason: str | None
    batch_size: int | None
    steps_per_epoch: int | None
    element_spec: Any
    data_digest: str
    ordered_data: OrderedData | RecordedData | None = dataclasses.field(repr=False)
    given: tuple[tuple[Any, ...], dict[str, Any]] = dataclasses.field(repr=False)

    def digest(self) -> str:
        """A SHA-1 of the data: the same data give the same digest in every run.

        Covers the training and validation values read (all of a pipeline's,
        whatever order a shuffling pipeline gave them in; an evenly spaced
        sample of large arrays) and their element spec; for data that run
        as given, what could be read without consuming them (the kind and,
        for a dataset, its element spec).
        """
        return self.data_digest

    def ordered(self, seed: int) -> OrderedData | RecordedData | None:
        """The data a fit seeded with `seed` reads; `None` when not exact."""
        if isinstance(self.ordered_data, OrderedData):
            return dataclasses.replace(self.ordered_data, seed=int(seed))
        return self.ordered_data

    def settings(self) -> dict[str, Any]:
        """The parent run's params of the data, as the data have them."""
        return {
            "batch_size": self.batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "data_exact": self.exact,
        }


def passed_on(fit_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The `fit` arguments every trial's `fit` still takes (`class_weight`, ...)."""
    return {key: value for key, value in fit_kwargs.items() if key not in CONSUMED}


def warn_not_exact(inputs: SearchInputs) -> None:
    warnings.warn(
        f"lrdecay: the training data ({inputs.kind}) cannot be given to every "
        f"trial as the control saw them: {inputs.reason}. Each trial reads them "
        "as `model.fit` would and nothing is shared between trials, so "
        "differences between settings include the data's own noise; pass "
        "`repeats=` (e.g. 3) to measure it.",
        UserWarning,
        # warn_not_exact <- normalize <- _search <- search <- the caller.
        stacklevel=5,
    )


def unpack(
    args: Sequence[Any], kwargs: Mapping[str, Any], seed: int | None
) -> tuple[tuple[Any, ...], dict[str, Any], OrderedData | RecordedData | None]:
    """A trial's `fit(*args, **kwargs)` with `SearchInputs` in place of data.

    Returns the arguments for `model.fit` as given and the ordered data
    (`None`: the fit runs as given). Arguments without `SearchInputs` (a
    stock tuner's) come back unchanged, their data ordered when they are
    arrays and the fit is seeded (`ordered_arrays`).
    """
    first = args[0] if args else kwargs.get("x")
    if not isinstance(first, SearchInputs):
        data = None if seed is None else ordered_arrays(args, kwargs, seed)
        return tuple(args), dict(kwargs), data
    kwargs = {key: value for key, value in kwargs.items() if key != "x"}
    if first.exact:
        return (), kwargs, first.ordered(0 if seed is None else seed)
    given_args, given_kwargs = first.given
    return tuple(given_args), {**given_kwargs, **kwargs}, None


def ordered_arrays(
    args: Sequence[Any], kwargs: Mapping[str, Any], seed: int
) -> OrderedData | None:
    """`fit(*args, **kwargs)`'s training data as `OrderedData`, if arrays.

    Arrays are NumPy arrays and array-likes with a length (pandas, tensors),
    and dicts, lists and tuples of them; not datasets or generators.
    `validation_split` is applied as Keras does (the last fraction of the
    samples, before any shuffling); `sample_weight` goes with its sample.
    `class_weight` goes on to `fit` (Keras applies it to each batch). `None`
    when the data are anything else, or the fit has `steps_per_epoch`, or
    both `class_weight` and `sample_weight`.
    """
    if len(args) > 3 or kwargs.get("steps_per_epoch") is not None:
        return None
    x = args[0] if args else kwargs.get("x")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    weight = args[2] if len(args) > 2 else kwargs.get("sample_weight")
    if weight is not None and kwargs.get("class_weight") is not None:
        return None  # Keras' PyDataset takes one or the other
    parts = array_parts(x, y, weight)
    if parts is None:
        return None
    x, y, weight = parts
    validation_data = kwargs.get("validation_data")
    split = kwargs.get("validation_split")
    if validation_data is None and split:
        split_parts = split_validation((x, y, weight), float(split))
        if split_parts is None:
            return None  # Keras raises its own error for this
        (x, y, weight), validation_data = split_parts
    return OrderedData(
        x,
        y,
        validation_data,
        int(kwargs.get("batch_size") or DEFAULT_BATCH_SIZE),
        seed,
        sample_weight=weight,
        shuffle=kwargs.get("shuffle", True) is not False,
    )


def array_parts(x: Any, y: Any, weight: Any) -> tuple[Any, Any, Any] | None:
    """`(x, y, sample_weight)` with NumPy leaves of one length, else `None`."""
    if x is None or y is None:
        return None
    parts: list[Any] = []
    lengths: set[int] = set()
    for part in (x, y, weight):
        if part is None:
            parts.append(None)
            continue
        if isinstance(part, list):
            part = tuple(part)  # Keras reads a list of inputs as a tuple
        leaves = keras.tree.flatten(part)
        if not leaves or not all(_is_array(leaf) for leaf in leaves):
            return None
        array = keras.tree.map_structure(np.asarray, part)
        if any(
            leaf.dtype == object or leaf.ndim == 0 for leaf in keras.tree.flatten(array)
        ):
            return None
        lengths.update(len(leaf) for leaf in keras.tree.flatten(array))
        parts.append(array)
    if len(lengths) != 1 or 0 in lengths:
        return None
    return parts[0], parts[1], parts[2]


def _is_array(value: Any) -> bool:
    return (
        not isinstance(value, (str, bytes))
        and hasattr(value, "__array__")
        and hasattr(value, "__len__")
    )


def split_validation(
    parts: tuple[Any, Any, Any], split: float
) -> tuple[tuple[Any, Any, Any], Any] | None:
    """Keras' `validation_split`: the last fraction of the samples, unshuffled.

    `keras.src.trainers.data_adapters.array_slicing.train_validation_split`.
    """
    count = len(keras.tree.flatten(parts[0])[0])
    split_at = math.floor(count * (1.0 - split))
    if split_at in (0, count):
        return None

    def head(part: Any) -> Any:
        return None if part is None else readers.take(part, np.arange(split_at))

    def tail(part: Any) -> Any:
        return None if part is None else readers.take(part, np.arange(split_at, count))

    validation = tuple(tail(part) for part in parts if part is not None)
    return (head(parts[0]), head(parts[1]), head(parts[2])), validation
