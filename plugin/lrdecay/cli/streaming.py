"""A table larger than memory, read in chunks: split by row hash, fed by tf.data.

`stream_table` never holds more than one chunk of the file (`CHUNK_ROWS`
rows) and its encoded batches. It reads the file once to fit the encoding on
the training rows (a numeric column's mean and variance merged chunk by
chunk, a categorical column's values), then once per epoch per split, in the
file's order. A row's split is a stable hash of its values and the seed
(`row_hashes`, `hash_split`), not a shuffle of the whole: the same file and
seed give the same split on every read and every machine, and the in-memory
path with `split="hash"` gives the same rows and the same features
(`lrdecay.cli.data.load_dataset`).

What holds for a search (`lrdecay.search(build, streamed.train(),
validation_data=streamed.val())`): every epoch of every trial reads the same
batches in the same order, the file's; a dataset above
`lrdecay.tuning.data.readers.BUDGET_BYTES` is read by each trial as
`model.fit` reads it, and nothing is shared between trials (the search says
so once).

Limits: the column kinds are guessed on the first chunk (name others with
`--categorical` / `--numeric`); `--impute` needs the in-memory path (a
median is not a streaming statistic); classification targets are stratified
only in expectation.

Example:

```python
from lrdecay.cli import streaming

table = streaming.stream_table("big.csv", target="label", batch_size=256)
model.fit(table.train(), validation_data=table.val(), epochs=5)
```
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lrdecay.cli import columns, encoding, tables
from lrdecay.cli.columns import TableOptions
from lrdecay.cli.dataset import (
    DEFAULT_SPLIT_SEED,
    DataError,
    Dataset,
    check_split,
    check_task,
    detect_task,
)

__all__ = [
    "StreamedTable",
    "hash_split",
    "row_hashes",
    "split_codes",
    "stream_table",
    "table_chunks",
]

# Rows read at a time: ~20 columns x 100k rows stay in tens of MiB.
CHUNK_ROWS = 100_000
# pandas holds a table read whole in about this many times its file's bytes
# (the frame, its checked columns and the encoded splits; measured on a
# 20-column CSV, benchmarks/bench_tabular.py): the file streams above
# `TableOptions.memory_budget / IN_MEMORY_FACTOR`.
IN_MEMORY_FACTOR = 10
TRAIN, VAL, TEST = 0, 1, 2


def row_hashes(
    features: Mapping[str, np.ndarray], y: np.ndarray, seed: int
) -> np.ndarray:
    """A stable 64-bit hash of each row's values (as read) and the seed."""
    import pandas as pd

    frame = pd.DataFrame({**features, "__target__": y})
    key = f"{seed % 10**16:016d}"  # pandas takes a 16-character key
    return pd.util.hash_pandas_object(frame, index=False, hash_key=key).to_numpy()


def hash_split(hashes: np.ndarray, val_split: float, test_split: float) -> np.ndarray:
    """Each row's split (`TRAIN`, `VAL`, `TEST`) from its hash: uniform in [0, 1)."""
    uniform = (hashes >> np.uint64(11)).astype("float64") / 2.0**53
    codes = np.full(len(hashes), TRAIN, dtype="int8")
    codes[uniform < test_split + val_split] = VAL
    codes[uniform < test_split] = TEST
    return codes


