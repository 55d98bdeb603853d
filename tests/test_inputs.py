"""Every trial sees the control's data, for every input kind that can give that.

A seeded grid (the control, step decays at 2 and 4 epochs, 6 epochs of SGD
on the digits, tracked to SQLite) on a reshuffling `tf.data` pipeline, a
pipeline of dicts, and a generator with `steps_per_epoch`: each step
trial's `val_loss` before its first drop is the control's, to the last
digit, and shared prefixes save epochs. A pipeline with random augmentation
says once that it cannot, and shares nothing. `search()`'s keywords: `fit`
arguments, tuner options, and neither.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from search_store import unseeded_digits_model

EPOCHS = 6
SEED = 11
GRID = {"kinds": ("step",), "decay_epochs": [2, 4]}


build_model = unseeded_digits_model(16, learning_rate=0.3, momentum=0.9)


def build_dict_model() -> Any:
    import keras

    left, right = keras.Input((32,), name="left"), keras.Input((32,), name="right")
    joined = keras.layers.Concatenate()([left, right])
    hidden = keras.layers.Dense(16, activation="relu")(joined)
    model = keras.Model(
        {"left": left, "right": right},
        keras.layers.Dense(10, activation="softmax")(hidden),
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.3, momentum=0.9),
        loss="sparse_categorical_crossentropy",
    )
    return model


def _search(folder: Path, x: Any, y: Any = None, **kwargs: Any) -> Any:
    from lrdecay import search

    build = kwargs.pop("build", build_model)
    options = {
        "algorithm": "grid",
        "epochs": EPOCHS,
        "seed": SEED,
        "project_dir": folder,
        "tracking": {"tracking_uri": f"sqlite:///{folder}/mlflow.db"},
        **GRID,
        **kwargs,
    }
    return search(build, x, y, **options)


def _val_losses(result: Any) -> dict[str, list[float]]:
    """Each finished trial run's `val_loss` per epoch, by decay epochs."""
    import mlflow

    client = mlflow.MlflowClient(result.tracking_uri)
    runs = client.search_runs(
        [result.experiment_id], filter_string="tags.`lrdecay.role` = 'trial'"
    )
    curves = {}
    for run in runs:
        assert run.info.status == "FINISHED"
        params = run.data.params
        name = params.get("step/epochs_drop", params["decay_kind"])
        points = sorted(
            (point.step, point.value)
            for point in client.get_metric_history(run.info.run_id, "val_loss")
        )
        assert [step for step, _ in points] == list(range(EPOCHS))
        curves[name] = [value for _, value in points]
    return curves


def _assert_control_until_the_drop(curves: dict[str, list[float]]) -> None:
    assert sorted(curves) == ["2", "4", "constant"]
    control = curves["constant"]
    for drop in (2, 4):
        # Exactly the control's before the first drop, its own after.
        assert curves[str(drop)][:drop] == control[:drop]
        assert curves[str(drop)][drop] != control[drop]


def _parent(result: Any) -> Any:
    import mlflow

    return mlflow.MlflowClient(result.tracking_uri).get_run(result.parent_run_id)


# --- searches -------------------------------------------------------------------


