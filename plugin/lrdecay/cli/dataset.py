"""What the `lrdecay` command trains on: a `Dataset`, its task and its split.

A `Dataset` holds features and targets split into train, validation and
(optionally) test sets. Whether it is a classification or a regression
problem is detected from the target (or given); a split is shuffled with a
seed, stratified for classes. Where the arrays come from is
`lrdecay.cli.data`'s business. numpy only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from lrdecay._validation import check_fraction
from lrdecay.errors import DataError as DataError

TASKS = ("classification", "regression")

# An integer-valued target with at most this many distinct values is taken as
# class labels; more distinct values (or any fractional value) is regression.
MAX_DETECTED_CLASSES = 50

DEFAULT_SPLIT_SEED = 0


@dataclasses.dataclass
class Dataset:
    """Features and targets split for a search.

    Attributes:
        name: String. What the data is (`"digits"` or the file name).
        task: String. `"classification"` or `"regression"`.
        x_train, y_train: Arrays. The data the trials train on.
        x_val, y_val: Arrays. The data the trials are scored on.
        x_test, y_test: Arrays or `None`. Held out; only the best model sees
            it, once, at the end.
        class_names: List of strings. For classification, the original label
            of each class index `0 .. n - 1`; empty for regression.
        feature_names: List of strings. One per feature column (flat data).
        target_mean, target_std: Floats. For regression, the training
            split's target mean and standard deviation: every `y_*` array
            holds `(target - target_mean) / target_std`, so a price around
            300,000 trains like a target in units. `0.0` and `1.0` (no
            scaling) for classification.
        target_name: String. What the target is called (the CSV column).
        encoding: `lrdecay.cli.encoding.TableEncoding` or `None`. How a
            table's columns became the `x_*` arrays (fitted on the training
            split); `None` for arrays.
    """

    name: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    class_names: list[str] = dataclasses.field(default_factory=list)
    feature_names: list[str] = dataclasses.field(default_factory=list)
    target_mean: float = 0.0
    target_std: float = 1.0
    target_name: str = "y"
    encoding: Any = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample, e.g. `(64,)`."""
        return tuple(int(dim) for dim in self.x_train.shape[1:])

    @property
    def num_outputs(self) -> int:
        """Number of classes, or 1 for regression."""
        return len(self.class_names) if self.task == "classification" else 1

    def describe(self) -> str:
        """One line: name, task, sizes."""
        sizes = f"{len(self.x_train)} train / {len(self.x_val)} val"
        if self.x_test is not None:
            sizes += f" / {len(self.x_test)} test"
        what = (
            f"{self.num_outputs} classes"
            if self.task == "classification"
            else "regression"
        )
        shape = "x".join(str(dim) for dim in self.input_shape)
        return f"{self.name}: {what}, {shape} features, {sizes}"

    @property
    def target_scaled(self) -> bool:
        """Whether the `y_*` arrays hold a standardized regression target."""
        return self.target_mean != 0.0 or self.target_std != 1.0

    def in_target_units(self, values: np.ndarray) -> np.ndarray:
        """Model outputs (or `y_*` values) back in the target's own units."""
        return np.asarray(values, dtype="float64") * self.target_std + self.target_mean


# --------------------------------------------------------------------------
# Splitting and task detection


def detect_task(y: np.ndarray) -> str:
    """`"classification"` or `"regression"`, guessed from the target values.

    Non-numeric labels are classes; integer-valued targets with at most 50
    distinct values are classes; anything else is a regression target.
    """
    if y.dtype.kind not in "biuf":
        return "classification"
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        return "regression"
    if y.dtype.kind == "f" and not np.all(np.equal(np.mod(y, 1), 0)):
        return "regression"
    classes = len(distinct_values(y)[0])
    return "classification" if classes <= MAX_DETECTED_CLASSES else "regression"


# Integers spanning at most this many values are counted, not sorted.
_COUNTED_SPAN = 1 << 16


