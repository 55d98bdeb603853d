"""Data for the `lrdecay` command: the bundled default and the user's own.

The default is scikit-learn's digits (1,797 8x8 images, 10 classes, shipped
inside scikit-learn, so nothing is downloaded), split into train, validation
and test sets with a fixed seed, and a small dense model for it. A user's own
data is a CSV file with a target column or an `.npz` file holding `x` and `y`;
whether it is a classification or a regression problem is detected from the
target (or given). A user's own model is named as `module:function`.

Everything here imports numpy and the standard library only (scikit-learn for
the digits); Keras is imported when a model is built, so bad input is reported
before TensorFlow loads.

Example:

```python
from lrdecay.cli import data

dataset = data.load_dataset("houses.csv", target="price")
dataset.task            # "regression"
build = data.default_model_builder(dataset)
model = build()         # a compiled keras.Model
```
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import importlib.util
import inspect
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

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


class DataError(ValueError):
    """Input data that cannot be used; the message names the bad value."""


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
    return (
        "classification" if len(np.unique(y)) <= MAX_DETECTED_CLASSES else "regression"
    )


def check_task(task: str | None) -> None:
    if task is not None and task not in TASKS:
        raise DataError(
            f"Unknown task {task!r}: use one of {', '.join(TASKS)} "
            "(or leave it out to detect it from the target)."
        )


def check_fraction(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise DataError(f"{name} must be a fraction in [0, 1). Received: {value!r}")


def split_indices(
    n_samples: int,
    val_split: float,
    test_split: float,
    seed: int,
    stratify: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffled (train, val, test) index arrays, stratified when asked."""
    check_fraction("--val-split", val_split)
    check_fraction("--test-split", test_split)
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
        order = rng.permutation(n_samples)
    else:
        # Interleave the classes so every contiguous slice of `order` holds
        # them in about their overall proportions.
        keys = np.empty(n_samples)
        for label in np.unique(stratify):
            members = np.flatnonzero(stratify == label)
            members = rng.permutation(members)
            keys[members] = (np.arange(len(members)) + rng.random()) / len(members)
        order = np.lexsort((rng.random(n_samples), keys))
    test = np.sort(order[:n_test])
    val = np.sort(order[n_test : n_test + n_val])
    train = np.sort(order[n_test + n_val :])
    return train, val, test


def _make_dataset(
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
) -> Dataset:
    check_task(task)
    if len(x) != len(y):
        raise DataError(
            f"{name}: x has {len(x)} samples but y has {len(y)}; they must match."
        )
    if len(x) == 0:
        raise DataError(f"{name} holds no samples.")
    task = task or detect_task(y)
    class_names: list[str] = []
    if task == "classification":
        classes, y = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DataError(
                f"{name}: {label_source} holds a single class "
                f"({classes[0]!r}); classification needs at least two."
            )
        class_names = [str(label) for label in classes]
        y = y.astype("int32")
    else:
        if y.dtype.kind not in "biuf":
            raise DataError(
                f"{name}: {label_source} is not numeric (e.g. {y.flat[0]!r}), "
                "so it cannot be a regression target; use --task classification."
            )
        y = y.astype("float32")
    x = x.astype("float32")
    if keep_split is None:
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
    if standardize:
        # Statistics of the training split only, so validation and test
        # scores stay honest.
        mean = x[train].mean(axis=0)
        std = x[train].std(axis=0)
        std[std == 0] = 1.0
        x = (x - mean) / std
    return Dataset(
        name=name,
        task=task,
        x_train=x[train],
        y_train=y[train],
        x_val=x[val],
        y_val=y[val],
        x_test=x[test] if len(test) else None,
        y_test=y[test] if len(test) else None,
        class_names=class_names,
        feature_names=feature_names,
    )


# --------------------------------------------------------------------------
# The bundled default


