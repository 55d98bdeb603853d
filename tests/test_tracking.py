"""MlflowLogger with a real MLflow SQLite store in tmp_path, read by MlflowClient."""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import keras
import mlflow
import pytest
from mlflow import MlflowClient

import lrdecay
from conftest import fit
from lrdecay import ExponentialDecay, MlflowLogger, PlateauDecay, StepDecay
from lrdecay.tracking import backstop
from lrdecay.tracking.offline import replay
from lrdecay.tracking.params import float_text, param_text
from mlflow_server import free_port

EPOCHS = 5


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/mlflow.db"


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    points = client.get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in points)


def values(client: MlflowClient, run_id: str, key: str) -> list[float]:
    points = history(client, run_id, key)
    assert [step for step, _ in points] == list(range(len(points)))  # once per epoch
    return [value for _, value in points]


class Raise(keras.callbacks.Callback):
    def __init__(self, at_epoch: int, error: BaseException) -> None:
        super().__init__()
        self.at_epoch = at_epoch
        self.error = error

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch == self.at_epoch:
            raise self.error


def plateau_every_other_epoch() -> PlateauDecay:
    # min_delta larger than any change: no epoch counts as an improvement.
    return PlateauDecay(monitor="val_loss", factor=0.5, patience=1, min_delta=100.0)


DECAYS = {
    "step": lambda: StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=2),
    "exponential": lambda: ExponentialDecay(initial_lr=0.1, k=0.3),
    "plateau": plateau_every_other_epoch,
}


# Every kind, and the logger both before and after the decay callback.
@pytest.mark.parametrize(
    ("kind", "logger_first"),
    [("step", True), ("exponential", False), ("plateau", True), ("plateau", False)],
)
def test_logs_the_rate_of_every_epoch_params_and_artifacts(
    uri: str, digits: Any, make_model: Any, lr_probe: Any, kind: str,
    logger_first: bool,
) -> None:  # fmt: skip
    decay = DECAYS[kind]()
    logger = MlflowLogger(tracking_uri=uri, experiment_name="decays", run_name="r")
    callbacks = [logger, decay, lr_probe] if logger_first else [decay, lr_probe, logger]
    fit(make_model(), digits, callbacks)

    client = MlflowClient(uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "r"
    assert client.get_experiment(run.info.experiment_id).name == "decays"
    assert values(client, logger.run_id, "learning_rate") == pytest.approx(
        lr_probe.rates, rel=1e-7
    )
    assert values(client, logger.run_id, "learning_rate") == pytest.approx(
        [rate for _, rate in decay.lr_history], rel=1e-7
    )
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(values(client, logger.run_id, key)) == EPOCHS
    params = run.data.params
    assert params["decay_kind"] == decay.kind
    assert "lrdecay.kind" not in run.data.tags  # the param says it
    assert run.data.tags["lrdecay.status"] == "FINISHED"
    for name in decay.get_config():
        if name != "verbose":
            assert f"{decay.kind}/{name}" in params, name
    assert not [name for name in params if name.startswith(f"{decay.kind}.")]
    assert params["epochs"] == str(EPOCHS)
    assert params["batch_size"] == "64"
    assert params["steps_per_epoch"] == str(math.ceil(len(digits[0]) / 64))
    assert params["optimizer"] == "SGD"
    artifacts = {a.path for a in client.list_artifacts(logger.run_id, "lrdecay")}
    assert artifacts == {
        "lrdecay/lr_curve.png",
        "lrdecay/lr_curve.csv",
        "lrdecay/lr_curve.json",
    }
    curve = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/lrdecay/lr_curve.json")
    assert curve["learning_rate"] == pytest.approx(lr_probe.rates, rel=1e-7)
    if decay.kind == "plateau":
        events = decay.decay_events
        assert len(events) >= 2
        reductions = history(client, logger.run_id, "plateau_reduction")
        assert [step for step, _ in reductions] == [e.epoch for e in events]
        assert [rate for _, rate in reductions] == pytest.approx(
            [e.new_lr for e in events]
        )
        assert [row["epoch"] for row in curve["plateau_reductions"]] == [
            e.epoch for e in events
        ]


@pytest.mark.parametrize("logger_first", [True, False], ids=["first", "last"])
def test_step_and_plateau_together_in_either_order(
    uri: str, digits: Any, make_model: Any, lr_probe: Any, logger_first: bool
) -> None:
    step = StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=3)
    plateau = plateau_every_other_epoch()
    logger = MlflowLogger(tracking_uri=uri)
    callbacks = [step, plateau, lr_probe]
    callbacks = [logger, *callbacks] if logger_first else [*callbacks, logger]
    fit(make_model(), digits, callbacks, epochs=6)

    client = MlflowClient(uri)
    assert values(client, logger.run_id, "learning_rate") == pytest.approx(
        lr_probe.rates, rel=1e-7
    )
    assert client.get_run(logger.run_id).data.params["decay_kind"] == "step+plateau"


