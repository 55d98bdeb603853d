"""What each column of a user's table is: numeric, categorical, or its target.

The guess follows keras-io's structured-data examples: a column of text is a
string categorical; an integer column with at most `MAX_INTEGER_CATEGORIES`
distinct values (`sex`, `cp`, `restecg` in the heart-disease table) is an
integer categorical; any other number is numeric. A categorical with more than
`MAX_ONE_HOT` distinct values is hashed into `HASH_BINS` bins rather than
one-hot encoded. `--categorical COL,...` and `--numeric COL,...` override the
guess. A text column that also holds numbers is taken as a numeric column with
a stray value, and stops with the line that holds it.

Missing values stop the run with the line and column, unless `--impute`:
then a numeric column's gaps get the training split's median, a categorical
one's its most frequent value (`impute`).

pandas and numpy only: every error is found before TensorFlow loads;
`lrdecay.cli.encoding` turns the columns into a model's inputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrdecay.cli import tables
from lrdecay.cli.dataset import DataError, short_span_offsets

__all__ = [
    "CATEGORICAL_KINDS",
    "TableOptions",
    "feature_columns",
    "feature_kinds",
    "impute",
    "target_values",
]

NUMERIC = "numeric"
INTEGER_CATEGORICAL = "integer_categorical"
STRING_CATEGORICAL = "string_categorical"
INTEGER_HASHED = "integer_hashed"
STRING_HASHED = "string_hashed"
CATEGORICAL_KINDS = (
    INTEGER_CATEGORICAL,
    STRING_CATEGORICAL,
    INTEGER_HASHED,
    STRING_HASHED,
)

# An integer column with at most this many distinct values is categorical.
MAX_INTEGER_CATEGORIES = 10
# A categorical column with more distinct values is hashed, not one-hot.
MAX_ONE_HOT = 100
HASH_BINS = 64
# What a table may take in memory without --memory-budget (the flag's help
# in lrdecay.cli.arguments repeats it: that module imports no numpy).
DEFAULT_MEMORY_BUDGET_MIB = 1024


@dataclasses.dataclass(frozen=True)
class TableOptions:
    """How the user's flags say to read a table and its feature columns.

    Attributes:
        categorical: Tuple of strings. Columns encoded as categories
            (`--categorical`), whatever they hold.
        numeric: Tuple of strings. Columns read as numbers (`--numeric`).
        impute: Bool. Fill missing values from the training split
            (`--impute`) instead of stopping at the first one.
        memory_budget_mib: Int. What the table may take in memory
            (`--memory-budget`): a file above a tenth of it is streamed
            (`lrdecay.cli.streaming`). Defaults to
            `DEFAULT_MEMORY_BUDGET_MIB`.
    """

    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    impute: bool = False
    memory_budget_mib: int = DEFAULT_MEMORY_BUDGET_MIB

    @property
    def memory_budget(self) -> int:
        """`memory_budget_mib` in bytes."""
        return self.memory_budget_mib * 2**20

    def check(self, header: Sequence[str], target: str, file_name: str) -> None:
        """Raise `DataError` for an unknown column, the target, or one in both."""
        for flag, names in (
            ("--categorical", self.categorical),
            ("--numeric", self.numeric),
        ):
            for name in names:
                if name == target:
                    raise DataError(
                        f"{flag} {name!r}: that is the target column; list "
                        "feature columns only."
                    )
                if name not in header:
                    raise DataError(
                        f"{flag} {name!r}: no such column in {file_name} "
                        f"(columns: {tables.column_list(list(header))})."
                    )
        both = sorted(set(self.categorical) & set(self.numeric))
        if both:
            raise DataError(
                f"Column {both[0]!r} is in both --categorical and --numeric; "
                "name it in one."
            )


def target_values(frame: Any, target: str, file_name: str) -> np.ndarray:
    """The target column: integers, floats or stripped strings; none missing."""
    column = frame[target]
    missing = np.flatnonzero(column.isna().to_numpy())
    if column.dtype.kind == "O":
        text = column.astype("string").str.strip()
        missing = np.flatnonzero((text.isna() | (text == "")).to_numpy(dtype=bool))
    if len(missing):
        raise DataError(
            f"Target column {target!r} of {file_name} is empty at line "
            f"{_line(missing[0])}."
        )
    if column.dtype.kind == "b":
        return column.to_numpy().astype("int64")
    if column.dtype.kind in "iu":
        return column.to_numpy().astype("int64")
    if column.dtype.kind == "f":
        values = column.to_numpy(dtype="float64")
        if np.all(np.isfinite(values)) and np.all(np.mod(values, 1) == 0):
            return values.astype("int64")
        return values
    text = column.astype(str).str.strip()
    numbers = _to_numbers(text)
    if not np.any(np.isnan(numbers)):
        return target_values(_frame_of(target, numbers), target, file_name)
    return text.to_numpy().astype(str)


def feature_kinds(
    frame: Any, target: str, options: TableOptions, file_name: str
) -> dict[str, str]:
    """Each feature column's kind, in the table's order: guessed or as told."""
    header = [str(name) for name in frame.columns]
    options.check(header, target, file_name)
    kinds = {}
    for name in header:
        if name == target:
            continue
        column = frame[name]
        if name in options.numeric:
            kinds[name] = NUMERIC
        elif name in options.categorical:
            kinds[name] = _categorical_kind(column)
        else:
            kinds[name] = _guess(column)
    return kinds


def feature_columns(
    frame: Any, kinds: Mapping[str, str], options: TableOptions, file_name: str
) -> dict[str, np.ndarray]:
    """Each feature column as an array of its kind: float32, int64 or str.

    With `--impute`, a missing cell is NaN in a numeric column and `None` in
    a categorical one (an object array), for `impute` to fill.

    Raises:
        DataError: A value that is not a number in a numeric column, a
            missing value without `--impute`, an infinite value.
    """
    columns = {}
    for name, kind in kinds.items():
        column = frame[name]
        if kind == NUMERIC:
            values = _numeric(column, name, file_name, options)
        else:
            values = _categorical(column, kind)
        missing = _missing(values)
        if missing.any() and not options.impute:
            line = _line(np.flatnonzero(missing)[0])
            how = "median" if kind == NUMERIC else "most frequent value"
            raise DataError(
                f"Feature column {name!r} of {file_name} has a missing value at "
                f"line {line}: fill the cell, or pass --impute to fill gaps with "
                f"the training split's {how}."
            )
        columns[name] = values
    return columns


def impute(
    columns: Mapping[str, np.ndarray], kinds: Mapping[str, str], train: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The columns with their gaps filled from the `train` rows, and the fills.

    A numeric column gets the training split's median, a categorical one its
    most frequent value (the smallest, on a tie). Columns without gaps are
    returned as they are and have no fill.

    Raises:
        DataError: A column with no value at all in the training split.
    """
    filled: dict[str, np.ndarray] = {}
    fills: dict[str, Any] = {}
    for name, values in columns.items():
        missing = _missing(values)
        if not missing.any():
            filled[name] = values
            continue
        known = values[train][~missing[train]]
        if len(known) == 0:
            raise DataError(
                f"Feature column {name!r} has no value in the training split to "
                "impute from; drop the column."
            )
        if kinds[name] == NUMERIC:
            fill: Any = float(np.median(known))
            filled[name] = np.where(missing, np.float32(fill), values).astype("float32")
        else:
            distinct, counts = np.unique(
                known.astype(type(known[0])), return_counts=True
            )
            fill = distinct[np.argmax(counts)].item()
            complete = values.copy()
            complete[missing] = fill
            filled[name] = complete.astype("int64" if isinstance(fill, int) else str)
        fills[name] = fill
    return filled, fills


