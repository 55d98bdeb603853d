"""A table's columns as a model's inputs, through `keras.utils.FeatureSpace`.

`fit_encoding` builds the feature space of a table from the training rows
only: numeric columns normalized with the training split's mean and variance,
categorical ones one-hot encoded over the training split's values (a value
first seen later goes to an out-of-vocabulary slot), or hashed. The fitted
`TableEncoding` turns every split into the same float32 matrix, lists itself
as run params (`describe`), and saves its `FeatureSpace` (a Keras layer) so a
later prediction sees the same features (`save`).

Example:

```python
from lrdecay.cli import encoding

fitted = encoding.fit_encoding(columns, kinds, train_rows)
x = fitted.transform(columns)   # float32, one row per table row
fitted.describe()       # {"encoding.city": "string_categorical (12 values)"}
fitted.save("feature_space.keras")  # keras.saving.load_model reads it
```
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from lrdecay.cli import columns as column_kinds
from lrdecay.cli.dataset import distinct_values

__all__ = ["TableEncoding", "encoding_from_statistics", "fit_encoding"]

# The MLflow param prefix of a column's encoding.
ENCODING_PARAM_PREFIX = "encoding."


@dataclasses.dataclass(frozen=True)
class TableEncoding:
    """A fitted encoding of a table's columns, and what it does to each.

    Attributes:
        kinds: Dict. Each feature column's kind (`lrdecay.cli.columns`).
        sizes: Dict. Each categorical column's number of values in the
            training split (hashed: its bins).
        fills: Dict. The value `--impute` filled each column's gaps with.
        statistics: Dict. What the training split gave each column: a
            numeric column's `(mean, variance)`, a one-hot column's sorted
            distinct values (`encoding_from_statistics`).
    """

    kinds: Mapping[str, str]
    sizes: Mapping[str, int]
    fills: Mapping[str, Any]
    statistics: Mapping[str, Any]
    _built: list[Any] = dataclasses.field(
        default_factory=list, repr=False, compare=False
    )

    @property
    def feature_space(self) -> Any:
        """The `keras.utils.FeatureSpace` that encodes the same: the model's input.

        Built (and adapted) on first use: saving the model with its
        features, or a hashed column. `transform` gives the same float32
        values without it (a test compares them bit for bit).
        """
        if not self._built:
            self._built.append(_feature_space(self.kinds, self.statistics))
        return self._built[0]

    def transform(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The encoded rows of `columns` (all of them), float32."""
        if any(kind.endswith("hashed") for kind in self.kinds.values()):
            # TensorFlow's fingerprint hash: only the layer computes it.
            inputs = {name: columns[name] for name in self.kinds}
            return np.asarray(self.feature_space(inputs), dtype="float32")
        # FeatureSpace's own arithmetic, in its order (sorted column names):
        # `Normalization` in float32, and a one-hot of each lookup index.
        length = max(
            (len(self.statistics[name]) for name, kind in self.kinds.items()
             if kind != column_kinds.NUMERIC),
            default=0,
        )  # fmt: skip
        blocks = {
            name: _lookup_order(kind, self.statistics[name], length)
            for name, kind in self.kinds.items()
            if kind != column_kinds.NUMERIC
        }
        rows = len(next(iter(columns.values()))) if columns else 0
        names = sorted(self.kinds)
        widths = [len(blocks[name]) + 1 if name in blocks else 1 for name in names]
        starts = np.cumsum([0, *widths])
        # Each lookup's indices, and each run of numeric columns side by
        # side normalized into one array (rows contiguous: quick to compute).
        lookups: list[tuple[int, np.ndarray]] = []
        runs: list[tuple[int, np.ndarray]] = []
        position = 0
        while position < len(names):
            name = names[position]
            if name in blocks:
                index = _lookup(blocks[name], np.asarray(columns[name]))
                lookups.append((int(starts[position]), index))
                position += 1
                continue
            end = position
            while end < len(names) and names[end] not in blocks:
                end += 1
            normalized = np.empty((end - position, rows), dtype="float32")
            for row, numeric in zip(normalized, names[position:end], strict=True):
                mean, variance = self.statistics[numeric]
                scale = np.maximum(
                    np.sqrt(np.float32(variance or 1.0)), np.float32(_EPSILON)
                )
                # `(x - mean) / scale` in float32.
                values = np.asarray(columns[numeric])
                np.subtract(values, np.float32(mean), out=row, dtype="float32")
                np.divide(row, scale, out=row)
            runs.append((int(starts[position]), normalized))
            position = end
        out = np.zeros((rows, int(starts[-1])), dtype="float32")
        # A block of rows at a time, written while it is in the cache (a
        # column at a time over all rows reads the whole matrix per column).
        for low in range(0, rows, _ROWS_AT_A_TIME):
            high = min(rows, low + _ROWS_AT_A_TIME)
            block = out[low:high]
            row_starts = np.arange(high - low) * out.shape[1]
            flat = block.reshape(-1)
            for first, index in lookups:
                flat[row_starts + first + index[low:high]] = 1.0
            for first, normalized in runs:
                block[:, first : first + len(normalized)] = normalized[:, low:high].T
        return out

    def describe(self) -> dict[str, str]:
        """One run param per column: its encoding, and its imputed value."""
        params = {}
        for name, kind in self.kinds.items():
            text = kind
            if kind in column_kinds.CATEGORICAL_KINDS:
                unit = "bins" if kind.endswith("hashed") else "values"
                text += f" ({self.sizes[name]} {unit})"
            else:
                text += " (normalized)"
            if name in self.fills:
                text += f", missing -> {self.fills[name]!r}"
            params[ENCODING_PARAM_PREFIX + name] = text
        return params

    def save(self, path: str | os.PathLike[str]) -> str:
        """Save the feature space as a `.keras` file (`keras.saving.load_model`)."""
        path = os.fspath(path)
        self.feature_space.save(path)
        return path


