"""Real KerasTuner searches of the decay on the digits data.

Tiny budgets (2-4 epochs, batch 128-256, 2-4 trials); every search is real.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any

import pytest

import search_store as store

pytestmark = pytest.mark.slow

BATCH = 256


def _formula(
    kind: str, settings: dict[str, Any], initial_lr: float, epoch: int
) -> float:
    if kind == "step":
        return initial_lr * settings["drop"] ** (epoch // settings["epochs_drop"])
    if kind == "exponential":
        return initial_lr * math.exp(-settings["k"] * epoch)
    raise AssertionError(kind)


def _decay_state(tuner: Any, trial_id: str) -> dict[str, Any]:
    path = os.path.join(tuner.get_trial_dir(trial_id), "lrdecay_decay.json")
    with open(path) as file:
        return json.load(file)


def _state_initial_lr(tuner: Any, trial_id: str) -> float:
    return float(_decay_state(tuner, trial_id)["initial_lr"])


def _check_lr_curve(tuner: Any, trial_id: str, first_epoch: int, epochs: int) -> None:
    state = _decay_state(tuner, trial_id)
    history = state["lr_history"]
    assert [epoch for epoch, _ in history] == list(range(first_epoch, epochs))
    expected = [
        _formula(state["kind"], state["settings"], state["initial_lr"], epoch)
        for epoch in range(first_epoch, epochs)
    ]
    assert [rate for _, rate in history] == pytest.approx(expected, rel=1e-6)


@pytest.fixture
def build(make_model: Callable[..., Any]) -> Callable[[], Any]:
    return lambda: make_model(learning_rate=0.1)


def _lr_metric(client: Any, run_id: str) -> list[tuple[int, float]]:
    history = client.get_metric_history(run_id, "learning_rate")
    return sorted((point.step, point.value) for point in history)


def test_grid_search_tracks_one_run_per_trial(
    digits: Any, build: Callable[[], Any], tmp_path: Any
) -> None:
    from lrdecay import search

    x, y, x_val, y_val = digits
    events: list[Any] = []
    result = search(
        build, x, y, validation_data=(x_val, y_val),
        algorithm="grid", kinds=("step", "exponential"), decay_epochs=[1, 2],
        epochs=3, batch_size=BATCH, progress=events.append,
        tracking=f"sqlite:///{tmp_path}/mlflow.db", control=False,
    )  # fmt: skip
    trials = result.trials
    assert [t.status for t in trials] == ["COMPLETED"] * 4
    assert [(t.kind, t.settings) for t in trials] == [
        ("step", {"epochs_drop": 1, "drop": 0.5}),
        ("step", {"epochs_drop": 2, "drop": 0.5}),
        ("exponential", {"k": pytest.approx(math.log(2))}),
        ("exponential", {"k": pytest.approx(math.log(2) / 2)}),
    ]
    for trial in trials:
        _check_lr_curve(result.tuner, trial.trial_id, 0, 3)
    best = min(trials, key=lambda t: t.score)
    assert result.best_trial_id == best.trial_id
    assert result.best_score == pytest.approx(best.score)
    assert result.best_hyperparameters.values["decay_kind"] == best.kind
    assert result.best_decay == {"kind": best.kind, **best.settings}
    if best.kind == "step":
        expected_code = (
            f"StepDecay(initial_lr=0.1, drop=0.5, "
            f"epochs_drop={best.settings['epochs_drop']})"
        )
    else:  # chosen by half-life (decay epochs 1 or 2): k = ln 2 / half_life
        half_life = round(math.log(2) / best.settings["k"])
        expected_code = f"ExponentialDecay(initial_lr=0.1, half_life={half_life})"
    assert result.winner.code == expected_code
    assert f"Best: trial {best.trial_id}, val_loss " in str(result)
    assert expected_code in str(result)
    assert result.best_model.evaluate(x_val, y_val, verbose=0)[0] == pytest.approx(
        best.score, rel=1e-4
    )
    assert [(e.index, e.total, e.trial_id, e.status) for e in events] == [
        (i + 1, 4, t.trial_id, "COMPLETED") for i, t in enumerate(trials)
    ]
    assert events[-1].best_trial_id == best.trial_id

    client = store.client(tmp_path)
    (parent,) = store.runs(client, "search")
    assert parent.info.run_id == result.parent_run_id
    assert parent.info.status == "FINISHED"
    # The default project name is the command line's for the same settings,
    # data and model: the settings' hash with the data's and model's digests.
    from lrdecay.tuning.pipeline.identity import identify

    project_name = identify(
        {
            "algorithm": "grid", "kinds": ("step", "exponential"),
            "decay_epochs": [1, 2], "initial_lr": None, "epochs": 3,
            "batch_size": BATCH, "objective": "val_loss", "seed": None,
            "control": False,
        },
        build, x, y, (x_val, y_val),
    ).project_name()  # fmt: skip
    assert project_name.startswith("grid-digits-")
    assert parent.data.tags["lrdecay.search"] == project_name
    assert result.tuner.project_name == project_name
    assert parent.data.tags["lrdecay.best_trial_id"] == best.trial_id
    assert parent.data.metrics["best_score"] == pytest.approx(best.score)
    assert parent.data.params["algorithm"] == "grid"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "lrdecay")}
    assert {"lrdecay/lr_curves.png", "lrdecay/val_loss_curves.png"} <= artifacts

    children = store.runs(client, "trial")
    assert len(children) == 4
    oracle_trials = result.tuner.oracle.trials
    for trial, run in zip(trials, children, strict=True):
        tags, params = run.data.tags, run.data.params
        assert run.info.status == "FINISHED"
        assert run.info.run_id == trial.run_id
        assert tags["mlflow.parentRunId"] == result.parent_run_id
        assert tags["lrdecay.trial_id"] == trial.trial_id
        assert tags["lrdecay.status"] == "COMPLETED"
        assert "lrdecay.trial_status" not in tags
        assert (tags.get("lrdecay.best") == "true") == (trial.trial_id == best.trial_id)
        values = oracle_trials[trial.trial_id].hyperparameters.values
        assert {k: params[k] for k in values} == {k: str(v) for k, v in values.items()}
        # The model's float32 rate, as the user wrote it.
        assert _state_initial_lr(result.tuner, trial.trial_id) == 0.1
        state = _decay_state(result.tuner, trial.trial_id)
        expected = [
            (epoch, _formula(trial.kind, state["settings"], 0.1, epoch))
            for epoch in range(3)
        ]
        logged = _lr_metric(client, run.info.run_id)
        assert [e for e, _ in logged] == [e for e, _ in expected]
        assert [v for _, v in logged] == pytest.approx([v for _, v in expected])


def test_random_search_over_a_range(digits: Any, build: Callable[[], Any]) -> None:
    from lrdecay import search
    from lrdecay.tuning.searchspace.space import Range

    x, y, x_val, y_val = digits
    result = search(
        build, x, y, validation_data=(x_val, y_val),
        algorithm="random", kinds=("step",), decay_epochs=Range(1, 3),
        epochs=3, max_trials=2, seed=3, batch_size=BATCH, tracking=False,
        control=False,
    )  # fmt: skip
    assert len(result.trials) == 2
    assert all(t.status == "COMPLETED" for t in result.trials)
    for trial in result.trials:
        assert 1 <= trial.settings["epochs_drop"] <= 3
        _check_lr_curve(result.tuner, trial.trial_id, 0, 3)


def test_stock_hyperband_continues_the_decay_where_it_left_off(
    digits: Any, build: Callable[[], Any], tmp_path: Any
) -> None:
    import keras_tuner

    from lrdecay import DecayHyperModel

    x, y, x_val, y_val = digits
    hypermodel = DecayHyperModel(
        build, kinds=("step", "exponential"), decay_epochs=[0.25, 0.5], tracking=False
    )
    tuner = keras_tuner.Hyperband(
        hypermodel, objective="val_loss", max_epochs=4, factor=2,
        hyperband_iterations=1, seed=1, directory=str(tmp_path), project_name="hb",
    )  # fmt: skip
    tuner.search(
        x, y, validation_data=(x_val, y_val), epochs=4, batch_size=BATCH, verbose=0
    )
    trials = tuner.oracle.trials
    continued = [
        t for t in trials.values() if "tuner/trial_id" in t.hyperparameters.values
    ]
    assert continued, "Hyperband with max_epochs=4, factor=2 continues a trial"
    for trial in trials.values():
        values = trial.hyperparameters.values
        budget, first = values["tuner/epochs"], values["tuner/initial_epoch"]
        state = _decay_state(tuner, trial.trial_id)
        # Relative rule: a fraction of the trial's budget, rounded half up, >= 1.
        fraction = values.get("step/epochs_drop_fraction") or values.get(
            "exponential/half_life_fraction"
        )
        decay_epochs = max(1, math.floor(fraction * budget + 0.5))
        if state["kind"] == "step":
            assert state["settings"]["epochs_drop"] == decay_epochs
        else:
            assert state["settings"]["k"] == pytest.approx(math.log(2) / decay_epochs)
        # The continued trial starts at Hyperband's initial_epoch, not 0.
        _check_lr_curve(tuner, trial.trial_id, first, budget)


def test_stock_bayesian_optimization(
    digits: Any, build: Callable[[], Any], tmp_path: Any
) -> None:
    import keras_tuner

    from lrdecay import DecayHyperModel

    x, y, x_val, y_val = digits
    hypermodel = DecayHyperModel(
        build, kinds=("step", "exponential"), decay_epochs=[1, 2],
        initial_lr=[0.1, 0.05], tracking=False,
    )  # fmt: skip
    tuner = keras_tuner.BayesianOptimization(
        hypermodel, objective="val_accuracy", max_trials=3, num_initial_points=2,
        seed=2, directory=str(tmp_path), project_name="bo",
    )  # fmt: skip
    tuner.search(
        x, y, validation_data=(x_val, y_val), epochs=2, batch_size=BATCH, verbose=0
    )
    assert len(tuner.oracle.trials) == 3
    for trial in tuner.oracle.trials.values():
        assert trial.status == "COMPLETED"
        state = _decay_state(tuner, trial.trial_id)
        assert state["initial_lr"] == trial.hyperparameters.values["initial_lr"]
        _check_lr_curve(tuner, trial.trial_id, 0, 2)


def _linear_regression() -> Any:
    """Least squares on the digit labels: SGD with a rate of 100 diverges to inf."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
    return model


