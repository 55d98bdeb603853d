"""A table streamed in chunks gives what the in-memory path gives.

`lrdecay.cli.streaming` reads a file a chunk at a time and splits its rows by
a stable hash; `lrdecay.cli.data.load_dataset(..., split="hash")` splits the
same rows in memory. Small chunks force every chunk boundary the real path
meets on a large file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lrdecay.cli import data, streaming
from lrdecay.cli.columns import TableOptions
from lrdecay.cli.dataset import DataError


def write_mixed(path: Path, rows: int = 300, seed: int = 0) -> Path:
    """Numeric, integer-coded and text columns; a binary target."""
    rng = np.random.default_rng(seed)
    cities = np.array(["paris", "lyon", "nice", "lille"])
    lines = ["size,rooms,city,price,sold"]
    for _ in range(rows):
        size, rooms = rng.normal(50, 10), rng.integers(1, 5)
        city = cities[rng.integers(0, 4)]
        price = size * 3 + rooms * 10 + rng.normal()
        sold = int(size + 5 * rooms + rng.normal(0, 5) > 62)
        lines.append(f"{size:.3f},{rooms},{city},{price:.2f},{sold}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _arrays(pipeline: object) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in pipeline], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.parametrize(
    ("target", "task"), [("sold", "classification"), ("price", "regression")]
)
def test_streamed_splits_equal_the_in_memory_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, task: str
) -> None:
    path = write_mixed(tmp_path / "homes.csv")
    monkeypatch.setattr(streaming, "CHUNK_ROWS", 64)
    in_memory = data.load_dataset(
        path, target=target, test_split=0.2, seed=7, split="hash"
    )
    streamed = streaming.stream_table(
        path, target, test_split=0.2, seed=7, batch_size=50
    )
    assert streamed.task == in_memory.task == task
    assert streamed.class_names == in_memory.class_names
    assert dict(streamed.sizes) == {
        "train": len(in_memory.x_train),
        "val": len(in_memory.x_val),
        "test": len(in_memory.x_test),
    }
    assert streamed.encoding.describe() == in_memory.encoding.describe()
    for pipeline, x, y in (
        (streamed.train(), in_memory.x_train, in_memory.y_train),
        (streamed.val(), in_memory.x_val, in_memory.y_val),
        (streamed.test(), in_memory.x_test, in_memory.y_test),
    ):
        streamed_x, streamed_y = _arrays(pipeline)
        np.testing.assert_allclose(streamed_x, x, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(streamed_y, y, rtol=1e-6, atol=1e-6)
    # The split depends on the seed, and on nothing else.
    other = data.load_dataset(path, target=target, test_split=0.2, seed=8, split="hash")
    assert len(other.x_train) != len(in_memory.x_train) or not np.array_equal(
        other.y_train, in_memory.y_train
    )


def test_a_seeded_fit_on_the_stream_equals_the_fit_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    path = write_mixed(tmp_path / "homes.csv")
    monkeypatch.setattr(streaming, "CHUNK_ROWS", 64)
    in_memory = data.load_dataset(
        path, target="sold", test_split=0.2, seed=1, split="hash"
    )
    streamed = streaming.stream_table(
        path, "sold", test_split=0.2, seed=1, batch_size=32
    )

    def fit(x: object, y: object, validation: object) -> dict[str, list[float]]:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input(in_memory.input_shape),
                keras.layers.Dense(2, activation="softmax"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy"
        )
        options = {"batch_size": 32} if y is not None else {}
        return model.fit(
            x,
            y,
            validation_data=validation,
            epochs=2,
            shuffle=False,
            verbose=0,
            **options,
        ).history

    memory = fit(
        in_memory.x_train, in_memory.y_train, (in_memory.x_val, in_memory.y_val)
    )
    stream = fit(streamed.train(), None, streamed.val())
    assert stream["loss"] == pytest.approx(memory["loss"], rel=1e-5)
    assert stream["val_loss"] == pytest.approx(memory["val_loss"], rel=1e-5)


def test_stream_errors_name_the_file_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_mixed(tmp_path / "homes.csv", rows=100)
    lines = path.read_text().splitlines()
    lines[90] = lines[90].replace(lines[90].split(",")[0], "oops", 1)
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(streaming, "CHUNK_ROWS", 32)
    with pytest.raises(
        DataError, match=r"'size' of homes\.csv .* line 91 holds 'oops'"
    ):
        streaming.stream_table(path, "sold")
    with pytest.raises(DataError, match="--impute needs the table in memory"):
        streaming.stream_table(path, "sold", table_options=TableOptions(impute=True))


def test_a_file_above_the_memory_budget_is_streamed_into_arrays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_mixed(tmp_path / "homes.csv")
    in_memory = data.load_dataset(path, target="sold", seed=2, split="hash")
    # Every file is "large": a tenth of a million times its size is over 1 MiB.
    monkeypatch.setattr(streaming, "IN_MEMORY_FACTOR", 10**6)
    monkeypatch.setattr(streaming, "CHUNK_ROWS", 64)
    options = TableOptions(memory_budget_mib=1)
    streamed = data.load_dataset(path, target="sold", seed=2, table_options=options)
    assert streamed.describe() == in_memory.describe().replace(
        "homes.csv", "homes.csv (streamed, split by row hash)"
    )
    np.testing.assert_allclose(
        streamed.x_train, in_memory.x_train, rtol=1e-6, atol=1e-6
    )
    np.testing.assert_array_equal(streamed.y_val, in_memory.y_val)
    assert streamed.x_test is None
    with pytest.raises(DataError, match=r"homes\.csv: its 300 encoded rows take"):
        data.load_dataset(
            path, target="sold", table_options=TableOptions(memory_budget_mib=0)
        )
