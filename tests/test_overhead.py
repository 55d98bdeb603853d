"""What a search does off the training path: the checkpoint, the plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

BATCH = 256


class WeightsPerEpoch(keras.callbacks.Callback):
    """Keeps the layers' and optimizer's values at the end of every epoch."""

    def on_train_begin(self, logs: Any = None) -> None:
        self.values: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.values.append(
            [v.numpy() for v in self.model.variables]
            + [v.numpy() for v in self.model.optimizer.variables]
        )


class NoFileYet(keras.callbacks.Callback):
    """Fails the fit if `path` exists at the end of an epoch."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        assert not self.path.exists()


def _checkpoint(objective: str, path: Path) -> Any:
    import keras_tuner
    from keras_tuner.src.engine import tuner_utils

    from lrdecay._compat import keras_tuner as keras_tuner_compat

    stock = tuner_utils.SaveBestEpoch(
        keras_tuner.Objective(objective, "min"), str(path)
    )
    keras_tuner_compat.keep_best_epoch_in_memory([stock])
    assert isinstance(stock, tuner_utils.SaveBestEpoch)
    return stock


def _saved(model: Any, path: Path) -> list[np.ndarray]:
    model.load_weights(str(path))
    return [v.numpy() for v in model.variables] + [
        v.numpy() for v in model.optimizer.variables
    ]


@pytest.mark.jax
def test_the_checkpoint_is_the_best_epoch_written_once_at_the_end(
    digits: Any, make_model: Any, tmp_path: Path
) -> None:
    x, y, x_val, y_val = digits
    path = tmp_path / "checkpoint.weights.h5"
    checkpoint = _checkpoint("val_loss", path)
    probe = WeightsPerEpoch()

    # A last epoch at a rate far too high: the best epoch is an earlier one.
    rates = keras.callbacks.LearningRateScheduler(lambda e, lr: 0.5 if e < 3 else 20.0)
    model = make_model(learning_rate=0.5)
    history = model.fit(
        x, y, validation_data=(x_val, y_val), epochs=4, batch_size=BATCH, verbose=0,
        callbacks=[rates, probe, checkpoint, NoFileYet(path)],  # written at the end
    )  # fmt: skip
    losses = history.history["val_loss"]
    best = int(np.argmin(losses))
    assert best < 3
    assert checkpoint.best_value == pytest.approx(losses[best], rel=1e-6)
    assert path.exists()
    last = [v.numpy() for v in model.variables]
    # The model keeps its last weights; the file holds the best epoch's.
    for kept, value in zip(last, probe.values[-1], strict=False):
        np.testing.assert_array_equal(kept, value)
    restored = make_model(learning_rate=0.5)
    restored.optimizer.build(restored.trainable_variables)
    for saved, value in zip(_saved(restored, path), probe.values[best], strict=True):
        np.testing.assert_array_equal(saved, value)


def test_a_seeded_checkpoint_is_kept_unless_the_fit_beats_it(
    digits: Any, make_model: Any, tmp_path: Path
) -> None:
    # A branch trained from a shared prefix starts with the prefix's best
    # value and file; a fit that does not beat it leaves both alone.
    x, y, x_val, y_val = digits
    path = tmp_path / "checkpoint.weights.h5"
    path.write_bytes(b"the prefix's checkpoint")
    checkpoint = _checkpoint("val_loss", path)
    checkpoint.best_value = 0.0
    make_model().fit(
        x, y, validation_data=(x_val, y_val), epochs=2, batch_size=BATCH, verbose=0,
        callbacks=[checkpoint],
    )  # fmt: skip
    assert path.read_bytes() == b"the prefix's checkpoint"
    assert checkpoint.best_value == 0.0


def test_artifacts_in_background_end_the_run_first_then_upload(
    digits: Any, make_model: Any, tmp_path: Path
) -> None:
    import mlflow

    from lrdecay import MlflowLogger, StepDecay

    x, y, x_val, y_val = digits
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    logger = MlflowLogger(tracking_uri=uri, artifacts_in_background=True)
    make_model().fit(
        x, y, validation_data=(x_val, y_val), epochs=3, batch_size=BATCH, verbose=0,
        callbacks=[StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=1), logger],
    )  # fmt: skip
    client = mlflow.MlflowClient(uri)
    # Before the artifacts: every metric point, and the end status.
    run = client.get_run(logger.fit_run_id)
    assert run.info.status == "FINISHED"
    rates = client.get_metric_history(logger.fit_run_id, "learning_rate")
    assert [m.step for m in rates] == [0, 1, 2]
    assert [m.value for m in rates] == pytest.approx([0.1, 0.05, 0.025])
    logger.wait_for_artifacts()
    artifacts = {a.path for a in client.list_artifacts(logger.fit_run_id, "lrdecay")}
    assert artifacts == {
        "lrdecay/lr_curve.csv",
        "lrdecay/lr_curve.json",
        "lrdecay/lr_curve.png",
    }


@pytest.mark.slow
def test_a_search_returns_with_every_trial_plot_uploaded(
    digits: Any, make_model: Any, tmp_path: Path
) -> None:
    import mlflow

    from lrdecay import search

    x, y, x_val, y_val = digits
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = search(
        lambda: make_model(), x, y, validation_data=(x_val, y_val), algorithm="grid",
        kinds=("step",), decay_epochs=[1], epochs=2, batch_size=BATCH, seed=0,
        project_dir=str(tmp_path / "project"), tracking=uri,
    )  # fmt: skip
    client = mlflow.MlflowClient(uri)
    run_ids = [trial.run_id for trial in result.trials]
    assert len(run_ids) == 2  # the control and the step decay
    for run_id in run_ids:
        assert client.get_run(run_id).info.status == "FINISHED"
        artifacts = {a.path for a in client.list_artifacts(run_id, "lrdecay")}
        assert "lrdecay/lr_curve.png" in artifacts
