"""Four keras-io shapes, each through a tracked fit, `search()` and `find_lr()`.

The shapes users bring, copied onto bundled or generated data (nothing is
downloaded), small enough to run in seconds each:

- a CNN on image arrays (keras-io "Simple MNIST convnet", on the digits);
- a functional model of dict inputs with preprocessing layers fed a shuffled
  `tf.data` pipeline (keras-io "Structured data classification from
  scratch", on scikit-learn's breast cancer table plus an integer-coded
  category);
- a Conv1D time-series classifier with the user's `EarlyStopping` and
  `ModelCheckpoint` (keras-io "Timeseries classification from scratch", on
  generated noisy sines);
- a 3D CNN fed a `tf.data` pipeline with random augmentation, compiled with
  `Adam(ExponentialDecay(...))` (keras-io "3D image classification from CT
  scans", on generated volumes).

Each search checks what the evidence rests on: a trial's epochs before its
first decay equal the control's exactly (the same data in every epoch), and
sharing prefixes changes no number; or, for the augmenting pipeline, that
lrdecay says it cannot be exact and shares nothing. The exact ones also run
on JAX (tests/test_jax.py).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.slow

EPOCHS = 4
SEED = 11
# The control, and a step decay halving the rate after epoch 2.
GRID = {"kinds": ("step",), "decay_epochs": [2]}
METRICS = ("loss", "val_loss", "learning_rate")


# -- the data and the models ---------------------------------------------------


def _images(digits: Any) -> tuple[np.ndarray, ...]:
    x, y, x_val, y_val = digits
    return x.reshape(-1, 8, 8, 1), y, x_val.reshape(-1, 8, 8, 1), y_val


def build_cnn() -> Any:
    import keras

    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _table() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The breast cancer table as named columns, plus a 4-level category."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = data.data.astype("float32")
    features = {
        "mean": x[:, :10],
        "error": x[:, 10:20],
        "worst": x[:, 20:],
        # Integer-coded, as keras-io's `sex` / `cp` columns are.
        "size_band": np.digitize(x[:, 3], [300.0, 600.0, 1000.0]).astype("int64"),
    }
    return features, data.target.astype("float32")


def _split(features: dict[str, np.ndarray], at: int) -> tuple[dict, dict]:
    return (
        {name: column[:at] for name, column in features.items()},
        {name: column[at:] for name, column in features.items()},
    )


def _structured(batch: int = 32) -> tuple[Any, Any, Any]:
    """Shuffled training and validation pipelines of dicts, and the model."""
    import keras
    import tensorflow as tf

    features, target = _table()
    train, val = _split(features, 450)
    train_ds = (
        tf.data.Dataset.from_tensor_slices((train, target[:450]))
        .shuffle(450)  # unseeded, reshuffled each epoch: keras-io's own
        .batch(batch)
    )
    val_ds = tf.data.Dataset.from_tensor_slices((val, target[450:])).batch(batch)

    def build() -> Any:
        inputs = {
            name: keras.Input((10,), name=name) for name in ("mean", "error", "worst")
        }
        inputs["size_band"] = keras.Input((), name="size_band", dtype="int64")
        parts = []
        for name in ("mean", "error", "worst"):
            normalize = keras.layers.Normalization()
            normalize.adapt(train[name])
            parts.append(normalize(inputs[name]))
        parts.append(
            keras.layers.CategoryEncoding(4, output_mode="one_hot")(inputs["size_band"])
        )
        hidden = keras.layers.Dense(16, activation="relu")(
            keras.layers.concatenate(parts)
        )
        output = keras.layers.Dense(1, activation="sigmoid")(hidden)
        model = keras.Model(inputs, output)
        model.compile(
            optimizer=keras.optimizers.Adam(0.01),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
        return model

    return train_ds, val_ds, build


def _series(count: int = 400, length: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Noisy sines of two frequencies: which frequency is the class."""
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, count)
    steps = np.arange(length)
    phase = rng.uniform(0, 2 * np.pi, (count, 1))
    frequency = np.where(labels[:, None] == 1, 0.45, 0.15)
    series = np.sin(frequency * steps + phase) + rng.normal(0, 0.3, (count, length))
    return series[..., None].astype("float32"), labels.astype("int32")


