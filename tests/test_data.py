"""The bundled digits, user CSV / .npz data, default and `module:function` models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lrdecay.cli import data, models
from lrdecay.cli.data import DataError
from lrdecay.cli.dataset import detect_task, split_indices


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def test_digits_split_is_stratified_disjoint_and_complete() -> None:
    dataset = data.load_dataset()
    assert dataset.name == "digits"
    assert dataset.task == "classification"
    assert dataset.input_shape == (64,)
    assert dataset.num_outputs == 10
    assert dataset.x_test is not None and dataset.y_test is not None
    sizes = (len(dataset.x_train), len(dataset.x_val), len(dataset.x_test))
    assert sizes == (1079, 359, 359)
    for labels in (dataset.y_val, dataset.y_test):
        assert set(np.bincount(labels, minlength=10)) <= {35, 36, 37}
    assert float(dataset.x_train.max()) == 1.0
    assert float(dataset.x_train.min()) == 0.0
    # Every sample lands in exactly one split.
    from sklearn.datasets import load_digits

    x, _ = load_digits(return_X_y=True)
    rows = np.concatenate([dataset.x_train, dataset.x_val, dataset.x_test]) * 16
    assert sorted(map(bytes, np.round(rows).astype("int8"))) == sorted(
        map(bytes, x.astype("int8"))
    )


def test_digits_split_is_reproducible() -> None:
    first, second = data.load_dataset(seed=3), data.load_dataset(seed=3)
    np.testing.assert_array_equal(first.y_val, second.y_val)
    assert not np.array_equal(first.y_val, data.load_dataset(seed=4).y_val)


def test_csv_classification_with_text_labels(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i % 3},{'cat' if i % 2 else 'dog'}" for i in range(20))
    path = write_csv(tmp_path / "pets.csv", f"size,age,animal\n{rows}")
    # `age` holds 3 integers: a category unless told (tests/test_tabular.py).
    numeric = data.TableOptions(numeric=("age",))
    dataset = data.load_dataset(path, target="animal", table_options=numeric)
    assert dataset.task == "classification"
    assert dataset.class_names == ["cat", "dog"]
    assert dataset.feature_names == ["size", "age"]
    assert (len(dataset.x_train), len(dataset.x_val)) == (16, 4)
    assert dataset.x_test is None
    # Standardized with the training split's statistics.
    assert dataset.x_train.mean(axis=0) == pytest.approx([0, 0], abs=1e-6)
    assert dataset.x_train.std(axis=0) == pytest.approx([1, 1], abs=1e-5)
    assert dataset.y_train.dtype == np.int32


def test_csv_regression_detected_from_fractional_target(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i * 0.5 + 0.25}" for i in range(10))
    path = write_csv(tmp_path / "houses.csv", f"rooms,price\n{rows}")
    dataset = data.load_dataset(path, target="price")
    assert dataset.task == "regression"
    assert dataset.num_outputs == 1
    # The target is standardized on the training split, and converts back.
    assert dataset.y_train.mean() == pytest.approx(0, abs=1e-6)
    assert dataset.y_train.std() == pytest.approx(1, abs=1e-6)
    both = np.concatenate([dataset.y_train, dataset.y_val])
    assert sorted(dataset.in_target_units(both)) == pytest.approx(
        [i * 0.5 + 0.25 for i in range(10)], rel=1e-6
    )
    assert dataset.target_scaled


def test_task_can_be_forced(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i % 4}" for i in range(12))
    path = write_csv(tmp_path / "t.csv", f"a,b\n{rows}")
    assert data.load_dataset(path, target="b").task == "classification"
    assert data.load_dataset(path, target="b", task="regression").task == "regression"


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (np.array([0, 1, 2, 1]), "classification"),
        (np.array([0.0, 1.0, 2.0]), "classification"),
        (np.array(["a", "b"]), "classification"),
        (np.array([0.5, 1.0]), "regression"),
        (np.arange(51), "regression"),
    ],
)
def test_detect_task(values: np.ndarray, task: str) -> None:
    assert detect_task(values) == task


def _split_by_sorting(
    n: int, val_split: float, test_split: float, seed: int, labels: np.ndarray
) -> list[np.ndarray]:
    """The stratified split as lrdecay 0.x made it: every key sorted."""
    n_val = max(1, round(n * val_split))
    n_test = max(1, round(n * test_split)) if test_split > 0 else 0
    rng = np.random.default_rng(seed)
    keys = np.empty(n)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        keys[members] = (np.arange(len(members)) + rng.random()) / len(members)
    order = np.argsort(keys, kind="stable")
    if np.any(np.diff(keys[order]) == 0):
        order = np.lexsort((rng.random(n), keys))
    cuts = [order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]]
    return [np.sort(part) for part in cuts[::-1]]


@pytest.mark.parametrize("n", [5, 17, 1797, 50_000])
def test_the_split_is_the_same_as_sorting_every_key(n: int) -> None:
    """The split picks the smallest keys without sorting them all: the same
    rows for every seed as the full sort, including tied keys (classes of
    equal size) and the digits' own size."""
    rng = np.random.default_rng(n)
    for seed in range(6):
        for labels in (rng.integers(0, 3, n), np.arange(n) % 2, np.arange(n) % 10):
            for fractions in ((0.2, 0.0), (0.2, 0.2), (0.25, 0.25)):
                expected = _split_by_sorting(n, *fractions, seed, labels)
                got = split_indices(n, *fractions, seed, stratify=labels)
                assert [part.tolist() for part in got] == [
                    part.tolist() for part in expected
                ], (n, seed, fractions)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"not found: 'nope\.csv'"):
        data.load_dataset("nope.csv", target="y")


