"""Starting right (issue 14): cosine as a searchable kind, `lrdecay find-lr`,
`initial_lr="auto"` and the warning when the rate, not the decay, is the problem.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import run_lrdecay
from lrdecay import schedules
from lrdecay.cli import arguments
from lrdecay.cli import main as cli
from lrdecay.schedules import CosineRestartsSchedule, CosineSchedule
from lrdecay.tuning.searchspace.space import SEARCHABLE_KINDS, DecaySpace, Range

# --------------------------------------------------------------------------
# cosine as a searchable kind


def test_cosine_kinds_are_searchable_but_not_searched_by_default() -> None:
    assert SEARCHABLE_KINDS == (
        "step",
        "exponential",
        "plateau",
        "cosine",
        "cosine_restarts",
        "linear",
        "wsd",
    )
    assert schedules.DEFAULT_KINDS == ("step", "exponential", "plateau")
    assert DecaySpace().kinds == ("step", "exponential", "plateau")
    with pytest.raises(ValueError, match="cosine_restarts"):
        DecaySpace(kinds=("cosin",))


def test_cosine_decay_epochs_are_the_period() -> None:
    import keras_tuner

    space = DecaySpace(kinds=("cosine", "cosine_restarts"), decay_epochs=[10, 20])
    hp = keras_tuner.HyperParameters()
    space.declare(hp)
    assert [p.name for p in hp.space] == [
        "decay_kind",
        "cosine/decay_epochs",
        "cosine_restarts/first_decay_epochs",
    ]
    cosine = space.resolve({"decay_kind": "cosine", "cosine/decay_epochs": 20}, 40)
    assert (cosine.kind, cosine.settings) == ("cosine", {"decay_epochs": 20})
    restarts = space.resolve(
        {"decay_kind": "cosine_restarts", "cosine_restarts/first_decay_epochs": 10},
        40,
    )
    assert restarts.settings == {"first_decay_epochs": 10}
    relative = DecaySpace(kinds=("cosine",), decay_epochs=[0.25])
    values = {"decay_kind": "cosine", "cosine/decay_epochs_fraction": 0.25}
    assert relative.resolve(values, 40).settings == {"decay_epochs": 10}
    with pytest.raises(ValueError, match="beyond the epoch budget"):
        DecaySpace(kinds=("cosine",), decay_epochs=Range(10, 50)).check_budget(40)


def test_cosine_trials_count_and_paste() -> None:
    from lrdecay.tuning.evidence.result import decay_code
    from lrdecay.tuning.pipeline.tuners import grid_size

    space = DecaySpace(kinds=("step", "cosine"), decay_epochs=[5, 10, 20, 30])
    assert grid_size(space) == 8
    assert (
        decay_code("cosine", {"decay_epochs": 20}, initial_lr=0.1)
        == "CosineDecay(initial_lr=0.1, decay_epochs=20)"
    )
    assert (
        decay_code("cosine_restarts", {"first_decay_epochs": 10}, initial_lr=0.05)
        == "CosineDecayRestarts(initial_lr=0.05, first_decay_epochs=10)"
    )


def test_cli_kinds_allow_every_searchable_kind() -> None:
    assert arguments.kind_list("cosine,step") == ("cosine", "step")
    assert arguments.kind_list("cosine_restarts") == ("cosine_restarts",)
    with pytest.raises(Exception, match="unknown decay kind 'cosin'; choose from"):
        arguments.kind_list("cosin")
    assert arguments.initial_lr_spec("auto") == "auto"
    assert arguments.initial_lr_spec("0.1,0.01") == [0.1, 0.01]


def test_preview_cosine_kinds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cosine.png"
    assert (
        cli.main(["preview", "--kind", "cosine", "--epochs", "10", "--out", str(out)])
        == 0
    )
    table = capsys.readouterr().out
    rows = [line.split() for line in table.splitlines()[2:12]]
    expected = CosineSchedule(initial_lr=0.1, decay_epochs=10).curve(10)
    assert [float(row[1]) for row in rows] == pytest.approx(expected, rel=1e-5)
    assert out.stat().st_size > 0

    code = cli.main(
        [
            "preview", "--kind", "cosine_restarts", "--decay-epochs", "3",
            "--epochs", "10", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:12]]
    expected = CosineRestartsSchedule(initial_lr=0.1, first_decay_epochs=3).curve(10)
    assert [float(row[1]) for row in rows] == pytest.approx(expected, rel=1e-5)

    code = cli.main(["preview", "--kind", "cosine_restarts", "--out", str(out)])
    assert code == 2
    assert "needs --decay-epochs" in capsys.readouterr().err


@pytest.mark.slow
def test_a_tracked_search_of_the_cosine_kinds(
    tmp_path: Path, make_model: Any, digits: Any
) -> None:
    import mlflow

    from lrdecay.tuning.pipeline.runner import search

    x, y, xv, yv = digits
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = search(
        lambda: make_model(),
        x[:300],
        y[:300],
        validation_data=(xv[:100], yv[:100]),
        kinds=("cosine", "cosine_restarts"),
        decay_epochs=[2],
        epochs=3,
        project_dir=tmp_path / "project",
        tracking=uri,
    )
    assert [(t.kind, t.settings, t.status) for t in result.trials] == [
        ("constant", {}, "COMPLETED"),
        ("cosine", {"decay_epochs": 2}, "COMPLETED"),
        ("cosine_restarts", {"first_decay_epochs": 2}, "COMPLETED"),
    ]
    client = mlflow.MlflowClient(uri)
    cosine = client.get_run(result.trials[1].run_id)
    assert cosine.data.params["decay_kind"] == "cosine"
    assert cosine.data.params["cosine/decay_epochs"] == "2"
    rates = [
        m.value for m in client.get_metric_history(cosine.info.run_id, "learning_rate")
    ]
    assert rates == pytest.approx(CosineSchedule(0.1, decay_epochs=2).curve(3))
    assert result.winner.code in (
        "",  # the control won
        "CosineDecay(initial_lr=0.1, decay_epochs=2)",
        "CosineDecayRestarts(initial_lr=0.1, first_decay_epochs=2)",
    )


# --------------------------------------------------------------------------
# lrdecay find-lr: bad input


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "y"], "--target 'y' needs --data FILE"),
        (["--data", "missing.csv", "--target", "y"], "not found"),
        (["--out", "plot.txt"], "--out must name a .png file"),
        (["--out", "nowhere/plot.png"], "does not exist"),
        (["--model", "nothing.py:build"], "file 'nothing.py' not found"),
        (["--start-lr", "1", "--end-lr", "0.1"], "--end-lr must be above"),
        (["--num-steps", "zero"], "expected a whole number"),
    ],
)
def test_find_lr_bad_input_is_one_line_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["find-lr", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("lrdecay: error: ")
    assert message in err


def test_find_lr_model_errors_are_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "models.py").write_text(
        "import keras\n"
        "def uncompiled(input_shape, num_outputs):\n"
        "    return keras.Sequential([keras.Input(input_shape),\n"
        "                             keras.layers.Dense(num_outputs)])\n"
        "def broken():\n"
        "    raise RuntimeError('no GPU here')\n"
    )
    assert cli.main(["find-lr", "--model", "models.py:uncompiled"]) == 2
    assert "needs a compiled model" in capsys.readouterr().err
    assert cli.main(["find-lr", "--model", "models.py:broken"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "building the model failed: RuntimeError: no GPU here" in err


# --------------------------------------------------------------------------
# lrdecay find-lr on the digits, tracked


@pytest.mark.slow
def test_find_lr_prints_the_suggestion_writes_the_plot_and_one_run(
    tmp_path: Path,
) -> None:
    import mlflow

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = run_lrdecay(
        "find-lr", "--seed", "0", "--out", "lr.png",
        "--tracking-uri", uri, "--experiment", "rates",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    suggested = float(
        re.search(r"Suggested initial rate: (\S+)", result.stdout).group(1)  # type: ignore[union-attr]
    )
    lowest = float(
        re.search(r"the loss is lowest at (\S+);", result.stdout).group(1)  # type: ignore[union-attr]
    )
    assert (tmp_path / "lr.png").read_bytes()[:4] == b"\x89PNG"
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("rates")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "lr-range-test"
    params = run.data.params
    assert float(f"{float(params['lr_range/suggested_lr']):.3g}") == suggested
    assert float(f"{float(params['lr_range/min_loss_lr']):.3g}") == lowest
    assert float(params["lr_range/suggested_lr"]) == pytest.approx(
        float(params["lr_range/min_loss_lr"]) / 10
    )
    losses = client.get_metric_history(run.info.run_id, "lr_range/loss")
    rates = client.get_metric_history(run.info.run_id, "lr_range/lr")
    assert [m.step for m in losses] == list(range(len(losses)))
    assert len(rates) == len(losses) >= 20
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["lr_range.png"]


# --------------------------------------------------------------------------
# initial_lr="auto"


def test_auto_rates_are_half_a_decade_either_side() -> None:
    from lrdecay.tuning.lr_finder.auto_lr import auto_initial_lrs

    assert auto_initial_lrs(0.0123) == [0.0037, 0.012, 0.037]
    assert auto_initial_lrs(0.1) == [0.03, 0.1, 0.3]


def test_auto_with_a_space_that_searches_the_rate_is_refused(
    make_model: Any, digits: Any
) -> None:
    from lrdecay.tuning.pipeline.runner import search

    x, y, xv, yv = digits
    with pytest.raises(ValueError, match="Arguments `space` and `initial_lr` both set"):
        search(
            lambda: make_model(),
            x,
            y,
            validation_data=(xv, yv),
            space=DecaySpace(kinds=("step",), decay_epochs=[1], initial_lr=[0.1]),
            initial_lr="auto",
            epochs=1,
            tracking=False,
        )


@pytest.mark.slow
def test_search_auto_runs_the_range_test_records_it_and_resumes_it(
    tmp_path: Path, make_model: Any, digits: Any
) -> None:
    import mlflow

    from lrdecay.tuning.lr_finder.auto_lr import RANGE_TEST_FILE, auto_initial_lrs
    from lrdecay.tuning.pipeline.runner import search

    x, y, xv, yv = digits
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    settings: dict[str, Any] = {
        "validation_data": (xv[:100], yv[:100]),
        "kinds": ("step",),
        "decay_epochs": [1],
        "epochs": 1,
        "seed": 3,
        "initial_lr": "auto",
        "project_dir": tmp_path / "project",
        "tracking_uri": uri,
    }
    result = search(lambda: make_model(), x[:400], y[:400], **settings)
    lr_range = result.lr_range
    assert lr_range is not None
    rates = auto_initial_lrs(lr_range.suggested_lr)
    # The constant-rate control and the step decay, at each rate.
    assert sorted((t.kind, t.settings["initial_lr"]) for t in result.trials) == [
        *[("constant", rate) for rate in rates],
        *[("step", rate) for rate in rates],
    ]
    best_rate = result.best_decay["initial_lr"]
    assert best_rate in rates
    if result.best_decay["kind"] == "step":
        assert result.winner.code == (
            f"StepDecay(initial_lr={best_rate!r}, drop=0.5, epochs_drop=1)"
        )
    client = mlflow.MlflowClient(uri)
    parent = client.get_run(result.parent_run_id)
    assert float(parent.data.params["lr_range/suggested_lr"]) == lr_range.suggested_lr
    assert float(parent.data.params["lr_range/min_loss_lr"]) == lr_range.min_loss_lr
    artifacts = [a.path for a in client.list_artifacts(result.parent_run_id)]
    assert "lr_range.png" in artifacts
    project = tmp_path / "project" / result.tuner.project_name
    assert (project / RANGE_TEST_FILE).exists()

    # A resume reads the recorded test: the same rates, no second test.
    again = search(lambda: make_model(), x[:400], y[:400], **settings)
    assert again.lr_range == lr_range
    assert again.parent_run_id == result.parent_run_id
    assert [t.trial_id for t in again.trials] == [t.trial_id for t in result.trials]


# --------------------------------------------------------------------------
# The warning when the rate is the problem


def _search_quietly(
    build_model: Any, digits: Any, tmp_path: Path, **kwargs: Any
) -> Any:
    from lrdecay.tuning.pipeline.runner import search

    x, y, xv, yv = digits
    return search(
        build_model,
        x[:300],
        y[:300],
        validation_data=(xv[:100], yv[:100]),
        kinds=("step",),
        project_dir=tmp_path / "project",
        tracking=False,
        **kwargs,
    )


@pytest.mark.slow
def test_every_trial_diverged_says_the_rate_is_the_problem(
    tmp_path: Path, make_model: Any, digits: Any
) -> None:
    from lrdecay.tuning.evidence.result import DivergedSearchError

    # Three trials: KerasTuner stops the search after three failures in a row.
    with pytest.raises(DivergedSearchError) as raised:
        _search_quietly(
            lambda: make_model(learning_rate=1e20),
            digits,
            tmp_path,
            decay_epochs=[1, 2, 3],
            epochs=3,
        )
    message = str(raised.value)
    assert message.startswith("Every trial (3) diverged (its loss became NaN")
    assert 'initial_lr="auto"' in message
    assert "--initial-lr auto" in message
    assert isinstance(raised.value, RuntimeError)


@pytest.mark.slow
def test_trials_near_chance_warn_in_the_result(tmp_path: Path, digits: Any) -> None:
    import keras

    def frozen_at_chance() -> Any:
        # All-zero weights and no learning: every input gets the same
        # prediction, so validation accuracy is one class's share.
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(
                    10, activation="softmax", kernel_initializer="zeros"
                ),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=1e-12),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    result = _search_quietly(
        frozen_at_chance, digits, tmp_path, decay_epochs=[1], epochs=2
    )
    accuracy = float(np.mean(digits[3][:100] == 0))
    assert accuracy <= 0.15
    assert result.rate_warning == (
        "Every trial (2) stayed near chance (best validation accuracy <= 0.15, "
        "1.5x chance for 10 classes) at the initial learning rate 1e-12: the "
        "initial rate looks like the problem, and no decay fixes a rate that is "
        "far off. Run the LR range test first and search around its suggestion: "
        'initial_lr="auto" (lrdecay search --initial-lr auto; lrdecay find-lr '
        "shows the test)."
    )


# --------------------------------------------------------------------------
# The case: a too-high rate, fixed by --initial-lr auto

AGGRESSIVE = """
import keras


def build(input_shape, num_outputs):
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(num_outputs, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.5, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
"""


@pytest.mark.slow
def test_search_initial_lr_auto_rescues_a_too_high_rate(tmp_path: Path) -> None:
    (tmp_path / "aggressive.py").write_text(AGGRESSIVE)
    result = run_lrdecay(
        "search", "--model", "aggressive.py:build", "--initial-lr", "auto",
        "--kinds", "step", "--decay-epochs", "10", "--epochs", "20",
        "--seed", "1", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "LR range test: suggested initial rate" in out
    best = re.search(r"^Best: trial \S+, (step|constant) .*initial_lr=(\S+)", out, re.M)
    assert best is not None, out
    rate = float(best.group(2))
    assert rate < 0.5
    if best.group(1) == "constant":  # the verdict names the rate that won
        assert f"the constant rate scored best at initial_lr={rate:g}" in out
    accuracy = re.search(r"test accuracy (\d+\.\d+)", out)
    assert accuracy is not None, out
    assert float(accuracy.group(1)) >= 0.95
    assert "Warning:" not in out
    assert not math.isnan(float(accuracy.group(1)))
