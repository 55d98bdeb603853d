"""MlflowLogger over HTTP, against a real `mlflow server`, including its faults.

One server serves the module (it takes seconds to start); a test that stops,
freezes or restarts it leaves it running again.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import pytest
from mlflow import MlflowClient

from conftest import fit as digits_fit
from lrdecay import MlflowLogger, PlateauDecay, StepDecay
from lrdecay.tracking.offline import replay
from mlflow_server import MlflowServer

pytestmark = pytest.mark.slow

EPOCHS = 6
fit = functools.partial(digits_fit, epochs=EPOCHS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with MlflowServer(tmp_path_factory.mktemp("mlflow-server")) as running:
        yield running


def steps_of(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


class AtEpochEnd(keras.callbacks.Callback):
    """Runs `actions[epoch]()` at the end of that epoch."""

    def __init__(self, **actions: Any) -> None:
        super().__init__()
        self.actions = {int(k.lstrip("e")): v for k, v in actions.items()}

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        action = self.actions.get(epoch)
        if action is not None:
            action()


def assert_every_epoch_once(client: MlflowClient, run_id: str) -> None:
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        assert steps_of(client, run_id, key) == list(range(EPOCHS)), key


def test_fit_over_http(
    server: MlflowServer, digits: Any, make_model: Any, lr_probe: Any
) -> None:
    step = StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=2)
    plateau = PlateauDecay(factor=0.5, patience=1, min_delta=100.0)
    logger = MlflowLogger(tracking_uri=server.uri, experiment_name="http")
    fit(make_model(), digits, [logger, step, plateau, lr_probe])

    client = MlflowClient(server.uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "http"
    learning_rates = [
        m.value
        for m in sorted(
            client.get_metric_history(logger.run_id, "learning_rate"),
            key=lambda m: m.step,
        )
    ]
    assert learning_rates == pytest.approx(lr_probe.rates, rel=1e-7)
    assert_every_epoch_once(client, logger.run_id)
    assert run.data.params["decay_kind"] == "step+plateau"
    assert run.data.params["step/epochs_drop"] == "2"
    assert run.data.params["plateau/patience"] == "1"
    assert steps_of(client, logger.run_id, "plateau_reduction") == [
        e.epoch for e in plateau.decay_events
    ]
    artifacts = {a.path for a in client.list_artifacts(logger.run_id, "lrdecay")}
    assert "lrdecay/lr_curve.png" in artifacts
    assert "lrdecay/lr_curve.csv" in artifacts


def test_fit_raises_over_http_run_failed(
    server: MlflowServer, digits: Any, make_model: Any
) -> None:
    def boom() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError), MlflowLogger(tracking_uri=server.uri) as logger:
        fit(make_model(), digits, [logger, AtEpochEnd(e1=boom)])
    run = MlflowClient(server.uri).get_run(logger.run_id)
    assert run.info.status == "FAILED"
    assert "RuntimeError: boom" in run.data.tags["lrdecay.error"]


def test_server_restarts_mid_fit_every_point_arrives_once(
    server: MlflowServer, digits: Any, make_model: Any
) -> None:
    logger = MlflowLogger(
        tracking_uri=server.uri, flush_interval=0.1, request_timeout=2.0
    )
    # Down from the end of epoch 1 to the end of epoch 3: the points of
    # epochs 1-3 wait in memory while sends fail, then go after the restart.
    outage = AtEpochEnd(e1=server.stop, e3=server.start)
    fit(make_model(), digits, [StepDecay(epochs_drop=2), logger, outage])
    assert server.running
    assert logger.offline_file is None
    assert logger.failed_sends >= 1  # the outage was felt
    client = MlflowClient(server.uri)
    assert client.get_run(logger.run_id).info.status == "FINISHED"
    assert_every_epoch_once(client, logger.run_id)


def test_frozen_server_requests_time_out_yet_nothing_is_logged_twice(
    server: MlflowServer, digits: Any, make_model: Any
) -> None:
    # A frozen server accepts connections but answers nothing: sends time out
    # and are retried, and once it thaws it also executes the requests that
    # timed out. The logger checks what the server holds before resending.
    process_group = server._process.pid  # type: ignore[union-attr]

    def freeze() -> None:
        os.killpg(process_group, signal.SIGSTOP)

    def thaw() -> None:
        os.killpg(process_group, signal.SIGCONT)

    class Wait(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 2:
                time.sleep(2.5)  # let a send time out while frozen

    logger = MlflowLogger(
        tracking_uri=server.uri, flush_interval=0.1, request_timeout=1.0
    )
    try:
        fit(
            make_model(),
            digits,
            [logger, AtEpochEnd(e1=freeze, e3=thaw), Wait()],
        )
    finally:
        thaw()
    assert logger.failed_sends >= 1  # a send timed out
    client = MlflowClient(server.uri)
    assert client.get_run(logger.run_id).info.status == "FINISHED"
    assert_every_epoch_once(client, logger.run_id)


def test_server_never_returns_file_holds_every_point_and_replays(
    server: MlflowServer, digits: Any, make_model: Any, tmp_path: Path
) -> None:
    logger = MlflowLogger(
        tracking_uri=server.uri,
        flush_interval=0.1,
        request_timeout=1.0,
        give_up_after=2.0,
        offline_dir=tmp_path,
    )
    try:
        with pytest.warns(UserWarning, match="    lrdecay replay "):
            fit(make_model(), digits, [logger, AtEpochEnd(e1=server.stop)])
        assert logger.offline_file is not None
        saved = json.loads(logger.offline_file.read_text())
    finally:
        server.start()
    assert saved["run_id"] == logger.run_id
    assert saved["end"]["status"] == "FINISHED"
    client = MlflowClient(server.uri)
    # What the server got before it went away and what the file holds are
    # every epoch's points, with no point in both.
    for key in ("loss", "val_loss", "learning_rate"):
        in_file = [step for name, _, _, step in saved["metrics"] if name == key]
        on_server = steps_of(client, logger.run_id, key)
        assert sorted(in_file + on_server) == list(range(EPOCHS)), key
        assert len(in_file) >= EPOCHS - 2  # the outage began after epoch 1
    assert client.get_run(logger.run_id).info.status == "RUNNING"

    assert replay(logger.offline_file) == logger.run_id
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert_every_epoch_once(client, logger.run_id)
    assert "lrdecay/lr_curve.png" in {
        a.path for a in client.list_artifacts(logger.run_id, "lrdecay")
    }
    # A second replay adds nothing.
    replay(logger.offline_file)
    counts = Counter(
        m.step for m in client.get_metric_history(logger.run_id, "learning_rate")
    )
    assert set(counts.values()) == {1}
