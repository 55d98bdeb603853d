"""`normalize`: each input kind of a search into its exact form.

Training data first (`_training`), then validation data (`_validation`);
both are exact or the search runs as given (see `lrdecay.tuning.data.inputs`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator, Mapping
from typing import Any

import keras
import numpy as np

from lrdecay.tuning.data import readers
from lrdecay.tuning.data.inputs import (
    DEFAULT_BATCH_SIZE,
    OrderedData,
    RecordedData,
    SearchInputs,
    Validation,
    array_parts,
    evaluates,
    split_validation,
    warn_not_exact,
)


class _NotExact(Exception):
    """The data cannot be exact.

    `given` replaces an iterator it consumed; `batch_size` and `spec` are
    what was learnt of the data before the reason showed.
    """

    def __init__(
        self,
        reason: str,
        given: Any = None,
        batch_size: int | None = None,
        spec: Any = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.given = given
        self.batch_size = batch_size
        self.spec = spec


@dataclasses.dataclass
class _Read:
    """One input read into samples (`samples`, `shuffle`) or a stream."""

    batch_size: int
    spec: Any
    digest: str
    samples: Any = None
    shuffle: bool = True
    batches: list[Any] | None = None
    steps: int | None = None
    cyclic: bool = False


def normalize(
    x: Any,
    y: Any,
    *,
    validation_data: Any,
    validation_split: float | None,
    batch_size: int | None,
    epochs: int,
    fit_kwargs: Mapping[str, Any],
) -> SearchInputs:
    """`search()`'s data as `SearchInputs` (see `lrdecay.tuning.data.inputs`).

    Warns once (`UserWarning`) when the data cannot be exact.

    Raises:
        ValueError: When a generator holds fewer batches than
            `steps_per_epoch * epochs` (or the validation steps) need.
    """
    fit = dict(fit_kwargs)
    kind = _kind(x)
    given_kwargs: dict[str, Any] = {**fit}
    if validation_data is not None:
        given_kwargs["validation_data"] = validation_data
    if validation_split:
        given_kwargs["validation_split"] = validation_split
    if kind == "arrays":
        given_kwargs["batch_size"] = batch_size
    given: dict[str, Any] = {"x": x}
    try:
        if kind == "arrays":
            training, split_off = _arrays(x, y, fit, batch_size, validation_split)
            if validation_data is None:
                validation_data = split_off
        else:
            training = _pipeline(x, fit.get("steps_per_epoch"), epochs, "training")
            if kind == "PyDataset" and training.samples is not None:
                # Keras shuffles a PyDataset's batches every epoch.
                training.shuffle = fit.get("shuffle", True) is not False
            given["x"] = _replay(training, x)
        validation, validation_digest = _validation(validation_data, fit, epochs)
    except _NotExact as error:
        if error.given is not None:
            given["x"] = error.given
        inputs = SearchInputs(
            kind=kind,
            exact=False,
            reason=error.reason,
            batch_size=error.batch_size or (batch_size if kind == "arrays" else None),
            steps_per_epoch=fit.get("steps_per_epoch"),
            element_spec=error.spec,
            data_digest=readers.digest(spec=[kind, error.spec, error.reason]),
            ordered_data=None,
            given=(_args(given["x"], y), given_kwargs),
        )
        warn_not_exact(inputs)
        return inputs
    data_digest = readers.digest(
        spec=[kind, training.spec, training.digest, validation_digest]
    )
    return SearchInputs(
        kind=kind,
        exact=True,
        reason=None,
        batch_size=training.batch_size,
        steps_per_epoch=_steps(training),
        element_spec=training.spec,
        data_digest=data_digest,
        ordered_data=_ordered(training, validation, data_digest),
        given=(_args(given["x"], y), given_kwargs),
    )


def _args(x: Any, y: Any) -> tuple[Any, ...]:
    return (x,) if y is None else (x, y)


def _kind(x: Any) -> str:
    if readers.is_tf_dataset(x):
        return "tf.data.Dataset"
    if isinstance(x, keras.utils.PyDataset):
        return "PyDataset"
    if readers.is_iterator(x):
        return "generator"
    if readers.is_torch_loader(x):
        return type(x).__name__
    return "arrays"


def _steps(read: _Read) -> int:
    if read.steps is not None:
        return read.steps
    count = len(keras.tree.flatten(read.samples)[0])
    return math.ceil(count / read.batch_size)


def _arrays(
    x: Any,
    y: Any,
    fit: Mapping[str, Any],
    batch_size: int | None,
    validation_split: float | None,
) -> tuple[_Read, Any]:
    """Arrays as samples, and the validation part `validation_split` cuts off."""
    parts = array_parts(x, y, fit.get("sample_weight"))
    if parts is None:
        raise _NotExact(f"lrdecay cannot read {type(x).__name__} inputs ahead")
    if fit.get("steps_per_epoch") is not None:
        raise _NotExact("`steps_per_epoch` with array data")
    if fit.get("class_weight") is not None and parts[2] is not None:
        raise _NotExact("both `class_weight` and `sample_weight`")
    split_off = None
    if validation_split:
        split = split_validation(parts, float(validation_split))
        if split is None:
            raise _NotExact(f"`validation_split={validation_split}` leaves no sample")
        parts, split_off = split
    samples = tuple(part for part in parts if part is not None)
    read = _Read(
        batch_size=int(batch_size or DEFAULT_BATCH_SIZE),
        spec=readers.element_spec(samples),
        digest=readers.digest(*samples, sampled=True),
        samples=samples,
        shuffle=fit.get("shuffle", True) is not False,
    )
    return read, split_off


def _validation(
    value: Any, fit: Mapping[str, Any], epochs: int
) -> tuple[Validation | None, str]:
    """The validation data every fit evaluates, and their digest."""
    if value is None:
        return None, ""
    batch_size = fit.get("validation_batch_size")
    if isinstance(value, (tuple, list)) and 2 <= len(value) <= 3:
        parts = array_parts(*value, *(None,) * (3 - len(value)))
        if parts is not None:
            arguments: dict[str, Any] = {"validation_data": value}
            if batch_size is not None:
                arguments["validation_batch_size"] = batch_size
            return Validation(arguments), readers.digest(*parts, sampled=True)
    freq = fit.get("validation_freq", 1)
    steps = fit.get("validation_steps")
    evaluations = sum(evaluates(epoch, freq) for epoch in range(epochs))
    read = _pipeline(value, steps, max(1, evaluations), "validation")
    digest = readers.digest(spec=[read.spec, read.digest])
    if read.batches is not None:
        stream = Validation({}, read.batches, read.steps, read.cyclic, freq)
        return stream, digest
    samples = read.samples
    arguments = {
        "validation_data": samples if isinstance(samples, tuple) else (samples,),
        "validation_batch_size": read.batch_size,
    }
    return Validation(arguments), digest


def _ordered(
    training: _Read, validation: Validation | None, digest: str
) -> OrderedData | RecordedData:
    if training.batches is not None:
        return RecordedData(
            training.batches,
            int(training.steps or len(training.batches)),
            training.cyclic,
            training.batch_size,
            validation,
            digest,
        )
    samples = training.samples
    if isinstance(samples, tuple) and 2 <= len(samples) <= 3:
        x, y, weight = (*samples, None)[:3]
    elif isinstance(samples, tuple) and len(samples) == 1:
        x, y, weight = samples[0], None, None
    else:
        x, y, weight = samples, None, None
    return OrderedData(
        x,
        y,
        None,
        training.batch_size,
        0,
        sample_weight=weight,
        shuffle=training.shuffle,
        validation=validation,
        digest=digest,
    )


def _pipeline(value: Any, steps: int | None, epochs: int, role: str) -> _Read:
    """A dataset, PyDataset or generator read into samples or a stream."""
    if readers.is_torch_loader(value):
        raise _NotExact(f"a torch {type(value).__name__} is not read ahead")
    endless = _endless(value)
    if steps is not None and not readers.is_iterator(value) and not endless:
        if not readers.is_tf_dataset(value) or int(value.cardinality()) < 0:
            name = "steps_per_epoch" if role == "training" else "validation_steps"
            raise _NotExact(
                f"`{name}` with a finite {type(value).__name__} of unknown "
                "length (each epoch starts where the last one stopped)"
            )
        reads = _as_keras_reads(value, steps, role)
        return _stream(reads, steps, epochs, role, given=value)
    if steps is not None or readers.is_iterator(value):
        return _stream(value, steps, epochs, role)
    if endless:
        raise _NotExact(f"an endless {type(value).__name__} without steps")
    first = _read_all(value)
    if first and any(np.ndim(leaf) == 0 for leaf in keras.tree.flatten(first[0])):
        # Keras reads each element as a batch: a scalar has no samples.
        raise _NotExact("its elements are not batched (call `.batch(...)`)")
    second = _read_all(value)
    samples = readers.unbatch(first)
    relation = readers.compare(samples, readers.unbatch(second))
    if relation == readers.DIFFERENT:
        raise _NotExact(
            "two passes over it hold different samples (random augmentation?)",
            batch_size=readers.batch_size(first[0]),
            spec=readers.element_spec(samples),
        )
    shuffle = relation == readers.SHUFFLED
    if shuffle:
        samples = readers.take(samples, readers.canonical_order(samples))
    return _Read(
        batch_size=readers.batch_size(first[0]),
        spec=readers.element_spec(samples),
        digest=readers.digest(samples),
        samples=samples,
        shuffle=shuffle,
    )


def _as_keras_reads(dataset: Any, steps: int, role: str) -> Iterator[Any]:
    """A finite dataset's batches in the order `fit` reads them with `steps`.

    Keras' `EpochIterator`: each epoch goes on with the iterator of the last
    one and takes `steps` batches; an iterator that has given all its batches
    is replaced at the end of an epoch (a new pass: a new shuffle). An epoch
    that would run past the end is cut short in Keras ("ran out of data"):
    not exact.
    """
    count = int(dataset.cardinality())
    iterator = None
    seen = 0
    while True:
        if iterator is None:
            iterator, seen = dataset.as_numpy_iterator(), 0
        for _ in range(steps):
            if seen >= count:
                name = "steps_per_epoch" if role == "training" else "validation_steps"
                raise _NotExact(
                    f"`{name}={steps}` runs past the end of a dataset of "
                    f"{count} batches (Keras cuts such an epoch short)"
                )
            seen += 1
            yield next(iterator)
        if seen >= count:
            iterator = None


def _endless(value: Any) -> bool:
    if readers.is_tf_dataset(value):
        return int(value.cardinality()) == -1  # tf.data.INFINITE_CARDINALITY
    if isinstance(value, keras.utils.PyDataset):
        return value.num_batches is None
    return False


def _read_all(value: Any) -> list[Any]:
    try:
        batches = readers.read(readers.one_pass(value))
    except readers.OverBudget as error:
        raise _NotExact(
            f"it holds more than {readers.BUDGET_BYTES >> 20} MiB"
        ) from error
    if not batches:
        raise _NotExact("it is empty")
    return batches


def _stream(
    value: Any, steps: int | None, epochs: int, role: str, given: Any = None
) -> _Read:
    """The batches a fit reads from a generator or an endless input.

    `given`: the input `value` reads (`value` itself when `None`).
    """
    given = value if given is None else given
    needed = None if steps is None else steps * epochs
    source = value
    if isinstance(value, keras.utils.PyDataset):
        source = (value[index] for index in itertools.count())
    elif readers.is_tf_dataset(value):
        source = value.as_numpy_iterator()
    try:
        batches = readers.read(source, needed)
    except readers.OverBudget as error:
        raise _NotExact(
            f"the batches it must give hold more than {readers.BUDGET_BYTES >> 20} MiB",
            itertools.chain(error.read, given) if readers.is_iterator(given) else None,
        ) from error
    if not batches:
        raise _NotExact("it yielded no batch")
    if needed is not None and len(batches) < needed:
        name = "steps_per_epoch" if role == "training" else "validation_steps"
        raise ValueError(
            f"The {role} data yielded {len(batches)} batches, but "
            f"`{name}` x `epochs` = {steps} x {epochs} = {needed} are needed. "
            f"Received: {name}={steps}"
        )
    return _Read(
        batch_size=readers.batch_size(batches[0]),
        spec=readers.element_spec(batches[0]),
        digest=readers.digest(*batches),
        batches=batches,
        steps=len(batches) if needed is None else steps,
        cyclic=needed is None,
    )


def _replay(read: _Read, x: Any) -> Any:
    """What a fit as given reads instead of a generator already read."""
    if read.batches is not None and readers.is_iterator(x):
        return iter(list(read.batches))
    return x
