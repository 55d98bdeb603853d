"""Defaults that fit the budget, and a search's plan before it trains (--dry-run)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from lrdecay import defaults
from lrdecay.tuning.searchspace.budget import fit_to_budget
from lrdecay.tuning.searchspace.ranges import Range


def test_the_default_decay_epochs_follow_the_budget() -> None:
    assert defaults.decay_epochs_for(40) == (5, 10, 20, 30)
    assert defaults.decay_epochs_for(10) == (1, 3, 5, 8)
    assert defaults.decay_epochs_for(20) == (3, 5, 10, 15)
    assert defaults.decay_epochs_for(60) == (8, 15, 30, 45)
    assert defaults.decay_epochs_for(2) == (1, 2)
    assert defaults.decay_epochs_for(1) == (1,)


def test_a_range_past_the_budget_is_cut_and_a_grid_is_not() -> None:
    assert fit_to_budget(None, 10).decay_epochs == (1, 3, 5, 8)
    assert fit_to_budget(None, 10).note is None
    cut = fit_to_budget(Range(10, 50), 40)
    assert cut.decay_epochs == Range(10, 40)
    assert cut.note == (
        "decay epochs 10:50 -> 10:40: decays beyond the epoch budget epochs=40 "
        "never act"
    )
    assert fit_to_budget(Range(10, 50, 10), 40).decay_epochs == Range(10, 40, 10)
    per_kind = fit_to_budget({"step": Range(5, 50), "plateau": [5]}, 40)
    assert per_kind.decay_epochs == {"step": Range(5, 40), "plateau": [5]}
    for given in ([10, 50], Range(45, 50), Range(0.1, 0.5), Range(10, 30)):
        assert fit_to_budget(given, 40).decay_epochs == given
        assert fit_to_budget(given, 40).note is None


def test_the_command_s_decay_epochs_follow_epochs_and_keep_the_default_name() -> None:
    from lrdecay.cli.main import build_parser
    from lrdecay.cli.search import search_settings

    parser = build_parser()
    default = search_settings(parser.parse_args(["search"]))
    assert default["decay_epochs"] == [5, 10, 20, 30]
    explicit = search_settings(
        parser.parse_args(["search", "--decay-epochs", "5,10,20,30"])
    )
    assert defaults.project_name(default) == defaults.project_name(explicit)
    short = search_settings(parser.parse_args(["search", "--epochs", "10"]))
    assert short["decay_epochs"] == [1, 3, 5, 8]


def _build(make_model: Any) -> Any:
    return lambda: make_model(seed=0)


def test_a_dry_run_counts_the_epochs_and_creates_nothing(
    digits: Any, make_model: Any, tmp_path: Path
) -> None:
    import lrdecay

    x, y, xv, yv = digits
    outline = lrdecay.search_outline(
        _build(make_model), x, y, validation_data=(xv, yv), epochs=10,
        repeats=3, seed=7,
    )  # fmt: skip
    assert os.listdir(tmp_path) == []
    assert outline.trials == 13
    assert outline.epochs_independent == 13 * 10 * 3
    # control 10 + step (9+7+5+2) + exponential 4 x 9, plateau 0 .. (8+6+4+1)
    assert outline.epochs_trained == (69 * 3, 88 * 3)
    assert "step epochs_drop 1, 3, 5, 8" in str(outline)
    assert outline.project_name.startswith("grid-digits-")
    assert outline.seed == 7


def test_a_dry_run_says_what_only_the_run_knows(digits: Any, make_model: Any) -> None:
    import lrdecay

    x, y, xv, yv = digits
    common = {"validation_data": (xv, yv), "tracking": False}
    random = lrdecay.search_outline(
        _build(make_model), x, y, algorithm="random", max_trials=8, **common
    )
    assert (random.trials, random.epochs_trained) == (8, None)
    assert "trained: unknown until run" in str(random)
    hyperband = lrdecay.search_outline(
        _build(make_model), x, y, algorithm="hyperband",
        decay_epochs=[0.25, 0.5], **common,
    )  # fmt: skip
    assert (hyperband.trials, hyperband.epochs_independent) == (None, None)
    whole = lrdecay.search_outline(
        _build(make_model), x, y, epochs=10, share_prefix=False, **common
    )
    assert whole.epochs_trained == (130, 130)
    assert "130 trained of 130 (100%) (not shared)" in str(whole)
    assert "tracking  off" in str(whole)


def test_a_range_past_the_budget_warns_at_the_call_and_a_grid_fails(
    digits: Any, make_model: Any
) -> None:
    import lrdecay

    x, y, xv, yv = digits
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outline = lrdecay.search_outline(
            _build(make_model), x, y, validation_data=(xv, yv),
            algorithm="random", decay_epochs=Range(10, 50),
        )  # fmt: skip
    (warning,) = [w for w in caught if "decay epochs 10:50" in str(w.message)]
    assert warning.filename == __file__
    assert "step epochs_drop 10 to 40" in str(outline)
    with pytest.raises(ValueError, match="Decay epochs 50 of the 'step' decay"):
        lrdecay.search_outline(
            _build(make_model), x, y, validation_data=(xv, yv),
            decay_epochs=[5, 50],
        )  # fmt: skip


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::lrdecay.tuning.evidence.result.EvidenceWarning")
def test_the_dry_run_s_epochs_are_the_search_s(digits: Any, make_model: Any) -> None:
    import lrdecay

    x, y, xv, yv = digits
    arguments = {
        "validation_data": (xv, yv), "epochs": 4, "kinds": ("step", "exponential"),
        "seed": 0, "tracking": False,
    }  # fmt: skip
    outline = lrdecay.search_outline(_build(make_model), x, y, **arguments)
    result = lrdecay.search(_build(make_model), x, y, **arguments)
    # decay epochs 1, 2, 3 at 4 epochs: control 4 + step 3+2+1 + exponential 3 x 3
    assert outline.epochs_trained == (19, 19)
    assert (result.epochs_trained, result.epochs_independent) == (19, 28)


def _lrdecay(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lrdecay", *arguments],
        cwd=cwd, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"),
    )  # fmt: skip


@pytest.mark.slow
def test_the_issue_s_commands_check_out(tmp_path: Path) -> None:
    done = _lrdecay("search", "--epochs", "10", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
    assert "step epochs_drop 1, 3, 5, 8" in done.stdout
    assert "10 per trial; 69 to 88 trained of 130 (53% to 68%)" in done.stdout
    done = _lrdecay(
        "search", "--algorithm", "random", "--decay-epochs", "10:50",
        "--max-trials", "8", "--dry-run", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == (
        "lrdecay: warning: decay epochs 10:50 -> 10:40: decays beyond the epoch "
        "budget epochs=40 never act\n"
    )
    done = _lrdecay("search", "--decay-epochs", "5,50", "--dry-run", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("lrdecay: error: Decay epochs 50 of the 'step'")
    assert os.listdir(tmp_path) == []


def _runs_of_the_search(folder: Path) -> tuple[Any, list[Any]]:
    """The search's parent run and its trial runs, read from `./mlflow.db`."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    experiment = client.get_experiment_by_name("lrdecay")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    (parent,) = [r for r in runs if r.data.tags.get("lrdecay.role") == "search"]
    trials = [r for r in runs if r is not parent]
    parent_ids = {t.data.tags["mlflow.parentRunId"] for t in trials}
    assert parent_ids == {parent.info.run_id}
    return parent, trials