def test_a_diverging_trial_fails_cleanly_and_the_search_goes_on(
    digits: Any, tmp_path: Any
) -> None:
    from lrdecay import search

    x, y, x_val, y_val = digits
    y, y_val = y.astype("float32"), y_val.astype("float32")
    events: list[Any] = []
    result = search(
        _linear_regression, x, y, validation_data=(x_val, y_val),
        algorithm="grid", kinds=("step",), decay_epochs=[1],
        initial_lr=[100.0, 0.01], epochs=2, batch_size=BATCH, progress=events.append,
        tracking=f"sqlite:///{tmp_path}/mlflow.db", control=False,
    )  # fmt: skip
    statuses = {t.settings["initial_lr"]: t.status for t in result.trials}
    assert statuses == {100.0: "FAILED", 0.01: "COMPLETED"}
    good = next(t for t in result.trials if t.status == "COMPLETED")
    assert result.best_trial_id == good.trial_id
    assert math.isfinite(result.best_score)
    assert [e.status for e in events] == ["FAILED", "COMPLETED"]
    assert "nan" in (events[0].message or "").lower() or "inf" in (
        events[0].message or ""
    )

    client = store.client(tmp_path)
    runs = {r.data.tags["lrdecay.trial_id"]: r for r in store.runs(client, "trial")}
    assert len(runs) == 2
    failed = next(t for t in result.trials if t.status == "FAILED")
    bad_run = runs[failed.trial_id]
    assert bad_run.info.status == "FAILED"
    assert bad_run.data.tags["lrdecay.status"] == "FAILED"
    assert "became" in bad_run.data.tags["lrdecay.error"]
    assert "lrdecay.best" not in bad_run.data.tags
    assert runs[good.trial_id].info.status == "FINISHED"
    assert runs[good.trial_id].data.tags["lrdecay.best"] == "true"


