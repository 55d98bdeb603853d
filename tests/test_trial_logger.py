"""A search trial's logger and the end of a tracked search, read back from MLflow.

`TrialLogger` writes KerasTuner's COMPLETED with the fit's last points and
creates its run in the experiment the search gives it; a search's trial
runs carry their status and score, and its parent run ends FINISHED with
the comparison plots (drawn in a thread) in it by the time `search()`
returns. Real fits, a real SQLite store, read through `MlflowClient`.
"""

from __future__ import annotations

from typing import Any

import keras
import pytest
from mlflow import MlflowClient

from conftest import fit
from lrdecay import StepDecay
from lrdecay.tuning.record.trial_logger import TrialLogger

EPOCHS = 3


@pytest.fixture
def uri(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path}/mlflow.db"


def _parent(client: MlflowClient, experiment: str) -> str:
    experiment_id = client.create_experiment(experiment)
    return client.create_run(experiment_id, run_name="parent").info.run_id


def test_a_trial_logger_ends_a_finished_fit_completed_in_the_given_experiment(
    uri: str, digits: Any, make_model: Any
) -> None:
    client = MlflowClient(uri)
    parent_run_id = _parent(client, "parents")
    # Another experiment than the parent's: the given id is used as given.
    trials_id = client.create_experiment("trials")
    logger = TrialLogger(
        experiment_id=trials_id,
        tracking_uri=uri,
        parent_run_id=parent_run_id,
        run_name="step epochs_drop=1",
    )
    fit(make_model(), digits, [StepDecay(epochs_drop=1), logger], epochs=EPOCHS)
    run = client.get_run(logger.run_id)
    assert run.info.experiment_id == trials_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["lrdecay.status"] == "COMPLETED"
    assert run.data.tags["mlflow.parentRunId"] == parent_run_id
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")]
    assert steps == list(range(EPOCHS))


def test_a_trial_logger_fit_that_raises_ends_failed(
    uri: str, digits: Any, make_model: Any
) -> None:
    client = MlflowClient(uri)
    parent_run_id = _parent(client, "parents")

    class Breaks(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if epoch == 1:
                raise RuntimeError("broken at epoch 1")

    logger = TrialLogger(tracking_uri=uri, parent_run_id=parent_run_id)
    with pytest.raises(RuntimeError, match="broken at epoch 1"):
        fit(make_model(), digits, [StepDecay(epochs_drop=1), logger, Breaks()])
    run = client.get_run(logger.run_id)
    # No experiment given: the parent's, looked up.
    assert run.info.experiment_id == client.get_run(parent_run_id).info.experiment_id
    assert run.info.status == "FAILED"
    assert run.data.tags["lrdecay.status"] == "FAILED"
    assert "broken at epoch 1" in run.data.tags["lrdecay.error"]


@pytest.mark.slow
def test_a_tracked_search_ends_its_runs_with_their_status_score_and_plots(
    uri: str, digits: Any, make_model: Any
) -> None:
    from lrdecay import search

    x, y, x_val, y_val = digits
    result = search(
        lambda: make_model(), x[:300], y[:300],
        validation_data=(x_val[:100], y_val[:100]),
        algorithm="grid", kinds=("step",), decay_epochs=[1, 2], epochs=3,
        batch_size=100, seed=0, tracking={"tracking_uri": uri},
    )  # fmt: skip
    client = MlflowClient(uri)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["lrdecay.status"] == "FINISHED"
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "lrdecay")}
    assert {"lrdecay/lr_curves.png", "lrdecay/val_loss_curves.png"} <= plots
    scores = {str(t.trial_id): t.score for t in result.trials}
    assert len(scores) == 3  # the control and two step decays
    for trial in result.trials:
        run = client.get_run(trial.run_id)
        assert run.info.status == "FINISHED"
        assert run.info.experiment_id == parent.info.experiment_id
        assert run.data.tags["lrdecay.status"] == "COMPLETED"
        assert float(run.data.tags["lrdecay.score"]) == pytest.approx(
            scores[str(trial.trial_id)]
        )
