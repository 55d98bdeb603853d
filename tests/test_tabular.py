"""Tables as users have them: CSV, TSV and Parquet; categorical columns; gaps.

`lrdecay.cli.tables` reads, `lrdecay.cli.columns` says what each column is,
`lrdecay.cli.encoding` fits a `keras.utils.FeatureSpace` on the training split;
the slow test runs `lrdecay search` on a heart-disease-shaped table.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import search_store
from heart_table import write_heart
from lrdecay.cli import data
from lrdecay.cli import main as cli
from lrdecay.cli.columns import TableOptions
from lrdecay.cli.dataset import DataError, split_indices

CITIES = ("paris", "lyon", "nice")


def write_cities(path: Path, rows: int = 40) -> Path:
    """size (float), rooms (3 integers), city (text), sold (0/1 target)."""
    lines = ["size,rooms,city,sold"] + [
        f"{10 + i * 0.5},{i % 3 + 1},{CITIES[i % 3]},{i % 2}" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------
# Reading and guessing


def test_text_and_few_integer_columns_are_categorical(tmp_path: Path) -> None:
    path = write_cities(tmp_path / "homes.csv")
    dataset = data.load_dataset(path, target="sold", test_split=0.25)
    assert dataset.encoding.describe() == {
        "encoding.size": "numeric (normalized)",
        "encoding.rooms": "integer_categorical (3 values)",
        "encoding.city": "string_categorical (3 values)",
    }
    # One-hot with an out-of-vocabulary slot for each categorical, then size.
    assert dataset.input_shape == (4 + 4 + 1,)
    assert dataset.feature_names == ["size", "rooms", "city"]
    assert (len(dataset.x_train), len(dataset.x_val), len(dataset.x_test)) == (
        22,
        8,
        10,
    )
    # Normalized with the training split's mean and variance.
    size = dataset.x_train[:, -1]
    assert (size.mean(), size.std()) == pytest.approx((0.0, 1.0), abs=1e-5)
    one_hot = dataset.x_train[:, :8]
    assert sorted(set(one_hot.sum(axis=1).tolist())) == [2.0]


def test_encoding_is_fitted_on_the_training_split_only(tmp_path: Path) -> None:
    """A city only in the held-out rows goes to the out-of-vocabulary slot."""
    path = write_cities(tmp_path / "homes.csv", rows=30)
    text = path.read_text().splitlines()
    text.append("25.0,2,rome,1")
    path.write_text("\n".join(text) + "\n")
    dataset = data.load_dataset(path, target="sold", test_split=0.2)
    train_cities = dataset.encoding.sizes["city"]
    assert train_cities == 3 or train_cities == 4
    rome = dataset.encoding.transform(
        {"size": np.array([25.0]), "rooms": np.array([2]), "city": np.array(["rome"])}
    )
    seen_in_training = train_cities == 4
    # The city block starts the output (FeatureSpace sorts by name): slot 0
    # is the out-of-vocabulary one.
    assert bool(rome[0, 0] == 1.0) is not seen_in_training


def test_parquet_and_tsv_load_as_the_csv_does(tmp_path: Path) -> None:
    import pandas as pd

    path = write_cities(tmp_path / "homes.csv")
    frame = pd.read_csv(path)
    frame.to_parquet(tmp_path / "homes.parquet", index=False)
    frame.to_csv(tmp_path / "homes.tsv", sep="\t", index=False)
    from_csv = data.load_dataset(path, target="sold")
    for other in ("homes.parquet", "homes.tsv"):
        loaded = data.load_dataset(tmp_path / other, target="sold")
        np.testing.assert_array_equal(loaded.x_train, from_csv.x_train)
        np.testing.assert_array_equal(loaded.y_val, from_csv.y_val)


def test_flags_override_the_guess(tmp_path: Path) -> None:
    path = write_cities(tmp_path / "homes.csv")
    options = TableOptions(categorical=("size",), numeric=("rooms",))
    dataset = data.load_dataset(path, target="sold", table_options=options)
    described = dataset.encoding.describe()
    assert described["encoding.rooms"] == "numeric (normalized)"
    # 40 distinct sizes, read as text categories of the training rows.
    assert described["encoding.size"] == "string_categorical (32 values)"


def test_impute_fills_from_the_training_split(tmp_path: Path) -> None:
    lines = ["x,color,y"] + [
        f"{i}.5,{'red' if i % 3 else 'blue'},{i % 2}" for i in range(20)
    ]
    lines[4] = "3.5,,1"  # row 3: no color
    lines[6] = ",red,1"  # row 5: no x
    path = tmp_path / "gaps.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"'x' .* line 7: .*median"):
        data.load_dataset(path, target="y")
    dataset = data.load_dataset(
        path, target="y", table_options=TableOptions(impute=True)
    )
    fills = dataset.encoding.fills
    assert fills["color"] == "red"
    # The median of the x values of the training rows (not of all rows).
    train = _training_rows(20, seed=0)
    known = [i + 0.5 for i in train if i != 5]
    assert fills["x"] == pytest.approx(float(np.median(known)))
    assert dataset.encoding.describe()["encoding.color"] == (
        "string_categorical (2 values), missing -> 'red'"
    )


def test_category_cells_are_read_as_each_cell_alone() -> None:
    """Each distinct cell is converted once and spread to its rows: the same
    words as stripping every cell (two spellings that strip alike are one
    word), blanks and gaps missing, -0.0 in a float column its own `-0`."""
    import pandas as pd

    from lrdecay.cli import columns as kinds_of

    text = [" paris", "paris ", "lyon", "", "  ", None, "nice", "lyon"]
    floats = [2.0, -0.0, 0.0, 2.5, np.nan, 2.0, 0.0, 1e-7]
    frame = pd.DataFrame({"city": text, "code": floats, "y": [0, 1] * 4})
    kinds = {"city": kinds_of.STRING_CATEGORICAL, "code": kinds_of.STRING_CATEGORICAL}
    got = kinds_of.feature_columns(frame, kinds, TableOptions(impute=True), "t.csv")
    assert got["city"].tolist() == [
        "paris", "paris", "lyon", None, None, None, "nice", "lyon"
    ]  # fmt: skip
    assert got["code"].tolist() == ["2", "-0", "0", "2.5", None, "2", "0", "1e-07"]
    complete = kinds_of.feature_columns(
        frame.iloc[[0, 1, 2, 6]], kinds, TableOptions(), "t.csv"
    )
    assert complete["city"].dtype == np.dtype("<U5")
    assert complete["city"].tolist() == ["paris", "paris", "lyon", "nice"]


def _training_rows(n: int, seed: int) -> list[int]:
    y = np.array([i % 2 for i in range(n)])
    train, _, _ = split_indices(n, 0.2, 0.0, seed, stratify=y)
    return train.tolist()


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        # A word in a column of numbers: where, and the flag if it is meant.
        (
            "x,y\n1,0\n2,1\nabc,0\n4,1",
            TableOptions(),
            r"'x' of t\.csv is not numeric: line 4 holds 'abc'\. .*--categorical x",
        ),
        (
            "x,c,y\n1,red,0\n2,blue,1",
            TableOptions(numeric=("c",)),
            r"'c' .* line 2 holds 'red'\. .*drop it from --numeric c",
        ),
        (
            "x,y\n1,0\n2,1",
            TableOptions(categorical=("z",)),
            r"--categorical 'z': no such column in t\.csv",
        ),
        (
            "x,y\n1,0\n2,1",
            TableOptions(numeric=("y",)),
            r"--numeric 'y': that is the target column",
        ),
        ("x,y\n1,0\n2,\n3,1", TableOptions(), r"Target column 'y' .* line 3"),
        ("", TableOptions(), r"is empty"),
        ("x,c,y\n1,caf\xe9,0\n2,b,1", TableOptions(), r"'c' of t\.csv is not UTF-8"),
        ("x,y\n", TableOptions(), r"has a header but no rows"),
    ],
)
def test_errors_name_the_value_and_the_fix(
    tmp_path: Path, text: str, options: TableOptions, message: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match=message):
        data.load_dataset(path, target="y", table_options=options)


def test_column_flags_need_a_table() -> None:
    with pytest.raises(DataError, match="apply to a table"):
        data.load_dataset(table_options=TableOptions(impute=True))


def test_cli_column_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_cities(tmp_path / "homes.csv")
    code = cli.main(
        ["search", "--data", "homes.csv", "--target", "sold", "--numeric",
         "city", "--dry-run"]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "lrdecay: error: Feature column 'city' of homes.csv is not numeric: line 2 "
        "holds 'paris'. Fix the cell, or drop it from --numeric city."
    ]


# --------------------------------------------------------------------------
# The whole command on a heart-disease-shaped table


@pytest.mark.slow
def test_search_on_a_heart_table_matches_logistic_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test accuracy within 2 points of scikit-learn's on the same features."""
    import keras
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    path = write_heart(tmp_path / "heart.csv")
    code = cli.main(
        ["search", "--data", "heart.csv", "--target", "target", "--kinds",
         "step", "--decay-epochs", "10", "--epochs", "20", "--seed", "0",
         "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "-q"]
    )  # fmt: skip
    assert code == 0
    score_line = capsys.readouterr().out.splitlines()[-1]
    found = re.fullmatch(r"test accuracy (\S+) \(200 held-out samples\)", score_line)
    assert found is not None, score_line
    accuracy = float(found.group(1))

    # The same split and one-hot features as the search's (seed 0).
    dataset = data.load_dataset(path, target="target", test_split=0.2, seed=0)
    logistic = LogisticRegression(max_iter=2000).fit(dataset.x_train, dataset.y_train)
    reference = logistic.score(dataset.x_test, dataset.y_test)
    assert reference > 0.75
    assert abs(accuracy - reference) <= 0.02

    # The encoding is the parent run's params, and the saved model takes the
    # table's own columns: the same held-out score from the raw rows.
    store = search_store.client(tmp_path)
    (parent,) = search_store.runs(store, "search")
    params = parent.data.params
    assert params["encoding.thal"] == "string_categorical (3 values)"
    assert params["encoding.cp"] == "integer_categorical (4 values)"
    assert params["encoding.oldpeak"] == "numeric (normalized)"
    (saved,) = tmp_path.glob("*/*/best_model_with_features.keras")
    model = keras.saving.load_model(saved)
    frame = pd.read_csv(path)
    raw = {name: frame[name].to_numpy() for name in dataset.feature_names}
    predicted = model.predict(raw, verbose=0).argmax(axis=-1)
    # The test rows, as the search's split chose them.
    labels = frame["target"].to_numpy()
    _, _, test_rows = split_indices(len(frame), 0.2, 0.2, 0, stratify=labels)
    assert float(np.mean(predicted[test_rows] == labels[test_rows])) == accuracy


def test_the_arrays_equal_the_feature_space_s_bit_for_bit() -> None:
    """`TableEncoding.transform` computes FeatureSpace's own output in numpy.

    The search trains on those arrays; the saved model's inputs go through
    the `FeatureSpace`. Both must give the same float32 values, in every
    column kind lrdecay one-hot encodes or normalizes, for values the
    training split never saw, and for the lookups' own out-of-vocabulary
    tokens (-1, "[UNK]") in the data.
    """
    from lrdecay.cli import columns as kinds_of
    from lrdecay.cli.encoding import fit_encoding

    rng = np.random.default_rng(3)
    # Over two of `transform`'s blocks of rows.
    n = 40_000
    columns = {
        "age": rng.normal(50, 9, n).astype("float32"),
        "zero_spread": np.full(n, 2.5, dtype="float32"),
        "b_tiny": (rng.normal(0, 1, n) * 1e-9).astype("float32"),
        "thal": rng.choice(np.array(["normal", "fixed", "reversible", "[UNK]"]), n),
        "cp": rng.integers(-1, 4, n).astype("int64"),
        "ca": rng.integers(0, 9, n).astype("int64"),
        "city": rng.choice(np.array(["Zürich", "Ålesund", "ber lin", "Akka"]), n),
        # Integers too far apart for a table; twenty words.
        "zz_big": rng.choice(np.array([10**12, 5, -3 * 10**8, 7]), n),
        "zz_words": rng.choice(np.array([f"w{i}" for i in range(20)]), n),
    }
    kinds = {
        "age": kinds_of.NUMERIC,
        "zero_spread": kinds_of.NUMERIC,
        "b_tiny": kinds_of.NUMERIC,
        "thal": kinds_of.STRING_CATEGORICAL,
        "cp": kinds_of.INTEGER_CATEGORICAL,
        "ca": kinds_of.INTEGER_CATEGORICAL,
        "city": kinds_of.STRING_CATEGORICAL,
        "zz_big": kinds_of.INTEGER_CATEGORICAL,
        "zz_words": kinds_of.STRING_CATEGORICAL,
    }
    # Rows the training split does not hold carry values it never saw.
    train = np.arange(27_000)
    columns["ca"][train] %= 5
    columns["city"][train[columns["city"][train] == "Akka"]] = "Ålesund"
    fitted = fit_encoding(columns, kinds, train)

    arrays = fitted.transform(columns)
    layer = np.asarray(fitted.feature_space(columns), dtype="float32")
    assert arrays.dtype == layer.dtype == np.float32
    # Sorted by name: age, b_tiny, ca (5 values + OOV), city (3 + OOV),
    # cp (4 + OOV: -1 is the lookup's own), thal (3 + OOV), zero_spread,
    # zz_big (4 + OOV), zz_words (20 + OOV).
    assert arrays.shape == layer.shape == (n, 1 + 1 + 6 + 4 + 5 + 4 + 1 + 5 + 21)
    assert np.array_equal(arrays, layer)
    # Unseen values (ca >= 5, "Akka") and the lookups' own OOV tokens go to
    # an out-of-vocabulary slot: every one-hot row still holds one 1.
    assert np.array_equal(arrays[:, 2:21].sum(axis=1), np.full(n, 4.0))
    assert np.array_equal(arrays[:, 21], np.zeros(n))  # no spread: 0