_SEARCH_SCRIPT = '''
import glob, os, sys, time
import keras
from sklearn.datasets import load_digits
import lrdecay

x, y = load_digits(return_X_y=True)
# The test's digits (conftest): the resumed search must be the same data.
x, y = (x / 16.0).astype("float32"), y.astype("int32")
here = sys.argv[1]


def build():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)),
                              keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return model


class HoldSecondTrial(keras.callbacks.Callback):
    """Marks the 2nd trial mid-fit, then waits there to be killed."""

    def on_train_end(self, logs=None):
        open(os.path.join(here, f"done-{time.time_ns()}"), "w").close()

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1 and glob.glob(os.path.join(here, "done-*")):
            time.sleep(2)  # let the logger send the epochs so far
            open(os.path.join(here, "ready"), "w").close()
            time.sleep(600)


lrdecay.search(
    build, x[:1400], y[:1400], validation_data=(x[1400:], y[1400:]),
    algorithm="grid", kinds=("step", "exponential"), decay_epochs=[1, 2],
    epochs=3, batch_size=256, project_dir=os.path.join(here, "project"),
    tracking=f"sqlite:///{here}/mlflow.db", callbacks=[HoldSecondTrial()],
    control=False,
)
'''


def test_resume_after_kill_9_reuses_the_parent_and_reruns_the_killed_trial(
    digits: Any, build: Callable[[], Any], tmp_path: Any
) -> None:
    import signal
    import subprocess
    import sys
    import time

    from lrdecay import search

    script = tmp_path / "search_script.py"
    script.write_text(_SEARCH_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "ready").exists():
            assert process.poll() is None, "the search ended before it was killed"
            assert time.monotonic() < deadline, "the 2nd trial never started"
            time.sleep(0.2)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()

    client = store.client(tmp_path)
    (parent,) = store.runs(client, "search")
    before = store.runs(client, "trial")
    assert [(r.data.tags["lrdecay.trial_id"], r.info.status) for r in before] == [
        ("0000", "FINISHED"),
        ("0001", "RUNNING"),
    ]

    x, y, x_val, y_val = digits
    result = search(
        build, x, y, validation_data=(x_val, y_val),
        algorithm="grid", kinds=("step", "exponential"), decay_epochs=[1, 2],
        epochs=3, batch_size=BATCH, project_dir=str(tmp_path / "project"),
        tracking=f"sqlite:///{tmp_path}/mlflow.db", control=False,
    )  # fmt: skip
    assert result.parent_run_id == parent.info.run_id
    assert [t.status for t in result.trials] == ["COMPLETED"] * 4
    (parent_after,) = store.runs(client, "search")
    assert parent_after.info.status == "FINISHED"
    assert parent_after.data.tags["lrdecay.resumes"] == "1"

    after = store.runs(client, "trial")
    assert [(r.data.tags["lrdecay.trial_id"], r.info.status) for r in after] == [
        ("0000", "FINISHED"),  # not re-run, not duplicated
        ("0001", "KILLED"),  # the stale run of the killed process
        ("0001", "FINISHED"),  # the re-run
        ("0002", "FINISHED"),
        ("0003", "FINISHED"),
    ]
    assert after[0].info.run_id == before[0].info.run_id
    assert after[1].info.run_id == before[1].info.run_id
    assert after[1].data.tags["lrdecay.stale"] == "true"
    assert after[1].data.tags["lrdecay.status"] == "KILLED"
    assert {t.run_id for t in result.trials} == {
        r.info.run_id for r in after if r.info.status == "FINISHED"
    }
    # The re-run trial logged its whole curve again.
    assert [e for e, _ in _lr_metric(client, after[2].info.run_id)] == [0, 1, 2]


def test_search_leaves_the_heap_unfrozen_when_it_fails(
    digits: Any, build: Callable[[], Any]
) -> None:
    import gc

    import keras

    from lrdecay import search

    class Interrupt(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            raise KeyboardInterrupt

    x, y, x_val, y_val = digits
    assert gc.get_freeze_count() == 0
    with pytest.raises(KeyboardInterrupt):
        search(
            build, x, y, validation_data=(x_val, y_val), kinds=("step",),
            decay_epochs=[1], epochs=1, batch_size=BATCH, tracking=False,
            callbacks=[Interrupt()],
        )  # fmt: skip
    assert gc.get_freeze_count() == 0
