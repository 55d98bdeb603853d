"""`search()`'s arguments: one name per setting, old names for one release."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from lrdecay import DecayHyperModel, DecaySpace, search


def _build() -> Any:
    import keras

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def test_search_names_at_most_twenty_arguments() -> None:
    """20: `overwrite` is the tuner's option (`tuner_options={"overwrite": ...}`),
    as KerasTuner names it; `jobs` stays, a search-wide setting as Optuna's
    `n_jobs`, neither a tuner option nor a `model.fit` argument."""
    parameters = inspect.signature(search).parameters.values()
    named = [p.name for p in parameters if p.kind is not p.VAR_KEYWORD]
    assert len(named) <= 20
    old_names = ("executions_per_trial", "tracking_uri", "experiment_name", "overwrite")
    assert not set(old_names) & set(named)


def test_overwrite_is_a_tuner_option_and_the_old_keyword_warns() -> None:
    from lrdecay.tuning.pipeline import arguments

    options = {"overwrite": True, "max_consecutive_failed_trials": 5}
    assert arguments.overwrite(options) is True
    assert options == {"max_consecutive_failed_trials": 5}  # the plan holds it
    assert arguments.overwrite({}) is False
    keywords = {"overwrite": True, "steps_per_epoch": 3}
    with pytest.deprecated_call(
        match=r'`search\(overwrite=...\)` is deprecated.*tuner_options=\{"overwrite"'
    ):
        old = arguments.renamed(keywords)
    assert (old.overwrite, keywords) == (True, {"steps_per_epoch": 3})
    assert arguments.overwrite({}, old.overwrite) is True
    # Both, agreeing: one setting.
    assert arguments.overwrite({"overwrite": False}, False) is False


def test_overwrite_given_twice_or_not_a_bool_is_an_error() -> None:
    # Through `search()`: checked before any model is built.
    with (
        pytest.deprecated_call(match="overwrite"),
        pytest.raises(
            ValueError, match=r"overwrite=True, tuner_options=\{'overwrite': False\}"
        ),
    ):
        search(
            _build, None, None, validation_split=0.2, overwrite=True,
            tuner_options={"overwrite": False},
        )  # fmt: skip
    with pytest.raises(TypeError, match=r"tuner_options=\{'overwrite': 'yes'\}"):
        search(
            _build, None, None, validation_split=0.2, tuner_options={"overwrite": "yes"}
        )
    with (
        pytest.deprecated_call(match="overwrite"),
        pytest.raises(TypeError, match=r"overwrite=1 of type int"),
    ):
        search(_build, None, None, validation_split=0.2, overwrite=1)


@pytest.mark.parametrize(
    "given, name",
    [
        ({"kinds": ("step",)}, "kinds"),
        ({"decay_epochs": [2]}, "decay_epochs"),
        ({"initial_lr": 0.1}, "initial_lr"),
    ],
)
def test_space_with_one_of_its_own_arguments_is_a_value_error(given, name) -> None:
    space = DecaySpace(("exponential",), [3])
    with pytest.raises(ValueError, match=rf"`space` and `{name}`.*{name}="):
        search(_build, None, None, validation_split=0.2, space=space, **given)


def test_decay_hypermodel_takes_a_space_or_its_arguments_not_both() -> None:
    space = DecaySpace(("step",), [3])
    with pytest.raises(ValueError, match=r"`space` and `drop`.*drop=0\.1"):
        DecayHyperModel(_build, space, drop=0.1, tracking=False)
    # Its defaults are DecaySpace's own.
    assert DecayHyperModel(_build, tracking=False).space.kinds == DecaySpace().kinds
    hypermodel = DecayHyperModel(_build, kinds=("step",), drop=0.25, tracking=False)
    assert hypermodel.space.kinds == ("step",)


def test_executions_per_trial_still_names_repeats_with_a_deprecation_warning() -> None:
    # The old name reaches the same setting: the same conflict as before.
    with (
        pytest.deprecated_call(match=r"executions_per_trial.*repeats="),
        pytest.raises(ValueError, match=r"repeats=2, executions_per_trial=3"),
    ):
        search(
            _build, None, None, validation_split=0.2, repeats=2, executions_per_trial=3
        )


@pytest.mark.slow
def test_the_old_tracking_keywords_still_track_with_a_deprecation_warning(
    digits: Any, tmp_path: Path
) -> None:
    x, y, x_val, y_val = digits
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with pytest.deprecated_call(match="tracking_uri") as caught:
        result = search(
            _build, x[:200], y[:200], validation_data=(x_val[:50], y_val[:50]),
            kinds=("step",), decay_epochs=[1], epochs=1, control=False,
            project_dir=tmp_path / "project", tracking_uri=uri,
            experiment_name="old-names",
        )  # fmt: skip
    messages = [str(w.message) for w in caught if w.category is DeprecationWarning]
    assert any('tracking={"experiment_name": ...}' in m for m in messages)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("old-names")
    assert experiment is not None
    parent = client.get_run(result.parent_run_id)
    assert parent.info.experiment_id == experiment.experiment_id


def test_search_result_groups_and_its_flat_names_of_before() -> None:
    import math

    from lrdecay.tuning.evidence.outcome import FLAT_NAMES, Cost, Evidence, Winner
    from lrdecay.tuning.evidence.result import SearchResult

    result = SearchResult(
        winner=Winner("0003", 0.25, {"kind": "constant"}, "", control_won=True),
        evidence=Evidence(verdict="The control won.", beats_control_by=-0.1),
        cost=Cost(epochs_trained=30, epochs_independent=60),
        trials=[], parent_run_id=None, experiment_id=None, tracking_uri=None,
        tuner=None,
    )  # fmt: skip
    assert result.best_hyperparameters is None and result.best_model is None
    with pytest.deprecated_call(match=r"use `SearchResult\.winner\.score`"):
        assert result.best_score == 0.25
    with pytest.deprecated_call(match=r"SearchResult\.evidence\.verdict"):
        assert result.verdict == "The control won."
    with pytest.deprecated_call(match=r"SearchResult\.cost\.epochs_trained"):
        assert result.epochs_trained == 30
    with pytest.deprecated_call():
        assert result.best_decay_code is None
    assert "no decay: the constant rate scored best" in str(result)
    assert len(FLAT_NAMES) == 14
    # A worker's result has no winner; the flat names answer as before.
    worker = SearchResult(
        winner=None, evidence=Evidence(), cost=Cost(), trials=[],
        parent_run_id=None, experiment_id=None, tracking_uri=None, tuner=None,
    )  # fmt: skip
    with pytest.deprecated_call():
        assert worker.best_decay_code == ""
    with pytest.deprecated_call():
        assert math.isnan(worker.best_score)
    with pytest.raises(dataclasses.FrozenInstanceError):
        worker.seed = 3  # type: ignore[misc]
