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

__all__ = ["TableEncoding", "encoding_from_statistics", "fit_encoding"]

# The MLflow param prefix of a column's encoding.
ENCODING_PARAM_PREFIX = "encoding."


@dataclasses.dataclass(frozen=True)
class TableEncoding:
    """A fitted feature space and what it does to each column.

    Attributes:
        feature_space: `keras.utils.FeatureSpace`, adapted on the training
            rows; its output is the model's input.
        kinds: Dict. Each feature column's kind (`lrdecay.cli.columns`).
        sizes: Dict. Each categorical column's number of values in the
            training split (hashed: its bins).
        fills: Dict. The value `--impute` filled each column's gaps with.
    """

    feature_space: Any
    kinds: Mapping[str, str]
    sizes: Mapping[str, int]
    fills: Mapping[str, Any]

    def transform(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The encoded rows of `columns` (all of them), float32."""
        inputs = {name: columns[name] for name in self.kinds}
        return np.asarray(self.feature_space(inputs), dtype="float32")

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
            statistics[name] = np.unique(training)
    return encoding_from_statistics(kinds, statistics, fills)


def encoding_from_statistics(
    kinds: Mapping[str, str],
    statistics: Mapping[str, Any],
    fills: Mapping[str, Any] | None = None,
) -> TableEncoding:
    """The `FeatureSpace` of the training split's statistics.

    Args:
        kinds: Dict. Each column's kind.
        statistics: Dict. A numeric column's `(mean, variance)`, a one-hot
            categorical column's sorted distinct values (hashed columns
            need none): what `fit_encoding` computes from arrays, and
            `lrdecay.cli.streaming` from batches.
        fills: Dict or `None`. What `--impute` filled gaps with, to record.
    """
    from lrdecay.cli import quiet

    quiet.import_backend(1)
    from keras import layers
    from keras.utils import FeatureSpace

    features: dict[str, Any] = {}
    vocabularies: dict[str, np.ndarray] = {}
    sizes: dict[str, int] = {}
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
            sizes[name] = column_kinds.HASH_BINS
            hashed = (
                FeatureSpace.integer_hashed
                if kind == column_kinds.INTEGER_HASHED
                else FeatureSpace.string_hashed
            )
            features[name] = hashed(column_kinds.HASH_BINS, name=name)
        else:
            vocabularies[name] = np.asarray(statistics[name])
            sizes[name] = len(vocabularies[name])
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
    return TableEncoding(feature_space, dict(kinds), sizes, dict(fills or {}))


def _vocabulary_rows(vocabularies: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each column's sorted distinct values, repeated to the longest's length.

    `FeatureSpace.adapt` takes equal-length columns: every value is seen, and
    the same training split gives the same lookup every time.
    """
    length = max(len(values) for values in vocabularies.values())
    return {name: np.resize(values, length) for name, values in vocabularies.items()}