def distinct_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """`np.unique(values)`, and each value's index in it where that was free.

    Integers of a short span (class labels) are counted in one pass instead
    of sorted: the same sorted values and indices, without the sort.
    """
    offsets = short_span_offsets(values)
    if offsets is not None:
        low = int(values.min())
        present = np.bincount(offsets) > 0
        index = np.cumsum(present) - 1
        return (np.flatnonzero(present) + low).astype(values.dtype), index[offsets]
    return np.unique(values), None


def short_span_offsets(values: np.ndarray) -> np.ndarray | None:
    """Integers as int64 offsets from their minimum, if they span fewer than
    `_COUNTED_SPAN` values (labels, codes: countable with `np.bincount`)."""
    if values.dtype.kind not in "iub" or not len(values):
        return None
    low, high = int(values.min()), int(values.max())
    if high - low >= _COUNTED_SPAN:
        return None
    return values.astype("int64") - low


def check_task(task: str | None) -> None:
    if task is not None and task not in TASKS:
        raise DataError(
            f"Unknown task {task!r}: use one of {', '.join(TASKS)} "
            "(or leave it out to detect it from the target)."
        )


def check_split(name: str, value: float) -> None:
    """Raise `DataError` unless `value` is a fraction in [0, 1)."""
    try:
        check_fraction(name, value, allow_zero=True)
    except (TypeError, ValueError) as error:
        raise DataError(str(error)) from None