# --------------------------------------------------------------------------
# Guessing and converting


def _guess(column: Any) -> str:
    kind = column.dtype.kind
    if kind == "f":
        values = column.to_numpy(dtype="float64")
        # The first rows settle most float columns without a pass over all.
        for sample in (values[:1000], values):
            finite = sample[np.isfinite(sample)]
            if not np.array_equal(finite, np.round(finite)):
                return NUMERIC
        return _integer_kind(len(np.unique(values[np.isfinite(values)])))
    if kind in "iub":
        return _integer_kind(_count_distinct(column))
    if kind == "O" or str(column.dtype) in ("string", "category"):
        distinct = _distinct_text(column)
        if np.any(~np.isnan(_to_numbers(distinct))):
            # Numbers with a stray word: a numeric column, stopped at the word.
            return NUMERIC
        return _string_kind(int(distinct.nunique()))
    return NUMERIC


def _distinct_text(column: Any) -> Any:
    """The column's distinct values, stripped: a category column has few."""
    import pandas as pd

    # Distinct first, gaps dropped from those few (not from every row).
    return pd.Series(column.unique()).dropna().astype("string").str.strip()


def _count_distinct(column: Any) -> int:
    """How many distinct values an integer column holds: counted in one pass
    when they span few values (codes), else by pandas' hash table."""
    offsets = short_span_offsets(column.to_numpy())
    if offsets is not None:
        return int(np.count_nonzero(np.bincount(offsets)))
    return int(column.nunique())