@pytest.mark.jax
@pytest.mark.slow
def test_a_reshuffling_pipeline_gives_every_trial_the_controls_data(
    digits: Any, tmp_path: Path
) -> None:
    import tensorflow as tf

    x, y, x_val, y_val = digits
    pipeline = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x)).batch(32)
    validation = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        result = _search(tmp_path, pipeline, validation_data=validation)
    _assert_control_until_the_drop(_val_losses(result))
    # The step trials continue the control's trunk from their drop.
    assert (result.epochs_trained, result.epochs_independent) == (12, 18)
    assert result.inputs.exact and result.inputs.batch_size == 32
    parent = _parent(result)
    assert parent.data.tags["lrdecay.data_exact"] == "true"
    assert parent.data.params["batch_size"] == "32"
    assert parent.data.params["steps_per_epoch"] == str(-(-len(x) // 32))


@pytest.mark.slow
def test_a_pipeline_of_dicts_gives_every_trial_the_controls_data(
    digits: Any, tmp_path: Path
) -> None:
    import tensorflow as tf

    x, y, x_val, y_val = digits

    def pipeline(features: Any, labels: Any) -> Any:
        inputs = {"left": features[:, :32], "right": features[:, 32:]}
        return tf.data.Dataset.from_tensor_slices((inputs, labels))

    result = _search(
        tmp_path,
        pipeline(x, y).shuffle(len(x)).batch(32),
        validation_data=pipeline(x_val, y_val).batch(64),
        build=build_dict_model,
    )
    _assert_control_until_the_drop(_val_losses(result))
    assert result.epochs_trained < result.epochs_independent
    assert result.inputs.element_spec[0] == {
        "left": [[32], "float32"],
        "right": [[32], "float32"],
    }


@pytest.mark.jax
@pytest.mark.slow
def test_a_generator_with_steps_per_epoch_is_searched(
    digits: Any, tmp_path: Path
) -> None:
    x, y, x_val, y_val = digits
    rng = np.random.default_rng(0)

    def batches() -> Any:
        while True:  # endless, drawing from the process' own random state
            rows = rng.integers(0, len(x), 32)
            yield x[rows], y[rows]

    result = _search(
        tmp_path,
        batches(),
        validation_data=(x_val, y_val),
        steps_per_epoch=12,
    )
    assert [trial.status for trial in result.trials] == ["COMPLETED"] * 3
    _assert_control_until_the_drop(_val_losses(result))
    assert result.epochs_trained < result.epochs_independent
    assert (result.inputs.steps_per_epoch, result.inputs.kind) == (12, "generator")
    assert _parent(result).data.params["steps_per_epoch"] == "12"


@pytest.mark.slow
def test_an_augmenting_pipeline_says_so_once_and_shares_nothing(
    digits: Any, tmp_path: Path
) -> None:
    import tensorflow as tf

    x, y, x_val, y_val = digits
    # A stateful generator: new noise on every pass, whatever the global seed
    # (ops traced under a global seed repeat their noise on every pass, and
    # are then read as fixed data, as `fit` would see them).
    noise = tf.random.Generator.from_non_deterministic_state()
    pipeline = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .batch(2)
        .map(lambda a, b: (a + noise.normal(tf.shape(a), stddev=0.1), b))
    )
    with pytest.warns(UserWarning, match="random augmentation") as caught:
        result = _search(
            tmp_path,
            pipeline.take(100),
            validation_data=(x_val, y_val),
            epochs=3,
            decay_epochs=[2],
        )
    assert sum("random augmentation" in str(w.message) for w in caught) == 1
    assert "repeats=" in str(caught[0].message)
    assert result.epochs_trained == result.epochs_independent == 6
    assert not result.inputs.exact
    parent = _parent(result)
    assert parent.data.tags["lrdecay.data_exact"] == "false"
    assert "augmentation" in parent.data.tags["lrdecay.data_reason"]
    # The parent logs the batch size the data have, not the default 32.
    assert parent.data.params["batch_size"] == "2"


@pytest.mark.slow
def test_tuner_options_reach_the_tuner(digits: Any, tmp_path: Path) -> None:
    x, y, x_val, y_val = digits
    small = {"epochs": 2, "decay_epochs": [1], "validation_data": (x_val, y_val)}
    result = _search(
        tmp_path / "a",
        x[:200],
        y[:200],
        tuner_options={"max_consecutive_failed_trials": 5},
        **small,
    )
    assert result.tuner.oracle.max_consecutive_failed_trials == 5
    assert _parent(result).data.params["tuner.max_consecutive_failed_trials"] == "5"
    with pytest.warns(DeprecationWarning, match="tuner_options="):
        result = _search(
            tmp_path / "b", x[:200], y[:200], max_consecutive_failed_trials=4, **small
        )
    assert result.tuner.oracle.max_consecutive_failed_trials == 4


# --- keywords and data, without training ------------------------------------------


def test_a_keyword_that_is_neither_is_a_type_error(tmp_path: Path) -> None:
    from lrdecay import search

    with pytest.raises(TypeError, match=r"steps_per_epok.*tuner_options"):
        search(build_model, np.zeros((4, 64)), np.zeros(4), steps_per_epok=3)
    with pytest.raises(TypeError, match=r"is a `model\.fit` argument"):
        search(
            build_model,
            np.zeros((4, 64)),
            np.zeros(4),
            tuner_options={"class_weight": {0: 1.0}},
        )
    with pytest.raises(TypeError, match="tuner_options"):
        search(build_model, np.zeros((4, 64)), np.zeros(4), tuner_options=[1])


def _normalize(x: Any, y: Any = None, **kwargs: Any) -> Any:
    from lrdecay.tuning.data import normalize_data

    return normalize_data.normalize(
        x,
        y,
        validation_data=kwargs.pop("validation_data", None),
        validation_split=kwargs.pop("validation_split", None),
        batch_size=32,
        epochs=kwargs.pop("epochs", 4),
        fit_kwargs=kwargs,
    )


def test_a_shuffling_pipeline_has_one_digest_and_its_batch_size(digits: Any) -> None:
    import tensorflow as tf

    x, y, _, _ = digits
    x, y = x[:100], y[:100]
    shuffled = _normalize(
        tf.data.Dataset.from_tensor_slices((x, y)).shuffle(100).batch(8)
    )
    again = _normalize(tf.data.Dataset.from_tensor_slices((x, y)).shuffle(100).batch(8))
    ordered = _normalize(tf.data.Dataset.from_tensor_slices((x, y)).batch(8))
    other = _normalize(tf.data.Dataset.from_tensor_slices((x + 1, y)).batch(8))
    assert shuffled.exact and ordered.exact
    assert shuffled.digest() == again.digest() != other.digest()
    assert (shuffled.batch_size, shuffled.steps_per_epoch) == (8, 13)
    assert shuffled.ordered_data.shuffle and not ordered.ordered_data.shuffle
    # A pipeline that does not shuffle is read in its own order every epoch.
    fit = ordered.ordered(3).fit_arguments({"epochs": 4}, 2)
    np.testing.assert_array_equal(fit["x"][0][0], x[:8])


def test_arrays_carry_their_sample_weights_and_dicts(digits: Any) -> None:
    x, y, _, _ = digits
    weights = np.linspace(0.5, 1.5, len(x)).astype("float32")
    data = _normalize({"left": x[:, :32], "right": x[:, 32:]}, y, sample_weight=weights)
    assert data.exact and data.kind == "arrays"
    fit = data.ordered(5).fit_arguments({"epochs": 2, "sample_weight": weights}, 1)
    assert "sample_weight" not in fit
    features, labels, batch_weights = fit["x"][0]
    rows = np.searchsorted(weights, batch_weights)
    np.testing.assert_array_equal(labels, y[rows])
    np.testing.assert_array_equal(features["left"], x[rows, :32])


def test_a_finite_generator_is_read_once_and_replayed_every_epoch(digits: Any) -> None:
    x, y, _, _ = digits
    batches = ((x[i : i + 50], y[i : i + 50]) for i in range(0, 200, 50))
    data = _normalize(batches, validation_data=iter([(x[:10], y[:10])]))
    assert data.exact and data.steps_per_epoch == 4
    fit = data.ordered(0).fit_arguments({"epochs": 4}, 3)
    np.testing.assert_array_equal(fit["x"][0][1], y[:50])
    np.testing.assert_array_equal(fit["validation_data"][0][1], y[:10])
    assert fit["validation_steps"] == 1


def test_a_short_generator_is_a_value_error(digits: Any) -> None:
    x, y, _, _ = digits
    with pytest.raises(ValueError, match="steps_per_epoch"):
        _normalize(iter([(x[:8], y[:8])] * 5), steps_per_epoch=2, epochs=4)


def test_weights_reach_the_loss_as_in_keras_own_fit(digits: Any) -> None:
    import keras

    x, y, _, _ = digits
    x, y = x[:200], y[:200]
    weights = np.linspace(0.5, 1.5, 200).astype("float32")
    for weighting in ({"class_weight": {0: 3.0, 1: 0.5}}, {"sample_weight": weights}):
        data = _normalize(x, y, shuffle=False, **weighting)
        assert data.exact
        losses = []
        for ordered in (True, False):
            keras.utils.set_random_seed(0)
            model = build_model()
            if ordered:
                fit = data.ordered(0).fit_arguments({"epochs": 2, **weighting}, 0)
            else:
                fit = {"x": x, "y": y, "batch_size": 32, "epochs": 2, "shuffle": False}
                fit.update(weighting)
            losses.append(model.fit(verbose=0, **fit).history["loss"])
        assert losses[0] == losses[1]


def test_a_validation_stream_goes_on_where_the_evaluations_left_it(
    digits: Any,
) -> None:
    x, y, _, _ = digits

    def batches() -> Any:
        for start in range(0, 10_000, 10):
            yield (
                x[start % 1400 : start % 1400 + 10],
                y[start % 1400 : start % 1400 + 10],
            )

    data = _normalize(
        iter([(x, y)]),  # a one-batch training generator, replayed
        validation_data=batches(),
        validation_steps=3,
        validation_freq=2,
        epochs=6,
    )
    assert data.exact
    # Evaluated after epochs 1, 3 and 5: 3 x 3 batches recorded.
    later = data.ordered(0).fit_arguments({"epochs": 6}, 4)
    assert later["validation_steps"] == 3
    # Epoch 4 starts after two evaluations: batch 6 of the stream.
    np.testing.assert_array_equal(later["validation_data"][0][1], y[60:70])


def test_a_py_dataset_is_read_into_samples_or_a_stream(digits: Any) -> None:
    import keras

    x, y, _, _ = digits

    class Digits(keras.utils.PyDataset):
        def __init__(self, endless: bool = False) -> None:
            super().__init__()
            self.order = np.arange(100)
            self.endless = endless

        @property
        def num_batches(self) -> int | None:
            return None if self.endless else 10

        def __getitem__(self, index: int) -> Any:
            rows = self.order[(index % 10) * 10 : (index % 10) * 10 + 10]
            return x[rows], y[rows]

        def on_epoch_end(self) -> None:
            self.order = np.random.default_rng(len(self.order)).permutation(100)

    finite = _normalize(Digits())
    assert (finite.exact, finite.kind, finite.batch_size) == (True, "PyDataset", 10)
    assert finite.ordered_data.shuffle  # Keras shuffles its batches per epoch
    endless = _normalize(Digits(endless=True), steps_per_epoch=4, epochs=3)
    assert endless.exact and len(endless.ordered_data.batches) == 12


def test_a_finite_dataset_with_steps_is_read_as_keras_reads_it(digits: Any) -> None:
    import tensorflow as tf

    x, y, _, _ = digits
    dataset = tf.data.Dataset.from_tensor_slices((x[:40], y[:40])).batch(10)
    # 4 batches, 2 a epoch: epoch 1 goes on with the iterator of epoch 0.
    data = _normalize(dataset, steps_per_epoch=2, epochs=4)
    assert data.exact and data.steps_per_epoch == 2
    fit = data.ordered(0).fit_arguments({"epochs": 4}, 1)
    np.testing.assert_array_equal(fit["x"][0][1], y[20:30])
    np.testing.assert_array_equal(fit["x"][2][1], y[0:10])
    # 3 steps of a 4-batch dataset: Keras cuts the second epoch short.
    with pytest.warns(UserWarning, match="runs past the end"):
        cut = _normalize(dataset, steps_per_epoch=3, epochs=2)
    assert not cut.exact
