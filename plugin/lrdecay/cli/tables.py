"""Tables for the `lrdecay` command: CSV, TSV and Parquet files read by pandas.

A CSV or TSV file is read with `pandas.read_csv` (its pyarrow engine where
pyarrow is installed, as it is with MLflow; pandas' own parser where pyarrow
cannot parse the file), a Parquet file with pyarrow. The result is a
`pandas.DataFrame` with stripped column names; what its columns mean is
`lrdecay.cli.columns`' business. Every failure is one `DataError` line naming
the file, and the line or column where it is.

Example:

```python
from lrdecay.cli import tables

frame = tables.read_table("heart.csv", target="target")
```
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from lrdecay.cli.dataset import DataError

__all__ = [
    "DELIMITED_SUFFIXES",
    "PARQUET_SUFFIXES",
    "check_frame",
    "column_list",
    "read_options",
    "read_table",
]

# The suffixes read as delimited text (TSV: tab-separated) and as Parquet.
DELIMITED_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")

# Cells read as missing values: an empty cell and pandas' usual spellings.
# "NA" is left out: it is a valid category ("North America", "not applicable").
_MISSING = ["", "nan", "NaN", "NULL", "null", "None", "N/A", "n/a", "#N/A"]


def read_table(file: Path, target: str | None) -> Any:
    """A CSV, TSV or Parquet file as a `pandas.DataFrame`, with its target checked.

    Args:
        file: `Path`. An existing file with one of `DELIMITED_SUFFIXES` or
            `PARQUET_SUFFIXES`.
        target: String or `None`. The target column; `None` raises with the
            list of columns to choose from.

    Raises:
        DataError: An unreadable or empty file, a row with the wrong number
            of fields, no target, a missing target column, no feature column.
    """
    if file.suffix.lower() in PARQUET_SUFFIXES:
        frame = _read_parquet(file)
    else:
        frame = _read_delimited(file)
    frame.columns = [str(name).strip() for name in frame.columns]
    check_frame(frame, file, target)
    _check_text(frame, file)
    return frame


def _check_text(frame: Any, file: Path) -> None:
    """Raise `DataError` for a column pyarrow kept as bytes: text not in UTF-8."""
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind != "O":
            continue
        first = column.first_valid_index()
        if first is not None and isinstance(column[first], bytes):
            raise DataError(
                f"Column {name!r} of {file.name} is not UTF-8 text: save the "
                "file as UTF-8 (e.g. from a spreadsheet: CSV UTF-8)."
            )


def check_frame(frame: Any, file: Path, target: str | None) -> None:
    """Raise `DataError` for no target, a missing target column, no features or rows."""
    header = list(frame.columns)
    kind = "Parquet" if file.suffix.lower() in PARQUET_SUFFIXES else "CSV"
    if target is None:
        raise DataError(
            f"--data {str(file)!r} is a {kind} file: name its target column with "
            f"--target (columns: {column_list(header)})."
        )
    if target not in header:
        raise DataError(
            f"Target column {target!r} not found in {str(file)!r} "
            f"(columns: {column_list(header)})."
        )
    if len(header) < 2:
        raise DataError(f"{kind} file {str(file)!r} has no feature columns.")
    if len(frame) == 0:
        raise DataError(f"{kind} file {str(file)!r} has a header but no rows.")


def read_options(file: Path) -> dict[str, Any]:
    """`pandas.read_csv`'s options for a delimited table: separator, missing cells."""
    return {
        "sep": "\t" if file.suffix.lower() == ".tsv" else ",",
        "na_values": _MISSING,
        "keep_default_na": False,
    }


def column_list(header: list[str]) -> str:
    """The first 20 column names, quoted, and how many there are in all."""
    shown = ", ".join(repr(name) for name in header[:20])
    return shown + (f", ... ({len(header)} in all)" if len(header) > 20 else "")


def _read_delimited(file: Path) -> Any:
    import pandas as pd

    options = read_options(file)
    delimiter = options["sep"]
    try:
        try:
            # pandas' own parser: on few cores the quickest (pyarrow's reader
            # gains with threads). It pads a short row with missing values
            # instead of failing: only then is the file scanned for it.
            with warnings.catch_warnings():
                # Rows longer than the header: pandas would drop their last
                # fields with this warning (or, without `index_col=False`,
                # take the first column as the index).
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    file, engine="c", encoding="utf-8-sig", index_col=False, **options
                )
        except UnicodeDecodeError as error:
            # pyarrow keeps text that is not UTF-8 as bytes: `_check_text`
            # then names the column.
            try:
                return pd.read_csv(file, engine="pyarrow", **options)
            except ImportError:
                raise error from None
        if frame.shape[1] and frame.iloc[:, -1].isna().any():
            _check_field_counts(file, delimiter, frame.shape[1])
        return frame
    except pd.errors.ParserWarning:
        _check_field_counts(file, delimiter, None)
        raise DataError(f"Cannot read CSV file {str(file)!r}: ragged rows.") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"CSV file {str(file)!r} is empty.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"Cannot read CSV file {str(file)!r}: {error}") from None
    except ValueError as error:
        # A parser error (pandas' ParserError; pyarrow < 15 raises its own
        # ArrowInvalid, also for an empty file): neither says at which line,
        # so the file is read again, once.
        if _is_blank(file):
            raise DataError(f"CSV file {str(file)!r} is empty.") from None
        _check_field_counts(file, delimiter, None)
        raise DataError(f"Cannot read CSV file {str(file)!r}: {error}") from None


def _is_blank(file: Path) -> bool:
    """Whether `file` holds nothing but whitespace, read until it does not."""
    with file.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            if chunk.strip():
                return False
    return True


def _check_field_counts(file: Path, delimiter: str, width: int | None) -> None:
    """Raise `DataError` at the first row whose fields the header does not match.

    Lines count from 1 (the header), blank lines included, as an editor shows
    them.
    """
    import csv

    with file.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if width is None:
                width = len(row)
            elif len(row) != width:
                raise DataError(
                    f"{file.name} line {reader.line_num}: {len(row)} fields, but "
                    f"the header has {width}."
                )


def _read_parquet(file: Path) -> Any:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise DataError(
            f"Reading the Parquet file {str(file)!r} needs pyarrow: pip install pyarrow"
        ) from None
    try:
        table = parquet.read_table(file)
    except (OSError, ValueError) as error:
        raise DataError(f"Cannot read Parquet file {str(file)!r}: {error}") from None
    if table.num_columns == 0:
        raise DataError(f"Parquet file {str(file)!r} is empty.")
    return table.to_pandas()