def fit_encoding(
    columns: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
    train: np.ndarray,
    fills: Mapping[str, Any] | None = None,
) -> TableEncoding:
    """A `FeatureSpace` for `columns`, fitted on the `train` rows only.

    Args:
        columns: Dict of arrays, one per feature column, without gaps.
        kinds: Dict. Each column's kind (`lrdecay.cli.columns.feature_kinds`).
        train: Int array. The training rows.
        fills: Dict or `None`. What `--impute` filled gaps with, to record.
    """
    statistics: dict[str, Any] = {}
    for name, kind in kinds.items():
        training = columns[name][train]
        if kind == column_kinds.NUMERIC:
            statistics[name] = (
                float(np.mean(training, dtype="float64")),
                float(np.var(training, dtype="float64")),
            )
        elif kind in (
            column_kinds.INTEGER_CATEGORICAL,
            column_kinds.STRING_CATEGORICAL,
        ):
            statistics[name] = distinct_values(training)[0]
    return encoding_from_statistics(kinds, statistics, fills)


def encoding_from_statistics(
    kinds: Mapping[str, str],
    statistics: Mapping[str, Any],
    fills: Mapping[str, Any] | None = None,
) -> TableEncoding:
    """The encoding of the training split's statistics.

    Args:
        kinds: Dict. Each column's kind.
        statistics: Dict. A numeric column's `(mean, variance)`, a one-hot
            categorical column's sorted distinct values (hashed columns
            need none): what `fit_encoding` computes from arrays, and
            `lrdecay.cli.streaming` from batches.
        fills: Dict or `None`. What `--impute` filled gaps with, to record.
    """
    sizes = {}
    for name, kind in kinds.items():
        if kind in (column_kinds.INTEGER_HASHED, column_kinds.STRING_HASHED):
            sizes[name] = column_kinds.HASH_BINS
        elif kind != column_kinds.NUMERIC:
            sizes[name] = len(statistics[name])
    return TableEncoding(dict(kinds), sizes, dict(fills or {}), dict(statistics))