def test_optimizer_with_learning_rate_schedule(
    uri: str, digits: Any, make_model: Any, lr_probe: Any
) -> None:
    schedule = keras.optimizers.schedules.ExponentialDecay(
        0.1, decay_steps=10, decay_rate=0.5
    )
    model = make_model(optimizer=keras.optimizers.SGD(learning_rate=schedule))
    logger = MlflowLogger(tracking_uri=uri)
    fit(model, digits, [logger, lr_probe])

    client = MlflowClient(uri)
    logged = values(client, logger.run_id, "learning_rate")
    assert logged == pytest.approx(lr_probe.rates, rel=1e-6)
    assert logged[0] > logged[-1]  # it really decays
    params = client.get_run(logger.run_id).data.params
    assert params["lr_schedule"] == "ExponentialDecay"
    assert params["lr_schedule/decay_steps"] == "10"
    assert params["decay_kind"] == "none"


def test_uses_the_active_run_and_leaves_it_open(
    uri: str, digits: Any, make_model: Any
) -> None:
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run() as active:
            logger = MlflowLogger()
            fit(make_model(), digits, [StepDecay(epochs_drop=2), logger], epochs=2)
            assert logger.run_id == active.info.run_id
            client = MlflowClient(uri)
            assert client.get_run(active.info.run_id).info.status == "RUNNING"
            assert len(values(client, active.info.run_id, "learning_rate")) == 2

            child = MlflowLogger(nested=True)
            fit(make_model(), digits, [child], epochs=2)
            child_run = client.get_run(child.run_id)
            assert child_run.data.tags["mlflow.parentRunId"] == active.info.run_id
            assert child_run.info.status == "FINISHED"
            assert client.get_run(active.info.run_id).info.status == "RUNNING"
        assert client.get_run(active.info.run_id).info.status == "FINISHED"
    finally:
        mlflow.set_tracking_uri(None)