def test_missing_target_column_lists_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "x1,x2,y\n1,2,0\n2,3,1")
    with pytest.raises(DataError, match=r"'label' not found .* 'x1', 'x2', 'y'"):
        data.load_dataset(path, target="label")


def test_csv_needs_a_target(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "x1,y\n1,0\n2,1")
    with pytest.raises(DataError, match="--target"):
        data.load_dataset(path)


def test_non_numeric_feature_names_column_line_and_value(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "x1,color,y\n1,2,0\n2,red,1")
    with pytest.raises(DataError, match=r"'color' .* line 3 holds 'red'"):
        data.load_dataset(path, target="y")


def test_missing_feature_value(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "x1,x2,y\n1,,0\n2,3,1")
    with pytest.raises(DataError, match=r"'x2' .* line 2"):
        data.load_dataset(path, target="y")


def test_ragged_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "x1,x2,y\n1,2,0\n2,3")
    with pytest.raises(DataError, match="line 3: 2 fields"):
        data.load_dataset(path, target="y")


def test_text_target_cannot_be_regression(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "x1,y\n1,a\n2,b\n3,a")
    with pytest.raises(DataError, match="not numeric"):
        data.load_dataset(path, target="y", task="regression")


def test_unknown_format_and_task(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(DataError, match=r"'\.xlsx'"):
        data.load_dataset(path)
    with pytest.raises(DataError, match="'ranking'"):
        data.load_dataset(task="ranking")


def test_npz_x_y(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.random((50, 3)), y=rng.random(50))
    dataset = data.load_dataset(path)
    assert dataset.task == "regression"
    assert (len(dataset.x_train), len(dataset.x_val)) == (40, 10)


def test_npz_keeps_its_own_split(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x_train=np.arange(30.0).reshape(10, 3),
        y_train=np.arange(10) % 2,
        x_val=np.arange(12.0).reshape(4, 3),
        y_val=np.array([1, 1, 0, 0]),
    )
    dataset = data.load_dataset(path)
    assert dataset.task == "classification"
    assert list(dataset.y_val) == [1, 1, 0, 0]
    assert list(dataset.y_train) == [0, 1] * 5


def test_npz_without_x_y_lists_its_arrays(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, features=np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"'x' and 'y'.*\['features'\]"):
        data.load_dataset(path)


def test_bad_split_fraction() -> None:
    with pytest.raises(DataError, match="--val-split"):
        data.load_dataset(val_split=1.5)


def test_model_builder_spec_errors(tmp_path: Path) -> None:
    dataset = data.load_dataset()
    (tmp_path / "my_models.py").write_text(
        "WIDTH = 3\ndef needs_other(units):\n    return None\n"
    )
    with pytest.raises(DataError, match="module:function"):
        models.load_model_builder("my_models", dataset)
    with pytest.raises(DataError, match="'no_such_module_xyz'"):
        models.load_model_builder("no_such_module_xyz:build", dataset)
    with pytest.raises(DataError, match="no attribute 'build'"):
        models.load_model_builder("my_models:build", dataset)
    with pytest.raises(DataError, match="not a function"):
        models.load_model_builder("my_models:WIDTH", dataset)
    with pytest.raises(DataError, match="takes 'units'"):
        models.load_model_builder("my_models:needs_other", dataset)


def test_model_builder_gets_the_arguments_it_names(tmp_path: Path) -> None:
    dataset = data.load_dataset()
    (tmp_path / "shapes.py").write_text(
        "def build(input_shape, num_outputs, hp=None):\n"
        "    return (input_shape, num_outputs, hp)\n"
        "def bare():\n    return 'model'\n"
    )
    build = models.load_model_builder("shapes:build", dataset)
    assert build("HP") == ((64,), 10, "HP")
    assert (
        models.load_model_builder(str(tmp_path / "shapes.py") + ":bare", dataset)(None)
        == "model"
    )


def test_default_model_fits_each_task(tmp_path: Path) -> None:
    dataset = data.load_dataset()
    model = models.default_model_builder(dataset)()
    assert model.output_shape == (None, 10)
    assert model.loss == "sparse_categorical_crossentropy"
    history = model.fit(dataset.x_train[:64], dataset.y_train[:64], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    rows = "\n".join(f"{i},{i % 5},{i * 0.3 + 0.1}" for i in range(40))
    path = write_csv(tmp_path / "r.csv", f"a,b,y\n{rows}")
    regression = data.load_dataset(path, target="y")
    model = models.default_model_builder(regression)()
    assert model.output_shape == (None, 1)
    assert model.loss == "mean_squared_error"