@dataclasses.dataclass(frozen=True)
class StreamedTable:
    """A table's splits as `tf.data` pipelines that read the file each epoch.

    Attributes:
        file: `Path`. The table.
        task: String. `"classification"` or `"regression"`.
        encoding: `lrdecay.cli.encoding.TableEncoding`, fitted on the
            training rows.
        class_names: List of strings (classification).
        target_mean, target_std: Floats. A regression target's training
            statistics (the pipelines yield it standardized).
        sizes: Dict. Rows per split: `{"train": ..., "val": ..., "test": ...}`.
    """

    file: Path
    target: str
    task: str
    encoding: Any
    class_names: list[str]
    target_mean: float
    target_std: float
    sizes: Mapping[str, int]
    options: TableOptions
    split: tuple[float, float, int]
    batch_size: int
    class_values: np.ndarray

    def train(self) -> Any:
        """The training rows, encoded, in `batch_size` batches."""
        return self._pipeline(TRAIN)

    def val(self) -> Any:
        """The validation rows."""
        return self._pipeline(VAL)

    def test(self) -> Any:
        """The held-out test rows."""
        return self._pipeline(TEST)

    def _pipeline(self, code: int) -> Any:
        import tensorflow as tf

        width = self._width()
        label = (
            tf.TensorSpec((None,), tf.int32)
            if self.task == "classification"
            else tf.TensorSpec((None,), tf.float32)
        )
        signature = (tf.TensorSpec((None, width), tf.float32), label)
        rows = self.sizes[("train", "val", "test")[code]]
        batches = -(-rows // self.batch_size)
        # Its length, known from the first pass: Keras counts its steps.
        return tf.data.Dataset.from_generator(
            lambda: self._batches(code), output_signature=signature
        ).apply(tf.data.experimental.assert_cardinality(batches))

    def to_dataset(self, memory_budget: int | None = None) -> Dataset:
        """The encoded splits as arrays, read in one more pass of the file.

        Only the encoded rows are held (float32, one column per one-hot
        slot), never the file's text: a table too large for pandas can
        still fit as its features.

        Args:
            memory_budget: Int or `None`. Bytes the arrays may take.

        Raises:
            DataError: The encoded arrays would take more than
                `memory_budget`.
        """
        width = self._width()
        total = sum(self.sizes.values())
        needed = total * (width + 1) * 4
        if memory_budget is not None and needed > memory_budget:
            raise DataError(
                f"{self.file.name}: its {total:,} encoded rows take "
                f"{needed / 2**20:,.0f} MiB, above --memory-budget "
                f"({memory_budget / 2**20:,.0f} MiB). Raise the budget, or "
                "search from Python on lrdecay.cli.streaming.stream_table's "
                "tf.data pipelines."
            )
        label = "int32" if self.task == "classification" else "float32"
        splits = ("train", "val", "test")
        x = {name: np.empty((self.sizes[name], width), "float32") for name in splits}
        y = {name: np.empty(self.sizes[name], label) for name in splits}
        filled = dict.fromkeys(splits, 0)
        chunks = _chunks(self.file, self.target, self.encoding.kinds, self.options)
        for features, target in chunks:
            codes = split_codes(features, target, self.split)
            encoded = self.encoding.transform(features)
            labels = self._encode_target(target)
            for code, name in enumerate(splits):
                rows = codes == code
                start, end = filled[name], filled[name] + int(rows.sum())
                x[name][start:end], y[name][start:end] = encoded[rows], labels[rows]
                filled[name] = end
        return Dataset(
            # Said in the banner: this split is not the seeded stratified one.
            name=f"{self.file.name} (streamed, split by row hash)",
            task=self.task,
            x_train=x["train"],
            y_train=y["train"],
            x_val=x["val"],
            y_val=y["val"],
            x_test=x["test"] if self.sizes["test"] else None,
            y_test=y["test"] if self.sizes["test"] else None,
            class_names=self.class_names,
            feature_names=list(self.encoding.kinds),
            target_mean=self.target_mean,
            target_std=self.target_std,
            target_name=self.target,
            encoding=self.encoding,
        )

    def _width(self) -> int:
        row = _example_row(self.encoding)
        return int(self.encoding.transform(row).shape[1])

    def _batches(self, code: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        pending_x: list[np.ndarray] = []
        pending_y: list[np.ndarray] = []
        held = 0
        chunks = _chunks(self.file, self.target, self.encoding.kinds, self.options)
        for features, y in chunks:
            rows = split_codes(features, y, self.split) == code
            if not rows.any():
                continue
            pending_x.append(
                self.encoding.transform({n: v[rows] for n, v in features.items()})
            )
            pending_y.append(self._encode_target(y[rows]))
            held += int(rows.sum())
            while held >= self.batch_size:
                x, y_all = np.concatenate(pending_x), np.concatenate(pending_y)
                cut = held - held % self.batch_size
                for start in range(0, cut, self.batch_size):
                    yield (
                        x[start : start + self.batch_size],
                        y_all[start : start + self.batch_size],
                    )
                pending_x, pending_y, held = [x[cut:]], [y_all[cut:]], held - cut
        if held:
            yield np.concatenate(pending_x), np.concatenate(pending_y)

    def _encode_target(self, y: np.ndarray) -> np.ndarray:
        if self.task == "classification":
            return np.searchsorted(self.class_values, y).astype("int32")
        return ((y.astype("float64") - self.target_mean) / self.target_std).astype(
            "float32"
        )


def stream_table(
    path: str | os.PathLike[str],
    target: str,
    task: str | None = None,
    val_split: float = 0.2,
    test_split: float = 0.2,
    seed: int = DEFAULT_SPLIT_SEED,
    batch_size: int = 32,
    table_options: TableOptions | None = None,
) -> StreamedTable:
    """Read a CSV, TSV or Parquet table once to fit its encoding; stream it after.

    Args:
        path: Path. The table.
        target: String. The target column.
        task: `"classification"`, `"regression"` or `None` to detect it.
        val_split, test_split: Floats. The expected fractions of rows each
            split gets (by row hash).
        seed: Int. Seed of the row hash. Defaults to `0`.
        batch_size: Int. Rows per batch the pipelines yield.
        table_options: `TableOptions` or `None`. `--categorical`,
            `--numeric`; `--impute` is refused.

    Raises:
        DataError: What `load_dataset` raises for the same table, and
            `--impute`.
    """
    check_task(task)
    check_split("--val-split", val_split)
    check_split("--test-split", test_split)
    options = table_options or TableOptions()
    if options.impute:
        raise DataError(
            "--impute needs the table in memory (a median is not a streaming "
            "statistic): fill the gaps in the file, or raise the memory budget."
        )
    file = Path(path)
    if not file.is_file():
        raise DataError(f"Data file not found: {str(file)!r}")
    first = next(table_chunks(file))
    tables.check_frame(first, file, target)
    kinds = columns.feature_kinds(first, target, options, file.name)
    statistics, targets, sizes = _fit(
        file, target, kinds, options, (val_split, test_split, seed)
    )
    if sizes["train"] == 0 or sizes["val"] == 0:
        raise DataError(
            f"Too few rows in {file.name} to split into train and validation "
            f"sets by row hash with --val-split {val_split}."
        )
    task = task or detect_task(targets["values"])
    class_values = targets["values"] if task == "classification" else np.array([])
    mean, std = 0.0, 1.0
    if task == "regression":
        if targets["values"].dtype.kind not in "biuf":
            raise DataError(
                f"Target column {target!r} of {file.name} is not numeric, so it "
                "cannot be a regression target; use --task classification."
            )
        mean, variance = _finish(targets["moments"])
        std = float(np.sqrt(variance)) or 1.0
    fitted = encoding.encoding_from_statistics(kinds, statistics)
    return StreamedTable(
        file=file,
        target=target,
        task=task,
        encoding=fitted,
        class_names=[str(value) for value in class_values],
        target_mean=mean,
        target_std=std,
        sizes=sizes,
        options=options,
        split=(val_split, test_split, seed),
        batch_size=batch_size,
        class_values=class_values,
    )


# --------------------------------------------------------------------------
# Reading in chunks


def table_chunks(file: Path) -> Iterator[Any]:
    """The table's rows, `CHUNK_ROWS` at a time, as `pandas.DataFrame`s."""
    if file.suffix.lower() in tables.PARQUET_SUFFIXES:
        import pyarrow.parquet as parquet

        for batch in parquet.ParquetFile(file).iter_batches(batch_size=CHUNK_ROWS):
            frame = batch.to_pandas()
            frame.columns = [str(name).strip() for name in frame.columns]
            yield frame
        return
    import pandas as pd

    options = tables.read_options(file)
    try:
        with pd.read_csv(
            file, chunksize=CHUNK_ROWS, encoding="utf-8-sig", **options
        ) as reader:
            for frame in reader:
                frame.columns = [str(name).strip() for name in frame.columns]
                yield frame
    except pd.errors.EmptyDataError:
        raise DataError(f"CSV file {str(file)!r} is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"Cannot read CSV file {str(file)!r}: {error}") from None


def _chunks(
    file: Path, target: str, kinds: Mapping[str, str], options: TableOptions
) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
    """Each chunk's feature columns (checked, as kinds say) and target values."""
    start = 0
    for frame in table_chunks(file):
        try:
            features = columns.feature_columns(frame, kinds, options, file.name)
            y = columns.target_values(frame, target, file.name)
        except DataError as error:
            raise DataError(_shift_lines(str(error), start)) from None
        start += len(frame)
        yield features, y


def split_codes(
    features: Mapping[str, np.ndarray], y: np.ndarray, split: tuple[float, float, int]
) -> np.ndarray:
    """Each row's split code from its hash; `split` is `(val, test, seed)`."""
    val_split, test_split, seed = split
    # A chunk of whole numbers reads as integers, the next as floats: one type.
    target = y.astype("float64") if y.dtype.kind in "iuf" else y
    return hash_split(row_hashes(features, target, seed), val_split, test_split)


def _shift_lines(message: str, start: int) -> str:
    """A chunk's `line N` as the file's line."""
    import re

    return re.sub(r"line (\d+)", lambda m: f"line {int(m.group(1)) + start}", message)


def _fit(
    file: Path,
    target: str,
    kinds: Mapping[str, str],
    options: TableOptions,
    split: tuple[float, float, int],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """One pass: the training rows' statistics, the target's values, the sizes."""
    moments: dict[str, tuple[int, float, float]] = {}
    values: dict[str, set[Any]] = {}
    target_values: set[Any] = set()
    target_moments = (0, 0.0, 0.0)
    sizes = {"train": 0, "val": 0, "test": 0}
    for features, y in _chunks(file, target, kinds, options):
        codes = split_codes(features, y, split)
        train = codes == TRAIN
        for name, code in (("train", TRAIN), ("val", VAL), ("test", TEST)):
            sizes[name] += int(np.sum(codes == code))
        if len(target_values) <= 10_000:
            target_values.update(np.unique(y).tolist())
        if y.dtype.kind in "iuf":
            target_moments = _merge(target_moments, y[train])
        for name, kind in kinds.items():
            column = features[name][train]
            if kind == columns.NUMERIC:
                moments[name] = _merge(moments.get(name, (0, 0.0, 0.0)), column)
            elif kind in (columns.INTEGER_CATEGORICAL, columns.STRING_CATEGORICAL):
                values.setdefault(name, set()).update(np.unique(column).tolist())
    statistics: dict[str, Any] = {name: _finish(m) for name, m in moments.items()}
    statistics.update({name: np.array(sorted(v)) for name, v in values.items()})
    targets = {"values": np.array(sorted(target_values)), "moments": target_moments}
    return statistics, targets, sizes


def _merge(
    moments: tuple[int, float, float], values: np.ndarray
) -> tuple[int, float, float]:
    """Count, mean and sum of squared deviations, merged (Chan et al.)."""
    count, mean, m2 = moments
    if len(values) == 0:
        return moments
    values = values.astype("float64")
    n, batch_mean = len(values), float(values.mean())
    batch_m2 = float(np.sum((values - batch_mean) ** 2))
    total = count + n
    delta = batch_mean - mean
    return total, mean + delta * n / total, m2 + batch_m2 + delta**2 * count * n / total


def _finish(moments: tuple[int, float, float]) -> tuple[float, float]:
    count, mean, m2 = moments
    return mean, (m2 / count if count else 0.0)


def _example_row(fitted: Any) -> dict[str, np.ndarray]:
    """One row of the right dtypes, to learn the encoded width."""
    row: dict[str, np.ndarray] = {}
    for name, kind in fitted.kinds.items():
        if kind == columns.NUMERIC:
            row[name] = np.zeros(1, dtype="float32")
        elif kind in (columns.INTEGER_CATEGORICAL, columns.INTEGER_HASHED):
            row[name] = np.zeros(1, dtype="int64")
        else:
            row[name] = np.array([""])
    return row
