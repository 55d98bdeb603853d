"""What `lrdecay search` prints: the result to use, every varying value, quiet.

The end of a search is the decay to paste and its held-out test score (`-q`:
only those two lines, nothing on stderr); a regression target in the
hundreds of thousands trains; a `--model` that cannot work is one line
before anything is created; the commands printed for the user run as
printed in a fresh shell.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import lrdecay_environment, run_lrdecay
from lrdecay.cli import main as cli
from lrdecay.cli import output, progress

SMALL = ["--epochs", "2", "--batch-size", "128"]


def table_rows(text: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("rank"))
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return [rows[0], *rows[2:]]  # the header, then the rows


def write_houses(path: Path, rows: int = 600) -> None:
    """Prices around 300,000: a linear function of 5 features, small noise."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 5))
    price = (
        300_000
        + (x @ [1.0, -0.5, 0.8, 0.3, -1.2]) * 50_000
        + rng.normal(scale=5_000, size=rows)
    )
    lines = ["rooms,age,area,garden,distance,price"] + [
        ",".join(f"{value:.5f}" for value in features) + f",{target:.2f}"
        for features, target in zip(x, price, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


MODEL_WITH_HP = (
    "import keras\n"
    "def build(hp, input_shape, num_outputs):\n"
    "    units = hp.Choice('units', [8, 16])\n"
    "    model = keras.Sequential([keras.Input(input_shape),\n"
    "        keras.layers.Dense(units, activation='relu'),\n"
    "        keras.layers.Dense(num_outputs, activation='softmax')])\n"
    "    model.compile(optimizer=keras.optimizers.Adam(0.01),\n"
    "                  loss='sparse_categorical_crossentropy')\n"
    "    return model\n"
)


# --------------------------------------------------------------------------
# formatting


def test_table_shows_every_value_that_differs_between_trials() -> None:
    from lrdecay.tuning.evidence.result import TrialSummary

    def trial(trial_id: str, score: float) -> TrialSummary:
        return TrialSummary(
            trial_id, "COMPLETED", "step", {"epochs_drop": 2, "drop": 0.5},
            score, None,
        )  # fmt: skip

    trials = [trial("0000", 0.5), trial("0001", 0.4), trial("0002", 0.3)]
    values = {
        "0000": {"units": 8, "tuner/epochs": 2, "dropout": 0.1},
        "0001": {"units": 16, "tuner/epochs": 2, "dropout": 0.1},
        "0002": {"units": 16, "tuner/epochs": 6, "dropout": 0.1},
    }
    rows = table_rows(output.format_trials_table(trials, "val_loss", values))
    assert rows == [
        ["rank", "trial", "kind", "settings", "units", "epochs", "best val_loss",
         "status"],
        ["1", "0000", "step", "epochs_drop=2 drop=0.5", "8", "2", "0.5000",
         "COMPLETED"],
        ["2", "0001", "step", "epochs_drop=2 drop=0.5", "16", "2", "0.4000",
         "COMPLETED"],
        ["3", "0002", "step", "epochs_drop=2 drop=0.5", "16", "6", "0.3000",
         "COMPLETED"],
    ]  # fmt: skip
    # Nothing varies beyond the decay: the table of before.
    same = {trial_id: {"dropout": 0.1} for trial_id in values}
    assert table_rows(output.format_trials_table(trials, "val_loss", same))[0] == [
        "rank", "trial", "kind", "settings", "best val_loss", "status",
    ]  # fmt: skip


def test_extra_values_keep_the_budget_and_drop_tuner_bookkeeping() -> None:
    values = {
        "decay_kind": "step",
        "units": 8,
        "tuner/epochs": 4,
        "tuner/initial_epoch": 2,
        "tuner/bracket": 1,
        "tuner/round": 1,
        "tuner/trial_id": "0003",
    }
    names = ["units", output.EPOCH_BUDGET]
    assert output.extra_values(values, names) == {"units": 8, "tuner/epochs": 4}


@pytest.mark.parametrize(
    ("decay_total", "grid_factor", "max_trials", "total"),
    [
        (2, 1, None, 2),
        (2, 2, None, 4),  # a model's own hp.Choice of 2 values
        (2, 2, 3, 3),
        (3, 4, 3, 3),  # --max-trials 3 already capped the decay's grid
        (None, 2, None, None),  # Hyperband: no total
        (2, None, None, None),  # a conditional model hp: unknown
    ],
)
def test_trial_total_counts_what_runs(
    decay_total: int | None, grid_factor: int | None, max_trials: int | None,
    total: int | None,
) -> None:  # fmt: skip
    assert progress.trial_total(decay_total, grid_factor, max_trials) == total


def test_grid_points_of_a_models_own_hyperparameters() -> None:
    import keras_tuner

    from lrdecay.cli import models

    hp = keras_tuner.HyperParameters()
    hp.Choice("units", [8, 16, 32])
    hp.Boolean("batch_norm")
    hp.Int("layers", 1, 3)
    hp.Fixed("dropout", 0.1)
    assert models.grid_points(list(hp.space)) == 3 * 2 * 3 * 1
    assert models.grid_points([]) == 1
    with hp.conditional_scope("batch_norm", [True]):
        hp.Choice("momentum", [0.9, 0.99])
    assert models.grid_points(list(hp.space)) is None


def test_printed_commands_use_this_environment_when_not_on_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bin_dir = os.path.dirname(sys.executable)
    mlflow = os.path.join(bin_dir, "mlflow")
    assert os.access(mlflow, os.X_OK), "mlflow is installed beside Python"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert output.command("mlflow", "mlflow") == shlex.quote(mlflow)
    hint = output.ui_hint("sqlite:///x/mlflow.db", "1")
    assert hint.startswith(f"Open the MLflow UI:  {shlex.quote(mlflow)} ui ")
    assert "--backend-store-uri sqlite:///x/mlflow.db" in hint
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    assert output.command("mlflow", "mlflow") == "mlflow"
    assert output.ui_hint("sqlite:///x/mlflow.db", "1").startswith(
        "Open the MLflow UI:  mlflow ui "
    )
    # No such command beside Python: run its module with this Python.
    assert output.command("no-such-tool", "no_such_tool") == (
        f"{shlex.quote(sys.executable)} -m no_such_tool"
    )


def test_regression_target_is_scored_in_its_units(tmp_path: Path) -> None:
    """The test score of a model that predicts the standardized target."""
    import keras

    from lrdecay.cli import data

    write_houses(tmp_path / "houses.csv", rows=200)
    dataset = data.load_dataset(tmp_path / "houses.csv", target="price", test_split=0.2)
    assert dataset.target_mean == pytest.approx(300_000, rel=0.05)
    assert dataset.x_test is not None and dataset.y_test is not None
    # A "model" that returns its input's first column: here, exactly y_test.
    model = keras.Sequential([keras.Input((1,)), keras.layers.Identity()])
    scaled = dataset.y_test.reshape(-1, 1)
    perfect = dataclass_copy(dataset, x_test=scaled)
    assert output.test_score_line(model, perfect) == (
        f"test R² 1.0000, RMSE 0 in price ({len(scaled)} held-out samples)"
    )
    # Off by one standard deviation everywhere: RMSE is the std, in prices.
    off = dataclass_copy(dataset, x_test=scaled + 1.0)
    actual = dataset.in_target_units(dataset.y_test)
    r_squared = 1 - len(actual) * dataset.target_std**2 / np.sum(
        (actual - actual.mean()) ** 2
    )
    assert output.test_score_line(model, off) == (
        f"test R² {r_squared:.4f}, RMSE {dataset.target_std:,.0f} in price "
        f"({len(scaled)} held-out samples)"
    )


def dataclass_copy(dataset: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(dataset, **changes)


# --------------------------------------------------------------------------
# the user's model, checked before anything is created


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "import keras\n"
            "def build(input_shape, num_outputs):\n"
            "    return keras.Sequential([keras.Input(input_shape),\n"
            "                             keras.layers.Dense(num_outputs)])\n",
            "--model: build() returned a model that is not compiled; call "
            "model.compile(optimizer=..., loss=...) before returning it.",
        ),
        (
            "import keras\n"
            "def build(input_shape):\n"
            "    model = keras.Sequential([keras.Input(input_shape),\n"
            "                              keras.layers.Dense(3)])\n"
            "    model.compile(optimizer='sgd', loss='mse')\n"
            "    return model\n",
            "--model: the model of build() outputs shape (3,), but digits has "
            "10 classes: its last layer needs 10 units.",
        ),
        (
            "import keras\n"
            "def build():\n"
            "    model = keras.Sequential([keras.Input((5,)),\n"
            "                              keras.layers.Dense(10)])\n"
            "    model.compile(optimizer='sgd', loss='mse')\n"
            "    return model\n",
            "--model: the model of build() cannot take samples of shape (64,)",
        ),
        (
            "def build():\n    return 'a model'\n",
            "--model: build() returned a str, not a Keras model.",
        ),
    ],
)
def test_a_model_that_cannot_work_is_one_line_and_nothing_is_created(
    tmp_path: Path, source: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = re.sub(r"\W", "_", f"model_{tmp_path.name}")  # one per case
    (tmp_path / f"{module}.py").write_text(source)
    code = cli.main(
        ["search", "--model", f"{module}:build", "--decay-epochs", "1", *SMALL]
    )
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"lrdecay: error: {message}")
    assert captured.out == ""
    # No store, no tuner project, no run.
    created = {path.name for path in tmp_path.iterdir()} - {"__pycache__"}
    assert created == {f"{module}.py"}