def split_indices(
    n_samples: int,
    val_split: float,
    test_split: float,
    seed: int,
    stratify: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffled (train, val, test) index arrays, stratified when asked."""
    check_split("--val-split", val_split)
    check_split("--test-split", test_split)
    if val_split + test_split >= 1:
        raise DataError(
            "--val-split plus --test-split must leave data to train on. "
            f"Received: {val_split} + {test_split}"
        )
    n_val = max(1, round(n_samples * val_split)) if val_split > 0 else 0
    n_test = max(1, round(n_samples * test_split)) if test_split > 0 else 0
    if n_samples - n_val - n_test < 1 or n_val < 1:
        raise DataError(
            f"Too few samples ({n_samples}) to split into train and validation "
            f"sets with --val-split {val_split}."
        )
    rng = np.random.default_rng(seed)
    if stratify is None:
        return _cut(rng.permutation(n_samples), n_test, n_val)
    # Interleave the classes so every contiguous slice of the order holds
    # them in about their overall proportions.
    keys = np.empty(n_samples)
    for label in distinct_values(stratify)[0]:
        members = np.flatnonzero(stratify == label)
        members = rng.permutation(members)
        keys[members] = (np.arange(len(members)) + rng.random()) / len(members)
    # Only the smallest keys' sets matter (each comes back sorted): a
    # partition finds them without sorting every key, unless a boundary key
    # is tied (rare), whose order the full sort below draws at random.
    bounds = [bound for bound in (n_test, n_test + n_val) if bound < n_samples]
    if bounds:
        parted = np.argpartition(keys, bounds)
        if all(np.count_nonzero(keys == keys[parted[b]]) == 1 for b in bounds):
            return _cut(parted, n_test, n_val)
    order = np.argsort(keys, kind="stable")
    if np.any(np.diff(keys[order]) == 0):
        # Equal keys (rare): a random order among them, as always.
        order = np.lexsort((rng.random(n_samples), keys))
    return _cut(order, n_test, n_val)


def _cut(
    order: np.ndarray, n_test: int, n_val: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test), each sorted: the rest of `order`, its `n_val` after
    the first `n_test`, and those first `n_test`."""
    part = np.zeros(len(order), dtype="int8")
    part[order[:n_test]] = 2
    part[order[n_test : n_test + n_val]] = 1
    return (
        np.flatnonzero(part == 0),
        np.flatnonzero(part == 1),
        np.flatnonzero(part == 2),
    )


def _encode_target(
    y: np.ndarray, task: str, source: str
) -> tuple[np.ndarray, list[str]]:
    """Classes as `0 .. n - 1` (and their labels), or a float regression target."""
    if task == "classification":
        classes, codes = distinct_values(y)
        if codes is None:
            classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DataError(
                f"{source} holds a single class "
                f"({classes[0]!r}); classification needs at least two."
            )
        return codes.astype("int32"), [str(label) for label in classes]
    if y.dtype.kind not in "biuf":
        raise DataError(
            f"{source} is not numeric (e.g. {y.flat[0]!r}), "
            "so it cannot be a regression target; use --task classification."
        )
    return y.astype("float32"), []


def make_dataset(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    task: str | None,
    val_split: float,
    test_split: float,
    seed: int,
    feature_names: list[str],
    label_source: str,
    standardize: bool,
    keep_split: int | None = None,
    target_name: str = "y",
    encode_features: Callable[[np.ndarray], tuple[np.ndarray, Any]] | None = None,
    indices: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Dataset:
    """Check, encode, split and (optionally) standardize `x`; scale a target.

    A regression target is always standardized with the training split's
    mean and standard deviation (`Dataset.target_mean`, `target_std`); the
    scores a user reads are converted back (`Dataset.in_target_units`).

    Classes are encoded as `0 .. n - 1` (their labels kept in
    `class_names`); `keep_split` keeps a file's own split, its first
    `keep_split` samples training; else the split is stratified for
    classification. `label_source` names the target in error messages.
    `encode_features` (a table's) takes the training rows and returns the
    encoded features of every row and the fitted encoding; `x` then only
    gives the number of samples. `indices` (train, val, test) is a split
    made elsewhere (a table's by row hash).

    Raises:
        DataError: Mismatched or empty arrays, a single class, a
            non-numeric regression target, or a split that leaves nothing.
    """
    check_task(task)
    if len(x) != len(y):
        raise DataError(
            f"{name}: x has {len(x)} samples but y has {len(y)}; they must match."
        )
    if len(x) == 0:
        raise DataError(f"{name} holds no samples.")
    task = task or detect_task(y)
    y, class_names = _encode_target(y, task, f"{name}: {label_source}")
    x = x.astype("float32")
    if indices is not None:
        train, val, test = indices
    elif keep_split is None:
        train, val, test = split_indices(
            len(x),
            val_split,
            test_split,
            seed,
            stratify=y if task == "classification" else None,
        )
    else:
        # The file's own split: the first `keep_split` samples train.
        train = np.arange(keep_split)
        val = np.arange(keep_split, len(x))
        test = np.arange(0)
    encoding = None
    if encode_features is not None:
        x, encoding = encode_features(train)
    if standardize:
        # Statistics of the training split only, so validation and test
        # scores stay honest.
        mean = x[train].mean(axis=0)
        std = x[train].std(axis=0)
        std[std == 0] = 1.0
        x = (x - mean) / std
    target_mean, target_std = 0.0, 1.0
    if task == "regression":
        # The same for the target: a loss in the target's squared units
        # (a price around 300,000) overflows SGD at any usual rate.
        train_target = y[train].astype("float64")
        target_mean = float(train_target.mean())
        target_std = float(train_target.std()) or 1.0
        y = ((y.astype("float64") - target_mean) / target_std).astype("float32")
    return Dataset(
        name=name,
        task=task,
        # `np.take`: the rows of `x[rows]`, copied faster.
        x_train=np.take(x, train, axis=0),
        y_train=np.take(y, train, axis=0),
        x_val=np.take(x, val, axis=0),
        y_val=np.take(y, val, axis=0),
        x_test=np.take(x, test, axis=0) if len(test) else None,
        y_test=np.take(y, test, axis=0) if len(test) else None,
        class_names=class_names,
        feature_names=feature_names,
        target_mean=target_mean,
        target_std=target_std,
        target_name=target_name,
        encoding=encoding,
    )
