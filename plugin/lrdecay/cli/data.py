"""Data for the `lrdecay` command: the bundled default and the user's own.

The default is scikit-learn's digits (1,797 8x8 images, 10 classes, shipped
inside scikit-learn, so nothing is downloaded), split into train, validation
and test sets with a fixed seed. A user's own data is a table with a
target column (CSV, TSV or Parquet: `lrdecay.cli.tables`) or an `.npz`
file holding `x` and `y`. Each becomes a
`lrdecay.cli.dataset.Dataset`; `lrdecay.cli.models` builds a model for it.

Bad input is reported before TensorFlow loads: a table is read and checked
with pandas, and only then encoded by Keras.

Example:

```python
from lrdecay.cli import data

dataset = data.load_dataset("houses.csv", target="price")
dataset.task            # "regression"
dataset.describe()      # "houses.csv: regression, 3 features, 64 train / 16 val"
```
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from lrdecay.cli import columns, encoding, streaming, tables
from lrdecay.cli.columns import TableOptions
from lrdecay.cli.dataset import (
    DEFAULT_SPLIT_SEED,
    DataError,
    Dataset,
    check_task,
    make_dataset,
)

__all__ = [
    "DEFAULT_SPLIT_SEED",
    "DataError",
    "Dataset",
    "TableOptions",
    "load_dataset",
    "load_digits",
]


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
    table_options: TableOptions | None = None,
    split: str = "seeded",
) -> Dataset:
    """Load the bundled digits (no `path`) or a user's table or `.npz` file.

    A table (CSV, TSV or Parquet) needs a header row and the name of the
    `target` column; every other column is a feature, numeric or categorical
    (`lrdecay.cli.columns`), encoded by a `keras.utils.FeatureSpace` fitted
    on the training split (`lrdecay.cli.encoding`; kept in
    `Dataset.encoding`). An `.npz` holds arrays `x` (samples first) and `y`,
    or `x_train`, `y_train`, `x_val`, `y_val` for a given split; its
    features are standardized with the training split's mean and standard
    deviation.

    Args:
        path: Path or `None`. The data file; `None` for the digits.
        target: String. The CSV target column. Required for CSV.
        task: `"classification"`, `"regression"` or `None` to detect it.
        val_split: Float. Fraction of the data for validation. Defaults to
            `0.2`.
        test_split: Float. Fraction held out for a final test. Defaults to
            `0.0` for user data.
        seed: Int. Seed of the shuffle before the split. Defaults to `0`.
        table_options: `TableOptions` or `None`. A table's
            `--categorical`, `--numeric`, `--impute` and `--memory-budget`.
            Defaults to guessing every column, stopping at a missing value,
            and a budget of 1024 MiB.
        split: `"seeded"` (a shuffle of the rows by `seed`, stratified for
            classes) or `"hash"` (a table's rows by a stable hash of their
            values and `seed`, as `lrdecay.cli.streaming` splits a table
            too large for memory). Defaults to `"seeded"`.

    Raises:
        DataError: A missing file, an unknown format, a missing target
            column, a word in a numeric column, missing values; the message
            names the bad value and the option that fixes it.
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
        if table_options is not None and table_options != TableOptions():
            raise DataError(
                "--categorical, --numeric and --impute apply to a table "
                "(--data FILE); the bundled digits are all numeric."
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
    if suffix in tables.DELIMITED_SUFFIXES + tables.PARQUET_SUFFIXES:
        if split not in ("seeded", "hash"):
            raise DataError(f"Unknown split {split!r}: use 'seeded' or 'hash'.")
        fractions = (val_split, test_split, seed)
        options = table_options or TableOptions()
        return _load_table(file, target, task, fractions, options, split == "hash")
    raise DataError(
        f"Unknown data format {suffix or '(no extension)'!r} of {str(file)!r}: "
        "use a .csv, .tsv or .parquet file (with --target COLUMN) or an .npz "
        "file holding x and y."
    )


def _load_table(
    file: Path,
    target: str | None,
    task: str | None,
    split: tuple[float, float, int],
    options: TableOptions,
    by_hash: bool = False,
) -> Dataset:
    """A CSV, TSV or Parquet table: its columns checked, then encoded per split.

    A file above a tenth of the memory budget is streamed
    (`lrdecay.cli.streaming`): split by row hash, only its encoded rows kept.
    """
    if file.stat().st_size * streaming.IN_MEMORY_FACTOR > options.memory_budget:
        if target is None:
            tables.check_frame(next(streaming.table_chunks(file)), file, target)
        assert target is not None
        val_split, test_split, seed = split
        streamed = streaming.stream_table(
            file, target, task, val_split, test_split, seed, table_options=options
        )
        return streamed.to_dataset(options.memory_budget)
    frame = tables.read_table(file, target)
    assert target is not None  # read_table raises without one
    y = columns.target_values(frame, target, file.name)
    kinds = columns.feature_kinds(frame, target, options, file.name)
    features = columns.feature_columns(frame, kinds, options, file.name)
    del frame

    def encode(train: np.ndarray) -> tuple[np.ndarray, Any]:
        complete, fills = columns.impute(features, kinds, train)
        fitted = encoding.fit_encoding(complete, kinds, train, fills)
        return fitted.transform(complete), fitted

    indices = None
    if by_hash:
        codes = streaming.split_codes(features, y, split)
        train, val, test = (np.flatnonzero(codes == code) for code in range(3))
        indices = (train, val, test)
    val_split, test_split, seed = split
    return make_dataset(
        file.name,
        np.empty((len(y), 0), dtype="float32"),
        y,
        task,
        val_split,
        test_split,
        seed,
        feature_names=list(kinds),
        label_source=f"target column {target!r}",
        target_name=target,
        standardize=False,
        encode_features=encode,
        indices=indices,
    )


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