def test_parent_run_id_and_run_id_resume(
    uri: str, digits: Any, make_model: Any
) -> None:
    client = MlflowClient(uri)
    parent = client.create_run("0")
    child = MlflowLogger(
        tracking_uri=uri, parent_run_id=parent.info.run_id, tags={"team": "a"}
    )
    fit(make_model(), digits, [child], epochs=2)
    child_run = client.get_run(child.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child_run.data.tags["team"] == "a"

    resumed = MlflowLogger(tracking_uri=uri, run_id=parent.info.run_id)
    assert (resumed.resume_run_id, resumed.fit_run_id) == (parent.info.run_id, None)
    fit(make_model(), digits, [resumed], epochs=2)
    assert resumed.fit_run_id == resumed.run_id == parent.info.run_id
    assert len(values(client, parent.info.run_id, "loss")) == 2
    assert client.get_run(parent.info.run_id).info.status == "RUNNING"  # not ours


def test_honours_environment_and_default_store(
    tmp_path: Path, digits: Any, make_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # conftest chdirs to tmp_path: MLflow's default is sqlite:///mlflow.db there.
    logger = MlflowLogger()
    fit(make_model(), digits, [logger], epochs=1)
    assert (tmp_path / "mlflow.db").exists()
    default = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_run(logger.run_id)
    assert default.info.experiment_id == "0"

    env_uri = f"sqlite:///{tmp_path}/env.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    logger = MlflowLogger()
    fit(make_model(), digits, [logger], epochs=1)
    client = MlflowClient(env_uri)
    run = client.get_run(logger.run_id)
    assert client.get_experiment(run.info.experiment_id).name == "from-env"


def test_default_store_follows_the_working_directory(
    tmp_path: Path, digits: Any, make_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow 3.9 caches the store of `sqlite:///mlflow.db` by URI: without
    # resolving it, the second fit would write to the first folder's file.
    run_ids = {}
    for folder in ("first", "second"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        logger = MlflowLogger()
        fit(make_model(), digits, [logger], epochs=1)
        run_ids[folder] = logger.run_id
    for folder, run_id in run_ids.items():
        client = MlflowClient(f"sqlite:///{tmp_path / folder}/mlflow.db")
        assert [r.info.run_id for r in client.search_runs(["0"])] == [run_id]


def test_deepcopy_before_and_after_a_fit(
    uri: str, digits: Any, make_model: Any
) -> None:
    logger = MlflowLogger(tracking_uri=uri, tags={"k": "v"}, log_every_n_steps=5)
    fresh = copy.deepcopy(logger)
    assert fresh.run_id is None and fresh.tags == {"k": "v"}
    fit(make_model(), digits, [logger], epochs=1)
    used = copy.deepcopy(logger)
    assert used.run_id is None
    fit(make_model(), digits, [used], epochs=1)
    fit(make_model(), digits, [fresh], epochs=1)
    ids = {logger.run_id, used.run_id, fresh.run_id}
    assert len(ids) == 3
    client = MlflowClient(uri)
    for run_id in ids:
        assert client.get_run(run_id).info.status == "FINISHED"
        # log_every_n_steps=5 over 22 steps: steps 0, 5, 10, 15, 20
        assert [s for s, _ in history(client, run_id, "step/loss")] == [
            0,
            5,
            10,
            15,
            20,
        ]


@pytest.mark.parametrize(
    ("error", "status"),
    [(RuntimeError("boom"), "FAILED"), (KeyboardInterrupt(), "KILLED")],
    ids=["error", "interrupt"],
)
def test_context_manager_ends_a_raising_fit(
    uri: str, digits: Any, make_model: Any, error: BaseException, status: str
) -> None:
    with (
        pytest.raises(type(error)),
        MlflowLogger(tracking_uri=uri) as logger,
    ):
        fit(make_model(), digits, [logger, Raise(1, error)])
    client = MlflowClient(uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == status
    assert type(error).__name__ in run.data.tags["lrdecay.error"]
    assert len(values(client, logger.run_id, "learning_rate")) == 2  # epochs 0, 1


class RaiseAtTrainBegin(keras.callbacks.Callback):
    """Raises in `on_train_begin`: after the logger's, a part of fit no one sees."""

    def on_train_begin(self, logs: Any = None) -> None:
        raise RuntimeError("x")


@pytest.mark.parametrize(
    ("error", "status"),
    [(RuntimeError("boom at epoch 2"), "FAILED"), (KeyboardInterrupt(), "KILLED")],
    ids=["error", "interrupt"],
)
def test_a_raising_fit_ends_its_run_at_once_without_context_manager(
    uri: str, digits: Any, make_model: Any, error: BaseException, status: str
) -> None:
    logger = MlflowLogger(tracking_uri=uri)
    with pytest.raises(type(error)):
        fit(make_model(), digits, [logger, Raise(2, error)])
    # Read right after fit raised: no later fit, no process exit.
    client = MlflowClient(uri)
    run = client.get_run(logger.fit_run_id)
    assert run.info.status == status
    assert run.data.tags["lrdecay.status"] == status
    assert (
        f"{type(error).__name__}: {error}".rstrip(": ")
        in (run.data.tags["lrdecay.error"])
    )
    assert [s for s, _ in history(client, logger.fit_run_id, "learning_rate")] == [
        0,
        1,
        2,
    ]
    assert "lrdecay/lr_curve.csv" in {
        a.path for a in client.list_artifacts(logger.fit_run_id, "lrdecay")
    }
    assert not backstop.hooks_installed()


class RaiseInStep(keras.layers.Layer):
    """Raises in the training step of epoch `at_epoch` (eager fit only)."""

    def __init__(self, at_epoch: int) -> None:
        super().__init__()
        self.at_epoch = at_epoch
        self.epoch = -1

    def call(self, inputs: Any, training: Any = None) -> Any:
        if training and self.epoch == self.at_epoch:
            raise KeyboardInterrupt
        return inputs


class CountEpochs(keras.callbacks.Callback):
    def __init__(self, layer: RaiseInStep) -> None:
        super().__init__()
        self.layer = layer

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.layer.epoch = epoch


def test_an_interrupt_in_a_training_step_kills_the_run_at_once(
    uri: str, digits: Any
) -> None:
    layer = RaiseInStep(at_epoch=1)
    model = keras.Sequential(
        [keras.Input((64,)), layer, keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss="sparse_categorical_crossentropy",
        run_eagerly=True,
    )
    logger = MlflowLogger(tracking_uri=uri)
    callback_list = keras.callbacks.CallbackList(
        [CountEpochs(layer), logger], model=model, epochs=EPOCHS, verbose=0
    )
    with pytest.raises(KeyboardInterrupt):
        fit(model, digits, callback_list)  # type: ignore[arg-type]
    run = MlflowClient(uri).get_run(logger.fit_run_id)
    assert run.info.status == "KILLED"
    assert "KeyboardInterrupt" in run.data.tags["lrdecay.error"]
    # The caller's CallbackList is left as it was.
    assert (
        vars(callback_list)
        .keys()
        .isdisjoint({"on_epoch_begin", "on_epoch_end", "on_test_begin", "on_test_end"})
    )


def test_next_fit_ends_a_run_left_open_failed(
    uri: str, digits: Any, make_model: Any
) -> None:
    logger = MlflowLogger(tracking_uri=uri)
    with pytest.raises(RuntimeError):
        fit(make_model(), digits, [logger, RaiseAtTrainBegin()])
    first = logger.run_id
    client = MlflowClient(uri)
    assert client.get_run(first).info.status == "RUNNING"
    fit(make_model(), digits, [logger], epochs=1)
    assert client.get_run(first).info.status == "FAILED"
    assert client.get_run(logger.run_id).info.status == "FINISHED"
    logger.finish()  # idempotent
    assert client.get_run(logger.run_id).info.status == "FINISHED"


def test_nan_inf_and_names_mlflow_rejects(
    uri: str, digits: Any, make_model: Any
) -> None:
    class Odd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs["nan_metric"] = math.nan
            logs["inf_metric"] = math.inf
            logs["f1@0.5 (macro)"] = 0.5
            logs["../up"] = 1.0
            logs["text"] = "not a number"

    logger = MlflowLogger(tracking_uri=uri)
    with (
        pytest.warns(UserWarning, match="does not accept the name"),
        pytest.warns(UserWarning, match="'text' is not a number"),
    ):
        fit(make_model(), digits, [Odd(), logger], epochs=2)
    client = MlflowClient(uri)
    assert client.get_run(logger.run_id).info.status == "FINISHED"
    nan_values = values(client, logger.run_id, "nan_metric")
    assert len(nan_values) == 2 and all(math.isnan(v) for v in nan_values)
    assert values(client, logger.run_id, "inf_metric") == [sys.float_info.max] * 2
    assert values(client, logger.run_id, "f1_0.5 _macro_") == [0.5, 0.5]
    assert values(client, logger.run_id, "_up") == [1.0, 1.0]  # not a path
    assert "text" not in client.get_run(logger.run_id).data.metrics


def test_unreachable_server_writes_a_file_that_replays(
    uri: str, digits: Any, make_model: Any, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    logger = MlflowLogger(
        tracking_uri=dead,
        experiment_name="offline",
        run_name="away",
        request_timeout=1.0,
        give_up_after=0.0,
        offline_dir=tmp_path / "offline",
    )
    decay = StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=2)
    with (
        pytest.warns(UserWarning, match="could not start an MLflow run"),
        pytest.warns(UserWarning, match="lrdecay replay"),
    ):
        fit(make_model(), digits, [decay, logger])
    assert logger.run_id is None
    assert logger.offline_file is not None and logger.offline_file.exists()

    run_id = replay(logger.offline_file, tracking_uri=uri)
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "away"
    assert client.get_experiment(run.info.experiment_id).name == "offline"
    assert values(client, run_id, "learning_rate") == pytest.approx(
        [rate for _, rate in decay.lr_history]
    )
    assert run.data.params["step/epochs_drop"] == "2"
    assert {a.path for a in client.list_artifacts(run_id, "lrdecay")} >= {
        "lrdecay/lr_curve.png"
    }
    # Replaying again into that run logs nothing twice.
    header = __import__("json").loads(logger.offline_file.read_text())
    header["run_id"] = run_id
    logger.offline_file.write_text(__import__("json").dumps(header))
    assert replay(logger.offline_file, tracking_uri=uri) == run_id
    assert len(values(client, run_id, "learning_rate")) == EPOCHS


def test_replay_command_reports_a_bad_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    done = subprocess.run(
        [sys.executable, "-m", "lrdecay", "replay", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "not an lrdecay offline run file" in done.stderr


# KeyboardInterrupt -> KILLED takes the same path (and is covered in-process
# by the context-manager test); one subprocess keeps the suite short.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("raise_line", "status"), [("raise RuntimeError('died')", "FAILED")]
)
def test_process_exit_ends_an_open_run(
    uri: str, tmp_path: Path, raise_line: str, status: str
) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(f"""
        import keras, numpy as np, lrdecay
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")

        class Stop(keras.callbacks.Callback):
            # Before the logger in on_train_end: an error no hook of the
            # logger sees (errors in the epochs end the run at once).
            def on_train_end(self, logs=None):
                {raise_line}

        logger = lrdecay.MlflowLogger(tracking_uri={uri!r})
        try:
            model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=2, verbose=0,
                      callbacks=[Stop(), logger])
        finally:
            print(logger.run_id, flush=True)
        """)
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    run_id = done.stdout.strip().splitlines()[-1]
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == status
    assert ("RuntimeError" if status == "FAILED" else "KeyboardInterrupt") in (
        run.data.tags["lrdecay.error"]
    )
    assert len(values(client, run_id, "loss")) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tracking_uri": 3}, TypeError, "tracking_uri=3"),
        ({"tags": ["a"]}, TypeError, "tags"),
        ({"run_id": "abc", "nested": True}, ValueError, "run_id='abc'"),
        ({"log_every_n_steps": 0}, ValueError, "log_every_n_steps=0"),
        ({"flush_interval": 0}, ValueError, "flush_interval=0"),
        ({"give_up_after": -1}, ValueError, "give_up_after=-1"),
        ({"request_timeout": math.nan}, ValueError, "request_timeout=nan"),
    ],
)
def test_bad_arguments_are_named(
    kwargs: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        MlflowLogger(**kwargs)


def test_finish_rejects_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="status='DONE'"):
        MlflowLogger().finish("DONE")


def test_lazy_export() -> None:
    assert lrdecay.MlflowLogger is MlflowLogger


def test_params_use_the_search_names_and_the_values_as_given(
    uri: str, digits: Any, make_model: Any
) -> None:
    model = make_model(learning_rate=0.1)
    # What a search passes on: the rate read back from the optimizer (a float32).
    rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert rate == 0.10000000149011612
    decay = StepDecay(initial_lr=rate, drop=0.5, epochs_drop=2)
    # A trial's hyperparameters carry the same names: each setting is one param.
    logger = MlflowLogger(
        tracking_uri=uri, params={"decay_kind": "step", "step/epochs_drop": 2}
    )
    fit(model, digits, [decay, logger], epochs=1)
    params = MlflowClient(uri).get_run(logger.run_id).data.params
    assert params["step/initial_lr"] == "0.1"
    assert (params["step/drop"], params["step/epochs_drop"]) == ("0.5", "2")
    assert [name for name in params if "." in name] == []  # one scheme
    assert params["decay_kind"] == "step"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.10000000149011612, "0.1"),  # float32(0.1)
        (0.1, "0.1"),
        (0.0010000000474974513, "0.001"),  # float32(0.001)
        (0.3, "0.3"),
        (2.0, "2.0"),
        (1e-05, "1e-05"),
        (1e300, "1e+300"),
        (math.nan, "NaN"),
        (-math.inf, "-Infinity"),
    ],
)
def test_float_text_is_the_shortest_float32_form(value: float, text: str) -> None:
    assert float_text(value) == text


def test_param_text_of_other_values() -> None:
    assert [param_text(v) for v in (3, True, None, "a b", [1, 2])] == [
        "3",
        "true",
        "None",
        "a b",
        "[1, 2]",
    ]


def test_a_fit_leaves_the_process_as_it_found_it(
    uri: str, digits: Any, make_model: Any
) -> None:
    hook, environment = sys.excepthook, dict(os.environ)
    seen: list[bool] = []

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seen.append(sys.excepthook is not hook and backstop.hooks_installed())

    logger = MlflowLogger(tracking_uri=uri)
    fit(make_model(), digits, [logger, Probe()], epochs=2)
    assert seen == [True, True]  # the exit-time backstop, while the run is open
    assert sys.excepthook is hook
    assert not backstop.hooks_installed()
    assert dict(os.environ) == environment

    # A fit that raises in an epoch ends its run at once: nothing stays.
    with pytest.raises(RuntimeError):
        fit(make_model(), digits, [logger, Raise(0, RuntimeError("x"))])
    assert sys.excepthook is hook
    assert not backstop.hooks_installed()
    assert dict(os.environ) == environment

    # An error the logger cannot see leaves its run open, and the backstop
    # with it, until the run ends.
    with pytest.raises(RuntimeError):
        fit(make_model(), digits, [logger, RaiseAtTrainBegin()])
    assert backstop.hooks_installed()
    logger.finish("FAILED", "gave up")
    assert sys.excepthook is hook
    assert not backstop.hooks_installed()
    assert dict(os.environ) == environment
    assert MlflowClient(uri).get_run(logger.run_id).info.status == "FAILED"


def test_tracking_package_exports_load_lazily() -> None:
    code = (
        "import sys, lrdecay.tracking, lrdecay.tracking.params, lrdecay.tracking.uri\n"
        "print(sorted({'keras', 'mlflow'} & set(sys.modules)))\n"
        "from lrdecay.tracking import MlflowLogger, replay\n"
        "import lrdecay\n"
        "assert MlflowLogger is lrdecay.MlflowLogger\n"
        "from lrdecay.tracking.offline import replay as offline_replay\n"
        "assert replay is offline_replay\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_long_error_fits_mlflow_tag_length_without_its_warning(
    uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    # KerasTuner's "consecutive failures" error quotes the last trial's whole
    # traceback: MLflow would cut it and print it on the user's terminal.
    from lrdecay._compat.mlflow import MAX_TAG_VAL_LENGTH
    from lrdecay.tracking.guard import tag_value

    text = "RuntimeError: too many failures\nTraceback\n" + "x" * 9000 + "\nthe end"
    value = tag_value(text)
    assert len(value) == MAX_TAG_VAL_LENGTH
    assert value.startswith("RuntimeError: too many failures\n[...]\n")
    assert value.endswith("x\nthe end")
    assert tag_value("short") == "short"

    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("tags")).info.run_id
    with caplog.at_level("WARNING"):
        client.set_tag(run_id, "lrdecay.error", value)
    assert "truncated" not in caplog.text
    assert client.get_run(run_id).data.tags["lrdecay.error"] == value


def test_a_decay_without_initial_lr_logs_the_optimizers_rate(uri, make_model, digits):
    model = make_model(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
    logger = MlflowLogger(tracking_uri=uri)
    fit(model, digits, [StepDecay(epochs_drop=2), logger], epochs=3)
    params = MlflowClient(uri).get_run(logger.run_id).data.params
    assert params["step/initial_lr"] == "0.001"


def test_failed_sends_is_zero_when_every_send_went_through(
    uri: str, digits: Any, make_model: Any
) -> None:
    logger = MlflowLogger(tracking_uri=uri)
    assert logger.failed_sends == 0  # before any fit
    x, y, x_val, y_val = digits
    make_model().fit(
        x[:64], y[:64], validation_data=(x_val[:32], y_val[:32]), epochs=2,
        batch_size=64, verbose=0, callbacks=[logger],
    )  # fmt: skip
    assert logger.failed_sends == 0
    assert logger.offline_file is None