def load_digits(
    val_split: float = 0.2, test_split: float = 0.2, seed: int = DEFAULT_SPLIT_SEED
) -> Dataset:
    """scikit-learn's digits, scaled to [0, 1], stratified train/val/test.

    Args:
        val_split: Float. Fraction held out for validation. Defaults to `0.2`.
        test_split: Float. Fraction held out for the final test. Defaults to
            `0.2`.
        seed: Int. Seed of the split. Defaults to `0`.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    x, y = sklearn_digits(return_X_y=True)
    return _make_dataset(
        "digits",
        x / 16.0,
        y,
        "classification",
        val_split,
        test_split,
        seed,
        feature_names=[f"pixel_{i}" for i in range(x.shape[1])],
        label_source="the digit labels",
        standardize=False,
    )


# --------------------------------------------------------------------------
# The user's data


def load_dataset(
    path: str | os.PathLike[str] | None = None,
    target: str | None = None,
    task: str | None = None,
    val_split: float = 0.2,
    test_split: float = 0.0,
    seed: int = DEFAULT_SPLIT_SEED,
) -> Dataset:
    """Load the bundled digits (no `path`) or a user's CSV or `.npz` file.

    A CSV needs a header row and the name of the `target` column; every
    other column is a numeric feature. An `.npz` holds arrays `x` (samples
    first) and `y`, or `x_train`, `y_train`, `x_val`, `y_val` for a given
    split. Features of user data are standardized with the training split's
    mean and standard deviation.

    Args:
        path: Path or `None`. The data file; `None` for the digits.
        target: String. The CSV target column. Required for CSV.
        task: `"classification"`, `"regression"` or `None` to detect it.
        val_split: Float. Fraction of the data for validation. Defaults to
            `0.2`.
        test_split: Float. Fraction held out for a final test. Defaults to
            `0.0` for user data.
        seed: Int. Seed of the shuffle before the split. Defaults to `0`.

    Raises:
        DataError: A missing file, an unknown format, a missing target
            column, non-numeric features, missing values; the message names
            the bad value.
    """
    check_task(task)
    if path is None:
        if target is not None:
            raise DataError(
                f"--target {target!r} needs --data FILE (the bundled digits "
                "data has no columns to choose)."
            )
        if task == "regression":
            raise DataError(
                "The bundled digits data is a classification problem; "
                "--task regression needs --data FILE."
            )
        return load_digits(val_split, 0.2 if test_split == 0 else test_split, seed)
    file = Path(path)
    if not file.exists():
        raise DataError(f"Data file not found: {str(file)!r}")
    if not file.is_file():
        raise DataError(f"Data path is not a file: {str(file)!r}")
    suffix = file.suffix.lower()
    if suffix == ".npz":
        if target is not None:
            raise DataError(
                f"--target {target!r} applies to CSV files; {file.name!r} is an "
                ".npz file whose target is its array 'y'."
            )
        return _load_npz(file, task, val_split, test_split, seed)
    if suffix in (".csv", ".tsv", ".txt"):
        return _load_csv(file, target, task, val_split, test_split, seed)
    raise DataError(
        f"Unknown data format {suffix or '(no extension)'!r} of {str(file)!r}: "
        "use a .csv file (with --target COLUMN) or an .npz file holding x and y."
    )


def _load_csv(
    file: Path,
    target: str | None,
    task: str | None,
    val_split: float,
    test_split: float,
    seed: int,
) -> Dataset:
    delimiter = "\t" if file.suffix.lower() == ".tsv" else ","
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle, delimiter=delimiter))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"Cannot read CSV file {str(file)!r}: {error}") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise DataError(f"CSV file {str(file)!r} is empty.")
    header = [name.strip() for name in rows[0]]
    if target is None:
        raise DataError(
            f"--data {str(file)!r} is a CSV file: name its target column with "
            f"--target (columns: {_column_list(header)})."
        )
    if target not in header:
        raise DataError(
            f"Target column {target!r} not found in {str(file)!r} "
            f"(columns: {_column_list(header)})."
        )
    if len(header) < 2:
        raise DataError(f"CSV file {str(file)!r} has no feature columns.")
    body = rows[1:]
    if not body:
        raise DataError(f"CSV file {str(file)!r} has a header but no rows.")
    target_index = header.index(target)
    feature_index = [i for i in range(len(header)) if i != target_index]
    features = np.empty((len(body), len(feature_index)), dtype="float64")
    labels: list[str] = []
    for row_number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(
                f"{file.name} line {row_number}: {len(row)} fields, but the "
                f"header has {len(header)}."
            )
        labels.append(row[target_index].strip())
        for column, index in enumerate(feature_index):
            cell = row[index].strip()
            try:
                value = float(cell)
            except ValueError:
                value = math.nan
                if cell:
                    raise DataError(
                        f"Feature column {header[index]!r} of {file.name} is "
                        f"not numeric: line {row_number} holds {cell!r}. Encode "
                        "it as numbers, or drop the column."
                    ) from None
            if not math.isfinite(value):
                raise DataError(
                    f"Feature column {header[index]!r} of {file.name} has a "
                    f"missing or non-finite value at line {row_number}: "
                    f"{cell!r}."
                )
            features[row_number - 2, column] = value
    if any(label == "" for label in labels):
        line = labels.index("") + 2
        raise DataError(
            f"Target column {target!r} of {file.name} is empty at line {line}."
        )
    y = _numeric_or_text(labels)
    return _make_dataset(
        file.name,
        features,
        y,
        task,
        val_split,
        test_split,
        seed,
        feature_names=[header[i] for i in feature_index],
        label_source=f"target column {target!r}",
        standardize=True,
    )


def _column_list(header: list[str]) -> str:
    shown = ", ".join(repr(name) for name in header[:20])
    return shown + (f", ... ({len(header)} in all)" if len(header) > 20 else "")


def _numeric_or_text(labels: list[str]) -> np.ndarray:
    try:
        values = np.array([float(label) for label in labels])
    except ValueError:
        return np.array(labels)
    if np.all(np.isfinite(values)) and np.all(np.mod(values, 1) == 0):
        return values.astype("int64")
    return values


def _load_npz(
    file: Path, task: str | None, val_split: float, test_split: float, seed: int
) -> Dataset:
    try:
        with np.load(file, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:
        raise DataError(f"Cannot read .npz file {str(file)!r}: {error}") from None
    presplit = {"x_train", "y_train", "x_val", "y_val"}
    if presplit <= arrays.keys():
        x = np.concatenate([arrays["x_train"], arrays["x_val"]])
        y = np.concatenate([arrays["y_train"], arrays["y_val"]])
    elif {"x", "y"} <= arrays.keys():
        x, y = arrays["x"], arrays["y"]
    else:
        raise DataError(
            f".npz file {str(file)!r} must hold arrays 'x' and 'y' (or x_train, "
            f"y_train, x_val, y_val). It holds: {sorted(arrays) or 'nothing'}."
        )
    if x.dtype.kind not in "biuf":
        raise DataError(
            f"Array 'x' of {file.name} is not numeric (dtype {x.dtype}); "
            "features must be numbers."
        )
    if x.ndim < 2:
        x = x.reshape(-1, 1)
    if not np.all(np.isfinite(x)):
        raise DataError(f"Array 'x' of {file.name} holds NaN or infinite values.")
    y = np.squeeze(y) if y.ndim > 1 and y.shape[1:] == (1,) * (y.ndim - 1) else y
    if y.ndim != 1:
        raise DataError(
            f"Array 'y' of {file.name} must hold one target per sample. "
            f"Received shape {y.shape}."
        )
    n_train = len(arrays["x_train"]) if presplit <= arrays.keys() else None
    dataset = _make_dataset(
        file.name,
        x,
        y,
        task,
        val_split if n_train is None else 0.5,
        test_split if n_train is None else 0.0,
        seed,
        feature_names=[f"x{i}" for i in range(int(np.prod(x.shape[1:])))],
        label_source="array 'y'",
        standardize=x.ndim == 2,
        keep_split=n_train,
    )
    return dataset


# --------------------------------------------------------------------------
# Models


def default_model_builder(
    dataset: Dataset, units: int = 32, learning_rate: float = 0.1
) -> Callable[[], Any]:
    """A builder of a small dense Keras model for `dataset`.

    One hidden `Dense(units, relu)` layer; softmax output and sparse
    categorical cross-entropy (plus accuracy) for classification, a linear
    output and mean squared error (plus mean absolute error) for regression;
    SGD at `learning_rate`, which the decay then changes.

    Args:
        dataset: `Dataset`. Gives the input shape, task and output count.
        units: Int. Width of the hidden layer. Defaults to `32`.
        learning_rate: Float. The SGD rate the model is compiled with.
            Defaults to `0.1`.
    """
    input_shape = dataset.input_shape
    task = dataset.task
    num_outputs = dataset.num_outputs

    def build_model() -> Any:
        import keras

        layers: list[Any] = [keras.Input(input_shape)]
        if len(input_shape) > 1:
            layers.append(keras.layers.Flatten())
        layers.append(keras.layers.Dense(units, activation="relu"))
        if task == "classification":
            layers.append(keras.layers.Dense(num_outputs, activation="softmax"))
            loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
        else:
            layers.append(keras.layers.Dense(1))
            loss, metrics = "mean_squared_error", ["mean_absolute_error"]
        model = keras.Sequential(layers)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
            loss=loss,
            metrics=metrics,
        )
        return model

    return build_model


# Keyword arguments a user's `module:function` model builder may declare.
MODEL_BUILDER_ARGUMENTS = ("hp", "input_shape", "num_outputs", "task")


def load_model_builder(spec: str, dataset: Dataset) -> Callable[[Any], Any]:
    """Resolve `module:function` (or `path/to/file.py:function`) to a builder.

    The function returns a compiled Keras model. It may take any of the
    keyword arguments `hp` (KerasTuner's HyperParameters, to search more than
    the decay), `input_shape`, `num_outputs` (classes, or 1) and `task`;
    it gets the ones it names. The current directory is importable, as
    for `python -m`.

    Raises:
        DataError: The spec is malformed, the module cannot be imported, the
            function is missing or not callable, or it asks for an argument
            not in the list above.
    """
    module_name, sep, function_name = spec.rpartition(":")
    if not sep or not module_name or not function_name:
        raise DataError(
            f"--model must look like module:function or path/file.py:function. "
            f"Received: {spec!r}"
        )
    module = _import_user_module(module_name, spec)
    function = getattr(module, function_name, None)
    if function is None:
        raise DataError(
            f"--model {spec!r}: module {module_name!r} has no attribute "
            f"{function_name!r}."
        )
    if not callable(function):
        raise DataError(
            f"--model {spec!r}: {function_name!r} is not a function "
            f"(it is a {type(function).__name__})."
        )
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    takes_kwargs = any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD
        for parameter in parameters.values()
    )
    unknown = [
        name
        for name, parameter in parameters.items()
        if name not in MODEL_BUILDER_ARGUMENTS
        and parameter.default is inspect.Parameter.empty
        and parameter.kind
        not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if unknown:
        raise DataError(
            f"--model {spec!r}: the function takes {unknown[0]!r}, but lrdecay "
            f"can only pass {', '.join(MODEL_BUILDER_ARGUMENTS)}."
        )
    available = {
        "input_shape": dataset.input_shape,
        "num_outputs": dataset.num_outputs,
        "task": dataset.task,
    }
    wanted = [
        name for name in MODEL_BUILDER_ARGUMENTS if takes_kwargs or name in parameters
    ]

    def build_model(hp: Any) -> Any:
        kwargs = {name: available.get(name, hp) for name in wanted}
        return function(**kwargs)

    build_model.__name__ = getattr(function, "__name__", "build_model")
    build_model.__qualname__ = build_model.__name__
    return build_model


def _import_user_module(module_name: str, spec: str) -> Any:
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise DataError(f"--model {spec!r}: file {module_name!r} not found.")
        import_spec = importlib.util.spec_from_file_location(path.stem, path)
        if import_spec is None or import_spec.loader is None:
            raise DataError(f"--model {spec!r}: cannot import {module_name!r}.")
        module = importlib.util.module_from_spec(import_spec)
        sys.modules[path.stem] = module
        try:
            import_spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[path.stem]
            raise DataError(
                f"--model {spec!r}: importing {module_name!r} failed: "
                f"{type(error).__name__}: {error}"
            ) from None
        return module
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise DataError(
            f"--model {spec!r}: cannot import module {module_name!r} ({error}); "
            "run from the directory that holds it, or give a path to the file."
        ) from None
    except Exception as error:
        raise DataError(
            f"--model {spec!r}: importing {module_name!r} failed: "
            f"{type(error).__name__}: {error}"
        ) from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