def _integer_kind(distinct: int) -> str:
    return INTEGER_CATEGORICAL if distinct <= MAX_INTEGER_CATEGORIES else NUMERIC


def _string_kind(distinct: int) -> str:
    return STRING_CATEGORICAL if distinct <= MAX_ONE_HOT else STRING_HASHED


def _categorical_kind(column: Any) -> str:
    distinct = int(column.nunique())
    if column.dtype.kind in "iub":
        return INTEGER_CATEGORICAL if distinct <= MAX_ONE_HOT else INTEGER_HASHED
    return _string_kind(distinct)


def _numeric(
    column: Any, name: str, file_name: str, options: TableOptions
) -> np.ndarray:
    if column.dtype.kind in "iufb":
        values = column.to_numpy(dtype="float64")
    else:
        text = column.astype("string").str.strip()
        values = _to_numbers(text)
        stray = np.flatnonzero(
            np.isnan(values) & (text.fillna("") != "").to_numpy(dtype=bool)
        )
        if len(stray):
            row = stray[0]
            fix = (
                f"drop it from --numeric {name}"
                if name in options.numeric
                else f"pass --categorical {name} if it holds categories"
            )
            raise DataError(
                f"Feature column {name!r} of {file_name} is not numeric: line "
                f"{_line(row)} holds {text.iloc[row]!r}. Fix the cell, or {fix}."
            )
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        raise DataError(
            f"Feature column {name!r} of {file_name} has a non-finite value at "
            f"line {_line(infinite[0])}: {values[infinite[0]]!r}."
        )
    return values.astype("float32")


def _categorical(column: Any, kind: str) -> np.ndarray:
    """int64 codes or stripped strings; an object array with `None` for gaps."""
    missing = column.isna().to_numpy()
    if kind in (INTEGER_CATEGORICAL, INTEGER_HASHED) and column.dtype.kind in "iufb":
        values = column.to_numpy(dtype="float64")
        if not missing.any():
            return values.astype("int64")
        out = np.empty(len(values), dtype=object)
        out[~missing] = values[~missing].astype("int64")
        out[missing] = None
        return out
    import pandas as pd

    # Each distinct cell converted once (a category column has few), then
    # spread by its codes: the same strings as converting every cell.
    if column.dtype.kind == "f":
        # A float column taken as categories: `2.0` reads as the category `2`
        # (and -0.0 as `-0`, which factorizing the floats would merge with 0).
        codes, texts = pd.factorize(column.map(lambda value: f"{value:g}"))
    else:
        codes, distinct = pd.factorize(column)
        texts = pd.Series(distinct, dtype=column.dtype).astype("string").str.strip()
    words = np.asarray(texts, dtype=object).astype(str)
    missing = missing | (codes < 0)
    if (words == "").any():
        missing |= (words == "")[np.maximum(codes, 0)] & (codes >= 0)
    if not missing.any():
        return words[codes]
    out = np.empty(len(codes), dtype=object)
    out[~missing] = words[codes[~missing]]
    out[missing] = None
    return out


def _missing(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        return np.array([value is None for value in values], dtype=bool)
    return np.zeros(len(values), dtype=bool)


def _to_numbers(text: Any) -> np.ndarray:
    import pandas as pd

    return pd.to_numeric(text, errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )


def _frame_of(name: str, values: np.ndarray) -> Any:
    import pandas as pd

    return pd.DataFrame({name: values})


def _line(row: int) -> int:
    """The file line of data row `row` (0-based): the header is line 1."""
    return int(row) + 2
