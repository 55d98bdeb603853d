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


def test_grid_search_runs_every_kind_and_epoch(
    digits: Any, build: Callable[[], Any], tmp_path: Any
) -> None:
    from lrdecay import search

    x, y, x_val, y_val = digits
    events: list[Any] = []
    result = search(
        build, x, y, validation_data=(x_val, y_val),
        algorithm="grid", kinds=("step", "exponential"), decay_epochs=[1, 2],
        epochs=3, batch_size=BATCH, tracking=False, progress=events.append,
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
    assert result.best_model.evaluate(x_val, y_val, verbose=0)[0] == pytest.approx(
        best.score, rel=1e-4
    )
    assert [(e.index, e.total, e.trial_id, e.status) for e in events] == [
        (i + 1, 4, t.trial_id, "COMPLETED") for i, t in enumerate(trials)
    ]
    assert events[-1].best_trial_id == best.trial_id


def test_random_search_over_a_range(digits: Any, build: Callable[[], Any]) -> None:
    from lrdecay import search
    from lrdecay.space import Range

    x, y, x_val, y_val = digits
    result = search(
        build, x, y, validation_data=(x_val, y_val),
        algorithm="random", kinds=("step",), decay_epochs=Range(1, 3),
        epochs=3, max_trials=2, seed=3, batch_size=BATCH, tracking=False,
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
