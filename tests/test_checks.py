"""The preflight of a search: models it cannot use fail before any trial or run.

Each bad model or objective is one `TypeError`/`ValueError` naming the fix
from Python, one line and exit 2 from the command line, with no MLflow run
left behind. A trial that fails after its fit finished is tagged FAILED.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from lrdecay import search

pytestmark = pytest.mark.slow


def _runs(tmp_path: Path) -> list[Any]:
    """Every run of the store's experiments (none when nothing was created)."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, max_results=100) if experiments else []


def _search(build: Callable[[], Any], digits: Any, tmp_path: Path, **kwargs: Any):
    x, y, x_val, y_val = digits
    options: dict[str, Any] = {
        "validation_data": (x_val, y_val),
        "algorithm": "grid",
        "kinds": ("step",),
        "decay_epochs": [1],
        "epochs": 2,
        "batch_size": 256,
        "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "project_dir": str(tmp_path / "projects"),
        **kwargs,
    }
    return search(build, options.pop("x", x), options.pop("y", y), **options)


def _dense(units: int, loss: str, optimizer: Any = None) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(units, activation="softmax")]
    )
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.1),
        loss=loss,
        metrics=["accuracy"],
    )
    return model


def test_a_schedule_compiled_model_fails_before_any_run(digits, tmp_path):
    def build() -> Any:
        schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.9)
        return _dense(
            10, "sparse_categorical_crossentropy", keras.optimizers.Adam(schedule)
        )

    with pytest.raises(TypeError) as raised:
        _search(build, digits, tmp_path)
    message = str(raised.value)
    assert "`ExponentialDecay` learning-rate schedule" in message
    assert "keras.optimizers.Adam(learning_rate=1e-3)" in message
    assert "ScheduledDecay" not in message
    assert _runs(tmp_path) == []


def test_an_uncompiled_model_fails_before_any_run(digits, tmp_path):
    def build() -> Any:
        return keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])

    with pytest.raises(ValueError, match=r"compiled model.*`model.compile\("):
        _search(build, digits, tmp_path)
    assert _runs(tmp_path) == []


def test_labels_that_do_not_match_the_outputs_fail_naming_the_shapes(digits, tmp_path):
    # Integer labels, one-hot loss: Keras fails in every trial's first step.
    with pytest.raises(ValueError) as raised:
        _search(lambda: _dense(10, "categorical_crossentropy"), digits, tmp_path)
    message = str(raised.value)
    assert "labels (256,), model outputs (256, 10)" in message
    assert "sparse_categorical_crossentropy" in message
    # Labels 0..9, three output units.
    with pytest.raises(ValueError, match=r"outputs \(256, 3\)"):
        _search(lambda: _dense(3, "sparse_categorical_crossentropy"), digits, tmp_path)
    assert _runs(tmp_path) == []


def test_an_objective_the_model_does_not_log_names_the_ones_it_does(digits, tmp_path):
    build = lambda: _dense(10, "sparse_categorical_crossentropy")  # noqa: E731
    with pytest.raises(ValueError) as raised:
        _search(build, digits, tmp_path, objective="val_acc")
    assert str(raised.value).startswith(
        "The objective 'val_acc' is not a metric this model logs; it logs "
        "'accuracy', 'loss', 'val_accuracy', 'val_loss'. Pass one of them "
        "(e.g. objective='val_accuracy')"
    )
    assert _runs(tmp_path) == []


def test_the_command_line_says_it_in_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrdecay.cli import main as cli

    code = cli.main(
        ["search", "--objective", "val_acc", "--epochs", "2", "--decay-epochs", "1",
         "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("lrdecay: error: The objective 'val_acc' is not")
    assert "objective='val_accuracy'" in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not [run for run in _runs(tmp_path) if run.info.status == "RUNNING"]
    assert [run for run in _runs(tmp_path) if "lrdecay.trial_id" in run.data.tags] == []


class _DropsTheObjectiveInTrial:
    """A user's callback that removes `val_loss` from the logs of one trial.

    KerasTuner deep-copies callbacks per trial: the count lives on the class.
    """

    started = 0

    def __new__(cls, trial: int) -> Any:
        class Dropper(keras.callbacks.Callback):
            def on_train_begin(self, logs: Any = None) -> None:
                cls.started += 1
                self.drop = cls.started == trial

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                if self.drop and logs is not None:
                    logs.pop("val_loss", None)

        return Dropper()


def test_a_trial_failed_after_its_fit_is_tagged_failed(digits, tmp_path):
    dropper = _DropsTheObjectiveInTrial(trial=2)
    result = _search(
        lambda: _dense(10, "sparse_categorical_crossentropy"),
        digits,
        tmp_path,
        decay_epochs=[1, 2],
        callbacks=[dropper],
        share_prefix=False,
    )
    statuses = {trial.trial_id: trial.status for trial in result.trials}
    assert sorted(statuses.values()) == ["COMPLETED", "COMPLETED", "FAILED"]
    trial_runs = [r for r in _runs(tmp_path) if "lrdecay.trial_id" in r.data.tags]
    assert len(trial_runs) == 3
    for run in trial_runs:
        expected = statuses[run.data.tags["lrdecay.trial_id"]]
        # One status tag: KerasTuner's word for the trial.
        assert run.data.tags["lrdecay.status"] == expected
        assert "lrdecay.trial_status" not in run.data.tags
        if expected == "FAILED":
            assert run.info.status == "FAILED"
            assert "val_loss" in run.data.tags["lrdecay.error"]
        else:
            assert run.info.status == "FINISHED"


def test_a_generator_skips_the_data_checks(digits):
    from lrdecay.tuning.data import checks

    x, y, _, _ = digits
    batches = ((x[i : i + 64], y[i : i + 64]) for i in range(0, 640, 64))
    assert checks.first_batch(batches, None, None) is None
    assert next(batches)[0].shape == (64, 64)  # nothing was read from it
    batch = checks.first_batch({"pixels": x}, y, 16)
    assert batch is not None
    assert batch[0]["pixels"].shape == (16, 64) and batch[1].shape == (16,)
    np.testing.assert_array_equal(batch[1], y[:16])


def test_the_command_line_names_the_shapes_of_a_model_the_labels_do_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    from lrdecay.cli import main as cli

    (tmp_path / "mse_model.py").write_text(
        "import keras\n"
        "def build(input_shape, num_outputs):\n"
        "    model = keras.Sequential([keras.Input(input_shape),\n"
        "                              keras.layers.Dense(num_outputs)])\n"
        "    model.compile(optimizer='sgd', loss='mean_squared_error')\n"
        "    return model\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    code = cli.main(
        ["search", "--model", "mse_model:build", "--decay-epochs", "1",
         "--epochs", "2", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]
    )  # fmt: skip
    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(lines) == 1
    assert "labels (32,), model outputs (32, 10)" in lines[0]
    assert _runs(tmp_path) == []