def test_regression_model_needs_one_output_and_big_batches_warn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_houses(tmp_path / "houses.csv", rows=100)
    (tmp_path / "two_outputs.py").write_text(
        "import keras\n"
        "def build(input_shape):\n"
        "    model = keras.Sequential([keras.Input(input_shape),\n"
        "                              keras.layers.Dense(2)])\n"
        "    model.compile(optimizer='sgd', loss='mse')\n"
        "    return model\n"
    )
    code = cli.main(
        ["search", "--data", "houses.csv", "--target", "price",
         "--model", "two_outputs:build", "--epochs", "2", "--decay-epochs", "1",
         "--batch-size", "500"]
    )  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "lrdecay: warning: --batch-size 500 is larger than the training set "
        "(60 samples): every epoch is one step on all of it.",
        "lrdecay: error: --model: the model of build() outputs shape (2,), but "
        "houses.csv has a regression target: its last layer needs 1 unit.",
    ]


# --------------------------------------------------------------------------
# end to end, in a subprocess as a user runs it


@pytest.mark.slow
def test_a_price_around_300000_trains_from_the_command_line(tmp_path: Path) -> None:
    write_houses(tmp_path / "houses.csv")
    result = run_lrdecay(
        "search", "--data", "houses.csv", "--target", "price", "--epochs", "10",
        "--kinds", "step", "--decay-epochs", "5", "--batch-size", "32",
        "--no-control", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "target 'price' standardized on the training split" in result.stdout
    lines = result.stdout.splitlines()
    best = next(i for i, line in enumerate(lines) if line.startswith("Best: "))
    assert re.fullmatch(
        r"StepDecay\(initial_lr=0\.1, drop=0\.5, epochs_drop=5\)", lines[best + 1]
    )
    score = re.fullmatch(
        r"test R² (-?[\d.]+), RMSE ([\d,]+) in price \(120 held-out samples\)",
        lines[best + 2],
    )
    assert score is not None, lines[best + 2]
    assert float(score.group(1)) >= 0.8
    # In the target's units: the noise is 5,000, the spread 90,000.
    assert 1_000 < float(score.group(2).replace(",", "")) < 40_000


@pytest.mark.slow
def test_quiet_search_prints_the_result_and_nothing_on_stderr(tmp_path: Path) -> None:
    """A model with its own hp and Adam (whose reloaded optimizer would warn);
    run twice (the second resumes: KerasTuner's "Reloading Tuner")."""
    (tmp_path / "my_model.py").write_text(MODEL_WITH_HP)
    argv = ["search", "--model", "my_model:build", "--kinds", "step",
            "--decay-epochs", "1,2", "--no-control", *SMALL]  # fmt: skip
    first = run_lrdecay(*argv, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    # Two decay settings times the model's two units: four trials, counted.
    progress_lines = [line for line in first.stdout.splitlines() if "] trial" in line]
    assert [line.split("]")[0] for line in progress_lines] == [
        "[1/4", "[2/4", "[3/4", "[4/4",
    ]  # fmt: skip
    shown = sorted(re.search(r"trial \d+  (.*?):", line)[1] for line in progress_lines)  # type: ignore[index]
    assert shown == [
        "step epochs_drop=1 drop=0.5 units=16",
        "step epochs_drop=1 drop=0.5 units=8",
        "step epochs_drop=2 drop=0.5 units=16",
        "step epochs_drop=2 drop=0.5 units=8",
    ]
    rows = table_rows(first.stdout)
    assert rows[0] == [
        "rank", "trial", "kind", "settings", "units", "best val_loss", "status",
    ]  # fmt: skip
    assert sorted((row[3], row[4]) for row in rows[1:]) == [
        ("epochs_drop=1 drop=0.5", "16"),
        ("epochs_drop=1 drop=0.5", "8"),
        ("epochs_drop=2 drop=0.5", "16"),
        ("epochs_drop=2 drop=0.5", "8"),
    ]
    assert first.stderr == ""

    again = run_lrdecay(*argv, "-q", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr == ""
    code_line, score_line = again.stdout.splitlines()
    assert re.fullmatch(
        r"StepDecay\(initial_lr=0\.01, drop=0\.5, epochs_drop=[12]\)", code_line
    )
    assert re.fullmatch(
        r"test accuracy [01]\.\d{4} \(359 held-out samples\)", score_line
    )

    # -v brings the frameworks' output back.
    verbose = run_lrdecay(*argv, "-v", cwd=tmp_path)
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "Reloading Tuner from " in verbose.stdout
    assert "absl::InitializeLog" in verbose.stderr or "I0000" in verbose.stderr


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_printed_commands_run_as_printed_in_a_fresh_shell(tmp_path: Path) -> None:
    """After `.venv/bin/lrdecay`, neither `mlflow` nor `lrdecay` is on PATH."""
    fresh = lrdecay_environment(PATH="/usr/bin:/bin")
    assert subprocess.run(["which", "mlflow"], env=fresh).returncode != 0
    result = run_lrdecay(
        "search", "--kinds", "step", "--decay-epochs", "1", "--no-control",
        *SMALL, "--experiment", "my runs", cwd=tmp_path, env=fresh,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    ui = next(line for line in lines if line.startswith("Open the MLflow UI:"))
    ui_command = ui.split(":", 1)[1].strip()
    assert ui_command.startswith(shlex.quote(os.path.dirname(sys.executable)))
    report = re.search(r"`([^`]* report [^`]*)`", result.stdout)
    assert report is not None, result.stdout

    shown = subprocess.run(
        ["bash", "-c", report[1]], cwd=tmp_path, env=fresh, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert table_rows(shown.stdout)[1:] == table_rows(result.stdout)[1:]

    port = free_port()
    server = subprocess.Popen(
        ["bash", "-c", f"exec {ui_command} --port {port}"],
        cwd=tmp_path, env=fresh, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as page:
                    assert page.status == 200
                    break
            except OSError:
                assert server.poll() is None, "mlflow ui exited"
                assert time.monotonic() < deadline, "mlflow ui did not answer"
                time.sleep(1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.slow
def test_repeats_give_a_spread_a_verdict_and_the_seed_to_rerun(tmp_path: Path) -> None:
    """`--repeats 2`: two child runs per setting (the control is one), ±."""
    import mlflow

    result = run_lrdecay(
        "search", "--kinds", "step", "--decay-epochs", "1", "--repeats", "2",
        *SMALL, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    assert "(mean ± std over 2 seeds; ≈: indistinguishable from the best" in (
        result.stdout
    )
    rows = table_rows(result.stdout)
    assert rows[0] == [
        "rank", "trial", "kind", "settings", "val_loss mean ± std", "vs best",
        "status",
    ]  # fmt: skip
    assert sorted((row[2], row[3]) for row in rows[1:]) == [
        ("constant", "control"),
        ("step", "epochs_drop=1 drop=0.5"),
    ]
    assert [row[0] for row in rows[1:]] == ["1", "2"]
    assert rows[1][5] == "best"
    # The second is "≈" the best, or its "vs best" cell is empty (then the
    # split by runs of spaces leaves the status in its place).
    assert rows[2][5:] in (["≈", "COMPLETED"], ["COMPLETED"]), rows[2]
    for row in rows[1:]:
        assert re.fullmatch(r"\d\.\d{4} ± \d\.\d{4}", row[4]), row
    seed = re.search(r"^seed (\d+) \(re-run with --seed (\d+)\)$", result.stdout, re.M)
    assert seed is not None and seed[1] == seed[2], result.stdout
    lines = result.stdout.splitlines()
    best = next(i for i, line in enumerate(lines) if line.startswith("Best: "))
    assert lines[best + 3].startswith(("The best decay", "The constant rate"))

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("lrdecay")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    children = [r for r in runs if r.data.tags.get("lrdecay.role") == "trial"]
    per_trial: dict[str, int] = {}
    for run in children:
        trial_id = run.data.tags["lrdecay.trial_id"]
        per_trial[trial_id] = per_trial.get(trial_id, 0) + 1
    assert sorted(per_trial.values()) == [2, 2]
    parent = next(r for r in runs if r.data.tags.get("lrdecay.role") == "search")
    assert parent.data.params["seed"] == seed[1]
