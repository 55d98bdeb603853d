"""The decay search space: hyperparameters, the relative rule, bad spaces.

Fast: nothing trains here.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from lrdecay.tuning.searchspace.space import (
    DEFAULT_KINDS,
    DecaySpace,
    Range,
    ResolvedDecay,
    relative_epochs,
)


def _hp() -> Any:
    import keras_tuner

    return keras_tuner.HyperParameters()


def _space_table(hp: Any) -> dict[str, tuple[Any, list[tuple[str, list[Any]]]]]:
    table = {}
    for parameter in hp.space:
        config = parameter.get_config()
        values = config.get("values", config.get("value"))
        if "min_value" in config:
            values = (config["min_value"], config["max_value"], config["step"])
        conditions = [
            (c.get_config()["name"], c.get_config()["values"])
            for c in parameter.conditions
        ]
        table[parameter.name] = (values, conditions)
    return table


def test_default_space_declares_kind_and_conditional_settings() -> None:
    hp = _hp()
    DecaySpace().declare(hp)
    assert _space_table(hp) == {
        "decay_kind": (["step", "exponential", "plateau"], []),
        "step/epochs_drop": ([5, 10, 20, 30], [("decay_kind", ["step"])]),
        "step/drop": (0.5, [("decay_kind", ["step"])]),
        "exponential/half_life": ([5, 10, 20, 30], [("decay_kind", ["exponential"])]),
        "plateau/patience": ([5, 10, 20, 30], [("decay_kind", ["plateau"])]),
        "plateau/factor": (0.5, [("decay_kind", ["plateau"])]),
    }
    # Only the active kind's settings have values.
    assert hp.values == {"decay_kind": "step", "step/epochs_drop": 5, "step/drop": 0.5}


def test_the_default_decay_epochs_are_the_searchs() -> None:
    from lrdecay import DecayHyperModel, defaults

    assert defaults.DECAY_EPOCHS == (5, 10, 20, 30)
    for space in (DecaySpace(), DecayHyperModel(lambda: None).space):
        assert {k: v.setting.values for k, v in space.decay_epochs.items()} == {
            "step": (5, 10, 20, 30),
            "exponential": (5, 10, 20, 30),
            "plateau": (5, 10, 20, 30),
        }


def test_the_control_is_the_first_kind_with_no_setting_of_its_own() -> None:
    hp = _hp()
    space = DecaySpace(kinds=("step",), decay_epochs=[5, 10], control=True)
    space.declare(hp)
    assert _space_table(hp) == {
        "decay_kind": (["constant", "step"], []),
        "step/epochs_drop": ([5, 10], [("decay_kind", ["step"])]),
        "step/drop": (0.5, [("decay_kind", ["step"])]),
    }
    assert hp.values == {"decay_kind": "constant"}
    assert space.control_values(hp) == {"decay_kind": "constant"}
    assert space.resolve({"decay_kind": "constant"}, 40) == ResolvedDecay(
        "constant", {}, None
    )
    assert space.get_config()["control"] is True
    assert DecaySpace().control is False
    assert space.with_control(False).kind_values == ("step",)
    assert space.kind_values == ("constant", "step")
    with pytest.raises(TypeError, match=r"control=1"):
        DecaySpace(control=1)  # type: ignore[arg-type]

    lr_hp = _hp()
    with_lr = DecaySpace(kinds=("step",), initial_lr=[0.1, 0.01], control=True)
    with_lr.declare(lr_hp)
    lr_hp.Int("units", 8, 64, step=8)  # the model's own
    assert with_lr.control_values(lr_hp) == {
        "decay_kind": "constant",
        "initial_lr": 0.1,
        "units": 8,
    }
    assert with_lr.resolve({"decay_kind": "constant", "initial_lr": 0.01}, 5) == (
        ResolvedDecay("constant", {}, 0.01)
    )


def test_grids_ranges_fixed_values_and_initial_lr() -> None:
    hp = _hp()
    DecaySpace(
        kinds=("exponential", "plateau"),
        decay_epochs={"exponential": range(10, 51, 10), "plateau": 5},
        factor=[0.1, 0.5],
        initial_lr=Range(1e-3, 1e-1, sampling="log"),
    ).declare(hp)
    table = _space_table(hp)
    assert table["decay_kind"][0] == ["exponential", "plateau"]
    assert table["exponential/half_life"][0] == (10, 50, 10)
    assert table["plateau/patience"][0] == 5
    assert table["plateau/factor"][0] == [0.1, 0.5]
    assert table["initial_lr"] == ((0.001, 0.1, None), [])


def test_given_k_replaces_the_half_life() -> None:
    hp = _hp()
    space = DecaySpace(kinds=("exponential",), k=[0.05, 0.1])
    space.declare(hp)
    assert set(_space_table(hp)) == {"decay_kind", "exponential/k"}
    resolved = space.resolve({"decay_kind": "exponential", "exponential/k": 0.1}, 50)
    assert resolved.settings == {"k": 0.1}


def test_resolve_absolute_settings_per_kind() -> None:
    space = DecaySpace(initial_lr=[0.1, 0.01])
    step = space.resolve(
        {"decay_kind": "step", "step/epochs_drop": 20, "step/drop": 0.5,
         "initial_lr": 0.01}, 50
    )  # fmt: skip
    assert (step.kind, step.settings, step.initial_lr) == (
        "step",
        {"epochs_drop": 20, "drop": 0.5},
        0.01,
    )
    exponential = space.resolve(
        {"decay_kind": "exponential", "exponential/half_life": 10}, 50
    )
    # Half-life: the rate halves every `decay_epochs` epochs.
    assert exponential.settings["k"] == pytest.approx(math.log(2) / 10)
    plateau = space.resolve(
        {"decay_kind": "plateau", "plateau/patience": 30, "plateau/factor": 0.5}, 50
    )
    assert plateau.settings == {"patience": 30, "factor": 0.5, "monitor": "val_loss"}


@pytest.mark.parametrize(
    ("fraction", "budget", "epochs"),
    [(0.5, 4, 2), (0.25, 4, 1), (0.3, 10, 3), (0.25, 2, 1), (0.1, 3, 1),
     (0.35, 10, 4), (1.0, 7, 7), (0.05, 4, 1)],
)  # fmt: skip
def test_relative_rule_rounds_half_up_and_keeps_one_epoch(
    fraction: float, budget: int, epochs: int
) -> None:
    assert relative_epochs(fraction, budget) == epochs


def test_fractions_are_relative_to_the_trial_budget() -> None:
    space = DecaySpace(kinds=("step",), decay_epochs=[0.25, 0.5])
    hp = _hp()
    space.declare(hp)
    assert "step/epochs_drop_fraction" in hp.values
    values = {"decay_kind": "step", "step/epochs_drop_fraction": 0.5, "step/drop": 0.5}
    assert space.resolve(values, 4).settings["epochs_drop"] == 2
    assert space.resolve(values, 12).settings["epochs_drop"] == 6
    # Fractions never exceed a budget, so any budget passes.
    space.check_budget(1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"decay_epochs": []}, ValueError, r"empty grid.*decay_epochs=\[\]"),
        ({"decay_epochs": range(5, 5)}, ValueError, "empty range"),
        (
            {"kinds": ("step", "triangular")},
            ValueError,
            "Unknown decay kind 'triangular'",
        ),
        ({"kinds": ()}, ValueError, "kinds=()"),
        ({"kinds": ("multistep",)}, ValueError, "'multistep'"),
        ({"decay_epochs": [0, 10]}, ValueError, "holding 0"),
        ({"decay_epochs": [10, 0.5]}, ValueError, "mixes whole epochs"),
        ({"decay_epochs": [0.5, 1.5]}, ValueError, r"holding 1\.5"),
        ({"decay_epochs": "10"}, TypeError, "decay_epochs='10'"),
        ({"decay_epochs": [10, 10]}, ValueError, "repeats"),
        ({"decay_epochs": {"step": [10]}}, ValueError, "one entry per"),
        ({"drop": 1.5}, ValueError, r"drop=1\.5"),
        ({"factor": [0.5, 1.0]}, ValueError, r"holding 1\.0"),
        ({"initial_lr": -0.1}, ValueError, "initial_lr=-0.1"),
        ({"relative_to": "epoch"}, ValueError, "relative_to='epoch'"),
    ],
)
def test_bad_spaces_raise_naming_the_value(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        DecaySpace(**kwargs)


def test_range_checks_its_bounds() -> None:
    with pytest.raises(ValueError, match="low=50, high=10"):
        Range(50, 10)
    with pytest.raises(ValueError, match="low=0"):
        Range(0, 1.0, sampling="log")


def test_decay_epochs_beyond_the_budget_raise_naming_both() -> None:
    space = DecaySpace(decay_epochs=[10, 20, 30, 50])
    space.check_budget(50)  # 50 epochs in a 50-epoch budget is allowed
    with pytest.raises(ValueError, match=r"Decay epochs 50 .* epochs=30"):
        space.check_budget(30)
    with pytest.raises(ValueError, match="epochs=40"):
        DecaySpace(decay_epochs=Range(10, 50)).check_budget(40)


def test_search_rejects_bad_spaces_before_training(tmp_path: Any) -> None:
    from lrdecay import search

    built: list[int] = []

    def build_model() -> Any:
        built.append(1)
        raise AssertionError("no model should be built for a bad space")

    for kwargs, match in [
        ({"decay_epochs": []}, "empty grid"),
        ({"decay_epochs": [10, 20, 30, 50], "epochs": 20}, "epochs=20"),
        ({"kinds": ("triangular",)}, "'triangular'"),
        ({"algorithm": "annealing"}, "algorithm='annealing'"),
        ({"epochs": 0}, "epochs=0"),
    ]:
        with pytest.raises(ValueError, match=match):
            search(build_model, None, None, validation_split=0.2, **kwargs)
    with pytest.raises(ValueError, match="validation"):
        search(build_model, None, None, decay_epochs=[1], epochs=2)
    assert built == []
    assert not (tmp_path / "lrdecay_project").exists()


def test_grid_size_counts_conditional_combinations() -> None:
    from lrdecay.tuning.pipeline.runner import grid_size

    assert grid_size(DecaySpace()) == 12
    assert grid_size(DecaySpace(kinds=("step",), drop=[0.1, 0.5])) == 8
    assert (
        grid_size(DecaySpace(kinds=("step", "plateau"), initial_lr=[0.1, 0.01])) == 16
    )
    assert grid_size(DecaySpace(decay_epochs=Range(10, 50))) == 3 * 41
    assert grid_size(DecaySpace(decay_epochs=Range(0.1, 0.5))) is None
    # The control is one more grid point per initial rate.
    assert grid_size(DecaySpace(control=True)) == 13
    assert (
        grid_size(DecaySpace(kinds=("step",), initial_lr=[0.1, 0.01], control=True))
        == 8 + 2
    )


def test_hypermodel_accepts_build_functions_with_or_without_hp() -> None:
    import keras

    from lrdecay import DecayHyperModel

    def without_hp() -> Any:
        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])

    def with_hp(hp: Any) -> Any:
        units = hp.Int("units", 1, 3)
        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(units)])

    hp = _hp()
    assert isinstance(
        DecayHyperModel(without_hp, tracking=False).build(hp), keras.Model
    )
    hp = _hp()
    DecayHyperModel(with_hp, kinds=("plateau",), tracking=False).build(hp)
    assert hp.values == {
        "decay_kind": "plateau",
        "plateau/patience": 5,  # defaults.DECAY_EPOCHS[0]
        "plateau/factor": 0.5,
        "units": 1,
    }
    with pytest.raises(ValueError, match="epochs=5"):
        DecayHyperModel(without_hp, decay_epochs=[10], max_epochs=5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"low": "1", "high": 5}, TypeError, "low='1'"),
        ({"low": 1, "high": math.inf}, ValueError, "high=inf"),
        ({"low": 1, "high": 5, "step": "2"}, TypeError, "step='2'"),
        ({"low": 1, "high": 5, "step": True}, TypeError, "step=True"),
        ({"low": 1, "high": 5, "step": 0}, ValueError, "step=0"),
        ({"low": 1, "high": 5, "sampling": 2}, TypeError, "sampling=2"),
        ({"low": 1, "high": 5, "sampling": "exp"}, ValueError, "sampling='exp'"),
    ],
)
def test_range_raises_type_error_for_types_value_error_for_values(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Range(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kinds": 3}, TypeError, "kinds=3"),
        ({"kinds": ("step", 3)}, TypeError, "holding 3"),
        ({"monitor": 3}, TypeError, "monitor=3"),
        ({"monitor": ""}, ValueError, "monitor=''"),
        ({"relative_to": 1}, TypeError, "relative_to=1"),
    ],
)
def test_space_raises_type_error_for_types(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        DecaySpace(**kwargs)


def test_tracking_takes_the_same_values_in_search_and_the_hypermodel(
    tmp_path: Any,
) -> None:
    from lrdecay import DecayHyperModel, search

    def build() -> Any:
        raise AssertionError("nothing is built for bad arguments")

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    for tracking, expected in [
        (False, None),
        (True, {}),
        (uri, {"tracking_uri": uri}),
        ({"experiment_name": "e", "log_plots": False},
         {"experiment_name": "e", "log_plots": False}),
    ]:  # fmt: skip
        assert DecayHyperModel(build, tracking=tracking).tracking == expected
    for tracking, error, match in [
        (3, TypeError, "tracking=3"),
        ("", ValueError, "tracking=''"),
        ({"uri": uri}, ValueError, r"unknown keys \['uri'\]"),
    ]:
        with pytest.raises(error, match=match):
            DecayHyperModel(build, tracking=tracking)
        with pytest.raises(error, match=match):
            search(build, None, None, validation_split=0.2, tracking=tracking)
    with pytest.raises(ValueError, match="tracking_uri"), pytest.deprecated_call():
        search(
            build, None, None, validation_split=0.2,
            tracking={"tracking_uri": uri}, tracking_uri="sqlite:///other.db",
        )  # fmt: skip


def test_decay_code_is_the_callback_to_paste() -> None:
    from lrdecay.tuning.evidence.result import decay_code

    assert (
        decay_code("step", {"epochs_drop": 30, "drop": 0.5}, 0.1)
        == "StepDecay(initial_lr=0.1, drop=0.5, epochs_drop=30)"
    )
    assert (
        decay_code(
            "plateau", {"patience": 10, "factor": 0.5, "monitor": "val_loss"}, 0.1
        )
        == "PlateauDecay(monitor='val_loss', factor=0.5, patience=10)"
    )
    import inspect

    from lrdecay import ExponentialDecay

    code = decay_code("exponential", {"k": math.log(2) / 20}, 0.1, half_life=20)
    if "half_life" in inspect.signature(ExponentialDecay).parameters:
        assert code == "ExponentialDecay(initial_lr=0.1, half_life=20)"
    else:
        assert code == f"ExponentialDecay(initial_lr=0.1, k={math.log(2) / 20!r})"


def test_the_default_project_name_is_the_command_lines() -> None:
    from lrdecay import defaults
    from lrdecay.tuning.pipeline.plan import make_plan

    plan = make_plan(
        algorithm="grid", kinds=DEFAULT_KINDS, decay_epochs=defaults.DECAY_EPOCHS,
        space=None, initial_lr=None, tracking=False, tracking_uri=None,
        experiment_name=None, project_name=None, project_dir=defaults.PROJECT_DIR,
        epochs=defaults.EPOCHS, max_trials=None, objective=defaults.OBJECTIVE,
        batch_size=defaults.BATCH_SIZE, seed=defaults.SEED, overwrite=False,
        executions_per_trial=1, tuner_kwargs={},
    )  # fmt: skip
    settings = {
        "algorithm": "grid", "kinds": ["step", "exponential", "plateau"],
        "decay_epochs": [5, 10, 20, 30], "initial_lr": None, "epochs": 40,
        "batch_size": 32, "objective": "val_loss", "seed": None,
    }  # fmt: skip
    assert plan.project_name == defaults.project_name(settings)
    assert plan.experiment_name == "lrdecay"
