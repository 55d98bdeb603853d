"""The user's callbacks in a search see, in every trial, what an independent fit shows.

Trials share prefixes only with callbacks known to keep no state across
epochs; a path-writing callback writes each trial to its own path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import pytest

from lrdecay import search
from lrdecay.tuning.data.user_callbacks import (
    StatelessCallback,
    sharing_off_reason,
    trial_path,
)


def test_trial_paths_fill_the_field_or_insert_the_trial_id() -> None:
    assert trial_path("best.keras", "0001", folder=False) == "best-trial_0001.keras"
    assert trial_path("w.weights.h5", "0001", folder=False) == (
        "w-trial_0001.weights.h5"
    )
    assert trial_path("ckpt/{trial_id}/e{epoch:02d}.keras", "0001", folder=False) == (
        "ckpt/0001/e{epoch:02d}.keras"
    )
    assert trial_path("logs", "0001", folder=True) == "logs/trial_0001"


def test_only_known_stateless_callbacks_keep_prefixes_shared() -> None:
    class Ticker(StatelessCallback):
        pass

    class MyProgbar(keras.callbacks.ProgbarLogger):
        pass

    stateless = [keras.callbacks.TerminateOnNaN(), keras.callbacks.History(), Ticker()]
    assert sharing_off_reason(stateless) is None
    reason = sharing_off_reason(
        [*stateless, keras.callbacks.EarlyStopping(), MyProgbar()]
    )
    assert reason is not None
    assert reason.startswith("the callbacks EarlyStopping, MyProgbar in `callbacks=`")


def _search(
    build: Any, digits: Any, tmp_path: Path, name: str, **kwargs: Any
) -> tuple[Any, Any]:
    import mlflow

    x, y, x_val, y_val = digits
    uri = f"sqlite:///{tmp_path}/{name}.db"
    result = search(
        build, x, y, validation_data=(x_val, y_val), algorithm="grid",
        kinds=("step", "plateau"), decay_epochs=[2, 3], epochs=8,
        batch_size=256, seed=3, tracking=uri,
        project_dir=str(tmp_path / name), **kwargs,
    )  # fmt: skip
    return result, mlflow.MlflowClient(uri)


def _epochs_per_trial(client: Any) -> dict[str, int]:
    experiment = client.get_experiment_by_name("lrdecay")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    return {
        run.data.tags["lrdecay.trial_id"]: len(
            client.get_metric_history(run.info.run_id, "loss")
        )
        for run in runs
        if "lrdecay.trial_id" in run.data.tags
    }


@pytest.mark.slow
def test_early_stopping_stops_every_trial_as_an_independent_fit(
    digits, make_model, tmp_path
):
    # SGD at 1.0: the control's val_loss rises at epoch 5, so it stops there.
    build = lambda: make_model(learning_rate=1.0)  # noqa: E731
    stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1)
    with pytest.warns(UserWarning, match=r"do not share prefixes.*EarlyStopping"):
        shared, shared_client = _search(
            build, digits, tmp_path, "shared", callbacks=[stopping]
        )
    independent, independent_client = _search(
        build, digits, tmp_path, "independent", callbacks=[stopping],
        share_prefix=False,
    )  # fmt: skip
    epochs = _epochs_per_trial(shared_client)
    assert epochs == _epochs_per_trial(independent_client)
    assert len(epochs) == 5
    assert min(epochs.values()) < 8  # EarlyStopping stopped some trial
    assert [t.score for t in shared.trials] == [t.score for t in independent.trials]
    parent = shared_client.get_run(shared.parent_run_id)
    assert "EarlyStopping" in parent.data.tags["lrdecay.share_prefix_off"]
    assert parent.data.params["share_prefix"] == "False"


@pytest.mark.slow
def test_a_checkpoint_path_is_per_trial(digits, make_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    x, y, x_val, y_val = digits
    callbacks = [
        keras.callbacks.ModelCheckpoint("best.keras", save_best_only=True),
        keras.callbacks.CSVLogger("logs/{trial_id}.csv"),
    ]
    with pytest.warns(UserWarning, match=r"'best.keras'\) -> 'best-trial_0001.keras'"):
        result = search(
            lambda: make_model(), x, y, validation_data=(x_val, y_val),
            algorithm="grid", kinds=("step",), decay_epochs=[1], epochs=2,
            batch_size=256, seed=0, tracking=False, callbacks=callbacks,
            project_dir=str(tmp_path / "projects"),
        )  # fmt: skip
    ids = sorted(trial.trial_id for trial in result.trials)
    assert len(ids) == 2
    assert sorted(p.name for p in tmp_path.glob("best*.keras")) == [
        f"best-trial_{trial_id}.keras" for trial_id in ids
    ]
    assert sorted(p.name for p in (tmp_path / "logs").glob("*.csv")) == [
        f"{trial_id}.csv" for trial_id in ids
    ]
    for trial_id in ids:
        rows = (tmp_path / "logs" / f"{trial_id}.csv").read_text().splitlines()
        assert len(rows) == 3  # the header and two epochs: not another trial's
    # The user's own callbacks are untouched (KerasTuner fitted copies).
    assert callbacks[0].filepath == "best.keras"