def _feature_space(kinds: Mapping[str, str], statistics: Mapping[str, Any]) -> Any:
    """The `FeatureSpace` of the training split's statistics, adapted."""
    from lrdecay.cli import quiet

    quiet.import_backend(1)
    from keras import layers
    from keras.utils import FeatureSpace

    features: dict[str, Any] = {}
    vocabularies: dict[str, np.ndarray] = {}
    for name, kind in kinds.items():
        if kind == column_kinds.NUMERIC:
            mean, variance = statistics[name]
            features[name] = FeatureSpace.feature(
                dtype="float32",
                preprocessor=layers.Normalization(
                    mean=mean, variance=variance or 1.0, name=f"normalize_{name}"
                ),
                output_mode="float",
            )
        elif kind in (column_kinds.INTEGER_HASHED, column_kinds.STRING_HASHED):
            hashed = (
                FeatureSpace.integer_hashed
                if kind == column_kinds.INTEGER_HASHED
                else FeatureSpace.string_hashed
            )
            features[name] = hashed(column_kinds.HASH_BINS, name=name)
        else:
            vocabularies[name] = np.asarray(statistics[name])
            categorical = (
                FeatureSpace.integer_categorical
                if kind == column_kinds.INTEGER_CATEGORICAL
                else FeatureSpace.string_categorical
            )
            features[name] = categorical(num_oov_indices=1, name=name)
    feature_space = FeatureSpace(features, output_mode="concat")
    # The lookups only need the training split's distinct values: adapting
    # on them (not on every row) takes a second instead of minutes.
    if vocabularies:
        import tensorflow as tf

        # A dataset, as Keras < 3.6 requires (later ones build the same from
        # a dict themselves).
        rows = tf.data.Dataset.from_tensor_slices(_vocabulary_rows(vocabularies))
        feature_space.adapt(rows)
    return feature_space


# Rows encoded at a time: a block of a few MiB, which stays in the cache.
_ROWS_AT_A_TIME = 16_384
# A lookup of integers spanning fewer values than this reads a table.
_TABLE_SPAN = 1 << 16
# `keras.backend.epsilon()`'s default: `Normalization`'s floor on the scale.
_EPSILON = 1e-7
# The out-of-vocabulary tokens `IntegerLookup` and `StringLookup` drop from
# what they learn (a cell holding one maps to the out-of-vocabulary slot).
_OOV_TOKENS = {
    column_kinds.INTEGER_CATEGORICAL: -1,
    column_kinds.STRING_CATEGORICAL: "[UNK]",
}


def _lookup_order(kind: str, values: Any, length: int) -> np.ndarray:
    """The lookup's tokens in index order, from index 1 (0: out of vocabulary).

    What Keras' `IndexLookup.adapt` learns from `_vocabulary_rows`: tokens
    sorted by count (descending), ties by the token itself (descending);
    the counts are those of the values repeated to `length`, the longest
    vocabulary's.
    """
    values = np.asarray(values)
    counts = np.full(len(values), length // len(values))
    counts[: length % len(values)] += 1
    tokens = (
        values.astype("int64") if kind == column_kinds.INTEGER_CATEGORICAL else values
    )
    keep = tokens != _OOV_TOKENS[kind]
    tokens, counts = tokens[keep], counts[keep]
    order = np.lexsort((tokens, counts))[::-1]
    return tokens[order]


def _lookup(tokens: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each value's lookup index: 1 + its place in `tokens`, 0 if not there."""
    if len(tokens) == 0:
        return np.zeros(len(values), dtype="int64")
    if values.dtype.kind in "iu" and len(values):
        # Codes of a short span: one table read per value.
        low = min(int(values.min()), int(tokens.min()))
        high = max(int(values.max()), int(tokens.max()))
        if high - low < _TABLE_SPAN:
            table = np.zeros(high - low + 1, dtype="int64")
            table[tokens.astype("int64") - low] = np.arange(1, len(tokens) + 1)
            return table[values.astype("int64") - low]
    by_value = np.argsort(tokens, kind="stable")
    ordered = tokens[by_value]
    where = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    found = ordered[where] == values
    return np.where(found, by_value[where] + 1, 0)


def _vocabulary_rows(vocabularies: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each column's sorted distinct values, repeated to the longest's length.

    `FeatureSpace.adapt` takes equal-length columns: every value is seen, and
    the same training split gives the same lookup every time.
    """
    length = max(len(values) for values in vocabularies.values())
    return {name: np.resize(values, length) for name, values in vocabularies.items()}
