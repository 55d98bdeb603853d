"""Data for the `lrdecay` command: the bundled default and the user's own.

The default is scikit-learn's digits (1,797 8x8 images, 10 classes, shipped
inside scikit-learn, so nothing is downloaded), split into train, validation
and test sets with a fixed seed. A user's own data is a CSV file with a
target column or an `.npz` file holding `x` and `y`. Each becomes a
`lrdecay.cli.dataset.Dataset`; `lrdecay.cli.models` builds a model for it.

Everything here imports numpy and the standard library only (scikit-learn for
the digits), so bad input is reported before TensorFlow loads.

Example:

```python
from lrdecay.cli import data

dataset = data.load_dataset("houses.csv", target="price")
dataset.task            # "regression"
dataset.describe()      # "houses.csv: regression, 3 features, 64 train / 16 val"
```
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from lrdecay.cli.dataset import (
    DEFAULT_SPLIT_SEED,
    DataError,
    Dataset,
    check_task,
    make_dataset,
)

__all__ = ["DEFAULT_SPLIT_SEED", "DataError", "Dataset", "load_dataset", "load_digits"]


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
    return make_dataset(
        "digits",
        x / 16.0,
        y,
        "classification",
        val_split,
        test_split,
        seed,
        feature_names=[f"pixel_{i}" for i in range(x.shape[1])],
        label_source="the digit labels",
        target_name="digit",
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
            features[row_number - 2, column] = _feature_value(
                row[index], header[index], file.name, row_number
            )
    if any(label == "" for label in labels):
        line = labels.index("") + 2
        raise DataError(
            f"Target column {target!r} of {file.name} is empty at line {line}."
        )
    y = _numeric_or_text(labels)
    return make_dataset(
        file.name,
        features,
        y,
        task,
        val_split,
        test_split,
        seed,
        feature_names=[header[i] for i in feature_index],
        label_source=f"target column {target!r}",
        target_name=target,
        standardize=True,
    )


def _feature_value(text: str, column: str, file_name: str, line: int) -> float:
    cell = text.strip()
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
        if cell:
            raise DataError(
                f"Feature column {column!r} of {file_name} is "
                f"not numeric: line {line} holds {cell!r}. Encode "
                "it as numbers, or drop the column."
            ) from None
    if not math.isfinite(value):
        raise DataError(
            f"Feature column {column!r} of {file_name} has a "
            f"missing or non-finite value at line {line}: "
            f"{cell!r}."
        )
    return value


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
    dataset = make_dataset(
        file.name,
        x,
        y,
        task,
        val_split if n_train is None else 0.5,
        test_split if n_train is None else 0.0,
        seed,
        feature_names=[f"x{i}" for i in range(int(np.prod(x.shape[1:])))],
        label_source="array 'y'",
        target_name="y",
        standardize=x.ndim == 2,
        keep_split=n_train,
    )
    return dataset
