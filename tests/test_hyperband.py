"""lrdecay's Hyperband: budgets a decay can act in, and no duplicate trials.

The plan (brackets, budgets, sizes) is read off the real oracle without
training; the searches are real, small KerasTuner searches on the digits.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lrdecay import defaults, schedules
from lrdecay.tuning.searchspace.space import DecaySpace, relative_epochs
from search_store import unseeded_digits_model


def run_lrdecay(*args: str, cwd: Path) -> Any:
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    return subprocess.run(
        [sys.executable, "-m", "lrdecay", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _oracle(space: DecaySpace, max_epochs: int, **options: Any) -> Any:
    import keras_tuner

    from lrdecay.tuning.pipeline import hyperband

    hp = keras_tuner.HyperParameters()
    space.declare(hp)
    settings = {**hyperband.default_options(space, max_epochs), **options}
    return hyperband.HyperbandOracle(
        "val_loss",
        max_epochs=max_epochs,
        hyperparameters=hp,
        effective=hyperband.EffectiveSettings(space, max_epochs),
        seed=1,
        **settings,
    )


def test_the_default_plan_is_successive_halving_from_5_epochs() -> None:
    space = DecaySpace(
        schedules.DEFAULT_KINDS, defaults.HYPERBAND_DECAY_EPOCHS, control=True
    )
    oracle = _oracle(space, defaults.EPOCHS)
    assert oracle.min_epochs == defaults.HYPERBAND_MIN_EPOCHS == 4
    assert oracle.bracket_budgets(0) == [5, 14, 40]
    # The control and 3 kinds x 3 fractions, all distinct at 5 epochs.
    assert [oracle._get_size(0, r) for r in range(3)] == [10, 4, 2]
    assert (oracle.planned_trials(), oracle.planned_epochs()) == (16, 138)


def test_fractions_resolve_to_distinct_epochs_from_the_floor_up() -> None:
    from lrdecay.tuning.pipeline.hyperband import minimum_budget

    for budget in range(defaults.HYPERBAND_MIN_EPOCHS, 41):
        epochs = [relative_epochs(f, budget) for f in defaults.HYPERBAND_DECAY_EPOCHS]
        assert min(epochs) >= 1 and len(set(epochs)) == len(epochs), budget
    # 0.25 and 0.5 of 2 epochs are both 1; from 3 they differ, 4 is the floor.
    assert minimum_budget(DecaySpace(("step",), [0.25, 0.5]), 40) == 4
    # 0.1 and 0.2 are distinct from 8 epochs (1 and 2).
    assert minimum_budget(DecaySpace(("step",), [0.1, 0.2]), 40) == 8
    # Absolute epochs: one more than the smallest, so it acts.
    assert minimum_budget(DecaySpace(("step",), [5, 10]), 40) == 6
    assert minimum_budget(DecaySpace(("step",), [0.25, 0.5]), 3) == 3


def test_settings_that_resolve_alike_at_a_budget_are_listed_once() -> None:
    space = DecaySpace(("step", "plateau"), [0.1, 0.125, 0.5])
    oracle = _oracle(space, 40, min_epochs=4, brackets=1)
    budget = oracle.bracket_budgets(0)[0]
    assert budget == 5
    listed = oracle.effective.listed(oracle.hyperparameters, budget)
    # 0.1 and 0.125 of 5 epochs are both 1 epoch: one trial each kind.
    assert [values["decay_kind"] for values in listed] == [
        "step", "step", "plateau", "plateau"
    ]  # fmt: skip
    keys = {oracle.effective.key(values, budget) for values in listed}
    assert len(keys) == len(listed) == oracle._get_size(0, 0)


def test_bad_options_name_the_value() -> None:
    space = DecaySpace(("step",), [0.5])
    with pytest.raises(ValueError, match="min_epochs=50"):
        _oracle(space, 40, min_epochs=50)
    with pytest.raises(ValueError, match="brackets=0"):
        _oracle(space, 40, brackets=0)
    with pytest.raises(TypeError, match=r"min_epochs=2\.5"):
        _oracle(space, 40, min_epochs=2.5)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::lrdecay.tuning.evidence.result.EvidenceWarning")
def test_search_runs_each_effective_setting_once_per_budget(
    digits: Any, tmp_path: Path
) -> None:
    import lrdecay

    x, y, xv, yv = digits
    result = lrdecay.search(
        unseeded_digits_model(8), x, y, validation_data=(xv, yv),
        algorithm="hyperband", kinds=("step", "plateau"), decay_epochs=[0.25, 0.5],
        epochs=8, seed=1, tracking=False, project_dir=tmp_path,
        tuner_options={"factor": 2},
    )  # fmt: skip
    oracle = result.tuner.oracle
    assert oracle.min_epochs == 4 and oracle.bracket_budgets(0) == [4, 8]
    first_round = []
    for trial in oracle.trials.values():
        values = trial.hyperparameters.values
        assert values["tuner/epochs"] >= 4
        if values["tuner/round"] == 0:
            first_round.append(oracle.effective.key(values, values["tuner/epochs"]))
    # 4 of the 5 settings (control, step and plateau at 1 and 2 epochs),
    # then the best 2 continued to 8 epochs.
    assert len(first_round) == len(set(first_round)) == 4
    assert len(oracle.trials) == oracle.planned_trials() == 6
    assert result.epochs_trained == oracle.planned_epochs() == 4 * 4 + 2 * 4
    # The same call again resumes the finished search: nothing new runs.
    again = lrdecay.search(
        unseeded_digits_model(8), x, y, validation_data=(xv, yv),
        algorithm="hyperband", kinds=("step", "plateau"), decay_epochs=[0.25, 0.5],
        epochs=8, seed=1, tracking=False, project_dir=tmp_path,
        tuner_options={"factor": 2},
    )  # fmt: skip
    assert len(again.tuner.oracle.trials) == 6
    assert again.best_trial_id == result.best_trial_id


@pytest.mark.slow
def test_cli_hyperband_budgets_and_no_duplicates(tmp_path: Path) -> None:
    done = run_lrdecay(
        "search", "--algorithm", "hyperband", "--kinds", "step",
        "--decay-epochs", "0.25,0.5", "--epochs", "12", "--seed", "1",
        "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db",
        "--project-dir", str(tmp_path / "proj"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = re.findall(
        r"^\[(\d+)/(\d+)\] trial \d+\s+(.+?) epochs=(\d+):", done.stdout, re.M
    )
    # Budgets 4 and 12: the control and step at 1 and 2 epochs, then the best.
    first_round = [(label, int(budget)) for _, _, label, budget in lines][:3]
    assert first_round[0] == ("constant", 4)
    assert sorted(first_round[1:]) == [
        ("step epochs_drop=1 drop=0.5", 4), ("step epochs_drop=2 drop=0.5", 4),
    ]  # fmt: skip
    assert len(lines) == 4 and all(total == "4" for _, total, _, _ in lines)
    assert int(lines[3][3]) == 12
    assert "epochs: 20 trained of 20" in done.stdout


def test_hyperband_searches_fractions_by_default_from_python_and_the_cli() -> None:
    from lrdecay.cli import main as cli
    from lrdecay.cli.search import search_settings
    from lrdecay.tuning.pipeline.plan import make_plan

    args = cli.parse_args(cli.build_parser(), ["search", "--algorithm", "hyperband"])
    settings = search_settings(args)
    assert settings["decay_epochs"] == [0.25, 0.5, 0.75]
    common: dict[str, Any] = {
        "algorithm": "hyperband", "kinds": schedules.DEFAULT_KINDS, "space": None,
        "initial_lr": None, "tracking": False, "tracking_uri": None,
        "experiment_name": None, "project_name": None,
        "project_dir": "/nonexistent-lrdecay-project", "epochs": 40,
        "max_trials": None, "objective": "val_loss", "batch_size": 32,
        "seed": 5, "overwrite": False, "tuner_kwargs": {},
    }  # fmt: skip
    from_python = make_plan(decay_epochs=None, **common)
    from_cli = make_plan(decay_epochs=settings["decay_epochs"], **common)
    assert from_python.space.decay_epochs["step"].relative
    assert from_python.space.decay_epochs["step"].setting.values == (0.25, 0.5, 0.75)
    assert from_python.project_name == from_cli.project_name
    grid = make_plan(decay_epochs=None, **{**common, "algorithm": "grid"})
    assert grid.space.decay_epochs["step"].setting.values == defaults.DECAY_EPOCHS