@pytest.mark.slow
def test_the_issue_s_commands_run(tmp_path: Path) -> None:
    # Issue 18's two commands as a user types them (plus -q), in their own
    # folders and MLflow's default store there; side by side, to halve the
    # wall time on two cores.
    commands = {
        "short": ["search", "-q", "--epochs", "10"],
        "random": [
            "search", "-q", "--algorithm", "random", "--decay-epochs", "10:50",
            "--max-trials", "8",
        ],
    }  # fmt: skip
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(name, None)
    started = {}
    for name, arguments in commands.items():
        (tmp_path / name).mkdir()
        started[name] = subprocess.Popen(
            [sys.executable, "-m", "lrdecay", *arguments], cwd=tmp_path / name,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    outputs = {
        name: process.communicate(timeout=600) for name, process in started.items()
    }
    for name, process in started.items():
        assert process.returncode == 0, outputs[name][1][-2000:]
        stdout = outputs[name][0].splitlines()
        assert len(stdout) == 2 and stdout[1].startswith("test accuracy "), stdout

    # --epochs 10: the default decay epochs follow the budget (1, 3, 5, 8),
    # so the grid runs whole: the control and 4 decay epochs x 3 kinds.
    assert outputs["short"][1] == ""
    parent, trials = _runs_of_the_search(tmp_path / "short")
    assert parent.info.status == "FINISHED"
    assert len(trials) == 13
    assert {t.info.status for t in trials} == {"FINISHED"}
    assert {t.data.params["epochs"] for t in trials} == {"10"}
    grid: dict[str, set[str]] = {}
    for trial in trials:
        grid.setdefault(trial.data.params["decay_kind"], set()).add(
            trial.data.params.get("decay_epochs", "-")
        )
    assert grid == {
        "constant": {"-"},
        "step": {"1", "3", "5", "8"},
        "exponential": {"1", "3", "5", "8"},
        "plateau": {"1", "3", "5", "8"},
    }

    # Random over 10:50 at 40 epochs: the range is cut to 10:40 with one
    # warning line, and the 8 trials (the control first) all run.
    assert outputs["random"][1] == (
        "lrdecay: warning: decay epochs 10:50 -> 10:40: decays beyond the epoch "
        "budget epochs=40 never act\n"
    )
    parent, trials = _runs_of_the_search(tmp_path / "random")
    assert parent.info.status == "FINISHED"
    assert len(trials) == 8
    assert {t.info.status for t in trials} == {"FINISHED"}
    assert {t.data.params["epochs"] for t in trials} == {"40"}
    kinds = sorted(t.data.params["decay_kind"] for t in trials)
    assert kinds.count("constant") == 1
    assert set(kinds) <= {"constant", "step", "exponential", "plateau"}
    decay_epochs = [
        int(t.data.params["decay_epochs"])
        for t in trials
        if t.data.params["decay_kind"] != "constant"
    ]
    assert len(decay_epochs) == 7
    assert all(10 <= value <= 40 for value in decay_epochs), decay_epochs