def build_conv1d() -> Any:
    import keras

    model = keras.Sequential(
        [
            keras.Input((64, 1)),
            keras.layers.Conv1D(16, 9, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    return model


def _volumes(count: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """8x8x8 volumes; the class is where a bright blob lies (top or bottom)."""
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 2, count)
    volumes = rng.normal(0, 0.3, (count, 8, 8, 8, 1)).astype("float32")
    for index, label in enumerate(labels):
        z = rng.integers(0, 3) + (5 if label else 0)
        volumes[index, z, 2:6, 2:6, 0] += 1.0
    return volumes, labels.astype("float32")


def _augmented(volumes: np.ndarray, labels: np.ndarray) -> Any:
    """keras-io's CT-scan pipeline: random rotation there, flip and noise here.

    Drawn from a `tf.random.Generator`, as augmentation layers do: new noise
    on every pass (a stateless op seeded by the global seed would draw the
    same noise each pass, which is fixed data, not augmentation).
    """
    import tensorflow as tf

    rng = tf.random.Generator.from_non_deterministic_state()

    def augment(volume: Any, label: Any) -> Any:
        volume = tf.cond(
            rng.uniform(()) < 0.5, lambda: tf.reverse(volume, [1]), lambda: volume
        )
        return volume + rng.normal(tf.shape(volume), stddev=0.1), label

    return (
        tf.data.Dataset.from_tensor_slices((volumes, labels))
        .shuffle(len(volumes))
        .map(augment)
        .batch(16)
    )


def _cnn3d(learning_rate: Any) -> Any:
    import keras

    model = keras.Sequential(
        [
            keras.Input((8, 8, 8, 1)),
            keras.layers.Conv3D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling3D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


# -- reading the evidence back ---------------------------------------------------


def build_cnn3d() -> Any:
    return _cnn3d(0.003)


def _curves(result: Any) -> dict[str, dict[str, list[float]]]:
    """Every finished trial run's metric values per epoch, by trial id."""
    import mlflow

    client = mlflow.MlflowClient(result.tracking_uri)
    runs = client.search_runs(
        [result.experiment_id],
        filter_string=(
            f"tags.`mlflow.parentRunId` = '{result.parent_run_id}' "
            "and attributes.status = 'FINISHED'"
        ),
    )
    curves: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        trial_id = run.data.tags["lrdecay.trial_id"]
        assert trial_id not in curves, f"two finished runs of trial {trial_id}"
        curves[trial_id] = {
            name: [
                point.value
                for point in sorted(
                    client.get_metric_history(run.info.run_id, name),
                    key=lambda point: point.step,
                )
            ]
            for name in METRICS
        }
    return curves


def _search(build: Any, x: Any, y: Any, folder: Path, **kwargs: Any) -> Any:
    from lrdecay import search

    settings = {"epochs": EPOCHS, "seed": SEED, **GRID, **kwargs}
    return search(
        build, x, y, project_dir=folder / "project",
        tracking=f"sqlite:///{folder}/mlflow.db", **settings,
    )  # fmt: skip


def _assert_exact(shared: Any, alone: Any) -> None:
    """The step trial follows the control until it drops; sharing changes nothing."""
    curves, independent = _curves(shared), _curves(alone)
    assert sorted(curves) == sorted(independent) == ["0000", "0001"]
    control, step = curves["0000"], curves["0001"]
    assert control["learning_rate"][0] == step["learning_rate"][0]
    assert step["learning_rate"][2] == pytest.approx(step["learning_rate"][0] / 2)
    # Epochs 0 and 1, before the drop: the same data, the same numbers.
    for name in ("loss", "val_loss"):
        assert step[name][:2] == control[name][:2], name
        assert step[name][2:] != control[name][2:], name
    for trial_id, trial_curves in curves.items():
        for name, values in trial_curves.items():
            assert len(values) == EPOCHS
            assert values == pytest.approx(independent[trial_id][name], rel=1e-5), (
                trial_id,
                name,
            )
    assert shared.epochs_trained < alone.epochs_trained == 2 * EPOCHS


def _fit_rates(model: Any, x: Any, y: Any, folder: Path, **fit: Any) -> list[float]:
    """A tracked fit with a bare StepDecay; the rates MLflow holds."""
    import mlflow

    import lrdecay

    uri = f"sqlite:///{folder}/fit.db"
    with lrdecay.MlflowLogger(tracking_uri=uri, experiment_name="fit") as logger:
        model.fit(
            x, y, epochs=EPOCHS, verbose=0,
            callbacks=[lrdecay.StepDecay(epochs_drop=2), logger], **fit,
        )  # fmt: skip
    client = mlflow.MlflowClient(uri)
    run = client.get_run(logger.fit_run_id)
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(logger.fit_run_id, "learning_rate")
    return [point.value for point in sorted(history, key=lambda point: point.step)]


def _weights_kept(model: Any, run: Any) -> Any:
    before = [w.copy() for w in model.get_weights()]
    result = run()
    for mine, theirs in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert np.isfinite(result.suggested_lr) and result.suggested_lr > 0
    return result


# -- the scenarios -----------------------------------------------------------------


def test_a_cnn_on_image_arrays(digits: Any, tmp_path: Path) -> None:
    from lrdecay import find_lr

    x, y, x_val, y_val = _images(digits)
    # A bare decay starts from the rate the model was compiled with.
    rates = _fit_rates(build_cnn(), x, y, tmp_path, validation_data=(x_val, y_val))
    assert rates == pytest.approx([0.01, 0.01, 0.005, 0.005])
    shared = _search(build_cnn, x, y, tmp_path / "a", validation_data=(x_val, y_val))
    alone = _search(
        build_cnn, x, y, tmp_path / "b", validation_data=(x_val, y_val),
        share_prefix=False,
    )  # fmt: skip
    _assert_exact(shared, alone)
    model = build_cnn()
    _weights_kept(model, lambda: find_lr(model, x, y, num_steps=30))


@pytest.mark.jax
def test_a_dict_input_model_on_a_shuffled_tf_data_pipeline(tmp_path: Path) -> None:
    from lrdecay import find_lr

    train_ds, val_ds, build = _structured()
    rates = _fit_rates(build(), train_ds, None, tmp_path, validation_data=val_ds)
    assert rates == pytest.approx([0.01, 0.01, 0.005, 0.005])
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        shared = _search(build, train_ds, None, tmp_path / "a", validation_data=val_ds)
    # Exact: nothing to warn of about the data.
    assert not [w for w in said if "as the control saw them" in str(w.message)]
    alone = _search(
        build, train_ds, None, tmp_path / "b", validation_data=val_ds,
        share_prefix=False,
    )  # fmt: skip
    _assert_exact(shared, alone)
    import mlflow

    parent = mlflow.MlflowClient(shared.tracking_uri).get_run(shared.parent_run_id)
    assert parent.data.params["batch_size"] == "32"
    model = build()
    _weights_kept(model, lambda: find_lr(model, train_ds, num_steps=20))


def test_a_conv1d_model_with_the_users_early_stopping_and_checkpoint(
    tmp_path: Path,
) -> None:
    import keras

    from lrdecay import find_lr

    x, y = _series()
    x_train, y_train, x_val, y_val = x[:300], y[:300], x[300:], y[300:]

    def callbacks() -> list[Any]:
        return [
            # Stops once val_loss improves by less than 0.03: at different
            # epochs in the control and the step decay.
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=1, min_delta=0.03
            ),
            keras.callbacks.ModelCheckpoint(
                str(tmp_path / "best-{trial_id}.keras"), save_best_only=True
            ),
        ]

    rates = _fit_rates(
        build_conv1d(), x_train, y_train, tmp_path, validation_data=(x_val, y_val)
    )
    assert rates == pytest.approx([0.01, 0.01, 0.005, 0.005])
    results = [
        _search(
            build_conv1d,
            x_train,
            y_train,
            tmp_path / name,
            validation_data=(x_val, y_val),
            epochs=8,
            callbacks=callbacks(),
            share_prefix=share,
        )
        for name, share in (("shared", True), ("alone", False))
    ]
    shared, alone = (_curves(result) for result in results)
    stopped = {trial: len(c["val_loss"]) for trial, c in alone.items()}
    # EarlyStopping fired (where differs between backends).
    assert max(stopped.values()) < 8, stopped
    # The user's EarlyStopping stops each trial where an independent fit stops.
    assert {trial: len(c["val_loss"]) for trial, c in shared.items()} == {
        trial: len(c["val_loss"]) for trial, c in alone.items()
    }
    for trial_id, trial_curves in shared.items():
        assert trial_curves["val_loss"] == pytest.approx(
            alone[trial_id]["val_loss"], rel=1e-5
        )
    # One checkpoint per trial, none overwritten by another trial.
    assert sorted(path.name for path in tmp_path.glob("best-*.keras")) == [
        "best-0000.keras",
        "best-0001.keras",
    ]
    model = build_conv1d()
    _weights_kept(model, lambda: find_lr(model, x_train, y_train, num_steps=20))


def test_a_3d_cnn_on_an_augmenting_pipeline(tmp_path: Path) -> None:
    import keras
    import mlflow

    import lrdecay
    from lrdecay import find_lr

    volumes, labels = _volumes()
    train_ds = _augmented(volumes[:64], labels[:64])
    val = (volumes[64:], labels[64:])

    # keras-io compiles with a schedule: lrdecay says so before any trial.
    def build_scheduled() -> Any:
        schedule = keras.optimizers.schedules.ExponentialDecay(0.003, 100, 0.96)
        return _cnn3d(schedule)

    with pytest.raises((TypeError, ValueError), match="learning-rate schedule"):
        _search(build_scheduled, train_ds, None, tmp_path / "s", validation_data=val)
    store = mlflow.MlflowClient(f"sqlite:///{tmp_path}/s/mlflow.db")
    assert all(
        not store.search_runs([experiment.experiment_id])
        for experiment in store.search_experiments()
    )
    with pytest.raises((TypeError, ValueError), match="learning-rate schedule"):
        find_lr(build_scheduled(), train_ds, num_steps=5)

    # With a float rate it trains, and says it cannot compare exactly.
    rates = _fit_rates(build_cnn3d(), train_ds, None, tmp_path, validation_data=val)
    assert rates == pytest.approx([0.003, 0.003, 0.0015, 0.0015])
    with pytest.warns(UserWarning, match="augment|random|exact") as said:
        result = _search(
            build_cnn3d, train_ds, None, tmp_path / "a", validation_data=val
        )
    about_data = [w for w in said if "as the control saw them" in str(w.message)]
    assert len(about_data) == 1
    assert result.epochs_trained == result.epochs_independent == 2 * EPOCHS
    parent = mlflow.MlflowClient(result.tracking_uri).get_run(result.parent_run_id)
    assert parent.data.tags.get("lrdecay.data_exact") == "false"
    assert len(_curves(result)) == 2
    model = build_cnn3d()
    _weights_kept(model, lambda: find_lr(model, train_ds, num_steps=10))
    assert lrdecay.__name__ == "lrdecay"
