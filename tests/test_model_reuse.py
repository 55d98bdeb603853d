"""A trial trains an earlier trial's compiled model: the same numbers, no new trace.

`lrdecay.tuning.pipeline.model_reuse.ModelReuse` hands a trial the model the
process's previous trial trained, with the new model's state copied in. It
must give every metric of every epoch of the model it stands in for (`==`),
with dropout (a seed generator among the variables), momentum (optimizer
slots) and batch normalization (non-trainable statistics); and it must keep
away from models where that is not certain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

SEED = 3


def _dropout_model(loss: Any = "sparse_categorical_crossentropy") -> Any:
    import keras

    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.2, momentum=0.9),
        loss=loss,
        metrics=["accuracy"],
    )
    return model


def build_model() -> Any:
    return _dropout_model()


def _fresh(build: Any = _dropout_model) -> Any:
    """A model built as KerasTuner builds a trial's: session cleared, seeded."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    return build()


def _fit(model: Any, digits: Any) -> dict[str, list[float]]:
    x, y, x_val, y_val = digits
    history = model.fit(
        x, y, validation_data=(x_val, y_val), epochs=3, batch_size=128,
        shuffle=False, verbose=0,
    )  # fmt: skip
    return dict(history.history)


def test_the_earlier_model_gives_the_numbers_of_the_new_one(digits: Any) -> None:
    from lrdecay.tuning.pipeline.model_reuse import ModelReuse

    reuse = ModelReuse()
    first = _fresh()
    assert reuse.take(first, {"units": 32}) is first
    _fit(first, digits)
    traced = first.train_function

    built = _fresh()
    model = reuse.take(built, {"units": 32})
    assert model is first
    reused = _fit(model, digits)
    assert model.train_function is traced  # not traced again
    weights = [np.array(v.numpy()) for v in model.variables]

    alone = _fresh()
    expected = _fit(alone, digits)
    assert reused == expected
    assert all(
        np.array_equal(a, np.array(b.numpy()))
        for a, b in zip(weights, alone.variables, strict=True)
    )


def test_models_it_cannot_vouch_for_train_themselves(digits: Any) -> None:
    import keras

    from lrdecay.tuning.pipeline.model_reuse import ModelReuse

    class Noisy(keras.layers.Layer):
        def call(self, inputs: Any) -> Any:
            return inputs

    def custom_layer() -> Any:
        model = keras.Sequential([keras.Input((64,)), Noisy(), keras.layers.Dense(10)])
        model.compile(optimizer="sgd", loss="mse")
        return model

    def closure_loss() -> Any:
        def loss(y_true: Any, y_pred: Any) -> Any:
            return keras.ops.mean(keras.ops.square(y_true - y_pred))

        return _dropout_model(loss=loss)

    def lambda_layer() -> Any:
        model = keras.Sequential(
            [keras.Input((64,)), keras.layers.Lambda(lambda t: t * 2.0)]
        )
        model.compile(optimizer="sgd", loss="mse")
        return model

    for build in (custom_layer, closure_loss, lambda_layer):
        reuse = ModelReuse()
        first = _fresh(build)
        reuse.take(first, {})
        second = _fresh(build)
        assert reuse.take(second, {}) is second, build.__name__

    # The same build with another value of the user's own hyperparameter.
    reuse = ModelReuse()
    reuse.take(_fresh(), {"units": 32})
    other = _fresh()
    assert reuse.take(other, {"units": 64}) is other
    # One optimizer object shared by the builds.
    optimizer = keras.optimizers.SGD(0.1)

    def shared_optimizer() -> Any:
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
        model.compile(optimizer=optimizer, loss="mse")
        return model

    reuse = ModelReuse()
    reuse.take(_fresh(shared_optimizer), {})
    again = _fresh(shared_optimizer)
    assert reuse.take(again, {}) is again


@pytest.mark.slow
def test_a_search_s_trials_are_their_independent_fits(
    digits: Any, tmp_path: Path
) -> None:
    import mlflow

    import lrdecay
    from prefix_trainer import train_independent

    x, y, x_val, y_val = digits
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = lrdecay.search(
        build_model, x, y, validation_data=(x_val, y_val), algorithm="grid",
        kinds=("step", "exponential"), decay_epochs=[1, 2], epochs=3,
        batch_size=128, seed=SEED, control=False, share_prefix=False,
        project_dir=tmp_path, tracking=uri,
    )  # fmt: skip
    client = mlflow.MlflowClient(uri)
    assert len(result.trials) == 4
    for trial in result.trials:
        decay = lrdecay.callbacks.DECAYS[trial.kind](initial_lr=0.2, **trial.settings)
        independent = train_independent(
            build_model, decay, x, y, validation_data=(x_val, y_val),
            epochs=3, seed=SEED, batch_size=128,
        )  # fmt: skip
        for metric in ("loss", "val_loss", "val_accuracy"):
            logged = client.get_metric_history(trial.run_id, metric)
            assert [point.value for point in logged] == [
                logs[metric] for logs in independent
            ], (trial.trial_id, metric)
